/* Post-training calibration of u8 activations: per-tensor statistics over
 * float runs, a (scale, zero point) per tensor, and the model file rewritten
 * with them (core/model_format.h: real = scale * (q - zero_point), q in
 * 0..255, scale 0 = the tensor stays float).
 *
 * Use:
 *   fw_calib_create(&c, path)            graph and statistics of one model file
 *   fw_calib_attach(c, m)                m (loaded from that file, float) now
 *   ... fill input, fw_model_run(m) ...  feeds every run's input and op outputs
 *   fw_calib_detach(c)
 *   fw_calib_choose(c, &opt)             pick the parameters
 *   fw_calib_write(path, out_path, c)    the same file with them filled in
 *
 * Statistics are a histogram per tensor whose bins are a power of two wide
 * and anchored at 0. When a value falls outside, the width doubles and pairs
 * of bins merge exactly, so the histogram depends only on the multiset of
 * values seen, never on their order: the same inputs give the same bytes.
 *
 * Parameters always put real 0 on the grid (zero_point an integer 0..255);
 * a tensor never seen negative gets zero_point 0. Constraints of the int8
 * runtime are enforced by giving tied tensors one histogram and one result:
 * the output of RESHAPE, MAXPOOL and PAD is tied to its input (PAD fills
 * with the zero point), all inputs and the output of a CONCAT are tied, and
 * so is RESIZE_BILINEAR (its output lies within its input's range, so this
 * costs nothing and lets it run on u8). SOFTMAX outputs stay float: the int8
 * runtime computes softmax in float.
 *
 * Ownership: fw_calib_create() allocates, fw_calib_free() frees. Pure
 * computation plus file I/O in create and write; no threads. A calib is
 * used by one thread at a time.
 */
#ifndef FW_CALIBRATE_H
#define FW_CALIBRATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

struct fw_calib;

enum fw_calib_method {
	FW_CALIB_MINMAX = 0, /* the observed range: exact, but one outlier sets the step */
	FW_CALIB_MSE = 1,    /* the clip range minimising the quantisation MSE */
	FW_CALIB_KL = 2,     /* the clip range minimising KL(P || Q), as TensorRT's entropy calibrator */
};

struct fw_calib_options {
	enum fw_calib_method method;
	/* Names of tensors to leave in float (scale 0), NULL-terminated; NULL
	 * for none. A tensor tied to one of them by a constraint stays float too. */
	const char *const *keep_float;
};

/* Quantisation parameters of one tensor: real = scale * (q - zero_point).
 * scale 0: not quantised. */
struct fw_qparams {
	float scale;
	int32_t zero_point;
};

/* Read the graph of a model file (the same checks as the loader's header
 * and CRC; every tensor and op index checked). Errors are logged with the
 * path. Returns 0 or FW_E* / -errno. */
int fw_calib_create(struct fw_calib **out, const char *model_path);
int fw_calib_create_mem(struct fw_calib **out, const void *buf, size_t len, const char *what);
void fw_calib_free(struct fw_calib *c);

/* From now on every fw_model_run(m) adds its input and every op output to
 * the statistics (this sets m's trace hook; detach clears it). m must hold
 * the same graph as the file (checked by name and tensor count and shapes)
 * and run in float: statistics of a model running int8 would describe the
 * old calibration, not the model. */
int fw_calib_attach(struct fw_calib *c, struct fw_model *m);
void fw_calib_detach(struct fw_calib *c);

/* Add n values of tensor `id` by hand (what the hook does for each op;
 * also for tests). Non-finite values are counted and ignored. */
void fw_calib_observe(struct fw_calib *c, int id, const float *x, size_t n);

/* Runs seen through the hook (inputs of the calibration set). */
int fw_calib_runs(const struct fw_calib *c);
int fw_calib_n_tensors(const struct fw_calib *c);
/* Tensor id by name, or -1. */
int fw_calib_tensor_id(const struct fw_calib *c, const char *name);
const char *fw_calib_model_name(const struct fw_calib *c);

/* Choose the parameters of every non-constant tensor from the statistics.
 * FW_EINVAL (logged) if a tensor to quantise was never observed or a
 * keep_float name is not a tensor of the model. May be called again with
 * other options. */
int fw_calib_choose(struct fw_calib *c, const struct fw_calib_options *opt);

/* After fw_calib_choose(): the parameters of tensor id (scale 0 for
 * constants and tensors left float), and how many non-constant tensors are
 * quantised and left float. */
struct fw_qparams fw_calib_params(const struct fw_calib *c, int id);
void fw_calib_counts(const struct fw_calib *c, int *quantised, int *left_float);

/* Write in_path with the chosen parameters to out_path: the same bytes
 * except the tensor records' scale and zero_point fields and the header CRC.
 * in_path must hold the graph the statistics were taken on (its
 * quantisation fields may differ: recalibrating a calibrated file is fine).
 * Written to a temporary file in out_path's directory, then renamed over
 * out_path: a reader never sees a half-written model. in_path may equal
 * out_path. Returns 0 or FW_E* / -errno (logged with the path). */
int fw_calib_write(const char *in_path, const char *out_path, const struct fw_calib *c);

/* The parameters for a real range [lo, hi], widened to include 0:
 * scale = (hi - lo) / 255, zero_point = round(-lo / scale) (half away from
 * zero) clamped to 0..255; e.g. [-1, 3] -> 4/255, 64; [0, 6] -> 6/255, 0.
 * An empty range (lo = hi = 0) gets scale 1/255, zero_point 0. */
struct fw_qparams fw_calib_range_params(float lo, float hi);

#endif
