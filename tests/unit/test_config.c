/* daemon/config: facewatchd's settings file. What a user would notice: the
 * documented file (docs/facewatchd.conf) is the defaults, word for word;
 * comments, [sections], blank lines and CRLF are fine; every bad line is
 * named file:line with what the key expects, and leaves the setting as it
 * was while the good lines still apply; values that do not fit are refused
 * rather than cut; a missing file is named. */
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
#include "daemon/config.h"
#include "testutil.h"

static char logbuf[16384];

static void capture(enum fw_log_level level, const char *msg, void *ctx)
{
	size_t n = strlen(logbuf);
	(void)ctx;
	if (level <= FW_LOG_WARN)
		snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
}

static int setup(void **state)
{
	(void)state;
	logbuf[0] = 0;
	fw_log_set_sink(capture, NULL);
	return 0;
}

/* Parse `text` as the file `name`. */
static int load_text(struct fw_config *c, const char *text, size_t len, const char *name)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int err;

	assert_non_null(f);
	err = fw_config_read(c, f, name);
	fclose(f);
	return err;
}

#define LOAD(c, text) load_text(c, text, sizeof(text) - 1, "test.conf")

static void test_documented_file_is_the_defaults(void **state)
{
	struct fw_config def, doc;
	char path[4096];

	(void)state;
	fw_config_defaults(&def);
	fw_config_defaults(&doc);
	/* the docs sit beside models/ in the source tree */
	snprintf(path, sizeof path, "%s/../docs/facewatchd.conf", tu_models(""));
	assert_int_equal(fw_config_load(&doc, path), 0);
	assert_string_equal(logbuf, "");
	assert_string_equal(doc.socket_path, def.socket_path); /* `socket =` is the default */
	assert_memory_equal(&doc, &def, sizeof def);
}

static void test_comments_sections_and_blanks(void **state)
{
	struct fw_config c;

	(void)state;
	fw_config_defaults(&c);
	assert_int_equal(LOAD(&c, "# a comment\n"
				  "; another = comment\n"
				  "\n"
				  "   \t\n"
				  "[camera]\n"
				  "  width   =\t1280  \r\n"
				  "height=720\n"
				  "[presence]\n"
				  "leave_ms = 5000\n"
				  "camera = replay:/a b/c.mjpeg\n"
				  "threshold = 0.6"), /* no '\n' at the end */
			 0);
	assert_string_equal(logbuf, "");
	assert_int_equal(c.width, 1280);
	assert_int_equal(c.height, 720);
	assert_int_equal(c.presence.leave_ms, 5000);
	assert_string_equal(c.camera, "replay:/a b/c.mjpeg"); /* inner blanks kept */
	assert_true(c.threshold > 0.599f && c.threshold < 0.601f);
}

static void test_bad_lines_named_and_good_ones_applied(void **state)
{
	struct fw_config c, def;

	(void)state;
	fw_config_defaults(&c);
	fw_config_defaults(&def);
	assert_int_equal(LOAD(&c, "width = 800\n"           /* 1 */
				  "fsp = 30\n"              /* 2: unknown key */
				  "height = 5\n"            /* 3: out of range */
				  "fps = thirty\n"          /* 4: not a number */
				  "just some words\n"       /* 5: no '=' */
				  "threshold =\n"           /* 6: empty */
				  "threshold = 1.5\n"       /* 7: out of range */
				  "detector = tiny\n"       /* 8 */
				  "max_fps = 5\n"),         /* 9 */
			 FW_EINVAL);
	assert_non_null(strstr(logbuf, "test.conf:2: fsp: unknown key"));
	assert_non_null(strstr(logbuf, "test.conf:3: height: expects a whole number"));
	assert_non_null(strstr(logbuf, "test.conf:4: fps: expects a whole number"));
	assert_non_null(strstr(logbuf, "test.conf:5: expected `key = value`"));
	assert_non_null(strstr(logbuf, "test.conf:6: threshold: expects a cosine"));
	assert_non_null(strstr(logbuf, "test.conf:7: threshold: expects a cosine"));
	assert_non_null(strstr(logbuf, "test.conf:8: detector: expects short, full or auto"));
	assert_null(strstr(logbuf, "test.conf:1:"));
	assert_null(strstr(logbuf, "test.conf:9:"));
	/* the good lines apply; the bad ones leave what was there */
	assert_int_equal(c.width, 800);
	assert_int_equal(c.max_fps, 5);
	assert_int_equal(c.height, def.height);
	assert_int_equal(c.fps, def.fps);
	assert_true(c.threshold == def.threshold);
	assert_int_equal(c.detector, def.detector);
}

static void test_out_of_range_keeps_the_old_value(void **state)
{
	struct fw_config c;
	const char *why = NULL;

	(void)state;
	fw_config_defaults(&c);
	assert_int_equal(fw_config_set(&c, "width", "1024", &why), 0);
	assert_int_equal(fw_config_set(&c, "width", "9000", &why), -1);
	assert_non_null(why);
	assert_int_equal(c.width, 1024);
	assert_int_equal(fw_config_set(&c, "width", "-1", &why), -1);
	assert_int_equal(fw_config_set(&c, "width", "99999999999999999999", &why), -1);
	assert_int_equal(fw_config_set(&c, "width", "12abc", &why), -1);
	assert_int_equal(c.width, 1024);
	assert_int_equal(fw_config_set(&c, "refresh_ms", "99", &why), -1);
	assert_int_equal(c.tracker.refresh_ms, 5000);
	assert_int_equal(fw_config_set(&c, "precision", "int4", &why), -1);
	assert_int_equal(c.precision, FW_PRECISION_INT8);
	assert_int_equal(fw_config_set(&c, "no_such_key", "1", &why), -1);
	assert_string_equal(why, "unknown key");
}

