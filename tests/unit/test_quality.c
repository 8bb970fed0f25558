/* core/quality: what `facectl enroll --camera` accepts as a view. What a
 * user would notice: a sharp, frontal, lit frame of the Hamilton clip is
 * accepted; the same frame blurred, darkened, turned (landmarks moved) or
 * shrunk is refused with the matching reason, in the documented order;
 * the same view twice is "too similar". Synthetic images pin the maths
 * (luma weights, Laplacian variance, frontal geometry).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture/imageio.h"
#include "core/fw.h"
#include "core/image.h"
#include "core/quality.h"
#include "daemon/photo.h"
#include "testutil.h"

static void fill(struct fw_image *img, uint8_t r, uint8_t g, uint8_t b)
{
	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width; x++) {
			uint8_t *p = img->data + (size_t)y * img->stride + 3 * x;
			p[0] = r, p[1] = g, p[2] = b;
		}
}

static void test_luma(void **state)
{
	struct fw_image img;
	float box[4] = { 10, 10, 50, 50 };
	(void)state;

	assert_int_equal(fw_image_alloc(&img, 100, 80), 0);
	fill(&img, 255, 0, 0);
	assert_float_equal(fw_quality_luma(&img, NULL), 0.299f * 255, 0.01f);
	fill(&img, 0, 255, 0);
	assert_float_equal(fw_quality_luma(&img, box), 0.587f * 255, 0.01f);
	fill(&img, 0, 0, 0);
	/* a white square: the box over it reads white, the frame mostly black */
	for (int y = 10; y < 50; y++)
		memset(img.data + (size_t)y * img.stride + 30, 255, 40 * 3);
	assert_float_equal(fw_quality_luma(&img, box), 255, 0.5f);
	assert_true(fw_quality_luma(&img, NULL) < 60);
	/* outside the image or NaN: 0, no crash */
	float out[4] = { 200, 200, 300, 300 }, nan4[4] = { NAN, 0, 10, 10 };
	assert_float_equal(fw_quality_luma(&img, out), 0, 0);
	assert_float_equal(fw_quality_luma(&img, nan4), 0, 0);
	fw_image_free(&img);
}

static void test_sharpness_synthetic(void **state)
{
	struct fw_image img;
	float box[4] = { 0, 0, 128, 128 };
	float flat, checker, ramp;
	(void)state;

	assert_int_equal(fw_image_alloc(&img, 128, 128), 0);
	fill(&img, 120, 120, 120);
	flat = fw_quality_sharpness(&img, box);
	/* a smooth ramp has no second derivative either */
	for (int y = 0; y < 128; y++)
		for (int x = 0; x < 128; x++)
			memset(img.data + (size_t)y * img.stride + 3 * x, x * 2, 3);
	ramp = fw_quality_sharpness(&img, box);
	/* 4-pixel squares: edges everywhere */
	for (int y = 0; y < 128; y++)
		for (int x = 0; x < 128; x++)
			memset(img.data + (size_t)y * img.stride + 3 * x, ((x / 4 + y / 4) & 1) ? 200 : 50, 3);
	checker = fw_quality_sharpness(&img, box);
	assert_float_equal(flat, 0, 1e-3f);
	assert_true(ramp < 1.0f);
	assert_true(checker > 1000);
	/* the same pattern on a box twice as large scores about the same: the
	 * grid makes the number independent of the face's size */
	struct fw_image big;
	assert_int_equal(fw_image_alloc(&big, 256, 256), 0);
	for (int y = 0; y < 256; y++)
		for (int x = 0; x < 256; x++)
			memset(big.data + (size_t)y * big.stride + 3 * x, ((x / 8 + y / 8) & 1) ? 200 : 50, 3);
	float bigbox[4] = { 0, 0, 256, 256 };
	assert_float_equal(fw_quality_sharpness(&big, bigbox), checker, checker * 0.05f);
	/* tiny or empty boxes */
	float tiny[4] = { 3, 3, 5, 5 };
	assert_float_equal(fw_quality_sharpness(&img, tiny), 0, 0);
	fw_image_free(&img);
	fw_image_free(&big);
}

