/* Store front end: URL checks, locking, dispatch to the backend, and the
 * SQL fragments both backends build their history queries from. */
#include "session/store_impl.h"

#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void store_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int session_store_schema_latest(void)
{
	return STORE_SCHEMA_LATEST;
}

static bool has_prefix(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

struct session_store *session_store_open(const struct session_store_options *o, char *err,
                                         size_t errlen)
{
	const char *url = o->database_url;
	if (o->storage != STORAGE_SQLITE && o->storage != STORAGE_POSTGRES &&
	    o->storage != STORAGE_MYSQL) {
		store_set_err(err, errlen, "sessions.storage is \"memory\": no database to open");
		return NULL;
	}
	if (!url || !*url) {
		store_set_err(err, errlen, "sessions.database_url is empty");
		return NULL;
	}
	bool is_sqlite = has_prefix(url, "sqlite:");
	bool is_pg = has_prefix(url, "postgresql://") || has_prefix(url, "postgres://");
	bool is_my = has_prefix(url, "mysql://") || has_prefix(url, "mariadb://");
	const struct store_ops *ops;
	if (o->storage == STORAGE_SQLITE && is_sqlite) {
		ops = &store_sqlite_ops;
	} else if (o->storage == STORAGE_POSTGRES && is_pg) {
		ops = &store_pg_ops;
	} else if (o->storage == STORAGE_MYSQL && is_my) {
		ops = &store_mysql_ops;
	} else {
		static const char *const names[] = {[STORAGE_SQLITE] = "sqlite",
		                                    [STORAGE_POSTGRES] = "postgres",
		                                    [STORAGE_MYSQL] = "mariadb"};
		static const char *const forms[] = {[STORAGE_SQLITE] = "sqlite://PATH",
		                                    [STORAGE_POSTGRES] = "postgresql://...",
		                                    [STORAGE_MYSQL] = "mysql://..."};
		store_set_err(err, errlen,
		              "sessions.storage = \"%s\" needs database_url \"%s\", got a "
		              "different scheme",
		              names[o->storage], forms[o->storage]);
		return NULL;
	}

	struct session_store *st = xcalloc(1, sizeof(*st));
	st->ops = ops;
	st->rustsocks_indexes = o->rustsocks_indexes;
	pthread_mutex_init(&st->lock, NULL);
	if (o->node && *o->node) {
		st->node = xstrdup(o->node);
	} else {
		char host[256] = "";
		if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
			cs_strlcpy(host, "localhost", sizeof(host));
		st->node = xstrdup(host);
	}
	int busy = o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 200;
	int64_t until = time_mono_ms() + (o->open_wait_ms > 0 ? o->open_wait_ms : 0);
	for (;;) {
		int rc = ops->open(st, url, busy, err, errlen);
		if (rc == STORE_OK && o->migrate)
			rc = ops->migrate(st, err, errlen);
		if (rc == STORE_OK)
			return st;
		if (st->impl)
			ops->close(st);
		if (rc != STORE_ERR_BUSY || time_mono_ms() >= until)
			break;
		usleep(100000);
	}
	session_store_close(st);
	return NULL;
}

void session_store_close(struct session_store *st)
{
	if (!st)
		return;
	if (st->impl)
		st->ops->close(st);
	pthread_mutex_destroy(&st->lock);
	free(st->node);
	free(st);
}

const char *session_store_backend(const struct session_store *st)
{
	return st->ops->name;
}

/* Every public call below: lock, dispatch, unlock. */

int session_store_reconnect(struct session_store *st, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->reconnect(st, err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int session_store_schema_version(struct session_store *st, int *version, char *err, size_t errlen)
{
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->schema_version(st, version, err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int session_store_write_batch(struct session_store *st, const struct session_record *const *recs,
                              size_t n, char *err, size_t errlen)
{
	if (n == 0)
		return STORE_OK;
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->write_batch(st, recs, n, err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int session_store_close_stale(struct session_store *st, int64_t now_us, uint64_t *closed, char *err,
                              size_t errlen)
{
	*closed = 0;
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->close_stale(st, now_us ? now_us : time_wall_us(), closed, err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int session_store_delete_older_than(struct session_store *st, int64_t cutoff_us, uint32_t limit,
                                    uint64_t *deleted, char *err, size_t errlen)
{
	*deleted = 0;
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->delete_older_than(st, cutoff_us, limit, deleted, err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* Readers (the API) retry once on a fresh connection when the old one was
 * found dead (a PostgreSQL restart since the last query). Lock held. */
static bool relinked(struct session_store *st, int rc)
{
	return rc == STORE_ERR_CONN && st->ops->reconnect(st, NULL, 0) == STORE_OK;
}

int session_store_query(struct session_store *st, const struct session_query *q,
                        struct session_page *out, char *err, size_t errlen)
{
	struct session_query nq;
	store_query_normalise(q, &nq);
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->query(st, &nq, out, err, errlen);
	if (relinked(st, rc)) {
		session_page_free(out);
		memset(out, 0, sizeof(*out));
		rc = st->ops->query(st, &nq, out, err, errlen);
	}
	pthread_mutex_unlock(&st->lock);
	if (rc != STORE_OK)
		session_page_free(out);
	else
		store_page_finish(&nq, out);
	return rc;
}

int session_store_get(struct session_store *st, const char *session_id, struct session_record **out,
                      char *err, size_t errlen)
{
	*out = NULL;
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->get(st, session_id, out, err, errlen);
	if (relinked(st, rc))
		rc = st->ops->get(st, session_id, out, err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int session_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                        size_t errlen)
{
	*active = *total = 0;
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->count(st, active, total, err, errlen);
	if (relinked(st, rc))
		rc = st->ops->count(st, active, total, err, errlen);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int session_store_stats(struct session_store *st, uint32_t window_hours, int64_t now_us,
                        struct session_stats *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->window_hours = window_hours;
	if (!now_us)
		now_us = time_wall_us();
	int64_t since = window_hours ? now_us - (int64_t)window_hours * 3600 * 1000000 : INT64_MIN;
	pthread_mutex_lock(&st->lock);
	int rc = st->ops->stats(st, since, out, err, errlen);
	if (relinked(st, rc)) {
		session_stats_free(out);
		rc = st->ops->stats(st, since, out, err, errlen);
	}
	pthread_mutex_unlock(&st->lock);
	if (rc != STORE_OK)
		session_stats_free(out);
	return rc;
}

/* ---- Shared SQL pieces ---- */

/* Whitelist: the only column names that ever reach ORDER BY. `user` is
 * quoted because it is a reserved word in PostgreSQL (SQLite accepts the
 * quotes too). */
static const char *const sort_columns[SESSION_SORT_COUNT] = {
    [SESSION_SORT_START_TIME] = "start_time",
    [SESSION_SORT_END_TIME] = "end_time",
    [SESSION_SORT_DURATION] = "duration_secs",
    [SESSION_SORT_BYTES_SENT] = "bytes_sent",
    [SESSION_SORT_BYTES_RECEIVED] = "bytes_received",
    [SESSION_SORT_USER] = "\"user\"",
    [SESSION_SORT_SOURCE_IP] = "source_ip",
    [SESSION_SORT_DEST_IP] = "dest_ip",
    [SESSION_SORT_DEST_PORT] = "dest_port",
    [SESSION_SORT_PROTOCOL] = "protocol",
    [SESSION_SORT_STATUS] = "status",
    [SESSION_SORT_ACL_DECISION] = "acl_decision",
};

/* ---- The optional indexes ---- */

const struct store_index store_rustsocks_indexes[] = {
    /* prefixes or reverses of the four csocks keeps */
    {"idx_sessions_user", "sessions(\"user\")"},
    {"idx_sessions_start_time_asc", "sessions(start_time ASC)"},
    {"idx_sessions_dest_ip", "sessions(dest_ip)"},
    {"idx_sessions_status", "sessions(status)"},
    {"idx_sessions_acl_decision", "sessions(acl_decision)"},
    /* sorts and filters csocks serves without them */
    {"idx_sessions_acl_decision_start", "sessions(acl_decision, start_time DESC)"},
    {"idx_sessions_user_status_start", "sessions(\"user\", status, start_time DESC)"},
    {"idx_sessions_bytes_sent", "sessions(bytes_sent)"},
    {"idx_sessions_bytes_received", "sessions(bytes_received)"},
    {"idx_sessions_protocol", "sessions(protocol)"},
    {"idx_sessions_duration_order", "sessions(duration_secs, session_id)"},
    {"idx_sessions_source_ip", "sessions(source_ip, session_id)"},
};
const size_t store_rustsocks_indexes_n =
    sizeof(store_rustsocks_indexes) / sizeof(store_rustsocks_indexes[0]);

int store_note_indexes(struct session_store *st, const struct store_index_ops *ops, char *err,
                       size_t errlen)
{
	st->had_indexes = 0;
	for (size_t i = 0; i < store_rustsocks_indexes_n; i++) {
		bool have = false;
		int r = ops->exists(st, store_rustsocks_indexes[i].name, &have, err, errlen);
		if (r != STORE_OK)
			return r;
		if (have)
			st->had_indexes |= 1u << i;
	}
	return STORE_OK;
}

int store_apply_index_set(struct session_store *st, const struct store_index_ops *ops, char *err,
                          size_t errlen)
{
	bool want = st->rustsocks_indexes;
	char names[1024] = "";
	size_t changed = 0, kept = 0;
	for (size_t i = 0; i < store_rustsocks_indexes_n; i++) {
		const struct store_index *ix = &store_rustsocks_indexes[i];
		bool had = st->had_indexes & (1u << i), have = false;
		int r = ops->exists(st, ix->name, &have, err, errlen);
		if (r != STORE_OK)
			return r;
		if (have && had && !want)
			kept++;
		if (have == want || (have && had))
			continue;
		char sql[256];
		if (want)
			snprintf(sql, sizeof(sql), "CREATE INDEX IF NOT EXISTS %s ON %s", ix->name,
			         ix->on);
		else /* created by this open's migrations */
			snprintf(sql, sizeof(sql), "DROP INDEX IF EXISTS %s", ix->name);
		if (want && changed == 0)
			log_info(
			    "sessions store %s: creating RustSocks' other session indexes "
			    "(sessions.rustsocks_indexes = true); on a large table this takes a "
			    "while",
			    st->ops->name);
		r = ops->exec(st, sql, err, errlen);
		if (r != STORE_OK)
			return r;
		if (want) {
			size_t len = strlen(names);
			snprintf(names + len, sizeof(names) - len, "%s%s", changed ? ", " : "",
			         ix->name);
			changed++;
		}
	}
	if (changed)
		log_info("sessions store %s: created %zu indexes: %s", st->ops->name, changed,
		         names);
	if (kept)
		log_info("sessions store %s: keeping the %zu other RustSocks indexes this "
		         "database has (csocks' queries use 4; see docs/sessions.md, Indexes)",
		         st->ops->name, kept);
	return STORE_OK;
}

const char *store_sort_column(enum session_sort s)
{
	return (unsigned)s < SESSION_SORT_COUNT ? sort_columns[s] : "start_time";
}

void store_query_normalise(const struct session_query *in, struct session_query *out)
{
	*out = *in;
	if (out->page == 0)
		out->page = 1;
	if (out->page_size == 0)
		out->page_size = SESSION_PAGE_SIZE_DEFAULT;
	if (out->page_size > SESSION_PAGE_SIZE_MAX)
		out->page_size = SESSION_PAGE_SIZE_MAX;
	if ((unsigned)out->sort >= SESSION_SORT_COUNT)
		out->sort = SESSION_SORT_START_TIME;
	if (out->now_us == 0)
		out->now_us = time_wall_us();
}

static int append(char *sql, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int append(char *sql, size_t size, const char *fmt, ...)
{
	size_t len = strlen(sql);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(sql + len, size - len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size - len ? -1 : 0;
}

static int param_text(struct store_params *p, const char *s)
{
	p->v[p->n].is_int = false;
	p->v[p->n].s = s;
	return ++p->n;
}

static int param_int(struct store_params *p, int64_t i)
{
	p->v[p->n].is_int = true;
	p->v[p->n].i = i;
	p->v[p->n].s = NULL;
	return ++p->n;
}

int store_sql_filters(const struct session_query *q, char ph, const char *time_cast, char *sql,
                      size_t size, struct store_params *p)
{
	const char *sep = " WHERE ";
	int rc = 0;
	if (q->user) {
		rc |= append(sql, size, "%s\"user\" = %c%d", sep, ph, param_text(p, q->user));
		sep = " AND ";
	}
	if (q->dest_ip) {
		rc |= append(sql, size, "%sdest_ip = %c%d", sep, ph, param_text(p, q->dest_ip));
		sep = " AND ";
	}
	if (q->has_status) {
		rc |= append(sql, size, "%sstatus = %c%d", sep, ph,
		             param_text(p, session_status_name(q->status)));
		sep = " AND ";
	}
	if (q->hours > 0) {
		int i = p->n;
		session_time_format(q->now_us - (int64_t)q->hours * 3600 * 1000000, p->v[i].buf,
		                    sizeof(p->v[i].buf));
		rc |= append(sql, size, "%sstart_time >= %c%d%s", sep, ph,
		             param_text(p, p->v[i].buf), time_cast);
	}
	return rc ? -1 : 0;
}

int store_sql_order_page(const struct session_query *q, char ph, char *sql, size_t size,
                         struct store_params *p)
{
	const char *dir = q->sort_asc ? "ASC" : "DESC";
	/* Only end_time and duration_secs can be NULL (active sessions): put
	 * those last in both backends. Elsewhere the backend's default NULL
	 * order is kept, because PostgreSQL uses an index for ORDER BY only
	 * when the NULLS clause matches the index's. The session_id tie-break
	 * keeps pages stable; both backends sort just the ties (SQLite "right
	 * part of ORDER BY", PostgreSQL incremental sort) after an index scan. */
	bool nullable = q->sort == SESSION_SORT_END_TIME || q->sort == SESSION_SORT_DURATION;
	int lim = param_int(p, q->page_size);
	int off = param_int(p, (int64_t)(q->page - 1) * q->page_size);
	return append(sql, size, " ORDER BY %s %s%s, session_id %s LIMIT %c%d OFFSET %c%d",
	              store_sort_column(q->sort), dir, nullable ? " NULLS LAST" : "", dir, ph, lim,
	              ph, off);
}

void store_page_finish(const struct session_query *q, struct session_page *out)
{
	out->page = q->page;
	out->page_size = q->page_size;
	out->total_pages = (uint32_t)((out->total + q->page_size - 1) / q->page_size);
}

void store_page_push(struct session_page *out, struct session_record *r)
{
	/* n grows one at a time up to page_size (<= 1000): double the array. */
	if (out->n == 0 || (out->n >= 8 && (out->n & (out->n - 1)) == 0)) {
		size_t cap = out->n ? out->n * 2 : 8;
		out->items = xrealloc(out->items, cap * sizeof(*out->items));
	}
	out->items[out->n++] = r;
}

/* Migration 2, the same SQL for both stores: the sessions indexes of
 * RustSocks' migrations 002, 005 and 006 (docs/sessions.md). "user" is
 * quoted: a reserved word in PostgreSQL, an identifier in both. */
const char store_migration_v2[] =
    "CREATE INDEX IF NOT EXISTS idx_sessions_status_start ON sessions(status, start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_dest_user ON sessions(dest_ip, \"user\");"
    "CREATE INDEX IF NOT EXISTS idx_sessions_acl_decision_start"
    " ON sessions(acl_decision, start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_status_start"
    " ON sessions(\"user\", status, start_time DESC);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_bytes_sent ON sessions(bytes_sent);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_bytes_received ON sessions(bytes_received);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_protocol ON sessions(protocol);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_acl_decision ON sessions(acl_decision);"
    "UPDATE sessions SET duration_secs = NULL WHERE duration_secs < 0;"
    "DROP INDEX IF EXISTS idx_sessions_duration;"
    "CREATE INDEX IF NOT EXISTS idx_sessions_duration_order"
    " ON sessions(duration_secs, session_id);"
    "CREATE INDEX IF NOT EXISTS idx_sessions_source_ip ON sessions(source_ip, session_id);";
