/* Presence on timelines a desk owner would recognise: a glance away is not
 * leaving, leaving is one away event at the right moment even when the
 * camera has stalled, one person leaving does not empty the desk, a brief
 * identification is not an arrival. Then the whole chain, tracker into
 * presence, on one made-up morning.
 *
 * Frames come every 100 ms here (every 40 ms in the tracker chain), with
 * the default configuration (arrive 1 s, face-lost grace 1 s, leave 10 s,
 * anyone: arrive at once, leave 10 s) unless a test says otherwise. Every
 * expected time is worked out by hand from those numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fw.h"
#include "core/presence.h"
#include "core/tracker.h"

#define ALICE 0
#define BOB 1
#define CAPACITY 4
#define ANYONE FW_PRESENCE_ANYONE
#define PRESENT FW_PRESENCE_PRESENT
#define AWAY FW_PRESENCE_AWAY

/* ---- the allocator, counted (support/alloc_count.h; see test_steady_state_does_not_allocate) ---- */

#include "alloc_count.h"

/* ---- tracks as the tracker would hand them over ---- */

static struct fw_track confirmed(uint32_t id, int32_t identity, int64_t last_seen)
{
	struct fw_track t;

	memset(&t, 0, sizeof(t));
	t.id = id;
	t.state = FW_TRACK_ACTIVE;
	t.identity = identity;
	t.last_seen_ms = last_seen;
	t.det_index = 0;
	return t;
}

/* The same track, not seen since last_seen. */
static struct fw_track lost(uint32_t id, int32_t identity, int64_t last_seen)
{
	struct fw_track t = confirmed(id, identity, last_seen);

	t.state = FW_TRACK_LOST;
	t.det_index = -1;
	return t;
}

/* ---- a presence and everything it said ---- */

struct run {
	struct fw_presence *p;
	struct fw_presence_event ev[1024];
	int n_ev;
	struct fw_presence_event *room; /* fw_presence_max_events() of scratch */
};

static struct run *run_new(const struct fw_presence_config *cfg)
{
	struct run *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(fw_presence_create(&r->p, cfg, CAPACITY), 0);
	r->room = calloc((size_t)fw_presence_max_events(r->p), sizeof(*r->room));
	assert_non_null(r->room);
	return r;
}

static void run_free(struct run *r)
{
	fw_presence_destroy(r->p);
	free(r->room);
	free(r);
}

static int keep(struct run *r, int k)
{
	assert_true(k >= 0);
	assert_true(r->n_ev + k <= (int)(sizeof(r->ev) / sizeof(r->ev[0])));
	memcpy(r->ev + r->n_ev, r->room, (size_t)k * sizeof(*r->room));
	r->n_ev += k;
	return k;
}

/* One frame with these tracks; returns how many events it brought. */
static int frame(struct run *r, int64_t now, const struct fw_track *t, int n)
{
	return keep(r, fw_presence_update(r->p, now, t, n, r->room, fw_presence_max_events(r->p)));
}

static int tick(struct run *r, int64_t now)
{
	return keep(r, fw_presence_tick(r->p, now, r->room, fw_presence_max_events(r->p)));
}

static void assert_ev(const struct fw_presence_event *e, int32_t identity,
		      enum fw_presence_state state, int64_t since, int64_t at)
{
	assert_int_equal(e->identity, identity);
	assert_int_equal(e->state, state);
	assert_int_equal(e->since_ms, since);
	assert_int_equal(e->at_ms, at);
}

static void assert_state(struct run *r, int32_t identity, enum fw_presence_state state)
{
	struct fw_presence_event e;

	assert_int_equal(fw_presence_get(r->p, identity, &e), 0);
	assert_int_equal(e.state, state);
}

/* Alice is seen every frame from t 0 to t to (inclusive). */
static void alice_sits(struct run *r, int64_t from, int64_t to)
{
	for (int64_t t = from; t <= to; t += 100) {
		struct fw_track a = confirmed(1, ALICE, t);

		frame(r, t, &a, 1);
	}
}

/* ---- arrival ---- */

/* Identified from t 0 on: anyone is present at once (the track is
 * confirmed), alice after arrive_ms, at the frame at 1000, since 0. */
