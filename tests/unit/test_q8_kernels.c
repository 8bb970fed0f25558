/* int8 kernels (core/kernels/q8.h).
 *
 * q8.h promises that every ISA tier gives the same bytes as the reference.
 * Three kinds of check:
 *  - the reference against cases worked out by hand (accumulator, scale,
 *    rounding half to even at exact .5, clamping, padded taps reading
 *    zero_in; the fixed-point add's sums, ties, ReLU and saturation), run
 *    on every tier too, and the add within a code of the real-number sum;
 *  - the zero-point folding identity: the reference with zero_in folded into
 *    bias_q equals the float conv of the dequantised values within one LSB,
 *    so the integer maths computes what the float model meant;
 *  - every tier this CPU runs against the reference, byte for byte, on
 *    ~300 random awkward shapes per op (odd sizes and channel counts, K not
 *    a multiple of 4, asymmetric pads, strides, dilation, more than 64
 *    output channels, all activations with negative PReLU slopes, zero
 *    points 0..255, scales that drive outputs to clamp at 0 and 255, random
 *    bias, no bias), plus the real BlazeFace / MobileFaceNet layer shapes.
 * Outputs start as the complement of the reference, so a byte a kernel
 * forgets to write always fails; 64 guard bytes after each output catch
 * overruns without AddressSanitizer. Packed weights and scratch are exactly
 * the sizes the tier asked for (64-byte aligned), so ASan sees any overrun.
 * Under valgrind AVX-512 is hidden and its tests are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/kernels.h"
#include "core/kernels/q8.h"
#include "core/model_format.h"
#include "q8check.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------- */

/* s8 weights, with the extremes -128 and 127 common */
static int8_t *rand_s8(size_t n)
{
	int8_t *p = tu_xmalloc(n);

	for (size_t i = 0; i < n; i++) {
		int r = tu_randi(0, 9);

		p[i] = (int8_t)(r == 0 ? -128 : r == 1 ? 127 : tu_randi(-128, 127));
	}
	return p;
}

static const char *act_name(int act)
{
	return act == FW_ACT_RELU ? "relu" : act == FW_ACT_PRELU ? "prelu" : "none";
}

/* ---- one quantised layer ------------------------------------------------- */

struct qlayer {
	struct fw_conv_geom g;
	int dw;                 /* depthwise (weights 1HWC) or conv (OHWI) */
	uint8_t *in, zero_in;
	int8_t *w;
	int32_t *bias;          /* or NULL */
	float *scale, *slope;   /* slope NULL unless PRELU */
	struct fw_q8_requant rq;
	size_t n_in, n_w, n_out, k;
};

static void qlayer_free(struct qlayer *q)
{
	free(q->in), free(q->w), free(q->bias), free(q->scale), free(q->slope);
}

/* Random data for geometry g. Scales are set from the typical accumulator
 * size so that most outputs land inside 0..255, except for one layer in
 * four whose scales are 20x larger (many outputs clamp at 0 and 255);
 * one in six has no bias. */
static void qlayer_random(struct qlayer *q, const struct fw_conv_geom *g, int dw)
{
	const size_t taps = (size_t)g->k_h * (size_t)g->k_w;
	const int hot = tu_randi(0, 3) == 0;

	memset(q, 0, sizeof *q);
	q->g = *g;
	q->dw = dw;
	q->n_in = (size_t)g->in_h * g->in_w * g->in_c;
	q->k = dw ? taps : taps * (size_t)g->in_c;
	q->n_w = dw ? taps * (size_t)g->in_c : (size_t)g->out_c * q->k;
	q->n_out = (size_t)g->out_h * g->out_w * g->out_c;
	q->in = tu_rand_u8(q->n_in);
	q->zero_in = (uint8_t)tu_randi(0, 255);
	q->w = rand_s8(q->n_w);
	/* the spread of sum_k x*w for random data: sqrt(K) * rms(x) * rms(w) */
	const float typical = 147.0f * 74.0f * sqrtf((float)q->k);
	if (tu_randi(0, 5) != 0) {
		q->bias = tu_xmalloc((size_t)g->out_c * sizeof *q->bias);
		for (int i = 0; i < g->out_c; i++)
			q->bias[i] = (int32_t)tu_randf(-typical, typical);
	}
	q->scale = tu_xmalloc((size_t)g->out_c * sizeof *q->scale);
	for (int i = 0; i < g->out_c; i++)
		q->scale[i] = tu_randf(0.1f, 1.0f) * 128.0f / typical * (hot ? 20.0f : 1.0f);
	if (g->act == FW_ACT_PRELU) {
		q->slope = tu_xmalloc((size_t)g->out_c * sizeof *q->slope);
		for (int i = 0; i < g->out_c; i++)
			q->slope[i] = tu_randf(-2.0f, 2.0f);
		q->slope[0] = -0.75f; /* PReLU must not be max(x, a*x) */
	}
	q->rq = (struct fw_q8_requant){
		.scale = q->scale, .slope = q->slope, .zero_out = tu_randi(0, 255), .act = g->act,
	};
}

/* Run layer q through tier k into out (n_out bytes). */
static void qlayer_run(const struct fw_q8_kernels *k, const struct qlayer *q, uint8_t *out)
{
	if (q->dw) {
		k->dwconv(&q->g, q->in, q->zero_in, q->w, q->bias, &q->rq, out);
		return;
	}
	size_t packed_bytes = k->conv_packed_size(&q->g), scratch_bytes = k->conv_scratch(&q->g);
	void *packed = tq8_aligned(packed_bytes);
	void *scratch = scratch_bytes ? tq8_aligned(scratch_bytes) : NULL; /* none when none asked for */

	k->conv_pack(&q->g, q->w, packed);
	k->conv(&q->g, q->in, q->zero_in, packed, q->bias, &q->rq, out, scratch);
	free(packed), free(scratch);
}

static uint8_t *qlayer_ref(const struct qlayer *q)
{
	const struct fw_q8_kernels *ref = fw_q8_kernels_for(FW_ISA_REF);
	uint8_t *want = tu_xmalloc(q->n_out);

	assert_non_null(ref);
	qlayer_run(ref, q, want);
	return want;
}

/* Tier k against the reference on layer q; returns the number of output
 * bytes at 0 or 255 (to prove the clamping paths ran). */
static size_t qlayer_check(const struct fw_q8_kernels *k, const struct qlayer *q)
{
	uint8_t *want = qlayer_ref(q), *got = tq8_out_buf(want, q->n_out);
	char what[200];
	size_t clamped = 0;

	tq8_describe(what, sizeof what, q->dw ? "dwconv" : "conv", &q->g);
	qlayer_run(k, q, got);
	tq8_assert_bytes(want, got, q->n_out, (size_t)q->g.out_c, k->name, what);
	for (size_t i = 0; i < q->n_out; i++)
		clamped += want[i] == 0 || want[i] == 255;
	free(want), free(got);
	return clamped;
}

/* ---- the reference, by hand (and every tier on the same cases) ----------- */

static const enum fw_isa isa_ref = FW_ISA_REF, isa_avx2 = FW_ISA_AVX2, isa_avx512 = FW_ISA_AVX512,
			 isa_neon = FW_ISA_NEON, isa_neondot = FW_ISA_NEON_DOT, isa_amx = FW_ISA_AMX;

