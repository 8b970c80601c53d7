/* Unit tests for src/protocol: SOCKS5, RFC 1929, SOCKS4/4a, UDP headers,
 * PROXY protocol v1/v2 and the address helpers.
 *
 * Most parser tests are rows of a table. Every row is checked three ways:
 * the whole message (result and consumed), every shorter prefix (must be
 * INCOMPLETE, or for a broken message INCOMPLETE or the same error: errors
 * are final), and the message followed by unrelated bytes (consumed must not
 * change). Every call gets a heap copy of exactly the bytes it may read, so
 * ASan and valgrind catch a parser that looks one byte too far. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/un.h>

#include "protocol/gssapi_frame.h"
#include "protocol/proxyproto.h"
#include "protocol/sockaddr.h"
#include "protocol/socks4.h"
#include "protocol/socks5.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------ */

/* Hex digits to bytes; spaces ignored. Returns the length. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;
		if (*s == ' ')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			abort();
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap)
			abort();
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		abort();
	return n;
}

typedef int (*parse_fn)(const uint8_t *buf, size_t len, size_t *consumed);

static int p_greeting(const uint8_t *b, size_t l, size_t *c)
{
	struct socks5_greeting g;
	return socks5_parse_greeting(b, l, &g, c);
}

static int p_userpass(const uint8_t *b, size_t l, size_t *c)
{
	struct socks5_userpass u;
	return socks5_parse_userpass(b, l, &u, c);
}

static int p_request(const uint8_t *b, size_t l, size_t *c)
{
	struct socks5_request r;
	return socks5_parse_request(b, l, &r, c);
}

static int p_socks4(const uint8_t *b, size_t l, size_t *c)
{
	struct socks4_request r;
	return socks4_parse_request(b, l, &r, c);
}

static int p_proxy(const uint8_t *b, size_t l, size_t *c)
{
	struct proxyproto_info i;
	return proxyproto_parse(b, l, &i, c);
}

/* Call fn on a heap copy of exactly len bytes. */
static int parse_exact(parse_fn fn, const uint8_t *buf, size_t len, size_t *consumed)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	if (len)
		memcpy(copy, buf, len);
	*consumed = 12345;
	rc = fn(copy, len, consumed);
	free(copy);
	return rc;
}

struct pcase {
	const char *name;
	parse_fn fn;
	const char *data; /* hex, or text when text is set */
	bool text;
	int want;
	size_t consumed; /* for PROTO_OK: 0 means the whole message */
};

static size_t case_bytes(const struct pcase *c, uint8_t *buf, size_t cap)
{
	size_t n;

	if (!c->text)
		return unhex(c->data, buf, cap);
	n = strlen(c->data);
	if (n > cap)
		abort();
	memcpy(buf, c->data, n);
	return n;
}

/* The three checks described at the top, for one message. */
static void check_message(const char *name, parse_fn fn, const uint8_t *msg, size_t len, int want,
                          size_t want_consumed)
{
	uint8_t *more = malloc(len + 7);
	size_t consumed;
	int rc;

	rc = parse_exact(fn, msg, len, &consumed);
	if (!test_check(rc == want, "result", __FILE__, __LINE__))
		fprintf(stderr, "    %s: got %d (%s), want %d\n", name, rc, proto_result_name(rc),
		        want);
	if (!test_check(consumed == (rc == PROTO_OK ? want_consumed : 0), "consumed", __FILE__,
	                __LINE__))
		fprintf(stderr, "    %s: consumed %zu, want %zu\n", name, consumed, want_consumed);
	for (size_t k = 0; k < len; k++) {
		rc = parse_exact(fn, msg, k, &consumed);
		bool ok = want == PROTO_OK ? rc == PROTO_INCOMPLETE && consumed == 0
		                           : rc == PROTO_INCOMPLETE || rc == want;
		if (!test_check(ok, "prefix", __FILE__, __LINE__))
			fprintf(stderr, "    %s: prefix %zu gave %d\n", name, k, rc);
	}
	memcpy(more, msg, len);
	memcpy(more + len, "\x05\x01\x00PRO", 7);
	rc = parse_exact(fn, more, len + 7, &consumed);
	if (!test_check(rc == want && consumed == (rc == PROTO_OK ? want_consumed : 0), "trailing",
	                __FILE__, __LINE__))
		fprintf(stderr, "    %s: with trailing bytes got %d consumed %zu\n", name, rc,
		        consumed);
	free(more);
}

static void run_cases(const struct pcase *cases, size_t n)
{
	uint8_t buf[4096];

	for (size_t i = 0; i < n; i++) {
		size_t len = case_bytes(&cases[i], buf, sizeof(buf));
		size_t want_consumed = cases[i].consumed ? cases[i].consumed : len;
		check_message(cases[i].name, cases[i].fn, buf, len, cases[i].want, want_consumed);
	}
}

#define RUN_CASES(t) run_cases(t, sizeof(t) / sizeof(t[0]))

/* ---- SOCKS5 greeting ---------------------------------------------------- */

static const struct pcase greeting_cases[] = {
    {"one method", p_greeting, "05 01 00", false, PROTO_OK, 0},
    {"two methods", p_greeting, "05 02 00 02", false, PROTO_OK, 0},
    {"three methods", p_greeting, "05 03 00 01 02", false, PROTO_OK, 0},
    {"unknown methods", p_greeting, "05 02 80 fe", false, PROTO_OK, 0},
    {"socks4 version", p_greeting, "04 01 00", false, PROTO_BAD_VERSION, 0},
    {"version 0", p_greeting, "00", false, PROTO_BAD_VERSION, 0},
    {"http", p_greeting, "474554202f", false, PROTO_BAD_VERSION, 0},
    {"nmethods 0", p_greeting, "05 00", false, PROTO_MALFORMED, 0},
};

static void t_greeting_table(void)
{
	RUN_CASES(greeting_cases);
}

static void t_greeting_values(void)
{
	struct socks5_greeting g;
	uint8_t buf[300];
	size_t c, n = unhex("05 03 00 02 80", buf, sizeof(buf));

	CHECK_INT(socks5_parse_greeting(buf, n, &g, &c), PROTO_OK);
	CHECK_INT(c, 5);
	CHECK_INT(g.nmethods, 3);
	CHECK(socks5_greeting_offers(&g, SOCKS5_METHOD_NONE));
	CHECK(socks5_greeting_offers(&g, SOCKS5_METHOD_USERPASS));
	CHECK(socks5_greeting_offers(&g, 0x80));
	CHECK(!socks5_greeting_offers(&g, SOCKS5_METHOD_GSSAPI));
	CHECK(!socks5_greeting_offers(&g, SOCKS5_METHOD_NO_ACCEPTABLE));

	/* All 255 methods. */
	buf[0] = 5;
	buf[1] = 255;
	for (int i = 0; i < 255; i++)
		buf[2 + i] = (uint8_t)i;
	check_message("255 methods", p_greeting, buf, 257, PROTO_OK, 257);
	CHECK_INT(socks5_parse_greeting(buf, 257, &g, &c), PROTO_OK);
	CHECK_INT(g.nmethods, 255);
	CHECK(socks5_greeting_offers(&g, 254));
	CHECK(!socks5_greeting_offers(&g, 255));
	CHECK_INT(SOCKS5_GREETING_MAX, 257);

	/* A failed parse leaves a zeroed greeting. */
	CHECK_INT(socks5_parse_greeting(buf, 100, &g, &c), PROTO_INCOMPLETE);
	CHECK_INT(g.nmethods, 0);
	CHECK(!socks5_greeting_offers(&g, 0));
}

/* ---- RFC 1929 ----------------------------------------------------------- */

static const struct pcase userpass_cases[] = {
    {"user pass", p_userpass, "01 04 75736572 04 70617373", false, PROTO_OK, 0},
    {"empty password", p_userpass, "01 01 61 00", false, PROTO_OK, 0},
    {"one byte each", p_userpass, "01 01 61 01 62", false, PROTO_OK, 0},
    {"version 5", p_userpass, "05 01 61 01 62", false, PROTO_BAD_VERSION, 0},
    {"version 0", p_userpass, "00", false, PROTO_BAD_VERSION, 0},
    {"empty user", p_userpass, "01 00 01 62", false, PROTO_MALFORMED, 0},
    {"NUL in user", p_userpass, "01 03 61 00 62 01 70", false, PROTO_MALFORMED, 0},
    {"user is NUL", p_userpass, "01 01 00 01 70", false, PROTO_MALFORMED, 0},
    {"NUL in pass", p_userpass, "01 01 61 02 70 00", false, PROTO_MALFORMED, 0},
};

