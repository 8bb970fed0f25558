/* facewatchd: watches a camera, finds and recognises faces, and tells the
 * rest of the system over a Unix socket (protocol v1, docs/protocol.md).
 *
 * Three threads (DESIGN.md):
 *   fw-capture  camera -> frame ring (capture/source.h); never waits for inference
 *   fw-infer    newest frame -> decode -> detect -> track -> (new or stale
 *               tracks only) landmarks + embed + gallery match -> presence;
 *               results go to the main thread through a bounded queue that
 *               drops rather than blocks
 *   main        epoll over the event server, the result queue, signals
 *               (SIGTERM/SIGINT stop, SIGHUP reloads) and a 1 s timer
 *               (status, gallery changes)
 *   fw-preview  with --preview only: the window (daemon/preview_window.c);
 *               it shows the newest frame the inference thread handed over
 * The inference thread owns every model, the tracker, the presence state and
 * its gallery snapshot; after start-up it allocates nothing per frame.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "capture/jpeg.h"
#include "capture/ring.h"
#include "capture/source.h"
#include "capture/v4l2.h"
#include "core/detector.h"
#include "core/embedder.h"
#include "core/fw.h"
#include "core/kernels/kernels.h"
#include "core/gallery.h"
#include "core/landmarks.h"
#include "core/presence.h"
#include "core/scan.h"
#include "daemon/attend.h"
#include "core/tracker.h"
#include "daemon/config.h"
#include "daemon/enroll.h"
#include "daemon/events.h"
#include "daemon/mqtt.h"
#include "daemon/paths.h"
#include "daemon/photo.h"
#include "daemon/service.h"
#include "daemon/preview.h"
#include "daemon/preview_window.h"
#include "daemon/store.h"

#define MAX_DETECTIONS 32
#define MAX_FRAME_FACES 8
#define MAX_NAMES 4096       /* distinct identity names seen in a daemon's life */
#define NAME_LEN FW_GALLERY_NAME_MAX
#define LATENCY_WINDOW 512
#define FRESH_NS 4000000     /* a frame older than this when taken is stale (4 ms) */

/* ---- results from the inference thread to the main thread --------------- */

enum msg_kind {
	MSG_TRACK,      /* a tracker event */
	MSG_PRESENCE,   /* a presence change */
	MSG_FRAME,      /* per-frame results (sent to subscribers of "frame") */
	MSG_ENDED,      /* the replay ended */
	MSG_ATTENTION,  /* an attention change (landmarks68 = on) */
	MSG_ENROLL,     /* enrolment / correction results (daemon/enroll.h) */
};

struct msg_face {
	uint32_t track;
	float box[4];               /* x1 y1 x2 y2 */
	float score;
	char identity[NAME_LEN];    /* "" = unknown or undecided */
	float similarity;
	float kp[FW_DET_KEYPOINTS][2]; /* the detector's keypoints, frame pixels */
	int has_lm;                 /* landmarks68: the track's last points and smoothed pose */
	int looking;
	float lm[FW_LM68_POINTS][2];
	struct fw_pose pose;
};

struct msg {
	enum msg_kind kind;
	int64_t t_ms;
	/* MSG_TRACK */
	struct fw_track_event ev;
	char identity[NAME_LEN];     /* the event's identity, "" = unknown / undecided */
	char previous[NAME_LEN];
	/* MSG_PRESENCE */
	int present;
	int anyone;
	/* MSG_ATTENTION (identity above; track 0 = the identity's state) */
	struct fw_attention_event aev;
	/* MSG_FRAME */
	int n_faces;
	struct msg_face faces[MAX_FRAME_FACES];
	float latency_ms;
	/* MSG_ENROLL */
	struct fw_enroll_msg enroll;
};

/* ---- state shared between threads --------------------------------------- */

struct daemon {
	struct fw_config cfg;        /* live keys change on reload, under stats_lock */
	const char *config_path;
	int argc;                    /* the command line, read again on reload */
	char **argv;
	struct fw_service *svc;      /* systemd: notify, watchdog, journal */
	char models_dir[PATH_MAX];

	struct fw_source *source;
	struct fw_ring *ring;
	struct fw_capture *capture;
	struct fw_events *events;
	struct fw_events_queue *queue;
	struct fw_mqtt *mqtt;        /* NULL unless mqtt_host is set (docs/mqtt.md) */
	struct fw_enroll *enroll;    /* live enrolment, corrections, camera samples */
	pthread_t infer_thread;
	int infer_started;

	atomic_int stop;
	atomic_int reload_gallery;   /* main -> inference: load the gallery again */
	int hup_pending;             /* main: a SIGHUP waits for the last reload to be taken */
	atomic_int reload_config;    /* main -> inference: take cfg's live keys */
	atomic_int ended;            /* inference: the replay ended */
	atomic_int idle;             /* inference: nobody present, no track */

	/* statistics: written by inference, read by main */
	pthread_mutex_t stats_lock;
	uint64_t frames, decode_errors;
	uint64_t stale;              /* frames passed over for a fresher one (counted as drops) */
	struct fw_scan_stats scan;   /* frames scanned whole, in regions, not at all */
	uint64_t embeddings;         /* faces embedded (landmarks + embedder runs) */
	float latency[LATENCY_WINDOW];
	unsigned n_latency;
	int gallery_identities;
	int gallery_templates;
	char isa[32];

	/* main thread only */
	struct fw_store *store;      /* generation polling and `list` */
	int64_t store_gen;
	char present[MAX_NAMES][NAME_LEN];
	int n_present;
	int anyone_present;
	int last_faces;              /* in the last analysed frame, for STATUS= */
	uint64_t last_frames;
	struct timespec last_status_wall;
	struct rusage last_usage;

	int want_preview;             /* --preview */
	struct fw_preview *preview;   /* newest frame + results for viewers */
	struct fw_preview_window *window;
};

/* Tracker and presence time: CLOCK_BOOTTIME, which keeps counting through
 * suspend, so a laptop that slept for an hour reports its owner away rather
 * than resuming as if no time had passed. */
static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the inference thread ----------------------------------------------- */

/* Identity names get a stable number for the daemon's life, so a gallery
 * reload (which renumbers the gallery) never mixes people up in the tracker
 * and presence state. */
struct names {
	char name[MAX_NAMES][NAME_LEN];
	int n;
};

static int name_id(struct names *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->name[i], name))
			return i;
	if (t->n == MAX_NAMES)
		return FW_IDENTITY_UNKNOWN;
	snprintf(t->name[t->n], NAME_LEN, "%s", name);
	return t->n++;
}

static const char *name_of(const struct names *t, int32_t id)
{
	return id >= 0 && id < t->n ? t->name[id] : "";
}

struct infer {
	struct daemon *d;
	uint32_t stale_crc;        /* the stale identities last logged (0: none) */
	struct fw_detector *det;
	struct fw_landmarks *lmk;
	struct fw_embedder *emb;
	struct fw_jpeg *jpeg;
	struct fw_tracker *tracker;
	struct fw_presence *presence;
	struct fw_store *store;
	struct fw_gallery *gallery;
	int *gallery_to_name;        /* gallery identity index -> stable name id */
	char model_id[FW_STORE_MODEL_ID_MAX];
	struct names names;
	struct fw_image small, full; /* decode buffers, sized at start */
	size_t small_cap, full_cap;
	struct fw_detection dets[MAX_DETECTIONS];
	struct fw_track_event tev[FW_TRACKER_MAX_EVENTS];
	struct fw_presence_event *pev;
	int max_pev;
	struct fw_scan scan;         /* what the detector looks at, frame by frame */
	struct fw_image look;        /* the frame at 1/8, for "still?" after a still frame */
	size_t look_cap;
	int last_still;              /* the last plan was FW_SCAN_STILL */
	int n_dets;                  /* in->dets from the last detector run, frame pixels */
	int max_fps;                 /* cfg's live keys, this thread's copy */
	int settled;                 /* the last frame's faces: all followed and decided */
	float threshold;
	struct fw_attend *attend;    /* NULL unless landmarks68 = on */
	struct fw_attention_event *aev;
	int max_aev;
	int full_ready;              /* in->full holds this frame (or small is full size) */
	struct fw_image *pic;        /* under the window: this frame decoded once, at */
	int pic_denom;               /* 1/pic_denom, lent by the preview hub; else NULL */
	int small_fresh;             /* in->small holds this frame (not after a still one) */
	struct msg m;
	struct fw_preview_result pv; /* the frame's results as the preview draws them */
};

static void push(struct infer *in, struct msg *m)
{
	/* never blocks: a full queue drops and counts */
	fw_events_queue_push(in->d->queue, m);
}

