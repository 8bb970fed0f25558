/* facectl eval: accuracy you can check, on annotated data read in place.
 *
 *   facectl eval detect GT.txt [--attributes GT_ATTRIBUTES.txt]
 *        [--detector short|full|auto] [--min-face PX] [--min-frac F]
 *        [--csv OUT.csv] [--plot OUT.png] [--detections FILE]
 *        [--save-detections FILE] [--threshold S] [--op-threshold S]
 *        [--tiles FRAC[:OVERLAP]] [--no-wide] [--no-check] [--raw-boxes] [--limit N]
 *   facectl eval verify PAIRS.csv [--align onet|kp4] [--folds K] [--csv OUT.csv]
 *   facectl eval identify IDENTITIES.csv [--align onet|kp4]
 *   common: --models DIR, --kernels ref|fast, --precision float|int8, --json
 *
 * The file formats are those of ../shared/data/README.md; image paths are
 * relative to the annotation file's folder. The metric definitions live in
 * core/eval.h; this file reads files, runs the pipeline and reports.
 * A report is a table on stdout (or one JSON object with --json); messages
 * go to stderr. Exit status: 0 done, 1 a file or the pipeline failed,
 * 2 the command line is wrong.
 */
#include "daemon/facectl_eval.h"
#include "daemon/facectl_lm68.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "capture/imageio.h"
#include "core/detector.h"
#include "core/embedder.h"
#include "core/eval.h"
#include "core/fw.h"
#include "daemon/jsonout.h"
#include "daemon/photo.h"

#define MAX_DET 512         /* detections per image kept for AP */
#define EVAL_SCORE 0.05f    /* lowest score reported while measuring AP */

enum { SET_ALL, SET_EASY, SET_MEDIUM, SET_HARD, N_SETTINGS };
static const char *const setting_name[N_SETTINGS] = { "all", "easy", "medium", "hard" };
static const int setting_column[N_SETTINGS] = { -1, FW_EVAL_ATTR_EASY, FW_EVAL_ATTR_MEDIUM,
						 FW_EVAL_ATTR_HARD };

struct eval_options {
	const char *models_dir;
	enum fw_kernel_tier tier;
	enum fw_precision precision;
	int json;
	/* detect */
	const char *attributes, *csv, *plot, *detections, *save_detections;
	enum fw_detector_kind detector;
	float min_face, min_frac, threshold, op_threshold;
	float tile_frac, tile_overlap;
	int tiles_set, raw_boxes, no_wide, no_check, limit;
	/* verify, identify */
	enum fw_photo_align align;
	int folds;
};

