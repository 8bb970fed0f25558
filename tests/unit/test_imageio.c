/* Photo decoding and encoding: real JPEG/PNG files from shared/data decode to
 * the pixels ImageMagick sees, every PNG flavour becomes RGB, damaged or
 * foreign files fail with a message naming the file, and nothing crashes. */
#include <errno.h>
#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture/imageio.h"
#include "core/fw.h"
#include "core/image.h"
#include "testutil.h"

#define OBAMA_480P "data/recognition/images/face_recognition_examples/obama-480p.jpg"
#define ALEX_PNG "data/recognition/images/face_recognition_examples/alex-lacamoire.png"
#define OBAMA_BIDEN "data/recognition/images/face_recognition_multi/obama_and_biden.jpg"

/* --- helpers ------------------------------------------------------------ */

static char last_msg[1024];
static int n_errors;

static void capture_log(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == FW_LOG_ERROR) {
		snprintf(last_msg, sizeof last_msg, "%s", msg);
		n_errors++;
	}
}

static int setup(void **state)
{
	(void)state;
	last_msg[0] = 0;
	n_errors = 0;
	fw_log_set_sink(capture_log, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fw_log_set_sink(NULL, NULL);
	return 0;
}

static void assert_msg_has(const char *needle)
{
	if (!strstr(last_msg, needle))
		fail_msg("log message \"%s\" lacks \"%s\"", last_msg, needle);
}

/* err == want, or fail showing the message that was logged */
#define assert_err(expr, want)                                                               \
	do {                                                                                 \
		int err_ = (expr);                                                           \
		if (err_ != (want))                                                          \
			fail_msg("%s = %d (%s), expected %d; log: %s", #expr, err_,          \
				 fw_strerror(err_), (want), last_msg);                       \
	} while (0)

static const uint8_t *px(const struct fw_image *img, int x, int y)
{
	return img->data + (size_t)y * (size_t)img->stride + 3 * (size_t)x;
}

static void assert_px(const struct fw_image *img, int x, int y, int r, int g, int b)
{
	const uint8_t *p = px(img, x, y);

	if (p[0] != r || p[1] != g || p[2] != b)
		fail_msg("pixel (%d,%d) = %d,%d,%d, expected %d,%d,%d", x, y, p[0], p[1], p[2], r,
			 g, b);
}

/* A private temp file name in the build directory (or /tmp). */
static const char *tmp_path(const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];
	const char *dir = getenv("FW_BUILD_DIR");

	snprintf(p, sizeof buf[0], "%s/test_imageio.%d.%s", dir ? dir : "/tmp", (int)getpid(),
		 name);
	return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void *read_shared(const char *rel, size_t *len)
{
	void *p = tu_read_file(tu_shared(rel), len);

	if (!p)
		skip();
	return p;
}

/* PNG writer (libpng's own encoder) for the flavours we must decode. */
struct membuf {
	uint8_t *p;
	size_t len, cap;
};

static void mem_write(png_structp png, png_bytep data, size_t n)
{
	struct membuf *m = png_get_io_ptr(png);

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->p = realloc(m->p, m->cap);
		assert_non_null(m->p);
	}
	memcpy(m->p + m->len, data, n);
	m->len += n;
}

static void mem_flush(png_structp png)
{
	(void)png;
}

/* rows: h rows of w * channels * (depth / 8) bytes (depth 8 or 16, big-endian
 * for 16); palette images take one index byte per pixel. */
static uint8_t *make_png(int w, int h, int color_type, int depth, int interlace,
			 const uint8_t *pixels, const png_color *palette, int npal,
			 const uint8_t *trns, int ntrns, size_t *len)
{
	struct membuf m = { 0 };
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	int channels = color_type == PNG_COLOR_TYPE_RGB	       ? 3
		       : color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
		       : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
								 : 1;
	size_t rowbytes = (size_t)w * (size_t)channels * (depth == 16 ? 2 : 1);

	assert_non_null(info);
	if (setjmp(png_jmpbuf(png)))
		fail_msg("libpng could not write the test PNG");
	png_set_write_fn(png, &m, mem_write, mem_flush);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
		     interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (palette)
		png_set_PLTE(png, info, palette, npal);
	if (trns)
		png_set_tRNS(png, info, trns, ntrns, NULL);
	png_write_info(png, info);
	if (depth < 8)
		png_set_packing(png);
	{
		png_bytep *rows = malloc((size_t)h * sizeof *rows);

		for (int y = 0; y < h; y++)
			rows[y] = (png_bytep)pixels + (size_t)y * rowbytes;
		png_write_image(png, rows);
		free(rows);
	}
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	*len = m.len;
	return m.p;
}

