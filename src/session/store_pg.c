/* PostgreSQL backend (libpq): the same sessions table, so several csocks
 * nodes share one history.
 *
 * Differences from the SQLite schema are only in types: times are
 * TIMESTAMPTZ (read back as epoch microseconds, written as RFC 3339 text),
 * integers BIGINT, and "user" is quoted (a reserved word here).
 *
 * Every statement is parameterised (PQexecParams / PQsendQueryPrepared);
 * the UPSERT is a named prepared statement, re-prepared after a reconnect.
 * A batch is one explicit transaction whose rows travel in libpq pipeline
 * mode (one round trip per chunk, not per row). A lost connection is
 * re-established on the next call. */
#include "session/store_pg_internal.h"

#include "util/log.h"
#include "util/strutil.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per pipeline sync: keeps the unread results (about 20 bytes a row)
 * far below a socket buffer, so the blocking pipeline cannot deadlock. */
#define PIPELINE_CHUNK 500
#define UPSERT_NAME    "csocks_upsert"
#define UPSERT_PARAMS  19

static const char upsert_sql[] =
    "INSERT INTO sessions (session_id, \"user\", start_time, end_time, duration_secs, "
    "source_ip, source_port, dest_ip, dest_port, protocol, bytes_sent, bytes_received, "
    "packets_sent, packets_received, status, close_reason, acl_rule_matched, acl_decision, "
    "node) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
    "$17, $18, $19) ON CONFLICT (session_id) DO UPDATE SET \"user\" = excluded.\"user\", "
    "start_time = excluded.start_time, end_time = excluded.end_time, "
    "duration_secs = excluded.duration_secs, source_ip = excluded.source_ip, "
    "source_port = excluded.source_port, dest_ip = excluded.dest_ip, "
    "dest_port = excluded.dest_port, protocol = excluded.protocol, "
    "bytes_sent = excluded.bytes_sent, bytes_received = excluded.bytes_received, "
    "packets_sent = excluded.packets_sent, packets_received = excluded.packets_received, "
    "status = excluded.status, close_reason = excluded.close_reason, "
    "acl_rule_matched = excluded.acl_rule_matched, acl_decision = excluded.acl_decision, "
    "node = excluded.node "
    "WHERE sessions.status = 'active' OR excluded.status <> 'active'";

/* ---- Migrations (same numbering as SQLite) ---- */

static const char mig_v1[] =
    "CREATE TABLE IF NOT EXISTS sessions ("
    " session_id TEXT PRIMARY KEY,"
    " \"user\" TEXT NOT NULL,"
    " start_time TIMESTAMPTZ NOT NULL,"
    " end_time TIMESTAMPTZ,"
    " duration_secs BIGINT,"
    " source_ip TEXT NOT NULL,"
    " source_port INTEGER NOT NULL,"
    " dest_ip TEXT NOT NULL,"
    " dest_port INTEGER NOT NULL,"
    " protocol TEXT NOT NULL,"
    " bytes_sent BIGINT DEFAULT 0,"
    " bytes_received BIGINT DEFAULT 0,"
    " packets_sent BIGINT DEFAULT 0,"
    " packets_received BIGINT DEFAULT 0,"
    " status TEXT NOT NULL,"
    " close_reason TEXT,"
    " acl_rule_matched TEXT,"
    " acl_decision TEXT NOT NULL,"
    " created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions(\"user\");"
    "CREATE INDEX IF NOT EXISTS idx_sessions_start_time ON sessions(start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_dest_ip ON sessions(dest_ip);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_status ON sessions(status);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_start"
    " ON sessions(\"user\", start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_start_time_asc ON sessions(start_time ASC);";

static const char mig_v3[] = "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS node TEXT;";

static const struct {
	int version;
	const char *name;
	const char *sql;
} migrations[] = {
    {1, "sessions table (RustSocks 001)", mig_v1},
    {2, "sessions indexes (RustSocks 002, 005, 006)", store_migration_v2},
    {3, "csocks: node column", mig_v3},
};

