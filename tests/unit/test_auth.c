/* Authentication: throttling maths with a controlled clock, the group cache
 * (TTL, bound, errors) and NSS lookups, the privsep wire protocol (framing,
 * oversize and garbage end the link, both ends), the monitors (fork, ping,
 * a dead monitor), PAM through pam_pwdfile and pam_access with a private
 * service directory (pam_start_confdir: no root needed), pam_unix when
 * scripts/pam-test.sh set up its users (root), and the auth manager end to
 * end. */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "auth/auth.h"
#include "auth/groups.h"
#include "auth/pam_auth.h"
#include "auth/privsep_client.h"
#include "auth/privsep_drop.h"
#include "auth/privsep_wire.h"
#include "auth/throttle.h"
#include "config/config.h"
#include "util/log.h"

/* Linux-PAM 1.5.2 leaks 96 bytes when pam_start fails for a service without
 * a file (t_pam_pwdfile checks that case): not ours, so LeakSanitizer is told
 * to ignore libpam. Only read by ASan builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libpam.so\n";
}

/* Run a test that may not apply here: skip(reason) returns nonzero. */
#define RUN_IF(cond, fn, why)                                                                      \
	do {                                                                                       \
		if (cond) {                                                                        \
			RUN(fn);                                                                   \
		} else {                                                                           \
			test_skipped++;                                                            \
			printf("SKIP: %s: %s\n", #fn, why);                                        \
		}                                                                                  \
	} while (0)

static struct sockaddr_storage ip4(const char *s)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	a->sin_family = AF_INET;
	inet_pton(AF_INET, s, &a->sin_addr);
	return ss;
}

static struct sockaddr_storage ip6(const char *s)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
	a->sin6_family = AF_INET6;
	inet_pton(AF_INET6, s, &a->sin6_addr);
	return ss;
}
#define SA(ss) ((const struct sockaddr *)&(ss))

/* ---- throttle ---- */

static void t_throttle_lockout(void)
{
	struct throttle_params p = {.max_attempts = 3, .window_secs = 60, .lockout_secs = 300};
	struct throttle *t = throttle_new(&p);
	struct sockaddr_storage a = ip4("10.0.0.1"), b = ip4("10.0.0.2");
	int64_t now = 1000000;
	CHECK(!throttle_check_at(t, SA(a), now));
	CHECK(!throttle_fail_at(t, SA(a), now));
	CHECK(!throttle_fail_at(t, SA(a), now + 1000));
	CHECK(!throttle_check_at(t, SA(a), now + 1000));
	CHECK(throttle_fail_at(t, SA(a), now + 2000)); /* third: lockout starts */
	CHECK(throttle_check_at(t, SA(a), now + 2000));
	CHECK(!throttle_check_at(t, SA(b), now + 2000)); /* other addresses unaffected */
	CHECK(throttle_check_at(t, SA(a), now + 2000 + 299999));
	CHECK(!throttle_check_at(t, SA(a), now + 2000 + 300000)); /* lockout over */
	/* A clean slate afterwards: one failure does not lock again. */
	CHECK(!throttle_fail_at(t, SA(a), now + 400000));
	CHECK(!throttle_check_at(t, SA(a), now + 400000));
	struct throttle_stats st;
	throttle_stats_get(t, &st);
	CHECK_INT(st.failures, 4);
	CHECK_INT(st.lockouts, 1);
	CHECK_INT(st.rejected, 2);
	CHECK_INT(st.entries, 1);
	throttle_free(t);
}

static void t_throttle_window(void)
{
	struct throttle_params p = {.max_attempts = 3, .window_secs = 60, .lockout_secs = 300};
	struct throttle *t = throttle_new(&p);
	struct sockaddr_storage a = ip4("192.0.2.7");
	CHECK(!throttle_fail_at(t, SA(a), 0));
	CHECK(!throttle_fail_at(t, SA(a), 30000));
	/* 60 s after the first failure the window restarts: count is 1 again. */
	CHECK(!throttle_fail_at(t, SA(a), 60000));
	CHECK(!throttle_fail_at(t, SA(a), 61000));
	CHECK(!throttle_check_at(t, SA(a), 61000));
	CHECK(throttle_fail_at(t, SA(a), 62000));
	CHECK(throttle_check_at(t, SA(a), 62001));
	throttle_free(t);
}

static void t_throttle_success_resets(void)
{
	struct throttle_params p = {.max_attempts = 3, .window_secs = 60, .lockout_secs = 60};
	struct throttle *t = throttle_new(&p);
	struct sockaddr_storage a = ip4("198.51.100.1");
	throttle_fail_at(t, SA(a), 0);
	throttle_fail_at(t, SA(a), 1);
	throttle_success(t, SA(a));
	CHECK(!throttle_fail_at(t, SA(a), 2));
	CHECK(!throttle_fail_at(t, SA(a), 3));
	CHECK(!throttle_check_at(t, SA(a), 4));
	/* A success does not lift an active lockout. */
	CHECK(throttle_fail_at(t, SA(a), 5));
	throttle_success(t, SA(a));
	CHECK(throttle_check_at(t, SA(a), 6));
	throttle_free(t);
}

static void t_throttle_v4mapped_and_families(void)
{
	struct throttle_params p = {.max_attempts = 2, .window_secs = 60, .lockout_secs = 60};
	struct throttle *t = throttle_new(&p);
	struct sockaddr_storage v4 = ip4("203.0.113.9"), mapped = ip6("::ffff:203.0.113.9");
	struct sockaddr_storage v6 = ip6("2001:db8::1"), other6 = ip6("2001:db8::2");
	throttle_fail_at(t, SA(v4), 0);
	CHECK(throttle_fail_at(t, SA(mapped), 1)); /* same address */
	CHECK(throttle_check_at(t, SA(v4), 2));
	throttle_fail_at(t, SA(v6), 0);
	throttle_fail_at(t, SA(v6), 0);
	CHECK(throttle_check_at(t, SA(v6), 1));
	CHECK(!throttle_check_at(t, SA(other6), 1));
	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	CHECK(!throttle_fail_at(t, SA(un), 0));
	CHECK(!throttle_check_at(t, SA(un), 0));
	throttle_free(t);
}

