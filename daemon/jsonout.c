/* facectl's JSON results, never printed incomplete: see jsonout.h. */
#include "daemon/jsonout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"

static int alloc_failed; /* since the last fw_jsonout_print() */

static void *tracked_malloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		alloc_failed = 1;
	return p;
}

void fw_jsonout_init(void)
{
	json_set_alloc_funcs(tracked_malloc, free);
}

int fw_jsonout_print(const json_t *j, size_t flags)
{
	char *s = j && !alloc_failed ? json_dumps(j, flags) : NULL;
	int failed = alloc_failed || !s;

	alloc_failed = 0;
	if (failed) {
		free(s);
		fw_log(FW_LOG_ERROR, "out of memory while writing a result; stopping (nothing "
		       "more is printed)");
		return FW_ENOMEM;
	}
	if (puts(s) == EOF || fflush(stdout) == EOF) {
		free(s);
		fw_log(FW_LOG_ERROR, "cannot write the result to standard output");
		return FW_EIO;
	}
	free(s);
	return 0;
}
