/* daemon/store: the gallery file. What a user would notice: the file is
 * private; enrol/list/forget/rename do what they say; the change counter
 * moves on every change and only then; templates of another model are not
 * matched and their identities are named; export -> import is exact; a
 * damaged or foreign file is refused with a message naming it and what to
 * do; an old schema is migrated with its data. And the crash-safety of
 * SQLite-style testing: kill -9 of an enrolling process at random moments,
 * two processes enrolling at once, every allocation failure and every
 * failed write or sync inside a change: the previous gallery stays intact.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/fw.h"
#include "core/gallery.h"
#include "daemon/store.h"
#include "testutil.h"

#define M1 "mobilefacenet:11111111"
#define M2 "mobilefacenet:22222222"

/* ---- scaffolding ---- */

static char dir[256];
static char logbuf[8192];

static void capture(enum fw_log_level level, const char *msg, void *ctx)
{
	size_t n = strlen(logbuf);
	(void)ctx;
	if (level <= FW_LOG_WARN)
		snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/fw-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	logbuf[0] = 0;
	fw_log_set_sink(capture, NULL);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	fw_log_set_sink(NULL, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd);
}

static const char *at(const char *rel)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof buf[0], "%s/%s", dir, rel);
	return p;
}

static struct fw_store *open_ok(const char *path)
{
	struct fw_store *s = NULL;
	assert_int_equal(fw_store_open(&s, path, FW_STORE_CREATE), 0);
	return s;
}

/* a random unit embedding */
static struct fw_store_template tmpl(const char *model, const char *source)
{
	struct fw_store_template t = { 0 };
	double ss = 0;

	for (int i = 0; i < FW_EMBED_DIM; i++) {
		t.emb[i] = tu_randf(-1, 1);
		ss += (double)t.emb[i] * t.emb[i];
	}
	for (int i = 0; i < FW_EMBED_DIM; i++)
		t.emb[i] = (float)(t.emb[i] / sqrt(ss));
	t.model_id = model;
	t.quality = 0.9f;
	t.source = source;
	return t;
}

