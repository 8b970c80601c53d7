/* Fixed-bucket histogram with relaxed atomic counters (see histogram.h). */
#include "obs/histogram.h"

#include <math.h>
#include <string.h>

int histogram_init(struct histogram *h, const double *bounds, size_t n_bounds)
{
	memset(h, 0, sizeof(*h));
	if (n_bounds > HISTOGRAM_MAX_BUCKETS)
		return -1;
	for (size_t i = 0; i < n_bounds; i++) {
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			return -1;
	}
	h->bounds = bounds;
	h->n_bounds = n_bounds;
	return 0;
}

/* Bucket index: the first bound >= value, or n_bounds (+Inf). Binary search;
 * the tables are short, but this keeps the cost flat. */
static size_t bucket_of(const struct histogram *h, double v)
{
	size_t lo = 0, hi = h->n_bounds;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v <= h->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void histogram_observe(struct histogram *h, double value)
{
	uint64_t micro = 0;
	size_t b;
	if (isnan(value) || value < 0) {
		b = 0;
	} else {
		b = bucket_of(h, value);
		double m = value * 1e6 + 0.5;
		micro = m >= 1.8e19 ? UINT64_C(18000000000000000000) : (uint64_t)m;
	}
	__atomic_fetch_add(&h->counts[b], 1, __ATOMIC_RELAXED);
	if (micro)
		__atomic_fetch_add(&h->sum_micro, micro, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

void histogram_snapshot(const struct histogram *h, struct histogram_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	out->bounds = h->bounds;
	out->n_bounds = h->n_bounds;
	histogram_snapshot_add(out, h);
}

void histogram_snapshot_add(struct histogram_snapshot *out, const struct histogram *h)
{
	/* The count is derived from the buckets, not read separately, so that
	 * +Inf == _count always holds in the exposition even while other
	 * threads observe (promtool and Prometheus both expect it). */
	uint64_t run = 0;
	for (size_t i = 0; i <= h->n_bounds && i <= out->n_bounds; i++) {
		run += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
		out->cumulative[i] += run;
	}
	out->count = out->cumulative[out->n_bounds];
	out->sum += (double)__atomic_load_n(&h->sum_micro, __ATOMIC_RELAXED) / 1e6;
}
