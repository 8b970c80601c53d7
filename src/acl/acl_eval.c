/* Evaluating a request against a compiled snapshot. See acl_eval.h for the
 * semantics and acl_internal.h for the layout it reads. */
#include "acl/acl_eval.h"

#include "acl/acl_internal.h"

#include <stdio.h>
#include <string.h>

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
	uint64_t h = CS_FNV64_OFFSET;
	for (size_t i = (size_t)n; i-- > 0;) {
		if (c->name[i] == '.' && i > 0 && i + 1 < (size_t)n && c->n_suf < MAX_LABELS) {
			c->suf_off[c->n_suf] = (uint16_t)(i + 1);
			c->suf_h[c->n_suf] = h;
			c->n_suf++;
		}
		h = cs_hash_step(h, (uint8_t)c->name[i]);
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