static void load_gallery(struct infer *in)
{
	struct fw_gallery *g = NULL;
	struct fw_store_report rep;
	int err;

	if (!in->store)
		return;
	memset(&rep, 0, sizeof rep);
	err = fw_store_load(in->store, in->model_id, in->threshold, &g, &rep);
	if (err) {
		fw_log(FW_LOG_ERROR, "%s: cannot load the gallery (%s); recognition is off until "
		       "it loads (fix or move the file, then send SIGHUP)",
		       fw_store_path(in->store), fw_strerror(err));
		fw_store_report_free(&rep);
		return;
	}
	/* who needs enrolling again after a model change: said at start and
	 * whenever the list changes, not at every reload */
	uint32_t stale = 0;
	for (int i = 0; i < rep.n_stale; i++)
		stale = fw_crc32(stale, rep.stale[i], strlen(rep.stale[i]) + 1);
	if (stale != in->stale_crc)
		fw_store_report_log(in->store, &rep);
	in->stale_crc = stale;
	fw_store_report_free(&rep);
	int n = fw_gallery_n_identities(g);
	int *map = malloc(sizeof *map * (size_t)(n > 0 ? n : 1));
	if (!map) {
		fw_gallery_free(g);
		return;
	}
	for (int i = 0; i < n; i++)
		map[i] = name_id(&in->names, fw_gallery_name(g, i));
	fw_gallery_free(in->gallery);
	free(in->gallery_to_name);
	in->gallery = g;
	in->gallery_to_name = map;
	pthread_mutex_lock(&in->d->stats_lock);
	in->d->gallery_identities = n;
	in->d->gallery_templates = fw_gallery_n_templates(g);
	pthread_mutex_unlock(&in->d->stats_lock);
	fw_log(FW_LOG_INFO, "gallery: %d identities, %d templates", n, fw_gallery_n_templates(g));
	/* the faces in view are looked at again against the new gallery */
	fw_tracker_revote(in->tracker);
}

static void emit_presence(struct infer *in, int n)
{
	for (int i = 0; i < n; i++) {
		struct msg *m = &in->m;
		memset(m, 0, sizeof *m);
		m->kind = MSG_PRESENCE;
		m->t_ms = in->pev[i].at_ms;
		m->present = in->pev[i].state == FW_PRESENCE_PRESENT;
		m->anyone = in->pev[i].identity == FW_PRESENCE_ANYONE;
		if (!m->anyone)
			snprintf(m->identity, NAME_LEN, "%s", name_of(&in->names, in->pev[i].identity));
		push(in, m);
	}
}

/* The full-resolution frame: the detector's own image when it was decoded
 * at full size for this frame, else decoded (once per frame) into in->full.
 * NULL when it cannot be decoded. */
static const struct fw_image *full_image(struct infer *in, const struct fw_frame *f, int denom)
{
	if (denom == 1 && in->small_fresh)
		return &in->small;
	if (in->pic && in->pic_denom == 1)
		return in->pic; /* the window's picture is the whole frame */
	if (!in->full_ready && fw_frame_to_rgb(in->jpeg, f, 1, &in->full, in->full_cap))
		return NULL;
	in->full_ready = 1;
	return &in->full;
}

/* Embed the tracks the tracker asks for, on the full-resolution frame: at
 * most EMBED_PER_FRAME of them per frame (each costs about 4 ms), faces not
 * named yet first; the others wait for the next frames. After a cut to
 * three new faces, one frame would otherwise carry three embeddings. An
 * enrolment's face is always embedded. */
#define EMBED_PER_FRAME 1
static void recognise(struct infer *in, const struct fw_frame *f, int denom,
		      const struct fw_track *tracks, int nt)
{
	const struct fw_image *img = NULL;
	int done = 0;

	for (int k = 0; k < 2 * nt; k++) {
		const int i = k % nt, first_pass = k < nt;
		struct fw_landmarks_result lm;
		struct fw_gallery_match match;
		float emb[FW_EMBED_DIM];
		unsigned why;
		int forced;

		if (tracks[i].det_index < 0)
			continue;
		why = fw_tracker_needs_embedding(in->tracker, tracks[i].id);
		/* a track corrected by `not` votes again on its next frames */
		forced = fw_enroll_force_embed(in->d->enroll, tracks[i].id);
		if (!why && !forced)
			continue;
		/* first pass: faces not named yet and the enrolment's; second:
		 * the rest (better views, refreshes) */
		if (first_pass != (forced || (why & (FW_EMBED_NEW | FW_EMBED_UNDECIDED)) != 0))
			continue;
		if (!forced && done >= EMBED_PER_FRAME)
			continue;
		done += !forced;
		if (!img && !(img = full_image(in, f, denom)))
			return;
		pthread_mutex_lock(&in->d->stats_lock);
		in->d->embeddings++;
		pthread_mutex_unlock(&in->d->stats_lock);
		if (fw_landmarks_run(in->lmk, img, &tracks[i].det, &lm) ||
		    fw_embedder_run(in->emb, img, (const float(*)[2])lm.pt, emb, NULL))
			continue;
		fw_enroll_embedded(in->d->enroll, tracks[i].id, emb,
				   fw_quality_template(tracks[i].det.score,
						       tracks[i].det.x2 - tracks[i].det.x1), now_ms());
		if (!in->gallery || fw_gallery_n_identities(in->gallery) == 0 ||
		    fw_gallery_match(in->gallery, emb, &match) || match.identity < 0) {
			fw_tracker_observe(in->tracker, tracks[i].id, FW_IDENTITY_UNKNOWN, 0);
			continue;
		}
		fw_tracker_observe(in->tracker, tracks[i].id, in->gallery_to_name[match.identity],
				   match.similarity);
	}
}

/* Landmarks, pose and attention (landmarks68 = on) on the tracked faces,
 * at attention_rate_hz per face: the full-resolution frame is decoded only
 * on frames where a run is due. f NULL: no frame, time passes. */
static void attend(struct infer *in, const struct fw_frame *f, int denom,
		   const struct fw_track *tracks, int nt, int64_t t)
{
	const struct fw_image *img = NULL;
	int n;

	if (!in->attend)
		return;
	if (f && fw_attend_due(in->attend, t, tracks, nt))
		img = full_image(in, f, denom);
	n = fw_attend_frame(in->attend, img, 1.0f, f ? f->width : 0, f ? f->height : 0, t, tracks,
			    nt, in->aev, in->max_aev);
	for (int i = 0; i < n; i++) {
		struct msg *m = &in->m;
		memset(m, 0, sizeof *m);
		m->kind = MSG_ATTENTION;
		m->t_ms = in->aev[i].at_ms;
		m->aev = in->aev[i];
		snprintf(m->identity, NAME_LEN, "%s", name_of(&in->names, in->aev[i].identity));
		push(in, m);
	}
}

static void frame_message(struct infer *in, const struct fw_track *tracks, int nt, float latency)
{
	struct msg *m = &in->m;

	memset(m, 0, sizeof *m);
	m->kind = MSG_FRAME;
	m->t_ms = now_ms();
	m->latency_ms = latency;
	for (int i = 0; i < nt && m->n_faces < MAX_FRAME_FACES; i++) {
		struct msg_face *mf = &m->faces[m->n_faces];
		if (tracks[i].det_index < 0)
			continue;
		mf->track = tracks[i].id;
		memcpy(mf->box, tracks[i].box, sizeof mf->box);
		memcpy(mf->kp, tracks[i].det.kp, sizeof mf->kp);
		mf->score = tracks[i].det.score;
		if (tracks[i].identity >= 0) {
			snprintf(mf->identity, NAME_LEN, "%s", name_of(&in->names, tracks[i].identity));
			mf->similarity = tracks[i].similarity;
		}
		mf->has_lm = in->attend && !fw_attend_face(in->attend, tracks[i].id, mf->lm,
							   &mf->pose, &mf->looking);
		m->n_faces++;
	}
	push(in, m);
}

/* The frame and the results frame_message() just sent, to the preview: a
 * reference to the ring slot, not a copy; it never waits for a viewer. */
static void preview_hand_off(struct infer *in, struct fw_frame *f)
{
	const struct msg *m = &in->m;

	in->pv.n_faces = m->n_faces < FW_PREVIEW_MAX_FACES ? m->n_faces : FW_PREVIEW_MAX_FACES;
	in->pv.latency_ms = m->latency_ms;
	for (int i = 0; i < in->pv.n_faces; i++) {
		struct fw_display_face *p = &in->pv.faces[i];
		memcpy(p->box, m->faces[i].box, sizeof p->box);
		p->score = m->faces[i].score;
		p->state = m->faces[i].identity[0] ? FW_DISPLAY_IDENTIFIED : FW_DISPLAY_UNKNOWN;
		/* a live enrolment takes the one face in view (daemon/enroll.h) */
		if (m->n_faces == 1 && fw_enroll_active(in->d->enroll))
			p->state = FW_DISPLAY_ENROLLING;
		snprintf(p->name, sizeof p->name, "%s", m->faces[i].identity);
		p->similarity = m->faces[i].similarity;
		if (m->faces[i].has_lm && FW_LM68_POINTS <= FW_DISPLAY_MAX_POINTS) {
			/* landmarks68 = on: the 68 points instead of the detector's 6 */
			p->n_points = FW_LM68_POINTS;
			memcpy(p->points, m->faces[i].lm, sizeof m->faces[i].lm);
			p->has_pose = 1; /* the axes from the nose tip (iBUG point 30) */
			p->yaw = m->faces[i].pose.yaw;
			p->pitch = m->faces[i].pose.pitch;
			p->roll = m->faces[i].pose.roll;
			p->origin[0] = m->faces[i].lm[30][0];
			p->origin[1] = m->faces[i].lm[30][1];
			p->attention = m->faces[i].looking ? FW_DISPLAY_LOOKING : FW_DISPLAY_AWAY;
			memcpy(in->pv.keypoints[i], m->faces[i].kp, sizeof m->faces[i].kp);
		} else {
			p->n_points = FW_DET_KEYPOINTS;
			memcpy(p->points, m->faces[i].kp, sizeof m->faces[i].kp);
			p->has_pose = 0; /* the slot may hold an earlier face's */
			p->attention = FW_DISPLAY_ATTENTION_NONE;
		}
	}
	fw_preview_publish(in->d->preview, f, &in->pv, in->pic);
	in->pic = NULL;
}

