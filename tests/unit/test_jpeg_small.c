/* The reduced-size MJPEG decoder (capture/jpeg_small.c) against TurboJPEG's
 * scaled decode of the same bytes (the path it replaces, same flags):
 * every frame of the shared clip, real photos re-encoded in every camera
 * sampling, at three qualities and odd sizes, with restart intervals and
 * without DHT. The rest falls back to TurboJPEG; damaged frames are
 * refused as before; the detector finds the same faces either way; and a
 * stream of frames allocates nothing.
 *
 * Tolerance: none. Both sides run libjpeg's reduced-IDCT and colour
 * arithmetic, so every pixel must be equal (max abs difference 0); a
 * difference means a Huffman, IDCT, upsampling or edge bug, which would
 * show as far more than a level. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT, memmem */
#endif
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <jpeglib.h>

#include <cmocka.h>

#include "capture/jpeg.h"
#include "capture/jpeg_small.h"
#include "core/detector.h"
#include "core/fw.h"
#include "core/image.h"
#include "testutil.h"

#include "alloc_count.h"

#define CLIP "data/video/short_hamilton_clip.mjpeg"
#define GUARD 64

/* Every TurboJPEG decode in this program is counted: the real function,
 * called through, so FACEWATCH_JPEG=turbo can be seen to switch paths. */
static unsigned long tj_decodes;

/* check_same's count of frames TurboJPEG decoded at another scale */
static int other_scale;

int tjDecompress2(tjhandle h, const unsigned char *buf, unsigned long size, unsigned char *dst,
		  int width, int pitch, int height, int pixel_format, int flags)
{
	typedef int (*fn)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int,
			  int, int, int, int);
	static fn real;

	if (!real)
		real = (fn)dlsym(RTLD_NEXT, "tjDecompress2");
	tj_decodes++;
	return real(h, buf, size, dst, width, pitch, height, pixel_format, flags);
}

/* TurboJPEG's decode with the flags fw_jpeg_decode uses when scaled;
 * *out malloc'd (caller frees). 0, or -1 when TurboJPEG refuses (an error,
 * or a warning other than junk before a marker, as jpeg.c treats them). */
