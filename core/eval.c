/* Accuracy metrics. See eval.h for the definitions; comments here say how. */
#include "core/eval.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"

/* ---- Annotation lists ---- */

void fw_eval_list_free(struct fw_eval_list *list)
{
	if (!list)
		return;
	for (int i = 0; i < list->n_images; i++) {
		free(list->img[i].path);
		free(list->img[i].v);
	}
	free(list->img);
	list->img = NULL;
	list->n_images = 0;
}

/* Split one line (not NUL-terminated) into at most `max` whitespace-separated
 * fields; returns the number of fields found (may exceed max: counted, not stored). */
static int split_fields(const char *s, const char *end, const char **start, int *flen, int max)
{
	int n = 0;

	while (s < end) {
		while (s < end && isspace((unsigned char)*s))
			s++;
		if (s == end)
			break;
		const char *f = s;
		while (s < end && !isspace((unsigned char)*s))
			s++;
		if (n < max) {
			start[n] = f;
			flen[n] = (int)(s - f);
		}
		n++;
	}
	return n;
}

/* A finite number filling the whole field. */
static int parse_number(const char *f, int len, float *out)
{
	char buf[64], *end;
	double v;

	if (len <= 0 || len >= (int)sizeof buf)
		return -1;
	memcpy(buf, f, (size_t)len);
	buf[len] = 0;
	errno = 0;
	v = strtod(buf, &end);
	if (*end || errno || !isfinite(v))
		return -1;
	*out = (float)v;
	return 0;
}

static const char *columns_help(int cols)
{
	switch (cols) {
	case 4:
		return "x y w h";
	case 5:
		return "x y w h score";
	case FW_EVAL_ATTR_COLS:
		return "x y w h blur expression illumination invalid occlusion pose easy medium hard";
	default:
		return "numbers";
	}
}

int fw_eval_list_parse(const char *text, size_t len, const char *name, int cols,
		       struct fw_eval_list *list)
{
	enum { MAX_FIELDS = 4 + 2 * 68 }; /* landmarks68.txt: a box and 68 points */
	const char *p = text, *end = text + len;
	const char *fs[MAX_FIELDS];
	int fl[MAX_FIELDS];
	struct fw_eval_image *cur = NULL;
	int line = 0, want = 0, cap = 0; /* want: box lines still due for cur */
	int err = FW_EFORMAT;

	memset(list, 0, sizeof *list);
	list->cols = cols;
	if (cols < 1 || cols > MAX_FIELDS)
		return FW_EINVAL;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		int nf;

