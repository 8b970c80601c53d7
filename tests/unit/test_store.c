/* Session store and batch writer, against real databases: SQLite files in a
 * temporary directory, PostgreSQL when CSOCKS_TEST_PG_URL is set
 * (scripts/pg-test.sh start prints one) and MariaDB when
 * CSOCKS_TEST_MYSQL_URL is set (scripts/mariadb-test.sh start). Without
 * them those cases are reported as skipped, not passed (failed when
 * CSOCKS_TEST_REQUIRE_PG / _MYSQL = 1: the test runner started a server).
 *
 * Timing checks are bounded and tolerant: "arrives within seconds", and
 * "has not arrived yet" only where lateness cannot make it fail. */
#include "test.h"

#include "config/config.h"
#include "session/metrics_store.h"
#include "session/session_writer.h"
#include "session/store.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <libpq-fe.h>
#include <mysql.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct backend {
	const char *name;
	enum session_storage storage;
	char url[600];
	char path[512]; /* SQLite file */
};

static char tmpdir[] = "/tmp/csocks-store-XXXXXX";
static const char *pg_url;
static const char *my_url;     /* mysql://user:pass@host:port/db */
static struct backend *be;     /* the backend the current case runs on */
static bool rustsocks_indexes; /* open_store() keeps all of RustSocks' indexes */

#define HOUR_US (3600LL * 1000000)
#define DAY_US  (24 * HOUR_US)

/* ---- helpers ---- */

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void pg_exec(const char *sql)
{
	PGconn *c = PQconnectdb(pg_url);
	PQsetNoticeProcessor(c, quiet, NULL);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pg: %s", PQerrorMessage(c));
	} else {
		PGresult *r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
			fprintf(stderr, "pg: %s: %s", sql, PQresultErrorMessage(r));
		PQclear(r);
	}
	PQfinish(c);
}

/* A connection from my_url (the test's own, simple parse). */
static MYSQL *my_connect(void)
{
	char user[64] = "", pass[64] = "", host[128] = "", db[64] = "";
	unsigned port = 3306;
	if (!my_url || sscanf(strstr(my_url, "://") + 3, "%63[^:]:%63[^@]@%127[^:]:%u/%63[^?]",
	                      user, pass, host, &port, db) != 5) {
		fprintf(stderr, "mysql: cannot parse %s\n", my_url ? my_url : "(none)");
		return NULL;
	}
	MYSQL *c = mysql_init(NULL);
	if (c && !mysql_real_connect(c, host, user, pass, db, port, NULL, 0)) {
		fprintf(stderr, "mysql: %s\n", mysql_error(c));
		mysql_close(c);
		return NULL;
	}
	mysql_query(c, "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), "
	               "'ANSI_QUOTES')");
	return c;
}

static void my_exec(const char *sql)
{
	MYSQL *c = my_connect();
	if (c && mysql_query(c, sql) != 0)
		fprintf(stderr, "mysql: %s: %s\n", sql, mysql_error(c));
	if (c)
		mysql_close(c);
}

/* The first column of the first row of sql, or "" (NULL: a failure). */
static void my_scalar(const char *sql, char *out, size_t size)
{
	out[0] = '\0';
	MYSQL *c = my_connect();
	if (c && mysql_query(c, sql) == 0) {
		MYSQL_RES *res = mysql_store_result(c);
		MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
		if (row && row[0])
			snprintf(out, size, "%s", row[0]);
		mysql_free_result(res);
	}
	if (c)
		mysql_close(c);
}

