/* facectl eval landmarks / facectl eval pose: the 68-point landmark model and
 * head pose on photos (core/landmarks68.h), the way the daemon runs them: the
 * detector finds the faces, the landmark net runs on each box.
 *
 * landmarks FILE: FILE is the data README's landmarks68.txt (gt.txt layout,
 *   each box line `x y w h` then 68 `px py` pairs). Each annotated face is
 *   matched to the detection with the highest IoU (>= 0.3); the error of a
 *   face is the mean point-to-point distance over the 68 points divided by
 *   the reference's inter-ocular distance (outer eye corners, as 300-W).
 * pose IMAGE...: yaw, pitch, roll of every face, optionally after mirroring
 *   the image or rotating it about its centre, to check the pose's symmetry.
 */
#include "daemon/facectl_lm68.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/imageio.h"
#include "core/detector.h"
#include "core/eval.h"
#include "core/fw.h"
#include "core/image.h"
#include "core/landmarks68.h"
#include "daemon/photo.h"

#define MAX_DET 256

static int open_models(const struct fw_lm68_eval_options *o, struct fw_detector **det,
		       struct fw_landmarks68 **lm)
{
	struct fw_model_options mo = { .tier = o->tier };
	const char *dir = fw_photo_models_dir(o->models_dir);
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof path, "%s/%s", dir,
		 o->detector == FW_DETECTOR_FULL ? "blazeface_full.fwm" : "blazeface_short.fwm");
	if ((err = fw_detector_open(det, path, o->detector, o->tier)))
		return err;
	snprintf(path, sizeof path, "%s/landmarks68.fwm", dir);
	if ((err = fw_landmarks68_open(lm, path, &mo)))
		return err;
	if (o->crop_scale > 0)
		fw_landmarks68_set_crop_scale(*lm, o->crop_scale);
	return 0;
}

static void draw_points(struct fw_image *img, const float p[FW_LM68_POINTS][2], uint8_t r,
			uint8_t g, uint8_t b)
{
	int rad = img->width > 600 ? 2 : 1;

	for (int k = 0; k < FW_LM68_POINTS; k++)
		fw_image_draw_dot(img, (int)lrintf(p[k][0]), (int)lrintf(p[k][1]), rad, r, g, b);
}

