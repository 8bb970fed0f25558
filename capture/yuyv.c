/* YUYV to RGB (declared in jpeg.h): plain C reference loops, SSE2 versions
 * of the hot loops (row conversion, block sums for the scaled paths), AVX2
 * (yuyv_avx2.c: rows, 1/2, 1/4) and NEON (yuyv_neon.c: rows), all
 * bit-identical to the reference; test_jpeg checks that on awkward sizes,
 * tests/neon/ the NEON rows under qemu-aarch64. Apart from jpeg.c so that
 * it builds without libjpeg (the aarch64 cross test has none).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "capture/jpeg.h"
#include "capture/jpeg_internal.h"

/* --- YUYV ------------------------------------------------------------------ */

/* The plain C functions are the definition; the SSE2 paths (x86-64 always
 * has SSE2) and AVX2 (yuyv_avx2.c, when the CPU has it) give bit-identical
 * results: the same integer formula, with packs/packus doing the clamp.
 * FACEWATCH_ISA=ref forces the C paths, as for the core kernels. */

static inline uint8_t clamp8(int v)
{
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One row of YUYV to RGB: n pixel pairs. */
static void yuyv_row_ref(const uint8_t *restrict s, uint8_t *restrict o, int pairs)
{
	for (int i = 0; i < pairs; i++) {
		int y0 = (s[4 * i] - 16) * 298;
		int u = s[4 * i + 1] - 128;
		int y1 = (s[4 * i + 2] - 16) * 298;
		int v = s[4 * i + 3] - 128;
		int r = 409 * v + 128;
		int g = -100 * u - 208 * v + 128;
		int b = 516 * u + 128;

		o[6 * i + 0] = clamp8((y0 + r) >> 8);
		o[6 * i + 1] = clamp8((y0 + g) >> 8);
		o[6 * i + 2] = clamp8((y0 + b) >> 8);
		o[6 * i + 3] = clamp8((y1 + r) >> 8);
		o[6 * i + 4] = clamp8((y1 + g) >> 8);
		o[6 * i + 5] = clamp8((y1 + b) >> 8);
	}
}

/* Block sums of one YUYV row for n output pixels of denom x denom: Y over
 * denom samples, U and V over denom/2 each. */
static void row_sums_ref(const uint8_t *s, int n, int denom, uint32_t *sy, uint32_t *su,
			 uint32_t *sv)
{
	for (int i = 0; i < n; i++) {
		const uint8_t *p = s + (size_t)i * (size_t)denom * 2;
		uint32_t ys = 0, us = 0, vs = 0;

		for (int k = 0; k < denom; k += 2) {
			ys += (uint32_t)p[2 * k] + p[2 * k + 2];
			us += p[2 * k + 1];
			vs += p[2 * k + 3];
		}
		sy[i] += ys;
		su[i] += us;
		sv[i] += vs;
	}
}

#if defined(__SSE2__)
#include <emmintrin.h>
#define HAVE_SSE2 1

/* 8 pixels: R, G, B as 8 int16 each (not yet clamped). */
static inline void yuyv8_sse2(__m128i v, __m128i *r, __m128i *g, __m128i *b)
{
	const __m128i lo8 = _mm_set1_epi16(0x00ff), one = _mm_set1_epi16(1);
	/* madd pairs: (C, 1) . (298, 128) = 298 C + 128 (the rounding term) */
	const __m128i ky = _mm_set1_epi32(298 | 128 << 16);
	/* (D, E) . (0, 409), (-100, -208), (516, 0) per pixel pair */
	const __m128i kr = _mm_set1_epi32(409 << 16);
	const __m128i kg = _mm_set1_epi32((int)(0xff9cu | 0xff30u << 16)); /* -100, -208 */
	const __m128i kb = _mm_set1_epi32(516);
	__m128i c = _mm_sub_epi16(_mm_and_si128(v, lo8), _mm_set1_epi16(16));
	__m128i de = _mm_sub_epi16(_mm_srli_epi16(v, 8), _mm_set1_epi16(128));
	__m128i l0 = _mm_madd_epi16(_mm_unpacklo_epi16(c, one), ky);
	__m128i l1 = _mm_madd_epi16(_mm_unpackhi_epi16(c, one), ky);
	__m128i cr = _mm_madd_epi16(de, kr), cg = _mm_madd_epi16(de, kg), cb = _mm_madd_epi16(de, kb);

	/* pixels 0..3 use pairs 0,0,1,1; pixels 4..7 pairs 2,2,3,3 */
#define FW_EXPAND(x, lo, hi)                                                                 \
	_mm_packs_epi32(                                                                     \
		_mm_srai_epi32(_mm_add_epi32(lo, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 1, 0, 0))), 8), \
		_mm_srai_epi32(_mm_add_epi32(hi, _mm_shuffle_epi32(x, _MM_SHUFFLE(3, 3, 2, 2))), 8))
	*r = FW_EXPAND(cr, l0, l1);
	*g = FW_EXPAND(cg, l0, l1);
	*b = FW_EXPAND(cb, l0, l1);
