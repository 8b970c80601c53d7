/* The api_sources functions over the program's modules: the one place the
 * admin API (api/, which knows only api_sources.h) meets the proxy, the ACL
 * manager and the sessions. app.c fills a struct app_api and hands the
 * sources to api_server_start.
 *
 * The store, when given, should be a connection of its own (not the batch
 * writer's), so API queries never wait behind a batch. */
#ifndef CSOCKS_APP_API_H
#define CSOCKS_APP_API_H

#include "api/api_sources.h"

struct acl_manager;
struct session_manager;
struct session_store;
struct metrics_store;
struct proxy;

struct app_api {
	struct acl_manager *acl;          /* borrowed; NULL = ACL disabled */
	struct session_manager *sessions; /* borrowed; NULL = no session routes */
	struct session_store *store;      /* borrowed; NULL = history/stats from memory */
	struct proxy *proxy;              /* borrowed; closes terminated sessions */
	struct metrics_store *metrics;    /* owned by app; NULL = history in memory */
};

/* Zero src, then set ctx = w and every function the wiring can serve:
 *   acl_file/acl_reload/acl_evaluate      from w->acl;
 *   sessions_active, session_get (active or in-memory history, then the
 *   store), sessions_history and sessions_stats (the store when set, else
 *   the manager's memory), session_terminate (the manager finds the
 *   connection, proxy_terminate_conn closes it).
 *   metrics_persist                       from w->metrics.
 * Reloads through the API are counted in csocks_acl_reloads_total. */
void app_api_sources(struct app_api *w, struct api_sources *src);

#endif
