/* Per-model inference time, single thread: median and min of repeated runs
 * after warm-up, with GMAC/s, for each kernel tier.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_models [--runs N] [--models DIR]
 *
 * Prints a markdown table. The reference tier is the baseline measured in the
 * same process; the ratio column is ref median / fast median. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static int time_model(const char *path, enum fw_kernel_tier tier, int runs, struct timing *t,
		      unsigned long long *macs)
{
	struct fw_model_options opt = { .tier = tier };
	struct fw_model *m;
	struct fw_shape s;
	double *ms = malloc(sizeof *ms * (size_t)runs);
	float *x;

	if (!ms || fw_model_load(path, &opt, &m)) {
		free(ms);
		return -1;
	}
	x = fw_model_input(m, &s);
	srand(1);
	for (size_t i = 0; i < (size_t)s.h * s.w * s.c; i++)
		x[i] = (float)rand() / RAND_MAX * 2 - 1;
	for (int i = 0; i < 3; i++)
		fw_model_run(m);
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

int main(int argc, char **argv)
{
	static const char *models[] = { "blazeface_short", "blazeface_full", "mobilefacenet", "onet" };
	const char *dir = FW_SOURCE_MODELS_DIR;
	int runs = 51;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--models") && i + 1 < argc)
			dir = argv[++i];
		else {
			fprintf(stderr, "usage: bench_models [--runs N] [--models DIR]\n");
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	printf("| model | MMAC | ref median ms | fast median ms | fast min ms | fast GMAC/s | ref/fast |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		char path[4096];
		struct timing ref, fast;
		unsigned long long macs;

		snprintf(path, sizeof path, "%s/%s.fwm", dir, models[i]);
		if (time_model(path, FW_KERNELS_REF, runs < 11 ? runs : 11, &ref, &macs) ||
		    time_model(path, FW_KERNELS_FAST, runs, &fast, &macs)) {
			fprintf(stderr, "bench_models: cannot run %s\n", path);
			return 1;
		}
		printf("| %s | %.1f | %.3f | %.3f | %.3f | %.2f | %.2f |\n", models[i], macs / 1e6,
		       ref.median, fast.median, fast.min, macs / fast.median / 1e6,
		       ref.median / fast.median);
	}
	return 0;
}
