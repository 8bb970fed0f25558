/* Calibration of u8 activations. See calibrate.h. */
#include "calibrate.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fw.h"
#include "model_format.h"

/* Bins per side of 0. The width is the smallest power of two that holds
 * every value seen, so the largest magnitude lies in the outer half: at
 * least HALF / 2 bins span [0, max|x|], 8x finer than the 255 steps of u8. */
#define HALF 4096
#define NBINS (2 * HALF)

/* Clip fractions tried by MSE and KL: 1, 0.97, 0.97^2, ... down to 1/50. */
#define CLIP_STEP 0.97
#define CLIP_MIN 0.02
/* KL needs several histogram bins per u8 step, or Q equals P and every
 * narrow range looks perfect: ranges narrower than this many bins are not tried. */
#define KL_MIN_BINS (2 * 255)

struct hist {
	uint64_t *bins; /* bin i holds [(i - HALF) w, (i - HALF + 1) w) */
	double w;       /* bin width, a power of two; 0 while only zeros were seen */
	float min, max; /* exact, over finite values; min > max while empty */
	uint64_t n, n_zero, n_bad;
};

struct ctensor {
	const char *name;
	int kind;       /* enum fw_tensor_kind */
	int dims[4];
	int producer;   /* op index, -1 for the input and constants */
	struct hist h;
	int parent;     /* union-find over tied tensors */
	struct fw_qparams q;
};

struct fw_calib {
	char name[FW_MF_MAX_NAME + 1];
	int n_tensors, n_ops, input;
	struct ctensor *t;
	struct fw_mf_op *ops;
	char *strings;
	uint32_t fingerprint;  /* CRC of the file with every scale/zero_point zeroed */
	uint64_t *scratch;     /* NBINS: coarsening and group merges */
	struct fw_model *model;
	int runs;
	int chosen;
	int shape_warned;
};

/* ---- the file ---- */

/* Header, CRC and table bounds: enough to patch the tensor records safely.
 * (The loader checks the rest before it runs anything.) */
static int check_file(const unsigned char *buf, size_t len, const char *what,
		      struct fw_mf_header *h)
{
	if (len < sizeof *h) {
		fw_log(FW_LOG_ERROR, "%s: truncated: not a facewatch model file", what);
		return FW_ETRUNC;
	}
	memcpy(h, buf, sizeof *h);
	if (memcmp(h->magic, FW_MF_MAGIC, 8)) {
		fw_log(FW_LOG_ERROR, "%s: not a facewatch model file (bad magic)", what);
		return FW_EFORMAT;
	}
	if (h->version != FW_MF_VERSION || h->header_size != sizeof *h) {
		fw_log(FW_LOG_ERROR, "%s: model format version %u, this facewatch reads version %d",
		       what, h->version, FW_MF_VERSION);
		return FW_EVERSION;
	}
	if (h->file_size != len) {
		fw_log(FW_LOG_ERROR, "%s: the file is %zu bytes, its header says %u; reinstall or "
		       "regenerate it (models/SOURCES.md)", what, len, h->file_size);
		return FW_ETRUNC;
	}
	if (fw_crc32(0, buf + sizeof *h, len - sizeof *h) != h->crc32) {
		fw_log(FW_LOG_ERROR, "%s: checksum mismatch: the file is corrupt; reinstall or "
		       "regenerate it (models/SOURCES.md)", what);
		return FW_ECHECKSUM;
	}
	if (h->n_tensors < 1 || h->n_tensors > 65536 || h->n_ops < 1 || h->n_ops > 65536 ||
	    h->n_inputs != 1 || h->n_outputs < 1 || h->n_outputs > h->n_tensors ||
	    (uint64_t)h->tensors_off + (uint64_t)h->n_tensors * sizeof(struct fw_mf_tensor) > len ||
	    (uint64_t)h->ops_off + (uint64_t)h->n_ops * sizeof(struct fw_mf_op) > len ||
	    (uint64_t)h->io_off + 4u * (uint64_t)(h->n_inputs + h->n_outputs) > len ||
	    (uint64_t)h->strings_off + h->strings_size > len || h->strings_size < 1 ||
	    h->tensors_off < sizeof *h || h->ops_off < sizeof *h || h->io_off < sizeof *h ||
	    h->strings_off < sizeof *h || buf[h->strings_off + h->strings_size - 1] != 0) {
		fw_log(FW_LOG_ERROR, "%s: a section lies outside the file", what);
		return FW_EFORMAT;
	}
	return 0;
}

