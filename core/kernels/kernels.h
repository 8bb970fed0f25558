/* Float CNN kernels: one plain C reference per op (the definition of correct)
 * and faster variants behind the same signature.
 *
 * Contract for every kernel here:
 *  - tensors are NHWC with N = 1, contiguous, float32;
 *  - the caller owns every buffer; kernels never allocate;
 *  - `scratch` (where taken) is at least the bytes the matching *_scratch()
 *    function returned for the same params, 64-byte aligned;
 *  - the epilogue applies bias, then the activation (enum fw_act in
 *    core/model_format.h): NONE, RELU, or PRELU with a per-output-channel slope
 *    (slope may be negative; y = x >= 0 ? x : slope[c] * x);
 *  - kernels are reentrant and keep no state.
 * Fast variants must agree with the reference within 1e-5 relative to the
 * largest |output| (float summation order differs); tests/unit/test_kernels.c
 * checks this on awkward shapes.
 */
#ifndef FW_KERNELS_H
#define FW_KERNELS_H

#include <stddef.h>

struct fw_conv_geom {
	int in_h, in_w, in_c;
	int out_h, out_w, out_c;   /* dwconv: out_c == in_c */
	int k_h, k_w;
	int stride_h, stride_w;
	int dil_h, dil_w;
	int pad_t, pad_l;          /* padding before; after is implied by out_h/out_w */
	int act;                   /* enum fw_act */
};

/* conv2d, weights OHWI [out_c][k_h][k_w][in_c]; bias [out_c] or NULL; slope [out_c] (PRELU only). */
void fw_conv2d_f32_ref(const struct fw_conv_geom *g, const float *in, const float *w,
		       const float *bias, const float *slope, float *out);
/* Fast conv2d: 1x1/stride-1 as one GEMM, others as im2col + cblas_sgemm. */
size_t fw_conv2d_f32_scratch(const struct fw_conv_geom *g);
void fw_conv2d_f32_gemm(const struct fw_conv_geom *g, const float *in, const float *w,
			const float *bias, const float *slope, float *out, float *scratch);

/* Depthwise conv, multiplier 1, weights 1HWC [k_h][k_w][c]. */
void fw_dwconv2d_f32_ref(const struct fw_conv_geom *g, const float *in, const float *w,
			 const float *bias, const float *slope, float *out);
void fw_dwconv2d_f32_fast(const struct fw_conv_geom *g, const float *in, const float *w,
			  const float *bias, const float *slope, float *out);

/* Max pool; padded cells never win (as TFLite: -inf padding). act is ignored. */
void fw_maxpool_f32(const struct fw_conv_geom *g, const float *in, float *out);

/* out[i] = act(a[i] + b[i]), n elements; act NONE or RELU. out may alias a or b. */
void fw_add_f32(const float *a, const float *b, float *out, size_t n, int act);

/* Zero padding on every axis of an NHWC tensor: pad[8] = {n0,n1,h0,h1,w0,w1,c0,c1}.
 * in dims {in_n,in_h,in_w,in_c}; out dims are in dims plus the pads. */
void fw_pad_f32(const int in_dims[4], const int pad[8], const float *in, float *out);

/* Bilinear resize of [in_h][in_w][c] to [out_h][out_w][c].
 * half_pixel: src = (dst + 0.5) * in/out - 0.5 (clamped at 0 below); align_corners: src = dst * (in-1)/(out-1).
 * Neither: src = dst * in/out (legacy). Source indices clamped to the edge. */
void fw_resize_bilinear_f32(int in_h, int in_w, int c, const float *in, int out_h, int out_w,
			    float *out, int half_pixel, int align_corners);

/* fw_resize_bilinear_f32's geometry, for every resize that must give its
 * floats (the u8 resize in q8_ops.c): the source/destination scale of an
 * axis, and a destination index's source coordinate with its two source
 * neighbours, clamped to the edge. */
float fw_resize_scale(int in_size, int out_size, int align_corners);
void fw_resize_coord(int dst, float scale, int half_pixel, int in_size, float *src, int *lo,
		     int *hi);

/* Concatenate n tensors of dims dims[i][4] along axis (0..3) into out. */
void fw_concat_f32(int n, const int (*dims)[4], const float *const *in, int axis, float *out);

/* Fully connected: out[o] = act(sum_i w[o*n_in+i] * in[i] + bias[o]). */
void fw_fc_f32_ref(int n_in, int n_out, const float *in, const float *w, const float *bias,
		   const float *slope, int act, float *out);
void fw_fc_f32_blas(int n_in, int n_out, const float *in, const float *w, const float *bias,
		    const float *slope, int act, float *out);

/* Softmax over the last axis: rows x n, in place allowed. */
void fw_softmax_f32(int rows, int n, const float *in, float *out);

/* One BLAS thread: facewatch's budget is one core, and small GEMMs lose more
 * to thread hand-off than they gain. OpenBLAS reads OPENBLAS_NUM_THREADS when
 * the library loads, before main() runs, so programs call this instead of
 * setting the variable. Call before other threads start. */
void fw_kernels_single_thread(void);

/* Epilogue shared by the conv kernels: bias + activation on a [rows][c] block, in place. */
void fw_epilogue_f32(float *y, int rows, int c, const float *bias, const float *slope, int act);

#endif