/* Serialises migrations of nodes starting together: "csocks" in ASCII. */
#define MIGRATION_LOCK_KEY "99711511199107115"

/* ---- Errors ---- */

static int classify(struct pg_store *s, const PGresult *res)
{
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
		return STORE_ERR_CONN;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!state)
		return STORE_ERR_CONN; /* no result at all: the link broke */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strncmp(state, "53", 2) == 0 || strncmp(state, "58", 2) == 0)
		return STORE_ERR_CONN;
	if (strncmp(state, "40", 2) == 0 || strcmp(state, "55P03") == 0 ||
	    strcmp(state, "57014") == 0)
		return STORE_ERR_BUSY;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return STORE_ERR_DATA;
	return STORE_ERR_INTERNAL;
}

/* Server NOTICEs ("index ... does not exist, skipping") are not errors. */
static void notice_to_debug(void *arg, const char *msg)
{
	(void)arg;
	log_debug("postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* libpq messages end in a newline; fold them to one line. */
static void pg_message(struct pg_store *s, const PGresult *res, const char *what, char *err,
                       size_t errlen)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";
	if ((!msg || !*msg) && s->conn)
		msg = PQerrorMessage(s->conn);
	char line[512];
	cs_strlcpy(line, msg && *msg ? msg : "no response", sizeof(line));
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = *(p + 1) ? ' ' : '\0';
	store_set_err(err, errlen, "postgres %s: %s", what, line);
}

int pg_store_fail(struct pg_store *s, const PGresult *res, const char *what, char *err,
                  size_t errlen)
{
	pg_message(s, res, what, err, errlen);
	return classify(s, res);
}

/* ---- Connection ---- */

static void disconnect(struct pg_store *s)
{
	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
	s->prepared = false;
}

static int connect_db(struct pg_store *s, char *err, size_t errlen)
{
	disconnect(s);
	/* Defaults first, the URL last: libpq keeps the last value of a
	 * repeated keyword, so anything the URL sets wins. tcp_user_timeout
	 * and keepalives bound how long a dead server can hold a call. */
	const char *const keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
	                            "keepalives_interval", "keepalives_count", "tcp_user_timeout",
	                            "application_name",    "dbname",           NULL};
	const char *const vals[] = {"5", "1", "10", "5", "3", "15000", "csocks", s->url, NULL};
	s->conn = PQconnectdbParams(keys, vals, 1);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		pg_message(s, NULL, "connect", err, errlen);
		disconnect(s);
		return STORE_ERR_CONN;
	}
	PQsetNoticeProcessor(s->conn, notice_to_debug, NULL);
	PGresult *res = PQexec(s->conn, "SET TIME ZONE 'UTC'");
	int r = PQresultStatus(res) == PGRES_COMMAND_OK
	            ? STORE_OK
	            : pg_store_fail(s, res, "set time zone", err, errlen);
	PQclear(res);
	return r;
}

/* Reconnect when the previous call found the link dead. */
int pg_store_ensure_conn(struct pg_store *s, char *err, size_t errlen)
{
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		return STORE_OK;
	return connect_db(s, err, errlen);
}

static int pg_open(struct session_store *st, const char *url, int busy_ms, char *err, size_t errlen)
{
	(void)busy_ms;
	struct pg_store *s = xcalloc(1, sizeof(*s));
	st->impl = s;
	s->url = xstrdup(url);
	return connect_db(s, err, errlen);
}

static void pg_close(struct session_store *st)
{
	struct pg_store *s = st->impl;
	disconnect(s);
	if (s->url)
		explicit_bzero(s->url, strlen(s->url)); /* it may hold a password */
	free(s->url);
	free(s);
	st->impl = NULL;
}

static int pg_reconnect(struct session_store *st, char *err, size_t errlen)
{
	return connect_db(st->impl, err, errlen);
}

/* A command without parameters or rows. */
static int command(struct pg_store *s, const char *sql, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexec(s->conn, sql);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
	            ? STORE_OK
	            : pg_store_fail(s, res, what, err, errlen);
	PQclear(res);
	return r;
}

