/* Session manager: per-worker registries of active sessions, a bounded
 * in-memory history, and the hand-off to the store's batch writer. */
#include "session/session_manager.h"

#include "session/session_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "protocol/sockaddr.h"
#include "session/session_writer.h"
#include "util/strutil.h"
#include "util/timeutil.h"

struct session_live {
	struct session_live *prev, *next; /* in the worker's active list */
	uint64_t conn_id;
	unsigned worker;
	char session_id[SESSION_ID_LEN + 1];
	char source_ip[SESSION_IP_MAX];
	uint16_t source_port, dest_port;
	enum session_protocol proto;
	int64_t start_us;
	_Atomic uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
	const char *acl_decision;     /* static string */
	bool row_written;             /* an `active` row went to the store (registry lock) */
	char *user, *dest, *acl_rule; /* point into strs (acl_rule may be NULL) */
	char strs[];
};

/* One per worker, on its own cache lines. The lock guards the list and the
 * history ring; counters are read under it too. */
struct registry {
	pthread_mutex_t lock;
	struct session_live *head;
	size_t n_active;
	struct session_record **ring; /* closed/rejected, oldest at start */
	size_t cap, start, len;
	uint64_t opened, closed, rejected, evicted;
} __attribute__((aligned(64)));

struct session_manager {
	struct registry *regs;
	unsigned nregs;
	struct session_writer *writer;
	int64_t max_age_us; /* 0 = no age bound */

	/* The publisher thread writes `active` rows for sessions that have
	 * lived ACTIVE_ROW_AFTER_US, so other nodes see long tunnels and a
	 * crash leaves rows to close at restart, while the many short
	 * sessions cost the store one row each instead of two. */
	pthread_t publisher;
	bool publisher_running;
	bool stop;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	unsigned publish_ms;
};

#define ACTIVE_ROW_AFTER_US 1000000

static const char *decision_str(const char *d)
{
	if (d && !strcmp(d, "block"))
		return "block";
	if (d && !strcmp(d, "allow"))
		return "allow";
	return "";
}

static void *publisher_main(void *arg);

struct session_manager *session_manager_new(const struct csocks_config *cfg, unsigned nworkers,
                                            struct session_writer *writer)
{
	struct session_manager *m = xcalloc(1, sizeof(*m));
	m->nregs = nworkers ? nworkers : 1;
	m->writer = writer;
	m->max_age_us = (int64_t)cfg->sessions.history_max_age_secs * 1000000;
	if (posix_memalign((void **)&m->regs, 64, m->nregs * sizeof(struct registry)) != 0)
		abort();
	memset(m->regs, 0, m->nregs * sizeof(struct registry));
	/* The history bound is shared out between workers, rounded up so a
	 * small bound still keeps something on every worker. */
	size_t per =
	    cfg->sessions.max_history ? (cfg->sessions.max_history + m->nregs - 1) / m->nregs : 0;
	for (unsigned i = 0; i < m->nregs; i++) {
		pthread_mutex_init(&m->regs[i].lock, NULL);
		m->regs[i].cap = per;
		m->regs[i].ring = per ? xcalloc(per, sizeof(struct session_record *)) : NULL;
	}
	pthread_mutex_init(&m->stop_mu, NULL);
	pthread_cond_init(&m->stop_cv, NULL);
	m->publish_ms =
	    cfg->sessions.batch_interval_ms < 100 ? 100 : cfg->sessions.batch_interval_ms;
	if (m->publish_ms > 1000)
		m->publish_ms = 1000;
	if (writer)
		m->publisher_running = pthread_create(&m->publisher, NULL, publisher_main, m) == 0;
	return m;
}

