/* UDP ASSOCIATE relay: sockets, client filter, destination table with ACL
 * decisions and name lookups, reply filter, counters (see udp.h). */
#include "server/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acl/acl_engine.h"
#include "acl/acl_watch.h"
#include "api/metrics.h"
#include "config/config.h"
#include "protocol/sockaddr.h"
#include "protocol/socks5.h"
#include "server/conn.h"
#include "server/conn_events.h"
#include "server/server.h"
#include "server/worker.h"
#include "util/log.h"
#include "util/strutil.h"

/* Largest UDP payload, and room before it for the SOCKS header of a reply
 * (RSV FRAG ATYP IPv6 PORT = 22 bytes), so replies are wrapped in place. */
#define UDP_DATAGRAM_MAX 65535
#define UDP_HDR_ROOM     22

/* One buffer per worker thread for the datagram in hand: datagrams are
 * handled one at a time, start to finish, on the owning worker, so no
 * association needs its own 64 KiB. Module-private thread-local state. */
static __thread uint8_t udp_buf[UDP_HDR_ROOM + UDP_DATAGRAM_MAX];

/* udp_dest.state */
enum {
	UDP_DEST_EMPTY = 0,     /* free slot */
	UDP_DEST_RESOLVING = 1, /* first lookup of a name in flight; datagrams queue */
	UDP_DEST_ALLOW = 2,     /* addr is where datagrams go */
	UDP_DEST_BLOCK = 3,     /* the ACL blocks it: datagrams dropped */
	UDP_DEST_FAILED = 4,    /* the name did not resolve: dropped until until_ms */
};

struct udp_lookup;

/* A destination the client sent to. */
struct udp_dest {
	uint8_t state;          /* UDP_DEST_* */
	uint16_t port;          /* requested port (host order) */
	char *name;             /* requested name (owned), NULL for an address */
	union cs_sockaddr addr; /* the address (ALLOW), or the requested one */
	uint64_t used_ms;       /* last datagram either way (replacement order) */
	uint64_t until_ms;      /* names: look up again from this time on */
	struct udp_lookup *dns; /* lookup in flight (first or refresh), or NULL */
};

/* A name lookup in flight; freed when it completes or is cancelled. */
struct udp_lookup {
	struct udp_assoc *a;
	struct udp_dest *d;
	struct resolve_req *req;
	struct resolve_result res; /* filled by the resolver */
};

/* A datagram waiting for its destination's first lookup. */
struct udp_pending {
	struct udp_pending *next;
	struct udp_dest *d;
	uint32_t len;
	uint8_t data[];
};

/* Why datagrams were dropped (logged at close). */
struct udp_drops {
	uint64_t foreign;   /* not from the client's address (and port) */
	uint64_t malformed; /* header did not parse */
	uint64_t frag;      /* FRAG != 0 */
	uint64_t acl;       /* destination blocked by the ACL */
	uint64_t dns;       /* destination name did not resolve */
	uint64_t queue;     /* no room while names resolve */
	uint64_t send;      /* sendto failed (buffer full, unreachable, too big) */
	uint64_t reply;     /* upstream datagram from a sender the client did not contact */
};

struct udp_assoc {
	struct conn *c;
	bool closed;
	int relay_fd;  /* faces the client */
	int out_fd[2]; /* upstream: [0] IPv4, [1] IPv6; -1 until needed */
	struct loop_io io_relay;
	struct loop_io io_out[2];
	union cs_sockaddr relay_addr; /* BND.ADDR/PORT, for the log */
	struct udp_client_filter filter;
	uint64_t last_active;
	struct udp_pending *pend_head, *pend_tail;
	uint32_t n_pend, pend_bytes;
	struct udp_drops drops;
	struct udp_dest dests[UDP_DEST_MAX];
};

/* ---- the client filter (pure) ---------------------------------------------- */

static void sockaddr_copy_unmapped(union cs_sockaddr *out, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	socklen_t len =
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa, len);
	sockaddr_unmap_v4(&ss, &len);
	memset(out, 0, sizeof(*out));
	memcpy(out, &ss, len);
}

