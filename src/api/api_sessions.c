/* Session endpoints: active, history, stats, one session, terminate, a
 * user's sessions. JSON names are RustSocks' (src/api/types.rs). */
#include "api/api_internal.h"

#include "util/log.h"
#include "util/strutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void records_free(struct session_record **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static const char *qget(const struct api_req *rq, const char *key)
{
	return rq->query ? rq->query(rq->qctx, key) : NULL;
}

static void unavailable(struct api_resp *rs, const char *what)
{
	api_error(rs, 503, "%s not available", what);
}

static void h_active(struct api_state *st, struct api_resp *rs)
{
	struct session_record **v = NULL;
	size_t n = 0;
	if (!st->src.sessions_active) {
		unavailable(rs, "session manager");
		return;
	}
	if (st->src.sessions_active(st->src.ctx, &v, &n) != 0) {
		api_error(rs, 500, "cannot list active sessions");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, api_session_json(v[i]));
	records_free(v, n);
	api_json(rs, 200, arr);
}

/* Filters and paging of /api/sessions/history, read as RustSocks reads
 * them: page_size is clamped to 1..1000, page 0 is page 1, hours = 0 is no
 * time filter, and an unknown status answers an empty page (*no_match set,
 * a warning logged). Values that are not numbers are refused with 400.
 * 0 or -1 (rs filled). */
static int parse_history_query(const struct api_req *rq, struct api_resp *rs,
                               struct session_query *q, bool *no_match)
{
	uint32_t v;
	int r;
	memset(q, 0, sizeof(*q));
	*no_match = false;
	q->page = 1;
	q->page_size = SESSION_PAGE_SIZE_DEFAULT;
	q->sort = SESSION_SORT_START_TIME;
	q->user = qget(rq, "user");
	q->dest_ip = qget(rq, "dest_ip");
	if (q->user && !*q->user)
		q->user = NULL;
	if (q->dest_ip && !*q->dest_ip)
		q->dest_ip = NULL;
	if ((r = api_query_u32(rq, rs, "hours", 0, UINT32_MAX, &v)) < 0)
		return -1;
	if (r)
		q->hours = v > 24 * 365 * 100 ? 24 * 365 * 100 : v;
	if ((r = api_query_u32(rq, rs, "page", 0, UINT32_MAX, &v)) < 0)
		return -1;
	if (r)
		q->page = v < 1 ? 1 : v > 10000000 ? 10000000 : v;
	if ((r = api_query_u32(rq, rs, "page_size", 0, UINT32_MAX, &v)) < 0)
		return -1;
	if (r)
		q->page_size = v < 1 ? 1 : v > SESSION_PAGE_SIZE_MAX ? SESSION_PAGE_SIZE_MAX : v;
	const char *s = qget(rq, "status");
	if (s && *s) {
		if (session_status_parse(s, &q->status) != 0) {
			log_warn(
			    "api: /api/sessions/history: unknown status '%.64s' (active, closed, "
			    "failed, rejected_by_acl): empty answer",
			    s);
			*no_match = true;
		}
		q->has_status = true;
	}
	s = qget(rq, "sort_by");
	if (s && *s && session_sort_parse(s, &q->sort) != 0) {
		api_error(rs, 400, "sort_by '%s' is not a sortable column", s);
		return -1;
	}
	s = qget(rq, "sort_dir");
	if (s && *s) {
		if (strcasecmp(s, "asc") == 0)
			q->sort_asc = true;
		else if (strcasecmp(s, "desc") != 0) {
			api_error(rs, 400, "sort_dir must be asc or desc");
			return -1;
		}
	}
	return 0;
}

