/* Session manager: lifecycle, exact counters, bounded history, snapshots,
 * memory queries and stats, concurrent readers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "session/session_manager.h"
#include "session/session_query.h"
#include "test.h"

static struct sockaddr_in client_addr(const char *ip, uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, ip, &sin.sin_addr);
	return sin;
}

static struct session_open open_info(uint64_t conn_id, const char *user, const char *dest,
                                     struct sockaddr_in *cl)
{
	return (struct session_open){.conn_id = conn_id,
	                             .user = user,
	                             .client = (struct sockaddr *)cl,
	                             .dest = dest,
	                             .dest_port = 443,
	                             .proto = SESSION_PROTO_TCP};
}

static struct session_manager *new_mgr(uint32_t max_history, uint32_t max_age, unsigned nw,
                                       struct csocks_config **cfg_out)
{
	struct csocks_config *cfg = config_new_default();
	cfg->sessions.max_history = max_history;
	cfg->sessions.history_max_age_secs = max_age;
	*cfg_out = cfg;
	return session_manager_new(cfg, nw, NULL);
}

static void t_lifecycle_exact_counters(void)
{
	struct csocks_config *cfg;
	struct session_manager *m = new_mgr(100, 0, 2, &cfg);
	struct sockaddr_in cl = client_addr("10.1.2.3", 40000);
	struct session_open o = open_info(77, "alice", "example.com", &cl);
	struct session_live *s = session_manager_open(m, 1, &o);
	char id[64];
	strcpy(id, session_live_id(s));
	CHECK_INT(strlen(id), 36);

	session_live_traffic(s, 100, 2000, 1, 3);
	struct session_record **act;
	size_t n;
	session_manager_active(m, &act, &n);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(act[0]->user, "alice");
		CHECK_STR(act[0]->dest_ip, "example.com");
		CHECK_STR(act[0]->source_ip, "10.1.2.3");
		CHECK_INT(act[0]->source_port, 40000);
		CHECK_INT(act[0]->bytes_received, 2000);
		CHECK_INT(act[0]->status, SESSION_ACTIVE);
	}
	session_records_free(act, n);
	uint64_t conn = 0;
	CHECK(session_manager_conn_id(m, id, &conn) && conn == 77);
	CHECK_INT(session_manager_active_count(m), 1);

	uint64_t big = (uint64_t)5 << 32; /* beyond 32 bits, exact */
	session_manager_close(m, s, SESSION_CLOSED, "client closed", big, big + 1, 10, 11);
	CHECK_INT(session_manager_active_count(m), 0);
	CHECK(!session_manager_conn_id(m, id, &conn));
	struct session_record *r = session_manager_get(m, id);
	if (CHECK(r)) {
		CHECK_INT(r->status, SESSION_CLOSED);
		CHECK_STR(r->close_reason, "client closed");
		CHECK(r->bytes_sent == big && r->bytes_received == big + 1);
		CHECK_INT(r->packets_received, 11);
		CHECK(r->end_us >= r->start_us && r->duration_secs >= 0);
		free(r);
	}
	struct session_totals t;
	session_manager_totals(m, &t);
	CHECK(t.opened == 1 && t.closed == 1 && t.rejected == 0);
	session_manager_free(m);
	config_free(cfg);
}

static void t_history_bounded_by_count(void)
{
	struct csocks_config *cfg;
	struct session_manager *m = new_mgr(10, 0, 2, &cfg); /* 5 per worker */
	struct sockaddr_in cl = client_addr("127.0.0.1", 1);
	for (int i = 0; i < 20; i++) {
		struct session_open o = open_info((uint64_t)i, "u", "d", &cl);
		struct session_live *s = session_manager_open(m, 0, &o);
		session_manager_close(m, s, SESSION_CLOSED, "x", (uint64_t)i, 0, 0, 0);
	}
	struct session_query q = {.page_size = 1000};
	struct session_page p;
	session_manager_query(m, &q, &p);
	CHECK_INT(p.total, 5);
	/* The newest five survive. */
	uint64_t min_sent = 100;
	for (size_t i = 0; i < p.n; i++)
		if (p.items[i]->bytes_sent < min_sent)
			min_sent = p.items[i]->bytes_sent;
	CHECK_INT(min_sent, 15);
	session_page_free(&p);
	struct session_totals t;
	session_manager_totals(m, &t);
	CHECK_INT(t.history_evicted, 15);
	session_manager_free(m);
	config_free(cfg);
}

