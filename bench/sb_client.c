/* sb_client.c - see sb_client.h.
 *
 * Level-triggered epoll. A connection's interest set follows its state (IN
 * while it waits for bytes, OUT while it sends), changed only on transitions.
 * Bulk steps move at most CHUNKS_PER_EVENT chunks per event, so connections
 * share the worker fairly. Nothing is allocated after sb_worker_new().
 */
#include "sb_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CHUNKS_PER_EVENT 8
#define SCAN_INTERVAL_NS 100000000ull /* timeout scan every 100 ms */
#define HBUF             600          /* largest message: RFC 1929 request, 3 + 255 + 255 */

enum cstate {
	C_FREE,       /* slot unused (never started, or finished) */
	C_CONNECT,    /* TCP connect in progress */
	C_GREET_SEND, /* VER NMETHODS METHODS */
	C_GREET_RECV, /* VER METHOD */
	C_AUTH_SEND,  /* RFC 1929: VER ULEN UNAME PLEN PASSWD */
	C_AUTH_RECV,  /* VER STATUS */
	C_REQ_SEND,   /* VER CMD RSV ATYP DST.ADDR DST.PORT */
	C_REQ_RECV,   /* VER REP RSV ATYP BND.ADDR BND.PORT */
	C_HDR_SEND,   /* target header (+ echo request bytes) */
	C_DOWN,       /* download: receive count bytes, then EOF */
	C_UP,         /* upload: send count bytes (no half-close: not every proxy passes it) */
	C_UP_RESULT,  /* upload: the target's 9-byte result */
	C_ECHO_RECV,  /* echo: the request bytes coming back */
	C_ECHO_EOF,   /* echo with SB_HDR_F_CLOSE: then the target's EOF */
	C_HOLD_ACK,   /* hold: the target's 'K' */
	C_HELD,       /* hold: tunnel established and idle (terminal for the job) */
	C_RETRY,      /* repeat jobs: the start failed locally; retried by the scan */
};

enum step {
	ST_NEXT, /* state advanced: run the next step now */
	ST_WAIT, /* wait for readiness (or yield after a bounded burst) */
	ST_OK,   /* connection finished successfully */
	ST_FAIL, /* connection failed: c->err is set */
};

struct cconn {
	int fd;
	uint8_t state;
	uint8_t err;
	uint32_t mask;
	uint32_t gen; /* bumped per start: stale epoll events are ignored */
	uint32_t idx; /* slot index */
	uint64_t t_start;
	uint64_t done;  /* payload bytes moved */
	uint32_t reads; /* payload reads (sb_recv_pattern's sample counter) */
	uint16_t off;   /* bytes sent from / received into buf */
	uint16_t len;   /* bytes to send from buf / expected into buf */
	uint8_t buf[HBUF];
};

struct sb_worker {
	struct sb_client_cfg cfg;
	struct sb_job job;
	int epfd;
	pthread_t th;
	bool started;
	struct cconn *conns;
	int next_slot; /* first slot never started (window mode) */
	int inflight;  /* connections not C_FREE and not C_HELD */
	uint8_t *rbuf; /* SB_IO_CHUNK */
	struct sb_stats st;
};

static const char *const err_names[SB_E_COUNT] = {
    [SB_E_CONNECT] = "connect", [SB_E_CLOSED] = "closed",   [SB_E_IO] = "io",
    [SB_E_PROTO] = "proto",     [SB_E_AUTH] = "auth",       [SB_E_REPLY] = "reply",
    [SB_E_DATA] = "data",       [SB_E_TIMEOUT] = "timeout",
};

const char *sb_err_name(enum sb_err e)
{
	return (unsigned)e < SB_E_COUNT ? err_names[e] : "?";
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

static enum step fail(struct sb_worker *w, struct cconn *c, enum sb_err e)
{
	c->err = (uint8_t)e;
	if ((e == SB_E_CONNECT || e == SB_E_IO) && w->st.first_errno == 0)
		w->st.first_errno = errno ? errno : -1;
	return ST_FAIL;
}

/* ---- generic message I/O on c->buf ---- */

/* Send buf[off..len); ST_NEXT when all sent. */
static enum step send_buf(struct sb_worker *w, struct cconn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n < 0)
			return would_block() ? ST_WAIT : fail(w, c, SB_E_IO);
		c->off += (uint16_t)n;
	}
	return ST_NEXT;
}

/* Receive into buf[off..) (never more than the buffer). ST_NEXT when at least
 * one byte arrived; EOF fails as CLOSED. The caller checks completeness. */
