/* Calibration: the (scale, zero point) rule, histogram range choices on
 * hand-made statistics, the int8 runtime's constraints on the real
 * blazeface_short graph, and the rewritten model file (loads, valid CRC,
 * differs from the original only in the tensor records' quantisation
 * fields and the CRC). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/calibrate.h"
#include "core/fw.h"
#include "core/model.h"
#include "core/model_format.h"
#include "testutil.h"

/* The model file and its graph, read directly. */
struct graph {
	unsigned char *buf;
	size_t len;
	struct fw_mf_header h;
	const struct fw_mf_op *ops;
};

static void graph_read(struct graph *g, const char *path)
{
	g->buf = tu_read_file(path, &g->len);
	assert_non_null(g->buf);
	memcpy(&g->h, g->buf, sizeof g->h);
	g->ops = (const struct fw_mf_op *)(g->buf + g->h.ops_off);
}

static struct fw_mf_tensor record(const struct graph *g, int i)
{
	struct fw_mf_tensor r;
	memcpy(&r, g->buf + g->h.tensors_off + (size_t)i * sizeof r, sizeof r);
	return r;
}

static void expect_params(struct fw_qparams q, float scale, int zp)
{
	if (fabsf(q.scale - scale) > 1e-7f * scale || q.zero_point != zp)
		fail_msg("got scale %.9g zp %d, expected %.9g zp %d", q.scale, q.zero_point, scale, zp);
}

static void test_range_params(void **state)
{
	(void)state;
	/* -lo / scale = 1 / (4/255) = 63.75 -> 64 */
	expect_params(fw_calib_range_params(-1, 3), 4.0f / 255, 64);
	expect_params(fw_calib_range_params(0, 6), 6.0f / 255, 0);
	expect_params(fw_calib_range_params(-2, 0), 2.0f / 255, 255);
	/* widened to include 0 */
	expect_params(fw_calib_range_params(1, 3), 3.0f / 255, 0);
	expect_params(fw_calib_range_params(-3, -1), 3.0f / 255, 255);
	/* symmetric: 127.5 rounds half away from zero */
	expect_params(fw_calib_range_params(-1, 1), 2.0f / 255, 128);
	/* nothing seen but zeros */
	expect_params(fw_calib_range_params(0, 0), 1.0f / 255, 0);
	/* real 0 is exactly on the grid: scale * (zp - zp) */
	for (float lo = -5; lo <= 0; lo += 0.37f) {
		struct fw_qparams q = fw_calib_range_params(lo, 2.5f);
		assert_true(q.zero_point >= 0 && q.zero_point <= 255);
		assert_true(fabsf(q.zero_point * q.scale + lo) <= 0.5f * q.scale * 1.0001f);
	}
}

static struct fw_calib *calib_short(struct graph *g)
{
	struct fw_calib *c;

	graph_read(g, tu_models("blazeface_short.fwm"));
	assert_int_equal(fw_calib_create_mem(&c, g->buf, g->len, "blazeface_short.fwm"), 0);
	assert_int_equal(fw_calib_n_tensors(c), (int)g->h.n_tensors);
	return c;
}

/* Every non-constant tensor gets n values spread over [lo, hi]. */
static void observe_all(struct fw_calib *c, const struct graph *g, float lo, float hi)
{
	float v[256];

	for (int k = 0; k < 256; k++)
		v[k] = lo + (hi - lo) * k / 255.0f;
	for (int i = 0; i < (int)g->h.n_tensors; i++)
		if (record(g, i).kind != FW_TK_CONST)
			fw_calib_observe(c, i, v, 256);
}

