/* The SOCKS5 connection state machine: one function per phase, a tiny
 * driver, one exit (STYLE patterns 13-15).
 *
 * A phase function returns STEP_NEXT (go on with c->phase, which it may
 * have changed), STEP_WAIT (an event, timer or answer will call
 * conn_drive again) or STEP_DONE (c->reason is set; conn_finish runs).
 * Handshake bytes a phase wants to send are queued in c->out; the driver
 * sends them before running the next phase, so a reply always leaves
 * before any relayed byte.
 *
 * This file holds the driver, resolve, connect, reply, relay, BIND/UDP
 * dispatch and the exit; conn_handshake.c the phases up to the request,
 * conn_acl.c the ACL phases; conn_internal.h what they share. */
#include "server/conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth.h"
#include "acl/acl_compile.h"
#include "acl/acl_manager.h"
#include "api/metrics.h"
#include "config/config.h"
#include "protocol/proxyproto.h"
#include "protocol/sockaddr.h"
#include "protocol/socks4.h"
#include "server/server.h"
#include "server/bind.h"
#include "server/conn_events.h"
#include "server/connect.h"
#include "server/connlimit.h"
#include "server/udp.h"
#include "server/worker.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "server/conn_internal.h"

const char *conn_phase_name(int phase)
{
	static const char *const names[] = {
	    "proxy_header", "greeting", "auth",     "auth_wait", "request",
	    "acl_name",     "resolve",  "acl_addr", "connect",   "reply",
	    "relay",        "closed",   "bind",     "udp",       "socks4_request",
	};
	if (phase < 0 || (size_t)phase >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[phase];
}

const char *conn_status_name(int status)
{
	static const char *const names[] = {"handshake", "active", "closed", "failed", "rejected"};
	if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[status];
}

/* ---- outcomes ---------------------------------------------------------- */

/* Finish with a SOCKS reply code (sent if a reply is owed). */
enum step conn_fail(struct conn *c, uint8_t rep, const char *reason)
{
	c->rep = rep;
	if (!c->reason)
		c->reason = reason;
	return STEP_DONE;
}

/* Finish because the client's socket failed: no reply can reach it. */
enum step conn_close_io(struct conn *c, const char *reason)
{
	c->reply_owed = 0;
	if (!c->reason)
		c->reason = reason;
	return STEP_DONE;
}

/* ---- handshake I/O ----------------------------------------------------- */

/* Read more handshake bytes. NEXT when some arrived (parse again). */
enum step conn_read_more(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (c->hs_len >= CONN_HS_SIZE)
		return conn_close_io(c, "handshake message too long"); /* cannot happen */
	if (!e->can_read)
		return STEP_WAIT;
	ssize_t n = recv(e->fd, c->hs + c->hs_len, CONN_HS_SIZE - c->hs_len, MSG_DONTWAIT);
	if (n > 0) {
		c->hs_len = (uint16_t)(c->hs_len + n);
		return STEP_NEXT;
	}
	return conn_hs_recv_failed(c, n);
}

enum step conn_hs_recv_failed(struct conn *c, ssize_t n)
{
	if (n == 0)
		return conn_close_io(c, "client closed during handshake");
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		c->relay.end[RELAY_CLIENT].can_read = 0;
		return STEP_WAIT;
	}
	if (errno == EINTR)
		return STEP_NEXT;
	return conn_close_io(c, "client error during handshake");
}

void conn_consume(struct conn *c, size_t n)
{
	CSOCKS_BUG_ON(n > c->hs_len);
	memmove(c->hs, c->hs + n, c->hs_len - n);
	c->hs_len = (uint16_t)(c->hs_len - n);
}

void conn_queue(struct conn *c, const uint8_t *p, size_t n)
{
	CSOCKS_BUG_ON(c->out_len + n > sizeof(c->out));
	memcpy(c->out + c->out_len, p, n);
	c->out_len = (uint8_t)(c->out_len + n);
}

/* 1 all sent, 0 wait for writability, -1 failed (reason set). */
int conn_flush(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	while (c->out_off < c->out_len) {
		if (!e->can_write)
			return 0;
		ssize_t n = send(e->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off = (uint8_t)(c->out_off + n);
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			e->can_write = 0;
			return 0;
		} else if (!(n < 0 && errno == EINTR)) {
			conn_close_io(c, "client error while sending");
			return -1;
		}
	}
	c->out_len = c->out_off = 0;
	return 1;
}