static void rollback(struct pg_store *s)
{
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK &&
	    PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* A parameterised statement; *out gets the result on success. */
int pg_store_params_exec(struct pg_store *s, const char *sql, int n, const char *const *vals,
                         PGresult **out, const char *what, char *err, size_t errlen)
{
	*out = NULL;
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, vals, NULL, NULL, 0);
	ExecStatusType t = PQresultStatus(res);
	if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) {
		*out = res;
		return STORE_OK;
	}
	int r = pg_store_fail(s, res, what, err, errlen);
	PQclear(res);
	return r;
}

/* ---- Migrations ---- */

static int read_version(struct pg_store *s, int *version, char *err, size_t errlen)
{
	PGresult *res;
	int r = pg_store_params_exec(
	    s, "SELECT COALESCE(MAX(version), 0) FROM csocks_schema_migrations", 0, NULL, &res,
	    "schema version", err, errlen);
	if (r == STORE_OK) {
		*version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return r;
}

static int pg_index_exists(struct session_store *st, const char *name, bool *yes, char *err,
                           size_t errlen)
{
	PGresult *res;
	const char *vals[] = {name};
	int r = pg_store_params_exec(st->impl,
	                             "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() "
	                             "AND indexname = $1",
	                             1, vals, &res, "index lookup", err, errlen);
	if (r == STORE_OK) {
		*yes = PQntuples(res) > 0;
		PQclear(res);
	}
	return r;
}

static int pg_index_exec(struct session_store *st, const char *sql, char *err, size_t errlen)
{
	return command(st->impl, sql, "index", err, errlen);
}

static const struct store_index_ops pg_index_ops = {pg_index_exists, pg_index_exec};

static int pg_migrate(struct session_store *st, char *err, size_t errlen)
{
	struct pg_store *s = st->impl;
	int r = pg_store_ensure_conn(s, err, errlen);
	if (r == STORE_OK)
		r = command(s,
		            "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ");"
		            "CREATE TABLE IF NOT EXISTS csocks_schema_migrations ("
		            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
		            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
		            "begin migration", err, errlen);
	int version = 0;
	if (r == STORE_OK)
		r = read_version(s, &version, err, errlen);
	if (r == STORE_OK)
		r = store_note_indexes(st, &pg_index_ops, err, errlen);
	if (r == STORE_OK && version > STORE_SCHEMA_LATEST) {
		store_set_err(err, errlen,
		              "postgres: schema version %d is newer than this csocks "
		              "knows (%d)",
		              version, STORE_SCHEMA_LATEST);
		r = STORE_ERR_INTERNAL;
	}
	for (size_t i = 0; r == STORE_OK && i < sizeof(migrations) / sizeof(migrations[0]); i++) {
		if (migrations[i].version <= version)
			continue;
		r = command(s, migrations[i].sql, migrations[i].name, err, errlen);
		char v[16];
		snprintf(v, sizeof(v), "%d", migrations[i].version);
		const char *vals[] = {v, migrations[i].name};
		PGresult *res = NULL;
		if (r == STORE_OK)
			r = pg_store_params_exec(
			    s,
			    "INSERT INTO csocks_schema_migrations (version, name) "
			    "VALUES ($1, $2)",
			    2, vals, &res, "record migration", err, errlen);
		PQclear(res);
		if (r == STORE_OK)
			log_info("sessions store postgres: applied migration %d (%s)",
			         migrations[i].version, migrations[i].name);
	}
	if (r == STORE_OK)
		r = store_apply_index_set(st, &pg_index_ops, err, errlen);
	if (r == STORE_OK)
		r = command(s, "COMMIT", "commit migration", err, errlen);
	if (r != STORE_OK)
		rollback(s);
	return r;
}

static int pg_schema_version(struct session_store *st, int *version, char *err, size_t errlen)
{
	struct pg_store *s = st->impl;
	int r = pg_store_ensure_conn(s, err, errlen);
	return r == STORE_OK ? read_version(s, version, err, errlen) : r;
}