static void eval_usage(FILE *f)
{
	fputs("usage: facectl eval detect GT.txt [--attributes GT_ATTRIBUTES.txt]\n"
	      "                [--detector short|full|auto] [--min-face PX] [--min-frac F]\n"
	      "                [--csv OUT.csv] [--plot OUT.png] [--detections FILE]\n"
	      "                [--save-detections FILE] [--threshold S] [--op-threshold S]\n"
	      "                [--tiles FRAC[:OVERLAP]] [--no-wide] [--no-check] [--raw-boxes]\n"
	      "                [--limit N]\n"
	      "       facectl eval verify PAIRS.csv [--align onet|kp4] [--folds K] [--csv OUT.csv]\n"
	      "       facectl eval identify IDENTITIES.csv [--align onet|kp4]\n"
	      "       facectl eval landmarks LANDMARKS68.txt [--draw DIR] [--crop-scale S]\n"
	      "       facectl eval pose IMAGE... [--mirror] [--rotate DEG] [--draw OUT.png]\n"
	      "\n"
	      "detect: average precision at IoU 0.5 as the WIDER FACE evaluation computes it,\n"
	      "  for all valid faces and, with --attributes, the easy/medium/hard settings;\n"
	      "  recall and precision at the operating threshold; the precision-recall curve\n"
	      "  as CSV (--csv) and as a plot (--plot). Faces narrower than --min-face pixels\n"
	      "  or --min-frac of the image width are left out (a detection of one is\n"
	      "  ignored). --detections scores a file of detections (`path N`, then N lines\n"
	      "  `x y w h score`) instead of running a detector; --save-detections writes one.\n"
	      "  --threshold is the lowest score kept (default 0.05), --op-threshold the\n"
	      "  score the detector runs at (default: the detector's own; 0.5 with\n"
	      "  --detections). --tiles sets the auto detector's tiles (0 = whole frame\n"
	      "  only), --no-wide leaves out its full-range pass; --no-check the O-Net face\n"
	      "  check of every detector's results; --raw-boxes scores the\n"
	      "  model's square boxes without the shape correction.\n"
	      "verify: 10-fold accuracy (threshold picked on 9 folds, tested on the 10th),\n"
	      "  ROC AUC, d', TAR at FAR 1e-2 and 1e-3 and the threshold to use; --csv\n"
	      "  writes the similarity of every pair.\n"
	      "identify: leave-one-out precision@1 and MAP@R; files of one photograph\n"
	      "  (same photo_group) are never matches for each other.\n"
	      "Photos where no face is found count as failures and are listed.\n"
	      "landmarks: the 68-point model on every detected face against the file's\n"
	      "  points: mean error / inter-ocular distance (outer eye corners) per face,\n"
	      "  and mean, median, max; --draw writes each image with both point sets.\n"
	      "pose: yaw, pitch, roll of every face (after --mirror / --rotate).\n"
	      "\n"
	      "common options: --models DIR, --kernels ref|fast, --json (one JSON object),\n"
	      "  --precision float|int8 (default float; int8 runs the calibrated models as\n"
	      "  the daemon does)\n",
	      f);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Whole file into memory (NUL-terminated; caller frees). */
static int read_text(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	*out = NULL;
	if (!f) {
		int err = -errno;
		fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(errno));
		return err;
	}
	for (;;) {
		if (cap - n < 65536) {
			char *nb = realloc(buf, cap + 65536 + 1);
			if (!nb) {
				free(buf);
				fclose(f);
				return FW_ENOMEM;
			}
			buf = nb;
			cap += 65536;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		fw_log(FW_LOG_ERROR, "%s: read error", path);
		free(buf);
		fclose(f);
		return FW_EIO;
	}
	fclose(f);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

static int load_list(const char *path, int cols, struct fw_eval_list *list)
{
	char *text;
	size_t len;
	int err = read_text(path, &text, &len);

	if (err)
		return err;
	err = fw_eval_list_parse(text, len, path, cols, list);
	free(text);
	return err;
}

static int load_csv(const char *path, const char *header, struct fw_eval_csv *csv)
{
	char *text;
	size_t len;
	int err = read_text(path, &text, &len);

	if (err)
		return err;
	err = fw_eval_csv_parse(text, len, path, header, csv);
	free(text);
	return err;
}

/* dir of `file` + "/" + rel, in buf */
static const char *data_path(char *buf, size_t size, const char *file, const char *rel)
{
	const char *slash = strrchr(file, '/');

	if (rel[0] == '/' || !slash)
		snprintf(buf, size, "%s", rel);
	else
		snprintf(buf, size, "%.*s/%s", (int)(slash - file), file, rel);
	return buf;
}

/* A result is printed whole or not at all: out of memory while building
 * it, the command stops with a message (daemon/jsonout.h). */
static void print_json(json_t *j)
{
	if (fw_jsonout_print(j, JSON_COMPACT | JSON_REAL_PRECISION(6)))
		exit(1);
}

static const char *detector_name(enum fw_detector_kind k)
{
	return k == FW_DETECTOR_FULL ? "full" : k == FW_DETECTOR_SHORT ? "short" : "auto";
}

/* ---- The plot: precision against recall, drawn into an image ---- */

struct glyph {
	char c;
	unsigned char rows[7]; /* 5 bits each, bit 4 = leftmost column */
};

/* 5x7 capitals, digits and a little punctuation: enough for the labels */
static const struct glyph font[] = {
	{ '%', { 0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03 } },
	{ '(', { 0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02 } },
	{ ')', { 0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08 } },
	{ '-', { 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00 } },
	{ '.', { 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c } },
	{ '/', { 0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00 } },
	{ '0', { 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e } },
	{ '1', { 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e } },
	{ '2', { 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f } },
	{ '3', { 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e } },
	{ '4', { 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 } },
	{ '5', { 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e } },
	{ '6', { 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e } },
	{ '7', { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 } },
	{ '8', { 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e } },
	{ '9', { 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c } },
	{ ':', { 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00 } },
	{ '=', { 0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00 } },
	{ '>', { 0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08 } },
	{ '@', { 0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0f } },
	{ 'A', { 0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 } },
	{ 'B', { 0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e } },
	{ 'C', { 0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e } },
	{ 'D', { 0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e } },
	{ 'E', { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f } },
	{ 'F', { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10 } },
	{ 'G', { 0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f } },
	{ 'H', { 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 } },
	{ 'I', { 0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e } },
	{ 'J', { 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c } },
	{ 'K', { 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 } },
	{ 'L', { 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f } },
	{ 'M', { 0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11 } },
	{ 'N', { 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 } },
	{ 'O', { 0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e } },
	{ 'P', { 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10 } },
	{ 'Q', { 0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d } },
	{ 'R', { 0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11 } },
	{ 'S', { 0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e } },
	{ 'T', { 0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 } },
	{ 'U', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e } },
	{ 'V', { 0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04 } },
	{ 'W', { 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a } },
	{ 'X', { 0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11 } },
	{ 'Y', { 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04 } },
	{ 'Z', { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f } },
};

static void put_px(struct fw_image *img, int x, int y, const uint8_t rgb[3])
{
	if (x < 0 || y < 0 || x >= img->width || y >= img->height)
		return;
	memcpy(img->data + (size_t)y * img->stride + (size_t)x * 3, rgb, 3);
}

static void fill(struct fw_image *img, int x, int y, int w, int h, const uint8_t rgb[3])
{
	for (int j = y; j < y + h; j++)
		for (int i = x; i < x + w; i++)
			put_px(img, i, j, rgb);
}

/* Bresenham, `t` pixels thick (a t x t square at each step). */
static void line(struct fw_image *img, int x0, int y0, int x1, int y1, int t, const uint8_t rgb[3])
{
	int dx = abs(x1 - x0), dy = -abs(y1 - y0);
	int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;

	for (;;) {
		fill(img, x0 - t / 2, y0 - t / 2, t, t, rgb);
		if (x0 == x1 && y0 == y1)
			return;
		int e2 = 2 * e;
		if (e2 >= dy) {
			e += dy;
			x0 += sx;
		}
		if (e2 <= dx) {
			e += dx;
			y0 += sy;
		}
	}
}

/* Text at (x, y) top-left, `s` pixels per font pixel; lower case is drawn
 * as capitals, unknown characters as blanks. Returns the width drawn. */
static int text(struct fw_image *img, int x, int y, int s, const char *str, const uint8_t rgb[3])
{
	int x0 = x;

	for (; *str; str++, x += 6 * s) {
		char c = *str >= 'a' && *str <= 'z' ? (char)(*str - 'a' + 'A') : *str;
		for (size_t g = 0; g < sizeof font / sizeof font[0]; g++) {
			if (font[g].c != c)
				continue;
			for (int r = 0; r < 7; r++)
				for (int b = 0; b < 5; b++)
					if (font[g].rows[r] & (0x10 >> b))
						fill(img, x + b * s, y + r * s, s, s, rgb);
			break;
		}
	}
	return x - x0;
}

struct curve {
	const char *name;
	const struct fw_pr_point *pt;
	size_t n;
	double ap;
};

static int write_plot(const char *path, const char *title, const struct curve *c, int nc)
{
	static const uint8_t white[3] = { 255, 255, 255 }, black[3] = { 0, 0, 0 },
			     grid[3] = { 220, 220, 220 }, axis[3] = { 90, 90, 90 };
	static const uint8_t colour[N_SETTINGS][3] = {
		{ 30, 30, 30 }, { 30, 150, 60 }, { 230, 140, 0 }, { 210, 40, 40 },
	};
	const int W = 800, H = 640, L = 80, R = 30, T = 50, B = 70;
	const int pw = W - L - R, ph = H - T - B;
	struct fw_image img;
	char buf[96];
	int err;

	if ((err = fw_image_alloc(&img, W, H)))
		return err;
	fill(&img, 0, 0, W, H, white);
	for (int k = 0; k <= 10; k++) {
		int x = L + k * pw / 10, y = T + ph - k * ph / 10;
		line(&img, x, T, x, T + ph, 1, grid);
		line(&img, L, y, L + pw, y, 1, grid);
		if (k % 2 == 0) {
			snprintf(buf, sizeof buf, "%.1f", k / 10.0);
			text(&img, x - 9, T + ph + 8, 1, buf, axis);
			text(&img, L - 30, y - 3, 1, buf, axis);
		}
	}
	line(&img, L, T, L, T + ph, 2, axis);
	line(&img, L, T + ph, L + pw, T + ph, 2, axis);
	text(&img, L + pw / 2 - 36, T + ph + 28, 2, "RECALL", black);
	/* the y label, written down the left margin letter by letter */
	{
		const char *yl = "PRECISION";
		for (int i = 0; yl[i]; i++) {
			char ch[2] = { yl[i], 0 };
			text(&img, 14, T + ph / 2 - 9 * 9 + i * 18, 2, ch, black);
		}
	}
	text(&img, L, 16, 2, title, black);
	for (int s = 0; s < nc; s++) {
		int px = -1, py = -1;
		for (size_t k = 0; k < c[s].n; k++) {
			int x = L + (int)lround(c[s].pt[k].recall * pw);
			int y = T + ph - (int)lround(c[s].pt[k].precision * ph);
			if (px >= 0)
				line(&img, px, py, x, y, 2, colour[s]);
			px = x;
			py = y;
		}
		snprintf(buf, sizeof buf, "%s  AP %.3f", c[s].name, c[s].ap);
		fill(&img, L + pw - 250, T + 20 + 26 * s, 24, 4, colour[s]);
		text(&img, L + pw - 216, T + 14 + 26 * s, 2, buf, colour[s]);
	}
	err = fw_imageio_save_png(path, &img);
	fw_image_free(&img);
	return err;
}

/* ---- eval detect ---- */

/* Image list lookup by path (for --detections). */
struct path_index {
	const char *path;
	int i;
};

static int path_index_cmp(const void *a, const void *b)
{
	return strcmp(((const struct path_index *)a)->path, ((const struct path_index *)b)->path);
}

/* The attribute file must describe the same boxes as gt.txt, in order. */
static int check_attributes(const struct fw_eval_list *gt, const char *gt_path,
			    const struct fw_eval_list *at, const char *at_path)
{
	if (at->n_images != gt->n_images) {
		fw_log(FW_LOG_ERROR, "%s: %d images, but %s has %d; they must list the same images",
		       at_path, at->n_images, gt_path, gt->n_images);
		return FW_EFORMAT;
	}
	for (int i = 0; i < gt->n_images; i++) {
		const struct fw_eval_image *g = &gt->img[i], *a = &at->img[i];
		if (strcmp(g->path, a->path) || g->n != a->n) {
			fw_log(FW_LOG_ERROR, "%s:%d: '%s %d' does not match %s:%d '%s %d'", at_path, a->line,
			       a->path, a->n, gt_path, g->line, g->path, g->n);
			return FW_EFORMAT;
		}
		for (int k = 0; k < g->n; k++)
			for (int c = 0; c < 4; c++)
				if (g->v[k * 4 + c] != a->v[k * FW_EVAL_ATTR_COLS + c]) {
					fw_log(FW_LOG_ERROR, "%s:%d: box %d differs from %s:%d", at_path,
					       a->line + 1 + k, k + 1, gt_path, g->line + 1 + k);
					return FW_EFORMAT;
				}
	}
	return 0;
}

static int cmd_detect(const struct eval_options *o, const char *gt_path)
{
	struct fw_eval_list gt = { 0 }, at = { 0 }, pre = { 0 };
	struct fw_det_eval ev[N_SETTINGS];
	struct fw_pr_point *curve[N_SETTINGS] = { 0 };
	size_t n_curve[N_SETTINGS] = { 0 };
	struct fw_detector *det = NULL;
	struct path_index *index = NULL;
	struct fw_detection *faces = NULL;
	struct fw_eval_box *boxes = NULL, *dets = NULL;
	unsigned char *keep = NULL;
	double *times = NULL;
	FILE *save = NULL;
	long runs_total = 0, n_timed = 0, missing = 0, total_boxes = 0;
	uint64_t macs_total = 0;
	int n_set = 1, n_images, rc = 1, err, boxes_cap = 0;
	float op;
	char path[PATH_MAX];

	for (int s = 0; s < N_SETTINGS; s++)
		fw_det_eval_init(&ev[s], 0.5f);
	if (load_list(gt_path, 4, &gt))
		goto out;
	if (o->attributes) {
		if (load_list(o->attributes, FW_EVAL_ATTR_COLS, &at) ||
		    check_attributes(&gt, gt_path, &at, o->attributes))
			goto out;
		n_set = N_SETTINGS;
	}
	n_images = o->limit > 0 && o->limit < gt.n_images ? o->limit : gt.n_images;
	if (o->detections) {
		if (load_list(o->detections, 5, &pre))
			goto out;
		index = malloc(sizeof *index * (size_t)(pre.n_images ? pre.n_images : 1));
		if (!index)
			goto out;
		for (int i = 0; i < pre.n_images; i++)
			index[i] = (struct path_index){ pre.img[i].path, i };
		qsort(index, (size_t)pre.n_images, sizeof *index, path_index_cmp);
		op = o->op_threshold >= 0 ? o->op_threshold : 0.5f;
	} else {
		const char *file = o->detector == FW_DETECTOR_FULL ? "blazeface_full.fwm" : "blazeface_short.fwm";
		snprintf(path, sizeof path, "%s/%s", fw_photo_models_dir(o->models_dir), file);
		struct fw_model_options mo = { .tier = o->tier, .precision = o->precision };
		if ((err = fw_detector_open_with(&det, path, o->detector, &mo)))
			goto out;
		op = o->op_threshold >= 0 ? o->op_threshold
		     : o->detector == FW_DETECTOR_FULL ? fw_anchors_full.score_thresh
						       : fw_anchors_short.score_thresh;
		fw_detector_set_threshold(det, o->threshold);
		if (o->tiles_set && fw_detector_set_tiling(det, o->tile_frac, o->tile_overlap)) {
			fprintf(stderr, "facectl eval: --tiles takes FRAC 0 or 0.2..1, OVERLAP 0..0.75\n");
			rc = 2;
			goto out;
		}
		if (o->no_wide)
			fw_detector_set_wide(det, 0);
		if (o->no_check)
			fw_detector_set_check(det, 0);
		times = malloc(sizeof *times * (size_t)(n_images ? n_images : 1));
		if (!times)
			goto out;
	}
	if (o->save_detections && !(save = fopen(o->save_detections, "w"))) {
		fw_log(FW_LOG_ERROR, "%s: %s", o->save_detections, strerror(errno));
		goto out;
	}
	faces = malloc(sizeof *faces * MAX_DET);
	dets = malloc(sizeof *dets * MAX_DET);
	if (!faces || !dets)
		goto out;

	for (int i = 0; i < n_images; i++) {
		const struct fw_eval_image *g = &gt.img[i];
		struct fw_image img = { 0 };
		int nd = 0, width = 0;

		if (det || o->min_frac > 0) {
			if (fw_imageio_load(data_path(path, sizeof path, gt_path, g->path), &img))
				goto out;
			width = img.width;
		}
		if (det) {
			double t0 = now_ms();
			int n = fw_detector_run(det, &img, faces, MAX_DET);
			times[n_timed++] = now_ms() - t0;
			if (n < 0) {
				fw_log(FW_LOG_ERROR, "%s: detection failed: %s", path, fw_strerror(n));
				fw_image_free(&img);
				goto out;
			}
			runs_total += fw_detector_runs(det, img.width, img.height);
			macs_total += fw_detector_macs(det, img.width, img.height);
			for (int k = 0; k < n; k++) {
				float b[4] = { faces[k].x1, faces[k].y1, faces[k].x2, faces[k].y2 };
				if (o->raw_boxes)
					fw_detection_raw_box(&faces[k], b);
				dets[k] = (struct fw_eval_box){ b[0], b[1], b[2] - b[0], b[3] - b[1], faces[k].score };
			}
			nd = n;
		} else {
			struct path_index key = { g->path, 0 }, *hit;
			hit = bsearch(&key, index, (size_t)pre.n_images, sizeof *index, path_index_cmp);
			if (!hit) {
				missing++;
			} else {
				const struct fw_eval_image *p = &pre.img[hit->i];
				for (int k = 0; k < p->n && nd < MAX_DET; k++) {
					const float *v = p->v + k * 5;
					if (v[4] >= o->threshold)
						dets[nd++] = (struct fw_eval_box){ v[0], v[1], v[2], v[3], v[4] };
				}
			}
		}
		fw_image_free(&img);
		if (save) {
			fprintf(save, "%s %d\n", g->path, nd);
			for (int k = 0; k < nd; k++)
				fprintf(save, "%.1f %.1f %.1f %.1f %.4f\n", dets[k].x, dets[k].y, dets[k].w,
					dets[k].h, dets[k].score);
		}
		if (g->n > boxes_cap) {
			free(boxes);
			free(keep);
			boxes_cap = g->n;
			boxes = malloc(sizeof *boxes * (size_t)boxes_cap);
			keep = malloc((size_t)boxes_cap);
			if (!boxes || !keep)
				goto out;
		}
		total_boxes += g->n;
		for (int k = 0; k < g->n; k++) {
			const float *v = g->v + k * 4;
			boxes[k] = (struct fw_eval_box){ v[0], v[1], v[2], v[3], 0 };
		}
		for (int s = 0; s < n_set; s++) {
			for (int k = 0; k < g->n; k++) {
				int in = 1;
				if (o->attributes) {
					const float *a = at.img[i].v + k * FW_EVAL_ATTR_COLS;
					in = a[FW_EVAL_ATTR_INVALID] == 0;
					if (setting_column[s] >= 0)
						in = in && a[setting_column[s]] != 0;
				}
				/* the size limit: box width in pixels and as a fraction of the image's */
				if (boxes[k].w < o->min_face ||
				    (o->min_frac > 0 && boxes[k].w < o->min_frac * (float)width))
					in = 0;
				keep[k] = (unsigned char)in;
			}
			if ((err = fw_det_eval_image(&ev[s], boxes, keep, g->n, dets, nd)))
				goto out;
		}
	}
	if (missing)
		fw_log(FW_LOG_WARN, "%s: no entry for %ld of the %d images: scored as no detections",
		       o->detections, missing, n_images);
	for (int s = 0; s < n_set; s++)
		if (fw_det_eval_curve(&ev[s], &curve[s], &n_curve[s]))
			goto out;

	/* ---- report ---- */
	{
		char title[128], filter[96] = "";
		struct curve cv[N_SETTINGS];
		double ms_med = 0, ms_mean = 0;
		json_t *j = NULL, *js = NULL;

		if (o->min_face > 0 && o->min_frac > 0)
			snprintf(filter, sizeof filter, "faces >= %g px and >= %g of the image width",
				 o->min_face, o->min_frac);
		else if (o->min_face > 0)
			snprintf(filter, sizeof filter, "faces >= %g px wide", o->min_face);
		else if (o->min_frac > 0)
			snprintf(filter, sizeof filter, "faces >= %g of the image width", o->min_frac);
		if (n_timed) {
			for (long k = 0; k < n_timed; k++)
				ms_mean += times[k];
			ms_mean /= (double)n_timed;
			qsort(times, (size_t)n_timed, sizeof *times, cmp_double);
			ms_med = times[n_timed / 2];
		}
		snprintf(title, sizeof title, "%s%s%s", det ? detector_name(o->detector) : "detections",
			 filter[0] ? "  " : "", o->min_frac > 0 ? "DESK RANGE" :
			 o->min_face > 0 ? "LARGE FACES" : "");
		if (o->json) {
			j = json_object();
			js = json_object();
			json_object_set_new(j, "ground_truth", json_string(gt_path));
			json_object_set_new(j, "images", json_integer(n_images));
			json_object_set_new(j, "boxes", json_integer(total_boxes));
			json_object_set_new(j, "detector", json_string(det ? detector_name(o->detector) : o->detections));
			if (det)
				json_object_set_new(j, "check", json_boolean(fw_detector_check_on(det)));
			json_object_set_new(j, "filter", json_string(filter));
			json_object_set_new(j, "score_floor", json_real(o->threshold));
			json_object_set_new(j, "op_threshold", json_real(op));
		} else {
			printf("facectl eval detect %s: %d images, %ld boxes\n", gt_path, n_images, total_boxes);
			if (det)
				printf("detector %s%s%s, scores >= %.2f, IoU 0.5%s%s\n", detector_name(o->detector),
				       fw_detector_check_on(det) ? " + O-Net check" : "",
				       o->raw_boxes ? " (raw square boxes)" : "", o->threshold,
				       filter[0] ? ", " : "", filter);
			else
				printf("detections %s, scores >= %.2f, IoU 0.5%s%s\n", o->detections,
				       o->threshold, filter[0] ? ", " : "", filter);
			printf("%-8s %6s %7s %12s %12s\n", "setting", "faces", "AP", "recall@op", "precision@op");
		}
		for (int s = 0; s < n_set; s++) {
			struct fw_pr_point at_op = fw_eval_pr_at(curve[s], n_curve[s], op);
			cv[s] = (struct curve){ setting_name[s], curve[s], n_curve[s],
						fw_eval_ap(curve[s], n_curve[s]) };
			if (j) {
				json_t *x = json_object();
				json_object_set_new(x, "faces", json_integer(ev[s].positives));
				json_object_set_new(x, "ap", json_real(cv[s].ap));
				json_object_set_new(x, "recall_at_op", json_real(at_op.recall));
				json_object_set_new(x, "precision_at_op", json_real(at_op.precision));
				json_object_set_new(js, setting_name[s], x);
			} else {
				printf("%-8s %6ld %7.4f %12.4f %12.4f\n", setting_name[s], ev[s].positives, cv[s].ap,
				       at_op.recall, at_op.precision);
			}
		}
		if (det) {
			double runs = n_images ? (double)runs_total / n_images : 0;
			double mmacs = n_images ? (double)macs_total / n_images / 1e6 : 0;
			double mmacs_vga = (double)fw_detector_macs(det, 640, 480) / 1e6;
			int runs_vga = fw_detector_runs(det, 640, 480);
			if (j) {
				json_object_set_new(j, "precision",
						    json_string(fw_model_precision(fw_detector_model(det)) ==
									FW_PRECISION_INT8
								? "int8"
								: "float"));
				json_object_set_new(j, "ms_per_image_median", json_real(ms_med));
				json_object_set_new(j, "ms_per_image_mean", json_real(ms_mean));
				json_object_set_new(j, "runs_per_image", json_real(runs));
				json_object_set_new(j, "mmacs_per_image", json_real(mmacs));
				json_object_set_new(j, "runs_640x480", json_integer(runs_vga));
				json_object_set_new(j, "mmacs_640x480", json_real(mmacs_vga));
			} else {
				printf("operating threshold %.2f; time per image: median %.1f ms, mean %.1f ms (%s, "
				       "one thread); %.1f model runs = %.0f M MACs per image; a 640x480 frame: %d "
				       "run%s = %.0f M MACs\n", op, ms_med, ms_mean,
				       fw_model_precision(fw_detector_model(det)) == FW_PRECISION_INT8 ? "int8"
												 : "float",
				       runs, mmacs, runs_vga, runs_vga == 1 ? "" : "s", mmacs_vga);
			}
		} else if (!j) {
			printf("operating threshold %.2f\n", op);
		}
		if (j) {
			json_object_set_new(j, "settings", js);
			print_json(j);
			json_decref(j);
		}
		if (o->csv) {
			FILE *f = fopen(o->csv, "w");
			if (!f) {
				fw_log(FW_LOG_ERROR, "%s: %s", o->csv, strerror(errno));
				goto out;
			}
			fprintf(f, "setting,threshold,precision,recall\n");
			for (int s = 0; s < n_set; s++)
				for (size_t k = 0; k < n_curve[s]; k++)
					fprintf(f, "%s,%.6g,%.6f,%.6f\n", setting_name[s], curve[s][k].threshold,
						curve[s][k].precision, curve[s][k].recall);
			if (fclose(f)) {
				fw_log(FW_LOG_ERROR, "%s: %s", o->csv, strerror(errno));
				goto out;
			}
		}
		if (o->plot && write_plot(o->plot, title, cv, n_set))
			goto out;
	}
	rc = 0;
out:
	if (save && fclose(save)) {
		fw_log(FW_LOG_ERROR, "%s: %s", o->save_detections, strerror(errno));
		rc = 1;
	}
	for (int s = 0; s < N_SETTINGS; s++) {
		fw_det_eval_free(&ev[s]);
		free(curve[s]);
	}
	fw_detector_close(det);
	fw_eval_list_free(&gt);
	fw_eval_list_free(&at);
	fw_eval_list_free(&pre);
	free(index);
	free(faces);
	free(boxes);
	free(dets);
	free(keep);
	free(times);
	return rc;
}

/* ---- Embeddings of a set of photos, each computed once ---- */

struct photo_set {
	int n;
	char **path;        /* as written in the table */
	float *emb;         /* n * FW_EMBED_DIM */
	unsigned char *ok;  /* 0: no face (or unreadable) */
	int failed;
};

static int find_photo(const struct photo_set *ps, const char *p)
{
	for (int i = 0; i < ps->n; i++)
		if (!strcmp(ps->path[i], p))
			return i;
	return -1;
}

static int add_photo(struct photo_set *ps, const char *p, int cap)
{
	int i = find_photo(ps, p);

	if (i >= 0)
		return i;
	if (ps->n >= cap || !(ps->path[ps->n] = strdup(p)))
		return -1;
	return ps->n++;
}

static void photo_set_free(struct photo_set *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->path[i]);
	free(ps->path);
	free(ps->emb);
	free(ps->ok);
}

