/* For tests only: the plain C YUYV reference that the SSE2 paths of
 * jpeg.c must match bit for bit. Not a public header. */
#ifndef FW_CAPTURE_JPEG_INTERNAL_H
#define FW_CAPTURE_JPEG_INTERNAL_H

#include <stdint.h>

#include "core/image.h"

/* As fw_yuyv_to_rgb_scaled() (denom 1 = full size), always in plain C. */
void fw_yuyv_to_rgb_ref(const uint8_t *yuyv, int stride, int w, int h, int denom,
			struct fw_image *dst);

#endif