static void t_history_bounded_by_age(void)
{
	struct csocks_config *cfg;
	struct session_manager *m = new_mgr(100, 1, 1, &cfg);
	struct sockaddr_in cl = client_addr("127.0.0.1", 1);
	struct session_open o = open_info(1, "old", "d", &cl);
	session_manager_close(m, session_manager_open(m, 0, &o), SESSION_CLOSED, "x", 0, 0, 0, 0);
	nanosleep(&(struct timespec){.tv_sec = 1, .tv_nsec = 200 * 1000 * 1000}, NULL);
	o.user = "new";
	session_manager_close(m, session_manager_open(m, 0, &o), SESSION_CLOSED, "x", 0, 0, 0, 0);
	struct session_query q = {0};
	struct session_page p;
	session_manager_query(m, &q, &p);
	CHECK_INT(p.total, 1);
	if (p.n == 1)
		CHECK_STR(p.items[0]->user, "new");
	session_page_free(&p);
	session_manager_free(m);
	config_free(cfg);
}

static void t_rejected_sessions(void)
{
	struct csocks_config *cfg;
	struct session_manager *m = new_mgr(100, 0, 1, &cfg);
	struct sockaddr_in cl = client_addr("192.0.2.1", 5);
	struct session_open o = open_info(1, "bob", "blocked.example", &cl);
	o.acl_rule = "Block social media";
	session_manager_reject(m, 0, &o, SESSION_REJECTED_BY_ACL, "ACL: Block social media");
	struct session_query q = {.has_status = true, .status = SESSION_REJECTED_BY_ACL};
	struct session_page p;
	session_manager_query(m, &q, &p);
	CHECK_INT(p.total, 1);
	if (p.n == 1) {
		CHECK_STR(p.items[0]->acl_decision, "block");
		CHECK_STR(p.items[0]->acl_rule_matched, "Block social media");
		CHECK_STR(p.items[0]->user, "bob");
	}
	session_page_free(&p);
	struct session_totals t;
	session_manager_totals(m, &t);
	CHECK_INT(t.rejected, 1);
	session_manager_free(m);
	config_free(cfg);
}

static void t_query_filters_sort_paging(void)
{
	struct csocks_config *cfg;
	struct session_manager *m = new_mgr(1000, 0, 3, &cfg);
	struct sockaddr_in cl = client_addr("127.0.0.1", 9);
	const char *users[] = {"alice", "bob", "carol"};
	for (int i = 0; i < 30; i++) {
		struct session_open o =
		    open_info((uint64_t)i, users[i % 3], i % 2 ? "a.example" : "b.example", &cl);
		struct session_live *s = session_manager_open(m, (unsigned)i, &o);
		session_manager_close(m, s, SESSION_CLOSED, "x", (uint64_t)i * 10, 0, 0, 0);
	}
	struct session_query q = {.user = "alice",
	                          .page = 1,
	                          .page_size = 4,
	                          .sort = SESSION_SORT_BYTES_SENT,
	                          .sort_asc = true};
	struct session_page p;
	session_manager_query(m, &q, &p);
	CHECK_INT(p.total, 10);
	CHECK_INT(p.total_pages, 3);
	CHECK_INT(p.n, 4);
	if (p.n == 4) {
		CHECK_INT(p.items[0]->bytes_sent, 0);
		CHECK_INT(p.items[3]->bytes_sent, 90);
	}
	session_page_free(&p);
	q.page = 3;
	session_manager_query(m, &q, &p);
	CHECK_INT(p.n, 2);
	session_page_free(&p);
	q.page = 9; /* past the end: empty page, totals kept */
	session_manager_query(m, &q, &p);
	CHECK_INT(p.n, 0);
	CHECK_INT(p.total, 10);
	session_page_free(&p);
	struct session_query q2 = {.dest_ip = "a.example", .sort = SESSION_SORT_BYTES_SENT};
	session_manager_query(m, &q2, &p);
	CHECK_INT(p.total, 15);
	if (p.n)
		CHECK_INT(p.items[0]->bytes_sent, 290); /* descending by default */
	session_page_free(&p);
	session_manager_free(m);
	config_free(cfg);
}

