/* fwconvert: TFLite model -> facewatch model file (.fwm).
 *
 *   fwconvert --name NAME [--batch1] IN.tflite OUT.fwm
 *   fwconvert --name NAME IN-weights_manifest.json OUT.fwm
 *
 * A .json input is a TensorFlow.js weights manifest (tfjs.h): its shards are
 * read from the manifest's directory, and the header's source_sha256 is the
 * digest of the shards' bytes in manifest order (for a single shard, the
 * sha256 of that .bin file).
 *
 * Reads IN completely, lowers it to the runtime's op set (see lower.c for
 * what is fused and what is refused) and writes OUT atomically (OUT.tmp,
 * then rename). The output depends only on the input bytes and the options:
 * no timestamps, no uninitialised bytes. Exit status 0 on success, 1 when
 * the model cannot be converted, 2 on a usage error.
 */
#include "convert.h"
#include "sha256.h"
#include "tflite.h"
#include "tfjs.h"

#include "core/fw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_CONVERT_MAX_INPUT (1u << 30) /* our models are a few MB */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fwconvert --name NAME [--batch1] IN.tflite OUT.fwm\n"
		"       fwconvert --name NAME IN-weights_manifest.json OUT.fwm  (TensorFlow.js:\n"
		"                 face-api's 68-point landmark net)\n"
		"  --name NAME  model id stored in the file (1..%d bytes), e.g. blazeface_short\n"
		"  --batch1     rewrite a model whose batch is fixed at N > 1 to batch 1\n",
		FW_MF_MAX_NAME - 1);
}

/* Whole file into a malloc'd buffer (caller frees). */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	int err = 0;

	*out = NULL;
	*len = 0;
	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *b;

			if (cap >= FW_CONVERT_MAX_INPUT) {
				err = FW_EUNSUPPORTED;
				goto fail;
			}
			cap = cap ? cap * 2 : 1 << 20;
			b = realloc(buf, cap);
			if (!b) {
				err = FW_ENOMEM;
				goto fail;
			}
			buf = b;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				err = FW_EIO;
			break;
		}
	}
	if (err)
		goto fail;
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
fail:
	fclose(f);
	free(buf);
	return err;
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[4096];
	FILE *f;
	int err = 0;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return FW_EINVAL;
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len)
		err = errno ? -errno : FW_EIO;
	if (fclose(f) && !err)
		err = errno ? -errno : FW_EIO;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		remove(tmp);
	return err;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* TFJS: manifest + shards -> graph; *sha = sha256 of the shards' bytes. */
static int convert_tfjs(const char *path, struct fw_cv_graph **g, uint8_t sha[32], char *msg,
			size_t msglen)
{
	uint8_t *json = NULL, *bin = NULL, *part = NULL;
	size_t json_len = 0, bin_len = 0, part_len = 0;
	char **paths = NULL, shard[4096];
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0, n = 0, err;
	struct fw_tfjs_weights *w = NULL;

	err = read_file(path, &json, &json_len);
	if (err) {
		snprintf(msg, msglen, "cannot read: %s", fw_strerror(err));
		goto fail;
	}
	err = fw_tfjs_paths((const char *)json, json_len, &paths, &n, msg, msglen);
	if (err)
		goto fail;
	for (int k = 0; k < n; k++) {
		uint8_t *b;

		if (snprintf(shard, sizeof shard, "%.*s%s", dir_len, path, paths[k]) >=
		    (int)sizeof shard) {
			err = FW_EINVAL;
			snprintf(msg, msglen, "shard path too long");
			goto fail;
		}
		err = read_file(shard, &part, &part_len);
		if (err) {
			snprintf(msg, msglen, "cannot read the weight file %.200s named in the "
				 "manifest: %s", paths[k], fw_strerror(err));
			goto fail;
		}
		b = realloc(bin, bin_len + part_len + 1);
		if (!b) {
			err = FW_ENOMEM;
			goto fail;
		}
		bin = b;
		memcpy(bin + bin_len, part, part_len);
		bin_len += part_len;
		free(part);
		part = NULL;
	}
	fw_sha256(bin, bin_len, sha);
	err = fw_tfjs_read((const char *)json, json_len, bin, bin_len, &w, msg, msglen);
	if (!err)
		err = fw_tfjs_lower_landmarks68(w, g, msg, msglen);
fail:
	fw_tfjs_free(w);
	free(part);
	free(paths);
	free(bin);
	free(json);
	return err;
}

