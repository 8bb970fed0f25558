/* Fuzz target: MJPEG stream bytes -> frame splitter -> structure check ->
 * DCT-scaled decode, the path every camera and .mjpeg frame takes. The
 * splitter must stay inside the buffer and return frames that lie inside
 * it; a frame it returns passes fw_mjpeg_check with the same length; the
 * decoder either fails cleanly or fills exactly the scaled size.
 * Frames declaring more than 4 Mpixel are not decoded (legal, just slow);
 * at most 4 frames per input are decoded. fw_jpeg_decode takes the small
 * decoder (capture/jpeg_small.c) for the frames it handles; each frame also
 * goes to that decoder directly at the other scale (1/8 or 1/4), and a
 * frame it accepts must have the size TurboJPEG reads from the same header. Seeds: corpus/fuzz_mjpeg/,
 * two small frames made with TurboJPEG for this purpose. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "capture/jpeg.h"
#include "capture/jpeg_small.h"
#include "core/fw.h"
#include "core/image.h"

#define FUZZ_MAX_PIXELS (4l << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)msg, (void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fw_jpeg *j;
	static struct fw_jpeg_small *small;
	static tjhandle tj;
	static uint8_t *out;
	size_t pos = 0, start, len;
	unsigned bad = 0, sum = 0;
	int decoded = 0;

	fw_log_set_sink(quiet, NULL);
	if (!j && fw_jpeg_create(&j))
		abort();
	if (!small && fw_jpeg_small_create(&small))
		abort();
	if (!tj && !(tj = tjInitDecompress()))
		abort();
	if (!out && !(out = malloc((size_t)FUZZ_MAX_PIXELS * 3 / 4)))
		abort();
	while (fw_mjpeg_next(data, size, &pos, &start, &len, &bad) == 0) {
		size_t used = 0;
		int w = 0, h = 0, denom;
		struct fw_image img = { .data = out };

		if (start >= size || len > size - start || pos != start + len)
			abort(); /* the splitter left the buffer */
		if (fw_mjpeg_check(data + start, len, &used, &w, &h) != 0 || used != len)
			abort(); /* splitter and check disagree */
		if (decoded >= 4 || (long)w * h > FUZZ_MAX_PIXELS)
			continue;
		/* 1/4 (the detector's scale) and 1/8 alternately; the output
		 * buffer holds 1/4 of the largest frame allowed */
		denom = decoded++ % 2 ? 8 : 4;
		if (fw_jpeg_decode(j, data + start, len, denom, &img, (size_t)FUZZ_MAX_PIXELS * 3 / 4) == 0) {
			int sw, sh;

			fw_jpeg_scaled_size(w, h, denom, &sw, &sh);
			if (img.width != sw || img.height != sh)
				abort();
			sum += out[0] + out[(size_t)img.stride * (size_t)(img.height - 1) +
					    (size_t)img.width * 3 - 1];
		}
		denom = denom == 4 ? 8 : 4;
		if (fw_jpeg_small_decode(small, data + start, len, denom, &img,
					 (size_t)FUZZ_MAX_PIXELS * 3 / 4) == 0) {
			int tw = 0, th = 0, ss, cs;

			if (tjDecompressHeader3(tj, data + start, (unsigned long)len, &tw, &th, &ss, &cs) ||
			    img.width != (tw + denom - 1) / denom || img.height != (th + denom - 1) / denom)
				abort(); /* accepted a frame TurboJPEG sizes otherwise */
		}
	}
	if (pos != size)
		abort();
	return (int)(sum & 0);
}
