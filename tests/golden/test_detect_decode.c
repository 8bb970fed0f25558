/* BlazeFace decoding: anchors, decode + weighted NMS + letterbox mapping
 * against the reference detections for 5 images x 2 models, and hand-made
 * NMS cases that pin MediaPipe's WEIGHTED semantics. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/detector.h"
#include "testutil.h"

#define TOL_NORM 1e-4   /* normalised box and keypoints */
#define TOL_SCORE 1e-5
#define TOL_PX 0.05     /* source pixels */
#define MAX_DET 64

/* Largest differences seen over all golden cases, printed at the end. */
static double worst_norm, worst_score, worst_px;

struct golden_case {
	const char *image;
	const char *model; /* key in detections.json and file infix */
	const struct fw_anchor_config *cfg;
};

static json_t *load_json(const char *path)
{
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);

	if (!j)
		fail_msg("%s:%d: %s", path, err.line, err.text);
	return j;
}

static double jnum(const json_t *j)
{
	assert_true(json_is_number(j));
	return json_number_value(j);
}

static void check_close(double got, double want, double tol, double *worst, const char *what,
			const struct golden_case *gc, int det)
{
	double d = fabs(got - want);

	if (d > *worst)
		*worst = d;
	if (!(d <= tol))
		fail_msg("%s %s det %d %s: got %.9g want %.9g (|d| %.3g > %.3g)", gc->image,
			 gc->model, det, what, got, want, d, tol);
}

static void check_config(const json_t *jc, const struct fw_anchor_config *cfg, int n)
{
	const json_t *strides = json_object_get(jc, "strides");

	assert_int_equal((int)jnum(json_object_get(jc, "input")), cfg->input_size);
	assert_int_equal((int)json_array_size(strides), cfg->n_strides);
	for (int i = 0; i < cfg->n_strides; i++)
		assert_int_equal((int)jnum(json_array_get(strides, (size_t)i)), cfg->strides[i]);
	assert_int_equal((int)jnum(json_object_get(jc, "n")), n);
	/* interpolated_scale_aspect_ratio > 0 adds one anchor per layer */
	assert_int_equal(jnum(json_object_get(jc, "interp_ratio")) > 0.0, cfg->anchors_per_cell_extra);
	assert_true(jnum(json_object_get(jc, "anchor_offset")) == 0.5);
	assert_true(fabs(jnum(json_object_get(jc, "score_thresh")) - cfg->score_thresh) < 1e-7);
	assert_true(fabs(jnum(json_object_get(jc, "nms_iou")) - cfg->nms_iou) < 1e-7);
}

static void read_letterbox(const struct golden_case *gc, struct fw_letterbox *lb)
{
	char rel[256];

	snprintf(rel, sizeof rel, "models/golden/%s.%s.input.json", gc->image, gc->model);
	json_t *j = load_json(tu_shared(rel));
	const json_t *l = json_object_get(j, "letterbox");

	assert_non_null(l);
	lb->scale = (float)jnum(json_object_get(l, "scale"));
	lb->pad_x = (int)jnum(json_object_get(l, "pad_x"));
	lb->pad_y = (int)jnum(json_object_get(l, "pad_y"));
	lb->in_w = gc->cfg->input_size;
	lb->in_h = gc->cfg->input_size;
	json_decref(j);
}