static void t_throttle_bounded(void)
{
	struct throttle_params p = {
	    .max_attempts = 1000, .window_secs = 60, .lockout_secs = 60, .max_entries = 512};
	struct throttle *t = throttle_new(&p);
	for (uint32_t i = 0; i < 20000; i++) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x0a000000u + i);
		throttle_fail_at(t, SA(ss), i);
	}
	struct throttle_stats st;
	throttle_stats_get(t, &st);
	CHECK(st.entries <= 512);
	CHECK(st.entries >= 256);
	CHECK_INT(st.evictions, 20000 - st.entries);
	/* The most recent addresses are the ones kept. */
	struct sockaddr_storage last = ip4("10.0.78.31"); /* 0x0a000000 + 19999 */
	for (int k = 0; k < 999; k++)
		throttle_fail_at(t, SA(last), 30000);
	CHECK(throttle_check_at(t, SA(last), 30001));
	throttle_free(t);
}

struct hammer {
	struct throttle *t;
	int seed;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < 20000; i++) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)((i * 7 + h->seed) % 3000));
		throttle_check(h->t, SA(ss));
		if (i % 3 == 0)
			throttle_fail(h->t, SA(ss));
		else if (i % 11 == 0)
			throttle_success(h->t, SA(ss));
	}
	return NULL;
}

static void t_throttle_threads(void)
{
	struct throttle_params p = {
	    .max_attempts = 5, .window_secs = 60, .lockout_secs = 60, .max_entries = 1024};
	struct throttle *t = throttle_new(&p);
	pthread_t th[4];
	struct hammer h[4];
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){t, i * 13};
		pthread_create(&th[i], NULL, hammer_main, &h[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct throttle_stats st;
	throttle_stats_get(t, &st);
	CHECK(st.entries <= 1024);
	CHECK(st.failures > 0 && st.evictions > 0);
	/* Whether the hammering locked anyone out depends on how the threads
	 * interleaved with the evictions; after it, the table must still
	 * work: one address failing max_attempts times is locked out. */
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(0xc0000201u);
	for (int i = 0; i < 5; i++)
		throttle_fail(t, SA(ss));
	CHECK(throttle_check(t, SA(ss)));
	throttle_stats_get(t, &st);
	CHECK(st.lockouts > 0);
	throttle_free(t);
}

/* ---- groups ---- */

static int fake_calls;
static int fake_fail;

static int fake_resolve(const char *user, struct group_list **out)
{
	fake_calls++;
	if (fake_fail) {
		*out = NULL;
		errno = EIO;
		return -1;
	}
	const char *names[] = {user, "Developers@ad.company.com"};
	*out = group_list_new(names, 2);
	return 0;
}

static void t_group_cache_ttl(void)
{
	struct group_cache *gc = group_cache_new(10, 16);
	group_cache_set_resolver(gc, fake_resolve);
	fake_calls = 0;
	fake_fail = 0;
	struct group_list *gl = NULL;
	CHECK_INT(group_cache_lookup_at(gc, "alice", 1000, &gl), 0);
	CHECK_INT(fake_calls, 1);
	CHECK(gl && gl->n == 2);
	if (gl && gl->n == 2) {
		CHECK_STR(gl->names[0], "alice");
		CHECK_STR(gl->names[1], "Developers@ad.company.com");
	}
	group_list_unref(gl);
	CHECK_INT(group_cache_lookup_at(gc, "alice", 10999, &gl), 0); /* fresh */
	CHECK_INT(fake_calls, 1);
	group_list_unref(gl);
	gl = group_cache_peek(gc, "alice", 5000);
	CHECK(gl != NULL);
	group_list_unref(gl);
	CHECK(group_cache_peek(gc, "bob", 5000) == NULL);
	CHECK(group_cache_peek(gc, "alice", 11000) == NULL); /* expired */
	CHECK_INT(group_cache_lookup_at(gc, "alice", 11000, &gl), 0);
	CHECK_INT(fake_calls, 2);
	group_list_unref(gl);
	struct group_cache_stats st;
	group_cache_stats_get(gc, &st);
	CHECK_INT(st.hits, 2);
	CHECK_INT(st.misses, 2);
	CHECK_INT(st.entries, 1);
	group_cache_free(gc);
}

static void t_group_cache_bounded_fifo(void)
{
	struct group_cache *gc = group_cache_new(3600, 4);
	group_cache_set_resolver(gc, fake_resolve);
	fake_calls = 0;
	fake_fail = 0;
	char name[32];
	struct group_list *gl;
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		CHECK_INT(group_cache_lookup_at(gc, name, i, &gl), 0);
		group_list_unref(gl);
	}
	struct group_cache_stats st;
	group_cache_stats_get(gc, &st);
	CHECK_INT(st.entries, 4);
	/* user6..user9 kept, user0..user5 evicted. */
	gl = group_cache_peek(gc, "user9", 100);
	CHECK(gl != NULL);
	group_list_unref(gl);
	gl = group_cache_peek(gc, "user6", 100);
	CHECK(gl != NULL);
	group_list_unref(gl);
	CHECK(group_cache_peek(gc, "user5", 100) == NULL);
	CHECK(group_cache_peek(gc, "user0", 100) == NULL);
	group_cache_free(gc);
}

static void t_group_cache_errors_not_cached(void)
{
	struct group_cache *gc = group_cache_new(60, 16);
	group_cache_set_resolver(gc, fake_resolve);
	fake_calls = 0;
	fake_fail = 1;
	struct group_list *gl = (struct group_list *)1;
	CHECK_INT(group_cache_lookup_at(gc, "x", 0, &gl), -1);
	CHECK(gl == NULL);
	fake_fail = 0;
	CHECK_INT(group_cache_lookup_at(gc, "x", 1, &gl), 0);
	CHECK_INT(fake_calls, 2);
	group_list_unref(gl);
	group_cache_free(gc);
}

static void t_group_cache_ttl_zero(void)
{
	struct group_cache *gc = group_cache_new(0, 16);
	group_cache_set_resolver(gc, fake_resolve);
	fake_calls = 0;
	fake_fail = 0;
	struct group_list *gl;
	for (int i = 0; i < 3; i++) {
		group_cache_lookup_at(gc, "x", i, &gl);
		group_list_unref(gl);
	}
	CHECK_INT(fake_calls, 3);
	CHECK(group_cache_peek(gc, "x", 3) == NULL);
	group_cache_free(gc);
}