		line++;
		if (le > p && le[-1] == '\r')
			le--;
		nf = split_fields(p, le, fs, fl, MAX_FIELDS);
		p = eol ? eol + 1 : end;
		if (want > 0) {
			float *row = cur->v + (size_t)(cur->n - want) * (size_t)cols;

			if (nf != cols) {
				fw_log(FW_LOG_ERROR, "%s:%d: expected %d numbers (%s) for box %d of %s, got %d fields",
				       name, line, cols, columns_help(cols), cur->n - want + 1, cur->path, nf);
				goto fail;
			}
			for (int k = 0; k < cols; k++) {
				if (parse_number(fs[k], fl[k], &row[k])) {
					fw_log(FW_LOG_ERROR, "%s:%d: field %d ('%.*s') is not a number", name, line,
					       k + 1, fl[k] > 40 ? 40 : fl[k], fs[k]);
					goto fail;
				}
			}
			if (row[2] < 0 || row[3] < 0) {
				fw_log(FW_LOG_ERROR, "%s:%d: box width and height must not be negative (%g x %g)",
				       name, line, row[2], row[3]);
				goto fail;
			}
			want--;
			continue;
		}
		if (nf == 0)
			continue; /* blank lines between images */
		if (nf != 2) {
			fw_log(FW_LOG_ERROR, "%s:%d: expected an image line 'path N' (a path without spaces and a "
			       "box count), got %d fields; is a box count above wrong?", name, line, nf);
			goto fail;
		}
		{
			char num[24], *e;
			long v;

			if (fl[1] >= (int)sizeof num)
				fl[1] = (int)sizeof num - 1;
			memcpy(num, fs[1], (size_t)fl[1]);
			num[fl[1]] = 0;
			errno = 0;
			v = strtol(num, &e, 10);
			if (*e || errno || v < 0 || v > 1000000 || !isdigit((unsigned char)num[0])) {
				fw_log(FW_LOG_ERROR, "%s:%d: '%s' is not a box count (0 or more) after the path",
				       name, line, num);
				goto fail;
			}
			if (list->n_images == cap) {
				int nc = cap ? 2 * cap : 64;
				struct fw_eval_image *ni = realloc(list->img, sizeof *ni * (size_t)nc);
				if (!ni) {
					err = FW_ENOMEM;
					goto fail;
				}
				list->img = ni;
				cap = nc;
			}
			cur = &list->img[list->n_images++];
			memset(cur, 0, sizeof *cur);
			cur->line = line;
			cur->n = (int)v;
			cur->path = strndup(fs[0], (size_t)fl[0]);
			cur->v = malloc(sizeof(float) * (size_t)(v ? v : 1) * (size_t)cols);
			if (!cur->path || !cur->v) {
				err = FW_ENOMEM;
				goto fail;
			}
			want = (int)v;
		}
	}
	if (want > 0) {
		fw_log(FW_LOG_ERROR, "%s:%d: the file ends, but %s (line %d) announces %d boxes and only %d follow",
		       name, line, cur->path, cur->line, cur->n, cur->n - want);
		goto fail;
	}
	return 0;
fail:
	fw_eval_list_free(list);
	return err;
}

/* ---- CSV tables ---- */

void fw_eval_csv_free(struct fw_eval_csv *csv)
{
	if (!csv)
		return;
	for (long i = 0; i < (long)csv->n_rows * csv->cols; i++)
		free(csv->field[i]);
	free(csv->field);
	free(csv->line);
	csv->field = NULL;
	csv->line = NULL;
	csv->n_rows = 0;
}

/* Trimmed copy of [s, e). */
static char *trimmed(const char *s, const char *e)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	return strndup(s, (size_t)(e - s));
}

int fw_eval_csv_parse(const char *text, size_t len, const char *name, const char *header,
		      struct fw_eval_csv *csv)
{
	const char *p = text, *end = text + len;
	int line = 0, cap = 0, have_header = 0, err = FW_EFORMAT;

	memset(csv, 0, sizeof *csv);
	csv->cols = 1;
	for (const char *h = header; *h; h++)
		csv->cols += *h == ',';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end, *s = p;
		int nf = 1;

		line++;
		p = eol ? eol + 1 : end;
		if (le > s && le[-1] == '\r')
			le--;
		if (split_fields(s, le, NULL, NULL, 0) == 0)
			continue; /* blank */
		if (!have_header) {
			char *h = trimmed(s, le);
			if (!h) {
				err = FW_ENOMEM;
				goto fail;
			}
			if (strcmp(h, header)) {
				fw_log(FW_LOG_ERROR, "%s:%d: expected the header '%s', got '%.80s'", name, line,
				       header, h);
				free(h);
				goto fail;
			}
			free(h);
			have_header = 1;
			continue;
		}
		for (const char *c = s; c < le; c++)
			nf += *c == ',';
		if (nf != csv->cols) {
			fw_log(FW_LOG_ERROR, "%s:%d: expected %d comma-separated fields (%s), got %d", name,
			       line, csv->cols, header, nf);
			goto fail;
		}
		if (csv->n_rows == cap) {
			int nc = cap ? 2 * cap : 128;
			char **nfield = realloc(csv->field, sizeof *nfield * (size_t)nc * (size_t)csv->cols);
			if (!nfield) {
				err = FW_ENOMEM;
				goto fail;
			}
			csv->field = nfield;
			int *nline = realloc(csv->line, sizeof *nline * (size_t)nc);
			if (!nline) {
				err = FW_ENOMEM;
				goto fail;
			}
			csv->line = nline;
			cap = nc;
		}
		char **row = csv->field + (size_t)csv->n_rows * (size_t)csv->cols;
		csv->line[csv->n_rows] = line;
		int k = 0, bad = -1;
		for (const char *f = s;; k++) {
			const char *c = memchr(f, ',', (size_t)(le - f));
			const char *fe = c ? c : le;
			row[k] = trimmed(f, fe);
			if (!row[k]) {
				for (int j = 0; j < k; j++)
					free(row[j]);
				err = FW_ENOMEM;
				goto fail;
			}
			if (!row[k][0] && bad < 0)
				bad = k;
			if (!c)
				break;
			f = c + 1;
		}
		csv->n_rows++;
		if (bad >= 0) {
			fw_log(FW_LOG_ERROR, "%s:%d: field %d (of %s) is empty", name, line, bad + 1, header);
			goto fail;
		}
	}
	if (!have_header) {
		fw_log(FW_LOG_ERROR, "%s: empty file; expected the header '%s'", name, header);
		goto fail;
	}
	return 0;
