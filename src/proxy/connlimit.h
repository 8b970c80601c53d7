/* Connection limits ([qos.connection_limits]): how many
 * sessions one user, and all users together, may hold at once.
 *
 * A slot is taken once a request has passed authentication and the ACL,
 * just before its session opens, and given back when the connection ends.
 * Check and increment are one step under a lock, so two workers racing
 * for a user's last slot cannot both get it. Users hash onto independent
 * stripes (a lock and a table each): workers serving different users
 * rarely meet on a lock, and this is the connection set-up path only,
 * never the relay.
 */
#ifndef CSOCKS_SERVER_CONNLIMIT_H
#define CSOCKS_SERVER_CONNLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/tbucket.h"

struct connlimit;

enum connlimit_result {
	CONNLIMIT_OK,     /* a slot was taken: call connlimit_release later */
	CONNLIMIT_USER,   /* the user holds max_per_user slots already */
	CONNLIMIT_GLOBAL, /* all users together hold max_global */
};

/* 0 = no limit for either. Never NULL. */
struct connlimit *connlimit_new(uint32_t max_per_user, uint32_t max_global);
void connlimit_free(struct connlimit *l);

enum connlimit_result connlimit_acquire(struct connlimit *l, const char *user);
/* Gives back a slot connlimit_acquire returned OK for, with the same user. */
void connlimit_release(struct connlimit *l, const char *user);

/* Bandwidth shaping ([qos.htb]): token buckets in bytes per second, one
 * per user holding a slot (user_rate) and one for everyone (global_rate);
 * 0 = that bucket is off. Buckets start full and hold at most burst bytes.
 * A tunnel charges the bytes it read after each relay turn, and may read
 * only while both its buckets are positive: turns overshoot by at most one
 * turn's reads, and the debt is paid back before the next. Call before any
 * connlimit_bw. */
void connlimit_set_shaping(struct connlimit *l, uint64_t user_rate, uint64_t global_rate,
                           uint64_t burst);
/* Charge `used` bytes to the user (who holds a slot) and to the global
 * bucket at now_ns (monotonic), then return the bytes the user may read
 * now: UINT64_MAX when nothing is shaped, 0 when a bucket is below one
 * quantum (then *wait_ns is how long until both hold one). */
uint64_t connlimit_bw(struct connlimit *l, const char *user, uint64_t used, uint64_t now_ns,
                      uint64_t *wait_ns);
bool connlimit_shaping(const struct connlimit *l);
/* Times connlimit_bw said "wait" (a tunnel paused for its buckets). */
uint64_t connlimit_bw_waits(const struct connlimit *l);

/* Slots held right now (any thread; for the API, metrics and tests). */
uint32_t connlimit_user_count(struct connlimit *l, const char *user);
uint64_t connlimit_global_count(const struct connlimit *l);
/* Users holding at least one slot. */
uint64_t connlimit_users(struct connlimit *l);

#endif
