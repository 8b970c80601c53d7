/* History and statistics answered from the session manager's memory
 * (active + closed + rejected records), with the store's semantics:
 * filters, whitelisted sort, paging, a window by start time, and the
 * per-user/destination aggregates. Used when there is no store. */
#include "session/session_query.h"

#include <stdlib.h>
#include <string.h>

#include "session/session_internal.h"
#include "util/strutil.h"
#include "util/timeutil.h"

/* ---- memory queries, with the store's semantics ---- */

struct query_ctx {
	const struct session_query *q;
	int64_t since_us; /* 0 = no window */
	struct session_rec_vec out;
};

static bool query_match(const struct session_query *q, int64_t since_us,
                        const struct session_record *r)
{
	if (q->user && strcmp(q->user, r->user ? r->user : "") != 0)
		return false;
	if (q->dest_ip && strcmp(q->dest_ip, r->dest_ip ? r->dest_ip : "") != 0)
		return false;
	if (q->has_status && q->status != r->status)
		return false;
	return since_us == 0 || r->start_us >= since_us;
}

static void query_fn(const struct session_record *rec, void *arg)
{
	struct query_ctx *c = arg;
	if (query_match(c->q, c->since_us, rec))
		session_rec_vec_push(&c->out, session_record_dup(rec));
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int record_cmp(const struct session_record *a, const struct session_record *b,
                      enum session_sort sort)
{
	switch (sort) {
	case SESSION_SORT_END_TIME:
		return cmp_i64(a->end_us, b->end_us);
	case SESSION_SORT_DURATION:
		return cmp_i64(a->duration_secs, b->duration_secs);
	case SESSION_SORT_BYTES_SENT:
		return cmp_u64(a->bytes_sent, b->bytes_sent);
	case SESSION_SORT_BYTES_RECEIVED:
		return cmp_u64(a->bytes_received, b->bytes_received);
	case SESSION_SORT_USER:
		return cmp_str(a->user, b->user);
	case SESSION_SORT_SOURCE_IP:
		return cmp_str(a->source_ip, b->source_ip);
	case SESSION_SORT_DEST_IP:
		return cmp_str(a->dest_ip, b->dest_ip);
	case SESSION_SORT_DEST_PORT:
		return cmp_u64(a->dest_port, b->dest_port);
	case SESSION_SORT_PROTOCOL:
		return cmp_u64(a->protocol, b->protocol);
	case SESSION_SORT_STATUS:
		return cmp_str(session_status_name(a->status), session_status_name(b->status));
	case SESSION_SORT_ACL_DECISION:
		return cmp_str(a->acl_decision, b->acl_decision);
	case SESSION_SORT_START_TIME:
	case SESSION_SORT_COUNT:
		break;
	}
	return cmp_i64(a->start_us, b->start_us);
}

/* qsort has no context argument; the sort order travels in a thread-local. */
static __thread const struct session_query *sort_query;

static int query_cmp(const void *x, const void *y)
{
	const struct session_record *a = *(struct session_record *const *)x;
	const struct session_record *b = *(struct session_record *const *)y;
	int c = record_cmp(a, b, sort_query->sort);
	if (c == 0)
		c = cmp_i64(a->start_us, b->start_us);
	if (c == 0)
		c = strcmp(a->session_id, b->session_id);
	return sort_query->sort_asc ? c : -c;
}

static int64_t window_start(uint32_t hours, int64_t now_us)
{
	if (!hours)
		return 0;
	return (now_us ? now_us : time_wall_us()) - (int64_t)hours * 3600 * 1000000;
}

void session_manager_query(struct session_manager *m, const struct session_query *q,
                           struct session_page *out)
{
	struct query_ctx c = {q, window_start(q->hours, q->now_us), {0}};
	session_manager_foreach(m, query_fn, &c);
	sort_query = q;
	if (c.out.n)
		qsort(c.out.v, c.out.n, sizeof(*c.out.v), query_cmp);

	uint32_t size = q->page_size ? q->page_size : SESSION_PAGE_SIZE_DEFAULT;
	if (size > SESSION_PAGE_SIZE_MAX)
		size = SESSION_PAGE_SIZE_MAX;
	uint32_t page = q->page ? q->page : 1;
	memset(out, 0, sizeof(*out));
	out->total = c.out.n;
	out->page = page;
	out->page_size = size;
	out->total_pages = (uint32_t)((c.out.n + size - 1) / size);
	uint64_t first = (uint64_t)(page - 1) * size;
	for (size_t i = 0; i < c.out.n; i++) {
		if (i >= first && i < first + size) {
			if (!out->items)
				out->items = xcalloc(size, sizeof(*out->items));
			out->items[out->n++] = c.out.v[i];
		} else {
			free(c.out.v[i]);
		}
	}
	free(c.out.v);
}

/* ---- stats ---- */

struct agg {
	char *key; /* user, or dest_ip */
	uint16_t port;
	uint64_t count, sent, received;
};

struct stats_ctx {
	int64_t since_us;
	struct session_stats *st;
	struct agg *users, *dests;
	size_t n_users, n_dests, cap_users, cap_dests;
};

/* Linear lookup is fine for the in-memory case (bounded history); the SQL
 * stores aggregate in the database. */
static struct agg *agg_get(struct agg **v, size_t *n, size_t *cap, const char *key, uint16_t port)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].port == port && !strcmp((*v)[i].key, key))
			return &(*v)[i];
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[*n] = (struct agg){.key = xstrdup(key), .port = port};
	return &(*v)[(*n)++];
}

