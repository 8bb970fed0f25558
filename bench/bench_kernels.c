/* bench_kernels: reference vs fast float kernels on real layer shapes of
 * BlazeFace short and MobileFaceNet (from models/golden/layers/ index.json).
 *
 * Build (until bench/CMakeLists.txt builds it):
 *   cc -O2 -I. bench/bench_kernels.c -L<build>/core -lfwcore -lopenblas -lm
 * Run single-threaded, as the daemon runs inference:
 *   OPENBLAS_NUM_THREADS=1 ./bench_kernels
 *
 * Each kernel is run twice to warm caches, then timed 21 times with
 * CLOCK_MONOTONIC; the median is reported. GFLOP/s counts 2 flops per
 * multiply-add over the full kernel window (padded taps included), the usual
 * convention. Prints a table; asserts nothing.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels/kernels.h"
#include "core/model_format.h"

#define RUNS 21

enum kind { CONV, DWCONV, FC };

struct layer {
	const char *model, *what;
	enum kind kind;
	int in_h, in_w, in_c, out_c, k, stride, pad_t, pad_b; /* square kernels, pads same on l/r */
	int act;
};

/* From blaze_short/index.json and mobilefacenet/index.json (layer index in the name). */
static const struct layer layers[] = {
	{"blaze_short", "#0 conv 5x5/s2 128x128x3->24", CONV, 128, 128, 3, 24, 5, 2, 1, 2, FW_ACT_NONE},
	{"blaze_short", "#2 dw 3x3/s1 64x64x24", DWCONV, 64, 64, 24, 24, 3, 1, 1, 1, FW_ACT_NONE},
	{"blaze_short", "#3 conv 1x1 64x64x24->24", CONV, 64, 64, 24, 24, 1, 1, 0, 0, FW_ACT_NONE},
	{"blaze_short", "#11 dw 3x3/s2 64x64x28", DWCONV, 64, 64, 28, 28, 3, 2, 0, 1, FW_ACT_NONE},
	{"blaze_short", "#38 dw 3x3/s1 16x16x56", DWCONV, 16, 16, 56, 56, 3, 1, 1, 1, FW_ACT_NONE},
	{"blaze_short", "#65 conv 1x1 8x8x96->96", CONV, 8, 8, 96, 96, 1, 1, 0, 0, FW_ACT_NONE},
	{"mobilefacenet", "#0 conv 3x3/s2 112x112x3->64", CONV, 112, 112, 3, 64, 3, 2, 0, 1, FW_ACT_PRELU},
	{"mobilefacenet", "#6 dw 3x3/s1 56x56x64", DWCONV, 56, 56, 64, 64, 3, 1, 1, 1, FW_ACT_PRELU},
	{"mobilefacenet", "#19 dw 3x3/s2 56x56x128", DWCONV, 56, 56, 128, 128, 3, 2, 0, 1, FW_ACT_PRELU},
	{"mobilefacenet", "#26 conv 1x1 28x28x64->128", CONV, 28, 28, 64, 128, 1, 1, 0, 0, FW_ACT_PRELU},
	{"mobilefacenet", "#226 GDConv dw 7x7 7x7x512", DWCONV, 7, 7, 512, 512, 7, 1, 0, 0, FW_ACT_NONE},
	{"mobilefacenet", "#227 conv 1x1 1x1x512->512", CONV, 1, 1, 512, 512, 1, 1, 0, 0, FW_ACT_NONE},
	{"onet", "#31 fc 1152->256", FC, 1, 1, 1152, 256, 1, 1, 0, 0, FW_ACT_PRELU},
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static float *alloc_rand(size_t n)
{
	/* 64-byte aligned (the scratch contract; harmless elsewhere) */
	float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);

	if (!p) {
		fprintf(stderr, "bench_kernels: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
	return p;
}

struct run {
	const struct layer *l;
	struct fw_conv_geom g;
	float *in, *w, *bias, *slope, *out, *scratch;
};

static void run_ref(struct run *r)
{
	switch (r->l->kind) {
	case CONV: fw_conv2d_f32_ref(&r->g, r->in, r->w, r->bias, r->slope, r->out); break;
	case DWCONV: fw_dwconv2d_f32_ref(&r->g, r->in, r->w, r->bias, r->slope, r->out); break;
	case FC: fw_fc_f32_ref(r->g.in_c, r->g.out_c, r->in, r->w, r->bias, r->slope, r->g.act, r->out); break;
	}
}

static void run_fast(struct run *r)
{
	switch (r->l->kind) {
	case CONV: fw_conv2d_f32_gemm(&r->g, r->in, r->w, r->bias, r->slope, r->out, r->scratch); break;
	case DWCONV: fw_dwconv2d_f32_fast(&r->g, r->in, r->w, r->bias, r->slope, r->out); break;
	case FC: fw_fc_f32_blas(r->g.in_c, r->g.out_c, r->in, r->w, r->bias, r->slope, r->g.act, r->out); break;
	}
}

static double median_ms(void (*fn)(struct run *), struct run *r)
{
	double t[RUNS];

	fn(r);
	fn(r);
	for (int i = 0; i < RUNS; i++) {
		double t0 = now();

		fn(r);
		t[i] = now() - t0;
	}
	qsort(t, RUNS, sizeof t[0], cmp_double);
	return t[RUNS / 2] * 1e3;
}

int main(void)
{
	const char *threads = getenv("OPENBLAS_NUM_THREADS");

	if (!threads || strcmp(threads, "1") != 0)
		fprintf(stderr, "bench_kernels: warning: OPENBLAS_NUM_THREADS is not 1; GEMM timings are multi-threaded\n");
	srand(1);
	printf("%-14s %-30s %9s %8s %9s %8s %8s\n", "model", "layer", "ref ms", "GFLOP/s", "fast ms", "GFLOP/s",
	       "speedup");
	for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
		const struct layer *l = &layers[i];
		struct run r = {.l = l};
		struct fw_conv_geom *g = &r.g;
		size_t n_w;
		double macs;

		g->in_h = l->in_h, g->in_w = l->in_w, g->in_c = l->in_c, g->out_c = l->out_c;
		g->k_h = g->k_w = l->k, g->stride_h = g->stride_w = l->stride, g->dil_h = g->dil_w = 1;
		g->pad_t = g->pad_l = l->pad_t, g->act = l->act;
		g->out_h = (l->in_h + l->pad_t + l->pad_b - l->k) / l->stride + 1;
		g->out_w = (l->in_w + l->pad_t + l->pad_b - l->k) / l->stride + 1;
		if (l->kind == DWCONV) {
			n_w = (size_t)l->k * l->k * l->in_c;
			macs = (double)g->out_h * g->out_w * g->out_c * l->k * l->k;
		} else {
			n_w = (size_t)l->out_c * l->k * l->k * l->in_c;
			macs = (double)g->out_h * g->out_w * g->out_c * l->k * l->k * l->in_c;
		}
		r.in = alloc_rand((size_t)l->in_h * l->in_w * l->in_c);
		r.w = alloc_rand(n_w);
		r.bias = alloc_rand((size_t)l->out_c);
		r.slope = alloc_rand((size_t)l->out_c);
		r.out = alloc_rand((size_t)g->out_h * g->out_w * g->out_c);
		r.scratch = l->kind == CONV ? alloc_rand(fw_conv2d_f32_scratch(g) / sizeof(float)) : NULL;

		double t_ref = median_ms(run_ref, &r), t_fast = median_ms(run_fast, &r);

		printf("%-14s %-30s %9.4f %8.2f %9.4f %8.2f %7.1fx\n", l->model, l->what, t_ref,
		       2.0 * macs / (t_ref * 1e6), t_fast, 2.0 * macs / (t_fast * 1e6), t_ref / t_fast);
		free(r.in), free(r.w), free(r.bias), free(r.slope), free(r.out), free(r.scratch);
	}
	return 0;
}
