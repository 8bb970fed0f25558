/* The tracker on synthetic timelines a user would recognise: a face walking
 * across keeps its id, two faces crossing keep theirs, a false detection
 * never becomes a face, a glance away is not a departure, a departure is
 * reported once with the time the face was there, identities are decided
 * by votes, embeddings are asked for when they can help and not otherwise.
 *
 * Frames come every 40 ms (25 fps) on a 640x480 frame with the default
 * configuration unless a test says otherwise; every expected time below is
 * worked out by hand from those numbers and the defaults in tracker.h. */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fw.h"
#include "core/tracker.h"

#define W 640
#define H 480
#define FRAME_MS 40
#define ALICE 0
#define BOB 1

/* ---- the allocator, counted (support/alloc_count.h; see test_steady_state_does_not_allocate) ---- */

#include "alloc_count.h"

/* ---- synthetic faces ---- */

/* A face facing the camera: a side x side box centred on (cx, cy), score
 * 0.9, eyes 0.4 side apart, the nose midway (frontal 1). */
static struct fw_detection face(float cx, float cy, float side)
{
	struct fw_detection d;
	float h = side / 2;

	memset(&d, 0, sizeof(d));
	d.x1 = cx - h;
	d.y1 = cy - h;
	d.x2 = cx + h;
	d.y2 = cy + h;
	d.score = 0.9f;
	d.kp[0][0] = cx - 0.2f * side; /* right eye (on the image's left) */
	d.kp[0][1] = cy - 0.1f * side;
	d.kp[1][0] = cx + 0.2f * side; /* left eye */
	d.kp[1][1] = cy - 0.1f * side;
	d.kp[2][0] = cx; /* nose tip */
	d.kp[2][1] = cy + 0.05f * side;
	d.kp[3][0] = cx; /* mouth */
	d.kp[3][1] = cy + 0.25f * side;
	d.kp[4][0] = cx - 0.45f * side; /* ears */
	d.kp[4][1] = cy;
	d.kp[5][0] = cx + 0.45f * side;
	d.kp[5][1] = cy;
	return d;
}

/* The nose moved to fraction a of the way from the right eye to the left. */
static void turn(struct fw_detection *d, float a)
{
	d->kp[2][0] = d->kp[0][0] + a * (d->kp[1][0] - d->kp[0][0]);
}

/* ---- a tracker and everything it said ---- */

struct run {
	struct fw_tracker *t;
	struct fw_track_event ev[512];
	int n_ev;
};

/* The tracker's settings for the timelines below, written one rule at a
 * time: every vote counts towards vote_min (no early sure decision) and a
 * face is embedded from its first sighting. The defaults' vote_sure and
 * embed_hits have tests of their own (test_sure_votes_decide_early,
 * test_first_embedding_waits_a_second_sighting). */
static void classic(struct fw_tracker_config *cfg)
{
	fw_tracker_config_default(cfg);
	cfg->vote_sure = 0;
	cfg->embed_hits = 1;
	cfg->near_young_ms = 0;
}

static struct run *run_new(const struct fw_tracker_config *cfg)
{
	struct run *r = calloc(1, sizeof(*r));
	struct fw_tracker_config c;

	assert_non_null(r);
	if (!cfg) {
		classic(&c);
		cfg = &c;
	}
	assert_int_equal(fw_tracker_create(&r->t, cfg), 0);
	return r;
}

static void run_free(struct run *r)
{
	fw_tracker_destroy(r->t);
	free(r);
}

static void frame(struct run *r, int64_t now, const struct fw_detection *d, int n)
{
	assert_int_equal(fw_tracker_update(r->t, now, d, n, W, H), 0);
}

/* Take the events; returns how many came. */
static int drain(struct run *r)
{
	int k;

	assert_true(r->n_ev + FW_TRACKER_MAX_EVENTS <= (int)(sizeof(r->ev) / sizeof(r->ev[0])));
	k = fw_tracker_events(r->t, r->ev + r->n_ev, FW_TRACKER_MAX_EVENTS);
	assert_true(k >= 0);
	r->n_ev += k;
	return k;
}

/* A frame and its events. */
static int step(struct run *r, int64_t now, const struct fw_detection *d, int n)
{
	frame(r, now, d, n);
	return drain(r);
}

static int ntracks(struct run *r)
{
	const struct fw_track *tr;

	return fw_tracker_tracks(r->t, &tr);
}

static const struct fw_track *track(struct run *r, uint32_t id)
{
	const struct fw_track *tr;
	int n = fw_tracker_tracks(r->t, &tr);

	for (int i = 0; i < n; i++)
		if (tr[i].id == id)
			return &tr[i];
	return NULL;
}

static void assert_event(const struct fw_track_event *e, enum fw_track_event_kind kind,
			 uint32_t id, int64_t t_ms)
{
	assert_int_equal(e->kind, kind);
	assert_int_equal(e->track, id);
	assert_int_equal(e->t_ms, t_ms);
}

/* ---- association ---- */

/* Someone walks across the frame at 300 px/s (12 px a frame) with a few
 * pixels of detector jitter: one face, one id, from the left edge to the
 * right. face_appeared on the third frame (t 80); face_left once the face
 * has been gone 2 s (and 3 frames): last seen at frame 43 (t 1720), so the
 * first frame at or after 3720, which is frame 93; it was there 1720 ms. */
static void test_walk_across_keeps_one_id(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	for (int i = 0; i < 44; i++) {
		float jx = (float)((i * 5) % 7 - 3), jy = (float)((i * 3) % 5 - 2);
		struct fw_detection d = face(60.0f + 12.0f * (float)i + jx, 240 + jy,
					     80.0f + (float)(i % 3));

		step(r, i * FRAME_MS, &d, 1);
		assert_int_equal(ntracks(r), 1);
		assert_non_null(track(r, 1));
		assert_int_equal(track(r, 1)->det_index, 0);
		assert_int_equal(track(r, 1)->state, i < 2 ? FW_TRACK_TENTATIVE : FW_TRACK_ACTIVE);
	}
	assert_int_equal(r->n_ev, 1);
	assert_event(&r->ev[0], FW_TRACK_APPEARED, 1, 80);
	assert_int_equal(r->ev[0].identity, FW_IDENTITY_UNDECIDED);

	for (int i = 44; i < 93; i++) {
		assert_int_equal(step(r, i * FRAME_MS, NULL, 0), 0);
		assert_int_equal(track(r, 1)->state, FW_TRACK_LOST);
	}
	assert_int_equal(step(r, 93 * FRAME_MS, NULL, 0), 1);
	assert_event(&r->ev[1], FW_TRACK_LEFT, 1, 3720);
	assert_int_equal(r->ev[1].duration_ms, 1720);
	assert_int_equal(ntracks(r), 0);
	for (int i = 94; i < 120; i++)
		assert_int_equal(step(r, i * FRAME_MS, NULL, 0), 0);
	run_free(r);
}