static void decode_ok(const void *buf, size_t len, int w, int h, struct fw_image *img)
{
	int err = fw_imageio_decode(buf, len, "mem.png", img);

	if (err)
		fail_msg("decode failed: %s (%s)", fw_strerror(err), last_msg);
	assert_int_equal(img->width, w);
	assert_int_equal(img->height, h);
	assert_true(img->stride >= 3 * w);
}

/* --- real files ----------------------------------------------------------- */

/* Sizes from `file`; pixel values from ImageMagick 6.9 (`identify -format
 * '%[pixel:p{x,y}]'`), whose whole-image `stream -map rgb` output also
 * matched ours byte for byte on these files. */
static void test_load_real_jpeg(void **state)
{
	(void)state;
	struct fw_image img;

	if (access(tu_shared(OBAMA_480P), R_OK) != 0)
		skip();
	assert_int_equal(fw_imageio_load(tu_shared(OBAMA_480P), &img), 0);
	assert_int_equal(img.width, 853);
	assert_int_equal(img.height, 480);
	assert_px(&img, 426, 240, 76, 127, 216);
	assert_px(&img, 450, 120, 218, 165, 134);
	assert_px(&img, 0, 0, 0, 0, 0);
	assert_px(&img, 852, 479, 0, 0, 0);
	fw_image_free(&img);
}

static void test_load_progressive_jpeg(void **state)
{
	(void)state;
	struct fw_image img;

	if (access(tu_shared(OBAMA_BIDEN), R_OK) != 0)
		skip();
	/* `file`: progressive, 2000x1428 */
	assert_int_equal(fw_imageio_load(tu_shared(OBAMA_BIDEN), &img), 0);
	assert_int_equal(img.width, 2000);
	assert_int_equal(img.height, 1428);
	assert_px(&img, 1000, 700, 17, 24, 34);
	assert_px(&img, 0, 0, 144, 130, 117);
	fw_image_free(&img);
}

static void test_load_real_png(void **state)
{
	(void)state;
	struct fw_image img;

	if (access(tu_shared(ALEX_PNG), R_OK) != 0)
		skip();
	/* `file`: 424 x 394, 8-bit/color RGBA (all opaque); alpha dropped */
	assert_int_equal(fw_imageio_load(tu_shared(ALEX_PNG), &img), 0);
	assert_int_equal(img.width, 424);
	assert_int_equal(img.height, 394);
	assert_px(&img, 0, 0, 47, 38, 30);
	assert_px(&img, 212, 197, 84, 51, 38);
	assert_px(&img, 423, 393, 59, 47, 39);
	fw_image_free(&img);
}

static void test_save_roundtrip(void **state)
{
	(void)state;
	const char *path = tmp_path("roundtrip.jpg");
	struct fw_image img, back;
	double sum = 0;
	int maxd = 0;

	/* smooth gradients survive JPEG well: mean error well under 2 levels */
	assert_int_equal(fw_image_alloc(&img, 161, 97), 0);
	for (int y = 0; y < img.height; y++)
		for (int x = 0; x < img.width; x++) {
			uint8_t *p = img.data + (size_t)y * (size_t)img.stride + 3 * (size_t)x;

			p[0] = (uint8_t)(x * 255 / 160);
			p[1] = (uint8_t)(y * 255 / 96);
			p[2] = (uint8_t)(128 + (x - y) / 4);
		}
	assert_int_equal(fw_imageio_save_jpeg(path, &img, 95), 0);
	assert_int_equal(fw_imageio_load(path, &back), 0);
	assert_int_equal(back.width, 161);
	assert_int_equal(back.height, 97);
	for (int y = 0; y < img.height; y++)
		for (int i = 0; i < 3 * img.width; i++) {
			int d = abs(px(&img, 0, y)[i] - px(&back, 0, y)[i]);

			sum += d;
			maxd = d > maxd ? d : maxd;
		}
	print_message("  q95 roundtrip: mean %.3f max %d\n", sum / (161.0 * 97 * 3), maxd);
	assert_true(sum / (161.0 * 97 * 3) < 2.0);
	assert_true(maxd <= 16);
	fw_image_free(&back);

	/* quality is checked; a bad directory is -errno naming the file */
	assert_int_equal(fw_imageio_save_jpeg(path, &img, 0), FW_EINVAL);
	assert_int_equal(fw_imageio_save_jpeg(path, &img, 101), FW_EINVAL);
	assert_int_equal(fw_imageio_save_jpeg("/nonexistent-dir/x.jpg", &img, 90), -ENOENT);
	assert_msg_has("/nonexistent-dir/x.jpg: No such file or directory");
	unlink(path);
	fw_image_free(&img);
}

