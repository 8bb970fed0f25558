/* The detector stage: letterbox -> BlazeFace -> decode -> weighted NMS ->
 * source pixels -> box-shape correction. The maths of decoding lives in
 * detector_decode.c.
 *
 * FW_DETECTOR_AUTO runs the short-range model more than once per frame:
 * on the whole frame (letterboxed to 128: faces over ~1/6 of the frame)
 * and on square tiles of 0.43 of the frame's longer side (each scaled to
 * 128: faces from ~1/16 of the frame, a person at a desk 1-2 m from a
 * webcam), plus, when tiles run, the full-range model once on the whole
 * frame (192): averaged into the merge, its boxes move the tiles' ones
 * onto more faces (WIDER desk-range AP 0.867 -> 0.889; left out of the
 * box average, the gain is gone: 0.866).
 * The per-run detections are mapped to frame pixels and merged with the
 * same weighted NMS as within a run. */
#include "detector.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fw.h"
#include "kernels/q8.h"
#include "landmarks.h"

/* Detections kept per model run before the cross-run merge. At the
 * model's own thresholds a run gives a handful; the evaluation runs at
 * 0.05 and gets a few dozen. */
#define RUN_MAX 128
/* Grid bound: a tile side is >= 0.2 of the longer side, so <= 5 per axis. */
#define MAX_TILES 25
/* Candidate runs of an auto frame: the whole frame twice (short- and
 * full-range) and the tiles. */
#define MAX_RUNS (2 + MAX_TILES)

struct fw_detector {
	struct fw_model *model;
	const struct fw_anchor_config *cfg;
	enum fw_detector_kind kind;
	float *anchors;         /* 2 * n anchor centres */
	void *decode_scratch;
	void *lb_tmp;
	float threshold;        /* the lowest score reported */
	float decode_thr;       /* the lowest score decoded: lower with the check */
	float mul, add;         /* pixel -> model input: x / 127.5 - 1 */
	uint8_t *in_u8;         /* an int8 model's u8 input (fw_model_input_u8), or NULL */
	uint8_t lut[256], pad;  /* ... pixel -> its u8 code, and black's */
	const float *regressors, *logits;
	float tile_frac, tile_overlap;
	struct fw_detection *cand; /* MAX_RUNS * RUN_MAX, planned at open */
	struct fw_detector *wide;  /* AUTO: the full-range model, NULL if not loaded */
	int wide_on;               /* fw_detector_set_wide() */
	struct fw_landmarks *check; /* the face check's O-Net, NULL if not loaded */
	int check_on;              /* fw_detector_set_check() */
	struct fw_image shrunk;    /* AUTO: a large image shrunk (run_auto_shrunk) */
	uint8_t *shrunk_buf;
	size_t shrunk_cap;
};

static const char *kind_model_name(enum fw_detector_kind kind)
{
	return kind == FW_DETECTOR_FULL ? "blazeface_full" : "blazeface_short";
}

/* An int8 model: pixels go to its u8 input through a table (the codes the
 * float input x = px * mul + add would be quantised to), not through
 * floats quantised back in the model's first step. */
static void use_u8_input(struct fw_detector *d)
{
	float x[257], scale;
	uint8_t q[257];
	int32_t zero;

	d->in_u8 = fw_model_input_u8(d->model, &scale, &zero);
	if (!d->in_u8)
		return;
	for (int v = 0; v < 256; v++)
		x[v] = v * d->mul + d->add;
	x[256] = d->add;
	fw_q8_quantize(x, 257, 1.0f / scale, zero, q);
	memcpy(d->lut, q, 256);
	d->pad = q[256];
}

/* The path of file `name` in the folder of `path` (malloc'd), or NULL. */
static char *beside(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/');
	size_t dir = slash ? (size_t)(slash - path) + 1 : 0, len = strlen(name) + 1;
	char *p = malloc(dir + len);

	if (!p) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading", path);
		return NULL;
	}
	memcpy(p, path, dir);
	memcpy(p + dir, name, len);
	return p;
}

static int open_detector(struct fw_detector **out, const char *model_path,
			 enum fw_detector_kind kind, const struct fw_model_options *base,
			 int with_check);

