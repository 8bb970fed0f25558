/* int8 kernels for AVX-512 F/BW/VL + VNNI (contract: q8.h). This file alone
 * is built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; q8_dispatch.c
 * hands out its table only when the CPU (and OS) run all four, so nothing
 * here executes elsewhere (valgrind, which hides AVX-512, takes AVX2).
 *
 * conv is a GEMM out[M][N] = A[M][K] x W[N][K]^T, M = out_h*out_w pixels,
 * N = out_c, K = k_h*k_w*in_c in (ky, kx, ic) order (OHWI's order, so a
 * weight row is the dot partner of an im2col row). The product is vpdpbusd:
 * u8 x s8, four products summed into each int32 lane, exact and wrapping
 * modulo 2^32 (the non-"s" form never saturates), so the accumulators equal
 * the reference's bit for bit.
 *
 * K layout. A pixel's taps are k_h "segments" (kernel rows) of
 * row_k = k_w*in_c bytes, each contiguous in the NHWC input when dil_w = 1.
 * Each segment is padded to rs = round_up(row_k, 4) bytes, so K' = k_h*rs
 * and a group of 4 bytes never straddles two segments (a 1x1 conv has one
 * segment: K' = round_up(in_c, 4)). The padding taps have weight 0, so
 * whatever byte the activation side holds there (the next pixel's, or
 * anything) adds exactly 0.
 *
 * Packed weights (conv_pack, once at load): K' in K4 = K'/4 groups of 4 taps,
 * N in blocks of up to 64 channels (4 vectors of 16); block b holds, for
 * each group g, nv vectors of 16 channels x 4 bytes:
 *     packed[b*K4*256 + g*nv*64 + v*64 + lane*4 + j] = w[64b + 16v + lane][tap 4g + j]
 * where nv is 4 except in the last block (ceil(rest/16)); padding taps and
 * channels past N are 0.
 *
 * A tile is MR pixels x nv*16 channels (MR = 12, 12, 8, 6 for nv = 1..4,
 * <= 24 accumulators); per group it loads nv weight vectors, broadcasts 4
 * activation bytes per pixel (vpbroadcastd from memory) and issues MR*nv
 * vpdpbusd. The accumulators live in registers over the whole of K and are
 * requantised in registers, four vectors at a time narrowed to bytes by
 * vpackssdw + vpackuswb + vpermd (one row of 64 channels, two rows of 32 or
 * four of 16), and stored through a byte mask past N. Every mr <= MR has
 * its own instantiation (a GEMV computes one row).
 *
 * Activations are read in place wherever possible, with no im2col copy:
 *  - 1x1 stride-1 unpadded conv (and FC): pixel rows of the input, lda =
 *    in_c. Every 4-byte read stays inside the tensor except, when in_c % 4
 *    != 0, the last group of the last rows: a tile that would read past the
 *    end is first copied to scratch.
 *  - other convs with dil_w = 1, output pixels whose taps are all inside the
 *    input: segment s of pixel ox starts at in + (iy0 + s*dil_h)*row + ix0*c,
 *    and consecutive pixels of an output row are stride_w*c bytes apart, so
 *    a tile of pixels in one output row is (a, lda = stride_w*c, segment
 *    stride dil_h*row). Reads past row_k (up to rs) stay inside the tensor
 *    (checked; the last pixels fall back to im2col otherwise).
 *  - border pixels (and dil_w > 1): im2col into scratch in the K' layout
 *    (padded taps zero_in, segment padding 0), RB = 24 rows at a time.
 *
 * Depthwise: channels are the vector axis. The 16 input bytes of a pixel's
 * channel block are broadcast to the four 128-bit lanes (a load-port
 * broadcast, no shuffle) and the weights are masked so that dword lane
 * 4q + r keeps only byte q: one vpdpbusd then adds x*w for channel 4r + q in
 * lane 4q + r and exact zeros for the other three bytes. Lanes come out
 * transposed (4x4), so bias/scale/slope are permuted the same way once per
 * channel block and the results are permuted back while narrowing. Four
 * output pixels of a row are done together (one pixel's taps are a chain of
 * dependent vpdpbusd), each input column loaded once per kernel row for all
 * of them, and narrowed together. Border pixels take the same code with
 * their own valid taps (a kernel row outside the input adds a precomputed
 * zero_in * w sum). Channel counts that are not a multiple of 16 run their
 * last block at c = in_c - 16, overlapping the previous one (identical
 * bytes written twice) rather than through masks; in_c < 16 uses masked
 * loads and stores. That lane kernel is the general case; 3x3 with dil 1
 * (every depthwise layer of our models but GDConv) puts three taps in each
 * vpdpbusd instead (dwt_all from 33 channels, dwt32_all at 256 bits for
 * 17..32, dwf_all for fewer than 16 at stride_w 1; see each).
 *
 * Epilogue (q8.h): cvtdq2ps (nearest even), one vmulps (never an FMA: this
 * file is built with -ffp-contract=off), ReLU as vmaxps(v, 0) == (v > 0 ? v
 * : 0), PReLU as a masked multiply where !(v >= 0), vminps(v, 512), then
 * cvtps2dq (round half to even under the default MXCSR), + zero_out, then
 * saturation to 0..255 (vpackssdw + vpackuswb, or max 0 + vpmovusdb). The
 * min keeps a large positive v from becoming 0x80000000 (cvtps2dq's
 * "indefinite"); below -2^31 the indefinite value is the right answer (it
 * saturates to 0), so no lower clamp is needed. That is the reference's
 * result for every input.
 *
 * Float outputs (conv_f32, dwconv_f32): the same accumulators, the epilogue
 * stops after the activation (act16) and stores 16 floats per vector
 * (masked past N). conv: every tile has a float-storing twin (tiles[1]),
 * chosen per call, so the u8 tiles are untouched; depthwise: the lane
 * kernel (dw_all) for every shape, the 3x3 paths staying u8 only.
 */
#include "q8.h"
#include "q8_cpad.h"
#include "../model_format.h"

#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

/* Looked up by name in q8_dispatch.c; no header declares the tables. */
extern const struct fw_q8_kernels fw_q8_avx512_kernels, fw_q8_amx_kernels;
/* depthwise kernels with more than DW_MAX_TAPS taps (none in our models) */
extern const struct fw_q8_kernels fw_q8_ref_kernels;

#define FW_INLINE static inline __attribute__((always_inline))

enum {
	RB = 24,           /* im2col rows per block: a multiple of every MR */
	MR_MAX = 12,
	DW_MAX_TAPS = 64,  /* 8x8; larger depthwise kernels go to the reference */
	DWT_MIN_C = 33,    /* 3x3 depthwise with at least this many channels: dwt_all (17..32: dwt32_all) */
	AMX_MIN_GROUPS = 16, /* amx table: the tile multiply for segments of at least 16 groups (64 bytes) */
};

static const int mr_for_nv[5] = {0, 12, 12, 8, 6};

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

FW_INLINE int32_t load_u32(const uint8_t *p)
{
	int32_t v;

	memcpy(&v, p, sizeof v); /* unaligned; one mov */
	return v;
}

/* Output indices o in [0, n) whose taps o*stride - pad + k*dil, k < taps,
 * all lie in [0, size): [*lo, *hi), possibly empty. */
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

/* ---- epilogue ---------------------------------------------------------- */

/* q8.h's requantisation of 16 accumulators, up to + zero_out: int32, not
 * yet saturated to 0..255 (vpackssdw + vpackuswb, or max 0 + vpmovusdb). */
/* nearbyint(v) of q8.h, before + zero_out. clamp 0: the caller knows every
 * v < 2^30 (no_clamp_needed), so the min with 512 changes no byte: such a
 * v converts exactly and saturates to 255 like 512 does. */
/* q8.h's epilogue up to the rounding: a float output's values (conv_f32,
 * dwconv_f32), and what the requantisations below round. */
FW_INLINE __m512 act16(__m512i acc, __m512 scale, __m512 slope, int act)
{
	const __m512 zero = _mm512_setzero_ps();
	__m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale);

	if (act == FW_ACT_RELU) {
		v = _mm512_max_ps(v, zero); /* v > 0 ? v : 0 */
	} else if (act == FW_ACT_PRELU) {
		__mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_NGE_UQ); /* !(v >= 0) */

		v = _mm512_mask_mul_ps(v, neg, v, slope);
	}
	return v;
}

FW_INLINE __m512i requant16_core(__m512i acc, __m512 scale, __m512 slope, int act, int clamp)
{
	__m512 v = act16(acc, scale, slope, act);

	if (clamp)
		v = _mm512_min_ps(v, _mm512_set1_ps(512.0f));
	return _mm512_cvtps_epi32(v);
}

FW_INLINE __m512i requant16_raw(__m512i acc, __m512 scale, __m512 slope, int act, __m512i zero_out)
{
	__m512 v = act16(acc, scale, slope, act);

	v = _mm512_min_ps(v, _mm512_set1_ps(512.0f));
	return _mm512_add_epi32(_mm512_cvtps_epi32(v), zero_out);
}

/* pack_zp adds zero_out after vpackssdw has saturated q = nearbyint(v)
 * (requant16_core) to int16: the same bytes, as saturating to int16, then
 * adding zero_out (0..255) with int16 saturation and saturating to 0..255
 * gives clamp(q + zero_out, 0, 255) for every int32 q; half the adds of
 * adding before the pack. */
/* a .. d (requant16_core) to bytes + zero_out (zo16: in every int16): lane
 * L holds a, b, c, d's lane L, 4 bytes each. */
FW_INLINE __m512i pack_zp(__m512i a, __m512i b, __m512i c, __m512i d, __m512i zo16)
{
	return _mm512_packus_epi16(_mm512_adds_epi16(_mm512_packs_epi32(a, b), zo16),
				   _mm512_adds_epi16(_mm512_packs_epi32(c, d), zo16));
}

/* The same, >= 0: vpmovusdb then saturates it to u8. */
FW_INLINE __m512i requant16(__m512i acc, __m512 scale, __m512 slope, int act, __m512i zero_out)
{
	return _mm512_max_epi32(requant16_raw(acc, scale, slope, act, zero_out), _mm512_setzero_si512());
}

