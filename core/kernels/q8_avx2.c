/* int8 kernels for AVX2 (contract: q8.h). This file alone is built with
 * -mavx2; q8_dispatch.c hands out its table only when the CPU has AVX2.
 * It is also the tier valgrind runs (valgrind hides AVX-512).
 *
 * Exactness. vpmaddubsw (u8 x s8 pairs summed into int16) saturates:
 * 2 * 255 * -128 = -65280 does not fit, so it cannot be used on arbitrary
 * data. Instead activations are widened to u16 and weights to s16, and
 * vpmaddwd sums pairs of s16 products into int32: |255 * -128 * 2| = 65280,
 * exact, and the int32 adds wrap modulo 2^32 like the reference.
 *
 * conv is a GEMM out[M][N] = A[M][K] x W[N][K]^T (M = pixels, N = out_c,
 * K = k_h*k_w*in_c in OHWI's (ky, kx, ic) order). Packed weights: K in
 * K2 = ceil(K/2) pairs, N in blocks of up to 16 channels (2 vectors of 8);
 * block b holds, for each pair g, nv vectors of 8 channels x 2 s16:
 *     packed[b*K2*32 + g*nv*16 + v*16 + lane*2 + j] (in s16) = w[16b + 8v + lane][2g + j]
 * with zeros past K and past N. Rows of A are widened to u16 in scratch, RB
 * rows at a time (straight from the input rows for a 1x1 stride-1 conv,
 * through a widening im2col otherwise; padded taps zero_in, the odd tap past
 * K holds any activation value against its zero weight); every channel
 * block then runs over them. A tile is MR pixels x nv*8
 * channels (MR = 12 / 6 for nv = 1 / 2: at most 12 accumulators of the 16
 * ymm registers); per pair it broadcasts 2 u16 per pixel (vpbroadcastd) and
 * issues vpmaddwd + vpaddd per accumulator.
 *
 * Depthwise: channels are the vector axis, 8 per ymm. Each input byte is
 * zero-extended to a 32-bit lane (vpmovzxbd) and each weight sign-extended
 * (vpmovsxbd, once per channel block); vpmaddwd of the two gives x*w + 0*hi
 * = x*w exactly (the activation's upper 16 bits are 0), then vpaddd. A
 * channel count that is not a multiple of 8 runs its last block at
 * in_c - 8, overlapping (identical bytes written twice); in_c < 8 goes
 * through 8-byte stack copies. 3x3 with dil 1 and at least 16 channels
 * pairs two kernel rows in each vpmaddwd instead (dwp_all).
 *
 * Epilogue (q8.h): cvtdq2ps, one vmulps (never an FMA: -ffp-contract=off),
 * ReLU as vmaxps(v, 0), PReLU as a blend where !(v >= 0), vminps(v, 512),
 * cvtps2dq (half to even), + zero_out, then packssdw / packuswb saturate to
 * 0..255. The min keeps a large v from becoming 0x80000000; below -2^31 that
 * value is right anyway (it saturates to 0).
 *
 * Float outputs (conv_f32, dwconv_f32): the same accumulators, the epilogue
 * stops after the activation (act8) and stores 8 floats per vector. conv:
 * every tile has a float-storing twin (tiles[1]); depthwise: the general
 * 8-channel path (dw_general) for every shape, dwp_all staying u8 only.
 */
#include "q8.h"
#include "q8_cpad.h"
#include "../model_format.h"

#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

/* Looked up by name in q8_dispatch.c; no header declares the tables. */
extern const struct fw_q8_kernels fw_q8_avx2_kernels;
/* depthwise kernels with more than DW_MAX_TAPS taps (none in our models) */
extern const struct fw_q8_kernels fw_q8_ref_kernels;

#define FW_INLINE static inline __attribute__((always_inline))

enum {
	RB = 12,          /* rows widened per block: a multiple of every MR */
	MR_MAX = 12,
	DW_MAX_TAPS = 64,
};

static const int mr_for_nv[3] = {0, 12, 6};

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

static int is_pointwise(const struct fw_conv_geom *g)
{
	return g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
	       g->pad_t == 0 && g->pad_l == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

static size_t k_of(const struct fw_conv_geom *g)
{
	return (size_t)g->k_h * (size_t)g->k_w * (size_t)g->in_c;
}

FW_INLINE int32_t load_u32(const void *p)
{
	int32_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* ---- epilogue ---------------------------------------------------------- */

/* q8.h's epilogue of 8 accumulators up to the rounding: a float output's
 * values (conv_f32, dwconv_f32), and what requant8 rounds. */
FW_INLINE __m256 act8(__m256i acc, __m256 scale, __m256 slope, int act)
{
	const __m256 zero = _mm256_setzero_ps();
	__m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);

	if (act == FW_ACT_RELU) {
		v = _mm256_max_ps(v, zero); /* v > 0 ? v : 0 */
	} else if (act == FW_ACT_PRELU) {
		const __m256 neg = _mm256_cmp_ps(v, zero, _CMP_NGE_UQ); /* !(v >= 0) */

		v = _mm256_blendv_ps(v, _mm256_mul_ps(v, slope), neg);
	}
	return v;
}

/* q8.h's requantisation of 8 accumulators, as int32 (not yet saturated). */
FW_INLINE __m256i requant8(__m256i acc, __m256 scale, __m256 slope, int act, __m256i zero_out)
{
	__m256 v = act8(acc, scale, slope, act);

	v = _mm256_min_ps(v, _mm256_set1_ps(512.0f));
	return _mm256_add_epi32(_mm256_cvtps_epi32(v), zero_out);
}

/* 8 int32 saturated to u8 in the low 8 bytes. */
FW_INLINE __m128i narrow8(__m256i q)
{
	const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));

	return _mm_packus_epi16(w, w);
}

