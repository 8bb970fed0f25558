/* Frame decoding: DCT-scaled MJPEG decode matches a full decode shrunk,
 * damaged frames are refused without reading past their end, the MJPEG
 * splitter finds frame ends by markers, and YUYV converts like BT.601. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include <cmocka.h>

#include "capture/jpeg.h"
#include "capture/jpeg_internal.h"
#include "capture/ring.h"
#include "core/fw.h"
#include "core/image.h"
#include "testutil.h"

#define CLIP "data/video/short_hamilton_clip.mjpeg"

/* First frame of the shared clip, copied into an exact-size buffer so ASan
 * sees any read past its end. */
static uint8_t *clip_frame(int n, size_t *len)
{
	size_t flen = 0, pos = 0, start = 0, size = 0;
	uint8_t *file = tu_read_file(tu_shared(CLIP), &flen), *out;

	if (!file)
		fail_msg("cannot read %s", tu_shared(CLIP));
	for (int i = 0; i <= n; i++)
		assert_int_equal(fw_mjpeg_next(file, flen, &pos, &start, &size, NULL), 0);
	out = malloc(size);
	memcpy(out, file + start, size);
	free(file);
	*len = size;
	return out;
}

/* A synthetic w x h JPEG (smooth gradient and a few edges). Caller tjFree()s. */
static uint8_t *make_jpeg(int w, int h, int subsamp, unsigned long *len)
{
	uint8_t *rgb = malloc((size_t)w * (size_t)h * 3), *jpg = NULL;
	tjhandle tj = tjInitCompress();

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;

			p[0] = (uint8_t)(x * 255 / w);
			p[1] = (uint8_t)(y * 255 / h);
			p[2] = (uint8_t)(((x / 16 + y / 16) & 1) ? 200 : 40);
		}
	*len = 0;
	assert_int_equal(tjCompress2(tj, rgb, w, 0, h, TJPF_RGB, &jpg, len, subsamp, 85, 0), 0);
	tjDestroy(tj);
	free(rgb);
	return jpg;
}

static int alloc_image(struct fw_image *img, size_t cap)
{
	img->data = malloc(cap);
	img->width = img->height = img->stride = 0;
	return img->data ? 0 : -1;
}

static void test_scale_choice(void **state)
{
	int w, h;

	(void)state;
	assert_int_equal(fw_jpeg_pick_scale(640, 480, 160, 120), 4);
	assert_int_equal(fw_jpeg_pick_scale(640, 480, 128, 128), 2);
	assert_int_equal(fw_jpeg_pick_scale(1280, 720, 160, 90), 8);
	assert_int_equal(fw_jpeg_pick_scale(100, 100, 200, 200), 1);
	/* the longer side only: a wide frame is not decoded whole for its height */
	assert_int_equal(fw_jpeg_pick_scale_long(640, 360, 320), 2);
	assert_int_equal(fw_jpeg_pick_scale_long(640, 480, 320), 2);
	assert_int_equal(fw_jpeg_pick_scale_long(1280, 720, 320), 4);
	assert_int_equal(fw_jpeg_pick_scale_long(360, 640, 320), 2);
	assert_int_equal(fw_jpeg_pick_scale_long(330, 200, 320), 1);
	fw_jpeg_scaled_size(641, 361, 8, &w, &h);
	assert_int_equal(w, 81);
	assert_int_equal(h, 46);
}

/* Box-average src down by d (floor sizes), for comparing. */
static double mean_abs_diff_shrunk(const struct fw_image *full, const struct fw_image *small, int d)
{
	double sum = 0;
	long n = 0;

	for (int y = 0; y < small->height && (y + 1) * d <= full->height; y++)
		for (int x = 0; x < small->width && (x + 1) * d <= full->width; x++)
			for (int c = 0; c < 3; c++) {
				unsigned acc = 0;

				for (int dy = 0; dy < d; dy++)
					for (int dx = 0; dx < d; dx++)
						acc += full->data[(size_t)(y * d + dy) * (size_t)full->stride +
								  (size_t)(x * d + dx) * 3 + (size_t)c];
				sum += fabs((double)acc / (d * d) -
					    small->data[(size_t)y * (size_t)small->stride + (size_t)x * 3 + (size_t)c]);
				n++;
			}
	return sum / (double)n;
}

