#include "auth/groups.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/hash.h"

/* ---- group_list ---- */

/* One allocation: the struct, the pointer array, then the strings. */
struct group_list *group_list_new(const char *const *names, size_t n)
{
	size_t bytes = sizeof(struct group_list) + n * sizeof(char *);
	for (size_t i = 0; i < n; i++)
		bytes += strlen(names[i]) + 1;
	struct group_list *gl = xmalloc(bytes);
	const char **arr = (const char **)(gl + 1);
	char *p = (char *)(arr + n);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + 1;
		memcpy(p, names[i], len);
		arr[i] = p;
		p += len;
	}
	atomic_init(&gl->refs, 1);
	gl->n = n;
	gl->names = arr;
	return gl;
}

struct group_list *group_list_ref(struct group_list *gl)
{
	if (gl)
		atomic_fetch_add_explicit(&gl->refs, 1, memory_order_relaxed);
	return gl;
}

void group_list_unref(struct group_list *gl)
{
	if (!gl)
		return;
	uint32_t old = atomic_fetch_sub_explicit(&gl->refs, 1, memory_order_acq_rel);
	CSOCKS_BUG_ON(old == 0);
	if (old == 1)
		free(gl);
}

/* ---- NSS ---- */

/* getpwnam_r with a growing buffer. 1 found (gid set), 0 unknown, -1 error. */
static int primary_gid(const char *user, gid_t *gid)
{
	size_t len = 1024;
	for (;;) {
		char *buf = xmalloc(len);
		struct passwd pw, *res = NULL;
		int rc = getpwnam_r(user, &pw, buf, len, &res);
		if (rc == 0 && res)
			*gid = pw.pw_gid;
		free(buf);
		if (rc == ERANGE && len < (1u << 20)) {
			len *= 4;
			continue;
		}
		if (rc == 0)
			return res ? 1 : 0;
		/* glibc reports "not found" as ENOENT/ESRCH/EBADF/EPERM on some
		 * NSS backends; treat those as unknown rather than failure. */
		if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)
			return 0;
		errno = rc;
		return -1;
	}
}

/* The name of gid into a heap string, or NULL (no such group / error). */
static char *gid_name(gid_t gid)
{
	size_t len = 1024;
	for (;;) {
		char *buf = xmalloc(len);
		struct group gr, *res = NULL;
		int rc = getgrgid_r(gid, &gr, buf, len, &res);
		char *name = (rc == 0 && res && gr.gr_name) ? xstrdup(gr.gr_name) : NULL;
		free(buf);
		if (rc == ERANGE && len < (1u << 24)) { /* LDAP groups can be huge */
			len *= 4;
			continue;
		}
		return name;
	}
}

int groups_resolve(const char *user, struct group_list **out)
{
	*out = NULL;
	gid_t gid = 0;
	int r = primary_gid(user, &gid);
	if (r < 0)
		return -1;
	if (r == 0) {
		*out = group_list_new(NULL, 0);
		return 0;
	}
	int ngroups = 32;
	gid_t *gids = NULL;
	for (int tries = 0; tries < 8; tries++) {
		gids = xrealloc(gids, (size_t)ngroups * sizeof(*gids));
		int want = ngroups;
		if (getgrouplist(user, gid, gids, &want) >= 0) {
			ngroups = want;
			break;
		}
		/* want now holds the number needed (grow at least twofold). */
		ngroups = want > ngroups ? want : ngroups * 2;
		if (tries == 7) {
			free(gids);
			errno = ENOMEM;
			return -1;
		}
	}
	char **names = xcalloc((size_t)ngroups + 1, sizeof(*names));
	size_t n = 0;
	for (int i = 0; i < ngroups; i++) {
		bool dup = false;
		for (int j = 0; j < i; j++)
			dup |= gids[j] == gids[i];
		if (dup)
			continue;
		char *name = gid_name(gids[i]);
		if (name)
			names[n++] = name;
	}
	*out = group_list_new((const char *const *)names, n);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(gids);
	return 0;
}

/* ---- cache ---- */

/* Entries live in one array; a chained hash finds them. Slots are filled in
 * order and, once all are used, replaced round-robin: first in, first out
 * (a refresh updates an entry in place). */
struct gentry {
	char *user;                /* NULL = never used */
	struct group_list *groups; /* one reference held by the cache */
	int64_t expires;           /* monotonic ms */
	int32_t hnext;             /* hash chain, -1 = end */
};

struct group_cache {
	pthread_mutex_t mu;
	int64_t ttl_ms;
	size_t cap, used, hand;
	struct gentry *e;
	int32_t *buckets;
	size_t nbuckets; /* power of two >= cap */
	int (*resolve)(const char *user, struct group_list **out);
	uint64_t hits, misses, errors;
};

static size_t name_hash(const char *s)
{
	return (size_t)cs_hash_str(s);
}

