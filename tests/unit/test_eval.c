/* The accuracy metrics on small fixed inputs whose results were worked out
 * by hand (in the comments, not by the code under test): WIDER-style AP with
 * ignored boxes, duplicates and tied scores; verification accuracy, AUC, d'
 * and TAR@FAR; identification precision@1 and MAP@R with photo groups and
 * failures; and file:line errors for malformed annotation lines. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/eval.h"
#include "core/fw.h"

#define TOL 1e-9

/* ---- log capture, for the error messages ---- */

static char last_log[512];

static void capture(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	snprintf(last_log, sizeof last_log, "%s", msg);
}

static int parse(const char *text, int cols, struct fw_eval_list *l)
{
	last_log[0] = 0;
	return fw_eval_list_parse(text, strlen(text), "gt.txt", cols, l);
}

static void expect_error(const char *text, int cols, const char *want)
{
	struct fw_eval_list l;

	assert_int_equal(parse(text, cols, &l), FW_EFORMAT);
	if (!strstr(last_log, want))
		fail_msg("message '%s' does not contain '%s'", last_log, want);
	assert_int_equal(l.n_images, 0);
	assert_null(l.img);
}

/* ---- annotation lists ---- */

static void test_list_parse(void **state)
{
	struct fw_eval_list l;

	(void)state;
	assert_int_equal(parse("x/a.jpg 2\n1 2 3 4\n5 6.5 7 8\nx/b.jpg 0\n\n", 4, &l), 0);
	assert_int_equal(l.n_images, 2);
	assert_string_equal(l.img[0].path, "x/a.jpg");
	assert_int_equal(l.img[0].n, 2);
	assert_int_equal(l.img[0].line, 1);
	assert_true(l.img[0].v[5] == 6.5f && l.img[0].v[7] == 8.0f);
	assert_string_equal(l.img[1].path, "x/b.jpg");
	assert_int_equal(l.img[1].n, 0);
	assert_int_equal(l.img[1].line, 4);
	fw_eval_list_free(&l);

	/* CRLF line ends, no final newline, detections with a score column */
	assert_int_equal(parse("a.jpg 1\r\n10 20 30 40 0.75", 5, &l), 0);
	assert_int_equal(l.n_images, 1);
	assert_true(l.img[0].v[4] == 0.75f);
	fw_eval_list_free(&l);
}

static void test_list_errors(void **state)
{
	(void)state;
	expect_error("a.jpg 2\n1 2 3 4\n1 2 3\n", 4, "gt.txt:3: expected 4 numbers (x y w h)");
	expect_error("a.jpg 1\n1 2 3 4 5\n", 4, "gt.txt:2: expected 4 numbers");
	expect_error("a.jpg 1\n1 2 3 4\nb.jpg x\n", 4, "gt.txt:3: 'x' is not a box count");
	expect_error("a.jpg -1\n", 4, "gt.txt:1: '-1' is not a box count");
	/* a count one too small: the extra box line is read as an image line */
	expect_error("a.jpg 1\n1 2 3 4\n5 6 7 8\n", 4, "gt.txt:3: expected an image line 'path N'");
	expect_error("a.jpg 3\n1 2 3 4\n", 4, "gt.txt:2: the file ends, but a.jpg (line 1) announces 3 boxes and only 1 follow");
	expect_error("a.jpg 1\n1 2 -3 4\n", 4, "gt.txt:2: box width and height must not be negative");
	expect_error("a.jpg 1\n1 2 3 abc\n", 4, "gt.txt:2: field 4 ('abc') is not a number");
	expect_error("a.jpg 1\n1 2 3 nan\n", 4, "gt.txt:2: field 4 ('nan') is not a number");
	expect_error("a.jpg 1\n1 2 3 4 0 0 0 0 0 0 1 1\n", FW_EVAL_ATTR_COLS,
		     "gt.txt:2: expected 13 numbers (x y w h blur");
}

