/* SOCKS5 messages (RFC 1928) and username/password sub-negotiation
 * (RFC 1929): parsers and serialisers. Pure byte functions: no I/O, no
 * allocation, no global state; safe from any thread.
 *
 * Parsers take (buf, len) holding what has arrived so far. They return an
 * enum proto_result: PROTO_OK with *consumed set to the message's length
 * (bytes after it are left for the next parser: a client may send its
 * greeting and request in one segment), or PROTO_INCOMPLETE (read more and
 * call again with the longer buffer; *consumed is 0), or a negative, final
 * error. *out is zeroed first and meaningful only on PROTO_OK.
 *
 * Serialisers return the number of bytes written to out, or 0 when cap is too
 * small (then out's contents are unspecified). */
#ifndef CSOCKS_SOCKS5_H
#define CSOCKS_SOCKS5_H

#include <sys/socket.h>

#include "protocol/proto_types.h"

#define SOCKS5_VERSION          0x05
#define SOCKS5_USERPASS_VERSION 0x01 /* RFC 1929 sub-negotiation version */

/* Largest message of each kind, for sizing a handshake buffer. */
#define SOCKS5_GREETING_MAX   (2 + 255)             /* VER NMETHODS METHODS */
#define SOCKS5_USERPASS_MAX   (3 + 255 + 255)       /* VER ULEN UNAME PLEN PASSWD */
#define SOCKS5_REQUEST_MAX    (4 + 1 + 255 + 2)     /* VER CMD RSV ATYP domain PORT */
#define SOCKS5_REPLY_MAX      (4 + 16 + 2)          /* VER REP RSV ATYP IPv6 PORT */
#define SOCKS5_UDP_HEADER_MAX (3 + 1 + 1 + 255 + 2) /* RSV FRAG ATYP domain PORT */

enum socks5_method {
	SOCKS5_METHOD_NONE = 0x00,
	SOCKS5_METHOD_GSSAPI = 0x01,
	SOCKS5_METHOD_USERPASS = 0x02,
	SOCKS5_METHOD_NO_ACCEPTABLE = 0xFF,
};

enum socks5_cmd {
	SOCKS5_CMD_CONNECT = 0x01,
	SOCKS5_CMD_BIND = 0x02,
	SOCKS5_CMD_UDP_ASSOCIATE = 0x03,
};

enum socks5_reply {
	SOCKS5_REP_SUCCESS = 0x00,
	SOCKS5_REP_GENERAL_FAILURE = 0x01,
	SOCKS5_REP_NOT_ALLOWED = 0x02,
	SOCKS5_REP_NET_UNREACHABLE = 0x03,
	SOCKS5_REP_HOST_UNREACHABLE = 0x04,
	SOCKS5_REP_CONN_REFUSED = 0x05,
	SOCKS5_REP_TTL_EXPIRED = 0x06,
	SOCKS5_REP_CMD_NOT_SUPPORTED = 0x07,
	SOCKS5_REP_ATYP_NOT_SUPPORTED = 0x08,
};

/* RFC 1929 STATUS: 0x00 success, anything else failure (then close). */
enum socks5_userpass_status {
	SOCKS5_USERPASS_SUCCESS = 0x00,
	SOCKS5_USERPASS_FAILURE = 0x01,
};

/* Words for logs. Never NULL; "unknown" for values outside the enums. */
const char *proto_result_name(int result);  /* "ok", "incomplete", "bad version", ... */
const char *socks5_reply_name(uint8_t rep); /* "succeeded", ... "address type not supported" */
const char *socks5_cmd_name(uint8_t cmd);   /* "connect", "bind", "udp_associate" */
const char *socks5_method_name(uint8_t m);  /* "none", "gssapi", "userpass", "no acceptable" */

/* Method selection: VER NMETHODS METHODS. BAD_VERSION when VER != 5;
 * MALFORMED when NMETHODS == 0 (a client that offers nothing). */
struct socks5_greeting {
	uint8_t nmethods; /* 1..255 */
	uint8_t methods[255];
};
int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out,
                          size_t *consumed);
/* True if the client offered method. */
bool socks5_greeting_offers(const struct socks5_greeting *g, uint8_t method);

