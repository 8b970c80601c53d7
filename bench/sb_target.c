/* sb_target.c - see sb_target.h.
 *
 * Level-triggered epoll; every handler does a bounded amount of work per
 * event so one fast connection cannot starve the others.
 */
#include "sb_target.h"
#include "sb_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BUF          16384
#define CHUNKS_PER_EVENT  8
#define ACCEPTS_PER_EVENT 64

enum tstate {
	T_HDR,   /* reading the 16-byte header */
	T_SEND,  /* download: sending <count> pattern bytes */
	T_RECV,  /* upload: receiving and checking <count> bytes */
	T_OUT,   /* sending out[] (upload result or hold ack), then `after` */
	T_DRAIN, /* wait for EOF; any byte is an error */
	T_ECHO,  /* echo until EOF */
	T_CLOSE, /* finished: close */
};

struct tconn {
	int fd;
	uint8_t state;
	uint8_t after;  /* state after T_OUT */
	uint8_t status; /* enum sb_result_status for uploads */
	uint32_t mask;  /* current epoll interest */
	uint64_t count;
	uint64_t done;
	uint8_t flags;  /* SB_HDR_F_* from the header */
	uint32_t reads; /* payload reads (sb_recv_pattern's sample counter) */
	uint8_t hdr[SB_HDR_LEN];
	unsigned hgot;
	uint8_t out[SB_RESULT_LEN];
	unsigned ooff, olen;
	uint8_t *echo; /* ECHO_BUF bytes, only for echo connections */
	uint32_t elen, eoff;
	struct tconn *prev, *next;
};

struct tloop {
	struct sb_target *t;
	int epfd;
	int lfd;
	pthread_t th;
	bool started;
	uint8_t *rbuf; /* SB_IO_CHUNK scratch for discarded / checked input */
	struct tconn *head;
	uint64_t errors;
};

struct sb_target {
	int nthreads;
	uint16_t port;
	int stopfd; /* eventfd: readable = stop */
	struct tloop loops[];
};

static void tconn_close(struct tloop *l, struct tconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);
	free(c->echo);
	free(c);
}