FW_INLINE __mmask16 lane_mask(int n)
{
	return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* ---- conv: layout and packing -------------------------------------------- */

/* K' layout of a conv (see top). */
struct klayout {
	size_t row_k;   /* valid bytes per segment: k_w * in_c */
	size_t rs;      /* bytes per segment: round_up(row_k, 4) */
	size_t kp;      /* K' = k_h * rs */
};

static struct klayout klayout_of(const struct fw_conv_geom *g)
{
	struct klayout l;

	l.row_k = (size_t)g->k_w * (size_t)g->in_c;
	l.rs = round_up(l.row_k, 4);
	l.kp = (size_t)g->k_h * l.rs;
	return l;
}

static size_t avx512_conv_packed_size(const struct fw_conv_geom *g)
{
	return round_up((size_t)g->out_c, 16) / 16 * (klayout_of(g).kp / 4) * 64;
}

static void avx512_conv_pack(const struct fw_conv_geom *g, const int8_t *w, void *packed)
{
	const struct klayout l = klayout_of(g);
	const size_t k = k_of(g), k4 = l.kp / 4;
	int8_t *p = packed;

	memset(p, 0, avx512_conv_packed_size(g));
	for (int oc = 0; oc < g->out_c; oc++) {
		int b = oc / 64, v = oc % 64 / 16, lane = oc % 16;
		int rest = g->out_c - 64 * b;
		size_t nv = rest >= 64 ? 4 : (size_t)(rest + 15) / 16;
		int8_t *dst = p + (size_t)b * k4 * 256 + (size_t)v * 64 + (size_t)lane * 4;

		for (size_t t = 0; t < k; t++) {
			size_t kk = t / l.row_k * l.rs + t % l.row_k; /* tap t in K' */

			dst[kk / 4 * nv * 64 + kk % 4] = w[(size_t)oc * k + t];
		}
	}
}

static size_t avx512_conv_scratch(const struct fw_conv_geom *g)
{
	const size_t kp = klayout_of(g).kp;

	if (is_pointwise(g))
		return g->in_c % 4 ? MR_MAX * kp : 0; /* the copied last tile */
	return RB * kp;
}

/* ---- conv: the tile ---------------------------------------------------- */

struct tile {
	const uint8_t *a;       /* row 0, segment 0 of the activations */
	size_t lda;             /* bytes between rows (pixels) */
	ptrdiff_t seg;          /* bytes between segments */
	size_t nseg, gps;       /* segments, groups of 4 bytes per segment */
	const uint8_t *w;       /* this channel block's packed weights */
	const int32_t *bias;    /* [n], or NULL; already offset to the block */
	const float *scale;     /* [n] */
	const float *slope;     /* [n] or NULL */
	int act;
	int clamp;              /* 0: no v can reach 2^30 (requant16_core) */
	int32_t zero_out;
	int n;                  /* channels in this block, 1..64 */
	uint8_t *out;           /* row 0, channel 0 of the block (floats as bytes: out_at) */
	size_t ldo;             /* elements between output rows (out_c) */
};

/* Element i of a conv's output as a byte address: out is u8, or (f32) a
 * float array passed as bytes, so one set of offsets serves both. */
FW_INLINE uint8_t *out_at(uint8_t *out, size_t i, int f32)
{
	return out + (f32 ? i * sizeof(float) : i);
}

/* One tile. MR and NV are constants after inlining; the accumulators are
 * named variables, not an array, because GCC keeps an array of vectors in
 * memory (it spilled every accumulator on each group), while 24 scalars of
 * SSA fit the 32 zmm registers. Rows and vectors past MR / NV are dead code. */
#define ACC_DECL(r) __m512i c##r##_0 = b0, c##r##_1 = b1, c##r##_2 = b2, c##r##_3 = b3
#define ACC_STEP(r)                                                                        \
	if (MR > r) {                                                                      \
		const __m512i x = _mm512_set1_epi32(load_u32(a + (size_t)(r) * lda));     \
		c##r##_0 = _mm512_dpbusd_epi32(c##r##_0, x, w0);                           \
		if (NV > 1)                                                                \
			c##r##_1 = _mm512_dpbusd_epi32(c##r##_1, x, w1);                   \
		if (NV > 2)                                                                \
			c##r##_2 = _mm512_dpbusd_epi32(c##r##_2, x, w2);                   \
		if (NV > 3)                                                                \
			c##r##_3 = _mm512_dpbusd_epi32(c##r##_3, x, w3);                   \
	}
/* Requantised accumulator (row r, vector v), or 0 for rows / vectors the
 * tile does not have. */
#define ACC_Q(r, v) \
	(MR > (r) && NV > (v) ? requant16_core(c##r##_##v, sc##v, sl##v, t->act, t->clamp) : _mm512_setzero_si512())
/* Stores of pack4's 64 bytes: rows r .. r + 3 of 16 bytes (NV = 1), r and
 * r + 1 of 32 (NV = 2), or row r of up to 64 (NV = 3, 4), each through
 * the byte mask of the block's channels; only the first `rows` of them
 * exist. Shared by the vector tiles and the AMX epilogue. */
FW_INLINE void store_pack(const struct tile *t, __m512i p, int r, int NV, int rows, __mmask64 m64)
{
	uint8_t *o = t->out + (size_t)r * t->ldo;

	if (NV >= 3) {
		_mm512_mask_storeu_epi8(o, m64, p);
	} else if (NV == 2) {
		_mm256_mask_storeu_epi8(o, (__mmask32)m64, _mm512_castsi512_si256(p));
		if (rows > 1)
			_mm256_mask_storeu_epi8(o + t->ldo, (__mmask32)m64, _mm512_extracti64x4_epi64(p, 1));
	} else {
		_mm_mask_storeu_epi8(o, (__mmask16)m64, _mm512_castsi512_si128(p));
		if (rows > 1)
			_mm_mask_storeu_epi8(o + t->ldo, (__mmask16)m64, _mm512_extracti32x4_epi32(p, 1));
		if (rows > 2)
			_mm_mask_storeu_epi8(o + 2 * t->ldo, (__mmask16)m64, _mm512_extracti32x4_epi32(p, 2));
		if (rows > 3)
			_mm_mask_storeu_epi8(o + 3 * t->ldo, (__mmask16)m64, _mm512_extracti32x4_epi32(p, 3));
	}
}

/* NV = 3, 4: one row's 48 / 64 bytes in one store */
#define ACC_STORE_ROW(r) \
	if (MR > r)      \
		store_pack(t, pack4(ACC_Q(r, 0), ACC_Q(r, 1), ACC_Q(r, 2), ACC_Q(r, 3), zo), r, NV, MR - (r), m64)
/* NV = 2: rows r and r + 1 in one vector, 32 bytes each */
#define ACC_STORE_PAIR(r, r1) \
	if (MR > r)           \
		store_pack(t, pack4(ACC_Q(r, 0), ACC_Q(r, 1), ACC_Q(r1, 0), ACC_Q(r1, 1), zo), r, NV, MR - (r), m64);
/* NV = 1: rows r .. r + 3 in one vector, 16 bytes each */
#define ACC_STORE_QUAD(r, r1, r2, r3) \
	if (MR > r)                   \
		store_pack(t, pack4(ACC_Q(r, 0), ACC_Q(r1, 0), ACC_Q(r2, 0), ACC_Q(r3, 0), zo), r, NV, MR - (r), m64);

/* F32: row r, vector v as floats, no requantisation (conv_f32) */
#define ACC_STORE_F(r, v)                                                                           \
	if (MR > r && NV > v)                                                                       \
		_mm512_mask_storeu_ps((float *)(void *)t->out + (size_t)(r) * t->ldo + 16 * (v),     \
				      lane_mask(n - 16 * (v)), act16(c##r##_##v, sc##v, sl##v, t->act))
#define ACC_STORE_F_ROW(r) ACC_STORE_F(r, 0); ACC_STORE_F(r, 1); ACC_STORE_F(r, 2); ACC_STORE_F(r, 3)

/* Four vectors of requantised int32 to 64 u8 in order a, b, c, d:
 * vpackssdw + vpackuswb saturate to 0..255 (lane l then holds 4 bytes of
 * each vector), one vpermd puts each vector's 16 bytes together. 4 shuffles
 * for 64 outputs instead of 12 (max + vpmovusdb per vector). */
FW_INLINE __m512i pack4(__m512i a, __m512i b, __m512i c, __m512i d, __m512i zo16)
{
	/* dword 4j + l <- 4l + j: the 4x4 transpose */
	const __m512i gather = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);

	return _mm512_permutexvar_epi32(gather, pack_zp(a, b, c, d, zo16));
}

/* bias of vector v of the block, 0 past n (or everywhere without bias) */
FW_INLINE __m512i tile_bias(const struct tile *t, int v, int NV)
{
	if (NV <= v || !t->bias)
		return _mm512_setzero_si512();
	return _mm512_maskz_loadu_epi32(lane_mask(t->n - 16 * v), t->bias + 16 * v);
}

FW_INLINE void gemm_tile(const int MR, const int NV, const int F32, const struct tile *tp)
{
	/* a private copy: the output stores could alias *tp as far as the
	 * compiler knows, and would make it reload every field after each */
	const struct tile tl = *tp, *t = &tl;
	const __m512i b0 = tile_bias(t, 0, NV), b1 = tile_bias(t, 1, NV);
	const __m512i b2 = tile_bias(t, 2, NV), b3 = tile_bias(t, 3, NV);
	const uint8_t *w = t->w;
	const size_t lda = t->lda;
	ACC_DECL(0); ACC_DECL(1); ACC_DECL(2); ACC_DECL(3); ACC_DECL(4); ACC_DECL(5);
	ACC_DECL(6); ACC_DECL(7); ACC_DECL(8); ACC_DECL(9); ACC_DECL(10); ACC_DECL(11);

	for (size_t s = 0; s < t->nseg; s++) {
		const uint8_t *a = t->a + (ptrdiff_t)s * t->seg;

		for (size_t g = 0; g < t->gps; g++, a += 4, w += 64 * NV) {
			const __m512i w0 = _mm512_load_si512((const void *)w);
			const __m512i w1 = NV > 1 ? _mm512_load_si512((const void *)(w + 64)) : w0;
			const __m512i w2 = NV > 2 ? _mm512_load_si512((const void *)(w + 128)) : w0;
			const __m512i w3 = NV > 3 ? _mm512_load_si512((const void *)(w + 192)) : w0;

			ACC_STEP(0) ACC_STEP(1) ACC_STEP(2) ACC_STEP(3) ACC_STEP(4) ACC_STEP(5)
			ACC_STEP(6) ACC_STEP(7) ACC_STEP(8) ACC_STEP(9) ACC_STEP(10) ACC_STEP(11)
		}
	}

	const __m512i zo = _mm512_set1_epi16((short)t->zero_out);
	const int n = t->n;
	const __mmask64 m64 = n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
	__m512 sc0, sc1, sc2, sc3, sl0, sl1, sl2, sl3;

#define ACC_SCALE(v)                                                                                  \
	sc##v = NV > v ? _mm512_maskz_loadu_ps(lane_mask(n - 16 * (v)), t->scale + 16 * (v)) : _mm512_setzero_ps(); \
	sl##v = NV > v && t->slope ? _mm512_maskz_loadu_ps(lane_mask(n - 16 * (v)), t->slope + 16 * (v))  \
				   : _mm512_setzero_ps()
	ACC_SCALE(0);
	ACC_SCALE(1);
	ACC_SCALE(2);
	ACC_SCALE(3);
#undef ACC_SCALE
	if (F32) {
		ACC_STORE_F_ROW(0); ACC_STORE_F_ROW(1); ACC_STORE_F_ROW(2); ACC_STORE_F_ROW(3);
		ACC_STORE_F_ROW(4); ACC_STORE_F_ROW(5); ACC_STORE_F_ROW(6); ACC_STORE_F_ROW(7);
		ACC_STORE_F_ROW(8); ACC_STORE_F_ROW(9); ACC_STORE_F_ROW(10); ACC_STORE_F_ROW(11);
	} else if (NV == 1) {
		ACC_STORE_QUAD(0, 1, 2, 3) ACC_STORE_QUAD(4, 5, 6, 7) ACC_STORE_QUAD(8, 9, 10, 11)
	} else if (NV == 2) {
		ACC_STORE_PAIR(0, 1) ACC_STORE_PAIR(2, 3) ACC_STORE_PAIR(4, 5)
		ACC_STORE_PAIR(6, 7) ACC_STORE_PAIR(8, 9) ACC_STORE_PAIR(10, 11)
	} else {
		ACC_STORE_ROW(0); ACC_STORE_ROW(1); ACC_STORE_ROW(2); ACC_STORE_ROW(3);
		ACC_STORE_ROW(4); ACC_STORE_ROW(5); ACC_STORE_ROW(6); ACC_STORE_ROW(7);
		ACC_STORE_ROW(8); ACC_STORE_ROW(9); ACC_STORE_ROW(10); ACC_STORE_ROW(11);
	}
}

#define TILE_FN(MR, NV)                                                                    \
	static void tile_##MR##_##NV(const struct tile *t) { gemm_tile(MR, NV, 0, t); }  \
	static void tilef_##MR##_##NV(const struct tile *t) { gemm_tile(MR, NV, 1, t); }
#define TILE_ROW(NV) \
	TILE_FN(1, NV) TILE_FN(2, NV) TILE_FN(3, NV) TILE_FN(4, NV) TILE_FN(5, NV) TILE_FN(6, NV)
TILE_ROW(1) TILE_ROW(2) TILE_ROW(3) TILE_ROW(4)
TILE_FN(7, 1) TILE_FN(8, 1) TILE_FN(9, 1) TILE_FN(10, 1) TILE_FN(11, 1) TILE_FN(12, 1)
TILE_FN(7, 2) TILE_FN(8, 2) TILE_FN(9, 2) TILE_FN(10, 2) TILE_FN(11, 2) TILE_FN(12, 2)
TILE_FN(7, 3) TILE_FN(8, 3)

typedef void (*tile_fn)(const struct tile *t);

/* [f32][nv][mr]: every mr up to mr_for_nv[nv] has its own instantiation, so a
 * partial tile (the last rows, an FC's single row) computes only its rows;
 * f32 1 stores floats (conv_f32). */
static const tile_fn tiles[2][5][MR_MAX + 1] = {
	{
		[1] = {NULL, tile_1_1, tile_2_1, tile_3_1, tile_4_1, tile_5_1, tile_6_1, tile_7_1, tile_8_1,
		       tile_9_1, tile_10_1, tile_11_1, tile_12_1},
		[2] = {NULL, tile_1_2, tile_2_2, tile_3_2, tile_4_2, tile_5_2, tile_6_2, tile_7_2, tile_8_2,
		       tile_9_2, tile_10_2, tile_11_2, tile_12_2},
		[3] = {NULL, tile_1_3, tile_2_3, tile_3_3, tile_4_3, tile_5_3, tile_6_3, tile_7_3, tile_8_3},
		[4] = {NULL, tile_1_4, tile_2_4, tile_3_4, tile_4_4, tile_5_4, tile_6_4},
	},
	{
		[1] = {NULL, tilef_1_1, tilef_2_1, tilef_3_1, tilef_4_1, tilef_5_1, tilef_6_1, tilef_7_1,
		       tilef_8_1, tilef_9_1, tilef_10_1, tilef_11_1, tilef_12_1},
		[2] = {NULL, tilef_1_2, tilef_2_2, tilef_3_2, tilef_4_2, tilef_5_2, tilef_6_2, tilef_7_2,
		       tilef_8_2, tilef_9_2, tilef_10_2, tilef_11_2, tilef_12_2},
		[3] = {NULL, tilef_1_3, tilef_2_3, tilef_3_3, tilef_4_3, tilef_5_3, tilef_6_3, tilef_7_3,
		       tilef_8_3},
		[4] = {NULL, tilef_1_4, tilef_2_4, tilef_3_4, tilef_4_4, tilef_5_4, tilef_6_4},
	},
};

/* ---- conv: AMX ------------------------------------------------------------
 *
 * The amx table (fw_q8_amx_kernels) runs the same GEMM with Intel AMX's
 * tile multiply for blocks of 16 pixel rows; the rest (fewer than 16 rows
 * left, depthwise, the elementwise ops) is this file's AVX-512 code. TDPBUSD
 * is vpdpbusd's u8 x s8 -> int32 dot product on a 16 x 64-byte A tile and a
 * 16 x 64-byte B tile, wrapping like it, so the accumulators (and so every
 * output byte) are those of the tiles above.
 *
 * The packed weights need no second layout: for vector v of a channel block,
 * group g's 16 lanes x 4 bytes are one 64-byte row at w + g*nv*64 + v*64,
 * so 16 consecutive groups are a B tile with a row stride of nv*64. The A
 * tile is 16 pixels x 64 bytes (16 groups of one segment) at the same
 * addresses the vector tiles read, rows lda apart; a segment's last
 * rs/4 % 16 groups use a second, narrower pair of tiles, so nothing is read
 * past rs, as above. Registers: tmm0-3 the C tiles of vectors 0-3, tmm4/5
 * A/B for full chunks of 16 groups, tmm6/7 A/B for the remainder. The C
 * tiles start at 0 and the bias is added in the epilogue (the same int32
 * sum modulo 2^32), which reads them back from the stack (amx_rows). */

struct amx_config {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

/* GCC 12's _tile_loadconfig tells the compiler it reads 8 bytes (it moved
 * the stores of the tile shapes after the ldtilecfg), and its _tile_loadd
 * that it reads no memory at all (an im2col row or the bias could be
 * stored after the load): these say what they read. */
#define AMX_LOADCFG(cfg) __asm__ volatile("ldtilecfg %0" ::"m"(*(const struct amx_config *)(cfg)))
#define AMX_LOADD(tmm, base, stride) \
	__asm__ volatile("tileloadd (%0,%1,1), %%tmm" #tmm ::"r"((const void *)(base)), "r"((long)(stride)) : "memory")

/* Load the tile shapes for segments of gps groups (ldtilecfg). */
static void amx_configure(size_t gps)
{
	struct amx_config c __attribute__((aligned(64)));
	const size_t rem = gps % 16;

	memset(&c, 0, sizeof c);
	c.palette = 1;
	for (int i = 0; i < 6; i++) {
		c.rows[i] = 16;
		c.colsb[i] = 64;
	}
	if (rem) {
		c.rows[6] = 16;
		c.colsb[6] = (uint16_t)(rem * 4);
		c.rows[7] = (uint8_t)rem;
		c.colsb[7] = 64;
	}
	AMX_LOADCFG(&c);
}

/* One chunk of groups: the A tile (tmm TA) from a, then for each vector v
 * its B tile (tmm TB, reloaded) from w + 64 v, into C tile v. Tile numbers
 * are part of the instruction, so this is a macro. */
#define AMX_CHUNK(TA, TB, a, w)                             \
	do {                                                \
		AMX_LOADD(TA, a, t->lda);                   \
		AMX_LOADD(TB, w, wrow);                     \
		_tile_dpbusd(0, TA, TB);                    \
		if (nv > 1) {                               \
			AMX_LOADD(TB, (w) + 64, wrow);      \
			_tile_dpbusd(1, TA, TB);            \
		}                                           \
		if (nv > 2) {                               \
			AMX_LOADD(TB, (w) + 128, wrow);     \
			_tile_dpbusd(2, TA, TB);            \
		}                                           \
		if (nv > 3) {                               \
			AMX_LOADD(TB, (w) + 192, wrow);     \
			_tile_dpbusd(3, TA, TB);            \
		}                                           \
	} while (0)

/* 16 rows x nv vectors of a channel block: the int32 products (no bias)
 * into c[v][row][lane]. */
static void amx_macs(const struct tile *t, int nv, int32_t *c)
{
	const size_t full = t->gps / 16, rem = t->gps % 16, wrow = (size_t)64 * (size_t)nv;
	const uint8_t *w = t->w;

	_tile_zero(0);
	if (nv > 1)
		_tile_zero(1);
	if (nv > 2)
		_tile_zero(2);
	if (nv > 3)
		_tile_zero(3);
	for (size_t s = 0; s < t->nseg; s++) {
		const uint8_t *a = t->a + (ptrdiff_t)s * t->seg;

		for (size_t ch = 0; ch < full; ch++, a += 64, w += 16 * wrow)
			AMX_CHUNK(4, 5, a, w);
		if (rem) {
			AMX_CHUNK(6, 7, a, w);
			w += rem * wrow;
		}
	}
	_tile_stored(0, c, 64);
	if (nv > 1)
		_tile_stored(1, c + 256, 64);
	if (nv > 2)
		_tile_stored(2, c + 512, 64);
	if (nv > 3)
		_tile_stored(3, c + 768, 64);
}

/* The tiles' epilogue (gemm_tile's, the same instructions per vector) on
 * 16 rows of products from amx_macs. */
FW_INLINE void amx_epilogue(const int NV, const int F32, const struct tile *t, const int32_t *c)
{
	const __m512i zo = _mm512_set1_epi16((short)t->zero_out), zero = _mm512_setzero_si512();
	const int n = t->n;
	const __mmask64 m64 = n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
	const __m512i b0 = tile_bias(t, 0, NV), b1 = tile_bias(t, 1, NV);
	const __m512i b2 = tile_bias(t, 2, NV), b3 = tile_bias(t, 3, NV);
	__m512 sc[4], sl[4];

	for (int v = 0; v < 4; v++) {
		sc[v] = NV > v ? _mm512_maskz_loadu_ps(lane_mask(n - 16 * v), t->scale + 16 * v) : _mm512_setzero_ps();
		sl[v] = NV > v && t->slope ? _mm512_maskz_loadu_ps(lane_mask(n - 16 * v), t->slope + 16 * v)
					   : _mm512_setzero_ps();
	}
#define AMX_ACC(r, v) \
	_mm512_add_epi32(_mm512_load_si512((const void *)(c + (v) * 256 + (r) * 16)), (v) == 0 ? b0 : (v) == 1 ? b1 : (v) == 2 ? b2 : b3)
#define AMX_Q(r, v) (NV > (v) ? requant16_core(AMX_ACC(r, v), sc[v], sl[v], t->act, t->clamp) : zero)
	if (F32) {
		for (int r = 0; r < 16; r++)
			for (int v = 0; v < NV; v++)
				_mm512_mask_storeu_ps((float *)(void *)t->out + (size_t)r * t->ldo + 16 * v,
						      lane_mask(n - 16 * v), act16(AMX_ACC(r, v), sc[v], sl[v], t->act));
	} else if (NV == 1) {
		for (int r = 0; r < 16; r += 4)
			store_pack(t, pack4(AMX_Q(r, 0), AMX_Q(r + 1, 0), AMX_Q(r + 2, 0), AMX_Q(r + 3, 0), zo), r, 1, 4,
				   m64);
	} else if (NV == 2) {
		for (int r = 0; r < 16; r += 2)
			store_pack(t, pack4(AMX_Q(r, 0), AMX_Q(r, 1), AMX_Q(r + 1, 0), AMX_Q(r + 1, 1), zo), r, 2, 2, m64);
	} else {
		for (int r = 0; r < 16; r++)
			store_pack(t, pack4(AMX_Q(r, 0), AMX_Q(r, 1), AMX_Q(r, 2), AMX_Q(r, 3), zo), r, NV, 1, m64);
	}
#undef AMX_Q
#undef AMX_ACC
}

static void amx_finish(const struct tile *t, int nv, int f32, const int32_t *c)
{
	switch (nv + 4 * f32) {
	case 1: amx_epilogue(1, 0, t, c); break;
	case 2: amx_epilogue(2, 0, t, c); break;
	case 3: amx_epilogue(3, 0, t, c); break;
	case 4: amx_epilogue(4, 0, t, c); break;
	case 5: amx_epilogue(1, 1, t, c); break;
	case 6: amx_epilogue(2, 1, t, c); break;
	case 7: amx_epilogue(3, 1, t, c); break;
	default: amx_epilogue(4, 1, t, c); break;
	}
}

/* The blocks of 16 rows from r0 on, each block's epilogue run after the
 * next block's products: the vector loads of a C tile just stored by
 * tilestored wait for the stores to reach the cache (no forwarding), and
 * the tile multiply of the next block hides that. Returns the rows done. */
static int amx_rows(struct tile *t, int nv, int f32, const uint8_t *a, size_t lda, int rows, uint8_t *out,
		    size_t out_c, size_t oc0)
{
	int32_t c[2][4 * 256] __attribute__((aligned(64)));
	struct tile prev = *t;
	int r0 = 0, n = 0;

	for (; rows - r0 >= 16; r0 += 16, n++) {
		t->a = a + (size_t)r0 * lda;
		t->out = out_at(out, (size_t)r0 * out_c + oc0, f32);
		amx_macs(t, nv, c[n & 1]);
		if (n)
			amx_finish(&prev, nv, f32, c[(n - 1) & 1]);
		prev = *t;
	}
	if (n)
		amx_finish(&prev, nv, f32, c[(n - 1) & 1]);
	return r0;
}

/* Every channel block of `rows` pixels whose activations are at a (rows lda
 * bytes apart, segments seg bytes apart) and whose outputs start at out
 * (out_c elements apart; f32: floats as bytes, out_at). */
static void gemm_rows(const struct fw_conv_geom *g, const struct klayout *l, const uint8_t *a, size_t lda,
		      ptrdiff_t seg, int rows, const void *packed, const int32_t *bias_q,
		      const struct fw_q8_requant *rq, int clamp, uint8_t *out, int f32, int amx)
{
	const size_t k4 = l->kp / 4;
	struct tile t = {
		.lda = lda, .seg = seg, .nseg = (size_t)g->k_h, .gps = l->rs / 4,
		.act = rq->act, .clamp = clamp, .zero_out = rq->zero_out, .ldo = (size_t)g->out_c,
	};

	for (int oc0 = 0; oc0 < g->out_c; oc0 += 64) {
		t.w = (const uint8_t *)packed + (size_t)(oc0 / 64) * k4 * 256;
		t.bias = bias_q ? bias_q + oc0 : NULL;
		t.scale = rq->scale + oc0;
		t.slope = rq->slope ? rq->slope + oc0 : NULL;
		t.n = g->out_c - oc0 < 64 ? g->out_c - oc0 : 64;
		const int nv = (t.n + 15) / 16, mr_max = mr_for_nv[nv];

		int r0 = 0;

		if (amx)
			r0 = amx_rows(&t, nv, f32, a, lda, rows, out, (size_t)g->out_c, (size_t)oc0);
		for (; r0 < rows; r0 += mr_max) {
			const int mr = rows - r0 < mr_max ? rows - r0 : mr_max;

			t.a = a + (size_t)r0 * lda;
			t.out = out_at(out, (size_t)r0 * (size_t)g->out_c + (size_t)oc0, f32);
			tiles[f32][nv][mr](&t);
		}
	}
}

/* ---- conv: activations ------------------------------------------------- */

FW_INLINE __mmask64 byte_mask(size_t n) /* n < 64 */
{
	return ((__mmask64)1 << n) - 1;
}

FW_INLINE void copy_bytes(uint8_t *d, const uint8_t *s, size_t n)
{
	for (; n >= 64; n -= 64, d += 64, s += 64)
		_mm512_storeu_si512((void *)d, _mm512_loadu_si512((const void *)s));
	if (n)
		_mm512_mask_storeu_epi8(d, byte_mask(n), _mm512_maskz_loadu_epi8(byte_mask(n), s));
}

FW_INLINE void fill_bytes(uint8_t *d, __m512i v, size_t n)
{
	for (; n >= 64; n -= 64, d += 64)
		_mm512_storeu_si512((void *)d, v);
	if (n)
		_mm512_mask_storeu_epi8(d, byte_mask(n), v);
}

/* One im2col row for output pixel (oy, ox) in the K' layout: segment ky at
 * dst + ky*rs gets its row_k bytes (padded taps zero_in); the segment
 * padding is not written. */
static void im2col_row(const struct fw_conv_geom *g, const struct klayout *l, const uint8_t *in,
		       __m512i zero_in, int oy, int ox, uint8_t *dst)
{
	const size_t c = (size_t)g->in_c, row_k = l->row_k, in_row = (size_t)g->in_w * c;
	const int x0 = ox * g->stride_w - g->pad_l;

	for (int ky = 0; ky < g->k_h; ky++, dst += l->rs) {
		const int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;
		const uint8_t *src = in + (size_t)iy * in_row;

		if (iy < 0 || iy >= g->in_h) {
			fill_bytes(dst, zero_in, row_k);
		} else if (g->dil_w == 1) {
			/* taps kx in [lo, hi) are inside the row and contiguous */
			int lo = x0 < 0 ? -x0 : 0;
			int hi = g->in_w - x0 < g->k_w ? g->in_w - x0 : g->k_w;

			if (hi <= lo) {
				fill_bytes(dst, zero_in, row_k);
				continue;
			}
			if (lo > 0)
				fill_bytes(dst, zero_in, (size_t)lo * c);
			copy_bytes(dst + (size_t)lo * c, src + (size_t)(x0 + lo) * c, (size_t)(hi - lo) * c);
			if (hi < g->k_w)
				fill_bytes(dst + (size_t)hi * c, zero_in, (size_t)(g->k_w - hi) * c);
		} else {
			for (int kx = 0; kx < g->k_w; kx++) {
				const int ix = x0 + kx * g->dil_w;

				if (ix < 0 || ix >= g->in_w)
					fill_bytes(dst + (size_t)kx * c, zero_in, c);
				else
					copy_bytes(dst + (size_t)kx * c, src + (size_t)ix * c, c);
			}
		}
	}
}

static void conv_pointwise(const struct fw_conv_geom *g, const uint8_t *in, const void *packed,
			   const int32_t *bias_q, const struct fw_q8_requant *rq, int clamp, uint8_t *out,
			   int f32, int amx, uint8_t *scratch)
{
	const struct klayout l = klayout_of(g);
	const size_t m = (size_t)g->out_h * (size_t)g->out_w, k = (size_t)g->in_c, kp = l.kp;
	size_t m_safe = m;

	/* rows whose last group reads past the tensor (only if k % 4 != 0) */
	while (m_safe > 0 && (m_safe - 1) * k + kp > m * k)
		m_safe--;
	/* channel block outer (inside gemm_rows, per row range): its weights
	 * (<= K*64 bytes) stay in L1 while the pixel rows stream past */
	if (m_safe > 0)
		gemm_rows(g, &l, in, k, 0, (int)m_safe, packed, bias_q, rq, clamp, out, f32, amx);
	if (m_safe < m) {
		const int rest = (int)(m - m_safe); /* < MR_MAX: at most 3 rows */

		for (int r = 0; r < rest; r++) {
			memcpy(scratch + (size_t)r * kp, in + (m_safe + (size_t)r) * k, k);
			memset(scratch + (size_t)r * kp + k, 0, kp - k);
		}
		gemm_rows(g, &l, scratch, kp, 0, rest, packed, bias_q, rq, clamp,
			  out_at(out, m_safe * (size_t)g->out_c, f32), f32, amx);
	}
}

/* Pixels [x0, x1) of output row oy through im2col, RB at a time. */
static void conv_row_im2col(const struct fw_conv_geom *g, const struct klayout *l, const uint8_t *in,
			    __m512i zin, int oy, int x0, int x1, const void *packed, const int32_t *bias_q,
			    const struct fw_q8_requant *rq, int clamp, uint8_t *out, int f32, int amx,
			    uint8_t *scratch)
{
	for (int xb = x0; xb < x1; xb += RB) {
		const int rows = x1 - xb < RB ? x1 - xb : RB;

		for (int r = 0; r < rows; r++)
			im2col_row(g, l, in, zin, oy, xb + r, scratch + (size_t)r * l->kp);
		gemm_rows(g, l, scratch, l->kp, (ptrdiff_t)l->rs, rows, packed, bias_q, rq, clamp,
			  out_at(out, ((size_t)oy * (size_t)g->out_w + (size_t)xb) * (size_t)g->out_c, f32), f32, amx);
	}
}

static void conv_general(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			 const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq, int clamp,
			 uint8_t *out, int f32, int amx, uint8_t *scratch)
{
	const struct klayout l = klayout_of(g);
	const size_t c = (size_t)g->in_c;
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * (ptrdiff_t)c, dy = (ptrdiff_t)g->dil_h * in_row;
	const size_t in_bytes = (size_t)g->in_h * (size_t)in_row;
	const __m512i zin = _mm512_set1_epi8((char)zero_in);
	int oy_lo, oy_hi, ox_lo, ox_hi;

	interior_range(g->out_h, g->stride_h, g->pad_t, g->k_h, g->dil_h, g->in_h, &oy_lo, &oy_hi);
	interior_range(g->out_w, g->stride_w, g->pad_l, g->k_w, g->dil_w, g->in_w, &ox_lo, &ox_hi);
	if (g->dil_w != 1)
		ox_lo = ox_hi = 0; /* taps of a kernel row are not contiguous: im2col everything */
	/* segment padding is never written by im2col_row: any value is exact
	 * against zero weights, but start it initialised */
	memset(scratch, 0, RB * l.kp);

	for (int oy = 0; oy < g->out_h; oy++) {
		int x_lo = ox_lo, x_hi = ox_hi;

		if (oy < oy_lo || oy >= oy_hi)
			x_lo = x_hi = 0;
		if (x_hi > x_lo) {
			const ptrdiff_t iy0 = (ptrdiff_t)oy * g->stride_h - g->pad_t;
			const ptrdiff_t step = (ptrdiff_t)g->stride_w * (ptrdiff_t)c;
			const ptrdiff_t base = iy0 * in_row + ((ptrdiff_t)x_lo * g->stride_w - g->pad_l) * (ptrdiff_t)c;

			/* the last segment of the last pixel reads rs bytes */
			while (x_hi > x_lo &&
			       base + (x_hi - 1 - x_lo) * step + (g->k_h - 1) * dy + (ptrdiff_t)l.rs > (ptrdiff_t)in_bytes)
				x_hi--;
			if (x_hi > x_lo)
				gemm_rows(g, &l, in + base, (size_t)step, dy, x_hi - x_lo, packed, bias_q, rq, clamp,
					  out_at(out, ((size_t)oy * (size_t)g->out_w + (size_t)x_lo) * (size_t)g->out_c, f32),
					  f32, amx);
			else
				x_lo = x_hi = 0;
		}
		if (x_hi > x_lo) {
			conv_row_im2col(g, &l, in, zin, oy, 0, x_lo, packed, bias_q, rq, clamp, out, f32, amx, scratch);
			conv_row_im2col(g, &l, in, zin, oy, x_hi, g->out_w, packed, bias_q, rq, clamp, out, f32, amx, scratch);
		} else {
			conv_row_im2col(g, &l, in, zin, oy, 0, g->out_w, packed, bias_q, rq, clamp, out, f32, amx, scratch);
		}
	}
}

/* Whether every v of q8.h's epilogue stays below 2^30 whatever the
 * activations: |acc| <= |bias| + K * 255 * 128, times |scale|, times
 * |slope| if that is above 1 (PReLU). NaN or infinite scales and slopes
 * fail the test (the clamp then decides, as in the reference). Large v are
 * rare in a real layer (|v| is at most a few hundred), so the min with 512
 * is then work that changes nothing. */
static int no_clamp_needed(size_t k, int n, const int32_t *bias_q, const struct fw_q8_requant *rq)
{
	/* 16 channels at a time in float: its rounding (2^-24 relative) is far
	 * inside the factor 2 between this limit and 2^31 */
	const __m512 amax = _mm512_set1_ps((float)k * 255.0f * 128.0f), one = _mm512_set1_ps(1.0f);
	const __m512 limit = _mm512_set1_ps(1073741824.0f);
	const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);

	for (int oc = 0; oc < n; oc += 16) {
		const __mmask16 m = lane_mask(n - oc);
		/* |bias| in float: vpabsd would leave INT32_MIN negative */
		const __m512 b = _mm512_castsi512_ps(_mm512_and_si512(
			_mm512_castps_si512(_mm512_cvtepi32_ps(bias_q ? _mm512_maskz_loadu_epi32(m, bias_q + oc)
								     : _mm512_setzero_si512())),
			abs_mask));
		const __m512 sc = _mm512_castsi512_ps(
			_mm512_and_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, rq->scale + oc)), abs_mask));
		__m512 bound = _mm512_mul_ps(_mm512_add_ps(amax, b), sc);

		if (rq->act == FW_ACT_PRELU) {
			const __m512 sl = _mm512_castsi512_ps(
				_mm512_and_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, rq->slope + oc)), abs_mask));

			/* slopes up to 1 cannot make v larger; NaN stays NaN */
			bound = _mm512_mul_ps(bound, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(sl, one, _CMP_LE_OQ), sl, one));
		}
		/* NaN or infinite: not below the limit, so the clamp stays */
		if (_mm512_cmp_ps_mask(bound, limit, _CMP_LT_OQ) != 0xFFFF)
			return 0;
	}
	return 1;
}

