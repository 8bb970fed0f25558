/* Cost of the attention stage per face, single thread: the 68-point landmark
 * net (crop + model) and the head-pose fit, median and min of repeated runs
 * after warm-up, with the reference and the fast float kernels.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bench/bench_landmarks68 [--runs N] [--models DIR] [IMAGE]
 *
 * Without IMAGE a 640x480 frame of noise with a 200 px "face" box in the
 * middle (the time does not depend on the pixels); with IMAGE, the box is the
 * middle third of it. Prints a markdown table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/imageio.h"
#include "core/image.h"
#include "core/landmarks68.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *dir = FW_SOURCE_MODELS_DIR, *image = NULL;
	struct fw_image img = { 0 };
	float pts[FW_LM68_POINTS][2], box[4];
	char path[4096];
	int runs = 101;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--models") && i + 1 < argc)
			dir = argv[++i];
		else if (argv[i][0] != '-' && !image)
			image = argv[i];
		else {
			fprintf(stderr, "usage: bench_landmarks68 [--runs N] [--models DIR] [IMAGE]\n");
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	if (image ? fw_imageio_load(image, &img) : fw_image_alloc(&img, 640, 480))
		return 1;
	if (!image) {
		srand(1);
		for (int y = 0; y < img.height; y++)
			for (int x = 0; x < 3 * img.width; x++)
				img.data[(size_t)y * img.stride + x] = (uint8_t)rand();
		box[0] = 220, box[1] = 140, box[2] = 420, box[3] = 340;
	} else {
		box[0] = img.width / 3.0f, box[1] = img.height / 3.0f;
		box[2] = 2 * img.width / 3.0f, box[3] = 2 * img.height / 3.0f;
	}
	snprintf(path, sizeof path, "%s/landmarks68.fwm", dir);
	double *ms = malloc(sizeof *ms * (size_t)runs);
	if (!ms)
		return 1;
	printf("| stage | kernels | median ms | min ms |\n|---|---|---:|---:|\n");
	for (int tier = FW_KERNELS_REF; tier <= FW_KERNELS_FAST; tier++) {
		struct fw_model_options mo = { .tier = tier };
		struct fw_landmarks68 *lm;
		int n = tier == FW_KERNELS_REF && runs > 21 ? 21 : runs;

		if (fw_landmarks68_open(&lm, path, &mo))
			return 1;
		for (int i = 0; i < 3; i++)
			fw_landmarks68_run(lm, &img, box, pts);
		for (int i = 0; i < n; i++) {
			double t0 = now_ms();
			fw_landmarks68_run(lm, &img, box, pts);
			ms[i] = now_ms() - t0;
		}
		qsort(ms, (size_t)n, sizeof *ms, cmp);
		printf("| landmarks68 (crop + net, %.1f MMAC) | %s | %.3f | %.3f |\n",
		       fw_model_macs(fw_landmarks68_model(lm)) / 1e6,
		       fw_model_kernels_name(fw_landmarks68_model(lm)), ms[n / 2], ms[0]);
		fw_landmarks68_close(lm);
	}
	/* the pose fit on a plausible face (the mean shape would do as well) */
	{
		struct fw_pose pose;
		for (int i = 0; i < runs; i++) {
			double t0 = now_ms();
			fw_pose_from_landmarks68((const float(*)[2])pts, img.width, img.height, &pose);
			ms[i] = now_ms() - t0;
		}
		qsort(ms, (size_t)runs, sizeof *ms, cmp);
		printf("| head pose (LM fit, 8 points) | - | %.3f | %.3f |\n", ms[runs / 2], ms[0]);
	}
	free(ms);
	fw_image_free(&img);
	return 0;
}
