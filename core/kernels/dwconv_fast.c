/* Fast depthwise conv2d in portable C, shaped for GCC's auto-vectoriser at -O3.
 *
 * NHWC keeps the channels of one pixel contiguous, so channels are the vector
 * axis. Each output pixel is computed in blocks of 16, 8, 4 and then 1
 * channels: a block's accumulators stay in registers across all k_h*k_w taps
 * and are stored once (two loads per multiply-add, no output traffic per tap).
 *
 * Output pixels whose taps are all inside the input (the interior) take a path
 * with no bounds checks; for 3x3, 5x5 and 7x7 the tap count is a compile-time
 * constant there, so the tap loops unroll. Only the pad_t/pad_b rows and
 * pad_l/pad_r columns take the checked path.
 *
 * Summation order: bias first, then taps in (ky, kx) order, as one float per
 * channel; the reference adds bias last, so results differ by rounding only.
 */
#include "kernels.h"
#include "../model_format.h"

#include <assert.h>
#include <stddef.h>

/* Channels [ch, ch + nb) of one output pixel, taps ky in [ky0, ky1), kx in
 * [kx0, kx1). base is the input offset (in floats) of tap (0, 0), which may lie
 * outside the tensor for border pixels: it is only dereferenced at valid taps,
 * so no out-of-range pointer is ever formed. dy, dx: input offset between tap
 * rows / columns. nb is a constant after inlining (16, 8, 4 or 1). */
static inline void dw_block(const float *restrict in, ptrdiff_t base, ptrdiff_t dy, ptrdiff_t dx,
			    const float *restrict w, int k_w, int c, int ky0, int ky1, int kx0, int kx1,
			    const float *restrict bias, int ch, int nb, float *restrict o)
{
	float acc[16];

	for (int j = 0; j < nb; j++)
		acc[j] = bias ? bias[ch + j] : 0.0f;
	for (int ky = ky0; ky < ky1; ky++) {
		for (int kx = kx0; kx < kx1; kx++) {
			const float *ip = in + (base + ky * dy + kx * dx + ch);
			const float *wp = w + (ptrdiff_t)(ky * k_w + kx) * c + ch;

			for (int j = 0; j < nb; j++)
				acc[j] += ip[j] * wp[j];
		}
	}
	for (int j = 0; j < nb; j++)
		o[ch + j] = acc[j];
}

static inline void dw_pixel(const float *restrict in, ptrdiff_t base, ptrdiff_t dy, ptrdiff_t dx,
			    const float *restrict w, int k_w, int c, int ky0, int ky1, int kx0, int kx1,
			    const float *restrict bias, float *restrict o)
{
	int ch = 0;

	for (; ch + 16 <= c; ch += 16)
		dw_block(in, base, dy, dx, w, k_w, c, ky0, ky1, kx0, kx1, bias, ch, 16, o);
	if (ch + 8 <= c) {
		dw_block(in, base, dy, dx, w, k_w, c, ky0, ky1, kx0, kx1, bias, ch, 8, o);
		ch += 8;
	}
	if (ch + 4 <= c) {
		dw_block(in, base, dy, dx, w, k_w, c, ky0, ky1, kx0, kx1, bias, ch, 4, o);
		ch += 4;
	}
	for (; ch < c; ch++)
		dw_block(in, base, dy, dx, w, k_w, c, ky0, ky1, kx0, kx1, bias, ch, 1, o);
}

/* Interior columns [ox0, ox1) of one output row; every tap is in range.
 * base: input offset of tap (0, 0) for column ox0; step: per output column. */
static inline void dw_interior_k(const float *restrict in, ptrdiff_t base, ptrdiff_t step,
				 ptrdiff_t dy, ptrdiff_t dx, const float *restrict w, int k_h, int k_w,
				 int c, const float *restrict bias, int ox0, int ox1, float *restrict orow)
{
	for (int ox = ox0; ox < ox1; ox++, base += step)
		dw_pixel(in, base, dy, dx, w, k_w, c, 0, k_h, 0, k_w, bias, orow + (ptrdiff_t)ox * c);
}

/* Constant kernel sizes for the shapes the models use, so the taps unroll. */
static void dw_interior_3x3(const float *restrict in, ptrdiff_t base, ptrdiff_t step, ptrdiff_t dy,
			    ptrdiff_t dx, const float *restrict w, int c, const float *restrict bias,
			    int ox0, int ox1, float *restrict orow)
{
	dw_interior_k(in, base, step, dy, dx, w, 3, 3, c, bias, ox0, ox1, orow);
}

static void dw_interior_5x5(const float *restrict in, ptrdiff_t base, ptrdiff_t step, ptrdiff_t dy,
			    ptrdiff_t dx, const float *restrict w, int c, const float *restrict bias,
			    int ox0, int ox1, float *restrict orow)
{
	dw_interior_k(in, base, step, dy, dx, w, 5, 5, c, bias, ox0, ox1, orow);
}

