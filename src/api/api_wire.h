/* Ready-made api_sources functions over the program's modules, so main.c
 * wires the API in a few lines:
 *
 *     static struct api_wiring wiring;          // must outlive the server
 *     wiring.acl = acl_mgr;                     // NULL when ACL is disabled
 *     struct api_sources src;
 *     api_wiring_sources(&wiring, &src);        // sets ctx, acl_file, acl_*
 *     src.sessions_active = ...;                // session manager, once built
 *     api = api_server_start(cfg, &src, err, sizeof(err));
 *
 * Only the ACL functions are provided here so far; session functions are
 * set by the caller (see api_sources.h for their contracts). */
#ifndef CSOCKS_API_WIRE_H
#define CSOCKS_API_WIRE_H

#include "api/api_sources.h"

struct acl_manager;

struct api_wiring {
	struct acl_manager *acl; /* borrowed; NULL = ACL disabled */
	void *user;		 /* free for the caller's session functions */
};

/* Zero src, then set ctx = w, acl_file, acl_reload and acl_evaluate (when
 * w->acl is set). Reloads through the API are counted in
 * csocks_acl_reloads_total. */
void api_wiring_sources(struct api_wiring *w, struct api_sources *src);

#endif