static void t_userpass_table(void)
{
	RUN_CASES(userpass_cases);
}

static void t_userpass_values(void)
{
	struct socks5_userpass u;
	uint8_t buf[600];
	size_t c, n = unhex("01 04 75736572 06 736563726574", buf, sizeof(buf));

	CHECK_INT(socks5_parse_userpass(buf, n, &u, &c), PROTO_OK);
	CHECK_INT(c, n);
	CHECK_STR(u.user, "user");
	CHECK_INT(u.ulen, 4);
	CHECK_STR(u.pass, "secret");
	CHECK_INT(u.plen, 6);

	n = unhex("01 01 61 00", buf, sizeof(buf));
	CHECK_INT(socks5_parse_userpass(buf, n, &u, &c), PROTO_OK);
	CHECK_STR(u.user, "a");
	CHECK_STR(u.pass, "");
	CHECK_INT(u.plen, 0);

	/* 255/255, the largest message. */
	buf[0] = 1;
	buf[1] = 255;
	memset(buf + 2, 'u', 255);
	buf[257] = 255;
	memset(buf + 258, 'p', 255);
	check_message("255/255", p_userpass, buf, 513, PROTO_OK, SOCKS5_USERPASS_MAX);
	CHECK_INT(socks5_parse_userpass(buf, 513, &u, &c), PROTO_OK);
	CHECK_INT(strlen(u.user), 255);
	CHECK_INT(strlen(u.pass), 255);
	CHECK_INT(u.ulen, 255);

	/* A malformed password leaves nothing of the secret behind. */
	n = unhex("01 01 61 03 70 71 00", buf, sizeof(buf));
	CHECK_INT(socks5_parse_userpass(buf, n, &u, &c), PROTO_MALFORMED);
	CHECK_STR(u.pass, "");
	CHECK_STR(u.user, "");
	/* So does an incomplete one. */
	n = unhex("01 01 61 03 70 71", buf, sizeof(buf));
	CHECK_INT(socks5_parse_userpass(buf, n, &u, &c), PROTO_INCOMPLETE);
	CHECK_STR(u.pass, "");
}

/* ---- SOCKS5 request ----------------------------------------------------- */

static const struct pcase request_cases[] = {
    {"connect ipv4", p_request, "05 01 00 01 7f000001 0050", false, PROTO_OK, 0},
    {"connect ipv6", p_request, "05 01 00 04 20010db8000000000000000000000001 01bb", false,
     PROTO_OK, 0},
    {"connect domain", p_request, "05 01 00 03 0b 6578616d706c652e636f6d 0050", false, PROTO_OK, 0},
    {"one-byte domain", p_request, "05 01 00 03 01 61 0050", false, PROTO_OK, 0},
    {"bind", p_request, "05 02 00 01 00000000 0000", false, PROTO_OK, 0},
    {"udp associate", p_request, "05 03 00 01 00000000 0000", false, PROTO_OK, 0},
    {"unknown cmd", p_request, "05 09 00 01 01020304 ffff", false, PROTO_OK, 0},
    {"cmd 0", p_request, "05 00 00 01 01020304 ffff", false, PROTO_OK, 0},
    {"rsv nonzero", p_request, "05 01 ff 01 01020304 0001", false, PROTO_OK, 0},
    {"version 4", p_request, "04 01 00 01 7f000001 0050", false, PROTO_BAD_VERSION, 0},
    {"version 0", p_request, "00", false, PROTO_BAD_VERSION, 0},
    {"atyp 0", p_request, "05 01 00 00 7f000001 0050", false, PROTO_BAD_ATYP, 0},
    {"atyp 2", p_request, "05 01 00 02 7f000001 0050", false, PROTO_BAD_ATYP, 0},
    {"atyp 5", p_request, "05 01 00 05", false, PROTO_BAD_ATYP, 0},
    {"atyp ff", p_request, "05 01 00 ff 00", false, PROTO_BAD_ATYP, 0},
    {"empty domain", p_request, "05 01 00 03 00 0050", false, PROTO_MALFORMED, 0},
    {"NUL in domain", p_request, "05 01 00 03 03 61 00 62 0050", false, PROTO_MALFORMED, 0},
    {"NUL-terminated domain", p_request, "05 01 00 03 02 61 00 0050", false, PROTO_MALFORMED, 0},
};

static void t_request_table(void)
{
	RUN_CASES(request_cases);
}

static void t_request_values(void)
{
	struct socks5_request r;
	uint8_t buf[300];
	size_t c, n;

	n = unhex("05 01 00 01 c0a80101 1f90", buf, sizeof(buf));
	CHECK_INT(socks5_parse_request(buf, n, &r, &c), PROTO_OK);
	CHECK_INT(r.cmd, SOCKS5_CMD_CONNECT);
	CHECK_INT(r.dst.atyp, SOCKS5_ATYP_IPV4);
	CHECK(memcmp(r.dst.u.v4, "\xc0\xa8\x01\x01", 4) == 0);
	CHECK_INT(r.dst.port, 8080);

	n = unhex("05 03 00 04 20010db8000000000000000000000001 0035", buf, sizeof(buf));
	CHECK_INT(socks5_parse_request(buf, n, &r, &c), PROTO_OK);
	CHECK_INT(r.cmd, SOCKS5_CMD_UDP_ASSOCIATE);
	CHECK_INT(r.dst.atyp, SOCKS5_ATYP_IPV6);
	CHECK_INT(r.dst.u.v6[0], 0x20);
	CHECK_INT(r.dst.u.v6[15], 0x01);
	CHECK_INT(r.dst.port, 53);

	n = unhex("05 02 07 03 0b 6578616d706c652e636f6d 01bb", buf, sizeof(buf));
	CHECK_INT(socks5_parse_request(buf, n, &r, &c), PROTO_OK);
	CHECK_INT(r.cmd, SOCKS5_CMD_BIND);
	CHECK_INT(r.rsv, 7);
	CHECK_INT(r.dst.atyp, SOCKS5_ATYP_DOMAIN);
	CHECK_INT(r.dst.u.domain.len, 11);
	CHECK_STR(r.dst.u.domain.name, "example.com");
	CHECK_INT(r.dst.port, 443);

	/* 255-byte domain: the largest request. */
	buf[0] = 5, buf[1] = 1, buf[2] = 0, buf[3] = 3, buf[4] = 255;
	memset(buf + 5, 'd', 255);
	buf[260] = 0x12, buf[261] = 0x34;
	check_message("255-byte domain", p_request, buf, 262, PROTO_OK, SOCKS5_REQUEST_MAX);
	CHECK_INT(socks5_parse_request(buf, 262, &r, &c), PROTO_OK);
	CHECK_INT(strlen(r.dst.u.domain.name), 255);
	CHECK_INT(r.dst.port, 0x1234);

	/* Failure leaves a zeroed request. */
	n = unhex("05 01 00 03 00 0050", buf, sizeof(buf));
	CHECK_INT(socks5_parse_request(buf, n, &r, &c), PROTO_MALFORMED);
	CHECK_INT(r.cmd, 0);
	CHECK_INT(r.dst.atyp, 0);
}

/* Greeting, sub-negotiation and request in one segment: each parser takes
 * exactly its own bytes. */
static void t_pipelined(void)
{
	struct socks5_greeting g;
	struct socks5_userpass u;
	struct socks5_request r;
	uint8_t buf[300];
	size_t c, off = 0;
	size_t n = unhex("05 02 00 02"
	                 "01 03 626f62 02 7077"
	                 "05 01 00 03 07 6578616d706c65 0050",
	                 buf, sizeof(buf));

	CHECK_INT(socks5_parse_greeting(buf, n, &g, &c), PROTO_OK);
	CHECK_INT(c, 4);
	off += c;
	CHECK_INT(socks5_parse_userpass(buf + off, n - off, &u, &c), PROTO_OK);
	CHECK_INT(c, 8);
	CHECK_STR(u.user, "bob");
	CHECK_STR(u.pass, "pw");
	off += c;
	CHECK_INT(socks5_parse_request(buf + off, n - off, &r, &c), PROTO_OK);
	CHECK_INT(c, 14);
	CHECK_STR(r.dst.u.domain.name, "example");
	off += c;
	CHECK_INT(off, n);

	/* Greeting and request, no auth. */
	n = unhex("05 01 00 05 01 00 01 0a000001 0016", buf, sizeof(buf));
	CHECK_INT(socks5_parse_greeting(buf, n, &g, &c), PROTO_OK);
	CHECK_INT(c, 3);
	CHECK_INT(socks5_parse_request(buf + c, n - c, &r, &c), PROTO_OK);
	CHECK_INT(c, 10);
	CHECK_INT(r.dst.port, 22);
}

