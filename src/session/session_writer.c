/* The session writer thread (see session_writer.h for the contract).
 *
 * The queue is a ring of pointers sized queue_capacity, allocated once.
 * A submit copies the record into one malloc'd block outside the lock and
 * then holds the mutex only to store a pointer, so a worker's cost is a
 * malloc, a memcpy and an uncontended lock. The thread takes up to
 * batch_size pointers at a time, writes them with the lock released, and
 * frees them once committed (or given up). */
#include "session/session_writer.h"

#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DROP_LOG_INTERVAL_MS 10000
#define CLEANUP_RETRY_MS     ((int64_t)5 * 60 * 1000)
#define START_BUSY_WAIT_MS   5000 /* a locked SQLite file at start: wait this long */
#define CLEANUP_CHUNK        5000 /* rows per retention transaction */
/* Behind by more than a batch, the writer commits up to this many batches'
 * worth of queued records in one transaction (never more than TAKE_MAX
 * records, never fewer than batch_size): each transaction rewrites every
 * index page it touches, so with real traffic's scattered users and
 * destinations bigger commits cost far less per row (docs/sessions.md). */
#define TAKE_BATCHES 8
#define TAKE_MAX     20000

struct session_writer {
	struct session_writer_options o;
	char *url, *node;
	struct session_store *store;  /* the thread's connection */
	struct session_store *reader; /* the API's; == store for ":memory:" */
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t wake;    /* work queued / flush / stop */
	pthread_cond_t stopped; /* stop only: interrupts backoff sleeps */
	struct session_record **ring;
	size_t cap, head, count;
	struct session_record **batch; /* thread-private: the batch being written */
	size_t take_max;               /* records per transaction when behind */
	bool stopping, flush_req;
	int64_t stop_deadline_ms; /* monotonic */

	/* counters: written by one thread, read by any */
	_Atomic uint64_t submitted, written, dropped, failed, retries, batches;
	_Atomic uint64_t flush_last_us, flush_max_us, flush_total_us, cleanup_deleted;
	_Atomic bool outage;

	/* thread-private */
	uint64_t drops_logged;
	int64_t drops_logged_at_ms;
	int64_t outage_since_ms;
	uint64_t outage_retries;
};

/* ---- Time helpers ---- */

static struct timespec abs_mono(int64_t deadline_ms)
{
	struct timespec ts = {.tv_sec = deadline_ms / 1000,
	                      .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
	return ts;
}

static void wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ms)
{
	struct timespec ts = abs_mono(deadline_ms);
	pthread_cond_timedwait(c, m, &ts);
}

static bool past_stop_deadline(struct session_writer *w)
{
	pthread_mutex_lock(&w->lock);
	bool past = w->stopping && time_mono_ms() >= w->stop_deadline_ms;
	pthread_mutex_unlock(&w->lock);
	return past;
}

/* ---- Logging that must not flood ---- */

static void report_drops(struct session_writer *w, bool force)
{
	uint64_t d = atomic_load_explicit(&w->dropped, memory_order_relaxed);
	int64_t now = time_mono_ms();
	if (d == w->drops_logged)
		return;
	if (!force && w->drops_logged_at_ms && now - w->drops_logged_at_ms < DROP_LOG_INTERVAL_MS)
		return;
	log_warn("session writer: queue full (capacity %zu), dropped %" PRIu64
	         " session records (%" PRIu64 " in total)",
	         w->cap, d - w->drops_logged, d);
	w->drops_logged = d;
	w->drops_logged_at_ms = now;
}

static void note_outage(struct session_writer *w, size_t n, const char *err)
{
	w->outage_retries++;
	atomic_fetch_add(&w->retries, 1);
	if (atomic_load(&w->outage))
		return;
	atomic_store(&w->outage, true);
	w->outage_since_ms = time_mono_ms();
	log_error("session store %s unavailable: %s; keeping %zu records and retrying",
	          session_store_backend(w->store), err, n);
}

static void note_recovery(struct session_writer *w)
{
	if (!atomic_load(&w->outage))
		return;
	atomic_store(&w->outage, false);
	log_info("session store %s recovered after %.1f s (%" PRIu64 " retries)",
	         session_store_backend(w->store),
	         (double)(time_mono_ms() - w->outage_since_ms) / 1000.0, w->outage_retries);
	w->outage_retries = 0;
}

/* ---- Writing ---- */

static void record_success(struct session_writer *w, size_t n, int64_t t0_us)
{
	uint64_t us = (uint64_t)(time_mono_us() - t0_us);
	atomic_fetch_add(&w->written, n);
	atomic_fetch_add(&w->batches, 1);
	atomic_store(&w->flush_last_us, us);
	atomic_fetch_add(&w->flush_total_us, us);
	uint64_t max = atomic_load(&w->flush_max_us);
	if (us > max)
		atomic_store(&w->flush_max_us, us);
}

