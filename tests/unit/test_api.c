/* Admin API unit tests: Prometheus writer, histogram, metrics, router,
 * token check, request pipeline (paging, error shapes, auth) with fake
 * sources, the metrics history ring, and one real HTTP round trip. */
#include "test.h"

#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "api/api_internal.h"
#include "api/api_server.h"
#include "obs/metrics.h"
#include "api/metrics_history.h"
#include "obs/prom.h"
#include "config/config.h"
#include "obs/histogram.h"
#include "util/strutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

static bool contains(const char *hay, const char *needle)
{
	bool ok = hay && strstr(hay, needle) != NULL;
	if (!ok)
		fprintf(stderr, "    missing: %s\n", needle);
	return ok;
}

/* promtool check metrics on text: 0 = clean, 1 = problems, -1 = no promtool. */
static int promtool_check(const char *text, size_t len)
{
	if (access("/usr/bin/promtool", X_OK) != 0)
		return -1;
	char path[] = "/tmp/csocks_prom_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s", path);
	int rc = system(cmd);
	unlink(path);
	return WIFEXITED(rc) && WEXITSTATUS(rc) == 0 ? 0 : 1;
}

/* ---- histogram ---- */

static const double hb[] = {0.1, 1, 10};

static void t_histogram(void)
{
	struct histogram h;
	CHECK_INT(histogram_init(&h, hb, 3), 0);
	histogram_observe(&h, 0.05);
	histogram_observe(&h, 0.1); /* le is inclusive */
	histogram_observe(&h, 5);
	histogram_observe(&h, 100);
	histogram_observe(&h, -1); /* clock step: first bucket, nothing added */
	struct histogram_snapshot s;
	histogram_snapshot(&h, &s);
	CHECK_INT(s.cumulative[0], 3);
	CHECK_INT(s.cumulative[1], 3);
	CHECK_INT(s.cumulative[2], 4);
	CHECK_INT(s.cumulative[3], 5);
	CHECK_INT(s.count, 5);
	CHECK(s.sum > 105.149 && s.sum < 105.151);
	histogram_snapshot_add(&s, &h);
	CHECK_INT(s.count, 10);
	static const double bad[] = {1, 1};
	CHECK_INT(histogram_init(&h, bad, 2), -1);
}

/* ---- prom writer ---- */

static void t_prom_escaping(void)
{
	struct prom_writer *w = prom_writer_new();
	CHECK_INT(prom_family(w, "x_total", "help with \\ and\nnewline", PROM_COUNTER), 0);
	struct prom_label l = {"user", "a\"b\\c\nd"};
	prom_sample_u64(w, &l, 1, 7);
	size_t len;
	const char *t = prom_writer_text(w, &len);
	CHECK(contains(t, "# HELP x_total help with \\\\ and\\nnewline\n"));
	CHECK(contains(t, "# TYPE x_total counter\n"));
	CHECK(contains(t, "x_total{user=\"a\\\"b\\\\c\\nd\"} 7\n"));
	CHECK(promtool_check(t, len) != 1);
	prom_writer_free(w);
}

static void t_prom_family_rules(void)
{
	struct prom_writer *w = prom_writer_new();
	prom_counter(w, "dup_total", "first", 1);
	CHECK_INT(prom_family(w, "dup_total", "second", PROM_COUNTER), -1);
	prom_sample_u64(w, NULL, 0, 2); /* dropped */
	CHECK_INT(prom_family(w, "9bad", "x", PROM_GAUGE), -1);
	CHECK_INT(prom_family(w, "bad-name", "x", PROM_GAUGE), -1);
	CHECK(prom_metric_name_valid("a:b_c9"));
	CHECK(!prom_label_name_valid("__reserved"));
	CHECK(!prom_label_name_valid("a:b"));
	prom_gauge(w, "g", "gauge", 0.005);
	prom_gauge(w, "inf_g", "gauge", 1.0 / 0.0);
	const char *t = prom_writer_text(w, NULL);
	CHECK(contains(t, "dup_total 1\n"));
	CHECK(!strstr(t, "dup_total 2"));
	CHECK(!strstr(t, "second"));
	CHECK(contains(t, "g 0.005\n"));
	CHECK(contains(t, "inf_g +Inf\n"));
	/* histogram family rejects "le" and plain samples */
	CHECK_INT(prom_family(w, "h_seconds", "h", PROM_HISTOGRAM), 0);
	prom_sample(w, NULL, 0, 1);
	struct prom_label le = {"le", "1"};
	struct histogram_snapshot s = {.bounds = hb, .n_bounds = 3};
	prom_histogram_sample(w, &le, 1, &s);
	t = prom_writer_text(w, NULL);
	CHECK(!strstr(t, "h_seconds 1"));
	CHECK(!strstr(t, "h_seconds_bucket"));
	prom_writer_free(w);
}

static void t_prom_histogram(void)
{
	struct histogram h;
	histogram_init(&h, hb, 3);
	histogram_observe(&h, 0.5);
	histogram_observe(&h, 20);
	struct histogram_snapshot s;
	histogram_snapshot(&h, &s);
	struct prom_writer *w = prom_writer_new();
	prom_histogram(w, "req_seconds", "request time", &s);
	CHECK_INT(prom_family(w, "lat_seconds", "labelled", PROM_HISTOGRAM), 0);
	struct prom_label l = {"method", "pam.username"};
	prom_histogram_sample(w, &l, 1, &s);
	size_t len;
	const char *t = prom_writer_text(w, &len);
	CHECK(contains(t, "# TYPE req_seconds histogram\n"));
	CHECK(contains(t, "req_seconds_bucket{le=\"0.1\"} 0\n"));
	CHECK(contains(t, "req_seconds_bucket{le=\"1\"} 1\n"));
	CHECK(contains(t, "req_seconds_bucket{le=\"10\"} 1\n"));
	CHECK(contains(t, "req_seconds_bucket{le=\"+Inf\"} 2\n"));
	CHECK(contains(t, "req_seconds_sum 20.5\n"));
	CHECK(contains(t, "req_seconds_count 2\n"));
	CHECK(contains(t, "lat_seconds_bucket{method=\"pam.username\",le=\"+Inf\"} 2\n"));
	CHECK_INT(promtool_check(t, len) == 1, 0);
	prom_writer_free(w);
}