/* A server's read loop fed a whole conversation in chunks of every size
 * from 1 byte up: PROXY v1 header, greeting, RFC 1929, request. */
enum { PH_PROXY, PH_GREETING, PH_AUTH, PH_REQUEST, PH_DONE };

static int step_phase(int phase, const uint8_t *b, size_t l, size_t *c)
{
	struct proxyproto_info pi;
	struct socks5_greeting g;
	struct socks5_userpass u;
	struct socks5_request r;
	int rc;

	switch (phase) {
	case PH_PROXY:
		rc = proxyproto_parse(b, l, &pi, c);
		if (rc == PROTO_OK)
			CHECK_INT(sockaddr_port((struct sockaddr *)&pi.src), 56324);
		return rc;
	case PH_GREETING:
		rc = socks5_parse_greeting(b, l, &g, c);
		if (rc == PROTO_OK)
			CHECK(socks5_greeting_offers(&g, SOCKS5_METHOD_USERPASS));
		return rc;
	case PH_AUTH:
		rc = socks5_parse_userpass(b, l, &u, c);
		if (rc == PROTO_OK)
			CHECK_STR(u.user, "alice");
		return rc;
	default:
		rc = socks5_parse_request(b, l, &r, c);
		if (rc == PROTO_OK)
			CHECK_STR(r.dst.u.domain.name, "example.org");
		return rc;
	}
}

static void t_stream_chunks(void)
{
	uint8_t conv[300], acc[300];
	const char *hdr = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	size_t hl = strlen(hdr);
	size_t n;

	memcpy(conv, hdr, hl);
	n = hl + unhex("05 02 00 02"
	               "01 05 616c696365 06 736563726574"
	               "05 01 00 03 0b 6578616d706c652e6f7267 01bb",
	               conv + hl, sizeof(conv) - hl);
	for (size_t chunk = 1; chunk <= n; chunk++) {
		size_t have = 0, fed = 0, c;
		int phase = PH_PROXY;
		while (phase != PH_DONE && (fed < n || have > 0)) {
			size_t k = n - fed < chunk ? n - fed : chunk;
			memcpy(acc + have, conv + fed, k);
			have += k, fed += k;
			int rc = PROTO_INCOMPLETE;
			while (phase != PH_DONE &&
			       (rc = step_phase(phase, acc, have, &c)) == PROTO_OK) {
				memmove(acc, acc + c, have - c);
				have -= c;
				phase++;
			}
			if (phase != PH_DONE && rc != PROTO_INCOMPLETE) {
				CHECK_INT(rc, PROTO_INCOMPLETE);
				break;
			}
			if (k == 0)
				break;
		}
		if (!CHECK(phase == PH_DONE && have == 0 && fed == n))
			fprintf(stderr, "    chunk %zu: phase %d have %zu\n", chunk, phase, have);
	}
}

/* ---- serialisers -------------------------------------------------------- */

/* out[0..n) must equal hex, and every smaller cap must give 0. */
static void check_bytes(const uint8_t *out, size_t n, const char *hex)
{
	uint8_t want[300];
	size_t wn = unhex(hex, want, sizeof(want));

	if (!test_check(n == wn && memcmp(out, want, n) == 0, hex, __FILE__, __LINE__)) {
		fprintf(stderr, "    got %zu bytes:", n);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %02x", out[i]);
		fprintf(stderr, "\n");
	}
}

static struct sockaddr_storage mk_addr(const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (sockaddr_parse_host(host, port, &ss, &len) != 0)
		abort();
	return ss;
}

static void t_write_small(void)
{
	uint8_t out[8];

	CHECK_INT(socks5_write_method(out, sizeof(out), SOCKS5_METHOD_USERPASS), 2);
	check_bytes(out, 2, "05 02");
	CHECK_INT(socks5_write_method(out, sizeof(out), SOCKS5_METHOD_NO_ACCEPTABLE), 2);
	check_bytes(out, 2, "05 ff");
	CHECK_INT(socks5_write_method(out, 1, 0), 0);
	CHECK_INT(socks5_write_method(NULL, 0, 0), 0);
	CHECK_INT(socks5_write_userpass_status(out, sizeof(out), SOCKS5_USERPASS_SUCCESS), 2);
	check_bytes(out, 2, "01 00");
	CHECK_INT(socks5_write_userpass_status(out, sizeof(out), SOCKS5_USERPASS_FAILURE), 2);
	check_bytes(out, 2, "01 01");
	CHECK_INT(socks5_write_userpass_status(out, 1, 0), 0);
}

struct reply_case {
	const char *host; /* NULL: bnd NULL */
	uint16_t port;
	uint8_t rep;
	const char *hex;
};

static const struct reply_case reply_cases[] = {
    {"10.0.0.1", 40000, SOCKS5_REP_SUCCESS, "05 00 00 01 0a000001 9c40"},
    {"2001:db8::1", 443, SOCKS5_REP_SUCCESS, "05 00 00 04 20010db8000000000000000000000001 01bb"},
    {"::ffff:192.0.2.7", 80, SOCKS5_REP_SUCCESS, "05 00 00 01 c0000207 0050"},
    {"::", 0, SOCKS5_REP_SUCCESS, "05 00 00 04 00000000000000000000000000000000 0000"},
    {NULL, 0, SOCKS5_REP_CONN_REFUSED, "05 05 00 01 00000000 0000"},
    {NULL, 0, SOCKS5_REP_ATYP_NOT_SUPPORTED, "05 08 00 01 00000000 0000"},
};

static void t_write_reply(void)
{
	uint8_t out[SOCKS5_REPLY_MAX];

	for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *rc = &reply_cases[i];
		struct sockaddr_storage ss;
		const struct sockaddr *sa = NULL;
		struct socks5_request back;
		size_t n, c;

		if (rc->host) {
			ss = mk_addr(rc->host, rc->port);
			sa = (const struct sockaddr *)&ss;
		}
		n = socks5_write_reply(out, sizeof(out), rc->rep, sa);
		check_bytes(out, n, rc->hex);
		for (size_t cap = 0; cap < n; cap++)
			CHECK_INT(socks5_write_reply(out, cap, rc->rep, sa), 0);
		/* A reply has the shape of a request, REP in the CMD slot. */
		CHECK_INT(socks5_parse_request(out, n, &back, &c), PROTO_OK);
		CHECK_INT(c, n);
		CHECK_INT(back.cmd, rc->rep);
		CHECK_INT(back.dst.port, rc->port);
	}

	/* A family SOCKS cannot carry still gets a reply. */
	struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/tmp/x"};
	size_t n = socks5_write_reply(out, sizeof(out), SOCKS5_REP_GENERAL_FAILURE,
	                              (struct sockaddr *)&un);
	check_bytes(out, n, "05 01 00 01 00000000 0000");
}

static void t_request_roundtrip(void)
{
	static const char *const hexes[] = {
	    "05 01 00 01 7f000001 0050",
	    "05 02 00 04 20010db8000000000000000000000001 01bb",
	    "05 03 00 03 0b 6578616d706c652e636f6d 0000",
	    "05 01 00 03 01 61 ffff",
	    "05 07 03 01 01020304 0001", /* unknown cmd and rsv kept */
	};
	uint8_t in[300], out[300];

	for (size_t i = 0; i < sizeof(hexes) / sizeof(hexes[0]); i++) {
		struct socks5_request r;
		size_t n = unhex(hexes[i], in, sizeof(in)), c, w;

		CHECK_INT(socks5_parse_request(in, n, &r, &c), PROTO_OK);
		w = socks5_write_request(out, sizeof(out), &r);
		CHECK_INT(w, n);
		CHECK(memcmp(in, out, n) == 0);
		for (size_t cap = 0; cap < n; cap++)
			CHECK_INT(socks5_write_request(out, cap, &r), 0);
	}

	/* An atyp with no wire form is not written. */
	struct socks5_request bad = {.cmd = 1, .dst = {.atyp = 2}};
	CHECK_INT(socks5_write_request(out, sizeof(out), &bad), 0);
	/* A zero-length domain is written as given, and parses as MALFORMED. */
	struct socks5_request empty = {.cmd = 1, .dst = {.atyp = SOCKS5_ATYP_DOMAIN}};
	size_t w = socks5_write_request(out, sizeof(out), &empty), c;
	CHECK_INT(w, 7);
	CHECK_INT(socks5_parse_request(out, w, &bad, &c), PROTO_MALFORMED);
}

