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
	float raw[4];                    /* the model's own square box (x1, y1, x2, y2) once
					  * the box is corrected (fw_detection_correct_box);
					  * all 0 before */
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

#include <stdint.h>

#include "core/model.h"

enum fw_detector_kind {
	FW_DETECTOR_SHORT = 0, /* BlazeFace short-range, 128x128, faces within ~2 m */
	FW_DETECTOR_FULL = 1,  /* BlazeFace full-range, 192x192, faces within ~5 m */
	FW_DETECTOR_AUTO = 2,  /* the short-range model on the whole frame plus on
				* overlapping tiles (see fw_detector_set_tiling),
				* and with the tiles the full-range model on the
				* whole frame (fw_detector_set_wide): desk-distance
				* faces as well as close ones. Opened with the
				* short-range model file; the full-range one is
				* blazeface_full.fwm in the same folder. */
};

struct fw_detector;

/* Load the model file for `kind` (refused if it holds another model).
 * Allocates everything the detector needs; fw_detector_close() frees it.
 * FW_DETECTOR_AUTO also loads blazeface_full.fwm from model_path's folder;
 * if that fails (but for FW_ENOMEM) it logs a warning and runs without
 * the full-range pass. */
int fw_detector_open(struct fw_detector **out, const char *model_path,
		     enum fw_detector_kind kind, enum fw_kernel_tier tier);
/* The same with every load option (precision, kernels); expect_name is set
 * here. */
int fw_detector_open_with(struct fw_detector **out, const char *model_path,
			  enum fw_detector_kind kind, const struct fw_model_options *opt);
void fw_detector_close(struct fw_detector *d);

/* Minimum score to report (default: the model's own threshold). */
void fw_detector_set_threshold(struct fw_detector *d, float score);

/* Tiles of FW_DETECTOR_AUTO: square tiles of side tile_frac * the frame's
 * longer side (0.43: a 640x480 frame gives 275-px tiles, scaled to the
 * model's 128), spread evenly so that neighbours overlap by at least
 * min_overlap of a side: 3 x 2 of them on a 4:3 or 16:9 frame, 7
 * short-range runs with the whole frame (8 runs with the full-range pass). 0.43 is the smallest side that still needs
 * only two rows on 4:3 (see the README's Accuracy section for what other
 * sides cost and gain). All detections are merged by weighted NMS.
 * tile_frac 0 turns tiling off (whole frame only).
 * Default FW_DETECTOR_TILE_FRAC, FW_DETECTOR_TILE_OVERLAP; ignored by the
 * other kinds. Returns FW_EINVAL for values out of range (0 or 0.2..1,
 * 0..0.75). */
#define FW_DETECTOR_TILE_FRAC 0.43f
#define FW_DETECTOR_TILE_OVERLAP 0.25f
int fw_detector_set_tiling(struct fw_detector *d, float tile_frac, float min_overlap);

/* The tiles fw_detector_run() would run on a width x height image, as
 * rectangles (x, y, w, h; rects may be NULL to count them): at most max
 * of them, 0 for the other kinds or with tiling off. Passed to fw_detector_run_regions() (a few at a time),
 * each finds what it finds inside fw_detector_run(): the daemon spreads
 * a tracked scene's newcomer tiles over several frames this way. */
int fw_detector_tiles(const struct fw_detector *d, int width, int height, int (*rects)[4],
		      int max);

/* FW_DETECTOR_AUTO's full-range pass: the full-range model (192) once on
 * the whole frame whenever tiles run, merged with the short-range runs by
 * the same weighted NMS. On the WIDER development subset it lifts
 * desk-range AP from 0.867 to 0.889 (float) for 106 M MACs more per frame
 * (README, Accuracy). Its detections are kept from the same score as the
 * short-range ones (0.5, or fw_detector_set_threshold's). On by default
 * when blazeface_full.fwm loaded; FW_EINVAL to turn it on without it.
 * Ignored by the other kinds. */
int fw_detector_set_wide(struct fw_detector *d, int on);

