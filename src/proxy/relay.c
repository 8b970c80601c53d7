/* One relay function, parameterised by direction: both directions share
 * every line (read, splice or copy, write, shaping, EOF), so a fix to one is a
 * fix to both. */
#include "proxy/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/tls.h"
#include "util/strutil.h"

void relay_init(struct relay *r, struct pipepool *pool, int client_fd, int upstream_fd)
{
	memset(r, 0, sizeof(*r));
	r->pool = pool;
	r->read_cap = UINT64_MAX;
	r->end[RELAY_CLIENT].fd = client_fd;
	r->end[RELAY_UPSTREAM].fd = upstream_fd;
}

void relay_set_tls(struct relay *r, struct ssl_st *ssl)
{
	r->ssl = ssl;
	for (int d = 0; d < 2; d++) /* no splice into or out of an SSL */
		r->dir[d].flags |= RELAY_DIR_COPY;
}

void relay_preload(struct relay *r, int d, const uint8_t *data, uint32_t len)
{
	struct relay_dir *D = &r->dir[d];
	CSOCKS_BUG_ON(D->pending || D->pipe || D->buf);
	D->preload = len ? data : NULL;
	D->pending = len;
	D->off = 0;
}

/* Give the (now empty) carrier back. */
static void dir_put_carrier(struct relay *r, struct relay_dir *D)
{
	if (D->pipe) {
		pipepool_put_pipe(r->pool, D->pipe);
		D->pipe = NULL;
	}
	if (D->buf) {
		pipepool_put_buf(r->pool, D->buf);
		D->buf = NULL;
	}
	D->preload = NULL;
	D->off = 0;
}

void relay_release(struct relay *r)
{
	for (int d = 0; d < 2; d++) {
		struct relay_dir *D = &r->dir[d];
		if (D->pipe && D->pending) {
			/* Bytes still inside: never pool a dirty pipe. */
			pipepool_drop_pipe(r->pool, D->pipe);
			D->pipe = NULL;
		}
		D->pending = 0;
		dir_put_carrier(r, D);
	}
}

static int would_block(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK;
}

/* Write the carrier's bytes (through ssl when the destination is TLS).
 * >0 bytes written, -1 with errno. */