static void t_greeting_userpass_roundtrip(void)
{
	static const uint8_t methods[] = {SOCKS5_METHOD_NONE, SOCKS5_METHOD_USERPASS};
	struct socks5_greeting g;
	struct socks5_userpass u;
	uint8_t out[600];
	char user[257], pass[257];
	size_t n, c;

	n = socks5_write_greeting(out, sizeof(out), methods, 2);
	check_bytes(out, n, "05 02 00 02");
	CHECK_INT(socks5_parse_greeting(out, n, &g, &c), PROTO_OK);
	CHECK_INT(g.nmethods, 2);
	CHECK_INT(socks5_write_greeting(out, 3, methods, 2), 0);
	n = socks5_write_greeting(out, sizeof(out), NULL, 0);
	check_bytes(out, n, "05 00");
	CHECK_INT(socks5_parse_greeting(out, n, &g, &c), PROTO_MALFORMED);

	n = socks5_write_userpass(out, sizeof(out), "alice", "s3cret");
	check_bytes(out, n, "01 05 616c696365 06 733363726574");
	CHECK_INT(socks5_parse_userpass(out, n, &u, &c), PROTO_OK);
	CHECK_STR(u.user, "alice");
	CHECK_STR(u.pass, "s3cret");
	for (size_t cap = 0; cap < n; cap++)
		CHECK_INT(socks5_write_userpass(out, cap, "alice", "s3cret"), 0);

	memset(user, 'u', 255), user[255] = 0;
	memset(pass, 'p', 255), pass[255] = 0;
	n = socks5_write_userpass(out, sizeof(out), user, pass);
	CHECK_INT(n, SOCKS5_USERPASS_MAX);
	CHECK_INT(socks5_parse_userpass(out, n, &u, &c), PROTO_OK);
	CHECK_STR(u.user, user);
	CHECK_STR(u.pass, pass);
	user[255] = 'u', user[256] = 0;
	CHECK_INT(socks5_write_userpass(out, sizeof(out), user, "x"), 0);
	CHECK_INT(socks5_write_userpass(out, sizeof(out), "x", user), 0);
}

/* ---- UDP ---------------------------------------------------------------- */

struct udp_case {
	const char *hex;
	int want;
	size_t header_len;
	uint8_t frag;
	uint8_t atyp;
	uint16_t port;
};

static const struct udp_case udp_cases[] = {
    {"0000 00 01 7f000001 0035 deadbeef", PROTO_OK, 10, 0, SOCKS5_ATYP_IPV4, 53},
    {"0000 00 01 7f000001 0035", PROTO_OK, 10, 0, SOCKS5_ATYP_IPV4, 53},
    {"0000 00 04 20010db8000000000000000000000001 0035 00", PROTO_OK, 22, 0, SOCKS5_ATYP_IPV6, 53},
    {"0000 00 03 0b 6578616d706c652e636f6d 0050 4142", PROTO_OK, 18, 0, SOCKS5_ATYP_DOMAIN, 80},
    {"0000 01 01 01020304 0001 ff", PROTO_OK, 10, 1, SOCKS5_ATYP_IPV4, 1},
    {"0000 81 01 01020304 0001", PROTO_OK, 10, 0x81, SOCKS5_ATYP_IPV4, 1},
    {"abcd 00 01 01020304 0001", PROTO_OK, 10, 0, SOCKS5_ATYP_IPV4, 1}, /* RSV ignored */
    {"", PROTO_MALFORMED, 0, 0, 0, 0},
    {"00", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00 01 7f0000", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00 01 7f000001 00", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00 04 20010db8", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00 03 0b 6578616d", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00 03 00 0050", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00 03 02 6100 0050", PROTO_MALFORMED, 0, 0, 0, 0},
    {"0000 00 02 01020304 0001", PROTO_BAD_ATYP, 0, 0, 0, 0},
    {"0000 00 00", PROTO_BAD_ATYP, 0, 0, 0, 0},
};

static void t_udp_table(void)
{
	for (size_t i = 0; i < sizeof(udp_cases) / sizeof(udp_cases[0]); i++) {
		const struct udp_case *u = &udp_cases[i];
		struct socks5_udp_header h;
		uint8_t buf[300], *copy;
		size_t n = unhex(u->hex, buf, sizeof(buf));
		int rc;

		copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		rc = socks5_udp_parse(copy, n, &h);
		if (!CHECK(rc == u->want))
			fprintf(stderr, "    %s: got %d\n", u->hex, rc);
		CHECK_INT(h.header_len, u->header_len);
		CHECK_INT(h.frag, u->frag);
		CHECK_INT(h.dst.atyp, u->atyp);
		CHECK_INT(h.dst.port, u->port);
		/* Never INCOMPLETE: every truncation of a header is MALFORMED. */
		for (size_t k = 0; rc == PROTO_OK && k < h.header_len; k++) {
			struct socks5_udp_header t;
			CHECK_INT(socks5_udp_parse(copy, k, &t), PROTO_MALFORMED);
		}
		free(copy);
	}
}

