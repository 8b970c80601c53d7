/* The session manager: every SOCKS request becomes a session (a record as
 * session_types.h describes it; docs/architecture.md). Active sessions live in their worker's
 * registry; closed and rejected ones go to a bounded in-memory history and, when a store is
 * configured, to the batch writer.
 *
 * Threads: each worker has its own registry and lock, so the data path never
 * takes a global lock; the lock is uncontended except while an API reader
 * copies a snapshot. Live traffic counters are relaxed atomics written only
 * by the owning worker (session_live_traffic) and read by anyone.
 *
 * Store rows: a session that ends within a second is written once, at
 * close; a longer one also gets an `active` row (written by the manager's
 * publisher thread) so that nodes sharing the store see it, and a crash
 * leaves a row that the next start closes.
 *
 * Ownership: a struct session_live belongs to the manager from
 * session_manager_open() until session_manager_close(), which frees it; the
 * worker holds the pointer in its connection and must not use it after
 * close. Records returned to readers are copies the caller frees. */
#ifndef CSOCKS_SESSION_MANAGER_H
#define CSOCKS_SESSION_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "session/session_types.h"

struct csocks_config;
struct session_writer;
struct session_manager;
struct session_live;

/* What is known about a session when it opens (or is rejected). Strings are
 * borrowed for the duration of the call. */
struct session_open {
	uint64_t conn_id;              /* the proxy's connection id (for terminate) */
	const char *user;              /* authenticated user or the anonymous name */
	const struct sockaddr *client; /* client address */
	const char *dest;              /* destination as requested: domain or IP text */
	uint16_t dest_port;
	enum session_protocol proto;
	const char *acl_rule;     /* description of the rule that decided, or NULL */
	const char *acl_decision; /* "allow" | "block" | NULL (no ACL) */
};

/* nworkers registries; writer may be NULL (storage = memory). cfg and
 * writer are borrowed and must outlive the manager. */
struct session_manager *session_manager_new(const struct csocks_config *cfg, unsigned nworkers,
                                            struct session_writer *writer);
void session_manager_free(struct session_manager *m);

/* ---- worker side (worker = index of the calling worker) ---- */

/* A new active session. Never NULL (aborts on OOM). */
struct session_live *session_manager_open(struct session_manager *m, unsigned worker,
                                          const struct session_open *o);
/* Publish the running totals (absolute values, not deltas). */
void session_live_traffic(struct session_live *s, uint64_t bytes_sent, uint64_t bytes_received,
                          uint64_t packets_sent, uint64_t packets_received);
/* End it: the counters passed here are final and exact. Frees s. */
void session_manager_close(struct session_manager *m, struct session_live *s,
                           enum session_status status, const char *reason, uint64_t bytes_sent,
                           uint64_t bytes_received, uint64_t packets_sent,
                           uint64_t packets_received);
/* A request that never became a tunnel (ACL block, auth failure, limit,
 * connect failure): recorded straight into history and the store. */
void session_manager_reject(struct session_manager *m, unsigned worker,
                            const struct session_open *o, enum session_status status,
                            const char *reason);
const char *session_live_id(const struct session_live *s);

/* ---- readers (any thread) ---- */

/* Copies of every active session, newest first. *out is an array of n
 * records; free with session_records_free(). */
void session_manager_active(struct session_manager *m, struct session_record ***out, size_t *n);
void session_records_free(struct session_record **recs, size_t n);
uint64_t session_manager_active_count(struct session_manager *m);
/* Active or in-memory history; NULL when unknown. Caller frees. */
struct session_record *session_manager_get(struct session_manager *m, const char *session_id);
/* The connection carrying an active session, for terminate. */
bool session_manager_conn_id(struct session_manager *m, const char *session_id, uint64_t *conn_id);
/* Totals since start (for /metrics and /health). */
struct session_totals {
	uint64_t opened, closed, rejected, history_evicted;
};
void session_manager_totals(struct session_manager *m, struct session_totals *out);

#endif
