/* SQLite backend: RustSocks' sessions table in one file, WAL mode.
 *
 * Times are TEXT in RustSocks' format (session_time_format), so text
 * comparison orders them; integers are SQLite INTEGER (signed 64-bit).
 * Statements are prepared once per connection and cached: the UPSERT and
 * the fixed queries at open, the history queries lazily per
 * (filter set, sort column, direction). */
#include "session/store_sqlite_internal.h"

#include "util/log.h"
#include "util/strutil.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const fixed_sql[ST_FIXED_COUNT] = {
    [ST_UPSERT] = "INSERT INTO sessions (" COLUMNS ", node) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                  "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) "
                  "ON CONFLICT(session_id) DO UPDATE SET \"user\" = excluded.\"user\", "
                  "start_time = excluded.start_time, end_time = excluded.end_time, "
                  "duration_secs = excluded.duration_secs, source_ip = excluded.source_ip, "
                  "source_port = excluded.source_port, dest_ip = excluded.dest_ip, "
                  "dest_port = excluded.dest_port, protocol = excluded.protocol, "
                  "bytes_sent = excluded.bytes_sent, bytes_received = excluded.bytes_received, "
                  "packets_sent = excluded.packets_sent, "
                  "packets_received = excluded.packets_received, status = excluded.status, "
                  "close_reason = excluded.close_reason, "
                  "acl_rule_matched = excluded.acl_rule_matched, "
                  "acl_decision = excluded.acl_decision, node = excluded.node "
                  /* a finished row never goes back to active */
                  "WHERE sessions.status = 'active' OR excluded.status <> 'active'",
    [ST_GET] = "SELECT " COLUMNS ", node FROM sessions WHERE session_id = ?1",
    [ST_COUNT] = "SELECT COALESCE(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0), "
                 "COUNT(*) FROM sessions",
    [ST_CLOSE_STALE] = "UPDATE sessions SET status = 'closed', close_reason = ?2, "
                       "end_time = ?1, duration_secs = MAX(0, CAST((julianday(?1) - "
                       "julianday(start_time)) * 86400 AS INTEGER)) "
                       "WHERE status = 'active' AND (node = ?3 OR node IS NULL)",
    /* LIMIT -1 = no limit */
    [ST_DELETE_OLD] = "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions "
                      "WHERE start_time < ?1 AND status <> 'active' LIMIT ?2)",
    [ST_STATS_TOTALS] =
        "SELECT COUNT(*), COALESCE(SUM(bytes_sent), 0), COALESCE(SUM(bytes_received), 0), "
        "COALESCE(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN status = 'closed' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN status = 'rejected_by_acl' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN acl_decision = 'allow' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN acl_decision = 'block' THEN 1 ELSE 0 END), 0) "
        "FROM sessions WHERE start_time >= ?1",
    [ST_STATS_USERS] = "SELECT \"user\", COUNT(*) AS n, COALESCE(SUM(bytes_sent), 0), "
                       "COALESCE(SUM(bytes_received), 0) FROM sessions "
                       "WHERE start_time >= ?1 GROUP BY \"user\" ORDER BY n DESC, \"user\" "
                       "LIMIT 10",
    [ST_STATS_DESTS] = "SELECT dest_ip, dest_port, COUNT(*) AS n, "
                       "COALESCE(SUM(bytes_sent), 0), COALESCE(SUM(bytes_received), 0) "
                       "FROM sessions WHERE start_time >= ?1 GROUP BY dest_ip, dest_port "
                       "ORDER BY n DESC, dest_ip, dest_port LIMIT 10",
};

/* ---- Migrations. Version 1 and 2 are RustSocks' sessions schema
 * (its migrations 001, 002, 005, 006), version 3 is csocks' node column. ---- */

static const char mig_v1[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " session_id TEXT PRIMARY KEY,"
    " user TEXT NOT NULL,"
    " start_time TEXT NOT NULL,"
    " end_time TEXT,"
    " duration_secs INTEGER,"
    " source_ip TEXT NOT NULL,"
    " source_port INTEGER NOT NULL,"
    " dest_ip TEXT NOT NULL,"
    " dest_port INTEGER NOT NULL,"
    " protocol TEXT NOT NULL,"
    " bytes_sent INTEGER DEFAULT 0,"
    " bytes_received INTEGER DEFAULT 0,"
    " packets_sent INTEGER DEFAULT 0,"
    " packets_received INTEGER DEFAULT 0,"
    " status TEXT NOT NULL,"
    " close_reason TEXT,"
    " acl_rule_matched TEXT,"
    " acl_decision TEXT NOT NULL,"
    " created_at TEXT DEFAULT CURRENT_TIMESTAMP);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions(user);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_start_time ON sessions(start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_dest_ip ON sessions(dest_ip);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_status ON sessions(status);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_start ON sessions(user, start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_start_time_asc ON sessions(start_time ASC);";

/* v3 adds a column; SQLite has no ADD COLUMN IF NOT EXISTS, see migrate(). */
static const char mig_v3[] = "ALTER TABLE sessions ADD COLUMN node TEXT;";

static const struct {
	int version;
	const char *name;
	const char *sql;
} migrations[] = {
    {1, "sessions table (RustSocks 001)", mig_v1},
    {2, "sessions indexes (RustSocks 002, 005, 006)", store_migration_v2},
    {3, "csocks: node column", mig_v3},
};

/* ---- Errors ---- */

static int classify(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return STORE_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_ERR_BUSY;
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_FULL:
	case SQLITE_NOMEM:
	case SQLITE_PROTOCOL:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_PERM:
	case SQLITE_NOLFS:
		return STORE_ERR_CONN;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return STORE_ERR_DATA;
	default:
		return STORE_ERR_INTERNAL;
	}
}

