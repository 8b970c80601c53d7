/* Relay over real sockets: byte-exact transfer both ways (splice and copy
 * paths), half-close, back-pressure, pipes back in the pool, preload,
 * errors, the per-call budget. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/relay.h"
#include "test.h"

/* Two connected TCP loopback sockets: *a (the peer) and *b (the proxy's end). */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0);
	int rc = bind(l, (struct sockaddr *)&sa, sizeof(sa));
	CHECK(rc == 0);
	CHECK(listen(l, 1) == 0);
	CHECK(getsockname(l, (struct sockaddr *)&sa, &len) == 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(*a, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	// cppcheck-suppress nullPointer ; accept4 allows NULL addrlen (gnu.cfg bug)
	*b = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	CHECK(*b >= 0);
	fcntl(*a, F_SETFL, O_NONBLOCK);
	close(l);
}

static void unix_pair(int *a, int *b)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	*a = sv[0];
	*b = sv[1];
}

/* The relay sits between client (c_peer <-> c) and upstream (u <-> u_peer). */
struct rig {
	int c_peer, c, u, u_peer;
	struct pipepool pool;
	struct relay r;
};

static void rig_open(struct rig *g, int use_tcp, uint32_t max_pipes)
{
	if (use_tcp) {
		tcp_pair(&g->c_peer, &g->c);
		tcp_pair(&g->u_peer, &g->u);
	} else {
		unix_pair(&g->c_peer, &g->c);
		unix_pair(&g->u_peer, &g->u);
	}
	pipepool_init(&g->pool, max_pipes, 8);
	relay_init(&g->r, &g->pool, g->c, g->u);
}

static void rig_close(struct rig *g)
{
	relay_release(&g->r);
	pipepool_fini(&g->pool);
	CHECK_INT(g->pool.pipes_alive, 0);
	close(g->c_peer);
	close(g->c);
	close(g->u);
	close(g->u_peer);
}

/* Level-triggered emulation: say everything is ready; EAGAIN corrects it. */
static enum relay_status step(struct relay *r, size_t budget)
{
	for (int i = 0; i < 2; i++)
		r->end[i].can_read = r->end[i].can_write = 1;
	return relay_run(r, budget);
}

static uint8_t pattern(uint64_t i, int salt)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)salt;
}

struct stream {
	uint64_t sent, recvd, total;
	int salt, bad, shut;
};

static void pump_send(int fd, struct stream *s)
{
	uint8_t buf[65536];
	while (s->sent < s->total) {
		size_t n =
		    s->total - s->sent < sizeof(buf) ? (size_t)(s->total - s->sent) : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(s->sent + i, s->salt);
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s->sent += (uint64_t)w;
	}
	if (!s->shut) {
		shutdown(fd, SHUT_WR);
		s->shut = 1;
	}
}

/* Returns 1 at EOF. */
static int pump_recv(int fd, struct stream *s)
{
	uint8_t buf[65536];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			return 1;
		if (n < 0)
			return 0;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(s->recvd + (uint64_t)i, s->salt))
				s->bad++;
		s->recvd += (uint64_t)n;
	}
}

/* Send `total` bytes each way at once, both half-closing at the end. */
static void transfer_both_ways(int use_tcp, uint32_t max_pipes, uint64_t total)
{
	struct rig g;
	rig_open(&g, use_tcp, max_pipes);
	struct stream up = {.total = total, .salt = 1}, down = {.total = total, .salt = 2};
	int eof_up = 0, eof_down = 0;
	enum relay_status st = RELAY_WAIT;
	for (long iter = 0; iter < 2000000 && !(eof_up && eof_down && st == RELAY_DONE); iter++) {
		pump_send(g.c_peer, &up);
		pump_send(g.u_peer, &down);
		st = step(&g.r, RELAY_BUDGET);
		CHECK(st != RELAY_ERROR);
		if (st == RELAY_ERROR)
			break;
		if (!eof_up)
			eof_up = pump_recv(g.u_peer, &up);
		if (!eof_down)
			eof_down = pump_recv(g.c_peer, &down);
	}
	CHECK_INT(st, RELAY_DONE);
	CHECK_INT(up.recvd, total);
	CHECK_INT(down.recvd, total);
	CHECK_INT(up.bad, 0);
	CHECK_INT(down.bad, 0);
	CHECK_INT(g.r.dir[RELAY_UP].bytes, total);
	CHECK_INT(g.r.dir[RELAY_DOWN].bytes, total);
	CHECK(g.r.dir[RELAY_UP].reads > 0);
	/* Every carrier is back: idle tunnels hold no pipe. */
	CHECK(g.r.dir[0].pipe == NULL && g.r.dir[1].pipe == NULL);
	CHECK(g.r.dir[0].buf == NULL && g.r.dir[1].buf == NULL);
	CHECK_INT(g.pool.pipes_free, g.pool.pipes_alive);
	if (max_pipes == 0)
		CHECK_INT(g.pool.pipes_alive, 0);
	rig_close(&g);
}

