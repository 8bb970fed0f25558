#include "tflite.h"

#include "core/fw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* flatbuffer offsets are 32-bit; we keep every position below 2 GiB so that
 * position + 32-bit length never wraps in 64-bit arithmetic either */
#define FW_TFL_MAX_FILE 0x7fffffffu
#define FW_TFL_MAX_LIST 1000000u /* tensors, ops, buffers, op inputs: far above any real model */

static const char *const op_names[] = {
	"ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
	"DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
	"L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC",
	"LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE",
	"RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS",
	"SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
	"UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
	"TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE",
	"BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE",
	"BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS",
	"NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN",
	"TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG",
	"SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX",
	"PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN",
	"FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
	"RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V",
	"UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
	"REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF",
	"WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
	"DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM",
	"CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE",
	"HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE",
	"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL",
	"BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1",
	"UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
	"UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
};

const char *fw_tfl_op_name(int code)
{
	static char other[32];

	if (code >= 0 && code < (int)(sizeof op_names / sizeof op_names[0]))
		return op_names[code];
	snprintf(other, sizeof other, "BUILTIN_%d", code);
	return other;
}

const char *fw_tfl_type_name(int type)
{
	static const char *const names[] = {
		"FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16",
		"COMPLEX64", "INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT",
		"UINT32", "UINT16", "INT4",
	};

	if (type >= 0 && type < (int)(sizeof names / sizeof names[0]))
		return names[type];
	return "UNKNOWN_TYPE";
}

size_t fw_tfl_type_size(int type)
{
	switch (type) {
	case FW_TFL_FLOAT32: return 4;
	case FW_TFL_FLOAT16: return 2;
	case FW_TFL_INT32: return 4;
	case FW_TFL_UINT8: return 1;
	case FW_TFL_INT64: return 8;
	case FW_TFL_INT8: return 1;
	default: return 0;
	}
}

/* ---- bounds-checked flatbuffer access ---------------------------------- */

struct fb {
	const uint8_t *p;
	size_t len;
	char *err;
	size_t errlen;
};

/* A table whose vtable has been checked to lie inside the file. */
struct fb_table {
	uint32_t pos, vt, vtsize, tsize;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct fb *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
	return FW_EFORMAT;
}

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int fb_table_at(struct fb *b, uint64_t pos, struct fb_table *t, const char *what)
{
	int64_t vt;

	if (pos + 4 > b->len)
		return bad(b, "%s: table at offset %llu is outside the file", what,
			   (unsigned long long)pos);
	/* the vtable is at pos minus a signed 32-bit offset stored at pos */
	vt = (int64_t)pos - (int32_t)rd32(b->p + pos);
	if (vt < 0 || (uint64_t)vt + 4 > b->len)
		return bad(b, "%s: vtable is outside the file", what);
	t->pos = (uint32_t)pos;
	t->vt = (uint32_t)vt;
	t->vtsize = rd16(b->p + vt);
	t->tsize = rd16(b->p + vt + 2);
	if (t->vtsize < 4 || t->vtsize & 1 || (uint64_t)vt + t->vtsize > b->len)
		return bad(b, "%s: malformed vtable", what);
	if (t->tsize < 4 || pos + t->tsize > b->len)
		return bad(b, "%s: table runs past the end of the file", what);
	return 0;
}

/* Position of field `id` (its vtable slot) holding `size` bytes, or 0 if the
 * field is absent (the schema default then applies). */
static int fb_field(struct fb *b, const struct fb_table *t, int id, uint32_t size, uint32_t *pos,
		    const char *what)
{
	uint32_t slot = 4 + 2 * (uint32_t)id, fo;

	*pos = 0;
	if (slot + 2 > t->vtsize)
		return 0;
	fo = rd16(b->p + t->vt + slot);
	if (fo == 0)
		return 0;
	if (fo < 4 || fo + size > t->tsize)
		return bad(b, "%s: field %d lies outside its table", what, id);
	*pos = t->pos + fo;
	return 0;
}

static int fb_int(struct fb *b, const struct fb_table *t, int id, uint32_t size, int is_signed,
		  int64_t def, int64_t *v, const char *what)
{
	uint32_t pos;
	int err = fb_field(b, t, id, size, &pos, what);

	*v = def;
	if (err || !pos)
		return err;
	switch (size) {
	case 1: *v = is_signed ? (int64_t)(int8_t)b->p[pos] : (int64_t)b->p[pos]; break;
	case 4: *v = is_signed ? (int64_t)(int32_t)rd32(b->p + pos) : (int64_t)rd32(b->p + pos); break;
	default: *v = (int64_t)rd64(b->p + pos); break;
	}
	return 0;
}

