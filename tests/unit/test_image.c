/* Image maths: resize (area when shrinking, bilinear when enlarging),
 * letterbox geometry and pixels against the reference goldens, affine warp
 * against the golden aligned crops, and drawing that never leaves the image. */
#include <limits.h>
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
#include <jansson.h>

#include "capture/imageio.h"
#include "core/fw.h"
#include "core/image.h"
#include "testutil.h"

static uint8_t *px(const struct fw_image *img, int x, int y)
{
	return img->data + (size_t)y * (size_t)img->stride + 3 * (size_t)x;
}

static void fill_random(struct fw_image *img)
{
	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < 3 * img->width; x++)
			img->data[(size_t)y * (size_t)img->stride + (size_t)x] = (uint8_t)tu_randi(0, 255);
}

/* Largest |a - b| over all channels, and the number of values that differ. */
static int image_diff(const struct fw_image *a, const struct fw_image *b, long *ndiff,
		      double *mean)
{
	int m = 0;
	long n = 0;
	double sum = 0;

	assert_int_equal(a->width, b->width);
	assert_int_equal(a->height, b->height);
	for (int y = 0; y < a->height; y++)
		for (int x = 0; x < 3 * a->width; x++) {
			int d = abs(px(a, 0, y)[x] - px(b, 0, y)[x]);
			m = d > m ? d : m;
			n += d != 0;
			sum += d;
		}
	if (ndiff)
		*ndiff = n;
	if (mean)
		*mean = sum / (3.0 * a->width * a->height);
	return m;
}

/* --- resize ------------------------------------------------------------- */

static void test_resize_constant(void **state)
{
	(void)state;
	/* shrink by integer and fractional factors, enlarge, and mixed */
	static const int sizes[][4] = {
		{ 64, 48, 32, 24 }, { 853, 480, 128, 72 }, { 37, 23, 5, 7 }, { 10, 10, 33, 17 },
		{ 100, 7, 13, 40 }, { 3, 3, 1, 1 },       { 1, 1, 9, 4 },
	};

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct fw_image src, dst;

		assert_int_equal(fw_image_alloc(&src, sizes[i][0], sizes[i][1]), 0);
		assert_int_equal(fw_image_alloc(&dst, sizes[i][2], sizes[i][3]), 0);
		for (int y = 0; y < src.height; y++)
			for (int x = 0; x < src.width; x++) {
				px(&src, x, y)[0] = 200;
				px(&src, x, y)[1] = 17;
				px(&src, x, y)[2] = 255;
			}
		fw_image_resize(&src, &dst);
		for (int y = 0; y < dst.height; y++)
			for (int x = 0; x < dst.width; x++) {
				assert_int_equal(px(&dst, x, y)[0], 200);
				assert_int_equal(px(&dst, x, y)[1], 17);
				assert_int_equal(px(&dst, x, y)[2], 255);
			}
		fw_image_free(&src);
		fw_image_free(&dst);
	}
}

static void set_grey(struct fw_image *img, int x, int y, int v)
{
	px(img, x, y)[0] = (uint8_t)v;
	px(img, x, y)[1] = (uint8_t)(255 - v);
	px(img, x, y)[2] = (uint8_t)(v + 20);
}

static void assert_grey(const struct fw_image *img, int x, int y, int v)
{
	assert_int_equal(px(img, x, y)[0], v);
	assert_int_equal(px(img, x, y)[1], 255 - v);
	assert_int_equal(px(img, x, y)[2], v + 20);
}

static void test_resize_area_2x(void **state)
{
	(void)state;
	/* 4x4 -> 2x2: each output is the mean of a 2x2 block */
	static const int v[4][4] = {
		{ 0, 4, 100, 104 },
		{ 16, 20, 120, 124 },
		{ 200, 210, 8, 8 },
		{ 220, 230, 8, 8 },
	};
	struct fw_image src, dst;

	assert_int_equal(fw_image_alloc(&src, 4, 4), 0);
	assert_int_equal(fw_image_alloc(&dst, 2, 2), 0);
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++)
			set_grey(&src, x, y, v[y][x]);
	fw_image_resize(&src, &dst);
	assert_grey(&dst, 0, 0, 10);  /* (0+4+16+20)/4 */
	assert_grey(&dst, 1, 0, 112); /* (100+104+120+124)/4 */
	assert_grey(&dst, 0, 1, 215); /* (200+210+220+230)/4 */
	assert_grey(&dst, 1, 1, 8);
	fw_image_free(&src);
	fw_image_free(&dst);
}

/* fw_image_shrink: each output pixel is its block's rounded mean, the size
 * that of a JPEG decoded at 1/factor (rounded up), ragged edges averaged
 * over the pixels they have; it agrees with the area resize on whole
 * blocks, and refuses what it cannot do. */
