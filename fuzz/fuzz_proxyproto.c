/* libFuzzer target: PROXY protocol v1/v2 parser, and the strict literal
 * address parser (sockaddr_parse_host) on the same bytes as a string.
 * Contracts checked as in fuzz_socks5.c, plus: a parsed v1/v2 endpoint
 * printed as a v1 line parses back to the same endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proxyproto.h"
#include "protocol/sockaddr.h"

#define ASSERT(c) ((c) ? (void)0 : abort())

static int call(const uint8_t *data, size_t len, struct proxyproto_info *out, size_t *c)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, data, len);
	rc = proxyproto_parse(copy, len, out, c);
	free(copy);
	ASSERT(rc == PROTO_OK || rc == PROTO_INCOMPLETE || rc == PROTO_BAD_VERSION ||
	       rc == PROTO_MALFORMED);
	ASSERT(rc == PROTO_OK ? *c >= 8 && *c <= len && *c <= PROXYPROTO_MAX : *c == 0);
	return rc;
}

/* Print info as a v1 line and parse it again: same endpoints. */
static void check_v1_roundtrip(const struct proxyproto_info *pi)
{
	const struct sockaddr *s = (const struct sockaddr *)&pi->src;
	const struct sockaddr *d = (const struct sockaddr *)&pi->dst;
	char sh[INET6_ADDRSTRLEN], dh[INET6_ADDRSTRLEN], line[PROXYPROTO_V1_MAX + 1];
	struct proxyproto_info back;
	size_t c;
	int n;

	ASSERT(s->sa_family == d->sa_family);
	ASSERT(s->sa_family == AF_INET || s->sa_family == AF_INET6);
	if (s->sa_family == AF_INET6) {
		/* Printing would unmap ::ffff:a.b.c.d; compare raw instead. */
		struct sockaddr_storage t = pi->src;
		if (sockaddr_unmap_v4(&t, NULL))
			return;
		t = pi->dst;
		if (sockaddr_unmap_v4(&t, NULL))
			return;
	}
	sockaddr_host_str(s, sh, sizeof(sh));
	sockaddr_host_str(d, dh, sizeof(dh));
	n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
	             s->sa_family == AF_INET ? "TCP4" : "TCP6", sh, dh, sockaddr_port(s),
	             sockaddr_port(d));
	ASSERT(n > 0 && (size_t)n < sizeof(line));
	ASSERT(proxyproto_parse((const uint8_t *)line, (size_t)n, &back, &c) == PROTO_OK);
	ASSERT(c == (size_t)n && !back.local);
	ASSERT(memcmp(&back.src, &pi->src, sizeof(back.src)) == 0);
	ASSERT(memcmp(&back.dst, &pi->dst, sizeof(back.dst)) == 0);
}

/* The input as a C string through sockaddr_parse_host and back. */
static void check_parse_host(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss, ss2;
	char host[80], shown[INET6_ADDRSTRLEN];
	socklen_t len, len2;

	if (size >= sizeof(host))
		return;
	memcpy(host, data, size);
	host[size] = '\0';
	if (sockaddr_parse_host(host, 1, &ss, &len) != 0) {
		ASSERT(len == 0);
		return;
	}
	sockaddr_unmap_v4(&ss, &len);
	sockaddr_host_str((struct sockaddr *)&ss, shown, sizeof(shown));
	ASSERT(sockaddr_parse_host(shown, 1, &ss2, &len2) == 0);
	ASSERT(len == len2 && memcmp(&ss, &ss2, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proxyproto_info pi, p2;
	size_t c, pc;
	int rc = call(data, size, &pi, &c);
	size_t cuts[3] = {size / 2, size ? size - 1 : 0, size ? data[size - 1] % (size + 1) : 0};

	for (int i = 0; i < 3; i++) {
		int prc = call(data, cuts[i], &p2, &pc);
		if (prc != PROTO_INCOMPLETE)
			ASSERT(prc == rc && pc == c && memcmp(&pi, &p2, sizeof(pi)) == 0);
	}
	if (rc == PROTO_OK && !pi.local)
		check_v1_roundtrip(&pi);
	if (rc == PROTO_OK && pi.local)
		ASSERT(pi.src.ss_family == 0 && pi.dst.ss_family == 0);
	check_parse_host(data, size);
	return 0;
}