static enum step recv_some(struct sb_worker *w, struct cconn *c)
{
	ssize_t n = recv(c->fd, c->buf + c->off, sizeof(c->buf) - c->off, 0);
	if (n < 0)
		return would_block() ? ST_WAIT : fail(w, c, SB_E_IO);
	if (n == 0)
		return fail(w, c, SB_E_CLOSED);
	c->off += (uint16_t)n;
	return ST_NEXT;
}

static void begin_send(struct cconn *c, enum cstate s, uint16_t len)
{
	c->state = (uint8_t)s;
	c->off = 0;
	c->len = len;
}

static void begin_recv(struct cconn *c, enum cstate s)
{
	c->state = (uint8_t)s;
	c->off = 0;
	c->len = 0;
}

/* ---- protocol steps ---- */

static void prepare_greeting(struct sb_worker *w, struct cconn *c)
{
	c->buf[0] = 0x05;
	c->buf[1] = 0x01;
	c->buf[2] = w->cfg.user ? 0x02 : 0x00;
	begin_send(c, C_GREET_SEND, 3);
}

static void prepare_hdr(struct sb_worker *w, struct cconn *c)
{
	sb_hdr_encode(c->buf, w->job.op, w->job.count, w->job.hdr_flags);
	uint16_t len = SB_HDR_LEN;
	if (w->job.op == SB_OP_ECHO) {
		/* The request follows the header in the same segment. */
		memcpy(c->buf + SB_HDR_LEN, sb_pattern_at(0), w->job.count);
		len += (uint16_t)w->job.count;
	}
	begin_send(c, C_HDR_SEND, len);
}

static void socks_ready(struct sb_worker *w, struct cconn *c)
{
	sb_hist_add(&w->st.hs, sb_now_ns() - c->t_start);
	prepare_hdr(w, c);
}

static enum step step_connect(struct sb_worker *w, struct cconn *c)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
		errno = soerr;
		return fail(w, c, SB_E_CONNECT);
	}
	if (w->cfg.direct)
		socks_ready(w, c);
	else
		prepare_greeting(w, c);
	return ST_NEXT;
}

static enum step step_greet_recv(struct sb_worker *w, struct cconn *c)
{
	enum step s = recv_some(w, c);
	if (s != ST_NEXT)
		return s;
	if (c->buf[0] != 0x05 || c->off > 2)
		return fail(w, c, SB_E_PROTO);
	if (c->off < 2)
		return ST_WAIT;
	uint8_t want = w->cfg.user ? 0x02 : 0x00;
	if (c->buf[1] != want)
		return fail(w, c, SB_E_AUTH);
	if (w->cfg.user) {
		size_t ul = strlen(w->cfg.user), pl = strlen(w->cfg.pass);
		c->buf[0] = 0x01;
		c->buf[1] = (uint8_t)ul;
		memcpy(c->buf + 2, w->cfg.user, ul);
		c->buf[2 + ul] = (uint8_t)pl;
		memcpy(c->buf + 3 + ul, w->cfg.pass, pl);
		begin_send(c, C_AUTH_SEND, (uint16_t)(3 + ul + pl));
	} else {
		memcpy(c->buf, w->cfg.req, w->cfg.req_len);
		begin_send(c, C_REQ_SEND, (uint16_t)w->cfg.req_len);
	}
	return ST_NEXT;
}

static enum step step_auth_recv(struct sb_worker *w, struct cconn *c)
{
	enum step s = recv_some(w, c);
	if (s != ST_NEXT)
		return s;
	if (c->buf[0] != 0x01 || c->off > 2)
		return fail(w, c, SB_E_PROTO);
	if (c->off < 2)
		return ST_WAIT;
	if (c->buf[1] != 0x00)
		return fail(w, c, SB_E_AUTH);
	memcpy(c->buf, w->cfg.req, w->cfg.req_len);
	begin_send(c, C_REQ_SEND, (uint16_t)w->cfg.req_len);
	return ST_NEXT;
}

/* The reply is checked byte by byte as it arrives. Nothing may follow it: the
 * target speaks only after our header, so extra bytes are a proxy bug. */
