/* daemon/enroll: the requests and the correction path without a camera.
 * What a user would notice: bad enroll/not requests get a clear error at
 * once (no name, a bad name, a count out of range, a second enrolment
 * while one runs, --last with nobody identified); `not` stores the track's
 * face as a negative in the real gallery file and NAME is then vetoed for
 * it; an unknown or long-gone track is refused; an enrolment that sees no
 * frame times out with a refusal rather than hanging, and then a new one
 * may start.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fw.h"
#include "core/gallery.h"
#include "daemon/enroll.h"
#include "daemon/store.h"
#include "testutil.h"

#define MID "mobilefacenet:11111111"

static char dir[256];
static struct fw_enroll_msg got[16];
static int n_got;

struct ctx {
	struct fw_store *store;
	struct fw_gallery *gallery;
};

static void on_send(void *c, const struct fw_enroll_msg *m)
{
	(void)c;
	assert_true(n_got < 16);
	got[n_got++] = *m;
}

static void on_reload(void *c)
{
	struct ctx *x = c;
	fw_gallery_free(x->gallery);
	x->gallery = NULL;
	assert_int_equal(fw_store_load(x->store, MID, 0.55f, &x->gallery, NULL), 0);
}

static struct fw_gallery *on_current(void *c)
{
	return ((struct ctx *)c)->gallery;
}

static void unit(float *v, unsigned seed)
{
	double ss = 0;
	tu_srand(seed);
	for (int i = 0; i < FW_EMBED_DIM; i++) {
		v[i] = tu_randf(-1, 1);
		ss += (double)v[i] * v[i];
	}
	for (int i = 0; i < FW_EMBED_DIM; i++)
		v[i] = (float)(v[i] / sqrt(ss));
}

static json_t *req(const char *fmt, ...)
{
	va_list ap;
	json_t *j;
	va_start(ap, fmt);
	j = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	assert_non_null(j);
	return j;
}

/* run a handler: its return code, and the error text in *err */
static int call(int (*fn)(void *, const struct fw_events_peer *, json_t *, json_t *),
		struct fw_enroll *e, json_t *r, char *err, size_t len)
{
	static const struct fw_events_peer peer = { .id = 1, .trusted = true };
	json_t *reply = json_object();
	int rc = fn(e, &peer, r, reply);
	const char *s = json_string_value(json_object_get(reply, "error"));
	snprintf(err, len, "%s", s ? s : "");
	json_decref(reply);
	json_decref(r);
	return rc;
}

static void test_bad_requests(void **state)
{
	struct fw_enroll *e;
	char err[400];
	(void)state;

	assert_int_equal(fw_enroll_create(&e), 0);
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{}"), err, sizeof err), FW_EINVAL);
	assert_non_null(strstr(err, "needs \"name\""));
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{ss}", "name", "a/b"), err, sizeof err),
			 FW_EINVAL);
	assert_non_null(strstr(err, "not a usable name"));
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{ss si}", "name", "al", "count", 21),
			      err, sizeof err), FW_EINVAL);
	assert_non_null(strstr(err, "\"count\" must be an integer from 1 to 20"));
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{ss ss}", "name", "al", "timeout", "5"),
			      err, sizeof err), FW_EINVAL);
	/* a good one is deferred; a second while it runs is busy */
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{ss si si}", "name", "al", "count", 2,
							       "timeout", 1), err, sizeof err),
			 FW_EVENTS_LATER);
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{ss}", "name", "bo"), err, sizeof err),
			 -EBUSY);
	assert_non_null(strstr(err, "already running"));
	/* not: a track is needed; "last" needs an identification of NAME */
	assert_int_equal(call(fw_enroll_request_not, e, req("{ss}", "name", "al"), err, sizeof err),
			 FW_EINVAL);
	assert_int_equal(call(fw_enroll_request_not, e, req("{ss ss}", "name", "al", "track", "last"),
			      err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "no face has been identified as al"));
	fw_enroll_saw_identified(e, 7, "bo");
	assert_int_equal(call(fw_enroll_request_not, e, req("{ss ss}", "name", "al", "track", "last"),
			      err, sizeof err), -ENOENT);
	fw_enroll_saw_identified(e, 9, "al");
	assert_int_equal(call(fw_enroll_request_not, e, req("{ss ss}", "name", "al", "track", "last"),
			      err, sizeof err), FW_EVENTS_LATER);
	fw_enroll_destroy(e); /* frees the pending ids */
}