static bool has_group(const struct group_list *gl, const char *name)
{
	for (size_t i = 0; gl && i < gl->n; i++)
		if (strcmp(gl->names[i], name) == 0)
			return true;
	return false;
}

static void t_groups_nss_root_and_unknown(void)
{
	struct group_list *gl = NULL;
	CHECK_INT(groups_resolve("root", &gl), 0);
	CHECK(has_group(gl, "root"));
	group_list_unref(gl);
	CHECK_INT(groups_resolve("csocks_no_such_user_xyz", &gl), 0);
	CHECK(gl && gl->n == 0);
	group_list_unref(gl);
}

static bool have_user(const char *name)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	return getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res != NULL;
}

static void t_groups_nss_supplementary(void)
{
	struct group_list *gl = NULL;
	CHECK_INT(groups_resolve("csocks_alice", &gl), 0);
	CHECK(has_group(gl, "csocks_devs"));  /* supplementary */
	CHECK(has_group(gl, "csocks_alice")); /* primary (user-private group) */
	group_list_unref(gl);
}

/* ---- privsep framing ---- */

static void t_frame_roundtrip(void)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uint8_t payload[300];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	CHECK_INT(privsep_msg_send(sv[0], 42, payload, sizeof(payload)), 0);
	CHECK_INT(privsep_msg_send(sv[0], 7, NULL, 0), 0);
	uint8_t buf[PRIVSEP_MSG_MAX], type;
	size_t len;
	CHECK_INT(privsep_msg_recv(sv[1], &type, buf, sizeof(buf), &len), 0);
	CHECK_INT(type, 42);
	CHECK_INT(len, sizeof(payload));
	CHECK(memcmp(buf, payload, sizeof(payload)) == 0);
	CHECK_INT(privsep_msg_recv(sv[1], &type, buf, sizeof(buf), &len), 0);
	CHECK_INT(type, 7);
	CHECK_INT(len, 0);
	/* The biggest message passes; one byte more is refused before sending. */
	static uint8_t big[PRIVSEP_MSG_MAX];
	CHECK_INT(privsep_msg_send(sv[0], 1, big, PRIVSEP_MSG_MAX - 1), 0);
	CHECK_INT(privsep_msg_recv(sv[1], &type, buf, sizeof(buf), &len), 0);
	CHECK_INT(len, PRIVSEP_MSG_MAX - 1);
	CHECK_INT(privsep_msg_send(sv[0], 1, big, PRIVSEP_MSG_MAX), -EMSGSIZE);
	close(sv[0]);
	CHECK_INT(privsep_msg_recv(sv[1], &type, buf, sizeof(buf), &len), -EPIPE);
	close(sv[1]);
}

/* Payload fields: strings keep their bounds, a bad field moves nothing. */
static void t_payload_fields(void)
{
	uint8_t buf[64];
	struct wr w;
	wr_init(&w, buf, sizeof(buf));
	wr_u32be(&w, 0x01020304);
	wr_u8(&w, 9);
	privsep_wr_str(&w, "alice", 8);
	privsep_wr_str(&w, "", 8);
	CHECK(!w.full);
	size_t n = wr_result(&w);
	CHECK_INT(n, 4 + 1 + 2 + 5 + 2);
	privsep_wr_str(&w, "too long", 3);
	CHECK(w.full);

	struct rd r;
	uint32_t v;
	uint8_t b;
	char s[9];
	rd_init(&r, buf, n);
	CHECK_INT(rd_u32be(&r, &v), 0);
	CHECK_INT(v, 0x01020304);
	CHECK_INT(rd_u8(&r, &b), 0);
	CHECK_INT(b, 9);
	CHECK_INT(privsep_rd_str(&r, s, 6, 8), -1); /* under min */
	CHECK_INT(rd_left(&r), 9);
	CHECK_INT(privsep_rd_str(&r, s, 1, 4), -1); /* over max */
	CHECK_INT(rd_left(&r), 9);
	CHECK_INT(privsep_rd_str(&r, s, 1, 8), 0);
	CHECK_STR(s, "alice");
	CHECK_INT(privsep_rd_str(&r, s, 0, 8), 0);
	CHECK_STR(s, "");
	CHECK_INT(rd_left(&r), 0);
	CHECK(privsep_rd_str(&r, s, 0, 8) != 0); /* nothing left */
	CHECK(rd_u32be(&r, &v) != 0);

	/* A NUL inside and a length past the end are refused. */
	const uint8_t nul[] = {0, 3, 'a', 0, 'b'}, cut[] = {0, 4, 'a', 'b'};
	rd_init(&r, nul, sizeof(nul));
	CHECK_INT(privsep_rd_str(&r, s, 0, 8), -1);
	CHECK_INT(rd_left(&r), sizeof(nul));
	rd_init(&r, cut, sizeof(cut));
	CHECK_INT(privsep_rd_str(&r, s, 0, 8), -1);
	CHECK_INT(rd_left(&r), sizeof(cut));
}

/* Write raw bytes, then see what privsep_msg_recv makes of them. */
static int recv_raw(const uint8_t *raw, size_t n, size_t cap)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -999;
	if (write(sv[0], raw, n) != (ssize_t)n)
		return -998;
	close(sv[0]);
	uint8_t buf[PRIVSEP_MSG_MAX], type;
	size_t len;
	int rc = privsep_msg_recv(sv[1], &type, buf, cap, &len);
	close(sv[1]);
	return rc;
}

static void t_frame_bad_input(void)
{
	const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 14};
	const uint8_t over[] = {0x00, 0x00, 0x10, 0x01, 14}; /* 4097 */
	const uint8_t zero[] = {0, 0, 0, 0};
	const uint8_t short_hdr[] = {0, 0};
	const uint8_t short_body[] = {0, 0, 0, 9, 14, 1, 2};
	const uint8_t ok[] = {0, 0, 0, 3, 14, 1, 2};
	CHECK_INT(recv_raw(huge, sizeof(huge), PRIVSEP_MSG_MAX), -EMSGSIZE);
	CHECK_INT(recv_raw(over, sizeof(over), PRIVSEP_MSG_MAX), -EMSGSIZE);
	CHECK_INT(recv_raw(zero, sizeof(zero), PRIVSEP_MSG_MAX), -EMSGSIZE);
	CHECK_INT(recv_raw(short_hdr, sizeof(short_hdr), PRIVSEP_MSG_MAX), -EPROTO);
	CHECK_INT(recv_raw(short_body, sizeof(short_body), PRIVSEP_MSG_MAX), -EPROTO);
	CHECK_INT(recv_raw(ok, sizeof(ok), PRIVSEP_MSG_MAX), 0);
	CHECK_INT(recv_raw(ok, sizeof(ok), 1), -EMSGSIZE); /* bigger than the caller's buffer */
}

