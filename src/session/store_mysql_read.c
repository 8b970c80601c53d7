/* MariaDB / MySQL store, reads: the history page, one session, counts and
 * the stats of a window. The filters are the shared ones (store.c); their
 * "?N" parameters are replaced by quoted literals here. */
#include "session/store_mysql_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

static int64_t val_i64(const char *v)
{
	return v ? strtoll(v, NULL, 10) : 0;
}

static int64_t val_time(const char *v)
{
	int64_t us = 0;
	if (v && session_time_parse(v, &us))
		us = 0;
	return us;
}

/* A row in MY_COLUMNS order, then node -> an owned record. */
static struct session_record *row_to_record(MYSQL_ROW row)
{
	struct session_record r = {0};
	cs_strlcpy(r.session_id, row[0] ? row[0] : "", sizeof(r.session_id));
	r.user = row[1];
	r.start_us = val_time(row[2]);
	r.end_us = val_time(row[3]);
	r.duration_secs = row[4] ? val_i64(row[4]) : -1;
	cs_strlcpy(r.source_ip, row[5] ? row[5] : "", sizeof(r.source_ip));
	r.source_port = (uint16_t)val_i64(row[6]);
	r.dest_ip = row[7];
	r.dest_port = (uint16_t)val_i64(row[8]);
	session_protocol_parse(row[9], &r.protocol);
	r.bytes_sent = (uint64_t)val_i64(row[10]);
	r.bytes_received = (uint64_t)val_i64(row[11]);
	r.packets_sent = (uint64_t)val_i64(row[12]);
	r.packets_received = (uint64_t)val_i64(row[13]);
	session_status_parse(row[14], &r.status);
	r.close_reason = row[15];
	r.acl_rule_matched = row[16];
	r.acl_decision = row[17];
	r.node = row[18];
	return session_record_dup(&r);
}

/* sql with "?N" placeholders -> b with p's values as literals. */
static void expand(struct my_store *s, const char *sql, const struct store_params *p,
                   struct strbuf *b)
{
	for (const char *c = sql; *c;) {
		if (*c != '?') {
			size_t n = strcspn(c, "?");
			strbuf_add(b, c, n);
			c += n;
			continue;
		}
		char *e;
		long i = strtol(c + 1, &e, 10);
		c = e;
		if (i < 1 || i > p->n) {
			b->failed = true;
			return;
		}
		if (p->v[i - 1].is_int)
			strbuf_printf(b, "%" PRId64, p->v[i - 1].i);
		else
			my_store_quote(s, b, p->v[i - 1].s);
	}
}

static int select_sql(struct my_store *s, struct strbuf *b, MYSQL_RES **res, const char *what,
                      char *err, size_t errlen)
{
	int r = strbuf_failed(b) ? STORE_ERR_INTERNAL
	                         : my_store_select(s, b->p, res, what, err, errlen);
	strbuf_free(b);
	return r;
}

int my_store_query(struct session_store *st, const struct session_query *q,
                   struct session_page *out, char *err, size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	if (r != STORE_OK)
		return r;
	char where[512] = "";
	struct store_params p = {0};
	if (store_sql_filters(q, '?', "", where, sizeof(where), &p))
		return STORE_ERR_INTERNAL;
	struct strbuf b;
	MYSQL_RES *res;
	strbuf_init(&b);
	strbuf_puts(&b, "SELECT COUNT(*) FROM sessions");
	expand(s, where, &p, &b);
	r = select_sql(s, &b, &res, "count history", err, errlen);
	if (r != STORE_OK)
		return r;
	MYSQL_ROW row = mysql_fetch_row(res);
	out->total = row ? (uint64_t)val_i64(row[0]) : 0;
	mysql_free_result(res);

	/* ORDER BY as the other stores: NULLs (end_time and duration of active
	 * sessions) last both ways; MariaDB has no NULLS LAST. */
	const char *dir = q->sort_asc ? "ASC" : "DESC";
	const char *col = store_sort_column(q->sort);
	bool nullable = q->sort == SESSION_SORT_END_TIME || q->sort == SESSION_SORT_DURATION;
	strbuf_init(&b);
	strbuf_puts(&b, "SELECT " MY_COLUMNS ", node FROM sessions");
	expand(s, where, &p, &b);
	strbuf_puts(&b, " ORDER BY ");
	if (nullable)
		strbuf_printf(&b, "%s IS NULL, ", col);
	strbuf_printf(&b, "%s %s, session_id %s LIMIT %u OFFSET %" PRIu64, col, dir, dir,
	              q->page_size, (uint64_t)(q->page - 1) * q->page_size);
	r = select_sql(s, &b, &res, "query history", err, errlen);
	if (r != STORE_OK)
		return r;
	while ((row = mysql_fetch_row(res)) != NULL)
		store_page_push(out, row_to_record(row));
	mysql_free_result(res);
	return STORE_OK;
}

int my_store_get(struct session_store *st, const char *id, struct session_record **out, char *err,
                 size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	if (r != STORE_OK)
		return r;
	struct strbuf b;
	MYSQL_RES *res;
	strbuf_init(&b);
	strbuf_puts(&b, "SELECT " MY_COLUMNS ", node FROM sessions WHERE session_id = ");
	my_store_quote(s, &b, id);
	r = select_sql(s, &b, &res, "get session", err, errlen);
	if (r != STORE_OK)
		return r;
	MYSQL_ROW row = mysql_fetch_row(res);
	if (row)
		*out = row_to_record(row);
	mysql_free_result(res);
	return STORE_OK;
}

