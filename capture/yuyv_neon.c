/* YUYV -> RGB24 rows with NEON (aarch64): 32 pixels per step, bit-identical
 * to the C reference in yuyv.c: the same integer formula in 32-bit lanes
 * (298 C + 128 and the 409, -100, -208, 516 chroma terms, >> 8), saturating
 * narrows as the clamp. vld4 splits Y0 U Y1 V, vst3 writes R G B: each
 * step writes exactly its own 96 bytes. Advanced SIMD is part of every
 * aarch64 CPU, so there is no run-time check.
 */
#include "capture/jpeg_internal.h"

#include <arm_neon.h>

/* 4 pixels of one parity: (C + chroma term) >> 8 for each channel. */
static inline int16x4_t chan(int32x4_t l, int32x4_t term)
{
	return vqmovn_s32(vshrq_n_s32(vaddq_s32(l, term), 8));
}

int fw_yuyv_row_neon(const uint8_t *restrict s, uint8_t *restrict o, int pairs)
{
	int i = 0;

	/* 16 pairs (64 bytes in, 96 out) per step */
	for (; i + 16 <= pairs; i += 16) {
		uint8x16x4_t v = vld4q_u8(s + 4 * (size_t)i);
		int16x8_t y0[2], y1[2], u[2], w[2];
		int16x4_t r0[4], g0[4], b0[4], r1[4], g1[4], b1[4];
		uint8x16x2_t rr, gg, bb;
		uint8x16x3_t out;

		/* C = Y - 16, D = U - 128, E = V - 128 as int16, low and high 8 */
		y0[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v.val[0])));
		y0[1] = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(v.val[0])));
		y1[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v.val[2])));
		y1[1] = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(v.val[2])));
		u[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v.val[1])));
		u[1] = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(v.val[1])));
		w[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(v.val[3])));
		w[1] = vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(v.val[3])));
		for (int h = 0; h < 2; h++) {
			y0[h] = vsubq_s16(y0[h], vdupq_n_s16(16));
			y1[h] = vsubq_s16(y1[h], vdupq_n_s16(16));
			u[h] = vsubq_s16(u[h], vdupq_n_s16(128));
			w[h] = vsubq_s16(w[h], vdupq_n_s16(128));
		}
		/* quarter q: pairs 4q .. 4q+3 */
		for (int q = 0; q < 4; q++) {
			int h = q >> 1;
			int16x4_t c0 = q & 1 ? vget_high_s16(y0[h]) : vget_low_s16(y0[h]);
			int16x4_t c1 = q & 1 ? vget_high_s16(y1[h]) : vget_low_s16(y1[h]);
			int16x4_t d = q & 1 ? vget_high_s16(u[h]) : vget_low_s16(u[h]);
			int16x4_t e = q & 1 ? vget_high_s16(w[h]) : vget_low_s16(w[h]);
			int32x4_t l0 = vmlal_n_s16(vdupq_n_s32(128), c0, 298);
			int32x4_t l1 = vmlal_n_s16(vdupq_n_s32(128), c1, 298);
			int32x4_t tr = vmull_n_s16(e, 409);
			int32x4_t tg = vmlal_n_s16(vmull_n_s16(d, -100), e, -208);
			int32x4_t tb = vmull_n_s16(d, 516);

			r0[q] = chan(l0, tr);
			g0[q] = chan(l0, tg);
			b0[q] = chan(l0, tb);
			r1[q] = chan(l1, tr);
			g1[q] = chan(l1, tg);
			b1[q] = chan(l1, tb);
		}
#define FW_U8(x) vcombine_u8(vqmovun_s16(vcombine_s16(x[0], x[1])), \
			     vqmovun_s16(vcombine_s16(x[2], x[3])))
		/* even and odd pixels back in order */
		rr = vzipq_u8(FW_U8(r0), FW_U8(r1));
		gg = vzipq_u8(FW_U8(g0), FW_U8(g1));
		bb = vzipq_u8(FW_U8(b0), FW_U8(b1));
#undef FW_U8
		out.val[0] = rr.val[0];
		out.val[1] = gg.val[0];
		out.val[2] = bb.val[0];
		vst3q_u8(o + 6 * (size_t)i, out);
		out.val[0] = rr.val[1];
		out.val[1] = gg.val[1];
		out.val[2] = bb.val[1];
		vst3q_u8(o + 6 * (size_t)i + 48, out);
	}
	return i;
}