int sqlite_store_fail(struct sqlite_store *s, int rc, const char *what, char *err, size_t errlen)
{
	store_set_err(err, errlen, "sqlite %s (%s): %s", what, s->path,
	              s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	int r = classify(rc);
	return r == STORE_OK ? STORE_ERR_INTERNAL : r;
}

static int exec(struct sqlite_store *s, const char *sql, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? STORE_OK : sqlite_store_fail(s, rc, what, err, errlen);
}

static void rollback(struct sqlite_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- Connection ---- */

static void finalize_all(struct sqlite_store *s)
{
	for (int i = 0; i < ST_FIXED_COUNT; i++) {
		sqlite3_finalize(s->fixed[i]);
		s->fixed[i] = NULL;
	}
	for (int f = 0; f < FILTER_SETS; f++) {
		sqlite3_finalize(s->total[f]);
		s->total[f] = NULL;
		for (int c = 0; c < SESSION_SORT_COUNT; c++) {
			for (int d = 0; d < 2; d++) {
				sqlite3_finalize(s->page[f][c][d]);
				s->page[f][c][d] = NULL;
			}
		}
	}
}

static void disconnect(struct sqlite_store *s)
{
	finalize_all(s);
	if (s->db)
		sqlite3_close_v2(s->db);
	s->db = NULL;
}

/* Once per process, before SQLite's first use: no global memory statistics
 * (they take a global mutex on every malloc and free; csocks never reads
 * them). */
static void sqlite_global_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_initialize();
}

static int connect_db(struct sqlite_store *s, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_global_init);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(s->path, &s->db, flags, NULL);
	if (rc != SQLITE_OK)
		return sqlite_store_fail(s, rc, "open", err, errlen);
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, s->busy_ms);
	int r = exec(s, "PRAGMA journal_mode = WAL", "PRAGMA journal_mode", err, errlen);
	if (r == STORE_OK)
		r = exec(s, "PRAGMA synchronous = NORMAL", "PRAGMA synchronous", err, errlen);
	/* Every row goes into 5 indexes (17 with sessions.rustsocks_indexes),
	 * so one batch dirties many pages: a 16 MB page cache and a 16 MB WAL
	 * between checkpoints (fewer fsyncs) measured about 1.5x the default
	 * rate with RustSocks' indexes (docs/sessions.md). */
	if (r == STORE_OK)
		r = exec(s, "PRAGMA cache_size = -16000; PRAGMA wal_autocheckpoint = 4000",
		         "PRAGMA cache_size", err, errlen);
	return r;
}

/* The fixed statements need the table, so they are prepared lazily. */
int sqlite_store_stmt(struct sqlite_store *s, int which, sqlite3_stmt **out, char *err,
                      size_t errlen)
{
	if (!s->fixed[which]) {
		int rc = sqlite3_prepare_v3(s->db, fixed_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
		                            &s->fixed[which], NULL);
		if (rc != SQLITE_OK)
			return sqlite_store_fail(s, rc, "prepare", err, errlen);
	}
	*out = s->fixed[which];
	sqlite3_reset(*out);
	sqlite3_clear_bindings(*out);
	return STORE_OK;
}

/* "sqlite://path", "sqlite:path", "sqlite::memory:"; a "?query" is ignored
 * (sqlx options such as ?mode=rwc). */
static char *url_path(const char *url)
{
	const char *p = url + strlen("sqlite:");
	if (strncmp(p, "//", 2) == 0)
		p += 2;
	size_t n = strcspn(p, "?");
	return xstrndup(p, n);
}

static int sq_open(struct session_store *st, const char *url, int busy_ms, char *err, size_t errlen)
{
	struct sqlite_store *s = xcalloc(1, sizeof(*s));
	st->impl = s;
	s->path = url_path(url);
	s->busy_ms = busy_ms;
	if (!s->path[0]) {
		store_set_err(err, errlen, "sessions.database_url \"%s\": no file path", url);
		return STORE_ERR_INTERNAL;
	}
	return connect_db(s, err, errlen);
}