static void test_shrink(void **state)
{
	static const int sizes[][2] = { { 16, 8 }, { 17, 9 }, { 641, 361 }, { 1100, 7 } };
	static uint8_t out[1100 * 361 * 3];
	struct fw_image src, got, want;

	(void)state;
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		const int w = sizes[s][0], h = sizes[s][1];
		assert_int_equal(fw_image_alloc(&src, w, h), 0);
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				for (int c = 0; c < 3; c++)
					src.data[(size_t)y * src.stride + 3 * x + c] =
						(uint8_t)((x * 37 + y * 101 + c * 53 + x * y) % 256);
		for (int f = 1; f <= 8; f *= 2) {
			const int ow = (w + f - 1) / f, oh = (h + f - 1) / f;
			got.data = out;
			assert_int_equal(fw_image_shrink(&src, f, &got, sizeof out), 0);
			assert_int_equal(got.width, ow);
			assert_int_equal(got.height, oh);
			assert_int_equal(got.stride, 3 * ow);
			/* against the definition, pixel by pixel */
			for (int oy = 0; oy < oh; oy++)
				for (int ox = 0; ox < ow; ox++)
					for (int c = 0; c < 3; c++) {
						unsigned sum = 0, n = 0;
						for (int y = oy * f; y < oy * f + f && y < h; y++)
							for (int x = ox * f; x < ox * f + f && x < w; x++, n++)
								sum += src.data[(size_t)y * src.stride + 3 * x + c];
						if (got.data[(size_t)oy * got.stride + 3 * ox + c] != (sum + n / 2) / n)
							fail_msg("%dx%d / %d: pixel (%d,%d) channel %d is %d, the block's mean %u",
								 w, h, f, ox, oy, c,
								 got.data[(size_t)oy * got.stride + 3 * ox + c], (sum + n / 2) / n);
					}
			/* whole blocks: as the area resize, within its float rounding */
			if (w % f == 0 && h % f == 0) {
				assert_int_equal(fw_image_alloc(&want, ow, oh), 0);
				fw_image_resize(&src, &want);
				for (size_t i = 0; i < (size_t)ow * oh * 3; i++)
					assert_true(abs(want.data[i] - got.data[i]) <= 1);
				fw_image_free(&want);
			}
		}
		fw_image_free(&src);
	}
	/* refused: a factor that is not 1, 2, 4 or 8; too little room; in place */
	assert_int_equal(fw_image_alloc(&src, 16, 16), 0);
	got.data = out;
	assert_int_equal(fw_image_shrink(&src, 3, &got, sizeof out), FW_EINVAL);
	assert_int_equal(fw_image_shrink(&src, 2, &got, 8 * 8 * 3 - 1), FW_EINVAL);
	assert_int_equal(fw_image_shrink(&src, 2, &got, 8 * 8 * 3), 0);
	assert_int_equal(fw_image_shrink(&src, 2, &src, 16 * 16 * 3), FW_EINVAL);
	fw_image_free(&src);
}

static void test_resize_area_whole_factors(void **state)
{
	(void)state;
	struct fw_image src, dst;

	/* 2x2 blocks round halves up, (sum + 2) / 4 (OpenCV's 2x2 fast path):
	 * 106,107,106,107 -> 106.5 -> 107 */
	assert_int_equal(fw_image_alloc(&src, 2, 2), 0);
	assert_int_equal(fw_image_alloc(&dst, 1, 1), 0);
	for (int i = 0; i < 4; i++)
		set_grey(&src, i % 2, i / 2, 106 + i % 2);
	fw_image_resize(&src, &dst);
	assert_int_equal(px(&dst, 0, 0)[0], 107);
	assert_int_equal(px(&dst, 0, 0)[1], 149); /* 148.5 */
	fw_image_free(&src);
	fw_image_free(&dst);

	/* 3x1 blocks (width 6 -> 2, height kept): plain means */
	assert_int_equal(fw_image_alloc(&src, 6, 1), 0);
	assert_int_equal(fw_image_alloc(&dst, 2, 1), 0);
	for (int x = 0; x < 6; x++)
		set_grey(&src, x, 0, (int[]){ 0, 3, 9, 100, 101, 105 }[x]);
	fw_image_resize(&src, &dst);
	assert_int_equal(px(&dst, 0, 0)[0], 4);   /* 12 / 3 */
	assert_int_equal(px(&dst, 1, 0)[0], 102); /* 306 / 3 */
	fw_image_free(&src);
	fw_image_free(&dst);
}

