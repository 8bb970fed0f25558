/* Float kernels (core/kernels/kernels.h).
 *
 * Two kinds of check:
 *  - the references against small cases worked out by hand, so "correct" is
 *    proven rather than merely self-consistent;
 *  - every fast variant against its reference on many random, awkward shapes
 *    (odd sizes, channel counts that are not multiples of the vector width,
 *    asymmetric padding, strides, dilation, negative PReLU slopes), within
 *    1e-5 x max|ref| + 1e-6.
 * Outputs are pre-filled with NaN so an output element a kernel forgets to
 * write fails the comparison. A few checks run against the per-layer goldens
 * in ${FW_SHARED_DIR} when those files are present.
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
#include "core/model_format.h"
#include "convgeom.h"
#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---------------------------------------------------------- */

static float *rand_buf(size_t n, float lo, float hi)
{
	float *p = malloc((n ? n : 1) * sizeof *p);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = tu_randf(lo, hi);
	return p;
}

static float *nan_buf(size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = NAN;
	return p;
}

/* Scratch as the contract promises it: 64-byte aligned, and exactly `bytes`
 * long so that AddressSanitizer sees any overrun (posix_memalign, unlike
 * ASan's aligned_alloc, takes a size that is not a multiple of 64). */
static float *scratch_alloc(size_t bytes)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 64, bytes), 0);
	return p;
}

static void assert_close(const float *ref, const float *got, size_t n, const char *what)
{
	float diff = tu_max_abs_diff(got, ref, n);
	float tol = 1e-5f * tu_max_abs(ref, n) + 1e-6f;

	if (!(diff <= tol))
		fail_msg("%s: max |fast - ref| = %g > tolerance %g", what, (double)diff, (double)tol);
}

static void assert_floats(const float *got, const float *want, size_t n, float tol, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (!(fabsf(got[i] - want[i]) <= tol))
			fail_msg("%s[%zu] = %.9g, want %.9g", what, i, (double)got[i], (double)want[i]);
}

static void describe(char *buf, size_t n, const char *op, const struct fw_conv_geom *g)
{
	static const char *acts[] = {"none", "relu", "prelu"};

	snprintf(buf, n, "%s in %dx%dx%d -> %dx%dx%d k%dx%d s%d,%d d%d,%d pad_t %d pad_l %d act %s", op,
		 g->in_h, g->in_w, g->in_c, g->out_h, g->out_w, g->out_c, g->k_h, g->k_w, g->stride_h,
		 g->stride_w, g->dil_h, g->dil_w, g->pad_t, g->pad_l, acts[g->act]);
}

/* Slopes in [-2, 2] with the first one forced negative: PReLU must not be max(x, a*x). */
static float *slopes(int c)
{
	float *s = rand_buf((size_t)c, -2.0f, 2.0f);

	s[0] = -0.75f;
	return s;
}

/* conv2d: gemm vs ref. with_bias = 0 passes bias NULL. */
static void conv_case(const struct fw_conv_geom *g, int with_bias)
{
	size_t n_in = (size_t)g->in_h * g->in_w * g->in_c;
	size_t n_w = (size_t)g->out_c * g->k_h * g->k_w * g->in_c;
	size_t n_out = (size_t)g->out_h * g->out_w * g->out_c;
	float *in = rand_buf(n_in, -1.0f, 1.0f), *w = rand_buf(n_w, -1.0f, 1.0f);
	float *bias = with_bias ? rand_buf((size_t)g->out_c, -1.0f, 1.0f) : NULL;
	float *slope = g->act == FW_ACT_PRELU ? slopes(g->out_c) : NULL;
	float *ref = nan_buf(n_out), *got = nan_buf(n_out);
	size_t scratch_bytes = fw_conv2d_f32_scratch(g);
	/* a 1x1 stride-1 unpadded conv needs no scratch: prove it by passing none */
	float *scratch = scratch_bytes ? scratch_alloc(scratch_bytes) : NULL;
	char what[200];

	describe(what, sizeof what, "conv2d", g);
	fw_conv2d_f32_ref(g, in, w, bias, slope, ref);
	fw_conv2d_f32_gemm(g, in, w, bias, slope, got, scratch);
	assert_close(ref, got, n_out, what);
	free(in), free(w), free(bias), free(slope), free(ref), free(got), free(scratch);
}

static void dwconv_case(const struct fw_conv_geom *g, int with_bias)
{
	size_t n_in = (size_t)g->in_h * g->in_w * g->in_c;
	size_t n_w = (size_t)g->k_h * g->k_w * g->in_c;
	size_t n_out = (size_t)g->out_h * g->out_w * g->out_c;
	float *in = rand_buf(n_in, -1.0f, 1.0f), *w = rand_buf(n_w, -1.0f, 1.0f);
	float *bias = with_bias ? rand_buf((size_t)g->out_c, -1.0f, 1.0f) : NULL;
	float *slope = g->act == FW_ACT_PRELU ? slopes(g->out_c) : NULL;
	float *ref = nan_buf(n_out), *got = nan_buf(n_out);
	char what[200];

	describe(what, sizeof what, "dwconv2d", g);
	fw_dwconv2d_f32_ref(g, in, w, bias, slope, ref);
	fw_dwconv2d_f32_fast(g, in, w, bias, slope, got);
	assert_close(ref, got, n_out, what);
	free(in), free(w), free(bias), free(slope), free(ref), free(got);
}