/* A 1x1 conv on one pixel with one input channel x = 1 and w = 1, so that
 * acc[oc] = bias[oc] + 1 is whatever the bias says. */
static void conv_1x1_by_hand(const struct fw_q8_kernels *k, const int32_t *bias, const float *scale,
			     const float *slope, int act, int32_t zero_out, int n, const uint8_t *want)
{
	struct fw_conv_geom g;
	uint8_t in = 1, out[64 + TQ8_GUARD];
	int8_t w[64];
	struct fw_q8_requant rq = {.scale = scale, .slope = slope, .zero_out = zero_out, .act = act};
	struct qlayer q = {.dw = 0, .in = &in, .zero_in = 0, .w = w, .bias = (int32_t *)bias,
			   .n_out = (size_t)n, .rq = rq};

	assert_true(n <= 64);
	assert_int_equal(tu_make_geom(&g, 1, 1, 1, n, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, act), 0);
	q.g = g;
	for (int i = 0; i < n; i++)
		w[i] = 1;
	memset(out, 0xA5, sizeof out);
	qlayer_run(k, &q, out);
	for (int i = 0; i < n; i++)
		if (out[i] != want[i])
			fail_msg("%s: channel %d: acc %d scale %g -> %u, want %u", k->name, i, bias[i] + 1,
				 (double)scale[i], out[i], want[i]);
	for (int i = n; i < n + TQ8_GUARD; i++)
		assert_int_equal(out[i], 0xA5);
}

static void test_conv_rounding_and_clamping_by_hand(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	/* acc = bias + 1; v = acc * scale; q = nearbyint(v) + 100, clamped */
	static const int32_t bias[] = {
		4, 6, -6, -8, 0, 2, -2,       /* acc 5, 7, -5, -7, 1, 3, -1: v = +-2.5, +-3.5, 0.5, 1.5, -0.5 */
		399, -301,                    /* v = 200, -150: 300 -> 255, -50 -> 0 */
		1 << 30, -(1 << 30),          /* far beyond int32 after x8: 255, 0 */
		154, 155, -101, -102,         /* v = 155 (255), 156 (clamps), -101 +100 = -1 (0) ... */
		41, -40,                      /* acc 42 * 0.1f, -39 * 0.1f: ordinary rounding */
	};
	static const float scale[] = {
		0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f,
		0.5f, 0.5f,
		8.0f, 8.0f,
		1.0f, 1.0f, 1.0f, 1.0f,
		0.1f, 0.1f,
	};
	static const uint8_t want[] = {
		102, 104, 98, 96, 100, 102, 100,  /* half to even: 2.5->2, 3.5->4, -2.5->-2, -3.5->-4, 0.5->0, 1.5->2, -0.5->-0 */
		255, 0,
		255, 0,
		255, 255, 0, 0,                   /* 155+100, 156+100, -100+100=0, -101+100=-1->0 */
		104, 96,                          /* 4.2 -> 4, -3.9 -> -4 */
	};
	_Static_assert(ARRAY_LEN(bias) == ARRAY_LEN(scale) && ARRAY_LEN(bias) == ARRAY_LEN(want), "table");

	conv_1x1_by_hand(k, bias, scale, NULL, FW_ACT_NONE, 100, (int)ARRAY_LEN(bias), want);
}

/* Outputs far past 255 and below 0 in a layer big enough (16x16 pixels)
 * that the AVX-512 kernels check whether any v can reach 2^30 and leave the
 * clamp to 512 out when none can (1x1 conv, then each 3x3 depthwise path): one channel that can (large bias and
 * scale, or a PReLU slope that turns a large negative v positive) and one
 * that cannot, side by side, in every pixel. */
static void test_conv_large_v_in_a_large_layer(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	enum { HW = 16, C = 5 };
	static const int32_t bias[C] = {1 << 30, -(1 << 28), 5, -7, INT32_MIN};
	static const float scale[C] = {8.0f, 1.0f, 0.5f, 0.5f, -1.0f};
	static const float slope[C] = {0.25f, -16.0f, 0.25f, 0.5f, 0.25f};
	/* 2^33 -> 255; -2^28 * -16 = 2^32 -> 255; 2.5 -> 2 + 100; -3.5 * 0.5 = -1.75 -> -2 + 100;
	 * INT32_MIN * -1 = 2^31 -> 255 */
	static const uint8_t want[C] = {255, 255, 102, 98, 255};
	uint8_t in[HW * HW], out[HW * HW * C + TQ8_GUARD];
	int8_t w[C] = {0};
	struct fw_conv_geom g;

	memset(in, 200, sizeof in);
	/* all channels in one layer, then each alone (the check is per layer) */
	for (int first = -1; first < C; first++) {
		const int n = first < 0 ? C : 1, c0 = first < 0 ? 0 : first;
		struct fw_q8_requant rq = {.scale = scale + c0, .slope = slope + c0, .zero_out = 100,
					   .act = FW_ACT_PRELU};
		struct qlayer q = {.dw = 0, .in = in, .zero_in = 0, .w = w, .bias = (int32_t *)bias + c0,
				   .n_out = (size_t)HW * HW * (size_t)n, .rq = rq};

		assert_int_equal(tu_make_geom(&g, HW, HW, 1, n, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_PRELU), 0);
		q.g = g;
		memset(out, 0xA5, sizeof out);
		qlayer_run(k, &q, out);
		for (int i = 0; i < HW * HW * n; i++)
			if (out[i] != want[c0 + i % n])
				fail_msg("%s: pixel %d channel %d = %u, want %u", k->name, i / n, c0 + i % n, out[i],
					 want[c0 + i % n]);
		for (int i = HW * HW * n; i < HW * HW * n + TQ8_GUARD; i++)
			assert_int_equal(out[i], 0xA5);
	}

	/* the same channels repeated, through each 3x3 depthwise path */
	static const int dw_c[] = {8, 24, 64};
	for (size_t t = 0; t < ARRAY_LEN(dw_c); t++) {
		const int c = dw_c[t];
		int32_t db[64];
		float ds[64], dsl[64];
		int8_t dw[9 * 64];
		static uint8_t din[HW * HW * 64], dout[HW * HW * 64 + TQ8_GUARD];
		struct fw_q8_requant drq = {.scale = ds, .slope = dsl, .zero_out = 100, .act = FW_ACT_PRELU};
		struct qlayer dq = {.dw = 1, .in = din, .zero_in = 3, .w = dw, .bias = db,
				    .n_out = (size_t)HW * HW * (size_t)c, .rq = drq};

		for (int ch = 0; ch < c; ch++)
			db[ch] = bias[ch % C], ds[ch] = scale[ch % C], dsl[ch] = slope[ch % C];
		memset(dw, 0, sizeof dw);
		memset(din, 200, sizeof din);
		assert_int_equal(tu_make_geom(&g, HW, HW, c, c, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, FW_ACT_PRELU), 0);
		dq.g = g;
		memset(dout, 0xA5, sizeof dout);
		qlayer_run(k, &dq, dout);
		for (int i = 0; i < HW * HW * c; i++)
			if (dout[i] != want[i % c % C])
				fail_msg("%s: dwconv %d channels: pixel %d channel %d = %u, want %u", k->name, c, i / c,
					 i % c, dout[i], want[i % c % C]);
		for (int i = HW * HW * c; i < HW * HW * c + TQ8_GUARD; i++)
			assert_int_equal(dout[i], 0xA5);
	}
}

