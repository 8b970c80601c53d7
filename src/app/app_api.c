/* api_sources over the ACL manager, the sessions and the proxy (app_api.h). */
#include "app/app_api.h"

#include "acl/acl_eval.h"
#include "acl/acl_manager.h"
#include "obs/metrics.h"
#include "obs/telemetry.h"
#include "proxy/proxy.h"
#include "session/session_manager.h"
#include "session/metrics_store.h"
#include "session/session_query.h"
#include "session/store.h"
#include "util/log.h"
#include "util/strutil.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wire_acl_reload(void *ctx, char *err, size_t errlen)
{
	struct app_api *w = ctx;
	struct acl_msgs msgs;
	acl_msgs_init(&msgs);
	int rc = acl_manager_reload(w->acl, &msgs);
	if (rc != 0) {
		char *all = acl_msgs_join(&msgs);
		snprintf(err, errlen, "%s", all ? all : "reload failed");
		free(all);
	}
	acl_msgs_fini(&msgs);
	metrics_acl_reload(rc == 0);
	if (rc == 0)
		telemetry_record(TELEMETRY_INFO, "acl", "ACL reloaded (API)");
	else
		telemetry_record(TELEMETRY_ERROR, "acl", "ACL reload (API) failed: %s", err);
	return rc == 0 ? 0 : -1;
}

static int wire_acl_evaluate(void *ctx, const struct acl_request *rq, struct api_acl_verdict *out,
                             char *err, size_t errlen)
{
	struct app_api *w = ctx;
	struct acl_snapshot *snap = acl_manager_acquire(w->acl);
	if (!snap) {
		snprintf(err, errlen, "no ACL loaded");
		return -1;
	}
	struct acl_decision d;
	acl_evaluate(snap, rq, &d);
	api_acl_verdict_fill(&d, out);
	acl_snapshot_unref(snap);
	return 0;
}

static int wire_active(void *ctx, struct session_record ***out, size_t *n)
{
	struct app_api *w = ctx;
	session_manager_active(w->sessions, out, n);
	return 0;
}

static int wire_get(void *ctx, const char *id, struct session_record **out, char *err,
                    size_t errlen)
{
	struct app_api *w = ctx;
	*out = session_manager_get(w->sessions, id);
	if (*out)
		return 0;
	if (w->store) {
		int rc = session_store_get(w->store, id, out, err, errlen);
		if (rc != STORE_OK)
			return -EIO;
		if (*out)
			return 0;
	}
	return -ENOENT;
}

static int wire_history(void *ctx, const struct session_query *q, struct session_page *out,
                        char *err, size_t errlen)
{
	struct app_api *w = ctx;
	if (w->store)
		return session_store_query(w->store, q, out, err, errlen) == STORE_OK ? 0 : -EIO;
	session_manager_query(w->sessions, q, out);
	return 0;
}

static int wire_stats(void *ctx, uint32_t window_hours, struct session_stats *out, char *err,
                      size_t errlen)
{
	struct app_api *w = ctx;
	if (w->store)
		return session_store_stats(w->store, window_hours, 0, out, err, errlen) == STORE_OK
		           ? 0
		           : -EIO;
	session_manager_stats(w->sessions, window_hours, 0, out);
	return 0;
}

static int wire_terminate(void *ctx, const char *id, const char *reason)
{
	struct app_api *w = ctx;
	uint64_t conn;
	if (!session_manager_conn_id(w->sessions, id, &conn))
		return -ENOENT;
	if (!w->proxy)
		return -ENOENT;
	return proxy_terminate_conn(w->proxy, conn, reason) == 0 ? 0 : -ENOENT;
}

static long wire_metrics_load(void *ctx, int64_t since_us, struct metrics_sample *out, size_t max)
{
	struct app_api *w = ctx;
	char err[256];
	struct metrics_row *rows = xcalloc(max ? max : 1, sizeof(*rows));
	long n = metrics_store_load(w->metrics, since_us, rows, max, err, sizeof(err));
	if (n < 0)
		log_warn("%s", err);
	for (long i = 0; i < n; i++)
		out[i] = (struct metrics_sample){rows[i].wall_us, rows[i].active_sessions,
		                                 rows[i].total_sessions, rows[i].bandwidth};
	free(rows);
	return n;
}

static int wire_metrics_save(void *ctx, const struct metrics_sample *s)
{
	struct app_api *w = ctx;
	char err[256];
	struct metrics_row r = {s->wall_us, s->active_sessions, s->total_sessions, s->bandwidth};
	if (metrics_store_save(w->metrics, &r, err, sizeof(err)) != 0) {
		log_debug("%s", err);
		return -1;
	}
	return 0;
}

static int wire_tls_reload(void *ctx, char *err, size_t errlen)
{
	struct app_api *w = ctx;
	return proxy_tls_reload(w->proxy, err, errlen);
}

void app_api_sources(struct app_api *w, struct api_sources *src)
{
	memset(src, 0, sizeof(*src));
	src->ctx = w;
	if (w->acl) {
		src->acl_file = acl_manager_path(w->acl);
		src->acl_reload = wire_acl_reload;
		src->acl_evaluate = wire_acl_evaluate;
	}
	if (w->proxy)
		src->tls_reload = wire_tls_reload;
	if (w->sessions) {
		src->sessions_active = wire_active;
		src->session_get = wire_get;
		src->sessions_history = wire_history;
		src->sessions_stats = wire_stats;
		src->session_terminate = wire_terminate;
	}
	if (w->metrics)
		src->metrics_persist =
		    (struct metrics_persist){w, wire_metrics_load, wire_metrics_save};
}
