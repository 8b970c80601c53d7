/* The SOCKS5 connection state machine: one function per phase, a tiny
 * driver, one exit (STYLE patterns 13-15).
 *
 * A phase function returns STEP_NEXT (go on with c->phase, which it may
 * have changed), STEP_WAIT (an event, timer or answer will call
 * conn_drive again) or STEP_DONE (c->reason is set; conn_finish runs).
 * Handshake bytes a phase wants to send are queued in c->out; the driver
 * sends them before running the next phase, so a reply always leaves
 * before any relayed byte. */
#include "server/conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth.h"
#include "acl/acl_engine.h"
#include "acl/acl_watch.h"
#include "api/metrics.h"
#include "config/config.h"
#include "protocol/proxyproto.h"
#include "protocol/sockaddr.h"
#include "protocol/socks4.h"
#include "server/server.h"
#include "server/bind.h"
#include "server/conn_events.h"
#include "server/connect.h"
#include "server/udp.h"
#include "server/worker.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* c->flags */
#define CONN_F_OPENED 0x01	 /* conn_event_open was sent */
#define CONN_F_RESOLVED 0x02	 /* c->addrs is final (c->dns_status in rep) */
#define CONN_F_BUSY 0x04	 /* on the worker's busy list */
#define CONN_F_CONNECTING 0x08	 /* CONNECT phase started its attempts */
#define CONN_F_SOCKS4 0x10	 /* a SOCKS4 request: replies are SOCKS4's */
#define CONN_F_PROXY_HDR 0x20	 /* the PROXY protocol header has been read */

enum step { STEP_NEXT, STEP_WAIT, STEP_DONE };

/* An authentication check (auth/auth.h). Heap-allocated: when it goes to
 * the auth pool it must outlive a connection that closes meanwhile. */
struct conn_auth_job {
	struct auth_task task;		/* in and out; task.owner = this */
	struct worker_msg msg;		/* comes back through the mailbox */
	struct worker *w;
	struct conn *conn;		/* NULL once abandoned (worker thread only) */
};

static void conn_finish(struct conn *c);

const char *conn_phase_name(int phase)
{
	static const char *const names[] = {
		"proxy_header", "greeting", "auth", "auth_wait", "request", "acl_name",
		"resolve", "acl_addr", "connect", "reply", "relay", "closed", "bind", "udp",
		"socks4_request",
	};
	if (phase < 0 || (size_t)phase >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[phase];
}

const char *conn_status_name(int status)
{
	static const char *const names[] = { "handshake", "active", "closed", "failed",
					     "rejected" };
	if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[status];
}

static const struct csocks_config *cfg_of(const struct conn *c)
{
	return c->w->sh->cfg;
}

static int client_fd(const struct conn *c)
{
	return c->relay.end[RELAY_CLIENT].fd;
}

/* ---- outcomes ---------------------------------------------------------- */

/* Finish with a SOCKS reply code (sent if a reply is owed). */
static enum step conn_fail(struct conn *c, uint8_t rep, const char *reason)
{
	c->rep = rep;
	if (!c->reason)
		c->reason = reason;
	return STEP_DONE;
}

/* Finish because the client's socket failed: no reply can reach it. */
static enum step conn_close_io(struct conn *c, const char *reason)
{
	c->reply_owed = 0;
	if (!c->reason)
		c->reason = reason;
	return STEP_DONE;
}

/* ---- handshake I/O ----------------------------------------------------- */

/* Read more handshake bytes. NEXT when some arrived (parse again). */
static enum step conn_read_more(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (c->hs_len >= CONN_HS_SIZE)
		return conn_close_io(c, "handshake message too long"); /* cannot happen */
	if (!e->can_read)
		return STEP_WAIT;
	ssize_t n = recv(e->fd, c->hs + c->hs_len, CONN_HS_SIZE - c->hs_len, MSG_DONTWAIT);
	if (n > 0) {
		c->hs_len = (uint16_t)(c->hs_len + n);
		return STEP_NEXT;
	}
	if (n == 0)
		return conn_close_io(c, "client closed during handshake");
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		e->can_read = 0;
		return STEP_WAIT;
	}
	if (errno == EINTR)
		return STEP_NEXT;
	return conn_close_io(c, "client error during handshake");
}

static void conn_consume(struct conn *c, size_t n)
{
	CSOCKS_BUG_ON(n > c->hs_len);
	memmove(c->hs, c->hs + n, c->hs_len - n);
	c->hs_len = (uint16_t)(c->hs_len - n);
}

static void conn_queue(struct conn *c, const uint8_t *p, size_t n)
{
	CSOCKS_BUG_ON(c->out_len + n > sizeof(c->out));
	memcpy(c->out + c->out_len, p, n);
	c->out_len = (uint8_t)(c->out_len + n);
}

/* 1 all sent, 0 wait for writability, -1 failed (reason set). */
static int conn_flush(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	while (c->out_off < c->out_len) {
		if (!e->can_write)
			return 0;
		ssize_t n = send(e->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off = (uint8_t)(c->out_off + n);
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			e->can_write = 0;
			return 0;
		} else if (!(n < 0 && errno == EINTR)) {
			conn_close_io(c, "client error while sending");
			return -1;
		}
	}
	c->out_len = c->out_off = 0;
	return 1;
}

/* ---- phases ------------------------------------------------------------ */

static enum step conn_auth_begin(struct conn *c, enum auth_tier tier,
				 const struct socks5_userpass *up);

/* A missing or malformed PROXY header: someone reached the listener
 * without the balancer, or the balancer does not send headers. Closed
 * without a word, counted, and logged with the peer's real address. */
static enum step proxy_hdr_fail(struct conn *c, const char *why)
{
	char peer[SOCKADDR_STR_MAX];
	sockaddr_str(&c->info.client.sa, peer, sizeof(peer));
	log_warn("conn %llu: %s from %s", (unsigned long long)c->info.id, why, peer);
	stats_add(&c->w->stats.proxy_hdr_failures, 1);
	metrics_proxy_header_failure();
	return conn_close_io(c, why);
}

/* The balancer's PROXY protocol v1/v2 header (server.proxy_protocol), before
 * any SOCKS byte. It is peeked, not read, until it is complete (a v2 header
 * with TLVs may be larger than c->hs; HAProxy reads headers the same way),
 * then exactly its bytes are taken, so the SOCKS stream behind it stays in
 * the socket untouched. Its source address becomes the client address for
 * everything after: the client auth tier (PAM_RHOST), throttling, the ACL,
 * sessions and logs. LOCAL (v2) and UNKNOWN (v1) keep the peer's address. */
