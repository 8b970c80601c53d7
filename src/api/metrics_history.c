/* Ring of periodic metrics samples and its sampling thread (see
 * metrics_history.h). */
#include "api/metrics_history.h"

#include "obs/metrics.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct metrics_history {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled to stop the thread */
	struct metrics_sample *ring;
	size_t cap, head, n; /* head = index of the oldest */
	int64_t max_age_us;
	uint32_t interval_secs;
	bool stop, has_thread;
	pthread_t thread;
	struct metrics_persist persist; /* save == NULL: memory only */
};

static void *sampler_main(void *arg)
{
	struct metrics_history *h = arg;
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += h->interval_secs;
		while (!h->stop && pthread_cond_timedwait(&h->cv, &h->mu, &dl) != ETIMEDOUT)
			;
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->mu);
		metrics_history_sample(h);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* The stored samples of the retention window, before the thread runs (so
 * the ring stays in time order). A failed load is logged, not fatal. */
static void load_persisted(struct metrics_history *h)
{
	if (!h->persist.load)
		return;
	struct metrics_sample *v = xcalloc(h->cap, sizeof(*v));
	long n = h->persist.load(h->persist.ctx, time_wall_us() - h->max_age_us, v, h->cap);
	for (long i = 0; i < n; i++)
		metrics_history_push(h, &v[i]);
	if (n > 0)
		log_info("metrics history: %ld samples restored from the store", n);
	free(v);
}

struct metrics_history *metrics_history_new(uint32_t interval_secs, uint32_t retention_hours,
                                            bool start_thread,
                                            const struct metrics_persist *persist, char *err,
                                            size_t errlen)
{
	if (interval_secs == 0)
		interval_secs = 1;
	uint64_t cap = (uint64_t)retention_hours * 3600 / interval_secs;
	if (cap < 1)
		cap = 1;
	if (cap > METRICS_HISTORY_MAX)
		cap = METRICS_HISTORY_MAX;
	struct metrics_history *h = xcalloc(1, sizeof(*h));
	h->ring = xcalloc((size_t)cap, sizeof(*h->ring));
	h->cap = (size_t)cap;
	h->interval_secs = interval_secs;
	h->max_age_us = (int64_t)retention_hours * 3600 * 1000000;
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (persist)
		h->persist = *persist;
	load_persisted(h);
	if (start_thread) {
		int rc = pthread_create(&h->thread, NULL, sampler_main, h);
		if (rc != 0) {
			snprintf(err, errlen, "metrics history thread: %s", strerror(rc));
			metrics_history_free(h);
			return NULL;
		}
		h->has_thread = true;
	}
	return h;
}

void metrics_history_free(struct metrics_history *h)
{
	if (!h)
		return;
	if (h->has_thread) {
		pthread_mutex_lock(&h->mu);
		h->stop = true;
		pthread_cond_signal(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
	}
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h->ring);
	free(h);
}

void metrics_history_push(struct metrics_history *h, const struct metrics_sample *s)
{
	pthread_mutex_lock(&h->mu);
	CSOCKS_BUG_ON(h->cap == 0); /* metrics_history_new makes it >= 1 */
	/* Age out first, then overwrite the oldest when full. */
	while (h->n && s->wall_us - h->ring[h->head].wall_us > h->max_age_us) {
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
	if (h->n == h->cap) {
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
	h->ring[(h->head + h->n) % h->cap] = *s;
	h->n++;
	pthread_mutex_unlock(&h->mu);
}

void metrics_history_sample(struct metrics_history *h)
{
	struct metrics_totals t;
	metrics_read_totals(&t);
	struct metrics_sample s = {
	    .wall_us = time_wall_us(),
	    .active_sessions = t.active_sessions,
	    .total_sessions = t.sessions_total,
	    .bandwidth = t.bytes_sent + t.bytes_received,
	};
	metrics_history_push(h, &s);
	if (h->persist.save && h->persist.save(h->persist.ctx, &s) != 0) {
		static bool warned; /* the sampler thread is the only caller */
		if (!warned)
			log_warn("metrics history: cannot store samples; keeping them in memory");
		warned = true;
	}
}

size_t metrics_history_len(struct metrics_history *h)
{
	pthread_mutex_lock(&h->mu);
	size_t n = h->n;
	pthread_mutex_unlock(&h->mu);
	return n;
}

json_t *metrics_history_json(struct metrics_history *h)
{
	json_t *arr = json_array();
	pthread_mutex_lock(&h->mu);
	size_t n = h->n;
	struct metrics_sample *copy = xmalloc((n ? n : 1) * sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		copy[i] = h->ring[(h->head + i) % h->cap];
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < n; i++) {
		char ts[40];
		time_format_rfc3339(copy[i].wall_us, ts, sizeof(ts));
		json_array_append_new(
		    arr, json_pack("{s:s, s:I, s:I, s:I}", "timestamp", ts, "active_sessions",
		                   (json_int_t)copy[i].active_sessions, "total_sessions",
		                   (json_int_t)copy[i].total_sessions, "bandwidth",
		                   (json_int_t)copy[i].bandwidth));
	}
	free(copy);
	return arr;
}
