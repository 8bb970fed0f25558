/* MobileFaceNet embeddings. See embedder.h. */
#include "embedder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "fw.h"

struct fw_embedder {
	struct fw_model *model;
	const float *out;
};

int fw_embedder_open_with(struct fw_embedder **out, const char *model_path,
			  const struct fw_model_options *base)
{
	struct fw_model_options opt = *base;

	opt.expect_name = "mobilefacenet";
	struct fw_embedder *e;
	struct fw_shape in, os;
	int err;

	*out = NULL;
	e = calloc(1, sizeof *e);
	if (!e) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading", model_path);
		return FW_ENOMEM;
	}
	err = fw_model_load(model_path, &opt, &e->model);
	if (err)
		goto fail;
	fw_model_input(e->model, &in);
	e->out = fw_model_output(e->model, 0, &os);
	if (in.h != FW_EMBED_SIZE || in.w != FW_EMBED_SIZE || in.c != 3 ||
	    (size_t)os.n * os.h * os.w * os.c != FW_EMBED_DIM) {
		fw_log(FW_LOG_ERROR, "%s: not a 112x112 -> %d embedding model", model_path, FW_EMBED_DIM);
		err = FW_EMODEL;
		goto fail;
	}
	*out = e;
	return 0;
fail:
	fw_embedder_close(e);
	return err;
}

void fw_embedder_close(struct fw_embedder *e)
{
	if (!e)
		return;
	fw_model_free(e->model);
	free(e);
}

struct fw_model *fw_embedder_model(struct fw_embedder *e)
{
	return e->model;
}

static void normalise(const float *in, float *out, int n)
{
	double ss = 0;

	for (int i = 0; i < n; i++)
		ss += (double)in[i] * in[i];
	/* eps as expo's matcher: an all-zero output stays zero, not NaN */
	float inv = (float)(1.0 / sqrt(ss + 1e-10));
	for (int i = 0; i < n; i++)
		out[i] = in[i] * inv;
}

int fw_embedder_run_input(struct fw_embedder *e, const float *input, float emb[FW_EMBED_DIM],
			  float raw[FW_EMBED_DIM])
{
	float *x = fw_model_input(e->model, NULL);
	int err;

	if (input != x)
		memcpy(x, input, sizeof(float) * FW_EMBED_SIZE * FW_EMBED_SIZE * 3);
	err = fw_model_run(e->model);
	if (err)
		return err;
	if (raw)
		memcpy(raw, e->out, sizeof(float) * FW_EMBED_DIM);
	normalise(e->out, emb, FW_EMBED_DIM);
	return 0;
}

int fw_embedder_run(struct fw_embedder *e, const struct fw_image *img, const float lm[5][2],
		    float emb[FW_EMBED_DIM], struct fw_image *aligned)
{
	return fw_embedder_run_points(e, img, lm, fw_align_template5, 5, emb, aligned);
}

int fw_embedder_run_points(struct fw_embedder *e, const struct fw_image *img,
			   const float (*pts)[2], const float (*tmpl)[2], int n,
			   float emb[FW_EMBED_DIM], struct fw_image *aligned)
{
	float fwd[6], inv[6];
	float *x = fw_model_input(e->model, NULL);
	int err;

	err = fw_align_similarity(pts, tmpl, n, fwd);
	if (!err)
		err = fw_align_invert(fwd, inv);
	if (err)
		return err;
	/* (x - 127.5) / 128, as MobileFaceNet was trained */
	fw_image_warp_affine_f32(img, inv, FW_EMBED_SIZE, FW_EMBED_SIZE, 1.0f / 128, -127.5f / 128, 0, x);
	if (aligned && aligned->width == FW_EMBED_SIZE && aligned->height == FW_EMBED_SIZE)
		fw_image_warp_affine(img, inv, aligned);
	return fw_embedder_run_input(e, x, emb, NULL);
}

float fw_embedding_cosine(const float *a, const float *b, int n)
{
	double dot = 0, na = 0, nb = 0;

	for (int i = 0; i < n; i++) {
		dot += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	if (na <= 0 || nb <= 0)
		return 0;
	return (float)(dot / sqrt(na * nb));
}

int fw_embedder_open(struct fw_embedder **out, const char *model_path, enum fw_kernel_tier tier)
{
	struct fw_model_options opt = { .tier = tier };
	return fw_embedder_open_with(out, model_path, &opt);
}
