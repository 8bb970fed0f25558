/* The detector stage: letterbox -> BlazeFace -> decode -> weighted NMS ->
 * source pixels. The maths of decoding lives in detector_decode.c. */
#include "detector.h"

#include <stdlib.h>

#include "fw.h"

struct fw_detector {
	struct fw_model *model;
	const struct fw_anchor_config *cfg;
	float *anchors;         /* 2 * n anchor centres */
	void *decode_scratch;
	void *lb_tmp;
	float threshold;
	float mul, add;         /* pixel -> model input: x / 127.5 - 1 */
	const float *regressors, *logits;
};

static const char *kind_model_name(enum fw_detector_kind kind)
{
	return kind == FW_DETECTOR_FULL ? "blazeface_full" : "blazeface_short";
}

int fw_detector_open(struct fw_detector **out, const char *model_path,
		     enum fw_detector_kind kind, enum fw_kernel_tier tier)
{
	struct fw_model_options opt = { .expect_name = kind_model_name(kind), .tier = tier };
	struct fw_detector *d;
	struct fw_shape in, reg = { 0 }, cls = { 0 };
	int err, n;

	*out = NULL;
	d = calloc(1, sizeof *d);
	if (!d)
		return FW_ENOMEM;
	d->cfg = kind == FW_DETECTOR_FULL ? &fw_anchors_full : &fw_anchors_short;
	d->threshold = d->cfg->score_thresh;
	d->mul = 1.0f / 127.5f;
	d->add = -1.0f;
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
	if (!d->anchors || !d->decode_scratch || !d->lb_tmp) {
		err = FW_ENOMEM;
		goto fail;
	}
	fw_anchor_generate(d->cfg, d->anchors);
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
	free(d);
}

void fw_detector_set_threshold(struct fw_detector *d, float score)
{
	d->threshold = score;
}

struct fw_model *fw_detector_model(struct fw_detector *d)
{
	return d->model;
}

int fw_detector_run(struct fw_detector *d, const struct fw_image *img,
		    struct fw_detection *out, int max_out)
{
	struct fw_shape in;
	struct fw_letterbox lb;
	float *x = fw_model_input(d->model, &in);
	int err, n;

	if (!img || img->width < 1 || img->height < 1)
		return FW_EINVAL;
	fw_image_letterbox(img, in.w, in.h, d->mul, d->add, x, d->lb_tmp, &lb);
	err = fw_model_run(d->model);
	if (err)
		return err;
	n = fw_detector_decode(d->cfg, d->anchors, d->regressors, d->logits, d->threshold, out,
			       max_out, d->decode_scratch);
	if (n > 0)
		fw_detection_unletterbox(out, n, &lb);
	return n;
}
