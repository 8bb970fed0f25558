/* Face tracks: association, life cycle, embedding bookkeeping, identity
 * votes. See tracker.h for the contract. */
#include "core/tracker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/embedder.h"
#include "core/fw.h"

/* Weight of a new measurement in the velocity estimate. Not configurable:
 * it only shapes the prediction, which iou_min and centre_max already make
 * tolerant. 0.3: on a still face with 4 px (sd) of detector jitter the
 * smoothed box keeps 2.7 px (2.5 with no velocity at all, 2.9 at 0.5),
 * and the prediction has caught up with a walking face within ~10 frames. */
#define VEL_SMOOTH 0.3f

struct vote {
	int32_t identity; /* FW_IDENTITY_UNKNOWN or a gallery index */
	float similarity;
};

struct slot {
	bool used;
	bool ended;        /* lost past the grace; kept until its LEFT is taken */
	struct fw_track pub;
	/* motion */
	float vx, vy;      /* centre velocity, pixels per ms */
	int age;           /* updates since birth, counting it (used while tentative) */
	/* what the events report */
	int64_t confirm_ms;
	float confirm_box[4];
	float confirm_score;
	int64_t end_ms;
	bool appeared_reported;
	int32_t reported_identity;
	bool unknown_flagged, unknown_reported;
	int64_t unknown_flag_ms, unknown_duration_ms;
	/* the last embedding */
	uint32_t embeds;
	int64_t embed_ms;
	float embed_side, embed_score, embed_frontal;
	bool reacquired;   /* seen again after reacquire_ms; until the next embedding */
	bool revote;       /* fw_tracker_revote(): votes again until they decide */
	/* the last vote_window votes, a ring */
	struct vote votes[FW_TRACKER_MAX_VOTES];
	int n_votes, vote_next;
};

struct pair {
	float score;       /* > 1: IoU match (1 + IoU); (0, 1]: centre-distance match */
	uint8_t slot, det;
};

struct fw_tracker {
	struct fw_tracker_config cfg;
	int64_t now;       /* time of the last update */
	bool started;
	uint32_t next_id;
	uint64_t dropped;
	struct slot slots[FW_TRACKER_MAX_TRACKS];
	struct fw_track view[FW_TRACKER_MAX_TRACKS]; /* live tracks by id */
	int n_view;
	/* scratch of one update */
	struct pair pairs[FW_TRACKER_MAX_TRACKS * FW_TRACKER_MAX_DETECTIONS];
	float pred[FW_TRACKER_MAX_TRACKS][4];
	int slot_det[FW_TRACKER_MAX_TRACKS];
	bool det_ok[FW_TRACKER_MAX_DETECTIONS];
	bool det_taken[FW_TRACKER_MAX_DETECTIONS];
};

void fw_tracker_config_default(struct fw_tracker_config *cfg)
{
	*cfg = (struct fw_tracker_config){
		.iou_min = 0.3f,
		.centre_max = 1.0f,
		.size_ratio_max = 1.5f,
		.smooth = 0.6f,
		.predict_ms = 200,
		.confirm_hits = 3,
		.confirm_frames = 5,
		.lost_ms = 2000,
		.lost_frames = 3,
		.refresh_ms = 5000,
		.vote_interval_ms = 100,
		.reacquire_ms = 500,
		.bigger = 1.25f,
		.better_score = 0.1f,
		.more_frontal = 0.2f,
		.improve_ms = 2000,
		.embed_hits = 2,
		.vote_sure = 2,
		.sure_margin = 0.1f,
		.near_ms = 500,
		.near_margin = 0.2f,
		.near_young_ms = 3000,
		.vote_window = 7,
		.vote_min = 4,
		.same_threshold = FW_EMBED_SAME_THRESHOLD,
		.unknown_ms = 10000,
	};
}

