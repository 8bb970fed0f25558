/* The converted landmark model (models/landmarks68.fwm) against face-api
 * itself: face-api 1.7.15's FaceLandmark68Net.runNet on the TensorFlow.js
 * CPU backend (tfjs 4.22), run once by hand on the input below, gave these
 * 136 outputs (x0, y0, ... as fractions of the 112 px crop). Both kernel
 * tiers must agree with it to 1e-5: a wrong weight layout, padding, pool or
 * normalisation is off by far more. The input is a gradient plus LCG noise
 * (the same integer recipe in JavaScript and here), so no file is needed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/model.h"
#include "testutil.h"

static const float expected[136] = {
	0.1459472f, 0.3192084f, 0.1930139f, 0.4045498f, 0.2072319f, 0.4907655f,
	0.2440646f, 0.5872505f, 0.3009376f, 0.6241596f, 0.3408349f, 0.6720095f,
	0.4015231f, 0.6765065f, 0.4185973f, 0.6767821f, 0.4600775f, 0.7464646f,
	0.5391244f, 0.7516441f, 0.5866868f, 0.7074387f, 0.6126059f, 0.6811795f,
	0.6699983f, 0.6155639f, 0.6910946f, 0.5828912f, 0.7367296f, 0.4905403f,
	0.7841210f, 0.4348730f, 0.7356453f, 0.3209914f, 0.2233045f, 0.3004076f,
	0.2457151f, 0.2294588f, 0.2426703f, 0.2467753f, 0.3298641f, 0.2227765f,
	0.3561284f, 0.2447711f, 0.5068566f, 0.2759798f, 0.5249795f, 0.2974743f,
	0.5719292f, 0.3139268f, 0.6567809f, 0.2912182f, 0.7098700f, 0.2725397f,
	0.4098487f, 0.3748121f, 0.4273288f, 0.4025136f, 0.3867606f, 0.4551867f,
	0.3907731f, 0.4877082f, 0.3838438f, 0.4926479f, 0.3933120f, 0.4951329f,
	0.4185092f, 0.4992978f, 0.4339644f, 0.5013746f, 0.4397636f, 0.5005571f,
	0.2877694f, 0.3374144f, 0.2968952f, 0.3385847f, 0.3319086f, 0.3369805f,
	0.3689023f, 0.3475618f, 0.3430196f, 0.3746201f, 0.3087581f, 0.3634242f,
	0.5251394f, 0.3884636f, 0.5639865f, 0.3793437f, 0.5999556f, 0.3567956f,
	0.5917688f, 0.3773452f, 0.5713015f, 0.3964625f, 0.5374457f, 0.4132261f,
	0.3754243f, 0.5473177f, 0.3915844f, 0.5639951f, 0.3913619f, 0.5496341f,
	0.4220480f, 0.5431101f, 0.4522121f, 0.5371526f, 0.4629091f, 0.5285123f,
	0.5203624f, 0.5817267f, 0.4891874f, 0.5909477f, 0.4832841f, 0.5712156f,
	0.4645148f, 0.5857107f, 0.4489732f, 0.6028105f, 0.4395555f, 0.5978436f,
	0.3766897f, 0.5666411f, 0.4239121f, 0.5585250f, 0.4466381f, 0.5624988f,
	0.4647852f, 0.5496172f, 0.5022565f, 0.5728250f, 0.4637340f, 0.5414736f,
	0.4367809f, 0.5515431f, 0.4233149f, 0.5565677f,
};

/* face-api's FaceFeatureExtractor: (px - mean_rgb) / 255 */
static const float mean_rgb[3] = { 122.782f, 117.001f, 104.298f };

static void run(enum fw_kernel_tier tier)
{
	struct fw_model_options opt = { .expect_name = "landmarks68", .tier = tier };
	struct fw_model *m = NULL;
	struct fw_shape s;
	const float *y;
	uint64_t x = 12345;
	float *in, worst = 0;

	assert_int_equal(fw_model_load(tu_models("landmarks68.fwm"), &opt, &m), 0);
	in = fw_model_input(m, &s);
	assert_int_equal(s.h * s.w * s.c, 112 * 112 * 3);
	for (int i = 0; i < 112 * 112 * 3; i++) {
		int noise, row = i / (112 * 3), c = i % 3;

		x = (x * 1103515245u + 12345u) % 2147483648u;
		noise = (int)((x >> 16) & 63);
		in[i] = ((float)((row + c * 40 + noise) % 256) - mean_rgb[c]) / 255.0f;
	}
	assert_int_equal(fw_model_run(m), 0);
	y = fw_model_output(m, 0, &s);
	assert_int_equal(s.n * s.h * s.w * s.c, 136);
	for (int i = 0; i < 136; i++)
		worst = fmaxf(worst, fabsf(y[i] - expected[i]));
	print_message("landmarks68 (%s) vs face-api: max |diff| %.2g\n",
		      fw_model_kernels_name(m), (double)worst);
	assert_true(worst < 1e-5f);
	fw_model_free(m);
}

static void test_ref_kernels(void **state)
{
	(void)state;
	run(FW_KERNELS_REF);
}

static void test_fast_kernels(void **state)
{
	(void)state;
	run(FW_KERNELS_FAST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_kernels),
		cmocka_unit_test(test_fast_kernels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
