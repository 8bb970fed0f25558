/* Lowering: TFLite operators -> the facewatch op set.
 *
 * One pass over the operators in execution order. Every operator either
 * becomes one facewatch op, or is folded into one (DEQUANTIZE of a float16
 * constant, a RELU after its producer, the PReLU and softmax expansions), or
 * stops the conversion with an error naming it. Nothing is dropped silently.
 *
 * Shapes: facewatch tensors are rank 4, NHWC, lower ranks right-aligned
 * ([1,896,16] -> [1,1,896,16]). Activations have N = 1; a model whose batch
 * is fixed at N > 1 (MobileFaceNet: 2) is rewritten to 1 with --batch1 by
 * replacing the leading dimension of every activation, which must be N.
 */
#include "convert.h"

#include "core/fw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_CV_MAX_DIM (1 << 24)
#define FW_CV_MAX_ELEMS (1u << 28) /* per tensor: 1 GiB of float32 */

struct lower {
	const struct fw_tfl_model *m;
	const struct fw_cv_options *opt;
	char *err;
	size_t errlen;
	int batch;          /* leading dimension of the model input */
	int *producer;      /* tensor -> op writing it, -1 */
	int *cons_start;    /* tensor -> first entry in cons[] */
	int *n_cons;        /* tensor -> consumer count, one per (op, input slot) */
	int *cons;          /* consuming op indices, grouped by tensor, in op order */
	uint8_t *is_input, *is_output;
	uint8_t *handled;   /* op -> already lowered or folded */
	float **cval;       /* tensor -> float32 constant values once read */
	int *map;           /* tensor -> graph tensor id, -1 */
	struct fw_cv_graph *g;
	int cap_tensors, cap_ops;
};

static const struct fw_tfl_op *tfl_op(const struct lower *L, int i)
{
	return &L->m->ops[i];
}

static const char *tname(const struct lower *L, int t)
{
	return L->m->tensors[t].name[0] ? L->m->tensors[t].name : "(unnamed)";
}

__attribute__((format(printf, 3, 4)))
static int lerr(struct lower *L, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(L->err, L->errlen, fmt, ap);
	va_end(ap);
	return err;
}

/* An error about TFLite operator i: "op 12 (CONV_2D): ..." */
__attribute__((format(printf, 4, 5)))
static int op_err(struct lower *L, int err, int i, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (tfl_op(L, i)->code == FW_TFL_CUSTOM && tfl_op(L, i)->custom_code)
		return lerr(L, err, "op %d (CUSTOM \"%s\"): %s", i, tfl_op(L, i)->custom_code, msg);
	return lerr(L, err, "op %d (%s): %s", i, fw_tfl_op_name(tfl_op(L, i)->code), msg);
}

static const char *act_name(int act)
{
	static const char *const names[] = { "NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT" };

	return act >= 0 && act < 6 ? names[act] : "unknown";
}

const char *fw_cv_op_name(int type)
{
	switch (type) {
	case FW_OP_CONV2D: return "CONV2D";
	case FW_OP_DWCONV2D: return "DWCONV2D";
	case FW_OP_ADD: return "ADD";
	case FW_OP_MAXPOOL: return "MAXPOOL";
	case FW_OP_PAD: return "PAD";
	case FW_OP_RESIZE_BILINEAR: return "RESIZE_BILINEAR";
	case FW_OP_RESHAPE: return "RESHAPE";
	case FW_OP_CONCAT: return "CONCAT";
	case FW_OP_FC: return "FC";
	case FW_OP_SOFTMAX: return "SOFTMAX";
	default: return "?";
	}
}

/* ---- tensors ------------------------------------------------------------ */

static int is_const(const struct lower *L, int t)
{
	return L->m->tensors[t].data != NULL || L->cval[t] != NULL;
}

/* Right-align a TFLite shape into 4 dims; checks every dim and the size. */
static int shape4(struct lower *L, int t, const int32_t *shape, int rank, int32_t d[4])
{
	uint64_t n = 1;

	if (rank > 4)
		return lerr(L, FW_EUNSUPPORTED, "tensor %d \"%s\" has rank %d (at most 4 supported)",
			    t, tname(L, t), rank);
	for (int k = 0; k < 4; k++)
		d[k] = 1;
	for (int k = 0; k < rank; k++) {
		if (shape[k] < 1 || shape[k] > FW_CV_MAX_DIM)
			return lerr(L, FW_EFORMAT, "tensor %d \"%s\" has dimension %d = %d",
				    t, tname(L, t), k, shape[k]);
		d[k + 4 - rank] = shape[k];
		n *= (uint64_t)shape[k];
		if (n > FW_CV_MAX_ELEMS)
			return lerr(L, FW_EUNSUPPORTED, "tensor %d \"%s\" is too large", t, tname(L, t));
	}
	return 0;
}

static uint64_t count4(const int32_t d[4])
{
	return (uint64_t)d[0] * (uint64_t)d[1] * (uint64_t)d[2] * (uint64_t)d[3];
}

/* Dims of an activation, with the batch rewrite applied. */
static int act_dims(struct lower *L, int t, int32_t d[4])
{
	const struct fw_tfl_tensor *ten = &L->m->tensors[t];
	int32_t shape[FW_TFL_MAX_RANK];
	int err;

	memcpy(shape, ten->shape, sizeof shape);
	if (L->opt->batch1 && L->batch > 1 && ten->rank >= 1) {
		if (shape[0] != L->batch)
			return lerr(L, FW_EUNSUPPORTED,
				    "--batch1: tensor %d \"%s\" has leading dimension %d, not the "
				    "model batch %d, so it cannot be rewritten",
				    t, tname(L, t), shape[0], L->batch);
		shape[0] = 1;
	}
	err = shape4(L, t, shape, ten->rank, d);
	if (err)
		return err;
	if (d[0] != 1)
		return lerr(L, FW_EUNSUPPORTED,
			    "tensor %d \"%s\" has batch %d; the runtime runs batch 1 "
			    "(pass --batch1 to rewrite a fixed batch)", t, tname(L, t), d[0]);
	return 0;
}

