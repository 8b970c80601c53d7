/* Address helpers used everywhere: struct socks_addr <-> struct sockaddr,
 * printing for logs, strict parsing of literal addresses. Pure functions: no
 * I/O, no name resolution, no allocation.
 *
 * The *_str functions follow snprintf: they return the length of the whole
 * text and write at most size bytes, always NUL-terminated when size > 0
 * (buf may be NULL when size is 0). SOCKADDR_STR_MAX and SOCKS_ADDR_STR_MAX
 * are always enough. */
#ifndef CSOCKS_SOCKADDR_H
#define CSOCKS_SOCKADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "protocol/proto_types.h"

/* Any IPv4 or IPv6 socket address, by value. */
union cs_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static inline socklen_t cs_sockaddr_len(const union cs_sockaddr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

/* "[" INET6_ADDRSTRLEN "]:65535" */
#define SOCKADDR_STR_MAX 64
/* A domain with every byte escaped as \xHH, plus ":65535". */
#define SOCKS_ADDR_STR_MAX (4 * SOCKS_DOMAIN_MAX + 8)

/* IPv4/IPv6 into a sockaddr_in/sockaddr_in6 (port included). Returns 0, or
 * -1 for a domain or an unknown atyp (then *ss is zeroed and *len is 0). */
int socks_addr_to_sockaddr(const struct socks_addr *a, struct sockaddr_storage *ss, socklen_t *len);
/* The reverse; an IPv4-mapped IPv6 address becomes IPv4. sa may be NULL or
 * of another family: then a is 0.0.0.0 port 0 (IPv4). */
void socks_addr_from_sockaddr(struct socks_addr *a, const struct sockaddr *sa);

/* "1.2.3.4", "2001:db8::1", "example.com": the host only. Control bytes,
 * backslash and bytes >= 0x7f in a domain are written as \xHH (a name from
 * the wire must not forge log lines); "unknown" for an unknown atyp. */
size_t socks_addr_host_str(const struct socks_addr *a, char *buf, size_t size);
/* "1.2.3.4:80", "[2001:db8::1]:443", "example.com:80". */
size_t socks_addr_str(const struct socks_addr *a, char *buf, size_t size);

/* "1.2.3.4", "2001:db8::1"; an IPv4-mapped IPv6 address is shown as IPv4;
 * "unknown" for NULL or another family. */
size_t sockaddr_host_str(const struct sockaddr *sa, char *buf, size_t size);
/* "1.2.3.4:80", "[2001:db8::1]:443" (mapped shown as IPv4); "unknown" as above. */
size_t sockaddr_str(const struct sockaddr *sa, char *buf, size_t size);
/* Port in host byte order; 0 for NULL or another family. */
uint16_t sockaddr_port(const struct sockaddr *sa);
/* Set the port (host byte order) of an AF_INET or AF_INET6 address; other
 * families are left alone. */
void sockaddr_set_port(struct sockaddr *sa, uint16_t port);
/* Copy an AF_INET or AF_INET6 address into out, an IPv4-mapped IPv6
 * address as plain IPv4. */
void sockaddr_copy_unmapped(union cs_sockaddr *out, const struct sockaddr *sa);

/* Parse a literal address: "1.2.3.4", "::1" or "[::1]" (brackets only around
 * IPv6), strictly by inet_pton (no names, no "1.2.3", no leading zeros, no
 * scope ids), with port in host byte order. Returns 0, or -1 (then *ss is
 * zeroed and *len is 0). */
int sockaddr_parse_host(const char *host, uint16_t port, struct sockaddr_storage *ss,
                        socklen_t *len);

/* If ss is AF_INET6 holding ::ffff:a.b.c.d, rewrite it in place as AF_INET
 * a.b.c.d with the same port, set *len (when len is not NULL) and return
 * true; otherwise leave both alone and return false. */
bool sockaddr_unmap_v4(struct sockaddr_storage *ss, socklen_t *len);

#endif