static int photo_set_alloc(struct photo_set *ps, int cap)
{
	memset(ps, 0, sizeof *ps);
	ps->path = calloc((size_t)cap, sizeof *ps->path);
	ps->emb = calloc((size_t)cap * FW_EMBED_DIM, sizeof *ps->emb);
	ps->ok = calloc((size_t)cap, 1);
	return ps->path && ps->emb && ps->ok ? 0 : FW_ENOMEM;
}

/* Embed every photo; failures are counted, kept (ok = 0) and listed. */
static int photo_set_embed(struct photo_set *ps, const struct eval_options *o, const char *table)
{
	struct fw_photo *p = NULL;
	char path[PATH_MAX];
	int err;

	struct fw_model_options mo = { .tier = o->tier, .precision = o->precision };
	if ((err = fw_photo_open_with(&p, fw_photo_models_dir(o->models_dir), &mo)))
		return err;
	fw_photo_set_align(p, o->align);
	for (int i = 0; i < ps->n; i++) {
		struct fw_photo_face f;
		err = fw_photo_embed(p, data_path(path, sizeof path, table, ps->path[i]), &f);
		if (err) {
			ps->failed++;
			continue;
		}
		memcpy(ps->emb + (size_t)i * FW_EMBED_DIM, f.emb, sizeof f.emb);
		ps->ok[i] = 1;
	}
	fw_photo_close(p);
	return 0;
}