static void test_save_real_photo_roundtrip(void **state)
{
	(void)state;
	const char *path = tmp_path("photo.jpg");
	struct fw_image img, back;
	double sum = 0;

	if (access(tu_shared(OBAMA_480P), R_OK) != 0)
		skip();
	assert_int_equal(fw_imageio_load(tu_shared(OBAMA_480P), &img), 0);
	assert_int_equal(fw_imageio_save_jpeg(path, &img, 90), 0);
	assert_int_equal(fw_imageio_load(path, &back), 0);
	assert_int_equal(back.width, img.width);
	assert_int_equal(back.height, img.height);
	for (int y = 0; y < img.height; y++)
		for (int i = 0; i < 3 * img.width; i++)
			sum += abs(px(&img, 0, y)[i] - px(&back, 0, y)[i]);
	sum /= 3.0 * img.width * img.height;
	print_message("  q90 re-encode of obama-480p: mean abs diff %.3f\n", sum);
	assert_true(sum < 3.0);
	unlink(path);
	fw_image_free(&img);
	fw_image_free(&back);
}

/* --- damaged and foreign files ---------------------------------------- */

static void test_truncated_jpeg(void **state)
{
	(void)state;
	const char *path = tmp_path("half.jpg");
	struct fw_image img;
	size_t len;
	uint8_t *buf = read_shared(OBAMA_480P, &len);

	write_file(path, buf, len / 2);
	assert_int_equal(fw_imageio_load(path, &img), FW_ETRUNC);
	assert_null(img.data);
	assert_msg_has(path);
	assert_msg_has("truncated JPEG data (libjpeg-turbo:");
	unlink(path);

	/* cut anywhere, from inside the signature to the last byte */
	static const size_t cuts[] = { 1, 2, 3, 4, 20, 200, 600, 2000, 20000 };
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		int err = fw_imageio_decode(buf, cuts[i], "cut.jpg", &img);

		if (err != FW_ETRUNC)
			fail_msg("cut at %zu: %d (%s)", cuts[i], err, last_msg);
		assert_null(img.data);
	}
	assert_int_equal(fw_imageio_decode(buf, len - 1, "cut.jpg", &img), FW_ETRUNC);
	free(buf);
}

static void test_truncated_progressive_jpeg(void **state)
{
	(void)state;
	struct fw_image img;
	size_t len;
	uint8_t *buf = read_shared(OBAMA_BIDEN, &len);

	/* a progressive file cut after some scans still fails */
	assert_int_equal(fw_imageio_decode(buf, len / 2, "prog.jpg", &img), FW_ETRUNC);
	assert_msg_has("prog.jpg: truncated JPEG data");
	free(buf);
}

static void test_corrupt_jpeg(void **state)
{
	(void)state;
	struct fw_image img;
	size_t len;
	uint8_t *buf = read_shared(OBAMA_480P, &len);

	/* the frame header wiped: still starts FF D8 FF, but is not a JPEG */
	memset(buf + 4, 0x00, 600);
	assert_int_equal(fw_imageio_decode(buf, len, "bad.jpg", &img), FW_EFORMAT);
	assert_null(img.data);
	assert_msg_has("bad.jpg: invalid JPEG data");
	free(buf);
}