static int turbo_decode(const uint8_t *buf, size_t len, int denom, uint8_t **out, int *w, int *h)
{
	tjhandle tj = tjInitDecompress();
	int fw, fh, ss, cs, rc = -1;

	*out = NULL;
	if (tjDecompressHeader3(tj, buf, (unsigned long)len, &fw, &fh, &ss, &cs) == 0 && fw > 0 &&
	    fh > 0) {
		*w = (fw + denom - 1) / denom;
		*h = (fh + denom - 1) / denom;
		*out = malloc((size_t)*w * (size_t)*h * 3);
		if (tjDecompress2(tj, buf, (unsigned long)len, *out, *w, *w * 3, *h, TJPF_RGB,
				  TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE | TJFLAG_LIMITSCANS) == 0 ||
		    (tjGetErrorCode(tj) == TJERR_WARNING &&
		     strstr(tjGetErrorStr2(tj), "extraneous bytes before marker")))
			rc = 0;
	}
	tjDestroy(tj);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* The small decoder into a buffer of exactly the scaled size followed by
 * a guard that must stay untouched. Returns its code; *out malloc'd. */
static int small_decode(struct fw_jpeg_small *s, const uint8_t *buf, size_t len, int denom,
			uint8_t **out, int *w, int *h)
{
	size_t cap = 0;
	struct fw_image img = { 0 };
	int fw = 0, fh = 0, rc;

	/* the size from a structure check, else a generous buffer */
	if (fw_mjpeg_check(buf, len, NULL, &fw, &fh) == 0 && fw <= 16384 && fh <= 16384) {
		cap = (size_t)((fw + denom - 1) / denom) * (size_t)((fh + denom - 1) / denom) * 3;
	} else {
		cap = 1 << 20;
	}
	img.data = malloc(cap + GUARD);
	memset(img.data, 0xa5, cap + GUARD);
	rc = fw_jpeg_small_decode(s, buf, len, denom, &img, cap);
	for (int i = 0; i < GUARD; i++)
		if (img.data[cap + i] != 0xa5)
			fail_msg("wrote past cap (%zu bytes) at +%d", cap, i);
	if (rc == 0) {
		assert_int_equal(img.stride, img.width * 3);
		assert_true((size_t)img.width * (size_t)img.height * 3 <= cap);
	}
	*out = img.data;
	*w = img.width;
	*h = img.height;
	return rc;
}

/* Whether TurboJPEG really decodes a w x h frame at 1/denom when asked
 * for ceil(w/denom) x ceil(h/denom): it takes the first of its scaling
 * factors (largest first) whose output fits, so for tiny frames (1x1 at
 * any denom, where 1/1 fits) it decodes at a larger scale with the full
 * 8x8 IDCT and averages nothing. */
static int turbo_scales_by(int w, int h, int denom)
{
	int n = 0;
	tjscalingfactor *sf = tjGetScalingFactors(&n);

	for (int i = 0; i < n; i++)
		if (TJSCALED(w, sf[i]) <= (w + denom - 1) / denom &&
		    TJSCALED(h, sf[i]) <= (h + denom - 1) / denom)
			return sf[i].num == 1 && sf[i].denom == denom;
	return 0;
}

/* Decodes buf both ways at denom and asserts equal pixels; returns 0, or
 * FW_JPEG_SMALL_DECLINED when the small decoder says it is not its frame.
 * Where TurboJPEG itself decodes at another scale (turbo_scales_by), the
 * pictures are of the same thing by different filters: within 4 levels. */
static int check_same(struct fw_jpeg_small *s, const uint8_t *buf, size_t len, int denom,
		      const char *what)
{
	uint8_t *a, *b;
	int aw, ah, bw, bh, rc, fw_w = 0, fw_h = 0;
	long diffs = 0, maxd = 0;

	assert_int_equal(fw_mjpeg_check(buf, len, NULL, &fw_w, &fw_h), 0);
	rc = small_decode(s, buf, len, denom, &a, &aw, &ah);
	if (rc == FW_JPEG_SMALL_DECLINED) {
		free(a);
		return rc;
	}
	if (rc)
		fail_msg("%s 1/%d: small decoder gave %d (%s)", what, denom, rc, fw_strerror(rc));
	if (turbo_decode(buf, len, denom, &b, &bw, &bh))
		fail_msg("%s 1/%d: TurboJPEG refused it", what, denom);
	if (aw != bw || ah != bh)
		fail_msg("%s 1/%d: %dx%d, TurboJPEG %dx%d", what, denom, aw, ah, bw, bh);
	for (size_t i = 0; i < (size_t)aw * (size_t)ah * 3; i++) {
		long d = labs((long)a[i] - b[i]);

		diffs += d != 0;
		maxd = d > maxd ? d : maxd;
	}
	if (!turbo_scales_by(fw_w, fw_h, denom)) {
		other_scale++;
		if (maxd <= 4)
			diffs = 0;
	}
	if (diffs)
		fail_msg("%s 1/%d (%dx%d): %ld values differ from TurboJPEG's, by up to %ld", what,
			 denom, aw, ah, diffs, maxd);
	free(a);
	free(b);
	return 0;
}

/* The shared clip's frames, n of them at most, each in an exact-size
 * allocation (ASan sees any read past the end). */
struct frames {
	uint8_t *f[400];
	size_t len[400];
	int n;
};

static void load_clip(struct frames *fr)
{
	size_t flen = 0, pos = 0, start = 0, size = 0;
	uint8_t *file = tu_read_file(tu_shared(CLIP), &flen);

	if (!file)
		fail_msg("cannot read %s", tu_shared(CLIP));
	fr->n = 0;
	while (fr->n < 400 && fw_mjpeg_next(file, flen, &pos, &start, &size, NULL) == 0) {
		fr->f[fr->n] = malloc(size);
		memcpy(fr->f[fr->n], file + start, size);
		fr->len[fr->n++] = size;
	}
	free(file);
}

static void free_clip(struct frames *fr)
{
	for (int i = 0; i < fr->n; i++)
		free(fr->f[i]);
}

/* Every frame of the clip (640x360 4:2:0 with its own DHT) at 1/4 and 1/8
 * is the small decoder's and equals TurboJPEG's; 1/2 it declines. */
static void test_clip_frames_equal_turbo(void **state)
{
	struct fw_jpeg_small *s;
	struct frames fr;
	char what[64];

	(void)state;
	assert_int_equal(fw_jpeg_small_create(&s), 0);
	load_clip(&fr);
	assert_true(fr.n >= 250);
	for (int i = 0; i < fr.n; i++) {
		snprintf(what, sizeof what, "clip frame %d", i);
		assert_int_equal(check_same(s, fr.f[i], fr.len[i], 4, what), 0);
		assert_int_equal(check_same(s, fr.f[i], fr.len[i], 8, what), 0);
	}
	assert_int_equal(check_same(s, fr.f[0], fr.len[0], 2, "clip frame 0"),
			 FW_JPEG_SMALL_DECLINED);
	free_clip(&fr);
	fw_jpeg_small_destroy(s);
}

/* --- encoders -------------------------------------------------------------- */

static uint8_t *load_photo(const char *rel, int *w, int *h)
{
	size_t len = 0;
	uint8_t *jpg = tu_read_file(tu_shared(rel), &len), *rgb;
	tjhandle tj = tjInitDecompress();
	int ss, cs;

	if (!jpg)
		fail_msg("cannot read %s", tu_shared(rel));
	assert_int_equal(tjDecompressHeader3(tj, jpg, (unsigned long)len, w, h, &ss, &cs), 0);
	rgb = malloc((size_t)*w * (size_t)*h * 3);
	assert_int_equal(tjDecompress2(tj, jpg, (unsigned long)len, rgb, *w, *w * 3, *h, TJPF_RGB, 0), 0);
	tjDestroy(tj);
	free(jpg);
	return rgb;
}

/* A w x h crop at (x, y) of an image stride sw pixels, encoded by
 * TurboJPEG; caller tjFree()s. */
static uint8_t *tj_encode(const uint8_t *rgb, int sw, int x, int y, int w, int h, int samp,
			  int q, unsigned long *len)
{
	tjhandle tj = tjInitCompress();
	uint8_t *jpg = NULL;

	*len = 0;
	assert_int_equal(tjCompress2(tj, rgb + ((size_t)y * (size_t)sw + (size_t)x) * 3, w, sw * 3,
				     h, TJPF_RGB, &jpg, len, samp, q, 0),
			 0);
	tjDestroy(tj);
	return jpg;
}

struct jl_opts {
	int grey, hs, vs, q;
	int restart_rows, restart_mcus; /* DRI: one of them, or 0 */
	int progressive, arith;
};

/* The same through libjpeg's own API, for what TurboJPEG 2.1 cannot write:
 * restart intervals, 4:1:1, arithmetic coding. Caller free()s. */
static uint8_t *jl_encode(const uint8_t *rgb, int sw, int w, int h, const struct jl_opts *o,
			  unsigned long *len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr err;
	unsigned char *out = NULL;
	uint8_t *grey = NULL;

	c.err = jpeg_std_error(&err);
	jpeg_create_compress(&c);
	*len = 0;
	jpeg_mem_dest(&c, &out, len);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = o->grey ? 1 : 3;
	c.in_color_space = o->grey ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, o->q, TRUE);
	if (!o->grey) {
		c.comp_info[0].h_samp_factor = o->hs;
		c.comp_info[0].v_samp_factor = o->vs;
	}
	c.restart_in_rows = o->restart_rows;
	c.restart_interval = (unsigned)o->restart_mcus;
	c.arith_code = o->arith ? TRUE : FALSE;
	if (o->progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	if (o->grey) {
		grey = malloc((size_t)w);
	}
	for (int y = 0; y < h; y++) {
		JSAMPROW row = (JSAMPROW)(rgb + (size_t)y * (size_t)sw * 3);

		if (grey) {
			for (int x = 0; x < w; x++)
				grey[x] = (uint8_t)((row[3 * x] * 77 + row[3 * x + 1] * 150 +
						     row[3 * x + 2] * 29) >> 8);
			row = grey;
		}
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(grey);
	return out;
}

static const char *const photos[] = {
	"data/detection/wider_val_subset/images/13--Interview/13_Interview_Interview_2_People_Visible_13_107.jpg",
	"data/detection/wider_val_subset/images/0--Parade/0_Parade_Parade_0_120.jpg",
	"data/detection/wider_val_subset/images/13--Interview/13_Interview_Interview_2_People_Visible_13_155.jpg",
};

/* Real photos re-encoded in each sampling TurboJPEG writes (4:4:4, 4:2:2,
 * 4:2:0, 4:4:0, grey) at q50/q85/q95, whole and cropped to odd sizes,
 * at 1/4 and 1/8: the small decoder takes every one, and its pixels are
 * TurboJPEG's. At 1/2 it declines them all. */
static void test_photos_every_sampling(void **state)
{
	static const int samps[] = { TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_440, TJSAMP_GRAY };
	static const char *const sname[] = { "4:4:4", "4:2:2", "4:2:0", "4:4:0", "grey" };
	static const int quals[] = { 50, 85, 95 };
	static const int sizes[][2] = { { 0, 0 }, { 641, 479 }, { 17, 9 }, { 8, 8 }, { 1, 1 }, { 33, 47 } };
	struct fw_jpeg_small *s;
	int taken = 0, declined = 0;

	(void)state;
	assert_int_equal(fw_jpeg_small_create(&s), 0);
	for (size_t p = 0; p < sizeof photos / sizeof photos[0]; p++) {
		int pw, ph;
		uint8_t *rgb = load_photo(photos[p], &pw, &ph);

		for (size_t si = 0; si < 5; si++)
			for (size_t qi = 0; qi < 3; qi++)
				for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
					int w = sizes[z][0] ? sizes[z][0] : pw, h = sizes[z][1] ? sizes[z][1] : ph;
					unsigned long len;
					uint8_t *jpg;
					char what[160];

					/* the whole photo once per photo and sampling */
					if (!sizes[z][0] && qi != 1)
						continue;
					if (w > pw || h > ph)
						continue;
					jpg = tj_encode(rgb, pw, (pw - w) / 3, (ph - h) / 2, w, h,
							samps[si], quals[qi], &len);
					snprintf(what, sizeof what, "photo %zu %dx%d %s q%d", p, w, h,
						 sname[si], quals[qi]);
					for (int d = 2; d <= 8; d *= 2) {
						int rc = check_same(s, jpg, len, d, what);

						if ((rc == FW_JPEG_SMALL_DECLINED) != (d == 2))
							fail_msg("%s 1/%d: %s", what, d,
								 rc ? "declined" : "taken");
						rc ? declined++ : taken++;
					}
					tjFree(jpg);
				}
		free(rgb);
	}
	print_message("%d decodes equal to TurboJPEG's (%d within 4 levels where TurboJPEG "
		      "decodes tiny frames at a larger scale), %d declined (1/2)\n",
		      taken, other_scale, declined);
	fw_jpeg_small_destroy(s);
}

/* Restart intervals (one MCU row, and 5 MCUs which cut rows), the
 * extended-sequential and 16-bit-quantiser cases libjpeg writes at q < 25,
 * and a UVC-style frame without DHT (the standard tables): equal. */
static void test_restarts_and_no_dht(void **state)
{
	struct fw_jpeg_small *s;
	int pw, ph;
	uint8_t *rgb = load_photo(photos[0], &pw, &ph);
	static const struct jl_opts opts[] = {
		{ 0, 2, 1, 85, 1, 0, 0, 0 }, { 0, 2, 2, 85, 0, 5, 0, 0 }, { 0, 1, 1, 75, 0, 7, 0, 0 },
		{ 1, 1, 1, 85, 0, 3, 0, 0 }, { 0, 1, 2, 90, 2, 0, 0, 0 }, { 0, 2, 1, 10, 0, 1, 0, 0 },
	};

	(void)state;
	assert_int_equal(fw_jpeg_small_create(&s), 0);
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		unsigned long len;
		uint8_t *jpg = jl_encode(rgb, pw, 641, 479, &opts[i], &len);
		char what[96];

		/* a DRI segment is there */
		assert_non_null(memmem(jpg, len, "\xff\xdd\x00\x04", 4));
		snprintf(what, sizeof what, "restart case %zu", i);
		for (int d = 2; d <= 8; d *= 2)
			if ((check_same(s, jpg, len, d, what) == FW_JPEG_SMALL_DECLINED) != (d == 2))
				fail_msg("%s 1/%d: declined or taken wrongly", what, d);
		free(jpg);
	}
	/* the clip's frame without its DHT segments: TurboJPEG's encoder uses
	 * the standard tables, so the frame decodes the same without them */
	{
		unsigned long len;
		uint8_t *jpg = tj_encode(rgb, pw, 0, 0, 640, 480, TJSAMP_422, 85, &len), *cut = malloc(len);
		size_t n = 0, p = 2;

		memcpy(cut, jpg, 2);
		n = 2;
		while (p + 4 <= len && jpg[p] == 0xff && jpg[p + 1] != 0xda) {
			size_t seg = 2 + ((size_t)jpg[p + 2] << 8 | jpg[p + 3]);

			if (jpg[p + 1] != 0xc4) {
				memcpy(cut + n, jpg + p, seg);
				n += seg;
			}
			p += seg;
		}
		assert_true(n < p); /* a DHT was dropped */
		memcpy(cut + n, jpg + p, len - p);
		n += len - p;
		assert_int_equal(check_same(s, cut, n, 4, "no DHT"), 0);
		assert_int_equal(check_same(s, cut, n, 8, "no DHT"), 0);
		free(cut);
		tjFree(jpg);
	}
	free(rgb);
	fw_jpeg_small_destroy(s);
}