static size_t qfield_off(const struct fw_mf_header *h, int i)
{
	return h->tensors_off + (size_t)i * sizeof(struct fw_mf_tensor) +
	       offsetof(struct fw_mf_tensor, scale);
}

/* The CRC of [160, len) as if every tensor's scale and zero_point were 0:
 * equal for two files that differ only in their calibration. */
static uint32_t graph_fingerprint(const unsigned char *buf, size_t len, const struct fw_mf_header *h)
{
	static const unsigned char zeros[8];
	uint32_t crc = 0;
	size_t at = sizeof *h;

	for (uint32_t i = 0; i < h->n_tensors; i++) {
		size_t q = qfield_off(h, (int)i);
		crc = fw_crc32(crc, buf + at, q - at);
		crc = fw_crc32(crc, zeros, sizeof zeros);
		at = q + sizeof zeros;
	}
	return fw_crc32(crc, buf + at, len - at);
}

static int elems_of(const int d[4], size_t *n)
{
	uint64_t v = 1;
	for (int k = 0; k < 4; k++) {
		if (d[k] < 1 || d[k] > (1 << 20))
			return -1;
		v *= (uint64_t)d[k];
	}
	if (v > (1u << 26))
		return -1;
	*n = (size_t)v;
	return 0;
}

/* ---- statistics ---- */

static int fits(double w, float lo, float hi)
{
	return (double)lo >= -HALF * w && (double)hi < HALF * w;
}

/* Double the bin width until [lo, hi] fits, merging pairs of bins. */
static void coarsen_to_fit(struct hist *h, uint64_t *scratch, float lo, float hi)
{
	float mag = fmaxf(fabsf(lo), fabsf(hi));

	if (mag == 0)
		return;
	if (h->w == 0) {
		int e;
		/* the smallest power of two that fits, as doubling would reach */
		frexpf(mag, &e);                 /* mag < 2^e */
		h->w = ldexp(1.0, e - 12);       /* HALF * w = 2^e */
		while (fits(h->w / 2, lo, hi))
			h->w /= 2;
		return;
	}
	while (!fits(h->w, lo, hi)) {
		memset(scratch, 0, NBINS * sizeof *scratch);
		/* bin j = i - HALF goes to floor(j / 2): i / 2 + HALF / 2 */
		for (int i = 0; i < NBINS; i++)
			scratch[i / 2 + HALF / 2] += h->bins[i];
		memcpy(h->bins, scratch, NBINS * sizeof *scratch);
		h->w *= 2;
	}
}

static void hist_add(struct hist *h, uint64_t *scratch, const float *x, size_t n)
{
	float lo = INFINITY, hi = -INFINITY;
	size_t good = 0;
	uint64_t zeros = 0;
	double inv;

	/* comparisons, not fminf/fmaxf: this runs on every activation value */
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		if (!isfinite(v))
			continue;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		good++;
	}
	h->n_bad += n - good;
	if (!good)
		return;
	h->min = lo < h->min ? lo : h->min;
	h->max = hi > h->max ? hi : h->max;
	h->n += good;
	coarsen_to_fit(h, scratch, lo, hi);
	inv = h->w > 0 ? 1.0 / h->w : 0; /* a power of two: x * inv is exact */
	for (size_t i = 0; i < n; i++) {
		double d;
		long j;

		if (!isfinite(x[i]))
			continue;
		if (x[i] == 0) {
			zeros++; /* half of a ReLU output: not a chain of memory increments */
			continue;
		}
		d = (double)x[i] * inv;
		j = (long)d;
		j -= d < (double)j; /* floor, for negative d too */
		j += HALF;
		if (j < 0)
			j = 0; /* unreachable: fits() holds */
		if (j >= NBINS)
			j = NBINS - 1;
		h->bins[j]++;
	}
	h->n_zero += zeros;
	h->bins[HALF] += zeros;
}