static void test_resize_area_fractional(void **state)
{
	(void)state;
	/* 3 -> 2 across: output 0 covers source [0, 1.5), output 1 covers
	 * [1.5, 3): weights 2/3 and 1/3 on the shared middle pixel's half */
	struct fw_image src, dst;

	assert_int_equal(fw_image_alloc(&src, 3, 1), 0);
	assert_int_equal(fw_image_alloc(&dst, 2, 1), 0);
	set_grey(&src, 0, 0, 0);
	set_grey(&src, 1, 0, 30);
	set_grey(&src, 2, 0, 90);
	fw_image_resize(&src, &dst);
	assert_int_equal(px(&dst, 0, 0)[0], 10);  /* (0 * 1 + 30 * 0.5) / 1.5 */
	assert_int_equal(px(&dst, 1, 0)[0], 70);  /* (30 * 0.5 + 90 * 1) / 1.5 */
	assert_int_equal(px(&dst, 0, 0)[1], 245); /* (255 + 225 * 0.5) / 1.5 */
	assert_int_equal(px(&dst, 1, 0)[1], 185); /* (225 * 0.5 + 165) / 1.5 */
	fw_image_free(&src);
	fw_image_free(&dst);

	/* 5 -> 2 down: cells [0, 2.5) and [2.5, 5) */
	assert_int_equal(fw_image_alloc(&src, 1, 5), 0);
	assert_int_equal(fw_image_alloc(&dst, 1, 2), 0);
	for (int y = 0; y < 5; y++)
		set_grey(&src, 0, y, (int[]){ 10, 20, 50, 200, 100 }[y]);
	fw_image_resize(&src, &dst);
	assert_int_equal(px(&dst, 0, 0)[0], 22);  /* (10 + 20 + 25) / 2.5 */
	assert_int_equal(px(&dst, 0, 1)[0], 130); /* (25 + 200 + 100) / 2.5 */
	fw_image_free(&src);
	fw_image_free(&dst);
}

/* Area average in double from first principles: the overlap of each source
 * pixel with the destination cell. */
static void area_reference(const struct fw_image *src, struct fw_image *dst)
{
	double sx = (double)src->width / dst->width, sy = (double)src->height / dst->height;

	for (int dy = 0; dy < dst->height; dy++)
		for (int dx = 0; dx < dst->width; dx++)
			for (int c = 0; c < 3; c++) {
				double sum = 0;

				for (int y = (int)floor(dy * sy); y < src->height && y < (dy + 1) * sy; y++) {
					double wy = fmin(y + 1, (dy + 1) * sy) - fmax(y, dy * sy);

					for (int x = (int)floor(dx * sx);
					     x < src->width && x < (dx + 1) * sx; x++) {
						double wx = fmin(x + 1, (dx + 1) * sx) - fmax(x, dx * sx);

						sum += wx * wy * px(src, x, y)[c];
					}
				}
				px(dst, dx, dy)[c] = (uint8_t)lround(sum / (sx * sy));
			}
}

static void test_resize_area_matches_definition(void **state)
{
	(void)state;
	/* awkward ratios, checked against the definition (within 1 level:
	 * float vs double rounding at .5) */
	static const int sizes[][4] = {
		{ 7, 5, 3, 2 },	    { 100, 61, 37, 29 }, { 853, 480, 128, 72 },
		{ 50, 50, 49, 1 }, { 640, 480, 128, 96 }, { 60, 40, 20, 20 },
		/* shrinks by less than 3 (the branch-free taps), regions' sizes */
		{ 192, 192, 128, 128 }, { 161, 91, 128, 72 }, { 300, 200, 299, 150 },
		/* by 3 to 10, taps too: a 1024-px photo's whole frame for the
		 * short- and full-range models, an auto tile; then by 13, the
		 * per-column sums */
		{ 1024, 709, 128, 89 }, { 1024, 709, 192, 133 }, { 440, 440, 128, 128 },
		{ 1000, 30, 100, 3 }, { 1300, 40, 100, 3 },
	};

	tu_srand(7);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct fw_image src, got, want;

		assert_int_equal(fw_image_alloc(&src, sizes[i][0], sizes[i][1]), 0);
		assert_int_equal(fw_image_alloc(&got, sizes[i][2], sizes[i][3]), 0);
		assert_int_equal(fw_image_alloc(&want, sizes[i][2], sizes[i][3]), 0);
		fill_random(&src);
		fw_image_resize(&src, &got);
		area_reference(&src, &want);
		assert_true(image_diff(&got, &want, NULL, NULL) <= 1);
		fw_image_free(&src);
		fw_image_free(&got);
		fw_image_free(&want);
	}
}

static void test_resize_bilinear_enlarge(void **state)
{
	(void)state;
	/* 2 -> 4 with half-pixel centres: sample at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped) */
	struct fw_image src, dst;

	assert_int_equal(fw_image_alloc(&src, 2, 1), 0);
	assert_int_equal(fw_image_alloc(&dst, 4, 1), 0);
	set_grey(&src, 0, 0, 0);
	set_grey(&src, 1, 0, 100);
	fw_image_resize(&src, &dst);
	assert_int_equal(px(&dst, 0, 0)[0], 0);
	assert_int_equal(px(&dst, 1, 0)[0], 25);
	assert_int_equal(px(&dst, 2, 0)[0], 75);
	assert_int_equal(px(&dst, 3, 0)[0], 100);
	fw_image_free(&src);
	fw_image_free(&dst);
}