static void collect_a(struct prom_writer *w, void *arg)
{
	prom_counter(w, "coll_a_total", "a", (uint64_t)(uintptr_t)arg);
}

static void t_prom_collectors(void)
{
	CHECK_INT(prom_collector_add(collect_a, (void *)(uintptr_t)5), 0);
	struct prom_writer *w = prom_writer_new();
	prom_collect_all(w);
	CHECK(contains(prom_writer_text(w, NULL), "coll_a_total 5\n"));
	prom_writer_free(w);
	prom_collector_del(collect_a, (void *)(uintptr_t)5);
	w = prom_writer_new();
	prom_collect_all(w);
	CHECK(!strstr(prom_writer_text(w, NULL), "coll_a_total"));
	prom_writer_free(w);
}

/* ---- metrics ---- */

static void t_metrics_counts(void)
{
	metrics_reset_for_tests(2);
	metrics_session_opened("alice");
	metrics_session_opened("bob");
	metrics_session_opened("carol"); /* past the cap of 2: "other" */
	metrics_session_closed("alice", 2.0, 100, 2000);
	metrics_session_closed("carol", 0.2, 5, 7);
	metrics_rejected("mallory", METRICS_REJECT_ACL);
	metrics_handshake_latency(0.002);
	metrics_connect_error(5);
	metrics_auth_failure(AUTH_USERPASS);
	metrics_acl_decision(true);
	metrics_acl_decision(false);
	metrics_acl_reload(true);
	metrics_store_dropped(3);
	struct metrics_totals t;
	metrics_read_totals(&t);
	CHECK_INT(t.active_sessions, 1);
	CHECK_INT(t.sessions_total, 3);
	CHECK_INT(t.rejected_total, 1);
	CHECK_INT(t.bytes_sent, 105);
	CHECK_INT(t.bytes_received, 2007);

	struct prom_writer *w = prom_writer_new();
	metrics_collect(w, NULL);
	size_t len;
	const char *s = prom_writer_text(w, &len);
	CHECK(contains(s, "rustsocks_active_sessions 1\n"));
	CHECK(contains(s, "rustsocks_sessions_total 3\n"));
	CHECK(contains(s, "rustsocks_sessions_rejected_total 1\n"));
	CHECK(contains(s, "rustsocks_bytes_sent_total 105\n"));
	CHECK(contains(s, "rustsocks_bytes_received_total 2007\n"));
	CHECK(contains(s, "rustsocks_session_duration_seconds_count 2\n"));
	CHECK(contains(s, "rustsocks_session_duration_seconds_bucket{le=\"0.5\"} 1\n"));
	CHECK(contains(s, "rustsocks_user_sessions_total{user=\"alice\"} 1\n"));
	CHECK(contains(s, "rustsocks_user_sessions_total{user=\"bob\"} 1\n"));
	CHECK(contains(s, "rustsocks_user_sessions_total{user=\"other\"} 2\n"));
	CHECK(!strstr(s, "user=\"carol\""));
	CHECK(!strstr(s, "user=\"mallory\""));
	CHECK(contains(
	    s, "rustsocks_user_bandwidth_bytes_total{user=\"alice\",direction=\"sent\"} 100\n"));
	CHECK(contains(
	    s,
	    "rustsocks_user_bandwidth_bytes_total{user=\"alice\",direction=\"received\"} 2000\n"));
	CHECK(contains(s, "csocks_sessions_rejected_by_reason_total{reason=\"acl\"} 1\n"));
	CHECK(contains(s, "csocks_auth_failures_total{method=\"userpass\"} 1\n"));
	CHECK(contains(s, "csocks_acl_decisions_total{decision=\"block\"} 1\n"));
	CHECK(contains(s, "csocks_connect_errors_total{code=\"0x05\"} 1\n"));
	CHECK(contains(s, "csocks_handshake_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
	CHECK(contains(s, "csocks_acl_reloads_total{result=\"success\"} 1\n"));
	CHECK(contains(s, "csocks_store_dropped_total 3\n"));
	CHECK(contains(s, "csocks_build_info{version=\""));
	CHECK_INT(promtool_check(s, len) == 1, 0);
	prom_writer_free(w);
}

struct mt_arg {
	int n;
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		metrics_session_opened("u");
		metrics_session_closed("u", 0.01, 1, 2);
		metrics_handshake_latency(0.001);
	}
	return NULL;
}

static void t_metrics_threads(void)
{
	metrics_reset_for_tests(1000);
	pthread_t th[8];
	struct mt_arg a = {20000};
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, mt_worker, &a);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	struct metrics_totals t;
	metrics_read_totals(&t);
	CHECK_INT(t.sessions_total, 160000);
	CHECK_INT(t.active_sessions, 0);
	CHECK_INT(t.bytes_sent, 160000);
	CHECK_INT(t.bytes_received, 320000);
	struct prom_writer *w = prom_writer_new();
	metrics_collect(w, NULL);
	const char *s = prom_writer_text(w, NULL);
	CHECK(contains(s, "rustsocks_user_sessions_total{user=\"u\"} 160000\n"));
	CHECK(contains(s, "csocks_handshake_duration_seconds_count 160000\n"));
	prom_writer_free(w);
}

