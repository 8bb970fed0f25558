/* TensorFlow.js weights (a JSON manifest plus binary shards) -> the
 * converter's graph.
 *
 * A TFJS "weights manifest" lists named tensors (shape, dtype, optional
 * affine uint8/uint16 quantisation: real = min + scale * q) stored back to
 * back in the shards named in "paths". It carries no graph: the architecture
 * lives in the JavaScript that uses the weights. So the converter recognises
 * one architecture by its weight names and shapes, and rebuilds it here:
 *
 *   face-api's 68-point landmark net (FaceLandmark68Net, weights
 *   "dense0/conv0/filters" ... "fc/bias"): four dense blocks of four
 *   convolutions each, then a 7x7 average pool and a fully connected layer
 *   with 136 outputs (x0, y0, ..., x67, y67 as fractions of the input).
 *
 * Ownership: fw_tfjs_read() allocates *out; fw_tfjs_free() releases it.
 * Errors are FW_E* values plus a one-line reason in err.
 */
#ifndef FW_TFJS_H
#define FW_TFJS_H

#include "convert.h"

#include <stddef.h>
#include <stdint.h>

struct fw_tfjs_weight {
	char *name;
	int rank;
	int32_t shape[4];
	float *data;            /* dequantised values, product(shape) floats */
};

struct fw_tfjs_weights {
	int n;
	struct fw_tfjs_weight *w;
};

/* Parse the manifest text (json, json_len bytes) and dequantise the weights
 * from the concatenated shards (bin, bin_len bytes, in "paths" order).
 * Every weight must lie inside bin and bin must hold nothing after them. */
int fw_tfjs_read(const char *json, size_t json_len, const uint8_t *bin, size_t bin_len,
		 struct fw_tfjs_weights **out, char *err, size_t errlen);

/* The shard file names of a manifest, in order, for the caller to read
 * (relative to the manifest's directory). *paths is one allocation holding
 * the array and the strings; free() it. */
int fw_tfjs_paths(const char *json, size_t json_len, char ***paths, int *n, char *err,
		  size_t errlen);

void fw_tfjs_free(struct fw_tfjs_weights *w);

/* Build face-api's 68-point landmark net from its weights; refuses (naming
 * the weight) anything whose names or shapes differ. */
int fw_tfjs_lower_landmarks68(const struct fw_tfjs_weights *w, struct fw_cv_graph **out,
			      char *err, size_t errlen);

#endif
