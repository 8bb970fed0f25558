/* RGB images: resize, letterbox, affine warp, drawing.
 *
 * The sampling rules copy OpenCV's, because the reference goldens were made
 * with cv2 and the models were trained on cv2-prepared crops:
 *  - shrinking an axis: cv2.INTER_AREA (resizeArea: float weights, the same
 *    summation order, cvRound to uint8; resizeAreaFast for whole factors),
 *    so letterboxed inputs match the goldens pixel for pixel;
 *  - enlarging an axis: bilinear with half-pixel centres, edge replicated,
 *    in float (cv2 uses 11-bit fixed point here: results may differ by 1);
 *  - warp: cv2.warpAffine INTER_LINEAR fixed point (positions in 1/32 pixel,
 *    weights in 1/32768), constant black border.
 * Nothing here allocates except fw_image_alloc().
 */
#include "core/image.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/fw.h"

/* Same limits as the decoders: no side above 32768, no more than 256 Mpixel. */
#define IMAGE_MAX_SIDE 32768
#define IMAGE_MAX_PIXELS (256ll << 20)

int fw_image_alloc(struct fw_image *img, int w, int h)
{
	img->data = NULL;
	img->width = img->height = img->stride = 0;
	if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE ||
	    (long long)w * h > IMAGE_MAX_PIXELS)
		return FW_EINVAL;
	img->data = calloc((size_t)w * (size_t)h, 3);
	if (!img->data)
		return FW_ENOMEM;
	img->width = w;
	img->height = h;
	img->stride = 3 * w;
	return 0;
}

void fw_image_free(struct fw_image *img)
{
	if (!img)
		return;
	free(img->data);
	img->data = NULL;
	img->width = img->height = img->stride = 0;
}

static int image_ok(const struct fw_image *img)
{
	return img && img->data && img->width > 0 && img->height > 0 &&
	       img->stride >= 3 * img->width;
}