void session_manager_free(struct session_manager *m)
{
	if (!m)
		return;
	if (m->publisher_running) {
		pthread_mutex_lock(&m->stop_mu);
		m->stop = true;
		pthread_cond_signal(&m->stop_cv);
		pthread_mutex_unlock(&m->stop_mu);
		pthread_join(m->publisher, NULL);
	}
	pthread_cond_destroy(&m->stop_cv);
	pthread_mutex_destroy(&m->stop_mu);
	for (unsigned i = 0; i < m->nregs; i++) {
		struct registry *r = &m->regs[i];
		struct session_live *s = r->head;
		while (s) {
			struct session_live *next = s->next;
			free(s);
			s = next;
		}
		for (size_t k = 0; k < r->len; k++)
			free(r->ring[(r->start + k) % r->cap]);
		free(r->ring);
		pthread_mutex_destroy(&r->lock);
	}
	free(m->regs);
	free(m);
}

/* ---- building records ---- */

static void client_fields(const struct sockaddr *sa, char *ip, size_t iplen, uint16_t *port)
{
	ip[0] = '\0';
	*port = 0;
	if (!sa)
		return;
	sockaddr_host_str(sa, ip, iplen);
	*port = sockaddr_port(sa);
}

/* A record whose strings borrow from s. */
static void live_record(const struct session_live *s, struct session_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->session_id, s->session_id, sizeof(rec->session_id));
	rec->user = s->user;
	rec->start_us = s->start_us;
	rec->duration_secs = -1;
	memcpy(rec->source_ip, s->source_ip, sizeof(rec->source_ip));
	rec->source_port = s->source_port;
	rec->dest_ip = s->dest;
	rec->dest_port = s->dest_port;
	rec->protocol = s->proto;
	rec->status = SESSION_ACTIVE;
	rec->bytes_sent = atomic_load_explicit(&s->bytes_sent, memory_order_relaxed);
	rec->bytes_received = atomic_load_explicit(&s->bytes_received, memory_order_relaxed);
	rec->packets_sent = atomic_load_explicit(&s->packets_sent, memory_order_relaxed);
	rec->packets_received = atomic_load_explicit(&s->packets_received, memory_order_relaxed);
	rec->acl_rule_matched = s->acl_rule;
	rec->acl_decision = s->acl_decision;
}

static void submit(struct session_manager *m, const struct session_record *rec)
{
	if (m->writer)
		(void)session_writer_submit(m->writer, rec); /* drops are counted there */
}

/* Append to the worker's history ring, evicting by count and by age.
 * Called with r->lock held; takes ownership of rec. */
static void history_push(struct session_manager *m, struct registry *r, struct session_record *rec)
{
	if (r->cap == 0) {
		free(rec);
		return;
	}
	if (r->len == r->cap) {
		free(r->ring[r->start]);
		r->start = (r->start + 1) % r->cap;
		r->len--;
		r->evicted++;
	}
	r->ring[(r->start + r->len) % r->cap] = rec;
	r->len++;
	if (m->max_age_us <= 0)
		return;
	int64_t cutoff = rec->end_us - m->max_age_us;
	while (r->len && r->ring[r->start]->end_us < cutoff) {
		free(r->ring[r->start]);
		r->start = (r->start + 1) % r->cap;
		r->len--;
		r->evicted++;
	}
}

/* ---- worker side ---- */

struct session_live *session_manager_open(struct session_manager *m, unsigned worker,
                                          const struct session_open *o)
{
	const char *user = o->user ? o->user : "";
	const char *dest = o->dest ? o->dest : "";
	size_t ul = strlen(user) + 1, dl = strlen(dest) + 1;
	size_t rl = o->acl_rule ? strlen(o->acl_rule) + 1 : 0;
	struct session_live *s = xcalloc(1, sizeof(*s) + ul + dl + rl);

	s->conn_id = o->conn_id;
	s->worker = worker % m->nregs;
	session_id_generate(s->session_id);
	client_fields(o->client, s->source_ip, sizeof(s->source_ip), &s->source_port);
	s->dest_port = o->dest_port;
	s->proto = o->proto;
	s->start_us = time_wall_us();
	s->acl_decision = o->acl_decision ? decision_str(o->acl_decision) : "allow";
	s->user = memcpy(s->strs, user, ul);
	s->dest = memcpy(s->strs + ul, dest, dl);
	s->acl_rule = rl ? memcpy(s->strs + ul + dl, o->acl_rule, rl) : NULL;

	struct registry *r = &m->regs[s->worker];
	pthread_mutex_lock(&r->lock);
	s->next = r->head;
	if (r->head)
		r->head->prev = s;
	r->head = s;
	r->n_active++;
	r->opened++;
	pthread_mutex_unlock(&r->lock);
	return s;
}

