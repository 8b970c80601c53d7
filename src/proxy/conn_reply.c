/* Phase REPLY: the success reply with the upstream socket's real bound
 * address, in the client's protocol (SOCKS5 or SOCKS4). */
#include "proxy/conn_internal.h"

#include <sys/socket.h>

#include "obs/metrics.h"
#include "protocol/socks4.h"
#include "util/strutil.h"

/* The reply rep (a SOCKS5 code: what sessions and counters record) in the
 * client's protocol. SOCKS4 knows only granted (0x5A) and rejected (0x5B),
 * and carries no IPv6 BND (written as 0.0.0.0:0). */
size_t conn_reply_write(const struct conn *c, uint8_t *out, size_t cap, uint8_t rep,
                        const struct sockaddr *b)
{
	if (c->flags & CONN_F_SOCKS4)
		return socks4_write_reply(
		    out, cap, rep == SOCKS5_REP_SUCCESS ? SOCKS4_REP_GRANTED : SOCKS4_REP_REJECTED,
		    b);
	return socks5_write_reply(out, cap, rep, b);
}

/* Queue the (last) success reply with BND.ADDR/PORT b (NULL: 0.0.0.0:0). */
void conn_reply_success(struct conn *c, const struct sockaddr *b)
{
	uint8_t out[SOCKS5_REPLY_MAX];
	conn_queue(c, out, conn_reply_write(c, out, sizeof(out), SOCKS5_REP_SUCCESS, b));
	c->reply_owed = 0;
	c->info.reply = SOCKS5_REP_SUCCESS;
	c->info.connected_ms = loop_now(c->w->loop);
	metrics_session_established((double)(c->info.connected_ms - c->info.start_ms) / 1000.0);
}

enum step conn_ph_reply(struct conn *c)
{
	struct sockaddr_storage bnd;
	socklen_t len = sizeof(bnd);
	c->action = "sending reply";
	const struct sockaddr *b = (const struct sockaddr *)&bnd;
	if (getsockname(c->relay.end[RELAY_UPSTREAM].fd, (struct sockaddr *)&bnd, &len) < 0)
		b = NULL;
	conn_reply_success(c, b);
	return conn_relay_start(c);
}
