/* The gallery file. See store.h. */
#include "daemon/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/fw.h"
#include "core/model_format.h"

#define BUSY_TIMEOUT_MS 5000
#define RETRIES 4           /* extra attempts of a transaction that found the lock busy */
#define OPEN_RETRIES 12     /* extra attempts to open a file another process is setting up */
#define RETRY 1             /* internal: busy, try again (never returned to callers) */
#define EMB_BYTES (FW_EMBED_DIM * 4)

struct fw_store {
	sqlite3 *db;
	char *path;
	int busy_ms;
	sqlite3_stmt *gen; /* SELECT of meta.generation, kept: the daemon polls it */
	int ro;            /* the connection was opened read-only (counted in ro_conns) */
};

/* Connections of this process opened read-only (their file system was). All
 * connections of a process to one file share SQLite's mapping of its -shm
 * file, made read-only by the first one opened on a read-only file system
 * and kept so while any of them stays open: see reopen_if_writable(). */
static atomic_int ro_conns;

#define OPEN_QUIET 0x100    /* internal fw_store_open() flag: no warnings (a reopen) */

/* ---- schema ---- */

/* migrations[v] takes a version-v file to version v + 1. Never edit one
 * that has shipped: add the next. A fresh file runs them all, so the
 * upgrade path is the path every test takes. */
static const char *const migrations[FW_STORE_SCHEMA] = {
	/* 0 -> 1: identities and templates */
	"CREATE TABLE identities ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE templates ("
	"  id INTEGER PRIMARY KEY,"
	"  identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,"
	"  embedding BLOB NOT NULL,"
	"  model_id TEXT NOT NULL,"
	"  quality REAL NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  source TEXT);",
	/* 1 -> 2: negative examples, opt-in crops, the change counter */
	"ALTER TABLE templates ADD COLUMN negative INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX templates_identity ON templates(identity_id, negative);"
	"CREATE TABLE crops ("
	"  template_id INTEGER PRIMARY KEY REFERENCES templates(id) ON DELETE CASCADE,"
	"  format TEXT NOT NULL,"
	"  data BLOB NOT NULL);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"INSERT INTO meta VALUES ('generation', 1);",
};

/* ---- errors ---- */

/* Map an SQLite result to an FW_E* / -errno code, logging what to do. */
static int sql_fail(struct fw_store *s, int rc, const char *doing)
{
	const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
	int sys = s->db ? sqlite3_system_errno(s->db) : 0;
	struct statvfs fs;

	/* SQLite says "disk I/O error" or "readonly database" for what the
	 * user must fix outside: a full disk (while growing the -wal or -shm
	 * file, too) or a read-only file system. Name the cause. */
	if ((rc & 0xff) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT) {
		fw_log(FW_LOG_ERROR, "%s: the disk is full (while %s); nothing was changed. Free "
		       "some space on the file system holding it (df '%s') and try again",
		       s->path, doing, s->path);
		return -ENOSPC;
	}
	if (sys == EROFS || ((rc & 0xff) == SQLITE_READONLY && statvfs(s->path, &fs) == 0 &&
			     (fs.f_flag & ST_RDONLY))) {
		fw_log(FW_LOG_ERROR, "%s: cannot write the gallery: its file system is mounted "
		       "read-only (while %s); nothing was changed. Remount it read-write, or give "
		       "--gallery a writable place", s->path, doing);
		return -EROFS;
	}
	switch (rc & 0xff) {
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		fw_log(FW_LOG_ERROR,
		       "%s: the gallery file is damaged or is not a facewatch gallery (%s, while %s). "
		       "Move it aside (mv '%s' '%s.broken') and enrol again, or restore an export "
		       "with `facectl import FILE`", s->path, msg, doing, s->path, s->path);
		return FW_EFORMAT;
	case SQLITE_NOMEM:
		fw_log(FW_LOG_ERROR, "%s: out of memory while %s", s->path, doing);
		return FW_ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		fw_log(FW_LOG_ERROR, "%s: another process kept the gallery locked while %s "
		       "(waited %d ms and retried); try again", s->path, doing, s->busy_ms);
		return -EBUSY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		fw_log(FW_LOG_ERROR, "%s: cannot write the gallery (%s, while %s); check the "
		       "permissions of the file and its directory", s->path, msg, doing);
		return -EACCES;
	case SQLITE_CANTOPEN:
		fw_log(FW_LOG_ERROR, "%s: cannot open the gallery (%s); check that the directory "
		       "exists and is writable", s->path, msg);
		return -EACCES;
	default:
		fw_log(FW_LOG_ERROR, "%s: %s (while %s)", s->path, msg, doing);
		return FW_EIO;
	}
}

static int is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* ---- small SQL helpers (rc is an SQLite code) ---- */

static int ensure_open(struct fw_store *s);

/* Every statement goes through prepare() or exec(): a connection let go
 * while the gallery was read-only (release_if_ro()) is taken again here,
 * whichever function comes first. */
static int prepare(struct fw_store *s, const char *sql, sqlite3_stmt **st)
{
	*st = NULL;
	if (!s->db && ensure_open(s))
		return SQLITE_CANTOPEN;
	return sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
}

/* One integer from the first row of `sql` (a PRAGMA or a SELECT). */
static int query_int(struct fw_store *s, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc = prepare(s, sql, &st);

	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*v = 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int exec(struct fw_store *s, const char *sql)
{
	if (!s->db && ensure_open(s))
		return SQLITE_CANTOPEN;
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

/* ---- paths ---- */

int fw_store_default_path(char *buf, size_t len)
{
	const char *sd = getenv("STATE_DIRECTORY"), *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (sd && *sd) {
		/* systemd lists several directories separated by ':'; ours is the first */
		size_t k = strcspn(sd, ":");
		n = snprintf(buf, len, "%.*s/" FW_STORE_FILE, (int)k, sd);
	} else if (xdg && xdg[0] == '/') {
		n = snprintf(buf, len, "%s/facewatch/" FW_STORE_FILE, xdg);
	} else if (home && *home) {
		n = snprintf(buf, len, "%s/.local/state/facewatch/" FW_STORE_FILE, home);
	} else {
		fw_log(FW_LOG_ERROR, "no place for the gallery: none of $STATE_DIRECTORY, "
		       "$XDG_STATE_HOME or $HOME is set; give --gallery PATH");
		return FW_EINVAL;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* mkdir -p of path's directory, new directories 0700 */
static int make_parents(const char *path)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof dir)
		return -ENAMETOOLONG;
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0700) && errno != EEXIST) {
			int err = -errno;
			fw_log(FW_LOG_ERROR, "%s: cannot create the directory %s: %s", path, dir,
			       strerror(errno));
			return err;
		}
		*p = '/';
	}
	return 0;
}

