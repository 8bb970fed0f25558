/* The preview hub (preview.h): newest-frame mailbox and socket sharing. */
#include "daemon/preview.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/fw.h"

#define HEADER_BYTES 4096
#define SLOT_HEADER 64

_Static_assert(sizeof(struct fw_preview_slot) == SLOT_HEADER, "slot header is 64 bytes");

struct picture {
	struct fw_image img;
	size_t cap;
	int refs;                    /* the hub's, viewers', the lender's */
};

struct fw_preview {
	struct fw_ring *ring;
	struct fw_events *events;

	pthread_mutex_t lock;        /* the mailbox, pictures and the HUD numbers */
	pthread_cond_t fresh;        /* signalled when a frame is published */
	struct fw_frame *frame;      /* newest, one reference held; NULL: none yet */
	struct picture pics[FW_PREVIEW_PICTURES];
	int pic;                     /* the newest frame's picture; -1 none */
	int lent;                    /* lent and not yet published; -1 none */
	int want_w, want_h;          /* the window's size (0: no window) */
	struct fw_preview_result result;
	uint64_t published;
	struct fw_display_hud hud;

	/* main thread only */
	uint64_t last_published;
	struct timespec last_tick;
	struct rusage last_usage;
	int ticked;
	int shm_fd;                  /* -1 until the first `preview` request */
	uint8_t *shm;
	size_t shm_bytes, slot_bytes;
	unsigned next_slot;
	uint64_t last_shared;        /* index of the last frame shared; UINT64_MAX none */
	struct fw_preview_result share_r;
};

int fw_preview_create(struct fw_preview **out, struct fw_ring *ring, struct fw_events *events)
{
	struct fw_preview *p = calloc(1, sizeof *p);

	*out = NULL;
	if (!p)
		return FW_ENOMEM;
	p->ring = ring;
	p->events = events;
	p->shm_fd = -1;
	p->last_shared = UINT64_MAX;
	p->pic = p->lent = -1;
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&p->fresh, &ca);
		pthread_condattr_destroy(&ca);
	}
	p->hud.fps = p->hud.cpu = p->hud.latency_ms = -1;
	p->hud.dropped = -1;
	pthread_mutex_init(&p->lock, NULL);
	*out = p;
	return 0;
}