static void test_not_and_timeout(void **state)
{
	struct fw_enroll *e;
	struct ctx x = { 0 };
	struct fw_enroll_env env;
	struct fw_store_template t = { 0 };
	float look_alike[FW_EMBED_DIM];
	char path[300], err[400];
	int added;
	(void)state;

	snprintf(dir, sizeof dir, "/tmp/fw-enroll-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/g.db", dir);
	assert_int_equal(fw_store_open(&x.store, path, FW_STORE_CREATE), 0);
	/* al's template, and a look-alike 0.6 from it (accepted as al) */
	unit(t.emb, 1);
	t.model_id = MID;
	t.quality = 1;
	assert_int_equal(fw_store_add(x.store, "al", &t, 1, FW_STORE_ADD_CREATE, &added), 0);
	unit(look_alike, 2);
	{
		double dot = 0, ss = 0;
		for (int i = 0; i < FW_EMBED_DIM; i++)
			dot += (double)look_alike[i] * t.emb[i];
		for (int i = 0; i < FW_EMBED_DIM; i++)
			look_alike[i] = (float)(0.6 * t.emb[i] + 0.8 * (look_alike[i] - dot * t.emb[i]));
		for (int i = 0; i < FW_EMBED_DIM; i++)
			ss += (double)look_alike[i] * look_alike[i];
		for (int i = 0; i < FW_EMBED_DIM; i++)
			look_alike[i] = (float)(look_alike[i] / sqrt(ss));
	}
	on_reload(&x);
	env = (struct fw_enroll_env){ .store = x.store, .model_id = MID, .gallery = x.gallery,
				      .threshold = 0.55f, .device = "test", .reload = on_reload,
				      .current = on_current, .send = on_send, .ctx = &x };
	assert_int_equal(fw_enroll_create(&e), 0);
	n_got = 0;

	/* track 5 was embedded as the look-alike; 6 only long ago */
	fw_enroll_embedded(e, 5, look_alike, 0.8f, 1000);
	fw_enroll_embedded(e, 6, look_alike, 0.8f, 1000);
	assert_int_equal(call(fw_enroll_request_not, e, req("{ss si}", "name", "al", "track", 5), err,
			      sizeof err), FW_EVENTS_LATER);
	assert_int_equal(call(fw_enroll_request_not, e, req("{ss si}", "name", "al", "track", 77), err,
			      sizeof err), FW_EVENTS_LATER);
	fw_enroll_poll(e, &env, 2000, 0);
	assert_int_equal(call(fw_enroll_request_not, e, req("{ss si}", "name", "al", "track", 6), err,
			      sizeof err), FW_EVENTS_LATER);
	fw_enroll_poll(e, &env, 1000 + FW_ENROLL_KEEP_MS + 1, 0);
	assert_int_equal(n_got, 3);
	assert_int_equal(got[0].kind, FW_ENROLL_MSG_DONE);
	assert_int_equal(got[0].err, 0);
	assert_int_equal(got[0].added, 1);
	assert_true(got[0].vetoed);
	assert_float_equal(got[0].similarity, 0.6f, 1e-3f);
	assert_int_equal(got[1].err, -ENOENT);
	assert_non_null(strstr(got[1].text, "no face of track 77"));
	assert_int_equal(got[2].err, -ENOENT); /* too old */
	/* in the file: one negative; the gallery now refuses al for that face */
	{
		struct fw_gallery_match m;
		assert_int_equal(fw_gallery_n_negatives(x.gallery), 1);
		assert_int_equal(fw_gallery_match(x.gallery, look_alike, &m), 0);
		assert_int_equal(m.identity, -1);
		assert_int_equal(m.vetoed, 0);
		/* al's own face is still al */
		assert_int_equal(fw_gallery_match(x.gallery, t.emb, &m), 0);
		assert_int_equal(m.identity, 0);
		assert_true(m.accepted);
	}
	/* the corrected track is embedded again on its next frames, others not */
	assert_false(fw_enroll_force_embed(e, 6));
	for (int i = 0; i < FW_ENROLL_REVOTE_FRAMES; i++)
		assert_true(fw_enroll_force_embed(e, 5));
	assert_false(fw_enroll_force_embed(e, 5));

	/* a track seen in several poses: its latest FW_ENROLL_TRACK_VIEWS views
	 * are stored, in one change */
	{
		float v[FW_EMBED_DIM];
		struct fw_store_identity *list;
		int n;
		for (unsigned k = 0; k < 6; k++) {
			unit(v, 100 + k);
			fw_enroll_embedded(e, 8, v, 0.9f, 2000 + k);
		}
		n_got = 0;
		assert_int_equal(call(fw_enroll_request_not, e, req("{ss si}", "name", "al", "track", 8),
				      err, sizeof err), FW_EVENTS_LATER);
		fw_enroll_poll(e, &env, 3000, 0);
		assert_int_equal(n_got, 1);
		assert_int_equal(got[0].err, 0);
		assert_int_equal(got[0].added, FW_ENROLL_TRACK_VIEWS);
		assert_int_equal(fw_store_list(x.store, NULL, &list, &n), 0);
		assert_int_equal(list[0].negatives, 1 + FW_ENROLL_TRACK_VIEWS);
		fw_store_list_free(list);
	}

	/* an enrolment that sees no frame: refused at its timeout, not before */
	n_got = 0;
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{ss si si}", "name", "cy", "count", 2,
							       "timeout", 2), err, sizeof err),
			 FW_EVENTS_LATER);
	fw_enroll_poll(e, &env, 10000, 0);
	assert_true(fw_enroll_active(e));
	fw_enroll_poll(e, &env, 11999, 0);
	assert_int_equal(n_got, 0);
	fw_enroll_poll(e, &env, 12000, 0);
	assert_false(fw_enroll_active(e));
	assert_int_equal(n_got, 1);
	assert_int_equal(got[0].err, -ETIMEDOUT);
	assert_non_null(strstr(got[0].text, "timed out: 0 of 2 views"));
	/* the answer frees the slot: another may start; the camera ending ends it */
	assert_null(fw_enroll_main_msg(e, &got[0]));
	n_got = 0;
	assert_int_equal(call(fw_enroll_request_enroll, e, req("{ss}", "name", "cy"), err, sizeof err),
			 FW_EVENTS_LATER);
	fw_enroll_poll(e, &env, 13000, 1);
	assert_int_equal(n_got, 1);
	assert_int_equal(got[0].err, -ENODATA);
	assert_non_null(strstr(got[0].text, "the camera stopped giving frames"));
	{
		struct fw_store_identity *list;
		int n;
		assert_int_equal(fw_store_list(x.store, NULL, &list, &n), 0);
		assert_int_equal(n, 1); /* no "cy" */
		assert_int_equal(list[0].negatives, 1 + FW_ENROLL_TRACK_VIEWS);
		fw_store_list_free(list);
	}
	fw_enroll_destroy(e);
	fw_gallery_free(x.gallery);
	fw_store_close(x.store);
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_not_and_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