static enum step proxy_hdr_read(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	uint8_t buf[PROXYPROTO_MAX];
	struct proxyproto_info pi;
	size_t used = 0;
	c->action = "reading the PROXY protocol header";
	if (!e->can_read)
		return STEP_WAIT;
	ssize_t n = recv(e->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return conn_close_io(c, "client closed during handshake");
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			e->can_read = 0;
			return STEP_WAIT;
		}
		if (errno == EINTR)
			return STEP_NEXT;
		return conn_close_io(c, "client error during handshake");
	}
	int r = proxyproto_parse(buf, (size_t)n, &pi, &used);
	if (r == PROTO_INCOMPLETE) {
		/* The peeked bytes stay queued, so no EAGAIN will come: wait
		 * for the next arrival (epoll reports an edge for each). */
		e->can_read = 0;
		return STEP_WAIT;
	}
	if (r != PROTO_OK)
		return proxy_hdr_fail(c, r == PROTO_BAD_VERSION ? "no PROXY protocol header"
								: "malformed PROXY protocol header");
	/* All of it was peeked, so this takes exactly the header. */
	if (recv(e->fd, buf, used, MSG_DONTWAIT) != (ssize_t)used)
		return conn_close_io(c, "client error during handshake");
	e->can_read = 1; /* bytes behind the header raise no new edge */
	c->flags |= CONN_F_PROXY_HDR;
	if (!pi.local) {
		socklen_t len = sizeof(pi.src);
		sockaddr_unmap_v4(&pi.src, &len);
		if (log_enabled(LOGL_DEBUG)) {
			char peer[SOCKADDR_STR_MAX], src[SOCKADDR_STR_MAX];
			sockaddr_str(&c->info.client.sa, peer, sizeof(peer));
			sockaddr_str((const struct sockaddr *)&pi.src, src, sizeof(src));
			log_debug("conn %llu: PROXY header from %s: client %s",
				  (unsigned long long)c->info.id, peer, src);
		}
		memset(&c->info.client, 0, sizeof(c->info.client));
		memcpy(&c->info.client, &pi.src,
		       sizeof(c->info.client) < sizeof(pi.src) ? sizeof(c->info.client)
							    : sizeof(pi.src));
	}
	return STEP_NEXT;
}

/* The PROXY header first (when server.proxy_protocol is on). Then the client
 * tier (auth.client_method = pam.address) decides by address before any
 * SOCKS byte is read; a refusal closes without a word. */
static enum step ph_proxy_hdr(struct conn *c)
{
	if (cfg_of(c)->server.proxy_protocol && !(c->flags & CONN_F_PROXY_HDR)) {
		enum step st = proxy_hdr_read(c);
		if (st != STEP_NEXT || !(c->flags & CONN_F_PROXY_HDR))
			return st;
	}
	c->action = "checking the client address";
	if (!auth_manager_tier_enabled(c->w->sh->auth, AUTH_TIER_CLIENT)) {
		c->phase = CONN_PH_GREETING;
		return STEP_NEXT;
	}
	if (c->auth)
		return STEP_WAIT; /* the answer will drive us */
	if (c->auth_result == 0)
		return conn_auth_begin(c, AUTH_TIER_CLIENT, NULL);
	if (c->auth_result != 1) {
		c->info.status = CONN_ST_REJECTED;
		c->info.reject = CONN_REJ_AUTH;
		return conn_close_io(c, c->auth_reason);
	}
	c->auth_result = 0; /* the SOCKS tier starts afresh */
	c->phase = CONN_PH_GREETING;
	return STEP_NEXT;
}

static uint8_t select_method(const struct conn *c, const struct socks5_greeting *g)
{
	switch (cfg_of(c)->auth.socks_method) {
	case AUTH_NONE:
		if (socks5_greeting_offers(g, SOCKS5_METHOD_NONE))
			return SOCKS5_METHOD_NONE;
		break;
	case AUTH_PAM_ADDRESS: /* no credentials: the address decides */
		if (socks5_greeting_offers(g, SOCKS5_METHOD_NONE))
			return SOCKS5_METHOD_NONE;
		break;
	case AUTH_USERPASS:
	case AUTH_PAM_USERNAME:
		if (socks5_greeting_offers(g, SOCKS5_METHOD_USERPASS))
			return SOCKS5_METHOD_USERPASS;
		break;
	default:
		break; /* refused at start-up (auth_manager_new) */
	}
	return SOCKS5_METHOD_NO_ACCEPTABLE;
}

static enum step ph_greeting(struct conn *c)
{
	struct socks5_greeting g;
	size_t used = 0;
	c->action = "reading greeting";
	int r = socks5_parse_greeting(c->hs, c->hs_len, &g, &used);
	if (r == PROTO_INCOMPLETE)
		return conn_read_more(c);
	if (r != PROTO_OK) {
		if (c->hs_len > 0 && c->hs[0] == SOCKS4_VERSION) {
			if (!cfg_of(c)->server.socks4)
				return conn_close_io(c, "socks4 request (not enabled)");
			c->phase = CONN_PH_SOCKS4;
			return STEP_NEXT;
		}
		return conn_close_io(c, r == PROTO_BAD_VERSION ? "not socks5" : "bad greeting");
	}
	conn_consume(c, used);
	uint8_t m = select_method(c, &g);
	uint8_t out[2];
	if (m == SOCKS5_METHOD_NONE && cfg_of(c)->auth.socks_method == AUTH_PAM_ADDRESS)
		return conn_auth_begin(c, AUTH_TIER_SOCKS, NULL); /* method sent after */
	conn_queue(c, out, socks5_write_method(out, sizeof(out), m));
	if (m == SOCKS5_METHOD_NO_ACCEPTABLE)
		return conn_fail(c, CONN_REPLY_NONE, "no acceptable auth method");
	c->phase = m == SOCKS5_METHOD_USERPASS ? CONN_PH_AUTH : CONN_PH_REQUEST;
	return STEP_NEXT;
}

/* On an auth thread: hand the answer to the owning worker. */
static void auth_job_complete(struct auth_task *t)
{
	struct conn_auth_job *j = t->owner;
	worker_post(j->w, &j->msg);
}

/* Take the outcome: the user name PAM settled on (or the one tried, for
 * the session record of a refusal) and the groups for the ACL. */
