/* Phases REQUEST (SOCKS5) and SOCKS4_REQUEST: what the client asks for.
 * Once a request is read a reply is owed, and the handshake deadline gives
 * way to the connect deadline (server.connect_timeout_secs). */
#include "proxy/conn_internal.h"

#include "config/config.h"
#include "protocol/socks4.h"
#include "util/strutil.h"

void conn_request_done(struct conn *c)
{
	c->reply_owed = 1;
	loop_timer_in(c->w->loop, &c->t_phase,
	              config_ms(cfg_of(c)->server.connect_timeout_secs,
	                        cfg_of(c)->server.connect_timeout_ms));
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
	conn_request_done(c);
	switch (q.cmd) {
	case SOCKS5_CMD_CONNECT:
	case SOCKS5_CMD_BIND: /* the same ACL checks on DST, then phase BIND */
		c->phase = CONN_PH_ACL_NAME;
		return STEP_NEXT;
	case SOCKS5_CMD_UDP_ASSOCIATE: /* DST is the client's own: the ACL judges datagrams */
		c->info.proto = CONN_PROTO_UDP;
		c->phase = CONN_PH_ADMIT;
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
enum step conn_ph_socks4_request(struct conn *c)
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
	conn_request_done(c);
	c->phase = CONN_PH_ACL_NAME;
	return STEP_NEXT;
}
