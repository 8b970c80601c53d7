/* The privsep wire format: framing of one message over a link and the
 * bounds-checked payload encoders/decoders, used by both ends
 * (privsep_monitor.c, privsep_client.c) and the tests.
 *
 * Wire format, both directions:
 *     u32 length (big-endian; counts type + payload), u8 type, payload
 * length is checked against PRIVSEP_MSG_MAX on both ends before anything is
 * read or allocated. Payload fields: u32 big-endian integers, u8 status,
 * strings as u16 big-endian length + bytes (no NUL inside, bounded per
 * field). Every payload starts with a u32 sequence number the answer echoes.
 *
 *   MON_REQ_PAM_USERNAME (10): seq, str user (1..255), str password (0..255),
 *                              str rhost (0..63)
 *   MON_ANS_PAM_USERNAME (11): seq, u8 status, str user, str reason
 *   MON_REQ_PAM_ADDRESS  (12): seq, str rhost (1..63)
 *   MON_ANS_PAM_ADDRESS  (13): seq, u8 status, str user, str reason
 *   MON_REQ_PING         (14): seq                  (liveness, tests)
 *   MON_ANS_PING         (15): seq
 */
#ifndef CSOCKS_PRIVSEP_WIRE_H
#define CSOCKS_PRIVSEP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/pam_auth.h"
#include "protocol/cursor.h"

#define PRIVSEP_MSG_MAX 4096 /* type + payload, each direction */

enum privsep_msg_type {
	MON_REQ_PAM_USERNAME = 10,
	MON_ANS_PAM_USERNAME = 11,
	MON_REQ_PAM_ADDRESS = 12,
	MON_ANS_PAM_ADDRESS = 13,
	MON_REQ_PING = 14,
	MON_ANS_PING = 15,
};

/* Field bounds of the requests and answers. */
#define PRIVSEP_USER_MAX   255
#define PRIVSEP_PASS_MAX   255
#define PRIVSEP_RHOST_MAX  63
#define PRIVSEP_REASON_MAX (PAM_AUTH_REASON_MAX - 1)

/* Send one message. 0, or -errno (-EMSGSIZE when 1 + len > PRIVSEP_MSG_MAX,
 * -EPIPE when the peer is gone). */
int privsep_msg_send(int fd, uint8_t type, const void *payload, size_t len);
/* Receive one message into buf (cap bytes). 0 with *type and *len set;
 * -EPIPE at a clean EOF before a message; -EMSGSIZE when the announced length
 * is 0 or over PRIVSEP_MSG_MAX or cap + 1; -EPROTO for EOF inside a message;
 * -EAGAIN on timeout (SO_RCVTIMEO); other -errno. */
int privsep_msg_recv(int fd, uint8_t *type, void *buf, size_t cap, size_t *len);

/* Payloads are built and parsed with protocol/cursor.h: wr_u32be / wr_u8
 * (a put past the cap marks the writer full and writes nothing more; the
 * caller checks w.full once before sending) and rd_u32be / rd_u8 (nonzero
 * when the payload is too short). Strings add their bounds: */

/* A string as u16 length + bytes; longer than max marks w full. */
void privsep_wr_str(struct wr *w, const char *s, size_t max);
/* A string of min..max bytes without NUL into out (max + 1 bytes). 0, or -1
 * (nothing consumed) when the payload is too short or the field out of
 * bounds. */
int privsep_rd_str(struct rd *r, char *out, size_t min, size_t max);

#endif
