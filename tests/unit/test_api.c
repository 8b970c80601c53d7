/* Admin API unit tests: Prometheus writer, histogram, metrics, router,
 * token check, request pipeline (paging, error shapes, auth) with fake
 * sources, the metrics history ring, and one real HTTP round trip. */
#include "test.h"

#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "api/api_internal.h"
#include "api/api_extra.h"
#include "obs/telemetry.h"
#include "api/api_server.h"
#include "api/api_static.h"
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
#include <sys/stat.h>
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
	metrics_session_opened("carol");    /* past the cap of 2: "other" */
	metrics_session_established(0.002); /* alice's and carol's tunnels; bob's
	                                       connect is still pending */
	metrics_session_established(0.2);
	metrics_session_closed("alice", 2.0, 100, 2000);
	metrics_session_closed("carol", 0.2, 5, 7);
	metrics_rejected("mallory", METRICS_REJECT_ACL);
	metrics_rejected("eve", METRICS_REJECT_AUTH);
	metrics_connect_error(5);
	metrics_auth_failure(AUTH_USERPASS);
	metrics_acl_decision(true);
	metrics_acl_decision(false);
	metrics_acl_reload(true);
	metrics_store_dropped(3);
	struct metrics_totals t;
	metrics_read_totals(&t);
	CHECK_INT(t.active_sessions, 1);
	CHECK_INT(t.sessions_total, 2);
	CHECK_INT(t.rejected_total, 1);
	CHECK_INT(t.bytes_sent, 105);
	CHECK_INT(t.bytes_received, 2007);

	struct prom_writer *w = prom_writer_new();
	metrics_collect(w, NULL);
	size_t len;
	const char *s = prom_writer_text(w, &len);
	CHECK(contains(s, "rustsocks_active_sessions 1\n"));
	/* RustSocks: established sessions, ACL rejections; csocks: all. */
	CHECK(contains(s, "rustsocks_sessions_total 2\n"));
	CHECK(contains(s, "rustsocks_sessions_rejected_total 1\n"));
	CHECK(contains(s, "csocks_sessions_opened_total 3\n"));
	CHECK(contains(s, "csocks_sessions_rejected_total 2\n"));
	CHECK(contains(s, "csocks_sessions_rejected_by_reason_total{reason=\"auth\"} 1\n"));
	CHECK(contains(s, "rustsocks_bytes_sent_total 105\n"));
	CHECK(contains(s, "rustsocks_bytes_received_total 2007\n"));
	CHECK(contains(s, "rustsocks_session_duration_seconds_count 2\n"));
	CHECK(contains(s, "rustsocks_session_duration_seconds_bucket{le=\"0.5\"} 1\n"));
	CHECK(contains(s, "rustsocks_user_sessions_total{user=\"alice\"} 1\n"));
	CHECK(contains(s, "rustsocks_user_sessions_total{user=\"bob\"} 1\n"));
	CHECK(contains(s, "rustsocks_user_sessions_total{user=\"other\"} 3\n"));
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
		metrics_session_established(0.001);
		metrics_session_closed("u", 0.01, 1, 2);
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