static void conn_on_resolved(void *arg, int status)
{
	struct conn *c = arg;
	c->dns = NULL;
	c->rep = (uint8_t)status;
	c->flags |= CONN_F_RESOLVED;
	conn_drive(c);
}

static enum step conn_ph_resolve(struct conn *c)
{
	const struct socks_addr *d = &c->info.dest;
	c->action = "resolving";
	if (c->dns)
		return STEP_WAIT;
	if (!(c->flags & CONN_F_RESOLVED)) {
		if (d->atyp != SOCKS5_ATYP_DOMAIN) {
			struct sockaddr_storage ss;
			socklen_t len;
			if (socks_addr_to_sockaddr(d, &ss, &len) < 0)
				return conn_fail(c, SOCKS5_REP_ATYP_NOT_SUPPORTED,
				                 "address type not supported");
			sockaddr_unmap_v4(&ss, &len);
			memcpy(&c->addrs.addr[0], &ss, len);
			c->addrs.n = 1;
			c->phase = CONN_PH_ACL_ADDR;
			return STEP_NEXT;
		}
		int st = resolver_lookup(c->w->resolver, d->u.domain.name, d->port, &c->addrs,
		                         conn_on_resolved, c, &c->dns);
		if (st < 0)
			return STEP_WAIT;
		c->rep = (uint8_t)st;
		c->flags |= CONN_F_RESOLVED;
	}
	int st = c->rep;
	c->rep = CONN_REPLY_NONE;
	switch (st) {
	case RESOLVE_OK:
		c->phase = CONN_PH_ACL_ADDR;
		return STEP_NEXT;
	case RESOLVE_NXDOMAIN:
		return conn_fail(c, SOCKS5_REP_HOST_UNREACHABLE, "dns: no such name");
	case RESOLVE_TIMEOUT:
		return conn_fail(c, SOCKS5_REP_HOST_UNREACHABLE, "dns timeout");
	default:
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "dns failure");
	}
}

static int attempts_in_flight(const struct conn *c)
{
	int n = 0;
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++)
		n += c->attempt_fd[k] >= 0;
	return n;
}

static void attempt_close(struct conn *c, int k)
{
	if (c->attempt_fd[k] < 0)
		return;
	loop_io_del(c->w->loop, &c->io_up[k]);
	close(c->attempt_fd[k]);
	c->attempt_fd[k] = -1;
	c->attempt_ready[k] = 0;
}

/* Start connecting to the next address in a free slot. */
static void attempt_start(struct conn *c)
{
	int k = c->attempt_fd[0] < 0 ? 0 : 1;
	CSOCKS_BUG_ON(c->attempt_fd[k] >= 0 || c->next_addr >= c->addrs.n);
	uint8_t ai = c->next_addr++;
	union cs_sockaddr *a = &c->addrs.addr[ai];
	int fd;
	int err = connect_start(&a->sa, cs_sockaddr_len(a), &fd);
	if (err) {
		c->last_errno = err;
		return;
	}
	if (loop_io_add(c->w->loop, &c->io_up[k], fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
		c->last_errno = errno;
		close(fd);
		return;
	}
	c->attempt_fd[k] = fd;
	c->attempt_ready[k] = 0;
	c->attempt_addr[k] = ai;
}

static const char *connect_reason(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connection refused";
	case ENETUNREACH:
		return "network unreachable";
	case EHOSTUNREACH:
		return "host unreachable";
	case ETIMEDOUT:
		return "connect timed out (kernel)";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors";
	}
	return "connect failed";
}

static enum step connect_won(struct conn *c, int k)
{
	for (int o = 0; o < CONN_MAX_ATTEMPTS; o++)
		if (o != k)
			attempt_close(c, o);
	loop_timer_cancel(c->w->loop, &c->t_aux);
	c->up_slot = (uint8_t)k;
	struct relay_end *up = &c->relay.end[RELAY_UPSTREAM];
	up->fd = c->attempt_fd[k];
	up->can_read = 1; /* a read tells; cheaper than waiting for an edge */
	up->can_write = 1;
	c->info.upstream = c->addrs.addr[c->attempt_addr[k]];
	c->phase = CONN_PH_REPLY;
	return STEP_NEXT;
}