static void conn_auth_settle(struct conn *c, struct conn_auth_job *j)
{
	struct auth_task *t = &j->task;
	c->auth_result = t->outcome == AUTH_OK ? 1 : 2;
	c->auth_reason = t->outcome == AUTH_FAIL_THROTTLED ? "authentication throttled"
							   : "authentication failed";
	if (t->outcome == AUTH_OK && t->user[0])
		cs_strlcpy(c->user, t->user, sizeof(c->user));
	if (t->outcome == AUTH_OK && t->groups) {
		group_list_unref(c->groups);
		c->groups = group_list_ref(t->groups);
	}
	auth_task_release(t);
	explicit_bzero(j, sizeof(*j));
	free(j);
}

/* Back on the worker. */
static void auth_job_done(struct worker *w, struct worker_msg *m)
{
	struct conn_auth_job *j =
		(struct conn_auth_job *)((char *)m - offsetof(struct conn_auth_job, msg));
	(void)w;
	struct conn *c = j->conn;
	if (!c) { /* the connection went away meanwhile */
		auth_task_release(&j->task);
		explicit_bzero(j, sizeof(*j));
		free(j);
		return;
	}
	c->auth = NULL;
	conn_auth_settle(c, j);
	conn_drive(c);
}

/* Start a check for tier (credentials in up for the SOCKS tier's
 * userpass/pam.username). NEXT when it was answered at once (throttled,
 * plaintext password, cached groups), WAIT while the auth pool works. */
static enum step conn_auth_begin(struct conn *c, enum auth_tier tier,
				 const struct socks5_userpass *up)
{
	struct conn_auth_job *j = calloc(1, sizeof(*j));
	if (!j)
		return conn_fail(c, CONN_REPLY_NONE, "out of memory");
	j->task.tier = tier;
	memcpy(&j->task.client, &c->info.client, sizeof(c->info.client) < sizeof(j->task.client)
							 ? sizeof(c->info.client)
							 : sizeof(j->task.client));
	if (up) {
		cs_strlcpy(j->task.username, up->user, sizeof(j->task.username));
		memcpy(j->task.password, up->pass, sizeof(j->task.password));
	}
	j->task.done = auth_job_complete;
	j->task.owner = j;
	j->msg.fn = auth_job_done;
	j->w = c->w;
	j->conn = c;
	if (tier == AUTH_TIER_SOCKS)
		c->phase = CONN_PH_AUTH_WAIT;
	if (auth_start(c->w->sh->auth, &j->task) == AUTH_PENDING) {
		c->auth = j;
		return STEP_WAIT;
	}
	conn_auth_settle(c, j);
	return STEP_NEXT;
}

static enum step ph_auth(struct conn *c)
{
	struct socks5_userpass up;
	size_t used = 0;
	c->action = "reading credentials";
	int r = socks5_parse_userpass(c->hs, c->hs_len, &up, &used);
	if (r == PROTO_INCOMPLETE)
		return conn_read_more(c);
	if (r != PROTO_OK) {
		uint8_t out[2];
		conn_queue(c, out, socks5_write_userpass_status(out, sizeof(out),
								SOCKS5_USERPASS_FAILURE));
		explicit_bzero(c->hs, sizeof(c->hs));
		c->hs_len = 0;
		return conn_fail(c, CONN_REPLY_NONE, "bad auth message");
	}
	conn_consume(c, used);
	explicit_bzero(c->hs + c->hs_len, used); /* the password's old place */
	cs_strlcpy(c->user, up.user, sizeof(c->user));
	enum step st = conn_auth_begin(c, AUTH_TIER_SOCKS, &up);
	explicit_bzero(&up, sizeof(up));
	return st;
}

/* The SOCKS tier's answer: RFC 1929 status for credentials, the method
 * byte (0x00, or 0xFF when refused) for pam.address. */
static enum step ph_auth_wait(struct conn *c)
{
	c->action = "checking credentials";
	if (c->auth_result == 0)
		return STEP_WAIT;
	bool ok = c->auth_result == 1;
	bool by_address = cfg_of(c)->auth.socks_method == AUTH_PAM_ADDRESS;
	uint8_t out[2];
	if (by_address)
		conn_queue(c, out, socks5_write_method(out, sizeof(out),
						       ok ? SOCKS5_METHOD_NONE
							  : SOCKS5_METHOD_NO_ACCEPTABLE));
	else
		conn_queue(c, out,
			   socks5_write_userpass_status(out, sizeof(out),
							ok ? SOCKS5_USERPASS_SUCCESS
							   : SOCKS5_USERPASS_FAILURE));
	if (!ok) {
		stats_add(&c->w->stats.auth_failures, 1);
		metrics_auth_failure(cfg_of(c)->auth.socks_method);
		/* A refused login is a session too (status failed), under the
		 * name that was tried. */
		c->info.user = c->user[0] ? c->user : NULL;
		c->info.status = CONN_ST_REJECTED;
		c->info.reject = CONN_REJ_AUTH;
		return conn_fail(c, CONN_REPLY_NONE, c->auth_reason);
	}
	c->info.user = c->user[0] ? c->user : NULL;
	c->phase = CONN_PH_REQUEST;
	return STEP_NEXT;
}

static enum step ph_request(struct conn *c)
{
	struct socks5_request q;
	size_t used = 0;
	c->action = "reading request";
	int r = socks5_parse_request(c->hs, c->hs_len, &q, &used);
	if (r == PROTO_INCOMPLETE)
		return conn_read_more(c);
	if (r != PROTO_OK) {
		c->reply_owed = 1;
		if (r == PROTO_BAD_ATYP)
			return conn_fail(c, SOCKS5_REP_ATYP_NOT_SUPPORTED,
					 "address type not supported");
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "malformed request");
	}
	conn_consume(c, used);
	c->info.dest = q.dst;
	c->info.cmd = q.cmd;
	c->reply_owed = 1;
	/* The handshake is over: from here the connect timeout runs. */
	loop_timer_in(c->w->loop, &c->t_phase,
		      (uint64_t)cfg_of(c)->server.connect_timeout_secs * 1000);
	switch (q.cmd) {
	case SOCKS5_CMD_CONNECT:
	case SOCKS5_CMD_BIND: /* the same ACL checks on DST, then ph_bind */
		c->phase = CONN_PH_ACL_NAME;
		return STEP_NEXT;
	case SOCKS5_CMD_UDP_ASSOCIATE: /* DST is the client's own: the ACL judges datagrams */
		c->info.proto = CONN_PROTO_UDP;
		c->phase = CONN_PH_UDP;
		return STEP_NEXT;
	}
	return conn_fail(c, SOCKS5_REP_CMD_NOT_SUPPORTED, "command not supported");
}

