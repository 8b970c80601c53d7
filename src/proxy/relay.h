/* The data path of a tunnel: move bytes between two sockets in both
 * directions, with splice(2) through a pooled pipe, or by copying through a
 * pooled buffer when no pipe is available or the fds cannot splice.
 *
 * Readiness is edge-style: the owner sets end[i].can_read / can_write when
 * the loop reports the fd ready; relay_run() clears them when a syscall says
 * EAGAIN. Each direction moves one carrier-load at a time: read into an
 * empty carrier, write it all out, return the carrier, read again. A
 * direction whose destination is full therefore stops reading its source
 * (back-pressure through the kernel's socket buffers, no unbounded
 * buffering) and an idle tunnel holds no carrier at all.
 *
 * Half-close: EOF from a source is passed on as shutdown(SHUT_WR) to the
 * destination once the carrier is empty; the other direction keeps flowing.
 * The tunnel is done when both directions have passed EOF on.
 *
 * TLS (relay_set_tls): the client end is an SSL (proxy/tls.h). Both
 * directions then copy through pooled buffers, SSL_read on the client side
 * and SSL_write back to it; EOF toward the client is a close_notify, then
 * shutdown(SHUT_WR). The same carriers, back-pressure, budget and read_cap
 * apply; OpenSSL's own buffers are released while the tunnel is idle
 * (SSL_MODE_RELEASE_BUFFERS). A plain tunnel never takes these branches
 * (they live on the copy path only).
 *
 * Counters: `bytes` counts bytes delivered to the destination; `reads`
 * counts successful reads from the source (the "packets" of the session
 * record). Single-threaded: a relay belongs to its worker. */
#ifndef CSOCKS_RELAY_H
#define CSOCKS_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "event/pipepool.h"

struct ssl_st;

enum { RELAY_CLIENT = 0, RELAY_UPSTREAM = 1 };
/* Directions: RELAY_UP moves client -> upstream, RELAY_DOWN upstream -> client. */
enum { RELAY_UP = 0, RELAY_DOWN = 1 };

#define RELAY_DIR_EOF  0x01 /* source returned EOF */
#define RELAY_DIR_SHUT 0x02 /* EOF passed on: shutdown(SHUT_WR) done on destination */
#define RELAY_DIR_COPY 0x04 /* splice refused on these fds: copy from now on */

/* Default bytes one relay_run() moves per direction before yielding. */
#define RELAY_BUDGET ((size_t)256 * 1024)

struct relay_end {
	int fd;
	uint8_t can_read;  /* readable as far as we know (cleared on EAGAIN) */
	uint8_t can_write; /* writable as far as we know (cleared on EAGAIN) */
};

struct relay_dir {
	struct pipe_ent *pipe;  /* carrier when splicing, else NULL */
	struct relay_buf *buf;  /* carrier when copying, else NULL */
	const uint8_t *preload; /* borrowed bytes to send first (owner keeps them alive) */
	uint32_t pending;       /* bytes sitting in the carrier */
	uint32_t off;           /* start of pending bytes in buf / preload */
	uint8_t flags;          /* RELAY_DIR_* */
	uint64_t bytes;         /* delivered to the destination */
	uint64_t reads;         /* successful reads from the source */
};

struct relay {
	struct relay_end end[2];
	struct relay_dir dir[2];
	struct pipepool *pool;
	struct ssl_st *ssl; /* the client end's TLS (borrowed), or NULL */
	uint64_t read_cap;  /* bytes relay_run may read from both sources (shaping);
	                     * relay_init sets "no limit" (UINT64_MAX) */
	uint64_t read_used; /* bytes read by the last relay_run */
	int err;            /* errno of the failure when relay_run returned RELAY_ERROR */
	uint8_t err_end;    /* RELAY_CLIENT or RELAY_UPSTREAM: whose syscall failed */
};

enum relay_status {
	RELAY_WAIT = 0,   /* nothing more to do until an fd becomes ready */
	RELAY_BUSY = 1,   /* budget used up with work left: call again soon */
	RELAY_DONE = 2,   /* both directions finished (EOF passed on both ways) */
	RELAY_ERROR = 3,  /* a syscall failed: see err, err_end */
	RELAY_CAPPED = 4, /* read_cap used up with a source still readable */
};

/* Set up over two connected sockets; readiness starts false. */
void relay_init(struct relay *r, struct pipepool *pool, int client_fd, int upstream_fd);
/* The client end speaks TLS through ssl (borrowed; set before relay_run;
 * the owner frees it after relay_release). */
void relay_set_tls(struct relay *r, struct ssl_st *ssl);
/* Bytes to deliver in direction d before anything read from its source
 * (pipelined data that arrived with the SOCKS request). Borrowed: must stay
 * valid until delivered or the relay is released. Call before relay_run. */
void relay_preload(struct relay *r, int d, const uint8_t *data, uint32_t len);
/* Move what can be moved now, at most `budget` bytes per direction. */
enum relay_status relay_run(struct relay *r, size_t budget);
/* Return or drop the carriers (does not close the sockets). Idempotent. */
void relay_release(struct relay *r);
/* Bytes currently held in carriers (both directions). */
static inline uint64_t relay_inflight(const struct relay *r)
{
	return (uint64_t)r->dir[0].pending + r->dir[1].pending;
}

#endif
