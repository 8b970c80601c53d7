/* MariaDB / MySQL backend (Debian's libmariadb): RustSocks' third store,
 * its sessions table (times as RFC 3339 text in VARCHAR(64), as RustSocks
 * writes them), so several csocks nodes, or csocks and RustSocks, share one
 * history.
 *
 * The connection runs with ANSI_QUOTES ("user" is an identifier, as in the
 * other stores) and time_zone UTC. Values reach SQL only through
 * mysql_real_escape_string() quoting (strings) or integer formatting; sort
 * columns come from a whitelist. A batch is one transaction of multi-row
 * INSERT ... ON DUPLICATE KEY UPDATE statements (one round trip per chunk).
 * A lost connection is re-established on the next call. */
#include "session/store_mysql_internal.h"

#include "util/log.h"
#include "util/strutil.h"

#include <ctype.h>
#include <errmsg.h>
#include <inttypes.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Rows per INSERT: about 300 bytes each, far below max_allowed_packet. */
#define INSERT_CHUNK 250

/* ---- URL ---- */

static char *pct_decode(const char *s, size_t n)
{
	char *out = xcalloc(1, n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n + 1 && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			*o++ = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	return out;
}

void my_url_free(struct my_url *u)
{
	if (u->pass)
		explicit_bzero(u->pass, strlen(u->pass));
	free(u->user);
	free(u->pass);
	free(u->host);
	free(u->db);
	free(u->socket);
	memset(u, 0, sizeof(*u));
}

static int url_query(const char *q, struct my_url *out, char *err, size_t errlen)
{
	while (q && *q) {
		size_t n = strcspn(q, "&");
		if (n > 7 && !strncmp(q, "socket=", 7)) {
			free(out->socket);
			out->socket = pct_decode(q + 7, n - 7);
		} else if (n > 0 && strncmp(q, "ssl", 3) != 0 && strncmp(q, "charset=", 8) != 0) {
			store_set_err(err, errlen, "mysql URL: unknown parameter \"%.*s\"", (int)n,
			              q);
			return -1;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

/* mysql://[user[:pass]@]host[:port][/db][?socket=/path] (and mariadb://);
 * host may be [v6]. */
int my_url_parse(const char *url, struct my_url *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	const char *p;
	if (!strncasecmp(url, "mysql://", 8))
		p = url + 8;
	else if (!strncasecmp(url, "mariadb://", 10))
		p = url + 10;
	else {
		store_set_err(err, errlen, "mysql URL must start with mysql:// or mariadb://");
		return -1;
	}
	const char *end = p + strcspn(p, "/?");
	const char *at = NULL;
	for (const char *c = p; c < end; c++)
		if (*c == '@')
			at = c;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		out->user = pct_decode(p, (size_t)((colon ? colon : at) - p));
		if (colon)
			out->pass = pct_decode(colon + 1, (size_t)(at - colon - 1));
		p = at + 1;
	}
	const char *hend = end, *port = NULL;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb) {
			store_set_err(err, errlen, "mysql URL: unclosed [ in the host");
			goto bad;
		}
		out->host = xstrndup(p + 1, (size_t)(rb - p - 1));
		if (rb + 1 < end && rb[1] == ':')
			port = rb + 2;
		else if (rb + 1 != end) {
			store_set_err(err, errlen, "mysql URL: junk after the host");
			goto bad;
		}
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		if (colon) {
			hend = colon;
			port = colon + 1;
		}
		out->host = pct_decode(p, (size_t)(hend - p));
	}
	if (port) {
		char *e;
		long v = strtol(port, &e, 10);
		if (e != end || port == end || v < 1 || v > 65535) {
			store_set_err(err, errlen, "mysql URL: bad port \"%.*s\"",
			              (int)(end - port), port);
			goto bad;
		}
		out->port = (unsigned)v;
	}
	p = end;
	if (*p == '/') {
		size_t n = strcspn(p + 1, "?");
		if (n)
			out->db = pct_decode(p + 1, n);
		p += 1 + n;
	}
	if (*p == '?' && url_query(p + 1, out, err, errlen) < 0)
		goto bad;
	if (!out->db) {
		store_set_err(err, errlen,
		              "mysql URL: no database name (mysql://user:pass@host/db)");
		goto bad;
	}
	if (!out->host[0] && !out->socket) {
		store_set_err(err, errlen, "mysql URL: no host (or ?socket=/path)");
		goto bad;
	}
	return 0;
bad:
	my_url_free(out);
	return -1;
}

/* ---- Errors ---- */

static int classify(unsigned e)
{
	switch (e) {
	case 0:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_UNKNOWN_HOST:
	case CR_COMMANDS_OUT_OF_SYNC:
	case CR_SERVER_LOST_EXTENDED:
	case ER_SERVER_SHUTDOWN:
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_NET_READ_ERROR:
	case ER_NET_READ_INTERRUPTED:
	case ER_NET_ERROR_ON_WRITE:
	case ER_NET_WRITE_INTERRUPTED:
	case ER_CONNECTION_KILLED:
	case ER_OUT_OF_RESOURCES:
	case ER_DISK_FULL:
	case ER_RECORD_FILE_FULL:
	case ER_OPTION_PREVENTS_STATEMENT: /* read-only replica after a fail-over */
		return STORE_ERR_CONN;
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
	case ER_QUERY_INTERRUPTED:
		return STORE_ERR_BUSY;
	case ER_DUP_ENTRY:
	case ER_DATA_TOO_LONG:
	case ER_WARN_DATA_OUT_OF_RANGE:
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_BAD_NULL_ERROR:
	case ER_CONSTRAINT_FAILED:
	case ER_SIGNAL_EXCEPTION:
		return STORE_ERR_DATA;
	default:
		/* 2000-2999 are client-side: the link, not the statement */
		return e >= 2000 && e < 3000 ? STORE_ERR_CONN : STORE_ERR_INTERNAL;
	}
}

int my_store_fail(struct my_store *s, const char *what, char *err, size_t errlen)
{
	unsigned e = s->conn ? mysql_errno(s->conn) : 0;
	store_set_err(err, errlen, "mysql %s: %s (%u)", what,
	              s->conn ? mysql_error(s->conn) : "not connected", e);
	int r = classify(e);
	if (r == STORE_ERR_CONN && s->conn) {
		mysql_close(s->conn); /* the next call connects again */
		s->conn = NULL;
	}
	return r;
}

/* ---- Connection ---- */

static void disconnect(struct my_store *s)
{
	if (s->conn)
		mysql_close(s->conn);
	s->conn = NULL;
}

/* mysql_init() initialises the library on first use, which is not
 * thread-safe: the writer's and the API's stores may connect at once. */
static void library_init(void)
{
	mysql_library_init(0, NULL, NULL);
}

static int connect_db(struct my_store *s, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, library_init);
	disconnect(s);
	s->conn = mysql_init(NULL);
	if (!s->conn) {
		store_set_err(err, errlen, "mysql: out of memory");
		return STORE_ERR_CONN;
	}
	/* Bound how long a dead server can hold a call (seconds; libmariadb
	 * retries a read up to three times). */
	unsigned connect_t = 5, io_t = 10;
	bool no = false;
	mysql_optionsv(s->conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect_t);
	mysql_optionsv(s->conn, MYSQL_OPT_READ_TIMEOUT, &io_t);
	mysql_optionsv(s->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_t);
	mysql_optionsv(s->conn, MYSQL_OPT_RECONNECT, &no);
	mysql_optionsv(s->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_optionsv(s->conn, MYSQL_OPT_LOCAL_INFILE, &no);
	const char *host = s->url.host && s->url.host[0] ? s->url.host : NULL;
	if (s->url.socket && !host)
		host = "localhost"; /* libmariadb uses the socket only for localhost */
	if (!mysql_real_connect(s->conn, host, s->url.user, s->url.pass, s->url.db, s->url.port,
	                        s->url.socket, 0)) {
		store_set_err(err, errlen, "mysql connect: %s (%u)", mysql_error(s->conn),
		              mysql_errno(s->conn));
		disconnect(s);
		return STORE_ERR_CONN;
	}
	return my_store_exec(s,
	                     "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), "
	                     "'ANSI_QUOTES'), time_zone = '+00:00', autocommit = 1",
	                     "session setup", err, errlen);
}

int my_store_ensure_conn(struct my_store *s, char *err, size_t errlen)
{
	return s->conn ? STORE_OK : connect_db(s, err, errlen);
}

int my_store_exec(struct my_store *s, const char *sql, const char *what, char *err, size_t errlen)
{
	if (!s->conn)
		return my_store_fail(s, what, err, errlen);
	if (mysql_real_query(s->conn, sql, strlen(sql)) != 0)
		return my_store_fail(s, what, err, errlen);
	MYSQL_RES *res = mysql_store_result(s->conn);
	if (res)
		mysql_free_result(res);
	else if (mysql_field_count(s->conn) != 0)
		return my_store_fail(s, what, err, errlen);
	return STORE_OK;
}

int my_store_select(struct my_store *s, const char *sql, MYSQL_RES **out, const char *what,
                    char *err, size_t errlen)
{
	*out = NULL;
	if (!s->conn)
		return my_store_fail(s, what, err, errlen);
	if (mysql_real_query(s->conn, sql, strlen(sql)) != 0)
		return my_store_fail(s, what, err, errlen);
	*out = mysql_store_result(s->conn);
	return *out ? STORE_OK : my_store_fail(s, what, err, errlen);
}

void my_store_quote(struct my_store *s, struct strbuf *b, const char *text)
{
	if (!text) {
		strbuf_puts(b, "NULL");
		return;
	}
	size_t n = strlen(text);
	char stack[512];
	char *esc = 2 * n + 1 <= sizeof(stack) ? stack : xcalloc(1, 2 * n + 1);
	unsigned long k = mysql_real_escape_string(s->conn, esc, text, (unsigned long)n);
	strbuf_addc(b, '\'');
	strbuf_add(b, esc, k);
	strbuf_addc(b, '\'');
	if (esc != stack)
		free(esc);
}

static int my_open(struct session_store *st, const char *url, int busy_ms, char *err, size_t errlen)
{
	(void)busy_ms;
	struct my_store *s = xcalloc(1, sizeof(*s));
	st->impl = s;
	if (my_url_parse(url, &s->url, err, errlen) < 0)
		return STORE_ERR_INTERNAL;
	return connect_db(s, err, errlen);
}

static void my_close(struct session_store *st)
{
	struct my_store *s = st->impl;
	disconnect(s);
	my_url_free(&s->url);
	free(s);
	st->impl = NULL;
}

static int my_reconnect(struct session_store *st, char *err, size_t errlen)
{
	return connect_db(st->impl, err, errlen);
}

static void rollback(struct my_store *s)
{
	if (s->conn)
		mysql_real_query(s->conn, "ROLLBACK", 8);
}

/* ---- Migrations (same numbering as the other stores) ---- */

/* RustSocks' MySQL sessions table. utf8mb4_bin: text compares byte-exact,
 * as in SQLite and PostgreSQL (a user filter "Alice" is not "alice"). The
 * two indexes of version 1 and two of version 2 are the four csocks'
 * queries use (RustSocks' names). */
static const char *const mig_v1[] = {
    "CREATE TABLE IF NOT EXISTS sessions ("
    " session_id VARCHAR(36) NOT NULL PRIMARY KEY,"
    " \"user\" VARCHAR(255) NOT NULL,"
    " start_time VARCHAR(64) NOT NULL,"
    " end_time VARCHAR(64) NULL,"
    " duration_secs BIGINT NULL,"
    " source_ip VARCHAR(255) NOT NULL,"
    " source_port INT NOT NULL,"
    " dest_ip VARCHAR(255) NOT NULL,"
    " dest_port INT NOT NULL,"
    " protocol VARCHAR(16) NOT NULL,"
    " bytes_sent BIGINT NOT NULL DEFAULT 0,"
    " bytes_received BIGINT NOT NULL DEFAULT 0,"
    " packets_sent BIGINT NOT NULL DEFAULT 0,"
    " packets_received BIGINT NOT NULL DEFAULT 0,"
    " status VARCHAR(64) NOT NULL,"
    " close_reason TEXT NULL,"
    " acl_rule_matched TEXT NULL,"
    " acl_decision VARCHAR(64) NOT NULL,"
    " created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE INDEX IF NOT EXISTS idx_sessions_start_time ON sessions (start_time)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_start ON sessions (\"user\", start_time)",
    NULL,
};
static const char *const mig_v2[] = {
    "CREATE INDEX IF NOT EXISTS idx_sessions_status_start ON sessions (status, start_time)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_dest_user ON sessions (dest_ip, \"user\")",
    NULL,
};
static const char *const mig_v3[] = {
    "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS node VARCHAR(255) NULL",
    NULL,
};

static const struct {
	int version;
	const char *name;
	const char *const *sql;
} migrations[] = {
    {1, "sessions table (RustSocks' MySQL schema)", mig_v1},
    {2, "sessions indexes (RustSocks' status_start, dest_user)", mig_v2},
    {3, "csocks: node column", mig_v3},
};

static int one_int(struct my_store *s, const char *sql, long long *v, const char *what, char *err,
                   size_t errlen)
{
	MYSQL_RES *res;
	int r = my_store_select(s, sql, &res, what, err, errlen);
	if (r != STORE_OK)
		return r;
	MYSQL_ROW row = mysql_fetch_row(res);
	*v = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
	mysql_free_result(res);
	return STORE_OK;
}

static int read_version(struct my_store *s, int *version, char *err, size_t errlen)
{
	long long v = 0;
	int r = one_int(s, "SELECT COALESCE(MAX(version), 0) FROM csocks_schema_migrations", &v,
	                "schema version", err, errlen);
	*version = (int)v;
	return r;
}

static int my_index_exists(struct session_store *st, const char *name, bool *yes, char *err,
                           size_t errlen)
{
	struct my_store *s = st->impl;
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "SELECT COUNT(*) FROM information_schema.statistics WHERE "
	                "table_schema = DATABASE() AND table_name = 'sessions' AND index_name = ");
	my_store_quote(s, &b, name);
	long long n = 0;
	int r = strbuf_failed(&b) ? STORE_ERR_INTERNAL
	                          : one_int(s, b.p, &n, "index lookup", err, errlen);
	strbuf_free(&b);
	*yes = n > 0;
	return r;
}

