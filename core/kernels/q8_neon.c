/* int8 kernels for aarch64 Advanced SIMD (contract: q8.h), two tables:
 *
 *  fw_q8_neon_kernels     armv8-a, every aarch64 core (Cortex-A53, A72: Pi 3, Pi 4).
 *                         u8 activations widened to s16 as they are loaded, s8
 *                         weights widened to s16 once at pack time, then
 *                         smlal/smlal2 by lane into int32 lanes: each product
 *                         is exact in its 32-bit lane.
 *  fw_q8_neondot_kernels  armv8.2-a dot product (Cortex-A55, A76: Pi 5). conv
 *                         uses sdot, four products per 32-bit lane per
 *                         instruction; dwconv and add are the plain ones
 *                         (sdot sums 4 adjacent bytes, which in NHWC are 4
 *                         different channels for a depthwise conv).
 *
 * u8 x s8 with sdot. sdot multiplies s8 by s8 (udot u8 by u8); the mixed usdot
 * needs FEAT_I8MM (armv8.6), which no Raspberry Pi has (the Pi 5's A76 does
 * not). So each activation is moved into s8 by flipping its top bit,
 * a ^ 0x80 == a - 128 read as s8, and what that takes off is put back through
 * a per-output-channel constant computed at pack time:
 *     sum_k a[k] * w[k] = sum_k (a[k] - 128) * w[k] + 128 * sum_k w[k]
 * Every term is an exact integer and int32 lanes add modulo 2^32, so the
 * result is the reference's whenever the reference's accumulator fits in
 * int32 (which q8.h requires). The accumulators start at bias_q + 128 * sum w.
 * im2col writes flipped bytes (once per block of rows, reused by every
 * channel block); the 1x1 direct path flips each 16-byte load.
 *
 * Only the functions marked FW_DOTPROD carry target("arch=armv8.2-a+dotprod")
 * (clang: target("dotprod")): the file builds at the default -march, so one
 * binary runs on every aarch64 core, and the dispatcher selects neondot only
 * where HWCAP_ASIMDDP says sdot exists.
 *
 * conv is a GEMM: M = out_h * out_w pixels, N = out_c, K = k_h * k_w * in_c
 * taps in (ky, kx, ic) order (the order of OHWI weights, so a pixel's im2col
 * row is the dot partner of a weight row). Tiles of MR = 8 pixels x NR = 8
 * channels hold 16 int32x4 accumulators in registers over the whole of K and
 * requantise them in registers. A 1x1 stride-1 unpadded conv (and FC) reads
 * pixel rows straight from the input; other convs copy MR im2col rows at a
 * time into scratch (padded taps hold zero_in, bytes past K hold 0 against
 * zero weights). The last, partial block of pixels repeats its last row and
 * stores only the valid ones; blocks of 2..4 and 1 pixels have their own
 * instantiations so a GEMV does not compute 8 rows.
 *
 * Epilogue, exactly q8.h: vcvtq_f32_s32 (round to nearest even), vmulq_f32
 * (never a fused multiply-add), ReLU v > 0 ? v : 0 / PReLU v >= 0 ? v : v *
 * slope as selects, vcvtnq_s32_f32 (round half to even), + zero_out, saturate
 * to u8. Before the conversion v is clamped to [-512, 512] as q8_ref.c does
 * (v < 512 ? v : 512, then v > -512 ? v : -512): no finite v changes its
 * output byte, but it keeps the conversion in range, and NaN (only from a NaN
 * or infinite scale/slope) becomes 512 there and here alike: fminnm/fmaxnm
 * return the number when the other operand is a quiet NaN, and arithmetic
 * only makes quiet NaNs. + zero_out saturates (vqaddq_s32), which equals the
 * ref's sum in a long for any zero_out.
 *
 * Float outputs (conv_f32, dwconv_f32): the same kernels with a float
 * pointer (struct tile's outf, dw_block's of); the epilogue stops after the
 * activation (act4) and stores the floats.
 */
#include "q8.h"
#include "q8_cpad.h"
#include "../model_format.h"

#ifdef __aarch64__ /* built on aarch64 only (core/CMakeLists.txt); empty elsewhere */

#include <arm_neon.h>
#include <assert.h>
#include <string.h>

/* Looked up by name in q8_dispatch.c; no header declares the tables. */
extern const struct fw_q8_kernels fw_q8_neon_kernels, fw_q8_neondot_kernels;

#define FW_INLINE inline __attribute__((always_inline))

/* sdot by lane, acc += w . a[lane], in functions marked FW_DOTPROD. clang before 16
 * declares the dot intrinsics only when the whole file is built with +dotprod, and
 * spells the attribute target("dotprod"); there the instruction is written as asm
 * (the function's target lets the integrated assembler take it). */
#if defined(__clang__)
#define FW_DOTPROD __attribute__((target("dotprod")))
#else
#define FW_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#if defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD)
#define SDOT_LANE(acc, w, a, lane) \
	__asm__("sdot %0.4s, %1.16b, %2.4b[%3]" : "+w"(acc) : "w"(w), "w"(a), "i"(lane))