/* Both tables' conv and conv_f32: f32 stores floats (no requantisation,
 * so clamp is not used); amx runs blocks of 16 rows on the AMX tiles, whose
 * shapes are loaded for this layer and released at the end (an idle tile
 * state costs the thread nothing at context switches). */
static void conv_any(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const void *packed,
		     const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out, void *scratch,
		     int f32, int amx)
{
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	assert(rq->act != FW_ACT_PRELU || rq->slope);
	assert(((uintptr_t)packed & 63) == 0);
	/* a small layer keeps the clamp rather than check its channels */
	const int clamp = f32 || (size_t)g->out_h * (size_t)g->out_w < 64 ||
			  !no_clamp_needed(k_of(g), g->out_c, bias_q, rq);

	const struct klayout l = klayout_of(g);

	/* segments shorter than one 64-byte A tile row leave the tile multiply
	 * mostly idle, and the products' round trip through memory then costs
	 * more than it saves (BlazeFace's layers, in_c <= 96 but mostly < 64:
	 * no faster; MobileFaceNet's 1x1 convs over 64..512 channels: 0.7x).
	 * Copying short rows to im2col rows first (BlazeFace's 5x5x3, K' 80)
	 * made its first conv 3.4x slower than the vector tiles. */
	amx = amx && l.rs / 4 >= AMX_MIN_GROUPS;
	if (amx)
		amx_configure(l.rs / 4);
	if (is_pointwise(g))
		conv_pointwise(g, in, packed, bias_q, rq, clamp, out, f32, amx, scratch);
	else
		conv_general(g, in, zero_in, packed, bias_q, rq, clamp, out, f32, amx, scratch);
	if (amx)
		_tile_release();
}

