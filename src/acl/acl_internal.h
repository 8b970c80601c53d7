/* Internal to src/acl/: model helpers shared by acl_config.c (freeing,
 * copying), acl_config_edit.c (the API's edits), and the layout of a
 * compiled snapshot, shared by acl_compile.c (which builds it) and
 * acl_eval.c (which reads it).
 *
 * Layout. Every rule of the file gets a rank (its position in evaluation
 * order); rules[] is stored in rank order and everything else refers to
 * ranks, so "better" is simply "smaller". Owners are user entries (ids
 * 0..n_users-1) and groups (the ids after). Each owner has:
 *   - the ranks of its "*" rules,
 *   - the ranks of its rules with an IP/CIDR destination (for the
 *     provisional test of a name-only request),
 *   - its inner-wildcard patterns (few; scanned),
 *   - bitmaps of the IPv4/IPv6 prefix lengths it uses.
 * One open-addressing hash table holds every other key, each with a
 * posting list of (owner, rank) sorted by owner then rank:
 *   (DOMAIN, "www.example.com")        exact names
 *   (SUFFIX, "example.com")            from "*.example.com"
 *   (V4, plen + network bytes)         IPv4 addresses and CIDRs
 *   (V6, plen + network bytes)         IPv6 addresses and CIDRs
 *   (USER, username)                   -> user entry
 *   (GROUP, lower-case group name)     -> group owner
 * Keys are shared by owners, so a request costs one probe per name suffix
 * or prefix length however many groups the user has. Byte hashes are
 * FNV-1a over the key read right to left, so one pass over a requested
 * name yields the hash of every suffix at once.
 */
#ifndef CSOCKS_ACL_INTERNAL_H
#define CSOCKS_ACL_INTERNAL_H

#include "acl/acl_config.h"
#include "acl/acl_match.h"
#include "acl/acl_types.h"
#include "util/hash.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- model helpers ----------------------------------------------------- */

/* A copy of v[0..n), "" for NULL entries; never NULL (n = 0: one slot). */
char **acl_strv_dup(char *const *v, size_t n);
/* Free what r owns and zero it. */
void acl_rule_fini(struct acl_rule *r);
/* acl_rule_fini on r[0..n), then free(r). */
void acl_rules_free(struct acl_rule *r, size_t n);
void acl_user_fini(struct acl_user *u);
void acl_group_fini(struct acl_group *g);
/* A deep copy of src into dst (no validation). */
void acl_rule_copy(struct acl_rule *dst, const struct acl_rule *src);

/* ---- compiled snapshot ------------------------------------------------- */

enum key_kind {
	K_DOMAIN = 1,
	K_SUFFIX = 2,
	K_V4 = 3,
	K_V6 = 4,
	K_USER = 5,
	K_GROUP = 6,
};

struct crule {
	struct acl_rule_view view; /* view.id == rank */
	unsigned protos;           /* ACL_PROTO_* bits */
	bool any_port;
	uint32_t port_off, port_n; /* sorted, merged ranges in ports[] */
};

struct cpat {
	uint32_t rank;
	uint32_t dest; /* index in dests[] */
};

struct cowner {
	uint32_t any_off, any_n;   /* ranks in post[] */
	uint32_t addr_off, addr_n; /* ranks in post[] */
	uint32_t pat_off, pat_n;   /* entries in pats[] */
	bool has_domain, has_suffix;
	uint64_t v4_plens;    /* bit p: a /p IPv4 key exists */
	uint64_t v6_plens[3]; /* bits 0..128 */
};

struct cuser {
	uint32_t owner;
	uint32_t groups_off, groups_n; /* group owner ids in post[] */
};

/* A posting: rule `rank` of owner `owner` has this key. USER and GROUP keys
 * have one posting whose rank field holds the user index / group owner id. */
struct opost {
	uint32_t owner, rank;
};

struct hent {
	uint64_t h;
	uint32_t key_off;
	uint32_t post_off, post_n; /* in opost[], sorted by (owner, rank) */
	struct opost one;          /* the posting itself when post_n == 1 (no extra miss) */
	uint16_t key_len;
	uint8_t kind; /* 0 = empty slot */
};

struct acl_snapshot {
	atomic_uint refs;
	struct acl_config *cfg; /* own copy; views point into it */
	enum acl_action def;
	struct crule *rules;
	size_t n_rules;
	struct acl_port_range *ports;
	uint32_t *post;
	struct opost *opost;
	struct cpat *pats;
	struct acl_dest *dests;
	struct cowner *owners;
	size_t n_owners;
	struct cuser *users;
	struct hent *tab;
	size_t tab_mask;
	/* One bit per hash (top bits), 16+ bits per key: most lookups (suffixes
	 * and prefixes nobody wrote) end here, in a small cache-resident array,
	 * instead of in the table. */
	uint64_t *filter;
	unsigned filter_shift;
	char *keys;
	/* hits[rank]; hits[n_rules] default allow; hits[n_rules + 1] default block */
	_Atomic uint64_t *hits;
};

static inline char lower(char c)
{
	return (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
}

static inline uint64_t hash_rev(const char *p, size_t n, bool fold)
{
	/* Right to left and unfolded: acl_eval.c builds the same hash of each
	 * suffix incrementally. */
	uint64_t h = CS_FNV64_OFFSET;
	while (n--)
		h = cs_hash_step(h, (uint8_t)(fold ? lower(p[n]) : p[n]));
	return h;
}

static inline uint64_t hash_key(uint64_t hb, unsigned kind)
{
	uint64_t x = hb ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ull);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

#endif