/* A quick head move: 60 px a frame with an 80 px face, so consecutive boxes
 * overlap by IoU 0.14, under iou_min. The centre-distance fallback (0.75
 * face sizes) holds the track until the velocity estimate puts the
 * prediction on the face; one id throughout. */
static void test_fast_move_keeps_id(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	for (int i = 0; i < 9; i++) {
		struct fw_detection d = face(60.0f + 60.0f * (float)i, 240, 80);

		step(r, i * FRAME_MS, &d, 1);
		assert_int_equal(ntracks(r), 1);
		assert_int_equal(track(r, 1)->det_index, 0);
	}
	assert_int_equal(r->n_ev, 1);
	assert_event(&r->ev[0], FW_TRACK_APPEARED, 1, 80);
	run_free(r);
}

/* Two people pass each other at the same height and nearly the same
 * distance: A (84 px face) walks right from x 100 and B (80 px) walks left
 * from x 540, 10 px a frame each; at frame 22 both are at x 320 and their
 * boxes overlap by IoU 0.91. The detections come in alternating order so
 * the array order says nothing. Chosen behaviour: each track follows its
 * own face (the constant-velocity prediction puts each track where its face
 * is going), so A keeps id 1 and B id 2; checked by the box each track
 * matched. */
static float cross_a(int i)
{
	return 100.0f + 10.0f * (float)i;
}

static float cross_b(int i)
{
	return 540.0f - 10.0f * (float)i;
}

static void test_two_faces_crossing_keep_ids(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	for (int i = 0; i < 45; i++) {
		struct fw_detection d[2];
		int ia = i % 2, ib = 1 - ia;

		d[ia] = face(cross_a(i), 240, 84);
		d[ib] = face(cross_b(i), 240, 80);
		step(r, i * FRAME_MS, d, 2);
		assert_int_equal(ntracks(r), 2);
		assert_float_equal(track(r, 1)->det.x1, cross_a(i) - 42, 1e-4);
		assert_float_equal(track(r, 2)->det.x1, cross_b(i) - 40, 1e-4);
	}
	assert_int_equal(r->n_ev, 2);
	assert_event(&r->ev[0], FW_TRACK_APPEARED, 1, 80);
	assert_event(&r->ev[1], FW_TRACK_APPEARED, 2, 80);
	run_free(r);
}

/* The same crossing as the detector really sees it: while B is behind A
 * (frames 21..23) there is one detection. B's track is lost for 120 ms; its
 * prediction keeps it moving left, and at frame 24 it takes B (x 300)
 * again, not A (x 340, where B was last seen: a tracker without the
 * prediction would give B's id to A here). No face_left, no new track. */
static void test_face_hidden_while_crossing_keeps_id(void **state)
{
	struct run *r = run_new(NULL);

	(void)state;
	for (int i = 0; i < 45; i++) {
		struct fw_detection d[2] = { face(cross_a(i), 240, 84), face(cross_b(i), 240, 80) };
		bool hidden = i >= 21 && i <= 23;

		step(r, i * FRAME_MS, d, hidden ? 1 : 2);
		assert_int_equal(ntracks(r), 2);
		assert_int_equal(track(r, 1)->det_index, 0);
		assert_int_equal(track(r, 2)->det_index, hidden ? -1 : 1);
		assert_int_equal(track(r, 2)->state, i < 2 ? FW_TRACK_TENTATIVE
					      : hidden ? FW_TRACK_LOST : FW_TRACK_ACTIVE);
	}
	assert_int_equal(r->n_ev, 2);
	run_free(r);
}

/* The box is smoothed: a still face whose detections jitter by a few pixels
 * (uniform in +-6, rms 3.5) gets a box that jitters clearly less; and
 * smoothing does not drag behind a face that walks at a steady 12 px a
 * frame: after 20 frames the box is within half a pixel of the face (a
 * plain EMA with the same weight would trail by 8 px). */
static void test_box_smoothing(void **state)
{
	struct run *r = run_new(NULL);
	unsigned seed = 12345;
	double raw2 = 0, box2 = 0;

	(void)state;
	for (int i = 0; i < 200; i++) {
		float jx, jy;
		struct fw_detection d;

		seed = seed * 1103515245u + 12345u;
		jx = (float)((seed >> 16) % 13) - 6.0f;
		seed = seed * 1103515245u + 12345u;
		jy = (float)((seed >> 16) % 13) - 6.0f;
		d = face(320 + jx, 240 + jy, 100);
		step(r, i * FRAME_MS, &d, 1);
		if (i >= 20) {
			float bx = (track(r, 1)->box[0] + track(r, 1)->box[2]) / 2 - 320;
			float by = (track(r, 1)->box[1] + track(r, 1)->box[3]) / 2 - 240;

			raw2 += (double)(jx * jx + jy * jy);
			box2 += (double)(bx * bx + by * by);
		}
	}
	assert_int_equal(ntracks(r), 1);
	assert_true(box2 < 0.6 * raw2);
	run_free(r);

	r = run_new(NULL);
	for (int i = 0; i < 30; i++) {
		struct fw_detection d = face(60.0f + 12.0f * (float)i, 240, 80);

		step(r, i * FRAME_MS, &d, 1);
		if (i >= 20)
			assert_float_equal((track(r, 1)->box[0] + track(r, 1)->box[2]) / 2,
					   60.0f + 12.0f * (float)i, 0.5);
	}
	run_free(r);
}

/* ---- confirmation ---- */

