/* The auto detector and the box-shape correction, as a user of the
 * detector stage sees them: the tile plan (how many model runs a frame
 * costs), a face found on a real photo at the right place, no allocation
 * per frame, boxes corrected the same way by every kind (undoable), and a
 * partial install without the full-range model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture/imageio.h"
#include "core/detector.h"
#include "core/fw.h"
#include "testutil.h"

#include "alloc_count.h"

static struct fw_detector *open_kind(enum fw_detector_kind kind)
{
	struct fw_detector *d = NULL;
	const char *file = kind == FW_DETECTOR_FULL ? "blazeface_full.fwm" : "blazeface_short.fwm";

	assert_int_equal(fw_detector_open(&d, tu_models(file), kind, FW_KERNELS_FAST), 0);
	return d;
}

/* 640x480 with tiles of 0.43 * 640 = 275 px: columns (640 - 275) / (0.75 *
 * 275) = 1.77 -> 3, rows (480 - 275) / 206 = 0.99 -> 2: 6 tiles + the whole
 * frame + the full-range pass on it. 1280x720: 550-px tiles, 3 x 2 again. A
 * square frame: 3 x 3 + 2. Half-frame tiles on 640x480: 3 x 2 + 2. No
 * tiles: the whole frame once, short-range only (the daemon's cheap scan).
 * Without the full-range pass: 6 + 1. The other kinds: 1. The cost is
 * 7 short-range runs and one full-range run, which weighs more. */
static void test_tile_plan(void **state)
{
	struct fw_detector *d = open_kind(FW_DETECTOR_AUTO), *s = open_kind(FW_DETECTOR_SHORT),
			   *f = open_kind(FW_DETECTOR_FULL);
	uint64_t short_macs = fw_model_macs(fw_detector_model(s)),
		 full_macs = fw_model_macs(fw_detector_model(f));

	(void)state;
	assert_true(full_macs > 3 * short_macs);
	assert_int_equal(fw_detector_runs(d, 640, 480), 8);
	assert_true(fw_detector_macs(d, 640, 480) == 7 * short_macs + full_macs);
	assert_int_equal(fw_detector_runs(d, 1280, 720), 8);
	assert_int_equal(fw_detector_runs(d, 800, 800), 11);
	assert_int_equal(fw_detector_set_tiling(d, 0.5f, 0.25f), 0);
	assert_int_equal(fw_detector_runs(d, 640, 480), 8);
	assert_int_equal(fw_detector_set_wide(d, 0), 0);
	assert_int_equal(fw_detector_runs(d, 640, 480), 7);
	assert_true(fw_detector_macs(d, 640, 480) == 7 * short_macs);
	assert_int_equal(fw_detector_set_wide(d, 1), 0);
	assert_int_equal(fw_detector_set_tiling(d, 0, 0), 0);
	assert_int_equal(fw_detector_runs(d, 640, 480), 1);
	assert_true(fw_detector_macs(d, 640, 480) == short_macs);
	assert_int_equal(fw_detector_set_tiling(d, 0.1f, 0.25f), FW_EINVAL);
	assert_int_equal(fw_detector_set_tiling(d, 0.5f, 0.9f), FW_EINVAL);
	assert_int_equal(fw_detector_runs(s, 640, 480), 1);
	assert_true(fw_detector_macs(f, 640, 480) == full_macs);
	/* a short-range detector has no full-range model to turn on */
	assert_int_equal(fw_detector_set_wide(s, 1), FW_EINVAL);
	fw_detector_close(d);
	fw_detector_close(s);
	fw_detector_close(f);
}

/* A models folder with the short-range model only (a partial install):
 * the auto detector still opens and finds the face of test_auto_finds_face,
 * without its full-range pass (7 runs on 640x480), and says so. */