static void test_resize_respects_stride(void **state)
{
	(void)state;
	/* a view into a bigger buffer: padding bytes are neither read nor written */
	uint8_t sbuf[6 * 20], dbuf[4 * 9];
	struct fw_image src = { .width = 4, .height = 6, .stride = 20, .data = sbuf };
	struct fw_image dst = { .width = 2, .height = 4, .stride = 9, .data = dbuf };

	memset(sbuf, 0xee, sizeof sbuf);
	memset(dbuf, 0x55, sizeof dbuf);
	for (int y = 0; y < 6; y++)
		memset(sbuf + 20 * y, 40, 12);
	fw_image_resize(&src, &dst);
	for (int y = 0; y < 4; y++) {
		for (int x = 0; x < 6; x++)
			assert_int_equal(dbuf[9 * y + x], 40);
		for (int x = 6; x < 9; x++)
			assert_int_equal(dbuf[9 * y + x], 0x55);
	}
}

/* --- letterbox ---------------------------------------------------------- */

/* The five golden photos and their sizes (MODELS.md §5, and `file` on the
 * copies in shared/data). `src` is the copy under shared/data, if any. */
static const struct golden_photo {
	const char *name;
	int w, h;
	const char *src;
} photos[] = {
	{ "obama", 910, 1137, NULL },
	{ "two_people", 1126, 661, "data/recognition/images/face_recognition_multi/two_people.jpg" },
	{ "obama_and_biden", 2000, 1428,
	  "data/recognition/images/face_recognition_multi/obama_and_biden.jpg" },
	{ "obama-480p", 853, 480,
	  "data/recognition/images/face_recognition_examples/obama-480p.jpg" },
	{ "kit_harington_john1", 1200, 599,
	  "data/recognition/images/face_recognition_knn/train/kit_harington/john1.jpeg" },
};

static const struct golden_model {
	const char *name;
	int size;
} detectors[] = { { "blaze_short", 128 }, { "blaze_full", 192 } };

static json_t *load_json(const char *rel)
{
	json_error_t e;
	json_t *j = json_load_file(tu_shared(rel), 0, &e);

	if (!j)
		fail_msg("%s: %s (line %d)", rel, e.text, e.line);
	return j;
}

static void test_letterbox_golden_geometry(void **state)
{
	(void)state;
	int cases = 0;

	for (size_t p = 0; p < sizeof photos / sizeof photos[0]; p++)
		for (size_t m = 0; m < 2; m++) {
			char rel[256];
			int n = detectors[m].size;
			json_t *j, *lbj;
			double scale;
			int pad_x, pad_y;
			struct fw_image src;
			struct fw_letterbox lb;
			float *out = malloc(sizeof(float) * (size_t)n * (size_t)n * 3);
			void *tmp = malloc(fw_letterbox_scratch(n, n));

			snprintf(rel, sizeof rel, "models/golden/%s.%s.input.json", photos[p].name,
				 detectors[m].name);
			j = load_json(rel);
			lbj = json_object_get(j, "letterbox");
			assert_non_null(lbj);
			scale = json_real_value(json_object_get(lbj, "scale"));
			pad_x = (int)json_integer_value(json_object_get(lbj, "pad_x"));
			pad_y = (int)json_integer_value(json_object_get(lbj, "pad_y"));
			assert_true(scale > 0);

			/* geometry only: a mid-grey photo of the golden's size */
			assert_int_equal(fw_image_alloc(&src, photos[p].w, photos[p].h), 0);
			memset(src.data, 128, (size_t)src.stride * (size_t)src.height);
			fw_image_letterbox(&src, n, n, 1.0f, 0.0f, out, tmp, &lb);
			if (fabs(lb.scale - scale) > 1e-6 * scale || lb.pad_x != pad_x ||
			    lb.pad_y != pad_y)
				fail_msg("%s: scale %.9g pad %d,%d; golden %.9g pad %d,%d", rel,
					 lb.scale, lb.pad_x, lb.pad_y, scale, pad_x, pad_y);
			assert_int_equal(lb.in_w, n);
			assert_int_equal(lb.in_h, n);
			/* the picture starts exactly at the pad and is black around it */
			assert_true(out[((size_t)pad_y * n + pad_x) * 3] == 128.0f);
			if (pad_x > 0)
				assert_true(out[((size_t)pad_y * n + pad_x - 1) * 3] == 0.0f);
			if (pad_y > 0)
				assert_true(out[((size_t)(pad_y - 1) * n + pad_x) * 3] == 0.0f);
			fw_image_free(&src);
			free(out);
			free(tmp);
			json_decref(j);
			cases++;
		}
	assert_int_equal(cases, 10);
}