static void h_history(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	struct session_query q;
	struct session_page page;
	char err[256] = "";
	bool no_match;
	if (parse_history_query(rq, rs, &q, &no_match) != 0)
		return;
	if (!st->src.sessions_history) {
		unavailable(rs, "session history");
		return;
	}
	memset(&page, 0, sizeof(page));
	if (!no_match && st->src.sessions_history(st->src.ctx, &q, &page, err, sizeof(err)) != 0) {
		api_error(rs, 500, "session history query failed: %s", err);
		return;
	}
	json_t *data = json_array();
	for (size_t i = 0; i < page.n; i++)
		json_array_append_new(data, api_session_json(page.items[i]));
	uint32_t total_pages = (uint32_t)((page.total + q.page_size - 1) / q.page_size);
	api_json(rs, 200,
	         json_pack("{s:o, s:I, s:I, s:I, s:I}", "data", data, "total",
	                   (json_int_t)page.total, "page", (json_int_t)q.page, "page_size",
	                   (json_int_t)q.page_size, "total_pages", (json_int_t)total_pages));
	session_page_free(&page);
}

static json_t *stats_json(const struct session_stats *s)
{
	json_t *users = json_array(), *dests = json_array();
	for (size_t i = 0; i < s->n_top_users; i++) {
		const struct session_user_stat *u = &s->top_users[i];
		json_array_append_new(users, json_pack("{s:s, s:I, s:I, s:I}", "user",
		                                       u->user ? u->user : "", "session_count",
		                                       (json_int_t)u->session_count, "bytes_sent",
		                                       (json_int_t)u->bytes_sent, "bytes_received",
		                                       (json_int_t)u->bytes_received));
	}
	for (size_t i = 0; i < s->n_top_destinations; i++) {
		const struct session_dest_stat *d = &s->top_destinations[i];
		char dest[320];
		bool v6 = d->dest_ip && strchr(d->dest_ip, ':');
		snprintf(dest, sizeof(dest), v6 ? "[%s]:%u" : "%s:%u", d->dest_ip ? d->dest_ip : "",
		         d->dest_port);
		json_array_append_new(dests,
		                      json_pack("{s:s, s:I, s:I, s:I}", "destination", dest,
		                                "session_count", (json_int_t)d->session_count,
		                                "bytes_sent", (json_int_t)d->bytes_sent,
		                                "bytes_received", (json_int_t)d->bytes_received));
	}
	json_t *o = json_object();
	json_object_set_new(o, "window_hours", json_integer(s->window_hours));
	json_object_set_new(o, "total_sessions", json_integer((json_int_t)s->total_sessions));
	json_object_set_new(o, "active_sessions",
	                    json_integer((json_int_t)s->by_status[SESSION_ACTIVE]));
	json_object_set_new(o, "closed_sessions",
	                    json_integer((json_int_t)s->by_status[SESSION_CLOSED]));
	json_object_set_new(o, "failed_sessions",
	                    json_integer((json_int_t)s->by_status[SESSION_FAILED]));
	json_object_set_new(o, "rejected_sessions",
	                    json_integer((json_int_t)s->by_status[SESSION_REJECTED_BY_ACL]));
	json_object_set_new(o, "total_bytes_sent", json_integer((json_int_t)s->total_bytes_sent));
	json_object_set_new(o, "total_bytes_received",
	                    json_integer((json_int_t)s->total_bytes_received));
	uint64_t total_bytes = s->total_bytes_sent + s->total_bytes_received;
	json_object_set_new(o, "total_bytes", json_integer((json_int_t)total_bytes));
	json_object_set_new(o, "acl_allowed", json_integer((json_int_t)s->acl_allowed));
	json_object_set_new(o, "acl_blocked", json_integer((json_int_t)s->acl_blocked));
	json_object_set_new(o, "top_users", users);
	json_object_set_new(o, "top_destinations", dests);
	return o;
}

static void h_stats(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	uint32_t window = st->cfg->sessions.stats_window_hours;
	struct session_stats s;
	char err[256] = "";
	if (api_query_u32(rq, rs, "window_hours", 1, 24 * 365 * 100, &window) < 0)
		return;
	if (!st->src.sessions_stats) {
		unavailable(rs, "session statistics");
		return;
	}
	memset(&s, 0, sizeof(s));
	if (st->src.sessions_stats(st->src.ctx, window, &s, err, sizeof(err)) != 0) {
		api_error(rs, 500, "session statistics failed: %s", err);
		return;
	}
	s.window_hours = window;
	api_json(rs, 200, stats_json(&s));
	session_stats_free(&s);
}

