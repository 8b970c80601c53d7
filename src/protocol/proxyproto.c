/* PROXY protocol v1/v2 (haproxy doc/proxy-protocol.txt). See proxyproto.h.
 *
 * Both versions decide everything the bytes seen so far allow: a bad
 * character in a v1 line, or a bad v2 version, family or length, is
 * MALFORMED before the rest of the header arrives. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "protocol/cursor.h"
#include "protocol/proxyproto.h"

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_prefix[] = "PROXY ";
#define V1_PREFIX_LEN (sizeof(v1_prefix) - 1)

enum {
	V2_CMD_LOCAL = 0x0,
	V2_CMD_PROXY = 0x1,
	V2_AF_UNSPEC = 0x0,
	V2_AF_INET = 0x1,
	V2_AF_INET6 = 0x2,
	V2_AF_UNIX = 0x3,
	V2_TP_UNSPEC = 0x0,
	V2_TP_STREAM = 0x1,
	V2_TP_DGRAM = 0x2,
	V2_LEN_INET = 12, /* src, dst, sport, dport */
	V2_LEN_INET6 = 36,
	V2_LEN_UNIX = 216, /* two 108-byte paths */
};

/* The first min(len, n) bytes of buf equal sig. */
static bool prefix_matches(const uint8_t *buf, size_t len, const void *sig, size_t n)
{
	return memcmp(buf, sig, len < n ? len : n) == 0;
}

/* ---- v1 ---------------------------------------------------------------- */

struct tok {
	const char *p;
	size_t n;
};

/* Find the CRLF: *eol is the offset of the CR. Only printable ASCII may come
 * before it, and it must end within PROXYPROTO_V1_MAX bytes. */
static int v1_find_eol(const uint8_t *buf, size_t len, size_t *eol)
{
	size_t lim = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;

	for (size_t i = 0; i < lim; i++) {
		if (buf[i] != '\r') {
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				return PROTO_MALFORMED;
			continue;
		}
		if (i + 1 >= PROXYPROTO_V1_MAX)
			return PROTO_MALFORMED;
		if (i + 1 >= len)
			return PROTO_INCOMPLETE;
		if (buf[i + 1] != '\n')
			return PROTO_MALFORMED;
		*eol = i;
		return PROTO_OK;
	}
	return len >= PROXYPROTO_V1_MAX ? PROTO_MALFORMED : PROTO_INCOMPLETE;
}

/* Split p[0..n) at single spaces into exactly want tokens; false on an empty
 * token (doubled, leading or trailing space) or a different count. */
static bool v1_split(const char *p, size_t n, struct tok *t, int want)
{
	size_t start = 0;
	int k = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != ' ')
			continue;
		if (i == start || k == want)
			return false;
		t[k].p = p + start;
		t[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k == want;
}

static bool tok_is(const struct tok *t, const char *s)
{
	return t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}