void fw_calib_observe(struct fw_calib *c, int id, const float *x, size_t n)
{
	if (id < 0 || id >= c->n_tensors || !c->t[id].h.bins)
		return;
	hist_add(&c->t[id].h, c->scratch, x, n);
}

static void trace_hook(int op_index, const char *name, const float *data, struct fw_shape shape,
		       void *ctx)
{
	struct fw_calib *c = ctx;
	size_t n = (size_t)shape.n * shape.h * shape.w * shape.c, want = 0;
	int id;

	(void)name;
	if (op_index == 0) {
		/* the input is kept through the run: read it once, at the first op */
		struct fw_shape s;
		const float *x = fw_model_input(c->model, &s);
		fw_calib_observe(c, c->input, x, (size_t)s.n * s.h * s.w * s.c);
		c->runs++;
	}
	if (op_index < 0 || op_index >= c->n_ops)
		return;
	id = c->ops[op_index].out;
	elems_of(c->t[id].dims, &want);
	if (n != want) {
		if (!c->shape_warned)
			fw_log(FW_LOG_ERROR, "calibration of %s: op %d writes %zu values, the file says "
			       "%zu; statistics are being skipped", c->name, op_index, n, want);
		c->shape_warned = 1;
		return;
	}
	fw_calib_observe(c, id, data, n);
}

/* ---- create / free ---- */

int fw_calib_create_mem(struct fw_calib **out, const void *buf_, size_t len, const char *what)
{
	const unsigned char *buf = buf_;
	struct fw_mf_header h;
	struct fw_calib *c;
	int err;

	*out = NULL;
	if ((err = check_file(buf, len, what, &h)))
		return err;
	c = calloc(1, sizeof *c);
	if (!c)
		return FW_ENOMEM;
	memcpy(c->name, h.name, FW_MF_MAX_NAME);
	c->n_tensors = (int)h.n_tensors;
	c->n_ops = (int)h.n_ops;
	c->t = calloc((size_t)c->n_tensors, sizeof *c->t);
	c->ops = calloc((size_t)c->n_ops, sizeof *c->ops);
	c->strings = malloc(h.strings_size);
	c->scratch = malloc(NBINS * sizeof *c->scratch);
	if (!c->t || !c->ops || !c->strings || !c->scratch) {
		err = FW_ENOMEM;
		goto fail;
	}
	memcpy(c->strings, buf + h.strings_off, h.strings_size);
	memcpy(c->ops, buf + h.ops_off, (size_t)c->n_ops * sizeof *c->ops);
	memcpy(&c->input, buf + h.io_off, 4);
	err = FW_EFORMAT;
	if (c->input < 0 || c->input >= c->n_tensors) {
		fw_log(FW_LOG_ERROR, "%s: the graph input refers to tensor %d", what, c->input);
		goto fail;
	}
	for (int i = 0; i < c->n_tensors; i++) {
		struct fw_mf_tensor r;
		struct ctensor *t = &c->t[i];
		size_t n;

		memcpy(&r, buf + h.tensors_off + (size_t)i * sizeof r, sizeof r);
		if (r.name_off >= h.strings_size || elems_of(r.dims, &n) ||
		    r.kind > FW_TK_INPUT) {
			fw_log(FW_LOG_ERROR, "%s: tensor %d: bad name, shape or kind", what, i);
			goto fail;
		}
		t->name = c->strings + r.name_off;
		t->kind = r.kind;
		memcpy(t->dims, r.dims, sizeof t->dims);
		t->producer = -1;
		t->parent = i;
		t->h.min = INFINITY;
		t->h.max = -INFINITY;
		if (t->kind != FW_TK_CONST && !(t->h.bins = calloc(NBINS, sizeof *t->h.bins))) {
			err = FW_ENOMEM;
			goto fail;
		}
	}
	for (int i = 0; i < c->n_ops; i++) {
		const struct fw_mf_op *r = &c->ops[i];
		if (r->n_in > FW_MF_MAX_IN || r->out < 0 || r->out >= c->n_tensors ||
		    c->t[r->out].kind != FW_TK_ACTIVATION || c->t[r->out].producer >= 0) {
			fw_log(FW_LOG_ERROR, "%s: op %d: bad output", what, i);
			goto fail;
		}
		for (int s = 0; s < r->n_in; s++)
			if (r->in[s] < -1 || r->in[s] >= c->n_tensors) {
				fw_log(FW_LOG_ERROR, "%s: op %d: input %d refers to tensor %d", what, i, s,
				       r->in[s]);
				goto fail;
			}
		c->t[r->out].producer = i;
	}
	c->fingerprint = graph_fingerprint(buf, len, &h);
	*out = c;
	return 0;
fail:
	fw_calib_free(c);
	return err;
}

