/* RFC 1961 (GSS-API for SOCKS5) message framing: parser and serialisers.
 * Pure byte functions like socks5.h (same conventions: enum proto_result,
 * *consumed only on PROTO_OK, serialisers return the length or 0).
 *
 *   +------+------+------+.......................+
 *   | ver  | mtyp | len  |       token           |
 *   | 0x01 | 1..3 |  2   | up to 2^16 - 1 octets |
 *   +------+------+------+.......................+
 * mtyp 1 a context-establishment token, 2 the protection-level
 * subnegotiation, 3 a per-message encapsulated datagram; the abort message
 * is two octets, ver 0x01 and mtyp 0xFF, with no length and no token. */
#ifndef CSOCKS_GSSAPI_FRAME_H
#define CSOCKS_GSSAPI_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/proto_types.h"

#define GSSAPI_FRAME_VERSION 0x01
#define GSSAPI_FRAME_HDR     4     /* ver mtyp len(2) */
#define GSSAPI_TOKEN_MAX     65535 /* len is 16 bits */
#define GSSAPI_ABORT_LEN     2

enum gssapi_mtyp {
	GSSAPI_MTYP_AUTH = 0x01,  /* context establishment */
	GSSAPI_MTYP_PROT = 0x02,  /* protection-level subnegotiation */
	GSSAPI_MTYP_ENCAP = 0x03, /* per-message protected data */
	GSSAPI_MTYP_ABORT = 0xFF, /* failure: the peer closes */
};

/* RFC 1961 section 6 protection levels. 0 is not in the RFC: it is the
 * "no per-message protection" level that the NEC reference code, Dante
 * ("clear") and curl use and accept. */
enum gssapi_level {
	GSSAPI_LEVEL_NONE = 0x00,
	GSSAPI_LEVEL_INTEGRITY = 0x01,
	GSSAPI_LEVEL_CONFIDENTIALITY = 0x02,
	GSSAPI_LEVEL_SELECTIVE = 0x03,
};

struct gssapi_frame {
	uint8_t mtyp;         /* enum gssapi_mtyp */
	uint16_t len;         /* token length (0 for an abort) */
	const uint8_t *token; /* points into the parsed buffer; NULL for an abort */
};

/* One message. BAD_VERSION when ver != 1; MALFORMED for an unknown mtyp or
 * a zero-length token (RFC 1961 messages always carry one). An abort is
 * PROTO_OK with *consumed 2. */
int gssapi_parse_frame(const uint8_t *buf, size_t len, struct gssapi_frame *out, size_t *consumed);
/* The 4-byte header of a message of type mtyp (1..3) with a token of
 * token_len bytes (1..65535; else 0 is returned). */
size_t gssapi_write_header(uint8_t *out, size_t cap, uint8_t mtyp, size_t token_len);
/* The abort message (2 bytes). */
size_t gssapi_write_abort(uint8_t *out, size_t cap);
/* Words for logs: "none", "integrity", "confidentiality", "selective",
 * else "unknown". */
const char *gssapi_level_name(uint8_t level);

#endif