/* ---- router ---- */

static void t_router_base(void)
{
	char b[64];
	api_base_normalise("/", b, sizeof(b));
	CHECK_STR(b, "");
	api_base_normalise("", b, sizeof(b));
	CHECK_STR(b, "");
	api_base_normalise("rustsocks/", b, sizeof(b));
	CHECK_STR(b, "/rustsocks");
	api_base_normalise("//a/b//", b, sizeof(b));
	CHECK_STR(b, "/a/b");
	CHECK_STR(api_strip_base("", "/health"), "/health");
	CHECK_STR(api_strip_base("/rustsocks", "/rustsocks/health"), "/health");
	CHECK_STR(api_strip_base("/rustsocks", "/rustsocks"), "/");
	CHECK_STR(api_strip_base("/rustsocks", "/rustsocks/"), "/");
	CHECK(api_strip_base("/rustsocks", "/rustsocksX/health") == NULL);
	CHECK(api_strip_base("/rustsocks", "/health") == NULL);
}

static void t_router_match(void)
{
	struct api_match m;
	api_route_match("GET", "/api/sessions/active", &m);
	CHECK_INT(m.status, 0);
	CHECK_INT(m.route, ROUTE_SESSIONS_ACTIVE);
	api_route_match("GET", "/api/sessions/abc", &m);
	CHECK_INT(m.route, ROUTE_SESSION_GET);
	CHECK_STR(m.params[0], "abc");
	api_route_match("POST", "/api/sessions/abc/terminate", &m);
	CHECK_INT(m.route, ROUTE_SESSION_TERMINATE);
	api_route_match("GET", "/api/sessions/abc/terminate", &m);
	CHECK_INT(m.status, 405);
	CHECK_STR(m.allow, "POST");
	api_route_match("DELETE", "/api/acl/users/bob/groups/devs", &m);
	CHECK_INT(m.route, ROUTE_ACL_USER_GROUP_REMOVE);
	CHECK_STR(m.params[0], "bob");
	CHECK_STR(m.params[1], "devs");
	api_route_match("PATCH", "/api/acl/groups", &m);
	CHECK_INT(m.status, 405);
	CHECK_STR(m.allow, "GET, POST");
	api_route_match("GET", "/api/nope", &m);
	CHECK_INT(m.status, 404);
	api_route_match("GET", "/api/acl/users/", &m);
	CHECK_INT(m.route, ROUTE_ACL_USERS_LIST);
	api_route_match("HEAD", "/health", &m);
	CHECK_INT(m.route, ROUTE_HEALTH);
	CHECK(api_route_mutating(ROUTE_ACL_GLOBAL_PUT));
	CHECK(!api_route_mutating(ROUTE_ACL_GLOBAL_GET));
}

/* ---- token ---- */

static void t_token(void)
{
	CHECK(api_token_ok("s3cret", "Bearer s3cret", NULL));
	CHECK(api_token_ok("s3cret", "bearer  s3cret ", NULL));
	CHECK(!api_token_ok("s3cret", "Bearer s3cre", NULL));
	CHECK(!api_token_ok("s3cret", "Bearer s3cret2", NULL));
	CHECK(!api_token_ok("s3cret", "Basic s3cret", NULL));
	CHECK(!api_token_ok("s3cret", "Bearer ", NULL));
	CHECK(!api_token_ok("s3cret", NULL, NULL));
	CHECK(api_token_ok("s3cret", NULL, "s3cret"));

	struct csocks_config *cfg = config_new_default();
	char *tok = NULL, err[256];
	CHECK_INT(api_token_load(cfg, &tok, err, sizeof(err)), 0);
	CHECK(tok == NULL);
	char path[] = "/tmp/csocks_token_XXXXXX";
	int fd = mkstemp(path);
	CHECK(write(fd, "  abc123 \nsecond\n", 17) == 17);
	close(fd);
	config_set_str(&cfg->api.token_file, path);
	CHECK_INT(api_token_load(cfg, &tok, err, sizeof(err)), 0);
	CHECK_STR(tok, "abc123");
	free(tok);
	unlink(path);
	CHECK_INT(api_token_load(cfg, &tok, err, sizeof(err)), -1);
	CHECK(contains(err, path));
	config_set_str(&cfg->api.token, "direct");
	CHECK_INT(api_token_load(cfg, &tok, err, sizeof(err)), 0);
	CHECK_STR(tok, "direct");
	free(tok);
	config_free(cfg);
}

/* ---- request pipeline with fake sources ---- */

#define ID1 "11111111-2222-4333-8444-555555555555"
#define ID2 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

static struct session_query last_q;
static int terminated;

static struct session_record fake_rec(const char *id, const char *user, enum session_status st)
{
	struct session_record r;
	memset(&r, 0, sizeof(r));
	cs_strlcpy(r.session_id, id, sizeof(r.session_id));
	r.user = user;
	r.start_us = 1700000000000000LL;
	r.end_us = st == SESSION_ACTIVE ? 0 : 1700000005000000LL;
	r.duration_secs = st == SESSION_ACTIVE ? -1 : 5;
	cs_strlcpy(r.source_ip, "127.0.0.1", sizeof(r.source_ip));
	r.source_port = 40000;
	r.dest_ip = "example.com";
	r.dest_port = 443;
	r.status = st;
	r.bytes_sent = 10;
	r.bytes_received = 20;
	r.acl_decision = "allow";
	return r;
}

static int f_active(void *ctx, struct session_record ***out, size_t *n)
{
	(void)ctx;
	struct session_record r = fake_rec(ID1, "alice", SESSION_ACTIVE);
	*out = xcalloc(1, sizeof(**out));
	(*out)[0] = session_record_dup(&r);
	*n = 1;
	return 0;
}