static enum step step_req_recv(struct sb_worker *w, struct cconn *c)
{
	enum step s = recv_some(w, c);
	if (s != ST_NEXT)
		return s;
	const uint8_t *b = c->buf;
	if (b[0] != 0x05)
		return fail(w, c, SB_E_PROTO);
	if (c->off >= 2 && b[1] != 0x00) {
		w->st.rep[b[1]]++;
		return fail(w, c, SB_E_REPLY);
	}
	if (c->off >= 3 && b[2] != 0x00)
		return fail(w, c, SB_E_PROTO);
	if (c->off < 4)
		return ST_WAIT;
	size_t need;
	switch (b[3]) {
	case 0x01:
		need = 4 + 4 + 2;
		break;
	case 0x04:
		need = 4 + 16 + 2;
		break;
	case 0x03:
		if (c->off < 5)
			return ST_WAIT;
		if (b[4] == 0)
			return fail(w, c, SB_E_PROTO);
		need = 4 + 1 + b[4] + 2;
		break;
	default:
		return fail(w, c, SB_E_PROTO);
	}
	if (c->off > need)
		return fail(w, c, SB_E_PROTO);
	if (c->off < need)
		return ST_WAIT;
	socks_ready(w, c);
	return ST_NEXT;
}

static enum step step_hdr_sent(struct sb_worker *w, struct cconn *c)
{
	switch (w->job.op) {
	case SB_OP_DOWNLOAD:
		c->state = C_DOWN;
		break;
	case SB_OP_UPLOAD:
		c->state = C_UP;
		break;
	case SB_OP_ECHO:
		begin_recv(c, C_ECHO_RECV);
		break;
	case SB_OP_HOLD:
		begin_recv(c, C_HOLD_ACK);
		break;
	}
	return ST_NEXT;
}

static enum step step_down(struct sb_worker *w, struct cconn *c)
{
	for (int i = 0; i < CHUNKS_PER_EVENT; i++) {
		bool bad = false;
		ssize_t n = sb_recv_pattern(c->fd, w->rbuf, SB_IO_CHUNK, c->done,
		                            w->job.hdr_flags & SB_HDR_F_SAMPLE, &c->reads, &bad);
		if (n < 0)
			return would_block() ? ST_WAIT : fail(w, c, SB_E_IO);
		if (n == 0)
			return c->done == w->job.count ? ST_OK : fail(w, c, SB_E_DATA);
		if (c->done + (uint64_t)n > w->job.count || bad)
			return fail(w, c, SB_E_DATA);
		c->done += (uint64_t)n;
	}
	return ST_WAIT;
}

static enum step step_up(struct sb_worker *w, struct cconn *c)
{
	for (int i = 0; i < CHUNKS_PER_EVENT && c->done < w->job.count; i++) {
		uint64_t left = w->job.count - c->done;
		size_t len = left < SB_IO_CHUNK ? (size_t)left : SB_IO_CHUNK;
		ssize_t n = send(c->fd, sb_pattern_at(c->done), len, MSG_NOSIGNAL);
		if (n < 0)
			return would_block() ? ST_WAIT : fail(w, c, SB_E_IO);
		c->done += (uint64_t)n;
	}
	if (c->done < w->job.count)
		return ST_WAIT;
	begin_recv(c, C_UP_RESULT);
	return ST_NEXT;
}

static enum step step_up_result(struct sb_worker *w, struct cconn *c)
{
	enum step s = recv_some(w, c);
	if (s != ST_NEXT)
		return s;
	if (c->off > SB_RESULT_LEN)
		return fail(w, c, SB_E_DATA);
	if (c->off < SB_RESULT_LEN)
		return ST_WAIT;
	if (sb_u64_get(c->buf) != w->job.count || c->buf[8] != SB_RES_OK)
		return fail(w, c, SB_E_DATA);
	return ST_OK;
}

static enum step step_echo_recv(struct sb_worker *w, struct cconn *c)
{
	enum step s = recv_some(w, c);
	if (s != ST_NEXT)
		return s;
	if (c->off > w->job.count || !sb_pattern_ok(c->buf, c->off, 0))
		return fail(w, c, SB_E_DATA);
	if (c->off < w->job.count)
		return ST_WAIT;
	c->done = w->job.count;
	if (w->job.hdr_flags & SB_HDR_F_CLOSE) {
		begin_recv(c, C_ECHO_EOF);
		return ST_NEXT;
	}
	return ST_OK;
}

static enum step step_echo_eof(struct sb_worker *w, struct cconn *c)
{
	ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);
	if (n < 0)
		return would_block() ? ST_WAIT : fail(w, c, SB_E_IO);
	return n == 0 ? ST_OK : fail(w, c, SB_E_DATA);
}

static enum step step_hold_ack(struct sb_worker *w, struct cconn *c)
{
	enum step s = recv_some(w, c);
	if (s != ST_NEXT)
		return s;
	if (c->off != 1 || c->buf[0] != 'K')
		return fail(w, c, SB_E_DATA);
	return ST_OK;
}

