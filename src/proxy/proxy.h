/* The proxy: one worker thread per core, each with its own SO_REUSEPORT
 * listener, epoll loop and connections (docs/architecture.md, "Threads").
 *
 * Lifecycle, all from the composition root's thread (app/app.c):
 *   proxy_new   binds every listener (before privileges drop);
 *   proxy_start starts the worker threads;
 *   proxy_drain stops accepting and lets connections finish;
 *   proxy_free  joins the workers and frees everything (safe after a
 *               failed proxy_new or proxy_start, and on NULL).
 * proxy_terminate_conn and proxy_acl_recheck may be called from any thread
 * between proxy_start and proxy_free: they post a message to the owning
 * worker, which acts on its own thread. */
#ifndef CSOCKS_PROXY_H
#define CSOCKS_PROXY_H

#include <stddef.h>
#include <stdint.h>

struct csocks_config;
struct acl_manager;
struct auth_manager;
struct session_manager;
struct proxy;

/* What the proxy borrows from the rest of the program (built before
 * proxy_new, freed after proxy_free). */
struct proxy_ctx {
	struct acl_manager *acl;          /* NULL: ACL disabled */
	struct session_manager *sessions; /* NULL: sessions disabled */
	struct auth_manager *auth;        /* both auth tiers; never NULL */
};

/* server.worker_threads, or one per online CPU when 0. */
unsigned proxy_worker_count(const struct csocks_config *cfg);

/* Build the workers and bind their listeners. NULL with err on failure.
 * cfg and ctx are borrowed and must outlive the proxy. */
struct proxy *proxy_new(const struct csocks_config *cfg, const struct proxy_ctx *ctx, char *err,
                        size_t errlen);

/* Start the worker threads and register the proxy's /metrics collector.
 * 0, or -1 with err (the workers already started are drained). */
int proxy_start(struct proxy *p, char *err, size_t errlen);

/* Stop accepting; give open connections up to timeout_ms to finish, then
 * close the rest. Returns when every worker has stopped its loop. */
void proxy_drain(struct proxy *p, unsigned timeout_ms);

void proxy_free(struct proxy *p);

/* Ask the owning worker to close connection `id` with `reason` (copied).
 * 0 when posted (the connection may already be gone), -1 when the id
 * names no worker. */
int proxy_terminate_conn(struct proxy *p, uint64_t id, const char *reason);

/* server.tls: read the certificate, key and client CA again; new
 * connections use them, live tunnels keep theirs. 0; -ENOENT when TLS is
 * off; -1 with err (logged; the old context stays) when a file is bad. */
int proxy_tls_reload(struct proxy *p, char *err, size_t errlen);

/* After an ACL reload: every worker re-checks its live tunnels. */
void proxy_acl_recheck(struct proxy *p);

#endif
