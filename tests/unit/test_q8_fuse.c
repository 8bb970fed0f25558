/* The int8 ops between the convolutions: add_cpad (a channel PAD fused into
 * the ADD), the SIMD add, the 2x2 max pool fast path, the quantisation at
 * the int8 region's input, and the fusion planned at load.
 *
 *  - add_cpad of every tier this CPU runs equals fw_q8_pad (filling b's
 *    zero point) followed by the reference add, byte for byte, on awkward
 *    sizes: channel counts around the 16/64-lane widths and the kernels'
 *    4096-byte block, b with 0 channels or all of them, one pixel, blocks
 *    with a remainder; 64 guard bytes after the output catch overruns;
 *  - add of every tier against the reference around its 64-lane width;
 *  - fw_q8_resize_bilinear with every tier's row kernel equals dequantise,
 *    fw_resize_bilinear_f32, quantise (up, down, odd ratios, all modes);
 *  - fw_q8_maxpool's 2x2 stride-2 path against a plain loop written here;
 *  - fw_q8_quantize on NaN, infinities, the clamps and ties to even, and
 *    every tier's quantize / dequantize against the plain C ones;
 *  - the real models in models/ loaded int8 with fusion and with
 *    `no_fuse`, on every tier: the fused plan really fuses (BlazeFace's
 *    channel pads) and gives exactly the unfused outputs.
 * Under valgrind AVX-512 is hidden and its cases are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels/kernels.h"
#include "core/kernels/q8.h"
#include "core/model.h"
#include "core/model_format.h"
#include "q8check.h"
#include "testutil.h"


static struct fw_q8_add rand_add(void)
{
	const float sy = tu_randf(0.005f, 0.05f) * (tu_randi(0, 3) == 0 ? 0.1f : 1.0f);
	const float sa = tu_randf(0.005f, 0.05f), sb = tu_randf(0.005f, 0.05f);
	const int32_t za = tu_randi(0, 255), zb = tu_randi(0, 255), zy = tu_randi(0, 255);
	struct fw_q8_add p;

	fw_q8_add_prepare(&p, sa, sb, sy, za, zb, zy, tu_randi(0, 1) ? FW_ACT_RELU : FW_ACT_NONE);
	return p;
}

/* ---- add_cpad = pad then add --------------------------------------------- */

static void cpad_case(const struct fw_q8_kernels *k, size_t pixels, int c, int cb)
{
	const struct fw_q8_kernels *ref = fw_q8_kernels_for(FW_ISA_REF);
	const size_t n = pixels * (size_t)c;
	const struct fw_q8_add p = rand_add();
	const int dims[4] = {1, 1, (int)pixels, cb}, pad[8] = {0, 0, 0, 0, 0, 0, 0, c - cb};
	uint8_t *a = tu_rand_u8(n), *b = tu_rand_u8(pixels * (size_t)cb), *padded = tu_xmalloc(n);
	uint8_t *want = tu_xmalloc(n), *got;
	char what[120];

	fw_q8_pad(dims, pad, b, (uint8_t)p.zb, padded);
	ref->add(a, padded, n, &p, want);
	got = tq8_out_buf(want, n);
	k->add_cpad(a, b, pixels, c, cb, &p, got);
	snprintf(what, sizeof what, "add_cpad %zu px, c %d, cb %d, act %d", pixels, c, cb, p.act);
	tq8_assert_bytes(want, got, n, (size_t)c, k->name, what);
	free(a), free(b), free(padded), free(want), free(got);
}

static void test_add_cpad_is_pad_then_add(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	static const int chans[] = {1, 3, 15, 16, 17, 24, 28, 42, 63, 64, 65, 96, 127, 128, 200, 384};

	if (!k->add_cpad) {
		print_message("[   INFO   ] %s has no add_cpad: the planner keeps the PAD\n", k->name);
		skip();
	}
	tu_srand(4242);
	for (int i = 0; i < 300; i++) {
		const int c = chans[tu_randi(0, (int)(sizeof chans / sizeof chans[0]) - 1)];
		const int cb = tu_randi(0, 4) == 0 ? (tu_randi(0, 1) ? 0 : c) : tu_randi(0, c);
		const size_t pixels = (size_t)(i % 7 == 0 ? tu_randi(300, 700) : tu_randi(1, 40));

		cpad_case(k, pixels, c, cb);
	}
	/* the real shapes: 64x64 BlazeFace short's first pad (several blocks) */
	cpad_case(k, 64 * 64, 28, 24);
	cpad_case(k, 12 * 12, 256, 192);
	/* pixels wider than the kernels' 4096-byte block */
	cpad_case(k, 3, 4097, 4000);
	cpad_case(k, 2, 9000, 4200);
	cpad_case(k, 2, 5000, 0);
}