#else
#define SDOT_LANE(acc, w, a, lane) ((acc) = vdotq_laneq_s32((acc), (w), (a), (lane)))
#endif

enum {
	MR = 8,         /* output pixels per conv tile */
	NR = 8,         /* output channels per conv tile */
	KSTEP_NEON = 8, /* K bytes per row per step: one u8x8 load, 8 lanes of smlal */
	KSTEP_DOT = 16, /* one u8x16 load, 4 lanes of sdot (4 bytes each) */
};

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/* ---- requantisation (q8.h epilogue) ---------------------------------------------------- */

/* v < 512 ? v : 512, then v > -512 ? v : -512, NaN included (see the top) */
static FW_INLINE float32x4_t clamp512(float32x4_t v)
{
	return vmaxnmq_f32(vminnmq_f32(v, vdupq_n_f32(512.0f)), vdupq_n_f32(-512.0f));
}

/* the epilogue up to the rounding: a float output's values (conv_f32, dwconv_f32) */
static FW_INLINE float32x4_t act4(int32x4_t acc, float32x4_t scale, float32x4_t slope, int act)
{
	const float32x4_t zero = vdupq_n_f32(0.0f);
	float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), scale);

	if (act == FW_ACT_RELU)
		v = vbslq_f32(vcgtq_f32(v, zero), v, zero);
	else if (act == FW_ACT_PRELU)
		v = vbslq_f32(vcgeq_f32(v, zero), v, vmulq_f32(v, slope));
	return v;
}

static FW_INLINE int32x4_t requant4(int32x4_t acc, float32x4_t scale, float32x4_t slope, int act,
				    int32x4_t zero_out)
{
	return vqaddq_s32(vcvtnq_s32_f32(clamp512(act4(acc, scale, slope, act))), zero_out);
}

/* the first n (1..8) of two float vectors to o */
static FW_INLINE void store_f32(float *o, float32x4_t v0, float32x4_t v1, int n)
{
	if (n == 8) {
		vst1q_f32(o, v0);
		vst1q_f32(o + 4, v1);
	} else {
		float tmp[8];

		vst1q_f32(tmp, v0);
		vst1q_f32(tmp + 4, v1);
		memcpy(o, tmp, (size_t)n * sizeof(float));
	}
}

/* clamp(q, 0, 255) of 8 int32: s32 -> u16 and u16 -> u8, both saturating */
static FW_INLINE uint8x8_t narrow8(int32x4_t q0, int32x4_t q1)
{
	return vqmovn_u16(vcombine_u16(vqmovun_s32(q0), vqmovun_s32(q1)));
}

/* ---- conv: geometry, packing, scratch --------------------------------------------------- */

static size_t conv_k(const struct fw_conv_geom *g)
{
	return (size_t)g->k_h * (size_t)g->k_w * (size_t)g->in_c;
}

/* out_c rounded up to whole channel blocks */
static size_t conv_np(const struct fw_conv_geom *g)
{
	return round_up((size_t)g->out_c, NR);
}

/* A 1x1, stride-1, unpadded conv: a pixel's im2col row is the input pixel itself.
 * out_h > in_h would mean padding after (implied by the geometry): not direct. */
static int conv_direct(const struct fw_conv_geom *g)
{
	return g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_t == 0 &&
	       g->pad_l == 0 && g->out_h <= g->in_h && g->out_w <= g->in_w;
}

/* scratch: int32 acc0[np] | float scale[np] | float slope[np] | MR im2col rows of kp bytes
 * (the rows only when not direct). np is a multiple of 8, so the rows start 32-byte aligned. */
static size_t conv_scratch(const struct fw_conv_geom *g, size_t kstep)
{
	size_t bytes = conv_np(g) * (sizeof(int32_t) + 2 * sizeof(float));

	if (!conv_direct(g))
		bytes += MR * round_up(conv_k(g), kstep);
	return bytes;
}

static size_t neon_conv_scratch(const struct fw_conv_geom *g)
{
	return conv_scratch(g, KSTEP_NEON);
}

static size_t dot_conv_scratch(const struct fw_conv_geom *g)
{
	return conv_scratch(g, KSTEP_DOT);
}

/* neon packed weights: per block of NR channels, per k < kp: NR int16 (channels past
 * out_c and taps past K are 0). */
static size_t neon_conv_packed_size(const struct fw_conv_geom *g)
{
	return conv_np(g) * round_up(conv_k(g), KSTEP_NEON) * sizeof(int16_t);
}

static void neon_conv_pack(const struct fw_conv_geom *g, const int8_t *w, void *packed)
{
	const size_t k = conv_k(g), kp = round_up(k, KSTEP_NEON), np = conv_np(g);
	int16_t *p = packed;

	for (size_t n0 = 0; n0 < np; n0 += NR)
		for (size_t kk = 0; kk < kp; kk++)
			for (size_t j = 0; j < NR; j++) {
				const size_t oc = n0 + j;

				*p++ = oc < (size_t)g->out_c && kk < k ? w[oc * k + kk] : 0;
			}
}