static void sq_close(struct session_store *st)
{
	struct sqlite_store *s = st->impl;
	/* SQLite's advice for connections that live long and then close:
	 * refresh the planner statistics the queries have shown a need for;
	 * analysis_limit bounds the work, so shutdown stays quick on big tables. */
	if (s->db)
		sqlite3_exec(s->db, "PRAGMA analysis_limit = 1000; PRAGMA optimize", NULL, NULL,
		             NULL);
	disconnect(s);
	free(s->path);
	free(s);
	st->impl = NULL;
}

static int sq_migrate(struct session_store *st, char *err, size_t errlen);

static int sq_reconnect(struct session_store *st, char *err, size_t errlen)
{
	struct sqlite_store *s = st->impl;
	if (strcmp(s->path, ":memory:") == 0)
		return STORE_OK; /* reopening would lose the data */
	disconnect(s);
	int rc = connect_db(s, err, errlen);
	return rc == STORE_OK ? sq_migrate(st, err, errlen) : rc;
}

/* ---- Migrations ---- */

static int current_version(struct sqlite_store *s, int *version, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(
	    s->db, "SELECT COALESCE(MAX(version), 0) FROM csocks_schema_migrations", -1, &q, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			*version = sqlite3_column_int(q, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_OK ? STORE_OK : sqlite_store_fail(s, rc, "schema version", err, errlen);
}

static bool column_exists(struct sqlite_store *s, const char *table, const char *col)
{
	sqlite3_stmt *q = NULL;
	bool found = false;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &q,
	                       NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, col, -1, SQLITE_STATIC);
		found = sqlite3_step(q) == SQLITE_ROW;
	}
	sqlite3_finalize(q);
	return found;
}

