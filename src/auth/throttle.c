#include "auth/throttle.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#include "util/strutil.h"
#include "util/timeutil.h"

#define N_SHARDS 64
#define NIL      (-1)

/* One tracked address. Indices instead of pointers: entries live in one
 * array per shard, allocated up front. */
struct tentry {
	uint8_t key[16]; /* IPv6, or IPv4-mapped IPv6 */
	bool used;
	bool locked;          /* lockout active until locked_until */
	uint32_t failures;    /* in the current window */
	int64_t window_start; /* ms of the first failure of the window */
	int64_t locked_until; /* ms */
	int32_t hnext;        /* hash chain */
	int32_t prev, next;   /* LRU list: head = most recently touched */
};

struct shard {
	pthread_mutex_t mu;
	struct tentry *e;
	int32_t *buckets; /* nbuckets heads */
	uint32_t nbuckets;
	uint32_t cap, used;
	int32_t head, tail; /* LRU */
	int32_t free_head;  /* free list through hnext */
} __attribute__((aligned(64)));

struct throttle {
	struct throttle_params p;
	int64_t window_ms, lockout_ms;
	uint64_t seed[2];
	struct shard shards[N_SHARDS];
	_Atomic uint64_t failures, lockouts, rejected, evictions;
};

/* Returns false for families that are not throttled. */
static bool make_key(const struct sockaddr *sa, uint8_t key[16])
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		memset(key, 0, 10);
		key[10] = 0xff;
		key[11] = 0xff;
		memcpy(key + 12, &s4->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(key, &s6->sin6_addr, 16); /* a mapped v4 is already in v4 form */
		return true;
	}
	return false;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Keyed with a random seed so that nobody can aim addresses at one chain. */
static uint64_t key_hash(const struct throttle *t, const uint8_t key[16])
{
	uint64_t a, b;
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	return mix64(mix64(a ^ t->seed[0]) ^ b ^ t->seed[1]);
}

struct throttle *throttle_new(const struct throttle_params *p)
{
	struct throttle *t = xcalloc(1, sizeof(*t));
	t->p = *p;
	if (t->p.max_attempts == 0)
		t->p.max_attempts = 1;
	if (t->p.max_entries == 0)
		t->p.max_entries = 65536;
	t->window_ms = (int64_t)t->p.window_secs * 1000;
	t->lockout_ms = (int64_t)t->p.lockout_secs * 1000;
	if (getrandom(t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed)) {
		t->seed[0] = (uint64_t)time_mono_ns();
		t->seed[1] = (uint64_t)(uintptr_t)t;
	}
	uint32_t cap = (uint32_t)((t->p.max_entries + N_SHARDS - 1) / N_SHARDS);
	if (cap < 4)
		cap = 4;
	for (int i = 0; i < N_SHARDS; i++) {
		struct shard *s = &t->shards[i];
		pthread_mutex_init(&s->mu, NULL);
		s->cap = cap;
		s->e = xcalloc(cap, sizeof(*s->e));
		s->nbuckets = 1;
		while (s->nbuckets < cap)
			s->nbuckets <<= 1;
		s->buckets = xmalloc(s->nbuckets * sizeof(*s->buckets));
		for (uint32_t b = 0; b < s->nbuckets; b++)
			s->buckets[b] = NIL;
		for (uint32_t k = 0; k < cap; k++)
			s->e[k].hnext = k + 1 < cap ? (int32_t)(k + 1) : NIL;
		s->free_head = 0;
		s->head = s->tail = NIL;
	}
	return t;
}

void throttle_free(struct throttle *t)
{
	if (!t)
		return;
	for (int i = 0; i < N_SHARDS; i++) {
		pthread_mutex_destroy(&t->shards[i].mu);
		free(t->shards[i].e);
		free(t->shards[i].buckets);
	}
	free(t);
}

static struct shard *shard_of(struct throttle *t, uint64_t h)
{
	return &t->shards[(h >> 58) % N_SHARDS];
}

static int32_t find(struct shard *s, uint64_t h, const uint8_t key[16])
{
	for (int32_t i = s->buckets[h & (s->nbuckets - 1)]; i != NIL; i = s->e[i].hnext)
		if (memcmp(s->e[i].key, key, 16) == 0)
			return i;
	return NIL;
}

static void lru_unlink(struct shard *s, int32_t i)
{
	struct tentry *e = &s->e[i];
	if (e->prev != NIL)
		s->e[e->prev].next = e->next;
	else
		s->head = e->next;
	if (e->next != NIL)
		s->e[e->next].prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NIL;
}

static void lru_push_head(struct shard *s, int32_t i)
{
	struct tentry *e = &s->e[i];
	e->prev = NIL;
	e->next = s->head;
	if (s->head != NIL)
		s->e[s->head].prev = i;
	s->head = i;
	if (s->tail == NIL)
		s->tail = i;
}