static ssize_t dir_write(struct relay_dir *D, int fd, struct ssl_st *ssl)
{
	if (D->pipe)
		return splice(D->pipe->rd, NULL, fd, NULL, D->pending,
		              SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	const uint8_t *p = D->buf ? D->buf->data : D->preload;
	if (ssl)
		return tls_io_write(ssl, p + D->off, D->pending);
	return send(fd, p + D->off, D->pending, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Fill an empty carrier from fd. >0 bytes, 0 EOF, -1 with errno. May leave
 * a carrier attached only when it returns > 0. */
static ssize_t dir_read(struct relay *r, struct relay_dir *D, int fd, struct ssl_st *ssl)
{
	uint64_t cap = r->read_cap - r->read_used;
	if (!(D->flags & RELAY_DIR_COPY)) {
		D->pipe = pipepool_get_pipe(r->pool);
		if (D->pipe) {
			size_t len = D->pipe->size < cap ? D->pipe->size : (size_t)cap;
			ssize_t n = splice(fd, NULL, D->pipe->wr, NULL, len,
			                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0)
				return n;
			int e = errno;
			/* An empty pipe goes back to the pool whatever happened. */
			pipepool_put_pipe(r->pool, D->pipe);
			D->pipe = NULL;
			if (n == 0)
				return 0;
			if (e != EINVAL && e != ENOSYS && e != EOPNOTSUPP) {
				/* EAGAIN into an empty pipe: the socket is drained. */
				errno = e;
				return -1;
			}
			/* This fd cannot splice: copy for the rest of the tunnel. */
			D->flags |= RELAY_DIR_COPY;
		}
	}
	D->buf = pipepool_get_buf(r->pool);
	D->off = 0;
	size_t len = sizeof(D->buf->data) < cap ? sizeof(D->buf->data) : (size_t)cap;
	ssize_t n = ssl ? tls_io_read(ssl, D->buf->data, len, 0)
	                : recv(fd, D->buf->data, len, MSG_DONTWAIT);
	if (n <= 0) {
		int e = errno;
		pipepool_put_buf(r->pool, D->buf);
		D->buf = NULL;
		errno = e;
	}
	return n;
}

/* Run direction d. Returns 1 when the budget ran out with work left, 2 when
 * read_cap did, 0 otherwise, -1 on a failed syscall (r->err set). */
static int dir_run(struct relay *r, int d, size_t budget)
{
	struct relay_dir *D = &r->dir[d];
	struct relay_end *src = &r->end[d == RELAY_UP ? RELAY_CLIENT : RELAY_UPSTREAM];
	struct relay_end *dst = &r->end[d == RELAY_UP ? RELAY_UPSTREAM : RELAY_CLIENT];
	struct ssl_st *src_ssl = d == RELAY_UP ? r->ssl : NULL;
	struct ssl_st *dst_ssl = d == RELAY_DOWN ? r->ssl : NULL;
	size_t moved = 0;

	for (;;) {
		if (D->pending) {
			if (!dst->can_write)
				return 0;
			ssize_t n = dir_write(D, dst->fd, dst_ssl);
			if (n < 0) {
				if (would_block(errno)) {
					if (dst_ssl && tls_io_wants_other(dst_ssl, 0))
						dst->can_read = 0; /* a TLS write that must read */
					else
						dst->can_write = 0;
					return 0;
				}
				r->err = errno;
				r->err_end = (uint8_t)(dst - r->end);
				return -1;
			}
			D->pending -= (uint32_t)n;
			D->off += (uint32_t)n;
			D->bytes += (uint64_t)n;
			moved += (size_t)n;
			if (D->pending == 0)
				dir_put_carrier(r, D);
			continue;
		}
		if (D->flags & RELAY_DIR_EOF) {
			if (!(D->flags & RELAY_DIR_SHUT)) {
				if (dst_ssl && tls_io_shutdown(dst_ssl) < 0) {
					dst->can_write = 0; /* close_notify waits for room */
					return 0;
				}
				/* ENOTCONN: the peer is gone already; the other
				 * direction will meet that in its own syscalls. */
				(void)shutdown(dst->fd, SHUT_WR);
				D->flags |= RELAY_DIR_SHUT;
			}
			return 0;
		}
		if (!src->can_read)
			return 0;
		if (moved >= budget)
			return 1;
		if (r->read_used >= r->read_cap)
			return 2;
		ssize_t n = dir_read(r, D, src->fd, src_ssl);
		if (n > 0) {
			D->pending = (uint32_t)n;
			D->reads++;
			r->read_used += (uint64_t)n;
		} else if (n == 0) {
			D->flags |= RELAY_DIR_EOF;
		} else if (would_block(errno)) {
			if (src_ssl && tls_io_wants_other(src_ssl, 1))
				src->can_write = 0; /* a TLS read that must write */
			else
				src->can_read = 0;
			return 0;
		} else {
			r->err = errno;
			r->err_end = (uint8_t)(src - r->end);
			return -1;
		}
	}
}

enum relay_status relay_run(struct relay *r, size_t budget)
{
	int busy = 0, capped = 0;
	r->read_used = 0;
	for (int d = 0; d < 2; d++) {
		int rc = dir_run(r, d, budget);
		if (rc < 0)
			return RELAY_ERROR;
		busy |= rc == 1;
		capped |= rc == 2;
	}
	if ((r->dir[0].flags & RELAY_DIR_SHUT) && (r->dir[1].flags & RELAY_DIR_SHUT))
		return RELAY_DONE;
	/* busy wins: the other direction still has budget-bound work now */
	return busy ? RELAY_BUSY : capped ? RELAY_CAPPED : RELAY_WAIT;
}