#undef FW_EXPAND
}

static void yuyv_row_sse2(const uint8_t *restrict s, uint8_t *restrict o, int pairs)
{
	int i = 0;

	/* 16 pixels per step; each pixel is stored as 4 bytes RGBX, the X
	 * overwritten by the next pixel, so a step must not be the last of
	 * the row (the tail is done in C) */
	for (; 2 * i + 16 < 2 * pairs; i += 8) {
		__m128i r0, g0, b0, r1, g1, b1, r, g, b, rg, bx;
		uint32_t px[16];

		yuyv8_sse2(_mm_loadu_si128((const __m128i *)(const void *)(s + 4 * i)), &r0, &g0, &b0);
		yuyv8_sse2(_mm_loadu_si128((const __m128i *)(const void *)(s + 4 * i + 16)), &r1, &g1,
			   &b1);
		r = _mm_packus_epi16(r0, r1); /* clamps to 0..255 */
		g = _mm_packus_epi16(g0, g1);
		b = _mm_packus_epi16(b0, b1);
		rg = _mm_unpacklo_epi8(r, g);
		bx = _mm_unpacklo_epi8(b, _mm_setzero_si128());
		_mm_storeu_si128((__m128i *)(void *)px, _mm_unpacklo_epi16(rg, bx));
		_mm_storeu_si128((__m128i *)(void *)(px + 4), _mm_unpackhi_epi16(rg, bx));
		rg = _mm_unpackhi_epi8(r, g);
		bx = _mm_unpackhi_epi8(b, _mm_setzero_si128());
		_mm_storeu_si128((__m128i *)(void *)(px + 8), _mm_unpacklo_epi16(rg, bx));
		_mm_storeu_si128((__m128i *)(void *)(px + 12), _mm_unpackhi_epi16(rg, bx));
		for (int k = 0; k < 16; k++)
			memcpy(o + 6 * (size_t)i + 3 * (size_t)k, &px[k], 4);
	}
	yuyv_row_ref(s + 4 * (size_t)i, o + 6 * (size_t)i, pairs - i);
}

