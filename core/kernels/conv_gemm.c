/* Fast conv2d and fully connected on OpenBLAS.
 *
 * conv2d is out[M][N] = A[M][K] * W[N][K]^T with M = out_h*out_w pixels,
 * N = out_c, K = k_h*k_w*in_c. Weights are OHWI, which is already W[N][K].
 * A 1x1, stride-1, unpadded conv reads the NHWC input itself as A (no copy);
 * every other shape first lays A out in scratch (im2col, taps in (ky, kx, ic)
 * order to match OHWI), with zeros at padded taps.
 *
 * The epilogue (bias, activation) is a second pass over the output while it
 * is still in cache; passing bias through beta=1 would save little.
 */
#include "kernels.h"
#include "../model_format.h"

#include <assert.h>
#include <cblas.h>
#include <string.h>

/* 1x1 stride-1 conv with no padding: the input is already A[M][K]. */
static int is_pointwise(const struct fw_conv_geom *g)
{
	return g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
	       g->pad_t == 0 && g->pad_l == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

size_t fw_conv2d_f32_scratch(const struct fw_conv_geom *g)
{
	if (is_pointwise(g))
		return 0;
	return (size_t)g->out_h * (size_t)g->out_w * (size_t)g->k_h * (size_t)g->k_w *
	       (size_t)g->in_c * sizeof(float);
}

/* Fill the kx taps [0, k_w) of one kernel row for output column ox.
 * dst has k_w*in_c floats; src is input row iy (in_w*in_c floats). */
static void im2col_row(const struct fw_conv_geom *g, const float *src, int ox, float *dst)
{
	const size_t c = (size_t)g->in_c;
	const int x0 = ox * g->stride_w - g->pad_l;

	if (g->dil_w == 1) {
		/* taps kx in [lo, hi) are inside the row and contiguous in memory */
		int lo = x0 < 0 ? -x0 : 0;
		int hi = g->in_w - x0 < g->k_w ? g->in_w - x0 : g->k_w;

		if (hi <= lo) {
			memset(dst, 0, (size_t)g->k_w * c * sizeof(float));
			return;
		}
		if (lo > 0)
			memset(dst, 0, (size_t)lo * c * sizeof(float));
		memcpy(dst + (size_t)lo * c, src + (size_t)(x0 + lo) * c, (size_t)(hi - lo) * c * sizeof(float));
		if (hi < g->k_w)
			memset(dst + (size_t)hi * c, 0, (size_t)(g->k_w - hi) * c * sizeof(float));
		return;
	}
	for (int kx = 0; kx < g->k_w; kx++) {
		int ix = x0 + kx * g->dil_w;

		if (ix < 0 || ix >= g->in_w)
			memset(dst + (size_t)kx * c, 0, c * sizeof(float));
		else
			memcpy(dst + (size_t)kx * c, src + (size_t)ix * c, c * sizeof(float));
	}
}

static void im2col(const struct fw_conv_geom *g, const float *in, float *a)
{
	const size_t row_k = (size_t)g->k_w * (size_t)g->in_c; /* floats per kernel row */
	const size_t k = (size_t)g->k_h * row_k;
	const size_t in_row = (size_t)g->in_w * (size_t)g->in_c;

	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			float *dst = a + ((size_t)oy * (size_t)g->out_w + (size_t)ox) * k;

			for (int ky = 0; ky < g->k_h; ky++) {
				int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

				if (iy < 0 || iy >= g->in_h)
					memset(dst + (size_t)ky * row_k, 0, row_k * sizeof(float));
				else
					im2col_row(g, in + (size_t)iy * in_row, ox, dst + (size_t)ky * row_k);
			}
		}
	}
}

void fw_conv2d_f32_gemm(const struct fw_conv_geom *g, const float *in, const float *w,
			const float *bias, const float *slope, float *out, float *scratch)
{
	const int m = g->out_h * g->out_w, n = g->out_c, k = g->k_h * g->k_w * g->in_c;
	const float *a = in;

	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	if (!is_pointwise(g)) {
		assert(scratch);
		im2col(g, in, scratch);
		a = scratch;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, w, k, 0.0f, out, n);
	fw_epilogue_f32(out, m, n, bias, slope, g->act);
}

void fw_fc_f32_blas(int n_in, int n_out, const float *in, const float *w, const float *bias,
		    const float *slope, int act, float *out)
{
	cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, n_in, 1.0f, w, n_in, in, 1, 0.0f, out, 1);
	fw_epilogue_f32(out, 1, n_out, bias, slope, act);
}

void fw_kernels_single_thread(void)
{
	openblas_set_num_threads(1);
}
