/* O-Net landmarks. See landmarks.h. */
#include "landmarks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"

#define ONET_SIZE 48

struct fw_landmarks {
	struct fw_model *model;
	const float *prob, *box, *lm;
};

int fw_landmarks_open_with(struct fw_landmarks **out, const char *onet_path,
			   const struct fw_model_options *base)
{
	struct fw_model_options opt = *base;

	opt.expect_name = "onet";
	struct fw_landmarks *l;
	struct fw_shape in, sp, sb, sl;
	int err;

	*out = NULL;
	l = calloc(1, sizeof *l);
	if (!l) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading", onet_path);
		return FW_ENOMEM;
	}
	err = fw_model_load(onet_path, &opt, &l->model);
	if (err)
		goto fail;
	fw_model_input(l->model, &in);
	l->prob = fw_model_output_by_name(l->model, "onet/prob1", &sp);
	l->box = fw_model_output_by_name(l->model, "onet/conv6-2/conv6-2", &sb);
	l->lm = fw_model_output_by_name(l->model, "onet/conv6-3/conv6-3", &sl);
	if (!l->prob || !l->box || !l->lm || in.h != ONET_SIZE || in.w != ONET_SIZE || in.c != 3 ||
	    sp.c != 2 || sb.c != 4 || sl.c != 10) {
		fw_log(FW_LOG_ERROR, "%s: model inputs/outputs are not those of MTCNN O-Net", onet_path);
		err = FW_EMODEL;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	fw_landmarks_close(l);
	return err;
}

void fw_landmarks_close(struct fw_landmarks *l)
{
	if (!l)
		return;
	fw_model_free(l->model);
	free(l);
}

struct fw_model *fw_landmarks_model(struct fw_landmarks *l)
{
	return l->model;
}

int fw_landmarks_run_crop(struct fw_landmarks *l, const struct fw_image *img, float x0, float y0,
			  float side, float prob[2], float box[4], float lm[10])
{
	float *x = fw_model_input(l->model, NULL);
	float s = side / ONET_SIZE;
	/* destination pixel centre (i + 0.5) maps to x0 + (i + 0.5) * s in a
	 * box whose pixels span [x0, x0 + side): cv2.resize's half-pixel rule */
	float a[6] = { s, 0, x0 + 0.5f * s - 0.5f, 0, s, y0 + 0.5f * s - 0.5f };
	int err;

	fw_image_warp_affine_f32(img, a, ONET_SIZE, ONET_SIZE, 1.0f / 128, -127.5f / 128, 1, x);
	err = fw_model_run(l->model);
	if (err)
		return err;
	memcpy(prob, l->prob, 2 * sizeof *prob);
	memcpy(box, l->box, 4 * sizeof *box);
	memcpy(lm, l->lm, 10 * sizeof *lm);
	return 0;
}

/* O-Net on the first crop of a detection: the square crop (x0, y0, side)
 * and O-Net's outputs on it. */
static int first_crop(struct fw_landmarks *l, const struct fw_image *img,
		      const struct fw_detection *det, float crop[3], float prob[2], float box[4],
		      float lm[10])
{
	float raw[4], w, h, side;

	/* the model's own square box: the crop rule below was tuned on it */
	fw_detection_raw_box(det, raw);
	w = raw[2] - raw[0];
	h = raw[3] - raw[1];
	if (!(w > 1 && h > 1))
		return FW_EINVAL;
	/* BlazeFace boxes are tight, square and centred on the nose; MTCNN's
	 * boxes run from brow to chin. Enlarge and lift the crop to match what
	 * O-Net was trained on, then let O-Net's own regression refine it. */
	side = 1.2f * fmaxf(w, h);
	crop[0] = 0.5f * (raw[0] + raw[2]) - 0.5f * side;
	crop[1] = 0.5f * (raw[1] + raw[3]) - 0.1f * h - 0.5f * side;
	crop[2] = side;
	return fw_landmarks_run_crop(l, img, crop[0], crop[1], side, prob, box, lm);
}

/* MTCNN calibration: the crop's edges move by fractions of its side. */
static void calibrated_box(const float crop[3], const float box[4], float out[4])
{
	out[0] = crop[0] + box[0] * crop[2];
	out[1] = crop[1] + box[1] * crop[2];
	out[2] = crop[0] + crop[2] + box[2] * crop[2];
	out[3] = crop[1] + crop[2] + box[3] * crop[2];
}

int fw_landmarks_check(struct fw_landmarks *l, const struct fw_image *img,
		       const struct fw_detection *det, float *face_prob, float box[4])
{
	float crop[3], prob[2], reg[4], lm[10];
	int err = first_crop(l, img, det, crop, prob, reg, lm);

	if (err)
		return err;
	*face_prob = prob[1];
	calibrated_box(crop, reg, box);
	return 0;
}

int fw_landmarks_run(struct fw_landmarks *l, const struct fw_image *img,
		     const struct fw_detection *det, struct fw_landmarks_result *res)
{
	float crop[3], x0, y0, side, prob[2], box[4], lm[10];
	int err = first_crop(l, img, det, crop, prob, box, lm);

	if (err)
		return err;
	x0 = crop[0];
	y0 = crop[1];
	side = crop[2];
	{
		/* then the calibrated box is squared around its centre again */
		float b[4], ns;

		calibrated_box(crop, box, b);
		ns = fmaxf(b[2] - b[0], b[3] - b[1]);
		if (ns > 0.5f * side && ns < 2.0f * side) {
			x0 = 0.5f * (b[0] + b[2]) - 0.5f * ns;
			y0 = 0.5f * (b[1] + b[3]) - 0.5f * ns;
			side = ns;
			err = fw_landmarks_run_crop(l, img, x0, y0, side, prob, box, lm);
			if (err)
				return err;
		}
	}
	for (int k = 0; k < 5; k++) {
		res->pt[k][0] = x0 + lm[k] * side;
		res->pt[k][1] = y0 + lm[5 + k] * side;
	}
	res->face_prob = prob[1];
	return 0;
}

int fw_landmarks_open(struct fw_landmarks **out, const char *onet_path, enum fw_kernel_tier tier)
{
	struct fw_model_options opt = { .tier = tier };
	return fw_landmarks_open_with(out, onet_path, &opt);
}
