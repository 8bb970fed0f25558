/* The remaining float ops: max pool, add, pad, bilinear resize, concat,
 * softmax. Each is a plain loop over NHWC with channels innermost, which is
 * both the obvious form and the one GCC vectorises. */
#include "kernels.h"
#include "../model_format.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

void fw_maxpool_f32(const struct fw_conv_geom *g, const float *in, float *out)
{
	const int c = g->in_c;

	assert(g->out_c == g->in_c);
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			float *o = out + ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)c;

			/* -inf is the padding value (TFLite): a padded cell never wins,
			 * even when every real value is negative */
			for (int ch = 0; ch < c; ch++)
				o[ch] = -INFINITY;
			for (int ky = 0; ky < g->k_h; ky++) {
				int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

				if (iy < 0 || iy >= g->in_h)
					continue;
				for (int kx = 0; kx < g->k_w; kx++) {
					int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;

					if (ix < 0 || ix >= g->in_w)
						continue;
					const float *ip = in + ((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)c;
					for (int ch = 0; ch < c; ch++)
						o[ch] = ip[ch] > o[ch] ? ip[ch] : o[ch];
				}
			}
		}
	}
}

void fw_add_f32(const float *a, const float *b, float *out, size_t n, int act)
{
	assert(act == FW_ACT_NONE || act == FW_ACT_RELU);
	/* out may alias a or b: each element is read before it is written */
	if (act == FW_ACT_RELU) {
		for (size_t i = 0; i < n; i++) {
			float s = a[i] + b[i];
			out[i] = s >= 0.0f ? s : 0.0f;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			out[i] = a[i] + b[i];
	}
}

void fw_pad_f32(const int in_dims[4], const int pad[8], const float *in, float *out)
{
	int od[4];

	for (int i = 0; i < 4; i++) {
		assert(pad[2 * i] >= 0 && pad[2 * i + 1] >= 0);
		od[i] = in_dims[i] + pad[2 * i] + pad[2 * i + 1];
	}
	memset(out, 0, (size_t)od[0] * (size_t)od[1] * (size_t)od[2] * (size_t)od[3] * sizeof(float));
	/* copy each input pixel's channel vector to its place */
	for (int n = 0; n < in_dims[0]; n++) {
		for (int y = 0; y < in_dims[1]; y++) {
			for (int x = 0; x < in_dims[2]; x++) {
				size_t src = (((size_t)n * (size_t)in_dims[1] + (size_t)y) * (size_t)in_dims[2] +
					      (size_t)x) * (size_t)in_dims[3];
				size_t dst = ((((size_t)n + (size_t)pad[0]) * (size_t)od[1] + (size_t)y + (size_t)pad[2]) *
						      (size_t)od[2] +
					      (size_t)x + (size_t)pad[4]) * (size_t)od[3] +
					     (size_t)pad[6];

				memcpy(out + dst, in + src, (size_t)in_dims[3] * sizeof(float));
			}
		}
	}
}

/* TFLite reference ComputeInterpolationValues (float), kept bit for bit:
 * the lower index is clamped at 0 but the fraction is taken against the
 * clamped index, and the upper index is ceil(src) (not lower + 1). For a
 * half-pixel src in [-0.5, 0) this gives lower = upper = 0, i.e. the edge
 * value, which is what "src clamped at 0" means. */
float fw_resize_scale(int in_size, int out_size, int align_corners)
{
	if (align_corners && out_size > 1)
		return (float)(in_size - 1) / (float)(out_size - 1);
	return (float)in_size / (float)out_size;
}

void fw_resize_coord(int dst, float scale, int half_pixel, int in_size, float *src, int *lo, int *hi)
{
	float s = half_pixel ? ((float)dst + 0.5f) * scale - 0.5f : (float)dst * scale;
	int l = (int)floorf(s), h = (int)ceilf(s);

	*src = s;
	*lo = l > 0 ? l : 0;
	*hi = h < in_size - 1 ? h : in_size - 1;
}

void fw_resize_bilinear_f32(int in_h, int in_w, int c, const float *in, int out_h, int out_w,
			    float *out, int half_pixel, int align_corners)
{
	const float sy = fw_resize_scale(in_h, out_h, align_corners);
	const float sx = fw_resize_scale(in_w, out_w, align_corners);

	assert(!(half_pixel && align_corners));
	for (int y = 0; y < out_h; y++) {
		float fy;
		int y0, y1;

		fw_resize_coord(y, sy, half_pixel, in_h, &fy, &y0, &y1);
		/* weights exactly as TFLite forms them: (fy - y0) with y0 clamped */
		const float wy1 = fy - (float)y0, wy0 = 1.0f - wy1;
		const float *r0 = in + (size_t)y0 * (size_t)in_w * (size_t)c;
		const float *r1 = in + (size_t)y1 * (size_t)in_w * (size_t)c;

		for (int x = 0; x < out_w; x++) {
			float fx;
			int x0, x1;

			fw_resize_coord(x, sx, half_pixel, in_w, &fx, &x0, &x1);
			const float wx1 = fx - (float)x0, wx0 = 1.0f - wx1;
			const float *p00 = r0 + (size_t)x0 * (size_t)c, *p01 = r0 + (size_t)x1 * (size_t)c;
			const float *p10 = r1 + (size_t)x0 * (size_t)c, *p11 = r1 + (size_t)x1 * (size_t)c;
			float *o = out + ((size_t)y * (size_t)out_w + (size_t)x) * (size_t)c;

			/* same products and summation order as TFLite's reference */
			for (int ch = 0; ch < c; ch++)
				o[ch] = p00[ch] * wy0 * wx0 + p10[ch] * wy1 * wx0 + p01[ch] * wy0 * wx1 +
					p11[ch] * wy1 * wx1;
		}
	}
}

void fw_concat_f32(int n, const int (*dims)[4], const float *const *in, int axis, float *out)
{
	size_t outer = 1;

	assert(n >= 1 && axis >= 0 && axis < 4);
	/* every input agrees on the axes before `axis`; each contributes one
	 * contiguous chunk of dims[axis..3] per outer index */
	for (int a = 0; a < axis; a++)
		outer *= (size_t)dims[0][a];
	for (size_t o = 0; o < outer; o++) {
		for (int i = 0; i < n; i++) {
			size_t chunk = 1;

			for (int a = axis; a < 4; a++)
				chunk *= (size_t)dims[i][a];
			memcpy(out, in[i] + o * chunk, chunk * sizeof(float));
			out += chunk;
		}
	}
}

void fw_softmax_f32(int rows, int n, const float *in, float *out)
{
	for (int r = 0; r < rows; r++) {
		const float *x = in + (size_t)r * (size_t)n;
		float *y = out + (size_t)r * (size_t)n;
		float max = x[0], sum = 0.0f;

		for (int i = 1; i < n; i++)
			max = x[i] > max ? x[i] : max;
		/* subtracting the max keeps expf in range; the result is unchanged */
		for (int i = 0; i < n; i++) {
			y[i] = expf(x[i] - max);
			sum += y[i];
		}
		for (int i = 0; i < n; i++)
			y[i] /= sum;
	}
}
