/* TFJS weights manifest reader and face-api's landmark net; see tfjs.h. */
#include "tfjs.h"

#include "core/fw.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_TFJS_MAX_ELEMS (1u << 26) /* per weight: 256 MiB of float32 */

__attribute__((format(printf, 4, 5)))
static int terr(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

void fw_tfjs_free(struct fw_tfjs_weights *w)
{
	if (!w)
		return;
	for (int k = 0; k < w->n; k++) {
		free(w->w[k].name);
		free(w->w[k].data);
	}
	free(w->w);
	free(w);
}

static json_t *parse(const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, 0, &je);

	if (!root) {
		terr(err, errlen, 0, "manifest is not JSON (line %d: %s)", je.line, je.text);
		return NULL;
	}
	if (!json_is_array(root) || json_array_size(root) == 0) {
		terr(err, errlen, 0, "manifest is not a non-empty array of weight groups");
		json_decref(root);
		return NULL;
	}
	return root;
}

int fw_tfjs_paths(const char *json, size_t json_len, char ***out, int *n_out, char *err,
		  size_t errlen)
{
	json_t *root = parse(json, json_len, err, errlen), *group, *p;
	size_t gi, pi, n = 0, bytes = 0;
	char **paths = NULL, *at;
	int ret = FW_EFORMAT;

	*out = NULL;
	*n_out = 0;
	if (!root)
		return FW_EFORMAT;
	json_array_foreach(root, gi, group) {
		json_t *arr = json_object_get(group, "paths");

		if (!json_is_array(arr)) {
			terr(err, errlen, 0, "weight group %zu has no \"paths\" array", gi);
			goto fail;
		}
		json_array_foreach(arr, pi, p) {
			const char *s = json_string_value(p);

			if (!s || !s[0] || strstr(s, "..") || s[0] == '/') {
				terr(err, errlen, 0, "weight group %zu: path %zu is not a plain file "
				     "name", gi, pi);
				goto fail;
			}
			n++;
			bytes += strlen(s) + 1;
		}
	}
	if (n == 0 || n > 1024) {
		terr(err, errlen, 0, "manifest names %zu shard files", n);
		goto fail;
	}
	paths = malloc(n * sizeof *paths + bytes);
	if (!paths) {
		ret = terr(err, errlen, FW_ENOMEM, "out of memory");
		goto fail;
	}
	at = (char *)(paths + n);
	n = 0;
	json_array_foreach(root, gi, group) {
		json_array_foreach(json_object_get(group, "paths"), pi, p) {
			size_t l = strlen(json_string_value(p)) + 1;

			memcpy(at, json_string_value(p), l);
			paths[n++] = at;
			at += l;
		}
	}
	*out = paths;
	*n_out = (int)n;
	ret = 0;
fail:
	json_decref(root);
	return ret;
}