static void test_letterbox_normalises(void **state)
{
	(void)state;
	struct fw_image src;
	struct fw_letterbox lb;
	float out[16 * 16 * 3];
	uint8_t tmp[16 * 16 * 3];

	assert_true(fw_letterbox_scratch(16, 16) <= sizeof tmp);
	/* 8x4 -> 16x16: enlarged to 16x8, pad_y 4 */
	assert_int_equal(fw_image_alloc(&src, 8, 4), 0);
	memset(src.data, 255, (size_t)src.stride * 4);
	fw_image_letterbox(&src, 16, 16, 1.0f / 127.5f, -1.0f, out, tmp, &lb);
	assert_float_equal(lb.scale, 2.0f, 1e-6);
	assert_int_equal(lb.pad_x, 0);
	assert_int_equal(lb.pad_y, 4);
	for (int y = 0; y < 16; y++)
		for (int i = 0; i < 16 * 3; i++)
			assert_float_equal(out[y * 48 + i], y >= 4 && y < 12 ? 1.0f : -1.0f, 1e-6);
	fw_image_free(&src);
}

/* Letterboxed uint8 pixels of the photos we hold against `<img>.<model>.input.png`
 * (and the float input). Measured: identical (max 0) for all 8 cases. The
 * tolerance leaves room for a different JPEG decoder build (±1-2 levels on a
 * few pixels); a wrong area weight or half-pixel shift shows as mean errors
 * of several levels. */
static void test_letterbox_golden_pixels(void **state)
{
	(void)state;
	int compared = 0;

	for (size_t p = 0; p < sizeof photos / sizeof photos[0]; p++) {
		struct fw_image src;

		if (!photos[p].src || access(tu_shared(photos[p].src), R_OK) != 0) {
			print_message("  %s: source photo not in shared/data, skipped\n",
				      photos[p].name);
			continue;
		}
		assert_int_equal(fw_imageio_load(tu_shared(photos[p].src), &src), 0);
		assert_int_equal(src.width, photos[p].w);
		assert_int_equal(src.height, photos[p].h);
		for (size_t m = 0; m < 2; m++) {
			char rel[256];
			int n = detectors[m].size;
			size_t count = (size_t)n * (size_t)n * 3;
			float *out = malloc(sizeof(float) * count), *gold_f;
			void *tmp = malloc(fw_letterbox_scratch(n, n));
			struct fw_image got, gold;
			struct fw_letterbox lb;
			long ndiff;
			double mean;
			float fdiff;
			int maxd;

			snprintf(rel, sizeof rel, "models/golden/%s.%s.input.png", photos[p].name,
				 detectors[m].name);
			assert_int_equal(fw_imageio_load(tu_shared(rel), &gold), 0);
			assert_int_equal(fw_image_alloc(&got, n, n), 0);
			fw_image_letterbox(&src, n, n, 1.0f, 0.0f, out, tmp, &lb);
			for (size_t i = 0; i < count; i++)
				got.data[i] = (uint8_t)out[i];
			maxd = image_diff(&got, &gold, &ndiff, &mean);
			print_message("  %s: max diff %d, %ld of %zu values differ, mean %.4f\n", rel,
				      maxd, ndiff, count, mean);
			assert_true(maxd <= 2);
			assert_true(mean <= 0.05);

			/* the model input itself, x/127.5 - 1 */
			snprintf(rel, sizeof rel, "models/golden/%s.%s.input.f32.bin", photos[p].name,
				 detectors[m].name);
			gold_f = tu_read_f32(tu_shared(rel), count);
			fw_image_letterbox(&src, n, n, 1.0f / 127.5f, -1.0f, out, tmp, &lb);
			fdiff = tu_max_abs_diff(out, gold_f, count);
			print_message("  %s: max |diff| %g\n", rel, (double)fdiff);
			assert_true(fdiff <= maxd / 127.5f + 1e-6f);

			free(gold_f);
			fw_image_free(&got);
			fw_image_free(&gold);
			free(out);
			free(tmp);
			compared++;
		}
		fw_image_free(&src);
	}
	if (compared == 0)
		skip();
}

/* --- warp --------------------------------------------------------------- */

static void test_warp_identity(void **state)
{
	(void)state;
	const float id[6] = { 1, 0, 0, 0, 1, 0 };
	struct fw_image src, dst;

	tu_srand(11);
	assert_int_equal(fw_image_alloc(&src, 37, 21), 0);
	assert_int_equal(fw_image_alloc(&dst, 37, 21), 0);
	fill_random(&src);
	fw_image_warp_affine(&src, id, &dst);
	assert_int_equal(image_diff(&src, &dst, NULL, NULL), 0);
	fw_image_free(&src);
	fw_image_free(&dst);
}

