/* Where the two evaluation modes (acl_types.h) decide differently: one
 * example request, found by probing each rule's own destinations. */
#include "acl/acl_modes.h"

#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "acl/acl_match.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Probes per destination string: its own name or address, and for a
 * wildcard the shallowest and a deeper matching name (where "*.x" differs
 * between the modes). */
#define MAX_PROBES 3

struct probe {
	char domain[ACL_DOMAIN_MAX + 8];
	bool by_addr;
	struct sockaddr_storage ss;
};

/* A name that the pattern matches with each '*' label as "a" (or "a.b"
 * when deep and the label leads) and each inner '*' as "x". */
static bool pattern_sample(const char *p, bool deep, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; p[i]; i++) {
		bool whole = p[i] == '*' && (i == 0 || p[i - 1] == '.') &&
		             (p[i + 1] == '.' || p[i + 1] == '\0');
		const char *rep = p[i] != '*' ? NULL : whole ? (deep && i == 0 ? "a.b" : "a") : "x";
		size_t n = rep ? strlen(rep) : 1;
		if (o + n >= size)
			return false;
		memcpy(out + o, rep ? rep : p + i, n);
		o += n;
	}
	out[o] = '\0';
	return true;
}

static size_t dest_probes(const char *str, struct probe *pr)
{
	struct acl_dest d;
	size_t n = 0;
	if (acl_dest_parse(str, strlen(str), &d, NULL, 0) == ACL_PARSE_ERROR)
		return 0;
	memset(pr, 0, MAX_PROBES * sizeof(*pr));
	switch (d.kind) {
	case ACL_DEST_ANY:
		snprintf(pr[n++].domain, sizeof(pr->domain), "example.net");
		break;
	case ACL_DEST_IP4: {
		struct sockaddr_in *in = (struct sockaddr_in *)&pr[n].ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, d.addr, 4);
		pr[n++].by_addr = true;
		break;
	}
	case ACL_DEST_IP6: {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&pr[n].ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, d.addr, 16);
		pr[n++].by_addr = true;
		break;
	}
	case ACL_DEST_DOMAIN:
		snprintf(pr[n++].domain, sizeof(pr->domain), "%s", d.name);
		break;
	case ACL_DEST_SUFFIX:
		snprintf(pr[n++].domain, sizeof(pr->domain), "a.%s", d.name);
		snprintf(pr[n++].domain, sizeof(pr->domain), "a.b.%s", d.name);
		break;
	case ACL_DEST_PATTERN:
		if (pattern_sample(d.name, false, pr[n].domain, sizeof(pr->domain)))
			n++;
		if (pattern_sample(d.name, true, pr[n].domain, sizeof(pr->domain)))
			n++;
		break;
	}
	return n;
}

static uint16_t rule_port(const struct acl_rule *r)
{
	struct acl_port_range pr;
	bool any = false;
	for (size_t i = 0; i < r->n_ports; i++)
		if (acl_ports_parse(r->ports[i], strlen(r->ports[i]), &pr, 1, &any, NULL, 0) > 0)
			return pr.lo;
	return 443;
}

static void describe(const struct acl_decision *d, char *buf, size_t size)
{
	if (!d->rule) {
		snprintf(buf, size, "%s by the default policy", d->allow ? "ALLOW" : "BLOCK");
		return;
	}
	const struct acl_rule_view *v = d->rule;
	if (v->line)
		snprintf(buf, size, "%s by %s '%s' rule \"%s\" (priority %u, line %d)",
		         d->allow ? "ALLOW" : "BLOCK", acl_owner_kind_name(v->owner_kind), v->owner,
		         v->description, (unsigned)v->priority, v->line);
	else
		snprintf(buf, size, "%s by %s '%s' rule \"%s\" (priority %u)",
		         d->allow ? "ALLOW" : "BLOCK", acl_owner_kind_name(v->owner_kind), v->owner,
		         v->description, (unsigned)v->priority);
}

struct ctx {
	const struct acl_snapshot *a, *b; /* priority, rustsocks */
	char *out;
	size_t size;
};

/* Decide req in both modes; on a difference write the example and return
 * true. Name-only decisions that are provisional are skipped (the answer
 * then depends on what the name resolves to). */