fail:
	fw_eval_csv_free(csv);
	return err;
}

/* ---- Detection AP ---- */

void fw_det_eval_init(struct fw_det_eval *ev, float iou_thresh)
{
	memset(ev, 0, sizeof *ev);
	ev->iou_thresh = iou_thresh;
}

void fw_det_eval_free(struct fw_det_eval *ev)
{
	free(ev->rec);
	ev->rec = NULL;
	ev->n = ev->cap = 0;
}

/* bbox_overlaps of the WIDER Python evaluation (and boxoverlap.m): corners
 * x2 = x + w, sizes and intersections counted in whole pixels, +1. */
double fw_det_eval_iou(const struct fw_eval_box *a, const struct fw_eval_box *b)
{
	double ax2 = (double)a->x + a->w, ay2 = (double)a->y + a->h;
	double bx2 = (double)b->x + b->w, by2 = (double)b->y + b->h;
	double iw = fmin(ax2, bx2) - fmax(a->x, b->x) + 1;
	double ih = fmin(ay2, by2) - fmax(a->y, b->y) + 1;
	double ua;

	if (iw <= 0 || ih <= 0)
		return 0;
	ua = (a->w + 1.0) * (a->h + 1.0) + (b->w + 1.0) * (b->h + 1.0) - iw * ih;
	return ua > 0 ? iw * ih / ua : 0;
}

struct ranked {
	float score;
	int index;
};

/* descending score, then ascending index: deterministic for ties */
static int ranked_cmp(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score < b->score ? 1 : -1;
	return (a->index > b->index) - (a->index < b->index);
}

int fw_det_eval_image(struct fw_det_eval *ev, const struct fw_eval_box *gt,
		      const unsigned char *keep, int n_gt, const struct fw_eval_box *det,
		      int n_det)
{
	struct ranked *order = NULL;
	signed char *state = NULL; /* per box: 0 open, 1 recalled, -1 matched while ignored */

	for (int i = 0; i < n_gt; i++)
		ev->positives += keep[i] != 0;
	/* as the official code: nothing more to learn from this image */
	if (n_gt == 0 || n_det == 0)
		return 0;
	if (ev->n + (size_t)n_det > ev->cap) {
		size_t nc = ev->cap ? ev->cap : 1024;
		while (nc < ev->n + (size_t)n_det)
			nc *= 2;
		struct fw_det_record *nr = realloc(ev->rec, sizeof *nr * nc);
		if (!nr)
			return FW_ENOMEM;
		ev->rec = nr;
		ev->cap = nc;
	}
	order = malloc(sizeof *order * (size_t)n_det);
	state = calloc((size_t)n_gt, 1);
	if (!order || !state) {
		free(order);
		free(state);
		return FW_ENOMEM;
	}
	for (int i = 0; i < n_det; i++)
		order[i] = (struct ranked){ det[i].score, i };
	qsort(order, (size_t)n_det, sizeof *order, ranked_cmp);
	for (int h = 0; h < n_det; h++) {
		const struct fw_eval_box *d = &det[order[h].index];
		struct fw_det_record *r = &ev->rec[ev->n++];
		double best = -1;
		int bi = -1;

		for (int g = 0; g < n_gt; g++) {
			double o = fw_det_eval_iou(d, &gt[g]);
			if (o > best) { /* strict: the first box wins a tie, as argmax */
				best = o;
				bi = g;
			}
		}
		r->score = d->score;
		r->proposal = 1;
		r->recalled = 0;
		if (best >= ev->iou_thresh) {
			if (!keep[bi]) {
				state[bi] = -1;
				r->proposal = 0;
			} else if (state[bi] == 0) {
				state[bi] = 1;
				r->recalled = 1;
			}
		}
	}
	free(order);
	free(state);
	return 0;
}

