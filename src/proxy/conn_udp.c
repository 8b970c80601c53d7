/* Phase UDP: the association's TCP control connection (the datagrams
 * themselves are udp.c's). */
#include "proxy/conn_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "proxy/udp.h"
#include "util/log.h"
#include "util/strutil.h"

/* UDP ASSOCIATE (udp.c): open the association and reply with the relay
 * socket's address; then the datagrams flow on udp.c's sockets and this
 * phase only watches the control connection, which carries nothing more
 * (RFC 1928 section 7): bytes on it are read and dropped, EOF or an error
 * ends the association, as does server.udp_timeout_secs without a
 * relayed datagram (the phase timer). */
enum step conn_ph_udp(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (!c->udp) {
		union cs_sockaddr bnd;
		c->action = "opening udp association";
		int err = udp_assoc_start(c, &bnd);
		if (err < 0) {
			log_debug("conn %llu: udp: %s", (unsigned long long)c->info.id,
			          strerror(-err));
			return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE,
			                 "udp: cannot open relay socket");
		}
		conn_reply_success(c, &bnd.sa);
		c->hs_len = 0; /* nothing may follow the request */
		loop_timer_in(c->w->loop, &c->t_phase,
		              config_ms(cfg_of(c)->server.udp_timeout_secs,
		                        cfg_of(c)->server.udp_timeout_ms));
		return STEP_NEXT;
	}
	c->action = "relaying udp";
	for (int i = 0; i < 16 && e->can_read; i++) {
		ssize_t n = conn_client_recv(c, c->hs, sizeof(c->hs), false);
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
		conn_busy_add(c); /* more to drop: next turn, after the others */
	return STEP_WAIT;
}

/* As the relay's idle deadline: datagrams only stamp a time. */
enum step conn_timeout_udp(struct conn *c)
{
	uint64_t idle =
	    config_ms(cfg_of(c)->server.udp_timeout_secs, cfg_of(c)->server.udp_timeout_ms);
	uint64_t last = udp_assoc_last_active(c->udp);
	if (timer_before(loop_now(c->w->loop), last + idle)) {
		timer_arm(loop_timers(c->w->loop), &c->t_phase, last + idle);
		return STEP_WAIT;
	}
	return conn_close_io(c, "udp idle timeout");
}
