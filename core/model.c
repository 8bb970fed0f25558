/* The CNN runtime: validating loader, arena planner and executor for
 * facewatch model files (core/model_format.h).
 *
 * Nothing in a model file is trusted: magic, version, sizes and CRC first,
 * then every index, offset and shape is checked against the op that uses it
 * before any kernel sees it. After load, fw_model_run() only dispatches
 * kernels over memory planned here: it never allocates.
 */
#include "model.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "model_format.h"

#define MAX_TENSORS 65536
#define MAX_OPS 65536
#define MAX_DIM (1 << 20)
#define MAX_TENSOR_ELEMS (1u << 26)      /* 256 MiB of float32 */
#define MAX_ARENA_BYTES ((size_t)1 << 30)

struct rt_tensor {
	int dims[4];
	int kind;          /* enum fw_tensor_kind */
	const char *name;
	float *data;       /* const: into the file image; activation: into the arena */
	size_t bytes;
	int def;           /* step that writes it; -1 for input and consts */
	int last_use;      /* last step that reads it (through aliases too) */
	int base;          /* storage owner: itself, or the tensor a RESHAPE aliases */
	size_t offset;     /* arena offset of a base tensor */
	int dtype;         /* storage: FW_DT_F32, or FW_DT_U8 in an int8 plan */
	float scale;       /* calibrated: real = scale * (q - zp); 0 = not calibrated */
	int32_t zp;
	int shadow;        /* the same values in the other storage type, or -1 */
};

/* An op's int8 form: weights quantised per output channel and packed for
 * the ISA once at load; the requantisation of its epilogue. */
struct rt_q8 {
	const struct fw_q8_kernels *k;
	void *packed;       /* conv/FC: k->conv_pack layout; dwconv: int8 1HWC */
	int32_t *bias;      /* [out_c], input zero point folded in */
	float *scale;       /* [out_c] */
	struct fw_q8_requant rq;
	struct fw_q8_add add;
	uint8_t zero_in;
	struct fw_conv_geom g; /* FC as a 1x1 conv over a 1x1xI input */
	int cpad_cb;           /* ADD fused with a channel PAD: b's channels (b = in[1]); 0 = plain */
};

struct rt_op {
	struct fw_mf_op rec;
	struct fw_conv_geom g;
	uint64_t macs;
	int int8;              /* runs on u8 tensors */
	int f32out;            /* int8, but its output is float: conv_f32 / dwconv_f32 (op_f32out) */
	int fused;             /* a PAD the next ADD does (add_cpad): no step, no tensor */
	int in[FW_MF_MAX_IN];  /* tensors actually read: rec.in or their shadows */
	struct rt_q8 *q;
};

/* The executor's program: ops, and conversions at the edges of int8 regions. */
enum { STEP_OP, STEP_QUANTIZE, STEP_DEQUANTIZE };
struct rt_step {
	int kind;
	int op;            /* STEP_OP */
	int src, dst;      /* conversions: tensor ids */
};

struct fw_model {
	char name[FW_MF_MAX_NAME + 1];
	unsigned char *image;   /* the whole file, 64-aligned; consts point into it */
	int n_tensors, n_ops, n_inputs, n_outputs;
	int n_file_tensors;     /* tensors of the file; shadows follow them */
	struct rt_tensor *t;    /* room for 2 * n_file_tensors */
	struct rt_op *ops;
	struct rt_step *steps;
	int n_steps;
	int *inputs, *outputs;  /* outputs: the float tensor the caller reads */
	enum fw_precision precision;
	const struct fw_q8_kernels *q8;
	int n_int8_ops;
	int n_fused_ops;
	float *trace_buf;       /* dequantised int8 outputs for the trace hook */
	unsigned char *arena;   /* activations, then conv scratch */
	size_t arena_bytes;
	float *scratch;
	size_t scratch_bytes;
	uint64_t macs;
	enum fw_kernel_tier tier;
	fw_model_trace_fn trace;
	void *trace_ctx;
	struct fake_quant *fq;  /* fw_model_set_fake_quant(); NULL when off */
	int input_u8_step;      /* fw_model_input_u8(): the step the caller does; -1 */
	int no_f32_out;         /* fw_model_options.no_f32_out */
};

