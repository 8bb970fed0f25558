/* The daemon's live gallery work: enrolment from the camera
 * (`facectl enroll NAME --camera`), corrections of live decisions
 * (`facectl not NAME --track ID|--last`) and the camera samples behind
 * `facectl doctor` (requests `enroll`, `not`, `doctor` in docs/protocol.md).
 *
 * Threads. One struct fw_enroll per daemon, shared by two threads:
 *
 *   main thread                              inference thread
 *   fw_enroll_request_enroll() / _not()      fw_enroll_poll()   each loop: takes the
 *     check the request, post a command        commands; `not` runs at once; an
 *     (mutex), answer later (FW_EVENTS_LATER)  enrolment session starts, times out
 *   fw_enroll_saw_identified()               fw_enroll_frame()  each analysed frame
 *     (face_identified events: --last)         while a session runs: judge the view
 *   fw_enroll_main_msg()                       (core/quality.h), embed, take it
 *     a result from the inference thread:    fw_enroll_embedded() each track embedding
 *     reply to the client, or an               (kept for `not`)
 *     enroll_progress event to publish       fw_enroll_force_embed() re-vote a
 *   fw_enroll_camcheck()  (doctor)             corrected track on the next frames
 *                                            fw_enroll_sample()  camera samples
 *
 * Results go back through the daemon's result queue (struct fw_enroll_msg
 * inside its record, sent with env->send): the inference thread never
 * touches the event server. The gallery is written by the inference
 * thread's own store connection, with the store code and thresholds
 * `facectl enroll IMAGE` uses, in one transaction per enrolment or
 * correction; env->reload then swaps in the new gallery before the next
 * frame (the main thread's change poll would do it within a second).
 *
 * Enrolment session: at most one at a time (a second gets "busy"). Each
 * analysed frame is judged (fw_quality_judge: exactly one face with score
 * >= FW_ENROLL_FACE_SCORE, lit, big, sharp, frontal); a good one is
 * embedded and taken unless its cosine to a view already taken is above
 * max_similar, and at least FW_ENROLL_GAP_MS after the last one taken (so
 * the views span a few seconds of the person moving). N views -> one
 * fw_store_add(). Progress: an event for each view taken, and at most one
 * a second with the most frequent reason frames were refused for. Timeout
 * or the camera ending: refused, naming what most frames lacked.
 *
 * Corrections: the inference thread keeps the latest FW_ENROLL_TRACK_VIEWS
 * embeddings of the last FW_ENROLL_RECENT tracks it embedded (live ones and
 * those that ended up to FW_ENROLL_KEEP_MS ago). `not` stores them as
 * negative templates of NAME (several views: the veto then covers the face
 * as it moved, not one pose) (core/gallery.h's rule then vetoes NAME for faces closer
 * to it than to NAME's own templates), reloads, and makes the track vote
 * again on its next frames, so a wrong face_identified is corrected within
 * a second.
 *
 * Ownership: fw_enroll_create() allocates; fw_enroll_destroy() frees (with
 * the pending request ids). Nothing allocates per frame.
 */
#ifndef FW_ENROLL_H
#define FW_ENROLL_H

#include <stdint.h>

#include <jansson.h>

#include "core/detector.h"
#include "core/embedder.h"
#include "core/gallery.h"
#include "core/image.h"
#include "core/landmarks.h"
#include "core/quality.h"
#include "daemon/camcheck.h"
#include "daemon/events.h"
#include "daemon/store.h"

#define FW_ENROLL_MAX_VIEWS 20
#define FW_ENROLL_DEFAULT_VIEWS 5
#define FW_ENROLL_DEFAULT_TIMEOUT_S 20
#define FW_ENROLL_MAX_TIMEOUT_S 300
#define FW_ENROLL_GAP_MS 250        /* between two views taken */
#define FW_ENROLL_FACE_SCORE 0.6f   /* a detection this confident counts as a face */
#define FW_ENROLL_RECENT 64         /* tracks whose embeddings are kept for `not` ... */
#define FW_ENROLL_TRACK_VIEWS 4     /* ... their latest this many embeddings */
#define FW_ENROLL_KEEP_MS 120000    /* ... for at most this long after the last one */
#define FW_ENROLL_REVOTE_FRAMES 10  /* a corrected track is embedded on this many frames */
#define FW_ENROLL_TEXT 320