/* AUTO: the full-range model, blazeface_full.fwm beside the short-range
 * file. Without it the detector still works (whole frame and tiles of the
 * short-range model, a few points of desk-range AP lower): said, not
 * fatal. Out of memory is fatal. */
static int open_wide(struct fw_detector *d, const char *short_path,
		     const struct fw_model_options *base)
{
	char *path = beside(short_path, "blazeface_full.fwm");
	int err;

	if (!path)
		return FW_ENOMEM;
	/* a missing file is one warning, not the loader's error and a warning */
	err = access(path, R_OK) ? -errno
	      : open_detector(&d->wide, path, FW_DETECTOR_FULL, base, 0);
	if (err == -ENOMEM) /* fopen's */
		err = FW_ENOMEM;
	if (err && err != FW_ENOMEM)
		fw_log(FW_LOG_WARN, "%s: %s; the auto detector runs without its full-range pass "
		       "(faces at desk distance are found less well): install the model next to %s",
		       path, fw_strerror(err), short_path);
	free(path);
	if (err == FW_ENOMEM)
		return err;
	d->wide_on = d->wide != NULL;
	return 0;
}

/* The thresholds of d and its full-range pass: one operating score for
 * the auto detector (the short-range model's 0.5), so the evaluation's
 * "recall at 0.5" is what the daemon gets; with the check the models
 * decode from CHECK_FROM at most. */
static void set_thresholds(struct fw_detector *d)
{
	d->decode_thr = d->threshold;
	if (d->check && d->check_on && d->decode_thr > FW_DETECTOR_CHECK_FROM)
		d->decode_thr = FW_DETECTOR_CHECK_FROM;
	if (d->wide) {
		d->wide->threshold = d->threshold;
		d->wide->decode_thr = d->decode_thr;
	}
}

/* The face check's O-Net, onet.fwm beside the detector's file. Without it
 * the detector works as before (its boxes looser, more false positives):
 * said, not fatal. Out of memory is fatal. */
static int open_check(struct fw_detector *d, const char *model_path,
		      const struct fw_model_options *base)
{
	char *path = beside(model_path, "onet.fwm");
	struct fw_model_options opt = *base;
	int err;

	if (!path)
		return FW_ENOMEM;
	opt.expect_name = NULL; /* fw_landmarks_open_with sets its own */
	err = access(path, R_OK) ? -errno : fw_landmarks_open_with(&d->check, path, &opt);
	if (err == -ENOMEM) /* fopen's */
		err = FW_ENOMEM;
	if (err && err != FW_ENOMEM)
		fw_log(FW_LOG_WARN, "%s: %s; the detector runs without its face check (looser boxes, "
		       "more false detections): install the model next to %s",
		       path, fw_strerror(err), model_path);
	free(path);
	if (err == FW_ENOMEM)
		return err;
	d->check_on = d->check != NULL;
	return 0;
}

int fw_detector_open_with(struct fw_detector **out, const char *model_path,
			  enum fw_detector_kind kind, const struct fw_model_options *base)
{
	return open_detector(out, model_path, kind, base, 1);
}