static enum step conn_ph_connect(struct conn *c)
{
	c->action = "connecting";
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++) {
		if (c->attempt_fd[k] < 0 || !c->attempt_ready[k])
			continue;
		c->attempt_ready[k] = 0;
		int err = connect_result(c->attempt_fd[k]);
		if (err == EINPROGRESS)
			continue;
		if (err == 0)
			return connect_won(c, k);
		c->last_errno = err;
		attempt_close(c, k);
	}
	while (attempts_in_flight(c) == 0 && c->next_addr < c->addrs.n)
		attempt_start(c);
	if (attempts_in_flight(c) == 0)
		return conn_fail(c, connect_reply_for_errno(c->last_errno),
		                 connect_reason(c->last_errno));
	/* Happy Eyeballs: if this attempt is slow, start the next one too. */
	if (!timer_armed(&c->t_aux) && attempts_in_flight(c) < CONN_MAX_ATTEMPTS &&
	    c->next_addr < c->addrs.n)
		loop_timer_in(c->w->loop, &c->t_aux, CONN_HE_DELAY_MS);
	return STEP_WAIT;
}

static void on_aux_timer(struct timer *t)
{
	struct conn *c = t->data;
	if (c->phase == CONN_PH_RELAY) { /* shaping: the buckets have refilled */
		conn_drive(c);
		return;
	}
	if (c->phase != CONN_PH_CONNECT)
		return;
	if (attempts_in_flight(c) < CONN_MAX_ATTEMPTS && c->next_addr < c->addrs.n)
		attempt_start(c);
	conn_drive(c);
}

static void arm_idle(struct conn *c)
{
	uint32_t idle = cfg_of(c)->server.idle_timeout_secs;
	if (idle)
		loop_timer_in(c->w->loop, &c->t_phase, (uint64_t)idle * 1000);
	else
		loop_timer_cancel(c->w->loop, &c->t_phase);
}

/* The reply rep (a SOCKS5 code: what sessions and counters record) in the
 * client's protocol. SOCKS4 knows only granted (0x5A) and rejected (0x5B),
 * and carries no IPv6 BND (written as 0.0.0.0:0). */
static size_t write_reply(const struct conn *c, uint8_t *out, size_t cap, uint8_t rep,
                          const struct sockaddr *b)
{
	if (c->flags & CONN_F_SOCKS4)
		return socks4_write_reply(
		    out, cap, rep == SOCKS5_REP_SUCCESS ? SOCKS4_REP_GRANTED : SOCKS4_REP_REJECTED,
		    b);
	return socks5_write_reply(out, cap, rep, b);
}

/* Queue the (last) success reply with BND.ADDR/PORT b (NULL: 0.0.0.0:0). */
static void reply_success(struct conn *c, const struct sockaddr *b)
{
	uint8_t out[SOCKS5_REPLY_MAX];
	conn_queue(c, out, write_reply(c, out, sizeof(out), SOCKS5_REP_SUCCESS, b));
	c->reply_owed = 0;
	c->info.reply = SOCKS5_REP_SUCCESS;
	stats_add(&c->w->stats.replies[SOCKS5_REP_SUCCESS], 1);
	c->info.connected_ms = loop_now(c->w->loop);
	metrics_handshake_latency((double)(c->info.connected_ms - c->info.start_ms) / 1000.0);
}

static enum step relay_start(struct conn *c);

static enum step conn_ph_reply(struct conn *c)
{
	struct sockaddr_storage bnd;
	socklen_t len = sizeof(bnd);
	c->action = "sending reply";
	const struct sockaddr *b = (const struct sockaddr *)&bnd;
	if (getsockname(c->relay.end[RELAY_UPSTREAM].fd, (struct sockaddr *)&bnd, &len) < 0)
		b = NULL;
	reply_success(c, b);
	return relay_start(c);
}

/* After the success reply: the tunnel's data phase. */
static enum step relay_start(struct conn *c)
{
	/* Bytes the client pipelined after its request go first. */
	if (c->hs_len)
		relay_preload(&c->relay, RELAY_UP, c->hs, c->hs_len);
	c->last_active = loop_now(c->w->loop);
	arm_idle(c);
	c->phase = CONN_PH_RELAY;
	return STEP_NEXT;
}