static void test_conv_activations_by_hand(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	/* acc = 11, -9, -21, 0 (bias + 1) at scale 1, zero_out 50 */
	static const int32_t bias[] = {10, -10, -22, -1};
	static const float scale[] = {1.0f, 1.0f, 1.0f, 1.0f};
	static const float slope[] = {-0.5f, 0.25f, -2.0f, 3.0f};
	static const uint8_t want_none[] = {61, 41, 29, 50};
	static const uint8_t want_relu[] = {61, 50, 50, 50};
	/* PReLU: 11 stays; -9 * 0.25 = -2.25 -> -2; -21 * -2 = 42; 0 stays */
	static const uint8_t want_prelu[] = {61, 48, 92, 50};

	conv_1x1_by_hand(k, bias, scale, NULL, FW_ACT_NONE, 50, 4, want_none);
	conv_1x1_by_hand(k, bias, scale, NULL, FW_ACT_RELU, 50, 4, want_relu);
	conv_1x1_by_hand(k, bias, scale, slope, FW_ACT_PRELU, 50, 4, want_prelu);
}

static void test_conv_accumulator_by_hand(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	/* one pixel, 3 channels in, 2 out:
	 *   acc0 = 100 + 10*1 + 20*-2 + 30*3   = 160  -> * 0.25 = 40  -> +10 = 50
	 *   acc1 = -50 + 10*4 + 20*5 + 30*-6   = -90  -> * 0.5 = -45 -> +10 = -35 -> 0
	 * and the extremes: 255 * -128 * 3 + 0 = -97920 -> * -0.001 = 97.92 -> 98 + 10 */
	struct fw_conv_geom g;
	uint8_t in[3] = {10, 20, 30}, in2[3] = {255, 255, 255}, out[2 + TQ8_GUARD];
	int8_t w[6] = {1, -2, 3, 4, 5, -6}, w2[3] = {-128, -128, -128};
	int32_t bias[2] = {100, -50};
	float scale[2] = {0.25f, 0.5f}, scale2[1] = {-0.001f};
	struct qlayer q = {.in = in, .w = w, .bias = bias, .n_out = 2,
			   .rq = {.scale = scale, .zero_out = 10, .act = FW_ACT_NONE}};

	assert_int_equal(tu_make_geom(&g, 1, 1, 3, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_NONE), 0);
	q.g = g;
	memset(out, 0xA5, sizeof out);
	qlayer_run(k, &q, out);
	assert_int_equal(out[0], 50);
	assert_int_equal(out[1], 0);
	assert_int_equal(out[2], 0xA5);

	assert_int_equal(tu_make_geom(&g, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_NONE), 0);
	q = (struct qlayer){.g = g, .in = in2, .w = w2, .n_out = 1,
			    .rq = {.scale = scale2, .zero_out = 10, .act = FW_ACT_NONE}};
	qlayer_run(k, &q, out);
	assert_int_equal(out[0], 108);
}

static void test_conv_padding_reads_zero_in(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	/* 2x2x1 input of 7s, zero_in 3, 3x3 all-ones kernel, pad 1 all round:
	 * every output sees the 4 real pixels and 5 padded taps:
	 * acc = 4*7 + 5*3 = 43; a second channel has weights 2 (86). */
	struct fw_conv_geom g;
	uint8_t in[4] = {7, 7, 7, 7}, out[8 + TQ8_GUARD];
	int8_t w[18];
	float scale[2] = {1.0f, 1.0f};
	struct qlayer q = {.in = in, .zero_in = 3, .w = w, .n_out = 8,
			   .rq = {.scale = scale, .zero_out = 0, .act = FW_ACT_NONE}};

	for (int i = 0; i < 9; i++)
		w[i] = 1, w[9 + i] = 2;
	assert_int_equal(tu_make_geom(&g, 2, 2, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, FW_ACT_NONE), 0);
	q.g = g;
	memset(out, 0xA5, sizeof out);
	qlayer_run(k, &q, out);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(out[2 * i], 43);
		assert_int_equal(out[2 * i + 1], 86);
	}
	assert_int_equal(out[8], 0xA5);
}

static void test_dwconv_by_hand(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	/* 3x3 input, 2 channels: channel 0 is the ramp 1..9, channel 1 all 10;
	 * zero_in 5; 3x3 kernel, pad 1, stride 2 -> 2x2 outputs.
	 * ch0 weights all 1, ch1 weights: centre 2, rest -1.
	 * out (0,0): taps rows -1..1, cols -1..1: real ones (0,0),(0,1),(1,0),(1,1)
	 *   ch0 = 1+2+4+5 + 5 pads*5 = 12 + 25 = 37
	 *   ch1 = centre is (0,0) -> 2*10, other real 3 * -10, pads 5 * -5 = 20 - 30 - 25 = -35
	 * out (1,1): centre (2,2), real (1,1),(1,2),(2,1),(2,2): ch0 = 5+6+8+9 + 25 = 53
	 *   ch1 = -35 again by symmetry. bias {0, 100}, scale 1, zero_out 0:
	 *   ch1 -> 65; (0,1): centre (0,2): real (0,1),(0,2),(1,1),(1,2) ch0 = 2+3+5+6+25 = 41;
 *   (1,0): centre (2,0): real (1,0),(1,1),(2,0),(2,1) ch0 = 4+5+7+8+25 = 49 */
	struct fw_conv_geom g;
	uint8_t in[18], out[8 + TQ8_GUARD];
	int8_t w[18];
	int32_t bias[2] = {0, 100};
	float scale[2] = {1.0f, 1.0f};
	struct qlayer q = {.dw = 1, .in = in, .zero_in = 5, .w = w, .bias = bias, .n_out = 8,
			   .rq = {.scale = scale, .zero_out = 0, .act = FW_ACT_NONE}};
	static const uint8_t want[8] = {37, 65, 41, 65, 49, 65, 53, 65};

	for (int i = 0; i < 9; i++) {
		in[2 * i] = (uint8_t)(i + 1), in[2 * i + 1] = 10;
		w[2 * i] = 1, w[2 * i + 1] = (int8_t)(i == 4 ? 2 : -1);
	}
	assert_int_equal(tu_make_geom(&g, 3, 3, 2, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, FW_ACT_NONE), 0);
	assert_int_equal(g.out_h, 2);
	q.g = g;
	memset(out, 0xA5, sizeof out);
	qlayer_run(k, &q, out);
	for (int i = 0; i < 8; i++)
		if (out[i] != want[i])
			fail_msg("%s: dwconv byte %d = %u, want %u", k->name, i, out[i], want[i]);
	assert_int_equal(out[8], 0xA5);
}