/* ---- Writes ---- */

/* Text parameters of one record; buffers live in bufs. */
struct upsert_args {
	const char *v[UPSERT_PARAMS];
	char start[SESSION_TIME_MAX], end[SESSION_TIME_MAX];
	char num[7][24];
};

static void record_args(const struct session_record *r, const char *node, struct upsert_args *a)
{
	session_time_format(r->start_us, a->start, sizeof(a->start));
	if (r->end_us)
		session_time_format(r->end_us, a->end, sizeof(a->end));
	snprintf(a->num[0], sizeof(a->num[0]), "%" PRId64, r->duration_secs);
	snprintf(a->num[1], sizeof(a->num[1]), "%u", (unsigned)r->source_port);
	snprintf(a->num[2], sizeof(a->num[2]), "%u", (unsigned)r->dest_port);
	snprintf(a->num[3], sizeof(a->num[3]), "%" PRId64, (int64_t)r->bytes_sent);
	snprintf(a->num[4], sizeof(a->num[4]), "%" PRId64, (int64_t)r->bytes_received);
	snprintf(a->num[5], sizeof(a->num[5]), "%" PRId64, (int64_t)r->packets_sent);
	snprintf(a->num[6], sizeof(a->num[6]), "%" PRId64, (int64_t)r->packets_received);
	const char *v[UPSERT_PARAMS] = {
	    r->session_id,
	    r->user ? r->user : "",
	    a->start,
	    r->end_us ? a->end : NULL,
	    r->duration_secs >= 0 ? a->num[0] : NULL,
	    r->source_ip,
	    a->num[1],
	    r->dest_ip ? r->dest_ip : "",
	    a->num[2],
	    session_protocol_name(r->protocol),
	    a->num[3],
	    a->num[4],
	    a->num[5],
	    a->num[6],
	    session_status_name(r->status),
	    r->close_reason,
	    r->acl_rule_matched,
	    r->acl_decision ? r->acl_decision : "",
	    node,
	};
	memcpy(a->v, v, sizeof(v));
}

static int prepare_upsert(struct pg_store *s, char *err, size_t errlen)
{
	if (s->prepared)
		return STORE_OK;
	PGresult *res = PQprepare(s->conn, UPSERT_NAME, upsert_sql, UPSERT_PARAMS, NULL);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK
	            ? STORE_OK
	            : pg_store_fail(s, res, "prepare upsert", err, errlen);
	PQclear(res);
	s->prepared = r == STORE_OK;
	return r;
}

/* Read the results of k queued upserts and the sync that follows them. */
static int drain_chunk(struct pg_store *s, size_t k, char *err, size_t errlen)
{
	int r = STORE_OK;
	for (size_t i = 0; i < k; i++) {
		PGresult *res = PQgetResult(s->conn);
		if (!res)
			return r != STORE_OK ? r : pg_store_fail(s, NULL, "upsert", err, errlen);
		ExecStatusType t = PQresultStatus(res);
		if (t != PGRES_COMMAND_OK && t != PGRES_PIPELINE_ABORTED && r == STORE_OK)
			r = pg_store_fail(s, res, "upsert", err, errlen);
		PQclear(res);
		res = PQgetResult(s->conn); /* NULL ends each query's results */
		PQclear(res);
	}
	PGresult *sync = PQgetResult(s->conn);
	if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
		if (r == STORE_OK)
			r = pg_store_fail(s, sync, "pipeline sync", err, errlen);
	}
	PQclear(sync);
	return r;
}

static int send_chunk(struct pg_store *s, const struct session_record *const *recs, size_t n,
                      const char *node, char *err, size_t errlen)
{
	struct upsert_args a;
	for (size_t i = 0; i < n; i++) {
		record_args(recs[i], node, &a);
		if (!PQsendQueryPrepared(s->conn, UPSERT_NAME, UPSERT_PARAMS, a.v, NULL, NULL, 0))
			return pg_store_fail(s, NULL, "send upsert", err, errlen);
	}
	if (!PQpipelineSync(s->conn))
		return pg_store_fail(s, NULL, "pipeline sync", err, errlen);
	return drain_chunk(s, n, err, errlen);
}

