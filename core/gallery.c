/* The gallery's matching maths. See gallery.h. */
#include "gallery.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"

struct rows {
	float *v;        /* n x dim, row-major, each row L2-normalised */
	int *id;         /* identity of each row */
	int64_t *tag;
	float *scores;   /* scratch: one similarity per row */
	int n, cap;
};

struct fw_gallery {
	int dim;
	float threshold;
	struct rows pos, neg;
	char **name;
	int *count;      /* positive templates per identity */
	float *best;     /* scratch per identity: pos() and neg() */
	float *negbest;
	int n_id, cap_id;
};

int fw_gallery_create(struct fw_gallery **out, int dim, float threshold)
{
	struct fw_gallery *g;

	*out = NULL;
	if (dim < 1 || dim > 65536 || !isfinite(threshold))
		return FW_EINVAL;
	g = calloc(1, sizeof *g);
	if (!g)
		return FW_ENOMEM;
	g->dim = dim;
	g->threshold = threshold;
	*out = g;
	return 0;
}

static void rows_free(struct rows *r)
{
	free(r->v);
	free(r->id);
	free(r->tag);
	free(r->scores);
}

void fw_gallery_free(struct fw_gallery *g)
{
	if (!g)
		return;
	rows_free(&g->pos);
	rows_free(&g->neg);
	for (int i = 0; i < g->n_id; i++)
		free(g->name[i]);
	free(g->name);
	free(g->count);
	free(g->best);
	free(g->negbest);
	free(g);
}

/* Grow one array to cap elements; *p is left alone on failure. */
static int grow(void *pp, size_t elem, size_t cap)
{
	void **p = pp;
	void *n = realloc(*p, elem * cap);

	if (!n)
		return FW_ENOMEM;
	*p = n;
	return 0;
}

/* The matrix on 64-byte boundaries: with 192-d rows (768 bytes) every row
 * then starts a cache line, and a query reads 12 lines per row instead of
 * 13 (sgemv is bound by memory traffic). realloc() cannot keep that. */
static int grow_aligned(float **p, size_t old_bytes, size_t bytes)
{
	float *n = aligned_alloc(64, (bytes + 63) & ~(size_t)63);

	if (!n)
		return FW_ENOMEM;
	if (*p)
		memcpy(n, *p, old_bytes);
	free(*p);
	*p = n;
	return 0;
}

static int rows_reserve(struct rows *r, int dim, int cap)
{
	size_t row = sizeof(float) * (size_t)dim;

	if (cap <= r->cap)
		return 0;
	if (grow_aligned(&r->v, row * (size_t)r->n, row * (size_t)cap) ||
	    grow(&r->id, sizeof(int), (size_t)cap) || grow(&r->tag, sizeof(int64_t), (size_t)cap) ||
	    grow(&r->scores, sizeof(float), (size_t)cap))
		return FW_ENOMEM;
	r->cap = cap;
	return 0;
}

static int ids_reserve(struct fw_gallery *g, int cap)
{
	if (cap <= g->cap_id)
		return 0;
	if (grow(&g->name, sizeof(char *), (size_t)cap) || grow(&g->count, sizeof(int), (size_t)cap) ||
	    grow(&g->best, sizeof(float), (size_t)cap) || grow(&g->negbest, sizeof(float), (size_t)cap))
		return FW_ENOMEM;
	g->cap_id = cap;
	return 0;
}

int fw_gallery_reserve(struct fw_gallery *g, int n_templates, int n_identities)
{
	if (n_templates < 0 || n_identities < 0)
		return FW_EINVAL;
	if (rows_reserve(&g->pos, g->dim, n_templates) || ids_reserve(g, n_identities))
		return FW_ENOMEM;
	return 0;
}

/* next capacity: double, at least 16 */
static int next_cap(int cap)
{
	return cap < 16 ? 16 : cap > (1 << 29) ? cap + (1 << 20) : cap * 2;
}

int fw_gallery_add_identity(struct fw_gallery *g, const char *name, int *id)
{
	char *copy;

	if (!name)
		return FW_EINVAL;
	if (g->n_id == g->cap_id && ids_reserve(g, next_cap(g->cap_id)))
		return FW_ENOMEM;
	copy = strdup(name);
	if (!copy)
		return FW_ENOMEM;
	g->name[g->n_id] = copy;
	g->count[g->n_id] = 0;
	*id = g->n_id++;
	return 0;
}

