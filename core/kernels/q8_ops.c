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

/* max of 16 bytes from each of four places: one pmaxub/umax per pair
 * (GCC vectorises the fixed-length loop; memcpy is an unaligned load) */
static inline void max4_16(const uint8_t *a, const uint8_t *b, const uint8_t *c, const uint8_t *d,
			   uint8_t *o)
{
	uint8_t va[16], vb[16], vc[16], vd[16];

	memcpy(va, a, 16), memcpy(vb, b, 16), memcpy(vc, c, 16), memcpy(vd, d, 16);
	for (int i = 0; i < 16; i++) {
		uint8_t x = va[i] > vb[i] ? va[i] : vb[i], y = vc[i] > vd[i] ? vc[i] : vd[i];

		va[i] = x > y ? x : y;
	}
	memcpy(o, va, 16);
}

/* BlazeFace's pool: 2x2, stride 2, no padding, at least 16 channels.
 * Channels go 16 at a time; the last group starts at c - 16 and overlaps
 * the one before, which writes the same bytes again (no scalar tail). */
static void maxpool_2x2s2(const struct fw_conv_geom *g, const uint8_t *in, uint8_t *out)
{
	const size_t c = (size_t)g->in_c, row = (size_t)g->in_w * c;

	for (int oy = 0; oy < g->out_h; oy++) {
		const uint8_t *r0 = in + (size_t)(2 * oy) * row, *r1 = r0 + row;

		for (int ox = 0; ox < g->out_w; ox++, out += c) {
			const uint8_t *p0 = r0 + (size_t)(2 * ox) * c, *p1 = r1 + (size_t)(2 * ox) * c;

			for (size_t ch = 0;; ch += 16) {
				if (ch + 16 > c)
					ch = c - 16;
				max4_16(p0 + ch, p0 + c + ch, p1 + ch, p1 + c + ch, out + ch);
				if (ch + 16 >= c)
					break;
			}
		}
	}
}

