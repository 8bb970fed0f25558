/* The reduced-size MJPEG decoder: see jpeg_small.h for what it handles.
 *
 * Why it beats TurboJPEG on the same frame: at 1/4 and 1/8 libjpeg-turbo's
 * cost is per 8x8 block (decode_mcu zeroing and filling all 64
 * coefficients, a call to the reduced IDCT, the block loop), not per byte.
 * Here a block is one inlined loop that keeps only the coefficients the
 * reduced IDCT reads (25 of 64 for 2x2 output, the DC for 1x1); a block
 * whose kept AC terms are all zero (half of them in a q85 camera frame) is
 * a fill, and the IDCT skips what a mask of the nonzero terms says is zero.
 * Branches whose direction is data (coefficient kept or not, bits left in
 * the buffer, clamping) are replaced by table lookups: mispredictions, not
 * instructions, were the cost.
 *
 * Huffman: each entropy-coded segment is first copied with its 0xff00
 * stuffing removed (memchr finds the rare 0xff), so the 64-bit bit buffer
 * refills with a load and a shift and no test, once per two symbols. A
 * 10-bit lookup gives, for codes whose length plus value bits fit, the
 * whole coefficient (value, zero run, bits used; end of block as a run past
 * 63); otherwise the code length and symbol; codes over 10 bits go through
 * the canonical maxcode search.
 *
 * Exactness: the IDCTs are libjpeg's jidctred.c arithmetic (LL&M, 13-bit
 * constants, 64-bit intermediates like its JLONG, its wrap-around range
 * limit), the colour tables jdcolor.c's, so outputs equal TurboJPEG's.
 */
#include "capture/jpeg_small.h"

#include <stdlib.h>
#include <string.h>

#include "core/fw.h"

#define MAX_SIDE 16384
#define LUT_BITS 10

/* zigzag index -> natural (row-major) index */
static const uint8_t zigzag[64] = {
	0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
};

/* The standard tables of ITU-T T.81 K.3, which UVC MJPEG frames leave out
 * (bits[l] = number of codes of length l, then the symbols). */
