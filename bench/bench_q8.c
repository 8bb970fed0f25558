/* bench_q8: the int8 kernels (core/kernels/q8.h) of every ISA tier this CPU
 * runs, against the fast float kernels (fw_conv2d_f32_gemm,
 * fw_dwconv2d_f32_fast) on the same shapes: the real conv / depthwise
 * layers of BlazeFace short and MobileFaceNet (shapes, pads and layer
 * counts from ${FW_SHARED_DIR}/models/golden/layers/<model>/index.json).
 *
 * Run single-threaded, as the daemon runs inference:
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_q8            # all layers, all tiers
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_q8 --no-ref   # skip the (slow) reference
 *   build/bench/bench_q8 --add     # only the elementwise add (k->add), see add_table
 *
 * Each kernel call is run twice to warm caches, then timed 21 times with
 * CLOCK_MONOTONIC; the median is reported. GOP/s counts 2 ops per
 * multiply-add over the full kernel window (padded taps included), the
 * float convention of bench_kernels. "f32/int8" is the float time over the
 * best int8 time. The per-model totals add every conv and depthwise layer
 * once per occurrence (pad, pool, add and the decoders are not included),
 * as sums of medians and as sums of minima (the fastest of the 21 runs: a
 * shared machine makes medians noisy; the load average is printed).
 * Prints tables; asserts nothing.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels/kernels.h"
#include "core/kernels/q8.h"
#include "core/model_format.h"

#define RUNS 21

struct layer {
	int dw;            /* depthwise, else conv (FC = 1x1 conv on a 1x1 input) */
	int in_h, in_w, in_c, out_c, k, stride, pad_t, pad_b; /* square; pads same on l/r */
	int act;
	int count;         /* occurrences in the model */
	int index;         /* first layer index in index.json */
};

#define C(...) {0, __VA_ARGS__}
#define D(...) {1, __VA_ARGS__}
enum { NONE = FW_ACT_NONE, RELU = FW_ACT_RELU, PRELU = FW_ACT_PRELU };

/* every conv / depthwise shape of face_detection_short_range, with its count */
static const struct layer blaze[] = {
	C(128, 128, 3, 24, 5, 2, 1, 2, NONE, 1, 0),
	D(64, 64, 24, 24, 3, 1, 1, 1, NONE, 2, 2),
	C(64, 64, 24, 24, 1, 1, 0, 0, NONE, 1, 3),
	C(64, 64, 24, 28, 1, 1, 0, 0, NONE, 1, 7),
	D(64, 64, 28, 28, 3, 2, 0, 1, NONE, 1, 11),
	C(32, 32, 28, 32, 1, 1, 0, 0, NONE, 1, 13),
	D(32, 32, 32, 32, 3, 1, 1, 1, NONE, 1, 17),
	C(32, 32, 32, 36, 1, 1, 0, 0, NONE, 1, 18),
	D(32, 32, 36, 36, 3, 1, 1, 1, NONE, 1, 22),
	C(32, 32, 36, 42, 1, 1, 0, 0, NONE, 1, 23),
	D(32, 32, 42, 42, 3, 2, 0, 1, NONE, 1, 27),
	C(16, 16, 42, 48, 1, 1, 0, 0, NONE, 1, 29),
	D(16, 16, 48, 48, 3, 1, 1, 1, NONE, 1, 33),
	C(16, 16, 48, 56, 1, 1, 0, 0, NONE, 1, 34),
	D(16, 16, 56, 56, 3, 1, 1, 1, NONE, 1, 38),
	C(16, 16, 56, 64, 1, 1, 0, 0, NONE, 1, 39),
	D(16, 16, 64, 64, 3, 1, 1, 1, NONE, 1, 43),
	C(16, 16, 64, 72, 1, 1, 0, 0, NONE, 1, 44),
	D(16, 16, 72, 72, 3, 1, 1, 1, NONE, 1, 48),
	C(16, 16, 72, 80, 1, 1, 0, 0, NONE, 1, 49),
	D(16, 16, 80, 80, 3, 1, 1, 1, NONE, 1, 53),
	C(16, 16, 80, 88, 1, 1, 0, 0, NONE, 1, 54),
	D(16, 16, 88, 88, 3, 2, 0, 1, NONE, 1, 58),
	C(8, 8, 88, 96, 1, 1, 0, 0, NONE, 1, 60),
	D(8, 8, 96, 96, 3, 1, 1, 1, NONE, 4, 64),
	C(8, 8, 96, 96, 1, 1, 0, 0, NONE, 5, 65),
	C(16, 16, 88, 2, 1, 1, 0, 0, NONE, 1, 80),
	C(8, 8, 96, 6, 1, 1, 0, 0, NONE, 1, 81),
	C(16, 16, 88, 32, 1, 1, 0, 0, NONE, 1, 82),
};

