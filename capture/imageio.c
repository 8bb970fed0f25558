/* Photo files: JPEG through TurboJPEG, PNG through libpng, JPEG and PNG out.
 *
 * Both decoders read from one in-memory buffer with an explicit length, so
 * a damaged file can make them fail but never read past its end. Every
 * failure is logged once here, naming the file, and returned as FW_E* or a
 * negative errno.
 */
#include "capture/imageio.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "core/fw.h"

/* Anything larger is refused before allocating: 256 Mpixel is 768 MB of RGB. */
#define IMAGEIO_MAX_SIDE 32768
#define IMAGEIO_MAX_PIXELS (256ll << 20)
/* No photo is this large; refuse rather than read a disk image into memory. */
#define IMAGEIO_MAX_FILE (1ll << 30)

static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
static const uint8_t jpeg_magic[3] = { 0xff, 0xd8, 0xff };

static int check_size(const char *what, const char *kind, long long w, long long h)
{
	if (w <= 0 || h <= 0) {
		fw_log(FW_LOG_ERROR, "%s: %s has no pixels (%lldx%lld)", what, kind, w, h);
		return FW_EFORMAT;
	}
	if (w > IMAGEIO_MAX_SIDE || h > IMAGEIO_MAX_SIDE || w * h > IMAGEIO_MAX_PIXELS) {
		fw_log(FW_LOG_ERROR,
		       "%s: %s is %lldx%lld, too large (at most %d per side and %lld Mpixel)",
		       what, kind, w, h, IMAGEIO_MAX_SIDE, IMAGEIO_MAX_PIXELS >> 20);
		return FW_EUNSUPPORTED;
	}
	return 0;
}

/* --- JPEG --------------------------------------------------------------- */

/* libjpeg reports running out of data as a warning and pads the image with
 * grey; these are the messages it uses for that. */
static int jpeg_msg_truncated(const char *msg)
{
	return strstr(msg, "Premature end of JPEG file") ||
	       strstr(msg, "premature end of data segment");
}

/* The one warning that loses nothing: junk between the last scan and a
 * marker, common in camera files. */
static int jpeg_msg_benign(const char *msg)
{
	return strstr(msg, "extraneous bytes before marker") != NULL;
}

static int jpeg_fail(tjhandle tj, const char *what)
{
	const char *msg = tjGetErrorStr2(tj);

	if (jpeg_msg_truncated(msg)) {
		fw_log(FW_LOG_ERROR, "%s: truncated JPEG data (libjpeg-turbo: %s)", what, msg);
		return FW_ETRUNC;
	}
	fw_log(FW_LOG_ERROR, "%s: invalid JPEG data (libjpeg-turbo: %s)", what, msg);
	return FW_EFORMAT;
}

/* Adobe CMYK as libjpeg delivers it (inverted: 255 = no ink) to RGB, the
 * naive way OpenCV and PIL do it: R = C * K / 255. */
static void cmyk_to_rgb(const uint8_t *cmyk, struct fw_image *img)
{
	for (int y = 0; y < img->height; y++) {
		uint8_t *o = img->data + (size_t)y * (size_t)img->stride;

		for (int x = 0; x < img->width; x++, cmyk += 4, o += 3) {
			unsigned k = cmyk[3];

			o[0] = (uint8_t)((cmyk[0] * k + 127) / 255);
			o[1] = (uint8_t)((cmyk[1] * k + 127) / 255);
			o[2] = (uint8_t)((cmyk[2] * k + 127) / 255);
		}
	}
}

