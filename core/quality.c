/* View quality for enrolment from the camera; see core/quality.h. */
#include "core/quality.h"

#include <math.h>
#include <stddef.h>

#include "core/embedder.h"

void fw_quality_config_default(struct fw_quality_config *c)
{
	*c = (struct fw_quality_config){
		.min_face_px = 64,
		.min_sharpness = 50,
		.min_frontal = 0.5f,
		.min_luma = 50,
		.max_luma = 220,
		.max_similar = 0.93f,
	};
}

static const struct {
	const char *name, *advice;
} reasons[FW_QUALITY_N_REASONS] = {
	[FW_QUALITY_OK] = { "ok", "a good view" },
	[FW_QUALITY_NO_FACE] = { "no_face", "no face in view: sit in front of the camera, face it" },
	[FW_QUALITY_SEVERAL_FACES] = { "several_faces",
				       "more than one face in view: only the person to enrol "
				       "should be in front of the camera" },
	[FW_QUALITY_TOO_DARK] = { "too_dark", "the face is too dark: turn on a light in front of "
					      "you (not behind)" },
	[FW_QUALITY_TOO_BRIGHT] = { "too_bright", "the face is washed out: less direct light, or "
						  "move away from the window" },
	[FW_QUALITY_TOO_SMALL] = { "too_small", "the face is too small: come closer to the camera" },
	[FW_QUALITY_BLURRY] = { "blurry", "the face is blurred: hold still, or clean or focus the "
					  "lens" },
	[FW_QUALITY_NOT_FRONTAL] = { "not_frontal", "the head is turned away: face the camera" },
	[FW_QUALITY_TOO_SIMILAR] = { "too_similar", "the same view again: turn the head a little "
						    "between views" },
};

const char *fw_quality_reason_name(enum fw_quality_reason r)
{
	return (unsigned)r < FW_QUALITY_N_REASONS ? reasons[r].name : "?";
}

const char *fw_quality_reason_advice(enum fw_quality_reason r)
{
	return (unsigned)r < FW_QUALITY_N_REASONS ? reasons[r].advice : "?";
}

static float luma_at(const struct fw_image *img, int x, int y)
{
	const uint8_t *p = img->data + (size_t)y * img->stride + (size_t)x * 3;
	return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
}

/* The box clipped to the image, as integer pixel bounds [x0, x1) x [y0, y1). */
static int clip_box(const struct fw_image *img, const float *box, int *x0, int *y0, int *x1,
		    int *y1)
{
	if (!img || !img->data || img->width <= 0 || img->height <= 0)
		return 0;
	if (!box) {
		*x0 = *y0 = 0;
		*x1 = img->width;
		*y1 = img->height;
		return 1;
	}
	/* written so that NaN gives an empty box */
	float fx0 = box[0] > 0 ? box[0] : 0, fy0 = box[1] > 0 ? box[1] : 0;
	float fx1 = box[2] < img->width ? box[2] : (float)img->width;
	float fy1 = box[3] < img->height ? box[3] : (float)img->height;
	if (!(fx1 > fx0 && fy1 > fy0))
		return 0;
	*x0 = (int)fx0;
	*y0 = (int)fy0;
	*x1 = (int)ceilf(fx1);
	*y1 = (int)ceilf(fy1);
	return *x1 > *x0 && *y1 > *y0;
}

float fw_quality_luma(const struct fw_image *img, const float *box)
{
	int x0, y0, x1, y1, sx, sy;
	double sum = 0;
	long n = 0;

	if (!clip_box(img, box, &x0, &y0, &x1, &y1))
		return 0;
	/* about 64 x 64 samples: the mean of a face box does not need more */
	sx = (x1 - x0 + 63) / 64;
	sy = (y1 - y0 + 63) / 64;
	for (int y = y0; y < y1; y += sy)
		for (int x = x0; x < x1; x += sx, n++)
			sum += luma_at(img, x, y);
	return n ? (float)(sum / n) : 0;
}

