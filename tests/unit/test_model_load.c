/* A damaged model file is refused with a message that names the file and
 * the problem, never a crash: truncation at every section boundary, a
 * flipped byte, another format version, another model, no file at all. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fw.h"
#include "core/model.h"
#include "core/model_format.h"
#include "testutil.h"

static char last_msg[1024];

static void capture(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == FW_LOG_ERROR)
		snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static unsigned char *original(size_t *len)
{
	unsigned char *buf = tu_read_file(tu_models("blazeface_short.fwm"), len);
	assert_non_null(buf);
	return buf;
}

static int load_bytes(const void *buf, size_t len, const char *what, const char *expect)
{
	struct fw_model_options opt = { .expect_name = expect, .tier = FW_KERNELS_REF };
	struct fw_model *m = NULL;
	int err;

	last_msg[0] = 0;
	err = fw_model_load_mem(buf, len, what, &opt, &m);
	if (!err) {
		assert_non_null(m);
		fw_model_free(m);
	} else {
		assert_null(m);
		/* the message names the file */
		assert_non_null(strstr(last_msg, what));
	}
	return err;
}

static void test_good_file_loads(void **state)
{
	size_t len;
	unsigned char *buf = original(&len);

	(void)state;
	assert_int_equal(load_bytes(buf, len, "short.fwm", "blazeface_short"), 0);
	free(buf);
}

static void test_truncated(void **state)
{
	size_t len;
	unsigned char *buf = original(&len);
	size_t cuts[] = { 0, 1, 7, 8, 100, 159, 160, 161, 1000, len / 2, len - 64, len - 1 };

	(void)state;
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		int err = load_bytes(buf, cuts[i], "cut.fwm", NULL);
		assert_int_equal(err, FW_ETRUNC);
		assert_non_null(strstr(last_msg, "truncated"));
	}
	free(buf);
}

static void test_corrupt_byte(void **state)
{
	size_t len;
	unsigned char *buf = original(&len);

	(void)state;
	/* a flipped bit anywhere after the header is caught by the CRC */
	for (size_t off = 160; off < len; off += len / 37) {
		buf[off] ^= 0x10;
		assert_int_equal(load_bytes(buf, len, "flip.fwm", NULL), FW_ECHECKSUM);
		assert_non_null(strstr(last_msg, "corrupt"));
		buf[off] ^= 0x10;
	}
	free(buf);
}

static void test_header_fields(void **state)
{
	size_t len;
	unsigned char *buf = original(&len);
	struct fw_mf_header h;

	(void)state;
	memcpy(&h, buf, sizeof h);

	buf[0] = 'X';
	assert_int_equal(load_bytes(buf, len, "magic.fwm", NULL), FW_EFORMAT);
	assert_non_null(strstr(last_msg, "not a facewatch model"));
	buf[0] = h.magic[0];

	struct fw_mf_header v = h;
	v.version = 2;
	memcpy(buf, &v, sizeof v);
	assert_int_equal(load_bytes(buf, len, "v2.fwm", NULL), FW_EVERSION);
	assert_non_null(strstr(last_msg, "version 2"));
	memcpy(buf, &h, sizeof h);

	assert_int_equal(load_bytes(buf, len, "which.fwm", "mobilefacenet"), FW_EMODEL);
	assert_non_null(strstr(last_msg, "blazeface_short"));
	assert_non_null(strstr(last_msg, "mobilefacenet"));
	free(buf);
}

/* With the CRC skipped (as the fuzzer does), damaged tables are still
 * caught by the structural checks. */
static void test_structure_checked_without_crc(void **state)
{
	size_t len;
	unsigned char *buf = original(&len);
	struct fw_mf_header h;
	struct fw_model_options opt = { .tier = FW_KERNELS_REF, .skip_checksum = 1 };
	struct fw_model *m;

	(void)state;
	memcpy(&h, buf, sizeof h);
	/* an op whose output is a tensor id past the end */
	struct fw_mf_op op;
	memcpy(&op, buf + h.ops_off, sizeof op);
	int32_t saved = op.out;
	op.out = (int32_t)h.n_tensors + 5;
	memcpy(buf + h.ops_off, &op, sizeof op);
	assert_int_equal(fw_model_load_mem(buf, len, "ops.fwm", &opt, &m), FW_EFORMAT);
	op.out = saved;
	memcpy(buf + h.ops_off, &op, sizeof op);

	/* a tensor with a negative dimension */
	struct fw_mf_tensor t;
	memcpy(&t, buf + h.tensors_off, sizeof t);
	t.dims[2] = -3;
	memcpy(buf + h.tensors_off, &t, sizeof t);
	assert_int_equal(fw_model_load_mem(buf, len, "dims.fwm", &opt, &m), FW_EFORMAT);
	free(buf);
}

/* The checksum the files carry is the standard CRC-32 (IEEE 802.3, as zlib
 * and PNG): its published check value, and a bit-at-a-time definition on
 * every length and alignment the 8-byte steps and the tail can meet, in
 * one call and chained. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
	}
	return ~crc;
}

static void test_crc32(void **state)
{
	uint8_t buf[96];
	(void)state;

	assert_int_equal(fw_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(fw_crc32(0, "", 0), 0);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 151 + 7);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; off + n <= sizeof buf; n++) {
			uint32_t want = crc_bitwise(0, buf + off, n);
			assert_int_equal(fw_crc32(0, buf + off, n), want);
			assert_int_equal(fw_crc32(fw_crc32(0, buf + off, n / 3), buf + off + n / 3,
						  n - n / 3), want);
		}
}

static void test_missing_file(void **state)
{
	struct fw_model *m = NULL;

	(void)state;
	last_msg[0] = 0;
	assert_int_equal(fw_model_load("/nonexistent/dir/model.fwm", NULL, &m), -ENOENT);
	assert_null(m);
	assert_non_null(strstr(last_msg, "/nonexistent/dir/model.fwm"));
}

static void test_not_a_model(void **state)
{
	char path[] = "/tmp/fw-test-XXXXXX";
	int fd = mkstemp(path);
	struct fw_model *m = NULL;
	const char text[] = "this is a text file, long enough to hold a header of a model file, "
			    "but it is not one: it has no magic and the loader must say so "
			    "instead of reading it as numbers.................................";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof text), (ssize_t)sizeof text);
	close(fd);
	assert_int_equal(fw_model_load(path, NULL, &m), FW_EFORMAT);
	assert_non_null(strstr(last_msg, path));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file_loads),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupt_byte),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_structure_checked_without_crc),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_not_a_model),
	};
	fw_log_set_sink(capture, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