static int open_detector(struct fw_detector **out, const char *model_path,
			 enum fw_detector_kind kind, const struct fw_model_options *base,
			 int with_check)
{
	struct fw_model_options opt = *base;

	opt.expect_name = kind_model_name(kind);
	struct fw_detector *d;
	struct fw_shape in, reg = { 0 }, cls = { 0 };
	int err, n;

	*out = NULL;
	if (kind != FW_DETECTOR_SHORT && kind != FW_DETECTOR_FULL && kind != FW_DETECTOR_AUTO)
		return FW_EINVAL;
	d = calloc(1, sizeof *d);
	if (!d) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading", model_path);
		return FW_ENOMEM;
	}
	d->kind = kind;
	d->cfg = kind == FW_DETECTOR_FULL ? &fw_anchors_full : &fw_anchors_short;
	d->threshold = d->cfg->score_thresh;
	d->mul = 1.0f / 127.5f;
	d->add = -1.0f;
	d->tile_frac = FW_DETECTOR_TILE_FRAC;
	d->tile_overlap = FW_DETECTOR_TILE_OVERLAP;
	err = fw_model_load(model_path, &opt, &d->model);
	if (err)
		goto fail;
	n = fw_anchor_count(d->cfg);
	fw_model_input(d->model, &in);
	/* outputs by shape, not name: the two upstream models name them differently */
	for (int i = 0; i < fw_model_n_outputs(d->model) && i < 2; i++) {
		struct fw_shape s;
		const float *y = fw_model_output(d->model, i, &s);
		if (s.c == 16)
			d->regressors = y, reg = s;
		else if (s.c == 1)
			d->logits = y, cls = s;
	}
	if (!d->regressors || !d->logits || fw_model_n_outputs(d->model) != 2 ||
	    in.h != d->cfg->input_size || in.w != d->cfg->input_size || in.c != 3 ||
	    reg.w != n || cls.w != n) {
		fw_log(FW_LOG_ERROR, "%s: model inputs/outputs do not fit a %s detector with %d anchors",
		       model_path, kind_model_name(kind), n);
		err = FW_EMODEL;
		goto fail;
	}
	d->anchors = malloc(sizeof(float) * 2 * (size_t)n);
	d->decode_scratch = malloc(fw_detector_decode_scratch(d->cfg));
	d->lb_tmp = malloc(fw_letterbox_scratch(in.w, in.h));
	/* room for the auto detector's runs and for fw_detector_run_regions() */
	d->cand = malloc(sizeof *d->cand * (size_t)MAX_RUNS * RUN_MAX);
	if (!d->anchors || !d->decode_scratch || !d->lb_tmp || !d->cand) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading", model_path);
		err = FW_ENOMEM;
		goto fail;
	}
	fw_anchor_generate(d->cfg, d->anchors);
	use_u8_input(d);
	if (kind == FW_DETECTOR_AUTO && (err = open_wide(d, model_path, base)))
		goto fail;
	if (with_check && (err = open_check(d, model_path, base)))
		goto fail;
	set_thresholds(d);
	*out = d;
	return 0;
fail:
	fw_detector_close(d);
	return err;
}

void fw_detector_close(struct fw_detector *d)
{
	if (!d)
		return;
	fw_model_free(d->model);
	free(d->anchors);
	free(d->decode_scratch);
	free(d->lb_tmp);
	free(d->cand);
	fw_detector_close(d->wide);
	fw_landmarks_close(d->check);
	free(d->shrunk_buf);
	free(d);
}

void fw_detector_set_threshold(struct fw_detector *d, float score)
{
	d->threshold = score;
	set_thresholds(d);
}

int fw_detector_set_check(struct fw_detector *d, int on)
{
	if (on && !d->check)
		return FW_EINVAL;
	d->check_on = on != 0;
	set_thresholds(d);
	return 0;
}

int fw_detector_check_on(const struct fw_detector *d)
{
	return d->check && d->check_on;
}

int fw_detector_set_wide(struct fw_detector *d, int on)
{
	if (on && !d->wide)
		return FW_EINVAL;
	d->wide_on = on != 0;
	return 0;
}

int fw_detector_set_tiling(struct fw_detector *d, float tile_frac, float min_overlap)
{
	if (!(tile_frac == 0 || (tile_frac >= 0.2f && tile_frac <= 1.0f)) ||
	    !(min_overlap >= 0 && min_overlap <= 0.75f))
		return FW_EINVAL;
	d->tile_frac = tile_frac;
	d->tile_overlap = min_overlap;
	return 0;
}

struct fw_model *fw_detector_model(struct fw_detector *d)
{
	return d->model;
}

/* ---- Box-shape correction ----
 *
 * Fitted with bench/fit_box_correction.py on the WIDER FACE development
 * subset: raw boxes (facectl eval detect --raw-boxes --save-detections) of
 * the short, full and auto detectors scoring >= 0.5, matched to valid faces
 * >= 20 px wide; medians of the face box relative to the raw square of
 * side s (575 matches): centre x +0.009 s (left as is), centre y -0.063 s,
 * width 0.874 s, height 1.199 s. Per model the vertical offset differs
 * (short -0.10 s, full -0.03 s) but one correction for all keeps boxes
 * comparable across detectors. WIDER AP with it (all / desk range):
 * full 0.133 -> 0.135 / 0.773 -> 0.814, auto 0.109 -> 0.110 / 0.862 ->
 * 0.867, short 0.035 -> 0.033 / 0.446 -> 0.431 (its few hits are large,
 * loosely boxed faces). */
