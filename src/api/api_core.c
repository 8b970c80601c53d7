/* Admin API request pipeline: base path, authentication, routing, and the
 * small endpoints (health, metrics, openapi, pool, metrics history). The
 * session and ACL endpoints live in api_sessions.c and api_acl.c. */
#include "api/api_internal.h"

#include "api/api_static.h"
#include "api/api_extra.h"
#include "api/metrics_history.h"
#include "obs/prom.h"
#include "csocks_build.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- token ---- */

static char *trim_dup(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return len ? xstrndup(s, len) : NULL;
}

int api_token_load(const struct csocks_config *cfg, char **out, char *err, size_t errlen)
{
	*out = NULL;
	if (cfg->api.token && *cfg->api.token) {
		*out = trim_dup(cfg->api.token, strlen(cfg->api.token));
		if (!*out) {
			snprintf(err, errlen, "api.token is blank");
			return -1;
		}
		return 0;
	}
	if (!cfg->api.token_file || !*cfg->api.token_file)
		return 0;
	size_t len;
	char *text = cs_read_file(cfg->api.token_file, &len);
	if (!text) {
		snprintf(err, errlen, "api.token_file %s: %s", cfg->api.token_file,
		         strerror(errno));
		return -1;
	}
	size_t line = strcspn(text, "\r\n");
	*out = trim_dup(text, line);
	explicit_bzero(text, len);
	free(text);
	if (!*out) {
		snprintf(err, errlen, "api.token_file %s: first line is empty",
		         cfg->api.token_file);
		return -1;
	}
	return 0;
}

bool api_token_ok(const char *token, const char *authorization, const char *x_api_token)
{
	const char *given = NULL;
	size_t glen = 0;
	if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
		given = authorization + 7;
	} else if (x_api_token) {
		given = x_api_token;
	}
	if (!given)
		return false;
	while (*given == ' ' || *given == '\t')
		given++;
	glen = strlen(given);
	while (glen && (given[glen - 1] == ' ' || given[glen - 1] == '\t'))
		glen--;
	if (glen == 0)
		return false;
	return cs_ct_memeq(given, glen, token, strlen(token));
}

/* ---- response helpers ---- */

void api_json(struct api_resp *rs, int status, json_t *body)
{
	free(rs->body);
	rs->status = status;
	rs->content_type = "application/json";
	rs->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!rs->body)
		rs->body = xstrdup("{}");
	rs->len = strlen(rs->body);
	json_decref(body);
}

void api_error(struct api_resp *rs, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* RustSocks' error shape ({success, message}) and csocks' ("error"). */
	api_json(rs, status,
	         json_pack("{s:b, s:s, s:s}", "success", 0, "message", msg, "error", msg));
}

json_t *api_body_object(const struct api_req *rq, struct api_resp *rs)
{
	json_error_t e;
	if (!rq->body || rq->body_len == 0) {
		api_error(rs, 400, "request body must be a JSON object");
		return NULL;
	}
	json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		api_error(rs, 400, "malformed JSON at line %d column %d: %s", e.line, e.column,
		          e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_error(rs, 400, "request body must be a JSON object");
		return NULL;
	}
	return j;
}

int api_query_u32(const struct api_req *rq, struct api_resp *rs, const char *key, uint32_t min,
                  uint32_t max, uint32_t *out)
{
	const char *v = rq->query ? rq->query(rq->qctx, key) : NULL;
	uint64_t n;
	if (!v)
		return 0;
	if (cs_parse_u64(v, min, max, &n) != 0) {
		api_error(rs, 400, "query parameter '%s' must be an integer in %u..%u", key, min,
		          max);
		return -1;
	}
	*out = (uint32_t)n;
	return 1;
}

bool api_uuid_valid(const char *id)
{
	static const int dash[] = {8, 13, 18, 23};
	if (strlen(id) != 36)
		return false;
	for (int i = 0, d = 0; i < 36; i++) {
		if (d < 4 && i == dash[d]) {
			if (id[i] != '-')
				return false;
			d++;
		} else if (!isxdigit((unsigned char)id[i])) {
			return false;
		}
	}
	return true;
}