/* The shared clip's frames (640x360, 4:2:0) at every scale: the size libjpeg
 * promises, and pixels close to the full decode box-averaged. */
static void test_scaled_decode_matches_full(void **state)
{
	struct fw_jpeg *j;
	struct fw_image full, small;
	size_t len, cap = 640 * 360 * 3;
	uint8_t *frame = clip_frame(10, &len);
	static const int want[4][3] = { { 1, 640, 360 }, { 2, 320, 180 }, { 4, 160, 90 }, { 8, 80, 45 } };

	(void)state;
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(alloc_image(&full, cap), 0);
	assert_int_equal(alloc_image(&small, cap), 0);
	assert_int_equal(fw_jpeg_decode(j, frame, len, 1, &full, cap), 0);
	assert_int_equal(full.width, 640);
	assert_int_equal(full.height, 360);
	assert_int_equal(full.stride, 640 * 3);
	for (int k = 0; k < 4; k++) {
		double mad;

		assert_int_equal(fw_jpeg_decode(j, frame, len, want[k][0], &small, cap), 0);
		assert_int_equal(small.width, want[k][1]);
		assert_int_equal(small.height, want[k][2]);
		mad = mean_abs_diff_shrunk(&full, &small, want[k][0]);
		/* DCT scaling is not a box filter, but close to one */
		if (mad > 4.0)
			fail_msg("1/%d decode differs from the shrunk full decode by %.2f", want[k][0], mad);
	}
	/* a buffer too small is refused, not overrun */
	assert_int_equal(fw_jpeg_decode(j, frame, len, 4, &small, 160 * 90 * 3 - 1), FW_EINVAL);
	assert_int_equal(fw_jpeg_decode(j, frame, len, 3, &small, cap), FW_EINVAL);
	free(full.data);
	free(small.data);
	free(frame);
	fw_jpeg_destroy(j);
}

/* Every prefix of a frame: the structure check says truncated, the decoder
 * fails cleanly; no read past the end (each prefix is its own allocation). */
static void test_truncated_frames_refused(void **state)
{
	struct fw_jpeg *j;
	struct fw_image img;
	size_t len, cap = 640 * 360 * 3;
	uint8_t *frame = clip_frame(0, &len);

	(void)state;
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(alloc_image(&img, cap), 0);
	for (size_t n = 0; n < len - 1; n += (n < 700 ? 1 : 251)) {
		uint8_t *cut = malloc(n ? n : 1);
		int err;

		memcpy(cut, frame, n);
		err = fw_mjpeg_check(cut, n, NULL, NULL, NULL);
		if (err != FW_ETRUNC)
			fail_msg("prefix of %zu bytes: check gave %d, not FW_ETRUNC", n, err);
		err = fw_jpeg_decode(j, cut, n, 4, &img, cap);
		if (err != FW_ETRUNC && err != FW_EFORMAT)
			fail_msg("prefix of %zu bytes: decode gave %d", n, err);
		free(cut);
	}
	free(img.data);
	free(frame);
	fw_jpeg_destroy(j);
}

/* Damaged bytes: a frame without SOI, a bad segment length, scrambled
 * entropy data. Structure errors are found before decoding; scrambled data
 * either fails or decodes to the right size, never crashes. */
static void test_corrupt_frames(void **state)
{
	struct fw_jpeg *j;
	struct fw_image img;
	size_t len, cap = 640 * 360 * 3, used = 0;
	uint8_t *frame = clip_frame(3, &len), *bad = malloc(len);
	int w, h;

	(void)state;
	assert_int_equal(fw_jpeg_create(&j), 0);
	assert_int_equal(alloc_image(&img, cap), 0);
	assert_int_equal(fw_mjpeg_check(frame, len, &used, &w, &h), 0);
	assert_int_equal(used, len);
	assert_int_equal(w, 640);
	assert_int_equal(h, 360);

	memcpy(bad, frame, len);
	bad[0] = 0;
	assert_int_equal(fw_mjpeg_check(bad, len, NULL, NULL, NULL), FW_EFORMAT);
	assert_int_equal(fw_jpeg_decode(j, bad, len, 1, &img, cap), FW_EFORMAT);

	memcpy(bad, frame, len);
	bad[4] = 0; /* APP0 length 0x0010 -> 0x0000 */
	bad[5] = 0;
	assert_int_equal(fw_mjpeg_check(bad, len, NULL, NULL, NULL), FW_EFORMAT);

	tu_srand(5);
	for (int round = 0; round < 50; round++) {
		int err;

		memcpy(bad, frame, len);
		for (int k = 0; k < 20; k++)
			bad[tu_randi(700, (int)len - 3)] ^= (uint8_t)tu_randi(1, 255);
		err = fw_jpeg_decode(j, bad, len, round % 2 ? 4 : 1, &img, cap);
		if (err == 0)
			assert_int_equal(img.width, round % 2 ? 160 : 640);
		else
			assert_true(err == FW_EFORMAT || err == FW_ETRUNC);
	}
	free(bad);
	free(img.data);
	free(frame);
	fw_jpeg_destroy(j);
}