FW_INLINE void store_n(uint8_t *o, __m128i v, int n)
{
	if (n >= 8) {
		_mm_storel_epi64((__m128i *)o, v);
	} else {
		uint8_t tmp[16];

		_mm_storeu_si128((__m128i *)tmp, v);
		memcpy(o, tmp, (size_t)n);
	}
}

/* The first n (1..8) of 8 floats to o: a float output. */
FW_INLINE void store_nf(float *o, __m256 v, int n)
{
	if (n >= 8) {
		_mm256_storeu_ps(o, v);
	} else {
		float tmp[8];

		_mm256_storeu_ps(tmp, v);
		memcpy(o, tmp, (size_t)n * sizeof(float));
	}
}

/* Element i of a kernel's output as a byte address: out is u8, or (F32) a
 * float array passed as bytes, so one set of offsets serves both. */
FW_INLINE uint8_t *out_at(uint8_t *out, size_t i, int F32)
{
	return out + (F32 ? i * sizeof(float) : i);
}

/* ---- conv: packing ----------------------------------------------------- */

static size_t avx2_conv_packed_size(const struct fw_conv_geom *g)
{
	return round_up((size_t)g->out_c, 8) / 8 * (round_up(k_of(g), 2) / 2) * 32;
}

static void avx2_conv_pack(const struct fw_conv_geom *g, const int8_t *w, void *packed)
{
	const size_t k = k_of(g), k2 = round_up(k, 2) / 2;
	int16_t *p = packed;

	memset(p, 0, avx2_conv_packed_size(g));
	for (int oc = 0; oc < g->out_c; oc++) {
		int b = oc / 16, v = oc % 16 / 8, lane = oc % 8;
		int rest = g->out_c - 16 * b;
		size_t nv = rest >= 16 ? 2 : (size_t)(rest + 7) / 8;
		int16_t *dst = p + (size_t)b * k2 * 32 + (size_t)v * 16 + (size_t)lane * 2;

		for (size_t t = 0; t < k; t++)
			dst[t / 2 * nv * 16 + t % 2] = w[(size_t)oc * k + t];
	}
}

/* RB rows of u16 (round_up(K, 2) each), and 32 bytes of slack for the wide
 * writes of widen() and fill16(). */
static size_t avx2_conv_scratch(const struct fw_conv_geom *g)
{
	return RB * round_up(k_of(g), 2) * 2 + 32;
}

/* ---- conv: the tile ---------------------------------------------------- */

struct tile {
	const uint16_t *a;      /* MR rows of widened activations, lda elements apart */
	size_t lda;
	size_t k2;              /* pairs of taps */
	const int16_t *w;       /* this block's packed weights */
	const int32_t *bias;    /* [16], padded with 0 */
	const float *scale;     /* [16] */
	const float *slope;     /* [16] */
	int act;
	int32_t zero_out;
	int n;                  /* channels in this block, 1..16 */
	uint8_t *out;           /* row 0, channel 0 of the block (floats as bytes for F32) */
	size_t ldo;             /* elements between output rows */
};

/* One tile. MR and NV are constants after inlining; the accumulators are
 * named variables rather than an array, which GCC would keep in memory.
 * Rows and vectors past MR / NV are dead code. */
#define ACC_DECL(r) __m256i c##r##_0 = b0, c##r##_1 = b1
#define ACC_STEP(r)                                                                          \
	if (MR > r) {                                                                        \
		const __m256i x = _mm256_set1_epi32(load_u32(a + (size_t)(r) * lda));        \
		c##r##_0 = _mm256_add_epi32(c##r##_0, _mm256_madd_epi16(x, w0));            \
		if (NV > 1)                                                                  \
			c##r##_1 = _mm256_add_epi32(c##r##_1, _mm256_madd_epi16(x, w1));     \
	}
