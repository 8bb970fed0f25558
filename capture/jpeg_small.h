/* A small MJPEG decoder for the detector input: the common camera frame
 * decoded straight to 1/4 or 1/8 size, faster than TurboJPEG because
 * it keeps only the coefficients the reduced output needs and has no
 * per-block call overhead. Internal to capture/: fw_jpeg_decode() (jpeg.h)
 * tries it first and falls back to TurboJPEG when it declines.
 *
 * Handled here (everything else is declined, never guessed at):
 * - baseline or extended sequential Huffman (SOF0, SOF1), 8-bit samples,
 *   one interleaved scan holding every component;
 * - 1 component (grey), or 3 components YCbCr (JFIF, or no colour marker
 *   and component ids other than 'R' 'G' 'B'; no Adobe APP14 marker);
 * - luma sampling H, V in {1, 2} with chroma 1x1 (4:4:4, 4:2:2, 4:2:0,
 *   4:4:0); any grey sampling;
 * - restart intervals (DRI, RST0..7); frames without DHT use the standard
 *   tables of ITU-T T.81 K.3, as libjpeg does for UVC MJPEG;
 * - any size up to 16384 per side; denom 4 and 8. Denom 2 is declined:
 *   there four times the pixels go through the IDCT and colour conversion,
 *   which TurboJPEG does in SIMD and this decoder in plain C, and it
 *   measured slower (1.6 vs 0.8 ms, 640x480 4:2:2).
 *
 * The output is what TurboJPEG gives with TJFLAG_FASTDCT | FASTUPSAMPLE for
 * the same denom, bit for bit: the same reduced IDCTs (libjpeg's jidctred
 * arithmetic: 1x1, 2x2, 4x4 outputs per block), the same choice of a larger
 * chroma IDCT where it replaces upsampling (4:2:0: 4x4 at 1/4, 2x2 at 1/8),
 * chroma replication otherwise, and JFIF BT.601 full-range colour in
 * libjpeg's fixed point. (TurboJPEG picks its own scale from the output
 * size, so a frame of a few pixels, where 1/1 gives the same size, it
 * decodes whole: there the two differ by a few levels.)
 *
 * Damaged entropy data is refused: an invalid Huffman code, a coefficient
 * index past 63, a DC value out of the 8-bit range, a wrong or missing RSTn
 * (FW_EFORMAT); data or scan ending before the last MCU, no EOI (FW_ETRUNC).
 * Reads stay inside [buf, buf + len); writes inside [dst->data, + cap).
 *
 * Ownership: fw_jpeg_small_create() allocates, fw_jpeg_small_destroy()
 * frees. One thread at a time. Work memory grows only when a frame needs
 * more than any before it; a steady stream allocates nothing.
 */
#ifndef FW_CAPTURE_JPEG_SMALL_H
#define FW_CAPTURE_JPEG_SMALL_H

#include <stddef.h>
#include <stdint.h>

#include "core/image.h"

/* Returned (positive) when the frame is not one this decoder handles. */
#define FW_JPEG_SMALL_DECLINED 1

struct fw_jpeg_small;

/* 0 or FW_ENOMEM. */
int fw_jpeg_small_create(struct fw_jpeg_small **out);
void fw_jpeg_small_destroy(struct fw_jpeg_small *s);

/* As fw_jpeg_decode() (same sizes and codes) for the frames described
 * above, or FW_JPEG_SMALL_DECLINED (nothing written) for any other frame,
 * any denom but 2, 4, 8, and any header this parser does not accept (so
 * TurboJPEG reports header errors as it always has). FW_ENOMEM when work
 * memory cannot grow. */
int fw_jpeg_small_decode(struct fw_jpeg_small *s, const uint8_t *buf, size_t len, int denom,
			 struct fw_image *dst, size_t cap);

#endif