/* 10..50 ms, doubling per attempt; the jitter comes from the clock and the
 * pid so that two writers do not wake up in step */
static void backoff(int attempt)
{
	struct timespec now, ts;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ts.tv_sec = 0;
	ts.tv_nsec = (10 + (long)(((unsigned long)now.tv_nsec ^ (unsigned long)getpid() * 2654435761u) % 40)) *
		     (1L << attempt) * 1000000L;
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	nanosleep(&ts, NULL);
}

/* ---- open, migrate ---- */

const char *fw_store_path(const struct fw_store *s)
{
	return s->path;
}

void fw_store_set_busy_timeout(struct fw_store *s, int ms)
{
	s->busy_ms = ms;
	sqlite3_busy_timeout(s->db, ms);
}

void fw_store_close(struct fw_store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->gen);
	sqlite3_close(s->db);
	if (s->ro)
		atomic_fetch_sub(&ro_conns, 1);
	free(s->path);
	free(s);
}

/* Close s's connection and take n's instead (n is freed); n NULL: none. */
static void adopt(struct fw_store *s, struct fw_store *n)
{
	sqlite3_finalize(s->gen);
	s->gen = NULL;
	sqlite3_close(s->db);
	if (s->ro)
		atomic_fetch_sub(&ro_conns, 1);
	s->db = n ? n->db : NULL;
	s->ro = n ? n->ro : 0;
	if (n) {
		sqlite3_busy_timeout(s->db, s->busy_ms);
		n->db = NULL;
		n->ro = 0;
		fw_store_close(n);
	}
}

/* A connection let go by release_if_ro(): open it again. */
static int ensure_open(struct fw_store *s)
{
	struct fw_store *n;
	int err;

	if (s->db)
		return 0;
	if ((err = fw_store_open(&n, s->path, OPEN_QUIET)))
		return err;
	adopt(s, n);
	return 0;
}

/* While another connection of this process is read-only, a reader lets go of
 * its connection after each use (the daemon's poll, once a second), so that
 * the writer's reopen in write_txn() finds the -shm mapping gone and makes
 * it anew, writable. */
static void release_if_ro(struct fw_store *s)
{
	if (atomic_load(&ro_conns) > s->ro)
		adopt(s, NULL);
}

static int not_ours(struct fw_store *s, const char *why)
{
	fw_log(FW_LOG_ERROR, "%s: not a facewatch gallery (%s); give another --gallery path, "
	       "or move this file aside", s->path, why);
	return FW_EFORMAT;
}

/* Read the version; when it is old, take the write lock, read it again
 * (another process may have migrated meanwhile) and run the migrations in
 * one transaction. RETRY (not logged) when the file was busy. */
static int migrate(struct fw_store *s)
{
	int64_t app = 0, ver = 0, tables = 0;
	int rc, err;
	char sql[96];

	for (int locked = 0; locked < 2; locked++) {
		if ((rc = query_int(s, "PRAGMA application_id", &app)) ||
		    (rc = query_int(s, "PRAGMA user_version", &ver)) ||
		    (rc = query_int(s, "SELECT count(*) FROM sqlite_master", &tables))) {
			err = is_busy(rc) ? RETRY : sql_fail(s, rc, "reading the schema version");
			goto fail;
		}
		if (app != FW_STORE_APP_ID && !(app == 0 && ver == 0 && tables == 0)) {
			err = not_ours(s, app ? "another program's SQLite file"
					      : "an SQLite database of something else");
			goto fail;
		}
		if (ver > FW_STORE_SCHEMA) {
			fw_log(FW_LOG_ERROR, "%s: written by a newer facewatch (gallery schema %lld, "
			       "this one knows up to %d); upgrade facewatch to use it", s->path,
			       (long long)ver, FW_STORE_SCHEMA);
			err = FW_EVERSION;
			goto fail;
		}
		if (ver == FW_STORE_SCHEMA)
			break;
		if (!locked && (rc = exec(s, "BEGIN IMMEDIATE")))
			return is_busy(rc) ? RETRY : sql_fail(s, rc, "locking the gallery to upgrade it");
		if (!locked)
			continue;
		for (int64_t v = ver; v < FW_STORE_SCHEMA; v++)
			if ((rc = exec(s, migrations[v]))) {
				err = sql_fail(s, rc, "upgrading the gallery schema");
				goto fail;
			}
		snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
			 FW_STORE_APP_ID, FW_STORE_SCHEMA);
		if ((rc = exec(s, sql))) {
			err = sql_fail(s, rc, "upgrading the gallery schema");
			goto fail;
		}
		if (ver > 0)
			fw_log(FW_LOG_INFO, "%s: gallery upgraded from schema %lld to %d", s->path,
			       (long long)ver, FW_STORE_SCHEMA);
	}
	if (sqlite3_get_autocommit(s->db) == 0 && (rc = exec(s, "COMMIT"))) {
		err = is_busy(rc) ? RETRY : sql_fail(s, rc, "upgrading the gallery schema");
		goto fail;
	}
	return 0;
fail:
	if (sqlite3_get_autocommit(s->db) == 0)
		exec(s, "ROLLBACK");
	return err;
}

