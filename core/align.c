/* Face alignment maths: the ArcFace template and the least-squares similarity
 * transform that maps detected landmarks onto it.
 */
#include "core/align.h"

#include <math.h>

#include "core/fw.h"

/* insightface's arcface_dst, 112x112 pixels, (x, y) */
const float fw_align_template5[5][2] = {
	{38.2946f, 51.6963f}, /* eye on the image left (subject's right) */
	{73.5318f, 51.5014f}, /* eye on the image right */
	{56.0252f, 71.7366f}, /* nose tip */
	{41.5493f, 92.3655f}, /* mouth corner, image left */
	{70.7299f, 92.2041f}, /* mouth corner, image right */
};

/* In BlazeFace keypoint order (right eye, left eye, nose tip, mouth centre in
 * the subject's terms = image left eye first), so keypoints 0..3 pair with
 * these rows directly. The mouth centre is the midpoint of the two template
 * mouth corners, (56.1396, 92.2848). */
const float fw_align_template4[4][2] = {
	{38.2946f, 51.6963f},
	{73.5318f, 51.5014f},
	{56.0252f, 71.7366f},
	{(41.5493f + 70.7299f) * 0.5f, (92.3655f + 92.2041f) * 0.5f},
};

/* In 2-D, Umeyama's rotation-only (det R = +1) solution has a closed form.
 * With src and dst centred (p, q) and p, q read as complex numbers,
 * s*e^{i theta} = sum(conj(p) q) / sum|p|^2, i.e.
 *   s cos = sum(px qx + py qy) / sum|p|^2,  s sin = sum(px qy - py qx) / sum|p|^2.
 * This is the same optimum skimage's SimilarityTransform.estimate (the
 * reference insightface uses) reaches through the SVD and its reflection
 * correction. Computed in double: landmarks are hundreds of pixels, the
 * goldens are compared to 1e-4. */
int fw_align_similarity(const float (*src)[2], const float (*dst)[2], int n, float m[6])
{
	double msx = 0, msy = 0, mdx = 0, mdy = 0;
	double var = 0, raw = 0, a = 0, b = 0, dvar = 0;

	if (n < 2)
		return FW_EINVAL;
	for (int i = 0; i < n; i++) {
		msx += src[i][0];
		msy += src[i][1];
		mdx += dst[i][0];
		mdy += dst[i][1];
	}
	msx /= n;
	msy /= n;
	mdx /= n;
	mdy /= n;
	for (int i = 0; i < n; i++) {
		double px = src[i][0] - msx, py = src[i][1] - msy;
		double qx = dst[i][0] - mdx, qy = dst[i][1] - mdy;

		var += px * px + py * py;
		dvar += qx * qx + qy * qy;
		raw += (double)src[i][0] * src[i][0] + (double)src[i][1] * src[i][1];
		a += px * qx + py * qy;
		b += px * qy - py * qx;
	}
	/* Coincident source points (relative to their distance from the
	 * origin), or NaN/inf, leave rotation and scale undefined. */
	if (!(var > 1e-12 * raw) || !(var > 0.0) || !isfinite(var))
		return FW_EINVAL;
	/* A zero best scale (coincident destination points, or a pure
	 * reflection with no rotational component) is no usable transform. */
	if (!(hypot(a, b) > 1e-9 * sqrt(var * dvar)) || !isfinite(a + b))
		return FW_EINVAL;

	double sc = a / var, ss = b / var;

	m[0] = (float)sc;
	m[1] = (float)-ss;
	m[2] = (float)(mdx - (sc * msx - ss * msy));
	m[3] = (float)ss;
	m[4] = (float)sc;
	m[5] = (float)(mdy - (ss * msx + sc * msy));
	return 0;
}

int fw_align_invert(const float m[6], float inv[6])
{
	double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
	double det = a * e - b * d;

	/* singular relative to the size of the linear part */
	if (!(fabs(det) > 1e-12 * (fabs(a * e) + fabs(b * d))) || !isfinite(det))
		return FW_EINVAL;
	inv[0] = (float)(e / det);
	inv[1] = (float)(-b / det);
	inv[2] = (float)((b * f - e * c) / det);
	inv[3] = (float)(-d / det);
	inv[4] = (float)(a / det);
	inv[5] = (float)((d * c - a * f) / det);
	return 0;
}
