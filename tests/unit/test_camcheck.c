/* daemon/camcheck: the numbers and the advice of `facectl doctor`'s camera
 * checks. What a user would notice: a dark room is called too dark (by the
 * faces' light when faces are seen, so a lit face in a dark room is fine),
 * a camera slower than asked is called slow, small faces are called small,
 * the frame rate comes from the camera's own counter (not the analysed
 * rate), a good setup gets no advice at all, and the light is a mean over
 * the last seconds, not over samples (a busy second analysed more often
 * does not outweigh a still one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/camcheck.h"

static const struct fw_camcheck_setup setup = { .device = "/dev/video0", .state = "ok",
						 .format = "MJPEG", .width = 640, .height = 480,
						 .fps_negotiated = 30, .fps_asked = 30 };

/* n samples from t0_ms on, one every step_ms (the analysed rate), with the
 * camera's counter advancing by `per` frames between them */
static void feed_at(struct fw_camcheck *c, int64_t t0_ms, int step_ms, int n, int per, float luma,
		    int faces, float w, float face_luma)
{
	for (int i = 0; i < n; i++) {
		int64_t t_ms = t0_ms + (int64_t)i * step_ms;
		struct fw_camcheck_sample s = { .t_ns = t_ms * 1000000,
						.sequence = (uint32_t)(t_ms / 100 * per),
						.session = 1, .luma = luma, .faces = faces,
						.face_min = faces ? w : 0, .face_max = faces ? w * 1.2f : 0,
						.face_luma = faces ? face_luma : 0 };
		fw_camcheck_add(c, &s);
	}
}

/* n samples, one every 100 ms from time 0 */
static void feed(struct fw_camcheck *c, int n, int per, float luma, int faces, float w,
		 float face_luma)
{
	feed_at(c, 0, 100, n, per, luma, faces, w, face_luma);
}

static json_t *check(struct fw_camcheck *c, struct fw_camcheck_summary *sum,
		     const struct fw_camcheck_setup *su)
{
	fw_camcheck_summarise(c, sum);
	return fw_camcheck_json(su, sum);
}

static int advice_has(json_t *j, const char *needle)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(j, "advice"), i, a)
		if (strstr(json_string_value(a), needle))
			return 1;
	return 0;
}

static void test_good_setup(void **state)
{
	struct fw_camcheck c;
	struct fw_camcheck_summary sum;
	json_t *j;
	(void)state;

	fw_camcheck_init(&c);
	feed(&c, 40, 3, 110, 1, 120, 130);
	j = check(&c, &sum, &setup);
	assert_int_equal(sum.samples, 40);
	assert_float_equal(sum.fps, 30, 0.01);
	assert_float_equal(sum.seconds, 3.9, 1e-9);
	assert_float_equal(sum.face_share, 1, 0);
	assert_float_equal(sum.face_median, 144, 0.01);
	assert_int_equal(json_array_size(json_object_get(j, "advice")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "format")), "MJPEG");
	json_decref(j);
}

static void test_dark_slow_small(void **state)
{
	struct fw_camcheck c;
	struct fw_camcheck_summary sum;
	json_t *j;
	(void)state;

	/* a dark room and dark faces, 12 fps, faces 40-48 px */
	fw_camcheck_init(&c);
	feed(&c, 30, 1, 20, 1, 40, 30);
	j = check(&c, &sum, &setup);
	assert_float_equal(sum.fps, 10, 0.01);
	assert_true(advice_has(j, "too dark"));
	assert_true(advice_has(j, "frames a second, not the 30 asked"));
	assert_true(advice_has(j, "faces too small"));
	json_decref(j);

	/* a lit face in a dark room is fine: the faces' light counts */
	fw_camcheck_init(&c);
	feed(&c, 30, 3, 25, 1, 120, 110);
	j = check(&c, &sum, &setup);
	assert_false(advice_has(j, "too dark"));
	json_decref(j);

	/* no face: the frame's light counts, and doctor says it saw no face */
	fw_camcheck_init(&c);
	feed(&c, 30, 3, 240, 0, 0, 0);
	j = check(&c, &sum, &setup);
	assert_true(advice_has(j, "too bright"));
	assert_true(advice_has(j, "no face seen"));
	assert_true(json_is_null(json_object_get(j, "face_brightness")));
	json_decref(j);
}