static void test_minmax_and_relu(void **state)
{
	struct graph g;
	struct fw_calib *c = calib_short(&g);
	struct fw_calib_options opt = { .method = FW_CALIB_MINMAX };
	int act = fw_calib_tensor_id(c, "activation"), dw = fw_calib_tensor_id(c, "depthwise_conv2d");
	float relu[1000];

	(void)state;
	assert_true(act > 0 && dw > 0);
	observe_all(c, &g, -1, 3);
	/* a ReLU output: never negative (zeros included) */
	for (int k = 0; k < 1000; k++)
		relu[k] = k % 3 ? 0.0f : k * 0.006f;
	fw_calib_observe(c, act, relu, 1000);
	assert_int_equal(fw_calib_choose(c, &opt), 0);
	expect_params(fw_calib_params(c, dw), 4.0f / 255, 64);
	/* activation's range is the union [-1, 5.994]: recalibrate a fresh one */
	fw_calib_free(c);
	free(g.buf);

	c = calib_short(&g);
	observe_all(c, &g, 0.5f, 3);
	fw_calib_observe(c, act, relu, 1000);
	assert_int_equal(fw_calib_choose(c, &opt), 0);
	assert_int_equal(fw_calib_params(c, act).zero_point, 0);
	assert_int_equal(fw_calib_params(c, dw).zero_point, 0); /* never negative either */
	opt.method = FW_CALIB_MSE;
	assert_int_equal(fw_calib_choose(c, &opt), 0);
	assert_int_equal(fw_calib_params(c, act).zero_point, 0);
	fw_calib_free(c);
	free(g.buf);
}

/* One value far out: min/max lets it set the step; MSE clips it where its
 * clipping error balances the other values' rounding error. */
static void test_mse_clips_an_outlier(void **state)
{
	enum { N = 1000000 };
	struct graph g;
	struct fw_calib *c = calib_short(&g);
	struct fw_calib_options opt = { .method = FW_CALIB_MINMAX };
	int dw = fw_calib_tensor_id(c, "depthwise_conv2d");
	float *v = malloc((N + 1) * sizeof *v);

	(void)state;
	assert_non_null(v);
	observe_all(c, &g, -1, 1);
	tu_srand(7);
	for (int k = 0; k < N; k++)
		v[k] = tu_randf(-1, 1);
	v[N] = 100;
	fw_calib_observe(c, dw, v, N + 1);
	assert_int_equal(fw_calib_choose(c, &opt), 0);
	assert_true(fabsf(fw_calib_params(c, dw).scale - 101.0f / 255) < 0.01f);
	/* MSE trades the outlier's clipping error against everyone's rounding
	 * error: (100 - h)^2 + 1e6 ((h + 1) / 255)^2 / 12 is least at h ~ 43;
	 * the search steps by 3 %, so the top of the range lands near it */
	opt.method = FW_CALIB_MSE;
	assert_int_equal(fw_calib_choose(c, &opt), 0);
	{
		struct fw_qparams q = fw_calib_params(c, dw);
		float hi = q.scale * (255 - q.zero_point), lo = -q.scale * q.zero_point;
		if (!(hi > 40 && hi < 48 && lo < -0.9f && lo > -1.1f))
			fail_msg("MSE range [%g, %g], expected about [-1, 43]", lo, hi);
	}
	free(v);
	fw_calib_free(c);
	free(g.buf);
}

/* The histogram depends on the values only, not on their order or batching. */
static void test_order_independent(void **state)
{
	struct graph g;
	struct fw_calib *a = calib_short(&g), *b;
	int dw = fw_calib_tensor_id(a, "depthwise_conv2d");
	float *v = malloc(20000 * sizeof *v);

	(void)state;
	assert_int_equal(fw_calib_create_mem(&b, g.buf, g.len, "b"), 0);
	observe_all(a, &g, -1, 1);
	observe_all(b, &g, -1, 1);
	tu_srand(11);
	for (int k = 0; k < 20000; k++)
		v[k] = tu_randf(-3, 7) * (k % 100 == 0 ? 30 : 1);
	fw_calib_observe(a, dw, v, 20000);
	for (int k = 19000; k >= 0; k -= 1000) /* reversed, in batches */
		fw_calib_observe(b, dw, v + k, 1000);
	assert_int_equal(fw_calib_choose(a, NULL), 0);
	assert_int_equal(fw_calib_choose(b, NULL), 0);
	for (int i = 0; i < fw_calib_n_tensors(a); i++)
		assert_memory_equal(&(struct fw_qparams[]){ fw_calib_params(a, i) },
				    &(struct fw_qparams[]){ fw_calib_params(b, i) },
				    sizeof(struct fw_qparams));
	free(v);
	fw_calib_free(a);
	fw_calib_free(b);
	free(g.buf);
}

static int same(struct fw_qparams a, struct fw_qparams b)
{
	return a.scale == b.scale && a.zero_point == b.zero_point;
}

