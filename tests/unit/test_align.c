/* Face alignment maths: the similarity fit recovers known transforms, never
 * reflects, rejects degenerate input, inverts, and reproduces the affine the
 * golden MobileFaceNet crops were warped with. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/align.h"
#include "core/fw.h"
#include "testutil.h"

#define PI 3.14159265358979323846

static void apply(const float m[6], const float p[2], float q[2])
{
	q[0] = m[0] * p[0] + m[1] * p[1] + m[2];
	q[1] = m[3] * p[0] + m[4] * p[1] + m[5];
}

static void test_templates(void **state)
{
	(void)state;
	/* eyes and nose shared; the mouth centre is the corners' midpoint */
	for (int i = 0; i < 3; i++) {
		assert_true(fw_align_template4[i][0] == fw_align_template5[i][0]);
		assert_true(fw_align_template4[i][1] == fw_align_template5[i][1]);
	}
	assert_float_equal(fw_align_template4[3][0], 56.1396, 1e-4);
	assert_float_equal(fw_align_template4[3][1], 92.2848, 1e-4);
}

static void test_known_transform(void **state)
{
	(void)state;
	const double th = 30.0 * PI / 180.0, s = 1.7, tx = 12.5, ty = -7.25;
	const float want[6] = {
		(float)(s * cos(th)), (float)(-s * sin(th)), (float)tx,
		(float)(s * sin(th)), (float)(s * cos(th)), (float)ty,
	};
	float dst[5][2], m[6];

	for (int i = 0; i < 5; i++)
		apply(want, fw_align_template5[i], dst[i]);
	assert_int_equal(fw_align_similarity(fw_align_template5, (const float(*)[2])dst, 5, m), 0);
	for (int k = 0; k < 6; k++)
		assert_float_equal(m[k], want[k], 1e-4);

	/* two points are enough */
	assert_int_equal(fw_align_similarity(fw_align_template5, (const float(*)[2])dst, 2, m), 0);
	for (int k = 0; k < 6; k++)
		assert_float_equal(m[k], want[k], 1e-4);
}

static void test_no_reflection(void **state)
{
	(void)state;
	/* A mirrored face cannot be fitted by a reflection: the result keeps
	 * the form [a -b; b a] with a positive determinant. */
	float dst[5][2], m[6];

	for (int i = 0; i < 5; i++) {
		dst[i][0] = 112.0f - fw_align_template5[i][0];
		dst[i][1] = fw_align_template5[i][1];
	}
	assert_int_equal(fw_align_similarity(fw_align_template5, (const float(*)[2])dst, 5, m), 0);
	assert_float_equal(m[0], m[4], 1e-6);
	assert_float_equal(m[1], -m[3], 1e-6);
	assert_true(m[0] * m[4] - m[1] * m[3] > 0.0f);
}

static void test_invert(void **state)
{
	(void)state;
	const float m[6] = {1.2f, -0.5f, 30.0f, 0.5f, 1.2f, -12.0f};
	float inv[6], id[6];

	assert_int_equal(fw_align_invert(m, inv), 0);
	/* inv o m as matrices: [A^-1 A | A^-1 t + t'] = [I | 0] */
	id[0] = inv[0] * m[0] + inv[1] * m[3];
	id[1] = inv[0] * m[1] + inv[1] * m[4];
	id[2] = inv[0] * m[2] + inv[1] * m[5] + inv[2];
	id[3] = inv[3] * m[0] + inv[4] * m[3];
	id[4] = inv[3] * m[1] + inv[4] * m[4];
	id[5] = inv[3] * m[2] + inv[4] * m[5] + inv[5];
	const float eye[6] = {1, 0, 0, 0, 1, 0};
	for (int k = 0; k < 6; k++)
		assert_float_equal(id[k], eye[k], 1e-5);

	/* and on points, through a fitted transform */
	float dst[5][2], fit[6], back[2];

	for (int i = 0; i < 5; i++)
		apply(m, fw_align_template5[i], dst[i]);
	assert_int_equal(fw_align_similarity(fw_align_template5, (const float(*)[2])dst, 5, fit), 0);
	assert_int_equal(fw_align_invert(fit, inv), 0);
	for (int i = 0; i < 5; i++) {
		apply(inv, dst[i], back);
		assert_float_equal(back[0], fw_align_template5[i][0], 1e-4);
		assert_float_equal(back[1], fw_align_template5[i][1], 1e-4);
	}

	const float singular[6] = {1, 2, 3, 2, 4, 5};
	const float zero[6] = {0, 0, 1, 0, 0, 1};
	assert_int_equal(fw_align_invert(singular, inv), FW_EINVAL);
	assert_int_equal(fw_align_invert(zero, inv), FW_EINVAL);
}

