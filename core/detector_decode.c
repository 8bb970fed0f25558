/* BlazeFace decoding: SSD anchors, box/keypoint decoding, weighted NMS and the
 * letterbox back-mapping. Pure maths, no allocation.
 *
 * The semantics follow MediaPipe's face detection graph:
 *   SsdAnchorsCalculator (fixed_anchor_size, aspect ratio 1, anchor offset 0.5),
 *   TensorsToDetectionsCalculator (XYWH, sigmoid with clipping at 100, scores
 *   below min_score_thresh dropped, boxes with negative or NaN size dropped),
 *   NonMaxSuppressionCalculator (INTERSECTION_OVER_UNION, WEIGHTED, 0.3).
 */
#include "core/detector.h"

#include <assert.h>
#include <math.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "core/fw.h"

const struct fw_anchor_config fw_anchors_short = {
	.input_size = 128,
	.n_strides = 4,
	.strides = {8, 16, 16, 16},
	.anchors_per_cell_extra = 1,
	.score_thresh = 0.5f,
	.nms_iou = 0.3f,
};

/* interpolated_scale_aspect_ratio is 0 in the full-range graph: one anchor per cell. */
const struct fw_anchor_config fw_anchors_full = {
	.input_size = 192,
	.n_strides = 1,
	.strides = {4},
	.anchors_per_cell_extra = 0,
	.score_thresh = 0.6f,
	.nms_iou = 0.3f,
};

#define FW_LOGIT_CLIP 100.0f

/* One anchor that passed the score threshold, with its decoded box
 * (normalised corners) so that NMS compares boxes without re-decoding. */
struct fw_candidate {
	float score;
	int anchor;
	float box[4]; /* x1, y1, x2, y2 */
};

/* Walk the layers as MediaPipe does: consecutive layers with the same stride
 * share one feature map, each contributing one anchor (aspect ratio 1) plus
 * one interpolated-scale anchor when anchors_per_cell_extra is set.
 * Returns the index just past the merged run; *per_cell and *fm are its
 * anchors per cell and feature-map side in cells. */
static int anchor_layer(const struct fw_anchor_config *cfg, int layer, int *per_cell, int *fm)
{
	int last = layer;
	int stride = cfg->strides[layer];

	assert(stride > 0);
	*per_cell = 0;
	while (last < cfg->n_strides && cfg->strides[last] == stride) {
		*per_cell += 1 + cfg->anchors_per_cell_extra;
		last++;
	}
	*fm = (cfg->input_size + stride - 1) / stride; /* ceil, as MediaPipe */
	return last;
}

int fw_anchor_count(const struct fw_anchor_config *cfg)
{
	int count = 0;

	assert(cfg->n_strides >= 0 && cfg->n_strides <= 4);
	for (int layer = 0; layer < cfg->n_strides;) {
		int per_cell, fm;

		layer = anchor_layer(cfg, layer, &per_cell, &fm);
		count += fm * fm * per_cell;
	}
	return count;
}

void fw_anchor_generate(const struct fw_anchor_config *cfg, float *xy)
{
	assert(cfg->n_strides >= 0 && cfg->n_strides <= 4);
	for (int layer = 0; layer < cfg->n_strides;) {
		int per_cell, fm;

		layer = anchor_layer(cfg, layer, &per_cell, &fm);
		for (int y = 0; y < fm; y++) {
			for (int x = 0; x < fm; x++) {
				/* fixed_anchor_size: every anchor of a cell is w = h = 1
				 * at the cell centre, so only the centres are stored. */
				float cx = ((float)x + 0.5f) / (float)fm;
				float cy = ((float)y + 0.5f) / (float)fm;

				for (int a = 0; a < per_cell; a++) {
					*xy++ = cx;
					*xy++ = cy;
				}
			}
		}
	}
}

size_t fw_detector_decode_scratch(const struct fw_anchor_config *cfg)
{
	/* slack so that an unaligned caller buffer can be aligned inside */
	return (size_t)fw_anchor_count(cfg) * sizeof(struct fw_candidate) +
	       alignof(struct fw_candidate);
}

