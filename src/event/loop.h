/* The per-worker event loop: readiness of file descriptors plus the
 * worker's timer heap. A small API over a hidden backend (epoll).
 *
 * An fd is watched through a `struct loop_io` that its owner embeds (a
 * connection embeds one per socket): the loop stores a pointer to it in the
 * kernel, so registering never allocates. Contract: after loop_io_del() the
 * struct must stay valid until the current loop_poll() returns, because an
 * event for it may already be fetched: owners defer the free to the end of
 * the loop iteration (docs/architecture.md, "A connection's life"). Events for a deleted io are
 * dropped.
 *
 * EPOLLERR/EPOLLHUP/EPOLLRDHUP are reported as LOOP_READ|LOOP_WRITE so the
 * owner meets the error in its own read/write (one error path). */
#ifndef CSOCKS_LOOP_H
#define CSOCKS_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "event/timer.h"

#define LOOP_READ  0x1u /* interested in / reported readable */
#define LOOP_WRITE 0x2u /* interested in / reported writable */
#define LOOP_EDGE                                                                                  \
	0x4u /* edge-triggered: reported once per change of state;                                 \
	        the owner keeps readiness until it sees EAGAIN */

struct loop;
struct loop_io;
typedef void (*loop_io_fn)(struct loop_io *io, uint32_t events);

struct loop_io {
	int fd;        /* -1 when not registered */
	uint32_t mask; /* LOOP_* as registered */
	loop_io_fn fn;
	void *data; /* owner */
};

/* NULL with errno on failure. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

void loop_io_init(struct loop_io *io, loop_io_fn fn, void *data);
/* Register fd with mask. 0, or -1 with errno. */
int loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t mask);
/* Change the mask of a registered io. 0 or -1. */
int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t mask);
/* Unregister (does not close the fd). A no-op when not registered. */
void loop_io_del(struct loop *l, struct loop_io *io);

/* Wait for events (at most max_wait_ms; -1 = until the next timer or an
 * event), dispatch them, then fire due timers. Returns the number of events
 * dispatched, or -1 with errno (EINTR is retried). */
int loop_poll(struct loop *l, int max_wait_ms);

/* Monotonic ms as of the last wake-up (cheap: no syscall). */
uint64_t loop_now(const struct loop *l);
/* Re-read the clock. */
uint64_t loop_update_now(struct loop *l);
struct timer_heap *loop_timers(struct loop *l);

/* Convenience: arm t to fire `ms` from loop_now(). */
void loop_timer_in(struct loop *l, struct timer *t, uint64_t ms);
void loop_timer_cancel(struct loop *l, struct timer *t);

#endif
