/* Per-model inference time, single thread: median and min of repeated runs
 * after warm-up, with GMAC/s: float (reference kernels, and OpenBLAS/fast),
 * and int8 on every ISA tier this CPU runs.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_models [--runs N] [--models DIR] [--no-f32-out]
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_models --profile MODEL [--precision float|int8]
 *       per-op median ms (the time between trace callbacks), to find the layer that loses
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_models --pair A,B [--runs N] [--rounds R]
 *       int8 tiers A and B (e.g. avx512,amx) alternating in one process: R rounds of N
 *       runs each, per model the median of each tier's round medians and the median of
 *       the per-round ratios B / A. On a host whose speed drifts over minutes, only the
 *       ratio of neighbouring rounds is steady.
 *
 * --no-f32-out: int8 ops with a float output run in float, as before conv_f32
 * (fw_model_options.no_f32_out), to time the rest of the int8 plan alone.
 *
 * Prints a markdown table. Baselines are measured in the same process: the
 * ratio columns are float-fast median / int8 median per ISA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels/q8.h"
#include "core/model.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct timing {
	double median, min;
};

static int no_f32_out;

/* The model at path with these kernels, its input filled with the same
 * pseudo-random values each time, after 3 warm-up runs; NULL if it cannot load. */
static struct fw_model *load_filled(const char *path, enum fw_kernel_tier tier, enum fw_precision prec,
				    const struct fw_q8_kernels *k)
{
	struct fw_model_options opt = { .tier = tier, .precision = prec, .q8_kernels = k,
					.no_f32_out = no_f32_out };
	struct fw_model *m;
	struct fw_shape s;
	float *x;

	if (fw_model_load(path, &opt, &m))
		return NULL;
	x = fw_model_input(m, &s);
	srand(1);
	for (size_t i = 0; i < (size_t)s.h * s.w * s.c; i++)
		x[i] = (float)rand() / RAND_MAX * 2 - 1;
	for (int i = 0; i < 3; i++)
		fw_model_run(m);
	return m;
}

static int time_model(const char *path, enum fw_kernel_tier tier, enum fw_precision prec,
		      const struct fw_q8_kernels *k, int runs, struct timing *t, unsigned long long *macs)
{
	double *ms = malloc(sizeof *ms * (size_t)runs);
	struct fw_model *m = ms ? load_filled(path, tier, prec, k) : NULL;

	if (!m) {
		free(ms);
		return -1;
	}
	for (int i = 0; i < runs; i++) {
		double t0 = now_ms();
		fw_model_run(m);
		ms[i] = now_ms() - t0;
	}
	qsort(ms, (size_t)runs, sizeof *ms, cmp);
	t->median = ms[runs / 2];
	t->min = ms[0];
	*macs = fw_model_macs(m);
	fw_model_free(m);
	free(ms);
	return 0;
}

/* ---- per-op profile ---- */

#define MAX_PROFILE_OPS 512
static double prof_last, prof_ms[MAX_PROFILE_OPS][64];
static const char *prof_name[MAX_PROFILE_OPS];
static int prof_run, prof_ops;

static void prof_trace(int op, const char *name, const float *data, struct fw_shape s, void *ctx)
{
	double t = now_ms();
	(void)data, (void)s, (void)ctx;
	if (op < MAX_PROFILE_OPS && prof_run < 64) {
		prof_ms[op][prof_run] = t - prof_last;
		prof_name[op] = name;
		if (op + 1 > prof_ops)
			prof_ops = op + 1;
	}
	prof_last = now_ms(); /* excludes the callback's own time */
}

static int profile(const char *path, enum fw_precision prec)
{
	struct fw_model_options opt = { .tier = FW_KERNELS_FAST, .precision = prec, .no_f32_out = no_f32_out };
	struct fw_model *m;
	struct fw_shape s;
	double total = 0;
	float *x;

	if (fw_model_load(path, &opt, &m))
		return 1;
	x = fw_model_input(m, &s);
	for (size_t i = 0; i < (size_t)s.h * s.w * s.c; i++)
		x[i] = (float)rand() / RAND_MAX * 2 - 1;
	fw_model_set_trace(m, prof_trace, NULL);
	for (prof_run = -3; prof_run < 31; prof_run++) {
		prof_last = now_ms();
		fw_model_run(m);
	}
	printf("%s, %s (%s): per-op median ms of 31 runs (conversions count towards the next op)\n",
	       path, prec == FW_PRECISION_INT8 ? "int8" : "float", fw_model_kernels_name(m));
	for (int i = 0; i < prof_ops; i++) {
		if (!prof_name[i])
			continue; /* fused into the op that reads it (fw_model_fused_ops) */
		qsort(prof_ms[i], 31, sizeof(double), cmp);
		printf("%4d %-44s %8.4f\n", i, prof_name[i], prof_ms[i][15]);
		total += prof_ms[i][15];
	}
	printf("sum of medians %.3f ms\n", total);
	fw_model_free(m);
	return 0;
}

static double round_median(struct fw_model *m, int runs, double *ms)
{
	for (int i = 0; i < runs; i++) {
		double t0 = now_ms();
		fw_model_run(m);
		ms[i] = now_ms() - t0;
	}
	qsort(ms, (size_t)runs, sizeof *ms, cmp);
	return ms[runs / 2];
}

static int isa_by_name(const char *name, size_t len)
{
	for (int i = 0; i < FW_ISA_COUNT; i++)
		if (strlen(fw_isa_name((enum fw_isa)i)) == len && !strncmp(name, fw_isa_name((enum fw_isa)i), len))
			return i;
	return -1;
}

