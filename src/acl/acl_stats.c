#include "acl/acl_stats.h"

#include "util/strutil.h"
#include "util/hash.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	_Atomic(char *) name;
	_Atomic uint64_t allowed, blocked;
};

struct acl_stats {
	struct slot *slots;
	size_t mask;
	size_t max_users;
	atomic_size_t n_users;
	struct slot other; /* name unused */
	_Atomic uint64_t allowed, blocked;
};

struct acl_stats *acl_stats_new(size_t max_users)
{
	size_t cap = 16;
	if (max_users == 0)
		return NULL;
	while (cap < max_users * 2)
		cap *= 2;
	struct acl_stats *st = xcalloc(1, sizeof(*st));
	st->slots = xcalloc(cap, sizeof(*st->slots));
	st->mask = cap - 1;
	st->max_users = max_users;
	return st;
}

void acl_stats_free(struct acl_stats *st)
{
	if (!st)
		return;
	for (size_t i = 0; i <= st->mask; i++)
		free(atomic_load_explicit(&st->slots[i].name, memory_order_relaxed));
	free(st->slots);
	free(st);
}

static struct slot *find_or_claim(struct acl_stats *st, const char *user)
{
	char *mine = NULL;
	for (size_t i = cs_hash_str(user) & st->mask, probes = 0; probes <= st->mask;
	     i = (i + 1) & st->mask, probes++) {
		struct slot *sl = &st->slots[i];
		char *name = atomic_load_explicit(&sl->name, memory_order_acquire);
		if (!name) {
			/* Claim only while under the cap: the table then stays at
			 * most half full and probing terminates. */
			if (atomic_fetch_add_explicit(&st->n_users, 1, memory_order_relaxed) >=
			    st->max_users) {
				atomic_fetch_sub_explicit(&st->n_users, 1, memory_order_relaxed);
				free(mine);
				return &st->other;
			}
			if (!mine)
				mine = xstrdup(user);
			if (atomic_compare_exchange_strong_explicit(
			        &sl->name, &name, mine, memory_order_acq_rel, memory_order_acquire))
				return sl;
			atomic_fetch_sub_explicit(&st->n_users, 1, memory_order_relaxed);
			/* Lost the race: name now holds the winner's string. */
		}
		if (strcmp(name, user) == 0) {
			free(mine);
			return sl;
		}
	}
	free(mine);
	return &st->other;
}

void acl_stats_record(struct acl_stats *st, const char *user, bool allow)
{
	struct slot *sl = user ? find_or_claim(st, user) : &st->other;
	atomic_fetch_add_explicit(allow ? &sl->allowed : &sl->blocked, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(allow ? &st->allowed : &st->blocked, 1, memory_order_relaxed);
}

void acl_stats_foreach_user(const struct acl_stats *st, acl_stats_fn fn, void *arg)
{
	struct acl_stats *m = (struct acl_stats *)st; /* atomics are read only */
	for (size_t i = 0; i <= st->mask; i++) {
		char *name = atomic_load_explicit(&m->slots[i].name, memory_order_acquire);
		if (name)
			fn(name, atomic_load_explicit(&m->slots[i].allowed, memory_order_relaxed),
			   atomic_load_explicit(&m->slots[i].blocked, memory_order_relaxed), arg);
	}
	uint64_t a = atomic_load_explicit(&m->other.allowed, memory_order_relaxed);
	uint64_t b = atomic_load_explicit(&m->other.blocked, memory_order_relaxed);
	if (a || b)
		fn(ACL_STATS_OTHER, a, b, arg);
}

void acl_stats_totals(const struct acl_stats *st, uint64_t *allowed, uint64_t *blocked)
{
	struct acl_stats *m = (struct acl_stats *)st;
	*allowed = atomic_load_explicit(&m->allowed, memory_order_relaxed);
	*blocked = atomic_load_explicit(&m->blocked, memory_order_relaxed);
}