static void dw_interior_7x7(const float *restrict in, ptrdiff_t base, ptrdiff_t step, ptrdiff_t dy,
			    ptrdiff_t dx, const float *restrict w, int c, const float *restrict bias,
			    int ox0, int ox1, float *restrict orow)
{
	dw_interior_k(in, base, step, dy, dx, w, 7, 7, c, bias, ox0, ox1, orow);
}

/* Output indices o in [0, n) whose taps o*stride - pad + k*dil, k in [0, taps),
 * all lie in [0, size): returns [*lo, *hi), possibly empty. */
static void interior_range(int n, int stride, int pad, int taps, int dil, int size, int *lo, int *hi)
{
	int span = (taps - 1) * dil; /* offset of the last tap from the first */
	int a = (pad + stride - 1) / stride;  /* o*stride >= pad */
	int b;

	if (size - 1 - span + pad < 0)
		b = 0;
	else
		b = (size - 1 - span + pad) / stride + 1; /* o*stride - pad + span <= size - 1 */
	if (a > n)
		a = n;
	if (b > n)
		b = n;
	if (b < a)
		b = a;
	*lo = a;
	*hi = b;
}

/* Taps [*t0, *t1) of a window starting at input coordinate i0 that lie in [0, size). */
static void valid_taps(int i0, int taps, int dil, int size, int *t0, int *t1)
{
	int a = 0, b = taps;

	while (a < taps && i0 + a * dil < 0)
		a++;
	while (b > a && i0 + (b - 1) * dil >= size)
		b--;
	*t0 = a;
	*t1 = b;
}

void fw_dwconv2d_f32_fast(const struct fw_conv_geom *g, const float *in, const float *w,
			  const float *bias, const float *slope, float *out)
{
	const int c = g->in_c;
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * c;
	const ptrdiff_t dy = (ptrdiff_t)g->dil_h * in_row, dx = (ptrdiff_t)g->dil_w * c;
	const ptrdiff_t step = (ptrdiff_t)g->stride_w * c;
	int oy_lo, oy_hi, ox_lo, ox_hi;

	assert(g->out_c == g->in_c);
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	interior_range(g->out_h, g->stride_h, g->pad_t, g->k_h, g->dil_h, g->in_h, &oy_lo, &oy_hi);
	interior_range(g->out_w, g->stride_w, g->pad_l, g->k_w, g->dil_w, g->in_w, &ox_lo, &ox_hi);

	for (int oy = 0; oy < g->out_h; oy++) {
		const int iy0 = oy * g->stride_h - g->pad_t;
		float *orow = out + (ptrdiff_t)oy * g->out_w * c;
		int ky0, ky1, x_lo = ox_lo, x_hi = ox_hi;

		valid_taps(iy0, g->k_h, g->dil_h, g->in_h, &ky0, &ky1);
		if (oy < oy_lo || oy >= oy_hi)
			x_lo = x_hi = g->out_w; /* a border row: every column takes the checked path */

		if (x_hi > x_lo) {
			ptrdiff_t base = (ptrdiff_t)iy0 * in_row + ((ptrdiff_t)x_lo * g->stride_w - g->pad_l) * c;

			if (g->k_h == 3 && g->k_w == 3)
				dw_interior_3x3(in, base, step, dy, dx, w, c, bias, x_lo, x_hi, orow);
			else if (g->k_h == 5 && g->k_w == 5)
				dw_interior_5x5(in, base, step, dy, dx, w, c, bias, x_lo, x_hi, orow);
			else if (g->k_h == 7 && g->k_w == 7)
				dw_interior_7x7(in, base, step, dy, dx, w, c, bias, x_lo, x_hi, orow);
			else
				dw_interior_k(in, base, step, dy, dx, w, g->k_h, g->k_w, c, bias, x_lo, x_hi, orow);
		}
		for (int ox = 0; ox < g->out_w; ox++) {
			if (ox == x_lo && x_hi > x_lo) {
				ox = x_hi - 1; /* the interior is done */
				continue;
			}
			const int ix0 = ox * g->stride_w - g->pad_l;
			int kx0, kx1;

			valid_taps(ix0, g->k_w, g->dil_w, g->in_w, &kx0, &kx1);
			dw_pixel(in, (ptrdiff_t)iy0 * in_row + (ptrdiff_t)ix0 * c, dy, dx, w, g->k_w, c, ky0, ky1,
				 kx0, kx1, bias, orow + (ptrdiff_t)ox * c);
		}
		/* bias is already in; activation while the row is in cache */
		fw_epilogue_f32(orow, g->out_w, c, NULL, slope, g->act);
	}
}
