/* The committed int8 calibration, judged without the int8 kernels: each
 * model runs in float and again with fake quantisation (weights rounded to
 * int8 per output channel, every calibrated tensor rounded to its u8 grid),
 * on the golden inputs. A user would notice a face lost or moved by the
 * detector, or a person recognised differently:
 *   - BlazeFace short and full: every float detection is found again with
 *     IoU >= 0.9;
 *   - MobileFaceNet: embedding cosine to float >= 0.99, and the same/different
 *     decision at 0.5 and at FW_EMBED_SAME_THRESHOLD unchanged for every pair;
 *   - O-Net: the 5 landmarks move by at most 2 % of the crop.
 * The worst values are printed, so a recalibration can be compared. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/detector.h"
#include "core/embedder.h"
#include "core/model.h"
#include "testutil.h"

#define MIN_IOU 0.9f
#define MIN_COSINE 0.99f
#define MAX_LANDMARK_MOVE 0.02f /* fraction of the O-Net crop */
#define MAX_DET 64

static const char *images[] = { "obama", "two_people", "obama_and_biden", "obama-480p",
				"kit_harington_john1" };
static const char *faces[] = { "obama", "obama2", "obama3", "biden", "biden_biden2",
			       "rose_leslie_img1" };
#define N_FACES (sizeof faces / sizeof faces[0])

static struct fw_model *load(const char *file, const char *name)
{
	struct fw_model_options opt = { .expect_name = name, .tier = FW_KERNELS_FAST };
	struct fw_model *m = NULL;

	if (fw_model_load(tu_models(file), &opt, &m))
		fail_msg("cannot load %s", tu_models(file));
	return m;
}

static size_t count(struct fw_shape s)
{
	return (size_t)s.n * s.h * s.w * s.c;
}

/* Fill the input from a golden file. */
static void fill_input(struct fw_model *m, const char *rel)
{
	struct fw_shape s;
	float *x = fw_model_input(m, &s), *g = tu_read_f32(tu_shared(rel), count(s));

	memcpy(x, g, count(s) * sizeof *x);
	free(g);
}

static int detect(struct fw_model *m, const struct fw_anchor_config *cfg, const float *anchors,
		  void *scratch, struct fw_detection *out)
{
	const float *reg = NULL, *logit = NULL;

	assert_int_equal(fw_model_run(m), 0);
	for (int i = 0; i < fw_model_n_outputs(m); i++) {
		struct fw_shape s;
		const float *y = fw_model_output(m, i, &s);
		if (s.c == 16)
			reg = y;
		else if (s.c == 1)
			logit = y;
	}
	assert_non_null(reg);
	assert_non_null(logit);
	return fw_detector_decode(cfg, anchors, reg, logit, cfg->score_thresh, out, MAX_DET, scratch);
}

static void check_detector(const char *file, const char *name, const char *infix,
			   const struct fw_anchor_config *cfg)
{
	struct fw_model *m = load(file, name);
	int n_anchors = fw_anchor_count(cfg), total = 0, bad = 0;
	float *anchors = malloc(sizeof(float) * 2 * (size_t)n_anchors), worst = 1;
	void *scratch = malloc(fw_detector_decode_scratch(cfg));
	char rel[256];

	assert_non_null(anchors);
	assert_non_null(scratch);
	fw_anchor_generate(cfg, anchors);
	for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
		struct fw_detection ref[MAX_DET], fq[MAX_DET];
		int n_ref, n_fq;

		snprintf(rel, sizeof rel, "models/golden/%s.%s.input.f32.bin", images[i], infix);
		fill_input(m, rel);
		n_ref = detect(m, cfg, anchors, scratch, ref);
		assert_int_equal(fw_model_set_fake_quant(m, 1), 0);
		n_fq = detect(m, cfg, anchors, scratch, fq);
		assert_int_equal(fw_model_set_fake_quant(m, 0), 0);
		for (int a = 0; a < n_ref; a++) {
			float best = 0, score = 0;
			for (int b = 0; b < n_fq; b++)
				if (fw_detection_iou(&ref[a], &fq[b]) > best) {
					best = fw_detection_iou(&ref[a], &fq[b]);
					score = fq[b].score;
				}
			printf("  %s %-20s det %d: score %.3f -> %.3f, IoU %.4f\n", name, images[i], a,
			       ref[a].score, score, best);
			if (best < worst)
				worst = best;
			if (!(best >= MIN_IOU)) {
				print_error("%s %s: detection %d (score %.3f) found with IoU %.3f < %.2f\n",
					    name, images[i], a, ref[a].score, best, MIN_IOU);
				bad++;
			}
			total++;
		}
		/* the weights were restored: float again, exactly */
		fill_input(m, rel);
		assert_int_equal(detect(m, cfg, anchors, scratch, fq), n_ref);
		for (int a = 0; a < n_ref; a++)
			assert_memory_equal(&fq[a], &ref[a], sizeof fq[a]);
	}
	printf("%s: %d detections, worst IoU fake-quant vs float %.4f\n", name, total, worst);
	assert_int_equal(bad, 0);
	assert_true(total >= 5);
	free(anchors);
	free(scratch);
	fw_model_free(m);
}

