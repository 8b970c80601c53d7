/* Proxy metrics: sharded relaxed-atomic counters, a bounded per-user table
 * and the /metrics collector (see metrics.h). */
#include "obs/metrics.h"

#include "obs/prom.h"
#include "csocks_build.h"
#include "obs/histogram.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "util/nametable.h"

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
	uint64_t sessions;    /* admitted (csocks_sessions_opened_total) */
	uint64_t established; /* success reply sent (rustsocks_sessions_total) */
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

/* ---- per-user table (util/nametable.h), capped at the label limit ---- */

struct user_counts {
	uint64_t sessions, sent, received;
};

struct user_entry { /* a copy for the collector */
	char *name;
	struct user_counts c;
};

static pthread_mutex_t users_mu = PTHREAD_MUTEX_INITIALIZER; /* guards the three below */
static struct nametable users;
static uint32_t users_max = 1000;
static struct user_counts other;

/* users_mu held. */
static void users_ready(void)
{
	if (!users.stride)
		nametable_init(&users, sizeof(struct user_counts), users_max);
}

/* users_mu held. The counters for name, or the "other" bucket past the cap. */
static struct user_counts *user_entry(const char *name)
{
	if (!name || !*name)
		name = "anonymous";
	if (users_max == 0)
		return &other;
	users_ready();
	void *c;
	return nametable_get(&users, name, &c) == NAMETABLE_FULL ? &other : c;
}

static void user_count(const char *user, uint64_t sessions, uint64_t sent, uint64_t received)
{
	pthread_mutex_lock(&users_mu);
	struct user_counts *e = user_entry(user);
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

void metrics_session_established(double handshake_seconds)
{
	struct shard *s = shard_get();
	add_u64(&s->established, 1);
	histogram_observe(&s->handshake, handshake_seconds);
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
	uint64_t sessions, established, rejected, rejected_by[METRICS_REJECT_COUNT];
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
		o->established += ld(&s->established);
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
	out->sessions_total = s.established;
	out->rejected_total = s.rejected_by[METRICS_REJECT_ACL];
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
	struct user_entry *v = xcalloc(nametable_count(&users) + 1, sizeof(*v));
	size_t k = 0, pos = 0;
	const char *name;
	void *c;
	while (nametable_next(&users, &pos, &name, &c)) {
		v[k].name = xstrdup(name);
		v[k].c = *(struct user_counts *)c;
		k++;
	}
	bool has_other = other.sessions || other.sent || other.received;
	if (has_other)
		v[k].c = other;
	pthread_mutex_unlock(&users_mu);
	qsort(v, k, sizeof(*v), cmp_entry);
	if (has_other)
		v[k].name = xstrdup("other");
	*n = k + (has_other ? 1 : 0);
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
			prom_sample_u64(w, &l, 1, v[i].c.sessions);
		}
	}
	if (prom_family(w, "rustsocks_user_bandwidth_bytes_total",
	                "Total bytes transferred per user and direction", PROM_COUNTER) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct prom_label l[2] = {{"user", v[i].name}, {"direction", "sent"}};
			prom_sample_u64(w, l, 2, v[i].c.sent);
			l[1].value = "received";
			prom_sample_u64(w, l, 2, v[i].c.received);
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
	/* RustSocks' meanings: a session counts once its tunnel is set up (the
	 * success reply); rejected means blocked by the ACL. csocks' finer
	 * counts are the csocks_* families below. */
	prom_counter(w, "rustsocks_sessions_total",
	             "Total number of SOCKS5 sessions established since start", s.established);
	prom_counter(w, "rustsocks_sessions_rejected_total",
	             "Total number of SOCKS5 requests rejected by the ACL",
	             s.rejected_by[METRICS_REJECT_ACL]);
	prom_counter(w, "csocks_sessions_opened_total",
	             "Requests admitted (a session opened), whether or not the connect succeeded",
	             s.sessions);
	prom_counter(w, "csocks_sessions_rejected_total",
	             "Requests refused for any reason (ACL, auth, limits, other)", s.rejected);
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
	users_ready();
	nametable_set_max(&users, users_max);
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
	nametable_fini(&users);
	memset(&other, 0, sizeof(other));
	users_max = max_user_labels;
	users_ready();
	nametable_set_max(&users, users_max);
	pthread_mutex_unlock(&users_mu);
}