/* neondot packed weights: int32 corr[np] = 128 * sum_k w[oc][k] (see the top), then per
 * block of NR channels, per group of 4 taps (k < kp): NR x 4 int8, [channel][tap]. One
 * 16-byte vector is then 4 channels x 4 taps, the operand layout of sdot by lane. */
static size_t dot_conv_packed_size(const struct fw_conv_geom *g)
{
	return conv_np(g) * (sizeof(int32_t) + round_up(conv_k(g), KSTEP_DOT));
}

static void dot_conv_pack(const struct fw_conv_geom *g, const int8_t *w, void *packed)
{
	const size_t k = conv_k(g), kp = round_up(k, KSTEP_DOT), np = conv_np(g);
	int32_t *corr = packed;
	int8_t *p = (int8_t *)(corr + np);

	for (size_t oc = 0; oc < np; oc++) {
		uint32_t sum = 0; /* modulo 2^32, as the int32 lanes it is added to */

		for (size_t kk = 0; oc < (size_t)g->out_c && kk < k; kk++)
			sum += (uint32_t)(int32_t)w[oc * k + kk];
		corr[oc] = (int32_t)(sum * 128u);
	}
	for (size_t n0 = 0; n0 < np; n0 += NR)
		for (size_t k4 = 0; k4 < kp; k4 += 4)
			for (size_t j = 0; j < NR; j++)
				for (size_t t = 0; t < 4; t++) {
					const size_t oc = n0 + j, kk = k4 + t;

					*p++ = oc < (size_t)g->out_c && kk < k ? w[oc * k + kk] : 0;
				}
}

/* ---- conv: tiles ------------------------------------------------------------------------ */

/* One MR x NR block of output. */
struct tile {
	const uint8_t *rows[MR]; /* the pixels' im2col rows; past nrows, repeats of the last */
	int nrows;               /* valid pixels, 1..MR */
	int ncols;               /* valid channels, 1..NR */
	size_t kfull;            /* bytes of each row read in place: a multiple of the K step */
	size_t ktail;            /* then bytes read through a zero-padded copy: < the K step */
	const void *w;           /* this channel block's packed weights */
	const int32_t *acc0;     /* [NR] starting accumulators */
	const float *scale;      /* [NR] */
	const float *slope;      /* [NR], 0 unless PReLU */
	int32_t zero_out;
	int act;
	uint8_t *out;            /* first pixel, first channel of the block */
	float *outf;             /* the same of a float output (conv_f32), else NULL */
	size_t out_stride;       /* elements between pixels: out_c */
};

typedef void (*tile_fn)(const struct tile *t);

static FW_INLINE void tile_store(const struct tile *t, int32x4_t acc[][2], const int mr)
{
	const float32x4_t s0 = vld1q_f32(t->scale), s1 = vld1q_f32(t->scale + 4);
	const float32x4_t p0 = vld1q_f32(t->slope), p1 = vld1q_f32(t->slope + 4);
	const int32x4_t zo = vdupq_n_s32(t->zero_out);

	if (t->outf) {
		for (int m = 0; m < mr && m < t->nrows; m++)
			store_f32(t->outf + (size_t)m * t->out_stride, act4(acc[m][0], s0, p0, t->act),
				  act4(acc[m][1], s1, p1, t->act), t->ncols);
		return;
	}
	for (int m = 0; m < mr && m < t->nrows; m++) {
		const uint8x8_t q = narrow8(requant4(acc[m][0], s0, p0, t->act, zo),
					    requant4(acc[m][1], s1, p1, t->act, zo));
		uint8_t *o = t->out + (size_t)m * t->out_stride;

		if (t->ncols == NR) {
			vst1_u8(o, q);
		} else {
			uint8_t tmp[NR];

			vst1_u8(tmp, q);
			memcpy(o, tmp, (size_t)t->ncols);
		}
	}
}

/* plain NEON: one K step is 8 taps; weights w[tap][NR] s16; a[m] = 8 taps of pixel m (s16).
 * Lane j: acc[m][0..1] += w[j][0..7] * a[m][j]. */
#define NEON_TAP(j)                                                                      \
	do {                                                                             \
		const int16x8_t wv = vld1q_s16(w + (j) * NR);                            \
		_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)                     \
		{                                                                        \
			acc[m][0] = vmlal_laneq_s16(acc[m][0], vget_low_s16(wv), a[m], (j)); \
			acc[m][1] = vmlal_high_laneq_s16(acc[m][1], wv, a[m], (j));      \
		}                                                                        \
	} while (0)

#define NEON_STEP()                                                                      \
	do {                                                                             \
		NEON_TAP(0); NEON_TAP(1); NEON_TAP(2); NEON_TAP(3);                      \
		NEON_TAP(4); NEON_TAP(5); NEON_TAP(6); NEON_TAP(7);                      \
	} while (0)