/* ---- add around the SIMD widths ------------------------------------------ */

static void test_add_widths(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state), *ref = fw_q8_kernels_for(FW_ISA_REF);

	tu_srand(31337);
	for (size_t n = 1; n <= 300; n++) {
		const size_t len = n <= 200 ? n : (size_t)tu_randi(1000, 70000);
		struct fw_q8_add p = rand_add();

		if (n % 3 == 0)
			p.zy = 0; /* ReLU outputs: the SIMD adds leave the max to the packs */
		uint8_t *a = tu_rand_u8(len), *b = tu_rand_u8(len), *want = tu_xmalloc(len), *got;
		char what[80];

		ref->add(a, b, len, &p, want);
		got = tq8_out_buf(want, len);
		k->add(a, b, len, &p, got);
		snprintf(what, sizeof what, "add n %zu act %d", len, p.act);
		tq8_assert_bytes(want, got, len, 1, k->name, what);
		free(a), free(b), free(want), free(got);
	}
}

/* every (a, b) pair once, at zero points and scales that reach both clamps */
static void test_add_all_pairs(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state), *ref = fw_q8_kernels_for(FW_ISA_REF);
	const size_t n = 256 * 256;
	uint8_t *a = tu_xmalloc(n), *b = tu_xmalloc(n), *want = tu_xmalloc(n), *got;
	/* sa, sb, sy, za, zb, zy, act: through fw_q8_add_prepare */
	static const struct {
		float sa, sb, sy;
		int32_t za, zb, zy;
		int act;
	} ps[] = {
		{0.02f, 0.05f, 0.03f, 0, 177, 0, FW_ACT_RELU},
		{0.1f, 0.1f, 0.02f, 128, 128, 128, FW_ACT_NONE},
		/* exact halves: (a - za) * 0.5 + (b - zb) * 0.25 at scale 1 ties often */
		{0.5f, 0.25f, 1.0f, 3, 250, 100, FW_ACT_NONE},
		{0.25f, 0.5f, 1.0f, 3, 250, 0, FW_ACT_RELU},
		/* ratios past 2^22: shift 0, multipliers capped, t near 2^31, the
		 * 16-bit packs saturate */
		{0.05f, 0.05f, 1e-9f, 128, 100, 7, FW_ACT_RELU},
		{0.05f, 0.05f, 1e-9f, 128, 100, 0, FW_ACT_RELU},
		{0.05f, 0.05f, 1e-9f, 128, 100, 0, FW_ACT_NONE},
		{0.05f, 0.05f, 1e-9f, 128, 100, 255, FW_ACT_NONE},
		{1e6f, 0.05f, 1.0f, 0, 255, 255, FW_ACT_RELU},
		/* ratios over 128: shifts below 15, the kernels' other path */
		{200.0f, 3.0f, 1.0f, 10, 250, 128, FW_ACT_NONE},
		{200.0f, 3.0f, 1.0f, 10, 250, 128, FW_ACT_RELU},
		{129.0f, 0.5f, 1.0f, 128, 0, 0, FW_ACT_RELU},
		{127.0f, 0.5f, 1.0f, 128, 0, 0, FW_ACT_RELU},
		/* tiny ratios: shift 30, c near 2^29 */
		{1e-9f, 1e-9f, 1.0f, 255, 255, 200, FW_ACT_NONE},
		{3e-5f, 1e-5f, 1.0f, 0, 0, 0, FW_ACT_RELU},
		/* non-finite and non-positive scales (a broken calibration): multiplier 0 */
		{0.05f, 0.05f, 0.0f, 128, 100, 0, FW_ACT_RELU},
		{NAN, 0.05f, 0.05f, 128, 100, 0, FW_ACT_RELU},
		{0.05f, INFINITY, 0.05f, 128, 100, 9, FW_ACT_NONE},
		{-0.05f, 0.05f, 0.05f, 128, 100, 9, FW_ACT_RELU},
	};

	for (size_t i = 0; i < n; i++)
		a[i] = (uint8_t)(i >> 8), b[i] = (uint8_t)i;
	for (size_t t = 0; t < sizeof ps / sizeof ps[0]; t++) {
		struct fw_q8_add p;

		fw_q8_add_prepare(&p, ps[t].sa, ps[t].sb, ps[t].sy, ps[t].za, ps[t].zb, ps[t].zy, ps[t].act);
		ref->add(a, b, n, &p, want);
		got = tq8_out_buf(want, n);
		k->add(a, b, n, &p, got);
		tq8_assert_bytes(want, got, n, 256, k->name, "add, every (a, b) pair");
		free(got);
	}
	free(a), free(b), free(want);
}