/* RFC 1929 request: VER(0x01) ULEN UNAME PLEN PASSWD. BAD_VERSION when
 * VER != 1. ULEN == 0 is MALFORMED (RFC 1929 says 1..255, and an empty name
 * cannot identify anyone); PLEN == 0 is accepted (some clients send an empty
 * password; the backend then rejects or accepts it). A NUL byte inside either
 * field is MALFORMED: the copies are C strings and must not be silently
 * truncated into a different name. *out is written only on PROTO_OK, so a
 * failed parse leaves no partial secret in it; the caller wipes out->pass
 * (explicit_bzero) after use. */
struct socks5_userpass {
	char user[256]; /* NUL-terminated */
	uint8_t ulen;   /* 1..255 */
	char pass[256]; /* NUL-terminated */
	uint8_t plen;   /* 0..255 */
};
int socks5_parse_userpass(const uint8_t *buf, size_t len, struct socks5_userpass *out,
                          size_t *consumed);

/* Request: VER CMD RSV ATYP DST.ADDR DST.PORT. BAD_VERSION when VER != 5;
 * BAD_ATYP for an unknown ATYP (answer 0x08); MALFORMED for an empty domain
 * or one containing a NUL byte. An unknown CMD parses OK (the server answers
 * 0x07). RSV should be 0 but any value is tolerated, as most servers do; it is
 * kept in rsv so the caller can log it. */
struct socks5_request {
	uint8_t cmd; /* enum socks5_cmd, or anything else as received */
	uint8_t rsv; /* as received; normally 0 */
	struct socks_addr dst;
};
int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *out,
                         size_t *consumed);

/* 05 METHOD */
size_t socks5_write_method(uint8_t *out, size_t cap, uint8_t method);
/* 01 STATUS (RFC 1929) */
size_t socks5_write_userpass_status(uint8_t *out, size_t cap, uint8_t status);
/* 05 REP 00 ATYP BND.ADDR BND.PORT. bnd may be NULL, or of a family other
 * than AF_INET/AF_INET6: then 0.0.0.0:0 is written (a reply is always
 * owed). An IPv4-mapped IPv6 address is written as IPv4. At most
 * SOCKS5_REPLY_MAX bytes. */
size_t socks5_write_reply(uint8_t *out, size_t cap, uint8_t rep, const struct sockaddr *bnd);
/* Client side (tests, bench). A request is written as given, rsv included;
 * 0 also when dst.atyp is not one of the three types. */
size_t socks5_write_request(uint8_t *out, size_t cap, const struct socks5_request *req);
/* 05 N METHODS; n == 0 is written as is (useful to test servers). */
size_t socks5_write_greeting(uint8_t *out, size_t cap, const uint8_t *methods, uint8_t n);
/* 01 ULEN USER PLEN PASS; 0 also when either string is longer than 255. */
size_t socks5_write_userpass(uint8_t *out, size_t cap, const char *user, const char *pass);

/* UDP ASSOCIATE datagram header (RFC 1928 section 7):
 * RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA. */
struct socks5_udp_header {
	uint8_t frag;          /* 0 for a whole datagram; the server drops others */
	struct socks_addr dst; /* destination (client to server) */
	size_t header_len;     /* payload starts at buf + header_len (may be empty) */
};
/* A datagram is whole or broken, never INCOMPLETE: a truncated header is
 * MALFORMED, an unknown ATYP is BAD_ATYP, an empty or NUL-holding domain is
 * MALFORMED. RSV is not checked. */
int socks5_udp_parse(const uint8_t *buf, size_t len, struct socks5_udp_header *out);
/* RSV 0, FRAG 0, the address of src (IPv4-mapped written as IPv4). 0 when cap
 * is too small or src is not AF_INET/AF_INET6. At most SOCKS5_UDP_HEADER_MAX. */
size_t socks5_udp_write_header(uint8_t *out, size_t cap, const struct sockaddr *src);
/* RSV 0, FRAG 0, a as given; 0 when cap is too small or a->atyp is unknown. */
size_t socks5_udp_write_header_addr(uint8_t *out, size_t cap, const struct socks_addr *a);

#endif