static void test_csv(void **state)
{
	struct fw_eval_csv c;
	const char *ok = "path_a,path_b,same\r\na.jpg, b.jpg ,1\n\nc.jpg,d.jpg,0\n";
	const char *bad_header = "a,b,same\nx,y,1\n";
	const char *bad_count = "path_a,path_b,same\nx,y,1\nx,y\n";
	const char *empty_field = "path_a,path_b,same\nx,,1\n";

	(void)state;
	assert_int_equal(fw_eval_csv_parse(ok, strlen(ok), "pairs.csv", "path_a,path_b,same", &c), 0);
	assert_int_equal(c.n_rows, 2);
	assert_string_equal(c.field[1], "b.jpg"); /* blanks trimmed */
	assert_string_equal(c.field[3], "c.jpg");
	assert_int_equal(c.line[1], 4);
	fw_eval_csv_free(&c);

	assert_int_equal(fw_eval_csv_parse(bad_header, strlen(bad_header), "pairs.csv", "path_a,path_b,same", &c),
			 FW_EFORMAT);
	assert_non_null(strstr(last_log, "pairs.csv:1: expected the header 'path_a,path_b,same'"));
	assert_int_equal(fw_eval_csv_parse(bad_count, strlen(bad_count), "pairs.csv", "path_a,path_b,same", &c),
			 FW_EFORMAT);
	assert_non_null(strstr(last_log, "pairs.csv:3: expected 3 comma-separated fields"));
	assert_int_equal(fw_eval_csv_parse(empty_field, strlen(empty_field), "pairs.csv", "path_a,path_b,same",
					   &c), FW_EFORMAT);
	assert_non_null(strstr(last_log, "pairs.csv:2: field 2"));
}

/* ---- detection AP ---- */

#define BOX(x, y, s) { (float)(x), (float)(y), 9, 9, (float)(s) } /* 10 x 10 pixels inclusive */

static void test_iou(void **state)
{
	struct fw_eval_box a = BOX(0, 0, 0), b = BOX(5, 0, 0), c = BOX(10, 0, 0), d = BOX(20, 0, 0);

	(void)state;
	/* inclusive pixels: a spans x 0..9, b 5..14: 5 x 10 = 50 shared of
	 * 100 + 100 - 50 = 150 */
	assert_float_equal(fw_det_eval_iou(&a, &b), 50.0 / 150.0, TOL);
	/* a 0..9, c 10..19: touching, no shared pixel */
	assert_float_equal(fw_det_eval_iou(&a, &c), 0.0, TOL);
	assert_float_equal(fw_det_eval_iou(&a, &d), 0.0, TOL);
	assert_float_equal(fw_det_eval_iou(&a, &a), 1.0, TOL);
}

/* Four images, worked by hand:
 *  A: faces g0 (0,0) kept, g1 (20,0) kept, g2 (40,0) outside the setting.
 *     detections, best first: 0.9 on g0 (TP), 0.8 on g2 (ignored),
 *     0.7 on g0 again (duplicate: FP), 0.7 at (60,0) on nothing (FP).
 *  B: face (0,0) kept; 0.7 on it (TP), 0.6 at (100,100) (FP).
 *  C: no face; a 0.95 detection: as WIDER, an image without faces adds
 *     nothing (not even a false positive).
 *  D: a kept face and no detection: a positive that is never recalled.
 * Positives 2 + 1 + 1 = 4. Points per distinct score:
 *   >= 0.9: 1 proposal, 1 recalled: P 1,   R 0.25
 *   >= 0.8: the ignored one adds no proposal: P 1, R 0.25
 *   >= 0.7: the three 0.7s enter together: 4 proposals, 2 recalled: P 0.5, R 0.5
 *   >= 0.6: 5 proposals, 2 recalled: P 0.4, R 0.5
 * AP: envelope over recall [0, .25, .25, .5, .5, 1] is [1, 1, 1, .5, .4, 0];
 *   0.25 * 1 + 0.25 * 0.5 + 0.5 * 0 = 0.375.
 * Had the 0.8 detection counted as a false positive, precision at 0.7
 * would be 2/5 and AP 0.25 + 0.25 * 0.4 = 0.35. */
