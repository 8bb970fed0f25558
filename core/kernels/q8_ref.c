/* int8 reference kernels: the definition of correct for every ISA tier
 * (core/kernels/q8.h). Plain C, written for clarity, not speed: conv is
 * im2col (padded taps read zero_in) followed by a straightforward
 * u8 x s8 -> s32 GEMM; depthwise and add are direct loops.
 *
 * Floating point: the epilogue is a multiply, then a separate round. This
 * file is built with -std=c17 and -ffp-contract=off (core/CMakeLists.txt),
 * so no multiply is ever fused with an add into an FMA. The elementwise add
 * has no float step (q8.h).
 * lrintf rounds in the current mode, which is round-to-nearest-even unless
 * someone changed it (nobody in this program does).
 *
 * Accumulation is done in uint32_t and converted back at the end: the
 * SIMD instructions wrap modulo 2^32, and unsigned arithmetic gives the
 * same bits without signed-overflow UB (unreachable for real layer sizes).
 */
#include "q8.h"
#include "../model_format.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* Looked up by name in q8_dispatch.c; no header declares the tables. */
extern const struct fw_q8_kernels fw_q8_ref_kernels;

/* The float part of q8.h's epilogue: a float output's value. */
static float act_f32(int32_t acc, float scale, float slope, int act)
{
	float v = (float)acc * scale; /* one rounding; never an FMA (see top) */

	if (act == FW_ACT_RELU)
		v = v > 0.0f ? v : 0.0f;
	else if (act == FW_ACT_PRELU)
		v = v >= 0.0f ? v : v * slope;
	return v;
}

/* The epilogue of q8.h for one accumulator. */
static uint8_t requant(int32_t acc, float scale, float slope, int act, int32_t zero_out)
{
	float v = act_f32(acc, scale, slope, act);
	long q;

	/* keep the conversion in range (q8.h); cannot change the output */
	v = v < 512.0f ? v : 512.0f;
	v = v > -512.0f ? v : -512.0f;
	q = lrintf(v) + zero_out;
	return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

/* 1x1, stride 1, unpadded, same size: the NHWC input is already A[M][K]. */
static int is_pointwise(const struct fw_conv_geom *g)
{
	return g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
	       g->pad_t == 0 && g->pad_l == 0 && g->out_h == g->in_h && g->out_w == g->in_w;
}

static size_t ref_conv_packed_size(const struct fw_conv_geom *g)
{
	return (size_t)g->out_c * (size_t)g->k_h * (size_t)g->k_w * (size_t)g->in_c;
}

/* The reference keeps OHWI as it is: W[N][K]. */
static void ref_conv_pack(const struct fw_conv_geom *g, const int8_t *w, void *packed)
{
	memcpy(packed, w, ref_conv_packed_size(g));
}

static size_t ref_conv_scratch(const struct fw_conv_geom *g)
{
	if (is_pointwise(g))
		return 0;
	return (size_t)g->out_h * (size_t)g->out_w * (size_t)g->k_h * (size_t)g->k_w * (size_t)g->in_c;
}

/* A[M][K], taps in (ky, kx, ic) order as OHWI; padded taps are zero_in. */
static void im2col(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in, uint8_t *a)
{
	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			for (int ky = 0; ky < g->k_h; ky++) {
				int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

				for (int kx = 0; kx < g->k_w; kx++) {
					int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;
					int inside = iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w;
					const uint8_t *src =
						in + ((size_t)(inside ? iy : 0) * (size_t)g->in_w + (size_t)(inside ? ix : 0)) *
							     (size_t)g->in_c;

					for (int ic = 0; ic < g->in_c; ic++)
						*a++ = inside ? src[ic] : zero_in;
				}
			}
		}
	}
}

/* conv into u8 (out) or float (outf): one of them is NULL */
static void conv_any(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		     const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
		     uint8_t *out, float *outf, void *scratch)
{
	const size_t m = (size_t)g->out_h * (size_t)g->out_w, n = (size_t)g->out_c;
	const size_t k = (size_t)g->k_h * (size_t)g->k_w * (size_t)g->in_c;
	const int8_t *w = packed;
	const uint8_t *a = in;

	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	assert(rq->act != FW_ACT_PRELU || rq->slope);
	if (!is_pointwise(g)) {
		assert(scratch);
		im2col(g, in, zero_in, scratch);
		a = scratch;
	}
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < n; j++) {
			uint32_t acc = bias_q ? (uint32_t)bias_q[j] : 0u;

			for (size_t t = 0; t < k; t++)
				acc += (uint32_t)((int32_t)a[i * k + t] * (int32_t)w[j * k + t]);
			if (outf)
				outf[i * n + j] = act_f32((int32_t)acc, rq->scale[j], rq->slope ? rq->slope[j] : 0.0f,
							  rq->act);
			else
				out[i * n + j] = requant((int32_t)acc, rq->scale[j], rq->slope ? rq->slope[j] : 0.0f,
							 rq->act, rq->zero_out);
		}
	}
}

static void ref_conv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		     const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
		     uint8_t *out, void *scratch)
{
	conv_any(g, in, zero_in, packed, bias_q, rq, out, NULL, scratch);
}