/* ---- the monitor loop, in a child of ours ---- */

static char confdir[256]; /* private PAM service directory */

static struct privsep_params mon_params(bool allow_user, bool allow_addr)
{
	struct privsep_params p = {
	    .pam = {.username_service = "csocks-unit-pwdfile",
	            .address_service = "csocks-unit-access",
	            .default_user = "root", /* pam_access wants a user that exists */
	            .default_ruser = "csocks-ruser",
	            .confdir = confdir},
	    .allow_username = allow_user,
	    .allow_address = allow_addr,
	    .nlinks = 2,
	    .timeout_ms = 5000,
	};
	return p;
}

/* Fork a monitor serving sv[1]; returns our end, *pid set. */
static int spawn_monitor(const struct privsep_params *p, pid_t *pid)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	fflush(NULL);
	*pid = fork();
	if (*pid == 0) {
		close(sv[0]);
		privsep_monitor_serve(sv[1], p);
		_exit(0);
	}
	close(sv[1]);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return sv[0];
}

static int ping(int fd, uint32_t seq)
{
	uint8_t b[4] = {(uint8_t)(seq >> 24), (uint8_t)(seq >> 16), (uint8_t)(seq >> 8),
	                (uint8_t)seq};
	if (privsep_msg_send(fd, MON_REQ_PING, b, 4) != 0)
		return -1;
	uint8_t buf[64], type;
	size_t len;
	int rc = privsep_msg_recv(fd, &type, buf, sizeof(buf), &len);
	if (rc != 0)
		return rc;
	return type == MON_ANS_PING && len == 4 && memcmp(buf, b, 4) == 0 ? 0 : -1;
}

/* After sending raw, the monitor must close the link: EOF, and it exits 0. */
static void expect_link_closed(const uint8_t *raw, size_t n, bool allow_user)
{
	struct privsep_params p = mon_params(allow_user, true);
	pid_t pid = -1;
	int fd = spawn_monitor(&p, &pid);
	CHECK(fd >= 0);
	CHECK_INT(ping(fd, 1), 0);
	CHECK(send(fd, raw, n, MSG_NOSIGNAL) == (ssize_t)n);
	uint8_t buf[PRIVSEP_MSG_MAX], type;
	size_t len;
	int rc = privsep_msg_recv(fd, &type, buf, sizeof(buf), &len);
	if (!CHECK(rc == -EPIPE || rc == -ECONNRESET))
		fprintf(stderr, "    type %u: got %d\n", (unsigned)(n > 4 ? raw[4] : 0), rc);
	int status = -1;
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

static void t_monitor_fail_closed(void)
{
	log_set_level(LOGL_ERROR); /* the monitor warns about each of these */
	const uint8_t unknown[] = {0, 0, 0, 5, 99, 0, 0, 0, 2};
	const uint8_t answer_type[] = {0, 0, 0, 5, MON_ANS_PING, 0, 0, 0, 2};
	const uint8_t oversize[] = {0, 1, 0, 0, MON_REQ_PING, 0, 0, 0, 2};
	const uint8_t ping_junk[] = {0, 0, 0, 6, MON_REQ_PING, 0, 0, 0, 2, 9};
	const uint8_t ping_short[] = {0, 0, 0, 3, MON_REQ_PING, 0, 0};
	/* user "a", password "b", then a string length running past the end. */
	const uint8_t user_bad[] = {
	    0, 0,   0,   16, MON_REQ_PAM_USERNAME, 0, 0, 0, 2, 0, 1, 'a', 0, 1, 'b', 0,
	    9, 'x', 'y', 'z'};
	/* A NUL inside the user name. */
	const uint8_t user_nul[] = {
	    0, 0, 0, 14, MON_REQ_PAM_USERNAME, 0, 0, 0, 2, 0, 2, 'a', 0, 0, 1, 'b', 0, 0};
	/* A well-formed request the configuration does not permit. */
	const uint8_t unpermitted[] = {
	    0, 0, 0, 14, MON_REQ_PAM_USERNAME, 0, 0, 0, 2, 0, 1, 'a', 0, 1, 'b', 0, 1, '1'};
	expect_link_closed(unknown, sizeof(unknown), true);
	expect_link_closed(answer_type, sizeof(answer_type), true);
	expect_link_closed(oversize, sizeof(oversize), true);
	expect_link_closed(ping_junk, sizeof(ping_junk), true);
	expect_link_closed(ping_short, sizeof(ping_short), true);
	expect_link_closed(user_bad, sizeof(user_bad), true);
	expect_link_closed(user_nul, sizeof(user_nul), true);
	expect_link_closed(unpermitted, sizeof(unpermitted), false);
	log_set_level(LOGL_WARN);
}

/* A fake monitor answering one request with the given bytes. */
struct fake_mon {
	int fd;
	const uint8_t *raw;
	size_t n;
};

static void *fake_mon_main(void *arg)
{
	struct fake_mon *f = arg;
	uint8_t buf[PRIVSEP_MSG_MAX], type;
	size_t len;
	if (privsep_msg_recv(f->fd, &type, buf, sizeof(buf), &len) == 0 && f->n)
		(void)!write(f->fd, f->raw, f->n);
	/* Keep the link open until the client closes it. */
	while (read(f->fd, buf, sizeof(buf)) > 0)
		;
	close(f->fd);
	return NULL;
}

/* The main side closes a link on a bad answer and fails the request. */
static void expect_client_breaks(const uint8_t *raw, size_t n, uint32_t timeout_ms)
{
	int sv[2];
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct fake_mon f = {sv[1], raw, n};
	pthread_t th;
	pthread_create(&th, NULL, fake_mon_main, &f);
	struct privsep *ps = privsep_new_from_fds(&sv[0], 1, timeout_ms);
	struct pam_auth_result res;
	CHECK_INT(privsep_pam_username(ps, "u", "p", "127.0.0.1", &res), PAM_AUTH_ERROR);
	CHECK(strstr(res.reason, "privsep: ") == res.reason);
	CHECK_INT(privsep_links_alive(ps), 0);
	/* Nothing left: later requests fail at once. */
	CHECK_INT(privsep_pam_address(ps, "127.0.0.1", &res), PAM_AUTH_ERROR);
	CHECK(strstr(res.reason, "no monitor left") != NULL);
	privsep_free(ps); /* closes sv[0]: the fake monitor ends */
	pthread_join(th, NULL);
}

static void t_client_fail_closed(void)
{
	log_set_level(LOGL_OFF);
	/* seq is 1 for the first request on a link. */
	const uint8_t oversize[] = {0, 0, 0x20, 0, MON_ANS_PAM_USERNAME, 0, 0, 0, 1};
	const uint8_t wrong_type[] = {0,   0, 0, 12, MON_ANS_PAM_ADDRESS, 0, 0, 0, 1, 0, 0, 1,
	                              'u', 0, 1, 'r'};
	const uint8_t wrong_seq[] = {0,   0, 0, 12, MON_ANS_PAM_USERNAME, 0, 0, 0, 7, 0, 0, 1,
	                             'u', 0, 1, 'r'};
	const uint8_t bad_status[] = {0,   0, 0, 12, MON_ANS_PAM_USERNAME, 0, 0, 0, 1, 9, 0, 1,
	                              'u', 0, 1, 'r'};
	const uint8_t trailing[] = {0, 0, 0,   13, MON_ANS_PAM_USERNAME, 0, 0, 0, 1, 0, 0, 1, 'u',
	                            0, 1, 'r', 0};
	const uint8_t ok_no_user[] = {0, 0, 0, 10, MON_ANS_PAM_USERNAME, 0, 0, 0, 1, 0, 0,
	                              0, 0, 1, 'r'};
	const uint8_t truncated[] = {0, 0, 0, 12, MON_ANS_PAM_USERNAME, 0, 0};
	expect_client_breaks(oversize, sizeof(oversize), 5000);
	expect_client_breaks(wrong_type, sizeof(wrong_type), 5000);
	expect_client_breaks(wrong_seq, sizeof(wrong_seq), 5000);
	expect_client_breaks(bad_status, sizeof(bad_status), 5000);
	expect_client_breaks(trailing, sizeof(trailing), 5000);
	expect_client_breaks(ok_no_user, sizeof(ok_no_user), 5000);
	expect_client_breaks(truncated, sizeof(truncated), 300); /* then silence: timeout */
	expect_client_breaks(NULL, 0, 300);                      /* no answer at all */
	log_set_level(LOGL_WARN);
}

static void t_monitors_start_ping_and_die(void)
{
	struct privsep_params p = mon_params(true, true);
	p.nlinks = 3;
	char err[256] = "";
	struct privsep *ps = privsep_start(&p, err, sizeof(err));
	CHECK(ps != NULL);
	if (!ps)
		return;
	CHECK_INT(privsep_links_alive(ps), 3);
	for (int i = 0; i < 6; i++)
		CHECK_INT(privsep_ping(ps), 0);
	/* Idle links are reused last-in first-out: the pings all went to link
	 * 2, whose monitor has surely named itself by now. */
	char path[64], comm[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)privsep_monitor_pid(ps, 2));
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	CHECK_STR(comm, "csocks-monitor\n");
	/* Kill one monitor: its link breaks once, the others keep serving. */
	log_set_level(LOGL_OFF);
	kill(privsep_monitor_pid(ps, 2), SIGKILL);
	int failures = 0;
	for (int i = 0; i < 6; i++)
		failures += privsep_ping(ps) != 0;
	CHECK_INT(failures, 1);
	CHECK_INT(privsep_links_alive(ps), 2);
	log_set_level(LOGL_WARN);
	privsep_free(ps);
}