static const int odd_sizes[] = {1, 3, 7, 13};
static const int odd_chans[] = {1, 3, 5, 17, 33};
static const int pads[][2] = {{0, 0}, {0, 1}, {1, 1}, {1, 2}};

/* ---- reference, by hand ----------------------------------------------- */

/* 4x4 ramp 0..15, one channel. */
static void ramp4(float *in)
{
	for (int i = 0; i < 16; i++)
		in[i] = (float)i;
}

static void test_conv_ref_ramp_same(void **state)
{
	(void)state;
	/* 3x3 all-ones kernel, SAME (pad 1 each side), stride 1: each output is
	 * the sum of the in-range 3x3 neighbourhood of the ramp
	 *    0  1  2  3
	 *    4  5  6  7
	 *    8  9 10 11
	 *   12 13 14 15
	 * e.g. (0,0) = 0+1+4+5 = 10, (1,1) = 0+1+2+4+5+6+8+9+10 = 45. */
	static const float want[16] = {
		10, 18, 24, 18,
		27, 45, 54, 39,
		51, 81, 90, 63,
		42, 66, 72, 50,
	};
	struct fw_conv_geom g;
	float in[16], w[9], out[16];

	ramp4(in);
	for (int i = 0; i < 9; i++)
		w[i] = 1.0f;
	assert_int_equal(tu_make_geom(&g, 4, 4, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, FW_ACT_NONE), 0);
	assert_int_equal(g.out_h, 4);
	fw_conv2d_f32_ref(&g, in, w, NULL, NULL, out);
	assert_floats(out, want, 16, 0.0f, "conv same");
}

static void test_conv_ref_ramp_stride2_asymmetric(void **state)
{
	(void)state;
	/* TFLite SAME with stride 2 on an even size: pad 0 before, 1 after.
	 * (0,0) = rows 0-2 x cols 0-2 = 45; (0,1) = rows 0-2 x cols 2-3 = 2+3+6+7+10+11 = 39;
	 * (1,0) = rows 2-3 x cols 0-2 = 8+9+10+12+13+14 = 66; (1,1) = 10+11+14+15 = 50. */
	static const float want[4] = {45, 39, 66, 50};
	struct fw_conv_geom g;
	float in[16], w[9], out[4];

	ramp4(in);
	for (int i = 0; i < 9; i++)
		w[i] = 1.0f;
	assert_int_equal(tu_make_geom(&g, 4, 4, 1, 1, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, FW_ACT_NONE), 0);
	assert_int_equal(g.out_h, 2);
	assert_int_equal(g.out_w, 2);
	fw_conv2d_f32_ref(&g, in, w, NULL, NULL, out);
	assert_floats(out, want, 4, 0.0f, "conv s2");
}

static void test_conv_ref_weighted_dilated(void **state)
{
	(void)state;
	/* 5x5 ramp 0..24, 3x3 kernel, dilation 2, VALID: one output reading
	 * in[0,2,4][0,2,4] = 0 2 4 / 10 12 14 / 20 22 24. Kernel 1..9 row-major:
	 * 1*0+2*2+3*4 + 4*10+5*12+6*14 + 7*20+8*22+9*24 = 16 + 184 + 532 = 732. */
	struct fw_conv_geom g;
	float in[25], w[9], out[1];

	for (int i = 0; i < 25; i++)
		in[i] = (float)i;
	for (int i = 0; i < 9; i++)
		w[i] = (float)(i + 1);
	assert_int_equal(tu_make_geom(&g, 5, 5, 1, 1, 3, 3, 1, 1, 2, 2, 0, 0, 0, 0, FW_ACT_NONE), 0);
	assert_int_equal(g.out_h, 1);
	fw_conv2d_f32_ref(&g, in, w, NULL, NULL, out);
	assert_floats(out, (const float[]){732}, 1, 0.0f, "conv dilated");
}

static void test_conv_ref_channels_bias_prelu(void **state)
{
	(void)state;
	/* 1x1 conv, one pixel, in_c 2 = [1, 2], OHWI weights: o0 = [3, 4], o1 = [-1, -1],
	 * o2 = [1, -2]; bias [0.5, 1, 0]; PReLU slopes [0.1, -2, 0.5].
	 * o0 = 3+8+0.5 = 11.5 (positive, kept); o1 = -3+1 = -2 -> -2 * -2 = 4;
	 * o2 = 1-4 = -3 -> 0.5 * -3 = -1.5. */
	struct fw_conv_geom g;
	const float in[2] = {1, 2}, w[6] = {3, 4, -1, -1, 1, -2}, bias[3] = {0.5f, 1, 0};
	const float slope[3] = {0.1f, -2, 0.5f};
	float out[3], got[3];

	assert_int_equal(tu_make_geom(&g, 1, 1, 2, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_PRELU), 0);
	fw_conv2d_f32_ref(&g, in, w, bias, slope, out);
	assert_floats(out, (const float[]){11.5f, 4, -1.5f}, 3, 0.0f, "conv prelu");
	g.act = FW_ACT_RELU;
	fw_conv2d_f32_ref(&g, in, w, bias, NULL, out);
	assert_floats(out, (const float[]){11.5f, 0, 0}, 3, 0.0f, "conv relu");
	/* and the GEMM path on the same hand case */
	g.act = FW_ACT_PRELU;
	fw_conv2d_f32_gemm(&g, in, w, bias, slope, got, NULL);
	assert_floats(got, (const float[]){11.5f, 4, -1.5f}, 3, 0.0f, "gemm prelu");
}