static void stats_fn(const struct session_record *r, void *arg)
{
	struct stats_ctx *c = arg;
	if (c->since_us && r->start_us < c->since_us)
		return;
	struct session_stats *st = c->st;
	st->total_sessions++;
	if ((unsigned)r->status < SESSION_STATUS_COUNT)
		st->by_status[r->status]++;
	st->total_bytes_sent += r->bytes_sent;
	st->total_bytes_received += r->bytes_received;
	if (r->acl_decision && !strcmp(r->acl_decision, "allow"))
		st->acl_allowed++;
	else if (r->acl_decision && !strcmp(r->acl_decision, "block"))
		st->acl_blocked++;
	struct agg *u = agg_get(&c->users, &c->n_users, &c->cap_users, r->user ? r->user : "", 0);
	struct agg *d = agg_get(&c->dests, &c->n_dests, &c->cap_dests, r->dest_ip ? r->dest_ip : "",
	                        r->dest_port);
	u->count++, u->sent += r->bytes_sent, u->received += r->bytes_received;
	d->count++, d->sent += r->bytes_sent, d->received += r->bytes_received;
}

static int agg_cmp(const void *x, const void *y)
{
	const struct agg *a = x, *b = y;
	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	int c = strcmp(a->key, b->key);
	return c ? c : (int)a->port - (int)b->port;
}

void session_manager_stats(struct session_manager *m, uint32_t window_hours, int64_t now_us,
                           struct session_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->window_hours = window_hours;
	struct stats_ctx c = {.since_us = window_start(window_hours, now_us), .st = out};
	session_manager_foreach(m, stats_fn, &c);
	if (c.n_users)
		qsort(c.users, c.n_users, sizeof(*c.users), agg_cmp);
	if (c.n_dests)
		qsort(c.dests, c.n_dests, sizeof(*c.dests), agg_cmp);
	for (size_t i = 0; i < c.n_users; i++) {
		if (i < SESSION_STATS_TOP) {
			out->top_users[i] = (struct session_user_stat){
			    c.users[i].key, c.users[i].count, c.users[i].sent, c.users[i].received};
			out->n_top_users++;
		} else {
			free(c.users[i].key);
		}
	}
	for (size_t i = 0; i < c.n_dests; i++) {
		if (i < SESSION_STATS_TOP) {
			out->top_destinations[i] = (struct session_dest_stat){
			    c.dests[i].key, c.dests[i].port, c.dests[i].count, c.dests[i].sent,
			    c.dests[i].received};
			out->n_top_destinations++;
		} else {
			free(c.dests[i].key);
		}
	}
	free(c.users);
	free(c.dests);
}