/* int32 field, also checked to fit an int (all of ours do) */
static int fb_i32(struct fb *b, const struct fb_table *t, int id, int def, int *v, const char *what)
{
	int64_t x;
	int err = fb_int(b, t, id, 4, 1, def, &x, what);

	*v = (int)x;
	return err;
}

static int fb_i8(struct fb *b, const struct fb_table *t, int id, int def, int *v, const char *what)
{
	int64_t x;
	int err = fb_int(b, t, id, 1, 1, def, &x, what);

	*v = (int)x;
	return err;
}

static int fb_f32(struct fb *b, const struct fb_table *t, int id, float def, float *v, const char *what)
{
	uint32_t pos, bits;
	int err = fb_field(b, t, id, 4, &pos, what);

	*v = def;
	if (err || !pos)
		return err;
	bits = rd32(b->p + pos);
	memcpy(v, &bits, sizeof *v);
	return 0;
}

/* Follow the uoffset stored in field `id`; *target = 0 if absent. */
static int fb_ref(struct fb *b, const struct fb_table *t, int id, uint64_t *target, const char *what)
{
	uint32_t pos;
	int err = fb_field(b, t, id, 4, &pos, what);

	*target = 0;
	if (err || !pos)
		return err;
	*target = (uint64_t)pos + rd32(b->p + pos);
	if (*target + 4 > b->len)
		return bad(b, "%s: field %d points outside the file", what, id);
	return 0;
}

static int fb_child(struct fb *b, const struct fb_table *t, int id, struct fb_table *child,
		    int *present, const char *what)
{
	uint64_t target;
	int err = fb_ref(b, t, id, &target, what);

	*present = 0;
	if (err || !target)
		return err;
	*present = 1;
	return fb_table_at(b, target, child, what);
}

/* Vector in field `id`: *data = position of element 0, *n elements of elsize
 * bytes, all inside the file. Absent vectors are empty. */
static int fb_vector(struct fb *b, const struct fb_table *t, int id, uint32_t elsize,
		     uint32_t *data, uint32_t *n, const char *what)
{
	uint64_t vpos;
	int err = fb_ref(b, t, id, &vpos, what);

	*data = 0;
	*n = 0;
	if (err || !vpos)
		return err;
	*n = rd32(b->p + vpos);
	if ((uint64_t)*n * elsize > b->len - (vpos + 4))
		return bad(b, "%s: vector in field %d (%u elements) runs past the end of the file",
			   what, id, *n);
	*data = (uint32_t)(vpos + 4);
	return 0;
}

static int fb_vector_table(struct fb *b, uint32_t data, uint32_t i, struct fb_table *t,
			   const char *what)
{
	uint32_t pos = data + 4 * i;

	return fb_table_at(b, (uint64_t)pos + rd32(b->p + pos), t, what);
}

/* String field as a malloc'd NUL-terminated copy ("" if absent). */
static int fb_string(struct fb *b, const struct fb_table *t, int id, char **s, const char *what)
{
	uint32_t data, n;
	int err = fb_vector(b, t, id, 1, &data, &n, what);

	*s = NULL;
	if (err)
		return err;
	*s = malloc((size_t)n + 1);
	if (!*s)
		return FW_ENOMEM;
	if (n)
		memcpy(*s, b->p + data, n);
	(*s)[n] = 0;
	return 0;
}

/* Vector of int32 as a malloc'd array (NULL when empty). */
static int fb_int_vector(struct fb *b, const struct fb_table *t, int id, int32_t **v, int *n,
			 uint32_t max, const char *what)
{
	uint32_t data, count;
	int err = fb_vector(b, t, id, 4, &data, &count, what);

	*v = NULL;
	*n = 0;
	if (err)
		return err;
	if (count > max)
		return bad(b, "%s: %u entries in field %d (at most %u)", what, count, id, max);
	if (!count)
		return 0;
	*v = malloc(count * sizeof **v);
	if (!*v)
		return FW_ENOMEM;
	for (uint32_t i = 0; i < count; i++)
		(*v)[i] = (int32_t)rd32(b->p + data + 4 * i);
	*n = (int)count;
	return 0;
}