/* A monitor goes away with the process that started it (PDEATHSIG, EOF). */
static void t_monitor_exits_with_parent(void)
{
	int pp[2];
	CHECK_INT(pipe(pp), 0);
	fflush(NULL);
	pid_t mid = fork();
	if (mid == 0) {
		struct privsep_params p = mon_params(true, true);
		p.nlinks = 1;
		char err[256];
		struct privsep *ps = privsep_start(&p, err, sizeof(err));
		pid_t mon = ps ? privsep_monitor_pid(ps, 0) : -1;
		(void)!write(pp[1], &mon, sizeof(mon));
		_exit(0); /* without privsep_free: as if the main process crashed */
	}
	close(pp[1]);
	pid_t mon = -1;
	CHECK(read(pp[0], &mon, sizeof(mon)) == (ssize_t)sizeof(mon));
	close(pp[0]);
	waitpid(mid, NULL, 0);
	CHECK(mon > 0);
	bool gone = false;
	for (int i = 0; i < 300 && !gone && mon > 0; i++) {
		char path[64], state = '?';
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)mon);
		FILE *f = fopen(path, "r");
		if (!f) {
			gone = true;
			break;
		}
		if (fscanf(f, "%*d %*s %c", &state) != 1)
			state = '?';
		fclose(f);
		gone = state == 'Z' || state == 'X';
		if (!gone)
			usleep(10000);
	}
	CHECK(gone);
}

/* ---- PAM with a private service directory ---- */

static char pwdfile[300], accessfile[300];

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static bool setup_confdir(void)
{
	snprintf(confdir, sizeof(confdir), "/tmp/csocks-test-auth-XXXXXX");
	if (!mkdtemp(confdir))
		return false;
	snprintf(pwdfile, sizeof(pwdfile), "%s/pwdfile", confdir);
	snprintf(accessfile, sizeof(accessfile), "%s/access.conf", confdir);
	struct crypt_data cd;
	memset(&cd, 0, sizeof(cd));
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof(salt)))
		return false;
	const char *h = crypt_r("carol-secret", salt, &cd);
	if (!h || h[0] == '*')
		return false;
	char text[1024], path[400];
	snprintf(text, sizeof(text), "carol:%s\n", h);
	write_text(pwdfile, text);
	write_text(accessfile, "+ : ALL : 127.0.0.1\n- : ALL : ALL\n");
	snprintf(path, sizeof(path), "%s/csocks-unit-pwdfile", confdir);
	snprintf(text, sizeof(text),
	         "auth required pam_pwdfile.so pwdfile=%s\naccount required pam_permit.so\n",
	         pwdfile);
	write_text(path, text);
	snprintf(path, sizeof(path), "%s/csocks-unit-access", confdir);
	snprintf(text, sizeof(text),
	         "auth required pam_access.so accessfile=%s\n"
	         "account required pam_access.so accessfile=%s\n",
	         accessfile, accessfile);
	write_text(path, text);
	snprintf(path, sizeof(path), "%s/csocks-unit-unix", confdir);
	write_text(path, "auth required pam_unix.so\naccount required pam_unix.so\n");
	snprintf(path, sizeof(path), "%s/csocks-unit-deny-acct", confdir);
	write_text(path, "auth required pam_permit.so\naccount required pam_deny.so\n");
	return true;
}