/* Progressive, arithmetic-coded and 4:1:1 frames are not the small
 * decoder's: it declines, and fw_jpeg_decode gives TurboJPEG's picture. */
static void test_fallback(void **state)
{
	static const struct jl_opts opts[] = {
		{ 0, 2, 1, 85, 0, 0, 1, 0 }, /* progressive */
		{ 0, 2, 1, 85, 0, 0, 0, 1 }, /* arithmetic */
		{ 0, 4, 1, 85, 0, 0, 0, 0 }, /* 4:1:1 */
	};
	static const char *const names[] = { "progressive", "arithmetic", "4:1:1" };
	struct fw_jpeg_small *s;
	struct fw_jpeg *j;
	int pw, ph;
	uint8_t *rgb = load_photo(photos[1], &pw, &ph);

	(void)state;
	assert_int_equal(fw_jpeg_small_create(&s), 0);
	assert_int_equal(fw_jpeg_create(&j), 0);
	for (int i = 0; i < 3; i++) {
		unsigned long len;
		uint8_t *jpg = jl_encode(rgb, pw, 320, 240, &opts[i], &len), *want, *got;
		int w, h, rc;
		struct fw_image img = { .data = malloc(80 * 60 * 3) };

		rc = small_decode(s, jpg, len, 4, &got, &w, &h);
		if (rc != FW_JPEG_SMALL_DECLINED)
			fail_msg("%s: small decoder gave %d, not declined", names[i], rc);
		free(got);
		assert_int_equal(turbo_decode(jpg, len, 4, &want, &w, &h), 0);
		assert_int_equal(fw_jpeg_decode(j, jpg, len, 4, &img, 80 * 60 * 3), 0);
		assert_int_equal(img.width, 80);
		assert_int_equal(img.height, 60);
		assert_memory_equal(img.data, want, 80 * 60 * 3);
		free(want);
		free(img.data);
		free(jpg);
	}
	fw_jpeg_destroy(j);
	fw_jpeg_small_destroy(s);
	free(rgb);
}