/* Calibrate blazeface_short by running it (the trace hook path) on random
 * inputs; then check the runtime's constraints on the real graph. */
static void test_constraints_on_blazeface_short(void **state)
{
	struct graph g;
	struct fw_calib *c = calib_short(&g);
	struct fw_model_options mo = { .expect_name = "blazeface_short", .tier = FW_KERNELS_FAST };
	const char *keep[] = { "regressors", NULL };
	struct fw_calib_options opt = { .method = FW_CALIB_MSE, .keep_float = keep };
	struct fw_model *m;
	struct fw_shape s;
	int n_reshape = 0, n_pool = 0, n_pad = 0, n_concat = 0, nq, nf;

	(void)state;
	assert_int_equal(fw_model_load(tu_models("blazeface_short.fwm"), &mo, &m), 0);
	assert_int_equal(fw_calib_attach(c, m), 0);
	tu_srand(3);
	for (int r = 0; r < 3; r++) {
		float *x = fw_model_input(m, &s);
		for (int k = 0; k < s.h * s.w * s.c; k++)
			x[k] = tu_randf(-1, 1);
		assert_int_equal(fw_model_run(m), 0);
	}
	fw_calib_detach(c);
	assert_int_equal(fw_calib_runs(c), 3);
	assert_int_equal(fw_model_run(m), 0); /* detached: not counted */
	assert_int_equal(fw_calib_runs(c), 3);
	assert_int_equal(fw_calib_choose(c, &opt), 0);

	for (int i = 0; i < (int)g.h.n_ops; i++) {
		const struct fw_mf_op *r = &g.ops[i];
		struct fw_qparams y = fw_calib_params(c, r->out);
		switch (r->type) {
		case FW_OP_RESHAPE:
		case FW_OP_MAXPOOL:
		case FW_OP_PAD:
			n_reshape += r->type == FW_OP_RESHAPE;
			n_pool += r->type == FW_OP_MAXPOOL;
			n_pad += r->type == FW_OP_PAD;
			if (!same(fw_calib_params(c, r->in[0]), y))
				fail_msg("op %d (type %d): output parameters differ from the input's", i, r->type);
			break;
		case FW_OP_CONCAT:
			n_concat++;
			for (int k = 0; k < r->n_in; k++)
				assert_true(same(fw_calib_params(c, r->in[k]), y));
			break;
		default:
			break;
		}
	}
	assert_int_equal(n_reshape, 4);
	assert_int_equal(n_pool, 3);
	assert_int_equal(n_pad, 11);
	assert_int_equal(n_concat, 2);
	/* everything else quantised, zero point on the grid; the kept group float */
	for (int i = 0; i < (int)g.h.n_tensors; i++) {
		struct fw_mf_tensor r = record(&g, i);
		struct fw_qparams q = fw_calib_params(c, i);
		if (r.kind == FW_TK_CONST) {
			assert_true(q.scale == 0);
			continue;
		}
		assert_true(q.zero_point >= 0 && q.zero_point <= 255);
	}
	assert_true(fw_calib_params(c, fw_calib_tensor_id(c, "regressors")).scale == 0);
	assert_true(fw_calib_params(c, fw_calib_tensor_id(c, "regressor_8")).scale == 0);
	assert_true(fw_calib_params(c, fw_calib_tensor_id(c, "reshape_3")).scale == 0);
	assert_true(fw_calib_params(c, fw_calib_tensor_id(c, "classificators")).scale > 0);
	assert_true(fw_calib_params(c, fw_calib_tensor_id(c, "input")).scale > 0);
	/* the padding channels are zeros of a ReLU output: zp 0 all along */
	assert_int_equal(fw_calib_params(c, fw_calib_tensor_id(c, "channel_padding")).zero_point, 0);
	fw_calib_counts(c, &nq, &nf);
	assert_int_equal(nf, 5); /* regressor_8, regressor_16, reshape_1, reshape_3, regressors */
	assert_int_equal(nq + nf, 74);

	/* a name that is not an activation is refused */
	keep[0] = "no such tensor";
	assert_int_equal(fw_calib_choose(c, &opt), FW_EINVAL);
	fw_calib_free(c);
	fw_model_free(m);
	free(g.buf);
}

