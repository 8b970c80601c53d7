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

/* interval_secs >= 1. start_thread = false for tests (call
 * metrics_history_sample() yourself). NULL + err on failure. */
struct metrics_history *metrics_history_new(uint32_t interval_secs, uint32_t retention_hours,
                                            bool start_thread, char *err, size_t errlen);
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
