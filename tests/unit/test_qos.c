/* QoS: connection limits (server/connlimit.c): per-user and global caps,
 * exact under concurrent workers, memory only for users holding slots. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/connlimit.h"
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

int main(void)
{
	RUN(t_per_user);
	RUN(t_global);
	RUN(t_many_users);
	RUN(t_race);
	RUN(t_grab);
	return TEST_END("qos");
}
