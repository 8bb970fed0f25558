/* facewatch model file format, version 1 (".fwm").
 *
 * Written by the converter (models/converter/), read by core/model.c.
 * All integers little-endian, all structs packed exactly as declared below
 * (every member is 4-byte aligned and the sizes are asserted).
 *
 *   offset 0                 struct fw_mf_header          (160 bytes)
 *   header.tensors_off       struct fw_mf_tensor[n_tensors]
 *   header.ops_off           struct fw_mf_op[n_ops]
 *   header.io_off            int32 input ids[n_inputs], then output ids[n_outputs]
 *   header.strings_off       NUL-terminated UTF-8 names, referenced by offset
 *   header.data_off          constant data (each tensor's bytes 64-byte aligned
 *                            relative to data_off); data_off is 64-aligned
 *   header.file_size         end of file
 *
 * header.crc32 is the CRC-32 (fw_crc32) of bytes [160, file_size). A reader
 * checks magic, version, sizes, then the CRC, then every index, offset and
 * shape before it trusts anything.
 *
 * Tensors are NHWC with rank 4 always (dims[0] = N = 1 for activations);
 * lower-rank TFLite tensors are right-aligned: [1,896,16] -> [1,1,896,16],
 * [1,192] -> [1,1,1,192]. Constant layouts:
 *   CONV2D weights   OHWI  dims {O, KH, KW, I}
 *   DWCONV2D weights 1HWC  dims {1, KH, KW, C}   (depth multiplier 1)
 *   FC weights       [O, I] dims {1, 1, O, I}
 *   bias / slope     dims {1, 1, 1, C}
 * Per-channel int8 weights (format room for the int8 path): dtype FW_DT_I8,
 * a per-output-channel float scale tensor in op input slot FW_IN_WSCALE, and
 * activations with per-tensor scale/zero_point in the tensor record.
 */
#ifndef FW_MODEL_FORMAT_H
#define FW_MODEL_FORMAT_H

#include <stdint.h>

#define FW_MF_MAGIC "FWMODEL\x1a" /* 8 bytes; \x1a stops `type` on DOS, catches text-mode copies */
#define FW_MF_VERSION 1
#define FW_MF_ALIGN 64
#define FW_MF_MAX_NAME 32

enum fw_dtype {
	FW_DT_F32 = 0,
	FW_DT_I8 = 1,
	FW_DT_U8 = 2,
	FW_DT_I32 = 3,
};

enum fw_tensor_kind {
	FW_TK_ACTIVATION = 0, /* lives in the arena */
	FW_TK_CONST = 1,      /* bytes in the data section */
	FW_TK_INPUT = 2,      /* model input (also in the arena) */
};

enum fw_op_type {
	FW_OP_CONV2D = 1,   /* in: x, w, bias, [slope]; p: kernel/stride/dilation/pads */
	FW_OP_DWCONV2D = 2, /* in: x, w, bias, [slope]; p: as CONV2D */
	FW_OP_ADD = 3,      /* in: a, b (same shape); act RELU allowed */
	FW_OP_MAXPOOL = 4,  /* in: x; p: kernel/stride/pads (padding never wins the max) */
	FW_OP_PAD = 5,      /* in: x; p[0..7] = before/after for N,H,W,C; zero fill */
	FW_OP_RESIZE_BILINEAR = 6, /* in: x; p[0] = half_pixel_centers, p[1] = align_corners */
	FW_OP_RESHAPE = 7,  /* in: x; output has the same element count */
	FW_OP_CONCAT = 8,   /* in: x0..x(n-1); p[0] = axis 0..3 */
	FW_OP_FC = 9,       /* in: x (flattened), w [O,I], bias, [slope] */
	FW_OP_SOFTMAX = 10, /* in: x; over the last axis (C) */
};

/* Fused activation in the epilogue of CONV2D, DWCONV2D, FC, ADD. */
enum fw_act {
	FW_ACT_NONE = 0,
	FW_ACT_RELU = 1,
	FW_ACT_PRELU = 2, /* y = x >= 0 ? x : slope[c] * x; slope in input slot FW_IN_SLOPE */
};

/* Input slots of CONV2D / DWCONV2D / FC. -1 marks an absent input. */
enum { FW_IN_X = 0, FW_IN_W = 1, FW_IN_BIAS = 2, FW_IN_SLOPE = 3, FW_IN_WSCALE = 4 };

/* Param slots of CONV2D / DWCONV2D / MAXPOOL. */
enum {
	FW_P_KH = 0, FW_P_KW, FW_P_SH, FW_P_SW, FW_P_DH, FW_P_DW,
	FW_P_PAD_T, FW_P_PAD_B, FW_P_PAD_L, FW_P_PAD_R,
};

#define FW_MF_MAX_IN 6
#define FW_MF_MAX_PARAMS 12

struct fw_mf_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;      /* 160 */
	uint32_t file_size;
	uint32_t crc32;            /* CRC-32 of bytes [160, file_size) */
	char name[FW_MF_MAX_NAME]; /* model id, e.g. "blazeface_short", NUL-padded */
	uint32_t n_tensors, n_ops, n_inputs, n_outputs;
	uint32_t tensors_off, ops_off, io_off, strings_off, strings_size, data_off, data_size;
	uint32_t source_sha256[8]; /* sha256 of the upstream file it was converted from (as bytes) */
	uint32_t reserved[7];      /* zero */
};

struct fw_mf_tensor {
	uint8_t dtype;        /* enum fw_dtype */
	uint8_t kind;         /* enum fw_tensor_kind */
	uint16_t reserved;
	int32_t dims[4];      /* NHWC, all >= 1 */
	uint32_t name_off;    /* into the string table */
	uint32_t data_off;    /* const: relative to data_off of the header, 64-aligned */
	uint32_t data_size;   /* const: bytes; must equal product(dims) * sizeof(dtype) */
	float scale;          /* quantised tensors: real = scale * (q - zero_point); else 0 */
	int32_t zero_point;
};

struct fw_mf_op {
	uint16_t type;        /* enum fw_op_type */
	uint16_t act;         /* enum fw_act */
	uint16_t n_in;
	uint16_t n_out;       /* always 1 in version 1 */
	int32_t in[FW_MF_MAX_IN];  /* tensor ids, -1 = absent */
	int32_t out;
	int32_t p[FW_MF_MAX_PARAMS];
};

_Static_assert(sizeof(struct fw_mf_header) == 160, "header is 160 bytes");
_Static_assert(sizeof(struct fw_mf_tensor) == 40, "tensor record is 40 bytes");
_Static_assert(sizeof(struct fw_mf_op) == 84, "op record is 84 bytes");

#endif
