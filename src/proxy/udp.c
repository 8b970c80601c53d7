/* UDP ASSOCIATE relay: the relay socket facing the client, the upstream
 * sockets, both directions of datagrams, counters and the association's
 * lifetime (see udp.h); the destination table is udp_dest.c. */
#include "proxy/udp_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "acl/acl_manager.h"
#include "obs/metrics.h"
#include "config/config.h"
#include "protocol/sockaddr.h"
#include "protocol/socks5.h"
#include "proxy/conn.h"
#include "proxy/conn_events.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"
#include "util/log.h"
#include "util/strutil.h"

/* One buffer per worker thread for the datagram in hand: datagrams are
 * handled one at a time, start to finish, on the owning worker, so no
 * association needs its own 64 KiB. Module-private thread-local state. */
static __thread uint8_t udp_buf[UDP_HDR_ROOM + UDP_DATAGRAM_MAX];

static void on_upstream(struct loop_io *io, uint32_t events);

struct loop *udp_loop_of(const struct udp_assoc *a)
{
	return a->c->w->loop;
}

uint64_t udp_now_of(const struct udp_assoc *a)
{
	return loop_now(a->c->w->loop);
}

static int open_dgram(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (family == AF_INET6) {
		/* Destinations and clients are unmapped: v4 goes by the v4 socket. */
		int one = 1;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	return fd;
}

static void close_io(struct udp_assoc *a, struct loop_io *io, int *fd)
{
	if (*fd < 0)
		return;
	loop_io_del(udp_loop_of(a), io);
	close(*fd);
	*fd = -1;
}

/* Publish counters to the session every traffic_update_packet_interval
 * datagrams. */
static void account(struct udp_assoc *a, int dir, size_t bytes)
{
	struct conn *c = a->c;
	if (dir == 0) {
		c->info.packets_up++;
		c->info.bytes_up += bytes;
	} else {
		c->info.packets_down++;
		c->info.bytes_down += bytes;
	}
	a->last_active = udp_now_of(a);
	uint64_t packets = c->info.packets_up + c->info.packets_down;
	uint32_t every = c->w->sh->cfg->sessions.traffic_update_packet_interval;
	if (every && packets - c->traffic_mark >= every) {
		c->traffic_mark = packets;
		conn_event_traffic(c->session, &c->info);
	}
}

static int out_open(struct udp_assoc *a, int k)
{
	int fd = open_dgram(k ? AF_INET6 : AF_INET);
	if (fd < 0)
		return -1;
	if (loop_io_add(udp_loop_of(a), &a->io_out[k], fd, LOOP_READ) < 0) {
		close(fd);
		return -1;
	}
	a->out_fd[k] = fd;
	return 0;
}

void udp_send_up(struct udp_assoc *a, struct udp_dest *d, const uint8_t *p, size_t n)
{
	int k = d->addr.sa.sa_family == AF_INET6;
	if (a->out_fd[k] < 0 && out_open(a, k) < 0) {
		a->drops.send++;
		return;
	}
	ssize_t r;
	do {
		r = sendto(a->out_fd[k], p, n, MSG_DONTWAIT | MSG_NOSIGNAL, &d->addr.sa,
		           cs_sockaddr_len(&d->addr));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		a->drops.send++;
		return;
	}
	d->used_ms = udp_now_of(a);
	account(a, 0, n);
}

/* A datagram from an upstream socket: relay it to the client if it comes
 * from a destination the client sent to. */
static void upstream_datagram(struct udp_assoc *a, const union cs_sockaddr *src, size_t n)
{
	struct udp_dest *d = udp_dest_by_sender(a, src);
	if (!d || !a->filter.port_fixed) {
		a->drops.reply++;
		return;
	}
	size_t hl = src->sa.sa_family == AF_INET6 ? 22 : 10;
	uint8_t *p = udp_buf + UDP_HDR_ROOM - hl;
	if (socks5_udp_write_header(p, hl, &src->sa) != hl) {
		a->drops.reply++;
		return;
	}
	const union cs_sockaddr *to = &a->filter.addr;
	ssize_t r;
	do {
		r = sendto(a->relay_fd, p, hl + n, MSG_DONTWAIT | MSG_NOSIGNAL, &to->sa,
		           cs_sockaddr_len(to));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		a->drops.send++;
		return;
	}
	d->used_ms = udp_now_of(a);
	account(a, 1, n);
}

static void on_upstream(struct loop_io *io, uint32_t events)
{
	struct udp_assoc *a = io->data;
	int k = io == &a->io_out[1];
	(void)events;
	for (int i = 0; i < UDP_BURST && a->out_fd[k] >= 0; i++) {
		union cs_sockaddr src;
		socklen_t sl = sizeof(src);
		ssize_t n = recvfrom(a->out_fd[k], udp_buf + UDP_HDR_ROOM, UDP_DATAGRAM_MAX,
		                     MSG_DONTWAIT, &src.sa, &sl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: drained. Anything else (an ICMP error queued on
			 * the socket) is consumed by the failed call: go on next
			 * time. */
			break;
		}
		union cs_sockaddr s;
		sockaddr_copy_unmapped(&s, &src.sa);
		upstream_datagram(a, &s, (size_t)n);
	}
}

static void client_datagram(struct udp_assoc *a, const union cs_sockaddr *src, size_t n)
{
	if (!udp_client_filter_accept(&a->filter, &src->sa)) {
		a->drops.foreign++;
		return;
	}
	struct socks5_udp_header h;
	if (socks5_udp_parse(udp_buf, n, &h) != PROTO_OK) {
		a->drops.malformed++;
		return;
	}
	if (h.frag != 0) {
		a->drops.frag++;
		return;
	}
	const uint8_t *payload = udp_buf + h.header_len;
	size_t len = n - h.header_len;
	struct udp_dest *d = udp_dest_get(a, &h.dst);
	if (!d) {
		a->drops.queue++;
		return;
	}
	switch (d->state) {
	case UDP_DEST_ALLOW:
		udp_send_up(a, d, payload, len);
		break;
	case UDP_DEST_RESOLVING:
		if (!udp_pending_add(a, d, payload, len))
			a->drops.queue++;
		break;
	case UDP_DEST_BLOCK:
		a->drops.acl++;
		break;
	default:
		a->drops.dns++;
		break;
	}
}

static void on_relay(struct loop_io *io, uint32_t events)
{
	struct udp_assoc *a = io->data;
	(void)events;
	for (int i = 0; i < UDP_BURST && a->relay_fd >= 0; i++) {
		union cs_sockaddr src;
		socklen_t sl = sizeof(src);
		ssize_t n =
		    recvfrom(a->relay_fd, udp_buf, UDP_DATAGRAM_MAX, MSG_DONTWAIT, &src.sa, &sl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* drained (or an error consumed by this call) */
		}
		union cs_sockaddr s;
		sockaddr_copy_unmapped(&s, &src.sa);
		client_datagram(a, &s, (size_t)n);
	}
}

int udp_assoc_start(struct conn *c, union cs_sockaddr *bnd)
{
	struct udp_assoc *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->c = c;
	a->relay_fd = a->out_fd[0] = a->out_fd[1] = -1;
	loop_io_init(&a->io_relay, on_relay, a);
	loop_io_init(&a->io_out[0], on_upstream, a);
	loop_io_init(&a->io_out[1], on_upstream, a);
	c->udp = a;
	a->last_active = loop_now(c->w->loop);
	udp_client_filter_init(&a->filter, &c->info.client.sa, c->info.dest.port);

	struct acl_manager *mgr = c->w->sh->ctx->acl;
	if (mgr && !c->acl)
		c->acl = acl_manager_acquire(mgr);

	/* The address the client reached us on: a specific address even
	 * behind a wildcard listener. */
	union cs_sockaddr local;
	socklen_t len = sizeof(local);
	memset(&local, 0, sizeof(local));
	if (getsockname(c->relay.end[RELAY_CLIENT].fd, &local.sa, &len) < 0)
		return -errno;
	sockaddr_copy_unmapped(&local, &local.sa);
	sockaddr_set_port(&local.sa, 0);
	a->relay_fd = open_dgram(local.sa.sa_family);
	if (a->relay_fd < 0)
		return -errno;
	if (bind(a->relay_fd, &local.sa, cs_sockaddr_len(&local)) < 0)
		return -errno;
	len = sizeof(a->relay_addr);
	if (getsockname(a->relay_fd, &a->relay_addr.sa, &len) < 0)
		return -errno;
	if (loop_io_add(udp_loop_of(a), &a->io_relay, a->relay_fd, LOOP_READ) < 0)
		return -errno;
	*bnd = a->relay_addr;
	return 0;
}

uint64_t udp_assoc_last_active(const struct udp_assoc *a)
{
	return a->last_active;
}

static void log_summary(struct udp_assoc *a)
{
	struct conn *c = a->c;
	if (!c->w->sh->cfg->logging.access_log)
		return;
	char relay[SOCKADDR_STR_MAX], client[SOCKADDR_STR_MAX];
	sockaddr_str(&a->relay_addr.sa, relay, sizeof(relay));
	if (a->filter.port_fixed)
		sockaddr_str(&a->filter.addr.sa, client, sizeof(client));
	else
		cs_strlcpy(client, "-", sizeof(client));
	const struct udp_drops *d = &a->drops;
	struct log_field f[] = {
	    LOG_NUM("conn", c->info.id),
	    LOG_STR("relay", relay),
	    LOG_STR("client_udp", client),
	    LOG_NUM("packets_up", c->info.packets_up),
	    LOG_NUM("packets_down", c->info.packets_down),
	    LOG_NUM("bytes_up", c->info.bytes_up),
	    LOG_NUM("bytes_down", c->info.bytes_down),
	    LOG_NUM("dropped_foreign", d->foreign),
	    LOG_NUM("dropped_malformed", d->malformed),
	    LOG_NUM("dropped_frag", d->frag),
	    LOG_NUM("dropped_acl", d->acl),
	    LOG_NUM("dropped_dns", d->dns),
	    LOG_NUM("dropped_queue", d->queue),
	    LOG_NUM("dropped_send", d->send),
	    LOG_NUM("dropped_reply", d->reply),
	};
	log_fields(LOGL_INFO, "udp association closed", f, sizeof(f) / sizeof(f[0]));
}

void udp_assoc_close(struct conn *c)
{
	struct udp_assoc *a = c->udp;
	if (!a || a->closed)
		return;
	a->closed = true;
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->dns) {
			resolver_cancel(d->dns->req);
			free(d->dns);
			d->dns = NULL;
		}
		udp_dest_clear(d);
	}
	udp_pending_flush(a, NULL);
	close_io(a, &a->io_relay, &a->relay_fd);
	close_io(a, &a->io_out[0], &a->out_fd[0]);
	close_io(a, &a->io_out[1], &a->out_fd[1]);
	log_summary(a);
}

void udp_assoc_free(struct udp_assoc *a)
{
	free(a);
}