static void report_failures(const struct photo_set *ps, json_t *j)
{
	json_t *arr = j ? json_array() : NULL;

	if (!j && ps->failed)
		printf("no face found (or unreadable) in %d of %d photos, counted as failures:\n", ps->failed,
		       ps->n);
	for (int i = 0; i < ps->n; i++) {
		if (ps->ok[i])
			continue;
		if (arr)
			json_array_append_new(arr, json_string(ps->path[i]));
		else
			printf("  %s\n", ps->path[i]);
	}
	if (j)
		json_object_set_new(j, "failed_photos", arr);
}

static const char *align_name(enum fw_photo_align a)
{
	return a == FW_PHOTO_ALIGN_KP4 ? "BlazeFace 4 keypoints" : "O-Net 5 points";
}

/* ---- eval verify ---- */

static int cmd_verify(const struct eval_options *o, const char *table)
{
	struct fw_eval_csv csv = { 0 };
	struct photo_set ps = { 0 };
	struct fw_verify_result vr;
	float *score = NULL;
	unsigned char *same = NULL;
	int *ia = NULL, *ib = NULL, rc = 1, failed_pairs = 0;

	if (load_csv(table, "path_a,path_b,same", &csv))
		return 1;
	if (csv.n_rows < 1) {
		fw_log(FW_LOG_ERROR, "%s: no pairs to evaluate", table);
		goto out;
	}
	score = malloc(sizeof *score * (size_t)csv.n_rows);
	same = malloc((size_t)csv.n_rows);
	ia = malloc(sizeof *ia * (size_t)csv.n_rows);
	ib = malloc(sizeof *ib * (size_t)csv.n_rows);
	if (!score || !same || !ia || !ib || photo_set_alloc(&ps, 2 * csv.n_rows))
		goto out;
	for (int i = 0; i < csv.n_rows; i++) {
		char **f = csv.field + (size_t)i * 3;
		if (strcmp(f[2], "0") && strcmp(f[2], "1")) {
			fw_log(FW_LOG_ERROR, "%s:%d: 'same' is 0 or 1, not '%s'", table, csv.line[i], f[2]);
			goto out;
		}
		same[i] = f[2][0] == '1';
		ia[i] = add_photo(&ps, f[0], 2 * csv.n_rows);
		ib[i] = add_photo(&ps, f[1], 2 * csv.n_rows);
		if (ia[i] < 0 || ib[i] < 0)
			goto out;
	}
	if (photo_set_embed(&ps, o, table))
		goto out;
	/* A pair with a photo the pipeline failed on gets the lowest cosine:
	 * a genuine pair is then a false reject, as it would be for a user. */
	for (int i = 0; i < csv.n_rows; i++) {
		if (ps.ok[ia[i]] && ps.ok[ib[i]]) {
			score[i] = fw_embedding_cosine(ps.emb + (size_t)ia[i] * FW_EMBED_DIM,
						       ps.emb + (size_t)ib[i] * FW_EMBED_DIM, FW_EMBED_DIM);
		} else {
			score[i] = -1.0f;
			failed_pairs++;
		}
	}
	if (fw_eval_verify(score, same, csv.n_rows, o->folds, &vr)) {
		fw_log(FW_LOG_ERROR, "%s: verification needs genuine and impostor pairs", table);
		goto out;
	}
	{
		double thr2, thr3, far2, far3;
		double tar2 = fw_eval_tar_at_far(score, same, csv.n_rows, 1e-2, &thr2, &far2);
		double tar3 = fw_eval_tar_at_far(score, same, csv.n_rows, 1e-3, &thr3, &far3);
		long correct = 0;

		for (int i = 0; i < csv.n_rows; i++)
			correct += (score[i] >= FW_EMBED_SAME_THRESHOLD) == same[i];
		if (o->json) {
			json_t *j = json_object();
			json_object_set_new(j, "pairs", json_string(table));
			json_object_set_new(j, "align", json_string(o->align == FW_PHOTO_ALIGN_KP4 ? "kp4" : "onet"));
			json_object_set_new(j, "genuine", json_integer(vr.n_genuine));
			json_object_set_new(j, "impostor", json_integer(vr.n_impostor));
			json_object_set_new(j, "failed_pairs", json_integer(failed_pairs));
			json_object_set_new(j, "accuracy", json_real(vr.accuracy));
			json_object_set_new(j, "accuracy_std", json_real(vr.accuracy_std));
			json_object_set_new(j, "threshold", json_real(vr.threshold));
			json_object_set_new(j, "auc", json_real(vr.auc));
			json_object_set_new(j, "dprime", json_real(vr.dprime));
			json_object_set_new(j, "tar_at_far_1e-2", json_real(tar2));
			json_object_set_new(j, "threshold_far_1e-2", json_real(thr2));
			json_object_set_new(j, "tar_at_far_1e-3", json_real(tar3));
			json_object_set_new(j, "threshold_far_1e-3", json_real(thr3));
			json_object_set_new(j, "mean_genuine", json_real(vr.mean_genuine));
			json_object_set_new(j, "mean_impostor", json_real(vr.mean_impostor));
			json_object_set_new(j, "std_genuine", json_real(vr.std_genuine));
			json_object_set_new(j, "std_impostor", json_real(vr.std_impostor));
			json_object_set_new(j, "accuracy_at_shipped_threshold",
					    json_real((double)correct / csv.n_rows));
			report_failures(&ps, j);
			print_json(j);
			json_decref(j);
		} else {
			printf("facectl eval verify %s: %d pairs (%d genuine, %d impostor), %d photos, "
			       "alignment %s\n", table, csv.n_rows, vr.n_genuine, vr.n_impostor, ps.n,
			       align_name(o->align));
			report_failures(&ps, NULL);
			if (failed_pairs)
				printf("%d pairs involve such a photo and score -1 (a genuine one is a false "
				       "reject)\n", failed_pairs);
			printf("%d-fold accuracy   %.4f +- %.4f (threshold picked on the other folds)\n",
			       vr.folds, vr.accuracy, vr.accuracy_std);
			printf("ROC AUC           %.4f\n", vr.auc);
			printf("d'                %.3f (genuine %.3f +- %.3f, impostor %.3f +- %.3f)\n", vr.dprime,
			       vr.mean_genuine, vr.std_genuine, vr.mean_impostor, vr.std_impostor);
			printf("TAR @ FAR 1e-2    %.4f (accept above %.4f; FAR seen %.4f)\n", tar2, thr2, far2);
			printf("TAR @ FAR 1e-3    %.4f (accept above %.4f; FAR seen %.4f)%s\n", tar3, thr3, far3,
			       vr.n_impostor < 1000 ? " -- fewer than 1000 impostor pairs: this is TAR at "
						      "zero false accepts seen" : "");
			printf("threshold         %.4f (mean of the %d fold thresholds)\n", vr.threshold,
			       vr.folds);
			printf("accuracy at the shipped threshold %.2f: %.4f\n", FW_EMBED_SAME_THRESHOLD,
			       (double)correct / csv.n_rows);
		}
	}
	if (o->csv) {
		FILE *f = fopen(o->csv, "w");
		if (!f) {
			fw_log(FW_LOG_ERROR, "%s: %s", o->csv, strerror(errno));
			goto out;
		}
		fprintf(f, "path_a,path_b,same,similarity\n");
		for (int i = 0; i < csv.n_rows; i++)
			fprintf(f, "%s,%s,%d,%.6f\n", ps.path[ia[i]], ps.path[ib[i]], same[i], score[i]);
		if (fclose(f)) {
			fw_log(FW_LOG_ERROR, "%s: %s", o->csv, strerror(errno));
			goto out;
		}
	}
	rc = 0;
out:
	fw_eval_csv_free(&csv);
	photo_set_free(&ps);
	free(score);
	free(same);
	free(ia);
	free(ib);
	return rc;
}

