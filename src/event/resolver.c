#include "event/resolver.h"

#include <ares.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "protocol/sockaddr.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/hash.h"

#define CACHE_SLOTS 512

struct cache_entry {
	char name[256]; /* lower-case */
	uint64_t expires;
	int status;
	struct resolve_result res; /* ports are 0 */
};

/* A c-ares socket being watched. Slots are reused, never freed before the
 * resolver: the loop may hold an event for a socket c-ares just closed. */
struct ares_sock {
	struct loop_io io;
	struct resolver *r;
};

struct resolver {
	struct loop *loop;
	ares_channel ch;
	struct timer t;
	struct ares_sock **socks;
	size_t n_socks;
	uint32_t ttl_ms;
	struct cache_entry **cache; /* CACHE_SLOTS, allocated on first use */
};

struct resolve_req {
	struct resolver *r;
	resolve_fn fn;
	void *arg;
	struct resolve_result *out;
	uint16_t port;
	bool cancelled;
	bool in_start; /* c-ares answered inside ares_getaddrinfo() */
	bool done;
	int status;
	char name[256];
};

static void resolver_rearm(struct resolver *r)
{
	struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
	if (!tvp) {
		loop_timer_cancel(r->loop, &r->t);
		return;
	}
	uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)(tvp->tv_usec + 999) / 1000;
	loop_timer_in(r->loop, &r->t, ms);
}

static void on_ares_timer(struct timer *t)
{
	struct resolver *r = t->data;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolver_rearm(r);
}

static void on_ares_io(struct loop_io *io, uint32_t events)
{
	struct ares_sock *s = io->data;
	struct resolver *r = s->r;
	int fd = io->fd;
	ares_process_fd(r->ch, (events & LOOP_READ) ? fd : ARES_SOCKET_BAD,
	                (events & LOOP_WRITE) ? fd : ARES_SOCKET_BAD);
	resolver_rearm(r);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	struct ares_sock *s = NULL, *free_slot = NULL;
	for (size_t i = 0; i < r->n_socks; i++) {
		if (r->socks[i]->io.fd == fd)
			s = r->socks[i];
		else if (r->socks[i]->io.fd < 0 && !free_slot)
			free_slot = r->socks[i];
	}
	uint32_t mask = (readable ? LOOP_READ : 0) | (writable ? LOOP_WRITE : 0);
	if (!mask) {
		if (s)
			loop_io_del(r->loop, &s->io);
		return;
	}
	if (s) {
		if (loop_io_mod(r->loop, &s->io, mask) < 0)
			log_warn("resolver: epoll_ctl(MOD) on fd %d failed", fd);
		return;
	}
	if (!free_slot) {
		free_slot = xcalloc(1, sizeof(*free_slot));
		free_slot->r = r;
		loop_io_init(&free_slot->io, on_ares_io, free_slot);
		r->socks = xrealloc(r->socks, (r->n_socks + 1) * sizeof(*r->socks));
		r->socks[r->n_socks++] = free_slot;
	}
	if (loop_io_add(r->loop, &free_slot->io, fd, mask) < 0)
		log_warn("resolver: epoll_ctl(ADD) on fd %d failed", fd);
}

struct resolver *resolver_new(struct loop *l, const char *servers, uint32_t cache_ttl_secs,
                              char *err, size_t errlen)
{
	struct resolver *r = xcalloc(1, sizeof(*r));
	r->loop = l;
	r->ttl_ms = cache_ttl_secs * 1000u;
	timer_init(&r->t, on_ares_timer, r);
	struct ares_options o;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = r;
	o.timeout = 2000; /* ms per try */
	o.tries = 2;
	int rc = ares_init_options(&r->ch, &o,
	                           ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(rc));
		r->ch = NULL;
		resolver_free(r);
		return NULL;
	}
	if (servers && *servers) {
		rc = ares_set_servers_ports_csv(r->ch, servers);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "DNS servers \"%s\": %s", servers, ares_strerror(rc));
			resolver_free(r);
			return NULL;
		}
	}
	return r;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	if (r->ch)
		ares_destroy(r->ch); /* cancelled requests are freed by their callbacks */
	loop_timer_cancel(r->loop, &r->t);
	for (size_t i = 0; i < r->n_socks; i++) {
		loop_io_del(r->loop, &r->socks[i]->io);
		free(r->socks[i]);
	}
	free(r->socks);
	if (r->cache) {
		for (size_t i = 0; i < CACHE_SLOTS; i++)
			free(r->cache[i]);
		free(r->cache);
	}
	free(r);
}

void resolve_interleave(struct resolve_result *res)
{
	if (res->n < 3)
		return;
	union cs_sockaddr a[RESOLVE_MAX_ADDRS], b[RESOLVE_MAX_ADDRS];
	size_t na = 0, nb = 0;
	int fam = res->addr[0].sa.sa_family;
	for (size_t i = 0; i < res->n; i++) {
		if (res->addr[i].sa.sa_family == fam)
			a[na++] = res->addr[i];
		else
			b[nb++] = res->addr[i];
	}
	size_t k = 0, ia = 0, ib = 0;
	while (ia < na || ib < nb) {
		if (ia < na)
			res->addr[k++] = a[ia++];
		if (ib < nb)
			res->addr[k++] = b[ib++];
	}
}

