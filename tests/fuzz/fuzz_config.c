/* Fuzz target: facewatchd's configuration file (daemon/config.c) on
 * arbitrary bytes, read through fw_config_read() from memory. Whatever the
 * file says, every setting stays one the daemon can run with: numbers in
 * their documented ranges, strings terminated inside their buffers.
 * Seeds: corpus/fuzz_config/ (the documented file and a few hand-made
 * ones: comments, sections, CRLF, bad lines). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fw.h"
#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)msg, (void)ctx;
}

#define IN(v, lo, hi) ((v) >= (lo) && (v) <= (hi))
#define TERMINATED(s) (memchr((s), 0, sizeof(s)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_config c;
	FILE *f;

	fw_log_set_sink(quiet, NULL);
	fw_config_defaults(&c);
	if (size == 0)
		return 0; /* fmemopen() wants at least one byte */
	f = fmemopen((void *)data, size, "r");
	if (!f)
		abort();
	fw_config_read(&c, f, "fuzz.conf");
	fclose(f);
	if (!TERMINATED(c.camera) || !TERMINATED(c.socket_path) || !TERMINATED(c.gallery) ||
	    !TERMINATED(c.models) || !TERMINATED(c.trusted_group) || !TERMINATED(c.socket_group) ||
	    !c.socket_path[0])
		abort();
	if (!IN(c.width, 16, 8192) || !IN(c.height, 16, 8192) || !IN(c.fps, 0, 240) ||
	    !IN(c.max_fps, 0, 240) || !IN(c.loop, 0, 1) || !IN(c.status_interval_s, 0, 86400) ||
	    !(c.threshold > -1 && c.threshold < 1) || (c.socket_mode & ~0777u) ||
	    (c.socket_mode & 0600) != 0600 || !IN(c.max_request_bytes, 256, 16 << 20) ||
	    !(c.requests_per_sec >= 0.1f && c.requests_per_sec <= 1e5f) ||
	    !IN(c.tracker.refresh_ms, 100, 3600000) || !IN(c.presence.leave_ms, 0, 86400000))
		abort();
	return 0;
}
