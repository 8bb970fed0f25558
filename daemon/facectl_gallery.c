/* facectl's gallery commands. They write the gallery file directly: no
 * daemon needs to run, and a running one picks the change up (it polls
 * the gallery's change counter, daemon/store.h).
 *
 *   facectl enroll NAME IMAGE... [--keep-crops]   add NAME's face from photos
 *   facectl not NAME IMAGE...       the face in IMAGE was wrongly taken for NAME
 *   facectl identify IMAGE...       who is the main face of each photo
 *   facectl list                    who is enrolled
 *   facectl forget NAME             remove NAME and all their templates
 *   facectl rename OLD NEW
 *   facectl export FILE|-           JSON without images (docs/gallery.md)
 *   facectl import FILE|-
 *   facectl doctor [--far F] [--json]   file check, score distributions,
 *                                   suggested threshold, look-alikes
 *   common: --gallery PATH, --models DIR, --kernels ref|fast, --threshold S
 *
 * Results are JSON on stdout, one object per line (doctor: a report, or
 * one object with --json); messages go to stderr. Exit status: 0 done,
 * 1 an input or the gallery failed (other inputs are still processed),
 * 2 the command line is wrong.
 *
 * Template quality: the detector's score times min(1, face width / 112 px):
 * a confident face at least as wide as the embedder's input scores ~1; a
 * small one, upscaled into the crop, less.
 */
#include "daemon/facectl_gallery.h"
#include "daemon/jsonout.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <turbojpeg.h>

#include "core/embedder.h"
#include "core/fw.h"
#include "core/gallery.h"
#include "core/quality.h"
#include "daemon/config.h"
#include "daemon/enroll.h"
#include "daemon/facectl_live.h"
#include "daemon/photo.h"
#include "daemon/store.h"

/* A runner-up face at most this fraction of the main face's area leaves
 * the main face clearly dominant (about 0.7x its width). */
#define DOMINANT_AREA_RATIO 0.5f
/* A similarity above every impostor pair of the development data (highest
 * 0.45) and at the genuine pairs' lower range (0.861 +- 0.064): a face this
 * close to NAME is probably NAME. */
#define SAME_PERSON_LIKELY 0.7f

struct gopts {
	const char *gallery, *models_dir;
	enum fw_kernel_tier tier;
	float threshold;
	double far;
	int keep_crops, json;
	char path[PATH_MAX];
	/* through the daemon (daemon/facectl_live.h) */
	const char *socket, *device;
	int camera, count, timeout_s, last;
	long track;
};

static const char *const commands[] = {
	"enroll", "not", "identify", "list", "forget", "rename", "export", "import", "doctor",
};

int fw_gallery_command(const char *cmd)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(cmd, commands[i]))
			return 1;
	return 0;
}

static void gallery_usage(FILE *f)
{
	fputs("usage: facectl enroll NAME IMAGE... [--keep-crops]\n"
	      "       facectl enroll NAME --camera [--count N] [--timeout S] [--socket PATH]\n"
	      "       facectl not NAME IMAGE...\n"
	      "       facectl not NAME --track ID | --last [--socket PATH]\n"
	      "       facectl identify IMAGE...\n"
	      "       facectl list\n"
	      "       facectl forget NAME\n"
	      "       facectl rename OLD NEW\n"
	      "       facectl export FILE|-\n"
	      "       facectl import FILE|-\n"
	      "       facectl doctor [--far F] [--json] [--socket PATH] [--device DEV]\n"
	      "\n"
	      "enroll: add the main face of each photo to NAME (created when new). A photo\n"
	      "  with no face, or with several faces none of which is clearly the main one,\n"
	      "  is refused with what to do. --keep-crops also stores the aligned 112x112\n"
	      "  face as JPEG (by default no image is kept).\n"
	      "enroll --camera: through the running daemon, N good views (default 5) of\n"
	      "  the one face in front of the camera within S seconds (default 20): big,\n"
	      "  sharp, lit, roughly frontal and each a little different; progress as it\n"
	      "  goes, or the reason it was refused (too dark, no face, two faces, ...).\n"
	      "not: the face in IMAGE was wrongly taken for NAME; it is kept as a negative\n"
	      "  example: a face much closer to it than to NAME's own photos is not NAME.\n"
	      "  --track ID (from facectl watch) or --last (the last face identified as\n"
	      "  NAME) takes the face from the running daemon instead of a photo.\n"
	      "identify: the enrolled identity of each photo's main face, or null.\n"
	      "export/import: the gallery as JSON without images (docs/gallery.md); import\n"
	      "  adds to the gallery and skips templates it already has.\n"
	      "doctor: checks the file, the genuine and impostor similarities among the\n"
	      "  enrolled templates, the threshold for a false-accept rate (--far, default\n"
	      "  0.001), identities too close to each other and templates that do not look\n"
	      "  like the rest of their identity; with a running daemon, also the camera:\n"
	      "  format, size, frame rate, brightness and face sizes, with advice; with no\n"
	      "  daemon (or with --device DEV: /dev/videoN or replay:FILE) it watches the\n"
	      "  camera itself for 4 s.\n"
	      "\n"
	      "options: --gallery PATH (default $STATE_DIRECTORY/gallery.db, else\n"
	      "  $XDG_STATE_HOME/facewatch/gallery.db, else ~/.local/state/facewatch/gallery.db),\n"
	      "  --models DIR, --kernels ref|fast, --threshold S (default 0.55),\n"
	      "  --config FILE (or $FACEWATCH_CONFIG): the daemon's configuration, whose\n"
	      "  threshold, gallery, socket and models apply unless given here, so facectl\n"
	      "  decides as the daemon does\n",
	      f);
}