/* A fresh, empty database for the case named name. */
static void fresh(const char *name)
{
	if (be->storage == STORAGE_SQLITE) {
		snprintf(be->path, sizeof(be->path), "%s/%s.db", tmpdir, name);
		char side[600];
		unlink(be->path);
		snprintf(side, sizeof(side), "%s-wal", be->path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", be->path);
		unlink(side);
		snprintf(be->url, sizeof(be->url), "sqlite://%s", be->path);
	} else if (be->storage == STORAGE_MYSQL) {
		my_exec("DROP TABLE IF EXISTS sessions, csocks_schema_migrations");
		snprintf(be->url, sizeof(be->url), "%s", my_url);
	} else {
		pg_exec("DROP TABLE IF EXISTS sessions, csocks_schema_migrations");
		snprintf(be->url, sizeof(be->url), "%s", pg_url);
	}
}

static struct session_store *open_store(const char *node)
{
	char err[512] = "";
	struct session_store_options o = {
	    .storage = be->storage,
	    .database_url = be->url,
	    .node = node,
	    .migrate = true,
	    .rustsocks_indexes = rustsocks_indexes,
	};
	struct session_store *st = session_store_open(&o, err, sizeof(err));
	if (!st)
		fprintf(stderr, "    open %s: %s\n", be->url, err);
	return st;
}

static void mkrec(struct session_record *r, const char *user, const char *dest,
                  enum session_status status, int64_t start_us)
{
	memset(r, 0, sizeof(*r));
	session_id_generate(r->session_id);
	r->user = user;
	r->dest_ip = dest;
	r->dest_port = 443;
	r->start_us = start_us;
	r->duration_secs = -1;
	snprintf(r->source_ip, sizeof(r->source_ip), "192.0.2.10");
	r->source_port = 40000;
	r->protocol = SESSION_PROTO_TCP;
	r->status = status;
	r->acl_decision = status == SESSION_REJECTED_BY_ACL ? "block" : "allow";
	if (status != SESSION_ACTIVE) {
		r->end_us = start_us + 5 * 1000000;
		r->duration_secs = 5;
		r->close_reason = status == SESSION_REJECTED_BY_ACL ? "Blocked by ACL" : "eof";
	}
}

static int write1(struct session_store *st, const struct session_record *r)
{
	char err[512] = "";
	const struct session_record *one[] = {r};
	int rc = session_store_write_batch(st, one, 1, err, sizeof(err));
	if (rc != STORE_OK)
		fprintf(stderr, "    write: %s\n", err);
	return rc;
}

static uint64_t total_rows(struct session_store *st)
{
	uint64_t active = 0, total = 0;
	char err[512];
	if (session_store_count(st, &active, &total, err, sizeof(err)) != STORE_OK)
		fprintf(stderr, "    count: %s\n", err);
	return total;
}

/* Poll until the table holds want rows; returns the last count seen. */
static uint64_t wait_rows(struct session_store *st, uint64_t want, int timeout_ms)
{
	int64_t until = time_mono_ms() + timeout_ms;
	uint64_t n;
	while ((n = total_rows(st)) != want && time_mono_ms() < until)
		usleep(20000);
	return n;
}

/* The counters move just after the commit that makes rows visible. */
static void wait_written(struct session_writer *w, uint64_t n, struct session_writer_stats *s)
{
	int64_t until = time_mono_ms() + 2000;
	session_writer_get_stats(w, s);
	while (s->written < n && time_mono_ms() < until) {
		usleep(10000);
		session_writer_get_stats(w, s);
	}
}

static struct session_writer *start_writer(uint32_t batch, uint32_t interval_ms, uint32_t cap,
                                           const char *node)
{
	char err[512] = "";
	struct session_writer_options o = {
	    .storage = be->storage,
	    .database_url = be->url,
	    .batch_size = batch,
	    .batch_interval_ms = interval_ms,
	    .queue_capacity = cap,
	    .node = node,
	    .retry_max_ms = 500,
	};
	struct session_writer *w = session_writer_start_opts(&o, err, sizeof(err));
	if (!w)
		fprintf(stderr, "    writer: %s\n", err);
	return w;
}

/* The sessions table's idx_* indexes, sorted, comma-separated. */
static void index_names(char *out, size_t size)
{
	out[0] = '\0';
	const char *sql_sq = "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
	                     "WHERE type = 'index' AND tbl_name = 'sessions' AND name LIKE "
	                     "'idx%' ORDER BY name)";
	const char *sql_pg = "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
	                     "WHERE schemaname = current_schema() AND tablename = 'sessions' AND "
	                     "indexname LIKE 'idx%'";
	if (be->storage == STORAGE_SQLITE) {
		sqlite3 *db;
		sqlite3_stmt *q = NULL;
		if (sqlite3_open(be->path, &db) == SQLITE_OK &&
		    sqlite3_prepare_v2(db, sql_sq, -1, &q, NULL) == SQLITE_OK &&
		    sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
			snprintf(out, size, "%s", (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
		sqlite3_close(db);
		return;
	}
	if (be->storage == STORAGE_MYSQL) {
		my_scalar("SELECT GROUP_CONCAT(DISTINCT index_name ORDER BY index_name SEPARATOR "
		          "',') FROM information_schema.statistics WHERE table_schema = "
		          "DATABASE() AND table_name = 'sessions' AND index_name LIKE 'idx%'",
		          out, size);
		return;
	}
	PGconn *c = PQconnectdb(pg_url);
	PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql_pg) : NULL;
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

/* Another connection takes the SQLite write lock (BEGIN IMMEDIATE) and
 * holds it until unlock_db(): the writer's "database is locked" path. */
static sqlite3 *lock_db(void)
{
	sqlite3 *lock;
	CHECK_INT(sqlite3_open(be->path, &lock), SQLITE_OK);
	CHECK_INT(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return lock;
}

static void unlock_db(sqlite3 *lock)
{
	sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(lock);
}

/* ---- cases ---- */

#define LEAN_INDEXES                                                                               \
	"idx_sessions_dest_user,idx_sessions_start_time,idx_sessions_status_start,"                \
	"idx_sessions_user_start"
#define RUSTSOCKS_INDEXES                                                                          \
	"idx_sessions_acl_decision,idx_sessions_acl_decision_start,idx_sessions_bytes_received,"   \
	"idx_sessions_bytes_sent,idx_sessions_dest_ip,idx_sessions_dest_user,"                     \
	"idx_sessions_duration_order,idx_sessions_protocol,idx_sessions_source_ip,"                \
	"idx_sessions_start_time,idx_sessions_start_time_asc,idx_sessions_status,"                 \
	"idx_sessions_status_start,idx_sessions_user,idx_sessions_user_start,"                     \
	"idx_sessions_user_status_start"

static void t_schema_and_migrations(void)
{
	fresh("schema");
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	int v = 0;
	char err[512];
	CHECK_INT(session_store_schema_version(st, &v, err, sizeof(err)), STORE_OK);
	CHECK_INT(v, session_store_schema_latest());
	CHECK_INT(total_rows(st), 0);
	session_store_close(st);

	/* reopen: nothing to apply, nothing breaks */
	st = open_store(NULL);
	if (!CHECK(st))
		return;
	CHECK_INT(session_store_schema_version(st, &v, err, sizeof(err)), STORE_OK);
	CHECK_INT(v, session_store_schema_latest());
	session_store_close(st);

	if (be->storage == STORAGE_SQLITE) {
		sqlite3 *db;
		CHECK_INT(sqlite3_open(be->path, &db), SQLITE_OK);
		sqlite3_stmt *q;
		const char *cols[] = {"session_id",       "user",
		                      "start_time",       "end_time",
		                      "duration_secs",    "source_ip",
		                      "source_port",      "dest_ip",
		                      "dest_port",        "protocol",
		                      "bytes_sent",       "bytes_received",
		                      "packets_sent",     "packets_received",
		                      "status",           "close_reason",
		                      "acl_rule_matched", "acl_decision",
		                      "created_at",       "node"};
		int n = 0;
		sqlite3_prepare_v2(db,
		                   "SELECT name FROM pragma_table_info('sessions') ORDER BY cid",
		                   -1, &q, NULL);
		while (sqlite3_step(q) == SQLITE_ROW && n < 20)
			CHECK_STR((const char *)sqlite3_column_text(q, 0), cols[n++]);
		sqlite3_finalize(q);
		CHECK_INT(n, 20);
		char *mode = NULL;
		sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL);
		if (sqlite3_step(q) == SQLITE_ROW)
			mode = strdup((const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
		CHECK_STR(mode, "wal");
		free(mode);
		sqlite3_close(db);
	}
	if (be->storage == STORAGE_MYSQL) {
		/* RustSocks' MySQL column names, order and types, plus node */
		char cols[2048];
		my_scalar("SELECT GROUP_CONCAT(CONCAT(column_name, ' ', column_type) ORDER BY "
		          "ordinal_position SEPARATOR ',') FROM information_schema.columns WHERE "
		          "table_schema = DATABASE() AND table_name = 'sessions'",
		          cols, sizeof(cols));
		CHECK_STR(cols, "session_id varchar(36),user varchar(255),start_time varchar(64),"
		                "end_time varchar(64),duration_secs bigint(20),source_ip "
		                "varchar(255),source_port int(11),dest_ip varchar(255),dest_port "
		                "int(11),protocol varchar(16),bytes_sent bigint(20),bytes_received "
		                "bigint(20),packets_sent bigint(20),packets_received "
		                "bigint(20),status varchar(64),close_reason text,acl_rule_matched "
		                "text,acl_decision varchar(64),created_at timestamp,node "
		                "varchar(255)");
		char coll[64];
		my_scalar("SELECT table_collation FROM information_schema.tables WHERE "
		          "table_schema = DATABASE() AND table_name = 'sessions'",
		          coll, sizeof(coll));
		CHECK_STR(coll, "utf8mb4_bin");
		/* the unix socket form, against scripts/mariadb-test.sh's socket */
		const char *dir = getenv("CSOCKS_MARIADB_DIR");
		char sock[600], url[700];
		snprintf(sock, sizeof(sock), "%s/mysqld.sock",
		         dir && *dir ? dir : "/tmp/csocks-mariadb-test");
		struct stat sb;
		if (stat(sock, &sb) == 0) {
			snprintf(url, sizeof(url),
			         "mariadb://csocks:csocks@localhost/csocks_test?socket=%s", sock);
			struct session_store_options o = {
			    .storage = STORAGE_MYSQL, .database_url = url, .migrate = true};
			st = session_store_open(&o, err, sizeof(err));
			if (!CHECK(st))
				fprintf(stderr, "    %s: %s\n", url, err);
			else
				CHECK_INT(total_rows(st), 0);
			session_store_close(st);
		}
	}
}

/* A database RustSocks created (its 001 schema, its time format, no
 * csocks_schema_migrations) is adopted: migrations add what is missing and
 * its rows read back. */
static void t_adopts_rustsocks_db(void)
{
	fresh("rustsocks");
	sqlite3 *db;
	CHECK_INT(sqlite3_open(be->path, &db), SQLITE_OK);
	CHECK_INT(
	    sqlite3_exec(db,
	                 "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, user TEXT NOT "
	                 "NULL, start_time TEXT NOT NULL, end_time TEXT, duration_secs "
	                 "INTEGER, source_ip TEXT NOT NULL, source_port INTEGER NOT NULL, "
	                 "dest_ip TEXT NOT NULL, dest_port INTEGER NOT NULL, protocol TEXT NOT "
	                 "NULL, bytes_sent INTEGER DEFAULT 0, bytes_received INTEGER DEFAULT "
	                 "0, packets_sent INTEGER DEFAULT 0, packets_received INTEGER DEFAULT "
	                 "0, status TEXT NOT NULL, close_reason TEXT, acl_rule_matched TEXT, "
	                 "acl_decision TEXT NOT NULL, created_at TEXT DEFAULT "
	                 "CURRENT_TIMESTAMP);"
	                 "INSERT INTO sessions VALUES ('6f1c2d3e-0000-4000-8000-000000000001', "
	                 "'alice', '2025-10-09T11:22:49.421595123+00:00', "
	                 "'2025-10-09T11:22:59.421595123+00:00', 10, '10.0.0.1', 5000, "
	                 "'example.com', 443, 'tcp', 2048, 1024, 15, 12, 'closed', 'Finished', "
	                 "'Allow HTTPS', 'allow', CURRENT_TIMESTAMP)",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	struct session_record *r = NULL;
	char err[512];
	CHECK_INT(
	    session_store_get(st, "6f1c2d3e-0000-4000-8000-000000000001", &r, err, sizeof(err)),
	    STORE_OK);
	if (CHECK(r)) {
		CHECK_STR(r->user, "alice");
		CHECK_INT(r->start_us, 1760008969421595LL);
		CHECK_INT(r->end_us - r->start_us, 10000000);
		CHECK_INT(r->bytes_sent, 2048);
		CHECK_STR(r->acl_rule_matched, "Allow HTTPS");
		CHECK_INT(r->status, SESSION_CLOSED);
	}
	free(r);
	session_store_close(st);
	char names[1024];
	index_names(names, sizeof(names));
	CHECK_STR(names, LEAN_INDEXES);
}

/* sessions.rustsocks_indexes = true creates RustSocks' other indexes; a
 * new database gets only csocks' four; turning the option off again keeps
 * what the database has (never a silent drop). The rows stay. */
static void t_index_set(void)
{
	fresh("indexes");
	char names[1024];
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	index_names(names, sizeof(names));
	CHECK_STR(names, LEAN_INDEXES);
	struct session_record r;
	for (int i = 0; i < 3; i++) {
		mkrec(&r, "alice", "example.com", SESSION_CLOSED, time_wall_us() - i * HOUR_US);
		CHECK_INT(write1(st, &r), STORE_OK);
	}
	session_store_close(st);

	rustsocks_indexes = true;
	st = open_store(NULL);
	rustsocks_indexes = false;
	if (!CHECK(st))
		return;
	index_names(names, sizeof(names));
	CHECK_STR(names, RUSTSOCKS_INDEXES);
	CHECK_INT(total_rows(st), 3);
	mkrec(&r, "bob", "example.org", SESSION_CLOSED, time_wall_us());
	CHECK_INT(write1(st, &r), STORE_OK);
	session_store_close(st);

	/* back to the default: an existing database keeps what it has */
	st = open_store(NULL);
	if (!CHECK(st))
		return;
	index_names(names, sizeof(names));
	CHECK_STR(names, RUSTSOCKS_INDEXES);
	CHECK_INT(total_rows(st), 4);
	session_store_close(st);
}

/* RustSocks' own SQLite schema: its migrations 001, 002, 005 and 006
 * (migrations/ in RustSocks' repository), statement for statement. */
static const char rustsocks_sqlite_schema[] =
    "CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, user TEXT NOT NULL, "
    "start_time TEXT NOT NULL, end_time TEXT, duration_secs INTEGER, source_ip TEXT NOT "
    "NULL, source_port INTEGER NOT NULL, dest_ip TEXT NOT NULL, dest_port INTEGER NOT NULL, "
    "protocol TEXT NOT NULL, bytes_sent INTEGER DEFAULT 0, bytes_received INTEGER DEFAULT 0, "
    "packets_sent INTEGER DEFAULT 0, packets_received INTEGER DEFAULT 0, status TEXT NOT "
    "NULL, close_reason TEXT, acl_rule_matched TEXT, acl_decision TEXT NOT NULL, created_at "
    "TEXT DEFAULT CURRENT_TIMESTAMP);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions(user);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_start_time ON sessions(start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_dest_ip ON sessions(dest_ip);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_status ON sessions(status);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_start ON sessions(user, start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_start_time_asc ON sessions(start_time ASC);"
    /* 002 */
    "CREATE INDEX IF NOT EXISTS idx_sessions_status_start ON sessions(status, start_time "
    "DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_dest_user ON sessions(dest_ip, user);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_duration ON sessions(duration_secs) WHERE "
    "duration_secs IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS idx_sessions_acl_decision_start ON sessions(acl_decision, "
    "start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_status_start ON sessions(user, status, "
    "start_time DESC);"
    /* 005 */
    "CREATE INDEX IF NOT EXISTS idx_sessions_bytes_sent ON sessions(bytes_sent);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_bytes_received ON sessions(bytes_received);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_duration ON sessions(duration_secs);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_dest_ip ON sessions(dest_ip);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_protocol ON sessions(protocol);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_acl_decision ON sessions(acl_decision);"
    "ANALYZE sessions;"
    /* 006 */
    "UPDATE sessions SET duration_secs = NULL WHERE duration_secs < 0;"
    "DROP INDEX IF EXISTS idx_sessions_duration;"
    "CREATE INDEX IF NOT EXISTS idx_sessions_duration_order ON sessions(duration_secs, "
    "session_id);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_source_ip ON sessions(source_ip, session_id);"
    "ANALYZE sessions;"
    "INSERT INTO sessions VALUES ('6f1c2d3e-0000-4000-8000-000000000002', 'alice', "
    "'2025-10-09T11:22:49.421595123+00:00', '2025-10-09T11:22:59.421595123+00:00', 10, "
    "'10.0.0.1', 5000, 'example.com', 443, 'tcp', 2048, 1024, 15, 12, 'closed', "
    "'Finished', 'Allow HTTPS', 'allow', CURRENT_TIMESTAMP);";

/* RustSocks' MariaDB schema (src/session/store/mysql.rs: its sessions
 * table and the 15 sessions indexes it creates). */
static const char *const rustsocks_mysql_schema[] = {
    "CREATE TABLE sessions (session_id VARCHAR(36) PRIMARY KEY, `user` VARCHAR(255) NOT "
    "NULL, start_time VARCHAR(64) NOT NULL, end_time VARCHAR(64) NULL, duration_secs BIGINT "
    "NULL, source_ip VARCHAR(255) NOT NULL, source_port INT NOT NULL, dest_ip VARCHAR(255) "
    "NOT NULL, dest_port INT NOT NULL, protocol VARCHAR(16) NOT NULL, bytes_sent BIGINT NOT "
    "NULL DEFAULT 0, bytes_received BIGINT NOT NULL DEFAULT 0, packets_sent BIGINT NOT NULL "
    "DEFAULT 0, packets_received BIGINT NOT NULL DEFAULT 0, status VARCHAR(64) NOT NULL, "
    "close_reason TEXT NULL, acl_rule_matched TEXT NULL, acl_decision VARCHAR(64) NOT NULL, "
    "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB DEFAULT "
    "CHARSET=utf8mb4",
    "CREATE INDEX idx_sessions_user ON sessions (`user`)",
    "CREATE INDEX idx_sessions_start_time ON sessions (start_time)",
    "CREATE INDEX idx_sessions_dest_ip ON sessions (dest_ip)",
    "CREATE INDEX idx_sessions_status ON sessions (status)",
    "CREATE INDEX idx_sessions_user_start ON sessions (`user`, start_time)",
    "CREATE INDEX idx_sessions_status_start ON sessions (status, start_time)",
    "CREATE INDEX idx_sessions_dest_user ON sessions (dest_ip, `user`)",
    "CREATE INDEX idx_sessions_duration_order ON sessions (duration_secs, session_id)",
    "CREATE INDEX idx_sessions_acl_decision_start ON sessions (acl_decision, start_time)",
    "CREATE INDEX idx_sessions_user_status_start ON sessions (`user`, status, start_time)",
    "CREATE INDEX idx_sessions_bytes_sent ON sessions (bytes_sent)",
    "CREATE INDEX idx_sessions_bytes_received ON sessions (bytes_received)",
    "CREATE INDEX idx_sessions_source_ip ON sessions (source_ip, session_id)",
    "CREATE INDEX idx_sessions_protocol ON sessions (protocol)",
    "CREATE INDEX idx_sessions_acl_decision ON sessions (acl_decision)",
    "INSERT INTO sessions VALUES ('6f1c2d3e-0000-4000-8000-000000000002', 'alice', "
    "'2025-10-09T11:22:49.421595123+00:00', '2025-10-09T11:22:59.421595123+00:00', 10, "
    "'10.0.0.1', 5000, 'example.com', 443, 'tcp', 2048, 1024, 15, 12, 'closed', "
    "'Finished', 'Allow HTTPS', 'allow', CURRENT_TIMESTAMP)",
    NULL,
};
#define RUSTSOCKS_MYSQL_INDEXES                                                                    \
	"idx_sessions_acl_decision,idx_sessions_acl_decision_start,idx_sessions_bytes_received,"   \
	"idx_sessions_bytes_sent,idx_sessions_dest_ip,idx_sessions_dest_user,"                     \
	"idx_sessions_duration_order,idx_sessions_protocol,idx_sessions_source_ip,"                \
	"idx_sessions_start_time,idx_sessions_status,idx_sessions_status_start,"                   \
	"idx_sessions_user,idx_sessions_user_start,idx_sessions_user_status_start"

/* SQLite: the names PRAGMA index_list reports for sessions (idx_* only),
 * sorted, comma-separated. */
static void sqlite_index_list(char *out, size_t size)
{
	out[0] = '\0';
	sqlite3 *db;
	sqlite3_stmt *q = NULL;
	if (sqlite3_open(be->path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db,
	                       "SELECT group_concat(name, ',') FROM (SELECT name FROM "
	                       "pragma_index_list('sessions') WHERE name LIKE 'idx%' ORDER BY "
	                       "name)",
	                       -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(out, size, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/* A database RustSocks created and used: csocks opens it (twice, the
 * writer too) and every index it had is still there, so a rollback to
 * RustSocks runs with them; the rows read back. */
static void t_keeps_rustsocks_indexes(void)
{
	fresh("rustsocks_full");
	char before[1024], after[1024];
	if (be->storage == STORAGE_SQLITE) {
		sqlite3 *db;
		CHECK_INT(sqlite3_open(be->path, &db), SQLITE_OK);
		CHECK_INT(sqlite3_exec(db, rustsocks_sqlite_schema, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		sqlite_index_list(before, sizeof(before));
		CHECK_STR(before, RUSTSOCKS_INDEXES);
	} else {
		for (const char *const *q = rustsocks_mysql_schema; *q; q++)
			my_exec(*q);
		index_names(before, sizeof(before));
		CHECK_STR(before, RUSTSOCKS_MYSQL_INDEXES);
	}
	for (int i = 0; i < 2; i++) {
		struct session_store *st = open_store(NULL);
		if (!CHECK(st))
			return;
		struct session_record *r = NULL;
		char err[512];
		CHECK_INT(session_store_get(st, "6f1c2d3e-0000-4000-8000-000000000002", &r, err,
		                            sizeof(err)),
		          STORE_OK);
		if (CHECK(r))
			CHECK_INT(r->bytes_sent, 2048);
		free(r);
		struct session_record w;
		mkrec(&w, "bob", "example.org", SESSION_CLOSED, time_wall_us());
		CHECK_INT(write1(st, &w), STORE_OK);
		session_store_close(st);
	}
	if (be->storage == STORAGE_SQLITE)
		sqlite_index_list(after, sizeof(after));
	else
		index_names(after, sizeof(after));
	CHECK_STR(after, before);
}

static void t_upsert_active_then_closed(void)
{
	fresh("upsert");
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	int64_t now = time_wall_us();
	struct session_record r;
	mkrec(&r, "alice", "example.com", SESSION_ACTIVE, now);
	r.acl_rule_matched = "Allow HTTPS";
	CHECK_INT(write1(st, &r), STORE_OK);

	struct session_record *got = NULL;
	char err[512];
	CHECK_INT(session_store_get(st, r.session_id, &got, err, sizeof(err)), STORE_OK);
	if (CHECK(got)) {
		CHECK_INT(got->status, SESSION_ACTIVE);
		CHECK_INT(got->end_us, 0);
		CHECK_INT(got->duration_secs, -1);
		CHECK(got->close_reason == NULL);
		CHECK_INT(got->start_us, now);
	}
	free(got);

	r.status = SESSION_CLOSED;
	r.end_us = now + 7500000;
	r.duration_secs = 7;
	r.bytes_sent = 1234;
	r.bytes_received = 99999;
	r.packets_sent = 3;
	r.packets_received = 70;
	r.close_reason = "client closed";
	CHECK_INT(write1(st, &r), STORE_OK);
	/* a late "active" copy never reopens a finished row */
	struct session_record late = r;
	late.status = SESSION_ACTIVE;
	late.bytes_sent = 1;
	CHECK_INT(write1(st, &late), STORE_OK);

	got = NULL;
	CHECK_INT(session_store_get(st, r.session_id, &got, err, sizeof(err)), STORE_OK);
	if (CHECK(got)) {
		CHECK_INT(got->status, SESSION_CLOSED);
		CHECK_INT(got->end_us, now + 7500000);
		CHECK_INT(got->duration_secs, 7);
		CHECK_INT(got->bytes_sent, 1234);
		CHECK_INT(got->bytes_received, 99999);
		CHECK_INT(got->packets_received, 70);
		CHECK_STR(got->close_reason, "client closed");
		CHECK_STR(got->acl_rule_matched, "Allow HTTPS");
		CHECK_STR(got->acl_decision, "allow");
		CHECK_STR(got->source_ip, "192.0.2.10");
		CHECK_INT(got->source_port, 40000);
		CHECK_STR(got->dest_ip, "example.com");
	}
	free(got);
	uint64_t active, total;
	CHECK_INT(session_store_count(st, &active, &total, err, sizeof(err)), STORE_OK);
	CHECK_INT(active, 0);
	CHECK_INT(total, 1);

	got = (struct session_record *)1;
	CHECK_INT(
	    session_store_get(st, "00000000-0000-4000-8000-000000000000", &got, err, sizeof(err)),
	    STORE_OK);
	CHECK(got == NULL);
	session_store_close(st);
}

static void t_bytes_exact(void)
{
	fresh("bytes");
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	struct session_record r;
	mkrec(&r, "bob", "2001:db8::1", SESSION_CLOSED, time_wall_us());
	r.bytes_sent = 5000000000123ULL;          /* > 2^32 */
	r.bytes_received = (1ULL << 62) + 7;      /* near the top of int64 */
	r.packets_sent = 4294967297ULL;           /* 2^32 + 1 */
	r.packets_received = 9007199254740993ULL; /* 2^53 + 1: not a double */
	r.protocol = SESSION_PROTO_UDP;
	CHECK_INT(write1(st, &r), STORE_OK);
	struct session_record *got = NULL;
	char err[512];
	CHECK_INT(session_store_get(st, r.session_id, &got, err, sizeof(err)), STORE_OK);
	if (CHECK(got)) {
		CHECK(got->bytes_sent == 5000000000123ULL);
		CHECK(got->bytes_received == (1ULL << 62) + 7);
		CHECK(got->packets_sent == 4294967297ULL);
		CHECK(got->packets_received == 9007199254740993ULL);
		CHECK_INT(got->protocol, SESSION_PROTO_UDP);
		CHECK_STR(got->dest_ip, "2001:db8::1");
	}
	free(got);
	session_store_close(st);
}

static void t_flush_by_size(void)
{
	fresh("flush_size");
	struct session_writer *w = start_writer(10, 60000, 1000, NULL);
	if (!CHECK(w))
		return;
	struct session_store *rd = session_writer_store(w);
	int64_t now = time_wall_us();
	struct session_record r;
	/* nothing is written until a batch of 10 is queued (interval: 60 s) */
	for (int i = 0; i < 9; i++) {
		mkrec(&r, "u", "d", SESSION_CLOSED, now);
		CHECK(session_writer_submit(w, &r));
	}
	usleep(300000);
	CHECK_INT(total_rows(rd), 0);
	mkrec(&r, "u", "d", SESSION_CLOSED, now);
	CHECK(session_writer_submit(w, &r));
	CHECK_INT(wait_rows(rd, 10, 5000), 10);
	for (int i = 0; i < 10; i++) {
		mkrec(&r, "u", "d", SESSION_CLOSED, now);
		CHECK(session_writer_submit(w, &r));
	}
	CHECK_INT(wait_rows(rd, 20, 5000), 20);
	/* a partial batch is written on stop */
	for (int i = 0; i < 4; i++) {
		mkrec(&r, "u", "d", SESSION_CLOSED, now);
		CHECK(session_writer_submit(w, &r));
	}
	struct session_writer_stats s;
	session_writer_get_stats(w, &s);
	CHECK_INT(s.queue_depth, 4);
	session_writer_stop(w, 5000);
	struct session_store *st = open_store(NULL);
	if (CHECK(st))
		CHECK_INT(total_rows(st), 24);
	session_store_close(st);
}

static void t_flush_by_interval(void)
{
	fresh("flush_interval");
	struct session_writer *w = start_writer(1000, 400, 1000, NULL);
	if (!CHECK(w))
		return;
	struct session_store *rd = session_writer_store(w);
	struct session_record r;
	mkrec(&r, "u", "d", SESSION_CLOSED, time_wall_us());
	CHECK(session_writer_submit(w, &r));
	CHECK_INT(wait_rows(rd, 1, 5000), 1);
	int64_t t0 = time_mono_ms();
	for (int i = 0; i < 3; i++) {
		mkrec(&r, "u", "d", SESSION_CLOSED, time_wall_us());
		CHECK(session_writer_submit(w, &r));
	}
	usleep(100000);
	/* well before the interval: still queued (a late check only helps) */
	if (time_mono_ms() - t0 < 300)
		CHECK_INT(total_rows(rd), 1);
	CHECK_INT(wait_rows(rd, 4, 5000), 4);
	struct session_writer_stats s;
	wait_written(w, 4, &s);
	CHECK_INT(s.written, 4);
	CHECK_INT(s.batches, 2);
	CHECK_INT(s.dropped, 0);
	session_writer_stop(w, 5000);
}

static void t_restart_closes_stale(void)
{
	fresh("stale");
	struct session_writer *w = start_writer(10, 50, 100, "node-a");
	if (!CHECK(w))
		return;
	int64_t start = time_wall_us() - 10 * 1000000;
	struct session_record a, b;
	mkrec(&a, "alice", "example.com", SESSION_ACTIVE, start);
	a.bytes_sent = 100;
	mkrec(&b, "bob", "example.org", SESSION_CLOSED, start);
	CHECK(session_writer_submit(w, &a));
	CHECK(session_writer_submit(w, &b));
	session_writer_stop(w, 5000); /* "crash": a stays active */

	/* another node starting does not touch node-a's live sessions */
	w = start_writer(10, 50, 100, "node-b");
	if (!CHECK(w))
		return;
	struct session_record *got = NULL;
	char err[512];
	CHECK_INT(session_store_get(session_writer_store(w), a.session_id, &got, err, sizeof(err)),
	          STORE_OK);
	if (CHECK(got))
		CHECK_INT(got->status, SESSION_ACTIVE);
	free(got);
	session_writer_stop(w, 5000);

	/* node-a restarting closes them */
	w = start_writer(10, 50, 100, "node-a");
	if (!CHECK(w))
		return;
	got = NULL;
	CHECK_INT(session_store_get(session_writer_store(w), a.session_id, &got, err, sizeof(err)),
	          STORE_OK);
	if (CHECK(got)) {
		CHECK_INT(got->status, SESSION_CLOSED);
		CHECK_STR(got->close_reason, SESSION_STALE_CLOSE_REASON);
		CHECK(got->end_us >= start + 10 * 1000000);
		CHECK(got->duration_secs >= 9 && got->duration_secs <= 60);
		CHECK_INT(got->bytes_sent, 100);
	}
	free(got);
	got = NULL;
	CHECK_INT(session_store_get(session_writer_store(w), b.session_id, &got, err, sizeof(err)),
	          STORE_OK);
	if (CHECK(got)) {
		CHECK_STR(got->close_reason, "eof");
		CHECK_INT(got->duration_secs, 5);
	}
	free(got);
	session_writer_stop(w, 5000);
}

static void t_retention(void)
{
	fresh("retention");
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	int64_t now = time_wall_us();
	struct session_record r;
	mkrec(&r, "old", "d", SESSION_CLOSED, now - 100 * DAY_US);
	write1(st, &r);
	mkrec(&r, "old", "d", SESSION_REJECTED_BY_ACL, now - 91 * DAY_US);
	write1(st, &r);
	mkrec(&r, "old-active", "d", SESSION_ACTIVE, now - 100 * DAY_US);
	write1(st, &r); /* a 100-day tunnel still open is kept */
	mkrec(&r, "recent", "d", SESSION_CLOSED, now - 89 * DAY_US);
	write1(st, &r);
	mkrec(&r, "recent", "d", SESSION_CLOSED, now);
	write1(st, &r);
	session_store_close(st);

	/* the writer cleans up at start (retention_days = 90) */
	char err[512] = "";
	struct session_writer_options o = {
	    .storage = be->storage,
	    .database_url = be->url,
	    .retention_days = 90,
	    .node = "other-node", /* so the active row is not closed as stale */
	};
	struct session_writer *w = session_writer_start_opts(&o, err, sizeof(err));
	if (!CHECK(w)) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	struct session_writer_stats s;
	int64_t until = time_mono_ms() + 5000;
	do {
		usleep(20000);
		session_writer_get_stats(w, &s);
	} while (s.cleanup_deleted < 2 && time_mono_ms() < until);
	CHECK_INT(s.cleanup_deleted, 2);
	CHECK_INT(total_rows(session_writer_store(w)), 3);
	uint64_t deleted = 9;
	CHECK_INT(session_store_delete_older_than(session_writer_store(w), now - 90 * DAY_US, 0,
	                                          &deleted, err, sizeof(err)),
	          STORE_OK);
	CHECK_INT(deleted, 0);
	session_writer_stop(w, 5000);

	/* chunked: 25 old rows, limit 10 -> 10, 10, 5 */
	st = open_store(NULL);
	if (!CHECK(st))
		return;
	for (int i = 0; i < 25; i++) {
		mkrec(&r, "old", "d", SESSION_CLOSED, now - 200 * DAY_US + i);
		write1(st, &r);
	}
	uint64_t chunks[4] = {0};
	for (int i = 0; i < 4; i++)
		CHECK_INT(session_store_delete_older_than(st, now - 90 * DAY_US, 10, &chunks[i],
		                                          err, sizeof(err)),
		          STORE_OK);
	CHECK_INT(chunks[0], 10);
	CHECK_INT(chunks[1], 10);
	CHECK_INT(chunks[2], 5);
	CHECK_INT(chunks[3], 0);
	CHECK_INT(total_rows(st), 3);
	session_store_close(st);
}

/* 30 sessions with controlled users, destinations, statuses, times, bytes. */
static void seed_history(struct session_store *st, int64_t now)
{
	const char *users[] = {"alice", "bob", "carol"};
	const char *dests[] = {"example.com", "10.0.0.5", "example.org"};
	const struct session_record *batch[30];
	struct session_record recs[30];
	for (int i = 0; i < 30; i++) {
		enum session_status s = i % 5 == 0   ? SESSION_FAILED
		                        : i % 7 == 0 ? SESSION_REJECTED_BY_ACL
		                                     : SESSION_CLOSED;
		mkrec(&recs[i], users[i % 3], dests[i % 3 == 0 ? 0 : (i % 2) + 1], s,
		      now - (int64_t)i * HOUR_US); /* one session per hour back */
		recs[i].bytes_sent = (uint64_t)(i * 1000 + 7) % 9973;
		recs[i].bytes_received = (uint64_t)i * 10;
		recs[i].duration_secs = (i * 37) % 50;
		batch[i] = &recs[i];
	}
	char err[512];
	CHECK_INT(session_store_write_batch(st, batch, 30, err, sizeof(err)), STORE_OK);
}

/* Each row carries the node that wrote it (sessions.node_name), and reads
 * give it back, so one shared store shows which node served what. */
static void t_node_read_back(void)
{
	fresh("node");
	struct session_store *a = open_store("node-a"), *b = open_store("node-b");
	if (!CHECK(a) || !CHECK(b)) {
		if (a)
			session_store_close(a);
		if (b)
			session_store_close(b);
		return;
	}
	int64_t now = time_wall_us();
	struct session_record ra, rb;
	mkrec(&ra, "alice", "a.example", SESSION_CLOSED, now - 2000000);
	mkrec(&rb, "bob", "b.example", SESSION_CLOSED, now - 1000000);
	rb.node = "ignored: the store writes its own name";
	CHECK_INT(write1(a, &ra), STORE_OK);
	CHECK_INT(write1(b, &rb), STORE_OK);
	char err[512];
	struct session_record *got = NULL;
	CHECK_INT(session_store_get(b, ra.session_id, &got, err, sizeof(err)), STORE_OK);
	if (CHECK(got))
		CHECK_STR(got->node, "node-a");
	free(got);
	struct session_page p;
	struct session_query q = {.now_us = now, .sort_asc = true};
	CHECK_INT(session_store_query(a, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.n, 2);
	if (p.n == 2) {
		CHECK_STR(p.items[0]->node, "node-a");
		CHECK_STR(p.items[1]->node, "node-b");
	}
	session_page_free(&p);
	session_store_close(a);
	session_store_close(b);
}

static void t_history_queries(void)
{
	fresh("history");
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	int64_t now = time_wall_us();
	seed_history(st, now);
	char err[512];
	struct session_page p;
	struct session_query q = {.now_us = now};

	/* defaults: newest first, 50 per page */
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 30);
	CHECK_INT(p.n, 30);
	CHECK_INT(p.page, 1);
	CHECK_INT(p.page_size, 50);
	CHECK_INT(p.total_pages, 1);
	for (size_t i = 1; i < p.n; i++)
		CHECK(p.items[i - 1]->start_us >= p.items[i]->start_us);
	session_page_free(&p);

	/* filters */
	q = (struct session_query){.now_us = now, .user = "alice"};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 10);
	for (size_t i = 0; i < p.n; i++)
		CHECK_STR(p.items[i]->user, "alice");
	session_page_free(&p);
	q = (struct session_query){.now_us = now, .dest_ip = "example.com"};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 10);
	session_page_free(&p);
	q = (struct session_query){.now_us = now, .has_status = true, .status = SESSION_FAILED};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 6); /* i = 0, 5, 10, 15, 20, 25 */
	session_page_free(&p);
	/* hours window: i = 0..4 start within the last 4.5 hours */
	q = (struct session_query){.now_us = now + HOUR_US / 2, .hours = 5};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 5);
	session_page_free(&p);
	q = (struct session_query){.now_us = now,
	                           .user = "bob",
	                           .has_status = true,
	                           .status = SESSION_CLOSED,
	                           .hours = 12};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 2); /* bob: i = 1, 4, 7(rejected), 10(failed) within 12 h */
	session_page_free(&p);

	/* paging */
	q = (struct session_query){.now_us = now, .page = 2, .page_size = 7};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 30);
	CHECK_INT(p.n, 7);
	CHECK_INT(p.total_pages, 5);
	if (p.n == 7)
		CHECK_INT(p.items[0]->start_us, now - 7 * HOUR_US);
	session_page_free(&p);
	q = (struct session_query){.now_us = now, .page = 5, .page_size = 7};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.n, 2);
	session_page_free(&p);
	q = (struct session_query){.now_us = now, .page = 9, .page_size = 7};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.n, 0);
	session_page_free(&p);
	q = (struct session_query){.now_us = now, .page_size = 5000};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.page_size, SESSION_PAGE_SIZE_MAX);
	session_page_free(&p);

	/* sorting */
	q = (struct session_query){
	    .now_us = now, .sort = SESSION_SORT_BYTES_SENT, .sort_asc = true};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	for (size_t i = 1; i < p.n; i++)
		CHECK(p.items[i - 1]->bytes_sent <= p.items[i]->bytes_sent);
	session_page_free(&p);
	q = (struct session_query){.now_us = now, .sort = SESSION_SORT_DURATION};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	for (size_t i = 1; i < p.n; i++)
		CHECK(p.items[i - 1]->duration_secs >= p.items[i]->duration_secs);
	session_page_free(&p);
	q = (struct session_query){.now_us = now, .sort = SESSION_SORT_USER, .sort_asc = true};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	for (size_t i = 1; i < p.n; i++)
		CHECK(strcmp(p.items[i - 1]->user, p.items[i]->user) <= 0);
	session_page_free(&p);

	/* the whitelist: names map to enum values, anything else is refused,
	 * and an out-of-range enum falls back to start_time */
	enum session_sort s;
	CHECK_INT(session_sort_parse("duration_seconds", &s), 0);
	CHECK_INT(s, SESSION_SORT_DURATION);
	CHECK_INT(session_sort_parse("bytes_received", &s), 0);
	CHECK_INT(s, SESSION_SORT_BYTES_RECEIVED);
	CHECK_INT(session_sort_parse("start_time; DROP TABLE sessions", &s), -1);
	CHECK_INT(session_sort_parse("created_at", &s), -1);
	CHECK_INT(session_sort_parse("", &s), -1);
	q = (struct session_query){.now_us = now, .sort = (enum session_sort)999};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 30);
	session_page_free(&p);
	/* filter values are bound, never spliced */
	q = (struct session_query){.now_us = now, .user = "alice' OR '1'='1"};
	CHECK_INT(session_store_query(st, &q, &p, err, sizeof(err)), STORE_OK);
	CHECK_INT(p.total, 0);
	session_page_free(&p);
	CHECK_INT(total_rows(st), 30);
	session_store_close(st);
}

/* The same answers with every RustSocks index present (other plans). */
static void t_history_queries_rustsocks_indexes(void)
{
	rustsocks_indexes = true;
	t_history_queries();
	rustsocks_indexes = false;
}

static void t_stats_window(void)
{
	fresh("stats");
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	int64_t now = time_wall_us();
	struct session_record r;
	for (int i = 0; i < 3; i++) { /* inside 24 h */
		mkrec(&r, "alice", "example.com", SESSION_CLOSED, now - HOUR_US);
		r.bytes_sent = 1000;
		r.bytes_received = 5000000000ULL;
		write1(st, &r);
	}
	mkrec(&r, "bob", "10.0.0.5", SESSION_REJECTED_BY_ACL, now - 2 * HOUR_US);
	write1(st, &r);
	mkrec(&r, "bob", "10.0.0.5", SESSION_ACTIVE, now - 3 * HOUR_US);
	r.bytes_sent = 1;
	write1(st, &r);
	for (int i = 0; i < 5; i++) { /* 30 h ago: outside 24 h, inside 48 h */
		mkrec(&r, "carol", "example.org", SESSION_FAILED, now - 30 * HOUR_US);
		r.bytes_sent = 10;
		write1(st, &r);
	}
	char err[512];
	struct session_stats s;
	CHECK_INT(session_store_stats(st, 24, now, &s, err, sizeof(err)), STORE_OK);
	CHECK_INT(s.window_hours, 24);
	CHECK_INT(s.total_sessions, 5);
	CHECK_INT(s.by_status[SESSION_CLOSED], 3);
	CHECK_INT(s.by_status[SESSION_ACTIVE], 1);
	CHECK_INT(s.by_status[SESSION_REJECTED_BY_ACL], 1);
	CHECK_INT(s.by_status[SESSION_FAILED], 0);
	CHECK(s.total_bytes_sent == 3001);
	CHECK(s.total_bytes_received == 15000000000ULL);
	CHECK_INT(s.acl_allowed, 4);
	CHECK_INT(s.acl_blocked, 1);
	CHECK_INT(s.n_top_users, 2);
	if (s.n_top_users == 2) {
		CHECK_STR(s.top_users[0].user, "alice");
		CHECK_INT(s.top_users[0].session_count, 3);
		CHECK(s.top_users[0].bytes_received == 15000000000ULL);
		CHECK_STR(s.top_users[1].user, "bob");
	}
	CHECK_INT(s.n_top_destinations, 2);
	if (s.n_top_destinations == 2) {
		CHECK_STR(s.top_destinations[0].dest_ip, "example.com");
		CHECK_INT(s.top_destinations[0].dest_port, 443);
		CHECK_INT(s.top_destinations[0].session_count, 3);
	}
	session_stats_free(&s);

	CHECK_INT(session_store_stats(st, 48, now, &s, err, sizeof(err)), STORE_OK);
	CHECK_INT(s.total_sessions, 10);
	CHECK_INT(s.by_status[SESSION_FAILED], 5);
	if (s.n_top_users == 3) {
		CHECK_STR(s.top_users[0].user, "carol");
		CHECK_INT(s.top_users[0].session_count, 5);
	} else {
		CHECK_INT(s.n_top_users, 3);
	}
	session_stats_free(&s);

	/* window 0 = everything; a window in the past sees nothing */
	CHECK_INT(session_store_stats(st, 0, now, &s, err, sizeof(err)), STORE_OK);
	CHECK_INT(s.total_sessions, 10);
	session_stats_free(&s);
	CHECK_INT(session_store_stats(st, 1, now + 100 * HOUR_US, &s, err, sizeof(err)), STORE_OK);
	CHECK_INT(s.total_sessions, 0);
	CHECK_INT(s.n_top_users, 0);
	session_stats_free(&s);

	/* more than 10 users: top list capped at 10 */
	char names[12][8];
	for (int i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "u%02d", i);
		mkrec(&r, names[i], "x", SESSION_CLOSED, now);
		write1(st, &r);
	}
	CHECK_INT(session_store_stats(st, 24, now, &s, err, sizeof(err)), STORE_OK);
	CHECK_INT(s.n_top_users, SESSION_STATS_TOP);
	session_stats_free(&s);
	session_store_close(st);
}

static void t_utf8_sanitize(void)
{
	char a[] = "plain ascii", b[] = "zaż\xc3\xb3\xc5\x82\xc4\x87 \xe2\x82\xac \xf0\x9f\x98\x80";
	char c[] = "\xff\xfe", d[] = "\xc0\xaf" /* overlong '/' */,
	     e[] = "\xed\xa0\x80" /* surrogate */;
	char f[] = "cut\xe2\x82";
	CHECK_INT(session_text_sanitize(a), 0);
	CHECK_INT(session_text_sanitize(b), 0);
	CHECK_INT(session_text_sanitize(c), 2);
	CHECK_STR(c, "??");
	CHECK_INT(session_text_sanitize(d), 2);
	CHECK_INT(session_text_sanitize(e), 3);
	CHECK_INT(session_text_sanitize(f), 2);
	CHECK_STR(f, "cut??");
	CHECK_INT(session_text_sanitize(NULL), 0);
	char id[SESSION_ID_LEN + 1];
	session_id_generate(id);
	CHECK_INT(strlen(id), 36);
	CHECK(id[14] == '7');
	CHECK(strchr("89ab", id[19]) != NULL);
	int64_t us;
	CHECK_INT(session_time_parse("2025-10-09T11:22:49Z", &us), 0);
	CHECK_INT(us, 1760008969000000LL);
	CHECK_INT(session_time_parse("2025-10-09 13:22:49.5+02:00", &us), 0);
	CHECK_INT(us, 1760008969500000LL);
	CHECK_INT(session_time_parse("2025-10-09T11:22:49.421595", &us), 0);
	CHECK_INT(us, 1760008969421595LL);
	CHECK_INT(session_time_parse("2025-10-09T11:22", &us), -1);
	CHECK_INT(session_time_parse("2025-10-09T11:22:49Zjunk", &us), -1);
	char buf[SESSION_TIME_MAX];
	session_time_format(1760008969421595LL, buf, sizeof(buf));
	CHECK_STR(buf, "2025-10-09T11:22:49.421595+00:00");
}

/* metrics.storage = "sqlite": RustSocks' metrics_snapshots table; rows come
 * back oldest first with their exact microseconds; rows older than the
 * retention are skipped by a load and deleted at the next open. */
static void t_metrics_store(void)
{
	char path[256], err[256];
	snprintf(path, sizeof(path), "%s/metrics.db", tmpdir);
	struct metrics_store *ms = metrics_store_open(path, 1, err, sizeof(err));
	if (!CHECK(ms)) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	int64_t now = time_wall_us();
	struct metrics_row in[] = {
	    {now - 2 * 3600 * 1000000LL, 9, 99, 999}, /* past the 1 h retention */
	    {now - 10 * 1000000LL + 123457, 1, 10, 1000},
	    {now - 5 * 1000000LL + 7, 2, 20, 1ull << 40},
	};
	for (size_t i = 0; i < 3; i++)
		CHECK_INT(metrics_store_save(ms, &in[i], err, sizeof(err)), 0);
	struct metrics_row out[8];
	long n = metrics_store_load(ms, now - 3600 * 1000000LL, out, 8, err, sizeof(err));
	CHECK_INT(n, 2);
	for (long i = 0; i < n && i < 2; i++) {
		CHECK_INT(out[i].wall_us, in[i + 1].wall_us);
		CHECK_INT(out[i].active_sessions, in[i + 1].active_sessions);
		CHECK_INT(out[i].total_sessions, in[i + 1].total_sessions);
		CHECK(out[i].bandwidth == in[i + 1].bandwidth);
	}
	/* max keeps the newest. */
	CHECK_INT(metrics_store_load(ms, now - 3600 * 1000000LL, out, 1, err, sizeof(err)), 1);
	CHECK_INT(out[0].total_sessions, 20);
	metrics_store_close(ms);
	ms = metrics_store_open(path, 1, err, sizeof(err));
	if (CHECK(ms)) {
		CHECK_INT(metrics_store_load(ms, 0, out, 8, err, sizeof(err)), 2);
		metrics_store_close(ms);
	}
	CHECK(metrics_store_open("/nonexistent/dir/m.db", 1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "metrics store") != NULL);
}

static void t_bad_urls(void)
{
	char err[512] = "";
	struct session_store_options o = {.storage = STORAGE_SQLITE,
	                                  .database_url = "postgresql://x/y"};
	CHECK(session_store_open(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "sqlite") != NULL);
	o = (struct session_store_options){.storage = STORAGE_POSTGRES,
	                                   .database_url = "sqlite://x.db"};
	CHECK(session_store_open(&o, err, sizeof(err)) == NULL);
	o = (struct session_store_options){.storage = STORAGE_SQLITE, .database_url = ""};
	CHECK(session_store_open(&o, err, sizeof(err)) == NULL);
	/* mysql:// URLs: the scheme must match, and the URL is parsed before
	 * any connection is tried */
	o = (struct session_store_options){.storage = STORAGE_MYSQL,
	                                   .database_url = "postgresql://x/y"};
	CHECK(session_store_open(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "mysql://") != NULL);
	const char *bad_my[][2] = {
	    {"mysql://u:p@host:99999/db", "bad port"},
	    {"mariadb://u:p@host:3306", "no database name"},
	    {"mysql://u:p@/db", "no host"},
	    {"mysql://u:p@[::1/db", "unclosed"},
	    {"mysql://u:p@h/db?colour=red", "unknown parameter"},
	};
	for (size_t i = 0; i < sizeof(bad_my) / sizeof(bad_my[0]); i++) {
		o = (struct session_store_options){.storage = STORAGE_MYSQL,
		                                   .database_url = bad_my[i][0]};
		err[0] = '\0';
		CHECK(session_store_open(&o, err, sizeof(err)) == NULL);
		if (!CHECK(strstr(err, bad_my[i][1]) != NULL))
			fprintf(stderr, "    %s: %s\n", bad_my[i][0], err);
	}
	/* a closed port: a connection error, quickly */
	o = (struct session_store_options){.storage = STORAGE_MYSQL,
	                                   .database_url = "mysql://u:p@127.0.0.1:1/db"};
	err[0] = '\0';
	CHECK(session_store_open(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "mysql connect") != NULL);
	o = (struct session_store_options){.storage = STORAGE_SQLITE,
	                                   .database_url = "sqlite:///nonexistent-dir/x/y.db",
	                                   .migrate = true};
	err[0] = '\0';
	CHECK(session_store_open(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent-dir/x/y.db") != NULL);
	/* "sqlite:path" and sqlx-style "?mode=rwc" are accepted */
	char url[600];
	snprintf(url, sizeof(url), "sqlite:%s/plain.db?mode=rwc", tmpdir);
	o = (struct session_store_options){
	    .storage = STORAGE_SQLITE, .database_url = url, .migrate = true};
	struct session_store *st = session_store_open(&o, err, sizeof(err));
	CHECK(st != NULL);
	session_store_close(st);
	char path[600];
	snprintf(path, sizeof(path), "%s/plain.db", tmpdir);
	CHECK(access(path, F_OK) == 0);
	/* in-memory database: the reader shares the writer's connection */
	o = (struct session_store_options){
	    .storage = STORAGE_SQLITE, .database_url = "sqlite::memory:", .migrate = true};
	st = session_store_open(&o, err, sizeof(err));
	if (CHECK(st != NULL)) {
		struct session_record r;
		mkrec(&r, "m", "d", SESSION_CLOSED, time_wall_us());
		CHECK_INT(write1(st, &r), STORE_OK);
		CHECK_INT(total_rows(st), 1);
	}
	session_store_close(st);
}

/* Full queue: submit refuses (never blocks) and counts the drop. The
 * database is locked so the writer cannot drain meanwhile. */
static void t_queue_full_drops(void)
{
	fresh("drops");
	struct session_writer *w = start_writer(5, 20, 5, NULL);
	if (!CHECK(w))
		return;
	sqlite3 *lock = lock_db();
	int ok = 0;
	struct session_record r;
	int64_t t0 = time_mono_us();
	for (int i = 0; i < 40; i++) {
		mkrec(&r, "u", "d", SESSION_CLOSED, time_wall_us());
		ok += session_writer_submit(w, &r);
	}
	int64_t took = time_mono_us() - t0;
	CHECK(took < 200000); /* 40 submits never wait on the locked database */
	CHECK(ok <= 10);      /* 5 queued + at most one batch of 5 in the writer's hands */
	struct session_writer_stats s;
	session_writer_get_stats(w, &s);
	CHECK_INT(s.dropped, 40 - ok);
	CHECK_INT(s.submitted, ok);
	unlock_db(lock);
	session_writer_stop(w, 10000);
	struct session_store *st = open_store(NULL);
	if (CHECK(st))
		CHECK_INT(total_rows(st), ok);
	session_store_close(st);
}

struct submitter {
	struct session_writer *w;
	int n, interval_us, ok;
	char ids[4000][SESSION_ID_LEN + 1];
};

static void *submit_thread(void *arg)
{
	struct submitter *s = arg;
	struct session_record r;
	for (int i = 0; i < s->n; i++) {
		mkrec(&r, i % 2 ? "alice" : "bob", "example.com", SESSION_CLOSED, time_wall_us());
		r.bytes_sent = 5000000000ULL + (uint64_t)i;
		memcpy(s->ids[i], r.session_id, sizeof(s->ids[i]));
		s->ok += session_writer_submit(s->w, &r);
		usleep((useconds_t)s->interval_us);
	}
	return NULL;
}

static uint64_t sum_bytes_sent(struct session_store *st, struct submitter *sub)
{
	uint64_t sum = 0;
	char err[512];
	for (int i = 0; i < sub->n; i++) {
		struct session_record *r = NULL;
		if (session_store_get(st, sub->ids[i], &r, err, sizeof(err)) == STORE_OK && r)
			sum += r->bytes_sent;
		free(r);
	}
	return sum;
}

/* FAULT: another connection holds the write lock (BEGIN IMMEDIATE) for
 * about a second while sessions are submitted; then it lets go. Every
 * session must end up in the table, byte counts exact. (Making the file
 * read-only does not work as a fault for root, which CI is: a lock gives
 * the same SQLITE_BUSY path deterministically.) */
static void t_fault_sqlite_locked(void)
{
	fresh("fault_lock");
	struct session_writer *w = start_writer(20, 50, 100000, NULL);
	if (!CHECK(w))
		return;
	sqlite3 *lock = lock_db();
	struct submitter *sub = calloc(1, sizeof(*sub));
	sub->w = w;
	sub->n = 500;
	sub->interval_us = 4000; /* ~2 s of submissions */
	pthread_t th;
	pthread_create(&th, NULL, submit_thread, sub);
	sleep(1);
	struct session_writer_stats s;
	session_writer_get_stats(w, &s);
	CHECK(s.outage);
	CHECK(s.retries > 0);
	CHECK_INT(s.written, 0);
	unlock_db(lock);
	pthread_join(th, NULL);
	CHECK_INT(sub->ok, 500);
	session_writer_stop(w, 20000);
	struct session_store *st = open_store(NULL);
	if (CHECK(st)) {
		CHECK_INT(total_rows(st), 500);
		CHECK(sum_bytes_sent(st, sub) == 500 * 5000000000ULL + 499 * 500 / 2);
	}
	session_store_close(st);
	free(sub);
}

/* Behind by more than a batch (here: the file was locked while 100
 * records came), the writer catches up in transactions of up to 80 (8
 * batches): two or three of them, instead of ten of 10. The first batch
 * is whatever was queued when the writer woke (1 to 80 records, it
 * depends on the scheduler); what is left below a batch after the
 * catch-up waits for the interval, so the interval is short. */
static void t_catch_up_in_bigger_batches(void)
{
	fresh("catch_up");
	struct session_writer *w = start_writer(10, 200, 1000, NULL);
	if (!CHECK(w))
		return;
	sqlite3 *lock = lock_db();
	struct session_record r;
	int64_t now = time_wall_us();
	for (int i = 0; i < 100; i++) {
		mkrec(&r, "u", "d", SESSION_CLOSED, now);
		CHECK(session_writer_submit(w, &r));
	}
	struct session_writer_stats s;
	int64_t until = time_mono_ms() + 5000;
	do {
		usleep(20000);
		session_writer_get_stats(w, &s);
	} while (s.retries == 0 && time_mono_ms() < until);
	CHECK(s.retries > 0); /* the first batch is waiting on the lock */
	unlock_db(lock);
	wait_written(w, 100, &s);
	CHECK_INT(s.written, 100);
	CHECK(s.batches >= 2 && s.batches <= 3);
	session_writer_stop(w, 5000);
}

/* A row the database refuses costs only itself: its batch is retried row
 * by row. (The refusal is a trigger / CHECK constraint the test adds.)
 * Invalid UTF-8 is not a refusal: it is replaced with '?' at submit. */
static void t_bad_row_only_loses_itself(void)
{
	fresh("bad_row");
	struct session_writer *w = start_writer(10, 50, 100, NULL);
	if (!CHECK(w))
		return;
	if (be->storage == STORAGE_SQLITE) {
		sqlite3 *db;
		CHECK_INT(sqlite3_open(be->path, &db), SQLITE_OK);
		CHECK_INT(
		    sqlite3_exec(db,
		                 "CREATE TRIGGER no_evil BEFORE INSERT ON sessions "
		                 "WHEN NEW.user = 'evil' BEGIN SELECT RAISE(ABORT, 'evil'); END",
		                 NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(db);
	} else if (be->storage == STORAGE_MYSQL) {
		my_exec("ALTER TABLE sessions ADD CONSTRAINT no_evil CHECK (\"user\" <> 'evil')");
	} else {
		pg_exec("ALTER TABLE sessions ADD CONSTRAINT no_evil CHECK (\"user\" <> 'evil')");
	}
	struct session_record r;
	char bad_id[SESSION_ID_LEN + 1] = "";
	for (int i = 0; i < 10; i++) {
		mkrec(&r,
		      i == 4   ? "evil"
		      : i == 6 ? "bad\xff\xc3x"
		               : "good",
		      "d", SESSION_CLOSED, time_wall_us());
		if (i == 6)
			memcpy(bad_id, r.session_id, sizeof(bad_id));
		CHECK(session_writer_submit(w, &r));
	}
	CHECK_INT(wait_rows(session_writer_store(w), 9, 5000), 9);
	struct session_writer_stats s;
	wait_written(w, 9, &s);
	CHECK_INT(s.failed, 1);
	CHECK_INT(s.written, 9);
	CHECK(!s.outage);
	struct session_record *got = NULL;
	char err[512];
	CHECK_INT(session_store_get(session_writer_store(w), bad_id, &got, err, sizeof(err)),
	          STORE_OK);
	if (CHECK(got))
		CHECK_STR(got->user, "bad??x");
	free(got);
	session_writer_stop(w, 5000);
}

static void *release_after_1s(void *arg)
{
	sleep(1);
	sqlite3_exec(arg, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

/* Start-up while another process holds the write lock: the writer waits
 * (bounded) instead of failing. */
static void t_start_while_locked(void)
{
	fresh("start_locked");
	struct session_store *st = open_store(NULL);
	if (!CHECK(st))
		return;
	struct session_record r;
	mkrec(&r, "u", "d", SESSION_ACTIVE, time_wall_us());
	write1(st, &r);
	session_store_close(st);
	sqlite3 *lock = lock_db();
	pthread_t th;
	pthread_create(&th, NULL, release_after_1s, lock);
	int64_t t0 = time_mono_ms();
	struct session_writer *w = start_writer(10, 50, 100, "other");
	int64_t took = time_mono_ms() - t0;
	pthread_join(th, NULL);
	sqlite3_close(lock);
	CHECK(w != NULL);
	CHECK(took >= 800);
	session_writer_stop(w, 5000);
}

/* FAULT (PostgreSQL, MariaDB): the server is stopped mid-run and started
 * again (scripts/pg-test.sh or mariadb-test.sh restart); submissions
 * continue throughout; every session ends up in the table. */
static void t_fault_server_outage(void)
{
	fresh("fault_server");
	struct session_writer *w = start_writer(50, 50, 100000, NULL);
	if (!CHECK(w))
		return;
	struct submitter *sub = calloc(1, sizeof(*sub));
	sub->w = w;
	sub->n = 3000;
	sub->interval_us = 1500; /* ~5 s of submissions */
	pthread_t th;
	pthread_create(&th, NULL, submit_thread, sub);
	usleep(700000);
	const char *root = getenv("CSOCKS_SOURCE_ROOT");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s/scripts/%s restart 2 >/dev/null", root ? root : "../..",
	         be->storage == STORAGE_MYSQL ? "mariadb-test.sh" : "pg-test.sh");
	int64_t t0 = time_mono_ms();
	int rc = system(cmd);
	CHECK_INT(rc, 0);
	fprintf(stderr, "    server restarted in %lld ms\n", (long long)(time_mono_ms() - t0));
	pthread_join(th, NULL);
	CHECK_INT(sub->ok, 3000);
	struct session_writer_stats s;
	session_writer_get_stats(w, &s);
	CHECK(s.retries > 0);
	/* the API's connection died in the restart too: it reconnects by itself */
	uint64_t active, total;
	char err[512];
	CHECK_INT(session_store_count(session_writer_store(w), &active, &total, err, sizeof(err)),
	          STORE_OK);
	session_writer_stop(w, 30000);
	struct session_store *st = open_store(NULL);
	if (CHECK(st)) {
		CHECK_INT(total_rows(st), 3000);
		CHECK(sum_bytes_sent(st, sub) == 3000 * 5000000000ULL + 2999 * 3000 / 2);
	}
	session_store_close(st);
	free(sub);
}

/* The proxy's entry point: everything comes from [sessions]. */
static void t_writer_from_config(void)
{
	char text[1024], err[512] = "";
	snprintf(text, sizeof(text),
	         "[sessions]\nenabled = true\nstorage = \"sqlite\"\n"
	         "database_url = \"sqlite://%s/fromcfg.db\"\nbatch_size = 3\n"
	         "batch_interval_ms = 60000\nretention_days = 30\nqueue_capacity = 50\n",
	         tmpdir);
	struct config_diag diag = {0};
	struct csocks_config *cfg = config_load_string(text, strlen(text), "test.toml", &diag);
	for (size_t i = 0; i < diag.n_errors; i++)
		fprintf(stderr, "    %s\n", diag.errors[i]);
	config_diag_free(&diag);
	if (!CHECK(cfg))
		return;
	struct session_writer *w = session_writer_start(cfg, err, sizeof(err));
	if (!CHECK(w)) {
		fprintf(stderr, "    %s\n", err);
		config_free(cfg);
		return;
	}
	struct session_record r;
	for (int i = 0; i < 3; i++) {
		mkrec(&r, "cfg", "d", SESSION_CLOSED, time_wall_us());
		CHECK(session_writer_submit(w, &r));
	}
	CHECK_INT(wait_rows(session_writer_store(w), 3, 5000), 3); /* batch_size 3 */
	struct session_writer_stats s;
	session_writer_get_stats(w, &s);
	CHECK_INT(s.queue_capacity, 50);
	session_writer_stop(w, 5000);

	/* storage = memory: there is no store to start */
	config_free(cfg);
	const char *mem = "[sessions]\nenabled = true\nstorage = \"memory\"\n";
	cfg = config_load_string(mem, strlen(mem), "mem.toml", &diag);
	config_diag_free(&diag);
	if (CHECK(cfg)) {
		CHECK(session_writer_start(cfg, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "memory") != NULL);
	}
	config_free(cfg);
}

/* ---- driver ---- */

/* The outage test restarts the server through scripts/pg-test.sh (or
 * mariadb-test.sh): only when the URL under test is that script's server. */
static bool test_server_is(const char *script, const char *url)
{
	const char *root = getenv("CSOCKS_SOURCE_ROOT");
	char cmd[1024], line[1024] = "";
	snprintf(cmd, sizeof(cmd), "%s/scripts/%s url 2>/dev/null", root ? root : "../..", script);
	FILE *f = popen(cmd, "r");
	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	pclose(f);
	line[strcspn(line, "\n")] = '\0';
	return strcmp(line, url) == 0;
}

static void run_on(struct backend *b, const char *name, void (*fn)(void))
{
	char label[128];
	snprintf(label, sizeof(label), "%s/%s", b->name, name);
	bool pg = b->storage == STORAGE_POSTGRES, my = b->storage == STORAGE_MYSQL;
	if ((pg && !pg_url) || (my && !my_url)) {
		const char *req =
		    getenv(pg ? "CSOCKS_TEST_REQUIRE_PG" : "CSOCKS_TEST_REQUIRE_MYSQL");
		if (req && !strcmp(req, "1")) { /* the test runner started one: a failure */
			test_failed++;
			printf("FAIL %s (%s=1 but no server)\n", label,
			       pg ? "CSOCKS_TEST_REQUIRE_PG" : "CSOCKS_TEST_REQUIRE_MYSQL");
			fflush(stdout);
			return;
		}
		test_skipped++;
		printf("SKIP: %s: %s not set (scripts/%s start)\n", label,
		       pg ? "CSOCKS_TEST_PG_URL" : "CSOCKS_TEST_MYSQL_URL",
		       pg ? "pg-test.sh" : "mariadb-test.sh");
		fflush(stdout);
		return;
	}
	be = b;
	test_run(label, fn);
}

#define ON(b, fn) run_on(b, #fn, fn)

int main(void)
{
	log_setup(LOGL_WARN, LOGF_TEXT);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	pg_url = getenv("CSOCKS_TEST_PG_URL");
	if (pg_url && !*pg_url)
		pg_url = NULL;
	struct backend sq = {.name = "sqlite", .storage = STORAGE_SQLITE};
	my_url = getenv("CSOCKS_TEST_MYSQL_URL");
	if (my_url && !*my_url)
		my_url = NULL;
	struct backend pg = {.name = "postgres", .storage = STORAGE_POSTGRES};
	struct backend my = {.name = "mariadb", .storage = STORAGE_MYSQL};
	struct backend *all[] = {&sq, &pg, &my};

	be = &sq;
	RUN(t_utf8_sanitize);
	RUN(t_metrics_store);
	RUN(t_bad_urls);
	RUN(t_writer_from_config);
	ON(&sq, t_adopts_rustsocks_db);
	ON(&sq, t_keeps_rustsocks_indexes);
	ON(&my, t_keeps_rustsocks_indexes);
	for (int i = 0; i < 3; i++) {
		ON(all[i], t_schema_and_migrations);
		ON(all[i], t_upsert_active_then_closed);
		ON(all[i], t_bytes_exact);
		ON(all[i], t_flush_by_size);
		ON(all[i], t_flush_by_interval);
		ON(all[i], t_restart_closes_stale);
		ON(all[i], t_retention);
		ON(all[i], t_history_queries);
		ON(all[i], t_node_read_back);
		ON(all[i], t_history_queries_rustsocks_indexes);
		ON(all[i], t_index_set);
		ON(all[i], t_stats_window);
		ON(all[i], t_bad_row_only_loses_itself);
	}
	ON(&sq, t_queue_full_drops);
	ON(&sq, t_fault_sqlite_locked);
	ON(&sq, t_catch_up_in_bigger_batches);
	ON(&sq, t_start_while_locked);
	if (pg_url && !test_server_is("pg-test.sh", pg_url)) {
		test_skipped++;
		printf("SKIP: postgres/t_fault_server_outage: CSOCKS_TEST_PG_URL is not the "
		       "cluster scripts/pg-test.sh manages (the test restarts that server)\n");
	} else {
		ON(&pg, t_fault_server_outage);
	}
	if (my_url && !test_server_is("mariadb-test.sh", my_url)) {
		test_skipped++;
		printf("SKIP: mariadb/t_fault_server_outage: CSOCKS_TEST_MYSQL_URL is not the "
		       "server scripts/mariadb-test.sh manages (the test restarts that server)\n");
	} else {
		ON(&my, t_fault_server_outage);
	}

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	printf("store: %d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
	return test_failed ? 1 : 0;
}
