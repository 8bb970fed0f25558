/* Fuzz target: the photo decoders (JPEG via TurboJPEG, PNG via libpng) on
 * arbitrary bytes. A decode either fails cleanly or yields an image whose
 * every byte is readable. Inputs whose header declares more than 4 Mpixel
 * are skipped: large images are legal (up to 256 Mpixel) but only make the
 * fuzzer slow, and the size guard itself is covered by test_imageio. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <turbojpeg.h>

#include "capture/imageio.h"
#include "core/fw.h"
#include "core/image.h"

#define FUZZ_MAX_PIXELS (4ll << 20)

static void quiet(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)msg, (void)ctx;
}

static long long declared_pixels(const uint8_t *data, size_t size)
{
	if (size >= 24 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8) && !memcmp(data + 12, "IHDR", 4)) {
		unsigned long long w = (unsigned long long)data[16] << 24 | data[17] << 16 |
				       data[18] << 8 | data[19];
		unsigned long long h = (unsigned long long)data[20] << 24 | data[21] << 16 |
				       data[22] << 8 | data[23];

		/* both below 2^32, so the product cannot overflow 64 bits */
		return w * h > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)(w * h);
	}
	if (size >= 3 && data[0] == 0xff && data[1] == 0xd8) {
		tjhandle tj = tjInitDecompress();
		int w = 0, h = 0, sub, cs;

		if (!tj)
			return 0;
		if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &sub, &cs) < 0)
			w = h = 0;
		tjDestroy(tj);
		return (long long)w * h;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_image img;
	unsigned sum = 0;

	fw_log_set_sink(quiet, NULL);
	if (declared_pixels(data, size) > FUZZ_MAX_PIXELS)
		return 0;
	if (fw_imageio_decode(data, size, "fuzz", &img) == 0) {
		/* touch every row so ASan checks the allocation matches the size */
		for (int y = 0; y < img.height; y++) {
			const uint8_t *row = img.data + (size_t)y * (size_t)img.stride;

			sum += row[0] + row[3 * (size_t)img.width - 1];
		}
		fw_image_free(&img);
	}
	return (int)(sum & 0);
}
