/* Phase RESOLVE: the addresses to connect to. A literal is taken as it is;
 * a name goes to the worker's c-ares resolver, whose answer drives the
 * connection again (never a blocking lookup on the worker). */
#include "proxy/conn_internal.h"

#include <string.h>

#include "protocol/sockaddr.h"
#include "util/strutil.h"

static void conn_on_resolved(void *arg, int status)
{
	struct conn *c = arg;
	c->dns = NULL;
	c->dns_status = (uint8_t)status;
	c->flags |= CONN_F_RESOLVED;
	conn_drive(c);
}

enum step conn_ph_resolve(struct conn *c)
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
		c->dns_status = (uint8_t)st;
		c->flags |= CONN_F_RESOLVED;
	}
	switch (c->dns_status) {
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

/* The connect deadline before the addresses are known (ACL_NAME, RESOLVE). */
enum step conn_timeout_resolve(struct conn *c)
{
	return conn_fail(c, SOCKS5_REP_HOST_UNREACHABLE, "dns timeout");
}