static void test_ap_ignored_and_ties(void **state)
{
	const struct fw_eval_box ga[] = { BOX(0, 0, 0), BOX(20, 0, 0), BOX(40, 0, 0) };
	const unsigned char ka[] = { 1, 1, 0 };
	/* deliberately not in score order */
	const struct fw_eval_box da[] = { BOX(60, 0, 0.7), BOX(40, 0, 0.8), BOX(0, 0, 0.7), BOX(0, 0, 0.9) };
	const struct fw_eval_box gb[] = { BOX(0, 0, 0) };
	const unsigned char kb[] = { 1 };
	const struct fw_eval_box db[] = { BOX(0, 0, 0.7), BOX(100, 100, 0.6) };
	const struct fw_eval_box dc[] = { BOX(0, 0, 0.95) };
	struct fw_det_eval ev;
	struct fw_pr_point *c, at;
	size_t n;

	(void)state;
	fw_det_eval_init(&ev, 0.5f);
	assert_int_equal(fw_det_eval_image(&ev, ga, ka, 3, da, 4), 0);
	assert_int_equal(fw_det_eval_image(&ev, gb, kb, 1, db, 2), 0);
	assert_int_equal(fw_det_eval_image(&ev, NULL, NULL, 0, dc, 1), 0);
	assert_int_equal(fw_det_eval_image(&ev, gb, kb, 1, NULL, 0), 0);
	assert_int_equal(ev.positives, 4);
	assert_int_equal(fw_det_eval_curve(&ev, &c, &n), 0);
	assert_int_equal(n, 4);
	assert_float_equal(c[0].threshold, 0.9, 1e-7);
	assert_float_equal(c[0].precision, 1.0, TOL);
	assert_float_equal(c[0].recall, 0.25, TOL);
	assert_float_equal(c[1].precision, 1.0, TOL);
	assert_float_equal(c[1].recall, 0.25, TOL);
	assert_int_equal(c[2].proposals, 4);
	assert_int_equal(c[2].recalled, 2);
	assert_float_equal(c[2].precision, 0.5, TOL);
	assert_float_equal(c[2].recall, 0.5, TOL);
	assert_float_equal(c[3].precision, 0.4, TOL);
	assert_float_equal(c[3].recall, 0.5, TOL);
	assert_float_equal(fw_eval_ap(c, n), 0.375, TOL);
	/* at an operating threshold of 0.75: the >= 0.8 point */
	at = fw_eval_pr_at(c, n, 0.75f);
	assert_float_equal(at.precision, 1.0, TOL);
	assert_float_equal(at.recall, 0.25, TOL);
	/* above every score: nothing accepted */
	at = fw_eval_pr_at(c, n, 0.99f);
	assert_float_equal(at.recall, 0.0, TOL);
	free(c);
	fw_det_eval_free(&ev);
}

/* Two identical kept faces and two detections on them (0.9, 0.8): the
 * first takes the first face (argmax keeps the first of equals); the second's
 * best face is that same one, already recalled, so it is a duplicate and does
 * not fall back to the other face. Points: (R .5, P 1), (R .5, P .5);
 * AP = 0.5 * 1 = 0.5. */
static void test_ap_no_fallback(void **state)
{
	const struct fw_eval_box g[] = { BOX(0, 0, 0), BOX(0, 0, 0) };
	const unsigned char k[] = { 1, 1 };
	const struct fw_eval_box d[] = { BOX(0, 0, 0.9), BOX(0, 0, 0.8) };
	struct fw_det_eval ev;
	struct fw_pr_point *c;
	size_t n;

	(void)state;
	fw_det_eval_init(&ev, 0.5f);
	assert_int_equal(fw_det_eval_image(&ev, g, k, 2, d, 2), 0);
	assert_int_equal(fw_det_eval_curve(&ev, &c, &n), 0);
	assert_int_equal(n, 2);
	assert_float_equal(c[1].precision, 0.5, TOL);
	assert_float_equal(c[1].recall, 0.5, TOL);
	assert_float_equal(fw_eval_ap(c, n), 0.5, TOL);
	free(c);
	fw_det_eval_free(&ev);
}