static void t_udp_write(void)
{
	struct socks5_udp_header h;
	struct sockaddr_storage ss;
	uint8_t out[SOCKS5_UDP_HEADER_MAX];
	size_t n;

	ss = mk_addr("192.0.2.1", 5353);
	n = socks5_udp_write_header(out, sizeof(out), (struct sockaddr *)&ss);
	check_bytes(out, n, "0000 00 01 c0000201 14e9");
	CHECK_INT(socks5_udp_write_header(out, n - 1, (struct sockaddr *)&ss), 0);
	CHECK_INT(socks5_udp_parse(out, n, &h), PROTO_OK);
	CHECK_INT(h.header_len, n);

	ss = mk_addr("::ffff:192.0.2.1", 53);
	n = socks5_udp_write_header(out, sizeof(out), (struct sockaddr *)&ss);
	check_bytes(out, n, "0000 00 01 c0000201 0035");

	ss = mk_addr("2001:db8::53", 53);
	n = socks5_udp_write_header(out, sizeof(out), (struct sockaddr *)&ss);
	check_bytes(out, n, "0000 00 04 20010db8000000000000000000000053 0035");

	CHECK_INT(socks5_udp_write_header(out, sizeof(out), NULL), 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	CHECK_INT(socks5_udp_write_header(out, sizeof(out), (struct sockaddr *)&un), 0);

	struct socks_addr a = {.atyp = SOCKS5_ATYP_DOMAIN, .port = 443};
	a.u.domain.len = 3;
	memcpy(a.u.domain.name, "a.b", 4);
	n = socks5_udp_write_header_addr(out, sizeof(out), &a);
	check_bytes(out, n, "0000 00 03 03 612e62 01bb");
	CHECK_INT(socks5_udp_parse(out, n, &h), PROTO_OK);
	CHECK_STR(h.dst.u.domain.name, "a.b");
	for (size_t cap = 0; cap < n; cap++)
		CHECK_INT(socks5_udp_write_header_addr(out, cap, &a), 0);
	a.atyp = 9;
	CHECK_INT(socks5_udp_write_header_addr(out, sizeof(out), &a), 0);
}

/* ---- SOCKS4 ------------------------------------------------------------- */

static const struct pcase socks4_cases[] = {
    {"connect", p_socks4, "04 01 0050 7f000001 00", false, PROTO_OK, 0},
    {"connect userid", p_socks4, "04 01 0050 7f000001 626f6200", false, PROTO_OK, 0},
    {"bind", p_socks4, "04 02 0000 0a000001 00", false, PROTO_OK, 0},
    {"ip 0.0.0.0 is not 4a", p_socks4, "04 01 0050 00000000 00", false, PROTO_OK, 0},
    {"ip 0.0.1.1 is not 4a", p_socks4, "04 01 0050 00000101 00", false, PROTO_OK, 0},
    {"4a", p_socks4, "04 01 0050 00000001 00 6578616d706c652e636f6d00", false, PROTO_OK, 0},
    {"4a userid", p_socks4, "04 01 01bb 000000ff 7500 6100", false, PROTO_OK, 0},
    {"unknown cmd", p_socks4, "04 09 0050 7f000001 00", false, PROTO_OK, 0},
    {"version 5", p_socks4, "05 01 0050 7f000001 00", false, PROTO_BAD_VERSION, 0},
    {"version 0", p_socks4, "00", false, PROTO_BAD_VERSION, 0},
    {"4a empty domain", p_socks4, "04 01 0050 00000001 00 00", false, PROTO_MALFORMED, 0},
};

static void t_socks4_table(void)
{
	RUN_CASES(socks4_cases);
}

static void t_socks4_bounds(void)
{
	struct socks4_request r;
	uint8_t buf[SOCKS4_REQUEST_MAX + 8];
	size_t c;

	/* USERID of 255 bytes plus NUL: OK. */
	memcpy(buf, "\x04\x01\x00\x50\x7f\x00\x00\x01", 8);
	memset(buf + 8, 'u', 255);
	buf[263] = 0;
	check_message("userid 255", p_socks4, buf, 264, PROTO_OK, 264);
	CHECK_INT(socks4_parse_request(buf, 264, &r, &c), PROTO_OK);
	CHECK_INT(strlen(r.userid), 255);
	CHECK(!r.is_4a);
	/* 256 bytes without NUL: MALFORMED, decided without waiting. */
	buf[263] = 'u';
	CHECK_INT(socks4_parse_request(buf, 264, &r, &c), PROTO_MALFORMED);
	CHECK_INT(socks4_parse_request(buf, 263, &r, &c), PROTO_INCOMPLETE);
	buf[264] = 0;
	check_message("userid 256", p_socks4, buf, 265, PROTO_MALFORMED, 0);

	/* 4a domain of 255 bytes: the largest request. */
	memcpy(buf, "\x04\x01\x00\x50\x00\x00\x00\x01", 8);
	memset(buf + 8, 'u', 255);
	buf[263] = 0;
	memset(buf + 264, 'd', 255);
	buf[519] = 0;
	check_message("4a max", p_socks4, buf, SOCKS4_REQUEST_MAX, PROTO_OK, SOCKS4_REQUEST_MAX);
	CHECK_INT(socks4_parse_request(buf, SOCKS4_REQUEST_MAX, &r, &c), PROTO_OK);
	CHECK(r.is_4a);
	CHECK_INT(strlen(r.domain), 255);
	buf[519] = 'd';
	buf[520] = 0;
	check_message("4a domain 256", p_socks4, buf, 521, PROTO_MALFORMED, 0);
}

static void t_socks4_values(void)
{
	struct socks4_request r;
	struct socks_addr a;
	uint8_t buf[300], out[600];
	size_t c, n;

	n = unhex("04 01 1f90 c0a80001 616c69636500", buf, sizeof(buf));
	CHECK_INT(socks4_parse_request(buf, n, &r, &c), PROTO_OK);
	CHECK_INT(r.cmd, SOCKS4_CMD_CONNECT);
	CHECK_INT(r.port, 8080);
	CHECK(memcmp(r.ip, "\xc0\xa8\x00\x01", 4) == 0);
	CHECK_STR(r.userid, "alice");
	CHECK(!r.is_4a);
	CHECK_STR(r.domain, "");
	socks4_request_to_addr(&r, &a);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV4);
	CHECK(memcmp(a.u.v4, r.ip, 4) == 0);
	CHECK_INT(a.port, 8080);
	CHECK_INT(socks4_write_request(out, sizeof(out), &r), n);
	CHECK(memcmp(out, buf, n) == 0);

	n = unhex("04 02 0050 00000007 00 6578616d706c652e6f726700", buf, sizeof(buf));
	CHECK_INT(socks4_parse_request(buf, n, &r, &c), PROTO_OK);
	CHECK_INT(r.cmd, SOCKS4_CMD_BIND);
	CHECK(r.is_4a);
	CHECK_STR(r.userid, "");
	CHECK_STR(r.domain, "example.org");
	socks4_request_to_addr(&r, &a);
	CHECK_INT(a.atyp, SOCKS5_ATYP_DOMAIN);
	CHECK_INT(a.u.domain.len, 11);
	CHECK_STR(a.u.domain.name, "example.org");
	CHECK_INT(a.port, 80);
	CHECK_INT(socks4_write_request(out, sizeof(out), &r), n);
	CHECK(memcmp(out, buf, n) == 0);
	for (size_t cap = 0; cap < n; cap++)
		CHECK_INT(socks4_write_request(out, cap, &r), 0);
}

static void t_socks4_reply(void)
{
	struct sockaddr_storage ss;
	uint8_t out[SOCKS4_REPLY_LEN];
	size_t n;

	ss = mk_addr("10.1.2.3", 1080);
	n = socks4_write_reply(out, sizeof(out), SOCKS4_REP_GRANTED, (struct sockaddr *)&ss);
	check_bytes(out, n, "00 5a 0438 0a010203");
	for (size_t cap = 0; cap < n; cap++)
		CHECK_INT(socks4_write_reply(out, cap, SOCKS4_REP_GRANTED, (struct sockaddr *)&ss),
		          0);
	ss = mk_addr("::ffff:10.1.2.3", 1080);
	n = socks4_write_reply(out, sizeof(out), SOCKS4_REP_GRANTED, (struct sockaddr *)&ss);
	check_bytes(out, n, "00 5a 0438 0a010203");
	ss = mk_addr("2001:db8::1", 1080);
	n = socks4_write_reply(out, sizeof(out), SOCKS4_REP_GRANTED, (struct sockaddr *)&ss);
	check_bytes(out, n, "00 5a 0000 00000000");
	n = socks4_write_reply(out, sizeof(out), SOCKS4_REP_REJECTED, NULL);
	check_bytes(out, n, "00 5b 0000 00000000");
}

/* ---- PROXY protocol ----------------------------------------------------- */

#define V2SIG "0d0a0d0a000d0a515549540a "

