/* SOCKS5 (RFC 1928) and RFC 1929 messages. See socks5.h for the contracts.
 *
 * Every parser walks the buffer with a struct rd, which checks the length
 * before each read; a short read surfaces as PROTO_INCOMPLETE. A decision
 * that the bytes already seen make final (wrong version, NMETHODS 0, unknown
 * ATYP, empty domain) is returned as soon as those bytes are there, so a
 * broken client is answered without waiting for bytes that may never come. */
#include <string.h>

#include "protocol/cursor.h"
#include "protocol/sockaddr.h"
#include "protocol/socks5.h"

const char *proto_result_name(int result)
{
	switch (result) {
	case PROTO_OK:
		return "ok";
	case PROTO_INCOMPLETE:
		return "incomplete";
	case PROTO_BAD_VERSION:
		return "bad version";
	case PROTO_MALFORMED:
		return "malformed";
	case PROTO_BAD_ATYP:
		return "bad address type";
	}
	return "unknown";
}

const char *socks5_reply_name(uint8_t rep)
{
	static const char *const names[] = {
	    [SOCKS5_REP_SUCCESS] = "succeeded",
	    [SOCKS5_REP_GENERAL_FAILURE] = "general failure",
	    [SOCKS5_REP_NOT_ALLOWED] = "connection not allowed by ruleset",
	    [SOCKS5_REP_NET_UNREACHABLE] = "network unreachable",
	    [SOCKS5_REP_HOST_UNREACHABLE] = "host unreachable",
	    [SOCKS5_REP_CONN_REFUSED] = "connection refused",
	    [SOCKS5_REP_TTL_EXPIRED] = "TTL expired",
	    [SOCKS5_REP_CMD_NOT_SUPPORTED] = "command not supported",
	    [SOCKS5_REP_ATYP_NOT_SUPPORTED] = "address type not supported",
	};

	if (rep < sizeof(names) / sizeof(names[0]))
		return names[rep];
	return "unknown";
}

const char *socks5_cmd_name(uint8_t cmd)
{
	switch (cmd) {
	case SOCKS5_CMD_CONNECT:
		return "connect";
	case SOCKS5_CMD_BIND:
		return "bind";
	case SOCKS5_CMD_UDP_ASSOCIATE:
		return "udp_associate";
	}
	return "unknown";
}

const char *socks5_method_name(uint8_t m)
{
	switch (m) {
	case SOCKS5_METHOD_NONE:
		return "none";
	case SOCKS5_METHOD_GSSAPI:
		return "gssapi";
	case SOCKS5_METHOD_USERPASS:
		return "userpass";
	case SOCKS5_METHOD_NO_ACCEPTABLE:
		return "no acceptable";
	}
	return "unknown";
}

/* Read the version byte; BAD_VERSION as soon as it is there and wrong. */
static int rd_version(struct rd *r, uint8_t want)
{
	uint8_t v;
	int rc = rd_u8(r, &v);

	if (rc != PROTO_OK)
		return rc;
	return v == want ? PROTO_OK : PROTO_BAD_VERSION;
}

int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out,
                          size_t *consumed)
{
	struct rd r;
	uint8_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	rd_init(&r, buf, len);
	if ((rc = rd_version(&r, SOCKS5_VERSION)) != PROTO_OK)
		return rc;
	if ((rc = rd_u8(&r, &n)) != PROTO_OK)
		return rc;
	if (n == 0)
		return PROTO_MALFORMED;
	if ((rc = rd_copy(&r, out->methods, n)) != PROTO_OK)
		return rc;
	out->nmethods = n;
	*consumed = r.off;
	return PROTO_OK;
}

bool socks5_greeting_offers(const struct socks5_greeting *g, uint8_t method)
{
	return memchr(g->methods, method, g->nmethods) != NULL;
}

/* A length-prefixed field of RFC 1929, in place. */
static int rd_lstring(struct rd *r, const uint8_t **p, uint8_t *n)
{
	int rc = rd_u8(r, n);

	if (rc != PROTO_OK)
		return rc;
	return rd_direct(r, *n, p);
}

int socks5_parse_userpass(const uint8_t *buf, size_t len, struct socks5_userpass *out,
                          size_t *consumed)
{
	const uint8_t *user, *pass;
	uint8_t ulen, plen;
	struct rd r;
	int rc;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	rd_init(&r, buf, len);
	if ((rc = rd_version(&r, SOCKS5_USERPASS_VERSION)) != PROTO_OK)
		return rc;
	if ((rc = rd_lstring(&r, &user, &ulen)) != PROTO_OK)
		return rc;
	if (ulen == 0 || memchr(user, 0, ulen))
		return PROTO_MALFORMED;
	if ((rc = rd_lstring(&r, &pass, &plen)) != PROTO_OK)
		return rc;
	if (plen > 0 && memchr(pass, 0, plen))
		return PROTO_MALFORMED;
	memcpy(out->user, user, ulen);
	out->ulen = ulen;
	if (plen > 0)
		memcpy(out->pass, pass, plen);
	out->plen = plen;
	*consumed = r.off;
	return PROTO_OK;
}

static int rd_domain(struct rd *r, struct socks_addr *a)
{
	const uint8_t *name;
	uint8_t n;
	int rc;

	if ((rc = rd_u8(r, &n)) != PROTO_OK)
		return rc;
	if (n == 0)
		return PROTO_MALFORMED;
	if ((rc = rd_direct(r, n, &name)) != PROTO_OK)
		return rc;
	if (memchr(name, 0, n))
		return PROTO_MALFORMED;
	memcpy(a->u.domain.name, name, n);
	a->u.domain.name[n] = '\0';
	a->u.domain.len = n;
	return PROTO_OK;
}

