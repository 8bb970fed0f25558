/* facectl: the command-line front end.
 *
 *   facectl detect [--detector short|full] [--draw OUT.jpg] [--time N] IMAGE...
 *   facectl embed IMAGE
 *   facectl compare IMAGE_A IMAGE_B
 *
 * Results are JSON on stdout (one object per line); messages go to stderr.
 * Exit status: 0 all went well, 1 some input failed (the others are still
 * processed), 2 the command line is wrong.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "capture/imageio.h"
#include "core/detector.h"
#include "core/embedder.h"
#include "core/fw.h"
#include "core/kernels/kernels.h"
#include "core/landmarks.h"
#include "daemon/facectl_calibrate.h"
#include "daemon/facectl_eval.h"
#include "daemon/facectl_gallery.h"
#include "daemon/facectl_preview.h"
#include "daemon/facectl_watch.h"
#include "daemon/jsonout.h"
#include "daemon/photo.h"

#define MAX_FACES 64

struct options {
	const char *models_dir;
	enum fw_detector_kind detector;
	int detector_set;
	const char *draw;
	int time_runs;
	float threshold;       /* < 0: the model's own */
	enum fw_kernel_tier tier;
	enum fw_precision precision; /* detect: float (default) or int8, as the daemon runs */
};

static void usage(FILE *f)
{
	fputs("usage: facectl COMMAND [OPTIONS] ARGS\n"
	      "\n"
	      "commands:\n"
	      "  detect [--detector full|short|auto] [--precision float|int8] [--draw OUT.jpg]\n"
	      "         [--time N] [--threshold S] IMAGE...\n"
	      "        find faces; one JSON object per image: box [x,y,w,h] and 6 keypoints\n"
	      "        in image pixels. full (default for photos) finds faces down to ~1/20\n"
	      "        of the image; short is 3.4x cheaper and wants faces over ~1/6 of it\n"
	      "        (a face at a webcam); auto runs short on the whole image and on 6\n"
	      "        tiles and full on the whole image, for faces down to ~1/16 (a\n"
	      "        person at a desk). --precision int8 runs the int8 kernels, as the\n"
	      "        daemon does (float, the reference, by default). --time N runs\n"
	      "        detection N times per image and adds min and median milliseconds.\n"
	      "  embed IMAGE\n"
	      "        the 192-d embedding of the main face (confident first, then largest)\n"
	      "  compare IMAGE_A IMAGE_B\n"
	      "        cosine similarity of the main faces and whether they are one person\n"
	      "  eval detect|verify|identify FILE   accuracy on annotated data (facectl eval --help)\n"
	      "  calibrate [--out DIR] IMAGE...   int8 calibration of the models on photos with faces\n"
	      "        (facectl calibrate --help)\n"
	      "  cameras [--dev-dir DIR]   V4L2 cameras: stable names, formats, sizes, fps, IR (JSON lines)\n"
	      "  status [--socket PATH] [--json]   the running facewatchd: camera, fps, cpu, who is present\n"
	      "  watch [--events a,b] [--json] [--exec CMD] [--reconnect]   follow its events, or run CMD\n"
	      "        for each (facectl watch --help)\n"
	      "  preview [--socket PATH] [--frames N] [--snapshot FILE]   the running facewatchd's\n"
	      "        picture with boxes and names, in a window (trusted peers only)\n"
	      "  enroll NAME IMAGE... | not NAME IMAGE... | identify IMAGE... | list | forget NAME\n"
	      "  rename OLD NEW | export FILE | import FILE | doctor   the gallery (facectl enroll --help)\n"
	      "\n"
	      "common options:\n"
	      "  --models DIR     model files (default: $FACEWATCH_MODELS, then the installed ones)\n"
	      "  --kernels ref|fast   reference C kernels or the fastest available (default fast)\n"
	      "  -h, --help       this text\n"
	      "  --version        print the version\n",
	      f);
}

/* Where the models are: --models, $FACEWATCH_MODELS, next to the binary
 * when installed, else the source tree (fw_photo_models_dir). */