/* Every detection on an ignored face: no point at all (0 proposals), AP 0;
 * a perfect detector: one point (R 1, P 1), AP 1. */
static void test_ap_edges(void **state)
{
	const struct fw_eval_box g[] = { BOX(0, 0, 0), BOX(50, 0, 0) };
	const unsigned char ignored[] = { 0, 0 }, kept[] = { 1, 1 };
	const struct fw_eval_box d[] = { BOX(0, 0, 0.9), BOX(50, 0, 0.8) };
	struct fw_det_eval ev;
	struct fw_pr_point *c;
	size_t n;

	(void)state;
	fw_det_eval_init(&ev, 0.5f);
	assert_int_equal(fw_det_eval_image(&ev, g, ignored, 2, d, 2), 0);
	assert_int_equal(ev.positives, 0);
	assert_int_equal(fw_det_eval_curve(&ev, &c, &n), 0);
	assert_int_equal(n, 0);
	assert_float_equal(fw_eval_ap(c, n), 0.0, TOL);
	free(c);
	fw_det_eval_free(&ev);

	fw_det_eval_init(&ev, 0.5f);
	assert_int_equal(fw_det_eval_image(&ev, g, kept, 2, d, 2), 0);
	assert_int_equal(fw_det_eval_curve(&ev, &c, &n), 0);
	assert_float_equal(fw_eval_ap(c, n), 1.0, TOL);
	free(c);
	fw_det_eval_free(&ev);
}

/* ---- verification ---- */

/* Eight pairs in input order (score, same):
 *   0 (.9,1) 1 (.1,0) 2 (.8,1) 3 (.4,0) 4 (.3,1) 5 (.35,0) 6 (.7,1) 7 (.25,0)
 * Two folds: genuine 0,2,4,6 -> folds 0,1,0,1; impostor 1,3,5,7 -> 0,1,0,1.
 *   fold 0 = {.9 g, .1 i, .3 g, .35 i}, fold 1 = {.8 g, .4 i, .7 g, .25 i}.
 * Fold 0 tested, trained on fold 1 (sorted .25i .4i .7g .8g): candidate
 *   thresholds -0.75, .325, .55, .75, 1.8 are right on 2, 3, 4, 3, 2 of 4:
 *   .55. On fold 0: .9 accepted (ok), .1 rejected (ok), .3 rejected
 *   (wrong), .35 rejected (ok): 3/4.
 * Fold 1 tested, trained on fold 0 (sorted .1i .3g .35i .9g): candidates
 *   -0.9, .2, .325, .625, 1.9 are right on 2, 3, 2, 3, 2: two best, .2 and
 *   .625; the lower middle is .2. On fold 1: .8 ok, .4 accepted (wrong),
 *   .7 ok, .25 accepted (wrong): 2/4.
 * Accuracy (.75 + .5) / 2 = .625, std .125, threshold (.55 + .2) / 2 = .375.
 * AUC: genuine .9, .8, .7 beat all 4 impostors, .3 beats .1 and .25: 14/16.
 * d': genuine mean 2.7/4 = .675, variance (.225² + .125² + .375² + .025²)/4
 *   = .2075/4 = .051875; impostor mean 1.1/4 = .275, variance (.175² + .125²
 *   + .075² + .025²)/4 = .0525/4 = .013125;
 *   d' = .4 / sqrt((.051875 + .013125) / 2) = .4 / sqrt(.0325). */
static const float vs[] = { 0.9f, 0.1f, 0.8f, 0.4f, 0.3f, 0.35f, 0.7f, 0.25f };
static const unsigned char vl[] = { 1, 0, 1, 0, 1, 0, 1, 0 };