int fw_gallery_add(struct fw_gallery *g, int id, const float *emb, enum fw_gallery_kind kind,
		   int64_t tag)
{
	struct rows *r = kind == FW_GALLERY_NEGATIVE ? &g->neg : &g->pos;
	double ss = 0, norm;
	float *row;

	if (id < 0 || id >= g->n_id || (kind != FW_GALLERY_TEMPLATE && kind != FW_GALLERY_NEGATIVE))
		return FW_EINVAL;
	for (int i = 0; i < g->dim; i++)
		ss += (double)emb[i] * emb[i];
	if (!(ss > 0) || !isfinite(ss))
		return FW_EINVAL;
	if (r->n == r->cap && rows_reserve(r, g->dim, next_cap(r->cap)))
		return FW_ENOMEM;
	row = r->v + (size_t)r->n * (size_t)g->dim;
	norm = sqrt(ss);
	for (int i = 0; i < g->dim; i++)
		row[i] = (float)(emb[i] / norm);
	r->id[r->n] = id;
	r->tag[r->n] = tag;
	r->n++;
	if (kind == FW_GALLERY_TEMPLATE)
		g->count[id]++;
	return 0;
}

void fw_gallery_set_threshold(struct fw_gallery *g, float threshold)
{
	g->threshold = threshold;
}

float fw_gallery_threshold(const struct fw_gallery *g) { return g->threshold; }
int fw_gallery_dim(const struct fw_gallery *g) { return g->dim; }
int fw_gallery_n_identities(const struct fw_gallery *g) { return g->n_id; }
int fw_gallery_n_templates(const struct fw_gallery *g) { return g->pos.n; }
int fw_gallery_n_negatives(const struct fw_gallery *g) { return g->neg.n; }

const char *fw_gallery_name(const struct fw_gallery *g, int id)
{
	return id >= 0 && id < g->n_id ? g->name[id] : NULL;
}

int fw_gallery_template_identity(const struct fw_gallery *g, int i)
{
	return i >= 0 && i < g->pos.n ? g->pos.id[i] : -1;
}

int64_t fw_gallery_template_tag(const struct fw_gallery *g, int i)
{
	return i >= 0 && i < g->pos.n ? g->pos.tag[i] : -1;
}

int fw_gallery_identity_templates(const struct fw_gallery *g, int id)
{
	return id >= 0 && id < g->n_id ? g->count[id] : 0;
}

float fw_gallery_identity_similarity(const struct fw_gallery *g, const float *query, int id)
{
	float best = -INFINITY;

	for (int t = 0; t < g->pos.n; t++)
		if (g->pos.id[t] == id) {
			const float *row = g->pos.v + (size_t)t * (size_t)g->dim;
			float s = 0;
			for (int i = 0; i < g->dim; i++)
				s += row[i] * query[i];
			if (s > best)
				best = s;
		}
	return best;
}

/* scores = rows . query: one sgemv over the whole matrix */
static void score_rows(struct rows *r, int dim, const float *query)
{
	if (r->n > 0)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, r->n, dim, 1.0f, r->v, dim, query, 1, 0.0f,
			    r->scores, 1);
}

int fw_gallery_match(struct fw_gallery *g, const float *query, struct fw_gallery_match *m)
{
	int top = -1;

	m->identity = m->runner_up = m->vetoed = m->template_index = -1;
	m->similarity = m->runner_up_similarity = -INFINITY;
	m->vetoed_similarity = m->vetoed_negative = -INFINITY;
	m->accepted = 0;
	for (int i = 0; i < g->dim; i++)
		if (!isfinite(query[i]))
			return FW_EINVAL;
	for (int i = 0; i < g->n_id; i++) {
		g->best[i] = -INFINITY;
		g->negbest[i] = -INFINITY;
	}
	score_rows(&g->pos, g->dim, query);
	score_rows(&g->neg, g->dim, query);
	/* best per identity: the max only, written as a ternary so that it is
	 * one maxss and no branch (whether a template beats its identity's
	 * best so far is a coin toss the predictor loses; tracking the argmax
	 * here too doubled the loop). The winner's template is found after. */
	for (int t = 0; t < g->pos.n; t++) {
		int id = g->pos.id[t];
		float s = g->pos.scores[t], b = g->best[id];
		g->best[id] = s > b ? s : b;
	}
	for (int t = 0; t < g->neg.n; t++) {
		int id = g->neg.id[t];
		float s = g->neg.scores[t], b = g->negbest[id];
		g->negbest[id] = s > b ? s : b;
	}
	for (int id = 0; id < g->n_id; id++) {
		float s = g->best[id];
		if (!g->count[id])
			continue; /* no template: never an answer */
		if (top < 0 || s > g->best[top])
			top = id;
		if (g->negbest[id] >= s + FW_GALLERY_NEG_MARGIN)
			continue; /* vetoed by its negative examples */
		if (m->identity < 0 || s > m->similarity) {
			m->runner_up = m->identity;
			m->runner_up_similarity = m->similarity;
			m->identity = id;
			m->similarity = s;
		} else if (m->runner_up < 0 || s > m->runner_up_similarity) {
			m->runner_up = id;
			m->runner_up_similarity = s;
		}
	}
	if (top >= 0 && top != m->identity && g->negbest[top] >= g->best[top] + FW_GALLERY_NEG_MARGIN) {
		m->vetoed = top;
		m->vetoed_similarity = g->best[top];
		m->vetoed_negative = g->negbest[top];
	}
	if (m->identity >= 0) {
		for (int t = 0; t < g->pos.n && m->template_index < 0; t++)
			if (g->pos.id[t] == m->identity && g->pos.scores[t] == m->similarity)
				m->template_index = t;
		m->accepted = m->similarity >= g->threshold;
	}
	return 0;
}

