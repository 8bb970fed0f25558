/* For tests and the benchmark: the YUYV implementations one by one (the
 * plain C reference that the SSE2 and AVX2 paths must match bit for bit),
 * and the AVX2 row loop that jpeg.c dispatches to. Not a public header. */
#ifndef FW_CAPTURE_JPEG_INTERNAL_H
#define FW_CAPTURE_JPEG_INTERNAL_H

#include <stdint.h>

#include "core/image.h"

/* As fw_yuyv_to_rgb_scaled() (denom 1 = full size), always in plain C. */
void fw_yuyv_to_rgb_ref(const uint8_t *yuyv, int stride, int w, int h, int denom,
			struct fw_image *dst);

enum fw_yuyv_impl {
	FW_YUYV_REF = 0, /* plain C */
	FW_YUYV_SSE2,    /* x86-64 baseline */
	FW_YUYV_AVX2,    /* full size, 1/2 and 1/4 in AVX2; 1/8 as SSE2 */
	FW_YUYV_NEON,    /* aarch64: full-size rows in NEON; scaled in C */
};

/* The best implementation this build and CPU can run, as fw_yuyv_to_rgb*()
 * use it; FACEWATCH_ISA=ref forces FW_YUYV_REF. */
enum fw_yuyv_impl fw_yuyv_impl_best(void);

/* As fw_yuyv_to_rgb_scaled() with the given implementation, or the best
 * one when this build or CPU cannot run it (SSE2 for AVX2 without AVX2);
 * returns the one used. */
enum fw_yuyv_impl fw_yuyv_to_rgb_impl(enum fw_yuyv_impl impl, const uint8_t *yuyv, int stride,
				      int w, int h, int denom, struct fw_image *dst);

/* yuyv_avx2.c: converts the first pairs - pairs % 16 pixel pairs of a row
 * (s: 4 bytes per pair, o: 6) and returns how many it did. x86-64 only,
 * and only on a CPU with AVX2. */
int fw_yuyv_row_avx2(const uint8_t *restrict s, uint8_t *restrict o, int pairs);

/* yuyv_avx2.c: the 1/2 path for the first n - n % 16 output pixels of a row
 * from input rows a and b (each 2x2 block averaged, as the reference);
 * returns how many it did. */
int fw_yuyv_half_row_avx2(const uint8_t *restrict a, const uint8_t *restrict b,
			  uint8_t *restrict o, int n);

/* The same for the 1/4 path: 4x4 blocks from the 4 rows at s. */
int fw_yuyv_quarter_row_avx2(const uint8_t *restrict s, int stride, uint8_t *restrict o, int n);

/* yuyv_neon.c (aarch64 only): as fw_yuyv_row_avx2. */
int fw_yuyv_row_neon(const uint8_t *restrict s, uint8_t *restrict o, int pairs);

#endif