/* One pass of the publisher: `active` rows for sessions old enough and not
 * yet written. Runs under each registry's lock, so a session cannot close
 * (and submit its final row) in between: the final row always comes after. */
static void publish_active(struct session_manager *m)
{
	int64_t cutoff = time_wall_us() - ACTIVE_ROW_AFTER_US;
	for (unsigned i = 0; i < m->nregs; i++) {
		struct registry *r = &m->regs[i];
		pthread_mutex_lock(&r->lock);
		for (struct session_live *s = r->head; s; s = s->next) {
			if (s->row_written || s->start_us > cutoff)
				continue;
			struct session_record rec;
			live_record(s, &rec);
			submit(m, &rec);
			s->row_written = true;
		}
		pthread_mutex_unlock(&r->lock);
	}
}

static void *publisher_main(void *arg)
{
	struct session_manager *m = arg;
	pthread_setname_np(pthread_self(), "csocks-sessions");
	thread_set_background(10);
	pthread_mutex_lock(&m->stop_mu);
	while (!m->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(m->publish_ms % 1000) * 1000000L;
		ts.tv_sec += m->publish_ms / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&m->stop_cv, &m->stop_mu, &ts);
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->stop_mu);
		publish_active(m);
		pthread_mutex_lock(&m->stop_mu);
	}
	pthread_mutex_unlock(&m->stop_mu);
	return NULL;
}

void session_live_traffic(struct session_live *s, uint64_t bytes_sent, uint64_t bytes_received,
                          uint64_t packets_sent, uint64_t packets_received)
{
	atomic_store_explicit(&s->bytes_sent, bytes_sent, memory_order_relaxed);
	atomic_store_explicit(&s->bytes_received, bytes_received, memory_order_relaxed);
	atomic_store_explicit(&s->packets_sent, packets_sent, memory_order_relaxed);
	atomic_store_explicit(&s->packets_received, packets_received, memory_order_relaxed);
}

const char *session_live_id(const struct session_live *s)
{
	return s->session_id;
}

static int64_t duration_secs(int64_t start_us, int64_t end_us)
{
	return end_us > start_us ? (end_us - start_us) / 1000000 : 0;
}