/* csocks' "error" and RustSocks' {success: false, message}. */
static bool is_error_shape(json_t *j)
{
	return j && json_is_object(j) && json_is_string(json_object_get(j, "error")) &&
	       json_is_string(json_object_get(j, "message")) &&
	       json_is_false(json_object_get(j, "success"));
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

	/* RustSocks' reading: page_size clamped to 1..1000, page 0 is page 1,
	 * hours 0 is no window, an unknown status is an empty page. */
	static const struct {
		struct kv q[2];
		unsigned page, page_size, hours;
	} clamp[] = {
	    {{{"page_size", "5000"}, {NULL, NULL}}, 1, 1000, 0},
	    {{{"page_size", "0"}, {NULL, NULL}}, 1, 1, 0},
	    {{{"page", "0"}, {NULL, NULL}}, 1, SESSION_PAGE_SIZE_DEFAULT, 0},
	    {{{"hours", "0"}, {NULL, NULL}}, 1, SESSION_PAGE_SIZE_DEFAULT, 0},
	};
	for (size_t i = 0; i < sizeof(clamp) / sizeof(clamp[0]); i++) {
		memset(&last_q, 0, sizeof(last_q));
		j = call(st, "GET", "/api/sessions/history", clamp[i].q, NULL, NULL, &status);
		CHECK_INT(status, 200);
		CHECK_INT(last_q.page, clamp[i].page);
		CHECK_INT(last_q.page_size, clamp[i].page_size);
		CHECK_INT(last_q.hours, clamp[i].hours);
		CHECK_INT(json_integer_value(json_object_get(j, "page_size")), clamp[i].page_size);
		json_decref(j);
	}
	struct kv zombie[] = {{"status", "zombie"}, {NULL, NULL}};
	memset(&last_q, 0, sizeof(last_q));
	j = call(st, "GET", "/api/sessions/history", zombie, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK_INT(json_array_size(json_object_get(j, "data")), 0);
	CHECK_INT(json_integer_value(json_object_get(j, "total")), 0);
	CHECK_INT(last_q.page, 0); /* the store was not asked */
	json_decref(j);

	static const struct kv bad[][2] = {
	    {{"page", "x"}, {NULL, NULL}},      {{"page_size", "-5"}, {NULL, NULL}},
	    {{"hours", "1.5"}, {NULL, NULL}},   {{"sort_by", "password"}, {NULL, NULL}},
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
	CHECK_INT(json_object_size(paths),
	          24 + 11 + 1 + 1); /* + issue 24's routes, /api/config, reload-tls */
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
	CHECK_INT(req(st, "POST", "/api/acl/users", "{\"username\":\"bob\"}", &j), 400);
	CHECK(json_is_false(json_object_get(j, "success")));
	CHECK(strstr(json_string_value(json_object_get(j, "message")), "already exists") != NULL);
	json_decref(j);
	CHECK_INT(req(st, "POST", "/api/acl/groups", "{\"name\":\"ops\"}", NULL), 200);
	CHECK_INT(req(st, "POST", "/api/acl/groups/ops/rules",
	              "{\"action\":\"block\",\"destinations\":[\"*.example.com\"]}", NULL),
	          200);
	CHECK_STR(decide(st, "bob", "www.example.com", 443), "allow");
	CHECK_INT(req(st, "POST", "/api/acl/users/bob/groups", "{\"group_name\":\"ops\"}", NULL),
	          200);
	CHECK_STR(decide(st, "bob", "www.example.com", 443), "block");
	CHECK_INT(req(st, "POST", "/api/acl/users/bob/groups", "{\"group\":\"ops\"}", NULL), 400);
	CHECK_INT(
	    req(st, "POST", "/api/acl/users/bob/groups", "{\"group_name\":\"nogroup\"}", NULL),
	    400);
	/* RustSocks creates the user when it has no entry yet. */
	CHECK_INT(req(st, "POST", "/api/acl/users/carol/groups", "{\"group_name\":\"ops\"}", NULL),
	          200);
	CHECK_STR(decide(st, "carol", "www.example.com", 443), "block");
	CHECK_INT(req(st, "DELETE", "/api/acl/users/carol", NULL, NULL), 200);
	/* A duplicate rule (same destinations and ports) is refused. */
	CHECK_INT(req(st, "POST", "/api/acl/groups/ops/rules",
	              "{\"action\":\"allow\",\"destinations\":[\"*.example.com\"]}", &j),
	          400);
	CHECK(strstr(json_string_value(json_object_get(j, "message")), "already exists in group") !=
	      NULL);
	json_decref(j);
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
	/* Adding a rule to a group that does not exist creates it (RustSocks). */
	CHECK_INT(req(st, "POST", "/api/acl/groups/nope/rules",
	              "{\"action\":\"allow\",\"destinations\":[\"1.2.3.4\"]}", NULL),
	          200);
	CHECK_INT(req(st, "GET", "/api/acl/groups/nope", NULL, NULL), 200);
	CHECK_INT(req(st, "DELETE", "/api/acl/groups/nope", NULL, NULL), 200);
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
	struct metrics_history *h = metrics_history_new(1200, 1, false, NULL, err, sizeof(err));
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

/* ---- dashboard files (api_static.c) ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static struct api_resp get_static(struct api_state *st, const char *url, const char *ae,
                                  const char *inm)
{
	struct api_req rq = {.method = "GET",
	                     .url = url,
	                     .query = kv_get,
	                     .accept_encoding = ae,
	                     .if_none_match = inm};
	struct api_resp rs;
	api_handle(st, &rq, &rs);
	return rs;
}

static void resp_free(struct api_resp *rs)
{
	if (!rs->body_borrowed)
		free(rs->body);
}

static void t_static_gzip_header(void)
{
	CHECK(api_static_accepts_gzip("gzip"));
	CHECK(api_static_accepts_gzip("deflate, gzip;q=0.8, br"));
	CHECK(api_static_accepts_gzip("*"));
	CHECK(api_static_accepts_gzip("GZip"));
	CHECK(!api_static_accepts_gzip(NULL));
	CHECK(!api_static_accepts_gzip(""));
	CHECK(!api_static_accepts_gzip("br, deflate"));
	CHECK(!api_static_accepts_gzip("gzip;q=0"));
	CHECK(!api_static_accepts_gzip("gzip; q=0.000"));
	CHECK(!api_static_accepts_gzip("xgzip, gzipx"));
	CHECK_STR(api_static_content_type("index.html"), "text/html; charset=utf-8");
	CHECK_STR(api_static_content_type("/assets/a-1.js"), "text/javascript; charset=utf-8");
	CHECK_STR(api_static_content_type("a.CSS"), "text/css; charset=utf-8");
	CHECK_STR(api_static_content_type("noext"), "application/octet-stream");
}

static void t_static_serving(void)
{
	char root[] = "/tmp/csocks-static-XXXXXX";
	CHECK(mkdtemp(root) != NULL);
	char dist[600], assets[620];
	snprintf(dist, sizeof(dist), "%s/dist", root);
	snprintf(assets, sizeof(assets), "%s/assets", dist);
	CHECK(mkdir(dist, 0700) == 0 && mkdir(assets, 0700) == 0);
	write_file(root, "secret.txt", "do not serve");
	write_file(dist, "index.html", "<!doctype html><p>hi</p>");
	write_file(assets, "app-1a2b.js", "console.log(1)");
	write_file(assets, "app-1a2b.js.gz", "GZDATA");
	write_file(assets, ".hidden", "no");
	char link[700];
	snprintf(link, sizeof(link), "%s/evil.txt", assets);
	CHECK(symlink("../../secret.txt", link) == 0);

	char err[256] = "";
	struct api_static *s = api_static_load(root, err, sizeof(err));
	CHECK(s == NULL && strstr(err, "no index.html"));
	s = api_static_load(dist, err, sizeof(err));
	CHECK(s != NULL);
	CHECK_INT(api_static_count(s), 2); /* no .gz, hidden file or symlink entries */

	struct api_state *st = make_state("tok");
	st->dash = s;
	struct api_resp rs = get_static(st, "/", NULL, NULL);
	CHECK_INT(rs.status, 200);
	CHECK(rs.dashboard && rs.body_borrowed);
	CHECK_STR(rs.content_type, "text/html; charset=utf-8");
	CHECK_STR(rs.cache_control, "no-cache");
	CHECK(rs.len == strlen("<!doctype html><p>hi</p>") && memcmp(rs.body, "<!doctype", 9) == 0);
	CHECK(rs.etag[0] == '"' && rs.etag[strlen(rs.etag) - 1] == '"');
	char tag[40];
	cs_strlcpy(tag, rs.etag, sizeof(tag));
	resp_free(&rs);
	/* revalidation */
	rs = get_static(st, "/index.html", NULL, tag);
	CHECK_INT(rs.status, 304);
	CHECK_INT(rs.len, 0);
	resp_free(&rs);
	/* hashed asset: long cache; gzip only when accepted, with its own tag */
	rs = get_static(st, "/assets/app-1a2b.js", NULL, NULL);
	CHECK_INT(rs.status, 200);
	CHECK_STR(rs.content_type, "text/javascript; charset=utf-8");
	CHECK(strstr(rs.cache_control, "immutable") &&
	      strstr(rs.cache_control, "max-age=31536000"));
	CHECK(rs.content_encoding == NULL && rs.len == 14);
	cs_strlcpy(tag, rs.etag, sizeof(tag));
	resp_free(&rs);
	rs = get_static(st, "/assets/app-1a2b.js", "gzip, br", NULL);
	CHECK(rs.content_encoding && strcmp(rs.content_encoding, "gzip") == 0);
	CHECK(rs.len == 6 && memcmp(rs.body, "GZDATA", 6) == 0);
	CHECK(strcmp(rs.etag, tag) != 0);
	resp_free(&rs);
	/* nothing outside the table: traversal, encodings, symlinks, hidden */
	static const char *const bad[] = {
	    "/../secret.txt",
	    "/assets/../../secret.txt",
	    "/assets/%2e%2e/secret.txt",
	    "//secret.txt",
	    "/assets/evil.txt",
	    "/assets/.hidden",
	    "/assets/app-1a2b.js.gz",
	    "/assets/",
	    "/assets",
	    "/index.html/",
	    "/INDEX.HTML",
	    "/etc/passwd",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rs = get_static(st, bad[i], "gzip", NULL);
		CHECK_INT(rs.status, 404);
		CHECK(!rs.dashboard);
		resp_free(&rs);
	}
	/* the API is not shadowed, and still needs the token */
	rs = get_static(st, "/api/sessions/active", NULL, NULL);
	CHECK_INT(rs.status, 401);
	resp_free(&rs);
	/* base path: "/base" redirects to "/base/", assets live under it */
	cs_strlcpy(st->base, "/rustsocks", sizeof(st->base));
	rs = get_static(st, "/rustsocks", NULL, NULL);
	CHECK_INT(rs.status, 308);
	CHECK_STR(rs.location, "/rustsocks/");
	resp_free(&rs);
	rs = get_static(st, "/rustsocks/assets/app-1a2b.js", NULL, NULL);
	CHECK_INT(rs.status, 200);
	resp_free(&rs);
	rs = get_static(st, "/assets/app-1a2b.js", NULL, NULL);
	CHECK_INT(rs.status, 404);
	resp_free(&rs);
	st->base[0] = '\0';
	/* files missing: 503 on the page, 404 elsewhere, never a crash */
	st->dash = NULL;
	rs = get_static(st, "/", NULL, NULL);
	CHECK_INT(rs.status, 503);
	CHECK(strstr(rs.body, "build-dashboard.sh") != NULL);
	resp_free(&rs);
	rs = get_static(st, "/assets/app-1a2b.js", NULL, NULL);
	CHECK_INT(rs.status, 404);
	resp_free(&rs);
	/* dashboard off: plain 404 */
	((struct csocks_config *)st->cfg)->sessions.dashboard_enabled = false;
	st->dash = s;
	rs = get_static(st, "/", NULL, NULL);
	CHECK_INT(rs.status, 404);
	resp_free(&rs);
	((struct csocks_config *)st->cfg)->sessions.dashboard_enabled = true;
	st->dash = NULL;
	free_state(st);
	api_static_free(s);

	char found[4096];
	CHECK(api_static_find_dir(dist, found, sizeof(found), err, sizeof(err)) == 0);
	CHECK_STR(found, dist);
	CHECK(api_static_find_dir(root, found, sizeof(found), err, sizeof(err)) == -1);
	CHECK(strstr(err, "sessions.dashboard_dir") != NULL);

	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

/* ---- issue 24: the dashboard's routes ---- */

struct xreq {
	const char *method, *url, *auth, *cookie, *xrw, *origin, *host, *sfs, *body, *ip;
};

static json_t *xcall(struct api_state *st, const struct xreq *x, int *status, char *cookie_out,
                     size_t cookie_size)
{
	struct api_req rq = {.method = x->method,
	                     .url = x->url,
	                     .query = kv_get,
	                     .authorization = x->auth,
	                     .cookie = x->cookie,
	                     .x_requested_with = x->xrw,
	                     .origin = x->origin,
	                     .host = x->host,
	                     .sec_fetch_site = x->sfs,
	                     .client_ip = x->ip ? x->ip : "192.0.2.1",
	                     .body = x->body,
	                     .body_len = x->body ? strlen(x->body) : 0};
	struct api_resp rs;
	api_handle(st, &rq, &rs);
	*status = rs.status;
	if (cookie_out)
		cs_strlcpy(cookie_out, rs.set_cookie, cookie_size);
	json_t *j = json_loadb(rs.body, rs.len, 0, NULL);
	free(rs.body);
	return j;
}

static bool is_fail_shape(json_t *j)
{
	return json_is_false(json_object_get(j, "success")) &&
	       json_is_string(json_object_get(j, "message")) &&
	       json_is_string(json_object_get(j, "error"));
}

static void t_cookie_and_csrf(void)
{
	char v[80];
	CHECK(api_cookie_get("a=1; rustsocks_session=abc; b=2", "rustsocks_session", v, sizeof(v)));
	CHECK_STR(v, "abc");
	CHECK(api_cookie_get("rustsocks_session=xyz", "rustsocks_session", v, sizeof(v)));
	CHECK_STR(v, "xyz");
	CHECK(!api_cookie_get("xrustsocks_session=1", "rustsocks_session", v, sizeof(v)));
	CHECK(!api_cookie_get("rustsocks_sessionx=1", "rustsocks_session", v, sizeof(v)));
	CHECK(!api_cookie_get("", "rustsocks_session", v, sizeof(v)));
	CHECK(!api_cookie_get("rustsocks_session=0123456789", "rustsocks_session", v, 4));

	struct api_req rq = {.method = "POST"};
	CHECK(!api_csrf_ok(&rq));
	rq.x_requested_with = "XMLHttpRequest";
	CHECK(api_csrf_ok(&rq));
	rq.x_requested_with = NULL;
	rq.sec_fetch_site = "cross-site";
	CHECK(!api_csrf_ok(&rq));
	rq.sec_fetch_site = "same-origin";
	CHECK(api_csrf_ok(&rq));
	rq.sec_fetch_site = NULL;
	rq.origin = "http://127.0.0.1:9090";
	rq.host = "127.0.0.1:9090";
	CHECK(api_csrf_ok(&rq));
	rq.origin = "http://evil.example:9090";
	CHECK(!api_csrf_ok(&rq));
	rq.origin = "null";
	CHECK(!api_csrf_ok(&rq));
}

static void t_login_sessions(void)
{
	struct api_state *st = make_state("tok");
	st->auth = api_auth_new();
	struct cfg_dash_user u = {.username = "admin", .password = "pw1"};
	tcfg->sessions.dashboard_auth.users = &u;
	tcfg->sessions.dashboard_auth.n_users = 1;
	int status;
	char sc[512], cookie[128];
	/* a dashboard_auth user */
	struct xreq x = {.method = "POST",
	                 .url = "/api/auth/login",
	                 .body = "{\"username\":\"admin\",\"password\":\"pw1\"}"};
	json_t *j = xcall(st, &x, &status, sc, sizeof(sc));
	CHECK_INT(status, 200);
	CHECK(json_is_true(json_object_get(j, "success")));
	CHECK_STR(json_string_value(json_object_get(j, "username")), "admin");
	json_decref(j);
	CHECK(contains(sc, "rustsocks_session="));
	CHECK(contains(sc, "HttpOnly"));
	CHECK(contains(sc, "SameSite=Strict"));
	CHECK(contains(sc, "Max-Age=86400"));
	CHECK(!strstr(sc, "Secure"));
	const char *id = sc + strlen("rustsocks_session=");
	CHECK_INT(strcspn(id, ";"), 64);
	snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(sc, ";"), sc);

	/* the cookie authorises reads, and /api/auth/check says who */
	struct xreq r = {.method = "GET", .url = "/api/sessions/active", .cookie = cookie};
	j = xcall(st, &r, &status, NULL, 0);
	CHECK_INT(status, 200);
	json_decref(j);
	r.url = "/api/auth/check";
	j = xcall(st, &r, &status, NULL, 0);
	CHECK(json_is_true(json_object_get(j, "authenticated")));
	CHECK_STR(json_string_value(json_object_get(j, "username")), "admin");
	json_decref(j);
	/* a state-changing route by cookie needs the CSRF signal */
	struct xreq w = {
	    .method = "POST", .url = "/api/sessions/" ID1 "/terminate", .cookie = cookie};
	j = xcall(st, &w, &status, NULL, 0);
	CHECK_INT(status, 403);
	CHECK(is_fail_shape(j));
	CHECK_STR(json_string_value(json_object_get(j, "error")), "csrf");
	json_decref(j);
	w.xrw = "XMLHttpRequest";
	j = xcall(st, &w, &status, NULL, 0);
	CHECK_INT(status, 200);
	json_decref(j);
	/* the bearer token needs no CSRF signal */
	struct xreq bt = {
	    .method = "POST", .url = "/api/sessions/" ID1 "/terminate", .auth = "Bearer tok"};
	j = xcall(st, &bt, &status, NULL, 0);
	CHECK_INT(status, 200);
	json_decref(j);
	/* a forged or unknown cookie is nothing */
	struct xreq f = {.method = "GET",
	                 .url = "/api/sessions/active",
	                 .cookie =
	                     "rustsocks_session="
	                     "0000000000000000000000000000000000000000000000000000000000000000"};
	j = xcall(st, &f, &status, NULL, 0);
	CHECK_INT(status, 401);
	json_decref(j);
	/* logout ends it */
	struct xreq lo = {.method = "POST", .url = "/api/auth/logout", .cookie = cookie};
	j = xcall(st, &lo, &status, sc, sizeof(sc));
	CHECK_INT(status, 200);
	CHECK(contains(sc, "Max-Age=0"));
	json_decref(j);
	j = xcall(st, &r, &status, NULL, 0);
	CHECK(json_is_false(json_object_get(j, "authenticated")));
	json_decref(j);
	r.url = "/api/sessions/active";
	j = xcall(st, &r, &status, NULL, 0);
	CHECK_INT(status, 401);
	json_decref(j);
	/* the API token works as a password too */
	x.body = "{\"username\":\"ops\",\"password\":\"tok\"}";
	j = xcall(st, &x, &status, NULL, 0);
	CHECK_INT(status, 200);
	json_decref(j);
	/* bad bodies */
	x.body = "{\"username\":\"admin\"}";
	j = xcall(st, &x, &status, NULL, 0);
	CHECK_INT(status, 400);
	CHECK(is_fail_shape(j));
	json_decref(j);
	/* wrong passwords: 401 until auth.throttle.max_attempts, then 429 for that IP only */
	x.body = "{\"username\":\"admin\",\"password\":\"nope\"}";
	x.ip = "198.51.100.7";
	for (uint32_t i = 0; i < tcfg->auth.throttle.max_attempts; i++) {
		j = xcall(st, &x, &status, NULL, 0);
		CHECK_INT(status, 401);
		CHECK_STR(json_string_value(json_object_get(j, "message")),
		          "Invalid username or password");
		json_decref(j);
	}
	x.body = "{\"username\":\"admin\",\"password\":\"pw1\"}";
	j = xcall(st, &x, &status, NULL, 0);
	CHECK_INT(status, 429);
	CHECK(is_fail_shape(j));
	json_decref(j);
	x.ip = "198.51.100.8";
	j = xcall(st, &x, &status, NULL, 0);
	CHECK_INT(status, 200);
	json_decref(j);
	/* altcha: disabled, cleanly */
	struct xreq al = {.method = "GET", .url = "/api/auth/altcha-config"};
	j = xcall(st, &al, &status, NULL, 0);
	CHECK_INT(status, 200);
	CHECK(json_is_false(json_object_get(j, "enabled")));
	json_decref(j);
	al.url = "/api/auth/altcha-challenge";
	j = xcall(st, &al, &status, NULL, 0);
	CHECK_INT(status, 404);
	json_decref(j);
	tcfg->sessions.dashboard_auth.users = NULL;
	tcfg->sessions.dashboard_auth.n_users = 0;
	api_auth_free(st->auth);
	st->auth = NULL;
	free_state(st);
}

static void t_telemetry_ring(void)
{
	struct telemetry_event *ev;
	size_t n;
	telemetry_reset();
	telemetry_record(TELEMETRY_INFO, "x", "not configured: dropped");
	CHECK_INT(telemetry_snapshot(0, &ev, &n), 0);
	CHECK_INT(n, 0);
	free(ev);
	CHECK_INT(telemetry_configure(1, 3, 6), 0);
	for (int i = 0; i < 5; i++)
		telemetry_record(i == 4 ? TELEMETRY_ERROR : TELEMETRY_INFO, "acl", "event %d", i);
	CHECK_INT(telemetry_snapshot(0, &ev, &n), 0);
	CHECK_INT(n, 3);
	CHECK_STR(ev[0].message, "event 2");
	CHECK_STR(ev[2].message, "event 4");
	free(ev);
	/* shrinking keeps the newest */
	CHECK_INT(telemetry_configure(1, 2, 6), 0);
	CHECK_INT(telemetry_snapshot(0, &ev, &n), 0);
	CHECK_INT(n, 2);
	CHECK_STR(ev[0].message, "event 3");
	free(ev);
	/* through the API: newest first, filters, RustSocks' fields */
	struct api_state *st = make_state(NULL);
	int status;
	struct kv q[] = {{"severity", "error"}, {NULL, NULL}};
	json_t *j = call(st, "GET", "/api/telemetry/events", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK_INT(json_array_size(j), 2);
	json_t *e0 = json_array_get(j, 0);
	CHECK_STR(json_string_value(json_object_get(e0, "message")), "event 4");
	CHECK_STR(json_string_value(json_object_get(e0, "severity")), "error");
	CHECK_STR(json_string_value(json_object_get(e0, "category")), "acl");
	CHECK(json_is_string(json_object_get(e0, "timestamp")));
	json_decref(j);
	j = call(st, "GET", "/api/telemetry/events", q, NULL, NULL, &status);
	CHECK_INT(json_array_size(j), 1);
	json_decref(j);
	struct kv bad[] = {{"severity", "fatal"}, {NULL, NULL}};
	j = call(st, "GET", "/api/telemetry/events", bad, NULL, NULL, &status);
	CHECK_INT(status, 400);
	json_decref(j);
	/* disabled: records nothing */
	CHECK_INT(telemetry_configure(0, 2, 6), 0);
	telemetry_record(TELEMETRY_INFO, "x", "dropped");
	CHECK_INT(telemetry_snapshot(0, &ev, &n), 0);
	CHECK_INT(n, 2);
	free(ev);
	telemetry_reset();
	free_state(st);
}

static int deny_port9(void *ctx, const struct acl_request *rq, struct api_acl_verdict *out,
                      char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	memset(out, 0, sizeof(*out));
	out->allow = rq->port != 9 && strcmp(rq->user, "anonymous") == 0;
	out->default_policy = !out->allow;
	return 0;
}

static void t_system_routes(void)
{
	struct api_state *st = make_state("tok");
	int status;
	json_t *j = call(st, "GET", "/api/system/resources", NULL, "Bearer tok", NULL, &status);
	CHECK_INT(status, 200);
	static const char *const f[] = {
	    "system_cpu_percent",    "system_ram_percent",  "system_ram_total_bytes",
	    "system_ram_used_bytes", "process_cpu_percent", "process_ram_bytes",
	    "process_threads",       "process_open_fds",    "process_uptime_seconds"};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		CHECK(json_is_number(json_object_get(j, f[i])));
	CHECK(json_integer_value(json_object_get(j, "system_ram_total_bytes")) > 0);
	CHECK(json_integer_value(json_object_get(j, "process_ram_bytes")) > 0);
	CHECK(json_integer_value(json_object_get(j, "process_threads")) >= 1);
	CHECK(json_integer_value(json_object_get(j, "process_open_fds")) >= 3);
	json_decref(j);

	/* the probe: validation, the ACL, then a real connect */
	st->src.acl_evaluate = deny_port9;
	const char *bodies[][2] = {
	    {"{\"address\":\"\",\"port\":80}", "empty_address"},
	    {"{\"address\":\"127.0.0.1\",\"port\":0}", "invalid_port"},
	    {"{\"address\":\"example.com\",\"port\":80}", "invalid_ip"},
	};
	for (size_t i = 0; i < 3; i++) {
		j = call(st, "POST", "/api/diagnostics/connectivity", NULL, "Bearer tok",
		         bodies[i][0], &status);
		CHECK_INT(status, 400);
		CHECK_STR(json_string_value(json_object_get(j, "error")), bodies[i][1]);
		CHECK(json_is_false(json_object_get(j, "success")));
		json_decref(j);
	}
	j = call(st, "POST", "/api/diagnostics/connectivity", NULL, "Bearer tok",
	         "{\"address\":\"127.0.0.1\",\"port\":9}", &status);
	CHECK_INT(status, 403);
	CHECK_STR(json_string_value(json_object_get(j, "error")), "acl_blocked");
	json_decref(j);
	j = call(st, "POST", "/api/diagnostics/connectivity", NULL, "Bearer tok",
	         "{\"address\":\"127.0.0.1\",\"port\":80,\"user\":\"bob\"}", &status);
	CHECK_INT(status, 403);
	json_decref(j);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	char body[128];
	snprintf(body, sizeof(body), "{\"address\":\"127.0.0.1\",\"port\":%u,\"timeout_ms\":2000}",
	         ntohs(sa.sin_port));
	j = call(st, "POST", "/api/diagnostics/connectivity", NULL, "Bearer tok", body, &status);
	CHECK_INT(status, 200);
	CHECK(json_is_true(json_object_get(j, "success")));
	CHECK(json_is_integer(json_object_get(j, "latency_ms")));
	json_decref(j);
	close(lfd);
	j = call(st, "POST", "/api/diagnostics/connectivity", NULL, "Bearer tok", body, &status);
	CHECK_INT(status, 200);
	CHECK(json_is_false(json_object_get(j, "success")));
	CHECK(contains(json_string_value(json_object_get(j, "message")), "Connection failed"));
	json_decref(j);
	/* swagger-ui: an offline page, and 404 when disabled */
	struct api_req rq = {.method = "GET", .url = "/swagger-ui/", .query = kv_get};
	struct api_resp rs;
	api_handle(st, &rq, &rs);
	CHECK_INT(rs.status, 200);
	CHECK_STR(rs.content_type, "text/html; charset=utf-8");
	CHECK(contains(rs.body, "/openapi.json"));
	CHECK(!strstr(rs.body, "https://"));
	free(rs.body);
	tcfg->sessions.swagger_enabled = false;
	api_handle(st, &rq, &rs);
	CHECK_INT(rs.status, 404);
	free(rs.body);
	tcfg->sessions.swagger_enabled = true;
	free_state(st);
	/* without a token: the probe and config-file GET are refused */
	st = make_state(NULL);
	j = call(st, "POST", "/api/diagnostics/connectivity", NULL, NULL, body, &status);
	CHECK_INT(status, 403);
	json_decref(j);
	j = call(st, "GET", "/api/admin/config-file", NULL, NULL, NULL, &status);
	CHECK_INT(status, 403);
	json_decref(j);
	j = call(st, "GET", "/api/admin/runtime-config", NULL, NULL, NULL, &status);
	CHECK_INT(status, 200);
	CHECK(json_is_object(json_object_get(j, "telemetry")));
	CHECK(json_is_true(json_object_get(json_object_get(j, "telemetry"), "enabled")));
	CHECK(json_is_false(json_object_get(j, "editable")));
	json_decref(j);
	free_state(st);
}

static void t_config_text(void)
{
	const char *text = "[api]\ntoken = \"s3cret\" # the token\n"
	                   "[sessions]\ndatabase_url = \"postgresql://u:pw@db:5432/x\"\n"
	                   "[[auth.users]]\nusername = \"a\"\npassword = \"one\"\n"
	                   "[[auth.users]]\nusername = \"b\"\npassword = 'two'\n";
	char *red = api_config_redact(text);
	CHECK(!strstr(red, "s3cret"));
	CHECK(!strstr(red, ":pw@"));
	CHECK(!strstr(red, "one"));
	CHECK(!strstr(red, "two"));
	CHECK(contains(red, "token = \"<redacted>\" # the token"));
	CHECK(contains(red, "postgresql://u:<redacted>@db:5432/x"));
	char err[256];
	char *back = api_config_unredact(red, text, err, sizeof(err));
	CHECK(back && strcmp(back, text) == 0);
	free(back);
	/* a changed secret stays changed; a placeholder with no original fails */
	char *edited = api_config_unredact("[api]\ntoken = \"new\"\n", text, err, sizeof(err));
	CHECK(edited && contains(edited, "token = \"new\""));
	free(edited);
	CHECK(api_config_unredact("[x]\ntoken = \"<redacted>\"\n", text, err, sizeof(err)) == NULL);
	CHECK(contains(err, "x.token"));
	free(red);

	char path[] = "/tmp/csocks_cfg_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(chmod(path, 0640), 0);
	CHECK_INT(api_write_atomic(path, "a = 1\n", 6), 0);
	struct stat sb;
	CHECK_INT(stat(path, &sb), 0);
	CHECK_INT(sb.st_mode & 0777, 0640);
	CHECK_INT(sb.st_size, 6);
	unlink(path);
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
	RUN(t_static_gzip_header);
	RUN(t_static_serving);
	RUN(t_acl_crud);
	RUN(t_history_ring);
	RUN(t_http_server);
	RUN(t_http_bind_error);
	RUN(t_cookie_and_csrf);
	RUN(t_login_sessions);
	RUN(t_telemetry_ring);
	RUN(t_system_routes);
	RUN(t_config_text);
	if (tcfg)
		config_free(tcfg);
	return TEST_END("api");
}