static void test_truncated_png(void **state)
{
	(void)state;
	const char *path = tmp_path("half.png");
	struct fw_image img;
	size_t len;
	uint8_t *buf = read_shared(ALEX_PNG, &len);

	write_file(path, buf, len / 2);
	assert_int_equal(fw_imageio_load(path, &img), FW_ETRUNC);
	assert_null(img.data);
	assert_msg_has(path);
	assert_msg_has("truncated PNG data");
	unlink(path);

	static const size_t cuts[] = { 1, 7, 8, 20, 33, 100, 5000 };
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
		assert_int_equal(fw_imageio_decode(buf, cuts[i], "cut.png", &img), FW_ETRUNC);
	/* missing only the end chunk's CRC */
	assert_int_equal(fw_imageio_decode(buf, len - 1, "cut.png", &img), FW_ETRUNC);
	free(buf);
}

static void test_corrupt_png(void **state)
{
	(void)state;
	struct fw_image img;
	size_t len;
	uint8_t *buf = read_shared(ALEX_PNG, &len);

	/* one flipped bit in the image data: the chunk CRC no longer matches */
	buf[len / 2] ^= 0x10;
	assert_int_equal(fw_imageio_decode(buf, len, "bad.png", &img), FW_EFORMAT);
	assert_null(img.data);
	assert_msg_has("bad.png: invalid PNG data (libpng:");
	free(buf);
}

static void test_not_an_image(void **state)
{
	(void)state;
	const char *path = tmp_path("x.txt");
	static const char text[] = "hello, this is not a picture\n";
	struct fw_image img;

	write_file(path, text, sizeof text - 1);
	assert_int_equal(fw_imageio_load(path, &img), FW_EFORMAT);
	assert_msg_has(path);
	assert_msg_has(": not a JPEG or PNG image");
	unlink(path);

	/* the name does not matter, the bytes do: a GIF called .jpg */
	assert_int_equal(fw_imageio_decode("GIF89a\1\0\1\0", 10, "x.jpg", &img), FW_EFORMAT);
	assert_msg_has("x.jpg: not a JPEG or PNG image");
}

static void test_missing_and_empty(void **state)
{
	(void)state;
	const char *path = tmp_path("empty.jpg");
	struct fw_image img;

	assert_int_equal(fw_imageio_load("/nonexistent-dir/x.jpg", &img), -ENOENT);
	assert_null(img.data);
	assert_msg_has("/nonexistent-dir/x.jpg: No such file or directory");

	write_file(path, "", 0);
	assert_int_equal(fw_imageio_load(path, &img), FW_ETRUNC);
	assert_msg_has(path);
	assert_msg_has("empty file");
	unlink(path);

	assert_int_equal(fw_imageio_load("/", &img), -EISDIR);
	assert_msg_has("/: Is a directory");
}

/* A PNG header claiming a huge image, with valid CRCs, and no pixel data:
 * refused from the header, before any allocation. */