json_t *api_session_json(const struct session_record *r)
{
	char start[SESSION_TIME_MAX], end[SESSION_TIME_MAX];
	session_time_format(r->start_us, start, sizeof(start));
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(r->session_id));
	json_object_set_new(o, "user", json_string(r->user ? r->user : ""));
	json_object_set_new(o, "source_ip", json_string(r->source_ip));
	json_object_set_new(o, "source_port", json_integer(r->source_port));
	json_object_set_new(o, "dest_ip", json_string(r->dest_ip ? r->dest_ip : ""));
	json_object_set_new(o, "dest_port", json_integer(r->dest_port));
	json_object_set_new(o, "protocol", json_string(session_protocol_name(r->protocol)));
	json_object_set_new(o, "status", json_string(session_status_name(r->status)));
	json_object_set_new(o, "acl_decision", json_string(r->acl_decision ? r->acl_decision : ""));
	json_object_set_new(o, "acl_rule",
	                    r->acl_rule_matched ? json_string(r->acl_rule_matched) : json_null());
	json_object_set_new(o, "bytes_sent", json_integer((json_int_t)r->bytes_sent));
	json_object_set_new(o, "bytes_received", json_integer((json_int_t)r->bytes_received));
	json_object_set_new(o, "packets_sent", json_integer((json_int_t)r->packets_sent));
	json_object_set_new(o, "packets_received", json_integer((json_int_t)r->packets_received));
	json_object_set_new(o, "start_time", json_string(start));
	if (r->end_us) {
		session_time_format(r->end_us, end, sizeof(end));
		json_object_set_new(o, "end_time", json_string(end));
	} else {
		json_object_set_new(o, "end_time", json_null());
	}
	json_object_set_new(o, "duration_seconds",
	                    r->duration_secs >= 0 ? json_integer(r->duration_secs) : json_null());
	json_object_set_new(o, "close_reason",
	                    r->close_reason ? json_string(r->close_reason) : json_null());
	/* csocks: the node that wrote the row (shared stores); null when unknown */
	json_object_set_new(o, "node", r->node ? json_string(r->node) : json_null());
	return o;
}

/* ---- small endpoints ---- */

static void h_health(struct api_state *st, struct api_resp *rs)
{
	int64_t up = (time_mono_ms() - st->start_mono_ms) / 1000;
	api_json(rs, 200,
	         json_pack("{s:s, s:b, s:s, s:I}", "status", "healthy", "ready", 1, "version",
	                   CSOCKS_VERSION, "uptime_seconds", (json_int_t)up));
}

/* Served whatever metrics.enabled says: as in RustSocks, that key only
 * turns the history sampler off. */
static void h_metrics(struct api_resp *rs)
{
	struct prom_writer *w = prom_writer_new();
	prom_collect_all(w);
	free(rs->body);
	rs->status = 200;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
	rs->body = prom_writer_take(w, &rs->len);
	prom_writer_free(w);
}

/* RustSocks' PoolStatsResponse. "enabled" is true only when the proxy
 * reports a running pool (the source sets it); the config's switch is in
 * config.enabled. */
static void h_pool_stats(struct api_state *st, struct api_resp *rs)
{
	const struct csocks_config *cfg = st->cfg;
	struct api_pool_stats ps = {0};
	if (st->src.pool_stats && st->src.pool_stats(st->src.ctx, &ps) != 0) {
		api_error(rs, 500, "pool statistics unavailable");
		return;
	}
	uint64_t lookups = ps.connections_created + ps.connections_reused;
	json_t *o = json_object();
	json_object_set_new(o, "enabled", json_boolean(ps.enabled));
	json_object_set_new(o, "total_idle", json_integer((json_int_t)ps.total_idle));
	json_object_set_new(o, "active_in_use", json_integer((json_int_t)ps.active_in_use));
	json_object_set_new(o, "destinations", json_integer((json_int_t)ps.destinations));
	json_object_set_new(o, "total_created", json_integer((json_int_t)ps.connections_created));
	json_object_set_new(o, "total_reused", json_integer((json_int_t)ps.connections_reused));
	json_object_set_new(o, "pool_hits", json_integer((json_int_t)ps.connections_reused));
	json_object_set_new(o, "pool_misses", json_integer((json_int_t)ps.connections_created));
	json_object_set_new(o, "dropped_full", json_integer((json_int_t)ps.dropped_full));
	json_object_set_new(o, "expired", json_integer((json_int_t)ps.expired));
	json_object_set_new(o, "evicted", json_integer((json_int_t)ps.evicted));
	json_object_set_new(o, "pending_creates", json_integer((json_int_t)ps.pending_creates));
	json_object_set_new(
	    o, "hit_rate",
	    json_real(lookups ? (double)ps.connections_reused / (double)lookups : 0.0));
	json_object_set_new(
	    o, "config",
	    json_pack("{s:b, s:I, s:I, s:I, s:I}", "enabled", cfg->server.pool.enabled,
	              "max_idle_per_dest", (json_int_t)cfg->server.pool.max_idle_per_dest,
	              "max_total_idle", (json_int_t)cfg->server.pool.max_total_idle,
	              "idle_timeout_secs", (json_int_t)cfg->server.pool.idle_timeout_secs,
	              "connect_timeout_ms", (json_int_t)cfg->server.pool.connect_timeout_ms));
	json_object_set_new(o, "destinations_breakdown", json_array());
	api_json(rs, 200, o);
}

static void h_metrics_history(struct api_state *st, struct api_resp *rs)
{
	api_json(rs, 200, st->history ? metrics_history_json(st->history) : json_array());
}