static uint8_t clamp_u8(float v)
{
	/* cvRound (ties to even) then saturate, as cv::saturate_cast<uchar>(float) */
	long r = lrintf(v);

	return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* --- resize ------------------------------------------------------------- */

/* The source pixels one destination pixel reads along one axis: an optional
 * leading pixel with weight w_first, pixels [mid_begin, mid_end) with weight
 * w_mid each, and an optional trailing pixel with weight w_last. Area cells
 * use all three; a bilinear pair uses first + last. */
struct span {
	int first, last;  /* source index, or -1 when unused */
	int mid_begin, mid_end;
	float w_first, w_mid, w_last;
};

/* cv::computeResizeAreaTab for one destination index: `scale` is
 * source/destination size (>= 1), computed as OpenCV does, 1 / (dst / src). */
static void area_span(int d, int ssize, double scale, struct span *sp)
{
	double fs1 = d * scale, fs2 = fs1 + scale;
	double cell = fmin(scale, ssize - fs1);
	int s1 = (int)ceil(fs1), s2 = (int)floor(fs2);

	if (s2 > ssize - 1)
		s2 = ssize - 1;
	if (s1 > s2)
		s1 = s2;
	sp->first = sp->last = -1;
	sp->w_first = sp->w_last = 0;
	if (s1 - fs1 > 1e-3) {
		sp->first = s1 - 1;
		sp->w_first = (float)((s1 - fs1) / cell);
	}
	sp->mid_begin = s1;
	sp->mid_end = s2;
	sp->w_mid = (float)(1.0 / cell);
	if (fs2 - s2 > 1e-3) {
		sp->last = s2;
		sp->w_last = (float)(fmin(fmin(fs2 - s2, 1.0), cell) / cell);
	}
}

/* Bilinear with half-pixel centres, edges replicated (cv::INTER_LINEAR). */
static void linear_span(int d, int ssize, double scale, struct span *sp)
{
	float f = (float)((d + 0.5) * scale - 0.5);
	int s = (int)floorf(f);

	f -= (float)s;
	if (s < 0) {
		s = 0;
		f = 0;
	}
	if (s >= ssize - 1) {
		s = ssize - 1;
		f = 0;
	}
	sp->mid_begin = sp->mid_end = 0;
	sp->w_mid = 0;
	sp->first = s;
	sp->w_first = 1.0f - f;
	sp->last = f > 0 ? s + 1 : -1;
	sp->w_last = f;
}

static void axis_span(int d, int ssize, int dsize, struct span *sp)
{
	double scale = 1.0 / ((double)dsize / ssize);

	if (dsize < ssize)
		area_span(d, ssize, scale, sp);
	else
		linear_span(d, ssize, scale, sp);
}

/* Weighted sum of one source row across a horizontal span, channels 0..2,
 * accumulated in OpenCV's order (leading, middle, trailing). */
static void row_sum(const uint8_t *row, const struct span *sx, float acc[3])
{
	float a0 = 0, a1 = 0, a2 = 0;

	if (sx->first >= 0) {
		const uint8_t *p = row + 3 * sx->first;
		a0 = a0 + p[0] * sx->w_first;
		a1 = a1 + p[1] * sx->w_first;
		a2 = a2 + p[2] * sx->w_first;
	}
	for (int x = sx->mid_begin; x < sx->mid_end; x++) {
		const uint8_t *p = row + 3 * x;
		a0 = a0 + p[0] * sx->w_mid;
		a1 = a1 + p[1] * sx->w_mid;
		a2 = a2 + p[2] * sx->w_mid;
	}
	if (sx->last >= 0) {
		const uint8_t *p = row + 3 * sx->last;
		a0 = a0 + p[0] * sx->w_last;
		a1 = a1 + p[1] * sx->w_last;
		a2 = a2 + p[2] * sx->w_last;
	}
	acc[0] = a0;
	acc[1] = a1;
	acc[2] = a2;
}

static void add_row(const struct fw_image *src, int y, float beta, const struct span *sx,
		    float sum[3])
{
	float r[3];

	row_sum(src->data + (size_t)y * (size_t)src->stride, sx, r);
	sum[0] += beta * r[0];
	sum[1] += beta * r[1];
	sum[2] += beta * r[2];
}

/* acc[0..n) = the sums of rows p, p + stride, ... (nr rows): 16 columns at
 * a time through all the rows in registers, acc written once */
static void sum_rows_u16(uint16_t *acc, const uint8_t *p, size_t stride, int nr, int n)
{
	int k = 0;
#if defined(__SSE2__)
	const __m128i zero = _mm_setzero_si128();
	for (; k + 16 <= n; k += 16) {
		__m128i lo = zero, hi = zero;
		const uint8_t *q = p + k;

		for (int r = 0; r < nr; r++, q += stride) {
			const __m128i v = _mm_loadu_si128((const __m128i *)q);

			lo = _mm_add_epi16(lo, _mm_unpacklo_epi8(v, zero));
			hi = _mm_add_epi16(hi, _mm_unpackhi_epi8(v, zero));
		}
		_mm_storeu_si128((__m128i *)(acc + k), lo);
		_mm_storeu_si128((__m128i *)(acc + k + 8), hi);
	}
#endif
	for (; k < n; k++) {
		unsigned sum = 0;

		for (int r = 0; r < nr; r++)
			sum += p[(size_t)r * stride + (size_t)k];
		acc[k] = (uint16_t)sum;
	}
}

/* Source columns per pass of resize_area_int and fw_image_shrink (their
 * 16-bit column sums stay on the stack) */
#define SHRINK_CHUNK 512

/* One output pixel of resize_area_int from its kx * ky sum */
static inline uint8_t area_mean(int sum, int kx, int ky, float inv)
{
	return kx == 2 && ky == 2 ? (uint8_t)((sum + 2) >> 2) : clamp_u8((float)sum * inv);
}

/* nd blocks of kx column sums (acc) to their means */
static inline __attribute__((always_inline)) void area_blocks(const uint16_t *acc, int nd, int kx, int ky,
								float inv, uint8_t *out)
{
	for (int d = 0; d < nd; d++, acc += 3 * kx, out += 3) {
		int s0 = 0, s1 = 0, s2 = 0;

		for (int x = 0; x < kx; x++) {
			s0 += acc[3 * x];
			s1 += acc[3 * x + 1];
			s2 += acc[3 * x + 2];
		}
		out[0] = area_mean(s0, kx, ky, inv);
		out[1] = area_mean(s1, kx, ky, inv);
		out[2] = area_mean(s2, kx, ky, inv);
	}
}

/* Shrinking by whole factors on both axes (src exactly kx by ky times dst):
 * cv::resizeAreaFast. Integer sums; 2x2 rounds halves up ((sum + 2) >> 2,
 * its SIMD path), other factors go through float, cvRound(sum * (1.f /
 * area)). Camera frames often take this path (640x480 or 1280x720 to 128
 * wide). The ky source rows are first summed into
 * 16-bit column sums (sum_rows_u16, 16 bytes at a time), then each block's
 * kx columns added across: the same integer sums as adding the block pixel
 * by pixel, so the same bytes, at a fraction of the loads (a 640x480 frame
 * to BlazeFace's 128x96 was 45 % of a whole short-range detection). Blocks
 * whose sum could pass 65535 are summed pixel by pixel. */
static void resize_area_int(const struct fw_image *src, struct fw_image *dst, int kx, int ky)
{
	const float inv = 1.0f / (float)(kx * ky);

	if (kx * ky > 65535 / 255) {
		for (int dy = 0; dy < dst->height; dy++) {
			uint8_t *out = dst->data + (size_t)dy * (size_t)dst->stride;

			for (int dx = 0; dx < dst->width; dx++) {
				int sum[3] = { 0, 0, 0 };

				for (int y = dy * ky; y < (dy + 1) * ky; y++) {
					const uint8_t *p = src->data + (size_t)y * (size_t)src->stride +
							   3 * (size_t)dx * (size_t)kx;

					for (int x = 0; x < kx; x++, p += 3) {
						sum[0] += p[0];
						sum[1] += p[1];
						sum[2] += p[2];
					}
				}
				for (int c = 0; c < 3; c++)
					out[3 * dx + c] = area_mean(sum[c], kx, ky, inv);
			}
		}
		return;
	}
	uint16_t acc[3 * SHRINK_CHUNK];
	const int chunk = SHRINK_CHUNK / kx; /* output columns per pass */

	for (int dy = 0; dy < dst->height; dy++) {
		uint8_t *out = dst->data + (size_t)dy * (size_t)dst->stride;

		for (int dx0 = 0; dx0 < dst->width; dx0 += chunk) {
			const int nd = dst->width - dx0 < chunk ? dst->width - dx0 : chunk;
			const uint8_t *p = src->data + (size_t)dy * (size_t)ky * (size_t)src->stride +
					   3 * (size_t)dx0 * (size_t)kx;

			sum_rows_u16(acc, p, (size_t)src->stride, ky, 3 * nd * kx);
			switch (kx) { /* the common factors with kx a constant: unrolled */
			case 2: area_blocks(acc, nd, 2, ky, inv, out + 3 * dx0); break;
			case 4: area_blocks(acc, nd, 4, ky, inv, out + 3 * dx0); break;
			case 5: area_blocks(acc, nd, 5, ky, inv, out + 3 * dx0); break;
			case 8: area_blocks(acc, nd, 8, ky, inv, out + 3 * dx0); break;
			case 10: area_blocks(acc, nd, 10, ky, inv, out + 3 * dx0); break;
			default: area_blocks(acc, nd, kx, ky, inv, out + 3 * dx0); break;
			}
		}
	}
}

/* The whole factor src/dst if OpenCV would treat it as one, else 0. */
static int whole_factor(int ssize, int dsize)
{
	double scale = 1.0 / ((double)dsize / ssize);
	double k = nearbyint(scale);

	return fabs(scale - k) < DBL_EPSILON && k <= INT_MAX ? (int)k : 0;
}


#define SPAN_TABLE 512 /* output widths up to this take the row-at-a-time path */

/* A destination column's horizontal taps in row_sum's order (leading,
 * middle, trailing), padded at the end with zero weights: adding 0 * p to a
 * sum of non-negative terms leaves it as it is, so any span of up to
 * MAX_TAPS pixels (every shrink by less than 10: a 1024-px photo to the
 * detector's 128 is 8) is summed branch-free with the same result as
 * row_sum. A resize sums as many taps as its widest span needs (n_taps). */
#define MAX_TAPS 12
struct taps {
	int off[MAX_TAPS]; /* byte offset of the pixel in the row */
	float w[MAX_TAPS];
	bool wide;         /* no tap on the row's last pixel: each may read 4 bytes */
};

/* xs's spans as taps for a source src_w wide: how many taps each column
 * sums (the widest span's), or 0 when a span is wider than MAX_TAPS. */
static int make_taps(const struct span *xs, int dst_w, int src_w, struct taps *tp)
{
	int n = 1;

	for (int dx = 0; dx < dst_w; dx++) {
		const struct span *sx = &xs[dx];
		int k = (sx->first >= 0) + (sx->mid_end > sx->mid_begin ? sx->mid_end - sx->mid_begin : 0) +
			(sx->last >= 0);

		if (k > MAX_TAPS)
			return 0;
		if (k > n)
			n = k;
	}
	for (int dx = 0; dx < dst_w; dx++) {
		const struct span *sx = &xs[dx];
		int k = 0;

		if (sx->first >= 0) {
			tp[dx].off[k] = 3 * sx->first;
			tp[dx].w[k++] = sx->w_first;
		}
		for (int x = sx->mid_begin; x < sx->mid_end; x++) {
			tp[dx].off[k] = 3 * x;
			tp[dx].w[k++] = sx->w_mid;
		}
		if (sx->last >= 0) {
			tp[dx].off[k] = 3 * sx->last;
			tp[dx].w[k++] = sx->w_last;
		}
		for (int base = k ? tp[dx].off[0] : 0; k < n; k++) {
			tp[dx].off[k] = base;
			tp[dx].w[k] = 0;
		}
		tp[dx].wide = true;
		for (k = 0; k < n; k++)
			tp[dx].wide = tp[dx].wide && tp[dx].off[k] < 3 * (src_w - 1);
	}
	return n;
}

/* Three channels in the first three lanes of a vector: each lane does what
 * row_sum does for its channel, in the same order, so the sums are the
 * same to the bit (the fourth lane, the next pixel's first byte, is not
 * used). */
typedef float v4sf __attribute__((vector_size(16)));

static inline v4sf u8x4_to_float(const uint8_t *p)
{
#if defined(__SSE2__)
	int32_t bits;
	__m128i z = _mm_setzero_si128(), v;

	memcpy(&bits, p, sizeof bits);
	v = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(bits), z), z);
	return (v4sf)_mm_cvtepi32_ps(v);
