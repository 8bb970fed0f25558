/* The CNN runtime: loads a facewatch model file (core/model_format.h), plans
 * every activation into one arena at load, and runs the graph.
 *
 * Ownership: fw_model_load*() allocate the model; fw_model_free() releases
 * everything. Pointers from fw_model_input()/fw_model_output() point into the
 * arena and stay valid until fw_model_free(); outputs are overwritten by the
 * next run; the input is kept, so it may be filled once and run many times.
 * Thread-safety: a model is used by one thread at a time; two
 * models are independent. fw_model_run() performs no allocation.
 */
#ifndef FW_MODEL_H
#define FW_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct fw_model;
struct fw_q8_kernels;

struct fw_shape {
	int n, h, w, c;
};

enum fw_precision { FW_PRECISION_FLOAT = 0, FW_PRECISION_INT8 = 1 };

enum fw_kernel_tier {
	FW_KERNELS_REF = 0,  /* plain C reference for every op */
	FW_KERNELS_FAST = 1, /* the fastest this machine has (GEMM / SIMD) */
};

struct fw_model_options {
	const char *expect_name;   /* refuse a file whose model id differs; NULL = any */
	enum fw_kernel_tier tier;  /* with int8: REF = the reference int8 kernels,
				    * FAST = the best ISA (fw_isa_active) */
	enum fw_precision precision; /* INT8 runs every calibrated op on u8 tensors
				      * with int8 weights quantised at load; an
				      * uncalibrated file runs in float (warned) */
	int skip_checksum;         /* fuzzing only: do not verify the CRC */
	/* int8 only, for tests and benchmarks: run this ISA's kernel table
	 * (core/kernels/q8.h) instead of the one `tier` picks; NULL = by tier */
	const struct fw_q8_kernels *q8_kernels;
	/* int8 only, for tests and benchmarks: plan every op as the file has it,
	 * without fusing ops at load (the results are the same bytes) */
	int no_fuse;
	/* int8 only, for tests and benchmarks: a CONV2D, DWCONV2D or FC whose
	 * input is calibrated but whose output stays float (a detector head)
	 * runs in float on the dequantised input, as before the int8 kernels
	 * had float outputs (conv_f32, dwconv_f32); the default runs it int8
	 * with a float epilogue. Fake quantisation follows the same choice. */
	int no_f32_out;
};

/* Load from a file. Errors are logged with the path and what to do;
 * returns 0 or FW_E* / -errno. */
int fw_model_load(const char *path, const struct fw_model_options *opt, struct fw_model **out);

/* Read a whole model file into a new buffer (caller frees), with the same
 * messages as fw_model_load; no check of its contents. 0 or FW_E* / -errno. */
int fw_model_read_file(const char *path, unsigned char **buf, size_t *len);

/* Load from memory (copied); `what` names the source in messages. */
int fw_model_load_mem(const void *buf, size_t len, const char *what,
		      const struct fw_model_options *opt, struct fw_model **out);

void fw_model_free(struct fw_model *m);

const char *fw_model_name(const struct fw_model *m);

/* The input tensor (float32 NHWC) to fill before fw_model_run(). */
float *fw_model_input(struct fw_model *m, struct fw_shape *shape);

/* For an int8 model whose input goes straight into the int8 region: the u8
 * tensor the input is quantised into (q = clamp(nearbyint(x / scale) + zero,
 * 0, 255), as fw_q8_quantize), with its scale and zero point. From this
 * call on, fw_model_run() leaves that tensor as the caller wrote it and no
 * longer reads fw_model_input()'s floats: a caller whose input is 8-bit
 * pixels maps them with a 256-entry table instead of writing floats to be
 * quantised back (the same bytes, one pass less). NULL for a float model
 * or under fake quantisation; then nothing changes. */
uint8_t *fw_model_input_u8(struct fw_model *m, float *scale, int32_t *zero);

int fw_model_run(struct fw_model *m);

int fw_model_n_outputs(const struct fw_model *m);
/* Output i (float32 NHWC, right-aligned to rank 4); shape may be NULL. */
const float *fw_model_output(const struct fw_model *m, int i, struct fw_shape *shape);
/* Output by tensor name; NULL if absent. */
const float *fw_model_output_by_name(const struct fw_model *m, const char *name,
				     struct fw_shape *shape);

/* Multiply-accumulates of one run (conv, depthwise, FC). */
uint64_t fw_model_macs(const struct fw_model *m);
/* Bytes of the activation arena (planned once at load). */
size_t fw_model_arena_bytes(const struct fw_model *m);

/* Debugging hook: called after each op with the op index, output name and
 * data; NULL to disable. Used by the layer-by-layer golden test. */
typedef void (*fw_model_trace_fn)(int op_index, const char *name, const float *data,
				  struct fw_shape shape, void *ctx);
/* int8 outputs are dequantised for the hook (a buffer allocated here).
 * Ops fused into the next one at an int8 load (fw_model_fused_ops) have no
 * output of their own and are not reported. */
int fw_model_set_trace(struct fw_model *m, fw_model_trace_fn fn, void *ctx);

/* What the load decided: the precision it runs in, how many ops run int8,
 * and the kernels ("ref", "blas", or the int8 ISA: "avx512", "neondot", ...). */
enum fw_precision fw_model_precision(const struct fw_model *m);
int fw_model_int8_ops(const struct fw_model *m);
/* Ops the int8 plan changed from the file's, with the same results: channel
 * PADs folded into the ADD that reads them, float RESIZEs between u8
 * tensors run on u8 with their dequantise and quantise folded in. All are
 * counted in fw_model_int8_ops. */
int fw_model_fused_ops(const struct fw_model *m);
const char *fw_model_kernels_name(const struct fw_model *m);

/* Fake quantisation: judge an int8 calibration with the float kernels.
 * On a model loaded in float with calibrated tensors (scale > 0), every op
 * the int8 plan would run on u8 gets its weights rounded per output channel
 * to symmetric int8 and its bias to int32, in place, as the int8 load does;
 * its inputs and output are rounded to their u8 grid after each op (the
 * input at the start of a run, in place):
 *   x = scale * (clamp(nearbyint(x / scale) + zp, 0, 255) - zp).
 * An op that runs int8 with a float output (a conv whose input is
 * calibrated and output is not; not with no_f32_out at load) gets its
 * weights, bias and input rounded the same way, its output not.
 * Off restores the weights. Allocates a copy of the rounded weights when
 * turned on (FW_ENOMEM); runs allocate nothing. FW_EINVAL on a model
 * loaded int8. */
int fw_model_set_fake_quant(struct fw_model *m, int on);

#endif
