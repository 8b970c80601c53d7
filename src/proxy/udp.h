/* UDP ASSOCIATE (RFC 1928 section 7): the datagram relay of one association.
 *
 * Sockets. An association owns one relay socket facing the client, bound to
 * the local address of its control connection (the address the client
 * reached us on: same family and interface, so BND.ADDR is usable; an
 * IPv4-mapped address is used as plain IPv4), port 0 (the kernel picks);
 * and at most one upstream socket per address family, unconnected (sendto
 * each destination, no bind: the kernel picks the port at the first send),
 * opened at the first datagram for that family. All are registered
 * level-triggered on the owning worker's loop; one readiness event handles
 * at most UDP_BURST datagrams, so a flood cannot starve other connections.
 *
 * Client datagrams are accepted only from the control connection's client
 * IP; the port is pinned by DST.PORT of the request when it is not zero,
 * else by the first datagram from that IP. DST.ADDR of the request is not
 * used for filtering: a client behind NAT cannot know its public address,
 * and the control connection already names the client's IP. Then the
 * header must parse (socks5_udp_parse) and FRAG must be 0 (fragmentation is
 * not supported, as RFC 1928 allows). Everything else is dropped and
 * counted.
 *
 * Destinations. Each distinct destination (address and port, or name and
 * port) gets an entry in a small per-association table (UDP_DEST_MAX,
 * least recently used replaced) holding the ACL decision (protocol udp) and,
 * for a name, the chosen address. The decision is made once per entry and
 * remade for every entry when an ACL reload hands the association a new
 * snapshot (udp_assoc_acl_reload). A name is checked by name first (a
 * final block needs no DNS), then resolved on the worker's resolver and
 * each address checked with the name (the ACL's two phases, acl_eval.h); the
 * first allowed address is used, and the name is looked up again after
 * UDP_NAME_TTL_MS (datagrams keep going to the old address meanwhile).
 * While a name resolves for the first time its datagrams wait in a
 * bounded per-association queue (UDP_PENDING_MAX datagrams,
 * UDP_PENDING_BYTES bytes): past that they are dropped and counted.
 *
 * Replies. A datagram on an upstream socket is relayed only when its
 * sender (address and port) is an allowed destination of the table, i.e.
 * one the client sent to recently (a port-restricted cone: strangers who
 * learn the upstream port cannot reach the client); it is wrapped with
 * socks5_udp_write_header(sender) and sent to the client's UDP address.
 *
 * Counters (into the connection's conn_info, proto CONN_PROTO_UDP):
 * packets_up / bytes_up count datagrams and payload bytes delivered to
 * destinations, packets_down / bytes_down datagrams and payload bytes
 * (SOCKS header excluded) delivered to the client. Drops are counted per
 * reason and logged with the association's summary line when it closes.
 *
 * Lifetime. udp_assoc_start() in the connection's UDP phase;
 * udp_assoc_close() from conn_finish (sockets deregistered and closed,
 * lookups cancelled, queue freed); udp_assoc_free() from conn_free, at the
 * end of the loop turn (an event for one of its loop_io may still be in the
 * loop's batch until then: loop.h). The association ends with its control
 * connection or after server.udp_timeout_secs without a relayed datagram in
 * either direction (the connection's phase timer, udp_assoc_last_active).
 * All functions run on the owning worker. */
#ifndef CSOCKS_UDP_H
#define CSOCKS_UDP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "event/resolver.h"

#define UDP_BURST         64    /* datagrams per socket per readiness event */
#define UDP_DEST_MAX      32    /* destinations remembered per association */
#define UDP_PENDING_MAX   8     /* datagrams waiting for names, per association */
#define UDP_PENDING_BYTES 65536 /* and their payload bytes */
#define UDP_NAME_TTL_MS   30000 /* a name in use is looked up again after this */
#define UDP_NAME_FAIL_MS  5000  /* a name that did not resolve is retried after this */

struct conn;
struct udp_assoc;

/* Which source a client datagram may come from (pure; unit-tested). */
struct udp_client_filter {
	union cs_sockaddr addr; /* client IP (IPv4-mapped unmapped); port once pinned */
	bool port_fixed;        /* addr's port is pinned */
};

/* client: the control connection's peer; port: DST.PORT of the request
 * (host order), 0 when the client did not name one. */
void udp_client_filter_init(struct udp_client_filter *f, const struct sockaddr *client,
                            uint16_t port);
/* True when a datagram from src is the client's; the first one from the
 * client's IP pins the port when the request did not. */
bool udp_client_filter_accept(struct udp_client_filter *f, const struct sockaddr *src);

/* Same address family, address and port (IPv4-mapped IPv6 equal to IPv4). */
bool udp_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b, bool ports);

/* Start the association of c (request parsed, session opened): open and
 * register the relay socket, fill *bnd with its address for the reply.
 * c->udp is set even on failure (udp_assoc_close cleans up). Returns 0 or
 * -errno. */
int udp_assoc_start(struct conn *c, union cs_sockaddr *bnd);
/* Loop time of the last relayed datagram (either direction) or of the
 * start; dropped datagrams do not count. */
uint64_t udp_assoc_last_active(const struct udp_assoc *a);
/* After an ACL reload: adopt the manager's current snapshot (c->acl) and
 * re-decide every remembered destination with it. */
void udp_assoc_acl_reload(struct conn *c);
/* Deregister and close every socket, cancel lookups, free queued
 * datagrams, log the summary. Idempotent; NULL-safe (c->udp may be NULL). */
void udp_assoc_close(struct conn *c);
/* Free the memory (after udp_assoc_close, at the end of the loop turn). */
void udp_assoc_free(struct udp_assoc *a);

#endif
