/* Same/different decisions on the golden faces, and the photo path that
 * makes an embedding (similarity alignment + warp + MobileFaceNet) against
 * the reference's embeddings of the same faces. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "capture/imageio.h"
#include "core/embedder.h"
#include "testutil.h"

#define N_FACES 6
static const char *ids[N_FACES] = { "obama", "obama2", "obama3", "biden", "biden_biden2",
				    "rose_leslie_img1" };
static const char *person[N_FACES] = { "obama", "obama", "obama", "biden", "biden", "rose" };

static struct fw_embedder *open_embedder(void)
{
	struct fw_embedder *e = NULL;
	assert_int_equal(fw_embedder_open(&e, tu_models("mobilefacenet.fwm"), FW_KERNELS_FAST), 0);
	return e;
}

static json_t *golden(void)
{
	json_error_t err;
	json_t *j = json_load_file(tu_shared("models/golden/mobilefacenet.embeddings.json"), 0, &err);
	if (!j)
		fail_msg("embeddings.json: %s", err.text);
	return j;
}

/* Embeddings of the golden 112x112 aligned crops (PNG), as a user's
 * already-aligned photos would be. */
static void test_same_different_on_golden_crops(void **state)
{
	struct fw_embedder *e = open_embedder();
	float emb[N_FACES][FW_EMBED_DIM];
	json_t *g = golden(), *cos = json_object_get(g, "cosine_similarity");

	(void)state;
	for (int i = 0; i < N_FACES; i++) {
		char path[256];
		struct fw_image img;
		float x[112 * 112 * 3];

		snprintf(path, sizeof path, "models/golden/%s.aligned112.png", ids[i]);
		assert_int_equal(fw_imageio_load(tu_shared(path), &img), 0);
		assert_int_equal(img.width, 112);
		assert_int_equal(img.height, 112);
		for (int y = 0; y < 112; y++)
			for (int k = 0; k < 112 * 3; k++)
				x[y * 112 * 3 + k] = (img.data[y * img.stride + k] - 127.5f) / 128.0f;
		assert_int_equal(fw_embedder_run_input(e, x, emb[i], NULL), 0);
		fw_image_free(&img);
	}
	for (int i = 0; i < N_FACES; i++)
		for (int j = i + 1; j < N_FACES; j++) {
			float c = fw_embedding_cosine(emb[i], emb[j], FW_EMBED_DIM);
			double ref = json_real_value(json_object_get(json_object_get(cos, ids[i]), ids[j]));
			int same = !strcmp(person[i], person[j]);

			print_message("%s ~ %s: %.4f (reference %.4f) %s\n", ids[i], ids[j], c, ref,
				      same ? "same" : "different");
			assert_true(fabs(c - ref) < 2e-3);
			if (same)
				assert_true(c >= FW_EMBED_SAME_THRESHOLD);
			else
				assert_true(c < FW_EMBED_SAME_THRESHOLD);
		}
	json_decref(g);
	fw_embedder_close(e);
}

/* From the photo: our alignment + warp with the reference's landmarks gives
 * the reference's embedding (source photos present in the data only). */
static void test_photo_alignment_path(void **state)
{
	static const struct {
		const char *id, *photo;
	} faces[] = {
		{ "biden_biden2", "data/recognition/images/face_recognition_knn/train/biden/biden2.jpg" },
		{ "rose_leslie_img1", "data/recognition/images/face_recognition_knn/train/rose_leslie/img1.jpg" },
	};
	struct fw_embedder *e = open_embedder();
	json_t *g = golden(), *f;
	size_t i;

	(void)state;
	for (size_t k = 0; k < sizeof faces / sizeof faces[0]; k++) {
		json_array_foreach(json_object_get(g, "faces"), i, f)
		{
			float lm[5][2], emb[FW_EMBED_DIM], ref[FW_EMBED_DIM];
			struct fw_image img;
			json_t *l = json_object_get(f, "landmarks"), *r = json_object_get(f, "embedding_l2norm");

			if (strcmp(json_string_value(json_object_get(f, "id")), faces[k].id))
				continue;
			for (int p = 0; p < 5; p++) {
				lm[p][0] = (float)json_real_value(json_array_get(json_array_get(l, p), 0));
				lm[p][1] = (float)json_real_value(json_array_get(json_array_get(l, p), 1));
			}
			for (int d = 0; d < FW_EMBED_DIM; d++)
				ref[d] = (float)json_real_value(json_array_get(r, d));
			assert_int_equal(fw_imageio_load(tu_shared(faces[k].photo), &img), 0);
			assert_int_equal(fw_embedder_run(e, &img, (const float(*)[2])lm, emb, NULL), 0);
			float c = fw_embedding_cosine(emb, ref, FW_EMBED_DIM);
			print_message("%s from its photo: cosine to the reference embedding %.5f\n",
				      faces[k].id, c);
			/* the warp differs from OpenCV's by at most 1 grey level in a
			 * few pixels (test_image) */
			assert_true(c >= 0.999f);
			fw_image_free(&img);
		}
	}
	json_decref(g);
	fw_embedder_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_different_on_golden_crops),
		cmocka_unit_test(test_photo_alignment_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
