/* A fixed-bucket histogram for Prometheus: cumulative-at-read bucket
 * counters, a sum and a count, all updated with relaxed atomics so any
 * thread may observe without a lock.
 *
 * Bounds are upper limits in ascending order (Prometheus' "le"); an implicit
 * +Inf bucket follows the last. The sum is kept in integer micro-units
 * (value * 1e6, rounded) so it can be added atomically; for seconds that is
 * microsecond resolution and ~584,000 years of headroom.
 *
 * One instance may be shared (each observe is 2-3 relaxed atomic adds on
 * one cache line) or kept per worker and merged at scrape with
 * histogram_snapshot_add(). */
#ifndef CSOCKS_HISTOGRAM_H
#define CSOCKS_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define HISTOGRAM_MAX_BUCKETS 32 /* finite bounds; +Inf is extra */

struct histogram {
	const double *bounds; /* borrowed; ascending; lives as long as the histogram */
	size_t n_bounds;      /* <= HISTOGRAM_MAX_BUCKETS */
	uint64_t counts[HISTOGRAM_MAX_BUCKETS + 1]; /* per bucket, NOT cumulative */
	uint64_t sum_micro;
	uint64_t count;
};

/* A consistent-enough copy for exposition (counts are cumulative here). */
struct histogram_snapshot {
	const double *bounds;
	size_t n_bounds;
	uint64_t cumulative[HISTOGRAM_MAX_BUCKETS + 1]; /* [n_bounds] is +Inf == count */
	double sum;
	uint64_t count;
};

/* bounds must be strictly ascending and finite, n_bounds <= the max.
 * 0, or -1 when they are not. */
int histogram_init(struct histogram *h, const double *bounds, size_t n_bounds);

/* Any thread. Negative and NaN values count in the first bucket with 0 added
 * to the sum (durations cannot be negative; a clock step must not poison
 * the sum). */
void histogram_observe(struct histogram *h, double value);

/* Read h (any thread) into a fresh snapshot. */
void histogram_snapshot(const struct histogram *h, struct histogram_snapshot *out);

/* out += h. out must have been initialised from a histogram with the same
 * bounds (histogram_snapshot), or zeroed with its bounds set. */
void histogram_snapshot_add(struct histogram_snapshot *out, const struct histogram *h);

#endif
