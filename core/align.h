/* Face alignment: least-squares similarity transform (rotation, uniform
 * scale, translation; Umeyama without reflection) from detected landmarks to
 * the ArcFace 112x112 template, and the inverse map used to warp the crop.
 */
#ifndef FW_ALIGN_H
#define FW_ALIGN_H

/* The 5-point ArcFace template in 112x112 pixels: left eye, right eye (image
 * terms), nose, mouth left, mouth right. */
extern const float fw_align_template5[5][2];
/* 4-point variant for BlazeFace keypoints: eyes, nose, mouth centre. */
extern const float fw_align_template4[4][2];

/* Fit dst ~= s*R*src + t over n >= 2 point pairs. m (2x3, forward map
 * src -> dst): dx = m[0]x + m[1]y + m[2], dy = m[3]x + m[4]y + m[5].
 * Returns 0, or FW_EINVAL for degenerate points. */
int fw_align_similarity(const float (*src)[2], const float (*dst)[2], int n, float m[6]);

/* Invert a 2x3 affine map. Returns 0 or FW_EINVAL if singular. */
int fw_align_invert(const float m[6], float inv[6]);

#endif