static const char *models_dir(const struct options *o)
{
	return fw_photo_models_dir(o->models_dir);
}

static const char *model_path(const struct options *o, const char *file)
{
	static char buf[4][PATH_MAX + 128];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof buf[0], "%s/%s", models_dir(o), file);
	return p;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static json_t *round_real(double v, double unit)
{
	return json_real(round(v / unit) * unit);
}

static json_t *face_json(const struct fw_detection *d)
{
	json_t *f = json_object(), *box = json_array(), *kps = json_array();

	json_array_append_new(box, round_real(d->x1, 0.1));
	json_array_append_new(box, round_real(d->y1, 0.1));
	json_array_append_new(box, round_real(d->x2 - d->x1, 0.1));
	json_array_append_new(box, round_real(d->y2 - d->y1, 0.1));
	for (int k = 0; k < FW_DET_KEYPOINTS; k++) {
		json_t *pt = json_array();
		json_array_append_new(pt, round_real(d->kp[k][0], 0.1));
		json_array_append_new(pt, round_real(d->kp[k][1], 0.1));
		json_array_append_new(kps, pt);
	}
	json_object_set_new(f, "box", box);
	json_object_set_new(f, "score", round_real(d->score, 1e-4));
	json_object_set_new(f, "landmarks", kps);
	return f;
}

/* A result is printed whole or not at all: out of memory while building
 * it, the command stops with a message (daemon/jsonout.h). */
static void print_json(json_t *j)
{
	if (fw_jsonout_print(j, JSON_COMPACT | JSON_REAL_PRECISION(10)))
		exit(1);
}

/* OUT.jpg for one image, OUT-<i>.jpg when several are drawn. */
static void draw_path(char *buf, size_t len, const char *out, int index, int count)
{
	const char *dot = strrchr(out, '.');

	if (count <= 1) {
		snprintf(buf, len, "%s", out);
		return;
	}
	if (!dot || strchr(dot, '/'))
		dot = out + strlen(out);
	snprintf(buf, len, "%.*s-%d%s", (int)(dot - out), out, index + 1, dot);
}

static void draw_faces(struct fw_image *img, const struct fw_detection *d, int n)
{
	int t = img->width > 800 ? 3 : 2;

	for (int i = 0; i < n; i++) {
		fw_image_draw_rect(img, (int)lroundf(d[i].x1), (int)lroundf(d[i].y1),
				   (int)lroundf(d[i].x2 - d[i].x1), (int)lroundf(d[i].y2 - d[i].y1), t,
				   40, 220, 40);
		for (int k = 0; k < FW_DET_KEYPOINTS; k++)
			fw_image_draw_dot(img, (int)lroundf(d[i].kp[k][0]), (int)lroundf(d[i].kp[k][1]),
					  t + 1, 240, 60, 60);
	}
}