float fw_quality_sharpness(const struct fw_image *img, const float box[4])
{
	enum { G = FW_QUALITY_GRID };
	float grid[G][G];
	int x0, y0, x1, y1, w, h;
	double sum = 0, sum2 = 0;
	int n = 0;

	if (!box || !clip_box(img, box, &x0, &y0, &x1, &y1))
		return 0;
	w = x1 - x0;
	h = y1 - y0;
	if (w < 4 || h < 4)
		return 0;
	/* area average of each cell (at least one pixel when the box is
	 * smaller than the grid) */
	for (int gy = 0; gy < G; gy++) {
		int ya = y0 + gy * h / G, yb = y0 + (gy + 1) * h / G;
		if (yb <= ya)
			yb = ya + 1;
		for (int gx = 0; gx < G; gx++) {
			int xa = x0 + gx * w / G, xb = x0 + (gx + 1) * w / G;
			float s = 0;
			if (xb <= xa)
				xb = xa + 1;
			for (int y = ya; y < yb; y++)
				for (int x = xa; x < xb; x++)
					s += luma_at(img, x, y);
			grid[gy][gx] = s / (float)((yb - ya) * (xb - xa));
		}
	}
	for (int y = 1; y < G - 1; y++)
		for (int x = 1; x < G - 1; x++, n++) {
			float l = grid[y - 1][x] + grid[y + 1][x] + grid[y][x - 1] + grid[y][x + 1] -
				  4 * grid[y][x];
			sum += l;
			sum2 += (double)l * l;
		}
	double mean = sum / n;
	return (float)(sum2 / n - mean * mean);
}

static float symmetry(float a)
{
	if (!(a > 0 && a < 1))
		return 0;
	return fminf(a, 1 - a) / fmaxf(a, 1 - a);
}

float fw_quality_frontal(const float pt[5][2])
{
	float ex = pt[1][0] - pt[0][0], ey = pt[1][1] - pt[0][1];
	float len2 = ex * ex + ey * ey;
	float mx = (pt[3][0] + pt[4][0]) / 2, my = (pt[3][1] + pt[4][1]) / 2;
	float a, dn, dm, p, pitch;

	if (!(len2 > 1e-6f))
		return 0;
	a = ((pt[2][0] - pt[0][0]) * ex + (pt[2][1] - pt[0][1]) * ey) / len2;
	/* signed distances from the eye line (cross product / |e|), the same
	 * sign for both when the nose is between the eyes and the mouth */
	dn = ((pt[2][0] - pt[0][0]) * ey - (pt[2][1] - pt[0][1]) * ex) / sqrtf(len2);
	dm = ((mx - pt[0][0]) * ey - (my - pt[0][1]) * ex) / sqrtf(len2);
	if (!(fabsf(dm) > 1e-3f))
		return 0;
	p = dn / dm;
	if (!(p > 0.1f && p < 1.0f))
		pitch = 0;
	else if (p < 0.3f)
		pitch = (p - 0.1f) / 0.2f;
	else if (p > 0.8f)
		pitch = (1.0f - p) / 0.2f;
	else
		pitch = 1;
	return symmetry(a) * pitch;
}

void fw_quality_measure(const struct fw_image *img, const float box[4], const float pt[5][2],
			struct fw_quality_view *v)
{
	v->face_px = box[2] - box[0];
	v->luma = fw_quality_luma(img, box);
	v->sharpness = fw_quality_sharpness(img, box);
	v->frontal = fw_quality_frontal(pt);
}

enum fw_quality_reason fw_quality_judge(const struct fw_quality_config *c, int n_faces,
					const struct fw_quality_view *v)
{
	if (n_faces <= 0)
		return FW_QUALITY_NO_FACE;
	if (n_faces > 1)
		return FW_QUALITY_SEVERAL_FACES;
	/* each test written so that NaN fails it */
	if (!(v->luma >= c->min_luma))
		return FW_QUALITY_TOO_DARK;
	if (!(v->luma <= c->max_luma))
		return FW_QUALITY_TOO_BRIGHT;
	if (!(v->face_px >= c->min_face_px))
		return FW_QUALITY_TOO_SMALL;
	if (!(v->sharpness >= c->min_sharpness))
		return FW_QUALITY_BLURRY;
	if (!(v->frontal >= c->min_frontal))
		return FW_QUALITY_NOT_FRONTAL;
	return FW_QUALITY_OK;
}

float fw_quality_similar(const float *emb, const float *taken, int n, int dim)
{
	float best = -1;

	for (int i = 0; i < n; i++) {
		const float *t = taken + (size_t)i * dim;
		float dot = 0;
		for (int k = 0; k < dim; k++)
			dot += emb[k] * t[k];
		if (dot > best)
			best = dot;
	}
	return best;
}

float fw_quality_template(float det_score, float face_px)
{
	float q = det_score * fminf(1.0f, face_px / (float)FW_EMBED_SIZE);
	return fminf(1.0f, fmaxf(0.0f, q));
}
