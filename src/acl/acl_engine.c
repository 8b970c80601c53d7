/* Compiled ACL snapshot and evaluation. See acl_engine.h for the semantics.
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
#include "acl/acl_engine.h"

#include "acl/acl_match.h"
#include "util/strutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

#define FNV_OFF   0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static uint64_t hash_rev(const char *p, size_t n, bool fold)
{
	uint64_t h = FNV_OFF;
	while (n--) {
		h ^= (uint8_t)(fold ? lower(p[n]) : p[n]);
		h *= FNV_PRIME;
	}
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

static const struct hent *lookup(const struct acl_snapshot *s, uint64_t h, unsigned kind,
                                 const char *key, size_t len, bool fold)
{
	uint64_t bit = h >> s->filter_shift;
	if (!(s->filter[bit / 64] & (1ull << (bit % 64))))
		return NULL;
	for (size_t i = h & s->tab_mask;; i = (i + 1) & s->tab_mask) {
		const struct hent *e = &s->tab[i];
		if (!e->kind)
			return NULL;
		if (e->h != h || e->kind != kind || e->key_len != len)
			continue;
		const char *k = s->keys + e->key_off;
		size_t j = 0;
		if (fold) {
			while (j < len && k[j] == lower(key[j]))
				j++;
		} else {
			while (j < len && k[j] == key[j])
				j++;
		}
		if (j == len)
			return e;
	}
}

/* ---- building ---------------------------------------------------------- */

struct item {
	uint64_t h;
	uint32_t owner; /* of the posting; not part of the key */
	uint32_t key_off;
	uint32_t val;
	uint16_t key_len;
	uint8_t kind;
};

struct builder {
	struct acl_snapshot *s;
	struct item *items;
	size_t n_items, cap_items;
	char *keys;
	size_t n_keys, cap_keys;
	uint32_t *post;
	size_t n_post, cap_post;
	struct opost *opost;
	size_t n_opost, cap_opost;
	struct acl_port_range *ports;
	size_t n_ports, cap_ports;
	struct cpat *pats;
	size_t n_pats, cap_pats;
	struct acl_dest *dests;
	size_t n_dests, cap_dests;
};

#define GROW(arr, n, cap)                                                                          \
	((n) < (cap) ? (void)0                                                                     \
	             : (void)((cap) = (cap) ? (cap)*2 : 64,                                        \
	                      (arr) = xrealloc((arr), (cap) * sizeof(*(arr)))))

static void add_item(struct builder *b, unsigned kind, uint32_t owner, const void *key, size_t len,
                     bool fold, uint32_t val)
{
	if (len > UINT16_MAX)
		return; /* cannot be matched anyway: requests are shorter */
	while (b->n_keys + len > b->cap_keys) {
		b->cap_keys = b->cap_keys ? b->cap_keys * 2 : 4096;
		b->keys = xrealloc(b->keys, b->cap_keys);
	}
	char *k = b->keys + b->n_keys;
	for (size_t i = 0; i < len; i++)
		k[i] = fold ? lower(((const char *)key)[i]) : ((const char *)key)[i];
	GROW(b->items, b->n_items, b->cap_items);
	b->items[b->n_items++] = (struct item){
	    .h = hash_key(hash_rev(k, len, false), kind),
	    .owner = owner,
	    .key_off = (uint32_t)b->n_keys,
	    .val = val,
	    .key_len = (uint16_t)len,
	    .kind = (uint8_t)kind,
	};
	b->n_keys += len;
}

static uint32_t add_post(struct builder *b, uint32_t v)
{
	GROW(b->post, b->n_post, b->cap_post);
	b->post[b->n_post] = v;
	return (uint32_t)b->n_post++;
}

static int item_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct item *a = pa, *b = pb;
	const char *keys = ctx;
	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	int c = memcmp(keys + a->key_off, keys + b->key_off, a->key_len);
	if (c)
		return c;
	if (a->owner != b->owner)
		return a->owner < b->owner ? -1 : 1;
	return a->val < b->val ? -1 : a->val > b->val;
}

