/* Types of a client connection (one SOCKS session attempt). Modules that
 * only read a connection (session hooks, logging) include this header and
 * use struct conn_info; conn.h has the functions. */
#ifndef CSOCKS_CONN_TYPES_H
#define CSOCKS_CONN_TYPES_H

#include <stdint.h>

#include "protocol/proto_types.h"
#include "protocol/socks5.h"
#include "event/loop.h"
#include "proxy/relay.h"
#include "event/resolver.h"

/* Phases, in pipeline order: a connection only moves down this list (a
 * request takes one of the branches). The phase table in conn.c gives each
 * its name, its function and its deadline handler; docs/architecture.md
 * ("A connection's life") walks through them.
 *   SOCKS5 CONNECT: PROXY_HDR [TLS] CLIENT_AUTH GREETING [AUTH AUTH_WAIT | GSSAPI] REQUEST
 *                   ACL_NAME RESOLVE ACL_ADDR ADMIT CONNECT REPLY RELAY
 *   SOCKS5 BIND:    ... REQUEST ACL_NAME RESOLVE ACL_ADDR ADMIT BIND RELAY
 *   UDP ASSOCIATE:  ... REQUEST ADMIT UDP
 *   SOCKS4 CONNECT: PROXY_HDR CLIENT_AUTH GREETING SOCKS4_REQUEST ACL_NAME ...
 * The numbers are this order; nothing stores them. */
enum conn_phase {
	CONN_PH_PROXY_HDR,      /* PROXY protocol header (conn_proxy_hdr.c) */
	CONN_PH_TLS,            /* SOCKS over TLS: the handshake (conn_tls.c) */
	CONN_PH_CLIENT_AUTH,    /* the client auth tier, by address (conn_auth.c) */
	CONN_PH_GREETING,       /* VER NMETHODS METHODS, the method (conn_greeting.c) */
	CONN_PH_AUTH,           /* RFC 1929 credentials (conn_auth.c) */
	CONN_PH_AUTH_WAIT,      /* the SOCKS tier's answer (conn_auth.c) */
	CONN_PH_GSSAPI,         /* RFC 1961 token exchange (conn_gssapi.c) */
	CONN_PH_REQUEST,        /* the SOCKS5 request (conn_request.c) */
	CONN_PH_SOCKS4_REQUEST, /* a SOCKS4/4a request instead (conn_request.c) */
	CONN_PH_ACL_NAME,       /* ACL on the requested name (conn_acl.c) */
	CONN_PH_RESOLVE,        /* DNS for a domain destination (conn_resolve.c) */
	CONN_PH_ACL_ADDR,       /* ACL on the resolved addresses (conn_acl.c) */
	CONN_PH_ADMIT,          /* connection limits, the session opens (conn_admit.c) */
	CONN_PH_CONNECT,        /* connect to the addresses in turn (conn_connect.c) */
	CONN_PH_REPLY,          /* the success reply (conn_reply.c) */
	CONN_PH_BIND,           /* BIND: listen, two replies (conn_bind.c) */
	CONN_PH_UDP,            /* UDP ASSOCIATE: watch the control connection (conn_udp.c) */
	CONN_PH_RELAY,          /* move bytes both ways (conn_relay.c) */
	CONN_PH_CLOSED,         /* finished; freed at the end of the loop turn */
	CONN_PH_COUNT
};
const char *conn_phase_name(int phase);

/* Lifecycle status as the session record sees it. */
enum conn_status {
	CONN_ST_HANDSHAKE = 0, /* no request yet */
	CONN_ST_ACTIVE = 1,    /* request accepted, connecting or relaying */
	CONN_ST_CLOSED = 2,    /* relayed and closed */
	CONN_ST_FAILED = 3,    /* request accepted but connect failed */
	CONN_ST_REJECTED = 4,  /* refused by policy or a limit */
};

#define CONN_PROTO_TCP  0
#define CONN_PROTO_UDP  1
#define CONN_REPLY_NONE 0xFF /* no SOCKS5 reply sent */

/* conn_info.acl_decision */
#define CONN_ACL_NONE  0 /* no ACL decision (ACL disabled, or not reached) */
#define CONN_ACL_ALLOW 1
#define CONN_ACL_BLOCK 2

/* conn_info.reject: why a CONN_ST_REJECTED request was refused */
#define CONN_REJ_OTHER 0
#define CONN_REJ_ACL   1 /* the ACL blocked it */
#define CONN_REJ_AUTH  2 /* authentication failed or throttled */
#define CONN_REJ_LIMIT 3 /* a connection limit */

/* The public, read-only view of a connection: what session records, the
 * access log and the API need. Written only by the owning worker; other
 * threads see copies made by the session hooks. Pointers are valid while
 * the connection lives (during a conn_event_* call at least). */
struct conn_info {
	uint64_t id;                   /* unique in the process; worker index in bits 48..63 */
	const char *user;              /* authenticated user, NULL when anonymous */
	union cs_sockaddr client;      /* client address */
	struct socks_addr dest;        /* destination as requested (atyp 0 before the request) */
	union cs_sockaddr upstream;    /* address connected to (family 0 until connected) */
	uint8_t proto;                 /* CONN_PROTO_* */
	uint8_t cmd;                   /* SOCKS5 command (0 before the request; SOCKS4's
	                                * CONNECT and BIND have the same numbers) */
	uint8_t status;                /* enum conn_status */
	uint8_t reply;                 /* SOCKS5 reply code sent, or CONN_REPLY_NONE (a
	                                * SOCKS4 client got 0x5A for 0x00, else 0x5B) */
	int64_t start_wall_ms;         /* accept time, Unix epoch ms */
	uint64_t start_ms;             /* accept time, monotonic ms */
	uint64_t connected_ms;         /* monotonic ms of the success reply, 0 if none */
	uint64_t end_ms;               /* monotonic ms at close, 0 while open */
	uint64_t bytes_up, bytes_down; /* delivered client->upstream / back */
	uint64_t packets_up, packets_down; /* reads from client / from upstream */
	const char *close_reason;          /* NULL while open */
	const char *acl_rule;              /* description of the deciding ACL rule, or NULL */
	uint8_t acl_decision;              /* CONN_ACL_* */
	uint8_t reject;                    /* CONN_REJ_* when status is CONN_ST_REJECTED */
};

#endif
