/* The proxy server: worker threads, signals, graceful shutdown.
 *
 * server_main() runs the server with a loaded config until SIGTERM or
 * SIGINT, then stops accepting, lets connections finish for up to
 * server.shutdown_timeout_secs, closes the rest and returns the process exit
 * code (0 after a clean shutdown, 1 when start-up fails; the reason is
 * logged). It blocks SIGTERM/SIGINT/SIGHUP in every thread and waits for
 * them on a signalfd; SIGHUP is logged ("reload requested") until reload is
 * wired in. Call it once, from the main thread. */
#ifndef CSOCKS_SERVER_H
#define CSOCKS_SERVER_H

#include <stdint.h>

#include "server/stats.h"

struct csocks_config;
struct acl_manager;
struct auth_manager;
struct session_manager;

/* What the server shares with the rest of the program (borrowed; built by
 * main before the server starts, freed after it returns). */
struct server_ctx {
	struct acl_manager *acl;          /* NULL: ACL disabled */
	struct session_manager *sessions; /* NULL: sessions disabled */
	struct auth_manager *auth;        /* NULL: the server builds its own (then
	                                   * PAM monitors are forked late, after
	                                   * other threads may exist) */
};

/* server.worker_threads, or one per online CPU when 0. */
unsigned server_worker_count(const struct csocks_config *cfg);

/* Block the signals server_main waits for, in the calling thread and every
 * thread it creates later. Call before starting any thread. */
void server_block_signals(void);

int server_main(struct csocks_config *cfg, const struct server_ctx *ctx);

/* Ask the owning worker to close connection `id` with `reason` (copied).
 * Any thread. 0 when the request was posted (the connection may already
 * be gone), -1 when no server runs or the id names no worker. */
int server_terminate_conn(uint64_t id, const char *reason);

/* Sum of every worker's counters (any thread; zeroes when not running). */
void server_stats(struct stats *out);

#endif