static void test_warp_translation(void **state)
{
	(void)state;
	/* dst(x, y) = src(x + 1, y): shifted left one pixel, black on the right */
	const float left[6] = { 1, 0, 1, 0, 1, 0 };
	/* dst(x, y) = src(x, y - 1): shifted down, black on the top row */
	const float down[6] = { 1, 0, 0, 0, 1, -1 };
	/* half a pixel: the mean of the two neighbours, rounded up */
	const float half[6] = { 1, 0, 0.5f, 0, 1, 0 };
	struct fw_image src, dst;

	tu_srand(12);
	assert_int_equal(fw_image_alloc(&src, 9, 6), 0);
	assert_int_equal(fw_image_alloc(&dst, 9, 6), 0);
	fill_random(&src);

	fw_image_warp_affine(&src, left, &dst);
	for (int y = 0; y < 6; y++)
		for (int x = 0; x < 9; x++)
			for (int c = 0; c < 3; c++)
				assert_int_equal(px(&dst, x, y)[c], x < 8 ? px(&src, x + 1, y)[c] : 0);

	fw_image_warp_affine(&src, down, &dst);
	for (int y = 0; y < 6; y++)
		for (int x = 0; x < 9; x++)
			for (int c = 0; c < 3; c++)
				assert_int_equal(px(&dst, x, y)[c], y > 0 ? px(&src, x, y - 1)[c] : 0);

	fw_image_warp_affine(&src, half, &dst);
	for (int y = 0; y < 6; y++)
		for (int x = 0; x < 9; x++)
			for (int c = 0; c < 3; c++) {
				/* the last column straddles the border: half black */
				int b = x < 8 ? px(&src, x + 1, y)[c] : 0;

				assert_int_equal(px(&dst, x, y)[c], (px(&src, x, y)[c] + b + 1) / 2);
			}
	fw_image_free(&src);
	fw_image_free(&dst);
}

static void test_warp_outside_is_black(void **state)
{
	(void)state;
	const float far[6] = { 1, 0, -1000, 0, 1, 5000 };
	struct fw_image src, dst;

	assert_int_equal(fw_image_alloc(&src, 8, 8), 0);
	assert_int_equal(fw_image_alloc(&dst, 8, 8), 0);
	memset(src.data, 200, (size_t)src.stride * 8);
	memset(dst.data, 7, (size_t)dst.stride * 8);
	fw_image_warp_affine(&src, far, &dst);
	for (size_t i = 0; i < (size_t)dst.stride * 8; i++)
		assert_int_equal(dst.data[i], 0);
	fw_image_free(&src);
	fw_image_free(&dst);
}

static void test_warp_f32_layout(void **state)
{
	(void)state;
	/* f32 = the uint8 warp normalised; transpose puts x before y */
	const float a[6] = { 0.8f, 0.1f, 1.3f, -0.2f, 0.9f, 2.7f };
	const float mul = 1.0f / 128, add = -127.5f / 128;
	struct fw_image src, dst;
	float *f = malloc(sizeof(float) * 11 * 7 * 3), *t = malloc(sizeof(float) * 11 * 7 * 3);

	tu_srand(13);
	assert_int_equal(fw_image_alloc(&src, 20, 15), 0);
	assert_int_equal(fw_image_alloc(&dst, 11, 7), 0);
	fill_random(&src);
	fw_image_warp_affine(&src, a, &dst);
	fw_image_warp_affine_f32(&src, a, 11, 7, mul, add, 0, f);
	fw_image_warp_affine_f32(&src, a, 11, 7, mul, add, 1, t);
	for (int y = 0; y < 7; y++)
		for (int x = 0; x < 11; x++)
			for (int c = 0; c < 3; c++) {
				float want = px(&dst, x, y)[c] * mul + add;

				assert_true(f[(y * 11 + x) * 3 + c] == want);
				assert_true(t[(x * 7 + y) * 3 + c] == want);
			}
	free(f);
	free(t);
	fw_image_free(&src);
	fw_image_free(&dst);
}

/* cv2.warpAffine's matrix maps source to crop; ours maps crop to source. */
static void invert_affine(const double m[6], float a[6])
{
	double d = m[0] * m[4] - m[1] * m[3];

	d = d != 0 ? 1.0 / d : 0;
	a[0] = (float)(m[4] * d);
	a[1] = (float)(-m[1] * d);
	a[3] = (float)(-m[3] * d);
	a[4] = (float)(m[0] * d);
	a[2] = (float)(-(m[4] * d) * m[2] - (-m[1] * d) * m[5]);
	a[5] = (float)(-(-m[3] * d) * m[2] - (m[0] * d) * m[5]);
}

/* The golden MobileFaceNet crops: the photo warped with the recorded affine
 * (cv2.warpAffine INTER_LINEAR, border 0). Measured: 1 value of 37632 off by
 * one level for biden_biden2, 3 for rose_leslie_img1; with a double-precision
 * matrix both are identical, so the difference is the float a[6] of our API
 * moving a sample across a 1/32-pixel boundary. */