/* store.c speaks SQLite/PostgreSQL: "DROP INDEX IF EXISTS x" needs its
 * table here. */
static int my_index_exec(struct session_store *st, const char *sql, char *err, size_t errlen)
{
	char buf[320];
	if (!strncmp(sql, "DROP INDEX", 10)) {
		snprintf(buf, sizeof(buf), "%s ON sessions", sql);
		sql = buf;
	}
	return my_store_exec(st->impl, sql, "index", err, errlen);
}

static const struct store_index_ops my_index_ops = {my_index_exists, my_index_exec};

static int apply_migrations(struct session_store *st, char *err, size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_exec(s,
	                      "CREATE TABLE IF NOT EXISTS csocks_schema_migrations ("
	                      " version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,"
	                      " applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
	                      " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	                      "create csocks_schema_migrations", err, errlen);
	int version = 0;
	if (r == STORE_OK)
		r = read_version(s, &version, err, errlen);
	if (r == STORE_OK && version > STORE_SCHEMA_LATEST) {
		store_set_err(err, errlen,
		              "mysql: schema version %d is newer than this csocks knows (%d)",
		              version, STORE_SCHEMA_LATEST);
		return STORE_ERR_INTERNAL;
	}
	if (r == STORE_OK)
		r = store_note_indexes(st, &my_index_ops, err, errlen);
	for (size_t i = 0; r == STORE_OK && i < sizeof(migrations) / sizeof(migrations[0]); i++) {
		if (migrations[i].version <= version)
			continue;
		/* DDL commits implicitly here: every statement is idempotent, so
		 * a migration cut short is simply applied again. */
		for (const char *const *q = migrations[i].sql; r == STORE_OK && *q; q++)
			r = my_store_exec(s, *q, migrations[i].name, err, errlen);
		struct strbuf b;
		strbuf_init(&b);
		strbuf_printf(&b,
		              "INSERT IGNORE INTO csocks_schema_migrations (version, name) "
		              "VALUES (%d, ",
		              migrations[i].version);
		my_store_quote(s, &b, migrations[i].name);
		strbuf_addc(&b, ')');
		if (r == STORE_OK)
			r = strbuf_failed(&b)
			        ? STORE_ERR_INTERNAL
			        : my_store_exec(s, b.p, "record migration", err, errlen);
		strbuf_free(&b);
		if (r == STORE_OK)
			log_info("sessions store mysql: applied migration %d (%s)",
			         migrations[i].version, migrations[i].name);
	}
	if (r == STORE_OK)
		r = store_apply_index_set(st, &my_index_ops, err, errlen);
	return r;
}

/* Nodes starting together take turns (a named lock, released on
 * disconnect too). */
static int my_migrate(struct session_store *st, char *err, size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	long long got = 0;
	if (r == STORE_OK)
		r = one_int(s, "SELECT GET_LOCK('csocks_migration', 30)", &got, "migration lock",
		            err, errlen);
	if (r == STORE_OK && got != 1) {
		store_set_err(err, errlen, "mysql: another node holds csocks_migration for 30 s");
		return STORE_ERR_BUSY;
	}
	if (r == STORE_OK)
		r = apply_migrations(st, err, errlen);
	if (s->conn)
		mysql_real_query(s->conn, "DO RELEASE_LOCK('csocks_migration')", 35);
	return r;
}

static int my_schema_version(struct session_store *st, int *version, char *err, size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	return r == STORE_OK ? read_version(s, version, err, errlen) : r;
}

/* ---- Writes ---- */

/* The guard of the other stores' UPSERT ("a finished row never goes back
 * to active"): MySQL's ON DUPLICATE KEY UPDATE has no WHERE, so every
 * assignment keeps the old value unless the guard holds. Assignments see
 * the columns already assigned, so status comes last. */
#define GUARD "IF(status = 'active' OR VALUES(status) <> 'active', VALUES(%s), %s)"
static const char *const update_cols[] = {
    "\"user\"",       "start_time",   "end_time",         "duration_secs", "source_ip",
    "source_port",    "dest_ip",      "dest_port",        "protocol",      "bytes_sent",
    "bytes_received", "packets_sent", "packets_received", "close_reason",  "acl_rule_matched",
    "acl_decision",   "node",         "status",
};

static void add_int(struct strbuf *b, int64_t v)
{
	strbuf_printf(b, ",%" PRId64, v);
}

static void add_text(struct my_store *s, struct strbuf *b, const char *v)
{
	strbuf_addc(b, ',');
	my_store_quote(s, b, v);
}

static void add_row(struct my_store *s, struct strbuf *b, const struct session_record *r,
                    const char *node)
{
	char start[SESSION_TIME_MAX], end[SESSION_TIME_MAX];
	session_time_format(r->start_us, start, sizeof(start));
	if (r->end_us)
		session_time_format(r->end_us, end, sizeof(end));
	strbuf_addc(b, '(');
	my_store_quote(s, b, r->session_id);
	add_text(s, b, r->user ? r->user : "");
	add_text(s, b, start);
	add_text(s, b, r->end_us ? end : NULL);
	if (r->duration_secs >= 0)
		add_int(b, r->duration_secs);
	else
		strbuf_puts(b, ",NULL");
	add_text(s, b, r->source_ip);
	add_int(b, r->source_port);
	add_text(s, b, r->dest_ip ? r->dest_ip : "");
	add_int(b, r->dest_port);
	add_text(s, b, session_protocol_name(r->protocol));
	add_int(b, (int64_t)r->bytes_sent);
	add_int(b, (int64_t)r->bytes_received);
	add_int(b, (int64_t)r->packets_sent);
	add_int(b, (int64_t)r->packets_received);
	add_text(s, b, session_status_name(r->status));
	add_text(s, b, r->close_reason);
	add_text(s, b, r->acl_rule_matched);
	add_text(s, b, r->acl_decision ? r->acl_decision : "");
	add_text(s, b, node);
	strbuf_addc(b, ')');
}

static int insert_chunk(struct my_store *s, const struct session_record *const *recs, size_t n,
                        const char *node, char *err, size_t errlen)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "INSERT INTO sessions (" MY_COLUMNS ", node) VALUES ");
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_addc(&b, ',');
		add_row(s, &b, recs[i], node);
	}
	strbuf_puts(&b, " ON DUPLICATE KEY UPDATE ");
	for (size_t i = 0; i < sizeof(update_cols) / sizeof(update_cols[0]); i++)
		strbuf_printf(&b, "%s%s = " GUARD, i ? ", " : "", update_cols[i], update_cols[i],
		              update_cols[i]);
	int r =
	    strbuf_failed(&b) ? STORE_ERR_INTERNAL : my_store_exec(s, b.p, "upsert", err, errlen);
	strbuf_free(&b);
	return r;
}

