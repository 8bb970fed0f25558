/* bench_capture: the capture path's costs.
 *
 *   ./build/bench/bench_capture            (FW_SHARED_DIR: the shared folder)
 *
 * - MJPEG decode (fw_jpeg_decode: the small decoder of capture/jpeg_small.c
 *   for scaled camera frames, else TurboJPEG) of 640x480 and 1280x720
 *   frames at full size and DCT-scaled 1/2, 1/4, 1/8; then the scaled
 *   decodes again side by side with TurboJPEG forced (FACEWATCH_JPEG=turbo)
 *   in the same run, with the ratio. The frames are a real video frame from
 *   the shared clip (640x360), resized and encoded at quality 85 with 4:2:2
 *   chroma as UVC webcams send; without the shared folder, a synthetic
 *   image. The line to watch: 640x480 -> 160x120 RGB at 1/4, budget 0.5 ms.
 * - The MJPEG structure check every camera frame gets.
 * - YUYV -> RGB full size, and straight to 1/2 and 1/4: the path the
 *   library picks, then each path (C, SSE2, AVX2) in the same run.
 * - Ring hand-off: producer thread commits, consumer thread blocked in
 *   fw_ring_take() wakes; median and p99 in microseconds.
 *
 * Each measurement: warm-up, then 15 timed batches; the median batch mean is
 * reported, in thread CPU time (CLOCK_THREAD_CPUTIME_ID). Single thread
 * (except the hand-off pair, which is wall time). Asserts nothing.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

#include "capture/jpeg.h"
#include "capture/jpeg_internal.h"
#include "capture/ring.h"
#include "core/image.h"

#define BATCHES 15

/* CPU time of this thread: what a frame costs the one core facewatch may
 * use, and steadier than wall time on a shared machine. */
static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_capture: %s\n", what);
	exit(1);
}

/* The shared clip's 11th frame as the camera sent it (640x360 4:2:0), when
 * found: decoded as is for reference. */
static uint8_t *clip_frame;
static size_t clip_len;

/* A frame-like RGB image: the shared clip's 11th frame if found, else a
 * synthetic scene (gradients, edges, noise). */
static void source_image(struct fw_image *img)
{
	const char *shared = getenv("FW_SHARED_DIR");
	char path[1024];
	uint8_t *file = NULL;
	size_t flen = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/data/video/short_hamilton_clip.mjpeg",
		 shared ? shared : FW_SOURCE_MODELS_DIR "/../../shared");
	if ((f = fopen(path, "rb"))) {
		fseek(f, 0, SEEK_END);
		flen = (size_t)ftell(f);
		fseek(f, 0, SEEK_SET);
		file = malloc(flen);
		if (!file || fread(file, 1, flen, f) != flen)
			flen = 0;
		fclose(f);
	}
	if (flen) {
		size_t pos = 0, start = 0, size = 0;
		struct fw_jpeg *j;

		for (int i = 0; i < 11; i++)
			if (fw_mjpeg_next(file, flen, &pos, &start, &size, NULL))
				die("no frames in the shared clip");
		if (fw_jpeg_create(&j) || fw_image_alloc(img, 640, 360) ||
		    fw_jpeg_decode(j, file + start, size, 1, img, 640 * 360 * 3))
			die("cannot decode the shared clip");
		fw_jpeg_destroy(j);
		clip_frame = malloc(size);
		if (!clip_frame)
			die("out of memory");
		memcpy(clip_frame, file + start, size);
		clip_len = size;
		free(file);
		printf("test image: frame 10 of %s\n", path);
		return;
	}
	free(file);
	if (fw_image_alloc(img, 640, 480))
		die("out of memory");
	srand(1);
	for (int y = 0; y < 480; y++)
		for (int x = 0; x < 640; x++) {
			uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
			int n = rand() % 16;

			p[0] = (uint8_t)(x * 200 / 640 + n);
			p[1] = (uint8_t)(y * 200 / 480 + n);
			p[2] = (uint8_t)((((x / 24) ^ (y / 24)) & 1 ? 180 : 40) + n);
		}
	printf("test image: synthetic (shared clip not found at %s)\n", path);
}