/* fw_jpeg_decode takes the small path (no TurboJPEG decode) for a camera
 * frame; FACEWATCH_JPEG=turbo, read at fw_jpeg_create, sends the same frame
 * through TurboJPEG, with the same picture. */
static void test_env_forces_turbo(void **state)
{
	struct frames fr;
	struct fw_jpeg *fast, *turbo;
	struct fw_image a = { .data = malloc(160 * 90 * 3) }, b = { .data = malloc(160 * 90 * 3) };
	unsigned long before;

	(void)state;
	load_clip(&fr);
	unsetenv("FACEWATCH_JPEG");
	assert_int_equal(fw_jpeg_create(&fast), 0);
	setenv("FACEWATCH_JPEG", "turbo", 1);
	assert_int_equal(fw_jpeg_create(&turbo), 0);
	unsetenv("FACEWATCH_JPEG");
	before = tj_decodes;
	assert_int_equal(fw_jpeg_decode(fast, fr.f[20], fr.len[20], 4, &a, 160 * 90 * 3), 0);
	assert_int_equal(tj_decodes, before);
	assert_int_equal(fw_jpeg_decode(turbo, fr.f[20], fr.len[20], 4, &b, 160 * 90 * 3), 0);
	assert_int_equal(tj_decodes, before + 1);
	assert_int_equal(a.width, b.width);
	assert_int_equal(a.height, b.height);
	assert_memory_equal(a.data, b.data, 160 * 90 * 3);
	/* full size is always TurboJPEG's */
	{
		struct fw_image full = { .data = malloc(640 * 360 * 3) };

		assert_int_equal(fw_jpeg_decode(fast, fr.f[20], fr.len[20], 1, &full, 640 * 360 * 3), 0);
		assert_int_equal(tj_decodes, before + 2);
		free(full.data);
	}
	fw_jpeg_destroy(fast);
	fw_jpeg_destroy(turbo);
	free(a.data);
	free(b.data);
	free_clip(&fr);
}