/* every conv / depthwise shape of MobileFaceNet (PReLU after most) */
static const struct layer mfn[] = {
	C(112, 112, 3, 64, 3, 2, 0, 1, PRELU, 1, 0),
	D(56, 56, 64, 64, 3, 1, 1, 1, PRELU, 1, 6),
	C(56, 56, 64, 64, 1, 1, 0, 0, PRELU, 1, 12),
	C(56, 56, 64, 128, 1, 1, 0, 0, PRELU, 1, 13),
	D(56, 56, 128, 128, 3, 2, 0, 1, PRELU, 1, 19),
	C(28, 28, 128, 64, 1, 1, 0, 0, NONE, 5, 25),
	C(28, 28, 64, 128, 1, 1, 0, 0, PRELU, 4, 26),
	D(28, 28, 128, 128, 3, 1, 1, 1, PRELU, 4, 32),
	C(28, 28, 64, 256, 1, 1, 0, 0, PRELU, 1, 82),
	D(28, 28, 256, 256, 3, 2, 0, 1, PRELU, 1, 88),
	C(14, 14, 256, 128, 1, 1, 0, 0, NONE, 7, 94),
	C(14, 14, 128, 256, 1, 1, 0, 0, PRELU, 6, 95),
	D(14, 14, 256, 256, 3, 1, 1, 1, PRELU, 6, 101),
	C(14, 14, 128, 512, 1, 1, 0, 0, PRELU, 1, 179),
	D(14, 14, 512, 512, 3, 2, 0, 1, PRELU, 1, 185),
	C(7, 7, 512, 128, 1, 1, 0, 0, NONE, 1, 191),
	C(7, 7, 128, 256, 1, 1, 0, 0, PRELU, 2, 192),
	D(7, 7, 256, 256, 3, 1, 1, 1, PRELU, 2, 198),
	C(7, 7, 256, 128, 1, 1, 0, 0, NONE, 2, 204),
	C(7, 7, 128, 512, 1, 1, 0, 0, PRELU, 1, 220),
	D(7, 7, 512, 512, 7, 1, 0, 0, NONE, 1, 226),
	C(1, 1, 512, 512, 1, 1, 0, 0, NONE, 1, 227),
	C(1, 1, 512, 192, 1, 1, 0, 0, NONE, 1, 228),
};

/* the per-layer table shows these (index into the arrays above) */
static const int blaze_shown[] = {0, 1, 2, 3, 4, 25};
static const int mfn_shown[] = {0, 1, 3, 4, 6, 7, 11, 20, 21};

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

static void *xalloc(size_t bytes)
{
	void *p = NULL;

	if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
		fprintf(stderr, "bench_q8: out of memory\n");
		exit(1);
	}
	return p;
}

/* One layer with both float and int8 data, and the int8 tier to time. */
struct bench {
	const struct layer *l;
	struct fw_conv_geom g;
	size_t n_in, n_w, n_out, k;
	/* float */
	float *fin, *fw, *fbias, *fslope, *fout, *fscratch;
	/* int8 */
	uint8_t *qin, *qout;
	int8_t *qw;
	int32_t *qbias;
	float *qscale;
	struct fw_q8_requant rq;
	const struct fw_q8_kernels *kt;
	void *packed, *scratch;
};