static void test_arrival_after_arrive_ms(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	alice_sits(r, 0, 900);
	assert_int_equal(r->n_ev, 1);
	assert_ev(&r->ev[0], ANYONE, PRESENT, 0, 0);
	assert_state(r, ALICE, AWAY);
	alice_sits(r, 1000, 1000);
	assert_int_equal(r->n_ev, 2);
	assert_ev(&r->ev[1], ALICE, PRESENT, 0, 1000);
	alice_sits(r, 1100, 3000);
	assert_int_equal(r->n_ev, 2);
	run_free(r);
}

/* Identified for 200 ms only (frames 0, 100, 200), then nobody: alice never
 * becomes present with arrive_ms 1000. Anyone was there (a confirmed face)
 * and is away 10 s after the last sighting: at 10200, noticed by the tick
 * at 10500. */
static void test_brief_identification_is_not_arrival(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	alice_sits(r, 0, 200);
	for (int64_t t = 300; t <= 5000; t += 100)
		frame(r, t, NULL, 0);
	for (int64_t t = 5500; t <= 20000; t += 500)
		tick(r, t);
	assert_int_equal(r->n_ev, 2);
	assert_ev(&r->ev[0], ANYONE, PRESENT, 0, 0);
	assert_ev(&r->ev[1], ANYONE, AWAY, 200, 10200);
	assert_state(r, ALICE, AWAY);
	run_free(r);
}

/* The face-lost grace during arrival: seen 0..300, a gap of exactly 1 s,
 * seen from 1300: still one run, present at 1300 since 0. Seen 0..500, a
 * gap of 1.1 s, seen from 1600: a new run, present only at 2600, since
 * 1600. */
static void test_gap_longer_than_lost_ms_restarts_arrival(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	alice_sits(r, 0, 300);
	for (int64_t t = 400; t <= 1200; t += 100)
		frame(r, t, NULL, 0);
	alice_sits(r, 1300, 1300);
	assert_int_equal(r->n_ev, 2);
	assert_ev(&r->ev[1], ALICE, PRESENT, 0, 1300);
	run_free(r);

	r = run_new(NULL);
	alice_sits(r, 0, 500);
	for (int64_t t = 600; t <= 1500; t += 100)
		frame(r, t, NULL, 0);
	alice_sits(r, 1600, 2500);
	assert_int_equal(r->n_ev, 1); /* anyone only */
	alice_sits(r, 2600, 2600);
	assert_int_equal(r->n_ev, 2);
	assert_ev(&r->ev[1], ALICE, PRESENT, 1600, 2600);
	run_free(r);
}

/* ---- departure ---- */

/* Alice at her desk, present since 0. She glances away for 2 s: her track
 * is lost (last seen 3000) for frames 3100..4900 and seen again from 5000,
 * with ticks in between. No away event, for her or for anyone. */
static void test_glance_away_is_not_away(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	alice_sits(r, 0, 3000);
	assert_int_equal(r->n_ev, 2);
	for (int64_t t = 3100; t <= 4900; t += 100) {
		struct fw_track a = lost(1, ALICE, 3000);

		frame(r, t, &a, 1);
		tick(r, t + 50);
	}
	alice_sits(r, 5000, 8000);
	for (int64_t t = 8000; t <= 17000; t += 1000) /* and sits on, the camera stalls */
		tick(r, t);
	assert_int_equal(r->n_ev, 2);
	assert_state(r, ALICE, PRESENT);
	assert_state(r, ANYONE, PRESENT);
	run_free(r);
}

/* Alice leaves; last seen at 3000. Her track is lost until the tracker ends
 * it at 5000; then the camera stalls and only ticks come, every 700 ms from
 * 5700. The leave grace runs out at 13000: the tick at 12700 says nothing,
 * the one at 13400 reports alice and anyone away, since 3000, at exactly
 * 13000. Nothing more until she comes back 15 s after leaving (18000):
 * anyone at once, alice after arrive_ms (19000, since 18000). */