#define ACC_STORE(r, v)                                                                      \
	if (MR > r && F32)                                                                   \
		store_nf((float *)(void *)t->out + (size_t)(r) * t->ldo + 8 * (v),           \
			 act8(c##r##_##v, sc, sl, t->act), t->n - 8 * (v));                  \
	else if (MR > r)                                                                     \
		store_n(t->out + (size_t)(r) * t->ldo + 8 * (v),                             \
			narrow8(requant8(c##r##_##v, sc, sl, t->act, zo)), t->n - 8 * (v))
#define ACC_STORE_COL(v)                                                                     \
	if (NV > v) {                                                                        \
		const __m256 sc = _mm256_loadu_ps(t->scale + 8 * (v));                       \
		const __m256 sl = _mm256_loadu_ps(t->slope + 8 * (v));                       \
		ACC_STORE(0, v); ACC_STORE(1, v); ACC_STORE(2, v); ACC_STORE(3, v);          \
		ACC_STORE(4, v); ACC_STORE(5, v); ACC_STORE(6, v); ACC_STORE(7, v);          \
		ACC_STORE(8, v); ACC_STORE(9, v); ACC_STORE(10, v); ACC_STORE(11, v);        \
	}

FW_INLINE void gemm_tile(const int MR, const int NV, const int F32, const struct tile *tp)
{
	/* a private copy: the output stores could alias *tp as far as the
	 * compiler knows, and would make it reload every field after each */
	const struct tile tl = *tp, *t = &tl;
	const __m256i b0 = _mm256_loadu_si256((const __m256i *)t->bias);
	const __m256i b1 = _mm256_loadu_si256((const __m256i *)(t->bias + 8));
	const uint16_t *a = t->a;
	const int16_t *w = t->w;
	const size_t lda = t->lda;
	ACC_DECL(0); ACC_DECL(1); ACC_DECL(2); ACC_DECL(3); ACC_DECL(4); ACC_DECL(5);
	ACC_DECL(6); ACC_DECL(7); ACC_DECL(8); ACC_DECL(9); ACC_DECL(10); ACC_DECL(11);

	for (size_t g = 0; g < t->k2; g++, a += 2, w += 16 * NV) {
		const __m256i w0 = _mm256_load_si256((const __m256i *)w);
		const __m256i w1 = NV > 1 ? _mm256_load_si256((const __m256i *)(w + 16)) : w0;

		ACC_STEP(0) ACC_STEP(1) ACC_STEP(2) ACC_STEP(3) ACC_STEP(4) ACC_STEP(5)
		ACC_STEP(6) ACC_STEP(7) ACC_STEP(8) ACC_STEP(9) ACC_STEP(10) ACC_STEP(11)
	}

	const __m256i zo = _mm256_set1_epi32(t->zero_out);
	ACC_STORE_COL(0) ACC_STORE_COL(1)
}

#define TILE_FN(MR, NV)                                                                       \
	static void tile_##MR##_##NV(const struct tile *t) { gemm_tile(MR, NV, 0, t); }     \
	static void tilef_##MR##_##NV(const struct tile *t) { gemm_tile(MR, NV, 1, t); }
TILE_FN(1, 1) TILE_FN(2, 1) TILE_FN(3, 1) TILE_FN(4, 1) TILE_FN(5, 1) TILE_FN(6, 1)
TILE_FN(7, 1) TILE_FN(8, 1) TILE_FN(9, 1) TILE_FN(10, 1) TILE_FN(11, 1) TILE_FN(12, 1)
TILE_FN(1, 2) TILE_FN(2, 2) TILE_FN(3, 2) TILE_FN(4, 2) TILE_FN(5, 2) TILE_FN(6, 2)

typedef void (*tile_fn)(const struct tile *t);

/* [f32][nv][mr]: f32 1 stores floats (conv_f32) */
static const tile_fn tiles[2][3][MR_MAX + 1] = {
	{
		[1] = {NULL, tile_1_1, tile_2_1, tile_3_1, tile_4_1, tile_5_1, tile_6_1, tile_7_1, tile_8_1,
		       tile_9_1, tile_10_1, tile_11_1, tile_12_1},
		[2] = {NULL, tile_1_2, tile_2_2, tile_3_2, tile_4_2, tile_5_2, tile_6_2},
	},
	{
		[1] = {NULL, tilef_1_1, tilef_2_1, tilef_3_1, tilef_4_1, tilef_5_1, tilef_6_1, tilef_7_1,
		       tilef_8_1, tilef_9_1, tilef_10_1, tilef_11_1, tilef_12_1},
		[2] = {NULL, tilef_1_2, tilef_2_2, tilef_3_2, tilef_4_2, tilef_5_2, tilef_6_2},
	},
};

/* ---- conv: activations ------------------------------------------------- */

/* n u8 -> u16, 16 at a time: writes up to 15 elements past n (see
 * im2col_row); reads 16 bytes at a time only while they end by s_end. */
FW_INLINE void widen(uint16_t *d, const uint8_t *s, size_t n, const uint8_t *s_end)
{
	size_t i = 0;

	for (; i < n && s + i + 16 <= s_end; i += 16)
		_mm256_storeu_si256((__m256i *)(d + i), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(s + i))));
	for (; i < n; i++)
		d[i] = s[i];
}

FW_INLINE void fill16(uint16_t *d, __m256i v, size_t n)
{
	for (size_t i = 0; i < n; i += 16)
		_mm256_storeu_si256((__m256i *)(d + i), v);
}

/* One widened im2col row (K u16) for output pixel (oy, ox); padded taps
 * zero_in. Every write is 16 elements wide and may run past its part of the
 * row, but the parts are written in increasing address order, so each one
 * is overwritten by its owner afterwards; what runs past K lands on the odd
 * pad tap (weight 0), the next row (written later) or the 32 bytes of slack
 * at the end of scratch. */
static void im2col_row(const struct fw_conv_geom *g, const uint8_t *in, const uint8_t *in_end, __m256i zin,
		       int oy, int ox, uint16_t *dst)
{
	const size_t c = (size_t)g->in_c, row_k = (size_t)g->k_w * c, in_row = (size_t)g->in_w * c;
	const int x0 = ox * g->stride_w - g->pad_l;

	for (int ky = 0; ky < g->k_h; ky++, dst += row_k) {
		const int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;
		const uint8_t *src = in + (size_t)iy * in_row;

		if (iy < 0 || iy >= g->in_h) {
			fill16(dst, zin, row_k);
		} else if (g->dil_w == 1) {
			/* taps kx in [lo, hi) are inside the row and contiguous */
			int lo = x0 < 0 ? -x0 : 0;
			int hi = g->in_w - x0 < g->k_w ? g->in_w - x0 : g->k_w;

			if (hi <= lo) {
				fill16(dst, zin, row_k);
				continue;
			}
			if (lo > 0)
				fill16(dst, zin, (size_t)lo * c);
			widen(dst + (size_t)lo * c, src + (size_t)(x0 + lo) * c, (size_t)(hi - lo) * c, in_end);
			if (hi < g->k_w)
				fill16(dst + (size_t)hi * c, zin, (size_t)(g->k_w - hi) * c);
		} else {
			for (int kx = 0; kx < g->k_w; kx++) {
				const int ix = x0 + kx * g->dil_w;

				if (ix < 0 || ix >= g->in_w)
					fill16(dst + (size_t)kx * c, zin, c);
				else
					widen(dst + (size_t)kx * c, src + (size_t)ix * c, c, in_end);
			}
		}
	}
}

/* out: u8, or (f32) floats as bytes (out_at) */
static void conv_run(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		     const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
		     uint8_t *out, int f32, void *scratch)
{
	const size_t m = (size_t)g->out_h * (size_t)g->out_w, k = k_of(g);
	const size_t kp = round_up(k, 2), k2 = kp / 2;
	const int pointwise = is_pointwise(g);
	const uint8_t *in_end = in + (size_t)g->in_h * (size_t)g->in_w * (size_t)g->in_c;
	const __m256i zin = _mm256_set1_epi16(zero_in);
	uint16_t *a16 = scratch;
	int oy = 0, ox = 0;

	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	assert(rq->act != FW_ACT_PRELU || rq->slope);
	assert(((uintptr_t)packed & 31) == 0);
	for (int r = 0; r < RB; r++)
		if (kp > k)
			a16[(size_t)r * kp + k] = 0; /* the odd tap (weight 0): start it initialised */

	for (size_t p0 = 0; p0 < m; p0 += RB) {
		const int rows = m - p0 < RB ? (int)(m - p0) : RB;

		for (int r = 0; r < rows; r++) {
			if (pointwise) {
				widen(a16 + (size_t)r * kp, in + (p0 + (size_t)r) * k, k, in_end);
			} else {
				im2col_row(g, in, in_end, zin, oy, ox, a16 + (size_t)r * kp);
				if (++ox == g->out_w)
					ox = 0, oy++;
			}
		}
		for (int oc0 = 0; oc0 < g->out_c; oc0 += 16) {
			const int n = g->out_c - oc0 < 16 ? g->out_c - oc0 : 16;
			const int nv = (n + 7) / 8, mr_max = mr_for_nv[nv];
			int32_t bias[16] = {0};
			float scale[16] = {0}, slope[16] = {0};
			struct tile t = {
				.lda = kp,
				.k2 = k2,
				.w = (const int16_t *)packed + (size_t)(oc0 / 16) * k2 * 32,
				.bias = bias,
				.scale = scale,
				.slope = slope,
				.act = rq->act,
				.zero_out = rq->zero_out,
				.n = n,
				.ldo = (size_t)g->out_c,
			};

			for (int j = 0; j < n; j++) {
				bias[j] = bias_q ? bias_q[oc0 + j] : 0;
				scale[j] = rq->scale[oc0 + j];
				slope[j] = rq->slope ? rq->slope[oc0 + j] : 0.0f;
			}
			for (int r0 = 0; r0 < rows; r0 += mr_max) {
				const int mr = rows - r0 < mr_max ? rows - r0 : mr_max;

				t.a = a16 + (size_t)r0 * kp;
				t.out = out_at(out, (p0 + (size_t)r0) * (size_t)g->out_c + (size_t)oc0, f32);
				tiles[f32][nv][mr](&t);
			}
		}
	}
}

static void avx2_conv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		      const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
		      uint8_t *out, void *scratch)
{
	conv_run(g, in, zero_in, packed, bias_q, rq, out, 0, scratch);
}

static void avx2_conv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			  const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
			  float *out, void *scratch)
{
	conv_run(g, in, zero_in, packed, bias_q, rq, (uint8_t *)out, 1, scratch);
}

/* ---- depthwise ----------------------------------------------------------- */

/* One channel block of 8 (c0 .. c0 + 7). */
struct dw_block {
	const uint8_t *in;        /* channel c0 of pixel (0, 0) */
	ptrdiff_t row, col;       /* input bytes per row / per pixel */
	ptrdiff_t dy, dx;         /* input bytes between tap rows / columns */
	const __m256i *w;         /* [taps] sign-extended weights */
	__m256i bias, zx;         /* zx: zero_in in every lane */
	__m256 scale, slope;
	__m256i zero_out;
	int act;
	int n;                    /* channels stored: 8, or in_c < 8 */
};

/* 8 input bytes zero-extended to int32 lanes; n < 8 copies first. */
FW_INLINE __m256i dw_load(const uint8_t *p, int n)
{
	if (n < 8) {
		uint8_t tmp[8] = {0};

		memcpy(tmp, p, (size_t)n);
		return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)tmp));
	}
	return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