static void avx512_conv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
			uint8_t *out, void *scratch)
{
	conv_any(g, in, zero_in, packed, bias_q, rq, out, scratch, 0, 0);
}

static void avx512_conv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			    const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
			    float *out, void *scratch)
{
	conv_any(g, in, zero_in, packed, bias_q, rq, (uint8_t *)out, scratch, 1, 0);
}

static void amx_conv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const void *packed,
		     const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out, void *scratch)
{
	conv_any(g, in, zero_in, packed, bias_q, rq, out, scratch, 0, 1);
}

static void amx_conv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			 const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq, float *out,
			 void *scratch)
{
	conv_any(g, in, zero_in, packed, bias_q, rq, (uint8_t *)out, scratch, 1, 1);
}

/* ---- depthwise ----------------------------------------------------------- */

/* One channel block of 16 (c0 .. c0 + 15), everything in lane order. */
struct dw_block {
	const uint8_t *in;        /* channel c0 of pixel (0, 0) */
	ptrdiff_t row, col;       /* input bytes per row / per pixel */
	ptrdiff_t dy, dx;         /* input bytes between tap rows / columns */
	ptrdiff_t step;           /* input bytes between output pixels */
	const __m512i *w;         /* [taps], byte-selected (see top) */
	const __m512i *zrow;      /* [k_h]: sum over kx of zero_in * w[ky][kx] */
	__m512i bias, zx;         /* zx: zero_in in every byte */
	__m512 scale, slope;
	__m512i zero_out, perm;
	__mmask16 mask;           /* 0xFFFF unless in_c < 16 */
	int act;
	const struct fw_conv_geom *g;
	int ox_lo, ox_hi;         /* output columns whose taps are all inside in x */
	uint8_t *out;             /* channel c0 of output pixel (0, 0) (floats as bytes for F32) */
};

/* 16 input bytes at p broadcast to the four 128-bit lanes. */
FW_INLINE __m512i dw_load(const uint8_t *p, int masked, __mmask16 mk)
{
	if (masked)
		return _mm512_broadcast_i32x4(_mm_maskz_loadu_epi8(mk, p));
	return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
}

/* F32: o is a float output as bytes, no requantisation (dwconv_f32) */
FW_INLINE void dw_store(const struct dw_block *b, __m512i acc, uint8_t *o, int masked, const int F32)
{
	if (F32) {
		const __m512 v = _mm512_permutexvar_ps(b->perm, act16(acc, b->scale, b->slope, b->act));

		if (masked)
			_mm512_mask_storeu_ps((float *)(void *)o, b->mask, v);
		else
			_mm512_storeu_ps((float *)(void *)o, v);
		return;
	}
	/* lane order back to channel order (the transpose is its own inverse) */
	__m512i q = _mm512_permutexvar_epi32(b->perm, requant16(acc, b->scale, b->slope, b->act, b->zero_out));

	if (masked)
		_mm512_mask_cvtusepi32_storeu_epi8(o, b->mask, q);
	else
		_mm_storeu_si128((__m128i *)o, _mm512_cvtusepi32_epi8(q));
}