static const struct pcase proxy_cases[] = {
    {"v1 tcp4", p_proxy, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", true, PROTO_OK, 0},
    {"v1 tcp6", p_proxy, "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n", true, PROTO_OK, 0},
    {"v1 tcp6 mapped", p_proxy, "PROXY TCP6 ::ffff:1.2.3.4 ::1 0 0\r\n", true, PROTO_OK, 0},
    {"v1 unknown", p_proxy, "PROXY UNKNOWN\r\n", true, PROTO_OK, 0},
    {"v1 unknown with junk", p_proxy, "PROXY UNKNOWN 1.2.3 x y z\r\n", true, PROTO_OK, 0},
    {"v1 longest line", p_proxy,
     "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
     true, PROTO_OK, 0},
    {"v1 line too long", p_proxy,
     "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n",
     true, PROTO_MALFORMED, 0},
    {"v1 no CRLF in 107", p_proxy,
     "PROXY TCP4 111111111111111111111111111111111111111111111111111111111111111111111111111"
     "111111111111111111111111111111111111111",
     true, PROTO_MALFORMED, 0},
    {"v1 short ipv4", p_proxy, "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 octet 256", p_proxy, "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 leading zero ip", p_proxy, "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED,
     0},
    {"v1 v6 in tcp4", p_proxy, "PROXY TCP4 ::1 ::2 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 v4 in tcp6", p_proxy, "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 hostname", p_proxy, "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 port 65536", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 port leading zero", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", true, PROTO_MALFORMED,
     0},
    {"v1 port sign", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 port hex", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 port 6 digits", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 000001 2\r\n", true, PROTO_MALFORMED,
     0},
    {"v1 double space", p_proxy, "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 trailing space", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", true, PROTO_MALFORMED, 0},
    {"v1 missing port", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", true, PROTO_MALFORMED, 0},
    {"v1 extra field", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", true, PROTO_MALFORMED, 0},
    {"v1 bad proto", p_proxy, "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 lower case", p_proxy, "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 UNKNOWNX", p_proxy, "PROXY UNKNOWNX\r\n", true, PROTO_MALFORMED, 0},
    {"v1 empty", p_proxy, "PROXY \r\n", true, PROTO_MALFORMED, 0},
    {"v1 LF only", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", true, PROTO_MALFORMED, 0},
    {"v1 CR only", p_proxy, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", true, PROTO_MALFORMED, 0},
    {"v1 tab", p_proxy, "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"v1 scope id", p_proxy, "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", true, PROTO_MALFORMED, 0},
    {"not a header: socks5", p_proxy, "05 01 00", false, PROTO_BAD_VERSION, 0},
    {"not a header: http", p_proxy, "GET / HTTP/1.1\r\n", true, PROTO_BAD_VERSION, 0},
    {"not a header: PROXY no space", p_proxy, "PROXY\r\n", true, PROTO_BAD_VERSION, 0},
    {"v2 tcp4", p_proxy, V2SIG "21 11 000c c0a80001 c0a8000b dc04 01bb", false, PROTO_OK, 0},
    {"v2 tcp6", p_proxy,
     V2SIG "21 21 0024 20010db8000000000000000000000001 20010db8000000000000000000000002"
           " 0001 ffff",
     false, PROTO_OK, 0},
    {"v2 tcp4 with TLV", p_proxy, V2SIG "21 11 0011 c0a80001 c0a8000b dc04 01bb 01 0002 6832",
     false, PROTO_OK, 0},
    {"v2 local", p_proxy, V2SIG "20 00 0000", false, PROTO_OK, 0},
    {"v2 local with block", p_proxy, V2SIG "20 11 0003 aabbcc", false, PROTO_OK, 0},
    {"v2 proxy unspec", p_proxy, V2SIG "21 00 0000", false, PROTO_OK, 0},
    {"v2 bad signature", p_proxy, "0d0a0d0a000d0a515549540b 21 11 000c", false, PROTO_BAD_VERSION,
     0},
    {"v2 version 1", p_proxy, V2SIG "11 11 000c c0a80001 c0a8000b dc04 01bb", false,
     PROTO_MALFORMED, 0},
    {"v2 version 3", p_proxy, V2SIG "31 11 000c", false, PROTO_MALFORMED, 0},
    {"v2 command 2", p_proxy, V2SIG "22 11 000c", false, PROTO_MALFORMED, 0},
    {"v2 inet dgram", p_proxy, V2SIG "21 12 000c", false, PROTO_MALFORMED, 0},
    {"v2 inet unspec transport", p_proxy, V2SIG "21 10 000c", false, PROTO_MALFORMED, 0},
    {"v2 family 4", p_proxy, V2SIG "21 41 000c", false, PROTO_MALFORMED, 0},
    {"v2 transport 3", p_proxy, V2SIG "21 33 00d8", false, PROTO_MALFORMED, 0},
    {"v2 inet short", p_proxy, V2SIG "21 11 000b c0a80001 c0a8000b dc04 01", false, PROTO_MALFORMED,
     0},
    {"v2 inet6 short", p_proxy, V2SIG "21 21 0023", false, PROTO_MALFORMED, 0},
    {"v2 unix short", p_proxy, V2SIG "21 31 00d7", false, PROTO_MALFORMED, 0},
    {"v2 too long", p_proxy, V2SIG "21 11 0801", false, PROTO_MALFORMED, 0},
    {"v2 length ffff", p_proxy, V2SIG "20 00 ffff", false, PROTO_MALFORMED, 0},
};

static void t_proxy_table(void)
{
	RUN_CASES(proxy_cases);
}

static void check_endpoint(const struct sockaddr_storage *ss, const char *want)
{
	char buf[SOCKADDR_STR_MAX];

	sockaddr_str((const struct sockaddr *)ss, buf, sizeof(buf));
	CHECK_STR(buf, want);
}

static void t_proxy_values(void)
{
	struct proxyproto_info pi;
	uint8_t buf[4096];
	const char *s;
	size_t c, n;

	s = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n\x05\x01\x00";
	CHECK_INT(proxyproto_parse((const uint8_t *)s, strlen(s) + 1, &pi, &c), PROTO_OK);
	CHECK_INT(c, 47); /* the greeting 05 01 00 is left */
	CHECK(!pi.local);
	check_endpoint(&pi.src, "192.168.0.1:56324");
	check_endpoint(&pi.dst, "192.168.0.11:443");
	CHECK_INT(pi.src.ss_family, AF_INET);

	s = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
	CHECK_INT(proxyproto_parse((const uint8_t *)s, strlen(s), &pi, &c), PROTO_OK);
	check_endpoint(&pi.src, "[2001:db8::1]:0");
	check_endpoint(&pi.dst, "[2001:db8::2]:65535");
	CHECK_INT(pi.dst.ss_family, AF_INET6);

	s = "PROXY UNKNOWN\r\n";
	CHECK_INT(proxyproto_parse((const uint8_t *)s, strlen(s), &pi, &c), PROTO_OK);
	CHECK(pi.local);
	CHECK_INT(pi.src.ss_family, 0);

	n = unhex(V2SIG "21 11 0011 c0a80001 c0a8000b dc04 01bb 01 0002 6832 050100", buf,
	          sizeof(buf));
	CHECK_INT(proxyproto_parse(buf, n, &pi, &c), PROTO_OK);
	CHECK_INT(c, 16 + 17);
	CHECK(!pi.local);
	check_endpoint(&pi.src, "192.168.0.1:56324");
	check_endpoint(&pi.dst, "192.168.0.11:443");

	n = unhex(V2SIG "21 21 0024 20010db8000000000000000000000001"
	                " 20010db8000000000000000000000002 0001 ffff",
	          buf, sizeof(buf));
	CHECK_INT(proxyproto_parse(buf, n, &pi, &c), PROTO_OK);
	check_endpoint(&pi.src, "[2001:db8::1]:1");
	check_endpoint(&pi.dst, "[2001:db8::2]:65535");

	n = unhex(V2SIG "20 11 000c c0a80001 c0a8000b dc04 01bb", buf, sizeof(buf));
	CHECK_INT(proxyproto_parse(buf, n, &pi, &c), PROTO_OK);
	CHECK(pi.local);
	CHECK_INT(pi.src.ss_family, 0);

	/* UNIX: local, 216-byte block. */
	n = unhex(V2SIG "21 31 00d8", buf, sizeof(buf));
	memset(buf + n, 0, 216);
	check_message("v2 unix", p_proxy, buf, n + 216, PROTO_OK, n + 216);
	CHECK_INT(proxyproto_parse(buf, n + 216, &pi, &c), PROTO_OK);
	CHECK(pi.local);

	/* The longest v2 header we take, and one byte more. */
	n = unhex(V2SIG "21 11 0800 01020304 05060708 0001 0002", buf, sizeof(buf));
	memset(buf + n, 0, 2048 - 12);
	check_message("v2 max", p_proxy, buf, PROXYPROTO_MAX, PROTO_OK, PROXYPROTO_MAX);

	/* A bad v1 line leaves no half-filled endpoint. */
	s = "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n";
	CHECK_INT(proxyproto_parse((const uint8_t *)s, strlen(s), &pi, &c), PROTO_MALFORMED);
	CHECK_INT(pi.src.ss_family, 0);
	CHECK_INT(proxyproto_parse(buf, 0, &pi, &c), PROTO_INCOMPLETE);
}

/* ---- addresses ---------------------------------------------------------- */

static void t_socks_addr_conv(void)
{
	struct socks_addr a = {.atyp = SOCKS5_ATYP_IPV4, .u.v4 = {10, 0, 0, 1}, .port = 80};
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[SOCKADDR_STR_MAX];

	CHECK_INT(socks_addr_to_sockaddr(&a, &ss, &len), 0);
	CHECK_INT(len, sizeof(struct sockaddr_in));
	sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "10.0.0.1:80");

	a.atyp = SOCKS5_ATYP_IPV6;
	memset(a.u.v6, 0, 16);
	a.u.v6[15] = 1;
	CHECK_INT(socks_addr_to_sockaddr(&a, &ss, &len), 0);
	CHECK_INT(len, sizeof(struct sockaddr_in6));
	sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "[::1]:80");

	a.atyp = SOCKS5_ATYP_DOMAIN;
	CHECK_INT(socks_addr_to_sockaddr(&a, &ss, &len), -1);
	CHECK_INT(len, 0);
	CHECK_INT(ss.ss_family, 0);
	a.atyp = 7;
	CHECK_INT(socks_addr_to_sockaddr(&a, &ss, &len), -1);

	ss = mk_addr("::ffff:1.2.3.4", 8080);
	socks_addr_from_sockaddr(&a, (struct sockaddr *)&ss);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV4);
	CHECK(memcmp(a.u.v4, "\x01\x02\x03\x04", 4) == 0);
	CHECK_INT(a.port, 8080);
	ss = mk_addr("2001:db8::7", 1);
	socks_addr_from_sockaddr(&a, (struct sockaddr *)&ss);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV6);
	CHECK_INT(a.u.v6[15], 7);
	socks_addr_from_sockaddr(&a, NULL);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV4);
	CHECK_INT(a.port, 0);
	CHECK(memcmp(a.u.v4, "\0\0\0\0", 4) == 0);
}

static void t_socks_addr_str(void)
{
	struct socks_addr a = {.atyp = SOCKS5_ATYP_IPV4, .u.v4 = {1, 2, 3, 4}, .port = 443};
	char buf[SOCKS_ADDR_STR_MAX], small[5];

	CHECK_INT(socks_addr_host_str(&a, buf, sizeof(buf)), 7);
	CHECK_STR(buf, "1.2.3.4");
	socks_addr_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "1.2.3.4:443");

	a.atyp = SOCKS5_ATYP_IPV6;
	memset(a.u.v6, 0, 16);
	a.u.v6[0] = 0x20, a.u.v6[1] = 0x01, a.u.v6[2] = 0x0d, a.u.v6[3] = 0xb8, a.u.v6[15] = 1;
	socks_addr_host_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "2001:db8::1");
	socks_addr_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "[2001:db8::1]:443");

	a.atyp = SOCKS5_ATYP_DOMAIN;
	strcpy(a.u.domain.name, "example.com");
	a.u.domain.len = 11;
	socks_addr_host_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "example.com");
	socks_addr_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "example.com:443");

	/* Truncation follows snprintf. */
	CHECK_INT(socks_addr_str(&a, small, sizeof(small)), 15);
	CHECK_STR(small, "exam");
	CHECK_INT(socks_addr_host_str(&a, NULL, 0), 11);

	/* A hostile name cannot forge a log line. */
	strcpy(a.u.domain.name, "a\nb\\c\x7f\xff");
	a.u.domain.len = 7;
	socks_addr_host_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "a\\x0ab\\x5cc\\x7f\\xff");

	/* The worst case fits SOCKS_ADDR_STR_MAX. */
	memset(a.u.domain.name, 0x01, 255);
	a.u.domain.name[255] = 0;
	a.u.domain.len = 255;
	a.port = 65535;
	CHECK_INT(socks_addr_str(&a, buf, sizeof(buf)), 4 * 255 + 6);
	CHECK_INT(strlen(buf), 4 * 255 + 6);

	a.atyp = 0;
	socks_addr_host_str(&a, buf, sizeof(buf));
	CHECK_STR(buf, "unknown");
}

