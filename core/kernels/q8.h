/* int8 kernels: u8 activations (per-tensor scale and zero point), s8
 * weights (per-output-channel symmetric), int32 accumulation, and
 * requantisation fused into the epilogue.
 *
 * Integer maths, identical on every ISA. Each ISA tier (ref, AVX2, AVX-512
 * VNNI, NEON, NEON dotprod) must produce the same bytes as the reference
 * for every input: the accumulation is exact in int32, and the epilogue is
 * the same sequence of IEEE float operations everywhere:
 *
 *   acc  = bias_q[oc] + sum_k in[k] * w[k]          (int32, exact; in is u8, w is s8)
 *   v    = (float)acc * rq->scale[oc]                (one float multiply, no FMA)
 *   RELU:  v = v > 0 ? v : 0                          PRELU: v = v >= 0 ? v : v * rq->slope[oc]
 *   q    = (int32)nearbyint(v) + rq->zero_out         (round half to even: lrintf,
 *                                                      cvtps2dq, vcvtnq_s32_f32)
 *   out  = clamp(q, 0, 255)
 *
 * (float)acc rounds to nearest even on every ISA (cvtdq2ps, vcvtq_f32_s32).
 * The elementwise add has no float step at all (struct fw_q8_add).
 * The input zero point is folded into bias_q by the caller:
 *   bias_q[oc] = round(bias / (s_in * s_w[oc])) - zero_in * sum_k w[oc][k]
 * and padded taps read zero_in (the u8 code of real 0), so padding needs no
 * special case in the maths (im2col fills zero_in).
 *
 * Float outputs (conv_f32, dwconv_f32): an op whose output tensor stays
 * float (its range does not fit u8) but whose input is u8 runs the same
 * integer product and stops the epilogue before the rounding:
 *
 *   v    = (float)acc * rq->scale[oc]                (rq->scale = s_in * s_w[oc])
 *   out  = RELU: v > 0 ? v : 0   PRELU: v >= 0 ? v : v * rq->slope[oc]   NONE: v
 *
 * rq->zero_out is not used. The same float bits on every ISA (the same two
 * IEEE operations), so every tier equals the reference exactly.
 *
 * Buffers: caller-owned, never allocated by a kernel; `scratch` at least the
 * bytes *_scratch() returned, 64-byte aligned. Output never overlaps input.
 * Packed weights are made once at load by conv_pack into conv_packed_size()
 * bytes (64-byte aligned) in whatever layout the ISA's kernel wants.
 */
#ifndef FW_KERNELS_Q8_H
#define FW_KERNELS_Q8_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

enum fw_isa {
	FW_ISA_REF = 0,
	FW_ISA_AVX2 = 1,
	FW_ISA_AVX512 = 2,   /* AVX-512 F/BW/VL + VNNI (vpdpbusd) */
	FW_ISA_NEON = 3,     /* aarch64 Advanced SIMD */
	FW_ISA_NEON_DOT = 4, /* aarch64 + dot product (sdot/udot/usdot as available) */
	FW_ISA_AMX = 5,      /* FW_ISA_AVX512 with the convs' GEMM on AMX-INT8 tiles */
	FW_ISA_COUNT
};

/* Per-output-channel requantisation of an int32 accumulator (see above). */
struct fw_q8_requant {
	const float *scale;   /* [out_c]: s_in * s_w[oc] / s_out (float output: s_in * s_w[oc]) */
	const float *slope;   /* [out_c] PReLU slopes, or NULL unless act == PRELU */
	int32_t zero_out;     /* output zero point, 0..255 */
	int act;              /* enum fw_act */
};

