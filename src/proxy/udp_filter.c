/* The UDP client filter and address comparison: pure functions, unit
 * tested (tests/unit/test_udp.c). */
#include "proxy/udp_internal.h"

#include <netinet/in.h>
#include <string.h>

#include "protocol/sockaddr.h"

bool udp_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b, bool ports)
{
	union cs_sockaddr x, y;
	if ((a->sa_family != AF_INET && a->sa_family != AF_INET6) ||
	    (b->sa_family != AF_INET && b->sa_family != AF_INET6))
		return false;
	sockaddr_copy_unmapped(&x, a);
	sockaddr_copy_unmapped(&y, b);
	if (x.sa.sa_family != y.sa.sa_family)
		return false;
	if (x.sa.sa_family == AF_INET)
		return x.in.sin_addr.s_addr == y.in.sin_addr.s_addr &&
		       (!ports || x.in.sin_port == y.in.sin_port);
	return memcmp(&x.in6.sin6_addr, &y.in6.sin6_addr, sizeof(x.in6.sin6_addr)) == 0 &&
	       (!ports || x.in6.sin6_port == y.in6.sin6_port);
}

void udp_client_filter_init(struct udp_client_filter *f, const struct sockaddr *client,
                            uint16_t port)
{
	memset(f, 0, sizeof(*f));
	if (client->sa_family == AF_INET || client->sa_family == AF_INET6)
		sockaddr_copy_unmapped(&f->addr, client);
	sockaddr_set_port(&f->addr.sa, port);
	f->port_fixed = port != 0;
}

bool udp_client_filter_accept(struct udp_client_filter *f, const struct sockaddr *src)
{
	if (!udp_sockaddr_equal(&f->addr.sa, src, false))
		return false;
	if (f->port_fixed)
		return sockaddr_port(&f->addr.sa) == sockaddr_port(src);
	sockaddr_set_port(&f->addr.sa, sockaddr_port(src));
	f->port_fixed = true;
	return true;
}