int fw_calib_create(struct fw_calib **out, const char *model_path)
{
	unsigned char *buf;
	size_t len;
	int err;

	*out = NULL;
	if ((err = fw_model_read_file(model_path, &buf, &len)))
		return err;
	err = fw_calib_create_mem(out, buf, len, model_path);
	free(buf);
	return err;
}

void fw_calib_free(struct fw_calib *c)
{
	if (!c)
		return;
	fw_calib_detach(c);
	for (int i = 0; c->t && i < c->n_tensors; i++)
		free(c->t[i].h.bins);
	free(c->t);
	free(c->ops);
	free(c->strings);
	free(c->scratch);
	free(c);
}

int fw_calib_attach(struct fw_calib *c, struct fw_model *m)
{
	struct fw_shape s;
	const int *d = c->t[c->input].dims;
	int err;

	fw_calib_detach(c);
	fw_model_input(m, &s);
	if (strcmp(fw_model_name(m), c->name) || s.n != d[0] || s.h != d[1] || s.w != d[2] ||
	    s.c != d[3]) {
		fw_log(FW_LOG_ERROR, "calibration of %s: the model given is '%s', another graph",
		       c->name, fw_model_name(m));
		return FW_EMODEL;
	}
	if (fw_model_precision(m) != FW_PRECISION_FLOAT) {
		fw_log(FW_LOG_ERROR, "calibration of %s: the model runs int8; calibrate on a model "
		       "loaded in float", c->name);
		return FW_EINVAL;
	}
	if ((err = fw_model_set_trace(m, trace_hook, c)))
		return err;
	c->model = m;
	return 0;
}

void fw_calib_detach(struct fw_calib *c)
{
	if (c->model)
		fw_model_set_trace(c->model, NULL, NULL);
	c->model = NULL;
}

int fw_calib_runs(const struct fw_calib *c)
{
	return c->runs;
}

int fw_calib_n_tensors(const struct fw_calib *c)
{
	return c->n_tensors;
}

const char *fw_calib_model_name(const struct fw_calib *c)
{
	return c->name;
}

int fw_calib_tensor_id(const struct fw_calib *c, const char *name)
{
	for (int i = 0; i < c->n_tensors; i++)
		if (!strcmp(c->t[i].name, name))
			return i;
	return -1;
}

/* ---- choosing the parameters ---- */

struct fw_qparams fw_calib_range_params(float lo, float hi)
{
	struct fw_qparams q;
	double s, z;