static void bench_init(struct bench *b, const struct layer *l)
{
	struct fw_conv_geom *g = &b->g;

	memset(b, 0, sizeof *b);
	b->l = l;
	g->in_h = l->in_h, g->in_w = l->in_w, g->in_c = l->in_c, g->out_c = l->out_c;
	g->k_h = g->k_w = l->k, g->stride_h = g->stride_w = l->stride, g->dil_h = g->dil_w = 1;
	g->pad_t = g->pad_l = l->pad_t, g->act = l->act;
	g->out_h = (l->in_h + l->pad_t + l->pad_b - l->k) / l->stride + 1;
	g->out_w = (l->in_w + l->pad_t + l->pad_b - l->k) / l->stride + 1;
	b->n_in = (size_t)l->in_h * l->in_w * l->in_c;
	b->k = l->dw ? (size_t)l->k * l->k : (size_t)l->k * l->k * l->in_c;
	b->n_w = l->dw ? (size_t)l->k * l->k * l->in_c : (size_t)l->out_c * b->k;
	b->n_out = (size_t)g->out_h * g->out_w * g->out_c;

	b->fin = xalloc(b->n_in * sizeof(float));
	b->fw = xalloc(b->n_w * sizeof(float));
	b->fbias = xalloc((size_t)l->out_c * sizeof(float));
	b->fslope = xalloc((size_t)l->out_c * sizeof(float));
	b->fout = xalloc(b->n_out * sizeof(float));
	b->fscratch = l->dw ? NULL : xalloc(fw_conv2d_f32_scratch(g));
	b->qin = xalloc(b->n_in);
	b->qout = xalloc(b->n_out);
	b->qw = xalloc(b->n_w);
	b->qbias = xalloc((size_t)l->out_c * sizeof(int32_t));
	b->qscale = xalloc((size_t)l->out_c * sizeof(float));
	for (size_t i = 0; i < b->n_in; i++) {
		b->qin[i] = (uint8_t)(rand() & 255);
		b->fin[i] = (float)b->qin[i] / 128.0f - 1.0f;
	}
	for (size_t i = 0; i < b->n_w; i++) {
		b->qw[i] = (int8_t)((rand() & 255) - 128);
		b->fw[i] = (float)b->qw[i] / 128.0f;
	}
	for (int i = 0; i < l->out_c; i++) {
		b->fbias[i] = (float)rand() / (float)RAND_MAX - 0.5f;
		b->fslope[i] = (float)rand() / (float)RAND_MAX - 0.5f;
		b->qbias[i] = (rand() & 65535) - 32768;
		b->qscale[i] = 128.0f / (147.0f * 74.0f * sqrtf((float)b->k));
	}
	b->rq = (struct fw_q8_requant){.scale = b->qscale, .slope = l->act == PRELU ? b->fslope : NULL,
				       .zero_out = 128, .act = l->act};
}

static void bench_free(struct bench *b)
{
	free(b->fin), free(b->fw), free(b->fbias), free(b->fslope), free(b->fout), free(b->fscratch);
	free(b->qin), free(b->qout), free(b->qw), free(b->qbias), free(b->qscale);
	free(b->packed), free(b->scratch);
}

/* Pack the weights for tier kt (what a model does once at load). */
static void bench_tier(struct bench *b, const struct fw_q8_kernels *kt)
{
	free(b->packed), free(b->scratch);
	b->packed = b->scratch = NULL;
	b->kt = kt;
	if (b->l->dw)
		return;
	b->packed = xalloc(kt->conv_packed_size(&b->g));
	b->scratch = xalloc(kt->conv_scratch(&b->g));
	kt->conv_pack(&b->g, b->qw, b->packed);
}

static void run_f32(struct bench *b)
{
	const float *slope = b->l->act == PRELU ? b->fslope : NULL;

	if (b->l->dw)
		fw_dwconv2d_f32_fast(&b->g, b->fin, b->fw, b->fbias, slope, b->fout);
	else
		fw_conv2d_f32_gemm(&b->g, b->fin, b->fw, b->fbias, slope, b->fout, b->fscratch);
}

static void run_q8(struct bench *b)
{
	if (b->l->dw)
		b->kt->dwconv(&b->g, b->qin, 128, b->qw, b->qbias, &b->rq, b->qout);
	else
		b->kt->conv(&b->g, b->qin, 128, b->packed, b->qbias, &b->rq, b->qout, b->scratch);
}