static int decode_jpeg(const uint8_t *buf, size_t len, const char *what, struct fw_image *img)
{
	/* LIMITSCANS refuses progressive files with absurd scan counts, a
	 * known CPU-exhaustion trick */
	const int flags = TJFLAG_LIMITSCANS;
	tjhandle tj = NULL;
	uint8_t *cmyk = NULL;
	int w = 0, h = 0, subsamp = -1, cs = -1, err, rc;

	tj = tjInitDecompress();
	if (!tj) {
		fw_log(FW_LOG_ERROR, "%s: cannot start the JPEG decoder", what);
		return FW_ENOMEM;
	}
	if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) < 0) {
		err = jpeg_fail(tj, what);
		goto fail;
	}
	if (w <= 0 || h <= 0) {
		/* TurboJPEG 2.1 returns success without a size when the data
		 * ends before the frame header (libjpeg saw only "tables") */
		if (tjGetErrorCode(tj) == TJERR_WARNING && jpeg_msg_truncated(tjGetErrorStr2(tj)))
			err = jpeg_fail(tj, what);
		else {
			fw_log(FW_LOG_ERROR, "%s: invalid JPEG data (no frame header)", what);
			err = FW_EFORMAT;
		}
		goto fail;
	}
	err = check_size(what, "JPEG image", w, h);
	if (err)
		goto fail;
	err = fw_image_alloc(img, w, h);
	if (err) {
		fw_log(FW_LOG_ERROR, "%s: no memory for a %dx%d image", what, w, h);
		goto fail;
	}
	if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
		/* libjpeg converts CMYK only to CMYK; do the last step here */
		cmyk = malloc((size_t)w * (size_t)h * 4);
		if (!cmyk) {
			fw_log(FW_LOG_ERROR, "%s: no memory for a %dx%d image", what, w, h);
			err = FW_ENOMEM;
			goto fail;
		}
		rc = tjDecompress2(tj, buf, (unsigned long)len, cmyk, w, 4 * w, h, TJPF_CMYK, flags);
	} else {
		rc = tjDecompress2(tj, buf, (unsigned long)len, img->data, w, img->stride, h,
				   TJPF_RGB, flags);
	}
	if (rc < 0) {
		const char *msg = tjGetErrorStr2(tj);

		/* a warning still yields a whole image: keep it only when the
		 * warning says nothing was lost */
		if (tjGetErrorCode(tj) != TJERR_WARNING || !jpeg_msg_benign(msg)) {
			err = jpeg_fail(tj, what);
			goto fail;
		}
		fw_log(FW_LOG_DEBUG, "%s: libjpeg-turbo: %s", what, msg);
	}
	if (cmyk)
		cmyk_to_rgb(cmyk, img);
	free(cmyk);
	tjDestroy(tj);
	return 0;

fail:
	free(cmyk);
	fw_image_free(img);
	if (tj)
		tjDestroy(tj);
	return err;
}

/* --- PNG ---------------------------------------------------------------- */

/* Everything the PNG decode changes after setjmp() lives here, outside the
 * frame of the function that calls setjmp(), so nothing is left
 * indeterminate by the longjmp() (no volatile locals needed). */
struct png_job {
	const uint8_t *buf;
	size_t len, pos;
	const char *what;
	png_structp png;
	png_infop info;
	png_bytep *rows;
	int err;          /* set before a deliberate error */
	int truncated;    /* the reader ran out of bytes */
	char msg[256];    /* libpng's last error */
};

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
	struct png_job *j = png_get_io_ptr(png);

	if (n > j->len - j->pos) {
		j->truncated = 1;
		png_error(png, "unexpected end of data");
	}
	memcpy(out, j->buf + j->pos, n);
	j->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
	struct png_job *j = png_get_error_ptr(png);

	snprintf(j->msg, sizeof j->msg, "%s", msg);
	png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
	struct png_job *j = png_get_error_ptr(png);

	fw_log(FW_LOG_DEBUG, "%s: libpng: %s", j->what, msg);
}