static void test_conv_ref_multi_channel_taps(void **state)
{
	(void)state;
	/* 2x2 input, 2 channels (ch0 = 1..4, ch1 = 10..40), one 2x2 VALID output, OHWI
	 * kernel [1][2][2][2] with ch0 taps 1,0,0,1 and ch1 taps 0,1,1,0:
	 * ch0 picks (0,0)+(1,1) = 1+4, ch1 picks (0,1)+(1,0) = 20+30; total 55. */
	struct fw_conv_geom g;
	const float in[8] = {1, 10, 2, 20, 3, 30, 4, 40};
	const float w[8] = {1, 0, 0, 1, 0, 1, 1, 0};
	float out[1];

	assert_int_equal(tu_make_geom(&g, 2, 2, 2, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_NONE), 0);
	fw_conv2d_f32_ref(&g, in, w, NULL, NULL, out);
	assert_floats(out, (const float[]){55}, 1, 0.0f, "conv OHWI");
}

static void test_dwconv_ref_by_hand(void **state)
{
	(void)state;
	/* 4x4, 2 channels: ch0 = ramp with an all-ones 3x3 kernel (the SAME sums of
	 * test_conv_ref_ramp_same), ch1 = -ramp with only the centre tap = 2, so
	 * ch1 out = -2 * ramp. Bias [1, 0]. With RELU all of ch1 becomes 0. */
	static const float sums[16] = {10, 18, 24, 18, 27, 45, 54, 39, 51, 81, 90, 63, 42, 66, 72, 50};
	struct fw_conv_geom g;
	float in[32], w[18] = {0}, out[32], want[32];
	const float bias[2] = {1, 0};

	for (int i = 0; i < 16; i++) {
		in[2 * i] = (float)i;
		in[2 * i + 1] = -(float)i;
		want[2 * i] = sums[i] + 1;
		want[2 * i + 1] = -2.0f * (float)i;
	}
	for (int t = 0; t < 9; t++)
		w[2 * t] = 1.0f;
	w[2 * 4 + 1] = 2.0f; /* centre tap (1,1) of channel 1 */
	assert_int_equal(tu_make_geom(&g, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, FW_ACT_NONE), 0);
	fw_dwconv2d_f32_ref(&g, in, w, bias, NULL, out);
	assert_floats(out, want, 32, 0.0f, "dwconv ref");
	fw_dwconv2d_f32_fast(&g, in, w, bias, NULL, out);
	assert_floats(out, want, 32, 0.0f, "dwconv fast");
	g.act = FW_ACT_RELU;
	for (int i = 0; i < 16; i++)
		want[2 * i + 1] = 0.0f;
	fw_dwconv2d_f32_ref(&g, in, w, bias, NULL, out);
	assert_floats(out, want, 32, 0.0f, "dwconv ref relu");
}

static void test_fc_ref_by_hand(void **state)
{
	(void)state;
	/* w = [[1, 2, 3], [-1, 0, -1]], in = [1, 1, 2], bias [0, 0.5]:
	 * o0 = 1+2+6 = 9, o1 = -1-2+0.5 = -2.5 -> PReLU slope -0.4 -> 1.0. */
	const float w[6] = {1, 2, 3, -1, 0, -1}, in[3] = {1, 1, 2}, bias[2] = {0, 0.5f};
	const float slope[2] = {3, -0.4f};
	float out[2];

	fw_fc_f32_ref(3, 2, in, w, bias, slope, FW_ACT_PRELU, out);
	assert_floats(out, (const float[]){9, 1.0f}, 2, 1e-6f, "fc ref");
	fw_fc_f32_blas(3, 2, in, w, bias, slope, FW_ACT_PRELU, out);
	assert_floats(out, (const float[]){9, 1.0f}, 2, 1e-6f, "fc blas");
	fw_fc_f32_ref(3, 2, in, w, NULL, NULL, FW_ACT_NONE, out);
	assert_floats(out, (const float[]){9, -3}, 2, 0.0f, "fc ref no bias");
}

