/* BIND (RFC 1928 section 4): the listener that waits for one incoming
 * connection for a client.
 *
 * The listener is a TCP socket on an ephemeral port of the local address of
 * the client's control connection (the address the client reached us on:
 * same family and interface; IPv4-mapped used as IPv4), registered
 * level-triggered on the owning worker's loop; its events drive the
 * connection (conn_drive). The first reply carries its address.
 *
 * Peers. A peer is accepted when its address equals one of the addresses
 * the request's DST.ADDR stands for (the ACL-allowed addresses of the
 * connection: the literal, or what the name resolved to), or any peer when
 * DST.ADDR is all-zero (0.0.0.0 or ::). Ports are not compared: the peer
 * connects from an ephemeral port the client cannot know (in FTP's active
 * mode DST.PORT is the server's control port, not the data connection's
 * source port). A refused peer is closed at once (counted, logged at
 * debug) and the listener keeps waiting until the deadline
 * (server.bind_timeout_secs, the connection's phase timer: the second
 * reply is then 0x06 TTL expired, as for a connect timeout). The first
 * accepted peer closes the listener: one BIND, one connection.
 *
 * Lifetime as for UDP associations: bind_wait_start() in the BIND phase,
 * bind_wait_close() when the peer arrives and from conn_finish (idempotent),
 * bind_wait_free() from conn_free at the end of the loop turn. */
#ifndef CSOCKS_BIND_H
#define CSOCKS_BIND_H

#include <stdbool.h>
#include <sys/socket.h>

#include "event/resolver.h"

struct conn;
struct bind_wait;

/* True when peer may be BIND's incoming connection: some address in
 * expect is all-zero, or equals peer's address (ports ignored; IPv4-mapped
 * IPv6 equal to IPv4). Pure; unit-tested. */
bool bind_peer_allowed(const struct resolve_result *expect, const struct sockaddr *peer);

/* Open and register the listener of c, fill *bnd with its address. c->bind
 * is set even on failure (bind_wait_close cleans up). 0 or -errno. */
int bind_wait_start(struct conn *c, union cs_sockaddr *bnd);
/* Take the next acceptable peer: 1 with *fd (non-blocking, TCP_NODELAY,
 * owned by the caller) and *peer; 0 when none is waiting (refused peers
 * are closed on the way); -errno when the listener failed. */
int bind_wait_accept(struct conn *c, int *fd, union cs_sockaddr *peer);
/* Deregister and close the listener. Idempotent; c->bind may be NULL. */
void bind_wait_close(struct conn *c);
void bind_wait_free(struct bind_wait *b);

#endif
