/* Privsep framing and payload encoding. See privsep_wire.h. */
#include "auth/privsep_wire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 1 all read, 0 EOF before the first byte, -EPROTO EOF after it, -errno. */
static int read_all(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, p + got, n - got, 0);
		if (r == 0)
			return got == 0 ? 0 : -EPROTO;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		got += (size_t)r;
	}
	return 1;
}

int privsep_msg_send(int fd, uint8_t type, const void *payload, size_t len)
{
	if (len + 1 > PRIVSEP_MSG_MAX)
		return -EMSGSIZE;
	uint8_t buf[5 + PRIVSEP_MSG_MAX];
	uint32_t l = (uint32_t)len + 1;
	buf[0] = (uint8_t)(l >> 24);
	buf[1] = (uint8_t)(l >> 16);
	buf[2] = (uint8_t)(l >> 8);
	buf[3] = (uint8_t)l;
	buf[4] = type;
	if (len)
		memcpy(buf + 5, payload, len);
	int rc = write_all(fd, buf, 5 + len);
	explicit_bzero(buf, 5 + len); /* may hold a password */
	return rc;
}

int privsep_msg_recv(int fd, uint8_t *type, void *buf, size_t cap, size_t *len)
{
	uint8_t hdr[5];
	*type = 0;
	*len = 0;
	int rc = read_all(fd, hdr, 4);
	if (rc == 0)
		return -EPIPE;
	if (rc < 0)
		return rc;
	uint32_t l =
	    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (l == 0 || l > PRIVSEP_MSG_MAX || l - 1 > cap)
		return -EMSGSIZE;
	rc = read_all(fd, hdr + 4, 1);
	if (rc <= 0)
		return rc == 0 ? -EPROTO : rc;
	if (l > 1) {
		rc = read_all(fd, buf, l - 1);
		if (rc <= 0)
			return rc == 0 ? -EPROTO : rc;
	}
	*type = hdr[4];
	*len = l - 1;
	return 0;
}

static void wr_bytes(struct privsep_wr *w, const void *d, size_t n)
{
	if (w->overflow || w->cap - w->len < n) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

void privsep_wr_u32(struct privsep_wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	wr_bytes(w, b, 4);
}

void privsep_wr_u8(struct privsep_wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

void privsep_wr_str(struct privsep_wr *w, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n > max) {
		w->overflow = true;
		return;
	}
	uint8_t b[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	wr_bytes(w, b, 2);
	wr_bytes(w, s, n);
}

int privsep_rd_u32(struct privsep_rd *r, uint32_t *v)
{
	*v = 0;
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

int privsep_rd_u8(struct privsep_rd *r, uint8_t *v)
{
	*v = 0;
	if (r->left < 1)
		return -1;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

/* A string of min..max bytes without NUL into out (max + 1 bytes). */
int privsep_rd_str(struct privsep_rd *r, char *out, size_t min, size_t max)
{
	out[0] = '\0';
	if (r->left < 2)
		return -1;
	size_t n = (size_t)r->p[0] << 8 | r->p[1];
	if (n < min || n > max || r->left - 2 < n || memchr(r->p + 2, 0, n))
		return -1;
	memcpy(out, r->p + 2, n);
	out[n] = '\0';
	r->p += 2 + n;
	r->left -= 2 + n;
	return 0;
}
