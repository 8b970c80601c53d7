/* Worker thread: loop, listener, mailbox, drain. */
#include "proxy/worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config/config.h"
#include "protocol/sockaddr.h"
#include "proxy/conn.h"
#include "proxy/conn_events.h"
#include "event/resolver.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* A "terminate connection" request from another thread. */
struct terminate_msg {
	struct worker_msg msg;
	uint64_t id;
	char reason[96];
};

/* A "drain and stop" request. */
struct drain_msg {
	struct worker_msg msg;
	uint32_t timeout_ms;
};

/* ---- mailbox ------------------------------------------------------------ */

void worker_post(struct worker *w, struct worker_msg *m)
{
	m->next = NULL;
	pthread_mutex_lock(&w->mb_mu);
	bool was_empty = w->mb_head == NULL;
	if (w->mb_tail)
		w->mb_tail->next = m;
	else
		w->mb_head = m;
	w->mb_tail = m;
	pthread_mutex_unlock(&w->mb_mu);
	if (was_empty) {
		uint64_t one = 1;
		/* Only fails if the counter would overflow: it is then readable. */
		(void)!write(w->evfd, &one, sizeof(one));
	}
}

static void mailbox_run(struct worker *w)
{
	pthread_mutex_lock(&w->mb_mu);
	struct worker_msg *m = w->mb_head;
	w->mb_head = w->mb_tail = NULL;
	pthread_mutex_unlock(&w->mb_mu);
	while (m) {
		struct worker_msg *next = m->next;
		m->fn(w, m);
		m = next;
	}
}

static void on_mailbox(struct loop_io *io, uint32_t events)
{
	struct worker *w = io->data;
	uint64_t v;
	(void)events;
	(void)!read(w->evfd, &v, sizeof(v));
	mailbox_run(w);
}

static void terminate_handler(struct worker *w, struct worker_msg *m)
{
	struct terminate_msg *t = (struct terminate_msg *)m;
	/* A walk over this worker's connections: terminating is a rare admin
	 * action, not worth an index on the hot path. */
	for (struct conn *c = w->conns; c; c = c->next) {
		if (c->info.id == t->id) {
			conn_terminate(c, t->reason);
			break;
		}
	}
	free(t);
}

static void acl_recheck_handler(struct worker *w, struct worker_msg *m)
{
	free(m);
	/* conn_acl_recheck may finish c (moving it to the dead list), so take
	 * the next pointer first. */
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		conn_acl_recheck(c);
	}
}

void worker_post_acl_recheck(struct worker *w)
{
	struct worker_msg *m = xcalloc(1, sizeof(*m));
	m->fn = acl_recheck_handler;
	worker_post(w, m);
}

void worker_terminate_conn(struct worker *w, uint64_t id, const char *reason)
{
	struct terminate_msg *t = xcalloc(1, sizeof(*t));
	t->msg.fn = terminate_handler;
	t->id = id;
	cs_strlcpy(t->reason, reason && *reason ? reason : "terminated", sizeof(t->reason));
	worker_post(w, &t->msg);
}

static void drain_deadline(struct timer *t)
{
	struct worker *w = t->data;
	if (w->n_conns)
		log_info("worker %u: shutdown deadline reached, closing %llu connection(s)", w->idx,
		         (unsigned long long)w->n_conns);
	while (w->conns)
		conn_terminate(w->conns, "server shutdown");
	w->exit = true;
}

static void drain_handler(struct worker *w, struct worker_msg *m)
{
	struct drain_msg *d = (struct drain_msg *)m;
	if (!w->draining) {
		w->draining = true;
		listener_close(&w->listener);
		loop_timer_in(w->loop, &w->t_drain, d->timeout_ms);
	}
	free(d);
}

void worker_drain(struct worker *w, uint32_t timeout_ms)
{
	struct drain_msg *d = xcalloc(1, sizeof(*d));
	d->msg.fn = drain_handler;
	d->timeout_ms = timeout_ms;
	worker_post(w, &d->msg);
}

/* ---- accepting ---------------------------------------------------------- */