static void track_messages(struct infer *in)
{
	int n = fw_tracker_events(in->tracker, in->tev, FW_TRACKER_MAX_EVENTS);

	for (int i = 0; i < n; i++) {
		struct msg *m = &in->m;
		memset(m, 0, sizeof *m);
		m->kind = MSG_TRACK;
		m->t_ms = in->tev[i].t_ms;
		m->ev = in->tev[i];
		snprintf(m->identity, NAME_LEN, "%s", name_of(&in->names, in->tev[i].identity));
		snprintf(m->previous, NAME_LEN, "%s", name_of(&in->names, in->tev[i].previous));
		push(in, m);
	}
}

static void record_latency(struct daemon *d, float ms)
{
	pthread_mutex_lock(&d->stats_lock);
	d->latency[d->n_latency++ % LATENCY_WINDOW] = ms;
	d->frames++;
	pthread_mutex_unlock(&d->stats_lock);
}

/* ---- live enrolment, corrections, camera samples (daemon/enroll.h) ---- */

static void enroll_reload(void *ctx)
{
	load_gallery(ctx);
}

static struct fw_gallery *enroll_current(void *ctx)
{
	return ((struct infer *)ctx)->gallery;
}

static void enroll_send(void *ctx, const struct fw_enroll_msg *em)
{
	struct infer *in = ctx;
	struct msg *m = &in->m;

	memset(m, 0, sizeof *m);
	m->kind = MSG_ENROLL;
	m->t_ms = now_ms();
	m->enroll = *em;
	/* an answer must not be lost to a full queue (the client would wait
	 * and the next enrolment be "busy"): give the main thread up to a
	 * second to drain it; progress may be dropped like frames */
	for (int i = 0; fw_events_queue_push(in->d->queue, m) == -EAGAIN &&
			em->kind == FW_ENROLL_MSG_DONE && i < 100; i++)
		usleep(10 * 1000);
}

static void enroll_env(struct infer *in, struct fw_enroll_env *env)
{
	*env = (struct fw_enroll_env){ .store = in->store, .model_id = in->model_id,
		.gallery = in->gallery, .threshold = in->d->cfg.threshold,
		.device = fw_source_name(in->d->source), .lmk = in->lmk, .emb = in->emb,
		.reload = enroll_reload, .current = enroll_current, .send = enroll_send, .ctx = in };
}

/* Per analysed frame: a camera sample for doctor, and the enrolment
 * session's look at the frame when one runs. */
static void enroll_frame(struct infer *in, const struct fw_frame *f, int denom, int n,
			 int64_t t)
{
	/* the light of this frame: the detector's decode, or after a still
	 * frame the 1/8 look that stood in for it */
	const struct fw_image *seen = in->small_fresh ? &in->small : &in->look;
	struct fw_camcheck_sample cs = { .t_ns = f->t_ns[FW_STAGE_CAPTURED], .sequence = f->sequence,
					 .session = f->session,
					 .luma = fw_quality_luma(seen, NULL) };
	const struct fw_image *img;
	struct fw_enroll_env env;

	float sx = (float)seen->width / f->width, sy = (float)seen->height / f->height;

	for (int i = 0; i < n; i++) {
		const struct fw_detection *dt = &in->dets[i];
		float w = dt->x2 - dt->x1;
		if (dt->score < FW_ENROLL_FACE_SCORE)
			continue;
		if (w > cs.face_max) {
			/* the face's light, on the detector's image (cheap) */
			float box[4] = { dt->x1 * sx, dt->y1 * sy, dt->x2 * sx, dt->y2 * sy };
			cs.face_luma = fw_quality_luma(seen, box);
		}
		cs.face_min = cs.faces ? fminf(cs.face_min, w) : w;
		cs.face_max = fmaxf(cs.face_max, w);
		cs.faces++;
	}
	fw_enroll_sample(in->d->enroll, &cs);
	if (!fw_enroll_active(in->d->enroll) || !(img = full_image(in, f, denom)))
		return;
	enroll_env(in, &env);
	fw_enroll_frame(in->d->enroll, &env, t, img, in->dets, n);
}

static int infer_open(struct infer *in, struct daemon *d)
{
	const struct fw_config *c = &d->cfg;
	char path[PATH_MAX + 64];
	int err;

	memset(in, 0, sizeof *in);
	in->d = d;
	in->max_fps = c->max_fps;
	in->threshold = c->threshold;
	snprintf(path, sizeof path, "%s/%s", d->models_dir,
		 c->detector == FW_DETECTOR_FULL ? "blazeface_full.fwm" : "blazeface_short.fwm");
	struct fw_model_options mo = { .tier = c->tier, .precision = c->precision };

	if ((err = fw_detector_open_with(&in->det, path, c->detector, &mo)))
		return err;
	snprintf(path, sizeof path, "%s/onet.fwm", d->models_dir);
	if ((err = fw_landmarks_open_with(&in->lmk, path, &mo)))
		return err;
	snprintf(path, sizeof path, "%s/mobilefacenet.fwm", d->models_dir);
	if ((err = fw_embedder_open_with(&in->emb, path, &mo)))
		return err;
	if ((err = fw_store_model_id(path, in->model_id, sizeof in->model_id)))
		return err;
	if ((err = fw_jpeg_create(&in->jpeg)))
		return err;
	if ((err = fw_tracker_create(&in->tracker, &c->tracker)))
		return err;
	if ((err = fw_presence_create(&in->presence, &c->presence, MAX_NAMES)))
		return err;
	in->max_pev = fw_presence_max_events(in->presence);
	fw_scan_init(&in->scan, &c->scan);
	in->pev = calloc((size_t)in->max_pev, sizeof *in->pev);
	if (!in->pev)
		return FW_ENOMEM;
	if (c->landmarks68) {
		snprintf(path, sizeof path, "%s/landmarks68.fwm", d->models_dir);
		mo.precision = FW_PRECISION_FLOAT; /* not calibrated for int8 */
		if ((err = fw_attend_open(&in->attend, path, &mo, &c->attention,
					  c->attention_rate_hz, MAX_NAMES)))
			return err;
		in->max_aev = fw_attend_max_events(in->attend);
		if (!(in->aev = calloc((size_t)in->max_aev, sizeof *in->aev)))
			return FW_ENOMEM;
	}
	snprintf(d->isa, sizeof d->isa, "%s", fw_model_kernels_name(fw_embedder_model(in->emb)));
	return 0;
}

static void infer_close(struct infer *in)
{
	fw_detector_close(in->det);
	fw_landmarks_close(in->lmk);
	fw_embedder_close(in->emb);
	fw_jpeg_destroy(in->jpeg);
	fw_tracker_destroy(in->tracker);
	fw_presence_destroy(in->presence);
	fw_attend_close(in->attend);
	free(in->aev);
	fw_store_close(in->store);
	fw_gallery_free(in->gallery);
	free(in->gallery_to_name);
	free(in->pev);
	free(in->small.data);
	free(in->full.data);
	free(in->look.data);
}

/* Decode buffers for frames up to w x h, allocated once (or again only if
 * the camera comes back with a larger size). */
static int ensure_buffers(struct infer *in, int w, int h)
{
	size_t need = (size_t)w * h * 3;

	if (need > in->full_cap) {
		free(in->full.data);
		in->full.data = malloc(need);
		in->full_cap = in->full.data ? need : 0;
	}
	if (need > in->small_cap) {
		free(in->small.data);
		in->small.data = malloc(need);
		in->small_cap = in->small.data ? need : 0;
	}
	/* 1/8 in each direction, rounded up: a 1126x661 frame is 141x83 at
	 * 1/8, more than need / 64 (a look buffer too small failed every
	 * decode once the scene went still, and nothing was analysed again) */
	size_t look = (size_t)((w + 7) / 8) * (size_t)((h + 7) / 8) * 3;
	if (look > in->look_cap) {
		free(in->look.data);
		in->look.data = malloc(look);
		in->look_cap = in->look.data ? look : 0;
	}
	return in->small.data && in->full.data && in->look.data ? 0 : FW_ENOMEM;
}