static bool config_ok(const struct fw_tracker_config *c)
{
	/* written so that NaN fails every test */
	return c->iou_min > 0 && c->iou_min <= 1 && c->centre_max >= 0 &&
	       c->size_ratio_max >= 1 && c->smooth > 0 && c->smooth <= 1 && c->predict_ms >= 0 &&
	       c->confirm_hits >= 1 && c->confirm_frames >= c->confirm_hits &&
	       c->lost_ms >= 0 && c->lost_frames >= 1 && c->refresh_ms > 0 &&
	       c->vote_interval_ms >= 0 && c->reacquire_ms >= 0 && c->bigger > 1 &&
	       c->better_score > 0 && c->more_frontal > 0 && c->improve_ms >= 0 && c->near_ms >= 0 &&
	       c->embed_hits >= 1 && c->vote_sure >= 0 && c->sure_margin >= 0 &&
	       c->near_margin >= 0 && c->near_young_ms >= 0 &&
	       c->vote_window >= 1 &&
	       c->vote_window <= FW_TRACKER_MAX_VOTES && c->vote_min >= 1 &&
	       c->vote_min <= c->vote_window && c->same_threshold >= -1 &&
	       c->same_threshold <= 1 && c->unknown_ms >= 0;
}

int fw_tracker_create(struct fw_tracker **out, const struct fw_tracker_config *cfg)
{
	struct fw_tracker_config def;
	struct fw_tracker *t;

	if (!out)
		return FW_EINVAL;
	*out = NULL;
	if (!cfg) {
		fw_tracker_config_default(&def);
		cfg = &def;
	}
	if (!config_ok(cfg))
		return FW_EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return FW_ENOMEM;
	t->cfg = *cfg;
	t->next_id = 1;
	*out = t;
	return 0;
}

int fw_tracker_set_config(struct fw_tracker *t, const struct fw_tracker_config *cfg)
{
	if (!t || !cfg || !config_ok(cfg))
		return FW_EINVAL;
	t->cfg = *cfg;
	return 0;
}

void fw_tracker_destroy(struct fw_tracker *t)
{
	free(t);
}

/* ---- geometry ---- */

static float box_area(const float b[4])
{
	float w = b[2] - b[0], h = b[3] - b[1];

	return w > 0 && h > 0 ? w * h : 0;
}

static float box_iou(const float a[4], const float b[4])
{
	float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
	float ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
	float inter, uni;

	if (iw <= 0 || ih <= 0)
		return 0;
	inter = iw * ih;
	uni = box_area(a) + box_area(b) - inter;
	return uni > 0 ? inter / uni : 0;
}

static void det_box(const struct fw_detection *d, float b[4])
{
	b[0] = d->x1;
	b[1] = d->y1;
	b[2] = d->x2;
	b[3] = d->y2;
}

static float det_side(const struct fw_detection *d)
{
	float b[4];

	det_box(d, b);
	return sqrtf(box_area(b));
}

float fw_tracker_frontal(const struct fw_detection *d)
{
	/* keypoints 0 and 1 are the eyes, 2 the nose tip */
	float ex = d->kp[1][0] - d->kp[0][0], ey = d->kp[1][1] - d->kp[0][1];
	float nx = d->kp[2][0] - d->kp[0][0], ny = d->kp[2][1] - d->kp[0][1];
	float len2 = ex * ex + ey * ey, a;

	if (!(len2 > 0))
		return 0;
	a = (nx * ex + ny * ey) / len2; /* nose projected on the eye line, 0..1 between them */
	if (!(a > 0 && a < 1))
		return 0;
	return a < 0.5f ? a / (1 - a) : (1 - a) / a;
}

/* The track's box moved to `now` with its velocity, the centre kept in the frame. */
static void predict(const struct fw_tracker *t, const struct slot *s, int64_t now, int width,
		    int height, float out[4])
{
	const float *b = s->pub.box;
	int64_t dt = now - s->pub.last_seen_ms;
	float h, cx, cy, hw = (b[2] - b[0]) / 2, hh = (b[3] - b[1]) / 2;

	if (dt > t->cfg.predict_ms)
		dt = t->cfg.predict_ms;
	h = (float)dt;
	cx = fminf(fmaxf((b[0] + b[2]) / 2 + s->vx * h, 0), (float)width);
	cy = fminf(fmaxf((b[1] + b[3]) / 2 + s->vy * h, 0), (float)height);
	out[0] = cx - hw;
	out[1] = cy - hh;
	out[2] = cx + hw;
	out[3] = cy + hh;
}

