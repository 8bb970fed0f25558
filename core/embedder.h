/* Face embeddings with MobileFaceNet: align a face to the 112x112 ArcFace
 * template, run the network, L2-normalise the 192-d result. Two faces are
 * the same person when the cosine of their embeddings is above a threshold
 * (FW_EMBED_SAME_THRESHOLD unless the gallery is calibrated).
 *
 * Ownership: fw_embedder_open() allocates; fw_embedder_close() frees.
 * Not thread-safe per object; no allocation per call.
 */
#ifndef FW_EMBEDDER_H
#define FW_EMBEDDER_H

#include "core/image.h"
#include "core/model.h"

#define FW_EMBED_DIM 192
#define FW_EMBED_SIZE 112
/* Cosine similarity at or above which two faces are taken for one person.
 * From the development pairs (../shared/data/recognition/pairs.csv, 287
 * genuine and 287 impostor pairs, photo pipeline with O-Net alignment;
 * `facectl eval verify`): genuine 0.861 +- 0.064 (lowest 0.661), impostor
 * 0.029 +- 0.147 (highest 0.450); the 10-fold protocol picks 0.554 (mean of
 * the fold thresholds, the middle of the empty gap 0.450..0.661) and every
 * threshold in the gap scores 100 %. The earlier 0.5 sat 0.05 above the
 * highest impostor; 0.55 splits the gap and, with the impostor spread
 * above, moves the Gaussian false-accept estimate from ~7e-4 to ~2e-4 per
 * comparison at no cost in false rejects seen. A false accept (someone
 * else taken for the owner) is the worse error for a desk daemon. */
#define FW_EMBED_SAME_THRESHOLD 0.55f

struct fw_embedder;

int fw_embedder_open(struct fw_embedder **out, const char *model_path, enum fw_kernel_tier tier);
/* The same with every load option (precision, kernels). */
int fw_embedder_open_with(struct fw_embedder **out, const char *model_path,
			  const struct fw_model_options *opt);
void fw_embedder_close(struct fw_embedder *e);

/* Align with the 5 landmarks (left eye, right eye, nose, mouth left, mouth
 * right; image pixels), run, normalise. aligned (optional, 112x112 RGB) gets
 * the crop the network saw. */
int fw_embedder_run(struct fw_embedder *e, const struct fw_image *img, const float lm[5][2],
		    float emb[FW_EMBED_DIM], struct fw_image *aligned);

/* The same with n points mapped onto an n-point template in 112x112
 * pixels (e.g. BlazeFace's eyes, nose and mouth centre on
 * fw_align_template4); fw_embedder_run() is this with fw_align_template5. */
int fw_embedder_run_points(struct fw_embedder *e, const struct fw_image *img,
			   const float (*pts)[2], const float (*tmpl)[2], int n,
			   float emb[FW_EMBED_DIM], struct fw_image *aligned);

/* Run on a ready 112x112 float input (as the goldens store it); emb is
 * L2-normalised. raw (optional) gets the un-normalised output. */
int fw_embedder_run_input(struct fw_embedder *e, const float *input, float emb[FW_EMBED_DIM],
			  float raw[FW_EMBED_DIM]);

float fw_embedding_cosine(const float *a, const float *b, int n);

struct fw_model *fw_embedder_model(struct fw_embedder *e);

#endif