/* POST /api/admin/reload-tls (csocks): a bad file keeps the old context. */
static void h_tls_reload(struct api_state *st, struct api_resp *rs)
{
	char err[512] = "";
	int rc = st->src.tls_reload ? st->src.tls_reload(st->src.ctx, err, sizeof(err)) : -ENOENT;
	if (rc == -ENOENT) {
		api_error(rs, 409, "SOCKS over TLS is not enabled (server.tls.enabled)");
		return;
	}
	if (rc != 0) {
		api_json(rs, 500,
		         json_pack("{s:b, s:s, s:s}", "success", 0, "message",
		                   "Failed to reload TLS; the old certificate stays", "error",
		                   err));
		return;
	}
	api_json(rs, 200,
	         json_pack("{s:b, s:s}", "success", 1, "message", "TLS reloaded successfully"));
}

static bool path_protected(const char *rel)
{
	return strcmp(rel, "/metrics") == 0 || strcmp(rel, "/api") == 0 ||
	       strncmp(rel, "/api/", 5) == 0;
}

void api_handle(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	const char *rel = api_strip_base(st->base, rq->url);
	if (!rel) {
		api_error(rs, 404, "not found");
		return;
	}
	/* The /api/auth/ routes are the dashboard login itself: no token needed. */
	bool auth_route = strncmp(rel, "/api/auth/", 10) == 0;
	bool by_cookie = false; /* authorised by the session cookie alone */
	if (st->token && path_protected(rel) && !auth_route &&
	    !api_token_ok(st->token, rq->authorization, rq->x_api_token) &&
	    !(by_cookie = api_cookie_session(st, rq, NULL, 0))) {
		api_error(rs, 401, "missing or invalid bearer token");
		return;
	}
	struct api_match m;
	api_route_match(rq->method, rel, &m);
	if (m.status == 404 && st->cfg->sessions.dashboard_enabled &&
	    (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0) &&
	    !path_protected(rel)) {
		api_static_handle(st->dash, rq, rel, rs);
		return;
	}
	if (m.status == 404) {
		api_error(rs, 404, "no such endpoint: %s %s", rq->method, rel);
		return;
	}
	if (m.status == 405) {
		api_error(rs, 405, "method %s not allowed on %s (allowed: %s)", rq->method, rel,
		          m.allow);
		cs_strlcpy(rs->allow, m.allow, sizeof(rs->allow));
		return;
	}
	if (!st->token && !auth_route &&
	    (api_route_mutating(m.route) || m.route == ROUTE_ADMIN_CONFIG_GET)) {
		api_error(rs, 403,
		          "this endpoint changes state and is disabled until api.token or "
		          "api.token_file is configured");
		return;
	}
	if (by_cookie && api_route_mutating(m.route) && !api_csrf_ok(rq)) {
		api_fail(rs, 403, "csrf",
		         "cross-site request refused: a state-changing request authorised by the "
		         "session cookie needs an X-Requested-With header or a same-origin Origin");
		return;
	}
	if (rq->body_too_large) {
		api_error(rs, 413, "request body larger than api.max_body_bytes (%u)",
		          st->cfg->api.max_body_bytes);
		return;
	}
	switch (m.route) {
	case ROUTE_HEALTH:
		h_health(st, rs);
		break;
	case ROUTE_METRICS:
		h_metrics(rs);
		break;
	case ROUTE_OPENAPI:
		api_json(rs, 200, api_openapi_doc(st));
		break;
	case ROUTE_POOL_STATS:
		h_pool_stats(st, rs);
		break;
	case ROUTE_ADMIN_RELOAD_TLS:
		h_tls_reload(st, rs);
		break;
	case ROUTE_METRICS_HISTORY:
		h_metrics_history(st, rs);
		break;
	case ROUTE_CONFIG:
		api_config_handle(st, rs);
		break;
	case ROUTE_SESSIONS_ACTIVE:
	case ROUTE_SESSIONS_HISTORY:
	case ROUTE_SESSIONS_STATS:
	case ROUTE_SESSION_GET:
	case ROUTE_SESSION_TERMINATE:
	case ROUTE_USER_SESSIONS:
		api_sessions_handle(st, &m, rq, rs);
		break;
	case ROUTE_AUTH_LOGIN:
	case ROUTE_AUTH_LOGOUT:
	case ROUTE_AUTH_CHECK:
	case ROUTE_AUTH_ALTCHA_CONFIG:
	case ROUTE_AUTH_ALTCHA_CHALLENGE:
		api_auth_handle(st, &m, rq, rs);
		break;
	case ROUTE_SYSTEM_RESOURCES:
	case ROUTE_TELEMETRY_EVENTS:
	case ROUTE_DIAG_CONNECTIVITY:
	case ROUTE_SWAGGER_UI:
		api_system_handle(st, &m, rq, rs);
		break;
	case ROUTE_ADMIN_RUNTIME_GET:
	case ROUTE_ADMIN_RUNTIME_PUT:
	case ROUTE_ADMIN_CONFIG_GET:
	case ROUTE_ADMIN_CONFIG_PUT:
		api_admin_handle(st, &m, rq, rs);
		break;
	default:
		api_acl_handle(st, &m, rq, rs);
		break;
	}
	if (!rs->body)
		api_error(rs, 500, "internal error: no response");
}