static uint8_t *encode(const struct fw_image *img, unsigned long *len)
{
	tjhandle tj = tjInitCompress();
	uint8_t *jpg = NULL;

	*len = 0;
	if (tjCompress2(tj, img->data, img->width, img->stride, img->height, TJPF_RGB, &jpg, len,
			TJSAMP_422, 85, 0))
		die(tjGetErrorStr2(tj));
	tjDestroy(tj);
	return jpg;
}

/* BT.601 limited-range YUYV from RGB (the inverse of what is benchmarked). */
static uint8_t *to_yuyv(const struct fw_image *img)
{
	uint8_t *out = malloc((size_t)img->width * (size_t)img->height * 2);

	for (int y = 0; y < img->height; y++)
		for (int x = 0; x < img->width; x += 2) {
			const uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
			uint8_t *o = out + ((size_t)y * (size_t)img->width + (size_t)x) * 2;
			double r = (p[0] + p[3]) / 2.0, g = (p[1] + p[4]) / 2.0, b = (p[2] + p[5]) / 2.0;

			o[0] = (uint8_t)(16 + 0.257 * p[0] + 0.504 * p[1] + 0.098 * p[2]);
			o[2] = (uint8_t)(16 + 0.257 * p[3] + 0.504 * p[4] + 0.098 * p[5]);
			o[1] = (uint8_t)(128 - 0.148 * r - 0.291 * g + 0.439 * b);
			o[3] = (uint8_t)(128 + 0.439 * r - 0.368 * g - 0.071 * b);
		}
	return out;
}

/* --- timed work ---------------------------------------------------------- */

struct work {
	struct fw_jpeg *j;
	const uint8_t *src;
	size_t len;
	int w, h, denom;
	struct fw_image *dst;
	size_t cap;
	int kind; /* 0 decode, 1 yuyv, 2 check */
	int impl; /* yuyv: 0 the best path, else 1 + enum fw_yuyv_impl */
};

static void run_once(const struct work *k)
{
	if (k->kind == 0) {
		if (fw_jpeg_decode(k->j, k->src, k->len, k->denom, k->dst, k->cap))
			die("decode failed");
	} else if (k->kind == 1) {
		if (k->impl)
			fw_yuyv_to_rgb_impl((enum fw_yuyv_impl)(k->impl - 1), k->src, k->w * 2, k->w,
					    k->h, k->denom, k->dst);
		else
			fw_yuyv_to_rgb_scaled(k->src, k->w * 2, k->w, k->h, k->denom, k->dst);
	} else {
		if (fw_mjpeg_check(k->src, k->len, NULL, NULL, NULL))
			die("check failed");
	}
}

/* Median over batches of the mean time per call, in ms. */
static double time_ms(const struct work *k)
{
	double per[BATCHES], t;
	int n = 1;

	for (int i = 0; i < 5; i++)
		run_once(k);
	/* batch size: about 20 ms of work */
	t = now_s();
	run_once(k);
	t = now_s() - t;
	if (t > 0)
		n = (int)(0.02 / t) + 1;
	for (int b = 0; b < BATCHES; b++) {
		t = now_s();
		for (int i = 0; i < n; i++)
			run_once(k);
		per[b] = (now_s() - t) / n * 1e3;
	}
	qsort(per, BATCHES, sizeof per[0], cmp_double);
	return per[BATCHES / 2];
}

/* --- ring hand-off -------------------------------------------------------- */

#define HANDOFFS 2000

struct handoff {
	struct fw_ring *r;
	double lat_us[HANDOFFS];
	int n;
};

static void *consumer_main(void *arg)
{
	struct handoff *h = arg;

	while (h->n < HANDOFFS) {
		struct fw_frame *f;

		if (fw_ring_take(h->r, -1, &f))
			break;
		h->lat_us[h->n++] = (double)(fw_monotonic_ns() - f->t_ns[FW_STAGE_DEQUEUED]) / 1e3;
		fw_ring_release(h->r, f);
	}
	return NULL;
}