#else
	typedef uint8_t v4qu __attribute__((vector_size(4)));
	v4qu b;

	memcpy(&b, p, sizeof b);
	return __builtin_convertvector(b, v4sf);
#endif
}

/* One source row's weighted sums for every destination column (row_sum's
 * arithmetic, column by column) into h[3 * dst_w + 1] (the last float is
 * scratch). */
static void row_sums(const uint8_t *row, const struct span *xs, const struct taps *tp,
		     int n_taps, int dst_w, float *h)
{
	if (!tp) {
		for (int dx = 0; dx < dst_w; dx++)
			row_sum(row, &xs[dx], h + 3 * dx);
		return;
	}
	for (int dx = 0; dx < dst_w; dx++) {
		if (tp[dx].wide) {
			v4sf a = { 0, 0, 0, 0 };

			for (int k = 0; k < n_taps; k++) {
				a = a + u8x4_to_float(row + tp[dx].off[k]) * tp[dx].w[k];
			}
			memcpy(h + 3 * dx, &a, sizeof a); /* 4 floats: the 4th is overwritten next */
			continue;
		}
		float a0 = 0, a1 = 0, a2 = 0;

		for (int k = 0; k < n_taps; k++) {
			const uint8_t *p = row + tp[dx].off[k];
			const float w = tp[dx].w[k];

			a0 = a0 + p[0] * w;
			a1 = a1 + p[1] * w;
			a2 = a2 + p[2] * w;
		}
		h[3 * dx + 0] = a0;
		h[3 * dx + 1] = a1;
		h[3 * dx + 2] = a2;
	}
}

