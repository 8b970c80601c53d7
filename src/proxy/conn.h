/* A client connection: the state machine from accept to close.
 *
 * One function per phase (one file per phase, conn_<phase>.c), a tiny
 * driver (conn_drive, conn.c), and one exit (conn_finish, conn_finish.c)
 * that sends the reply still owed, records the close reason, cancels
 * timers, DNS and auth work, returns pipes and closes fds. The struct is
 * freed at the end of the worker's loop turn, never under a caller. All
 * functions run on the owning worker. */
#ifndef CSOCKS_CONN_H
#define CSOCKS_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/conn_types.h"
#include "event/timer.h"

struct worker;
struct conn_auth_job;
struct group_list;
struct session_live;
struct acl_snapshot;
struct acl_request;
struct udp_assoc;
struct bind_wait;

/* Room for the largest handshake message (RFC 1929: 513 bytes), so a
 * message never has to be parsed in pieces; bytes after the request
 * (pipelined data) stay here until they are sent upstream. */
#define CONN_HS_SIZE      520
#define CONN_MAX_ATTEMPTS 2   /* connect attempts in flight (Happy Eyeballs) */
#define CONN_HE_DELAY_MS  250 /* RFC 8305 "connection attempt delay" */

struct conn {
	struct conn_info info; /* public view: first, see conn_types.h */
	struct worker *w;
	struct conn *prev, *next; /* worker's list of open connections */
	struct conn *busy_next;   /* worker's busy list (relay budget used up) */

	uint8_t phase;       /* enum conn_phase */
	uint8_t flags;       /* CONN_F_* (conn_internal.h) */
	uint8_t reply_owed;  /* a request was read and no reply sent yet */
	uint8_t rep;         /* SOCKS5 reply to send when finishing with one owed */
	uint8_t dns_status;  /* RESOLVE_* of the lookup, once CONN_F_RESOLVED */
	uint8_t auth_result; /* 0 pending, 1 accepted, 2 refused */
	uint8_t up_slot;     /* which attempt won (io_up / attempt_fd index) */
	uint8_t attempt_ready[CONN_MAX_ATTEMPTS];
	uint8_t attempt_addr[CONN_MAX_ATTEMPTS]; /* index in addrs per attempt */
	const char *action;                      /* what the phase is doing, for log lines */
	const char *reason;                      /* close reason, set once */

	struct loop_io io_client;
	struct loop_io io_up[CONN_MAX_ATTEMPTS];
	int attempt_fd[CONN_MAX_ATTEMPTS];
	int last_errno;    /* last connect failure */
	uint8_t next_addr; /* next address to try */

	struct relay relay;     /* end[0] is the client from accept on */
	struct timer t_phase;   /* the current phase's deadline (its on_timeout runs) */
	struct timer t_stagger; /* CONNECT: start the next attempt (Happy Eyeballs) */
	struct timer t_shape;   /* RELAY: the bandwidth buckets have refilled */
	uint64_t last_active;   /* loop time of the last relay progress */
	uint64_t traffic_mark;  /* reads at the last conn_event_traffic */

	struct session_live *session; /* from conn_event_open, until close */
	struct acl_snapshot *acl;     /* rules now in force (ref), until close */
	char *acl_rule_own;           /* info.acl_rule copied out of an older snapshot
	                               * that a reload released (owned), or NULL */
	struct resolve_req *dns;      /* pending lookup, to cancel */
	struct conn_auth_job *auth;   /* pending auth job, to abandon */
	struct group_list *groups;    /* NSS groups after login (ref), or NULL */
	const char *auth_reason;      /* close reason when auth refused (static) */
	struct resolve_result addrs;  /* where to connect, in order */
	struct udp_assoc *udp;        /* UDP ASSOCIATE: the association (udp.c) */
	struct bind_wait *bind;       /* BIND: the listener (bind.c) */
	struct conn_gss *gss;         /* GSSAPI phase: context and buffers (conn_gssapi.c) */

	uint8_t out[SOCKS5_REPLY_MAX]; /* handshake bytes not yet sent */
	uint8_t out_len, out_off;
	uint16_t hs_len;
	uint8_t hs[CONN_HS_SIZE];
	char user[256];
};

/* Take over an accepted socket: create the connection and start it. */
void conn_accept(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len);
/* Run phases until one has to wait. */
void conn_drive(struct conn *c);
/* Drive the connections whose relay used up its budget last time (the
 * worker calls this once per loop turn, after events and timers). */
void conn_run_busy(struct worker *w);
/* Close now with reason (borrowed: must stay valid until conn_finish
 * returns); a reply owed is 0x01. */
void conn_terminate(struct conn *c, const char *reason);
/* Re-check a live tunnel against the current ACL (after a reload) and
 * close it, naming the rule, when the rules now block it. */
void conn_acl_recheck(struct conn *c);
/* Who is asking, for the ACL: rq zeroed, then the user (or the ACL's
 * anonymous name) and whatever else identifies the client; the caller sets
 * destination, port and protocol. For the UDP relay. */
void conn_acl_request(const struct conn *c, struct acl_request *rq);
/* Free a finished connection (the worker does this at the end of a turn). */
void conn_free(struct conn *c);

#endif