static void set_ports(struct resolve_result *res, uint16_t port)
{
	for (size_t i = 0; i < res->n; i++)
		sockaddr_set_port(&res->addr[i].sa, port);
}

static uint32_t name_hash(const char *s)
{
	return (uint32_t)cs_hash_str(s);
}

static struct cache_entry *cache_find(struct resolver *r, const char *name, bool create)
{
	if (!r->ttl_ms)
		return NULL;
	if (!r->cache) {
		if (!create)
			return NULL;
		r->cache = xcalloc(CACHE_SLOTS, sizeof(*r->cache));
	}
	struct cache_entry **slot = &r->cache[name_hash(name) % CACHE_SLOTS];
	if (*slot && strcmp((*slot)->name, name) == 0)
		return *slot;
	if (!create)
		return NULL;
	if (!*slot)
		*slot = xmalloc(sizeof(**slot));
	cs_strlcpy((*slot)->name, name, sizeof((*slot)->name));
	return *slot;
}

static void cache_store(struct resolver *r, const char *name, int status,
                        const struct resolve_result *res)
{
	if (status != RESOLVE_OK && status != RESOLVE_NXDOMAIN)
		return; /* timeouts and failures are not answers */
	struct cache_entry *e = cache_find(r, name, true);
	if (!e)
		return;
	e->expires = loop_now(r->loop) + r->ttl_ms;
	e->status = status;
	e->res = *res;
}

static int map_ares_status(int st)
{
	switch (st) {
	case ARES_SUCCESS:
		return RESOLVE_OK;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return RESOLVE_NXDOMAIN;
	case ARES_ETIMEOUT:
		return RESOLVE_TIMEOUT;
	}
	return RESOLVE_FAILED;
}

static void on_addrinfo(void *arg, int st, int timeouts, struct ares_addrinfo *ai)
{
	struct resolve_req *q = arg;
	(void)timeouts;
	if (q->cancelled) {
		if (ai)
			ares_freeaddrinfo(ai);
		free(q);
		return;
	}
	struct resolve_result res = {.n = 0};
	int status = map_ares_status(st);
	if (status == RESOLVE_OK && ai) {
		for (struct ares_addrinfo_node *n = ai->nodes; n && res.n < RESOLVE_MAX_ADDRS;
		     n = n->ai_next) {
			if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in))
				memcpy(&res.addr[res.n++].in, n->ai_addr,
				       sizeof(struct sockaddr_in));
			else if (n->ai_family == AF_INET6 &&
			         n->ai_addrlen >= sizeof(struct sockaddr_in6))
				memcpy(&res.addr[res.n++].in6, n->ai_addr,
				       sizeof(struct sockaddr_in6));
		}
		if (res.n == 0)
			status = RESOLVE_NXDOMAIN;
	}
	if (ai)
		ares_freeaddrinfo(ai);
	resolve_interleave(&res);
	cache_store(q->r, q->name, status, &res);
	*q->out = res;
	set_ports(q->out, q->port);
	q->status = status;
	q->done = true;
	if (q->in_start)
		return; /* resolver_lookup answers synchronously */
	resolve_fn fn = q->fn;
	void *fa = q->arg;
	free(q);
	fn(fa, status);
}

int resolver_lookup(struct resolver *r, const char *name, uint16_t port, struct resolve_result *out,
                    resolve_fn fn, void *arg, struct resolve_req **req)
{
	*req = NULL;
	char lname[256];
	size_t i;
	for (i = 0; i < sizeof(lname) - 1 && name[i]; i++)
		lname[i] = (char)tolower((unsigned char)name[i]);
	lname[i] = 0;
	if (i > 1 && lname[i - 1] == '.')
		lname[i - 1] = 0; /* "example.com." is "example.com" */

	struct cache_entry *e = cache_find(r, lname, false);
	if (e && timer_before(loop_now(r->loop), e->expires)) {
		*out = e->res;
		set_ports(out, port);
		return e->status;
	}

	struct resolve_req *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->fn = fn;
	q->arg = arg;
	q->out = out;
	q->port = port;
	q->in_start = true;
	cs_strlcpy(q->name, lname, sizeof(q->name));
	struct ares_addrinfo_hints h;
	memset(&h, 0, sizeof(h));
	h.ai_family = AF_UNSPEC;
	h.ai_socktype = SOCK_STREAM;
	h.ai_protocol = IPPROTO_TCP;
	ares_getaddrinfo(r->ch, lname, NULL, &h, on_addrinfo, q);
	q->in_start = false;
	if (q->done) {
		int st = q->status;
		free(q);
		return st;
	}
	resolver_rearm(r);
	*req = q;
	return -1;
}

void resolver_cancel(struct resolve_req *req)
{
	if (req)
		req->cancelled = true; /* freed when c-ares calls back */
}
