/* Fuzz target: the gallery import format (`facectl import FILE`,
 * docs/gallery.md) on arbitrary bytes: fw_store_import_parse() either
 * refuses the document with a message or returns one that
 * fw_store_import() takes into a real gallery (SQLite, in a private
 * directory under /dev/shm or $TMPDIR, removed at exit) without error.
 * Seeds: corpus/fuzz_import/ (small exports made for this purpose: two
 * identities with a template and a negative, an empty gallery, time
 * zones). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fw.h"
#include "daemon/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)msg, (void)ctx;
}

static char dir[64], path[96];

static void cleanup(void)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	char p[128];

	for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
		snprintf(p, sizeof p, "%s%s", path, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fw_store *s;
	struct fw_store_import_result r;
	json_t *doc;

	fw_log_set_sink(quiet, NULL);
	if (fw_store_import_parse(data, size, "fuzz.json", &doc))
		return 0;
	if (!s) {
		snprintf(dir, sizeof dir, "%s/fw-fuzz-import-XXXXXX",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof path, "%s/gallery.db", dir);
		atexit(cleanup);
		if (fw_store_open(&s, path, FW_STORE_CREATE))
			abort();
	}
	/* a document the checks passed imports: nothing it holds may make
	 * the transaction fail half way */
	if (fw_store_import(s, doc, "fuzz.json", &r))
		abort();
	json_decref(doc);
	return 0;
}
