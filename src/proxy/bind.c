/* BIND listener: open on the control connection's local address, accept
 * the expected peer, refuse others (see bind.h). */
#include "proxy/bind.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/sockaddr.h"
#include "proxy/conn.h"
#include "proxy/udp.h"
#include "proxy/worker.h"
#include "util/log.h"

#define BIND_BACKLOG      8
#define BIND_ACCEPT_BURST 16 /* peers looked at per readiness event */

struct bind_wait {
	struct conn *c;
	struct loop_io io;
	int fd; /* listener, -1 once closed */
};

static bool addr_is_any(const struct sockaddr *sa)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &any6, sizeof(any6)) ==
		       0;
	return false;
}

bool bind_peer_allowed(const struct resolve_result *expect, const struct sockaddr *peer)
{
	for (unsigned i = 0; i < expect->n; i++) {
		const struct sockaddr *e = &expect->addr[i].sa;
		if (addr_is_any(e) || udp_sockaddr_equal(e, peer, false))
			return true;
	}
	return false;
}

static void on_listener(struct loop_io *io, uint32_t events)
{
	struct bind_wait *b = io->data;
	(void)events;
	conn_drive(b->c);
}

int bind_wait_start(struct conn *c, union cs_sockaddr *bnd)
{
	struct bind_wait *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->c = c;
	b->fd = -1;
	loop_io_init(&b->io, on_listener, b);
	c->bind = b;

	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	memset(&local, 0, sizeof(local));
	if (getsockname(c->relay.end[RELAY_CLIENT].fd, (struct sockaddr *)&local, &len) < 0)
		return -errno;
	sockaddr_unmap_v4(&local, &len);
	sockaddr_set_port((struct sockaddr *)&local, 0);
	b->fd = socket(local.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->fd < 0)
		return -errno;
	if (local.ss_family == AF_INET6) {
		int one = 1;
		(void)setsockopt(b->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(b->fd, (struct sockaddr *)&local, len) < 0 || listen(b->fd, BIND_BACKLOG) < 0)
		return -errno;
	len = sizeof(*bnd);
	if (getsockname(b->fd, &bnd->sa, &len) < 0)
		return -errno;
	if (loop_io_add(c->w->loop, &b->io, b->fd, LOOP_READ) < 0)
		return -errno;
	return 0;
}

int bind_wait_accept(struct conn *c, int *fd, union cs_sockaddr *peer)
{
	struct bind_wait *b = c->bind;
	for (int i = 0; i < BIND_ACCEPT_BURST && b->fd >= 0; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int s = accept4(b->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return -errno;
		}
		sockaddr_unmap_v4(&ss, &len);
		if (!bind_peer_allowed(&c->addrs, (struct sockaddr *)&ss)) {
			char who[SOCKADDR_STR_MAX];
			sockaddr_str((struct sockaddr *)&ss, who, sizeof(who));
			log_debug("conn %llu: bind: refused peer %s (not the requested address)",
			          (unsigned long long)c->info.id, who);
			close(s);
			continue;
		}
		int one = 1;
		(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		memset(peer, 0, sizeof(*peer));
		memcpy(peer, &ss, len < sizeof(*peer) ? len : sizeof(*peer));
		*fd = s;
		return 1;
	}
	return 0; /* more may wait: level-triggered, the loop reports them again */
}

void bind_wait_close(struct conn *c)
{
	struct bind_wait *b = c->bind;
	if (!b || b->fd < 0)
		return;
	loop_io_del(c->w->loop, &b->io);
	close(b->fd);
	b->fd = -1;
}

void bind_wait_free(struct bind_wait *b)
{
	free(b);
}
