/* Attention on timelines a person at a desk would recognise: a glance away
 * shorter than the away time is not an event, turning away for longer is one
 * AWAY event dated from when the head turned, coming back needs back_ms of
 * looking, a person is looking while any of their faces is, and a face that
 * leaves takes its identity's attention with it.
 *
 * Frames come every 100 ms with a pose each, smoothing off (smooth_ms 0) so
 * the expected times can be worked out by hand: yaw 25, pitch 20 degrees,
 * away 1500 ms, back 500 ms unless a test says otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/attention.h"
#include "core/fw.h"

#define ALICE 0
#define BOB 1
#define LOOKING FW_ATTENTION_LOOKING
#define AWAY FW_ATTENTION_AWAY

static struct fw_attention *make(int64_t smooth_ms)
{
	struct fw_attention_config c;
	struct fw_attention *a;

	fw_attention_config_default(&c);
	c.smooth_ms = smooth_ms;
	assert_int_equal(fw_attention_create(&a, &c, 4), 0);
	return a;
}

static struct fw_attention_obs face(uint32_t track, int32_t identity, float yaw, float pitch)
{
	return (struct fw_attention_obs){ track, identity, 1, yaw, pitch, 0 };
}

/* one frame of one face; returns the number of events */
static int frame(struct fw_attention *a, int64_t t, struct fw_attention_obs o,
		 struct fw_attention_event *ev)
{
	int n = fw_attention_update(a, t, &o, 1, ev, 3 * FW_ATTENTION_MAX_TRACKS);

	assert_true(n >= 0);
	return n;
}

static void test_glance_is_not_an_event(void **state)
{
	struct fw_attention_event ev[3 * FW_ATTENTION_MAX_TRACKS];
	struct fw_attention *a = make(0);
	int64_t t = 0;

	(void)state;
	/* looking from 0: LOOKING at 500 (back_ms), for the track and for Alice */
	for (; t < 500; t += 100)
		assert_int_equal(frame(a, t, face(1, ALICE, 5, 0), ev), 0);
	assert_int_equal(frame(a, t, face(1, ALICE, 5, 0), ev), 2);
	assert_int_equal(ev[0].track, 1);
	assert_int_equal(ev[0].state, LOOKING);
	assert_int_equal(ev[0].since_ms, 0);
	assert_int_equal(ev[0].at_ms, 500);
	assert_int_equal(ev[1].track, 0);
	assert_int_equal(ev[1].identity, ALICE);
	assert_int_equal(ev[1].state, LOOKING);
	assert_true(ev[1].yaw == 5 && ev[1].pitch == 0);
	/* a glance at the phone for 1 s (yaw 50): nothing */
	for (t = 1000; t < 2000; t += 100)
		assert_int_equal(frame(a, t, face(1, ALICE, 50, 0), ev), 0);
	for (; t < 4000; t += 100)
		assert_int_equal(frame(a, t, face(1, ALICE, -3, 2), ev), 0);
	/* turned away (pitch down 40, reading paper) from 4000: AWAY at 5500 */
	for (t = 4000; t < 5500; t += 100)
		assert_int_equal(frame(a, t, face(1, ALICE, 0, -40), ev), 0);
	assert_int_equal(frame(a, t, face(1, ALICE, 0, -40), ev), 2);
	assert_int_equal(ev[0].state, AWAY);
	assert_int_equal(ev[0].since_ms, 4000);
	assert_int_equal(ev[0].at_ms, 5500);
	assert_int_equal(ev[1].identity, ALICE);
	assert_int_equal(ev[1].state, AWAY);
	/* Alice's event says how she turned away: as her face's event */
	assert_true(ev[1].yaw == ev[0].yaw && ev[1].pitch == ev[0].pitch);
	assert_true(ev[1].pitch == -40);
	/* a short look back (300 ms < back_ms) is not LOOKING either */
	for (t = 6000; t < 6300; t += 100)
		assert_int_equal(frame(a, t, face(1, ALICE, 0, 0), ev), 0);
	assert_int_equal(frame(a, t, face(1, ALICE, 0, -40), ev), 0);
	fw_attention_destroy(a);
}

