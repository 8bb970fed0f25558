/* facectl calibrate: int8 calibration of all four models on photos.
 *
 *   facectl calibrate [--models DIR] [--out DIR] [--method mse|minmax|kl]
 *                     [--kernels ref|fast] IMAGE...
 *
 * Each model runs in float (core/calibrate.h collects its statistics) on the
 * inputs the pipeline makes from the photos, in a fixed order:
 *   - BlazeFace short and full: every photo letterboxed whole, then 4:3
 *     crops around every face the size of a webcam frame (the face 20, 30,
 *     45 and 60 % of the crop's width, off-centre);
 *   - O-Net: the landmark stage's crops of every face (two per face: the
 *     detector's box, then O-Net's own refinement), in the photo and in a
 *     tight chip around the face;
 *   - MobileFaceNet: the aligned 112x112 face those landmarks give, from
 *     the photo and from the chip (where alignment reaches past the chip's
 *     edge and fills black, as for a face at the edge of a frame).
 * Then <out>/<model>.fwm get their parameters (replaced atomically), and one
 * JSON line per model says how many inputs it saw and how many tensors are
 * quantised or left float. The same photos give the same bytes: no threads,
 * no clock in the output, and the reference kernels by default (the fast
 * ones round floats as the CPU's BLAS does, which differs between machines).
 *
 * Exit status: 0 done, 1 a photo, a model or a file failed, 2 the command
 * line is wrong.
 */
#include "daemon/facectl_calibrate.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "capture/imageio.h"
#include "core/calibrate.h"
#include "core/detector.h"
#include "core/embedder.h"
#include "core/fw.h"
#include "core/landmarks.h"
#include "daemon/photo.h"

#define MAX_FACES 64
#define MIN_FACE 24     /* px: smaller faces make no webcam-sized crop */
#define CHIP_SIDE 1.25f /* side of the tight face chip, in face widths */

/* Tensors the int8 models keep in float, decided by measurement with fake
 * quantisation on the golden inputs and the development data (numbers in
 * models/SOURCES.md, "int8 calibration"). A tensor tied to one of these by a
 * runtime constraint (reshape, concat) stays float too, and an op next to a
 * float tensor runs in float.
 *   - Every head: BlazeFace's regressor and classifier convs (the background
 *     anchors' values spread them over hundreds of units: 1.7 px steps for
 *     boxes, 2.9 for logits; 4 % of the MACs), O-Net's FC outputs, the
 *     embedding.
 *   - BlazeFace short depthwise_conv2d_15: a few channels reach +-1600
 *     where the rest stay within +-5, which costs the next 1x1 conv both its
 *     activations and its int8 weights (big faces' boxes grew 5 %).
 *   - MobileFaceNet: the first conv's output and the tail from Conv2d_7 to
 *     the embedding (4.6 % of the MACs) bring the worst golden cosine from
 *     0.977 to 0.991. */
static const char *const keep_short[] = { "classificators", "regressors", "depthwise_conv2d_15",
					  NULL };
static const char *const keep_full[] = { "reshaped_classifier_face_4", "reshaped_regressor_face_4",
					 NULL };
static const char *const keep_onet[] = { "onet/conv6-1/conv6-1", "onet/conv6-2/conv6-2",
					 "onet/conv6-3/conv6-3", NULL };
static const char *const keep_mfn[] = {
	"MobileFaceNet/MobileFaceNet/Conv2d_0/add",
	"MobileFaceNet/MobileFaceNet/Conv2d_7/add",
	"MobileFaceNet/Logits/SeparableConv2d/BatchNorm/FusedBatchNorm",
	"MobileFaceNet/Logits/Conv/BatchNorm/FusedBatchNorm",
	"embeddings",
	NULL,
};

enum { CAL_SHORT, CAL_FULL, CAL_ONET, CAL_MFN, CAL_N };

static const struct {
	const char *file;
	const char *const *keep_float;
} models[CAL_N] = {
	[CAL_SHORT] = { "blazeface_short.fwm", keep_short },
	[CAL_FULL] = { "blazeface_full.fwm", keep_full },
	[CAL_ONET] = { "onet.fwm", keep_onet },
	[CAL_MFN] = { "mobilefacenet.fwm", keep_mfn },
};

/* The face's share of a webcam-like crop's width. */
static const float crop_face_frac[] = { 0.2f, 0.3f, 0.45f, 0.6f };

struct stages {
	struct fw_detector *det[2]; /* full-range, short-range */
	struct fw_landmarks *lmk;
	struct fw_embedder *emb;
};

