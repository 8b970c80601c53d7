/* Proxy metrics: sharded relaxed-atomic counters, a bounded per-user table
 * and the /metrics collector (see metrics.h). */
#include "api/metrics.h"

#include "api/prom.h"
#include "auth/auth.h"
#include "session/session_writer.h"
#include "csocks_build.h"
#include "util/histogram.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_SHARDS 16
#define AUTH_METHODS   5 /* enum auth_method: NONE .. GSSAPI */
#define REPLY_CODES    9 /* SOCKS5 reply codes 0x00 .. 0x08 */

/* RustSocks' buckets for session duration (seconds). */
static const double duration_bounds[] = {0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200};
/* Handshake: greeting to reply, loopback is well under a millisecond. */
static const double handshake_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_DURATION  (sizeof(duration_bounds) / sizeof(duration_bounds[0]))
#define N_HANDSHAKE (sizeof(handshake_bounds) / sizeof(handshake_bounds[0]))

/* One block per shard; a thread always writes the same shard. Aligned so
 * two shards never share a cache line. */
struct shard {
	int64_t active;
	uint64_t sessions;
	uint64_t rejected;
	uint64_t rejected_by[METRICS_REJECT_COUNT];
	uint64_t bytes_sent, bytes_received;
	uint64_t auth_fail[AUTH_METHODS];
	uint64_t acl_allow, acl_block;
	uint64_t connect_err[REPLY_CODES];
	uint64_t reload_ok, reload_fail;
	uint64_t store_dropped;
	uint64_t proxy_hdr_fail;
	struct histogram duration;
	struct histogram handshake;
} __attribute__((aligned(64)));

static struct shard shards[METRICS_SHARDS] = {
    [0 ... METRICS_SHARDS - 1] =
        {
            .duration = {.bounds = duration_bounds, .n_bounds = N_DURATION},
            .handshake = {.bounds = handshake_bounds, .n_bounds = N_HANDSHAKE},
        },
};

static unsigned next_shard;
static __thread int my_shard = -1;

static struct shard *shard_get(void)
{
	if (my_shard < 0)
		my_shard =
		    (int)(__atomic_fetch_add(&next_shard, 1, __ATOMIC_RELAXED) % METRICS_SHARDS);
	return &shards[my_shard];
}