/* acc += beta * h over a whole destination row: the same float operations,
 * in the same order, as add_row's per pixel, so the results are the same
 * bytes; one multiply-add per value that the compiler can vectorise. */
static void accumulate(float *restrict acc, const float *restrict h, float beta, int n)
{
	for (int i = 0; i < n; i++)
		acc[i] = acc[i] + beta * h[i];
}

/* fw_image_resize for outputs up to SPAN_TABLE wide, a destination row at a
 * time: the column spans once, each source row's horizontal sums once per
 * destination row that reads it, then the vertical weights over the whole
 * row. */
/* The horizontal sums of the last two source rows resize_rows used:
 * consecutive destination rows share the source row at their boundary. */
struct row_cache {
	float h[2][3 * SPAN_TABLE + 1];
	int y[2];
	int older;
	int n_taps;          /* make_taps' count, 0: row_sum per column */
	float *frow;         /* with taps, a source row as floats (FROW_MAX), or NULL */
};

/* Sources up to this wide have each row converted to floats once, for the
 * taps to read 4 floats at a time instead of converting 4 bytes per tap:
 * the same values, so the same sums. */
#define FROW_MAX 4096

static void row_to_float(const uint8_t *row, int n, float *f)
{
	int i = 0;
#if defined(__SSE2__)
	const __m128i z = _mm_setzero_si128();
	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(row + i));
		__m128i lo = _mm_unpacklo_epi8(v, z), hi = _mm_unpackhi_epi8(v, z);
		_mm_storeu_ps(f + i, _mm_cvtepi32_ps(_mm_unpacklo_epi16(lo, z)));
		_mm_storeu_ps(f + i + 4, _mm_cvtepi32_ps(_mm_unpackhi_epi16(lo, z)));
		_mm_storeu_ps(f + i + 8, _mm_cvtepi32_ps(_mm_unpacklo_epi16(hi, z)));
		_mm_storeu_ps(f + i + 12, _mm_cvtepi32_ps(_mm_unpackhi_epi16(hi, z)));
	}
#endif
	for (; i < n; i++)
		f[i] = (float)row[i];
}

/* row_sums' taps over a row of floats (f[3 * width] is a 0 to read past
 * the last pixel): every column in vector lanes, as the `wide` ones there */
static void row_sums_f(const float *f, const struct taps *tp, int n_taps, int dst_w, float *h)
{
	for (int dx = 0; dx < dst_w; dx++) {
		v4sf a = { 0, 0, 0, 0 };

		for (int k = 0; k < n_taps; k++) {
			v4sf v;
			memcpy(&v, f + tp[dx].off[k], sizeof v);
			a = a + v * tp[dx].w[k];
		}
		memcpy(h + 3 * dx, &a, sizeof a); /* 4 floats: the 4th is overwritten next */
	}
}

/* acc += beta * (source row y's horizontal sums), from the cache when there */
static void add_source_row(struct row_cache *c, const struct fw_image *src, int y,
			   const struct span *xs, const struct taps *tp, int dst_w, float beta,
			   float *acc)
{
	int slot = c->y[0] == y ? 0 : c->y[1] == y ? 1 : -1;

	if (slot < 0) {
		const uint8_t *row = src->data + (size_t)y * (size_t)src->stride;
		slot = c->older;
		if (c->frow) {
			row_to_float(row, 3 * src->width, c->frow);
			row_sums_f(c->frow, tp, c->n_taps, dst_w, c->h[slot]);
		} else {
			row_sums(row, xs, tp, c->n_taps, dst_w, c->h[slot]);
		}
		c->y[slot] = y;
	}
	c->older = !slot;
	accumulate(acc, c->h[slot], beta, 3 * dst_w);
}

