/* Per-worker timers: a binary min-heap of timer entries that live inside
 * their owners (a connection embeds its timers), so arming and cancelling
 * never allocate once the heap array has grown to the worker's peak.
 *
 * Times are monotonic milliseconds (uint64_t). Deadlines are compared by
 * signed difference, (int64_t)(a - b) < 0 meaning "a is earlier", so the
 * order stays right even if the clock base wraps (tests start near
 * UINT64_MAX); two deadlines must simply be less than 2^63 ms apart.
 *
 * Expiry calls the timer's callback; the timer is disarmed before the call,
 * so the callback may re-arm it. Not thread-safe: one heap per worker. */
#ifndef CSOCKS_TIMER_H
#define CSOCKS_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define TIMER_UNARMED UINT32_MAX

struct timer;
typedef void (*timer_fn)(struct timer *t);

struct timer {
	uint64_t when; /* deadline, monotonic ms */
	uint32_t idx;  /* position in the heap, TIMER_UNARMED when not armed */
	timer_fn fn;   /* called on expiry, after the timer is disarmed */
	void *data;    /* owner, for fn */
};

struct timer_heap {
	struct timer **v; /* v[0] is the earliest */
	uint32_t n, cap;
};

static inline bool timer_before(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

void timer_heap_init(struct timer_heap *h);
void timer_heap_fini(struct timer_heap *h);

/* Prepare an embedded timer (unarmed). */
void timer_init(struct timer *t, timer_fn fn, void *data);
static inline bool timer_armed(const struct timer *t)
{
	return t->idx != TIMER_UNARMED;
}

/* Arm (or move) t to fire at `when`. */
void timer_arm(struct timer_heap *h, struct timer *t, uint64_t when);
/* Disarm; a no-op when not armed. */
void timer_cancel(struct timer_heap *h, struct timer *t);

/* Milliseconds until the earliest deadline (0 when already due), or -1 when
 * nothing is armed. Clamped to INT32_MAX. */
int64_t timer_heap_delay(const struct timer_heap *h, uint64_t now);

/* Fire every timer due at `now`, earliest first. Timers armed by a callback
 * for a time <= now fire in the same call. Returns how many fired. */
unsigned timer_heap_expire(struct timer_heap *h, uint64_t now);

#endif
