/* The NEON YUYV rows (capture/yuyv_neon.c) against the C reference
 * (capture/yuyv.c), cross-built for aarch64 and run under qemu-aarch64 by
 * run_yuyv.sh: identical bytes at every scale the public functions offer,
 * on widths that leave every kind of tail around the 32-pixel step, random
 * data that exercises the clamping, and no byte written past the image.
 * Plain C (no cmocka for aarch64 here); exit 0 pass, 1 fail.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/jpeg.h"
#include "capture/jpeg_internal.h"

#define GUARD 64

static uint32_t rng = 0x5eed;

static uint8_t rnd8(void)
{
	rng = rng * 1664525u + 1013904223u;
	return (uint8_t)(rng >> 24);
}

int main(void)
{
	static const int widths[] = { 2, 14, 30, 32, 34, 62, 64, 66, 94, 96, 98, 126, 640, 1282 };
	int fails = 0, checked = 0;

	if (fw_yuyv_impl_best() != FW_YUYV_NEON) {
		printf("FAIL: the best YUYV path is %d, not NEON\n", (int)fw_yuyv_impl_best());
		return 1;
	}
	for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
		const int w = widths[k], h = 8, stride = w * 2 + 6;
		uint8_t *src = malloc((size_t)stride * h);

		for (int i = 0; i < stride * h; i++)
			src[i] = rnd8();
		for (int d = 1; d <= 8; d *= 2) {
			const int ow = w / d, oh = h / d;
			const size_t bytes = (size_t)ow * 3 * (size_t)oh;
			uint8_t *a = malloc(bytes + GUARD), *b = malloc(bytes + GUARD);
			struct fw_image ia = { .data = a, .width = ow, .height = oh, .stride = ow * 3 };
			struct fw_image ib = ia;

			if (ow == 0) {
				free(a);
				free(b);
				continue;
			}
			ib.data = b;
			memset(a, 0xab, bytes + GUARD);
			memset(b, 0xab, bytes + GUARD);
			if (fw_yuyv_to_rgb_impl(FW_YUYV_NEON, src, stride, w, h, d, &ia) != FW_YUYV_NEON) {
				printf("FAIL: NEON path not taken\n");
				return 1;
			}
			fw_yuyv_to_rgb_ref(src, stride, w, h, d, &ib);
			if (memcmp(a, b, bytes + GUARD)) {
				printf("FAIL: width %d, 1/%d: NEON differs from the reference%s\n", w, d,
				       memcmp(a, b, bytes) ? "" : " (past the image)");
				fails++;
			}
			checked++;
			free(a);
			free(b);
		}
		free(src);
	}
	printf("yuyv neon: %d cases, %d failed\n", checked, fails);
	return fails ? 1 : 0;
}