static void sync_counters(struct conn *c)
{
	if (c->info.proto == CONN_PROTO_UDP)
		return; /* udp.c counts datagrams into c->info itself */
	c->info.bytes_up = c->relay.dir[RELAY_UP].bytes;
	c->info.bytes_down = c->relay.dir[RELAY_DOWN].bytes;
	c->info.packets_up = c->relay.dir[RELAY_UP].reads;
	c->info.packets_down = c->relay.dir[RELAY_DOWN].reads;
}

static const char *relay_error_reason(const struct relay *r)
{
	bool client = r->err_end == RELAY_CLIENT;
	switch (r->err) {
	case ECONNRESET:
		return client ? "client reset" : "upstream reset";
	case EPIPE:
		return client ? "client closed" : "upstream closed";
	case ETIMEDOUT:
		return client ? "client timed out" : "upstream timed out";
	}
	return client ? "client error" : "upstream error";
}

static void busy_add(struct conn *c)
{
	if (c->flags & CONN_F_BUSY)
		return;
	c->flags |= CONN_F_BUSY;
	c->busy_next = c->w->busy;
	c->w->busy = c;
}

/* Bandwidth shaping ([qos.htb]): before a relay turn, how much the user
 * may read (r->read_cap); after it, charge what was read. 0 from the
 * buckets means wait: *wait_ms is when to try again. */
static bool shaped(const struct conn *c)
{
	const struct connlimit *lim = c->w->sh->limits;
	return (c->flags & CONN_F_LIMIT) && connlimit_shaping(lim);
}

static uint64_t shape(struct conn *c, uint64_t used, uint64_t *wait_ms)
{
	uint64_t wait_ns;
	uint64_t allow = connlimit_bw(c->w->sh->limits, conn_user_name(cfg_of(c), &c->info), used,
	                              (uint64_t)time_mono_ns(), &wait_ns);
	*wait_ms = wait_ns / 1000000 + 1;
	return allow;
}

static enum step conn_ph_relay(struct conn *c)
{
	struct relay *r = &c->relay;
	uint64_t reads0 = r->dir[0].reads + r->dir[1].reads;
	uint64_t up0 = r->dir[0].bytes, down0 = r->dir[1].bytes;
	uint64_t wait_ms = 0;
	c->action = "relaying";
	if (shaped(c))
		r->read_cap = shape(c, 0, &wait_ms);
	enum relay_status st = relay_run(r, RELAY_BUDGET);
	if (shaped(c)) { /* the last turn's reads are charged too */
		shape(c, r->read_used, &wait_ms);
		if (st == RELAY_CAPPED && !timer_armed(&c->t_aux))
			loop_timer_in(c->w->loop, &c->t_aux, wait_ms);
	}
	struct stats *s = &c->w->stats;
	if (r->dir[0].bytes != up0)
		stats_add(&s->bytes_up, r->dir[0].bytes - up0);
	if (r->dir[1].bytes != down0)
		stats_add(&s->bytes_down, r->dir[1].bytes - down0);
	uint64_t reads = r->dir[0].reads + r->dir[1].reads;
	if (reads != reads0) {
		c->last_active = loop_now(c->w->loop);
		uint32_t every = cfg_of(c)->sessions.traffic_update_packet_interval;
		if (every && reads - c->traffic_mark >= every) {
			c->traffic_mark = reads;
			sync_counters(c);
			conn_event_traffic(c->session, &c->info);
		}
	}
	switch (st) {
	case RELAY_WAIT:
		return STEP_WAIT;
	case RELAY_BUSY:
		busy_add(c);
		return STEP_WAIT;
	case RELAY_CAPPED: /* the shaping timer (t_aux) runs it again */
		return STEP_WAIT;
	case RELAY_DONE:
		return conn_close_io(c, "closed");
	case RELAY_ERROR:
		return conn_close_io(c, relay_error_reason(r));
	}
	return STEP_WAIT;
}

void conn_run_busy(struct worker *w)
{
	struct conn *c = w->busy;
	w->busy = NULL;
	while (c) {
		struct conn *next = c->busy_next;
		c->busy_next = NULL;
		c->flags &= (uint8_t)~CONN_F_BUSY;
		conn_drive(c);
		c = next;
	}
}