static size_t elems(const int d[4])
{
	return (size_t)d[0] * (size_t)d[1] * (size_t)d[2] * (size_t)d[3];
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* Every check below reports through this, naming the file and the op. */
#define BAD(...)                                                                       \
	do {                                                                           \
		fw_log(FW_LOG_ERROR, __VA_ARGS__);                                     \
		return FW_EFORMAT;                                                     \
	} while (0)

static const char *op_name(int type)
{
	static const char *names[] = {
		[FW_OP_CONV2D] = "CONV2D",   [FW_OP_DWCONV2D] = "DWCONV2D",
		[FW_OP_ADD] = "ADD",         [FW_OP_MAXPOOL] = "MAXPOOL",
		[FW_OP_PAD] = "PAD",         [FW_OP_RESIZE_BILINEAR] = "RESIZE_BILINEAR",
		[FW_OP_RESHAPE] = "RESHAPE", [FW_OP_CONCAT] = "CONCAT",
		[FW_OP_FC] = "FC",           [FW_OP_SOFTMAX] = "SOFTMAX",
	};
	if (type > 0 && type < (int)(sizeof names / sizeof names[0]) && names[type])
		return names[type];
	return "unknown";
}

/* Tensor id `id` as input slot `slot` of op `i`: in range, defined before use. */
static int check_input(struct fw_model *m, const char *what, int i, int slot, int id,
		       int want_const)
{
	struct rt_tensor *t;

	if (id < 0 || id >= m->n_tensors)
		BAD("%s: op %d (%s): input %d refers to tensor %d of %d", what, i,
		    op_name(m->ops[i].rec.type), slot, id, m->n_tensors);
	t = &m->t[id];
	if (want_const && t->kind != FW_TK_CONST)
		BAD("%s: op %d (%s): input %d ('%s') must be a constant", what, i,
		    op_name(m->ops[i].rec.type), slot, t->name);
	if (!want_const && t->kind == FW_TK_CONST)
		BAD("%s: op %d (%s): input %d ('%s') must be an activation", what, i,
		    op_name(m->ops[i].rec.type), slot, t->name);
	if (t->kind == FW_TK_ACTIVATION && (t->def < 0 || t->def >= i))
		BAD("%s: op %d (%s): reads '%s' before any op writes it", what, i,
		    op_name(m->ops[i].rec.type), t->name);
	if (t->kind != FW_TK_CONST && t->last_use < i)
		t->last_use = i;
	return 0;
}

static int dims_eq(const int a[4], int n, int h, int w, int c)
{
	return a[0] == n && a[1] == h && a[2] == w && a[3] == c;
}

/* Geometry and shape checks of CONV2D / DWCONV2D / MAXPOOL. */
static int check_window_op(struct fw_model *m, const char *what, int i)
{
	struct rt_op *op = &m->ops[i];
	const int *p = op->rec.p;
	const struct rt_tensor *x = &m->t[op->rec.in[FW_IN_X]], *y = &m->t[op->rec.out];
	struct fw_conv_geom *g = &op->g;
	int type = op->rec.type, ext_h, ext_w, oc;

	for (int k = FW_P_KH; k <= FW_P_DW; k++)
		if (p[k] < 1 || p[k] > 64)
			BAD("%s: op %d (%s): kernel/stride/dilation %d out of range", what, i,
			    op_name(type), p[k]);
	for (int k = FW_P_PAD_T; k <= FW_P_PAD_R; k++)
		if (p[k] < 0 || p[k] > 64)
			BAD("%s: op %d (%s): padding %d out of range", what, i, op_name(type), p[k]);
	ext_h = (p[FW_P_KH] - 1) * p[FW_P_DH] + 1;
	ext_w = (p[FW_P_KW] - 1) * p[FW_P_DW] + 1;
	if (x->dims[0] != 1)
		BAD("%s: op %d (%s): batch %d, only 1 is supported", what, i, op_name(type),
		    x->dims[0]);
	if (x->dims[1] + p[FW_P_PAD_T] + p[FW_P_PAD_B] < ext_h ||
	    x->dims[2] + p[FW_P_PAD_L] + p[FW_P_PAD_R] < ext_w)
		BAD("%s: op %d (%s): window larger than the padded input", what, i, op_name(type));
	*g = (struct fw_conv_geom){
		.in_h = x->dims[1], .in_w = x->dims[2], .in_c = x->dims[3],
		.out_h = (x->dims[1] + p[FW_P_PAD_T] + p[FW_P_PAD_B] - ext_h) / p[FW_P_SH] + 1,
		.out_w = (x->dims[2] + p[FW_P_PAD_L] + p[FW_P_PAD_R] - ext_w) / p[FW_P_SW] + 1,
		.k_h = p[FW_P_KH], .k_w = p[FW_P_KW],
		.stride_h = p[FW_P_SH], .stride_w = p[FW_P_SW],
		.dil_h = p[FW_P_DH], .dil_w = p[FW_P_DW],
		.pad_t = p[FW_P_PAD_T], .pad_l = p[FW_P_PAD_L],
		.act = op->rec.act,
	};
	/* a pad at least as wide as the window would read nothing but padding */
	if (p[FW_P_PAD_T] >= ext_h || p[FW_P_PAD_L] >= ext_w || p[FW_P_PAD_B] >= ext_h ||
	    p[FW_P_PAD_R] >= ext_w)
		BAD("%s: op %d (%s): padding as wide as the window", what, i, op_name(type));
	oc = x->dims[3];
	if (type == FW_OP_CONV2D || type == FW_OP_DWCONV2D) {
		const struct rt_tensor *w = &m->t[op->rec.in[FW_IN_W]];
		const struct rt_tensor *b = op->rec.in[FW_IN_BIAS] >= 0 ? &m->t[op->rec.in[FW_IN_BIAS]] : NULL;

		if (type == FW_OP_CONV2D) {
			if (!dims_eq(w->dims, w->dims[0], g->k_h, g->k_w, g->in_c))
				BAD("%s: op %d (CONV2D): weights '%s' are %dx%dx%dx%d, expected Ox%dx%dx%d",
				    what, i, w->name, w->dims[0], w->dims[1], w->dims[2], w->dims[3],
				    g->k_h, g->k_w, g->in_c);
			oc = w->dims[0];
			op->macs = (uint64_t)g->out_h * g->out_w * oc * g->k_h * g->k_w * g->in_c;
		} else {
			if (!dims_eq(w->dims, 1, g->k_h, g->k_w, g->in_c))
				BAD("%s: op %d (DWCONV2D): weights '%s' do not match %dx%dx%d", what, i,
				    w->name, g->k_h, g->k_w, g->in_c);
			op->macs = (uint64_t)g->out_h * g->out_w * oc * g->k_h * g->k_w;
		}
		if (b && !dims_eq(b->dims, 1, 1, 1, oc))
			BAD("%s: op %d (%s): bias '%s' has the wrong size", what, i, op_name(type),
			    b->name);
	} else if (op->rec.act != FW_ACT_NONE) {
		BAD("%s: op %d (MAXPOOL): an activation is not allowed", what, i);
	}
	g->out_c = oc;
	if (!dims_eq(y->dims, 1, g->out_h, g->out_w, oc))
		BAD("%s: op %d (%s): output '%s' is %dx%dx%dx%d, the op makes 1x%dx%dx%d", what, i,
		    op_name(type), y->name, y->dims[0], y->dims[1], y->dims[2], y->dims[3],
		    g->out_h, g->out_w, oc);
	return 0;
}

static int check_activation(struct fw_model *m, const char *what, int i, int channels)
{
	const struct rt_op *op = &m->ops[i];
	int type = op->rec.type;

	switch (op->rec.act) {
	case FW_ACT_NONE:
	case FW_ACT_RELU:
		return 0;
	case FW_ACT_PRELU:
		if (type == FW_OP_ADD)
			break;
		if (op->rec.n_in <= FW_IN_SLOPE || op->rec.in[FW_IN_SLOPE] < 0)
			BAD("%s: op %d (%s): PRELU without slopes", what, i, op_name(type));
		if (!dims_eq(m->t[op->rec.in[FW_IN_SLOPE]].dims, 1, 1, 1, channels))
			BAD("%s: op %d (%s): %d PRELU slopes for %d channels", what, i,
			    op_name(type), m->t[op->rec.in[FW_IN_SLOPE]].dims[3], channels);
		return 0;
	default:
		break;
	}
	BAD("%s: op %d (%s): activation %d not supported here", what, i, op_name(type),
	    op->rec.act);
}

/* Per-op input kinds and shapes. */
static int check_op(struct fw_model *m, const char *what, int i)
{
	struct rt_op *op = &m->ops[i];
	const struct fw_mf_op *r = &op->rec;
	struct rt_tensor *y = &m->t[r->out];
	const int *p = r->p;
	int err, n_in = r->n_in;
	int min_in = 1, max_in = 1;

	switch (r->type) {
	case FW_OP_CONV2D:
	case FW_OP_DWCONV2D:
	case FW_OP_FC:
		min_in = 2, max_in = 5;
		break;
	case FW_OP_ADD:
		min_in = max_in = 2;
		break;
	case FW_OP_CONCAT:
		max_in = FW_MF_MAX_IN;
		break;
	case FW_OP_MAXPOOL:
	case FW_OP_PAD:
	case FW_OP_RESIZE_BILINEAR:
	case FW_OP_RESHAPE:
	case FW_OP_SOFTMAX:
		break;
	default:
		fw_log(FW_LOG_ERROR, "%s: op %d has unknown type %d; the file may be newer than "
		       "this facewatch", what, i, r->type);
		return FW_EUNSUPPORTED;
	}
	if (n_in < min_in || n_in > max_in)
		BAD("%s: op %d (%s): %d inputs", what, i, op_name(r->type), n_in);
	for (int s = 0; s < n_in; s++) {
		int is_const = (r->type == FW_OP_CONV2D || r->type == FW_OP_DWCONV2D ||
				r->type == FW_OP_FC) && s != FW_IN_X;

		if (r->in[s] < 0 && (is_const && s != FW_IN_W))
			continue; /* optional bias, slope, weight scale */
		if ((err = check_input(m, what, i, s, r->in[s], is_const)))
			return err;
	}
	for (int s = n_in; s < FW_MF_MAX_IN; s++)
		if (r->in[s] != -1)
			BAD("%s: op %d (%s): stray input in slot %d", what, i, op_name(r->type), s);
	if (r->act != FW_ACT_NONE && r->type != FW_OP_CONV2D && r->type != FW_OP_DWCONV2D &&
	    r->type != FW_OP_FC && r->type != FW_OP_ADD)
		BAD("%s: op %d (%s): an activation is not allowed", what, i, op_name(r->type));

	const struct rt_tensor *x = &m->t[r->in[0]];
	switch (r->type) {
	case FW_OP_CONV2D:
	case FW_OP_DWCONV2D:
		if (n_in > FW_IN_WSCALE && r->in[FW_IN_WSCALE] >= 0)
			BAD("%s: op %d: int8 weights are not supported by this runtime", what, i);
		if ((err = check_window_op(m, what, i)))
			return err;
		return check_activation(m, what, i, op->g.out_c);
	case FW_OP_MAXPOOL:
		return check_window_op(m, what, i);
	case FW_OP_FC: {
		const struct rt_tensor *w = &m->t[r->in[FW_IN_W]];
		const struct rt_tensor *b = n_in > FW_IN_BIAS && r->in[FW_IN_BIAS] >= 0 ? &m->t[r->in[FW_IN_BIAS]] : NULL;
		int n_out = w->dims[2];

		if (n_in > FW_IN_WSCALE && r->in[FW_IN_WSCALE] >= 0)
			BAD("%s: op %d: int8 weights are not supported by this runtime", what, i);
		if (w->dims[0] != 1 || w->dims[1] != 1 || (size_t)w->dims[3] != elems(x->dims))
			BAD("%s: op %d (FC): weights '%s' do not take %zu inputs", what, i, w->name,
			    elems(x->dims));
		if (b && !dims_eq(b->dims, 1, 1, 1, n_out))
			BAD("%s: op %d (FC): bias has the wrong size", what, i);
		if (!dims_eq(y->dims, 1, 1, 1, n_out))
			BAD("%s: op %d (FC): output must be 1x1x1x%d", what, i, n_out);
		op->macs = (uint64_t)n_out * w->dims[3];
		return check_activation(m, what, i, n_out);
	}
	case FW_OP_ADD: {
		const struct rt_tensor *b = &m->t[r->in[1]];
		if (memcmp(x->dims, b->dims, sizeof x->dims) || memcmp(x->dims, y->dims, sizeof x->dims))
			BAD("%s: op %d (ADD): operand shapes differ", what, i);
		if (r->act == FW_ACT_PRELU)
			BAD("%s: op %d (ADD): PRELU is not allowed", what, i);
		return 0;
	}
	case FW_OP_PAD:
		for (int k = 0; k < 4; k++) {
			if (p[2 * k] < 0 || p[2 * k + 1] < 0 || p[2 * k] > MAX_DIM ||
			    p[2 * k + 1] > MAX_DIM ||
			    y->dims[k] != x->dims[k] + p[2 * k] + p[2 * k + 1])
				BAD("%s: op %d (PAD): padding does not give the output shape", what, i);
		}
		if (p[0] || p[1])
			BAD("%s: op %d (PAD): padding the batch axis is not supported", what, i);
		return 0;
	case FW_OP_RESIZE_BILINEAR:
		if ((p[0] != 0 && p[0] != 1) || (p[1] != 0 && p[1] != 1) || (p[0] && p[1]))
			BAD("%s: op %d (RESIZE_BILINEAR): bad mode flags", what, i);
		if (y->dims[0] != x->dims[0] || y->dims[3] != x->dims[3] || x->dims[0] != 1)
			BAD("%s: op %d (RESIZE_BILINEAR): batch or channels change", what, i);
		return 0;
	case FW_OP_RESHAPE:
		if (elems(x->dims) != elems(y->dims))
			BAD("%s: op %d (RESHAPE): element count changes", what, i);
		return 0;
	case FW_OP_SOFTMAX:
		if (memcmp(x->dims, y->dims, sizeof x->dims))
			BAD("%s: op %d (SOFTMAX): shape changes", what, i);
		return 0;
	case FW_OP_CONCAT: {
		int axis = p[0], sum = 0;
		if (axis < 0 || axis > 3)
			BAD("%s: op %d (CONCAT): axis %d", what, i, axis);
		for (int s = 0; s < n_in; s++) {
			const struct rt_tensor *a = &m->t[r->in[s]];
			for (int k = 0; k < 4; k++)
				if (k != axis && a->dims[k] != y->dims[k])
					BAD("%s: op %d (CONCAT): input %d does not fit", what, i, s);
			sum += a->dims[axis];
		}
		if (sum != y->dims[axis])
			BAD("%s: op %d (CONCAT): inputs do not add up to the output", what, i);
		return 0;
	}
	}
	return 0;
}

/* Greedy arena plan: place base tensors, largest first, at the lowest
 * offset that does not collide with a placed tensor whose lifetime overlaps. */
static int plan_arena(struct fw_model *m, const char *what)
{
	int n = 0, *order;
	size_t top = 0;

	order = malloc(sizeof *order * (size_t)m->n_tensors);
	if (!order)
		return FW_ENOMEM;
	/* a RESHAPE alias keeps its base alive as long as the alias is used */
	for (int i = 0; i < m->n_tensors; i++) {
		struct rt_tensor *t = &m->t[i];
		if (t->kind != FW_TK_CONST && t->base != i && t->last_use > m->t[t->base].last_use)
			m->t[t->base].last_use = t->last_use;
	}
	for (int i = 0; i < m->n_tensors; i++)
		if (m->t[i].kind != FW_TK_CONST && m->t[i].base == i)
			order[n++] = i;
	/* insertion sort by size, descending; ties by id for a stable plan */
	for (int a = 1; a < n; a++) {
		int v = order[a], b = a - 1;
		while (b >= 0 && m->t[order[b]].bytes < m->t[v].bytes)
			order[b + 1] = order[b], b--;
		order[b + 1] = v;
	}
	for (int a = 0; a < n; a++) {
		struct rt_tensor *t = &m->t[order[a]];
		size_t off = 0;
		int moved = 1;

		while (moved) {
			moved = 0;
			for (int b = 0; b < a; b++) {
				const struct rt_tensor *o = &m->t[order[b]];
				if (o->def > t->last_use || t->def > o->last_use)
					continue; /* lifetimes disjoint */
				if (off < o->offset + align_up(o->bytes, 64) &&
				    o->offset < off + align_up(t->bytes, 64)) {
					off = o->offset + align_up(o->bytes, 64);
					moved = 1;
				}
			}
		}
		t->offset = off;
		if (off + align_up(t->bytes, 64) > top)
			top = off + align_up(t->bytes, 64);
	}
	free(order);
	if (top + m->scratch_bytes > MAX_ARENA_BYTES) {
		fw_log(FW_LOG_ERROR, "%s: needs %zu MiB of activations, more than the %zu MiB limit",
		       what, (top + m->scratch_bytes) >> 20, MAX_ARENA_BYTES >> 20);
		return FW_EINVAL;
	}
	m->arena_bytes = top + m->scratch_bytes;
	m->arena = aligned_alloc(64, align_up(m->arena_bytes ? m->arena_bytes : 64, 64));
	if (!m->arena)
		return FW_ENOMEM;
	memset(m->arena, 0, m->arena_bytes);
	for (int i = 0; i < m->n_tensors; i++) {
		struct rt_tensor *t = &m->t[i];
		if (t->kind != FW_TK_CONST)
			t->data = (float *)(m->arena + m->t[t->base].offset);
	}
	m->scratch = m->scratch_bytes ? (float *)(m->arena + top) : NULL;
	return 0;
}

/* ---- the execution plan: which ops run int8, and the conversions ---- */

static size_t tensor_bytes(const struct rt_tensor *t)
{
	return elems(t->dims) * (t->dtype == FW_DT_U8 ? 1 : sizeof(float));
}

static void push_step(struct fw_model *m, int kind, int op, int src, int dst)
{
	m->steps[m->n_steps++] = (struct rt_step){ .kind = kind, .op = op, .src = src, .dst = dst };
}

/* Tensor `id` in storage `dtype`: itself, or its shadow, made (with the
 * conversion step, at this point of the program) on first need. */
static int use_as(struct fw_model *m, int id, int dtype)
{
	struct rt_tensor *t = &m->t[id], *sh;
	int sid;

	if (t->kind == FW_TK_CONST || t->dtype == dtype)
		return id;
	if (t->shadow >= 0)
		return t->shadow;
	sid = m->n_tensors++; /* room reserved: one shadow per file tensor at most */
	sh = &m->t[sid];
	*sh = *t;
	sh->kind = FW_TK_ACTIVATION;
	sh->dtype = dtype;
	sh->base = sid;
	sh->shadow = id;
	sh->bytes = tensor_bytes(sh);
	t = &m->t[id];
	t->shadow = sid;
	push_step(m, dtype == FW_DT_U8 ? STEP_QUANTIZE : STEP_DEQUANTIZE, -1, id, sid);
	return sid;
}

static int same_q(const struct rt_tensor *a, const struct rt_tensor *b)
{
	return a->scale > 0 && a->scale == b->scale && a->zp == b->zp;
}

/* Quantise an op's weights per output channel (symmetric int8), fold the
 * bias and the input zero point into int32, and pack for the ISA. */
static int prepare_q8(struct fw_model *m, struct rt_op *op, const char *what)
{
	const struct fw_mf_op *r = &op->rec;
	const struct rt_tensor *x = &m->t[op->in[0]], *y = &m->t[r->out];
	struct rt_q8 *q;
	const float *w, *b;
	int8_t *wq = NULL;
	int oc, taps, stride_k, stride_c;

	q = op->q = calloc(1, sizeof *q);
	if (!q)
		return FW_ENOMEM;
	q->k = m->q8;
	if (r->type == FW_OP_ADD) {
		const struct rt_tensor *x1 = &m->t[op->in[1]];
		fw_q8_add_prepare(&q->add, x->scale, x1->scale, y->scale, x->zp, x1->zp, y->zp, r->act);
		return 0;
	}
	w = m->t[r->in[FW_IN_W]].data;
	b = r->n_in > FW_IN_BIAS && r->in[FW_IN_BIAS] >= 0 ? m->t[r->in[FW_IN_BIAS]].data : NULL;
	if (r->type == FW_OP_FC) {
		oc = m->t[r->in[FW_IN_W]].dims[2];
		taps = m->t[r->in[FW_IN_W]].dims[3];
		q->g = (struct fw_conv_geom){ .in_h = 1, .in_w = 1, .in_c = taps, .out_h = 1, .out_w = 1,
					      .out_c = oc, .k_h = 1, .k_w = 1, .stride_h = 1,
					      .stride_w = 1, .dil_h = 1, .dil_w = 1, .act = r->act };
	} else {
		q->g = op->g;
		oc = op->g.out_c;
		taps = op->g.k_h * op->g.k_w * (r->type == FW_OP_CONV2D ? op->g.in_c : 1);
	}
	/* weights are [oc][taps] for conv/FC (OHWI), [taps][oc] for depthwise (1HWC) */
	stride_k = r->type == FW_OP_DWCONV2D ? oc : 1;
	stride_c = r->type == FW_OP_DWCONV2D ? 1 : taps;
	wq = malloc((size_t)oc * (size_t)taps);
	q->bias = malloc(sizeof *q->bias * (size_t)oc);
	q->scale = malloc(sizeof *q->scale * (size_t)oc);
	if (!wq || !q->bias || !q->scale) {
		free(wq);
		return FW_ENOMEM;
	}
	for (int c = 0; c < oc; c++) {
		double mx = 0, sw, sum = 0, bq;

		for (int k = 0; k < taps; k++)
			mx = fmax(mx, fabs(w[(size_t)c * stride_c + (size_t)k * stride_k]));
		sw = mx > 0 ? mx / 127.0 : 1.0;
		for (int k = 0; k < taps; k++) {
			size_t at = (size_t)c * stride_c + (size_t)k * stride_k;
			long v = lround(w[at] / sw);
			wq[at] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
			sum += wq[at];
		}
		bq = (b ? round(b[c] / (x->scale * sw)) : 0) - (double)x->zp * sum;
		if (!(fabs(bq) < 2147483647.0)) {
			fw_log(FW_LOG_ERROR, "%s: op %d (%s): bias does not fit int32 at this input scale; "
			       "recalibrate the model", what, (int)(op - m->ops), op_name(r->type));
			free(wq);
			return FW_EINVAL;
		}
		q->bias[c] = (int32_t)bq;
		/* a float output (op_f32out) is the real value: no output scale */
		q->scale[c] = (float)((double)x->scale * sw / (op->f32out ? 1.0 : (double)y->scale));
	}
	q->rq = (struct fw_q8_requant){
		.scale = q->scale,
		.slope = r->act == FW_ACT_PRELU ? m->t[r->in[FW_IN_SLOPE]].data : NULL,
		.zero_out = y->zp,
		.act = r->act,
	};
	q->zero_in = (uint8_t)x->zp;
	if (r->type == FW_OP_DWCONV2D) {
		q->packed = wq;
		return 0;
	}
	q->packed = aligned_alloc(64, align_up(q->k->conv_packed_size(&q->g) + 1, 64));
	if (!q->packed) {
		free(wq);
		return FW_ENOMEM;
	}
	q->k->conv_pack(&q->g, wq, q->packed);
	free(wq);
	return 0;
}

static int op_int8(const struct fw_model *m, const struct rt_op *op)
{
	const struct fw_mf_op *r = &op->rec;
	const struct rt_tensor *x = &m->t[r->in[0]], *y = &m->t[r->out];

	if (!(y->scale > 0))
		return 0;
	switch (r->type) {
	case FW_OP_CONV2D:
	case FW_OP_DWCONV2D:
	case FW_OP_FC:
		return x->scale > 0;
	case FW_OP_ADD:
		return x->scale > 0 && m->t[r->in[1]].scale > 0;
	case FW_OP_MAXPOOL:
	case FW_OP_PAD:
		return same_q(x, y);
	case FW_OP_RESHAPE:
		return x->dtype == FW_DT_U8 && same_q(x, y);
	case FW_OP_CONCAT:
		for (int s = 0; s < r->n_in; s++)
			if (!same_q(&m->t[r->in[s]], y))
				return 0;
		return 1;
	default:
		return 0; /* resize and softmax stay float */
	}
}

/* Whether a CONV2D, DWCONV2D or FC that op_int8 leaves in float can run int8
 * with a float output (conv_f32, dwconv_f32): its input is calibrated, its
 * output is not (a range u8 cannot hold: BlazeFace's heads). Its accuracy
 * is the float op's on the u8 input it would dequantise, with int8 weights. */
static int op_f32out(const struct fw_model *m, const struct rt_op *op)
{
	const struct fw_mf_op *r = &op->rec;

	if (m->no_f32_out || m->t[r->out].scale > 0 || !(m->t[r->in[0]].scale > 0))
		return 0;
	return r->type == FW_OP_CONV2D || r->type == FW_OP_DWCONV2D || r->type == FW_OP_FC;
}

/* Whether PAD op i can be done by the ADD that reads it (add_cpad): zeros
 * after the channels only, its output read by that one ADD alone and not a
 * graph output, both running int8 with a kernel table that has add_cpad.
 * BlazeBlock's skip path (maxpool or identity, channel pad, add) is this. */
static int fusable_cpad(const struct fw_model *m, int i)
{
	const struct rt_op *op = &m->ops[i];
	const int *p = op->rec.p, out = op->rec.out;
	int reader = -1;

	if (op->rec.type != FW_OP_PAD || !op->int8 || !m->q8->add_cpad)
		return 0;
	for (int k = 0; k < 7; k++)
		if (p[k])
			return 0;
	for (int o = 0; o < m->n_outputs; o++)
		if (m->outputs[o] == out)
			return 0;
	for (int j = i + 1; j < m->n_ops; j++) {
		const struct fw_mf_op *r = &m->ops[j].rec;

		for (int s = 0; s < r->n_in; s++) {
			if (r->in[s] != out)
				continue;
			if (reader >= 0)
				return 0;
			reader = j;
		}
	}
	if (reader < 0 || m->ops[reader].rec.type != FW_OP_ADD || !op_int8(m, &m->ops[reader]))
		return 0;
	/* one padded operand per ADD: not if the other one is a fused PAD too */
	for (int s = 0; s < 2; s++) {
		int d = m->t[m->ops[reader].rec.in[s]].def;

		if (d >= 0 && m->ops[d].fused)
			return 0;
	}
	return 1;
}

/* Whether RESIZE op i, a float op, can run on u8 (fw_q8_resize_bilinear):
 * its input is already u8 and every reader of its output runs int8, so the
 * float plan dequantises before it and quantises after it; the u8 kernel
 * does exactly that without the float tensors. */
static int resize_on_u8(const struct fw_model *m, int i)
{
	const struct fw_mf_op *r = &m->ops[i].rec;
	const struct rt_tensor *x = &m->t[r->in[0]], *y = &m->t[r->out];
	int readers = 0;

	if (r->type != FW_OP_RESIZE_BILINEAR || !(x->scale > 0) || !(y->scale > 0) ||
	    x->dtype != FW_DT_U8)
		return 0;
	for (int o = 0; o < m->n_outputs; o++)
		if (m->outputs[o] == r->out)
			return 0;
	for (int j = i + 1; j < m->n_ops; j++) {
		const struct rt_op *op = &m->ops[j];

		for (int s = 0; s < op->rec.n_in; s++) {
			if (op->rec.in[s] != r->out)
				continue;
			/* a RESHAPE's plan depends on its input's storage: keep it simple */
			if (op->rec.type == FW_OP_RESHAPE || !op_int8(m, op))
				return 0;
			readers++;
		}
	}
	return readers > 0;
}

static int build_steps(struct fw_model *m, const char *what, const struct fw_model_options *opt)
{
	int int8 = opt->precision == FW_PRECISION_INT8, err, cpad;

	m->steps = calloc((size_t)m->n_ops + 2 * (size_t)m->n_file_tensors + 1, sizeof *m->steps);
	if (!m->steps)
		return FW_ENOMEM;
	if (int8) {
		int calibrated = 0;
		for (int i = 0; i < m->n_tensors; i++)
			calibrated |= m->t[i].kind == FW_TK_ACTIVATION && m->t[i].scale > 0;
		if (!calibrated) {
			fw_log(FW_LOG_WARN, "%s: has no int8 calibration; running it in float "
			       "(calibrate with `facectl calibrate`)", what);
			int8 = 0;
		} else {
			m->q8 = opt->q8_kernels ? opt->q8_kernels
				: fw_q8_kernels_for(opt->tier == FW_KERNELS_REF ? FW_ISA_REF : fw_isa_active());
			if (!m->q8)
				m->q8 = fw_q8_kernels_for(FW_ISA_REF);
		}
	}
	m->precision = int8 ? FW_PRECISION_INT8 : FW_PRECISION_FLOAT;
	for (int i = 0; i < m->n_tensors; i++)
		m->t[i].bytes = tensor_bytes(&m->t[i]);
	for (int i = 0; i < m->n_ops; i++) {
		struct rt_op *op = &m->ops[i];
		const struct fw_mf_op *r = &op->rec;
		struct rt_tensor *y = &m->t[r->out];

		op->int8 = int8 && op_int8(m, op);
		if (int8 && !op->int8 && op_f32out(m, op))
			op->int8 = op->f32out = 1;
		if (int8 && !op->int8 && !opt->no_fuse && resize_on_u8(m, i)) {
			op->int8 = 1;
			m->n_fused_ops++;
		}
		for (int s = 0; s < FW_MF_MAX_IN; s++)
			op->in[s] = s < r->n_in && r->in[s] >= 0
				? use_as(m, r->in[s], op->int8 ? FW_DT_U8 : FW_DT_F32) : -1;
		cpad = 0;
		if (r->type == FW_OP_ADD && op->int8) {
			/* a fused PAD's output is never made: read its source, as b
			 * (add_cpad pads b; the fixed-point a + b is b + a exactly) */
			for (int s = 0; s < 2 && !cpad; s++) {
				int d = m->t[r->in[s]].def;

				if (d >= 0 && m->ops[d].fused) {
					int other = op->in[1 - s];

					op->in[1] = m->ops[d].in[0];
					op->in[0] = other;
					cpad = 1;
				}
			}
		}
		y = &m->t[r->out];
		y->dtype = op->int8 && !op->f32out ? FW_DT_U8 : FW_DT_F32;
		y->bytes = tensor_bytes(y);
		if (r->type == FW_OP_RESHAPE)
			y->base = m->t[op->in[0]].base;
		if (op->int8 && (r->type == FW_OP_CONV2D || r->type == FW_OP_DWCONV2D ||
				 r->type == FW_OP_FC || r->type == FW_OP_ADD)) {
			if ((err = prepare_q8(m, op, what)))
				return err;
			if (cpad)
				op->q->cpad_cb = m->t[op->in[1]].dims[3];
		}
		{
			size_t sb = 0;
			if (op->int8 && (r->type == FW_OP_CONV2D || r->type == FW_OP_FC))
				sb = m->q8->conv_scratch(&op->q->g);
			else if (op->int8 && r->type == FW_OP_RESIZE_BILINEAR)
				sb = fw_q8_resize_bilinear_scratch(m->t[r->in[0]].dims[1], m->t[r->in[0]].dims[2],
								   m->t[r->in[0]].dims[3], y->dims[2]);
			else if (!op->int8 && r->type == FW_OP_CONV2D && opt->tier == FW_KERNELS_FAST)
				sb = fw_conv2d_f32_scratch(&op->g);
			if (align_up(sb, 64) > m->scratch_bytes)
				m->scratch_bytes = align_up(sb, 64);
		}
		m->n_int8_ops += op->int8;
		if (int8 && !opt->no_fuse && fusable_cpad(m, i)) {
			op->fused = 1;
			y->bytes = 0; /* never written: takes no arena */
			m->n_fused_ops++;
			continue;
		}
		push_step(m, STEP_OP, i, -1, -1);
	}
	/* the caller reads float */
	for (int i = 0; i < m->n_outputs; i++)
		m->outputs[i] = use_as(m, m->outputs[i], FW_DT_F32);
	return 0;
}

/* Lifetimes in steps, for the arena plan. */
static void liveness(struct fw_model *m)
{
	for (int i = 0; i < m->n_tensors; i++)
		m->t[i].def = m->t[i].last_use = -1;
	for (int si = 0; si < m->n_steps; si++) {
		const struct rt_step *st = &m->steps[si];
		if (st->kind == STEP_OP) {
			const struct rt_op *op = &m->ops[st->op];
			for (int s = 0; s < FW_MF_MAX_IN; s++)
				if (op->in[s] >= 0 && m->t[op->in[s]].kind != FW_TK_CONST)
					m->t[op->in[s]].last_use = si;
			m->t[op->rec.out].def = si;
		} else {
			m->t[st->src].last_use = si;
			m->t[st->dst].def = si;
		}
	}
	/* the input and outputs outlive the run: a caller fills the input
	 * once and may run many times, and reads outputs after the run */
	m->t[m->inputs[0]].last_use = m->n_steps;
	for (int i = 0; i < m->n_outputs; i++)
		m->t[m->outputs[i]].last_use = m->n_steps;
	for (int i = 0; i < m->n_tensors; i++) {
		struct rt_tensor *t = &m->t[i];
		if (t->kind != FW_TK_CONST && t->last_use < t->def)
			t->last_use = t->def; /* written but never read: still occupies memory then */
	}
}

static int parse(struct fw_model *m, size_t len, const char *what,
		 const struct fw_model_options *opt)
{
	const unsigned char *img = m->image;
	struct fw_mf_header h;
	const char *strings;
	int err;

	if (len < sizeof h) {
		fw_log(FW_LOG_ERROR, "%s: truncated: %zu bytes, a model file has a %zu-byte header",
		       what, len, sizeof h);
		return FW_ETRUNC;
	}
	memcpy(&h, img, sizeof h);
	if (memcmp(h.magic, FW_MF_MAGIC, 8)) {
		fw_log(FW_LOG_ERROR, "%s: not a facewatch model file (bad magic); models are made "
		       "by fwconvert (see models/SOURCES.md)", what);
		return FW_EFORMAT;
	}
	if (h.version != FW_MF_VERSION || h.header_size != sizeof h) {
		fw_log(FW_LOG_ERROR, "%s: model format version %u, this facewatch reads version %d; "
		       "use the models that came with this version", what, h.version, FW_MF_VERSION);
		return FW_EVERSION;
	}
	if (h.file_size != len) {
		fw_log(FW_LOG_ERROR, "%s: %s: the file is %zu bytes, its header says %u; "
		       "reinstall the model or regenerate it (models/SOURCES.md)", what,
		       len < h.file_size ? "truncated" : "trailing bytes", len, h.file_size);
		return FW_ETRUNC;
	}
	if (!opt->skip_checksum && fw_crc32(0, img + sizeof h, len - sizeof h) != h.crc32) {
		fw_log(FW_LOG_ERROR, "%s: checksum mismatch: the file is corrupt; reinstall the "
		       "model or regenerate it (models/SOURCES.md)", what);
		return FW_ECHECKSUM;
	}
	memcpy(m->name, h.name, FW_MF_MAX_NAME);
	m->name[FW_MF_MAX_NAME] = 0;
	if (opt->expect_name && strcmp(m->name, opt->expect_name)) {
		fw_log(FW_LOG_ERROR, "%s: holds the model '%s', expected '%s'", what, m->name,
		       opt->expect_name);
		return FW_EMODEL;
	}
	if (h.n_tensors < 1 || h.n_tensors > MAX_TENSORS || h.n_ops < 1 || h.n_ops > MAX_OPS ||
	    h.n_inputs != 1 || h.n_outputs < 1 || h.n_outputs > h.n_tensors)
		BAD("%s: implausible counts (%u tensors, %u ops, %u inputs, %u outputs)", what,
		    h.n_tensors, h.n_ops, h.n_inputs, h.n_outputs);
#define SECTION_OK(off, size) ((uint64_t)(off) + (uint64_t)(size) <= len && (off) >= sizeof h)
	if (!SECTION_OK(h.tensors_off, (uint64_t)h.n_tensors * sizeof(struct fw_mf_tensor)) ||
	    !SECTION_OK(h.ops_off, (uint64_t)h.n_ops * sizeof(struct fw_mf_op)) ||
	    !SECTION_OK(h.io_off, (uint64_t)(h.n_inputs + h.n_outputs) * 4) ||
	    !SECTION_OK(h.strings_off, h.strings_size) || h.strings_size < 1 ||
	    !SECTION_OK(h.data_off, h.data_size) || h.data_off % FW_MF_ALIGN ||
	    h.tensors_off % 4 || h.ops_off % 4 || h.io_off % 4)
		BAD("%s: a section lies outside the file", what);
#undef SECTION_OK
	strings = (const char *)img + h.strings_off;
	if (strings[h.strings_size - 1] != 0)
		BAD("%s: the string table is not terminated", what);

	m->n_tensors = (int)h.n_tensors;
	m->n_ops = (int)h.n_ops;
	m->n_inputs = (int)h.n_inputs;
	m->n_outputs = (int)h.n_outputs;
	m->n_file_tensors = (int)h.n_tensors;
	m->t = calloc(2 * (size_t)h.n_tensors, sizeof *m->t);
	m->ops = calloc(h.n_ops, sizeof *m->ops);
	m->inputs = calloc(h.n_inputs, sizeof *m->inputs);
	m->outputs = calloc(h.n_outputs, sizeof *m->outputs);
	if (!m->t || !m->ops || !m->inputs || !m->outputs)
		return FW_ENOMEM;

	for (int i = 0; i < m->n_tensors; i++) {
		struct fw_mf_tensor r;
		struct rt_tensor *t = &m->t[i];
		uint64_t n = 1;

		memcpy(&r, img + h.tensors_off + (size_t)i * sizeof r, sizeof r);
		if (r.name_off >= h.strings_size)
			BAD("%s: tensor %d: name outside the string table", what, i);
		t->name = strings + r.name_off;
		for (int k = 0; k < 4; k++) {
			if (r.dims[k] < 1 || r.dims[k] > MAX_DIM)
				BAD("%s: tensor %d ('%s'): dimension %d is %d", what, i, t->name, k,
				    r.dims[k]);
			t->dims[k] = r.dims[k];
			n *= (uint64_t)r.dims[k];
		}
		if (n > MAX_TENSOR_ELEMS)
			BAD("%s: tensor %d ('%s') is implausibly large", what, i, t->name);
		if (r.dtype != FW_DT_F32) {
			fw_log(FW_LOG_ERROR, "%s: tensor '%s' has data type %d; this runtime reads "
			       "float32 models only", what, t->name, r.dtype);
			return FW_EUNSUPPORTED;
		}
		t->bytes = (size_t)n * sizeof(float);
		t->kind = r.kind;
		t->def = -1;
		t->last_use = -1;
		t->base = i;
		t->dtype = FW_DT_F32;
		t->shadow = -1;
		if (r.kind != FW_TK_CONST && r.scale > 0 && r.scale < 1e30f &&
		    r.zero_point >= 0 && r.zero_point <= 255) {
			t->scale = r.scale;
			t->zp = r.zero_point;
		}
		if (r.kind == FW_TK_CONST) {
			if (r.data_size != t->bytes || r.data_off % FW_MF_ALIGN ||
			    (uint64_t)r.data_off + r.data_size > h.data_size)
				BAD("%s: tensor %d ('%s'): data outside the data section or of the wrong size",
				    what, i, t->name);
			t->data = (float *)(m->image + h.data_off + r.data_off);
		} else if (r.kind != FW_TK_ACTIVATION && r.kind != FW_TK_INPUT) {
			BAD("%s: tensor %d ('%s'): unknown kind %d", what, i, t->name, r.kind);
		}
	}
	for (int i = 0; i < m->n_inputs + m->n_outputs; i++) {
		int32_t id;
		memcpy(&id, img + h.io_off + (size_t)i * 4, 4);
		if (id < 0 || id >= m->n_tensors)
			BAD("%s: graph input/output %d refers to tensor %d", what, i, id);
		if (i < m->n_inputs) {
			if (m->t[id].kind != FW_TK_INPUT)
				BAD("%s: graph input '%s' is not marked as input", what, m->t[id].name);
			if (m->t[id].dims[0] != 1)
				BAD("%s: graph input '%s' has batch %d, only 1 is supported", what,
				    m->t[id].name, m->t[id].dims[0]);
			m->inputs[i] = id;
		} else {
			if (m->t[id].kind == FW_TK_CONST)
				BAD("%s: graph output '%s' is a constant", what, m->t[id].name);
			m->outputs[i - m->n_inputs] = id;
		}
	}
	for (int i = 0; i < m->n_tensors; i++)
		if (m->t[i].kind == FW_TK_INPUT && i != m->inputs[0])
			BAD("%s: tensor '%s' is marked as input but is not the graph input", what,
			    m->t[i].name);

	for (int i = 0; i < m->n_ops; i++) {
		struct rt_op *op = &m->ops[i];
		struct rt_tensor *y;

		memcpy(&op->rec, img + h.ops_off + (size_t)i * sizeof op->rec, sizeof op->rec);
		if (op->rec.n_out != 1 || op->rec.out < 0 || op->rec.out >= m->n_tensors)
			BAD("%s: op %d (%s): bad output", what, i, op_name(op->rec.type));
		y = &m->t[op->rec.out];
		if (y->kind != FW_TK_ACTIVATION || y->def >= 0)
			BAD("%s: op %d (%s): output '%s' is not a fresh activation", what, i,
			    op_name(op->rec.type), y->name);
		if ((err = check_op(m, what, i)))
			return err;
		y->def = i;
		m->macs += op->macs;
	}
	for (int i = 0; i < m->n_outputs; i++) {
		struct rt_tensor *t = &m->t[m->outputs[i]];
		if (t->def < 0)
			BAD("%s: graph output '%s' is never written", what, t->name);
	}
	for (int i = 0; i < m->n_tensors; i++) {
		struct rt_tensor *t = &m->t[i];
		if (t->kind == FW_TK_ACTIVATION && t->def < 0)
			BAD("%s: tensor '%s' is never written", what, t->name);
	}
	if ((err = build_steps(m, what, opt)))
		return err;
	liveness(m);
	return plan_arena(m, what);
}

int fw_model_load_mem(const void *buf, size_t len, const char *what,
		      const struct fw_model_options *opt, struct fw_model **out)
{
	static const struct fw_model_options defaults = { .tier = FW_KERNELS_FAST };
	struct fw_model *m;
	int err;

	*out = NULL;
	if (!opt)
		opt = &defaults;
	if (!what)
		what = "model";
	m = calloc(1, sizeof *m);
	if (!m) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading", what);
		return FW_ENOMEM;
	}
	m->tier = opt->tier;
	m->input_u8_step = -1;
	m->no_f32_out = opt->no_f32_out;
	/* a private, aligned copy: consts are read in place as float arrays */
	m->image = aligned_alloc(64, align_up(len ? len : 1, 64));
	if (!m->image) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading", what);
		free(m);
		return FW_ENOMEM;
	}
	if (len)
		memcpy(m->image, buf, len);
	err = parse(m, len, what, opt);
	if (err) {
		if (err == FW_ENOMEM)
			fw_log(FW_LOG_ERROR, "%s: out of memory while loading", what);
		fw_model_free(m);
		return err;
	}
	*out = m;
	return 0;
}