static void test_epilogue_by_hand(void **state)
{
	(void)state;
	/* two rows of 3 channels; bias [1, -1, 0]; slopes [0.5, -1, 2] */
	const float bias[3] = {1, -1, 0}, slope[3] = {0.5f, -1, 2};
	float y[6] = {-3, 0.5f, -1, 2, -2, 0};

	fw_epilogue_f32(y, 2, 3, bias, slope, FW_ACT_PRELU);
	/* row 0: -2 -> -1; -0.5 -> 0.5; -1 -> -2.  row 1: 3; -3 -> 3; 0 -> 0 */
	assert_floats(y, (const float[]){-1, 0.5f, -2, 3, 3, 0}, 6, 0.0f, "prelu");
	float z[3] = {-3, 0.5f, -1};
	fw_epilogue_f32(z, 1, 3, bias, NULL, FW_ACT_RELU);
	assert_floats(z, (const float[]){0, 0, 0}, 3, 0.0f, "relu");
	float u[3] = {-3, 0.5f, -1};
	fw_epilogue_f32(u, 1, 3, NULL, NULL, FW_ACT_NONE);
	assert_floats(u, (const float[]){-3, 0.5f, -1}, 3, 0.0f, "none");
	/* a NaN (a bug upstream) stays visible through PReLU */
	float v[3] = {NAN, 1, -1};
	fw_epilogue_f32(v, 1, 3, NULL, slope, FW_ACT_PRELU);
	assert_true(isnan(v[0]));
	assert_floats(v + 1, (const float[]){1, -2}, 2, 0.0f, "prelu after nan"); /* slope[2] = 2 */
}

static void test_maxpool_padding_never_wins(void **state)
{
	(void)state;
	/* every real value negative; 3x3 stride 1 pad 1 on 2x2: each window covers
	 * the whole input plus padding, so every output is the largest real value,
	 * -2, never the 0 a zero-padded pool would give. */
	const float in[4] = {-5, -3, -4, -2};
	float out[4];
	struct fw_conv_geom g;

	assert_int_equal(tu_make_geom(&g, 2, 2, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, FW_ACT_NONE), 0);
	fw_maxpool_f32(&g, in, out);
	assert_floats(out, (const float[]){-2, -2, -2, -2}, 4, 0.0f, "maxpool");

	/* 3x3/s2 SAME on 4x4 (O-Net pool1 style): pad 0 before, 1 after -> 2x2.
	 * 2 channels: ch0 = -(1..16) row-major, ch1 = 1..16. Window (0,1) covers
	 * columns 2-4 of which 4 is padding; window (1,1) holds the real 2x2 corner. */
	float in2[32], out2[8];

	for (int i = 0; i < 16; i++) {
		in2[2 * i] = -(float)(i + 1);
		in2[2 * i + 1] = (float)(i + 1);
	}
	assert_int_equal(tu_make_geom(&g, 4, 4, 2, 2, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, FW_ACT_NONE), 0);
	assert_int_equal(g.out_h, 2);
	assert_int_equal(g.out_w, 2);
	fw_maxpool_f32(&g, in2, out2);
	/* (0,0): rows 0-2 x cols 0-2 -> -1 / 11; (0,1): rows 0-2 x cols 2-3 -> -3 / 12;
	 * (1,0): rows 2-3 x cols 0-2 -> -9 / 15; (1,1): rows 2-3 x cols 2-3 -> -11 / 16 */
	assert_floats(out2, (const float[]){-1, 11, -3, 12, -9, 15, -11, 16}, 8, 0.0f, "maxpool s2");
}

static void test_add(void **state)
{
	(void)state;
	float a[4] = {1, -2, 3, -4};
	const float b[4] = {0.5f, 1, -4, 4};
	float out[4];

	fw_add_f32(a, b, out, 4, FW_ACT_NONE);
	assert_floats(out, (const float[]){1.5f, -1, -1, 0}, 4, 0.0f, "add");
	fw_add_f32(a, b, a, 4, FW_ACT_RELU); /* out aliases a */
	assert_floats(a, (const float[]){1.5f, 0, 0, 0}, 4, 0.0f, "add relu in place");
}

static void test_pad_channels_and_space(void **state)
{
	(void)state;
	/* BlazeFace residual: append zero channels at the end of C. 1x2x2x2 -> c + 3. */
	const int dims[4] = {1, 2, 2, 2};
	const int padc[8] = {0, 0, 0, 0, 0, 0, 0, 3};
	const float in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	float out[20];

	for (int i = 0; i < 20; i++)
		out[i] = NAN;
	fw_pad_f32(dims, padc, in, out);
	assert_floats(out, (const float[]){1, 2, 0, 0, 0, 3, 4, 0, 0, 0, 5, 6, 0, 0, 0, 7, 8, 0, 0, 0},
		      20, 0.0f, "pad c");

	/* one row above, one column right, one channel before: 1x1x2x1 -> 1x2x3x2 */
	const int dims2[4] = {1, 1, 2, 1};
	const int pad2[8] = {0, 0, 1, 0, 0, 1, 1, 0};
	const float in2[2] = {7, 9};
	float out2[12];

	fw_pad_f32(dims2, pad2, in2, out2);
	assert_floats(out2, (const float[]){0, 0, 0, 0, 0, 0, 0, 7, 0, 9, 0, 0}, 12, 0.0f, "pad hw");
}