static FW_INLINE void tile_neon(const struct tile *t, const int mr)
{
	const int16_t *w = t->w;
	const int32x4_t b0 = vld1q_s32(t->acc0), b1 = vld1q_s32(t->acc0 + 4);
	int32x4_t acc[MR][2];
	int16x8_t a[MR];

	_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)
	{
		acc[m][0] = b0;
		acc[m][1] = b1;
	}
	for (size_t k = 0; k < t->kfull; k += KSTEP_NEON, w += KSTEP_NEON * NR) {
		_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)
			a[m] = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(t->rows[m] + k)));
		NEON_STEP();
	}
	if (t->ktail) {
		uint8_t buf[MR][KSTEP_NEON] = {{0}};

		_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)
		{
			memcpy(buf[m], t->rows[m] + t->kfull, t->ktail);
			a[m] = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(buf[m])));
		}
		NEON_STEP();
	}
	tile_store(t, acc, mr);
}

static void tile_neon_8(const struct tile *t)
{
	tile_neon(t, 8);
}

static void tile_neon_4(const struct tile *t)
{
	tile_neon(t, 4);
}

static void tile_neon_1(const struct tile *t)
{
	tile_neon(t, 1);
}

/* dot: one K step is 16 taps = 4 groups of 4; per group j two weight vectors (channels
 * 0-3 and 4-7, 4 taps each); a[m] = 16 taps of pixel m, flipped to s8.
 * acc[m][h] lane i += sum_t w[j][4h+i][t] * a[m][4j+t]. */
#define DOT_GROUP(j)                                                                     \
	do {                                                                             \
		const int8x16_t w0 = vld1q_s8(w + (j) * 2 * 16);                         \
		const int8x16_t w1 = vld1q_s8(w + (j) * 2 * 16 + 16);                    \
		_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)                     \
		{                                                                        \
			SDOT_LANE(acc[m][0], w0, a[m], (j));                             \
			SDOT_LANE(acc[m][1], w1, a[m], (j));                             \
		}                                                                        \
	} while (0)

#define DOT_STEP()                                                                       \
	do {                                                                             \
		DOT_GROUP(0); DOT_GROUP(1); DOT_GROUP(2); DOT_GROUP(3);                  \
	} while (0)

/* 16 activations as s8 (a - 128): flipped here unless im2col already did */
static FW_INLINE int8x16_t dot_load(const uint8_t *p, const int flip)
{
	const uint8x16_t v = vld1q_u8(p);

	return vreinterpretq_s8_u8(flip ? veorq_u8(v, vdupq_n_u8(0x80)) : v);
}

static FW_INLINE FW_DOTPROD void tile_dot(const struct tile *t, const int mr, const int flip)
{
	const int8_t *w = t->w;
	const int32x4_t b0 = vld1q_s32(t->acc0), b1 = vld1q_s32(t->acc0 + 4);
	int32x4_t acc[MR][2];
	int8x16_t a[MR];

	_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)
	{
		acc[m][0] = b0;
		acc[m][1] = b1;
	}
	for (size_t k = 0; k < t->kfull; k += KSTEP_DOT, w += KSTEP_DOT * NR) {
		_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)
			a[m] = dot_load(t->rows[m] + k, flip);
		DOT_STEP();
	}
	if (t->ktail) {
		/* the padding reads as 0 or -128 against zero weights: adds nothing */
		uint8_t buf[MR][KSTEP_DOT] = {{0}};

		_Pragma("GCC unroll 8") for (int m = 0; m < mr; m++)
		{
			memcpy(buf[m], t->rows[m] + t->kfull, t->ktail);
			a[m] = dot_load(buf[m], flip);
		}
		DOT_STEP();
	}
	tile_store(t, acc, mr);
}

/* im2col rows (pre-flipped) */
static FW_DOTPROD void tile_dot_8(const struct tile *t)
{
	tile_dot(t, 8, 0);
}

static FW_DOTPROD void tile_dot_4(const struct tile *t)
{
	tile_dot(t, 4, 0);
}

static FW_DOTPROD void tile_dot_1(const struct tile *t)
{
	tile_dot(t, 1, 0);
}

/* input rows (direct path), flipped on load */
static FW_DOTPROD void tile_dotx_8(const struct tile *t)
{
	tile_dot(t, 8, 1);
}

static FW_DOTPROD void tile_dotx_4(const struct tile *t)
{
	tile_dot(t, 4, 1);
}

static FW_DOTPROD void tile_dotx_1(const struct tile *t)
{
	tile_dot(t, 1, 1);
}

/* ---- conv: driver ----------------------------------------------------------------------- */

/* The taps of output pixel (oy, ox) in (ky, kx, ic) order, zero_in for padded taps,
 * then 0 up to kp bytes. */