/* SOCKS4/4a (server.socks4): VN 4 where the SOCKS5 greeting would be. Only
 * CONNECT (BIND and anything else: 0x5B). The request then takes the SOCKS5
 * path (ACL, resolver, connect, session, limits, timeouts) with
 * CONN_F_SOCKS4 set, so every reply is SOCKS4's: 0x5A with the bound
 * address, 0x5B for any failure. SOCKS4 cannot authenticate and its USERID
 * is whatever the client claims, so it is never an identity: with any
 * auth.socks_method but none the request is refused, and the session is
 * the anonymous user's. */
static enum step ph_socks4(struct conn *c)
{
	struct socks4_request q;
	size_t used = 0;
	c->action = "reading socks4 request";
	int r = socks4_parse_request(c->hs, c->hs_len, &q, &used);
	if (r == PROTO_INCOMPLETE)
		return conn_read_more(c);
	c->flags |= CONN_F_SOCKS4;
	c->reply_owed = 1;
	if (r != PROTO_OK)
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "malformed socks4 request");
	conn_consume(c, used);
	socks4_request_to_addr(&q, &c->info.dest);
	c->info.cmd = q.cmd;
	if (cfg_of(c)->auth.socks_method != AUTH_NONE) {
		c->info.status = CONN_ST_REJECTED;
		c->info.reject = CONN_REJ_AUTH;
		return conn_fail(c, SOCKS5_REP_NOT_ALLOWED,
				 "socks4 refused: auth.socks_method needs credentials");
	}
	if (q.cmd != SOCKS4_CMD_CONNECT)
		return conn_fail(c, SOCKS5_REP_CMD_NOT_SUPPORTED, "socks4: command not supported");
	/* The handshake is over: from here the connect timeout runs. */
	loop_timer_in(c->w->loop, &c->t_phase,
		      (uint64_t)cfg_of(c)->server.connect_timeout_secs * 1000);
	c->phase = CONN_PH_ACL_NAME;
	return STEP_NEXT;
}

/* ---- ACL ---------------------------------------------------------------- */

/* Who is asking, for what: the authenticated user (or the ACL's anonymous
 * name), the destination port, TCP. The name and address are set by the
 * caller. */
static void acl_request_init(const struct conn *c, struct acl_request *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->user = c->info.user && *c->info.user ? c->info.user : cfg_of(c)->acl.anonymous_user;
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
 * the addresses. Address requests are checked once, in ph_acl_addr. */
static enum step ph_acl_name(struct conn *c)
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

static void conn_on_resolved(void *arg, int status)
{
	struct conn *c = arg;
	c->dns = NULL;
	c->rep = (uint8_t)status;
	c->flags |= CONN_F_RESOLVED;
	conn_drive(c);
}

static enum step ph_resolve(struct conn *c)
{
	const struct socks_addr *d = &c->info.dest;
	c->action = "resolving";
	if (c->dns)
		return STEP_WAIT;
	if (!(c->flags & CONN_F_RESOLVED)) {
		if (d->atyp != SOCKS5_ATYP_DOMAIN) {
			struct sockaddr_storage ss;
			socklen_t len;
			if (socks_addr_to_sockaddr(d, &ss, &len) < 0)
				return conn_fail(c, SOCKS5_REP_ATYP_NOT_SUPPORTED,
						 "address type not supported");
			sockaddr_unmap_v4(&ss, &len);
			memcpy(&c->addrs.addr[0], &ss, len);
			c->addrs.n = 1;
			c->phase = CONN_PH_ACL_ADDR;
			return STEP_NEXT;
		}
		int st = resolver_lookup(c->w->resolver, d->u.domain.name, d->port, &c->addrs,
					 conn_on_resolved, c, &c->dns);
		if (st < 0)
			return STEP_WAIT;
		c->rep = (uint8_t)st;
		c->flags |= CONN_F_RESOLVED;
	}
	int st = c->rep;
	c->rep = CONN_REPLY_NONE;
	switch (st) {
	case RESOLVE_OK:
		c->phase = CONN_PH_ACL_ADDR;
		return STEP_NEXT;
	case RESOLVE_NXDOMAIN:
		return conn_fail(c, SOCKS5_REP_HOST_UNREACHABLE, "dns: no such name");
	case RESOLVE_TIMEOUT:
		return conn_fail(c, SOCKS5_REP_HOST_UNREACHABLE, "dns timeout");
	default:
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "dns failure");
	}
}

/* ACL check #2: every address to connect to (with the name, for a domain
 * request), so a name pointing into a blocked range is blocked. Blocked
 * addresses are dropped; none left answers 0x02. */
static enum step acl_check_addrs(struct conn *c, struct acl_manager *mgr)
{
	struct acl_request rq;
	struct acl_decision d, allowed = { 0 }, blocked = { 0 };
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
		log_debug("conn %llu: ACL dropped %u of %u addresses", (unsigned long long)c->info.id,
			  (unsigned)(n - kept), (unsigned)n);
	c->addrs.n = kept;
	acl_settle(c, rq.user, &allowed);
	return STEP_NEXT;
}

/* Then the session starts. */
static enum step ph_acl_addr(struct conn *c)
{
	struct acl_manager *mgr = c->w->sh->ctx->acl;
	if (mgr) {
		c->action = "checking ACL";
		enum step st = acl_check_addrs(c, mgr);
		if (st != STEP_NEXT)
			return st;
	}
	c->info.status = CONN_ST_ACTIVE;
	c->flags |= CONN_F_OPENED;
	c->session = conn_event_open(c->w->sh->ctx, cfg_of(c), &c->info);
	c->phase = c->info.cmd == SOCKS5_CMD_BIND ? CONN_PH_BIND : CONN_PH_CONNECT;
	return STEP_NEXT;
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

static int attempts_in_flight(const struct conn *c)
{
	int n = 0;
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++)
		n += c->attempt_fd[k] >= 0;
	return n;
}

static void attempt_close(struct conn *c, int k)
{
	if (c->attempt_fd[k] < 0)
		return;
	loop_io_del(c->w->loop, &c->io_up[k]);
	close(c->attempt_fd[k]);
	c->attempt_fd[k] = -1;
	c->attempt_ready[k] = 0;
}