static void resize_rows(const struct fw_image *src, struct fw_image *dst)
{
	struct span xs[SPAN_TABLE];
	struct taps taps[SPAN_TABLE];
	struct row_cache cache = { .y = { -1, -1 } };
	float frow[3 * FROW_MAX + 1];
	float acc[3 * SPAN_TABLE];
	const int n = 3 * dst->width;
	const struct taps *tp;

	for (int dx = 0; dx < dst->width; dx++)
		axis_span(dx, src->width, dst->width, &xs[dx]);
	cache.n_taps = make_taps(xs, dst->width, src->width, taps);
	tp = cache.n_taps ? taps : NULL;
	if (tp && src->width <= FROW_MAX) {
		cache.frow = frow;
		frow[3 * src->width] = 0;
	}
	for (int dy = 0; dy < dst->height; dy++) {
		uint8_t *out = dst->data + (size_t)dy * (size_t)dst->stride;
		struct span sy;

		axis_span(dy, src->height, dst->height, &sy);
		memset(acc, 0, sizeof(float) * (size_t)n);
		if (sy.first >= 0)
			add_source_row(&cache, src, sy.first, xs, tp, dst->width, sy.w_first, acc);
		for (int y = sy.mid_begin; y < sy.mid_end; y++)
			add_source_row(&cache, src, y, xs, tp, dst->width, sy.w_mid, acc);
		if (sy.last >= 0)
			add_source_row(&cache, src, sy.last, xs, tp, dst->width, sy.w_last, acc);
		for (int i = 0; i < n; i++)
			out[i] = clamp_u8(acc[i]);
	}
}

/* Whole f-wide blocks of column sums (f x f pixels each) to their means:
 * f a constant where it is inlined, so the inner sums unroll */
static inline __attribute__((always_inline)) void
shrink_blocks(const uint16_t *acc, int blocks, int f, int shift, uint8_t *o)
{
	const unsigned half = 1u << (shift - 1);

	for (int bx = 0; bx < blocks; bx++, acc += 3 * f, o += 3) {
		unsigned r = half, g = half, b = half;
		for (int k = 0; k < f; k++) {
			r += acc[3 * k];
			g += acc[3 * k + 1];
			b += acc[3 * k + 2];
		}
		o[0] = (uint8_t)(r >> shift);
		o[1] = (uint8_t)(g >> shift);
		o[2] = (uint8_t)(b >> shift);
	}
}

/* One output row of fw_image_shrink from source rows r0..r0+nr-1: the rows
 * summed into 16-bit column sums (8 * 8 * 255 fits), then each block's f
 * columns added across; a ragged block (at the right or bottom edge) is
 * averaged over the pixels it has. */
static void shrink_row(const struct fw_image *src, int r0, int nr, int f, uint8_t *o)
{
	uint16_t acc[3 * SHRINK_CHUNK];

	for (int x0 = 0; x0 < src->width; x0 += SHRINK_CHUNK) {
		const int nx = src->width - x0 < SHRINK_CHUNK ? src->width - x0 : SHRINK_CHUNK;
		const uint8_t *p = src->data + (size_t)r0 * (size_t)src->stride + 3 * (size_t)x0;
		uint8_t *ob = o + 3 * (size_t)(x0 / f);
		int whole = nr == f ? nx / f : 0;

		sum_rows_u16(acc, p, (size_t)src->stride, nr, 3 * nx);
		if (f == 2)
			shrink_blocks(acc, whole, 2, 2, ob);
		else if (f == 4)
			shrink_blocks(acc, whole, 4, 4, ob);
		else
			shrink_blocks(acc, whole, 8, 6, ob);
		for (int bx = whole; bx * f < nx; bx++) {
			const int xs = bx * f, cnt = nx - xs < f ? nx - xs : f;
			const unsigned n = (unsigned)(cnt * nr);
			for (int c = 0; c < 3; c++) {
				unsigned sum = n / 2;
				for (int k = 0; k < cnt; k++)
					sum += acc[3 * (xs + k) + c];
				ob[3 * bx + c] = (uint8_t)(sum / n);
			}
		}
	}
}

int fw_image_shrink(const struct fw_image *src, int factor, struct fw_image *dst, size_t cap)
{
	int ow, oh;

	if (!image_ok(src) || !dst || !dst->data || dst->data == src->data ||
	    (factor != 1 && factor != 2 && factor != 4 && factor != 8))
		return FW_EINVAL;
	ow = (src->width + factor - 1) / factor;
	oh = (src->height + factor - 1) / factor;
	if ((size_t)ow * 3 * (size_t)oh > cap)
		return FW_EINVAL;
	dst->width = ow;
	dst->height = oh;
	dst->stride = 3 * ow;
	for (int oy = 0; oy < oh; oy++) {
		uint8_t *o = dst->data + (size_t)oy * (size_t)dst->stride;
		const int r0 = oy * factor, nr = r0 + factor <= src->height ? factor : src->height - r0;
		if (factor == 1)
			memcpy(o, src->data + (size_t)oy * (size_t)src->stride, 3 * (size_t)ow);
		else
			shrink_row(src, r0, nr, factor, o);
	}
	return 0;
}