#define BOX_DY (-0.06f)
#define BOX_SW 0.875f
#define BOX_SH 1.2f

void fw_detection_correct_box(struct fw_detection *d)
{
	float cx = 0.5f * (d->x1 + d->x2), cy = 0.5f * (d->y1 + d->y2);
	float w = d->x2 - d->x1, h = d->y2 - d->y1;

	d->raw[0] = d->x1;
	d->raw[1] = d->y1;
	d->raw[2] = d->x2;
	d->raw[3] = d->y2;
	cy += BOX_DY * w;
	w *= BOX_SW;
	h *= BOX_SH;
	d->x1 = cx - 0.5f * w;
	d->x2 = cx + 0.5f * w;
	d->y1 = cy - 0.5f * h;
	d->y2 = cy + 0.5f * h;
}

void fw_detection_raw_box(const struct fw_detection *d, float box[4])
{
	if (d->raw[2] > d->raw[0]) {
		memcpy(box, d->raw, sizeof d->raw);
		return;
	}
	/* a detection made elsewhere (tests): undo the correction */
	float cx = 0.5f * (d->x1 + d->x2), cy = 0.5f * (d->y1 + d->y2);
	float w = (d->x2 - d->x1) / BOX_SW, h = (d->y2 - d->y1) / BOX_SH;

	cy -= BOX_DY * w;
	box[0] = cx - 0.5f * w;
	box[2] = cx + 0.5f * w;
	box[1] = cy - 0.5f * h;
	box[3] = cy + 0.5f * h;
}

void fw_detection_scale(struct fw_detection *d, float sx, float sy)
{
	d->x1 *= sx, d->x2 *= sx, d->raw[0] *= sx, d->raw[2] *= sx;
	d->y1 *= sy, d->y2 *= sy, d->raw[1] *= sy, d->raw[3] *= sy;
	for (int k = 0; k < FW_DET_KEYPOINTS; k++)
		d->kp[k][0] *= sx, d->kp[k][1] *= sy;
}

/* ---- Running ---- */

/* One model run on img (a frame or a tile view of it): detections in
 * img pixels, uncorrected. */
static int run_once(struct fw_detector *d, const struct fw_image *img, struct fw_detection *out,
		    int max_out)
{
	struct fw_shape in;
	struct fw_letterbox lb;
	float *x = fw_model_input(d->model, &in);
	int err, n;

	if (d->in_u8)
		fw_image_letterbox_u8(img, in.w, in.h, d->lut, d->pad, d->in_u8, d->lb_tmp, &lb);
	else
		fw_image_letterbox(img, in.w, in.h, d->mul, d->add, x, d->lb_tmp, &lb);
	err = fw_model_run(d->model);
	if (err)
		return err;
	n = fw_detector_decode(d->cfg, d->anchors, d->regressors, d->logits, d->decode_thr, out,
			       max_out, d->decode_scratch);
	if (n > 0)
		fw_detection_unletterbox(out, n, &lb);
	return n;
}

/* Tile origins along one axis of `len` pixels for tiles of `side`:
 * evenly spread, first at 0 and last flush with the end, neighbours
 * overlapping by >= overlap * side. Returns the count (<= max). */
static int tile_axis(int len, int side, float overlap, int *pos, int max)
{
	int n;

	if (side >= len) {
		pos[0] = 0;
		return 1;
	}
	n = (int)ceilf((float)(len - side) / ((1.0f - overlap) * (float)side) - 1e-4f) + 1;
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++)
		pos[i] = n > 1 ? (int)lroundf((float)i * (float)(len - side) / (float)(n - 1)) : 0;
	return n;
}

/* The grid for a w x h frame: tile side in pixels and origins. */
static int tile_grid(const struct fw_detector *d, int w, int h, int *side, int *xs, int *nx,
		     int *ys, int *ny)
{
	int longer = w > h ? w : h;

	if (d->kind != FW_DETECTOR_AUTO || d->tile_frac <= 0)
		return 0;
	*side = (int)lroundf(d->tile_frac * (float)longer);
	if (*side < 1)
		return 0;
	*nx = tile_axis(w, *side, d->tile_overlap, xs, 5);
	*ny = tile_axis(h, *side, d->tile_overlap, ys, 5);
	/* a single tile covering the frame adds nothing to the whole-frame run */
	if (*nx * *ny == 1 && *side >= w && *side >= h)
		return 0;
	return *nx * *ny;
}