static void row_sums_sse2(const uint8_t *s, int n, int denom, uint32_t *sy, uint32_t *su,
			  uint32_t *sv)
{
	const __m128i lo8 = _mm_set1_epi16(0x00ff), zero = _mm_setzero_si128();
	int i = 0;

	if (denom == 2) {
		/* 4 outputs from 16 bytes: Y pairs by madd, U and V one each */
		const __m128i one = _mm_set1_epi16(1), ku = _mm_set1_epi32(1), kv = _mm_set1_epi32(1 << 16);

		for (; i + 4 <= n; i += 4) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + 4 * i));
			__m128i uv = _mm_srli_epi16(v, 8);
			__m128i *py = (__m128i *)(void *)(sy + i), *pu = (__m128i *)(void *)(su + i),
				*pv = (__m128i *)(void *)(sv + i);

			_mm_storeu_si128(py, _mm_add_epi32(_mm_loadu_si128(py),
							   _mm_madd_epi16(_mm_and_si128(v, lo8), one)));
			_mm_storeu_si128(pu, _mm_add_epi32(_mm_loadu_si128(pu), _mm_madd_epi16(uv, ku)));
			_mm_storeu_si128(pv, _mm_add_epi32(_mm_loadu_si128(pv), _mm_madd_epi16(uv, kv)));
		}
	} else if (denom == 4) {
		/* 2 outputs from 16 bytes: sums of 8 bytes by SAD */
		const __m128i mu = _mm_set1_epi32(0x0000ff00), mv = _mm_set1_epi32((int)0xff000000u);

		for (; i + 2 <= n; i += 2) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + 8 * i));
			__m128i y = _mm_sad_epu8(_mm_and_si128(v, lo8), zero);
			__m128i u = _mm_sad_epu8(_mm_and_si128(v, mu), zero);
			__m128i w = _mm_sad_epu8(_mm_and_si128(v, mv), zero);

			sy[i] += (uint32_t)_mm_cvtsi128_si32(y);
			sy[i + 1] += (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(y, 8));
			su[i] += (uint32_t)_mm_cvtsi128_si32(u);
			su[i + 1] += (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(u, 8));
			sv[i] += (uint32_t)_mm_cvtsi128_si32(w);
			sv[i + 1] += (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(w, 8));
		}
	} else if (denom == 8) {
		/* 1 output from 16 bytes: both SAD halves added */
		const __m128i mu = _mm_set1_epi32(0x0000ff00), mv = _mm_set1_epi32((int)0xff000000u);

		for (; i < n; i++) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + 16 * i));
			__m128i y = _mm_sad_epu8(_mm_and_si128(v, lo8), zero);
			__m128i u = _mm_sad_epu8(_mm_and_si128(v, mu), zero);
			__m128i w = _mm_sad_epu8(_mm_and_si128(v, mv), zero);

			y = _mm_add_epi64(y, _mm_srli_si128(y, 8));
			u = _mm_add_epi64(u, _mm_srli_si128(u, 8));
			w = _mm_add_epi64(w, _mm_srli_si128(w, 8));
			sy[i] += (uint32_t)_mm_cvtsi128_si32(y);
			su[i] += (uint32_t)_mm_cvtsi128_si32(u);
			sv[i] += (uint32_t)_mm_cvtsi128_si32(w);
		}
	}
	if (i < n)
		row_sums_ref(s + (size_t)i * (size_t)denom * 2, n - i, denom, sy + i, su + i, sv + i);
}

/* Means of 8 block sums as int16: (sum + rnd) >> sh. */
static inline __m128i mean8_sse2(const uint32_t *p, __m128i rnd, __m128i sh)
{
	__m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 4));

	return _mm_packs_epi32(_mm_srl_epi32(_mm_add_epi32(a, rnd), sh),
			       _mm_srl_epi32(_mm_add_epi32(b, rnd), sh));
}

/* Block sums to RGB for outputs [0, n) of a chunk; returns how many were
 * done (the rest, at least one, is left to the C loop: each step stores 4
 * bytes per pixel and needs a next pixel to overwrite the fourth). */