int fw_store_open(struct fw_store **out, const char *path, unsigned flags)
{
	struct fw_store *s;
	struct stat st;
	char mode[16] = "";
	sqlite3_stmt *jm;
	int rc, err;

	*out = NULL;
	if (stat(path, &st)) {
		int fd;
		if (errno != ENOENT) {
			err = -errno;
			fw_log(FW_LOG_ERROR, "%s: %s", path, strerror(errno));
			return err;
		}
		if (!(flags & FW_STORE_CREATE)) {
			fw_log(FW_LOG_ERROR, "%s: no gallery here yet; enrol someone first "
			       "(facectl enroll NAME PHOTO...)", path);
			return -ENOENT;
		}
		if ((err = make_parents(path)))
			return err;
		/* created here so that it is 0600 from the first byte; SQLite gives
		 * the -wal and -shm files the database file's mode */
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			err = -errno;
			fw_log(FW_LOG_ERROR, "%s: cannot create the gallery: %s", path, strerror(errno));
			return err;
		}
		if (fd >= 0)
			close(fd);
	} else if (!S_ISREG(st.st_mode)) {
		fw_log(FW_LOG_ERROR, "%s: not a regular file; give --gallery the path of a file", path);
		return FW_EINVAL;
	} else if ((st.st_mode & 077) && !(flags & OPEN_QUIET)) {
		fw_log(FW_LOG_WARN, "%s: the gallery can be read by other users (mode %03o); "
		       "chmod 600 '%s'", path, (unsigned)(st.st_mode & 0777), path);
	}

	s = calloc(1, sizeof *s);
	if (!s || !(s->path = strdup(path))) {
		free(s);
		fw_log(FW_LOG_ERROR, "%s: out of memory while opening the gallery", path);
		return FW_ENOMEM;
	}
	s->busy_ms = BUSY_TIMEOUT_MS;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc) {
		err = s->db ? sql_fail(s, rc, "opening") : FW_ENOMEM;
		if (!s->db)
			fw_log(FW_LOG_ERROR, "%s: out of memory while opening the gallery", path);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, s->busy_ms);
	if ((rc = exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL"))) {
		err = sql_fail(s, rc, "opening");
		goto fail;
	}
	/* While another process creates or recovers the file, some of its locks
	 * answer "busy" at once, without the busy handler: try again a few
	 * times (two `facectl enroll` starting on a new gallery do this). */
	for (int attempt = 0;; attempt++) {
		/* the first read of the file: a damaged header shows here */
		rc = prepare(s, "PRAGMA journal_mode = WAL", &jm);
		if (!rc) {
			rc = sqlite3_step(jm);
			if (rc == SQLITE_ROW) {
				snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(jm, 0));
				rc = SQLITE_OK;
			}
			sqlite3_finalize(jm);
		}
		err = rc ? (is_busy(rc) ? RETRY : sql_fail(s, rc, "opening")) : migrate(s);
		if (err != RETRY)
			break;
		if (attempt == OPEN_RETRIES) {
			err = sql_fail(s, SQLITE_BUSY, "opening");
			break;
		}
		backoff(attempt < 4 ? attempt : 4);
	}
	if (err)
		goto fail;
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		s->ro = 1;
		atomic_fetch_add(&ro_conns, 1);
	}
	if (strcmp(mode, "wal")) {
		if (!(flags & OPEN_QUIET))
			fw_log(FW_LOG_WARN, "%s: cannot use WAL mode (journal mode %s): readers "
			       "and writers will wait for each other", path, mode);
	} else {
		/* Keep the -wal and -shm files after the last close (the -wal
		 * emptied after each checkpoint): opening a WAL gallery whose
		 * -shm file is gone must create and size one, which fails on a
		 * full disk, and the gallery could then not even be read. */
		int persist = 1;
		sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
		exec(s, "PRAGMA journal_size_limit = 0");
	}
	*out = s;
	return 0;
fail:
	fw_store_close(s);
	return err;
}

/* ---- model id, names ---- */

int fw_store_model_id(const char *model_path, char *out, size_t len)
{
	struct fw_mf_header h;
	FILE *f = fopen(model_path, "rb");
	char name[FW_MF_MAX_NAME + 1];
	size_t got;

	if (!f) {
		int err = -errno;
		fw_log(FW_LOG_ERROR, "%s: %s", model_path, strerror(errno));
		return err;
	}
	got = fread(&h, 1, sizeof h, f);
	fclose(f);
	if (got != sizeof h || memcmp(h.magic, FW_MF_MAGIC, 8)) {
		fw_log(FW_LOG_ERROR, "%s: not a facewatch model file", model_path);
		return FW_EFORMAT;
	}
	memcpy(name, h.name, FW_MF_MAX_NAME);
	name[FW_MF_MAX_NAME] = 0;
	/* the header is little-endian; this code runs on little-endian hosts
	 * only (x86-64, aarch64), as the model loader does */
	if ((size_t)snprintf(out, len, "%s:%08x", name, (unsigned)h.crc32) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int fw_store_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > FW_GALLERY_NAME_MAX || name[0] == '-' || name[0] == ' ' ||
	    name[n - 1] == ' ')
		return FW_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '/')
			return FW_EINVAL;
	}
	/* UTF-8: lead bytes followed by the right number of continuation bytes */
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)name[i];
		size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
			 : (c & 0xf8) == 0xf0 ? 3 : 9;
		if (k == 9 || i + k >= n)
			return FW_EINVAL;
		for (size_t j = 1; j <= k; j++)
			if (((unsigned char)name[i + j] & 0xc0) != 0x80)
				return FW_EINVAL;
		i += k + 1;
	}
	return 0;
}

/* ---- transactions ---- */

typedef int (*txn_fn)(struct fw_store *s, void *ctx);

static int bump_generation(struct fw_store *s)
{
	return exec(s, "UPDATE meta SET value = value + 1 WHERE key = 'generation'");
}

/* Run fn inside BEGIN IMMEDIATE ... COMMIT, with the generation bump; on
 * a busy lock after busy_timeout, back off and try again a few times. fn
 * returns 0 or an FW code (it has logged); SQLite failures in fn are
 * mapped with sql_fail() by fn itself. */
/* A gallery opened while its file system was read-only is opened read-only
 * by SQLite and stays so: once the file can be written again (remounted
 * read-write), take a new connection, so that a long-running daemon need not
 * be restarted to enrol. The old one is closed first, so that with the
 * daemon's other connection let go (release_if_ro()) the -shm mapping is
 * made anew, writable. A failed reopen leaves the write to fail with its
 * reason. */
static int reopen_if_writable(struct fw_store *s)
{
	if (!s->ro || access(s->path, W_OK))
		return ensure_open(s);
	adopt(s, NULL);
	if (ensure_open(s))
		return FW_EIO;
	fw_log(FW_LOG_INFO, "%s: the gallery can be written again; reopened it", s->path);
	return 0;
}

static int write_txn(struct fw_store *s, const char *doing, txn_fn fn, void *ctx)
{
	int err = reopen_if_writable(s);

	if (err)
		return err;
	for (int attempt = 0;; attempt++) {
		int rc = exec(s, "BEGIN IMMEDIATE");

		if (rc) {
			if (is_busy(rc) && attempt < RETRIES) {
				backoff(attempt);
				continue;
			}
			return sql_fail(s, rc, doing);
		}
		err = fn(s, ctx);
		if (!err && (rc = bump_generation(s)))
			err = sql_fail(s, rc, doing);
		if (!err) {
			rc = exec(s, "COMMIT");
			if (!rc)
				return 0;
			if (is_busy(rc) && attempt < RETRIES) {
				exec(s, "ROLLBACK");
				backoff(attempt);
				continue;
			}
			err = sql_fail(s, rc, doing);
		}
		if (sqlite3_get_autocommit(s->db) == 0)
			exec(s, "ROLLBACK");
		return err;
	}
}

