/* HAProxy PROXY protocol, v1 (text) and v2 (binary), as the first bytes of a
 * connection accepted behind a load balancer. Pure byte function, same
 * conventions as socks5.h. */
#ifndef CSOCKS_PROXYPROTO_H
#define CSOCKS_PROXYPROTO_H

#include <sys/socket.h>

#include "protocol/proto_types.h"

#define PROXYPROTO_V1_MAX     107  /* longest v1 line, CRLF included */
#define PROXYPROTO_V2_LEN_MAX 2048 /* our bound on the v2 address + TLV block */
#define PROXYPROTO_MAX        (16 + PROXYPROTO_V2_LEN_MAX)

struct proxyproto_info {
	bool local; /* v2 LOCAL, UNSPEC or UNIX, v1 UNKNOWN: keep the real peer address */
	struct sockaddr_storage src, dst; /* AF_INET/AF_INET6 (port set) unless local */
};

/* Parse a v1 or v2 header at the start of buf; *consumed is its length (the
 * SOCKS greeting may follow in the same segment).
 *
 * PROTO_BAD_VERSION: the bytes are neither "PROXY " nor the v2 signature
 * (a client talking without a header where one is required).
 * v1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN...\r\n";
 * one space between fields; addresses by inet_pton of the named family;
 * ports decimal 0..65535 without leading zeros; only printable ASCII before
 * the CRLF. MALFORMED when the line breaks any of these or has no CRLF
 * within PROXYPROTO_V1_MAX bytes.
 * v2: version nibble 2, command LOCAL (local) or PROXY; family UNSPEC or
 * UNIX (local), or INET/INET6 with transport STREAM (anything else with
 * INET/INET6 is MALFORMED: this is a TCP listener); the length must cover
 * the family's addresses and be at most PROXYPROTO_V2_LEN_MAX; TLVs are
 * skipped. */
int proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_info *out, size_t *consumed);

#endif