static int f_history(void *ctx, const struct session_query *q, struct session_page *out, char *err,
                     size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	last_q = *q;
	struct session_record r = fake_rec(ID2, "alice", SESSION_CLOSED);
	out->items = xcalloc(1, sizeof(*out->items));
	out->items[0] = session_record_dup(&r);
	out->n = 1;
	out->total = 101;
	return 0;
}

static int f_get(void *ctx, const char *id, struct session_record **out, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	if (strcmp(id, ID2) != 0)
		return -ENOENT;
	struct session_record r = fake_rec(ID2, "alice", SESSION_CLOSED);
	*out = session_record_dup(&r);
	return 0;
}

static int f_stats(void *ctx, uint32_t window, struct session_stats *out, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	out->total_sessions = window; /* echo the window so the test sees it honoured */
	out->by_status[SESSION_ACTIVE] = 1;
	out->n_top_users = 1;
	out->top_users[0].user = xstrdup("alice");
	out->top_users[0].session_count = 3;
	out->n_top_destinations = 1;
	out->top_destinations[0].dest_ip = xstrdup("::1");
	out->top_destinations[0].dest_port = 80;
	return 0;
}

static int f_terminate(void *ctx, const char *id, const char *reason)
{
	(void)ctx;
	(void)reason;
	if (strcmp(id, ID1) != 0)
		return -ENOENT;
	terminated++;
	return 0;
}

struct kv {
	const char *k, *v;
};

static const char *kv_get(void *qctx, const char *key)
{
	for (const struct kv *p = qctx; p && p->k; p++) {
		if (strcmp(p->k, key) == 0)
			return p->v;
	}
	return NULL;
}

static struct csocks_config *tcfg;

static struct api_state *make_state(const char *token)
{
	static struct api_state st;
	memset(&st, 0, sizeof(st));
	if (!tcfg)
		tcfg = config_new_default();
	st.cfg = tcfg;
	st.token = token ? xstrdup(token) : NULL;
	pthread_mutex_init(&st.acl_mu, NULL);
	st.src.sessions_active = f_active;
	st.src.sessions_history = f_history;
	st.src.session_get = f_get;
	st.src.sessions_stats = f_stats;
	st.src.session_terminate = f_terminate;
	return &st;
}

static void free_state(struct api_state *st)
{
	free(st->token);
	pthread_mutex_destroy(&st->acl_mu);
}

/* Run one request; returns the parsed JSON body (or NULL) and the status. */
static json_t *call(struct api_state *st, const char *method, const char *url,
                    const struct kv *query, const char *auth, const char *body, int *status)
{
	struct api_req rq = {.method = method,
	                     .url = url,
	                     .query = kv_get,
	                     .qctx = (void *)query,
	                     .authorization = auth,
	                     .body = body,
	                     .body_len = body ? strlen(body) : 0};
	struct api_resp rs;
	api_handle(st, &rq, &rs);
	*status = rs.status;
	json_t *j = json_loadb(rs.body, rs.len, 0, NULL);
	free(rs.body);
	return j;
}

static bool is_error_shape(json_t *j)
{
	return j && json_is_object(j) && json_is_string(json_object_get(j, "error"));
}