/* ---- doctor ---- */

#define HIST_BINS 4000 /* over [-1, 1]: 0.0005 per bin */

static int hist_bin(float s)
{
	int b = (int)floorf((s + 1.0f) * (HIST_BINS / 2));
	return b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b;
}

static float bin_edge(int b)
{
	return (float)b / (HIST_BINS / 2) - 1.0f;
}

struct acc {
	size_t n;
	double mean, m2; /* Welford */
	float min, max;
	size_t *hist;
};

static void acc_add(struct acc *a, float s)
{
	double d = s - a->mean;

	a->n++;
	a->mean += d / (double)a->n;
	a->m2 += d * (s - a->mean);
	if (a->n == 1 || s < a->min)
		a->min = s;
	if (a->n == 1 || s > a->max)
		a->max = s;
	a->hist[hist_bin(s)]++;
}

static void acc_dist(const struct acc *a, struct fw_gallery_dist *d)
{
	d->n = a->n;
	d->mean = a->n ? a->mean : NAN;
	d->sd = a->n > 1 ? sqrt(a->m2 / (double)(a->n - 1)) : NAN;
	d->min = a->n ? a->min : NAN;
	d->max = a->n ? a->max : NAN;
}

/* fraction of the histogram below t (to bin resolution) */
static double frac_below(const struct acc *a, float t)
{
	size_t c = 0;
	int end;

	if (!a->n || isnan(t))
		return NAN;
	end = (int)floorf((t + 1.0f) * (HIST_BINS / 2) + 1e-4f);
	for (int b = 0; b < end && b < HIST_BINS; b++)
		c += a->hist[b];
	return (double)c / (double)a->n;
}