	if (!(lo < 0))
		lo = 0;
	if (!(hi > 0))
		hi = 0;
	s = ((double)hi - lo) / 255.0;
	if (!(s >= 1e-30) || !isfinite(s))
		return (struct fw_qparams){ 1.0f / 255, 0 };
	q.scale = (float)s;
	z = round(-(double)lo * 255.0 / ((double)hi - lo)); /* exact halves stay halves */
	q.zero_point = z < 0 ? 0 : z > 255 ? 255 : (int32_t)z;
	return q;
}

/* One histogram bin, taken as values spread evenly over [a, b), or a point
 * mass (a == b: the exact zeros, or a bin clamped to the observed min/max). */
struct entry {
	double a, b;
	double n;
};

/* Integral over [-s/2, t) of (x - s round(x / s))^2, split into whole grid
 * periods (s^3 / 12 each) and the rest; *periods gets the period count so
 * that differences keep their precision far from 0. */
static double round_err_upto(double t, double s, double *periods)
{
	double k = floor((t + 0.5 * s) / s), y = t - k * s;

	*periods = k;
	return (y * y * y + 0.125 * s * s * s) / 3;
}

/* Sum of squared errors over the entries for the grid q: rounding inside
 * [lo, hi] (the representable range), clipping outside, each bin's values
 * taken as evenly spread. Exact for any bin width, so a histogram whose
 * bins are coarser than the u8 step (a wide range for an outlier) still
 * scores its candidates fairly. */
static double cost_mse(const struct entry *e, int ne, struct fw_qparams q)
{
	const double s = q.scale, lo = -s * q.zero_point, hi = s * (255 - q.zero_point);
	double sum = 0;

	for (int i = 0; i < ne; i++) {
		double a = e[i].a, b = e[i].b, in_a, in_b, err = 0;

		if (b <= a) {
			/* a point: its own error */
			double v = a < lo ? lo : a > hi ? hi : s * nearbyint(a / s);
			sum += e[i].n * (a - v) * (a - v);
			continue;
		}
		if (a < lo) { /* clipped to lo: integral of (x - lo)^2 */
			double c = b < lo ? b : lo;
			err += ((c - lo) * (c - lo) * (c - lo) - (a - lo) * (a - lo) * (a - lo)) / 3;
		}
		if (b > hi) {
			double c = a > hi ? a : hi;
			err += ((b - hi) * (b - hi) * (b - hi) - (c - hi) * (c - hi) * (c - hi)) / 3;
		}
		in_a = a > lo ? a : lo;
		in_b = b < hi ? b : hi;
		if (in_b > in_a) {
			double ka, kb, fa = round_err_upto(in_a, s, &ka), fb = round_err_upto(in_b, s, &kb);
			err += (kb - ka) * s * s * s / 12 + fb - fa;
		}
		sum += e[i].n * err / (b - a);
	}
	return sum;
}

/* TensorRT's entropy calibration, for an asymmetric u8 grid: P is the
 * histogram with the mass outside the range folded into its edge bins; Q
 * spreads each u8 step's in-range mass evenly over that step's non-empty
 * bins. Returns KL(P || Q). */
static double cost_kl(const struct entry *e, int ne, struct fw_qparams q, double *pbuf, int *lvl)
{
	double inv = 1.0 / q.scale, total = 0, in_total = 0, kl = 0;
	double level_mass[256] = { 0 };
	int level_bins[256] = { 0 };
	int first = -1, last = -1;

	for (int i = 0; i < ne; i++) {
		double r = nearbyint(0.5 * (e[i].a + e[i].b) * inv) + q.zero_point;
		total += e[i].n;
		pbuf[i] = 0;
		lvl[i] = -1;
		if (r < 0 || r > 255)
			continue;
		lvl[i] = (int)r;
		pbuf[i] = e[i].n;
		in_total += e[i].n;
		level_mass[lvl[i]] += e[i].n;
		level_bins[lvl[i]]++;
		if (first < 0)
			first = i;
		last = i;
	}
	if (first < 0 || in_total <= 0)
		return INFINITY;
	for (int i = 0; i < ne; i++)
		if (lvl[i] < 0)
			pbuf[i < first ? first : last] += e[i].n;
	for (int i = first; i <= last; i++) {
		double p, qq;
		if (pbuf[i] <= 0)
			continue;
		p = pbuf[i] / total;
		qq = lvl[i] >= 0 && e[i].n > 0 ? level_mass[lvl[i]] / level_bins[lvl[i]] / in_total : 0;
		if (qq <= 0)
			qq = 1e-12; /* P has mass here that Q cannot show: outliers folded in */
		kl += p * log(p / qq);
	}
	return kl;
}