/* One detection on a poster at frame 3 and nothing else: a tentative track
 * that is dropped at frame 6 (after 4 updates with 1 hit, 3 hits in its
 * first 5 updates are out of reach), without an event. A real face at frame
 * 10 gets id 2 (ids are never reused) and face_appeared at frame 12. */
static void test_single_false_detection_never_confirms(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection fp = face(500, 100, 60), d = face(200, 240, 100);

	(void)state;
	for (int i = 0; i < 10; i++) {
		step(r, i * FRAME_MS, &fp, i == 3 ? 1 : 0);
		assert_int_equal(ntracks(r), i >= 3 && i <= 5 ? 1 : 0);
		if (i >= 3 && i <= 5)
			assert_int_equal(track(r, 1)->state, FW_TRACK_TENTATIVE);
	}
	assert_int_equal(r->n_ev, 0);
	for (int i = 10; i < 13; i++)
		step(r, i * FRAME_MS, &d, 1);
	assert_int_equal(r->n_ev, 1);
	assert_event(&r->ev[0], FW_TRACK_APPEARED, 2, 12 * FRAME_MS);
	run_free(r);
}

/* Flicker: 2 hits in 5 frames never confirms; 3 hits in 5 frames (frames 0,
 * 2, 4) does, on the third hit. */
static void test_flicker_needs_three_hits_in_five_frames(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	for (int i = 0; i < 8; i++)
		step(r, i * FRAME_MS, &d, i == 0 || i == 2 ? 1 : 0);
	assert_int_equal(r->n_ev, 0);
	assert_int_equal(ntracks(r), 0);
	for (int i = 8; i < 14; i++)
		step(r, i * FRAME_MS, &d, i % 2 == 0 ? 1 : 0);
	assert_int_equal(r->n_ev, 1);
	assert_event(&r->ev[0], FW_TRACK_APPEARED, 2, 12 * FRAME_MS);
	run_free(r);
}

/* face_appeared carries the box and score at confirmation (a still face:
 * the smoothed box is the detection's). */
static void test_appeared_reports_box_and_score(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(300, 200, 120);

	(void)state;
	d.score = 0.75f;
	for (int i = 0; i < 3; i++)
		step(r, i * FRAME_MS, &d, 1);
	assert_int_equal(r->n_ev, 1);
	assert_float_equal(r->ev[0].box[0], 240, 1e-4);
	assert_float_equal(r->ev[0].box[1], 140, 1e-4);
	assert_float_equal(r->ev[0].box[2], 360, 1e-4);
	assert_float_equal(r->ev[0].box[3], 260, 1e-4);
	assert_float_equal(r->ev[0].score, 0.75, 1e-6);
	run_free(r);
}

/* ---- lost and left ---- */

/* A glance away: the face is missing for frames 20..22 and back at 23, in
 * the same place. Lost for three frames, same id, no face_left, no second
 * face_appeared. */
static void test_glance_away_keeps_id(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	for (int i = 0; i < 40; i++) {
		bool away = i >= 20 && i <= 22;

		step(r, i * FRAME_MS, &d, away ? 0 : 1);
		assert_int_equal(ntracks(r), 1);
		assert_non_null(track(r, 1));
		if (away) {
			assert_int_equal(track(r, 1)->state, FW_TRACK_LOST);
			assert_int_equal(track(r, 1)->misses, (uint32_t)(i - 19));
		}
	}
	assert_int_equal(track(r, 1)->state, FW_TRACK_ACTIVE);
	assert_int_equal(r->n_ev, 1);
	assert_event(&r->ev[0], FW_TRACK_APPEARED, 1, 80);
	run_free(r);
}

/* Seen for frames 0..24 (last at 960 ms), then gone: still a (lost) track at
 * 2920, face_left at 2960 (960 + lost_ms 2000) with duration 960 and the
 * identity it had. */
static void test_left_after_grace_with_duration(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	for (int i = 0; i < 25; i++) {
		frame(r, i * FRAME_MS, &d, 1);
		if (i >= 3 && i <= 6)
			assert_true(fw_tracker_observe(r->t, 1, ALICE, 0.8f) >= 0);
		drain(r);
	}
	assert_int_equal(r->n_ev, 2); /* APPEARED at 80, IDENTIFIED at 240 */
	assert_event(&r->ev[1], FW_TRACK_IDENTIFIED, 1, 240);
	for (int i = 25; i < 74; i++)
		assert_int_equal(step(r, i * FRAME_MS, NULL, 0), 0);
	assert_int_equal(track(r, 1)->state, FW_TRACK_LOST);
	assert_int_equal(step(r, 74 * FRAME_MS, NULL, 0), 1);
	assert_event(&r->ev[2], FW_TRACK_LEFT, 1, 2960);
	assert_int_equal(r->ev[2].duration_ms, 960);
	assert_int_equal(r->ev[2].identity, ALICE);
	assert_int_equal(ntracks(r), 0);
	run_free(r);
}

/* The camera stalls for 4 s after frame 24 (last seen 960). The first frame
 * after the stall (5000) has no face: one empty frame is not enough, it
 * takes three (5000, 5040, 5080); face_left at 5080, still with duration
 * 960. */
static void test_stall_then_one_empty_frame_does_not_end(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	for (int i = 0; i < 25; i++)
		step(r, i * FRAME_MS, &d, 1);
	assert_int_equal(step(r, 5000, NULL, 0), 0);
	assert_int_equal(step(r, 5040, NULL, 0), 0);
	assert_int_equal(step(r, 5080, NULL, 0), 1);
	assert_event(&r->ev[1], FW_TRACK_LEFT, 1, 5080);
	assert_int_equal(r->ev[1].duration_ms, 960);
	run_free(r);
}

/* While the camera gives nothing the daemon calls update with no
 * detections and no frame size every 200 ms (its ring timeout): each is a
 * frame without faces. Last seen at 960: the calls at 1160, 1360, ... make
 * 3 misses by 1560, and 2 s by 2960: face_left at 2960, duration 960. */