static void t_pipeline_sessions(void)
{
	struct api_state *st = make_state(NULL);
	int status;
	json_t *j = call(st, "GET", "/api/sessions/active", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK(json_is_array(j) && json_array_size(j) == 1);
	json_t *s0 = json_array_get(j, 0);
	CHECK_STR(json_string_value(json_object_get(s0, "id")), ID1);
	CHECK_STR(json_string_value(json_object_get(s0, "status")), "active");
	CHECK(json_is_null(json_object_get(s0, "end_time")));
	CHECK(json_is_null(json_object_get(s0, "duration_seconds")));
	CHECK(json_is_null(json_object_get(s0, "acl_rule")));
	CHECK_INT(json_integer_value(json_object_get(s0, "dest_port")), 443);
	json_decref(j);

	struct kv q[] = {{"user", "alice"},
	                 {"page", "3"},
	                 {"page_size", "20"},
	                 {"status", "closed"},
	                 {"sort_by", "bytes_sent"},
	                 {"sort_dir", "asc"},
	                 {"hours", "2"},
	                 {NULL, NULL}};
	j = call(st, "GET", "/api/sessions/history", q, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK_INT(json_integer_value(json_object_get(j, "total")), 101);
	CHECK_INT(json_integer_value(json_object_get(j, "page")), 3);
	CHECK_INT(json_integer_value(json_object_get(j, "page_size")), 20);
	CHECK_INT(json_integer_value(json_object_get(j, "total_pages")), 6);
	CHECK(json_is_array(json_object_get(j, "data")));
	CHECK_STR(last_q.user, "alice");
	CHECK_INT(last_q.page, 3);
	CHECK_INT(last_q.hours, 2);
	CHECK(last_q.has_status && last_q.status == SESSION_CLOSED);
	CHECK_INT(last_q.sort, SESSION_SORT_BYTES_SENT);
	CHECK(last_q.sort_asc);
	json_decref(j);

	static const struct kv bad[][2] = {
	    {{"page", "0"}, {NULL, NULL}},         {{"page", "x"}, {NULL, NULL}},
	    {{"page_size", "1001"}, {NULL, NULL}}, {{"page_size", "0"}, {NULL, NULL}},
	    {{"page_size", "-5"}, {NULL, NULL}},   {{"hours", "1.5"}, {NULL, NULL}},
	    {{"status", "zombie"}, {NULL, NULL}},  {{"sort_by", "password"}, {NULL, NULL}},
	    {{"sort_dir", "up"}, {NULL, NULL}},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = call(st, "GET", "/api/sessions/history", bad[i], NULL, NULL, &status);
		CHECK_INT(status, 400);
		CHECK(is_error_shape(j));
		json_decref(j);
	}

	struct kv w[] = {{"window_hours", "48"}, {NULL, NULL}};
	j = call(st, "GET", "/api/sessions/stats", w, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK_INT(json_integer_value(json_object_get(j, "window_hours")), 48);
	CHECK_INT(json_integer_value(json_object_get(j, "total_sessions")), 48);
	CHECK_STR(json_string_value(json_object_get(
	              json_array_get(json_object_get(j, "top_destinations"), 0), "destination")),
	          "[::1]:80");
	json_decref(j);
	struct kv w0[] = {{"window_hours", "0"}, {NULL, NULL}};
	j = call(st, "GET", "/api/sessions/stats", w0, NULL, NULL, &status);
	CHECK_INT(status, 400);
	json_decref(j);

	j = call(st, "GET", "/api/sessions/" ID2, NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK_INT(json_integer_value(json_object_get(j, "duration_seconds")), 5);
	json_decref(j);
	j = call(st, "GET", "/api/sessions/" ID1 "x", NULL, NULL, NULL, &status);
	CHECK_INT(status, 400);
	json_decref(j);
	j = call(st, "GET", "/api/sessions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", NULL, NULL, NULL,
	         &status);
	CHECK_INT(status, 404);
	CHECK(is_error_shape(j));
	json_decref(j);

	j = call(st, "GET", "/api/users/alice/sessions", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK(json_array_size(j) == 2);
	json_decref(j);

	/* no token configured: terminate is refused */
	j = call(st, "POST", "/api/sessions/" ID1 "/terminate", NULL, NULL, NULL, &status);
	CHECK_INT(status, 403);
	CHECK(is_error_shape(j));
	json_decref(j);
	free_state(st);
}

static void t_pipeline_auth(void)
{
	struct api_state *st = make_state("tok");
	int status;
	static const char *const urls[] = {"/api/sessions/active", "/api/sessions/history",
	                                   "/metrics", "/api/nope", "/api/acl/rules"};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		json_t *j = call(st, "GET", urls[i], NULL, NULL, NULL, &status);
		CHECK_INT(status, 401);
		CHECK(is_error_shape(j));
		json_decref(j);
		j = call(st, "GET", urls[i], NULL, "Bearer wrong", NULL, &status);
		CHECK_INT(status, 401);
		json_decref(j);
	}
	json_t *j = call(st, "GET", "/health", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK_STR(json_string_value(json_object_get(j, "status")), "healthy");
	json_decref(j);
	j = call(st, "POST", "/api/sessions/" ID1 "/terminate", NULL, "Bearer tok", NULL, &status);
	CHECK_INT(status, 200);
	CHECK(json_is_true(json_object_get(j, "success")));
	CHECK_INT(terminated, 1);
	json_decref(j);
	j = call(st, "POST", "/api/sessions/" ID2 "/terminate", NULL, "Bearer tok", NULL, &status);
	CHECK_INT(status, 404);
	json_decref(j);
	j = call(st, "DELETE", "/api/sessions/active", NULL, "Bearer tok", NULL, &status);
	CHECK_INT(status, 405);
	CHECK(is_error_shape(j));
	json_decref(j);
	j = call(st, "GET", "/nowhere", NULL, "Bearer tok", NULL, &status);
	CHECK_INT(status, 404);
	CHECK(is_error_shape(j));
	json_decref(j);
	/* 413 from the transport */
	struct api_req rq = {.method = "POST",
	                     .url = "/api/acl/test",
	                     .query = kv_get,
	                     .authorization = "Bearer tok",
	                     .body_too_large = true};
	struct api_resp rs;
	api_handle(st, &rq, &rs);
	CHECK_INT(rs.status, 413);
	free(rs.body);
	free_state(st);
}

static void t_pipeline_base_and_openapi(void)
{
	struct api_state *st = make_state(NULL);
	int status;
	cs_strlcpy(st->base, "/rustsocks", sizeof(st->base));
	json_t *j = call(st, "GET", "/rustsocks/health", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	json_decref(j);
	j = call(st, "GET", "/health", NULL, NULL, NULL, &status);
	CHECK_INT(status, 404);
	json_decref(j);
	j = call(st, "GET", "/rustsocks/openapi.json", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK_STR(json_string_value(json_object_get(j, "openapi")), "3.0.3");
	json_t *paths = json_object_get(j, "paths");
	CHECK(json_object_get(paths, "/api/sessions/history") != NULL);
	CHECK(json_object_get(json_object_get(paths, "/api/acl/users/{username}/rules"), "put") !=
	      NULL);
	CHECK_INT(json_object_size(paths), 25); /* RustSocks' 24 + reload-tls */
	json_decref(j);
	/* metrics history without a sampler: empty array */
	j = call(st, "GET", "/rustsocks/api/metrics/history", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK(json_is_array(j));
	json_decref(j);
	/* pool stats without a pool source */
	j = call(st, "GET", "/rustsocks/api/pool/stats", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK(json_is_boolean(json_object_get(j, "enabled")));
	json_decref(j);
	/* sources missing: 503 with the error shape */
	st->src.sessions_active = NULL;
	j = call(st, "GET", "/rustsocks/api/sessions/active", NULL, NULL, NULL, &status);
	CHECK_INT(status, 503);
	CHECK(is_error_shape(j));
	json_decref(j);
	/* ACL routes without an ACL file */
	j = call(st, "GET", "/rustsocks/api/acl/groups", NULL, NULL, NULL, &status);
	CHECK_INT(status, 400);
	CHECK(is_error_shape(j));
	json_decref(j);
	free_state(st);
}

/* ---- ACL routes against a real file and the real engine ---- */

static char acl_path[] = "/tmp/csocks_acl_XXXXXX";
static struct acl_snapshot *acl_snap;
static int acl_reloads;

static int w_reload(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	struct acl_msgs m;
	acl_msgs_init(&m);
	struct acl_config *c = acl_config_load(acl_path, &m);
	acl_msgs_fini(&m);
	if (!c) {
		snprintf(err, errlen, "invalid");
		return -1;
	}
	struct acl_snapshot *s = acl_compile(c, err, errlen);
	acl_config_free(c);
	if (!s)
		return -1;
	acl_snapshot_unref(acl_snap);
	acl_snap = s;
	acl_reloads++;
	return 0;
}

static int w_eval(void *ctx, const struct acl_request *rq, struct api_acl_verdict *out, char *err,
                  size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	struct acl_decision d;
	acl_evaluate(acl_snap, rq, &d);
	api_acl_verdict_fill(&d, out);
	return 0;
}

static const char *decide(struct api_state *st, const char *user, const char *dest, int port)
{
	static char out[16];
	char body[256];
	int status;
	snprintf(body, sizeof(body),
	         "{\"user\":\"%s\",\"destination\":\"%s\",\"port\":%d,"
	         "\"protocol\":\"tcp\"}",
	         user, dest, port);
	json_t *j = call(st, "POST", "/api/acl/test", NULL, "Bearer tok", body, &status);
	snprintf(out, sizeof(out), "%s",
	         status == 200 ? json_string_value(json_object_get(j, "decision")) : "error");
	json_decref(j);
	return out;
}

static int req(struct api_state *st, const char *method, const char *url, const char *body,
               json_t **out)
{
	int status;
	json_t *j = call(st, method, url, NULL, "Bearer tok", body, &status);
	if (out)
		*out = j;
	else
		json_decref(j);
	return status;
}

static void t_acl_crud(void)
{
	int fd = mkstemp(acl_path);
	const char *text = "[global]\ndefault_policy = \"allow\"\n\n"
	                   "[[groups]]\nname = \"devs\"\n\n"
	                   "[[users]]\nusername = \"alice\"\ngroups = [\"devs\"]\n";
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	char err[128];
	CHECK_INT(w_reload(NULL, err, sizeof(err)), 0);
	struct api_state *st = make_state("tok");
	st->src.acl_file = acl_path;
	st->src.acl_reload = w_reload;
	st->src.acl_evaluate = w_eval;
	json_t *j;

	CHECK_STR(decide(st, "alice", "10.1.2.3", 22), "allow");
	/* a group rule blocks 10.0.0.0/8:22 for alice (via devs) */
	CHECK_INT(
	    req(st, "POST", "/api/acl/groups/devs/rules",
	        "{\"action\":\"block\",\"description\":\"no ssh\",\"destinations\":"
	        "[\"10.0.0.0/8\"],\"ports\":[\"22\"],\"protocols\":[\"tcp\"],\"priority\":200}",
	        &j),
	    200);
	CHECK(json_is_true(json_object_get(j, "success")));
	json_decref(j);
	CHECK_STR(decide(st, "alice", "10.1.2.3", 22), "block");
	CHECK_STR(decide(st, "alice", "10.1.2.3", 80), "allow");
	CHECK_STR(decide(st, "bob", "10.1.2.3", 22), "allow");
	/* the test answer names the rule */
	int status;
	j = call(
	    st, "POST", "/api/acl/test", NULL, "Bearer tok",
	    "{\"user\":\"alice\",\"destination\":\"10.9.9.9\",\"port\":22,\"protocol\":\"tcp\"}",
	    &status);
	CHECK_STR(json_string_value(json_object_get(j, "matched_rule")), "no ssh");
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "rule"), "owner")), "devs");
	json_decref(j);

	/* update: allow it again, with a higher priority */
	CHECK_INT(req(st, "PUT", "/api/acl/groups/devs/rules",
	              "{\"match\":{\"destinations\":[\"10.0.0.0/8\"]},\"update\":{\"action\":"
	              "\"allow\",\"destinations\":[\"10.0.0.0/8\"],\"ports\":[\"22\"]}}",
	              &j),
	          200);
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "old_rule"), "action")),
	          "block");
	json_decref(j);
	CHECK_STR(decide(st, "alice", "10.1.2.3", 22), "allow");
	CHECK_INT(req(st, "PUT", "/api/acl/groups/devs/rules",
	              "{\"match\":{\"destinations\":[\"1.1.1.1\"]},\"update\":{\"action\":"
	              "\"allow\",\"destinations\":[\"1.1.1.1\"]}}",
	              NULL),
	          404);

	/* users, groups, membership */
	CHECK_INT(req(st, "POST", "/api/acl/users", "{\"username\":\"bob\",\"groups\":[]}", NULL),
	          200);
	CHECK_INT(req(st, "POST", "/api/acl/users", "{\"username\":\"bob\"}", NULL), 409);
	CHECK_INT(req(st, "POST", "/api/acl/groups", "{\"name\":\"ops\"}", NULL), 200);
	CHECK_INT(req(st, "POST", "/api/acl/groups/ops/rules",
	              "{\"action\":\"block\",\"destinations\":[\"*.example.com\"]}", NULL),
	          200);
	CHECK_STR(decide(st, "bob", "www.example.com", 443), "allow");
	CHECK_INT(req(st, "POST", "/api/acl/users/bob/groups", "{\"group\":\"ops\"}", NULL), 200);
	CHECK_STR(decide(st, "bob", "www.example.com", 443), "block");
	CHECK_INT(req(st, "POST", "/api/acl/users/bob/groups", "{\"group\":\"ops\"}", NULL), 409);
	CHECK_INT(req(st, "GET", "/api/acl/users/bob", NULL, &j), 200);
	CHECK_STR(json_string_value(json_array_get(json_object_get(j, "groups"), 0)), "ops");
	json_decref(j);
	CHECK_INT(req(st, "DELETE", "/api/acl/users/bob/groups/ops", NULL, NULL), 200);
	CHECK_STR(decide(st, "bob", "www.example.com", 443), "allow");
	CHECK_INT(req(st, "DELETE", "/api/acl/users/bob/groups/ops", NULL, NULL), 404);
	CHECK_INT(req(st, "POST", "/api/acl/users/bob/rules",
	              "{\"action\":\"block\",\"destinations\":[\"8.8.8.8\"],\"ports\":[\"53\"]}",
	              NULL),
	          200);
	CHECK_STR(decide(st, "bob", "8.8.8.8", 53), "block");
	CHECK_INT(req(st, "DELETE", "/api/acl/users/bob/rules",
	              "{\"destinations\":[\"8.8.8.8\"],\"ports\":[\"53\"]}", NULL),
	          200);
	CHECK_STR(decide(st, "bob", "8.8.8.8", 53), "allow");

	/* lists, details, search, global */
	CHECK_INT(req(st, "GET", "/api/acl/groups", NULL, &j), 200);
	CHECK_INT(json_array_size(json_object_get(j, "groups")), 2);
	json_decref(j);
	CHECK_INT(req(st, "GET", "/api/acl/users", NULL, &j), 200);
	CHECK_INT(json_array_size(json_object_get(j, "users")), 2);
	json_decref(j);
	CHECK_INT(req(st, "GET", "/api/acl/groups/nope", NULL, NULL), 404);
	CHECK_INT(req(st, "POST", "/api/acl/search", "{\"destination\":\"*.example.com\"}", &j),
	          200);
	CHECK_INT(json_integer_value(json_object_get(j, "count")), 1);
	json_decref(j);
	CHECK_INT(req(st, "GET", "/api/acl/rules", NULL, &j), 200);
	CHECK_INT(json_integer_value(json_object_get(j, "group_count")), 2);
	json_decref(j);
	CHECK_INT(req(st, "PUT", "/api/acl/global", "{\"default_policy\":\"block\"}", &j), 200);
	CHECK_STR(json_string_value(json_object_get(j, "old_policy")), "allow");
	json_decref(j);
	CHECK_STR(decide(st, "carol", "192.0.2.1", 80), "block");
	CHECK_INT(req(st, "GET", "/api/acl/global", NULL, &j), 200);
	CHECK_STR(json_string_value(json_object_get(j, "default_policy")), "block");
	json_decref(j);

	/* bad input */
	static const char *const bad_rules[] = {
	    "{\"action\":\"maybe\",\"destinations\":[\"1.2.3.4\"]}",
	    "{\"action\":\"allow\"}",
	    "{\"action\":\"allow\",\"destinations\":[]}",
	    "{\"action\":\"allow\",\"destinations\":\"1.2.3.4\"}",
	    "{\"action\":\"allow\",\"destinations\":[1]}",
	    "{\"action\":\"allow\",\"destinations\":[\"1.2.3.4/33\"]}",
	    "{\"action\":\"allow\",\"destinations\":[\"1.2.3.4\"],\"ports\":[\"70000\"]}",
	    "{\"action\":\"allow\",\"destinations\":[\"1.2.3.4\"],\"protocols\":[\"icmp\"]}",
	    "{\"action\":\"allow\",\"destinations\":[\"1.2.3.4\"],\"priority\":-1}",
	    "{\"action\":\"allow\",\"destinations\":[\"1.2.3.4\"],\"priority\":\"high\"}",
	    "[1,2]",
	    "{not json",
	    "",
	};
	for (size_t i = 0; i < sizeof(bad_rules) / sizeof(bad_rules[0]); i++) {
		j = call(st, "POST", "/api/acl/groups/devs/rules", NULL, "Bearer tok", bad_rules[i],
		         &status);
		CHECK_INT(status, 400);
		CHECK(is_error_shape(j));
		json_decref(j);
	}
	CHECK_INT(req(st, "POST", "/api/acl/groups/nope/rules",
	              "{\"action\":\"allow\",\"destinations\":[\"1.2.3.4\"]}", NULL),
	          404);
	CHECK_INT(req(st, "PUT", "/api/acl/global", "{\"default_policy\":1}", NULL), 400);
	CHECK_INT(req(st, "POST", "/api/acl/test",
	              "{\"user\":\"a\",\"destination\":\"x\",\"port\":0}", NULL),
	          400);
	CHECK_INT(req(st, "POST", "/api/acl/test", "{\"user\":\"a\",\"destination\":\"x\"}", NULL),
	          400);

	/* deletes, and the file on disk still parses */
	CHECK_INT(req(st, "DELETE", "/api/acl/groups/ops", NULL, &j), 200);
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "deleted_group"), "name")),
	          "ops");
	json_decref(j);
	CHECK_INT(req(st, "DELETE", "/api/acl/users/bob", NULL, NULL), 200);
	CHECK_INT(req(st, "DELETE", "/api/acl/users/bob", NULL, NULL), 404);
	CHECK_INT(req(st, "POST", "/api/admin/reload-acl", NULL, &j), 200);
	CHECK(json_is_true(json_object_get(j, "success")));
	json_decref(j);
	struct acl_msgs m;
	acl_msgs_init(&m);
	struct acl_config *c = acl_config_load(acl_path, &m);
	CHECK(c != NULL);
	CHECK_INT(c ? c->n_groups : 0, 1);
	CHECK_INT(c ? c->default_policy : 0, ACL_BLOCK);
	acl_config_free(c);
	acl_msgs_fini(&m);
	CHECK(acl_reloads > 10);
	free_state(st);
	acl_snapshot_unref(acl_snap);
	acl_snap = NULL;
	unlink(acl_path);
}