static void bench_handoff(void)
{
	static struct handoff h;
	struct timespec gap = { 0, 500 * 1000 }; /* 2 kHz: the consumer is always waiting */
	pthread_t t;

	if (fw_ring_create(&h.r, 4, 65536))
		die("ring");
	pthread_create(&t, NULL, consumer_main, &h);
	nanosleep(&gap, NULL);
	for (int i = 0; i < HANDOFFS + 10 && h.n < HANDOFFS; i++) {
		struct fw_frame *f = fw_ring_write_begin(h.r);

		f->bytes = 1;
		f->t_ns[FW_STAGE_DEQUEUED] = fw_monotonic_ns();
		fw_ring_write_commit(h.r, f);
		nanosleep(&gap, NULL);
	}
	fw_ring_close(h.r);
	pthread_join(t, NULL);
	qsort(h.lat_us, (size_t)h.n, sizeof h.lat_us[0], cmp_double);
	printf("| ring hand-off, producer -> waiting consumer | %d | median %.1f us, p99 %.1f us |\n",
	       h.n, h.lat_us[h.n / 2], h.lat_us[h.n * 99 / 100]);
	fw_ring_destroy(h.r);
}

/* --only W H DENOM N: nothing but N decodes of the W x H frame at 1/DENOM,
 * for instruction counts that a busy machine cannot blur:
 *   valgrind --tool=callgrind build/bench/bench_capture --only 640 480 4 200
 * (FACEWATCH_JPEG=turbo in the environment: the same through TurboJPEG) */
static int only(struct fw_image *src, struct fw_jpeg *j, struct fw_image *dst, size_t cap,
		char **argv)
{
	struct fw_image frame;
	unsigned long len;
	uint8_t *jpg;
	int w = atoi(argv[0]), h = atoi(argv[1]), d = atoi(argv[2]), n = atoi(argv[3]);

	if (w <= 0 || h <= 0 || w > 1280 || h > 720 || n <= 0 || fw_image_alloc(&frame, w, h))
		die("--only W H DENOM N: W x H up to 1280x720");
	fw_image_resize(src, &frame);
	jpg = encode(&frame, &len);
	for (int i = 0; i < n; i++)
		if (fw_jpeg_decode(j, jpg, len, d, dst, cap))
			die("decode failed");
	printf("%d decodes of %dx%d (%lu B) at 1/%d\n", n, w, h, len, d);
	tjFree(jpg);
	fw_image_free(&frame);
	return 0;
}

/* The same frame through the default path and through TurboJPEG. */
static void bench_pair(struct fw_jpeg *j, struct fw_jpeg *jt, const char *what, const uint8_t *jpg,
		       size_t len, int w, int h, int d, struct fw_image *dst, size_t cap)
{
	struct work k = { j, jpg, len, w, h, d, dst, cap, 0, 0 }, kt = k;
	double ms, tms;

	kt.j = jt;
	ms = time_ms(&k);
	tms = time_ms(&kt);
	printf("| %s 1/%d -> %dx%d | %.3f | %.3f | %.2fx |\n", what, d, (w + d - 1) / d,
	       (h + d - 1) / d, ms, tms, tms / ms);
}