/* --- damaged frames -------------------------------------------------------- */

/* Every prefix (each its own allocation): the small decoder refuses it
 * (FW_ETRUNC, or FW_EFORMAT; cut inside the headers it declines and
 * TurboJPEG refuses), never reads past the end, and TurboJPEG refuses too. */
static void truncations(struct fw_jpeg_small *s, const uint8_t *frame, size_t len, int step,
			const char *what)
{
	for (size_t n = 0; n < len; n += (n < 700 ? 1 : (size_t)step)) {
		uint8_t *cut = malloc(n ? n : 1), *o, *t;
		int w, h, rc, trc;

		memcpy(cut, frame, n);
		rc = small_decode(s, cut, n, n % 2 ? 4 : 8, &o, &w, &h);
		free(o);
		trc = turbo_decode(cut, n, n % 2 ? 4 : 8, &t, &w, &h);
		free(t);
		if (rc == 0 || trc == 0)
			fail_msg("%s cut to %zu of %zu bytes: small %d, TurboJPEG %d (both must refuse)",
				 what, n, len, rc, trc);
		if (rc != FW_ETRUNC && rc != FW_EFORMAT && rc != FW_JPEG_SMALL_DECLINED)
			fail_msg("%s cut to %zu bytes: %d", what, n, rc);
		free(cut);
	}
}