/* ---- max pool ------------------------------------------------------------- */

static void test_maxpool_2x2_fast_path(void **state)
{
	(void)state;
	tu_srand(2024);
	for (int i = 0; i < 200; i++) {
		const int c = tu_randi(0, 3) == 0 ? tu_randi(1, 15) : tu_randi(16, 150);
		const int in_h = tu_randi(2, 20), in_w = tu_randi(2, 20), pad_b = tu_randi(0, 1), pad_r = tu_randi(0, 1);
		struct fw_conv_geom g = {.in_h = in_h, .in_w = in_w, .in_c = c, .out_c = c,
					 .out_h = (in_h + pad_b - 2) / 2 + 1, .out_w = (in_w + pad_r - 2) / 2 + 1,
					 .k_h = 2, .k_w = 2, .stride_h = 2, .stride_w = 2, .dil_h = 1, .dil_w = 1};
		const size_t n_in = (size_t)in_h * in_w * c, n_out = (size_t)g.out_h * g.out_w * c;
		uint8_t *in = tu_rand_u8(n_in), *want = tu_xmalloc(n_out), *got;
		char what[80];

		/* the max of the window's cells inside the input */
		for (int oy = 0; oy < g.out_h; oy++)
			for (int ox = 0; ox < g.out_w; ox++)
				for (int ch = 0; ch < c; ch++) {
					int mx = 0;

					for (int y = 2 * oy; y < 2 * oy + 2 && y < in_h; y++)
						for (int x = 2 * ox; x < 2 * ox + 2 && x < in_w; x++)
							if (in[((size_t)y * in_w + x) * c + ch] > mx)
								mx = in[((size_t)y * in_w + x) * c + ch];
					want[((size_t)oy * g.out_w + ox) * c + ch] = (uint8_t)mx;
				}
		got = tq8_out_buf(want, n_out);
		fw_q8_maxpool(&g, in, got);
		snprintf(what, sizeof what, "maxpool %dx%dx%d pad_b %d pad_r %d", in_h, in_w, c, pad_b, pad_r);
		tq8_assert_bytes(want, got, n_out, (size_t)c, "fw_q8_maxpool", what);
		free(in), free(want), free(got);
	}
}

/* ---- resize on u8 = dequantise, float resize, quantise -------------------- */