/* Start connecting to the next address in a free slot. */
static void attempt_start(struct conn *c)
{
	int k = c->attempt_fd[0] < 0 ? 0 : 1;
	CSOCKS_BUG_ON(c->attempt_fd[k] >= 0 || c->next_addr >= c->addrs.n);
	uint8_t ai = c->next_addr++;
	union cs_sockaddr *a = &c->addrs.addr[ai];
	int fd;
	int err = connect_start(&a->sa, cs_sockaddr_len(a), &fd);
	if (err) {
		c->last_errno = err;
		return;
	}
	if (loop_io_add(c->w->loop, &c->io_up[k], fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
		c->last_errno = errno;
		close(fd);
		return;
	}
	c->attempt_fd[k] = fd;
	c->attempt_ready[k] = 0;
	c->attempt_addr[k] = ai;
}

static const char *connect_reason(int err)
{
	switch (err) {
	case ECONNREFUSED: return "connection refused";
	case ENETUNREACH: return "network unreachable";
	case EHOSTUNREACH: return "host unreachable";
	case ETIMEDOUT: return "connect timed out (kernel)";
	case EMFILE:
	case ENFILE: return "out of file descriptors";
	}
	return "connect failed";
}

static enum step connect_won(struct conn *c, int k)
{
	for (int o = 0; o < CONN_MAX_ATTEMPTS; o++)
		if (o != k)
			attempt_close(c, o);
	loop_timer_cancel(c->w->loop, &c->t_aux);
	c->up_slot = (uint8_t)k;
	struct relay_end *up = &c->relay.end[RELAY_UPSTREAM];
	up->fd = c->attempt_fd[k];
	up->can_read = 1; /* a read tells; cheaper than waiting for an edge */
	up->can_write = 1;
	c->info.upstream = c->addrs.addr[c->attempt_addr[k]];
	c->phase = CONN_PH_REPLY;
	return STEP_NEXT;
}

static enum step ph_connect(struct conn *c)
{
	c->action = "connecting";
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++) {
		if (c->attempt_fd[k] < 0 || !c->attempt_ready[k])
			continue;
		c->attempt_ready[k] = 0;
		int err = connect_result(c->attempt_fd[k]);
		if (err == EINPROGRESS)
			continue;
		if (err == 0)
			return connect_won(c, k);
		c->last_errno = err;
		attempt_close(c, k);
	}
	while (attempts_in_flight(c) == 0 && c->next_addr < c->addrs.n)
		attempt_start(c);
	if (attempts_in_flight(c) == 0)
		return conn_fail(c, connect_reply_for_errno(c->last_errno),
				 connect_reason(c->last_errno));
	/* Happy Eyeballs: if this attempt is slow, start the next one too. */
	if (!timer_armed(&c->t_aux) && attempts_in_flight(c) < CONN_MAX_ATTEMPTS &&
	    c->next_addr < c->addrs.n)
		loop_timer_in(c->w->loop, &c->t_aux, CONN_HE_DELAY_MS);
	return STEP_WAIT;
}

static void on_aux_timer(struct timer *t)
{
	struct conn *c = t->data;
	if (c->phase != CONN_PH_CONNECT)
		return;
	if (attempts_in_flight(c) < CONN_MAX_ATTEMPTS && c->next_addr < c->addrs.n)
		attempt_start(c);
	conn_drive(c);
}

static void arm_idle(struct conn *c)
{
	uint32_t idle = cfg_of(c)->server.idle_timeout_secs;
	if (idle)
		loop_timer_in(c->w->loop, &c->t_phase, (uint64_t)idle * 1000);
	else
		loop_timer_cancel(c->w->loop, &c->t_phase);
}

/* The reply rep (a SOCKS5 code: what sessions and counters record) in the
 * client's protocol. SOCKS4 knows only granted (0x5A) and rejected (0x5B),
 * and carries no IPv6 BND (written as 0.0.0.0:0). */
static size_t write_reply(const struct conn *c, uint8_t *out, size_t cap, uint8_t rep,
			  const struct sockaddr *b)
{
	if (c->flags & CONN_F_SOCKS4)
		return socks4_write_reply(out, cap,
					  rep == SOCKS5_REP_SUCCESS ? SOCKS4_REP_GRANTED
								    : SOCKS4_REP_REJECTED,
					  b);
	return socks5_write_reply(out, cap, rep, b);
}

/* Queue the (last) success reply with BND.ADDR/PORT b (NULL: 0.0.0.0:0). */
static void reply_success(struct conn *c, const struct sockaddr *b)
{
	uint8_t out[SOCKS5_REPLY_MAX];
	conn_queue(c, out, write_reply(c, out, sizeof(out), SOCKS5_REP_SUCCESS, b));
	c->reply_owed = 0;
	c->info.reply = SOCKS5_REP_SUCCESS;
	stats_add(&c->w->stats.replies[SOCKS5_REP_SUCCESS], 1);
	c->info.connected_ms = loop_now(c->w->loop);
	metrics_handshake_latency((double)(c->info.connected_ms - c->info.start_ms) / 1000.0);
}

static enum step relay_start(struct conn *c);

static enum step ph_reply(struct conn *c)
{
	struct sockaddr_storage bnd;
	socklen_t len = sizeof(bnd);
	c->action = "sending reply";
	const struct sockaddr *b = (const struct sockaddr *)&bnd;
	if (getsockname(c->relay.end[RELAY_UPSTREAM].fd, (struct sockaddr *)&bnd, &len) < 0)
		b = NULL;
	reply_success(c, b);
	return relay_start(c);
}

/* After the success reply: the tunnel's data phase. */
static enum step relay_start(struct conn *c)
{
	/* Bytes the client pipelined after its request go first. */
	if (c->hs_len)
		relay_preload(&c->relay, RELAY_UP, c->hs, c->hs_len);
	c->last_active = loop_now(c->w->loop);
	arm_idle(c);
	c->phase = CONN_PH_RELAY;
	return STEP_NEXT;
}

static void sync_counters(struct conn *c)
{
	if (c->info.proto == CONN_PROTO_UDP)
		return; /* udp.c counts datagrams into c->info itself */
	c->info.bytes_up = c->relay.dir[RELAY_UP].bytes;
	c->info.bytes_down = c->relay.dir[RELAY_DOWN].bytes;
	c->info.packets_up = c->relay.dir[RELAY_UP].reads;
	c->info.packets_down = c->relay.dir[RELAY_DOWN].reads;
}

