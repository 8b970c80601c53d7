/* SQLite store, reads: the history page (filters, sort, paging) with
 * statements cached per filter set and sort, one session, counts, and the
 * stats of a window. */
#include "session/store_sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/strutil.h"

static const char *col_text(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

static int64_t col_time(sqlite3_stmt *q, int i)
{
	int64_t us = 0;
	if (sqlite3_column_type(q, i) != SQLITE_NULL && session_time_parse(col_text(q, i), &us))
		us = 0;
	return us;
}

/* A row in COLUMNS order, then node -> an owned record. */
static struct session_record *row_to_record(sqlite3_stmt *q)
{
	struct session_record r = {0};
	cs_strlcpy(r.session_id, col_text(q, 0) ? col_text(q, 0) : "", sizeof(r.session_id));
	r.user = col_text(q, 1);
	r.start_us = col_time(q, 2);
	r.end_us = col_time(q, 3);
	r.duration_secs =
	    sqlite3_column_type(q, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 4);
	cs_strlcpy(r.source_ip, col_text(q, 5) ? col_text(q, 5) : "", sizeof(r.source_ip));
	r.source_port = (uint16_t)sqlite3_column_int(q, 6);
	r.dest_ip = col_text(q, 7);
	r.dest_port = (uint16_t)sqlite3_column_int(q, 8);
	session_protocol_parse(col_text(q, 9), &r.protocol);
	r.bytes_sent = (uint64_t)sqlite3_column_int64(q, 10);
	r.bytes_received = (uint64_t)sqlite3_column_int64(q, 11);
	r.packets_sent = (uint64_t)sqlite3_column_int64(q, 12);
	r.packets_received = (uint64_t)sqlite3_column_int64(q, 13);
	session_status_parse(col_text(q, 14), &r.status);
	r.close_reason = col_text(q, 15);
	r.acl_rule_matched = col_text(q, 16);
	r.acl_decision = col_text(q, 17);
	r.node = col_text(q, 18);
	return session_record_dup(&r);
}

static int bind_params(sqlite3_stmt *q, const struct store_params *p)
{
	for (int i = 0; i < p->n; i++) {
		if (p->v[i].is_int)
			sqlite3_bind_int64(q, i + 1, p->v[i].i);
		else
			sqlite3_bind_text(q, i + 1, p->v[i].s, -1, SQLITE_TRANSIENT);
	}
	return STORE_OK;
}

static unsigned filter_set(const struct session_query *q)
{
	return (q->user ? 1u : 0) | (q->dest_ip ? 2u : 0) | (q->has_status ? 4u : 0) |
	       (q->hours ? 8u : 0);
}

static int cached(struct sqlite_store *s, sqlite3_stmt **slot, const char *sql, char *err,
                  size_t errlen)
{
	if (!*slot) {
		int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
		if (rc != SQLITE_OK)
			return sqlite_store_fail(s, rc, "prepare query", err, errlen);
	}
	sqlite3_reset(*slot);
	sqlite3_clear_bindings(*slot);
	return STORE_OK;
}

int sqlite_store_query(struct session_store *st, const struct session_query *qq,
                       struct session_page *out, char *err, size_t errlen)
{
	struct sqlite_store *s = st->impl;
	unsigned f = filter_set(qq);
	char sql[1024];
	struct store_params p = {0};

	/* total */
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM sessions");
	if (store_sql_filters(qq, '?', "", sql, sizeof(sql), &p))
		return STORE_ERR_INTERNAL;
	int r = cached(s, &s->total[f], sql, err, errlen);
	if (r != STORE_OK)
		return r;
	sqlite3_stmt *q = s->total[f];
	bind_params(q, &p);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		out->total = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (rc != SQLITE_ROW)
		return sqlite_store_fail(s, rc, "count history", err, errlen);

	/* page */
	memset(&p, 0, sizeof(p));
	snprintf(sql, sizeof(sql), "SELECT " COLUMNS ", node FROM sessions");
	if (store_sql_filters(qq, '?', "", sql, sizeof(sql), &p) ||
	    store_sql_order_page(qq, '?', sql, sizeof(sql), &p))
		return STORE_ERR_INTERNAL;
	sqlite3_stmt **slot = &s->page[f][qq->sort][qq->sort_asc ? 1 : 0];
	r = cached(s, slot, sql, err, errlen);
	if (r != STORE_OK)
		return r;
	q = *slot;
	bind_params(q, &p);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		store_page_push(out, row_to_record(q));
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? STORE_OK
	                         : sqlite_store_fail(s, rc, "query history", err, errlen);
}

int sqlite_store_get(struct session_store *st, const char *id, struct session_record **out,
                     char *err, size_t errlen)
{
	struct sqlite_store *s = st->impl;
	sqlite3_stmt *q;
	int r = sqlite_store_stmt(s, ST_GET, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = row_to_record(q);
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
	           ? STORE_OK
	           : sqlite_store_fail(s, rc, "get session", err, errlen);
}

int sqlite_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                       size_t errlen)
{
	struct sqlite_store *s = st->impl;
	sqlite3_stmt *q;
	int r = sqlite_store_stmt(s, ST_COUNT, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*active = (uint64_t)sqlite3_column_int64(q, 0);
		*total = (uint64_t)sqlite3_column_int64(q, 1);
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? STORE_OK
	                        : sqlite_store_fail(s, rc, "count sessions", err, errlen);
}

int sqlite_store_stats(struct session_store *st, int64_t since_us, struct session_stats *out,
                       char *err, size_t errlen)
{
	struct sqlite_store *s = st->impl;
	char since[SESSION_TIME_MAX] = ""; /* "" sorts before every time: no window */
	if (since_us != INT64_MIN)
		session_time_format(since_us, since, sizeof(since));
	sqlite3_stmt *q;
	int r = sqlite_store_stmt(s, ST_STATS_TOTALS, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		out->total_sessions = (uint64_t)sqlite3_column_int64(q, 0);
		out->total_bytes_sent = (uint64_t)sqlite3_column_int64(q, 1);
		out->total_bytes_received = (uint64_t)sqlite3_column_int64(q, 2);
		for (int i = 0; i < SESSION_STATUS_COUNT; i++)
			out->by_status[i] = (uint64_t)sqlite3_column_int64(q, 3 + i);
		out->acl_allowed = (uint64_t)sqlite3_column_int64(q, 7);
		out->acl_blocked = (uint64_t)sqlite3_column_int64(q, 8);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW)
		return sqlite_store_fail(s, rc, "stats", err, errlen);

	r = sqlite_store_stmt(s, ST_STATS_USERS, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && out->n_top_users < SESSION_STATS_TOP) {
		struct session_user_stat *u = &out->top_users[out->n_top_users++];
		u->user = xstrdup(col_text(q, 0) ? col_text(q, 0) : "");
		u->session_count = (uint64_t)sqlite3_column_int64(q, 1);
		u->bytes_sent = (uint64_t)sqlite3_column_int64(q, 2);
		u->bytes_received = (uint64_t)sqlite3_column_int64(q, 3);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sqlite_store_fail(s, rc, "stats top users", err, errlen);

	r = sqlite_store_stmt(s, ST_STATS_DESTS, &q, err, errlen);
	if (r != STORE_OK)
		return r;
	sqlite3_bind_text(q, 1, since, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW &&
	       out->n_top_destinations < SESSION_STATS_TOP) {
		struct session_dest_stat *d = &out->top_destinations[out->n_top_destinations++];
		d->dest_ip = xstrdup(col_text(q, 0) ? col_text(q, 0) : "");
		d->dest_port = (uint16_t)sqlite3_column_int(q, 1);
		d->session_count = (uint64_t)sqlite3_column_int64(q, 2);
		d->bytes_sent = (uint64_t)sqlite3_column_int64(q, 3);
		d->bytes_received = (uint64_t)sqlite3_column_int64(q, 4);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sqlite_store_fail(s, rc, "stats top destinations", err, errlen);
	return STORE_OK;
}