int main(int argc, char **argv)
{
	const char *name = NULL, *in_path = NULL, *out_path = NULL;
	struct fw_cv_options opt = {0};
	struct fw_tfl_model *m = NULL;
	struct fw_cv_graph *g = NULL;
	uint8_t *in = NULL, *fwm = NULL, sha[32];
	size_t in_len = 0, fwm_len = 0;
	char msg[512] = "", kinds[256] = "";
	int err, status = 1, counts[FW_OP_SOFTMAX + 1] = {0};

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--name") && k + 1 < argc) {
			name = argv[++k];
		} else if (!strcmp(argv[k], "--batch1")) {
			opt.batch1 = 1;
		} else if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
			usage(stdout);
			return 0;
		} else if (argv[k][0] == '-' && argv[k][1]) {
			fprintf(stderr, "fwconvert: unknown option %s\n", argv[k]);
			usage(stderr);
			return 2;
		} else if (!in_path) {
			in_path = argv[k];
		} else if (!out_path) {
			out_path = argv[k];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!name || !in_path || !out_path) {
		usage(stderr);
		return 2;
	}
	if (!name[0] || strlen(name) >= FW_MF_MAX_NAME) {
		fprintf(stderr, "fwconvert: --name must be 1..%d bytes\n", FW_MF_MAX_NAME - 1);
		return 2;
	}

	if (ends_with(in_path, ".json")) {
		err = convert_tfjs(in_path, &g, sha, msg, sizeof msg);
		if (err) {
			fprintf(stderr, "fwconvert: %s: cannot convert the TensorFlow.js model: %s\n",
				in_path, msg[0] ? msg : fw_strerror(err));
			goto fail;
		}
		goto write;
	}
	err = read_file(in_path, &in, &in_len);
	if (err) {
		fprintf(stderr, "fwconvert: %s: cannot read: %s\n", in_path, fw_strerror(err));
		goto fail;
	}
	fw_sha256(in, in_len, sha);
	err = fw_tfl_parse(in, in_len, &m, msg, sizeof msg);
	if (err) {
		fprintf(stderr, "fwconvert: %s: not a usable TFLite model: %s\n", in_path,
			msg[0] ? msg : fw_strerror(err));
		goto fail;
	}
	err = fw_cv_lower(m, &opt, &g, msg, sizeof msg);
	if (err) {
		fprintf(stderr, "fwconvert: %s: cannot convert: %s\n", in_path,
			msg[0] ? msg : fw_strerror(err));
		goto fail;
	}
write:
	err = fw_cv_write(g, name, sha, &fwm, &fwm_len, msg, sizeof msg);
	if (err) {
		fprintf(stderr, "fwconvert: %s: cannot build the model file: %s\n", in_path,
			msg[0] ? msg : fw_strerror(err));
		goto fail;
	}
	err = write_file(out_path, fwm, fwm_len);
	if (err) {
		fprintf(stderr, "fwconvert: %s: cannot write: %s\n", out_path, fw_strerror(err));
		goto fail;
	}

	for (int k = 0; k < g->n_ops; k++)
		if (g->ops[k].type <= FW_OP_SOFTMAX)
			counts[g->ops[k].type]++;
	for (int t = 1, at = 0; t <= FW_OP_SOFTMAX; t++)
		if (counts[t] && at < (int)sizeof kinds)
			at += snprintf(kinds + at, sizeof kinds - (size_t)at, " %s %d,",
				       fw_cv_op_name(t), counts[t]);
	fprintf(stderr, "fwconvert: %s: %d ops (from %d TFLite ops%s):%s fused RELU %d, PRELU %d; "
		"%d tensors, %llu params, %llu MACs (%.1f M); %zu bytes -> %s\n", name, g->n_ops,
		m ? m->n_ops : 0, m ? "" : "; a TensorFlow.js manifest", kinds, g->n_relu, g->n_prelu, g->n_tensors, (unsigned long long)g->params,
		(unsigned long long)g->macs, (double)g->macs / 1e6, fwm_len, out_path);
	status = 0;
fail:
	free(fwm);
	fw_cv_free(g);
	fw_tfl_free(m);
	free(in);
	return status;
}
