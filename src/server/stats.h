/* Per-worker counters. Each counter is written only by its owning worker
 * (a relaxed atomic store of a plain increment: no locked instruction, no
 * shared cache line on the hot path) and read by other threads with relaxed
 * atomic loads when summed (stats_sum). */
#ifndef CSOCKS_STATS_H
#define CSOCKS_STATS_H

#include <stdint.h>

#define STATS_REPLY_CODES 9 /* SOCKS5 reply codes 0x00..0x08 */

struct stats {
	uint64_t accepted;                   /* connections accepted */
	uint64_t rejected_limit;             /* closed at once: server.max_connections */
	uint64_t active;                     /* connections open on this worker (gauge) */
	uint64_t closed;                     /* connections finished */
	uint64_t bytes_up;                   /* client -> upstream, delivered */
	uint64_t bytes_down;                 /* upstream -> client, delivered */
	uint64_t handshake_failures;         /* closed before a request was parsed */
	uint64_t auth_failures;              /* RFC 1929 rejected */
	uint64_t replies[STATS_REPLY_CODES]; /* SOCKS5 replies sent, by code */
	uint64_t accept_errors;              /* accept() failures (EMFILE, ...) */
	uint64_t proxy_hdr_failures;         /* PROXY header missing or malformed */
	/* Pad to a cache line multiple so workers' blocks never share one. */
	uint64_t pad_[1];
};

/* Owner thread only. */
static inline void stats_add(uint64_t *field, uint64_t n)
{
	__atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
static inline void stats_sub(uint64_t *field, uint64_t n)
{
	__atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) - n, __ATOMIC_RELAXED);
}

/* out += s, field by field (any thread). */
void stats_sum(struct stats *out, const struct stats *s);

#endif
