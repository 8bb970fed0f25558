/* The scan plan (core/scan.h) on made-up frame sequences: what a desk
 * owner pays for is the whole-frame scan, so it must happen when a face
 * could be missed (nobody tracked, a newcomer due, a new frame size) and
 * not otherwise; a still scene costs nothing until it is due a re-check;
 * a tracked face is followed in a region that holds it, inside the image. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fw.h"
#include "core/scan.h"

#define W 320
#define H 240

static uint8_t pixels[H][W][3];
static struct fw_image img = { W, H, 3 * W, &pixels[0][0][0] };

/* a flat grey frame with a bright square at (x, y) */
static void draw(int x, int y, int side)
{
	memset(pixels, 80, sizeof pixels);
	for (int r = y; r < y + side && r < H; r++)
		for (int c = x; c < x + side && c < W; c++)
			pixels[r][c][0] = pixels[r][c][1] = pixels[r][c][2] = 220;
}

static struct fw_track track_at(float x1, float y1, float x2, float y2)
{
	struct fw_track t;

	memset(&t, 0, sizeof t);
	t.id = 1;
	t.state = FW_TRACK_ACTIVE;
	t.box[0] = x1, t.box[1] = y1, t.box[2] = x2, t.box[3] = y2;
	return t;
}

static struct fw_scan s;
static struct fw_scan_config cfg;

/* One frame through both steps, as the daemon does: the frame is the
 * image scaled up by 1/k (the detector sees a k-scaled decode). */
static void plan(int64_t t, const struct fw_image *im, const struct fw_track *tracks, int nt,
		 float k, struct fw_scan_plan *p)
{
	fw_scan_plan(&s, t, im, (int)(im->width / k), (int)(im->height / k), nt, p);
	fw_scan_regions(&s, im, tracks, nt, k, p);
}

static int setup(void **state)
{
	(void)state;
	fw_scan_config_default(&cfg);
	fw_scan_init(&s, &cfg);
	draw(100, 80, 40);
	return 0;
}

/* Nobody there, nothing moving: one full scan, then nothing until the
 * still scene is due a re-check (still_ms), then a full scan again. Tiles
 * on every other full scan while nobody is tracked. */
static void test_empty_still_scene(void **state)
{
	struct fw_scan_plan p;

	(void)state;
	plan(0, &img, NULL, 0, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL);
	assert_true(p.tiles);
	for (int64_t t = 100; t < 1000; t += 100) {
		plan(t, &img, NULL, 0, 1.0f, &p);
		assert_int_equal(p.kind, FW_SCAN_STILL);
		assert_true(p.diff < 0.01f);
	}
	plan(1000, &img, NULL, 0, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL);
	assert_false(p.tiles);
	plan(1100, &img, NULL, 0, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_STILL);
	assert_int_equal(s.stats.full, 2);
	assert_int_equal(s.stats.still, 10);
}

/* Someone walks in: the scene changes, so every frame is scanned whole
 * while nobody is tracked yet. */
static void test_motion_without_tracks(void **state)
{
	struct fw_scan_plan p;

	(void)state;
	plan(0, &img, NULL, 0, 1.0f, &p);
	for (int i = 1; i <= 5; i++) {
		draw(100 + 12 * i, 80, 40);
		plan(100 * i, &img, NULL, 0, 1.0f, &p);
		assert_int_equal(p.kind, FW_SCAN_FULL);
		assert_true(p.diff >= cfg.still_diff);
	}
	/* tiles alternate: full scans 1, 3, 5 had them */
	assert_int_equal(s.stats.full, 6);
}

/* A tracked face that moves is followed in one square of region_scale face
 * sides around its box (frame pixels scaled by img_per_frame_px into the
 * decoded image), until full_ms has passed since the last full scan. */