static void t_stats_top_lists(void)
{
	struct csocks_config *cfg;
	struct session_manager *m = new_mgr(1000, 0, 2, &cfg);
	struct sockaddr_in cl = client_addr("127.0.0.1", 9);
	for (int i = 0; i < 12; i++) {
		const char *u = i < 6 ? "heavy" : i < 10 ? "mid" : "light";
		struct session_open o =
		    open_info((uint64_t)i, u, i < 3 ? "x.example" : "y.example", &cl);
		struct session_live *s = session_manager_open(m, (unsigned)i, &o);
		session_manager_close(m, s, SESSION_CLOSED, "x", 100, 1000, 1, 1);
	}
	struct session_open o = open_info(99, "heavy", "x.example", &cl);
	struct session_live *live = session_manager_open(m, 0, &o); /* active counts too */
	struct session_stats st;
	session_manager_stats(m, 24, 0, &st);
	CHECK_INT(st.total_sessions, 13);
	CHECK_INT(st.by_status[SESSION_CLOSED], 12);
	CHECK_INT(st.by_status[SESSION_ACTIVE], 1);
	CHECK_INT(st.total_bytes_sent, 1200);
	CHECK_INT(st.n_top_users, 3);
	CHECK_STR(st.top_users[0].user, "heavy");
	CHECK_INT(st.top_users[0].session_count, 7);
	CHECK_STR(st.top_users[2].user, "light");
	CHECK_STR(st.top_destinations[0].dest_ip, "y.example");
	CHECK_INT(st.top_destinations[0].session_count, 9);
	session_stats_free(&st);
	/* Seen from two hours later, a one-hour window holds nothing. */
	session_manager_stats(m, 1, time(NULL) * 1000000LL + 7200LL * 1000000, &st);
	CHECK_INT(st.total_sessions, 0);
	session_stats_free(&st);
	session_manager_close(m, live, SESSION_CLOSED, "x", 0, 0, 0, 0);
	session_manager_free(m);
	config_free(cfg);
}

/* Workers open and close while a reader snapshots: no torn lists, no leaks,
 * counts add up (run under ASan in CI). */
struct churn {
	struct session_manager *m;
	unsigned worker;
};

static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	struct sockaddr_in cl = client_addr("127.0.0.1", 9);
	for (int i = 0; i < 5000; i++) {
		struct session_open o = open_info((uint64_t)i, "w", "d", &cl);
		struct session_live *s = session_manager_open(c->m, c->worker, &o);
		session_live_traffic(s, (uint64_t)i, 0, 1, 0);
		session_manager_close(c->m, s, SESSION_CLOSED, "x", (uint64_t)i, 0, 1, 0);
	}
	return NULL;
}

static void t_concurrent_snapshot(void)
{
	struct csocks_config *cfg;
	struct session_manager *m = new_mgr(100, 0, 2, &cfg);
	pthread_t th[2];
	struct churn c[2] = {{m, 0}, {m, 1}};
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, churn_fn, &c[i]);
	for (int i = 0; i < 200; i++) {
		struct session_record **act;
		size_t n;
		session_manager_active(m, &act, &n);
		CHECK(n <= 2);
		session_records_free(act, n);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	struct session_totals t;
	session_manager_totals(m, &t);
	CHECK_INT(t.opened, 10000);
	CHECK_INT(t.closed, 10000);
	CHECK_INT(session_manager_active_count(m), 0);
	session_manager_free(m);
	config_free(cfg);
}

/* IDs are RFC 9562 version 7: the time prefix is now (to the ms), the
 * version and variant nibbles are right, and later IDs sort after earlier
 * ones, which is what keeps the store's indexes append-only. */
