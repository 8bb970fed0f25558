/* The converter's graph: TFLite lowered to the facewatch op set
 * (core/model_format.h), then serialised to a .fwm file.
 *
 *   fw_cv_lower()  TFLite model -> graph (fusion, constant expansion, checks)
 *   fw_cv_write()  graph -> the bytes of a .fwm file
 *
 * Ownership: fw_cv_lower() allocates *out, fw_cv_free() releases it (tensor
 * names and constant data included). fw_cv_write() allocates *buf; the caller
 * frees it with free(). Errors are FW_E* values plus a one-line reason in err.
 */
#ifndef FW_CONVERT_H
#define FW_CONVERT_H

#include "core/model_format.h"
#include "tflite.h"

#include <stddef.h>
#include <stdint.h>

struct fw_cv_tensor {
	uint8_t dtype;          /* enum fw_dtype (always F32 today) */
	uint8_t kind;           /* enum fw_tensor_kind */
	int32_t dims[4];        /* NHWC, right-aligned from the TFLite rank */
	char *name;
	float *data;            /* constants: product(dims) values, else NULL */
};

struct fw_cv_op {
	uint16_t type;          /* enum fw_op_type */
	uint16_t act;           /* enum fw_act */
	uint16_t n_in;
	int32_t in[FW_MF_MAX_IN];
	int32_t out;
	int32_t p[FW_MF_MAX_PARAMS];
	int tflite_op;          /* index of the first TFLite op it came from (messages) */
};

struct fw_cv_graph {
	int n_tensors, n_ops, n_inputs, n_outputs;
	struct fw_cv_tensor *tensors;
	struct fw_cv_op *ops;
	int32_t *inputs, *outputs;
	uint64_t macs;          /* conv, depthwise, FC multiply-accumulates per run */
	uint64_t params;        /* constant elements */
	int n_prelu, n_relu;    /* fused epilogues, for the summary */
};

struct fw_cv_options {
	int batch1;             /* rewrite a fixed batch N > 1 to 1 */
};

int fw_cv_lower(const struct fw_tfl_model *m, const struct fw_cv_options *opt,
		struct fw_cv_graph **out, char *err, size_t errlen);
void fw_cv_free(struct fw_cv_graph *g);

/* name: model id (< FW_MF_MAX_NAME bytes); sha256: digest of the source file. */
int fw_cv_write(const struct fw_cv_graph *g, const char *name, const uint8_t sha256[32],
		uint8_t **buf, size_t *len, char *err, size_t errlen);

const char *fw_cv_op_name(int type);

#endif
