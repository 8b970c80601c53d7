/* Failed-authentication throttling per client IP address.
 *
 * An address that fails max_attempts credential checks within window_secs is
 * locked out for lockout_secs: every attempt in that time fails at once,
 * without running PAM or crypt(3). A successful login forgets the address's
 * failures (it cannot happen during a lockout, which is checked first).
 *
 * IPv4-mapped IPv6 addresses count as their IPv4 address; ports are ignored.
 *
 * The table is sharded (a mutex per shard, held for a few instructions), so
 * throttle_check() is cheap enough for a worker's event loop. Memory is
 * bounded: each shard holds a fixed number of entries allocated up front;
 * when a shard is full the least recently touched address is forgotten (an
 * attacker who controls that many addresses defeats per-address throttling
 * anyway; the bound only keeps memory fixed).
 *
 * Every function is thread-safe. The *_at variants take the monotonic time
 * in ms (tests); the others use time_mono_ms(). */
#ifndef CSOCKS_THROTTLE_H
#define CSOCKS_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct throttle_params {
	uint32_t max_attempts; /* failures in a window that trigger a lockout (>= 1) */
	uint32_t window_secs;  /* failures older than this are forgotten */
	uint32_t lockout_secs; /* how long a locked-out address is refused */
	size_t max_entries;    /* addresses tracked at most (0 = default 65536) */
};

/* Counters since start (metrics). */
struct throttle_stats {
	uint64_t failures;  /* throttle_fail calls recorded */
	uint64_t lockouts;  /* lockouts started */
	uint64_t rejected;  /* throttle_check calls answered "locked out" */
	uint64_t evictions; /* entries forgotten because their shard was full */
	uint64_t entries;   /* addresses tracked now */
	uint64_t locked;    /* ... of which locked out now (approximate: expiry is lazy) */
};

struct throttle;

/* Never NULL (aborts on OOM). */
struct throttle *throttle_new(const struct throttle_params *p);
void throttle_free(struct throttle *t);

/* True while the address is locked out (the attempt must fail at once).
 * Counted in stats.rejected. sa: AF_INET or AF_INET6; other families are
 * never throttled. */
bool throttle_check(struct throttle *t, const struct sockaddr *sa);
bool throttle_check_at(struct throttle *t, const struct sockaddr *sa, int64_t now_ms);

/* Record a failed credential check. Returns true when this failure started
 * a lockout (for a log line). */
bool throttle_fail(struct throttle *t, const struct sockaddr *sa);
bool throttle_fail_at(struct throttle *t, const struct sockaddr *sa, int64_t now_ms);

/* Record a successful login: the address's failures are forgotten. */
void throttle_success(struct throttle *t, const struct sockaddr *sa);

void throttle_stats_get(struct throttle *t, struct throttle_stats *out);

#endif