static float box_iou(const float a[4], const float b[4])
{
	float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
	float inter, uni;

	if (iw <= 0 || ih <= 0)
		return 0;
	inter = iw * ih;
	uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
	return uni > 0 ? inter / uni : 0;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static int read_all(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f) {
		fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(errno));
		return -1;
	}
	do {
		if (n + 4096 > cap) {
			char *b = realloc(buf, cap = cap * 2 + 65536);
			if (!b) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = b;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
}

int fw_lm68_eval_landmarks(const struct fw_lm68_eval_options *o, const char *file)
{
	struct fw_eval_list gt = { 0 };
	struct fw_detector *det = NULL;
	struct fw_landmarks68 *lm = NULL;
	struct fw_detection *faces = malloc(sizeof *faces * MAX_DET);
	float *errs = NULL, (*pts)[FW_LM68_POINTS][2] = malloc(sizeof *pts * MAX_DET), sum = 0;
	int n_faces = 0, n_matched = 0, rc = 1;
	char *text = NULL, path[PATH_MAX];
	const char *slash = strrchr(file, '/');
	size_t len;

	if (!faces || !pts || read_all(file, &text, &len))
		goto out;
	if (fw_eval_list_parse(text, len, file, 4 + 2 * FW_LM68_POINTS, &gt))
		goto out;
	if (open_models(o, &det, &lm))
		goto out;
	fw_detector_set_threshold(det, 0.3f);
	for (int i = 0; i < gt.n_images; i++)
		n_faces += gt.img[i].n;
	errs = malloc(sizeof *errs * (size_t)(n_faces ? n_faces : 1));
	if (!errs)
		goto out;
	for (int i = 0; i < gt.n_images; i++) {
		const struct fw_eval_image *g = &gt.img[i];
		struct fw_image img = { 0 };
		int n;

		if (g->path[0] == '/' || !slash)
			snprintf(path, sizeof path, "%s", g->path);
		else
			snprintf(path, sizeof path, "%.*s/%s", (int)(slash - file), file, g->path);
		if (fw_imageio_load(path, &img))
			goto out;
		n = fw_detector_run(det, &img, faces, MAX_DET);
		if (n < 0) {
			fw_log(FW_LOG_ERROR, "%s: detection failed: %s", path, fw_strerror(n));
			fw_image_free(&img);
			goto out;
		}
		for (int f = 0; f < g->n && f < MAX_DET; f++) {
			const float *v = g->v + (size_t)f * gt.cols, *ref = v + 4;
			float gb[4] = { v[0], v[1], v[0] + v[2], v[1] + v[3] }, best = 0.3f, e = 0, iod;
			int bi = -1;

			pts[f][0][0] = NAN; /* not detected (yet) */
			for (int k = 0; k < n; k++) {
				float db[4] = { faces[k].x1, faces[k].y1, faces[k].x2, faces[k].y2 };
				float iou = box_iou(gb, db);

				if (iou >= best)
					best = iou, bi = k;
			}
			if (bi < 0) {
				if (!o->json)
					printf("%s face %d: not detected\n", g->path, f);
				continue;
			}
			if (fw_landmarks68_run(lm, &img, (const float[4]){ faces[bi].x1, faces[bi].y1,
					faces[bi].x2, faces[bi].y2 }, pts[f]))
				continue;
			iod = hypotf(ref[2 * FW_LM68_EYE_R_OUTER] - ref[2 * FW_LM68_EYE_L_OUTER],
				     ref[2 * FW_LM68_EYE_R_OUTER + 1] - ref[2 * FW_LM68_EYE_L_OUTER + 1]);
			for (int k = 0; k < FW_LM68_POINTS; k++)
				e += hypotf(pts[f][k][0] - ref[2 * k], pts[f][k][1] - ref[2 * k + 1]);
			e = e / FW_LM68_POINTS / (iod > 1 ? iod : 1);
			errs[n_matched++] = e;
			sum += e;
			if (!o->json)
				printf("%s face %d: error %.4f (inter-ocular %.1f px)\n", g->path, f, e, iod);
		}
		if (o->draw) { /* after every face ran: the dots are not in any input */
			for (int f = 0; f < g->n && f < MAX_DET; f++) {
				const float *ref = g->v + (size_t)f * gt.cols + 4;
				float rp[FW_LM68_POINTS][2];

				for (int k = 0; k < FW_LM68_POINTS; k++)
					rp[k][0] = ref[2 * k], rp[k][1] = ref[2 * k + 1];
				draw_points(&img, rp, 0, 255, 0);
				if (!isnan(pts[f][0][0]))
					draw_points(&img, pts[f], 255, 0, 0);
			}
			char out[PATH_MAX + 32];
			const char *base = strrchr(g->path, '/');

			snprintf(out, sizeof out, "%s/%s.png", o->draw, base ? base + 1 : g->path);
			if (fw_imageio_save_png(out, &img))
				fw_log(FW_LOG_WARN, "%s: cannot write", out);
		}
		fw_image_free(&img);
	}
	qsort(errs, (size_t)n_matched, sizeof *errs, cmp_float);
	if (o->json) {
		json_t *j = json_pack("{s:i, s:i, s:f, s:f, s:f}", "faces", n_faces, "matched",
				      n_matched, "mean_error", n_matched ? sum / n_matched : 0.0,
				      "median_error", n_matched ? errs[n_matched / 2] : 0.0,
				      "max_error", n_matched ? errs[n_matched - 1] : 0.0);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

		if (s)
			puts(s);
		free(s);
		json_decref(j);
	} else {
		printf("faces %d matched %d mean_error %.4f median_error %.4f max_error %.4f\n",
		       n_faces, n_matched, n_matched ? sum / n_matched : 0.0,
		       n_matched ? errs[n_matched / 2] : 0.0, n_matched ? errs[n_matched - 1] : 0.0);
	}
	rc = n_matched ? 0 : 1;
	if (!n_matched)
		fprintf(stderr, "facectl eval landmarks: no annotated face was detected\n");
out:
	free(errs);
	free(pts);
	free(text);
	free(faces);
	fw_eval_list_free(&gt);
	fw_landmarks68_close(lm);
	fw_detector_close(det);
	return rc;
}

/* Mirror left-right in place. */
static void mirror(struct fw_image *img)
{
	for (int y = 0; y < img->height; y++) {
		uint8_t *row = img->data + (size_t)y * (size_t)img->stride;

		for (int a = 0, b = img->width - 1; a < b; a++, b--)
			for (int c = 0; c < 3; c++) {
				uint8_t t = row[3 * a + c];

				row[3 * a + c] = row[3 * b + c];
				row[3 * b + c] = t;
			}
	}
}

/* Rotate by deg (clockwise as seen, y down) about the centre; same size,
 * black outside. */
static int rotate(struct fw_image *img, float deg)
{
	struct fw_image dst = { 0 };
	float th = deg * 3.14159265f / 180.0f, c = cosf(th), s = sinf(th);
	float cx = 0.5f * (img->width - 1), cy = 0.5f * (img->height - 1), a[6];
	int err = fw_image_alloc(&dst, img->width, img->height);

	if (err)
		return err;
	/* destination (x, y) comes from the source rotated back by -deg */
	a[0] = c, a[1] = s, a[2] = cx - c * cx - s * cy;
	a[3] = -s, a[4] = c, a[5] = cy + s * cx - c * cy;
	fw_image_warp_affine(img, a, &dst);
	fw_image_free(img);
	*img = dst;
	return 0;
}

static void draw_axis(struct fw_image *img, const float p[FW_LM68_POINTS][2],
		      const struct fw_pose *ps)
{
	/* the nose's direction, drawn from the nose tip: a dotted line */
	float len = fw_landmarks68_iod(p), d2r = 3.14159265f / 180.0f;
	float dx = sinf(ps->yaw * d2r) * cosf(ps->pitch * d2r), dy = -sinf(ps->pitch * d2r);

	for (int k = 0; k <= 20; k++)
		fw_image_draw_dot(img, (int)lrintf(p[FW_LM68_NOSE_TIP][0] + dx * len * k / 20.0f),
				  (int)lrintf(p[FW_LM68_NOSE_TIP][1] + dy * len * k / 20.0f), 1, 0,
				  255, 255);
}

int fw_lm68_eval_pose(const struct fw_lm68_eval_options *o, int n_images, char **images)
{
	struct fw_detector *det = NULL;
	struct fw_landmarks68 *lm = NULL;
	struct fw_detection *faces = malloc(sizeof *faces * MAX_DET);
	float (*pts)[FW_LM68_POINTS][2] = malloc(sizeof *pts * MAX_DET);
	struct fw_pose *poses = malloc(sizeof *poses * MAX_DET);
	int rc = 1;

	if (!faces || !pts || !poses || open_models(o, &det, &lm))
		goto out;
	for (int i = 0; i < n_images; i++) {
		struct fw_image img = { 0 };
		int n;

		if (fw_imageio_load(images[i], &img))
			goto out;
		if (o->mirror)
			mirror(&img);
		if (o->rotate != 0 && rotate(&img, o->rotate)) {
			fw_image_free(&img);
			goto out;
		}
		n = fw_detector_run(det, &img, faces, MAX_DET);
		if (n < 0) {
			fw_log(FW_LOG_ERROR, "%s: detection failed: %s", images[i], fw_strerror(n));
			fw_image_free(&img);
			goto out;
		}
		printf("%s size %d %d\n", images[i], img.width, img.height);
		for (int k = 0; k < n; k++) {
			const float box[4] = { faces[k].x1, faces[k].y1, faces[k].x2, faces[k].y2 };
			struct fw_pose ps;

			pts[k][0][0] = NAN;
			if (fw_landmarks68_run(lm, &img, box, pts[k]) ||
			    fw_pose_from_landmarks68(pts[k], img.width, img.height, &ps)) {
				pts[k][0][0] = NAN;
				printf("%s face %d: no pose\n", images[i], k);
				continue;
			}
			poses[k] = ps;
			printf("%s face %d: cx %.1f cy %.1f width %.1f yaw %.2f pitch %.2f roll %.2f "
			       "rms %.2f\n", images[i], k, 0.5f * (box[0] + box[2]),
			       0.5f * (box[1] + box[3]), box[2] - box[0], ps.yaw, ps.pitch, ps.roll,
			       ps.rms_px);
		}
		for (int k = 0; o->draw && k < n; k++) {
			if (isnan(pts[k][0][0]))
				continue;
			fw_image_draw_rect(&img, (int)faces[k].x1, (int)faces[k].y1,
					   (int)(faces[k].x2 - faces[k].x1),
					   (int)(faces[k].y2 - faces[k].y1), 1, 0, 255, 0);
			draw_points(&img, pts[k], 255, 0, 0);
			draw_axis(&img, pts[k], &poses[k]);
		}
		if (o->draw && fw_imageio_save_png(o->draw, &img))
			fw_log(FW_LOG_WARN, "%s: cannot write", o->draw);
		fw_image_free(&img);
	}
	rc = 0;
out:
	free(pts);
	free(poses);
	free(faces);
	fw_landmarks68_close(lm);
	fw_detector_close(det);
	return rc;
}
