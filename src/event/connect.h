/* Outgoing TCP connections: non-blocking connect() without a prior bind()
 * (binding first exhausts ephemeral ports under churn), TCP_NODELAY, and the
 * mapping from connect errors to SOCKS5 reply codes. The attempt sequence
 * (Happy Eyeballs) is driven by the connection's CONNECT phase. */
#ifndef CSOCKS_CONNECT_H
#define CSOCKS_CONNECT_H

#include <stdint.h>
#include <sys/socket.h>

/* Start connecting to sa. Returns 0 with *fd set (connection in progress or
 * already established: wait for writability, then connect_result), or
 * -errno when the attempt failed at once (*fd = -1). */
int connect_start(const struct sockaddr *sa, socklen_t len, int *fd);

/* Outcome of a finished attempt (after the fd became writable): 0 when
 * connected, -EINPROGRESS if not finished yet, else -errno (SO_ERROR). */
int connect_result(int fd);

/* SOCKS5 reply code for a failed connect's errno (RFC 1928 section 6):
 * ECONNREFUSED 0x05; ENETUNREACH/ENETDOWN 0x03; EHOSTUNREACH/EHOSTDOWN and
 * ETIMEDOUT (the kernel gave up on SYNs) 0x04; anything else 0x01. */
uint8_t connect_reply_for_errno(int err);

#endif