static void add_ok(struct fw_store *s, const char *name, const struct fw_store_template *t, int n)
{
	int added = -1;
	assert_int_equal(fw_store_add(s, name, t, n, FW_STORE_ADD_CREATE, &added), 0);
	assert_int_equal(added, n);
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* identities and templates per identity, as "name:templates/negatives;..." */
static void summary(struct fw_store *s, char *buf, size_t len)
{
	struct fw_store_identity *l;
	int n;
	size_t used = 0;

	assert_int_equal(fw_store_list(s, NULL, &l, &n), 0);
	buf[0] = 0;
	for (int i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s:%d/%d;", l[i].name, l[i].templates,
					 l[i].negatives);
	fw_store_list_free(l);
}

/* ---- tests ---- */

static void test_creates_a_private_file(void **state)
{
	const char *path = at("state/facewatch/gallery.db");
	struct fw_store *s = NULL;
	struct fw_store_template t = tmpl(M1, "a.jpg");
	struct stat st;

	(void)state;
	assert_int_equal(fw_store_open(&s, path, 0), -ENOENT);
	assert_non_null(strstr(logbuf, path));
	assert_non_null(strstr(logbuf, "facectl enroll"));
	s = open_ok(path);
	add_ok(s, "alice", &t, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(at("state/facewatch/gallery.db-wal"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(at("state/facewatch"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	fw_store_close(s);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), FW_STORE_SCHEMA);
	assert_int_equal(sql_int(path, "PRAGMA application_id"), FW_STORE_APP_ID);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM crops"), 0); /* no image unless asked */
	{
		sqlite3 *db;
		sqlite3_stmt *st2;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st2, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st2), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st2, 0), "wal");
		sqlite3_finalize(st2);
		sqlite3_close(db);
	}
}

static void test_default_path(void **state)
{
	char buf[256];

	(void)state;
	setenv("STATE_DIRECTORY", "/var/lib/facewatch:/var/lib/other", 1);
	assert_int_equal(fw_store_default_path(buf, sizeof buf), 0);
	assert_string_equal(buf, "/var/lib/facewatch/gallery.db");
	unsetenv("STATE_DIRECTORY");
	setenv("XDG_STATE_HOME", "/home/u/.state", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(fw_store_default_path(buf, sizeof buf), 0);
	assert_string_equal(buf, "/home/u/.state/facewatch/gallery.db");
	setenv("XDG_STATE_HOME", "relative/ignored", 1); /* the XDG spec: absolute only */
	assert_int_equal(fw_store_default_path(buf, sizeof buf), 0);
	assert_string_equal(buf, "/home/u/.local/state/facewatch/gallery.db");
	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	assert_int_equal(fw_store_default_path(buf, sizeof buf), FW_EINVAL);
	assert_int_equal(fw_store_default_path(buf, 8), FW_EINVAL);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(fw_store_default_path(buf, 8), -ENAMETOOLONG);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(fw_store_name_valid("alice"), 0);
	assert_int_equal(fw_store_name_valid("Zoë Smith"), 0);
	assert_int_equal(fw_store_name_valid("李"), 0);
	assert_int_equal(fw_store_name_valid(""), FW_EINVAL);
	assert_int_equal(fw_store_name_valid("-x"), FW_EINVAL);
	assert_int_equal(fw_store_name_valid(" x"), FW_EINVAL);
	assert_int_equal(fw_store_name_valid("x "), FW_EINVAL);
	assert_int_equal(fw_store_name_valid("a/b"), FW_EINVAL);
	assert_int_equal(fw_store_name_valid("a\nb"), FW_EINVAL);
	assert_int_equal(fw_store_name_valid("\xc3"), FW_EINVAL);      /* cut UTF-8 */
	assert_int_equal(fw_store_name_valid("a\xff"), FW_EINVAL);
	assert_int_equal(fw_store_name_valid("0123456789012345678901234567890123456789012345678901234567890123"), 0);
	assert_int_equal(fw_store_name_valid("01234567890123456789012345678901234567890123456789012345678901234"),
			 FW_EINVAL);
}

static void test_enrol_list_forget_rename(void **state)
{
	struct fw_store *s = open_ok(at("g.db"));
	struct fw_store_template a[3], b[2], neg = tmpl(M1, "x.jpg");
	struct fw_store_identity *l;
	char sum[256];
	int n, added;
	static const char crop[] = "\xff\xd8 not really a jpeg \xff\xd9";

	(void)state;
	for (int i = 0; i < 3; i++)
		a[i] = tmpl(M1, "alice.jpg");
	for (int i = 0; i < 2; i++)
		b[i] = tmpl(M1, NULL);
	b[1].crop = crop;
	b[1].crop_len = sizeof crop;
	b[1].crop_format = "jpeg";
	add_ok(s, "alice", a, 3);
	add_ok(s, "bob", b, 2);
	/* the same photos again: nothing added */
	assert_int_equal(fw_store_add(s, "alice", a, 3, FW_STORE_ADD_CREATE, &added), 0);
	assert_int_equal(added, 0);
	/* `not` needs the identity */
	neg.negative = 1;
	assert_int_equal(fw_store_add(s, "nobody", &neg, 1, 0, &added), -ENOENT);
	assert_int_equal(fw_store_add(s, "alice", &neg, 1, 0, &added), 0);
	assert_int_equal(added, 1);
	/* a bad template or name is refused whole */
	{
		struct fw_store_template bad[2] = { tmpl(M1, NULL), tmpl(M1, NULL) };
		bad[1].emb[3] = NAN;
		assert_int_equal(fw_store_add(s, "carol", bad, 2, FW_STORE_ADD_CREATE, NULL), FW_EINVAL);
		bad[1] = tmpl("", NULL);
		assert_int_equal(fw_store_add(s, "carol", bad, 2, FW_STORE_ADD_CREATE, NULL), FW_EINVAL);
		assert_int_equal(fw_store_add(s, "-carol", bad, 1, FW_STORE_ADD_CREATE, NULL), FW_EINVAL);
	}
	summary(s, sum, sizeof sum);
	assert_string_equal(sum, "alice:3/1;bob:2/0;");
	assert_int_equal(fw_store_list(s, M1, &l, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(l[1].crops, 1);
	assert_int_equal(l[0].current, 3);
	assert_true(l[0].created > 1600000000 && l[0].updated >= l[0].created);
	fw_store_list_free(l);

	assert_int_equal(fw_store_rename(s, "alice", "carol"), 0);
	assert_int_equal(fw_store_rename(s, "carol", "bob"), -EEXIST);
	assert_int_equal(fw_store_rename(s, "alice", "dave"), -ENOENT);
	assert_int_equal(fw_store_rename(s, "carol", "a/b"), FW_EINVAL);
	assert_int_equal(fw_store_rename(s, "carol", "carol"), 0);
	assert_int_equal(fw_store_forget(s, "bob"), 0);
	assert_int_equal(fw_store_forget(s, "bob"), -ENOENT);
	summary(s, sum, sizeof sum);
	assert_string_equal(sum, "carol:3/1;");
	fw_store_close(s);
	/* forgetting removed bob's face crop and templates too */
	assert_int_equal(sql_int(at("g.db"), "SELECT count(*) FROM crops"), 0);
	assert_int_equal(sql_int(at("g.db"), "SELECT count(*) FROM templates"), 4);
}

static void test_generation_moves_on_change_only(void **state)
{
	struct fw_store *s = open_ok(at("g.db")), *other = open_ok(at("g.db"));
	struct fw_store_template t = tmpl(M1, NULL);
	struct fw_gallery *g;
	int64_t g0, g1, g2, seen;

	(void)state;
	assert_int_equal(fw_store_generation(s, &g0), 0);
	add_ok(s, "alice", &t, 1);
	assert_int_equal(fw_store_generation(s, &g1), 0);
	assert_true(g1 > g0);
	/* another connection (the daemon, while facectl writes) sees it */
	assert_int_equal(fw_store_generation(other, &seen), 0);
	assert_int_equal(seen, g1);
	/* reading, and changes that change nothing, do not move it */
	assert_int_equal(fw_store_load(other, M1, 0.55f, &g, NULL), 0);
	fw_gallery_free(g);
	assert_int_equal(fw_store_forget(other, "nobody"), -ENOENT);
	assert_int_equal(fw_store_rename(other, "alice", "alice"), 0);
	assert_int_equal(fw_store_generation(s, &g2), 0);
	assert_int_equal(g2, g1);
	assert_int_equal(fw_store_rename(other, "alice", "ann"), 0);
	assert_int_equal(fw_store_generation(s, &g2), 0);
	assert_true(g2 > g1);
	fw_store_close(other);
	fw_store_close(s);
}

static void test_load_matches_and_reports_model_change(void **state)
{
	struct fw_store *s = open_ok(at("g.db"));
	struct fw_store_template al[2] = { tmpl(M1, "al1.jpg"), tmpl(M1, "al2.jpg") };
	struct fw_store_template bo[2] = { tmpl(M1, "bo1.jpg"), tmpl(M2, "bo2.jpg") };
	struct fw_store_template ca = tmpl(M2, "ca.jpg"), neg = tmpl(M2, "neg.jpg");
	struct fw_store_report r;
	struct fw_gallery *g;
	struct fw_gallery_match m;
	char src[64];

	(void)state;
	add_ok(s, "alice", al, 2);
	add_ok(s, "bob", bo, 2);
	add_ok(s, "carol", &ca, 1);
	neg.negative = 1;
	assert_int_equal(fw_store_add(s, "alice", &neg, 1, 0, NULL), 0);

	/* with M1 everyone but carol */
	assert_int_equal(fw_store_load(s, M1, 0.55f, &g, &r), 0);
	assert_int_equal(r.identities, 3);
	assert_int_equal(r.templates, 3);
	assert_int_equal(r.negatives, 0);
	assert_int_equal(r.other_model, 3);
	assert_int_equal(r.n_stale, 1);
	assert_string_equal(r.stale[0], "carol");
	assert_int_equal(fw_gallery_match(g, al[1].emb, &m), 0);
	assert_string_equal(fw_gallery_name(g, m.identity), "alice");
	assert_true(m.accepted && m.similarity > 0.9999f);
	assert_int_equal(fw_store_template_source(s, fw_gallery_template_tag(g, m.template_index), src,
						  sizeof src), 0);
	assert_string_equal(src, "al2.jpg");
	assert_int_equal(fw_store_template_source(s, 999999, src, sizeof src), -ENOENT);
	fw_store_report_free(&r);
	fw_gallery_free(g);

	/* after a model change to M2: alice needs enrolling again, and her
	 * old templates are not matched (no garbage scores) */
	assert_int_equal(fw_store_load(s, M2, 0.55f, &g, &r), 0);
	assert_int_equal(r.templates, 2);
	assert_int_equal(r.negatives, 1);
	assert_int_equal(r.n_stale, 1);
	assert_string_equal(r.stale[0], "alice");
	assert_int_equal(fw_gallery_match(g, al[1].emb, &m), 0);
	assert_false(m.identity >= 0 && !strcmp(fw_gallery_name(g, m.identity), "alice"));
	assert_false(m.accepted);
	assert_int_equal(fw_gallery_match(g, ca.emb, &m), 0);
	assert_string_equal(fw_gallery_name(g, m.identity), "carol");
	{
		struct fw_store_identity *l;
		int n;
		assert_int_equal(fw_store_list(s, M2, &l, &n), 0);
		assert_int_equal(l[0].current, 0); /* alice */
		assert_int_equal(l[0].templates, 2);
		fw_store_list_free(l);
	}
	fw_store_report_free(&r);
	fw_gallery_free(g);
	fw_store_close(s);
}

static json_t *export_no_time(struct fw_store *s)
{
	json_t *doc;
	if (fw_store_export(s, &doc))
		fail_msg("%s", logbuf);
	json_object_del(doc, "exported");
	return doc;
}

static void test_export_import_round_trip(void **state)
{
	struct fw_store *a = open_ok(at("a.db")), *b = open_ok(at("b.db"));
	struct fw_store_template t[3] = { tmpl(M1, "x.jpg"), tmpl(M2, NULL), tmpl(M1, "y.png") };
	struct fw_store_import_result r;
	struct fw_gallery *ga, *gb;
	json_t *doc, *back, *again;
	char *text;
	char sa[128], sb[128];

	(void)state;
	t[0].time = 1700000000;
	t[0].quality = 0.8123f;
	t[2].negative = 1;
	add_ok(a, "alice", t, 2);
	assert_int_equal(fw_store_add(a, "alice", &t[2], 1, 0, NULL), 0);
	add_ok(a, "bob", &t[1], 1);
	doc = export_no_time(a);
	/* through text, as facectl writes it */
	text = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(9));
	back = json_loads(text, 0, NULL);
	assert_non_null(back);
	if (fw_store_import(b, back, "test.json", &r))
		fail_msg("%s", logbuf);
	assert_int_equal(r.identities_created, 2);
	assert_int_equal(r.templates_added, 4);
	assert_int_equal(r.duplicates, 0);
	again = export_no_time(b);
	assert_true(json_equal(doc, again));
	/* embeddings bit for bit: the same gallery matches the same way */
	assert_int_equal(fw_store_load(a, M1, 0.55f, &ga, NULL), 0);
	assert_int_equal(fw_store_load(b, M1, 0.55f, &gb, NULL), 0);
	{
		struct fw_gallery_match ma, mb;
		assert_int_equal(fw_gallery_match(ga, t[0].emb, &ma), 0);
		assert_int_equal(fw_gallery_match(gb, t[0].emb, &mb), 0);
		assert_true(ma.similarity == mb.similarity);
	}
	fw_gallery_free(ga);
	fw_gallery_free(gb);
	/* importing twice adds nothing */
	assert_int_equal(fw_store_import(b, back, "test.json", &r), 0);
	assert_int_equal(r.templates_added, 0);
	assert_int_equal(r.duplicates, 4);
	assert_int_equal(r.identities_created, 0);
	summary(a, sa, sizeof sa);
	summary(b, sb, sizeof sb);
	assert_string_equal(sa, sb);
	assert_string_equal(sa, "alice:2/1;bob:1/0;");
	free(text);
	json_decref(back);
	json_decref(again);

	/* a bad document is refused whole, naming the file and the member */
	{
		json_t *bad = json_deep_copy(doc);
		json_t *ids = json_object_get(bad, "identities");
		json_t *bobt = json_object_get(json_array_get(ids, 1), "templates");
		json_t *newid = json_pack("{s:s, s:[]}", "name", "zed", "templates");
		json_array_insert_new(ids, 0, newid); /* would be created first */
		json_array_remove(json_object_get(json_array_get(bobt, 0), "embedding"), 5);
		logbuf[0] = 0;
		assert_int_equal(fw_store_import(b, bad, "bad.json", &r), FW_EFORMAT);
		assert_non_null(strstr(logbuf, "bad.json"));
		assert_non_null(strstr(logbuf, "identities[2].templates[0].embedding"));
		summary(b, sb, sizeof sb);
		assert_string_equal(sb, "alice:2/1;bob:1/0;"); /* no zed */
		json_decref(bad);
	}
	{
		json_t *bad = json_deep_copy(doc);
		json_object_set_new(bad, "version", json_integer(2));
		assert_int_equal(fw_store_import(b, bad, "new.json", &r), FW_EVERSION);
		json_object_set_new(bad, "version", json_integer(1));
		json_object_set_new(bad, "embedding_dim", json_integer(128));
		assert_int_equal(fw_store_import(b, bad, "dim.json", &r), FW_EFORMAT);
		json_object_set_new(bad, "embedding_dim", json_integer(FW_EMBED_DIM));
		json_object_set_new(bad, "format", json_string("something"));
		assert_int_equal(fw_store_import(b, bad, "fmt.json", &r), FW_EFORMAT);
		json_decref(bad);
	}
	json_decref(doc);
	fw_store_close(a);
	fw_store_close(b);
}

static void test_damaged_or_foreign_file_is_refused(void **state)
{
	const char *path = at("g.db");
	struct fw_store *s = open_ok(path);
	struct fw_store_template t = tmpl(M1, NULL);
	char junk[100];
	int fd;

	(void)state;
	add_ok(s, "alice", &t, 1);
	fw_store_close(s);
	/* overwrite the header */
	memset(junk, 0x5a, sizeof junk);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
	close(fd);
	logbuf[0] = 0;
	s = NULL;
	assert_int_equal(fw_store_open(&s, path, FW_STORE_CREATE), FW_EFORMAT);
	assert_null(s);
	assert_non_null(strstr(logbuf, path));
	assert_non_null(strstr(logbuf, "damaged"));
	assert_non_null(strstr(logbuf, "facectl import"));

	/* another program's SQLite file is not touched */
	sql_exec(at("other.db"), "CREATE TABLE songs(title TEXT); INSERT INTO songs VALUES ('x')");
	logbuf[0] = 0;
	assert_int_equal(fw_store_open(&s, at("other.db"), FW_STORE_CREATE), FW_EFORMAT);
	assert_non_null(strstr(logbuf, "not a facewatch gallery"));
	assert_int_equal(sql_int(at("other.db"), "SELECT count(*) FROM sqlite_master"), 1);
	/* a text file */
	fd = open(at("notes.txt"), O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "hello, this is not a database at all, no sir\n", 45), 45);
	close(fd);
	assert_int_equal(fw_store_open(&s, at("notes.txt"), 0), FW_EFORMAT);
	/* a directory */
	assert_int_equal(fw_store_open(&s, dir, 0), FW_EINVAL);
}

static void test_newer_schema_is_refused(void **state)
{
	struct fw_store *s = open_ok(at("g.db"));

	(void)state;
	fw_store_close(s);
	sql_exec(at("g.db"), "PRAGMA user_version = 99");
	logbuf[0] = 0;
	assert_int_equal(fw_store_open(&s, at("g.db"), 0), FW_EVERSION);
	assert_non_null(strstr(logbuf, "newer facewatch"));
}

/* Version 1 as it was, written by hand: identities, templates without
 * `negative`, no crops or meta tables. */
static const char v1_schema[] =
	"PRAGMA application_id = 1180124977;"
	"CREATE TABLE identities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE templates (id INTEGER PRIMARY KEY,"
	"  identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,"
	"  embedding BLOB NOT NULL, model_id TEXT NOT NULL, quality REAL NOT NULL,"
	"  created INTEGER NOT NULL, source TEXT);"
	"INSERT INTO identities VALUES (1, 'alice', 1700000000), (2, 'bob', 1700000100);"
	"PRAGMA user_version = 1;";

static void test_migrates_version_1(void **state)
{
	const char *path = at("v1.db");
	struct fw_store_template t[3] = { tmpl(M1, "a.jpg"), tmpl(M1, "b.jpg"), tmpl(M1, NULL) };
	struct fw_store *s;
	struct fw_gallery *g;
	struct fw_gallery_match m;
	char sum[128];
	int64_t gen;
	sqlite3 *db;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(FW_STORE_APP_ID, 1180124977);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO templates(identity_id, embedding, model_id, "
					    "quality, created, source) VALUES (?, ?, ?, 0.7, 1700000200, ?)",
					    -1, &st, NULL), SQLITE_OK);
	for (int i = 0; i < 3; i++) {
		sqlite3_bind_int(st, 1, i < 2 ? 1 : 2);
		sqlite3_bind_blob(st, 2, t[i].emb, sizeof t[i].emb, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, M1, -1, SQLITE_STATIC);
		if (t[i].source)
			sqlite3_bind_text(st, 4, t[i].source, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 4);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);

	s = open_ok(path);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), FW_STORE_SCHEMA);
	summary(s, sum, sizeof sum);
	assert_string_equal(sum, "alice:2/0;bob:1/0;");
	assert_int_equal(fw_store_generation(s, &gen), 0);
	assert_true(gen >= 1);
	assert_int_equal(fw_store_load(s, M1, 0.55f, &g, NULL), 0);
	assert_int_equal(fw_gallery_match(g, t[1].emb, &m), 0);
	assert_string_equal(fw_gallery_name(g, m.identity), "alice");
	assert_true(m.similarity > 0.9999f);
	fw_gallery_free(g);
	/* what version 2 added works on the migrated file */
	t[2].negative = 1;
	assert_int_equal(fw_store_add(s, "alice", &t[2], 1, 0, NULL), 0);
	summary(s, sum, sizeof sum);
	assert_string_equal(sum, "alice:2/1;bob:1/0;");
	fw_store_close(s);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM pragma_integrity_check WHERE "
				       "integrity_check = 'ok'"), 1);
}