static int my_write_batch(struct session_store *st, const struct session_record *const *recs,
                          size_t n, char *err, size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	if (r == STORE_OK)
		r = my_store_exec(s, "START TRANSACTION", "begin", err, errlen);
	for (size_t off = 0; r == STORE_OK && off < n; off += INSERT_CHUNK) {
		size_t k = n - off < INSERT_CHUNK ? n - off : INSERT_CHUNK;
		r = insert_chunk(s, recs + off, k, st->node, err, errlen);
	}
	if (r == STORE_OK)
		r = my_store_exec(s, "COMMIT", "commit", err, errlen);
	if (r != STORE_OK)
		rollback(s);
	return r;
}

/* Rows still active: their duration is computed here (the start times are
 * text), each row updated in one transaction. After a crash there are
 * few. */
static int my_close_stale(struct session_store *st, int64_t now_us, uint64_t *closed, char *err,
                          size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	if (r != STORE_OK)
		return r;
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "SELECT session_id, start_time FROM sessions WHERE status = 'active' AND "
	                "(node IS NULL OR node = ");
	my_store_quote(s, &b, st->node);
	strbuf_puts(&b, ")");
	MYSQL_RES *res = NULL;
	r = my_store_select(s, b.p, &res, "find stale sessions", err, errlen);
	strbuf_free(&b);
	if (r == STORE_OK)
		r = my_store_exec(s, "START TRANSACTION", "begin", err, errlen);
	char now[SESSION_TIME_MAX];
	session_time_format(now_us, now, sizeof(now));
	MYSQL_ROW row;
	uint64_t n = 0;
	while (r == STORE_OK && (row = mysql_fetch_row(res)) != NULL) {
		int64_t start = now_us;
		if (row[1] && session_time_parse(row[1], &start) != 0)
			start = now_us;
		int64_t dur = now_us > start ? (now_us - start) / 1000000 : 0;
		strbuf_init(&b);
		strbuf_puts(&b, "UPDATE sessions SET status = 'closed', close_reason = ");
		my_store_quote(s, &b, SESSION_STALE_CLOSE_REASON);
		strbuf_puts(&b, ", end_time = ");
		my_store_quote(s, &b, now);
		strbuf_printf(&b,
		              ", duration_secs = %" PRId64 " WHERE status = 'active' AND "
		              "session_id = ",
		              dur);
		my_store_quote(s, &b, row[0]);
		r = strbuf_failed(&b) ? STORE_ERR_INTERNAL
		                      : my_store_exec(s, b.p, "close stale session", err, errlen);
		if (r == STORE_OK)
			n += mysql_affected_rows(s->conn);
		strbuf_free(&b);
	}
	if (res)
		mysql_free_result(res);
	if (r == STORE_OK)
		r = my_store_exec(s, "COMMIT", "commit", err, errlen);
	if (r != STORE_OK)
		rollback(s);
	else
		*closed = n;
	return r;
}