/* Separable resampling evaluated per destination pixel: each output is
 * sum_y beta_y * (sum_x alpha_x * S[y][x]), the order cv::resizeArea uses,
 * so the float results (and their rounding) agree with OpenCV. */
void fw_image_resize(const struct fw_image *src, struct fw_image *dst)
{
	if (!image_ok(src) || !image_ok(dst))
		return;
	if (src->width == dst->width && src->height == dst->height) {
		for (int y = 0; y < src->height; y++)
			memcpy(dst->data + (size_t)y * (size_t)dst->stride,
			       src->data + (size_t)y * (size_t)src->stride, 3 * (size_t)src->width);
		return;
	}
	if (dst->width <= src->width && dst->height <= src->height) {
		int kx = whole_factor(src->width, dst->width);
		int ky = whole_factor(src->height, dst->height);

		if (kx > 0 && ky > 0) {
			resize_area_int(src, dst, kx, ky);
			return;
		}
	}
	if (dst->width <= SPAN_TABLE) {
		resize_rows(src, dst);
		return;
	}
	/* wider outputs than the pipeline ever asks for: the spans are worked
	 * out per pixel rather than tabulated or allocated */
	for (int dy = 0; dy < dst->height; dy++) {
		uint8_t *out = dst->data + (size_t)dy * (size_t)dst->stride;
		struct span sy;

		axis_span(dy, src->height, dst->height, &sy);
		for (int dx = 0; dx < dst->width; dx++) {
			float sum[3] = { 0, 0, 0 };
			struct span sx;

			axis_span(dx, src->width, dst->width, &sx);
			if (sy.first >= 0)
				add_row(src, sy.first, sy.w_first, &sx, sum);
			for (int y = sy.mid_begin; y < sy.mid_end; y++)
				add_row(src, y, sy.w_mid, &sx, sum);
			if (sy.last >= 0)
				add_row(src, sy.last, sy.w_last, &sx, sum);
			out[3 * dx + 0] = clamp_u8(sum[0]);
			out[3 * dx + 1] = clamp_u8(sum[1]);
			out[3 * dx + 2] = clamp_u8(sum[2]);
		}
	}
}

/* --- letterbox ---------------------------------------------------------- */

size_t fw_letterbox_scratch(int out_w, int out_h)
{
	/* the resized image, never larger than the model input */
	if (out_w <= 0 || out_h <= 0)
		return 1;
	return (size_t)out_w * (size_t)out_h * 3;
}

/* The rule the goldens follow (checked against all ten sidecars):
 * scale = min(out_w / w, out_h / h) in double; the resized size is
 * round(w * scale) x round(h * scale), at least 1 and at most the input;
 * pad = (out - resized) / 2 rounded down, the odd pixel going right/bottom. */
/* The letterbox's geometry in lb and the resized picture in rs (pixels in
 * tmp); false when there is nothing to resize (the output is all padding,
 * or there is no output). */
static bool letterbox_resize(const struct fw_image *src, int out_w, int out_h, void *tmp,
			     struct fw_letterbox *lb, struct fw_image *rs)
{
	double scale;
	int rw, rh;

	lb->in_w = out_w;
	lb->in_h = out_h;
	lb->scale = 0;
	lb->pad_x = lb->pad_y = 0;
	if (out_w <= 0 || out_h <= 0 || !image_ok(src))
		return false;
	scale = fmin((double)out_w / src->width, (double)out_h / src->height);
	rw = (int)lround(src->width * scale);
	rh = (int)lround(src->height * scale);
	rw = rw < 1 ? 1 : rw > out_w ? out_w : rw;
	rh = rh < 1 ? 1 : rh > out_h ? out_h : rh;
	lb->scale = (float)scale;
	lb->pad_x = (out_w - rw) / 2;
	lb->pad_y = (out_h - rh) / 2;

	rs->width = rw;
	rs->height = rh;
	rs->stride = 3 * rw;
	rs->data = tmp;
	fw_image_resize(src, rs);
	return true;
}

void fw_image_letterbox(const struct fw_image *src, int out_w, int out_h, float mul, float add,
			float *out, void *tmp, struct fw_letterbox *lb)
{
	struct fw_image rs;

	if (!letterbox_resize(src, out_w, out_h, tmp, lb, &rs)) {
		for (size_t i = 0; out_w > 0 && out_h > 0 && i < (size_t)out_w * (size_t)out_h * 3; i++)
			out[i] = add;
		return;
	}
	for (int y = 0; y < out_h; y++) {
		float *o = out + (size_t)y * (size_t)out_w * 3;
		int ry = y - lb->pad_y;

		if (ry < 0 || ry >= rs.height) {
			for (int i = 0; i < out_w * 3; i++)
				o[i] = add;
			continue;
		}
		const uint8_t *p = rs.data + (size_t)ry * (size_t)rs.stride;
		for (int x = 0; x < out_w; x++, o += 3) {
			int rx = x - lb->pad_x;

			if (rx < 0 || rx >= rs.width) {
				o[0] = o[1] = o[2] = add;
			} else {
				o[0] = p[3 * rx + 0] * mul + add;
				o[1] = p[3 * rx + 1] * mul + add;
				o[2] = p[3 * rx + 2] * mul + add;
			}
		}
	}
}

