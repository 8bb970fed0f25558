/* Frame decoding: MJPEG via TurboJPEG (DCT-scaled), the MJPEG marker
 * parser, and YUYV to RGB. See jpeg.h.
 *
 * YUYV to RGB is in yuyv.c (no libjpeg there, so the NEON test can build
 * it for aarch64 alone).
 */
#include "capture/jpeg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "capture/jpeg_internal.h"
#include "capture/jpeg_small.h"
#include "core/fw.h"

#define JPEG_MAX_SIDE 16384

struct fw_jpeg {
	tjhandle tj;
	struct fw_jpeg_small *small; /* the common camera frame at 1/4, 1/8 */
	int turbo_only;              /* FACEWATCH_JPEG=turbo */
};

int fw_jpeg_create(struct fw_jpeg **out)
{
	struct fw_jpeg *j = calloc(1, sizeof *j);

	*out = NULL;
	if (!j)
		return FW_ENOMEM;
	j->tj = tjInitDecompress();
	if (!j->tj || fw_jpeg_small_create(&j->small)) {
		if (j->tj)
			tjDestroy(j->tj);
		free(j);
		return FW_ENOMEM;
	}
	j->turbo_only = getenv("FACEWATCH_JPEG") && !strcmp(getenv("FACEWATCH_JPEG"), "turbo");
	*out = j;
	return 0;
}

void fw_jpeg_destroy(struct fw_jpeg *j)
{
	if (!j)
		return;
	tjDestroy(j->tj);
	fw_jpeg_small_destroy(j->small);
	free(j);
}

static int valid_denom(int d)
{
	return d == 1 || d == 2 || d == 4 || d == 8;
}

void fw_jpeg_scaled_size(int w, int h, int denom, int *sw, int *sh)
{
	*sw = (w + denom - 1) / denom;
	*sh = (h + denom - 1) / denom;
}

int fw_jpeg_pick_scale(int w, int h, int min_w, int min_h)
{
	for (int d = 8; d > 1; d /= 2) {
		int sw, sh;

		fw_jpeg_scaled_size(w, h, d, &sw, &sh);
		if (sw >= min_w && sh >= min_h)
			return d;
	}
	return 1;
}

int fw_jpeg_pick_scale_long(int w, int h, int min_long)
{
	return w >= h ? fw_jpeg_pick_scale(w, h, min_long, 0) : fw_jpeg_pick_scale(w, h, 0, min_long);
}

/* libjpeg reports running out of data as a warning and pads with grey;
 * these are its words for that (as capture/imageio.c). */
static int msg_truncated(const char *msg)
{
	return strstr(msg, "Premature end of JPEG file") ||
	       strstr(msg, "premature end of data segment");
}

/* Junk between the last scan and EOI: common from cameras, loses nothing. */
static int msg_benign(const char *msg)
{
	return strstr(msg, "extraneous bytes before marker") != NULL;
}

static int tj_error(tjhandle tj)
{
	return msg_truncated(tjGetErrorStr2(tj)) ? FW_ETRUNC : FW_EFORMAT;
}

int fw_jpeg_decode(struct fw_jpeg *j, const void *buf, size_t len, int denom,
		   struct fw_image *dst, size_t cap)
{
	const uint8_t *b = buf;
	int w = 0, h = 0, subsamp = -1, cs = -1, sw, sh, flags;

