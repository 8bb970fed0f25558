/* core/gallery: the best identity by the maximum over its templates (the
 * sgemv path against a plain loop), the threshold, the negative-example
 * rule at its margin, the doctor's statistics against brute force, no
 * allocation per query, and every allocation failure while building or
 * running the doctor returning FW_ENOMEM without a leak. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "core/fw.h"
#include "core/gallery.h"
#include "testutil.h"

#include "alloc_count.h"

/* ---- helpers ---- */

static void unit(float *v, int n)
{
	double ss = 0;
	for (int i = 0; i < n; i++)
		ss += (double)v[i] * v[i];
	for (int i = 0; i < n; i++)
		v[i] = (float)(v[i] / sqrt(ss));
}

static void random_unit(float *v, int n)
{
	for (int i = 0; i < n; i++)
		v[i] = tu_randf(-1, 1);
	unit(v, n);
}

/* v = c + noise * random, normalised */
static void near(float *v, const float *c, int n, float noise)
{
	for (int i = 0; i < n; i++)
		v[i] = c[i] + noise * tu_randf(-1, 1);
	unit(v, n);
}

static float dot(const float *a, const float *b, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return (float)s;
}

static struct fw_gallery *make(int dim, float threshold)
{
	struct fw_gallery *g = NULL;
	assert_int_equal(fw_gallery_create(&g, dim, threshold), 0);
	return g;
}

static int add_id(struct fw_gallery *g, const char *name)
{
	int id = -1;
	assert_int_equal(fw_gallery_add_identity(g, name, &id), 0);
	return id;
}

/* ---- tests ---- */

static void test_empty_gallery_matches_nobody(void **state)
{
	struct fw_gallery *g = make(4, 0.5f);
	struct fw_gallery_match m;
	float q[4] = { 1, 0, 0, 0 };

	(void)state;
	assert_int_equal(fw_gallery_match(g, q, &m), 0);
	assert_int_equal(m.identity, -1);
	assert_false(m.accepted);
	/* an identity without templates (e.g. enrolled with another model) never matches */
	add_id(g, "stale");
	assert_int_equal(fw_gallery_match(g, q, &m), 0);
	assert_int_equal(m.identity, -1);
	assert_int_equal(fw_gallery_n_identities(g), 1);
	fw_gallery_free(g);
}

static void test_best_identity_by_max_over_templates(void **state)
{
	struct fw_gallery *g = make(3, 0.5f);
	struct fw_gallery_match m;
	/* alice: two templates; bob: one. The query is closest to alice's
	 * second template although alice's average is below bob's. */
	const float a1[3] = { 0, 0, 1 }, a2[3] = { 0.8f, 0.6f, 0 }, b1[3] = { 0.6f, 0.8f, 0 };
	const float q[3] = { 0.8f, 0.6f, 0 };
	int alice = add_id(g, "alice"), bob = add_id(g, "bob");

	(void)state;
	assert_int_equal(fw_gallery_add(g, alice, a1, FW_GALLERY_TEMPLATE, 11), 0);
	assert_int_equal(fw_gallery_add(g, alice, a2, FW_GALLERY_TEMPLATE, 12), 0);
	assert_int_equal(fw_gallery_add(g, bob, b1, FW_GALLERY_TEMPLATE, 21), 0);
	assert_int_equal(fw_gallery_identity_templates(g, alice), 2);
	assert_int_equal(fw_gallery_match(g, q, &m), 0);
	assert_int_equal(m.identity, alice);
	assert_true(fabsf(m.similarity - 1.0f) < 1e-6f);
	assert_true(m.accepted);
	assert_int_equal(fw_gallery_template_tag(g, m.template_index), 12);
	assert_int_equal(m.runner_up, bob);
	assert_true(fabsf(m.runner_up_similarity - 0.96f) < 1e-6f);
	assert_int_equal(m.vetoed, -1);
	assert_string_equal(fw_gallery_name(g, m.identity), "alice");
	assert_true(fabsf(fw_gallery_identity_similarity(g, q, bob) - 0.96f) < 1e-6f);

	/* the threshold decides acceptance, not the ranking */
	fw_gallery_set_threshold(g, 1.01f);
	assert_int_equal(fw_gallery_match(g, q, &m), 0);
	assert_int_equal(m.identity, alice);
	assert_false(m.accepted);
	fw_gallery_free(g);
}

