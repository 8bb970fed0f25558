/* The aarch64 int8 kernels (core/kernels/q8_neon.c) against the reference
 * (q8_ref.c), byte for byte, on random awkward shapes: conv (im2col and the
 * 1x1 direct path, FC), depthwise conv, add, and add_cpad (against fw_q8_pad
 * and the reference add); conv_f32 and dwconv_f32 (float outputs) on the
 * conv and depthwise cases, bit for bit.
 *
 * Plain C with no test framework: it is cross-built for aarch64 and run under
 * qemu-aarch64 by run.sh (cmocka is not installed for arm64). Every table this
 * CPU can run is tested: neon always, neondot only when HWCAP_ASIMDDP says the
 * CPU has sdot (under qemu -cpu cortex-a53 it must be skipped, not SIGILL).
 *
 * Besides the bytes, each call is checked for:
 *  - reads past the end of every input (inputs end at a PROT_NONE page);
 *  - writes outside out, packed and scratch (canaries on both sides);
 *  - no reliance on the contents of scratch or packed before the call
 *    (both are filled with random bytes first).
 *
 * usage: test_q8_neon [cases-per-kind [seed]]     (defaults 300, 0x5eed)
 * Last line: "N passed, M failed"; exit status 1 on any failure.
 */
#include "core/kernels/q8.h"
#include "core/model_format.h"

#ifndef __aarch64__
#error "test_q8_neon is built for aarch64 only (tests/neon/run.sh)"
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

/* No header declares the tables (q8_dispatch.c looks them up by name). */
extern const struct fw_q8_kernels fw_q8_ref_kernels;
extern const struct fw_q8_kernels fw_q8_neon_kernels;
extern const struct fw_q8_kernels fw_q8_neondot_kernels;

enum { KIND_CONV, KIND_DWCONV, KIND_ADD, KIND_ADD_CPAD, KIND_CONV_F32, KIND_DWCONV_F32, KIND_COUNT };
static const char *const kind_name[KIND_COUNT] = {"conv", "dwconv", "add", "add_cpad", "conv_f32",
						  "dwconv_f32"};

enum { MAX_TABLES = 2, CANARY = 64, MAX_REPORTS = 20, MAX_MACS = 300000 };

static const struct fw_q8_kernels *tables[MAX_TABLES];
static int n_tables;
static int passed[MAX_TABLES][KIND_COUNT], failed[MAX_TABLES][KIND_COUNT];
static int reports;

/* ---- random numbers (xorshift64*) ---------------------------------------------------------- */

static uint64_t rng = 0x5eed;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

/* lo..hi inclusive */
static int irand(int lo, int hi)
{
	return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

static float frand(float lo, float hi)
{
	return lo + (hi - lo) * (float)(rnd() >> 40) / (float)(1 << 24);
}

/* true with probability 1/n */
static int one_in(int n)
{
	return irand(1, n) == 1;
}

#define PICK(a) ((a)[irand(0, (int)(sizeof(a) / sizeof((a)[0])) - 1)])

/* ---- buffers ----------------------------------------------------------------------------- */

/* Input memory: n bytes ending exactly at a PROT_NONE page, so a read past the
 * end faults (SIGSEGV) instead of passing silently. */
struct guarded {
	void *map;
	size_t len;
};

static void *guarded_alloc(struct guarded *b, size_t n)
{
	const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	const size_t data = (n + pg - 1) / pg * pg + pg; /* at least one page before the data */

	b->len = data + pg;
	b->map = mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->map == MAP_FAILED || mprotect((char *)b->map + data, pg, PROT_NONE) != 0) {
		perror("test_q8_neon: mmap");
		exit(2);
	}
	return (char *)b->map + data - n;
}

static void guarded_free(struct guarded *b)
{
	munmap(b->map, b->len);
}

/* Output, scratch, packed: 64-byte aligned, CANARY bytes of 0xa5 on both sides,
 * the buffer itself filled with `fill` (random bytes when fill < 0). */