/* A stream: garbage, frame A, a frame cut short by the next SOI, frame B
 * with an EXIF-style thumbnail (a whole JPEG inside APP1), a truncated tail. */
static void test_mjpeg_splitter(void **state)
{
	unsigned long la, lb;
	uint8_t *a = make_jpeg(64, 48, TJSAMP_422, &la), *b = make_jpeg(32, 32, TJSAMP_420, &lb);
	size_t cap = 4 * (la + lb) + 1024, n = 0, pos = 0, start, size, b_at, used;
	uint8_t *s = malloc(cap);
	unsigned bad = 0;
	int w, h;

	(void)state;
	memcpy(s + n, "\x00\x11garbage\xff\x00", 11);
	n += 11;
	memcpy(s + n, a, la);
	n += la;
	memcpy(s + n, a, la / 2); /* cut short */
	n += la / 2;
	/* b with APP1 = "Exif\0\0" + a whole JPEG (a) inserted after SOI */
	b_at = n;
	s[n++] = 0xff;
	s[n++] = 0xd8;
	s[n++] = 0xff;
	s[n++] = 0xe1;
	s[n++] = (uint8_t)((la + 8) >> 8);
	s[n++] = (uint8_t)((la + 8) & 0xff);
	memcpy(s + n, "Exif\0\0", 6);
	n += 6;
	memcpy(s + n, a, la);
	n += la;
	memcpy(s + n, b + 2, lb - 2);
	n += lb - 2;
	memcpy(s + n, b, lb - 10); /* truncated tail */
	n += lb - 10;

	assert_int_equal(fw_mjpeg_next(s, n, &pos, &start, &size, &bad), 0);
	assert_int_equal(start, 11);
	assert_int_equal(size, la);
	assert_int_equal(fw_mjpeg_next(s, n, &pos, &start, &size, &bad), 0);
	assert_int_equal(bad, 1); /* the cut frame */
	assert_int_equal(start, b_at);
	assert_int_equal(size, lb + la + 10);
	assert_int_equal(fw_mjpeg_check(s + start, size, &used, &w, &h), 0);
	assert_int_equal(w, 32); /* the frame's own SOF, not the thumbnail's */
	assert_int_equal(h, 32);
	assert_int_equal(fw_mjpeg_next(s, n, &pos, &start, &size, &bad), -ENODATA);
	assert_int_equal(pos, n);
	assert_int_equal(bad, 2);

	/* a driver's padding after EOI is not part of the frame */
	memset(s, 0, cap);
	memcpy(s, b, lb);
	assert_int_equal(fw_mjpeg_check(s, lb + 100, &used, NULL, NULL), 0);
	assert_int_equal(used, lb);
	free(s);
	tjFree(a);
	tjFree(b);
}

/* --- YUYV ------------------------------------------------------------------- */

static void ref_rgb(int y, int u, int v, double out[3])
{
	double c = 1.164 * (y - 16), d = u - 128, e = v - 128;

	out[0] = c + 1.596 * e;
	out[1] = c - 0.392 * d - 0.813 * e;
	out[2] = c + 2.017 * d;
	for (int k = 0; k < 3; k++)
		out[k] = out[k] < 0 ? 0 : out[k] > 255 ? 255 : out[k];
}