static void cleanup_confdir(void)
{
	const char *names[] = {
	    "pwdfile",          "access.conf",          "csocks-unit-pwdfile", "csocks-unit-access",
	    "csocks-unit-unix", "csocks-unit-deny-acct"};
	char path[400];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", confdir, names[i]);
		unlink(path);
	}
	rmdir(confdir);
}

static void t_pam_pwdfile(void)
{
	struct privsep_params p = mon_params(true, true);
	struct pam_auth_result r;
	CHECK_INT(pam_auth_username(&p.pam, "carol", "carol-secret", "127.0.0.1", &r), PAM_AUTH_OK);
	CHECK_STR(r.user, "carol");
	CHECK_INT(pam_auth_username(&p.pam, "carol", "wrong", "127.0.0.1", &r), PAM_AUTH_DENIED);
	CHECK(strstr(r.reason, "pam_authenticate") != NULL);
	CHECK(strstr(r.reason, "wrong") == NULL && strstr(r.reason, "carol-secret") == NULL);
	CHECK_INT(pam_auth_username(&p.pam, "mallory", "carol-secret", NULL, &r), PAM_AUTH_DENIED);
	CHECK_INT(pam_auth_username(&p.pam, "carol", "", NULL, &r), PAM_AUTH_DENIED);
	CHECK_INT(pam_auth_username(&p.pam, "", "x", NULL, &r), PAM_AUTH_ERROR);
	/* acct_mgmt runs after a successful authenticate, and can refuse. */
	p.pam.username_service = "csocks-unit-deny-acct";
	CHECK_INT(pam_auth_username(&p.pam, "anyone", "x", NULL, &r), PAM_AUTH_ACCOUNT);
	/* A service without a file falls back to "other" (deny) or errors. */
	p.pam.username_service = "csocks-unit-no-such-service";
	CHECK(pam_auth_username(&p.pam, "carol", "carol-secret", NULL, &r) != PAM_AUTH_OK);
	char err[256];
	CHECK_INT(pam_auth_check_service("csocks-unit-pwdfile", confdir, err, sizeof(err)), 0);
	CHECK_INT(pam_auth_check_service("csocks-unit-no-such-service", confdir, err, sizeof(err)),
	          -1);
	CHECK(strstr(err, "csocks-unit-no-such-service") != NULL);
	CHECK_INT(pam_auth_check_service("../etc/passwd", confdir, err, sizeof(err)), -1);
}

static void t_pam_address_rhost(void)
{
	struct privsep_params p = mon_params(true, true);
	struct pam_auth_result r;
	CHECK_INT(pam_auth_address(&p.pam, "127.0.0.1", &r), PAM_AUTH_OK);
	CHECK_INT(pam_auth_address(&p.pam, "127.0.0.2", &r), PAM_AUTH_DENIED);
	CHECK_INT(pam_auth_address(&p.pam, "", &r), PAM_AUTH_ERROR);
	/* A service that asks for a password gets none on the address path. */
	p.pam.address_service = "csocks-unit-pwdfile";
	p.pam.default_user = "carol";
	CHECK(pam_auth_address(&p.pam, "127.0.0.1", &r) != PAM_AUTH_OK);
}

static void t_pam_through_monitors(void)
{
	struct privsep_params p = mon_params(true, false);
	char err[256] = "";
	log_set_level(LOGL_ERROR); /* the monitors inherit it: one warns below */
	struct privsep *ps = privsep_start(&p, err, sizeof(err));
	CHECK(ps != NULL);
	if (!ps)
		return;
	struct pam_auth_result r;
	CHECK_INT(privsep_pam_username(ps, "carol", "carol-secret", "127.0.0.1", &r), PAM_AUTH_OK);
	CHECK_STR(r.user, "carol");
	CHECK_INT(privsep_pam_username(ps, "carol", "nope", "127.0.0.1", &r), PAM_AUTH_DENIED);
	CHECK(strstr(r.reason, "pam_authenticate") != NULL);
	/* Too long for RFC 1929: refused before it reaches the monitor. */
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_INT(privsep_pam_username(ps, longname, "x", "127.0.0.1", &r), PAM_AUTH_ERROR);
	CHECK_INT(privsep_links_alive(ps), 2);
	/* pam.address is not configured here: the monitor ends the link. */
	log_set_level(LOGL_OFF);
	CHECK_INT(privsep_pam_address(ps, "127.0.0.1", &r), PAM_AUTH_ERROR);
	CHECK_INT(privsep_links_alive(ps), 1);
	log_set_level(LOGL_WARN);
	CHECK_INT(privsep_pam_username(ps, "carol", "carol-secret", "127.0.0.1", &r), PAM_AUTH_OK);
	privsep_free(ps);
}

struct conc {
	struct privsep *ps;
	int ok, bad;
};

static void *conc_main(void *arg)
{
	struct conc *c = arg;
	for (int i = 0; i < 10; i++) {
		struct pam_auth_result r;
		bool good = i % 2 == 0;
		int st = privsep_pam_username(c->ps, "carol", good ? "carol-secret" : "bad",
		                              "127.0.0.1", &r);
		if (st == (good ? PAM_AUTH_OK : PAM_AUTH_DENIED))
			c->ok++;
		else
			c->bad++;
	}
	return NULL;
}