/* Sleep for the backoff, but never past the stop deadline. */
static void backoff_sleep(struct session_writer *w, uint32_t ms)
{
	pthread_mutex_lock(&w->lock);
	int64_t until = time_mono_ms() + ms;
	if (w->stopping && w->stop_deadline_ms < until)
		until = w->stop_deadline_ms;
	if (!w->stopping || time_mono_ms() < until)
		wait_until(&w->stopped, &w->lock, until);
	pthread_mutex_unlock(&w->lock);
}

/* Write recs[0..n) until committed, refused for good, or the stop deadline
 * passes. Returns the number of records NOT written (dropped). */
static size_t write_with_retry(struct session_writer *w, struct session_record **recs, size_t n)
{
	uint32_t backoff = w->o.retry_min_ms;
	char err[512];
	for (;;) {
		int64_t t0 = time_mono_us();
		err[0] = '\0';
		int rc = session_store_write_batch(
		    w->store, (const struct session_record *const *)recs, n, err, sizeof(err));
		if (rc == STORE_OK) {
			record_success(w, n, t0);
			note_recovery(w);
			return 0;
		}
		if (!store_result_transient(rc)) {
			note_recovery(w); /* the database answered */
			if (n == 1) {
				atomic_fetch_add(&w->failed, 1);
				log_warn("session writer: record %s refused: %s",
				         recs[0]->session_id, err);
				return 0;
			}
			/* One bad row must not sink its batch: write them one by one. */
			size_t lost = 0;
			for (size_t i = 0; i < n; i++)
				lost += write_with_retry(w, &recs[i], 1);
			return lost;
		}
		note_outage(w, n, err);
		report_drops(w, false);
		if (past_stop_deadline(w))
			return n;
		if (rc == STORE_ERR_CONN)
			session_store_reconnect(w->store, NULL,
			                        0); /* failure = next attempt fails */
		backoff_sleep(w, backoff);
		backoff = backoff * 2 > w->o.retry_max_ms ? w->o.retry_max_ms : backoff * 2;
	}
}

static void flush_batch(struct session_writer *w, struct session_record **batch, size_t n)
{
	size_t lost = write_with_retry(w, batch, n);
	if (lost) {
		atomic_fetch_add(&w->dropped, lost);
		log_error("session writer: stop deadline passed, %zu session records not written",
		          lost);
	}
	for (size_t i = 0; i < n; i++)
		free(batch[i]);
}

/* With the lock held: move what is queued, up to take_max records, from
 * the ring into w->batch. */
static size_t take_batch(struct session_writer *w)
{
	size_t n = w->count < w->take_max ? w->count : w->take_max;
	for (size_t i = 0; i < n; i++) {
		w->batch[i] = w->ring[w->head];
		w->head = (w->head + 1) % w->cap;
	}
	w->count -= n;
	if (w->count == 0)
		w->flush_req = false;
	return n;
}

/* Between retention chunks: write a full batch if one is waiting, so a
 * long purge delays sessions by one chunk at most. */
static void flush_if_full(struct session_writer *w)
{
	pthread_mutex_lock(&w->lock);
	size_t n = w->count >= w->o.batch_size ? take_batch(w) : 0;
	pthread_mutex_unlock(&w->lock);
	if (n)
		flush_batch(w, w->batch, n);
}

static bool stopping(struct session_writer *w)
{
	pthread_mutex_lock(&w->lock);
	bool s = w->stopping;
	pthread_mutex_unlock(&w->lock);
	return s;
}

static void run_cleanup(struct session_writer *w, int64_t *next_ms)
{
	int64_t interval = (int64_t)w->o.cleanup_interval_hours * 3600 * 1000;
	*next_ms = time_mono_ms() + interval;
	if (w->o.retention_days == 0)
		return;
	char err[512];
	uint64_t total = 0, deleted;
	int64_t cutoff = time_wall_us() - (int64_t)w->o.retention_days * 86400 * 1000000;
	do {
		deleted = 0;
		int rc = session_store_delete_older_than(w->store, cutoff, CLEANUP_CHUNK, &deleted,
		                                         err, sizeof(err));
		if (rc != STORE_OK) {
			log_warn("session retention cleanup failed (retrying in 5 min): %s", err);
			*next_ms = time_mono_ms() +
			           (interval < CLEANUP_RETRY_MS ? interval : CLEANUP_RETRY_MS);
			break;
		}
		total += deleted;
		atomic_fetch_add(&w->cleanup_deleted, deleted);
		flush_if_full(w);
	} while (deleted == CLEANUP_CHUNK && !stopping(w));
	if (total)
		log_info("session retention: deleted %" PRIu64 " sessions older than %u days",
		         total, w->o.retention_days);
}

/* ---- The thread ---- */

