/* 68 facial landmarks (iBUG 300-W order) with face-api's landmark net, and
 * head pose from them.
 *
 * The model (models/landmarks68.fwm, converted from face-api's TFJS weights)
 * takes a 112x112 RGB crop, (px - mean_rgb) / 255, and returns 68 (x, y)
 * pairs as fractions of the crop. face-api feeds it its detector's box padded
 * to a square; here the crop is the square of side `crop_scale` times the
 * longer side of the box, centred on the box, sampled from the image (black
 * outside it, as face-api's padding).
 *
 * Head pose: a small Levenberg-Marquardt solver fits a generic 3D face
 * (8 points: eye corners, nose tip, mouth corners, chin) to the landmarks
 * through a pinhole camera (focal length = image width, centre = image
 * centre). Angles in degrees, in image terms:
 *   yaw   > 0: the nose points towards the image's right
 *   pitch > 0: the nose points up
 *   roll  > 0: the head's left-right axis (ear to ear) is turned clockwise
 *              in the image plane (y down)
 * yaw and pitch are the direction of the nose (the head's forward axis);
 * roll is measured in the image plane, so rotating the image by a degrees
 * adds a to the roll whatever the yaw. A face looking straight into the
 * camera is near 0, 0, 0; a mirrored image gives -yaw, pitch, -roll.
 *
 * Ownership: fw_landmarks68_open() allocates; fw_landmarks68_close() frees.
 * Not thread-safe per object; no allocation per call.
 */
#ifndef FW_LANDMARKS68_H
#define FW_LANDMARKS68_H

#include "core/image.h"
#include "core/model.h"

#define FW_LM68_POINTS 68
#define FW_LM68_INPUT 112
/* Default crop side / longer side of fw_detector_run()'s (corrected) box;
 * measured on dlib's predictions (see landmarks68.c). */
#define FW_LM68_CROP_SCALE 1.0f

/* iBUG indices used by callers */
enum {
	FW_LM68_JAW_CHIN = 8,
	FW_LM68_NOSE_TIP = 30,
	FW_LM68_EYE_L_OUTER = 36, /* image-left eye (the person's right) */
	FW_LM68_EYE_L_INNER = 39,
	FW_LM68_EYE_R_INNER = 42,
	FW_LM68_EYE_R_OUTER = 45,
	FW_LM68_MOUTH_L = 48,
	FW_LM68_MOUTH_R = 54,
};

struct fw_pose {
	float yaw, pitch, roll; /* degrees, see the top */
	float rms_px;           /* reprojection error of the fit, pixels */
};

struct fw_landmarks68;

int fw_landmarks68_open(struct fw_landmarks68 **out, const char *model_path,
			const struct fw_model_options *opt);
void fw_landmarks68_close(struct fw_landmarks68 *l);

/* Crop scale (> 0.5, < 4); the default is FW_LM68_CROP_SCALE. */
void fw_landmarks68_set_crop_scale(struct fw_landmarks68 *l, float scale);

/* 68 points (x, y in img pixels) for the face in box (x1, y1, x2, y2). */
int fw_landmarks68_run(struct fw_landmarks68 *l, const struct fw_image *img, const float box[4],
		       float pts[FW_LM68_POINTS][2]);

/* Inter-ocular distance: between the outer eye corners (36, 45), as the
 * 300-W benchmark normalises. */
float fw_landmarks68_iod(const float pts[FW_LM68_POINTS][2]);

/* Head pose from 68 points in an image of img_w x img_h. 0, or FW_EINVAL
 * when the points are degenerate (the fit does not converge). */
int fw_pose_from_landmarks68(const float pts[FW_LM68_POINTS][2], int img_w, int img_h,
			     struct fw_pose *pose);

struct fw_model *fw_landmarks68_model(struct fw_landmarks68 *l);

#endif
