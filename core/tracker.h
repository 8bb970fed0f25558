/* Face tracks: detections linked across frames into tracks with stable ids,
 * with the bookkeeping the daemon needs around them (when to embed a face,
 * which identity its recent embeddings agree on, when it has left).
 *
 * One frame, in the inference thread:
 *
 *   fw_tracker_update(t, now_ms, dets, n, width, height);   associate
 *   n = fw_tracker_tracks(t, &tracks);                      the live tracks
 *   for each track with fw_tracker_needs_embedding(t, id):
 *       embed tracks[i].det, match it against the gallery
 *       fw_tracker_observe(t, id, identity, similarity);     one vote
 *   k = fw_tracker_events(t, ev, FW_TRACKER_MAX_EVENTS);    face_appeared,
 *                                                            face_identified,
 *                                                            face_left, ...
 *   fw_presence_update(p, now_ms, tracks, n, ...)            (core/presence.h)
 *
 * Association: each live track's box is moved to `now` with its velocity
 * (capped at predict_ms ahead) and matched to the detections greedily, best
 * pair first. A pair matches by IoU >= iou_min; failing that (a fast move,
 * a low frame rate) by centre distance <= centre_max face sizes with similar
 * sizes. IoU matches always win over centre-distance ones. Two faces that
 * cross keep their ids while each keeps its pace (the prediction puts each
 * track on its own face); if both boxes coincide and they stop there, the
 * ids may swap, and the identity votes then correct the names.
 *
 * Life of a track: TENTATIVE until it has confirm_hits detections within its
 * first confirm_frames updates (else it is dropped without a word: a false
 * detection never becomes a face); then ACTIVE while seen and LOST while not
 * seen, still matched against new detections; it ends (face_left) once it
 * has missed at least lost_frames updates and lost_ms of time. Both must
 * hold: a stall of the camera followed by a single empty frame does not end
 * a track, and neither do three fast empty frames. Track ids start at 1,
 * grow by one per new track and are never reused in a process.
 *
 * Identity: each fw_tracker_observe() is one vote; a vote with similarity
 * >= same_threshold is for that identity, any other is for "unknown". The
 * track's identity is decided when one candidate has at least vote_min of
 * the last vote_window votes and more than any other; it changes only when
 * another candidate meets the same rule (a stray vote never flips it).
 * `similarity` is the mean of the leader's votes in the window.
 *
 * Time: now_ms is a monotonic clock in milliseconds (e.g. the frame's
 * capture time). A time earlier than the previous update's is taken as that
 * time.
 *
 * Ownership: fw_tracker_create() allocates everything (one block, fixed
 * capacity of FW_TRACKER_MAX_TRACKS tracks); fw_tracker_destroy() frees it.
 * Nothing else allocates. Thread-safety: none; one thread (the inference
 * thread) owns a tracker. The array from fw_tracker_tracks() lives in the
 * tracker: fw_tracker_update() rewrites it (tracks come and go),
 * fw_tracker_observe() refreshes it in place (the same tracks in the same
 * order, new identity fields), so a loop over it may call observe.
 */
#ifndef FW_TRACKER_H
#define FW_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/detector.h"

#define FW_TRACKER_MAX_TRACKS 32     /* live tracks; more faces are not tracked (counted) */
#define FW_TRACKER_MAX_DETECTIONS 32 /* per update; the rest (worst scores) are ignored */
#define FW_TRACKER_MAX_VOTES 16      /* largest vote_window */
/* Room that always holds every event one frame can produce. */
#define FW_TRACKER_MAX_EVENTS (4 * FW_TRACKER_MAX_TRACKS)

/* Identities: >= 0 is a person of the gallery (a dense index 0..N-1). */
#define FW_IDENTITY_UNKNOWN (-1)   /* a face that matches nobody in the gallery */
#define FW_IDENTITY_UNDECIDED (-2) /* not enough votes yet */