static void test_stall_ticks_end_a_track(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	for (int i = 0; i < 25; i++)
		step(r, i * FRAME_MS, &d, 1);
	for (int64_t now = 1160; now < 2960; now += 200) {
		assert_int_equal(fw_tracker_update(r->t, now, NULL, 0, 0, 0), 0);
		assert_int_equal(drain(r), 0);
	}
	assert_int_equal(fw_tracker_update(r->t, 2960, NULL, 0, 0, 0), 0);
	assert_int_equal(drain(r), 1);
	assert_event(&r->ev[1], FW_TRACK_LEFT, 1, 2960);
	assert_int_equal(r->ev[1].duration_ms, 960);
	run_free(r);
}

/* ---- identity ---- */

/* A still face confirmed at frame 2; from frame 3 one observation a frame.
 * Alice at 0.7 four times decides alice (on the 4th, frame 6, t 240); a
 * fifth alice, then a stray bob (0.8) changes nothing; bob going on flips
 * it when bob has 4 of the last 7 votes: votes a a a a a b b b b, the 9th
 * vote (frame 11, t 440). */
static void test_votes_decide_and_change_identity(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);
	static const int32_t who[9] = { ALICE, ALICE, ALICE, ALICE, ALICE, BOB, BOB, BOB, BOB };
	static const float sim[9] = { 0.7f, 0.7f, 0.7f, 0.7f, 0.7f, 0.8f, 0.8f, 0.8f, 0.8f };

	(void)state;
	for (int i = 0; i < 3; i++)
		step(r, i * FRAME_MS, &d, 1);
	assert_int_equal(r->n_ev, 1);
	for (int v = 0; v < 9; v++) {
		int64_t now = (3 + v) * FRAME_MS;
		int changed;

		frame(r, now, &d, 1);
		changed = fw_tracker_observe(r->t, 1, who[v], sim[v]);
		assert_int_equal(changed, v == 3 || v == 8);
		assert_int_equal(track(r, 1)->identity,
				 v < 3 ? FW_IDENTITY_UNDECIDED : v < 8 ? ALICE : BOB);
		assert_int_equal(drain(r), changed);
	}
	assert_int_equal(r->n_ev, 3);
	assert_event(&r->ev[1], FW_TRACK_IDENTIFIED, 1, 240);
	assert_int_equal(r->ev[1].identity, ALICE);
	assert_int_equal(r->ev[1].previous, FW_IDENTITY_UNDECIDED);
	assert_float_equal(r->ev[1].similarity, 0.7, 1e-6);
	assert_event(&r->ev[2], FW_TRACK_IDENTIFIED, 1, 440);
	assert_int_equal(r->ev[2].identity, BOB);
	assert_int_equal(r->ev[2].previous, ALICE);
	assert_float_equal(r->ev[2].similarity, 0.8, 1e-6);
	run_free(r);
}

/* A tie is no majority (vote_min 2 here): votes bob, alice, alice decide
 * alice at the third; a fourth, bob, makes it 2 to 2 and alice stays. */
static void test_vote_tie_keeps_identity(void **state)
{
	struct fw_tracker_config cfg;
	struct run *r;
	struct fw_detection d = face(320, 240, 100);
	static const int32_t who[4] = { BOB, ALICE, ALICE, BOB };

	(void)state;
	classic(&cfg);
	cfg.vote_min = 2;
	r = run_new(&cfg);
	for (int v = 0; v < 4; v++) {
		frame(r, v * FRAME_MS, &d, 1);
		assert_int_equal(fw_tracker_observe(r->t, 1, who[v], 0.9f), v == 2);
		assert_int_equal(track(r, 1)->identity, v < 2 ? FW_IDENTITY_UNDECIDED : ALICE);
	}
	run_free(r);
}

/* Votes gathered before confirmation (vote_min 2 here): a face seen at 0
 * and 40 ms, observed both times, is decided alice at 40 while still
 * tentative; missed at 80, seen at 120 it has its third hit and is
 * confirmed. face_identified (t 40) comes right after face_appeared (t 120),
 * never before it. */
static void test_identified_never_before_appeared(void **state)
{
	struct fw_tracker_config cfg;
	struct run *r;
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	classic(&cfg);
	cfg.vote_min = 2;
	r = run_new(&cfg);
	frame(r, 0, &d, 1);
	assert_int_equal(fw_tracker_observe(r->t, 1, ALICE, 0.9f), 0);
	assert_int_equal(drain(r), 0);
	frame(r, 40, &d, 1);
	assert_int_equal(fw_tracker_observe(r->t, 1, ALICE, 0.9f), 1);
	assert_int_equal(drain(r), 0); /* decided, but still tentative */
	step(r, 80, &d, 0);
	assert_int_equal(step(r, 120, &d, 1), 2);
	assert_event(&r->ev[0], FW_TRACK_APPEARED, 1, 120);
	assert_event(&r->ev[1], FW_TRACK_IDENTIFIED, 1, 40);
	assert_int_equal(r->ev[1].identity, ALICE);
	run_free(r);
}

/* Matches below same_threshold are votes for "unknown": a stranger who
 * looks a bit like alice (0.40) is decided unknown (face_identified with no
 * identity) at the 4th vote, frame 6 (t 240), and flagged once when seen
 * for unknown_ms (10 s) more: at frame 256 (t 10240), never again. */
static void test_unknown_face_flagged_once(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	for (int i = 0; i < 600; i++) {
		frame(r, i * FRAME_MS, &d, 1);
		if (i >= 3 && i <= 6)
			fw_tracker_observe(r->t, 1, ALICE, 0.40f);
		drain(r);
		if (i == 255)
			assert_int_equal(r->n_ev, 2);
	}
	assert_int_equal(r->n_ev, 3);
	assert_event(&r->ev[1], FW_TRACK_IDENTIFIED, 1, 240);
	assert_int_equal(r->ev[1].identity, FW_IDENTITY_UNKNOWN);
	assert_float_equal(r->ev[1].similarity, 0.40, 1e-6);
	assert_event(&r->ev[2], FW_TRACK_UNKNOWN_PERSISTENT, 1, 10240);
	assert_int_equal(r->ev[2].duration_ms, 10000);
	run_free(r);
}

/* ---- when to embed ---- */