static void test_truncated_refused(void **state)
{
	struct fw_jpeg_small *s;
	struct frames fr;
	int pw, ph;
	uint8_t *rgb = load_photo(photos[0], &pw, &ph);
	static const struct jl_opts ro = { 0, 2, 1, 85, 0, 4, 0, 0 };
	unsigned long len;
	uint8_t *jpg = jl_encode(rgb, pw, 320, 240, &ro, &len);

	(void)state;
	assert_int_equal(fw_jpeg_small_create(&s), 0);
	load_clip(&fr);
	truncations(s, fr.f[0], fr.len[0], 37, "clip frame 0");
	truncations(s, jpg, len, 13, "restart frame");
	free(jpg);
	free(rgb);
	free_clip(&fr);
	fw_jpeg_small_destroy(s);
}

/* Bytes flipped in the entropy data: refused or decoded to the right
 * size, never a crash or a write past cap (ASan/UBSan builds run this
 * too). A bogus RST number and an RST replaced by another marker: refused
 * with FW_EFORMAT by the small decoder, and by fw_jpeg_decode. */
static void test_damaged_entropy(void **state)
{
	struct fw_jpeg_small *s;
	struct fw_jpeg *j;
	struct frames fr;
	int pw, ph, refused = 0;
	uint8_t *rgb = load_photo(photos[0], &pw, &ph);
	static const struct jl_opts ro = { 0, 2, 1, 85, 0, 4, 0, 0 };
	unsigned long len;
	uint8_t *jpg = jl_encode(rgb, pw, 320, 240, &ro, &len), *bad = malloc(len), *o;
	struct fw_image img = { .data = malloc(320 * 240 * 3) };
	size_t sos = 0, rst = 0;
	int w, h;

	(void)state;
	assert_int_equal(fw_jpeg_small_create(&s), 0);
	assert_int_equal(fw_jpeg_create(&j), 0);
	load_clip(&fr);
	tu_srand(17);
	for (int round = 0; round < 300; round++) {
		const uint8_t *src = fr.f[round % fr.n];
		size_t n = fr.len[round % fr.n];
		uint8_t *b = malloc(n);
		int rc, k = tu_randi(1, 8);

		memcpy(b, src, n);
		for (int i = 0; i < k; i++)
			b[tu_randi(700, (int)n - 3)] ^= (uint8_t)tu_randi(1, 255);
		rc = small_decode(s, b, n, round % 3 ? 4 : 8, &o, &w, &h);
		free(o);
		if (rc == 0)
			assert_int_equal(w, round % 3 ? 160 : 80);
		else if (rc != FW_EFORMAT && rc != FW_ETRUNC && rc != FW_JPEG_SMALL_DECLINED)
			fail_msg("round %d: %d", round, rc);
		refused += rc != 0;
		free(b);
	}
	print_message("%d of 300 damaged clip frames refused\n", refused);
	assert_true(refused > 150);

	/* the first RSTn after SOS */
	for (size_t p = 2; p + 1 < len; p++)
		if (jpg[p] == 0xff && jpg[p + 1] == 0xda)
			sos = p;
	for (size_t p = sos + 2; p + 1 < len && !rst; p++)
		if (jpg[p] == 0xff && jpg[p + 1] == 0xd0)
			rst = p;
	assert_true(sos && rst);
	assert_int_equal(check_same(s, jpg, len, 4, "restart frame"), 0);
	memcpy(bad, jpg, len);
	bad[rst + 1] = 0xd3; /* RST3 where RST0 belongs */
	assert_int_equal(small_decode(s, bad, len, 4, &o, &w, &h), FW_EFORMAT);
	free(o);
	assert_int_equal(fw_jpeg_decode(j, bad, len, 4, &img, 320 * 240 * 3), FW_EFORMAT);
	assert_int_not_equal(turbo_decode(bad, len, 4, &o, &w, &h), 0);
	bad[rst + 1] = 0xfe; /* a COM marker inside the scan */
	assert_int_equal(small_decode(s, bad, len, 8, &o, &w, &h), FW_EFORMAT);
	free(o);
	assert_int_equal(fw_jpeg_decode(j, bad, len, 8, &img, 320 * 240 * 3), FW_EFORMAT);

	/* a buffer one byte short: FW_EINVAL, nothing written */
	memset(img.data, 0x5a, 80 * 60 * 3);
	assert_int_equal(fw_jpeg_small_decode(s, jpg, len, 4, &img, 80 * 60 * 3 - 1), FW_EINVAL);
	assert_int_equal(img.data[0], 0x5a);

	free(img.data);
	free(bad);
	free(jpg);
	free(rgb);
	free_clip(&fr);
	fw_jpeg_destroy(j);
	fw_jpeg_small_destroy(s);
}

