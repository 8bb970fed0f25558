/* int8 convolutions with float outputs (q8.h: conv_f32, dwconv_f32), the
 * kernels behind the detector heads and the other ops whose output stays
 * float while their input is u8.
 *
 *  - by hand: the reference (and every tier on the same cases) gives
 *    act((float)acc * scale) exactly, for each activation;
 *  - the float output is the u8 kernel's value before its rounding: on random
 *    layers, rounding the reference's float output as q8.h's epilogue does
 *    gives the reference u8 kernel's bytes (so the accumulator and the float
 *    steps are the same ones);
 *  - every tier this CPU runs against the reference, bit for bit, on ~300
 *    random awkward shapes per op (odd sizes and channel counts, K not a
 *    multiple of 4, pads, strides, dilation, FC, depthwise kernels past the
 *    SIMD tap limit, negative PReLU slopes, no bias), plus the real layers
 *    that run this way (BlazeFace heads, short's depthwise_conv2d_15,
 *    MobileFaceNet's first conv and Conv2d_7).
 * Outputs start as a float pattern no kernel computes (a signalling-NaN bit
 * pattern), so an element a kernel forgets to write fails; 16 guard floats
 * after each output catch overruns. */
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
#define GUARD 16                 /* floats after each output */
#define UNWRITTEN 0x7FA5A5A5u    /* a signalling NaN: never an output */

static const enum fw_isa isa_ref = FW_ISA_REF, isa_avx2 = FW_ISA_AVX2, isa_avx512 = FW_ISA_AVX512,
			 isa_neon = FW_ISA_NEON, isa_neondot = FW_ISA_NEON_DOT, isa_amx = FW_ISA_AMX;

/* ---- one layer ----------------------------------------------------------- */

struct layer {
	struct fw_conv_geom g;
	int dw;
	uint8_t *in, zero_in;
	int8_t *w;
	int32_t *bias;          /* or NULL */
	float *scale, *slope;   /* slope NULL unless PRELU */
	struct fw_q8_requant rq;
	size_t n_out;
};

static void layer_free(struct layer *l)
{
	free(l->in), free(l->w), free(l->bias), free(l->scale), free(l->slope);
}

/* Random data as a float head sees it: scales s_in * s_w (no output scale),
 * so the outputs are real values spread over a few hundred either side of
 * 0; one layer in six without bias. */
static void layer_random(struct layer *l, const struct fw_conv_geom *g, int dw)
{
	const size_t taps = (size_t)g->k_h * (size_t)g->k_w, k = dw ? taps : taps * (size_t)g->in_c;
	const size_t n_in = (size_t)g->in_h * g->in_w * g->in_c, n_w = dw ? taps * (size_t)g->in_c : (size_t)g->out_c * k;
	const float typical = 147.0f * 74.0f * sqrtf((float)k);

	memset(l, 0, sizeof *l);
	l->g = *g;
	l->dw = dw;
	l->n_out = (size_t)g->out_h * g->out_w * g->out_c;
	l->in = tu_rand_u8(n_in);
	l->zero_in = (uint8_t)tu_randi(0, 255);
	l->w = (int8_t *)tu_rand_u8(n_w);
	if (tu_randi(0, 5) != 0) {
		l->bias = tu_xmalloc((size_t)g->out_c * sizeof *l->bias);
		for (int i = 0; i < g->out_c; i++)
			l->bias[i] = (int32_t)tu_randf(-typical, typical);
	}
	l->scale = tu_xmalloc((size_t)g->out_c * sizeof *l->scale);
	for (int i = 0; i < g->out_c; i++)
		l->scale[i] = tu_randf(0.001f, 0.02f) * 300.0f / typical;
	if (g->act == FW_ACT_PRELU) {
		l->slope = tu_xmalloc((size_t)g->out_c * sizeof *l->slope);
		for (int i = 0; i < g->out_c; i++)
			l->slope[i] = tu_randf(-2.0f, 2.0f);
		l->slope[0] = -0.75f;
	}
	/* zero_out is not used by a float output: a value that would show */
	l->rq = (struct fw_q8_requant){.scale = l->scale, .slope = l->slope, .zero_out = 77, .act = g->act};
}