static void test_golden(void **state)
{
	static const char *const kp_names[FW_DET_KEYPOINTS] = {
		"right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion",
	};
	const struct golden_case *gc = *state;
	const struct fw_anchor_config *cfg = gc->cfg;
	const int n = fw_anchor_count(cfg);
	char rel[256];

	snprintf(rel, sizeof rel, "models/golden/%s.detections.json", gc->image);
	json_t *root = load_json(tu_shared(rel));
	const json_t *m = json_object_get(root, gc->model);

	assert_non_null(m);
	check_config(json_object_get(m, "config"), cfg, n);

	snprintf(rel, sizeof rel, "models/golden/%s.%s.regressors.f32.bin", gc->image, gc->model);
	float *reg = tu_read_f32(tu_shared(rel), (size_t)n * 16);
	snprintf(rel, sizeof rel, "models/golden/%s.%s.classificators.f32.bin", gc->image, gc->model);
	float *logits = tu_read_f32(tu_shared(rel), (size_t)n);
	float *anchors = malloc((size_t)n * 2 * sizeof(float));
	void *scratch = malloc(fw_detector_decode_scratch(cfg));
	struct fw_detection out[MAX_DET];

	assert_non_null(anchors);
	assert_non_null(scratch);
	fw_anchor_generate(cfg, anchors);

	/* the reference keeps score >= thresh, as MediaPipe */
	int above = 0;
	for (int i = 0; i < n; i++)
		above += 1.0 / (1.0 + exp(-logits[i])) >= cfg->score_thresh;
	assert_int_equal(above, (int)jnum(json_object_get(m, "n_above_thresh")));

	int nd = fw_detector_decode(cfg, anchors, reg, logits, cfg->score_thresh, out, MAX_DET, scratch);
	const json_t *dn = json_object_get(m, "detections_normalized");
	const json_t *dp = json_object_get(m, "detections_px");

	assert_int_equal(nd, (int)json_array_size(dn));
	assert_int_equal(nd, (int)json_array_size(dp));
	for (int i = 0; i < nd; i++) {
		const json_t *jd = json_array_get(dn, (size_t)i);
		const json_t *box = json_object_get(jd, "box");
		const json_t *kps = json_object_get(jd, "kps");
		const float got[4] = {out[i].x1, out[i].y1, out[i].x2, out[i].y2};

		check_close(out[i].score, jnum(json_object_get(jd, "score")), TOL_SCORE, &worst_score,
			    "score", gc, i);
		for (int k = 0; k < 4; k++)
			check_close(got[k], jnum(json_array_get(box, (size_t)k)), TOL_NORM, &worst_norm,
				    "box", gc, i);
		for (int k = 0; k < FW_DET_KEYPOINTS; k++)
			for (int c = 0; c < 2; c++)
				check_close(out[i].kp[k][c],
					    jnum(json_array_get(json_array_get(kps, (size_t)k), (size_t)c)),
					    TOL_NORM, &worst_norm, kp_names[k], gc, i);
	}

	struct fw_letterbox lb;

	read_letterbox(gc, &lb);
	fw_detection_unletterbox(out, nd, &lb);
	for (int i = 0; i < nd; i++) {
		const json_t *jd = json_array_get(dp, (size_t)i);
		const json_t *box = json_object_get(jd, "box_px");
		const json_t *kps = json_object_get(jd, "keypoints_px");
		const float got[4] = {out[i].x1, out[i].y1, out[i].x2, out[i].y2};

		check_close(out[i].score, jnum(json_object_get(jd, "score")), TOL_SCORE, &worst_score,
			    "score_px", gc, i);
		for (int k = 0; k < 4; k++)
			check_close(got[k], jnum(json_array_get(box, (size_t)k)), TOL_PX, &worst_px,
				    "box_px", gc, i);
		for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
			const json_t *p = json_object_get(kps, kp_names[k]);

			assert_non_null(p);
			for (int c = 0; c < 2; c++)
				check_close(out[i].kp[k][c], jnum(json_array_get(p, (size_t)c)), TOL_PX,
					    &worst_px, kp_names[k], gc, i);
		}
	}

	/* max_out caps the output and keeps the best first */
	if (nd > 1) {
		struct fw_detection one;

		assert_int_equal(fw_detector_decode(cfg, anchors, reg, logits, cfg->score_thresh, &one,
						    1, scratch), 1);
		fw_detection_unletterbox(&one, 1, &lb);
		assert_memory_equal(&one, &out[0], sizeof one);
	}
	assert_int_equal(fw_detector_decode(cfg, anchors, reg, logits, cfg->score_thresh, out, 0,
					    scratch), 0);

	free(scratch);
	free(anchors);
	free(logits);
	free(reg);
	json_decref(root);
}

