/* Handshake I/O: reading client bytes into c->hs until a message parses,
 * and queueing the answers in c->out, which the driver sends before it runs
 * the next phase. The handshake phases share one deadline
 * (server.handshake_timeout_secs, armed at accept). */
#include "proxy/conn_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/tls.h"
#include "util/log.h"
#include "util/strutil.h"

ssize_t conn_client_recv(struct conn *c, void *buf, size_t len, bool peek)
{
	if (c->relay.ssl)
		return tls_io_read(c->relay.ssl, buf, len, peek);
	return recv(client_fd(c), buf, len, MSG_DONTWAIT | (peek ? MSG_PEEK : 0));
}

ssize_t conn_client_send(struct conn *c, const void *buf, size_t len)
{
	if (c->relay.ssl)
		return tls_io_write(c->relay.ssl, buf, len);
	return send(client_fd(c), buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Read more handshake bytes. NEXT when some arrived (parse again). */
enum step conn_read_more(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (c->hs_len >= CONN_HS_SIZE)
		return conn_close_io(c, "handshake message too long"); /* cannot happen */
	if (!e->can_read)
		return STEP_WAIT;
	ssize_t n = conn_client_recv(c, c->hs + c->hs_len, CONN_HS_SIZE - c->hs_len, false);
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
		ssize_t n = conn_client_send(c, c->out + c->out_off, c->out_len - c->out_off);
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

enum step conn_timeout_handshake(struct conn *c)
{
	return conn_close_io(c, "handshake timeout");
}
