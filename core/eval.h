/* Accuracy metrics, pure: the annotation-list parser, WIDER FACE style
 * detection average precision, verification (10-fold accuracy, ROC AUC, d',
 * TAR at a FAR) and identification (precision@1, MAP@R). No files, no
 * models: facectl eval (daemon/facectl_eval.c) reads the data, runs the
 * pipeline and hands plain arrays to these functions, and the unit tests
 * feed them small hand-computed cases.
 *
 * Ownership: functions that allocate say so; every *_free() accepts a
 * zeroed struct. Not thread-safe per object; no global state.
 */
#ifndef FW_EVAL_H
#define FW_EVAL_H

#include <stddef.h>

/* ---- Annotation lists (the data README's gt.txt family) ----
 *
 * For each image a line `path N`, then N lines of `cols` numbers each
 * (4: gt.txt `x y w h`; 13: gt_attributes.txt `x y w h blur expression
 * illumination invalid occlusion pose easy medium hard`; 5: detections
 * `x y w h score`). The path is everything before the last field (it has
 * no spaces); fields are split on whitespace; N may be 0; no comments.
 * Blank lines are tolerated only at the end of the text. */
struct fw_eval_image {
	char *path;
	int n;          /* boxes */
	float *v;       /* n * cols values, row-major */
	int line;       /* 1-based line of the `path N` line, for messages */
};

struct fw_eval_list {
	int cols;
	int n_images;
	struct fw_eval_image *img;
};

/* Parse `len` bytes of `text`. On a malformed line logs
 * "NAME:LINE: what is wrong" (fw_log, FW_LOG_ERROR) and returns FW_EFORMAT;
 * FW_ENOMEM on allocation failure. On success `list` owns its memory:
 * free with fw_eval_list_free(). */
int fw_eval_list_parse(const char *text, size_t len, const char *name, int cols,
		       struct fw_eval_list *list);
void fw_eval_list_free(struct fw_eval_list *list);

/* Comma-separated tables (pairs.csv, identities.csv): a header line that
 * must equal `header`, then rows of exactly as many non-empty fields (no
 * quoting; a field is everything between commas, surrounding blanks
 * trimmed). Blank lines are skipped. Errors as fw_eval_list_parse(). */
struct fw_eval_csv {
	int cols, n_rows;
	char **field;   /* n_rows * cols strings */
	int *line;      /* 1-based line of each row */
};

int fw_eval_csv_parse(const char *text, size_t len, const char *name, const char *header,
		      struct fw_eval_csv *csv);
void fw_eval_csv_free(struct fw_eval_csv *csv);

/* Columns of gt_attributes.txt. */
enum {
	FW_EVAL_ATTR_INVALID = 7,
	FW_EVAL_ATTR_EASY = 10,
	FW_EVAL_ATTR_MEDIUM = 11,
	FW_EVAL_ATTR_HARD = 12,
	FW_EVAL_ATTR_COLS = 13,
};

/* ---- Detection: average precision, WIDER FACE protocol ----
 *
 * Per image, detections are taken in descending score (ties in input
 * order) and each one is compared with the ground-truth box it overlaps
 * most (IoU with WIDER's inclusive-pixel convention: a box x..x+w spans
 * w+1 pixels; the first box wins a tie). If that IoU >= iou_thresh:
 *   - the box is outside the setting (keep = 0: not in the easy/medium/hard
 *     list, invalid, or below the size limit): the detection is ignored,
 *     neither true nor false positive;
 *   - else if the box is not yet recalled: it is now (a true positive);
 *   - else: a duplicate, a false positive.
 * Otherwise the detection is a false positive. Precision at threshold t is
 * (boxes recalled by detections >= t) / (detections >= t not ignored),
 * recall is the same numerator over the boxes kept in the setting.
 *
 * As the official evaluation (WIDER's MATLAB toolbox and its Python port,
 * widerface_evaluate/evaluation.py), an image with no ground-truth box or
 * no detection contributes its kept boxes to the positives and nothing
 * else (its detections are not false positives), and a detection whose
 * best box is already recalled does not fall back to its second best.
 *
 * Where we differ: the official code min-max normalises all scores over
 * the data set and samples the curve at 1000 fixed thresholds; we take
 * every distinct score as a threshold, the limit of that sampling (it
 * changes AP in the third decimal at most; see fw_det_eval_curve()). */
struct fw_eval_box {
	float x, y, w, h;     /* pixels, top-left corner and size */
	float score;          /* detections only */
};

struct fw_det_eval {
	/* one record per evaluated detection */
	struct fw_det_record {
		float score;
		unsigned char proposal;  /* 1: counts in precision's denominator */
		unsigned char recalled;  /* 1: recalled a new kept box */
	} *rec;
	size_t n, cap;
	long positives;  /* kept ground-truth boxes seen */
	float iou_thresh;
};

