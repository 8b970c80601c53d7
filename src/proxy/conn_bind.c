/* Phase BIND (the listener itself is bind.c). */
#include "proxy/conn_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "proxy/bind.h"
#include "util/log.h"
#include "util/strutil.h"

/* BIND (bind.c): listen on the control connection's address and send the
 * first reply; then wait for the peer (deadline server.bind_timeout_secs,
 * reply 0x06 on expiry), send the second reply with its address and relay.
 * While waiting, the client's socket is only peeked: EOF or an error ends
 * it; bytes the client sends early stay in its socket for the relay. */
enum step conn_ph_bind(struct conn *c)
{
	union cs_sockaddr a;
	if (!c->bind) {
		c->action = "binding";
		int err = bind_wait_start(c, &a);
		if (err < 0) {
			log_debug("conn %llu: bind: %s", (unsigned long long)c->info.id,
			          strerror(-err));
			return conn_fail(c, SOCKS5_REP_GENERAL_FAILURE, "bind: cannot listen");
		}
		uint8_t out[SOCKS5_REPLY_MAX];
		conn_queue(c, out, socks5_write_reply(out, sizeof(out), SOCKS5_REP_SUCCESS, &a.sa));
		/* reply_owed stays set: the second reply is owed now. */
		loop_timer_in(c->w->loop, &c->t_phase,
		              config_ms(cfg_of(c)->server.bind_timeout_secs,
		                        cfg_of(c)->server.bind_timeout_ms));
		return STEP_NEXT; /* the driver sends the first reply, then waits here */
	}
	c->action = "waiting for the bind peer";
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (e->can_read) {
		uint8_t b;
		ssize_t n = conn_client_recv(c, &b, 1, true);
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
		          strerror(-r));
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
	conn_reply_success(c, &a.sa);
	return conn_relay_start(c);
}

/* No peer in time: RFC 1928 has no code for it; 0x06 as for a connect
 * timeout. */
enum step conn_timeout_bind(struct conn *c)
{
	return conn_fail(c, SOCKS5_REP_TTL_EXPIRED, "bind timeout");
}