/* A still 100 px face, somewhat turned (frontal 0.5), score 0.8; the daemon
 * embeds whenever asked and the gallery says alice 0.7. improve_ms 0: each
 * reason on its own (the default's pause is the next test's).
 *   t 0       NEW; observed
 *   40, 80    nothing (undecided, but vote_interval_ms 100 not up)
 *   120, 240, 360  UNDECIDED; the 4th vote at 360 decides alice
 *   400..5320 nothing, frame after frame (decided, nothing better)
 *   5360      REFRESH (5 s after 360); observed
 *   5400      the face leans in, 30 % bigger: BIGGER, not observed ...
 *   5440      ... still BIGGER (a reason lasts until observed); observed
 *   5480      nothing
 *   5520      the head turns to the camera (frontal 1.0): FRONTAL; observed
 *   5560      score 0.8 -> 0.95 (better by 0.1 or more): SCORE; observed
 *   5600..6080  gone (13 frames, 520 ms) ...
 *   6120      ... back: REACQUIRED (unseen 560 ms >= 500); observed
 *   6160      nothing */
static void test_needs_embedding_when_useful_only(void **state)
{
	struct fw_tracker_config cfg;
	struct run *r;
	struct fw_detection d = face(320, 240, 100);
	int embeds = 0;

	(void)state;
	classic(&cfg);
	cfg.improve_ms = 0;
	r = run_new(&cfg);
	turn(&d, 1.0f / 3.0f);
	d.score = 0.8f;
	assert_float_equal(fw_tracker_frontal(&d), 0.5, 1e-5);
	for (int i = 0; i <= 154; i++) {
		int64_t now = i * FRAME_MS;
		unsigned want = 0, got;
		bool observe = true;
		int n = 1;

		if (i == 135) {
			d = face(320, 240, 130);
			turn(&d, 1.0f / 3.0f);
			d.score = 0.8f;
		} else if (i == 138) {
			turn(&d, 0.5f);
		} else if (i == 139) {
			d.score = 0.95f;
		}
		if (i >= 140 && i <= 152)
			n = 0;
		frame(r, now, &d, n);
		got = fw_tracker_needs_embedding(r->t, 1);
		switch (i) {
		case 0: want = FW_EMBED_NEW; break;
		case 3: case 6: case 9: want = FW_EMBED_UNDECIDED; break;
		case 134: want = FW_EMBED_REFRESH; break;
		case 135: want = FW_EMBED_BIGGER; observe = false; break;
		case 136: want = FW_EMBED_BIGGER; break;
		case 138: want = FW_EMBED_FRONTAL; break;
		case 139: want = FW_EMBED_SCORE; break;
		case 153: want = FW_EMBED_REACQUIRED; break;
		default: break;
		}
		if (got != want)
			fail_msg("frame %d (t %lld): needs_embedding 0x%x, expected 0x%x", i,
				 (long long)now, got, want);
		if (got && observe) {
			assert_true(fw_tracker_observe(r->t, 1, ALICE, 0.7f) >= 0);
			embeds++;
		}
		if (i == 9)
			assert_int_equal(track(r, 1)->identity, ALICE);
		drain(r);
	}
	/* 9 embeddings in 6.2 s of a face at 25 fps (155 frames) */
	assert_int_equal(embeds, 9);
	run_free(r);
}

/* A recognised face that keeps getting better: over 3 s (frames 10-85 at
 * 25 fps) alice turns to the camera (frontal 0 -> 1) and leans in (side
 * 100 -> 200 px), crossing the bigger and more-frontal marks again and
 * again. With the default improve_ms (2000) she is re-embedded once in
 * that time (the first frame 2 s after her deciding vote at 360 ms: frame
 * 59); with improve_ms 0, at every mark. So is a face like nobody in the
 * gallery (0.2); but one that nearly matched her (0.45, unknown) is
 * re-embedded at every mark whatever improve_ms: a better view may name
 * her. */
static int embeds_while_improving(int64_t improve_ms, int32_t who, float sim)
{
	struct fw_tracker_config cfg;
	struct run *r;
	int during = 0;

	classic(&cfg);
	cfg.improve_ms = improve_ms;
	r = run_new(&cfg);
	for (int i = 0; i <= 85; i++) {
		float k = i < 10 ? 0 : (i - 10) / 75.0f;
		struct fw_detection d = face(320, 240, 100 + 100 * k);
		unsigned why;

		turn(&d, k / (1 + k)); /* frontal = k */
		frame(r, i * FRAME_MS, &d, 1);
		why = fw_tracker_needs_embedding(r->t, 1);
		if (!why)
			continue;
		if (i >= 10) {
			/* nearly her: also looked at again every near_ms */
			assert_int_equal(why & ~(FW_EMBED_BIGGER | FW_EMBED_FRONTAL | FW_EMBED_SCORE |
						 FW_EMBED_NEAR),
					 0);
			if (improve_ms == 2000 && sim < 0.3f)
				assert_int_equal(i, 59);
			during++;
		}
		assert_true(fw_tracker_observe(r->t, 1, who, sim) >= 0);
		if (i == 9) /* a weak match is no vote for her */
			assert_int_equal(track(r, 1)->identity,
					 sim >= 0.55f ? who : FW_IDENTITY_UNKNOWN);
		drain(r);
	}
	run_free(r);
	return during;
}

static void test_better_views_wait_improve_ms(void **state)
{
	int paced = embeds_while_improving(2000, ALICE, 0.7f);
	int eager = embeds_while_improving(0, ALICE, 0.7f);
	int stranger = embeds_while_improving(2000, FW_IDENTITY_UNKNOWN, 0.2f);
	int nearly = embeds_while_improving(2000, ALICE, 0.45f);

	(void)state;
	assert_int_equal(paced, 1);
	assert_true(eager >= 4);
	assert_int_equal(stranger, 1);
	assert_true(nearly >= eager);
}

/* Decided unknown: a face whose votes nearly matched alice (0.45, within
 * near_margin 0.2 of the 0.55 threshold: someone seen badly) is embedded
 * again every near_ms (500), until a better view names her; a face that
 * matches nobody at all (0.05: a hand, a stranger) waits for the refresh.
 * A still 100 px face at 25 fps for 4 s. */
