/* Read a TFLite model (flatbuffer, schema version 3, file identifier "TFL3")
 * into plain structs: the tensors, operators and inputs/outputs of subgraph 0,
 * with each operator's builtin options decoded.
 *
 * Every offset, length and index read from the file is checked before use,
 * so a hostile or truncated file gives FW_EFORMAT and a message, never a
 * crash. The parser checks the container; the converter (lower.c) checks the
 * meaning (shapes, op semantics).
 *
 * Ownership: fw_tfl_parse() allocates *out, fw_tfl_free() releases it.
 * Tensor data pointers point into the caller's file buffer, which must outlive
 * the model. Names are NUL-terminated copies owned by the model.
 */
#ifndef FW_TFLITE_H
#define FW_TFLITE_H

#include <stddef.h>
#include <stdint.h>

#define FW_TFL_MAX_RANK 8

/* TensorType (schema.fbs) */
enum {
	FW_TFL_FLOAT32 = 0,
	FW_TFL_FLOAT16 = 1,
	FW_TFL_INT32 = 2,
	FW_TFL_UINT8 = 3,
	FW_TFL_INT64 = 4,
	FW_TFL_INT8 = 9,
};

/* BuiltinOperator codes the converter handles by name (schema.fbs) */
enum {
	FW_TFL_ADD = 0,
	FW_TFL_CONCATENATION = 2,
	FW_TFL_CONV_2D = 3,
	FW_TFL_DEPTHWISE_CONV_2D = 4,
	FW_TFL_DEQUANTIZE = 6,
	FW_TFL_FULLY_CONNECTED = 9,
	FW_TFL_MAX_POOL_2D = 17,
	FW_TFL_MUL = 18,
	FW_TFL_RELU = 19,
	FW_TFL_RESHAPE = 22,
	FW_TFL_RESIZE_BILINEAR = 23,
	FW_TFL_SOFTMAX = 25,
	FW_TFL_CUSTOM = 32,
	FW_TFL_PAD = 34,
	FW_TFL_SUB = 41,
	FW_TFL_DIV = 42,
	FW_TFL_EXP = 47,
	FW_TFL_NEG = 59,
	FW_TFL_SUM = 74,
	FW_TFL_REDUCE_MAX = 82,
	FW_TFL_ABS = 101,
};

/* BuiltinOptions union member ids (schema.fbs; 0 = no options) */
enum {
	FW_TFL_OPT_NONE = 0,
	FW_TFL_OPT_CONV2D = 1,
	FW_TFL_OPT_DEPTHWISE = 2,
	FW_TFL_OPT_POOL2D = 5,
	FW_TFL_OPT_FULLY_CONNECTED = 8,
	FW_TFL_OPT_SOFTMAX = 9,
	FW_TFL_OPT_CONCATENATION = 10,
	FW_TFL_OPT_ADD = 11,
	FW_TFL_OPT_RESIZE_BILINEAR = 15,
	FW_TFL_OPT_RESHAPE = 17,
	FW_TFL_OPT_MUL = 21,
	FW_TFL_OPT_PAD = 22,
	FW_TFL_OPT_REDUCER = 27,
	FW_TFL_OPT_SUB = 28,
	FW_TFL_OPT_DIV = 29,
};

/* Padding and ActivationFunctionType (schema.fbs) */
enum { FW_TFL_PAD_SAME = 0, FW_TFL_PAD_VALID = 1 };
enum { FW_TFL_ACT_NONE = 0, FW_TFL_ACT_RELU = 1 };

struct fw_tfl_tensor {
	int type;                        /* TensorType */
	int rank;
	int32_t shape[FW_TFL_MAX_RANK];
	char *name;                      /* never NULL; "" if the file has none */
	const uint8_t *data;             /* constant bytes, or NULL */
	size_t data_size;
	int quantized;                   /* has quantization scales */
	int sparse;                      /* has sparsity parameters */
};

/* The union of the builtin options the converter reads; fields an operator's
 * options table does not have keep the schema defaults. */
struct fw_tfl_options {
	int type;                        /* BuiltinOptions member id, FW_TFL_OPT_* */
	int padding;                     /* FW_TFL_PAD_* */
	int stride_w, stride_h;
	int dilation_w, dilation_h;
	int filter_w, filter_h;
	int depth_multiplier;
	int act;                         /* fused_activation_function */
	int axis;
	int keep_dims;
	int align_corners, half_pixel_centers;
	int weights_format, keep_num_dims;
	float beta;
	int n_new_shape;
	int32_t new_shape[FW_TFL_MAX_RANK];
};

struct fw_tfl_op {
	int code;                        /* BuiltinOperator */
	char *custom_code;               /* CUSTOM ops only, else NULL */
	int n_in, n_out;
	int32_t *in, *out;               /* tensor indices; -1 = optional input absent */
	struct fw_tfl_options opt;
};

struct fw_tfl_model {
	int n_subgraphs;
	int n_tensors, n_ops, n_inputs, n_outputs;
	struct fw_tfl_tensor *tensors;
	struct fw_tfl_op *ops;           /* execution order */
	int32_t *inputs, *outputs;
};

/* Parse buf[0..len). On error returns FW_EFORMAT (or FW_ENOMEM) and writes a
 * one-line reason to err. */
int fw_tfl_parse(const uint8_t *buf, size_t len, struct fw_tfl_model **out,
		 char *err, size_t errlen);
void fw_tfl_free(struct fw_tfl_model *m);

/* "CONV_2D", ...; "BUILTIN_<n>" style text for codes this table lacks
 * (static buffer for those: not thread-safe). */
const char *fw_tfl_op_name(int code);
const char *fw_tfl_type_name(int type);
/* Bytes per element, 0 for types the converter never reads. */
size_t fw_tfl_type_size(int type);

#endif