/* How many model runs fw_detector_run() makes on a width x height frame
 * (1 but for FW_DETECTOR_AUTO), and their multiply-accumulates (the
 * full-range run costs 3.4 short-range ones). */
int fw_detector_runs(const struct fw_detector *d, int width, int height);
uint64_t fw_detector_macs(const struct fw_detector *d, int width, int height);

/* Letterbox img into the model, run, decode, NMS, map back to img pixels,
 * correct the box shape (fw_detection_correct_box), check the faces
 * (fw_detector_set_check). Writes at most max_out detections best-first;
 * returns how many (>= 0) or a negative error. No allocation, but for
 * FW_DETECTOR_AUTO on an image whose tiles span 384 px or more (a photo:
 * it is first shrunk by 2, 4 or 8 while they stay >= 192 px), whose buffer
 * grows to the largest such image seen. */
int fw_detector_run(struct fw_detector *d, const struct fw_image *img,
		    struct fw_detection *out, int max_out);

/* Run the model once on each of n_rects sub-rectangles of img (x, y, w, h
 * in img pixels; clipped to it), merge them by weighted NMS, map to img
 * pixels and correct the box shape as fw_detector_run() does. The tiles
 * setting is not used. For following faces already tracked: one region
 * around each costs one small model run, against eight for the auto
 * detector's whole frame and tiles. At most FW_DETECTOR_MAX_REGIONS
 * (FW_EINVAL beyond). No allocation. */
#define FW_DETECTOR_MAX_REGIONS 9 /* 8 tracked faces and one tile */
int fw_detector_run_regions(struct fw_detector *d, const struct fw_image *img,
			    const int (*rects)[4], int n_rects, struct fw_detection *out,
			    int max_out);
/* BlazeFace's boxes are squares around the eyes, nose and mouth; faces as
 * people (and WIDER FACE) draw them run from the hairline to the chin and
 * are taller than wide. fw_detector_run() maps every box through one fixed
 * correction, fitted on the development data (see detector.c): the same
 * for all kinds, so boxes from the CLI, the daemon and the evaluation
 * agree. Keypoints are not changed. fw_detection_raw_box() undoes it
 * (x1, y1, x2, y2 of the model's own box), for stages tuned on raw boxes. */
void fw_detection_correct_box(struct fw_detection *d);
void fw_detection_raw_box(const struct fw_detection *d, float box[4]);
/* Scale a detection's boxes and keypoints (detector pixels to frame pixels). */
void fw_detection_scale(struct fw_detection *d, float sx, float sy);

/* The face check: O-Net (onet.fwm, beside the detector's model file; MTCNN's
 * last stage, trained on WIDER FACE) looks once at every detection scoring
 * at least FW_DETECTOR_CHECK_FROM, after the merge and the box correction:
 *   score = score^0.75 * p^0.25   (p: O-Net's face probability)
 *   box   = the mean of the corrected box and O-Net's calibrated box
 * (fw_landmarks_check); detections below FW_DETECTOR_CHECK_FROM keep half
 * their score. Then the threshold (fw_detector_set_threshold) applies to
 * the new scores: the models decode from min(threshold, CHECK_FROM), so a
 * face the models score 0.3..0.5 that O-Net is sure of is reported.
 * Keypoints and raw boxes are not changed. On the WIDER development subset
 * (int8, desk range) it lifts AP from 0.886 to 0.934 (auto), 0.810 to 0.873
 * (full), 0.430 to 0.513 (short), and precision at the operating score from
 * 0.48 to 0.90 (README, Accuracy); it costs one O-Net run (12.9 M MACs,
 * ~0.1 ms int8) per checked detection. On by default when onet.fwm loaded
 * (a missing file is a warning); FW_EINVAL to turn it on without it. */
#define FW_DETECTOR_CHECK_FROM 0.3f
int fw_detector_set_check(struct fw_detector *d, int on);
/* Whether the check is loaded and on. */
int fw_detector_check_on(const struct fw_detector *d);

/* The model (for timing and MAC counts). */
struct fw_model *fw_detector_model(struct fw_detector *d);

#endif
