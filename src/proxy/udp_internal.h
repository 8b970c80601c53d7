/* Internals of the UDP ASSOCIATE relay, shared by udp.c (the sockets, both
 * directions, the association's lifetime), udp_dest.c (the destination
 * table: ACL decisions, name lookups, datagrams waiting for a name) and
 * udp_filter.c (the client filter). Not for use outside src/proxy/udp*.c. */
#ifndef CSOCKS_UDP_INTERNAL_H
#define CSOCKS_UDP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "event/resolver.h"
#include "protocol/socks5.h"
#include "proxy/udp.h"

/* Largest UDP payload, and room before it for the SOCKS header of a reply
 * (RSV FRAG ATYP IPv6 PORT = 22 bytes), so replies are wrapped in place. */
#define UDP_DATAGRAM_MAX 65535
#define UDP_HDR_ROOM     22

/* udp_dest.state */
enum {
	UDP_DEST_EMPTY = 0,     /* free slot */
	UDP_DEST_RESOLVING = 1, /* first lookup of a name in flight; datagrams queue */
	UDP_DEST_ALLOW = 2,     /* addr is where datagrams go */
	UDP_DEST_BLOCK = 3,     /* the ACL blocks it: datagrams dropped */
	UDP_DEST_FAILED = 4,    /* the name did not resolve: dropped until until_ms */
};

struct udp_lookup;

/* A destination the client sent to. */
struct udp_dest {
	uint8_t state;          /* UDP_DEST_* */
	uint16_t port;          /* requested port (host order) */
	char *name;             /* requested name (owned), NULL for an address */
	union cs_sockaddr addr; /* the address (ALLOW), or the requested one */
	uint64_t used_ms;       /* last datagram either way (replacement order) */
	uint64_t until_ms;      /* names: look up again from this time on */
	struct udp_lookup *dns; /* lookup in flight (first or refresh), or NULL */
};

/* A name lookup in flight; freed when it completes or is cancelled. */
struct udp_lookup {
	struct udp_assoc *a;
	struct udp_dest *d;
	struct resolve_req *req;
	struct resolve_result res; /* filled by the resolver */
};

/* A datagram waiting for its destination's first lookup. */
struct udp_pending {
	struct udp_pending *next;
	struct udp_dest *d;
	uint32_t len;
	uint8_t data[];
};

/* Why datagrams were dropped (logged at close). */
struct udp_drops {
	uint64_t foreign;   /* not from the client's address (and port) */
	uint64_t malformed; /* header did not parse */
	uint64_t frag;      /* FRAG != 0 */
	uint64_t acl;       /* destination blocked by the ACL */
	uint64_t dns;       /* destination name did not resolve */
	uint64_t queue;     /* no room while names resolve */
	uint64_t send;      /* sendto failed (buffer full, unreachable, too big) */
	uint64_t reply;     /* upstream datagram from a sender the client did not contact */
};

struct udp_assoc {
	struct conn *c;
	bool closed;
	int relay_fd;  /* faces the client */
	int out_fd[2]; /* upstream: [0] IPv4, [1] IPv6; -1 until needed */
	struct loop_io io_relay;
	struct loop_io io_out[2];
	union cs_sockaddr relay_addr; /* BND.ADDR/PORT, for the log */
	struct udp_client_filter filter;
	uint64_t last_active;
	struct udp_pending *pend_head, *pend_tail;
	uint32_t n_pend, pend_bytes;
	struct udp_drops drops;
	struct udp_dest dests[UDP_DEST_MAX];
};

/* The hot-path compare: both already unmapped (everything inside an
 * association is), address and port. */
static inline bool udp_same_endpoint(const union cs_sockaddr *a, const union cs_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr &&
		       a->in.sin_port == b->in.sin_port;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr)) == 0;
}

/* udp.c */
struct loop *udp_loop_of(const struct udp_assoc *a);
uint64_t udp_now_of(const struct udp_assoc *a);
void udp_send_up(struct udp_assoc *a, struct udp_dest *d, const uint8_t *p, size_t n);

/* udp_dest.c */
void udp_dest_clear(struct udp_dest *d);
void udp_dest_decide(struct udp_assoc *a, struct udp_dest *d);
struct udp_dest *udp_dest_get(struct udp_assoc *a, const struct socks_addr *dst);
struct udp_dest *udp_dest_by_sender(struct udp_assoc *a, const union cs_sockaddr *src);
bool udp_pending_add(struct udp_assoc *a, struct udp_dest *d, const uint8_t *p, size_t n);
void udp_pending_flush(struct udp_assoc *a, struct udp_dest *d);

#endif
