/* A worker's listening socket: SO_REUSEPORT, so every worker has its own
 * listener on the same address and the kernel spreads connections among
 * them (no shared accept queue, no thundering herd).
 *
 * Accepting is bounded per wake-up (LISTENER_ACCEPT_BATCH); the listener is
 * level-triggered, so what is left is accepted on the next loop turn after
 * other work. When the process runs out of file descriptors (EMFILE/ENFILE)
 * the listener sheds one pending connection through a reserve fd (so the
 * client sees a close instead of hanging in the backlog) and pauses
 * accepting for LISTENER_PAUSE_MS: no busy loop. */
#ifndef CSOCKS_LISTENER_H
#define CSOCKS_LISTENER_H

#include <stdint.h>
#include <sys/socket.h>

#include "event/loop.h"

#define LISTENER_ACCEPT_BATCH 64
#define LISTENER_PAUSE_MS     100
#define LISTENER_BACKLOG      4096

/* Called for each accepted socket (non-blocking, close-on-exec); the
 * callee owns fd. */
typedef void (*listener_accept_fn)(void *arg, int fd, const struct sockaddr *sa, socklen_t len);

struct listener {
	int fd;         /* -1 when closed */
	int reserve_fd; /* /dev/null held for EMFILE shedding, or -1 */
	struct loop *loop;
	struct loop_io io;
	struct timer t_pause;
	listener_accept_fn fn;
	void *arg;
	uint64_t accept_errors; /* accept() failures other than a gone client */
	uint64_t last_warn_ms;
};

/* Make fd = -1 etc. so listener_close is always safe. */
void listener_init(struct listener *ls);
/* Create, bind and listen (not yet watched). 0, or -1 with a message
 * ("bind 127.0.0.1:1080: Address already in use") in err. */
int listener_bind(struct listener *ls, const struct sockaddr *sa, socklen_t len, char *err,
                  size_t errlen);
/* Start accepting on loop l (the worker's, from its own thread). 0 or -1. */
int listener_start(struct listener *ls, struct loop *l, listener_accept_fn fn, void *arg);
/* Stop accepting and close the socket (and the reserve fd). Idempotent. */
void listener_close(struct listener *ls);

/* accept() failures so far (EMFILE, ENFILE, ENOBUFS, ...); any thread. */
uint64_t listener_accept_errors(const struct listener *ls);

#endif