int fw_model_read_file(const char *path, unsigned char **out, size_t *len)
{
	FILE *f;
	unsigned char *buf = NULL;
	long n;
	int err;

	*out = NULL;
	*len = 0;
	f = fopen(path, "rb");
	if (!f) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: cannot open model: %s", path, strerror(-err));
		return err;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		err = -errno;
		fw_log(FW_LOG_ERROR, "%s: cannot read model: %s", path, strerror(-err));
		fclose(f);
		return err;
	}
	if ((size_t)n > MAX_ARENA_BYTES) {
		fclose(f);
		fw_log(FW_LOG_ERROR, "%s: %ld bytes is too large for a model file", path, n);
		return FW_EFORMAT;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf) {
		fclose(f);
		fw_log(FW_LOG_ERROR, "%s: out of memory reading %ld bytes", path, n);
		return FW_ENOMEM;
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		err = ferror(f) ? -EIO : FW_ETRUNC;
		fw_log(FW_LOG_ERROR, "%s: read failed", path);
		free(buf);
		fclose(f);
		return err;
	}
	fclose(f);
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int fw_model_load(const char *path, const struct fw_model_options *opt, struct fw_model **out)
{
	unsigned char *buf;
	size_t len;
	int err;

	*out = NULL;
	err = fw_model_read_file(path, &buf, &len);
	if (err)
		return err;
	err = fw_model_load_mem(buf, len, path, opt, out);
	free(buf);
	return err;
}

