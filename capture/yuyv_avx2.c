/* YUYV -> RGB24 rows with AVX2: 32 pixels per step, bit-identical to the C
 * reference in jpeg.c (the same integer formula: 298 C + 128 and the 409,
 * -100, -208, 516 chroma terms in 32-bit, >> 8, saturating packs as the
 * clamp). Built with -mavx2 for this file only (capture/CMakeLists.txt) and
 * called only when the CPU has AVX2 (jpeg.c decides once).
 *
 * The RGB24 interleave is three byte shuffles per 16 output bytes, so every
 * step writes exactly its own 96 bytes: no store runs past the pixels it
 * owns, and the last pixels of a row are left to the caller's C loop.
 */
#include "capture/jpeg_internal.h"

#include <immintrin.h>

/* 16 pixels (32 bytes of YUYV, one lane = 8 pixels): R, G, B as int16, not
 * yet clamped, in pixel order within each lane. */
static inline void yuyv16(__m256i v, __m256i *r, __m256i *g, __m256i *b)
{
	const __m256i lo8 = _mm256_set1_epi16(0x00ff), one = _mm256_set1_epi16(1);
	/* madd pairs: (C, 1) . (298, 128) = 298 C + 128 (the rounding term) */
	const __m256i ky = _mm256_set1_epi32(298 | 128 << 16);
	/* (D, E) . (0, 409), (-100, -208), (516, 0) per pixel pair */
	const __m256i kr = _mm256_set1_epi32(409 << 16);
	const __m256i kg = _mm256_set1_epi32((int)(0xff9cu | 0xff30u << 16));
	const __m256i kb = _mm256_set1_epi32(516);
	__m256i c = _mm256_sub_epi16(_mm256_and_si256(v, lo8), _mm256_set1_epi16(16));
	__m256i de = _mm256_sub_epi16(_mm256_srli_epi16(v, 8), _mm256_set1_epi16(128));
	__m256i l0 = _mm256_madd_epi16(_mm256_unpacklo_epi16(c, one), ky);
	__m256i l1 = _mm256_madd_epi16(_mm256_unpackhi_epi16(c, one), ky);
	__m256i cr = _mm256_madd_epi16(de, kr), cg = _mm256_madd_epi16(de, kg);
	__m256i cb = _mm256_madd_epi16(de, kb);

	/* per lane: pixels 0..3 use pairs 0,0,1,1; pixels 4..7 pairs 2,2,3,3 */
#define FW_EXPAND(x)                                                                          \
	_mm256_packs_epi32(                                                                   \
		_mm256_srai_epi32(_mm256_add_epi32(l0, _mm256_shuffle_epi32(x, 0x50)), 8),    \
		_mm256_srai_epi32(_mm256_add_epi32(l1, _mm256_shuffle_epi32(x, 0xfa)), 8))
	*r = FW_EXPAND(cr);
	*g = FW_EXPAND(cg);
	*b = FW_EXPAND(cb);
#undef FW_EXPAND
}

/* Byte k of 48 output bytes (16 pixels) is channel k % 3 of pixel k / 3.
 * For output vector j (bytes 16j..16j+15) and channel R, G or B: the
 * source byte for each position, or -1 (pshufb writes zero). */
static const int8_t interleave[9][16] = {
	{ 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1, 5 }, /* out 0, R */
	{ -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1 }, /* out 0, G */
	{ -1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1 }, /* out 0, B */
	{ -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10, -1 }, /* out 1, R */
	{ 5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10 }, /* out 1, G */
	{ -1, 5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1 }, /* out 1, B */
	{ -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1, -1 }, /* out 2, R */
	{ -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1 }, /* out 2, G */
	{ 10, -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15 }, /* out 2, B */
};

