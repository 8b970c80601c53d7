/* QoS: connection limits (server/connlimit.c): per-user and global caps,
 * exact under concurrent workers, memory only for users holding slots. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "proxy/connlimit.h"
#include "test.h"

static void t_per_user(void)
{
	struct connlimit *l = connlimit_new(2, 0);
	CHECK_INT(connlimit_acquire(l, "alice"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "alice"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "alice"), CONNLIMIT_USER);
	CHECK_INT(connlimit_acquire(l, "bob"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "alicE"), CONNLIMIT_OK); /* names are exact */
	CHECK_INT(connlimit_user_count(l, "alice"), 2);
	CHECK_INT(connlimit_user_count(l, "bob"), 1);
	CHECK_INT(connlimit_user_count(l, "carol"), 0);
	CHECK_INT(connlimit_global_count(l), 4); /* the refused one holds nothing */
	CHECK_INT(connlimit_users(l), 3);
	connlimit_release(l, "alice");
	CHECK_INT(connlimit_acquire(l, "alice"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "alice"), CONNLIMIT_USER);
	connlimit_release(l, "alice");
	connlimit_release(l, "alice");
	connlimit_release(l, "bob");
	connlimit_release(l, "alicE");
	CHECK_INT(connlimit_user_count(l, "alice"), 0);
	CHECK_INT(connlimit_global_count(l), 0);
	CHECK_INT(connlimit_users(l), 0);
	connlimit_free(l);
}

static void t_global(void)
{
	struct connlimit *l = connlimit_new(0, 3);
	CHECK_INT(connlimit_acquire(l, "a"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "b"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "a"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "c"), CONNLIMIT_GLOBAL);
	CHECK_INT(connlimit_user_count(l, "c"), 0);
	CHECK_INT(connlimit_global_count(l), 3);
	connlimit_release(l, "b");
	CHECK_INT(connlimit_acquire(l, "c"), CONNLIMIT_OK);
	connlimit_free(l); /* frees entries still held */

	/* both limits: the user's refusal gives the global slot back */
	l = connlimit_new(1, 2);
	CHECK_INT(connlimit_acquire(l, "a"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "a"), CONNLIMIT_USER);
	CHECK_INT(connlimit_global_count(l), 1);
	CHECK_INT(connlimit_acquire(l, "b"), CONNLIMIT_OK);
	CHECK_INT(connlimit_acquire(l, "c"), CONNLIMIT_GLOBAL);
	connlimit_free(l);
}

/* Many users: the stripes' tables grow, and shrink back to nothing held. */
static void t_many_users(void)
{
	enum { N = 20000 };
	struct connlimit *l = connlimit_new(3, 0);
	char name[32];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		CHECK_INT(connlimit_acquire(l, name), CONNLIMIT_OK);
		CHECK_INT(connlimit_acquire(l, name), CONNLIMIT_OK);
	}
	CHECK_INT(connlimit_users(l), N);
	CHECK_INT(connlimit_global_count(l), 2 * N);
	int bad = 0;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		bad += connlimit_user_count(l, name) != 2;
		connlimit_release(l, name);
		bad += connlimit_user_count(l, name) != 1;
		connlimit_release(l, name);
	}
	CHECK_INT(bad, 0);
	CHECK_INT(connlimit_users(l), 0);
	CHECK_INT(connlimit_global_count(l), 0);
	connlimit_free(l);
}

/* Threads race for one user's slots: never more than the limit held at
 * once, and every taken slot comes back. */
#define RACE_THREADS 8
#define RACE_ROUNDS  20000
#define RACE_LIMIT   5

static struct connlimit *race_l;
static _Atomic int race_held, race_max, race_ok;

static void *racer(void *arg)
{
	const char *user = arg;
	for (int i = 0; i < RACE_ROUNDS; i++) {
		if (connlimit_acquire(race_l, user) != CONNLIMIT_OK)
			continue;
		int now = atomic_fetch_add(&race_held, 1) + 1;
		int m = atomic_load(&race_max);
		while (now > m && !atomic_compare_exchange_weak(&race_max, &m, now))
			;
		atomic_fetch_add(&race_ok, 1);
		atomic_fetch_sub(&race_held, 1);
		connlimit_release(race_l, user);
	}
	return NULL;
}

static void t_race(void)
{
	race_l = connlimit_new(RACE_LIMIT, 0);
	pthread_t th[RACE_THREADS];
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_create(&th[i], NULL, racer, "shared");
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(atomic_load(&race_max) <= RACE_LIMIT);
	CHECK(atomic_load(&race_ok) > 0);
	CHECK_INT(connlimit_user_count(race_l, "shared"), 0);
	CHECK_INT(connlimit_global_count(race_l), 0);
	CHECK_INT(connlimit_users(race_l), 0);
	connlimit_free(race_l);
}

/* Threads grab and keep: exactly the limit succeed, user and global. */
static struct connlimit *grab_l;
static _Atomic int grab_ok;

static void *grabber(void *arg)
{
	for (int i = 0; i < 1000; i++)
		if (connlimit_acquire(grab_l, (const char *)arg) == CONNLIMIT_OK)
			atomic_fetch_add(&grab_ok, 1);
	return NULL;
}

static void t_grab(void)
{
	pthread_t th[RACE_THREADS];
	grab_l = connlimit_new(37, 0);
	atomic_store(&grab_ok, 0);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_create(&th[i], NULL, grabber, "u");
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(atomic_load(&grab_ok), 37);
	CHECK_INT(connlimit_global_count(grab_l), 37);
	connlimit_free(grab_l);

	static const char *const users[RACE_THREADS] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	grab_l = connlimit_new(0, 101);
	atomic_store(&grab_ok, 0);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_create(&th[i], NULL, grabber, (void *)users[i]);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(atomic_load(&grab_ok), 101);
	CHECK_INT(connlimit_global_count(grab_l), 101);
	connlimit_free(grab_l);
}

