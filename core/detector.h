/* Face detection with BlazeFace (MediaPipe short- and full-range): anchors,
 * box/keypoint decoding, weighted NMS, letterbox mapping back to the source.
 *
 * The decode half is pure maths on the model's raw outputs and is usable
 * (and tested) without running a model.
 */
#ifndef FW_DETECTOR_H
#define FW_DETECTOR_H

#include "core/image.h"

#define FW_DET_KEYPOINTS 6 /* right eye, left eye, nose tip, mouth centre, right ear, left ear */

struct fw_detection {
	float x1, y1, x2, y2;            /* box corners, source pixels (or normalised, see below) */
	float score;                     /* sigmoid of the logit, 0..1 */
	float kp[FW_DET_KEYPOINTS][2];   /* keypoints (x, y) */
};

struct fw_anchor_config {
	int input_size;        /* 128 short, 192 full */
	int n_strides;
	int strides[4];        /* short: 8,16,16,16; full: 4 */
	int anchors_per_cell_extra; /* interpolated_scale_aspect_ratio adds one per layer: 1 */
	float score_thresh;    /* 0.5 short, 0.6 full */
	float nms_iou;         /* 0.3 */
};

extern const struct fw_anchor_config fw_anchors_short;
extern const struct fw_anchor_config fw_anchors_full;

/* Number of anchors for a config (896 short, 2304 full). */
int fw_anchor_count(const struct fw_anchor_config *cfg);
/* Fill centres (x, y) in 0..1, row-major y, x, then anchor. `xy` holds 2*count floats. */
void fw_anchor_generate(const struct fw_anchor_config *cfg, float *xy);

/* Decode raw outputs (regressors [n][16], logits [n]) into detections in
 * normalised model-input coordinates (0..1), keep score >= thresh, then
 * weighted NMS (clusters by IoU > nms_iou around the best remaining box; the
 * cluster's boxes and keypoints averaged with score weights; the score is the
 * best one's). Detections are written best-first into out (at most max_out);
 * returns how many. `scratch` must hold fw_detector_decode_scratch(cfg) bytes. */
size_t fw_detector_decode_scratch(const struct fw_anchor_config *cfg);
int fw_detector_decode(const struct fw_anchor_config *cfg, const float *anchors_xy,
		       const float *regressors, const float *logits, float score_thresh,
		       struct fw_detection *out, int max_out, void *scratch);

/* Map normalised model-input detections back to source pixels through the letterbox. */
void fw_detection_unletterbox(struct fw_detection *d, int n, const struct fw_letterbox *lb);

/* Intersection over union of two boxes. */
float fw_detection_iou(const struct fw_detection *a, const struct fw_detection *b);


/* ---- The detector: a model plus its anchors and scratch, ready to run. ---- */

#include "core/model.h"

enum fw_detector_kind {
	FW_DETECTOR_SHORT = 0, /* BlazeFace short-range, 128x128, faces within ~2 m */
	FW_DETECTOR_FULL = 1,  /* BlazeFace full-range, 192x192, faces within ~5 m */
};

struct fw_detector;

/* Load the model file for `kind` (refused if it holds another model).
 * Allocates everything the detector needs; fw_detector_close() frees it. */
int fw_detector_open(struct fw_detector **out, const char *model_path,
		     enum fw_detector_kind kind, enum fw_kernel_tier tier);
void fw_detector_close(struct fw_detector *d);

/* Minimum score to report (default: the model's own threshold). */
void fw_detector_set_threshold(struct fw_detector *d, float score);

/* Letterbox img into the model, run, decode, NMS, map back to img pixels.
 * Writes at most max_out detections best-first; returns how many (>= 0) or
 * a negative error. No allocation. */
int fw_detector_run(struct fw_detector *d, const struct fw_image *img,
		    struct fw_detection *out, int max_out);

/* The model (for timing and MAC counts). */
struct fw_model *fw_detector_model(struct fw_detector *d);

#endif