static float *out_buf(size_t n)
{
	float *o = tu_xmalloc((n + GUARD) * sizeof *o);
	const uint32_t bits = UNWRITTEN;

	for (size_t i = 0; i < n + GUARD; i++)
		memcpy(&o[i], &bits, sizeof bits);
	return o;
}

/* Layer l through tier k: floats (conv_f32 / dwconv_f32) into outf, or u8
 * (conv / dwconv) into out8; the other NULL. */
static void layer_run(const struct fw_q8_kernels *k, const struct layer *l, float *outf, uint8_t *out8)
{
	if (l->dw) {
		if (outf)
			k->dwconv_f32(&l->g, l->in, l->zero_in, l->w, l->bias, &l->rq, outf);
		else
			k->dwconv(&l->g, l->in, l->zero_in, l->w, l->bias, &l->rq, out8);
		return;
	}
	size_t packed_bytes = k->conv_packed_size(&l->g), scratch_bytes = k->conv_scratch(&l->g);
	void *packed = tq8_aligned(packed_bytes);
	void *scratch = scratch_bytes ? tq8_aligned(scratch_bytes) : NULL;

	k->conv_pack(&l->g, l->w, packed);
	if (outf)
		k->conv_f32(&l->g, l->in, l->zero_in, packed, l->bias, &l->rq, outf, scratch);
	else
		k->conv(&l->g, l->in, l->zero_in, packed, l->bias, &l->rq, out8, scratch);
	free(packed), free(scratch);
}

/* Bit for bit, and nothing written past n. */
static void assert_floats(const float *want, const float *got, size_t n, size_t c, const char *tier,
			  const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&want[i], &got[i], sizeof(float)))
			fail_msg("%s: %s: element %zu (pixel %zu, channel %zu) = %.9g, ref %.9g", tier, what, i, i / c,
				 i % c, (double)got[i], (double)want[i]);
	for (size_t i = n; i < n + GUARD; i++) {
		uint32_t bits;

		memcpy(&bits, &got[i], sizeof bits);
		if (bits != UNWRITTEN)
			fail_msg("%s: %s: wrote past the output (guard %zu)", tier, what, i - n);
	}
}

/* Tier k against the reference on l; returns how many outputs are < 0
 * (so that a test can show both signs ran). */
static size_t layer_check(const struct fw_q8_kernels *k, const struct layer *l)
{
	const struct fw_q8_kernels *ref = fw_q8_kernels_for(FW_ISA_REF);
	float *want = out_buf(l->n_out), *got = out_buf(l->n_out);
	char what[200];
	size_t neg = 0;

	tq8_describe(what, sizeof what, l->dw ? "dwconv_f32" : "conv_f32", &l->g);
	layer_run(ref, l, want, NULL);
	layer_run(k, l, got, NULL);
	assert_floats(want, got, l->n_out, (size_t)l->g.out_c, k->name, what);
	for (size_t i = 0; i < l->n_out; i++)
		neg += want[i] < 0;
	free(want), free(got);
	return neg;
}

/* ---- by hand --------------------------------------------------------------- */

/* 1x1 conv on one pixel with x = 1, w = 1, zero_in 0: acc[oc] = bias[oc] + 1 */
static void conv_1x1_by_hand(const struct fw_q8_kernels *k, const int32_t *bias, const float *scale,
			     const float *slope, int act, int n, const float *want, int dw)
{
	uint8_t in[8];
	int8_t w[8];
	struct layer l = {.dw = dw, .in = in, .zero_in = 0, .w = w, .bias = (int32_t *)bias, .n_out = (size_t)n,
			  .rq = {.scale = scale, .slope = slope, .zero_out = 200, .act = act}};
	float *out = out_buf((size_t)n);

	assert_true(n <= 8);
	assert_int_equal(tu_make_geom(&l.g, 1, 1, dw ? n : 1, n, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, act), 0);
	for (int i = 0; i < 8; i++)
		in[i] = 1, w[i] = 1;
	layer_run(k, &l, out, NULL);
	assert_floats(want, out, (size_t)n, (size_t)n, k->name, dw ? "dwconv_f32 by hand" : "conv_f32 by hand");
	free(out);
}

