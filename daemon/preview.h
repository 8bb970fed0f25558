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
 * Decoded once (MJPEG under the daemon's own window): the window says how
 * big it is (fw_preview_want); the inference thread then decodes each frame
 * at the scale the window needs, into a picture buffer the hub lends it
 * (fw_preview_lend), serves its own smaller decodes from that picture
 * (fw_image_shrink) and publishes the picture with the frame. The window
 * shows it as it is and decodes nothing. FW_PREVIEW_PICTURES buffers: the
 * one published, the one the window holds, the one being written; a frame
 * published without a picture (no window, YUYV, no buffer free) is decoded
 * by the window as before (fw_preview_picture).
 *
 * Threads: publish and lend from the inference thread; want, take and
 * release from any thread; serve, share, tick and destroy from the main
 * thread.
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
#define FW_PREVIEW_PICTURES 3    /* published, held by the window, being written */

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
 * results; pic is f decoded for the window (from fw_preview_lend) or NULL.
 * Takes a reference; never blocks beyond a short mutex. */
void fw_preview_publish(struct fw_preview *p, struct fw_frame *f,
			const struct fw_preview_result *r, struct fw_image *pic);

/* The newest frame if it is newer than *last (the index of the last one
 * this viewer took; start with UINT64_MAX): 1 with *f (a reference:
 * release it) and *r set, *last updated; 0 when there is nothing new.
 * pic (may be NULL: not wanted) gets the frame's decoded picture, a
 * reference to release with fw_preview_release_picture, or NULL. */
int fw_preview_take(struct fw_preview *p, uint64_t *last, struct fw_frame **f,
		    struct fw_preview_result *r, const struct fw_image **pic);
void fw_preview_release(struct fw_preview *p, struct fw_frame *f);

/* Wait up to timeout_ms for a frame newer than last (as fw_preview_take
 * counts): 1 when there is one, 0 on timeout. Wakes as a frame is
 * published, so a viewer need not poll. */
int fw_preview_wait(struct fw_preview *p, uint64_t last, int timeout_ms);
void fw_preview_release_picture(struct fw_preview *p, const struct fw_image *pic);

/* The window's size in pixels, from the window's thread (0 x 0: none). */
void fw_preview_want(struct fw_preview *p, int w, int h);

/* Inference thread: the scale (1, 2, 4 or 8) to decode f at for the
 * window, the smallest still as large as the window; 0 when no window
 * wants a decoded picture of f (none open, or f is not MJPEG). */
int fw_preview_want_denom(struct fw_preview *p, const struct fw_frame *f);

/* Inference thread: a picture buffer of at least bytes (*cap: its size)
 * that nobody shows or holds, to decode the frame into before publishing
 * it; the same one again until it is published. NULL when every buffer is
 * held or on ENOMEM: then publish the frame without one. */
struct fw_image *fw_preview_lend(struct fw_preview *p, size_t bytes, size_t *cap);

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