static int apply_migration(struct sqlite_store *s, size_t i, char *err, size_t errlen)
{
	int r = STORE_OK;
	if (migrations[i].version != 3 || !column_exists(s, "sessions", "node"))
		r = exec(s, migrations[i].sql, migrations[i].name, err, errlen);
	if (r != STORE_OK)
		return r;
	sqlite3_stmt *q = NULL;
	int rc =
	    sqlite3_prepare_v2(s->db,
	                       "INSERT INTO csocks_schema_migrations (version, name, applied_at) "
	                       "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
	                       -1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int(q, 1, migrations[i].version);
		sqlite3_bind_text(q, 2, migrations[i].name, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_OK ? STORE_OK
	                       : sqlite_store_fail(s, rc, "record migration", err, errlen);
}

static int sq_index_exists(struct session_store *st, const char *name, bool *yes, char *err,
                           size_t errlen)
{
	struct sqlite_store *s = st->impl;
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(
	    s->db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1", -1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		*yes = rc == SQLITE_ROW;
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_OK ? STORE_OK : sqlite_store_fail(s, rc, "index lookup", err, errlen);
}

static int sq_index_exec(struct session_store *st, const char *sql, char *err, size_t errlen)
{
	return exec(st->impl, sql, "index", err, errlen);
}

static const struct store_index_ops sq_index_ops = {sq_index_exists, sq_index_exec};

static int sq_migrate(struct session_store *st, char *err, size_t errlen)
{
	struct sqlite_store *s = st->impl;
	int r = exec(s,
	             "CREATE TABLE IF NOT EXISTS csocks_schema_migrations ("
	             " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
	             "create csocks_schema_migrations", err, errlen);
	if (r == STORE_OK)
		r = exec(s, "BEGIN IMMEDIATE", "begin migration", err, errlen);
	if (r != STORE_OK)
		return r;
	int version = 0;
	r = current_version(s, &version, err, errlen);
	if (r == STORE_OK && version > STORE_SCHEMA_LATEST) {
		store_set_err(err, errlen,
		              "%s: schema version %d is newer than this csocks knows (%d)", s->path,
		              version, STORE_SCHEMA_LATEST);
		r = STORE_ERR_INTERNAL;
	}
	if (r == STORE_OK)
		r = store_note_indexes(st, &sq_index_ops, err, errlen);
	for (size_t i = 0; r == STORE_OK && i < sizeof(migrations) / sizeof(migrations[0]); i++) {
		if (migrations[i].version <= version)
			continue;
		r = apply_migration(s, i, err, errlen);
		if (r == STORE_OK)
			log_info("sessions store %s: applied migration %d (%s)", s->path,
			         migrations[i].version, migrations[i].name);
	}
	if (r == STORE_OK)
		r = store_apply_index_set(st, &sq_index_ops, err, errlen);
	if (r == STORE_OK)
		r = exec(s, "COMMIT", "commit migration", err, errlen);
	if (r != STORE_OK)
		rollback(s);
	return r;
}

static int sq_schema_version(struct session_store *st, int *version, char *err, size_t errlen)
{
	return current_version(st->impl, version, err, errlen);
}

/* ---- Writes ---- */

static void bind_text_or_null(sqlite3_stmt *q, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

static void bind_record(sqlite3_stmt *q, const struct session_record *r, const char *node)
{
	char start[SESSION_TIME_MAX], end[SESSION_TIME_MAX];
	session_time_format(r->start_us, start, sizeof(start));
	sqlite3_bind_text(q, 1, r->session_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, r->user ? r->user : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, start, -1, SQLITE_TRANSIENT);
	if (r->end_us) {
		session_time_format(r->end_us, end, sizeof(end));
		sqlite3_bind_text(q, 4, end, -1, SQLITE_TRANSIENT);
	}
	if (r->duration_secs >= 0)
		sqlite3_bind_int64(q, 5, r->duration_secs);
	sqlite3_bind_text(q, 6, r->source_ip, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 7, r->source_port);
	sqlite3_bind_text(q, 8, r->dest_ip ? r->dest_ip : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 9, r->dest_port);
	sqlite3_bind_text(q, 10, session_protocol_name(r->protocol), -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 11, (sqlite3_int64)r->bytes_sent);
	sqlite3_bind_int64(q, 12, (sqlite3_int64)r->bytes_received);
	sqlite3_bind_int64(q, 13, (sqlite3_int64)r->packets_sent);
	sqlite3_bind_int64(q, 14, (sqlite3_int64)r->packets_received);
	sqlite3_bind_text(q, 15, session_status_name(r->status), -1, SQLITE_STATIC);
	bind_text_or_null(q, 16, r->close_reason);
	bind_text_or_null(q, 17, r->acl_rule_matched);
	sqlite3_bind_text(q, 18, r->acl_decision ? r->acl_decision : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 19, node, -1, SQLITE_STATIC);
}

static int sq_write_batch(struct session_store *st, const struct session_record *const *recs,
                          size_t n, char *err, size_t errlen)
{
	struct sqlite_store *s = st->impl;
	sqlite3_stmt *q;
	int r = sqlite_store_stmt(s, ST_UPSERT, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	/* IMMEDIATE: take the write lock up front, so "database is locked"
	 * shows here rather than half way through the batch. */
	r = exec(s, "BEGIN IMMEDIATE", "begin", err, errlen);
	for (size_t i = 0; r == STORE_OK && i < n; i++) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		bind_record(q, recs[i], st->node);
		int rc = sqlite3_step(q);
		if (rc != SQLITE_DONE)
			r = sqlite_store_fail(s, rc, "upsert", err, errlen);
	}
	sqlite3_reset(q);
	if (r == STORE_OK)
		r = exec(s, "COMMIT", "commit", err, errlen);
	if (r != STORE_OK)
		rollback(s);
	return r;
}

static int run_update(struct sqlite_store *s, sqlite3_stmt *q, uint64_t *changed, const char *what,
                      char *err, size_t errlen)
{
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return sqlite_store_fail(s, rc, what, err, errlen);
	*changed = (uint64_t)sqlite3_changes64(s->db);
	return STORE_OK;
}

static int sq_close_stale(struct session_store *st, int64_t now_us, uint64_t *closed, char *err,
                          size_t errlen)
{
	struct sqlite_store *s = st->impl;
	sqlite3_stmt *q;
	char now[SESSION_TIME_MAX];
	int r = sqlite_store_stmt(s, ST_CLOSE_STALE, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	session_time_format(now_us, now, sizeof(now));
	sqlite3_bind_text(q, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, SESSION_STALE_CLOSE_REASON, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, st->node, -1, SQLITE_STATIC);
	return run_update(s, q, closed, "close stale sessions", err, errlen);
}

static int sq_delete_older_than(struct session_store *st, int64_t cutoff_us, uint32_t limit,
                                uint64_t *deleted, char *err, size_t errlen)
{
	struct sqlite_store *s = st->impl;
	sqlite3_stmt *q;
	char cutoff[SESSION_TIME_MAX];
	int r = sqlite_store_stmt(s, ST_DELETE_OLD, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	session_time_format(cutoff_us, cutoff, sizeof(cutoff));
	sqlite3_bind_text(q, 1, cutoff, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, limit ? (sqlite3_int64)limit : -1);
	return run_update(s, q, deleted, "retention delete", err, errlen);
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .reconnect = sq_reconnect,
    .migrate = sq_migrate,
    .schema_version = sq_schema_version,
    .write_batch = sq_write_batch,
    .close_stale = sq_close_stale,
    .delete_older_than = sq_delete_older_than,
    .query = sqlite_store_query,
    .get = sqlite_store_get,
    .count = sqlite_store_count,
    .stats = sqlite_store_stats,
};