static void test_tracked_face_regions(void **state)
{
	struct fw_scan_plan p;
	/* the frame is 640x480, the image the detector sees 320x240 */
	struct fw_track t = track_at(200, 160, 280, 240); /* 80 px -> 40 px */

	(void)state;
	plan(0, &img, &t, 1, 0.5f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL); /* no reference yet */
	for (int i = 1; i <= 9; i++) {
		draw(100 + 5 * i, 80, 40);
		plan(100 * i, &img, &t, 1, 0.5f, &p);
		assert_int_equal(p.kind, FW_SCAN_REGIONS);
		assert_int_equal(p.n, 1);
		/* 2.4 x 40 = 96 px, centred on (120, 100) */
		assert_int_equal(p.rects[0][2], 96);
		assert_int_equal(p.rects[0][3], 96);
		assert_int_equal(p.rects[0][0], 72);
		assert_int_equal(p.rects[0][1], 52);
	}
	draw(200, 80, 40);
	plan(1000, &img, &t, 1, 0.5f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL); /* a newcomer is due its chance */
	assert_true(p.tiles);
	assert_int_equal(s.stats.regions, 9);
}

/* A face at the edge: the region is moved inside the image, not cut; a
 * face bigger than the image gets the whole image. */
static void test_region_inside_image(void **state)
{
	struct fw_scan_plan p;
	struct fw_track t[2] = { track_at(0, 200, 40, 240), track_at(-50, -50, 400, 400) };

	(void)state;
	plan(0, &img, t, 1, 1.0f, &p);
	draw(10, 10, 30);
	plan(100, &img, t, 2, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_REGIONS);
	assert_int_equal(p.n, 2);
	for (int i = 0; i < 2; i++) {
		assert_true(p.rects[i][0] >= 0 && p.rects[i][1] >= 0);
		assert_true(p.rects[i][0] + p.rects[i][2] <= W);
		assert_true(p.rects[i][1] + p.rects[i][3] <= H);
	}
	assert_int_equal(p.rects[0][2], 96);
	assert_int_equal(p.rects[0][1], H - 96);
	assert_int_equal(p.rects[1][2], H);
}

/* A tracked face sitting still costs nothing between re-checks; a new
 * frame size (the camera came back at another resolution) is a full scan;
 * scan_regions = 0 and still_ms = 0 give the old behaviour (every frame
 * whole). */
static void test_still_face_size_change_and_off(void **state)
{
	struct fw_scan_plan p;
	struct fw_track t = track_at(100, 80, 140, 120);
	uint8_t other[120][160][3];
	struct fw_image half = { 160, 120, 3 * 160, &other[0][0][0] };

	(void)state;
	plan(0, &img, &t, 1, 1.0f, &p);
	for (int64_t ms = 100; ms < 1000; ms += 100) {
		plan(ms, &img, &t, 1, 1.0f, &p);
		assert_int_equal(p.kind, FW_SCAN_STILL);
	}
	/* the re-check of a still face is a region around it, not the whole
	 * frame: the newcomer clock stood still with the scene */
	plan(1000, &img, &t, 1, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_REGIONS);
	plan(1100, &img, &t, 1, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_STILL);
	assert_int_equal(s.stats.full, 1);
	memset(other, 80, sizeof other);
	plan(200, &half, &t, 1, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL);

	cfg.regions = 0;
	cfg.still_ms = 0;
	fw_scan_init(&s, &cfg);
	for (int i = 0; i < 5; i++) {
		plan(100 * i, &img, &t, 1, 1.0f, &p);
		assert_int_equal(p.kind, FW_SCAN_FULL);
	}
}

/* Sensor noise of a few grey levels per pixel averages out in the
 * thumbnail: not motion. */
static void test_noise_is_still(void **state)
{
	struct fw_scan_plan p;

	(void)state;
	plan(0, &img, NULL, 0, 1.0f, &p);
	srand(7);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			for (int c = 0; c < 3; c++)
				pixels[y][x][c] = (uint8_t)(pixels[y][x][c] + rand() % 9 - 4);
	plan(100, &img, NULL, 0, 1.0f, &p);
	assert_int_equal(p.kind, FW_SCAN_STILL);
	assert_true(p.diff < cfg.still_diff);
}