static void t_sockaddr_str(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	char buf[SOCKADDR_STR_MAX];

	ss = mk_addr("192.0.2.1", 1080);
	CHECK_INT(sockaddr_host_str((struct sockaddr *)&ss, buf, sizeof(buf)), 9);
	CHECK_STR(buf, "192.0.2.1");
	sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.1:1080");
	CHECK_INT(sockaddr_port((struct sockaddr *)&ss), 1080);

	ss = mk_addr("::ffff:192.0.2.1", 1080);
	sockaddr_host_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.1");
	sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.1:1080");

	ss = mk_addr("[2001:db8::1]", 65535);
	sockaddr_host_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "2001:db8::1");
	sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "[2001:db8::1]:65535");
	CHECK_INT(sockaddr_port((struct sockaddr *)&ss), 65535);

	ss = mk_addr("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535);
	CHECK_INT(sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf)), 47);
	CHECK_STR(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");

	sockaddr_str(NULL, buf, sizeof(buf));
	CHECK_STR(buf, "unknown");
	sockaddr_str((struct sockaddr *)&un, buf, sizeof(buf));
	CHECK_STR(buf, "unknown");
	sockaddr_host_str((struct sockaddr *)&un, buf, sizeof(buf));
	CHECK_STR(buf, "unknown");
	CHECK_INT(sockaddr_port(NULL), 0);
	CHECK_INT(sockaddr_port((struct sockaddr *)&un), 0);
	CHECK_INT(sockaddr_str((struct sockaddr *)&ss, NULL, 0), 47);
}

struct host_case {
	const char *host;
	int want;
	int family;
};

static const struct host_case host_cases[] = {
    {"1.2.3.4", 0, AF_INET},
    {"0.0.0.0", 0, AF_INET},
    {"255.255.255.255", 0, AF_INET},
    {"::1", 0, AF_INET6},
    {"::", 0, AF_INET6},
    {"[::1]", 0, AF_INET6},
    {"[2001:db8::1]", 0, AF_INET6},
    {"::ffff:1.2.3.4", 0, AF_INET6},
    {"1.2.3", -1, 0},
    {"1.2.3.4.5", -1, 0},
    {"01.2.3.4", -1, 0},
    {"1..2.3", -1, 0},
    {"256.1.1.1", -1, 0},
    {" 1.2.3.4", -1, 0},
    {"1.2.3.4 ", -1, 0},
    {"[1.2.3.4]", -1, 0},
    {"[::1", -1, 0},
    {"::1]", -1, 0},
    {"[]", -1, 0},
    {"[", -1, 0},
    {"", -1, 0},
    {"example.com", -1, 0},
    {"localhost", -1, 0},
    {"fe80::1%eth0", -1, 0},
    {"1:2:3:4:5:6:7:8:9", -1, 0},
    {"[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1]", -1, 0},
};

static void t_parse_host(void)
{
	struct sockaddr_storage ss;
	socklen_t len;

	for (size_t i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		const struct host_case *h = &host_cases[i];
		int rc = sockaddr_parse_host(h->host, 8080, &ss, &len);
		if (!CHECK(rc == h->want && ss.ss_family == h->family))
			fprintf(stderr, "    \"%s\": got %d family %d\n", h->host, rc,
			        ss.ss_family);
		if (rc == 0) {
			CHECK_INT(sockaddr_port((struct sockaddr *)&ss), 8080);
			CHECK_INT(len, h->family == AF_INET ? sizeof(struct sockaddr_in)
			                                    : sizeof(struct sockaddr_in6));
		} else {
			CHECK_INT(len, 0);
		}
	}
	CHECK_INT(sockaddr_parse_host(NULL, 1, &ss, &len), -1);
}

static void t_unmap(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[SOCKADDR_STR_MAX];

	CHECK_INT(sockaddr_parse_host("::ffff:10.9.8.7", 99, &ss, &len), 0);
	CHECK(sockaddr_unmap_v4(&ss, &len));
	CHECK_INT(ss.ss_family, AF_INET);
	CHECK_INT(len, sizeof(struct sockaddr_in));
	sockaddr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	CHECK_STR(buf, "10.9.8.7:99");
	CHECK(!sockaddr_unmap_v4(&ss, &len)); /* already IPv4 */

	CHECK_INT(sockaddr_parse_host("::1", 99, &ss, &len), 0);
	CHECK(!sockaddr_unmap_v4(&ss, &len));
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_INT(len, sizeof(struct sockaddr_in6));
	/* ::1.2.3.4 (deprecated IPv4-compatible) is not mapped. */
	CHECK_INT(sockaddr_parse_host("::1.2.3.4", 99, &ss, &len), 0);
	CHECK(!sockaddr_unmap_v4(&ss, NULL));
	CHECK_INT(sockaddr_parse_host("::ffff:1.2.3.4", 7, &ss, &len), 0);
	CHECK(sockaddr_unmap_v4(&ss, NULL));
	CHECK_INT(sockaddr_port((struct sockaddr *)&ss), 7);
}

/* ---- names -------------------------------------------------------------- */

/* RFC 1961 framing: every prefix of a message is INCOMPLETE, the whole
 * message parses with its exact length, bytes after it stay. */
