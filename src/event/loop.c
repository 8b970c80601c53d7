/* epoll backend of the loop. The kernel holds a pointer to each loop_io in
 * epoll_data; a deleted io has fd == -1 and its stale events are skipped. */
#include "event/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/strutil.h"
#include "util/timeutil.h"

#define LOOP_MAX_EVENTS 256

struct loop {
	int epfd;
	uint64_t now;
	struct timer_heap timers;
	struct epoll_event ev[LOOP_MAX_EVENTS];
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	timer_heap_init(&l->timers);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = errno;
		free(l);
		errno = e;
		return NULL;
	}
	l->now = (uint64_t)time_mono_ms();
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	timer_heap_fini(&l->timers);
	free(l);
}

void loop_io_init(struct loop_io *io, loop_io_fn fn, void *data)
{
	io->fd = -1;
	io->mask = 0;
	io->fn = fn;
	io->data = data;
}

static uint32_t to_epoll(uint32_t mask)
{
	uint32_t e = 0;
	if (mask & LOOP_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (mask & LOOP_WRITE)
		e |= EPOLLOUT;
	if (mask & LOOP_EDGE)
		e |= EPOLLET;
	return e;
}

int loop_io_add(struct loop *l, struct loop_io *io, int fd, uint32_t mask)
{
	CSOCKS_BUG_ON(io->fd >= 0 || fd < 0);
	struct epoll_event e = {.events = to_epoll(mask), .data.ptr = io};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -1;
	io->fd = fd;
	io->mask = mask;
	return 0;
}

int loop_io_mod(struct loop *l, struct loop_io *io, uint32_t mask)
{
	CSOCKS_BUG_ON(io->fd < 0);
	if (mask == io->mask)
		return 0;
	struct epoll_event e = {.events = to_epoll(mask), .data.ptr = io};
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &e) < 0)
		return -1;
	io->mask = mask;
	return 0;
}

void loop_io_del(struct loop *l, struct loop_io *io)
{
	if (io->fd < 0)
		return;
	/* Fails only if the fd is already closed, which removed it anyway. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->fd = -1;
	io->mask = 0;
}

uint64_t loop_now(const struct loop *l)
{
	return l->now;
}

uint64_t loop_update_now(struct loop *l)
{
	l->now = (uint64_t)time_mono_ms();
	return l->now;
}

struct timer_heap *loop_timers(struct loop *l)
{
	return &l->timers;
}

void loop_timer_in(struct loop *l, struct timer *t, uint64_t ms)
{
	timer_arm(&l->timers, t, l->now + ms);
}

void loop_timer_cancel(struct loop *l, struct timer *t)
{
	timer_cancel(&l->timers, t);
}

int loop_poll(struct loop *l, int max_wait_ms)
{
	int64_t wait = timer_heap_delay(&l->timers, l->now);
	if (max_wait_ms >= 0 && (wait < 0 || wait > max_wait_ms))
		wait = max_wait_ms;
	int n;
	do {
		n = epoll_wait(l->epfd, l->ev, LOOP_MAX_EVENTS, (int)wait);
	} while (n < 0 && errno == EINTR && (wait = 0, 1));
	if (n < 0)
		return -1;
	loop_update_now(l);
	for (int i = 0; i < n; i++) {
		struct loop_io *io = l->ev[i].data.ptr;
		uint32_t e = l->ev[i].events, r = 0;
		if (io->fd < 0)
			continue; /* deleted by an earlier callback in this batch */
		if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			r = LOOP_READ | LOOP_WRITE;
		if (e & EPOLLIN)
			r |= LOOP_READ;
		if (e & EPOLLOUT)
			r |= LOOP_WRITE;
		io->fn(io, r);
	}
	timer_heap_expire(&l->timers, l->now);
	return n;
}