static void im2col_row(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, int oy,
		       int ox, uint8_t *row, size_t kp)
{
	const size_t c = (size_t)g->in_c, span = (size_t)g->k_w * c;
	const int ix0 = ox * g->stride_w - g->pad_l;
	uint8_t *p = row;

	for (int ky = 0; ky < g->k_h; ky++, p += span) {
		const int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

		if (iy < 0 || iy >= g->in_h) {
			memset(p, zero_in, span);
			continue;
		}
		const uint8_t *src = in + (size_t)iy * (size_t)g->in_w * c;

		if (g->dil_w == 1 && ix0 >= 0 && ix0 + g->k_w <= g->in_w) {
			memcpy(p, src + (size_t)ix0 * c, span); /* the row's taps are contiguous */
			continue;
		}
		for (int kx = 0; kx < g->k_w; kx++) {
			const int ix = ix0 + kx * g->dil_w;

			if (ix < 0 || ix >= g->in_w)
				memset(p + (size_t)kx * c, zero_in, c);
			else
				memcpy(p + (size_t)kx * c, src + (size_t)ix * c, c);
		}
	}
	memset(p, 0, kp - (size_t)(p - row));
}

/* u8 -> s8 (a - 128) in place; n a multiple of 16 */
static void flip_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16)
		vst1q_u8(p + i, veorq_u8(vld1q_u8(p + i), vdupq_n_u8(0x80)));
}

struct conv_isa {
	size_t kstep;             /* KSTEP_NEON or KSTEP_DOT */
	size_t w_elem;            /* bytes per packed weight */
	int flip_im2col;          /* im2col rows are stored a ^ 0x80 */
	tile_fn tiles[3];         /* for blocks of 5..8, 2..4 and 1 pixels, im2col rows */
	tile_fn tiles_direct[3];  /* the same reading input rows */
};

/* into out (u8) or outf (float): one of them is NULL */
static void conv_run(const struct conv_isa *isa, const struct fw_conv_geom *g, const uint8_t *in,
		     uint8_t zero_in, const int32_t *corr, const void *w, const int32_t *bias_q,
		     const struct fw_q8_requant *rq, uint8_t *out, float *outf, void *scratch)
{
	const size_t k = conv_k(g), kp = round_up(k, isa->kstep), np = conv_np(g);
	const size_t out_c = (size_t)g->out_c, m_total = (size_t)g->out_h * (size_t)g->out_w;
	const int direct = conv_direct(g);
	const tile_fn *tiles = direct ? isa->tiles_direct : isa->tiles;
	int32_t *acc0 = scratch;
	float *scale = (float *)(acc0 + np), *slope = scale + np;
	uint8_t *rowbuf = (uint8_t *)(slope + np);
	struct tile t;

	assert(rq->act == FW_ACT_NONE || rq->act == FW_ACT_RELU || rq->act == FW_ACT_PRELU);
	assert(rq->act != FW_ACT_PRELU || rq->slope);

	for (size_t n = 0; n < np; n++) {
		const int real = n < out_c;
		const uint32_t b = real && bias_q ? (uint32_t)bias_q[n] : 0;

		acc0[n] = (int32_t)(b + (corr ? (uint32_t)corr[n] : 0)); /* modulo 2^32, as the lanes */
		scale[n] = real ? rq->scale[n] : 0.0f;
		slope[n] = real && rq->act == FW_ACT_PRELU ? rq->slope[n] : 0.0f;
	}
	t.kfull = direct ? k / isa->kstep * isa->kstep : kp;
	t.ktail = direct ? k - t.kfull : 0;
	t.zero_out = rq->zero_out;
	t.act = rq->act;
	t.out_stride = out_c;

	for (size_t m0 = 0; m0 < m_total; m0 += MR) {
		const int nr = m_total - m0 < MR ? (int)(m_total - m0) : MR;

		for (int m = 0; m < nr; m++) {
			const int oy = (int)((m0 + (size_t)m) / (size_t)g->out_w);
			const int ox = (int)((m0 + (size_t)m) % (size_t)g->out_w);

			if (direct) {
				t.rows[m] = in + ((size_t)oy * (size_t)g->in_w + (size_t)ox) * (size_t)g->in_c;
			} else {
				im2col_row(g, in, zero_in, oy, ox, rowbuf + (size_t)m * kp, kp);
				t.rows[m] = rowbuf + (size_t)m * kp;
			}
		}
		if (!direct && isa->flip_im2col)
			flip_bytes(rowbuf, (size_t)nr * kp);
		for (int m = nr; m < MR; m++)
			t.rows[m] = t.rows[nr - 1];
		t.nrows = nr;

		const tile_fn fn = tiles[nr > 4 ? 0 : nr > 1 ? 1 : 2];

		for (size_t n0 = 0; n0 < np; n0 += NR) {
			t.ncols = out_c - n0 < NR ? (int)(out_c - n0) : NR;
			t.w = (const uint8_t *)w + n0 * kp * isa->w_elem;
			t.acc0 = acc0 + n0;
			t.scale = scale + n0;
			t.slope = slope + n0;
			t.out = out ? out + m0 * out_c + n0 : NULL;
			t.outf = outf ? outf + m0 * out_c + n0 : NULL;
			fn(&t);
		}
	}
}

static const struct conv_isa conv_neon_isa = {
	.kstep = KSTEP_NEON,
	.w_elem = sizeof(int16_t),
	.flip_im2col = 0,
	.tiles = {tile_neon_8, tile_neon_4, tile_neon_1},
	.tiles_direct = {tile_neon_8, tile_neon_4, tile_neon_1},
};