/* How well a predicted track box and a detection box match; 0: not at all. */
static float match_score(const struct fw_tracker_config *c, const float p[4], const float d[4])
{
	float iou = box_iou(p, d), ps, ds, ratio, dx, dy, dist;

	if (iou >= c->iou_min)
		return 1 + iou;
	ps = sqrtf(box_area(p));
	ds = sqrtf(box_area(d));
	if (ps <= 0 || ds <= 0)
		return 0;
	ratio = ps > ds ? ps / ds : ds / ps;
	if (ratio > c->size_ratio_max)
		return 0;
	dx = (p[0] + p[2] - d[0] - d[2]) / 2;
	dy = (p[1] + p[3] - d[1] - d[3]) / 2;
	dist = sqrtf(dx * dx + dy * dy) / ((ps + ds) / 2);
	if (dist > c->centre_max)
		return 0;
	return 1 - 0.5f * (c->centre_max > 0 ? dist / c->centre_max : 0); /* 0.5 .. 1 */
}

/* ---- track life ---- */

static struct slot *find(const struct fw_tracker *t, uint32_t id)
{
	for (int i = 0; i < FW_TRACKER_MAX_TRACKS; i++) {
		const struct slot *s = &t->slots[i];

		if (s->used && !s->ended && s->pub.id == id)
			return (struct slot *)s;
	}
	return NULL;
}

static void confirm(struct slot *s, int64_t now)
{
	s->pub.state = FW_TRACK_ACTIVE;
	s->confirm_ms = now;
	memcpy(s->confirm_box, s->pub.box, sizeof(s->confirm_box));
	s->confirm_score = s->pub.det.score;
}

static void start_track(struct fw_tracker *t, struct slot *s, const struct fw_detection *d,
			int index, int64_t now)
{
	memset(s, 0, sizeof(*s));
	s->used = true;
	s->pub.id = t->next_id++;
	if (t->next_id == 0) /* after 4 billion tracks; 0 is never an id */
		t->next_id = 1;
	s->pub.state = FW_TRACK_TENTATIVE;
	det_box(d, s->pub.box);
	s->pub.det = *d;
	s->pub.det_index = index;
	s->pub.first_seen_ms = now;
	s->pub.last_seen_ms = now;
	s->pub.hits = 1;
	s->pub.identity = FW_IDENTITY_UNDECIDED;
	s->reported_identity = FW_IDENTITY_UNDECIDED;
	s->age = 1;
	if (t->cfg.confirm_hits <= 1)
		confirm(s, now);
}

static void track_seen(struct fw_tracker *t, struct slot *s, const float pred[4],
		       const struct fw_detection *d, int index, int64_t now)
{
	const struct fw_tracker_config *c = &t->cfg;
	int64_t dt = now - s->pub.last_seen_ms;
	float b[4], *box = s->pub.box;

	det_box(d, b);
	if (dt > 0 && dt <= c->predict_ms) {
		float mx = ((b[0] + b[2]) - (box[0] + box[2])) / 2 / (float)dt;
		float my = ((b[1] + b[3]) - (box[1] + box[3])) / 2 / (float)dt;

		s->vx += VEL_SMOOTH * (mx - s->vx);
		s->vy += VEL_SMOOTH * (my - s->vy);
	} else if (dt > c->predict_ms) {
		s->vx = s->vy = 0; /* the old velocity says nothing after a long gap */
	}
	/* EMA around the prediction: no lag behind a face that keeps its pace */
	for (int k = 0; k < 4; k++)
		box[k] = pred[k] + c->smooth * (b[k] - pred[k]);
	if (dt >= c->reacquire_ms && s->embeds > 0)
		s->reacquired = true;
	s->pub.det = *d;
	s->pub.det_index = index;
	s->pub.last_seen_ms = now;
	s->pub.hits++;
	s->pub.misses = 0;
	if (s->pub.state == FW_TRACK_TENTATIVE) {
		s->age++;
		if ((int)s->pub.hits >= c->confirm_hits)
			confirm(s, now);
	} else {
		s->pub.state = FW_TRACK_ACTIVE;
	}
}

static void track_missed(struct fw_tracker *t, struct slot *s, int64_t now)
{
	const struct fw_tracker_config *c = &t->cfg;

	s->pub.det_index = -1;
	s->pub.misses++;
	if (s->pub.state == FW_TRACK_TENTATIVE) {
		s->age++;
		/* dropped as soon as confirmation is out of reach */
		if ((int)s->pub.hits + (c->confirm_frames - s->age) < c->confirm_hits)
			s->used = false;
		return;
	}
	s->pub.state = FW_TRACK_LOST;
	if ((int)s->pub.misses >= c->lost_frames && now - s->pub.last_seen_ms >= c->lost_ms) {
		s->ended = true;
		s->end_ms = now;
	}
}

