/* util/nametable: find and add, the cap and its "full" result, payloads,
 * removal with backward shift, iteration, growth. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "util/nametable.h"

struct counts {
	uint64_t a, b;
};

static void t_add_find_payload(void)
{
	struct nametable t;
	nametable_init(&t, sizeof(struct counts), 0);
	CHECK(nametable_find(&t, "alice") == NULL);
	CHECK(!nametable_remove(&t, "alice"));
	struct counts *c;
	CHECK_INT(nametable_get(&t, "alice", (void **)&c), NAMETABLE_ADDED);
	CHECK(c && c->a == 0 && c->b == 0);
	c->a = 7;
	CHECK_INT(nametable_get(&t, "alice", (void **)&c), NAMETABLE_FOUND);
	CHECK_INT(c->a, 7);
	CHECK(nametable_find(&t, "alice") == c);
	CHECK(nametable_find(&t, "bob") == NULL);
	CHECK(nametable_find(&t, "") == NULL);
	CHECK_INT(nametable_get(&t, "", (void **)&c), NAMETABLE_ADDED);
	CHECK_INT(nametable_count(&t), 2);
	/* The key is copied: the caller's buffer may change. */
	char buf[8] = "carol";
	CHECK_INT(nametable_get(&t, buf, (void **)&c), NAMETABLE_ADDED);
	strcpy(buf, "dave");
	CHECK(nametable_find(&t, "carol") != NULL);
	CHECK(nametable_find(&t, "dave") == NULL);
	/* Payloads are aligned for any type. */
	CHECK((uintptr_t)nametable_find(&t, "carol") % _Alignof(max_align_t) == 0);
	nametable_fini(&t);
	CHECK_INT(nametable_count(&t), 0);
	CHECK(nametable_find(&t, "alice") == NULL);
}

static void t_cap_full(void)
{
	struct nametable t;
	nametable_init(&t, sizeof(uint64_t), 3);
	void *v;
	CHECK_INT(nametable_get(&t, "a", &v), NAMETABLE_ADDED);
	CHECK_INT(nametable_get(&t, "b", &v), NAMETABLE_ADDED);
	CHECK_INT(nametable_get(&t, "c", &v), NAMETABLE_ADDED);
	CHECK_INT(nametable_get(&t, "d", &v), NAMETABLE_FULL);
	CHECK(v == NULL);
	CHECK_INT(nametable_count(&t), 3);
	CHECK(nametable_find(&t, "d") == NULL);
	CHECK_INT(nametable_get(&t, "b", &v), NAMETABLE_FOUND); /* known names still work */
	/* A lower cap keeps what is there; a removal makes room again. */
	nametable_set_max(&t, 2);
	CHECK_INT(nametable_get(&t, "c", &v), NAMETABLE_FOUND);
	CHECK(nametable_remove(&t, "a"));
	CHECK_INT(nametable_get(&t, "d", &v), NAMETABLE_FULL);
	CHECK(nametable_remove(&t, "b"));
	CHECK_INT(nametable_get(&t, "d", &v), NAMETABLE_ADDED);
	nametable_fini(&t);
}

/* Many names, through several doublings, then remove every other one:
 * every survivor must still be found (backward shift kept the runs). */
static void t_grow_remove_iterate(void)
{
	struct nametable t;
	nametable_init(&t, sizeof(int), 0);
	char name[32];
	enum { N = 5000 };
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		int *p;
		CHECK_INT(nametable_get(&t, name, (void **)&p), NAMETABLE_ADDED);
		*p = i;
	}
	CHECK_INT(nametable_count(&t), N);
	CHECK(t.n * 2 <= t.cap);
	for (int i = 0; i < N; i += 2) {
		snprintf(name, sizeof(name), "user%d", i);
		CHECK(nametable_remove(&t, name));
		CHECK(!nametable_remove(&t, name));
	}
	CHECK_INT(nametable_count(&t), N / 2);
	int bad = 0;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		int *p = nametable_find(&t, name);
		if ((i % 2 == 0) != (p == NULL) || (p && *p != i))
			bad++;
	}
	CHECK_INT(bad, 0);
	size_t pos = 0, seen = 0;
	long sum = 0;
	const char *k;
	void *v;
	while (nametable_next(&t, &pos, &k, &v)) {
		int i = *(int *)v;
		snprintf(name, sizeof(name), "user%d", i);
		if (strcmp(k, name) == 0)
			sum += i;
		seen++;
	}
	CHECK_INT(seen, N / 2);
	CHECK_INT(sum, (long)(N / 2) * (N / 2)); /* 1 + 3 + ... + (N - 1) */
	nametable_fini(&t);
}

int main(void)
{
	RUN(t_add_find_payload);
	RUN(t_cap_full);
	RUN(t_grow_remove_iterate);
	return TEST_END("util");
}