static void entry_remove(struct throttle *t, struct shard *s, int32_t i)
{
	struct tentry *e = &s->e[i];
	CSOCKS_BUG_ON(!e->used);
	int32_t *pp = &s->buckets[key_hash(t, e->key) & (s->nbuckets - 1)];
	while (*pp != i) {
		CSOCKS_BUG_ON(*pp == NIL);
		pp = &s->e[*pp].hnext;
	}
	*pp = e->hnext;
	lru_unlink(s, i);
	memset(e, 0, sizeof(*e));
	e->prev = e->next = NIL;
	e->hnext = s->free_head;
	s->free_head = i;
	s->used--;
}

static int32_t entry_insert(struct throttle *t, struct shard *s, uint64_t h, const uint8_t key[16])
{
	if (s->free_head == NIL) {
		CSOCKS_BUG_ON(s->tail == NIL);
		entry_remove(t, s, s->tail);
		atomic_fetch_add_explicit(&t->evictions, 1, memory_order_relaxed);
	}
	int32_t i = s->free_head;
	struct tentry *e = &s->e[i];
	s->free_head = e->hnext;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, 16);
	e->used = true;
	uint32_t b = (uint32_t)(h & (s->nbuckets - 1));
	e->hnext = s->buckets[b];
	s->buckets[b] = i;
	e->prev = e->next = NIL;
	lru_push_head(s, i);
	s->used++;
	return i;
}

bool throttle_check_at(struct throttle *t, const struct sockaddr *sa, int64_t now_ms)
{
	uint8_t key[16];
	if (!make_key(sa, key))
		return false;
	uint64_t h = key_hash(t, key);
	struct shard *s = shard_of(t, h);
	bool locked = false;
	pthread_mutex_lock(&s->mu);
	int32_t i = find(s, h, key);
	if (i != NIL && s->e[i].locked) {
		if (now_ms - s->e[i].locked_until < 0)
			locked = true;
		else
			entry_remove(t, s, i); /* lockout over: a clean slate */
	}
	pthread_mutex_unlock(&s->mu);
	if (locked)
		atomic_fetch_add_explicit(&t->rejected, 1, memory_order_relaxed);
	return locked;
}

bool throttle_check(struct throttle *t, const struct sockaddr *sa)
{
	return throttle_check_at(t, sa, time_mono_ms());
}

bool throttle_fail_at(struct throttle *t, const struct sockaddr *sa, int64_t now_ms)
{
	uint8_t key[16];
	if (!make_key(sa, key))
		return false;
	uint64_t h = key_hash(t, key);
	struct shard *s = shard_of(t, h);
	bool started = false;
	pthread_mutex_lock(&s->mu);
	int32_t i = find(s, h, key);
	if (i == NIL)
		i = entry_insert(t, s, h, key);
	struct tentry *e = &s->e[i];
	if (e->locked && now_ms - e->locked_until >= 0) {
		e->locked = false; /* an expired lockout starts a new window */
		e->failures = 0;
	}
	if (!e->locked) {
		if (e->failures == 0 || now_ms - e->window_start >= t->window_ms) {
			e->failures = 0;
			e->window_start = now_ms;
		}
		if (++e->failures >= t->p.max_attempts) {
			e->locked = true;
			e->locked_until = now_ms + t->lockout_ms;
			e->failures = 0;
			started = true;
		}
	}
	lru_unlink(s, i);
	lru_push_head(s, i);
	pthread_mutex_unlock(&s->mu);
	atomic_fetch_add_explicit(&t->failures, 1, memory_order_relaxed);
	if (started)
		atomic_fetch_add_explicit(&t->lockouts, 1, memory_order_relaxed);
	return started;
}

bool throttle_fail(struct throttle *t, const struct sockaddr *sa)
{
	return throttle_fail_at(t, sa, time_mono_ms());
}

void throttle_success(struct throttle *t, const struct sockaddr *sa)
{
	uint8_t key[16];
	if (!make_key(sa, key))
		return;
	uint64_t h = key_hash(t, key);
	struct shard *s = shard_of(t, h);
	pthread_mutex_lock(&s->mu);
	int32_t i = find(s, h, key);
	if (i != NIL && !s->e[i].locked)
		entry_remove(t, s, i);
	pthread_mutex_unlock(&s->mu);
}

void throttle_stats_get(struct throttle *t, struct throttle_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->failures = atomic_load_explicit(&t->failures, memory_order_relaxed);
	out->lockouts = atomic_load_explicit(&t->lockouts, memory_order_relaxed);
	out->rejected = atomic_load_explicit(&t->rejected, memory_order_relaxed);
	out->evictions = atomic_load_explicit(&t->evictions, memory_order_relaxed);
	for (int k = 0; k < N_SHARDS; k++) {
		struct shard *s = &t->shards[k];
		pthread_mutex_lock(&s->mu);
		out->entries += s->used;
		for (int32_t i = s->head; i != NIL; i = s->e[i].next)
			out->locked += s->e[i].locked;
		pthread_mutex_unlock(&s->mu);
	}
}