static void test_resize_u8_is_float_path(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	static const int chans[] = {1, 3, 15, 16, 17, 48, 64, 70, 96};

	tu_srand(1717);
	for (int i = 0; i < 120; i++) {
		const int c = chans[tu_randi(0, (int)(sizeof chans / sizeof chans[0]) - 1)];
		const int in_h = tu_randi(1, 13), in_w = tu_randi(1, 13);
		const int out_h = i % 3 == 0 ? 2 * in_h : tu_randi(1, 27), out_w = i % 3 == 0 ? 2 * in_w : tu_randi(1, 27);
		const int mode = tu_randi(0, 2), half_pixel = mode == 1, align_corners = mode == 2;
		const float s_in = tu_randf(0.01f, 0.2f), s_out = s_in * tu_randf(0.5f, 2.0f);
		const int32_t z_in = tu_randi(0, 255), z_out = tu_randi(0, 255);
		const size_t n_in = (size_t)in_h * in_w * c, n_out = (size_t)out_h * out_w * c;
		uint8_t *in = tu_rand_u8(n_in), *want = tu_xmalloc(n_out), *got;
		float *f_in = tu_xmalloc(n_in * sizeof(float)), *f_out = tu_xmalloc(n_out * sizeof(float));
		void *scratch = NULL;
		char what[120];

		fw_q8_dequantize(in, n_in, s_in, z_in, f_in);
		fw_resize_bilinear_f32(in_h, in_w, c, f_in, out_h, out_w, f_out, half_pixel, align_corners);
		fw_q8_quantize(f_out, n_out, 1.0f / s_out, z_out, want);
		assert_int_equal(posix_memalign(&scratch, 64, fw_q8_resize_bilinear_scratch(in_h, in_w, c, out_w)), 0);
		got = tq8_out_buf(want, n_out);
		fw_q8_resize_bilinear(k, in_h, in_w, c, in, s_in, z_in, out_h, out_w, got, 1.0f / s_out, z_out,
				      half_pixel, align_corners, scratch);
		snprintf(what, sizeof what, "resize %dx%dx%d -> %dx%d half_pixel %d align_corners %d",
			 in_h, in_w, c, out_h, out_w, half_pixel, align_corners);
		tq8_assert_bytes(want, got, n_out, (size_t)c, k->name, what);
		free(in), free(want), free(got), free(f_in), free(f_out), free(scratch);
	}
}

/* ---- quantise -------------------------------------------------------------- */

static void test_quantize_edges(void **state)
{
	(void)state;
	/* inv_s 1: nearest, ties to even, then + z, clamped to 0..255; NaN is
	 * 255 (q8.h's clamp of NaN to +512), infinities clamp */
	const float x[] = {NAN, INFINITY, -INFINITY, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f,
			   254.5f, 255.5f, -0.4999f, 1e9f, -1e9f, 127.49f, -127.5f};
	for (int z = 0; z <= 255; z++) {
		uint8_t q[sizeof x / sizeof x[0]];

		fw_q8_quantize(x, sizeof x / sizeof x[0], 1.0f, z, q);
		for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
			float v = x[i];
			long r;

			v = v < 512.0f ? v : 512.0f;
			v = v > -512.0f ? v : -512.0f;
			r = lrintf(v) + z;
			r = r < 0 ? 0 : r > 255 ? 255 : r;
			if (q[i] != r)
				fail_msg("x %g z %d: got %d, want %ld", x[i], z, q[i], r);
		}
	}
}

/* every tier's quantize / dequantize against the plain C ones */
static void test_tier_conversions(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	static const float special[] = {NAN, INFINITY, -INFINITY, 0.5f, 1.5f, -2.5f, 1e9f, -1e9f, -0.0f};

	if (!k->quantize && !k->dequantize) {
		print_message("[   INFO   ] %s uses the plain C conversions\n", k->name);
		skip();
	}
	tu_srand(99);
	for (int t = 0; t < 300; t++) {
		const size_t n = (size_t)(t < 200 ? t + 1 : tu_randi(1000, 60000));
		const float inv = t % 5 == 0 ? 1.0f : 1.0f / tu_randf(0.001f, 0.2f);
		const int32_t z = tu_randi(0, 255);
		float *x = tu_xmalloc(n * sizeof(float)), *want_f = tu_xmalloc(n * sizeof(float));
		float *got_f = tu_xmalloc(n * sizeof(float) + TQ8_GUARD);
		uint8_t *q = tu_rand_u8(n), *want = tu_xmalloc(n), *got;
		char what[80];

		for (size_t i = 0; i < n; i++) {
			const int r = tu_randi(0, 9);

			/* exact ties after scaling, specials, and plain values past both clamps */
			x[i] = r == 0 ? ((float)tu_randi(-300, 300) + 0.5f) / inv
			     : r == 1 ? special[tu_randi(0, (int)(sizeof special / sizeof special[0]) - 1)]
				      : tu_randf(-400.0f, 400.0f) / inv;
		}
		if (k->quantize) {
			fw_q8_quantize(x, n, inv, z, want);
			got = tq8_out_buf(want, n);
			k->quantize(x, n, inv, z, got);
			snprintf(what, sizeof what, "quantize n %zu z %d", n, z);
			tq8_assert_bytes(want, got, n, 1, k->name, what);
			free(got);
		}
		if (k->dequantize) {
			fw_q8_dequantize(q, n, 1.0f / inv, z, want_f);
			memset(got_f, 0xA5, n * sizeof(float) + TQ8_GUARD);
			k->dequantize(q, n, 1.0f / inv, z, got_f);
			assert_memory_equal(want_f, got_f, n * sizeof(float));
			for (size_t i = 0; i < TQ8_GUARD; i++)
				assert_int_equal(((uint8_t *)(got_f + n))[i], 0xA5);
		}
		free(x), free(want_f), free(got_f), free(q), free(want);
	}
}