static void test_warp_golden_aligned(void **state)
{
	(void)state;
	static const struct {
		const char *face, *src;
	} faces[] = {
		{ "obama", NULL },
		{ "obama2", NULL },
		{ "obama3", NULL },
		{ "biden", NULL },
		{ "biden_biden2", "data/recognition/images/face_recognition_knn/train/biden/biden2.jpg" },
		{ "rose_leslie_img1",
		  "data/recognition/images/face_recognition_knn/train/rose_leslie/img1.jpg" },
	};
	int compared = 0;

	for (size_t i = 0; i < sizeof faces / sizeof faces[0]; i++) {
		char rel[256];
		const size_t count = 112 * 112 * 3;
		struct fw_image src, gold, got;
		json_t *j, *m;
		double md[6];
		float a[6], *f, *gold_f, fdiff;
		long ndiff;
		double mean;
		int maxd;

		if (!faces[i].src || access(tu_shared(faces[i].src), R_OK) != 0) {
			print_message("  %s: source photo not in shared/data, skipped\n",
				      faces[i].face);
			continue;
		}
		snprintf(rel, sizeof rel, "models/golden/%s.mfn.input.json", faces[i].face);
		j = load_json(rel);
		m = json_object_get(j, "affine_2x3");
		assert_int_equal(json_array_size(m), 2);
		for (int k = 0; k < 6; k++)
			md[k] = json_real_value(json_array_get(json_array_get(m, k / 3), k % 3));
		json_decref(j);
		invert_affine(md, a);

		assert_int_equal(fw_imageio_load(tu_shared(faces[i].src), &src), 0);
		snprintf(rel, sizeof rel, "models/golden/%s.aligned112.png", faces[i].face);
		assert_int_equal(fw_imageio_load(tu_shared(rel), &gold), 0);
		assert_int_equal(fw_image_alloc(&got, 112, 112), 0);
		fw_image_warp_affine(&src, a, &got);
		maxd = image_diff(&got, &gold, &ndiff, &mean);
		print_message("  %s: max diff %d, %ld of %zu values differ, mean %.5f\n", rel, maxd,
			      ndiff, count, mean);
		assert_true(maxd <= 1);
		assert_true(ndiff <= (long)(count / 1000));

		snprintf(rel, sizeof rel, "models/golden/%s.mfn.input.f32.bin", faces[i].face);
		gold_f = tu_read_f32(tu_shared(rel), count);
		f = malloc(sizeof(float) * count);
		fw_image_warp_affine_f32(&src, a, 112, 112, 1.0f / 128, -127.5f / 128, 0, f);
		fdiff = tu_max_abs_diff(f, gold_f, count);
		print_message("  %s: max |diff| %g\n", rel, (double)fdiff);
		assert_true(fdiff <= maxd / 128.0f + 1e-6f);

		free(f);
		free(gold_f);
		fw_image_free(&src);
		fw_image_free(&gold);
		fw_image_free(&got);
		compared++;
	}
	if (compared == 0)
		skip();
}

/* --- drawing ------------------------------------------------------------ */

enum { CW = 13, CH = 9, CSTRIDE = 3 * CW + 5, GUARD = 64 };

/* An image inside a canary buffer: guard bytes before and after, and 5
 * padding bytes at the end of each row, all of which must survive. */
struct canvas {
	uint8_t buf[GUARD + CSTRIDE * CH + GUARD];
	struct fw_image img;
};

static void canvas_init(struct canvas *c)
{
	memset(c->buf, 0xa5, sizeof c->buf);
	c->img = (struct fw_image){ .width = CW, .height = CH, .stride = CSTRIDE,
				    .data = c->buf + GUARD };
	for (int y = 0; y < CH; y++)
		memset(c->img.data + y * CSTRIDE, 0, 3 * CW);
}

static void canvas_check(const struct canvas *c)
{
	for (int i = 0; i < GUARD; i++) {
		assert_int_equal(c->buf[i], 0xa5);
		assert_int_equal(c->buf[GUARD + CSTRIDE * CH + i], 0xa5);
	}
	for (int y = 0; y < CH; y++)
		for (int i = 3 * CW; i < CSTRIDE; i++)
			assert_int_equal(c->img.data[y * CSTRIDE + i], 0xa5);
}

static int is_red(const struct canvas *c, int x, int y)
{
	const uint8_t *p = px(&c->img, x, y);

	return p[0] == 255 && p[1] == 1 && p[2] == 2;
}