static void test_resize_by_hand(void **state)
{
	(void)state;
	const float in[2] = {0, 1};
	float out[4];

	/* TFLite half-pixel, 2 -> 4: src = (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25;
	 * -0.25 clamps to the first value, 1.25 to the last. */
	fw_resize_bilinear_f32(1, 2, 1, in, 1, 4, out, 1, 0);
	assert_floats(out, (const float[]){0, 0.25f, 0.75f, 1}, 4, 0.0f, "half-pixel");
	/* legacy: src = x * 2 / 4 = 0, 0.5, 1, 1.5 (upper index clamped) */
	fw_resize_bilinear_f32(1, 2, 1, in, 1, 4, out, 0, 0);
	assert_floats(out, (const float[]){0, 0.5f, 1, 1}, 4, 0.0f, "legacy");
	/* align_corners, 2 -> 3: src = x * 1 / 2 */
	fw_resize_bilinear_f32(1, 2, 1, in, 1, 3, out, 0, 1);
	assert_floats(out, (const float[]){0, 0.5f, 1}, 3, 0.0f, "align corners");

	/* 2-D, 2 channels: 2x2 -> 4x4 half-pixel; channel 0 = [[0, 1], [2, 3]] is
	 * bilinear in (y, x): value = 2*fy + fx with each axis as above, so rows are
	 * {0, .25, .75, 1} + 2*{0, .25, .75, 1}; channel 1 = 10 * channel 0. */
	const float in2[8] = {0, 0, 1, 10, 2, 20, 3, 30};
	const float ax[4] = {0, 0.25f, 0.75f, 1};
	float out2[32];

	fw_resize_bilinear_f32(2, 2, 2, in2, 4, 4, out2, 1, 0);
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++) {
			float v = 2 * ax[y] + ax[x];
			assert_floats(&out2[(y * 4 + x) * 2], (const float[]){v, 10 * v}, 2, 1e-6f, "2-D");
		}
}

/* The README / OpenCV INTER_LINEAR formula, written independently in double:
 * src = max(s, 0) (half-pixel), i0 = floor, i1 = min(i0 + 1, in - 1), f = src - i0. */
static double axis_src(int d, int in, int out, int half_pixel, int align_corners)
{
	if (align_corners && out > 1)
		return d * (double)(in - 1) / (out - 1);
	if (half_pixel) {
		double s = (d + 0.5) * in / out - 0.5;
		return s < 0 ? 0 : s;
	}
	return d * (double)in / out;
}

static void test_resize_vs_independent(void **state)
{
	(void)state;
	static const int sizes[][4] = {{1, 1, 4, 4}, {3, 5, 7, 13}, {6, 6, 12, 12}, {13, 7, 3, 5},
				       {7, 3, 7, 3},  {2, 9, 5, 1}, {24, 24, 48, 48}};
	const int modes[3][2] = {{1, 0}, {0, 0}, {0, 1}};

	for (size_t s = 0; s < ARRAY_LEN(sizes); s++) {
		for (int m = 0; m < 3; m++) {
			int ih = sizes[s][0], iw = sizes[s][1], oh = sizes[s][2], ow = sizes[s][3], c = 5;
			float *in = rand_buf((size_t)ih * iw * c, -3, 3), *out = nan_buf((size_t)oh * ow * c);
			float *want = nan_buf((size_t)oh * ow * c);

			fw_resize_bilinear_f32(ih, iw, c, in, oh, ow, out, modes[m][0], modes[m][1]);
			for (int y = 0; y < oh; y++) {
				double sy = axis_src(y, ih, oh, modes[m][0], modes[m][1]);
				int y0 = (int)floor(sy), y1 = y0 + 1 < ih ? y0 + 1 : ih - 1;
				double fy = sy - y0;

				for (int x = 0; x < ow; x++) {
					double sx = axis_src(x, iw, ow, modes[m][0], modes[m][1]);
					int x0 = (int)floor(sx), x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
					double fx = sx - x0;

					for (int ch = 0; ch < c; ch++) {
#define AT(yy, xx) ((double)in[((size_t)(yy) * iw + (xx)) * c + ch])
						want[((size_t)y * ow + x) * c + ch] =
							(float)((AT(y0, x0) * (1 - fx) + AT(y0, x1) * fx) * (1 - fy) +
								(AT(y1, x0) * (1 - fx) + AT(y1, x1) * fx) * fy);
#undef AT
					}
				}
			}
			assert_close(want, out, (size_t)oh * ow * c, "resize vs independent formula");
			free(in), free(out), free(want);
		}
	}
}

static void test_softmax_by_hand(void **state)
{
	(void)state;
	/* [0, ln 3] -> [1/4, 3/4], in place */
	float x[2] = {0, logf(3.0f)};

	fw_softmax_f32(1, 2, x, x);
	assert_floats(x, (const float[]){0.25f, 0.75f}, 2, 1e-6f, "softmax");

	/* [1000, 1001] overflows expf without the max subtracted: 1/(1+e), e/(1+e) */
	float big[2] = {1000, 1001}, p[2];

	fw_softmax_f32(1, 2, big, p);
	assert_floats(p, (const float[]){0.268941421f, 0.731058579f}, 2, 1e-6f, "softmax large");

	float y[3] = {-1000, 0, -1000}, out[3];
	fw_softmax_f32(1, 3, y, out);
	assert_floats(out, (const float[]){0, 1, 0}, 3, 0.0f, "softmax one-hot");
}

