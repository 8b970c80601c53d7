/* Pieces of the server that need no network peer: errno -> reply code map,
 * address ordering, the loop (fds, timers, deleted-io safety), worker
 * mailbox style wake-ups, userpass and the auth pool. */
#include <errno.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "auth/authpool.h"
#include "auth/userpass.h"
#include "config/config.h"
#include "protocol/socks5.h"
#include "event/connect.h"
#include "event/loop.h"
#include "app/pidfile.h"
#include "event/resolver.h"
#include "test.h"
#include "util/strutil.h"

static void t_errno_map(void)
{
	CHECK_INT(connect_reply_for_errno(ECONNREFUSED), SOCKS5_REP_CONN_REFUSED);
	CHECK_INT(connect_reply_for_errno(ENETUNREACH), SOCKS5_REP_NET_UNREACHABLE);
	CHECK_INT(connect_reply_for_errno(ENETDOWN), SOCKS5_REP_NET_UNREACHABLE);
	CHECK_INT(connect_reply_for_errno(EHOSTUNREACH), SOCKS5_REP_HOST_UNREACHABLE);
	CHECK_INT(connect_reply_for_errno(EHOSTDOWN), SOCKS5_REP_HOST_UNREACHABLE);
	CHECK_INT(connect_reply_for_errno(ETIMEDOUT), SOCKS5_REP_HOST_UNREACHABLE);
	CHECK_INT(connect_reply_for_errno(EINVAL), SOCKS5_REP_GENERAL_FAILURE);
	CHECK_INT(connect_reply_for_errno(EMFILE), SOCKS5_REP_GENERAL_FAILURE);
	CHECK_INT(connect_reply_for_errno(EACCES), SOCKS5_REP_GENERAL_FAILURE);
	CHECK_INT(connect_reply_for_errno(0), SOCKS5_REP_GENERAL_FAILURE);
}

static void add4(struct resolve_result *r, const char *ip)
{
	union cs_sockaddr *a = &r->addr[r->n++];
	memset(a, 0, sizeof(*a));
	a->in.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &a->in.sin_addr);
}

static void add6(struct resolve_result *r, const char *ip)
{
	union cs_sockaddr *a = &r->addr[r->n++];
	memset(a, 0, sizeof(*a));
	a->in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &a->in6.sin6_addr);
}