/* IoU of corner boxes (x1, y1, x2, y2) as MediaPipe's OverlapSimilarity with
 * INTERSECTION_OVER_UNION: an empty rectangle (min > max) overlaps nothing,
 * touching edges intersect with zero area, a zero union gives 0. */
static float box_iou(const float a[4], const float b[4])
{
	if (a[0] > a[2] || a[1] > a[3] || b[0] > b[2] || b[1] > b[3])
		return 0.0f;
	if (b[2] < a[0] || a[2] < b[0] || b[3] < a[1] || a[3] < b[1])
		return 0.0f;

	float ix = fminf(a[2], b[2]) - fmaxf(a[0], b[0]);
	float iy = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
	float inter = ix * iy;
	float uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;

	return uni > 0.0f ? inter / uni : 0.0f;
}

float fw_detection_iou(const struct fw_detection *a, const struct fw_detection *b)
{
	const float ba[4] = {a->x1, a->y1, a->x2, a->y2};
	const float bb[4] = {b->x1, b->y1, b->x2, b->y2};

	return box_iou(ba, bb);
}

/* Box corners of anchor i in normalised input coordinates. */
static void decode_box(float inv_s, const float *anchors_xy, const float *r, int i, float box[4])
{
	float cx = r[0] * inv_s + anchors_xy[2 * i];
	float cy = r[1] * inv_s + anchors_xy[2 * i + 1];
	float w = r[2] * inv_s;
	float h = r[3] * inv_s;

	box[0] = cx - w / 2.0f;
	box[1] = cy - h / 2.0f;
	box[2] = cx + w / 2.0f;
	box[3] = cy + h / 2.0f;
}

/* Order: score descending, then anchor index ascending (MediaPipe's std::sort
 * leaves ties unspecified; this makes ours deterministic). */
static int cand_before(const struct fw_candidate *a, const struct fw_candidate *b)
{
	if (a->score != b->score)
		return a->score > b->score;
	return a->anchor < b->anchor;
}

/* In-place heap sort, so that no libc qsort (which may allocate) runs per frame. */
static void cand_sift_down(struct fw_candidate *c, int root, int n)
{
	for (;;) {
		int child = 2 * root + 1;

		if (child >= n)
			return;
		/* max-heap of "comes last": the root is the one to place at the end */
		if (child + 1 < n && cand_before(&c[child], &c[child + 1]))
			child++;
		if (!cand_before(&c[root], &c[child]))
			return;
		struct fw_candidate t = c[root];
		c[root] = c[child];
		c[child] = t;
		root = child;
	}
}

static void cand_sort(struct fw_candidate *c, int n)
{
	for (int i = n / 2 - 1; i >= 0; i--)
		cand_sift_down(c, i, n);
	for (int end = n - 1; end > 0; end--) {
		struct fw_candidate t = c[0];
		c[0] = c[end];
		c[end] = t;
		cand_sift_down(c, 0, end);
	}
}

/* Sigmoid of the clipped logit, in float as MediaPipe computes it. */
static float logit_score(float logit)
{
	if (logit < -FW_LOGIT_CLIP)
		logit = -FW_LOGIT_CLIP;
	if (logit > FW_LOGIT_CLIP)
		logit = FW_LOGIT_CLIP;
	return 1.0f / (1.0f + expf(-logit));
}

int fw_detector_decode(const struct fw_anchor_config *cfg, const float *anchors_xy,
		       const float *regressors, const float *logits, float score_thresh,
		       struct fw_detection *out, int max_out, void *scratch)
{
	const int n = fw_anchor_count(cfg);
	const float inv_s = 1.0f / (float)cfg->input_size;
	uintptr_t p = (uintptr_t)scratch;
	struct fw_candidate *cand;
	int m = 0, n_out = 0;

	assert(anchors_xy && regressors && logits && scratch && (out || max_out <= 0));
	p = (p + alignof(struct fw_candidate) - 1) & ~(uintptr_t)(alignof(struct fw_candidate) - 1);
	cand = (struct fw_candidate *)p;