static int pair(const char *dir, const char *const *models, size_t n_models, const char *spec, int runs, int rounds)
{
	const char *comma = strchr(spec, ',');
	const int ia = comma ? isa_by_name(spec, (size_t)(comma - spec)) : -1;
	const int ib = comma ? isa_by_name(comma + 1, strlen(comma + 1)) : -1;
	const struct fw_q8_kernels *ka = ia >= 0 ? fw_q8_kernels_for((enum fw_isa)ia) : NULL;
	const struct fw_q8_kernels *kb = ib >= 0 ? fw_q8_kernels_for((enum fw_isa)ib) : NULL;
	double *ms = malloc(sizeof *ms * (size_t)runs), *a = malloc(sizeof *a * (size_t)rounds);
	double *b = malloc(sizeof *b * (size_t)rounds), *r = malloc(sizeof *r * (size_t)rounds);
	int err = 0;

	if (!ka || !kb) {
		fprintf(stderr, "bench_models: --pair %s: two int8 tiers this CPU runs, e.g. avx512,amx\n", spec);
		err = 2;
		goto out;
	}
	if (!ms || !a || !b || !r) {
		err = 1;
		goto out;
	}
	printf("| model | %s median ms | %s median ms | %s / %s (median of %d rounds, min..max) |\n", ka->name,
	       kb->name, kb->name, ka->name, rounds);
	printf("|---|---:|---:|---:|\n");
	for (size_t i = 0; i < n_models; i++) {
		char path[4096];
		struct fw_model *ma, *mb;

		snprintf(path, sizeof path, "%s/%s.fwm", dir, models[i]);
		ma = load_filled(path, FW_KERNELS_FAST, FW_PRECISION_INT8, ka);
		mb = ma ? load_filled(path, FW_KERNELS_FAST, FW_PRECISION_INT8, kb) : NULL;
		if (!mb) {
			fprintf(stderr, "bench_models: cannot run %s\n", path);
			fw_model_free(ma);
			err = 1;
			goto out;
		}
		for (int k = 0; k < rounds; k++) {
			a[k] = round_median(ma, runs, ms);
			b[k] = round_median(mb, runs, ms);
			r[k] = b[k] / a[k];
		}
		qsort(a, (size_t)rounds, sizeof *a, cmp);
		qsort(b, (size_t)rounds, sizeof *b, cmp);
		qsort(r, (size_t)rounds, sizeof *r, cmp);
		printf("| %s | %.3f | %.3f | %.3f (%.3f..%.3f) |\n", models[i], a[rounds / 2], b[rounds / 2],
		       r[rounds / 2], r[0], r[rounds - 1]);
		fw_model_free(ma);
		fw_model_free(mb);
	}
out:
	free(ms), free(a), free(b), free(r);
	return err;
}

int main(int argc, char **argv)
{
	static const char *models[] = { "blazeface_short", "blazeface_full", "mobilefacenet", "onet" };
	const char *dir = FW_SOURCE_MODELS_DIR, *prof_path = NULL, *pair_spec = NULL;
	enum fw_precision prof_prec = FW_PRECISION_INT8;
	int runs = 51, rounds = 16;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--models") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--no-f32-out"))
			no_f32_out = 1;
		else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
			prof_path = argv[++i];
		else if (!strcmp(argv[i], "--pair") && i + 1 < argc)
			pair_spec = argv[++i];
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--precision") && i + 1 < argc)
			prof_prec = !strcmp(argv[++i], "int8") ? FW_PRECISION_INT8 : FW_PRECISION_FLOAT;
		else {
			fprintf(stderr, "usage: bench_models [--runs N] [--models DIR] [--no-f32-out] | --profile MODEL.fwm "
				"[--precision float|int8] [--no-f32-out] | --pair ISA,ISA [--runs N] [--rounds R]\n");
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	if (rounds < 1)
		rounds = 1;
	if (prof_path)
		return profile(prof_path, prof_prec);
	if (pair_spec)
		return pair(dir, models, sizeof models / sizeof models[0], pair_spec, runs, rounds);
	printf("| model | MMAC | float ref ms | float fast ms | int8 ISA | int8 ms | int8 min ms | int8 GMAC/s | float fast / int8 |\n");
	printf("|---|---:|---:|---:|---|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		char path[4096];
		struct timing ref, fast, q;
		unsigned long long macs;

		snprintf(path, sizeof path, "%s/%s.fwm", dir, models[i]);
		if (time_model(path, FW_KERNELS_REF, FW_PRECISION_FLOAT, NULL, runs < 11 ? runs : 11, &ref, &macs) ||
		    time_model(path, FW_KERNELS_FAST, FW_PRECISION_FLOAT, NULL, runs, &fast, &macs)) {
			fprintf(stderr, "bench_models: cannot run %s\n", path);
			return 1;
		}
		for (int isa = 0; isa < FW_ISA_COUNT; isa++) {
			const struct fw_q8_kernels *k = fw_q8_kernels_for(isa);
			if (!k || time_model(path, FW_KERNELS_FAST, FW_PRECISION_INT8, k,
					     isa == FW_ISA_REF ? (runs < 11 ? runs : 11) : runs, &q, &macs))
				continue;
			printf("| %s | %.1f | %.3f | %.3f | %s | %.3f | %.3f | %.2f | %.2f |\n", models[i],
			       macs / 1e6, ref.median, fast.median, k->name, q.median, q.min,
			       macs / q.median / 1e6, fast.median / q.median);
		}
	}
	return 0;
}
