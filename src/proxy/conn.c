/* The connection's driver: the phase table (in pipeline order, as enum
 * conn_phase), conn_drive, the socket and deadline events, birth and
 * freeing. Each phase lives in the file named for it (conn_<phase>.c); the
 * one exit is conn_finish.c. docs/architecture.md follows one connection
 * through them. */
#include "proxy/conn_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "proxy/bind.h"
#include "proxy/udp.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static enum step conn_ph_closed(struct conn *c)
{
	(void)c;
	return STEP_WAIT;
}

/* clang-format off */
const struct conn_phase_def conn_phases[CONN_PH_COUNT] = {
	[CONN_PH_PROXY_HDR]      = {"proxy_header",   conn_ph_proxy_hdr,      conn_timeout_proxy_hdr},
	[CONN_PH_TLS]            = {"tls",            conn_ph_tls,            conn_tls_timeout},
	[CONN_PH_CLIENT_AUTH]    = {"client_auth",    conn_ph_client_auth,    conn_timeout_handshake},
	[CONN_PH_GREETING]       = {"greeting",       conn_ph_greeting,       conn_timeout_handshake},
	[CONN_PH_AUTH]           = {"auth",           conn_ph_auth,           conn_timeout_handshake},
	[CONN_PH_AUTH_WAIT]      = {"auth_wait",      conn_ph_auth_wait,      conn_timeout_handshake},
	[CONN_PH_GSSAPI]         = {"gssapi",         conn_ph_gssapi,         conn_timeout_handshake},
	[CONN_PH_REQUEST]        = {"request",        conn_ph_request,        conn_timeout_handshake},
	[CONN_PH_SOCKS4_REQUEST] = {"socks4_request", conn_ph_socks4_request, conn_timeout_handshake},
	[CONN_PH_ACL_NAME]       = {"acl_name",       conn_ph_acl_name,       conn_timeout_resolve},
	[CONN_PH_RESOLVE]        = {"resolve",        conn_ph_resolve,        conn_timeout_resolve},
	[CONN_PH_ACL_ADDR]       = {"acl_addr",       conn_ph_acl_addr,       conn_timeout_connect},
	[CONN_PH_ADMIT]          = {"admit",          conn_ph_admit,          conn_timeout_connect},
	[CONN_PH_CONNECT]        = {"connect",        conn_ph_connect,        conn_timeout_connect},
	[CONN_PH_REPLY]          = {"reply",          conn_ph_reply,          conn_timeout_connect},
	[CONN_PH_BIND]           = {"bind",           conn_ph_bind,           conn_timeout_bind},
	[CONN_PH_UDP]            = {"udp",            conn_ph_udp,            conn_timeout_udp},
	[CONN_PH_RELAY]          = {"relay",          conn_ph_relay,          conn_timeout_relay},
	[CONN_PH_CLOSED]         = {"closed",         conn_ph_closed,         NULL},
};
/* clang-format on */

const char *conn_phase_name(int phase)
{
	if (phase < 0 || phase >= CONN_PH_COUNT)
		return "unknown";
	return conn_phases[phase].name;
}

/* Run phases until one has to wait. Queued handshake bytes go out before
 * the next phase runs, so a reply always leaves before any relayed byte. */
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
		enum step s = conn_phases[c->phase].run(c);
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

/* t_phase: the current phase's deadline. */
static void on_phase_timer(struct timer *t)
{
	struct conn *c = t->data;
	enum step (*on_timeout)(struct conn *) = conn_phases[c->phase].on_timeout;
	if (on_timeout && on_timeout(c) == STEP_DONE)
		conn_finish(c);
}

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
	timer_init(&c->t_stagger, conn_connect_on_stagger, c);
	timer_init(&c->t_shape, conn_relay_on_shape, c);

	struct conn_info *ci = &c->info;
	ci->id = worker_next_conn_id(w);
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

	if (loop_io_add(w->loop, &c->io_client, fd, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
		conn_close_io(c, "epoll_ctl failed");
		conn_finish(c);
		return;
	}
	loop_timer_in(w->loop, &c->t_phase,
	              config_ms(w->sh->cfg->server.handshake_timeout_secs,
	                        w->sh->cfg->server.handshake_timeout_ms));
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

void conn_free(struct conn *c)
{
	udp_assoc_free(c->udp); /* memory only: closed in conn_finish */
	bind_wait_free(c->bind);
	group_list_unref(c->groups);
	conn_gssapi_free(c);
	free(c);
}