/* A result is printed whole or not at all: out of memory while building
 * it, the command stops with a message (daemon/jsonout.h). */
static void print_json(json_t *j)
{
	if (fw_jsonout_print(j, JSON_COMPACT | JSON_REAL_PRECISION(6)))
		exit(1);
}

static json_t *rounded(double v)
{
	return isfinite(v) ? json_real(round(v * 1e4) / 1e4) : json_null();
}

static json_t *time_str(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return json_null();
	return json_string(buf);
}

static const char *gallery_path(struct gopts *o)
{
	if (o->gallery)
		return o->gallery;
	if (fw_store_default_path(o->path, sizeof o->path))
		return NULL;
	return o->path;
}

static int open_store(struct gopts *o, unsigned flags, struct fw_store **s)
{
	const char *path = gallery_path(o);

	*s = NULL;
	return path ? fw_store_open(s, path, flags) : FW_EINVAL;
}

/* The embedder's model id, or NULL (logged) when the model is not found. */
static const char *model_id(const struct gopts *o, char *buf, size_t len)
{
	char path[PATH_MAX + 32];

	snprintf(path, sizeof path, "%s/mobilefacenet.fwm", fw_photo_models_dir(o->models_dir));
	return fw_store_model_id(path, buf, len) ? NULL : buf;
}

static int check_name(const char *cmd, const char *name)
{
	if (!fw_store_name_valid(name))
		return 0;
	fprintf(stderr, "facectl %s: '%s' is not a usable name: 1 to %d bytes of UTF-8, no "
		"control characters or '/', not starting with '-' or a space\n", cmd, name,
		FW_GALLERY_NAME_MAX);
	return 2;
}

/* Load the gallery for `mid` and say who needs enrolling again. */
static int load(struct fw_store *s, const char *mid, float threshold, struct fw_gallery **g)
{
	struct fw_store_report r;
	int err = fw_store_load(s, mid, threshold, g, &r);

	if (err)
		return err;
	fw_store_report_log(s, &r);
	fw_store_report_free(&r);
	return 0;
}

/* ---- faces from photos ---- */

struct face {
	const char *path;
	int err;                /* 0, or why the photo was refused */
	struct fw_photo_face r;
	float quality;
	unsigned char *jpeg;    /* tjFree */
	unsigned long jpeg_len;
};

static float area(const struct fw_detection *d)
{
	return (d->x2 - d->x1) * (d->y2 - d->y1);
}

/* Several faces: the main one is taken only if it is clearly dominant,
 * by size. Not by the detector's score: a second face at 0.79 next to one
 * at 0.92 is a second person as much as the first (two_people.jpg of the
 * development data), so it would be a coin toss whose face is enrolled. */
static int dominant(const struct fw_photo_face *r)
{
	return r->n_faces < 2 || area(&r->second) <= DOMINANT_AREA_RATIO * area(&r->det);
}

static unsigned char *encode_jpeg(const struct fw_image *img, unsigned long *len)
{
	tjhandle tj = tjInitCompress();
	unsigned char *buf = NULL;

	*len = 0;
	if (!tj)
		return NULL;
	if (tjCompress2(tj, img->data, img->width, img->stride, img->height, TJPF_RGB, &buf, len,
			TJSAMP_444, 95, 0)) {
		tjFree(buf);
		buf = NULL;
		*len = 0;
	}
	tjDestroy(tj);
	return buf;
}

/* Embed the main face of `path` (whose photo it should be: `name`, for
 * messages). 0, or the reason it was refused (logged). */
static int face_from_photo(struct fw_photo *p, const char *name, const char *path, int keep_crop,
			   struct face *f)
{
	struct fw_image crop = { 0 };
	int err;

	memset(f, 0, sizeof *f);
	f->path = path;
	if (keep_crop && fw_image_alloc(&crop, FW_EMBED_SIZE, FW_EMBED_SIZE)) {
		fw_log(FW_LOG_ERROR, "%s: out of memory", path);
		return FW_ENOMEM;
	}
	err = fw_photo_embed_aligned(p, path, &f->r, keep_crop ? &crop : NULL);
	if (!err && !dominant(&f->r)) {
		fw_log(FW_LOG_ERROR, "%s: %d faces and none is clearly the main one (the two largest "
		       "are %.0f and %.0f pixels wide); crop the photo to %s's face, or use one "
		       "where %s is alone", path, f->r.n_faces, f->r.det.x2 - f->r.det.x1,
		       f->r.second.x2 - f->r.second.x1, name ? name : "the person", name ? name : "they are");
		err = FW_EINVAL;
	}
	if (err) {
		fw_image_free(&crop);
		return err;
	}
	/* the same formula for the camera (daemon/enroll.c) */
	f->quality = fw_quality_template(f->r.det.score, f->r.det.x2 - f->r.det.x1);
	if (keep_crop) {
		f->jpeg = encode_jpeg(&crop, &f->jpeg_len);
		fw_image_free(&crop);
		if (!f->jpeg) {
			fw_log(FW_LOG_ERROR, "%s: cannot encode the face crop", path);
			return FW_ENOMEM;
		}
	}
	return 0;
}

/* The JSON line of a refused photo: what went wrong and what to do. */
static void print_refusal(const struct face *f)
{
	json_t *j = json_object();

	json_object_set_new(j, "image", json_string(f->path));
	json_object_set_new(j, "ok", json_false());
	json_object_set_new(j, "faces_found", json_integer(f->r.n_faces));
	json_object_set_new(j, "error", json_string(
		f->err == FW_ENOFACE ? "no face found" :
		f->err == FW_EINVAL ? "several faces, none clearly the main one" : fw_strerror(f->err)));
	json_object_set_new(j, "hint", json_string(
		f->err == FW_ENOFACE ? "use a photo where the face is clear, frontal and at least "
				       "about 40 pixels wide" :
		f->err == FW_EINVAL ? "crop the photo to the one face, or use a photo where the "
				      "person is alone" :
				      "check that the file is a readable JPEG or PNG photo"));
	print_json(j);
	json_decref(j);
}