/* Elementwise add of two u8 tensors with their own scales, in fixed point
 * (integer maths only, so every ISA gives the same bytes by construction):
 *
 *   t = a * ma + b * mb + c                  (exact integer; a, b the u8 codes)
 *   q = floor(t / 2^shift)
 *   RELU: q = max(q, 0)
 *   out = clamp(q + zy, 0, 255)
 *
 * with ma = round(sa / sy * 2^shift), mb likewise, shift the largest in
 * [0, 30] that keeps both <= FW_Q8_ADD_MAX_M = 2^22 - 1 (if even shift 0
 * does not, they are capped there and the output saturates as the real sum
 * would), and c = 2^(shift-1) - za * ma - zb * mb (0 - ... at shift 0), so
 * q + zy is the real sum ((a - za) * sa + (b - zb) * sb) / sy + zy rounded
 * half up, give or take 255 / 2^shift from the multipliers' rounding:
 * at most r / 8000 codes for the larger ratio r = sa / sy (22 bits, a float
 * mantissa's precision; a real model's ratios are 0.1 .. 2). max(q, 0) is
 * max(t, 2^(shift-1)) >> shift. Filled once, when the op is planned, by
 * fw_q8_add_prepare.
 *
 * 22 bits, not the 15 of one vpmaddwd: with 15, BlazeFace short int8 lost a
 * golden detection (tests/golden/test_int8_golden.c; error up to 0.016 code
 * per add), with 22 its outputs are those of the float add this replaced.
 * The kernels split m = mh * 2^15 + ml (ml 15 bits, mh 7) and never form t:
 * for shift >= 15 (ratios up to 128)
 *   q = floor((P.mh + floor((P.ml + c) / 2^15)) / 2^(shift-15))
 * where P.m = a * m_a + b * m_b is one vpmaddwd / vpdpwssd of the pair
 * (a, b) in 16-bit lanes; floor(floor(x / 2^i) / 2^j) = floor(x / 2^(i+j))
 * makes it exact. Every term fits int32: c in [-2 * 255 * MAX_M, 2^29],
 * P.ml + c in [c, c + 2^24), P.mh + that / 2^15 below 2^17. Below shift 15
 * t itself fits: |t| <= 2 * 255 * MAX_M + 2^13 < 2^31. */
#define FW_Q8_ADD_MAX_M 4194303
struct fw_q8_add {
	int32_t ma, mb;       /* 0..FW_Q8_ADD_MAX_M */
	int32_t c;
	int shift;            /* 0..30 */
	int32_t za, zb, zy;   /* 0..255 (zb also fills add_cpad's padding) */
	int act;              /* NONE or RELU */
};

/* The fixed-point parameters of an add of a (scale sa, zero point za) and
 * b (sb, zb) into y (sy, zy), as defined above. A scale ratio sa / sy
 * that is not finite and positive (a NaN, an infinity, sy <= 0: a broken
 * calibration) gives multiplier 0: that operand is ignored, never a crash.
 * Zero points are clamped to 0..255. */
void fw_q8_add_prepare(struct fw_q8_add *p, float sa, float sb, float sy, int32_t za, int32_t zb,
		       int32_t zy, int act);

/* One output row of a bilinear resize, on dequantised input rows, in
 * fw_resize_bilinear_f32's float maths, quantised as fw_q8_quantize:
 *   o[x][ch] = r0[x0[x]][ch] * wy0 * wx0[x] + r1[x0[x]][ch] * wy1 * wx0[x]
 *            + r0[x1[x]][ch] * wy0 * wx1[x] + r1[x1[x]][ch] * wy1 * wx1[x]
 * (each product left to right, the sum left to right; no FMA). */
struct fw_q8_resize_row {
	const float *r0, *r1;     /* input rows y0, y1: in_w * c floats */
	float wy0, wy1;
	const int *x0, *x1;       /* [out_w] input columns */
	const float *wx0, *wx1;   /* [out_w] */
	int out_w, c;
	float inv_s;              /* output: 1 / scale, zero point */
	int32_t z;
};

struct fw_q8_kernels {
	enum fw_isa isa;
	const char *name;     /* "ref", "avx2", "avx512", "amx", "neon", "neondot" */

	/* conv2d (and FC as a 1x1 conv on a 1x1xI input): weights OHWI s8. */
	size_t (*conv_packed_size)(const struct fw_conv_geom *g);
	void (*conv_pack)(const struct fw_conv_geom *g, const int8_t *w, void *packed);
	size_t (*conv_scratch)(const struct fw_conv_geom *g);
	void (*conv)(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		     const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
		     uint8_t *out, void *scratch);