static bool item_same_key(const struct builder *b, const struct item *x, const struct item *y)
{
	return x->h == y->h && x->kind == y->kind && x->key_len == y->key_len &&
	       memcmp(b->keys + x->key_off, b->keys + y->key_off, x->key_len) == 0;
}

/* Group the sorted items into hash entries with posting lists. */
static void build_table(struct builder *b)
{
	struct acl_snapshot *s = b->s;
	size_t n_entries = 0, cap = 16;

	if (b->n_items > 1)
		qsort_r(b->items, b->n_items, sizeof(*b->items), item_cmp, b->keys);
	for (size_t i = 0; i < b->n_items; i++)
		if (i == 0 || !item_same_key(b, &b->items[i - 1], &b->items[i]))
			n_entries++;
	while (cap < n_entries * 2)
		cap *= 2;
	s->tab = xcalloc(cap, sizeof(*s->tab));
	s->tab_mask = cap - 1;
	size_t fbits = 1024;
	s->filter_shift = 54;
	while (fbits < n_entries * 16) {
		fbits *= 2;
		s->filter_shift--;
	}
	s->filter = xcalloc(fbits / 64, sizeof(*s->filter));
	for (size_t i = 0; i < b->n_items;) {
		const struct item *it = &b->items[i];
		struct hent e = {.h = it->h,
		                 .key_off = it->key_off,
		                 .post_off = (uint32_t)b->n_opost,
		                 .key_len = it->key_len,
		                 .kind = it->kind};
		size_t j = i;
		for (; j < b->n_items && item_same_key(b, it, &b->items[j]); j++) {
			const struct item *x = &b->items[j];
			if (j > i && x->val == x[-1].val && x->owner == x[-1].owner)
				continue; /* the same destination twice in one rule */
			GROW(b->opost, b->n_opost, b->cap_opost);
			b->opost[b->n_opost++] = (struct opost){.owner = x->owner, .rank = x->val};
		}
		e.post_n = (uint32_t)(b->n_opost - e.post_off);
		e.one = b->opost[e.post_off];
		uint64_t bit = e.h >> s->filter_shift;
		s->filter[bit / 64] |= 1ull << (bit % 64);
		size_t k = e.h & s->tab_mask;
		while (s->tab[k].kind)
			k = (k + 1) & s->tab_mask;
		s->tab[k] = e;
		i = j;
	}
}

struct rref {
	const struct acl_rule *r;
	enum acl_owner_kind kind;
	uint32_t owner;   /* owner id: users first, then groups */
	const char *name; /* owner name */
	size_t index;     /* in the owner's rules[] */
	size_t seq;       /* model order */
};

static int rref_cmp(const void *pa, const void *pb)
{
	const struct rref *a = pa, *b = pb;
	if (a->r->priority != b->r->priority)
		return a->r->priority > b->r->priority ? -1 : 1;
	if (a->r->action != b->r->action)
		return a->r->action == ACL_BLOCK ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq; /* users precede groups in seq */
}

static int port_cmp(const void *pa, const void *pb)
{
	const struct acl_port_range *a = pa, *b = pb;
	return a->lo != b->lo ? (a->lo < b->lo ? -1 : 1) : (a->hi < b->hi ? -1 : a->hi > b->hi);
}