/* ---- TFLite schema ------------------------------------------------------ */

struct buffer_ref {
	const uint8_t *data;
	size_t size;
};

/* Field ids below are vtable slots of schema.fbs; a union takes two slots
 * (its type byte, then the table). */
static int parse_options(struct fb *b, const struct fb_table *t, struct fw_tfl_options *o,
			 const char *what)
{
	int err = 0;

	switch (o->type) {
	case FW_TFL_OPT_CONV2D:
		err = err ? err : fb_i8(b, t, 0, FW_TFL_PAD_SAME, &o->padding, what);
		err = err ? err : fb_i32(b, t, 1, 0, &o->stride_w, what);
		err = err ? err : fb_i32(b, t, 2, 0, &o->stride_h, what);
		err = err ? err : fb_i8(b, t, 3, FW_TFL_ACT_NONE, &o->act, what);
		err = err ? err : fb_i32(b, t, 4, 1, &o->dilation_w, what);
		err = err ? err : fb_i32(b, t, 5, 1, &o->dilation_h, what);
		break;
	case FW_TFL_OPT_DEPTHWISE:
		err = err ? err : fb_i8(b, t, 0, FW_TFL_PAD_SAME, &o->padding, what);
		err = err ? err : fb_i32(b, t, 1, 0, &o->stride_w, what);
		err = err ? err : fb_i32(b, t, 2, 0, &o->stride_h, what);
		err = err ? err : fb_i32(b, t, 3, 0, &o->depth_multiplier, what);
		err = err ? err : fb_i8(b, t, 4, FW_TFL_ACT_NONE, &o->act, what);
		err = err ? err : fb_i32(b, t, 5, 1, &o->dilation_w, what);
		err = err ? err : fb_i32(b, t, 6, 1, &o->dilation_h, what);
		break;
	case FW_TFL_OPT_POOL2D:
		err = err ? err : fb_i8(b, t, 0, FW_TFL_PAD_SAME, &o->padding, what);
		err = err ? err : fb_i32(b, t, 1, 0, &o->stride_w, what);
		err = err ? err : fb_i32(b, t, 2, 0, &o->stride_h, what);
		err = err ? err : fb_i32(b, t, 3, 0, &o->filter_w, what);
		err = err ? err : fb_i32(b, t, 4, 0, &o->filter_h, what);
		err = err ? err : fb_i8(b, t, 5, FW_TFL_ACT_NONE, &o->act, what);
		break;
	case FW_TFL_OPT_FULLY_CONNECTED:
		err = err ? err : fb_i8(b, t, 0, FW_TFL_ACT_NONE, &o->act, what);
		err = err ? err : fb_i8(b, t, 1, 0, &o->weights_format, what);
		err = err ? err : fb_i8(b, t, 2, 0, &o->keep_num_dims, what);
		break;
	case FW_TFL_OPT_SOFTMAX:
		err = err ? err : fb_f32(b, t, 0, 0.0f, &o->beta, what);
		break;
	case FW_TFL_OPT_CONCATENATION:
		err = err ? err : fb_i32(b, t, 0, 0, &o->axis, what);
		err = err ? err : fb_i8(b, t, 1, FW_TFL_ACT_NONE, &o->act, what);
		break;
	case FW_TFL_OPT_ADD:
	case FW_TFL_OPT_MUL:
	case FW_TFL_OPT_SUB:
	case FW_TFL_OPT_DIV:
		err = err ? err : fb_i8(b, t, 0, FW_TFL_ACT_NONE, &o->act, what);
		break;
	case FW_TFL_OPT_RESIZE_BILINEAR:
		/* slots 0 and 1 are the deprecated new_height/new_width */
		err = err ? err : fb_i8(b, t, 2, 0, &o->align_corners, what);
		err = err ? err : fb_i8(b, t, 3, 0, &o->half_pixel_centers, what);
		break;
	case FW_TFL_OPT_RESHAPE: {
		int32_t *v;
		int n;

		err = fb_int_vector(b, t, 0, &v, &n, FW_TFL_MAX_RANK, what);
		if (err)
			break;
		o->n_new_shape = n;
		if (n)
			memcpy(o->new_shape, v, (size_t)n * sizeof *v);
		free(v);
		break;
	}
	case FW_TFL_OPT_REDUCER:
		err = err ? err : fb_i8(b, t, 0, 0, &o->keep_dims, what);
		break;
	default:
		break; /* options the converter never reads */
	}
	return err;
}