	if (!j || !dst || !dst->data || !valid_denom(denom))
		return FW_EINVAL;
	if (len < 2 || b[0] != 0xff || b[1] != 0xd8)
		return len < 2 ? FW_ETRUNC : FW_EFORMAT;
	if (!j->turbo_only) {
		int rc = fw_jpeg_small_decode(j->small, b, len, denom, dst, cap);

		/* declined (not a frame it handles) or out of memory: TurboJPEG */
		if (rc != FW_JPEG_SMALL_DECLINED && rc != FW_ENOMEM)
			return rc;
	}
	if (len > 0xffffffffu)
		return FW_EUNSUPPORTED;
	if (tjDecompressHeader3(j->tj, b, (unsigned long)len, &w, &h, &subsamp, &cs) < 0)
		return tj_error(j->tj);
	if (w <= 0 || h <= 0) {
		/* TurboJPEG 2.1 "succeeds" without a size when the data ends
		 * before the frame header */
		return tjGetErrorCode(j->tj) == TJERR_WARNING ? tj_error(j->tj) : FW_EFORMAT;
	}
	if (w > JPEG_MAX_SIDE || h > JPEG_MAX_SIDE)
		return FW_EUNSUPPORTED;
	if (cs == TJCS_CMYK || cs == TJCS_YCCK)
		return FW_EUNSUPPORTED; /* no camera sends CMYK */
	fw_jpeg_scaled_size(w, h, denom, &sw, &sh);
	if ((size_t)sw * 3 * (size_t)sh > cap)
		return FW_EINVAL;
	/* LIMITSCANS: refuse progressive files with absurd scan counts (a
	 * CPU-exhaustion trick). A scaled decode feeds the detector, where
	 * the fast IDCT/upsampling differences (~1 level) do not matter. */
	flags = TJFLAG_LIMITSCANS;
	if (denom > 1)
		flags |= TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE;
	if (tjDecompress2(j->tj, b, (unsigned long)len, dst->data, sw, sw * 3, sh, TJPF_RGB,
			  flags) < 0) {
		/* a warning still yields a whole image: keep it only when the
		 * warning says nothing was lost */
		if (tjGetErrorCode(j->tj) != TJERR_WARNING || !msg_benign(tjGetErrorStr2(j->tj)))
			return tj_error(j->tj);
	}
	dst->width = sw;
	dst->height = sh;
	dst->stride = sw * 3;
	return 0;
}

/* --- MJPEG structure ------------------------------------------------------ */