/* BIND (bind.c): listen on the control connection's address and send the
 * first reply; then wait for the peer (deadline server.bind_timeout_secs,
 * reply 0x06 on expiry), send the second reply with its address and relay.
 * While waiting, the client's socket is only peeked: EOF or an error ends
 * it; bytes the client sends early stay in its socket for the relay. */
static enum step conn_ph_bind(struct conn *c)
{
	union cs_sockaddr a;
	if (!c->bind) {
		c->action = "binding";
		int err = bind_wait_start(c, &a);
		if (err) {
			log_debug("conn %llu: bind: %s", (unsigned long long)c->info.id,
			          strerror(err));
			return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "bind: cannot listen");
		}
		uint8_t out[SOCKS5_REPLY_MAX];
		conn_queue(c, out, socks5_write_reply(out, sizeof(out), SOCKS5_REP_SUCCESS, &a.sa));
		/* reply_owed stays set: the second reply is owed now. */
		loop_timer_in(c->w->loop, &c->t_phase,
		              (uint64_t)cfg_of(c)->server.bind_timeout_secs * 1000);
		return STEP_NEXT; /* the driver sends the first reply, then waits here */
	}
	c->action = "waiting for the bind peer";
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (e->can_read) {
		uint8_t b;
		ssize_t n = recv(e->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			return conn_close_io(c, "client closed while waiting for the bind peer");
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			e->can_read = 0;
		else if (n < 0 && errno != EINTR)
			return conn_close_io(c, "client error while waiting for the bind peer");
	}
	int fd;
	int r = bind_wait_accept(c, &fd, &a);
	if (r == 0)
		return STEP_WAIT;
	if (r < 0) {
		log_debug("conn %llu: bind: accept: %s", (unsigned long long)c->info.id,
		          strerror(fd));
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "bind: accept failed");
	}
	bind_wait_close(c); /* one BIND, one connection */
	/* The peer takes the upstream slot, so conn_finish closes it. */
	if (loop_io_add(c->w->loop, &c->io_up[0], fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
		close(fd);
		return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "epoll_ctl failed");
	}
	c->attempt_fd[0] = fd;
	c->up_slot = 0;
	c->relay.end[RELAY_UPSTREAM].fd = fd;
	c->relay.end[RELAY_UPSTREAM].can_read = 1;
	c->relay.end[RELAY_UPSTREAM].can_write = 1;
	c->info.upstream = a;
	reply_success(c, &a.sa);
	return relay_start(c);
}

/* UDP ASSOCIATE (udp.c): open the association and reply with the relay
 * socket's address; then the datagrams flow on udp.c's sockets and this
 * phase only watches the control connection, which carries nothing more
 * (RFC 1928 section 7): bytes on it are read and dropped, EOF or an error
 * ends the association, as does server.udp_timeout_secs without a
 * relayed datagram (the phase timer). */
static enum step conn_ph_udp(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (!c->udp) {
		union cs_sockaddr bnd;
		c->action = "opening udp association";
		enum step st = conn_admit(c);
		if (st != STEP_NEXT)
			return st;
		int err = udp_assoc_start(c, &bnd);
		if (err) {
			log_debug("conn %llu: udp: %s", (unsigned long long)c->info.id,
			          strerror(err));
			return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE,
			                 "udp: cannot open relay socket");
		}
		reply_success(c, &bnd.sa);
		c->hs_len = 0; /* nothing may follow the request */
		loop_timer_in(c->w->loop, &c->t_phase,
		              (uint64_t)cfg_of(c)->server.udp_timeout_secs * 1000);
		return STEP_NEXT;
	}
	c->action = "relaying udp";
	for (int i = 0; i < 16 && e->can_read; i++) {
		ssize_t n = recv(e->fd, c->hs, sizeof(c->hs), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0)
			return conn_close_io(c, "closed");
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			e->can_read = 0;
		else if (errno != EINTR)
			return conn_close_io(c, "client error on the control connection");
	}
	if (e->can_read)
		busy_add(c); /* more to drop: next turn, after the others */
	return STEP_WAIT;
}

static enum step conn_ph_closed(struct conn *c)
{
	(void)c;
	return STEP_WAIT;
}