static void test_blazeface_short(void **state)
{
	(void)state;
	check_detector("blazeface_short.fwm", "blazeface_short", "blaze_short", &fw_anchors_short);
}

static void test_blazeface_full(void **state)
{
	(void)state;
	check_detector("blazeface_full.fwm", "blazeface_full", "blaze_full", &fw_anchors_full);
}

static void normalise(const float *in, float *out)
{
	double ss = 0;
	for (int i = 0; i < FW_EMBED_DIM; i++)
		ss += (double)in[i] * in[i];
	for (int i = 0; i < FW_EMBED_DIM; i++)
		out[i] = (float)(in[i] / sqrt(ss + 1e-10));
}

static void test_mobilefacenet(void **state)
{
	struct fw_model *m = load("mobilefacenet.fwm", "mobilefacenet");
	float ref[N_FACES][FW_EMBED_DIM], fq[N_FACES][FW_EMBED_DIM], worst = 1, worst_shift = 0;
	int bad = 0;
	char rel[256];

	(void)state;
	for (size_t i = 0; i < N_FACES; i++) {
		float cos;

		snprintf(rel, sizeof rel, "models/golden/%s.mfn.input.f32.bin", faces[i]);
		fill_input(m, rel);
		assert_int_equal(fw_model_run(m), 0);
		normalise(fw_model_output(m, 0, NULL), ref[i]);
		assert_int_equal(fw_model_set_fake_quant(m, 1), 0);
		assert_int_equal(fw_model_run(m), 0);
		normalise(fw_model_output(m, 0, NULL), fq[i]);
		assert_int_equal(fw_model_set_fake_quant(m, 0), 0);
		cos = fw_embedding_cosine(ref[i], fq[i], FW_EMBED_DIM);
		printf("  mobilefacenet %-16s cosine fake-quant vs float %.5f\n", faces[i], cos);
		if (cos < worst)
			worst = cos;
		if (!(cos >= MIN_COSINE)) {
			print_error("%s: embedding cosine %.4f < %.2f\n", faces[i], cos, MIN_COSINE);
			bad++;
		}
	}
	for (size_t a = 0; a < N_FACES; a++)
		for (size_t b = a + 1; b < N_FACES; b++) {
			float cr = fw_embedding_cosine(ref[a], ref[b], FW_EMBED_DIM);
			float cq = fw_embedding_cosine(fq[a], fq[b], FW_EMBED_DIM);
			if (fabsf(cq - cr) > worst_shift)
				worst_shift = fabsf(cq - cr);
			for (int t = 0; t < 2; t++) {
				float th = t ? FW_EMBED_SAME_THRESHOLD : 0.5f;
				if ((cr >= th) != (cq >= th)) {
					print_error("%s vs %s: similarity %.4f in float, %.4f fake-quant: the "
						    "decision at %.2f changes\n", faces[a], faces[b], cr, cq, th);
					bad++;
				}
			}
		}
	printf("mobilefacenet: worst cosine %.5f, largest pair-similarity shift %.4f, %zu pairs\n",
	       worst, worst_shift, N_FACES * (N_FACES - 1) / 2);
	assert_int_equal(bad, 0);
	fw_model_free(m);
}

static void test_onet(void **state)
{
	struct fw_model *m = load("onet.fwm", "onet");
	const float *lm;
	float ref[10], worst = 0;

	(void)state;
	fill_input(m, "models/golden/obama.onet.input.f32.bin");
	assert_int_equal(fw_model_run(m), 0);
	lm = fw_model_output_by_name(m, "onet/conv6-3/conv6-3", NULL);
	assert_non_null(lm);
	memcpy(ref, lm, sizeof ref);
	assert_int_equal(fw_model_set_fake_quant(m, 1), 0);
	assert_int_equal(fw_model_run(m), 0);
	for (int k = 0; k < 5; k++) {
		float d = hypotf(lm[k] - ref[k], lm[5 + k] - ref[5 + k]);
		if (d > worst)
			worst = d;
	}
	printf("onet: largest landmark move fake-quant vs float %.4f of the crop\n", worst);
	assert_true(worst <= MAX_LANDMARK_MOVE);
	fw_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blazeface_short),
		cmocka_unit_test(test_blazeface_full),
		cmocka_unit_test(test_mobilefacenet),
		cmocka_unit_test(test_onet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