/* z with P(N(0,1) > z) = p, by bisection on erfc */
static double normal_upper_quantile(double p)
{
	double lo = -40, hi = 40;

	for (int i = 0; i < 200; i++) {
		double mid = (lo + hi) / 2;
		if (0.5 * erfc(mid / sqrt(2.0)) > p)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/* keep the FW_GALLERY_DOCTOR_PAIRS most similar identity pairs, each pair once */
static void close_add(struct fw_gallery_pair *list, int *n, int a, int b, float s)
{
	int lo = 0;

	if (*n == FW_GALLERY_DOCTOR_PAIRS) {
		for (int i = 1; i < *n; i++)
			if (list[i].similarity < list[lo].similarity)
				lo = i;
		if (s <= list[lo].similarity)
			return;
	}
	for (int i = 0; i < *n; i++)
		if (list[i].a == a && list[i].b == b) {
			if (s > list[i].similarity)
				list[i].similarity = s;
			return;
		}
	if (*n < FW_GALLERY_DOCTOR_PAIRS)
		lo = (*n)++;
	list[lo] = (struct fw_gallery_pair){ a, b, s };
}

static int cmp_pair(const void *x, const void *y)
{
	const struct fw_gallery_pair *a = x, *b = y;
	return (a->similarity < b->similarity) - (a->similarity > b->similarity);
}

void fw_gallery_doctor_free(struct fw_gallery_doctor *d)
{
	free(d->close);
	free(d->outliers);
	d->close = NULL;
	d->outliers = NULL;
	d->n_close = d->n_outliers = 0;
}

int fw_gallery_doctor(const struct fw_gallery *g, double far, struct fw_gallery_doctor *out)
{
	enum { BLOCK = 256 };
	struct acc gen = { 0 }, imp = { 0 };
	int n = g->pos.n, m = n > FW_GALLERY_DOCTOR_MAX ? FW_GALLERY_DOCTOR_MAX : n, dim = g->dim;
	int *idx = NULL, *per_id = NULL;
	float *x = NULL, *buf = NULL, *best_same = NULL;
	float min_close = -INFINITY;
	int cap_outliers = 0, err = FW_ENOMEM;

	memset(out, 0, sizeof *out);
	if (!(far > 0 && far < 1))
		return FW_EINVAL;
	out->far = far;
	out->templates_used = m;
	gen.hist = calloc(HIST_BINS, sizeof *gen.hist);
	imp.hist = calloc(HIST_BINS, sizeof *imp.hist);
	idx = malloc(sizeof *idx * (size_t)(m ? m : 1));
	x = malloc(sizeof *x * (size_t)(m ? m : 1) * (size_t)dim);
	buf = malloc(sizeof *buf * (size_t)BLOCK * (size_t)(m ? m : 1));
	best_same = malloc(sizeof *best_same * (size_t)(m ? m : 1));
	per_id = calloc((size_t)(g->n_id ? g->n_id : 1), sizeof *per_id);
	out->close = calloc(FW_GALLERY_DOCTOR_PAIRS, sizeof *out->close);
	if (!gen.hist || !imp.hist || !idx || !x || !buf || !best_same || !per_id || !out->close)
		goto fail;
	/* an even sample when there are too many templates: i * n / m */
	for (int i = 0; i < m; i++) {
		idx[i] = (int)((int64_t)i * n / m);
		memcpy(x + (size_t)i * dim, g->pos.v + (size_t)idx[i] * dim, sizeof *x * (size_t)dim);
		best_same[i] = -INFINITY;
		per_id[g->pos.id[idx[i]]]++;
	}
	for (int r0 = 0; r0 < m; r0 += BLOCK) {
		int rows = m - r0 < BLOCK ? m - r0 : BLOCK;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, m, dim, 1.0f,
			    x + (size_t)r0 * dim, dim, x, dim, 0.0f, buf, m);
		for (int i = r0; i < r0 + rows; i++) {
			const float *s = buf + (size_t)(i - r0) * m;
			int a = g->pos.id[idx[i]];
			for (int j = i + 1; j < m; j++) {
				int b = g->pos.id[idx[j]];
				if (a == b) {
					acc_add(&gen, s[j]);
					if (s[j] > best_same[i])
						best_same[i] = s[j];
					if (s[j] > best_same[j])
						best_same[j] = s[j];
				} else {
					acc_add(&imp, s[j]);
					if (s[j] > min_close || out->n_close < FW_GALLERY_DOCTOR_PAIRS) {
						close_add(out->close, &out->n_close, a < b ? a : b,
							  a < b ? b : a, s[j]);
						if (out->n_close == FW_GALLERY_DOCTOR_PAIRS) {
							min_close = out->close[0].similarity;
							for (int k = 1; k < out->n_close; k++)
								if (out->close[k].similarity < min_close)
									min_close = out->close[k].similarity;
						}
					}
				}
			}
		}
	}
	qsort(out->close, (size_t)out->n_close, sizeof *out->close, cmp_pair);
	acc_dist(&gen, &out->genuine);
	acc_dist(&imp, &out->impostor);

	out->threshold_empirical = out->threshold_gaussian = out->threshold_suggested = NAN;
	if (imp.n) {
		double allowed = far * (double)imp.n;
		size_t c = 0;
		int b;
		for (b = HIST_BINS - 1; b >= 0; b--) {
			c += imp.hist[b];
			if ((double)c > allowed)
				break;
		}
		out->threshold_empirical = bin_edge(b + 1);
	}
	if (imp.n >= 2)
		out->threshold_gaussian = (float)(out->impostor.mean +
						  normal_upper_quantile(far) * out->impostor.sd);
	if (imp.n >= FW_GALLERY_DOCTOR_MIN_PAIRS)
		out->threshold_suggested = fmaxf(out->threshold_empirical, out->threshold_gaussian);
	out->frr_suggested = frac_below(&gen, out->threshold_suggested);
	out->frr_current = frac_below(&gen, g->threshold);
	out->far_current = imp.n ? 1.0 - frac_below(&imp, g->threshold) : NAN;

	for (int i = 0; i < m; i++) {
		int id = g->pos.id[idx[i]];
		if (per_id[id] >= 2 && best_same[i] < g->threshold) {
			struct fw_gallery_outlier *o;
			if (out->n_outliers == cap_outliers) {
				cap_outliers = next_cap(cap_outliers);
				if (grow(&out->outliers, sizeof *out->outliers, (size_t)cap_outliers))
					goto fail;
			}
			o = &out->outliers[out->n_outliers++];
			o->template_index = idx[i];
			o->identity = id;
			o->best_same = best_same[i];
		}
	}
	err = 0;
fail:
	if (err)
		fw_gallery_doctor_free(out);
	free(gen.hist);
	free(imp.hist);
	free(idx);
	free(x);
	free(buf);
	free(best_same);
	free(per_id);
	return err;
}