/* ---- crash safety ---- */

#define PER_ID 3

/* Enrol p00000, p00001, ... (PER_ID templates and crops each) forever. */
static void enrol_forever(const char *path)
{
	struct fw_store *s = NULL;
	struct fw_store_identity *l;
	static unsigned char crop[24000];
	int n;

	if (fw_store_open(&s, path, FW_STORE_CREATE) || fw_store_list(s, NULL, &l, &n))
		_exit(3);
	fw_store_list_free(l);
	tu_srand((unsigned long long)getpid());
	for (int k = n;; k++) {
		struct fw_store_template t[PER_ID];
		char name[16];
		snprintf(name, sizeof name, "p%05d", k);
		for (int i = 0; i < PER_ID; i++) {
			t[i] = tmpl(M1, name);
			t[i].crop = crop;
			t[i].crop_len = (size_t)tu_randi(1000, (int)sizeof crop);
			t[i].crop_format = "jpeg";
		}
		if (fw_store_add(s, name, t, PER_ID, FW_STORE_ADD_CREATE, NULL))
			_exit(4);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* The gallery opens, passes integrity_check and holds p00000..p(n-1), each
 * complete: n. */
static int check_complete(const char *path)
{
	struct fw_store *s = NULL;
	struct fw_store_identity *l;
	int n;

	assert_int_equal(fw_store_open(&s, path, 0), 0);
	assert_int_equal(fw_store_check(s), 0);
	assert_int_equal(fw_store_list(s, M1, &l, &n), 0);
	for (int i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof name, "p%05d", i);
		assert_string_equal(l[i].name, name);
		assert_int_equal(l[i].templates, PER_ID);
		assert_int_equal(l[i].crops, PER_ID);
	}
	fw_store_list_free(l);
	fw_store_close(s);
	return n;
}

static void test_kill9_while_enrolling(void **state)
{
	const char *path = at("g.db");
	int before = 0, kills = 0;

	(void)state;
	tu_srand(1234);
	for (int round = 0; round < 20; round++) {
		int status, n;
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			enrol_forever(path);
		sleep_ms(round == 0 ? 150 : tu_randi(2, 60));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			kills++;
		else
			fail_msg("the enrolling child exited by itself: status %d", status);
		n = check_complete(path);
		assert_true(n >= before); /* nothing committed was lost */
		before = n;
	}
	print_message("%d kills, %d complete enrolments survived\n", kills, before);
	assert_int_equal(kills, 20);
	assert_true(before > 20);
}

/* Two processes enrol at once, starting together on a file that does not
 * exist yet (both create it: the race `facectl enroll` x2 runs into), 8
 * times: every enrolment of both lands. */
static void test_two_processes_enrol_at_once(void **state)
{
	(void)state;
	for (int round = 0; round < 8; round++) {
		char rel[32];
		const char *path;
		pid_t pid[2];
		int go[2];
		struct fw_store *s;
		struct fw_store_identity *l;
		int n;

		snprintf(rel, sizeof rel, "new%d/g.db", round);
		path = at(rel);
		assert_int_equal(pipe(go), 0);
		for (int c = 0; c < 2; c++) {
			pid[c] = fork();
			assert_true(pid[c] >= 0);
			if (pid[c] == 0) {
				struct fw_store *cs = NULL;
				char byte;
				close(go[1]);
				fw_log_set_sink(NULL, NULL);
				tu_srand((unsigned long long)getpid());
				if (read(go[0], &byte, 1) != 0) /* EOF: the parent let go */
					_exit(2);
				if (fw_store_open(&cs, path, FW_STORE_CREATE))
					_exit(3);
				for (int k = 0; k < 10; k++) {
					struct fw_store_template t[2] = { tmpl(M1, NULL), tmpl(M1, NULL) };
					char name[16];
					snprintf(name, sizeof name, "%c%02d", c ? 'b' : 'a', k);
					if (fw_store_add(cs, name, t, 2, FW_STORE_ADD_CREATE, NULL))
						_exit(4);
				}
				fw_store_close(cs);
				_exit(0);
			}
		}
		close(go[0]);
		close(go[1]); /* both start now */
		for (int c = 0; c < 2; c++) {
			int status;
			assert_int_equal(waitpid(pid[c], &status, 0), pid[c]);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
		s = open_ok(path);
		assert_int_equal(fw_store_list(s, NULL, &l, &n), 0);
		assert_int_equal(n, 20);
		for (int i = 0; i < n; i++)
			assert_int_equal(l[i].templates, 2);
		fw_store_list_free(l);
		assert_int_equal(fw_store_check(s), 0);
		fw_store_close(s);
	}
}

/* ---- fault injection: SQLite's allocations ---- */

static sqlite3_mem_methods real_mem;
static volatile long mem_fail_at = -1;

static void *fault_malloc(int n)
{
	if (mem_fail_at >= 0 && mem_fail_at-- == 0)
		return NULL;
	return real_mem.xMalloc(n);
}

static void *fault_realloc(void *p, int n)
{
	if (mem_fail_at >= 0 && mem_fail_at-- == 0)
		return NULL;
	return real_mem.xRealloc(p, n);
}

/* One change, with the Nth allocation (N = 0, 1, ...) failing: an error
 * or success, never a crash; after an error the gallery (reopened) is what
 * it was before. */
static void fault_loop(const char *path, int (*change)(struct fw_store *s), const char *before,
		       const char *after, volatile long *fail_at, int *points)
{
	char sum[512];

	for (int n = 0;; n++) {
		struct fw_store *s = open_ok(path);
		int err;
		*fail_at = n;
		err = change(s);
		*fail_at = -1;
		fw_store_close(s);
		s = open_ok(path);
		assert_int_equal(fw_store_check(s), 0);
		summary(s, sum, sizeof sum);
		fw_store_close(s);
		if (!err) {
			assert_string_equal(sum, after);
			*points = n;
			return;
		}
		assert_string_equal(sum, before);
		assert_true(n < 100000);
	}
}

static struct fw_store_template fault_t[4];

static int change_add(struct fw_store *s)
{
	return fw_store_add(s, "carol", fault_t, 4, FW_STORE_ADD_CREATE, NULL);
}

static int change_forget(struct fw_store *s)
{
	return fw_store_forget(s, "alice");
}

static void test_allocation_failures(void **state)
{
	sqlite3_mem_methods m;
	const char *path = at("g.db");
	struct fw_store *s;
	struct fw_store_template a[2] = { tmpl(M1, NULL), tmpl(M1, NULL) };
	int points;

	(void)state;
	for (int i = 0; i < 4; i++)
		fault_t[i] = tmpl(M1, "c.jpg");
	s = open_ok(path);
	add_ok(s, "alice", a, 2);
	fw_store_close(s);

	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
	m = real_mem;
	m.xMalloc = fault_malloc;
	m.xRealloc = fault_realloc;
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);

	fault_loop(path, change_add, "alice:2/0;", "alice:2/0;carol:4/0;", &mem_fail_at, &points);
	print_message("add: %d allocation points\n", points);
	assert_true(points > 3);
	fault_loop(path, change_forget, "alice:2/0;carol:4/0;", "carol:4/0;", &mem_fail_at, &points);
	print_message("forget: %d allocation points\n", points);

	assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &real_mem), SQLITE_OK);
	assert_int_equal(sqlite3_initialize(), SQLITE_OK);
}

