/* Frame sources: one interface for a V4L2 camera, a recorded .mjpeg file
 * (concatenated JPEGs) and a folder of images, and the capture thread that
 * moves their frames into the ring.
 *
 *   struct fw_source *src;  struct fw_ring *ring;  struct fw_capture *cap;
 *   fw_source_open(&src, &(struct fw_source_options){ .uri = "/dev/video0" });
 *   fw_ring_create(&ring, 4, fw_source_frame_bytes(src));
 *   fw_capture_start(&cap, src, ring);        // thread "fw-capture"
 *   ... inference thread: fw_ring_take / fw_ring_release ...
 *   fw_capture_stop(cap); fw_source_close(src); fw_ring_destroy(ring);
 *
 * A source pushes each frame into the ring with its format, size, sequence
 * and timestamps (ring.h); what it could not deliver is counted in its
 * stats: driver drops (sequence gaps), corrupt and truncated frames (never
 * pushed), frames too big for a slot. A camera that disappears, is busy or
 * stalls is retried inside fw_source_read() with backoff: the process never
 * has to restart, and each kind of trouble is logged once until it changes.
 *
 * Ownership: fw_source_open() allocates; fw_source_close() frees (stop the
 * capture thread first). Thread-safety: fw_source_read() is called by one
 * thread (the capture thread); fw_source_get_stats() may be called from any
 * thread at any time.
 */
#ifndef FW_CAPTURE_SOURCE_H
#define FW_CAPTURE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "capture/ring.h"

enum fw_source_kind {
	FW_SOURCE_AUTO = 0,   /* a directory: FOLDER; a regular file: MJPEG_FILE; else V4L2 */
	FW_SOURCE_V4L2,
	FW_SOURCE_MJPEG_FILE,
	FW_SOURCE_FOLDER,
};

struct fw_v4l2_options; /* capture/v4l2.h */

/* What the user asked for. Zero means "default" everywhere. */
struct fw_source_options {
	enum fw_source_kind kind;
	/* V4L2: a device path, a /dev/v4l/by-id or by-path name (or a unique
	 * part of one), or an index N meaning /dev/videoN; NULL = the first
	 * capture device. Replay: the .mjpeg file or the folder. */
	const char *uri;
	int width, height;    /* V4L2: wanted size (default 640x480); replay: ignored */
	int fps;              /* V4L2: wanted rate (default 30); replay: pace, 0 = as fast as possible */
	int loop;             /* replay: start again after the last frame */
	const struct fw_v4l2_options *v4l2; /* more V4L2 knobs, or NULL; its device,
					       size and fps are overridden by the above */
};

enum fw_source_state {
	FW_SOURCE_STARTING = 0, /* opened, no frame yet */
	FW_SOURCE_OK,           /* frames flowing */
	FW_SOURCE_ABSENT,       /* device not there (unplugged, not yet plugged) */
	FW_SOURCE_BUSY,         /* another process holds the device */
	FW_SOURCE_STALLED,      /* device open but no frame for the stall time */
	FW_SOURCE_FAILED,       /* other device error (permission, format, I/O) */
	FW_SOURCE_ENDED,        /* replay: past the last frame, not looping */
};

const char *fw_source_state_name(enum fw_source_state s);

struct fw_source_stats {
	uint64_t frames;        /* pushed into the ring */
	uint64_t dropped;       /* lost before the ring: driver sequence gaps, and older
				   buffers skipped to hand over the newest */
	uint64_t corrupt;       /* skipped: malformed, or flagged bad by the driver */
	uint64_t truncated;     /* skipped: data ends before the frame does */
	uint64_t oversize;      /* skipped: larger than a ring slot */
	uint64_t reopens;       /* device closed and opened again (unplug, stall, error) */
	uint64_t stalls;        /* times no frame came for the stall time */
	uint64_t loops;         /* replay: times it started again from the first frame */
	enum fw_source_state state;
	int error;              /* the device error behind a non-OK state (negative errno) */
	/* the stream as negotiated (V4L2) or found (replay); 0 before it is known */
	enum fw_pixfmt format;
	int width, height;
	int fps_num, fps_den;   /* frames per second as a fraction */
};

struct fw_source;

/* Opens and, for a camera, negotiates and starts streaming. A camera that is
 * absent or busy at this point is an error (logged, naming the device and,
 * for busy, the process holding it) unless options->v4l2->wait is set.
 * 0 or negative FW_E* / errno. */
int fw_source_open(struct fw_source **out, const struct fw_source_options *o);
void fw_source_close(struct fw_source *s);

/* Bytes a ring slot needs for this source's frames: the largest frame of a
 * replay; for a camera, its buffer size and at least RGB24 at the negotiated
 * size (YUYV up to 1920x1080 when the camera was absent at open). A frame
 * that does not fit is skipped and counted in oversize. */
size_t fw_source_frame_bytes(const struct fw_source *s);
/* For logs: the device path (with its stable name) or the file. */
const char *fw_source_name(const struct fw_source *s);

/* Waits up to timeout_ms for the next frame and pushes it into the ring.
 * 0: a frame was pushed. -EAGAIN: none within the timeout (the camera may
 * be reconnecting; keep calling). -ENODATA: a replay ended (not looping).
 * Other negative values: the source cannot go on. */
int fw_source_read(struct fw_source *s, struct fw_ring *ring, int timeout_ms);

void fw_source_get_stats(struct fw_source *s, struct fw_source_stats *st);

/* --- the capture thread ------------------------------------------------------ */

struct fw_capture;

/* Starts a thread named "fw-capture" calling fw_source_read() in a loop.
 * At the end of a replay, or a fatal source error, it closes the ring so the
 * consumer sees -EPIPE. 0 or a negative errno. */
int fw_capture_start(struct fw_capture **out, struct fw_source *s, struct fw_ring *ring);
/* Stops and joins the thread (within ~100 ms) and frees c. */
void fw_capture_stop(struct fw_capture *c);

#endif
