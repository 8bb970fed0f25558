/* The head-pose solver against poses made here: the generic face is turned
 * by a known rotation (built below from the angles' meaning in image terms,
 * not from the solver's code), projected through a pinhole camera, and the
 * solver must give the angles back; a mirrored face (x flipped, left and
 * right points swapped) gives -yaw, pitch, -roll; degenerate points are
 * refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/fw.h"
#include "core/landmarks68.h"

#define W 640
#define H 480
#define D2R (3.14159265358979323846 / 180.0)

/* The generic face of landmarks68.c (mm; x to the image's right when facing
 * the camera, y up, z towards the camera): the definition, not the code. */
static const int idx[8] = { 30, 8, 36, 45, 39, 42, 48, 54 };
static const double face[8][3] = {
	{ 0.0, 0.0, 0.0 },       { 0.0, -63.6, -12.5 }, { -43.3, 32.7, -26.0 },
	{ 43.3, 32.7, -26.0 },   { -15.0, 32.7, -22.0 }, { 15.0, 32.7, -22.0 },
	{ -28.9, -28.9, -24.1 }, { 28.9, -28.9, -24.1 },
};

static void matmul(const double a[3][3], const double b[3][3], double c[3][3])
{
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
}

/* Camera axes x right, y down, z forward. The face first looks into the
 * camera (nose along -z), is rolled about the view axis (clockwise in the
 * image for roll > 0), pitched (nose up for pitch > 0), then yawed (nose to
 * the image's right for yaw > 0), then placed at t (mm). */
/* Returns the roll as landmarks68.h defines it: the angle of the head's
 * left-right axis in the image plane (the applied roll when yaw or pitch
 * is 0). */
static double project(double yaw, double pitch, double roll, const double t[3],
		      float pts[FW_LM68_POINTS][2])
{
	double cy = cos(yaw * D2R), sy = sin(yaw * D2R), cp = cos(pitch * D2R), sp = sin(pitch * D2R);
	double cr = cos(roll * D2R), sr = sin(roll * D2R);
	/* roll: x towards +y (down) is clockwise on screen */
	const double Rr[3][3] = { { cr, -sr, 0 }, { sr, cr, 0 }, { 0, 0, 1 } };
	/* pitch: the nose (0,0,-1) goes to (0,-sp,-cp), i.e. up */
	const double Rp[3][3] = { { 1, 0, 0 }, { 0, cp, sp }, { 0, -sp, cp } };
	/* yaw: the nose (0,0,-1) goes to (sy,0,-cy), i.e. right */
	const double Ry[3][3] = { { cy, 0, -sy }, { 0, 1, 0 }, { sy, 0, cy } };
	double A[3][3], R[3][3];

	matmul(Ry, Rp, A);
	matmul(A, Rr, R);
	memset(pts, 0, sizeof(float) * 2 * FW_LM68_POINTS);
	for (int i = 0; i < 8; i++) {
		/* face axes -> camera axes: y up -> down, z to camera -> -z */
		double m[3] = { face[i][0], -face[i][1], -face[i][2] }, q[3];

		for (int r = 0; r < 3; r++)
			q[r] = R[r][0] * m[0] + R[r][1] * m[1] + R[r][2] * m[2] + t[r];
		pts[idx[i]][0] = (float)(W * q[0] / q[2] + W / 2.0);
		pts[idx[i]][1] = (float)(W * q[1] / q[2] + H / 2.0);
	}
	return atan2(R[1][0], R[0][0]) / D2R;
}

static void check(double yaw, double pitch, double roll, double tol)
{
	const double t[3] = { 40, -25, 650 };
	float pts[FW_LM68_POINTS][2];
	struct fw_pose p;

	roll = project(yaw, pitch, roll, t, pts);
	assert_int_equal(fw_pose_from_landmarks68(pts, W, H, &p), 0);
	if (fabs(p.yaw - yaw) > tol || fabs(p.pitch - pitch) > tol || fabs(p.roll - roll) > tol)
		fail_msg("made yaw %.1f pitch %.1f roll %.1f, solved %.2f %.2f %.2f (rms %.3f px)",
			 yaw, pitch, roll, p.yaw, p.pitch, p.roll, p.rms_px);
	assert_true(p.rms_px < 0.05f);
}

static void test_single_axes(void **state)
{
	(void)state;
	check(0, 0, 0, 0.05);
	check(30, 0, 0, 0.05);
	check(-45, 0, 0, 0.05);
	check(0, 20, 0, 0.05);
	check(0, -25, 0, 0.05);
	check(0, 0, 15, 0.05);
	check(0, 0, -30, 0.05);
}

static void test_combined(void **state)
{
	(void)state;
	check(20, -10, 0, 0.05);
	check(-15, 12, 8, 0.05);
	check(35, 5, -12, 0.05);
	check(-40, -15, 20, 0.05);
}

static void test_mirror(void **state)
{
	static const int pairs[3][2] = { { 36, 45 }, { 39, 42 }, { 48, 54 } };
	const double t[3] = { -60, 10, 700 };
	float pts[FW_LM68_POINTS][2];
	struct fw_pose a, b;

	(void)state;
	project(25, -8, 10, t, pts);
	assert_int_equal(fw_pose_from_landmarks68(pts, W, H, &a), 0);
	/* mirror about the image's centre column, then the left points are the
	 * right ones */
	for (int k = 0; k < FW_LM68_POINTS; k++)
		pts[k][0] = W - pts[k][0];
	for (int k = 0; k < 3; k++)
		for (int c = 0; c < 2; c++) {
			float v = pts[pairs[k][0]][c];

			pts[pairs[k][0]][c] = pts[pairs[k][1]][c];
			pts[pairs[k][1]][c] = v;
		}
	assert_int_equal(fw_pose_from_landmarks68(pts, W, H, &b), 0);
	assert_true(fabsf(a.yaw + b.yaw) < 0.01f);
	assert_true(fabsf(a.pitch - b.pitch) < 0.01f);
	assert_true(fabsf(a.roll + b.roll) < 0.01f);
}

static void test_degenerate(void **state)
{
	float pts[FW_LM68_POINTS][2];
	struct fw_pose p;

	(void)state;
	memset(pts, 0, sizeof pts); /* every point in one place */
	assert_int_equal(fw_pose_from_landmarks68(pts, W, H, &p), FW_EINVAL);
	pts[45][0] = NAN;
	assert_int_equal(fw_pose_from_landmarks68(pts, W, H, &p), FW_EINVAL);
	assert_int_equal(fw_pose_from_landmarks68(NULL, W, H, &p), FW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_axes),
		cmocka_unit_test(test_combined),
		cmocka_unit_test(test_mirror),
		cmocka_unit_test(test_degenerate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