/* With the lock held: sleep until there is something to do. */
static void wait_for_work(struct session_writer *w, int64_t last_flush_ms, int64_t next_cleanup_ms)
{
	while (!w->stopping && !w->flush_req && w->count < w->o.batch_size) {
		int64_t now = time_mono_ms();
		int64_t due = next_cleanup_ms;
		if (w->count > 0 && last_flush_ms + w->o.batch_interval_ms < due)
			due = last_flush_ms + w->o.batch_interval_ms;
		if (now >= due)
			return;
		wait_until(&w->wake, &w->lock, due);
	}
}

static void *writer_main(void *arg)
{
	struct session_writer *w = arg;
	int64_t next_cleanup, last_flush = time_mono_ms();
	/* Records wait in the queue while workers need the CPUs; the writer
	 * catches up when they don't (the queue absorbs bursts). */
	thread_set_background(10);
	run_cleanup(w, &next_cleanup);

	pthread_mutex_lock(&w->lock);
	for (;;) {
		wait_for_work(w, last_flush, next_cleanup);
		if (w->stopping && (w->count == 0 || time_mono_ms() >= w->stop_deadline_ms))
			break;
		if (!w->stopping && time_mono_ms() >= next_cleanup) {
			pthread_mutex_unlock(&w->lock);
			run_cleanup(w, &next_cleanup);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		bool due = w->stopping || w->flush_req || w->count >= w->o.batch_size ||
		           time_mono_ms() >= last_flush + w->o.batch_interval_ms;
		if (!due || w->count == 0) {
			if (w->count == 0) {
				w->flush_req = false;
				last_flush = time_mono_ms();
			}
			continue;
		}
		size_t n = take_batch(w);
		pthread_mutex_unlock(&w->lock);

		flush_batch(w, w->batch, n);
		report_drops(w, false);
		last_flush = time_mono_ms();
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	report_drops(w, true);
	return NULL;
}

/* ---- Public ---- */

static void apply_defaults(struct session_writer_options *o)
{
	if (!o->batch_size)
		o->batch_size = SESSION_WRITER_BATCH_SIZE_DEFAULT;
	if (!o->batch_interval_ms)
		o->batch_interval_ms = SESSION_WRITER_BATCH_INTERVAL_DEFAULT;
	if (!o->cleanup_interval_hours)
		o->cleanup_interval_hours = 24;
	if (!o->queue_capacity)
		o->queue_capacity = SESSION_WRITER_QUEUE_DEFAULT;
	if (o->queue_capacity < o->batch_size)
		o->queue_capacity = o->batch_size;
	if (!o->retry_min_ms)
		o->retry_min_ms = 50;
	if (!o->retry_max_ms)
		o->retry_max_ms = 5000;
	if (o->retry_max_ms < o->retry_min_ms)
		o->retry_max_ms = o->retry_min_ms;
}

static bool is_memory_url(const char *url)
{
	return strstr(url, ":memory:") != NULL;
}

static void writer_free(struct session_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->count; i++)
		free(w->ring[(w->head + i) % w->cap]);
	free(w->ring);
	free(w->batch);
	if (w->reader && w->reader != w->store)
		session_store_close(w->reader);
	session_store_close(w->store);
	pthread_cond_destroy(&w->stopped);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->url);
	free(w->node);
	free(w);
}

struct session_writer *session_writer_start_opts(const struct session_writer_options *o, char *err,
                                                 size_t errlen)
{
	struct session_writer *w = xcalloc(1, sizeof(*w));
	w->o = *o;
	apply_defaults(&w->o);
	w->url = o->database_url ? xstrdup(o->database_url) : NULL;
	w->node = o->node ? xstrdup(o->node) : NULL;
	w->o.database_url = w->url;
	w->o.node = w->node;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->stopped, &ca);
	pthread_condattr_destroy(&ca);
	w->cap = w->o.queue_capacity;
	w->ring = xcalloc(w->cap, sizeof(*w->ring));
	w->take_max = (size_t)w->o.batch_size * TAKE_BATCHES;
	if (w->take_max > TAKE_MAX)
		w->take_max = w->o.batch_size > TAKE_MAX ? w->o.batch_size : TAKE_MAX;
	w->batch = xcalloc(w->take_max, sizeof(*w->batch));

	struct session_store_options so = {
	    .storage = w->o.storage,
	    .database_url = w->url,
	    .node = w->node,
	    .busy_timeout_ms = w->o.busy_timeout_ms,
	    .migrate = true,
	    .open_wait_ms = START_BUSY_WAIT_MS,
	    .rustsocks_indexes = w->o.rustsocks_indexes,
	};
	w->store = session_store_open(&so, err, errlen);
	if (!w->store)
		goto fail;
	uint64_t stale = 0;
	int64_t until = time_mono_ms() + START_BUSY_WAIT_MS;
	int rc;
	while ((rc = session_store_close_stale(w->store, 0, &stale, err, errlen)) ==
	           STORE_ERR_BUSY &&
	       time_mono_ms() < until)
		usleep(100000);
	if (rc != STORE_OK)
		goto fail;
	if (stale)
		log_info("session store: closed %" PRIu64 " sessions left active by a previous run",
		         stale);
	if (w->url && is_memory_url(w->url)) {
		w->reader = w->store;
	} else {
		so.migrate = false;
		so.busy_timeout_ms = 1000;
		w->reader = session_store_open(&so, err, errlen);
		if (!w->reader)
			goto fail;
	}
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		if (err && errlen)
			snprintf(err, errlen, "session writer: cannot start thread: %s",
			         strerror(errno));
		goto fail;
	}
	w->started = true;
	pthread_setname_np(w->thread, "csocks-sessdb");
	log_info("session store %s ready (batch %u / %u ms, queue %u, retention %u days)",
	         session_store_backend(w->store), w->o.batch_size, w->o.batch_interval_ms,
	         w->o.queue_capacity, w->o.retention_days);
	return w;
