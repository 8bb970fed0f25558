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
#include "convgeom.h"
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

/* A geometry in words, for failure messages. */
static inline void tq8_describe(char *buf, size_t n, const char *op, const struct fw_conv_geom *g)
{
	const char *act = g->act == FW_ACT_RELU ? "relu" : g->act == FW_ACT_PRELU ? "prelu" : "none";

	snprintf(buf, n, "%s in %dx%dx%d -> %dx%dx%d k%dx%d s%d,%d d%d,%d pad_t %d pad_l %d act %s", op,
		 g->in_h, g->in_w, g->in_c, g->out_h, g->out_w, g->out_c, g->k_h, g->k_w, g->stride_h,
		 g->stride_w, g->dil_h, g->dil_w, g->pad_t, g->pad_l, act);
}

#endif