static const struct conv_isa conv_dot_isa = {
	.kstep = KSTEP_DOT,
	.w_elem = sizeof(int8_t),
	.flip_im2col = 1,
	.tiles = {tile_dot_8, tile_dot_4, tile_dot_1},
	.tiles_direct = {tile_dotx_8, tile_dotx_4, tile_dotx_1},
};

static void neon_conv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		      const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
		      uint8_t *out, void *scratch)
{
	conv_run(&conv_neon_isa, g, in, zero_in, NULL, packed, bias_q, rq, out, NULL, scratch);
}

static void neon_conv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			  const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
			  float *out, void *scratch)
{
	conv_run(&conv_neon_isa, g, in, zero_in, NULL, packed, bias_q, rq, NULL, out, scratch);
}

static void dot_conv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		     const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
		     uint8_t *out, void *scratch)
{
	const int32_t *corr = packed;

	conv_run(&conv_dot_isa, g, in, zero_in, corr, corr + conv_np(g), bias_q, rq, out, NULL, scratch);
}

static void dot_conv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			 const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
			 float *out, void *scratch)
{
	const int32_t *corr = packed;

	conv_run(&conv_dot_isa, g, in, zero_in, corr, corr + conv_np(g), bias_q, rq, NULL, out, scratch);
}

/* ---- depthwise conv (both tables) ------------------------------------------------------- */

/* Channels [ch, ch + width) of output pixel (oy, ox), width 16 or 8, all inside 0..c.
 * Per tap: u8 -> s16, s8 -> s16, smlal/smlal2 into int32. */
static FW_INLINE void dw_block(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			       const int8_t *w, const int32_t *bias_q,
			       const struct fw_q8_requant *rq, int oy, int ox, int ch,
			       const int width, uint8_t *o, float *of)
{
	const size_t c = (size_t)g->in_c;
	const int nacc = width / 4;
	int32x4_t acc[4];

	for (int j = 0; j < nacc; j++)
		acc[j] = bias_q ? vld1q_s32(bias_q + ch + 4 * j) : vdupq_n_s32(0);
	for (int ky = 0; ky < g->k_h; ky++) {
		const int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;
		const int row_ok = iy >= 0 && iy < g->in_h;

		for (int kx = 0; kx < g->k_w; kx++) {
			const int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;
			const int ok = row_ok && ix >= 0 && ix < g->in_w;
			const uint8_t *ip = ok ? in + ((size_t)iy * (size_t)g->in_w + (size_t)ix) * c + ch : NULL;
			const int8_t *wp = w + ((size_t)ky * (size_t)g->k_w + (size_t)kx) * c + ch;

			if (width == 16) {
				const uint8x16_t a = ip ? vld1q_u8(ip) : vdupq_n_u8(zero_in);
				const int8x16_t wv = vld1q_s8(wp);
				const int16x8_t al = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(a)));
				const int16x8_t ah = vreinterpretq_s16_u16(vmovl_high_u8(a));
				const int16x8_t wl = vmovl_s8(vget_low_s8(wv)), wh = vmovl_high_s8(wv);

				acc[0] = vmlal_s16(acc[0], vget_low_s16(al), vget_low_s16(wl));
				acc[1] = vmlal_high_s16(acc[1], al, wl);
				acc[2] = vmlal_s16(acc[2], vget_low_s16(ah), vget_low_s16(wh));
				acc[3] = vmlal_high_s16(acc[3], ah, wh);
			} else {
				const uint8x8_t a = ip ? vld1_u8(ip) : vdup_n_u8(zero_in);
				const int16x8_t al = vreinterpretq_s16_u16(vmovl_u8(a));
				const int16x8_t wl = vmovl_s8(vld1_s8(wp));

				acc[0] = vmlal_s16(acc[0], vget_low_s16(al), vget_low_s16(wl));
				acc[1] = vmlal_high_s16(acc[1], al, wl);
			}
		}
	}

	const int32x4_t zo = vdupq_n_s32(rq->zero_out);
	const int prelu = rq->act == FW_ACT_PRELU;

	for (int j = 0; j < nacc; j += 2) {
		const float *s = rq->scale + ch + 4 * j;
		const float32x4_t p0 = prelu ? vld1q_f32(rq->slope + ch + 4 * j) : vdupq_n_f32(0.0f);
		const float32x4_t p1 = prelu ? vld1q_f32(rq->slope + ch + 4 * j + 4) : vdupq_n_f32(0.0f);

		if (of) {
			store_f32(of + ch + 4 * j, act4(acc[j], vld1q_f32(s), p0, rq->act),
				  act4(acc[j + 1], vld1q_f32(s + 4), p1, rq->act), 8);
			continue;
		}
		vst1_u8(o + ch + 4 * j, narrow8(requant4(acc[j], vld1q_f32(s), p0, rq->act, zo),
						requant4(acc[j + 1], vld1q_f32(s + 4), p1, rq->act, zo)));
	}
}