static void t_interleave(void)
{
	struct resolve_result r = {.n = 0};
	add6(&r, "2001:db8::1");
	add6(&r, "2001:db8::2");
	add6(&r, "2001:db8::3");
	add4(&r, "192.0.2.1");
	add4(&r, "192.0.2.2");
	resolve_interleave(&r);
	CHECK_INT(r.n, 5);
	static const int fam[] = {AF_INET6, AF_INET, AF_INET6, AF_INET, AF_INET6};
	for (int i = 0; i < 5; i++)
		CHECK_INT(r.addr[i].sa.sa_family, fam[i]);
	char buf[64];
	inet_ntop(AF_INET6, &r.addr[2].in6.sin6_addr, buf, sizeof(buf));
	CHECK_STR(buf, "2001:db8::2"); /* order within a family is kept */
	inet_ntop(AF_INET, &r.addr[3].in.sin_addr, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.2");

	struct resolve_result one = {.n = 0};
	add4(&one, "192.0.2.9");
	add4(&one, "192.0.2.8");
	add4(&one, "192.0.2.7");
	resolve_interleave(&one);
	inet_ntop(AF_INET, &one.addr[0].in.sin_addr, buf, sizeof(buf));
	CHECK_STR(buf, "192.0.2.9");
}

static int io_hits, timer_hits;
static void on_io(struct loop_io *io, uint32_t ev)
{
	uint64_t v;
	CHECK(ev & LOOP_READ);
	CHECK_INT(read(io->fd, &v, sizeof(v)), 8);
	io_hits++;
}

static struct loop_io *victim;
static struct loop *victim_loop;
static void on_io_delete_other(struct loop_io *io, uint32_t ev)
{
	(void)ev;
	uint64_t v;
	(void)!read(io->fd, &v, sizeof(v));
	loop_io_del(victim_loop, victim); /* its event may already be fetched */
	io_hits++;
}

static void on_timer(struct timer *t)
{
	(void)t;
	timer_hits++;
}

static void t_loop(void)
{
	struct loop *l = loop_new();
	CHECK(l != NULL);
	int a = eventfd(0, EFD_NONBLOCK), b = eventfd(0, EFD_NONBLOCK);
	struct loop_io ia, ib;
	loop_io_init(&ia, on_io, NULL);
	loop_io_init(&ib, on_io, NULL);
	CHECK_INT(loop_io_add(l, &ia, a, LOOP_READ), 0);
	CHECK_INT(loop_io_add(l, &ib, b, LOOP_READ), 0);
	uint64_t one = 1;
	(void)!write(a, &one, 8);
	io_hits = 0;
	CHECK_INT(loop_poll(l, 1000), 1);
	CHECK_INT(io_hits, 1);

	/* A callback deleting another io whose event is in the same batch:
	 * the stale event is dropped, not dispatched. */
	ia.fn = on_io_delete_other;
	victim = &ib;
	victim_loop = l;
	(void)!write(a, &one, 8);
	(void)!write(b, &one, 8);
	io_hits = 0;
	loop_poll(l, 1000);
	CHECK_INT(io_hits, 1 + (ib.fd >= 0)); /* b ran only if it came first */
	loop_io_del(l, &ia);

	/* Timers wake the loop. */
	struct timer t;
	timer_init(&t, on_timer, NULL);
	timer_hits = 0;
	uint64_t t0 = loop_update_now(l);
	loop_timer_in(l, &t, 30);
	while (timer_hits == 0 && loop_now(l) - t0 < 2000)
		loop_poll(l, -1);
	CHECK_INT(timer_hits, 1);
	CHECK(loop_now(l) - t0 >= 30);
	close(a);
	close(b);
	loop_free(l);
}

static struct csocks_config *users_config(const char *hash)
{
	struct csocks_config *cfg = config_new_default();
	cfg->auth.socks_method = AUTH_USERPASS;
	cfg->auth.users = xcalloc(3, sizeof(*cfg->auth.users));
	cfg->auth.n_users = hash ? 3 : 2;
	cfg->auth.users[0].username = xstrdup("alice");
	cfg->auth.users[0].password = xstrdup("secret123");
	cfg->auth.users[1].username = xstrdup("carol");
	cfg->auth.users[1].password = xstrdup("");
	if (hash) {
		cfg->auth.users[2].username = xstrdup("bob");
		cfg->auth.users[2].password_hash = xstrdup(hash);
	}
	return cfg;
}

static void t_userpass(void)
{
	char hash[256], err[256];
	CHECK_INT(userpass_hash_password("hunter2", hash, sizeof(hash)), 0);
	CHECK(strncmp(hash, "$y$", 3) == 0);
	char hash2[256];
	CHECK_INT(userpass_hash_password("hunter2", hash2, sizeof(hash2)), 0);
	CHECK(strcmp(hash, hash2) != 0);                       /* fresh salt each time */
	CHECK_INT(userpass_hash_password("x", hash2, 10), -1); /* too small */

	struct csocks_config *cfg = users_config(hash);
	struct userpass_db *db = userpass_db_new(cfg, err, sizeof(err));
	CHECK(db != NULL);
	CHECK(userpass_verify(db, "alice", "secret123"));
	CHECK(!userpass_verify(db, "alice", "secret12"));
	CHECK(!userpass_verify(db, "alice", "secret1234"));
	CHECK(!userpass_verify(db, "alice", ""));
	CHECK(userpass_verify(db, "carol", ""));
	CHECK(userpass_verify(db, "bob", "hunter2"));
	CHECK(!userpass_verify(db, "bob", "hunter3"));
	CHECK(!userpass_verify(db, "mallory", "secret123"));
	CHECK(!userpass_verify(db, "Alice", "secret123"));
	CHECK(!userpass_is_slow(db, "alice"));
	CHECK(userpass_is_slow(db, "bob"));
	CHECK(userpass_is_slow(db, "mallory")); /* dummy hash check */
	userpass_db_free(db);
	config_free(cfg);

	/* Only plaintext users: nothing is slow. */
	cfg = users_config(NULL);
	db = userpass_db_new(cfg, err, sizeof(err));
	CHECK(db && !userpass_is_slow(db, "mallory") && !userpass_verify(db, "mallory", "x"));
	userpass_db_free(db);
	config_free(cfg);

	/* sha512-crypt works too; garbage is refused at load with the line. */
	cfg = users_config("$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/"
	                   "jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/");
	db = userpass_db_new(cfg, err, sizeof(err));
	CHECK(db != NULL);
	CHECK(!userpass_verify(db, "bob", "nope"));
	userpass_db_free(db);
	config_free(cfg);
	cfg = users_config("not-a-hash");
	cfg->auth.users[2].line = 14;
	db = userpass_db_new(cfg, err, sizeof(err));
	CHECK(db == NULL);
	CHECK(strstr(err, "line 14") != NULL);
	config_free(cfg);
}

struct test_job {
	struct auth_job job;
	int value, result;
	pthread_t ran_on;
};
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static int done_count;

static void job_run(struct auth_job *j)
{
	struct test_job *t = (struct test_job *)j;
	t->result = t->value * 2;
	t->ran_on = pthread_self();
}

static void job_complete(struct auth_job *j)
{
	(void)j;
	pthread_mutex_lock(&done_mu);
	done_count++;
	pthread_mutex_unlock(&done_mu);
}

static void t_authpool(void)
{
	char err[128];
	struct authpool *p = authpool_new(3, err, sizeof(err));
	CHECK(p != NULL);
	static struct test_job jobs[200];
	done_count = 0;
	for (int i = 0; i < 200; i++) {
		jobs[i].job.run = job_run;
		jobs[i].job.complete = job_complete;
		jobs[i].value = i;
		authpool_submit(p, &jobs[i].job);
	}
	authpool_free(p); /* runs everything queued, then joins */
	CHECK_INT(done_count, 200);
	int ok = 1;
	for (int i = 0; i < 200; i++)
		ok &= jobs[i].result == 2 * i && !pthread_equal(jobs[i].ran_on, pthread_self());
	CHECK(ok);
}

/* server.pid_file: "PID\n", no temporary left behind, an unwritable path
 * names itself and the errno, removal only of a file that is still ours. */
static void t_pidfile(void)
{
	char dir[] = "/tmp/csocks-pidfile-XXXXXX", path[128], tmp[160], buf[64], err[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/csocks.pid", dir);
	CHECK_INT(pidfile_write(path, err, sizeof(err)), 0);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	char want[32];
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	CHECK_STR(buf, want);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	CHECK(access(tmp, F_OK) < 0);
	pidfile_remove(path);
	CHECK(access(path, F_OK) < 0);

	/* Another process's file stays. */
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fprintf(f, "%ld\n", (long)getpid() + 1);
		fclose(f);
	}
	pidfile_remove(path);
	CHECK(access(path, F_OK) == 0);
	unlink(path);

	snprintf(path, sizeof(path), "%s/missing/csocks.pid", dir);
	CHECK_INT(pidfile_write(path, err, sizeof(err)), -1);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, strerror(ENOENT)) != NULL);
	rmdir(dir);
}

int main(void)
{
	RUN(t_errno_map);
	RUN(t_interleave);
	RUN(t_loop);
	RUN(t_userpass);
	RUN(t_authpool);
	RUN(t_pidfile);
	return TEST_END("server");
}