/* ---- fault injection: writes and syncs, through a VFS shim ---- */

struct shim_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static sqlite3_io_methods shim_io;
static volatile long io_fail_at = -1;
static volatile long io_calls;

static int io_fault(int code)
{
	io_calls++;
	if (io_fail_at >= 0 && io_fail_at-- == 0)
		return code;
	return SQLITE_OK;
}

#define REAL(f) (((struct shim_file *)(f))->real)

static int sh_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods->xClose(REAL(f));
	return rc;
}
static int sh_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int sh_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	int rc = io_fault(SQLITE_IOERR_WRITE);
	return rc ? rc : REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int sh_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int rc = io_fault(SQLITE_IOERR_TRUNCATE);
	return rc ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int sh_sync(sqlite3_file *f, int flags)
{
	int rc = io_fault(SQLITE_IOERR_FSYNC);
	return rc ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int sh_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int sh_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int sh_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int sh_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int sh_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int sh_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int sh_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int sh_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int sh_shmlock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void sh_shmbarrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int sh_shmunmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int sh_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	struct shim_file *sf = (struct shim_file *)f;
	int rc;

	(void)vfs;
	sf->real = (sqlite3_file *)(sf + 1);
	rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out);
	/* SQLite calls xClose only when pMethods is set */
	f->pMethods = sf->real->pMethods ? &shim_io : NULL;
	return rc;
}

