/* Images in memory: 8-bit RGB (3 bytes per pixel, R first), rows `stride`
 * bytes apart. Pure computation: resize, letterbox into a model input,
 * similarity-warp crops, and drawing for --draw.
 *
 * Ownership: fw_image_alloc() allocates `data` (free with fw_image_free());
 * an image built by hand over caller memory is never freed by this module.
 */
#ifndef FW_IMAGE_H
#define FW_IMAGE_H

#include <stddef.h>
#include <stdint.h>

struct fw_image {
	int width, height;
	int stride;          /* bytes per row, >= 3 * width */
	uint8_t *data;
};

/* Allocate a w x h RGB image (stride 3*w, zeroed). 0 or FW_ENOMEM / FW_EINVAL. */
int fw_image_alloc(struct fw_image *img, int w, int h);
void fw_image_free(struct fw_image *img);

/* Resize src to dst's size. Area averaging when shrinking on an axis (as
 * OpenCV INTER_AREA), bilinear with half-pixel centres when enlarging. */
void fw_image_resize(const struct fw_image *src, struct fw_image *dst);

/* Shrink src by a whole factor (1, 2, 4 or 8) into dst (dst->data: cap bytes
 * of caller memory): each output pixel is the rounded mean of its factor x
 * factor block, the blocks on a ragged right or bottom edge averaged over
 * the pixels they have. The size is ceil(src / factor), as a JPEG decoded at
 * 1/factor, so a picture decoded once can stand in for a smaller decode.
 * dst->width/height/stride (3 * width) are set. 0, or FW_EINVAL (bad factor
 * or image, or cap too small). */
int fw_image_shrink(const struct fw_image *src, int factor, struct fw_image *dst, size_t cap);

/* Letterbox mapping: model pixel = image pixel * scale + pad. */
struct fw_letterbox {
	float scale;
	int pad_x, pad_y;
	int in_w, in_h;     /* model input size */
};

/* Fit src into an out_w x out_h model input keeping aspect, centred, padded
 * black; writes float NHWC values v = px * mul + add (e.g. 1/127.5, -1).
 * `tmp` is caller scratch of at least fw_letterbox_scratch() bytes.
 * The resized size is round(src * scale); pad = (out - resized) / 2 (floor). */
size_t fw_letterbox_scratch(int out_w, int out_h);
void fw_image_letterbox(const struct fw_image *src, int out_w, int out_h, float mul, float add,
			float *out, void *tmp, struct fw_letterbox *lb);

/* fw_image_letterbox for a model that takes u8 codes: each output byte is
 * lut[pixel], padding is `pad`. With lut[v] and pad the u8 codes of
 * v * mul + add and of add (fw_model_input_u8()), the same bytes as
 * fw_image_letterbox followed by quantisation. */
void fw_image_letterbox_u8(const struct fw_image *src, int out_w, int out_h,
			   const uint8_t lut[256], uint8_t pad, uint8_t *out, void *tmp,
			   struct fw_letterbox *lb);

/* 2x3 affine map from destination pixel (x,y) to source: sx = a[0]x + a[1]y + a[2],
 * sy = a[3]x + a[4]y + a[5]. Bilinear sampling, pixel centres at integers (as
 * OpenCV warpAffine with WARP_INVERSE_MAP), outside pixels black.
 * Writes dst (its size says the crop size). */
void fw_image_warp_affine(const struct fw_image *src, const float a[6], struct fw_image *dst);

/* Same sampling, but writes float NHWC values px * mul + add; if transpose,
 * writes element [x][y] (MTCNN models take W before H). */
void fw_image_warp_affine_f32(const struct fw_image *src, const float a[6], int out_w,
			      int out_h, float mul, float add, int transpose, float *out);

/* Drawing (clipped to the image). */
void fw_image_draw_rect(struct fw_image *img, int x, int y, int w, int h, int thickness,
			uint8_t r, uint8_t g, uint8_t b);
void fw_image_draw_dot(struct fw_image *img, int cx, int cy, int radius, uint8_t r, uint8_t g,
		       uint8_t b);

#endif