static const char *relay_error_reason(const struct relay *r)
{
	bool client = r->err_end == RELAY_CLIENT;
	switch (r->err) {
	case ECONNRESET: return client ? "client reset" : "upstream reset";
	case EPIPE: return client ? "client closed" : "upstream closed";
	case ETIMEDOUT: return client ? "client timed out" : "upstream timed out";
	}
	return client ? "client error" : "upstream error";
}

static void busy_add(struct conn *c)
{
	if (c->flags & CONN_F_BUSY)
		return;
	c->flags |= CONN_F_BUSY;
	c->busy_next = c->w->busy;
	c->w->busy = c;
}

static enum step ph_relay(struct conn *c)
{
	struct relay *r = &c->relay;
	uint64_t reads0 = r->dir[0].reads + r->dir[1].reads;
	uint64_t up0 = r->dir[0].bytes, down0 = r->dir[1].bytes;
	c->action = "relaying";
	enum relay_status st = relay_run(r, RELAY_BUDGET);
	struct stats *s = &c->w->stats;
	if (r->dir[0].bytes != up0)
		stats_add(&s->bytes_up, r->dir[0].bytes - up0);
	if (r->dir[1].bytes != down0)
		stats_add(&s->bytes_down, r->dir[1].bytes - down0);
	uint64_t reads = r->dir[0].reads + r->dir[1].reads;
	if (reads != reads0) {
		c->last_active = loop_now(c->w->loop);
		uint32_t every = cfg_of(c)->sessions.traffic_update_packet_interval;
		if (every && reads - c->traffic_mark >= every) {
			c->traffic_mark = reads;
			sync_counters(c);
			conn_event_traffic(c->session, &c->info);
		}
	}
	switch (st) {
	case RELAY_WAIT:
		return STEP_WAIT;
	case RELAY_BUSY:
		busy_add(c);
		return STEP_WAIT;
	case RELAY_DONE:
		return conn_close_io(c, "closed");
	case RELAY_ERROR:
		return conn_close_io(c, relay_error_reason(r));
	}
	return STEP_WAIT;
}

void conn_run_busy(struct worker *w)
{
	struct conn *c = w->busy;
	w->busy = NULL;
	while (c) {
		struct conn *next = c->busy_next;
		c->busy_next = NULL;
		c->flags &= (uint8_t)~CONN_F_BUSY;
		conn_drive(c);
		c = next;
	}
}

/* BIND (bind.c): listen on the control connection's address and send the
 * first reply; then wait for the peer (deadline server.bind_timeout_secs,
 * reply 0x06 on expiry), send the second reply with its address and relay.
 * While waiting, the client's socket is only peeked: EOF or an error ends
 * it; bytes the client sends early stay in its socket for the relay. */
static enum step ph_bind(struct conn *c)
{
	union cs_sockaddr a;
	if (!c->bind) {
		c->action = "binding";
		int err = bind_wait_start(c, &a);
		if (err) {
			log_debug("conn %llu: bind: %s", (unsigned long long)c->info.id,
				  strerror(err));
			return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "bind: cannot listen");
		}
		uint8_t out[SOCKS5_REPLY_MAX];
		conn_queue(c, out, socks5_write_reply(out, sizeof(out), SOCKS5_REP_SUCCESS, &a.sa));
		/* reply_owed stays set: the second reply is owed now. */
		loop_timer_in(c->w->loop, &c->t_phase,
			      (uint64_t)cfg_of(c)->server.bind_timeout_secs * 1000);
		return STEP_NEXT; /* the driver sends the first reply, then waits here */
	}
	c->action = "waiting for the bind peer";
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (e->can_read) {
		uint8_t b;
		ssize_t n = recv(e->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			return conn_close_io(c, "client closed while waiting for the bind peer");
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			e->can_read = 0;
		else if (n < 0 && errno != EINTR)
			return conn_close_io(c, "client error while waiting for the bind peer");
	}
	int fd;
	int r = bind_wait_accept(c, &fd, &a);
	if (r == 0)
		return STEP_WAIT;
	if (r < 0) {
		log_debug("conn %llu: bind: accept: %s", (unsigned long long)c->info.id,
			  strerror(fd));
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "bind: accept failed");
	}
	bind_wait_close(c); /* one BIND, one connection */
	/* The peer takes the upstream slot, so conn_finish closes it. */
	if (loop_io_add(c->w->loop, &c->io_up[0], fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
		close(fd);
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "epoll_ctl failed");
	}
	c->attempt_fd[0] = fd;
	c->up_slot = 0;
	c->relay.end[RELAY_UPSTREAM].fd = fd;
	c->relay.end[RELAY_UPSTREAM].can_read = 1;
	c->relay.end[RELAY_UPSTREAM].can_write = 1;
	c->info.upstream = a;
	reply_success(c, &a.sa);
	return relay_start(c);
}

/* UDP ASSOCIATE (udp.c): open the association and reply with the relay
 * socket's address; then the datagrams flow on udp.c's sockets and this
 * phase only watches the control connection, which carries nothing more
 * (RFC 1928 section 7): bytes on it are read and dropped, EOF or an error
 * ends the association, as does server.udp_timeout_secs without a
 * relayed datagram (the phase timer). */
static enum step ph_udp(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (!c->udp) {
		union cs_sockaddr bnd;
		c->action = "opening udp association";
		c->info.status = CONN_ST_ACTIVE;
		c->flags |= CONN_F_OPENED;
		c->session = conn_event_open(c->w->sh->ctx, cfg_of(c), &c->info);
		int err = udp_assoc_start(c, &bnd);
		if (err) {
			log_debug("conn %llu: udp: %s", (unsigned long long)c->info.id,
				  strerror(err));
			return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "udp: cannot open relay socket");
		}
		reply_success(c, &bnd.sa);
		c->hs_len = 0; /* nothing may follow the request */
		loop_timer_in(c->w->loop, &c->t_phase,
			      (uint64_t)cfg_of(c)->server.udp_timeout_secs * 1000);
		return STEP_NEXT;
	}
	c->action = "relaying udp";
	for (int i = 0; i < 16 && e->can_read; i++) {
		ssize_t n = recv(e->fd, c->hs, sizeof(c->hs), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0)
			return conn_close_io(c, "closed");
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			e->can_read = 0;
		else if (errno != EINTR)
			return conn_close_io(c, "client error on the control connection");
	}
	if (e->can_read)
		busy_add(c); /* more to drop: next turn, after the others */
	return STEP_WAIT;
}