static void reject_over_limit(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct conn_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.id = worker_next_conn_id(w);
	memcpy(&ci.client, sa, len < sizeof(ci.client) ? len : sizeof(ci.client));
	ci.status = CONN_ST_REJECTED;
	ci.reply = CONN_REPLY_NONE;
	ci.start_wall_ms = time_wall_ms();
	ci.start_ms = ci.end_ms = loop_now(w->loop);
	ci.close_reason = "max_connections reached";
	ci.reject = CONN_REJ_LIMIT;
	close(fd);
	conn_event_rejected(w->sh->ctx, w->sh->cfg, &ci);

	uint64_t now = loop_now(w->loop);
	if (w->limit_log_ms && now - w->limit_log_ms < 1000) {
		w->limit_suppressed++;
		return;
	}
	char client[SOCKADDR_STR_MAX];
	sockaddr_str(sa, client, sizeof(client));
	log_warn("max_connections (%u) reached: closed connection from %s%s",
	         w->sh->max_connections, client,
	         w->limit_suppressed ? " (and others, see counters)" : "");
	w->limit_log_ms = now;
	w->limit_suppressed = 0;
}

static void on_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct worker *w = arg;
	uint64_t n = __atomic_add_fetch(w->sh->active_total, 1, __ATOMIC_RELAXED);
	if (w->sh->max_connections && n > w->sh->max_connections) {
		__atomic_fetch_sub(w->sh->active_total, 1, __ATOMIC_RELAXED);
		reject_over_limit(w, fd, sa, len);
		return;
	}
	conn_accept(w, fd, sa, len);
}

/* ---- thread ------------------------------------------------------------- */

static void free_dead(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;
		w->dead = c->next;
		conn_free(c);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (listener_start(&w->listener, w->loop, on_accept, w) < 0)
		log_error("worker %u: cannot watch the listener: %s", w->idx, strerror(errno));
	while (!w->exit) {
		if (loop_poll(w->loop, w->busy ? 0 : -1) < 0) {
			log_error("worker %u: epoll_wait: %s", w->idx, strerror(errno));
			break;
		}
		conn_run_busy(w);
		free_dead(w);
		if (w->draining && w->n_conns == 0)
			w->exit = true;
	}
	while (w->conns)
		conn_terminate(w->conns, "server shutdown");
	free_dead(w);
	return NULL;
}

struct worker *worker_new(unsigned idx, const struct worker_shared *sh, const struct sockaddr *sa,
                          socklen_t len, char *err, size_t errlen)
{
	/* The struct is cache-line aligned (its counters must not share a line
	 * with another worker's): calloc does not promise that. */
	struct worker *w = NULL;
	if (posix_memalign((void **)&w, 64, sizeof(*w)) != 0) {
		snprintf(err, errlen, "worker %u: out of memory", idx);
		return NULL;
	}
	memset(w, 0, sizeof(*w));
	w->idx = idx;
	w->sh = sh;
	w->evfd = -1;
	listener_init(&w->listener);
	pipepool_init(&w->pipes, sh->max_pipes_per_worker, 64);
	pthread_mutex_init(&w->mb_mu, NULL);
	timer_init(&w->t_drain, drain_deadline, w);
	loop_io_init(&w->io_mbox, on_mailbox, w);

	w->loop = loop_new();
	if (!w->loop) {
		snprintf(err, errlen, "worker %u: epoll_create: %s", idx, strerror(errno));
		goto fail;
	}
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->evfd < 0 || loop_io_add(w->loop, &w->io_mbox, w->evfd, LOOP_READ) < 0) {
		snprintf(err, errlen, "worker %u: eventfd: %s", idx, strerror(errno));
		goto fail;
	}
	const char *servers = sh->dns_servers;
	w->resolver =
	    resolver_new(w->loop, servers, sh->cfg->server.dns_cache_ttl_secs, err, errlen);
	if (!w->resolver)
		goto fail;
	if (listener_bind(&w->listener, sa, len, err, errlen) < 0)
		goto fail;
	return w;
fail:
	worker_free(w);
	return NULL;
}

int worker_start(struct worker *w, char *err, size_t errlen)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0) {
		snprintf(err, errlen, "worker %u: pthread_create: %s", w->idx, strerror(rc));
		return -1;
	}
	w->started = true;
	return 0;
}

void worker_join(struct worker *w)
{
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = false;
	}
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	CSOCKS_BUG_ON(w->started);
	mailbox_run(w); /* late auth answers free themselves; nothing is open */
	while (w->conns)
		conn_terminate(w->conns, "server shutdown");
	free_dead(w);
	listener_close(&w->listener);
	resolver_free(w->resolver);
	pipepool_fini(&w->pipes);
	if (w->loop) {
		loop_io_del(w->loop, &w->io_mbox);
		loop_free(w->loop);
	}
	if (w->evfd >= 0)
		close(w->evfd);
	pthread_mutex_destroy(&w->mb_mu);
	free(w);
}