void fw_image_letterbox_u8(const struct fw_image *src, int out_w, int out_h,
			   const uint8_t lut[256], uint8_t pad, uint8_t *out, void *tmp,
			   struct fw_letterbox *lb)
{
	struct fw_image rs;
	const size_t row = 3 * (size_t)(out_w > 0 ? out_w : 0);

	if (!letterbox_resize(src, out_w, out_h, tmp, lb, &rs)) {
		if (out_w > 0 && out_h > 0)
			memset(out, pad, row * (size_t)out_h);
		return;
	}
	for (int y = 0; y < out_h; y++) {
		uint8_t *o = out + (size_t)y * row;
		int ry = y - lb->pad_y;

		if (ry < 0 || ry >= rs.height) {
			memset(o, pad, row);
			continue;
		}
		const uint8_t *p = rs.data + (size_t)ry * (size_t)rs.stride;
		const size_t left = 3 * (size_t)lb->pad_x, inside = 3 * (size_t)rs.width;

		memset(o, pad, left);
		for (size_t i = 0; i < inside; i++)
			o[left + i] = lut[p[i]];
		memset(o + left + inside, pad, row - left - inside);
	}
}

/* --- affine warp -------------------------------------------------------- */

/* cv::warpAffine's fixed point: the map is evaluated in units of 1/1024
 * pixel (AB_BITS), rounded to 1/32 pixel (INTER_BITS), and the four
 * bilinear weights are integers summing to 32768 (INTER_REMAP_COEF_BITS). */
enum { AB_BITS = 10, INTER_BITS = 5, INTER_TAB = 1 << INTER_BITS, COEF_BITS = 15 };

static int64_t round_sat_int(double v)
{
	/* cv::saturate_cast<int>(double): round half to even, clamp to int */
	if (!(v > INT_MIN))
		return INT_MIN;
	if (v >= INT_MAX)
		return INT_MAX;
	return (int64_t)lrint(v);
}

/* floor(v / 2^n) without relying on >> of negative values */
static int64_t floor_shift(int64_t v, int n)
{
	int64_t d = (int64_t)1 << n;

	return v >= 0 ? v / d : -((-v + d - 1) / d);
}

static uint8_t tap(const struct fw_image *src, int64_t x, int64_t y, int c)
{
	if (x < 0 || y < 0 || x >= src->width || y >= src->height)
		return 0;
	return src->data[(size_t)y * (size_t)src->stride + 3 * (size_t)x + (size_t)c];
}

/* Destination pixels (x_begin .. x_begin + n - 1, y) of the warp, as uint8
 * RGB into `out` (3 * n bytes). */
static void warp_row(const struct fw_image *src, const float a[6], int y, int x_begin, int n,
		     uint8_t *out)
{
	const double ab = 1 << AB_BITS;
	const int round_delta = (1 << AB_BITS) / INTER_TAB / 2;
	int64_t x0 = round_sat_int(((double)a[1] * y + a[2]) * ab) + round_delta;
	int64_t y0 = round_sat_int(((double)a[4] * y + a[5]) * ab) + round_delta;

	for (int x = x_begin; x < x_begin + n; x++, out += 3) {
		int64_t X = floor_shift(x0 + round_sat_int((double)a[0] * x * ab), AB_BITS - INTER_BITS);
		int64_t Y = floor_shift(y0 + round_sat_int((double)a[3] * x * ab), AB_BITS - INTER_BITS);
		int64_t sx = floor_shift(X, INTER_BITS), sy = floor_shift(Y, INTER_BITS);
		int fx = (int)(X - sx * INTER_TAB), fy = (int)(Y - sy * INTER_TAB);
		int w00 = (INTER_TAB - fy) * (INTER_TAB - fx) * INTER_TAB;
		int w01 = (INTER_TAB - fy) * fx * INTER_TAB;
		int w10 = fy * (INTER_TAB - fx) * INTER_TAB;
		int w11 = fy * fx * INTER_TAB;

		if (sx >= 0 && sy >= 0 && sx + 1 < src->width && sy + 1 < src->height) {
			const uint8_t *p = src->data + (size_t)sy * (size_t)src->stride + 3 * (size_t)sx;
			const uint8_t *q = p + src->stride;

			for (int c = 0; c < 3; c++) {
				int v = p[c] * w00 + p[c + 3] * w01 + q[c] * w10 + q[c + 3] * w11;
				out[c] = (uint8_t)((v + (1 << (COEF_BITS - 1))) >> COEF_BITS);
			}
		} else if (sx >= src->width || sx + 1 < 0 || sy >= src->height || sy + 1 < 0) {
			out[0] = out[1] = out[2] = 0;
		} else {
			/* straddling the border: the missing taps are black */
			for (int c = 0; c < 3; c++) {
				int v = tap(src, sx, sy, c) * w00 + tap(src, sx + 1, sy, c) * w01 +
					tap(src, sx, sy + 1, c) * w10 +
					tap(src, sx + 1, sy + 1, c) * w11;
				out[c] = (uint8_t)((v + (1 << (COEF_BITS - 1))) >> COEF_BITS);
			}
		}
	}
}

