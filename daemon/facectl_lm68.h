/* facectl eval landmarks FILE and facectl eval pose IMAGE... (facectl_lm68.c). */
#ifndef FW_FACECTL_LM68_H
#define FW_FACECTL_LM68_H

#include "core/detector.h"
#include "core/model.h"

struct fw_lm68_eval_options {
	const char *models_dir;     /* NULL: the default */
	enum fw_kernel_tier tier;
	enum fw_detector_kind detector;
	int json;
	const char *draw;           /* landmarks: a directory for PNGs; pose: one PNG file */
	float crop_scale;           /* 0: the default */
	int mirror;                 /* pose: flip the image left-right first */
	float rotate;               /* pose: rotate it clockwise by this many degrees first */
};

/* Exit status: 0, 1 on failure (logged). */
int fw_lm68_eval_landmarks(const struct fw_lm68_eval_options *o, const char *file);
int fw_lm68_eval_pose(const struct fw_lm68_eval_options *o, int n_images, char **images);

#endif