static int record_cmp(const void *pa, const void *pb)
{
	const struct fw_det_record *a = pa, *b = pb;

	return (a->score < b->score) - (a->score > b->score);
}

int fw_det_eval_curve(const struct fw_det_eval *ev, struct fw_pr_point **curve, size_t *n)
{
	struct fw_det_record *r;
	struct fw_pr_point *c;
	long prop = 0, rec = 0;
	size_t m = 0;

	*curve = NULL;
	*n = 0;
	if (ev->n == 0)
		return 0;
	r = malloc(sizeof *r * ev->n);
	c = malloc(sizeof *c * ev->n);
	if (!r || !c) {
		free(r);
		free(c);
		return FW_ENOMEM;
	}
	memcpy(r, ev->rec, sizeof *r * ev->n);
	qsort(r, ev->n, sizeof *r, record_cmp);
	/* A point per distinct score: every detection with that score or a
	 * higher one is in. Equal scores enter together, so the order qsort
	 * leaves them in does not matter. */
	for (size_t i = 0; i < ev->n; i++) {
		prop += r[i].proposal;
		rec += r[i].recalled;
		if (i + 1 < ev->n && r[i + 1].score == r[i].score)
			continue;
		if (prop == 0)
			continue;
		c[m].threshold = r[i].score;
		c[m].proposals = prop;
		c[m].recalled = rec;
		c[m].precision = (double)rec / (double)prop;
		c[m].recall = ev->positives > 0 ? (double)rec / (double)ev->positives : 0;
		m++;
	}
	free(r);
	*curve = c;
	*n = m;
	return 0;
}

double fw_eval_ap(const struct fw_pr_point *curve, size_t n)
{
	/* voc_ap over mrec = [0, recall..., 1], mpre = [0, precision..., 0]:
	 * sum over i with mrec[i+1] != mrec[i] of (mrec[i+1] - mrec[i]) *
	 * env[i+1], env[i] = max(mpre[i..]). Walked from the right, `env` is
	 * the envelope just right of point k and `rec_next` the recall there. */
	double ap = 0, env = 0, rec_next = 1;

	for (size_t k = n; k-- > 0;) {
		if (rec_next != curve[k].recall)
			ap += (rec_next - curve[k].recall) * env;
		env = fmax(env, curve[k].precision);
		rec_next = curve[k].recall;
	}
	if (rec_next != 0)
		ap += rec_next * env;
	return ap;
}

struct fw_pr_point fw_eval_pr_at(const struct fw_pr_point *curve, size_t n, float thr)
{
	struct fw_pr_point p = { .threshold = thr, .precision = 1, .recall = 0 };

	for (size_t k = 0; k < n && curve[k].threshold >= thr; k++)
		p = curve[k];
	return p;
}

/* ---- Verification ---- */

struct labelled {
	float score;
	unsigned char same;
};

static int labelled_cmp(const void *pa, const void *pb)
{
	const struct labelled *a = pa, *b = pb;

	return (a->score > b->score) - (a->score < b->score);
}