/* o: u8, or (F32) floats as bytes */
FW_INLINE void dw_store(const struct dw_block *b, __m256i acc, uint8_t *o, const int F32)
{
	if (F32)
		store_nf((float *)(void *)o, act8(acc, b->scale, b->slope, b->act), b->n);
	else
		store_n(o, narrow8(requant8(acc, b->scale, b->slope, b->act, b->zero_out)), b->n);
}

/* ostep: bytes between output pixels */
FW_INLINE void dw_interior(const int KH, const int KW, const int F32, const struct dw_block *bp,
			   const uint8_t *base, ptrdiff_t step, int n, uint8_t *o, ptrdiff_t ostep)
{
	const struct dw_block bl = *bp, *b = &bl; /* not reloaded after each store */
	__m256i w[DW_MAX_TAPS];

#pragma GCC unroll 49
	for (int t = 0; t < KH * KW; t++)
		w[t] = b->w[t];
	for (int i = 0; i < n; i++, base += step, o += ostep) {
		__m256i acc = b->bias;

#pragma GCC unroll 7
		for (int ky = 0; ky < KH; ky++)
#pragma GCC unroll 7
			for (int kx = 0; kx < KW; kx++)
				acc = _mm256_add_epi32(acc, _mm256_madd_epi16(dw_load(base + ky * b->dy + kx * b->dx, 8),
									   w[ky * KW + kx]));
		dw_store(b, acc, o, F32);
	}
}