static void test_leaving_is_one_away_event_at_the_right_time(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	alice_sits(r, 0, 3000);
	for (int64_t t = 3100; t < 5000; t += 100) {
		struct fw_track a = lost(1, ALICE, 3000);

		frame(r, t, &a, 1);
	}
	frame(r, 5000, NULL, 0);
	assert_int_equal(r->n_ev, 2);
	for (int k = 1; k <= 18; k++) { /* 5700 .. 17600 */
		int64_t t = 5000 + 700 * k;
		int n = tick(r, t);

		assert_int_equal(n, t == 13400 ? 2 : 0);
	}
	assert_int_equal(r->n_ev, 4);
	assert_ev(&r->ev[2], ALICE, AWAY, 3000, 13000);
	assert_ev(&r->ev[3], ANYONE, AWAY, 3000, 13000);
	alice_sits(r, 18000, 19000);
	assert_int_equal(r->n_ev, 6);
	assert_ev(&r->ev[4], ANYONE, PRESENT, 18000, 18000);
	assert_ev(&r->ev[5], ALICE, PRESENT, 18000, 19000);
	run_free(r);
}

/* Alice and Bob both at the desk from 0 (present at 1000). Alice leaves
 * (last seen 5000); Bob stays until 20000. Alice is away at 15000 (since
 * 5000); anyone stays present throughout, Bob too. */
static void test_one_leaves_the_other_stays(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	for (int64_t t = 0; t <= 20000; t += 100) {
		struct fw_track tr[2];
		int n = 0;

		if (t <= 5000)
			tr[n++] = confirmed(1, ALICE, t);
		else if (t < 7000)
			tr[n++] = lost(1, ALICE, 5000);
		tr[n++] = confirmed(2, BOB, t);
		frame(r, t, tr, n);
		if (t == 14900)
			assert_int_equal(r->n_ev, 3);
	}
	assert_int_equal(r->n_ev, 4);
	assert_ev(&r->ev[0], ANYONE, PRESENT, 0, 0);
	assert_ev(&r->ev[1], ALICE, PRESENT, 0, 1000);
	assert_ev(&r->ev[2], BOB, PRESENT, 0, 1000);
	assert_ev(&r->ev[3], ALICE, AWAY, 5000, 15000);
	assert_state(r, BOB, PRESENT);
	assert_state(r, ANYONE, PRESENT);
	run_free(r);
}

/* The daemon did not tick (say, it was busy): Alice, last seen at 2000, is
 * in the next frame at 14000. An update is a tick followed by the frame:
 * first both departures (at 12000), then anyone is back at once; alice
 * needs her arrive_ms again (present at 15000, since 14000). */
static void test_update_is_tick_then_frame(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	alice_sits(r, 0, 2000);
	assert_int_equal(r->n_ev, 2);
	alice_sits(r, 14000, 14000);
	assert_int_equal(r->n_ev, 5);
	assert_ev(&r->ev[2], ALICE, AWAY, 2000, 12000);
	assert_ev(&r->ev[3], ANYONE, AWAY, 2000, 12000);
	assert_ev(&r->ev[4], ANYONE, PRESENT, 14000, 14000);
	alice_sits(r, 14100, 15000);
	assert_int_equal(r->n_ev, 6);
	assert_ev(&r->ev[5], ALICE, PRESENT, 14000, 15000);
	run_free(r);
}

/* ---- who counts ---- */

/* A stranger (decided unknown) and a face not yet identified make the desk
 * occupied but name nobody; a tentative track counts for nothing, even one
 * that already carries a name; an identity beyond the capacity counts for
 * anyone only. */
static void test_who_counts(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	for (int64_t t = 0; t <= 3000; t += 100) {
		struct fw_track tr = confirmed(1, ALICE, t);

		tr.state = FW_TRACK_TENTATIVE;
		frame(r, t, &tr, 1);
	}
	assert_int_equal(r->n_ev, 0);
	for (int64_t t = 3100; t <= 6000; t += 100) {
		struct fw_track tr[3] = { confirmed(2, FW_IDENTITY_UNKNOWN, t),
					  confirmed(3, FW_IDENTITY_UNDECIDED, t),
					  confirmed(4, CAPACITY, t) };

		frame(r, t, tr, 3);
	}
	assert_int_equal(r->n_ev, 1);
	assert_ev(&r->ev[0], ANYONE, PRESENT, 3100, 3100);
	for (int i = 0; i < CAPACITY; i++)
		assert_state(r, i, AWAY);
	run_free(r);
}

/* A custom configuration: anyone needs 500 ms and leaves after 3 s, alice
 * arrives at once and leaves after 5 s. */