/* Decimal 0..65535, no sign, no leading zero. */
static bool v1_port(const struct tok *t, in_port_t *port)
{
	unsigned v = 0;

	if (t->n == 0 || t->n > 5 || (t->p[0] == '0' && t->n > 1))
		return false;
	for (size_t i = 0; i < t->n; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(t->p[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = htons((uint16_t)v);
	return true;
}

static bool v1_endpoint(const struct tok *addr, const struct tok *port, int af,
                        struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char tmp[INET6_ADDRSTRLEN];

	if (addr->n >= sizeof(tmp))
		return false;
	memcpy(tmp, addr->p, addr->n);
	tmp[addr->n] = '\0';
	ss->ss_family = (sa_family_t)af;
	if (af == AF_INET)
		return inet_pton(AF_INET, tmp, &sin->sin_addr) == 1 &&
		       v1_port(port, &sin->sin_port);
	return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 && v1_port(port, &sin6->sin6_port);
}

/* The line after "PROXY ", without CRLF. */
static int v1_line(const char *p, size_t n, struct proxyproto_info *out)
{
	static const char unknown[] = "UNKNOWN";
	const size_t ulen = sizeof(unknown) - 1;
	struct tok t[5];
	int af;

	if (n >= ulen && memcmp(p, unknown, ulen) == 0 && (n == ulen || p[ulen] == ' ')) {
		out->local = true; /* the rest of the line is to be ignored */
		return PROTO_OK;
	}
	if (!v1_split(p, n, t, 5))
		return PROTO_MALFORMED;
	if (tok_is(&t[0], "TCP4"))
		af = AF_INET;
	else if (tok_is(&t[0], "TCP6"))
		af = AF_INET6;
	else
		return PROTO_MALFORMED;
	if (!v1_endpoint(&t[1], &t[3], af, &out->src) || !v1_endpoint(&t[2], &t[4], af, &out->dst))
		return PROTO_MALFORMED;
	return PROTO_OK;
}

static int v1_parse(const uint8_t *buf, size_t len, struct proxyproto_info *out, size_t *consumed)
{
	size_t eol;
	int rc = v1_find_eol(buf, len, &eol);

	if (rc != PROTO_OK)
		return rc;
	rc = v1_line((const char *)buf + V1_PREFIX_LEN, eol - V1_PREFIX_LEN, out);
	if (rc == PROTO_OK)
		*consumed = eol + 2;
	return rc;
}

/* ---- v2 ---------------------------------------------------------------- */

/* Everything the 16-byte header alone decides. */
static int v2_check_header(uint8_t ver_cmd, uint8_t fam, uint16_t alen)
{
	uint8_t cmd = ver_cmd & 0x0f, af = fam >> 4, tp = fam & 0x0f;

	if (ver_cmd >> 4 != 2 || cmd > V2_CMD_PROXY || alen > PROXYPROTO_V2_LEN_MAX)
		return PROTO_MALFORMED;
	if (cmd == V2_CMD_LOCAL)
		return PROTO_OK; /* family and addresses are to be ignored */
	switch (af) {
	case V2_AF_UNSPEC:
		return PROTO_OK;
	case V2_AF_INET:
		return tp == V2_TP_STREAM && alen >= V2_LEN_INET ? PROTO_OK : PROTO_MALFORMED;
	case V2_AF_INET6:
		return tp == V2_TP_STREAM && alen >= V2_LEN_INET6 ? PROTO_OK : PROTO_MALFORMED;
	case V2_AF_UNIX:
		return tp <= V2_TP_DGRAM && alen >= V2_LEN_UNIX ? PROTO_OK : PROTO_MALFORMED;
	}
	return PROTO_MALFORMED;
}

/* Source and destination from the address block (length already checked). */
static void v2_addresses(uint8_t af, const uint8_t *block, size_t alen, struct proxyproto_info *out)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&out->src,
	                   *d4 = (struct sockaddr_in *)&out->dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&out->dst;
	struct rd r;

	rd_init(&r, block, alen);
	if (af == V2_AF_INET) {
		s4->sin_family = d4->sin_family = AF_INET;
		rd_copy(&r, &s4->sin_addr, 4);
		rd_copy(&r, &d4->sin_addr, 4);
		rd_copy(&r, &s4->sin_port, 2); /* ports stay in network order */
		rd_copy(&r, &d4->sin_port, 2);
		return;
	}
	s6->sin6_family = d6->sin6_family = AF_INET6;
	rd_copy(&r, &s6->sin6_addr, 16);
	rd_copy(&r, &d6->sin6_addr, 16);
	rd_copy(&r, &s6->sin6_port, 2);
	rd_copy(&r, &d6->sin6_port, 2);
}

static int v2_parse(const uint8_t *buf, size_t len, struct proxyproto_info *out, size_t *consumed)
{
	const uint8_t *sig, *block;
	uint8_t ver_cmd, fam;
	uint16_t alen;
	struct rd r;
	int rc;

	rd_init(&r, buf, len);
	if ((rc = rd_direct(&r, sizeof(v2_sig), &sig)) != PROTO_OK ||
	    (rc = rd_u8(&r, &ver_cmd)) != PROTO_OK || (rc = rd_u8(&r, &fam)) != PROTO_OK ||
	    (rc = rd_u16be(&r, &alen)) != PROTO_OK)
		return rc;
	if ((rc = v2_check_header(ver_cmd, fam, alen)) != PROTO_OK)
		return rc;
	if ((rc = rd_direct(&r, alen, &block)) != PROTO_OK)
		return rc;
	if ((ver_cmd & 0x0f) == V2_CMD_LOCAL || (fam >> 4) == V2_AF_UNSPEC ||
	    (fam >> 4) == V2_AF_UNIX)
		out->local = true;
	else
		v2_addresses(fam >> 4, block, alen, out);
	*consumed = r.off;
	return PROTO_OK;
}

int proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_info *out, size_t *consumed)
{
	int rc;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	/* Empty input is incomplete before any prefix test (an empty buffer
	 * matches every prefix); a v1 prefix cut short is incomplete too. */
	if (len == 0)
		rc = PROTO_INCOMPLETE; // NOLINT(bugprone-branch-clone): see above
	else if (prefix_matches(buf, len, v2_sig, sizeof(v2_sig)))
		rc = v2_parse(buf, len, out, consumed);
	else if (!prefix_matches(buf, len, v1_prefix, V1_PREFIX_LEN))
		rc = PROTO_BAD_VERSION;
	else if (len < V1_PREFIX_LEN)
		rc = PROTO_INCOMPLETE;
	else
		rc = v1_parse(buf, len, out, consumed);
	if (rc != PROTO_OK)
		memset(out, 0, sizeof(*out)); /* no half-parsed endpoint */
	return rc;
}