static void t_session_id_v7(void)
{
	char a[SESSION_ID_LEN + 1], b[SESSION_ID_LEN + 1];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t before = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	session_id_generate(a);
	CHECK_INT(strlen(a), 36);
	CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	CHECK(a[14] == '7');
	CHECK(strchr("89ab", a[19]) != NULL);
	char hex[13] = {0};
	memcpy(hex, a, 8);
	memcpy(hex + 8, a + 9, 4);
	uint64_t ms = strtoull(hex, NULL, 16);
	CHECK(ms >= before && ms <= before + 1000);
	for (int i = 0; i < 50; i++) {
		struct timespec pause = {0, 1100000}; /* > 1 ms: a new prefix */
		nanosleep(&pause, NULL);
		session_id_generate(b);
		CHECK(strcmp(a, b) < 0);
		memcpy(a, b, sizeof(a));
	}
	/* Within one millisecond the random tail still makes them distinct. */
	session_id_generate(a);
	session_id_generate(b);
	CHECK(strcmp(a, b) != 0);
}

/* The random tails (everything after the time prefix) of many IDs, made
 * by two threads at once across many refills of their per-thread pools:
 * never one twice. A pool handed out again without a refill repeats. */
#define IDS_PER_THREAD 400
static void *make_ids(void *arg)
{
	char(*ids)[SESSION_ID_LEN + 1] = arg;
	for (int i = 0; i < IDS_PER_THREAD; i++)
		session_id_generate(ids[i]);
	return NULL;
}

static int cmp_tail(const void *x, const void *y)
{
	return strcmp((const char *)x + 14, (const char *)y + 14);
}

static void t_session_id_tails_distinct(void)
{
	static char ids[2 * IDS_PER_THREAD][SESSION_ID_LEN + 1];
	pthread_t t;
	CHECK_INT(pthread_create(&t, NULL, make_ids, ids[IDS_PER_THREAD]), 0);
	make_ids(ids[0]);
	pthread_join(t, NULL);
	qsort(ids, 2 * IDS_PER_THREAD, sizeof(ids[0]), cmp_tail);
	int same = 0;
	for (int i = 1; i < 2 * IDS_PER_THREAD; i++)
		same += cmp_tail(ids[i - 1], ids[i]) == 0;
	CHECK_INT(same, 0);
}

/* session_time_format against the plain snprintf form, over years 1..9999
 * (the fast path) and outside it (the fallback), fractions included. */
static void ref_format(int64_t us, char *buf, size_t size)
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)frac);
}

static void t_time_format(void)
{
	char got[SESSION_TIME_MAX], want[96];
	session_time_format(1760008969421595LL, got, sizeof(got));
	CHECK_STR(got, "2025-10-09T11:22:49.421595+00:00");
	session_time_format(0, got, sizeof(got));
	CHECK_STR(got, "1970-01-01T00:00:00.000000+00:00");
	session_time_format(-1, got, sizeof(got));
	CHECK_STR(got, "1969-12-31T23:59:59.999999+00:00");
	session_time_format(253402300799999999LL, got, sizeof(got)); /* 9999-12-31 */
	CHECK_STR(got, "9999-12-31T23:59:59.999999+00:00");
	session_time_format(253402300800000000LL, got, sizeof(got)); /* year 10000: fallback */
	CHECK_STR(got, "10000-01-01T00:00:00.000000+00:00");
	char small[8];
	session_time_format(0, small, sizeof(small)); /* truncated, still terminated */
	CHECK_STR(small, "1970-01");
	unsigned seed = 12345;
	int bad = 0;
	const int64_t lo = -62135596800000000LL, span = 253402300799999999LL - lo;
	for (int i = 0; i < 200000; i++) {
		uint64_t r = ((uint64_t)rand_r(&seed) << 42) ^ ((uint64_t)rand_r(&seed) << 21) ^
		             (uint64_t)rand_r(&seed);
		int64_t us = lo + (int64_t)(r % (uint64_t)span);
		session_time_format(us, got, sizeof(got));
		ref_format(us, want, sizeof(want));
		if (strcmp(got, want) != 0 && bad++ < 5)
			fprintf(stderr, "    %lld: got %s, want %s\n", (long long)us, got, want);
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	RUN(t_session_id_v7);
	RUN(t_session_id_tails_distinct);
	RUN(t_time_format);
	RUN(t_lifecycle_exact_counters);
	RUN(t_history_bounded_by_count);
	RUN(t_history_bounded_by_age);
	RUN(t_rejected_sessions);
	RUN(t_query_filters_sort_paging);
	RUN(t_stats_top_lists);
	RUN(t_concurrent_snapshot);
	return TEST_END("session");
}