static void test_auto_without_full_model(void **state)
{
	char dir[] = "/tmp/fw_test_detect_auto_XXXXXX", link[64];
	struct fw_image img = { 0 };
	struct fw_detection out[16];
	struct fw_detector *d = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(link, sizeof link, "%s/blazeface_short.fwm", dir);
	assert_int_equal(symlink(tu_models("blazeface_short.fwm"), link), 0);
	assert_int_equal(fw_detector_open(&d, link, FW_DETECTOR_AUTO, FW_KERNELS_FAST), 0);
	assert_int_equal(fw_detector_runs(d, 640, 480), 7);
	assert_int_equal(fw_detector_set_wide(d, 1), FW_EINVAL);
	/* no onet.fwm there either: no face check, and it cannot be turned on */
	assert_false(fw_detector_check_on(d));
	assert_int_equal(fw_detector_set_check(d, 1), FW_EINVAL);
	assert_int_equal(fw_imageio_load(tu_shared("data/recognition/images/face_recognition_examples/obama-480p.jpg"),
					 &img), 0);
	assert_true(fw_detector_run(d, &img, out, 16) >= 1);
	fw_image_free(&img);
	fw_detector_close(d);
	unlink(link);
	rmdir(dir);
}

/* Undoing the correction gives the model's square back, and the
 * correction makes it narrower and taller, centred a little higher. */
static void test_box_correction(void **state)
{
	struct fw_detection d = { .x1 = 100, .y1 = 200, .x2 = 180, .y2 = 280, .score = 0.9f };
	float raw[4];

	(void)state;
	fw_detection_correct_box(&d);
	assert_true(d.x2 - d.x1 < 80 && d.y2 - d.y1 > 80);
	assert_true(0.5f * (d.y1 + d.y2) < 240);
	assert_float_equal(0.5f * (d.x1 + d.x2), 140, 1e-4);
	fw_detection_raw_box(&d, raw);
	assert_float_equal(raw[0], 100, 1e-3);
	assert_float_equal(raw[1], 200, 1e-3);
	assert_float_equal(raw[2], 180, 1e-3);
	assert_float_equal(raw[3], 280, 1e-3);
}

/* The face check on obama-480p, on and off: the same face, its score
 * still above the operating one (O-Net is sure of it), a box that moved
 * (O-Net's box is averaged in) but still holds the keypoints, and the
 * model's raw square unchanged (the landmark stage crops from it). Turning
 * it off gives the corrected box back. Scaling to frame pixels scales the
 * raw square too. */
static void test_check(void **state)
{
	struct fw_image img = { 0 };
	struct fw_detection on[16], off[16];
	struct fw_detector *d = open_kind(FW_DETECTOR_SHORT);
	float r_on[4], r_off[4], moved = 0;
	int n_on, n_off;

	(void)state;
	assert_true(fw_detector_check_on(d));
	assert_int_equal(fw_imageio_load(tu_shared("data/recognition/images/face_recognition_examples/obama-480p.jpg"),
					 &img), 0);
	n_on = fw_detector_run(d, &img, on, 16);
	assert_int_equal(fw_detector_set_check(d, 0), 0);
	assert_false(fw_detector_check_on(d));
	n_off = fw_detector_run(d, &img, off, 16);
	assert_int_equal(n_on, 1);
	assert_int_equal(n_off, 1);
	assert_true(on[0].score >= 0.5f);
	fw_detection_raw_box(&on[0], r_on);
	fw_detection_raw_box(&off[0], r_off);
	for (int k = 0; k < 4; k++)
		assert_float_equal(r_on[k], r_off[k], 1e-3);
	moved = fabsf(on[0].x1 - off[0].x1) + fabsf(on[0].y1 - off[0].y1) + fabsf(on[0].x2 - off[0].x2) +
		fabsf(on[0].y2 - off[0].y2);
	assert_true(moved > 1.0f);
	assert_true(fw_detection_iou(&on[0], &off[0]) > 0.6f);
	for (int k = 0; k < 4; k++) {
		assert_true(on[0].kp[k][0] > on[0].x1 && on[0].kp[k][0] < on[0].x2);
		assert_true(on[0].kp[k][1] > on[0].y1 && on[0].kp[k][1] < on[0].y2);
	}
	/* detector pixels to frame pixels */
	fw_detection_scale(&on[0], 2.0f, 3.0f);
	fw_detection_raw_box(&on[0], r_off);
	assert_float_equal(r_off[0], 2 * r_on[0], 1e-2);
	assert_float_equal(r_off[3], 3 * r_on[3], 1e-2);
	assert_float_equal(on[0].kp[0][1], 3 * off[0].kp[0][1], 1e-2);
	assert_int_equal(fw_detector_set_check(d, 1), 0);
	fw_image_free(&img);
	fw_detector_close(d);
}

