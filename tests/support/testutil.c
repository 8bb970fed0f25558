#include "testutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *join(const char *env, const char *fallback, const char *rel)
{
	static char buf[8][4096];
	static int next;
	const char *base = getenv(env);
	char *out = buf[next++ % 8];

	snprintf(out, sizeof buf[0], "%s/%s", base ? base : fallback, rel);
	return out;
}

const char *tu_shared(const char *rel) { return join("FW_SHARED_DIR", "../shared", rel); }
const char *tu_models(const char *rel) { return join("FW_MODELS_DIR", "models", rel); }
const char *tu_build(const char *rel) { return join("FW_BUILD_DIR", ".", rel); }

void *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

float *tu_read_f32(const char *path, size_t n)
{
	size_t len = 0;
	float *p = tu_read_file(path, &len);

	if (!p)
		fail_msg("cannot read %s", path);
	if (len != n * sizeof(float))
		fail_msg("%s: %zu bytes, expected %zu", path, len, n * sizeof(float));
	return p;
}

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	float f;

	if (exp == 0) {
		f = (float)man * (1.0f / 16777216.0f); /* subnormal: man * 2^-24 */
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000u | (man << 13);
	else
		bits = sign | ((exp + 112) << 23) | (man << 13);
	memcpy(&f, &bits, sizeof f);
	return f;
}

float *tu_read_f16(const char *path, size_t n)
{
	size_t len = 0;
	uint16_t *h = tu_read_file(path, &len);
	float *f;

	if (!h)
		fail_msg("cannot read %s", path);
	if (len != n * 2)
		fail_msg("%s: %zu bytes, expected %zu", path, len, n * 2);
	f = malloc(n * sizeof *f);
	for (size_t i = 0; i < n; i++)
		f[i] = half_to_float(h[i]);
	free(h);
	return f;
}

float tu_max_abs_diff(const float *a, const float *b, size_t n)
{
	float m = 0;

	for (size_t i = 0; i < n; i++) {
		float d = a[i] - b[i];
		if (d < 0)
			d = -d;
		if (d > m || d != d)
			m = d != d ? 1e30f : d;
	}
	return m;
}

float tu_max_abs(const float *a, size_t n)
{
	float m = 0;

	for (size_t i = 0; i < n; i++)
		if ((a[i] < 0 ? -a[i] : a[i]) > m)
			m = a[i] < 0 ? -a[i] : a[i];
	return m;
}

static unsigned long long rng = 88172645463325252ull;

void tu_srand(unsigned long long seed) { rng = seed ? seed : 88172645463325252ull; }

static unsigned long long next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

float tu_randf(float lo, float hi)
{
	return lo + (hi - lo) * (float)((next_rand() >> 11) * (1.0 / 9007199254740992.0));
}

int tu_randi(int lo, int hi)
{
	return lo + (int)(next_rand() % (unsigned long long)(hi - lo + 1));
}

void *tu_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	assert_non_null(p);
	return p;
}

unsigned char *tu_rand_u8(size_t n)
{
	unsigned char *p = tu_xmalloc(n);

	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)tu_randi(0, 255);
	return p;
}