/* ---- embeddings as blobs ---- */

static void emb_to_blob(const float *emb, unsigned char *blob)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (int i = 0; i < FW_EMBED_DIM; i++) {
		uint32_t u;
		memcpy(&u, &emb[i], 4);
		for (int b = 0; b < 4; b++)
			blob[i * 4 + b] = (unsigned char)(u >> (8 * b));
	}
#else
	memcpy(blob, emb, EMB_BYTES);
#endif
}

static void emb_from_blob(const unsigned char *blob, float *emb)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (int i = 0; i < FW_EMBED_DIM; i++) {
		uint32_t u = 0;
		for (int b = 0; b < 4; b++)
			u |= (uint32_t)blob[i * 4 + b] << (8 * b);
		memcpy(&emb[i], &u, 4);
	}
#else
	memcpy(emb, blob, EMB_BYTES);
#endif
}

/* ---- add ---- */

static int template_valid(const struct fw_store_template *t)
{
	double ss = 0;

	if (!t->model_id || !*t->model_id || strlen(t->model_id) >= FW_STORE_MODEL_ID_MAX ||
	    !(t->quality >= 0 && t->quality <= 1))
		return 0;
	if (t->crop && (!t->crop_len || !t->crop_format))
		return 0;
	for (int i = 0; i < FW_EMBED_DIM; i++) {
		if (!isfinite(t->emb[i]))
			return 0;
		ss += (double)t->emb[i] * t->emb[i];
	}
	return ss > 0;
}

/* The identity's row id: *id = 0 when missing (and not created). */
static int identity_id(struct fw_store *s, const char *name, int create, int64_t created,
		       int64_t *id, int *was_created)
{
	sqlite3_stmt *st;
	int rc = prepare(s, "SELECT id FROM identities WHERE name = ?", &st);

	*id = 0;
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc || *id || !create)
		return rc;
	rc = prepare(s, "INSERT INTO identities(name, created) VALUES (?, ?)", &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, created);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc;
	*id = sqlite3_last_insert_rowid(s->db);
	if (was_created)
		*was_created = 1;
	return SQLITE_OK;
}

/* Prepared statements of one transaction that adds templates. */
struct adder {
	sqlite3_stmt *dup, *ins, *crop;
};

static void adder_free(struct adder *a)
{
	sqlite3_finalize(a->dup);
	sqlite3_finalize(a->ins);
	sqlite3_finalize(a->crop);
}

static int adder_init(struct fw_store *s, struct adder *a)
{
	int rc;

	memset(a, 0, sizeof *a);
	if ((rc = prepare(s, "SELECT 1 FROM templates WHERE identity_id = ?1 AND negative = ?2 "
			  "AND model_id = ?3 AND embedding = ?4 LIMIT 1", &a->dup)) ||
	    (rc = prepare(s, "INSERT INTO templates(identity_id, embedding, model_id, quality, "
			  "created, source, negative) VALUES (?, ?, ?, ?, ?, ?, ?)", &a->ins)) ||
	    (rc = prepare(s, "INSERT INTO crops(template_id, format, data) VALUES (?, ?, ?)",
			  &a->crop)))
		adder_free(a);
	return rc;
}