static void test_configured_times(void **state)
{
	struct fw_presence_config cfg;
	struct run *r;

	(void)state;
	fw_presence_config_default(&cfg);
	cfg.arrive_ms = 0;
	cfg.leave_ms = 5000;
	cfg.anyone_arrive_ms = 500;
	cfg.anyone_leave_ms = 3000;
	r = run_new(&cfg);
	alice_sits(r, 1000, 2000);
	tick(r, 4900);
	tick(r, 5000);
	tick(r, 7000);
	assert_int_equal(r->n_ev, 4);
	assert_ev(&r->ev[0], ALICE, PRESENT, 1000, 1000);
	assert_ev(&r->ev[1], ANYONE, PRESENT, 1000, 1500);
	assert_ev(&r->ev[2], ANYONE, AWAY, 2000, 5000);
	assert_ev(&r->ev[3], ALICE, AWAY, 2000, 7000);
	run_free(r);
}

/* ---- the API's edges ---- */

static void test_bad_input(void **state)
{
	struct fw_presence_config cfg;
	struct fw_presence *p = (struct fw_presence *)1;
	struct fw_presence_event ev[1], e;
	struct fw_track tr = confirmed(1, ALICE, 0);
	struct run *r;

	(void)state;
	fw_presence_config_default(&cfg);
	cfg.leave_ms = -1;
	assert_int_equal(fw_presence_create(&p, &cfg, 4), FW_EINVAL);
	assert_null(p);
	assert_int_equal(fw_presence_create(&p, NULL, -1), FW_EINVAL);
	assert_int_equal(fw_presence_create(&p, NULL, 0), 0);
	assert_int_equal(fw_presence_max_events(p), 1 + 4 * FW_TRACKER_MAX_TRACKS);
	/* too little room is refused, and changes nothing */
	assert_int_equal(fw_presence_update(p, 0, &tr, 1, ev, 1), FW_EINVAL);
	assert_int_equal(fw_presence_tick(p, 0, ev, 1), FW_EINVAL);
	assert_int_equal(fw_presence_get(p, ANYONE, &e), 0);
	assert_int_equal(e.state, AWAY);
	assert_int_equal(fw_presence_get(p, 0, &e), FW_EINVAL);
	fw_presence_destroy(p);

	r = run_new(NULL);
	assert_int_equal(fw_presence_update(r->p, 0, NULL, 1, r->room,
					    fw_presence_max_events(r->p)),
			 FW_EINVAL);
	assert_int_equal(fw_presence_update(r->p, 0, &tr, FW_TRACKER_MAX_TRACKS + 1, r->room,
					    fw_presence_max_events(r->p)),
			 FW_EINVAL);
	/* the clock steps back: held at the last time, nothing comes due twice */
	alice_sits(r, 0, 1000);
	assert_int_equal(tick(r, 20000), 2);
	assert_int_equal(tick(r, 15000), 0);
	assert_int_equal(tick(r, 20000), 0);
	run_free(r);
}

/* ---- the whole chain ---- */

/* Alice sits down in front of the camera (a still face, 25 fps) at t 0,
 * works for 4 s, and leaves; frames go on until 6000, then the camera
 * stalls and the daemon ticks once a second. The daemon embeds whenever the
 * tracker asks and the gallery says alice 0.8.
 *   80     face_appeared (3rd frame); anyone present since 80
 *   160    face_identified alice: embeddings at 40 (her second sighting)
 *          and 160 (the first frame vote_interval_ms 100 later); two votes
 *          at 0.8, well above the threshold and unanimous, decide
 *   1160   alice present (arrive_ms after her first identified frame, 160)
 *   6000   face_left, 4000 ms (2 s and 3 frames after the last sighting)
 *   14000  alice and anyone away since 4000 (the tick at 14000) */