/* Four pixels' accumulators at once: vpackssdw + vpackuswb saturate all 64
 * to u8 (lane l of the result holds 4 bytes of each pixel), then one vpermd
 * gathers each pixel's 16 bytes and one vpshufb undoes the lane transpose:
 * 8 shuffles for 4 pixels instead of 12, and no max. */
FW_INLINE void dw_store4(const struct dw_block *b, __m512i a0, __m512i a1, __m512i a2, __m512i a3, uint8_t *o,
			 ptrdiff_t ostep)
{
	/* both are the 4x4 transpose: dword 4l + j <- 4j + l, byte 4q + r <- 4r + q */
	const __m512i gather = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
	const __m512i untranspose = _mm512_broadcast_i32x4(
		_mm_set_epi8(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0));
	const __m512i q0 = requant16_raw(a0, b->scale, b->slope, b->act, b->zero_out);
	const __m512i q1 = requant16_raw(a1, b->scale, b->slope, b->act, b->zero_out);
	const __m512i q2 = requant16_raw(a2, b->scale, b->slope, b->act, b->zero_out);
	const __m512i q3 = requant16_raw(a3, b->scale, b->slope, b->act, b->zero_out);
	const __m512i u8 = _mm512_packus_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
	const __m512i r = _mm512_shuffle_epi8(_mm512_permutexvar_epi32(gather, u8), untranspose);

	_mm_storeu_si128((__m128i *)o, _mm512_castsi512_si128(r));
	_mm_storeu_si128((__m128i *)(o + ostep), _mm512_extracti32x4_epi32(r, 1));
	_mm_storeu_si128((__m128i *)(o + 2 * ostep), _mm512_extracti32x4_epi32(r, 2));
	_mm_storeu_si128((__m128i *)(o + 3 * ostep), _mm512_extracti32x4_epi32(r, 3));
}

/* Taps [t0, t1) of a window starting at input coordinate i0 that lie in [0, size). */
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

/* n output pixels of one row that share their valid taps [ky0, ky1) x
 * [kx0, kx1): an interior run (kx range full), or one border pixel (n = 1).
 * Taps outside read zero_in; a kernel row outside the input adds its
 * precomputed zero_in * w sum (b->zrow). off: input offset of tap (0, 0) of
 * the first pixel, possibly outside the tensor (only valid taps form a
 * pointer); o: output of the first pixel, ostep bytes per pixel.
 *
 * KH, KW and S (stride_w; dil_w is 1) are constants for the common shapes:
 * the taps unroll, and four pixels are done at a time, each input column
 * loaded once per kernel row and used by every pixel whose window covers it
 * (4*S + KW - S loads instead of 4*KW). S = 0: any stride and dilation,
 * one tap load each. Four pixels also hide the dpbusd latency (a pixel's
 * taps are a chain of dependent vpdpbusd). */
FW_INLINE void dw_run(const int KH, const int KW, const int S, const int masked, const int F32,
		      const struct dw_block *b, const __m512i *w, ptrdiff_t off, int n, int ky0, int ky1, int kx0,
		      int kx1, uint8_t *o, ptrdiff_t ostep)
{
	const ptrdiff_t step = S ? (ptrdiff_t)S * b->col : b->step;
	int i = 0;

	if (S) {
		for (; i + 4 <= n; i += 4, off += 4 * step, o += 4 * ostep) {
			__m512i a0 = b->bias, a1 = b->bias, a2 = b->bias, a3 = b->bias;

#pragma GCC unroll 7
			for (int ky = 0; ky < KH; ky++) {
				if (ky < ky0 || ky >= ky1) {
					a0 = _mm512_add_epi32(a0, b->zrow[ky]);
					a1 = _mm512_add_epi32(a1, b->zrow[ky]);
					a2 = _mm512_add_epi32(a2, b->zrow[ky]);
					a3 = _mm512_add_epi32(a3, b->zrow[ky]);
					continue;
				}
				const uint8_t *r = b->in + off + ky * b->dy;
				__m512i x[3 * 2 + 7];

#pragma GCC unroll 13
				for (int col = 0; col < 3 * S + KW; col++)
					x[col] = dw_load(r + col * b->col, masked, b->mask);
#pragma GCC unroll 7
				for (int kx = 0; kx < KW; kx++) {
					const __m512i wt = w[ky * KW + kx];

					a0 = _mm512_dpbusd_epi32(a0, x[kx], wt);
					a1 = _mm512_dpbusd_epi32(a1, x[S + kx], wt);
					a2 = _mm512_dpbusd_epi32(a2, x[2 * S + kx], wt);
					a3 = _mm512_dpbusd_epi32(a3, x[3 * S + kx], wt);
				}
			}
			if (masked || F32) {
				dw_store(b, a0, o, masked, F32);
				dw_store(b, a1, o + ostep, masked, F32);
				dw_store(b, a2, o + 2 * ostep, masked, F32);
				dw_store(b, a3, o + 3 * ostep, masked, F32);
			} else {
				dw_store4(b, a0, a1, a2, a3, o, ostep);
			}
		}
	}
	for (; i < n; i++, off += step, o += ostep) {
		__m512i acc = b->bias;

#pragma GCC unroll 7
		for (int ky = 0; ky < KH; ky++) {
			if (ky < ky0 || ky >= ky1) {
				acc = _mm512_add_epi32(acc, b->zrow[ky]);
				continue;
			}
#pragma GCC unroll 7
			for (int kx = 0; kx < KW; kx++) {
				__m512i x = b->zx;

				if (kx >= kx0 && kx < kx1)
					x = dw_load(b->in + off + ky * b->dy + kx * b->dx, masked, b->mask);
				acc = _mm512_dpbusd_epi32(acc, x, w[ky * KW + kx]);
			}
		}
		dw_store(b, acc, o, masked, F32);
	}
}

/* Every output pixel of one channel block: each row's border columns one
 * by one (each has its own valid taps), its interior columns as one run.
 * The block descriptor and the weights are copied once into locals, since
 * the output stores could alias them as far as the compiler knows (3x3's 9
 * weights then stay in registers). */
FW_INLINE void dw_all(const int KH, const int KW, const int S, const int masked, const int F32,
		      const struct dw_block *bp)
{
	const struct dw_block bl = *bp, *b = &bl;
	const struct fw_conv_geom *g = b->g;
	const ptrdiff_t c = b->col, es = F32 ? (ptrdiff_t)sizeof(float) : 1;
	__m512i wl[9];
	const __m512i *w = b->w;

	if (KH * KW <= 9) {
#pragma GCC unroll 9
		for (int t = 0; t < KH * KW; t++)
			wl[t] = b->w[t];
		w = wl;
	}
	for (int oy = 0; oy < g->out_h; oy++) {
		const int iy0 = oy * g->stride_h - g->pad_t;
		uint8_t *orow = b->out + (ptrdiff_t)oy * g->out_w * c * es;
		int ky0, ky1;

		valid_taps(iy0, KH, g->dil_h, g->in_h, &ky0, &ky1);
		for (int ox = 0; ox < g->out_w; ox++) {
			const int ix0 = ox * g->stride_w - g->pad_l;
			const ptrdiff_t off = (ptrdiff_t)iy0 * b->row + (ptrdiff_t)ix0 * c;
			int kx0 = 0, kx1 = KW, n = 1;

			if (ox == b->ox_lo && b->ox_hi > b->ox_lo)
				n = b->ox_hi - b->ox_lo;
			else
				valid_taps(ix0, KW, g->dil_w, g->in_w, &kx0, &kx1);
			dw_run(KH, KW, S, masked, F32, b, w, off, n, ky0, ky1, kx0, kx1, orow + (ptrdiff_t)ox * c * es,
			       c * es);
			ox += n - 1;
		}
	}
}

/* each shape twice: u8 out, and (_f) float out (dwconv_f32) */
#define DW_ALL_FN(name, KH, KW, S)                                                     \
	static void name(const struct dw_block *b) { dw_all(KH, KW, S, 0, 0, b); }   \
	static void name##_f(const struct dw_block *b) { dw_all(KH, KW, S, 0, 1, b); }
DW_ALL_FN(dw_all_3x3_s1, 3, 3, 1)
DW_ALL_FN(dw_all_3x3_s2, 3, 3, 2)
DW_ALL_FN(dw_all_5x5_s1, 5, 5, 1)
DW_ALL_FN(dw_all_5x5_s2, 5, 5, 2)
DW_ALL_FN(dw_all_7x7_s1, 7, 7, 1)
DW_ALL_FN(dw_all_7x7_s2, 7, 7, 2)
DW_ALL_FN(dw_all_3x3_any, 3, 3, 0)

/* any kernel size, stride and dilation, and in_c < 16 (masked loads and stores) */
static void dw_all_any(const struct dw_block *b)
{
	if (b->mask != 0xFFFF)
		dw_all(b->g->k_h, b->g->k_w, 0, 1, 0, b);
	else
		dw_all(b->g->k_h, b->g->k_w, 0, 0, 0, b);
}

static void dw_all_any_f(const struct dw_block *b)
{
	if (b->mask != 0xFFFF)
		dw_all(b->g->k_h, b->g->k_w, 0, 1, 1, b);
	else
		dw_all(b->g->k_h, b->g->k_w, 0, 0, 1, b);
}

typedef void (*dw_all_fn)(const struct dw_block *b);

/* The specialised kernel for g; f32: its float-output twin. */
static dw_all_fn dw_all_for(const struct fw_conv_geom *g, int f32)
{
	const int s = g->dil_w == 1 ? g->stride_w : 0;

	if (g->in_c < 16)
		return f32 ? dw_all_any_f : dw_all_any;
	if (g->k_h == 3 && g->k_w == 3)
		return s == 1 ? (f32 ? dw_all_3x3_s1_f : dw_all_3x3_s1)
		       : s == 2 ? (f32 ? dw_all_3x3_s2_f : dw_all_3x3_s2)
				: (f32 ? dw_all_3x3_any_f : dw_all_3x3_any);
	if (g->k_h == 5 && g->k_w == 5 && (s == 1 || s == 2))
		return s == 1 ? (f32 ? dw_all_5x5_s1_f : dw_all_5x5_s1) : (f32 ? dw_all_5x5_s2_f : dw_all_5x5_s2);
	if (g->k_h == 7 && g->k_w == 7 && (s == 1 || s == 2))
		return s == 1 ? (f32 ? dw_all_7x7_s1_f : dw_all_7x7_s1) : (f32 ? dw_all_7x7_s2_f : dw_all_7x7_s2);
	return f32 ? dw_all_any_f : dw_all_any;
}

/* ---- depthwise 3x3: three taps per vpdpbusd ----------------------------- */

/* The kernel above spends one vpdpbusd per tap on 16 channels (three of
 * its four bytes multiply by 0). For 3x3 with dil 1 this one puts a
 * column's three kernel rows in the four bytes of a dword instead: 64
 * channels of one input column in rows iy0, iy0 + 1, iy0 + 2 (a, b, c) are
 * interleaved by vpunpck{l,h}bw + vpunpck{l,h}wd into four vectors
 *     T_j dword 4L + m = (a, b, c, c)[channel 16L + 4j + m]   (L: 128-bit lane)
 * and the weights are interleaved the same way from (w[0][kx], w[1][kx],
 * w[2][kx], 0), so one vpdpbusd adds three taps of 16 channels (the fourth
 * byte's weight is 0). An output pixel of 64 channels is 12 vpdpbusd
 * instead of 36, and a column's T is made once for the three (stride 1)
 * or two (stride 2) output pixels whose window covers it.
 * vpackssdw + vpackuswb of T_0 .. T_3's requantised accumulators put the 64
 * bytes back in channel order (lane L: channels 16L .. 16L + 15), so only
 * bias, scale and slope are permuted, once per block. Padding: a row or
 * column outside the input is a masked load with an empty mask, from
 * zero_in in every byte (no fault, no branch); channels past in_c likewise
 * (their outputs are not stored). */

struct dwt_block {
	__m512i w[3][4];        /* [kx][j] */
	int32_t bias[4][16];    /* [j][4L + m]: channel c0 + 16L + 4j + m */
	float scale[4][16], slope[4][16];
	__mmask64 cmask;        /* channels c0 .. in_c - 1 of the block */
	int act;
	int clamp;              /* as struct tile's */
	int32_t zero_out;
};

/* (a, b, c, c) byte-interleaved: T_0 .. T_3 above */
FW_INLINE void dwt_interleave(__m512i a, __m512i b, __m512i c, __m512i *t)
{
	const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
	const __m512i cc_lo = _mm512_unpacklo_epi8(c, c), cc_hi = _mm512_unpackhi_epi8(c, c);

	t[0] = _mm512_unpacklo_epi16(ab_lo, cc_lo);
	t[1] = _mm512_unpackhi_epi16(ab_lo, cc_lo);
	t[2] = _mm512_unpacklo_epi16(ab_hi, cc_hi);
	t[3] = _mm512_unpackhi_epi16(ab_hi, cc_hi);
}

/* One output row of one 64-channel block, stride_w S (1 or 2). r[k]: the
 * input row of kernel row k at channel c0 (any readable address when
 * rm[k] is 0), rm[k]: its load mask (0 outside the input). */