static struct fw_store_template template_of(const struct face *f, const char *mid, int negative)
{
	struct fw_store_template t = { 0 };
	memcpy(t.emb, f->r.emb, sizeof t.emb);
	t.model_id = mid;
	t.quality = f->quality;
	t.source = f->path;
	t.negative = negative;
	if (f->jpeg) {
		t.crop = f->jpeg;
		t.crop_len = f->jpeg_len;
		t.crop_format = "jpeg";
	}
	return t;
}

static int cmd_enroll(struct gopts *o, int argc, char **argv, int negative)
{
	const char *cmd = negative ? "not" : "enroll", *name;
	struct fw_photo *p = NULL;
	struct fw_store *s = NULL;
	struct fw_gallery *g = NULL;
	struct face *faces = NULL;
	struct fw_store_template *t = NULL;
	char mid[FW_STORE_MODEL_ID_MAX];
	int failed = 0, n = 0, added = 0, name_id = -1, err;

	if ((o->camera || o->track || o->last) && argc != 1) {
		fprintf(stderr, "facectl %s: %s takes a name and no photos\n", cmd,
			o->camera ? "--camera" : o->last ? "--last" : "--track");
		return 2;
	}
	if (argc < 2 && !o->camera && !o->track && !o->last) {
		fprintf(stderr, "facectl %s: give a name and at least one photo\n", cmd);
		return 2;
	}
	name = argv[0];
	if (check_name(cmd, name))
		return 2;
	if (o->camera)
		return fw_live_enroll(o->socket, name, o->count, o->timeout_s);
	if (o->track || o->last)
		return fw_live_not(o->socket, name, o->last ? 0 : o->track);
	argc--;
	argv++;
	if (!model_id(o, mid, sizeof mid) || fw_photo_open(&p, fw_photo_models_dir(o->models_dir), o->tier))
		return 1;
	/* the gallery first: `not` needs NAME to exist, and the warnings need
	 * the people already enrolled; a missing file is created by `enroll` */
	err = open_store(o, negative ? 0 : FW_STORE_CREATE, &s);
	if (!err)
		err = load(s, mid, o->threshold, &g);
	if (err)
		goto fail;
	for (int id = 0; id < fw_gallery_n_identities(g); id++)
		if (!strcmp(fw_gallery_name(g, id), name))
			name_id = id;
	if (negative) {
		if (name_id < 0) {
			fw_log(FW_LOG_ERROR, "%s: nobody called '%s' is enrolled (facectl list shows who is)",
			       fw_store_path(s), name);
			goto fail;
		}
	}
	faces = calloc((size_t)argc, sizeof *faces);
	t = calloc((size_t)argc, sizeof *t);
	if (!faces || !t) {
		fw_log(FW_LOG_ERROR, "out of memory");
		goto fail;
	}
	for (int i = 0; i < argc; i++) {
		int e = face_from_photo(p, negative ? NULL : name, argv[i], o->keep_crops && !negative,
					&faces[i]);
		faces[i].err = e;
		failed |= e != 0;
	}
	for (int i = 0; i < argc; i++) {
		struct fw_gallery_match m;
		json_t *j;

		if (faces[i].err) {
			print_refusal(&faces[i]);
			continue;
		}
		j = json_object();
		json_object_set_new(j, "image", json_string(faces[i].path));
		json_object_set_new(j, "ok", json_true());
		json_object_set_new(j, "faces_found", json_integer(faces[i].r.n_faces));
		json_object_set_new(j, "quality", rounded(faces[i].quality));
		if (!fw_gallery_match(g, faces[i].r.emb, &m) && m.identity >= 0) {
			json_t *was = json_object();
			json_object_set_new(was, "identity", m.accepted ? json_string(fw_gallery_name(g, m.identity))
									: json_null());
			json_object_set_new(was, "closest", json_string(fw_gallery_name(g, m.identity)));
			json_object_set_new(was, "similarity", rounded(m.similarity));
			json_object_set_new(j, "gallery_said", was);
			if (!negative && m.accepted && strcmp(fw_gallery_name(g, m.identity), name))
				fw_log(FW_LOG_WARN, "%s: this face looks like %s (similarity %.2f), who is "
				       "already enrolled; is the photo really of %s?", faces[i].path,
				       fw_gallery_name(g, m.identity), m.similarity, name);
		}
		if (negative) {
			/* a negative as close as NAME's own photos would veto NAME too */
			float own = fw_gallery_identity_similarity(g, faces[i].r.emb, name_id);
			json_object_set_new(j, "similarity_to_name", rounded(own));
			if (own >= SAME_PERSON_LIKELY)
				fw_log(FW_LOG_WARN, "%s: this face looks very much like %s's own photos "
				       "(similarity %.2f); if it is %s, they will sometimes not be "
				       "recognised (facectl forget %s and enrol again undoes it)",
				       faces[i].path, name, own, name, name);
		} else {
			/* unlike NAME's other photos, enrolled or given now: a wrong photo? */
			float best = fw_gallery_identity_similarity(g, faces[i].r.emb, name_id);
			int others = name_id >= 0 && fw_gallery_identity_templates(g, name_id) > 0;
			for (int k = 0; k < argc; k++)
				if (k != i && !faces[k].err) {
					best = fmaxf(best, fw_embedding_cosine(faces[i].r.emb, faces[k].r.emb,
									       FW_EMBED_DIM));
					others = 1;
				}
			if (others) {
				json_object_set_new(j, "similarity_to_others", rounded(best));
				if (best < o->threshold)
					fw_log(FW_LOG_WARN, "%s: this face does not look like %s's other photos "
					       "(best similarity %.2f, below %.2f); is it really %s?",
					       faces[i].path, name, best, o->threshold, name);
			}
		}
		print_json(j);
		json_decref(j);
		t[n++] = template_of(&faces[i], mid, negative);
	}
	if (n > 0) {
		err = fw_store_add(s, name, t, n, negative ? 0 : FW_STORE_ADD_CREATE, &added);
		if (err == -ENOENT)
			fw_log(FW_LOG_ERROR, "%s: '%s' was forgotten meanwhile; nothing added",
			       fw_store_path(s), name);
		if (err)
			goto fail;
	}
	{
		json_t *j = json_object();
		json_object_set_new(j, negative ? "not" : "identity", json_string(name));
		json_object_set_new(j, negative ? "negatives_added" : "templates_added", json_integer(added));
		json_object_set_new(j, "already_there", json_integer(n - added));
		json_object_set_new(j, "photos_refused", json_integer(argc - n));
		json_object_set_new(j, "model", json_string(mid));
		json_object_set_new(j, "gallery", json_string(fw_store_path(s)));
		print_json(j);
		json_decref(j);
	}
	goto out;
fail:
	failed = 1;
out:
	for (int i = 0; faces && i < argc; i++)
		tjFree(faces[i].jpeg);
	free(faces);
	free(t);
	fw_gallery_free(g);
	fw_store_close(s);
	fw_photo_close(p);
	return failed;
}