static void t_gssapi_frame(void)
{
	struct gssapi_frame f;
	size_t used = 99;
	const uint8_t msg[] = {0x01, 0x01, 0x00, 0x03, 'a', 'b', 'c', 0x05, 0x01};
	for (size_t n = 0; n < 7; n++) {
		CHECK_INT(gssapi_parse_frame(msg, n, &f, &used), PROTO_INCOMPLETE);
		CHECK_INT(used, 0);
	}
	CHECK_INT(gssapi_parse_frame(msg, sizeof(msg), &f, &used), PROTO_OK);
	CHECK_INT(used, 7);
	CHECK_INT(f.mtyp, GSSAPI_MTYP_AUTH);
	CHECK_INT(f.len, 3);
	CHECK(f.token == msg + 4);

	const uint8_t prot[] = {0x01, 0x02, 0x00, 0x01, 0x00};
	CHECK_INT(gssapi_parse_frame(prot, sizeof(prot), &f, &used), PROTO_OK);
	CHECK_INT(f.mtyp, GSSAPI_MTYP_PROT);
	CHECK_INT(f.len, 1);
	CHECK_INT(f.token[0], 0);

	const uint8_t abort_msg[] = {0x01, 0xFF, 0x01};
	CHECK_INT(gssapi_parse_frame(abort_msg, 1, &f, &used), PROTO_INCOMPLETE);
	CHECK_INT(gssapi_parse_frame(abort_msg, sizeof(abort_msg), &f, &used), PROTO_OK);
	CHECK_INT(used, 2);
	CHECK_INT(f.mtyp, GSSAPI_MTYP_ABORT);
	CHECK(f.token == NULL);

	/* A 65535-byte token: the largest the 16-bit length allows. */
	static uint8_t big[GSSAPI_FRAME_HDR + GSSAPI_TOKEN_MAX];
	big[0] = 1, big[1] = 1, big[2] = 0xFF, big[3] = 0xFF;
	CHECK_INT(gssapi_parse_frame(big, sizeof(big) - 1, &f, &used), PROTO_INCOMPLETE);
	CHECK_INT(gssapi_parse_frame(big, sizeof(big), &f, &used), PROTO_OK);
	CHECK_INT(f.len, GSSAPI_TOKEN_MAX);
}

static void t_gssapi_frame_bad(void)
{
	struct gssapi_frame f;
	size_t used = 99;
	const uint8_t v5[] = {0x05, 0x01, 0x00, 0x01, 0x00};
	CHECK_INT(gssapi_parse_frame(v5, 1, &f, &used), PROTO_BAD_VERSION);
	CHECK_INT(used, 0);
	const uint8_t mt[] = {0x01, 0x04, 0x00, 0x01, 0x00};
	CHECK_INT(gssapi_parse_frame(mt, 2, &f, &used), PROTO_MALFORMED);
	const uint8_t mt0[] = {0x01, 0x00, 0x00, 0x01, 0x00};
	CHECK_INT(gssapi_parse_frame(mt0, sizeof(mt0), &f, &used), PROTO_MALFORMED);
	const uint8_t empty[] = {0x01, 0x01, 0x00, 0x00};
	CHECK_INT(gssapi_parse_frame(empty, sizeof(empty), &f, &used), PROTO_MALFORMED);
	CHECK_INT(used, 0);
}

static void t_gssapi_write(void)
{
	uint8_t b[8];
	CHECK_INT(gssapi_write_header(b, sizeof(b), GSSAPI_MTYP_AUTH, 0x1234), 4);
	CHECK(b[0] == 1 && b[1] == 1 && b[2] == 0x12 && b[3] == 0x34);
	CHECK_INT(gssapi_write_header(b, sizeof(b), GSSAPI_MTYP_PROT, 65535), 4);
	CHECK(b[2] == 0xFF && b[3] == 0xFF);
	CHECK_INT(gssapi_write_header(b, sizeof(b), GSSAPI_MTYP_AUTH, 65536), 0);
	CHECK_INT(gssapi_write_header(b, sizeof(b), GSSAPI_MTYP_AUTH, 0), 0);
	CHECK_INT(gssapi_write_header(b, 3, GSSAPI_MTYP_AUTH, 1), 0);
	CHECK_INT(gssapi_write_header(b, sizeof(b), GSSAPI_MTYP_ABORT, 1), 0);
	CHECK_INT(gssapi_write_abort(b, 1), 0);
	CHECK_INT(gssapi_write_abort(b, sizeof(b)), 2);
	CHECK(b[0] == 1 && b[1] == 0xFF);
	/* What the writer makes, the parser reads back. */
	uint8_t m[5];
	gssapi_write_header(m, sizeof(m), GSSAPI_MTYP_PROT, 1);
	m[4] = GSSAPI_LEVEL_INTEGRITY;
	struct gssapi_frame f;
	size_t used;
	CHECK_INT(gssapi_parse_frame(m, sizeof(m), &f, &used), PROTO_OK);
	CHECK_INT(f.token[0], GSSAPI_LEVEL_INTEGRITY);
	CHECK_STR(gssapi_level_name(0), "none");
	CHECK_STR(gssapi_level_name(2), "confidentiality");
	CHECK_STR(gssapi_level_name(9), "unknown");
}

static void t_names(void)
{
	CHECK_STR(socks5_reply_name(SOCKS5_REP_SUCCESS), "succeeded");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_GENERAL_FAILURE), "general failure");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_NOT_ALLOWED), "connection not allowed by ruleset");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_NET_UNREACHABLE), "network unreachable");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_HOST_UNREACHABLE), "host unreachable");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_CONN_REFUSED), "connection refused");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_TTL_EXPIRED), "TTL expired");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_CMD_NOT_SUPPORTED), "command not supported");
	CHECK_STR(socks5_reply_name(SOCKS5_REP_ATYP_NOT_SUPPORTED), "address type not supported");
	CHECK_STR(socks5_reply_name(9), "unknown");
	CHECK_STR(socks5_reply_name(255), "unknown");
	CHECK_STR(socks5_cmd_name(SOCKS5_CMD_CONNECT), "connect");
	CHECK_STR(socks5_cmd_name(SOCKS5_CMD_BIND), "bind");
	CHECK_STR(socks5_cmd_name(SOCKS5_CMD_UDP_ASSOCIATE), "udp_associate");
	CHECK_STR(socks5_cmd_name(0), "unknown");
	CHECK_STR(socks5_cmd_name(4), "unknown");
	CHECK_STR(socks5_method_name(SOCKS5_METHOD_USERPASS), "userpass");
	CHECK_STR(socks5_method_name(SOCKS5_METHOD_NO_ACCEPTABLE), "no acceptable");
	CHECK_STR(socks5_method_name(3), "unknown");
	CHECK_STR(proto_result_name(PROTO_OK), "ok");
	CHECK_STR(proto_result_name(PROTO_INCOMPLETE), "incomplete");
	CHECK_STR(proto_result_name(PROTO_BAD_VERSION), "bad version");
	CHECK_STR(proto_result_name(PROTO_MALFORMED), "malformed");
	CHECK_STR(proto_result_name(PROTO_BAD_ATYP), "bad address type");
	CHECK_STR(proto_result_name(42), "unknown");
}

int main(void)
{
	RUN(t_greeting_table);
	RUN(t_greeting_values);
	RUN(t_userpass_table);
	RUN(t_userpass_values);
	RUN(t_request_table);
	RUN(t_request_values);
	RUN(t_pipelined);
	RUN(t_stream_chunks);
	RUN(t_write_small);
	RUN(t_write_reply);
	RUN(t_request_roundtrip);
	RUN(t_greeting_userpass_roundtrip);
	RUN(t_udp_table);
	RUN(t_udp_write);
	RUN(t_socks4_table);
	RUN(t_socks4_bounds);
	RUN(t_socks4_values);
	RUN(t_socks4_reply);
	RUN(t_proxy_table);
	RUN(t_proxy_values);
	RUN(t_socks_addr_conv);
	RUN(t_socks_addr_str);
	RUN(t_sockaddr_str);
	RUN(t_parse_host);
	RUN(t_unmap);
	RUN(t_names);
	RUN(t_gssapi_frame);
	RUN(t_gssapi_frame_bad);
	RUN(t_gssapi_write);
	return TEST_END("protocol");
}