/* After a still frame the daemon looks through a 1/8 decode: the same
 * scene at 1/8 of the size is still (the thumbnail's cells are box means
 * either way), and a face moving in it is not. */
static void test_eighth_scale_look(void **state)
{
	struct fw_scan_plan p;
	uint8_t tiny[H / 8][W / 8][3];
	struct fw_image look = { W / 8, H / 8, 3 * (W / 8), &tiny[0][0][0] };

	(void)state;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			for (int c = 0; c < 3; c++)
				pixels[y][x][c] = (uint8_t)(60 + (x * 7 + y * 3 + c * 40) % 120);
	fw_scan_plan(&s, 0, &img, W, H, 0, &p);
	fw_image_resize(&img, &look);
	fw_scan_plan(&s, 100, &look, W, H, 0, &p);
	assert_int_equal(p.kind, FW_SCAN_STILL);
	draw(100, 80, 40);
	fw_image_resize(&img, &look);
	fw_scan_plan(&s, 200, &look, W, H, 0, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL);
}

/* Before each plan the daemon asks whether it will look in regions, to
 * decode at the regions' scale: the answer matches the plan on a sequence
 * with every case (no reference, a tracked face moving, still frames, a
 * newcomer scan due, nobody tracked, a new frame size). */
static void test_regions_next_predicts_the_plan(void **state)
{
	struct fw_scan_plan p;
	struct fw_track t = track_at(200, 160, 280, 240);
	int kinds[3] = { 0 };

	(void)state;
	for (int i = 0; i < 60; i++) {
		int64_t now = 100 * i;
		int nt = i >= 40 && i < 45 ? 0 : 1;
		const struct fw_image *im = &img;
		bool next;

		if (i % 7 < 4) /* moving for four frames of seven, then still */
			draw(100 + 3 * (i % 7), 80, 40);
		if (i == 50) { /* a new frame size: half the image as the frame */
			static struct fw_image half = { W / 2, H / 2, 3 * W, &pixels[0][0][0] };
			im = &half;
		}
		next = fw_scan_regions_next(&s, now, (int)(im->width / 0.5f), (int)(im->height / 0.5f), nt);
		plan(now, im, &t, nt, 0.5f, &p);
		kinds[p.kind]++;
		if (p.kind != FW_SCAN_STILL && next != (p.kind == FW_SCAN_REGIONS))
			fail_msg("frame %d: regions_next %d, plan %d", i, next, p.kind);
	}
	assert_true(kinds[FW_SCAN_FULL] >= 5 && kinds[FW_SCAN_REGIONS] >= 10 &&
		    kinds[FW_SCAN_STILL] >= 10);
}

/* The decode scale for regions: each region (2.4 face sides) keeps the
 * model's 128 px across. 80 px faces: 192 px regions, only at full size;
 * 120 px: 288 -> 144 at 1/2; 300 px: 720 -> 180 at 1/4; a huge face stops
 * at 1/8; the smallest face decides; never below the caller's scale. */
static void test_regions_denom(void **state)
{
	struct fw_track t[2] = { track_at(0, 0, 80, 80), track_at(0, 0, 300, 300) };
	struct fw_track big = track_at(0, 0, 2000, 2000);

	(void)state;
	assert_int_equal(fw_scan_regions_denom(&s, &t[0], 1, 128, 1), 1);
	assert_int_equal(fw_scan_regions_denom(&s, &t[1], 1, 128, 1), 4);
	assert_int_equal(fw_scan_regions_denom(&s, t, 2, 128, 1), 1);
	t[0] = track_at(0, 0, 120, 100);
	assert_int_equal(fw_scan_regions_denom(&s, t, 2, 128, 1), 2);
	assert_int_equal(fw_scan_regions_denom(&s, &big, 1, 128, 1), 8);
	assert_int_equal(fw_scan_regions_denom(&s, &t[0], 1, 128, 4), 4);
	assert_int_equal(fw_scan_regions_denom(&s, t, 0, 128, 2), 2);
}