static json_t *match_json(struct fw_gallery *g, const struct fw_gallery_match *m)
{
	json_t *j = json_object();

	json_object_set_new(j, "identity", m->accepted ? json_string(fw_gallery_name(g, m->identity))
						       : json_null());
	json_object_set_new(j, "similarity", m->identity >= 0 ? rounded(m->similarity) : json_null());
	json_object_set_new(j, "closest", m->identity >= 0 ? json_string(fw_gallery_name(g, m->identity))
							   : json_null());
	json_object_set_new(j, "threshold", rounded(fw_gallery_threshold(g)));
	if (m->vetoed >= 0) {
		json_t *v = json_object();
		json_object_set_new(v, "identity", json_string(fw_gallery_name(g, m->vetoed)));
		json_object_set_new(v, "similarity", rounded(m->vetoed_similarity));
		json_object_set_new(v, "negative_similarity", rounded(m->vetoed_negative));
		json_object_set_new(j, "vetoed", v);
	}
	return j;
}

static int cmd_identify(struct gopts *o, int argc, char **argv)
{
	struct fw_photo *p = NULL;
	struct fw_store *s = NULL;
	struct fw_gallery *g = NULL;
	char mid[FW_STORE_MODEL_ID_MAX];
	int failed = 0;

	if (argc < 1) {
		fprintf(stderr, "facectl identify: give at least one photo\n");
		return 2;
	}
	if (!model_id(o, mid, sizeof mid) || open_store(o, 0, &s) || load(s, mid, o->threshold, &g) ||
	    fw_photo_open(&p, fw_photo_models_dir(o->models_dir), o->tier)) {
		failed = 1;
		goto out;
	}
	if (fw_gallery_n_templates(g) == 0)
		fw_log(FW_LOG_WARN, "%s: nobody is enrolled with this model; every face is unknown",
		       fw_store_path(s));
	for (int i = 0; i < argc; i++) {
		struct fw_photo_face r;
		struct fw_gallery_match m;
		json_t *j;

		if (fw_photo_embed(p, argv[i], &r)) {
			failed = 1;
			continue;
		}
		fw_gallery_match(g, r.emb, &m);
		j = match_json(g, &m);
		json_object_set_new(j, "image", json_string(argv[i]));
		json_object_set_new(j, "faces_found", json_integer(r.n_faces));
		print_json(j);
		json_decref(j);
	}
out:
	fw_photo_close(p);
	fw_gallery_free(g);
	fw_store_close(s);
	return failed;
}

static int cmd_list(struct gopts *o, int argc)
{
	struct fw_store *s = NULL;
	struct fw_store_identity *list = NULL;
	char buf[FW_STORE_MODEL_ID_MAX], path[PATH_MAX + 32];
	const char *mid = NULL;
	int n = 0;

	if (argc) {
		fprintf(stderr, "facectl list: takes no arguments\n");
		return 2;
	}
	/* the model is optional here: without it, list cannot say who needs
	 * enrolling again, but still lists */
	snprintf(path, sizeof path, "%s/mobilefacenet.fwm", fw_photo_models_dir(o->models_dir));
	if (access(path, R_OK) == 0)
		mid = model_id(o, buf, sizeof buf);
	if (open_store(o, 0, &s) || fw_store_list(s, mid, &list, &n)) {
		fw_store_close(s);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		json_t *j = json_object();
		json_object_set_new(j, "name", json_string(list[i].name));
		json_object_set_new(j, "templates", json_integer(list[i].templates));
		if (mid) {
			json_object_set_new(j, "current_model", json_integer(list[i].current));
			json_object_set_new(j, "needs_reenrolment",
					    json_boolean(list[i].templates > 0 && list[i].current == 0));
		}
		json_object_set_new(j, "negatives", json_integer(list[i].negatives));
		json_object_set_new(j, "crops", json_integer(list[i].crops));
		json_object_set_new(j, "created", time_str(list[i].created));
		json_object_set_new(j, "updated", time_str(list[i].updated));
		print_json(j);
		json_decref(j);
	}
	fw_store_list_free(list);
	fw_store_close(s);
	return 0;
}