fail:
	writer_free(w);
	return NULL;
}

struct session_writer *session_writer_start(const struct csocks_config *cfg, char *err,
                                            size_t errlen)
{
	const char *url = cfg->sessions.database_url;
	if ((!url || !*url) && cfg->sessions.storage == STORAGE_SQLITE)
		url = "sqlite://sessions.db"; /* RustSocks' example default */
	struct session_writer_options o = {
	    .storage = cfg->sessions.storage,
	    .database_url = url,
	    .batch_size = cfg->sessions.batch_size,
	    .batch_interval_ms = cfg->sessions.batch_interval_ms,
	    .retention_days = cfg->sessions.retention_days,
	    .cleanup_interval_hours = cfg->sessions.cleanup_interval_hours,
	    .queue_capacity = cfg->sessions.queue_capacity,
	    .rustsocks_indexes = cfg->sessions.rustsocks_indexes,
	    .node = cfg->sessions.node_name,
	};
	return session_writer_start_opts(&o, err, errlen);
}

bool session_writer_submit(struct session_writer *w, const struct session_record *r)
{
	if (!w)
		return false;
	struct session_record *copy = session_record_dup_clean(r);
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->count == w->cap) {
		pthread_mutex_unlock(&w->lock);
		free(copy);
		atomic_fetch_add_explicit(&w->dropped, 1, memory_order_relaxed);
		return false;
	}
	w->ring[(w->head + w->count) % w->cap] = copy;
	w->count++;
	/* Wake the thread only on the transitions it waits for: the first
	 * record (it then sleeps until the interval is due) and a full batch. */
	bool wake = w->count == 1 || w->count == w->o.batch_size;
	pthread_mutex_unlock(&w->lock);
	atomic_fetch_add_explicit(&w->submitted, 1, memory_order_relaxed);
	if (wake)
		pthread_cond_signal(&w->wake);
	return true;
}

void session_writer_stop(struct session_writer *w, int deadline_ms)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	w->stop_deadline_ms = time_mono_ms() + (deadline_ms > 0 ? deadline_ms : 0);
	size_t queued = w->count;
	pthread_mutex_unlock(&w->lock);
	pthread_cond_broadcast(&w->wake);
	pthread_cond_broadcast(&w->stopped);
	if (w->started)
		pthread_join(w->thread, NULL);
	if (w->count) {
		atomic_fetch_add(&w->dropped, w->count);
		log_error("session writer: stop deadline passed, %zu queued session records "
		          "not written",
		          w->count);
	}
	log_info("session writer stopped: %zu queued at stop, %" PRIu64 " written, %" PRIu64
	         " dropped, %" PRIu64 " failed",
	         queued, atomic_load(&w->written), atomic_load(&w->dropped),
	         atomic_load(&w->failed));
	writer_free(w);
}

struct session_store *session_writer_store(struct session_writer *w)
{
	return w ? w->reader : NULL;
}

void session_writer_get_stats(struct session_writer *w, struct session_writer_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	out->queue_depth = w->count;
	pthread_mutex_unlock(&w->lock);
	out->queue_capacity = w->cap;
	out->submitted = atomic_load(&w->submitted);
	out->written = atomic_load(&w->written);
	out->dropped = atomic_load(&w->dropped);
	out->failed = atomic_load(&w->failed);
	out->retries = atomic_load(&w->retries);
	out->batches = atomic_load(&w->batches);
	out->flush_last_us = atomic_load(&w->flush_last_us);
	out->flush_max_us = atomic_load(&w->flush_max_us);
	out->flush_total_us = atomic_load(&w->flush_total_us);
	out->cleanup_deleted = atomic_load(&w->cleanup_deleted);
	out->outage = atomic_load(&w->outage);
}