static void test_concat_axes(void **state)
{
	(void)state;
	/* a: 1x1x2x2 = [[1,2],[3,4]], b: 1x1x1x2 = [[5,6]] along axis 2 (W):
	 * 1x1x3x2 = [1,2,3,4,5,6] */
	const float a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
	const int dims_w[2][4] = {{1, 1, 2, 2}, {1, 1, 1, 2}};
	const float *ins[2] = {a, b};
	float out[8];

	fw_concat_f32(2, dims_w, ins, 2, out);
	assert_floats(out, (const float[]){1, 2, 3, 4, 5, 6}, 6, 0.0f, "concat W");

	/* along axis 3 (C): a 1x1x2x2, c: 1x1x2x1 = [7, 8] -> per pixel a's channels then c's:
	 * [1,2,7, 3,4,8] */
	const float c[2] = {7, 8};
	const int dims_c[2][4] = {{1, 1, 2, 2}, {1, 1, 2, 1}};
	const float *ins_c[2] = {a, c};

	fw_concat_f32(2, dims_c, ins_c, 3, out);
	assert_floats(out, (const float[]){1, 2, 7, 3, 4, 8}, 6, 0.0f, "concat C");

	/* along axis 1 (H), three inputs (BlazeFace head style [1,n,1,k]) */
	const int dims_h[3][4] = {{1, 2, 1, 2}, {1, 1, 1, 2}, {1, 1, 1, 2}};
	const float *ins_h[3] = {a, b, c};

	fw_concat_f32(3, dims_h, ins_h, 1, out);
	assert_floats(out, (const float[]){1, 2, 3, 4, 5, 6, 7, 8}, 8, 0.0f, "concat H");
}

/* ---- fast vs reference on awkward shapes ------------------------------ */

static void test_conv_gemm_vs_ref_random(void **state)
{
	(void)state;
	static const int kernels[] = {1, 3, 5, 7};
	int cases = 0;

	tu_srand(0xc0471);
	for (size_t ki = 0; ki < ARRAY_LEN(kernels); ki++)
		for (int s = 1; s <= 2; s++)
			for (int d = 1; d <= 2; d++)
				for (int act = FW_ACT_NONE; act <= FW_ACT_PRELU; act++)
					for (size_t p = 0; p < 2 * ARRAY_LEN(pads); p++) {
						struct fw_conv_geom g;
						const int *pv = pads[p % ARRAY_LEN(pads)], *ph = pads[tu_randi(0, 3)];
						int k = kernels[ki], tries = 0;

						/* draw sizes until the dilated kernel fits the padded input */
						while (tu_make_geom(&g, tu_pick(odd_sizes, 4), tu_pick(odd_sizes, 4),
								    tu_pick(odd_chans, 5), tu_pick(odd_chans, 5), k, k, s, s, d,
								    d, pv[0], pv[1], ph[0], ph[1], act) != 0 && ++tries < 50)
							;
						if (tries == 50)
							continue;
						conv_case(&g, tu_randi(0, 3) != 0);
						cases++;
					}
	print_message("conv2d gemm vs ref: %d random cases\n", cases);
	assert_true(cases > 300);
}

static void test_conv_gemm_vs_ref_special(void **state)
{
	(void)state;
	/* in_h, in_w, in_c, out_c, k_h, k_w, s_h, s_w, d, pad_t, pad_b, pad_l, pad_r, act */
	static const int shapes[][14] = {
		/* 1x1 stride 1 unpadded: the input is the GEMM operand (no scratch) */
		{13, 7, 17, 33, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_PRELU},
		{1, 1, 33, 5, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_RELU},
		{3, 13, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_NONE},
		/* 1x1 that is not pointwise: strided, or padded */
		{13, 13, 5, 3, 1, 1, 2, 2, 1, 0, 0, 0, 0, FW_ACT_NONE},
		{7, 3, 5, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1, FW_ACT_PRELU},
		/* kernel larger than the input: every tap row partly padded */
		{3, 3, 3, 5, 7, 7, 1, 1, 1, 3, 3, 3, 3, FW_ACT_PRELU},
		{1, 1, 17, 3, 5, 5, 2, 2, 1, 2, 2, 2, 2, FW_ACT_NONE},
		/* rectangular kernels, anisotropic stride, dilation with padding */
		{7, 13, 3, 17, 3, 5, 1, 1, 1, 1, 1, 2, 2, FW_ACT_RELU},
		{13, 7, 5, 5, 5, 1, 2, 1, 1, 1, 2, 0, 0, FW_ACT_PRELU},
		{13, 13, 3, 5, 3, 3, 1, 2, 2, 2, 2, 1, 2, FW_ACT_PRELU},
		/* real layers: BlazeFace short first conv (5x5/s2, pads 1/2), MobileFaceNet first
		 * conv (3x3/s2, pads 0/1), O-Net conv4 (2x2 VALID), a BlazeFace 1x1 */
		{128, 128, 3, 24, 5, 5, 2, 2, 1, 1, 2, 1, 2, FW_ACT_NONE},
		{112, 112, 3, 64, 3, 3, 2, 2, 1, 0, 1, 0, 1, FW_ACT_PRELU},
		{4, 4, 64, 128, 2, 2, 1, 1, 1, 0, 0, 0, 0, FW_ACT_PRELU},
		{64, 64, 24, 28, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_NONE},
	};

	tu_srand(0x5bec1a1);
	for (size_t i = 0; i < ARRAY_LEN(shapes); i++) {
		const int *v = shapes[i];
		struct fw_conv_geom g;

		assert_int_equal(tu_make_geom(&g, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[8],
					      v[9], v[10], v[11], v[12], v[13]),
				 0);
		conv_case(&g, 1);
	}
	/* the pointwise case really takes no scratch */
	{
		struct fw_conv_geom g;

		tu_make_geom(&g, 13, 7, 17, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, FW_ACT_NONE);
		assert_int_equal(fw_conv2d_f32_scratch(&g), 0);
	}
}