/* The full-range pass runs with the tiles: a frame scanned whole only
 * (tiling off, as the daemon's cheap scans) costs one short-range run. */
static int wide_runs(const struct fw_detector *d, int tiles)
{
	return tiles > 0 && d->wide_on;
}

int fw_detector_runs(const struct fw_detector *d, int width, int height)
{
	int side, xs[5], ys[5], nx, ny;
	int tiles = tile_grid(d, width, height, &side, xs, &nx, ys, &ny);

	return 1 + tiles + wide_runs(d, tiles);
}

uint64_t fw_detector_macs(const struct fw_detector *d, int width, int height)
{
	int side, xs[5], ys[5], nx, ny;
	int tiles = tile_grid(d, width, height, &side, xs, &nx, ys, &ny);
	uint64_t macs = (uint64_t)(1 + tiles) * fw_model_macs(d->model);

	if (wide_runs(d, tiles))
		macs += fw_model_macs(d->wide->model);
	return macs;
}

int fw_detector_tiles(const struct fw_detector *d, int width, int height, int (*rects)[4],
		      int max)
{
	int side, xs[5], ys[5], nx, ny;
	int n = tile_grid(d, width, height, &side, xs, &nx, ys, &ny);

	n = n < max ? n : max;
	for (int t = 0; rects && t < n; t++) {
		/* as run_auto() runs them */
		rects[t][0] = xs[t % nx];
		rects[t][1] = ys[t / nx];
		rects[t][2] = side < width ? side : width;
		rects[t][3] = side < height ? side : height;
	}
	return n > 0 ? n : 0;
}

static void det_swap(struct fw_detection *a, struct fw_detection *b)
{
	struct fw_detection t = *a;
	*a = *b;
	*b = t;
}

/* Heap sort by descending score (no libc qsort: it may allocate). */
static void det_sift_down(struct fw_detection *c, int root, int n)
{
	for (;;) {
		int child = 2 * root + 1;

		if (child >= n)
			return;
		/* min-heap on score: the root is the lowest, placed at the end */
		if (child + 1 < n && c[child + 1].score < c[child].score)
			child++;
		if (!(c[child].score < c[root].score))
			return;
		det_swap(&c[root], &c[child]);
		root = child;
	}
}

static void det_sort(struct fw_detection *c, int n)
{
	for (int i = n / 2 - 1; i >= 0; i--)
		det_sift_down(c, i, n);
	for (int end = n - 1; end > 0; end--) {
		det_swap(&c[0], &c[end]);
		det_sift_down(c, 0, end);
	}
}

/* Weighted NMS across runs, as fw_detector_decode() does within one: the
 * best remaining detection and every remaining one overlapping it by IoU
 * > nms_iou are averaged with score weights (corners and keypoints); the
 * score is the best one's. Consumes c (n items). */
static int merge_weighted(struct fw_detection *c, int n, float nms_iou, struct fw_detection *out,
			  int max_out)
{
	int n_out = 0;

	det_sort(c, n);
	while (n > 0 && n_out < max_out) {
		const struct fw_detection best = c[0];
		double sum[4 + 2 * FW_DET_KEYPOINTS] = { 0 }, total = 0;
		int kept = 0;

		for (int j = 0; j < n; j++) {
			const struct fw_detection *e = &c[j];
			const double w = e->score;

			if (j > 0 && !(fw_detection_iou(e, &best) > nms_iou)) {
				c[kept++] = *e; /* stable: still in score order */
				continue;
			}
			sum[0] += w * e->x1;
			sum[1] += w * e->y1;
			sum[2] += w * e->x2;
			sum[3] += w * e->y2;
			for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
				sum[4 + 2 * k] += w * e->kp[k][0];
				sum[5 + 2 * k] += w * e->kp[k][1];
			}
			total += w;
		}
		struct fw_detection *o = &out[n_out++];
		*o = best;
		if (total > 0) {
			o->x1 = (float)(sum[0] / total);
			o->y1 = (float)(sum[1] / total);
			o->x2 = (float)(sum[2] / total);
			o->y2 = (float)(sum[3] / total);
			for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
				o->kp[k][0] = (float)(sum[4 + 2 * k] / total);
				o->kp[k][1] = (float)(sum[5 + 2 * k] / total);
			}
		}
		n = kept;
	}
	return n_out;
}