/* Landmarks of a face looking straight at the camera: eyes at (40,50) and
 * (80,50), nose at (60,70), mouth corners at (45,90) and (75,90). */
static void frontal_points(float pt[5][2])
{
	static const float p[5][2] = { { 40, 50 }, { 80, 50 }, { 60, 70 }, { 45, 90 }, { 75, 90 } };
	memcpy(pt, p, sizeof p);
}

static void test_frontal_geometry(void **state)
{
	float pt[5][2], rot[5][2];
	(void)state;

	frontal_points(pt);
	assert_float_equal(fw_quality_frontal(pt), 1, 1e-5f);
	/* roll by 30 degrees, scaled by 3 and mirrored: still 1 */
	for (int i = 0; i < 5; i++) {
		float c = cosf(0.52f), s = sinf(0.52f);
		rot[i][0] = 3 * (c * pt[i][0] - s * pt[i][1]);
		rot[i][1] = 3 * (s * pt[i][0] + c * pt[i][1]);
	}
	assert_float_equal(fw_quality_frontal((const float(*)[2])rot), 1, 1e-4f);
	/* mirrored: the right eye becomes the left */
	for (int i = 0; i < 5; i++)
		rot[i][0] = 200 - pt[i][0], rot[i][1] = pt[i][1];
	{
		float m[5][2] = { { rot[1][0], rot[1][1] }, { rot[0][0], rot[0][1] }, { rot[2][0], rot[2][1] },
				  { rot[4][0], rot[4][1] }, { rot[3][0], rot[3][1] } };
		assert_float_equal(fw_quality_frontal((const float(*)[2])m), 1, 1e-5f);
	}
	/* a head turned ~30 degrees: the nose two thirds of the way across */
	pt[2][0] = 40 + 40 * 0.67f;
	assert_float_equal(fw_quality_frontal(pt), 0.33f / 0.67f, 0.01f);
	/* turned so far the nose is outside the eyes */
	pt[2][0] = 85;
	assert_float_equal(fw_quality_frontal(pt), 0, 0);
	/* looking down: the nose almost on the mouth line */
	frontal_points(pt);
	pt[2][1] = 89;
	assert_true(fw_quality_frontal(pt) < 0.2f);
	/* looking up: the nose on the eye line */
	pt[2][1] = 52;
	assert_float_equal(fw_quality_frontal(pt), 0, 0);
	/* degenerate: eyes on one point */
	frontal_points(pt);
	pt[1][0] = 40;
	assert_float_equal(fw_quality_frontal(pt), 0, 0);
}

static void test_judge_order(void **state)
{
	struct fw_quality_config c;
	struct fw_quality_view good = { .face_px = 150, .luma = 120, .sharpness = 300, .frontal = 0.9f };
	struct fw_quality_view v;
	(void)state;

	fw_quality_config_default(&c);
	assert_int_equal(fw_quality_judge(&c, 1, &good), FW_QUALITY_OK);
	assert_int_equal(fw_quality_judge(&c, 0, &good), FW_QUALITY_NO_FACE);
	assert_int_equal(fw_quality_judge(&c, 2, &good), FW_QUALITY_SEVERAL_FACES);
	v = good, v.luma = 20;
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_TOO_DARK);
	v = good, v.luma = 250;
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_TOO_BRIGHT);
	v = good, v.face_px = 40;
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_TOO_SMALL);
	v = good, v.sharpness = 5;
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_BLURRY);
	v = good, v.frontal = 0.2f;
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_NOT_FRONTAL);
	/* darkness is said first: a dark image is also blurry and small-looking */
	v = good, v.luma = 10, v.sharpness = 1, v.face_px = 30;
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_TOO_DARK);
	v = good, v.sharpness = NAN;
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_BLURRY);
	for (int r = 0; r < FW_QUALITY_N_REASONS; r++) {
		assert_string_not_equal(fw_quality_reason_name(r), "?");
		assert_true(strlen(fw_quality_reason_advice(r)) > 5);
	}
	assert_string_equal(fw_quality_reason_name(FW_QUALITY_N_REASONS), "?");
}