int my_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                   size_t errlen)
{
	struct my_store *s = st->impl;
	int r = my_store_ensure_conn(s, err, errlen);
	MYSQL_RES *res;
	if (r == STORE_OK)
		r = my_store_select(s,
		                    "SELECT COALESCE(SUM(status = 'active'), 0), COUNT(*) "
		                    "FROM sessions",
		                    &res, "count sessions", err, errlen);
	if (r != STORE_OK)
		return r;
	MYSQL_ROW row = mysql_fetch_row(res);
	if (row) {
		*active = (uint64_t)val_i64(row[0]);
		*total = (uint64_t)val_i64(row[1]);
	}
	mysql_free_result(res);
	return STORE_OK;
}

/* One stats statement: head, the quoted window start, tail. */
static int stats_select(struct my_store *s, const char *head, const char *tail, const char *since,
                        MYSQL_RES **res, const char *what, char *err, size_t errlen)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, head);
	my_store_quote(s, &b, since);
	strbuf_puts(&b, tail);
	return select_sql(s, &b, res, what, err, errlen);
}

int my_store_stats(struct session_store *st, int64_t since_us, struct session_stats *out, char *err,
                   size_t errlen)
{
	struct my_store *s = st->impl;
	char since[SESSION_TIME_MAX] = ""; /* "" sorts before every time: no window */
	if (since_us != INT64_MIN)
		session_time_format(since_us, since, sizeof(since));
	int r = my_store_ensure_conn(s, err, errlen);
	if (r != STORE_OK)
		return r;
	MYSQL_RES *res;
	r = stats_select(s,
	                 "SELECT COUNT(*), COALESCE(SUM(bytes_sent), 0), "
	                 "COALESCE(SUM(bytes_received), 0), "
	                 "COALESCE(SUM(status = 'active'), 0), "
	                 "COALESCE(SUM(status = 'closed'), 0), "
	                 "COALESCE(SUM(status = 'failed'), 0), "
	                 "COALESCE(SUM(status = 'rejected_by_acl'), 0), "
	                 "COALESCE(SUM(acl_decision = 'allow'), 0), "
	                 "COALESCE(SUM(acl_decision = 'block'), 0) "
	                 "FROM sessions WHERE start_time >= ",
	                 "", since, &res, "stats", err, errlen);
	if (r != STORE_OK)
		return r;
	MYSQL_ROW row = mysql_fetch_row(res);
	if (row) {
		out->total_sessions = (uint64_t)val_i64(row[0]);
		out->total_bytes_sent = (uint64_t)val_i64(row[1]);
		out->total_bytes_received = (uint64_t)val_i64(row[2]);
		for (int i = 0; i < SESSION_STATUS_COUNT; i++)
			out->by_status[i] = (uint64_t)val_i64(row[3 + i]);
		out->acl_allowed = (uint64_t)val_i64(row[7]);
		out->acl_blocked = (uint64_t)val_i64(row[8]);
	}
	mysql_free_result(res);

	r = stats_select(s,
	                 "SELECT \"user\", COUNT(*) AS n, COALESCE(SUM(bytes_sent), 0), "
	                 "COALESCE(SUM(bytes_received), 0) FROM sessions WHERE start_time >= ",
	                 " GROUP BY \"user\" ORDER BY n DESC, \"user\" LIMIT 10", since, &res,
	                 "stats top users", err, errlen);
	if (r != STORE_OK)
		return r;
	while ((row = mysql_fetch_row(res)) != NULL && out->n_top_users < SESSION_STATS_TOP) {
		struct session_user_stat *u = &out->top_users[out->n_top_users++];
		u->user = xstrdup(row[0] ? row[0] : "");
		u->session_count = (uint64_t)val_i64(row[1]);
		u->bytes_sent = (uint64_t)val_i64(row[2]);
		u->bytes_received = (uint64_t)val_i64(row[3]);
	}
	mysql_free_result(res);

	r = stats_select(s,
	                 "SELECT dest_ip, dest_port, COUNT(*) AS n, COALESCE(SUM(bytes_sent), 0), "
	                 "COALESCE(SUM(bytes_received), 0) FROM sessions WHERE start_time >= ",
	                 " GROUP BY dest_ip, dest_port ORDER BY n DESC, dest_ip, dest_port "
	                 "LIMIT 10",
	                 since, &res, "stats top destinations", err, errlen);
	if (r != STORE_OK)
		return r;
	while ((row = mysql_fetch_row(res)) != NULL &&
	       out->n_top_destinations < SESSION_STATS_TOP) {
		struct session_dest_stat *d = &out->top_destinations[out->n_top_destinations++];
		d->dest_ip = xstrdup(row[0] ? row[0] : "");
		d->dest_port = (uint16_t)val_i64(row[1]);
		d->session_count = (uint64_t)val_i64(row[2]);
		d->bytes_sent = (uint64_t)val_i64(row[3]);
		d->bytes_received = (uint64_t)val_i64(row[4]);
	}
	mysql_free_result(res);
	return STORE_OK;
}
