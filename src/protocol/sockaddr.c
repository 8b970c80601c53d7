/* Address helpers. See sockaddr.h for the contracts. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "protocol/sockaddr.h"

int socks_addr_to_sockaddr(const struct socks_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	*len = 0;
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->u.v4, 4);
		*len = sizeof(*sin);
		return 0;
	case SOCKS5_ATYP_IPV6:
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->u.v6, 16);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

static bool in6_is_mapped(const struct in6_addr *a)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a->s6_addr, prefix, sizeof(prefix)) == 0;
}

void socks_addr_from_sockaddr(struct socks_addr *a, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	memset(a, 0, sizeof(*a));
	a->atyp = SOCKS5_ATYP_IPV4;
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		memcpy(a->u.v4, &sin->sin_addr, 4);
		a->port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6 && in6_is_mapped(&sin6->sin6_addr)) {
		memcpy(a->u.v4, &sin6->sin6_addr.s6_addr[12], 4);
		a->port = ntohs(sin6->sin6_port);
	} else if (sa->sa_family == AF_INET6) {
		a->atyp = SOCKS5_ATYP_IPV6;
		memcpy(a->u.v6, &sin6->sin6_addr, 16);
		a->port = ntohs(sin6->sin6_port);
	}
}

/* snprintf's contract, but never negative. */
static size_t put_str(char *buf, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (size > 0) {
		size_t k = n < size - 1 ? n : size - 1;
		memcpy(buf, s, k);
		buf[k] = '\0';
	}
	return n;
}

/* A domain for display: printable ASCII as is, anything else as \xHH. */
static void escape_name(const char *name, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			*out++ = (char)c;
			continue;
		}
		*out++ = '\\';
		*out++ = 'x';
		*out++ = hex[c >> 4];
		*out++ = hex[c & 15];
	}
	*out = '\0';
}

/* The host part into tmp (at least SOCKS_ADDR_STR_MAX bytes). */
static void socks_addr_host(const struct socks_addr *a, char *tmp)
{
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		inet_ntop(AF_INET, a->u.v4, tmp, INET_ADDRSTRLEN);
		return;
	case SOCKS5_ATYP_IPV6:
		inet_ntop(AF_INET6, a->u.v6, tmp, INET6_ADDRSTRLEN);
		return;
	case SOCKS5_ATYP_DOMAIN:
		escape_name(a->u.domain.name, strnlen(a->u.domain.name, SOCKS_DOMAIN_MAX), tmp);
		return;
	}
	memcpy(tmp, "unknown", sizeof("unknown"));
}

size_t socks_addr_host_str(const struct socks_addr *a, char *buf, size_t size)
{
	char tmp[SOCKS_ADDR_STR_MAX];

	socks_addr_host(a, tmp);
	return put_str(buf, size, tmp);
}

size_t socks_addr_str(const struct socks_addr *a, char *buf, size_t size)
{
	char host[SOCKS_ADDR_STR_MAX], tmp[SOCKS_ADDR_STR_MAX + 8];

	socks_addr_host(a, host);
	snprintf(tmp, sizeof(tmp), a->atyp == SOCKS5_ATYP_IPV6 ? "[%s]:%u" : "%s:%u", host,
	         (unsigned)a->port);
	return put_str(buf, size, tmp);
}

/* Host part of an AF_INET/AF_INET6 address into tmp (INET6_ADDRSTRLEN
 * bytes); returns the family it was shown as, or 0 (then tmp is "unknown"). */
static int sockaddr_host(const struct sockaddr *sa, char *tmp)
{
	struct socks_addr a;

	if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		memcpy(tmp, "unknown", sizeof("unknown"));
		return 0;
	}
	socks_addr_from_sockaddr(&a, sa);
	if (a.atyp == SOCKS5_ATYP_IPV4) {
		inet_ntop(AF_INET, a.u.v4, tmp, INET6_ADDRSTRLEN);
		return AF_INET;
	}
	inet_ntop(AF_INET6, a.u.v6, tmp, INET6_ADDRSTRLEN);
	return AF_INET6;
}

size_t sockaddr_host_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char tmp[INET6_ADDRSTRLEN];

	sockaddr_host(sa, tmp);
	return put_str(buf, size, tmp);
}

size_t sockaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN], tmp[SOCKADDR_STR_MAX];
	int af = sockaddr_host(sa, host);

	if (af == 0)
		return put_str(buf, size, host);
	snprintf(tmp, sizeof(tmp), af == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
	         (unsigned)sockaddr_port(sa));
	return put_str(buf, size, tmp);
}

uint16_t sockaddr_port(const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void sockaddr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

int sockaddr_parse_host(const char *host, uint16_t port, struct sockaddr_storage *ss,
                        socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char tmp[INET6_ADDRSTRLEN];
	size_t n;

	memset(ss, 0, sizeof(*ss));
	*len = 0;
	if (host == NULL)
		return -1;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(tmp))
			return -1;
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	} else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
		memset(ss, 0, sizeof(*ss));
		return -1;
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	*len = sizeof(*sin6);
	return 0;
}

bool sockaddr_unmap_v4(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6)
		return false;
	memcpy(&sin6, ss, sizeof(sin6));
	if (!in6_is_mapped(&sin6.sin6_addr))
		return false;
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = sin6.sin6_port;
	memcpy(&sin->sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
	if (len != NULL)
		*len = sizeof(*sin);
	return true;
}

void sockaddr_copy_unmapped(union cs_sockaddr *out, const struct sockaddr *sa)
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
