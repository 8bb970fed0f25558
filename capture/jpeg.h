/* Frame decoding: camera frames (MJPEG, YUYV, RGB24) to RGB images.
 *
 * - MJPEG through libjpeg-turbo's TurboJPEG API, optionally scaled by 1/2,
 *   1/4 or 1/8 inside the inverse DCT: a 640x480 frame becomes a 160x120
 *   detector input without ever being decoded at full size. Decodes at 1/4
 *   and 1/8 of the common camera frame (baseline Huffman, grey or YCbCr
 *   4:4:4, 4:2:2, 4:2:0, 4:4:0) go first to a smaller decoder
 *   (capture/jpeg_small.h) that gives TurboJPEG's pixels faster; any other
 *   frame or scale goes to TurboJPEG. FACEWATCH_JPEG=turbo in the environment, read
 *   by fw_jpeg_create(), sends every frame to TurboJPEG.
 * - MJPEG stream structure: a marker-level parser that finds where a frame
 *   ends (so a truncated or corrupt frame is refused before decoding, and
 *   a .mjpeg file can be split into frames) and reads the frame size.
 * - YUYV (BT.601 limited range, as UVC webcams send it) to RGB, full size or
 *   box-averaged down by 1/2, 1/4, 1/8 in one pass. A plain C reference,
 *   SSE2 paths (x86-64 baseline) and AVX2 (picked at run time when the CPU
 *   has it), all with bit-identical results; FACEWATCH_ISA=ref forces the
 *   reference.
 *
 * No function here reads outside [buf, buf + len) or writes outside
 * [dst->data, dst->data + cap), whatever the bytes say.
 *
 * Ownership and threads: fw_jpeg_create() allocates a decoder; free it with
 * fw_jpeg_destroy(). A decoder is used by one thread at a time (the
 * inference thread owns one). Every other function is pure and reentrant.
 * Decoding writes into caller memory; nothing here allocates per frame
 * (libjpeg's own per-image working memory aside).
 */
#ifndef FW_CAPTURE_JPEG_H
#define FW_CAPTURE_JPEG_H

#include <stddef.h>
#include <stdint.h>

#include "capture/ring.h"
#include "core/image.h"

struct fw_jpeg;

/* 0 or FW_ENOMEM. */
int fw_jpeg_create(struct fw_jpeg **out);
void fw_jpeg_destroy(struct fw_jpeg *j);

/* The size after decoding at 1/denom (denom 1, 2, 4 or 8), as libjpeg
 * rounds it: ceil(w / denom). */
void fw_jpeg_scaled_size(int w, int h, int denom, int *sw, int *sh);

/* The largest denom in {1, 2, 4, 8} whose scaled size is still at least
 * min_w x min_h (1 when even full size is smaller). For the detector:
 * fw_jpeg_pick_scale(640, 480, 160, 120) == 4. */
int fw_jpeg_pick_scale(int w, int h, int min_w, int min_h);

/* The largest denom whose scaled longer side is still at least min_long,
 * whatever the aspect: fw_jpeg_pick_scale_long(640, 360, 320) == 2, where
 * asking for 320 x 240 would decode 640 x 360 whole. */
int fw_jpeg_pick_scale_long(int w, int h, int min_long);

/* Decode one JPEG of len bytes at 1/denom into dst: dst->data points to cap
 * bytes of caller memory; on success dst->width/height are the scaled size
 * and dst->stride is 3 * width. Fast integer DCT and upsampling when scaled
 * (detector input); the accurate ones at full size.
 * Returns 0; FW_ETRUNC (data ends early); FW_EFORMAT (not a JPEG or
 * corrupt data: a frame with damaged entropy data is refused, not shown
 * with grey blocks); FW_EINVAL (bad denom or cap too small, no message);
 * FW_EUNSUPPORTED (larger than 16384 per side).
 * Failures are not logged here: a camera stream counts them instead. */
int fw_jpeg_decode(struct fw_jpeg *j, const void *buf, size_t len, int denom,
		   struct fw_image *dst, size_t cap);

/* Any frame from the ring to RGB at 1/denom: MJPEG as above, YUYV with
 * fw_yuyv_to_rgb_scaled(), RGB24 copied (box-averaged when denom > 1).
 * The sizes for YUYV and RGB24 are floor(w / denom). j may be NULL when the
 * frame is not MJPEG. Same return codes as fw_jpeg_decode(). */
int fw_frame_to_rgb(struct fw_jpeg *j, const struct fw_frame *f, int denom,
		    struct fw_image *dst, size_t cap);

/* --- MJPEG structure ------------------------------------------------------ */

/* Check that buf starts with one complete JPEG: SOI, marker segments whose
 * lengths stay inside the buffer, a frame header (SOF) before the first scan,
 * and an EOI after the entropy-coded data. Segments are skipped by their
 * lengths, so an EXIF thumbnail (a JPEG inside APP1) is not mistaken for
 * the end. Sets *used to the bytes up to and including EOI (drivers may pad
 * after it) and *w, *h from the SOF (any may be NULL).
 * Returns 0, FW_ETRUNC (buffer ends before EOI) or FW_EFORMAT. */
int fw_mjpeg_check(const uint8_t *buf, size_t len, size_t *used, int *w, int *h);

/* Stream splitter: the next complete frame at or after *pos in a buffer of
 * concatenated JPEGs (a .mjpeg file). Bytes that are not a valid frame are
 * skipped; *skipped_bad counts frames that started (SOI) but were corrupt
 * or cut short by the next SOI, and may be NULL.
 * Returns 0 with [*start, *start + *size) the frame and *pos just after it;
 * -ENODATA when no complete frame is left (*pos then = len). */
int fw_mjpeg_next(const uint8_t *buf, size_t len, size_t *pos, size_t *start, size_t *size,
		  unsigned *skipped_bad);

/* --- YUYV ------------------------------------------------------------------ */

/* YUYV (w even, rows stride bytes apart) to RGB of the same size;
 * dst->width/height must equal w/h. BT.601 limited range, 8-bit fixed point
 * as the usual integer formulas (R = (298 C + 409 E + 128) >> 8 ...). */
void fw_yuyv_to_rgb(const uint8_t *yuyv, int stride, int w, int h, struct fw_image *dst);

/* YUYV straight to a 1/denom RGB image (denom 1, 2, 4, 8): each output pixel
 * is the mean of a denom x denom block of Y and of the U, V samples that
 * cover it, converted once. dst->width/height must be floor(w/denom),
 * floor(h/denom). Much cheaper than converting and then resizing. */
void fw_yuyv_to_rgb_scaled(const uint8_t *yuyv, int stride, int w, int h, int denom,
			   struct fw_image *dst);

#endif
