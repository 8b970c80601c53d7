/* Connection limits: see connlimit.h.
 *
 * STRIPES independent stripes, each a mutex and a util/nametable of
 * (user -> slots held, bandwidth bucket). An entry exists only while its
 * user holds a slot, so memory follows the users connected now, not every
 * user ever seen. The global count is one atomic, raised with a
 * compare-and-swap so it never passes the limit even for a moment. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/connlimit.h"
#include "util/nametable.h"
#include "util/strutil.h"

#define STRIPES_LOG2 6
#define STRIPES      (1 << STRIPES_LOG2)

struct user_slots {
	uint32_t slots;
	struct tbucket bw; /* the user's bandwidth bucket (when shaping) */
};

struct stripe {
	pthread_mutex_t mu;
	struct nametable users; /* of struct user_slots, unbounded */
} __attribute__((aligned(64)));

struct connlimit {
	uint32_t max_user, max_global;
	uint64_t user_rate, global_rate, burst; /* shaping; 0 = off */
	pthread_mutex_t global_mu;              /* guards global_bw */
	struct tbucket global_bw;
	_Atomic uint64_t global;
	_Atomic uint64_t users;
	_Atomic uint64_t bw_waits;
	struct stripe stripes[STRIPES];
};

/* The high bits of the name's hash pick the stripe; the table inside uses
 * the low ones. */
static struct stripe *stripe_of(struct connlimit *l, uint64_t h)
{
	return &l->stripes[h >> (64 - STRIPES_LOG2)];
}

struct connlimit *connlimit_new(uint32_t max_per_user, uint32_t max_global)
{
	struct connlimit *l = xcalloc(1, sizeof(*l));
	l->max_user = max_per_user;
	l->max_global = max_global;
	pthread_mutex_init(&l->global_mu, NULL);
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&l->stripes[i].mu, NULL);
		nametable_init(&l->stripes[i].users, sizeof(struct user_slots), 0);
	}
	return l;
}

void connlimit_free(struct connlimit *l)
{
	if (!l)
		return;
	for (int i = 0; i < STRIPES; i++) {
		nametable_fini(&l->stripes[i].users);
		pthread_mutex_destroy(&l->stripes[i].mu);
	}
	pthread_mutex_destroy(&l->global_mu);
	free(l);
}

static bool global_take(struct connlimit *l)
{
	uint64_t cur = atomic_load_explicit(&l->global, memory_order_relaxed);
	do {
		if (l->max_global && cur >= l->max_global)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &l->global, &cur, cur + 1, memory_order_relaxed, memory_order_relaxed));
	return true;
}