/* A large photo (obama-480p scaled up 2.5x to 2135 px: its tiles span 918
 * px, so the auto detector shrinks it by 4 first): the same face at the
 * same place as on the original, scaled. */
static void test_auto_large_photo(void **state)
{
	struct fw_image img = { 0 }, big = { 0 };
	struct fw_detection a[16], b[16];
	struct fw_detector *d = open_kind(FW_DETECTOR_AUTO);
	int na, nb;

	(void)state;
	assert_int_equal(fw_imageio_load(tu_shared("data/recognition/images/face_recognition_examples/obama-480p.jpg"),
					 &img), 0);
	assert_int_equal(fw_image_alloc(&big, img.width * 5 / 2, img.height * 5 / 2), 0);
	fw_image_resize(&img, &big);
	na = fw_detector_run(d, &img, a, 16);
	nb = fw_detector_run(d, &big, b, 16);
	assert_int_equal(na, 1);
	assert_int_equal(nb, 1);
	fw_detection_scale(&a[0], (float)big.width / img.width, (float)big.height / img.height);
	assert_true(fw_detection_iou(&a[0], &b[0]) >= 0.85f);
	assert_true(fabsf(a[0].score - b[0].score) < 0.1f);
	/* and again: the grown buffer is reused */
	assert_int_equal(fw_detector_run(d, &big, b, 16), 1);
	fw_image_free(&big);
	fw_image_free(&img);
	fw_detector_close(d);
}

/* obama-480p: the auto detector finds the face the full-range model finds
 * (same box within IoU 0.7), with keypoints inside it; all three kinds
 * return corrected (taller than wide) boxes. */
static void test_auto_finds_face(void **state)
{
	struct fw_image img = { 0 };
	struct fw_detection a[16], f[16], s[16];
	struct fw_detector *da = open_kind(FW_DETECTOR_AUTO), *df = open_kind(FW_DETECTOR_FULL),
			   *ds = open_kind(FW_DETECTOR_SHORT);
	int na, nf, ns;

	(void)state;
	assert_int_equal(fw_imageio_load(tu_shared("data/recognition/images/face_recognition_examples/obama-480p.jpg"),
					 &img), 0);
	na = fw_detector_run(da, &img, a, 16);
	nf = fw_detector_run(df, &img, f, 16);
	ns = fw_detector_run(ds, &img, s, 16);
	assert_true(na >= 1 && nf >= 1 && ns >= 1);
	assert_true(fw_detection_iou(&a[0], &f[0]) >= 0.7f);
	for (int k = 0; k < 4; k++) {
		assert_true(a[0].kp[k][0] > a[0].x1 && a[0].kp[k][0] < a[0].x2);
		assert_true(a[0].kp[k][1] > a[0].y1 && a[0].kp[k][1] < a[0].y2);
	}
	assert_true(a[0].y2 - a[0].y1 > a[0].x2 - a[0].x1);
	assert_true(f[0].y2 - f[0].y1 > f[0].x2 - f[0].x1);
	assert_true(s[0].y2 - s[0].y1 > s[0].x2 - s[0].x1);
	fw_image_free(&img);
	fw_detector_close(da);
	fw_detector_close(df);
	fw_detector_close(ds);
}

/* obama-480p (face 111 px wide) shrunk by 2/3 (74 px) into a grey 960x720
 * frame at (300, 300): the face spans x 559..633, y 324..425. */
static void small_face_frame(struct fw_image *frame)
{
	struct fw_image src = { 0 }, small;

	assert_int_equal(fw_imageio_load(tu_shared("data/recognition/images/face_recognition_examples/obama-480p.jpg"),
					 &src), 0);
	assert_int_equal(fw_image_alloc(&small, 569, 320), 0);
	fw_image_resize(&src, &small);
	assert_int_equal(fw_image_alloc(frame, 960, 720), 0);
	memset(frame->data, 90, (size_t)frame->stride * frame->height);
	for (int y = 0; y < small.height; y++)
		memcpy(frame->data + (size_t)(300 + y) * frame->stride + 3 * 300,
		       small.data + (size_t)y * small.stride, 3 * (size_t)small.width);
	fw_image_free(&src);
	fw_image_free(&small);
}