static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void test_absurd_dimensions(void **state)
{
	(void)state;
	static const uint32_t dims[][2] = { { 40000, 10 }, { 20000, 20000 }, { 0x7fffffff, 1 } };
	struct fw_image img;

	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		uint8_t png[8 + 25 + 12];

		memcpy(png, "\x89PNG\r\n\x1a\n", 8);
		put_be32(png + 8, 13);
		memcpy(png + 12, "IHDR", 4);
		put_be32(png + 16, dims[i][0]);
		put_be32(png + 20, dims[i][1]);
		memcpy(png + 24, "\x08\x02\x00\x00\x00", 5); /* 8-bit RGB */
		put_be32(png + 29, fw_crc32(0, png + 12, 17));
		put_be32(png + 33, 0);
		memcpy(png + 37, "IEND", 4);
		put_be32(png + 41, fw_crc32(0, png + 37, 4));
		assert_err(fw_imageio_decode(png, sizeof png, "huge.png", &img), FW_EUNSUPPORTED);
		assert_null(img.data);
		assert_msg_has("huge.png: PNG image is ");
		assert_msg_has("too large");
	}

	/* a real small JPEG whose frame header is patched to 40000 x 30000 */
	{
		struct fw_image small;
		unsigned char *jpeg = NULL;
		unsigned long jlen = 0;
		tjhandle tj = tjInitCompress();
		int patched = 0;

		assert_int_equal(fw_image_alloc(&small, 16, 16), 0);
		assert_int_equal(tjCompress2(tj, small.data, 16, small.stride, 16, TJPF_RGB, &jpeg,
					     &jlen, TJSAMP_420, 90, 0),
				 0);
		for (unsigned long i = 2; i + 9 < jlen; i++)
			if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) { /* SOF0: len, P, Y, X */
				jpeg[i + 5] = 30000 >> 8;
				jpeg[i + 6] = 30000 & 0xff;
				jpeg[i + 7] = 40000 >> 8;
				jpeg[i + 8] = 40000 & 0xff;
				patched = 1;
				break;
			}
		assert_true(patched);
		assert_int_equal(fw_imageio_decode(jpeg, jlen, "huge.jpg", &img), FW_EUNSUPPORTED);
		assert_msg_has("huge.jpg: JPEG image is 40000x30000, too large");
		tjFree(jpeg);
		tjDestroy(tj);
		fw_image_free(&small);
	}
}

/* --- PNG flavours and odd JPEGs --------------------------------------- */

static void test_png_grey(void **state)
{
	(void)state;
	uint8_t pix[5 * 3];
	struct fw_image img;
	size_t len;
	uint8_t *png;

	for (int i = 0; i < 15; i++)
		pix[i] = (uint8_t)(i * 17);
	png = make_png(5, 3, PNG_COLOR_TYPE_GRAY, 8, 0, pix, NULL, 0, NULL, 0, &len);
	decode_ok(png, len, 5, 3, &img);
	for (int y = 0; y < 3; y++)
		for (int x = 0; x < 5; x++)
			assert_px(&img, x, y, pix[y * 5 + x], pix[y * 5 + x], pix[y * 5 + x]);
	fw_image_free(&img);
	free(png);

	/* 1-bit grey: 0 -> black, 1 -> white */
	uint8_t bits[4 * 2] = { 0, 1, 1, 0, 1, 1, 0, 0 };
	png = make_png(4, 2, PNG_COLOR_TYPE_GRAY, 1, 0, bits, NULL, 0, NULL, 0, &len);
	decode_ok(png, len, 4, 2, &img);
	for (int i = 0; i < 8; i++)
		assert_px(&img, i % 4, i / 4, bits[i] * 255, bits[i] * 255, bits[i] * 255);
	fw_image_free(&img);
	free(png);
}

static void test_png_alpha_dropped(void **state)
{
	(void)state;
	/* RGBA and grey+alpha: colour kept as stored whatever the alpha */
	uint8_t rgba[3 * 2 * 4] = {
		10, 20, 30, 255, 40, 50, 60, 0,   70, 80, 90, 128,
		1,  2,  3,  4,   250, 251, 252, 5, 0, 0, 0, 0,
	};
	uint8_t ga[2 * 2 * 2] = { 100, 0, 200, 255, 30, 77, 255, 1 };
	struct fw_image img;
	size_t len;
	uint8_t *png;

	png = make_png(3, 2, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, rgba, NULL, 0, NULL, 0, &len);
	decode_ok(png, len, 3, 2, &img);
	for (int i = 0; i < 6; i++)
		assert_px(&img, i % 3, i / 3, rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]);
	fw_image_free(&img);
	free(png);

	png = make_png(2, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, NULL, 0, NULL, 0, &len);
	decode_ok(png, len, 2, 2, &img);
	for (int i = 0; i < 4; i++)
		assert_px(&img, i % 2, i / 2, ga[2 * i], ga[2 * i], ga[2 * i]);
	fw_image_free(&img);
	free(png);
}