static void test_f32_by_hand(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	/* acc = 5, -7, 1 << 24 + 1 (not a float: rounds to even), -1, 0, 12345 */
	static const int32_t bias[] = {4, -8, (1 << 24), -2, -1, 12344};
	static const float scale[] = {0.5f, 0.5f, 1.0f, 3.0f, 2.0f, 0.25f};
	static const float slope[] = {-1.0f, 0.25f, 2.0f, -0.5f, 4.0f, 0.0f};
	static const float want_none[] = {2.5f, -3.5f, 16777216.0f, -3.0f, 0.0f, 3086.25f};
	static const float want_relu[] = {2.5f, 0.0f, 16777216.0f, 0.0f, 0.0f, 3086.25f};
	static const float want_prelu[] = {2.5f, -0.875f, 16777216.0f, 1.5f, 0.0f, 3086.25f};

	for (int dw = 0; dw < 2; dw++) {
		conv_1x1_by_hand(k, bias, scale, NULL, FW_ACT_NONE, 6, want_none, dw);
		conv_1x1_by_hand(k, bias, scale, NULL, FW_ACT_RELU, 6, want_relu, dw);
		conv_1x1_by_hand(k, bias, scale, slope, FW_ACT_PRELU, 6, want_prelu, dw);
	}
}

/* ---- the float output is the u8 epilogue before its rounding -------------- */

static void test_ref_f32_is_u8_before_rounding(void **state)
{
	const struct fw_q8_kernels *ref = fw_q8_kernels_for(FW_ISA_REF);

	(void)state;
	tu_srand(31);
	for (int i = 0; i < 60; i++) {
		struct fw_conv_geom g = {0};
		struct layer l;
		const int dw = i % 2;
		const int c = tu_randi(1, 40);

		assert_int_equal(tu_make_geom(&g, tu_randi(1, 9), tu_randi(1, 9), c, dw ? c : tu_randi(1, 40), 3, 3,
					      tu_randi(1, 2), 1, 1, 1, 1, 1, 1, 1, i % 3),
				     0);
		layer_random(&l, &g, dw);
		/* a u8 output scale that keeps most values inside 0..255 */
		for (int oc = 0; oc < l.g.out_c; oc++)
			l.scale[oc] *= 0.2f;
		float *f = out_buf(l.n_out);
		uint8_t *q = tu_xmalloc(l.n_out);
		int inside = 0;

		layer_run(ref, &l, f, NULL);
		layer_run(ref, &l, NULL, q);
		for (size_t j = 0; j < l.n_out; j++) {
			float v = f[j] < 512.0f ? f[j] : 512.0f;
			long r;

			v = v > -512.0f ? v : -512.0f;
			r = lrintf(v) + l.rq.zero_out;
			r = r < 0 ? 0 : r > 255 ? 255 : r;
			if (q[j] != (uint8_t)r)
				fail_msg("layer %d element %zu: float %.9g rounds to %ld, the u8 kernel gave %u", i, j,
					 (double)f[j], r, q[j]);
			inside += r > 0 && r < 255;
		}
		assert_true(inside > 0);
		free(f), free(q);
		layer_free(&l);
	}
}

/* ---- every tier against the reference ------------------------------------ */

static const int sizes[] = {1, 3, 7, 13, 17};
static const int in_chans[] = {1, 3, 5, 17, 33, 64, 88};
static const int out_chans[] = {1, 2, 3, 5, 6, 17, 32, 33, 64, 65, 96, 130};
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

		if (kind < 4) /* pointwise: the heads */
			r = tu_make_geom(g, in_h, in_w, in_c, out_c, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, act);
		else if (kind == 4) /* FC */
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
	static const int dw_chans[] = {1, 3, 5, 8, 15, 16, 17, 24, 33, 42, 64, 96};
	static const int dw_kernels[] = {3, 5, 5, 7, 1, 2, 9}; /* 9x9: past the SIMD tap limit */

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

/* N_RANDOM random layers of one kind against the reference; a fair share
 * of the outputs must be negative (the activations are exercised). */
