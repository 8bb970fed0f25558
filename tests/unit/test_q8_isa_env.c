/* FACEWATCH_ISA (core/kernels/q8.h: fw_isa_active).
 *
 * The active ISA is decided once per process, so each case runs in a fresh
 * child: it sets the variable before the first fw_isa_active() call,
 * captures fw_log through a sink, and reports through its exit status
 * (0 = as expected). The parent never calls fw_isa_active() itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fw.h"
#include "core/kernels/q8.h"

static char logged[512];

static void sink(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)ctx;
	snprintf(logged + strlen(logged), sizeof logged - strlen(logged), "%s\n", msg);
}

/* The best ISA without any override, computed from fw_q8_kernels_for alone. */
static enum fw_isa best(void)
{
	static const enum fw_isa order[] = {FW_ISA_AMX, FW_ISA_AVX512, FW_ISA_AVX2, FW_ISA_NEON_DOT, FW_ISA_NEON};

	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (fw_q8_kernels_for(order[i]))
			return order[i];
	return FW_ISA_REF;
}

/* In a child: FACEWATCH_ISA = value (NULL: unset), then fw_isa_active()
 * must be `want` (and stay so), and the log must contain `log_has` (NULL:
 * nothing logged). Returns the child's exit status. */
static int child(const char *value, enum fw_isa want, const char *log_has)
{
	pid_t pid;
	int status = -1;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (value)
			setenv("FACEWATCH_ISA", value, 1);
		else
			unsetenv("FACEWATCH_ISA");
		fw_log_set_sink(sink, NULL);
		enum fw_isa got = fw_isa_active();
		if (got != want) {
			fprintf(stderr, "FACEWATCH_ISA=%s: active %s, want %s\n", value ? value : "(unset)",
				fw_isa_name(got), fw_isa_name(want));
			_exit(1);
		}
		/* decided once: a later change of the variable does not matter */
		setenv("FACEWATCH_ISA", "ref", 1);
		if (fw_isa_active() != got)
			_exit(2);
		if (log_has ? !strstr(logged, log_has) : logged[0] != '\0') {
			fprintf(stderr, "FACEWATCH_ISA=%s: log \"%s\", want \"%s\"\n", value ? value : "(unset)",
				logged, log_has ? log_has : "");
			_exit(3);
		}
		if (!fw_q8_kernels_for(got))
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_unset_picks_best(void **state)
{
	(void)state;
	assert_int_equal(child(NULL, best(), NULL), 0);
	assert_int_equal(child("", best(), NULL), 0);
}

static void test_ref_forces_ref(void **state)
{
	(void)state;
	assert_int_equal(child("ref", FW_ISA_REF, NULL), 0);
}

static void test_every_runnable_isa_can_be_forced(void **state)
{
	(void)state;
	for (int i = 0; i < FW_ISA_COUNT; i++)
		if (fw_q8_kernels_for((enum fw_isa)i))
			assert_int_equal(child(fw_isa_name((enum fw_isa)i), (enum fw_isa)i, NULL), 0);
}

static void test_unavailable_isa_falls_back(void **state)
{
	(void)state;
	int tried = 0;

	/* at least the other architecture's tiers are unavailable */
	for (int i = 0; i < FW_ISA_COUNT; i++) {
		if (fw_q8_kernels_for((enum fw_isa)i))
			continue;
		assert_int_equal(child(fw_isa_name((enum fw_isa)i), best(), "cannot run it"), 0);
		tried++;
	}
	assert_true(tried > 0);
}

static void test_unknown_name_falls_back(void **state)
{
	(void)state;
	assert_int_equal(child("sse9", best(), "not an ISA name"), 0);
	assert_int_equal(child("AVX2", best(), "not an ISA name"), 0); /* names are lower case */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unset_picks_best),
		cmocka_unit_test(test_ref_forces_ref),
		cmocka_unit_test(test_every_runnable_isa_can_be_forced),
		cmocka_unit_test(test_unavailable_isa_falls_back),
		cmocka_unit_test(test_unknown_name_falls_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