/* One model run on a sub-rectangle of img, detections in img pixels. */
static int run_in(struct fw_detector *d, const struct fw_image *img, int x0, int y0, int w, int h,
		  struct fw_detection *c)
{
	struct fw_image part = {
		.width = w,
		.height = h,
		.stride = img->stride,
		.data = img->data + (size_t)y0 * (size_t)img->stride + (size_t)x0 * 3,
	};
	int k = run_once(d, &part, c, RUN_MAX);

	for (int i = 0; i < k; i++) {
		c[i].x1 += (float)x0;
		c[i].x2 += (float)x0;
		c[i].y1 += (float)y0;
		c[i].y2 += (float)y0;
		for (int j = 0; j < FW_DET_KEYPOINTS; j++) {
			c[i].kp[j][0] += (float)x0;
			c[i].kp[j][1] += (float)y0;
		}
	}
	return k;
}

static int run_auto(struct fw_detector *d, const struct fw_image *img, struct fw_detection *out,
		    int max_out)
{
	int tiles[MAX_TILES][4], m, n_tiles;

	m = run_once(d, img, d->cand, RUN_MAX);
	if (m < 0)
		return m;
	n_tiles = fw_detector_tiles(d, img->width, img->height, tiles, MAX_TILES);
	if (wide_runs(d, n_tiles)) {
		/* its own scores as they are: scaling them by 0.7..0.9 against the
		 * short-range model's changed desk-range AP by < 0.4 points (README) */
		int k = run_once(d->wide, img, d->cand + m, RUN_MAX);

		if (k < 0)
			return k;
		m += k;
	}
	for (int t = 0; t < n_tiles; t++) {
		int k = run_in(d, img, tiles[t][0], tiles[t][1], tiles[t][2], tiles[t][3], d->cand + m);

		if (k < 0)
			return k;
		m += k;
	}
	if (n_tiles == 0) {
		/* one run: its own NMS is final */
		int n = m < max_out ? m : max_out;
		for (int i = 0; i < n; i++)
			out[i] = d->cand[i];
		return n;
	}
	return merge_weighted(d->cand, m, d->cfg->nms_iou, out, max_out);
}

/* The face check (detector.h, fw_detector_set_check) on n corrected
 * detections, then the threshold: returns how many are kept, best-first.
 * The exponents and the box mean were chosen on the WIDER development
 * subset and held on both halves (README, Accuracy): O-Net's box alone
 * 0.886 -> 0.910 desk-range AP, the mean with the corrected box 0.915;
 * scores from O-Net alone rank worse than this blend (0.75 / 0.25: 0.934;
 * 0.6 / 0.4: 0.929; 0.85 / 0.15: 0.933). A second O-Net pass on the
 * calibrated crop, as fw_landmarks_run makes, did not add (0.934). */
static int check_faces(struct fw_detector *d, const struct fw_image *img, struct fw_detection *out,
		       int n)
{
	int kept = 0;

	if (n <= 0 || !d->check || !d->check_on)
		return n;
	for (int i = 0; i < n; i++) {
		struct fw_detection *e = &out[i];
		float p, box[4];
		int err;

		if (e->score < FW_DETECTOR_CHECK_FROM) {
			e->score *= 0.5f;
		} else if ((err = fw_landmarks_check(d->check, img, e, &p, box)) == 0) {
			e->score = powf(e->score, 0.75f) * powf(fmaxf(p, 0.0f), 0.25f);
			e->x1 = 0.5f * (e->x1 + box[0]);
			e->y1 = 0.5f * (e->y1 + box[1]);
			e->x2 = 0.5f * (e->x2 + box[2]);
			e->y2 = 0.5f * (e->y2 + box[3]);
		} else if (err != FW_EINVAL) {
			return err; /* FW_EINVAL: a box too small to crop, left as it is */
		}
		if (e->score >= d->threshold)
			out[kept++] = *e;
	}
	det_sort(out, kept);
	return kept;
}