static int cmd_forget(struct gopts *o, int argc, char **argv)
{
	struct fw_store *s = NULL;
	int err;

	if (argc != 1) {
		fprintf(stderr, "facectl forget: give one name\n");
		return 2;
	}
	if (open_store(o, 0, &s))
		return 1;
	err = fw_store_forget(s, argv[0]);
	if (err == -ENOENT)
		fw_log(FW_LOG_ERROR, "%s: nobody called '%s' is enrolled (facectl list shows who is)",
		       fw_store_path(s), argv[0]);
	if (!err) {
		json_t *j = json_object();
		json_object_set_new(j, "forgotten", json_string(argv[0]));
		print_json(j);
		json_decref(j);
	}
	fw_store_close(s);
	return err ? 1 : 0;
}

static int cmd_rename(struct gopts *o, int argc, char **argv)
{
	struct fw_store *s = NULL;
	int err;

	if (argc != 2) {
		fprintf(stderr, "facectl rename: give the old and the new name\n");
		return 2;
	}
	if (check_name("rename", argv[1]))
		return 2;
	if (open_store(o, 0, &s))
		return 1;
	err = fw_store_rename(s, argv[0], argv[1]);
	if (err == -ENOENT)
		fw_log(FW_LOG_ERROR, "%s: nobody called '%s' is enrolled (facectl list shows who is)",
		       fw_store_path(s), argv[0]);
	else if (err == -EEXIST)
		fw_log(FW_LOG_ERROR, "%s: '%s' is already enrolled; pick another name, or forget "
		       "that one first", fw_store_path(s), argv[1]);
	if (!err) {
		json_t *j = json_object();
		json_object_set_new(j, "renamed", json_string(argv[0]));
		json_object_set_new(j, "to", json_string(argv[1]));
		print_json(j);
		json_decref(j);
	}
	fw_store_close(s);
	return err ? 1 : 0;
}

static int cmd_export(struct gopts *o, int argc, char **argv)
{
	/* 9 significant digits: every float32 reads back bit for bit */
	const size_t flags = JSON_INDENT(1) | JSON_REAL_PRECISION(9);
	struct fw_store *s = NULL;
	json_t *doc = NULL;
	char tmp[PATH_MAX + 16];
	int failed = 1;

	if (argc != 1) {
		fprintf(stderr, "facectl export: give the output file (- for stdout)\n");
		return 2;
	}
	if (open_store(o, 0, &s) || fw_store_export(s, &doc))
		goto out;
	if (!strcmp(argv[0], "-")) {
		failed = json_dumpf(doc, stdout, flags) || fputc('\n', stdout) == EOF || fflush(stdout);
		goto out;
	}
	/* templates are biometric data: 0600, and written whole or not at all */
	snprintf(tmp, sizeof tmp, "%s.tmp", argv[0]);
	{
		mode_t old = umask(077);
		int bad = json_dump_file(doc, tmp, flags);
		umask(old);
		if (bad || rename(tmp, argv[0])) {
			fw_log(FW_LOG_ERROR, "%s: cannot write the export: %s", argv[0], strerror(errno));
			unlink(tmp);
			goto out;
		}
	}
	{
		json_t *j = json_object(), *ids = json_object_get(doc, "identities"), *id;
		size_t i, templates = 0, negatives = 0;
		json_array_foreach(ids, i, id) {
			templates += json_array_size(json_object_get(id, "templates"));
			negatives += json_array_size(json_object_get(id, "negatives"));
		}
		json_object_set_new(j, "exported", json_string(argv[0]));
		json_object_set_new(j, "identities", json_integer((json_int_t)json_array_size(ids)));
		json_object_set_new(j, "templates", json_integer((json_int_t)templates));
		json_object_set_new(j, "negatives", json_integer((json_int_t)negatives));
		print_json(j);
		json_decref(j);
	}
	failed = 0;
out:
	json_decref(doc);
	fw_store_close(s);
	return failed;
}

/* The whole of f into a malloc'd buffer (caller frees): 0 or -errno. */
static int read_all(FILE *f, char **buf, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *p = malloc(cap), *q;

	while (p) {
		n += fread(p + n, 1, cap - n, f);
		if (n < cap)
			break;
		q = cap <= SIZE_MAX / 2 ? realloc(p, cap * 2) : NULL;
		if (!q) {
			free(p);
			return -ENOMEM;
		}
		p = q;
		cap *= 2;
	}
	if (!p)
		return -ENOMEM;
	if (ferror(f)) {
		int err = errno ? -errno : -EIO;
		free(p);
		return err;
	}
	*buf = p;
	*len = n;
	return 0;
}

static int cmd_import(struct gopts *o, int argc, char **argv)
{
	struct fw_store_import_result r;
	struct fw_store *s = NULL;
	json_t *doc = NULL, *j;
	FILE *f;
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (argc != 1) {
		fprintf(stderr, "facectl import: give the file to import (- for stdin)\n");
		return 2;
	}
	f = !strcmp(argv[0], "-") ? stdin : fopen(argv[0], "rb");
	err = f ? read_all(f, &buf, &len) : -errno;
	if (f && f != stdin)
		fclose(f);
	if (err) {
		fw_log(FW_LOG_ERROR, "%s: cannot read: %s", argv[0], strerror(-err));
		return 1;
	}
	/* the whole document is checked before the gallery is even opened:
	 * a bad file creates no gallery */
	err = fw_store_import_parse(buf, len, argv[0], &doc);
	free(buf);
	if (err)
		return 1;
	err = open_store(o, FW_STORE_CREATE, &s);
	if (!err)
		err = fw_store_import(s, doc, argv[0], &r);
	if (!err) {
		j = json_object();
		json_object_set_new(j, "imported", json_string(argv[0]));
		json_object_set_new(j, "identities_created", json_integer(r.identities_created));
		json_object_set_new(j, "templates_added", json_integer(r.templates_added));
		json_object_set_new(j, "already_there", json_integer(r.duplicates));
		json_object_set_new(j, "gallery", json_string(fw_store_path(s)));
		print_json(j);
		json_decref(j);
	}
	json_decref(doc);
	fw_store_close(s);
	return err ? 1 : 0;
}