static void count_decode_error(struct daemon *d)
{
	pthread_mutex_lock(&d->stats_lock);
	d->decode_errors++;
	pthread_mutex_unlock(&d->stats_lock);
}

/* The frame at 1/denom into dst: shrunk from the window's picture when the
 * frame was decoded for it at that scale or finer (decoded once, shared),
 * else decoded. */
static int frame_rgb(struct infer *in, const struct fw_frame *f, int denom, struct fw_image *dst,
		     size_t cap)
{
	if (in->pic && denom >= in->pic_denom)
		return fw_image_shrink(in->pic, denom / in->pic_denom, dst, cap);
	return fw_frame_to_rgb(in->jpeg, f, denom, dst, cap);
}

/* Under the daemon's window (--preview), an MJPEG frame is decoded once, at
 * the scale the window shows it (daemon/preview.h), into a picture the hub
 * lends; the pipeline's own decodes of the frame are then shrunk from it.
 * -1 when the frame could not be decoded (counted). */
static int decode_for_window(struct infer *in, const struct fw_frame *f)
{
	const int pd = fw_preview_want_denom(in->d->preview, f);
	struct fw_image *img;
	size_t cap = 0;
	int sw, sh;

	in->pic = NULL;
	if (!pd)
		return 0;
	fw_jpeg_scaled_size(f->width, f->height, pd, &sw, &sh);
	img = fw_preview_lend(in->d->preview, (size_t)sw * (size_t)sh * 3, &cap);
	if (!img)
		return 0; /* no buffer free: the window decodes this one itself */
	if (fw_frame_to_rgb(in->jpeg, f, pd, img, cap)) {
		count_decode_error(in->d);
		return -1;
	}
	in->pic = img;
	in->pic_denom = pd;
	return 0;
}

/* Decode the frame for the detector and run it as the scan plan says: the
 * whole frame, regions around the tracked faces, or nothing when the scene
 * stands still (core/scan.h). After a still frame the next one is likely
 * still too, so an MJPEG frame is first looked at through a 1/8 DCT-scaled
 * decode, about half the cost of the detector's, which is then skipped if
 * nothing moved. Detections end in in->dets, in frame pixels. Returns how many, or
 * -1 when the frame could not be decoded (counted). in->small_fresh tells
 * whether in->small now holds this frame. */
static int detect(struct infer *in, struct fw_frame *f, int *denom_io, int64_t t)
{
	const int denom = *denom_io;
	int dn = denom;
	const struct fw_track *tracks;
	struct fw_scan_plan plan;
	int nt = fw_tracker_tracks(in->tracker, &tracks), n, planned = 0;
	float k;

	in->small_fresh = 0;
	in->full_ready = 0;
	plan.kind = FW_SCAN_FULL;
	if (in->d->cfg.detector == FW_DETECTOR_AUTO) {
		/* the tiles a full scan at this scale has, for the scan to
		 * spread over the frames after it (core/scan.h) */
		int sw, sh;
		fw_jpeg_scaled_size(f->width, f->height, denom, &sw, &sh);
		fw_scan_set_tiles(&in->scan, fw_detector_tiles(in->det, sw, sh, NULL, FW_SCAN_MAX_TILES));
	}
	/* regions around faces need only so many pixels across each: a face
	 * near the camera is found again in a coarser decode */
	if (fw_scan_regions_next(&in->scan, t, f->width, f->height, nt))
		dn = fw_scan_regions_denom(&in->scan, tracks, nt,
					   in->d->cfg.detector == FW_DETECTOR_FULL ? 192 : 128, denom);
	if (in->last_still && denom < 8 && f->format == FW_PIXFMT_MJPEG) {
		if (frame_rgb(in, f, 8, &in->look, in->look_cap)) {
			count_decode_error(in->d);
			return -1;
		}
		fw_scan_plan(&in->scan, t, &in->look, f->width, f->height, nt, &plan);
		planned = 1;
	}
	if (plan.kind != FW_SCAN_STILL) {
		if (frame_rgb(in, f, dn, &in->small, in->small_cap)) {
			count_decode_error(in->d);
			return -1;
		}
		in->small_fresh = 1;
		f->t_ns[FW_STAGE_DECODED] = now_ns();
		if (!planned)
			fw_scan_plan(&in->scan, t, &in->small, f->width, f->height, nt, &plan);
	}
	in->last_still = plan.kind == FW_SCAN_STILL;
	pthread_mutex_lock(&in->d->stats_lock);
	in->d->scan = in->scan.stats;
	pthread_mutex_unlock(&in->d->stats_lock);
	if (plan.kind == FW_SCAN_STILL)
		return in->n_dets; /* nothing moved: the last detections hold */
	k = (float)in->small.width / (float)f->width;
	fw_scan_regions(&in->scan, &in->small, tracks, nt, k, &plan);
	if (plan.kind == FW_SCAN_FULL && dn != denom) {
		/* the plan looks at everything after all: at the full scan's scale */
		dn = denom;
		if (frame_rgb(in, f, dn, &in->small, in->small_cap)) {
			in->small_fresh = 0;
			count_decode_error(in->d);
			return -1;
		}
		k = (float)in->small.width / (float)f->width;
	}
	*denom_io = dn;
	if (plan.kind == FW_SCAN_REGIONS && plan.tile >= 0 && dn == denom &&
	    plan.n < FW_DETECTOR_MAX_REGIONS) {
		/* this frame's share of the last full scan's tiles */
		int tiles[FW_SCAN_MAX_TILES][4];
		if (plan.tile < fw_detector_tiles(in->det, in->small.width, in->small.height, tiles,
						  FW_SCAN_MAX_TILES))
			memcpy(plan.rects[plan.n++], tiles[plan.tile], sizeof tiles[0]);
	}
	if (plan.kind == FW_SCAN_REGIONS) {
		n = fw_detector_run_regions(in->det, &in->small, (const int(*)[4])plan.rects,
					    plan.n, in->dets, MAX_DETECTIONS);
	} else {
		if (in->d->cfg.detector == FW_DETECTOR_AUTO) {
			fw_detector_set_tiling(in->det, plan.tiles ? FW_DETECTOR_TILE_FRAC : 0.0f,
					       FW_DETECTOR_TILE_OVERLAP);
			/* the full-range pass (+50 % per full scan) while nobody
			 * is followed, when a face at desk distance must not be
			 * missed; the newcomer checks beside tracked faces skip it */
			(void)fw_detector_set_wide(in->det, nt == 0);
		}
		n = fw_detector_run(in->det, &in->small, in->dets, MAX_DETECTIONS);
	}
	if (n < 0)
		n = 0;
	for (int i = 0; i < n; i++) {
		/* detector pixels -> frame pixels */
		fw_detection_scale(&in->dets[i], 1.0f / k, (float)f->height / in->small.height);
	}
	in->n_dets = n;
	return n;
}

/* A reload changed the live settings (main thread, reload()). */
static void take_live_settings(struct infer *in)
{
	struct daemon *d = in->d;
	struct fw_tracker_config tc;
	struct fw_presence_config pc;
	float threshold;

	pthread_mutex_lock(&d->stats_lock);
	tc = d->cfg.tracker;
	pc = d->cfg.presence;
	in->scan.cfg = d->cfg.scan; /* the plan's state (references, clocks) stays */
	in->max_fps = d->cfg.max_fps;
	threshold = d->cfg.threshold;
	pthread_mutex_unlock(&d->stats_lock);
	if (threshold != in->threshold) {
		/* the gallery carries the threshold: load it again with the new one */
		in->threshold = threshold;
		atomic_store(&d->reload_gallery, 1);
	}
	if (fw_tracker_set_config(in->tracker, &tc) || fw_presence_set_config(in->presence, &pc))
		fw_log(FW_LOG_ERROR, "reload: the tracker or presence times were refused; "
		       "the running ones stay");
}

