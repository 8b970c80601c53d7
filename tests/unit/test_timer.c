/* Timer heap: order, cancel, re-arm, wrap-safety, callbacks that re-arm. */
#include <stdlib.h>

#include "event/timer.h"
#include "test.h"

static int fired[64];
static int nfired;

static void record(struct timer *t)
{
	fired[nfired++] = (int)(intptr_t)t->data;
}

static void t_order(void)
{
	struct timer_heap h;
	struct timer t[10];
	static const uint64_t when[10] = {50, 10, 90, 30, 70, 20, 80, 40, 60, 0};
	timer_heap_init(&h);
	nfired = 0;
	for (int i = 0; i < 10; i++) {
		timer_init(&t[i], record, (void *)(intptr_t)when[i]);
		timer_arm(&h, &t[i], 1000 + when[i]);
	}
	CHECK_INT(timer_heap_delay(&h, 1000), 0);
	CHECK_INT(timer_heap_delay(&h, 990), 10);
	CHECK_INT(timer_heap_expire(&h, 1045), 5);
	CHECK_INT(nfired, 5);
	for (int i = 0; i < 5; i++)
		CHECK_INT(fired[i], i * 10);
	CHECK_INT(timer_heap_delay(&h, 1045), 5);
	CHECK_INT(timer_heap_expire(&h, 5000), 5);
	for (int i = 0; i < 10; i++)
		CHECK_INT(fired[i], i * 10);
	CHECK_INT(timer_heap_delay(&h, 5000), -1);
	for (int i = 0; i < 10; i++)
		CHECK(!timer_armed(&t[i]));
	timer_heap_fini(&h);
}

static void t_cancel_rearm(void)
{
	struct timer_heap h;
	struct timer t[100];
	timer_heap_init(&h);
	nfired = 0;
	for (int i = 0; i < 100; i++) {
		timer_init(&t[i], record, (void *)(intptr_t)i);
		timer_arm(&h, &t[i], (uint64_t)(1000 - i));
	}
	/* Cancel every odd one, move every multiple of 10 far away. */
	for (int i = 1; i < 100; i += 2)
		timer_cancel(&h, &t[i]);
	timer_cancel(&h, &t[1]); /* twice: a no-op */
	for (int i = 0; i < 100; i += 10)
		timer_arm(&h, &t[i], 5000 + (uint64_t)i);
	CHECK_INT(h.n, 50);
	CHECK_INT(timer_heap_expire(&h, 1000), 40);
	/* Fired in deadline order: 98, 96, ..., 2 minus multiples of 10. */
	int prev = 1000, ok = 1;
	for (int i = 0; i < nfired; i++) {
		if (fired[i] % 2 || fired[i] % 10 == 0 || fired[i] >= prev)
			ok = 0;
		prev = fired[i];
	}
	CHECK(ok);
	nfired = 0;
	/* Re-arm earlier than before. */
	timer_arm(&h, &t[50], 10);
	CHECK_INT(timer_heap_expire(&h, 10), 1);
	CHECK_INT(fired[0], 50);
	CHECK_INT(timer_heap_expire(&h, 6000), 9);
	CHECK_INT(h.n, 0);
	timer_heap_fini(&h);
}

static void t_wrap(void)
{
	/* Deadlines straddling the 64-bit wrap stay ordered. */
	struct timer_heap h;
	struct timer a, b, c;
	uint64_t base = UINT64_MAX - 5;
	timer_heap_init(&h);
	nfired = 0;
	timer_init(&a, record, (void *)1);
	timer_init(&b, record, (void *)2);
	timer_init(&c, record, (void *)3);
	timer_arm(&h, &c, base + 20); /* wraps to 14 */
	timer_arm(&h, &a, base + 1);
	timer_arm(&h, &b, base + 10); /* wraps to 4 */
	CHECK(timer_before(base + 1, base + 10));
	CHECK(!timer_before(base + 10, base + 1));
	CHECK_INT(timer_heap_delay(&h, base), 1);
	CHECK_INT(timer_heap_expire(&h, base + 1), 1);
	CHECK_INT(timer_heap_expire(&h, base + 9), 0);
	CHECK_INT(timer_heap_expire(&h, base + 10), 1);
	CHECK_INT(timer_heap_delay(&h, base + 10), 10);
	CHECK_INT(timer_heap_expire(&h, base + 25), 1);
	CHECK_INT(fired[0], 1);
	CHECK_INT(fired[1], 2);
	CHECK_INT(fired[2], 3);
	timer_heap_fini(&h);
}

static struct timer_heap *rearm_heap;
static int rearm_count;
static void rearm_cb(struct timer *t)
{
	/* A callback may re-arm its own timer (the idle timer does). */
	if (++rearm_count < 3)
		timer_arm(rearm_heap, t, t->when + 100);
}

static void t_rearm_in_callback(void)
{
	struct timer_heap h;
	struct timer t;
	timer_heap_init(&h);
	rearm_heap = &h;
	rearm_count = 0;
	timer_init(&t, rearm_cb, NULL);
	timer_arm(&h, &t, 100);
	CHECK_INT(timer_heap_expire(&h, 150), 1);
	CHECK(timer_armed(&t));
	CHECK_INT(t.when, 200);
	CHECK_INT(timer_heap_expire(&h, 1000), 2); /* 200 and 300 both due */
	CHECK(!timer_armed(&t));
	CHECK_INT(rearm_count, 3);
	timer_heap_fini(&h);
}

static void t_random(void)
{
	/* Random arms/cancels against a brute-force model. */
	struct timer_heap h;
	enum { N = 500 };
	static struct timer t[N];
	timer_heap_init(&h);
	srand(7);
	nfired = 0;
	for (int i = 0; i < N; i++)
		timer_init(&t[i], record, (void *)(intptr_t)i);
	for (int round = 0; round < 5000; round++) {
		int i = rand() % N;
		if (rand() % 3 == 0)
			timer_cancel(&h, &t[i]);
		else
			timer_arm(&h, &t[i], (uint64_t)(rand() % 100000));
	}
	int armed = 0;
	for (int i = 0; i < N; i++)
		armed += timer_armed(&t[i]);
	CHECK_INT(h.n, armed);
	uint64_t last = 0;
	int ok = 1, count = 0;
	while (h.n) {
		struct timer *top = h.v[0];
		if (top->when < last)
			ok = 0;
		last = top->when;
		timer_cancel(&h, top);
		count++;
	}
	CHECK(ok);
	CHECK_INT(count, armed);
	timer_heap_fini(&h);
}

int main(void)
{
	RUN(t_order);
	RUN(t_cancel_rearm);
	RUN(t_wrap);
	RUN(t_rearm_in_callback);
	RUN(t_random);
	return TEST_END("timer");
}
