/* bench_gallery: gallery matching, ms per query, at 10, 1 000, 10 000 and
 * 100 000 templates (192-d, 5 templates per identity, 1 negative per 50).
 *
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_gallery [--no-load]
 *
 * For each size: fw_gallery_match() (one OpenBLAS sgemv + best per identity
 * + the negative rule), 201 runs of max(1, 10 000 / n) queries each, ms per
 * query: the median run ("warm": the matrix stays in cache, as when
 * queries come close together) and the fastest; the median of 21 single
 * queries after the caches were flushed ("cold": a 256 MiB buffer is read
 * first, as when the daemon matches one new face after seconds of other
 * work); a plain C loop of dot products as the baseline in the same
 * process, and its ratio to warm. Then fw_store_load() of a gallery file
 * of that size (the daemon's reload on change; stored 1 000 templates per
 * identity), median of 5. Prints a table; asserts nothing.
 * Medians of short runs shrug off the preemptions of a busy machine.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/embedder.h"
#include "core/gallery.h"
#include "daemon/store.h"

#define RUNS 201
#define COLD_RUNS 21
#define FLUSH_BYTES (256u << 20)

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static unsigned long long rng = 88172645463325252ull;

static float randf(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

static void random_unit(float *v)
{
	double ss = 0;
	for (int i = 0; i < FW_EMBED_DIM; i++) {
		v[i] = randf();
		ss += (double)v[i] * v[i];
	}
	for (int i = 0; i < FW_EMBED_DIM; i++)
		v[i] = (float)(v[i] / sqrt(ss));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[n / 2];
}

static volatile unsigned char sink;

static void flush(unsigned char *buf)
{
	unsigned char acc = 0;
	for (size_t i = 0; i < FLUSH_BYTES; i += 64)
		acc ^= buf[i];
	sink = acc;
}

/* the baseline: best identity by a plain loop over the same matrix */
static int plain_match(const float *t, const int *id, int n, const float *q, float *best_sim)
{
	int best = -1;
	*best_sim = -INFINITY;
	for (int k = 0; k < n; k++) {
		const float *row = t + (size_t)k * FW_EMBED_DIM;
		float s = 0;
		for (int i = 0; i < FW_EMBED_DIM; i++)
			s += row[i] * q[i];
		if (s > *best_sim) {
			*best_sim = s;
			best = id[k];
		}
	}
	return best;
}