/* ---- bandwidth shaping ---- */

#define MS 1000000ull /* ns */

static void t_tbucket(void)
{
	struct tbucket b = {.tokens = 500, .last_ns = 0};
	tbucket_refill(&b, 1000, 500, 5 * MS); /* first call only starts the clock */
	CHECK_INT(b.tokens, 500);
	b.tokens -= 500;
	tbucket_refill(&b, 1000, 500, 255 * MS); /* 250 ms at 1000 B/s */
	CHECK_INT(b.tokens, 250);
	tbucket_refill(&b, 1000, 500, 10000 * MS); /* full, not more */
	CHECK_INT(b.tokens, 500);
	b.tokens = -50; /* debt: 150 bytes short of 100 */
	CHECK_INT(tbucket_wait_ns(&b, 1000, 100), 150 * MS);
	CHECK_INT(tbucket_wait_ns(&b, 1000, 0), 50 * MS);
	b.tokens = 100;
	CHECK_INT(tbucket_wait_ns(&b, 1000, 100), 0);
	/* huge rates and gaps do not overflow */
	b = (struct tbucket){.tokens = 0, .last_ns = 1};
	tbucket_refill(&b, UINT64_MAX / 4, 1 << 20, UINT64_MAX / 2);
	CHECK_INT(b.tokens, 1 << 20);
	/* time going backwards (another thread's older now) adds nothing */
	b = (struct tbucket){.tokens = 10, .last_ns = 1000 * MS};
	tbucket_refill(&b, 1000, 500, 900 * MS);
	CHECK_INT(b.tokens, 10);
	CHECK_INT(b.last_ns, 1000 * MS);
}

static void t_bw_user(void)
{
	uint64_t wait;
	struct connlimit *l = connlimit_new(0, 0);
	CHECK(!connlimit_shaping(l));
	CHECK(connlimit_acquire(l, "alice") == CONNLIMIT_OK);
	CHECK(connlimit_bw(l, "alice", 12345, 1 * MS, &wait) == UINT64_MAX);
	connlimit_free(l);

	l = connlimit_new(0, 0);
	connlimit_set_shaping(l, 1000000, 0, 65536); /* 1 MB/s, 64 KiB burst */
	CHECK(connlimit_shaping(l));
	CHECK(connlimit_acquire(l, "alice") == CONNLIMIT_OK);
	CHECK(connlimit_acquire(l, "bob") == CONNLIMIT_OK);
	CHECK_INT(connlimit_bw(l, "alice", 0, 1 * MS, &wait), 65536); /* full bucket */
	/* a turn read 70,000: 4,464 in debt; a 16 KiB quantum is 20.848 ms away */
	CHECK_INT(connlimit_bw_waits(l), 0);
	CHECK_INT(connlimit_bw(l, "alice", 70000, 1 * MS, &wait), 0);
	CHECK_INT(wait, (16384 + 4464) * 1000);
	CHECK_INT(connlimit_bw_waits(l), 1);
	/* bob has his own bucket */
	CHECK_INT(connlimit_bw(l, "bob", 0, 1 * MS, &wait), 65536);
	/* 30 ms later alice has 30,000 - 4,464 */
	CHECK_INT(connlimit_bw(l, "alice", 0, 31 * MS, &wait), 25536);
	/* and after a long pause no more than the burst */
	CHECK_INT(connlimit_bw(l, "alice", 0, 5000 * MS, &wait), 65536);
	/* a user who holds no slot is not held back here (nothing to charge) */
	CHECK(connlimit_bw(l, "carol", 100, 5000 * MS, &wait) == UINT64_MAX);
	connlimit_free(l);
}

static void t_bw_global(void)
{
	uint64_t wait;
	struct connlimit *l = connlimit_new(0, 0);
	connlimit_set_shaping(l, 0, 1000000, 100000); /* 1 MB/s for everyone */
	CHECK(connlimit_acquire(l, "alice") == CONNLIMIT_OK);
	CHECK(connlimit_acquire(l, "bob") == CONNLIMIT_OK);
	CHECK_INT(connlimit_bw(l, "alice", 60000, 1 * MS, &wait), 40000);
	CHECK_INT(connlimit_bw(l, "bob", 40000, 1 * MS, &wait), 0); /* the same bucket */
	CHECK_INT(wait, 16384 * 1000);
	/* both limits: the smaller allowance wins */
	connlimit_free(l);
	l = connlimit_new(0, 0);
	connlimit_set_shaping(l, 1000000, 2000000, 100000);
	CHECK(connlimit_acquire(l, "alice") == CONNLIMIT_OK);
	CHECK(connlimit_acquire(l, "bob") == CONNLIMIT_OK);
	CHECK_INT(connlimit_bw(l, "alice", 50000, 1 * MS, &wait), 50000);
	/* bob's own bucket is full, but the global one is half empty */
	CHECK_INT(connlimit_bw(l, "bob", 0, 1 * MS, &wait), 50000);
	/* below one quantum (10 ms at 2 MB/s) is "wait", not a tiny read */
	CHECK_INT(connlimit_bw(l, "bob", 40000, 1 * MS, &wait), 0);
	CHECK_INT(wait, (20000 - 10000) * 500);
	connlimit_free(l);
}

int main(void)
{
	RUN(t_per_user);
	RUN(t_global);
	RUN(t_many_users);
	RUN(t_race);
	RUN(t_grab);
	RUN(t_tbucket);
	RUN(t_bw_user);
	RUN(t_bw_global);
	return TEST_END("qos");
}
