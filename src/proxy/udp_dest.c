/* The UDP association's destination table: each destination the client
 * sends to is judged by the ACL (protocol udp, by name and by address),
 * names are looked up on the worker's resolver while their datagrams wait
 * in a bounded queue, and a reload re-judges every destination. */
#include "proxy/udp_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "acl/acl_manager.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "protocol/sockaddr.h"
#include "proxy/conn.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"
#include "util/log.h"
#include "util/strutil.h"

/* Evaluate one destination (addr may be NULL: by name only). */
static void acl_decide(struct udp_assoc *a, const char *name, const struct sockaddr *addr,
                       uint16_t port, struct acl_decision *d)
{
	struct conn *c = a->c;
	struct acl_request rq;
	memset(d, 0, sizeof(*d));
	if (!c->acl) {
		d->allow = true;
		d->default_policy = true;
		return;
	}
	conn_acl_request(c, &rq);
	rq.domain = name;
	rq.addr = addr;
	rq.port = port;
	rq.proto = ACL_PROTO_UDP;
	acl_evaluate(c->acl, &rq, d);
}

/* Count a final decision for a new (or re-decided) destination: per-user
 * and per-rule counters, metrics. Once per destination, not per datagram. */
static void acl_record(struct udp_assoc *a, const char *name, uint16_t port,
                       const struct acl_decision *d)
{
	struct conn *c = a->c;
	if (!c->acl)
		return;
	struct acl_request rq;
	conn_acl_request(c, &rq);
	acl_manager_record(c->w->sh->ctx->acl, c->acl, rq.user, d);
	metrics_acl_decision(d->allow);
	if (!d->allow && log_enabled(LOGL_DEBUG)) {
		char why[256];
		acl_decision_format(d, why, sizeof(why));
		log_debug("conn %llu: udp to %s port %u: %s", (unsigned long long)c->info.id,
		          name ? name : "address", (unsigned)port, why);
	}
}

bool udp_pending_add(struct udp_assoc *a, struct udp_dest *d, const uint8_t *p, size_t n)
{
	if (a->n_pend >= UDP_PENDING_MAX || a->pend_bytes + n > UDP_PENDING_BYTES)
		return false;
	struct udp_pending *q = malloc(sizeof(*q) + n);
	if (!q)
		return false;
	q->next = NULL;
	q->d = d;
	q->len = (uint32_t)n;
	memcpy(q->data, p, n);
	if (a->pend_tail)
		a->pend_tail->next = q;
	else
		a->pend_head = q;
	a->pend_tail = q;
	a->n_pend++;
	a->pend_bytes += (uint32_t)n;
	return true;
}

/* Send (destination allowed) or drop the datagrams waiting for d, in order.
 * d == NULL: drop all (closing). */
void udp_pending_flush(struct udp_assoc *a, struct udp_dest *d)
{
	struct udp_pending **pp = &a->pend_head, *last = NULL;
	while (*pp) {
		struct udp_pending *q = *pp;
		if (d && q->d != d) {
			last = q;
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		a->n_pend--;
		a->pend_bytes -= q->len;
		if (d && d->state == UDP_DEST_ALLOW)
			udp_send_up(a, d, q->data, q->len);
		else if (d && d->state == UDP_DEST_BLOCK)
			a->drops.acl++;
		else if (d)
			a->drops.dns++;
		free(q);
	}
	a->pend_tail = last;
}

void udp_dest_clear(struct udp_dest *d)
{
	CSOCKS_BUG_ON(d->dns != NULL);
	free(d->name);
	memset(d, 0, sizeof(*d));
}

/* A free entry, replacing the least recently used one without a lookup in
 * flight; NULL when every entry waits for DNS. */
static struct udp_dest *dest_alloc(struct udp_assoc *a)
{
	struct udp_dest *victim = NULL;
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_EMPTY)
			return d;
		if (d->dns)
			continue;
		if (!victim || timer_before(d->used_ms, victim->used_ms))
			victim = d;
	}
	if (victim)
		udp_dest_clear(victim);
	return victim;
}

/* Choose the first allowed address of a finished lookup. */
static void dest_resolved(struct udp_assoc *a, struct udp_dest *d, int status,
                          const struct resolve_result *res)
{
	uint64_t now = udp_now_of(a);
	if (status != RESOLVE_OK || res->n == 0) {
		/* A refresh that fails keeps the old answer for a while. */
		if (d->state == UDP_DEST_RESOLVING)
			d->state = UDP_DEST_FAILED;
		d->until_ms = now + UDP_NAME_FAIL_MS;
		return;
	}
	struct acl_decision dec;
	int chosen = -1;
	for (int i = 0; i < res->n && chosen < 0; i++) {
		acl_decide(a, d->name, &res->addr[i].sa, d->port, &dec);
		if (dec.allow)
			chosen = i;
	}
	/* dec is the chosen address's decision, or the last address's block. */
	acl_record(a, d->name, d->port, &dec);
	if (chosen >= 0) {
		sockaddr_copy_unmapped(&d->addr, &res->addr[chosen].sa);
		d->state = UDP_DEST_ALLOW;
	} else {
		d->state = UDP_DEST_BLOCK;
	}
	d->until_ms = now + UDP_NAME_TTL_MS;
}

