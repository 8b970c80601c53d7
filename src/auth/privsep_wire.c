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
	struct wr w;
	wr_init(&w, buf, sizeof(buf));
	wr_u32be(&w, (uint32_t)len + 1);
	wr_u8(&w, type);
	wr_bytes(&w, payload, len);
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
	struct rd r;
	uint32_t l;
	rd_init(&r, hdr, 4);
	(void)rd_u32be(&r, &l); /* 4 bytes are there */
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

void privsep_wr_str(struct wr *w, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n > max) {
		w->full = true;
		return;
	}
	wr_u16be(w, (uint16_t)n);
	wr_bytes(w, s, n);
}

int privsep_rd_str(struct rd *r, char *out, size_t min, size_t max)
{
	struct rd peek = *r; /* r moves only when the whole field is good */
	uint16_t n;
	const uint8_t *p;
	out[0] = '\0';
	if (rd_u16be(&peek, &n) != PROTO_OK || n < min || n > max ||
	    rd_direct(&peek, n, &p) != PROTO_OK || memchr(p, 0, n))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	*r = peek;
	return 0;
}