static void test_templates_are_normalised_and_checked(void **state)
{
	struct fw_gallery *g = make(4, 0.5f);
	struct fw_gallery_match m;
	const float big[4] = { 3, 4, 0, 0 }, zero[4] = { 0 }, q[4] = { 0.6f, 0.8f, 0, 0 };
	float bad[4] = { 1, 0, 0, 0 };
	int id = add_id(g, "x");

	(void)state;
	assert_int_equal(fw_gallery_add(g, id, big, FW_GALLERY_TEMPLATE, 1), 0);
	assert_int_equal(fw_gallery_match(g, q, &m), 0);
	assert_true(fabsf(m.similarity - 1.0f) < 1e-6f);
	assert_int_equal(fw_gallery_add(g, id, zero, FW_GALLERY_TEMPLATE, 2), FW_EINVAL);
	bad[1] = NAN;
	assert_int_equal(fw_gallery_add(g, id, bad, FW_GALLERY_TEMPLATE, 3), FW_EINVAL);
	bad[1] = INFINITY;
	assert_int_equal(fw_gallery_add(g, id, bad, FW_GALLERY_TEMPLATE, 3), FW_EINVAL);
	assert_int_equal(fw_gallery_match(g, bad, &m), FW_EINVAL); /* bad[1] is inf */
	assert_int_equal(m.identity, -1);
	assert_int_equal(fw_gallery_add(g, 7, big, FW_GALLERY_TEMPLATE, 4), FW_EINVAL);
	assert_int_equal(fw_gallery_add(g, -1, big, FW_GALLERY_NEGATIVE, 4), FW_EINVAL);
	assert_int_equal(fw_gallery_n_templates(g), 1);
	fw_gallery_free(g);
	assert_int_equal(fw_gallery_create(&g, 0, 0.5f), FW_EINVAL);
	assert_null(g);
}

/* The sgemv path agrees with a plain double loop on a random gallery. */
static void test_matches_plain_loop(void **state)
{
	enum { DIM = 192, IDS = 100, PER = 20, QUERIES = 60 };
	struct fw_gallery *g = make(DIM, 0.55f);
	static float c[IDS][DIM], t[IDS * PER][DIM];
	int tid[IDS * PER];

	(void)state;
	tu_srand(7);
	for (int i = 0; i < IDS; i++) {
		char name[16];
		snprintf(name, sizeof name, "id%d", i);
		add_id(g, name);
		random_unit(c[i], DIM);
	}
	/* templates interleaved across identities, as a store may return them */
	for (int k = 0; k < IDS * PER; k++) {
		tid[k] = (k * 37) % IDS;
		near(t[k], c[tid[k]], DIM, 0.08f);
		assert_int_equal(fw_gallery_add(g, tid[k], t[k], FW_GALLERY_TEMPLATE, k), 0);
	}
	for (int q = 0; q < QUERIES; q++) {
		float query[DIM], best[IDS];
		struct fw_gallery_match m;
		int want = -1;

		if (q % 3)
			near(query, c[q % IDS], DIM, 0.1f);
		else
			random_unit(query, DIM); /* a stranger */
		for (int i = 0; i < IDS; i++)
			best[i] = -INFINITY;
		for (int k = 0; k < IDS * PER; k++)
			best[tid[k]] = fmaxf(best[tid[k]], dot(query, t[k], DIM));
		for (int i = 0; i < IDS; i++)
			if (want < 0 || best[i] > best[want])
				want = i;
		assert_int_equal(fw_gallery_match(g, query, &m), 0);
		assert_int_equal(m.identity, want);
		assert_true(fabsf(m.similarity - best[want]) < 1e-5f);
		assert_int_equal(m.accepted, best[want] >= 0.55f);
		assert_int_equal(fw_gallery_template_identity(g, m.template_index), want);
		assert_true(fabsf(dot(query, t[fw_gallery_template_tag(g, m.template_index)], DIM) -
				  m.similarity) < 1e-5f);
		if (q % 3)
			assert_true(m.accepted);
		else
			assert_false(m.accepted);
	}
	fw_gallery_free(g);
}

