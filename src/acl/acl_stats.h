/* Per-user ACL decision counters that survive reloads (per-rule counters
 * live in the snapshot: see acl_snapshot_count()).
 *
 * A fixed-size open-addressing table filled lock-free: the first decision
 * for a user copies its name (malloc, once per user) and claims a slot with
 * a compare-and-swap; later decisions only increment relaxed atomics. When
 * max_users distinct names have been seen, further users are counted under
 * the name "(other)" so an attacker cycling usernames cannot grow memory.
 * All functions are thread-safe. */
#ifndef CSOCKS_ACL_STATS_H
#define CSOCKS_ACL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACL_STATS_OTHER "(other)"

struct acl_stats;

/* NULL only if max_users is 0. Free with acl_stats_free() once no thread
 * records any more. */
struct acl_stats *acl_stats_new(size_t max_users);
void acl_stats_free(struct acl_stats *st);

/* Count one final decision for user (NULL counts as "(other)"). */
void acl_stats_record(struct acl_stats *st, const char *user, bool allow);

/* Visit every user seen so far (a consistent-enough snapshot: counters may
 * move while the walk runs). fn must not call back into st. */
typedef void (*acl_stats_fn)(const char *user, uint64_t allowed, uint64_t blocked, void *arg);
void acl_stats_foreach_user(const struct acl_stats *st, acl_stats_fn fn, void *arg);

void acl_stats_totals(const struct acl_stats *st, uint64_t *allowed, uint64_t *blocked);

#endif