static void test_softmax_output_stays_float(void **state)
{
	struct graph g;
	struct fw_calib *c;

	(void)state;
	graph_read(&g, tu_models("onet.fwm"));
	assert_int_equal(fw_calib_create_mem(&c, g.buf, g.len, "onet.fwm"), 0);
	observe_all(c, &g, -2, 2);
	assert_int_equal(fw_calib_choose(c, NULL), 0);
	assert_true(fw_calib_params(c, fw_calib_tensor_id(c, "onet/prob1")).scale == 0);
	assert_true(fw_calib_params(c, fw_calib_tensor_id(c, "onet/conv6-1/conv6-1")).scale > 0);
	fw_calib_free(c);
	free(g.buf);
}

static void test_never_observed_is_an_error(void **state)
{
	struct graph g;
	struct fw_calib *c = calib_short(&g);

	(void)state;
	assert_int_equal(fw_calib_choose(c, NULL), FW_EINVAL);
	assert_int_equal(fw_calib_write(tu_models("blazeface_short.fwm"), tu_build("never.fwm"), c),
			 FW_EINVAL);
	assert_int_equal(access(tu_build("never.fwm"), F_OK), -1);
	fw_calib_free(c);
	free(g.buf);
}

/* Byte ranges a calibration may change: the CRC and each record's scale and zero_point. */
static int may_differ(const struct graph *g, size_t at)
{
	size_t q0 = offsetof(struct fw_mf_tensor, scale), rec = sizeof(struct fw_mf_tensor);

	if (at >= offsetof(struct fw_mf_header, crc32) && at < offsetof(struct fw_mf_header, crc32) + 4)
		return 1;
	if (at < g->h.tensors_off || at >= g->h.tensors_off + (size_t)g->h.n_tensors * rec)
		return 0;
	return (at - g->h.tensors_off) % rec >= q0;
}

static void test_write(void **state)
{
	struct graph g, out;
	struct fw_calib *c = calib_short(&g);
	const char *path = tu_build("test_calibrate_short.fwm");
	struct fw_model_options mo = { .expect_name = "blazeface_short" };
	struct fw_model *m;
	int changed = 0;

	(void)state;
	observe_all(c, &g, -1, 3);
	assert_int_equal(fw_calib_choose(c, NULL), 0);
	unlink(path);
	assert_int_equal(fw_calib_write(tu_models("blazeface_short.fwm"), path, c), 0);
	/* loads: the loader checks the CRC */
	assert_int_equal(fw_model_load(path, &mo, &m), 0);
	fw_model_free(m);
	graph_read(&out, path);
	assert_int_equal(out.len, g.len);
	assert_int_equal(out.h.crc32, fw_crc32(0, out.buf + sizeof out.h, out.len - sizeof out.h));
	for (size_t i = 0; i < g.len; i++) {
		if (out.buf[i] == g.buf[i])
			continue;
		if (!may_differ(&g, i))
			fail_msg("byte %zu changed outside the quantisation fields", i);
		changed++;
	}
	assert_true(changed > 0);
	for (int i = 0; i < (int)out.h.n_tensors; i++) {
		struct fw_mf_tensor r = record(&out, i);
		struct fw_qparams q = fw_calib_params(c, i);
		assert_true(r.scale == q.scale);
		assert_int_equal(r.zero_point, q.zero_point);
	}

	/* recalibrating the calibrated file in place works: only the quantisation differs */
	assert_int_equal(fw_calib_write(path, path, c), 0);
	/* another model is refused, and nothing is left behind */
	assert_int_equal(fw_calib_write(tu_models("onet.fwm"), tu_build("test_calibrate_wrong.fwm"), c),
			 FW_EMODEL);
	assert_int_equal(access(tu_build("test_calibrate_wrong.fwm"), F_OK), -1);
	/* a directory that does not exist: an error, not a crash */
	assert_true(fw_calib_write(path, tu_build("no/such/dir/x.fwm"), c) < 0);
	unlink(path);
	free(out.buf);
	fw_calib_free(c);
	free(g.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_params),
		cmocka_unit_test(test_minmax_and_relu),
		cmocka_unit_test(test_mse_clips_an_outlier),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_constraints_on_blazeface_short),
		cmocka_unit_test(test_softmax_output_stays_float),
		cmocka_unit_test(test_never_observed_is_an_error),
		cmocka_unit_test(test_write),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