void fw_preview_destroy(struct fw_preview *p)
{
	if (!p)
		return;
	if (p->frame)
		fw_ring_release(p->ring, p->frame);
	if (p->shm)
		munmap(p->shm, p->shm_bytes);
	if (p->shm_fd >= 0)
		close(p->shm_fd);
	for (int i = 0; i < FW_PREVIEW_PICTURES; i++)
		free(p->pics[i].img.data);
	pthread_cond_destroy(&p->fresh);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void fw_preview_publish(struct fw_preview *p, struct fw_frame *f, const struct fw_preview_result *r,
			struct fw_image *pic)
{
	struct fw_frame *old;

	fw_ring_retain(p->ring, f);
	pthread_mutex_lock(&p->lock);
	old = p->frame;
	p->frame = f;
	p->result = *r;
	p->published++;
	if (p->pic >= 0)
		p->pics[p->pic].refs--;
	p->pic = -1;
	if (pic && p->lent >= 0 && pic == &p->pics[p->lent].img) {
		/* the lender's reference becomes the hub's */
		p->pic = p->lent;
		p->lent = -1;
	}
	pthread_cond_broadcast(&p->fresh);
	pthread_mutex_unlock(&p->lock);
	/* outside the lock: releasing takes the ring's own */
	if (old)
		fw_ring_release(p->ring, old);
}

int fw_preview_take(struct fw_preview *p, uint64_t *last, struct fw_frame **f,
		    struct fw_preview_result *r, const struct fw_image **pic)
{
	int got = 0;

	pthread_mutex_lock(&p->lock);
	if (p->frame && p->frame->index != *last) {
		fw_ring_retain(p->ring, p->frame);
		*f = p->frame;
		*r = p->result;
		*last = p->frame->index;
		got = 1;
		if (pic) {
			*pic = p->pic >= 0 ? &p->pics[p->pic].img : NULL;
			if (p->pic >= 0)
				p->pics[p->pic].refs++;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return got;
}

void fw_preview_release(struct fw_preview *p, struct fw_frame *f)
{
	fw_ring_release(p->ring, f);
}

int fw_preview_wait(struct fw_preview *p, uint64_t last, int timeout_ms)
{
	const struct timespec until = fw_deadline(CLOCK_MONOTONIC, timeout_ms);
	int fresh, rc = 0;

	pthread_mutex_lock(&p->lock);
	while (!(fresh = p->frame && p->frame->index != last) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&p->fresh, &p->lock, &until);
	pthread_mutex_unlock(&p->lock);
	return fresh;
}

void fw_preview_release_picture(struct fw_preview *p, const struct fw_image *pic)
{
	if (!pic)
		return;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < FW_PREVIEW_PICTURES; i++)
		if (pic == &p->pics[i].img && p->pics[i].refs > 0)
			p->pics[i].refs--;
	pthread_mutex_unlock(&p->lock);
}

void fw_preview_want(struct fw_preview *p, int w, int h)
{
	__atomic_store_n(&p->want_w, w > 0 && h > 0 ? w : 0, __ATOMIC_RELAXED);
	__atomic_store_n(&p->want_h, w > 0 && h > 0 ? h : 0, __ATOMIC_RELAXED);
}

int fw_preview_want_denom(struct fw_preview *p, const struct fw_frame *f)
{
	int w = __atomic_load_n(&p->want_w, __ATOMIC_RELAXED);
	int h = __atomic_load_n(&p->want_h, __ATOMIC_RELAXED);

	if (!f || f->format != FW_PIXFMT_MJPEG || w <= 0 || h <= 0)
		return 0;
	return fw_jpeg_pick_scale(f->width, f->height, w, h);
}

struct fw_image *fw_preview_lend(struct fw_preview *p, size_t bytes, size_t *cap)
{
	struct picture *q;
	int i;

	pthread_mutex_lock(&p->lock);
	i = p->lent;
	if (i < 0)
		for (i = 0; i < FW_PREVIEW_PICTURES && p->pics[i].refs > 0; i++)
			;
	if (i < FW_PREVIEW_PICTURES) {
		p->pics[i].refs = 1; /* the lender's, until published */
		p->lent = i;
	}
	pthread_mutex_unlock(&p->lock);
	if (i >= FW_PREVIEW_PICTURES)
		return NULL; /* the window holds one, the hub another, ... */
	/* only the lender touches a lent buffer: grow it outside the lock
	 * (once per camera or window size) */
	q = &p->pics[i];
	if (q->cap < bytes) {
		free(q->img.data);
		q->img.data = malloc(bytes);
		q->cap = q->img.data ? bytes : 0;
		if (!q->img.data)
			return NULL;
	}
	*cap = q->cap;
	return &q->img;
}

void fw_preview_hud(struct fw_preview *p, struct fw_display_hud *h)
{
	pthread_mutex_lock(&p->lock);
	*h = p->hud;
	pthread_mutex_unlock(&p->lock);
}

void fw_preview_tick(struct fw_preview *p, uint64_t dropped, const char *isa)
{
	struct timespec now;
	struct rusage ru;
	uint64_t published;
	double dt, cpu;

	if (!p)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	getrusage(RUSAGE_SELF, &ru);
	pthread_mutex_lock(&p->lock);
	published = p->published;
	if (p->ticked) {
		dt = (now.tv_sec - p->last_tick.tv_sec) + (now.tv_nsec - p->last_tick.tv_nsec) / 1e9;
		cpu = (ru.ru_utime.tv_sec - p->last_usage.ru_utime.tv_sec + ru.ru_stime.tv_sec -
		       p->last_usage.ru_stime.tv_sec) +
		      (ru.ru_utime.tv_usec - p->last_usage.ru_utime.tv_usec + ru.ru_stime.tv_usec -
		       p->last_usage.ru_stime.tv_usec) / 1e6;
		if (dt > 0) {
			p->hud.fps = (float)((published - p->last_published) / dt);
			p->hud.cpu = (float)(cpu / dt * 100);
		}
	}
	p->hud.dropped = (int64_t)dropped;
	snprintf(p->hud.isa, sizeof p->hud.isa, "%s", isa ? isa : "");
	pthread_mutex_unlock(&p->lock);
	p->ticked = 1;
	p->last_tick = now;
	p->last_usage = ru;
	p->last_published = published;
}

/* ---- socket viewers ----------------------------------------------------- */

static int shm_open_once(struct fw_preview *p)
{
	struct fw_preview_shm *h;
	int fd;

	if (p->shm)
		return 0;
	p->slot_bytes = SLOT_HEADER + ((fw_ring_slot_bytes(p->ring) + 63) & ~(size_t)63);
	p->shm_bytes = HEADER_BYTES + FW_PREVIEW_SLOTS * p->slot_bytes;
	fd = memfd_create("facewatch-preview", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)p->shm_bytes) < 0)
		goto fail;
	p->shm = mmap(NULL, p->shm_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p->shm == MAP_FAILED) {
		p->shm = NULL;
		goto fail;
	}
	/* viewers may neither resize it (our writes would fault) nor write;
	 * FUTURE_WRITE leaves our own mapping writable (Linux 5.1) */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE) < 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		goto fail;
	fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL);
	h = (struct fw_preview_shm *)p->shm;
	memcpy(h->magic, FW_PREVIEW_MAGIC, sizeof h->magic);
	h->slots = FW_PREVIEW_SLOTS;
	h->header_bytes = HEADER_BYTES;
	h->slot_bytes = p->slot_bytes;
	p->shm_fd = fd;
	return 0;
