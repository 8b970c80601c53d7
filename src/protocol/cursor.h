/* A bounds-checked reader and writer over caller buffers: the SOCKS and
 * PROXY protocol parsers and serialisers, and the privsep wire format
 * (auth/privsep_wire.c).
 *
 * Reader: every get checks the remaining length first and, when it is short,
 * returns PROTO_INCOMPLETE without moving or writing anything. The offset
 * never exceeds the length, and "len - off" cannot wrap, so a hostile length
 * byte can only ever make a get fail.
 *
 * Writer: every put checks the room first; once a put did not fit, the writer
 * is marked full, later puts do nothing and wr_result() gives 0 (the
 * serialisers' "cap too small"). */
#ifndef CSOCKS_PROTO_CURSOR_H
#define CSOCKS_PROTO_CURSOR_H

#include <string.h>

#include "protocol/proto_types.h"

struct rd {
	const uint8_t *base;
	size_t len; /* bytes available at base */
	size_t off; /* bytes consumed so far; off <= len */
};

static inline void rd_init(struct rd *r, const uint8_t *buf, size_t len)
{
	r->base = buf;
	r->len = len;
	r->off = 0;
}

static inline size_t rd_left(const struct rd *r)
{
	return r->len - r->off;
}

static inline int rd_u8(struct rd *r, uint8_t *v)
{
	*v = 0;
	if (rd_left(r) < 1)
		return PROTO_INCOMPLETE;
	*v = r->base[r->off++];
	return PROTO_OK;
}

static inline int rd_u16be(struct rd *r, uint16_t *v)
{
	*v = 0;
	if (rd_left(r) < 2)
		return PROTO_INCOMPLETE;
	*v = (uint16_t)((r->base[r->off] << 8) | r->base[r->off + 1]);
	r->off += 2;
	return PROTO_OK;
}

static inline int rd_u32be(struct rd *r, uint32_t *v)
{
	*v = 0;
	if (rd_left(r) < 4)
		return PROTO_INCOMPLETE;
	const uint8_t *p = r->base + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	r->off += 4;
	return PROTO_OK;
}

/* Copy n bytes to dst (nothing is copied when fewer are available). */
static inline int rd_copy(struct rd *r, void *dst, size_t n)
{
	if (rd_left(r) < n)
		return PROTO_INCOMPLETE;
	if (n > 0)
		memcpy(dst, r->base + r->off, n);
	r->off += n;
	return PROTO_OK;
}

/* Take n bytes in place: *p points into the caller's buffer and is valid as
 * long as that buffer is. */
static inline int rd_direct(struct rd *r, size_t n, const uint8_t **p)
{
	*p = NULL;
	if (rd_left(r) < n)
		return PROTO_INCOMPLETE;
	*p = r->base + r->off;
	r->off += n;
	return PROTO_OK;
}

struct wr {
	uint8_t *p;
	size_t cap;
	size_t off;
	bool full; /* a put did not fit: the result is 0 */
};

static inline void wr_init(struct wr *w, uint8_t *out, size_t cap)
{
	w->p = out;
	w->cap = cap;
	w->off = 0;
	w->full = false;
}

static inline void wr_bytes(struct wr *w, const void *src, size_t n)
{
	if (w->full || w->cap - w->off < n) {
		w->full = true;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->off, src, n);
	w->off += n;
}

static inline void wr_u8(struct wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static inline void wr_u16be(struct wr *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	wr_bytes(w, b, 2);
}

static inline void wr_u32be(struct wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	wr_bytes(w, b, 4);
}

/* Bytes written, or 0 when anything did not fit. */
static inline size_t wr_result(const struct wr *w)
{
	return w->full ? 0 : w->off;
}

#endif