static enum step (*const phase_fn[])(struct conn *) = {
    [CONN_PH_PROXY_HDR] = conn_ph_proxy_hdr, [CONN_PH_GREETING] = conn_ph_greeting,
    [CONN_PH_AUTH] = conn_ph_auth,           [CONN_PH_AUTH_WAIT] = conn_ph_auth_wait,
    [CONN_PH_REQUEST] = conn_ph_request,     [CONN_PH_ACL_NAME] = conn_ph_acl_name,
    [CONN_PH_RESOLVE] = conn_ph_resolve,     [CONN_PH_ACL_ADDR] = conn_ph_acl_addr,
    [CONN_PH_CONNECT] = conn_ph_connect,     [CONN_PH_REPLY] = conn_ph_reply,
    [CONN_PH_RELAY] = conn_ph_relay,         [CONN_PH_CLOSED] = conn_ph_closed,
    [CONN_PH_BIND] = conn_ph_bind,           [CONN_PH_UDP] = conn_ph_udp,
    [CONN_PH_SOCKS4] = conn_ph_socks4,
};

/* ---- driver, events, timers -------------------------------------------- */

void conn_drive(struct conn *c)
{
	while (c->phase != CONN_PH_CLOSED) {
		if (c->out_off < c->out_len) {
			int r = conn_flush(c);
			if (r < 0) {
				conn_finish(c);
				return;
			}
			if (r == 0)
				return;
		}
		enum step s = phase_fn[c->phase](c);
		if (s == STEP_WAIT)
			return;
		if (s == STEP_DONE) {
			conn_finish(c);
			return;
		}
	}
}

static void on_client_io(struct loop_io *io, uint32_t events)
{
	struct conn *c = io->data;
	if (events & LOOP_READ)
		c->relay.end[RELAY_CLIENT].can_read = 1;
	if (events & LOOP_WRITE)
		c->relay.end[RELAY_CLIENT].can_write = 1;
	conn_drive(c);
}

static void on_upstream_io(struct loop_io *io, uint32_t events)
{
	struct conn *c = io->data;
	int k = io == &c->io_up[0] ? 0 : 1;
	if (c->phase == CONN_PH_CONNECT) {
		c->attempt_ready[k] = 1;
	} else {
		if (events & LOOP_READ)
			c->relay.end[RELAY_UPSTREAM].can_read = 1;
		if (events & LOOP_WRITE)
			c->relay.end[RELAY_UPSTREAM].can_write = 1;
	}
	conn_drive(c);
}

static void on_phase_timer(struct timer *t)
{
	struct conn *c = t->data;
	switch (c->phase) {
	case CONN_PH_PROXY_HDR:
		if (cfg_of(c)->server.proxy_protocol && !(c->flags & CONN_F_PROXY_HDR)) {
			conn_proxy_hdr_fail(c, "no PROXY protocol header (handshake timeout)");
			break;
		}
		conn_close_io(c, "handshake timeout");
		break;
	case CONN_PH_SOCKS4:
	case CONN_PH_GREETING:
	case CONN_PH_AUTH:
	case CONN_PH_AUTH_WAIT:
	case CONN_PH_REQUEST:
		conn_close_io(c, "handshake timeout");
		break;
	case CONN_PH_ACL_NAME:
	case CONN_PH_RESOLVE:
		conn_fail(c, SOCKS5_REP_HOST_UNREACHABLE, "dns timeout");
		break;
	case CONN_PH_ACL_ADDR:
	case CONN_PH_CONNECT:
	case CONN_PH_REPLY:
		conn_fail(c, SOCKS5_REP_TTL_EXPIRED, "connect timeout");
		break;
	case CONN_PH_RELAY: {
		/* The idle deadline is not moved on every read (that would be
		 * a heap operation per packet): reads stamp last_active and
		 * the timer, when it fires, re-arms for the rest. */
		uint64_t idle = (uint64_t)cfg_of(c)->server.idle_timeout_secs * 1000;
		uint64_t now = loop_now(c->w->loop);
		if (timer_before(now, c->last_active + idle)) {
			timer_arm(loop_timers(c->w->loop), &c->t_phase, c->last_active + idle);
			return;
		}
		conn_close_io(c, "idle timeout");
		break;
	}
	case CONN_PH_BIND:
		/* No peer in time: RFC 1928 has no code for it; 0x06 as for
		 * a connect timeout. */
		conn_fail(c, SOCKS5_REP_TTL_EXPIRED, "bind timeout");
		break;
	case CONN_PH_UDP: {
		/* As the relay idle timer: datagrams only stamp a time. */
		uint64_t idle = (uint64_t)cfg_of(c)->server.udp_timeout_secs * 1000;
		uint64_t last = udp_assoc_last_active(c->udp);
		if (timer_before(loop_now(c->w->loop), last + idle)) {
			timer_arm(loop_timers(c->w->loop), &c->t_phase, last + idle);
			return;
		}
		conn_close_io(c, "udp idle timeout");
		break;
	}
	default:
		return;
	}
	conn_finish(c);
}

