/* Camera checks for `facectl doctor`; see daemon/camcheck.h. */
#include "daemon/camcheck.h"

#include "core/quality.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fw_camcheck_init(struct fw_camcheck *c)
{
	memset(c, 0, sizeof *c);
}

void fw_camcheck_add(struct fw_camcheck *c, const struct fw_camcheck_sample *s)
{
	c->s[c->next] = *s;
	c->next = (c->next + 1) % FW_CAMCHECK_WINDOW;
	if (c->n < FW_CAMCHECK_WINDOW)
		c->n++;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* The k-th newest sample (0: the newest). */
static const struct fw_camcheck_sample *newest(const struct fw_camcheck *c, int k)
{
	return &c->s[(c->next - 1 - k + 2 * FW_CAMCHECK_WINDOW) % FW_CAMCHECK_WINDOW];
}

void fw_camcheck_summarise(const struct fw_camcheck *c, struct fw_camcheck_summary *out)
{
	float widths[FW_CAMCHECK_WINDOW];
	const struct fw_camcheck_sample *first, *last;
	double luma = 0, face_luma = 0, total = 0, with_face = 0;
	int n = 0, with = 0, timed;

	memset(out, 0, sizeof *out);
	if (!c->n)
		return;
	/* the samples of the last FW_CAMCHECK_SECONDS, newest back; a clock
	 * that went backwards ends the run */
	last = newest(c, 0);
	while (n < c->n) {
		const struct fw_camcheck_sample *s = newest(c, n);
		if (last->t_ns - s->t_ns >= FW_CAMCHECK_SECONDS * 1000000000LL ||
		    (n > 0 && s->t_ns > newest(c, n - 1)->t_ns))
			break;
		n++;
	}
	first = newest(c, n - 1);
	out->samples = n;
	/* with one sample, or all at one time, every sample counts once */
	timed = last->t_ns > first->t_ns;
	for (int k = n - 1; k >= 0; k--) {
		const struct fw_camcheck_sample *s = newest(c, k);
		/* the time until the next sample; the newest: since the one before */
		int64_t gap = k > 0 ? newest(c, k - 1)->t_ns - s->t_ns
				    : n > 1 ? s->t_ns - newest(c, 1)->t_ns : 0;
		double w = !timed ? 1.0 : (double)(gap < FW_CAMCHECK_GAP_MAX_NS ? gap : FW_CAMCHECK_GAP_MAX_NS);

		total += w;
		luma += w * s->luma;
		if (s->faces > out->faces_max)
			out->faces_max = s->faces;
		if (s->faces > 0) {
			if (!with || s->face_min < out->face_min)
				out->face_min = s->face_min;
			if (s->face_max > out->face_max)
				out->face_max = s->face_max;
			widths[with++] = s->face_max;
			with_face += w;
			face_luma += w * s->face_luma;
		}
	}
	if (!(total > 0)) /* two samples at one time and the rest before */
		total = 1;
	out->luma = (float)(luma / total);
	out->face_share = (float)(with_face / total);
	out->seconds = (last->t_ns - first->t_ns) / 1e9;
	/* the source's own counter: frames the camera made, analysed or not */
	if (last->session == first->session && last->t_ns > first->t_ns &&
	    last->sequence > first->sequence)
		out->fps = (last->sequence - first->sequence) / out->seconds;
	if (with) {
		qsort(widths, (size_t)with, sizeof widths[0], cmp_float);
		out->face_median = widths[with / 2];
		out->face_luma = with_face > 0 ? (float)(face_luma / with_face) : 0;
	}
}

static json_t *num(double v, double unit)
{
	return isfinite(v) ? json_real(round(v / unit) * unit) : json_null();
}

json_t *fw_camcheck_json(const struct fw_camcheck_setup *setup,
			 const struct fw_camcheck_summary *sum)
{
	json_t *j = json_object(), *advice = json_array(), *faces;
	struct fw_quality_config qc;
	/* the faces' light when there are faces: that is what recognition sees */
	float light = sum->face_share > 0 ? sum->face_luma : sum->luma;

	if (!j || !advice) {
		json_decref(j);
		json_decref(advice);
		return NULL;
	}
	json_object_set_new(j, "device", json_string(setup->device ? setup->device : ""));
	if (setup->state)
		json_object_set_new(j, "state", json_string(setup->state));
	json_object_set_new(j, "format", setup->format ? json_string(setup->format) : json_null());
	json_object_set_new(j, "width", json_integer(setup->width));
	json_object_set_new(j, "height", json_integer(setup->height));
	json_object_set_new(j, "fps_asked", json_integer(setup->fps_asked));
	json_object_set_new(j, "fps_negotiated", num(setup->fps_negotiated, 0.01));
	json_object_set_new(j, "fps", sum->fps > 0 ? num(sum->fps, 0.1) : json_null());
	json_object_set_new(j, "samples", json_integer(sum->samples));
	json_object_set_new(j, "seconds", num(sum->seconds, 0.1));
	fw_quality_config_default(&qc);
	json_object_set_new(j, "brightness", sum->samples ? num(sum->luma, 0.1) : json_null());
	json_object_set_new(j, "face_brightness", sum->face_share > 0 ? num(sum->face_luma, 0.1)
								      : json_null());
	faces = json_object();
	json_object_set_new(faces, "share_of_frames", num(sum->face_share, 0.01));
	json_object_set_new(faces, "most_at_once", json_integer(sum->faces_max));
	if (sum->face_share > 0) {
		json_object_set_new(faces, "min_px", num(sum->face_min, 1));
		json_object_set_new(faces, "median_px", num(sum->face_median, 1));
		json_object_set_new(faces, "max_px", num(sum->face_max, 1));
	}
	json_object_set_new(j, "faces", faces);

	if (!sum->samples) {
		json_array_append_new(advice, json_string(
			"no frames analysed yet: is the camera connected and streaming? "
			"(facectl cameras lists them)"));
	} else {
		const char *what = sum->face_share > 0 ? "of the faces" : "of the picture";
		if (light < qc.min_luma)
			json_array_append_new(advice, json_sprintf(
				"too dark (brightness %s %.0f of 255, want at least %.0f): light the "
				"faces from the front; a lamp behind the camera helps most",
				what, light, qc.min_luma));
		else if (light > qc.max_luma)
			json_array_append_new(advice, json_sprintf(
				"too bright (brightness %s %.0f of 255, at most %.0f): the picture "
				"is washed out; less direct light, a window behind the camera, not "
				"behind you", what, light, qc.max_luma));
		if (setup->fps_asked > 0 && sum->fps > 0 &&
		    sum->fps < FW_CAMCHECK_SLOW * setup->fps_asked)
			json_array_append_new(advice, json_sprintf(
				"the camera gives %.1f frames a second, not the %d asked: usually "
				"too little light (the camera lengthens its exposures), else USB "
				"bandwidth; add light, or ask for a smaller size",
				sum->fps, setup->fps_asked));
		if (setup->width > 0 && setup->width < 640)
			json_array_append_new(advice, json_sprintf(
				"a low resolution (%dx%d): faces further than a metre or so will "
				"be too small; width = 640 or more", setup->width, setup->height));
		if (sum->face_share == 0)
			json_array_append_new(advice, json_sprintf(
				"no face seen in the last %.0f s: sit in front of the camera while "
				"doctor runs to check the face sizes", sum->seconds));
		else if (sum->face_max < qc.min_face_px)
			json_array_append_new(advice, json_sprintf(
				"faces too small: at most %.0f pixels wide, enrolment and "
				"recognition want %.0f or more (the detector loses them near %.0f); "
				"sit closer or use a higher resolution", sum->face_max,
				qc.min_face_px, FW_CAMCHECK_FACE_TINY));
		else if (sum->face_min < FW_CAMCHECK_FACE_TINY)
			json_array_append_new(advice, json_sprintf(
				"some faces were only %.0f pixels wide, at the detector's limit: "
				"people further away are found late or not at all", sum->face_min));
	}
	json_object_set_new(j, "advice", advice);
	return j;
}