static enum step run_step(struct sb_worker *w, struct cconn *c)
{
	switch (c->state) {
	case C_CONNECT:
		return step_connect(w, c);
	case C_GREET_SEND:
	case C_AUTH_SEND:
	case C_REQ_SEND:
	case C_HDR_SEND: {
		enum step s = send_buf(w, c);
		if (s != ST_NEXT)
			return s;
		if (c->state == C_HDR_SEND)
			return step_hdr_sent(w, c);
		begin_recv(c, (enum cstate)(c->state + 1)); /* *_SEND -> *_RECV */
		return ST_NEXT;
	}
	case C_GREET_RECV:
		return step_greet_recv(w, c);
	case C_AUTH_RECV:
		return step_auth_recv(w, c);
	case C_REQ_RECV:
		return step_req_recv(w, c);
	case C_DOWN:
		return step_down(w, c);
	case C_UP:
		return step_up(w, c);
	case C_UP_RESULT:
		return step_up_result(w, c);
	case C_ECHO_RECV:
		return step_echo_recv(w, c);
	case C_ECHO_EOF:
		return step_echo_eof(w, c);
	case C_HOLD_ACK:
		return step_hold_ack(w, c);
	default:
		return ST_WAIT; /* C_HELD: nothing to do */
	}
}

static uint32_t state_mask(enum cstate s)
{
	switch (s) {
	case C_CONNECT:
	case C_GREET_SEND:
	case C_AUTH_SEND:
	case C_REQ_SEND:
	case C_HDR_SEND:
	case C_UP:
		return EPOLLOUT;
	default:
		return EPOLLIN;
	}
}

/* ---- connection lifecycle ---- */

/* epoll data: slot index and generation, so an event fetched for a connection
 * that ended (and whose slot restarted) earlier in the same batch is dropped. */
static uint64_t conn_tag(const struct cconn *c)
{
	return ((uint64_t)c->gen << 32) | c->idx;
}

static void conn_start(struct sb_worker *w, struct cconn *c);

static bool may_start(const struct sb_worker *w)
{
	if (w->job.quota && w->st.started >= w->job.quota)
		return false;
	return sb_now_ns() < w->job.stop_starts_ns;
}

/* Start pending slots up to the window (HOLD jobs ramp up gradually). */
static void fill_window(struct sb_worker *w)
{
	int window = w->job.window > 0 ? w->job.window : w->job.nconns;
	while (w->next_slot < w->job.nconns && w->inflight < window && may_start(w))
		conn_start(w, &w->conns[w->next_slot++]);
}