int fw_detector_run_regions(struct fw_detector *d, const struct fw_image *img,
			    const int (*rects)[4], int n_rects, struct fw_detection *out,
			    int max_out)
{
	int m = 0, n;

	if (!img || img->width < 1 || img->height < 1 || n_rects < 0 ||
	    n_rects > FW_DETECTOR_MAX_REGIONS)
		return FW_EINVAL;
	for (int r = 0; r < n_rects; r++) {
		int x0 = rects[r][0], y0 = rects[r][1], x1 = x0 + rects[r][2], y1 = y0 + rects[r][3];
		int k;

		x0 = x0 < 0 ? 0 : x0;
		y0 = y0 < 0 ? 0 : y0;
		x1 = x1 > img->width ? img->width : x1;
		y1 = y1 > img->height ? img->height : y1;
		if (x1 - x0 < 1 || y1 - y0 < 1)
			continue;
		k = run_in(d, img, x0, y0, x1 - x0, y1 - y0, d->cand + m);
		if (k < 0)
			return k;
		m += k;
	}
	/* regions of faces side by side overlap: one face, one detection */
	n = merge_weighted(d->cand, m, d->cfg->nms_iou, out, max_out);
	for (int i = 0; i < n; i++)
		fw_detection_correct_box(&out[i]);
	return check_faces(d, img, out, n);
}

/* AUTO on a large image (a photo; the daemon's frames are decoded small):
 * every pass reads its part of the image through an area resize, the
 * whole image twice and the overlapping tiles once more. Shrinking the
 * image first by the largest power of two that keeps the tiles at least
 * SHRINK_MIN_TILE px (1.5 x the model's 128) costs one cheap integer pass
 * (fw_image_shrink) and leaves the passes a quarter of the pixels or less.
 * On the WIDER development subset (1024-px photos: by 2) desk-range AP is
 * unchanged (0.933 -> 0.934; halves -0.2 / +0.3 points, >= 64 px +0.4)
 * and an evaluation over 80 of them (JPEG decoding included) takes 0.85
 * of the time (README, Accuracy). The face check still looks at the
 * full-size image. */
#define SHRINK_MIN_TILE 192.0f

static int shrink_factor(const struct fw_detector *d, const struct fw_image *img)
{
	const float longer = (float)(img->width > img->height ? img->width : img->height);
	const float tile = d->tile_frac > 0 ? d->tile_frac * longer : longer;

	for (int f = 8; f >= 2; f /= 2)
		if (tile / (float)f >= SHRINK_MIN_TILE)
			return f;
	return 1;
}

static int run_auto_shrunk(struct fw_detector *d, const struct fw_image *img, struct fw_detection *out,
			   int max_out)
{
	const int f = shrink_factor(d, img);
	const size_t need = (size_t)3 * (size_t)((img->width + f - 1) / f) * (size_t)((img->height + f - 1) / f);
	int n;

	if (f == 1)
		return run_auto(d, img, out, max_out);
	if (need > d->shrunk_cap) {
		/* grows with the largest photo seen, not per call */
		uint8_t *p = realloc(d->shrunk_buf, need);

		if (!p)
			return FW_ENOMEM;
		d->shrunk_buf = p;
		d->shrunk_cap = need;
	}
	d->shrunk.data = d->shrunk_buf;
	if (fw_image_shrink(img, f, &d->shrunk, d->shrunk_cap))
		return run_auto(d, img, out, max_out);
	n = run_auto(d, &d->shrunk, out, max_out);
	for (int i = 0; i < n; i++)
		fw_detection_scale(&out[i], (float)f, (float)f);
	return n;
}

int fw_detector_run(struct fw_detector *d, const struct fw_image *img,
		    struct fw_detection *out, int max_out)
{
	int n;

	if (!img || img->width < 1 || img->height < 1)
		return FW_EINVAL;
	if (d->kind == FW_DETECTOR_AUTO)
		n = run_auto_shrunk(d, img, out, max_out);
	else
		n = run_once(d, img, out, max_out);
	for (int i = 0; i < n; i++)
		fw_detection_correct_box(&out[i]);
	return check_faces(d, img, out, n);
}

int fw_detector_open(struct fw_detector **out, const char *model_path,
		     enum fw_detector_kind kind, enum fw_kernel_tier tier)
{
	struct fw_model_options opt = { .tier = tier };
	return fw_detector_open_with(out, model_path, kind, &opt);
}