#define DW_INTERIOR_FN(K)                                                                          \
	static void dw_interior_##K##x##K(const struct dw_block *b, const uint8_t *base, ptrdiff_t step, \
					  int n, uint8_t *o, ptrdiff_t ostep)                      \
	{                                                                                          \
		dw_interior(K, K, 0, b, base, step, n, o, ostep);                                  \
	}                                                                                          \
	static void dw_interior_##K##x##K##_f(const struct dw_block *b, const uint8_t *base,       \
					      ptrdiff_t step, int n, uint8_t *o, ptrdiff_t ostep)  \
	{                                                                                          \
		dw_interior(K, K, 1, b, base, step, n, o, ostep);                                  \
	}
DW_INTERIOR_FN(3)
DW_INTERIOR_FN(5)
DW_INTERIOR_FN(7)

FW_INLINE void dw_pixel_any(const struct fw_conv_geom *g, const struct dw_block *b, int oy, int ox,
			    uint8_t *o, const int F32)
{
	const int iy0 = oy * g->stride_h - g->pad_t, ix0 = ox * g->stride_w - g->pad_l;
	__m256i acc = b->bias;

	for (int ky = 0; ky < g->k_h; ky++) {
		const int iy = iy0 + ky * g->dil_h;

		for (int kx = 0; kx < g->k_w; kx++) {
			const int ix = ix0 + kx * g->dil_w;
			__m256i x = b->zx;

			if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w)
				x = dw_load(b->in + (ptrdiff_t)iy * b->row + (ptrdiff_t)ix * b->col, b->n);
			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, b->w[ky * g->k_w + kx]));
		}
	}
	dw_store(b, acc, o, F32);
}

static void dw_pixel(const struct fw_conv_geom *g, const struct dw_block *b, int oy, int ox, uint8_t *o)
{
	dw_pixel_any(g, b, oy, ox, o, 0);
}

static void dw_pixel_f(const struct fw_conv_geom *g, const struct dw_block *b, int oy, int ox, uint8_t *o)
{
	dw_pixel_any(g, b, oy, ox, o, 1);
}

static void interior_range(int n, int stride, int pad, int taps, int dil, int size, int *lo, int *hi)
{
	const int span = (taps - 1) * dil;
	int a = (pad + stride - 1) / stride, b;

	b = size - 1 - span + pad < 0 ? 0 : (size - 1 - span + pad) / stride + 1;
	a = a > n ? n : a;
	b = b > n ? n : b;
	*lo = a;
	*hi = b < a ? a : b;
}

/* ---- depthwise 3x3: two kernel rows per vpmaddwd ------------------------- */

/* The kernel above does one vpmaddwd per tap on 8 channels, the high half
 * of each pair multiplying 0. For 3x3 with dil 1 and at least 16 channels,
 * this one pairs kernel rows 0 and 1 in each dword: 16 channels of one
 * input column in rows iy0 .. iy0 + 2 are widened to u16 (vpmovzxbw) and
 * interleaved by vpunpck{l,h}wd into
 *     P01_lo / P01_hi  dword d = (row 0, row 1) of channel ch_lo(d) / ch_hi(d)
 *     P2_lo / P2_hi    dword d = (row 2, 0)
 * with ch_lo(d) = d < 4 ? d : d + 4 and ch_hi(d) = ch_lo(d) + 4 (the
 * unpacks work within 128-bit lanes); the weights are s16 pairs in the same
 * order. 16 channels x 9 taps are then 12 vpmaddwd instead of 18, and a
 * column's P is made once for every output pixel that covers it.
 * vpackssdw(lo, hi) gives the 16 results back in channel order. Padding:
 * a row or column outside the input reads a 16-byte copy of zero_in. */

struct dwp_block {
	__m256i w01[3][2], w2[3][2];  /* [kx][lo, hi] */
	__m256i bias[2];
	__m256 scale[2], slope[2];
};

struct dwp_col {
	__m256i p01_lo, p01_hi, p2_lo, p2_hi;
};

FW_INLINE struct dwp_col dwp_load(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2)
{
	const __m256i a = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p0));
	const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p1));
	const __m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p2));
	const __m256i z = _mm256_setzero_si256();

	return (struct dwp_col){_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b),
				_mm256_unpacklo_epi16(c, z), _mm256_unpackhi_epi16(c, z)};
}

/* column x of the three rows; outside the input, zero_in */
FW_INLINE struct dwp_col dwp_column(const struct fw_conv_geom *g, const uint8_t *const r[3], const int row_in[3],
				 const uint8_t *zb, int x)
{
	const int in_x = (unsigned)x < (unsigned)g->in_w;
	const ptrdiff_t off = (ptrdiff_t)(in_x ? x : 0) * g->in_c;

	return dwp_load(in_x && row_in[0] ? r[0] + off : zb, in_x && row_in[1] ? r[1] + off : zb,
			in_x && row_in[2] ? r[2] + off : zb);
}

