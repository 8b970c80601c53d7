/* libFuzzer target: SOCKS5 greeting, RFC 1929 and request parsers.
 *
 * Besides memory safety (ASan/UBSan) it checks the parsers' contracts:
 * consumed is 0 unless OK and never past the input; a result other than
 * INCOMPLETE on a prefix is final (the whole input gives the same result and
 * consumed); a parsed message re-serialises to exactly the bytes it came
 * from. Prefixes are parsed from heap copies of exactly their length, so a
 * read past len is caught. */
#include <stdlib.h>
#include <string.h>

#include "protocol/socks5.h"

#define ASSERT(c) ((c) ? (void)0 : abort())

typedef int (*parse_fn)(const uint8_t *buf, size_t len, size_t *consumed, void *out);

static int p_greeting(const uint8_t *b, size_t l, size_t *c, void *out)
{
	return socks5_parse_greeting(b, l, out, c);
}

static int p_userpass(const uint8_t *b, size_t l, size_t *c, void *out)
{
	return socks5_parse_userpass(b, l, out, c);
}

static int p_request(const uint8_t *b, size_t l, size_t *c, void *out)
{
	return socks5_parse_request(b, l, out, c);
}

static int call(parse_fn fn, const uint8_t *data, size_t len, size_t *c, void *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, data, len);
	rc = fn(copy, len, c, out);
	free(copy);
	ASSERT(rc == PROTO_OK || rc == PROTO_INCOMPLETE || rc == PROTO_BAD_VERSION ||
	       rc == PROTO_MALFORMED || rc == PROTO_BAD_ATYP);
	ASSERT(rc == PROTO_OK ? *c > 0 && *c <= len : *c == 0);
	return rc;
}

/* Parse the whole input and a few prefixes; returns the whole's result. */
static int check_parser(parse_fn fn, const uint8_t *data, size_t size, size_t *c, void *out,
                        void *tmp, size_t out_size)
{
	int rc = call(fn, data, size, c, out);
	size_t cuts[3] = {size / 2, size ? size - 1 : 0, size ? data[size - 1] % (size + 1) : 0};

	for (int i = 0; i < 3; i++) {
		size_t pc;
		int prc = call(fn, data, cuts[i], &pc, tmp);
		if (prc == PROTO_INCOMPLETE)
			continue;
		ASSERT(prc == rc && pc == *c);
		ASSERT(memcmp(out, tmp, out_size) == 0);
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct socks5_greeting g, g2;
	static struct socks5_userpass u, u2;
	static struct socks5_request r, r2;
	uint8_t out[600];
	size_t c, n;

	if (check_parser(p_greeting, data, size, &c, &g, &g2, sizeof(g)) == PROTO_OK) {
		n = socks5_write_greeting(out, sizeof(out), g.methods, g.nmethods);
		ASSERT(n == c && memcmp(out, data, n) == 0);
		ASSERT(socks5_greeting_offers(&g, g.methods[0]));
		/* A client may pipeline its request behind the greeting. */
		check_parser(p_request, data + c, size - c, &n, &r, &r2, sizeof(r));
	}
	if (check_parser(p_userpass, data, size, &c, &u, &u2, sizeof(u)) == PROTO_OK) {
		ASSERT(strlen(u.user) == u.ulen && strlen(u.pass) == u.plen && u.ulen > 0);
		n = socks5_write_userpass(out, sizeof(out), u.user, u.pass);
		ASSERT(n == c && memcmp(out, data, n) == 0);
	}
	if (check_parser(p_request, data, size, &c, &r, &r2, sizeof(r)) == PROTO_OK) {
		if (r.dst.atyp == SOCKS5_ATYP_DOMAIN)
			ASSERT(r.dst.u.domain.len > 0 &&
			       strlen(r.dst.u.domain.name) == r.dst.u.domain.len);
		n = socks5_write_request(out, sizeof(out), &r);
		ASSERT(n == c && memcmp(out, data, n) == 0);
		ASSERT(socks5_cmd_name(r.cmd) != NULL);
	}
	return 0;
}