/* Best-accuracy threshold over m labelled scores (sorted ascending here). */
static double pick_threshold(struct labelled *s, int m)
{
	long gen_total = 0, best_correct = -1;
	int n_best = 0, cap = m + 1;
	double *best = malloc(sizeof(double) * (size_t)cap), thr;

	if (!best)
		return NAN;
	qsort(s, (size_t)m, sizeof *s, labelled_cmp);
	for (int i = 0; i < m; i++)
		gen_total += s[i].same;
	/* candidate j: scores s[j..] accepted, s[..j) rejected; only at
	 * boundaries between distinct scores */
	long gen_below = 0, imp_below = 0;
	for (int j = 0; j <= m; j++) {
		if (j > 0) {
			gen_below += s[j - 1].same;
			imp_below += !s[j - 1].same;
		}
		if (j > 0 && j < m && s[j].score == s[j - 1].score)
			continue;
		double t = j == 0 ? s[0].score - 1.0
			 : j == m ? s[m - 1].score + 1.0
			 : 0.5 * ((double)s[j - 1].score + (double)s[j].score);
		long correct = (gen_total - gen_below) + imp_below;
		if (correct > best_correct) {
			best_correct = correct;
			n_best = 0;
		}
		if (correct == best_correct)
			best[n_best++] = t;
	}
	thr = best[(n_best - 1) / 2];
	free(best);
	return thr;
}

int fw_eval_verify(const float *score, const unsigned char *same, int n, int folds,
		   struct fw_verify_result *r)
{
	struct labelled *train = NULL, *all = NULL;
	int *fold = NULL;
	int err = 0, ng = 0, ni = 0;
	double sg = 0, si = 0, sg2 = 0, si2 = 0;

	memset(r, 0, sizeof *r);
	if (n < 1 || folds < 2 || folds > FW_EVAL_MAX_FOLDS)
		return FW_EINVAL;
	fold = malloc(sizeof *fold * (size_t)n);
	train = malloc(sizeof *train * (size_t)n);
	all = malloc(sizeof *all * (size_t)n);
	if (!fold || !train || !all) {
		err = FW_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (same[i]) {
			fold[i] = ng++ % folds;
			sg += score[i];
			sg2 += (double)score[i] * score[i];
		} else {
			fold[i] = ni++ % folds;
			si += score[i];
			si2 += (double)score[i] * score[i];
		}
	}
	if (ng == 0 || ni == 0) {
		err = FW_EINVAL;
		goto out;
	}
	r->n_genuine = ng;
	r->n_impostor = ni;
	r->folds = folds;

	double acc_sum = 0, acc_sq = 0, thr_sum = 0;
	for (int f = 0; f < folds; f++) {
		int m = 0;
		long correct = 0, total = 0;

		for (int i = 0; i < n; i++)
			if (fold[i] != f)
				train[m++] = (struct labelled){ score[i], same[i] };
		double t = pick_threshold(train, m);
		if (isnan(t)) {
			err = FW_ENOMEM;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (fold[i] != f)
				continue;
			total++;
			correct += ((double)score[i] >= t) == (same[i] != 0);
		}
		r->fold_threshold[f] = t;
		r->fold_accuracy[f] = total ? (double)correct / (double)total : 0;
		acc_sum += r->fold_accuracy[f];
		acc_sq += r->fold_accuracy[f] * r->fold_accuracy[f];
		thr_sum += t;
	}
	r->accuracy = acc_sum / folds;
	r->accuracy_std = sqrt(fmax(0, acc_sq / folds - r->accuracy * r->accuracy));
	r->threshold = thr_sum / folds;

	r->mean_genuine = sg / ng;
	r->mean_impostor = si / ni;
	r->std_genuine = sqrt(fmax(0, sg2 / ng - r->mean_genuine * r->mean_genuine));
	r->std_impostor = sqrt(fmax(0, si2 / ni - r->mean_impostor * r->mean_impostor));
	{
		double v = 0.5 * (r->std_genuine * r->std_genuine + r->std_impostor * r->std_impostor);
		r->dprime = v > 0 ? (r->mean_genuine - r->mean_impostor) / sqrt(v)
				  : (r->mean_genuine > r->mean_impostor ? INFINITY : 0);
	}