static void test_draw_rect(void **state)
{
	(void)state;
	struct canvas c;

	/* inside: a 2-pixel border around a 7x5 box at (2,1), hollow centre */
	canvas_init(&c);
	fw_image_draw_rect(&c.img, 2, 1, 7, 5, 2, 255, 1, 2);
	canvas_check(&c);
	for (int y = 0; y < CH; y++)
		for (int x = 0; x < CW; x++) {
			int in = x >= 2 && x < 9 && y >= 1 && y < 6;
			int hole = x >= 4 && x < 7 && y >= 3 && y < 4;

			assert_int_equal(is_red(&c, x, y), in && !hole);
		}

	/* over every edge, huge, negative, degenerate */
	static const int rects[][5] = {
		{ -3, -3, 6, 6, 1 },     { CW - 2, CH - 2, 10, 10, 3 }, { -100, 4, 1000, 2, 1 },
		{ 5, -50, 2, 1000, 9 },  { INT_MIN, INT_MIN, INT_MAX, INT_MAX, INT_MAX },
		{ INT_MAX, INT_MAX, INT_MAX, INT_MAX, 1 }, { 0, 0, CW, CH, 1 },
		{ 3, 3, 0, 5, 1 },       { 3, 3, 5, -5, 1 }, { 3, 3, 5, 5, 0 },
		{ -1, -1, CW + 2, CH + 2, 1 },
	};
	for (size_t i = 0; i < sizeof rects / sizeof rects[0]; i++) {
		canvas_init(&c);
		fw_image_draw_rect(&c.img, rects[i][0], rects[i][1], rects[i][2], rects[i][3],
				   rects[i][4], 255, 1, 2);
		canvas_check(&c);
	}
	/* the full-image outline of thickness 1 touches all four edges */
	canvas_init(&c);
	fw_image_draw_rect(&c.img, 0, 0, CW, CH, 1, 255, 1, 2);
	assert_true(is_red(&c, 0, 0) && is_red(&c, CW - 1, CH - 1) && is_red(&c, CW - 1, 0));
	assert_false(is_red(&c, 1, 1));
	/* a rectangle just outside draws nothing */
	canvas_init(&c);
	fw_image_draw_rect(&c.img, -1, -1, CW + 2, CH + 2, 1, 255, 1, 2);
	for (int y = 0; y < CH; y++)
		for (int x = 0; x < CW; x++)
			assert_false(is_red(&c, x, y));
}

static void test_draw_dot(void **state)
{
	(void)state;
	struct canvas c;
	int n = 0;

	/* radius 2 at the centre: the 13 pixels with dx^2 + dy^2 <= 4 */
	canvas_init(&c);
	fw_image_draw_dot(&c.img, 6, 4, 2, 255, 1, 2);
	canvas_check(&c);
	for (int y = 0; y < CH; y++)
		for (int x = 0; x < CW; x++) {
			int in = (x - 6) * (x - 6) + (y - 4) * (y - 4) <= 4;

			assert_int_equal(is_red(&c, x, y), in);
			n += in;
		}
	assert_int_equal(n, 13);

	static const int dots[][3] = {
		{ 0, 0, 3 },         { CW - 1, CH - 1, 5 }, { -2, 4, 3 },      { CW + 1, 4, 2 },
		{ 6, -3, 4 },        { 6, CH + 2, 3 },      { 6, 4, 100000 },  { 6, 4, 0 },
		{ INT_MIN, INT_MAX, INT_MAX }, { INT_MAX, INT_MIN, 5 }, { 3, 3, -1 },
	};
	for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
		canvas_init(&c);
		fw_image_draw_dot(&c.img, dots[i][0], dots[i][1], dots[i][2], 255, 1, 2);
		canvas_check(&c);
	}
	/* a dot centred just off the left edge shows its right part only */
	canvas_init(&c);
	fw_image_draw_dot(&c.img, -1, 4, 2, 255, 1, 2);
	assert_true(is_red(&c, 0, 4) && is_red(&c, 1, 4) && !is_red(&c, 2, 4));
	/* a huge radius fills everything */
	canvas_init(&c);
	fw_image_draw_dot(&c.img, 6, 4, 100000, 255, 1, 2);
	assert_true(is_red(&c, 0, 0) && is_red(&c, CW - 1, CH - 1));
}

static void test_alloc_limits(void **state)
{
	(void)state;
	struct fw_image img;

	assert_int_equal(fw_image_alloc(&img, 0, 5), FW_EINVAL);
	assert_null(img.data);
	assert_int_equal(fw_image_alloc(&img, 5, -1), FW_EINVAL);
	assert_int_equal(fw_image_alloc(&img, 40000, 2), FW_EINVAL);
	assert_int_equal(fw_image_alloc(&img, 3, 2), 0);
	assert_int_equal(img.stride, 9);
	for (int i = 0; i < 18; i++)
		assert_int_equal(img.data[i], 0);
	fw_image_free(&img);
	assert_null(img.data);
	fw_image_free(&img); /* twice is harmless */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resize_constant),
		cmocka_unit_test(test_resize_area_2x),
		cmocka_unit_test(test_resize_area_whole_factors),
		cmocka_unit_test(test_shrink),
		cmocka_unit_test(test_resize_area_fractional),
		cmocka_unit_test(test_resize_area_matches_definition),
		cmocka_unit_test(test_resize_bilinear_enlarge),
		cmocka_unit_test(test_resize_respects_stride),
		cmocka_unit_test(test_letterbox_golden_geometry),
		cmocka_unit_test(test_letterbox_normalises),
		cmocka_unit_test(test_letterbox_golden_pixels),
		cmocka_unit_test(test_warp_identity),
		cmocka_unit_test(test_warp_translation),
		cmocka_unit_test(test_warp_outside_is_black),
		cmocka_unit_test(test_warp_f32_layout),
		cmocka_unit_test(test_warp_golden_aligned),
		cmocka_unit_test(test_draw_rect),
		cmocka_unit_test(test_draw_dot),
		cmocka_unit_test(test_alloc_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