FW_INLINE void dwt_row(const int S, const struct fw_conv_geom *g, const struct dwt_block *b,
		       const uint8_t *const r[3], const __mmask64 rm[3], __m512i zx, uint8_t *o)
{
	const ptrdiff_t c = g->in_c;
	const __m512i zo = _mm512_set1_epi16((short)b->zero_out);
	__m512i t0[4], t1[4], t2[4];
	int ix = -g->pad_l;

	/* T of input column x into dst; outside the input every byte is zero_in */
#define DWT_COL(dst, x)                                                                          \
	do {                                                                                     \
		const int in_x = (unsigned)(x) < (unsigned)g->in_w;                              \
		const ptrdiff_t off = (ptrdiff_t)(in_x ? (x) : 0) * c;                           \
		dwt_interleave(_mm512_mask_loadu_epi8(zx, in_x ? rm[0] : 0, r[0] + off),        \
			       _mm512_mask_loadu_epi8(zx, in_x ? rm[1] : 0, r[1] + off),        \
			       _mm512_mask_loadu_epi8(zx, in_x ? rm[2] : 0, r[2] + off), dst);  \
	} while (0)

	DWT_COL(t0, ix);
	if (S == 1)
		DWT_COL(t1, ix + 1);
	for (int ox = 0; ox < g->out_w; ox++, ix += S, o += c) {
		__m512i q[4];

		if (S == 2)
			DWT_COL(t1, ix + 1);
		DWT_COL(t2, ix + 2);
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			__m512i acc = _mm512_load_si512((const void *)b->bias[j]);

			acc = _mm512_dpbusd_epi32(acc, t0[j], b->w[0][j]);
			acc = _mm512_dpbusd_epi32(acc, t1[j], b->w[1][j]);
			acc = _mm512_dpbusd_epi32(acc, t2[j], b->w[2][j]);
			q[j] = requant16_core(acc, _mm512_load_ps(b->scale[j]), _mm512_load_ps(b->slope[j]), b->act, b->clamp);
		}
		_mm512_mask_storeu_epi8(o, b->cmask, pack_zp(q[0], q[1], q[2], q[3], zo));
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			if (S == 1) {
				t0[j] = t1[j];
				t1[j] = t2[j];
			} else {
				t0[j] = t2[j];
			}
		}
	}
#undef DWT_COL
}

/* Every output pixel of a 3x3, dil 1, stride_w S depthwise conv. */
FW_INLINE void dwt_all(const int S, const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		       const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	const int c = g->in_c;
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * c;
	const __m512i zx = _mm512_set1_epi8((char)zero_in);
	struct dwt_block b __attribute__((aligned(64)));

	b.act = rq->act;
	b.clamp = !no_clamp_needed(9, c, bias_q, rq);
	b.zero_out = rq->zero_out;
	for (int c0 = 0; c0 < c; c0 += 64) {
		const int nc = c - c0 < 64 ? c - c0 : 64;

		b.cmask = nc == 64 ? ~(__mmask64)0 : ((__mmask64)1 << nc) - 1;
		for (int kx = 0; kx < 3; kx++) {
			const int8_t *wk = w + (size_t)kx * (size_t)c + (size_t)c0;

			dwt_interleave(_mm512_maskz_loadu_epi8(b.cmask, wk),
				       _mm512_maskz_loadu_epi8(b.cmask, wk + 3 * (size_t)c),
				       _mm512_maskz_loadu_epi8(b.cmask, wk + 6 * (size_t)c), b.w[kx]);
			/* the fourth byte of each dword repeats kernel row 2: weight 0 */
			for (int j = 0; j < 4; j++)
				b.w[kx][j] = _mm512_and_si512(b.w[kx][j], _mm512_set1_epi32(0xFFFFFF));
		}
		for (int j = 0; j < 4; j++) {
			for (int i = 0; i < 16; i++) {
				const int ch = c0 + i / 4 * 16 + 4 * j + i % 4;

				b.bias[j][i] = ch < c && bias_q ? bias_q[ch] : 0;
				b.scale[j][i] = ch < c ? rq->scale[ch] : 0.0f;
				b.slope[j][i] = ch < c && rq->slope ? rq->slope[ch] : 0.0f;
			}
		}
		for (int oy = 0; oy < g->out_h; oy++) {
			const int iy0 = oy * g->stride_h - g->pad_t;
			const uint8_t *r[3];
			__mmask64 rm[3];

			for (int k = 0; k < 3; k++) {
				const int inside = (unsigned)(iy0 + k) < (unsigned)g->in_h;

				r[k] = in + (inside ? (ptrdiff_t)(iy0 + k) * in_row : 0) + c0;
				rm[k] = inside ? b.cmask : 0;
			}
			dwt_row(S, g, &b, r, rm, zx, out + (ptrdiff_t)oy * g->out_w * c + c0);
		}
	}
}

static void dwt_all_s1(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
		       const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	dwt_all(1, g, in, zero_in, w, bias_q, rq, out);
}

static void dwt_all_s2(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
		       const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	dwt_all(2, g, in, zero_in, w, bias_q, rq, out);
}

/* dwt_all at 256 bits, for 17 to 32 channels, where half or more of a
 * 64-channel block's lanes would be empty: the same interleave, 32
 * channels per block (with exactly 16 the lane kernel is faster still). */
struct dwt32_block {
	__m256i w[3][4];
	int32_t bias[4][8];     /* [j][4L + m]: channel c0 + 16L + 4j + m */
	float scale[4][8], slope[4][8];
	__mmask32 cmask;
	int act;
	int clamp;
	int32_t zero_out;
};

FW_INLINE void dwt32_interleave(__m256i a, __m256i b, __m256i c, __m256i *t)
{
	const __m256i ab_lo = _mm256_unpacklo_epi8(a, b), ab_hi = _mm256_unpackhi_epi8(a, b);
	const __m256i cc_lo = _mm256_unpacklo_epi8(c, c), cc_hi = _mm256_unpackhi_epi8(c, c);

	t[0] = _mm256_unpacklo_epi16(ab_lo, cc_lo);
	t[1] = _mm256_unpackhi_epi16(ab_lo, cc_lo);
	t[2] = _mm256_unpacklo_epi16(ab_hi, cc_hi);
	t[3] = _mm256_unpackhi_epi16(ab_hi, cc_hi);
}

FW_INLINE __m256i requant8_raw(__m256i acc, __m256 scale, __m256 slope, int act, int clamp, __m256i zero_out)
{
	const __m256 zero = _mm256_setzero_ps();
	__m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);

	if (act == FW_ACT_RELU) {
		v = _mm256_max_ps(v, zero);
	} else if (act == FW_ACT_PRELU) {
		__mmask8 neg = _mm256_cmp_ps_mask(v, zero, _CMP_NGE_UQ);

		v = _mm256_mask_mul_ps(v, neg, v, slope);
	}
	if (clamp)
		v = _mm256_min_ps(v, _mm256_set1_ps(512.0f));
	return _mm256_add_epi32(_mm256_cvtps_epi32(v), zero_out);
}

FW_INLINE void dwt32_row(const int S, const struct fw_conv_geom *g, const struct dwt32_block *b,
			 const uint8_t *const r[3], const __mmask32 rm[3], __m256i zx, uint8_t *o)
{
	const ptrdiff_t c = g->in_c;
	const __m256i zo = _mm256_set1_epi16((short)b->zero_out);
	__m256i t0[4], t1[4], t2[4];
	int ix = -g->pad_l;

#define DWT32_COL(dst, x)                                                                        \
	do {                                                                                     \
		const int in_x = (unsigned)(x) < (unsigned)g->in_w;                              \
		const ptrdiff_t off = (ptrdiff_t)(in_x ? (x) : 0) * c;                           \
		dwt32_interleave(_mm256_mask_loadu_epi8(zx, in_x ? rm[0] : 0, r[0] + off),      \
				 _mm256_mask_loadu_epi8(zx, in_x ? rm[1] : 0, r[1] + off),      \
				 _mm256_mask_loadu_epi8(zx, in_x ? rm[2] : 0, r[2] + off), dst); \
	} while (0)

	DWT32_COL(t0, ix);
	if (S == 1)
		DWT32_COL(t1, ix + 1);
	for (int ox = 0; ox < g->out_w; ox++, ix += S, o += c) {
		__m256i q[4];

		if (S == 2)
			DWT32_COL(t1, ix + 1);
		DWT32_COL(t2, ix + 2);
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			__m256i acc = _mm256_load_si256((const __m256i *)b->bias[j]);

			acc = _mm256_dpbusd_epi32(acc, t0[j], b->w[0][j]);
			acc = _mm256_dpbusd_epi32(acc, t1[j], b->w[1][j]);
			acc = _mm256_dpbusd_epi32(acc, t2[j], b->w[2][j]);
			q[j] = requant8_raw(acc, _mm256_load_ps(b->scale[j]), _mm256_load_ps(b->slope[j]), b->act, b->clamp,
					    _mm256_setzero_si256());
		}
		/* + zero_out after the int32 -> int16 saturation, as pack_zp */
		_mm256_mask_storeu_epi8(o, b->cmask,
					_mm256_packus_epi16(_mm256_adds_epi16(_mm256_packs_epi32(q[0], q[1]), zo),
							    _mm256_adds_epi16(_mm256_packs_epi32(q[2], q[3]), zo)));
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			if (S == 1) {
				t0[j] = t1[j];
				t1[j] = t2[j];
			} else {
				t0[j] = t2[j];
			}
		}
	}
#undef DWT32_COL
}

FW_INLINE void dwt32_all(const int S, const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			 const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	const int c = g->in_c;
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * c;
	const __m256i zx = _mm256_set1_epi8((char)zero_in);
	struct dwt32_block b __attribute__((aligned(64)));

	b.act = rq->act;
	b.clamp = !no_clamp_needed(9, c, bias_q, rq);
	b.zero_out = rq->zero_out;
	for (int c0 = 0; c0 < c; c0 += 32) {
		const int nc = c - c0 < 32 ? c - c0 : 32;

		b.cmask = nc == 32 ? ~(__mmask32)0 : ((__mmask32)1 << nc) - 1;
		for (int kx = 0; kx < 3; kx++) {
			const int8_t *wk = w + (size_t)kx * (size_t)c + (size_t)c0;

			dwt32_interleave(_mm256_maskz_loadu_epi8(b.cmask, wk),
					 _mm256_maskz_loadu_epi8(b.cmask, wk + 3 * (size_t)c),
					 _mm256_maskz_loadu_epi8(b.cmask, wk + 6 * (size_t)c), b.w[kx]);
			for (int j = 0; j < 4; j++)
				b.w[kx][j] = _mm256_and_si256(b.w[kx][j], _mm256_set1_epi32(0xFFFFFF));
		}
		for (int j = 0; j < 4; j++) {
			for (int i = 0; i < 8; i++) {
				const int ch = c0 + i / 4 * 16 + 4 * j + i % 4;

				b.bias[j][i] = ch < c && bias_q ? bias_q[ch] : 0;
				b.scale[j][i] = ch < c ? rq->scale[ch] : 0.0f;
				b.slope[j][i] = ch < c && rq->slope ? rq->slope[ch] : 0.0f;
			}
		}
		for (int oy = 0; oy < g->out_h; oy++) {
			const int iy0 = oy * g->stride_h - g->pad_t;
			const uint8_t *r[3];
			__mmask32 rm[3];

			for (int k = 0; k < 3; k++) {
				const int inside = (unsigned)(iy0 + k) < (unsigned)g->in_h;

				r[k] = in + (inside ? (ptrdiff_t)(iy0 + k) * in_row : 0) + c0;
				rm[k] = inside ? b.cmask : 0;
			}
			dwt32_row(S, g, &b, r, rm, zx, out + (ptrdiff_t)oy * g->out_w * c + c0);
		}
	}
}

static void dwt32_all_s1(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
			 const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	dwt32_all(1, g, in, zero_in, w, bias_q, rq, out);
}

static void dwt32_all_s2(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
			 const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	dwt32_all(2, g, in, zero_in, w, bias_q, rq, out);
}

/* ---- depthwise 3x3, stride_w 1, few channels: a row as flat bytes -------- */

/* With stride_w 1 an output row is a run of bytes whose tap (ky, kx) is the
 * same run of input row iy0 + ky shifted by (kx - pad_l) * in_c bytes. So
 * for few channels, where dwt_all would leave most of its 64 lanes empty
 * and the lane kernel runs one pixel at a time through masks, 64
 * output bytes (64 / in_c pixels, or parts of them) are done at once: per
 * kx, the three input rows' 64 bytes are interleaved as in dwt_all and
 * multiplied by weights laid out per byte position (channel (i0 + p) %
 * in_c). A block starting at byte i0 sees the channel pattern shifted by
 * i0 % in_c, which repeats every P = in_c / gcd(in_c, 64) blocks: P sets
 * of weights, bias, scale and slope (P <= DWF_MAX_P). Bytes before or past
 * the input row, and rows outside it, are masked loads from zero_in; the
 * last block of a row stores through a mask. */