static int compile_ports(struct builder *b, const struct acl_rule *r, struct crule *c, char *err,
                         size_t errlen)
{
	size_t start = b->n_ports;
	for (size_t i = 0; i < r->n_ports; i++) {
		const char *p = r->ports[i];
		bool any;
		int n = acl_ports_parse(p, strlen(p), NULL, 0, &any, err, errlen);
		if (n < 0)
			return -1;
		if (any)
			c->any_port = true;
		while (b->n_ports + (size_t)n > b->cap_ports) {
			b->cap_ports = b->cap_ports ? b->cap_ports * 2 : 256;
			b->ports = xrealloc(b->ports, b->cap_ports * sizeof(*b->ports));
		}
		acl_ports_parse(p, strlen(p), b->ports + b->n_ports, (size_t)n, &any, NULL, 0);
		b->n_ports += (size_t)n;
	}
	/* Sort and merge overlapping or adjacent ranges: lookups binary-search. */
	struct acl_port_range *pr = b->ports + start;
	size_t n = b->n_ports - start, m = 0;
	if (n > 1)
		qsort(pr, n, sizeof(*pr), port_cmp);
	for (size_t i = 0; i < n; i++) {
		if (m && (uint32_t)pr[m - 1].hi + 1 >= pr[i].lo) {
			if (pr[i].hi > pr[m - 1].hi)
				pr[m - 1].hi = pr[i].hi;
		} else {
			pr[m++] = pr[i];
		}
	}
	b->n_ports = start + m;
	c->port_off = (uint32_t)start;
	c->port_n = (uint32_t)m;
	return 0;
}

/* Per-owner lists collected while walking rules in rank order. */
struct olist {
	uint32_t *any, *addr;
	size_t n_any, cap_any, n_addr, cap_addr;
	struct cpat *pats;
	size_t n_pats, cap_pats;
};

static void olist_push(uint32_t **v, size_t *n, size_t *cap, uint32_t rank)
{
	if (*n && (*v)[*n - 1] == rank)
		return;
	GROW(*v, *n, *cap);
	(*v)[(*n)++] = rank;
}

static int compile_dest(struct builder *b, struct olist *ol, struct cowner *o, uint32_t owner,
                        uint32_t rank, const char *str, char *err, size_t errlen)
{
	struct acl_dest d;
	uint8_t key[17];
	if (acl_dest_parse(str, strlen(str), &d, err, errlen) == ACL_PARSE_ERROR)
		return -1;
	switch (d.kind) {
	case ACL_DEST_ANY:
		olist_push(&ol->any, &ol->n_any, &ol->cap_any, rank);
		break;
	case ACL_DEST_IP4:
	case ACL_DEST_IP6:
		key[0] = d.plen;
		if (d.kind == ACL_DEST_IP4) {
			memcpy(key + 1, d.addr, 4);
			add_item(b, K_V4, owner, key, 5, false, rank);
			o->v4_plens |= 1ull << d.plen;
		} else {
			memcpy(key + 1, d.addr, 16);
			add_item(b, K_V6, owner, key, 17, false, rank);
			o->v6_plens[d.plen / 64] |= 1ull << (d.plen % 64);
		}
		olist_push(&ol->addr, &ol->n_addr, &ol->cap_addr, rank);
		break;
	case ACL_DEST_DOMAIN:
		add_item(b, K_DOMAIN, owner, d.name, d.name_len, false, rank);
		o->has_domain = true;
		break;
	case ACL_DEST_SUFFIX:
		add_item(b, K_SUFFIX, owner, d.name, d.name_len, false, rank);
		o->has_suffix = true;
		break;
	case ACL_DEST_PATTERN:
		GROW(b->dests, b->n_dests, b->cap_dests);
		b->dests[b->n_dests] = d;
		GROW(ol->pats, ol->n_pats, ol->cap_pats);
		ol->pats[ol->n_pats++] = (struct cpat){.rank = rank, .dest = (uint32_t)b->n_dests};
		b->n_dests++;
		break;
	}
	return 0;
}

static void snapshot_free(struct acl_snapshot *s)
{
	if (!s)
		return;
	acl_config_free(s->cfg);
	free(s->rules);
	free(s->ports);
	free(s->post);
	free(s->opost);
	free(s->pats);
	free(s->dests);
	free(s->owners);
	free(s->users);
	free(s->tab);
	free(s->filter);
	free(s->keys);
	free((void *)s->hits);
	free(s);
}

