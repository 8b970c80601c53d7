/* Building a compiled ACL snapshot from a validated model, its reference
 * count and its read-only accessors and hit counters. The layout is
 * described in acl_internal.h; acl_eval.c reads it. */
#include "acl/acl_compile.h"

#include "acl/acl_internal.h"
#include "util/strutil.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		k[i] = (char)(fold ? lower(((const char *)key)[i]) : ((const char *)key)[i]);
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
	       (x->key_len == 0 ||
	        memcmp(b->keys + x->key_off, b->keys + y->key_off, x->key_len) == 0);
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

/* Priority mode: priority, then BLOCK before ALLOW, then model order.
 * RustSocks mode: BLOCK before ALLOW first, then the same. */
static int rref_cmp_block_first(const void *pa, const void *pb);

static int rref_cmp(const void *pa, const void *pb)
{
	const struct rref *a = pa, *b = pb;
	if (a->r->priority != b->r->priority)
		return a->r->priority > b->r->priority ? -1 : 1;
	if (a->r->action != b->r->action)
		return a->r->action == ACL_BLOCK ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq; /* users precede groups in seq */
}

static int rref_cmp_block_first(const void *pa, const void *pb)
{
	const struct rref *a = pa, *b = pb;
	if (a->r->action != b->r->action)
		return a->r->action == ACL_BLOCK ? -1 : 1;
	return rref_cmp(pa, pb);
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

/* RustSocks mode: a leading "*" label is exactly one label, so
 * "*.example.com" is a one-label pattern rather than a suffix ("**." keeps
 * any depth). */
static void rustsocks_wildcard(struct acl_dest *d)
{
	if (d->kind == ACL_DEST_SUFFIX && !d->dstar) {
		memmove(d->name + 2, d->name, d->name_len + 1);
		d->name[0] = '*';
		d->name[1] = '.';
		d->name_len += 2;
		d->kind = ACL_DEST_PATTERN;
	}
	if (d->kind == ACL_DEST_PATTERN)
		d->lead_one = true;
}

static int compile_dest(struct builder *b, struct olist *ol, struct cowner *o, uint32_t owner,
                        uint32_t rank, const char *str, char *err, size_t errlen)
{
	struct acl_dest d;
	uint8_t key[17];
	if (acl_dest_parse(str, strlen(str), &d, err, errlen) == ACL_PARSE_ERROR)
		return -1;
	if (b->s->cfg->mode == ACL_EVAL_RUSTSOCKS)
		rustsocks_wildcard(&d);
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
	qsort(rr, n, sizeof(*rr),
	      cfg->mode == ACL_EVAL_RUSTSOCKS ? rref_cmp_block_first : rref_cmp);
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
	bool ok = false;

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
	ok = true;
fail:
	/* The snapshot owns the arrays either way (snapshot_free frees them). */
	s->keys = b.keys;
	s->post = b.post;
	s->opost = b.opost;
	s->ports = b.ports;
	s->pats = b.pats;
	s->dests = b.dests;
	builder_fini(&b, ol, s->n_owners);
	free(rr);
	if (!ok) {
		snapshot_free(s);
		return NULL;
	}
	return s;
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

/* ---- accessors and counters ------------------------------------------- */

const struct acl_config *acl_snapshot_config(const struct acl_snapshot *s)
{
	return s->cfg;
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