static inline void add_u64(uint64_t *p, uint64_t n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

static inline uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* ---- per-user table: open addressing, grows to the label cap ---- */

struct user_entry {
	char *name; /* NULL = empty slot */
	uint64_t sessions, sent, received;
};

static pthread_mutex_t users_mu = PTHREAD_MUTEX_INITIALIZER;
static struct user_entry *users;
static size_t users_cap, users_n;
static uint32_t users_max = 1000;
static struct user_entry other; /* name unused */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct user_entry *slot_find(struct user_entry *tab, size_t cap, const char *name)
{
	size_t i = (size_t)hash_str(name) & (cap - 1);
	while (tab[i].name && strcmp(tab[i].name, name) != 0)
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

static void users_grow(void)
{
	size_t ncap = users_cap ? users_cap * 2 : 64;
	struct user_entry *nt = xcalloc(ncap, sizeof(*nt));
	for (size_t i = 0; i < users_cap; i++) {
		if (users[i].name)
			*slot_find(nt, ncap, users[i].name) = users[i];
	}
	free(users);
	users = nt;
	users_cap = ncap;
}

/* users_mu held. The entry for name, or the "other" bucket past the cap. */
static struct user_entry *user_entry(const char *name)
{
	if (!name || !*name)
		name = "anonymous";
	if (users_cap) {
		struct user_entry *e = slot_find(users, users_cap, name);
		if (e->name)
			return e;
	}
	if (users_n >= users_max)
		return &other;
	if ((users_n + 1) * 2 > users_cap)
		users_grow();
	struct user_entry *e = slot_find(users, users_cap, name);
	e->name = xstrdup(name);
	users_n++;
	return e;
}

static void user_count(const char *user, uint64_t sessions, uint64_t sent, uint64_t received)
{
	pthread_mutex_lock(&users_mu);
	struct user_entry *e = user_entry(user);
	e->sessions += sessions;
	e->sent += sent;
	e->received += received;
	pthread_mutex_unlock(&users_mu);
}

/* ---- recording ---- */

void metrics_session_opened(const char *user)
{
	struct shard *s = shard_get();
	__atomic_fetch_add(&s->active, 1, __ATOMIC_RELAXED);
	add_u64(&s->sessions, 1);
	user_count(user, 1, 0, 0);
}

void metrics_session_closed(const char *user, double duration_secs, uint64_t bytes_sent,
                            uint64_t bytes_received)
{
	struct shard *s = shard_get();
	__atomic_fetch_sub(&s->active, 1, __ATOMIC_RELAXED);
	add_u64(&s->bytes_sent, bytes_sent);
	add_u64(&s->bytes_received, bytes_received);
	histogram_observe(&s->duration, duration_secs);
	if (bytes_sent || bytes_received)
		user_count(user, 0, bytes_sent, bytes_received);
}

void metrics_rejected(const char *user, enum metrics_reject reason)
{
	struct shard *s = shard_get();
	if ((unsigned)reason >= METRICS_REJECT_COUNT)
		reason = METRICS_REJECT_OTHER;
	add_u64(&s->rejected, 1);
	add_u64(&s->rejected_by[reason], 1);
	user_count(user, 1, 0, 0);
}

void metrics_handshake_latency(double seconds)
{
	histogram_observe(&shard_get()->handshake, seconds);
}

void metrics_connect_error(int reply_code)
{
	if (reply_code < 1 || reply_code >= REPLY_CODES)
		reply_code = 1; /* anything odd is a general failure */
	add_u64(&shard_get()->connect_err[reply_code], 1);
}

void metrics_auth_failure(enum auth_method method)
{
	if ((unsigned)method >= AUTH_METHODS)
		return;
	add_u64(&shard_get()->auth_fail[method], 1);
}

void metrics_acl_decision(bool allow)
{
	struct shard *s = shard_get();
	add_u64(allow ? &s->acl_allow : &s->acl_block, 1);
}

void metrics_acl_reload(bool ok)
{
	struct shard *s = shard_get();
	add_u64(ok ? &s->reload_ok : &s->reload_fail, 1);
}

void metrics_store_dropped(uint64_t n)
{
	add_u64(&shard_get()->store_dropped, n);
}

void metrics_proxy_header_failure(void)
{
	add_u64(&shard_get()->proxy_hdr_fail, 1);
}

/* ---- reading ---- */

/* Everything but the histograms, summed over shards. */
struct sums {
	int64_t active;
	uint64_t sessions, rejected, rejected_by[METRICS_REJECT_COUNT];
	uint64_t bytes_sent, bytes_received;
	uint64_t auth_fail[AUTH_METHODS];
	uint64_t acl_allow, acl_block;
	uint64_t connect_err[REPLY_CODES];
	uint64_t reload_ok, reload_fail, store_dropped;
	uint64_t proxy_hdr_fail;
};

static void sum_shards(struct sums *o)
{
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < METRICS_SHARDS; i++) {
		const struct shard *s = &shards[i];
		o->active += __atomic_load_n(&s->active, __ATOMIC_RELAXED);
		o->sessions += ld(&s->sessions);
		o->rejected += ld(&s->rejected);
		for (size_t k = 0; k < METRICS_REJECT_COUNT; k++)
			o->rejected_by[k] += ld(&s->rejected_by[k]);
		o->bytes_sent += ld(&s->bytes_sent);
		o->bytes_received += ld(&s->bytes_received);
		for (size_t k = 0; k < AUTH_METHODS; k++)
			o->auth_fail[k] += ld(&s->auth_fail[k]);
		o->acl_allow += ld(&s->acl_allow);
		o->acl_block += ld(&s->acl_block);
		for (size_t k = 0; k < REPLY_CODES; k++)
			o->connect_err[k] += ld(&s->connect_err[k]);
		o->reload_ok += ld(&s->reload_ok);
		o->reload_fail += ld(&s->reload_fail);
		o->store_dropped += ld(&s->store_dropped);
		o->proxy_hdr_fail += ld(&s->proxy_hdr_fail);
	}
	if (o->active < 0) /* a close counted before its open was summed */
		o->active = 0;
}

void metrics_read_totals(struct metrics_totals *out)
{
	struct sums s;
	sum_shards(&s);
	out->active_sessions = s.active;
	out->sessions_total = s.sessions;
	out->rejected_total = s.rejected;
	out->bytes_sent = s.bytes_sent;
	out->bytes_received = s.bytes_received;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct user_entry *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/* Copy of the user table (sorted by name) plus "other" when it has
 * anything; caller frees the array and the names. */
static struct user_entry *users_copy(size_t *n)
{
	pthread_mutex_lock(&users_mu);
	struct user_entry *v = xcalloc(users_n + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < users_cap; i++) {
		if (users[i].name) {
			v[k] = users[i];
			v[k].name = xstrdup(users[i].name);
			k++;
		}
	}
	if (other.sessions || other.sent || other.received) {
		v[k] = other;
		v[k].name = NULL;
	}
	size_t n_named = k;
	bool has_other = other.sessions || other.sent || other.received;
	pthread_mutex_unlock(&users_mu);
	qsort(v, n_named, sizeof(*v), cmp_entry);
	if (has_other)
		v[n_named].name = xstrdup("other");
	*n = n_named + (has_other ? 1 : 0);
	return v;
}

static void collect_users(struct prom_writer *w)
{
	size_t n;
	struct user_entry *v = users_copy(&n);
	if (prom_family(w, "rustsocks_user_sessions_total",
	                "Total sessions attributed to each authenticated user",
	                PROM_COUNTER) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct prom_label l = {"user", v[i].name};
			prom_sample_u64(w, &l, 1, v[i].sessions);
		}
	}
	if (prom_family(w, "rustsocks_user_bandwidth_bytes_total",
	                "Total bytes transferred per user and direction", PROM_COUNTER) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct prom_label l[2] = {{"user", v[i].name}, {"direction", "sent"}};
			prom_sample_u64(w, l, 2, v[i].sent);
			l[1].value = "received";
			prom_sample_u64(w, l, 2, v[i].received);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static const char *const reject_names[METRICS_REJECT_COUNT] = {"acl", "auth", "limit", "other"};
static const char *const reply_names[REPLY_CODES] = {
    "0x00", "0x01", "0x02", "0x03", "0x04", "0x05", "0x06", "0x07", "0x08",
};

static int64_t start_wall_us;

void metrics_collect(struct prom_writer *w, void *arg)
{
	(void)arg;
	struct sums s;
	struct histogram_snapshot dur = {.bounds = duration_bounds, .n_bounds = N_DURATION};
	struct histogram_snapshot hs = {.bounds = handshake_bounds, .n_bounds = N_HANDSHAKE};
	sum_shards(&s);
	for (size_t i = 0; i < METRICS_SHARDS; i++) {
		histogram_snapshot_add(&dur, &shards[i].duration);
		histogram_snapshot_add(&hs, &shards[i].handshake);
	}

	prom_gauge(w, "rustsocks_active_sessions", "Number of currently active SOCKS5 sessions",
	           (double)s.active);
	prom_counter(w, "rustsocks_sessions_total",
	             "Total number of accepted SOCKS5 sessions since start", s.sessions);
	prom_counter(w, "rustsocks_sessions_rejected_total",
	             "Total number of rejected SOCKS5 sessions (e.g. ACL)", s.rejected);
	prom_histogram(w, "rustsocks_session_duration_seconds",
	               "Observed SOCKS5 session duration in seconds", &dur);
	prom_counter(w, "rustsocks_bytes_sent_total",
	             "Total bytes sent from client to upstream across all sessions", s.bytes_sent);
	prom_counter(w, "rustsocks_bytes_received_total",
	             "Total bytes received from upstream to client across all sessions",
	             s.bytes_received);
	collect_users(w);

	if (prom_family(w, "csocks_sessions_rejected_by_reason_total",
	                "Rejected SOCKS requests by reason", PROM_COUNTER) == 0) {
		for (size_t k = 0; k < METRICS_REJECT_COUNT; k++) {
			struct prom_label l = {"reason", reject_names[k]};
			prom_sample_u64(w, &l, 1, s.rejected_by[k]);
		}
	}
	if (prom_family(w, "csocks_auth_failures_total", "Failed authentication attempts by method",
	                PROM_COUNTER) == 0) {
		for (size_t k = 0; k < AUTH_METHODS; k++) {
			if (k == AUTH_GSSAPI)
				continue; /* parsed, never offered */
			struct prom_label l = {"method", auth_method_name((enum auth_method)k)};
			prom_sample_u64(w, &l, 1, s.auth_fail[k]);
		}
	}
	if (prom_family(w, "csocks_acl_decisions_total", "ACL evaluations by decision",
	                PROM_COUNTER) == 0) {
		struct prom_label l = {"decision", "allow"};
		prom_sample_u64(w, &l, 1, s.acl_allow);
		l.value = "block";
		prom_sample_u64(w, &l, 1, s.acl_block);
	}
	if (prom_family(w, "csocks_connect_errors_total",
	                "SOCKS5 failure replies sent, by reply code", PROM_COUNTER) == 0) {
		for (size_t k = 1; k < REPLY_CODES; k++) {
			struct prom_label l = {"code", reply_names[k]};
			prom_sample_u64(w, &l, 1, s.connect_err[k]);
		}
	}
	prom_histogram(w, "csocks_handshake_duration_seconds",
	               "Time from the client's greeting to the SOCKS reply, in seconds", &hs);
	if (prom_family(w, "csocks_acl_reloads_total", "ACL reload attempts by result",
	                PROM_COUNTER) == 0) {
		struct prom_label l = {"result", "success"};
		prom_sample_u64(w, &l, 1, s.reload_ok);
		l.value = "failure";
		prom_sample_u64(w, &l, 1, s.reload_fail);
	}
	prom_counter(w, "csocks_store_dropped_total",
	             "Session records the store writer dropped (queue full or permanent error)",
	             s.store_dropped);
	prom_counter(w, "csocks_proxy_header_failures_total",
	             "Connections closed for a missing or malformed PROXY protocol header",
	             s.proxy_hdr_fail);
	if (prom_family(w, "csocks_build_info", "csocks build information; always 1", PROM_GAUGE) ==
	    0) {
		struct prom_label l = {"version", CSOCKS_VERSION};
		prom_sample(w, &l, 1, 1);
	}
	prom_gauge(w, "csocks_start_time_seconds", "Start time of the process since the Unix epoch",
	           (double)start_wall_us / 1e6);
}

static bool registered;

int metrics_init(const struct csocks_config *cfg)
{
	pthread_mutex_lock(&users_mu);
	users_max = cfg ? cfg->metrics.max_user_labels : 1000;
	pthread_mutex_unlock(&users_mu);
	if (!start_wall_us)
		start_wall_us = time_wall_us();
	if (registered)
		return 0;
	if (prom_collector_add(metrics_collect, NULL) != 0)
		return -1;
	registered = true;
	return 0;
}

void metrics_fini(void)
{
	if (registered)
		prom_collector_del(metrics_collect, NULL);
	registered = false;
}

/* ---- The auth manager's counters (its own collector) ---- */

static void collect_auth(struct prom_writer *w, void *arg)
{
	struct auth_stats a;
	auth_manager_stats_get(arg, &a);
	prom_counter(w, "csocks_auth_attempts_total",
	             "Authentication attempts that checked credentials or an address", a.attempts);
	if (prom_family(w, "csocks_auth_results_total", "Authentication attempts by outcome",
	                PROM_COUNTER) == 0) {
		static const char *const names[] = {"ok", "credentials", "account", "throttled",
		                                    "error"};
		const uint64_t v[] = {a.ok, a.fail_credentials, a.fail_account, a.fail_throttled,
		                      a.fail_error};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			struct prom_label l = {"result", names[i]};
			prom_sample_u64(w, &l, 1, v[i]);
		}
	}
	prom_counter(w, "csocks_auth_lockouts_total",
	             "Client addresses locked out after failed logins", a.lockouts);
	prom_gauge(w, "csocks_auth_throttle_entries",
	           "Client addresses the login throttle currently tracks",
	           (double)a.throttle_entries);
	if (prom_family(w, "csocks_auth_group_cache_lookups_total",
	                "Group-membership cache lookups by result", PROM_COUNTER) == 0) {
		struct prom_label hit = {"result", "hit"}, miss = {"result", "miss"};
		prom_sample_u64(w, &hit, 1, a.group_cache_hits);
		prom_sample_u64(w, &miss, 1, a.group_cache_misses);
	}
}

int metrics_auth_register(struct auth_manager *m)
{
	return m ? prom_collector_add(collect_auth, m) : 0;
}

void metrics_auth_unregister(struct auth_manager *m)
{
	if (m)
		prom_collector_del(collect_auth, m);
}

/* ---- The session writer's counters (its own collector) ---- */

static void collect_store(struct prom_writer *w, void *arg)
{
	struct session_writer_stats st;
	session_writer_get_stats(arg, &st);
	prom_counter(w, "csocks_store_rows_written_total", "Session rows committed to the store",
	             st.written);
	prom_counter(w, "csocks_store_rows_failed_total",
	             "Session rows the database refused permanently", st.failed);
	prom_counter(w, "csocks_store_retries_total",
	             "Batch writes retried after a transient store error", st.retries);
	prom_counter(w, "csocks_store_batches_total", "Batches committed (one transaction each)",
	             st.batches);
	if (prom_family(w, "csocks_store_flush_seconds_total", "Time spent committing batches",
	                PROM_COUNTER) == 0)
		prom_sample(w, NULL, 0, (double)st.flush_total_us / 1e6);
	prom_gauge(w, "csocks_store_flush_seconds_max", "Longest batch commit so far",
	           (double)st.flush_max_us / 1e6);
	prom_gauge(w, "csocks_store_queue_depth", "Session records waiting for the writer",
	           (double)st.queue_depth);
	prom_gauge(w, "csocks_store_queue_capacity",
	           "Records the writer's queue holds before it drops", (double)st.queue_capacity);
	prom_gauge(w, "csocks_store_outage", "1 while the store is failing and the writer retries",
	           st.outage ? 1 : 0);
	prom_counter(w, "csocks_store_retention_deleted_total",
	             "Rows deleted by the retention cleanup", st.cleanup_deleted);
}

int metrics_store_register(struct session_writer *wr)
{
	return wr ? prom_collector_add(collect_store, wr) : 0;
}

void metrics_store_unregister(struct session_writer *wr)
{
	if (wr)
		prom_collector_del(collect_store, wr);
}

void metrics_reset_for_tests(uint32_t max_user_labels)
{
	for (size_t i = 0; i < METRICS_SHARDS; i++) {
		struct shard *s = &shards[i];
		memset(s, 0, sizeof(*s));
		s->duration.bounds = duration_bounds;
		s->duration.n_bounds = N_DURATION;
		s->handshake.bounds = handshake_bounds;
		s->handshake.n_bounds = N_HANDSHAKE;
	}
	pthread_mutex_lock(&users_mu);
	for (size_t i = 0; i < users_cap; i++)
		free(users[i].name);
	free(users);
	users = NULL;
	users_cap = users_n = 0;
	memset(&other, 0, sizeof(other));
	users_max = max_user_labels;
	pthread_mutex_unlock(&users_mu);
}