static enum step ph_closed(struct conn *c)
{
	(void)c;
	return STEP_WAIT;
}

static enum step (*const phase_fn[])(struct conn *) = {
	[CONN_PH_PROXY_HDR] = ph_proxy_hdr, [CONN_PH_GREETING] = ph_greeting,
	[CONN_PH_AUTH] = ph_auth,	    [CONN_PH_AUTH_WAIT] = ph_auth_wait,
	[CONN_PH_REQUEST] = ph_request,	    [CONN_PH_ACL_NAME] = ph_acl_name,
	[CONN_PH_RESOLVE] = ph_resolve,	    [CONN_PH_ACL_ADDR] = ph_acl_addr,
	[CONN_PH_CONNECT] = ph_connect,	    [CONN_PH_REPLY] = ph_reply,
	[CONN_PH_RELAY] = ph_relay,	    [CONN_PH_CLOSED] = ph_closed,
	[CONN_PH_BIND] = ph_bind,	    [CONN_PH_UDP] = ph_udp,
	[CONN_PH_SOCKS4] = ph_socks4,
};

/* ---- driver, events, timers -------------------------------------------- */

void conn_drive(struct conn *c)
{
	while (c->phase != CONN_PH_CLOSED) {
		if (c->out_off < c->out_len) {
			int r = conn_flush(c);
			if (r < 0) {
				conn_finish(c);
				return;
			}
			if (r == 0)
				return;
		}
		enum step s = phase_fn[c->phase](c);
		if (s == STEP_WAIT)
			return;
		if (s == STEP_DONE) {
			conn_finish(c);
			return;
		}
	}
}

static void on_client_io(struct loop_io *io, uint32_t events)
{
	struct conn *c = io->data;
	if (events & LOOP_READ)
		c->relay.end[RELAY_CLIENT].can_read = 1;
	if (events & LOOP_WRITE)
		c->relay.end[RELAY_CLIENT].can_write = 1;
	conn_drive(c);
}

static void on_upstream_io(struct loop_io *io, uint32_t events)
{
	struct conn *c = io->data;
	int k = io == &c->io_up[0] ? 0 : 1;
	if (c->phase == CONN_PH_CONNECT) {
		c->attempt_ready[k] = 1;
	} else {
		if (events & LOOP_READ)
			c->relay.end[RELAY_UPSTREAM].can_read = 1;
		if (events & LOOP_WRITE)
			c->relay.end[RELAY_UPSTREAM].can_write = 1;
	}
	conn_drive(c);
}

static void on_phase_timer(struct timer *t)
{
	struct conn *c = t->data;
	switch (c->phase) {
	case CONN_PH_PROXY_HDR:
		if (cfg_of(c)->server.proxy_protocol && !(c->flags & CONN_F_PROXY_HDR)) {
			proxy_hdr_fail(c, "no PROXY protocol header (handshake timeout)");
			break;
		}
		conn_close_io(c, "handshake timeout");
		break;
	case CONN_PH_SOCKS4:
	case CONN_PH_GREETING:
	case CONN_PH_AUTH:
	case CONN_PH_AUTH_WAIT:
	case CONN_PH_REQUEST:
		conn_close_io(c, "handshake timeout");
		break;
	case CONN_PH_ACL_NAME:
	case CONN_PH_RESOLVE:
		conn_fail(c, SOCKS5_REP_HOST_UNREACHABLE, "dns timeout");
		break;
	case CONN_PH_ACL_ADDR:
	case CONN_PH_CONNECT:
	case CONN_PH_REPLY:
		conn_fail(c, SOCKS5_REP_TTL_EXPIRED, "connect timeout");
		break;
	case CONN_PH_RELAY: {
		/* The idle deadline is not moved on every read (that would be
		 * a heap operation per packet): reads stamp last_active and
		 * the timer, when it fires, re-arms for the rest. */
		uint64_t idle = (uint64_t)cfg_of(c)->server.idle_timeout_secs * 1000;
		uint64_t now = loop_now(c->w->loop);
		if (timer_before(now, c->last_active + idle)) {
			timer_arm(loop_timers(c->w->loop), &c->t_phase, c->last_active + idle);
			return;
		}
		conn_close_io(c, "idle timeout");
		break;
	}
	case CONN_PH_BIND:
		/* No peer in time: RFC 1928 has no code for it; 0x06 as for
		 * a connect timeout. */
		conn_fail(c, SOCKS5_REP_TTL_EXPIRED, "bind timeout");
		break;
	case CONN_PH_UDP: {
		/* As the relay idle timer: datagrams only stamp a time. */
		uint64_t idle = (uint64_t)cfg_of(c)->server.udp_timeout_secs * 1000;
		uint64_t last = udp_assoc_last_active(c->udp);
		if (timer_before(loop_now(c->w->loop), last + idle)) {
			timer_arm(loop_timers(c->w->loop), &c->t_phase, last + idle);
			return;
		}
		conn_close_io(c, "udp idle timeout");
		break;
	}
	default:
		return;
	}
	conn_finish(c);
}

/* ---- birth and death --------------------------------------------------- */

void conn_accept(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		__atomic_fetch_sub(w->sh->active_total, 1, __ATOMIC_RELAXED);
		return;
	}
	/* Everything that conn_finish undoes is in a safe state first. */
	c->w = w;
	c->rep = CONN_REPLY_NONE;
	relay_init(&c->relay, &w->pipes, fd, -1);
	c->relay.end[RELAY_CLIENT].can_read = 1; /* the greeting is often there already */
	c->relay.end[RELAY_CLIENT].can_write = 1;
	loop_io_init(&c->io_client, on_client_io, c);
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++) {
		loop_io_init(&c->io_up[k], on_upstream_io, c);
		c->attempt_fd[k] = -1;
	}
	timer_init(&c->t_phase, on_phase_timer, c);
	timer_init(&c->t_aux, on_aux_timer, c);

	struct conn_info *ci = &c->info;
	ci->id = ((uint64_t)(w->idx + 1) << 48) | (++w->next_seq & 0xFFFFFFFFFFFFull);
	if (len > sizeof(ci->client))
		len = sizeof(ci->client);
	memcpy(&ci->client, sa, len);
	ci->proto = CONN_PROTO_TCP;
	ci->status = CONN_ST_HANDSHAKE;
	ci->reply = CONN_REPLY_NONE;
	ci->start_wall_ms = time_wall_ms();
	ci->start_ms = loop_now(w->loop);
	c->action = "accepting";

	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	stats_add(&w->stats.accepted, 1);
	stats_add(&w->stats.active, 1);

	if (loop_io_add(w->loop, &c->io_client, fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
		conn_close_io(c, "epoll_ctl failed");
		conn_finish(c);
		return;
	}
	loop_timer_in(w->loop, &c->t_phase,
		      (uint64_t)w->sh->cfg->server.handshake_timeout_secs * 1000);
	conn_drive(c);
}