/* ---- birth and death --------------------------------------------------- */

void conn_accept(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		__atomic_fetch_sub(w->sh->active_total, 1, __ATOMIC_RELAXED);
		return;
	}
	/* Everything that conn_finish undoes is in a safe state first. */
	c->w = w;
	c->rep = CONN_REPLY_NONE;
	relay_init(&c->relay, &w->pipes, fd, -1);
	c->relay.end[RELAY_CLIENT].can_read = 1; /* the greeting is often there already */
	c->relay.end[RELAY_CLIENT].can_write = 1;
	loop_io_init(&c->io_client, on_client_io, c);
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++) {
		loop_io_init(&c->io_up[k], on_upstream_io, c);
		c->attempt_fd[k] = -1;
	}
	timer_init(&c->t_phase, on_phase_timer, c);
	timer_init(&c->t_aux, on_aux_timer, c);

	struct conn_info *ci = &c->info;
	ci->id = ((uint64_t)(w->idx + 1) << 48) | (++w->next_seq & 0xFFFFFFFFFFFFull);
	if (len > sizeof(ci->client))
		len = sizeof(ci->client);
	memcpy(&ci->client, sa, len);
	ci->proto = CONN_PROTO_TCP;
	ci->status = CONN_ST_HANDSHAKE;
	ci->reply = CONN_REPLY_NONE;
	ci->start_wall_ms = time_wall_ms();
	ci->start_ms = loop_now(w->loop);
	c->action = "accepting";

	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	stats_add(&w->stats.accepted, 1);
	stats_add(&w->stats.active, 1);

	if (loop_io_add(w->loop, &c->io_client, fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
		conn_close_io(c, "epoll_ctl failed");
		conn_finish(c);
		return;
	}
	loop_timer_in(w->loop, &c->t_phase,
	              (uint64_t)w->sh->cfg->server.handshake_timeout_secs * 1000);
	conn_drive(c);
}

void conn_terminate(struct conn *c, const char *reason)
{
	if (c->phase == CONN_PH_CLOSED)
		return;
	c->reason = reason;
	c->rep = SOCKS5_REP_GENERAL_FAILURE;
	conn_finish(c);
}

static void access_log(struct conn *c)
{
	char client[SOCKADDR_STR_MAX], dest[SOCKS_ADDR_STR_MAX], up[SOCKADDR_STR_MAX];
	const struct conn_info *ci = &c->info;
	sockaddr_str(&ci->client.sa, client, sizeof(client));
	if (ci->dest.atyp)
		socks_addr_str(&ci->dest, dest, sizeof(dest));
	else
		cs_strlcpy(dest, "-", sizeof(dest));
	if (ci->upstream.sa.sa_family)
		sockaddr_str(&ci->upstream.sa, up, sizeof(up));
	else
		cs_strlcpy(up, "-", sizeof(up));
	struct log_field f[] = {
	    LOG_NUM("conn", ci->id),
	    LOG_STR("user", c->user[0] ? c->user : NULL),
	    LOG_STR("client", client),
	    LOG_STR("dest", dest),
	    LOG_STR("upstream", up),
	    LOG_NUM("bytes_up", ci->bytes_up),
	    LOG_NUM("bytes_down", ci->bytes_down),
	    LOG_NUM("duration_ms", ci->end_ms - ci->start_ms),
	    LOG_STR("reason", ci->close_reason),
	    LOG_STR("acl", ci->acl_decision == CONN_ACL_NONE    ? NULL
	                   : ci->acl_decision == CONN_ACL_ALLOW ? "allow"
	                                                        : "block"),
	    LOG_STR("rule", ci->acl_rule),
	    ci->reply == CONN_REPLY_NONE ? LOG_STR("reply", NULL) : LOG_NUM("reply", ci->reply),
	    LOG_STR("phase", conn_phase_name(c->phase)),
	};
	log_fields(LOGL_INFO, "connection closed", f, sizeof(f) / sizeof(f[0]));
}