static void test_verify(void **state)
{
	struct fw_verify_result r;

	(void)state;
	assert_int_equal(fw_eval_verify(vs, vl, 8, 2, &r), 0);
	assert_int_equal(r.n_genuine, 4);
	assert_int_equal(r.n_impostor, 4);
	assert_float_equal(r.fold_threshold[0], 0.55, 1e-6);
	assert_float_equal(r.fold_threshold[1], 0.2, 1e-6);
	assert_float_equal(r.fold_accuracy[0], 0.75, TOL);
	assert_float_equal(r.fold_accuracy[1], 0.5, TOL);
	assert_float_equal(r.accuracy, 0.625, TOL);
	assert_float_equal(r.accuracy_std, 0.125, TOL);
	assert_float_equal(r.threshold, 0.375, 1e-6);
	assert_float_equal(r.auc, 14.0 / 16.0, TOL);
	assert_float_equal(r.mean_genuine, 0.675, 1e-6);
	assert_float_equal(r.mean_impostor, 0.275, 1e-6);
	assert_float_equal(r.dprime, 0.4 / sqrt(0.0325), 1e-5);
	/* one class only: refused */
	assert_int_equal(fw_eval_verify(vs, (const unsigned char[]){ 1, 1, 1, 1, 1, 1, 1, 1 }, 8, 2, &r),
			 FW_EINVAL);
}

/* AUC with ties: genuine {.5, .7} against impostor {.5}: the tie counts
 * one half, .7 > .5 one: 1.5 / 2 = .75. All tied: .5. */
static void test_auc_ties(void **state)
{
	const float s[] = { 0.5f, 0.7f, 0.5f, 0.5f };
	const unsigned char l[] = { 1, 1, 0, 0 };
	struct fw_verify_result r;

	(void)state;
	assert_int_equal(fw_eval_verify(s, l, 3, 2, &r), 0);
	assert_float_equal(r.auc, 0.75, TOL);
	assert_int_equal(fw_eval_verify((const float[]){ 0.5f, 0.5f, 0.5f, 0.5f }, l, 4, 2, &r), 0);
	assert_float_equal(r.auc, 0.5, TOL);
}

/* TAR at FAR on the eight pairs: impostors sorted .4 .35 .25 .1.
 *   FAR .25: k = 1 false accept allowed, threshold the 2nd highest
 *     impostor .35, accepted when above: genuine .9 .8 .7: 3/4; FAR seen
 *     1/4 (.4).
 *   FAR .01: k = 0, threshold .4: 3/4, FAR seen 0.
 *   FAR 1: k = 4 = all impostors: everything accepted, TAR 1.
 * Ties: impostors {.5, .5}, genuine {.5, .6}, FAR .5: k = 1, threshold .5,
 *   strictly above: only .6: TAR .5, FAR seen 0. */
static void test_tar_at_far(void **state)
{
	double thr, far;

	(void)state;
	assert_float_equal(fw_eval_tar_at_far(vs, vl, 8, 0.25, &thr, &far), 0.75, TOL);
	assert_float_equal(thr, 0.35, 1e-6);
	assert_float_equal(far, 0.25, TOL);
	assert_float_equal(fw_eval_tar_at_far(vs, vl, 8, 0.01, &thr, &far), 0.75, TOL);
	assert_float_equal(thr, 0.4, 1e-6);
	assert_float_equal(far, 0.0, TOL);
	assert_float_equal(fw_eval_tar_at_far(vs, vl, 8, 1.0, &thr, &far), 1.0, TOL);
	assert_true(isinf(thr) && thr < 0);
	assert_float_equal(fw_eval_tar_at_far((const float[]){ 0.5f, 0.6f, 0.5f, 0.5f },
					      (const unsigned char[]){ 1, 1, 0, 0 }, 4, 0.5, &thr, &far),
			   0.5, TOL);
	assert_float_equal(far, 0.0, TOL);
}

/* ---- identification ---- */