bool udp_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b, bool ports)
{
	union cs_sockaddr x, y;
	if ((a->sa_family != AF_INET && a->sa_family != AF_INET6) ||
	    (b->sa_family != AF_INET && b->sa_family != AF_INET6))
		return false;
	sockaddr_copy_unmapped(&x, a);
	sockaddr_copy_unmapped(&y, b);
	if (x.sa.sa_family != y.sa.sa_family)
		return false;
	if (x.sa.sa_family == AF_INET)
		return x.in.sin_addr.s_addr == y.in.sin_addr.s_addr &&
		       (!ports || x.in.sin_port == y.in.sin_port);
	return memcmp(&x.in6.sin6_addr, &y.in6.sin6_addr, sizeof(x.in6.sin6_addr)) == 0 &&
	       (!ports || x.in6.sin6_port == y.in6.sin6_port);
}

/* The hot-path compare: both already unmapped (everything inside an
 * association is), address and port. */
static bool same_endpoint(const union cs_sockaddr *a, const union cs_sockaddr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == b->in.sin_addr.s_addr &&
		       a->in.sin_port == b->in.sin_port;
	return a->in6.sin6_port == b->in6.sin6_port &&
	       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr)) == 0;
}

static void set_port(union cs_sockaddr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in.sin_port = htons(port);
}

void udp_client_filter_init(struct udp_client_filter *f, const struct sockaddr *client,
                            uint16_t port)
{
	memset(f, 0, sizeof(*f));
	if (client->sa_family == AF_INET || client->sa_family == AF_INET6)
		sockaddr_copy_unmapped(&f->addr, client);
	set_port(&f->addr, port);
	f->port_fixed = port != 0;
}

bool udp_client_filter_accept(struct udp_client_filter *f, const struct sockaddr *src)
{
	if (!udp_sockaddr_equal(&f->addr.sa, src, false))
		return false;
	if (f->port_fixed)
		return sockaddr_port(&f->addr.sa) == sockaddr_port(src);
	set_port(&f->addr, sockaddr_port(src));
	f->port_fixed = true;
	return true;
}

/* ---- helpers ----------------------------------------------------------------- */

static struct loop *loop_of(const struct udp_assoc *a)
{
	return a->c->w->loop;
}

static uint64_t now_of(const struct udp_assoc *a)
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
	loop_io_del(loop_of(a), io);
	close(*fd);
	*fd = -1;
}

/* Publish counters to the session every traffic_update_packet_interval
 * datagrams, and to the worker's totals. */
static void account(struct udp_assoc *a, int dir, size_t bytes)
{
	struct conn *c = a->c;
	struct stats *s = &c->w->stats;
	if (dir == 0) {
		c->info.packets_up++;
		c->info.bytes_up += bytes;
		stats_add(&s->bytes_up, bytes);
	} else {
		c->info.packets_down++;
		c->info.bytes_down += bytes;
		stats_add(&s->bytes_down, bytes);
	}
	a->last_active = now_of(a);
	uint64_t packets = c->info.packets_up + c->info.packets_down;
	uint32_t every = c->w->sh->cfg->sessions.traffic_update_packet_interval;
	if (every && packets - c->traffic_mark >= every) {
		c->traffic_mark = packets;
		conn_event_traffic(c->session, &c->info);
	}
}

/* ---- ACL ----------------------------------------------------------------------- */

/* Evaluate one destination (addr may be NULL: by name only). */
static void acl_decide(struct udp_assoc *a, const char *name, const struct sockaddr *addr,
                       uint16_t port, struct acl_decision *d)
{
	struct conn *c = a->c;
	struct acl_request rq;
	memset(d, 0, sizeof(*d));
	if (!c->acl) {
		d->allow = true;
		d->default_policy = true;
		return;
	}
	conn_acl_request(c, &rq);
	rq.domain = name;
	rq.addr = addr;
	rq.port = port;
	rq.proto = ACL_PROTO_UDP;
	acl_evaluate(c->acl, &rq, d);
}

/* Count a final decision for a new (or re-decided) destination: per-user
 * and per-rule counters, metrics. Once per destination, not per datagram. */