struct fw_tracker_config {
	/* association */
	float iou_min;        /* 0.3: IoU with the predicted box for a match */
	float centre_max;     /* 1.0: else centre distance <= this x the mean face size
			       * (sqrt of box area) ... */
	float size_ratio_max; /* 1.5: ... and face sizes within this ratio */
	float smooth;         /* 0.6: weight of the new detection in the box (EMA) */
	int64_t predict_ms;   /* 200: velocity is extrapolated at most this far, ms */
	/* life */
	int confirm_hits;     /* 3: detections needed ... */
	int confirm_frames;   /* 5: ... within the track's first this-many updates */
	int64_t lost_ms;      /* 2000: grace before face_left, ms since last seen ... */
	int lost_frames;      /* 3: ... and at least this many missed updates */
	/* when to embed (see fw_tracker_needs_embedding) */
	int embed_hits;           /* 2: the first embedding once the face is detected this
				   * often (a one-frame false detection costs nothing) */
	int64_t refresh_ms;       /* 5000: re-embed a decided face this often, ms */
	int64_t vote_interval_ms; /* 100: while undecided, embed at most this often, ms */
	int64_t reacquire_ms;     /* 500: re-embed a face seen again after this long unseen */
	float bigger;             /* 1.25: re-embed when the face side (sqrt of area) is this
				   * many times that of the last embedded one */
	float better_score;       /* 0.1: ... or its detection score this much higher */
	float more_frontal;       /* 0.2: ... or its fw_tracker_frontal() this much higher */
	int64_t improve_ms;       /* 2000: once a face is decided, those three (a
				   * bigger, better-scored or more frontal view) count
				   * only this long after the last embedding: a
				   * talking, moving face crosses them several times a
				   * second, and each embedding costs milliseconds of
				   * CPU. Not for an unknown face that nearly matched
				   * someone (near_margin): a better view may name it */
	int64_t near_ms;          /* 500: a face decided unknown whose votes came within
				   * near_margin of same_threshold (someone seen from a
				   * poor angle, in poor light) is embedded again this
				   * often, so a better view names them; 0: never */
	float near_margin;        /* 0.2 */
	int64_t near_young_ms;    /* 3000: ... and so is every face decided unknown in
				   * its first this-many ms in view, however unlike
				   * anyone: its first votes may be of a blurred face
				   * walking in */
	/* identity */
	int vote_window;          /* 7: votes remembered (<= FW_TRACKER_MAX_VOTES) */
	int vote_min;             /* 4: votes needed to decide (<= vote_window) */
	int vote_sure;            /* 2: ... or this many, when they are all for one
				   * person with a similarity of at least
				   * same_threshold + sure_margin and no vote in the
				   * window says otherwise; 0: off */
	float sure_margin;        /* 0.1 */
	float same_threshold;     /* FW_EMBED_SAME_THRESHOLD: cosine for a vote to count */
	int64_t unknown_ms;       /* 10000: an unknown face seen this long is flagged once */
};

/* Fill cfg with the defaults above. */
void fw_tracker_config_default(struct fw_tracker_config *cfg);

enum fw_track_state {
	FW_TRACK_TENTATIVE = 0, /* not confirmed yet; no event has named it */
	FW_TRACK_ACTIVE,        /* confirmed, seen in the last update */
	FW_TRACK_LOST,          /* confirmed, not seen in the last update; may be found again */
};

/* A live track as of the last update (or observe). */
struct fw_track {
	uint32_t id;              /* 1, 2, ...; never reused */
	enum fw_track_state state;
	float box[4];             /* smoothed x1, y1, x2, y2, frame pixels */
	struct fw_detection det;  /* the latest detection matched, as given (keypoints for
				   * alignment); from the last update when det_index >= 0 */
	int det_index;            /* its index in the last update's array; -1: not seen then */
	int64_t first_seen_ms;
	int64_t last_seen_ms;
	uint32_t hits;            /* detections matched in all */
	uint32_t misses;          /* updates in a row without one */
	int32_t identity;         /* gallery index, FW_IDENTITY_UNKNOWN or _UNDECIDED */
	float similarity;         /* mean similarity of the votes for `identity` */
	int64_t identity_since_ms;/* when `identity` was decided (0 while undecided) */
};

enum fw_track_event_kind {
	FW_TRACK_APPEARED = 1,       /* confirmed: face_appeared */
	FW_TRACK_IDENTIFIED,         /* identity decided or changed: face_identified */
	FW_TRACK_UNKNOWN_PERSISTENT, /* decided unknown and seen for unknown_ms; once per track */
	FW_TRACK_LEFT,               /* ended after the grace: face_left */
};

struct fw_track_event {
	enum fw_track_event_kind kind;
	uint32_t track;
	int64_t t_ms;        /* when it happened: the update (or observe) that decided it */
	int32_t identity;    /* the track's identity at that moment */
	int32_t previous;    /* IDENTIFIED: the identity reported before (_UNDECIDED at first) */
	float similarity;    /* IDENTIFIED: mean similarity of the deciding votes */
	float box[4];        /* APPEARED: smoothed box when confirmed, x1 y1 x2 y2 pixels */
	float score;         /* APPEARED: detection score when confirmed */
	int64_t duration_ms; /* LEFT: last seen - first seen (the time the face was there);
			      * UNKNOWN_PERSISTENT: how long it had been unknown */
};

struct fw_tracker;