/* The libpng calls; returns 0, or -1 with j->err / j->msg saying why. */
static int png_run(struct png_job *j, struct fw_image *img)
{
	png_uint_32 w, h;
	int depth, type;

	if (setjmp(png_jmpbuf(j->png)))
		return -1;
	png_set_read_fn(j->png, j, png_read_mem);
	/* the size check below gives the clearer message */
	png_set_user_limits(j->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
	png_read_info(j->png, j->info);
	png_get_IHDR(j->png, j->info, &w, &h, &depth, &type, NULL, NULL, NULL);
	j->err = check_size(j->what, "PNG image", w, h);
	if (j->err)
		return -1;

	/* to 8-bit RGB whatever the file holds; alpha (and tRNS) dropped, not composited */
	if (depth == 16)
		png_set_scale_16(j->png);
	if (type == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(j->png);
	if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(j->png);
	if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA)
		png_set_gray_to_rgb(j->png);
	png_set_strip_alpha(j->png);
	png_set_interlace_handling(j->png);
	png_read_update_info(j->png, j->info);
	if (png_get_channels(j->png, j->info) != 3 || png_get_bit_depth(j->png, j->info) != 8 ||
	    png_get_rowbytes(j->png, j->info) != 3 * (size_t)w) {
		fw_log(FW_LOG_ERROR, "%s: PNG colour type %d, depth %d: cannot convert to RGB",
		       j->what, type, depth);
		j->err = FW_EUNSUPPORTED;
		return -1;
	}

	if (fw_image_alloc(img, (int)w, (int)h) || !(j->rows = malloc((size_t)h * sizeof *j->rows))) {
		fw_log(FW_LOG_ERROR, "%s: no memory for a %ux%u image", j->what, (unsigned)w,
		       (unsigned)h);
		j->err = FW_ENOMEM;
		return -1;
	}
	for (png_uint_32 y = 0; y < h; y++)
		j->rows[y] = img->data + (size_t)y * (size_t)img->stride;
	png_read_image(j->png, j->rows);
	/* checks the chunks after the image too: a file cut short fails here */
	png_read_end(j->png, NULL);
	return 0;
}

static int decode_png(const uint8_t *buf, size_t len, const char *what, struct fw_image *img)
{
	struct png_job j = { .buf = buf, .len = len, .what = what };
	int err = 0;

	/* IHDR must come first: refuse a huge image before libpng reads the
	 * chunks up to the image data */
	if (len >= 24 && !memcmp(buf + 12, "IHDR", 4)) {
		long long w = (long long)buf[16] << 24 | buf[17] << 16 | buf[18] << 8 | buf[19];
		long long h = (long long)buf[20] << 24 | buf[21] << 16 | buf[22] << 8 | buf[23];

		if (w > 0 && h > 0) {
			err = check_size(what, "PNG image", w, h);
			if (err)
				return err;
		}
	}
	j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_on_error, png_on_warning);
	if (j.png)
		j.info = png_create_info_struct(j.png);
	if (!j.png || !j.info) {
		png_destroy_read_struct(&j.png, NULL, NULL);
		fw_log(FW_LOG_ERROR, "%s: cannot start the PNG decoder", what);
		return FW_ENOMEM;
	}
	if (png_run(&j, img) < 0) {
		err = j.err;
		if (!err && j.truncated) {
			fw_log(FW_LOG_ERROR, "%s: truncated PNG data (libpng: %s)", what, j.msg);
			err = FW_ETRUNC;
		} else if (!err) {
			fw_log(FW_LOG_ERROR, "%s: invalid PNG data (libpng: %s)", what, j.msg);
			err = FW_EFORMAT;
		}
		fw_image_free(img);
	}
	free(j.rows);
	png_destroy_read_struct(&j.png, &j.info, NULL);
	return err;
}

/* --- entry points ------------------------------------------------------- */

int fw_imageio_decode(const void *buf, size_t len, const char *what, struct fw_image *img)
{
	const uint8_t *p = buf;

	img->data = NULL;
	img->width = img->height = img->stride = 0;
	if (!what)
		what = "image";
	if (len == 0) {
		fw_log(FW_LOG_ERROR, "%s: empty file", what);
		return FW_ETRUNC;
	}
	if (len > IMAGEIO_MAX_FILE) {
		fw_log(FW_LOG_ERROR, "%s: %zu bytes, too large for a photo", what, len);
		return FW_EUNSUPPORTED;
	}
	if (len >= sizeof png_magic && !memcmp(p, png_magic, sizeof png_magic))
		return decode_png(p, len, what, img);
	if (len >= sizeof jpeg_magic && !memcmp(p, jpeg_magic, sizeof jpeg_magic))
		return decode_jpeg(p, len, what, img);
	if ((len < sizeof png_magic && !memcmp(p, png_magic, len)) ||
	    (len < sizeof jpeg_magic && !memcmp(p, jpeg_magic, len))) {
		fw_log(FW_LOG_ERROR, "%s: truncated image (%zu bytes)", what, len);
		return FW_ETRUNC;
	}
	fw_log(FW_LOG_ERROR, "%s: not a JPEG or PNG image", what);
	return FW_EFORMAT;
}