static void builder_fini(struct builder *b, struct olist *ol, size_t n_owners)
{
	free(b->items);
	for (size_t i = 0; ol && i < n_owners; i++) {
		free(ol[i].any);
		free(ol[i].addr);
		free(ol[i].pats);
	}
	free(ol);
}

static struct rref *collect_rules(const struct acl_config *cfg, size_t *n_out)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < cfg->n_users; i++)
		n += cfg->users[i].n_rules;
	for (size_t i = 0; i < cfg->n_groups; i++)
		n += cfg->groups[i].n_rules;
	struct rref *rr = xcalloc(n ? n : 1, sizeof(*rr));
	for (size_t i = 0; i < cfg->n_users; i++)
		for (size_t j = 0; j < cfg->users[i].n_rules; j++, k++)
			rr[k] = (struct rref){&cfg->users[i].rules[j],
			                      ACL_OWNER_USER,
			                      (uint32_t)i,
			                      cfg->users[i].username,
			                      j,
			                      k};
	for (size_t i = 0; i < cfg->n_groups; i++)
		for (size_t j = 0; j < cfg->groups[i].n_rules; j++, k++)
			rr[k] = (struct rref){&cfg->groups[i].rules[j],
			                      ACL_OWNER_GROUP,
			                      (uint32_t)(cfg->n_users + i),
			                      cfg->groups[i].name,
			                      j,
			                      k};
	qsort(rr, n, sizeof(*rr), rref_cmp);
	*n_out = n;
	return rr;
}

static void compile_users(struct builder *b, const struct acl_config *cfg)
{
	struct acl_snapshot *s = b->s;
	s->users = xcalloc(cfg->n_users ? cfg->n_users : 1, sizeof(*s->users));
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct acl_user *u = &cfg->users[i];
		struct cuser *cu = &s->users[i];
		cu->owner = (uint32_t)i;
		cu->groups_off = (uint32_t)b->n_post;
		for (size_t k = 0; k < u->n_groups; k++)
			for (size_t g = 0; g < cfg->n_groups; g++)
				if (strcasecmp(cfg->groups[g].name, u->groups[k]) == 0) {
					add_post(b, (uint32_t)(cfg->n_users + g));
					break;
				}
		cu->groups_n = (uint32_t)(b->n_post - cu->groups_off);
		add_item(b, K_USER, 0, u->username, strlen(u->username), false, (uint32_t)i);
	}
	for (size_t g = 0; g < cfg->n_groups; g++)
		add_item(b, K_GROUP, 0, cfg->groups[g].name, strlen(cfg->groups[g].name), true,
		         (uint32_t)(cfg->n_users + g));
}

struct acl_snapshot *acl_compile(const struct acl_config *cfg_in, char *err, size_t errlen)
{
	struct builder b = {0};
	struct acl_snapshot *s = xcalloc(1, sizeof(*s));
	struct olist *ol = NULL;
	size_t n_rules = 0;
	struct rref *rr = NULL;

	atomic_init(&s->refs, 1);
	s->cfg = acl_config_dup(cfg_in);
	s->def = s->cfg->default_policy;
	b.s = s;
	s->n_owners = s->cfg->n_users + s->cfg->n_groups;
	s->owners = xcalloc(s->n_owners ? s->n_owners : 1, sizeof(*s->owners));
	ol = xcalloc(s->n_owners ? s->n_owners : 1, sizeof(*ol));