/* A value that does not fit is refused, never cut short: a trusted group
 * name cut at 63 bytes could be another group. */
static void test_too_long_values_refused(void **state)
{
	struct fw_config c;
	const char *why = NULL;
	char name[200], path[PATH_MAX + 10];

	(void)state;
	fw_config_defaults(&c);
	assert_int_equal(fw_config_set(&c, "trusted_group", "video", &why), 0);
	memset(name, 'g', sizeof name - 1);
	name[sizeof name - 1] = 0;
	assert_int_equal(fw_config_set(&c, "trusted_group", name, &why), -1);
	assert_string_equal(why, "is too long");
	assert_string_equal(c.trusted_group, "video");
	memset(path, 'p', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = 0;
	assert_int_equal(fw_config_set(&c, "gallery", path, &why), -1);
	assert_string_equal(c.gallery, "");
}

static void test_long_line_and_nul_are_one_bad_line(void **state)
{
	struct fw_config c;
	size_t n = FW_CONFIG_LINE_MAX + 100;
	char *text = malloc(n + 64);
	size_t len;

	(void)state;
	fw_config_defaults(&c);
	/* line 1: camera = ppp... (too long); line 2: a NUL; line 3: good */
	len = (size_t)sprintf(text, "camera = ");
	memset(text + len, 'p', n);
	len += n;
	text[len++] = '\n';
	len += (size_t)sprintf(text + len, "width = 3");
	text[len++] = 0;
	len += (size_t)sprintf(text + len, "20\nfps = 15\n");
	assert_int_equal(load_text(&c, text, len, "long.conf"), FW_EINVAL);
	assert_non_null(strstr(logbuf, "long.conf:1: line longer than"));
	assert_non_null(strstr(logbuf, "long.conf:2: a NUL byte"));
	assert_null(strstr(logbuf, "long.conf:3"));
	assert_string_equal(c.camera, "");  /* not a cut-short camera name */
	assert_int_equal(c.width, 640);     /* not 3 */
	assert_int_equal(c.fps, 15);        /* the line after still counts */
	free(text);
}

static void test_socket_settings(void **state)
{
	struct fw_config c;
	const char *why;

	(void)state;
	fw_config_defaults(&c);
	assert_int_equal(c.socket_mode, 0660);
	assert_int_equal(LOAD(&c, "socket_mode = 0666\nsocket_group = video\n"
				  "max_request_bytes = 4096\nrequests_per_sec = 2.5\n"), 0);
	assert_int_equal(c.socket_mode, 0666);
	assert_string_equal(c.socket_group, "video");
	assert_int_equal(c.max_request_bytes, 4096);
	assert_true(c.requests_per_sec == 2.5f);
	/* the owner always reads and writes; only permission bits */
	assert_int_equal(fw_config_set(&c, "socket_mode", "0400", &why), -1);
	assert_int_equal(fw_config_set(&c, "socket_mode", "4660", &why), -1);
	assert_int_equal(fw_config_set(&c, "socket_mode", "0680", &why), -1);
	assert_int_equal(fw_config_set(&c, "socket_mode", "-0660", &why), -1);
	assert_int_equal(fw_config_set(&c, "socket_mode", "", &why), -1);
	assert_int_equal(c.socket_mode, 0666);
	assert_int_equal(fw_config_set(&c, "socket_mode", "600", &why), 0);
	assert_int_equal(c.socket_mode, 0600);
	assert_int_equal(fw_config_set(&c, "requests_per_sec", "0", &why), -1);
	assert_int_equal(fw_config_set(&c, "requests_per_sec", "nan", &why), -1);
	assert_int_equal(fw_config_set(&c, "max_request_bytes", "10", &why), -1);
	assert_int_equal(c.max_request_bytes, 4096);
}

static void test_missing_file_named(void **state)
{
	struct fw_config c;

	(void)state;
	fw_config_defaults(&c);
	assert_int_equal(fw_config_load(&c, "/nonexistent/facewatchd.conf"), -ENOENT);
	assert_non_null(strstr(logbuf, "/nonexistent/facewatchd.conf: cannot read the configuration"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_documented_file_is_the_defaults, setup),
		cmocka_unit_test_setup(test_comments_sections_and_blanks, setup),
		cmocka_unit_test_setup(test_bad_lines_named_and_good_ones_applied, setup),
		cmocka_unit_test_setup(test_out_of_range_keeps_the_old_value, setup),
		cmocka_unit_test_setup(test_too_long_values_refused, setup),
		cmocka_unit_test_setup(test_long_line_and_nul_are_one_bad_line, setup),
		cmocka_unit_test_setup(test_socket_settings, setup),
		cmocka_unit_test_setup(test_missing_file_named, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