static int grow(void **p, int *cap, int need, size_t size)
{
	void *q;
	int n;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	q = realloc(*p, (size_t)n * size);
	if (!q)
		return FW_ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Adds a graph tensor; takes ownership of data (freed here on failure). */
static int new_tensor(struct lower *L, int kind, const int32_t d[4], const char *name, float *data,
		      int *id)
{
	struct fw_cv_graph *g = L->g;
	struct fw_cv_tensor *ten;

	if (grow((void **)&g->tensors, &L->cap_tensors, g->n_tensors + 1, sizeof *g->tensors)) {
		free(data);
		return lerr(L, FW_ENOMEM, "out of memory");
	}
	ten = &g->tensors[g->n_tensors];
	memset(ten, 0, sizeof *ten);
	ten->dtype = FW_DT_F32;
	ten->kind = (uint8_t)kind;
	memcpy(ten->dims, d, sizeof ten->dims);
	ten->data = data;
	ten->name = strdup(name);
	if (!ten->name) {
		free(data);
		return lerr(L, FW_ENOMEM, "out of memory");
	}
	*id = g->n_tensors++;
	return 0;
}

/* Graph id of activation (or model input) t, created on first use. */
static int act_id(struct lower *L, int t, int *id)
{
	const struct fw_tfl_tensor *ten = &L->m->tensors[t];
	int32_t d[4];
	int err;

	if (L->map[t] >= 0) {
		*id = L->map[t];
		return 0;
	}
	if (is_const(L, t))
		return lerr(L, FW_EUNSUPPORTED, "tensor %d \"%s\" is a constant where an activation "
			    "is expected", t, tname(L, t));
	if (ten->type != FW_TFL_FLOAT32 || ten->quantized)
		return lerr(L, FW_EUNSUPPORTED, "activation %d \"%s\" is %s%s; only float32 models "
			    "are converted", t, tname(L, t), fw_tfl_type_name(ten->type),
			    ten->quantized ? " (quantised)" : "");
	err = act_dims(L, t, d);
	if (err)
		return err;
	err = new_tensor(L, L->is_input[t] ? FW_TK_INPUT : FW_TK_ACTIVATION, d, ten->name, NULL, id);
	if (err)
		return err;
	L->map[t] = *id;
	return 0;
}

/* float16 -> float32, exact for every value: normals, subnormals, zeros,
 * infinities and NaN payloads. */
static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = h >> 10 & 0x1f, mant = h & 0x3ff, bits;
	float f;

	if (exp == 0x1f) {
		bits = sign | 0x7f800000u | mant << 13;
	} else if (exp) {
		bits = sign | (exp - 15 + 127) << 23 | mant << 13;
	} else if (mant) {
		/* subnormal: mant * 2^-24; shift the leading one into the implicit bit */
		int e = -14;

		while (!(mant & 0x400)) {
			mant <<= 1;
			e--;
		}
		bits = sign | (uint32_t)(e + 127) << 23 | (mant & 0x3ff) << 13;
	} else {
		bits = sign;
	}
	memcpy(&f, &bits, sizeof f);
	return f;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Element count of a constant, checking its bytes match its shape. */
static int const_count(struct lower *L, int t, size_t elsize, size_t *n)
{
	const struct fw_tfl_tensor *ten = &L->m->tensors[t];
	uint64_t c = 1;

	for (int k = 0; k < ten->rank; k++) {
		if (ten->shape[k] < 0)
			return lerr(L, FW_EFORMAT, "constant %d \"%s\" has dimension %d = %d",
				    t, tname(L, t), k, ten->shape[k]);
		c *= (uint64_t)ten->shape[k];
		if (c > FW_CV_MAX_ELEMS)
			return lerr(L, FW_EUNSUPPORTED, "constant %d \"%s\" is too large", t, tname(L, t));
	}
	if (ten->sparse)
		return lerr(L, FW_EUNSUPPORTED, "constant %d \"%s\" is sparse (DENSIFY models are "
			    "not supported)", t, tname(L, t));
	if (ten->data_size != c * elsize)
		return lerr(L, FW_EFORMAT, "constant %d \"%s\" holds %zu bytes, its shape needs %llu",
			    t, tname(L, t), ten->data_size, (unsigned long long)(c * elsize));
	*n = (size_t)c;
	return 0;
}

/* Float32 values of constant t (a float32 tensor or a folded DEQUANTIZE). */
static int const_f32(struct lower *L, int t, const float **v, size_t *n)
{
	const struct fw_tfl_tensor *ten = &L->m->tensors[t];
	int err;

	if (!L->cval[t]) {
		if (!ten->data)
			return lerr(L, FW_EUNSUPPORTED, "tensor %d \"%s\" is not a constant", t, tname(L, t));
		if (ten->type != FW_TFL_FLOAT32 || ten->quantized)
			return lerr(L, FW_EUNSUPPORTED, "constant %d \"%s\" is %s%s; only float32 and "
				    "float16 weights are converted", t, tname(L, t),
				    fw_tfl_type_name(ten->type), ten->quantized ? " (quantised)" : "");
		err = const_count(L, t, 4, n);
		if (err)
			return err;
		L->cval[t] = malloc(*n ? *n * sizeof(float) : 1);
		if (!L->cval[t])
			return lerr(L, FW_ENOMEM, "out of memory");
		for (size_t k = 0; k < *n; k++) {
			uint32_t bits = rd32(ten->data + 4 * k);

			memcpy(&L->cval[t][k], &bits, sizeof(float));
		}
	}
	*v = L->cval[t];
	*n = 1;
	for (int k = 0; k < ten->rank; k++)
		*n *= (size_t)ten->shape[k];
	return 0;
}

/* Integer constant (INT32 or INT64) with at most max values. */
static int const_int(struct lower *L, int t, int64_t *v, size_t max, size_t *n)
{
	const struct fw_tfl_tensor *ten = &L->m->tensors[t];
	size_t elsize;
	int err;

	if (!ten->data)
		return lerr(L, FW_EUNSUPPORTED, "tensor %d \"%s\" must be a constant", t, tname(L, t));
	if (ten->type != FW_TFL_INT32 && ten->type != FW_TFL_INT64)
		return lerr(L, FW_EUNSUPPORTED, "constant %d \"%s\" is %s, expected INT32 or INT64",
			    t, tname(L, t), fw_tfl_type_name(ten->type));
	elsize = ten->type == FW_TFL_INT32 ? 4 : 8;
	err = const_count(L, t, elsize, n);
	if (err)
		return err;
	if (*n > max)
		return lerr(L, FW_EUNSUPPORTED, "constant %d \"%s\" has %zu values (at most %zu)",
			    t, tname(L, t), *n, max);
	for (size_t k = 0; k < *n; k++)
		v[k] = elsize == 4 ? (int64_t)(int32_t)rd32(ten->data + 4 * k)
				   : (int64_t)((uint64_t)rd32(ten->data + 8 * k) |
					       (uint64_t)rd32(ten->data + 8 * k + 4) << 32);
	return 0;
}

/* A float constant copied into the graph with the given dims (product must
 * match the element count). */
static int const_id(struct lower *L, int t, const int32_t d[4], int *id)
{
	const float *v;
	float *copy;
	size_t n;
	int err;

	if (L->map[t] >= 0) {
		const int32_t *have = L->g->tensors[L->map[t]].dims;

		if (memcmp(have, d, 4 * sizeof *d))
			return lerr(L, FW_EUNSUPPORTED, "constant %d \"%s\" is used with two layouts",
				    t, tname(L, t));
		*id = L->map[t];
		return 0;
	}
	err = const_f32(L, t, &v, &n);
	if (err)
		return err;
	if (n != count4(d))
		return lerr(L, FW_EFORMAT, "constant %d \"%s\" has %zu values, expected %llu",
			    t, tname(L, t), n, (unsigned long long)count4(d));
	copy = malloc(n * sizeof *copy);
	if (!copy)
		return lerr(L, FW_ENOMEM, "out of memory");
	memcpy(copy, v, n * sizeof *copy);
	err = new_tensor(L, FW_TK_CONST, d, L->m->tensors[t].name, copy, id);
	if (err)
		return err;
	L->map[t] = *id;
	return 0;
}

static int emit(struct lower *L, int i, int type, int act, int n_in, const int32_t *in, int out,
		const int32_t *p)
{
	struct fw_cv_graph *g = L->g;
	struct fw_cv_op *op;

	if (n_in > FW_MF_MAX_IN)
		return op_err(L, FW_EUNSUPPORTED, i, "%d inputs (at most %d)", n_in, FW_MF_MAX_IN);
	if (grow((void **)&g->ops, &L->cap_ops, g->n_ops + 1, sizeof *g->ops))
		return lerr(L, FW_ENOMEM, "out of memory");
	op = &g->ops[g->n_ops++];
	memset(op, 0, sizeof *op);
	op->type = (uint16_t)type;
	op->act = (uint16_t)act;
	op->n_in = (uint16_t)n_in;
	for (int k = 0; k < FW_MF_MAX_IN; k++)
		op->in[k] = k < n_in ? in[k] : -1;
	op->out = out;
	if (p)
		memcpy(op->p, p, sizeof op->p);
	op->tflite_op = i;
	return 0;
}

static void add_macs(struct lower *L, uint64_t a, uint64_t b)
{
	/* saturate: a hostile file must not wrap the summary */
	if (b && a > (UINT64_MAX - L->g->macs) / b)
		L->g->macs = UINT64_MAX;
	else
		L->g->macs += a * b;
}

/* ---- checks shared by the op lowerings ---------------------------------- */

static int want(struct lower *L, int i, int min_in, int max_in)
{
	const struct fw_tfl_op *op = tfl_op(L, i);

	if (op->n_in < min_in || op->n_in > max_in || op->n_out != 1)
		return op_err(L, FW_EUNSUPPORTED, i, "has %d inputs and %d outputs, expected %d..%d "
			      "inputs and 1 output", op->n_in, op->n_out, min_in, max_in);
	for (int k = 0; k < min_in; k++)
		if (op->in[k] < 0)
			return op_err(L, FW_EFORMAT, i, "required input %d is absent", k);
	return 0;
}

/* The options table must be the one the op code implies (or absent). */
static int want_options(struct lower *L, int i, int type)
{
	int have = tfl_op(L, i)->opt.type;

	if (have != FW_TFL_OPT_NONE && have != type)
		return op_err(L, FW_EFORMAT, i, "carries options of union type %d, expected %d",
			      have, type);
	return 0;
}

static int want_act(struct lower *L, int i, int allow_relu)
{
	int act = tfl_op(L, i)->opt.act;

	if (act == FW_TFL_ACT_NONE || (allow_relu && act == FW_TFL_ACT_RELU))
		return 0;
	return op_err(L, FW_EUNSUPPORTED, i, "fused activation %s is not supported%s",
		      act_name(act), allow_relu ? " (only NONE and RELU)" : " here");
}

static int same_dims(const int32_t a[4], const int32_t b[4])
{
	return !memcmp(a, b, 4 * sizeof *a);
}

/* TFLite SAME / VALID geometry along one axis; checks the stored output size. */
static int geometry(struct lower *L, int i, const char *axis, int in, int k, int stride, int dil,
		    int out, int32_t *before, int32_t *after)
{
	int padding = tfl_op(L, i)->opt.padding;
	int64_t eff, want_out, total = 0;

	if (k < 1 || stride < 1 || stride > 1 << 16 || dil < 1 || dil > 1 << 16)
		return op_err(L, FW_EFORMAT, i, "%s: kernel %d, stride %d, dilation %d", axis, k,
			      stride, dil);
	eff = (int64_t)(k - 1) * dil + 1;
	if (padding == FW_TFL_PAD_SAME) {
		want_out = ((int64_t)in + stride - 1) / stride;
		total = (want_out - 1) * stride + eff - in;
		if (total < 0)
			total = 0;
	} else if (padding == FW_TFL_PAD_VALID) {
		if (eff > in)
			return op_err(L, FW_EFORMAT, i, "%s: VALID kernel extent %lld exceeds input %d",
				      axis, (long long)eff, in);
		want_out = (in - eff) / stride + 1;
	} else {
		return op_err(L, FW_EFORMAT, i, "unknown padding mode %d", padding);
	}
	if (want_out != out)
		return op_err(L, FW_EFORMAT, i, "%s: output is %d, but input %d, kernel %d, stride %d, "
			      "dilation %d and %s padding give %lld", axis, out, in, k, stride, dil,
			      padding == FW_TFL_PAD_SAME ? "SAME" : "VALID", (long long)want_out);
	if (total > FW_CV_MAX_DIM)
		return op_err(L, FW_EFORMAT, i, "%s: padding %lld", axis, (long long)total);
	/* TFLite puts the odd row/column after: before = total/2 */
	*before = (int32_t)(total / 2);
	*after = (int32_t)(total - total / 2);
	return 0;
}

/* The one consumer of t, if t has exactly one use, is not a model output,
 * and that op is not lowered yet; else -1. */
static int sole_consumer(const struct lower *L, int t)
{
	int c;

	if (L->is_output[t] || L->n_cons[t] != 1)
		return -1;
	c = L->cons[L->cons_start[t]];
	return L->handled[c] ? -1 : c;
}

/* Op c is code with n_in inputs, one output, and no fused activation. */
static int is_op(const struct lower *L, int c, int code, int n_in)
{
	const struct fw_tfl_op *op;

	if (c < 0)
		return 0;
	op = tfl_op(L, c);
	return op->code == code && op->n_in == n_in && op->n_out == 1 &&
	       op->opt.act == FW_TFL_ACT_NONE && !L->handled[c];
}

/* Tensors a and b have the same TFLite shape: the expansions matched below
 * are element-wise only if no operand broadcasts. */
static int same_shape(const struct lower *L, int a, int b)
{
	const struct fw_tfl_tensor *x = &L->m->tensors[a], *y = &L->m->tensors[b];

	return x->rank == y->rank && !memcmp(x->shape, y->shape, (size_t)x->rank * sizeof *x->shape);
}

/* Per-channel constant c for a tensor with C channels: C values (or one,
 * broadcast) laid out along the last axis only. Returns C values in *out. */
static int channel_const(struct lower *L, int i, int t, int C, float **out)
{
	const struct fw_tfl_tensor *ten = &L->m->tensors[t];
	const float *v;
	size_t n;
	int err = const_f32(L, t, &v, &n);

	*out = NULL;
	if (err)
		return err;
	for (int k = 0; k + 1 < ten->rank; k++)
		if (ten->shape[k] != 1)
			n = 0; /* not a per-channel layout */
	if (n != (size_t)C && n != 1)
		return op_err(L, FW_EUNSUPPORTED, i, "constant %d \"%s\" is not one value per "
			      "channel (%d channels)", t, tname(L, t), C);
	*out = malloc((size_t)C * sizeof **out);
	if (!*out)
		return lerr(L, FW_ENOMEM, "out of memory");
	for (int k = 0; k < C; k++)
		(*out)[k] = v[n == 1 ? 0 : k];
	return 0;
}

/* ---- epilogue fusion ----------------------------------------------------- */

/* A RELU that is the only consumer of *t (and *t not a model output) is
 * folded into the producer: *t becomes the RELU's output. */
static int fuse_relu(struct lower *L, int *t)
{
	int c = sole_consumer(L, *t);

	if (!is_op(L, c, FW_TFL_RELU, 1) || tfl_op(L, c)->in[0] != *t)
		return 0;
	L->handled[c] = 1;
	*t = tfl_op(L, c)->out[0];
	return 1;
}

__attribute__((format(printf, 4, 5)))
static int prelu_mismatch(struct lower *L, int i, const char *form, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return op_err(L, FW_EUNSUPPORTED, i, "its output looks like a PReLU expansion %s but %s",
		      form, msg);
}

/* MobileFaceNet's PReLU:  y = relu(x) + c * (x - |x|)
 *   x >= 0: x + c*0 = x;   x < 0: 0 + c*(x - (-x)) = 2c * x   => slope = 2c
 * as RELU(x), ABS(x), SUB(x, abs), MUL(c, sub), ADD(relu, mul). MUL and ADD
 * operands may come in either order; SUB(|x|, x) would give slope -2c.
 * Returns 1 and the output tensor / slope values on a match, 0 if x does not
 * feed an ABS, or an error if it does but the rest differs. */
static int match_prelu_abs(struct lower *L, int i, int x, int C, int *y, float **slope, int *cname)
{
	const int *c = L->cons + L->cons_start[x];
	const char *form = "relu(x) + c*(x - |x|)";
	int n = L->n_cons[x], r = -1, a = -1, s = -1, mu, ad, ta, ts, tm, tr, sign, k_other, cst;
	int uses_abs = 0, err;

	*slope = NULL;
	for (int k = 0; k < n; k++)
		uses_abs |= tfl_op(L, c[k])->code == FW_TFL_ABS;
	if (!uses_abs)
		return 0;
	if (L->is_output[x] || n != 3)
		return prelu_mismatch(L, i, form, "the output has %d uses%s (expected RELU, ABS, SUB)",
				      n, L->is_output[x] ? " and is a model output" : "");
	for (int k = 0; k < n; k++) {
		int code = tfl_op(L, c[k])->code;

		if (code == FW_TFL_RELU && r < 0)
			r = c[k];
		else if (code == FW_TFL_ABS && a < 0)
			a = c[k];
		else if (code == FW_TFL_SUB && s < 0)
			s = c[k];
		else
			return prelu_mismatch(L, i, form, "it feeds op %d (%s)", c[k],
					      fw_tfl_op_name(code));
	}
	if (r < 0 || a < 0 || s < 0)
		return prelu_mismatch(L, i, form, "RELU, ABS and SUB are not all among its uses");
	if (!is_op(L, a, FW_TFL_ABS, 1) || tfl_op(L, a)->in[0] != x)
		return prelu_mismatch(L, i, form, "op %d (ABS) is not ABS(x)", a);
	if (!is_op(L, r, FW_TFL_RELU, 1) || tfl_op(L, r)->in[0] != x)
		return prelu_mismatch(L, i, form, "op %d (RELU) is not RELU(x)", r);
	ta = tfl_op(L, a)->out[0];
	if (sole_consumer(L, ta) != s || !is_op(L, s, FW_TFL_SUB, 2))
		return prelu_mismatch(L, i, form, "|x| is not used only by op %d (SUB)", s);
	if (tfl_op(L, s)->in[0] == x && tfl_op(L, s)->in[1] == ta)
		sign = 1;
	else if (tfl_op(L, s)->in[0] == ta && tfl_op(L, s)->in[1] == x)
		sign = -1;
	else
		return prelu_mismatch(L, i, form, "op %d is not SUB(x, |x|)", s);
	ts = tfl_op(L, s)->out[0];
	mu = sole_consumer(L, ts);
	if (!is_op(L, mu, FW_TFL_MUL, 2))
		return prelu_mismatch(L, i, form, "x - |x| is not used only by a MUL");
	k_other = tfl_op(L, mu)->in[0] == ts ? 1 : 0;
	cst = tfl_op(L, mu)->in[k_other];
	if (tfl_op(L, mu)->in[1 - k_other] != ts || cst < 0 || !is_const(L, cst))
		return prelu_mismatch(L, i, form, "op %d (MUL) is not MUL(constant, x - |x|)", mu);
	tm = tfl_op(L, mu)->out[0];
	tr = tfl_op(L, r)->out[0];
	ad = sole_consumer(L, tm);
	if (!is_op(L, ad, FW_TFL_ADD, 2) || sole_consumer(L, tr) != ad)
		return prelu_mismatch(L, i, form, "relu(x) and c*(x - |x|) do not meet in one ADD "
				      "without activation");
	if (!((tfl_op(L, ad)->in[0] == tr && tfl_op(L, ad)->in[1] == tm) ||
	      (tfl_op(L, ad)->in[0] == tm && tfl_op(L, ad)->in[1] == tr)))
		return prelu_mismatch(L, i, form, "op %d (ADD) does not add relu(x) and c*(x - |x|)", ad);
	if (!same_shape(L, x, ta) || !same_shape(L, x, ts) || !same_shape(L, x, tm) ||
	    !same_shape(L, x, tr) || !same_shape(L, x, tfl_op(L, ad)->out[0]))
		return prelu_mismatch(L, i, form, "an intermediate tensor changes the shape");
	err = channel_const(L, mu, cst, C, slope);
	if (err)
		return err;
	for (int k = 0; k < C; k++)
		(*slope)[k] = (float)sign * 2.0f * (*slope)[k]; /* exact: scaling by 2 */
	L->handled[r] = L->handled[a] = L->handled[s] = L->handled[mu] = L->handled[ad] = 1;
	*y = tfl_op(L, ad)->out[0];
	*cname = cst;
	return 1;
}

/* O-Net's PReLU:  y = relu(x) + alpha * (-relu(-x))
 *   x >= 0: x + alpha*(-0) = x;   x < 0: 0 + alpha*(-(-x)) = alpha * x   => slope = alpha
 * as RELU(x), NEG(x), RELU(neg), NEG(relu1), MUL(alpha, neg1), ADD(relu, mul).
 * Same return convention as match_prelu_abs(). */
static int match_prelu_neg(struct lower *L, int i, int x, int C, int *y, float **slope, int *cname)
{
	const int *c = L->cons + L->cons_start[x];
	const char *form = "relu(x) + alpha*(-relu(-x))";
	int n = L->n_cons[x], r = -1, n1 = -1, r1, n2, mu, ad, t1, t2, t3, tm, tr, k_other, cst;
	int uses_neg = 0, err;

	*slope = NULL;
	for (int k = 0; k < n; k++)
		uses_neg |= tfl_op(L, c[k])->code == FW_TFL_NEG;
	if (!uses_neg)
		return 0;
	if (L->is_output[x] || n != 2)
		return prelu_mismatch(L, i, form, "the output has %d uses%s (expected RELU, NEG)",
				      n, L->is_output[x] ? " and is a model output" : "");
	for (int k = 0; k < n; k++) {
		int code = tfl_op(L, c[k])->code;

		if (code == FW_TFL_RELU && r < 0)
			r = c[k];
		else if (code == FW_TFL_NEG && n1 < 0)
			n1 = c[k];
		else
			return prelu_mismatch(L, i, form, "it feeds op %d (%s)", c[k],
					      fw_tfl_op_name(code));
	}
	if (r < 0 || n1 < 0 || !is_op(L, r, FW_TFL_RELU, 1) || tfl_op(L, r)->in[0] != x ||
	    !is_op(L, n1, FW_TFL_NEG, 1) || tfl_op(L, n1)->in[0] != x)
		return prelu_mismatch(L, i, form, "its uses are not RELU(x) and NEG(x)");
	t1 = tfl_op(L, n1)->out[0];
	r1 = sole_consumer(L, t1);
	if (!is_op(L, r1, FW_TFL_RELU, 1))
		return prelu_mismatch(L, i, form, "-x is not used only by a RELU");
	t2 = tfl_op(L, r1)->out[0];
	n2 = sole_consumer(L, t2);
	if (!is_op(L, n2, FW_TFL_NEG, 1))
		return prelu_mismatch(L, i, form, "relu(-x) is not used only by a NEG");
	t3 = tfl_op(L, n2)->out[0];
	mu = sole_consumer(L, t3);
	if (!is_op(L, mu, FW_TFL_MUL, 2))
		return prelu_mismatch(L, i, form, "-relu(-x) is not used only by a MUL");
	k_other = tfl_op(L, mu)->in[0] == t3 ? 1 : 0;
	cst = tfl_op(L, mu)->in[k_other];
	if (tfl_op(L, mu)->in[1 - k_other] != t3 || cst < 0 || !is_const(L, cst))
		return prelu_mismatch(L, i, form, "op %d (MUL) is not MUL(constant, -relu(-x))", mu);
	tm = tfl_op(L, mu)->out[0];
	tr = tfl_op(L, r)->out[0];
	ad = sole_consumer(L, tm);
	if (!is_op(L, ad, FW_TFL_ADD, 2) || sole_consumer(L, tr) != ad ||
	    !((tfl_op(L, ad)->in[0] == tr && tfl_op(L, ad)->in[1] == tm) ||
	      (tfl_op(L, ad)->in[0] == tm && tfl_op(L, ad)->in[1] == tr)))
		return prelu_mismatch(L, i, form, "relu(x) and alpha*(-relu(-x)) do not meet in one "
				      "ADD without activation");
	if (!same_shape(L, x, t1) || !same_shape(L, x, t2) || !same_shape(L, x, t3) ||
	    !same_shape(L, x, tm) || !same_shape(L, x, tr) || !same_shape(L, x, tfl_op(L, ad)->out[0]))
		return prelu_mismatch(L, i, form, "an intermediate tensor changes the shape");
	err = channel_const(L, mu, cst, C, slope);
	if (err)
		return err;
	L->handled[r] = L->handled[n1] = L->handled[r1] = L->handled[n2] = 1;
	L->handled[mu] = L->handled[ad] = 1;
	*y = tfl_op(L, ad)->out[0];
	*cname = cst;
	return 1;
}

/* Epilogue of CONV/DW/FC producing tensor *t with C channels: RELU or
 * PReLU. On return *t is the tensor the fused op writes, *act the epilogue,
 * *slope_id the slope tensor (PReLU) or -1. */
static int fuse_epilogue(struct lower *L, int i, int *t, int C, int *act, int *slope_id)
{
	float *slope = NULL;
	int y = -1, cst = -1, r, id;
	char name[512];

	*slope_id = -1;
	if (fuse_relu(L, t)) {
		*act = FW_ACT_RELU;
		return 0;
	}
	if (*act != FW_ACT_NONE)
		return 0;
	r = match_prelu_abs(L, i, *t, C, &y, &slope, &cst);
	if (r == 0)
		r = match_prelu_neg(L, i, *t, C, &y, &slope, &cst);
	if (r <= 0)
		return r;
	snprintf(name, sizeof name, "%s/slope", L->m->tensors[cst].name);
	r = new_tensor(L, FW_TK_CONST, (const int32_t[4]){ 1, 1, 1, C }, name, slope, &id);
	if (r)
		return r;
	*t = y;
	*act = FW_ACT_PRELU;
	*slope_id = id;
	return 0;
}

/* ---- op lowerings ----------------------------------------------------- */

/* CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED */
static int lower_conv(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	const struct fw_tfl_options *o = &op->opt;
	const struct fw_tfl_tensor *wt;
	int type, act, x, w, b, out, slope = -1, C, err;
	int32_t xd[4], wd[4], od[4], fd[4], p[FW_MF_MAX_PARAMS] = {0}, in[FW_MF_MAX_IN];

	type = op->code == FW_TFL_CONV_2D ? FW_OP_CONV2D
	       : op->code == FW_TFL_DEPTHWISE_CONV_2D ? FW_OP_DWCONV2D : FW_OP_FC;
	err = want(L, i, 2, 3);
	if (!err)
		err = want_options(L, i, type == FW_OP_CONV2D ? FW_TFL_OPT_CONV2D
				   : type == FW_OP_DWCONV2D ? FW_TFL_OPT_DEPTHWISE
				   : FW_TFL_OPT_FULLY_CONNECTED);
	if (!err)
		err = want_act(L, i, 1);
	if (err)
		return err;
	x = op->in[0];
	w = op->in[1];
	b = op->n_in > 2 ? op->in[2] : -1;
	out = op->out[0];
	if (is_const(L, x))
		return op_err(L, FW_EUNSUPPORTED, i, "input is a constant");
	if (!is_const(L, w) || (b >= 0 && !is_const(L, b)))
		return op_err(L, FW_EUNSUPPORTED, i, "weights and bias must be constants");
	wt = &L->m->tensors[w];
	if (wt->rank != (type == FW_OP_FC ? 2 : 4))
		return op_err(L, FW_EUNSUPPORTED, i, "weights \"%s\" have rank %d", tname(L, w), wt->rank);
	err = act_dims(L, x, xd);
	if (!err)
		err = act_dims(L, out, od);
	if (!err)
		err = shape4(L, w, wt->shape, wt->rank, wd);
	if (err)
		return err;

	if (type == FW_OP_FC) {
		/* the runtime flattens x row-major (NHWC) and computes W[O,I] x */
		uint64_t I = (uint64_t)xd[1] * xd[2] * xd[3];

		if (o->weights_format != 0)
			return op_err(L, FW_EUNSUPPORTED, i, "shuffled weights format %d", o->weights_format);
		if ((uint64_t)wd[3] != I || count4(od) != (uint64_t)wd[2])
			return op_err(L, FW_EFORMAT, i, "input has %llu values, output %llu, weights "
				      "are [%d, %d]", (unsigned long long)I,
				      (unsigned long long)count4(od), wd[2], wd[3]);
		C = wd[2];
		add_macs(L, (uint64_t)wd[2], (uint64_t)wd[3]);
	} else {
		int kh = wd[1], kw = wd[2];

		if (type == FW_OP_CONV2D && wd[3] != xd[3])
			return op_err(L, FW_EUNSUPPORTED, i, "weights take %d input channels, input has %d "
				      "(grouped convolution is not supported)", wd[3], xd[3]);
		if (type == FW_OP_CONV2D && wd[0] != od[3])
			return op_err(L, FW_EFORMAT, i, "weights give %d channels, output has %d", wd[0], od[3]);
		if (type == FW_OP_DWCONV2D && (wd[0] != 1 || wd[3] != od[3]))
			return op_err(L, FW_EFORMAT, i, "weights [%d,%d,%d,%d] do not match %d output "
				      "channels", wd[0], wd[1], wd[2], wd[3], od[3]);
		if (type == FW_OP_DWCONV2D && od[3] != xd[3])
			return op_err(L, FW_EUNSUPPORTED, i, "depth multiplier %d (only 1 is supported)",
				      od[3] / xd[3]);
		err = geometry(L, i, "height", xd[1], kh, o->stride_h, o->dilation_h, od[1],
			       &p[FW_P_PAD_T], &p[FW_P_PAD_B]);
		if (!err)
			err = geometry(L, i, "width", xd[2], kw, o->stride_w, o->dilation_w, od[2],
				       &p[FW_P_PAD_L], &p[FW_P_PAD_R]);
		if (err)
			return err;
		p[FW_P_KH] = kh;
		p[FW_P_KW] = kw;
		p[FW_P_SH] = o->stride_h;
		p[FW_P_SW] = o->stride_w;
		p[FW_P_DH] = o->dilation_h;
		p[FW_P_DW] = o->dilation_w;
		C = od[3];
		add_macs(L, (uint64_t)od[1] * od[2] * od[3],
			 (uint64_t)kh * kw * (type == FW_OP_CONV2D ? (uint64_t)wd[3] : 1));
	}

	act = o->act == FW_TFL_ACT_RELU ? FW_ACT_RELU : FW_ACT_NONE;
	err = fuse_epilogue(L, i, &out, C, &act, &slope);
	if (err)
		return err;
	err = act_dims(L, out, fd);
	if (err)
		return err;
	if (!same_dims(fd, od))
		return op_err(L, FW_EFORMAT, i, "fused activation output \"%s\" changes the shape",
			      tname(L, out));

	err = act_id(L, x, &in[FW_IN_X]);
	if (!err)
		err = const_id(L, w, wd, &in[FW_IN_W]);
	in[FW_IN_BIAS] = -1;
	if (!err && b >= 0)
		err = const_id(L, b, (const int32_t[4]){ 1, 1, 1, C }, &in[FW_IN_BIAS]);
	in[FW_IN_SLOPE] = slope;
	if (!err)
		err = act_id(L, out, &out);
	if (err)
		return err;
	if (act == FW_ACT_RELU)
		L->g->n_relu++;
	if (act == FW_ACT_PRELU)
		L->g->n_prelu++;
	return emit(L, i, type, act, act == FW_ACT_PRELU ? 4 : 3, in, out, p);
}

static int lower_add(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	int32_t ad[4], bd[4], od[4], fd[4], in[2];
	int out = op->out[0], act, err;

	err = want(L, i, 2, 2);
	if (!err)
		err = want_options(L, i, FW_TFL_OPT_ADD);
	if (!err)
		err = want_act(L, i, 1);
	if (err)
		return err;
	if (is_const(L, op->in[0]) || is_const(L, op->in[1]))
		return op_err(L, FW_EUNSUPPORTED, i, "adds a constant (only activation + activation is "
			      "supported)");
	err = act_dims(L, op->in[0], ad);
	if (!err)
		err = act_dims(L, op->in[1], bd);
	if (!err)
		err = act_dims(L, out, od);
	if (err)
		return err;
	if (!same_dims(ad, bd) || !same_dims(ad, od))
		return op_err(L, FW_EUNSUPPORTED, i, "operand shapes differ (broadcasting is not "
			      "supported)");
	act = op->opt.act == FW_TFL_ACT_RELU ? FW_ACT_RELU : FW_ACT_NONE;
	if (fuse_relu(L, &out))
		act = FW_ACT_RELU;
	err = act_dims(L, out, fd);
	if (!err && !same_dims(fd, od))
		err = op_err(L, FW_EFORMAT, i, "RELU output changes the shape");
	if (!err)
		err = act_id(L, op->in[0], &in[0]);
	if (!err)
		err = act_id(L, op->in[1], &in[1]);
	if (!err)
		err = act_id(L, out, &out);
	if (err)
		return err;
	if (act == FW_ACT_RELU)
		L->g->n_relu++;
	return emit(L, i, FW_OP_ADD, act, 2, in, out, NULL);
}

static int lower_maxpool(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	const struct fw_tfl_options *o = &op->opt;
	int32_t xd[4], od[4], p[FW_MF_MAX_PARAMS] = {0};
	int x, out, err;

	err = want(L, i, 1, 1);
	if (!err)
		err = want_options(L, i, FW_TFL_OPT_POOL2D);
	if (!err)
		err = want_act(L, i, 0);
	if (!err)
		err = act_dims(L, op->in[0], xd);
	if (!err)
		err = act_dims(L, op->out[0], od);
	if (err)
		return err;
	if (xd[3] != od[3])
		return op_err(L, FW_EFORMAT, i, "channels change from %d to %d", xd[3], od[3]);
	err = geometry(L, i, "height", xd[1], o->filter_h, o->stride_h, 1, od[1], &p[FW_P_PAD_T],
		       &p[FW_P_PAD_B]);
	if (!err)
		err = geometry(L, i, "width", xd[2], o->filter_w, o->stride_w, 1, od[2], &p[FW_P_PAD_L],
			       &p[FW_P_PAD_R]);
	if (err)
		return err;
	p[FW_P_KH] = o->filter_h;
	p[FW_P_KW] = o->filter_w;
	p[FW_P_SH] = o->stride_h;
	p[FW_P_SW] = o->stride_w;
	p[FW_P_DH] = p[FW_P_DW] = 1;
	err = act_id(L, op->in[0], &x);
	if (!err)
		err = act_id(L, op->out[0], &out);
	if (err)
		return err;
	return emit(L, i, FW_OP_MAXPOOL, FW_ACT_NONE, 1, &x, out, p);
}

static int lower_pad(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	int32_t xd[4], od[4], p[FW_MF_MAX_PARAMS] = {0};
	int64_t pads[8];
	size_t n;
	int rank, x, out, err;

	err = want(L, i, 2, 2);
	if (!err)
		err = want_options(L, i, FW_TFL_OPT_PAD);
	if (!err)
		err = act_dims(L, op->in[0], xd);
	if (!err)
		err = act_dims(L, op->out[0], od);
	if (!err)
		err = const_int(L, op->in[1], pads, 8, &n);
	if (err)
		return err;
	rank = L->m->tensors[op->in[0]].rank;
	if (n != (size_t)rank * 2)
		return op_err(L, FW_EFORMAT, i, "paddings have %zu values for a rank-%d input", n, rank);
	/* paddings are [rank][before, after]; axis a of rank r is axis a + 4 - r */
	for (int a = 0; a < rank; a++) {
		int a4 = a + 4 - rank;

		if (pads[2 * a] < 0 || pads[2 * a + 1] < 0 || pads[2 * a] > FW_CV_MAX_DIM ||
		    pads[2 * a + 1] > FW_CV_MAX_DIM)
			return op_err(L, FW_EUNSUPPORTED, i, "padding %lld/%lld on axis %d (negative "
				      "padding is not supported)", (long long)pads[2 * a],
				      (long long)pads[2 * a + 1], a);
		p[2 * a4] = (int32_t)pads[2 * a];
		p[2 * a4 + 1] = (int32_t)pads[2 * a + 1];
	}
	if (p[0] || p[1])
		return op_err(L, FW_EUNSUPPORTED, i, "pads the batch axis");
	for (int a = 0; a < 4; a++)
		if ((int64_t)xd[a] + p[2 * a] + p[2 * a + 1] != od[a])
			return op_err(L, FW_EFORMAT, i, "output dimension %d is %d, input %d + padding "
				      "%d + %d", a, od[a], xd[a], p[2 * a], p[2 * a + 1]);
	err = act_id(L, op->in[0], &x);
	if (!err)
		err = act_id(L, op->out[0], &out);
	if (err)
		return err;
	return emit(L, i, FW_OP_PAD, FW_ACT_NONE, 1, &x, out, p);
}

static int lower_resize(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	const struct fw_tfl_options *o = &op->opt;
	int32_t xd[4], od[4], p[FW_MF_MAX_PARAMS] = {0};
	int64_t size[2];
	size_t n;
	int x, out, err;

	err = want(L, i, 2, 2);
	if (!err)
		err = want_options(L, i, FW_TFL_OPT_RESIZE_BILINEAR);
	if (!err)
		err = act_dims(L, op->in[0], xd);
	if (!err)
		err = act_dims(L, op->out[0], od);
	if (!err)
		err = const_int(L, op->in[1], size, 2, &n);
	if (err)
		return err;
	if (L->m->tensors[op->in[0]].rank != 4 || n != 2 || size[0] != od[1] || size[1] != od[2] ||
	    xd[3] != od[3])
		return op_err(L, FW_EFORMAT, i, "size constant does not match the 4-D output");
	if (o->align_corners && o->half_pixel_centers)
		return op_err(L, FW_EFORMAT, i, "both align_corners and half_pixel_centers are set");
	p[0] = o->half_pixel_centers ? 1 : 0;
	p[1] = o->align_corners ? 1 : 0;
	err = act_id(L, op->in[0], &x);
	if (!err)
		err = act_id(L, op->out[0], &out);
	if (err)
		return err;
	return emit(L, i, FW_OP_RESIZE_BILINEAR, FW_ACT_NONE, 1, &x, out, p);
}

/* The output dims come from the output tensor (batch rewritten); the shape
 * operand / new_shape option only restate them. */
static int lower_reshape(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	int32_t xd[4], od[4];
	int x, out, err;

	err = want(L, i, 1, 2);
	if (!err)
		err = want_options(L, i, FW_TFL_OPT_RESHAPE);
	if (err)
		return err;
	if (op->n_in == 2 && op->in[1] >= 0 && !is_const(L, op->in[1]))
		return op_err(L, FW_EUNSUPPORTED, i, "shape is computed at run time");
	err = act_dims(L, op->in[0], xd);
	if (!err)
		err = act_dims(L, op->out[0], od);
	if (err)
		return err;
	if (count4(xd) != count4(od))
		return op_err(L, FW_EFORMAT, i, "input has %llu values, output %llu",
			      (unsigned long long)count4(xd), (unsigned long long)count4(od));
	err = act_id(L, op->in[0], &x);
	if (!err)
		err = act_id(L, op->out[0], &out);
	if (err)
		return err;
	return emit(L, i, FW_OP_RESHAPE, FW_ACT_NONE, 1, &x, out, NULL);
}

static int lower_concat(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	int32_t od[4], d[4], p[FW_MF_MAX_PARAMS] = {0}, in[FW_MF_MAX_IN];
	int rank, axis, out, err;
	int64_t sum = 0;

	err = want(L, i, 1, FW_MF_MAX_IN);
	if (!err)
		err = want_options(L, i, FW_TFL_OPT_CONCATENATION);
	if (!err)
		err = want_act(L, i, 0);
	if (!err)
		err = act_dims(L, op->out[0], od);
	if (err)
		return err;
	rank = L->m->tensors[op->out[0]].rank;
	axis = op->opt.axis < 0 ? op->opt.axis + rank : op->opt.axis;
	if (axis < 0 || axis >= rank)
		return op_err(L, FW_EFORMAT, i, "axis %d for rank %d", op->opt.axis, rank);
	axis += 4 - rank; /* right-aligned into rank 4 */
	for (int k = 0; k < op->n_in; k++) {
		int t = op->in[k];

		if (t < 0 || is_const(L, t))
			return op_err(L, FW_EUNSUPPORTED, i, "input %d is absent or constant", k);
		if (L->m->tensors[t].rank != rank)
			return op_err(L, FW_EFORMAT, i, "input %d has rank %d, output %d", k,
				      L->m->tensors[t].rank, rank);
		err = act_dims(L, t, d);
		if (err)
			return err;
		for (int a = 0; a < 4; a++)
			if (a != axis && d[a] != od[a])
				return op_err(L, FW_EFORMAT, i, "input %d differs from the output off "
					      "the concatenation axis", k);
		sum += d[axis];
	}
	if (sum != od[axis])
		return op_err(L, FW_EFORMAT, i, "inputs sum to %lld along axis %d, output has %d",
			      (long long)sum, axis, od[axis]);
	for (int k = 0; k < op->n_in; k++) {
		err = act_id(L, op->in[k], &in[k]);
		if (err)
			return err;
	}
	err = act_id(L, op->out[0], &out);
	if (err)
		return err;
	p[0] = axis;
	return emit(L, i, FW_OP_CONCAT, FW_ACT_NONE, op->n_in, in, out, p);
}

static int lower_softmax(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	int32_t xd[4], od[4];
	int x, out, err;

	err = want(L, i, 1, 1);
	if (!err)
		err = want_options(L, i, FW_TFL_OPT_SOFTMAX);
	if (!err)
		err = act_dims(L, op->in[0], xd);
	if (!err)
		err = act_dims(L, op->out[0], od);
	if (err)
		return err;
	if (op->opt.beta != 1.0f)
		return op_err(L, FW_EUNSUPPORTED, i, "beta %g (only 1 is supported)", (double)op->opt.beta);
	if (!same_dims(xd, od))
		return op_err(L, FW_EFORMAT, i, "output shape differs from the input");
	err = act_id(L, op->in[0], &x);
	if (!err)
		err = act_id(L, op->out[0], &out);
	if (err)
		return err;
	return emit(L, i, FW_OP_SOFTMAX, FW_ACT_NONE, 1, &x, out, NULL);
}

/* Reduction c over only the last axis of tensor z, keeping dims. */
static int reduces_last_axis(struct lower *L, int c, int code, int z)
{
	const struct fw_tfl_op *op = tfl_op(L, c);
	int rank = L->m->tensors[z].rank;
	int64_t axes[FW_TFL_MAX_RANK];
	size_t n;

	if (!is_op(L, c, code, 2) || op->in[0] != z || !op->opt.keep_dims || op->in[1] < 0 ||
	    (op->opt.type != FW_TFL_OPT_REDUCER))
		return 0;
	if (const_int(L, op->in[1], axes, FW_TFL_MAX_RANK, &n))
		return -1;
	return n == 1 && (axes[0] == rank - 1 || axes[0] == -1);
}

/* The softmax expansion over the last axis, as O-Net has it:
 *   m = REDUCE_MAX(z, last, keep_dims); e = EXP(SUB(z, m)); y = DIV(e, SUM(e, last, keep_dims))
 * -> one SOFTMAX(z). Op i is the REDUCE_MAX. */
static int lower_softmax_expansion(struct lower *L, int i)
{
	const struct fw_tfl_op *op = tfl_op(L, i);
	const char *form = "(REDUCE_MAX, SUB, EXP, SUM, DIV over the last axis)";
	int z = op->in[0], tmx, sb, ts, e, te, sm = -1, dv = -1, tsum, x, out, r, err;
	int32_t zd[4], yd[4];

	if (op->n_in != 2 || op->n_out != 1 || z < 0 || is_const(L, z))
		return op_err(L, FW_EUNSUPPORTED, i, "is only supported as the start of a softmax %s",
			      form);
	r = reduces_last_axis(L, i, FW_TFL_REDUCE_MAX, z);
	if (r < 0)
		return r;
	if (!r)
		return op_err(L, FW_EUNSUPPORTED, i, "does not reduce only the last axis with "
			      "keep_dims; only a softmax %s is supported", form);
	tmx = op->out[0];
	sb = sole_consumer(L, tmx);
	if (!is_op(L, sb, FW_TFL_SUB, 2) || tfl_op(L, sb)->in[0] != z || tfl_op(L, sb)->in[1] != tmx)
		return op_err(L, FW_EUNSUPPORTED, i, "max is not used only by SUB(z, max); only a "
			      "softmax %s is supported", form);
	ts = tfl_op(L, sb)->out[0];
	e = sole_consumer(L, ts);
	if (!is_op(L, e, FW_TFL_EXP, 1))
		return op_err(L, FW_EUNSUPPORTED, i, "z - max is not used only by an EXP; only a "
			      "softmax %s is supported", form);
	te = tfl_op(L, e)->out[0];
	if (L->is_output[te] || L->n_cons[te] != 2)
		return op_err(L, FW_EUNSUPPORTED, i, "exp(z - max) is not used by exactly a SUM and "
			      "a DIV; only a softmax %s is supported", form);
	for (int k = 0; k < 2; k++) {
		int c = L->cons[L->cons_start[te] + k];

		if (tfl_op(L, c)->code == FW_TFL_SUM)
			sm = c;
		else if (tfl_op(L, c)->code == FW_TFL_DIV)
			dv = c;
	}
	r = sm < 0 ? 0 : reduces_last_axis(L, sm, FW_TFL_SUM, te);
	if (r < 0)
		return r;
	if (!r || dv < 0)
		return op_err(L, FW_EUNSUPPORTED, i, "exp(z - max) is not summed over the last axis "
			      "and divided; only a softmax %s is supported", form);
	tsum = tfl_op(L, sm)->out[0];
	if (!is_op(L, dv, FW_TFL_DIV, 2) || sole_consumer(L, tsum) != dv ||
	    tfl_op(L, dv)->in[0] != te || tfl_op(L, dv)->in[1] != tsum)
		return op_err(L, FW_EUNSUPPORTED, i, "op %d is not DIV(exp, sum); only a softmax %s "
			      "is supported", dv, form);
	if (!same_shape(L, z, ts) || !same_shape(L, z, te) || !same_shape(L, z, tfl_op(L, dv)->out[0]))
		return op_err(L, FW_EFORMAT, i, "an intermediate tensor of the softmax changes the shape");
	err = act_dims(L, z, zd);
	if (!err)
		err = act_dims(L, tfl_op(L, dv)->out[0], yd);
	if (err)
		return err;
	if (!same_dims(zd, yd))
		return op_err(L, FW_EFORMAT, i, "softmax output shape differs from its input");
	L->handled[sb] = L->handled[e] = L->handled[sm] = L->handled[dv] = 1;
	err = act_id(L, z, &x);
	if (!err)
		err = act_id(L, tfl_op(L, dv)->out[0], &out);
	if (err)
		return err;
	return emit(L, i, FW_OP_SOFTMAX, FW_ACT_NONE, 1, &x, out, NULL);
}

/* ---- graph analysis ----------------------------------------------------- */

/* Producers, consumers, inputs/outputs; checks the graph is in execution
 * order (every activation is written once, before it is read). */
static int analyse(struct lower *L)
{
	const struct fw_tfl_model *m = L->m;
	int nt = m->n_tensors, total = 0;

	for (int t = 0; t < nt; t++)
		L->producer[t] = -1;
	for (int k = 0; k < m->n_inputs; k++)
		L->is_input[m->inputs[k]] = 1;
	for (int k = 0; k < m->n_outputs; k++)
		L->is_output[m->outputs[k]] = 1;
	for (int i = 0; i < m->n_ops; i++) {
		const struct fw_tfl_op *op = tfl_op(L, i);

		for (int k = 0; k < op->n_in; k++) {
			int t = op->in[k];

			if (t < 0)
				continue;
			if (!m->tensors[t].data && !L->is_input[t] && L->producer[t] < 0)
				return op_err(L, FW_EFORMAT, i, "reads tensor %d \"%s\" before any op "
					      "writes it", t, tname(L, t));
			L->n_cons[t]++;
			total++;
		}
		for (int k = 0; k < op->n_out; k++) {
			int t = op->out[k];

			if (L->producer[t] >= 0 || L->is_input[t] || m->tensors[t].data)
				return op_err(L, FW_EFORMAT, i, "writes tensor %d \"%s\", which is a model "
					      "input, a constant, or written by op %d", t, tname(L, t),
					      L->producer[t]);
			L->producer[t] = i;
		}
	}
	L->cons = malloc((size_t)(total ? total : 1) * sizeof *L->cons);
	if (!L->cons)
		return lerr(L, FW_ENOMEM, "out of memory");
	for (int t = 0, at = 0; t < nt; t++) {
		L->cons_start[t] = at;
		at += L->n_cons[t];
		L->n_cons[t] = 0;
	}
	for (int i = 0; i < m->n_ops; i++)
		for (int k = 0; k < tfl_op(L, i)->n_in; k++) {
			int t = tfl_op(L, i)->in[k];

			if (t >= 0)
				L->cons[L->cons_start[t] + L->n_cons[t]++] = i;
		}
	for (int k = 0; k < m->n_inputs; k++) {
		int t = m->inputs[k];

		if (m->tensors[t].data)
			return lerr(L, FW_EFORMAT, "model input %d \"%s\" is a constant", t, tname(L, t));
	}
	if (m->n_inputs < 1 || m->n_outputs < 1)
		return lerr(L, FW_EFORMAT, "model has %d inputs and %d outputs", m->n_inputs,
			    m->n_outputs);
	{
		const struct fw_tfl_tensor *in0 = &m->tensors[m->inputs[0]];

		L->batch = in0->rank >= 1 ? in0->shape[0] : 1;
	}
	return 0;
}

/* DEQUANTIZE of a float16 constant is constant folding: its output becomes
 * a float32 constant holding the exact expansion. */
static int fold_dequantize(struct lower *L)
{
	for (int i = 0; i < L->m->n_ops; i++) {
		const struct fw_tfl_op *op = tfl_op(L, i);
		const struct fw_tfl_tensor *src, *dst;
		size_t n;
		int err;

		if (op->code != FW_TFL_DEQUANTIZE)
			continue;
		err = want(L, i, 1, 1);
		if (err)
			return err;
		src = &L->m->tensors[op->in[0]];
		dst = &L->m->tensors[op->out[0]];
		if (!src->data) {
			int p = L->producer[op->in[0]];

			return op_err(L, FW_EUNSUPPORTED, i, "input \"%s\" is computed at run time by op %d "
				      "(%s); only DEQUANTIZE of float16 constants is supported",
				      tname(L, op->in[0]), p, p >= 0 ? fw_tfl_op_name(tfl_op(L, p)->code) : "?");
		}
		if (src->type != FW_TFL_FLOAT16 || src->quantized)
			return op_err(L, FW_EUNSUPPORTED, i, "input \"%s\" is a %s%s constant; only float16 "
				      "constants are expanded (int8 models are not converted yet)",
				      tname(L, op->in[0]), src->quantized ? "quantised " : "",
				      fw_tfl_type_name(src->type));
		err = const_count(L, op->in[0], 2, &n);
		if (err)
			return err;
		if (dst->type != FW_TFL_FLOAT32 || dst->rank != src->rank ||
		    memcmp(dst->shape, src->shape, (size_t)src->rank * sizeof *src->shape))
			return op_err(L, FW_EFORMAT, i, "output \"%s\" is not a float32 tensor of the "
				      "input's shape", tname(L, op->out[0]));
		L->cval[op->out[0]] = malloc(n ? n * sizeof(float) : 1);
		if (!L->cval[op->out[0]])
			return lerr(L, FW_ENOMEM, "out of memory");
		for (size_t k = 0; k < n; k++)
			L->cval[op->out[0]][k] = half_to_float((uint16_t)(src->data[2 * k] |
									 src->data[2 * k + 1] << 8));
		L->handled[i] = 1;
	}
	return 0;
}

/* Final numbering: model inputs, then activations in execution order, then
 * constants in order of first use. Tensors nothing refers to are dropped. */
static int renumber(struct lower *L)
{
	struct fw_cv_graph *g = L->g;
	int n = g->n_tensors, next = 0;
	int *newid = malloc((size_t)(n ? n : 1) * sizeof *newid);
	struct fw_cv_tensor *t2 = malloc((size_t)(n ? n : 1) * sizeof *t2);
	int err = 0;

	if (!newid || !t2) {
		err = lerr(L, FW_ENOMEM, "out of memory");
		goto fail;
	}
	for (int k = 0; k < n; k++)
		newid[k] = -1;
	for (int k = 0; k < g->n_inputs; k++)
		if (newid[g->inputs[k]] < 0)
			newid[g->inputs[k]] = next++;
	for (int o = 0; o < g->n_ops; o++) {
		struct fw_cv_op *op = &g->ops[o];

		for (int k = 0; k < op->n_in; k++) {
			int t = op->in[k];

			if (t >= 0 && g->tensors[t].kind != FW_TK_CONST && newid[t] < 0) {
				err = lerr(L, FW_EFORMAT, "internal: op %d reads \"%s\" before it is "
					   "written", o, g->tensors[t].name);
				goto fail;
			}
		}
		if (newid[op->out] >= 0) {
			err = lerr(L, FW_EFORMAT, "internal: \"%s\" is written twice",
				   g->tensors[op->out].name);
			goto fail;
		}
		newid[op->out] = next++;
	}
	for (int o = 0; o < g->n_ops; o++)
		for (int k = 0; k < g->ops[o].n_in; k++) {
			int t = g->ops[o].in[k];

			if (t >= 0 && newid[t] < 0)
				newid[t] = next++;
		}
	g->params = 0;
	for (int k = 0; k < n; k++) {
		if (newid[k] < 0) {
			free(g->tensors[k].name);
			free(g->tensors[k].data);
			continue;
		}
		t2[newid[k]] = g->tensors[k];
		if (g->tensors[k].kind == FW_TK_CONST)
			g->params += count4(g->tensors[k].dims);
	}
	for (int o = 0; o < g->n_ops; o++) {
		for (int k = 0; k < g->ops[o].n_in; k++)
			if (g->ops[o].in[k] >= 0)
				g->ops[o].in[k] = newid[g->ops[o].in[k]];
		g->ops[o].out = newid[g->ops[o].out];
	}
	for (int k = 0; k < g->n_inputs; k++)
		g->inputs[k] = newid[g->inputs[k]];
	for (int k = 0; k < g->n_outputs; k++)
		g->outputs[k] = newid[g->outputs[k]];
	free(g->tensors);
	g->tensors = t2;
	g->n_tensors = next;
	L->cap_tensors = n;
	t2 = NULL;
fail:
	free(t2);
	free(newid);
	return err;
}

int fw_cv_lower(const struct fw_tfl_model *m, const struct fw_cv_options *opt,
		struct fw_cv_graph **out, char *errbuf, size_t errlen)
{
	struct lower L = { .m = m, .opt = opt, .err = errbuf, .errlen = errlen };
	int nt = m->n_tensors, err = 0;

	*out = NULL;
	if (errlen)
		errbuf[0] = 0;
	L.producer = calloc((size_t)nt + 1, sizeof *L.producer);
	L.cons_start = calloc((size_t)nt + 1, sizeof *L.cons_start);
	L.n_cons = calloc((size_t)nt + 1, sizeof *L.n_cons);
	L.is_input = calloc((size_t)nt + 1, 1);
	L.is_output = calloc((size_t)nt + 1, 1);
	L.handled = calloc((size_t)m->n_ops + 1, 1);
	L.cval = calloc((size_t)nt + 1, sizeof *L.cval);
	L.map = malloc(((size_t)nt + 1) * sizeof *L.map);
	L.g = calloc(1, sizeof *L.g);
	if (!L.producer || !L.cons_start || !L.n_cons || !L.is_input || !L.is_output ||
	    !L.handled || !L.cval || !L.map || !L.g) {
		err = lerr(&L, FW_ENOMEM, "out of memory");
		goto fail;
	}
	for (int t = 0; t < nt; t++)
		L.map[t] = -1;
	if (m->n_subgraphs > 1)
		fprintf(stderr, "fwconvert: note: %d subgraphs; converting subgraph 0 only\n",
			m->n_subgraphs);

	err = analyse(&L);
	if (!err)
		err = fold_dequantize(&L);
	if (err)
		goto fail;

	L.g->inputs = malloc((size_t)m->n_inputs * sizeof *L.g->inputs);
	L.g->outputs = malloc((size_t)m->n_outputs * sizeof *L.g->outputs);
	if (!L.g->inputs || !L.g->outputs) {
		err = lerr(&L, FW_ENOMEM, "out of memory");
		goto fail;
	}
	for (int k = 0; k < m->n_inputs; k++) {
		err = act_id(&L, m->inputs[k], &L.g->inputs[k]);
		if (err)
			goto fail;
		L.g->n_inputs++;
	}

	for (int i = 0; i < m->n_ops && !err; i++) {
		if (L.handled[i])
			continue;
		switch (tfl_op(&L, i)->code) {
		case FW_TFL_CONV_2D:
		case FW_TFL_DEPTHWISE_CONV_2D:
		case FW_TFL_FULLY_CONNECTED:
			err = lower_conv(&L, i);
			break;
		case FW_TFL_ADD:
			err = lower_add(&L, i);
			break;
		case FW_TFL_MAX_POOL_2D:
			err = lower_maxpool(&L, i);
			break;
		case FW_TFL_PAD:
			err = lower_pad(&L, i);
			break;
		case FW_TFL_RESIZE_BILINEAR:
			err = lower_resize(&L, i);
			break;
		case FW_TFL_RESHAPE:
			err = lower_reshape(&L, i);
			break;
		case FW_TFL_CONCATENATION:
			err = lower_concat(&L, i);
			break;
		case FW_TFL_SOFTMAX:
			err = lower_softmax(&L, i);
			break;
		case FW_TFL_REDUCE_MAX:
			err = lower_softmax_expansion(&L, i);
			break;
		case FW_TFL_RELU:
		case FW_TFL_ABS:
		case FW_TFL_NEG:
		case FW_TFL_SUB:
		case FW_TFL_MUL:
		case FW_TFL_EXP:
		case FW_TFL_SUM:
		case FW_TFL_DIV:
			err = op_err(&L, FW_EUNSUPPORTED, i, "has no facewatch op of its own; it is only "
				     "converted when fused (RELU after CONV_2D/DEPTHWISE_CONV_2D/"
				     "FULLY_CONNECTED/ADD as the only use, the PReLU expansions, the "
				     "softmax expansion) and this one does not fit those patterns");
			break;
		default:
			err = op_err(&L, FW_EUNSUPPORTED, i, "is not supported by the facewatch runtime");
			break;
		}
		if (!err)
			L.handled[i] = 1;
	}
	if (err)
		goto fail;

	for (int k = 0; k < m->n_outputs; k++) {
		int t = m->outputs[k], id = L.map[t];

		if (id < 0 || L.g->tensors[id].kind != FW_TK_ACTIVATION) {
			err = lerr(&L, FW_EUNSUPPORTED, "model output %d \"%s\" is not computed by any "
				   "converted op", t, tname(&L, t));
			goto fail;
		}
		L.g->outputs[L.g->n_outputs++] = id;
	}
	err = renumber(&L);
	if (err)
		goto fail;
	*out = L.g;
	L.g = NULL;
fail:
	if (L.cval)
		for (int t = 0; t < nt; t++)
			free(L.cval[t]);
	free(L.cval);
	free(L.producer);
	free(L.cons_start);
	free(L.n_cons);
	free(L.cons);
	free(L.is_input);
	free(L.is_output);
	free(L.handled);
	free(L.map);
	fw_cv_free(L.g);
	return err;
}

void fw_cv_free(struct fw_cv_graph *g)
{
	if (!g)
		return;
	for (int k = 0; k < g->n_tensors; k++) {
		free(g->tensors[k].name);
		free(g->tensors[k].data);
	}
	free(g->tensors);
	free(g->ops);
	free(g->inputs);
	free(g->outputs);
	free(g);
}