	rr = collect_rules(s->cfg, &n_rules);
	s->n_rules = n_rules;
	s->rules = xcalloc(n_rules ? n_rules : 1, sizeof(*s->rules));
	s->hits = xcalloc(n_rules + 2, sizeof(*s->hits));
	for (size_t rank = 0; rank < n_rules; rank++) {
		const struct rref *x = &rr[rank];
		struct crule *c = &s->rules[rank];
		c->view = (struct acl_rule_view){.id = (uint32_t)rank,
		                                 .owner_kind = x->kind,
		                                 .owner = x->name,
		                                 .index = x->index,
		                                 .action = x->r->action,
		                                 .priority = x->r->priority,
		                                 .description = x->r->description,
		                                 .line = x->r->line};
		c->protos = x->r->protocols;
		if (compile_ports(&b, x->r, c, err, errlen) < 0)
			goto fail;
		for (size_t i = 0; i < x->r->n_destinations; i++)
			if (compile_dest(&b, &ol[x->owner], &s->owners[x->owner], x->owner,
			                 (uint32_t)rank, x->r->destinations[i], err, errlen) < 0)
				goto fail;
	}
	for (size_t i = 0; i < s->n_owners; i++) {
		struct cowner *o = &s->owners[i];
		o->any_off = (uint32_t)b.n_post;
		for (size_t k = 0; k < ol[i].n_any; k++)
			add_post(&b, ol[i].any[k]);
		o->any_n = (uint32_t)ol[i].n_any;
		o->addr_off = (uint32_t)b.n_post;
		for (size_t k = 0; k < ol[i].n_addr; k++)
			add_post(&b, ol[i].addr[k]);
		o->addr_n = (uint32_t)ol[i].n_addr;
		o->pat_off = (uint32_t)b.n_pats;
		for (size_t k = 0; k < ol[i].n_pats; k++) {
			GROW(b.pats, b.n_pats, b.cap_pats);
			b.pats[b.n_pats++] = ol[i].pats[k];
		}
		o->pat_n = (uint32_t)ol[i].n_pats;
	}
	compile_users(&b, s->cfg);
	build_table(&b);
	s->keys = b.keys;
	s->post = b.post;
	s->opost = b.opost;
	s->ports = b.ports;
	s->pats = b.pats;
	s->dests = b.dests;
	builder_fini(&b, ol, s->n_owners);
	free(rr);
	return s;
fail:
	s->keys = b.keys;
	s->post = b.post;
	s->opost = b.opost;
	s->ports = b.ports;
	s->pats = b.pats;
	s->dests = b.dests;
	builder_fini(&b, ol, s->n_owners);
	free(rr);
	snapshot_free(s);
	return NULL;
}

struct acl_snapshot *acl_snapshot_ref(struct acl_snapshot *s)
{
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void acl_snapshot_unref(struct acl_snapshot *s)
{
	if (!s)
		return;
	unsigned old = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel);
	CSOCKS_BUG_ON(old == 0);
	if (old == 1)
		snapshot_free(s);
}

/* ---- evaluation -------------------------------------------------------- */

#define MAX_LABELS 128 /* a 253-byte name has at most 127 dots */
/* Distinct owners (the user entry + groups the file defines) considered per
 * request. A user in more of the file's groups than this has the extra
 * groups ignored; far beyond any real policy. */
#define MAX_OWNERS 256

struct ectx {
	const struct acl_snapshot *s;
	unsigned proto;
	uint16_t port;
	int name_len; /* -1: no name to match */
	char name[ACL_DOMAIN_MAX + 1];
	uint64_t name_h;
	size_t n_suf;
	uint16_t suf_off[MAX_LABELS];
	uint64_t suf_h[MAX_LABELS];
	int family; /* 0: no address */
	uint8_t addr[16];
	uint32_t best; /* rank of the best match so far; n_rules = none */
	bool provisional;
	size_t n_owners;
	uint32_t owners[MAX_OWNERS];    /* sorted, distinct */
	uint64_t v4_plens, v6_plens[3]; /* union over owners */
	bool has_domain, has_suffix;    /* union over owners */
};

static bool port_ok(const struct acl_snapshot *s, const struct crule *c, uint16_t port)
{
	if (c->any_port)
		return true;
	const struct acl_port_range *p = s->ports + c->port_off;
	size_t lo = 0, hi = c->port_n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p[mid].hi < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->port_n && p[lo].lo <= port;
}