static void t_splice_tcp(void)
{
	transfer_both_ways(1, 16, 16u << 20);
}
static void t_splice_unix(void)
{
	transfer_both_ways(0, 16, 4u << 20);
}
static void t_copy_tcp(void)
{
	transfer_both_ways(1, 0, 8u << 20);
}

static void t_half_close(void)
{
	struct rig g;
	rig_open(&g, 1, 4);
	char buf[64];
	/* Client sends and shuts down writing; upstream reads to EOF. */
	CHECK_INT(send(g.c_peer, "hello", 5, 0), 5);
	shutdown(g.c_peer, SHUT_WR);
	ssize_t n = 0;
	int eof = 0;
	for (int i = 0; i < 1000 && !eof; i++) {
		CHECK_INT(step(&g.r, RELAY_BUDGET), RELAY_WAIT);
		ssize_t k = recv(g.u_peer, buf + n, sizeof(buf) - (size_t)n, 0);
		if (k > 0)
			n += k;
		else if (k == 0)
			eof = 1;
		else
			poll(NULL, 0, 1);
	}
	CHECK(eof);
	CHECK_INT(n, 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK(g.r.dir[RELAY_UP].flags & RELAY_DIR_SHUT);
	/* The other direction still flows. */
	CHECK_INT(send(g.u_peer, "world!", 6, 0), 6);
	close(g.u_peer);
	g.u_peer = socket(AF_INET, SOCK_STREAM, 0); /* keep rig_close simple */
	enum relay_status st = RELAY_WAIT;
	for (int i = 0; i < 1000 && st != RELAY_DONE; i++) {
		st = step(&g.r, RELAY_BUDGET);
		if (st != RELAY_DONE)
			poll(NULL, 0, 1);
	}
	CHECK_INT(st, RELAY_DONE);
	n = 0;
	eof = 0;
	for (int i = 0; i < 1000 && !eof; i++) {
		ssize_t k = recv(g.c_peer, buf + n, sizeof(buf) - (size_t)n, 0);
		if (k > 0)
			n += k;
		else if (k == 0)
			eof = 1;
		else
			poll(NULL, 0, 1);
	}
	CHECK(eof);
	CHECK_INT(n, 6);
	CHECK(memcmp(buf, "world!", 6) == 0);
	CHECK_INT(g.r.dir[RELAY_DOWN].bytes, 6);
	rig_close(&g);
}

static void t_back_pressure(void)
{
	struct rig g;
	rig_open(&g, 1, 4);
	int small = 16384;
	setsockopt(g.u_peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(g.u, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(g.c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(g.c_peer, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	/* The upstream peer reads nothing: the client's writes must stall,
	 * with at most one pipe-load held by the relay. */
	struct stream up = {.total = 64u << 20, .salt = 3};
	uint64_t last = 0;
	int stable = 0;
	for (int i = 0; i < 10000 && stable < 50; i++) {
		pump_send(g.c_peer, &up);
		CHECK(step(&g.r, RELAY_BUDGET) != RELAY_ERROR);
		stable = up.sent == last ? stable + 1 : 0;
		last = up.sent;
	}
	CHECK(stable >= 50);
	CHECK(up.sent < up.total);
	CHECK(relay_inflight(&g.r) <= PIPEPOOL_PIPE_BIG);
	/* At most the one pipe this direction holds is in use. */
	CHECK_INT(g.pool.pipes_alive - g.pool.pipes_free, g.r.dir[RELAY_UP].pipe ? 1 : 0);
	/* A slow reader drains everything, byte-exact. */
	up.total = up.sent + (1u << 20);
	int eof = 0;
	for (long i = 0; i < 1000000 && !eof; i++) {
		pump_send(g.c_peer, &up);
		step(&g.r, 4096);
		uint8_t buf[1024];
		ssize_t n = recv(g.u_peer, buf, sizeof(buf), 0);
		if (n == 0)
			eof = 1;
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != pattern(up.recvd + (uint64_t)k, up.salt))
				up.bad++;
		if (n > 0)
			up.recvd += (uint64_t)n;
	}
	CHECK(eof);
	CHECK_INT(up.recvd, up.total);
	CHECK_INT(up.bad, 0);
	CHECK(g.r.dir[RELAY_UP].pipe == NULL);
	rig_close(&g);
}

static void t_preload(void)
{
	struct rig g;
	rig_open(&g, 1, 4);
	static const uint8_t early[] = "GET / HTTP/1.0\r\n";
	relay_preload(&g.r, RELAY_UP, early, sizeof(early) - 1);
	CHECK_INT(send(g.c_peer, "Host: x\r\n\r\n", 11, 0), 11);
	char buf[128];
	ssize_t n = 0;
	for (int i = 0; i < 1000 && n < 27; i++) {
		step(&g.r, RELAY_BUDGET);
		ssize_t k = recv(g.u_peer, buf + n, sizeof(buf) - (size_t)n, 0);
		if (k > 0)
			n += k;
		else
			poll(NULL, 0, 1);
	}
	CHECK_INT(n, 27);
	CHECK(memcmp(buf, "GET / HTTP/1.0\r\nHost: x\r\n\r\n", 27) == 0);
	CHECK_INT(g.r.dir[RELAY_UP].bytes, 27);
	rig_close(&g);
}

static void t_reset(void)
{
	struct rig g;
	rig_open(&g, 1, 4);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(g.u_peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(g.u_peer); /* RST */
	g.u_peer = socket(AF_INET, SOCK_STREAM, 0);
	enum relay_status st = RELAY_WAIT;
	for (int i = 0; i < 1000 && st != RELAY_ERROR; i++) {
		send(g.c_peer, "x", 1, MSG_NOSIGNAL);
		st = step(&g.r, RELAY_BUDGET);
		if (st != RELAY_ERROR)
			poll(NULL, 0, 1);
	}
	CHECK_INT(st, RELAY_ERROR);
	CHECK_INT(g.r.err_end, RELAY_UPSTREAM);
	CHECK(g.r.err == ECONNRESET || g.r.err == EPIPE);
	rig_close(&g);
}

static void t_budget(void)
{
	struct rig g;
	rig_open(&g, 1, 4);
	struct stream up = {.total = 1u << 20, .salt = 4};
	pump_send(g.c_peer, &up);
	poll(NULL, 0, 20);
	/* A tiny budget leaves work for the next turn. */
	enum relay_status st = step(&g.r, 1);
	CHECK_INT(st, RELAY_BUSY);
	CHECK(g.r.dir[RELAY_UP].bytes > 0);
	rig_close(&g);
}

/* Pipe sizes: a worker's first PIPEPOOL_BIG_PIPES pipes are asked for
 * 1 MiB, later ones for 256 KiB; each remembers what the kernel gave it,
 * and a pooled pipe keeps its size when it is handed out again. */
/* read_cap (shaping): a turn reads at most the cap over both directions,
 * says RELAY_CAPPED while a source has more, and delivers all in the end. */
static void read_cap_case(uint32_t max_pipes)
{
	struct rig g;
	rig_open(&g, 1, max_pipes);
	uint8_t buf[100000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i, 7);
	CHECK_INT(send(g.c_peer, buf, sizeof(buf), 0), sizeof(buf));
	CHECK_INT(send(g.u_peer, buf, 5000, 0), 5000);
	usleep(20000);
	g.r.read_cap = 10000;
	CHECK_INT(step(&g.r, RELAY_BUDGET), RELAY_CAPPED);
	CHECK_INT(g.r.read_used, 10000);
	CHECK_INT(g.r.dir[RELAY_UP].bytes + g.r.dir[RELAY_DOWN].bytes, 10000);
	uint64_t turns = 1, total = 10000;
	g.r.read_cap = 30000;
	for (; turns < 50 && total < sizeof(buf) + 5000; turns++) {
		enum relay_status st = step(&g.r, RELAY_BUDGET);
		CHECK(g.r.read_used <= 30000);
		total += g.r.read_used;
		if (total < sizeof(buf) + 5000)
			CHECK_INT(st, RELAY_CAPPED);
	}
	CHECK_INT(total, sizeof(buf) + 5000);
	CHECK_INT(g.r.dir[RELAY_UP].bytes, sizeof(buf));
	CHECK_INT(g.r.dir[RELAY_DOWN].bytes, 5000);
	/* byte-exact on the far sides */
	uint8_t got[100000];
	size_t have = 0;
	for (int i = 0; i < 100 && have < sizeof(got); i++) {
		ssize_t n = recv(g.u_peer, got + have, sizeof(got) - have, 0);
		if (n > 0)
			have += (size_t)n;
		else
			usleep(1000);
	}
	CHECK_INT(have, sizeof(buf));
	CHECK(memcmp(got, buf, sizeof(buf)) == 0);
	/* nothing left to read: an uncapped turn waits */
	g.r.read_cap = UINT64_MAX;
	CHECK_INT(step(&g.r, RELAY_BUDGET), RELAY_WAIT);
	rig_close(&g);
}

static void t_read_cap(void)
{
	read_cap_case(16); /* splice */
	read_cap_case(0);  /* copy */
}

static void t_pipe_sizes(void)
{
	struct pipepool pool;
	struct pipe_ent *pe[PIPEPOOL_BIG_PIPES + 2];
	pipepool_init(&pool, 64, 64);
	int n = PIPEPOOL_BIG_PIPES + 2;
	for (int i = 0; i < n; i++) {
		pe[i] = pipepool_get_pipe(&pool);
		CHECK(pe[i] != NULL);
		if (!pe[i])
			return;
		CHECK_INT(pe[i]->size, fcntl(pe[i]->rd, F_GETPIPE_SZ));
	}
	/* Room for the big size: pipe-max-size is 1 MiB by default, and
	 * root (the test runner) is not bound by pipe-user-pages-soft. */
	for (int i = 0; i < PIPEPOOL_BIG_PIPES; i++)
		CHECK_INT(pe[i]->size, PIPEPOOL_PIPE_BIG);
	CHECK_INT(pe[PIPEPOOL_BIG_PIPES]->size, PIPEPOOL_PIPE_SIZE);
	CHECK_INT(pe[PIPEPOOL_BIG_PIPES + 1]->size, PIPEPOOL_PIPE_SIZE);
	/* Back to the pool and out again: same pipe, same size. */
	pipepool_put_pipe(&pool, pe[0]);
	struct pipe_ent *again = pipepool_get_pipe(&pool);
	CHECK(again == pe[0]);
	CHECK_INT(again->size, PIPEPOOL_PIPE_BIG);
	for (int i = 0; i < n; i++)
		pipepool_put_pipe(&pool, pe[i]);
	pipepool_fini(&pool);
	CHECK_INT(pool.pipes_alive, 0);
}

int main(void)
{
	RUN(t_pipe_sizes);
	RUN(t_read_cap);
	signal(SIGPIPE, SIG_IGN);
	RUN(t_splice_tcp);
	RUN(t_splice_unix);
	RUN(t_copy_tcp);
	RUN(t_half_close);
	RUN(t_back_pressure);
	RUN(t_preload);
	RUN(t_reset);
	RUN(t_budget);
	return TEST_END("relay");
}
