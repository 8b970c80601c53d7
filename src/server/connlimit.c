/* Connection limits: see connlimit.h.
 *
 * STRIPES independent stripes, each a mutex and a chained hash table of
 * (user, slots held). An entry exists only while its user holds a slot,
 * so memory follows the users connected now, not every user ever seen.
 * The global count is one atomic, raised with a compare-and-swap so it
 * never passes the limit even for a moment. */
#include "server/connlimit.h"

#include "util/strutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES     64
#define MIN_BUCKETS 8
#define MAX_LOAD    2 /* entries per bucket before the table doubles */

struct entry {
	struct entry *next;
	uint64_t hash;
	uint32_t slots;
	struct tbucket bw; /* the user's bandwidth bucket (when shaping) */
	char user[];       /* NUL-terminated */
};

struct stripe {
	pthread_mutex_t mu;
	struct entry **buckets;
	size_t nbuckets, n;
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

/* FNV-1a: users are short names; the low bits pick the stripe, the next
 * ones the bucket. */
static uint64_t hash_user(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct stripe *stripe_of(struct connlimit *l, uint64_t h)
{
	return &l->stripes[h % STRIPES];
}

static size_t bucket_of(const struct stripe *st, uint64_t h)
{
	return (size_t)(h / STRIPES) & (st->nbuckets - 1);
}

/* With st->mu held: the entry's link in its bucket chain, or where to add. */
static struct entry **find(struct stripe *st, uint64_t h, const char *user)
{
	struct entry **p = &st->buckets[bucket_of(st, h)];
	while (*p && ((*p)->hash != h || strcmp((*p)->user, user) != 0))
		p = &(*p)->next;
	return p;
}

static void grow(struct stripe *st)
{
	size_t old_n = st->nbuckets;
	struct entry **old = st->buckets;
	st->nbuckets = old_n * 2;
	st->buckets = xcalloc(st->nbuckets, sizeof(*st->buckets));
	for (size_t i = 0; i < old_n; i++) {
		for (struct entry *e = old[i], *next; e; e = next) {
			next = e->next;
			size_t b = bucket_of(st, e->hash);
			e->next = st->buckets[b];
			st->buckets[b] = e;
		}
	}
	free(old);
}

struct connlimit *connlimit_new(uint32_t max_per_user, uint32_t max_global)
{
	struct connlimit *l = xcalloc(1, sizeof(*l));
	l->max_user = max_per_user;
	l->max_global = max_global;
	pthread_mutex_init(&l->global_mu, NULL);
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&l->stripes[i].mu, NULL);
		l->stripes[i].nbuckets = MIN_BUCKETS;
		l->stripes[i].buckets = xcalloc(MIN_BUCKETS, sizeof(struct entry *));
	}
	return l;
}

void connlimit_free(struct connlimit *l)
{
	if (!l)
		return;
	for (int i = 0; i < STRIPES; i++) {
		struct stripe *st = &l->stripes[i];
		for (size_t b = 0; b < st->nbuckets; b++) {
			for (struct entry *e = st->buckets[b], *next; e; e = next) {
				next = e->next;
				free(e);
			}
		}
		free(st->buckets);
		pthread_mutex_destroy(&st->mu);
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
	uint64_t h = hash_user(user);
	struct stripe *st = stripe_of(l, h);
	pthread_mutex_lock(&st->mu);
	struct entry **p = find(st, h, user);
	if (*p && l->max_user && (*p)->slots >= l->max_user) {
		pthread_mutex_unlock(&st->mu);
		atomic_fetch_sub_explicit(&l->global, 1, memory_order_relaxed);
		return CONNLIMIT_USER;
	}
	if (*p) {
		(*p)->slots++;
	} else {
		size_t len = strlen(user) + 1;
		struct entry *e = xmalloc(sizeof(*e) + len);
		e->next = NULL;
		e->hash = h;
		e->slots = 1;
		e->bw.tokens = (int64_t)l->burst; /* a new user starts with a full bucket */
		e->bw.last_ns = 0;
		memcpy(e->user, user, len);
		*p = e;
		atomic_fetch_add_explicit(&l->users, 1, memory_order_relaxed);
		if (++st->n > st->nbuckets * MAX_LOAD)
			grow(st);
	}
	pthread_mutex_unlock(&st->mu);
	return CONNLIMIT_OK;
}

void connlimit_release(struct connlimit *l, const char *user)
{
	uint64_t h = hash_user(user);
	struct stripe *st = stripe_of(l, h);
	pthread_mutex_lock(&st->mu);
	struct entry **p = find(st, h, user);
	struct entry *gone = NULL;
	if (*p && --(*p)->slots == 0) {
		gone = *p;
		*p = gone->next;
		st->n--;
	}
	pthread_mutex_unlock(&st->mu);
	if (gone) {
		free(gone);
		atomic_fetch_sub_explicit(&l->users, 1, memory_order_relaxed);
	}
	atomic_fetch_sub_explicit(&l->global, 1, memory_order_relaxed);
}

uint32_t connlimit_user_count(struct connlimit *l, const char *user)
{
	uint64_t h = hash_user(user);
	struct stripe *st = stripe_of(l, h);
	pthread_mutex_lock(&st->mu);
	struct entry **p = find(st, h, user);
	uint32_t n = *p ? (*p)->slots : 0;
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

void tbucket_refill(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	if (b->last_ns == 0 || now_ns <= b->last_ns) {
		if (b->last_ns == 0)
			b->last_ns = now_ns;
		return;
	}
	uint64_t dt = now_ns - b->last_ns;
	b->last_ns = now_ns;
	/* rate * dt / 1e9 without overflow; capped at what fills the bucket */
	unsigned __int128 add = (unsigned __int128)rate * dt / 1000000000u;
	int64_t room = (int64_t)burst - b->tokens;
	if (room <= 0)
		return;
	b->tokens += add >= (unsigned __int128)room ? room : (int64_t)add;
}

uint64_t tbucket_wait_ns(const struct tbucket *b, uint64_t rate, uint64_t want)
{
	if (b->tokens >= (int64_t)want || rate == 0)
		return 0;
	unsigned __int128 need = (unsigned __int128)((int64_t)want - b->tokens);
	return (uint64_t)((need * 1000000000u + rate - 1) / rate);
}

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
		uint64_t h = hash_user(user);
		struct stripe *st = stripe_of(l, h);
		pthread_mutex_lock(&st->mu);
		struct entry **p = find(st, h, user);
		if (*p)
			allow =
			    bucket_step(&(*p)->bw, l->user_rate, l->burst, used, now_ns, wait_ns);
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