void fw_image_warp_affine(const struct fw_image *src, const float a[6], struct fw_image *dst)
{
	if (!image_ok(dst))
		return;
	for (int y = 0; y < dst->height; y++) {
		uint8_t *row = dst->data + (size_t)y * (size_t)dst->stride;

		if (image_ok(src))
			warp_row(src, a, y, 0, dst->width, row);
		else
			memset(row, 0, 3 * (size_t)dst->width);
	}
}

/* The samples are rounded to uint8 before normalising: the goldens (and the
 * training crops) were uint8 images, so this gives their exact values. */
void fw_image_warp_affine_f32(const struct fw_image *src, const float a[6], int out_w,
			      int out_h, float mul, float add, int transpose, float *out)
{
	enum { CHUNK = 256 };
	uint8_t row[3 * CHUNK];

	for (int y = 0; y < out_h; y++) {
		for (int x0 = 0; x0 < out_w; x0 += CHUNK) {
			int n = out_w - x0 < CHUNK ? out_w - x0 : CHUNK;

			if (image_ok(src))
				warp_row(src, a, y, x0, n, row);
			else
				memset(row, 0, 3 * (size_t)n);
			for (int i = 0; i < n; i++) {
				size_t x = (size_t)(x0 + i);
				float *o = transpose ? out + (x * (size_t)out_h + (size_t)y) * 3
						     : out + ((size_t)y * (size_t)out_w + x) * 3;

				o[0] = row[3 * i + 0] * mul + add;
				o[1] = row[3 * i + 1] * mul + add;
				o[2] = row[3 * i + 2] * mul + add;
			}
		}
	}
}

/* --- drawing ------------------------------------------------------------ */

static void fill_span(struct fw_image *img, long long x0, long long x1, long long y0,
		      long long y1, uint8_t r, uint8_t g, uint8_t b)
{
	/* fills [x0, x1) x [y0, y1) clipped to the image */
	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > img->width)
		x1 = img->width;
	if (y1 > img->height)
		y1 = img->height;
	for (long long y = y0; y < y1; y++) {
		uint8_t *p = img->data + (size_t)y * (size_t)img->stride + 3 * (size_t)x0;

		for (long long x = x0; x < x1; x++, p += 3) {
			p[0] = r;
			p[1] = g;
			p[2] = b;
		}
	}
}

/* Outline of the w x h rectangle with top-left (x, y); the border is
 * `thickness` pixels wide and lies inside the rectangle. */
void fw_image_draw_rect(struct fw_image *img, int x, int y, int w, int h, int thickness,
			uint8_t r, uint8_t g, uint8_t b)
{
	long long x1 = (long long)x + w, y1 = (long long)y + h, t = thickness;

	if (!image_ok(img) || w <= 0 || h <= 0 || t <= 0)
		return;
	if (2 * t >= w || 2 * t >= h) {
		fill_span(img, x, x1, y, y1, r, g, b);
		return;
	}
	fill_span(img, x, x1, y, y + t, r, g, b);           /* top */
	fill_span(img, x, x1, y1 - t, y1, r, g, b);         /* bottom */
	fill_span(img, x, x + t, y + t, y1 - t, r, g, b);   /* left */
	fill_span(img, x1 - t, x1, y + t, y1 - t, r, g, b); /* right */
}

/* Filled disc of the pixels whose centre is within `radius` of (cx, cy). */
void fw_image_draw_dot(struct fw_image *img, int cx, int cy, int radius, uint8_t r, uint8_t g,
		       uint8_t b)
{
	long long rr = (long long)radius * radius;
	long long dy0 = -(long long)radius, dy1 = radius;

	if (!image_ok(img) || radius < 0)
		return;

	/* only the rows inside the image: a huge radius costs no more than the image */
	if (dy0 < -(long long)cy)
		dy0 = -(long long)cy;
	if (dy1 > (long long)img->height - 1 - cy)
		dy1 = (long long)img->height - 1 - cy;
	for (long long dy = dy0; dy <= dy1; dy++) {
		long long yy = cy + dy, half;

		half = (long long)sqrt((double)(rr - dy * dy));
		while (half * half > rr - dy * dy)
			half--;
		while ((half + 1) * (half + 1) <= rr - dy * dy)
			half++;
		fill_span(img, cx - half, cx + half + 1, yy, yy + 1, r, g, b);
	}
}
