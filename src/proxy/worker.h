/* A worker thread: its own event loop and timers, its own SO_REUSEPORT
 * listener, resolver, pipe pool, counters and connections. A connection
 * never leaves its worker, so the data path takes no lock.
 *
 * Other threads talk to a worker only through its mailbox: a locked queue of
 * messages plus an eventfd that wakes the loop (docs/architecture.md,
 * "Threads"). A message
 * carries its own handler, run on the worker thread, which owns the message
 * from then on. */
#ifndef CSOCKS_WORKER_H
#define CSOCKS_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "event/listener.h"
#include "event/loop.h"
#include "event/pipepool.h"

struct csocks_config;
struct proxy_ctx;
struct auth_manager;
struct resolver;
struct conn;
struct worker;
struct tls_server;

/* Read-only state shared by all workers (owned by the server). */
struct worker_shared {
	const struct csocks_config *cfg;
	const struct proxy_ctx *ctx; /* ACL, sessions (never NULL; members may be) */
	struct auth_manager *auth;   /* both auth tiers (auth/auth.h); never NULL */
	uint64_t *active_total;      /* open connections in the process (atomic) */
	uint32_t max_connections;    /* 0 = no limit */
	struct connlimit *limits;    /* [qos.connection_limits]; NULL when QoS is off */
	char *dns_servers;           /* c-ares CSV, NULL = /etc/resolv.conf */
	uint32_t max_pipes_per_worker;
	struct tls_server *tls; /* server.tls.enabled: the SSL_CTX (proxy/tls.h), else NULL */
};

struct worker_msg;
typedef void (*worker_msg_fn)(struct worker *w, struct worker_msg *m);
struct worker_msg {
	struct worker_msg *next;
	worker_msg_fn fn; /* runs on the worker thread; owns m */
};

struct worker {
	unsigned idx;
	const struct worker_shared *sh;
	struct loop *loop;
	struct listener listener;
	struct resolver *resolver;
	struct pipepool pipes;

	struct conn *conns; /* open connections (doubly linked) */
	struct conn *busy;  /* connections with relay work left (run again soon) */
	struct conn *dead;  /* finished; freed at the end of the loop turn */
	uint64_t n_conns;
	uint64_t next_seq;

	/* Mailbox. */
	int evfd;
	struct loop_io io_mbox;
	pthread_mutex_t mb_mu;
	struct worker_msg *mb_head, *mb_tail;

	/* Lifecycle. */
	pthread_t thread;
	bool started;
	bool draining; /* listener closed, waiting for connections to end */
	bool exit;
	struct timer t_drain;
	uint32_t drain_ms;

	/* Rate limit for "max_connections reached" lines. */
	uint64_t limit_log_ms;
	uint64_t limit_suppressed;
};

/* Create a worker listening on sa (bound now, so errors show at start-up).
 * NULL with a message in err. */
struct worker *worker_new(unsigned idx, const struct worker_shared *sh, const struct sockaddr *sa,
                          socklen_t len, char *err, size_t errlen);
/* Start the thread. 0 or -1 with a message. */
int worker_start(struct worker *w, char *err, size_t errlen);
/* Post a message (any thread). */
void worker_post(struct worker *w, struct worker_msg *m);
/* Ask the worker to stop accepting, let connections finish for up to
 * timeout_ms, then close the rest and leave its thread (any thread). */
void worker_drain(struct worker *w, uint32_t timeout_ms);
/* Ask the worker to close the connection `id` with `reason` (any thread). */
void worker_terminate_conn(struct worker *w, uint64_t id, const char *reason);
/* After an ACL reload: re-check every live tunnel of w against the new
 * rules and close those it now blocks. Any thread. */
void worker_post_acl_recheck(struct worker *w);
/* Wait for the thread to end (after worker_drain). */
void worker_join(struct worker *w);
/* Run messages still queued (late auth answers), then free. The thread
 * must have ended (or never started). */
void worker_free(struct worker *w);

/* A new connection id: the worker's index + 1 in bits 48..63 (so 0 is no
 * connection), a per-worker sequence in bits 0..47. */
static inline uint64_t worker_next_conn_id(struct worker *w)
{
	return ((uint64_t)(w->idx + 1) << 48) | (++w->next_seq & 0xFFFFFFFFFFFFull);
}

/* The worker index a connection id encodes. */
static inline unsigned worker_idx_of_conn(uint64_t id)
{
	return (unsigned)(id >> 48) - 1;
}

#endif