static void test_anchors(void **state)
{
	(void)state;
	assert_int_equal(fw_anchor_count(&fw_anchors_short), 896);
	assert_int_equal(fw_anchor_count(&fw_anchors_full), 2304);

	float *a = malloc(2304 * 2 * sizeof(float));

	assert_non_null(a);
	fw_anchor_generate(&fw_anchors_short, a);
	/* 16x16 x 2: anchor (y=1, x=3, a=1) is index 2*(16*1+3)+1 */
	assert_true(a[0] == 0.5f / 16 && a[1] == 0.5f / 16);
	assert_true(a[2] == a[0] && a[3] == a[1]);
	assert_true(a[2 * 39] == 3.5f / 16 && a[2 * 39 + 1] == 1.5f / 16);
	/* then 8x8 x 6 from index 512: (y=2, x=5, a=4) */
	assert_true(a[2 * 512] == 0.5f / 8 && a[2 * 512 + 1] == 0.5f / 8);
	int i = 512 + 6 * (8 * 2 + 5) + 4;
	assert_true(a[2 * i] == 5.5f / 8 && a[2 * i + 1] == 2.5f / 8);
	assert_true(a[2 * 895] == 7.5f / 8 && a[2 * 895 + 1] == 7.5f / 8);

	fw_anchor_generate(&fw_anchors_full, a);
	assert_true(a[2 * (48 * 2 + 5)] == 5.5f / 48 && a[2 * (48 * 2 + 5) + 1] == 2.5f / 48);
	assert_true(a[2 * 2303] == 47.5f / 48 && a[2 * 2303 + 1] == 47.5f / 48);
	free(a);
}

/* --- hand-made NMS cases: a 4x4 grid of single anchors on a 128 input --- */

static const struct fw_anchor_config grid4 = {
	.input_size = 128, .n_strides = 1, .strides = {32}, .anchors_per_cell_extra = 0,
	.score_thresh = 0.2f, .nms_iou = 0.3f,
};

struct hand_box {
	int anchor;
	float x1, y1, x2, y2, score;
};

/* Writes raw outputs so that anchor h->anchor decodes to the given box,
 * keypoint k at (x1 + 0.01 k, y2 - 0.02 k), and the given score. */
static void put_box(const float *anchors, float *reg, float *logits, const struct hand_box *h)
{
	const float s = (float)grid4.input_size;
	const float ax = anchors[2 * h->anchor], ay = anchors[2 * h->anchor + 1];
	float *r = reg + 16 * h->anchor;

	r[0] = ((h->x1 + h->x2) / 2 - ax) * s;
	r[1] = ((h->y1 + h->y2) / 2 - ay) * s;
	r[2] = (h->x2 - h->x1) * s;
	r[3] = (h->y2 - h->y1) * s;
	for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
		r[4 + 2 * k] = (h->x1 + 0.01f * (float)k - ax) * s;
		r[5 + 2 * k] = (h->y2 - 0.02f * (float)k - ay) * s;
	}
	logits[h->anchor] = logf(h->score / (1 - h->score));
}

static int run_hand(const struct hand_box *b, int nb, struct fw_detection *out, int max_out)
{
	float anchors[16 * 2], reg[16 * 16] = {0}, logits[16];
	static unsigned char scratch[4096];

	assert_int_equal(fw_anchor_count(&grid4), 16);
	assert_true(fw_detector_decode_scratch(&grid4) <= sizeof scratch);
	fw_anchor_generate(&grid4, anchors);
	for (int i = 0; i < 16; i++)
		logits[i] = -10.0f; /* score 4.5e-5, below the threshold */
	for (int i = 0; i < nb; i++)
		put_box(anchors, reg, logits, &b[i]);
	/* scratch deliberately misaligned: the decoder aligns it itself */
	return fw_detector_decode(&grid4, anchors, reg, logits, grid4.score_thresh, out, max_out,
				  scratch + 1);
}

#define TOL_HAND 2e-6