static void test_add_by_hand(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	/* v = ((a - 5) * 0.5 + (b - 10) * 0.25) / 0.5, q = v rounded half up + 3, clamped */
	static const uint8_t a[] = {10, 5, 6, 5, 255, 0, 7, 5, 9};
	static const uint8_t b[] = {20, 11, 10, 13, 255, 0, 10, 7, 10};
	/* (10,20): 2.5+2.5 = 5 -> 10 -> 13
	 * (5,11): 0 + 0.25 -> 0.5 -> 1 (half up) -> 4
	 * (6,10): 0.5 -> 1 -> 4
	 * (5,13): 0.75 -> 1.5 -> 2 -> 5
	 * (255,255): 125 + 61.25 -> 372.5 -> 255
	 * (0,0): -2.5 - 2.5 = -5 -> -10 + 3 = -7 -> 0
	 * (7,10): 1 -> 2 -> 5
	 * (5,7): -0.75 -> -1.5 -> -1 (half up) -> 2
	 * (9,10): 2 -> 4 -> 7 */
	static const uint8_t want_none[] = {13, 4, 4, 5, 255, 0, 5, 2, 7};
	static const uint8_t want_relu[] = {13, 4, 4, 5, 255, 3, 5, 3, 7};
	const size_t n = ARRAY_LEN(a);
	struct fw_q8_add p;
	uint8_t out[ARRAY_LEN(a) + TQ8_GUARD];

	fw_q8_add_prepare(&p, 0.5f, 0.25f, 0.5f, 5, 10, 3, FW_ACT_NONE);
	/* ratios 1 and 0.5: 2^21 is the largest power of two <= 2^22 - 1 */
	assert_int_equal(p.shift, 21);
	assert_int_equal(p.ma, 1 << 21);
	assert_int_equal(p.mb, 1 << 20);
	assert_int_equal(p.c, (1 << 20) - 5 * (1 << 21) - 10 * (1 << 20));
	memset(out, 0xA5, sizeof out);
	k->add(a, b, n, &p, out);
	assert_memory_equal(out, want_none, n);
	assert_int_equal(out[n], 0xA5);
	p.act = FW_ACT_RELU;
	k->add(a, b, n, &p, out);
	assert_memory_equal(out, want_relu, n);
}

/* ---- the fixed-point add against the real-number sum --------------------- */

/* every (a, b) pair, a = i >> 8, b = i & 255 */
static void all_pairs(uint8_t *a, uint8_t *b)
{
	for (int i = 0; i < 256 * 256; i++)
		a[i] = (uint8_t)(i >> 8), b[i] = (uint8_t)i;
}

/* One tier's add of every (a, b) pair equals want(a, b, ctx). */
static void add_pairs_exact(const struct fw_q8_kernels *k, const struct fw_q8_add *p, const uint8_t *a,
			    const uint8_t *b, int (*want)(int a, int b), const char *what)
{
	const size_t n = 256 * 256;
	uint8_t *got = tu_xmalloc(n);

	k->add(a, b, n, p, got);
	for (size_t i = 0; i < n; i++)
		if (got[i] != want(a[i], b[i]))
			fail_msg("%s: %s: a %u b %u gives %u, want %d", k->name, what, a[i], b[i], got[i],
				 want(a[i], b[i]));
	free(got);
}

static int clamp255(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

static int want_sum(int a, int b) { return clamp255(a + b); }
static int want_half(int a, int b) { return (a + b + 1) / 2; } /* (a + b) / 2, .5 up */
static int want_relu_z128(int a, int b) { return clamp255(a + b - 256 > 0 ? a + b - 256 : 0); }
static int want_z128(int a, int b) { return clamp255(a - 128 + b - 128 + 64); }
static int want_sign(int a, int b) /* (a - 100) * 1e9 + (b - 100) * 1e9 + 50 */
{
	return a + b > 200 ? 255 : a + b < 200 ? 0 : 50;
}
static int want_tiny(int a, int b) /* (a - 7) * 1e-6 + (b - 9) * 3e-7 + 99: always 99 */
{
	(void)a, (void)b;
	return 99;
}

/* Cases a reader can check in their head, exactly, on every tier: the sum
 * at equal scales, ties (half up), ReLU, zero points, saturation at a huge
 * ratio, a tiny ratio. */
static void test_add_exact_by_hand(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	uint8_t *a = tu_xmalloc(256 * 256), *b = tu_xmalloc(256 * 256);
	struct fw_q8_add p;

	all_pairs(a, b);
	fw_q8_add_prepare(&p, 0.03f, 0.03f, 0.03f, 0, 0, 0, FW_ACT_NONE);
	add_pairs_exact(k, &p, a, b, want_sum, "sa = sb = sy: a + b");
	p.act = FW_ACT_RELU;
	add_pairs_exact(k, &p, a, b, want_sum, "sa = sb = sy, relu: a + b");
	fw_q8_add_prepare(&p, 0.25f, 0.25f, 0.5f, 0, 0, 0, FW_ACT_NONE);
	add_pairs_exact(k, &p, a, b, want_half, "sy = 2 sa = 2 sb: (a + b) / 2, ties up");
	fw_q8_add_prepare(&p, 1.0f, 1.0f, 1.0f, 128, 128, 0, FW_ACT_RELU);
	add_pairs_exact(k, &p, a, b, want_relu_z128, "relu(a - 128 + b - 128)");
	fw_q8_add_prepare(&p, 0.1f, 0.1f, 0.1f, 128, 128, 64, FW_ACT_NONE);
	add_pairs_exact(k, &p, a, b, want_z128, "a - 128 + b - 128 + 64");
	fw_q8_add_prepare(&p, 1e9f, 1e9f, 1.0f, 100, 100, 50, FW_ACT_NONE);
	assert_int_equal(p.shift, 0);
	assert_int_equal(p.ma, FW_Q8_ADD_MAX_M); /* capped: the output saturates as the real sum does */
	add_pairs_exact(k, &p, a, b, want_sign, "ratio 1e9: saturates");
	fw_q8_add_prepare(&p, 1000.0f, 1000.0f, 1.0f, 100, 100, 50, FW_ACT_NONE);
	assert_int_equal(p.shift, 12); /* below 15: the kernels' other path */
	add_pairs_exact(k, &p, a, b, want_sign, "ratio 1000: saturates");
	fw_q8_add_prepare(&p, 1e-6f, 3e-7f, 1.0f, 7, 9, 99, FW_ACT_RELU);
	assert_int_equal(p.shift, 30);
	add_pairs_exact(k, &p, a, b, want_tiny, "ratios 1e-6 and 3e-7: zy");
	free(a), free(b);
}

/* The real-number result ((a - za) sa + (b - zb) sb) / sy + zy, ReLU'd and
 * clamped, in double: every output is within 0.5 + max(sa, sb) / sy / 8000
 * codes of it (the rounding, plus 255 steps of each multiplier's rounding
 * error of 2^-shift / 2, 2^shift > 2^21 / ratio), and within 1 of it
 * rounded; random scales, including ratios of 1e-4 against 20 and 300. */
static void test_add_within_a_code_of_real(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	const size_t n = 256 * 256;
	uint8_t *a = tu_xmalloc(n), *b = tu_xmalloc(n), *got = tu_xmalloc(n);
	double worst = 0;

	all_pairs(a, b);
	tu_srand(99);
	for (int t = 0; t < 40; t++) {
		const float sy = tu_randf(0.01f, 0.1f);
		float sa = sy * expf(tu_randf(-3.0f, 3.0f)), sb = sy * expf(tu_randf(-3.0f, 3.0f));
		const int32_t za = tu_randi(0, 255), zb = tu_randi(0, 255), zy = tu_randi(0, 255);
		const int act = t % 2 ? FW_ACT_RELU : FW_ACT_NONE;
		struct fw_q8_add p;

		if (t % 10 == 9) /* a huge and a tiny ratio */
			sa = sy * (t < 20 ? 20.0f : 300.0f), sb = sy * 1e-4f;
		const double ra = (double)sa / sy, rb = (double)sb / sy, bound = 0.5 + fmax(ra, rb) / 8000.0 + 1e-9;

		fw_q8_add_prepare(&p, sa, sb, sy, za, zb, zy, act);
		k->add(a, b, n, &p, got);
		for (size_t i = 0; i < n; i++) {
			double v = ((a[i] - za) * (double)sa + (b[i] - zb) * (double)sb) / (double)sy;

			if (act == FW_ACT_RELU && v < 0)
				v = 0;
			v = fmin(fmax(v + zy, 0.0), 255.0);
			if (fabs(got[i] - v) > bound || fabs(got[i] - floor(v + 0.5)) > 1)
				fail_msg("%s: sa/sy %g sb/sy %g za %d zb %d zy %d act %d: a %u b %u gives %u, real %.4f",
					 k->name, ra, rb, za, zb, zy, act, a[i], b[i], got[i], v);
			worst = fmax(worst, fabs(got[i] - v));
		}
	}
	print_message("[   INFO   ] %s: worst |add - real| %.4f codes\n", k->name, worst);
	free(a), free(b), free(got);
}

/* Scales a broken calibration could leave: no crash, a multiplier of 0
 * (that operand ignored), every tier the same bytes as the reference. */
static void test_add_prepare_bad_scales(void **state)
{
	(void)state;
	static const float bad[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.5f};
	const struct fw_q8_kernels *ref = fw_q8_kernels_for(FW_ISA_REF);
	uint8_t *a = tu_xmalloc(256 * 256), *b = tu_xmalloc(256 * 256), *want = tu_xmalloc(256 * 256);
	struct fw_q8_add p;

	all_pairs(a, b);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		fw_q8_add_prepare(&p, bad[i], 0.5f, 0.5f, 3, 4, 5, FW_ACT_NONE);
		assert_int_equal(p.ma, 0);
		assert_int_equal(p.mb, 1 << 21);
		fw_q8_add_prepare(&p, 0.5f, 0.5f, bad[i], 3, 4, 5, FW_ACT_NONE);
		assert_int_equal(p.ma, 0);
		assert_int_equal(p.mb, 0);
		assert_in_range(p.shift, 0, 30);
		ref->add(a, b, 256 * 256, &p, want);
		for (size_t j = 0; j < 256 * 256; j++)
			assert_int_equal(want[j], 5); /* zy: nothing else is left */
		for (int t = 0; t < FW_ISA_COUNT; t++) {
			const struct fw_q8_kernels *k = fw_q8_kernels_for((enum fw_isa)t);
			uint8_t *got;

			if (!k)
				continue;
			got = tq8_out_buf(want, 256 * 256);
			k->add(a, b, 256 * 256, &p, got);
			tq8_assert_bytes(want, got, 256 * 256, 256, k->name, "add, bad scale");
			free(got);
		}
	}
	/* zero points out of 0..255 are clamped, not trusted */
	fw_q8_add_prepare(&p, 0.5f, 0.5f, 0.5f, -7, 300, 1000, FW_ACT_RELU);
	assert_int_equal(p.za, 0);
	assert_int_equal(p.zb, 255);
	assert_int_equal(p.zy, 255);
	free(a), free(b), free(want);
}

