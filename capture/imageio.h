/* Photos on disk: JPEG (libjpeg-turbo, TurboJPEG API) and PNG (libpng) in,
 * JPEG and PNG out. Any size; EXIF orientation is not applied.
 *
 * Ownership: fw_imageio_load() fills `img` with memory the caller frees with
 * fw_image_free(). Errors are logged naming the file and the problem
 * ("not a JPEG or PNG image", "truncated", ...) and returned as FW_E*.
 */
#ifndef FW_IMAGEIO_H
#define FW_IMAGEIO_H

#include <stddef.h>

#include "core/image.h"

/* Detects the format from the first bytes, not the file name. Grey and RGBA
 * inputs are converted to RGB; 16-bit PNG is reduced to 8 bits. */
int fw_imageio_load(const char *path, struct fw_image *img);
int fw_imageio_decode(const void *buf, size_t len, const char *what, struct fw_image *img);

/* Write RGB as baseline JPEG (quality 1..100). */
int fw_imageio_save_jpeg(const char *path, const struct fw_image *img, int quality);

/* Write RGB as 8-bit PNG (lossless: plots, masks). */
int fw_imageio_save_png(const char *path, const struct fw_image *img);

#endif