static void *infer_main(void *arg)
{
	struct infer *in = arg;
	struct daemon *d = in->d;
	uint64_t frames = 0;

	int64_t next_ns = 0;

	pthread_setname_np(pthread_self(), "fw-infer");
	while (!atomic_load(&d->stop)) {
		struct fw_frame *f = NULL;
		const struct fw_track *tracks;
		int64_t t = now_ms();
		int err, n, nt, denom, slept;

		/* At most max_fps analysed frames per second: presence and
		 * recognition do not need the camera's full rate, and the ring
		 * hands over the newest frame after the pause (the frames in
		 * between are counted as dropped), so latency stays one frame. */
		slept = 0;
		if (in->max_fps > 0) {
			int64_t wait = next_ns - now_ns();
			if (wait > 0) {
				slept = 1;
				struct timespec ts = { wait / 1000000000, wait % 1000000000 };
				nanosleep(&ts, NULL);
			}
			/* a still scene (scan_still_fps), or faces all followed
			 * and decided (scan_settled_fps, not under the preview
			 * window), are looked at less often */
			int rate = in->max_fps;
			if (in->last_still && in->scan.cfg.still_fps > 0 &&
			    in->scan.cfg.still_fps < rate)
				rate = in->scan.cfg.still_fps;
			else if (in->settled && !d->want_preview && in->scan.cfg.settled_fps > 0 &&
				 in->scan.cfg.settled_fps < rate)
				rate = in->scan.cfg.settled_fps;
			next_ns = now_ns() + 1000000000 / rate;
		}

		/* the watchdog's proof of life (daemon/service.h) */
		fw_service_heartbeat(d->svc);
		if (fw_service_test_stall(d->svc, frames)) {
			while (!atomic_load(&d->stop))
				usleep(100 * 1000);
			break;
		}
		if (atomic_exchange(&d->reload_config, 0))
			take_live_settings(in);
		if (atomic_exchange(&d->reload_gallery, 0))
			load_gallery(in);
		{
			struct fw_enroll_env env;
			enroll_env(in, &env);
			fw_enroll_poll(d->enroll, &env, t, atomic_load(&d->ended));
		}
		err = fw_ring_take(d->ring, 200, &f);
		if (err == -EPIPE && !atomic_exchange(&d->ended, 1)) {
			struct msg *m = &in->m;
			memset(m, 0, sizeof *m);
			m->kind = MSG_ENDED;
			m->t_ms = t;
			push(in, m);
		}
		if (err) {
			/* no frame (camera reconnecting, replay ended): time still
			 * passes for the tracker and presence */
			if (err == -EPIPE)
				usleep(100 * 1000);
			fw_tracker_update(in->tracker, t, NULL, 0, 0, 0);
			track_messages(in);
			nt = fw_tracker_tracks(in->tracker, &tracks);
			emit_presence(in, fw_presence_update(in->presence, t, tracks, nt, in->pev, in->max_pev));
			emit_presence(in, fw_presence_tick(in->presence, t, in->pev, in->max_pev));
			attend(in, NULL, 1, tracks, nt, t);
			atomic_store(&d->idle, nt == 0);
			continue;
		}
		if (slept && f->t_ns[FW_STAGE_CAPTURED] &&
		    now_ns() - f->t_ns[FW_STAGE_CAPTURED] > FRESH_NS) {
			/* The newest frame waited in the ring while this thread
			 * paused for max_fps: wait (without CPU) for the next one,
			 * so that events report what the camera sees now, not up to
			 * a camera interval ago. Not when this thread is the slower
			 * one (it did not pause): then waiting only loses time. */
			struct fw_frame *g;
			int period_ms = d->cfg.fps > 0 ? 1000 / d->cfg.fps : 34;

			if (fw_ring_take(d->ring, period_ms + 5, &g) == 0) {
				fw_ring_release(d->ring, f);
				f = g;
				pthread_mutex_lock(&d->stats_lock);
				d->stale++;
				pthread_mutex_unlock(&d->stats_lock);
			}
		}
		if (ensure_buffers(in, f->width, f->height) || decode_for_window(in, f)) {
			fw_ring_release(d->ring, f);
			continue;
		}
		/* the detector needs 160 x 120 for a single short-range pass,
		 * and 320 px along the longer side for the auto tiles (a 0.43
		 * tile of 320 is 138 px -> 128) and the full-range model (192):
		 * a 640 x 360 frame at 1/2, not whole */
		denom = d->cfg.detector == FW_DETECTOR_SHORT
				? fw_jpeg_pick_scale(f->width, f->height, 160, 120)
				: fw_jpeg_pick_scale_long(f->width, f->height, 320);
		n = detect(in, f, &denom, now_ms());
		if (n < 0) {
			fw_ring_release(d->ring, f);
			continue;
		}
		t = now_ms();
		enroll_frame(in, f, denom, n, t);
		fw_tracker_update(in->tracker, t, in->dets, n, f->width, f->height);
		nt = fw_tracker_tracks(in->tracker, &tracks);
		recognise(in, f, denom, tracks, nt);
		f->t_ns[FW_STAGE_INFERRED] = now_ns();
		track_messages(in);
		nt = fw_tracker_tracks(in->tracker, &tracks);
		emit_presence(in, fw_presence_update(in->presence, t, tracks, nt, in->pev, in->max_pev));
		attend(in, f, denom, tracks, nt, t);
		atomic_store(&d->idle, nt == 0);
		/* an enrolment session wants every frame it can get */
		in->settled = nt > 0 && !fw_enroll_active(d->enroll);
		for (int i = 0; i < nt; i++)
			if (tracks[i].state != FW_TRACK_ACTIVE ||
			    tracks[i].identity == FW_IDENTITY_UNDECIDED)
				in->settled = 0;
		{
			int64_t t0 = f->t_ns[FW_STAGE_CAPTURED];
			float latency = t0 ? (float)(now_ns() - t0) / 1e6f : 0;
			record_latency(d, latency);
			frames++;
			frame_message(in, tracks, nt, latency);
			preview_hand_off(in, f);
		}
		fw_ring_release(d->ring, f);
	}
	return NULL;
}

/* ---- the main thread ------------------------------------------------------ */

static json_t *box_json(const float b[4])
{
	return json_pack("[ffff]", roundf(b[0] * 10) / 10, roundf(b[1] * 10) / 10,
			 roundf((b[2] - b[0]) * 10) / 10, roundf((b[3] - b[1]) * 10) / 10);
}

static json_t *kp_json(const float kp[FW_DET_KEYPOINTS][2])
{
	json_t *a = json_array();

	for (int k = 0; k < FW_DET_KEYPOINTS; k++)
		json_array_append_new(a, json_pack("[ff]", roundf(kp[k][0] * 10) / 10,
						   roundf(kp[k][1] * 10) / 10));
	return a;
}

static json_t *name_json(const char *name)
{
	return *name ? json_string(name) : json_null();
}

static void set_present(struct daemon *d, const char *name, int present)
{
	for (int i = 0; i < d->n_present; i++)
		if (!strcmp(d->present[i], name)) {
			if (!present)
				memmove(d->present[i], d->present[i + 1],
					sizeof d->present[0] * (size_t)(d->n_present-- - i - 1));
			return;
		}
	if (present && d->n_present < MAX_NAMES)
		snprintf(d->present[d->n_present++], NAME_LEN, "%s", name);
}

/* Publish, and with --print-events write the same line to stdout; the
 * MQTT sink gets the same line too. */
static void publish(struct daemon *d, json_t *ev)
{
	const char *line;
	size_t len;

	if (!ev)
		return;
	fw_service_log_event(d->svc, ev);
	if (fw_events_publish(d->events, ev) == 0 && (line = fw_events_last_line(d->events, &len))) {
		fw_mqtt_event(d->mqtt, line, len);
		if (d->cfg.print_events) {
			fwrite(line, 1, len, stdout);
			fflush(stdout);
		}
	}
	json_decref(ev);
}

/* READY=1 once the models and gallery are loaded (before the threads
 * start) and the camera streams (a frame was analysed), or is being waited
 * for: the daemon is then serving and will take the camera when it comes. */
static void service_ready(struct daemon *d, int analysed)
{
	struct fw_source_stats ss;

	if (fw_service_is_ready(d->svc))
		return;
	fw_source_get_stats(d->source, &ss);
	if (!analysed && (ss.state == FW_SOURCE_STARTING || ss.state == FW_SOURCE_OK))
		return; /* frames are coming: READY with the first analysed one */
	fw_service_ready(d->svc, analysed ? "watching" : "waiting for the camera");
	fw_log(FW_LOG_DEBUG, "ready (camera %s)", fw_source_state_name(ss.state));
}

/* STATUS= for systemctl status: a status event's numbers, one line. */
static void service_status(struct daemon *d, const json_t *st)
{
	fw_service_status(d->svc, "camera %s, %.1f fps, %d face%s, %d identities",
			  json_string_value(json_object_get(st, "camera")),
			  json_number_value(json_object_get(st, "fps")), d->last_faces,
			  d->last_faces == 1 ? "" : "s",
			  (int)json_integer_value(json_object_get(st, "gallery_identities")));
}