/* Someone tracked, the auto detector's six tiles: the full scan runs the
 * whole frame alone and each of the next six region frames carries one
 * tile beside the region, in order; the next full scan waits for the last
 * tile even when full_ms has passed; while a tile is due, the regions'
 * decode stays at the full scan's scale. A still frame hands out no tile.
 * Nobody tracked: the tiles go with the full scan, as before. With
 * spread_tiles off, all six go with every full scan. */
static void test_spread_tiles(void **state)
{
	struct fw_scan_plan p;
	struct fw_track t = track_at(200, 160, 280, 240), big = track_at(0, 0, 600, 600);
	int64_t now = 0;

	(void)state;
	fw_scan_set_tiles(&s, 6);
	plan(now, &img, &t, 1, 0.5f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL);
	assert_false(p.tiles);
	assert_int_equal(p.tile, -1);
	for (int k = 0; k < 6; k++) {
		now += 300; /* 1.8 s for the six: past full_ms */
		draw(100 + 5 * (k + 1), 80, 40);
		assert_int_equal(fw_scan_regions_denom(&s, &big, 1, 128, 1), 1);
		assert_true(fw_scan_regions_next(&s, now, 640, 480, 1));
		plan(now, &img, &t, 1, 0.5f, &p);
		assert_int_equal(p.kind, FW_SCAN_REGIONS);
		assert_int_equal(p.tile, k);
		assert_int_equal(p.n, 1);
		if (k == 2) { /* a still frame between: no tile, the next one waits */
			now += 100;
			plan(now, &img, &t, 1, 0.5f, &p);
			assert_int_equal(p.kind, FW_SCAN_STILL);
			assert_int_equal(p.tile, -1);
		}
	}
	/* all handed out: the regions decode coarser again, and the overdue
	 * full scan comes next */
	assert_int_equal(fw_scan_regions_denom(&s, &big, 1, 128, 1), 8);
	now += 100;
	draw(150, 80, 40);
	assert_false(fw_scan_regions_next(&s, now, 640, 480, 1));
	plan(now, &img, &t, 1, 0.5f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL);
	assert_false(p.tiles);
	/* the track lost before its tiles ran: nobody tracked, tiles with the
	 * full scan, none handed out after it */
	now += 1000;
	draw(160, 80, 40);
	plan(now, &img, NULL, 0, 0.5f, &p);
	assert_int_equal(p.kind, FW_SCAN_FULL);
	assert_true(p.tiles);
	draw(170, 80, 40);
	plan(now + 100, &img, &t, 1, 0.5f, &p);
	assert_int_equal(p.kind, FW_SCAN_REGIONS);
	assert_int_equal(p.tile, -1);
	/* spread_tiles off: the full scan takes all of them */
	cfg.spread_tiles = 0;
	fw_scan_init(&s, &cfg);
	fw_scan_set_tiles(&s, 6);
	plan(0, &img, &t, 1, 0.5f, &p);
	assert_true(p.tiles);
	draw(180, 80, 40);
	plan(100, &img, &t, 1, 0.5f, &p);
	assert_int_equal(p.kind, FW_SCAN_REGIONS);
	assert_int_equal(p.tile, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_still_scene, setup),
		cmocka_unit_test_setup(test_motion_without_tracks, setup),
		cmocka_unit_test_setup(test_tracked_face_regions, setup),
		cmocka_unit_test_setup(test_region_inside_image, setup),
		cmocka_unit_test_setup(test_still_face_size_change_and_off, setup),
		cmocka_unit_test_setup(test_noise_is_still, setup),
		cmocka_unit_test_setup(test_eighth_scale_look, setup),
		cmocka_unit_test_setup(test_regions_next_predicts_the_plan, setup),
		cmocka_unit_test_setup(test_regions_denom, setup),
		cmocka_unit_test_setup(test_spread_tiles, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