/* ---- doctor ---- */

static json_t *dist_json(const struct fw_gallery_dist *d)
{
	json_t *j = json_object();
	json_object_set_new(j, "pairs", json_integer((json_int_t)d->n));
	json_object_set_new(j, "mean", rounded(d->mean));
	json_object_set_new(j, "sd", rounded(d->sd));
	json_object_set_new(j, "min", rounded(d->min));
	json_object_set_new(j, "max", rounded(d->max));
	return j;
}

static void print_dist(const char *what, const struct fw_gallery_dist *d)
{
	if (!d->n) {
		printf("%-10s no pairs\n", what);
		return;
	}
	printf("%-10s %zu pairs: mean %.3f, sd %.3f, min %.3f, max %.3f\n", what, d->n, d->mean,
	       d->n > 1 ? d->sd : 0.0, d->min, d->max);
}

/* The camera part of doctor, from the running daemon: into j (--json), or
 * printed. Not a failure when no daemon runs: the gallery checks stand. */
static void doctor_camera(const struct gopts *o, json_t *j)
{
	char why[PATH_MAX + 256] = "", why2[PATH_MAX + 256] = "";
	const char *models = fw_photo_models_dir(o->models_dir);
	json_t *cam;

	/* --device: that camera, opened here; else the daemon's; with no daemon
	 * (and no --socket naming one), the first camera, opened here */
	if (o->device) {
		cam = fw_local_camera(o->device, models, 4, why, sizeof why);
	} else if (!(cam = fw_live_camera(o->socket, why, sizeof why)) && !o->socket) {
		cam = fw_local_camera(NULL, models, 4, why2, sizeof why2);
		if (!cam)
			snprintf(why + strlen(why), sizeof why - strlen(why), "; and %s", why2);
	}
	if (j && o->json) {
		json_object_set_new(j, "camera", cam ? cam : json_null());
		if (!cam)
			json_object_set_new(j, "camera_error", json_string(why));
		return;
	}
	if (cam)
		fw_live_print_camera(cam);
	else
		printf("camera     not checked: %s\n", why);
	json_decref(cam);
}