static void default_options(struct fw_tfl_options *o)
{
	memset(o, 0, sizeof *o);
	o->padding = FW_TFL_PAD_SAME;
	o->dilation_w = o->dilation_h = 1;
}

static int parse_tensor(struct fb *b, const struct fb_table *t, const struct buffer_ref *bufs,
			uint32_t n_bufs, struct fw_tfl_tensor *ten, const char *what)
{
	struct fb_table q;
	int32_t *shape = NULL;
	int64_t buffer;
	int present, err;

	err = fb_int_vector(b, t, 0, &shape, &ten->rank, FW_TFL_MAX_RANK, what);
	if (err)
		goto fail;
	if (ten->rank)
		memcpy(ten->shape, shape, (size_t)ten->rank * sizeof *shape);
	err = fb_i8(b, t, 1, FW_TFL_FLOAT32, &ten->type, what);
	if (!err)
		err = fb_int(b, t, 2, 4, 0, 0, &buffer, what);
	if (!err)
		err = fb_string(b, t, 3, &ten->name, what);
	if (err)
		goto fail;
	if ((uint64_t)buffer >= n_bufs) {
		err = bad(b, "%s: buffer index %lld out of range (%u buffers)", what,
			  (long long)buffer, n_bufs);
		goto fail;
	}
	ten->data = bufs[buffer].size ? bufs[buffer].data : NULL;
	ten->data_size = bufs[buffer].size;
	err = fb_child(b, t, 4, &q, &present, what);
	if (err)
		goto fail;
	if (present) {
		uint32_t data, n;

		/* QuantizationParameters.scale is slot 2 */
		err = fb_vector(b, &q, 2, 4, &data, &n, what);
		if (err)
			goto fail;
		ten->quantized = n > 0;
	}
	{
		uint32_t pos;

		/* SparsityParameters is slot 6 */
		err = fb_field(b, t, 6, 4, &pos, what);
		if (err)
			goto fail;
		ten->sparse = pos != 0;
	}
fail:
	free(shape);
	return err;
}

static int parse_buffers(struct fb *b, const struct fb_table *root, struct buffer_ref **out,
			 uint32_t *n_out)
{
	struct buffer_ref *bufs = NULL;
	uint32_t data, n;
	int err;

	*out = NULL;
	*n_out = 0;
	err = fb_vector(b, root, 4, 4, &data, &n, "model buffers");
	if (err)
		return err;
	if (n > FW_TFL_MAX_LIST)
		return bad(b, "model has %u buffers", n);
	/* at least one entry, so buffer index 0 ("no data") always resolves */
	bufs = calloc(n ? n : 1, sizeof *bufs);
	if (!bufs)
		return FW_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct fb_table t;
		char what[48];
		uint32_t vdata, vn;
		int64_t off, size;

		snprintf(what, sizeof what, "buffer %u", i);
		err = fb_vector_table(b, data, i, &t, what);
		if (!err)
			err = fb_vector(b, &t, 0, 1, &vdata, &vn, what);
		if (!err)
			err = fb_int(b, &t, 1, 8, 0, 0, &off, what);
		if (!err)
			err = fb_int(b, &t, 2, 8, 0, 0, &size, what);
		if (err)
			goto fail;
		if ((uint64_t)off > 1) {
			/* data stored after the flatbuffer (models > 2 GB); offset from file start */
			if ((uint64_t)off > b->len || (uint64_t)size > b->len - (uint64_t)off) {
				err = bad(b, "%s: data at offset %llu size %llu is outside the file",
					  what, (unsigned long long)off, (unsigned long long)size);
				goto fail;
			}
			bufs[i].data = b->p + off;
			bufs[i].size = (size_t)size;
		} else {
			bufs[i].data = b->p + vdata;
			bufs[i].size = vn;
		}
	}
	*out = bufs;
	*n_out = n ? n : 1;
	return 0;
fail:
	free(bufs);
	return err;
}