int fw_yuyv_row_avx2(const uint8_t *restrict s, uint8_t *restrict o, int pairs)
{
	__m256i mask[3][3];
	int i = 0;

	for (int j = 0; j < 3; j++)
		for (int ch = 0; ch < 3; ch++)
			mask[j][ch] = _mm256_broadcastsi128_si256(
				_mm_loadu_si128((const __m128i *)(const void *)interleave[3 * j + ch]));
	/* 32 pixels (16 pairs, 64 bytes in, 96 out) per step */
	for (; i + 16 <= pairs; i += 16) {
		__m256i r0, g0, b0, r1, g1, b1, r, g, b;

		yuyv16(_mm256_loadu_si256((const __m256i *)(const void *)(s + 4 * i)), &r0, &g0, &b0);
		yuyv16(_mm256_loadu_si256((const __m256i *)(const void *)(s + 4 * i + 32)), &r1, &g1,
		       &b1);
		/* packus per lane gives pixels 0-7, 16-23 | 8-15, 24-31: put
		 * them back in order, so lane 0 holds pixels 0-15, lane 1 16-31 */
		r = _mm256_permute4x64_epi64(_mm256_packus_epi16(r0, r1), 0xd8);
		g = _mm256_permute4x64_epi64(_mm256_packus_epi16(g0, g1), 0xd8);
		b = _mm256_permute4x64_epi64(_mm256_packus_epi16(b0, b1), 0xd8);
		{
			uint8_t *d = o + 6 * (size_t)i;
			__m256i out[3];

			for (int j = 0; j < 3; j++)
				out[j] = _mm256_or_si256(
					_mm256_or_si256(_mm256_shuffle_epi8(r, mask[j][0]),
							_mm256_shuffle_epi8(g, mask[j][1])),
					_mm256_shuffle_epi8(b, mask[j][2]));
			/* lane 0: bytes 0-47 of the step; lane 1: bytes 48-95 */
			for (int j = 0; j < 3; j++) {
				_mm_storeu_si128((__m128i *)(void *)(d + 16 * j),
						 _mm256_castsi256_si128(out[j]));
				_mm_storeu_si128((__m128i *)(void *)(d + 48 + 16 * j),
						 _mm256_extracti128_si256(out[j], 1));
			}
		}
	}
	return i;
}

/* R, G, B (int32, not clamped) of 8 pixels from their Y means (int32) and
 * U, V means less 128 as (U, V) int16 pairs, by the reference's formula. */
static inline void means_to_rgb(__m256i y, __m256i uv, __m256i *r, __m256i *g, __m256i *b)
{
	const __m256i kr = _mm256_set1_epi32(409 << 16);
	const __m256i kg = _mm256_set1_epi32((int)(0xff9cu | 0xff30u << 16));
	const __m256i kb = _mm256_set1_epi32(516);
	__m256i l = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(y, _mm256_set1_epi32(16)),
							_mm256_set1_epi32(298)),
				     _mm256_set1_epi32(128));

	*r = _mm256_srai_epi32(_mm256_add_epi32(l, _mm256_madd_epi16(uv, kr)), 8);
	*g = _mm256_srai_epi32(_mm256_add_epi32(l, _mm256_madd_epi16(uv, kg)), 8);
	*b = _mm256_srai_epi32(_mm256_add_epi32(l, _mm256_madd_epi16(uv, kb)), 8);
}

/* 8 output pixels of the 1/2 path from 32 bytes of two rows (2x2 blocks):
 * (lane 0: pixels 0-3, lane 1: pixels 4-7). Means as the reference: Y
 * (sum of 4 + 2) >> 2, U and V (sum of 2 + 1) >> 1, each pixel with its
 * own U and V. */
static inline void half8(__m256i va, __m256i vb, __m256i *r, __m256i *g, __m256i *b)
{
	const __m256i lo8 = _mm256_set1_epi16(0x00ff), one16 = _mm256_set1_epi16(1);
	__m256i ys = _mm256_add_epi16(_mm256_and_si256(va, lo8), _mm256_and_si256(vb, lo8));
	__m256i y = _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(ys, one16),
						       _mm256_set1_epi32(2)), 2);
	__m256i uv = _mm256_add_epi16(_mm256_srli_epi16(va, 8), _mm256_srli_epi16(vb, 8));

	uv = _mm256_sub_epi16(_mm256_srli_epi16(_mm256_add_epi16(uv, one16), 1),
			      _mm256_set1_epi16(128));
	means_to_rgb(y, uv, r, g, b);
}

/* Sums over a 4x4 block for 4 output pixels (32 bytes of each of 4 rows):
 * one 64-bit sum per pixel, by SAD over the pixel's 8 bytes of a row. */
static inline void quarter_sums4(const uint8_t *p, size_t stride, __m256i *ys, __m256i *us,
				 __m256i *vs)
{
	const __m256i my = _mm256_set1_epi16(0x00ff), mu = _mm256_set1_epi32(0x0000ff00);
	const __m256i mv = _mm256_set1_epi32((int)0xff000000u), zero = _mm256_setzero_si256();

	*ys = *us = *vs = zero;
	for (int r = 0; r < 4; r++) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + r * stride));

		*ys = _mm256_add_epi64(*ys, _mm256_sad_epu8(_mm256_and_si256(v, my), zero));
		*us = _mm256_add_epi64(*us, _mm256_sad_epu8(_mm256_and_si256(v, mu), zero));
		*vs = _mm256_add_epi64(*vs, _mm256_sad_epu8(_mm256_and_si256(v, mv), zero));
	}
}

/* 8 output pixels of the 1/4 path from 64 bytes of each of 4 rows. Means
 * as the reference: Y (sum of 16 + 8) >> 4, U and V (sum of 8 + 4) >> 3. */