static int sums_to_rgb_sse2(const uint32_t *sy, const uint32_t *su, const uint32_t *sv, int n,
			    int yshift, uint8_t *o)
{
	const __m128i ysh = _mm_cvtsi32_si128(yshift), csh = _mm_cvtsi32_si128(yshift - 1);
	const __m128i yr = _mm_set1_epi32(1 << (yshift - 1)), cr = _mm_set1_epi32(1 << (yshift - 2));
	const __m128i one = _mm_set1_epi16(1), k16 = _mm_set1_epi16(16), k128 = _mm_set1_epi16(128);
	const __m128i ky = _mm_set1_epi32(298 | 128 << 16), kr = _mm_set1_epi32(409 << 16);
	const __m128i kg = _mm_set1_epi32((int)(0xff9cu | 0xff30u << 16)), kb = _mm_set1_epi32(516);
	int i = 0;

	for (; i + 8 < n; i += 8) {
		__m128i c = _mm_sub_epi16(mean8_sse2(sy + i, yr, ysh), k16);
		__m128i u = _mm_sub_epi16(mean8_sse2(su + i, cr, csh), k128);
		__m128i v = _mm_sub_epi16(mean8_sse2(sv + i, cr, csh), k128);
		__m128i l0 = _mm_madd_epi16(_mm_unpacklo_epi16(c, one), ky);
		__m128i l1 = _mm_madd_epi16(_mm_unpackhi_epi16(c, one), ky);
		__m128i d0 = _mm_unpacklo_epi16(u, v), d1 = _mm_unpackhi_epi16(u, v);
		__m128i r, g, b, rg, bx;
		uint32_t px[8];

#define FW_CH(k)                                                                             \
	_mm_packs_epi32(_mm_srai_epi32(_mm_add_epi32(l0, _mm_madd_epi16(d0, k)), 8),          \
			_mm_srai_epi32(_mm_add_epi32(l1, _mm_madd_epi16(d1, k)), 8))
		r = _mm_packus_epi16(FW_CH(kr), _mm_setzero_si128());
		g = _mm_packus_epi16(FW_CH(kg), _mm_setzero_si128());
		b = _mm_packus_epi16(FW_CH(kb), _mm_setzero_si128());
#undef FW_CH
		rg = _mm_unpacklo_epi8(r, g);
		bx = _mm_unpacklo_epi8(b, _mm_setzero_si128());
		_mm_storeu_si128((__m128i *)(void *)px, _mm_unpacklo_epi16(rg, bx));
		_mm_storeu_si128((__m128i *)(void *)(px + 4), _mm_unpackhi_epi16(rg, bx));
		for (int k = 0; k < 8; k++)
			memcpy(o + 3 * (size_t)(i + k), &px[k], 4);
	}
	return i;
}
#endif

#if defined(__x86_64__)
#define HAVE_AVX2 1 /* yuyv_avx2.c is built on x86-64 only */
#endif
#if defined(__aarch64__)
#define HAVE_NEON 1 /* yuyv_neon.c, aarch64 only */
#endif

/* What this build and CPU can run of what was asked for: the request when
 * it can, else the best there is. */
static enum fw_yuyv_impl impl_allowed(enum fw_yuyv_impl want)
{
	enum fw_yuyv_impl best = FW_YUYV_REF;

#ifdef HAVE_SSE2
	best = FW_YUYV_SSE2;
	if (want == FW_YUYV_SSE2)
		return want;
#endif
#ifdef HAVE_AVX2
	/* valgrind's CPUID shows AVX2 too, and runs it */
	if (__builtin_cpu_supports("avx2"))
		best = FW_YUYV_AVX2;
#endif
#ifdef HAVE_NEON
	best = FW_YUYV_NEON;
#endif
	return want == FW_YUYV_REF ? FW_YUYV_REF : best;
}

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static enum fw_yuyv_impl isa_best = FW_YUYV_REF;

static void isa_init(void)
{
	const char *isa = getenv("FACEWATCH_ISA");

	isa_best = impl_allowed(isa && !strcmp(isa, "ref") ? FW_YUYV_REF : FW_YUYV_NEON);
}

enum fw_yuyv_impl fw_yuyv_impl_best(void)
{
	pthread_once(&isa_once, isa_init);
	return isa_best;
}

static void yuyv_convert(const uint8_t *yuyv, int stride, int w, int h, struct fw_image *dst,
			 enum fw_yuyv_impl simd)
{
	for (int y = 0; y < h; y++) {
		const uint8_t *s = yuyv + (size_t)y * (size_t)stride;
		uint8_t *o = dst->data + (size_t)y * (size_t)dst->stride;
		int done = 0;

#ifdef HAVE_AVX2
		if (simd == FW_YUYV_AVX2)
			done = fw_yuyv_row_avx2(s, o, w / 2);
#endif
#ifdef HAVE_NEON
		if (simd == FW_YUYV_NEON)
			done = fw_yuyv_row_neon(s, o, w / 2);
#endif
#ifdef HAVE_SSE2
		if (simd >= FW_YUYV_SSE2) {
			yuyv_row_sse2(s + 4 * (size_t)done, o + 6 * (size_t)done, w / 2 - done);
			continue;
		}
#endif
		yuyv_row_ref(s + 4 * (size_t)done, o + 6 * (size_t)done, w / 2 - done);
	}
	(void)simd;
}

/* Output pixels handled per pass; the sums live on the stack. */
#define YUYV_CHUNK 256

