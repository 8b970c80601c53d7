/* The pure parts of UDP ASSOCIATE and BIND: the client filter (IP, pinned
 * port, IPv4-mapped addresses), address comparison, and BIND's peer match;
 * plus the datagram header round trip the relay relies on. */
#include <arpa/inet.h>
#include <string.h>

#include "protocol/sockaddr.h"
#include "protocol/socks5.h"
#include "proxy/bind.h"
#include "proxy/udp.h"
#include "test.h"

static union cs_sockaddr ip(const char *host, uint16_t port)
{
	union cs_sockaddr a;
	memset(&a, 0, sizeof(a));
	if (strchr(host, ':')) {
		a.in6.sin6_family = AF_INET6;
		inet_pton(AF_INET6, host, &a.in6.sin6_addr);
		a.in6.sin6_port = htons(port);
	} else {
		a.in.sin_family = AF_INET;
		inet_pton(AF_INET, host, &a.in.sin_addr);
		a.in.sin_port = htons(port);
	}
	return a;
}

static void t_filter_first_datagram_pins_port(void)
{
	struct udp_client_filter f;
	union cs_sockaddr ctl = ip("10.0.0.5", 40000);
	udp_client_filter_init(&f, &ctl.sa, 0);
	CHECK(!f.port_fixed);
	union cs_sockaddr other_ip = ip("10.0.0.6", 5000);
	CHECK(!udp_client_filter_accept(&f, &other_ip.sa)); /* never pins */
	CHECK(!f.port_fixed);
	union cs_sockaddr first = ip("10.0.0.5", 5000);
	CHECK(udp_client_filter_accept(&f, &first.sa));
	CHECK(f.port_fixed);
	CHECK_INT(sockaddr_port(&f.addr.sa), 5000);
	CHECK(udp_client_filter_accept(&f, &first.sa));
	union cs_sockaddr other_port = ip("10.0.0.5", 5001);
	CHECK(!udp_client_filter_accept(&f, &other_port.sa));
	CHECK(!udp_client_filter_accept(&f, &other_ip.sa));
}

static void t_filter_request_port(void)
{
	struct udp_client_filter f;
	union cs_sockaddr ctl = ip("192.0.2.1", 1234);
	udp_client_filter_init(&f, &ctl.sa, 7000);
	CHECK(f.port_fixed);
	union cs_sockaddr wrong = ip("192.0.2.1", 7001);
	CHECK(!udp_client_filter_accept(&f, &wrong.sa));
	union cs_sockaddr right = ip("192.0.2.1", 7000);
	CHECK(udp_client_filter_accept(&f, &right.sa));
	CHECK_INT(sockaddr_port(&f.addr.sa), 7000);
}

static void t_filter_mapped_and_v6(void)
{
	struct udp_client_filter f;
	/* A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d; its
	 * datagrams come to an IPv4 relay socket as plain IPv4. */
	union cs_sockaddr ctl = ip("::ffff:127.0.0.1", 1);
	udp_client_filter_init(&f, &ctl.sa, 0);
	CHECK_INT(f.addr.sa.sa_family, AF_INET);
	union cs_sockaddr v4 = ip("127.0.0.1", 999);
	CHECK(udp_client_filter_accept(&f, &v4.sa));
	union cs_sockaddr mapped = ip("::ffff:127.0.0.1", 999);
	CHECK(udp_client_filter_accept(&f, &mapped.sa));
	union cs_sockaddr mapped_other = ip("::ffff:127.0.0.2", 999);
	CHECK(!udp_client_filter_accept(&f, &mapped_other.sa));

	union cs_sockaddr c6 = ip("2001:db8::1", 1);
	udp_client_filter_init(&f, &c6.sa, 0);
	union cs_sockaddr s6 = ip("2001:db8::1", 53000);
	union cs_sockaddr s6b = ip("2001:db8::2", 53000);
	union cs_sockaddr s4 = ip("32.1.13.184", 53000); /* not the same host */
	CHECK(!udp_client_filter_accept(&f, &s6b.sa));
	CHECK(!udp_client_filter_accept(&f, &s4.sa));
	CHECK(udp_client_filter_accept(&f, &s6.sa));
	CHECK(!udp_client_filter_accept(&f, &s6b.sa));
}