	/* AUC by ranks (Mann-Whitney U): tied scores share their average rank,
	 * which is the "ties count one half" rule. */
	for (int i = 0; i < n; i++)
		all[i] = (struct labelled){ score[i], same[i] };
	qsort(all, (size_t)n, sizeof *all, labelled_cmp);
	{
		double rank_sum = 0;
		for (int i = 0; i < n;) {
			int j = i;
			while (j < n && all[j].score == all[i].score)
				j++;
			double avg = 0.5 * ((double)(i + 1) + (double)j); /* ranks i+1 .. j */
			for (int k = i; k < j; k++)
				if (all[k].same)
					rank_sum += avg;
			i = j;
		}
		r->auc = (rank_sum - 0.5 * (double)ng * (ng + 1)) / ((double)ng * ni);
	}
out:
	free(fold);
	free(train);
	free(all);
	return err;
}

static int float_desc(const void *pa, const void *pb)
{
	float a = *(const float *)pa, b = *(const float *)pb;

	return (a < b) - (a > b);
}

double fw_eval_tar_at_far(const float *score, const unsigned char *same, int n, double far,
			  double *threshold, double *far_seen)
{
	float *imp = malloc(sizeof *imp * (size_t)(n > 0 ? n : 1));
	int ni = 0, ng = 0;
	long acc_g = 0, acc_i = 0;
	double thr;

	if (!imp)
		return NAN;
	for (int i = 0; i < n; i++) {
		if (same[i])
			ng++;
		else
			imp[ni++] = score[i];
	}
	qsort(imp, (size_t)ni, sizeof *imp, float_desc);
	/* the epsilon keeps e.g. 0.01 * 300 = 3 from flooring to 2 */
	long k = (long)floor(far * ni + 1e-9);
	thr = k >= ni ? -INFINITY : (double)imp[k];
	for (int i = 0; i < n; i++) {
		if (!((double)score[i] > thr))
			continue;
		if (same[i])
			acc_g++;
		else
			acc_i++;
	}
	free(imp);
	if (threshold)
		*threshold = thr;
	if (far_seen)
		*far_seen = ni ? (double)acc_i / ni : 0;
	return ng ? (double)acc_g / ng : 0;
}

/* ---- Identification ---- */

int fw_eval_identify(const float *sim, int n, const int *identity, const int *group,
		     const unsigned char *valid, struct fw_identify_result *r)
{
	struct ranked *cand;
	double p1 = 0, map = 0;

	memset(r, 0, sizeof *r);
	if (n < 1)
		return FW_EINVAL;
	cand = malloc(sizeof *cand * (size_t)n);
	if (!cand)
		return FW_ENOMEM;
	for (int q = 0; q < n; q++) {
		int R = 0, m = 0;

		for (int i = 0; i < n; i++)
			if (i != q && group[i] != group[q] && identity[i] == identity[q])
				R++;
		if (R == 0) {
			r->skipped++;
			continue;
		}
		r->queries++;
		if (!valid[q]) {
			r->failed++;
			continue;
		}
		for (int i = 0; i < n; i++)
			if (i != q && group[i] != group[q] && valid[i])
				cand[m++] = (struct ranked){ sim[(size_t)q * n + i], i };
		qsort(cand, (size_t)m, sizeof *cand, ranked_cmp);
		if (m > 0 && identity[cand[0].index] == identity[q])
			p1 += 1;
		{
			int hits = 0;
			double sum = 0;
			for (int i = 0; i < R && i < m; i++) {
				if (identity[cand[i].index] == identity[q]) {
					hits++;
					sum += (double)hits / (i + 1);
				}
			}
			map += sum / R;
		}
	}
	free(cand);
	if (r->queries) {
		r->precision_at_1 = p1 / r->queries;
		r->map_at_r = map / r->queries;
	}
	return 0;
}