/* ATYP DST.ADDR DST.PORT, shared by requests and UDP headers. */
static int rd_socks_addr(struct rd *r, struct socks_addr *a)
{
	uint8_t atyp;
	int rc;

	if ((rc = rd_u8(r, &atyp)) != PROTO_OK)
		return rc;
	switch (atyp) {
	case SOCKS5_ATYP_IPV4:
		rc = rd_copy(r, a->u.v4, sizeof(a->u.v4));
		break;
	case SOCKS5_ATYP_IPV6:
		rc = rd_copy(r, a->u.v6, sizeof(a->u.v6));
		break;
	case SOCKS5_ATYP_DOMAIN:
		rc = rd_domain(r, a);
		break;
	default:
		return PROTO_BAD_ATYP;
	}
	if (rc != PROTO_OK)
		return rc;
	if ((rc = rd_u16be(r, &a->port)) != PROTO_OK)
		return rc;
	a->atyp = atyp;
	return PROTO_OK;
}

int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *out,
                         size_t *consumed)
{
	struct rd r;
	int rc;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	rd_init(&r, buf, len);
	if ((rc = rd_version(&r, SOCKS5_VERSION)) != PROTO_OK)
		return rc;
	if ((rc = rd_u8(&r, &out->cmd)) == PROTO_OK && (rc = rd_u8(&r, &out->rsv)) == PROTO_OK)
		rc = rd_socks_addr(&r, &out->dst);
	if (rc != PROTO_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	*consumed = r.off;
	return PROTO_OK;
}

/* ATYP DST.ADDR DST.PORT; false for an atyp that has no wire form. A domain
 * is written with its recorded len (0 included, so tests can build the
 * malformed case). */
static bool wr_socks_addr(struct wr *w, const struct socks_addr *a)
{
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		wr_u8(w, a->atyp);
		wr_bytes(w, a->u.v4, sizeof(a->u.v4));
		break;
	case SOCKS5_ATYP_IPV6:
		wr_u8(w, a->atyp);
		wr_bytes(w, a->u.v6, sizeof(a->u.v6));
		break;
	case SOCKS5_ATYP_DOMAIN:
		wr_u8(w, a->atyp);
		wr_u8(w, a->u.domain.len);
		wr_bytes(w, a->u.domain.name, a->u.domain.len);
		break;
	default:
		return false;
	}
	wr_u16be(w, a->port);
	return true;
}

size_t socks5_write_method(uint8_t *out, size_t cap, uint8_t method)
{
	struct wr w;

	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS5_VERSION);
	wr_u8(&w, method);
	return wr_result(&w);
}

size_t socks5_write_userpass_status(uint8_t *out, size_t cap, uint8_t status)
{
	struct wr w;

	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS5_USERPASS_VERSION);
	wr_u8(&w, status);
	return wr_result(&w);
}

size_t socks5_write_reply(uint8_t *out, size_t cap, uint8_t rep, const struct sockaddr *bnd)
{
	struct socks_addr a;
	struct wr w;

	socks_addr_from_sockaddr(&a, bnd);
	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS5_VERSION);
	wr_u8(&w, rep);
	wr_u8(&w, 0x00);
	wr_socks_addr(&w, &a); /* always IPv4 or IPv6 here */
	return wr_result(&w);
}

size_t socks5_write_request(uint8_t *out, size_t cap, const struct socks5_request *req)
{
	struct wr w;

	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS5_VERSION);
	wr_u8(&w, req->cmd);
	wr_u8(&w, req->rsv);
	if (!wr_socks_addr(&w, &req->dst))
		return 0;
	return wr_result(&w);
}

size_t socks5_write_greeting(uint8_t *out, size_t cap, const uint8_t *methods, uint8_t n)
{
	struct wr w;

	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS5_VERSION);
	wr_u8(&w, n);
	wr_bytes(&w, methods, n);
	return wr_result(&w);
}

size_t socks5_write_userpass(uint8_t *out, size_t cap, const char *user, const char *pass)
{
	size_t ulen = strlen(user), plen = strlen(pass);
	struct wr w;

	if (ulen > 255 || plen > 255)
		return 0;
	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS5_USERPASS_VERSION);
	wr_u8(&w, (uint8_t)ulen);
	wr_bytes(&w, user, ulen);
	wr_u8(&w, (uint8_t)plen);
	wr_bytes(&w, pass, plen);
	return wr_result(&w);
}

int socks5_udp_parse(const uint8_t *buf, size_t len, struct socks5_udp_header *out)
{
	uint16_t rsv;
	struct rd r;
	int rc;

	memset(out, 0, sizeof(*out));
	rd_init(&r, buf, len);
	if ((rc = rd_u16be(&r, &rsv)) == PROTO_OK && (rc = rd_u8(&r, &out->frag)) == PROTO_OK)
		rc = rd_socks_addr(&r, &out->dst);
	if (rc == PROTO_INCOMPLETE)
		rc = PROTO_MALFORMED; /* a datagram never continues */
	if (rc != PROTO_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->header_len = r.off;
	return PROTO_OK;
}

size_t socks5_udp_write_header_addr(uint8_t *out, size_t cap, const struct socks_addr *a)
{
	struct wr w;

	wr_init(&w, out, cap);
	wr_u16be(&w, 0x0000);
	wr_u8(&w, 0x00);
	if (!wr_socks_addr(&w, a))
		return 0;
	return wr_result(&w);
}

size_t socks5_udp_write_header(uint8_t *out, size_t cap, const struct sockaddr *src)
{
	struct socks_addr a;

	if (src == NULL || (src->sa_family != AF_INET && src->sa_family != AF_INET6))
		return 0;
	socks_addr_from_sockaddr(&a, src);
	return socks5_udp_write_header_addr(out, cap, &a);
}