static void handle_msg(struct daemon *d, const struct msg *m)
{
	json_t *ev = NULL;

	switch (m->kind) {
	case MSG_TRACK:
		switch (m->ev.kind) {
		case FW_TRACK_APPEARED:
			ev = json_pack("{ss sI so sf}", "event", "face_appeared", "track",
				       (json_int_t)m->ev.track, "box", box_json(m->ev.box), "score",
				       roundf(m->ev.score * 1e4f) / 1e4f);
			break;
		case FW_TRACK_IDENTIFIED:
			fw_enroll_saw_identified(d->enroll, m->ev.track, m->identity);
			ev = json_pack("{ss sI so sf}", "event", "face_identified", "track",
				       (json_int_t)m->ev.track, "identity", name_json(m->identity),
				       "similarity", roundf(m->ev.similarity * 1e4f) / 1e4f);
			break;
		case FW_TRACK_LEFT:
			ev = json_pack("{ss sI so sI}", "event", "face_left", "track",
				       (json_int_t)m->ev.track, "identity", name_json(m->identity),
				       "duration_ms", (json_int_t)m->ev.duration_ms);
			break;
		case FW_TRACK_UNKNOWN_PERSISTENT:
			ev = json_pack("{ss sI sI}", "event", "unknown_face", "track",
				       (json_int_t)m->ev.track, "seen_ms", (json_int_t)m->ev.duration_ms);
			break;
		default:
			break;
		}
		break;
	case MSG_PRESENCE:
		if (m->anyone)
			d->anyone_present = m->present;
		else
			set_present(d, m->identity, m->present);
		ev = json_pack("{ss so ss}", "event", "presence", "identity",
			       m->anyone ? json_string("anyone") : json_string(m->identity), "state",
			       m->present ? "present" : "away");
		break;
	case MSG_FRAME: {
		json_t *faces;
		d->last_faces = m->n_faces;
		service_ready(d, 1);
		faces = json_array();
		for (int i = 0; i < m->n_faces; i++) {
			json_t *fo = json_pack("{sI so sf so so}", "track",
				(json_int_t)m->faces[i].track, "box", box_json(m->faces[i].box), "score",
				roundf(m->faces[i].score * 1e4f) / 1e4f, "identity",
				name_json(m->faces[i].identity), "keypoints", kp_json(m->faces[i].kp));
			if (fo && m->faces[i].has_lm) /* landmarks68 = on */
				json_object_update_new(fo, fw_attend_json((const float(*)[2])m->faces[i].lm,
									  &m->faces[i].pose,
									  m->faces[i].looking));
			json_array_append_new(faces, fo);
		}
		ev = json_pack("{ss so sf}", "event", "frame", "faces", faces, "latency_ms",
			       roundf(m->latency_ms * 100) / 100);
		/* per-frame results go to subscribers only, never to stdout */
		if (ev)
			fw_events_publish_new(d->events, ev);
		fw_preview_share(d->preview); /* to `facectl preview` viewers, if any */
		return;
	}
	case MSG_ATTENTION:
		ev = fw_attend_event_json(&m->aev, m->identity);
		break;
	case MSG_ENDED:
		fw_log(FW_LOG_INFO, "%s: the replay ended; presence times out as configured",
		       fw_source_name(d->source));
		return;
	case MSG_ENROLL:
		ev = fw_enroll_main_msg(d->enroll, &m->enroll);
		break;
	}
	publish(d, ev);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* fps and cpu are over the window since the last periodic status; a
 * request (`advance` 0) reads the window without restarting it. */
static json_t *status_json(struct daemon *d, int advance)
{
	struct fw_source_stats ss;
	struct fw_ring_stats rs;
	struct fw_events_queue_stats qs;
	struct fw_events_stats es;
	json_t *st;
	struct rusage ru;
	struct timespec wall;
	float lat[LATENCY_WINDOW], p50 = 0, p99 = 0;
	unsigned n;
	uint64_t frames, decode_errors, embeddings, stale;
	struct fw_scan_stats scan;
	double dt, cpu, fps;
	int ids, templates;

	fw_source_get_stats(d->source, &ss);
	fw_ring_get_stats(d->ring, &rs);
	fw_events_queue_get_stats(d->queue, &qs);
	pthread_mutex_lock(&d->stats_lock);
	n = d->n_latency < LATENCY_WINDOW ? d->n_latency : LATENCY_WINDOW;
	memcpy(lat, d->latency, sizeof lat[0] * n);
	frames = d->frames;
	decode_errors = d->decode_errors;
	ids = d->gallery_identities;
	templates = d->gallery_templates;
	scan = d->scan;
	embeddings = d->embeddings;
	stale = d->stale;
	pthread_mutex_unlock(&d->stats_lock);
	if (n) {
		qsort(lat, n, sizeof lat[0], cmp_float);
		p50 = lat[n / 2];
		p99 = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	}
	clock_gettime(CLOCK_MONOTONIC, &wall);
	getrusage(RUSAGE_SELF, &ru);
	dt = (wall.tv_sec - d->last_status_wall.tv_sec) + (wall.tv_nsec - d->last_status_wall.tv_nsec) / 1e9;
	cpu = (ru.ru_utime.tv_sec - d->last_usage.ru_utime.tv_sec + ru.ru_stime.tv_sec -
	       d->last_usage.ru_stime.tv_sec) +
	      (ru.ru_utime.tv_usec - d->last_usage.ru_utime.tv_usec + ru.ru_stime.tv_usec -
	       d->last_usage.ru_stime.tv_usec) / 1e6;
	fps = dt > 0 ? (frames - d->last_frames) / dt : 0;
	if (advance) {
		d->last_frames = frames;
		d->last_status_wall = wall;
		d->last_usage = ru;
	}
	st = json_pack("{ss sf sI sI sI sI sI sf sf sf ss ss si si}", "event", "status",
		"fps", round(fps * 10) / 10, "frames", (json_int_t)frames,
		"drops", (json_int_t)(ss.dropped + rs.dropped + stale), "corrupt",
		(json_int_t)(ss.corrupt + ss.truncated + decode_errors), "reopens", (json_int_t)ss.reopens,
		"queue_drops", (json_int_t)qs.dropped,
		"cpu", dt > 0 ? round(cpu / dt * 1000) / 10 : 0.0,
		"latency_p50_ms", round(p50 * 100) / 100, "latency_p99_ms", round(p99 * 100) / 100,
		"camera", fw_source_state_name(ss.state), "kernels", d->isa,
		"gallery_identities", ids, "gallery_templates", templates);
	if (st && json_object_set_new(st, "analysis",
				      json_pack("{sI sI sI sI}", "full", (json_int_t)scan.full,
						"regions", (json_int_t)scan.regions, "still",
						(json_int_t)scan.still, "embeddings",
						(json_int_t)embeddings))) {
		json_decref(st); /* never half a status */
		st = NULL;
	}
	/* connections and the inference -> main queue (docs/protocol.md) */
	fw_events_get_stats(d->events, &es);
	if (st && json_object_update_new(st, json_pack("{sI sI sI sI sI}", "captured",
			(json_int_t)ss.frames, "clients", (json_int_t)es.clients, "clients_dropped",
			(json_int_t)(es.dropped_slow + es.dropped_oversize), "queue_depth",
			(json_int_t)(qs.pushed - qs.popped), "queue_high", (json_int_t)qs.high))) {
		json_decref(st);
		st = NULL;
	}
	return st;
}

static json_t *hello(void *ctx)
{
	struct daemon *d = ctx;
	json_t *present = json_array();

	for (int i = 0; i < d->n_present; i++)
		json_array_append_new(present, json_string(d->present[i]));
	return json_pack("{ss s{ss ss ss} si so sb}", "camera", fw_source_name(d->source),
			 "models", "detector",
			 d->cfg.detector == FW_DETECTOR_AUTO ? "blazeface_short+tiles"
			 : d->cfg.detector == FW_DETECTOR_FULL ? "blazeface_full" : "blazeface_short",
			 "landmarks", "onet", "embedder", "mobilefacenet", "gallery",
			 d->gallery_identities, "present", present, "anyone_present", d->anyone_present);
}

static int req_status(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	struct daemon *d = ctx;
	json_t *st = status_json(d, 0);

	(void)peer, (void)req;
	json_object_del(st, "event");
	json_object_update(reply, st);
	json_decref(st);
	return 0;
}

static int req_list(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	struct daemon *d = ctx;
	struct fw_store_identity *list = NULL;
	json_t *arr;
	int n = 0, err;

	(void)peer, (void)req;
	if (!d->store) {
		json_object_set_new(reply, "error", json_string("no gallery is open"));
		return FW_EINVAL;
	}
	err = fw_store_list(d->store, NULL, &list, &n);
	if (err)
		return err;
	arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{ss si}", "name", list[i].name, "templates",
						     list[i].templates));
	fw_store_list_free(list);
	json_object_set_new(reply, "identities", arr);
	return 0;
}

/* `doctor`: the camera's setup and what the last seconds of frames say
 * (daemon/camcheck.h); facectl doctor prints it with its advice. */
static int req_doctor(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	struct daemon *d = ctx;
	struct fw_source_stats ss;
	struct fw_camcheck_summary sum;
	struct fw_camcheck_setup setup;

	(void)peer, (void)req;
	fw_source_get_stats(d->source, &ss);
	fw_enroll_camcheck(d->enroll, &sum);
	setup = (struct fw_camcheck_setup){ .device = fw_source_name(d->source),
		.state = fw_source_state_name(ss.state),
		.format = ss.format ? fw_pixfmt_name(ss.format) : NULL, .width = ss.width,
		.height = ss.height,
		.fps_negotiated = ss.fps_den ? (double)ss.fps_num / ss.fps_den : 0,
		.fps_asked = d->cfg.fps };
	json_object_set_new(reply, "camera", fw_camcheck_json(&setup, &sum));
	json_object_set_new(reply, "max_fps", json_integer(d->cfg.max_fps));
	return 0;
}