struct search {
	const struct entry *e;
	int ne;
	enum fw_calib_method method;
	double w;             /* histogram bin width */
	double *pbuf;
	int *lvl;
};

static double cost(const struct search *s, float lo, float hi)
{
	struct fw_qparams q = fw_calib_range_params(lo, hi);

	if (s->method == FW_CALIB_KL) {
		if ((double)hi - lo < KL_MIN_BINS * s->w)
			return INFINITY;
		return cost_kl(s->e, s->ne, q, s->pbuf, s->lvl);
	}
	return cost_mse(s->e, s->ne, q);
}

/* Best fraction t of `full` for one end of the range, the other fixed. */
static double best_fraction(const struct search *s, float fixed, float full, int is_hi)
{
	double best_t = 1, best = INFINITY;

	for (double t = 1; t >= CLIP_MIN; t *= CLIP_STEP) {
		float end = (float)(full * t);
		double v = is_hi ? cost(s, fixed, end) : cost(s, end, fixed);
		if (v < best) { /* strict: ties keep the wider range */
			best = v;
			best_t = t;
		}
	}
	return best_t;
}

/* The range [lo, hi] (lo <= 0 <= hi) for a histogram. */
static void choose_range(const struct search *s, float min, float max, float *lo, float *hi)
{
	float neg = min < 0 ? -min : 0, pos = max > 0 ? max : 0;
	double a = 1, b = 1;

	*lo = -neg;
	*hi = pos;
	if (s->method == FW_CALIB_MINMAX || (neg == 0 && pos == 0))
		return;
	if (neg == 0) {
		b = best_fraction(s, 0, pos, 1);
	} else if (pos == 0) {
		a = best_fraction(s, 0, -neg, 0);
	} else {
		/* coordinate descent from the full range; two rounds settle it */
		for (int round = 0; round < 2; round++) {
			b = best_fraction(s, (float)(-neg * a), pos, 1);
			a = best_fraction(s, (float)(pos * b), -neg, 0);
		}
	}
	*lo = (float)(-neg * a);
	*hi = (float)(pos * b);
}

static int find(struct fw_calib *c, int i)
{
	while (c->t[i].parent != i)
		i = c->t[i].parent = c->t[c->t[i].parent].parent;
	return i;
}

static void tie(struct fw_calib *c, int a, int b)
{
	a = find(c, a);
	b = find(c, b);
	/* the smaller id is the root: the group's name in messages is stable */
	if (a < b)
		c->t[b].parent = a;
	else if (b < a)
		c->t[a].parent = b;
}

static int is_activation(const struct fw_calib *c, int id)
{
	return id >= 0 && id < c->n_tensors && c->t[id].kind != FW_TK_CONST;
}

/* Add h into acc (width acc_w >= h->w, both powers of two). */
static void merge_into(uint64_t *acc, double acc_w, const struct hist *h)
{
	long shift = 0;

	if (h->w == 0) {
		acc[HALF] += h->bins[HALF]; /* only zeros */
		return;
	}
	for (double w = h->w; w < acc_w; w *= 2)
		shift++;
	for (int i = 0; i < NBINS; i++) {
		long j = i - HALF, k;
		if (!h->bins[i])
			continue;
		/* floor(j / 2^shift) for negative j too */
		k = j >= 0 ? j >> shift : -((-j + (1L << shift) - 1) >> shift);
		acc[k + HALF] += h->bins[i];
	}
}

