/* SOCKS4 and SOCKS4a CONNECT/BIND requests and replies. Pure byte functions,
 * same conventions as socks5.h.
 *
 * Request: VN(0x04) CD DSTPORT(2) DSTIP(4) USERID NUL, and for 4a (DSTIP
 * 0.0.0.x, x != 0) DOMAIN NUL after it. The USERID is whatever the client
 * claims: never an identity unless an auth backend verified it. */
#ifndef CSOCKS_SOCKS4_H
#define CSOCKS_SOCKS4_H

#include <sys/socket.h>

#include "protocol/proto_types.h"

#define SOCKS4_VERSION       0x04
#define SOCKS4_REPLY_VERSION 0x00
#define SOCKS4_FIELD_MAX     255             /* USERID and DOMAIN, without the NUL */
#define SOCKS4_REQUEST_MAX   (8 + 256 + 256) /* header, USERID NUL, DOMAIN NUL */
#define SOCKS4_REPLY_LEN     8

enum socks4_cmd {
	SOCKS4_CMD_CONNECT = 0x01,
	SOCKS4_CMD_BIND = 0x02,
};

enum socks4_reply {
	SOCKS4_REP_GRANTED = 0x5A,
	SOCKS4_REP_REJECTED = 0x5B,
	SOCKS4_REP_NO_IDENTD = 0x5C,  /* client's identd unreachable */
	SOCKS4_REP_BAD_USERID = 0x5D, /* identd and USERID disagree */
};

struct socks4_request {
	uint8_t cmd;      /* enum socks4_cmd, or anything else as received */
	uint16_t port;    /* host byte order */
	uint8_t ip[4];    /* network order; 0.0.0.x (x != 0) for 4a */
	char userid[256]; /* NUL-terminated, may be empty */
	bool is_4a;       /* domain holds the destination */
	char domain[256]; /* NUL-terminated, 1..255 bytes; empty unless is_4a */
};

/* BAD_VERSION when VN != 4. MALFORMED when USERID or DOMAIN runs past 255
 * bytes without its NUL, or a 4a DOMAIN is empty. An unknown CD parses OK
 * (the server answers 0x5B). *out zeroed first, meaningful only on OK. */
int socks4_parse_request(const uint8_t *buf, size_t len, struct socks4_request *out,
                         size_t *consumed);

/* VN 0x00, CD code, DSTPORT, DSTIP from bnd: AF_INET or IPv4-mapped IPv6;
 * anything else (NULL, IPv6) is written as 0.0.0.0:0, since SOCKS4 cannot
 * carry it. Always SOCKS4_REPLY_LEN bytes, or 0 when cap is too small. */
size_t socks4_write_reply(uint8_t *out, size_t cap, uint8_t code, const struct sockaddr *bnd);

/* Client side (tests, bench): writes r as given; a 4a request is written with
 * r->ip as is (set it to 0.0.0.x) and r->domain after the USERID. 0 when cap
 * is too small or a string is longer than 255. */
size_t socks4_write_request(uint8_t *out, size_t cap, const struct socks4_request *r);

/* The destination as a socks_addr: DOMAIN for 4a, IPv4 otherwise. */
void socks4_request_to_addr(const struct socks4_request *r, struct socks_addr *out);

#endif