enum { DWF_MAX_P = 3 };

static int dwf_phases(int c)
{
	int a = c, b = 64;

	while (b) {
		const int t = a % b;

		a = b;
		b = t;
	}
	return c / a;
}

/* bytes [lo, hi) of 64, 0 <= lo, hi <= 64 */
FW_INLINE __mmask64 range_mask(ptrdiff_t lo, ptrdiff_t hi)
{
	const __mmask64 below_hi = hi >= 64 ? ~(__mmask64)0 : hi <= 0 ? 0 : ((__mmask64)1 << hi) - 1;
	const __mmask64 below_lo = lo >= 64 ? ~(__mmask64)0 : lo <= 0 ? 0 : ((__mmask64)1 << lo) - 1;

	return below_hi & ~below_lo;
}

static void dwf_all(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
		    const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out)
{
	const int c = g->in_c, np = dwf_phases(c);
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * c, out_row = (ptrdiff_t)g->out_w * c;
	const __m512i zx = _mm512_set1_epi8((char)zero_in), zo = _mm512_set1_epi16((short)rq->zero_out);
	const int clamp = !no_clamp_needed(9, c, bias_q, rq);
	struct dwt_block ph[DWF_MAX_P];
	int8_t tiled[3][64];

	assert(np <= DWF_MAX_P && g->stride_w == 1);
	for (int p = 0; p < np; p++) {
		const int base = 64 * p % c;

		for (int kx = 0; kx < 3; kx++) {
			for (int ky = 0; ky < 3; ky++)
				for (int i = 0; i < 64; i++)
					tiled[ky][i] = w[(size_t)(ky * 3 + kx) * (size_t)c + (size_t)((base + i) % c)];
			dwt_interleave(_mm512_loadu_si512((const void *)tiled[0]), _mm512_loadu_si512((const void *)tiled[1]),
				       _mm512_loadu_si512((const void *)tiled[2]), ph[p].w[kx]);
			for (int j = 0; j < 4; j++)
				ph[p].w[kx][j] = _mm512_and_si512(ph[p].w[kx][j], _mm512_set1_epi32(0xFFFFFF));
		}
		for (int j = 0; j < 4; j++) {
			for (int i = 0; i < 16; i++) {
				const int ch = (base + i / 4 * 16 + 4 * j + i % 4) % c;

				ph[p].bias[j][i] = bias_q ? bias_q[ch] : 0;
				ph[p].scale[j][i] = rq->scale[ch];
				ph[p].slope[j][i] = rq->slope ? rq->slope[ch] : 0.0f;
			}
		}
	}
	for (int oy = 0; oy < g->out_h; oy++) {
		const int iy0 = oy * g->stride_h - g->pad_t;
		uintptr_t r[3];
		int inside[3];
		uint8_t *o = out + (ptrdiff_t)oy * out_row;

		for (int k = 0; k < 3; k++) {
			inside[k] = (unsigned)(iy0 + k) < (unsigned)g->in_h;
			/* an integer: the shifted addresses below may lie before the
			 * tensor (their bytes are masked off and never read) */
			r[k] = (uintptr_t)(in + (inside[k] ? (ptrdiff_t)(iy0 + k) * in_row : 0));
		}
		for (ptrdiff_t i0 = 0, p = 0; i0 < out_row; i0 += 64, p = p + 1 == np ? 0 : p + 1) {
			const struct dwt_block *f = &ph[p];
			__m512i acc[4], q[4];

#pragma GCC unroll 4
			for (int j = 0; j < 4; j++)
				acc[j] = _mm512_load_si512((const void *)f->bias[j]);
#pragma GCC unroll 3
			for (int kx = 0; kx < 3; kx++) {
				const ptrdiff_t start = i0 + (ptrdiff_t)(kx - g->pad_l) * c;
				const __mmask64 m = range_mask(-start, in_row - start);
				__m512i t[4];

				dwt_interleave(_mm512_mask_loadu_epi8(zx, inside[0] ? m : 0, (const void *)(r[0] + (uintptr_t)start)),
					       _mm512_mask_loadu_epi8(zx, inside[1] ? m : 0, (const void *)(r[1] + (uintptr_t)start)),
					       _mm512_mask_loadu_epi8(zx, inside[2] ? m : 0, (const void *)(r[2] + (uintptr_t)start)),
					       t);
#pragma GCC unroll 4
				for (int j = 0; j < 4; j++)
					acc[j] = _mm512_dpbusd_epi32(acc[j], t[j], f->w[kx][j]);
			}
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++)
				q[j] = requant16_core(acc[j], _mm512_load_ps(f->scale[j]), _mm512_load_ps(f->slope[j]), rq->act,
						      clamp);
			_mm512_mask_storeu_epi8(o + i0, range_mask(0, out_row - i0), pack_zp(q[0], q[1], q[2], q[3], zo));
		}
	}
}

/* The lane kernel (dw_all) for every shape; out: u8, or (f32) floats as
 * bytes. Float outputs take this path only (one depthwise layer of our
 * models has one, 5x5, which is this path's anyway). */
static void dw_lanes(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
		     const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out, int f32)
{
	const int c = g->in_c, taps = g->k_h * g->k_w, masked = c < 16;
	const ptrdiff_t in_row = (ptrdiff_t)g->in_w * c, step = (ptrdiff_t)g->stride_w * c;
	/* dword lane 4q + r keeps byte q: channel 4r + q of the broadcast block */
	const __m512i sel = _mm512_set_epi32(-16777216, -16777216, -16777216, -16777216, 0xFF0000, 0xFF0000,
					     0xFF0000, 0xFF0000, 0xFF00, 0xFF00, 0xFF00, 0xFF00, 0xFF, 0xFF,
					     0xFF, 0xFF);
	/* lane 4q + r <-> channel 4r + q */
	const __m512i perm = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
	const dw_all_fn run = dw_all_for(g, f32);
	__m512i wv[DW_MAX_TAPS], zrow[DW_MAX_TAPS];
	int ox_lo, ox_hi, oy_lo, oy_hi;
	struct dw_block b;

	interior_range(g->out_w, g->stride_w, g->pad_l, g->k_w, g->dil_w, g->in_w, &ox_lo, &ox_hi);
	interior_range(g->out_h, g->stride_h, g->pad_t, g->k_h, g->dil_h, g->in_h, &oy_lo, &oy_hi);
	/* rows with kernel rows outside the input use zrow; GDConv has none */
	const int y_border = oy_lo > 0 || oy_hi < g->out_h;

	b.row = in_row;
	b.col = c;
	b.dy = (ptrdiff_t)g->dil_h * in_row;
	b.dx = (ptrdiff_t)g->dil_w * c;
	b.step = step;
	b.w = wv;
	b.zrow = zrow;
	b.zx = _mm512_set1_epi8((char)zero_in);
	b.zero_out = _mm512_set1_epi32(rq->zero_out);
	b.perm = perm;
	b.mask = lane_mask(c);
	b.act = rq->act;
	b.g = g;
	b.ox_lo = ox_lo;
	b.ox_hi = ox_hi;

	for (int c0 = 0; c0 < c; c0 += 16) {
		if (c0 + 16 > c && !masked)
			c0 = c - 16; /* overlap the previous block */
		b.in = in + c0;
		for (int t = 0; t < taps; t++)
			wv[t] = _mm512_and_si512(dw_load((const uint8_t *)w + (size_t)t * (size_t)c + (size_t)c0, masked,
							 b.mask),
						 sel);
		for (int ky = 0; ky < g->k_h && y_border; ky++) {
			zrow[ky] = _mm512_setzero_si512();
			for (int kx = 0; kx < g->k_w; kx++)
				zrow[ky] = _mm512_dpbusd_epi32(zrow[ky], b.zx, wv[ky * g->k_w + kx]);
		}
		b.bias = _mm512_permutexvar_epi32(
			perm, bias_q ? _mm512_maskz_loadu_epi32(b.mask, bias_q + c0) : _mm512_setzero_si512());
		b.scale = _mm512_permutexvar_ps(perm, _mm512_maskz_loadu_ps(b.mask, rq->scale + c0));
		b.slope = rq->slope ? _mm512_permutexvar_ps(perm, _mm512_maskz_loadu_ps(b.mask, rq->slope + c0))
				    : _mm512_setzero_ps();

		b.out = out + (size_t)c0 * (f32 ? sizeof(float) : 1);
		run(&b);
	}
}

static void avx512_dwconv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			  const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			  uint8_t *out)
{
	const int c = g->in_c, taps = g->k_h * g->k_w;

	assert(g->out_c == g->in_c);
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	assert(rq->act != FW_ACT_PRELU || rq->slope);
	if (taps > DW_MAX_TAPS) {
		fw_q8_ref_kernels.dwconv(g, in, zero_in, w, bias_q, rq, out);
		return;
	}
	if (g->k_h == 3 && g->k_w == 3 && g->dil_h == 1 && g->dil_w == 1 && c >= DWT_MIN_C &&
	    (g->stride_w == 1 || g->stride_w == 2)) {
		(g->stride_w == 1 ? dwt_all_s1 : dwt_all_s2)(g, in, zero_in, w, bias_q, rq, out);
		return;
	}
	if (g->k_h == 3 && g->k_w == 3 && g->dil_h == 1 && g->dil_w == 1 && c > 16 &&
	    (g->stride_w == 1 || g->stride_w == 2)) {
		(g->stride_w == 1 ? dwt32_all_s1 : dwt32_all_s2)(g, in, zero_in, w, bias_q, rq, out);
		return;
	}
	if (g->k_h == 3 && g->k_w == 3 && g->dil_h == 1 && g->dil_w == 1 && g->stride_w == 1 && c < 16 &&
	    dwf_phases(c) <= DWF_MAX_P) {
		dwf_all(g, in, zero_in, w, bias_q, rq, out);
		return;
	}
	dw_lanes(g, in, zero_in, w, bias_q, rq, out, 0);
}

static void avx512_dwconv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
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
	dw_lanes(g, in, zero_in, w, bias_q, rq, (uint8_t *)out, 1);
}

/* ---- add ----------------------------------------------------------------- */

/* q8.h's fixed-point add, 64 elements at a time. vpunpck{l,h}bw against
 * zero widen a and b to 16 bits, vpunpck{l,h}wd interleave them into
 * (a_i, b_i) pairs P, and per 16 outputs (shift >= 15, q8.h):
 *   u = vpdpwssd(c, P, ml) >> 15;  q = vpdpwssd(u, P, mh) >> (shift - 15)
 * (arithmetic shifts: floor; vpsravd for the variable one, as the xmm-count
 * vpsrad is two uops). Below shift 15 (ratios over 128: not a real model),
 * t = vpdpwssd(c, P, ml) + (vpmaddwd(P, mh) << 15), q = t >> shift.
 * vpackssdw / vpackuswb clamp to 0..255; the 16-bit step saturates only
 * values far outside 0..255, which stay outside after + zy (vpaddsw), so
 * the clamp gives the same byte. All of it is in-lane, and the unpacks'
 * order comes back in order after the packs: lane k of the four dword
 * vectors holds elements 16k + 0..3, 4..7, 8..11, 12..15. */

/* the low n bits, 0 <= n <= 64 (no BMI2 bzhi: the file is not built with it) */
FW_INLINE __mmask64 mask64(size_t n)
{
	return n >= 64 ? ~0ull : (1ull << n) - 1u;
}

struct add_v {
	__m512i ml, mh, c, shift, zy; /* shift: q8.h's, less 15 unless wide */
};

/* q of 16 pairs, before + zy; wide: shift < 15 */
FW_INLINE __m512i add_q16(__m512i pairs, const struct add_v *k, int wide)
{
	if (wide) {
		const __m512i h = _mm512_slli_epi32(_mm512_madd_epi16(pairs, k->mh), 15);

		return _mm512_srav_epi32(_mm512_add_epi32(_mm512_dpwssd_epi32(k->c, pairs, k->ml), h), k->shift);
	}
	const __m512i u = _mm512_srai_epi32(_mm512_dpwssd_epi32(k->c, pairs, k->ml), 15);

	return _mm512_srav_epi32(_mm512_dpwssd_epi32(u, pairs, k->mh), k->shift);
}

/* Two steps are left out where they cannot change a byte (the flags are
 * constants in each loop below, decided once per call):
 *  - zy = 0: adding 0;
 *  - relu with zy = 0: max(q, 0) changes only q < 0, which vpackuswb
 *    clamps to 0 anyway. */