/* ---- zero-point folding vs the float model ------------------------------- */

/* float requantisation of a float conv output y: clamp(round(y / s_out) + z) */
static int quantize_f(float y, float s_out, int z)
{
	long q = lrintf(y / s_out) + z;

	return q < 0 ? 0 : q > 255 ? 255 : (int)q;
}

/* The reference, with zero_in folded into bias_q as q8.h says, against the
 * float conv of the dequantised tensors (float ref kernels): within 1 LSB. */
static void folding_case(int dw, int act)
{
	struct fw_conv_geom g;
	const int c = tu_randi(1, 9), oc = dw ? c : tu_randi(1, 9);

	assert_int_equal(tu_make_geom(&g, tu_randi(2, 9), tu_randi(2, 9), c, oc, 3, 3, tu_randi(1, 2),
				      tu_randi(1, 2), 1, 1, 1, tu_randi(0, 1), tu_randi(0, 1), 1, act), 0);
	const size_t taps = 9, k = dw ? taps : taps * (size_t)c;
	const size_t n_in = (size_t)g.in_h * g.in_w * c, n_out = (size_t)g.out_h * g.out_w * oc;
	const size_t n_w = dw ? taps * (size_t)c : (size_t)oc * k;
	const float s_in = tu_randf(0.01f, 0.05f), s_out = tu_randf(0.05f, 0.2f);
	const uint8_t zero_in = (uint8_t)tu_randi(0, 255);
	const int zero_out = tu_randi(0, 255);
	uint8_t *q_in = tu_rand_u8(n_in), *got = tu_xmalloc(n_out);
	int8_t *q_w = rand_s8(n_w);
	float *x = tu_xmalloc(n_in * sizeof *x), *wf = tu_xmalloc(n_w * sizeof *wf), *y = tu_xmalloc(n_out * sizeof *y);
	float *s_w = tu_xmalloc((size_t)oc * sizeof *s_w), *bf = tu_xmalloc((size_t)oc * sizeof *bf);
	float *scale = tu_xmalloc((size_t)oc * sizeof *scale), *slope = tu_xmalloc((size_t)oc * sizeof *slope);
	int32_t *bias_q = tu_xmalloc((size_t)oc * sizeof *bias_q);

	for (size_t i = 0; i < n_in; i++)
		x[i] = s_in * (float)((int)q_in[i] - zero_in);
	for (int o = 0; o < oc; o++) {
		long sum_w = 0;
		/* a float bias, then the integer the int8 path stores for it */
		float bias = tu_randf(-1.0f, 1.0f);
		long b_int;

		s_w[o] = tu_randf(0.001f, 0.01f);
		b_int = lrintf(bias / (s_in * s_w[o]));
		bf[o] = (float)((double)b_int * s_in * s_w[o]); /* the float model's bias: exactly that integer */
		for (size_t t = 0; t < k; t++)
			sum_w += q_w[dw ? t * (size_t)c + (size_t)o : (size_t)o * k + t];
		bias_q[o] = (int32_t)(b_int - (long)zero_in * sum_w);
		scale[o] = s_in * s_w[o] / s_out;
		slope[o] = tu_randf(-1.0f, 1.0f);
	}
	for (size_t i = 0; i < n_w; i++)
		wf[i] = s_w[dw ? i % (size_t)c : i / k] * (float)q_w[i];

	struct qlayer q = {.g = g, .dw = dw, .in = q_in, .zero_in = zero_in, .w = q_w, .bias = bias_q,
			   .n_out = n_out,
			   .rq = {.scale = scale, .slope = act == FW_ACT_PRELU ? slope : NULL,
				  .zero_out = zero_out, .act = act}};
	qlayer_run(fw_q8_kernels_for(FW_ISA_REF), &q, got);
	if (dw)
		fw_dwconv2d_f32_ref(&g, x, wf, bf, act == FW_ACT_PRELU ? slope : NULL, y);
	else
		fw_conv2d_f32_ref(&g, x, wf, bf, act == FW_ACT_PRELU ? slope : NULL, y);
	for (size_t i = 0; i < n_out; i++) {
		int want = quantize_f(y[i], s_out, zero_out);

		if (abs(want - (int)got[i]) > 1)
			fail_msg("%s act %s: byte %zu = %u, float model gives %d (y = %g)", dw ? "dwconv" : "conv",
				 act_name(act), i, got[i], want, (double)y[i]);
	}
	free(q_in), free(got), free(q_w), free(x), free(wf), free(y), free(s_w), free(bf), free(scale);
	free(slope), free(bias_q);
}

