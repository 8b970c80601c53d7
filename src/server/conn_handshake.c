/* Connection phases before the destination is known: the PROXY protocol
 * header, the client authentication tier, the SOCKS5 greeting and method
 * choice, RFC 1929 / PAM authentication, and the SOCKS5 or SOCKS4 request. */
#include "server/conn_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/metrics.h"
#include "config/config.h"
#include "protocol/proxyproto.h"
#include "protocol/sockaddr.h"
#include "protocol/socks4.h"
#include "server/conn_events.h"
#include "server/server.h"
#include "util/log.h"
#include "util/strutil.h"

/* ---- phases ------------------------------------------------------------ */

static enum step conn_auth_begin(struct conn *c, enum auth_tier tier,
                                 const struct socks5_userpass *up);

/* A missing or malformed PROXY header: someone reached the listener
 * without the balancer, or the balancer does not send headers. Closed
 * without a word, counted, and logged with the peer's real address. */
enum step conn_proxy_hdr_fail(struct conn *c, const char *why)
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
	if (n <= 0)
		return conn_hs_recv_failed(c, n);
	int r = proxyproto_parse(buf, (size_t)n, &pi, &used);
	if (r == PROTO_INCOMPLETE) {
		/* The peeked bytes stay queued, so no EAGAIN will come: wait
		 * for the next arrival (epoll reports an edge for each). */
		e->can_read = 0;
		return STEP_WAIT;
	}
	if (r != PROTO_OK)
		return conn_proxy_hdr_fail(c, r == PROTO_BAD_VERSION
		                                  ? "no PROXY protocol header"
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
enum step conn_ph_proxy_hdr(struct conn *c)
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

enum step conn_ph_greeting(struct conn *c)
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
	memcpy(&j->task.client, &c->info.client,
	       sizeof(c->info.client) < sizeof(j->task.client) ? sizeof(c->info.client)
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

enum step conn_ph_auth(struct conn *c)
{
	struct socks5_userpass up;
	size_t used = 0;
	c->action = "reading credentials";
	int r = socks5_parse_userpass(c->hs, c->hs_len, &up, &used);
	if (r == PROTO_INCOMPLETE)
		return conn_read_more(c);
	if (r != PROTO_OK) {
		uint8_t out[2];
		conn_queue(c, out,
		           socks5_write_userpass_status(out, sizeof(out), SOCKS5_USERPASS_FAILURE));
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
enum step conn_ph_auth_wait(struct conn *c)
{
	c->action = "checking credentials";
	if (c->auth_result == 0)
		return STEP_WAIT;
	bool ok = c->auth_result == 1;
	bool by_address = cfg_of(c)->auth.socks_method == AUTH_PAM_ADDRESS;
	uint8_t out[2];
	if (by_address)
		conn_queue(
		    c, out,
		    socks5_write_method(out, sizeof(out),
		                        ok ? SOCKS5_METHOD_NONE : SOCKS5_METHOD_NO_ACCEPTABLE));
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

enum step conn_ph_request(struct conn *c)
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
	case SOCKS5_CMD_BIND: /* the same ACL checks on DST, then conn_ph_bind */
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
enum step conn_ph_socks4(struct conn *c)
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