static void usage(FILE *f)
{
	fputs("usage: facectl calibrate [--models DIR] [--out DIR] [--method mse|minmax|kl]\n"
	      "                         [--kernels ref|fast] IMAGE...\n"
	      "\n"
	      "int8 calibration of the four models on photos with faces (a few dozen faces\n"
	      "or more; the photos are only read). Each model runs in float on what the\n"
	      "pipeline makes of the photos: whole photos and webcam-like crops around every\n"
	      "face for the detectors, landmark crops and aligned faces for the others.\n"
	      "Then OUT/<model>.fwm get each activation's u8 scale and zero point.\n"
	      "\n"
	      "  --models DIR   the models to calibrate (default: $FACEWATCH_MODELS, then the\n"
	      "                 installed ones); their earlier calibration is ignored\n"
	      "  --out DIR      where the calibrated models go (default: the models directory;\n"
	      "                 each file is replaced atomically)\n"
	      "  --method M     how a tensor's range is chosen: mse (default) minimises the\n"
	      "                 quantisation error, minmax takes the observed range, kl is\n"
	      "                 TensorRT's entropy method\n"
	      "  --kernels K    ref (default: the same bytes on every machine) or fast (~25x\n"
	      "                 quicker; its float rounding, and so the bytes, depend on the CPU)\n",
	      f);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stages_close(struct stages *s)
{
	fw_detector_close(s->det[0]);
	fw_detector_close(s->det[1]);
	fw_landmarks_close(s->lmk);
	fw_embedder_close(s->emb);
}

/* A view of img's pixels in [x0, x1) x [y0, y1), clipped to the image;
 * (*ox, *oy) is its top-left corner in img. -1 when too small to use. */
static int sub_image(const struct fw_image *img, float x0, float y0, float x1, float y1,
		     struct fw_image *sub, int *ox, int *oy)
{
	int ix0 = (int)fmaxf(0, floorf(x0)), iy0 = (int)fmaxf(0, floorf(y0));
	int ix1 = (int)fminf((float)img->width, ceilf(x1));
	int iy1 = (int)fminf((float)img->height, ceilf(y1));

	if (ix1 - ix0 < 16 || iy1 - iy0 < 16)
		return -1;
	*sub = (struct fw_image){ .width = ix1 - ix0, .height = iy1 - iy0, .stride = img->stride,
				  .data = img->data + (size_t)iy0 * img->stride + (size_t)ix0 * 3 };
	*ox = ix0;
	*oy = iy0;
	return 0;
}

/* Every face of the photo: the full-range model's, then those of the
 * short-range model that the full one missed. Both runs are calibration
 * inputs (the whole photo, letterboxed). */
static int find_faces(struct stages *s, const struct fw_image *img, struct fw_detection *faces)
{
	struct fw_detection more[MAX_FACES];
	int n = fw_detector_run(s->det[0], img, faces, MAX_FACES), m;

	if (n < 0)
		return n;
	m = fw_detector_run(s->det[1], img, more, MAX_FACES);
	if (m < 0)
		return m;
	for (int i = 0; i < m && n < MAX_FACES; i++) {
		int seen = 0;
		for (int k = 0; k < n; k++)
			seen |= fw_detection_iou(&more[i], &faces[k]) > 0.3f;
		if (!seen)
			faces[n++] = more[i];
	}
	return n;
}

/* Landmarks, then the embedding, of face f in img. */
static int align_and_embed(struct stages *s, const struct fw_image *img,
			   const struct fw_detection *f)
{
	struct fw_landmarks_result lm;
	float emb[FW_EMBED_DIM];
	int err = fw_landmarks_run(s->lmk, img, f, &lm);

	if (!err)
		err = fw_embedder_run(s->emb, img, (const float(*)[2])lm.pt, emb, NULL);
	return err;
}

static int calibrate_photo(struct stages *s, const struct fw_image *img, int *n_faces)
{
	struct fw_detection faces[MAX_FACES], ignored[MAX_FACES];
	int n = find_faces(s, img, faces), err, ox, oy;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const struct fw_detection *f = &faces[i];
		float w = f->x2 - f->x1, cx = 0.5f * (f->x1 + f->x2), cy = 0.5f * (f->y1 + f->y2);
		float side = CHIP_SIDE * w;
		struct fw_detection in_chip = *f;
		struct fw_image sub;

		if (w < MIN_FACE)
			continue;
		for (size_t k = 0; k < sizeof crop_face_frac / sizeof crop_face_frac[0]; k++) {
			float cw = w / crop_face_frac[k], ch = 0.75f * cw;
			float shift = (k % 2 ? -0.1f : 0.1f) * cw; /* the face off-centre, alternately */

			if (sub_image(img, cx + shift - 0.5f * cw, cy - 0.5f * ch, cx + shift + 0.5f * cw,
				      cy + 0.5f * ch, &sub, &ox, &oy))
				continue;
			for (int d = 0; d < 2; d++)
				if ((err = fw_detector_run(s->det[d], &sub, ignored, MAX_FACES)) < 0)
					return err;
		}
		if ((err = align_and_embed(s, img, f)))
			return err;
		if (!sub_image(img, cx - 0.5f * side, cy - 0.5f * side, cx + 0.5f * side,
			       cy + 0.5f * side, &sub, &ox, &oy)) {
			in_chip.x1 -= (float)ox, in_chip.x2 -= (float)ox;
			in_chip.y1 -= (float)oy, in_chip.y2 -= (float)oy;
			if ((err = align_and_embed(s, &sub, &in_chip)))
				return err;
		}
		++*n_faces;
	}
	return 0;
}

