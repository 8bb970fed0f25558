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

int fw_landmarks_run(struct fw_landmarks *l, const struct fw_image *img,
		     const struct fw_detection *det, struct fw_landmarks_result *res)
{
	float raw[4], w, h;
	float side, cx, cy, x0, y0, prob[2], box[4], lm[10];
	int err;

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
	cx = 0.5f * (raw[0] + raw[2]);
	cy = 0.5f * (raw[1] + raw[3]) - 0.1f * h;
	x0 = cx - 0.5f * side;
	y0 = cy - 0.5f * side;
	err = fw_landmarks_run_crop(l, img, x0, y0, side, prob, box, lm);
	if (err)
		return err;
	{
		/* MTCNN calibration: the box edges move by fractions of its size;
		 * then the box is squared around its centre again */
		float bx1 = x0 + box[0] * side, by1 = y0 + box[1] * side;
		float bx2 = x0 + side + box[2] * side, by2 = y0 + side + box[3] * side;
		float ns = fmaxf(bx2 - bx1, by2 - by1);
		if (ns > 0.5f * side && ns < 2.0f * side) {
			x0 = 0.5f * (bx1 + bx2) - 0.5f * ns;
			y0 = 0.5f * (by1 + by2) - 0.5f * ns;
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