static void test_yuyv_colours(void **state)
{
	/* black, white, red, green, blue (BT.601 limited range) */
	static const uint8_t yuv[5][3] = {
		{ 16, 128, 128 }, { 235, 128, 128 }, { 81, 90, 240 }, { 145, 54, 34 }, { 41, 240, 110 }
	};
	static const uint8_t rgb[5][3] = {
		{ 0, 0, 0 }, { 255, 255, 255 }, { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }
	};
	uint8_t src[5 * 4], out[10 * 3];
	struct fw_image img = { .width = 10, .height = 1, .stride = 30, .data = out };

	(void)state;
	for (int i = 0; i < 5; i++) {
		src[4 * i] = src[4 * i + 2] = yuv[i][0];
		src[4 * i + 1] = yuv[i][1];
		src[4 * i + 3] = yuv[i][2];
	}
	fw_yuyv_to_rgb(src, 20, 10, 1, &img);
	for (int i = 0; i < 10; i++)
		for (int c = 0; c < 3; c++)
			if (abs(out[3 * i + c] - rgb[i / 2][c]) > 2)
				fail_msg("pixel %d channel %d: %d, want %d", i, c, out[3 * i + c], rgb[i / 2][c]);
}

/* Random YUYV at an awkward size against the float formula: within 1. */
static void test_yuyv_random_vs_float(void **state)
{
	const int w = 98, h = 7, stride = w * 2 + 6;
	uint8_t *src = malloc((size_t)stride * h);
	struct fw_image img;

	(void)state;
	assert_int_equal(fw_image_alloc(&img, w, h), 0);
	tu_srand(11);
	for (int i = 0; i < stride * h; i++)
		src[i] = (uint8_t)tu_randi(0, 255);
	fw_yuyv_to_rgb(src, stride, w, h, &img);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			const uint8_t *p = src + y * stride + (x / 2) * 4;
			double want[3];

			ref_rgb(p[(x & 1) * 2], p[1], p[3], want);
			for (int c = 0; c < 3; c++) {
				double got = img.data[(size_t)y * (size_t)img.stride + (size_t)x * 3 + (size_t)c];

				if (fabs(got - want[c]) > 1.5)
					fail_msg("(%d,%d) c%d: %g want %g", x, y, c, got, want[c]);
			}
		}
	fw_image_free(&img);
	free(src);
}

/* YUYV straight to 1/2, 1/4, 1/8 equals converting the block means:
 * compare with full conversion then box average (smooth input, so the
 * clamping nonlinearity does not enter). */
static void test_yuyv_scaled(void **state)
{
	const int w = 64, h = 48;
	uint8_t *src = malloc((size_t)w * 2 * h);
	struct fw_image full, small;

	(void)state;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x += 2) {
			uint8_t *p = src + y * w * 2 + x * 2;

			p[0] = (uint8_t)(50 + x + y / 2);
			p[2] = (uint8_t)(50 + (x + 1) + y / 2);
			p[1] = (uint8_t)(110 + x / 2);
			p[3] = (uint8_t)(150 - y / 2);
		}
	assert_int_equal(fw_image_alloc(&full, w, h), 0);
	fw_yuyv_to_rgb(src, w * 2, w, h, &full);
	for (int d = 2; d <= 8; d *= 2) {
		double mad;

		assert_int_equal(fw_image_alloc(&small, w / d, h / d), 0);
		fw_yuyv_to_rgb_scaled(src, w * 2, w, h, d, &small);
		mad = mean_abs_diff_shrunk(&full, &small, d);
		if (mad > 1.0)
			fail_msg("1/%d: %.2f from the shrunk full conversion", d, mad);
		fw_image_free(&small);
	}
	fw_image_free(&full);
	free(src);
}

/* Each fast path (SSE2, AVX2; NEON on aarch64) against the plain C reference: identical
 * bytes, on widths that leave tails of every kind around the 8-, 16- and
 * 32-pixel steps, random data that exercises the clamping, and nothing
 * written past the last pixel. The public functions use the best path. */