static int my_delete_older_than(struct session_store *st, int64_t cutoff_us, uint32_t limit,
                                uint64_t *deleted, char *err, size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	if (r != STORE_OK)
		return r;
	char cutoff[SESSION_TIME_MAX];
	session_time_format(cutoff_us, cutoff, sizeof(cutoff));
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "DELETE FROM sessions WHERE start_time < ");
	my_store_quote(s, &b, cutoff);
	strbuf_puts(&b, " AND status <> 'active'");
	if (limit)
		strbuf_printf(&b, " LIMIT %u", limit);
	r = strbuf_failed(&b) ? STORE_ERR_INTERNAL
	                      : my_store_exec(s, b.p, "retention delete", err, errlen);
	if (r == STORE_OK)
		*deleted = mysql_affected_rows(s->conn);
	strbuf_free(&b);
	return r;
}

const struct store_ops store_mysql_ops = {
    .name = "mysql",
    .open = my_open,
    .close = my_close,
    .reconnect = my_reconnect,
    .migrate = my_migrate,
    .schema_version = my_schema_version,
    .write_batch = my_write_batch,
    .close_stale = my_close_stale,
    .delete_older_than = my_delete_older_than,
    .query = my_store_query,
    .get = my_store_get,
    .count = my_store_count,
    .stats = my_store_stats,
};