static inline bool rule_ok(const struct ectx *c, uint32_t rank)
{
	const struct crule *cr = &c->s->rules[rank];
	return (cr->protos & c->proto) && port_ok(c->s, cr, c->port);
}

/* Take the first rank of an ascending list that beats the best so far and
 * passes the port and protocol test. */
static void try_ranks(struct ectx *c, const uint32_t *ranks, size_t n)
{
	for (size_t i = 0; i < n && ranks[i] < c->best; i++)
		if (rule_ok(c, ranks[i])) {
			c->best = ranks[i];
			return;
		}
}

/* First posting index with owner >= want, in [lo, n). */
static size_t post_lower(const struct opost *p, size_t lo, size_t n, uint32_t want)
{
	size_t hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p[mid].owner < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Postings are sorted by (owner, rank) and so are the request's owners:
 * walk both, taking for each common owner its best acceptable rank. */
static void try_entry(struct ectx *c, const struct hent *e)
{
	if (!e)
		return;
	const struct opost *p = e->post_n == 1 ? &e->one : c->s->opost + e->post_off;
	size_t n = e->post_n, i = 0;
	for (size_t k = 0; k < c->n_owners && i < n; k++) {
		uint32_t want = c->owners[k];
		if (p[i].owner < want)
			i = post_lower(p, i, n, want);
		for (; i < n && p[i].owner == want; i++)
			if (p[i].rank < c->best && rule_ok(c, p[i].rank)) {
				c->best = p[i].rank;
				break;
			}
	}
}

static void mask_addr(uint8_t *out, const uint8_t *in, size_t bytes, unsigned plen)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned bit0 = (unsigned)i * 8;
		uint8_t keep = plen >= bit0 + 8 ? 0xff
		               : plen <= bit0   ? 0
		                                : (uint8_t)(0xff << (8 - (plen - bit0)));
		out[i] = in[i] & keep;
	}
}

