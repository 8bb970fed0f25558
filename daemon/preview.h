/* The preview hub: hands the newest frame and its results from the
 * inference thread to whoever shows them: the daemon's own window
 * (facewatchd --preview, daemon/preview_window.h) and viewers on the event
 * socket (facectl preview), who get the frames through shared memory.
 *
 *   inference thread                       viewers
 *   fw_preview_publish(p, f, faces, n, ms)  fw_preview_take(p, &last, &f, ...)
 *     (a reference to the ring frame,         ... show f ...
 *      no copy, never waits)                fw_preview_release(p, f)
 *
 * Newest wins: publishing replaces the frame held (releasing it), so a
 * viewer that lags skips frames and the pipeline never waits for it. The
 * hub holds one ring reference, each viewer at most one while it copies or
 * decodes: a ring needs FW_PREVIEW_RING_REFS more slots than without it.
 *
 * Socket viewers (docs/protocol.md, "preview"): the `preview` request,
 * trusted peers only (the picture is the camera's), answers with a memfd
 * (SCM_RIGHTS) holding FW_PREVIEW_SLOTS frame slots; then every processed
 * frame, while someone is subscribed to the opt-in `preview` event, is
 * copied as the camera gave it (MJPEG stays compressed) into the next slot
 * and announced with its results. A slot's header has a generation number,
 * odd while the daemon writes: a reader copies the bytes and checks the
 * generation again (a seqlock), so a slow reader drops a frame rather than
 * shows a torn one. The memfd is sealed against resizing, and against
 * writes by anyone but the daemon's own mapping where the kernel has
 * F_SEAL_FUTURE_WRITE (5.1).
 *
 * Threads: publish from the inference thread; take/release from any
 * thread; serve, share, tick and destroy from the main thread.
 * Ownership: create allocates; destroy releases the frame held and frees.
 * Destroy after every viewer thread has stopped, before the ring.
 */
#ifndef FW_DAEMON_PREVIEW_H
#define FW_DAEMON_PREVIEW_H

#include <stdint.h>

#include "capture/jpeg.h"
#include "capture/ring.h"
#include "core/detector.h"
#include "daemon/events.h"
#include "display/display.h"

#define FW_PREVIEW_MAX_FACES 8
#define FW_PREVIEW_RING_REFS 3   /* the hub, the window, the socket copy */
#define FW_PREVIEW_SLOTS 3

/* Shared-memory layout (little-endian, this machine's): the header at 0,
 * then FW_PREVIEW_SLOTS slots of slot_bytes each from header_bytes on. */
#define FW_PREVIEW_MAGIC "FWPREV1"
struct fw_preview_shm {
	char magic[8];           /* FW_PREVIEW_MAGIC */
	uint32_t slots;
	uint32_t header_bytes;   /* offset of slot 0 */
	uint64_t slot_bytes;     /* per slot, its 64-byte header included */
};
struct fw_preview_slot {
	uint64_t gen;            /* odd while being written; read with acquire order */
	uint64_t index;          /* the frame's publication number */
	uint32_t format;         /* enum fw_pixfmt: 1 MJPEG, 2 YUYV, 3 RGB24 */
	uint32_t width, height, stride;
	uint64_t bytes;          /* of data after this 64-byte header */
	uint8_t pad[24];
};

/* What goes with a frame. */
struct fw_preview_result {
	int n_faces;
	struct fw_display_face faces[FW_PREVIEW_MAX_FACES];
	float latency_ms;
	/* for faces with has_pose, whose points are the 68 landmarks: the
	 * detector's keypoints (the `preview` event sends both, as `frame`) */
	float keypoints[FW_PREVIEW_MAX_FACES][FW_DET_KEYPOINTS][2];
};

struct fw_preview;

/* 0 or FW_ENOMEM. events may be NULL (no socket viewers). */
int fw_preview_create(struct fw_preview **out, struct fw_ring *ring, struct fw_events *events);
void fw_preview_destroy(struct fw_preview *p);

/* Inference thread: f (held by the caller) is the newest frame and r its
 * results. Takes a reference; never blocks beyond a short mutex. */
void fw_preview_publish(struct fw_preview *p, struct fw_frame *f,
			const struct fw_preview_result *r);

/* The newest frame if it is newer than *last (the index of the last one
 * this viewer took; start with UINT64_MAX): 1 with *f (a reference:
 * release it) and *r set, *last updated; 0 when there is nothing new. */
int fw_preview_take(struct fw_preview *p, uint64_t *last, struct fw_frame **f,
		    struct fw_preview_result *r);
void fw_preview_release(struct fw_preview *p, struct fw_frame *f);

/* The head-up numbers now (fps, cpu, drops, isa; latency is per frame). */
void fw_preview_hud(struct fw_preview *p, struct fw_display_hud *h);

/* Main thread, once a second (p may be NULL, as for share): frames dropped
 * so far (camera and ring) and the kernels' name; fps and CPU % are
 * measured here over the second. */
void fw_preview_tick(struct fw_preview *p, uint64_t dropped, const char *isa);

/* Main thread: add the `preview` request to the event server. */
int fw_preview_serve(struct fw_preview *p);

/* Main thread, after each processed frame: copy the newest frame to the
 * shared memory and publish a `preview` event, when anyone subscribed. */
void fw_preview_share(struct fw_preview *p);

/* A frame's bytes as a picture for the window. YUYV and RGB24 go as they
 * are (no copy, no conversion: a YUYV picture becomes a YUY2 texture).
 * MJPEG is decoded into rgb (cap bytes of caller memory, width * height * 3
 * is always enough) at the smallest 1/1, 1/2, 1/4 or 1/8 scale that is
 * still at least want_w x want_h (the window's size; 0: full size). 0, or
 * the decoder's error (FW_EFORMAT, FW_ETRUNC, FW_EINVAL). */
int fw_preview_picture(struct fw_jpeg *j, enum fw_pixfmt format, int width, int height,
		       int stride, const uint8_t *data, size_t bytes, int want_w, int want_h,
		       struct fw_image *rgb, size_t cap, struct fw_display_picture *pic);

#endif