/* q = e1; a vector with cosine `cs` to q in the plane of axis `axis` */
static void at_cos(float *v, float cs, int axis)
{
	memset(v, 0, sizeof(float) * 4);
	v[0] = cs;
	v[axis] = sqrtf(1 - cs * cs);
}

/* The rule: N is vetoed when neg(N) >= pos(N) + FW_GALLERY_NEG_MARGIN. */
static void test_negative_rule_at_its_margin(void **state)
{
	const float q[4] = { 1, 0, 0, 0 };
	float t[4], n[4], o[4];

	(void)state;
	for (int k = 0; k < 4; k++) {
		/* pos 0.60; negatives just below, at and above the margin; a
		 * second identity at 0.58 takes over when the first is vetoed */
		const float delta[4] = { 0.0f, FW_GALLERY_NEG_MARGIN - 0.005f,
					 FW_GALLERY_NEG_MARGIN + 0.005f, 0.35f };
		const int vetoed[4] = { 0, 0, 1, 1 };
		struct fw_gallery *g = make(4, 0.55f);
		struct fw_gallery_match m;
		int name = add_id(g, "name"), other = add_id(g, "other");

		at_cos(t, 0.60f, 1);
		at_cos(n, 0.60f + delta[k], 2);
		at_cos(o, 0.58f, 3);
		assert_int_equal(fw_gallery_add(g, name, t, FW_GALLERY_TEMPLATE, 1), 0);
		assert_int_equal(fw_gallery_add(g, other, o, FW_GALLERY_TEMPLATE, 2), 0);
		assert_int_equal(fw_gallery_add(g, name, n, FW_GALLERY_NEGATIVE, 3), 0);
		assert_int_equal(fw_gallery_n_negatives(g), 1);
		assert_int_equal(fw_gallery_match(g, q, &m), 0);
		if (vetoed[k]) {
			assert_int_equal(m.vetoed, name);
			assert_true(fabsf(m.vetoed_similarity - 0.60f) < 1e-5f);
			assert_true(fabsf(m.vetoed_negative - (0.60f + delta[k])) < 1e-5f);
			assert_int_equal(m.identity, other);
			assert_true(m.accepted);
			assert_int_equal(m.runner_up, -1);
		} else {
			assert_int_equal(m.vetoed, -1);
			assert_int_equal(m.identity, name);
			assert_int_equal(m.runner_up, other);
		}
		fw_gallery_free(g);
	}
}

/* The story of `facectl not`: X is taken for NAME; X's face stored as a
 * negative of NAME; X's next photo is not NAME, NAME's own photos still are. */
