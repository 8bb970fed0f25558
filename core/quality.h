/* Is this camera view of a face good enough to enrol? Pure image and
 * geometry maths for `facectl enroll NAME --camera` (daemon/enroll.c) and
 * the camera checks of `facectl doctor`: the face's size, sharpness,
 * pose and light, and whether a new view adds anything to those taken.
 *
 * One view, in the order a user should fix things:
 *   faces != 1           no face / several faces: nothing else is looked at
 *   too dark, too bright mean luma of the face box outside [min_luma, max_luma]
 *   too small            face box narrower than min_face_px (frame pixels):
 *                        the embedder's 112-pixel crop would be upscaled
 *   blurry               sharpness below min_sharpness
 *   not frontal          fw_quality_frontal() below min_frontal
 *   too similar          (checked by the caller once embedded:
 *                        fw_quality_similar()) cosine to a view already
 *                        taken above max_similar: it adds nothing
 *
 * Sharpness: the variance of the 4-neighbour Laplacian of the face box's
 * luma, resampled (area average) to FW_QUALITY_GRID x FW_QUALITY_GRID
 * first, so a face has the same score at any size and the number does not
 * grow with sensor noise on big faces. In-focus webcam faces score a few
 * hundred; motion blur or a defocused lens brings it under ~30.
 *
 * Frontal: from the 5 O-Net landmarks (left eye, right eye, nose, left and
 * right mouth corner, image pixels). Yaw: where the nose falls along the
 * line between the eyes, a (0 at one eye, 1 at the other), as
 * min(a, 1 - a) / max(a, 1 - a): 1 when midway, ~0.5 for a head turned by
 * ~30 degrees (the nose tip stands out ~0.6 half-eye-distances), 0 when
 * the nose is outside the eyes. Pitch: the nose's distance from the eye
 * line over the mouth centre's, ~0.5 facing the camera; outside
 * [0.3, 0.8] (head well up or down) the score is scaled down linearly to
 * 0 at 0.1 and 1.0. Invariant to roll, scale and mirroring.
 *
 * Nothing here allocates; everything is reentrant.
 */
#ifndef FW_QUALITY_H
#define FW_QUALITY_H

#include "core/image.h"

#define FW_QUALITY_GRID 64

enum fw_quality_reason {
	FW_QUALITY_OK = 0,
	FW_QUALITY_NO_FACE,
	FW_QUALITY_SEVERAL_FACES,
	FW_QUALITY_TOO_DARK,
	FW_QUALITY_TOO_BRIGHT,
	FW_QUALITY_TOO_SMALL,
	FW_QUALITY_BLURRY,
	FW_QUALITY_NOT_FRONTAL,
	FW_QUALITY_TOO_SIMILAR,
	FW_QUALITY_N_REASONS
};

struct fw_quality_config {
	float min_face_px;   /* 64: face box width, frame pixels (the embedder's crop is
				112: a smaller face is upscaled more than twice) */
	float min_sharpness; /* 50: Laplacian variance on the 64x64 grid */
	float min_frontal;   /* 0.5: head turned at most ~30 degrees */
	float min_luma;      /* 50 (of 255): mean luma of the face box */
	float max_luma;      /* 220 */
	float max_similar;   /* 0.93: a new view this close to a taken one adds nothing */
};

void fw_quality_config_default(struct fw_quality_config *c);

/* What was measured of one face. */
struct fw_quality_view {
	float face_px;      /* box width */
	float luma;         /* mean luma 0..255 of the box */
	float sharpness;
	float frontal;      /* 0..1 */
};

/* Short machine name ("no_face", "too_dark", ...) and a sentence for a
 * person that says what to do. Static strings; "?" for a bad value. */
const char *fw_quality_reason_name(enum fw_quality_reason r);
const char *fw_quality_reason_advice(enum fw_quality_reason r);

/* Mean luma (BT.601: 0.299 R + 0.587 G + 0.114 B) of the box x1 y1 x2 y2
 * (clipped to the image; box NULL: the whole image), sampling at most about
 * 64 x 64 points. 0 for an empty box. */
float fw_quality_luma(const struct fw_image *img, const float *box);

/* The sharpness of the box (see the top); 0 for a box under 4 pixels. */
float fw_quality_sharpness(const struct fw_image *img, const float box[4]);

/* The frontal score of 5 landmarks (see the top); 0 for degenerate points. */
float fw_quality_frontal(const float pt[5][2]);

/* Measure a face: box x1 y1 x2 y2 and its 5 landmarks, in img's pixels. */
void fw_quality_measure(const struct fw_image *img, const float box[4], const float pt[5][2],
			struct fw_quality_view *v);

/* The first reason the view is not good enough (order at the top), or
 * FW_QUALITY_OK. n_faces: faces the detector found in the frame (v is
 * read only when it is 1). */
enum fw_quality_reason fw_quality_judge(const struct fw_quality_config *c, int n_faces,
					const struct fw_quality_view *v);

/* The highest cosine of emb (dim floats, L2-normalised) to the n taken
 * views (rows of dim floats); -1 when n == 0. */
float fw_quality_similar(const float *emb, const float *taken, int n, int dim);

/* The quality stored with a template (0..1), the same for photos and the
 * camera: the detector's score times min(1, face width / 112 px), so a
 * confident face at least as wide as the embedder's input scores ~1. */
float fw_quality_template(float det_score, float face_px);

#endif