static void poll_gallery(struct daemon *d)
{
	int64_t gen;

	if (d->store && fw_store_generation(d->store, &gen) == 0 && gen != d->store_gen) {
		d->store_gen = gen;
		atomic_store(&d->reload_gallery, 1);
		fw_mqtt_set_people(d->mqtt, d->store);
	}
}

static int open_source(struct daemon *d)
{
	struct fw_source_options so = { .width = d->cfg.width, .height = d->cfg.height,
					.fps = d->cfg.fps, .loop = d->cfg.loop };
	struct fw_v4l2_options vo;
	int err;

	memset(&vo, 0, sizeof vo);
	if (!strncmp(d->cfg.camera, "replay:", 7)) {
		so.uri = d->cfg.camera + 7;
	} else {
		so.kind = FW_SOURCE_V4L2;
		so.uri = d->cfg.camera[0] ? d->cfg.camera : NULL;
		/* no camera yet (or busy): keep waiting for it, hotplug style */
		vo.wait = 1;
		so.v4l2 = &vo;
	}
	err = fw_source_open(&d->source, &so);
	if (err)
		return err;
	/* the preview's references come on top of the pipeline's 4 slots */
	err = fw_ring_create(&d->ring, 4 + FW_PREVIEW_RING_REFS, fw_source_frame_bytes(d->source));
	if (err)
		return err;
	return fw_capture_start(&d->capture, d->source, d->ring);
}

static void usage(FILE *f)
{
	fputs("usage: facewatchd [OPTIONS]\n"
	      "\n"
	      "  --config FILE        key = value settings (docs/facewatchd.conf lists every key)\n"
	      "  --camera DEV         /dev/videoN, a /dev/v4l/by-id name, or an index;\n"
	      "                       replay:FILE.mjpeg or replay:FOLDER to run on a recording\n"
	      "  --loop               replay: start again at the end\n"
	      "  --socket PATH        event socket (default $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR\n"
	      "                       or /run/facewatch, + /facewatch.sock)\n"
	      "  --gallery PATH       gallery database (default: the state directory's)\n"
	      "  --models DIR         model files\n"
	      "  --detector auto|short|full\n"
	      "  --threshold COS      cosine similarity for \"same person\" (default 0.55)\n"
	      "  --fps N              camera rate, or replay pace (0: as fast as possible)\n"
	      "  --max-fps N          analyse at most N frames a second (default 10; 0 = all)\n"
	      "  --precision int8|float   int8 where the model file is calibrated (default)\n"
	      "  --kernels ref|fast\n"
	      "  --print-events       also print every event to stdout as JSON lines\n"
	      "  --exit-when-idle     replay: exit once it ended and every face has left\n"
	      "  --preview            show a window: the picture, boxes, names, timings\n"
	      "                       (keys: q quit, f full screen, k keypoints, s snapshot\n"
	      "                       to the current directory); closing it stops the daemon\n"
	      "  -h, --help, --version\n",
	      f);
}

/* The settings: cfg (at its defaults) <- the --config file <- the options.
 * At start-up and again on every reload. */
static int parse_args(struct daemon *d, struct fw_config *cfg, int argc, char **argv)
{
	enum { O_CONFIG = 256, O_CAMERA, O_LOOP, O_SOCKET, O_GALLERY, O_MODELS, O_DETECTOR,
	       O_THRESHOLD, O_FPS, O_KERNELS, O_PRINT, O_IDLE, O_VERSION, O_PRECISION, O_MAXFPS,
	       O_PREVIEW };
	static const struct option lo[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "camera", required_argument, NULL, O_CAMERA },
		{ "loop", no_argument, NULL, O_LOOP },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "gallery", required_argument, NULL, O_GALLERY },
		{ "models", required_argument, NULL, O_MODELS },
		{ "detector", required_argument, NULL, O_DETECTOR },
		{ "threshold", required_argument, NULL, O_THRESHOLD },
		{ "fps", required_argument, NULL, O_FPS },
		{ "kernels", required_argument, NULL, O_KERNELS },
		{ "precision", required_argument, NULL, O_PRECISION },
		{ "max-fps", required_argument, NULL, O_MAXFPS },
		{ "print-events", no_argument, NULL, O_PRINT },
		{ "exit-when-idle", no_argument, NULL, O_IDLE },
		{ "preview", no_argument, NULL, O_PREVIEW },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ 0 },
	};
	const char *why;
	int c;

	optind = 0; /* a reload reads the command line again */
	/* the config file first, whatever its place: options override it */
	for (int i = 1; i < argc - 1; i++)
		if (!strcmp(argv[i], "--config"))
			d->config_path = argv[i + 1];
	if (d->config_path && fw_config_load(cfg, d->config_path))
		return 2;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		const char *key = NULL;
		switch (c) {
		case O_CONFIG: continue;
		case O_CAMERA: key = "camera"; break;
		case O_LOOP: cfg->loop = 1; continue;
		case O_SOCKET: key = "socket"; break;
		case O_GALLERY: key = "gallery"; break;
		case O_MODELS: key = "models"; break;
		case O_DETECTOR: key = "detector"; break;
		case O_THRESHOLD: key = "threshold"; break;
		case O_FPS: key = "fps"; break;
		case O_PRECISION: key = "precision"; break;
		case O_MAXFPS: key = "max_fps"; break;
		case O_KERNELS:
			if (fw_parse_kernels(optarg, &cfg->tier)) {
				fprintf(stderr, "facewatchd: --kernels takes ref or fast\n");
				return 2;
			}
			continue;
		case O_PRINT: cfg->print_events = 1; continue;
		case O_IDLE: cfg->exit_when_idle = 1; continue;
		case O_PREVIEW: d->want_preview = 1; continue;
		case 'h': usage(stdout); exit(0);
		case O_VERSION: puts("facewatchd " FW_VERSION); exit(0);
		default: usage(stderr); return 2;
		}
		if (fw_config_set(cfg, key, optarg, &why)) {
			fprintf(stderr, "facewatchd: --%s %s: %s\n", key, optarg, why);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "facewatchd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return 0;
}

/* Signals reach the main loop through a self-pipe. Not a signalfd: that
 * needs the signals blocked in every thread, but OpenBLAS starts its worker
 * threads before main() runs, with signals unblocked, and a SIGTERM the
 * kernel hands to one of them would kill the daemon without a clean stop.
 * A handler runs in whichever thread gets the signal and only writes a
 * byte (async-signal-safe). */
static int signal_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(signal_pipe[1], &b, 1) < 0) {
		/* pipe full: a stop or reload is already pending */
	}
	errno = saved;
}

