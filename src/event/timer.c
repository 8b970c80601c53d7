/* Binary min-heap of embedded timers. Each entry keeps its index so cancel
 * and re-arm are O(log n) without searching. */
#include "event/timer.h"

#include "util/strutil.h"

void timer_heap_init(struct timer_heap *h)
{
	h->v = NULL;
	h->n = 0;
	h->cap = 0;
}

void timer_heap_fini(struct timer_heap *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		h->v[i]->idx = TIMER_UNARMED;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

void timer_init(struct timer *t, timer_fn fn, void *data)
{
	t->when = 0;
	t->idx = TIMER_UNARMED;
	t->fn = fn;
	t->data = data;
}

static void heap_set(struct timer_heap *h, uint32_t i, struct timer *t)
{
	h->v[i] = t;
	t->idx = i;
}

static void sift_up(struct timer_heap *h, uint32_t i)
{
	struct timer *t = h->v[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!timer_before(t->when, h->v[parent]->when))
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, t);
}

static void sift_down(struct timer_heap *h, uint32_t i)
{
	struct timer *t = h->v[i];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t mw = t->when;
		if (l < h->n && timer_before(h->v[l]->when, mw)) {
			m = l;
			mw = h->v[l]->when;
		}
		if (r < h->n && timer_before(h->v[r]->when, mw))
			m = r;
		if (m == i)
			break;
		heap_set(h, i, h->v[m]);
		i = m;
	}
	heap_set(h, i, t);
}

static void heap_remove_at(struct timer_heap *h, uint32_t i)
{
	struct timer *t = h->v[i];
	CSOCKS_BUG_ON(i >= h->n || t->idx != i);
	t->idx = TIMER_UNARMED;
	h->n--;
	if (i == h->n)
		return;
	heap_set(h, i, h->v[h->n]);
	/* The moved entry may belong above or below i. */
	if (i > 0 && timer_before(h->v[i]->when, h->v[(i - 1) / 2]->when))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void timer_arm(struct timer_heap *h, struct timer *t, uint64_t when)
{
	if (timer_armed(t)) {
		uint64_t old = t->when;
		t->when = when;
		if (timer_before(when, old))
			sift_up(h, t->idx);
		else
			sift_down(h, t->idx);
		return;
	}
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 256;
		h->v = xrealloc(h->v, (size_t)h->cap * sizeof(*h->v));
	}
	t->when = when;
	heap_set(h, h->n, t);
	h->n++;
	sift_up(h, h->n - 1);
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
	if (timer_armed(t))
		heap_remove_at(h, t->idx);
}

int64_t timer_heap_delay(const struct timer_heap *h, uint64_t now)
{
	if (h->n == 0)
		return -1;
	int64_t d = (int64_t)(h->v[0]->when - now);
	if (d < 0)
		return 0;
	return d > INT32_MAX ? INT32_MAX : d;
}

unsigned timer_heap_expire(struct timer_heap *h, uint64_t now)
{
	unsigned fired = 0;
	while (h->n > 0 && !timer_before(now, h->v[0]->when)) {
		struct timer *t = h->v[0];
		heap_remove_at(h, 0);
		fired++;
		t->fn(t);
	}
	return fired;
}