fail: {
	int err = -errno;
	if (p->shm)
		munmap(p->shm, p->shm_bytes);
	p->shm = NULL;
	close(fd);
	return err;
}
}

static int req_preview(void *ctx, const struct fw_events_peer *peer, json_t *req, json_t *reply)
{
	struct fw_preview *p = ctx;
	int err;

	if (!peer->trusted) {
		json_object_set_new(reply, "error", json_sprintf(
			"permission denied: the preview shows the camera's picture; only trusted "
			"peers (root, the daemon's user, its trusted group) may ask (you are uid %u)",
			(unsigned)peer->uid));
		return -EPERM;
	}
	if ((err = shm_open_once(p))) {
		fw_log(FW_LOG_ERROR, "preview: cannot create the shared memory: %s", fw_strerror(err));
		return err;
	}
	json_object_set_new(reply, "slots", json_integer(FW_PREVIEW_SLOTS));
	json_object_set_new(reply, "header_bytes", json_integer(HEADER_BYTES));
	json_object_set_new(reply, "slot_bytes", json_integer((json_int_t)p->slot_bytes));
	json_object_set_new(reply, "shm_bytes", json_integer((json_int_t)p->shm_bytes));
	err = fw_events_reply_fd(p->events, peer->id, json_object_get(req, "id"), 0, reply, p->shm_fd);
	if (err == -EAGAIN) {
		json_object_clear(reply);
		json_object_set_new(reply, "error", json_string(
			"the connection has unread events queued; send preview first, "
			"before subscribing"));
		return -EAGAIN;
	}
	return FW_EVENTS_LATER; /* answered (or the client has gone) */
}

int fw_preview_serve(struct fw_preview *p)
{
	return p->events ? fw_events_add_request(p->events, "preview", 0, req_preview, p) : 0;
}

static json_t *round1(float v)
{
	return json_real(roundf(v * 10) / 10);
}

static json_t *result_json(const struct fw_preview_result *r)
{
	json_t *faces = json_array();

	for (int i = 0; i < r->n_faces; i++) {
		const struct fw_display_face *f = &r->faces[i];
		json_t *pts = json_array(), *o, *fo;
		for (int k = 0; k < f->n_points; k++)
			json_array_append_new(pts, json_pack("[oo]", round1(f->points[k][0]),
							     round1(f->points[k][1])));
		if (f->has_pose) {
			/* landmarks68 = on: the points drawn are the 68, sent as
			 * `landmarks` with the pose and attention, as in `frame` */
			json_t *kp = json_array();
			for (int k = 0; k < FW_DET_KEYPOINTS; k++)
				json_array_append_new(kp, json_pack("[oo]", round1(r->keypoints[i][k][0]),
								    round1(r->keypoints[i][k][1])));
			o = json_pack("{so so s{sfsfsf}}", "keypoints", kp, "landmarks", pts, "pose",
				      "yaw", roundf(f->yaw * 10) / 10, "pitch",
				      roundf(f->pitch * 10) / 10, "roll", roundf(f->roll * 10) / 10);
			if (o && f->attention != FW_DISPLAY_ATTENTION_NONE)
				json_object_set_new(o, "attention", json_string(
					f->attention == FW_DISPLAY_LOOKING ? "looking" : "away"));
		} else {
			o = json_pack("{so}", "keypoints", pts);
		}
		fo = json_pack("{s[oooo] sf so sf}", "box", round1(f->box[0]), round1(f->box[1]),
			       round1(f->box[2] - f->box[0]), round1(f->box[3] - f->box[1]), "score",
			       roundf(f->score * 1e4f) / 1e4f, "identity",
			       f->name[0] ? json_string(f->name) : json_null(), "similarity",
			       roundf(f->similarity * 1e4f) / 1e4f);
		if (fo && o)
			json_object_update(fo, o);
		json_decref(o);
		json_array_append_new(faces, fo);
	}
	return faces;
}