static void yuyv_convert_scaled(const uint8_t *yuyv, int stride, int w, int h, int denom,
				struct fw_image *dst, enum fw_yuyv_impl simd)
{
	const int ow = w / denom, oh = h / denom;
	/* Y sums over d*d samples, U and V over d*d/2: means by shift (d is
	 * a power of two) */
	const int yshift = denom == 2 ? 2 : denom == 4 ? 4 : 6;

	if (denom == 1) {
		yuyv_convert(yuyv, stride, w, h, dst, simd);
		return;
	}
	for (int oy = 0; oy < oh; oy++) {
		uint8_t *o = dst->data + (size_t)oy * (size_t)dst->stride;
		int start = 0;

#ifdef HAVE_AVX2
		if (simd == FW_YUYV_AVX2 && denom == 2) {
			const uint8_t *a = yuyv + (size_t)(2 * oy) * (size_t)stride;

			start = fw_yuyv_half_row_avx2(a, a + stride, o, ow);
		} else if (simd == FW_YUYV_AVX2 && denom == 4) {
			start = fw_yuyv_quarter_row_avx2(
				yuyv + (size_t)(4 * oy) * (size_t)stride, stride, o, ow);
		}
#endif
		for (int x0 = start; x0 < ow; x0 += YUYV_CHUNK) {
			uint32_t sy[YUYV_CHUNK], su[YUYV_CHUNK], sv[YUYV_CHUNK];
			const int n = ow - x0 < YUYV_CHUNK ? ow - x0 : YUYV_CHUNK;

			memset(sy, 0, sizeof sy);
			memset(su, 0, sizeof su);
			memset(sv, 0, sizeof sv);
			for (int r = 0; r < denom; r++) {
				const uint8_t *s = yuyv + (size_t)(oy * denom + r) * (size_t)stride +
						   (size_t)x0 * (size_t)denom * 2;

#ifdef HAVE_SSE2
				if (simd) {
					row_sums_sse2(s, n, denom, sy, su, sv);
					continue;
				}
#endif
				row_sums_ref(s, n, denom, sy, su, sv);
			}
			int i = 0;

#ifdef HAVE_SSE2
			if (simd)
				i = sums_to_rgb_sse2(sy, su, sv, n, yshift, o + 3 * (size_t)x0);
#endif
			for (; i < n; i++) {
				int yy = (int)((sy[i] + (1u << (yshift - 1))) >> yshift);
				int u = (int)((su[i] + (1u << (yshift - 2))) >> (yshift - 1)) - 128;
				int v = (int)((sv[i] + (1u << (yshift - 2))) >> (yshift - 1)) - 128;
				int c = (yy - 16) * 298;
				uint8_t *px = o + 3 * (size_t)(x0 + i);

				px[0] = clamp8((c + 409 * v + 128) >> 8);
				px[1] = clamp8((c - 100 * u - 208 * v + 128) >> 8);
				px[2] = clamp8((c + 516 * u + 128) >> 8);
			}
		}
	}
	(void)simd;
}

void fw_yuyv_to_rgb(const uint8_t *yuyv, int stride, int w, int h, struct fw_image *dst)
{
	yuyv_convert(yuyv, stride, w, h, dst, fw_yuyv_impl_best());
}

void fw_yuyv_to_rgb_scaled(const uint8_t *yuyv, int stride, int w, int h, int denom,
			   struct fw_image *dst)
{
	yuyv_convert_scaled(yuyv, stride, w, h, denom, dst, fw_yuyv_impl_best());
}

void fw_yuyv_to_rgb_ref(const uint8_t *yuyv, int stride, int w, int h, int denom,
			struct fw_image *dst)
{
	yuyv_convert_scaled(yuyv, stride, w, h, denom, dst, FW_YUYV_REF);
}

enum fw_yuyv_impl fw_yuyv_to_rgb_impl(enum fw_yuyv_impl impl, const uint8_t *yuyv, int stride,
				      int w, int h, int denom, struct fw_image *dst)
{
	impl = impl_allowed(impl);
	yuyv_convert_scaled(yuyv, stride, w, h, denom, dst, impl);
	return impl;
}