enum connlimit_result connlimit_acquire(struct connlimit *l, const char *user)
{
	if (!global_take(l))
		return CONNLIMIT_GLOBAL;
	uint64_t h = nametable_hash(user);
	struct stripe *st = stripe_of(l, h);
	pthread_mutex_lock(&st->mu);
	struct user_slots *u;
	bool added = nametable_get_h(&st->users, user, h, (void **)&u) == NAMETABLE_ADDED;
	if (!added && l->max_user && u->slots >= l->max_user) {
		pthread_mutex_unlock(&st->mu);
		atomic_fetch_sub_explicit(&l->global, 1, memory_order_relaxed);
		return CONNLIMIT_USER;
	}
	u->slots++;
	if (added) {
		u->bw.tokens = (int64_t)l->burst; /* a new user starts with a full bucket */
		atomic_fetch_add_explicit(&l->users, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&st->mu);
	return CONNLIMIT_OK;
}

void connlimit_release(struct connlimit *l, const char *user)
{
	uint64_t h = nametable_hash(user);
	struct stripe *st = stripe_of(l, h);
	pthread_mutex_lock(&st->mu);
	struct user_slots *u = nametable_find_h(&st->users, user, h);
	bool gone = u && --u->slots == 0;
	if (gone)
		nametable_remove_entry(&st->users, u);
	pthread_mutex_unlock(&st->mu);
	if (gone)
		atomic_fetch_sub_explicit(&l->users, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&l->global, 1, memory_order_relaxed);
}

uint32_t connlimit_user_count(struct connlimit *l, const char *user)
{
	uint64_t h = nametable_hash(user);
	struct stripe *st = stripe_of(l, h);
	pthread_mutex_lock(&st->mu);
	struct user_slots *u = nametable_find_h(&st->users, user, h);
	uint32_t n = u ? u->slots : 0;
	pthread_mutex_unlock(&st->mu);
	return n;
}

uint64_t connlimit_global_count(const struct connlimit *l)
{
	return atomic_load_explicit(&l->global, memory_order_relaxed);
}

uint64_t connlimit_users(struct connlimit *l)
{
	return atomic_load_explicit(&l->users, memory_order_relaxed);
}

/* ---- Bandwidth shaping ---- */

/* The smallest grant worth a read: 10 ms at the bucket's rate, at least
 * 16 KiB, at most half the burst. Waiting for less would cost a wake-up per
 * few KiB (at 100 MB/s: 1,000 timer turns a second instead of 100). */
#define BW_QUANTUM     ((uint64_t)16 * 1024)
#define BW_QUANTUM_DIV 100 /* rate / 100 = 10 ms worth */

void connlimit_set_shaping(struct connlimit *l, uint64_t user_rate, uint64_t global_rate,
                           uint64_t burst)
{
	l->user_rate = user_rate;
	l->global_rate = global_rate;
	l->burst = burst < BW_QUANTUM ? BW_QUANTUM : burst;
	l->global_bw.tokens = (int64_t)l->burst;
	l->global_bw.last_ns = 0;
}

bool connlimit_shaping(const struct connlimit *l)
{
	return l->user_rate || l->global_rate;
}

/* Charge one bucket and say what it allows now: UINT64_MAX if off. */
static uint64_t bucket_step(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t used,
                            uint64_t now_ns, uint64_t *wait_ns)
{
	if (!rate)
		return UINT64_MAX;
	tbucket_refill(b, rate, burst, now_ns);
	b->tokens -= (int64_t)used;
	uint64_t quantum = rate / BW_QUANTUM_DIV;
	if (quantum < BW_QUANTUM)
		quantum = BW_QUANTUM;
	if (quantum > burst / 2) /* waiting for a full bucket would waste the refill */
		quantum = burst / 2;
	if (b->tokens < (int64_t)quantum) {
		uint64_t w = tbucket_wait_ns(b, rate, quantum);
		if (w > *wait_ns)
			*wait_ns = w;
		return 0;
	}
	return (uint64_t)b->tokens;
}

uint64_t connlimit_bw(struct connlimit *l, const char *user, uint64_t used, uint64_t now_ns,
                      uint64_t *wait_ns)
{
	*wait_ns = 0;
	uint64_t allow = UINT64_MAX;
	if (l->user_rate) {
		uint64_t h = nametable_hash(user);
		struct stripe *st = stripe_of(l, h);
		pthread_mutex_lock(&st->mu);
		struct user_slots *u = nametable_find_h(&st->users, user, h);
		if (u)
			allow = bucket_step(&u->bw, l->user_rate, l->burst, used, now_ns, wait_ns);
		pthread_mutex_unlock(&st->mu);
	}
	if (l->global_rate) {
		pthread_mutex_lock(&l->global_mu);
		uint64_t g =
		    bucket_step(&l->global_bw, l->global_rate, l->burst, used, now_ns, wait_ns);
		pthread_mutex_unlock(&l->global_mu);
		if (g < allow)
			allow = g;
	}
	if (allow == 0)
		atomic_fetch_add_explicit(&l->bw_waits, 1, memory_order_relaxed);
	return allow;
}

uint64_t connlimit_bw_waits(const struct connlimit *l)
{
	return atomic_load_explicit(&l->bw_waits, memory_order_relaxed);
}