static void test_thresholds_are_inclusive_and_symmetric(void **state)
{
	struct fw_attention_event ev[3 * FW_ATTENTION_MAX_TRACKS];
	struct fw_attention *a = make(0);
	enum fw_attention_state st;

	(void)state;
	/* yaw exactly -25 counts as looking; 25.5 does not */
	for (int64_t t = 0; t <= 500; t += 100)
		frame(a, t, face(7, -1, -25, 0), ev);
	assert_int_equal(fw_attention_track(a, 7, &st, NULL, NULL, NULL), 0);
	assert_int_equal(st, LOOKING);
	for (int64_t t = 600; t <= 2100; t += 100)
		frame(a, t, face(7, -1, 25.5f, 0), ev);
	assert_int_equal(fw_attention_track(a, 7, &st, NULL, NULL, NULL), 0);
	assert_int_equal(st, AWAY);
	/* an unknown face (identity -1) has no identity events: one event only */
	fw_attention_destroy(a);
}

static void test_person_looks_while_any_face_does(void **state)
{
	struct fw_attention_event ev[3 * FW_ATTENTION_MAX_TRACKS];
	struct fw_attention *a = make(0);
	struct fw_attention_obs two[2];
	int n;

	(void)state;
	/* Bob has two tracks (a reflection, a second camera view): one looks */
	for (int64_t t = 0; t <= 500; t += 100) {
		two[0] = face(3, BOB, 60, 0);
		two[1] = face(4, BOB, 10, 5);
		n = fw_attention_update(a, t, two, 2, ev, 3 * FW_ATTENTION_MAX_TRACKS);
		assert_int_equal(n, t == 500 ? 2 : 0);
	}
	assert_int_equal(ev[0].track, 4);
	assert_int_equal(ev[1].identity, BOB);
	assert_int_equal(ev[1].state, LOOKING);
	/* the looking track ends (face lost): Bob is AWAY at once, no track event */
	two[0] = face(3, BOB, 60, 0);
	n = fw_attention_update(a, 600, two, 1, ev, 3 * FW_ATTENTION_MAX_TRACKS);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].track, 0);
	assert_int_equal(ev[0].identity, BOB);
	assert_int_equal(ev[0].state, AWAY);
	/* with the pose his looking face was last seen with, not a made-up 0, 0 */
	assert_true(ev[0].yaw == 10 && ev[0].pitch == 5);
	/* frames without a pose (landmarks run at a lower rate) change nothing */
	two[0].has_pose = 0;
	for (int64_t t = 700; t < 5000; t += 100)
		assert_int_equal(fw_attention_update(a, t, two, 1, ev, 3 * FW_ATTENTION_MAX_TRACKS), 0);
	fw_attention_destroy(a);
}

static void test_smoothing_rides_out_one_bad_pose(void **state)
{
	struct fw_attention_event ev[3 * FW_ATTENTION_MAX_TRACKS];
	struct fw_attention *a = make(300);
	float yaw;

	(void)state;
	for (int64_t t = 0; t <= 1000; t += 100)
		frame(a, t, face(1, ALICE, 0, 0), ev);
	/* one wild landmark fit (yaw 80) a second: the smoothed yaw goes to
	 * 80 * (1 - e^(-1/3)) = 22.7 (plus 0.8 left of the last one) < 25, so the
	 * pose never even counts as turned away */
	for (int64_t t = 1100; t <= 6000; t += 100)
		assert_int_equal(frame(a, t, face(1, ALICE, t % 1000 == 0 ? 80.0f : 0.0f, 0), ev), 0);
	assert_int_equal(fw_attention_track(a, 1, NULL, &yaw, NULL, NULL), 0);
	assert_true(yaw < 25.0f);
	fw_attention_destroy(a);
}

static void test_bad_input(void **state)
{
	struct fw_attention_event ev[3 * FW_ATTENTION_MAX_TRACKS];
	struct fw_attention_config c;
	struct fw_attention *a = make(0);
	struct fw_attention_obs o = face(0, ALICE, 0, 0);

	(void)state;
	assert_int_equal(fw_attention_update(a, 0, &o, 1, ev, 3 * FW_ATTENTION_MAX_TRACKS), FW_EINVAL);
	o.track = 1;
	assert_int_equal(fw_attention_update(a, 0, &o, 1, ev, 1), FW_EINVAL);
	assert_int_equal(fw_attention_update(a, 0, &o, FW_ATTENTION_MAX_TRACKS + 1, ev,
					     3 * FW_ATTENTION_MAX_TRACKS), FW_EINVAL);
	fw_attention_config_default(&c);
	c.yaw_deg = 0;
	{
		struct fw_attention *b = NULL;

		assert_int_equal(fw_attention_create(&b, &c, 1), FW_EINVAL);
		assert_null(b);
	}
	fw_attention_destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glance_is_not_an_event),
		cmocka_unit_test(test_thresholds_are_inclusive_and_symmetric),
		cmocka_unit_test(test_person_looks_while_any_face_does),
		cmocka_unit_test(test_smoothing_rides_out_one_bad_pose),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