static uint8_t *canary_alloc(size_t n, int fill)
{
	uint8_t *base = aligned_alloc(64, (n + 2 * CANARY + 63) / 64 * 64);

	if (!base) {
		fputs("test_q8_neon: out of memory\n", stderr);
		exit(2);
	}
	memset(base, 0xa5, CANARY);
	memset(base + CANARY + n, 0xa5, CANARY);
	for (size_t i = 0; i < n; i++)
		base[CANARY + i] = fill < 0 ? (uint8_t)rnd() : (uint8_t)fill;
	return base + CANARY;
}

static int canary_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < CANARY; i++)
		if (p[-1 - (ptrdiff_t)i] != 0xa5 || p[n + i] != 0xa5)
			return 0;
	return 1;
}

static void canary_free(uint8_t *p)
{
	free(p - CANARY);
}

/* ---- shapes and data ----------------------------------------------------------------------- */

static const int sizes[] = {1, 3, 7, 13};
static const int chans[] = {1, 3, 5, 17, 33};
static const int kernels[] = {1, 2, 3, 5, 7};

static int out_size(int in, int pad_before, int pad_after, int k, int stride, int dil)
{
	const int keff = dil * (k - 1) + 1, total = in + pad_before + pad_after;

	return total < keff ? 0 : (total - keff) / stride + 1;
}

/* A general strided/dilated/padded geometry (conv or depthwise); 0 if it has no output. */
static int gen_spatial(struct fw_conv_geom *g)
{
	g->k_h = PICK(kernels);
	g->k_w = one_in(3) ? PICK(kernels) : g->k_h;
	g->stride_h = irand(1, 2);
	g->stride_w = one_in(4) ? 3 - g->stride_h : g->stride_h;
	g->dil_h = one_in(4) ? 2 : 1;
	g->dil_w = one_in(5) ? 3 - g->dil_h : g->dil_h;
	g->in_h = one_in(2) ? PICK(sizes) : irand(1, 16);
	g->in_w = one_in(2) ? PICK(sizes) : irand(1, 16);

	const int kh = g->dil_h * (g->k_h - 1) + 1, kw = g->dil_w * (g->k_w - 1) + 1;
	const int pad_b = irand(0, kh - 1), pad_r = irand(0, kw - 1); /* asymmetric: TF SAME and others */

	g->pad_t = irand(0, kh - 1);
	g->pad_l = irand(0, kw - 1);
	g->out_h = out_size(g->in_h, g->pad_t, pad_b, g->k_h, g->stride_h, g->dil_h);
	g->out_w = out_size(g->in_w, g->pad_l, pad_r, g->k_w, g->stride_w, g->dil_w);
	return g->out_h > 0 && g->out_w > 0;
}

/* 1x1, stride 1: the direct path when unpadded; sometimes padded (then im2col). */
static void gen_pointwise(struct fw_conv_geom *g, int padded)
{
	g->k_h = g->k_w = g->stride_h = g->stride_w = g->dil_h = g->dil_w = 1;
	g->in_h = one_in(2) ? PICK(sizes) : irand(1, 20);
	g->in_w = one_in(2) ? PICK(sizes) : irand(1, 20);
	g->pad_t = padded ? irand(0, 1) : 0;
	g->pad_l = padded ? irand(0, 1) : 0;
	g->out_h = g->in_h + g->pad_t + (padded ? irand(0, 1) : 0);
	g->out_w = g->in_w + g->pad_l + (padded ? irand(0, 1) : 0);
	if (padded && g->out_h == g->in_h && g->out_w == g->in_w)
		g->out_w++; /* padding after only */
}

static void gen_conv_geom(struct fw_conv_geom *g)
{
	for (;;) {
		const int shape = irand(0, 9);

		memset(g, 0, sizeof(*g));
		g->in_c = one_in(4) ? irand(1, 48) : PICK(chans);
		g->out_c = one_in(4) ? irand(1, 48) : PICK(chans);
		if (shape < 3) { /* 1x1 direct; K from 1 up past several K steps */
			gen_pointwise(g, 0);
			if (one_in(2))
				g->in_c = irand(1, 130);
		} else if (shape == 3) { /* fully connected: 1x1xI */
			g->in_h = g->in_w = g->k_h = g->k_w = 1;
			g->stride_h = g->stride_w = g->dil_h = g->dil_w = 1;
			g->out_h = g->out_w = 1;
			g->in_c = irand(1, 400);
			g->out_c = irand(1, 70);
		} else if (shape == 4) {
			gen_pointwise(g, 1);
		} else if (!gen_spatial(g)) {
			continue;
		}
		const double macs = (double)g->out_h * g->out_w * g->out_c * g->k_h * g->k_w * g->in_c;

		if (macs <= MAX_MACS)
			return;
	}
}

