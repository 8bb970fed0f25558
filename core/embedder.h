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
/* Cosine similarity above which two faces are taken for one person. The
 * reference study put genuine pairs at 0.71-0.80 and impostors at -0.06-0.15
 * on the golden faces (models/golden); 0.5 sits in the gap with margin on
 * both sides. Refined on real pairs in the accuracy work. */
#define FW_EMBED_SAME_THRESHOLD 0.5f

struct fw_embedder;

int fw_embedder_open(struct fw_embedder **out, const char *model_path, enum fw_kernel_tier tier);
void fw_embedder_close(struct fw_embedder *e);

/* Align with the 5 landmarks (left eye, right eye, nose, mouth left, mouth
 * right; image pixels), run, normalise. aligned (optional, 112x112 RGB) gets
 * the crop the network saw. */
int fw_embedder_run(struct fw_embedder *e, const struct fw_image *img, const float lm[5][2],
		    float emb[FW_EMBED_DIM], struct fw_image *aligned);

/* Run on a ready 112x112 float input (as the goldens store it); emb is
 * L2-normalised. raw (optional) gets the un-normalised output. */
int fw_embedder_run_input(struct fw_embedder *e, const float *input, float emb[FW_EMBED_DIM],
			  float raw[FW_EMBED_DIM]);

float fw_embedding_cosine(const float *a, const float *b, int n);

struct fw_model *fw_embedder_model(struct fw_embedder *e);

#endif