/* Zeroes ev and sets the IoU threshold (0.5 for WIDER). */
void fw_det_eval_init(struct fw_det_eval *ev, float iou_thresh);
void fw_det_eval_free(struct fw_det_eval *ev);

/* Add one image: n_gt boxes with keep[i] (1 = in the setting), n_det
 * detections in any order. Grows ev->rec (FW_ENOMEM on failure). */
int fw_det_eval_image(struct fw_det_eval *ev, const struct fw_eval_box *gt,
		      const unsigned char *keep, int n_gt, const struct fw_eval_box *det,
		      int n_det);

/* IoU as the evaluation computes it (inclusive pixels). */
double fw_det_eval_iou(const struct fw_eval_box *a, const struct fw_eval_box *b);

struct fw_pr_point {
	float threshold;      /* detections with score >= threshold */
	double precision, recall;
	long proposals, recalled;
};

/* The precision-recall curve, one point per distinct score (descending
 * threshold, so recall ascending); points where every detection so far is
 * ignored (0 proposals) are left out. *curve is malloc'd (caller frees);
 * *n may be 0. */
int fw_det_eval_curve(const struct fw_det_eval *ev, struct fw_pr_point **curve, size_t *n);

/* Area under the curve as WIDER (and PASCAL VOC 2010+) compute it: recall
 * points 0 and 1 added with precision 0, precision made monotone from the
 * right (its envelope), then sum over recall steps of step * envelope. */
double fw_eval_ap(const struct fw_pr_point *curve, size_t n);

/* The point for "score >= thr": the last point whose threshold is >= thr
 * (precision 1, recall 0 if none). */
struct fw_pr_point fw_eval_pr_at(const struct fw_pr_point *curve, size_t n, float thr);

/* ---- Verification: scores of pairs, same (1) or not (0) ----
 *
 * A pair is called "same" when score >= threshold.
 * Folds as LFW's 10-fold protocol: genuine pairs in input order go to
 * folds 0, 1, ..., k-1, 0, 1, ...; impostor pairs likewise, so each fold
 * has the same mix. For each fold the threshold is picked on the other
 * k-1 folds (the best accuracy among the midpoints between consecutive
 * distinct scores, lowest - 1 and highest + 1; when several give the best
 * accuracy, the middle one of them, the lower of two middles) and the
 * accuracy measured on this fold. */
#define FW_EVAL_MAX_FOLDS 20

struct fw_verify_result {
	int n_genuine, n_impostor, folds;
	double accuracy, accuracy_std;       /* mean and population std over folds */
	double fold_accuracy[FW_EVAL_MAX_FOLDS];
	double fold_threshold[FW_EVAL_MAX_FOLDS];
	double threshold;                    /* mean of the fold thresholds */
	double auc;                          /* P(genuine > impostor) + P(tie) / 2 */
	double dprime;                       /* (mg - mi) / sqrt((vg + vi) / 2), population variances */
	double mean_genuine, mean_impostor, std_genuine, std_impostor;
};

int fw_eval_verify(const float *score, const unsigned char *same, int n, int folds,
		   struct fw_verify_result *r);

/* True accept rate at a false accept rate: with k = floor(far * impostors)
 * false accepts allowed and the impostor scores sorted descending, the
 * threshold is the (k+1)-th highest impostor score and a pair is accepted
 * when strictly above it (k >= impostors: everything, threshold -inf).
 * *far_seen gets the FAR actually reached. */
double fw_eval_tar_at_far(const float *score, const unsigned char *same, int n, double far,
			  double *threshold, double *far_seen);

/* ---- Identification: leave-one-out over a labelled set ----
 *
 * sim is n x n (row q: similarities of query q to every item). Item i is
 * a candidate for query q when i != q and group[i] != group[q] (files of
 * one photograph are neither genuine matches nor impostors for each other).
 * valid[i] == 0 marks a photo the pipeline failed on: it is never a
 * candidate and, as a query, scores 0 (a failure, not dropped). R is the
 * number of items with q's identity and another group (valid or not). A
 * query with R = 0 cannot be scored and is counted in `skipped`.
 * Candidates are ranked by similarity, descending; ties keep item order.
 *   precision@1: the best candidate has q's identity;
 *   MAP@R (Musgrave et al., 2020): (1/R) sum_{i<=R} P(i) rel(i), P(i) the
 *   precision of the first i candidates, rel(i) = 1 if the i-th is right. */
struct fw_identify_result {
	int queries, skipped, failed;
	double precision_at_1, map_at_r;
};

/* Allocates scratch internally (FW_ENOMEM). */
int fw_eval_identify(const float *sim, int n, const int *identity, const int *group,
		     const unsigned char *valid, struct fw_identify_result *r);

#endif
