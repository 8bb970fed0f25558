/* The photo pipeline: the main face of a photo, its landmarks and its
 * embedding, as `facectl embed`, `facectl compare` and `facectl eval`
 * compute them (one place, so the evaluation measures what users run).
 *
 * Main face: confident faces (score >= 0.8) first, then the largest.
 * Photos hold faces of any size: the full-range detector first, the
 * short-range one when it finds nothing (a face filling the frame).
 *
 * Ownership: fw_photo_open() allocates the models; fw_photo_close() frees.
 * Not thread-safe per object.
 */
#ifndef FW_PHOTO_H
#define FW_PHOTO_H

#include "core/detector.h"
#include "core/embedder.h"
#include "core/image.h"
#include "core/landmarks.h"
#include "core/model.h"

/* How the face is aligned for the embedder. */
enum fw_photo_align {
	FW_PHOTO_ALIGN_ONET5 = 0, /* MTCNN O-Net's 5 points on the ArcFace template (default) */
	FW_PHOTO_ALIGN_KP4 = 1,   /* BlazeFace's eyes, nose and mouth centre (template4) */
};

struct fw_photo_face {
	struct fw_detection det;          /* the main face (corrected box) */
	struct fw_landmarks_result lm;    /* O-Net's points (ONET5 only; zero otherwise) */
	float emb[FW_EMBED_DIM];          /* L2-normalised */
	int n_faces;                      /* faces the detector reported */
	struct fw_detection second;       /* the runner-up by the main-face rule, when
					   * n_faces >= 2 (`facectl enroll` refuses a
					   * photo where no face is clearly the main one) */
};

struct fw_photo;

/* Where the model files are: `override` if set, else $FACEWATCH_MODELS,
 * else the installed ones next to the binary (../share/facewatch/models),
 * else the source tree the binary was built from. Static storage. */
/* Option words shared by facectl and facewatchd: 0, or -1 when `v` is none
 * of them (the caller names the option in its message). */
int fw_parse_detector(const char *v, enum fw_detector_kind *k); /* short | full | auto */
int fw_parse_kernels(const char *v, enum fw_kernel_tier *t);    /* ref | fast */
int fw_parse_precision(const char *v, enum fw_precision *p);    /* int8 | float */

const char *fw_photo_models_dir(const char *override);

int fw_photo_open(struct fw_photo **out, const char *models_dir, enum fw_kernel_tier tier);
/* The same with every model load option (precision: int8 where a model is
 * calibrated, as the daemon runs; the default opens float). */
int fw_photo_open_with(struct fw_photo **out, const char *models_dir,
		       const struct fw_model_options *opt);
void fw_photo_close(struct fw_photo *p);
void fw_photo_set_align(struct fw_photo *p, enum fw_photo_align align);

/* Load `path` and embed its main face. Errors are logged naming the file:
 * FW_ENOFACE when no face is found, the loader's or a stage's code else. */
int fw_photo_embed(struct fw_photo *p, const char *path, struct fw_photo_face *r);
/* The same, and the 112x112 aligned crop the embedder saw into `aligned`
 * (caller-allocated with fw_image_alloc(112, 112); NULL: not wanted). */
int fw_photo_embed_aligned(struct fw_photo *p, const char *path, struct fw_photo_face *r,
			   struct fw_image *aligned);
/* The same on an image in memory; `what` names it in messages. */
int fw_photo_embed_image(struct fw_photo *p, const struct fw_image *img, const char *what,
			 struct fw_photo_face *r);

#endif