/* ---- eval identify ---- */

/* Index of s in names (appended if new). */
static int intern(const char **names, int *n, const char *s)
{
	for (int i = 0; i < *n; i++)
		if (!strcmp(names[i], s))
			return i;
	names[*n] = s;
	return (*n)++;
}

static int cmd_identify(const struct eval_options *o, const char *table)
{
	struct fw_eval_csv csv = { 0 };
	struct photo_set ps = { 0 };
	struct fw_identify_result ir;
	const char **ids = NULL, **groups = NULL;
	int *identity = NULL, *group = NULL, *photo = NULL, n_ids = 0, n_groups = 0, rc = 1;
	unsigned char *valid = NULL;
	float *sim = NULL;
	int n;

	if (load_csv(table, "path,identity,source,photo_group", &csv))
		return 1;
	n = csv.n_rows;
	if (n < 2) {
		fw_log(FW_LOG_ERROR, "%s: fewer than two photos", table);
		goto out;
	}
	ids = malloc(sizeof *ids * (size_t)n);
	groups = malloc(sizeof *groups * (size_t)n);
	identity = malloc(sizeof *identity * (size_t)n);
	group = malloc(sizeof *group * (size_t)n);
	photo = malloc(sizeof *photo * (size_t)n);
	valid = malloc((size_t)n);
	sim = malloc(sizeof *sim * (size_t)n * (size_t)n);
	if (!ids || !groups || !identity || !group || !photo || !valid || !sim || photo_set_alloc(&ps, n))
		goto out;
	for (int i = 0; i < n; i++) {
		char **f = csv.field + (size_t)i * 4;
		if (find_photo(&ps, f[0]) >= 0) {
			fw_log(FW_LOG_ERROR, "%s:%d: %s is listed twice", table, csv.line[i], f[0]);
			goto out;
		}
		photo[i] = add_photo(&ps, f[0], n);
		if (photo[i] < 0)
			goto out;
		identity[i] = intern(ids, &n_ids, f[1]);
		group[i] = intern(groups, &n_groups, f[3]);
	}
	if (photo_set_embed(&ps, o, table))
		goto out;
	for (int q = 0; q < n; q++) {
		valid[q] = ps.ok[photo[q]];
		for (int i = 0; i < n; i++)
			sim[(size_t)q * n + i] = fw_embedding_cosine(ps.emb + (size_t)photo[q] * FW_EMBED_DIM,
								     ps.emb + (size_t)photo[i] * FW_EMBED_DIM,
								     FW_EMBED_DIM);
	}
	if (fw_eval_identify(sim, n, identity, group, valid, &ir))
		goto out;
	if (o->json) {
		json_t *j = json_object();
		json_object_set_new(j, "identities", json_string(table));
		json_object_set_new(j, "align", json_string(o->align == FW_PHOTO_ALIGN_KP4 ? "kp4" : "onet"));
		json_object_set_new(j, "photos", json_integer(n));
		json_object_set_new(j, "people", json_integer(n_ids));
		json_object_set_new(j, "queries", json_integer(ir.queries));
		json_object_set_new(j, "skipped", json_integer(ir.skipped));
		json_object_set_new(j, "failed", json_integer(ir.failed));
		json_object_set_new(j, "precision_at_1", json_real(ir.precision_at_1));
		json_object_set_new(j, "map_at_r", json_real(ir.map_at_r));
		report_failures(&ps, j);
		print_json(j);
		json_decref(j);
	} else {
		printf("facectl eval identify %s: %d photos of %d people, %d photographs, alignment %s\n", table,
		       n, n_ids, n_groups, align_name(o->align));
		report_failures(&ps, NULL);
		printf("queries           %d (leave-one-out; %d skipped: no other photograph of that person)\n",
		       ir.queries, ir.skipped);
		if (ir.failed)
			printf("failed queries    %d (no face: scored 0)\n", ir.failed);
		printf("precision@1       %.4f\n", ir.precision_at_1);
		printf("MAP@R             %.4f\n", ir.map_at_r);
	}
	rc = 0;
out:
	fw_eval_csv_free(&csv);
	photo_set_free(&ps);
	free(ids);
	free(groups);
	free(identity);
	free(group);
	free(photo);
	free(valid);
	free(sim);
	return rc;
}