static void tconn_set_mask(struct tloop *l, struct tconn *c, uint32_t mask)
{
	if (c->mask == mask)
		return;
	struct epoll_event ev = {.events = mask, .data.ptr = c};
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->mask = mask;
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Each step returns the next state; returning the same state means "wait for
 * the next event" (or "yield after a bounded burst"). */
static enum tstate step_hdr(struct tloop *l, struct tconn *c)
{
	/* Read exactly the header: what follows belongs to the op. */
	ssize_t r = recv(c->fd, c->hdr + c->hgot, SB_HDR_LEN - c->hgot, 0);
	if (r < 0)
		return would_block() ? T_HDR : T_CLOSE;
	if (r == 0) {
		if (c->hgot)
			__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
		return T_CLOSE;
	}
	c->hgot += (unsigned)r;
	if (c->hgot < SB_HDR_LEN)
		return T_HDR;
	enum sb_op op;
	if (sb_hdr_decode(c->hdr, &op, &c->count, &c->flags) != 0) {
		__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
		return T_CLOSE;
	}
	switch (op) {
	case SB_OP_DOWNLOAD:
		return T_SEND;
	case SB_OP_UPLOAD:
		return T_RECV;
	case SB_OP_ECHO:
		c->echo = malloc(ECHO_BUF);
		return c->echo ? T_ECHO : T_CLOSE;
	case SB_OP_HOLD:
		c->out[0] = 'K';
		c->olen = 1;
		c->after = T_DRAIN;
		return T_OUT;
	}
	return T_CLOSE;
}

static enum tstate step_send(struct tconn *c)
{
	for (int i = 0; i < CHUNKS_PER_EVENT && c->done < c->count; i++) {
		uint64_t left = c->count - c->done;
		size_t n = left < SB_IO_CHUNK ? (size_t)left : SB_IO_CHUNK;
		ssize_t w = send(c->fd, sb_pattern_at(c->done), n, MSG_NOSIGNAL);
		if (w < 0)
			return would_block() ? T_SEND : T_CLOSE;
		c->done += (uint64_t)w;
	}
	return c->done < c->count ? T_SEND : T_CLOSE;
}

/* Upload: the result goes out as soon as <count> bytes are in (or at an early
 * EOF), without waiting for the client's EOF: some proxies (microsocks) do not
 * pass a half-close on. Bytes beyond <count> are reported while draining. */
static enum tstate upload_result(struct tloop *l, struct tconn *c)
{
	if (c->status == SB_RES_OK && c->done < c->count)
		c->status = SB_RES_TOO_FEW;
	if (c->status != SB_RES_OK)
		__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
	sb_u64_put(c->out, c->done);
	c->out[8] = c->status;
	c->olen = SB_RESULT_LEN;
	c->after = c->status == SB_RES_OK ? T_DRAIN : T_CLOSE;
	return T_OUT;
}

static enum tstate step_recv(struct tloop *l, struct tconn *c)
{
	for (int i = 0; i < CHUNKS_PER_EVENT && c->done < c->count; i++) {
		uint64_t left = c->count - c->done;
		size_t want = left < SB_IO_CHUNK ? (size_t)left : SB_IO_CHUNK;
		bool bad = false;
		ssize_t r = sb_recv_pattern(c->fd, l->rbuf, want, c->done,
		                            c->flags & SB_HDR_F_SAMPLE, &c->reads, &bad);
		if (r < 0)
			return would_block() ? T_RECV : T_CLOSE;
		if (r == 0)
			return upload_result(l, c);
		if (bad && c->status == SB_RES_OK)
			c->status = SB_RES_BAD_PATTERN;
		c->done += (uint64_t)r;
	}
	return c->done < c->count ? T_RECV : upload_result(l, c);
}

static enum tstate step_out(struct tconn *c)
{
	while (c->ooff < c->olen) {
		ssize_t w = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
		if (w < 0)
			return would_block() ? T_OUT : T_CLOSE;
		c->ooff += (unsigned)w;
	}
	return (enum tstate)c->after;
}

/* Hold and finished uploads: nothing more is expected; bytes are an error. */
static enum tstate step_drain(struct tloop *l, struct tconn *c)
{
	ssize_t r = recv(c->fd, l->rbuf, SB_IO_CHUNK, 0);
	if (r < 0)
		return would_block() ? T_DRAIN : T_CLOSE;
	if (r > 0)
		__atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
	return T_CLOSE;
}

static enum tstate step_echo(struct tconn *c)
{
	for (int i = 0; i < CHUNKS_PER_EVENT; i++) {
		if (c->eoff < c->elen) {
			ssize_t w = send(c->fd, c->echo + c->eoff, c->elen - c->eoff, MSG_NOSIGNAL);
			if (w < 0)
				return would_block() ? T_ECHO : T_CLOSE;
			c->eoff += (uint32_t)w;
			c->done += (uint64_t)w;
			if (c->eoff < c->elen)
				return T_ECHO;
		}
		if ((c->flags & SB_HDR_F_CLOSE) && c->done >= c->count)
			return T_CLOSE; /* all of it read and echoed: a FIN, not a RST */
		ssize_t r = recv(c->fd, c->echo, ECHO_BUF, 0);
		if (r < 0)
			return would_block() ? T_ECHO : T_CLOSE;
		if (r == 0)
			return T_CLOSE;
		c->elen = (uint32_t)r;
		c->eoff = 0;
	}
	return T_ECHO;
}

static uint32_t state_mask(const struct tconn *c)
{
	switch (c->state) {
	case T_SEND:
	case T_OUT:
		return EPOLLOUT;
	case T_ECHO:
		return c->eoff < c->elen ? EPOLLOUT : EPOLLIN;
	default:
		return EPOLLIN;
	}
}

static void tconn_drive(struct tloop *l, struct tconn *c)
{
	for (;;) {
		enum tstate s = (enum tstate)c->state, n;
		switch (s) {
		case T_HDR:
			n = step_hdr(l, c);
			break;
		case T_SEND:
			n = step_send(c);
			break;
		case T_RECV:
			n = step_recv(l, c);
			break;
		case T_OUT:
			n = step_out(c);
			break;
		case T_DRAIN:
			n = step_drain(l, c);
			break;
		case T_ECHO:
			n = step_echo(c);
			break;
		default:
			n = T_CLOSE;
			break;
		}
		if (n == T_CLOSE) {
			tconn_close(l, c);
			return;
		}
		c->state = (uint8_t)n;
		if (n == s) {
			tconn_set_mask(l, c, state_mask(c));
			return;
		}
	}
}

static void tloop_accept(struct tloop *l)
{
	for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
		// cppcheck-suppress nullPointer ; accept4 allows NULL addrlen (gnu.cfg bug)
		int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct tconn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->state = T_HDR;
		c->mask = EPOLLIN;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = l->head;
		if (l->head)
			l->head->prev = c;
		l->head = c;
	}
}