static int is_sof(uint8_t m)
{
	/* C0..CF are frame headers except DHT (C4), JPG (C8) and DAC (CC) */
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* fw_mjpeg_check, plus *resume: where a splitter may look for the next SOI
 * after a failure (past entropy data that held no marker at all). */
static int check_frame(const uint8_t *buf, size_t len, size_t *used, int *w, int *h,
		       size_t *resume)
{
	size_t p = 2;
	int have_sof = 0, have_sos = 0;

	*resume = 2;
	if (len < 2)
		return FW_ETRUNC;
	if (buf[0] != 0xff || buf[1] != 0xd8)
		return FW_EFORMAT;
	for (;;) {
		uint8_t m;
		size_t seg;

		if (p >= len)
			return FW_ETRUNC;
		if (buf[p] != 0xff)
			return FW_EFORMAT; /* garbage where a marker must be */
		while (p < len && buf[p] == 0xff)
			p++; /* fill bytes */
		if (p >= len)
			return FW_ETRUNC;
		m = buf[p++];
		if (m == 0xd9) { /* EOI */
			if (!have_sos)
				return FW_EFORMAT;
			if (used)
				*used = p;
			return 0;
		}
		if (m == 0x00 || m == 0xd8)
			return FW_EFORMAT; /* stuffing outside a scan, or a new image */
		if ((m >= 0xd0 && m <= 0xd7) || m == 0x01)
			continue; /* RSTn, TEM: no length */
		if (len - p < 2)
			return FW_ETRUNC;
		seg = (size_t)buf[p] << 8 | buf[p + 1];
		if (seg < 2)
			return FW_EFORMAT;
		if (seg > len - p)
			return FW_ETRUNC;
		if (is_sof(m)) {
			int fh, fw;

			if (seg < 8)
				return FW_EFORMAT;
			fh = buf[p + 3] << 8 | buf[p + 4];
			fw = buf[p + 5] << 8 | buf[p + 6];
			if (fw == 0 || fh == 0) /* height 0 = DNL: no camera does that */
				return FW_EFORMAT;
			if (!have_sof) {
				if (w)
					*w = fw;
				if (h)
					*h = fh;
			}
			have_sof = 1;
		}
		p += seg;
		if (m != 0xda)
			continue;
		/* SOS: entropy-coded data up to the next real marker */
		if (!have_sof)
			return FW_EFORMAT;
		have_sos = 1;
		for (;;) {
			const uint8_t *ff = memchr(buf + p, 0xff, len - p);

			if (!ff) {
				*resume = len; /* no marker anywhere after this */
				return FW_ETRUNC;
			}
			p = (size_t)(ff - buf);
			if (p + 1 >= len) {
				*resume = len;
				return FW_ETRUNC;
			}
			m = buf[p + 1];
			if (m == 0x00 || (m >= 0xd0 && m <= 0xd7))
				p += 2; /* stuffed 0xff, restart marker */
			else if (m == 0xff)
				p += 1; /* fill byte before a marker */
			else
				break;
		}
	}
}

int fw_mjpeg_check(const uint8_t *buf, size_t len, size_t *used, int *w, int *h)
{
	size_t resume;

	return check_frame(buf, len, used, w, h, &resume);
}

int fw_mjpeg_next(const uint8_t *buf, size_t len, size_t *pos, size_t *start, size_t *size,
		  unsigned *skipped_bad)
{
	size_t p = *pos;

	while (p < len) {
		const uint8_t *ff = memchr(buf + p, 0xff, len - p);
		size_t s, used = 0, resume;

		if (!ff)
			break;
		s = (size_t)(ff - buf);
		if (s + 1 >= len)
			break;
		if (buf[s + 1] != 0xd8) {
			p = s + 1;
			continue;
		}
		if (check_frame(buf + s, len - s, &used, NULL, NULL, &resume) == 0) {
			*start = s;
			*size = used;
			*pos = s + used;
			return 0;
		}
		if (skipped_bad)
			(*skipped_bad)++;
		p = s + resume;
	}
	*pos = len;
	return -ENODATA;
}

/* RGB24 box-average down by denom (floor size). */
static void rgb_scaled(const uint8_t *src, int stride, int w, int h, int denom,
		       struct fw_image *dst)
{
	const int ow = w / denom, oh = h / denom, n = denom * denom;

	for (int oy = 0; oy < oh; oy++) {
		uint8_t *o = dst->data + (size_t)oy * (size_t)dst->stride;

		for (int ox = 0; ox < ow; ox++) {
			unsigned sum[3] = { 0, 0, 0 };

			for (int r = 0; r < denom; r++) {
				const uint8_t *p = src + (size_t)(oy * denom + r) * (size_t)stride +
						   (size_t)ox * (size_t)denom * 3;

				for (int k = 0; k < denom; k++)
					for (int c = 0; c < 3; c++)
						sum[c] += p[3 * k + c];
			}
			for (int c = 0; c < 3; c++)
				o[3 * ox + c] = (uint8_t)((sum[c] + (unsigned)n / 2) / (unsigned)n);
		}
	}
	(void)h;
}

int fw_frame_to_rgb(struct fw_jpeg *j, const struct fw_frame *f, int denom,
		    struct fw_image *dst, size_t cap)
{
	int ow, oh;

	if (!f || !dst || !dst->data || !valid_denom(denom))
		return FW_EINVAL;
	if (f->format == FW_PIXFMT_MJPEG)
		return fw_jpeg_decode(j, f->data, f->bytes, denom, dst, cap);
	if (f->format != FW_PIXFMT_YUYV && f->format != FW_PIXFMT_RGB24)
		return FW_EINVAL;
	if (f->width <= 0 || f->height <= 0 || f->width > JPEG_MAX_SIDE ||
	    f->height > JPEG_MAX_SIDE)
		return FW_EINVAL;
	if (f->format == FW_PIXFMT_YUYV && (f->width & 1))
		return FW_EINVAL;
	/* the frame must hold every row it claims */
	if (f->stride < f->width * (f->format == FW_PIXFMT_YUYV ? 2 : 3) ||
	    (size_t)f->stride * (size_t)(f->height - 1) +
			    (size_t)f->width * (f->format == FW_PIXFMT_YUYV ? 2 : 3) > f->bytes)
		return FW_ETRUNC;
	ow = f->width / denom;
	oh = f->height / denom;
	if (ow <= 0 || oh <= 0 || (size_t)ow * 3 * (size_t)oh > cap)
		return FW_EINVAL;
	dst->width = ow;
	dst->height = oh;
	dst->stride = ow * 3;
	if (f->format == FW_PIXFMT_YUYV)
		fw_yuyv_to_rgb_scaled(f->data, f->stride, f->width, f->height, denom, dst);
	else if (denom == 1)
		for (int y = 0; y < oh; y++)
			memcpy(dst->data + (size_t)y * (size_t)dst->stride,
			       f->data + (size_t)y * (size_t)f->stride, (size_t)ow * 3);
	else
		rgb_scaled(f->data, f->stride, f->width, f->height, denom, dst);
	return 0;
}
