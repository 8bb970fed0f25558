/* int8 against float on the golden inputs: every float detection is found
 * with IoU >= 0.9, embeddings keep cosine >= 0.99, same/different decisions
 * hold; and every int8 ISA tier this CPU has gives byte-identical outputs to
 * the reference int8 kernels (same integer maths). */
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
#include "core/kernels/q8.h"
#include "core/model.h"
#include "testutil.h"

static const char *images[] = { "obama", "two_people", "obama_and_biden", "obama-480p",
				"kit_harington_john1" };
static const char *faces[] = { "obama", "obama2", "obama3", "biden", "biden_biden2",
			       "rose_leslie_img1" };
static const char *person[] = { "obama", "obama", "obama", "biden", "biden", "rose" };

static struct fw_model *load(const char *file, enum fw_precision prec,
			     const struct fw_q8_kernels *k)
{
	struct fw_model_options opt = { .tier = FW_KERNELS_FAST, .precision = prec, .q8_kernels = k };
	struct fw_model *m = NULL;

	assert_int_equal(fw_model_load(tu_models(file), &opt, &m), 0);
	if (prec == FW_PRECISION_INT8) {
		assert_int_equal(fw_model_precision(m), FW_PRECISION_INT8);
		assert_true(fw_model_int8_ops(m) > 0);
	}
	return m;
}

static size_t count(struct fw_shape s)
{
	return (size_t)s.n * s.h * s.w * s.c;
}

static int run_input(struct fw_model *m, const char *path)
{
	struct fw_shape s;
	float *x = fw_model_input(m, &s), *g = tu_read_f32(tu_shared(path), count(s));

	memcpy(x, g, count(s) * sizeof *x);
	free(g);
	return fw_model_run(m);
}

static int decode(const struct fw_anchor_config *cfg, struct fw_model *m, struct fw_detection *out)
{
	int n = fw_anchor_count(cfg);
	float *anchors = malloc(sizeof(float) * 2 * (size_t)n);
	void *scratch = malloc(fw_detector_decode_scratch(cfg));

	fw_anchor_generate(cfg, anchors);
	n = fw_detector_decode(cfg, anchors, fw_model_output(m, 0, NULL), fw_model_output(m, 1, NULL),
			       cfg->score_thresh, out, 32, scratch);
	free(anchors);
	free(scratch);
	return n;
}

static void check_detector(const char *file, const char *tag, const struct fw_anchor_config *cfg)
{
	struct fw_model *f = load(file, FW_PRECISION_FLOAT, NULL);
	struct fw_model *q = load(file, FW_PRECISION_INT8, NULL);

	print_message("%s: %d of its ops int8 (%s)\n", file, fw_model_int8_ops(q),
		      fw_model_kernels_name(q));
	for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
		struct fw_detection df[32], dq[32];
		char path[256];
		int nf, nq;

		snprintf(path, sizeof path, "models/golden/%s.%s.input.f32.bin", images[i], tag);
		assert_int_equal(run_input(f, path), 0);
		assert_int_equal(run_input(q, path), 0);
		nf = decode(cfg, f, df);
		nq = decode(cfg, q, dq);
		for (int a = 0; a < nf; a++) {
			float best = 0;
			for (int b = 0; b < nq; b++)
				best = fmaxf(best, fw_detection_iou(&df[a], &dq[b]));
			print_message("%s %s face %d (score %.3f): best int8 IoU %.3f (%d int8 detections)\n",
				      tag, images[i], a, df[a].score, best, nq);
			assert_true(best >= 0.9f);
		}
	}
	fw_model_free(f);
	fw_model_free(q);
}

static void test_blaze_short_int8(void **state)
{
	(void)state;
	check_detector("blazeface_short.fwm", "blaze_short", &fw_anchors_short);
}

static void test_blaze_full_int8(void **state)
{
	(void)state;
	check_detector("blazeface_full.fwm", "blaze_full", &fw_anchors_full);
}

static void test_mobilefacenet_int8(void **state)
{
	struct fw_model *f = load("mobilefacenet.fwm", FW_PRECISION_FLOAT, NULL);
	struct fw_model *q = load("mobilefacenet.fwm", FW_PRECISION_INT8, NULL);
	float ef[6][FW_EMBED_DIM], eq[6][FW_EMBED_DIM];

	(void)state;
	for (int i = 0; i < 6; i++) {
		char path[256];
		snprintf(path, sizeof path, "models/golden/%s.mfn.input.f32.bin", faces[i]);
		assert_int_equal(run_input(f, path), 0);
		assert_int_equal(run_input(q, path), 0);
		memcpy(ef[i], fw_model_output(f, 0, NULL), sizeof ef[i]);
		memcpy(eq[i], fw_model_output(q, 0, NULL), sizeof eq[i]);
		float c = fw_embedding_cosine(ef[i], eq[i], FW_EMBED_DIM);
		print_message("mobilefacenet %s: cosine int8 vs float %.5f\n", faces[i], c);
		assert_true(c >= 0.99f);
	}
	for (int i = 0; i < 6; i++)
		for (int j = i + 1; j < 6; j++) {
			int same = !strcmp(person[i], person[j]);
			float cf = fw_embedding_cosine(ef[i], ef[j], FW_EMBED_DIM);
			float cq = fw_embedding_cosine(eq[i], eq[j], FW_EMBED_DIM);
			assert_int_equal(cf >= FW_EMBED_SAME_THRESHOLD, same);
			assert_int_equal(cq >= FW_EMBED_SAME_THRESHOLD, same);
		}
	fw_model_free(f);
	fw_model_free(q);
}

/* Same integer maths on every ISA: outputs byte-identical to the reference
 * int8 kernels, for every model and every tier this CPU runs. */
static void test_isa_tiers_identical(void **state)
{
	static const struct {
		const char *file, *input;
	} cases[] = {
		{ "blazeface_short.fwm", "models/golden/obama-480p.blaze_short.input.f32.bin" },
		{ "blazeface_full.fwm", "models/golden/two_people.blaze_full.input.f32.bin" },
		{ "mobilefacenet.fwm", "models/golden/biden.mfn.input.f32.bin" },
		{ "onet.fwm", "models/golden/obama.onet.input.f32.bin" },
	};
	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct fw_model *ref = load(cases[c].file, FW_PRECISION_INT8, fw_q8_kernels_for(FW_ISA_REF));

		assert_int_equal(run_input(ref, cases[c].input), 0);
		for (int isa = FW_ISA_REF + 1; isa < FW_ISA_COUNT; isa++) {
			const struct fw_q8_kernels *k = fw_q8_kernels_for(isa);
			struct fw_model *m;

			if (!k)
				continue;
			m = load(cases[c].file, FW_PRECISION_INT8, k);
			assert_int_equal(run_input(m, cases[c].input), 0);
			for (int o = 0; o < fw_model_n_outputs(m); o++) {
				struct fw_shape s;
				const float *a = fw_model_output(ref, o, &s), *b = fw_model_output(m, o, NULL);
				print_message("%s output %d: %s vs ref %s\n", cases[c].file, o, k->name,
					      memcmp(a, b, count(s) * sizeof *a) ? "DIFFERENT" : "identical");
				assert_memory_equal(a, b, count(s) * sizeof *a);
			}
			fw_model_free(m);
		}
		fw_model_free(ref);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blaze_short_int8),
		cmocka_unit_test(test_blaze_full_int8),
		cmocka_unit_test(test_mobilefacenet_int8),
		cmocka_unit_test(test_isa_tiers_identical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