	for (int i = 0; i < n; i++) {
		float score = logit_score(logits[i]);
		const float *r = regressors + (size_t)i * 16;

		/* written so that a NaN score is dropped too (MediaPipe would keep it) */
		if (!(score >= score_thresh))
			continue;
		decode_box(inv_s, anchors_xy, r, i, cand[m].box);
		/* negative or NaN sizes are model noise; MediaPipe drops them */
		if (!(cand[m].box[2] - cand[m].box[0] >= 0.0f) ||
		    !(cand[m].box[3] - cand[m].box[1] >= 0.0f))
			continue;
		cand[m].score = score;
		cand[m].anchor = i;
		m++;
	}
	cand_sort(cand, m);

	/* Weighted NMS (MediaPipe WeightedNonMaxSuppression): the best remaining
	 * box and every remaining box whose IoU with it is > nms_iou (the best
	 * one included, its IoU with itself being 1) form a cluster; corners and
	 * keypoints are averaged with score weights, the score is the best one's.
	 * The rest, still in score order, go round again. */
	while (m > 0 && n_out < max_out) {
		const struct fw_candidate best = cand[0];
		double sum[4 + 2 * FW_DET_KEYPOINTS] = {0};
		double total = 0.0;
		int kept = 0, clustered = 0;

		for (int j = 0; j < m; j++) {
			const struct fw_candidate *c = &cand[j];

			if (!(box_iou(c->box, best.box) > cfg->nms_iou)) {
				cand[kept++] = *c; /* stable compaction: kept <= j */
				continue;
			}
			const float *r = regressors + (size_t)c->anchor * 16;
			const float ax = anchors_xy[2 * c->anchor], ay = anchors_xy[2 * c->anchor + 1];
			const double w = c->score;

			for (int k = 0; k < 4; k++)
				sum[k] += w * c->box[k];
			for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
				sum[4 + 2 * k] += w * (r[4 + 2 * k] * inv_s + ax);
				sum[5 + 2 * k] += w * (r[5 + 2 * k] * inv_s + ay);
			}
			total += w;
			clustered++;
		}

		struct fw_detection *d = &out[n_out++];

		d->score = best.score;
		memset(d->raw, 0, sizeof d->raw); /* set when the box is corrected */
		if (clustered > 0) {
			d->x1 = (float)(sum[0] / total);
			d->y1 = (float)(sum[1] / total);
			d->x2 = (float)(sum[2] / total);
			d->y2 = (float)(sum[3] / total);
			for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
				d->kp[k][0] = (float)(sum[4 + 2 * k] / total);
				d->kp[k][1] = (float)(sum[5 + 2 * k] / total);
			}
		} else {
			/* A zero-area best box overlaps nothing, not even itself.
			 * MediaPipe then emits it unaveraged and stops (its guard
			 * against looping forever); we do the same. */
			const float *r = regressors + (size_t)best.anchor * 16;
			const float ax = anchors_xy[2 * best.anchor];
			const float ay = anchors_xy[2 * best.anchor + 1];

			d->x1 = best.box[0];
			d->y1 = best.box[1];
			d->x2 = best.box[2];
			d->y2 = best.box[3];
			for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
				d->kp[k][0] = r[4 + 2 * k] * inv_s + ax;
				d->kp[k][1] = r[5 + 2 * k] * inv_s + ay;
			}
			break;
		}
		m = kept;
	}
	return n_out;
}

void fw_detection_unletterbox(struct fw_detection *d, int n, const struct fw_letterbox *lb)
{
	/* model px = normalised * input size = source px * scale + pad */
	const float sx = (float)lb->in_w, sy = (float)lb->in_h;
	const float px = (float)lb->pad_x, py = (float)lb->pad_y;
	const float sc = lb->scale;

	for (int i = 0; i < n; i++) {
		d[i].x1 = (d[i].x1 * sx - px) / sc;
		d[i].y1 = (d[i].y1 * sy - py) / sc;
		d[i].x2 = (d[i].x2 * sx - px) / sc;
		d[i].y2 = (d[i].y2 * sy - py) / sc;
		for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
			d[i].kp[k][0] = (d[i].kp[k][0] * sx - px) / sc;
			d[i].kp[k][1] = (d[i].kp[k][1] * sy - py) / sc;
		}
	}
}