static int pg_write_batch(struct session_store *st, const struct session_record *const *recs,
                          size_t n, char *err, size_t errlen)
{
	struct pg_store *s = st->impl;
	int r = pg_store_ensure_conn(s, err, errlen);
	if (r == STORE_OK)
		r = prepare_upsert(s, err, errlen);
	if (r == STORE_OK)
		r = command(s, "BEGIN", "begin", err, errlen);
	if (r != STORE_OK)
		return r;
	if (!PQenterPipelineMode(s->conn))
		r = pg_store_fail(s, NULL, "enter pipeline mode", err, errlen);
	for (size_t off = 0; r == STORE_OK && off < n; off += PIPELINE_CHUNK) {
		size_t k = n - off < PIPELINE_CHUNK ? n - off : PIPELINE_CHUNK;
		r = send_chunk(s, recs + off, k, st->node, err, errlen);
	}
	if (PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(s->conn)) {
		/* results still queued: only when the link broke mid-way */
		if (r == STORE_OK)
			r = pg_store_fail(s, NULL, "exit pipeline mode", err, errlen);
		disconnect(s);
		return r == STORE_ERR_CONN ? r : STORE_ERR_CONN;
	}
	if (r == STORE_OK)
		r = command(s, "COMMIT", "commit", err, errlen);
	if (r != STORE_OK)
		rollback(s);
	return r;
}

static int changed_rows(struct pg_store *s, const char *sql, int n, const char *const *vals,
                        uint64_t *changed, const char *what, char *err, size_t errlen)
{
	int r = pg_store_ensure_conn(s, err, errlen);
	PGresult *res = NULL;
	if (r == STORE_OK)
		r = pg_store_params_exec(s, sql, n, vals, &res, what, err, errlen);
	if (r == STORE_OK)
		*changed = strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return r;
}

static int pg_close_stale(struct session_store *st, int64_t now_us, uint64_t *closed, char *err,
                          size_t errlen)
{
	char now[SESSION_TIME_MAX];
	session_time_format(now_us, now, sizeof(now));
	const char *vals[] = {now, SESSION_STALE_CLOSE_REASON, st->node};
	return changed_rows(st->impl,
	                    "UPDATE sessions SET status = 'closed', close_reason = $2, "
	                    "end_time = $1::timestamptz, duration_secs = GREATEST(0, "
	                    "floor(EXTRACT(EPOCH FROM ($1::timestamptz - start_time))))::bigint "
	                    "WHERE status = 'active' AND (node = $3 OR node IS NULL)",
	                    3, vals, closed, "close stale sessions", err, errlen);
}

static int pg_delete_older_than(struct session_store *st, int64_t cutoff_us, uint32_t limit,
                                uint64_t *deleted, char *err, size_t errlen)
{
	char cutoff[SESSION_TIME_MAX], lim[16];
	session_time_format(cutoff_us, cutoff, sizeof(cutoff));
	snprintf(lim, sizeof(lim), "%u", limit);
	const char *vals[] = {cutoff, limit ? lim : NULL}; /* LIMIT NULL = no limit */
	return changed_rows(st->impl,
	                    "DELETE FROM sessions WHERE ctid IN (SELECT ctid FROM sessions "
	                    "WHERE start_time < $1::timestamptz AND status <> 'active' "
	                    "LIMIT $2::bigint)",
	                    2, vals, deleted, "retention delete", err, errlen);
}

const struct store_ops store_pg_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .reconnect = pg_reconnect,
    .migrate = pg_migrate,
    .schema_version = pg_schema_version,
    .write_batch = pg_write_batch,
    .close_stale = pg_close_stale,
    .delete_older_than = pg_delete_older_than,
    .query = pg_store_query,
    .get = pg_store_get,
    .count = pg_store_count,
    .stats = pg_store_stats,
};