static void test_negative_changes_the_decision(void **state)
{
	enum { DIM = 192 };
	struct fw_gallery *g = make(DIM, 0.55f);
	struct fw_gallery_match m;
	float name_c[DIM], x_c[DIM], v[DIM], x1[DIM], x2[DIM], own[DIM];
	int name;

	(void)state;
	tu_srand(11);
	random_unit(name_c, DIM);
	random_unit(v, DIM);
	/* X's face: cosine ~0.6 with NAME's (a look-alike) */
	for (int i = 0; i < DIM; i++)
		x_c[i] = 0.6f * name_c[i] + 0.8f * (v[i] - dot(v, name_c, DIM) * name_c[i]);
	unit(x_c, DIM);
	name = add_id(g, "name");
	for (int k = 0; k < 3; k++) {
		near(v, name_c, DIM, 0.02f);
		assert_int_equal(fw_gallery_add(g, name, v, FW_GALLERY_TEMPLATE, k), 0);
	}
	near(x1, x_c, DIM, 0.02f);
	near(x2, x_c, DIM, 0.02f);
	near(own, name_c, DIM, 0.03f);
	assert_int_equal(fw_gallery_match(g, x2, &m), 0);
	assert_int_equal(m.identity, name);
	assert_true(m.accepted); /* the false accept */

	assert_int_equal(fw_gallery_add(g, name, x1, FW_GALLERY_NEGATIVE, 100), 0);
	assert_int_equal(fw_gallery_match(g, x2, &m), 0);
	assert_false(m.accepted);
	assert_int_equal(m.identity, -1);
	assert_int_equal(m.vetoed, name);
	assert_int_equal(fw_gallery_match(g, own, &m), 0);
	assert_int_equal(m.identity, name);
	assert_true(m.accepted);
	assert_int_equal(m.vetoed, -1);
	fw_gallery_free(g);
}

/* brute-force statistics of a gallery built from t[] with identities id[] */
struct brute {
	size_t ng, ni;
	double gm, im, gsd, isd;
	float gmin, imax;
};

static void brute_stats(float (*t)[16], const int *id, int n, struct brute *b)
{
	double gs = 0, gs2 = 0, is = 0, is2 = 0;

	memset(b, 0, sizeof *b);
	b->gmin = INFINITY;
	b->imax = -INFINITY;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			float s = dot(t[i], t[j], 16);
			if (id[i] == id[j]) {
				b->ng++, gs += s, gs2 += (double)s * s;
				b->gmin = fminf(b->gmin, s);
			} else {
				b->ni++, is += s, is2 += (double)s * s;
				b->imax = fmaxf(b->imax, s);
			}
		}
	b->gm = gs / (double)b->ng;
	b->im = is / (double)b->ni;
	b->gsd = sqrt((gs2 - (double)b->ng * b->gm * b->gm) / (double)(b->ng - 1));
	b->isd = sqrt((is2 - (double)b->ni * b->im * b->im) / (double)(b->ni - 1));
}

