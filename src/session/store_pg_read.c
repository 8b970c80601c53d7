/* PostgreSQL store, reads: the history page, one session, counts and the
 * stats of a window, every statement parameterised. */
#include "session/store_pg_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

static const char *val(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t val_i64(const PGresult *res, int row, int col)
{
	const char *v = val(res, row, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

static struct session_record *row_to_record(const PGresult *res, int row)
{
	struct session_record r = {0};
	cs_strlcpy(r.session_id, PQgetvalue(res, row, 0), sizeof(r.session_id));
	r.user = val(res, row, 1);
	r.start_us = val_i64(res, row, 2);
	r.end_us = val_i64(res, row, 3);
	r.duration_secs = val(res, row, 4) ? val_i64(res, row, 4) : -1;
	cs_strlcpy(r.source_ip, PQgetvalue(res, row, 5), sizeof(r.source_ip));
	r.source_port = (uint16_t)val_i64(res, row, 6);
	r.dest_ip = val(res, row, 7);
	r.dest_port = (uint16_t)val_i64(res, row, 8);
	session_protocol_parse(val(res, row, 9), &r.protocol);
	r.bytes_sent = (uint64_t)val_i64(res, row, 10);
	r.bytes_received = (uint64_t)val_i64(res, row, 11);
	r.packets_sent = (uint64_t)val_i64(res, row, 12);
	r.packets_received = (uint64_t)val_i64(res, row, 13);
	session_status_parse(val(res, row, 14), &r.status);
	r.close_reason = val(res, row, 15);
	r.acl_rule_matched = val(res, row, 16);
	r.acl_decision = val(res, row, 17);
	r.node = val(res, row, 18);
	return session_record_dup(&r);
}

/* store_params -> text values (integers formatted into nums). */
static void param_values(const struct store_params *p, const char **vals, char nums[][24])
{
	for (int i = 0; i < p->n; i++) {
		if (p->v[i].is_int) {
			snprintf(nums[i], 24, "%" PRId64, p->v[i].i);
			vals[i] = nums[i];
		} else {
			vals[i] = p->v[i].s;
		}
	}
}

int pg_store_query(struct session_store *st, const struct session_query *q,
                   struct session_page *out, char *err, size_t errlen)
{
	struct pg_store *s = st->impl;
	int r = pg_store_ensure_conn(s, err, errlen);
	if (r != STORE_OK)
		return r;
	char sql[1024];
	const char *vals[STORE_MAX_PARAMS];
	char nums[STORE_MAX_PARAMS][24];
	struct store_params p = {0};
	PGresult *res;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM sessions");
	if (store_sql_filters(q, '$', "::timestamptz", sql, sizeof(sql), &p))
		return STORE_ERR_INTERNAL;
	param_values(&p, vals, nums);
	r = pg_store_params_exec(s, sql, p.n, vals, &res, "count history", err, errlen);
	if (r != STORE_OK)
		return r;
	out->total = (uint64_t)val_i64(res, 0, 0);
	PQclear(res);

	memset(&p, 0, sizeof(p));
	snprintf(sql, sizeof(sql), "SELECT " COLUMNS ", node FROM sessions");
	if (store_sql_filters(q, '$', "::timestamptz", sql, sizeof(sql), &p) ||
	    store_sql_order_page(q, '$', sql, sizeof(sql), &p))
		return STORE_ERR_INTERNAL;
	param_values(&p, vals, nums);
	r = pg_store_params_exec(s, sql, p.n, vals, &res, "query history", err, errlen);
	if (r != STORE_OK)
		return r;
	for (int i = 0; i < PQntuples(res); i++)
		store_page_push(out, row_to_record(res, i));
	PQclear(res);
	return STORE_OK;
}

int pg_store_get(struct session_store *st, const char *id, struct session_record **out, char *err,
                 size_t errlen)
{
	struct pg_store *s = st->impl;
	int r = pg_store_ensure_conn(s, err, errlen);
	PGresult *res = NULL;
	const char *vals[] = {id};
	if (r == STORE_OK)
		r = pg_store_params_exec(
		    s, "SELECT " COLUMNS ", node FROM sessions WHERE session_id = $1", 1, vals,
		    &res, "get session", err, errlen);
	if (r == STORE_OK && PQntuples(res) > 0)
		*out = row_to_record(res, 0);
	PQclear(res);
	return r;
}

int pg_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                   size_t errlen)
{
	struct pg_store *s = st->impl;
	int r = pg_store_ensure_conn(s, err, errlen);
	PGresult *res = NULL;
	if (r == STORE_OK)
		r = pg_store_params_exec(
		    s,
		    "SELECT COUNT(*) FILTER (WHERE status = 'active'), COUNT(*) "
		    "FROM sessions",
		    0, NULL, &res, "count sessions", err, errlen);
	if (r == STORE_OK) {
		*active = (uint64_t)val_i64(res, 0, 0);
		*total = (uint64_t)val_i64(res, 0, 1);
	}
	PQclear(res);
	return r;
}

int pg_store_stats(struct session_store *st, int64_t since_us, struct session_stats *out, char *err,
                   size_t errlen)
{
	struct pg_store *s = st->impl;
	char since[SESSION_TIME_MAX] = "-infinity";
	if (since_us != INT64_MIN)
		session_time_format(since_us, since, sizeof(since));
	const char *vals[] = {since};
	int r = pg_store_ensure_conn(s, err, errlen);
	PGresult *res = NULL;
	if (r == STORE_OK)
		r = pg_store_params_exec(s,
		                         "SELECT COUNT(*), COALESCE(SUM(bytes_sent), 0)::bigint, "
		                         "COALESCE(SUM(bytes_received), 0)::bigint, "
		                         "COUNT(*) FILTER (WHERE status = 'active'), "
		                         "COUNT(*) FILTER (WHERE status = 'closed'), "
		                         "COUNT(*) FILTER (WHERE status = 'failed'), "
		                         "COUNT(*) FILTER (WHERE status = 'rejected_by_acl'), "
		                         "COUNT(*) FILTER (WHERE acl_decision = 'allow'), "
		                         "COUNT(*) FILTER (WHERE acl_decision = 'block') "
		                         "FROM sessions WHERE start_time >= $1::timestamptz",
		                         1, vals, &res, "stats", err, errlen);
	if (r != STORE_OK)
		return r;
	out->total_sessions = (uint64_t)val_i64(res, 0, 0);
	out->total_bytes_sent = (uint64_t)val_i64(res, 0, 1);
	out->total_bytes_received = (uint64_t)val_i64(res, 0, 2);
	for (int i = 0; i < SESSION_STATUS_COUNT; i++)
		out->by_status[i] = (uint64_t)val_i64(res, 0, 3 + i);
	out->acl_allowed = (uint64_t)val_i64(res, 0, 7);
	out->acl_blocked = (uint64_t)val_i64(res, 0, 8);
	PQclear(res);

	r = pg_store_params_exec(
	    s,
	    "SELECT \"user\", COUNT(*) AS n, COALESCE(SUM(bytes_sent), 0)::bigint, "
	    "COALESCE(SUM(bytes_received), 0)::bigint FROM sessions "
	    "WHERE start_time >= $1::timestamptz GROUP BY \"user\" "
	    "ORDER BY n DESC, \"user\" LIMIT 10",
	    1, vals, &res, "stats top users", err, errlen);
	if (r != STORE_OK)
		return r;
	for (int i = 0; i < PQntuples(res) && i < SESSION_STATS_TOP; i++) {
		struct session_user_stat *u = &out->top_users[out->n_top_users++];
		u->user = xstrdup(PQgetvalue(res, i, 0));
		u->session_count = (uint64_t)val_i64(res, i, 1);
		u->bytes_sent = (uint64_t)val_i64(res, i, 2);
		u->bytes_received = (uint64_t)val_i64(res, i, 3);
	}
	PQclear(res);

	r = pg_store_params_exec(s,
	                         "SELECT dest_ip, dest_port, COUNT(*) AS n, "
	                         "COALESCE(SUM(bytes_sent), 0)::bigint, "
	                         "COALESCE(SUM(bytes_received), 0)::bigint FROM sessions "
	                         "WHERE start_time >= $1::timestamptz GROUP BY dest_ip, dest_port "
	                         "ORDER BY n DESC, dest_ip, dest_port LIMIT 10",
	                         1, vals, &res, "stats top destinations", err, errlen);
	if (r != STORE_OK)
		return r;
	for (int i = 0; i < PQntuples(res) && i < SESSION_STATS_TOP; i++) {
		struct session_dest_stat *d = &out->top_destinations[out->n_top_destinations++];
		d->dest_ip = xstrdup(PQgetvalue(res, i, 0));
		d->dest_port = (uint16_t)val_i64(res, i, 1);
		d->session_count = (uint64_t)val_i64(res, i, 2);
		d->bytes_sent = (uint64_t)val_i64(res, i, 3);
		d->bytes_received = (uint64_t)val_i64(res, i, 4);
	}
	PQclear(res);
	return STORE_OK;
}