/* ---- Command line ---- */

static int parse_float(const char *opt, const char *arg, float lo, float hi, float *out)
{
	char *end;
	float v;

	errno = 0;
	v = strtof(arg, &end);
	if (errno || *end || end == arg || !(v >= lo && v <= hi)) {
		fprintf(stderr, "facectl eval: %s takes a number from %g to %g, not '%s'\n", opt, lo, hi, arg);
		return -1;
	}
	*out = v;
	return 0;
}

int fw_cmd_eval(int argc, char **argv)
{
	enum {
		OPT_MODELS = 256, OPT_KERNELS, OPT_JSON, OPT_ATTR, OPT_DETECTOR, OPT_MIN_FACE, OPT_MIN_FRAC,
		OPT_CSV, OPT_PLOT, OPT_DETECTIONS, OPT_SAVE, OPT_THRESHOLD, OPT_OP, OPT_TILES, OPT_RAW,
		OPT_LIMIT, OPT_ALIGN, OPT_FOLDS, OPT_PRECISION, OPT_DRAW, OPT_CROP, OPT_MIRROR,
		OPT_ROTATE, OPT_NO_WIDE, OPT_NO_CHECK,
	};
	static const struct option longopts[] = {
		{ "models", required_argument, NULL, OPT_MODELS },
		{ "kernels", required_argument, NULL, OPT_KERNELS },
		{ "precision", required_argument, NULL, OPT_PRECISION },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "attributes", required_argument, NULL, OPT_ATTR },
		{ "detector", required_argument, NULL, OPT_DETECTOR },
		{ "min-face", required_argument, NULL, OPT_MIN_FACE },
		{ "min-frac", required_argument, NULL, OPT_MIN_FRAC },
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "detections", required_argument, NULL, OPT_DETECTIONS },
		{ "save-detections", required_argument, NULL, OPT_SAVE },
		{ "threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "op-threshold", required_argument, NULL, OPT_OP },
		{ "tiles", required_argument, NULL, OPT_TILES },
		{ "raw-boxes", no_argument, NULL, OPT_RAW },
		{ "no-wide", no_argument, NULL, OPT_NO_WIDE },
		{ "no-check", no_argument, NULL, OPT_NO_CHECK },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "align", required_argument, NULL, OPT_ALIGN },
		{ "folds", required_argument, NULL, OPT_FOLDS },
		{ "draw", required_argument, NULL, OPT_DRAW },
		{ "crop-scale", required_argument, NULL, OPT_CROP },
		{ "mirror", no_argument, NULL, OPT_MIRROR },
		{ "rotate", required_argument, NULL, OPT_ROTATE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct eval_options o = {
		.tier = FW_KERNELS_FAST, .detector = FW_DETECTOR_AUTO, .threshold = EVAL_SCORE,
		.op_threshold = -1, .folds = 10, .align = FW_PHOTO_ALIGN_ONET5,
	};
	struct fw_lm68_eval_options lo = { 0 };
	const char *sub;
	float v;
	int c;

	if (argc < 3 || !strcmp(argv[2], "-h") || !strcmp(argv[2], "--help")) {
		eval_usage(argc < 3 ? stderr : stdout);
		return argc < 3 ? 2 : 0;
	}
	sub = argv[2];
	if (strcmp(sub, "detect") && strcmp(sub, "verify") && strcmp(sub, "identify") &&
	    strcmp(sub, "landmarks") && strcmp(sub, "pose")) {
		fprintf(stderr, "facectl eval: unknown evaluation '%s' (detect, verify, identify, "
			"landmarks or pose)\n\n", sub);
		eval_usage(stderr);
		return 2;
	}
	optind = 3;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MODELS:
			o.models_dir = optarg;
			break;
		case OPT_KERNELS:
			if (fw_parse_kernels(optarg, &o.tier)) {
				fprintf(stderr, "facectl eval: --kernels takes ref or fast, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_PRECISION:
			if (fw_parse_precision(optarg, &o.precision)) {
				fprintf(stderr, "facectl eval: --precision takes int8 or float, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_ATTR:
			o.attributes = optarg;
			break;
		case OPT_DETECTOR:
			if (fw_parse_detector(optarg, &o.detector)) {
				fprintf(stderr, "facectl eval: --detector takes short, full or auto, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_MIN_FACE:
			if (parse_float("--min-face", optarg, 0, 100000, &o.min_face))
				return 2;
			break;
		case OPT_MIN_FRAC:
			if (parse_float("--min-frac", optarg, 0, 1, &o.min_frac))
				return 2;
			break;
		case OPT_CSV:
			o.csv = optarg;
			break;
		case OPT_PLOT:
			o.plot = optarg;
			break;
		case OPT_DETECTIONS:
			o.detections = optarg;
			break;
		case OPT_SAVE:
			o.save_detections = optarg;
			break;
		case OPT_THRESHOLD:
			if (parse_float("--threshold", optarg, 0, 1, &o.threshold))
				return 2;
			break;
		case OPT_OP:
			if (parse_float("--op-threshold", optarg, 0, 1, &o.op_threshold))
				return 2;
			break;
		case OPT_TILES: {
			char *colon = strchr(optarg, ':');
			o.tile_overlap = FW_DETECTOR_TILE_OVERLAP;
			if (colon) {
				*colon = 0;
				if (parse_float("--tiles OVERLAP", colon + 1, 0, 0.75f, &o.tile_overlap))
					return 2;
			}
			if (parse_float("--tiles FRAC", optarg, 0, 1, &o.tile_frac))
				return 2;
			if (o.tile_frac > 0 && o.tile_frac < 0.2f) {
				fprintf(stderr, "facectl eval: --tiles FRAC is 0 (no tiles) or 0.2..1\n");
				return 2;
			}
			o.tiles_set = 1;
			break;
		}
		case OPT_RAW:
			o.raw_boxes = 1;
			break;
		case OPT_NO_WIDE:
			o.no_wide = 1;
			break;
		case OPT_NO_CHECK:
			o.no_check = 1;
			break;
		case OPT_LIMIT:
			if (parse_float("--limit", optarg, 1, 1e9f, &v))
				return 2;
			o.limit = (int)v;
			break;
		case OPT_ALIGN:
			if (!strcmp(optarg, "onet"))
				o.align = FW_PHOTO_ALIGN_ONET5;
			else if (!strcmp(optarg, "kp4"))
				o.align = FW_PHOTO_ALIGN_KP4;
			else {
				fprintf(stderr, "facectl eval: --align takes onet or kp4, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_FOLDS:
			if (parse_float("--folds", optarg, 2, FW_EVAL_MAX_FOLDS, &v))
				return 2;
			o.folds = (int)v;
			break;
		case OPT_DRAW:
			lo.draw = optarg;
			break;
		case OPT_CROP:
			if (parse_float("--crop-scale", optarg, 0.6f, 3.0f, &lo.crop_scale))
				return 2;
			break;
		case OPT_MIRROR:
			lo.mirror = 1;
			break;
		case OPT_ROTATE:
			if (parse_float("--rotate", optarg, -90, 90, &lo.rotate))
				return 2;
			break;
		case 'h':
			eval_usage(stdout);
			return 0;
		default:
			eval_usage(stderr);
			return 2;
		}
	}
	lo.models_dir = o.models_dir, lo.tier = o.tier, lo.detector = o.detector, lo.json = o.json;
	if (!strcmp(sub, "pose")) {
		if (argc - optind < 1) {
			fprintf(stderr, "facectl eval pose: give one or more images\n");
			return 2;
		}
		return fw_lm68_eval_pose(&lo, argc - optind, argv + optind);
	}
	if (argc - optind != 1) {
		fprintf(stderr, "facectl eval %s: give exactly one %s file\n", sub,
			!strcmp(sub, "detect") ? "ground-truth" : !strcmp(sub, "verify") ? "pairs" : !strcmp(sub, "landmarks") ? "landmarks" : "identities");
		return 2;
	}
	if (!strcmp(sub, "landmarks"))
		return fw_lm68_eval_landmarks(&lo, argv[optind]);
	if (!strcmp(sub, "detect"))
		return cmd_detect(&o, argv[optind]);
	if (!strcmp(sub, "verify"))
		return cmd_verify(&o, argv[optind]);
	return cmd_identify(&o, argv[optind]);
}