void fw_q8_maxpool(const struct fw_conv_geom *g, const uint8_t *in, uint8_t *out)
{
	const int c = g->in_c;

	assert(g->out_c == g->in_c);
	if (g->k_h == 2 && g->k_w == 2 && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 &&
	    g->dil_w == 1 && g->pad_t == 0 && g->pad_l == 0 && c >= 16 && 2 * g->out_h <= g->in_h &&
	    2 * g->out_w <= g->in_w) {
		maxpool_2x2s2(g, in, out);
		return;
	}
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

size_t fw_q8_resize_bilinear_scratch(int in_h, int in_w, int c, int out_w)
{
	(void)in_h;
	/* two dequantised input rows, then x0, x1, wx0, wx1 */
	return 2 * (size_t)in_w * (size_t)c * sizeof(float) + 4 * (size_t)out_w * sizeof(float);
}

/* Input row `want` dequantised, from a cache of two rows; `keep` (the other
 * row the output row needs) is not evicted. */
static const float *resize_row(int want, int keep, int idx[2], float *buf[2], const uint8_t *in,
			       size_t row, float s, int32_t z)
{
	int k;

	for (k = 0; k < 2; k++)
		if (idx[k] == want)
			return buf[k];
	k = idx[0] == keep ? 1 : 0;
	fw_q8_dequantize(in + (size_t)want * row, row, s, z, buf[k]);
	idx[k] = want;
	return buf[k];
}

void fw_q8_resize_row_c(const struct fw_q8_resize_row *r, uint8_t *out)
{
	const size_t c = (size_t)r->c;
	float t[64];

	for (int x = 0; x < r->out_w; x++, out += c) {
		const float wy0 = r->wy0, wy1 = r->wy1, wx0 = r->wx0[x], wx1 = r->wx1[x];
		const float *p00 = r->r0 + (size_t)r->x0[x] * c, *p01 = r->r0 + (size_t)r->x1[x] * c;
		const float *p10 = r->r1 + (size_t)r->x0[x] * c, *p11 = r->r1 + (size_t)r->x1[x] * c;

		for (size_t c0 = 0; c0 < c; c0 += 64) {
			const size_t n = c - c0 < 64 ? c - c0 : 64;

			for (size_t i = 0; i < n; i++) {
				const size_t ch = c0 + i;

				t[i] = p00[ch] * wy0 * wx0 + p10[ch] * wy1 * wx0 + p01[ch] * wy0 * wx1 +
				       p11[ch] * wy1 * wx1;
			}
			fw_q8_quantize(t, n, r->inv_s, r->z, out + c0);
		}
	}
}

/* The float path this replaces is dequantise (a float image 4x the u8 one),
 * resize (writes the output as floats) and quantise (reads them back), all
 * three passes in plain C. Here the two input rows an output row reads are
 * dequantised into scratch (kept while the next output row needs them),
 * and the ISA's row kernel makes and quantises the output row in
 * registers. Every value goes through the same operations in the same
 * order as that path (-ffp-contract=off for the q8 files; ops.c is ISO C,
 * whose GCC default is no contraction either): the coordinates come from
 * fw_resize_bilinear_f32's own fw_resize_scale / fw_resize_coord, and the
 * weights are its expressions. */
void fw_q8_resize_bilinear(const struct fw_q8_kernels *k, int in_h, int in_w, int c,
			   const uint8_t *in, float s_in, int32_t z_in, int out_h, int out_w,
			   uint8_t *out, float inv_s_out, int32_t z_out, int half_pixel,
			   int align_corners, void *scratch)
{
	const size_t irow = (size_t)in_w * (size_t)c, orow = (size_t)out_w * (size_t)c;
	float *buf[2] = {scratch, (float *)scratch + irow};
	int *x0 = (int *)(buf[1] + irow), *x1 = x0 + out_w;
	float *wx0 = (float *)(x1 + out_w), *wx1 = wx0 + out_w;
	void (*row_fn)(const struct fw_q8_resize_row *, uint8_t *) =
		k && k->resize_row ? k->resize_row : fw_q8_resize_row_c;
	int idx[2] = {-1, -1};
	const float sy = fw_resize_scale(in_h, out_h, align_corners);
	const float sx = fw_resize_scale(in_w, out_w, align_corners);

	assert(!(half_pixel && align_corners));
	for (int x = 0; x < out_w; x++) {
		float fx;

		fw_resize_coord(x, sx, half_pixel, in_w, &fx, &x0[x], &x1[x]);
		wx1[x] = fx - (float)x0[x];
		wx0[x] = 1.0f - wx1[x];
	}
	for (int y = 0; y < out_h; y++) {
		float fy;
		int y0, y1;

		fw_resize_coord(y, sy, half_pixel, in_h, &fy, &y0, &y1);
		const float wy1 = fy - (float)y0;
		const struct fw_q8_resize_row r = {
			.r0 = resize_row(y0, y1, idx, buf, in, irow, s_in, z_in),
			.r1 = resize_row(y1, y0, idx, buf, in, irow, s_in, z_in),
			.wy0 = 1.0f - wy1, .wy1 = wy1,
			.x0 = x0, .x1 = x1, .wx0 = wx0, .wx1 = wx1,
			.out_w = out_w, .c = c, .inv_s = inv_s_out, .z = z_out,
		};

		row_fn(&r, out + (size_t)y * orow);
	}
}

void fw_q8_quantize(const float *x, size_t n, float inv_s, int32_t z, uint8_t *q)
{
	/* Round half to even without lrintf, so the loop vectorises on plain
	 * SSE2: adding and subtracting 1.5 * 2^23 leaves the float's integer
	 * part rounded to nearest even (IEEE default rounding), exactly as
	 * lrintf does, for |v| < 2^22. -ffp-contract=off (the q8 files' flag)
	 * keeps the add and subtract separate.
	 *
	 * The clamp to 0..255 is done on the float, before rounding, to the
	 * integers lo = -z and hi = 255 - z: for v below lo, lrintf(v) <= lo
	 * as lo is an integer, so both orders give 0 (and 255 above hi); in
	 * between nothing is clamped. NaN fails the first compare and becomes
	 * hi, 255, as q8.h's clamp to +-512 gives. The result then needs no
	 * integer clamp: SSE2 has no 32-bit min/max, and the emulated one cost
	 * most of the 0.07 ms this took on BlazeFace's 128x128x3 input (four
	 * times that on the full-range model's 192x192x3 and its float resize
	 * outputs). test_quantize_matches_lrintf checks it against lrintf. */
	const float magic = 12582912.0f, lo = (float)-z, hi = (float)(255 - z);

	for (size_t i = 0; i < n; i++) {
		float v = x[i] * inv_s;

		v = v < hi ? v : hi;
		v = v > lo ? v : lo;
		v = (v + magic) - magic;
		q[i] = (uint8_t)((int32_t)v + z);
	}
}

void fw_q8_dequantize(const uint8_t *q, size_t n, float s, int32_t z, float *x)
{
	for (size_t i = 0; i < n; i++)
		x[i] = s * (float)((int32_t)q[i] - z);
}

/* ---- the add's fixed-point parameters (q8.h, struct fw_q8_add) ---- */

/* sa / sy, or 0 when that is not a finite positive number */
static double add_ratio(float s, float sy)
{
	const double r = (double)s / (double)sy;

	return r > 0 && r < INFINITY ? r : 0.0; /* NaN fails both */
}

/* round(r * 2^shift) capped at FW_Q8_ADD_MAX_M (r >= 0; round: half away from zero) */
static int32_t add_mult(double r, int shift)
{
	const double m = round(ldexp(r, shift));

	return m < FW_Q8_ADD_MAX_M ? (int32_t)m : FW_Q8_ADD_MAX_M;
}

static int32_t zero_point(int32_t z)
{
	return z < 0 ? 0 : z > 255 ? 255 : z;
}

void fw_q8_add_prepare(struct fw_q8_add *p, float sa, float sb, float sy, int32_t za, int32_t zb,
		       int32_t zy, int act)
{
	const double ra = add_ratio(sa, sy), rb = add_ratio(sb, sy), r = ra > rb ? ra : rb;
	int shift = 30;

	/* as many bits as the larger multiplier keeps in 22: 2^21 or more unless
	 * shift is 0 or 30, so each step of a or b is off by 2^-22 or less */
	while (shift > 0 && round(ldexp(r, shift)) > FW_Q8_ADD_MAX_M)
		shift--;
	p->shift = shift;
	p->ma = add_mult(ra, shift);
	p->mb = add_mult(rb, shift);
	p->za = zero_point(za);
	p->zb = zero_point(zb);
	p->zy = zero_point(zy);
	/* in int32 (q8.h); the half makes the floor round half up */
	p->c = (shift > 0 ? (int32_t)1 << (shift - 1) : 0) - p->za * p->ma - p->zb * p->mb;
	p->act = act;
}