static void acl_record(struct udp_assoc *a, const char *name, uint16_t port,
                       const struct acl_decision *d)
{
	struct conn *c = a->c;
	if (!c->acl)
		return;
	struct acl_request rq;
	conn_acl_request(c, &rq);
	acl_manager_record(c->w->sh->ctx->acl, c->acl, rq.user, d);
	metrics_acl_decision(d->allow);
	if (!d->allow && log_enabled(LOGL_DEBUG)) {
		char why[256];
		acl_decision_format(d, why, sizeof(why));
		log_debug("conn %llu: udp to %s port %u: %s", (unsigned long long)c->info.id,
		          name ? name : "address", (unsigned)port, why);
	}
}

/* ---- the queue of datagrams waiting for a name ---------------------------------- */

static bool pending_add(struct udp_assoc *a, struct udp_dest *d, const uint8_t *p, size_t n)
{
	if (a->n_pend >= UDP_PENDING_MAX || a->pend_bytes + n > UDP_PENDING_BYTES)
		return false;
	struct udp_pending *q = malloc(sizeof(*q) + n);
	if (!q)
		return false;
	q->next = NULL;
	q->d = d;
	q->len = (uint32_t)n;
	memcpy(q->data, p, n);
	if (a->pend_tail)
		a->pend_tail->next = q;
	else
		a->pend_head = q;
	a->pend_tail = q;
	a->n_pend++;
	a->pend_bytes += (uint32_t)n;
	return true;
}

static void send_up(struct udp_assoc *a, struct udp_dest *d, const uint8_t *p, size_t n);

/* Send (destination allowed) or drop the datagrams waiting for d, in order.
 * d == NULL: drop all (closing). */
static void pending_flush(struct udp_assoc *a, struct udp_dest *d)
{
	struct udp_pending **pp = &a->pend_head, *last = NULL;
	while (*pp) {
		struct udp_pending *q = *pp;
		if (d && q->d != d) {
			last = q;
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		a->n_pend--;
		a->pend_bytes -= q->len;
		if (d && d->state == UDP_DEST_ALLOW)
			send_up(a, d, q->data, q->len);
		else if (d && d->state == UDP_DEST_BLOCK)
			a->drops.acl++;
		else if (d)
			a->drops.dns++;
		free(q);
	}
	a->pend_tail = last;
}

/* ---- destinations ----------------------------------------------------------------- */

static void dest_clear(struct udp_dest *d)
{
	CSOCKS_BUG_ON(d->dns != NULL);
	free(d->name);
	memset(d, 0, sizeof(*d));
}

/* A free entry, replacing the least recently used one without a lookup in
 * flight; NULL when every entry waits for DNS. */
static struct udp_dest *dest_alloc(struct udp_assoc *a)
{
	struct udp_dest *victim = NULL;
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_EMPTY)
			return d;
		if (d->dns)
			continue;
		if (!victim || timer_before(d->used_ms, victim->used_ms))
			victim = d;
	}
	if (victim)
		dest_clear(victim);
	return victim;
}

/* Choose the first allowed address of a finished lookup. */
static void dest_resolved(struct udp_assoc *a, struct udp_dest *d, int status,
                          const struct resolve_result *res)
{
	uint64_t now = now_of(a);
	if (status != RESOLVE_OK || res->n == 0) {
		/* A refresh that fails keeps the old answer for a while. */
		if (d->state == UDP_DEST_RESOLVING)
			d->state = UDP_DEST_FAILED;
		d->until_ms = now + UDP_NAME_FAIL_MS;
		return;
	}
	struct acl_decision dec;
	int chosen = -1;
	for (int i = 0; i < res->n && chosen < 0; i++) {
		acl_decide(a, d->name, &res->addr[i].sa, d->port, &dec);
		if (dec.allow)
			chosen = i;
	}
	/* dec is the chosen address's decision, or the last address's block. */
	acl_record(a, d->name, d->port, &dec);
	if (chosen >= 0) {
		sockaddr_copy_unmapped(&d->addr, &res->addr[chosen].sa);
		d->state = UDP_DEST_ALLOW;
	} else {
		d->state = UDP_DEST_BLOCK;
	}
	d->until_ms = now + UDP_NAME_TTL_MS;
}