/* Fewer than 8 channels: integer sums in C (modulo 2^32 as the lanes), epilogue in NEON. */
static void dw_pixel_small(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			   const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			   int oy, int ox, uint8_t *o, float *of)
{
	const size_t c = (size_t)g->in_c;
	uint32_t acc[8] = {0};
	float scale[8] = {0}, slope[8] = {0};

	for (size_t ch = 0; ch < c; ch++) {
		acc[ch] = bias_q ? (uint32_t)bias_q[ch] : 0;
		scale[ch] = rq->scale[ch];
		slope[ch] = rq->act == FW_ACT_PRELU ? rq->slope[ch] : 0.0f;
	}
	for (int ky = 0; ky < g->k_h; ky++) {
		const int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

		for (int kx = 0; kx < g->k_w; kx++) {
			const int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;
			const int ok = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
			const uint8_t *ip = ok ? in + ((size_t)iy * (size_t)g->in_w + (size_t)ix) * c : NULL;
			const int8_t *wp = w + ((size_t)ky * (size_t)g->k_w + (size_t)kx) * c;

			for (size_t ch = 0; ch < c; ch++)
				acc[ch] += (uint32_t)((int32_t)(ip ? ip[ch] : zero_in) * (int32_t)wp[ch]);
		}
	}

	const int32x4_t zo = vdupq_n_s32(rq->zero_out);
	const uint32x4_t a0 = vld1q_u32(acc), a1 = vld1q_u32(acc + 4);
	uint8_t tmp[8];

	if (of) {
		store_f32(of, act4(vreinterpretq_s32_u32(a0), vld1q_f32(scale), vld1q_f32(slope), rq->act),
			  act4(vreinterpretq_s32_u32(a1), vld1q_f32(scale + 4), vld1q_f32(slope + 4), rq->act),
			  (int)c);
		return;
	}

	vst1_u8(tmp, narrow8(requant4(vreinterpretq_s32_u32(a0), vld1q_f32(scale), vld1q_f32(slope),
				      rq->act, zo),
			     requant4(vreinterpretq_s32_u32(a1), vld1q_f32(scale + 4),
				      vld1q_f32(slope + 4), rq->act, zo)));
	memcpy(o, tmp, c);
}

/* into out (u8) or outf (float): one of them is NULL */
static void dw_run(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, const int8_t *w,
		   const int32_t *bias_q, const struct fw_q8_requant *rq, uint8_t *out, float *outf)
{
	const int c = g->in_c;

	assert(g->out_c == g->in_c);
	assert(rq->act == FW_ACT_NONE || rq->act == FW_ACT_RELU || rq->act == FW_ACT_PRELU);
	assert(rq->act != FW_ACT_PRELU || rq->slope);

	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			const size_t at = ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)c;
			uint8_t *o = out ? out + at : NULL;
			float *of = outf ? outf + at : NULL;

			if (c < 8) {
				dw_pixel_small(g, in, zero_in, w, bias_q, rq, oy, ox, o, of);
				continue;
			}
			/* A ragged end is done as the last whole block, overlapping the one before:
			 * those channels are computed twice, to the same bytes. */
			if (c >= 16) {
				int ch = 0;

				for (; ch + 16 <= c; ch += 16)
					dw_block(g, in, zero_in, w, bias_q, rq, oy, ox, ch, 16, o, of);
				if (ch + 8 <= c) {
					dw_block(g, in, zero_in, w, bias_q, rq, oy, ox, ch, 8, o, of);
					ch += 8;
				}
				if (ch < c)
					dw_block(g, in, zero_in, w, bias_q, rq, oy, ox, c - 8, 8, o, of);
			} else {
				dw_block(g, in, zero_in, w, bias_q, rq, oy, ox, 0, 8, o, of);
				if (c > 8)
					dw_block(g, in, zero_in, w, bias_q, rq, oy, ox, c - 8, 8, o, of);
			}
		}
	}
}

static void neon_dwconv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			uint8_t *out)
{
	dw_run(g, in, zero_in, w, bias_q, rq, out, NULL);
}

static void neon_dwconv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			    const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			    float *out)
{
	dw_run(g, in, zero_in, w, bias_q, rq, NULL, out);
}

/* ---- add (both tables) ------------------------------------------------------------------ */

/* q8.h's fixed-point add, 16 elements at a time: a and b widened to u16, then with the
 * multipliers split as q8.h says (ml 15 bits, mh 7), umlal by the scalars onto c (u32
 * lanes wrap modulo 2^32: the bits of the exact int32 sums), for shift >= 15
 *   u = (c + a ml_a + b ml_b) >> 15,  q = (u + a mh_a + b mh_b) >> (shift - 15)
 * and below it t = c + a ml_a + b ml_b + ((a mh_a + b mh_b) << 15), q = t >> shift
 * (sshl by a negative count: an arithmetic shift right, floor); then sqxtn to s16,
 * + zy saturated (values saturated at the narrowing stay outside 0..255), ReLU as
 * max(q + zy, zy), sqxtun to u8. */
