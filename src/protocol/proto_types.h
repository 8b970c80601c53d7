/* Types shared by every wire parser in src/protocol: the result codes and a
 * destination address as a SOCKS client wrote it. Only types live here, so a
 * header that merely embeds a struct socks_addr (session, ACL) includes this
 * one and nothing else. */
#ifndef CSOCKS_PROTO_TYPES_H
#define CSOCKS_PROTO_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return value of every parser in src/protocol. Parsers are incremental:
 * called with a buffer holding the start of a message, they answer
 * PROTO_INCOMPLETE until the whole message is there, and then PROTO_OK with
 * the number of bytes it took (bytes after it belong to the next message).
 * The negative results are final: more bytes will not change them. */
enum proto_result {
	PROTO_OK = 0,           /* parsed; *consumed says how many bytes */
	PROTO_INCOMPLETE = 1,   /* need more bytes; nothing consumed */
	PROTO_BAD_VERSION = -1, /* first byte is not the expected version */
	PROTO_MALFORMED = -2,   /* framing error: reply (if any) and close */
	PROTO_BAD_ATYP = -3,    /* unknown address type: reply 0x08 and close */
};

/* SOCKS5 address types (RFC 1928 section 5); SOCKS4a domains use DOMAIN. */
enum socks5_atyp {
	SOCKS5_ATYP_IPV4 = 0x01,
	SOCKS5_ATYP_DOMAIN = 0x03,
	SOCKS5_ATYP_IPV6 = 0x04,
};

/* Longest domain name a SOCKS message can carry (one length byte). */
#define SOCKS_DOMAIN_MAX 255

/* A destination as the client wrote it. Addresses are in network byte order
 * (as on the wire), the port in host byte order. A domain name is
 * NUL-terminated, 1..255 bytes, never contains a NUL byte, and is not
 * otherwise validated (it may hold any other byte: escape it before
 * printing; socks_addr_host_str does). */
struct socks_addr {
	uint8_t atyp; /* enum socks5_atyp */
	union {
		uint8_t v4[4];
		uint8_t v6[16];
		struct {
			uint8_t len; /* strlen(name), 1..255 */
			char name[SOCKS_DOMAIN_MAX + 1];
		} domain;
	} u;
	uint16_t port; /* host byte order */
};

#endif