/* A face too small for the whole-frame run is found by the tiles:
 * obama-480p (face 111 px wide) shrunk by 2/3 (74 px) into a 960x720 frame
 * at (300, 300): 7.7 % of the frame width, the far end of the desk range.
 * Letterboxed whole to 128 it is 10 px, below the short model's reach; in
 * a 413-px tile scaled to 128 it is 23 px. */
static void test_auto_small_face(void **state)
{
	struct fw_image frame;
	struct fw_detection out[16];
	struct fw_detector *da = open_kind(FW_DETECTOR_AUTO), *ds = open_kind(FW_DETECTOR_SHORT);
	int na, ns, hit = 0;

	(void)state;
	small_face_frame(&frame);
	ns = fw_detector_run(ds, &frame, out, 16);
	assert_int_equal(ns, 0);
	na = fw_detector_run(da, &frame, out, 16);
	/* the face: x 559..633, y 324..425 in the frame */
	for (int i = 0; i < na; i++) {
		struct fw_detection face = { .x1 = 559, .y1 = 324, .x2 = 633, .y2 = 425 };
		if (fw_detection_iou(&out[i], &face) >= 0.5f)
			hit = 1;
	}
	assert_true(hit);
	fw_image_free(&frame);
	fw_detector_close(da);
	fw_detector_close(ds);
}

/* Following a tracked face: one model run on a square around it finds the
 * face the whole frame finds (same box within IoU 0.8, on the same image
 * coordinates), a region away from the face finds nothing, two regions
 * over the same face give one detection, and a short-range detector can
 * follow a face in a region that its whole-frame run is too coarse for
 * (the small face of test_auto_small_face). */
static void test_regions(void **state)
{
	struct fw_image img = { 0 }, frame;
	struct fw_detection whole[16], out[16];
	struct fw_detector *ds = open_kind(FW_DETECTOR_SHORT);
	int nw, n;

	(void)state;
	assert_int_equal(fw_imageio_load(tu_shared("data/recognition/images/face_recognition_examples/obama-480p.jpg"),
					 &img), 0);
	nw = fw_detector_run(ds, &img, whole, 16);
	assert_true(nw >= 1);
	{
		float w = whole[0].x2 - whole[0].x1, cx = (whole[0].x1 + whole[0].x2) / 2,
		      cy = (whole[0].y1 + whole[0].y2) / 2;
		int side = (int)(2.4f * w);
		const int around[2][4] = {
			{ (int)(cx - side / 2), (int)(cy - side / 2), side, side },
			{ (int)(cx - side / 2) + 10, (int)(cy - side / 2) - 5, side, side },
		};
		const int away[1][4] = { { 0, 0, 60, 60 } };

		n = fw_detector_run_regions(ds, &img, around, 1, out, 16);
		assert_int_equal(n, 1);
		assert_true(fw_detection_iou(&out[0], &whole[0]) >= 0.8f);
		/* corrected like fw_detector_run's: taller than wide */
		assert_true(out[0].y2 - out[0].y1 > out[0].x2 - out[0].x1);
		n = fw_detector_run_regions(ds, &img, around, 2, out, 16);
		assert_int_equal(n, 1);
		assert_int_equal(fw_detector_run_regions(ds, &img, away, 1, out, 16), 0);
		assert_int_equal(fw_detector_run_regions(ds, &img, around, FW_DETECTOR_MAX_REGIONS + 1,
							 out, 16), FW_EINVAL);
	}
	/* the 74-px face in a 960x720 frame of test_auto_small_face */
	small_face_frame(&frame);
	assert_int_equal(fw_detector_run(ds, &frame, out, 16), 0);
	{
		const int r[1][4] = { { 596 - 120, 375 - 120, 240, 240 } };
		struct fw_detection face = { .x1 = 559, .y1 = 324, .x2 = 633, .y2 = 425 };
		n = fw_detector_run_regions(ds, &frame, r, 1, out, 16);
		assert_int_equal(n, 1);
		assert_true(fw_detection_iou(&out[0], &face) >= 0.5f);
	}
	fw_image_free(&img);
	fw_image_free(&frame);
	fw_detector_close(ds);
}

