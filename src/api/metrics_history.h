/* GET /api/metrics/history: a ring of periodic samples (RustSocks'
 * MetricsSnapshot: timestamp, active_sessions, total_sessions, bandwidth)
 * taken by a small thread every metrics.collection_interval_secs and kept
 * for metrics.retention_hours (capacity = retention / interval, at most
 * METRICS_HISTORY_MAX samples). Values come from the metrics module
 * (metrics_read_totals): bandwidth = bytes sent + received since start. */
#ifndef CSOCKS_METRICS_HISTORY_H
#define CSOCKS_METRICS_HISTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_HISTORY_MAX 100000

struct metrics_sample {
	int64_t wall_us;
	int64_t active_sessions;
	uint64_t total_sessions;
	uint64_t bandwidth;
};

struct metrics_history;

/* Where samples are also kept (metrics.storage = "sqlite"), so the history
 * survives a restart: load is called once by metrics_history_new (samples
 * of the retention window, oldest first; returns the count or -1), save
 * after every sample (from the sampler thread). */
struct metrics_persist {
	void *ctx;
	long (*load)(void *ctx, int64_t since_us, struct metrics_sample *out, size_t max);
	int (*save)(void *ctx, const struct metrics_sample *s);
};

/* interval_secs >= 1. start_thread = false for tests (call
 * metrics_history_sample() yourself). persist may be NULL (memory only).
 * NULL + err on failure. */
struct metrics_history *metrics_history_new(uint32_t interval_secs, uint32_t retention_hours,
                                            bool start_thread,
                                            const struct metrics_persist *persist, char *err,
                                            size_t errlen);
/* Stop the thread (if any) and free. */
void metrics_history_free(struct metrics_history *h);

/* Take one sample now (the thread calls this). */
void metrics_history_sample(struct metrics_history *h);
/* Add a given sample (tests). */
void metrics_history_push(struct metrics_history *h, const struct metrics_sample *s);

/* Oldest first, as a JSON array of RustSocks' snapshot objects. */
json_t *metrics_history_json(struct metrics_history *h);
size_t metrics_history_len(struct metrics_history *h);

#endif