static inline void quarter8(const uint8_t *p, size_t stride, __m256i *r, __m256i *g, __m256i *b)
{
	/* qword k of a | b << 32 holds pixel k of the first 4 and of the
	 * next 4: this puts them in order */
	const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
	__m256i y0, u0, v0, y1, u1, v1, y, u, v;

	quarter_sums4(p, stride, &y0, &u0, &v0);
	quarter_sums4(p + 32, stride, &y1, &u1, &v1);
	y = _mm256_permutevar8x32_epi32(_mm256_or_si256(y0, _mm256_slli_epi64(y1, 32)), order);
	u = _mm256_permutevar8x32_epi32(_mm256_or_si256(u0, _mm256_slli_epi64(u1, 32)), order);
	v = _mm256_permutevar8x32_epi32(_mm256_or_si256(v0, _mm256_slli_epi64(v1, 32)), order);
	y = _mm256_srai_epi32(_mm256_add_epi32(y, _mm256_set1_epi32(8)), 4);
	u = _mm256_sub_epi32(_mm256_srai_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(4)), 3),
			     _mm256_set1_epi32(128));
	v = _mm256_sub_epi32(_mm256_srai_epi32(_mm256_add_epi32(v, _mm256_set1_epi32(4)), 3),
			     _mm256_set1_epi32(128));
	means_to_rgb(y,
		     _mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(0xffff)),
				     _mm256_slli_epi32(v, 16)),
		     r, g, b);
}

/* int32 pixels 0-3 | 4-7 and 8-11 | 12-15 to 16 clamped bytes in order. */
static inline __m128i pack16(__m256i p0, __m256i p1)
{
	__m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(p0, p1), 0xd8);

	return _mm256_castsi256_si128(
		_mm256_permute4x64_epi64(_mm256_packus_epi16(w, _mm256_setzero_si256()), 0xd8));
}

int fw_yuyv_half_row_avx2(const uint8_t *restrict a, const uint8_t *restrict b,
			  uint8_t *restrict o, int n)
{
	__m128i mask[9];
	int i = 0;

	for (int k = 0; k < 9; k++)
		mask[k] = _mm_loadu_si128((const __m128i *)(const void *)interleave[k]);
	/* 16 output pixels (64 bytes of each row in, 48 bytes out) per step */
	for (; i + 16 <= n; i += 16) {
		const uint8_t *pa = a + 4 * (size_t)i, *pb = b + 4 * (size_t)i;
		__m256i r0, g0, b0, r1, g1, b1;
		__m128i r, g, bl;
		uint8_t *d = o + 3 * (size_t)i;

		half8(_mm256_loadu_si256((const __m256i *)(const void *)pa),
		      _mm256_loadu_si256((const __m256i *)(const void *)pb), &r0, &g0, &b0);
		half8(_mm256_loadu_si256((const __m256i *)(const void *)(pa + 32)),
		      _mm256_loadu_si256((const __m256i *)(const void *)(pb + 32)), &r1, &g1, &b1);
		r = pack16(r0, r1);
		g = pack16(g0, g1);
		bl = pack16(b0, b1);
		for (int j = 0; j < 3; j++)
			_mm_storeu_si128((__m128i *)(void *)(d + 16 * j),
					 _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, mask[3 * j]),
								   _mm_shuffle_epi8(g, mask[3 * j + 1])),
						      _mm_shuffle_epi8(bl, mask[3 * j + 2])));
	}
	return i;
}

int fw_yuyv_quarter_row_avx2(const uint8_t *restrict s, int stride, uint8_t *restrict o, int n)
{
	__m128i mask[9];
	int i = 0;

	for (int k = 0; k < 9; k++)
		mask[k] = _mm_loadu_si128((const __m128i *)(const void *)interleave[k]);
	/* 16 output pixels (128 bytes of each of 4 rows in, 48 bytes out) */
	for (; i + 16 <= n; i += 16) {
		const uint8_t *p = s + 8 * (size_t)i;
		__m256i r0, g0, b0, r1, g1, b1;
		__m128i r, g, bl;
		uint8_t *d = o + 3 * (size_t)i;

		quarter8(p, (size_t)stride, &r0, &g0, &b0);
		quarter8(p + 64, (size_t)stride, &r1, &g1, &b1);
		r = pack16(r0, r1);
		g = pack16(g0, g1);
		bl = pack16(b0, b1);
		for (int j = 0; j < 3; j++)
			_mm_storeu_si128((__m128i *)(void *)(d + 16 * j),
					 _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, mask[3 * j]),
								   _mm_shuffle_epi8(g, mask[3 * j + 1])),
						      _mm_shuffle_epi8(bl, mask[3 * j + 2])));
	}
	return i;
}