static void t_pam_monitors_concurrent(void)
{
	struct privsep_params p = mon_params(true, true);
	p.nlinks = 2; /* fewer links than threads: callers wait for one */
	char err[256] = "";
	struct privsep *ps = privsep_start(&p, err, sizeof(err));
	CHECK(ps != NULL);
	if (!ps)
		return;
	pthread_t th[4];
	struct conc c[4];
	for (int i = 0; i < 4; i++) {
		c[i] = (struct conc){ps, 0, 0};
		pthread_create(&th[i], NULL, conc_main, &c[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(c[i].ok, 10);
		CHECK_INT(c[i].bad, 0);
	}
	privsep_free(ps);
}

/* pam_unix with the users of scripts/pam-test.sh (needs root for shadow). */
static void t_pam_unix_users(void)
{
	struct privsep_params p = mon_params(true, true);
	p.pam.username_service = "csocks-unit-unix";
	struct pam_auth_result r;
	CHECK_INT(pam_auth_username(&p.pam, "csocks_alice", "alice-Pw-1", "127.0.0.1", &r),
	          PAM_AUTH_OK);
	CHECK_STR(r.user, "csocks_alice");
	CHECK_INT(pam_auth_username(&p.pam, "csocks_alice", "wrong", "127.0.0.1", &r),
	          PAM_AUTH_DENIED);
	CHECK_INT(pam_auth_username(&p.pam, "csocks_nobody_here", "x", "127.0.0.1", &r),
	          PAM_AUTH_DENIED);
	CHECK_INT(pam_auth_username(&p.pam, "csocks_locked", "locked-Pw-3", "127.0.0.1", &r),
	          PAM_AUTH_DENIED);
	CHECK_INT(pam_auth_username(&p.pam, "csocks_expired", "expired-Pw-4", "127.0.0.1", &r),
	          PAM_AUTH_ACCOUNT);
}

/* ---- the auth manager ---- */

static struct csocks_config *load(const char *text)
{
	struct config_diag d = {0};
	struct csocks_config *cfg = config_load_string(text, strlen(text), "test.toml", &d);
	for (size_t i = 0; i < d.n_errors; i++)
		fprintf(stderr, "config: %s\n", d.errors[i]);
	config_diag_free(&d);
	return cfg;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void task_done(struct auth_task *t)
{
	struct waiter *w = t->owner;
	pthread_mutex_lock(&w->mu);
	w->done++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Run one check to the end; returns what auth_start said (DONE/PENDING). */
static int check_one(struct auth_manager *m, struct auth_task *t, enum auth_tier tier,
                     const char *ip, const char *user, const char *pass)
{
	static struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	memset(t, 0, sizeof(*t));
	t->tier = tier;
	t->client = ip4(ip);
	snprintf(t->username, sizeof(t->username), "%s", user ? user : "");
	snprintf(t->password, sizeof(t->password), "%s", pass ? pass : "");
	t->done = task_done;
	t->owner = &w;
	pthread_mutex_lock(&w.mu);
	w.done = 0;
	pthread_mutex_unlock(&w.mu);
	int r = auth_start(m, t);
	if (r == AUTH_PENDING) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
	}
	return r;
}

static void t_manager_userpass_and_throttle(void)
{
	struct csocks_config *cfg =
	    load("[auth]\nsocks_method = \"userpass\"\nthreads = 2\n"
	         "[auth.throttle]\nmax_attempts = 3\n"
	         "[[auth.users]]\nusername = \"root\"\npassword = \"pw\"\n");
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	char err[256] = "";
	struct auth_manager *m = auth_manager_new(cfg, err, sizeof(err));
	CHECK(m != NULL);
	if (!m) {
		config_free(cfg);
		return;
	}
	CHECK_INT(auth_manager_start(m, err, sizeof(err)), 0);
	CHECK(auth_manager_tier_enabled(m, AUTH_TIER_SOCKS));
	CHECK(!auth_manager_tier_enabled(m, AUTH_TIER_CLIENT));
	CHECK_INT(auth_manager_socks_method_byte(m), 0x02);
	struct auth_task t;
	/* The client tier is none: accepted at once, anonymous. */
	CHECK_INT(check_one(m, &t, AUTH_TIER_CLIENT, "127.0.0.1", NULL, NULL), AUTH_DONE);
	CHECK_INT(t.outcome, AUTH_OK);
	CHECK_STR(t.user, "");
	auth_task_release(&t);
	/* First login: groups not cached yet, so the pool fetches them. */
	CHECK_INT(check_one(m, &t, AUTH_TIER_SOCKS, "127.0.0.1", "root", "pw"), AUTH_PENDING);
	CHECK_INT(t.outcome, AUTH_OK);
	CHECK_STR(t.user, "root");
	CHECK(t.groups && has_group(t.groups, "root"));
	CHECK(t.password[0] == '\0'); /* wiped */
	auth_task_release(&t);
	/* Second: cached, answered inline. */
	CHECK_INT(check_one(m, &t, AUTH_TIER_SOCKS, "127.0.0.1", "root", "pw"), AUTH_DONE);
	CHECK_INT(t.outcome, AUTH_OK);
	CHECK(t.groups && has_group(t.groups, "root"));
	auth_task_release(&t);
	/* Three failures lock 10.1.1.1 out; the right password no longer helps. */
	log_set_level(LOGL_ERROR);
	for (int i = 0; i < 3; i++) {
		check_one(m, &t, AUTH_TIER_SOCKS, "10.1.1.1", "root", "bad");
		CHECK_INT(t.outcome, AUTH_FAIL_CREDENTIALS);
		CHECK(t.groups == NULL && t.user[0] == '\0');
		auth_task_release(&t);
	}
	CHECK_INT(check_one(m, &t, AUTH_TIER_SOCKS, "10.1.1.1", "root", "pw"), AUTH_DONE);
	CHECK_INT(t.outcome, AUTH_FAIL_THROTTLED);
	CHECK(t.password[0] == '\0');
	auth_task_release(&t);
	/* Another address is not affected. */
	check_one(m, &t, AUTH_TIER_SOCKS, "10.1.1.2", "root", "pw");
	CHECK_INT(t.outcome, AUTH_OK);
	auth_task_release(&t);
	log_set_level(LOGL_WARN);
	struct auth_stats st;
	auth_manager_stats_get(m, &st);
	CHECK_INT(st.attempts, 7);
	CHECK_INT(st.ok, 3);
	CHECK_INT(st.fail_credentials, 3);
	CHECK_INT(st.fail_throttled, 1);
	CHECK_INT(st.lockouts, 1);
	auth_manager_free(m);
	config_free(cfg);
}

static void t_manager_pam(void)
{
	char text[1024];
	snprintf(text, sizeof(text),
	         "[auth]\nclient_method = \"pam.address\"\nsocks_method = \"pam.username\"\n"
	         "threads = 2\n[auth.pam]\nusername_service = \"csocks-unit-pwdfile\"\n"
	         "address_service = \"csocks-unit-access\"\ndefault_user = \"root\"\n");
	struct csocks_config *cfg = load(text);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	char err[256] = "";
	log_set_level(LOGL_ERROR); /* services are not in /etc/pam.d: a warning */
	struct auth_manager *m = auth_manager_new(cfg, err, sizeof(err));
	CHECK(m != NULL);
	if (!m) {
		config_free(cfg);
		return;
	}
	auth_manager_set_pam_confdir(m, confdir);
	CHECK_INT(auth_manager_start(m, err, sizeof(err)), 0);
	struct auth_task t;
	CHECK_INT(check_one(m, &t, AUTH_TIER_CLIENT, "127.0.0.1", NULL, NULL), AUTH_PENDING);
	CHECK_INT(t.outcome, AUTH_OK);
	CHECK_STR(t.user, ""); /* pam.address is anonymous */
	CHECK(t.groups == NULL);
	auth_task_release(&t);
	check_one(m, &t, AUTH_TIER_CLIENT, "127.0.0.2", NULL, NULL);
	CHECK_INT(t.outcome, AUTH_FAIL_CREDENTIALS);
	auth_task_release(&t);
	check_one(m, &t, AUTH_TIER_SOCKS, "127.0.0.1", "carol", "carol-secret");
	CHECK_INT(t.outcome, AUTH_OK);
	CHECK_STR(t.user, "carol");
	CHECK(t.groups && t.groups->n == 0); /* not an NSS user */
	auth_task_release(&t);
	check_one(m, &t, AUTH_TIER_SOCKS, "127.0.0.1", "carol", "wrong");
	CHECK_INT(t.outcome, AUTH_FAIL_CREDENTIALS);
	auth_task_release(&t);
	log_set_level(LOGL_WARN);
	auth_manager_free(m);
	config_free(cfg);
}

static void t_manager_rejects_bad_config(void)
{
	struct csocks_config *cfg = load("[auth]\nclient_method = \"pam.address\"\n"
	                                 "[auth.pam]\naddress_service = \"csocks-no-such-svc\"\n"
	                                 "verify_service = true\n");
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	char err[256] = "";
	CHECK(auth_manager_new(cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "csocks-no-such-svc") != NULL);
	config_free(cfg);
}

static void t_drop_privileges_errors(void)
{
	char err[256] = "";
	CHECK_INT(privsep_drop_privileges(NULL, NULL, err, sizeof(err)), 0);
	CHECK_INT(privsep_drop_privileges("csocks_no_such_user_xyz", NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "no such user") != NULL);
	CHECK_INT(privsep_drop_privileges("root", NULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "root") != NULL);
	CHECK_INT(privsep_drop_privileges(NULL, "csocks_no_such_group", err, sizeof(err)), -1);
}

/* In a child: drop to nobody and check every id, and that root is gone. */
static void t_drop_privileges_nobody(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		char err[256];
		if (privsep_drop_privileges("nobody", NULL, err, sizeof(err)) != 0)
			_exit(10);
		// cppcheck-suppress getpwnamCalled ; a forked child, single-threaded
		struct passwd *pw = getpwnam("nobody");
		uid_t r, e, s;
		getresuid(&r, &e, &s);
		if (!pw || r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid)
			_exit(11);
		if (getgid() != pw->pw_gid || getegid() != pw->pw_gid)
			_exit(12);
		if (setuid(0) == 0)
			_exit(13);
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
}

int main(void)
{
	log_setup(LOGL_WARN, LOGF_TEXT);
	signal(SIGPIPE, SIG_IGN);
	bool root = geteuid() == 0;
	bool fixtures = have_user("csocks_alice") && have_user("csocks_locked");
	const char *no_fixtures = "run scripts/pam-test.sh setup (as root) first";

	RUN(t_throttle_lockout);
	RUN(t_throttle_window);
	RUN(t_throttle_success_resets);
	RUN(t_throttle_v4mapped_and_families);
	RUN(t_throttle_bounded);
	RUN(t_throttle_threads);

	RUN(t_group_cache_ttl);
	RUN(t_group_cache_bounded_fifo);
	RUN(t_group_cache_errors_not_cached);
	RUN(t_group_cache_ttl_zero);
	RUN(t_groups_nss_root_and_unknown);
	RUN_IF(fixtures, t_groups_nss_supplementary, no_fixtures);

	RUN(t_frame_roundtrip);
	RUN(t_payload_fields);
	RUN(t_frame_bad_input);

	bool pam_ok = setup_confdir();
	RUN_IF(pam_ok, t_monitor_fail_closed, "cannot create a PAM service directory");
	RUN(t_client_fail_closed);
	RUN_IF(pam_ok, t_monitors_start_ping_and_die, "no PAM service directory");
	RUN_IF(pam_ok, t_monitor_exits_with_parent, "no PAM service directory");
	RUN_IF(pam_ok, t_pam_pwdfile, "no PAM service directory");
	RUN_IF(pam_ok, t_pam_address_rhost, "no PAM service directory");
	RUN_IF(pam_ok, t_pam_through_monitors, "no PAM service directory");
	RUN_IF(pam_ok, t_pam_monitors_concurrent, "no PAM service directory");
	RUN_IF(pam_ok && root && fixtures, t_pam_unix_users,
	       root ? no_fixtures : "pam_unix checks other users only as root");

	RUN(t_manager_userpass_and_throttle);
	RUN_IF(pam_ok, t_manager_pam, "no PAM service directory");
	RUN(t_manager_rejects_bad_config);
	RUN(t_drop_privileges_errors);
	RUN_IF(root, t_drop_privileges_nobody, "dropping privileges needs root");
	if (pam_ok)
		cleanup_confdir();

	printf("auth: %d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
	return test_failed ? 1 : 0;
}