static int embeds_when_unknown(float sim, bool name_her_at_1s)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);
	int later = 0;

	for (int i = 0; i <= 100; i++) { /* 4 s */
		unsigned why;

		frame(r, i * FRAME_MS, &d, 1);
		why = fw_tracker_needs_embedding(r->t, 1);
		if (!why)
			continue;
		if (i > 9) {
			assert_int_equal(why, FW_EMBED_NEAR);
			later++;
		}
		if (name_her_at_1s && i >= 25)
			assert_true(fw_tracker_observe(r->t, 1, ALICE, 0.7f) >= 0);
		else
			assert_true(fw_tracker_observe(r->t, 1, ALICE, sim) >= 0);
		if (i == 9)
			assert_int_equal(track(r, 1)->identity, FW_IDENTITY_UNKNOWN);
		drain(r);
	}
	if (name_her_at_1s)
		assert_int_equal(track(r, 1)->identity, ALICE);
	run_free(r);
	return later;
}

static void test_near_miss_unknown_looks_again(void **state)
{
	(void)state;
	/* votes at 0, 120, 240, 360 decide unknown; then 860, 1360, ... 3860 */
	assert_int_equal(embeds_when_unknown(0.45f, false), 7);
	assert_int_equal(embeds_when_unknown(0.05f, false), 0);
	/* from 1 s a better view: votes for her at 1400, 1920, 2440, 2960;
	 * the 4th names her, and a recognised face still in the same view is
	 * not embedded again before the refresh */
	assert_int_equal(embeds_when_unknown(0.45f, true), 5);
}

/* The defaults: two votes decide when both are well above the threshold
 * (0.7 >= 0.55 + 0.1) and nothing in the window disagrees; 0.6 votes, or a
 * window with an unknown vote in it, wait for the usual four. */
static int votes_to_decide(const float *sim, const int32_t *who, int n)
{
	struct fw_tracker_config cfg;
	struct run *r;
	struct fw_detection d = face(320, 240, 100);
	int decided = 0;

	fw_tracker_config_default(&cfg);
	r = run_new(&cfg);
	for (int v = 0; v < n && !decided; v++) {
		frame(r, v * FRAME_MS, &d, 1);
		fw_tracker_observe(r->t, 1, who[v], sim[v]);
		if (track(r, 1)->identity != FW_IDENTITY_UNDECIDED) {
			assert_int_equal(track(r, 1)->identity, ALICE);
			decided = v + 1;
		}
	}
	run_free(r);
	return decided;
}

static void test_sure_votes_decide_early(void **state)
{
	static const int32_t alice[6] = { ALICE, ALICE, ALICE, ALICE, ALICE, ALICE };
	static const int32_t mixed[6] = { ALICE, FW_IDENTITY_UNKNOWN, ALICE, ALICE, ALICE, ALICE };
	static const float sure[6] = { 0.7f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f };
	static const float weak[6] = { 0.6f, 0.7f, 0.6f, 0.7f, 0.7f, 0.7f };
	static const float low[6] = { 0.7f, 0.1f, 0.7f, 0.7f, 0.7f, 0.7f };

	(void)state;
	assert_int_equal(votes_to_decide(sure, alice, 6), 2);
	assert_int_equal(votes_to_decide(weak, alice, 6), 4);
	assert_int_equal(votes_to_decide(low, mixed, 6), 5);
}

/* The defaults: a face is first embedded when it has been detected twice;
 * a detection seen once (and never again) is never embedded. */
static void test_first_embedding_waits_a_second_sighting(void **state)
{
	struct fw_tracker_config cfg;
	struct run *r;
	struct fw_detection a = face(320, 240, 100), b = face(100, 100, 60);

	(void)state;
	fw_tracker_config_default(&cfg);
	r = run_new(&cfg);
	frame(r, 0, (struct fw_detection[]){ a, b }, 2);
	assert_int_equal(fw_tracker_needs_embedding(r->t, 1), 0);
	assert_int_equal(fw_tracker_needs_embedding(r->t, 2), 0);
	frame(r, FRAME_MS, &a, 1);
	assert_int_equal(fw_tracker_needs_embedding(r->t, 1), FW_EMBED_NEW);
	assert_int_equal(fw_tracker_needs_embedding(r->t, 2), 0);
	for (int i = 2; i < 10; i++) {
		frame(r, i * FRAME_MS, &a, 1);
		assert_int_equal(fw_tracker_needs_embedding(r->t, 2), 0);
	}
	run_free(r);
}

/* After a gallery change (fw_tracker_revote) a face decided unknown is
 * looked at again every vote_interval_ms: two sure votes for alice name her
 * (one IDENTIFIED event) and the pace drops back; a revote that agrees
 * with the identity already reported says nothing. */
static void test_revote_after_gallery_change(void **state)
{
	struct fw_tracker_config cfg;
	struct run *r;
	struct fw_detection d = face(320, 240, 100);
	int embeds_after = 0, i;

	(void)state;
	fw_tracker_config_default(&cfg);
	r = run_new(&cfg);
	for (i = 0; i < 20; i++) { /* decided unknown, nobody like her */
		frame(r, i * FRAME_MS, &d, 1);
		if (fw_tracker_needs_embedding(r->t, 1))
			fw_tracker_observe(r->t, 1, ALICE, 0.1f);
	}
	assert_int_equal(track(r, 1)->identity, FW_IDENTITY_UNKNOWN);
	drain(r);
	r->n_ev = 0;
	fw_tracker_revote(r->t);
	for (; i < 60; i++) {
		frame(r, i * FRAME_MS, &d, 1);
		if (fw_tracker_needs_embedding(r->t, 1)) {
			assert_int_equal(fw_tracker_needs_embedding(r->t, 1), FW_EMBED_UNDECIDED);
			fw_tracker_observe(r->t, 1, ALICE, 0.7f);
			embeds_after++;
		}
		drain(r);
	}
	assert_int_equal(embeds_after, 2);
	assert_int_equal(track(r, 1)->identity, ALICE);
	assert_int_equal(r->n_ev, 1);
	assert_int_equal(r->ev[0].kind, FW_TRACK_IDENTIFIED);
	assert_int_equal(r->ev[0].previous, FW_IDENTITY_UNKNOWN);
	/* the same gallery again: two votes, the same answer, no event */
	fw_tracker_revote(r->t);
	for (embeds_after = 0; i < 100; i++) {
		frame(r, i * FRAME_MS, &d, 1);
		if (fw_tracker_needs_embedding(r->t, 1)) {
			fw_tracker_observe(r->t, 1, ALICE, 0.7f);
			embeds_after++;
		}
		drain(r);
	}
	assert_int_equal(embeds_after, 2);
	assert_int_equal(r->n_ev, 1);
	run_free(r);
}