static void test_zero_point_folding_matches_float(void **state)
{
	(void)state;
	tu_srand(4242);
	for (int i = 0; i < 60; i++)
		folding_case(i % 2, i % 3);
}

/* ---- every tier against the reference, random shapes --------------------- */

static const int sizes[] = {1, 3, 7, 13, 17};
static const int in_chans[] = {1, 3, 5, 17, 33, 64};
static const int out_chans[] = {1, 3, 5, 17, 33, 1, 3, 5, 17, 33, 24, 28, 64, 65, 80, 130};
static const int kernels[] = {1, 2, 3, 5};
static const int pads[][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 2}, {2, 1}, {2, 2}};

static void random_conv_geom(struct fw_conv_geom *g)
{
	for (;;) {
		const int kind = tu_randi(0, 9), act = tu_randi(0, 2);
		const int in_h = tu_pick(sizes, ARRAY_LEN(sizes)), in_w = tu_pick(sizes, ARRAY_LEN(sizes));
		const int in_c = tu_pick(in_chans, ARRAY_LEN(in_chans)), out_c = tu_pick(out_chans, ARRAY_LEN(out_chans));
		const int *pv = pads[tu_randi(0, (int)ARRAY_LEN(pads) - 1)];
		const int *ph = pads[tu_randi(0, (int)ARRAY_LEN(pads) - 1)];
		int r;

		if (kind < 3) /* pointwise: the input is read in place */
			r = tu_make_geom(g, in_h, in_w, in_c, out_c, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, act);
		else if (kind == 3) /* FC: 1x1 input, long K */
			r = tu_make_geom(g, 1, 1, tu_randi(1, 600), tu_randi(1, 200), 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, act);
		else {
			const int k = tu_pick(kernels, ARRAY_LEN(kernels));
			const int kw = tu_randi(0, 3) ? k : tu_pick(kernels, ARRAY_LEN(kernels));

			r = tu_make_geom(g, in_h, in_w, in_c, out_c, k, kw, tu_randi(1, 2), tu_randi(1, 2),
					 tu_randi(0, 3) ? 1 : 2, tu_randi(0, 3) ? 1 : 2, pv[0], pv[1], ph[0], ph[1], act);
		}
		if (r == 0)
			return;
	}
}

static void random_dw_geom(struct fw_conv_geom *g)
{
	static const int dw_chans[] = {1, 3, 5, 8, 15, 16, 17, 24, 28, 33, 42, 64, 88};
	static const int dw_kernels[] = {3, 3, 3, 5, 7, 1, 2, 9}; /* 9x9: past the SIMD tap limit */

	for (;;) {
		const int k = tu_pick(dw_kernels, ARRAY_LEN(dw_kernels)), c = tu_pick(dw_chans, ARRAY_LEN(dw_chans));
		const int *pv = pads[tu_randi(0, (int)ARRAY_LEN(pads) - 1)];
		const int *ph = pads[tu_randi(0, (int)ARRAY_LEN(pads) - 1)];
		const int d = tu_randi(0, 4) ? 1 : 2;

		if (tu_make_geom(g, tu_pick(sizes, ARRAY_LEN(sizes)), tu_pick(sizes, ARRAY_LEN(sizes)), c, c, k, k,
				 tu_randi(1, 2), tu_randi(1, 2), d, d, pv[0], pv[1], ph[0], ph[1], tu_randi(0, 2)) == 0)
			return;
	}
}

enum { N_RANDOM = 300 };

static void test_conv_vs_ref_random(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	size_t clamped = 0, total = 0;

	tu_srand(1234); /* every tier sees the same layers */
	for (int i = 0; i < N_RANDOM; i++) {
		struct fw_conv_geom g;
		struct qlayer q;

		random_conv_geom(&g);
		qlayer_random(&q, &g, 0);
		clamped += qlayer_check(k, &q);
		total += q.n_out;
		qlayer_free(&q);
	}
	/* the random scales must exercise both the clamps and the interior */
	print_message("[   INFO   ] %s: %zu of %zu output bytes clamped to 0 or 255\n", k->name, clamped, total);
	assert_true(clamped > total / 20 && clamped < total / 2);
}

static void test_dwconv_vs_ref_random(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	size_t clamped = 0, total = 0;

	tu_srand(5678);
	for (int i = 0; i < N_RANDOM; i++) {
		struct fw_conv_geom g;
		struct qlayer q;

		random_dw_geom(&g);
		qlayer_random(&q, &g, 1);
		clamped += qlayer_check(k, &q);
		total += q.n_out;
		qlayer_free(&q);
	}
	print_message("[   INFO   ] %s: %zu of %zu output bytes clamped to 0 or 255\n", k->name, clamped, total);
	assert_true(clamped > total / 20 && clamped < total / 2);
}

/* 3x3 depthwise, the shapes of the AVX-512 three-taps-per-dot paths and
 * the lane path they fall back to: channel counts around the 64-channel
 * blocks and the switches between them (15 / 16 / 17, 32 / 33), few channels
 * whose pattern does and does not divide 64 bytes (8; 3, 6, 12), both
 * strides in each axis,
 * every padding, widths and heights from 1 to past a 64-byte row, and
 * large spatial sizes (the MobileFaceNet / BlazeFace full layers). */
