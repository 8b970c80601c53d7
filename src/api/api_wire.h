/* Ready-made api_sources functions over the program's modules, so main.c
 * wires the API in a few lines:
 *
 *     static struct api_wiring wiring;          // must outlive the server
 *     wiring.acl = acl_mgr;                     // NULL when ACL is disabled
 *     wiring.sessions = session_mgr;            // NULL: session routes 503
 *     wiring.store = api_store;                 // NULL: history from memory
 *     struct api_sources src;
 *     api_wiring_sources(&wiring, &src);
 *     api = api_server_start(cfg, &src, err, sizeof(err));
 *
 * The store, when given, should be a connection of its own (not the batch
 * writer's), so API queries never wait behind a batch. */
#ifndef CSOCKS_API_WIRE_H
#define CSOCKS_API_WIRE_H

#include "api/api_sources.h"

struct acl_manager;
struct session_manager;
struct session_store;

struct api_wiring {
	struct acl_manager *acl;          /* borrowed; NULL = ACL disabled */
	struct session_manager *sessions; /* borrowed; NULL = no session routes */
	struct session_store *store;      /* borrowed; NULL = history/stats from memory */
};

/* Zero src, then set ctx = w and every function the wiring can serve:
 *   acl_file/acl_reload/acl_evaluate      from w->acl;
 *   sessions_active, session_get (active or in-memory history, then the
 *   store), sessions_history and sessions_stats (the store when set, else
 *   the manager's memory), session_terminate (the manager finds the
 *   connection, server_terminate_conn closes it).
 * Reloads through the API are counted in csocks_acl_reloads_total. */
void api_wiring_sources(struct api_wiring *w, struct api_sources *src);

#endif