int fw_calib_choose(struct fw_calib *c, const struct fw_calib_options *opt)
{
	static const struct fw_calib_options defaults = { .method = FW_CALIB_MSE };
	struct entry *e = NULL;
	double *pbuf = NULL;
	int *lvl = NULL, *is_float = NULL, err = 0;

	if (!opt)
		opt = &defaults;
	c->chosen = 0;
	e = malloc((NBINS + 1) * sizeof *e);
	pbuf = malloc((NBINS + 1) * sizeof *pbuf);
	lvl = malloc((NBINS + 1) * sizeof *lvl);
	is_float = calloc((size_t)c->n_tensors, sizeof *is_float);
	if (!e || !pbuf || !lvl || !is_float) {
		err = FW_ENOMEM;
		goto out;
	}
	for (int i = 0; i < c->n_tensors; i++) {
		c->t[i].parent = i;
		c->t[i].q = (struct fw_qparams){ 0, 0 };
	}
	for (int i = 0; i < c->n_ops; i++) {
		const struct fw_mf_op *r = &c->ops[i];
		switch (r->type) {
		case FW_OP_RESHAPE:
		case FW_OP_MAXPOOL:
		case FW_OP_PAD:
		case FW_OP_RESIZE_BILINEAR:
		case FW_OP_CONCAT:
			for (int s = 0; s < r->n_in; s++)
				if (is_activation(c, r->in[s]))
					tie(c, r->in[s], r->out);
			break;
		case FW_OP_SOFTMAX:
			is_float[r->out] = 1; /* computed in float by the int8 runtime */
			break;
		default:
			break;
		}
	}
	for (const char *const *k = opt->keep_float; k && *k; k++) {
		int id = fw_calib_tensor_id(c, *k);
		if (id < 0 || c->t[id].kind == FW_TK_CONST) {
			fw_log(FW_LOG_ERROR, "calibration of %s: '%s' is not an activation of the model",
			       c->name, *k);
			err = FW_EINVAL;
			goto out;
		}
		is_float[id] = 1;
	}
	for (int i = 0; i < c->n_tensors; i++)
		if (is_float[i])
			is_float[find(c, i)] = 1;

	for (int root = 0; root < c->n_tensors; root++) {
		struct hist g = { .w = 0, .min = INFINITY, .max = -INFINITY };
		struct search s = { .e = e, .method = opt->method, .pbuf = pbuf, .lvl = lvl };
		struct fw_qparams q;
		float lo, hi;

		if (c->t[root].kind == FW_TK_CONST || find(c, root) != root || is_float[root])
			continue;
		for (int i = root; i < c->n_tensors; i++) {
			const struct hist *h = &c->t[i].h;
			if (c->t[i].kind == FW_TK_CONST || find(c, i) != root)
				continue;
			g.w = fmax(g.w, h->w);
			g.min = fminf(g.min, h->min);
			g.max = fmaxf(g.max, h->max);
			g.n += h->n;
			g.n_zero += h->n_zero;
		}
		if (g.n == 0) {
			fw_log(FW_LOG_ERROR, "calibration of %s: tensor '%s' was never computed; run the "
			       "model on calibration inputs first", c->name, c->t[root].name);
			err = FW_EINVAL;
			goto out;
		}
		memset(c->scratch, 0, NBINS * sizeof *c->scratch);
		for (int i = root; i < c->n_tensors; i++)
			if (c->t[i].kind != FW_TK_CONST && find(c, i) == root)
				merge_into(c->scratch, g.w, &c->t[i].h);
		for (int i = 0; i < NBINS; i++) {
			uint64_t n = c->scratch[i];
			if (i == HALF && g.n_zero) {
				e[s.ne++] = (struct entry){ 0, 0, (double)g.n_zero };
				n -= g.n_zero;
			}
			if (n) {
				/* the bin, within what was observed */
				double a = (i - HALF) * g.w, b = a + g.w;
				a = a < g.min ? g.min : a;
				b = b > g.max ? g.max : b;
				e[s.ne++] = (struct entry){ a, b > a ? b : a, (double)n };
			}
		}
		s.w = g.w;
		choose_range(&s, g.min, g.max, &lo, &hi);
		q = fw_calib_range_params(lo, hi);
		for (int i = root; i < c->n_tensors; i++)
			if (c->t[i].kind != FW_TK_CONST && find(c, i) == root)
				c->t[i].q = q;
	}
	c->chosen = 1;
out:
	free(e);
	free(pbuf);
	free(lvl);
	free(is_float);
	return err;
}

