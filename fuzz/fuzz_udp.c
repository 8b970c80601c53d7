/* libFuzzer target: SOCKS5 UDP datagram header parser, plus the address
 * printers on whatever it yields. A datagram is whole: never INCOMPLETE. */
#include <stdlib.h>
#include <string.h>

#include "protocol/sockaddr.h"
#include "protocol/socks5.h"

#define ASSERT(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct socks5_udp_header h;
	struct sockaddr_storage ss;
	socklen_t len;
	uint8_t out[SOCKS5_UDP_HEADER_MAX];
	char str[SOCKS_ADDR_STR_MAX];
	size_t n;
	int rc = socks5_udp_parse(data, size, &h);

	ASSERT(rc == PROTO_OK || rc == PROTO_MALFORMED || rc == PROTO_BAD_ATYP);
	if (rc != PROTO_OK) {
		ASSERT(h.header_len == 0);
		return 0;
	}
	ASSERT(h.header_len >= 8 && h.header_len <= size && h.header_len <= SOCKS5_UDP_HEADER_MAX);
	ASSERT(h.frag == data[2]);
	/* Re-serialised, the header matches from ATYP on (RSV/FRAG become 0). */
	n = socks5_udp_write_header_addr(out, sizeof(out), &h.dst);
	ASSERT(n == h.header_len && memcmp(out + 3, data + 3, n - 3) == 0);
	n = socks_addr_str(&h.dst, str, sizeof(str));
	ASSERT(n == strlen(str));
	if (socks_addr_to_sockaddr(&h.dst, &ss, &len) == 0) {
		char s2[SOCKADDR_STR_MAX];
		ASSERT(h.dst.atyp != SOCKS5_ATYP_DOMAIN);
		n = sockaddr_str((struct sockaddr *)&ss, s2, sizeof(s2));
		ASSERT(n == strlen(s2) && n < sizeof(s2));
		n = socks5_udp_write_header(out, sizeof(out), (struct sockaddr *)&ss);
		ASSERT(n > 0);
		/* The relay wraps replies this way: they must parse back to
		 * the same sender (IPv4-mapped comes back as IPv4). */
		struct socks5_udp_header back;
		ASSERT(socks5_udp_parse(out, n, &back) == PROTO_OK && back.header_len == n);
		ASSERT(back.frag == 0 && back.dst.port == h.dst.port);
		struct sockaddr_storage ss2;
		socklen_t len2;
		ASSERT(socks_addr_to_sockaddr(&back.dst, &ss2, &len2) == 0);
		sockaddr_unmap_v4(&ss, &len);
		ASSERT(len2 == len && memcmp(&ss2, &ss, len) == 0);
	} else {
		ASSERT(h.dst.atyp == SOCKS5_ATYP_DOMAIN);
	}
	return 0;
}
