/* The frame ring: a fixed set of frame slots between the capture thread
 * (one producer) and the inference thread (the consumer). Newest wins.
 *
 *   capture thread                       inference thread
 *   f = fw_ring_write_begin(r)           fw_ring_take(r, timeout, &f)
 *   fill f->data, f->bytes, ...          ... decode, detect, fw_frame_mark(f, ...)
 *   fw_ring_write_commit(r, f)           fw_ring_release(r, f)
 *
 * Contract:
 * - The producer never blocks on the consumer: fw_ring_write_begin() returns
 *   a free slot at once; when none is free it takes back the newest
 *   published frame nobody has taken yet (that frame is counted dropped).
 *   The only wait is a mutex held for a few instructions by either side.
 * - The consumer always gets the newest frame published since its last
 *   take; every frame it skipped is counted in `dropped`. So a slow consumer
 *   sees latency bounded by one frame, never a backlog.
 * - Frames cross threads by reference: a frame from fw_ring_take() belongs to
 *   its slot, and the slot is not reused until every reference is released
 *   (fw_ring_retain() adds one, e.g. to hand the frame to the preview).
 *   Between write_begin and commit/abort the slot belongs to the producer
 *   alone. With N slots the producer always finds one as long as consumers
 *   hold at most N - 2 references; 4 slots is the default.
 * - No allocation after fw_ring_create(): slots and their data buffers are
 *   allocated once, each `slot_bytes` large (64-byte aligned).
 *
 * Thread-safety: one producer thread and one consumer thread that takes;
 * a taken frame may be retained and released from any thread. All functions
 * except create/destroy may be called concurrently.
 * Ownership: fw_ring_create() allocates; fw_ring_destroy() frees, after all
 * threads using the ring have stopped.
 */
#ifndef FW_CAPTURE_RING_H
#define FW_CAPTURE_RING_H

#include <stddef.h>
#include <stdint.h>

/* How the bytes of a frame are laid out. */
enum fw_pixfmt {
	FW_PIXFMT_NONE = 0,
	FW_PIXFMT_MJPEG,  /* one JPEG image, SOI to EOI (`bytes` long); stride 0 */
	FW_PIXFMT_YUYV,   /* packed 4:2:2 Y0 U Y1 V, BT.601 limited range; `stride` bytes per row */
	FW_PIXFMT_RGB24,  /* R G B, `stride` bytes per row */
};

/* Name for logs: "MJPEG", "YUYV", "RGB24". */
const char *fw_pixfmt_name(enum fw_pixfmt f);

/* The moments a frame passes on its way, as CLOCK_MONOTONIC nanoseconds
 * (0 = not reached). CAPTURED is the driver's buffer timestamp when the
 * driver stamps with the monotonic clock, else the dequeue time. */
enum fw_frame_stage {
	FW_STAGE_CAPTURED = 0, /* exposure ended / buffer filled by the driver */
	FW_STAGE_DEQUEUED,     /* capture thread has it (DQBUF, or read from a file) */
	FW_STAGE_DECODED,      /* pixels ready for the detector */
	FW_STAGE_INFERRED,     /* detection/recognition done */
	FW_STAGE_PUBLISHED,    /* results sent to subscribers */
	FW_STAGE_COUNT
};

struct fw_frame {
	/* written by the producer between write_begin and commit */
	enum fw_pixfmt format;
	int width, height;            /* pixels */
	int stride;                   /* bytes per row for YUYV/RGB24; 0 for MJPEG */
	size_t bytes;                 /* bytes of `data` in use */
	uint32_t sequence;            /* the source's frame counter (V4L2 buffer sequence);
					 a gap means frames lost before the ring */
	uint32_t session;             /* +1 each time the source (re)opens its device:
					 sequence restarts and timestamps may jump */
	int64_t device_ts_ns;         /* the V4L2 buffer timestamp as the driver gave it, ns */
	int64_t t_ns[FW_STAGE_COUNT]; /* CLOCK_MONOTONIC ns per stage; 0 = not reached */

	/* set by the ring; read-only for everyone else */
	uint64_t index;               /* publication number: 0, 1, 2, ... */
	uint8_t *data;                /* the slot's buffer, `capacity` bytes, 64-byte aligned */
	size_t capacity;
	int slot;
};

struct fw_ring;

struct fw_ring_stats {
	uint64_t published;  /* frames committed */
	uint64_t taken;      /* frames handed to a consumer */
	uint64_t dropped;    /* published but replaced by a newer one before any take */
	uint64_t overruns;   /* write_begin found every slot referenced (consumers hold too many) */
};

/* slots >= 3; slot_bytes > 0. 0, FW_EINVAL or FW_ENOMEM. Free with
 * fw_ring_destroy(). */
int fw_ring_create(struct fw_ring **out, int slots, size_t slot_bytes);
void fw_ring_destroy(struct fw_ring *r);
size_t fw_ring_slot_bytes(const struct fw_ring *r);

/* Producer. Returns a slot to fill (its fields reset: t_ns zeroed, format
 * NONE), or NULL when consumers hold every slot but the one being published
 * (counted in overruns; drop the frame). Never blocks. */
struct fw_frame *fw_ring_write_begin(struct fw_ring *r);
/* Publish f as the newest frame and wake a waiting consumer. */
void fw_ring_write_commit(struct fw_ring *r, struct fw_frame *f);
/* Give the slot back unpublished (the frame turned out bad). */
void fw_ring_write_abort(struct fw_ring *r, struct fw_frame *f);
/* End of stream: consumers get -EPIPE once no frame is left to take.
 * Idempotent; publishing after close is still allowed (and reopens nothing). */
void fw_ring_close(struct fw_ring *r);

/* Consumer. Waits up to timeout_ms (< 0: forever, 0: do not wait) for a
 * frame newer than the last one taken and returns a reference to the newest.
 * 0 and *out set; -ETIMEDOUT; or -EPIPE after fw_ring_close() when nothing
 * new is left. Release the frame with fw_ring_release(). */
int fw_ring_take(struct fw_ring *r, int timeout_ms, struct fw_frame **out);
/* One more reference to a frame already held (e.g. to pass to another thread). */
void fw_ring_retain(struct fw_ring *r, struct fw_frame *f);
void fw_ring_release(struct fw_ring *r, struct fw_frame *f);

void fw_ring_get_stats(struct fw_ring *r, struct fw_ring_stats *st);

/* Stamp a stage with the current CLOCK_MONOTONIC time. Only the thread that
 * holds the frame writes it. */
void fw_frame_mark(struct fw_frame *f, enum fw_frame_stage stage);
/* CLOCK_MONOTONIC in nanoseconds. */
int64_t fw_monotonic_ns(void);

#endif