static void t_filter_unknown_family_drops_all(void)
{
	struct udp_client_filter f;
	struct sockaddr un;
	memset(&un, 0, sizeof(un));
	un.sa_family = AF_UNIX;
	udp_client_filter_init(&f, &un, 0);
	union cs_sockaddr any = ip("0.0.0.0", 1);
	union cs_sockaddr v4 = ip("127.0.0.1", 1);
	CHECK(!udp_client_filter_accept(&f, &any.sa));
	CHECK(!udp_client_filter_accept(&f, &v4.sa));
	CHECK(!f.port_fixed);
}

static void t_sockaddr_equal(void)
{
	union cs_sockaddr a = ip("127.0.0.1", 80), b = ip("127.0.0.1", 81);
	union cs_sockaddr m = ip("::ffff:127.0.0.1", 80), v6 = ip("::1", 80);
	CHECK(udp_sockaddr_equal(&a.sa, &b.sa, false));
	CHECK(!udp_sockaddr_equal(&a.sa, &b.sa, true));
	CHECK(udp_sockaddr_equal(&a.sa, &m.sa, true));
	CHECK(!udp_sockaddr_equal(&a.sa, &v6.sa, false));
	CHECK(udp_sockaddr_equal(&v6.sa, &v6.sa, true));
}

static void t_bind_peer_match(void)
{
	struct resolve_result r;
	memset(&r, 0, sizeof(r));
	r.n = 1;
	r.addr[0] = ip("127.0.0.1", 21);
	union cs_sockaddr same_ip = ip("127.0.0.1", 40001); /* ports are not compared */
	union cs_sockaddr mapped = ip("::ffff:127.0.0.1", 40001);
	union cs_sockaddr other = ip("127.0.0.2", 21);
	CHECK(bind_peer_allowed(&r, &same_ip.sa));
	CHECK(bind_peer_allowed(&r, &mapped.sa));
	CHECK(!bind_peer_allowed(&r, &other.sa));

	/* A name's addresses: any of them. */
	r.n = 2;
	r.addr[1] = ip("2001:db8::7", 21);
	union cs_sockaddr v6 = ip("2001:db8::7", 1);
	CHECK(bind_peer_allowed(&r, &v6.sa));

	/* All-zero DST.ADDR: anyone. */
	r.n = 1;
	r.addr[0] = ip("0.0.0.0", 0);
	CHECK(bind_peer_allowed(&r, &other.sa));
	CHECK(bind_peer_allowed(&r, &v6.sa));
	r.addr[0] = ip("::", 0);
	CHECK(bind_peer_allowed(&r, &other.sa));

	r.n = 0;
	CHECK(!bind_peer_allowed(&r, &other.sa));
}

/* What the relay writes in front of a reply parses back to the sender. */
static void t_reply_header_round_trip(void)
{
	const char *hosts[] = {"198.51.100.7", "2001:db8::42", "::ffff:10.1.2.3"};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		union cs_sockaddr src = ip(hosts[i], 5353);
		uint8_t buf[SOCKS5_UDP_HEADER_MAX + 4];
		size_t n = socks5_udp_write_header(buf, sizeof(buf), &src.sa);
		CHECK(n == 10 || n == 22);
		memcpy(buf + n, "data", 4);
		struct socks5_udp_header h;
		CHECK_INT(socks5_udp_parse(buf, n + 4, &h), PROTO_OK);
		CHECK_INT(h.header_len, n);
		CHECK_INT(h.frag, 0);
		CHECK_INT(h.dst.port, 5353);
		struct sockaddr_storage ss;
		socklen_t len;
		CHECK_INT(socks_addr_to_sockaddr(&h.dst, &ss, &len), 0);
		CHECK(udp_sockaddr_equal((struct sockaddr *)&ss, &src.sa, true));
	}
	/* Too small a buffer: nothing written. */
	union cs_sockaddr v6 = ip("2001:db8::42", 1);
	uint8_t small[10];
	CHECK_INT(socks5_udp_write_header(small, sizeof(small), &v6.sa), 0);
}

int main(void)
{
	RUN(t_filter_first_datagram_pins_port);
	RUN(t_filter_request_port);
	RUN(t_filter_mapped_and_v6);
	RUN(t_filter_unknown_family_drops_all);
	RUN(t_sockaddr_equal);
	RUN(t_bind_peer_match);
	RUN(t_reply_header_round_trip);
	return TEST_END("udp");
}