static void test_dwconv3x3_vs_ref(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	static const int chans[] = {1, 2, 3, 4, 5, 6, 8, 12, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 100, 127, 129, 200};
	static const int hw[] = {1, 2, 3, 4, 5, 9, 16, 23};

	tu_srand(4321);
	for (int i = 0; i < 220; i++) {
		const int *pv = pads[tu_randi(0, (int)ARRAY_LEN(pads) - 1)];
		const int *ph = pads[tu_randi(0, (int)ARRAY_LEN(pads) - 1)];
		const int c = chans[i % (int)ARRAY_LEN(chans)];
		struct fw_conv_geom g;
		struct qlayer q;

		if (tu_make_geom(&g, tu_pick(hw, ARRAY_LEN(hw)), tu_pick(hw, ARRAY_LEN(hw)), c, c, 3, 3, tu_randi(1, 2),
				 tu_randi(1, 2), 1, 1, pv[0], pv[1], ph[0], ph[1], tu_randi(0, 2)) != 0)
			continue;
		qlayer_random(&q, &g, 1);
		qlayer_check(k, &q);
		qlayer_free(&q);
	}
	/* large: MobileFaceNet's first depthwise layers, BlazeFace full's 96x96x8 */
	static const int big[][5] = {{56, 56, 64, 1, 1}, {56, 56, 128, 2, 0}, {57, 55, 72, 2, 1},
				     {96, 96, 8, 1, 1}, {95, 97, 16, 1, 1}, {96, 96, 32, 2, 0}, {48, 47, 12, 1, 1},
				     {33, 31, 3, 1, 0}};
	for (size_t i = 0; i < ARRAY_LEN(big); i++) {
		struct fw_conv_geom g;
		struct qlayer q;

		assert_int_equal(tu_make_geom(&g, big[i][0], big[i][1], big[i][2], big[i][2], 3, 3, big[i][3],
					      big[i][3], 1, 1, big[i][4], 1, big[i][4], 1, FW_ACT_PRELU),
				     0);
		qlayer_random(&q, &g, 1);
		qlayer_check(k, &q);
		qlayer_free(&q);
	}
}

/* The real layer shapes (BlazeFace short, MobileFaceNet), incl. GDConv. */
static void test_real_layers_vs_ref(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	static const struct tu_layer_shape layers[] = {
		{0, 128, 128, 3, 24, 5, 2, 1, 2, FW_ACT_NONE},     /* blaze #0 */
		{1, 64, 64, 24, 24, 3, 1, 1, 1, FW_ACT_NONE},      /* blaze dw */
		{0, 64, 64, 24, 28, 1, 1, 0, 0, FW_ACT_RELU},      /* blaze 1x1 */
		{1, 64, 64, 28, 28, 3, 2, 0, 1, FW_ACT_NONE},      /* blaze dw s2 */
		{0, 32, 32, 36, 42, 1, 1, 0, 0, FW_ACT_RELU},      /* K = 36, N = 42 */
		{0, 16, 16, 42, 48, 1, 1, 0, 0, FW_ACT_RELU},      /* K = 42: not a multiple of 4 */
		{1, 32, 32, 42, 42, 3, 2, 0, 1, FW_ACT_NONE},
		{0, 16, 16, 88, 32, 1, 1, 0, 0, FW_ACT_RELU},
		{0, 8, 8, 96, 96, 1, 1, 0, 0, FW_ACT_RELU},
		{0, 8, 8, 96, 6, 1, 1, 0, 0, FW_ACT_NONE},         /* a head */
		{0, 112, 112, 3, 64, 3, 2, 0, 1, FW_ACT_PRELU},    /* MFN #0 */
		{1, 56, 56, 64, 64, 3, 1, 1, 1, FW_ACT_PRELU},
		{0, 28, 28, 64, 128, 1, 1, 0, 0, FW_ACT_PRELU},
		{1, 56, 56, 128, 128, 3, 2, 0, 1, FW_ACT_PRELU},
		{0, 14, 14, 128, 512, 1, 1, 0, 0, FW_ACT_PRELU},
		{0, 7, 7, 512, 128, 1, 1, 0, 0, FW_ACT_NONE},
		{1, 7, 7, 512, 512, 7, 1, 0, 0, FW_ACT_NONE},      /* GDConv 7x7 -> 1x1 */
		{0, 1, 1, 512, 512, 1, 1, 0, 0, FW_ACT_NONE},      /* FC */
		{0, 1, 1, 512, 192, 1, 1, 0, 0, FW_ACT_NONE},
	};

	tu_srand(99);
	for (size_t i = 0; i < ARRAY_LEN(layers); i++) {
		struct fw_conv_geom g;
		struct qlayer q;

		assert_int_equal(tu_layer_geom(&g, &layers[i]), 0);
		qlayer_random(&q, &g, layers[i].dw);
		qlayer_check(k, &q);
		qlayer_free(&q);
	}
}

static void test_add_vs_ref_random(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	const struct fw_q8_kernels *ref = fw_q8_kernels_for(FW_ISA_REF);

	tu_srand(777);
	for (int i = 0; i < N_RANDOM; i++) {
		const size_t n = (size_t)(i % 5 == 0 ? tu_randi(1000, 5000) : tu_randi(1, 100));
		uint8_t *a = tu_rand_u8(n), *b = tu_rand_u8(n), *want = tu_xmalloc(n), *got;
		const float sy = tu_randf(0.005f, 0.05f) * (i % 4 == 0 ? 0.1f : 1.0f);
		const float sa = tu_randf(0.005f, 0.05f), sb = tu_randf(0.005f, 0.05f);
		const int32_t za = tu_randi(0, 255), zb = tu_randi(0, 255), zy = tu_randi(0, 255);
		struct fw_q8_add p;
		char what[100];

		fw_q8_add_prepare(&p, sa, sb, sy, za, zb, zy, tu_randi(0, 1) ? FW_ACT_RELU : FW_ACT_NONE);

		ref->add(a, b, n, &p, want);
		got = tq8_out_buf(want, n);
		k->add(a, b, n, &p, got);
		snprintf(what, sizeof what, "add n %zu act %s", n, act_name(p.act));
		tq8_assert_bytes(want, got, n, 1, k->name, what);
		free(a), free(b), free(want), free(got);
	}
}

/* ---- dispatch and the ISA-independent ops -------------------------------- */

static void test_tables(void **state)
{
	(void)state;
	const struct fw_q8_kernels *ref = fw_q8_kernels_for(FW_ISA_REF);

	assert_non_null(ref);
	assert_int_equal(ref->isa, FW_ISA_REF);
	for (int i = 0; i < FW_ISA_COUNT; i++) {
		const struct fw_q8_kernels *k = fw_q8_kernels_for((enum fw_isa)i);

		print_message("[   INFO   ] %-8s %s\n", fw_isa_name((enum fw_isa)i), k ? "runs here" : "-");
		if (!k)
			continue;
		assert_int_equal(k->isa, i);
		assert_string_equal(k->name, fw_isa_name((enum fw_isa)i));
		assert_non_null(k->conv_packed_size);
		assert_non_null(k->conv_pack);
		assert_non_null(k->conv_scratch);
		assert_non_null(k->conv);
		assert_non_null(k->dwconv);
		assert_non_null(k->add);
	}
	assert_non_null(fw_q8_kernels_for(fw_isa_active()));
	assert_null(fw_q8_kernels_for(FW_ISA_COUNT));
	assert_string_equal(fw_isa_name(FW_ISA_COUNT), "unknown");
#if defined(__x86_64__)
	assert_null(fw_q8_kernels_for(FW_ISA_NEON));
	assert_null(fw_q8_kernels_for(FW_ISA_NEON_DOT));
	/* the best tier the CPU has, without FACEWATCH_ISA (ctest does not set it) */
	if (!getenv("FACEWATCH_ISA"))
		assert_int_equal(fw_isa_active(), fw_q8_kernels_for(FW_ISA_AMX)      ? FW_ISA_AMX
						  : fw_q8_kernels_for(FW_ISA_AVX512) ? FW_ISA_AVX512
						  : fw_q8_kernels_for(FW_ISA_AVX2)   ? FW_ISA_AVX2
										     : FW_ISA_REF);
#endif
}

