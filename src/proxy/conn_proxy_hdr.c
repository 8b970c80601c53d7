/* Phase PROXY_HDR: the load balancer's PROXY protocol v1/v2 header
 * (server.proxy_protocol), before any SOCKS byte. Its source address
 * becomes the client address for everything after. */
#include "proxy/conn_internal.h"

#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "obs/metrics.h"
#include "protocol/proxyproto.h"
#include "protocol/sockaddr.h"
#include "util/log.h"
#include "util/strutil.h"

/* A missing or malformed PROXY header: someone reached the listener
 * without the balancer, or the balancer does not send headers. Closed
 * without a word, counted, and logged with the peer's real address. */
enum step conn_proxy_hdr_fail(struct conn *c, const char *why)
{
	char peer[SOCKADDR_STR_MAX];
	sockaddr_str(&c->info.client.sa, peer, sizeof(peer));
	log_warn("conn %llu: %s from %s", (unsigned long long)c->info.id, why, peer);
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

/* The PROXY header first, when server.proxy_protocol is on. */
enum step conn_ph_proxy_hdr(struct conn *c)
{
	if (cfg_of(c)->server.proxy_protocol && !(c->flags & CONN_F_PROXY_HDR)) {
		enum step st = proxy_hdr_read(c);
		if (st != STEP_NEXT || !(c->flags & CONN_F_PROXY_HDR))
			return st;
	}
	c->phase = c->w->sh->tls ? CONN_PH_TLS : CONN_PH_CLIENT_AUTH;
	return STEP_NEXT;
}

/* The handshake deadline while the header is still missing. */
enum step conn_timeout_proxy_hdr(struct conn *c)
{
	if (cfg_of(c)->server.proxy_protocol && !(c->flags & CONN_F_PROXY_HDR))
		return conn_proxy_hdr_fail(c, "no PROXY protocol header (handshake timeout)");
	return conn_timeout_handshake(c);
}
