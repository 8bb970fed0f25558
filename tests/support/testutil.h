/* Helpers shared by the cmocka tests: paths to shared data, file reading. */
#ifndef FW_TESTUTIL_H
#define FW_TESTUTIL_H

#include <stddef.h>

/* ${FW_SHARED_DIR}/rel, ${FW_MODELS_DIR}/rel, ${FW_BUILD_DIR}/rel in a static buffer each call
 * rotates through 8 buffers, so a few can be used in one expression. */
const char *tu_shared(const char *rel);
const char *tu_models(const char *rel);
const char *tu_build(const char *rel);

/* Read a whole file; returns malloc'd buffer (caller frees) and its length, or NULL. */
void *tu_read_file(const char *path, size_t *len);

/* Read exactly n float32 values from a raw little-endian file; fails the test otherwise. */
float *tu_read_f32(const char *path, size_t n);
/* Read n float16 values (raw little-endian) as float32. */
float *tu_read_f16(const char *path, size_t n);

/* Largest |a[i] - b[i]| and largest |b[i]|. */
float tu_max_abs_diff(const float *a, const float *b, size_t n);
float tu_max_abs(const float *a, size_t n);

/* Deterministic pseudo-random numbers (xorshift). */
void tu_srand(unsigned long long seed);
float tu_randf(float lo, float hi);
int tu_randi(int lo, int hi); /* inclusive */

/* malloc that fails the test when it fails (n = 0 gives one byte). */
void *tu_xmalloc(size_t n);
/* n uniform random bytes (tu_randi), malloc'd. */
unsigned char *tu_rand_u8(size_t n);

#endif
