/* The one exit of a connection, and the two ways to ask for it: conn_fail
 * (finish with a SOCKS reply, when one is owed) and conn_close_io (the
 * client's socket or the relay ended: no reply can reach the client).
 * conn_finish sends the reply still owed, records the session and the
 * access-log line, cancels timers, DNS and auth work, gives back the limit
 * slot and the pipes, and closes every fd; the struct itself is freed at
 * the end of the worker's loop turn (conn_free). */
#include "proxy/conn_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "protocol/sockaddr.h"
#include "proxy/bind.h"
#include "proxy/conn_events.h"
#include "proxy/udp.h"
#include "util/log.h"
#include "util/strutil.h"

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
	conn_tls_close(c);
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
	loop_timer_cancel(w->loop, &c->t_stagger);
	loop_timer_cancel(w->loop, &c->t_shape);
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
		size_t n = conn_reply_write(c, out, sizeof(out), rep, NULL);
		if (c->out_len + n <= sizeof(c->out))
			conn_queue(c, out, n);
		c->info.reply = rep;
		c->reply_owed = 0;
		metrics_connect_error(rep);
		metrics_handshake_latency((double)(loop_now(w->loop) - c->info.start_ms) / 1000.0);
	}

	struct conn_info *ci = &c->info;
	conn_relay_sync_counters(c);
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
		(void)conn_client_send(c, c->out + c->out_off, c->out_len - c->out_off);
	}
	c->out_len = c->out_off = 0;
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
	conn_connect_release(c); /* the winner's fd is relay.end[1].fd */
	c->relay.end[RELAY_UPSTREAM].fd = -1;

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
