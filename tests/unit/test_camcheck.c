/* daemon/camcheck: the numbers and the advice of `facectl doctor`'s camera
 * checks. What a user would notice: a dark room is called too dark (by the
 * faces' light when faces are seen, so a lit face in a dark room is fine),
 * a camera slower than asked is called slow, small faces are called small,
 * the frame rate comes from the camera's own counter (not the analysed
 * rate), and a good setup gets no advice at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/camcheck.h"

static const struct fw_camcheck_setup setup = { .device = "/dev/video0", .state = "ok",
						 .format = "MJPEG", .width = 640, .height = 480,
						 .fps_negotiated = 30, .fps_asked = 30 };

/* n samples, one every 100 ms (the analysed rate), with the camera's
 * counter advancing by `per` frames between them */
static void feed(struct fw_camcheck *c, int n, int per, float luma, int faces, float w,
		 float face_luma)
{
	for (int i = 0; i < n; i++) {
		struct fw_camcheck_sample s = { .t_ns = (int64_t)i * 100000000, .sequence = (uint32_t)(i * per),
						.session = 1, .luma = luma, .faces = faces,
						.face_min = faces ? w : 0, .face_max = faces ? w * 1.2f : 0,
						.face_luma = faces ? face_luma : 0 };
		fw_camcheck_add(c, &s);
	}
}

static json_t *check(struct fw_camcheck *c, struct fw_camcheck_summary *sum,
		     const struct fw_camcheck_setup *su)
{
	fw_camcheck_summarise(c, sum);
	return fw_camcheck_json(su, sum);
}

static int advice_has(json_t *j, const char *needle)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(j, "advice"), i, a)
		if (strstr(json_string_value(a), needle))
			return 1;
	return 0;
}

static void test_good_setup(void **state)
{
	struct fw_camcheck c;
	struct fw_camcheck_summary sum;
	json_t *j;
	(void)state;

	fw_camcheck_init(&c);
	feed(&c, 40, 3, 110, 1, 120, 130);
	j = check(&c, &sum, &setup);
	assert_int_equal(sum.samples, 40);
	assert_float_equal(sum.fps, 30, 0.01);
	assert_float_equal(sum.seconds, 3.9, 1e-9);
	assert_float_equal(sum.face_share, 1, 0);
	assert_float_equal(sum.face_median, 144, 0.01);
	assert_int_equal(json_array_size(json_object_get(j, "advice")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "format")), "MJPEG");
	json_decref(j);
}

static void test_dark_slow_small(void **state)
{
	struct fw_camcheck c;
	struct fw_camcheck_summary sum;
	json_t *j;
	(void)state;

	/* a dark room and dark faces, 12 fps, faces 40-48 px */
	fw_camcheck_init(&c);
	feed(&c, 30, 1, 20, 1, 40, 30);
	j = check(&c, &sum, &setup);
	assert_float_equal(sum.fps, 10, 0.01);
	assert_true(advice_has(j, "too dark"));
	assert_true(advice_has(j, "frames a second, not the 30 asked"));
	assert_true(advice_has(j, "faces too small"));
	json_decref(j);

	/* a lit face in a dark room is fine: the faces' light counts */
	fw_camcheck_init(&c);
	feed(&c, 30, 3, 25, 1, 120, 110);
	j = check(&c, &sum, &setup);
	assert_false(advice_has(j, "too dark"));
	json_decref(j);

	/* no face: the frame's light counts, and doctor says it saw no face */
	fw_camcheck_init(&c);
	feed(&c, 30, 3, 240, 0, 0, 0);
	j = check(&c, &sum, &setup);
	assert_true(advice_has(j, "too bright"));
	assert_true(advice_has(j, "no face seen"));
	assert_true(json_is_null(json_object_get(j, "face_brightness")));
	json_decref(j);
}

static void test_window_and_sessions(void **state)
{
	struct fw_camcheck c;
	struct fw_camcheck_summary sum;
	struct fw_camcheck_setup replay = setup;
	json_t *j;
	(void)state;

	/* only the last FW_CAMCHECK_WINDOW samples count */
	fw_camcheck_init(&c);
	feed(&c, 100, 3, 20, 0, 0, 0);
	feed(&c, FW_CAMCHECK_WINDOW, 3, 120, 1, 100, 120);
	fw_camcheck_summarise(&c, &sum);
	assert_int_equal(sum.samples, FW_CAMCHECK_WINDOW);
	assert_float_equal(sum.luma, 120, 0.01);
	/* the camera reopened within the window: the counter restarted, no rate */
	struct fw_camcheck_sample s = { .t_ns = 9000000000, .sequence = 2, .session = 2, .luma = 120 };
	fw_camcheck_add(&c, &s);
	fw_camcheck_summarise(&c, &sum);
	assert_float_equal(sum.fps, 0, 0);
	/* nothing yet */
	fw_camcheck_init(&c);
	replay.fps_asked = 0;
	j = check(&c, &sum, &replay);
	assert_true(advice_has(j, "no frames analysed yet"));
	assert_true(json_is_null(json_object_get(j, "brightness")));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_setup),
		cmocka_unit_test(test_dark_slow_small),
		cmocka_unit_test(test_window_and_sessions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
