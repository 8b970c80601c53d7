/* Phase CONNECT: the resolved addresses in order, with Happy Eyeballs
 * (RFC 8305): when an attempt is slow (CONN_HE_DELAY_MS) the next starts
 * beside it, at most CONN_MAX_ATTEMPTS at once; the first to connect wins.
 * The deadline is server.connect_timeout_secs from the request (0x06). */
#include "proxy/conn_internal.h"

#include <errno.h>
#include <unistd.h>

#include "event/connect.h"
#include "util/strutil.h"

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
	if (err < 0) {
		c->last_errno = -err;
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
	loop_timer_cancel(c->w->loop, &c->t_stagger);
	c->up_slot = (uint8_t)k;
	struct relay_end *up = &c->relay.end[RELAY_UPSTREAM];
	up->fd = c->attempt_fd[k];
	up->can_read = 1; /* a read tells; cheaper than waiting for an edge */
	up->can_write = 1;
	c->info.upstream = c->addrs.addr[c->attempt_addr[k]];
	c->phase = CONN_PH_REPLY;
	return STEP_NEXT;
}

enum step conn_ph_connect(struct conn *c)
{
	c->action = "connecting";
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++) {
		if (c->attempt_fd[k] < 0 || !c->attempt_ready[k])
			continue;
		c->attempt_ready[k] = 0;
		int err = connect_result(c->attempt_fd[k]);
		if (err == -EINPROGRESS)
			continue;
		if (err == 0)
			return connect_won(c, k);
		c->last_errno = -err;
		attempt_close(c, k);
	}
	while (attempts_in_flight(c) == 0 && c->next_addr < c->addrs.n)
		attempt_start(c);
	if (attempts_in_flight(c) == 0)
		return conn_fail(c, connect_reply_for_errno(c->last_errno),
		                 connect_reason(c->last_errno));
	/* Happy Eyeballs: if this attempt is slow, start the next one too. */
	if (!timer_armed(&c->t_stagger) && attempts_in_flight(c) < CONN_MAX_ATTEMPTS &&
	    c->next_addr < c->addrs.n)
		loop_timer_in(c->w->loop, &c->t_stagger, CONN_HE_DELAY_MS);
	return STEP_WAIT;
}

/* t_stagger: the attempt in flight is slow; start the next one beside it. */
void conn_connect_on_stagger(struct timer *t)
{
	struct conn *c = t->data;
	if (c->phase != CONN_PH_CONNECT)
		return;
	if (attempts_in_flight(c) < CONN_MAX_ATTEMPTS && c->next_addr < c->addrs.n)
		attempt_start(c);
	conn_drive(c);
}

enum step conn_timeout_connect(struct conn *c)
{
	return conn_fail(c, SOCKS5_REP_TTL_EXPIRED, "connect timeout");
}

void conn_connect_release(struct conn *c)
{
	for (int k = 0; k < CONN_MAX_ATTEMPTS; k++)
		attempt_close(c, k);
}
