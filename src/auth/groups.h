/* A user's groups from the system (NSS: /etc/group, SSSD, LDAP/AD), by
 * getgrouplist(3) and getgrgid_r(3), with a small TTL cache.
 *
 * Names come as NSS gives them ("developers", "Developers@ad.company.com");
 * the ACL engine compares them case-insensitively. A user NSS does not know
 * (a [[auth.users]] entry, a pam_pwdfile user) has no groups; that answer is
 * cached too, so an unknown name costs one lookup per TTL.
 *
 * Lookups block (SSSD and LDAP may take a while): call them on the auth pool,
 * never on a worker. Every function is thread-safe. */
#ifndef CSOCKS_GROUPS_H
#define CSOCKS_GROUPS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* An immutable, reference-counted list of group names, shared by the cache
 * and every connection that logged in with it. */
struct group_list {
	_Atomic uint32_t refs;
	size_t n;
	const char *const *names; /* n names, each NUL-terminated */
};

/* Take another reference (any thread). Returns gl; NULL stays NULL. */
struct group_list *group_list_ref(struct group_list *gl);
/* Drop a reference; the last one frees. NULL is a no-op. */
void group_list_unref(struct group_list *gl);
/* A new list (one reference) holding copies of names[0..n). */
struct group_list *group_list_new(const char *const *names, size_t n);

/* The uncached lookup: the user's primary group (from getpwnam_r) and every
 * supplementary group, as names; gids without a name are skipped. Returns 0
 * with *out set (an empty list for a user NSS does not know), or -1 on an
 * NSS error (errno set; *out NULL). Caller unrefs *out. */
int groups_resolve(const char *user, struct group_list **out);

struct group_cache;

/* ttl_secs 0 disables caching (every lookup resolves); max_entries 0 means
 * the default (4096); when full, the oldest entry is replaced. */
struct group_cache *group_cache_new(uint32_t ttl_secs, size_t max_entries);
void group_cache_free(struct group_cache *gc);

/* The user's groups, from the cache if fresh, else resolved (the cache lock
 * is not held while NSS runs). Returns 0 and a new reference in *out (caller
 * unrefs), or -1 when NSS failed (errors are not cached). */
int group_cache_lookup(struct group_cache *gc, const char *user, struct group_list **out);
int group_cache_lookup_at(struct group_cache *gc, const char *user, int64_t now_ms,
                          struct group_list **out);

/* Cache only, never blocks: a new reference to the fresh entry for user, or
 * NULL (not cached, expired, or caching off). For event loops. */
struct group_list *group_cache_peek(struct group_cache *gc, const char *user, int64_t now_ms);

/* Tests: replace the resolver (default groups_resolve). */
void group_cache_set_resolver(struct group_cache *gc,
                              int (*resolve)(const char *user, struct group_list **out));

struct group_cache_stats {
	uint64_t hits, misses, errors, entries;
};
void group_cache_stats_get(struct group_cache *gc, struct group_cache_stats *out);

#endif