/* ---- metrics history ---- */

static void t_history_ring(void)
{
	char err[128];
	/* 1 hour at 1200 s: 3 samples */
	struct metrics_history *h = metrics_history_new(1200, 1, false, err, sizeof(err));
	CHECK(h != NULL);
	int64_t t0 = 1700000000000000LL;
	for (int i = 0; i < 5; i++) {
		struct metrics_sample s = {.wall_us = t0 + i * 1000000LL,
		                           .active_sessions = i,
		                           .total_sessions = (uint64_t)i * 10,
		                           .bandwidth = (uint64_t)i * 100};
		metrics_history_push(h, &s);
	}
	CHECK_INT(metrics_history_len(h), 3);
	json_t *j = metrics_history_json(h);
	CHECK_INT(json_array_size(j), 3);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 0), "active_sessions")), 2);
	CHECK_INT(json_integer_value(json_object_get(json_array_get(j, 2), "bandwidth")), 400);
	CHECK(json_is_string(json_object_get(json_array_get(j, 0), "timestamp")));
	json_decref(j);
	/* age-out: a sample 2 hours later drops everything older than 1 h */
	struct metrics_sample late = {.wall_us = t0 + 7200LL * 1000000};
	metrics_history_push(h, &late);
	CHECK_INT(metrics_history_len(h), 1);
	metrics_history_free(h);
}