/* fw_q8_quantize rounds with the 1.5 * 2^23 trick; it must equal lrintf
 * (round half to even) everywhere, ties included. */
static void test_quantize_matches_lrintf(void **state)
{
	enum { N = 4096 };
	static float x[N];
	static uint8_t q[N];
	const float inv_s[] = { 1.0f, 0.5f, 3.0f, 1.0f / 0.0123f };
	const int32_t zs[] = { 0, 1, 128, 255 };

	(void)state;
	for (int t = 0; t < 64; t++) {
		float inv = inv_s[t % 4];
		int32_t z = zs[(t / 4) % 4];
		for (int i = 0; i < N; i++) {
			/* every other value an exact tie k + 0.5 after scaling */
			x[i] = (i & 1) ? ((float)(tu_randi(-700, 700)) + 0.5f) / inv
				       : tu_randf(-800.0f, 800.0f) / inv;
		}
		x[0] = 0.5f / inv, x[2] = -0.5f / inv, x[4] = 2.5f / inv, x[6] = -1e30f;
		fw_q8_quantize(x, N, inv, z, q);
		for (int i = 0; i < N; i++) {
			float v = x[i] * inv;
			long r;
			v = v < 512.0f ? v : 512.0f;
			v = v > -512.0f ? v : -512.0f;
			r = lrintf(v) + z;
			r = r < 0 ? 0 : r > 255 ? 255 : r;
			if (q[i] != (uint8_t)r)
				fail_msg("x=%.9g inv=%g z=%d: got %d, lrintf gives %ld", x[i], inv, z, q[i], r);
		}
	}
}

static void test_quantize_dequantize(void **state)
{
	(void)state;
	/* q = clamp(nearbyint(x / 0.5) + 10): 0.25 -> 0.5 -> 0 (even), 0.75 -> 1.5 -> 2 */
	static const float x[] = {0.0f, 0.25f, 0.75f, 1.25f, -0.25f, -0.75f, -5.0f, -6.0f, 122.5f, 1e30f, -1e30f};
	static const uint8_t want[] = {10, 10, 12, 12, 10, 8, 0, 0, 255, 255, 0};
	uint8_t q[ARRAY_LEN(x)];
	float back[ARRAY_LEN(x)];

	fw_q8_quantize(x, ARRAY_LEN(x), 2.0f, 10, q);
	assert_memory_equal(q, want, sizeof want);
	fw_q8_dequantize(q, ARRAY_LEN(x), 0.5f, 10, back);
	assert_true(back[0] == 0.0f && back[2] == 1.0f && back[5] == -1.0f && back[6] == -5.0f &&
		    back[8] == 122.5f);
}

static void test_maxpool_pad_concat(void **state)
{
	(void)state;
	/* 2x2 pool, stride 2, pad 1 on a 3x3x1 ramp 1..9: windows
	 * {1}, {2,3}, {4,7}, {5,6,8,9} -> 1 3 7 9; the pad never wins although
	 * every real value is small */
	struct fw_conv_geom g = {.in_h = 3, .in_w = 3, .in_c = 1, .out_h = 2, .out_w = 2, .out_c = 1,
				 .k_h = 2, .k_w = 2, .stride_h = 2, .stride_w = 2, .dil_h = 1, .dil_w = 1,
				 .pad_t = 1, .pad_l = 1};
	const uint8_t ramp[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, pool_want[4] = {1, 3, 7, 9};
	uint8_t pool[4];
	/* pad a 1x1x2x1 tensor by one row above and a channel after, filled with 42 */
	const int dims[4] = {1, 1, 2, 1}, pad[8] = {0, 0, 1, 0, 0, 0, 0, 1};
	const uint8_t src[2] = {7, 8}, pad_want[8] = {42, 42, 42, 42, 7, 42, 8, 42};
	uint8_t padded[8];
	/* concat on channels: [1x1x2x1] + [1x1x2x2] */
	const int cdims[2][4] = {{1, 1, 2, 1}, {1, 1, 2, 2}};
	const uint8_t c0[2] = {1, 2}, c1[4] = {3, 4, 5, 6}, cat_want[6] = {1, 3, 4, 2, 5, 6};
	const uint8_t *cin[2] = {c0, c1};
	uint8_t cat[6];

	fw_q8_maxpool(&g, ramp, pool);
	assert_memory_equal(pool, pool_want, 4);
	fw_q8_pad(dims, pad, src, 42, padded);
	assert_memory_equal(padded, pad_want, 8);
	fw_q8_concat(2, cdims, cin, 3, cat);
	assert_memory_equal(cat, cat_want, 6);
}

#define PER_TIER(f)                                                                               \
	cmocka_unit_test_prestate(f, (void *)&isa_ref), cmocka_unit_test_prestate(f, (void *)&isa_avx2), \
		cmocka_unit_test_prestate(f, (void *)&isa_avx512),                                   \
		cmocka_unit_test_prestate(f, (void *)&isa_neon),                                     \
		cmocka_unit_test_prestate(f, (void *)&isa_neondot), cmocka_unit_test_prestate(f, (void *)&isa_amx)
#define PER_FAST_TIER(f)                                                                          \
	cmocka_unit_test_prestate(f, (void *)&isa_avx2), cmocka_unit_test_prestate(f, (void *)&isa_avx512), \
		cmocka_unit_test_prestate(f, (void *)&isa_neon),                                     \
		cmocka_unit_test_prestate(f, (void *)&isa_neondot), cmocka_unit_test_prestate(f, (void *)&isa_amx)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		PER_TIER(test_conv_rounding_and_clamping_by_hand),
		PER_TIER(test_conv_activations_by_hand),
		PER_TIER(test_conv_large_v_in_a_large_layer),
		PER_TIER(test_conv_accumulator_by_hand),
		PER_TIER(test_conv_padding_reads_zero_in),
		PER_TIER(test_dwconv_by_hand),
		PER_TIER(test_add_by_hand),
		PER_TIER(test_add_exact_by_hand),
		PER_TIER(test_add_within_a_code_of_real),
		cmocka_unit_test(test_add_prepare_bad_scales),
		cmocka_unit_test(test_zero_point_folding_matches_float),
		cmocka_unit_test(test_quantize_dequantize),
		cmocka_unit_test(test_quantize_matches_lrintf),
		cmocka_unit_test(test_maxpool_pad_concat),
		PER_FAST_TIER(test_conv_vs_ref_random),
		PER_FAST_TIER(test_dwconv_vs_ref_random),
		PER_FAST_TIER(test_dwconv3x3_vs_ref),
		PER_FAST_TIER(test_add_vs_ref_random),
		PER_FAST_TIER(test_real_layers_vs_ref),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