static void *tloop_run(void *arg)
{
	struct tloop *l = arg;
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(l->epfd, evs, 256, -1);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == NULL)
				tloop_accept(l);
			else if (p == (void *)l)
				return NULL; /* stop requested; sb_target_stop cleans up */
			else
				tconn_drive(l, p);
		}
	}
	return NULL;
}

static int listen_on(const char *host, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "target bind address %s: not an IPv4 address", host);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
		snprintf(err, errlen, "bind/listen %s:%u: %s", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct sb_target *sb_target_start(const char *bind_host, uint16_t port, int nthreads, char *err,
                                  size_t errlen)
{
	if (nthreads < 1)
		nthreads = 1;
	struct sb_target *t = calloc(1, sizeof(*t) + (size_t)nthreads * sizeof(struct tloop));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->nthreads = nthreads;
	t->stopfd = -1;
	for (int i = 0; i < nthreads; i++) {
		t->loops[i].t = t;
		t->loops[i].epfd = t->loops[i].lfd = -1;
	}
	t->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stopfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	for (int i = 0; i < nthreads; i++) {
		struct tloop *l = &t->loops[i];
		l->lfd = listen_on(bind_host, port, err, errlen);
		if (l->lfd < 0)
			goto fail;
		if (port == 0) {
			struct sockaddr_in sa;
			socklen_t sl = sizeof(sa);
			getsockname(l->lfd, (struct sockaddr *)&sa, &sl);
			port = ntohs(sa.sin_port);
		}
		l->rbuf = malloc(SB_IO_CHUNK);
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!l->rbuf || l->epfd < 0) {
			snprintf(err, errlen, "epoll/malloc: %s", strerror(errno));
			goto fail;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->lfd, &ev);
		ev.data.ptr = l;
		epoll_ctl(l->epfd, EPOLL_CTL_ADD, t->stopfd, &ev);
	}
	t->port = port;

	/* Threads never take process signals: the main thread handles them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&t->loops[i].th, NULL, tloop_run, &t->loops[i]) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			snprintf(err, errlen, "pthread_create failed");
			goto fail;
		}
		t->loops[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return t;
fail:
	sb_target_stop(t);
	return NULL;
}

uint16_t sb_target_port(const struct sb_target *t)
{
	return t->port;
}

uint64_t sb_target_errors(const struct sb_target *t)
{
	uint64_t n = 0;
	for (int i = 0; i < t->nthreads; i++)
		n += __atomic_load_n(&t->loops[i].errors, __ATOMIC_RELAXED);
	return n;
}

void sb_target_stop(struct sb_target *t)
{
	if (!t)
		return;
	if (t->stopfd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(t->stopfd, &one, sizeof(one));
		(void)w;
	}
	for (int i = 0; i < t->nthreads; i++) {
		struct tloop *l = &t->loops[i];
		if (l->started)
			pthread_join(l->th, NULL);
		while (l->head)
			tconn_close(l, l->head);
		if (l->lfd >= 0)
			close(l->lfd);
		if (l->epfd >= 0)
			close(l->epfd);
		free(l->rbuf);
	}
	if (t->stopfd >= 0)
		close(t->stopfd);
	free(t);
}