void fw_model_free(struct fw_model *m)
{
	if (!m)
		return;
	fw_model_set_fake_quant(m, 0);
	for (int i = 0; m->ops && i < m->n_ops; i++) {
		struct rt_q8 *q = m->ops[i].q;
		if (q) {
			free(q->packed);
			free(q->bias);
			free(q->scale);
			free(q);
		}
	}
	free(m->steps);
	free(m->trace_buf);
	free(m->t);
	free(m->ops);
	free(m->inputs);
	free(m->outputs);
	free(m->arena);
	free(m->image);
	free(m);
}

const char *fw_model_name(const struct fw_model *m)
{
	return m->name;
}

static struct fw_shape shape_of(const struct rt_tensor *t)
{
	return (struct fw_shape){ t->dims[0], t->dims[1], t->dims[2], t->dims[3] };
}

float *fw_model_input(struct fw_model *m, struct fw_shape *shape)
{
	struct rt_tensor *t = &m->t[m->inputs[0]];
	if (shape)
		*shape = shape_of(t);
	return t->data;
}

uint8_t *fw_model_input_u8(struct fw_model *m, float *scale, int32_t *zero)
{
	if (m->fq)
		return NULL;
	for (int si = 0; si < m->n_steps; si++) {
		const struct rt_step *st = &m->steps[si];
		const struct rt_tensor *d;

		if (st->kind != STEP_QUANTIZE || st->src != m->inputs[0])
			continue;
		d = &m->t[st->dst];
		m->input_u8_step = si;
		*scale = d->scale;
		*zero = d->zp;
		return (uint8_t *)d->data;
	}
	return NULL;
}