static void on_resolved(void *arg, int status)
{
	struct udp_lookup *l = arg;
	struct udp_assoc *a = l->a;
	struct udp_dest *d = l->d;
	d->dns = NULL;
	dest_resolved(a, d, status, &l->res);
	free(l);
	pending_flush(a, d);
}

/* Start (or refresh) the lookup of d's name. */
static void dest_lookup(struct udp_assoc *a, struct udp_dest *d)
{
	struct udp_lookup *l = calloc(1, sizeof(*l));
	if (!l) {
		dest_resolved(a, d, RESOLVE_FAILED, NULL);
		return;
	}
	l->a = a;
	l->d = d;
	int st =
	    resolver_lookup(a->c->w->resolver, d->name, d->port, &l->res, on_resolved, l, &l->req);
	if (st >= 0) { /* answered at once (cache, literal, hosts file) */
		dest_resolved(a, d, st, &l->res);
		free(l);
		return;
	}
	d->dns = l;
}

/* Decide an address destination, or a name by name (then look it up). */
static void dest_decide(struct udp_assoc *a, struct udp_dest *d)
{
	struct acl_decision dec;
	if (!d->name) {
		acl_decide(a, NULL, &d->addr.sa, d->port, &dec);
		acl_record(a, NULL, d->port, &dec);
		d->state = dec.allow ? UDP_DEST_ALLOW : UDP_DEST_BLOCK;
		return;
	}
	acl_decide(a, d->name, NULL, d->port, &dec);
	if (!dec.allow && !dec.provisional) {
		acl_record(a, d->name, d->port, &dec);
		d->state = UDP_DEST_BLOCK;
		d->until_ms = now_of(a) + UDP_NAME_TTL_MS;
		return;
	}
	if (d->state != UDP_DEST_ALLOW)
		d->state = UDP_DEST_RESOLVING;
	if (!d->dns)
		dest_lookup(a, d);
}

/* The entry for a requested destination, created (and decided) when new.
 * NULL when the table has no room (every entry waits for DNS). */
static struct udp_dest *dest_get(struct udp_assoc *a, const struct socks_addr *dst)
{
	union cs_sockaddr sa;
	bool named = dst->atyp == SOCKS5_ATYP_DOMAIN;
	if (!named) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (socks_addr_to_sockaddr(dst, &ss, &len) < 0)
			return NULL;
		sockaddr_copy_unmapped(&sa, (struct sockaddr *)&ss);
	}
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_EMPTY || d->port != dst->port || !d->name != !named)
			continue;
		if (named ? strcasecmp(d->name, dst->u.domain.name) != 0
		          : !same_endpoint(&d->addr, &sa))
			continue;
		/* A name in use is looked up again now and then (old answer
		 * used meanwhile). */
		if (named && !d->dns && !timer_before(now_of(a), d->until_ms))
			dest_decide(a, d);
		return d;
	}
	struct udp_dest *d = dest_alloc(a);
	if (!d)
		return NULL;
	d->port = dst->port;
	d->used_ms = now_of(a);
	if (named) {
		d->name = strdup(dst->u.domain.name);
		if (!d->name)
			return NULL; /* state still EMPTY */
	} else {
		d->addr = sa;
	}
	dest_decide(a, d);
	return d;
}

/* An upstream datagram's sender, if the client sent to it. */
static struct udp_dest *dest_by_sender(struct udp_assoc *a, const union cs_sockaddr *src)
{
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_ALLOW && same_endpoint(&d->addr, src))
			return d;
	}
	return NULL;
}

/* ---- upstream ------------------------------------------------------------------------ */

static void on_upstream(struct loop_io *io, uint32_t events);

static int out_open(struct udp_assoc *a, int k)
{
	int fd = open_dgram(k ? AF_INET6 : AF_INET);
	if (fd < 0)
		return -1;
	if (loop_io_add(loop_of(a), &a->io_out[k], fd, LOOP_READ) < 0) {
		close(fd);
		return -1;
	}
	a->out_fd[k] = fd;
	return 0;
}

static void send_up(struct udp_assoc *a, struct udp_dest *d, const uint8_t *p, size_t n)
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
	d->used_ms = now_of(a);
	account(a, 0, n);
}

