/* SOCKS4/4a. See socks4.h for the contracts. */
#include <netinet/in.h>
#include <string.h>

#include "protocol/cursor.h"
#include "protocol/socks4.h"
#include "protocol/sockaddr.h"

/* A NUL-terminated field of at most SOCKS4_FIELD_MAX bytes, copied into dst
 * (SOCKS4_FIELD_MAX + 1 bytes). MALFORMED once that many bytes have arrived
 * without a NUL, INCOMPLETE before. */
static int rd_cstring(struct rd *r, char *dst)
{
	size_t left = rd_left(r), lim = left < SOCKS4_FIELD_MAX + 1 ? left : SOCKS4_FIELD_MAX + 1;
	const uint8_t *p = r->base + r->off;
	const uint8_t *nul = memchr(p, 0, lim);

	if (nul == NULL)
		return left > SOCKS4_FIELD_MAX ? PROTO_MALFORMED : PROTO_INCOMPLETE;
	return rd_copy(r, dst, (size_t)(nul - p) + 1); /* the NUL included */
}

/* 0.0.0.x with x != 0: "the name follows" (SOCKS4a). */
static bool ip_is_4a(const uint8_t ip[4])
{
	return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
}

/* Everything after VN. */
static int rd_fields(struct rd *r, struct socks4_request *out)
{
	int rc;

	if ((rc = rd_u8(r, &out->cmd)) != PROTO_OK || (rc = rd_u16be(r, &out->port)) != PROTO_OK ||
	    (rc = rd_copy(r, out->ip, 4)) != PROTO_OK ||
	    (rc = rd_cstring(r, out->userid)) != PROTO_OK)
		return rc;
	if (!ip_is_4a(out->ip))
		return PROTO_OK;
	if ((rc = rd_cstring(r, out->domain)) != PROTO_OK)
		return rc;
	if (out->domain[0] == '\0')
		return PROTO_MALFORMED;
	out->is_4a = true;
	return PROTO_OK;
}

int socks4_parse_request(const uint8_t *buf, size_t len, struct socks4_request *out,
                         size_t *consumed)
{
	struct rd r;
	uint8_t vn;
	int rc;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	rd_init(&r, buf, len);
	if ((rc = rd_u8(&r, &vn)) != PROTO_OK)
		return rc;
	if (vn != SOCKS4_VERSION)
		return PROTO_BAD_VERSION;
	rc = rd_fields(&r, out);
	if (rc != PROTO_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	*consumed = r.off;
	return PROTO_OK;
}

size_t socks4_write_reply(uint8_t *out, size_t cap, uint8_t code, const struct sockaddr *bnd)
{
	struct socks_addr a;
	struct wr w;

	socks_addr_from_sockaddr(&a, bnd);
	if (a.atyp != SOCKS5_ATYP_IPV4)
		socks_addr_from_sockaddr(&a, NULL);
	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS4_REPLY_VERSION);
	wr_u8(&w, code);
	wr_u16be(&w, a.port);
	wr_bytes(&w, a.u.v4, 4);
	return wr_result(&w);
}

size_t socks4_write_request(uint8_t *out, size_t cap, const struct socks4_request *r)
{
	size_t ulen = strnlen(r->userid, sizeof(r->userid));
	size_t dlen = strnlen(r->domain, sizeof(r->domain));
	struct wr w;

	if (ulen > SOCKS4_FIELD_MAX || dlen > SOCKS4_FIELD_MAX)
		return 0;
	wr_init(&w, out, cap);
	wr_u8(&w, SOCKS4_VERSION);
	wr_u8(&w, r->cmd);
	wr_u16be(&w, r->port);
	wr_bytes(&w, r->ip, 4);
	wr_bytes(&w, r->userid, ulen + 1);
	if (r->is_4a)
		wr_bytes(&w, r->domain, dlen + 1);
	return wr_result(&w);
}

void socks4_request_to_addr(const struct socks4_request *r, struct socks_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->port = r->port;
	if (!r->is_4a) {
		out->atyp = SOCKS5_ATYP_IPV4;
		memcpy(out->u.v4, r->ip, 4);
		return;
	}
	out->atyp = SOCKS5_ATYP_DOMAIN;
	out->u.domain.len = (uint8_t)strnlen(r->domain, SOCKS_DOMAIN_MAX);
	memcpy(out->u.domain.name, r->domain, out->u.domain.len);
}