/* ---- real HTTP ---- */

static char *http(uint16_t port, const char *req)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return NULL;
	}
	size_t len = strlen(req);
	if (write(fd, req, len) != (ssize_t)len) {
		close(fd);
		return NULL;
	}
	char *buf = xcalloc(1, 1 << 20);
	size_t n = 0;
	ssize_t r;
	while (n < (1 << 20) - 1 && (r = read(fd, buf + n, (1 << 20) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	return buf;
}

static void t_http_server(void)
{
	struct csocks_config *cfg = config_new_default();
	cfg->sessions.stats_api_port = 0;
	cfg->api.max_body_bytes = 256;
	config_set_str(&cfg->api.token, "t0k");
	struct api_sources src = {.sessions_active = f_active};
	char err[256];
	struct api_server *s = api_server_start(cfg, &src, err, sizeof(err));
	CHECK(s != NULL);
	if (!s) {
		fprintf(stderr, "    %s\n", err);
		config_free(cfg);
		return;
	}
	uint16_t port = api_server_port(s);
	CHECK(port != 0);
	char *r = http(port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(contains(r, "HTTP/1.1 200"));
	CHECK(contains(r, "\"healthy\""));
	free(r);
	r = http(port, "GET /api/sessions/active HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(contains(r, "HTTP/1.1 401"));
	CHECK(contains(r, "WWW-Authenticate: Bearer"));
	free(r);
	r = http(port, "GET /api/sessions/active HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k"
	               "\r\nConnection: close\r\n\r\n");
	CHECK(contains(r, "HTTP/1.1 200"));
	CHECK(contains(r, ID1));
	free(r);
	r = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k"
	               "\r\nConnection: close\r\n\r\n");
	CHECK(contains(r, "HTTP/1.1 200"));
	CHECK(contains(r, "text/plain; version=0.0.4"));
	CHECK(contains(r, "# TYPE rustsocks_active_sessions gauge"));
	free(r);
	char big[2048];
	snprintf(big, sizeof(big),
	         "POST /api/acl/test HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n"
	         "Content-Type: application/json\r\nContent-Length: 600\r\nConnection: close"
	         "\r\n\r\n%0600d",
	         0);
	r = http(port, big);
	CHECK(contains(r, "HTTP/1.1 413"));
	free(r);
	r = http(port, "PUT /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	               "Content-Length: 0\r\n\r\n");
	CHECK(contains(r, "HTTP/1.1 405"));
	CHECK(contains(r, "Allow: GET"));
	free(r);
	api_server_stop(s);
	/* the port is free again */
	cfg->sessions.stats_api_port = port;
	s = api_server_start(cfg, &src, err, sizeof(err));
	CHECK(s != NULL);
	api_server_stop(s);
	config_free(cfg);
}

static void t_http_bind_error(void)
{
	struct csocks_config *cfg = config_new_default();
	cfg->sessions.stats_api_port = 0;
	char err[256];
	struct api_server *a = api_server_start(cfg, NULL, err, sizeof(err));
	CHECK(a != NULL);
	cfg->sessions.stats_api_port = api_server_port(a);
	struct api_server *b = api_server_start(cfg, NULL, err, sizeof(err));
	CHECK(b == NULL);
	CHECK(contains(err, "bind 127.0.0.1:"));
	api_server_stop(a);
	config_set_str(&cfg->sessions.stats_api_bind_address, "not an address");
	b = api_server_start(cfg, NULL, err, sizeof(err));
	CHECK(b == NULL);
	config_free(cfg);
}

int main(void)
{
	RUN(t_histogram);
	RUN(t_prom_escaping);
	RUN(t_prom_family_rules);
	RUN(t_prom_histogram);
	RUN(t_prom_collectors);
	RUN(t_metrics_counts);
	RUN(t_metrics_threads);
	RUN(t_router_base);
	RUN(t_router_match);
	RUN(t_token);
	RUN(t_pipeline_sessions);
	RUN(t_pipeline_auth);
	RUN(t_pipeline_base_and_openapi);
	RUN(t_acl_crud);
	RUN(t_history_ring);
	RUN(t_http_server);
	RUN(t_http_bind_error);
	if (tcfg)
		config_free(tcfg);
	return TEST_END("api");
}