static void test_tracker_to_presence(void **state)
{
	struct fw_tracker *t;
	struct fw_track_event tev[FW_TRACKER_MAX_EVENTS], tlog[16];
	struct run *r = run_new(NULL);
	int nt = 0, embeds = 0;
	struct fw_detection d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.x1 = 270;
	d.y1 = 190;
	d.x2 = 370;
	d.y2 = 290;
	d.score = 0.9f;
	d.kp[0][0] = 300; /* eyes and nose: facing the camera */
	d.kp[0][1] = 230;
	d.kp[1][0] = 340;
	d.kp[1][1] = 230;
	d.kp[2][0] = 320;
	d.kp[2][1] = 250;
	assert_int_equal(fw_tracker_create(&t, NULL), 0);
	for (int64_t now = 0; now <= 6000; now += 40) {
		const struct fw_track *tr;
		int n, k;

		assert_int_equal(fw_tracker_update(t, now, &d, now <= 4000 ? 1 : 0, 640, 480), 0);
		n = fw_tracker_tracks(t, &tr);
		for (int i = 0; i < n; i++) {
			if (fw_tracker_needs_embedding(t, tr[i].id)) {
				assert_true(fw_tracker_observe(t, tr[i].id, ALICE, 0.8f) >= 0);
				embeds++;
			}
		}
		k = fw_tracker_events(t, tev, FW_TRACKER_MAX_EVENTS);
		assert_true(nt + k <= 16);
		memcpy(tlog + nt, tev, (size_t)k * sizeof(tev[0]));
		nt += k;
		n = fw_tracker_tracks(t, &tr); /* after observe: the decided identity */
		frame(r, now, tr, n);
	}
	for (int64_t now = 7000; now <= 20000; now += 1000)
		tick(r, now);

	assert_int_equal(embeds, 2);
	assert_int_equal(nt, 3);
	assert_int_equal(tlog[0].kind, FW_TRACK_APPEARED);
	assert_int_equal(tlog[0].t_ms, 80);
	assert_int_equal(tlog[1].kind, FW_TRACK_IDENTIFIED);
	assert_int_equal(tlog[1].t_ms, 160);
	assert_int_equal(tlog[1].identity, ALICE);
	assert_int_equal(tlog[2].kind, FW_TRACK_LEFT);
	assert_int_equal(tlog[2].t_ms, 6000);
	assert_int_equal(tlog[2].duration_ms, 4000);
	assert_int_equal(tlog[2].identity, ALICE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tlog[i].track, 1);

	assert_int_equal(r->n_ev, 4);
	assert_ev(&r->ev[0], ANYONE, PRESENT, 80, 80);
	assert_ev(&r->ev[1], ALICE, PRESENT, 160, 1160);
	assert_ev(&r->ev[2], ALICE, AWAY, 4000, 14000);
	assert_ev(&r->ev[3], ANYONE, AWAY, 4000, 14000);
	fw_tracker_destroy(t);
	run_free(r);
}

/* The steady state allocates nothing: two people coming and going for
 * 10 minutes of frames and ticks. */
static void test_steady_state_does_not_allocate(void **state)
{
	struct run *r;
	int events = 0;

	(void)state;
#ifdef FW_NO_INTERPOSE
	skip();
#endif
	r = run_new(NULL);
	tu_allocations = 0;
	tu_counting = 1;
	for (int64_t t = 0; t < 600000; t += 100) {
		struct fw_track tr[2];
		int n = 0;

		if ((t / 20000) % 2 == 0)
			tr[n++] = confirmed(1, ALICE, t);
		if ((t / 30000) % 3 != 0)
			tr[n++] = confirmed(2, BOB, t);
		events += fw_presence_update(r->p, t, tr, n, r->room, fw_presence_max_events(r->p));
		if (t % 1000 == 0)
			events += fw_presence_tick(r->p, t + 50, r->room,
						   fw_presence_max_events(r->p));
	}
	tu_counting = 0;
	assert_int_equal(tu_allocations, 0);
	assert_true(events > 20);
	run_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arrival_after_arrive_ms),
		cmocka_unit_test(test_brief_identification_is_not_arrival),
		cmocka_unit_test(test_gap_longer_than_lost_ms_restarts_arrival),
		cmocka_unit_test(test_glance_away_is_not_away),
		cmocka_unit_test(test_leaving_is_one_away_event_at_the_right_time),
		cmocka_unit_test(test_one_leaves_the_other_stays),
		cmocka_unit_test(test_update_is_tick_then_frame),
		cmocka_unit_test(test_who_counts),
		cmocka_unit_test(test_configured_times),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_tracker_to_presence),
		cmocka_unit_test(test_steady_state_does_not_allocate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