static void test_doctor_statistics(void **state)
{
	enum { IDS = 12, PER = 5, N = IDS * PER, DIM = 16 };
	static float t[N][DIM], c[IDS][DIM];
	int id[N];
	struct fw_gallery *g = make(DIM, 0.55f);
	struct fw_gallery_doctor d;
	struct brute b;
	size_t above = 0, above_lower = 0;

	(void)state;
	tu_srand(3);
	for (int i = 0; i < IDS; i++) {
		char name[8];
		snprintf(name, sizeof name, "p%d", i);
		add_id(g, name);
		random_unit(c[i], DIM);
	}
	/* p1 is a look-alike of p0 */
	near(c[1], c[0], DIM, 0.15f);
	for (int k = 0; k < N; k++) {
		id[k] = k / PER;
		near(t[k], c[id[k]], DIM, 0.12f);
	}
	/* p5's third photo is of someone else */
	random_unit(t[5 * PER + 2], DIM);
	for (int k = 0; k < N; k++)
		assert_int_equal(fw_gallery_add(g, id[k], t[k], FW_GALLERY_TEMPLATE, 1000 + k), 0);
	brute_stats(t, id, N, &b);

	assert_int_equal(fw_gallery_doctor(g, 1e-2, &d), 0);
	assert_int_equal(d.templates_used, N);
	assert_int_equal(d.genuine.n, b.ng);
	assert_int_equal(d.impostor.n, b.ni);
	assert_int_equal(b.ng, IDS * PER * (PER - 1) / 2);
	assert_true(fabs(d.genuine.mean - b.gm) < 1e-5 && fabs(d.impostor.mean - b.im) < 1e-5);
	assert_true(fabs(d.genuine.sd - b.gsd) < 1e-4 && fabs(d.impostor.sd - b.isd) < 1e-4);
	assert_true(fabsf(d.genuine.min - b.gmin) < 1e-5f && fabsf(d.impostor.max - b.imax) < 1e-5f);

	/* empirical threshold: at most far of the impostor pairs at or above
	 * it, and more than far just one histogram bin lower */
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (id[i] != id[j]) {
				float s = dot(t[i], t[j], DIM);
				above += s >= d.threshold_empirical + 1e-6f;
				above_lower += s >= d.threshold_empirical - 0.0005f - 1e-6f;
			}
	assert_true((double)above <= 1e-2 * (double)b.ni);
	assert_true((double)above_lower > 1e-2 * (double)b.ni);
	/* Gaussian: mean + 2.3263 sd for 1 % */
	assert_true(fabs(d.threshold_gaussian - (b.im + 2.3263 * b.isd)) < 1e-3);
	assert_true(d.impostor.n >= FW_GALLERY_DOCTOR_MIN_PAIRS);
	assert_true(d.threshold_suggested == fmaxf(d.threshold_empirical, d.threshold_gaussian));

	/* the look-alikes come first; the list is sorted and each pair once */
	assert_true(d.n_close == FW_GALLERY_DOCTOR_PAIRS);
	assert_int_equal(d.close[0].a, 0);
	assert_int_equal(d.close[0].b, 1);
	assert_true(fabsf(d.close[0].similarity - b.imax) < 1e-5f);
	for (int i = 1; i < d.n_close; i++) {
		assert_true(d.close[i].similarity <= d.close[i - 1].similarity);
		for (int k = 0; k < i; k++)
			assert_false(d.close[i].a == d.close[k].a && d.close[i].b == d.close[k].b);
	}
	/* the wrong photo is the outlier */
	assert_int_equal(d.n_outliers, 1);
	assert_int_equal(d.outliers[0].identity, 5);
	assert_int_equal(fw_gallery_template_tag(g, d.outliers[0].template_index), 1000 + 5 * PER + 2);
	fw_gallery_doctor_free(&d);

	/* too few impostor pairs: no suggestion */
	{
		struct fw_gallery *small = make(DIM, 0.55f);
		int a = add_id(small, "a"), bb = add_id(small, "b");
		assert_int_equal(fw_gallery_add(small, a, t[0], FW_GALLERY_TEMPLATE, 0), 0);
		assert_int_equal(fw_gallery_add(small, bb, t[PER * 3], FW_GALLERY_TEMPLATE, 1), 0);
		assert_int_equal(fw_gallery_doctor(small, 1e-3, &d), 0);
		assert_int_equal(d.impostor.n, 1);
		assert_true(isnan(d.threshold_suggested));
		assert_int_equal(d.genuine.n, 0);
		fw_gallery_doctor_free(&d);
		assert_int_equal(fw_gallery_doctor(small, 0, &d), FW_EINVAL);
		assert_null(d.close);
		fw_gallery_free(small);
	}
	fw_gallery_free(g);
}

static void test_doctor_samples_big_galleries(void **state)
{
	enum { DIM = 8, N = FW_GALLERY_DOCTOR_MAX + 500 };
	struct fw_gallery *g = make(DIM, 0.55f);
	struct fw_gallery_doctor d;
	float v[DIM];

	(void)state;
	for (int i = 0; i < 100; i++)
		add_id(g, "x");
	for (int k = 0; k < N; k++) {
		random_unit(v, DIM);
		assert_int_equal(fw_gallery_add(g, k % 100, v, FW_GALLERY_TEMPLATE, k), 0);
	}
	assert_int_equal(fw_gallery_doctor(g, 1e-3, &d), 0);
	assert_int_equal(d.templates_used, FW_GALLERY_DOCTOR_MAX);
	assert_int_equal(d.genuine.n + d.impostor.n,
			 (size_t)FW_GALLERY_DOCTOR_MAX * (FW_GALLERY_DOCTOR_MAX - 1) / 2);
	fw_gallery_doctor_free(&d);
	fw_gallery_free(g);
}

/* a gallery of 1000 templates; returns it or NULL with the error */
static struct fw_gallery *build(int *err)
{
	enum { DIM = 64 };
	struct fw_gallery *g = NULL;
	float v[DIM];