int main(int argc, char **argv)
{
	static const int sizes[] = { 10, 1000, 10000, 100000 };
	int do_load = !(argc > 1 && !strcmp(argv[1], "--no-load"));
	unsigned char *fbuf = malloc(FLUSH_BYTES);
	char dir[] = "/tmp/fw-bench-gallery-XXXXXX";

	if (!fbuf || !mkdtemp(dir))
		return 1;
	memset(fbuf, 1, FLUSH_BYTES);
	printf("gallery match, 192-d, 5 templates per identity; OPENBLAS_NUM_THREADS=%s\n",
	       getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "(unset)");
	printf("%10s %11s %11s %11s %11s %9s %11s\n", "templates", "warm ms/q", "(fastest)",
	       "cold ms/q", "plain ms/q", "speed-up", "load ms");
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		/* a run: `batch` queries timed together (10 000 templates or more in
		 * all, so that the clock's resolution does not matter) */
		int n = sizes[si], ids = n / 5 ? n / 5 : 1, batch = n >= 10000 ? 1 : 10000 / n;
		float *t = malloc(sizeof *t * (size_t)n * FW_EMBED_DIM), *q = malloc(sizeof *q * 64 * FW_EMBED_DIM);
		int *id = malloc(sizeof *id * (size_t)n);
		struct fw_gallery *g = NULL;
		struct fw_gallery_match m;
		double warm[RUNS], cold[COLD_RUNS], plain[RUNS], load[5], load_ms = NAN;
		volatile float keep = 0;

		if (!t || !q || !id || fw_gallery_create(&g, FW_EMBED_DIM, FW_EMBED_SAME_THRESHOLD) ||
		    fw_gallery_reserve(g, n, ids))
			return 1;
		for (int i = 0; i < ids; i++) {
			int x;
			fw_gallery_add_identity(g, "someone", &x);
		}
		for (int k = 0; k < n; k++) {
			id[k] = k % ids;
			random_unit(t + (size_t)k * FW_EMBED_DIM);
			fw_gallery_add(g, id[k], t + (size_t)k * FW_EMBED_DIM, FW_GALLERY_TEMPLATE, k);
			if (k % 50 == 49) {
				float neg[FW_EMBED_DIM];
				random_unit(neg);
				fw_gallery_add(g, id[k], neg, FW_GALLERY_NEGATIVE, -k);
			}
		}
		for (int i = 0; i < 64; i++)
			random_unit(q + (size_t)i * FW_EMBED_DIM);
		fw_gallery_match(g, q, &m); /* OpenBLAS sets itself up */
		for (int r = 0; r < RUNS; r++) {
			double t0 = now_ms();
			for (int i = 0; i < batch; i++)
				fw_gallery_match(g, q + (size_t)((r * batch + i) % 64) * FW_EMBED_DIM, &m);
			warm[r] = (now_ms() - t0) / batch;
		}
		for (int r = 0; r < RUNS; r++) {
			double t0 = now_ms();
			for (int i = 0; i < batch; i++) {
				float s;
				keep += (float)plain_match(t, id, n, q + (size_t)((r * batch + i) % 64) * FW_EMBED_DIM,
							   &s) + s;
			}
			plain[r] = (now_ms() - t0) / batch;
		}
		for (int r = 0; r < COLD_RUNS; r++) {
			double t0;
			flush(fbuf);
			t0 = now_ms();
			fw_gallery_match(g, q + (size_t)(r % 64) * FW_EMBED_DIM, &m);
			cold[r] = now_ms() - t0;
		}
		(void)keep;
		if (do_load) {
			char path[64];
			struct fw_store *s = NULL;
			struct fw_store_template *tt = calloc((size_t)n, sizeof *tt);
			snprintf(path, sizeof path, "%s/g%d.db", dir, n);
			if (!tt || fw_store_open(&s, path, FW_STORE_CREATE))
				return 1;
			for (int k = 0; k < n; k++) {
				memcpy(tt[k].emb, t + (size_t)k * FW_EMBED_DIM, sizeof tt[k].emb);
				tt[k].model_id = "mobilefacenet:bench";
				tt[k].quality = 1;
			}
			/* written 1 000 templates per identity and transaction: 20 000
			 * fsync'd transactions of 5 would take minutes; reading is by
			 * rows, whatever the identities */
			for (int k = 0; k < n; k += 1000) {
				char name[16];
				snprintf(name, sizeof name, "p%06d", k / 1000);
				if (fw_store_add(s, name, tt + k, n - k < 1000 ? n - k : 1000,
						 FW_STORE_ADD_CREATE, NULL))
					return 1;
			}
			for (int r = 0; r < 5; r++) {
				struct fw_gallery *lg;
				double t0 = now_ms();
				if (fw_store_load(s, "mobilefacenet:bench", 0.55f, &lg, NULL))
					return 1;
				load[r] = now_ms() - t0;
				fw_gallery_free(lg);
			}
			load_ms = median(load, 5);
			fw_store_close(s);
			unlink(path);
			free(tt);
		}
		{
			double wm = median(warm, RUNS); /* sorts warm[] */
			printf("%10d %11.4f %11.4f %11.4f %11.4f %8.1fx %11.2f\n", n, wm, warm[0],
			       median(cold, COLD_RUNS), median(plain, RUNS), median(plain, RUNS) / wm, load_ms);
		}
		fflush(stdout);
		fw_gallery_free(g);
		free(t);
		free(q);
		free(id);
	}
	rmdir(dir);
	free(fbuf);
	return 0;
}
