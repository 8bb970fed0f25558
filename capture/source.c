/* The source interface: dispatch to V4L2 or replay, stats, and the capture
 * thread. See source.h. */
#include "capture/source.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "capture/source_internal.h"
#include "capture/v4l2.h"
#include "core/fw.h"

const char *fw_source_state_name(enum fw_source_state s)
{
	switch (s) {
	case FW_SOURCE_STARTING: return "starting";
	case FW_SOURCE_OK: return "ok";
	case FW_SOURCE_ABSENT: return "absent";
	case FW_SOURCE_BUSY: return "busy";
	case FW_SOURCE_STALLED: return "stalled";
	case FW_SOURCE_FAILED: return "failed";
	case FW_SOURCE_ENDED: return "ended";
	}
	return "unknown";
}

void fw_source_init(struct fw_source *s, const struct fw_source_ops *ops)
{
	s->ops = ops;
	pthread_mutex_init(&s->stats_lock, NULL);
}

void fw_source_fini(struct fw_source *s)
{
	pthread_mutex_destroy(&s->stats_lock);
}

void fw_sleep_until_ns(int64_t t_ns)
{
	struct timespec ts = { .tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000 };

	if (t_ns > fw_monotonic_ns())
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int fw_source_open(struct fw_source **out, const struct fw_source_options *o)
{
	enum fw_source_kind kind = o->kind;
	struct stat st;

	*out = NULL;
	if (kind == FW_SOURCE_AUTO) {
		kind = FW_SOURCE_V4L2;
		if (o->uri && stat(o->uri, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				kind = FW_SOURCE_FOLDER;
			else if (S_ISREG(st.st_mode))
				kind = FW_SOURCE_MJPEG_FILE;
		}
	}
	switch (kind) {
	case FW_SOURCE_V4L2: {
		struct fw_v4l2_options v = { 0 };

		if (o->v4l2)
			v = *o->v4l2;
		v.device = o->uri;
		if (o->width > 0 && o->height > 0) {
			v.width = o->width;
			v.height = o->height;
		}
		if (o->fps > 0)
			v.fps = o->fps;
		return fw_v4l2_source_open(out, &v);
	}
	case FW_SOURCE_MJPEG_FILE:
		return fw_replay_mjpeg_open(out, o);
	case FW_SOURCE_FOLDER:
		return fw_replay_folder_open(out, o);
	default:
		return FW_EINVAL;
	}
}

void fw_source_close(struct fw_source *s)
{
	if (s)
		s->ops->close(s);
}

size_t fw_source_frame_bytes(const struct fw_source *s)
{
	return s->frame_bytes;
}

const char *fw_source_name(const struct fw_source *s)
{
	return s->name;
}

int fw_source_read(struct fw_source *s, struct fw_ring *ring, int timeout_ms)
{
	return s->ops->read(s, ring, timeout_ms);
}

void fw_source_get_stats(struct fw_source *s, struct fw_source_stats *out)
{
	FW_SOURCE_STATS(s, *out = *st);
}

/* --- capture thread ----------------------------------------------------------- */

struct fw_capture {
	pthread_t thread;
	struct fw_source *src;
	struct fw_ring *ring;
	atomic_int stop;
};

static void *capture_main(void *arg)
{
	struct fw_capture *c = arg;

	while (!atomic_load(&c->stop)) {
		/* a short timeout so that stop is noticed quickly even while
		 * the camera is away */
		int err = fw_source_read(c->src, c->ring, 100);

		if (err == 0 || err == -EAGAIN || err == -EINTR)
			continue;
		if (err != -ENODATA)
			fw_log(FW_LOG_ERROR, "%s: capture stopped: %s", fw_source_name(c->src),
			       fw_strerror(err));
		break;
	}
	fw_ring_close(c->ring);
	return NULL;
}

int fw_capture_start(struct fw_capture **out, struct fw_source *s, struct fw_ring *ring)
{
	struct fw_capture *c = calloc(1, sizeof *c);
	int err;

	*out = NULL;
	if (!c)
		return FW_ENOMEM;
	c->src = s;
	c->ring = ring;
	atomic_init(&c->stop, 0);
	err = pthread_create(&c->thread, NULL, capture_main, c);
	if (err) {
		free(c);
		return -err;
	}
	pthread_setname_np(c->thread, "fw-capture");
	*out = c;
	return 0;
}

void fw_capture_stop(struct fw_capture *c)
{
	if (!c)
		return;
	atomic_store(&c->stop, 1);
	pthread_join(c->thread, NULL);
	free(c);
}
