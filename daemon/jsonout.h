/* facectl's JSON results, never printed incomplete.
 *
 * jansson reports an allocation failure inside json_object_set_new() or
 * json_array_append_new() only through a return value that call sites
 * rarely check: the member is silently missing, and the result printed
 * looks whole. Here jansson allocates through a wrapper that remembers any
 * failure, and fw_jsonout_print() refuses to print a value built while one
 * happened: the command then stops with a message instead.
 *
 * Thread-safety: the flag is process-wide and not synchronised; facectl
 * builds its results on one thread.
 */
#ifndef FW_DAEMON_JSONOUT_H
#define FW_DAEMON_JSONOUT_H

#include <stddef.h>

#include <jansson.h>

/* Route jansson's allocations through the tracking wrapper. Call once,
 * before the first JSON value is made. */
void fw_jsonout_init(void);

/* Print j as one line (json_dumps flags) on stdout and flush. 0; or, when
 * j is NULL, an allocation failed since the previous print, or the line
 * cannot be made or written: FW_ENOMEM / FW_EIO, with an error logged and
 * nothing printed. */
int fw_jsonout_print(const json_t *j, size_t flags);

#endif