/* Six photos: 0 A/g0, 1 A/g1, 2 A/g1 (1 and 2 are one photograph), 3 B/g2,
 * 4 B/g3, 5 C/g4 (alone: similarity -1 to all). Similarities:
 *   0-1 .9, 0-2 .1, 0-3 .8, 0-4 .2, 1-2 .99, 1-3 .3, 1-4 .4, 2-3 .5,
 *   2-4 .6, 3-4 .7.
 * q0 (R = 2: photos 1, 2): ranking 1 (.9 A) 3 (.8) 4 2: P@1 1,
 *    MAP@R (1/1 + 0) / 2 = .5
 * q1 (R = 1: photo 0; 2 is its own photograph, excluded): 0 (.9 A): 1, 1
 * q2 (R = 1): 4 (.6 B) 3 0: 0, 0
 * q3 (R = 1: 4): 0 (.8 A) ...: 0, 0
 * q4 (R = 1: 3): 3 (.7 B): 1, 1
 * q5: no other photo of C: skipped.
 * P@1 3/5 = .6, MAP@R (.5 + 1 + 0 + 0 + 1)/5 = .5.
 * With photo 4 failed: q4 scores 0 (a failure); 4 is no candidate: q0
 * unchanged (.5), q1 1, q2 ranks 3 (.5 B) first: 0, q3 (R still 1) 0 (.8 A)
 * first: 0. P@1 2/5 = .4, MAP@R 1.5/5 = .3. */
static void test_identify(void **state)
{
	const int id[] = { 0, 0, 0, 1, 1, 2 }, grp[] = { 0, 1, 1, 2, 3, 4 };
	unsigned char valid[] = { 1, 1, 1, 1, 1, 1 };
	float sim[36];
	struct fw_identify_result r;
	static const struct {
		int a, b;
		float s;
	} pairs[] = { { 0, 1, .9f }, { 0, 2, .1f }, { 0, 3, .8f }, { 0, 4, .2f }, { 1, 2, .99f },
		      { 1, 3, .3f }, { 1, 4, .4f }, { 2, 3, .5f }, { 2, 4, .6f }, { 3, 4, .7f } };

	(void)state;
	for (int i = 0; i < 36; i++)
		sim[i] = -1;
	for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
		sim[pairs[k].a * 6 + pairs[k].b] = sim[pairs[k].b * 6 + pairs[k].a] = pairs[k].s;
	assert_int_equal(fw_eval_identify(sim, 6, id, grp, valid, &r), 0);
	assert_int_equal(r.queries, 5);
	assert_int_equal(r.skipped, 1);
	assert_int_equal(r.failed, 0);
	assert_float_equal(r.precision_at_1, 0.6, TOL);
	assert_float_equal(r.map_at_r, 0.5, TOL);

	valid[4] = 0;
	assert_int_equal(fw_eval_identify(sim, 6, id, grp, valid, &r), 0);
	assert_int_equal(r.queries, 5);
	assert_int_equal(r.failed, 1);
	assert_float_equal(r.precision_at_1, 0.4, TOL);
	assert_float_equal(r.map_at_r, 0.3, TOL);
}

/* Tied similarities keep item order: 0 A, 1 B, 2 A; sim 0-1 = 0-2 = .5,
 * 1-2 = .3. q0 ranks 1 (B) before 2: P@1 0, MAP@R 0; q2: 0 (.5 A) first:
 * 1, 1; q1 has no other B: skipped. P@1 = MAP@R = 1/2. */
static void test_identify_ties(void **state)
{
	const int id[] = { 0, 1, 0 }, grp[] = { 0, 1, 2 };
	const unsigned char valid[] = { 1, 1, 1 };
	const float sim[9] = { 1, .5f, .5f, .5f, 1, .3f, .5f, .3f, 1 };
	struct fw_identify_result r;

	(void)state;
	assert_int_equal(fw_eval_identify(sim, 3, id, grp, valid, &r), 0);
	assert_int_equal(r.queries, 2);
	assert_int_equal(r.skipped, 1);
	assert_float_equal(r.precision_at_1, 0.5, TOL);
	assert_float_equal(r.map_at_r, 0.5, TOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_list_errors),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_iou),
		cmocka_unit_test(test_ap_ignored_and_ties),
		cmocka_unit_test(test_ap_no_fallback),
		cmocka_unit_test(test_ap_edges),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_auc_ties),
		cmocka_unit_test(test_tar_at_far),
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_identify_ties),
	};

	fw_log_set_sink(capture, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
