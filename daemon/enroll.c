/* The daemon's live gallery work; see daemon/enroll.h. */
#include "daemon/enroll.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"

#define MAX_CMDS 8
#define MAX_PENDING 16
#define MAX_IDENTIFIED 32
#define PROGRESS_MS 1000

enum cmd_kind { CMD_ENROLL = 1, CMD_NOT };

struct cmd {
	enum cmd_kind kind;
	uint64_t tag;
	char name[FW_GALLERY_NAME_MAX + 1];
	int count;
	int timeout_ms;
	uint32_t track;
};

struct recent {
	uint32_t track;
	int64_t t_ms;          /* of the newest view; 0: free */
	int n, next;           /* views held, and where the next goes (a ring) */
	float quality[FW_ENROLL_TRACK_VIEWS];
	float emb[FW_ENROLL_TRACK_VIEWS][FW_EMBED_DIM];
};

struct fw_enroll {
	pthread_mutex_t lock;  /* cmds and camcheck */
	struct cmd cmds[MAX_CMDS];
	int n_cmds;
	struct fw_camcheck cam;

	/* main thread */
	struct fw_events *srv;
	uint64_t next_tag;
	struct {
		uint64_t tag, client;
		json_t *id;
	} pending[MAX_PENDING];
	int enrolling;         /* a session was asked for and has not answered */
	struct {
		uint32_t track;
		char name[FW_GALLERY_NAME_MAX + 1];
	} identified[MAX_IDENTIFIED]; /* the last face_identified events with a name, a ring */
	int n_identified, next_identified;

	/* inference thread */
	struct fw_quality_config qc;
	int active;
	struct cmd session;
	int64_t started_ms, deadline_ms, last_taken_ms, last_progress_ms;
	int n_taken;
	float taken[FW_ENROLL_MAX_VIEWS][FW_EMBED_DIM];
	float quality[FW_ENROLL_MAX_VIEWS];
	unsigned refused[FW_QUALITY_N_REASONS];  /* whole session */
	unsigned window[FW_QUALITY_N_REASONS];   /* since the last progress event */
	float last_luma, last_px;
	struct recent recent[FW_ENROLL_RECENT];
	uint32_t revote_track;
	int revote_left;
	struct fw_enroll_msg msg;  /* scratch: no per-frame stack churn of 1 KiB */
};

int fw_enroll_create(struct fw_enroll **out)
{
	struct fw_enroll *e = calloc(1, sizeof *e);

	*out = NULL;
	if (!e)
		return FW_ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	fw_quality_config_default(&e->qc);
	fw_camcheck_init(&e->cam);
	*out = e;
	return 0;
}