/* The defaults: a face decided unknown, however unlike anyone (0.05), is
 * looked at again every near_ms while it is new in view (its first
 * near_young_ms, 3 s: the first votes may be of a blurred face walking
 * in), then no more before the refresh. A still face at 25 fps for 6 s. */
static void test_young_unknown_looks_again(void **state)
{
	struct fw_tracker_config cfg;
	struct run *r;
	struct fw_detection d = face(320, 240, 100);
	int64_t last = -1;
	int near = 0;

	(void)state;
	fw_tracker_config_default(&cfg);
	r = run_new(&cfg);
	for (int i = 0; i <= 150; i++) {
		unsigned why;

		frame(r, i * FRAME_MS, &d, 1);
		why = fw_tracker_needs_embedding(r->t, 1);
		if (!why)
			continue;
		if (why & FW_EMBED_NEAR) {
			assert_true(i * FRAME_MS < 3000 + FRAME_MS);
			near++;
		}
		last = i * FRAME_MS;
		fw_tracker_observe(r->t, 1, ALICE, 0.05f);
		drain(r);
	}
	assert_int_equal(track(r, 1)->identity, FW_IDENTITY_UNKNOWN);
	assert_true(near >= 4);
	assert_true(last < 3000 + FRAME_MS);
	run_free(r);
}

/* A track not seen in the last update is not to be embedded, and cannot be
 * observed; neither can a track that does not exist. */
static void test_observe_needs_a_track_seen_now(void **state)
{
	struct run *r = run_new(NULL);
	struct fw_detection d = face(320, 240, 100);

	(void)state;
	for (int i = 0; i < 3; i++)
		step(r, i * FRAME_MS, &d, 1);
	step(r, 3 * FRAME_MS, NULL, 0);
	assert_int_equal(fw_tracker_needs_embedding(r->t, 1), 0);
	assert_int_equal(fw_tracker_observe(r->t, 1, ALICE, 0.9f), FW_EINVAL);
	assert_int_equal(fw_tracker_observe(r->t, 7, ALICE, 0.9f), FW_EINVAL);
	assert_int_equal(fw_tracker_needs_embedding(r->t, 7), 0);
	run_free(r);
}

/* Frontal score by hand: eyes at x 40 and 60, nose at 50 -> 1; at 45 ->
 * a = 1/4 -> (1/4) / (3/4) = 1/3; outside the eyes -> 0; the same face
 * mirrored, or rolled by 90 degrees, scores the same; coincident eyes -> 0. */
static void test_frontal_score(void **state)
{
	struct fw_detection d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.kp[0][0] = 40;
	d.kp[0][1] = 30;
	d.kp[1][0] = 60;
	d.kp[1][1] = 30;
	d.kp[2][0] = 50;
	d.kp[2][1] = 40;
	assert_float_equal(fw_tracker_frontal(&d), 1.0, 1e-6);
	d.kp[2][0] = 45;
	assert_float_equal(fw_tracker_frontal(&d), 1.0 / 3.0, 1e-6);
	d.kp[2][0] = 35;
	assert_float_equal(fw_tracker_frontal(&d), 0.0, 0);
	/* mirrored: eyes swap sides */
	d.kp[0][0] = 60;
	d.kp[1][0] = 40;
	d.kp[2][0] = 55;
	assert_float_equal(fw_tracker_frontal(&d), 1.0 / 3.0, 1e-6);
	/* rolled 90 degrees: eyes one above the other, the nose 1/4 down */
	d.kp[0][0] = 30;
	d.kp[0][1] = 40;
	d.kp[1][0] = 30;
	d.kp[1][1] = 60;
	d.kp[2][0] = 20;
	d.kp[2][1] = 45;
	assert_float_equal(fw_tracker_frontal(&d), 1.0 / 3.0, 1e-6);
	d.kp[1][1] = 40;
	assert_float_equal(fw_tracker_frontal(&d), 0.0, 0);
}

/* ---- the API's edges ---- */

/* Events that do not fit come on the next call, in order. Two faces confirm
 * in the same frame; with room for one event, one per call. */
