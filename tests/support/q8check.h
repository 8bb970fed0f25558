/* Checks shared by the int8 kernel tests (test_q8_kernels, test_q8_fuse):
 * the tier under test from cmocka's state, output buffers with a guard after
 * them, the byte-exact comparison every tier owes the reference, and the
 * helpers that make random layers (also test_q8_f32out).
 * Include after <cmocka.h>. */
#ifndef FW_Q8CHECK_H
#define FW_Q8CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/q8.h"
#include "testutil.h"

#define TQ8_GUARD 64 /* bytes of 0xA5 after each output: none may be written */

/* The tier under test, from the cmocka state; skips if this CPU lacks it. */
static inline const struct fw_q8_kernels *tq8_tier(void **state)
{
	const struct fw_q8_kernels *k = fw_q8_kernels_for(*(const enum fw_isa *)*state);

	if (!k) {
		print_message("[   INFO   ] %s: not run by this CPU/build, skipped\n",
			      fw_isa_name(*(const enum fw_isa *)*state));
		skip();
	}
	return k;
}

/* A buffer to receive n output bytes: the complement of the expected bytes
 * (a byte not written fails), then TQ8_GUARD bytes of 0xA5. */
static inline uint8_t *tq8_out_buf(const uint8_t *want, size_t n)
{
	uint8_t *o = tu_xmalloc(n + TQ8_GUARD);

	for (size_t i = 0; i < n; i++)
		o[i] = (uint8_t)~want[i];
	memset(o + n, 0xA5, TQ8_GUARD);
	return o;
}

/* Byte-exact comparison; reports the first difference as (pixel, channel)
 * of c channels, and any write past the n bytes. */
static inline void tq8_assert_bytes(const uint8_t *want, const uint8_t *got, size_t n, size_t c,
				    const char *tier_name, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("%s: %s: byte %zu (pixel %zu, channel %zu) = %u, ref %u", tier_name, what, i,
				 i / c, i % c, got[i], want[i]);
	for (size_t i = 0; i < TQ8_GUARD; i++)
		if (got[n + i] != 0xA5)
			fail_msg("%s: %s: wrote past the output (guard byte %zu)", tier_name, what, i);
}

/* 64-byte aligned memory (packed weights and scratch want it). */
static inline void *tq8_aligned(size_t bytes)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 64, bytes ? bytes : 1), 0);
	return p;
}

/* One of the n values at v, at random. */
static inline int tq8_pick(const int *v, size_t n)
{
	return v[tu_randi(0, (int)n - 1)];
}

/* A conv geometry; out = (in + pads - span) / s + 1, as the converter
 * writes it; -1 if the padded input is smaller than the dilated kernel. */
static inline int tq8_make_geom(struct fw_conv_geom *g, int in_h, int in_w, int in_c, int out_c, int k_h,
				int k_w, int s_h, int s_w, int d_h, int d_w, int pad_t, int pad_b, int pad_l,
				int pad_r, int act)
{
	int span_h = (k_h - 1) * d_h + 1, span_w = (k_w - 1) * d_w + 1;

	if (in_h + pad_t + pad_b < span_h || in_w + pad_l + pad_r < span_w)
		return -1;
	*g = (struct fw_conv_geom){
		.in_h = in_h, .in_w = in_w, .in_c = in_c,
		.out_h = (in_h + pad_t + pad_b - span_h) / s_h + 1,
		.out_w = (in_w + pad_l + pad_r - span_w) / s_w + 1,
		.out_c = out_c,
		.k_h = k_h, .k_w = k_w, .stride_h = s_h, .stride_w = s_w, .dil_h = d_h, .dil_w = d_w,
		.pad_t = pad_t, .pad_l = pad_l, .act = act,
	};
	return 0;
}

/* A geometry in words, for failure messages. */
static inline void tq8_describe(char *buf, size_t n, const char *op, const struct fw_conv_geom *g)
{
	const char *act = g->act == FW_ACT_RELU ? "relu" : g->act == FW_ACT_PRELU ? "prelu" : "none";

	snprintf(buf, n, "%s in %dx%dx%d -> %dx%dx%d k%dx%d s%d,%d d%d,%d pad_t %d pad_l %d act %s", op,
		 g->in_h, g->in_w, g->in_c, g->out_h, g->out_w, g->out_c, g->k_h, g->k_w, g->stride_h,
		 g->stride_w, g->dil_h, g->dil_w, g->pad_t, g->pad_l, act);
}

#endif