static int cmd_detect(const struct options *o, int argc, char **argv)
{
	struct fw_detector *det = NULL;
	struct fw_detection faces[MAX_FACES];
	double *times = NULL;
	const char *file = o->detector == FW_DETECTOR_FULL ? "blazeface_full.fwm" : "blazeface_short.fwm";
	int failed = 0, err;

	if (argc < 1) {
		fprintf(stderr, "facectl detect: give at least one image\n");
		return 2;
	}
	{
		struct fw_model_options mo = { .tier = o->tier, .precision = o->precision };

		err = fw_detector_open_with(&det, model_path(o, file), o->detector, &mo);
	}
	if (err)
		return 1;
	if (o->threshold >= 0)
		fw_detector_set_threshold(det, o->threshold);
	if (o->time_runs > 0 && !(times = malloc(sizeof *times * (size_t)o->time_runs))) {
		fw_detector_close(det);
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		struct fw_image img = { 0 };
		json_t *j, *arr;
		int n;

		if (fw_imageio_load(argv[i], &img)) {
			failed = 1;
			continue;
		}
		n = fw_detector_run(det, &img, faces, MAX_FACES);
		if (n < 0) {
			fw_log(FW_LOG_ERROR, "%s: detection failed: %s", argv[i], fw_strerror(n));
			fw_image_free(&img);
			failed = 1;
			continue;
		}
		j = json_object();
		json_object_set_new(j, "image", json_string(argv[i]));
		json_object_set_new(j, "width", json_integer(img.width));
		json_object_set_new(j, "height", json_integer(img.height));
		arr = json_array();
		for (int k = 0; k < n; k++)
			json_array_append_new(arr, face_json(&faces[k]));
		json_object_set_new(j, "faces", arr);
		if (times) {
			json_t *t = json_object();
			for (int r = 0; r < o->time_runs; r++) {
				double t0 = now_ms();
				fw_detector_run(det, &img, faces, MAX_FACES);
				times[r] = now_ms() - t0;
			}
			qsort(times, (size_t)o->time_runs, sizeof *times, cmp_double);
			json_object_set_new(t, "runs", json_integer(o->time_runs));
			json_object_set_new(t, "min_ms", round_real(times[0], 1e-4));
			json_object_set_new(t, "median_ms", round_real(times[o->time_runs / 2], 1e-4));
			json_object_set_new(j, "time", t);
		}
		print_json(j);
		json_decref(j);
		if (o->draw) {
			char path[PATH_MAX];
			draw_path(path, sizeof path, o->draw, i, argc);
			draw_faces(&img, faces, n);
			if (fw_imageio_save_jpeg(path, &img, 90))
				failed = 1;
		}
		fw_image_free(&img);
	}
	free(times);
	fw_detector_close(det);
	return failed;
}

/* The main face of a photo and its embedding: daemon/photo.c, shared with
 * facectl eval. */
struct pipeline {
	struct fw_photo *photo;
};

static int pipeline_open(struct pipeline *p, const struct options *o)
{
	return fw_photo_open(&p->photo, models_dir(o), o->tier) ? -1 : 0;
}

static void pipeline_close(struct pipeline *p)
{
	fw_photo_close(p->photo);
}

static int embed_photo(struct pipeline *p, const char *path, struct fw_photo_face *r)
{
	return fw_photo_embed(p->photo, path, r);
}

static json_t *face_result_json(const char *path, const struct fw_photo_face *r, int with_emb)
{
	json_t *j = json_object(), *f = face_json(&r->det), *pts = json_array();

	for (int k = 0; k < 5; k++) {
		json_t *pt = json_array();
		json_array_append_new(pt, round_real(r->lm.pt[k][0], 0.1));
		json_array_append_new(pt, round_real(r->lm.pt[k][1], 0.1));
		json_array_append_new(pts, pt);
	}
	json_object_set_new(f, "landmarks5", pts);
	json_object_set_new(j, "image", json_string(path));
	json_object_set_new(j, "faces_found", json_integer(r->n_faces));
	json_object_set_new(j, "face", f);
	if (with_emb) {
		json_t *e = json_array();
		for (int i = 0; i < FW_EMBED_DIM; i++)
			json_array_append_new(e, round_real(r->emb[i], 1e-6));
		json_object_set_new(j, "embedding", e);
	}
	return j;
}

static int cmd_embed(const struct options *o, int argc, char **argv)
{
	struct pipeline p;
	int failed = 0;

	if (argc < 1) {
		fprintf(stderr, "facectl embed: give an image\n");
		return 2;
	}
	if (pipeline_open(&p, o)) {
		pipeline_close(&p);
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		struct fw_photo_face r;
		json_t *j;

		if (embed_photo(&p, argv[i], &r)) {
			failed = 1;
			continue;
		}
		j = face_result_json(argv[i], &r, 1);
		print_json(j);
		json_decref(j);
	}
	pipeline_close(&p);
	return failed;
}