/* ---- the fused plan on the real models ------------------------------------ */

static struct fw_model *load_int8(const char *file, const struct fw_q8_kernels *k, int no_fuse)
{
	struct fw_model_options opt = {.tier = FW_KERNELS_FAST, .precision = FW_PRECISION_INT8,
				       .q8_kernels = k, .no_fuse = no_fuse};
	struct fw_model *m = NULL;
	struct fw_shape s;
	float *x;

	assert_int_equal(fw_model_load(tu_models(file), &opt, &m), 0);
	assert_int_equal(fw_model_precision(m), FW_PRECISION_INT8);
	x = fw_model_input(m, &s);
	tu_srand(7);
	for (size_t i = 0; i < (size_t)s.h * s.w * s.c; i++)
		x[i] = tu_randf(-1.0f, 1.0f);
	assert_int_equal(fw_model_run(m), 0);
	return m;
}

static void test_fused_model_equals_unfused(void **state)
{
	const struct fw_q8_kernels *k = tq8_tier(state);
	static const struct {
		const char *file;
		int pads;    /* channel PADs in the file, each read by one ADD */
		int resizes; /* float RESIZEs between u8 tensors */
	} models[] = {{"blazeface_short.fwm", 11, 0}, {"blazeface_full.fwm", 8, 3}, {"mobilefacenet.fwm", 0, 0}};

	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		struct fw_model *f = load_int8(models[i].file, k, 0), *u = load_int8(models[i].file, k, 1);

		print_message("[   INFO   ] %s %s: %d ops fused, arena %zu -> %zu bytes\n", k->name,
			      models[i].file, fw_model_fused_ops(f), fw_model_arena_bytes(u),
			      fw_model_arena_bytes(f));
		assert_int_equal(fw_model_fused_ops(u), 0);
		assert_int_equal(fw_model_fused_ops(f), (k->add_cpad ? models[i].pads : 0) + models[i].resizes);
		assert_int_equal(fw_model_int8_ops(f), fw_model_int8_ops(u) + models[i].resizes);
		assert_int_equal(fw_model_n_outputs(f), fw_model_n_outputs(u));
		for (int o = 0; o < fw_model_n_outputs(f); o++) {
			struct fw_shape s;
			const float *a = fw_model_output(f, o, &s), *b = fw_model_output(u, o, NULL);

			assert_memory_equal(a, b, sizeof(float) * (size_t)s.n * s.h * s.w * s.c);
		}
		fw_model_free(f);
		fw_model_free(u);
	}
}

static const enum fw_isa isa_ref = FW_ISA_REF, isa_avx2 = FW_ISA_AVX2, isa_avx512 = FW_ISA_AVX512,
			 isa_neon = FW_ISA_NEON, isa_neondot = FW_ISA_NEON_DOT, isa_amx = FW_ISA_AMX;

#define PER_TIER(f)                                                                                  \
	cmocka_unit_test_prestate(f, (void *)&isa_ref), cmocka_unit_test_prestate(f, (void *)&isa_avx2), \
		cmocka_unit_test_prestate(f, (void *)&isa_avx512),                                      \
		cmocka_unit_test_prestate(f, (void *)&isa_neon),                                        \
		cmocka_unit_test_prestate(f, (void *)&isa_neondot), cmocka_unit_test_prestate(f, (void *)&isa_amx)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PER_TIER(test_add_cpad_is_pad_then_add),
		PER_TIER(test_add_widths),
		PER_TIER(test_add_all_pairs),
		PER_TIER(test_resize_u8_is_float_path),
		cmocka_unit_test(test_maxpool_2x2_fast_path),
		cmocka_unit_test(test_quantize_edges),
		PER_TIER(test_tier_conversions),
		PER_TIER(test_fused_model_equals_unfused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