static void test_window_and_sessions(void **state)
{
	struct fw_camcheck c;
	struct fw_camcheck_summary sum;
	struct fw_camcheck_setup replay = setup;
	json_t *j;
	(void)state;

	/* only the last FW_CAMCHECK_SECONDS count: 20 s dark, then 10 s lit */
	fw_camcheck_init(&c);
	feed_at(&c, 0, 100, 200, 3, 20, 0, 0, 0);
	feed_at(&c, 20000, 100, FW_CAMCHECK_SECONDS * 10, 3, 120, 1, 100, 120);
	fw_camcheck_summarise(&c, &sum);
	assert_int_equal(sum.samples, FW_CAMCHECK_SECONDS * 10);
	assert_float_equal(sum.luma, 120, 0.01);
	/* ... and only the last FW_CAMCHECK_WINDOW samples */
	fw_camcheck_init(&c);
	feed_at(&c, 0, 10, 2 * FW_CAMCHECK_WINDOW, 1, 120, 0, 0, 0);
	fw_camcheck_summarise(&c, &sum);
	assert_int_equal(sum.samples, FW_CAMCHECK_WINDOW);
	/* the camera reopened within the window: the counter restarted, no rate */
	struct fw_camcheck_sample s = { .t_ns = 9000000000, .sequence = 2, .session = 2, .luma = 120 };
	fw_camcheck_add(&c, &s);
	fw_camcheck_summarise(&c, &sum);
	assert_float_equal(sum.fps, 0, 0);
	/* nothing yet */
	fw_camcheck_init(&c);
	replay.fps_asked = 0;
	j = check(&c, &sum, &replay);
	assert_true(advice_has(j, "no frames analysed yet"));
	assert_true(json_is_null(json_object_get(j, "brightness")));
	json_decref(j);
}

static void test_mean_over_time(void **state)
{
	struct fw_camcheck c;
	struct fw_camcheck_summary sum;
	json_t *j;
	(void)state;

	/* 6 s of a lit face analysed at 5 fps while the scene is settled, then
	 * 2 s of a dark one analysed at 10 fps: 30 lit samples and 21 dark
	 * ones. Per sample the faces would look 67 bright; over time they are
	 * (6 x 90 + 2.1 x 35) / 8.1 = 75.7 (the newest sample stands for the
	 * 0.1 s before it), and that is not too dark. */
	fw_camcheck_init(&c);
	feed_at(&c, 0, 200, 30, 6, 100, 1, 120, 90);
	feed_at(&c, 6000, 100, 21, 3, 100, 1, 120, 35);
	j = check(&c, &sum, &setup);
	assert_int_equal(sum.samples, 51);
	assert_float_equal(sum.face_luma, 75.7, 0.2);
	assert_false(advice_has(j, "too dark"));
	json_decref(j);

	/* half the time with a face, whatever the sampling rate */
	fw_camcheck_init(&c);
	feed_at(&c, 0, 100, 40, 3, 100, 0, 0, 0);
	feed_at(&c, 4000, 400, 11, 12, 100, 1, 120, 90);
	fw_camcheck_summarise(&c, &sum);
	assert_float_equal(sum.face_share, 0.5, 0.03);
	/* a pause (the camera gone for a minute within the window) counts as 1 s */
	fw_camcheck_init(&c);
	feed_at(&c, 0, 100, 20, 3, 200, 0, 0, 0);
	feed_at(&c, 2000 + 5000, 100, 20, 3, 100, 0, 0, 0);
	fw_camcheck_summarise(&c, &sum);
	assert_float_equal(sum.luma, (200 * 2.9 + 100 * 2.0) / 4.9, 0.5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_setup),
		cmocka_unit_test(test_dark_slow_small),
		cmocka_unit_test(test_window_and_sessions),
		cmocka_unit_test(test_mean_over_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