int fw_cmd_calibrate(int argc, char **argv)
{
	enum { OPT_MODELS = 256, OPT_OUT, OPT_METHOD, OPT_KERNELS };
	static const struct option longopts[] = {
		{ "models", required_argument, NULL, OPT_MODELS },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "method", required_argument, NULL, OPT_METHOD },
		{ "kernels", required_argument, NULL, OPT_KERNELS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum fw_calib_method method = FW_CALIB_MSE;
	enum fw_kernel_tier tier = FW_KERNELS_REF;
	const char *dir = NULL, *out = NULL;
	struct stages s = { 0 };
	struct fw_calib *cal[CAL_N] = { 0 };
	struct fw_model *m[CAL_N];
	char path[CAL_N][PATH_MAX];
	int failed = 0, n_faces = 0, err = 0, c;
	double t0 = now_s();

	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_MODELS:
			dir = optarg;
			break;
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_METHOD:
			if (!strcmp(optarg, "mse"))
				method = FW_CALIB_MSE;
			else if (!strcmp(optarg, "minmax"))
				method = FW_CALIB_MINMAX;
			else if (!strcmp(optarg, "kl"))
				method = FW_CALIB_KL;
			else {
				fprintf(stderr, "facectl calibrate: --method takes mse, minmax or kl, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_KERNELS:
			if (fw_parse_kernels(optarg, &tier)) {
				fprintf(stderr, "facectl calibrate: --kernels takes ref or fast, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "facectl calibrate: give photos with faces (a few dozen faces or more)\n");
		return 2;
	}
	dir = fw_photo_models_dir(dir);
	if (!out)
		out = dir;
	if (mkdir(out, 0755) && errno != EEXIST) {
		fprintf(stderr, "facectl calibrate: cannot create %s: %s\n", out, strerror(errno));
		return 1;
	}
	for (int k = 0; k < CAL_N; k++)
		snprintf(path[k], sizeof path[k], "%s/%s", dir, models[k].file);
	/* loaded in float (the default precision): statistics of the model itself */
	if ((err = fw_detector_open(&s.det[0], path[CAL_FULL], FW_DETECTOR_FULL, tier)) ||
	    (err = fw_detector_open(&s.det[1], path[CAL_SHORT], FW_DETECTOR_SHORT, tier)) ||
	    (err = fw_landmarks_open(&s.lmk, path[CAL_ONET], tier)) ||
	    (err = fw_embedder_open(&s.emb, path[CAL_MFN], tier)))
		goto out;
	m[CAL_SHORT] = fw_detector_model(s.det[1]);
	m[CAL_FULL] = fw_detector_model(s.det[0]);
	m[CAL_ONET] = fw_landmarks_model(s.lmk);
	m[CAL_MFN] = fw_embedder_model(s.emb);
	for (int k = 0; k < CAL_N; k++)
		if ((err = fw_calib_create(&cal[k], path[k])) || (err = fw_calib_attach(cal[k], m[k])))
			goto out;
	for (int i = optind; i < argc; i++) {
		struct fw_image img = { 0 };

		if (fw_imageio_load(argv[i], &img)) {
			failed = 1;
			continue;
		}
		err = calibrate_photo(&s, &img, &n_faces);
		fw_image_free(&img);
		if (err) {
			fw_log(FW_LOG_ERROR, "%s: a calibration run failed: %s", argv[i], fw_strerror(err));
			goto out;
		}
	}
	for (int k = 0; k < CAL_N; k++)
		fw_calib_detach(cal[k]);
	if (n_faces == 0) {
		fw_log(FW_LOG_ERROR, "no face of %d px or more in any photo; calibration needs photos "
		       "with faces", MIN_FACE);
		err = FW_ENOFACE;
		goto out;
	}
	for (int k = 0; k < CAL_N; k++) {
		struct fw_calib_options opt = { .method = method, .keep_float = models[k].keep_float };
		char dst[PATH_MAX + 64];
		int nq, nf;
		json_t *j;
		char *line;

		snprintf(dst, sizeof dst, "%s/%s", out, models[k].file);
		if ((err = fw_calib_choose(cal[k], &opt)) || (err = fw_calib_write(path[k], dst, cal[k])))
			goto out;
		fw_calib_counts(cal[k], &nq, &nf);
		j = json_object();
		json_object_set_new(j, "model", json_string(fw_calib_model_name(cal[k])));
		json_object_set_new(j, "inputs", json_integer(fw_calib_runs(cal[k])));
		json_object_set_new(j, "tensors_quantised", json_integer(nq));
		json_object_set_new(j, "tensors_float", json_integer(nf));
		json_object_set_new(j, "file", json_string(dst));
		line = json_dumps(j, JSON_COMPACT);
		if (line)
			puts(line);
		free(line);
		json_decref(j);
	}
	fflush(stdout);
	fw_log(FW_LOG_INFO, "calibrated the 4 models on %d faces from %d photos in %.0f s", n_faces,
	       argc - optind, now_s() - t0);
out:
	for (int k = 0; k < CAL_N; k++)
		fw_calib_free(cal[k]); /* detaches: before the models go */
	stages_close(&s);
	return err ? 1 : failed;
}