static void test_dwconv_fast_vs_ref_random(void **state)
{
	(void)state;
	static const int kernels[] = {1, 3, 5, 7};
	/* odd channel counts, plus ones that exercise each vector block: 24 = 16+8,
	 * 28 = 16+8+4, 44 = 2*16+8+4, 47 = 2*16+8+4+3 */
	static const int chans[] = {1, 3, 5, 17, 33, 24, 28, 44, 47};
	int cases = 0;

	tu_srand(0xd3c0);
	for (size_t ki = 0; ki < ARRAY_LEN(kernels); ki++)
		for (int s = 1; s <= 2; s++)
			for (int d = 1; d <= 2; d++)
				for (int act = FW_ACT_NONE; act <= FW_ACT_PRELU; act++)
					for (size_t p = 0; p < ARRAY_LEN(pads); p++)
						for (int rep = 0; rep < 2; rep++) {
							struct fw_conv_geom g;
							const int *pv = pads[p], *ph = pads[tu_randi(0, 3)];
							int k = kernels[ki], c = tu_pick(chans, ARRAY_LEN(chans)), tries = 0;

							while (tu_make_geom(&g, tu_pick(odd_sizes, 4), tu_pick(odd_sizes, 4), c, c,
									    k, k, s, s, d, d, pv[0], pv[1], ph[0], ph[1],
									    act) != 0 &&
							       ++tries < 50)
								;
							if (tries == 50)
								continue;
							dwconv_case(&g, tu_randi(0, 3) != 0);
							cases++;
						}
	print_message("dwconv fast vs ref: %d random cases\n", cases);
	assert_true(cases > 300);
}

static void test_dwconv_fast_vs_ref_special(void **state)
{
	(void)state;
	/* in_h, in_w, c, k_h, k_w, s, d, pad_t, pad_b, pad_l, pad_r, act */
	static const int shapes[][12] = {
		/* BlazeFace short: 3x3/s1 SAME, 3x3/s2 pads 0/1 */
		{64, 64, 24, 3, 3, 1, 1, 1, 1, 1, 1, FW_ACT_NONE},
		{64, 64, 28, 3, 3, 2, 1, 0, 1, 0, 1, FW_ACT_NONE},
		{16, 16, 88, 3, 3, 2, 1, 0, 1, 0, 1, FW_ACT_RELU},
		/* MobileFaceNet: 3x3 on 56x56x64, and GDConv 7x7 -> 1x1 VALID */
		{56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, FW_ACT_PRELU},
		{7, 7, 512, 7, 7, 1, 1, 0, 0, 0, 0, FW_ACT_NONE},
		/* 5x5 SAME both strides (BlazeFace paper style) */
		{13, 13, 33, 5, 5, 1, 1, 2, 2, 2, 2, FW_ACT_PRELU},
		{13, 13, 33, 5, 5, 2, 1, 1, 2, 1, 2, FW_ACT_RELU},
		/* rectangular kernel, anisotropic padding; no interior at all */
		{7, 13, 17, 3, 5, 1, 1, 0, 2, 2, 1, FW_ACT_PRELU},
		{2, 2, 5, 5, 5, 1, 1, 2, 2, 2, 2, FW_ACT_NONE},
		/* interior rows but empty interior columns */
		{13, 3, 17, 3, 5, 1, 1, 1, 1, 2, 2, FW_ACT_RELU},
	};

	tu_srand(0xd3c1);
	for (size_t i = 0; i < ARRAY_LEN(shapes); i++) {
		const int *v = shapes[i];
		struct fw_conv_geom g;

		assert_int_equal(tu_make_geom(&g, v[0], v[1], v[2], v[2], v[3], v[4], v[5], v[5], v[6], v[6], v[7],
					      v[8], v[9], v[10], v[11]),
				 0);
		dwconv_case(&g, 1);
	}
}

