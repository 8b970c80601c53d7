/* Internals shared by the connection state machine's files (conn.c: the
 * driver, connect, relay and the exit; conn_handshake.c: PROXY header,
 * greeting, authentication and the request; conn_acl.c: the ACL phases).
 * Not for use outside src/server/conn*.c. */
#ifndef CSOCKS_CONN_INTERNAL_H
#define CSOCKS_CONN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/auth.h"
#include "proxy/conn.h"
#include "proxy/worker.h"

/* c->flags */
#define CONN_F_OPENED     0x01 /* conn_event_open was sent */
#define CONN_F_RESOLVED   0x02 /* c->addrs is final (c->dns_status in rep) */
#define CONN_F_BUSY       0x04 /* on the worker's busy list */
#define CONN_F_CONNECTING 0x08 /* CONNECT phase started its attempts */
#define CONN_F_SOCKS4     0x10 /* a SOCKS4 request: replies are SOCKS4's */
#define CONN_F_PROXY_HDR  0x20 /* the PROXY protocol header has been read */
#define CONN_F_LIMIT      0x40 /* holds a connection-limit slot (connlimit.h) */

enum step { STEP_NEXT, STEP_WAIT, STEP_DONE };

/* An authentication check (auth/auth.h). Heap-allocated: when it goes to
 * the auth pool it must outlive a connection that closes meanwhile. */
struct conn_auth_job {
	struct auth_task task; /* in and out; task.owner = this */
	struct worker_msg msg; /* comes back through the mailbox */
	struct worker *w;
	struct conn *conn; /* NULL once abandoned (worker thread only) */
};

static inline const struct csocks_config *cfg_of(const struct conn *c)
{
	return c->w->sh->cfg;
}

static inline int client_fd(const struct conn *c)
{
	return c->relay.end[RELAY_CLIENT].fd;
}

/* Outcomes (conn.c). conn_fail: finish with reply rep (CONN_REPLY_NONE: no
 * reply) and reason; conn_close_io: the relay or the socket ended. */
enum step conn_fail(struct conn *c, uint8_t rep, const char *reason);
enum step conn_close_io(struct conn *c, const char *reason);
/* Handshake I/O (conn.c): read more into c->hs (STEP_WAIT, or DONE on EOF
 * or error); drop n parsed bytes; queue bytes to send; send the queue. */
enum step conn_read_more(struct conn *c);
/* A handshake recv() on the client socket returned n <= 0: close on EOF
 * or error, WAIT (can_read cleared) on EAGAIN, NEXT on EINTR. */
enum step conn_hs_recv_failed(struct conn *c, ssize_t n);
void conn_consume(struct conn *c, size_t n);
void conn_queue(struct conn *c, const uint8_t *p, size_t n);
int conn_flush(struct conn *c);
/* The request passed authentication and the ACL: take a connection-limit
 * slot when [qos] limits are on (refused: reply 0x02, a rejected session)
 * and open the session (conn_acl.c). STEP_NEXT when admitted. */
enum step conn_admit(struct conn *c);
/* Give back the slot conn_admit took, if any (conn_finish). */
void conn_admit_release(struct conn *c);
/* The one exit (conn.c). */
void conn_finish(struct conn *c);

/* Phases (one function each; the driver in conn.c calls them by c->phase). */
enum step conn_ph_proxy_hdr(struct conn *c);
enum step conn_ph_greeting(struct conn *c);
enum step conn_ph_auth(struct conn *c);
enum step conn_ph_auth_wait(struct conn *c);
enum step conn_ph_request(struct conn *c);
enum step conn_ph_socks4(struct conn *c);
enum step conn_ph_acl_name(struct conn *c);
enum step conn_ph_acl_addr(struct conn *c);

/* Give up on the PROXY protocol header: log, count, close (conn_handshake.c). */
enum step conn_proxy_hdr_fail(struct conn *c, const char *why);

#endif
