/* Serialise a lowered graph into the .fwm layout of core/model_format.h.
 *
 * Every field is stored explicitly little-endian at its offsetof() position
 * in a zeroed buffer, so the bytes do not depend on the host's endianness or
 * on struct padding, and the same graph always gives the same file.
 */
#include "convert.h"

#include "core/fw.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void putf(uint8_t *p, float f)
{
	uint32_t bits;

	memcpy(&bits, &f, sizeof bits);
	put32(p, bits);
}

static uint64_t align64(uint64_t x)
{
	return (x + FW_MF_ALIGN - 1) / FW_MF_ALIGN * FW_MF_ALIGN;
}

#define HDR(field) offsetof(struct fw_mf_header, field)
#define TEN(field) offsetof(struct fw_mf_tensor, field)
#define OP(field) offsetof(struct fw_mf_op, field)

int fw_cv_write(const struct fw_cv_graph *g, const char *name, const uint8_t sha256[32],
		uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	uint64_t tensors_off, ops_off, io_off, strings_off, strings_size, data_off, data_size;
	uint64_t file_size, cursor;
	uint32_t *name_off = NULL, *const_off = NULL;
	uint8_t *buf = NULL;
	size_t name_len = strlen(name);
	int ret = FW_ENOMEM;

	*out = NULL;
	*out_len = 0;
	if (name_len == 0 || name_len >= FW_MF_MAX_NAME) {
		snprintf(err, errlen, "model name \"%s\" must be 1..%d bytes", name, FW_MF_MAX_NAME - 1);
		return FW_EINVAL;
	}
	name_off = calloc((size_t)g->n_tensors + 1, sizeof *name_off);
	const_off = calloc((size_t)g->n_tensors + 1, sizeof *const_off);
	if (!name_off || !const_off)
		goto fail;

	/* layout; 64-bit sums, then one check that the file fits 32-bit offsets */
	tensors_off = sizeof(struct fw_mf_header);
	ops_off = tensors_off + (uint64_t)g->n_tensors * sizeof(struct fw_mf_tensor);
	io_off = ops_off + (uint64_t)g->n_ops * sizeof(struct fw_mf_op);
	strings_off = io_off + 4 * ((uint64_t)g->n_inputs + (uint64_t)g->n_outputs);
	strings_size = 1; /* offset 0 is the empty string */
	for (int k = 0; k < g->n_tensors; k++) {
		size_t n = strlen(g->tensors[k].name);

		name_off[k] = n ? (uint32_t)strings_size : 0;
		strings_size += n ? n + 1 : 0;
		if (strings_size > UINT32_MAX)
			goto fail_size;
	}
	data_off = align64(strings_off + strings_size);
	cursor = 0;
	for (int k = 0; k < g->n_tensors; k++) {
		const struct fw_cv_tensor *t = &g->tensors[k];

		if (t->kind != FW_TK_CONST)
			continue;
		cursor = align64(cursor);
		if (cursor > UINT32_MAX)
			goto fail_size;
		const_off[k] = (uint32_t)cursor;
		cursor += 4 * (uint64_t)t->dims[0] * t->dims[1] * t->dims[2] * t->dims[3];
	}
	data_size = cursor;
	file_size = data_off + data_size;
	if (file_size > UINT32_MAX)
		goto fail_size;

	buf = calloc(1, (size_t)file_size);
	if (!buf)
		goto fail;

	memcpy(buf + HDR(magic), FW_MF_MAGIC, sizeof ((struct fw_mf_header *)0)->magic);
	put32(buf + HDR(version), FW_MF_VERSION);
	put32(buf + HDR(header_size), sizeof(struct fw_mf_header));
	put32(buf + HDR(file_size), (uint32_t)file_size);
	memcpy(buf + HDR(name), name, name_len); /* rest stays NUL */
	put32(buf + HDR(n_tensors), (uint32_t)g->n_tensors);
	put32(buf + HDR(n_ops), (uint32_t)g->n_ops);
	put32(buf + HDR(n_inputs), (uint32_t)g->n_inputs);
	put32(buf + HDR(n_outputs), (uint32_t)g->n_outputs);
	put32(buf + HDR(tensors_off), (uint32_t)tensors_off);
	put32(buf + HDR(ops_off), (uint32_t)ops_off);
	put32(buf + HDR(io_off), (uint32_t)io_off);
	put32(buf + HDR(strings_off), (uint32_t)strings_off);
	put32(buf + HDR(strings_size), (uint32_t)strings_size);
	put32(buf + HDR(data_off), (uint32_t)data_off);
	put32(buf + HDR(data_size), (uint32_t)data_size);
	/* the digest as its 32 bytes, in order */
	memcpy(buf + HDR(source_sha256), sha256, 32);

	for (int k = 0; k < g->n_tensors; k++) {
		const struct fw_cv_tensor *t = &g->tensors[k];
		uint8_t *r = buf + tensors_off + (uint64_t)k * sizeof(struct fw_mf_tensor);

		r[TEN(dtype)] = t->dtype;
		r[TEN(kind)] = t->kind;
		for (int d = 0; d < 4; d++)
			put32(r + TEN(dims) + 4 * d, (uint32_t)t->dims[d]);
		put32(r + TEN(name_off), name_off[k]);
		if (t->kind == FW_TK_CONST) {
			uint64_t n = (uint64_t)t->dims[0] * t->dims[1] * t->dims[2] * t->dims[3];
			uint8_t *d = buf + data_off + const_off[k];

			put32(r + TEN(data_off), const_off[k]);
			put32(r + TEN(data_size), (uint32_t)(4 * n));
			for (uint64_t e = 0; e < n; e++)
				putf(d + 4 * e, t->data[e]);
		}
		/* float tensors: scale 0, zero_point 0 (already zero) */
		if (name_off[k])
			memcpy(buf + strings_off + name_off[k], t->name, strlen(t->name));
	}
	for (int k = 0; k < g->n_ops; k++) {
		const struct fw_cv_op *o = &g->ops[k];
		uint8_t *r = buf + ops_off + (uint64_t)k * sizeof(struct fw_mf_op);

		put16(r + OP(type), o->type);
		put16(r + OP(act), o->act);
		put16(r + OP(n_in), o->n_in);
		put16(r + OP(n_out), 1);
		for (int s = 0; s < FW_MF_MAX_IN; s++)
			put32(r + OP(in) + 4 * s, (uint32_t)o->in[s]);
		put32(r + OP(out), (uint32_t)o->out);
		for (int s = 0; s < FW_MF_MAX_PARAMS; s++)
			put32(r + OP(p) + 4 * s, (uint32_t)o->p[s]);
	}
	for (int k = 0; k < g->n_inputs; k++)
		put32(buf + io_off + 4 * (uint64_t)k, (uint32_t)g->inputs[k]);
	for (int k = 0; k < g->n_outputs; k++)
		put32(buf + io_off + 4 * ((uint64_t)g->n_inputs + k), (uint32_t)g->outputs[k]);

	put32(buf + HDR(crc32), fw_crc32(0, buf + sizeof(struct fw_mf_header),
					 (size_t)file_size - sizeof(struct fw_mf_header)));
	free(name_off);
	free(const_off);
	*out = buf;
	*out_len = (size_t)file_size;
	return 0;

fail_size:
	ret = FW_EUNSUPPORTED;
fail:
	snprintf(err, errlen, "%s", ret == FW_ENOMEM ? "out of memory"
		 : "model does not fit the 4 GiB limit of the format");
	free(name_off);
	free(const_off);
	return ret;
}