struct add_consts {
	uint32x4_t c;
	int32x4_t shift;   /* -(shift - 15), or -shift when wide */
	int16x8_t zy;
	uint16_t mla, mlb, mha, mhb;
	int relu, wide;
};

static FW_INLINE int32x4_t add4(uint16x4_t a, uint16x4_t b, const struct add_consts *k)
{
	const uint32x4_t l = vmlal_n_u16(vmlal_n_u16(k->c, a, k->mla), b, k->mlb);

	if (k->wide) {
		const uint32x4_t h = vmlal_n_u16(vmull_n_u16(a, k->mha), b, k->mhb);

		return vshlq_s32(vreinterpretq_s32_u32(vaddq_u32(l, vshlq_n_u32(h, 15))), k->shift);
	}
	const uint32x4_t u = vreinterpretq_u32_s32(vshrq_n_s32(vreinterpretq_s32_u32(l), 15));

	return vshlq_s32(vreinterpretq_s32_u32(vmlal_n_u16(vmlal_n_u16(u, a, k->mha), b, k->mhb)), k->shift);
}

static FW_INLINE int16x8_t add8(uint16x8_t a, uint16x8_t b, const struct add_consts *k)
{
	const int32x4_t tl = add4(vget_low_u16(a), vget_low_u16(b), k);
	const int32x4_t th = add4(vget_high_u16(a), vget_high_u16(b), k);
	int16x8_t q = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(tl), th), k->zy);

	if (k->relu)
		q = vmaxq_s16(q, k->zy);
	return q;
}

static FW_INLINE uint8x16_t add16(const uint8_t *a, const uint8_t *b, const struct add_consts *k)
{
	const uint8x16_t va = vld1q_u8(a), vb = vld1q_u8(b);
	const int16x8_t lo = add8(vmovl_u8(vget_low_u8(va)), vmovl_u8(vget_low_u8(vb)), k);
	const int16x8_t hi = add8(vmovl_high_u8(va), vmovl_high_u8(vb), k);

	return vqmovun_high_s16(vqmovun_s16(lo), hi);
}

static void neon_add(const uint8_t *a, const uint8_t *b, size_t n, const struct fw_q8_add *p,
			uint8_t *out)
{
	const int wide = p->shift < 15;
	const struct add_consts k = {
		.c = vreinterpretq_u32_s32(vdupq_n_s32(p->c)),
		.shift = vdupq_n_s32(wide ? -p->shift : 15 - p->shift),
		.zy = vdupq_n_s16((int16_t)p->zy),
		.mla = (uint16_t)(p->ma & 0x7fff),
		.mlb = (uint16_t)(p->mb & 0x7fff),
		.mha = (uint16_t)(p->ma >> 15),
		.mhb = (uint16_t)(p->mb >> 15),
		.relu = p->act == FW_ACT_RELU,
		.wide = wide,
	};

	assert(p->act == FW_ACT_NONE || p->act == FW_ACT_RELU);
	if (n < 16) {
		uint8_t ta[16] = {0}, tb[16] = {0}, to[16];

		memcpy(ta, a, n);
		memcpy(tb, b, n);
		vst1q_u8(to, add16(ta, tb, &k));
		memcpy(out, to, n);
		return;
	}
	size_t i = 0;

	for (; i + 16 <= n; i += 16)
		vst1q_u8(out + i, add16(a + i, b + i, &k));
	if (i < n) /* the last 16, overlapping: out never aliases a or b */
		vst1q_u8(out + n - 16, add16(a + n - 16, b + n - 16, &k));
}

/* PAD then ADD in one pass (q8.h): b widened block by block in L1, then neon_add */
static void neon_add_cpad(const uint8_t *a, const uint8_t *b, size_t pixels, int c, int cb,
			  const struct fw_q8_add *p, uint8_t *out)
{
	fw_q8_cpad_run(a, b, pixels, c, cb, p, out, neon_add, fw_q8_widen_c);
}

/* ---- tables ----------------------------------------------------------------------------- */

const struct fw_q8_kernels fw_q8_neon_kernels = {
	.isa = FW_ISA_NEON,
	.name = "neon",
	.conv_packed_size = neon_conv_packed_size,
	.conv_pack = neon_conv_pack,
	.conv_scratch = neon_conv_scratch,
	.conv = neon_conv,
	.dwconv = neon_dwconv,
	.conv_f32 = neon_conv_f32,
	.dwconv_f32 = neon_dwconv_f32,
	.add = neon_add,
	.add_cpad = neon_add_cpad,
};

const struct fw_q8_kernels fw_q8_neondot_kernels = {
	.isa = FW_ISA_NEON_DOT,
	.name = "neondot",
	.conv_packed_size = dot_conv_packed_size,
	.conv_pack = dot_conv_pack,
	.conv_scratch = dot_conv_scratch,
	.conv = dot_conv,
	.dwconv = neon_dwconv,
	.conv_f32 = dot_conv_f32,
	.dwconv_f32 = neon_dwconv_f32,
	.add = neon_add,
	.add_cpad = neon_add_cpad,
};

#endif /* __aarch64__ */
