/* Internals shared by the connection state machine's files: conn.c (the
 * phase table and the driver), conn_finish.c (the one exit), conn_io.c
 * (handshake I/O) and one conn_<phase>.c per phase. Not for use outside
 * src/proxy/conn*.c. */
#ifndef CSOCKS_CONN_INTERNAL_H
#define CSOCKS_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/auth.h"
#include "proxy/conn.h"
#include "proxy/conn_events.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"

/* c->flags */
#define CONN_F_OPENED    0x01 /* conn_event_open was sent */
#define CONN_F_RESOLVED  0x02 /* c->addrs and c->dns_status are final */
#define CONN_F_BUSY      0x04 /* on the worker's busy list */
#define CONN_F_CERT_USER 0x08 /* the TLS client certificate named c->user */
#define CONN_F_SOCKS4    0x10 /* a SOCKS4 request: replies are SOCKS4's */
#define CONN_F_PROXY_HDR 0x20 /* the PROXY protocol header has been read */
#define CONN_F_LIMIT     0x40 /* holds a connection-limit slot (connlimit.h) */

/* A phase's result: NEXT run c->phase (which it may have changed) now,
 * WAIT an event, timer or answer will call conn_drive again, DONE c->reason
 * is set and conn_finish runs. */
enum step { STEP_NEXT, STEP_WAIT, STEP_DONE };

/* A row of the phase table (conn.c). on_timeout runs when t_phase fires in
 * this phase: it sets the outcome and returns DONE, or re-arms and returns
 * WAIT (the idle deadlines). */
struct conn_phase_def {
	const char *name;
	enum step (*run)(struct conn *c);
	enum step (*on_timeout)(struct conn *c);
};
extern const struct conn_phase_def conn_phases[CONN_PH_COUNT];

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

/* Outcomes (conn_finish.c). conn_fail: finish with reply rep
 * (CONN_REPLY_NONE: no reply) and reason; conn_close_io: the relay or the
 * socket ended, no reply can reach the client. Both return DONE. */
enum step conn_fail(struct conn *c, uint8_t rep, const char *reason);
enum step conn_close_io(struct conn *c, const char *reason);
/* The one exit: reply owed, session, log, every resource (conn_finish.c). */
void conn_finish(struct conn *c);

/* Handshake I/O (conn_io.c): read more into c->hs (NEXT when bytes came,
 * WAIT, or DONE on EOF or error); a recv() on the client socket that
 * returned n <= 0 (close on EOF or error, WAIT on EAGAIN, NEXT on EINTR);
 * drop n parsed bytes; queue bytes to send; send the queue (1 all sent, 0
 * wait for writability, -1 failed with the reason set). */
enum step conn_read_more(struct conn *c);
/* recv()/send() on the client, through its SSL once the TLS phase is done
 * (tls_io_read's conventions: bytes, 0 EOF, -1 with errno, EAGAIN). */
ssize_t conn_client_recv(struct conn *c, void *buf, size_t len, bool peek);
ssize_t conn_client_send(struct conn *c, const void *buf, size_t len);
enum step conn_hs_recv_failed(struct conn *c, ssize_t n);
void conn_consume(struct conn *c, size_t n);
void conn_queue(struct conn *c, const uint8_t *p, size_t n);
int conn_flush(struct conn *c);
/* The deadline of the handshake phases (GREETING .. REQUEST). */
enum step conn_timeout_handshake(struct conn *c);

/* The phases, in pipeline order, each with its deadline handler where it
 * has one of its own; each pair lives in the file named for the phase. */
enum step conn_ph_proxy_hdr(struct conn *c);
enum step conn_timeout_proxy_hdr(struct conn *c);
enum step conn_ph_tls(struct conn *c);
/* The handshake deadline in the TLS phase: counted, logged, closed. */
enum step conn_tls_timeout(struct conn *c);
/* Close the client's SSL (close_notify, best effort) and free it. */
void conn_tls_close(struct conn *c);
enum step conn_ph_client_auth(struct conn *c);
enum step conn_ph_greeting(struct conn *c);
enum step conn_ph_auth(struct conn *c);
enum step conn_ph_auth_wait(struct conn *c);
/* Start an auth check for tier (up: the RFC 1929 credentials, or NULL).
 * NEXT when answered at once, WAIT while the auth pool works. */
enum step conn_auth_begin(struct conn *c, enum auth_tier tier, const struct socks5_userpass *up);
/* Phase GSSAPI (conn_gssapi.c); one gss_accept_sec_context step for s on
 * the auth pool (s belongs to the step until conn_gssapi_settle takes it
 * back); the step's answer (conn_auth.c calls this); free the phase's
 * state (conn_free). */
enum step conn_ph_gssapi(struct conn *c);
enum step conn_auth_begin_gssapi(struct conn *c, struct gssapi_sess *s);
void conn_gssapi_settle(struct conn *c, struct auth_task *t);
void conn_gssapi_free(struct conn *c);
enum step conn_ph_request(struct conn *c);
enum step conn_ph_socks4_request(struct conn *c);
/* The request is read: the connect deadline runs from here on. */
void conn_request_done(struct conn *c);
enum step conn_ph_acl_name(struct conn *c);
enum step conn_ph_resolve(struct conn *c);
enum step conn_timeout_resolve(struct conn *c);
enum step conn_ph_acl_addr(struct conn *c);
enum step conn_ph_admit(struct conn *c);
/* Give back the slot the ADMIT phase took, if any (conn_finish). */
void conn_admit_release(struct conn *c);
enum step conn_ph_connect(struct conn *c);
enum step conn_timeout_connect(struct conn *c);
/* Close every connect attempt but the winner's (conn_finish: all). */
void conn_connect_release(struct conn *c);
enum step conn_ph_reply(struct conn *c);
/* The SOCKS reply rep in the client's protocol (SOCKS5, or SOCKS4's
 * granted/rejected), with BND b (NULL: 0.0.0.0:0). Returns its length. */
size_t conn_reply_write(const struct conn *c, uint8_t *out, size_t cap, uint8_t rep,
                        const struct sockaddr *b);
/* Queue the last success reply and record it (REPLY, BIND, UDP). */
void conn_reply_success(struct conn *c, const struct sockaddr *b);
enum step conn_ph_bind(struct conn *c);
enum step conn_timeout_bind(struct conn *c);
enum step conn_ph_udp(struct conn *c);
enum step conn_timeout_udp(struct conn *c);
/* The success reply is queued: the tunnel's data phase starts. */
enum step conn_relay_start(struct conn *c);
enum step conn_ph_relay(struct conn *c);
enum step conn_timeout_relay(struct conn *c);
/* c->info's byte and packet counters from the relay's (TCP). */
void conn_relay_sync_counters(struct conn *c);
/* Run c again in this loop turn's busy pass (conn_run_busy). */
void conn_busy_add(struct conn *c);

/* Timer callbacks beside their phases: CONNECT's stagger, RELAY's shaping. */
void conn_connect_on_stagger(struct timer *t);
void conn_relay_on_shape(struct timer *t);

/* Give up on the PROXY protocol header: log, count, close (conn_proxy_hdr.c). */
enum step conn_proxy_hdr_fail(struct conn *c, const char *why);

#endif