static void test_png_palette(void **state)
{
	(void)state;
	const png_color pal[3] = { { 255, 0, 0 }, { 0, 128, 0 }, { 1, 2, 250 } };
	const uint8_t trns[3] = { 255, 0, 100 }; /* transparency is ignored */
	uint8_t idx[4 * 2] = { 0, 1, 2, 0, 2, 2, 1, 0 };
	struct fw_image img;
	size_t len;
	uint8_t *png;

	for (int with_trns = 0; with_trns < 2; with_trns++) {
		png = make_png(4, 2, PNG_COLOR_TYPE_PALETTE, 8, 0, idx, pal, 3,
			       with_trns ? trns : NULL, with_trns ? 3 : 0, &len);
		decode_ok(png, len, 4, 2, &img);
		for (int i = 0; i < 8; i++)
			assert_px(&img, i % 4, i / 4, pal[idx[i]].red, pal[idx[i]].green,
				  pal[idx[i]].blue);
		fw_image_free(&img);
		free(png);
	}
}

static void test_png_16bit_and_interlaced(void **state)
{
	(void)state;
	enum { W = 19, H = 11 };
	uint16_t v16[W * H * 3];
	uint8_t be[W * H * 3 * 2], v8[W * H * 3];
	struct fw_image img;
	size_t len;
	uint8_t *png;

	tu_srand(5);
	for (int i = 0; i < W * H * 3; i++) {
		v16[i] = (uint16_t)tu_randi(0, 65535);
		be[2 * i] = (uint8_t)(v16[i] >> 8);
		be[2 * i + 1] = (uint8_t)v16[i];
		v8[i] = (uint8_t)tu_randi(0, 255);
	}
	/* 16-bit: scaled to 8 bits, v * 255 / 65535 rounded */
	png = make_png(W, H, PNG_COLOR_TYPE_RGB, 16, 0, be, NULL, 0, NULL, 0, &len);
	decode_ok(png, len, W, H, &img);
	for (int i = 0; i < W * H * 3; i++) {
		int want = (v16[i] * 255 + 32767) / 65535;

		assert_true(abs(px(&img, 0, i / (3 * W))[i % (3 * W)] - want) <= 1);
	}
	fw_image_free(&img);
	free(png);

	/* Adam7 interlaced, 8-bit: exact */
	png = make_png(W, H, PNG_COLOR_TYPE_RGB, 8, 1, v8, NULL, 0, NULL, 0, &len);
	decode_ok(png, len, W, H, &img);
	for (int y = 0; y < H; y++)
		assert_memory_equal(px(&img, 0, y), v8 + y * W * 3, W * 3);
	fw_image_free(&img);
	/* and a truncated interlaced file fails cleanly */
	assert_int_equal(fw_imageio_decode(png, len - 30, "il.png", &img), FW_ETRUNC);
	free(png);

	/* 16-bit grey + alpha, interlaced */
	uint8_t ga16[3 * 2 * 4];
	for (int i = 0; i < 6; i++) {
		ga16[4 * i] = (uint8_t)(i * 40);
		ga16[4 * i + 1] = (uint8_t)(i * 40); /* 16-bit v * 257 is 8-bit v */
		ga16[4 * i + 2] = 0x12;
		ga16[4 * i + 3] = 0x34;
	}
	png = make_png(3, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 1, ga16, NULL, 0, NULL, 0, &len);
	decode_ok(png, len, 3, 2, &img);
	for (int i = 0; i < 6; i++)
		assert_px(&img, i % 3, i / 3, i * 40, i * 40, i * 40);
	fw_image_free(&img);
	free(png);
}