int fw_model_n_outputs(const struct fw_model *m)
{
	return m->n_outputs;
}

const float *fw_model_output(const struct fw_model *m, int i, struct fw_shape *shape)
{
	const struct rt_tensor *t;

	if (i < 0 || i >= m->n_outputs)
		return NULL;
	t = &m->t[m->outputs[i]];
	if (shape)
		*shape = shape_of(t);
	return t->data;
}

const float *fw_model_output_by_name(const struct fw_model *m, const char *name,
				     struct fw_shape *shape)
{
	for (int i = 0; i < m->n_outputs; i++)
		if (!strcmp(m->t[m->outputs[i]].name, name))
			return fw_model_output(m, i, shape);
	return NULL;
}

uint64_t fw_model_macs(const struct fw_model *m)
{
	return m->macs;
}

size_t fw_model_arena_bytes(const struct fw_model *m)
{
	return m->arena_bytes;
}

int fw_model_set_trace(struct fw_model *m, fw_model_trace_fn fn, void *ctx)
{
	if (fn && m->n_int8_ops && !m->trace_buf) {
		size_t most = 0;
		for (int i = 0; i < m->n_tensors; i++)
			if (elems(m->t[i].dims) > most)
				most = elems(m->t[i].dims);
		m->trace_buf = malloc(most * sizeof(float));
		if (!m->trace_buf)
			return FW_ENOMEM;
	}
	m->trace = fn;
	m->trace_ctx = ctx;
	return 0;
}