static void test_similar_and_template_quality(void **state)
{
	float taken[2][4] = { { 1, 0, 0, 0 }, { 0, 1, 0, 0 } };
	float q[4] = { 0.6f, 0.8f, 0, 0 };
	(void)state;

	assert_float_equal(fw_quality_similar(q, &taken[0][0], 0, 4), -1, 0);
	assert_float_equal(fw_quality_similar(q, &taken[0][0], 2, 4), 0.8f, 1e-6f);
	assert_float_equal(fw_quality_template(0.9f, 224), 0.9f, 1e-6f);
	assert_float_equal(fw_quality_template(0.9f, 56), 0.45f, 1e-6f);
	assert_float_equal(fw_quality_template(NAN, 56), 0, 0);
}

/* 5x5 box blur, n times: a defocused lens. */
static void blur(struct fw_image *img, int n)
{
	struct fw_image tmp;
	assert_int_equal(fw_image_alloc(&tmp, img->width, img->height), 0);
	while (n--) {
		for (int y = 0; y < img->height; y++)
			for (int x = 0; x < img->width; x++)
				for (int c = 0; c < 3; c++) {
					int s = 0, k = 0;
					for (int dy = -2; dy <= 2; dy++)
						for (int dx = -2; dx <= 2; dx++) {
							int yy = y + dy, xx = x + dx;
							if (yy < 0 || xx < 0 || yy >= img->height || xx >= img->width)
								continue;
							s += img->data[(size_t)yy * img->stride + 3 * xx + c];
							k++;
						}
					tmp.data[(size_t)y * tmp.stride + 3 * x + c] = (uint8_t)(s / k);
				}
		memcpy(img->data, tmp.data, (size_t)img->height * img->stride);
	}
	fw_image_free(&tmp);
}

/* A real frame of the clip through the photo pipeline (detector + O-Net):
 * accepted as it is, refused when darkened or blurred. */
static void test_real_frame(void **state)
{
	struct fw_photo *p;
	struct fw_photo_face f;
	struct fw_image img = { 0 }, work;
	struct fw_quality_config c;
	struct fw_quality_view v;
	float box[4];
	(void)state;

	fw_quality_config_default(&c);
	if (fw_imageio_load(tu_shared("data/video/hamilton_frames/frame_0200.jpg"), &img)) {
		print_message("no shared data; skipped\n");
		skip();
	}
	assert_int_equal(fw_photo_open(&p, tu_models(""), FW_KERNELS_FAST), 0);
	assert_int_equal(fw_photo_embed_image(p, &img, "frame", &f), 0);
	box[0] = f.det.x1, box[1] = f.det.y1, box[2] = f.det.x2, box[3] = f.det.y2;
	fw_quality_measure(&img, box, (const float(*)[2])f.lm.pt, &v);
	print_message("frame_0200: face %.0f px, luma %.0f, sharpness %.0f, frontal %.2f\n",
		      v.face_px, v.luma, v.sharpness, v.frontal);
	assert_int_equal(f.n_faces, 1);
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_OK);

	assert_int_equal(fw_image_alloc(&work, img.width, img.height), 0);
	/* a third of the light */
	for (size_t i = 0; i < (size_t)img.height * img.stride; i++)
		work.data[i] = img.data[i] / 3;
	fw_quality_measure(&work, box, (const float(*)[2])f.lm.pt, &v);
	print_message("darkened: luma %.0f\n", v.luma);
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_TOO_DARK);
	/* out of focus */
	memcpy(work.data, img.data, (size_t)img.height * img.stride);
	blur(&work, 3);
	fw_quality_measure(&work, box, (const float(*)[2])f.lm.pt, &v);
	print_message("blurred: sharpness %.1f\n", v.sharpness);
	assert_int_equal(fw_quality_judge(&c, 1, &v), FW_QUALITY_BLURRY);
	fw_image_free(&work);
	fw_image_free(&img);
	fw_photo_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_luma),
		cmocka_unit_test(test_sharpness_synthetic),
		cmocka_unit_test(test_frontal_geometry),
		cmocka_unit_test(test_judge_order),
		cmocka_unit_test(test_similar_and_template_quality),
		cmocka_unit_test(test_real_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