static void shim_register(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	shim_vfs = *real_vfs;
	shim_vfs.zName = "fw-fault";
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
	shim_vfs.xOpen = sh_open;
	shim_io = (sqlite3_io_methods){
		.iVersion = 2,
		.xClose = sh_close, .xRead = sh_read, .xWrite = sh_write, .xTruncate = sh_truncate,
		.xSync = sh_sync, .xFileSize = sh_size, .xLock = sh_lock, .xUnlock = sh_unlock,
		.xCheckReservedLock = sh_reserved, .xFileControl = sh_fcntl,
		.xSectorSize = sh_sector, .xDeviceCharacteristics = sh_devchar,
		.xShmMap = sh_shmmap, .xShmLock = sh_shmlock, .xShmBarrier = sh_shmbarrier,
		.xShmUnmap = sh_shmunmap,
	};
	assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
}

static void test_io_failures(void **state)
{
	const char *path = at("g.db");
	struct fw_store *s;
	struct fw_store_template a[2] = { tmpl(M1, NULL), tmpl(M1, NULL) };
	int points;

	(void)state;
	for (int i = 0; i < 4; i++)
		fault_t[i] = tmpl(M1, "c.jpg");
	shim_register();
	s = open_ok(path);
	add_ok(s, "alice", a, 2);
	fw_store_close(s);
	fault_loop(path, change_add, "alice:2/0;", "alice:2/0;carol:4/0;", &io_fail_at, &points);
	print_message("add: %d write/sync points\n", points);
	assert_true(points >= 2);
	fault_loop(path, change_forget, "alice:2/0;carol:4/0;", "carol:4/0;", &io_fail_at, &points);
	print_message("forget: %d write/sync points\n", points);
	assert_int_equal(sqlite3_vfs_unregister(&shim_vfs), SQLITE_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_creates_a_private_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enrol_list_forget_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation_moves_on_change_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_matches_and_reports_model_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_import_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_or_foreign_file_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_version_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_while_enrolling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_processes_enrol_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocation_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_failures, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