static const float *in_data(const struct fw_model *m, const struct rt_op *op, int slot)
{
	return slot < op->rec.n_in && op->in[slot] >= 0 ? m->t[op->in[slot]].data : NULL;
}

static void run_float(struct fw_model *m, const struct rt_op *op)
{
	const int fast = m->tier == FW_KERNELS_FAST;
	const struct fw_mf_op *r = &op->rec;
	struct rt_tensor *y = &m->t[r->out];
	const struct rt_tensor *x = &m->t[op->in[0]];
	const float *w = in_data(m, op, FW_IN_W), *b = in_data(m, op, FW_IN_BIAS);
	const float *slope = in_data(m, op, FW_IN_SLOPE);

	switch (r->type) {
	case FW_OP_CONV2D:
		if (fast)
			fw_conv2d_f32_gemm(&op->g, x->data, w, b, slope, y->data, m->scratch);
		else
			fw_conv2d_f32_ref(&op->g, x->data, w, b, slope, y->data);
		break;
	case FW_OP_DWCONV2D:
		if (fast)
			fw_dwconv2d_f32_fast(&op->g, x->data, w, b, slope, y->data);
		else
			fw_dwconv2d_f32_ref(&op->g, x->data, w, b, slope, y->data);
		break;
	case FW_OP_FC: {
		int n_in = m->t[r->in[FW_IN_W]].dims[3], n_out = y->dims[3];
		if (fast)
			fw_fc_f32_blas(n_in, n_out, x->data, w, b, slope, r->act, y->data);
		else
			fw_fc_f32_ref(n_in, n_out, x->data, w, b, slope, r->act, y->data);
		break;
	}
	case FW_OP_ADD:
		fw_add_f32(x->data, m->t[op->in[1]].data, y->data, elems(y->dims), r->act);
		break;
	case FW_OP_MAXPOOL:
		fw_maxpool_f32(&op->g, x->data, y->data);
		break;
	case FW_OP_PAD:
		fw_pad_f32(x->dims, r->p, x->data, y->data);
		break;
	case FW_OP_RESIZE_BILINEAR:
		fw_resize_bilinear_f32(x->dims[1], x->dims[2], x->dims[3], x->data, y->dims[1],
				       y->dims[2], y->data, r->p[0], r->p[1]);
		break;
	case FW_OP_RESHAPE:
		break; /* y aliases x */
	case FW_OP_SOFTMAX:
		fw_softmax_f32((int)(elems(x->dims) / (size_t)x->dims[3]), x->dims[3], x->data, y->data);
		break;
	case FW_OP_CONCAT: {
		int dims[FW_MF_MAX_IN][4];
		const float *ins[FW_MF_MAX_IN];
		for (int s = 0; s < r->n_in; s++) {
			memcpy(dims[s], m->t[op->in[s]].dims, sizeof dims[s]);
			ins[s] = m->t[op->in[s]].data;
		}
		fw_concat_f32(r->n_in, (const int(*)[4])dims, ins, r->p[0], y->data);
		break;
	}
	}
}