void fw_enroll_destroy(struct fw_enroll *e)
{
	if (!e)
		return;
	for (int i = 0; i < MAX_PENDING; i++)
		json_decref(e->pending[i].id);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* ---- main thread ---- */

void fw_enroll_set_server(struct fw_enroll *e, struct fw_events *srv)
{
	if (e) /* NULL: start-up failed before it was made; nothing to tell */
		e->srv = srv;
}

static int fail(json_t *reply, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(json_t *reply, int code, const char *fmt, ...)
{
	char buf[FW_ENROLL_TEXT];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_object_set_new(reply, "error", json_string(buf));
	return code;
}

/* Queue a command for the inference thread and remember whom to answer. */
static int post(struct fw_enroll *e, const struct fw_events_peer *peer, json_t *req,
		json_t *reply, struct cmd *c)
{
	int slot = -1, queued = 0;

	for (int i = 0; i < MAX_PENDING && slot < 0; i++)
		if (!e->pending[i].tag)
			slot = i;
	if (slot < 0)
		return fail(reply, -EBUSY, "busy: %d gallery requests are waiting; try again",
			    MAX_PENDING);
	c->tag = ++e->next_tag;
	pthread_mutex_lock(&e->lock);
	if (e->n_cmds < MAX_CMDS) {
		e->cmds[e->n_cmds++] = *c;
		queued = 1;
	}
	pthread_mutex_unlock(&e->lock);
	if (!queued)
		return fail(reply, -EBUSY, "busy: too many gallery requests at once; try again");
	e->pending[slot].tag = c->tag;
	e->pending[slot].client = peer->id;
	e->pending[slot].id = json_incref(json_object_get(req, "id"));
	return FW_EVENTS_LATER;
}

static int name_member(json_t *req, json_t *reply, const char *what, char *out)
{
	const char *name = json_string_value(json_object_get(req, "name"));

	if (!name)
		return fail(reply, FW_EINVAL, "\"%s\" needs \"name\": the identity's name", what);
	if (fw_store_name_valid(name))
		return fail(reply, FW_EINVAL, "'%.80s' is not a usable name: 1 to %d bytes of UTF-8, "
			    "no control characters or '/', not starting with '-' or a space", name,
			    FW_GALLERY_NAME_MAX);
	snprintf(out, FW_GALLERY_NAME_MAX + 1, "%s", name);
	return 0;
}

/* An optional integer member within [lo, hi]: 0 (v set or left), or an error. */
static int int_member(json_t *req, json_t *reply, const char *key, long lo, long hi, long *v)
{
	json_t *j = json_object_get(req, key);

	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi)
		return fail(reply, FW_EINVAL, "\"%s\" must be an integer from %ld to %ld", key, lo, hi);
	*v = (long)json_integer_value(j);
	return 0;
}

int fw_enroll_request_enroll(void *ctx, const struct fw_events_peer *peer, json_t *req,
			     json_t *reply)
{
	struct fw_enroll *e = ctx;
	struct cmd c = { .kind = CMD_ENROLL };
	long count = FW_ENROLL_DEFAULT_VIEWS, timeout = FW_ENROLL_DEFAULT_TIMEOUT_S;
	int err;

	if ((err = name_member(req, reply, "enroll", c.name)) ||
	    (err = int_member(req, reply, "count", 1, FW_ENROLL_MAX_VIEWS, &count)) ||
	    (err = int_member(req, reply, "timeout", 1, FW_ENROLL_MAX_TIMEOUT_S, &timeout)))
		return err;
	if (e->enrolling)
		return fail(reply, -EBUSY, "busy: an enrolment from the camera is already running; "
			    "wait for it to end");
	c.count = (int)count;
	c.timeout_ms = (int)timeout * 1000;
	err = post(e, peer, req, reply, &c);
	if (err == FW_EVENTS_LATER)
		e->enrolling = 1;
	return err;
}

int fw_enroll_request_not(void *ctx, const struct fw_events_peer *peer, json_t *req,
			  json_t *reply)
{
	struct fw_enroll *e = ctx;
	struct cmd c = { .kind = CMD_NOT };
	json_t *track = json_object_get(req, "track");
	int err;

	if ((err = name_member(req, reply, "not", c.name)))
		return err;
	if (json_is_string(track) && !strcmp(json_string_value(track), "last")) {
		/* the newest face_identified event naming NAME */
		for (int k = 0; k < e->n_identified && !c.track; k++) {
			int i = (e->next_identified - 1 - k + 2 * MAX_IDENTIFIED) % MAX_IDENTIFIED;
			if (!strcmp(e->identified[i].name, c.name))
				c.track = e->identified[i].track;
		}
		if (!c.track)
			return fail(reply, -ENOENT, "no face has been identified as %s since the daemon "
				    "started; give the track number (facectl watch shows it)", c.name);
	} else if (json_is_integer(track) && json_integer_value(track) > 0 &&
		   json_integer_value(track) <= UINT32_MAX) {
		c.track = (uint32_t)json_integer_value(track);
	} else {
		return fail(reply, FW_EINVAL, "\"not\" needs \"track\": a track number (from "
			    "face_identified) or \"last\"");
	}
	return post(e, peer, req, reply, &c);
}

void fw_enroll_saw_identified(struct fw_enroll *e, uint32_t track, const char *name)
{
	if (!*name)
		return;
	e->identified[e->next_identified].track = track;
	snprintf(e->identified[e->next_identified].name, sizeof e->identified[0].name, "%s", name);
	e->next_identified = (e->next_identified + 1) % MAX_IDENTIFIED;
	if (e->n_identified < MAX_IDENTIFIED)
		e->n_identified++;
}

json_t *fw_enroll_main_msg(struct fw_enroll *e, const struct fw_enroll_msg *m)
{
	json_t *reply;
	int slot = -1;

	if (m->kind == FW_ENROLL_MSG_PROGRESS) {
		json_t *ev = json_pack("{ss ss si si ss}", "event", "enroll_progress", "name", m->name,
				       "taken", m->taken, "count", m->count, "reason",
				       m->reason == FW_QUALITY_OK ? "taken" : fw_quality_reason_name(m->reason));
		if (ev && m->reason != FW_QUALITY_OK)
			json_object_set_new(ev, "advice", json_string(fw_quality_reason_advice(m->reason)));
		if (ev && m->reason == FW_QUALITY_OK && m->similarity > -1)
			json_object_set_new(ev, "similarity_to_previous",
					    json_real(round(m->similarity * 1e4) / 1e4));
		return ev;
	}
	if (!m->is_not)
		e->enrolling = 0;
	for (int i = 0; i < MAX_PENDING; i++)
		if (e->pending[i].tag == m->tag)
			slot = i;
	if (slot < 0)
		return NULL;
	reply = json_object();
	if (m->err) {
		json_object_set_new(reply, "error", json_string(m->text[0] ? m->text : fw_strerror(m->err)));
		if (!m->is_not && m->reason != FW_QUALITY_OK)
			json_object_set_new(reply, "reason", json_string(fw_quality_reason_name(m->reason)));
	} else if (m->is_not) {
		json_object_set_new(reply, "not", json_string(m->name));
		json_object_set_new(reply, "track", json_integer(m->track));
		json_object_set_new(reply, "negatives_added", json_integer(m->added));
		json_object_set_new(reply, "similarity_to_name",
				    isfinite(m->similarity) ? json_real(round(m->similarity * 1e4) / 1e4)
							    : json_null());
		json_object_set_new(reply, "vetoed", json_boolean(m->vetoed));
	} else {
		json_object_set_new(reply, "identity", json_string(m->name));
		json_object_set_new(reply, "views", json_integer(m->taken));
		json_object_set_new(reply, "templates_added", json_integer(m->added));
	}
	if (!m->err && m->text[0])
		json_object_set_new(reply, "warning", json_string(m->text));
	if (e->srv)
		fw_events_reply(e->srv, e->pending[slot].client, e->pending[slot].id,
				m->err ? m->err : 0, reply);
	json_decref(reply);
	json_decref(e->pending[slot].id);
	e->pending[slot].id = NULL;
	e->pending[slot].tag = 0;
	return NULL;
}

void fw_enroll_camcheck(struct fw_enroll *e, struct fw_camcheck_summary *out)
{
	pthread_mutex_lock(&e->lock);
	fw_camcheck_summarise(&e->cam, out);
	pthread_mutex_unlock(&e->lock);
}

/* ---- inference thread ---- */

void fw_enroll_sample(struct fw_enroll *e, const struct fw_camcheck_sample *s)
{
	pthread_mutex_lock(&e->lock);
	fw_camcheck_add(&e->cam, s);
	pthread_mutex_unlock(&e->lock);
}

static struct fw_enroll_msg *new_msg(struct fw_enroll *e, enum fw_enroll_msg_kind kind,
				     const struct cmd *c)
{
	struct fw_enroll_msg *m = &e->msg;

	memset(m, 0, sizeof *m);
	m->kind = kind;
	m->tag = c->tag;
	m->is_not = c->kind == CMD_NOT;
	snprintf(m->name, sizeof m->name, "%s", c->name);
	m->count = c->count;
	m->track = c->track;
	return m;
}

/* What the client is told when the gallery cannot be written: the file, the
 * cause and what to do (the daemon's log says the same, in the store's words);
 * nothing was stored. */
static void store_error(struct fw_enroll_msg *m, const struct fw_enroll_env *env, int err)
{
	const char *path = fw_store_path(env->store);

	m->err = err;
	m->reason = FW_QUALITY_OK; /* no refusal of frames: no "reason" */
	if (err == -ENOSPC)
		snprintf(m->text, sizeof m->text, "could not write the gallery %s: the disk is full; "
			 "nothing was stored. Free some space on the file system holding it (df '%s') "
			 "and try again", path, path);
	else if (err == -EROFS)
		snprintf(m->text, sizeof m->text, "could not write the gallery %s: its file system is "
			 "mounted read-only; nothing was stored. Remount it read-write (or give "
			 "facewatchd a --gallery in a writable place) and try again", path);
	else
		snprintf(m->text, sizeof m->text, "could not write the gallery %s: %s (see the "
			 "daemon's log)", path, fw_strerror(err));
}

static void run_not(struct fw_enroll *e, const struct fw_enroll_env *env, const struct cmd *c,
		    int64_t now_ms)
{
	struct fw_enroll_msg *m = new_msg(e, FW_ENROLL_MSG_DONE, c);
	struct recent *r = NULL;
	struct fw_store_template t[FW_ENROLL_TRACK_VIEWS];
	const float *newest;
	struct fw_gallery *g;
	char source[64];
	int err;

	for (int i = 0; i < FW_ENROLL_RECENT; i++)
		if (e->recent[i].t_ms && e->recent[i].track == c->track &&
		    now_ms - e->recent[i].t_ms <= FW_ENROLL_KEEP_MS)
			r = &e->recent[i];
	if (!env->store) {
		m->err = -ENOENT;
		snprintf(m->text, sizeof m->text, "no gallery is open (see the daemon's log)");
		goto out;
	}
	if (!r) {
		m->err = -ENOENT;
		snprintf(m->text, sizeof m->text, "no face of track %u was seen in the last %d s "
			 "(or it was never embedded); corrections must follow soon after the event",
			 c->track, FW_ENROLL_KEEP_MS / 1000);
		goto out;
	}
	/* every view held of the track, so the veto covers the face as it
	 * moved, not one pose; one transaction */
	snprintf(source, sizeof source, "track %u", c->track);
	for (int i = 0; i < r->n; i++) {
		memset(&t[i], 0, sizeof t[i]);
		memcpy(t[i].emb, r->emb[i], sizeof t[i].emb);
		t[i].model_id = env->model_id;
		t[i].quality = r->quality[i];
		t[i].source = source;
		t[i].negative = 1;
	}
	newest = r->emb[(r->next + FW_ENROLL_TRACK_VIEWS - 1) % FW_ENROLL_TRACK_VIEWS];
	err = fw_store_add(env->store, c->name, t, r->n, 0, &m->added);
	if (err == -ENOENT) {
		m->err = err;
		snprintf(m->text, sizeof m->text, "nobody called '%s' is enrolled (facectl list "
			 "shows who is)", c->name);
		goto out;
	}
	if (err) {
		store_error(m, env, err);
		goto out;
	}
	env->reload(env->ctx);
	g = env->current(env->ctx);
	m->similarity = NAN;
	if (g) {
		struct fw_gallery_match fm;
		for (int id = 0; id < fw_gallery_n_identities(g); id++)
			if (!strcmp(fw_gallery_name(g, id), c->name))
				m->similarity = fw_gallery_identity_similarity(g, newest, id);
		m->vetoed = !fw_gallery_match(g, newest, &fm) && fm.vetoed >= 0 &&
			    !strcmp(fw_gallery_name(g, fm.vetoed), c->name);
	}
	if (!m->vetoed)
		snprintf(m->text, sizeof m->text, "kept, but this face is as close to %s's own "
			 "templates (%.2f) as to itself: it will still be taken for %s; is it really "
			 "someone else?", c->name, m->similarity, c->name);
	/* vote again with the new gallery on the next frames */
	e->revote_track = c->track;
	e->revote_left = FW_ENROLL_REVOTE_FRAMES;
out:
	env->send(env->ctx, m);
}

static enum fw_quality_reason main_reason(const unsigned *count, int skip_similar)
{
	enum fw_quality_reason best = FW_QUALITY_OK;
	unsigned most = 0;

	for (int r = 1; r < FW_QUALITY_N_REASONS; r++)
		if (count[r] > most && !(skip_similar && r == FW_QUALITY_TOO_SIMILAR)) {
			most = count[r];
			best = (enum fw_quality_reason)r;
		}
	return best;
}

static void finish(struct fw_enroll *e, const struct fw_enroll_env *env, int err, const char *why)
{
	struct fw_enroll_msg *m = new_msg(e, FW_ENROLL_MSG_DONE, &e->session);
	struct fw_store_template t[FW_ENROLL_MAX_VIEWS];
	char source[96];

	e->active = 0;
	m->taken = e->n_taken;
	m->reason = main_reason(e->refused, 1);
	if (m->reason == FW_QUALITY_OK)
		m->reason = main_reason(e->refused, 0);
	if (err == -ENOENT) {
		m->err = err;
		snprintf(m->text, sizeof m->text, "%s", why);
		goto out;
	}
	if (err) {
		m->err = err;
		if (m->reason == FW_QUALITY_TOO_DARK)
			snprintf(m->text, sizeof m->text, "%s: %d of %d views; most frames: too dark "
				 "(face brightness %.0f of 255): %s", why, e->n_taken, e->session.count,
				 e->last_luma, fw_quality_reason_advice(m->reason));
		else if (m->reason == FW_QUALITY_TOO_SMALL)
			snprintf(m->text, sizeof m->text, "%s: %d of %d views; most frames: face too "
				 "small (%.0f pixels wide, %.0f needed): %s", why, e->n_taken,
				 e->session.count, e->last_px, e->qc.min_face_px,
				 fw_quality_reason_advice(m->reason));
		else if (m->reason != FW_QUALITY_OK)
			snprintf(m->text, sizeof m->text, "%s: %d of %d views; most frames: %s", why,
				 e->n_taken, e->session.count, fw_quality_reason_advice(m->reason));
		else
			snprintf(m->text, sizeof m->text, "%s: %d of %d views; no frame was analysed",
				 why, e->n_taken, e->session.count);
		goto out;
	}
	if (!env->store) {
		m->err = -ENOENT;
		snprintf(m->text, sizeof m->text, "no gallery is open (see the daemon's log)");
		goto out;
	}
	snprintf(source, sizeof source, "camera %.80s", env->device ? env->device : "");
	for (int i = 0; i < e->n_taken; i++) {
		memset(&t[i], 0, sizeof t[i]);
		memcpy(t[i].emb, e->taken[i], sizeof t[i].emb);
		t[i].model_id = env->model_id;
		t[i].quality = e->quality[i];
		t[i].source = source;
	}
	/* the same warning `facectl enroll IMAGE` gives: already someone else? */
	if (env->gallery) {
		struct fw_gallery_match fm;
		if (!fw_gallery_match(env->gallery, e->taken[0], &fm) && fm.accepted &&
		    strcmp(fw_gallery_name(env->gallery, fm.identity), e->session.name))
			snprintf(m->text, sizeof m->text, "this face looks like %s (similarity %.2f), "
				 "who is already enrolled; was it really %s?",
				 fw_gallery_name(env->gallery, fm.identity), fm.similarity, e->session.name);
	}
	err = fw_store_add(env->store, e->session.name, t, e->n_taken, FW_STORE_ADD_CREATE,
			   &m->added);
	if (err)
		store_error(m, env, err);
	else
		env->reload(env->ctx);
out:
	env->send(env->ctx, m);
}

void fw_enroll_poll(struct fw_enroll *e, const struct fw_enroll_env *env, int64_t now_ms,
		    int ended)
{
	struct cmd cmds[MAX_CMDS];
	int n;

	pthread_mutex_lock(&e->lock);
	n = e->n_cmds;
	memcpy(cmds, e->cmds, sizeof cmds[0] * (size_t)n);
	e->n_cmds = 0;
	pthread_mutex_unlock(&e->lock);
	for (int i = 0; i < n; i++) {
		if (cmds[i].kind == CMD_NOT) {
			run_not(e, env, &cmds[i], now_ms);
			continue;
		}
		/* the main thread allows one session at a time */
		e->active = 1;
		e->session = cmds[i];
		e->started_ms = e->last_progress_ms = now_ms;
		e->deadline_ms = now_ms + cmds[i].timeout_ms;
		e->last_taken_ms = 0;
		e->n_taken = 0;
		memset(e->refused, 0, sizeof e->refused);
		memset(e->window, 0, sizeof e->window);
		fw_log(FW_LOG_INFO, "enrolling %s from the camera: %d views within %d s",
		       cmds[i].name, cmds[i].count, cmds[i].timeout_ms / 1000);
		if (!env->store) {
			/* say so now, not after the timeout */
			finish(e, env, -ENOENT, "no gallery is open (see the daemon's log)");
			continue;
		}
	}
	if (!e->active)
		return;
	if (ended)
		finish(e, env, -ENODATA, "the camera stopped giving frames");
	else if (now_ms >= e->deadline_ms)
		finish(e, env, -ETIMEDOUT, "timed out");
}

int fw_enroll_active(const struct fw_enroll *e)
{
	return e->active;
}

static void progress(struct fw_enroll *e, const struct fw_enroll_env *env, int64_t now_ms,
		     enum fw_quality_reason r, float similarity)
{
	struct fw_enroll_msg *m;

	if (r != FW_QUALITY_OK) {
		e->window[r]++;
		if (now_ms - e->last_progress_ms < PROGRESS_MS)
			return;
		r = main_reason(e->window, 0);
	}
	m = new_msg(e, FW_ENROLL_MSG_PROGRESS, &e->session);
	m->taken = e->n_taken;
	m->reason = r;
	m->similarity = similarity;
	memset(e->window, 0, sizeof e->window);
	e->last_progress_ms = now_ms;
	env->send(env->ctx, m);
}

void fw_enroll_frame(struct fw_enroll *e, const struct fw_enroll_env *env, int64_t now_ms,
		     const struct fw_image *img, const struct fw_detection *dets, int n)
{
	const struct fw_detection *face = NULL;
	struct fw_landmarks_result lm;
	struct fw_quality_view v;
	enum fw_quality_reason r;
	float emb[FW_EMBED_DIM], box[4], sim = -1;
	int faces = 0;

	if (!e->active)
		return;
	for (int i = 0; i < n; i++)
		if (dets[i].score >= FW_ENROLL_FACE_SCORE) {
			faces++;
			face = &dets[i];
		}
	memset(&v, 0, sizeof v);
	if (faces == 1) {
		box[0] = face->x1, box[1] = face->y1, box[2] = face->x2, box[3] = face->y2;
		if (fw_landmarks_run(env->lmk, img, face, &lm))
			return;
		fw_quality_measure(img, box, (const float(*)[2])lm.pt, &v);
		e->last_luma = v.luma;
		e->last_px = v.face_px;
	}
	r = fw_quality_judge(&e->qc, faces, &v);
	if (r == FW_QUALITY_OK && e->last_taken_ms && now_ms - e->last_taken_ms < FW_ENROLL_GAP_MS)
		return; /* too soon after the last: neither good nor bad */
	if (r == FW_QUALITY_OK) {
		if (fw_embedder_run(env->emb, img, (const float(*)[2])lm.pt, emb, NULL))
			return;
		sim = fw_quality_similar(emb, &e->taken[0][0], e->n_taken, FW_EMBED_DIM);
		if (sim > e->qc.max_similar)
			r = FW_QUALITY_TOO_SIMILAR;
	}
	if (r != FW_QUALITY_OK) {
		e->refused[r]++;
		progress(e, env, now_ms, r, 0);
		return;
	}
	memcpy(e->taken[e->n_taken], emb, sizeof emb);
	e->quality[e->n_taken] = fw_quality_template(face->score, v.face_px);
	e->n_taken++;
	e->last_taken_ms = now_ms;
	progress(e, env, now_ms, FW_QUALITY_OK, sim);
	if (e->n_taken == e->session.count)
		finish(e, env, 0, NULL);
}

void fw_enroll_embedded(struct fw_enroll *e, uint32_t track, const float *emb, float quality,
			int64_t now_ms)
{
	struct recent *slot = NULL;

	/* the track's own slot, else a free or expired one, else the oldest */
	for (int i = 0; i < FW_ENROLL_RECENT && !slot; i++)
		if (e->recent[i].t_ms && e->recent[i].track == track)
			slot = &e->recent[i];
	for (int i = 0; i < FW_ENROLL_RECENT && !slot; i++)
		if (!e->recent[i].t_ms || now_ms - e->recent[i].t_ms > FW_ENROLL_KEEP_MS)
			slot = &e->recent[i];
	if (!slot) {
		slot = &e->recent[0];
		for (int i = 1; i < FW_ENROLL_RECENT; i++)
			if (e->recent[i].t_ms < slot->t_ms)
				slot = &e->recent[i];
	}
	if (slot->track != track || !slot->t_ms) {
		slot->n = slot->next = 0;
		slot->track = track;
	}
	slot->t_ms = now_ms > 0 ? now_ms : 1;
	slot->quality[slot->next] = quality;
	memcpy(slot->emb[slot->next], emb, sizeof slot->emb[0]);
	slot->next = (slot->next + 1) % FW_ENROLL_TRACK_VIEWS;
	if (slot->n < FW_ENROLL_TRACK_VIEWS)
		slot->n++;
}

int fw_enroll_force_embed(struct fw_enroll *e, uint32_t track)
{
	if (e->revote_left <= 0 || track != e->revote_track)
		return 0;
	e->revote_left--;
	return 1;
}