static void test_yuyv_simd_matches_ref(void **state)
{
	static const int widths[] = { 2, 14, 16, 18, 30, 32, 34, 62, 64, 66, 94, 96, 98, 126, 640 };
	enum { GUARD = 64 };

	(void)state;
	tu_srand(23);
	for (int impl = FW_YUYV_SSE2; impl <= FW_YUYV_NEON + 1; impl++) {
		for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
			const int w = widths[k], h = 16, stride = w * 2 + 2;
			uint8_t *src = malloc((size_t)stride * h);

			for (int i = 0; i < stride * h; i++)
				src[i] = (uint8_t)tu_randi(0, 255);
			for (int d = 1; d <= 8; d *= 2) {
				const int ow = w / d, oh = h / d;
				const size_t bytes = (size_t)ow * 3 * (size_t)oh;
				uint8_t *buf = malloc(bytes + GUARD);
				struct fw_image a = { .data = buf, .width = ow, .height = oh,
						      .stride = ow * 3 };
				struct fw_image b;
				enum fw_yuyv_impl used = FW_YUYV_REF;

				if (ow == 0) {
					free(buf);
					continue;
				}
				memset(buf, 0xab, bytes + GUARD);
				if (impl <= FW_YUYV_NEON)
					used = fw_yuyv_to_rgb_impl((enum fw_yuyv_impl)impl, src, stride,
								   w, h, d, &a);
				else if (d == 1) /* the public entry points */
					fw_yuyv_to_rgb(src, stride, w, h, &a);
				else
					fw_yuyv_to_rgb_scaled(src, stride, w, h, d, &a);
				if (impl <= FW_YUYV_NEON && (int)used != impl && k == 0 && d == 1)
					print_message("(YUYV path %d not runnable here: %d checked)\n",
						      impl, used);
				assert_int_equal(fw_image_alloc(&b, ow, oh), 0);
				fw_yuyv_to_rgb_ref(src, stride, w, h, d, &b);
				if (memcmp(a.data, b.data, bytes))
					fail_msg("path %d, width %d, 1/%d: differs from the reference",
						 impl, w, d);
				for (int g = 0; g < GUARD; g++)
					if (buf[bytes + g] != 0xab)
						fail_msg("path %d, width %d, 1/%d: wrote past the image",
							 impl, w, d);
				fw_image_free(&b);
				free(buf);
			}
			free(src);
		}
	}
}

/* fw_frame_to_rgb on ring-style frames of each raw format. */
static void test_frame_to_rgb(void **state)
{
	uint8_t data[32 * 2 * 16], out[32 * 16 * 3];
	struct fw_frame f = { .format = FW_PIXFMT_YUYV, .width = 32, .height = 16, .stride = 64,
			      .bytes = sizeof data, .data = data };
	struct fw_image img = { .data = out };

	(void)state;
	for (size_t i = 0; i < sizeof data; i += 2) {
		data[i] = 235;
		data[i + 1] = 128;
	}
	assert_int_equal(fw_frame_to_rgb(NULL, &f, 4, &img, sizeof out), 0);
	assert_int_equal(img.width, 8);
	assert_int_equal(img.height, 4);
	assert_int_equal(out[0], 255);
	f.bytes = 64 * 15; /* one row short */
	assert_int_equal(fw_frame_to_rgb(NULL, &f, 1, &img, sizeof out), FW_ETRUNC);
	f.format = FW_PIXFMT_RGB24;
	f.stride = 96;
	f.width = 21;
	f.height = 5;
	f.bytes = 96 * 5;
	memset(data, 90, sizeof data);
	assert_int_equal(fw_frame_to_rgb(NULL, &f, 2, &img, sizeof out), 0);
	assert_int_equal(img.width, 10);
	assert_int_equal(img.height, 2);
	assert_int_equal(out[3 * 9 + 2], 90);
	assert_int_equal(fw_frame_to_rgb(NULL, &f, 1, &img, 21 * 5 * 3 - 1), FW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scale_choice),
		cmocka_unit_test(test_scaled_decode_matches_full),
		cmocka_unit_test(test_truncated_frames_refused),
		cmocka_unit_test(test_corrupt_frames),
		cmocka_unit_test(test_mjpeg_splitter),
		cmocka_unit_test(test_yuyv_colours),
		cmocka_unit_test(test_yuyv_random_vs_float),
		cmocka_unit_test(test_yuyv_scaled),
		cmocka_unit_test(test_yuyv_simd_matches_ref),
		cmocka_unit_test(test_frame_to_rgb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