/* The tiles one at a time (as the daemon spreads them over frames while
 * someone is tracked): fw_detector_tiles() lists the grid fw_detector_run()
 * runs (its count is the runs beside the whole frame), and run as regions,
 * one per call, the tile over the small face of test_auto_small_face finds
 * it where the whole frame alone does not. */
static void test_tiles_one_at_a_time(void **state)
{
	struct fw_image frame;
	struct fw_detection out[16];
	struct fw_detection face = { .x1 = 559, .y1 = 324, .x2 = 633, .y2 = 425 };
	struct fw_detector *da = open_kind(FW_DETECTOR_AUTO), *ds = open_kind(FW_DETECTOR_SHORT);
	int tiles[25][4], n, found = 0;

	(void)state;
	small_face_frame(&frame);
	assert_int_equal(fw_detector_set_wide(da, 0), 0);
	n = fw_detector_tiles(da, frame.width, frame.height, tiles, 25);
	assert_int_equal(n, fw_detector_runs(da, frame.width, frame.height) - 1);
	assert_int_equal(fw_detector_tiles(da, frame.width, frame.height, NULL, 25), n);
	assert_int_equal(fw_detector_tiles(ds, frame.width, frame.height, tiles, 25), 0);
	assert_int_equal(fw_detector_tiles(da, frame.width, frame.height, tiles, 2), 2);
	n = fw_detector_tiles(da, frame.width, frame.height, tiles, 25);
	for (int t = 0; t < n; t++) {
		int k;
		/* inside the frame, and together covering it */
		assert_true(tiles[t][0] >= 0 && tiles[t][1] >= 0);
		assert_true(tiles[t][0] + tiles[t][2] <= frame.width);
		assert_true(tiles[t][1] + tiles[t][3] <= frame.height);
		k = fw_detector_run_regions(da, &frame, (const int(*)[4])tiles[t], 1, out, 16);
		for (int i = 0; i < k; i++)
			found += fw_detection_iou(&out[i], &face) >= 0.5f;
	}
	assert_true(found >= 1);
	assert_int_equal(tiles[n - 1][0] + tiles[n - 1][2], frame.width);
	assert_int_equal(tiles[n - 1][1] + tiles[n - 1][3], frame.height);
	fw_image_free(&frame);
	fw_detector_close(da);
	fw_detector_close(ds);
}

static void test_auto_does_not_allocate(void **state)
{
	struct fw_detector *d;
	struct fw_detection out[16];
	struct fw_image img;

	(void)state;
#ifdef FW_NO_INTERPOSE
	skip(); /* before anything is allocated: a skip ends the test here */
#endif
	d = open_kind(FW_DETECTOR_AUTO);
	assert_int_equal(fw_image_alloc(&img, 640, 480), 0);
	for (size_t i = 0; i < (size_t)img.stride * img.height; i++)
		img.data[i] = (uint8_t)tu_randi(0, 255);
	fw_detector_set_threshold(d, 0.05f); /* many candidates to merge */
	assert_true(fw_detector_run(d, &img, out, 16) >= 0);
	tu_allocations = 0;
	tu_counting = 1;
	for (int r = 0; r < 20; r++)
		fw_detector_run(d, &img, out, 16);
	tu_counting = 0;
	assert_int_equal(tu_allocations, 0);
	fw_detector_close(d);
	fw_image_free(&img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tile_plan),
		cmocka_unit_test(test_auto_without_full_model),
		cmocka_unit_test(test_box_correction),
		cmocka_unit_test(test_auto_finds_face),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_auto_large_photo),
		cmocka_unit_test(test_auto_small_face),
		cmocka_unit_test(test_regions),
		cmocka_unit_test(test_tiles_one_at_a_time),
		cmocka_unit_test(test_auto_does_not_allocate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
