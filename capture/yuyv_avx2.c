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
