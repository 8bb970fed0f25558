/* Conv geometries for the kernel tests (test_kernels, the int8 tests
 * through q8check.h): one the converter's way, and a random pick.
 * Include after <cmocka.h>. */
#ifndef FW_CONVGEOM_H
#define FW_CONVGEOM_H

#include <stddef.h>

#include "core/kernels/kernels.h"
#include "testutil.h"

/* One of the n values at v, at random. */
static inline int tu_pick(const int *v, size_t n)
{
	return v[tu_randi(0, (int)n - 1)];
}

/* A conv geometry; out = (in + pads - span) / s + 1, as the converter
 * writes it; -1 if the padded input is smaller than the dilated kernel. */
static inline int tu_make_geom(struct fw_conv_geom *g, int in_h, int in_w, int in_c, int out_c, int k_h,
			       int k_w, int s_h, int s_w, int d_h, int d_w, int pad_t, int pad_b, int pad_l,
			       int pad_r, int act)
{
	int span_h = (k_h - 1) * d_h + 1, span_w = (k_w - 1) * d_w + 1;

	if (in_h + pad_t + pad_b < span_h || in_w + pad_l + pad_r < span_w)
		return -1;
	*g = (struct fw_conv_geom){
		.in_h = in_h, .in_w = in_w, .in_c = in_c,
		.out_h = (in_h + pad_t + pad_b - span_h) / s_h + 1,
		.out_w = (in_w + pad_l + pad_r - span_w) / s_w + 1,
		.out_c = out_c,
		.k_h = k_h, .k_w = k_w, .stride_h = s_h, .stride_w = s_w, .dil_h = d_h, .dil_w = d_w,
		.pad_t = pad_t, .pad_l = pad_l, .act = act,
	};
	return 0;
}

/* A real model layer's shape, as the kernel tests list them: square
 * kernel kk, stride s on both axes, pads pad_t / pad_b on both axes. */
struct tu_layer_shape {
	int dw, in_h, in_w, in_c, out_c, kk, s, pad_t, pad_b, act;
};

/* tu_make_geom of a tu_layer_shape (dilation 1). */
static inline int tu_layer_geom(struct fw_conv_geom *g, const struct tu_layer_shape *l)
{
	return tu_make_geom(g, l->in_h, l->in_w, l->in_c, l->out_c, l->kk, l->kk, l->s, l->s, 1, 1, l->pad_t,
			    l->pad_b, l->pad_t, l->pad_b, l->act);
}

#endif