static void test_nms_weighted(void **state)
{
	(void)state;
	/* A, B, C overlap (IoU with A: 0.430, 0.739); D is elsewhere and
	 * sits on a lower anchor than A, so order must come from the score. */
	const struct hand_box b[] = {
		{5, 0.20f, 0.20f, 0.40f, 0.40f, 0.9f},  /* A */
		{9, 0.21f, 0.21f, 0.43f, 0.41f, 0.8f},  /* B */
		{6, 0.19f, 0.19f, 0.37f, 0.39f, 0.3f},  /* C */
		{0, 0.70f, 0.70f, 0.90f, 0.90f, 0.7f},  /* D */
		{15, 0.60f, 0.10f, 0.70f, 0.20f, 0.1f}, /* below the 0.2 threshold */
	};
	struct fw_detection out[8];
	int n = run_hand(b, 5, out, 8);

	assert_int_equal(n, 2);
	/* weights 0.9, 0.8, 0.3 (sum 2.0):
	 * x1 = (0.9*0.20 + 0.8*0.21 + 0.3*0.19) / 2 = 0.405 / 2 = 0.2025
	 * y1 = same corners                             = 0.2025
	 * x2 = (0.9*0.40 + 0.8*0.43 + 0.3*0.37) / 2 = 0.815 / 2 = 0.4075
	 * y2 = (0.9*0.40 + 0.8*0.41 + 0.3*0.39) / 2 = 0.805 / 2 = 0.4025
	 * keypoint k = (x1 + 0.01 k, y2 - 0.02 k) averaged the same way */
	assert_float_equal(out[0].score, 0.9f, TOL_HAND);
	assert_float_equal(out[0].x1, 0.2025, TOL_HAND);
	assert_float_equal(out[0].y1, 0.2025, TOL_HAND);
	assert_float_equal(out[0].x2, 0.4075, TOL_HAND);
	assert_float_equal(out[0].y2, 0.4025, TOL_HAND);
	for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
		assert_float_equal(out[0].kp[k][0], 0.2025 + 0.01 * k, TOL_HAND);
		assert_float_equal(out[0].kp[k][1], 0.4025 - 0.02 * k, TOL_HAND);
	}
	/* D alone: unchanged */
	assert_float_equal(out[1].score, 0.7f, TOL_HAND);
	assert_float_equal(out[1].x1, 0.70, TOL_HAND);
	assert_float_equal(out[1].y1, 0.70, TOL_HAND);
	assert_float_equal(out[1].x2, 0.90, TOL_HAND);
	assert_float_equal(out[1].y2, 0.90, TOL_HAND);
	assert_float_equal(out[1].kp[5][0], 0.75, TOL_HAND);
	assert_float_equal(out[1].kp[5][1], 0.80, TOL_HAND);

	/* max_out 1 keeps only the best cluster */
	assert_int_equal(run_hand(b, 5, out, 1), 1);
	assert_float_equal(out[0].x2, 0.4075, TOL_HAND);
}

static void test_nms_cluster_is_around_best(void **state)
{
	(void)state;
	/* E overlaps B (IoU 0.38) but not A (IoU 0.18): MediaPipe's cluster is
	 * the boxes overlapping the best one, not a transitive closure, so E
	 * survives and leads its own cluster. */
	const struct hand_box b[] = {
		{0, 0.10f, 0.10f, 0.30f, 0.30f, 0.9f}, /* A */
		{1, 0.15f, 0.10f, 0.35f, 0.30f, 0.8f}, /* B: IoU(A) 0.6 */
		{2, 0.24f, 0.10f, 0.44f, 0.30f, 0.7f}, /* E: IoU(A) 0.176, IoU(B) 0.379 */
	};
	struct fw_detection out[4];
	struct fw_detection a = {.x1 = 0.10f, .y1 = 0.10f, .x2 = 0.30f, .y2 = 0.30f};
	struct fw_detection bb = {.x1 = 0.15f, .y1 = 0.10f, .x2 = 0.35f, .y2 = 0.30f};
	struct fw_detection e = {.x1 = 0.24f, .y1 = 0.10f, .x2 = 0.44f, .y2 = 0.30f};

	assert_float_equal(fw_detection_iou(&a, &bb), 0.15 / 0.25, 1e-6);
	assert_float_equal(fw_detection_iou(&a, &e), 0.06 / 0.34, 1e-6);
	assert_float_equal(fw_detection_iou(&bb, &e), 0.11 / 0.29, 1e-6);

	int n = run_hand(b, 3, out, 4);

	assert_int_equal(n, 2);
	/* (0.9*0.10 + 0.8*0.15) / 1.7 and (0.9*0.30 + 0.8*0.35) / 1.7 */
	assert_float_equal(out[0].x1, 0.21 / 1.7, TOL_HAND);
	assert_float_equal(out[0].x2, 0.55 / 1.7, TOL_HAND);
	assert_float_equal(out[0].score, 0.9f, TOL_HAND);
	assert_float_equal(out[1].x1, 0.24, TOL_HAND);
	assert_float_equal(out[1].x2, 0.44, TOL_HAND);
	assert_float_equal(out[1].score, 0.7f, TOL_HAND);
}

static void test_negative_size_dropped(void **state)
{
	(void)state;
	/* a best-scoring box with negative width is model noise: dropped before NMS */
	const struct hand_box b[] = {
		{3, 0.40f, 0.40f, 0.30f, 0.50f, 0.99f},
		{4, 0.40f, 0.40f, 0.50f, 0.50f, 0.60f},
	};
	struct fw_detection out[4];

	assert_int_equal(run_hand(b, 2, out, 4), 1);
	assert_float_equal(out[0].score, 0.6f, TOL_HAND);
	assert_int_equal(run_hand(b, 0, out, 4), 0); /* nothing above threshold */
}