FW_INLINE void dwp_row(const int S, const struct fw_conv_geom *g, const struct dwp_block *b,
		       const uint8_t *const r[3], const int row_in[3], const uint8_t *zb, int act, __m256i zo,
		       uint8_t *o)
{
	const ptrdiff_t c = g->in_c;
	struct dwp_col t0, t1, t2;
	int ix = -g->pad_l;

	t0 = dwp_column(g, r, row_in, zb, ix);
	t1 = S == 1 ? dwp_column(g, r, row_in, zb, ix + 1) : t0;
	for (int ox = 0; ox < g->out_w; ox++, ix += S, o += c) {
		if (S == 2)
			t1 = dwp_column(g, r, row_in, zb, ix + 1);
		t2 = dwp_column(g, r, row_in, zb, ix + 2);

		__m256i lo = b->bias[0], hi = b->bias[1];

#define DWP_TAP(t, kx)                                                                              \
	lo = _mm256_add_epi32(lo, _mm256_madd_epi16((t).p01_lo, b->w01[kx][0]));                    \
	hi = _mm256_add_epi32(hi, _mm256_madd_epi16((t).p01_hi, b->w01[kx][1]));                    \
	lo = _mm256_add_epi32(lo, _mm256_madd_epi16((t).p2_lo, b->w2[kx][0]));                      \
	hi = _mm256_add_epi32(hi, _mm256_madd_epi16((t).p2_hi, b->w2[kx][1]))
		DWP_TAP(t0, 0);
		DWP_TAP(t1, 1);
		DWP_TAP(t2, 2);
#undef DWP_TAP
		const __m256i q = _mm256_packs_epi32(requant8(lo, b->scale[0], b->slope[0], act, zo),
						     requant8(hi, b->scale[1], b->slope[1], act, zo));
		const __m256i u = _mm256_permute4x64_epi64(_mm256_packus_epi16(q, q), 0x08);

		_mm_storeu_si128((__m128i *)o, _mm256_castsi256_si128(u));
		if (S == 1) {
			t0 = t1;
			t1 = t2;
		} else {
			t0 = t2;
		}
	}
}

FW_INLINE void dwp_all(const int S, const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		       const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	const int c = g->in_c;
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * c;
	const __m256i zo = _mm256_set1_epi32(rq->zero_out);
	uint8_t zb[16];
	struct dwp_block b;

	memset(zb, zero_in, sizeof zb);
	for (int c0 = 0; c0 < c; c0 += 16) {
		if (c0 + 16 > c)
			c0 = c - 16; /* overlap the previous block (identical bytes) */
		for (int half = 0; half < 2; half++) {
			int32_t bias[8];
			float scale[8], slope[8];

			for (int kx = 0; kx < 3; kx++) {
				int16_t w01[16], w2[16];

				for (int d = 0; d < 8; d++) {
					const size_t ch = (size_t)(c0 + (d < 4 ? d : d + 4) + 4 * half);

					w01[2 * d] = w[(size_t)kx * (size_t)c + ch];
					w01[2 * d + 1] = w[(size_t)(3 + kx) * (size_t)c + ch];
					w2[2 * d] = w[(size_t)(6 + kx) * (size_t)c + ch];
					w2[2 * d + 1] = 0;
				}
				b.w01[kx][half] = _mm256_loadu_si256((const __m256i *)w01);
				b.w2[kx][half] = _mm256_loadu_si256((const __m256i *)w2);
			}
			for (int d = 0; d < 8; d++) {
				const int ch = c0 + (d < 4 ? d : d + 4) + 4 * half;

				bias[d] = bias_q ? bias_q[ch] : 0;
				scale[d] = rq->scale[ch];
				slope[d] = rq->slope ? rq->slope[ch] : 0.0f;
			}
			b.bias[half] = _mm256_loadu_si256((const __m256i *)bias);
			b.scale[half] = _mm256_loadu_ps(scale);
			b.slope[half] = _mm256_loadu_ps(slope);
		}
		for (int oy = 0; oy < g->out_h; oy++) {
			const int iy0 = oy * g->stride_h - g->pad_t;
			const uint8_t *r[3];
			int row_in[3];

			for (int k = 0; k < 3; k++) {
				row_in[k] = (unsigned)(iy0 + k) < (unsigned)g->in_h;
				r[k] = in + (row_in[k] ? (ptrdiff_t)(iy0 + k) * in_row : 0) + c0;
			}
			dwp_row(S, g, &b, r, row_in, zb, rq->act, zo, out + (ptrdiff_t)oy * g->out_w * c + c0);
		}
	}
}

static void dwp_all_s1(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
		       const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	dwp_all(1, g, in, zero_in, w, bias_q, rq, out);
}

static void dwp_all_s2(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
		       const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	dwp_all(2, g, in, zero_in, w, bias_q, rq, out);
}

/* Every shape, 8 channels at a time; out: u8, or (F32) floats as bytes.
 * Float outputs take this path only (one depthwise layer of our models
 * has one, 5x5), so dwp_all stays u8. */
