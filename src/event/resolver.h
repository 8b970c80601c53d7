/* Asynchronous name resolution on a worker's loop: c-ares, its sockets
 * watched by the worker's epoll (ARES_OPT_SOCK_STATE_CB) and its timeouts
 * driven by one loop timer. Never getaddrinfo(3) on a worker.
 *
 * An optional per-worker cache (ttl > 0) keeps positive and negative
 * answers for `ttl` seconds (direct-mapped: a new name may evict an old
 * one; bounded memory).
 *
 * Single-threaded: a resolver belongs to its worker. */
#ifndef CSOCKS_RESOLVER_H
#define CSOCKS_RESOLVER_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "event/loop.h"

#include "protocol/sockaddr.h"

#define RESOLVE_MAX_ADDRS 8

/* Outcomes (callback status). */
enum resolve_status {
	RESOLVE_OK = 0,
	RESOLVE_NXDOMAIN = 1, /* no such name, or no address records */
	RESOLVE_TIMEOUT = 2,  /* no answer from any server */
	RESOLVE_FAILED = 3,   /* anything else (SERVFAIL, refused, out of memory) */
};

/* Addresses in the order to try them: families interleaved, starting with
 * the family of the first answer (RFC 8305 section 4). Ports filled in. */
struct resolve_result {
	uint8_t n;
	union cs_sockaddr addr[RESOLVE_MAX_ADDRS];
};

struct resolver;
struct resolve_req;
typedef void (*resolve_fn)(void *arg, int status);

/* servers: "host:port,host:port" (c-ares CSV) or NULL for /etc/resolv.conf.
 * NULL with a message in err. */
struct resolver *resolver_new(struct loop *l, const char *servers, uint32_t cache_ttl_secs,
                              char *err, size_t errlen);
/* Outstanding requests must have been cancelled. */
void resolver_free(struct resolver *r);

/* Resolve name (NUL-terminated) and fill *out with port set.
 * Returns a resolve_status when the answer is known at once (cache hit,
 * numeric, /etc/hosts): then *req is NULL and fn is never called. Returns
 * -1 when the answer will come later: fn(arg, status) is called once from
 * the loop, with *out filled, unless resolver_cancel(*req) comes first.
 * out must stay valid until then. */
int resolver_lookup(struct resolver *r, const char *name, uint16_t port, struct resolve_result *out,
                    resolve_fn fn, void *arg, struct resolve_req **req);
/* Forget a pending request: fn will not be called, out not touched. */
void resolver_cancel(struct resolve_req *req);

/* Reorder addrs in place: interleave families, starting with addrs[0]'s. */
void resolve_interleave(struct resolve_result *res);

#endif
