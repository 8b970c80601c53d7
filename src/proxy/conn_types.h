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

/* Phases, in pipeline order (BIND, UDP and SOCKS4 were added after CLOSED,
 * so their numbers are not in order): CONNECT goes ... ACL_ADDR -> CONNECT
 * -> REPLY -> RELAY; BIND goes ... ACL_ADDR -> BIND -> RELAY; UDP ASSOCIATE
 * goes REQUEST -> UDP; a SOCKS4 CONNECT goes PROXY_HDR -> SOCKS4 ->
 * ACL_NAME -> ... as CONNECT. A connection only moves along its pipeline. */
enum conn_phase {
	CONN_PH_PROXY_HDR = 0, /* PROXY protocol header, then the client auth tier */
	CONN_PH_GREETING = 1,  /* read VER NMETHODS METHODS, answer the method */
	CONN_PH_AUTH = 2,      /* read RFC 1929 credentials */
	CONN_PH_AUTH_WAIT = 3, /* credentials being checked (maybe on the auth pool) */
	CONN_PH_REQUEST = 4,   /* read the SOCKS5 request */
	CONN_PH_ACL_NAME = 5,  /* ACL on the requested name (hook) */
	CONN_PH_RESOLVE = 6,   /* DNS for a domain destination */
	CONN_PH_ACL_ADDR = 7,  /* ACL on the resolved addresses (hook) */
	CONN_PH_CONNECT = 8,   /* connect to the addresses in turn */
	CONN_PH_REPLY = 9,     /* send the success reply */
	CONN_PH_RELAY = 10,    /* move bytes both ways */
	CONN_PH_CLOSED = 11,   /* finished; freed at the end of the loop turn */
	CONN_PH_BIND = 12,     /* BIND: listen, first reply, wait for the peer (bind.c) */
	CONN_PH_UDP = 13,      /* UDP ASSOCIATE: relay datagrams, watch the TCP (udp.c) */
	CONN_PH_SOCKS4 = 14,   /* read a SOCKS4/4a request (server.socks4) */
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
const char *conn_status_name(int status);

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