struct group_cache *group_cache_new(uint32_t ttl_secs, size_t max_entries)
{
	struct group_cache *gc = xcalloc(1, sizeof(*gc));
	pthread_mutex_init(&gc->mu, NULL);
	gc->ttl_ms = (int64_t)ttl_secs * 1000;
	gc->cap = max_entries ? max_entries : 4096;
	gc->e = xcalloc(gc->cap, sizeof(*gc->e));
	gc->nbuckets = 1;
	while (gc->nbuckets < gc->cap)
		gc->nbuckets <<= 1;
	gc->buckets = xmalloc(gc->nbuckets * sizeof(*gc->buckets));
	for (size_t i = 0; i < gc->nbuckets; i++)
		gc->buckets[i] = -1;
	gc->resolve = groups_resolve;
	return gc;
}

void group_cache_free(struct group_cache *gc)
{
	if (!gc)
		return;
	for (size_t i = 0; i < gc->cap; i++) {
		free(gc->e[i].user);
		group_list_unref(gc->e[i].groups);
	}
	free(gc->e);
	free(gc->buckets);
	pthread_mutex_destroy(&gc->mu);
	free(gc);
}

void group_cache_set_resolver(struct group_cache *gc,
                              int (*resolve)(const char *user, struct group_list **out))
{
	pthread_mutex_lock(&gc->mu);
	gc->resolve = resolve ? resolve : groups_resolve;
	pthread_mutex_unlock(&gc->mu);
}

static struct gentry *cache_find(struct group_cache *gc, const char *user)
{
	for (int32_t i = gc->buckets[name_hash(user) & (gc->nbuckets - 1)]; i >= 0;
	     i = gc->e[i].hnext)
		if (strcmp(gc->e[i].user, user) == 0)
			return &gc->e[i];
	return NULL;
}

static void chain_unlink(struct group_cache *gc, int32_t idx)
{
	int32_t *pp = &gc->buckets[name_hash(gc->e[idx].user) & (gc->nbuckets - 1)];
	while (*pp != idx) {
		CSOCKS_BUG_ON(*pp < 0);
		pp = &gc->e[*pp].hnext;
	}
	*pp = gc->e[idx].hnext;
}

static void cache_store(struct group_cache *gc, const char *user, struct group_list *gl,
                        int64_t now_ms)
{
	struct gentry *slot = cache_find(gc, user);
	if (!slot) {
		int32_t idx;
		if (gc->used < gc->cap) {
			idx = (int32_t)gc->used++;
		} else {
			idx = (int32_t)gc->hand;
			gc->hand = (gc->hand + 1) % gc->cap;
			chain_unlink(gc, idx);
			free(gc->e[idx].user);
			group_list_unref(gc->e[idx].groups);
		}
		slot = &gc->e[idx];
		slot->user = xstrdup(user);
		slot->groups = NULL;
		size_t b = name_hash(user) & (gc->nbuckets - 1);
		slot->hnext = gc->buckets[b];
		gc->buckets[b] = idx;
	}
	group_list_unref(slot->groups);
	slot->groups = group_list_ref(gl);
	slot->expires = now_ms + gc->ttl_ms;
}

int group_cache_lookup_at(struct group_cache *gc, const char *user, int64_t now_ms,
                          struct group_list **out)
{
	*out = NULL;
	int (*resolve)(const char *, struct group_list **);
	pthread_mutex_lock(&gc->mu);
	resolve = gc->resolve;
	if (gc->ttl_ms > 0) {
		struct gentry *e = cache_find(gc, user);
		if (e && now_ms - e->expires < 0) {
			*out = group_list_ref(e->groups);
			gc->hits++;
			pthread_mutex_unlock(&gc->mu);
			return 0;
		}
	}
	gc->misses++;
	pthread_mutex_unlock(&gc->mu);

	struct group_list *gl = NULL;
	if (resolve(user, &gl) != 0) {
		pthread_mutex_lock(&gc->mu);
		gc->errors++;
		pthread_mutex_unlock(&gc->mu);
		return -1;
	}
	if (gc->ttl_ms > 0) {
		pthread_mutex_lock(&gc->mu);
		cache_store(gc, user, gl, now_ms);
		pthread_mutex_unlock(&gc->mu);
	}
	*out = gl;
	return 0;
}

struct group_list *group_cache_peek(struct group_cache *gc, const char *user, int64_t now_ms)
{
	struct group_list *gl = NULL;
	pthread_mutex_lock(&gc->mu);
	if (gc->ttl_ms > 0) {
		struct gentry *e = cache_find(gc, user);
		if (e && now_ms - e->expires < 0) {
			gl = group_list_ref(e->groups);
			gc->hits++;
		}
	}
	pthread_mutex_unlock(&gc->mu);
	return gl;
}

int group_cache_lookup(struct group_cache *gc, const char *user, struct group_list **out)
{
	return group_cache_lookup_at(gc, user, time_mono_ms(), out);
}

void group_cache_stats_get(struct group_cache *gc, struct group_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&gc->mu);
	out->hits = gc->hits;
	out->misses = gc->misses;
	out->errors = gc->errors;
	out->entries = gc->used;
	pthread_mutex_unlock(&gc->mu);
}