static void test_jpeg_grey_and_cmyk(void **state)
{
	(void)state;
	enum { W = 32, H = 24 };
	uint8_t grey[W * H], cmyk[W * H * 4];
	unsigned char *jpeg = NULL;
	unsigned long jlen = 0;
	tjhandle tj = tjInitCompress();
	struct fw_image img;

	/* greyscale JPEG: R = G = B = the grey value, within JPEG error */
	for (int i = 0; i < W * H; i++)
		grey[i] = (uint8_t)(64 + (i % W) * 4);
	assert_int_equal(tjCompress2(tj, grey, W, W, H, TJPF_GRAY, &jpeg, &jlen, TJSAMP_GRAY, 100, 0),
			 0);
	decode_ok(jpeg, jlen, W, H, &img);
	for (int i = 0; i < W * H; i++) {
		const uint8_t *p = px(&img, i % W, i / W);

		assert_true(p[0] == p[1] && p[1] == p[2]);
		assert_true(abs(p[0] - grey[i]) <= 2);
	}
	fw_image_free(&img);
	tjFree(jpeg);

	/* CMYK (stored as YCCK): converted with R = C * K / 255 (Adobe's
	 * inverted CMYK, as libjpeg delivers it) */
	for (int i = 0; i < W * H; i++) {
		cmyk[4 * i + 0] = 255;
		cmyk[4 * i + 1] = 128;
		cmyk[4 * i + 2] = 0;
		cmyk[4 * i + 3] = (uint8_t)(i < W * H / 2 ? 255 : 100);
	}
	jpeg = NULL;
	assert_int_equal(tjCompress2(tj, cmyk, W, W * 4, H, TJPF_CMYK, &jpeg, &jlen, TJSAMP_444, 100,
				     0),
			 0);
	decode_ok(jpeg, jlen, W, H, &img);
	{
		const uint8_t *top = px(&img, W / 2, 2), *bottom = px(&img, W / 2, H - 3);

		assert_true(abs(top[0] - 255) <= 3 && abs(top[1] - 128) <= 3 && top[2] <= 3);
		assert_true(abs(bottom[0] - 100) <= 3 && abs(bottom[1] - 50) <= 3 && bottom[2] <= 3);
	}
	fw_image_free(&img);
	tjFree(jpeg);
	tjDestroy(tj);
}

/* Every prefix and many single-byte changes of small files: never a crash
 * (run under ASan to mean "never an overread"), and a failure leaves no image. */
static void test_damage_never_crashes(void **state)
{
	(void)state;
	struct fw_image img, small;
	unsigned char *jpeg = NULL;
	unsigned long jlen = 0;
	tjhandle tj = tjInitCompress();
	uint8_t pix[12 * 10 * 3], *png;
	size_t plen;

	tu_srand(3);
	for (size_t i = 0; i < sizeof pix; i++)
		pix[i] = (uint8_t)tu_randi(0, 255);
	small = (struct fw_image){ .width = 12, .height = 10, .stride = 36, .data = pix };
	assert_int_equal(tjCompress2(tj, small.data, 12, 36, 10, TJPF_RGB, &jpeg, &jlen, TJSAMP_420,
				     80, TJFLAG_PROGRESSIVE),
			 0);
	png = make_png(12, 10, PNG_COLOR_TYPE_RGB, 8, 1, pix, NULL, 0, NULL, 0, &plen);

	for (int which = 0; which < 2; which++) {
		const uint8_t *orig = which ? png : jpeg;
		size_t n = which ? plen : jlen;
		uint8_t *buf = malloc(n);

		for (size_t cut = 0; cut < n; cut++) {
			/* exactly `cut` bytes on the heap, so ASan sees any overread */
			uint8_t *p = malloc(cut ? cut : 1);

			memcpy(p, orig, cut);
			if (fw_imageio_decode(p, cut, "cut", &img) == 0)
				fw_image_free(&img);
			else
				assert_null(img.data);
			free(p);
		}
		for (int k = 0; k < 2000; k++) {
			memcpy(buf, orig, n);
			buf[tu_randi(0, (int)n - 1)] = (uint8_t)tu_randi(0, 255);
			if (k % 2)
				buf[tu_randi(0, (int)n - 1)] ^= (uint8_t)(1 << tu_randi(0, 7));
			if (fw_imageio_decode(buf, n, "flip", &img) == 0) {
				assert_true(img.width > 0 && img.height > 0);
				fw_image_free(&img);
			} else {
				assert_null(img.data);
			}
		}
		free(buf);
	}
	assert_true(n_errors > 0);
	tjFree(jpeg);
	tjDestroy(tj);
	free(png);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_real_jpeg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_progressive_jpeg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_real_png, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_real_photo_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_jpeg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_progressive_jpeg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_jpeg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_png, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_png, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_an_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absurd_dimensions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_png_grey, setup, teardown),
		cmocka_unit_test_setup_teardown(test_png_alpha_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_png_palette, setup, teardown),
		cmocka_unit_test_setup_teardown(test_png_16bit_and_interlaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jpeg_grey_and_cmyk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_never_crashes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