static void gen_dw_geom(struct fw_conv_geom *g)
{
	static const int dw_chans[] = {1, 3, 5, 7, 8, 9, 15, 16, 17, 24, 28, 31, 33, 42, 48};

	for (;;) {
		memset(g, 0, sizeof(*g));
		if (!gen_spatial(g))
			continue;
		g->in_c = g->out_c = one_in(4) ? irand(1, 70) : PICK(dw_chans);
		if ((double)g->out_h * g->out_w * g->out_c * g->k_h * g->k_w <= MAX_MACS)
			return;
	}
}

static uint8_t gen_zero_point(void)
{
	const int mode = irand(0, 7);

	return mode == 0 ? 0 : mode == 1 ? 255 : (uint8_t)irand(0, 255);
}

/* Activations: uniform, saturated, or near the zero point (small accumulators, so a
 * power-of-two scale lands on .5 ties). */
static int gen_u8(uint8_t *p, size_t n, uint8_t zero)
{
	const int mode = irand(0, 7);

	for (size_t i = 0; i < n; i++) {
		int v = mode == 0 ? 255 : mode == 1 ? (one_in(2) ? 0 : 255) : irand(0, 255);

		if (mode >= 6)
			v = zero + irand(-2, 2);
		p[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
	}
	return mode >= 6;
}

static void gen_s8(int8_t *p, size_t n)
{
	const int mode = irand(0, 7);

	for (size_t i = 0; i < n; i++)
		p[i] = (int8_t)(mode == 0 ? -128 : mode == 1 ? (one_in(2) ? -128 : 127) : irand(-128, 127));
}

/* Per-channel requantisation from a sample of the channel's accumulators (`spread`,
 * their largest magnitude): outputs over the whole 0..255 range, clamped at both ends
 * sometimes; power-of-two scales often, so that v hits exact .5 ties; rarely a scale
 * or slope that is not finite (the ref clamps NaN to 512: the tiers must agree). */
static void gen_requant(int n, const double *spread, float *scale, float *slope,
			struct fw_q8_requant *rq, int *nonfinite)
{
	const int mode = irand(0, 9);

	rq->zero_out = gen_zero_point();
	rq->act = irand(0, 2);
	rq->slope = rq->act == FW_ACT_PRELU ? slope : NULL;
	*nonfinite = 0;
	for (int c = 0; c < n; c++) {
		const float base = 150.0f / (float)(spread[c] + 1.0);

		if (mode < 4)
			scale[c] = base * expf(frand(-1.0f, 1.0f));
		else if (mode < 7) /* a power of two just above/below base */
			scale[c] = ldexpf(1.0f, (int)floorf(log2f(base)) + irand(-1, 1));
		else if (mode == 7)
			scale[c] = base * 40.0f; /* most outputs clamp at 0 or 255 */
		else if (mode == 8)
			scale[c] = base / 64.0f; /* most outputs near zero_out */
		else
			scale[c] = base * frand(0.1f, 3.0f);
		const int sm = irand(0, 5);

		slope[c] = sm == 0 ? 0.0f : sm == 1 ? -1.0f : sm == 2 ? frand(-0.5f, 0.0f) : frand(-3.0f, 3.0f);
	}
	if (one_in(40)) {
		const float bad[] = {INFINITY, -INFINITY, NAN};

		scale[irand(0, n - 1)] = PICK(bad);
		if (rq->act == FW_ACT_PRELU)
			slope[irand(0, n - 1)] = PICK(bad);
		*nonfinite = 1;
	}
}

/* ---- running and comparing ------------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void describe_geom(const struct fw_conv_geom *g)
{
	printf("  in %dx%dx%d out %dx%dx%d k %dx%d stride %d,%d dil %d,%d pad_t %d pad_l %d\n", g->in_h,
	       g->in_w, g->in_c, g->out_h, g->out_w, g->out_c, g->k_h, g->k_w, g->stride_h, g->stride_w,
	       g->dil_h, g->dil_w, g->pad_t, g->pad_l);
}

/* Counts one (table, case) result; details for the first MAX_REPORTS failures. */
static void record(int t, int kind, int idx, const uint8_t *want, const uint8_t *got, size_t n,
		   const char *canaries, const struct fw_conv_geom *g, const char *what)
{
	size_t bad = 0, first = 0;

	for (size_t i = 0; i < n; i++)
		if (want[i] != got[i] && bad++ == 0)
			first = i;
	if (!bad && !canaries) {
		passed[t][kind]++;
		return;
	}
	failed[t][kind]++;
	if (reports++ >= MAX_REPORTS)
		return;
	printf("FAIL %s %s case %d: %s\n", tables[t]->name, kind_name[kind], idx, what);
	if (g)
		describe_geom(g);
	if (bad)
		printf("  %zu of %zu bytes differ; first at %zu: ref %u, %s %u\n", bad, n, first,
		       want[first], tables[t]->name, got[first]);
	if (canaries)
		printf("  wrote outside %s\n", canaries);
}

static void conv_case(int idx)
{
	struct fw_conv_geom g;
	gen_conv_geom(&g);

	const size_t k = (size_t)g.k_h * g.k_w * g.in_c, m = (size_t)g.out_h * g.out_w;
	const size_t n_in = (size_t)g.in_h * g.in_w * g.in_c, n_out = m * (size_t)g.out_c;
	struct guarded gin, gw, gb, gs, gp;
	uint8_t *in = guarded_alloc(&gin, n_in);
	int8_t *w = guarded_alloc(&gw, (size_t)g.out_c * k);
	int32_t *bias = guarded_alloc(&gb, (size_t)g.out_c * sizeof(int32_t));
	float *scale = guarded_alloc(&gs, (size_t)g.out_c * sizeof(float));
	float *slope = guarded_alloc(&gp, (size_t)g.out_c * sizeof(float));
	double spread[64 + 8];
	struct fw_q8_requant rq = {.scale = scale};
	int nonfinite;
	const uint8_t zero_in = gen_zero_point();
	const int near = gen_u8(in, n_in, zero_in);

	gen_s8(w, (size_t)g.out_c * k);
	for (int oc = 0; oc < g.out_c; oc++) {
		int64_t sum_w = 0;

		for (size_t t = 0; t < k; t++)
			sum_w += w[(size_t)oc * k + t];
		bias[oc] = (int32_t)((near ? irand(-200, 200) : irand(-20000, 20000)) - zero_in * sum_w);
	}
	/* the accumulators of a few pixels, for the scales */
	for (int oc = 0; oc < g.out_c; oc++) {
		spread[oc] = 0.0;
		for (int s = 0; s < 8; s++) {
			const int p = irand(0, (int)m - 1), oy = p / g.out_w, ox = p % g.out_w;
			int64_t acc = bias[oc];
			size_t t = 0;

			for (int ky = 0; ky < g.k_h; ky++)
				for (int kx = 0; kx < g.k_w; kx++) {
					const int iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
					const int ix = ox * g.stride_w - g.pad_l + kx * g.dil_w;
					const int ok = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;

					for (int ic = 0; ic < g.in_c; ic++, t++)
						acc += (ok ? in[((size_t)iy * g.in_w + ix) * g.in_c + ic] : zero_in) *
						       w[(size_t)oc * k + t];
				}
			spread[oc] = fmax(spread[oc], fabs((double)acc));
		}
	}
	gen_requant(g.out_c, spread, scale, slope, &rq, &nonfinite);
	g.act = rq.act;

	uint8_t *want = NULL, *wantf = NULL;
	for (int t = -1; t < n_tables; t++) {
		const struct fw_q8_kernels *K = t < 0 ? &fw_q8_ref_kernels : tables[t];
		const size_t psize = K->conv_packed_size(&g), ssize = K->conv_scratch(&g);
		uint8_t *packed = canary_alloc(psize, -1);
		uint8_t *scratch = ssize ? canary_alloc(ssize, -1) : NULL;
		uint8_t *out = canary_alloc(n_out, t < 0 ? 0x3c : 0xc3);
		/* the float output (conv_f32) from the same packed weights */
		uint8_t *outf = canary_alloc(n_out * sizeof(float), t < 0 ? 0x3c : 0xc3);
		const char *bad = NULL, *badf = NULL;

		K->conv_pack(&g, w, packed);
		if (!canary_ok(packed, psize))
			bad = "packed (conv_pack)";
		K->conv(&g, in, zero_in, packed, bias, &rq, out, scratch);
		if (!canary_ok(out, n_out))
			bad = "out";
		if (scratch && !canary_ok(scratch, ssize))
			bad = "scratch";
		if (scratch)
			memset(scratch, 0x5a, ssize); /* conv_f32 must not rely on what conv left */
		K->conv_f32(&g, in, zero_in, packed, bias, &rq, (float *)(void *)outf, scratch);
		if (!canary_ok(outf, n_out * sizeof(float)))
			badf = "out";
		if (scratch && !canary_ok(scratch, ssize))
			badf = "scratch";
		canary_free(packed);
		if (scratch)
			canary_free(scratch);
		if (t < 0) {
			if (bad || badf) {
				printf("reference wrote outside %s\n", bad ? bad : badf);
				exit(2);
			}
			want = out;
			wantf = outf;
			continue;
		}
		char what[160];

		snprintf(what, sizeof(what), "zero_in %u zero_out %d act %d%s%s", zero_in, rq.zero_out,
			 rq.act, near ? " near-zero-point data" : "", nonfinite ? " non-finite scale" : "");
		record(t, KIND_CONV, idx, want, out, n_out, bad, &g, what);
		record(t, KIND_CONV_F32, idx, wantf, outf, n_out * sizeof(float), badf, &g, what);
		canary_free(out);
		canary_free(outf);
	}
	canary_free(want);
	canary_free(wantf);
	guarded_free(&gin);
	guarded_free(&gw);
	guarded_free(&gb);
	guarded_free(&gs);
	guarded_free(&gp);
}

static void dwconv_case(int idx)
{
	struct fw_conv_geom g;
	gen_dw_geom(&g);

	const size_t c = (size_t)g.in_c, taps = (size_t)g.k_h * g.k_w;
	const size_t n_in = (size_t)g.in_h * g.in_w * c, n_out = (size_t)g.out_h * g.out_w * c;
	struct guarded gin, gw, gb, gs, gp;
	uint8_t *in = guarded_alloc(&gin, n_in);
	int8_t *w = guarded_alloc(&gw, taps * c);
	int32_t *bias = guarded_alloc(&gb, c * sizeof(int32_t));
	float *scale = guarded_alloc(&gs, c * sizeof(float));
	float *slope = guarded_alloc(&gp, c * sizeof(float));
	double spread[128];
	struct fw_q8_requant rq = {.scale = scale};
	int nonfinite;
	const uint8_t zero_in = gen_zero_point();
	const int near = gen_u8(in, n_in, zero_in);

	gen_s8(w, taps * c);
	for (size_t ch = 0; ch < c; ch++) {
		int64_t sum_w = 0;

		for (size_t t = 0; t < taps; t++)
			sum_w += w[t * c + ch];
		bias[ch] = (int32_t)((near ? irand(-200, 200) : irand(-20000, 20000)) - zero_in * sum_w);
		spread[ch] = 0.0;
		for (int s = 0; s < 8; s++) {
			const int oy = irand(0, g.out_h - 1), ox = irand(0, g.out_w - 1);
			int64_t acc = bias[ch];

			for (int ky = 0; ky < g.k_h; ky++)
				for (int kx = 0; kx < g.k_w; kx++) {
					const int iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
					const int ix = ox * g.stride_w - g.pad_l + kx * g.dil_w;
					const int ok = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;

					acc += (ok ? in[((size_t)iy * g.in_w + ix) * c + ch] : zero_in) *
					       w[(size_t)(ky * g.k_w + kx) * c + ch];
				}
			spread[ch] = fmax(spread[ch], fabs((double)acc));
		}
	}
	gen_requant(g.in_c, spread, scale, slope, &rq, &nonfinite);
	g.act = rq.act;

	uint8_t *want = NULL, *wantf = NULL;
	for (int t = -1; t < n_tables; t++) {
		const struct fw_q8_kernels *K = t < 0 ? &fw_q8_ref_kernels : tables[t];
		uint8_t *out = canary_alloc(n_out, t < 0 ? 0x3c : 0xc3);
		uint8_t *outf = canary_alloc(n_out * sizeof(float), t < 0 ? 0x3c : 0xc3);

		K->dwconv(&g, in, zero_in, w, bias, &rq, out);
		K->dwconv_f32(&g, in, zero_in, w, bias, &rq, (float *)(void *)outf);
		const char *bad = canary_ok(out, n_out) ? NULL : "out";
		const char *badf = canary_ok(outf, n_out * sizeof(float)) ? NULL : "out";

		if (t < 0) {
			want = out;
			wantf = outf;
			continue;
		}
		char what[160];

		snprintf(what, sizeof(what), "zero_in %u zero_out %d act %d%s%s", zero_in, rq.zero_out,
			 rq.act, near ? " near-zero-point data" : "", nonfinite ? " non-finite scale" : "");
		record(t, KIND_DWCONV, idx, want, out, n_out, bad, &g, what);
		record(t, KIND_DWCONV_F32, idx, wantf, outf, n_out * sizeof(float), badf, &g, what);
		canary_free(out);
		canary_free(outf);
	}
	canary_free(want);
	canary_free(wantf);
	guarded_free(&gin);
	guarded_free(&gw);
	guarded_free(&gb);
	guarded_free(&gs);
	guarded_free(&gp);
}

static void add_case(int idx)
{
	const int shape = irand(0, 3);
	const size_t n = (size_t)(shape == 0 ? irand(1, 15) : shape == 1 ? 16 * irand(1, 8) + irand(-1, 1)
							     : irand(1, 400));
	struct guarded ga, gb;
	uint8_t *a = guarded_alloc(&ga, n), *b = guarded_alloc(&gb, n);
	struct fw_q8_add p;
	int nonfinite = 0;
	const int32_t za = gen_zero_point(), zb = gen_zero_point(), zy = gen_zero_point();
	const int act = irand(0, 1);
	const int mode = irand(0, 3);
	float sa, sb, sy;

	gen_u8(a, n, (uint8_t)za);
	gen_u8(b, n, (uint8_t)zb);
	if (mode == 0) { /* powers of two: exact multipliers, ties rounded half up */
		sa = ldexpf(1.0f, -irand(0, 3));
		sb = ldexpf(1.0f, -irand(0, 3));
		sy = ldexpf(1.0f, irand(0, 2));
	} else if (mode == 1) { /* tenths */
		sa = ldexpf((float)irand(1, 9) / 10.0f, -irand(0, 2));
		sb = ldexpf((float)irand(1, 9) / 10.0f, -irand(0, 2));
		sy = ldexpf(1.0f, irand(-1, 1));
	} else if (mode == 2) {
		sa = expf(frand(-6.0f, -2.0f));
		sb = expf(frand(-6.0f, -2.0f));
		sy = (255.0f * (sa + sb)) / 200.0f * expf(frand(-1.5f, 1.5f));
	} else { /* ratios far from 1: shift 0 with capped multipliers, or 30 */
		sa = ldexpf(1.0f, irand(-40, 40));
		sb = ldexpf(frand(0.5f, 1.0f), irand(-40, 40));
		sy = 1.0f;
	}
	if (one_in(40)) {
		const float bad[] = {INFINITY, -INFINITY, NAN, 0.0f};

		*(one_in(2) ? &sy : &sa) = PICK(bad);
		nonfinite = 1;
	}
	fw_q8_add_prepare(&p, sa, sb, sy, za, zb, zy, act);

	uint8_t *want = NULL;
	for (int t = -1; t < n_tables; t++) {
		const struct fw_q8_kernels *K = t < 0 ? &fw_q8_ref_kernels : tables[t];
		uint8_t *out = canary_alloc(n, t < 0 ? 0x3c : 0xc3);

		K->add(a, b, n, &p, out);
		const char *bad = canary_ok(out, n) ? NULL : "out";

		if (t < 0) {
			want = out;
			continue;
		}
		char what[200];

		snprintf(what, sizeof(what), "n %zu za %d zb %d zy %d ma %d mb %d shift %d act %d%s", n,
			 p.za, p.zb, p.zy, p.ma, p.mb, p.shift, p.act, nonfinite ? " bad scale" : "");
		record(t, KIND_ADD, idx, want, out, n, bad, NULL, what);
		canary_free(out);
	}
	canary_free(want);
	guarded_free(&ga);
	guarded_free(&gb);
}

/* add_cpad (b padded with zb from cb to c channels, then add) against
 * fw_q8_pad + the reference add; b ends at a PROT_NONE page */
static void add_cpad_case(int idx)
{
	static const int cs[] = {1, 3, 15, 16, 17, 24, 28, 64, 65, 100};
	const int c = PICK(cs), cb = one_in(5) ? (one_in(2) ? 0 : c) : irand(0, c);
	const size_t pixels = (size_t)(one_in(8) ? irand(200, 400) : irand(1, 30)), n = pixels * (size_t)c;
	struct guarded ga, gb;
	uint8_t *a = guarded_alloc(&ga, n), *b = guarded_alloc(&gb, pixels * (size_t)cb);
	uint8_t *padded = malloc(n), *want = malloc(n);
	struct fw_q8_add p;

	const int32_t za = gen_zero_point(), zb = gen_zero_point(), zy = one_in(3) ? 0 : gen_zero_point();
	const int act = irand(0, 1);
	const float sa = expf(frand(-6.0f, -2.0f)), sb = expf(frand(-6.0f, -2.0f));

	gen_u8(a, n, (uint8_t)za);
	gen_u8(b, pixels * (size_t)cb, (uint8_t)zb);
	fw_q8_add_prepare(&p, sa, sb, (255.0f * (sa + sb)) / 200.0f * expf(frand(-1.5f, 1.5f)), za, zb, zy, act);

	const int dims[4] = {1, 1, (int)pixels, cb}, pad[8] = {0, 0, 0, 0, 0, 0, 0, c - cb};

	fw_q8_pad(dims, pad, b, (uint8_t)p.zb, padded);
	fw_q8_ref_kernels.add(a, padded, n, &p, want);
	for (int t = 0; t < n_tables; t++) {
		uint8_t *out = canary_alloc(n, 0xc3);
		char what[160];

		tables[t]->add_cpad(a, b, pixels, c, cb, &p, out);
		snprintf(what, sizeof(what), "%zu px c %d cb %d za %d zb %d zy %d act %d", pixels, c, cb, p.za,
			 p.zb, p.zy, p.act);
		record(t, KIND_ADD_CPAD, idx, want, out, n, canary_ok(out, n) ? NULL : "out", NULL, what);
		canary_free(out);
	}
	free(padded);
	free(want);
	guarded_free(&ga);
	guarded_free(&gb);
}

int main(int argc, char **argv)
{
	const int cases = argc > 1 ? atoi(argv[1]) : 300;
	const unsigned long long seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed;
	const int dot = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
	const double t0 = now();
	int total_pass = 0, total_fail = 0;

	rng = seed ? seed : 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("test_q8_neon: %d cases per kind, seed 0x%llx\n", cases, seed);
	tables[n_tables++] = &fw_q8_neon_kernels;
	printf("table neon: tested\n");
	if (dot) {
		tables[n_tables++] = &fw_q8_neondot_kernels;
		printf("table neondot: tested (HWCAP_ASIMDDP set)\n");
	} else {
		printf("table neondot: skipped (no HWCAP_ASIMDDP: this CPU has no sdot)\n");
	}

	for (int i = 0; i < cases; i++) {
		conv_case(i);
		dwconv_case(i);
		add_case(i);
		add_cpad_case(i);
	}

	for (int t = 0; t < n_tables; t++) {
		for (int kind = 0; kind < KIND_COUNT; kind++) {
			printf("%-8s %-7s %4d passed, %d failed\n", tables[t]->name, kind_name[kind],
			       passed[t][kind], failed[t][kind]);
			total_pass += passed[t][kind];
			total_fail += failed[t][kind];
		}
	}
	printf("time %.2f s\n", now() - t0);
	printf("%d passed, %d failed\n", total_pass, total_fail);
	return total_fail ? 1 : 0;
}
