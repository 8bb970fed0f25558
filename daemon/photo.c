/* The photo pipeline. See photo.h. */
#include "daemon/photo.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/imageio.h"
#include "core/align.h"
#include "core/fw.h"

#define MAX_FACES 64

struct fw_photo {
	struct fw_detector *det[2]; /* full-range, then short-range */
	struct fw_landmarks *lmk;
	struct fw_embedder *emb;
	enum fw_photo_align align;
};

const char *fw_photo_models_dir(const char *override)
{
	static char buf[PATH_MAX + 64];
	const char *env = getenv("FACEWATCH_MODELS");
	char exe[PATH_MAX];
	ssize_t n;

	if (override)
		return override;
	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		char *slash;
		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(buf, sizeof buf, "%s/../share/facewatch/models/blazeface_short.fwm", exe);
			if (access(buf, R_OK) == 0) {
				snprintf(buf, sizeof buf, "%s/../share/facewatch/models", exe);
				return buf;
			}
		}
	}
	return FW_SOURCE_MODELS_DIR;
}

void fw_photo_close(struct fw_photo *p)
{
	if (!p)
		return;
	fw_detector_close(p->det[0]);
	fw_detector_close(p->det[1]);
	fw_landmarks_close(p->lmk);
	fw_embedder_close(p->emb);
	free(p);
}

int fw_photo_open(struct fw_photo **out, const char *models_dir, enum fw_kernel_tier tier)
{
	struct fw_model_options opt = { .tier = tier };

	return fw_photo_open_with(out, models_dir, &opt);
}

int fw_photo_open_with(struct fw_photo **out, const char *models_dir,
		       const struct fw_model_options *opt)
{
	char path[PATH_MAX + 32];
	struct fw_photo *p;
	int err;

	*out = NULL;
	p = calloc(1, sizeof *p);
	if (!p)
		return FW_ENOMEM;
#define MODEL(file) (snprintf(path, sizeof path, "%s/%s", models_dir, file), path)
	if ((err = fw_detector_open_with(&p->det[0], MODEL("blazeface_full.fwm"), FW_DETECTOR_FULL,
					 opt)) ||
	    (err = fw_detector_open_with(&p->det[1], MODEL("blazeface_short.fwm"), FW_DETECTOR_SHORT,
					 opt)) ||
	    (err = fw_landmarks_open_with(&p->lmk, MODEL("onet.fwm"), opt)) ||
	    (err = fw_embedder_open_with(&p->emb, MODEL("mobilefacenet.fwm"), opt))) {
		fw_photo_close(p);
		return err;
	}
#undef MODEL
	*out = p;
	return 0;
}

void fw_photo_set_align(struct fw_photo *p, enum fw_photo_align align)
{
	p->align = align;
}

static int better_face(const struct fw_detection *a, const struct fw_detection *b)
{
	int ca = a->score >= 0.8f, cb = b->score >= 0.8f;
	float sa = (a->x2 - a->x1) * (a->y2 - a->y1), sb = (b->x2 - b->x1) * (b->y2 - b->y1);

	if (ca != cb)
		return ca;
	return sa > sb;
}

static int embed_image(struct fw_photo *p, const struct fw_image *img, const char *what,
		       struct fw_photo_face *r, struct fw_image *aligned)
{
	struct fw_detection faces[MAX_FACES];
	int found = 0, err;

	memset(r, 0, sizeof *r);
	for (int k = 0; k < 2; k++) {
		int n = fw_detector_run(p->det[k], img, faces, MAX_FACES);
		if (n < 0) {
			fw_log(FW_LOG_ERROR, "%s: detection failed: %s", what, fw_strerror(n));
			return n;
		}
		if (k == 1 && found)
			break; /* the short-range model only when the full one saw nothing */
		if (n > r->n_faces)
			r->n_faces = n;
		for (int i = 0; i < n; i++)
			if (!found || better_face(&faces[i], &r->det)) {
				if (found)
					r->second = r->det;
				r->det = faces[i];
				found = 1;
			} else if (i == 1 || better_face(&faces[i], &r->second)) {
				r->second = faces[i]; /* at i == 1, faces[0] holds r->det */
			}
	}
	if (!found) {
		fw_log(FW_LOG_ERROR, "%s: no face found; use a photo where the face is clear and "
		       "at least about 40 pixels wide", what);
		return FW_ENOFACE;
	}
	if (p->align == FW_PHOTO_ALIGN_KP4) {
		err = fw_embedder_run_points(p->emb, img, (const float(*)[2])r->det.kp,
					     fw_align_template4, 4, r->emb, aligned);
	} else {
		err = fw_landmarks_run(p->lmk, img, &r->det, &r->lm);
		if (!err)
			err = fw_embedder_run(p->emb, img, (const float(*)[2])r->lm.pt, r->emb, aligned);
	}
	if (err)
		fw_log(FW_LOG_ERROR, "%s: embedding failed: %s", what, fw_strerror(err));
	return err;
}

int fw_photo_embed_image(struct fw_photo *p, const struct fw_image *img, const char *what,
			 struct fw_photo_face *r)
{
	return embed_image(p, img, what, r, NULL);
}

int fw_photo_embed_aligned(struct fw_photo *p, const char *path, struct fw_photo_face *r,
			   struct fw_image *aligned)
{
	struct fw_image img = { 0 };
	int err;

	err = fw_imageio_load(path, &img);
	if (err)
		return err;
	err = embed_image(p, &img, path, r, aligned);
	fw_image_free(&img);
	return err;
}

int fw_photo_embed(struct fw_photo *p, const char *path, struct fw_photo_face *r)
{
	return fw_photo_embed_aligned(p, path, r, NULL);
}

int fw_parse_detector(const char *v, enum fw_detector_kind *k)
{
	if (!strcmp(v, "short"))
		*k = FW_DETECTOR_SHORT;
	else if (!strcmp(v, "full"))
		*k = FW_DETECTOR_FULL;
	else if (!strcmp(v, "auto"))
		*k = FW_DETECTOR_AUTO;
	else
		return -1;
	return 0;
}

int fw_parse_kernels(const char *v, enum fw_kernel_tier *t)
{
	if (!strcmp(v, "ref"))
		*t = FW_KERNELS_REF;
	else if (!strcmp(v, "fast"))
		*t = FW_KERNELS_FAST;
	else
		return -1;
	return 0;
}

int fw_parse_precision(const char *v, enum fw_precision *p)
{
	if (!strcmp(v, "int8"))
		*p = FW_PRECISION_INT8;
	else if (!strcmp(v, "float"))
		*p = FW_PRECISION_FLOAT;
	else
		return -1;
	return 0;
}