static void ref_conv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			 const void *packed, const int32_t *bias_q, const struct fw_q8_requant *rq,
			 float *out, void *scratch)
{
	conv_any(g, in, zero_in, packed, bias_q, rq, NULL, out, scratch);
}

/* depthwise into u8 (out) or float (outf): one of them is NULL */
static void dwconv_any(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		       const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
		       uint8_t *out, float *outf)
{
	const int c = g->in_c;

	assert(g->out_c == g->in_c);
	assert(g->stride_h >= 1 && g->stride_w >= 1 && g->dil_h >= 1 && g->dil_w >= 1);
	assert(rq->act != FW_ACT_PRELU || rq->slope);
	for (int oy = 0; oy < g->out_h; oy++) {
		for (int ox = 0; ox < g->out_w; ox++) {
			for (int ch = 0; ch < c; ch++) {
				uint32_t acc = bias_q ? (uint32_t)bias_q[ch] : 0u;

				for (int ky = 0; ky < g->k_h; ky++) {
					int iy = oy * g->stride_h - g->pad_t + ky * g->dil_h;

					for (int kx = 0; kx < g->k_w; kx++) {
						int ix = ox * g->stride_w - g->pad_l + kx * g->dil_w;
						int x = zero_in;

						if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w)
							x = in[((size_t)iy * (size_t)g->in_w + (size_t)ix) * (size_t)c +
							       (size_t)ch];
						acc += (uint32_t)(x * (int32_t)w[(size_t)(ky * g->k_w + kx) * (size_t)c +
										 (size_t)ch]);
					}
				}
				const size_t at = ((size_t)oy * (size_t)g->out_w + (size_t)ox) * (size_t)c + (size_t)ch;
				const float slope = rq->slope ? rq->slope[ch] : 0.0f;

				if (outf)
					outf[at] = act_f32((int32_t)acc, rq->scale[ch], slope, rq->act);
				else
					out[at] = requant((int32_t)acc, rq->scale[ch], slope, rq->act, rq->zero_out);
			}
		}
	}
}

static void ref_dwconv(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
		       const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
		       uint8_t *out)
{
	dwconv_any(g, in, zero_in, w, bias_q, rq, out, NULL);
}

static void ref_dwconv_f32(const struct fw_conv_geom *g, const uint8_t *in, uint8_t zero_in,
			   const int8_t *w, const int32_t *bias_q, const struct fw_q8_requant *rq,
			   float *out)
{
	dwconv_any(g, in, zero_in, w, bias_q, rq, NULL, out);
}

/* floor(t / 2^s): an arithmetic shift, spelled so that C defines it (>>
 * of a negative integer is implementation-defined); compilers emit one sar */
static int64_t shift_floor(int64_t t, int s)
{
	return t >= 0 ? t >> s : ~(~t >> s);
}

/* q8.h's add of one pair: integers only (struct fw_q8_add); t in 64 bits,
 * the plain statement of what the kernels compute in 32 */
static uint8_t add1(int32_t a, int32_t b, const struct fw_q8_add *p)
{
	int64_t q = shift_floor((int64_t)a * p->ma + (int64_t)b * p->mb + p->c, p->shift);

	if (p->act == FW_ACT_RELU)
		q = q > 0 ? q : 0;
	q += p->zy;
	return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

/* the ranges q8.h's no-overflow argument rests on (fw_q8_add_prepare's) */
static void add_check(const struct fw_q8_add *p)
{
	assert(p->act == FW_ACT_NONE || p->act == FW_ACT_RELU);
	assert(p->ma >= 0 && p->ma <= FW_Q8_ADD_MAX_M && p->mb >= 0 && p->mb <= FW_Q8_ADD_MAX_M);
	assert(p->shift >= 0 && p->shift <= 30);
	assert(p->za >= 0 && p->za <= 255 && p->zb >= 0 && p->zb <= 255 && p->zy >= 0 && p->zy <= 255);
	(void)p;
}

static void ref_add(const uint8_t *a, const uint8_t *b, size_t n, const struct fw_q8_add *p,
		    uint8_t *out)
{
	add_check(p);
	for (size_t i = 0; i < n; i++)
		out[i] = add1(a[i], b[i], p);
}

static void ref_add_cpad(const uint8_t *a, const uint8_t *b, size_t pixels, int c, int cb,
			 const struct fw_q8_add *p, uint8_t *out)
{
	add_check(p);
	assert(cb >= 0 && cb <= c);
	for (size_t px = 0; px < pixels; px++, a += c, b += cb, out += c)
		for (int ch = 0; ch < c; ch++)
			out[ch] = add1(a[ch], ch < cb ? b[ch] : p->zb, p);
}

const struct fw_q8_kernels fw_q8_ref_kernels = {
	.isa = FW_ISA_REF,
	.name = "ref",
	.conv_packed_size = ref_conv_packed_size,
	.conv_pack = ref_conv_pack,
	.conv_scratch = ref_conv_scratch,
	.conv = ref_conv,
	.dwconv = ref_dwconv,
	.conv_f32 = ref_conv_f32,
	.dwconv_f32 = ref_dwconv_f32,
	.add = ref_add,
	.add_cpad = ref_add_cpad,
};