#define U8(t) ((uint8_t *)(t)->data)

static void run_int8(struct fw_model *m, const struct rt_op *op)
{
	const struct fw_mf_op *r = &op->rec;
	const struct rt_q8 *q = op->q;
	struct rt_tensor *y = &m->t[r->out];
	const struct rt_tensor *x = &m->t[op->in[0]];

	switch (r->type) {
	case FW_OP_CONV2D:
	case FW_OP_FC:
		if (op->f32out)
			q->k->conv_f32(&q->g, U8(x), q->zero_in, q->packed, q->bias, &q->rq, y->data, m->scratch);
		else
			q->k->conv(&q->g, U8(x), q->zero_in, q->packed, q->bias, &q->rq, U8(y), m->scratch);
		break;
	case FW_OP_DWCONV2D:
		if (op->f32out)
			q->k->dwconv_f32(&q->g, U8(x), q->zero_in, q->packed, q->bias, &q->rq, y->data);
		else
			q->k->dwconv(&q->g, U8(x), q->zero_in, q->packed, q->bias, &q->rq, U8(y));
		break;
	case FW_OP_ADD:
		if (q->cpad_cb)
			q->k->add_cpad(U8(x), U8(&m->t[op->in[1]]), elems(y->dims) / (size_t)y->dims[3],
				       y->dims[3], q->cpad_cb, &q->add, U8(y));
		else
			q->k->add(U8(x), U8(&m->t[op->in[1]]), elems(y->dims), &q->add, U8(y));
		break;
	case FW_OP_MAXPOOL:
		fw_q8_maxpool(&op->g, U8(x), U8(y));
		break;
	case FW_OP_PAD:
		fw_q8_pad(x->dims, r->p, U8(x), (uint8_t)y->zp, U8(y));
		break;
	case FW_OP_RESIZE_BILINEAR:
		/* 1 / scale as the quantise step of the float plan computes it */
		fw_q8_resize_bilinear(m->q8, x->dims[1], x->dims[2], x->dims[3], U8(x), x->scale, x->zp,
				      y->dims[1], y->dims[2], U8(y), 1.0f / y->scale, y->zp, r->p[0], r->p[1],
				      m->scratch);
		break;
	case FW_OP_RESHAPE:
		break;
	case FW_OP_CONCAT: {
		int dims[FW_MF_MAX_IN][4];
		const uint8_t *ins[FW_MF_MAX_IN];
		for (int s = 0; s < r->n_in; s++) {
			memcpy(dims[s], m->t[op->in[s]].dims, sizeof dims[s]);
			ins[s] = U8(&m->t[op->in[s]]);
		}
		fw_q8_concat(r->n_in, (const int(*)[4])dims, ins, r->p[0], U8(y));
		break;
	}
	}
}