enum fw_enroll_msg_kind {
	FW_ENROLL_MSG_PROGRESS, /* publish enroll_progress */
	FW_ENROLL_MSG_DONE,     /* answer the request `tag` */
};

/* One result from the inference thread (copied through the queue). */
struct fw_enroll_msg {
	enum fw_enroll_msg_kind kind;
	uint64_t tag;              /* the request's */
	int is_not;                /* DONE of a `not` */
	int err;                   /* DONE: 0 or a negative code */
	char name[FW_GALLERY_NAME_MAX + 1];
	int taken, count;          /* views */
	int added;                 /* DONE: templates added */
	enum fw_quality_reason reason; /* PROGRESS: FW_QUALITY_OK = a view was taken */
	uint32_t track;            /* `not` */
	float similarity;          /* PROGRESS (taken): the view's cosine to the closest view
				      taken before (-1: first); `not`: the face's best
				      similarity to NAME's templates */
	int vetoed;                /* `not`: NAME is now vetoed for that face */
	char text[FW_ENROLL_TEXT]; /* DONE: the error, or a warning ("" = none) */
};

/* What the inference thread lends to each call (not kept). */
struct fw_enroll_env {
	struct fw_store *store;        /* its connection; NULL: no gallery */
	const char *model_id;
	struct fw_gallery *gallery;    /* the loaded one; may be NULL */
	float threshold;
	const char *device;            /* for the templates' source */
	struct fw_landmarks *lmk;
	struct fw_embedder *emb;
	void (*reload)(void *ctx);     /* load the gallery again, now */
	struct fw_gallery *(*current)(void *ctx); /* the gallery after a reload */
	void (*send)(void *ctx, const struct fw_enroll_msg *m);
	void *ctx;
};

struct fw_enroll;

int fw_enroll_create(struct fw_enroll **out);
void fw_enroll_destroy(struct fw_enroll *e);

/* ---- main thread ---- */

/* Request handlers (fw_events_request_fn with ctx = the struct fw_enroll;
 * register both FW_EVENTS_MUTATING). They answer FW_EVENTS_LATER, or an
 * error at once for a bad request. `srv` must be set first. */
void fw_enroll_set_server(struct fw_enroll *e, struct fw_events *srv);
int fw_enroll_request_enroll(void *ctx, const struct fw_events_peer *peer, json_t *req,
			     json_t *reply);
int fw_enroll_request_not(void *ctx, const struct fw_events_peer *peer, json_t *req,
			  json_t *reply);

/* A face_identified event: track now taken for `name` ("" = unknown). */
void fw_enroll_saw_identified(struct fw_enroll *e, uint32_t track, const char *name);

/* A result: replies (DONE) or returns an enroll_progress event to publish
 * (a new object; NULL when there is none). */
json_t *fw_enroll_main_msg(struct fw_enroll *e, const struct fw_enroll_msg *m);

/* The camera summary for `doctor` (locks). */
void fw_enroll_camcheck(struct fw_enroll *e, struct fw_camcheck_summary *out);

/* ---- inference thread ---- */

/* Take waiting commands; run `not`s; time a session out (ended: the source
 * has stopped for good, which ends a session too). */
void fw_enroll_poll(struct fw_enroll *e, const struct fw_enroll_env *env, int64_t now_ms,
		    int ended);

/* 1 while a session wants frames (call fw_enroll_frame on each). */
int fw_enroll_active(const struct fw_enroll *e);

/* One analysed frame: img at full resolution, dets in its pixels. */
void fw_enroll_frame(struct fw_enroll *e, const struct fw_enroll_env *env, int64_t now_ms,
		     const struct fw_image *img, const struct fw_detection *dets, int n);

/* Track `track` was embedded (emb L2-normalised; quality as
 * fw_quality_template()). */
void fw_enroll_embedded(struct fw_enroll *e, uint32_t track, const float *emb, float quality,
			int64_t now_ms);

/* 1 when `track` must be embedded on this frame whatever the tracker says
 * (a correction asked for it); counts the frame. */
int fw_enroll_force_embed(struct fw_enroll *e, uint32_t track);

/* One camera sample (doctor). Locks. */
void fw_enroll_sample(struct fw_enroll *e, const struct fw_camcheck_sample *s);

#endif
