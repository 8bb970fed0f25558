/* The gallery file: who is enrolled, as SQLite in WAL mode.
 *
 * Where: --gallery PATH, else $STATE_DIRECTORY/gallery.db (systemd's
 * StateDirectory=; the first of several), else
 * $XDG_STATE_HOME/facewatch/gallery.db, else
 * ~/.local/state/facewatch/gallery.db (fw_store_default_path()). The file is
 * created 0600 in a 0700 directory; SQLite gives its -wal and -shm files the
 * same mode.
 *
 * Schema (version FW_STORE_SCHEMA; PRAGMA user_version; PRAGMA
 * application_id = FW_STORE_APP_ID marks the file as ours):
 *
 *   identities(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
 *              created INTEGER NOT NULL)                  -- unix seconds
 *   templates(id INTEGER PRIMARY KEY,
 *             identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
 *             embedding BLOB NOT NULL,   -- FW_EMBED_DIM float32, little-endian
 *             model_id TEXT NOT NULL,    -- fw_store_model_id() of the embedder
 *             quality REAL NOT NULL,     -- 0..1, see facectl_gallery.c
 *             created INTEGER NOT NULL,  -- unix seconds
 *             source TEXT,               -- where it came from (file name), or NULL
 *             negative INTEGER NOT NULL DEFAULT 0)   -- v2: 1 = `facectl not`
 *   crops(template_id INTEGER PRIMARY KEY REFERENCES templates(id) ON DELETE CASCADE,
 *         format TEXT NOT NULL, data BLOB NOT NULL)   -- v2: only with --keep-crops
 *   meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) -- v2: 'generation'
 *
 * Version 1 had identities and templates without `negative`; migrations run
 * in one transaction when a file is opened, oldest first. A newer version
 * than this code knows is refused (FW_EVERSION). Images are never stored
 * unless asked: crops holds the aligned 112x112 face (JPEG) only for
 * templates enrolled with --keep-crops.
 *
 * Every change is one transaction (BEGIN IMMEDIATE ... COMMIT, synchronous
 * FULL): a process killed at any moment leaves the previous gallery, or the
 * whole change, never half. Several processes may write at once (the
 * daemon and `facectl enroll`): a writer waits up to busy_timeout for the
 * lock and retries a transaction that still finds it busy.
 *
 * Every change also adds 1 to meta.generation, in the same transaction:
 * fw_store_generation() is the cheap "has it changed?" the daemon polls.
 *
 * How the daemon uses it:
 *   1. at start: fw_store_open(); fw_store_model_id(embedder file) ->
 *      fw_store_load(model id) -> a struct fw_gallery for the inference
 *      thread; log report.stale (identities to re-enrol after a model
 *      change). An error (damaged file: FW_EFORMAT, message already logged
 *      naming the file and what to do) means: run without recognition,
 *      faces reported as unknown, and keep trying on the next poll.
 *   2. every second or so (a timer on the main loop): fw_store_generation();
 *      when it differs from the loaded one, fw_store_load() a new gallery
 *      on the main thread and hand it to the inference thread (swap at a
 *      frame boundary; free the old one there). Loading takes ~1 ms for
 *      1 000 templates, ~20 ms for 10 000, ~0.2 s for 100 000
 *      (bench/bench_gallery.c) and never blocks facectl (WAL readers do
 *      not block writers).
 *   3. per face: fw_gallery_match() (core/gallery.h).
 *
 * Ownership: fw_store_open() allocates; fw_store_close() frees.
 * fw_store_load() and fw_store_list() allocate what they return (free with
 * fw_gallery_free() / fw_store_report_free() / fw_store_list_free()).
 * Thread-safety: one struct fw_store per thread (the SQLite connection is
 * opened without its mutex); any number of processes.
 */
#ifndef FW_STORE_H
#define FW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/embedder.h"
#include "core/gallery.h"

#define FW_STORE_SCHEMA 2
#define FW_STORE_APP_ID 0x46574731 /* "FWG1" */
#define FW_STORE_FILE "gallery.db"
#define FW_STORE_MODEL_ID_MAX 96
#define FW_STORE_EXPORT_FORMAT "facewatch-gallery"
#define FW_STORE_EXPORT_VERSION 1

struct fw_store;

/* The default gallery path (see the top). FW_EINVAL when neither
 * $STATE_DIRECTORY, $XDG_STATE_HOME nor $HOME is set; -ENAMETOOLONG. */
int fw_store_default_path(char *buf, size_t len);

enum {
	FW_STORE_CREATE = 1, /* create the file (and its directory) when missing */
};

/* Open (and migrate) the gallery at `path`. Errors are logged naming the
 * file and what to do: -ENOENT (no gallery and no FW_STORE_CREATE),
 * FW_EFORMAT (damaged, or not a facewatch gallery), FW_EVERSION (written by
 * a newer facewatch), -EACCES, FW_EIO, FW_ENOMEM. */
int fw_store_open(struct fw_store **out, const char *path, unsigned flags);
void fw_store_close(struct fw_store *s);
const char *fw_store_path(const struct fw_store *s);

/* Milliseconds a writer waits for another's transaction (default 5000). */
void fw_store_set_busy_timeout(struct fw_store *s, int ms);

/* The model id of an embedder model file: "<name>:<crc32 hex>" from its
 * .fwm header (the name the converter gave it and the CRC-32 of its
 * contents), so a re-converted or different model gets another id. */