static int parse_ops(struct fb *b, const struct fb_table *sg, const int *codes, char **customs,
		     uint32_t n_codes, struct fw_tfl_model *m)
{
	uint32_t data, n;
	int err = fb_vector(b, sg, 3, 4, &data, &n, "subgraph operators");

	if (err)
		return err;
	if (n > FW_TFL_MAX_LIST)
		return bad(b, "subgraph has %u operators", n);
	m->ops = calloc(n ? n : 1, sizeof *m->ops);
	if (!m->ops)
		return FW_ENOMEM;
	m->n_ops = (int)n;
	for (uint32_t i = 0; i < n; i++) {
		struct fw_tfl_op *op = &m->ops[i];
		struct fb_table t, ot;
		int64_t code_index;
		int present;
		char what[48];

		snprintf(what, sizeof what, "operator %u", i);
		default_options(&op->opt);
		err = fb_vector_table(b, data, i, &t, what);
		if (!err)
			err = fb_int(b, &t, 0, 4, 0, 0, &code_index, what);
		if (err)
			return err;
		if ((uint64_t)code_index >= n_codes)
			return bad(b, "%s: opcode index %lld out of range (%u codes)", what,
				   (long long)code_index, n_codes);
		op->code = codes[code_index];
		if (customs[code_index]) {
			op->custom_code = strdup(customs[code_index]);
			if (!op->custom_code)
				return FW_ENOMEM;
		}
		err = fb_int_vector(b, &t, 1, &op->in, &op->n_in, FW_TFL_MAX_LIST, what);
		if (!err)
			err = fb_int_vector(b, &t, 2, &op->out, &op->n_out, FW_TFL_MAX_LIST, what);
		if (!err)
			err = fb_i8(b, &t, 3, FW_TFL_OPT_NONE, &op->opt.type, what);
		if (!err)
			err = fb_child(b, &t, 4, &ot, &present, what);
		if (err)
			return err;
		op->opt.type &= 0xff; /* the union type is a ubyte */
		if (present) {
			err = parse_options(b, &ot, &op->opt, what);
			if (err)
				return err;
		} else {
			op->opt.type = FW_TFL_OPT_NONE;
		}
		for (int k = 0; k < op->n_in; k++)
			if (op->in[k] < -1 || op->in[k] >= m->n_tensors)
				return bad(b, "%s (%s): input %d is tensor %d, out of range", what,
					   fw_tfl_op_name(op->code), k, op->in[k]);
		for (int k = 0; k < op->n_out; k++)
			if (op->out[k] < 0 || op->out[k] >= m->n_tensors)
				return bad(b, "%s (%s): output %d is tensor %d, out of range", what,
					   fw_tfl_op_name(op->code), k, op->out[k]);
	}
	return 0;
}

