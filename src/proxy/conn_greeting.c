/* Phase GREETING: the first client bytes decide the protocol (0x05 SOCKS5,
 * 0x04 SOCKS4 when server.socks4 is on); for SOCKS5, the method is chosen
 * from auth.socks_method. An HTTP CONNECT request would branch here too, on
 * an ASCII method name (docs/architecture.md). */
#include "proxy/conn_internal.h"

#include "config/config.h"
#include "protocol/socks4.h"
#include "util/strutil.h"

static uint8_t select_method(const struct conn *c, const struct socks5_greeting *g)
{
	/* The TLS client certificate named the user (user_from_client_cert):
	 * no SOCKS credentials are needed. A client offering only userpass
	 * still gets auth.socks_method's check, and its login names the user. */
	if ((c->flags & CONN_F_CERT_USER) && socks5_greeting_offers(g, SOCKS5_METHOD_NONE))
		return SOCKS5_METHOD_NONE;
	switch (cfg_of(c)->auth.socks_method) {
	case AUTH_NONE:
	case AUTH_PAM_ADDRESS: /* no credentials (pam.address: the address decides) */
		if (socks5_greeting_offers(g, SOCKS5_METHOD_NONE))
			return SOCKS5_METHOD_NONE;
		break;
	case AUTH_USERPASS:
	case AUTH_PAM_USERNAME:
		if (socks5_greeting_offers(g, SOCKS5_METHOD_USERPASS))
			return SOCKS5_METHOD_USERPASS;
		break;
	case AUTH_GSSAPI:
		if (socks5_greeting_offers(g, SOCKS5_METHOD_GSSAPI))
			return SOCKS5_METHOD_GSSAPI;
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
			c->phase = CONN_PH_SOCKS4_REQUEST;
			return STEP_NEXT;
		}
		return conn_close_io(c, r == PROTO_BAD_VERSION ? "not socks5" : "bad greeting");
	}
	conn_consume(c, used);
	uint8_t m = select_method(c, &g);
	uint8_t out[2];
	if (m == SOCKS5_METHOD_NONE && cfg_of(c)->auth.socks_method == AUTH_PAM_ADDRESS &&
	    !(c->flags & CONN_F_CERT_USER))
		return conn_auth_begin(c, AUTH_TIER_SOCKS, NULL); /* method sent after */
	conn_queue(c, out, socks5_write_method(out, sizeof(out), m));
	if (m == SOCKS5_METHOD_NO_ACCEPTABLE)
		return conn_fail(c, CONN_REPLY_NONE, "no acceptable auth method");
	c->phase = m == SOCKS5_METHOD_USERPASS ? CONN_PH_AUTH
	           : m == SOCKS5_METHOD_GSSAPI ? CONN_PH_GSSAPI
	                                       : CONN_PH_REQUEST;
	return STEP_NEXT;
}