/* Live slots ordered by track id. */
static int ordered(const struct fw_tracker *t, bool with_ended, int idx[FW_TRACKER_MAX_TRACKS])
{
	int n = 0;

	for (int i = 0; i < FW_TRACKER_MAX_TRACKS; i++) {
		const struct slot *s = &t->slots[i];
		int j;

		if (!s->used || (s->ended && !with_ended))
			continue;
		for (j = n; j > 0 && t->slots[idx[j - 1]].pub.id > s->pub.id; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
		n++;
	}
	return n;
}

static void rebuild_view(struct fw_tracker *t)
{
	int idx[FW_TRACKER_MAX_TRACKS];

	t->n_view = ordered(t, false, idx);
	for (int i = 0; i < t->n_view; i++)
		t->view[i] = t->slots[idx[i]].pub;
}

int fw_tracker_update(struct fw_tracker *t, int64_t now, const struct fw_detection *dets, int n,
		      int width, int height)
{
	const struct fw_tracker_config *c;
	int np = 0;

	if (!t || n < 0 || (n > 0 && (!dets || width <= 0 || height <= 0)))
		return FW_EINVAL;
	c = &t->cfg;
	if (t->started && now < t->now)
		now = t->now;
	t->now = now;
	t->started = true;
	if (n > FW_TRACKER_MAX_DETECTIONS)
		n = FW_TRACKER_MAX_DETECTIONS;

	for (int j = 0; j < n; j++) {
		const struct fw_detection *d = &dets[j];

		/* a box with no area (or NaN) cannot be matched or tracked */
		t->det_ok[j] = d->x2 > d->x1 && d->y2 > d->y1 && isfinite(d->x1) &&
			       isfinite(d->x2) && isfinite(d->y1) && isfinite(d->y2);
		t->det_taken[j] = false;
	}

	/* every plausible (track, detection) pair */
	for (int i = 0; i < FW_TRACKER_MAX_TRACKS; i++) {
		struct slot *s = &t->slots[i];
		float b[4];

		t->slot_det[i] = -1;
		if (!s->used || s->ended || n == 0)
			continue;
		predict(t, s, now, width, height, t->pred[i]);
		for (int j = 0; j < n; j++) {
			float sc;

			if (!t->det_ok[j])
				continue;
			det_box(&dets[j], b);
			sc = match_score(c, t->pred[i], b);
			if (sc > 0)
				t->pairs[np++] = (struct pair){ sc, (uint8_t)i, (uint8_t)j };
		}
	}

	/* greedy: the best remaining pair first; on a tie the older track */
	for (;;) {
		int best = -1;

		for (int k = 0; k < np; k++) {
			const struct pair *p = &t->pairs[k];

			if (t->slot_det[p->slot] >= 0 || t->det_taken[p->det])
				continue;
			if (best < 0 || p->score > t->pairs[best].score ||
			    (p->score == t->pairs[best].score &&
			     t->slots[p->slot].pub.id < t->slots[t->pairs[best].slot].pub.id))
				best = k;
		}
		if (best < 0)
			break;
		t->slot_det[t->pairs[best].slot] = t->pairs[best].det;
		t->det_taken[t->pairs[best].det] = true;
	}

	for (int i = 0; i < FW_TRACKER_MAX_TRACKS; i++) {
		struct slot *s = &t->slots[i];

		if (!s->used || s->ended)
			continue;
		if (t->slot_det[i] >= 0)
			track_seen(t, s, t->pred[i], &dets[t->slot_det[i]], t->slot_det[i], now);
		else
			track_missed(t, s, now);
	}

	/* what is left is a new face (best first, so the best get the slots) */
	for (int j = 0; j < n; j++) {
		int i;

		if (!t->det_ok[j] || t->det_taken[j])
			continue;
		for (i = 0; i < FW_TRACKER_MAX_TRACKS && t->slots[i].used; i++)
			;
		if (i == FW_TRACKER_MAX_TRACKS) {
			t->dropped++;
			continue;
		}
		start_track(t, &t->slots[i], &dets[j], j, now);
	}

	/* an unknown face that stays */
	for (int i = 0; i < FW_TRACKER_MAX_TRACKS; i++) {
		struct slot *s = &t->slots[i];

		if (!s->used || s->ended || s->pub.state != FW_TRACK_ACTIVE || s->unknown_flagged ||
		    s->pub.identity != FW_IDENTITY_UNKNOWN ||
		    now - s->pub.identity_since_ms < c->unknown_ms)
			continue;
		s->unknown_flagged = true;
		s->unknown_flag_ms = now;
		s->unknown_duration_ms = now - s->pub.identity_since_ms;
	}

	rebuild_view(t);
	return 0;
}

int fw_tracker_tracks(const struct fw_tracker *t, const struct fw_track **tracks)
{
	*tracks = t->view;
	return t->n_view;
}

uint64_t fw_tracker_dropped(const struct fw_tracker *t)
{
	return t->dropped;
}

/* ---- embeddings and identity ---- */

unsigned fw_tracker_needs_embedding(const struct fw_tracker *t, uint32_t id)
{
	const struct fw_tracker_config *c = &t->cfg;
	const struct slot *s = find(t, id);
	const struct fw_detection *d;
	int64_t since;
	unsigned why = 0;
	bool near;

	if (!s || s->pub.det_index < 0 || s->pub.last_seen_ms != t->now)
		return 0;
	if (s->embeds == 0)
		return s->pub.hits >= (uint32_t)c->embed_hits ? FW_EMBED_NEW : 0;
	d = &s->pub.det;
	since = t->now - s->embed_ms;
	near = s->pub.identity == FW_IDENTITY_UNKNOWN &&
	       (s->pub.similarity >= c->same_threshold - c->near_margin ||
		t->now - s->pub.first_seen_ms < c->near_young_ms);
	if ((s->pub.identity == FW_IDENTITY_UNDECIDED || s->revote) && since >= c->vote_interval_ms)
		why |= FW_EMBED_UNDECIDED;
	if (since >= c->refresh_ms)
		why |= FW_EMBED_REFRESH;
	/* someone recognised needs no better view soon, nor does a face like
	 * nobody in the gallery (a stranger, a hand); an unknown face that
	 * nearly matched someone may be them seen badly, and a better view is
	 * how they are named */
	if (s->pub.identity == FW_IDENTITY_UNDECIDED || near || since >= c->improve_ms) {
		if (det_side(d) >= c->bigger * s->embed_side)
			why |= FW_EMBED_BIGGER;
		if (d->score >= s->embed_score + c->better_score)
			why |= FW_EMBED_SCORE;
		if (fw_tracker_frontal(d) >= s->embed_frontal + c->more_frontal)
			why |= FW_EMBED_FRONTAL;
	}
	if (s->reacquired)
		why |= FW_EMBED_REACQUIRED;
	if (near && c->near_ms > 0 && since >= c->near_ms)
		why |= FW_EMBED_NEAR;
	return why;
}

/* The candidate with at least vote_min votes and more than any other, with
 * the mean similarity of its votes; false when there is none. */
static bool vote_leader(const struct fw_tracker_config *c, const struct slot *s,
			int32_t *leader, float *mean)
{
	int32_t cand[FW_TRACKER_MAX_VOTES];
	int count[FW_TRACKER_MAX_VOTES];
	float sum[FW_TRACKER_MAX_VOTES];
	int nc = 0, best = -1;
	bool tie = false;

	for (int v = 0; v < s->n_votes; v++) {
		int k;

		for (k = 0; k < nc && cand[k] != s->votes[v].identity; k++)
			;
		if (k == nc) {
			cand[nc] = s->votes[v].identity;
			count[nc] = 0;
			sum[nc] = 0;
			nc++;
		}
		count[k]++;
		sum[k] += s->votes[v].similarity;
	}
	for (int k = 0; k < nc; k++) {
		if (best < 0 || count[k] > count[best]) {
			best = k;
			tie = false;
		} else if (count[k] == count[best]) {
			tie = true;
		}
	}
	if (best >= 0 && nc == 1 && c->vote_sure > 0 && count[best] >= c->vote_sure &&
	    cand[best] >= 0) {
		/* unanimous, and every vote well above the threshold */
		bool sure = true;

		for (int v = 0; v < s->n_votes; v++)
			sure = sure && s->votes[v].similarity >= c->same_threshold + c->sure_margin;
		if (sure) {
			*leader = cand[best];
			*mean = sum[best] / (float)count[best];
			return true;
		}
	}
	if (best < 0 || tie || count[best] < c->vote_min)
		return false;
	*leader = cand[best];
	*mean = sum[best] / (float)count[best];
	return true;
}

void fw_tracker_revote(struct fw_tracker *t)
{
	if (!t)
		return;
	for (int i = 0; i < FW_TRACKER_MAX_TRACKS; i++) {
		struct slot *s = &t->slots[i];

		if (!s->used || s->ended)
			continue;
		s->n_votes = 0;
		s->vote_next = 0;
		s->revote = true;
	}
}

int fw_tracker_observe(struct fw_tracker *t, uint32_t id, int32_t identity, float similarity)
{
	const struct fw_tracker_config *c;
	struct slot *s;
	int32_t leader;
	float mean;
	int changed = 0;

	if (!t)
		return FW_EINVAL;
	c = &t->cfg;
	s = find(t, id);
	if (!s || s->pub.det_index < 0 || s->pub.last_seen_ms != t->now)
		return FW_EINVAL;

	s->embeds++;
	s->embed_ms = t->now;
	s->embed_side = det_side(&s->pub.det);
	s->embed_score = s->pub.det.score;
	s->embed_frontal = fw_tracker_frontal(&s->pub.det);
	s->reacquired = false;

	/* a weak match is no evidence for that person (NaN is weak too) */
	if (!(identity >= 0 && similarity >= c->same_threshold))
		identity = FW_IDENTITY_UNKNOWN;
	s->votes[s->vote_next] = (struct vote){ identity, similarity };
	s->vote_next = (s->vote_next + 1) % c->vote_window;
	if (s->n_votes < c->vote_window)
		s->n_votes++;

	if (vote_leader(c, s, &leader, &mean)) {
		s->revote = false;
		if (leader != s->pub.identity) {
			s->pub.identity = leader;
			s->pub.identity_since_ms = t->now;
			changed = 1;
		}
		s->pub.similarity = mean;
	}
	rebuild_view(t);
	return changed;
}

/* ---- events ---- */

int fw_tracker_events(struct fw_tracker *t, struct fw_track_event *out, int max)
{
	int idx[FW_TRACKER_MAX_TRACKS], n, k = 0;

	if (!t || max < 0 || (max > 0 && !out))
		return FW_EINVAL;
	n = ordered(t, true, idx);
	for (int i = 0; i < n; i++) {
		struct slot *s = &t->slots[idx[i]];
		const struct fw_track *p = &s->pub;

		if (p->state == FW_TRACK_TENTATIVE)
			continue;
		if (!s->appeared_reported) {
			if (k == max)
				return k;
			out[k] = (struct fw_track_event){ .kind = FW_TRACK_APPEARED, .track = p->id,
							  .t_ms = s->confirm_ms,
							  .identity = FW_IDENTITY_UNDECIDED,
							  .previous = FW_IDENTITY_UNDECIDED,
							  .score = s->confirm_score };
			memcpy(out[k].box, s->confirm_box, sizeof(out[k].box));
			k++;
			s->appeared_reported = true;
		}
		if (s->reported_identity != p->identity) {
			if (k == max)
				return k;
			out[k++] = (struct fw_track_event){ .kind = FW_TRACK_IDENTIFIED,
							    .track = p->id,
							    .t_ms = p->identity_since_ms,
							    .identity = p->identity,
							    .previous = s->reported_identity,
							    .similarity = p->similarity };
			s->reported_identity = p->identity;
		}
		if (s->unknown_flagged && !s->unknown_reported) {
			if (k == max)
				return k;
			out[k++] = (struct fw_track_event){ .kind = FW_TRACK_UNKNOWN_PERSISTENT,
							    .track = p->id,
							    .t_ms = s->unknown_flag_ms,
							    .identity = FW_IDENTITY_UNKNOWN,
							    .previous = FW_IDENTITY_UNKNOWN,
							    .duration_ms = s->unknown_duration_ms };
			s->unknown_reported = true;
		}
		if (s->ended) {
			if (k == max)
				return k;
			out[k++] = (struct fw_track_event){ .kind = FW_TRACK_LEFT, .track = p->id,
							    .t_ms = s->end_ms,
							    .identity = p->identity,
							    .previous = p->identity,
							    .duration_ms = p->last_seen_ms -
									   p->first_seen_ms };
			s->used = false;
		}
	}
	return k;
}