static void test_iou(void **state)
{
	(void)state;
	struct fw_detection a = {.x1 = 0, .y1 = 0, .x2 = 2, .y2 = 2};
	struct fw_detection b = {.x1 = 1, .y1 = 1, .x2 = 3, .y2 = 3};
	struct fw_detection inner = {.x1 = 1, .y1 = 1, .x2 = 2, .y2 = 2};
	struct fw_detection big = {.x1 = 0, .y1 = 0, .x2 = 4, .y2 = 4};
	struct fw_detection touch = {.x1 = 2, .y1 = 0, .x2 = 4, .y2 = 2};
	struct fw_detection far = {.x1 = 10, .y1 = 10, .x2 = 11, .y2 = 11};
	struct fw_detection empty = {.x1 = 1, .y1 = 1, .x2 = 0, .y2 = 3};

	assert_float_equal(fw_detection_iou(&a, &b), 1.0 / 7.0, 1e-7);
	assert_float_equal(fw_detection_iou(&b, &a), 1.0 / 7.0, 1e-7);
	assert_float_equal(fw_detection_iou(&a, &a), 1.0, 1e-7);
	assert_float_equal(fw_detection_iou(&big, &inner), 1.0 / 16.0, 1e-7);
	assert_float_equal(fw_detection_iou(&a, &touch), 0.0, 0);
	assert_float_equal(fw_detection_iou(&a, &far), 0.0, 0);
	assert_float_equal(fw_detection_iou(&a, &empty), 0.0, 0);
	assert_float_equal(fw_detection_iou(&inner, &inner), 1.0, 1e-7);
}

static void test_unletterbox(void **state)
{
	(void)state;
	/* 640x480 into 128: scale 0.2, 96 rows, pad_y 16 */
	struct fw_letterbox lb = {.scale = 0.2f, .pad_x = 0, .pad_y = 16, .in_w = 128, .in_h = 128};
	struct fw_detection d = {.x1 = 0.25f, .y1 = 0.125f, .x2 = 0.75f, .y2 = 0.875f, .score = 0.5f};

	d.kp[2][0] = 0.5f;
	d.kp[2][1] = 0.5f;
	fw_detection_unletterbox(&d, 1, &lb);
	assert_float_equal(d.x1, 160.0, 1e-3);
	assert_float_equal(d.y1, 0.0, 1e-3);
	assert_float_equal(d.x2, 480.0, 1e-3);
	assert_float_equal(d.y2, 480.0, 1e-3);
	assert_float_equal(d.kp[2][0], 320.0, 1e-3);
	assert_float_equal(d.kp[2][1], 240.0, 1e-3);
	assert_float_equal(d.score, 0.5, 0);
}

static int print_worst(void **state)
{
	(void)state;
	print_message("largest |diff| vs golden: normalised %.3g, score %.3g, pixels %.3g\n",
		      worst_norm, worst_score, worst_px);
	return 0;
}

#define GOLDEN(img, model, cfg) {img "." model, test_golden, NULL, NULL, &(struct golden_case){img, model, cfg}}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchors),
		cmocka_unit_test(test_iou),
		cmocka_unit_test(test_unletterbox),
		cmocka_unit_test(test_nms_weighted),
		cmocka_unit_test(test_nms_cluster_is_around_best),
		cmocka_unit_test(test_negative_size_dropped),
		GOLDEN("obama", "blaze_short", &fw_anchors_short),
		GOLDEN("obama", "blaze_full", &fw_anchors_full),
		GOLDEN("two_people", "blaze_short", &fw_anchors_short),
		GOLDEN("two_people", "blaze_full", &fw_anchors_full),
		GOLDEN("obama_and_biden", "blaze_short", &fw_anchors_short),
		GOLDEN("obama_and_biden", "blaze_full", &fw_anchors_full),
		GOLDEN("obama-480p", "blaze_short", &fw_anchors_short),
		GOLDEN("obama-480p", "blaze_full", &fw_anchors_full),
		GOLDEN("kit_harington_john1", "blaze_short", &fw_anchors_short),
		GOLDEN("kit_harington_john1", "blaze_full", &fw_anchors_full),
	};

	return cmocka_run_group_tests(tests, NULL, print_worst);
}