static int cmd_compare(const struct options *o, int argc, char **argv)
{
	struct pipeline p;
	struct fw_photo_face a, b;
	float sim;
	json_t *j;

	if (argc != 2) {
		fprintf(stderr, "facectl compare: give exactly two images\n");
		return 2;
	}
	if (pipeline_open(&p, o)) {
		pipeline_close(&p);
		return 1;
	}
	if (embed_photo(&p, argv[0], &a) || embed_photo(&p, argv[1], &b)) {
		pipeline_close(&p);
		return 1;
	}
	sim = fw_embedding_cosine(a.emb, b.emb, FW_EMBED_DIM);
	j = json_object();
	json_object_set_new(j, "similarity", round_real(sim, 1e-4));
	json_object_set_new(j, "same", json_boolean(sim >= FW_EMBED_SAME_THRESHOLD));
	json_object_set_new(j, "threshold", json_real(FW_EMBED_SAME_THRESHOLD));
	json_object_set_new(j, "a", face_result_json(argv[0], &a, 0));
	json_object_set_new(j, "b", face_result_json(argv[1], &b, 0));
	print_json(j);
	json_decref(j);
	pipeline_close(&p);
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_MODELS = 256, OPT_DETECTOR, OPT_DRAW, OPT_TIME, OPT_THRESHOLD, OPT_KERNELS, OPT_VERSION,
	       OPT_PRECISION };
	static const struct option longopts[] = {
		{ "models", required_argument, NULL, OPT_MODELS },
		{ "detector", required_argument, NULL, OPT_DETECTOR },
		{ "draw", required_argument, NULL, OPT_DRAW },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "kernels", required_argument, NULL, OPT_KERNELS },
		{ "precision", required_argument, NULL, OPT_PRECISION },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	struct options o = { .threshold = -1, .tier = FW_KERNELS_FAST, .detector = FW_DETECTOR_FULL };
	const char *cmd;
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		puts("facectl " FW_VERSION);
		return 0;
	}
	/* one thread of OpenBLAS: facewatch's budget is one core, and small
	 * GEMMs lose more to thread hand-off than they gain */
	fw_kernels_single_thread();
	fw_jsonout_init();
	if (!strcmp(cmd, "eval")) return fw_cmd_eval(argc, argv);
	if (!strcmp(cmd, "cameras")) { int fw_cmd_cameras(int, char **); return fw_cmd_cameras(argc, argv); }
	if (!strcmp(cmd, "status")) return fw_cmd_status(argc, argv);
	if (!strcmp(cmd, "watch")) return fw_cmd_watch(argc, argv);
	if (!strcmp(cmd, "preview")) return fw_cmd_preview(argc, argv);
	if (!strcmp(cmd, "calibrate")) return fw_cmd_calibrate(argc, argv);
	if (fw_gallery_command(cmd)) return fw_cmd_gallery(argc, argv);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_MODELS:
			o.models_dir = optarg;
			break;
		case OPT_DETECTOR:
			if (fw_parse_detector(optarg, &o.detector)) {
				fprintf(stderr, "facectl: --detector takes short, full or auto, not '%s'\n", optarg);
				return 2;
			}
			o.detector_set = 1;
			break;
		case OPT_DRAW:
			o.draw = optarg;
			break;
		case OPT_PRECISION:
			if (fw_parse_precision(optarg, &o.precision)) {
				fprintf(stderr, "facectl: --precision takes float or int8, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_TIME:
			errno = 0;
			o.time_runs = (int)strtol(optarg, &end, 10);
			if (errno || *end || o.time_runs < 1 || o.time_runs > 1000000) {
				fprintf(stderr, "facectl: --time takes a number of runs (1 or more), not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_THRESHOLD:
			o.threshold = strtof(optarg, &end);
			if (*end || !(o.threshold >= 0 && o.threshold <= 1)) {
				fprintf(stderr, "facectl: --threshold takes a score from 0 to 1, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_KERNELS:
			if (fw_parse_kernels(optarg, &o.tier)) {
				fprintf(stderr, "facectl: --kernels takes ref or fast, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			puts("facectl " FW_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "detect"))
		return cmd_detect(&o, argc, argv);
	if (!strcmp(cmd, "embed"))
		return cmd_embed(&o, argc, argv);
	if (!strcmp(cmd, "compare"))
		return cmd_compare(&o, argc, argv);
	fprintf(stderr, "facectl: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return 2;
}