/* cfg NULL: the defaults. FW_EINVAL for a value out of range, FW_ENOMEM. */
int fw_tracker_create(struct fw_tracker **out, const struct fw_tracker_config *cfg);
void fw_tracker_destroy(struct fw_tracker *t);
/* Replace the settings of a running tracker (a configuration reload): the
 * tracks and their votes stay; the new times apply from the next update.
 * FW_EINVAL (and nothing changes) for settings fw_tracker_create refuses. */
int fw_tracker_set_config(struct fw_tracker *t, const struct fw_tracker_config *cfg);

/* One frame: dets[0..n) in frame pixels, best first (as fw_detector_run()
 * writes them), frame width x height. n = 0 is a frame without faces (dets
 * may be NULL and the size 0 then); each such call counts as one missed
 * frame for every track, so calling it while the camera stalls lets tracks
 * end (lost_frames calls and lost_ms after their last sighting).
 * 0 or FW_EINVAL (bad arguments; nothing changes). */
int fw_tracker_update(struct fw_tracker *t, int64_t now_ms, const struct fw_detection *dets,
		      int n, int width, int height);

/* The live tracks (tentative, active, lost), oldest (smallest id) first.
 * Returns how many; *tracks points into the tracker (see the top).
 * Confirmed means state != FW_TRACK_TENTATIVE. */
int fw_tracker_tracks(const struct fw_tracker *t, const struct fw_track **tracks);

/* Why track `id` should be embedded now (0: it need not). Only a track seen
 * in the last update qualifies, and a reason lasts until fw_tracker_observe():
 *   NEW        never embedded (and detected embed_hits times)
 *   UNDECIDED  identity undecided and vote_interval_ms since the last embedding
 *   REFRESH    refresh_ms since the last embedding
 *   BIGGER     its side bigger x `bigger` than the last embedded face's
 *   SCORE      its detection score better by better_score
 *   FRONTAL    its frontal score better by more_frontal
 *              (these three, once decided, only improve_ms after the last,
 *              unless the face is unknown but nearly someone)
 *   REACQUIRED seen again after reacquire_ms unseen (maybe someone else)
 *   NEAR       decided unknown, but nearly someone (or new in view):
 *              near_ms since the last */
#define FW_EMBED_NEW 0x01u
#define FW_EMBED_UNDECIDED 0x02u
#define FW_EMBED_REFRESH 0x04u
#define FW_EMBED_BIGGER 0x08u
#define FW_EMBED_SCORE 0x10u
#define FW_EMBED_FRONTAL 0x20u
#define FW_EMBED_REACQUIRED 0x40u
#define FW_EMBED_NEAR 0x80u
unsigned fw_tracker_needs_embedding(const struct fw_tracker *t, uint32_t id);

/* The gallery changed (a reload, a new threshold, someone enrolled): every
 * track forgets its votes and votes again, one embedding per
 * vote_interval_ms, until they decide; the identity each reports stays
 * until then (no event unless the new votes decide differently). */
void fw_tracker_revote(struct fw_tracker *t);

/* The gallery's answer for an embedding of track `id`'s detection of the
 * last update: the best identity (>= 0, or FW_IDENTITY_UNKNOWN for an empty
 * gallery) and its cosine similarity. One vote (see the top); it also resets
 * the embedding bookkeeping to this detection. Returns 1 when the track's
 * decided identity changed, 0 when not, FW_EINVAL when `id` is not a track
 * seen in the last update. The event comes from fw_tracker_events(). */
int fw_tracker_observe(struct fw_tracker *t, uint32_t id, int32_t identity, float similarity);

/* Take the events that happened since the last call: per track, oldest
 * first, in the order APPEARED, IDENTIFIED, UNKNOWN_PERSISTENT, LEFT
 * (IDENTIFIED and UNKNOWN_PERSISTENT only after the track's APPEARED).
 * Writes at most max; what did not fit comes on the next call (with
 * FW_TRACKER_MAX_EVENTS of room, nothing is ever left). Returns how many.
 * Call it once per frame: an ended track holds its slot until its LEFT
 * has been taken. */
int fw_tracker_events(struct fw_tracker *t, struct fw_track_event *out, int max);

/* How frontal a face is, from BlazeFace's eyes and nose tip: where the nose
 * falls along the line between the eyes, a (0 at one eye, 1 at the other),
 * as min(a, 1 - a) / max(a, 1 - a). 1: nose midway (facing the camera);
 * towards 0 as the head turns; 0 when the nose is outside the eyes or the
 * eyes coincide. Invariant to roll and to mirrored images. */
float fw_tracker_frontal(const struct fw_detection *d);

/* Detections that found no free track slot, since create. */
uint64_t fw_tracker_dropped(const struct fw_tracker *t);

#endif