/* Insert one template unless the identity has it already (*added 0/1). */
static int adder_add(struct fw_store *s, struct adder *a, int64_t id,
		     const struct fw_store_template *t, int64_t now, int *added)
{
	unsigned char blob[EMB_BYTES];
	int rc;

	*added = 0;
	emb_to_blob(t->emb, blob);
	sqlite3_reset(a->dup);
	sqlite3_bind_int64(a->dup, 1, id);
	sqlite3_bind_int(a->dup, 2, t->negative ? 1 : 0);
	sqlite3_bind_text(a->dup, 3, t->model_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(a->dup, 4, blob, EMB_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(a->dup);
	sqlite3_reset(a->dup);
	if (rc == SQLITE_ROW)
		return SQLITE_OK;
	if (rc != SQLITE_DONE)
		return rc;
	sqlite3_reset(a->ins);
	sqlite3_bind_int64(a->ins, 1, id);
	sqlite3_bind_blob(a->ins, 2, blob, EMB_BYTES, SQLITE_STATIC);
	sqlite3_bind_text(a->ins, 3, t->model_id, -1, SQLITE_STATIC);
	sqlite3_bind_double(a->ins, 4, t->quality);
	sqlite3_bind_int64(a->ins, 5, t->time ? t->time : now);
	if (t->source)
		sqlite3_bind_text(a->ins, 6, t->source, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(a->ins, 6);
	sqlite3_bind_int(a->ins, 7, t->negative ? 1 : 0);
	rc = sqlite3_step(a->ins);
	sqlite3_reset(a->ins);
	if (rc != SQLITE_DONE)
		return rc;
	if (t->crop) {
		sqlite3_reset(a->crop);
		sqlite3_bind_int64(a->crop, 1, sqlite3_last_insert_rowid(s->db));
		sqlite3_bind_text(a->crop, 2, t->crop_format, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(a->crop, 3, t->crop, t->crop_len, SQLITE_STATIC);
		rc = sqlite3_step(a->crop);
		sqlite3_reset(a->crop);
		if (rc != SQLITE_DONE)
			return rc;
	}
	*added = 1;
	return SQLITE_OK;
}

struct add_ctx {
	const char *name;
	const struct fw_store_template *t;
	int n;
	unsigned flags;
	int added;
};

static int add_txn(struct fw_store *s, void *ctx)
{
	struct add_ctx *c = ctx;
	struct adder a;
	int64_t id, now = (int64_t)time(NULL);
	int rc;

	c->added = 0;
	rc = identity_id(s, c->name, c->flags & FW_STORE_ADD_CREATE, now, &id, NULL);
	if (rc)
		return sql_fail(s, rc, "adding templates");
	if (!id)
		return -ENOENT;
	if ((rc = adder_init(s, &a)))
		return sql_fail(s, rc, "adding templates");
	for (int i = 0; i < c->n && !rc; i++) {
		int one;
		rc = adder_add(s, &a, id, &c->t[i], now, &one);
		c->added += one;
	}
	adder_free(&a);
	return rc ? sql_fail(s, rc, "adding templates") : 0;
}

int fw_store_add(struct fw_store *s, const char *name, const struct fw_store_template *t, int n,
		 unsigned flags, int *added)
{
	struct add_ctx c = { name, t, n, flags, 0 };
	int err;

	if (added)
		*added = 0;
	if (fw_store_name_valid(name) || n < 0)
		return FW_EINVAL;
	for (int i = 0; i < n; i++)
		if (!template_valid(&t[i]))
			return FW_EINVAL;
	err = write_txn(s, "adding templates", add_txn, &c);
	if (!err && added)
		*added = c.added;
	return err;
}

/* ---- forget, rename ---- */

static int forget_txn(struct fw_store *s, void *ctx)
{
	const char *name = ctx;
	int64_t id;
	int rc = identity_id(s, name, 0, 0, &id, NULL);
	sqlite3_stmt *st;

	if (rc)
		return sql_fail(s, rc, "forgetting");
	if (!id)
		return -ENOENT;
	/* explicit, not only ON DELETE CASCADE: a file edited by a tool that
	 * left foreign_keys off must not keep an orphaned face */
	static const char *const sql[] = {
		"DELETE FROM crops WHERE template_id IN (SELECT id FROM templates WHERE identity_id = ?)",
		"DELETE FROM templates WHERE identity_id = ?",
		"DELETE FROM identities WHERE id = ?",
	};
	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		if ((rc = prepare(s, sql[i], &st)))
			return sql_fail(s, rc, "forgetting");
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return sql_fail(s, rc, "forgetting");
	}
	return 0;
}

int fw_store_forget(struct fw_store *s, const char *name)
{
	return write_txn(s, "forgetting", forget_txn, (void *)name);
}

struct rename_ctx {
	const char *from, *to;
};

static int rename_txn(struct fw_store *s, void *ctx)
{
	struct rename_ctx *c = ctx;
	sqlite3_stmt *st;
	int rc = prepare(s, "UPDATE identities SET name = ?2 WHERE name = ?1", &st);

	if (rc)
		return sql_fail(s, rc, "renaming");
	sqlite3_bind_text(st, 1, c->from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->to, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return sql_fail(s, rc, "renaming");
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int fw_store_rename(struct fw_store *s, const char *old_name, const char *new_name)
{
	struct rename_ctx c = { old_name, new_name };

	if (fw_store_name_valid(new_name))
		return FW_EINVAL;
	if (!strcmp(old_name, new_name)) {
		int64_t id;
		int rc = identity_id(s, old_name, 0, 0, &id, NULL);
		return rc ? sql_fail(s, rc, "renaming") : id ? 0 : -ENOENT;
	}
	return write_txn(s, "renaming", rename_txn, &c);
}

/* ---- reading ---- */

int fw_store_generation(struct fw_store *s, int64_t *gen)
{
	int rc, err;

	if ((err = ensure_open(s)))
		return err;
	if (!s->gen && (rc = sqlite3_prepare_v3(s->db, "SELECT value FROM meta WHERE key = 'generation'",
					       -1, SQLITE_PREPARE_PERSISTENT, &s->gen, NULL)))
		return sql_fail(s, rc, "reading the change counter");
	rc = sqlite3_step(s->gen);
	*gen = rc == SQLITE_ROW ? sqlite3_column_int64(s->gen, 0) : 0;
	sqlite3_reset(s->gen);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_fail(s, rc, "reading the change counter");
	release_if_ro(s);
	return 0;
}

void fw_store_list_free(struct fw_store_identity *list)
{
	free(list);
}

int fw_store_list(struct fw_store *s, const char *model_id, struct fw_store_identity **out,
		  int *n)
{
	static const char sql[] =
		"SELECT i.name, i.created, max(i.created, coalesce(max(t.created), 0)),"
		"  sum(t.negative = 0), sum(t.negative = 1),"
		"  sum(t.negative = 0 AND (?1 IS NULL OR t.model_id = ?1)), count(c.template_id) "
		"FROM identities i LEFT JOIN templates t ON t.identity_id = i.id "
		"LEFT JOIN crops c ON c.template_id = t.id "
		"GROUP BY i.id ORDER BY i.name";
	struct fw_store_identity *list = NULL;
	sqlite3_stmt *st;
	int cap = 0, count = 0, rc;

	*out = NULL;
	*n = 0;
	if ((rc = ensure_open(s)))
		return rc;
	if ((rc = prepare(s, sql, &st)))
		return sql_fail(s, rc, "listing");
	if (model_id)
		sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct fw_store_identity *e;
		if (count == cap) {
			struct fw_store_identity *nl = realloc(list, sizeof *nl * (size_t)(cap = cap ? cap * 2 : 16));
			if (!nl) {
				sqlite3_finalize(st);
				free(list);
				fw_log(FW_LOG_ERROR, "%s: out of memory while listing", s->path);
				return FW_ENOMEM;
			}
			list = nl;
		}
		e = &list[count++];
		snprintf(e->name, sizeof e->name, "%s", (const char *)sqlite3_column_text(st, 0));
		e->created = sqlite3_column_int64(st, 1);
		e->updated = sqlite3_column_int64(st, 2);
		e->templates = sqlite3_column_int(st, 3);
		e->negatives = sqlite3_column_int(st, 4);
		e->current = sqlite3_column_int(st, 5);
		e->crops = sqlite3_column_int(st, 6);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(list);
		return sql_fail(s, rc, "listing");
	}
	*out = list;
	*n = count;
	return 0;
}

void fw_store_report_free(struct fw_store_report *r)
{
	for (int i = 0; i < r->n_stale; i++)
		free(r->stale[i]);
	free(r->stale);
	r->stale = NULL;
	r->n_stale = 0;
}

void fw_store_report_log(const struct fw_store *s, const struct fw_store_report *r)
{
	char names[512] = "";
	size_t used = 0;

	if (!r->n_stale)
		return;
	for (int i = 0; i < r->n_stale && used + 4 < sizeof names; i++) {
		int k = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", r->stale[i]);
		used = k < 0 ? used : used + (size_t)k;
	}
	if (used >= sizeof names) /* cut: say so */
		memcpy(names + sizeof names - 4, "...", 4);
	fw_log(FW_LOG_WARN, "%s: %d identit%s enrolled with another model (%s); they are not "
	       "recognised until enrolled again with this one: facectl enroll NAME PHOTO... "
	       "(or --camera)", fw_store_path(s), r->n_stale, r->n_stale == 1 ? "y was" : "ies were",
	       names);
}

struct id_map {
	int64_t *row;   /* sorted row ids */
	int n;
};

static int id_lookup(const struct id_map *m, int64_t row)
{
	int lo = 0, hi = m->n - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (m->row[mid] == row)
			return mid;
		if (m->row[mid] < row)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int load_locked(struct fw_store *s, const char *model_id, struct fw_gallery *g,
		       struct fw_store_report *r)
{
	struct id_map map = { 0 };
	sqlite3_stmt *st = NULL;
	int64_t count = 0;
	int rc, err = 0, bad = 0, cap = 0;

	if ((err = fw_store_generation(s, &r->generation)))
		return err;
	/* identities by row id: the gallery's index is the position */
	if ((rc = query_int(s, "SELECT count(*) FROM identities", &count)) ||
	    (rc = prepare(s, "SELECT id, name FROM identities ORDER BY id", &st)))
		goto sqlfail;
	if (!(map.row = malloc(sizeof *map.row * (size_t)(count + 1))))
		goto nomem;
	if ((err = fw_gallery_reserve(g, 0, (int)count)))
		goto gfail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && map.n < count) {
		int id;
		map.row[map.n++] = sqlite3_column_int64(st, 0);
		if ((err = fw_gallery_add_identity(g, (const char *)sqlite3_column_text(st, 1), &id)))
			goto gfail;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	r->identities = map.n;

	if ((rc = prepare(s, "SELECT count(*) FROM templates WHERE negative = 0 AND model_id = ?", &st)))
		goto sqlfail;
	sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto sqlfail;
	cap = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if ((err = fw_gallery_reserve(g, cap, map.n)))
		goto gfail;

	/* no ORDER BY: sorting would move every 768-byte blob through a temp
	 * b-tree; rowid order is deterministic and the gallery needs no other */
	if ((rc = prepare(s, "SELECT id, identity_id, embedding, negative FROM templates "
			  "WHERE model_id = ?", &st)))
		goto sqlfail;
	sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		float emb[FW_EMBED_DIM];
		int id = id_lookup(&map, sqlite3_column_int64(st, 1));
		int neg = sqlite3_column_int(st, 3);
		const void *blob = sqlite3_column_blob(st, 2);

		if (id < 0 || sqlite3_column_bytes(st, 2) != EMB_BYTES || !blob) {
			bad++;
			continue;
		}
		emb_from_blob(blob, emb);
		err = fw_gallery_add(g, id, emb, neg ? FW_GALLERY_NEGATIVE : FW_GALLERY_TEMPLATE,
				     sqlite3_column_int64(st, 0));
		if (err == FW_EINVAL) {
			bad++;
			err = 0;
			continue;
		}
		if (err)
			goto gfail;
		if (neg)
			r->negatives++;
		else
			r->templates++;
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	if (bad)
		fw_log(FW_LOG_WARN, "%s: %d damaged templates skipped (wrong size or not a number); "
		       "`facectl doctor` checks the file", s->path, bad);

	if ((rc = prepare(s, "SELECT count(*) FROM templates WHERE model_id != ?", &st)))
		goto sqlfail;
	sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto sqlfail;
	r->other_model = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;

	if ((rc = prepare(s, "SELECT name FROM identities i WHERE NOT EXISTS (SELECT 1 FROM templates "
			  "WHERE identity_id = i.id AND negative = 0 AND model_id = ?1) AND EXISTS "
			  "(SELECT 1 FROM templates WHERE identity_id = i.id AND negative = 0 AND "
			  "model_id != ?1) ORDER BY name", &st)))
		goto sqlfail;
	sqlite3_bind_text(st, 1, model_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **ns = realloc(r->stale, sizeof *ns * (size_t)(r->n_stale + 1));
		if (!ns)
			goto nomem;
		r->stale = ns;
		if (!(r->stale[r->n_stale] = strdup((const char *)sqlite3_column_text(st, 0))))
			goto nomem;
		r->n_stale++;
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	goto out;
sqlfail:
	err = sql_fail(s, rc, "loading the gallery");
	goto out;
gfail:
	/* the in-memory gallery refused (out of memory): core/ does not log */
	fw_log(FW_LOG_ERROR, "%s: cannot load the gallery: %s", s->path, fw_strerror(err));
	goto out;
nomem:
	err = FW_ENOMEM;
	fw_log(FW_LOG_ERROR, "%s: out of memory while loading the gallery", s->path);
out:
	sqlite3_finalize(st);
	free(map.row);
	return err;
}

int fw_store_load(struct fw_store *s, const char *model_id, float threshold,
		  struct fw_gallery **out, struct fw_store_report *report)
{
	struct fw_store_report local;
	struct fw_store_report *r = report ? report : &local;
	struct fw_gallery *g;
	int rc, err;

	*out = NULL;
	memset(r, 0, sizeof *r);
	if ((err = fw_gallery_create(&g, FW_EMBED_DIM, threshold))) {
		fw_log(FW_LOG_ERROR, "%s: out of memory while loading the gallery", s->path);
		return err;
	}
	/* one read transaction: the counts, the rows and the generation agree */
	if ((rc = exec(s, "BEGIN"))) {
		fw_gallery_free(g);
		return sql_fail(s, rc, "loading the gallery");
	}
	err = load_locked(s, model_id, g, r);
	exec(s, "COMMIT");
	if (err) {
		fw_gallery_free(g);
		fw_store_report_free(r);
		return err;
	}
	if (!report)
		fw_store_report_free(r);
	*out = g;
	return 0;
}

int fw_store_template_source(struct fw_store *s, int64_t id, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int rc = prepare(s, "SELECT coalesce(source, '') FROM templates WHERE id = ?", &st);

	if (rc)
		return sql_fail(s, rc, "reading a template");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : sql_fail(s, rc, "reading a template");
}

int fw_store_check(struct fw_store *s)
{
	sqlite3_stmt *st;
	int rc = prepare(s, "PRAGMA integrity_check(5)", &st), ok = 0, rows = 0;

	if (rc)
		return sql_fail(s, rc, "checking the file");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (rows++ == 0 && line && !strcmp(line, "ok"))
			ok = 1;
		else
			fw_log(FW_LOG_ERROR, "%s: integrity check: %s", s->path, line ? line : "?");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(s, rc, "checking the file");
	if (!ok) {
		fw_log(FW_LOG_ERROR, "%s: the gallery file is damaged. Export what can still be read "
		       "(facectl export FILE), move the file aside and import the export", s->path);
		return FW_EFORMAT;
	}
	return 0;
}

/* ---- export / import ---- */

static json_t *time_json(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return json_null();
	return json_string(buf);
}

/* RFC 3339 as we write it (seconds, 'Z'), also with fractional seconds and
 * a +hh:mm / -hh:mm offset. */
static int parse_time(const char *str, int64_t *out)
{
	struct tm tm = { 0 };
	int off_h = 0, off_m = 0, n = 0, sign = 1;
	const char *p;

	if (sscanf(str, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 19)
		return FW_EINVAL;
	p = str + n;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (sscanf(p + 1, "%2d:%2d%n", &off_h, &off_m, &n) != 2 || n != 5)
			return FW_EINVAL;
		p += 6;
	} else {
		return FW_EINVAL;
	}
	if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return FW_EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm) - sign * (off_h * 3600 + off_m * 60);
	return 0;
}

static json_t *template_json(sqlite3_stmt *st)
{
	json_t *t = json_object(), *e = json_array();
	const void *blob = sqlite3_column_blob(st, 1);
	float emb[FW_EMBED_DIM];

	if (!t || !e || !blob || sqlite3_column_bytes(st, 1) != EMB_BYTES) {
		json_decref(t);
		json_decref(e);
		return NULL;
	}
	emb_from_blob(blob, emb);
	for (int i = 0; i < FW_EMBED_DIM; i++)
		json_array_append_new(e, json_real(emb[i]));
	json_object_set_new(t, "embedding", e);
	json_object_set_new(t, "model", json_string((const char *)sqlite3_column_text(st, 2)));
	json_object_set_new(t, "quality", json_real(round(sqlite3_column_double(st, 3) * 1e4) / 1e4));
	json_object_set_new(t, "time", time_json(sqlite3_column_int64(st, 4)));
	if (sqlite3_column_type(st, 5) == SQLITE_NULL)
		json_object_set_new(t, "source", json_null());
	else
		json_object_set_new(t, "source", json_string((const char *)sqlite3_column_text(st, 5)));
	return t;
}

int fw_store_export(struct fw_store *s, json_t **out)
{
	json_t *doc = json_object(), *ids = json_array(), *cur = NULL;
	sqlite3_stmt *st = NULL;
	int64_t cur_id = 0;
	int rc, err = 0, bad = 0;

	*out = NULL;
	if (!doc || !ids) {
		json_decref(doc);
		json_decref(ids);
		fw_log(FW_LOG_ERROR, "%s: out of memory while exporting", s->path);
		return FW_ENOMEM;
	}
	json_object_set_new(doc, "format", json_string(FW_STORE_EXPORT_FORMAT));
	json_object_set_new(doc, "version", json_integer(FW_STORE_EXPORT_VERSION));
	json_object_set_new(doc, "exported", time_json((int64_t)time(NULL)));
	json_object_set_new(doc, "embedding_dim", json_integer(FW_EMBED_DIM));
	json_object_set_new(doc, "identities", ids);
	if ((rc = exec(s, "BEGIN"))) {
		json_decref(doc);
		return sql_fail(s, rc, "exporting");
	}
	/* identities without templates come out too (LEFT JOIN) */
	rc = prepare(s, "SELECT i.id, t.embedding, t.model_id, t.quality, t.created, t.source, "
		     "t.negative, i.name, i.created FROM identities i LEFT JOIN templates t "
		     "ON t.identity_id = i.id ORDER BY i.name, i.id, t.id", &st);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		json_t *t;
		if (!cur || sqlite3_column_int64(st, 0) != cur_id) {
			cur_id = sqlite3_column_int64(st, 0);
			cur = json_object();
			json_object_set_new(cur, "name", json_string((const char *)sqlite3_column_text(st, 7)));
			json_object_set_new(cur, "created", time_json(sqlite3_column_int64(st, 8)));
			json_object_set_new(cur, "templates", json_array());
			json_object_set_new(cur, "negatives", json_array());
			json_array_append_new(ids, cur);
		}
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue; /* no template */
		if (!(t = template_json(st))) {
			bad++;
			continue;
		}
		json_array_append_new(json_object_get(cur, sqlite3_column_int(st, 6) ? "negatives"
										      : "templates"), t);
	}
	if (rc != SQLITE_DONE)
		err = sql_fail(s, rc, "exporting");
	sqlite3_finalize(st);
	exec(s, "COMMIT");
	if (bad)
		fw_log(FW_LOG_WARN, "%s: %d damaged templates left out of the export", s->path, bad);
	if (err) {
		json_decref(doc);
		return err;
	}
	*out = doc;
	return 0;
}

/* Check (and, when t is given, convert) one exported template. */
static int parse_template(const json_t *j, const char *what, const char *where,
			  struct fw_store_template *t)
{
	const json_t *e = json_object_get(j, "embedding"), *m = json_object_get(j, "model");
	const json_t *q = json_object_get(j, "quality"), *tm = json_object_get(j, "time");
	const json_t *src = json_object_get(j, "source");
	int64_t when = 0;
	double ss = 0;

	if (!json_is_object(j)) {
		fw_log(FW_LOG_ERROR, "%s: %s: expected an object", what, where);
		return FW_EFORMAT;
	}
	if (!json_is_array(e) || json_array_size(e) != FW_EMBED_DIM) {
		fw_log(FW_LOG_ERROR, "%s: %s.embedding: expected an array of %d numbers, got %zu", what,
		       where, FW_EMBED_DIM, json_is_array(e) ? json_array_size(e) : (size_t)0);
		return FW_EFORMAT;
	}
	for (int i = 0; i < FW_EMBED_DIM; i++) {
		const json_t *v = json_array_get(e, (size_t)i);
		double d = json_number_value(v);
		if (!json_is_number(v) || !isfinite(d) || fabs(d) > 1e6) {
			fw_log(FW_LOG_ERROR, "%s: %s.embedding[%d]: not a finite number", what, where, i);
			return FW_EFORMAT;
		}
		ss += d * d;
		if (t)
			t->emb[i] = (float)d;
	}
	if (!(ss > 0)) {
		fw_log(FW_LOG_ERROR, "%s: %s.embedding: all zero", what, where);
		return FW_EFORMAT;
	}
	if (!json_is_string(m) || !json_string_length(m) ||
	    json_string_length(m) >= FW_STORE_MODEL_ID_MAX) {
		fw_log(FW_LOG_ERROR, "%s: %s.model: expected the model id string (e.g. "
		       "\"mobilefacenet:1a2b3c4d\")", what, where);
		return FW_EFORMAT;
	}
	if (!json_is_number(q) || !(json_number_value(q) >= 0 && json_number_value(q) <= 1)) {
		fw_log(FW_LOG_ERROR, "%s: %s.quality: expected a number from 0 to 1", what, where);
		return FW_EFORMAT;
	}
	if (tm && !json_is_null(tm) && (!json_is_string(tm) || parse_time(json_string_value(tm), &when))) {
		fw_log(FW_LOG_ERROR, "%s: %s.time: expected an RFC 3339 time such as "
		       "\"2024-05-01T12:00:00Z\"", what, where);
		return FW_EFORMAT;
	}
	if (src && !json_is_null(src) && !json_is_string(src)) {
		fw_log(FW_LOG_ERROR, "%s: %s.source: expected a string or null", what, where);
		return FW_EFORMAT;
	}
	if (t) {
		t->model_id = json_string_value(m);
		t->quality = (float)json_number_value(q);
		t->time = when;
		t->source = json_is_string(src) ? json_string_value(src) : NULL;
		t->crop = NULL;
		t->crop_len = 0;
		t->crop_format = NULL;
	}
	return 0;
}

static int check_doc(const json_t *doc, const char *what)
{
	const json_t *f = json_object_get(doc, "format"), *v = json_object_get(doc, "version");
	const json_t *dim = json_object_get(doc, "embedding_dim"), *ids = json_object_get(doc, "identities");
	char where[96];
	size_t i, k;
	const json_t *id;

	if (!json_is_object(doc) || !json_is_string(f) ||
	    strcmp(json_string_value(f), FW_STORE_EXPORT_FORMAT)) {
		fw_log(FW_LOG_ERROR, "%s: not a facewatch gallery export (no \"format\": \"%s\")", what,
		       FW_STORE_EXPORT_FORMAT);
		return FW_EFORMAT;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		fw_log(FW_LOG_ERROR, "%s: \"version\" must be an integer", what);
		return FW_EFORMAT;
	}
	if (json_integer_value(v) > FW_STORE_EXPORT_VERSION) {
		fw_log(FW_LOG_ERROR, "%s: export format version %lld is newer than this facewatch "
		       "reads (%d); upgrade facewatch", what, (long long)json_integer_value(v),
		       FW_STORE_EXPORT_VERSION);
		return FW_EVERSION;
	}
	if (!json_is_integer(dim) || json_integer_value(dim) != FW_EMBED_DIM) {
		fw_log(FW_LOG_ERROR, "%s: embeddings of %lld numbers; this facewatch's are %d", what,
		       (long long)json_integer_value(dim), FW_EMBED_DIM);
		return FW_EFORMAT;
	}
	if (!json_is_array(ids)) {
		fw_log(FW_LOG_ERROR, "%s: \"identities\" must be an array", what);
		return FW_EFORMAT;
	}
	json_array_foreach(ids, i, id) {
		const json_t *name = json_object_get(id, "name");
		if (!json_is_string(name) || fw_store_name_valid(json_string_value(name))) {
			fw_log(FW_LOG_ERROR, "%s: identities[%zu].name: expected a name (1 to %d bytes, "
			       "no control characters or '/')", what, i, FW_GALLERY_NAME_MAX);
			return FW_EFORMAT;
		}
		for (int kind = 0; kind < 2; kind++) {
			const char *key = kind ? "negatives" : "templates";
			const json_t *arr = json_object_get(id, key), *t;
			if (!arr)
				continue;
			if (!json_is_array(arr)) {
				fw_log(FW_LOG_ERROR, "%s: identities[%zu].%s must be an array", what, i, key);
				return FW_EFORMAT;
			}
			json_array_foreach(arr, k, t) {
				snprintf(where, sizeof where, "identities[%zu].%s[%zu]", i, key, k);
				if (parse_template(t, what, where, NULL))
					return FW_EFORMAT;
			}
		}
	}
	return 0;
}

int fw_store_import_parse(const void *buf, size_t len, const char *what, json_t **out)
{
	json_error_t jerr;
	json_t *doc;
	int err;

	*out = NULL;
	doc = json_loadb(buf, len, 0, &jerr);
	if (!doc) {
		fw_log(FW_LOG_ERROR, "%s:%d:%d: not valid JSON: %s", what, jerr.line, jerr.column,
		       jerr.text);
		return FW_EFORMAT;
	}
	if ((err = check_doc(doc, what))) {
		json_decref(doc);
		return err;
	}
	*out = doc;
	return 0;
}

struct import_ctx {
	const json_t *doc;
	const char *what;
	struct fw_store_import_result r;
};

static int import_txn(struct fw_store *s, void *ctx)
{
	struct import_ctx *c = ctx;
	const json_t *ids = json_object_get(c->doc, "identities"), *id;
	int64_t now = (int64_t)time(NULL);
	struct adder a;
	size_t i;
	int rc, err = 0;

	memset(&c->r, 0, sizeof c->r);
	if ((rc = adder_init(s, &a)))
		return sql_fail(s, rc, "importing");
	json_array_foreach(ids, i, id) {
		const json_t *created = json_object_get(id, "created");
		int64_t row, when = now;
		int made = 0;

		if (json_is_string(created))
			parse_time(json_string_value(created), &when);
		rc = identity_id(s, json_string_value(json_object_get(id, "name")), 1, when, &row, &made);
		if (rc)
			break;
		c->r.identities_created += made;
		for (int kind = 0; kind < 2 && !rc && !err; kind++) {
			const json_t *arr = json_object_get(id, kind ? "negatives" : "templates"), *t;
			size_t k;
			json_array_foreach(arr, k, t) {
				struct fw_store_template tp;
				int one;
				if ((err = parse_template(t, c->what, "template", &tp)))
					break;
				tp.negative = kind;
				if ((rc = adder_add(s, &a, row, &tp, now, &one)))
					break;
				c->r.templates_added += one;
				c->r.duplicates += !one;
			}
		}
		if (rc || err)
			break;
	}
	adder_free(&a);
	if (rc)
		return sql_fail(s, rc, "importing");
	return err;
}

int fw_store_import(struct fw_store *s, const json_t *doc, const char *what,
		    struct fw_store_import_result *r)
{
	struct import_ctx c = { doc, what, { 0 } };
	int err;

	memset(r, 0, sizeof *r);
	if ((err = check_doc(doc, what)))
		return err;
	err = write_txn(s, "importing", import_txn, &c);
	if (!err)
		*r = c.r;
	return err;
}