	/* depthwise conv, multiplier 1, weights 1HWC s8 (not packed). Padded taps
	 * read zero_in. */
	void (*dwconv)(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		       const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
		       uint8_t *out);

	/* conv and dwconv with a float output (see the top): the same packed
	 * weights, scratch size and arguments, out_h * out_w * out_c floats out. */
	void (*conv_f32)(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			 const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
			 float *out, void *scratch);
	void (*dwconv_f32)(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			   const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			   float *out);

	void (*add)(const uint8_t *a, const uint8_t *b, size_t n, const struct fw_q8_add *p,
		    uint8_t *out);

	/* add with b zero-padded in channels (BlazeBlock's skip path, PAD then
	 * ADD, in one pass): over `pixels` pixels, a and out hold c channels
	 * per pixel, b only the first cb <= c; the missing ones read zb, as
	 * PAD fills them:  out[p][ch] = add(a[p][ch], ch < cb ? b[p][ch] : zb).
	 * The same bytes as fw_q8_pad then add. NULL where a table has none
	 * (the model planner then keeps the PAD). */
	void (*add_cpad)(const uint8_t *a, const uint8_t *b, size_t pixels, int c, int cb,
			 const struct fw_q8_add *p, uint8_t *out);

	/* One output row of fw_q8_resize_bilinear; NULL: the plain C one. */
	void (*resize_row)(const struct fw_q8_resize_row *r, uint8_t *out);

	/* fw_q8_quantize / fw_q8_dequantize, the same bytes; NULL: those. */
	void (*quantize)(const float *x, size_t n, float inv_s, int32_t z, uint8_t *q);
	void (*dequantize)(const uint8_t *q, size_t n, float s, int32_t z, float *x);
};

/* The table for an ISA, or NULL if this build/CPU cannot run it. */
const struct fw_q8_kernels *fw_q8_kernels_for(enum fw_isa isa);

/* The best ISA this CPU runs, unless FACEWATCH_ISA=ref|avx2|avx512|amx|neon|neondot
 * forces one (an ISA the CPU lacks is refused with a logged message and the
 * best available is used). Decided once; thread-safe. */
enum fw_isa fw_isa_active(void);
const char *fw_isa_name(enum fw_isa isa);

/* ISA-independent u8 ops (memory-bound; plain C). */
void fw_q8_maxpool(const struct fw_conv_geom *g, const uint8_t *in, uint8_t *out);
/* pad[8] as fw_pad_f32; fills with `fill` (the zero point). */
void fw_q8_pad(const int in_dims[4], const int pad[8], const uint8_t *in, uint8_t fill,
	       uint8_t *out);
void fw_q8_concat(int n, const int (*dims)[4], const uint8_t *const *in, int axis, uint8_t *out);

/* RESIZE_BILINEAR between u8 tensors, giving exactly the bytes of
 * fw_q8_dequantize, fw_resize_bilinear_f32, fw_q8_quantize (its float
 * maths row by row with k's resize_row, so no float image is written).
 * scratch: fw_q8_resize_bilinear_scratch() bytes, 64-byte aligned. */
size_t fw_q8_resize_bilinear_scratch(int in_h, int in_w, int c, int out_w);
void fw_q8_resize_bilinear(const struct fw_q8_kernels *k, int in_h, int in_w, int c,
			   const uint8_t *in, float s_in, int32_t z_in, int out_h, int out_w,
			   uint8_t *out, float inv_s_out, int32_t z_out, int half_pixel,
			   int align_corners, void *scratch);
/* the plain C row (k->resize_row NULL) */
void fw_q8_resize_row_c(const struct fw_q8_resize_row *r, uint8_t *out);

/* Conversions at the int8 region's edges: q = clamp(nearbyint(x * inv_s) + z, 0, 255),
 * x = s * (q - z). */
void fw_q8_quantize(const float *x, size_t n, float inv_s, int32_t z, uint8_t *q);
void fw_q8_dequantize(const uint8_t *q, size_t n, float s, int32_t z, float *x);

#endif