static int cmd_doctor(struct gopts *o, int argc)
{
	struct fw_store *s = NULL;
	struct fw_gallery *g = NULL;
	struct fw_store_report rep = { 0 };
	struct fw_gallery_doctor d = { 0 };
	struct stat st;
	char mid[FW_STORE_MODEL_ID_MAX];
	int intact, failed = 1, too_close = 0;
	json_t *j = NULL, *arr;

	if (argc) {
		fprintf(stderr, "facectl doctor: takes no arguments (options: --far F, --json)\n");
		return 2;
	}
	if (!model_id(o, mid, sizeof mid) || open_store(o, 0, &s))
		goto out;
	intact = fw_store_check(s) == 0;
	if (!intact || fw_store_load(s, mid, o->threshold, &g, &rep) ||
	    fw_gallery_doctor(g, o->far, &d))
		goto out;
	for (int i = 0; i < d.n_close; i++)
		too_close += d.close[i].similarity >= o->threshold;
	stat(fw_store_path(s), &st);

	j = json_object();
	json_object_set_new(j, "gallery", json_string(fw_store_path(s)));
	json_object_set_new(j, "integrity", json_string("ok"));
	json_object_set_new(j, "mode", json_sprintf("%04o", (unsigned)(st.st_mode & 07777)));
	json_object_set_new(j, "private", json_boolean(!(st.st_mode & 077)));
	json_object_set_new(j, "model", json_string(mid));
	json_object_set_new(j, "identities", json_integer(rep.identities));
	json_object_set_new(j, "templates", json_integer(rep.templates));
	json_object_set_new(j, "negatives", json_integer(rep.negatives));
	json_object_set_new(j, "other_model", json_integer(rep.other_model));
	arr = json_array();
	for (int i = 0; i < rep.n_stale; i++)
		json_array_append_new(arr, json_string(rep.stale[i]));
	json_object_set_new(j, "needs_reenrolment", arr);
	json_object_set_new(j, "templates_compared", json_integer(d.templates_used));
	json_object_set_new(j, "genuine", dist_json(&d.genuine));
	json_object_set_new(j, "impostor", dist_json(&d.impostor));
	json_object_set_new(j, "threshold", rounded(o->threshold));
	json_object_set_new(j, "false_rejects_at_threshold", rounded(d.frr_current));
	json_object_set_new(j, "false_accepts_at_threshold", rounded(d.far_current));
	json_object_set_new(j, "target_far", json_real(o->far));
	json_object_set_new(j, "threshold_empirical", rounded(d.threshold_empirical));
	json_object_set_new(j, "threshold_gaussian", rounded(d.threshold_gaussian));
	json_object_set_new(j, "suggested_threshold", rounded(d.threshold_suggested));
	json_object_set_new(j, "false_rejects_at_suggested", rounded(d.frr_suggested));
	arr = json_array();
	for (int i = 0; i < d.n_close; i++) {
		json_t *pj = json_object();
		json_object_set_new(pj, "a", json_string(fw_gallery_name(g, d.close[i].a)));
		json_object_set_new(pj, "b", json_string(fw_gallery_name(g, d.close[i].b)));
		json_object_set_new(pj, "similarity", rounded(d.close[i].similarity));
		json_object_set_new(pj, "too_close", json_boolean(d.close[i].similarity >= o->threshold));
		json_array_append_new(arr, pj);
	}
	json_object_set_new(j, "closest_identities", arr);
	arr = json_array();
	for (int i = 0; i < d.n_outliers; i++) {
		json_t *oj = json_object();
		char src[PATH_MAX] = "";
		fw_store_template_source(s, fw_gallery_template_tag(g, d.outliers[i].template_index), src,
					 sizeof src);
		json_object_set_new(oj, "identity", json_string(fw_gallery_name(g, d.outliers[i].identity)));
		json_object_set_new(oj, "source", json_string(src));
		json_object_set_new(oj, "best_same", rounded(d.outliers[i].best_same));
		json_array_append_new(arr, oj);
	}
	json_object_set_new(j, "outliers", arr);

	if (o->json) {
		doctor_camera(o, j);
		print_json(j);
		failed = 0;
		goto out;
	}
	printf("gallery    %s (mode %04o%s, integrity ok)\n", fw_store_path(s),
	       (unsigned)(st.st_mode & 07777), st.st_mode & 077 ? ": readable by others, chmod 600 it" : "");
	printf("model      %s\n", mid);
	printf("enrolled   %d identities, %d templates, %d negative examples", rep.identities,
	       rep.templates, rep.negatives);
	if (rep.other_model)
		printf(" (+%d of other models, not used)", rep.other_model);
	printf("\n");
	if (rep.n_stale) {
		printf("re-enrol   enrolled with another model only, not recognised:");
		for (int i = 0; i < rep.n_stale; i++)
			printf(" %s", rep.stale[i]);
		printf("\n           facectl enroll NAME PHOTO... for each\n");
	}
	if (d.templates_used < rep.templates)
		printf("sample     %d of %d templates compared\n", d.templates_used, rep.templates);
	print_dist("genuine", &d.genuine);
	print_dist("impostor", &d.impostor);
	if (d.impostor.n)
		printf("threshold  %.3f now: %.1f %% of genuine pairs below it (false rejects), "
		       "%.2f %% of impostor pairs at or above (false accepts)\n", o->threshold,
		       100 * (isnan(d.frr_current) ? 0 : d.frr_current), 100 * d.far_current);
	if (isnan(d.threshold_suggested)) {
		printf("suggested  none: %zu impostor pairs, %d needed; enrol more people (and more "
		       "photos each)\n", d.impostor.n, FW_GALLERY_DOCTOR_MIN_PAIRS);
	} else {
		printf("suggested  %.3f for a false-accept rate of %g among these people (empirical "
		       "%.3f, Gaussian fit %.3f%s); %.1f %% of genuine pairs below it\n",
		       d.threshold_suggested, o->far, d.threshold_empirical, d.threshold_gaussian,
		       (double)d.impostor.n * o->far < 10 ? ", which decides: too few pairs for the tail" : "",
		       100 * (isnan(d.frr_suggested) ? 0 : d.frr_suggested));
		if (d.threshold_suggested < FW_EMBED_SAME_THRESHOLD)
			printf("           below the model's %.2f: these people are well apart, but "
			       "strangers are not in the gallery; keep %.2f unless it rejects you\n",
			       FW_EMBED_SAME_THRESHOLD, FW_EMBED_SAME_THRESHOLD);
	}
	for (int i = 0; i < d.n_close && i < 5; i++)
		printf("%-10s %s ~ %s: %.3f%s\n", i ? "" : "closest", fw_gallery_name(g, d.close[i].a),
		       fw_gallery_name(g, d.close[i].b), d.close[i].similarity,
		       d.close[i].similarity >= o->threshold
			       ? "  TOO CLOSE: they will be taken for each other; enrol clearer photos of both"
			       : "");
	for (int i = 0; i < d.n_outliers; i++) {
		char src[PATH_MAX] = "";
		fw_store_template_source(s, fw_gallery_template_tag(g, d.outliers[i].template_index), src,
					 sizeof src);
		printf("%-10s %s: %s scores at most %.3f against %s's other photos: a wrong or poor "
		       "photo? (forget and enrol again without it)\n", i ? "" : "outlier",
		       fw_gallery_name(g, d.outliers[i].identity), *src ? src : "(no source)",
		       d.outliers[i].best_same, fw_gallery_name(g, d.outliers[i].identity));
	}
	if (!too_close && !d.n_outliers && !rep.n_stale)
		printf("verdict    no problems found in the gallery\n");
	doctor_camera(o, NULL);
	failed = 0;
out:
	if (failed && !j && !o->json)
		doctor_camera(o, NULL); /* the camera can be checked without a gallery */
	json_decref(j);
	fw_gallery_doctor_free(&d);
	fw_store_report_free(&rep);
	fw_gallery_free(g);
	fw_store_close(s);
	return failed;
}