/* Close the client socket. After telling the client something (a failure
 * reply), first read away what it already sent: closing a socket with
 * unread input sends RST, and an RST can overtake our reply. */
static void close_client(struct conn *c, bool told)
{
	int fd = client_fd(c);
	if (fd < 0)
		return;
	loop_io_del(c->w->loop, &c->io_client);
	if (told) {
		(void)shutdown(fd, SHUT_WR);
		for (int i = 0; i < 8; i++)
			if (recv(fd, c->hs, sizeof(c->hs), MSG_DONTWAIT) <= 0)
				break;
	}
	close(fd);
	c->relay.end[RELAY_CLIENT].fd = -1;
}

void conn_finish(struct conn *c)
{
	struct worker *w = c->w;
	if (c->phase == CONN_PH_CLOSED)
		return;
	loop_timer_cancel(w->loop, &c->t_phase);
	loop_timer_cancel(w->loop, &c->t_aux);
	if (c->dns) {
		resolver_cancel(c->dns);
		c->dns = NULL;
	}
	if (c->auth) {
		c->auth->conn = NULL; /* freed when it comes back */
		c->auth = NULL;
	}
	udp_assoc_close(c);
	bind_wait_close(c);
	if (!c->reason)
		c->reason = "closed";

	/* The reply still owed, then whatever handshake bytes are queued. */
	if (c->reply_owed) {
		uint8_t rep = c->rep == CONN_REPLY_NONE ? SOCKS5_REP_GENERAL_FAILURE : c->rep;
		uint8_t out[SOCKS5_REPLY_MAX];
		size_t n = write_reply(c, out, sizeof(out), rep, NULL);
		if (c->out_len + n <= sizeof(c->out))
			conn_queue(c, out, n);
		c->info.reply = rep;
		c->reply_owed = 0;
		if (rep < STATS_REPLY_CODES)
			stats_add(&w->stats.replies[rep], 1);
		metrics_connect_error(rep);
		metrics_handshake_latency((double)(loop_now(w->loop) - c->info.start_ms) / 1000.0);
	}

	struct conn_info *ci = &c->info;
	sync_counters(c);
	ci->end_ms = loop_update_now(w->loop);
	ci->close_reason = c->reason;
	if (c->flags & CONN_F_OPENED) {
		ci->status = ci->connected_ms ? CONN_ST_CLOSED : CONN_ST_FAILED;
		conn_event_close(w->sh->ctx, w->sh->cfg, c->session, ci);
		c->session = NULL;
	} else if (ci->status == CONN_ST_REJECTED) {
		conn_event_rejected(w->sh->ctx, w->sh->cfg, ci);
	}
	conn_admit_release(c);
	/* Sent only now: a client that reads its (failure) reply and asks the
	 * API, or connects again, finds the session recorded and the slot free. */
	bool told = false;
	if (c->out_off < c->out_len && client_fd(c) >= 0) {
		told = true;
		(void)send(client_fd(c), c->out + c->out_off, c->out_len - c->out_off,
		           MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	c->out_len = c->out_off = 0;
	if (ci->cmd == 0)
		stats_add(&w->stats.handshake_failures, 1);
	if (w->sh->cfg->logging.access_log)
		access_log(c);
	if (c->acl) { /* after the events and the log: they read the rule */
		acl_snapshot_unref(c->acl);
		c->acl = NULL;
	}
	free(c->acl_rule_own);
	c->acl_rule_own = NULL;
	c->info.acl_rule = NULL;

	relay_release(&c->relay);
	close_client(c, told);
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++)
		attempt_close(c, k); /* the winner's fd is relay.end[1].fd */
	c->relay.end[RELAY_UPSTREAM].fd = -1;

	stats_sub(&w->stats.active, 1);
	stats_add(&w->stats.closed, 1);
	__atomic_fetch_sub(w->sh->active_total, 1, __ATOMIC_RELAXED);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
	w->n_conns--;
	c->phase = CONN_PH_CLOSED;
	explicit_bzero(c->hs, sizeof(c->hs));
}

void conn_free(struct conn *c)
{
	udp_assoc_free(c->udp); /* memory only: closed in conn_finish */
	bind_wait_free(c->bind);
	group_list_unref(c->groups);
	free(c);
}
