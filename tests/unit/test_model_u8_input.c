/* An int8 detector fed its u8 input through a table (fw_model_input_u8 +
 * fw_image_letterbox_u8) gives the same outputs, to the bit, as the same
 * model fed floats (fw_image_letterbox) that its first step quantises: on
 * a real photo, letterboxed both ways (a wide picture into the square
 * input: padding rows), for both BlazeFace models; and a float model has
 * no u8 input to offer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture/imageio.h"
#include "core/image.h"
#include "core/kernels/q8.h"
#include "core/model.h"
#include "testutil.h"

static struct fw_model *load(const char *file, enum fw_precision prec)
{
	struct fw_model_options opt = { .tier = FW_KERNELS_FAST, .precision = prec };
	struct fw_model *m = NULL;

	assert_int_equal(fw_model_load(tu_models(file), &opt, &m), 0);
	return m;
}

static void same_outputs(const char *file)
{
	struct fw_model *a = load(file, FW_PRECISION_INT8), *b = load(file, FW_PRECISION_INT8);
	struct fw_image img = { 0 };
	struct fw_letterbox la, lb;
	struct fw_shape in;
	float *x = fw_model_input(a, &in), scale, v[257];
	uint8_t lut[257], *u8;
	int32_t zero;
	void *tmp = malloc(fw_letterbox_scratch(in.w, in.h));
	const float mul = 1.0f / 127.5f, add = -1.0f;

	assert_non_null(tmp);
	assert_int_equal(fw_imageio_load(tu_shared("data/recognition/images/face_recognition_examples/"
						   "lin-manuel-miranda.png"),
					 &img),
			 0);
	/* the float way */
	fw_image_letterbox(&img, in.w, in.h, mul, add, x, tmp, &la);
	assert_int_equal(fw_model_run(a), 0);
	/* the u8 way: the table is the quantisation of each pixel's float */
	u8 = fw_model_input_u8(b, &scale, &zero);
	assert_non_null(u8);
	for (int i = 0; i < 256; i++)
		v[i] = i * mul + add;
	v[256] = add;
	fw_q8_quantize(v, 257, 1.0f / scale, zero, lut);
	/* stale floats in b's float input must not matter any more */
	memset(fw_model_input(b, NULL), 0x7f, sizeof(float) * (size_t)in.h * (size_t)in.w * 3);
	fw_image_letterbox_u8(&img, in.w, in.h, lut, lut[256], u8, tmp, &lb);
	assert_int_equal(fw_model_run(b), 0);
	assert_memory_equal(&la, &lb, sizeof la);
	assert_true(la.pad_x > 0 || la.pad_y > 0 || img.width == img.height);
	for (int i = 0; i < fw_model_n_outputs(a); i++) {
		struct fw_shape s;
		const float *ya = fw_model_output(a, i, &s), *yb = fw_model_output(b, i, NULL);

		assert_memory_equal(ya, yb, sizeof(float) * (size_t)s.n * s.h * s.w * s.c);
	}
	free(tmp);
	fw_image_free(&img);
	fw_model_free(a);
	fw_model_free(b);
}

static void test_short_same_outputs(void **state)
{
	(void)state;
	same_outputs("blazeface_short.fwm");
}

static void test_full_same_outputs(void **state)
{
	(void)state;
	same_outputs("blazeface_full.fwm");
}

static void test_float_model_has_no_u8_input(void **state)
{
	struct fw_model *m = load("blazeface_short.fwm", FW_PRECISION_FLOAT);
	float scale;
	int32_t zero;

	(void)state;
	assert_null(fw_model_input_u8(m, &scale, &zero));
	fw_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_same_outputs),
		cmocka_unit_test(test_full_same_outputs),
		cmocka_unit_test(test_float_model_has_no_u8_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