static float rd_f32(const uint8_t *p)
{
	uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

int fw_tfjs_read(const char *json, size_t json_len, const uint8_t *bin, size_t bin_len,
		 struct fw_tfjs_weights **out, char *err, size_t errlen)
{
	json_t *root = parse(json, json_len, err, errlen), *group, *wj;
	struct fw_tfjs_weights *W = NULL;
	size_t gi, wi, off = 0, total = 0;
	int ret = FW_EFORMAT;

	*out = NULL;
	if (!root)
		return FW_EFORMAT;
	json_array_foreach(root, gi, group)
		total += json_array_size(json_object_get(group, "weights"));
	W = calloc(1, sizeof *W);
	if (!W || !(W->w = calloc(total ? total : 1, sizeof *W->w))) {
		ret = terr(err, errlen, FW_ENOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(root, gi, group) {
		json_array_foreach(json_object_get(group, "weights"), wi, wj) {
			struct fw_tfjs_weight *w = &W->w[W->n];
			const char *name = json_string_value(json_object_get(wj, "name"));
			const char *dtype = json_string_value(json_object_get(wj, "dtype"));
			json_t *shape = json_object_get(wj, "shape"), *q = json_object_get(wj, "quantization");
			const char *qd = q ? json_string_value(json_object_get(q, "dtype")) : NULL;
			double scale = 0, min = 0;
			size_t count = 1, el, dim_i;
			json_t *d;

			if (!name || !dtype || !json_is_array(shape) || json_array_size(shape) > 4) {
				terr(err, errlen, 0, "weight %zu of group %zu: needs \"name\", \"dtype\" "
				     "and a \"shape\" of rank <= 4", wi, gi);
				goto fail;
			}
			if (strcmp(dtype, "float32")) {
				terr(err, errlen, 0, "weight \"%s\": dtype %s (only float32 weights are "
				     "supported)", name, dtype);
				goto fail;
			}
			w->rank = (int)json_array_size(shape);
			json_array_foreach(shape, dim_i, d) {
				json_int_t v = json_integer_value(d);

				if (!json_is_integer(d) || v < 1 || v > (1 << 24)) {
					terr(err, errlen, 0, "weight \"%s\": bad dimension %zu", name,
					     dim_i);
					goto fail;
				}
				w->shape[dim_i] = (int32_t)v;
				count *= (size_t)v;
				if (count > FW_TFJS_MAX_ELEMS) {
					terr(err, errlen, 0, "weight \"%s\" is too large", name);
					goto fail;
				}
			}
			if (!q) {
				el = 4;
			} else if (qd && (!strcmp(qd, "uint8") || !strcmp(qd, "uint16"))) {
				el = qd[4] == '8' ? 1 : 2;
				scale = json_number_value(json_object_get(q, "scale"));
				min = json_number_value(json_object_get(q, "min"));
				if (!json_is_number(json_object_get(q, "scale")) ||
				    !json_is_number(json_object_get(q, "min")) || !isfinite(scale) ||
				    !isfinite(min)) {
					terr(err, errlen, 0, "weight \"%s\": quantization needs numeric "
					     "\"scale\" and \"min\"", name);
					goto fail;
				}
			} else {
				terr(err, errlen, 0, "weight \"%s\": quantization dtype %s is not "
				     "supported (uint8, uint16)", name, qd ? qd : "(none)");
				goto fail;
			}
			if (off > bin_len || count * el > bin_len - off) {
				terr(err, errlen, 0, "weight \"%s\" reaches past the end of the weight "
				     "files (%zu bytes)", name, bin_len);
				goto fail;
			}
			w->name = strdup(name);
			w->data = malloc(count * sizeof *w->data);
			W->n++;
			if (!w->name || !w->data) {
				ret = terr(err, errlen, FW_ENOMEM, "out of memory");
				goto fail;
			}
			for (size_t k = 0; k < count; k++) {
				const uint8_t *p = bin + off + k * el;

				if (el == 4)
					w->data[k] = rd_f32(p);
				else if (el == 1)
					w->data[k] = (float)(min + scale * p[0]);
				else
					w->data[k] = (float)(min + scale * (p[0] | p[1] << 8));
			}
			off += count * el;
		}
	}
	if (off != bin_len) {
		terr(err, errlen, 0, "the weight files hold %zu bytes, the manifest describes %zu",
		     bin_len, off);
		goto fail;
	}
	*out = W;
	W = NULL;
	ret = 0;
fail:
	fw_tfjs_free(W);
	json_decref(root);
	return ret;
}

/* ---- face-api's 68-point landmark net ------------------------------------ */

/* Graph under construction. Activations and constants are kept apart and
 * numbered at the end as lower.c's renumbering does: the input, then op
 * outputs in op order, then constants in order of first use. */
#define CONST_BASE (1 << 20)
#define MAX_ACT 64
#define MAX_CONST 96
#define MAX_OPS 64

struct builder {
	const struct fw_tfjs_weights *W;
	struct fw_cv_tensor act[MAX_ACT], cst[MAX_CONST];
	struct fw_cv_op ops[MAX_OPS];
	int n_act, n_cst, n_ops;
	uint64_t macs;
	int n_relu;
	char *err;
	size_t errlen;
};

static int b_act(struct builder *b, const char *name, int h, int w, int c, int *id)
{
	struct fw_cv_tensor *t;

	if (b->n_act == MAX_ACT)
		return terr(b->err, b->errlen, FW_EUNSUPPORTED, "internal: too many activations");
	t = &b->act[b->n_act];
	*t = (struct fw_cv_tensor){ .dtype = FW_DT_F32, .kind = FW_TK_ACTIVATION,
				    .dims = { 1, h, w, c } };
	t->name = strdup(name);
	if (!t->name)
		return terr(b->err, b->errlen, FW_ENOMEM, "out of memory");
	*id = b->n_act++;
	return 0;
}

/* Takes ownership of data. */
static int b_const(struct builder *b, const char *name, const int32_t d[4], float *data, int *id)
{
	struct fw_cv_tensor *t;

	if (!data)
		return terr(b->err, b->errlen, FW_ENOMEM, "out of memory");
	if (b->n_cst == MAX_CONST) {
		free(data);
		return terr(b->err, b->errlen, FW_EUNSUPPORTED, "internal: too many constants");
	}
	t = &b->cst[b->n_cst];
	*t = (struct fw_cv_tensor){ .dtype = FW_DT_F32, .kind = FW_TK_CONST,
				    .dims = { d[0], d[1], d[2], d[3] }, .data = data };
	t->name = strdup(name);
	b->n_cst++;
	if (!t->name)
		return terr(b->err, b->errlen, FW_ENOMEM, "out of memory");
	*id = CONST_BASE + b->n_cst - 1;
	return 0;
}

/* The weight `name` with exactly this TFJS shape (rank = number of dims). */
static const struct fw_tfjs_weight *b_weight(struct builder *b, const char *name, int rank,
					     int d0, int d1, int d2, int d3)
{
	const int32_t want[4] = { d0, d1, d2, d3 };

	for (int k = 0; k < b->W->n; k++) {
		const struct fw_tfjs_weight *w = &b->W->w[k];

		if (strcmp(w->name, name))
			continue;
		if (w->rank != rank || memcmp(w->shape, want, (size_t)rank * sizeof want[0])) {
			terr(b->err, b->errlen, FW_EUNSUPPORTED, "weight \"%s\" has shape [%d,%d,%d,%d]"
			     " (rank %d); face-api's landmark net has [%d,%d,%d,%d]", name,
			     w->shape[0], w->shape[1], w->shape[2], w->shape[3], w->rank, d0, d1, d2,
			     d3);
			return NULL;
		}
		return w;
	}
	terr(b->err, b->errlen, FW_EUNSUPPORTED, "no weight \"%s\": not face-api's 68-point "
	     "landmark net", name);
	return NULL;
}

static int b_op(struct builder *b, int type, int act, int n_in, const int *in, int out,
		const int32_t *p, int np)
{
	struct fw_cv_op *op;

	if (b->n_ops == MAX_OPS)
		return terr(b->err, b->errlen, FW_EUNSUPPORTED, "internal: too many ops");
	op = &b->ops[b->n_ops++];
	memset(op, 0, sizeof *op);
	op->type = (uint16_t)type;
	op->act = (uint16_t)act;
	op->n_in = (uint16_t)n_in;
	for (int k = 0; k < FW_MF_MAX_IN; k++)
		op->in[k] = k < n_in ? in[k] : -1;
	op->out = out;
	for (int k = 0; k < np; k++)
		op->p[k] = p[k];
	op->tflite_op = -1;
	if (act == FW_ACT_RELU)
		b->n_relu++;
	return 0;
}

/* TF "same" padding: the odd pixel goes after (bottom/right). */
static void same_pads(int in, int k, int s, int *before, int *after)
{
	int out = (in + s - 1) / s, total = (out - 1) * s + k - in;

	if (total < 0)
		total = 0;
	*before = total / 2;
	*after = total - total / 2;
}

/* A CONV2D/DWCONV2D with TF "same" padding, or "valid" (no padding) when
 * valid is set. */
static int b_window(struct builder *b, int type, int act, int x, int w, int bias, int k,
		    int stride, int valid, int out_c, int *y, const char *yname)
{
	const struct fw_cv_tensor *xt = &b->act[x];
	int in_h = xt->dims[1], in_w = xt->dims[2], pt, pb, pl, pr, err;
	int32_t p[FW_MF_MAX_PARAMS] = {0};
	int in[3] = { x, w, bias };

	pt = pb = pl = pr = 0;
	if (!valid) {
		same_pads(in_h, k, stride, &pt, &pb);
		same_pads(in_w, k, stride, &pl, &pr);
	}
	p[FW_P_KH] = p[FW_P_KW] = k;
	p[FW_P_SH] = p[FW_P_SW] = stride;
	p[FW_P_DH] = p[FW_P_DW] = 1;
	p[FW_P_PAD_T] = pt, p[FW_P_PAD_B] = pb, p[FW_P_PAD_L] = pl, p[FW_P_PAD_R] = pr;
	err = b_act(b, yname, (in_h + pt + pb - k) / stride + 1, (in_w + pl + pr - k) / stride + 1,
		    out_c, y);
	if (err)
		return err;
	b->macs += (uint64_t)b->act[*y].dims[1] * (uint64_t)b->act[*y].dims[2] * (uint64_t)out_c *
		   (uint64_t)k * (uint64_t)k * (type == FW_OP_CONV2D ? (uint64_t)xt->dims[3] : 1);
	return b_op(b, type, act, 3, in, *y, p, FW_MF_MAX_PARAMS);
}

/* bias [C] -> dims {1,1,1,C} */
static int b_bias(struct builder *b, const char *name, int c, int *id)
{
	const struct fw_tfjs_weight *w = b_weight(b, name, 1, c, 0, 0, 0);
	const int32_t d[4] = { 1, 1, 1, c };
	float *v;

	if (!w)
		return FW_EUNSUPPORTED;
	v = malloc((size_t)c * sizeof *v);
	if (v)
		memcpy(v, w->data, (size_t)c * sizeof *v);
	return b_const(b, name, d, v, id);
}

/* A regular conv: TF filters HWIO [k,k,ci,co] -> OHWI, bias, then y. */
static int b_conv(struct builder *b, const char *prefix, int x, int k, int stride, int co, int act,
		  int *y)
{
	char name[96], yname[96];
	int ci = b->act[x].dims[3], wid, bid, err;
	const struct fw_tfjs_weight *w;
	const int32_t d[4] = { co, k, k, ci };
	float *v;

	snprintf(name, sizeof name, "%s/filters", prefix);
	if (!(w = b_weight(b, name, 4, k, k, ci, co)))
		return FW_EUNSUPPORTED;
	v = malloc((size_t)co * k * k * ci * sizeof *v);
	if (v)
		for (int o = 0; o < co; o++)
			for (int ky = 0; ky < k; ky++)
				for (int kx = 0; kx < k; kx++)
					for (int i = 0; i < ci; i++)
						v[((o * k + ky) * k + kx) * ci + i] =
							w->data[((ky * k + kx) * ci + i) * co + o];
	if ((err = b_const(b, name, d, v, &wid)))
		return err;
	snprintf(name, sizeof name, "%s/bias", prefix);
	if ((err = b_bias(b, name, co, &bid)))
		return err;
	snprintf(yname, sizeof yname, "%s", prefix);
	return b_window(b, FW_OP_CONV2D, act, x, wid, bid, k, stride, 0, co, y, yname);
}

/* tf.separableConv2d (3x3 depthwise, no bias; 1x1 pointwise) + bias: a
 * DWCONV2D with a zero bias, then a 1x1 CONV2D carrying the bias. */
static int b_sepconv(struct builder *b, const char *prefix, int x, int stride, int co, int act,
		     int *y)
{
	char name[96], yname[96];
	int ci = b->act[x].dims[3], wid, bid, mid, err;
	const struct fw_tfjs_weight *w;
	const int32_t dd[4] = { 1, 3, 3, ci }, zd[4] = { 1, 1, 1, ci }, pd[4] = { co, 1, 1, ci };
	float *v;

	snprintf(name, sizeof name, "%s/depthwise_filter", prefix);
	if (!(w = b_weight(b, name, 4, 3, 3, ci, 1)))
		return FW_EUNSUPPORTED;
	/* [3,3,C,1] is already 1HWC in memory */
	v = malloc((size_t)9 * ci * sizeof *v);
	if (v)
		memcpy(v, w->data, (size_t)9 * ci * sizeof *v);
	if ((err = b_const(b, name, dd, v, &wid)))
		return err;
	snprintf(name, sizeof name, "%s/depthwise_bias", prefix);
	if ((err = b_const(b, name, zd, calloc((size_t)ci, sizeof(float)), &bid)))
		return err;
	snprintf(yname, sizeof yname, "%s/depthwise", prefix);
	if ((err = b_window(b, FW_OP_DWCONV2D, FW_ACT_NONE, x, wid, bid, 3, stride, 0, ci, &mid,
			    yname)))
		return err;

	snprintf(name, sizeof name, "%s/pointwise_filter", prefix);
	if (!(w = b_weight(b, name, 4, 1, 1, ci, co)))
		return FW_EUNSUPPORTED;
	v = malloc((size_t)co * ci * sizeof *v);
	if (v)
		for (int o = 0; o < co; o++)
			for (int i = 0; i < ci; i++)
				v[o * ci + i] = w->data[i * co + o];
	if ((err = b_const(b, name, pd, v, &wid)))
		return err;
	snprintf(name, sizeof name, "%s/bias", prefix);
	if ((err = b_bias(b, name, co, &bid)))
		return err;
	snprintf(yname, sizeof yname, "%s", prefix);
	return b_window(b, FW_OP_CONV2D, act, mid, wid, bid, 1, 1, 0, co, y, yname);
}

static int b_add(struct builder *b, int a, int c, int act, const char *name, int *y)
{
	const int32_t *d = b->act[a].dims;
	int in[2] = { a, c }, err;

	if ((err = b_act(b, name, d[1], d[2], d[3], y)))
		return err;
	return b_op(b, FW_OP_ADD, act, 2, in, *y, NULL, 0);
}

/* denseBlock4: out1 = relu(conv0(x)) (stride 2); out2 = sep1(out1);
 * out3 = sep2(relu(out1 + out2)); out4 = sep3(relu(out1 + (out2 + out3)));
 * y = relu(out1 + (out2 + (out3 + out4))). Sums in face-api's order. */
static int b_dense(struct builder *b, int blk, int x, int co, int *y)
{
	char p[64], n[64];
	int o1, o2, o3, o4, s23, in3, in4, s34, s234, err;

	snprintf(p, sizeof p, "dense%d/conv0", blk);
	err = blk == 0 ? b_conv(b, p, x, 3, 2, co, FW_ACT_RELU, &o1)
		       : b_sepconv(b, p, x, 2, co, FW_ACT_RELU, &o1);
	if (err)
		return err;
	snprintf(p, sizeof p, "dense%d/conv1", blk);
	if ((err = b_sepconv(b, p, o1, 1, co, FW_ACT_NONE, &o2)))
		return err;
	snprintf(n, sizeof n, "dense%d/in2", blk);
	if ((err = b_add(b, o1, o2, FW_ACT_RELU, n, &in3)))
		return err;
	snprintf(p, sizeof p, "dense%d/conv2", blk);
	if ((err = b_sepconv(b, p, in3, 1, co, FW_ACT_NONE, &o3)))
		return err;
	snprintf(n, sizeof n, "dense%d/sum23", blk);
	if ((err = b_add(b, o2, o3, FW_ACT_NONE, n, &s23)))
		return err;
	snprintf(n, sizeof n, "dense%d/in3", blk);
	if ((err = b_add(b, o1, s23, FW_ACT_RELU, n, &in4)))
		return err;
	snprintf(p, sizeof p, "dense%d/conv3", blk);
	if ((err = b_sepconv(b, p, in4, 1, co, FW_ACT_NONE, &o4)))
		return err;
	snprintf(n, sizeof n, "dense%d/sum34", blk);
	if ((err = b_add(b, o3, o4, FW_ACT_NONE, n, &s34)))
		return err;
	snprintf(n, sizeof n, "dense%d/sum234", blk);
	if ((err = b_add(b, o2, s34, FW_ACT_NONE, n, &s234)))
		return err;
	snprintf(n, sizeof n, "dense%d/out", blk);
	return b_add(b, o1, s234, FW_ACT_RELU, n, y);
}

static void b_free(struct builder *b)
{
	for (int k = 0; k < b->n_act; k++)
		free(b->act[k].name);
	for (int k = 0; k < b->n_cst; k++) {
		free(b->cst[k].name);
		free(b->cst[k].data);
	}
}

int fw_tfjs_lower_landmarks68(const struct fw_tfjs_weights *W, struct fw_cv_graph **out,
			      char *err, size_t errlen)
{
	static const int widths[4] = { 32, 64, 128, 256 };
	struct builder *b = calloc(1, sizeof *b);
	struct fw_cv_graph *g = NULL;
	const struct fw_tfjs_weight *w;
	int x, y, pool, wid, bid, ret;
	const int32_t pd[4] = { 1, 7, 7, 256 }, fd[4] = { 1, 1, 136, 256 };
	int32_t p[FW_MF_MAX_PARAMS] = {0};
	float *v;

	*out = NULL;
	if (!b)
		return terr(err, errlen, FW_ENOMEM, "out of memory");
	b->W = W;
	b->err = err;
	b->errlen = errlen;
	/* 112x112 RGB, (px - mean_rgb) / 255 (normalisation left to the caller) */
	if ((ret = b_act(b, "input", 112, 112, 3, &x)))
		goto fail;
	b->act[x].kind = FW_TK_INPUT;
	for (int blk = 0; blk < 4; blk++) {
		if ((ret = b_dense(b, blk, x, widths[blk], &y)))
			goto fail;
		x = y;
	}
	/* tf.avgPool 7x7 "valid" over the 7x7 map = a 7x7 depthwise conv with
	 * weights 1/49: no new runtime op */
	v = malloc((size_t)49 * 256 * sizeof *v);
	if (v)
		for (int k = 0; k < 49 * 256; k++)
			v[k] = 1.0f / 49.0f;
	if ((ret = b_const(b, "avgpool/weights", pd, v, &wid)))
		goto fail;
	if ((ret = b_const(b, "avgpool/bias", (const int32_t[4]){ 1, 1, 1, 256 },
			   calloc(256, sizeof(float)), &bid)))
		goto fail;
	if (b->act[x].dims[1] != 7 || b->act[x].dims[2] != 7) {
		ret = terr(err, errlen, FW_EUNSUPPORTED, "internal: pool input is not 7x7");
		goto fail;
	}
	/* avgPool's stride (2) is moot: one 7x7 window covers the 7x7 map; 7 kept */
	if ((ret = b_window(b, FW_OP_DWCONV2D, FW_ACT_NONE, x, wid, bid, 7, 7, 1, 256, &pool,
			    "avgpool")))
		goto fail;
	/* fc: x[1,256] @ W[256,136] + b -> FC weights [O=136, I=256] */
	if (!(w = b_weight(b, "fc/weights", 2, 256, 136, 0, 0))) {
		ret = FW_EUNSUPPORTED;
		goto fail;
	}
	v = malloc((size_t)136 * 256 * sizeof *v);
	if (v)
		for (int o = 0; o < 136; o++)
			for (int i = 0; i < 256; i++)
				v[o * 256 + i] = w->data[i * 136 + o];
	if ((ret = b_const(b, "fc/weights", fd, v, &wid)))
		goto fail;
	if ((ret = b_bias(b, "fc/bias", 136, &bid)))
		goto fail;
	if ((ret = b_act(b, "landmarks", 1, 1, 136, &y)))
		goto fail;
	if ((ret = b_op(b, FW_OP_FC, FW_ACT_NONE, 3, (const int[3]){ pool, wid, bid }, y, p, 0)))
		goto fail;
	b->macs += 136 * 256;
	/* every weight of the manifest must have been used */
	for (int k = 0; k < W->n; k++) {
		int used = 0;

		for (int c = 0; c < b->n_cst && !used; c++)
			used = !strcmp(b->cst[c].name, W->w[k].name);
		if (!used) {
			ret = terr(err, errlen, FW_EUNSUPPORTED, "weight \"%s\" has no place in "
				   "face-api's landmark net", W->w[k].name);
			goto fail;
		}
	}

	/* number: activations (input first, then op outputs in order: the
	 * builder made them in that order), then constants */
	g = calloc(1, sizeof *g);
	if (!g || !(g->tensors = calloc((size_t)(b->n_act + b->n_cst), sizeof *g->tensors)) ||
	    !(g->ops = calloc((size_t)b->n_ops, sizeof *g->ops)) ||
	    !(g->inputs = malloc(sizeof *g->inputs)) || !(g->outputs = malloc(sizeof *g->outputs))) {
		ret = terr(err, errlen, FW_ENOMEM, "out of memory");
		goto fail;
	}
	for (int k = 0; k < b->n_act; k++)
		g->tensors[k] = b->act[k];
	for (int k = 0; k < b->n_cst; k++) {
		g->tensors[b->n_act + k] = b->cst[k];
		g->params += (uint64_t)b->cst[k].dims[0] * (uint64_t)b->cst[k].dims[1] *
			     (uint64_t)b->cst[k].dims[2] * (uint64_t)b->cst[k].dims[3];
	}
	g->n_tensors = b->n_act + b->n_cst;
	for (int o = 0; o < b->n_ops; o++) {
		g->ops[o] = b->ops[o];
		for (int k = 0; k < g->ops[o].n_in; k++)
			if (g->ops[o].in[k] >= CONST_BASE)
				g->ops[o].in[k] += b->n_act - CONST_BASE;
	}
	g->n_ops = b->n_ops;
	g->inputs[0] = 0;
	g->outputs[0] = y;
	g->n_inputs = g->n_outputs = 1;
	g->macs = b->macs;
	g->n_relu = b->n_relu;
	b->n_act = b->n_cst = 0; /* the names and data belong to g now */
	*out = g;
	g = NULL;
	ret = 0;
fail:
	b_free(b);
	free(b);
	if (ret)
		fw_cv_free(g);
	return ret;
}