static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, cap;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail_errno;
	if (fstat(fd, &st) < 0)
		goto fail_errno;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail_errno;
	}
	if (st.st_size > IMAGEIO_MAX_FILE) {
		fw_log(FW_LOG_ERROR, "%s: %lld bytes, too large for a photo", path,
		       (long long)st.st_size);
		close(fd);
		return FW_EUNSUPPORTED;
	}
	/* the size is a hint only (pipes, files growing); read to EOF */
	cap = st.st_size > 0 ? (size_t)st.st_size : 65536;
	buf = malloc(cap);
	if (!buf)
		goto fail_nomem;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *nb;

			if (cap >= (size_t)IMAGEIO_MAX_FILE) {
				fw_log(FW_LOG_ERROR, "%s: too large for a photo", path);
				err = FW_EUNSUPPORTED;
				goto fail;
			}
			nb = realloc(buf, cap * 2);
			if (!nb)
				goto fail_nomem;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail_errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*out = buf;
	*out_len = len;
	return 0;

fail_errno:
	err = errno ? -errno : FW_EIO;
	fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(errno));
	goto fail;
fail_nomem:
	fw_log(FW_LOG_ERROR, "%s: no memory to read the file", path);
	err = FW_ENOMEM;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return err;
}

int fw_imageio_load(const char *path, struct fw_image *img)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	img->data = NULL;
	img->width = img->height = img->stride = 0;
	err = read_file(path, &buf, &len);
	if (err)
		return err;
	err = fw_imageio_decode(buf, len, path, img);
	free(buf);
	return err;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int fw_imageio_save_jpeg(const char *path, const struct fw_image *img, int quality)
{
	tjhandle tj;
	unsigned char *jpeg = NULL;
	unsigned long jpeg_len = 0;
	int fd, err;

	if (!img || !img->data || img->width <= 0 || img->height <= 0 ||
	    img->stride < 3 * img->width || quality < 1 || quality > 100) {
		fw_log(FW_LOG_ERROR, "%s: cannot save: invalid image or quality %d", path, quality);
		return FW_EINVAL;
	}
	tj = tjInitCompress();
	if (!tj) {
		fw_log(FW_LOG_ERROR, "%s: cannot start the JPEG encoder", path);
		return FW_ENOMEM;
	}
	if (tjCompress2(tj, img->data, img->width, img->stride, img->height, TJPF_RGB, &jpeg,
			&jpeg_len, TJSAMP_420, quality, 0) < 0) {
		fw_log(FW_LOG_ERROR, "%s: JPEG encoding failed (libjpeg-turbo: %s)", path,
		       tjGetErrorStr2(tj));
		err = FW_EINVAL;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(errno));
		goto out;
	}
	err = write_all(fd, jpeg, jpeg_len);
	if (close(fd) < 0 && !err)
		err = -errno;
	if (err) {
		fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(-err));
		unlink(path);
	}
out:
	tjFree(jpeg);
	tjDestroy(tj);
	return err;
}

int fw_imageio_save_png(const char *path, const struct fw_image *img)
{
	png_image pi;
	png_alloc_size_t len = 0;
	uint8_t *buf = NULL;
	int fd, err;

	if (!img || !img->data || img->width <= 0 || img->height <= 0 || img->stride < 3 * img->width) {
		fw_log(FW_LOG_ERROR, "%s: cannot save: invalid image", path);
		return FW_EINVAL;
	}
	memset(&pi, 0, sizeof pi);
	pi.version = PNG_IMAGE_VERSION;
	pi.width = (png_uint_32)img->width;
	pi.height = (png_uint_32)img->height;
	pi.format = PNG_FORMAT_RGB;
	/* the first call measures, the second writes */
	if (!png_image_write_to_memory(&pi, NULL, &len, 0, img->data, img->stride, NULL) ||
	    !(buf = malloc(len)) ||
	    !png_image_write_to_memory(&pi, buf, &len, 0, img->data, img->stride, NULL)) {
		fw_log(FW_LOG_ERROR, "%s: PNG encoding failed (libpng: %s)", path,
		       pi.warning_or_error ? pi.message : "out of memory");
		png_image_free(&pi);
		free(buf);
		return buf ? FW_EINVAL : FW_ENOMEM;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(errno));
		free(buf);
		return err;
	}
	err = write_all(fd, buf, len);
	if (close(fd) < 0 && !err)
		err = -errno;
	if (err) {
		fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(-err));
		unlink(path);
	}
	free(buf);
	return err;
}
