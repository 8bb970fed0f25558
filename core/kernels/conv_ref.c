/* Reference float kernels: conv2d, depthwise conv2d, fully connected, and the
 * shared bias + activation epilogue.
 *
 * These are the definition of correct for the fast variants (conv_gemm.c,
 * dwconv_fast.c): one output at a time, taps in (ky, kx, ic) order, padded
 * taps skipped. They accumulate in double from the bias, rounding once to
 * float per output, as the independent reference interpreter behind the
 * goldens does: float summation error then stays out of the reference, and
 * a layer that amplifies it (BlazeFace on obama-480p) is judged against
 * exact arithmetic. Speed is not a goal here; clarity is.
 */
#include "kernels.h"
#include "../model_format.h"

#include <assert.h>
#include <stddef.h>

void fw_epilogue_f32(float *y, int rows, int c, const float *bias, const float *slope, int act)
{
	assert(act == FW_ACT_NONE || act == FW_ACT_RELU || act == FW_ACT_PRELU);
	assert(act != FW_ACT_PRELU || slope);

	for (int r = 0; r < rows; r++) {
		float *row = y + (size_t)r * (size_t)c;

		if (bias)
			for (int i = 0; i < c; i++)
				row[i] += bias[i];
		if (act == FW_ACT_RELU) {
			for (int i = 0; i < c; i++)
				row[i] = row[i] >= 0.0f ? row[i] : 0.0f;
		} else if (act == FW_ACT_PRELU) {
			/* y = x >= 0 ? x : slope * x, written as pos + slope * neg with pos, neg
			 * selected against constants: x >= 0 gives x + slope * 0 = x, and x < 0
			 * (or NaN) gives 0 + slope * x, the same value (up to the sign of a
			 * zero). The literal form makes GCC (with -ftrapping-math, the
			 * default) keep the multiply on a branch, which neither vectorises
			 * nor predicts: activations change sign at random.
			 * slope may be negative, so this is not max(x, slope * x). */
			for (int i = 0; i < c; i++) {
				float x = row[i];
				float pos = x >= 0.0f ? x : 0.0f, neg = x >= 0.0f ? 0.0f : x;

				row[i] = pos + slope[i] * neg;
			}
		}
	}
}

void fw_conv2d_f32_ref(const struct fw_conv_geom *g, const float *in, const float *w,
		       const float *bias, const float *slope, float *out)
{
	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			float *o = out + ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)g->out_c;

			for (int oc = 0; oc < g->out_c; oc++) {
				double acc = bias ? bias[oc] : 0.0;

				for (int ky = 0; ky < g->k_h; ky++) {
					int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

					if (iy < 0 || iy >= g->in_h)
						continue; /* zero padding */
					for (int kx = 0; kx < g->k_w; kx++) {
						int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;

						if (ix < 0 || ix >= g->in_w)
							continue;
						const float *ip = in + ((size_t)iy * (size_t)g->in_w + (size_t)ix) *
									       (size_t)g->in_c;
						const float *wp =
							w + (((size_t)oc * (size_t)g->k_h + (size_t)ky) * (size_t)g->k_w +
							     (size_t)kx) * (size_t)g->in_c;
						for (int ic = 0; ic < g->in_c; ic++)
							acc += (double)ip[ic] * wp[ic];
					}
				}
				o[oc] = (float)acc;
			}
		}
	}
	fw_epilogue_f32(out, g->out_h * g->out_w, g->out_c, NULL, slope, g->act);
}

void fw_dwconv2d_f32_ref(const struct fw_conv_geom *g, const float *in, const float *w,
			 const float *bias, const float *slope, float *out)
{
	const int c = g->in_c;

	assert(g->out_c == g->in_c);
	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			float *o = out + ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)c;

			for (int ch = 0; ch < c; ch++) {
				double acc = bias ? bias[ch] : 0.0;

				for (int ky = 0; ky < g->k_h; ky++) {
					int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

					if (iy < 0 || iy >= g->in_h)
						continue;
					for (int kx = 0; kx < g->k_w; kx++) {
						int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;

						if (ix < 0 || ix >= g->in_w)
							continue;
						acc += (double)in[((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)c +
							  (size_t)ch] *
						       w[((size_t)ky * (size_t)g->k_w + (size_t)kx) * (size_t)c +
							 (size_t)ch];
					}
				}
				o[ch] = (float)acc;
			}
		}
	}
	fw_epilogue_f32(out, g->out_h * g->out_w, c, NULL, slope, g->act);
}

void fw_fc_f32_ref(int n_in, int n_out, const float *in, const float *w, const float *bias,
		   const float *slope, int act, float *out)
{
	for (int o = 0; o < n_out; o++) {
		const float *row = w + (size_t)o * (size_t)n_in;
		double acc = bias ? bias[o] : 0.0;

		for (int i = 0; i < n_in; i++)
			acc += (double)row[i] * in[i];
		out[o] = (float)acc;
	}
	fw_epilogue_f32(out, 1, n_out, NULL, slope, act);
}