	tu_srand(5);
	if ((*err = fw_gallery_create(&g, DIM, 0.55f)))
		return NULL;
	for (int i = 0; i < 40; i++) {
		int id;
		if ((*err = fw_gallery_add_identity(g, "someone", &id)))
			goto fail;
	}
	for (int k = 0; k < 1000; k++) {
		random_unit(v, DIM);
		if ((*err = fw_gallery_add(g, k % 40, v, k % 10 ? FW_GALLERY_TEMPLATE : FW_GALLERY_NEGATIVE, k)))
			goto fail;
	}
	return g;
fail:
	fw_gallery_free(g);
	return NULL;
}

static void test_match_does_not_allocate(void **state)
{
	struct fw_gallery *g;
	struct fw_gallery_match m;
	float q[64];
	int err;

	(void)state;
#ifdef FW_NO_INTERPOSE
	skip();
#endif
	g = build(&err);
	assert_non_null(g);
	random_unit(q, 64);
	fw_gallery_match(g, q, &m); /* OpenBLAS may set itself up once */
	tu_allocations = 0;
	tu_counting = 1;
	for (int r = 0; r < 100; r++)
		fw_gallery_match(g, q, &m);
	tu_counting = 0;
	assert_int_equal(tu_allocations, 0);
	fw_gallery_free(g);
}

/* Fail the 1st, 2nd, ... allocation of building and of the doctor: each
 * returns FW_ENOMEM and leaves nothing allocated, until one succeeds. */
static void test_allocation_failures(void **state)
{
	struct fw_gallery_doctor d;
	struct fw_gallery *g;
	int err, n;

	(void)state;
#ifdef FW_NO_INTERPOSE
	skip();
#endif
	g = build(&err); /* warm up: OpenBLAS's own one-time buffers */
	assert_int_equal(fw_gallery_doctor(g, 1e-3, &d), 0);
	fw_gallery_doctor_free(&d);
	fw_gallery_free(g);
	for (n = 0;; n++) {
		tu_live = 0;
		tu_fail_at = n;
		tu_counting = 1;
		g = build(&err);
		tu_counting = 0;
		tu_fail_at = -1;
		if (g) {
			fw_gallery_free(g);
			break;
		}
		assert_int_equal(err, FW_ENOMEM);
		assert_int_equal(tu_live, 0);
	}
	print_message("build: %d allocation points\n", n);
	assert_true(n > 5);
	g = build(&err);
	for (n = 0;; n++) {
		tu_live = 0;
		tu_fail_at = n;
		tu_counting = 1;
		err = fw_gallery_doctor(g, 1e-3, &d);
		if (!err)
			fw_gallery_doctor_free(&d);
		tu_counting = 0;
		tu_fail_at = -1;
		assert_int_equal(tu_live, 0);
		if (!err)
			break;
		assert_int_equal(err, FW_ENOMEM);
		assert_null(d.close);
		assert_null(d.outliers);
	}
	print_message("doctor: %d allocation points\n", n);
	fw_gallery_free(g);
}

int main(void)
{
	/* one OpenBLAS thread, as the daemon runs: the threaded drivers
	 * allocate per call, which the allocation tests would count (CTest
	 * sets OPENBLAS_NUM_THREADS=1; this holds when run by hand too) */
	openblas_set_num_threads(1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_gallery_matches_nobody),
		cmocka_unit_test(test_best_identity_by_max_over_templates),
		cmocka_unit_test(test_templates_are_normalised_and_checked),
		cmocka_unit_test(test_matches_plain_loop),
		cmocka_unit_test(test_negative_rule_at_its_margin),
		cmocka_unit_test(test_negative_changes_the_decision),
		cmocka_unit_test(test_doctor_statistics),
		cmocka_unit_test(test_doctor_samples_big_galleries),
		cmocka_unit_test(test_match_does_not_allocate),
		cmocka_unit_test(test_allocation_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