int fw_tfl_parse(const uint8_t *buf, size_t len, struct fw_tfl_model **out, char *errbuf,
		 size_t errlen)
{
	struct fb b = { buf, len, errbuf, errlen };
	struct fw_tfl_model *m = NULL;
	struct buffer_ref *bufs = NULL;
	struct fb_table root, sg;
	uint32_t codes_data, n_codes = 0, sg_data, n_sg, t_data, n_t, n_bufs = 0;
	int *codes = NULL;
	char **customs = NULL;
	int64_t version;
	int err;

	*out = NULL;
	if (errlen)
		errbuf[0] = 0;
	if (len < 8)
		return bad(&b, "file is %zu bytes, too short for a TFLite model", len);
	if (len > FW_TFL_MAX_FILE)
		return bad(&b, "file is %zu bytes, larger than a flatbuffer can address", len);
	if (memcmp(buf + 4, "TFL3", 4))
		return bad(&b, "no \"TFL3\" file identifier: not a TFLite model");
	err = fb_table_at(&b, rd32(buf), &root, "model");
	if (!err)
		err = fb_int(&b, &root, 0, 4, 0, 0, &version, "model");
	if (err)
		return err;
	if (version != 3)
		return bad(&b, "TFLite schema version %lld (this converter reads version 3)",
			   (long long)version);

	m = calloc(1, sizeof *m);
	if (!m)
		return FW_ENOMEM;

	/* operator codes: builtin code is the larger of the old int8 field and
	 * the int32 one (files write one or both) */
	err = fb_vector(&b, &root, 1, 4, &codes_data, &n_codes, "operator codes");
	if (err)
		goto fail;
	if (n_codes > FW_TFL_MAX_LIST) {
		err = bad(&b, "model has %u operator codes", n_codes);
		goto fail;
	}
	codes = calloc(n_codes ? n_codes : 1, sizeof *codes);
	customs = calloc(n_codes ? n_codes : 1, sizeof *customs);
	if (!codes || !customs) {
		err = FW_ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < n_codes; i++) {
		struct fb_table t;
		int deprecated, code;
		char what[48];

		snprintf(what, sizeof what, "operator code %u", i);
		err = fb_vector_table(&b, codes_data, i, &t, what);
		if (!err)
			err = fb_i8(&b, &t, 0, 0, &deprecated, what);
		if (!err)
			err = fb_i32(&b, &t, 3, 0, &code, what);
		if (err)
			goto fail;
		codes[i] = deprecated > code ? deprecated : code;
		if (codes[i] == FW_TFL_CUSTOM) {
			err = fb_string(&b, &t, 1, &customs[i], what);
			if (err)
				goto fail;
		}
	}

	err = parse_buffers(&b, &root, &bufs, &n_bufs);
	if (err)
		goto fail;

	err = fb_vector(&b, &root, 2, 4, &sg_data, &n_sg, "subgraphs");
	if (err)
		goto fail;
	if (n_sg == 0) {
		err = bad(&b, "model has no subgraph");
		goto fail;
	}
	m->n_subgraphs = n_sg > FW_TFL_MAX_LIST ? (int)FW_TFL_MAX_LIST : (int)n_sg;
	err = fb_vector_table(&b, sg_data, 0, &sg, "subgraph 0");
	if (err)
		goto fail;

	err = fb_vector(&b, &sg, 0, 4, &t_data, &n_t, "subgraph tensors");
	if (err)
		goto fail;
	if (n_t > FW_TFL_MAX_LIST) {
		err = bad(&b, "subgraph has %u tensors", n_t);
		goto fail;
	}
	m->tensors = calloc(n_t ? n_t : 1, sizeof *m->tensors);
	if (!m->tensors) {
		err = FW_ENOMEM;
		goto fail;
	}
	m->n_tensors = (int)n_t;
	for (uint32_t i = 0; i < n_t; i++) {
		struct fb_table t;
		char what[48];

		snprintf(what, sizeof what, "tensor %u", i);
		err = fb_vector_table(&b, t_data, i, &t, what);
		if (!err)
			err = parse_tensor(&b, &t, bufs, n_bufs, &m->tensors[i], what);
		if (err)
			goto fail;
	}

	err = fb_int_vector(&b, &sg, 1, &m->inputs, &m->n_inputs, FW_TFL_MAX_LIST, "subgraph inputs");
	if (!err)
		err = fb_int_vector(&b, &sg, 2, &m->outputs, &m->n_outputs, FW_TFL_MAX_LIST,
				    "subgraph outputs");
	if (err)
		goto fail;
	for (int i = 0; i < m->n_inputs; i++)
		if (m->inputs[i] < 0 || m->inputs[i] >= m->n_tensors) {
			err = bad(&b, "subgraph input %d is tensor %d, out of range", i, m->inputs[i]);
			goto fail;
		}
	for (int i = 0; i < m->n_outputs; i++)
		if (m->outputs[i] < 0 || m->outputs[i] >= m->n_tensors) {
			err = bad(&b, "subgraph output %d is tensor %d, out of range", i, m->outputs[i]);
			goto fail;
		}

	err = parse_ops(&b, &sg, codes, customs, n_codes, m);
	if (err)
		goto fail;

	free(codes);
	for (uint32_t i = 0; i < n_codes; i++)
		free(customs[i]);
	free(customs);
	free(bufs);
	*out = m;
	return 0;
fail:
	if (err == FW_ENOMEM && errlen)
		snprintf(errbuf, errlen, "out of memory");
	free(codes);
	if (customs)
		for (uint32_t i = 0; i < n_codes; i++)
			free(customs[i]);
	free(customs);
	free(bufs);
	fw_tfl_free(m);
	return err;
}

void fw_tfl_free(struct fw_tfl_model *m)
{
	if (!m)
		return;
	if (m->tensors)
		for (int i = 0; i < m->n_tensors; i++)
			free(m->tensors[i].name);
	if (m->ops)
		for (int i = 0; i < m->n_ops; i++) {
			free(m->ops[i].in);
			free(m->ops[i].out);
			free(m->ops[i].custom_code);
		}
	free(m->tensors);
	free(m->ops);
	free(m->inputs);
	free(m->outputs);
	free(m);
}