/* What a user sees: the detector on the clip's 1/4 frames decoded by the
 * small decoder finds the faces it finds on TurboJPEG's decode, in the
 * same places with the same scores. */
static void test_detector_same_faces(void **state)
{
	struct fw_detector *d = NULL;
	struct fw_jpeg *fast, *turbo;
	struct frames fr;
	struct fw_image a = { .data = malloc(160 * 90 * 3) }, b = { .data = malloc(160 * 90 * 3) };
	int faces = 0;

	(void)state;
	load_clip(&fr);
	assert_int_equal(fw_detector_open(&d, tu_models("blazeface_short.fwm"), FW_DETECTOR_SHORT,
					  FW_KERNELS_FAST),
			 0);
	unsetenv("FACEWATCH_JPEG");
	assert_int_equal(fw_jpeg_create(&fast), 0);
	setenv("FACEWATCH_JPEG", "turbo", 1);
	assert_int_equal(fw_jpeg_create(&turbo), 0);
	unsetenv("FACEWATCH_JPEG");
	for (int i = 100; i < fr.n && i <= 220; i += 20) {
		struct fw_detection da[16], db[16];
		int na, nb;

		assert_int_equal(fw_jpeg_decode(fast, fr.f[i], fr.len[i], 4, &a, 160 * 90 * 3), 0);
		assert_int_equal(fw_jpeg_decode(turbo, fr.f[i], fr.len[i], 4, &b, 160 * 90 * 3), 0);
		na = fw_detector_run(d, &a, da, 16);
		nb = fw_detector_run(d, &b, db, 16);
		assert_true(na >= 0 && nb >= 0);
		if (na != nb)
			fail_msg("frame %d: %d faces from the small decoder, %d from TurboJPEG", i, na, nb);
		for (int k = 0; k < na; k++) {
			float iou = fw_detection_iou(&da[k], &db[k]);

			if (iou < 0.9f || da[k].score - db[k].score > 0.05f ||
			    db[k].score - da[k].score > 0.05f)
				fail_msg("frame %d face %d: IoU %.3f, scores %.3f / %.3f", i, k, iou,
					 da[k].score, db[k].score);
		}
		faces += na;
	}
	print_message("%d faces found alike on 7 frames\n", faces);
	assert_true(faces >= 5);
	fw_detector_close(d);
	fw_jpeg_destroy(fast);
	fw_jpeg_destroy(turbo);
	free(a.data);
	free(b.data);
	free_clip(&fr);
}