int fw_store_model_id(const char *model_path, char *out, size_t len);

/* Identity names: 1..FW_GALLERY_NAME_MAX bytes of UTF-8, no control
 * characters, no '/', not starting with '-' or a blank, not ending with
 * a blank. 0 or FW_EINVAL. */
int fw_store_name_valid(const char *name);

struct fw_store_template {
	float emb[FW_EMBED_DIM];   /* L2-normalised */
	const char *model_id;
	float quality;             /* 0..1 */
	int64_t time;              /* unix seconds; 0: now */
	const char *source;        /* file name or NULL */
	int negative;              /* a face wrongly taken for the identity */
	const void *crop;          /* optional encoded aligned crop ... */
	size_t crop_len;
	const char *crop_format;   /* ... "jpeg" or "png" */
};

enum {
	FW_STORE_ADD_CREATE = 1, /* create the identity when missing (else -ENOENT) */
};

/* Add n templates to identity `name` in one transaction. A template equal
 * to one the identity already has (same kind, model id and embedding bytes:
 * the same photo enrolled twice) is skipped. *added (optional) gets the
 * number added. FW_EINVAL for a bad name or template; -ENOENT (not logged)
 * when the identity is missing and FW_STORE_ADD_CREATE is not given. */
int fw_store_add(struct fw_store *s, const char *name, const struct fw_store_template *t, int n,
		 unsigned flags, int *added);

/* -ENOENT when there is no such identity (not logged: an answer, not a
 * failure). Other errors are logged. */
int fw_store_forget(struct fw_store *s, const char *name);
/* -ENOENT when old is missing, -EEXIST when new is taken (not logged),
 * FW_EINVAL when new is not a valid name. */
int fw_store_rename(struct fw_store *s, const char *old_name, const char *new_name);

/* The change counter (see the top). */
int fw_store_generation(struct fw_store *s, int64_t *gen);

struct fw_store_identity {
	char name[FW_GALLERY_NAME_MAX + 1];
	int64_t created, updated;  /* unix seconds: first enrolment, last change */
	int templates, negatives;  /* all models */
	int current;               /* templates of the model id asked for */
	int crops;
};

/* Every identity, by name. *out is malloc'd (free with fw_store_list_free());
 * model_id may be NULL (then current = templates). */
int fw_store_list(struct fw_store *s, const char *model_id, struct fw_store_identity **out,
		  int *n);
void fw_store_list_free(struct fw_store_identity *list);

struct fw_store_report {
	int identities, templates, negatives; /* loaded */
	int other_model;           /* templates and negatives of other models, not loaded */
	/* identities with templates of other models only: they need enrolling
	 * again with this model (their names; malloc'd array of malloc'd strings) */
	int n_stale;
	char **stale;
	int64_t generation;        /* what was loaded */
};
void fw_store_report_free(struct fw_store_report *r);
/* A warning naming r's stale identities (none: nothing), with what to do. */
void fw_store_report_log(const struct fw_store *s, const struct fw_store_report *r);

/* Everything of model `model_id` into a new gallery with `threshold`
 * (templates: fw_gallery_template_tag() is the row id). One read
 * transaction: a consistent snapshot. Identities with no template of this
 * model are still added (they have 0 templates, so never match) and listed
 * in report->stale. report may be NULL. */
int fw_store_load(struct fw_store *s, const char *model_id, float threshold,
		  struct fw_gallery **out, struct fw_store_report *report);

/* Where a template came from (by row id): its source (may be empty) into
 * buf. -ENOENT. */
int fw_store_template_source(struct fw_store *s, int64_t id, char *buf, size_t len);

/* SQLite's PRAGMA integrity_check: 0 when "ok", FW_EFORMAT (logged, with
 * the first problems) else. */
int fw_store_check(struct fw_store *s);

/* Export / import, without images. The format (docs/gallery.md):
 *   { "format": "facewatch-gallery", "version": 1, "exported": RFC3339,
 *     "embedding_dim": 192,
 *     "identities": [ { "name": "alice", "created": RFC3339,
 *         "templates": [ { "embedding": [192 numbers], "model": "mobilefacenet:1a2b3c4d",
 *                          "quality": 0.93, "time": RFC3339, "source": "a.jpg" }, ... ],
 *         "negatives": [ same fields ] }, ... ] }
 * Embeddings are written with 9 significant digits: a float32 reads back
 * bit for bit. fw_store_export() returns a new reference (json_decref). */
int fw_store_export(struct fw_store *s, json_t **out);

struct fw_store_import_result {
	int identities_created, templates_added, duplicates;
};

/* Check the whole document first (a message names `what` and the bad
 * member: FW_EFORMAT), then add everything in one transaction: new
 * identities are created, existing ones get the templates they do not
 * already have. */
int fw_store_import(struct fw_store *s, const json_t *doc, const char *what,
		    struct fw_store_import_result *r);

/* The bytes of an export (a file's whole contents, `what` naming it) as a
 * checked document for fw_store_import(): JSON, then the same checks as
 * fw_store_import() makes, without touching any gallery. 0 and a new
 * reference in *out; FW_EFORMAT (not JSON, or a bad member: logged as
 * "what:line:column: ..." or "what: identities[2].name: ...") or
 * FW_EVERSION, with *out NULL. */
int fw_store_import_parse(const void *buf, size_t len, const char *what, json_t **out);

#endif