/* One hash lookup per prefix length used by any applicable owner. */
static void match_addr(struct ectx *c)
{
	uint8_t key[17];
	bool v4 = c->family == 4;
	size_t bytes = v4 ? 4 : 16;
	unsigned kind = v4 ? K_V4 : K_V6;
	for (unsigned w = 0; w < (v4 ? 1u : 3u); w++) {
		uint64_t bits = v4 ? c->v4_plens : c->v6_plens[w];
		while (bits) {
			unsigned plen = w * 64 + (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			key[0] = (uint8_t)plen;
			mask_addr(key + 1, c->addr, bytes, plen);
			uint64_t h = hash_key(hash_rev((const char *)key, bytes + 1, false), kind);
			try_entry(c, lookup(c->s, h, kind, (const char *)key, bytes + 1, false));
		}
	}
}

/* The exact name and each of its suffixes: one lookup each, whatever the
 * number of owners. */
static void match_name(struct ectx *c)
{
	const struct acl_snapshot *s = c->s;
	if (c->has_domain)
		try_entry(c, lookup(s, hash_key(c->name_h, K_DOMAIN), K_DOMAIN, c->name,
		                    (size_t)c->name_len, false));
	for (size_t i = 0; c->has_suffix && i < c->n_suf; i++) {
		const char *suf = c->name + c->suf_off[i];
		size_t len = (size_t)c->name_len - c->suf_off[i];
		try_entry(c, lookup(s, hash_key(c->suf_h[i], K_SUFFIX), K_SUFFIX, suf, len, false));
	}
}

static void match_patterns(struct ectx *c, const struct cowner *o)
{
	const struct acl_snapshot *s = c->s;
	for (size_t i = 0; i < o->pat_n; i++) {
		const struct cpat *p = &s->pats[o->pat_off + i];
		if (p->rank >= c->best)
			break;
		if (rule_ok(c, p->rank) &&
		    acl_domain_match(&s->dests[p->dest], c->name, (size_t)c->name_len)) {
			c->best = p->rank;
			break;
		}
	}
}

/* Phase-1 test: could an IP/CIDR rule ranked above the decision match? */
static bool addr_rule_could_win(const struct ectx *c, const struct cowner *o)
{
	const uint32_t *ranks = c->s->post + o->addr_off;
	for (size_t i = 0; i < o->addr_n && ranks[i] < c->best; i++)
		if (rule_ok(c, ranks[i]))
			return true;
	return false;
}

static void add_owner(struct ectx *c, uint32_t owner)
{
	size_t i = c->n_owners;
	if (i == MAX_OWNERS)
		return;
	while (i > 0 && c->owners[i - 1] > owner)
		i--;
	if (i > 0 && c->owners[i - 1] == owner)
		return;
	memmove(&c->owners[i + 1], &c->owners[i], (c->n_owners - i) * sizeof(c->owners[0]));
	c->owners[i] = owner;
	c->n_owners++;
	const struct cowner *o = &c->s->owners[owner];
	c->has_domain |= o->has_domain;
	c->has_suffix |= o->has_suffix;
	c->v4_plens |= o->v4_plens;
	for (int w = 0; w < 3; w++)
		c->v6_plens[w] |= o->v6_plens[w];
}

static void collect_owners(struct ectx *c, const struct acl_request *r)
{
	const struct acl_snapshot *s = c->s;
	if (r->user) {
		size_t len = strlen(r->user);
		const struct hent *e = lookup(s, hash_key(hash_rev(r->user, len, false), K_USER),
		                              K_USER, r->user, len, false);
		if (e) {
			const struct cuser *u = &s->users[e->one.rank];
			add_owner(c, u->owner);
			for (size_t i = 0; i < u->groups_n; i++)
				add_owner(c, s->post[u->groups_off + i]);
		}
	}
	for (size_t i = 0; r->groups && i < r->n_groups; i++) {
		const char *g = r->groups[i];
		if (!g)
			continue;
		size_t len = strlen(g);
		const struct hent *e =
		    lookup(s, hash_key(hash_rev(g, len, true), K_GROUP), K_GROUP, g, len, true);
		if (e)
			add_owner(c, e->one.rank);
	}
}

/* Could this be an IP literal? (Every IPv4 literal starts with a digit,
 * every IPv6 one contains ':'; names with ':' are not valid anyway.) */
static bool maybe_ip(const char *s, size_t len)
{
	return len && ((s[0] >= '0' && s[0] <= '9') || s[0] == '[' || memchr(s, ':', len));
}

static void prepare_name(struct ectx *c, const char *domain)
{
	size_t len = strlen(domain);
	uint8_t a[16];
	int fam = maybe_ip(domain, len) ? acl_ip_literal_parse(domain, len, a) : 0;
	if (fam) { /* "10.1.2.3" sent as a name is that address */
		if (!c->family) {
			c->family = fam;
			memcpy(c->addr, a, 16);
		}
		return;
	}
	int n = acl_domain_normalise(domain, len, c->name);
	if (n <= 0)
		return;
	c->name_len = n;
	/* Hash right to left: at each dot the running hash is that of the
	 * suffix after it (a suffix needs a non-empty label before the dot). */
	uint64_t h = FNV_OFF;
	for (size_t i = (size_t)n; i-- > 0;) {
		if (c->name[i] == '.' && i > 0 && i + 1 < (size_t)n && c->n_suf < MAX_LABELS) {
			c->suf_off[c->n_suf] = (uint16_t)(i + 1);
			c->suf_h[c->n_suf] = h;
			c->n_suf++;
		}
		h ^= (uint8_t)c->name[i];
		h *= FNV_PRIME;
	}
	c->name_h = h;
}

void acl_evaluate(const struct acl_snapshot *s, const struct acl_request *r,
                  struct acl_decision *out)
{
	struct ectx c;
	c.s = s;
	c.proto = (unsigned)r->proto;
	c.port = r->port;
	c.name_len = -1;
	c.n_suf = 0;
	c.best = (uint32_t)s->n_rules;
	c.provisional = false;
	c.n_owners = 0;
	c.has_domain = c.has_suffix = false;
	c.v4_plens = c.v6_plens[0] = c.v6_plens[1] = c.v6_plens[2] = 0;
	c.family = acl_addr_from_sockaddr(r->addr, c.addr);
	if (r->domain)
		prepare_name(&c, r->domain);

	collect_owners(&c, r);
	for (size_t i = 0; i < c.n_owners; i++) {
		const struct cowner *o = &s->owners[c.owners[i]];
		try_ranks(&c, s->post + o->any_off, o->any_n);
		if (c.name_len > 0)
			match_patterns(&c, o);
	}
	if (c.name_len > 0)
		match_name(&c);
	if (c.family)
		match_addr(&c);
	if (c.name_len > 0 && !c.family)
		for (size_t i = 0; i < c.n_owners && !c.provisional; i++)
			c.provisional = addr_rule_could_win(&c, &s->owners[c.owners[i]]);

	out->provisional = c.provisional;
	if (c.best < s->n_rules) {
		out->rule = &s->rules[c.best].view;
		out->allow = out->rule->action == ACL_ALLOW;
		out->default_policy = false;
	} else {
		out->rule = NULL;
		out->allow = s->def == ACL_ALLOW;
		out->default_policy = true;
	}
}

/* ---- accessors and counters ------------------------------------------- */

const struct acl_config *acl_snapshot_config(const struct acl_snapshot *s)
{
	return s->cfg;
}

enum acl_action acl_snapshot_default_policy(const struct acl_snapshot *s)
{
	return s->def;
}

size_t acl_snapshot_rule_count(const struct acl_snapshot *s)
{
	return s->n_rules;
}

const struct acl_rule_view *acl_snapshot_rule(const struct acl_snapshot *s, size_t id)
{
	return id < s->n_rules ? &s->rules[id].view : NULL;
}

void acl_snapshot_count(const struct acl_snapshot *s, const struct acl_decision *d)
{
	size_t i = d->rule ? d->rule->id : s->n_rules + (d->allow ? 0 : 1);
	atomic_fetch_add_explicit(&s->hits[i], 1, memory_order_relaxed);
}

uint64_t acl_snapshot_rule_hits(const struct acl_snapshot *s, size_t id)
{
	return id < s->n_rules ? atomic_load_explicit(&s->hits[id], memory_order_relaxed) : 0;
}

void acl_snapshot_default_hits(const struct acl_snapshot *s, uint64_t *allowed, uint64_t *blocked)
{
	*allowed = atomic_load_explicit(&s->hits[s->n_rules], memory_order_relaxed);
	*blocked = atomic_load_explicit(&s->hits[s->n_rules + 1], memory_order_relaxed);
}

int acl_decision_format(const struct acl_decision *d, char *buf, size_t size)
{
	const char *verdict = d->allow ? "allow" : "block";
	if (!d->rule)
		return snprintf(buf, size, "%s by default policy", verdict);
	const struct acl_rule_view *v = d->rule;
	if (v->line)
		return snprintf(buf, size, "%s by %s '%s' rule #%zu \"%s\" (priority %u, line %d)",
		                verdict, acl_owner_kind_name(v->owner_kind), v->owner, v->index,
		                v->description, (unsigned)v->priority, v->line);
	return snprintf(buf, size, "%s by %s '%s' rule #%zu \"%s\" (priority %u)", verdict,
	                acl_owner_kind_name(v->owner_kind), v->owner, v->index, v->description,
	                (unsigned)v->priority);
}