static void h_get(struct api_state *st, const char *id, struct api_resp *rs)
{
	struct session_record *r = NULL;
	char err[256] = "";
	if (!api_uuid_valid(id)) {
		api_error(rs, 400, "invalid session id '%s' (expected a UUID)", id);
		return;
	}
	if (!st->src.session_get) {
		unavailable(rs, "session lookup");
		return;
	}
	int rc = st->src.session_get(st->src.ctx, id, &r, err, sizeof(err));
	if (rc == -ENOENT || (rc == 0 && !r)) {
		api_error(rs, 404, "session %s not found", id);
		return;
	}
	if (rc != 0) {
		api_error(rs, 500, "session lookup failed: %s", err);
		return;
	}
	api_json(rs, 200, api_session_json(r));
	free(r);
}

static void h_terminate(struct api_state *st, const char *id, struct api_resp *rs)
{
	if (!api_uuid_valid(id)) {
		api_error(rs, 400, "invalid session id '%s' (expected a UUID)", id);
		return;
	}
	if (!st->src.session_terminate) {
		unavailable(rs, "session termination");
		return;
	}
	int rc = st->src.session_terminate(st->src.ctx, id, "Terminated by admin");
	if (rc == -ENOENT) {
		api_error(rs, 404, "session %s not found or not active", id);
		return;
	}
	if (rc != 0) {
		api_error(rs, 500, "cannot terminate session %s", id);
		return;
	}
	api_json(rs, 200,
	         json_pack("{s:b, s:s, s:s}", "success", 1, "message",
	                   "Session terminated successfully", "session_id", id));
}

/* Active sessions of the user, then up to 1000 recorded ones (newest first),
 * each id once (RustSocks' get_user_sessions). */
static void h_user_sessions(struct api_state *st, const char *user, struct api_resp *rs)
{
	json_t *arr = json_array();
	json_t *seen = json_object();
	if (!st->src.sessions_active && !st->src.sessions_history) {
		json_decref(arr);
		json_decref(seen);
		unavailable(rs, "session manager");
		return;
	}
	if (st->src.sessions_active) {
		struct session_record **v = NULL;
		size_t n = 0;
		if (st->src.sessions_active(st->src.ctx, &v, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				if (strcmp(v[i]->user ? v[i]->user : "", user) != 0)
					continue;
				json_object_set_new(seen, v[i]->session_id, json_true());
				json_array_append_new(arr, api_session_json(v[i]));
			}
			records_free(v, n);
		}
	}
	if (st->src.sessions_history) {
		struct session_query q = {
		    .user = user, .page = 1, .page_size = SESSION_PAGE_SIZE_MAX};
		struct session_page page;
		char err[256];
		memset(&page, 0, sizeof(page));
		if (st->src.sessions_history(st->src.ctx, &q, &page, err, sizeof(err)) == 0) {
			for (size_t i = 0; i < page.n; i++) {
				if (json_object_get(seen, page.items[i]->session_id))
					continue;
				json_array_append_new(arr, api_session_json(page.items[i]));
			}
			session_page_free(&page);
		}
	}
	json_decref(seen);
	api_json(rs, 200, arr);
}

void api_sessions_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                         struct api_resp *rs)
{
	switch (m->route) {
	case ROUTE_SESSIONS_ACTIVE:
		h_active(st, rs);
		break;
	case ROUTE_SESSIONS_HISTORY:
		h_history(st, rq, rs);
		break;
	case ROUTE_SESSIONS_STATS:
		h_stats(st, rq, rs);
		break;
	case ROUTE_SESSION_GET:
		h_get(st, m->params[0], rs);
		break;
	case ROUTE_SESSION_TERMINATE:
		h_terminate(st, m->params[0], rs);
		break;
	case ROUTE_USER_SESSIONS:
		h_user_sessions(st, m->params[0], rs);
		break;
	default:
		api_error(rs, 500, "internal error: bad session route");
		break;
	}
}
