/* Fuzz target: the model loader on arbitrary bytes. The CRC is skipped so
 * the fuzzer reaches the structural checks behind it; whatever loads is run
 * once on a zero input (garbage weights are fine, a crash is not) when it
 * is small: under ASan a shipped model takes a second per run, which leaves
 * the fuzzer no time for the loader. */
#include <stddef.h>
#include <stdint.h>

#include "core/fw.h"
#include "core/model.h"

static void quiet(enum fw_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)msg, (void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_model_options opt = { .tier = FW_KERNELS_REF, .skip_checksum = 1 };
	struct fw_model *m = NULL;

	fw_log_set_sink(quiet, NULL);
	if (fw_model_load_mem(data, size, "fuzz", &opt, &m) == 0) {
		/* bound the work per input: big graphs are legal but slow */
		if (fw_model_macs(m) < 2u * 1000 * 1000)
			fw_model_run(m);
		fw_model_free(m);
	}
	return 0;
}