/* ---- fake quantisation: int8 simulated with the float kernels ----
 * An ADD is the float sum rounded to its output grid: the int8 add's fixed
 * point (q8.h) is that within 1e-4 code at real scales, bar exact ties
 * (half up there, half to even here). */

struct fake_quant {
	unsigned char *round; /* [n_tensors]: kept on the u8 grid, as the int8 plan stores it */
	float **orig;         /* [n_tensors]: weights and biases before rounding, to restore */
};

/* Round tensor id to its u8 grid in place, as fw_q8_quantize + dequantize. */
static void fq_round(const struct fw_model *m, int id)
{
	const struct rt_tensor *t = &m->t[id];
	const float s = t->scale, inv = 1.0f / t->scale, z = (float)t->zp;
	size_t n = elems(t->dims);

	if (!m->fq->round[id])
		return;
	for (size_t i = 0; i < n; i++) {
		float q = nearbyintf(t->data[i] * inv) + z;
		q = q >= 0 ? (q <= 255 ? q : 255) : 0; /* NaN -> 0 */
		t->data[i] = s * (q - z);
	}
}

static float *fq_backup(struct fw_model *m, int id)
{
	size_t bytes = elems(m->t[id].dims) * sizeof(float);

	m->fq->orig[id] = malloc(bytes);
	if (m->fq->orig[id])
		memcpy(m->fq->orig[id], m->t[id].data, bytes);
	return m->fq->orig[id];
}

/* Weights per output channel to symmetric int8 and the bias to int32 in
 * units of s_in * s_w, in place, exactly as prepare_q8() quantises them. */
static int fq_weights(struct fw_model *m, const struct rt_op *op)
{
	const struct fw_mf_op *r = &op->rec;
	int wid = r->in[FW_IN_W], bid = r->n_in > FW_IN_BIAS ? r->in[FW_IN_BIAS] : -1;
	float *w = m->t[wid].data, *b = bid >= 0 ? m->t[bid].data : NULL;
	const float xs = m->t[r->in[0]].scale;
	int oc, taps, stride_k, stride_c;

	if (m->fq->orig[wid] || (b && m->fq->orig[bid]))
		return 0; /* shared with an op already done */
	if (!fq_backup(m, wid) || (b && !fq_backup(m, bid)))
		return FW_ENOMEM;
	if (r->type == FW_OP_FC) {
		oc = m->t[wid].dims[2];
		taps = m->t[wid].dims[3];
	} else {
		oc = op->g.out_c;
		taps = op->g.k_h * op->g.k_w * (r->type == FW_OP_CONV2D ? op->g.in_c : 1);
	}
	stride_k = r->type == FW_OP_DWCONV2D ? oc : 1;
	stride_c = r->type == FW_OP_DWCONV2D ? 1 : taps;
	for (int c = 0; c < oc; c++) {
		double mx = 0, sw;

		for (int k = 0; k < taps; k++)
			mx = fmax(mx, fabs(w[(size_t)c * stride_c + (size_t)k * stride_k]));
		sw = mx > 0 ? mx / 127.0 : 1.0;
		for (int k = 0; k < taps; k++) {
			float *v = &w[(size_t)c * stride_c + (size_t)k * stride_k];
			long q = lround(*v / sw);
			*v = (float)((q > 127 ? 127 : q < -127 ? -127 : q) * sw);
		}
		if (b)
			b[c] = (float)(round(b[c] / (xs * sw)) * (xs * sw));
	}
	return 0;
}

int fw_model_set_fake_quant(struct fw_model *m, int on)
{
	struct fake_quant *fq = m->fq;
	int err = 0;

	if (!on || fq) {
		if (on || !fq)
			return 0;
		for (int i = 0; fq->orig && i < m->n_tensors; i++) {
			if (fq->orig[i])
				memcpy(m->t[i].data, fq->orig[i], elems(m->t[i].dims) * sizeof(float));
			free(fq->orig[i]);
		}
		free(fq->orig);
		free(fq->round);
		free(fq);
		m->fq = NULL;
		return 0;
	}
	if (m->precision != FW_PRECISION_FLOAT) {
		fw_log(FW_LOG_ERROR, "%s: fake quantisation needs the model loaded in float", m->name);
		return FW_EINVAL;
	}
	fq = m->fq = calloc(1, sizeof *fq);
	if (!fq)
		return FW_ENOMEM;
	fq->round = calloc((size_t)m->n_tensors, 1);
	fq->orig = calloc((size_t)m->n_tensors, sizeof *fq->orig);
	if (!fq->round || !fq->orig)
		err = FW_ENOMEM;
	/* what the int8 plan would run on u8: those ops' outputs and inputs;
	 * an op with a float output (op_f32out) rounds its input and weights
	 * only, as conv_f32 / dwconv_f32 compute it */
	for (int i = 0; !err && i < m->n_ops; i++) {
		const struct rt_op *op = &m->ops[i];
		const struct fw_mf_op *r = &op->rec;
		const int u8_out = op_int8(m, op);

		if (!u8_out && !op_f32out(m, op))
			continue;
		if (u8_out)
			fq->round[r->out] = 1;
		for (int s = 0; s < r->n_in; s++)
			if (r->in[s] >= 0 && m->t[r->in[s]].kind != FW_TK_CONST)
				fq->round[r->in[s]] = 1;
		if (r->type == FW_OP_CONV2D || r->type == FW_OP_DWCONV2D || r->type == FW_OP_FC)
			err = fq_weights(m, op);
	}
	if (err)
		fw_model_set_fake_quant(m, 0);
	return err;
}

int fw_model_run(struct fw_model *m)
{
	if (m->fq)
		fq_round(m, m->inputs[0]);
	for (int si = 0; si < m->n_steps; si++) {
		const struct rt_step *st = &m->steps[si];
		const struct rt_op *op;
		struct rt_tensor *y;

		if (st->kind == STEP_QUANTIZE) {
			const struct rt_tensor *d = &m->t[st->dst];

			if (si == m->input_u8_step)
				continue; /* the caller wrote the u8 input */
			(m->q8->quantize ? m->q8->quantize : fw_q8_quantize)(m->t[st->src].data, elems(d->dims),
									      1.0f / d->scale, d->zp, U8(d));
			continue;
		}
		if (st->kind == STEP_DEQUANTIZE) {
			const struct rt_tensor *src = &m->t[st->src];
			(m->q8->dequantize ? m->q8->dequantize : fw_q8_dequantize)(U8(src), elems(src->dims), src->scale,
										   src->zp, m->t[st->dst].data);
			continue;
		}
		op = &m->ops[st->op];
		if (op->int8)
			run_int8(m, op);
		else
			run_float(m, op);
		if (m->fq)
			fq_round(m, op->rec.out);
		if (m->trace) {
			y = &m->t[op->rec.out];
			const float *data = y->data;
			if (y->dtype == FW_DT_U8) {
				(m->q8->dequantize ? m->q8->dequantize : fw_q8_dequantize)(U8(y), elems(y->dims), y->scale,
											   y->zp, m->trace_buf);
				data = m->trace_buf;
			}
			m->trace(st->op, y->name, data, shape_of(y), m->trace_ctx);
		}
	}
	return 0;
}

enum fw_precision fw_model_precision(const struct fw_model *m)
{
	return m->precision;
}

const char *fw_model_kernels_name(const struct fw_model *m)
{
	if (m->q8)
		return m->q8->name;
	return m->tier == FW_KERNELS_FAST ? "blas" : "ref";
}

int fw_model_int8_ops(const struct fw_model *m)
{
	return m->n_int8_ops;
}

int fw_model_fused_ops(const struct fw_model *m)
{
	return m->n_fused_ops;
}
