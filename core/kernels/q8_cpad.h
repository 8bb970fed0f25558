/* The block driver behind each ISA's add_cpad (q8.h), included by the ISA
 * files only.
 *
 * b holds cb channels per pixel, a and out c. Per block of pixels, b is
 * widened to c channels in a stack buffer (the missing channels zb, as
 * fw_q8_pad fills them), which stays in L1, and the block goes through the
 * ISA's flat add. So the bytes are those of PAD then ADD by construction,
 * and add_cpad is exactly as fast as the flat add plus one copy of b into
 * L1: the PAD's second pass over memory and its tensor are gone.
 *
 * widen(b, n_px, c, cb, zb, tmp) writes n_px pixels of c bytes to tmp; it
 * may write up to FW_Q8_CPAD_SLACK bytes past n_px * c (the next pixel
 * overwrites them) and must not read past n_px * cb bytes of b.
 */
#ifndef FW_KERNELS_Q8_CPAD_H
#define FW_KERNELS_Q8_CPAD_H

#include <assert.h>
#include <string.h>

#include "q8.h"

#define FW_Q8_CPAD_TMP 4096 /* bytes of widened b per block: a quarter of L1 */
#define FW_Q8_CPAD_SLACK 64

typedef void (*fw_q8_flat_add_fn)(const uint8_t *a, const uint8_t *b, size_t n,
				  const struct fw_q8_add *p, uint8_t *out);
typedef void (*fw_q8_widen_fn)(const uint8_t *b, size_t n_px, int c, int cb, uint8_t zb,
			       uint8_t *tmp);

/* widen with memcpy/memset: the portable one. */
static inline void fw_q8_widen_c(const uint8_t *b, size_t n_px, int c, int cb, uint8_t zb,
				 uint8_t *tmp)
{
	for (size_t px = 0; px < n_px; px++, b += cb, tmp += c) {
		memcpy(tmp, b, (size_t)cb);
		memset(tmp + cb, zb, (size_t)(c - cb));
	}
}

static inline void fw_q8_cpad_run(const uint8_t *a, const uint8_t *b, size_t pixels, int c, int cb,
				  const struct fw_q8_add *p, uint8_t *out, fw_q8_flat_add_fn add,
				  fw_q8_widen_fn widen)
{
	_Alignas(64) uint8_t tmp[FW_Q8_CPAD_TMP + FW_Q8_CPAD_SLACK];
	const uint8_t zb = (uint8_t)p->zb;

	assert(cb >= 0 && cb <= c);
	if (c <= FW_Q8_CPAD_TMP) {
		const size_t block = (size_t)(FW_Q8_CPAD_TMP / c);

		for (size_t px = 0; px < pixels; px += block) {
			const size_t n = pixels - px < block ? pixels - px : block;

			widen(b + px * (size_t)cb, n, c, cb, zb, tmp);
			add(a + px * (size_t)c, tmp, n * (size_t)c, p, out + px * (size_t)c);
		}
		return;
	}
	/* wider pixels than the buffer (no real model): b's channels in place,
	 * then the padded ones against a buffer of zb */
	memset(tmp, zb, FW_Q8_CPAD_TMP);
	for (size_t px = 0; px < pixels; px++, a += c, b += cb, out += c) {
		add(a, b, (size_t)cb, p, out);
		for (int ch = cb; ch < c; ch += FW_Q8_CPAD_TMP) {
			const int n = c - ch < FW_Q8_CPAD_TMP ? c - ch : FW_Q8_CPAD_TMP;

			add(a + ch, tmp, (size_t)n, p, out + ch);
		}
	}
}

#endif
