/* The steady state allocates nothing: 100 runs of each model (and of the
 * whole detector stage) make no call to malloc, calloc, realloc or the
 * aligned allocators, in our code or in OpenBLAS. The allocator is
 * interposed in this program, which preempts libc's for every library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/detector.h"
#include "core/model.h"
#include "testutil.h"

#include "alloc_count.h"

/* `runs` runs after the first: 100 for the tier the daemon uses; the
 * reference tier (slow, double accumulation) needs fewer to prove the same. */
static void run_model(const char *file, enum fw_kernel_tier tier, int runs)
{
	struct fw_model_options opt = { .tier = tier };
	struct fw_model *m = NULL;
	struct fw_shape s;
	float *x;

	assert_int_equal(fw_model_load(tu_models(file), &opt, &m), 0);
	x = fw_model_input(m, &s);
	for (size_t i = 0; i < (size_t)s.h * s.w * s.c; i++)
		x[i] = tu_randf(-1, 1);
	assert_int_equal(fw_model_run(m), 0); /* first run: OpenBLAS sets up its buffers */
	tu_allocations = 0;
	tu_counting = 1;
	for (int r = 0; r < runs; r++)
		fw_model_run(m);
	tu_counting = 0;
	print_message("%s tier %d: %ld allocations in %d runs\n", file, tier, tu_allocations, runs);
	assert_int_equal(tu_allocations, 0);
	fw_model_free(m);
}

static void test_models_do_not_allocate(void **state)
{
	(void)state;
#ifdef FW_NO_INTERPOSE
	skip();
#endif
	static const char *files[] = { "blazeface_short.fwm", "blazeface_full.fwm",
				       "mobilefacenet.fwm", "onet.fwm" };
	for (size_t i = 0; i < 4; i++) {
		run_model(files[i], FW_KERNELS_FAST, 100);
		run_model(files[i], FW_KERNELS_REF, 5);
	}
}

static void test_detector_does_not_allocate(void **state)
{
	struct fw_detector *d = NULL;
	struct fw_detection out[16];
	struct fw_image img;

	(void)state;
#ifdef FW_NO_INTERPOSE
	skip();
#endif
	assert_int_equal(fw_image_alloc(&img, 640, 480), 0);
	for (size_t i = 0; i < (size_t)img.stride * img.height; i++)
		img.data[i] = (uint8_t)tu_randi(0, 255);
	assert_int_equal(fw_detector_open(&d, tu_models("blazeface_short.fwm"), FW_DETECTOR_SHORT,
					  FW_KERNELS_FAST), 0);
	assert_true(fw_detector_run(d, &img, out, 16) >= 0);
	tu_allocations = 0;
	tu_counting = 1;
	for (int r = 0; r < 100; r++)
		fw_detector_run(d, &img, out, 16);
	tu_counting = 0;
	assert_int_equal(tu_allocations, 0);
	fw_detector_close(d);
	fw_image_free(&img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_models_do_not_allocate),
		cmocka_unit_test(test_detector_does_not_allocate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
