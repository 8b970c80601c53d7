/* Phases ACL_NAME (by name, before DNS) and ACL_ADDR (every resolved
 * address), and the re-check of live tunnels after a reload. Their deadline
 * is the connect deadline's (resolve's and connect's handlers). */
#include "proxy/conn_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "acl/acl_manager.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "proxy/udp.h"
#include "util/log.h"

/* Who is asking, for what: the authenticated user (or the ACL's anonymous
 * name), the destination port, TCP. The name and address are set by the
 * caller. */
static void acl_request_init(const struct conn *c, struct acl_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->user = conn_user_name(cfg_of(c), &c->info);
	if (c->groups) { /* resolved at login (NSS) */
		rq->groups = c->groups->names;
		rq->n_groups = c->groups->n;
	}
	rq->port = c->info.dest.port;
	rq->proto = ACL_PROTO_TCP;
	if (c->info.dest.atyp == SOCKS5_ATYP_DOMAIN)
		rq->domain = c->info.dest.u.domain.name;
}

void conn_acl_request(const struct conn *c, struct acl_request *rq)
{
	acl_request_init(c, rq);
	rq->domain = NULL;
	rq->addr = NULL;
	rq->port = 0;
}

/* Count one final decision and remember it for the session record. The
 * rule's description stays valid while c->acl holds the snapshot. */
static void acl_settle(struct conn *c, const char *user, const struct acl_decision *d)
{
	acl_manager_record(c->w->sh->ctx->acl, c->acl, user, d);
	metrics_acl_decision(d->allow);
	c->info.acl_decision = d->allow ? CONN_ACL_ALLOW : CONN_ACL_BLOCK;
	c->info.acl_rule = d->rule ? d->rule->description : "default policy";
}

static enum step acl_block(struct conn *c, const char *user, const struct acl_decision *d)
{
	char why[256];
	acl_decision_format(d, why, sizeof(why));
	log_debug("conn %llu: %s", (unsigned long long)c->info.id, why);
	acl_settle(c, user, d);
	c->info.status = CONN_ST_REJECTED;
	c->info.reject = CONN_REJ_ACL;
	return conn_fail(c, SOCKS5_REP_NOT_ALLOWED, "blocked by ACL");
}

/* ACL check #1: a domain request by name, before any DNS. A block that a
 * higher-priority IP/CIDR rule could still overturn (provisional) waits for
 * the addresses. Address requests are checked once, in conn_ph_acl_addr. */
enum step conn_ph_acl_name(struct conn *c)
{
	struct acl_manager *mgr = c->w->sh->ctx->acl;
	c->phase = CONN_PH_RESOLVE;
	if (!mgr || c->info.dest.atyp != SOCKS5_ATYP_DOMAIN)
		return STEP_NEXT;
	c->action = "checking ACL";
	if (!c->acl)
		c->acl = acl_manager_acquire(mgr);
	struct acl_request rq;
	struct acl_decision d;
	acl_request_init(c, &rq);
	acl_evaluate(c->acl, &rq, &d);
	if (!d.allow && !d.provisional)
		return acl_block(c, rq.user, &d);
	return STEP_NEXT;
}

/* ACL check #2: every address to connect to (with the name, for a domain
 * request), so a name pointing into a blocked range is blocked. Blocked
 * addresses are dropped; none left answers 0x02. */
static enum step acl_check_addrs(struct conn *c, struct acl_manager *mgr)
{
	struct acl_request rq;
	struct acl_decision d, allowed = {0}, blocked = {0};
	uint8_t kept = 0, n = c->addrs.n;
	if (!c->acl)
		c->acl = acl_manager_acquire(mgr);
	acl_request_init(c, &rq);
	for (uint8_t i = 0; i < n; i++) {
		rq.addr = &c->addrs.addr[i].sa;
		acl_evaluate(c->acl, &rq, &d);
		if (!d.allow) {
			blocked = d;
			continue;
		}
		if (!kept)
			allowed = d;
		c->addrs.addr[kept++] = c->addrs.addr[i];
	}
	if (!kept)
		return acl_block(c, rq.user, &blocked);
	if (kept < n)
		log_debug("conn %llu: ACL dropped %u of %u addresses",
		          (unsigned long long)c->info.id, (unsigned)(n - kept), (unsigned)n);
	c->addrs.n = kept;
	acl_settle(c, rq.user, &allowed);
	return STEP_NEXT;
}

/* Then admission (phase ADMIT). */
enum step conn_ph_acl_addr(struct conn *c)
{
	struct acl_manager *mgr = c->w->sh->ctx->acl;
	if (mgr) {
		c->action = "checking ACL";
		enum step st = acl_check_addrs(c, mgr);
		if (st != STEP_NEXT)
			return st;
	}
	c->phase = CONN_PH_ADMIT;
	return STEP_NEXT;
}

/* The tunnel stays, decided by a rule of the snapshot about to be
 * released: its info.acl_rule (read by the access log and the session at
 * close) must not point into that snapshot any more. False when the copy
 * cannot be made; the caller then keeps the old snapshot. */
static bool conn_acl_keep_rule(struct conn *c)
{
	if (!c->info.acl_rule || c->acl_rule_own)
		return true;
	char *own = strdup(c->info.acl_rule);
	if (!own)
		return false;
	c->acl_rule_own = own;
	c->info.acl_rule = own;
	return true;
}

void conn_acl_recheck(struct conn *c)
{
	struct acl_manager *mgr = c->w->sh->ctx->acl;
	if (mgr && c->phase == CONN_PH_UDP) {
		udp_assoc_acl_reload(c); /* datagrams are judged one by one */
		return;
	}
	if (!mgr || c->phase != CONN_PH_RELAY)
		return; /* earlier phases are decided with the new rules anyway */
	struct acl_snapshot *snap = acl_manager_acquire(mgr);
	struct acl_request rq;
	struct acl_decision d;
	acl_request_init(c, &rq);
	rq.addr = &c->info.upstream.sa;
	acl_evaluate(snap, &rq, &d);
	if (d.allow && !conn_acl_keep_rule(c)) {
		acl_snapshot_unref(snap); /* out of memory: keep the old rules alive */
		return;
	}
	if (c->acl)
		acl_snapshot_unref(c->acl);
	c->acl = snap;
	if (d.allow)
		return;
	char why[200], reason[256];
	acl_decision_format(&d, why, sizeof(why));
	snprintf(reason, sizeof(reason), "ACL reload: %s", why);
	acl_settle(c, rq.user, &d);
	conn_terminate(c, reason); /* finishes now, while reason is in scope */
}