void fw_preview_share(struct fw_preview *p)
{
	static const char *fmt[] = { "NONE", "MJPEG", "YUYV", "RGB24" };
	struct fw_preview_slot *s;
	struct fw_display_hud hud;
	struct fw_frame *f;
	uint64_t last = p->last_shared, gen;

	if (!p || !p->shm || !p->events || fw_events_subscribers(p->events, "preview") == 0)
		return;
	if (!fw_preview_take(p, &last, &f, &p->share_r, NULL))
		return;
	if (f->bytes + SLOT_HEADER > p->slot_bytes || f->format < FW_PIXFMT_MJPEG ||
	    f->format > FW_PIXFMT_RGB24) {
		fw_preview_release(p, f);
		return;
	}
	p->last_shared = last;
	s = (struct fw_preview_slot *)(p->shm + HEADER_BYTES + p->next_slot * p->slot_bytes);
	/* seqlock: odd while writing; readers check it before and after */
	gen = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
	__atomic_store_n(&s->gen, gen + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	s->index = f->index;
	s->format = (uint32_t)f->format;
	s->width = (uint32_t)f->width;
	s->height = (uint32_t)f->height;
	s->stride = (uint32_t)f->stride;
	s->bytes = f->bytes;
	memcpy((uint8_t *)s + SLOT_HEADER, f->data, f->bytes);
	__atomic_store_n(&s->gen, gen + 2, __ATOMIC_RELEASE);
	fw_preview_release(p, f);

	fw_preview_hud(p, &hud);
	fw_events_publish_new(p->events, json_pack(
		"{ss si sI sI ss si si si sI so sf sf sI sf ss}", "event", "preview",
		"slot", (int)p->next_slot, "gen", (json_int_t)(gen + 2), "index", (json_int_t)s->index,
		"format", fmt[s->format], "width", (int)s->width, "height", (int)s->height,
		"stride", (int)s->stride, "bytes", (json_int_t)s->bytes,
		"faces", result_json(&p->share_r),
		"latency_ms", roundf(p->share_r.latency_ms * 100) / 100,
		"fps", roundf(hud.fps * 10) / 10, "drops", (json_int_t)hud.dropped,
		"cpu", roundf(hud.cpu * 10) / 10, "kernels", hud.isa));
	p->next_slot = (p->next_slot + 1) % FW_PREVIEW_SLOTS;
}

int fw_preview_picture(struct fw_jpeg *j, enum fw_pixfmt format, int width, int height,
		       int stride, const uint8_t *data, size_t bytes, int want_w, int want_h,
		       struct fw_image *rgb, size_t cap, struct fw_display_picture *pic)
{
	int err, denom;

	pic->width = width;
	pic->height = height;
	pic->stride = stride;
	pic->data = data;
	pic->coord_width = width;
	pic->coord_height = height;
	switch (format) {
	case FW_PIXFMT_YUYV:
		pic->format = FW_DISPLAY_YUYV;
		return (size_t)stride * (size_t)height <= bytes ? 0 : FW_ETRUNC;
	case FW_PIXFMT_RGB24:
		pic->format = FW_DISPLAY_RGB24;
		return (size_t)stride * (size_t)height <= bytes ? 0 : FW_ETRUNC;
	case FW_PIXFMT_MJPEG:
		/* a frame that came without the pipeline's picture (the
		 * daemon's window gets one: preview.h), or facectl preview's
		 * copy of the camera's bytes: decoded here, no larger than it
		 * is shown */
		denom = want_w > 0 && want_h > 0 ? fw_jpeg_pick_scale(width, height, want_w, want_h) : 1;
		if ((err = fw_jpeg_decode(j, data, bytes, denom, rgb, cap)))
			return err;
		pic->format = FW_DISPLAY_RGB24;
		pic->width = rgb->width;
		pic->height = rgb->height;
		pic->stride = rgb->stride;
		pic->data = rgb->data;
		return 0;
	default:
		return FW_EINVAL;
	}
}