static void on_resolved(void *arg, int status)
{
	struct udp_lookup *l = arg;
	struct udp_assoc *a = l->a;
	struct udp_dest *d = l->d;
	d->dns = NULL;
	dest_resolved(a, d, status, &l->res);
	free(l);
	udp_pending_flush(a, d);
}

/* Start (or refresh) the lookup of d's name. */
static void dest_lookup(struct udp_assoc *a, struct udp_dest *d)
{
	struct udp_lookup *l = calloc(1, sizeof(*l));
	if (!l) {
		dest_resolved(a, d, RESOLVE_FAILED, NULL);
		return;
	}
	l->a = a;
	l->d = d;
	int st =
	    resolver_lookup(a->c->w->resolver, d->name, d->port, &l->res, on_resolved, l, &l->req);
	if (st >= 0) { /* answered at once (cache, literal, hosts file) */
		dest_resolved(a, d, st, &l->res);
		free(l);
		return;
	}
	d->dns = l;
}

/* Decide an address destination, or a name by name (then look it up). */
void udp_dest_decide(struct udp_assoc *a, struct udp_dest *d)
{
	struct acl_decision dec;
	if (!d->name) {
		acl_decide(a, NULL, &d->addr.sa, d->port, &dec);
		acl_record(a, NULL, d->port, &dec);
		d->state = dec.allow ? UDP_DEST_ALLOW : UDP_DEST_BLOCK;
		return;
	}
	acl_decide(a, d->name, NULL, d->port, &dec);
	if (!dec.allow && !dec.provisional) {
		acl_record(a, d->name, d->port, &dec);
		d->state = UDP_DEST_BLOCK;
		d->until_ms = udp_now_of(a) + UDP_NAME_TTL_MS;
		return;
	}
	if (d->state != UDP_DEST_ALLOW)
		d->state = UDP_DEST_RESOLVING;
	if (!d->dns)
		dest_lookup(a, d);
}

/* The entry for a requested destination, created (and decided) when new.
 * NULL when the table has no room (every entry waits for DNS). */
struct udp_dest *udp_dest_get(struct udp_assoc *a, const struct socks_addr *dst)
{
	union cs_sockaddr sa;
	bool named = dst->atyp == SOCKS5_ATYP_DOMAIN;
	if (!named) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (socks_addr_to_sockaddr(dst, &ss, &len) < 0)
			return NULL;
		sockaddr_copy_unmapped(&sa, (struct sockaddr *)&ss);
	}
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_EMPTY || d->port != dst->port || !d->name != !named)
			continue;
		if (named ? strcasecmp(d->name, dst->u.domain.name) != 0
		          : !udp_same_endpoint(&d->addr, &sa))
			continue;
		/* A name in use is looked up again now and then (old answer
		 * used meanwhile). */
		if (named && !d->dns && !timer_before(udp_now_of(a), d->until_ms))
			udp_dest_decide(a, d);
		return d;
	}
	struct udp_dest *d = dest_alloc(a);
	if (!d)
		return NULL;
	d->port = dst->port;
	d->used_ms = udp_now_of(a);
	if (named) {
		d->name = strdup(dst->u.domain.name);
		if (!d->name)
			return NULL; /* state still EMPTY */
	} else {
		d->addr = sa;
	}
	udp_dest_decide(a, d);
	return d;
}

/* An upstream datagram's sender, if the client sent to it. */
struct udp_dest *udp_dest_by_sender(struct udp_assoc *a, const union cs_sockaddr *src)
{
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_ALLOW && udp_same_endpoint(&d->addr, src))
			return d;
	}
	return NULL;
}

void udp_assoc_acl_reload(struct conn *c)
{
	struct udp_assoc *a = c->udp;
	struct acl_manager *mgr = c->w->sh->ctx->acl;
	if (!a || a->closed || !mgr)
		return;
	struct acl_snapshot *snap = acl_manager_acquire(mgr);
	if (c->acl)
		acl_snapshot_unref(c->acl);
	c->acl = snap;
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_EMPTY || d->state == UDP_DEST_RESOLVING)
			continue; /* decided when the answer comes, with the new rules */
		if (!d->name) {
			udp_dest_decide(a, d);
			continue;
		}
		/* A name: by name first, then its address as chosen before
		 * (a new lookup would choose again; the TTL takes care). */
		struct acl_decision dec;
		acl_decide(a, d->name, NULL, d->port, &dec);
		if (!dec.allow && !dec.provisional) {
			acl_record(a, d->name, d->port, &dec);
			d->state = UDP_DEST_BLOCK;
			continue;
		}
		if (d->state == UDP_DEST_ALLOW) {
			acl_decide(a, d->name, &d->addr.sa, d->port, &dec);
			acl_record(a, d->name, d->port, &dec);
			if (!dec.allow)
				d->state = UDP_DEST_BLOCK;
		} else {
			d->until_ms = udp_now_of(a); /* blocked or failed before: ask again */
			if (d->state == UDP_DEST_BLOCK)
				d->state = UDP_DEST_FAILED;
		}
	}
}