/* No allocation per frame: once the decoder has seen the clip's biggest
 * frame, decoding every frame of it at 1/4 and 1/8 allocates nothing
 * (fw_jpeg_decode, the daemon's path, so nothing on TurboJPEG's side
 * either). */
static void test_no_allocation_per_frame(void **state)
{
	struct frames fr;
	struct fw_jpeg *j;
	struct fw_image img = { 0 };
	int big = 0;

	(void)state;
#ifdef FW_NO_INTERPOSE
	skip();
#endif
	load_clip(&fr);
	for (int i = 1; i < fr.n; i++)
		if (fr.len[i] > fr.len[big])
			big = i;
	unsetenv("FACEWATCH_JPEG");
	assert_int_equal(fw_jpeg_create(&j), 0);
	img.data = malloc(160 * 90 * 3);
	assert_int_equal(fw_jpeg_decode(j, fr.f[big], fr.len[big], 4, &img, 160 * 90 * 3), 0);
	tu_allocations = 0;
	tu_counting = 1;
	for (int i = 0; i < fr.n; i++) {
		fw_jpeg_decode(j, fr.f[i], fr.len[i], 4, &img, 160 * 90 * 3);
		fw_jpeg_decode(j, fr.f[i], fr.len[i], 8, &img, 160 * 90 * 3);
	}
	tu_counting = 0;
	assert_int_equal(tu_allocations, 0);
	free(img.data);
	fw_jpeg_destroy(j);
	free_clip(&fr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clip_frames_equal_turbo),
		cmocka_unit_test(test_photos_every_sampling),
		cmocka_unit_test(test_restarts_and_no_dht),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_env_forces_turbo),
		cmocka_unit_test(test_truncated_refused),
		cmocka_unit_test(test_damaged_entropy),
		cmocka_unit_test(test_detector_same_faces),
		cmocka_unit_test(test_no_allocation_per_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