void conn_terminate(struct conn *c, const char *reason)
{
	if (c->phase == CONN_PH_CLOSED)
		return;
	c->reason = reason;
	c->rep = SOCKS5_REP_GENERAL_FAILURE;
	conn_finish(c);
}

static void access_log(struct conn *c)
{
	char client[SOCKADDR_STR_MAX], dest[SOCKS_ADDR_STR_MAX], up[SOCKADDR_STR_MAX];
	const struct conn_info *ci = &c->info;
	sockaddr_str(&ci->client.sa, client, sizeof(client));
	if (ci->dest.atyp)
		socks_addr_str(&ci->dest, dest, sizeof(dest));
	else
		cs_strlcpy(dest, "-", sizeof(dest));
	if (ci->upstream.sa.sa_family)
		sockaddr_str(&ci->upstream.sa, up, sizeof(up));
	else
		cs_strlcpy(up, "-", sizeof(up));
	struct log_field f[] = {
		LOG_NUM("conn", ci->id),
		LOG_STR("user", c->user[0] ? c->user : NULL),
		LOG_STR("client", client),
		LOG_STR("dest", dest),
		LOG_STR("upstream", up),
		LOG_NUM("bytes_up", ci->bytes_up),
		LOG_NUM("bytes_down", ci->bytes_down),
		LOG_NUM("duration_ms", ci->end_ms - ci->start_ms),
		LOG_STR("reason", ci->close_reason),
		LOG_STR("acl", ci->acl_decision == CONN_ACL_NONE ? NULL
				: ci->acl_decision == CONN_ACL_ALLOW ? "allow" : "block"),
		LOG_STR("rule", ci->acl_rule),
		ci->reply == CONN_REPLY_NONE ? LOG_STR("reply", NULL) : LOG_NUM("reply", ci->reply),
		LOG_STR("phase", conn_phase_name(c->phase)),
	};
	log_fields(LOGL_INFO, "connection closed", f, sizeof(f) / sizeof(f[0]));
}

/* Close the client socket. After telling the client something (a failure
 * reply), first read away what it already sent: closing a socket with
 * unread input sends RST, and an RST can overtake our reply. */
static void close_client(struct conn *c, bool told)
{
	int fd = client_fd(c);
	if (fd < 0)
		return;
	loop_io_del(c->w->loop, &c->io_client);
	if (told) {
		(void)shutdown(fd, SHUT_WR);
		for (int i = 0; i < 8; i++)
			if (recv(fd, c->hs, sizeof(c->hs), MSG_DONTWAIT) <= 0)
				break;
	}
	close(fd);
	c->relay.end[RELAY_CLIENT].fd = -1;
}

static void conn_finish(struct conn *c)
{
	struct worker *w = c->w;
	if (c->phase == CONN_PH_CLOSED)
		return;
	loop_timer_cancel(w->loop, &c->t_phase);
	loop_timer_cancel(w->loop, &c->t_aux);
	if (c->dns) {
		resolver_cancel(c->dns);
		c->dns = NULL;
	}
	if (c->auth) {
		c->auth->conn = NULL; /* freed when it comes back */
		c->auth = NULL;
	}
	udp_assoc_close(c);
	bind_wait_close(c);
	if (!c->reason)
		c->reason = "closed";

	/* The reply still owed, then whatever handshake bytes are queued. */
	if (c->reply_owed) {
		uint8_t rep = c->rep == CONN_REPLY_NONE ? SOCKS5_REP_GENERAL_FAILURE : c->rep;
		uint8_t out[SOCKS5_REPLY_MAX];
		size_t n = write_reply(c, out, sizeof(out), rep, NULL);
		if (c->out_len + n <= sizeof(c->out))
			conn_queue(c, out, n);
		c->info.reply = rep;
		c->reply_owed = 0;
		if (rep < STATS_REPLY_CODES)
			stats_add(&w->stats.replies[rep], 1);
		metrics_connect_error(rep);
		metrics_handshake_latency((double)(loop_now(w->loop) - c->info.start_ms) / 1000.0);
	}
	bool told = false;
	if (c->out_off < c->out_len && client_fd(c) >= 0) {
		told = true;
		(void)send(client_fd(c), c->out + c->out_off, c->out_len - c->out_off,
			   MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	c->out_len = c->out_off = 0;

	struct conn_info *ci = &c->info;
	sync_counters(c);
	ci->end_ms = loop_update_now(w->loop);
	ci->close_reason = c->reason;
	if (c->flags & CONN_F_OPENED) {
		ci->status = ci->connected_ms ? CONN_ST_CLOSED : CONN_ST_FAILED;
		conn_event_close(w->sh->ctx, w->sh->cfg, c->session, ci);
		c->session = NULL;
	} else if (ci->status == CONN_ST_REJECTED) {
		conn_event_rejected(w->sh->ctx, w->sh->cfg, ci);
	}
	if (ci->cmd == 0)
		stats_add(&w->stats.handshake_failures, 1);
	if (w->sh->cfg->logging.access_log)
		access_log(c);
	if (c->acl) { /* after the events and the log: they read the rule */
		acl_snapshot_unref(c->acl);
		c->acl = NULL;
	}

	relay_release(&c->relay);
	close_client(c, told);
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++)
		attempt_close(c, k); /* the winner's fd is relay.end[1].fd */
	c->relay.end[RELAY_UPSTREAM].fd = -1;

	stats_sub(&w->stats.active, 1);
	stats_add(&w->stats.closed, 1);
	__atomic_fetch_sub(w->sh->active_total, 1, __ATOMIC_RELAXED);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
	w->n_conns--;
	c->phase = CONN_PH_CLOSED;
	explicit_bzero(c->hs, sizeof(c->hs));
}

void conn_free(struct conn *c)
{
	udp_assoc_free(c->udp); /* memory only: closed in conn_finish */
	bind_wait_free(c->bind);
	group_list_unref(c->groups);
	free(c);
}