void session_manager_close(struct session_manager *m, struct session_live *s,
                           enum session_status status, const char *reason, uint64_t bytes_sent,
                           uint64_t bytes_received, uint64_t packets_sent,
                           uint64_t packets_received)
{
	struct registry *r = &m->regs[s->worker];
	session_live_traffic(s, bytes_sent, bytes_received, packets_sent, packets_received);

	struct session_record rec;
	live_record(s, &rec);
	rec.status = status;
	rec.end_us = time_wall_us();
	rec.duration_secs = duration_secs(rec.start_us, rec.end_us);
	rec.close_reason = reason;
	struct session_record *copy = session_record_dup(&rec);

	/* Unlinked first: from here the publisher cannot write an `active` row
	 * for s, so the final row below is the last one for this session. */
	pthread_mutex_lock(&r->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		r->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	r->n_active--;
	r->closed++;
	history_push(m, r, copy);
	pthread_mutex_unlock(&r->lock);
	submit(m, &rec);
	free(s);
}

void session_manager_reject(struct session_manager *m, unsigned worker,
                            const struct session_open *o, enum session_status status,
                            const char *reason)
{
	struct registry *r = &m->regs[worker % m->nregs];
	struct session_record rec;
	memset(&rec, 0, sizeof(rec));
	session_id_generate(rec.session_id);
	rec.user = o->user ? o->user : "";
	rec.start_us = rec.end_us = time_wall_us();
	rec.duration_secs = 0;
	client_fields(o->client, rec.source_ip, sizeof(rec.source_ip), &rec.source_port);
	rec.dest_ip = o->dest ? o->dest : "";
	rec.dest_port = o->dest_port;
	rec.protocol = o->proto;
	rec.status = status;
	rec.close_reason = reason;
	rec.acl_rule_matched = o->acl_rule;
	rec.acl_decision =
	    status == SESSION_REJECTED_BY_ACL ? "block" : decision_str(o->acl_decision);
	submit(m, &rec);
	struct session_record *copy = session_record_dup(&rec);

	pthread_mutex_lock(&r->lock);
	r->rejected++;
	history_push(m, r, copy);
	pthread_mutex_unlock(&r->lock);
}

/* ---- readers ---- */

void session_records_free(struct session_record **recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(recs[i]);
	free(recs);
}

static int cmp_start_desc(const void *x, const void *y)
{
	const struct session_record *a = *(struct session_record *const *)x;
	const struct session_record *b = *(struct session_record *const *)y;
	return (a->start_us < b->start_us) - (a->start_us > b->start_us);
}

/* Visit the active sessions (borrowed temporaries), then with history the
 * finished ones in place, each registry under its lock. */
static void walk(struct session_manager *m, bool history,
                 void (*fn)(const struct session_record *, void *), void *arg)
{
	for (unsigned i = 0; i < m->nregs; i++) {
		struct registry *r = &m->regs[i];
		pthread_mutex_lock(&r->lock);
		for (struct session_live *s = r->head; s; s = s->next) {
			struct session_record rec;
			live_record(s, &rec);
			fn(&rec, arg);
		}
		for (size_t k = 0; history && k < r->len; k++)
			fn(r->ring[(r->start + k) % r->cap], arg);
		pthread_mutex_unlock(&r->lock);
	}
}

static void push_dup(const struct session_record *rec, void *arg)
{
	session_rec_vec_push(arg, session_record_dup(rec));
}

void session_manager_active(struct session_manager *m, struct session_record ***out, size_t *n)
{
	struct session_rec_vec a = {0};
	walk(m, false, push_dup, &a);
	if (a.n)
		qsort(a.v, a.n, sizeof(*a.v), cmp_start_desc);
	*out = a.v;
	*n = a.n;
}

uint64_t session_manager_active_count(struct session_manager *m)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < m->nregs; i++) {
		pthread_mutex_lock(&m->regs[i].lock);
		n += m->regs[i].n_active;
		pthread_mutex_unlock(&m->regs[i].lock);
	}
	return n;
}

void session_manager_totals(struct session_manager *m, struct session_totals *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < m->nregs; i++) {
		struct registry *r = &m->regs[i];
		pthread_mutex_lock(&r->lock);
		out->opened += r->opened;
		out->closed += r->closed;
		out->rejected += r->rejected;
		out->history_evicted += r->evicted;
		pthread_mutex_unlock(&r->lock);
	}
}

/* Visit every session (active as borrowed temporaries, history in place)
 * under its worker's lock. fn must not keep the pointer. */
void session_manager_foreach(struct session_manager *m,
                             void (*fn)(const struct session_record *, void *), void *arg)
{
	walk(m, true, fn, arg);
}

struct find_ctx {
	const char *id;
	struct session_record *found;
};

static void find_fn(const struct session_record *rec, void *arg)
{
	struct find_ctx *c = arg;
	if (!c->found && !strcmp(rec->session_id, c->id))
		c->found = session_record_dup(rec);
}

struct session_record *session_manager_get(struct session_manager *m, const char *session_id)
{
	struct find_ctx c = {session_id, NULL};
	session_manager_foreach(m, find_fn, &c);
	return c.found;
}

bool session_manager_conn_id(struct session_manager *m, const char *session_id, uint64_t *conn_id)
{
	for (unsigned i = 0; i < m->nregs; i++) {
		struct registry *r = &m->regs[i];
		pthread_mutex_lock(&r->lock);
		for (struct session_live *s = r->head; s; s = s->next) {
			if (!strcmp(s->session_id, session_id)) {
				*conn_id = s->conn_id;
				pthread_mutex_unlock(&r->lock);
				return true;
			}
		}
		pthread_mutex_unlock(&r->lock);
	}
	return false;
}