FW_INLINE void dw_general(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
			  const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out, const int F32)
{
	const int c = g->in_c, taps = g->k_h * g->k_w, small = c < 8;
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * c, es = F32 ? (ptrdiff_t)sizeof(float) : 1;
	__m256i wv[DW_MAX_TAPS];
	int oy_lo, oy_hi, ox_lo, ox_hi;
	struct dw_block b;

	interior_range(g->out_h, g->stride_h, g->pad_t, g->k_h, g->dil_h, g->in_h, &oy_lo, &oy_hi);
	interior_range(g->out_w, g->stride_w, g->pad_l, g->k_w, g->dil_w, g->in_w, &ox_lo, &ox_hi);

	b.row = in_row;
	b.col = c;
	b.dy = (ptrdiff_t)g->dil_h * in_row;
	b.dx = (ptrdiff_t)g->dil_w * c;
	b.w = wv;
	b.zx = _mm256_set1_epi32(zero_in);
	b.zero_out = _mm256_set1_epi32(rq->zero_out);
	b.act = rq->act;
	b.n = small ? c : 8;

	for (int c0 = 0; c0 < c; c0 += 8) {
		int32_t bias[8] = {0};
		float scale[8] = {0}, slope[8] = {0};

		if (c0 + 8 > c && !small)
			c0 = c - 8; /* overlap the previous block */
		b.in = in + c0;
		for (int t = 0; t < taps; t++) {
			int8_t wt[8] = {0};

			memcpy(wt, w + (size_t)t * (size_t)c + (size_t)c0, (size_t)b.n);
			wv[t] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)wt));
		}
		for (int j = 0; j < b.n; j++) {
			bias[j] = bias_q ? bias_q[c0 + j] : 0;
			scale[j] = rq->scale[c0 + j];
			slope[j] = rq->slope ? rq->slope[c0 + j] : 0.0f;
		}
		b.bias = _mm256_loadu_si256((const __m256i *)bias);
		b.scale = _mm256_loadu_ps(scale);
		b.slope = _mm256_loadu_ps(slope);

		for (int oy = 0; oy < g->out_h; oy++) {
			uint8_t *orow = out + ((ptrdiff_t)oy * g->out_w * c + c0) * es;
			int x_lo = ox_lo, x_hi = ox_hi;

			if (oy < oy_lo || oy >= oy_hi || small)
				x_lo = x_hi = 0;
			if (x_hi > x_lo) {
				const uint8_t *base =
					b.in + (ptrdiff_t)(oy * g->stride_h - g->pad_t) * in_row +
					(ptrdiff_t)(x_lo * g->stride_w - g->pad_l) * c;
				const ptrdiff_t step = (ptrdiff_t)g->stride_w * c;
				uint8_t *o = orow + (ptrdiff_t)x_lo * c * es;

				if (g->k_h == 3 && g->k_w == 3)
					(F32 ? dw_interior_3x3_f : dw_interior_3x3)(&b, base, step, x_hi - x_lo, o, c * es);
				else if (g->k_h == 5 && g->k_w == 5)
					(F32 ? dw_interior_5x5_f : dw_interior_5x5)(&b, base, step, x_hi - x_lo, o, c * es);
				else if (g->k_h == 7 && g->k_w == 7)
					(F32 ? dw_interior_7x7_f : dw_interior_7x7)(&b, base, step, x_hi - x_lo, o, c * es);
				else
					for (int ox = x_lo; ox < x_hi; ox++)
						(F32 ? dw_pixel_f : dw_pixel)(g, &b, oy, ox, orow + (ptrdiff_t)ox * c * es);
			}
			for (int ox = 0; ox < x_lo; ox++)
				(F32 ? dw_pixel_f : dw_pixel)(g, &b, oy, ox, orow + (ptrdiff_t)ox * c * es);
			for (int ox = x_hi > x_lo ? x_hi : 0; ox < g->out_w; ox++)
				(F32 ? dw_pixel_f : dw_pixel)(g, &b, oy, ox, orow + (ptrdiff_t)ox * c * es);
		}
	}
}

static void avx2_dwconv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			uint8_t *out)
{
	const int c = g->in_c;

	assert(g->out_c == g->in_c);
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	assert(rq->act != FW_ACT_PRELU || rq->slope);
	if (g->k_h * g->k_w > DW_MAX_TAPS) {
		fw_q8_ref_kernels.dwconv(g, in, zero_in, w, bias_q, rq, out);
		return;
	}
	if (g->k_h == 3 && g->k_w == 3 && g->dil_h == 1 && g->dil_w == 1 && c >= 16 &&
	    (g->stride_w == 1 || g->stride_w == 2)) {
		(g->stride_w == 1 ? dwp_all_s1 : dwp_all_s2)(g, in, zero_in, w, bias_q, rq, out);
		return;
	}
	dw_general(g, in, zero_in, w, bias_q, rq, out, 0);
}

static void avx2_dwconv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			    const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			    float *out)
{
	assert(g->out_c == g->in_c);
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	assert(rq->act != FW_ACT_PRELU || rq->slope);
	if (g->k_h * g->k_w > DW_MAX_TAPS) {
		fw_q8_ref_kernels.dwconv_f32(g, in, zero_in, w, bias_q, rq, out);
		return;
	}
	dw_general(g, in, zero_in, w, bias_q, rq, (uint8_t *)out, 1);
}

/* ---- add ----------------------------------------------------------------- */

/* q8.h's fixed-point add, 32 elements at a time, as q8_avx512.c does it
 * (see there) with vpmaddwd + vpaddd for vpdpwssd: vpunpck to (a_i, b_i)
 * 16-bit pairs P, u = (P.ml + c) >> 15, q = (P.mh + u) >> (shift - 15)
 * (below shift 15: t = P.ml + c + (P.mh << 15), q = t >> shift), vpackssdw,
 * + zy saturated, vpackuswb. Every step is in-lane and the packs undo the
 * unpacks' order. */
struct add_v {
	__m256i ml, mh, c, shift, zy;
};

FW_INLINE __m256i add_q8(__m256i pairs, const struct add_v *k, int wide)
{
	const __m256i l = _mm256_add_epi32(_mm256_madd_epi16(pairs, k->ml), k->c);
	const __m256i h = _mm256_madd_epi16(pairs, k->mh);

	if (wide)
		return _mm256_srav_epi32(_mm256_add_epi32(l, _mm256_slli_epi32(h, 15)), k->shift);
	return _mm256_srav_epi32(_mm256_add_epi32(h, _mm256_srai_epi32(l, 15)), k->shift);
}