int fw_cmd_gallery(int argc, char **argv)
{
	enum { OPT_GALLERY = 256, OPT_MODELS, OPT_KERNELS, OPT_THRESHOLD, OPT_FAR, OPT_KEEP, OPT_JSON,
	       OPT_SOCKET, OPT_CAMERA, OPT_COUNT, OPT_TIMEOUT, OPT_TRACK, OPT_LAST, OPT_DEVICE,
	       OPT_CONFIG };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "gallery", required_argument, NULL, OPT_GALLERY },
		{ "models", required_argument, NULL, OPT_MODELS },
		{ "kernels", required_argument, NULL, OPT_KERNELS },
		{ "threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "far", required_argument, NULL, OPT_FAR },
		{ "keep-crops", no_argument, NULL, OPT_KEEP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "camera", no_argument, NULL, OPT_CAMERA },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "track", required_argument, NULL, OPT_TRACK },
		{ "last", no_argument, NULL, OPT_LAST },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct gopts o = { .tier = FW_KERNELS_FAST, .threshold = FW_EMBED_SAME_THRESHOLD, .far = 1e-3,
			   .count = FW_ENROLL_DEFAULT_VIEWS, .timeout_s = FW_ENROLL_DEFAULT_TIMEOUT_S };
	static struct fw_config cfg; /* --config: its paths outlive this function's use */
	const char *config = getenv("FACEWATCH_CONFIG");
	int threshold_set = 0;
	long v;
	const char *cmd = argv[1];
	int c;

	optind = 2;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_GALLERY:
			o.gallery = optarg;
			break;
		case OPT_MODELS:
			o.models_dir = optarg;
			break;
		case OPT_KERNELS:
			if (fw_parse_kernels(optarg, &o.tier)) {
				fprintf(stderr, "facectl: --kernels takes ref or fast, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_THRESHOLD:
			o.threshold = strtof(optarg, &end);
			if (*end || !(o.threshold >= -1 && o.threshold <= 1)) {
				fprintf(stderr, "facectl: --threshold takes a similarity from -1 to 1, not '%s'\n",
					optarg);
				return 2;
			}
			threshold_set = 1;
			break;
		case OPT_FAR:
			o.far = strtod(optarg, &end);
			if (*end || !(o.far > 0 && o.far < 1)) {
				fprintf(stderr, "facectl: --far takes a rate between 0 and 1 (e.g. 0.001), not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_KEEP:
			o.keep_crops = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_SOCKET:
			o.socket = optarg;
			break;
		case OPT_CAMERA:
			o.camera = 1;
			break;
		case OPT_LAST:
			o.last = 1;
			break;
		case OPT_DEVICE:
			o.device = optarg;
			break;
		case OPT_COUNT:
		case OPT_TIMEOUT:
		case OPT_TRACK:
			v = strtol(optarg, &end, 10);
			if (*end || !*optarg || v < 1 ||
			    v > (c == OPT_COUNT ? FW_ENROLL_MAX_VIEWS : c == OPT_TIMEOUT ? FW_ENROLL_MAX_TIMEOUT_S : UINT32_MAX)) {
				fprintf(stderr, "facectl: --%s takes a whole number from 1 to %ld, not '%s'\n",
					c == OPT_COUNT ? "count" : c == OPT_TIMEOUT ? "timeout" : "track",
					c == OPT_COUNT ? (long)FW_ENROLL_MAX_VIEWS : c == OPT_TIMEOUT ? (long)FW_ENROLL_MAX_TIMEOUT_S
						       : (long)UINT32_MAX, optarg);
				return 2;
			}
			if (c == OPT_COUNT)
				o.count = (int)v;
			else if (c == OPT_TIMEOUT)
				o.timeout_s = (int)v;
			else
				o.track = v;
			break;
		case 'h':
			gallery_usage(stdout);
			return 0;
		default:
			gallery_usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (config && *config) {
		/* the daemon's own file: the same threshold, gallery, socket and
		 * models as the daemon, unless given here */
		fw_config_defaults(&cfg);
		if (fw_config_load(&cfg, config)) {
			fprintf(stderr, "facectl %s: cannot use the configuration %s (the message above "
				"says why); fix it, or leave out --config / FACEWATCH_CONFIG\n", cmd, config);
			return 2;
		}
		if (!threshold_set)
			o.threshold = cfg.threshold;
		if (!o.gallery && cfg.gallery[0])
			o.gallery = cfg.gallery;
		if (!o.socket && cfg.socket_path[0])
			o.socket = cfg.socket_path;
		if (!o.models_dir && cfg.models[0])
			o.models_dir = cfg.models;
	}
	if (o.keep_crops && (strcmp(cmd, "enroll") || o.camera)) {
		fprintf(stderr, "facectl %s: --keep-crops is for enroll from photos only\n", cmd);
		return 2;
	}
	if (o.camera && strcmp(cmd, "enroll")) {
		fprintf(stderr, "facectl %s: --camera is for enroll only\n", cmd);
		return 2;
	}
	if ((o.track || o.last) && strcmp(cmd, "not")) {
		fprintf(stderr, "facectl %s: --track and --last are for not only\n", cmd);
		return 2;
	}
	if (o.track && o.last) {
		fprintf(stderr, "facectl not: give --track ID or --last, not both\n");
		return 2;
	}
	if (!strcmp(cmd, "enroll"))
		return cmd_enroll(&o, argc, argv, 0);
	if (!strcmp(cmd, "not"))
		return cmd_enroll(&o, argc, argv, 1);
	if (!strcmp(cmd, "identify"))
		return cmd_identify(&o, argc, argv);
	if (!strcmp(cmd, "list"))
		return cmd_list(&o, argc);
	if (!strcmp(cmd, "forget"))
		return cmd_forget(&o, argc, argv);
	if (!strcmp(cmd, "rename"))
		return cmd_rename(&o, argc, argv);
	if (!strcmp(cmd, "export"))
		return cmd_export(&o, argc, argv);
	if (!strcmp(cmd, "import"))
		return cmd_import(&o, argc, argv);
	if (!strcmp(cmd, "doctor"))
		return cmd_doctor(&o, argc);
	gallery_usage(stderr);
	return 2;
}