static void test_degenerate(void **state)
{
	(void)state;
	const float same[5][2] = {{40, 50}, {40, 50}, {40, 50}, {40, 50}, {40, 50}};
	const float origin[5][2] = {{0}};
	float m[6];

	assert_int_equal(fw_align_similarity(same, fw_align_template5, 5, m), FW_EINVAL);
	assert_int_equal(fw_align_similarity(origin, fw_align_template5, 5, m), FW_EINVAL);
	/* destination collapsed to a point: no rotation or scale to speak of */
	assert_int_equal(fw_align_similarity(fw_align_template5, same, 5, m), FW_EINVAL);
	assert_int_equal(fw_align_similarity(fw_align_template5, fw_align_template5, 1, m), FW_EINVAL);
	const float nan_pts[2][2] = {{NAN, 0}, {1, 1}};
	assert_int_equal(fw_align_similarity(nan_pts, fw_align_template5, 2, m), FW_EINVAL);
}

static double jnum(const json_t *j)
{
	assert_true(json_is_number(j));
	return json_number_value(j);
}

/* The reference warped each face with skimage's SimilarityTransform fitted
 * from the MTCNN landmarks to the template; the matrix is in <id>.mfn.input.json. */
static void test_golden_affine(void **state)
{
	(void)state;
	json_error_t err;
	json_t *root = json_load_file(tu_shared("models/golden/mobilefacenet.embeddings.json"), 0, &err);
	double worst = 0;

	if (!root)
		fail_msg("mobilefacenet.embeddings.json:%d: %s", err.line, err.text);

	const json_t *tpl = json_object_get(root, "template_112");
	for (int i = 0; i < 5; i++)
		for (int c = 0; c < 2; c++)
			assert_float_equal(fw_align_template5[i][c],
					   jnum(json_array_get(json_array_get(tpl, (size_t)i), (size_t)c)), 1e-6);

	const json_t *faces = json_object_get(root, "faces");
	assert_int_equal(json_array_size(faces), 6);
	for (size_t f = 0; f < json_array_size(faces); f++) {
		const json_t *face = json_array_get(faces, f);
		const char *id = json_string_value(json_object_get(face, "id"));
		const json_t *lm = json_object_get(face, "landmarks");
		char rel[256];
		float src[5][2], m[6];

		assert_non_null(id);
		snprintf(rel, sizeof rel, "models/golden/%s.mfn.input.json", id);
		json_t *in = json_load_file(tu_shared(rel), 0, &err);
		if (!in)
			fail_msg("%s:%d: %s", rel, err.line, err.text);
		const json_t *aff = json_object_get(in, "affine_2x3");
		const json_t *lm_in = json_object_get(in, "landmarks");

		for (int i = 0; i < 5; i++)
			for (int c = 0; c < 2; c++) {
				double v = jnum(json_array_get(json_array_get(lm, (size_t)i), (size_t)c));

				/* the two files describe the same crop */
				assert_true(v == jnum(json_array_get(json_array_get(lm_in, (size_t)i), (size_t)c)));
				src[i][c] = (float)v;
			}
		assert_int_equal(fw_align_similarity((const float(*)[2])src, fw_align_template5, 5, m), 0);
		for (int k = 0; k < 6; k++) {
			double want = jnum(json_array_get(json_array_get(aff, (size_t)(k / 3)), (size_t)(k % 3)));
			double d = fabs(m[k] - want);

			if (d > worst)
				worst = d;
			if (!(d <= 1e-4))
				fail_msg("%s m[%d]: got %.9g want %.9g", id, k, m[k], want);
		}
		json_decref(in);
	}
	print_message("largest |diff| vs golden affine: %.3g\n", worst);
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_known_transform),
		cmocka_unit_test(test_no_reflection),
		cmocka_unit_test(test_invert),
		cmocka_unit_test(test_degenerate),
		cmocka_unit_test(test_golden_affine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