int main(int argc, char **argv)
{
	static const int sizes[2][2] = { { 640, 480 }, { 1280, 720 } };
	struct fw_image src, dst;
	struct fw_jpeg *j;
	size_t cap = 1280 * 720 * 3;

	source_image(&src);
	if (fw_jpeg_create(&j) || fw_image_alloc(&dst, 1280, 720))
		die("out of memory");
	if (argc == 6 && !strcmp(argv[1], "--only"))
		return only(&src, j, &dst, cap, argv + 2);
	printf("\n| what | frame | CPU ms per frame (median of %d batches) |\n|---|---|---|\n", BATCHES);
	if (clip_frame) {
		for (int d = 1; d <= 8; d *= 4) {
			struct work k = { j, clip_frame, clip_len, 640, 360, d, &dst, cap, 0, 0 };

			printf("| MJPEG decode 1/%d, the clip's own frame | 640x360, %zu B, 4:2:0 | %.3f |\n",
			       d, clip_len, time_ms(&k));
		}
	}
	for (int s = 0; s < 2; s++) {
		struct fw_image frame;
		unsigned long len;
		uint8_t *jpg, *yuyv;

		if (fw_image_alloc(&frame, sizes[s][0], sizes[s][1]))
			die("out of memory");
		fw_image_resize(&src, &frame);
		jpg = encode(&frame, &len);
		for (int d = 1; d <= 8; d *= 2) {
			struct work k = { j, jpg, len, sizes[s][0], sizes[s][1], d, &dst, cap, 0, 0 };
			double ms = time_ms(&k);

			printf("| MJPEG decode 1/%d -> %dx%d RGB | %dx%d, %lu B, 4:2:2 q85 | %.3f |\n", d,
			       (sizes[s][0] + d - 1) / d, (sizes[s][1] + d - 1) / d, sizes[s][0],
			       sizes[s][1], len, ms);
		}
		{
			struct work k = { j, jpg, len, sizes[s][0], sizes[s][1], 1, &dst, cap, 2, 0 };

			printf("| MJPEG structure check (every camera frame) | %dx%d | %.4f |\n",
			       sizes[s][0], sizes[s][1], time_ms(&k));
		}
		yuyv = to_yuyv(&frame);
		for (int d = 1; d <= 4; d *= 2) {
			struct work k = { j, yuyv, 0, sizes[s][0], sizes[s][1], d, &dst, cap, 1, 0 };

			dst.width = sizes[s][0] / d;
			dst.height = sizes[s][1] / d;
			dst.stride = dst.width * 3;
			printf("| YUYV -> RGB 1/%d -> %dx%d | %dx%d | %.3f |\n", d, dst.width, dst.height,
			       sizes[s][0], sizes[s][1], time_ms(&k));
			/* each path, in the same run (compare ratios) */
			for (int impl = FW_YUYV_REF; impl <= FW_YUYV_AVX2; impl++) {
				static const char *const names[] = { "C reference", "SSE2", "AVX2" };
				struct work ki = k;

				ki.impl = 1 + impl;
				if (fw_yuyv_to_rgb_impl((enum fw_yuyv_impl)impl, yuyv, k.w * 2, k.w,
							k.h, d, &dst) != (enum fw_yuyv_impl)impl)
					continue; /* not on this CPU */
				printf("| YUYV -> RGB 1/%d, %s | %dx%d | %.3f |\n", d, names[impl],
				       sizes[s][0], sizes[s][1], time_ms(&ki));
			}
		}
		free(yuyv);
		tjFree(jpg);
		fw_image_free(&frame);
	}
	{
		struct fw_jpeg *jt;
		struct fw_image frame;
		unsigned long len;
		uint8_t *jpg;
		char what[96];

		setenv("FACEWATCH_JPEG", "turbo", 1);
		if (fw_jpeg_create(&jt))
			die("out of memory");
		unsetenv("FACEWATCH_JPEG");
		printf("\n| MJPEG frame, scale -> size | default path ms | TurboJPEG ms | "
		       "TurboJPEG / default |\n|---|---|---|---|\n");
		if (clip_frame) {
			snprintf(what, sizeof what, "the clip's frame (640x360, %zu B, 4:2:0)", clip_len);
			for (int d = 2; d <= 8; d *= 2)
				bench_pair(j, jt, what, clip_frame, clip_len, 640, 360, d, &dst, cap);
		}
		for (int s = 0; s < 2; s++) {
			if (fw_image_alloc(&frame, sizes[s][0], sizes[s][1]))
				die("out of memory");
			fw_image_resize(&src, &frame);
			jpg = encode(&frame, &len);
			snprintf(what, sizeof what, "%dx%d, %lu B, 4:2:2 q85", sizes[s][0], sizes[s][1], len);
			for (int d = 2; d <= 8; d *= 2)
				bench_pair(j, jt, what, jpg, len, sizes[s][0], sizes[s][1], d, &dst, cap);
			tjFree(jpg);
			fw_image_free(&frame);
		}
		fw_jpeg_destroy(jt);
	}
	printf("\n| what | n | latency |\n|---|---|---|\n");
	bench_handoff();
	fw_jpeg_destroy(j);
	fw_image_free(&dst);
	fw_image_free(&src);
	free(clip_frame);
	return 0;
}