/* Median of RUNS timed calls, in ms; *min_ms gets the fastest (what the
 * kernel does when nothing else competes for the core). */
static double time_ms(void (*fn)(struct bench *), struct bench *b, double *min_ms)
{
	double t[RUNS];

	fn(b);
	fn(b);
	for (int i = 0; i < RUNS; i++) {
		double t0 = now();

		fn(b);
		t[i] = now() - t0;
	}
	qsort(t, RUNS, sizeof t[0], cmp_double);
	if (min_ms)
		*min_ms = t[0] * 1e3;
	return t[RUNS / 2] * 1e3;
}

static double median_ms(void (*fn)(struct bench *), struct bench *b)
{
	return time_ms(fn, b, NULL);
}

static double macs(const struct bench *b)
{
	return (double)b->n_out * (double)b->k;
}

static void describe(char *buf, size_t n, const struct layer *l)
{
	if (l->dw)
		snprintf(buf, n, "#%d dw %dx%d/s%d %dx%dx%d", l->index, l->k, l->k, l->stride, l->in_h, l->in_w,
			 l->in_c);
	else
		snprintf(buf, n, "#%d conv %dx%d/s%d %dx%dx%d->%d", l->index, l->k, l->k, l->stride, l->in_h,
			 l->in_w, l->in_c, l->out_c);
}

/* tiers this CPU runs, best last */
static const struct fw_q8_kernels *tiers[FW_ISA_COUNT];
static int n_tiers;

static void per_layer_table(const char *model, const struct layer *ls, const int *shown, size_t n_shown,
			    int with_ref)
{
	for (size_t s = 0; s < n_shown; s++) {
		struct bench b;
		char what[64];
		double best = 1e30, t_f32;

		bench_init(&b, &ls[shown[s]]);
		describe(what, sizeof what, b.l);
		printf("%-13s %-32s", model, what);
		for (int i = 0; i < n_tiers; i++) {
			if (tiers[i]->isa == FW_ISA_REF && !with_ref) {
				printf(" %9s", "-");
				continue;
			}
			bench_tier(&b, tiers[i]);
			double t = median_ms(run_q8, &b);

			printf(" %9.4f", t);
			best = t < best ? t : best;
		}
		t_f32 = median_ms(run_f32, &b);
		printf(" %9.4f %8.1f %8.1f %7.2fx\n", t_f32, 2.0 * macs(&b) / (best * 1e6),
		       2.0 * macs(&b) / (t_f32 * 1e6), t_f32 / best);
		bench_free(&b);
	}
}

static void model_total(const char *model, const struct layer *ls, size_t n)
{
	double t_q8[FW_ISA_COUNT] = {0}, min_q8[FW_ISA_COUNT] = {0}, t_f32 = 0, min_f32 = 0, m = 0, lo;

	for (size_t j = 0; j < n; j++) {
		struct bench b;

		bench_init(&b, &ls[j]);
		for (int i = 0; i < n_tiers; i++) {
			if (tiers[i]->isa == FW_ISA_REF)
				continue;
			bench_tier(&b, tiers[i]);
			t_q8[i] += ls[j].count * time_ms(run_q8, &b, &lo);
			min_q8[i] += ls[j].count * lo;
		}
		t_f32 += ls[j].count * time_ms(run_f32, &b, &lo);
		min_f32 += ls[j].count * lo;
		m += ls[j].count * macs(&b);
		bench_free(&b);
	}
	printf("%-13s %-32s", model, "all conv + dw, sum of medians");
	for (int i = 0; i < n_tiers; i++)
		if (tiers[i]->isa == FW_ISA_REF)
			printf(" %9s", "-");
		else
			printf(" %9.4f", t_q8[i]);
	printf(" %9.4f   (%.1f M MAC; f32/int8 %.2fx)\n", t_f32, m * 1e-6, t_f32 / t_q8[n_tiers - 1]);
	printf("%-13s %-32s", model, "all conv + dw, sum of minima");
	for (int i = 0; i < n_tiers; i++)
		if (tiers[i]->isa == FW_ISA_REF)
			printf(" %9s", "-");
		else
			printf(" %9.4f", min_q8[i]);
	printf(" %9.4f   (f32/int8 %.2fx)\n", min_f32, min_f32 / min_q8[n_tiers - 1]);
}