struct fw_qparams fw_calib_params(const struct fw_calib *c, int id)
{
	if (!c->chosen || id < 0 || id >= c->n_tensors)
		return (struct fw_qparams){ 0, 0 };
	return c->t[id].q;
}

void fw_calib_counts(const struct fw_calib *c, int *quantised, int *left_float)
{
	*quantised = *left_float = 0;
	for (int i = 0; i < c->n_tensors; i++) {
		if (c->t[i].kind == FW_TK_CONST)
			continue;
		if (c->chosen && c->t[i].q.scale > 0)
			++*quantised;
		else
			++*left_float;
	}
}

/* ---- writing ---- */

static int write_atomic(const char *path, const unsigned char *buf, size_t len)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 8);
	int fd, err = 0;

	if (!tmp)
		return FW_ENOMEM;
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".XXXXXX", 8);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: cannot create a temporary file beside it: %s", path,
		       strerror(-err));
		free(tmp);
		return err;
	}
	for (size_t at = 0; at < len;) {
		ssize_t w = write(fd, buf + at, len - at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		at += (size_t)w;
	}
	/* mkstemp makes 0600; a model is for everyone to read */
	if (!err && fchmod(fd, 0644))
		err = -errno;
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		fw_log(FW_LOG_ERROR, "%s: cannot write the model: %s", path, strerror(-err));
		unlink(tmp);
	}
	free(tmp);
	return err;
}

int fw_calib_write(const char *in_path, const char *out_path, const struct fw_calib *c)
{
	struct fw_mf_header h;
	unsigned char *buf;
	size_t len;
	int err;

	if (!c->chosen) {
		fw_log(FW_LOG_ERROR, "calibration of %s: nothing chosen yet (fw_calib_choose)", c->name);
		return FW_EINVAL;
	}
	if ((err = fw_model_read_file(in_path, &buf, &len)))
		return err;
	if ((err = check_file(buf, len, in_path, &h)))
		goto out;
	if (h.n_tensors != (uint32_t)c->n_tensors || memcmp(h.name, c->name, FW_MF_MAX_NAME) ||
	    graph_fingerprint(buf, len, &h) != c->fingerprint) {
		fw_log(FW_LOG_ERROR, "%s: not the model that was calibrated (%s); calibrate this "
		       "file itself", in_path, c->name);
		err = FW_EMODEL;
		goto out;
	}
	for (int i = 0; i < c->n_tensors; i++) {
		if (c->t[i].kind == FW_TK_CONST)
			continue;
		memcpy(buf + qfield_off(&h, i), &c->t[i].q.scale, 4);
		memcpy(buf + qfield_off(&h, i) + 4, &c->t[i].q.zero_point, 4);
	}
	h.crc32 = fw_crc32(0, buf + sizeof h, len - sizeof h);
	memcpy(buf + offsetof(struct fw_mf_header, crc32), &h.crc32, 4);
	err = write_atomic(out_path, buf, len);
out:
	free(buf);
	return err;
}