/* A datagram from an upstream socket: relay it to the client if it comes
 * from a destination the client sent to. */
static void upstream_datagram(struct udp_assoc *a, const union cs_sockaddr *src, size_t n)
{
	struct udp_dest *d = dest_by_sender(a, src);
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
	d->used_ms = now_of(a);
	account(a, 1, n);
}

static void on_upstream(struct loop_io *io, uint32_t events)
{
	struct udp_assoc *a = io->data;
	int k = io == &a->io_out[1];
	(void)events;
	for (int i = 0; i < UDP_BURST && a->out_fd[k] >= 0; i++) {
		union cs_sockaddr src = {0};
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

/* ---- the client side -------------------------------------------------------------------- */

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
	struct udp_dest *d = dest_get(a, &h.dst);
	if (!d) {
		a->drops.queue++;
		return;
	}
	switch (d->state) {
	case UDP_DEST_ALLOW:
		send_up(a, d, payload, len);
		break;
	case UDP_DEST_RESOLVING:
		if (!pending_add(a, d, payload, len))
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
		union cs_sockaddr src = {0};
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

/* ---- lifetime ---------------------------------------------------------------------------------
 */

int udp_assoc_start(struct conn *c, union cs_sockaddr *bnd)
{
	struct udp_assoc *a = calloc(1, sizeof(*a));
	if (!a)
		return ENOMEM;
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
		return errno;
	sockaddr_copy_unmapped(&local, &local.sa);
	set_port(&local, 0);
	a->relay_fd = open_dgram(local.sa.sa_family);
	if (a->relay_fd < 0)
		return errno;
	if (bind(a->relay_fd, &local.sa, cs_sockaddr_len(&local)) < 0)
		return errno;
	len = sizeof(a->relay_addr);
	if (getsockname(a->relay_fd, &a->relay_addr.sa, &len) < 0)
		return errno;
	if (loop_io_add(loop_of(a), &a->io_relay, a->relay_fd, LOOP_READ) < 0)
		return errno;
	*bnd = a->relay_addr;
	return 0;
}

uint64_t udp_assoc_last_active(const struct udp_assoc *a)
{
	return a->last_active;
}

void udp_assoc_acl_reload(struct conn *c)
{
	struct udp_assoc *a = c->udp;
	struct acl_manager *mgr = c->w->sh->ctx->acl;
	if (!a || a->closed || !mgr)
		return;
	struct acl_snapshot *snap = acl_manager_acquire(mgr);
	if (c->acl)
		acl_snapshot_unref(c->acl);
	c->acl = snap;
	for (int i = 0; i < UDP_DEST_MAX; i++) {
		struct udp_dest *d = &a->dests[i];
		if (d->state == UDP_DEST_EMPTY || d->state == UDP_DEST_RESOLVING)
			continue; /* decided when the answer comes, with the new rules */
		if (!d->name) {
			dest_decide(a, d);
			continue;
		}
		/* A name: by name first, then its address as chosen before
		 * (a new lookup would choose again; the TTL takes care). */
		struct acl_decision dec;
		acl_decide(a, d->name, NULL, d->port, &dec);
		if (!dec.allow && !dec.provisional) {
			acl_record(a, d->name, d->port, &dec);
			d->state = UDP_DEST_BLOCK;
			continue;
		}
		if (d->state == UDP_DEST_ALLOW) {
			acl_decide(a, d->name, &d->addr.sa, d->port, &dec);
			acl_record(a, d->name, d->port, &dec);
			if (!dec.allow)
				d->state = UDP_DEST_BLOCK;
		} else {
			d->until_ms = now_of(a); /* blocked or failed before: ask again */
			if (d->state == UDP_DEST_BLOCK)
				d->state = UDP_DEST_FAILED;
		}
	}
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
		dest_clear(d);
	}
	pending_flush(a, NULL);
	close_io(a, &a->io_relay, &a->relay_fd);
	close_io(a, &a->io_out[0], &a->out_fd[0]);
	close_io(a, &a->io_out[1], &a->out_fd[1]);
	log_summary(a);
}

void udp_assoc_free(struct udp_assoc *a)
{
	free(a);
}