static void test_fc_blas_vs_ref_random(void **state)
{
	(void)state;
	static const int n_ins[] = {1, 3, 17, 33, 512, 1152};
	static const int n_outs[] = {1, 2, 5, 17, 192, 256};

	tu_srand(0xfc);
	for (size_t i = 0; i < ARRAY_LEN(n_ins); i++)
		for (size_t o = 0; o < ARRAY_LEN(n_outs); o++)
			for (int act = FW_ACT_NONE; act <= FW_ACT_PRELU; act++) {
				int ni = n_ins[i], no = n_outs[o], with_bias = (int)((i + o + (size_t)act) % 3 != 0);
				float *in = rand_buf((size_t)ni, -1, 1), *w = rand_buf((size_t)ni * no, -1, 1);
				float *bias = with_bias ? rand_buf((size_t)no, -1, 1) : NULL;
				float *slope = act == FW_ACT_PRELU ? slopes(no) : NULL;
				float *ref = nan_buf((size_t)no), *got = nan_buf((size_t)no);
				char what[80];

				snprintf(what, sizeof what, "fc %d -> %d act %d", ni, no, act);
				fw_fc_f32_ref(ni, no, in, w, bias, slope, act, ref);
				fw_fc_f32_blas(ni, no, in, w, bias, slope, act, got);
				assert_close(ref, got, (size_t)no, what);
				free(in), free(w), free(bias), free(slope), free(ref), free(got);
			}
}

/* ---- against the per-layer goldens (skipped when absent) --------------- */

static int have(const char *path)
{
	FILE *f = fopen(path, "rb");

	if (f)
		fclose(f);
	return f != NULL;
}

static void test_maxpool_vs_golden_onet_pool1(void **state)
{
	(void)state;
	/* O-Net pool1: 3x3/s2 SAME on 46x46x32, pad 0 before / 1 after with -inf.
	 * A max is exact, so the result must be bit-identical. */
	const char *pin = tu_shared("models/golden/layers/onet/006_add_onet_prelu1_add.f32.bin");
	const char *pout = tu_shared("models/golden/layers/onet/007_max_pool_2d_onet_pool1.f32.bin");
	struct fw_conv_geom g;

	if (!have(pin) || !have(pout))
		skip();
	float *in = tu_read_f32(pin, 46 * 46 * 32), *want = tu_read_f32(pout, 23 * 23 * 32);
	float *out = nan_buf(23 * 23 * 32);

	assert_int_equal(tu_make_geom(&g, 46, 46, 32, 32, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, FW_ACT_NONE), 0);
	assert_int_equal(g.out_h, 23);
	fw_maxpool_f32(&g, in, out);
	assert_memory_equal(out, want, 23 * 23 * 32 * sizeof(float));
	free(in), free(want), free(out);
}

static void test_resize_vs_golden_blaze_full(void **state)
{
	(void)state;
	/* BlazeFace full's half-pixel upsample 6x6x96 -> 12x12x96. The goldens are float16,
	 * so allow 1e-3 x max (README: f16 layers flag above that); the legacy resize is
	 * off by far more, so this pins the half-pixel semantics on real data. */
	const char *pin = tu_shared("models/golden/layers/blaze_full/121_relu_activation_31.f16.bin");
	const char *pout = tu_shared("models/golden/layers/blaze_full/123_resize_bilinear_up_sampling2d.f16.bin");

	if (!have(pin) || !have(pout))
		skip();
	float *in = tu_read_f16(pin, 6 * 6 * 96), *want = tu_read_f16(pout, 12 * 12 * 96);
	float *out = nan_buf(12 * 12 * 96);
	float tol = 1e-3f * tu_max_abs(want, 12 * 12 * 96);

	fw_resize_bilinear_f32(6, 6, 96, in, 12, 12, out, 1, 0);
	assert_true(tu_max_abs_diff(out, want, 12 * 12 * 96) <= tol);
	fw_resize_bilinear_f32(6, 6, 96, in, 12, 12, out, 0, 0);
	assert_true(tu_max_abs_diff(out, want, 12 * 12 * 96) > tol); /* legacy must not pass */
	free(in), free(want), free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv_ref_ramp_same),
		cmocka_unit_test(test_conv_ref_ramp_stride2_asymmetric),
		cmocka_unit_test(test_conv_ref_weighted_dilated),
		cmocka_unit_test(test_conv_ref_channels_bias_prelu),
		cmocka_unit_test(test_conv_ref_multi_channel_taps),
		cmocka_unit_test(test_dwconv_ref_by_hand),
		cmocka_unit_test(test_fc_ref_by_hand),
		cmocka_unit_test(test_epilogue_by_hand),
		cmocka_unit_test(test_maxpool_padding_never_wins),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_pad_channels_and_space),
		cmocka_unit_test(test_resize_by_hand),
		cmocka_unit_test(test_resize_vs_independent),
		cmocka_unit_test(test_softmax_by_hand),
		cmocka_unit_test(test_concat_axes),
		cmocka_unit_test(test_conv_gemm_vs_ref_random),
		cmocka_unit_test(test_conv_gemm_vs_ref_special),
		cmocka_unit_test(test_dwconv_fast_vs_ref_random),
		cmocka_unit_test(test_dwconv_fast_vs_ref_special),
		cmocka_unit_test(test_fc_blas_vs_ref_random),
		cmocka_unit_test(test_maxpool_vs_golden_onet_pool1),
		cmocka_unit_test(test_resize_vs_golden_blaze_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