static void random_cases(void **state, unsigned seed, int dw)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	size_t neg = 0, total = 0;

	tu_srand(seed);
	for (int i = 0; i < N_RANDOM; i++) {
		struct fw_conv_geom g;
		struct layer l;

		if (dw)
			random_dw_geom(&g);
		else
			random_conv_geom(&g);
		layer_random(&l, &g, dw);
		neg += layer_check(k, &l);
		total += l.n_out;
		layer_free(&l);
	}
	print_message("[   INFO   ] %s: %zu of %zu outputs negative\n", k->name, neg, total);
	assert_true(neg > total / 20 && neg < total - total / 20);
}

static void test_conv_f32_vs_ref_random(void **state)
{
	random_cases(state, 2468, 0);
}

static void test_dwconv_f32_vs_ref_random(void **state)
{
	random_cases(state, 1357, 1);
}

/* The layers that run with float outputs in the committed models. */
static void test_real_f32_layers_vs_ref(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	static const struct tu_layer_shape layers[] = {
		{0, 16, 16, 88, 2, 1, 1, 0, 0, FW_ACT_NONE},     /* short classificator_8 */
		{0, 8, 8, 96, 6, 1, 1, 0, 0, FW_ACT_NONE},       /* short classificator_16 */
		{0, 16, 16, 88, 32, 1, 1, 0, 0, FW_ACT_NONE},    /* short regressor_8 */
		{0, 8, 8, 96, 96, 1, 1, 0, 0, FW_ACT_NONE},      /* short regressor_16 */
		{1, 8, 8, 96, 96, 5, 1, 2, 2, FW_ACT_NONE},      /* short depthwise_conv2d_15 */
		{0, 48, 48, 48, 1, 1, 1, 0, 0, FW_ACT_NONE},     /* full classifier_face_4 */
		{0, 48, 48, 48, 16, 1, 1, 0, 0, FW_ACT_NONE},    /* full regressor_face_4 */
		{0, 112, 112, 3, 64, 3, 2, 0, 1, FW_ACT_PRELU},  /* MobileFaceNet Conv2d_0 */
		{0, 7, 7, 128, 512, 1, 1, 0, 0, FW_ACT_PRELU},   /* MobileFaceNet Conv2d_7 */
		{0, 1, 1, 256, 10, 1, 1, 0, 0, FW_ACT_NONE},     /* O-Net conv6-3 (FC) */
	};

	tu_srand(77);
	for (size_t i = 0; i < ARRAY_LEN(layers); i++) {
		struct fw_conv_geom g;
		struct layer l;

		assert_int_equal(tu_layer_geom(&g, &layers[i]), 0);
		layer_random(&l, &g, layers[i].dw);
		layer_check(k, &l);
		layer_free(&l);
	}
}

static void test_tables_have_f32(void **state)
{
	(void)state;
	for (int i = 0; i < FW_ISA_COUNT; i++) {
		const struct fw_q8_kernels *k = fw_q8_kernels_for((enum fw_isa)i);

		if (!k)
			continue;
		assert_non_null(k->conv_f32);
		assert_non_null(k->dwconv_f32);
	}
}

#define PER_TIER(f)                                                                                   \
	cmocka_unit_test_prestate(f, (void *)&isa_ref), cmocka_unit_test_prestate(f, (void *)&isa_avx2),     \
		cmocka_unit_test_prestate(f, (void *)&isa_avx512), cmocka_unit_test_prestate(f, (void *)&isa_neon), \
		cmocka_unit_test_prestate(f, (void *)&isa_neondot), cmocka_unit_test_prestate(f, (void *)&isa_amx)
#define PER_FAST_TIER(f)                                                                              \
	cmocka_unit_test_prestate(f, (void *)&isa_avx2), cmocka_unit_test_prestate(f, (void *)&isa_avx512), \
		cmocka_unit_test_prestate(f, (void *)&isa_neon), cmocka_unit_test_prestate(f, (void *)&isa_neondot), cmocka_unit_test_prestate(f, (void *)&isa_amx)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_have_f32),
		PER_TIER(test_f32_by_hand),
		cmocka_unit_test(test_ref_f32_is_u8_before_rounding),
		PER_FAST_TIER(test_conv_f32_vs_ref_random),
		PER_FAST_TIER(test_dwconv_f32_vs_ref_random),
		PER_FAST_TIER(test_real_f32_layers_vs_ref),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
