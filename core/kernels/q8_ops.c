/* The ISA-independent u8 ops of q8.h: max pool, pad, concat, and the
 * float <-> u8 conversions at the int8 region's edges. All memory-bound;
 * plain loops over NHWC with channels innermost, which GCC vectorises.
 *
 * Built with -ffp-contract=off like every q8 file; the conversions are one
 * multiply and one round (lrintf: nearest, ties to even).
 */
#include "q8.h"

#include <assert.h>
#include <math.h>
#include <string.h>

void fw_q8_maxpool(const struct fw_conv_geom *g, const uint8_t *in, uint8_t *out)
{
	const int c = g->in_c;

	assert(g->out_c == g->in_c);
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			uint8_t *o = out + ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)c;

			/* 0 is the smallest code, so a padded cell never wins (as the
			 * float -inf padding; TFLite's uint8 pool starts from 0 too) */
			memset(o, 0, (size_t)c);
			for (int ky = 0; ky < g->k_h; ky++) {
				int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

				if (iy < 0 || iy >= g->in_h)
					continue;
				for (int kx = 0; kx < g->k_w; kx++) {
					int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;

					if (ix < 0 || ix >= g->in_w)
						continue;
					const uint8_t *ip = in + ((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)c;
					for (int ch = 0; ch < c; ch++)
						o[ch] = ip[ch] > o[ch] ? ip[ch] : o[ch];
				}
			}
		}
	}
}

void fw_q8_pad(const int in_dims[4], const int pad[8], const uint8_t *in, uint8_t fill,
	       uint8_t *out)
{
	int od[4];

	for (int i = 0; i < 4; i++) {
		assert(pad[2 * i] >= 0 && pad[2 * i + 1] >= 0);
		od[i] = in_dims[i] + pad[2 * i] + pad[2 * i + 1];
	}
	memset(out, fill, (size_t)od[0] * (size_t)od[1] * (size_t)od[2] * (size_t)od[3]);
	for (int n = 0; n < in_dims[0]; n++) {
		for (int y = 0; y < in_dims[1]; y++) {
			for (int x = 0; x < in_dims[2]; x++) {
				size_t src = (((size_t)n * (size_t)in_dims[1] + (size_t)y) * (size_t)in_dims[2] +
					      (size_t)x) * (size_t)in_dims[3];
				size_t dst = ((((size_t)n + (size_t)pad[0]) * (size_t)od[1] + (size_t)y + (size_t)pad[2]) *
						      (size_t)od[2] +
					      (size_t)x + (size_t)pad[4]) * (size_t)od[3] +
					     (size_t)pad[6];

				memcpy(out + dst, in + src, (size_t)in_dims[3]);
			}
		}
	}
}

void fw_q8_concat(int n, const int (*dims)[4], const uint8_t *const *in, int axis, uint8_t *out)
{
	size_t outer = 1;

	assert(n >= 1 && axis >= 0 && axis < 4);
	for (int a = 0; a < axis; a++)
		outer *= (size_t)dims[0][a];
	for (size_t o = 0; o < outer; o++) {
		for (int i = 0; i < n; i++) {
			size_t chunk = 1;

			for (int a = axis; a < 4; a++)
				chunk *= (size_t)dims[i][a];
			memcpy(out, in[i] + o * chunk, chunk);
			out += chunk;
		}
	}
}

void fw_q8_quantize(const float *x, size_t n, float inv_s, int32_t z, uint8_t *q)
{
	/* Round half to even without lrintf, so the loop vectorises on plain
	 * SSE2: adding and subtracting 1.5 * 2^23 leaves the float's integer
	 * part rounded to nearest even (IEEE default rounding), exactly as
	 * lrintf does, for |v| < 2^22. The clamp to +-512 first keeps v there
	 * (NaN fails the first compare and becomes 512, as before) and cannot
	 * change the clamped result (q8.h). This runs at the edges
	 * of int8 regions, over whole tensors (200k values for MobileFaceNet's
	 * first layers), where lrintf cost 0.8 ms. -ffp-contract=off (the q8
	 * files' flag) keeps the add and subtract separate. */
	const float magic = 12582912.0f;

	for (size_t i = 0; i < n; i++) {
		float v = x[i] * inv_s;

		v = v < 512.0f ? v : 512.0f;
		v = v > -512.0f ? v : -512.0f;
		v = (v + magic) - magic;
		int32_t r = (int32_t)v + z;
		q[i] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
	}
}

void fw_q8_dequantize(const uint8_t *q, size_t n, float s, int32_t z, float *x)
{
	for (size_t i = 0; i < n; i++)
		x[i] = s * (float)((int32_t)q[i] - z);
}
