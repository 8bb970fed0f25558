/* The daemon's attention stage as the daemon drives it: the config keys
 * (landmarks68 = on|off and attention_*, with clear refusals), the rate
 * limit (a face at 25 frames/s with attention_rate_hz 5 gets the landmark
 * net every 200 ms, not every frame), points and pose on a real face, and
 * no allocation per frame. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "capture/imageio.h"
#include "core/fw.h"
#include "daemon/attend.h"
#include "daemon/config.h"
#include "testutil.h"

static void test_config_keys(void **state)
{
	struct fw_config c;
	const char *why = NULL;

	(void)state;
	fw_config_defaults(&c);
	assert_int_equal(c.landmarks68, 0); /* off unless asked for */
	assert_true(c.attention_rate_hz == 5.0f);
	assert_int_equal(fw_config_set(&c, "landmarks68", "on", &why), 0);
	assert_int_equal(c.landmarks68, 1);
	assert_int_equal(fw_config_set(&c, "attention_rate_hz", "2.5", &why), 0);
	assert_true(c.attention_rate_hz == 2.5f);
	assert_int_equal(fw_config_set(&c, "attention_yaw_deg", "30", &why), 0);
	assert_int_equal(fw_config_set(&c, "attention_pitch_deg", "15", &why), 0);
	assert_int_equal(fw_config_set(&c, "attention_away_ms", "2000", &why), 0);
	assert_int_equal(fw_config_set(&c, "attention_back_ms", "250", &why), 0);
	assert_int_equal(fw_config_set(&c, "attention_smooth_ms", "0", &why), 0);
	assert_true(c.attention.yaw_deg == 30.0f && c.attention.pitch_deg == 15.0f);
	assert_int_equal(c.attention.away_ms, 2000);
	assert_int_equal(c.attention.back_ms, 250);
	assert_int_equal(c.attention.smooth_ms, 0);

	assert_int_equal(fw_config_set(&c, "landmarks68", "yes", &why), -1);
	assert_string_equal(why, "expects on or off");
	assert_int_equal(fw_config_set(&c, "attention_rate_hz", "0", &why), -1);
	assert_non_null(strstr(why, "runs per second"));
	assert_int_equal(fw_config_set(&c, "attention_yaw_deg", "120", &why), -1);
	assert_non_null(strstr(why, "degrees"));
	assert_int_equal(fw_config_set(&c, "attention_away_ms", "-1", &why), -1);
	assert_non_null(strstr(why, "milliseconds"));
	assert_int_equal(fw_config_set(&c, "attention_nonsense", "1", &why), -1);
	assert_string_equal(why, "unknown key");
	/* refusals changed nothing */
	assert_int_equal(c.landmarks68, 1);
	assert_true(c.attention_rate_hz == 2.5f && c.attention.yaw_deg == 30.0f);
}

/* One confirmed track over the lower face of 2008_001009.jpg (the detector's
 * box there, rounded). */
static struct fw_track track_on_face(void)
{
	struct fw_track t;

	memset(&t, 0, sizeof t);
	t.id = 5;
	t.state = FW_TRACK_ACTIVE;
	t.det_index = 0;
	t.identity = 2;
	t.det.x1 = 138, t.det.y1 = 208, t.det.x2 = 211, t.det.y2 = 305;
	memcpy(t.box, &t.det.x1, sizeof t.box);
	return t;
}

static void test_rate_points_and_no_allocation(void **state)
{
	struct fw_attention_config ac;
	struct fw_attend *a;
	struct fw_image img = { 0 };
	struct fw_attention_event ev[3 * FW_ATTENTION_MAX_TRACKS];
	struct fw_track t = track_on_face();
	struct fw_model_options mo = { .tier = FW_KERNELS_FAST };
	float pts[FW_LM68_POINTS][2];
	struct fw_pose pose;
	int looking, runs = 0;

	(void)state;
	fw_attention_config_default(&ac);
	assert_int_equal(fw_imageio_load(tu_shared("data/detection/dlib_pascal_faces/images/"
						   "2008_001009.jpg"), &img), 0);
	assert_int_equal(fw_attend_open(&a, tu_models("landmarks68.fwm"), &mo, &ac, 5.0f, 8), 0);
	assert_int_equal(fw_attend_face(a, t.id, pts, &pose, &looking), FW_EINVAL);
	/* tentative tracks are not looked at */
	t.state = FW_TRACK_TENTATIVE;
	assert_int_equal(fw_attend_due(a, 0, &t, 1), 0);
	t.state = FW_TRACK_ACTIVE;

	/* 25 frames/s for 2 s: landmark runs at 0, 200, ..., 1800 ms */
#ifndef FW_NO_INTERPOSE
	tu_allocations = 0;
	tu_counting = 1;
#endif
	for (int64_t now = 0; now < 2000; now += 40) {
		int due = fw_attend_due(a, now, &t, 1);

		runs += due;
		assert_int_equal(due, now % 200 == 0);
		assert_true(fw_attend_frame(a, due ? &img : NULL, 1.0f, img.width, img.height, now,
					    &t, 1, ev, 3 * FW_ATTENTION_MAX_TRACKS) >= 0);
	}
#ifndef FW_NO_INTERPOSE
	tu_counting = 0;
	assert_int_equal(tu_allocations, 0);
#endif
	assert_int_equal(runs, 10);

	/* the points are on the face: eyes above the nose above the mouth,
	 * inside the box */
	assert_int_equal(fw_attend_face(a, t.id, pts, &pose, &looking), 0);
	for (int k = 0; k < FW_LM68_POINTS; k++) {
		assert_true(pts[k][0] > t.det.x1 - 10 && pts[k][0] < t.det.x2 + 10);
		assert_true(pts[k][1] > t.det.y1 - 10 && pts[k][1] < t.det.y2 + 10);
	}
	assert_true(pts[FW_LM68_EYE_L_OUTER][1] < pts[FW_LM68_NOSE_TIP][1]);
	assert_true(pts[FW_LM68_NOSE_TIP][1] < pts[FW_LM68_MOUTH_L][1]);
	assert_true(pts[FW_LM68_EYE_L_OUTER][0] < pts[FW_LM68_EYE_R_OUTER][0]);
	/* a near-frontal face (yaw -17, roll -15 from facectl eval pose) looking
	 * at the camera: LOOKING after back_ms */
	assert_true(fabsf(pose.yaw) < 25 && fabsf(pose.pitch) < 20);
	assert_int_equal(looking, 1);

	/* the track ends: forgotten */
	assert_true(fw_attend_frame(a, NULL, 1.0f, img.width, img.height, 2100, NULL, 0, ev,
				    3 * FW_ATTENTION_MAX_TRACKS) >= 0);
	assert_int_equal(fw_attend_face(a, t.id, pts, &pose, &looking), FW_EINVAL);
	fw_attend_close(a);
	fw_image_free(&img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_rate_points_and_no_allocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