static int catch_signals(void)
{
	struct sigaction sa;

	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* SIGHUP: the configuration file (and the command line over it) again,
 * then the gallery. Live keys apply now; the others are logged as needing
 * a restart; a file with a bad line changes nothing. */
static void reload(struct daemon *d)
{
	struct fw_config next;

	fw_service_reloading(d->svc);
	if (!d->config_path) {
		fw_log(FW_LOG_INFO, "SIGHUP: reloading the gallery (no --config file to read again)");
	} else {
		fw_log(FW_LOG_INFO, "SIGHUP: reloading %s and the gallery", d->config_path);
		fw_config_defaults(&next);
		if (parse_args(d, &next, d->argc, d->argv)) {
			fw_log(FW_LOG_ERROR, "%s: not applied, the running settings stay (fix the "
			       "line above, then send SIGHUP again)", d->config_path);
		} else if (fw_config_compare(&d->cfg, &next) & FW_CONFIG_LIVE) {
			pthread_mutex_lock(&d->stats_lock);
			fw_config_apply_live(&d->cfg, &next);
			pthread_mutex_unlock(&d->stats_lock);
			atomic_store(&d->reload_config, 1);
		}
	}
	atomic_store(&d->reload_gallery, 1);
	fw_service_ready(d->svc, "watching");
}

/* A pending SIGHUP, once the inference thread has taken up the last
 * reload. */
static void reload_if_idle(struct daemon *d)
{
	if (d->hup_pending && !atomic_load(&d->reload_gallery) && !atomic_load(&d->reload_config)) {
		d->hup_pending = 0;
		reload(d);
	}
}

/* The preview window was closed: stop as SIGTERM would (exit status 0). */
static void preview_closed(void *ctx)
{
	(void)ctx;
	on_signal(SIGTERM);
}

static int run(struct daemon *d)
{
	struct fw_events_options eo = { .path = d->cfg.socket_path, .listen_fd = -1, .hello = hello,
					 .ctx = d, .mode = d->cfg.socket_mode,
					 .max_line = (size_t)d->cfg.max_request_bytes,
					 .requests_per_sec = d->cfg.requests_per_sec };
	struct infer *in = NULL;
	struct epoll_event ev;
	int ep = -1, sfd = -1, tfd = -1, err, status_ticks = 0, lfd;

	snprintf(d->models_dir, sizeof d->models_dir, "%s",
		 fw_photo_models_dir(d->cfg.models[0] ? d->cfg.models : NULL));
	if (d->cfg.trusted_group[0]) {
		struct group *g = getgrnam(d->cfg.trusted_group);
		if (!g) {
			fw_log(FW_LOG_ERROR, "trusted_group '%s' does not exist", d->cfg.trusted_group);
			return 1;
		}
		eo.trusted_gid = g->gr_gid;
	}
	if (d->cfg.socket_group[0]) {
		struct group *g = getgrnam(d->cfg.socket_group);
		if (!g) {
			fw_log(FW_LOG_ERROR, "socket_group '%s' does not exist", d->cfg.socket_group);
			return 1;
		}
		eo.socket_gid = g->gr_gid;
	}
	if ((err = fw_service_open(&d->svc, d->cfg.camera))) {
		fw_log(FW_LOG_ERROR, "cannot set up the systemd watchdog: %s", fw_strerror(err));
		return 1;
	}
	/* socket activation: systemd's listening socket instead of our own */
	if ((lfd = fw_service_listen_fd()) < -1) {
		fw_service_close(d->svc);
		return 1;
	}
	if (lfd >= 0) {
		eo.path = NULL;
		eo.listen_fd = lfd;
	}
	if ((err = catch_signals())) {
		fw_log(FW_LOG_ERROR, "cannot set up signal handling: %s", fw_strerror(err));
		return 1;
	}
	sfd = signal_pipe[0];

	in = malloc(sizeof *in);
	if (!in) {
		fw_log(FW_LOG_ERROR, "out of memory at start-up");
		return 1;
	}
	if ((err = infer_open(in, d)))
		goto fail;
	{
		char gpath[PATH_MAX];
		const char *gp = d->cfg.gallery;
		if (!gp[0] && fw_store_default_path(gpath, sizeof gpath) == 0)
			gp = gpath;
		/* two connections: the inference thread loads, the main thread
		 * polls for changes and answers `list` */
		if (fw_store_open(&in->store, gp, FW_STORE_CREATE) == 0 &&
		    fw_store_open(&d->store, gp, 0) == 0) {
			fw_store_generation(d->store, &d->store_gen);
			load_gallery(in);
		} else {
			fw_log(FW_LOG_WARN, "%s: no gallery; faces are detected but not recognised", gp);
		}
	}
	if ((err = fw_events_queue_create(&d->queue, 256, sizeof(struct msg))) ||
	    (err = fw_enroll_create(&d->enroll)))
		goto fail;
	if ((err = fw_events_create(&d->events, &eo)))
		goto fail;
	fw_events_add_request(d->events, "status", 0, req_status, d);
	fw_events_add_request(d->events, "list", 0, req_list, d);
	fw_enroll_set_server(d->enroll, d->events);
	fw_events_add_request(d->events, "enroll", FW_EVENTS_MUTATING, fw_enroll_request_enroll,
			      d->enroll);
	fw_events_add_request(d->events, "not", FW_EVENTS_MUTATING, fw_enroll_request_not, d->enroll);
	fw_events_add_request(d->events, "doctor", 0, req_doctor, d);
	if ((err = open_source(d)))
		goto fail;
	if (d->cfg.mqtt_host[0] && (err = fw_mqtt_start(&d->mqtt, &d->cfg, d->cfg.camera)))
		goto fail;
	fw_mqtt_set_people(d->mqtt, d->store);
	if ((err = fw_preview_create(&d->preview, d->ring, d->events)) ||
	    (err = fw_preview_serve(d->preview)))
		goto fail;
	if (d->want_preview &&
	    (err = fw_preview_window_start(&d->window, d->preview, "facewatch", preview_closed, d)))
		goto fail;
	fw_service_heartbeat(d->svc); /* the start-up above is not a stall */
	if ((err = -pthread_create(&d->infer_thread, NULL, infer_main, in)))
		goto fail;
	d->infer_started = 1;
	fw_log(FW_LOG_INFO, "watching %s; events on %s (%s kernels)", fw_source_name(d->source),
	       lfd >= 0 ? "the socket systemd passed" : d->cfg.socket_path, d->isa);

	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (ep < 0 || sfd < 0 || tfd < 0) {
		err = -errno;
		goto fail;
	}
	timerfd_settime(tfd, 0, &(struct itimerspec){ { 1, 0 }, { 1, 0 } }, NULL);
	clock_gettime(CLOCK_MONOTONIC, &d->last_status_wall);
	getrusage(RUSAGE_SELF, &d->last_usage);
	ev.events = EPOLLIN;
	ev.data.fd = fw_events_fd(d->events);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = fw_events_queue_fd(d->queue);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	if ((ev.data.fd = fw_service_watchdog_fd(d->svc)) >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	if ((ev.data.fd = fw_mqtt_fd(d->mqtt)) >= 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);

	while (!atomic_load(&d->stop)) {
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1);

		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == fw_events_fd(d->events)) {
				fw_events_dispatch(d->events, 0);
			} else if (fd == fw_mqtt_fd(d->mqtt)) {
				fw_mqtt_dispatch(d->mqtt);
			} else if (fd == fw_events_queue_fd(d->queue)) {
				struct msg m;
				while (fw_events_queue_pop(d->queue, &m) > 0)
					handle_msg(d, &m);
			} else if (fd == sfd) {
				unsigned char sig;
				int hup = 0;
				while (read(sfd, &sig, 1) == 1) {
					if (sig == SIGHUP) {
						hup = 1;
					} else {
						fw_service_stopping(d->svc);
						atomic_store(&d->stop, 1);
					}
				}
				/* a storm of them is one reload per time the
				 * inference thread takes one up (the rest wait for
				 * the 1 s timer), and the last file is always read */
				if (hup && !atomic_load(&d->stop)) {
					d->hup_pending = 1;
					reload_if_idle(d);
				}
			} else if (fd == fw_service_watchdog_fd(d->svc)) {
				fw_service_watchdog_tick(d->svc);
			} else if (fd == tfd) {
				uint64_t ticks;
				if (read(tfd, &ticks, sizeof ticks) < 0)
					continue;
				poll_gallery(d);
				reload_if_idle(d);
				service_ready(d, 0);
				{
					struct fw_source_stats ss;
					struct fw_ring_stats rs;
					fw_source_get_stats(d->source, &ss);
					fw_ring_get_stats(d->ring, &rs);
					fw_preview_tick(d->preview, ss.dropped + rs.dropped, d->isa);
				}
				/* STATUS= follows the status events, or every 10 s without them */
				if (++status_ticks >= (d->cfg.status_interval_s ? d->cfg.status_interval_s : 10)) {
					json_t *st = status_json(d, 1);
					status_ticks = 0;
					if (st)
						service_status(d, st);
					if (d->cfg.status_interval_s)
						publish(d, st);
					else
						json_decref(st);
				}
				if (d->cfg.exit_when_idle && atomic_load(&d->ended) &&
				    atomic_load(&d->idle) && !d->anyone_present && d->n_present == 0)
					atomic_store(&d->stop, 1);
			}
		}
	}
	err = 0;
fail:
	atomic_store(&d->stop, 1);
	if (d->infer_started)
		pthread_join(d->infer_thread, NULL);
	if (d->queue) {
		/* what the inference thread said last still goes out */
		struct msg m;
		while (fw_events_queue_pop(d->queue, &m) > 0)
			handle_msg(d, &m);
	}
	fw_mqtt_stop(d->mqtt); /* availability "offline" */
	/* viewers hold ring references: gone before the ring */
	fw_preview_window_stop(d->window);
	fw_preview_destroy(d->preview);
	if (d->capture)
		fw_capture_stop(d->capture);
	if (d->source)
		fw_source_close(d->source);
	if (d->ring)
		fw_ring_destroy(d->ring);
	fw_enroll_set_server(d->enroll, NULL);
	fw_events_destroy(d->events);
	fw_events_queue_destroy(d->queue);
	fw_enroll_destroy(d->enroll);
	fw_store_close(d->store);
	if (in) {
		infer_close(in);
		free(in);
	}
	if (ep >= 0)
		close(ep);
	/* the pipe stays open: a late signal still finds somewhere to write */
	if (tfd >= 0)
		close(tfd);
	if (err)
		fw_log(FW_LOG_ERROR, "stopping: %s", fw_strerror(err));
	fw_service_close(d->svc);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct daemon d; /* large (name tables): not on the stack */
	int rc;

	fw_kernels_single_thread();
	fw_config_defaults(&d.cfg);
	pthread_mutex_init(&d.stats_lock, NULL);
	d.argc = argc;
	d.argv = argv;
	rc = parse_args(&d, &d.cfg, argc, argv);
	if (rc)
		return rc;
	return run(&d);
}
