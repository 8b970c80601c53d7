#include "event/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "protocol/sockaddr.h"
#include "util/log.h"

void listener_init(struct listener *ls)
{
	memset(ls, 0, sizeof(*ls));
	ls->fd = -1;
	ls->reserve_fd = -1;
	loop_io_init(&ls->io, NULL, ls);
	timer_init(&ls->t_pause, NULL, ls);
}

int listener_bind(struct listener *ls, const struct sockaddr *sa, socklen_t len, char *err,
                  size_t errlen)
{
	char addr[SOCKADDR_STR_MAX];
	sockaddr_str(sa, addr, sizeof(addr));
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket for %s: %s", addr, strerror(errno));
		return -1;
	}
	const char *what = "setsockopt(SO_REUSEADDR)";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	what = "setsockopt(SO_REUSEPORT)";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	/* Accepted sockets inherit TCP_NODELAY: one setsockopt per listener
	 * instead of one per connection. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	what = "bind";
	if (bind(fd, sa, len) < 0)
		goto fail;
	what = "listen";
	if (listen(fd, LISTENER_BACKLOG) < 0)
		goto fail;
	ls->fd = fd;
	ls->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
fail:
	snprintf(err, errlen, "%s on %s: %s", what, addr, strerror(errno));
	close(fd);
	return -1;
}

static void listener_resume(struct timer *t)
{
	struct listener *ls = t->data;
	if (ls->fd >= 0)
		(void)loop_io_mod(ls->loop, &ls->io, LOOP_READ);
}

/* Out of fds: drop one pending connection through the reserve fd so the
 * backlog moves, then pause accepting for a while. */
static void listener_out_of_fds(struct listener *ls, int err)
{
	if (ls->reserve_fd >= 0) {
		close(ls->reserve_fd);
		// cppcheck-suppress nullPointer ; accept4 allows NULL addrlen (gnu.cfg bug)
		int fd = accept4(ls->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		ls->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	uint64_t now = loop_now(ls->loop);
	if (ls->last_warn_ms == 0 || now - ls->last_warn_ms >= 1000) {
		ls->last_warn_ms = now;
		log_warn("accept: %s: shedding a connection and pausing accept for %d ms "
		         "(%llu accept errors so far)",
		         strerror(err), LISTENER_PAUSE_MS, (unsigned long long)ls->accept_errors);
	}
	(void)loop_io_mod(ls->loop, &ls->io, 0);
	loop_timer_in(ls->loop, &ls->t_pause, LISTENER_PAUSE_MS);
}

static void listener_on_ready(struct loop_io *io, uint32_t events)
{
	struct listener *ls = io->data;
	(void)events;
	for (int i = 0; i < LISTENER_ACCEPT_BATCH && ls->fd >= 0; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd =
		    accept4(ls->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
				return;
			if (e == ECONNABORTED || e == EPROTO || e == EPERM)
				continue; /* that client is gone; try the next */
			/* One writer (this worker); scrapes read it atomically. */
			__atomic_store_n(&ls->accept_errors, ls->accept_errors + 1,
			                 __ATOMIC_RELAXED);
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
				listener_out_of_fds(ls, e);
				return;
			}
			log_error("accept: %s", strerror(e));
			return;
		}
		ls->fn(ls->arg, fd, (struct sockaddr *)&ss, len);
	}
}

int listener_start(struct listener *ls, struct loop *l, listener_accept_fn fn, void *arg)
{
	ls->loop = l;
	ls->fn = fn;
	ls->arg = arg;
	loop_io_init(&ls->io, listener_on_ready, ls);
	timer_init(&ls->t_pause, listener_resume, ls);
	return loop_io_add(l, &ls->io, ls->fd, LOOP_READ);
}

void listener_close(struct listener *ls)
{
	if (ls->loop) {
		loop_io_del(ls->loop, &ls->io);
		loop_timer_cancel(ls->loop, &ls->t_pause);
	}
	if (ls->fd >= 0)
		close(ls->fd);
	if (ls->reserve_fd >= 0)
		close(ls->reserve_fd);
	ls->fd = ls->reserve_fd = -1;
}

uint64_t listener_accept_errors(const struct listener *ls)
{
	return __atomic_load_n(&ls->accept_errors, __ATOMIC_RELAXED);
}