FW_INLINE __m512i add64(__m512i a, __m512i b, const struct add_v *k, int relu, int zy, int wide)
{
	const __m512i z = _mm512_setzero_si512();
	const __m512i al = _mm512_unpacklo_epi8(a, z), ah = _mm512_unpackhi_epi8(a, z);
	const __m512i bl = _mm512_unpacklo_epi8(b, z), bh = _mm512_unpackhi_epi8(b, z);
	__m512i lo = _mm512_packs_epi32(add_q16(_mm512_unpacklo_epi16(al, bl), k, wide),
					add_q16(_mm512_unpackhi_epi16(al, bl), k, wide));
	__m512i hi = _mm512_packs_epi32(add_q16(_mm512_unpacklo_epi16(ah, bh), k, wide),
					add_q16(_mm512_unpackhi_epi16(ah, bh), k, wide));

	if (zy) {
		lo = _mm512_adds_epi16(lo, k->zy);
		hi = _mm512_adds_epi16(hi, k->zy);
		if (relu) { /* max(q, 0) + zy = max(q + zy, zy), saturated or not */
			lo = _mm512_max_epi16(lo, k->zy);
			hi = _mm512_max_epi16(hi, k->zy);
		}
	}
	return _mm512_packus_epi16(lo, hi);
}

FW_INLINE void add_loop(const uint8_t *a, const uint8_t *b, size_t n, const struct add_v *k, uint8_t *out,
			int relu, int zy, int wide)
{
	size_t i = 0;

	for (; i + 64 <= n; i += 64)
		_mm512_storeu_si512(out + i, add64(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), k, relu,
						   zy, wide));
	if (i < n) {
		const __mmask64 mk = mask64(n - i);

		_mm512_mask_storeu_epi8(out + i, mk,
					add64(_mm512_maskz_loadu_epi8(mk, a + i), _mm512_maskz_loadu_epi8(mk, b + i), k,
					      relu, zy, wide));
	}
}

FW_INLINE struct add_v add_v_of(const struct fw_q8_add *p)
{
	const int wide = p->shift < 15;
	/* (ml, mh) of a and b in each dword's two 16-bit halves, as the pairs (a_i, b_i) */
	const struct add_v k = {
		.ml = _mm512_set1_epi32((int32_t)((uint32_t)(p->mb & 0x7fff) << 16 | (uint32_t)(p->ma & 0x7fff))),
		.mh = _mm512_set1_epi32((int32_t)((uint32_t)(p->mb >> 15) << 16 | (uint32_t)(p->ma >> 15))),
		.c = _mm512_set1_epi32(p->c),
		.shift = _mm512_set1_epi32(wide ? p->shift : p->shift - 15),
		.zy = _mm512_set1_epi16((int16_t)p->zy),
	};

	return k;
}

static void avx512_add(const uint8_t *a, const uint8_t *b, size_t n, const struct fw_q8_add *p,
		       uint8_t *out)
{
	const int wide = p->shift < 15, relu = p->act == FW_ACT_RELU;
	const struct add_v k = add_v_of(p);

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

/* b's pixels to c channels, zb after the first cb: one masked load and a
 * store per 64 channels (the store writes whole 64-byte groups, up to
 * FW_Q8_CPAD_SLACK past the pixel; the next pixel overwrites them). */
static void avx512_widen(const uint8_t *b, size_t n_px, int c, int cb, uint8_t zb, uint8_t *tmp)
{
	const __m512i z = _mm512_set1_epi8((char)zb);

	for (size_t px = 0; px < n_px; px++, b += cb, tmp += c) {
		for (int ch = 0; ch < c; ch += 64) {
			const __mmask64 mb = cb > ch ? mask64((size_t)(cb - ch)) : 0;

			_mm512_storeu_si512(tmp + ch, _mm512_mask_loadu_epi8(z, mb, b + ch));
		}
	}
}

static void avx512_add_cpad(const uint8_t *a, const uint8_t *b, size_t pixels, int c, int cb,
			    const struct fw_q8_add *p, uint8_t *out)
{
	fw_q8_cpad_run(a, b, pixels, c, cb, p, out, avx512_add, avx512_widen);
}

/* The amx table's add_cpad (CPUs with AMX have AVX-512 VBMI2, which the
 * dispatcher checks too): b widened in registers, not through a buffer.
 * vpexpandb loads popcount(m) bytes of b into the bytes of a 64-byte
 * block of a whose channel is below cb, zb everywhere else; which bytes
 * those are repeats every c / gcd(c, 64) blocks, so the masks are made
 * once per call. Pixels wider than that table allows take the buffered
 * path. The same add64, so the same bytes. */
enum { CPAD_MAX_PERIOD = 128 };

__attribute__((target("avx512vbmi2"))) FW_INLINE void cpad_loop(const uint8_t *a, const uint8_t *b, size_t n, const __mmask64 *m, const int *pop,
			 int period, __m512i zb, const struct add_v *k, uint8_t *out, int relu, int zy, int wide)
{
	size_t i = 0;
	int j = 0;

	for (; i + 64 <= n; i += 64) {
		const __m512i bv = _mm512_mask_expandloadu_epi8(zb, m[j], b);

		b += pop[j];
		_mm512_storeu_si512(out + i, add64(_mm512_loadu_si512(a + i), bv, k, relu, zy, wide));
		j = j + 1 == period ? 0 : j + 1;
	}
	if (i < n) {
		const __mmask64 mk = mask64(n - i);

		_mm512_mask_storeu_epi8(out + i, mk,
					add64(_mm512_maskz_loadu_epi8(mk, a + i),
					      _mm512_mask_expandloadu_epi8(zb, m[j] & mk, b), k, relu, zy, wide));
	}
}

__attribute__((target("avx512vbmi2"))) static void amx_add_cpad(const uint8_t *a, const uint8_t *b,
								size_t pixels, int c, int cb,
								const struct fw_q8_add *p, uint8_t *out)
{
	int g = 64, r = c, period;

	while (r) { /* gcd(64, c) */
		const int t = g % r;

		g = r;
		r = t;
	}
	period = c / g;
	if (period > CPAD_MAX_PERIOD) {
		avx512_add_cpad(a, b, pixels, c, cb, p, out);
		return;
	}
	__mmask64 m[CPAD_MAX_PERIOD];
	int pop[CPAD_MAX_PERIOD];

	/* the 64 / g pixels of a period: bits [px*c, px*c + cb) */
	memset(m, 0, sizeof m[0] * (size_t)period);
	for (int px = 0; px < 64 / g; px++) {
		for (int lo = px * c, hi = lo + cb; lo < hi;) {
			const int bit = lo % 64, len = hi - lo < 64 - bit ? hi - lo : 64 - bit;

			m[lo / 64] |= (len == 64 ? ~(__mmask64)0 : ((__mmask64)1 << len) - 1) << bit;
			lo += len;
		}
	}
	for (int j = 0; j < period; j++)
		pop[j] = __builtin_popcountll(m[j]);
	const int wide = p->shift < 15, relu = p->act == FW_ACT_RELU;
	const struct add_v k = add_v_of(p);
	const __m512i zb = _mm512_set1_epi8((char)p->zb);
	const size_t n = pixels * (size_t)c;

	assert(p->act == FW_ACT_NONE || p->act == FW_ACT_RELU);
	if (wide)
		cpad_loop(a, b, n, m, pop, period, zb, &k, out, relu, 1, 1);
	else if (p->zy == 0)
		cpad_loop(a, b, n, m, pop, period, zb, &k, out, 0, 0, 0);
	else if (!relu)
		cpad_loop(a, b, n, m, pop, period, zb, &k, out, 0, 1, 0);
	else
		cpad_loop(a, b, n, m, pop, period, zb, &k, out, 1, 1, 0);
}

/* ---- resize row -------------------------------------------------------------- */

/* q8.h's resize row: the four products and the sum 16 channels at a time,
 * in the order the plain C row writes them, then fw_q8_quantize's steps:
 * x * inv_s clamped to [-z, 255 - z] (vminps returns its second operand for
 * NaN, as `v < hi ? v : hi`), rounded half to even by vcvtps2dq (the
 * 1.5 * 2^23 trick's result in that range), + z, and vpmovdb. */
FW_INLINE __m128i resize16(const float *p00, const float *p10, const float *p01, const float *p11,
			   __mmask16 mk, __m512 wy0, __m512 wy1, __m512 wx0, __m512 wx1, __m512 inv,
			   __m512 lo, __m512 hi, __m512i z)
{
	const __m512 t0 = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p00), wy0), wx0);
	const __m512 t1 = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p10), wy1), wx0);
	const __m512 t2 = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p01), wy0), wx1);
	const __m512 t3 = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p11), wy1), wx1);
	__m512 v = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(t0, t1), t2), t3);

	v = _mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(v, inv), hi), lo);
	return _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), z));
}

static void avx512_resize_row(const struct fw_q8_resize_row *r, uint8_t *out)
{
	const size_t c = (size_t)r->c;
	const __m512 wy0 = _mm512_set1_ps(r->wy0), wy1 = _mm512_set1_ps(r->wy1);
	const __m512 inv = _mm512_set1_ps(r->inv_s), lo = _mm512_set1_ps((float)-r->z);
	const __m512 hi = _mm512_set1_ps((float)(255 - r->z));
	const __m512i z = _mm512_set1_epi32(r->z);

	for (int x = 0; x < r->out_w; x++, out += c) {
		const __m512 wx0 = _mm512_set1_ps(r->wx0[x]), wx1 = _mm512_set1_ps(r->wx1[x]);
		const float *p00 = r->r0 + (size_t)r->x0[x] * c, *p01 = r->r0 + (size_t)r->x1[x] * c;
		const float *p10 = r->r1 + (size_t)r->x0[x] * c, *p11 = r->r1 + (size_t)r->x1[x] * c;

		for (size_t ch = 0; ch < c; ch += 16) {
			const __mmask16 mk = c - ch >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - ch)) - 1u);

			_mm_mask_storeu_epi8(out + ch, mk,
					     resize16(p00 + ch, p10 + ch, p01 + ch, p11 + ch, mk, wy0, wy1, wx0, wx1,
						      inv, lo, hi, z));
		}
	}
}

/* ---- quantise / dequantise at the int8 region's edges ----------------------- */

/* fw_q8_quantize's steps 16 at a time: x * inv_s clamped to [-z, 255 - z]
 * (vminps gives its second operand for NaN, as `v < hi ? v : hi`),
 * vcvtps2dq rounds half to even as the 1.5 * 2^23 trick does there, + z. */
FW_INLINE __m128i quant16(__m512 x, __m512 inv, __m512 lo, __m512 hi, __m512i z)
{
	const __m512 v = _mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(x, inv), hi), lo);

	return _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(v), z));
}

static void avx512_quantize(const float *x, size_t n, float inv_s, int32_t z, uint8_t *q)
{
	const __m512 inv = _mm512_set1_ps(inv_s), lo = _mm512_set1_ps((float)-z);
	const __m512 hi = _mm512_set1_ps((float)(255 - z));
	const __m512i vz = _mm512_set1_epi32(z);
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		_mm_storeu_si128((__m128i *)(q + i), quant16(_mm512_loadu_ps(x + i), inv, lo, hi, vz));
	if (i < n) {
		const __mmask16 mk = (__mmask16)((1u << (n - i)) - 1u);

		_mm_mask_storeu_epi8(q + i, mk, quant16(_mm512_maskz_loadu_ps(mk, x + i), inv, lo, hi, vz));
	}
}

/* x = s * (float)(q - z), as fw_q8_dequantize */
static void avx512_dequantize(const uint8_t *q, size_t n, float s, int32_t z, float *x)
{
	const __m512 vs = _mm512_set1_ps(s);
	const __m512i vz = _mm512_set1_epi32(z);
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(x + i, _mm512_mul_ps(vs, _mm512_cvtepi32_ps(_mm512_sub_epi32(
							 _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + i))), vz))));
	if (i < n) {
		const __mmask16 mk = (__mmask16)((1u << (n - i)) - 1u);

		_mm512_mask_storeu_ps(x + i, mk, _mm512_mul_ps(vs, _mm512_cvtepi32_ps(_mm512_sub_epi32(
								   _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mk, q + i)), vz))));
	}
}

const struct fw_q8_kernels fw_q8_avx512_kernels = {
	.isa = FW_ISA_AVX512,
	.name = "avx512",
	.conv_packed_size = avx512_conv_packed_size,
	.conv_pack = avx512_conv_pack,
	.conv_scratch = avx512_conv_scratch,
	.conv = avx512_conv,
	.dwconv = avx512_dwconv,
	.conv_f32 = avx512_conv_f32,
	.dwconv_f32 = avx512_dwconv_f32,
	.add = avx512_add,
	.add_cpad = avx512_add_cpad,
	.resize_row = avx512_resize_row,
	.quantize = avx512_quantize,
	.dequantize = avx512_dequantize,
};

/* AVX-512 with the AMX GEMM (see "conv: AMX"): the same packed weights. */
const struct fw_q8_kernels fw_q8_amx_kernels = {
	.isa = FW_ISA_AMX,
	.name = "amx",
	.conv_packed_size = avx512_conv_packed_size,
	.conv_pack = avx512_conv_pack,
	.conv_scratch = avx512_conv_scratch,
	.conv = amx_conv,
	.dwconv = avx512_dwconv,
	.conv_f32 = amx_conv_f32,
	.dwconv_f32 = avx512_dwconv_f32,
	.add = avx512_add,
	.add_cpad = amx_add_cpad,
	.resize_row = avx512_resize_row,
	.quantize = avx512_quantize,
	.dequantize = avx512_dequantize,
};