static bool differs(const struct ctx *c, const struct acl_request *req, const char *who,
                    const char *dest)
{
	struct acl_decision da, db;
	acl_evaluate(c->a, req, &da);
	acl_evaluate(c->b, req, &db);
	if (da.provisional || db.provisional || da.allow == db.allow)
		return false;
	char ra[512], rb[512];
	describe(&da, ra, sizeof(ra));
	describe(&db, rb, sizeof(rb));
	snprintf(c->out, c->size, "%s, %s %s:%u: priority mode: %s; rustsocks mode: %s", who,
	         req->proto == ACL_PROTO_UDP ? "udp" : "tcp", dest, (unsigned)req->port, ra, rb);
	return true;
}

static bool probe_rules(const struct ctx *c, const struct acl_rule *rules, size_t n,
                        struct acl_request *req, const char *who)
{
	struct probe pr[MAX_PROBES];
	char addr[INET6_ADDRSTRLEN + 2];
	for (size_t i = 0; i < n; i++) {
		const struct acl_rule *r = &rules[i];
		req->port = rule_port(r);
		req->proto = (r->protocols & ACL_PROTO_TCP) ? ACL_PROTO_TCP : ACL_PROTO_UDP;
		for (size_t k = 0; k < r->n_destinations; k++) {
			size_t np = dest_probes(r->destinations[k], pr);
			for (size_t j = 0; j < np; j++) {
				req->domain = pr[j].by_addr ? NULL : pr[j].domain;
				req->addr =
				    pr[j].by_addr ? (const struct sockaddr *)&pr[j].ss : NULL;
				const char *dest = req->domain;
				if (pr[j].by_addr) {
					const struct sockaddr_storage *ss = &pr[j].ss;
					const void *ip =
					    ss->ss_family == AF_INET
					        ? (const void *)&((const struct sockaddr_in *)ss)
					              ->sin_addr
					        : (const void *)&((const struct sockaddr_in6 *)ss)
					              ->sin6_addr;
					inet_ntop(ss->ss_family, ip, addr, sizeof(addr));
					dest = addr;
				}
				bool diff = differs(c, req, who, dest);
				req->domain = NULL; /* pr is about to go */
				req->addr = NULL;
				if (diff)
					return true;
			}
		}
	}
	return false;
}

/* A user's probes: its own rules and its static groups' rules. */
static bool probe_user(const struct ctx *c, const struct acl_config *cfg, const struct acl_user *u)
{
	char who[300];
	struct acl_request req = {.user = u->username};
	snprintf(who, sizeof(who), "user '%s'", u->username);
	if (probe_rules(c, u->rules, u->n_rules, &req, who))
		return true;
	for (size_t g = 0; g < u->n_groups; g++) {
		const struct acl_group *gr = acl_config_find_group(cfg, u->groups[g]);
		if (gr && probe_rules(c, gr->rules, gr->n_rules, &req, who))
			return true;
	}
	return false;
}

/* A member of the group with no [[users]] entry of its own. */
static bool probe_group(const struct ctx *c, const struct acl_config *cfg,
                        const struct acl_group *g)
{
	char who[300], user[64];
	const char *groups[1] = {g->name};
	unsigned k = 0;
	do
		snprintf(user, sizeof(user), "member-%u", k++);
	while (acl_config_find_user(cfg, user));
	struct acl_request req = {.user = user, .groups = groups, .n_groups = 1};
	snprintf(who, sizeof(who), "a member of group '%s' with no user entry", g->name);
	return probe_rules(c, g->rules, g->n_rules, &req, who);
}

int acl_modes_differ(const struct acl_config *cfg, char *out, size_t size)
{
	char err[256];
	struct acl_config *a = acl_config_dup(cfg), *b = acl_config_dup(cfg);
	a->mode = ACL_EVAL_PRIORITY;
	b->mode = ACL_EVAL_RUSTSOCKS;
	struct ctx c = {acl_compile(a, err, sizeof(err)), acl_compile(b, err, sizeof(err)), out,
	                size};
	int rc = -1;
	if (c.a && c.b) {
		rc = 0;
		for (size_t i = 0; rc == 0 && i < cfg->n_users; i++)
			if (probe_user(&c, cfg, &cfg->users[i]))
				rc = 1;
		for (size_t i = 0; rc == 0 && i < cfg->n_groups; i++)
			if (probe_group(&c, cfg, &cfg->groups[i]))
				rc = 1;
	}
	acl_snapshot_unref((struct acl_snapshot *)c.a);
	acl_snapshot_unref((struct acl_snapshot *)c.b);
	acl_config_free(a);
	acl_config_free(b);
	return rc;
}