static void conn_end(struct sb_worker *w, struct cconn *c, enum step s)
{
	uint64_t now = sb_now_ns();
	w->inflight--;
	if (s == ST_OK) {
		w->st.ok++;
		w->st.bytes += c->done;
		sb_hist_add(&w->st.txn, now - c->t_start);
		w->st.t_last_ns = now;
		if (w->job.op == SB_OP_HOLD) {
			c->state = C_HELD;
			struct epoll_event ev = {.events = 0, .data.u64 = conn_tag(c)};
			epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
			c->mask = 0;
			fill_window(w);
			return;
		}
	} else {
		w->st.err[c->err]++;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = C_FREE;
	if (w->job.repeat && may_start(w))
		conn_start(w, c);
	else
		fill_window(w);
}

static void conn_drive(struct sb_worker *w, struct cconn *c)
{
	for (;;) {
		enum step s = run_step(w, c);
		if (s == ST_NEXT)
			continue;
		if (s == ST_WAIT) {
			uint32_t m = state_mask((enum cstate)c->state);
			if (m != c->mask) {
				struct epoll_event ev = {.events = m, .data.u64 = conn_tag(c)};
				epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
				c->mask = m;
			}
			return;
		}
		conn_end(w, c, s);
		return;
	}
}

/* A start that fails at once (EMFILE, EADDRNOTAVAIL) counts the error. No
 * restart from here, so it cannot recurse: a repeat job's slot waits in
 * C_RETRY for the next scan (~100 ms), any other slot is freed. */
static void start_failed(struct sb_worker *w, struct cconn *c, enum sb_err e)
{
	fail(w, c, e);
	w->st.err[e]++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (w->job.repeat) {
		c->state = C_RETRY;
		return;
	}
	w->inflight--;
	c->state = C_FREE;
}

static void conn_start(struct sb_worker *w, struct cconn *c)
{
	w->st.started++;
	w->inflight++;
	c->gen++;
	c->t_start = sb_now_ns();
	c->done = 0;
	c->reads = 0;
	c->err = 0;
	c->state = C_CONNECT;
	c->mask = EPOLLOUT;
	c->fd = socket(w->cfg.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		start_failed(w, c, SB_E_CONNECT);
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (w->cfg.have_source) {
		/* The port is picked at connect() time, per destination, so the
		 * client does not exhaust ports of its own. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&w->cfg.source, w->cfg.sourcelen) != 0) {
			start_failed(w, c, SB_E_CONNECT);
			return;
		}
	}
	if (connect(c->fd, (struct sockaddr *)&w->cfg.addr, w->cfg.addrlen) != 0 &&
	    errno != EINPROGRESS) {
		start_failed(w, c, SB_E_CONNECT);
		return;
	}
	/* Even an immediate success is picked up by the EPOLLOUT event. */
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = conn_tag(c)};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		start_failed(w, c, SB_E_IO);
}

static void scan_timeouts(struct sb_worker *w, uint64_t now, bool all)
{
	for (int i = 0; i < w->job.nconns; i++) {
		struct cconn *c = &w->conns[i];
		if (c->state == C_FREE || c->state == C_HELD)
			continue;
		if (c->state == C_RETRY) {
			w->inflight--;
			c->state = C_FREE;
			if (!all && may_start(w))
				conn_start(w, c);
			continue;
		}
		if (all || (w->job.conn_timeout_ns && now - c->t_start > w->job.conn_timeout_ns)) {
			c->err = SB_E_TIMEOUT;
			/* No restart once the hard deadline has passed. */
			conn_end(w, c, ST_FAIL);
		}
	}
}

static void *worker_run(void *arg)
{
	struct sb_worker *w = arg;
	struct epoll_event evs[512];
	fill_window(w);
	uint64_t next_scan = sb_now_ns() + SCAN_INTERVAL_NS;
	while (w->inflight > 0) {
		int n = epoll_wait(w->epfd, evs, 512, 50);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			struct cconn *c = &w->conns[(uint32_t)tag];
			if ((uint32_t)(tag >> 32) == c->gen && c->state != C_FREE &&
			    c->state != C_HELD && c->state != C_RETRY)
				conn_drive(w, c);
		}
		uint64_t now = sb_now_ns();
		if (now >= w->job.hard_deadline_ns) {
			w->job.stop_starts_ns = 0;
			scan_timeouts(w, now, true);
		} else if (now >= next_scan) {
			scan_timeouts(w, now, false);
			next_scan = now + SCAN_INTERVAL_NS;
		}
	}
	return NULL;
}

/* ---- public ---- */

struct sb_worker *sb_worker_new(const struct sb_client_cfg *cfg, const struct sb_job *job)
{
	struct sb_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cfg = *cfg;
	w->job = *job;
	sb_hist_init(&w->st.hs);
	sb_hist_init(&w->st.txn);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->conns = calloc((size_t)(job->nconns > 0 ? job->nconns : 1), sizeof(*w->conns));
	w->rbuf = malloc(SB_IO_CHUNK);
	if (w->epfd < 0 || !w->conns || !w->rbuf) {
		sb_worker_free(w);
		return NULL;
	}
	for (int i = 0; i < job->nconns; i++) {
		w->conns[i].fd = -1;
		w->conns[i].idx = (uint32_t)i;
	}
	return w;
}

int sb_worker_start(struct sb_worker *w)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&w->th, NULL, worker_run, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	w->started = true;
	return 0;
}

void sb_worker_join(struct sb_worker *w)
{
	if (w->started)
		pthread_join(w->th, NULL);
	w->started = false;
}

const struct sb_stats *sb_worker_stats(const struct sb_worker *w)
{
	return &w->st;
}

int sb_worker_alive(const struct sb_worker *w)
{
	int alive = 0;
	for (int i = 0; i < w->job.nconns; i++) {
		const struct cconn *c = &w->conns[i];
		if (c->state != C_HELD)
			continue;
		char b;
		ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && would_block())
			alive++;
	}
	return alive;
}

void sb_worker_free(struct sb_worker *w)
{
	if (!w)
		return;
	sb_worker_join(w);
	if (w->conns)
		for (int i = 0; i < w->job.nconns; i++)
			if (w->conns[i].fd >= 0)
				close(w->conns[i].fd);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w->conns);
	free(w->rbuf);
	free(w);
}