/* k->add alone on BlazeFace short's 64x64x24 residual add (ReLU, output
 * zero point 0) and with a zero point and no ReLU (MobileFaceNet's kind),
 * the scales of a real layer: median and min of 301 calls, in us. */
static void add_table(void)
{
	enum { ADD_RUNS = 301 };
	const size_t n = 64 * 64 * 24;
	uint8_t *a = xalloc(n), *b = xalloc(n), *out = xalloc(n);
	static double t[ADD_RUNS];

	for (size_t i = 0; i < n; i++)
		a[i] = (uint8_t)rand(), b[i] = (uint8_t)rand();
	printf("%-8s %-36s %10s %10s\n", "tier", "add 64x64x24 (98304 bytes)", "median us", "min us");
	for (int mode = 0; mode < 2; mode++) {
		struct fw_q8_add p;

		fw_q8_add_prepare(&p, 0.0672205f, 0.0518514f, 0.0413435f, 160, 0, mode ? 120 : 0,
				  mode ? FW_ACT_NONE : FW_ACT_RELU);
		for (int i = 0; i < n_tiers; i++) {
			for (int r = 0; r < 5; r++)
				tiers[i]->add(a, b, n, &p, out);
			for (int r = 0; r < ADD_RUNS; r++) {
				double t0 = now();

				tiers[i]->add(a, b, n, &p, out);
				t[r] = now() - t0;
			}
			qsort(t, ADD_RUNS, sizeof t[0], cmp_double);
			printf("%-8s %-36s %10.2f %10.2f\n", tiers[i]->name,
			       mode ? "zero point 120, no ReLU" : "ReLU, zero point 0", t[ADD_RUNS / 2] * 1e6, t[0] * 1e6);
		}
	}
	free(a), free(b), free(out);
}

int main(int argc, char **argv)
{
	const char *threads = getenv("OPENBLAS_NUM_THREADS");
	int with_ref = !(argc > 1 && strcmp(argv[1], "--no-ref") == 0);
	const int add_only = argc > 1 && strcmp(argv[1], "--add") == 0;

	if (!threads || strcmp(threads, "1") != 0)
		fprintf(stderr, "bench_q8: warning: OPENBLAS_NUM_THREADS is not 1; float GEMM timings are multi-threaded\n");
	for (int i = 0; i < FW_ISA_COUNT; i++)
		if (fw_q8_kernels_for((enum fw_isa)i))
			tiers[n_tiers++] = fw_q8_kernels_for((enum fw_isa)i);
	printf("int8 tiers run by this CPU:");
	for (int i = 0; i < n_tiers; i++)
		printf(" %s", tiers[i]->name);
	printf(" (active: %s); ms per call, median of %d\n", fw_isa_name(fw_isa_active()), RUNS);
	{
		/* the machine's load: other processes make medians slower */
		FILE *f = fopen("/proc/loadavg", "r");
		char line[64] = "";

		if (f && fgets(line, sizeof line, f))
			printf("load average: %s", line);
		if (f)
			fclose(f);
	}
	printf("\n");

	srand(1);
	if (add_only) {
		add_table();
		return 0;
	}
	printf("%-13s %-32s", "model", "layer");
	for (int i = 0; i < n_tiers; i++)
		printf(" %6s ms", tiers[i]->name);
	printf(" %9s %8s %8s %8s\n", "f32 ms", "GOP/s q8", "GFLOP/s", "f32/int8");
	per_layer_table("blaze_short", blaze, blaze_shown, sizeof blaze_shown / sizeof blaze_shown[0], with_ref);
	per_layer_table("mobilefacenet", mfn, mfn_shown, sizeof mfn_shown / sizeof mfn_shown[0], with_ref);
	printf("\n");
	model_total("blaze_short", blaze, sizeof blaze / sizeof blaze[0]);
	model_total("mobilefacenet", mfn, sizeof mfn / sizeof mfn[0]);
	return 0;
}