FW_INLINE __m256i add32(const uint8_t *pa, const uint8_t *pb, const struct add_v *k, int relu, int zy, int wide)
{
	const __m256i a = _mm256_loadu_si256((const __m256i *)pa), b = _mm256_loadu_si256((const __m256i *)pb);
	const __m256i z = _mm256_setzero_si256();
	const __m256i al = _mm256_unpacklo_epi8(a, z), ah = _mm256_unpackhi_epi8(a, z);
	const __m256i bl = _mm256_unpacklo_epi8(b, z), bh = _mm256_unpackhi_epi8(b, z);
	__m256i lo = _mm256_packs_epi32(add_q8(_mm256_unpacklo_epi16(al, bl), k, wide),
					add_q8(_mm256_unpackhi_epi16(al, bl), k, wide));
	__m256i hi = _mm256_packs_epi32(add_q8(_mm256_unpacklo_epi16(ah, bh), k, wide),
					add_q8(_mm256_unpackhi_epi16(ah, bh), k, wide));

	if (zy) { /* zy = 0: nothing to add, and vpackuswb does the ReLU's max */
		lo = _mm256_adds_epi16(lo, k->zy);
		hi = _mm256_adds_epi16(hi, k->zy);
		if (relu) { /* max(q, 0) + zy = max(q + zy, zy) */
			lo = _mm256_max_epi16(lo, k->zy);
			hi = _mm256_max_epi16(hi, k->zy);
		}
	}
	return _mm256_packus_epi16(lo, hi);
}

FW_INLINE void add_loop(const uint8_t *a, const uint8_t *b, size_t n, const struct add_v *k, uint8_t *out,
			int relu, int zy, int wide)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32)
		_mm256_storeu_si256((__m256i *)(out + i), add32(a + i, b + i, k, relu, zy, wide));
	if (i < n) {
		_Alignas(32) uint8_t ta[32] = {0}, tb[32] = {0}, to[32];

		memcpy(ta, a + i, n - i);
		memcpy(tb, b + i, n - i);
		_mm256_store_si256((__m256i *)to, add32(ta, tb, k, relu, zy, wide));
		memcpy(out + i, to, n - i);
	}
}

static void avx2_add(const uint8_t *a, const uint8_t *b, size_t n, const struct fw_q8_add *p,
		     uint8_t *out)
{
	const int wide = p->shift < 15, relu = p->act == FW_ACT_RELU;
	const struct add_v k = {
		.ml = _mm256_set1_epi32((int32_t)((uint32_t)(p->mb & 0x7fff) << 16 | (uint32_t)(p->ma & 0x7fff))),
		.mh = _mm256_set1_epi32((int32_t)((uint32_t)(p->mb >> 15) << 16 | (uint32_t)(p->ma >> 15))),
		.c = _mm256_set1_epi32(p->c),
		.shift = _mm256_set1_epi32(wide ? p->shift : p->shift - 15),
		.zy = _mm256_set1_epi16((int16_t)p->zy),
	};

	assert(p->act == FW_ACT_NONE || p->act == FW_ACT_RELU);
	if (wide)
		add_loop(a, b, n, &k, out, relu, 1, 1);
	else if (p->zy == 0)
		add_loop(a, b, n, &k, out, 0, 0, 0); /* BlazeFace's residual ADD + ReLU */
	else if (!relu)
		add_loop(a, b, n, &k, out, 0, 1, 0); /* MobileFaceNet's plain ADD */
	else
		add_loop(a, b, n, &k, out, 1, 1, 0);
}

static void avx2_add_cpad(const uint8_t *a, const uint8_t *b, size_t pixels, int c, int cb,
			  const struct fw_q8_add *p, uint8_t *out)
{
	fw_q8_cpad_run(a, b, pixels, c, cb, p, out, avx2_add, fw_q8_widen_c);
}

/* ---- quantise / dequantise at the int8 region's edges ----------------------- */

/* fw_q8_quantize's steps 8 at a time: x * inv_s clamped to [-z, 255 - z]
 * (vminps gives its second operand for NaN, as `v < hi ? v : hi`),
 * vcvtps2dq rounds half to even as the 1.5 * 2^23 trick does there, + z. */
FW_INLINE __m128i quant8(__m256 x, __m256 inv, __m256 lo, __m256 hi, __m256i z)
{
	const __m256 v = _mm256_max_ps(_mm256_min_ps(_mm256_mul_ps(x, inv), hi), lo);

	return narrow8(_mm256_add_epi32(_mm256_cvtps_epi32(v), z));
}

static void avx2_quantize(const float *x, size_t n, float inv_s, int32_t z, uint8_t *q)
{
	const __m256 inv = _mm256_set1_ps(inv_s), lo = _mm256_set1_ps((float)-z);
	const __m256 hi = _mm256_set1_ps((float)(255 - z));
	const __m256i vz = _mm256_set1_epi32(z);
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storel_epi64((__m128i *)(q + i), quant8(_mm256_loadu_ps(x + i), inv, lo, hi, vz));
	if (i < n) {
		float t[8] = {0};

		memcpy(t, x + i, (n - i) * sizeof(float));
		store_n(q + i, quant8(_mm256_loadu_ps(t), inv, lo, hi, vz), (int)(n - i));
	}
}

/* x = s * (float)(q - z), as fw_q8_dequantize */
static void avx2_dequantize(const uint8_t *q, size_t n, float s, int32_t z, float *x)
{
	const __m256 vs = _mm256_set1_ps(s);
	const __m256i vz = _mm256_set1_epi32(z);
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_mul_ps(vs, _mm256_cvtepi32_ps(_mm256_sub_epi32(
							 _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(q + i))), vz))));
	for (; i < n; i++)
		x[i] = s * (float)((int32_t)q[i] - z);
}

const struct fw_q8_kernels fw_q8_avx2_kernels = {
	.isa = FW_ISA_AVX2,
	.name = "avx2",
	.conv_packed_size = avx2_conv_packed_size,
	.conv_pack = avx2_conv_pack,
	.conv_scratch = avx2_conv_scratch,
	.conv = avx2_conv,
	.dwconv = avx2_dwconv,
	.conv_f32 = avx2_conv_f32,
	.dwconv_f32 = avx2_dwconv_f32,
	.add = avx2_add,
	.add_cpad = avx2_add_cpad,
	.quantize = avx2_quantize,
	.dequantize = avx2_dequantize,
};