static const uint8_t std_dc_bits[2][17] = {
	{ 0, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0 },
	{ 0, 0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
};
static const uint8_t std_dc_vals[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
static const uint8_t std_ac_bits[2][17] = {
	{ 0, 0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d },
	{ 0, 0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77 },
};
static const uint8_t std_ac_vals[2][162] = {
	{ 0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
	  0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1,
	  0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18,
	  0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	  0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57,
	  0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
	  0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
	  0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	  0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
	  0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
	  0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2,
	  0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa },
	{ 0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
	  0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09,
	  0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25,
	  0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
	  0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56,
	  0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74,
	  0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	  0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
	  0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
	  0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
	  0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2,
	  0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa },
};

struct huff {
	uint16_t lut[1 << LUT_BITS];  /* (length << 8) | symbol; 0: longer code */
	/* The whole coefficient when code and value bits fit in LUT_BITS:
	 * value << 16 | zeros before it << 8 | bits used; 0: use lut. An
	 * end of block is 63 zeros and value 0 (it ends any block), sixteen
	 * zeros (ZRL) 15 zeros and value 0. For DC: the difference << 16. */
	int32_t fast[1 << LUT_BITS];
	uint32_t maxcode[18];           /* per length: first code past it, << (16 - length) */
	int delta[17];                  /* symbol index = code + delta[length] */
	uint8_t vals[256];
};

struct comp {
	int id, h, v, tq, td, ta;
	int ss;           /* IDCT output per block side: 1, 2 or 4 pixels */
	int hsh, vsh;     /* chroma replication: output x >> hsh is this plane's x */
	int pw, ph;       /* plane size in pixels (whole MCUs) */
	uint8_t *plane;
	/* by zigzag index: where the IDCT wants the coefficient (natural
	 * index, or 64: a scratch slot for those it does not read), the
	 * quantiser there (0 for the scratch) and that position's bit */
	uint8_t kpos[64];
	int32_t kq[64];
	uint64_t kbit[64];
	int32_t q[64];    /* quantiser, natural order */
};

struct frame {
	int w, h, nc, maxh, maxv, ri, jfif;
	struct comp c[3];
	const struct huff *dc[4], *ac[4];
	size_t scan; /* offset of the entropy-coded data */
};

struct fw_jpeg_small {
	struct huff std_dc[2], std_ac[2]; /* built once */
	struct huff dht_dc[4], dht_ac[4]; /* this frame's DHT tables */
	/* the DHT bytes each was built from: a camera repeats its tables in
	 * every frame, and rebuilding them would cost a few percent */
	uint8_t dht_src[2][4][17 + 256];
	size_t dht_len[2][4];
	uint16_t qt[4][64];               /* this frame's DQT, natural order */
	int qdef[4];
	uint8_t *work; /* the component planes */
	size_t work_cap;
	uint8_t *seg;  /* one entropy-coded segment, unstuffed */
	size_t seg_cap;
	int crr[256], cbb[256], crg[256], cbg[256]; /* libjpeg's jdcolor tables */
	uint8_t clamp[1024];                         /* [v + CLAMP_OFF]: v clamped to 0..255 */
	uint8_t limit[1024];                         /* IDCT output, see range_limit() */
};

/* Y + a colour term lies in -227..482 */
#define CLAMP_OFF 384

/* --- Huffman tables ------------------------------------------------------- */

/* Builds a table from DHT's counts and symbols; -1 for an impossible code
 * set (libjpeg refuses those too) or a DC symbol above 15. */
static int huff_build(struct huff *t, const uint8_t bits[17], const uint8_t *vals, int is_dc)
{
	int n = 0, code = 0, k = 0;

	memset(t->lut, 0, sizeof t->lut);
	memset(t->fast, 0, sizeof t->fast);
	for (int l = 1; l <= 16; l++)
		n += bits[l];
	if (n < 1 || n > 256)
		return -1;
	memcpy(t->vals, vals, (size_t)n);
	for (int l = 1; l <= 16; l++) {
		t->delta[l] = k - code;
		for (int i = 0; i < bits[l]; i++, k++, code++) {
			/* libjpeg: the all-ones code of a length is never used
			 * (checked before filling: a bad table must not write
			 * past lut) */
			if (code >= (1 << l) - 1 || (is_dc && vals[k] > 15))
				return -1;
			if (l <= LUT_BITS) {
				int first = code << (LUT_BITS - l), cnt = 1 << (LUT_BITS - l);

				for (int e = first; e < first + cnt; e++) {
					int rs = vals[k], r = rs >> 4, s = rs & 15;

					t->lut[e] = (uint16_t)(l << 8 | rs);
					if (is_dc) {
						r = 0;
						s = rs;
					} else if (!s) {
						r = r == 15 ? 15 : 63;
					}
					if (l + s <= LUT_BITS) {
						int v = 0;

						if (s) {
							v = (e >> (LUT_BITS - l - s)) & ((1 << s) - 1);
							if (v < (1 << (s - 1)))
								v -= (1 << s) - 1;
						}
						t->fast[e] = (int32_t)((uint32_t)v << 16 | (uint32_t)(r << 8 | (l + s)));
					}
				}
			}
		}
		t->maxcode[l] = (uint32_t)code << (16 - l);
		code <<= 1;
	}
	t->maxcode[17] = 0xffffffffu;
	return 0;
}

/* --- entropy-coded data --------------------------------------------------- */

/* The bit reader works on one entropy-coded segment (the data up to the
 * next marker: an RSTn or the end of the scan) copied with its 0xff00
 * stuffing removed and zeros after it, so a refill is a load and a shift,
 * with no branch: Giesen's "variant 4". The bits of buf past cnt are the
 * true next bits (or zeros), so refilling over them again changes nothing. */
struct bits {
	const uint8_t *p; /* next byte not yet counted in cnt */
	uint64_t buf;     /* the next bits, MSB first */
	int cnt;          /* bits of buf counted as loaded */
};

#define SEG_PAD 512 /* zeros after a segment: more than one block can read */

static inline uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* At least 56 bits in buf (a symbol and its value take at most 27). */
static inline void refill(struct bits *b)
{
	b->buf |= load_be64(b->p) >> b->cnt;
	b->p += (63 - b->cnt) >> 3;
	b->cnt |= 56;
}

/* Bits consumed since start: past the segment's end means the data ran
 * out (libjpeg: "premature end of data segment"). */
static inline size_t bits_used(const struct bits *b, const uint8_t *start)
{
	return (size_t)(b->p - start) * 8 - (size_t)b->cnt;
}

/* Copies the entropy-coded bytes at buf[*pos] up to the next marker into
 * out without stuffing (0xff 0x00 is a data 0xff; 0xff fill bytes before
 * a marker are dropped, as libjpeg does), zero-padded; *n = bytes copied,
 * *pos just past the marker. Returns the marker, or -1 when the buffer
 * ends first. */
static int unstuff(const uint8_t *buf, size_t len, size_t *pos, uint8_t *out, size_t *n)
{
	size_t i = *pos, o = 0;
	int m = -1;

	for (;;) {
		const uint8_t *ff = i < len ? memchr(buf + i, 0xff, len - i) : NULL;
		size_t run = ff ? (size_t)(ff - buf) - i : len - i, j;

		memcpy(out + o, buf + i, run);
		o += run;
		i += run;
		if (!ff)
			break;
		for (j = i + 1; j < len && buf[j] == 0xff; j++)
			;
		if (j >= len) {
			i = len;
			break;
		}
		if (buf[j] == 0) {
			out[o++] = 0xff;
			i = j + 1;
			continue;
		}
		m = buf[j];
		i = j + 1;
		break;
	}
	memset(out + o, 0, SEG_PAD);
	*pos = i;
	*n = o;
	return m;
}

static inline unsigned get_bits(struct bits *b, int n)
{
	unsigned v = (unsigned)(b->buf >> (64 - n));

	b->buf <<= n;
	b->cnt -= n;
	return v;
}

static inline int extend(unsigned v, int s)
{
	return v < (1u << (s - 1)) ? (int)v - ((1 << s) - 1) : (int)v;
}

/* A symbol, or -1 for a code no table entry has. Needs 16 bits in buf. */
static inline int huff_sym(struct bits *b, const struct huff *t)
{
	unsigned e = t->lut[b->buf >> (64 - LUT_BITS)], c;
	int l, idx;

	if (e) {
		b->buf <<= e >> 8;
		b->cnt -= (int)(e >> 8);
		return (int)(e & 255);
	}
	c = (unsigned)(b->buf >> 48);
	for (l = LUT_BITS + 1; c >= t->maxcode[l]; l++)
		;
	if (l > 16)
		return -1;
	idx = (int)(c >> (16 - l)) + t->delta[l];
	if (idx < 0 || idx > 255)
		return -1;
	b->buf <<= l;
	b->cnt -= l;
	return t->vals[idx];
}

/* --- reduced IDCTs (libjpeg's jidctred.c arithmetic) ----------------------- */

#define CONST_BITS 13
#define PASS1_BITS 2
/* signed values are multiplied, not shifted left (undefined in C) */
#define DESCALE(x, n) (((x) + ((int64_t)1 << ((n) - 1))) >> (n))

/* libjpeg's range limit: the low 10 bits as signed, + 128, clamped; a
 * table (struct fw_jpeg_small's limit) indexed by the low 10 bits. */
static inline uint8_t range_limit(const uint8_t *lim, int64_t x)
{
	return lim[x & 1023];
}

/* 4x4 (jidctred.c's jpeg_idct_4x4), for 4:2:0 chroma at 1/4. When the
 * nonzero terms (nz) are all in rows and columns 0-3, as in most chroma
 * blocks, columns 5-7 are zero and not computed. */
static void idct_4x4(const int32_t *blk, uint64_t nz, uint8_t *out, int stride, const uint8_t *lim)
{
	static const int cols[7] = { 0, 1, 2, 3, 5, 6, 7 };
	const int ncols = nz & ~(uint64_t)0x0f0f0f0fu ? 7 : 4;
	int ws[32];

	for (int r = 0; r < 4 && ncols == 4; r++)
		ws[8 * r + 5] = ws[8 * r + 6] = ws[8 * r + 7] = 0;
	for (int i = 0; i < ncols; i++) {
		const int32_t *in = blk + cols[i];
		int64_t t0 = (int64_t)in[0] * ((int64_t)1 << (CONST_BITS + 1));
		int64_t t2 = (int64_t)in[16] * 15137 - (int64_t)in[48] * 6270;
		int64_t t10 = t0 + t2, t12 = t0 - t2;
		int64_t z1 = in[56], z2 = in[40], z3 = in[24], z4 = in[8];

		t0 = z1 * -1730 + z2 * 11893 + z3 * -17799 + z4 * 8697;
		t2 = z1 * -4176 + z2 * -4926 + z3 * 7373 + z4 * 20995;
		ws[cols[i]] = (int)DESCALE(t10 + t2, CONST_BITS - PASS1_BITS + 1);
		ws[24 + cols[i]] = (int)DESCALE(t10 - t2, CONST_BITS - PASS1_BITS + 1);
		ws[8 + cols[i]] = (int)DESCALE(t12 + t0, CONST_BITS - PASS1_BITS + 1);
		ws[16 + cols[i]] = (int)DESCALE(t12 - t0, CONST_BITS - PASS1_BITS + 1);
	}
	for (int r = 0; r < 4; r++) {
		const int *w = ws + 8 * r;
		int64_t t0 = (int64_t)w[0] * ((int64_t)1 << (CONST_BITS + 1));
		int64_t t2 = (int64_t)w[2] * 15137 - (int64_t)w[6] * 6270;
		int64_t t10 = t0 + t2, t12 = t0 - t2;
		int64_t z1 = w[7], z2 = w[5], z3 = w[3], z4 = w[1];
		uint8_t *o = out + r * stride;

		t0 = z1 * -1730 + z2 * 11893 + z3 * -17799 + z4 * 8697;
		t2 = z1 * -4176 + z2 * -4926 + z3 * 7373 + z4 * 20995;
		o[0] = range_limit(lim, DESCALE(t10 + t2, CONST_BITS + PASS1_BITS + 3 + 1));
		o[3] = range_limit(lim, DESCALE(t10 - t2, CONST_BITS + PASS1_BITS + 3 + 1));
		o[1] = range_limit(lim, DESCALE(t12 + t0, CONST_BITS + PASS1_BITS + 3 + 1));
		o[2] = range_limit(lim, DESCALE(t12 - t0, CONST_BITS + PASS1_BITS + 3 + 1));
	}
}

/* --- headers -------------------------------------------------------------- */

#define DECLINED FW_JPEG_SMALL_DECLINED

static int parse_dht(struct fw_jpeg_small *s, struct frame *f, const uint8_t *p, size_t n)
{
	while (n > 0) {
		int tc, th, cnt = 0;

		if (n < 17)
			return DECLINED;
		tc = p[0] >> 4;
		th = p[0] & 15;
		if (tc > 1 || th > 3)
			return DECLINED;
		for (int l = 1; l <= 16; l++)
			cnt += p[l];
		if ((size_t)cnt > n - 17)
			return DECLINED;
		{
			struct huff *t = tc ? &s->dht_ac[th] : &s->dht_dc[th];
			size_t n_src = 17 + (size_t)cnt;

			if (s->dht_len[tc][th] != n_src || memcmp(s->dht_src[tc][th], p, n_src)) {
				s->dht_len[tc][th] = 0;
				/* p[0] stands in for bits[0], which huff_build ignores */
				if (huff_build(t, p, p + 17, tc == 0))
					return DECLINED;
				memcpy(s->dht_src[tc][th], p, n_src);
				s->dht_len[tc][th] = n_src;
			}
			if (tc)
				f->ac[th] = t;
			else
				f->dc[th] = t;
		}
		p += 17 + cnt;
		n -= 17 + (size_t)cnt;
	}
	return 0;
}

static int parse_dqt(struct fw_jpeg_small *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		int pq = p[0] >> 4, tq = p[0] & 15;
		size_t need = 1 + 64 * (size_t)(pq + 1);

		if (pq > 1 || tq > 3 || n < need)
			return DECLINED;
		for (int k = 0; k < 64; k++)
			s->qt[tq][zigzag[k]] =
				pq ? (uint16_t)(p[1 + 2 * k] << 8 | p[2 + 2 * k]) : p[1 + k];
		s->qdef[tq] = 1;
		p += need;
		n -= need;
	}
	return 0;
}

static int parse_sof(struct frame *f, const uint8_t *p, size_t n)
{
	if (n < 6 || p[0] != 8)
		return DECLINED;
	f->h = p[1] << 8 | p[2];
	f->w = p[3] << 8 | p[4];
	f->nc = p[5];
	if (f->w < 1 || f->h < 1 || f->w > MAX_SIDE || f->h > MAX_SIDE)
		return DECLINED;
	if ((f->nc != 1 && f->nc != 3) || n != 6 + 3 * (size_t)f->nc)
		return DECLINED;
	f->maxh = f->maxv = 1;
	for (int i = 0; i < f->nc; i++) {
		struct comp *c = &f->c[i];

		c->id = p[6 + 3 * i];
		c->h = p[7 + 3 * i] >> 4;
		c->v = p[7 + 3 * i] & 15;
		c->tq = p[8 + 3 * i];
		if (c->tq > 3 || c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4)
			return DECLINED;
		for (int k = 0; k < i; k++)
			if (f->c[k].id == c->id)
				return DECLINED;
	}
	if (f->nc == 3) {
		/* luma 1 or 2 each way, chroma 1x1: the camera samplings */
		if (f->c[0].h > 2 || f->c[0].v > 2)
			return DECLINED;
		for (int i = 1; i < 3; i++)
			if (f->c[i].h != 1 || f->c[i].v != 1)
				return DECLINED;
		f->maxh = f->c[0].h;
		f->maxv = f->c[0].v;
	} else {
		/* one component: libjpeg decodes it as 1x1 whatever it says */
		f->c[0].h = f->c[0].v = 1;
	}
	return 0;
}

static int parse_sos(struct frame *f, const uint8_t *p, size_t n)
{
	int ns = n ? p[0] : 0;

	if (!ns || ns != f->nc || n != 4 + 2 * (size_t)ns)
		return DECLINED;
	for (int i = 0; i < ns; i++) {
		struct comp *c = &f->c[i];

		/* every component, in frame order (what cameras write) */
		if (p[1 + 2 * i] != c->id)
			return DECLINED;
		c->td = p[2 + 2 * i] >> 4;
		c->ta = p[2 + 2 * i] & 15;
		if (c->td > 3 || c->ta > 3)
			return DECLINED;
	}
	/* Ss = 0, Se = 63, Ah = Al = 0: sequential */
	if (p[1 + 2 * ns] != 0 || p[2 + 2 * ns] != 63 || p[3 + 2 * ns] != 0)
		return DECLINED;
	return 0;
}

/* From SOI to the start of the scan's entropy data. Anything unexpected
 * declines: TurboJPEG then reports it exactly as before. */
static int parse_headers(struct fw_jpeg_small *s, const uint8_t *buf, size_t len, struct frame *f)
{
	size_t p = 2;
	int have_sof = 0;

	memset(f, 0, sizeof *f);
	memset(s->qdef, 0, sizeof s->qdef);
	if (len < 2 || buf[0] != 0xff || buf[1] != 0xd8)
		return DECLINED;
	for (;;) {
		size_t seg;
		const uint8_t *d;
		uint8_t m;
		int rc = 0;

		if (p >= len || buf[p] != 0xff)
			return DECLINED;
		while (p < len && buf[p] == 0xff)
			p++;
		if (p >= len)
			return DECLINED;
		m = buf[p++];
		if (len - p < 2)
			return DECLINED;
		seg = (size_t)buf[p] << 8 | buf[p + 1];
		if (seg < 2 || seg > len - p)
			return DECLINED;
		d = buf + p + 2;
		switch (m) {
		case 0xc0: /* baseline */
		case 0xc1: /* extended sequential, Huffman */
			if (have_sof)
				return DECLINED;
			have_sof = 1;
			rc = parse_sof(f, d, seg - 2);
			break;
		case 0xc4:
			rc = parse_dht(s, f, d, seg - 2);
			break;
		case 0xdb:
			rc = parse_dqt(s, d, seg - 2);
			break;
		case 0xdd:
			if (seg != 4)
				return DECLINED;
			f->ri = d[0] << 8 | d[1];
			break;
		case 0xe0:
			if (seg - 2 >= 14 && !memcmp(d, "JFIF", 5)) {
				/* libjpeg warns on a JFIF major version but 1,
				 * and TurboJPEG's path refuses the frame for it */
				if (d[5] != 1)
					return DECLINED;
				f->jfif = 1;
			}
			break;
		case 0xee: /* Adobe: may say RGB or YCCK; not a camera's */
			return DECLINED;
		case 0xda:
			if (!have_sof)
				return DECLINED;
			rc = parse_sos(f, d, seg - 2);
			f->scan = p + seg;
			return rc;
		default:
			/* APPn and COM are skipped; other SOFn (progressive,
			 * lossless, arithmetic), DAC, DNL, SOI, EOI, RSTn, TEM,
			 * JPGn, DHP, EXP, reserved are not ours (libjpeg refuses
			 * most of them) */
			if (!(m >= 0xe0 && m <= 0xef) && m != 0xfe)
				return DECLINED;
			break;
		}
		if (rc)
			return rc;
		p += seg;
	}
}

/* --- scan ----------------------------------------------------------------- */

/* The next marker at or after *p (junk, stuffed 0xff00 and fill bytes
 * skipped, as libjpeg's next_marker), *p just past it; -1 at the end. */
static int next_marker(const uint8_t *buf, size_t len, size_t *p)
{
	size_t i = *p;

	for (;;) {
		const uint8_t *ff = i < len ? memchr(buf + i, 0xff, len - i) : NULL;

		if (!ff)
			return -1;
		i = (size_t)(ff - buf) + 1;
		while (i < len && buf[i] == 0xff)
			i++;
		if (i >= len)
			return -1;
		if (buf[i] != 0) {
			*p = i + 1;
			return buf[i];
		}
		i++;
	}
}

/* One block: DC, then every AC coefficient (each must be decoded to find
 * the next), keeping in blk (dequantised, natural order) the ones the
 * reduced IDCT reads. Returns 0 or -1 for damaged data; *nz gets a bit per
 * natural position of a kept nonzero AC term. */
/* One AC symbol (and its coefficient) at *k, without a refill: the
 * caller guarantees 26 bits. 0, or -1 for damaged data. */
static inline int ac_symbol(struct bits *b, const struct huff *ac, const struct comp *c,
			    int32_t *blk, int *k, uint64_t *m)
{
	int e = ac->fast[b->buf >> (64 - LUT_BITS)], v;

	if (e) {
		b->buf <<= e & 31;
		b->cnt -= e & 31;
		*k += (e >> 8) & 63;
		v = e >> 16;
	} else {
		int rs = huff_sym(b, ac), s = rs & 15;

		if (rs < 0 || s > 10)
			return -1;
		if (s) {
			*k += rs >> 4;
			v = extend(get_bits(b, s), s);
		} else {
			*k += (rs >> 4) == 15 ? 15 : 63; /* ZRL, or end of block */
			v = 0;
		}
	}
	if (v) {
		if (*k > 63)
			return -1;
		/* no branch on whether the IDCT reads it: unread ones land
		 * in blk[64] with quantiser 0 */
		blk[c->kpos[*k]] = v * c->kq[*k];
		*m |= c->kbit[*k];
	}
	++*k;
	return 0;
}

/* One block: DC, then every AC coefficient (each must be decoded to find
 * the next), keeping in blk (dequantised, natural order) the ones the
 * reduced IDCT reads. Returns 0 or -1 for damaged data; *nz gets a bit per
 * natural position of a kept nonzero AC term. A refill gives 56 bits: the
 * DC and the first AC symbol (27 + 26 bits) or two AC symbols fit. */
static inline int decode_block(struct bits *b, const struct huff *dc, const struct huff *ac,
			       int *pred, const struct comp *c, int32_t *blk, uint64_t *nz)
{
	int k = 1, e, v;
	uint64_t m = 0;

	refill(b);
	e = dc->fast[b->buf >> (64 - LUT_BITS)];
	if (e) {
		b->buf <<= e & 31;
		b->cnt -= e & 31;
		v = e >> 16;
	} else {
		int s = huff_sym(b, dc);

		if (s < 0 || s > 11)
			return -1;
		v = s ? extend(get_bits(b, s), s) : 0;
	}
	*pred += v;
	/* an 8-bit DC is within +-1024; beyond 2047 the data is damaged */
	if (*pred < -2047 || *pred > 2047)
		return -1;
	blk[0] = *pred * c->q[0];
	if (ac_symbol(b, ac, c, blk, &k, &m))
		return -1;
	while (k < 64) {
		refill(b);
		if (ac_symbol(b, ac, c, blk, &k, &m))
			return -1;
		if (k >= 64)
			break;
		if (ac_symbol(b, ac, c, blk, &k, &m))
			return -1;
	}
	*nz = m;
	return 0;
}

/* 2x2 (jidctred.c's jpeg_idct_2x2). libjpeg skips all-zero columns and
 * rows by testing each; here one test on the mask of nonzero terms picks
 * the common case, terms in columns 0 and 1 only (the same numbers with
 * the zero products left out), and everything else is computed whole. */
#define COLS_01 0x0303030303030303u

static inline void idct_2x2_col(const int32_t *in, int *w0, int *w1)
{
	int64_t t10 = (int64_t)in[0] * ((int64_t)1 << (CONST_BITS + 2));
	int64_t t0 = (int64_t)in[56] * -5906 + (int64_t)in[40] * 6967 + (int64_t)in[24] * -10426 +
		     (int64_t)in[8] * 29692;

	*w0 = (int)DESCALE(t10 + t0, CONST_BITS - PASS1_BITS + 2);
	*w1 = (int)DESCALE(t10 - t0, CONST_BITS - PASS1_BITS + 2);
}

static void idct_2x2(const int32_t *blk, uint64_t nz, uint8_t *out, int stride, const uint8_t *lim)
{
	int ws[2][5];

	idct_2x2_col(blk, &ws[0][0], &ws[1][0]);
	idct_2x2_col(blk + 1, &ws[0][1], &ws[1][1]);
	if (!(nz & ~(uint64_t)COLS_01)) {
		for (int r = 0; r < 2; r++) {
			int64_t t10 = (int64_t)ws[r][0] * ((int64_t)1 << (CONST_BITS + 2));
			int64_t t0 = (int64_t)ws[r][1] * 29692;

			out[r * stride] = range_limit(lim, DESCALE(t10 + t0, CONST_BITS + PASS1_BITS + 3 + 2));
			out[r * stride + 1] =
				range_limit(lim, DESCALE(t10 - t0, CONST_BITS + PASS1_BITS + 3 + 2));
		}
		return;
	}
	idct_2x2_col(blk + 3, &ws[0][2], &ws[1][2]);
	idct_2x2_col(blk + 5, &ws[0][3], &ws[1][3]);
	idct_2x2_col(blk + 7, &ws[0][4], &ws[1][4]);
	for (int r = 0; r < 2; r++) {
		const int *w = ws[r];
		int64_t t10 = (int64_t)w[0] * ((int64_t)1 << (CONST_BITS + 2));
		int64_t t0 = (int64_t)w[4] * -5906 + (int64_t)w[3] * 6967 + (int64_t)w[2] * -10426 +
			     (int64_t)w[1] * 29692;

		out[r * stride] = range_limit(lim, DESCALE(t10 + t0, CONST_BITS + PASS1_BITS + 3 + 2));
		out[r * stride + 1] = range_limit(lim, DESCALE(t10 - t0, CONST_BITS + PASS1_BITS + 3 + 2));
	}
}

/* One MCU's blocks in decoding order: component and offset in its plane. */
struct plan {
	int n;
	int ci[6];
	size_t off[6];
	const struct comp *c[6];
	const struct huff *dc[6], *ac[6];
};

static int decode_scan(uint8_t *seg, const uint8_t *lim, const uint8_t *buf, size_t len,
		       const struct frame *f)
{
	const int grey = f->nc == 1;
	/* a one-component scan is not interleaved: one block per MCU */
	const int mx_n = grey ? (f->w + 7) / 8 : (f->w + 8 * f->maxh - 1) / (8 * f->maxh);
	const int my_n = grey ? (f->h + 7) / 8 : (f->h + 8 * f->maxv - 1) / (8 * f->maxv);
	size_t pos = f->scan, seg_len;
	int marker = unstuff(buf, len, &pos, seg, &seg_len);
	struct bits b = { seg, 0, 0 };
	/* past this, a block has certainly read beyond the segment */
	const uint8_t *seg_lim = seg + seg_len + 8;
	int32_t blk[65]; /* 64: scratch for coefficients no IDCT reads */
	int pred[3] = { 0, 0, 0 }, togo = f->ri, next_rst = 0;
	struct plan pl = { 0 };

	memset(blk, 0, sizeof blk);
	for (int ci = 0; ci < f->nc; ci++) {
		const struct comp *c = &f->c[ci];

		for (int by = 0; by < c->v; by++)
			for (int bx = 0; bx < c->h; bx++) {
				pl.ci[pl.n] = ci;
				pl.c[pl.n] = c;
				pl.dc[pl.n] = f->dc[c->td];
				pl.ac[pl.n] = f->ac[c->ta];
				pl.off[pl.n++] = (size_t)(by * c->ss) * (size_t)c->pw + (size_t)(bx * c->ss);
			}
	}
	for (int my = 0; my < my_n; my++) {
		uint8_t *row[3];

		for (int ci = 0; ci < f->nc; ci++)
			row[ci] = f->c[ci].plane +
				  (size_t)(my * f->c[ci].v * f->c[ci].ss) * (size_t)f->c[ci].pw;
		for (int mx = 0; mx < mx_n; mx++) {
			if (f->ri && togo == 0) {
				/* the interval must have ended inside its data, and
				 * the marker after it must be the next RSTn */
				if (bits_used(&b, seg) > seg_len * 8 || marker < 0)
					return FW_ETRUNC;
				if (marker != 0xd0 + next_rst)
					return FW_EFORMAT;
				next_rst = (next_rst + 1) & 7;
				togo = f->ri;
				pred[0] = pred[1] = pred[2] = 0;
				marker = unstuff(buf, len, &pos, seg, &seg_len);
				seg_lim = seg + seg_len + 8;
				b = (struct bits){ seg, 0, 0 };
			}
			togo--;
			for (int i = 0; i < pl.n; i++) {
				const int ci = pl.ci[i];
				const struct comp *c = pl.c[i];
				const int pw = c->pw;
				uint8_t *o = row[ci] + pl.off[i];
				uint64_t nz;

				if (decode_block(&b, pl.dc[i], pl.ac[i], &pred[ci], c, blk, &nz) ||
				    b.p > seg_lim)
					return bits_used(&b, seg) > seg_len * 8 ? FW_ETRUNC : FW_EFORMAT;
				if (!nz) {
					/* DC only: what every reduced IDCT gives */
					uint8_t v = range_limit(lim, DESCALE((int64_t)blk[0], 3));

					switch (c->ss) {
					case 1:
						o[0] = v;
						break;
					case 2:
						o[0] = o[1] = o[pw] = o[pw + 1] = v;
						break;
					default:
						for (int y = 0; y < 4; y++)
							memset(o + (size_t)y * (size_t)pw, v, 4);
					}
				} else {
					/* clear what the IDCT reads, whole rows: no
					 * loop over what was set to mispredict */
					if (c->ss == 2) {
						idct_2x2(blk, nz, o, pw, lim);
						memset(blk, 0, 16 * sizeof blk[0]);
						memset(blk + 24, 0, 8 * sizeof blk[0]);
						memset(blk + 40, 0, 8 * sizeof blk[0]);
						memset(blk + 56, 0, 8 * sizeof blk[0]);
					} else {
						idct_4x4(blk, nz, o, pw, lim);
						memset(blk, 0, 64 * sizeof blk[0]);
					}
				}
			}
			for (int ci = 0; ci < f->nc; ci++)
				row[ci] += (size_t)(f->c[ci].h * f->c[ci].ss);
		}
	}
	if (bits_used(&b, seg) > seg_len * 8)
		return FW_ETRUNC;
	/* after the scan: stray RSTn and junk (as libjpeg, harmless), then EOI */
	while (marker >= 0xd0 && marker <= 0xd7)
		marker = next_marker(buf, len, &pos);
	if (marker < 0)
		return FW_ETRUNC;
	return marker == 0xd9 ? 0 : DECLINED; /* another scan or segment: TurboJPEG's */
}

/* --- colour --------------------------------------------------------------- */

/* Pixel x of a row: jdcolor.c's tables, one clamp table lookup each. */
static inline void rgb_px(const uint8_t *cl, int yy, int cr_r, int cg, int cb_b, uint8_t *o)
{
	o[0] = cl[yy + cr_r];
	o[1] = cl[yy + cg];
	o[2] = cl[yy + cb_b];
}

static void to_rgb(const struct fw_jpeg_small *s, const struct frame *f, int sw, int sh,
		   uint8_t *dst)
{
	const struct comp *Y = &f->c[0], *cb = &f->c[1], *cr = &f->c[2];
	const uint8_t *cl = s->clamp + CLAMP_OFF;

	for (int y = 0; y < sh; y++) {
		const uint8_t *yr = Y->plane + (size_t)y * (size_t)Y->pw;
		uint8_t *o = dst + (size_t)y * (size_t)sw * 3;
		const uint8_t *br, *rr;

		if (f->nc == 1) {
			for (int x = 0; x < sw; x++)
				o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = yr[x];
			continue;
		}
		br = cb->plane + (size_t)(y >> cb->vsh) * (size_t)cb->pw;
		rr = cr->plane + (size_t)(y >> cr->vsh) * (size_t)cr->pw;
		/* Cb and Cr share their sampling (both 1x1) */
		if (cb->hsh) {
			/* half-rate chroma: each colour term serves two pixels
			 * (libjpeg's merged h2v1 upsampling does the same) */
			for (int x = 0; x < sw; x += 2) {
				int u = br[x >> 1], v = rr[x >> 1];
				int r = s->crr[v], g = (s->cbg[u] + s->crg[v]) >> 16, b = s->cbb[u];

				rgb_px(cl, yr[x], r, g, b, o + 3 * x);
				if (x + 1 < sw)
					rgb_px(cl, yr[x + 1], r, g, b, o + 3 * x + 3);
			}
		} else {
			for (int x = 0; x < sw; x++) {
				int u = br[x], v = rr[x];

				rgb_px(cl, yr[x], s->crr[v], (s->cbg[u] + s->crg[v]) >> 16, s->cbb[u],
				       o + 3 * x);
			}
		}
	}
}

/* --- public --------------------------------------------------------------- */

int fw_jpeg_small_create(struct fw_jpeg_small **out)
{
	struct fw_jpeg_small *s = calloc(1, sizeof *s);

	*out = NULL;
	if (!s)
		return FW_ENOMEM;
	for (int t = 0; t < 2; t++)
		if (huff_build(&s->std_dc[t], std_dc_bits[t], std_dc_vals, 1) ||
		    huff_build(&s->std_ac[t], std_ac_bits[t], std_ac_vals[t], 0))
			goto fail;
	/* jdcolor.c's build_ycc_rgb_table: 16-bit fixed point, JFIF */
	for (int i = 0; i < 256; i++) {
		int x = i - 128;

		s->crr[i] = (int)((int64_t)(1.40200 * 65536 + 0.5) * x + 32768) >> 16;
		s->cbb[i] = (int)((int64_t)(1.77200 * 65536 + 0.5) * x + 32768) >> 16;
		s->crg[i] = -(int)(0.71414 * 65536 + 0.5) * x;
		s->cbg[i] = -(int)(0.34414 * 65536 + 0.5) * x + 32768;
	}
	for (int i = 0; i < 1024; i++) {
		int v = (i ^ 512) - 512 + 128;

		s->limit[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
	}
	for (int i = 0; i < 1024; i++)
		s->clamp[i] = (uint8_t)(i < CLAMP_OFF ? 0 : i > CLAMP_OFF + 255 ? 255 : i - CLAMP_OFF);
	*out = s;
	return 0;
fail:
	free(s);
	return FW_ENOMEM;
}

void fw_jpeg_small_destroy(struct fw_jpeg_small *s)
{
	if (!s)
		return;
	free(s->work);
	free(s->seg);
	free(s);
}

int fw_jpeg_small_decode(struct fw_jpeg_small *s, const uint8_t *buf, size_t len, int denom,
			 struct fw_image *dst, size_t cap)
{
	struct frame f;
	int min_ss, sw, sh, rc;
	size_t need = 0;

	/* 1/2 measured slower than TurboJPEG (1.6 vs 0.8 ms on 640x480 4:2:2):
	 * four times the pixels through a scalar 4x4 IDCT and colour
	 * conversion, where libjpeg-turbo's are SSE2/AVX2 */
	if (denom != 4 && denom != 8)
		return DECLINED;
	rc = parse_headers(s, buf, len, &f);
	if (rc)
		return rc;
	/* tables: DHT's, else the standard ones for ids 0 and 1 (as libjpeg) */
	for (int i = 0; i < f.nc; i++) {
		struct comp *c = &f.c[i];

		if (!f.dc[c->td] && c->td < 2)
			f.dc[c->td] = &s->std_dc[c->td];
		if (!f.ac[c->ta] && c->ta < 2)
			f.ac[c->ta] = &s->std_ac[c->ta];
		if (!f.dc[c->td] || !f.ac[c->ta] || !s->qdef[c->tq])
			return DECLINED;
		for (int k = 0; k < 64; k++)
			c->q[k] = s->qt[c->tq][k];
	}
	/* 3 components without JFIF named 'R' 'G' 'B': libjpeg decodes RGB */
	if (f.nc == 3 && !f.jfif && f.c[0].id == 'R' && f.c[1].id == 'G' && f.c[2].id == 'B')
		return DECLINED;
	sw = (f.w + denom - 1) / denom;
	sh = (f.h + denom - 1) / denom;
	if ((size_t)sw * 3 * (size_t)sh > cap)
		return FW_EINVAL;
	/* libjpeg's IDCT size per component (jdmaster.c): chroma gets a larger
	 * IDCT where that replaces upsampling (4:2:0), else replication */
	min_ss = 8 / denom;
	for (int i = 0; i < f.nc; i++) {
		struct comp *c = &f.c[i];
		int ss = min_ss, bw, bh;

		while (ss < 8 && (f.maxh * min_ss) % (c->h * ss * 2) == 0 &&
		       (f.maxv * min_ss) % (c->v * ss * 2) == 0)
			ss *= 2;
		if (ss > 4)
			return DECLINED; /* a full 8x8 IDCT: TurboJPEG's */
		c->ss = ss;
		c->hsh = f.maxh * min_ss / (c->h * ss) == 2;
		c->vsh = f.maxv * min_ss / (c->v * ss) == 2;
		bw = f.nc == 1 ? (f.w + 7) / 8 : (f.w + 8 * f.maxh - 1) / (8 * f.maxh) * c->h;
		bh = f.nc == 1 ? (f.h + 7) / 8 : (f.h + 8 * f.maxv - 1) / (8 * f.maxv) * c->v;
		c->pw = bw * ss;
		c->ph = bh * ss;
		for (int k = 0; k < 64; k++) {
			int r = zigzag[k] >> 3, col = zigzag[k] & 7;
			/* 2x2 reads rows/columns 0 1 3 5 7; 4x4 all but 4 */
			int kept = k > 0 && ss > 1 &&
				   (ss == 2 ? (r == 0 || r & 1) && (col == 0 || col & 1)
					    : r != 4 && col != 4);

			c->kpos[k] = kept ? zigzag[k] : 64;
			c->kq[k] = kept ? c->q[zigzag[k]] : 0;
			c->kbit[k] = kept ? (uint64_t)1 << zigzag[k] : 0;
		}
		need += (size_t)c->pw * (size_t)c->ph;
	}
	if (need > s->work_cap) {
		uint8_t *w = realloc(s->work, need);

		if (!w)
			return FW_ENOMEM;
		s->work = w;
		s->work_cap = need;
	}
	need = 0;
	for (int i = 0; i < f.nc; i++) {
		f.c[i].plane = s->work + need;
		need += (size_t)f.c[i].pw * (size_t)f.c[i].ph;
	}
	if (len - f.scan + SEG_PAD > s->seg_cap) {
		uint8_t *w = realloc(s->seg, len - f.scan + SEG_PAD);

		if (!w)
			return FW_ENOMEM;
		s->seg = w;
		s->seg_cap = len - f.scan + SEG_PAD;
	}
	rc = decode_scan(s->seg, s->limit, buf, len, &f);
	if (rc)
		return rc;
	to_rgb(s, &f, sw, sh, dst->data);
	dst->width = sw;
	dst->height = sh;
	dst->stride = sw * 3;
	return 0;
}