static void test_events_that_do_not_fit_wait(void **state)
{
	struct fw_tracker *t;
	struct fw_detection d[2] = { face(150, 240, 100), face(450, 240, 100) };
	struct fw_track_event e;

	(void)state;
	assert_int_equal(fw_tracker_create(&t, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fw_tracker_update(t, i * FRAME_MS, d, 2, W, H), 0);
	assert_int_equal(fw_tracker_events(t, &e, 1), 1);
	assert_event(&e, FW_TRACK_APPEARED, 1, 80);
	assert_int_equal(fw_tracker_events(t, &e, 0), 0);
	assert_int_equal(fw_tracker_events(t, &e, 1), 1);
	assert_event(&e, FW_TRACK_APPEARED, 2, 80);
	assert_int_equal(fw_tracker_events(t, &e, 1), 0);
	fw_tracker_destroy(t);
}

/* A clock that steps back is held at the last time; a bad call changes
 * nothing; bad configurations are refused. */
static void test_bad_input(void **state)
{
	struct fw_tracker_config cfg;
	struct fw_tracker *t = (struct fw_tracker *)1;
	struct fw_detection d = face(320, 240, 100);
	const struct fw_track *tr;

	(void)state;
	fw_tracker_config_default(&cfg);
	cfg.vote_min = cfg.vote_window + 1;
	assert_int_equal(fw_tracker_create(&t, &cfg), FW_EINVAL);
	assert_null(t);
	fw_tracker_config_default(&cfg);
	cfg.bigger = 1.0f;
	assert_int_equal(fw_tracker_create(&t, &cfg), FW_EINVAL);
	fw_tracker_config_default(&cfg);
	cfg.iou_min = NAN;
	assert_int_equal(fw_tracker_create(&t, &cfg), FW_EINVAL);
	fw_tracker_config_default(&cfg);
	cfg.vote_window = FW_TRACKER_MAX_VOTES + 1;
	assert_int_equal(fw_tracker_create(&t, &cfg), FW_EINVAL);

	assert_int_equal(fw_tracker_create(&t, NULL), 0);
	assert_int_equal(fw_tracker_update(t, 1000, &d, 1, 0, H), FW_EINVAL);
	assert_int_equal(fw_tracker_update(t, 1000, &d, 1, W, -1), FW_EINVAL);
	assert_int_equal(fw_tracker_update(t, 1000, NULL, 1, W, H), FW_EINVAL);
	assert_int_equal(fw_tracker_update(t, 1000, &d, -1, W, H), FW_EINVAL);
	assert_int_equal(fw_tracker_tracks(t, &tr), 0);
	assert_int_equal(fw_tracker_update(t, 1000, &d, 1, W, H), 0);
	assert_int_equal(fw_tracker_update(t, 900, &d, 1, W, H), 0);
	assert_int_equal(fw_tracker_tracks(t, &tr), 1);
	assert_int_equal(tr[0].first_seen_ms, 1000);
	assert_int_equal(tr[0].last_seen_ms, 1000);
	assert_int_equal(tr[0].hits, 2);
	/* a box without area is not a face */
	d.x2 = d.x1;
	assert_int_equal(fw_tracker_update(t, 1040, &d, 1, W, H), 0);
	assert_int_equal(fw_tracker_tracks(t, &tr), 1);
	assert_int_equal(tr[0].det_index, -1);
	fw_tracker_destroy(t);
}

/* With all 32 slots held (32 faces, then 32 other faces in the next frame
 * while the first are still tentative) the newcomers are counted dropped,
 * not tracked. */
static void test_full_tracker_counts_dropped(void **state)
{
	struct fw_tracker *t;
	struct fw_detection a[32], b[32];
	const struct fw_track *tr;

	(void)state;
	for (int i = 0; i < 32; i++) {
		a[i] = face(20.0f + 40.0f * (float)(i % 16), 20.0f + 40.0f * (float)(i / 16), 20);
		b[i] = face(20.0f + 40.0f * (float)(i % 16), 300.0f + 40.0f * (float)(i / 16), 20);
	}
	assert_int_equal(fw_tracker_create(&t, NULL), 0);
	assert_int_equal(fw_tracker_update(t, 0, a, 32, W, H), 0);
	assert_int_equal(fw_tracker_tracks(t, &tr), 32);
	assert_int_equal(fw_tracker_update(t, 40, b, 32, W, H), 0);
	assert_int_equal(fw_tracker_tracks(t, &tr), 32);
	assert_int_equal(fw_tracker_dropped(t), 32);
	fw_tracker_destroy(t);
}

/* The steady state allocates nothing: 1000 frames of three faces walking,
 * with embeddings, votes, events, departures and arrivals. */
static void test_steady_state_does_not_allocate(void **state)
{
	struct fw_tracker *t;
	struct fw_track_event ev[FW_TRACKER_MAX_EVENTS];
	int events = 0;

	(void)state;
#ifdef FW_NO_INTERPOSE
	skip();
#endif
	assert_int_equal(fw_tracker_create(&t, NULL), 0);
	tu_allocations = 0;
	tu_counting = 1;
	for (int i = 0; i < 1000; i++) {
		struct fw_detection d[3];
		const struct fw_track *tr;
		int n = 0, nt;

		for (int f = 0; f < 3; f++)
			if ((i / 100 + f) % 4 != 0) /* each face leaves now and then */
				d[n++] = face(100.0f + 200.0f * (float)f + (float)(i % 50),
					      240, 90);
		fw_tracker_update(t, i * FRAME_MS, d, n, W, H);
		nt = fw_tracker_tracks(t, &tr);
		for (int k = 0; k < nt; k++)
			if (fw_tracker_needs_embedding(t, tr[k].id))
				fw_tracker_observe(t, tr[k].id, (int32_t)(tr[k].id % 3), 0.8f);
		events += fw_tracker_events(t, ev, FW_TRACKER_MAX_EVENTS);
	}
	tu_counting = 0;
	assert_int_equal(tu_allocations, 0);
	assert_true(events > 10);
	fw_tracker_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walk_across_keeps_one_id),
		cmocka_unit_test(test_fast_move_keeps_id),
		cmocka_unit_test(test_two_faces_crossing_keep_ids),
		cmocka_unit_test(test_face_hidden_while_crossing_keeps_id),
		cmocka_unit_test(test_box_smoothing),
		cmocka_unit_test(test_single_false_detection_never_confirms),
		cmocka_unit_test(test_flicker_needs_three_hits_in_five_frames),
		cmocka_unit_test(test_appeared_reports_box_and_score),
		cmocka_unit_test(test_glance_away_keeps_id),
		cmocka_unit_test(test_left_after_grace_with_duration),
		cmocka_unit_test(test_stall_then_one_empty_frame_does_not_end),
		cmocka_unit_test(test_stall_ticks_end_a_track),
		cmocka_unit_test(test_votes_decide_and_change_identity),
		cmocka_unit_test(test_vote_tie_keeps_identity),
		cmocka_unit_test(test_identified_never_before_appeared),
		cmocka_unit_test(test_unknown_face_flagged_once),
		cmocka_unit_test(test_needs_embedding_when_useful_only),
		cmocka_unit_test(test_better_views_wait_improve_ms),
		cmocka_unit_test(test_near_miss_unknown_looks_again),
		cmocka_unit_test(test_sure_votes_decide_early),
		cmocka_unit_test(test_first_embedding_waits_a_second_sighting),
		cmocka_unit_test(test_revote_after_gallery_change),
		cmocka_unit_test(test_young_unknown_looks_again),
		cmocka_unit_test(test_observe_needs_a_track_seen_now),
		cmocka_unit_test(test_frontal_score),
		cmocka_unit_test(test_events_that_do_not_fit_wait),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_full_tracker_counts_dropped),
		cmocka_unit_test(test_steady_state_does_not_allocate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
