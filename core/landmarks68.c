/* 68-point landmarks and head pose; see landmarks68.h. */
#include "core/landmarks68.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"

/* face-api's FaceFeatureExtractor: (px - mean_rgb) / 255 */
static const float mean_rgb[3] = { 122.782f, 117.001f, 104.298f };

struct fw_landmarks68 {
	struct fw_model *model;
	float crop_scale;
};

int fw_landmarks68_open(struct fw_landmarks68 **out, const char *model_path,
			const struct fw_model_options *opt)
{
	struct fw_model_options o = opt ? *opt : (struct fw_model_options){ 0 };
	struct fw_landmarks68 *l;
	struct fw_shape s, y;
	int err;

	*out = NULL;
	l = calloc(1, sizeof *l);
	if (!l)
		return FW_ENOMEM;
	l->crop_scale = FW_LM68_CROP_SCALE;
	o.expect_name = "landmarks68";
	err = fw_model_load(model_path, &o, &l->model);
	if (err)
		goto fail;
	fw_model_input(l->model, &s);
	if (s.h != FW_LM68_INPUT || s.w != FW_LM68_INPUT || s.c != 3 ||
	    fw_model_n_outputs(l->model) != 1 || !fw_model_output(l->model, 0, &y) ||
	    y.n * y.h * y.w * y.c != 2 * FW_LM68_POINTS) {
		fw_log(FW_LOG_ERROR, "%s: not the 68-point landmark model (input %dx%dx%d); "
		       "regenerate it with models/fetch-and-convert.sh", model_path, s.h, s.w, s.c);
		err = FW_EFORMAT;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	fw_landmarks68_close(l);
	return err;
}

void fw_landmarks68_close(struct fw_landmarks68 *l)
{
	if (!l)
		return;
	fw_model_free(l->model);
	free(l);
}

void fw_landmarks68_set_crop_scale(struct fw_landmarks68 *l, float scale)
{
	if (scale > 0.5f && scale < 4.0f)
		l->crop_scale = scale;
}

struct fw_model *fw_landmarks68_model(struct fw_landmarks68 *l)
{
	return l->model;
}

int fw_landmarks68_run(struct fw_landmarks68 *l, const struct fw_image *img, const float box[4],
		       float pts[FW_LM68_POINTS][2])
{
	float w = box[2] - box[0], h = box[3] - box[1], side, x0, y0, a[6], *in;
	const float *y;
	int err;

	if (!l || !img || !box || !pts || !(w > 1.0f) || !(h > 1.0f) || !isfinite(w + h))
		return FW_EINVAL;
	side = (w > h ? w : h) * l->crop_scale;
	x0 = 0.5f * (box[0] + box[2]) - 0.5f * side;
	y0 = 0.5f * (box[1] + box[3]) - 0.5f * side;
	/* destination pixel centre (x + 0.5) / 112 of the crop, in source
	 * pixels whose centres are integers */
	a[0] = side / FW_LM68_INPUT, a[1] = 0, a[2] = x0 + 0.5f * a[0] - 0.5f;
	a[3] = 0, a[4] = side / FW_LM68_INPUT, a[5] = y0 + 0.5f * a[4] - 0.5f;
	in = fw_model_input(l->model, NULL);
	fw_image_warp_affine_f32(img, a, FW_LM68_INPUT, FW_LM68_INPUT, 1.0f / 255.0f, 0.0f, 0, in);
	for (int i = 0; i < FW_LM68_INPUT * FW_LM68_INPUT; i++)
		for (int c = 0; c < 3; c++)
			in[3 * i + c] -= mean_rgb[c] / 255.0f;
	err = fw_model_run(l->model);
	if (err)
		return err;
	y = fw_model_output(l->model, 0, NULL);
	for (int k = 0; k < FW_LM68_POINTS; k++) {
		pts[k][0] = x0 + y[2 * k] * side;
		pts[k][1] = y0 + y[2 * k + 1] * side;
	}
	return 0;
}

float fw_landmarks68_iod(const float p[FW_LM68_POINTS][2])
{
	return hypotf(p[FW_LM68_EYE_R_OUTER][0] - p[FW_LM68_EYE_L_OUTER][0],
		      p[FW_LM68_EYE_R_OUTER][1] - p[FW_LM68_EYE_L_OUTER][1]);
}

/* ---- head pose ------------------------------------------------------------ */

/* A generic adult face in millimetres, x towards the image's right when the
 * face looks at the camera, y up, z towards the camera, nose tip at the
 * origin (proportions of the average head models used for PnP head pose:
 * outer eye corners 87 mm apart, chin 64 mm below the nose tip). */
#define N_POSE 8
static const int pose_idx[N_POSE] = {
	FW_LM68_NOSE_TIP, FW_LM68_JAW_CHIN, FW_LM68_EYE_L_OUTER, FW_LM68_EYE_R_OUTER,
	FW_LM68_EYE_L_INNER, FW_LM68_EYE_R_INNER, FW_LM68_MOUTH_L, FW_LM68_MOUTH_R,
};
static const double pose_model[N_POSE][3] = {
	{ 0.0, 0.0, 0.0 },        /* nose tip */
	{ 0.0, -63.6, -12.5 },    /* chin */
	{ -43.3, 32.7, -26.0 },   /* outer eye corners */
	{ 43.3, 32.7, -26.0 },
	{ -15.0, 32.7, -22.0 },   /* inner eye corners */
	{ 15.0, 32.7, -22.0 },
	{ -28.9, -28.9, -24.1 },  /* mouth corners */
	{ 28.9, -28.9, -24.1 },
};

/* Rotation matrix of a rotation vector (Rodrigues). */
static void rodrigues(const double r[3], double R[3][3])
{
	double th = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
	double k[3] = { 0, 0, 0 }, c, s, v;

	if (th > 1e-12)
		k[0] = r[0] / th, k[1] = r[1] / th, k[2] = r[2] / th;
	c = cos(th), s = sin(th), v = 1.0 - c;
	R[0][0] = c + k[0] * k[0] * v;
	R[0][1] = k[0] * k[1] * v - k[2] * s;
	R[0][2] = k[0] * k[2] * v + k[1] * s;
	R[1][0] = k[1] * k[0] * v + k[2] * s;
	R[1][1] = c + k[1] * k[1] * v;
	R[1][2] = k[1] * k[2] * v - k[0] * s;
	R[2][0] = k[2] * k[0] * v - k[1] * s;
	R[2][1] = k[2] * k[1] * v + k[0] * s;
	R[2][2] = c + k[2] * k[2] * v;
}

struct cam {
	double f, cx, cy;
	double obs[N_POSE][2];
};

/* Residuals (projected - observed) for params p = rotation vector, t. The
 * model is taken to camera axes (x right, y down, z forward) by flipping y
 * and z, then rotated and moved. Returns 0 if a point falls behind the camera. */
static int residuals(const struct cam *c, const double p[6], double res[2 * N_POSE])
{
	double R[3][3];

	rodrigues(p, R);
	for (int i = 0; i < N_POSE; i++) {
		double m[3] = { pose_model[i][0], -pose_model[i][1], -pose_model[i][2] }, q[3];

		for (int r = 0; r < 3; r++)
			q[r] = R[r][0] * m[0] + R[r][1] * m[1] + R[r][2] * m[2] + p[3 + r];
		if (q[2] < 1.0)
			return 0;
		res[2 * i] = c->f * q[0] / q[2] + c->cx - c->obs[i][0];
		res[2 * i + 1] = c->f * q[1] / q[2] + c->cy - c->obs[i][1];
	}
	return 1;
}

static double sumsq(const double *r, int n)
{
	double s = 0;

	for (int i = 0; i < n; i++)
		s += r[i] * r[i];
	return s;
}

/* Solve A x = b (6x6, A symmetric positive definite after damping) by
 * Gaussian elimination with partial pivoting. 0 if singular. */
static int solve6(double A[6][6], double b[6], double x[6])
{
	for (int c = 0; c < 6; c++) {
		int piv = c;

		for (int r = c + 1; r < 6; r++)
			if (fabs(A[r][c]) > fabs(A[piv][c]))
				piv = r;
		if (fabs(A[piv][c]) < 1e-300)
			return 0;
		if (piv != c) {
			for (int k = 0; k < 6; k++) {
				double t = A[c][k];

				A[c][k] = A[piv][k], A[piv][k] = t;
			}
			double t = b[c];

			b[c] = b[piv], b[piv] = t;
		}
		for (int r = c + 1; r < 6; r++) {
			double f = A[r][c] / A[c][c];

			for (int k = c; k < 6; k++)
				A[r][k] -= f * A[c][k];
			b[r] -= f * b[c];
		}
	}
	for (int r = 5; r >= 0; r--) {
		double s = b[r];

		for (int k = r + 1; k < 6; k++)
			s -= A[r][k] * x[k];
		x[r] = s / A[r][r];
	}
	return 1;
}

int fw_pose_from_landmarks68(const float pts[FW_LM68_POINTS][2], int img_w, int img_h,
			     struct fw_pose *pose)
{
	struct cam c = { .f = img_w, .cx = 0.5 * img_w, .cy = 0.5 * img_h };
	double p[6], res[2 * N_POSE], err, lambda = 1e-3, iod, R[3][3];
	const double steps[6] = { 1e-5, 1e-5, 1e-5, 1e-3, 1e-3, 1e-3 };

	if (!pts || !pose || img_w < 2 || img_h < 2)
		return FW_EINVAL;
	for (int i = 0; i < N_POSE; i++) {
		c.obs[i][0] = pts[pose_idx[i]][0];
		c.obs[i][1] = pts[pose_idx[i]][1];
		if (!isfinite(c.obs[i][0]) || !isfinite(c.obs[i][1]))
			return FW_EINVAL;
	}
	iod = hypot(c.obs[3][0] - c.obs[2][0], c.obs[3][1] - c.obs[2][1]);
	if (!(iod > 1.0))
		return FW_EINVAL;
	/* start: facing the camera, rolled as the eye line, at the distance
	 * where the model's eye corners are iod apart, nose on its pixel */
	memset(p, 0, sizeof p);
	p[2] = atan2(c.obs[3][1] - c.obs[2][1], c.obs[3][0] - c.obs[2][0]);
	p[5] = c.f * 86.6 / iod;
	p[3] = (c.obs[0][0] - c.cx) * p[5] / c.f;
	p[4] = (c.obs[0][1] - c.cy) * p[5] / c.f;
	if (!residuals(&c, p, res))
		return FW_EINVAL;
	err = sumsq(res, 2 * N_POSE);
	/* Levenberg-Marquardt with a forward-difference Jacobian */
	for (int it = 0; it < 100; it++) {
		double J[2 * N_POSE][6], A[6][6] = { { 0 } }, g[6] = { 0 }, d[6], q[6], r2[2 * N_POSE];
		double e2;
		int ok = 0;

		for (int k = 0; k < 6; k++) {
			memcpy(q, p, sizeof q);
			q[k] += steps[k];
			if (!residuals(&c, q, r2))
				return FW_EINVAL;
			for (int i = 0; i < 2 * N_POSE; i++)
				J[i][k] = (r2[i] - res[i]) / steps[k];
		}
		for (int a = 0; a < 6; a++) {
			for (int b = 0; b < 6; b++)
				for (int i = 0; i < 2 * N_POSE; i++)
					A[a][b] += J[i][a] * J[i][b];
			for (int i = 0; i < 2 * N_POSE; i++)
				g[a] -= J[i][a] * res[i];
		}
		for (int tries = 0; tries < 10 && !ok; tries++) {
			double M[6][6], gb[6];

			memcpy(M, A, sizeof M);
			memcpy(gb, g, sizeof gb);
			for (int a = 0; a < 6; a++)
				M[a][a] += lambda * (A[a][a] > 1e-12 ? A[a][a] : 1e-12);
			if (!solve6(M, gb, d))
				return FW_EINVAL;
			for (int k = 0; k < 6; k++)
				q[k] = p[k] + d[k];
			if (residuals(&c, q, r2) && (e2 = sumsq(r2, 2 * N_POSE)) <= err) {
				ok = 1;
				memcpy(p, q, sizeof p);
				memcpy(res, r2, sizeof res);
				if (err - e2 < 1e-10 * (err + 1e-12))
					it = 1000; /* converged */
				err = e2;
				lambda = lambda * 0.3 > 1e-9 ? lambda * 0.3 : 1e-9;
			} else {
				lambda *= 10;
			}
		}
		if (!ok)
			break; /* no step lowers the error: at the minimum */
	}
	rodrigues(p, R);
	{
		/* the nose's direction: model +z, in camera axes (0,0,-1), rotated */
		double nx = -R[0][2], ny = -R[1][2], nz = -R[2][2];
		/* the head's left-to-right axis (model +x): its angle in the image
		 * plane is the roll, so rotating the image rotates the roll by as
		 * much, whatever the yaw */
		double ex = R[0][0], ey = R[1][0];
		const double deg = 180.0 / 3.14159265358979323846;

		pose->yaw = (float)(atan2(nx, -nz) * deg);
		pose->pitch = (float)(atan2(-ny, hypot(nx, nz)) * deg);
		pose->roll = (float)(atan2(ey, ex) * deg);
		pose->rms_px = (float)sqrt(err / N_POSE);
	}
	if (!isfinite(pose->yaw + pose->pitch + pose->roll))
		return FW_EINVAL;
	return 0;
}
