/* socksbench - a SOCKS5 load generator with a built-in target.
 *
 *   socksbench bulk  [opts]   C connections x B bytes, download then upload
 *   socksbench rate  [opts]   CONNECT rate and handshake latency
 *   socksbench idle  [opts]   T idle tunnels: proxy RSS and fds per tunnel
 *   socksbench serve [opts]   run only the target (sink/source/echo/hold)
 *
 * See bench/README.md. Loopback only: the proxy and target addresses must be
 * on this machine, every loop is bounded by a deadline and a count.
 */
#include "sb_client.h"
#include "sb_common.h"
#include "sb_target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_ECHO    512

enum mode { MODE_BULK, MODE_RATE, MODE_IDLE, MODE_SERVE };

struct opts {
	enum mode mode;
	bool direct;
	bool json;
	bool sample;       /* --sample: the receiver checks a sample of the payload */
	bool server_close; /* --server-close: rate, the target closes first */
	const char *proxy;
	const char *user;
	const char *pass;
	const char *target;
	const char *label;
	const char *dir;
	const char *bind;
	const char *source;
	int conns;
	uint64_t bytes;
	double duration;
	uint64_t count;
	int threads;
	int target_threads;
	int port;
	pid_t pid;
	double timeout;
	double settle;
	int window;
};

static void usage(FILE *f)
{
	fputs(
	    "usage: socksbench bulk|rate|idle|serve [options]\n"
	    "  --proxy HOST:PORT   SOCKS5 proxy (default 127.0.0.1:1080)\n"
	    "  --direct            no proxy: connect straight to the target (baseline)\n"
	    "  --user U --pass P   RFC 1929 username/password\n"
	    "  --target HOST:PORT  target server (default: built-in, in-process, "
	    "127.0.0.1:ephemeral);\n"
	    "                      an IPv4/IPv6 literal is sent as such, a name as ATYP domain\n"
	    "  -c N                bulk: parallel transfers (4); rate: concurrent clients (32);\n"
	    "                      idle: tunnels (1000)\n"
	    "  -n BYTES            bulk: bytes per connection, K/M/G suffixes (256M);\n"
	    "                      rate: request/response size (64, max 512)\n"
	    "  -d SECONDS          rate: duration (10); bulk, idle: time cap (120)\n"
	    "  --count N           rate: stop after N connections\n"
	    "  -t N                client threads (1)\n"
	    "  --dir down|up|both  bulk direction (both)\n"
	    "  --sample            bulk: the receiving side (client for down, target for\n"
	    "                      up) copies and checks every 8th read and drops the\n"
	    "                      rest in the kernel (MSG_TRUNC), so that its own copy\n"
	    "                      takes less of the CPUs; default: check every byte\n"
	    "  --pid PID           idle: proxy pid; RSS/Pss/fds summed over it and its children;\n"
	    "                      bulk: its (and its children's) CPU seconds per GB relayed\n"
	    "  --timeout SECONDS   rate, idle: per-connection budget (10)\n"
	    "  --server-close      rate: the target closes once the echo is out and the client\n"
	    "                      waits for that EOF, so no TIME_WAIT builds up on ephemeral\n"
	    "                      ports (default: the client closes first)\n"
	    "  --settle SECONDS    idle: wait before measuring (1)\n"
	    "  --window N          idle: handshakes in flight per thread (64)\n"
	    "  --target-threads N  built-in target threads (1)\n"
	    "  --source ADDR       client source address (e.g. 127.0.0.2): keeps the client's\n"
	    "                      TIME_WAIT ports apart from the proxy's\n"
	    "  --label NAME        name printed with the results\n"
	    "  --json              one JSON object per result line\n"
	    "serve: --port P (0 = ephemeral, printed) --bind ADDR (127.0.0.1) -t N\n"
	    "       -d SECONDS: exit after this long (3600) unless a signal comes first\n",
	    f);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	uint64_t mul = 1;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0))
		return -1;
	*out = v;
	return 0;
}

enum {
	OPT_PROXY = 256,
	OPT_DIRECT,
	OPT_USER,
	OPT_PASS,
	OPT_TARGET,
	OPT_COUNT,
	OPT_DIR,
	OPT_PID,
	OPT_TIMEOUT,
	OPT_SETTLE,
	OPT_WINDOW,
	OPT_TTHREADS,
	OPT_LABEL,
	OPT_JSON,
	OPT_PORT,
	OPT_BIND,
	OPT_SOURCE,
	OPT_SAMPLE,
	OPT_SERVER_CLOSE,
	OPT_HELP,
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"proxy", 1, 0, OPT_PROXY},
	    {"direct", 0, 0, OPT_DIRECT},
	    {"user", 1, 0, OPT_USER},
	    {"pass", 1, 0, OPT_PASS},
	    {"target", 1, 0, OPT_TARGET},
	    {"count", 1, 0, OPT_COUNT},
	    {"dir", 1, 0, OPT_DIR},
	    {"pid", 1, 0, OPT_PID},
	    {"timeout", 1, 0, OPT_TIMEOUT},
	    {"settle", 1, 0, OPT_SETTLE},
	    {"window", 1, 0, OPT_WINDOW},
	    {"target-threads", 1, 0, OPT_TTHREADS},
	    {"label", 1, 0, OPT_LABEL},
	    {"json", 0, 0, OPT_JSON},
	    {"port", 1, 0, OPT_PORT},
	    {"bind", 1, 0, OPT_BIND},
	    {"source", 1, 0, OPT_SOURCE},
	    {"sample", 0, 0, OPT_SAMPLE},
	    {"server-close", 0, 0, OPT_SERVER_CLOSE},
	    {"help", 0, 0, OPT_HELP},
	    {0, 0, 0, 0},
	};
	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	const char *m = argv[1];
	if (strcmp(m, "bulk") == 0)
		o->mode = MODE_BULK;
	else if (strcmp(m, "rate") == 0)
		o->mode = MODE_RATE;
	else if (strcmp(m, "idle") == 0)
		o->mode = MODE_IDLE;
	else if (strcmp(m, "serve") == 0)
		o->mode = MODE_SERVE;
	else {
		usage(strcmp(m, "--help") == 0 || strcmp(m, "-h") == 0 ? stdout : stderr);
		return -1;
	}
	bool have_n = false, have_c = false, have_d = false;
	int c;
	long v;
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:n:d:t:h", lo, NULL)) != -1) {
		const char *a = optarg;
		int bad = 0;
		switch (c) {
		case OPT_PROXY:
			o->proxy = a;
			break;
		case OPT_DIRECT:
			o->direct = true;
			break;
		case OPT_USER:
			o->user = a;
			break;
		case OPT_PASS:
			o->pass = a;
			break;
		case OPT_TARGET:
			o->target = a;
			break;
		case OPT_LABEL:
			o->label = a;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_SAMPLE:
			o->sample = true;
			break;
		case OPT_SERVER_CLOSE:
			o->server_close = true;
			break;
		case OPT_BIND:
			o->bind = a;
			break;
		case OPT_SOURCE:
			o->source = a;
			break;
		case OPT_DIR:
			o->dir = a;
			bad = strcmp(a, "down") && strcmp(a, "up") && strcmp(a, "both");
			break;
		case 'c':
			bad = parse_int(a, 1, 1000000, &v);
			o->conns = (int)v;
			have_c = true;
			break;
		case 'n':
			bad = parse_size(a, &o->bytes);
			have_n = true;
			break;
		case 'd':
			bad = parse_double(a, &o->duration);
			have_d = true;
			break;
		case 't':
			bad = parse_int(a, 1, MAX_THREADS, &v);
			o->threads = (int)v;
			break;
		case OPT_TTHREADS:
			bad = parse_int(a, 1, MAX_THREADS, &v);
			o->target_threads = (int)v;
			break;
		case OPT_COUNT:
			bad = parse_size(a, &o->count);
			break;
		case OPT_PID:
			bad = parse_int(a, 1, 1L << 30, &v);
			o->pid = (pid_t)v;
			break;
		case OPT_PORT:
			bad = parse_int(a, 0, 65535, &v);
			o->port = (int)v;
			break;
		case OPT_WINDOW:
			bad = parse_int(a, 1, 1000000, &v);
			o->window = (int)v;
			break;
		case OPT_TIMEOUT:
			bad = parse_double(a, &o->timeout);
			break;
		case OPT_SETTLE:
			bad = parse_double(a, &o->settle);
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "socksbench: bad value for option: %s\n", a ? a : "");
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "socksbench: unexpected argument: %s\n", argv[optind]);
		return -1;
	}
	if (!have_c)
		o->conns = o->mode == MODE_BULK ? 4 : o->mode == MODE_RATE ? 32 : 1000;
	if (!have_n)
		o->bytes = o->mode == MODE_RATE ? 64 : 256ull << 20;
	if (!have_d)
		o->duration = o->mode == MODE_RATE ? 10 : o->mode == MODE_SERVE ? 3600 : 120;
	if (o->mode == MODE_RATE && (o->bytes < 1 || o->bytes > MAX_ECHO)) {
		fprintf(stderr, "socksbench: rate -n must be 1..%d bytes\n", MAX_ECHO);
		return -1;
	}
	if (!!o->user != !!o->pass || (o->user && (strlen(o->user) < 1 || strlen(o->user) > 255 ||
	                                           strlen(o->pass) < 1 || strlen(o->pass) > 255))) {
		fprintf(stderr, "socksbench: --user and --pass go together, 1..255 bytes each\n");
		return -1;
	}
	if (o->threads > o->conns)
		o->threads = o->conns;
	return 0;
}

/* ---- addresses ---- */

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	int rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "socksbench: %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Build the SOCKS5 CONNECT request for host:port (literal -> ATYP 1/4, else 3). */
static int build_request(struct sb_client_cfg *cfg, const char *host, uint16_t port)
{
	uint8_t *r = cfg->req;
	size_t n = 0;
	r[n++] = 0x05;
	r[n++] = 0x01;
	r[n++] = 0x00;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		r[n++] = 0x01;
		memcpy(r + n, &a4, 4);
		n += 4;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		r[n++] = 0x04;
		memcpy(r + n, &a6, 16);
		n += 16;
	} else {
		size_t hl = strlen(host);
		if (hl < 1 || hl > 255)
			return -1;
		r[n++] = 0x03;
		r[n++] = (uint8_t)hl;
		memcpy(r + n, host, hl);
		n += hl;
	}
	r[n++] = (uint8_t)(port >> 8);
	r[n++] = (uint8_t)(port & 0xff);
	cfg->req_len = n;
	return 0;
}

/* ---- running workers ---- */

struct run {
	struct sb_worker *w[MAX_THREADS];
	int n;
	struct sb_stats total;
	uint64_t t0, t1; /* start, and end (all joined) */
	uint64_t t_last; /* last successful completion */
};

/* Split job over o->threads workers and run them to completion. */
static int run_job(const struct opts *o, const struct sb_client_cfg *cfg, const struct sb_job *job,
                   struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->n = o->threads;
	for (int i = 0; i < r->n; i++) {
		struct sb_job j = *job;
		j.nconns = job->nconns / r->n + (i < job->nconns % r->n);
		if (job->quota) {
			j.quota = job->quota / (uint64_t)r->n +
			          ((uint64_t)i < job->quota % (uint64_t)r->n);
			if (j.quota == 0) /* 0 would mean "no limit" */
				j.stop_starts_ns = 0;
		}
		r->w[i] = sb_worker_new(cfg, &j);
		if (!r->w[i]) {
			fprintf(stderr, "socksbench: out of memory\n");
			return -1;
		}
	}
	r->t0 = sb_now_ns();
	for (int i = 0; i < r->n; i++)
		if (sb_worker_start(r->w[i]) != 0) {
			fprintf(stderr, "socksbench: cannot start thread\n");
			return -1;
		}
	for (int i = 0; i < r->n; i++)
		sb_worker_join(r->w[i]);
	r->t1 = sb_now_ns();
	sb_hist_init(&r->total.hs);
	sb_hist_init(&r->total.txn);
	for (int i = 0; i < r->n; i++) {
		const struct sb_stats *s = sb_worker_stats(r->w[i]);
		r->total.started += s->started;
		r->total.ok += s->ok;
		r->total.bytes += s->bytes;
		for (int e = 0; e < SB_E_COUNT; e++)
			r->total.err[e] += s->err[e];
		for (int k = 0; k < 256; k++)
			r->total.rep[k] += s->rep[k];
		if (!r->total.first_errno)
			r->total.first_errno = s->first_errno;
		if (s->t_last_ns > r->t_last)
			r->t_last = s->t_last_ns;
		sb_hist_merge(&r->total.hs, &s->hs);
		sb_hist_merge(&r->total.txn, &s->txn);
	}
	return 0;
}

static void run_free(struct run *r)
{
	for (int i = 0; i < r->n; i++)
		sb_worker_free(r->w[i]);
	r->n = 0;
}

static uint64_t errors_total(const struct sb_stats *s)
{
	uint64_t n = 0;
	for (int e = 0; e < SB_E_COUNT; e++)
		n += s->err[e];
	return n;
}

/* ---- output ---- */

struct out {
	const struct opts *o;
	char buf[4096];
	size_t len;
};

static void out_begin(struct out *w, const struct opts *o, const char *mode)
{
	w->o = o;
	w->len = 0;
	w->buf[0] = 0;
	if (o->json)
		w->len =
		    (size_t)snprintf(w->buf, sizeof(w->buf),
		                     "{\"mode\":\"%s\",\"label\":\"%s\","
		                     "\"direct\":%s",
		                     mode, o->label ? o->label : "", o->direct ? "true" : "false");
	else
		w->len = (size_t)snprintf(w->buf, sizeof(w->buf), "%s%s%s%s", o->label ? "[" : "",
		                          o->label ? o->label : "", o->label ? "] " : "", mode);
}

static void out_add(struct out *w, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void out_add(struct out *w, const char *key, const char *fmt, ...)
{
	if (w->len >= sizeof(w->buf) - 1)
		return;
	char val[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	size_t room = sizeof(w->buf) - w->len;
	int n;
	if (w->o->json) {
		bool num = val[0] && strspn(val, "0123456789.-") == strlen(val);
		bool lit = strcmp(val, "true") == 0 || strcmp(val, "false") == 0;
		n = snprintf(w->buf + w->len, room, num || lit ? ",\"%s\":%s" : ",\"%s\":\"%s\"",
		             key, val);
	} else {
		n = snprintf(w->buf + w->len, room, " %s=%s", key, val);
	}
	if (n > 0)
		w->len += (size_t)n < room ? (size_t)n : room - 1;
}

static void out_errors(struct out *w, const struct sb_stats *s)
{
	out_add(w, "errors", "%llu", (unsigned long long)errors_total(s));
	for (int e = 0; e < SB_E_COUNT; e++)
		if (s->err[e]) {
			char k[32];
			snprintf(k, sizeof(k), "err_%s", sb_err_name((enum sb_err)e));
			out_add(w, k, "%llu", (unsigned long long)s->err[e]);
		}
	for (int k = 0; k < 256; k++)
		if (s->rep[k]) {
			char key[32];
			snprintf(key, sizeof(key), "reply_0x%02x", k);
			out_add(w, key, "%llu", (unsigned long long)s->rep[k]);
		}
	if (s->first_errno)
		out_add(w, "first_error", "%s",
		        strerror(s->first_errno > 0 ? s->first_errno : EIO));
}

static void out_end(struct out *w)
{
	printf("%s%s\n", w->buf, w->o->json ? "}" : "");
	fflush(stdout);
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

/* ---- modes ---- */

static int mode_bulk(const struct opts *o, const struct sb_client_cfg *cfg)
{
	int rc = 0;
	for (int pass = 0; pass < 2; pass++) {
		bool down = pass == 0;
		if (strcmp(o->dir, "both") != 0 && strcmp(o->dir, down ? "down" : "up") != 0)
			continue;
		struct sb_job job = {
		    .op = down ? SB_OP_DOWNLOAD : SB_OP_UPLOAD,
		    .count = o->bytes,
		    .nconns = o->conns,
		    .stop_starts_ns = UINT64_MAX,
		    .hard_deadline_ns = sb_now_ns() + (uint64_t)(o->duration * 1e9),
		    .hdr_flags = o->sample ? SB_HDR_F_SAMPLE : 0,
		};
		struct sb_proc_stat cpu0 = {.cpu_only = true}, cpu1 = {.cpu_only = true};
		bool have_cpu = o->pid > 0 && sb_proc_stat_read(o->pid, &cpu0) == 0;
		struct run r;
		if (run_job(o, cfg, &job, &r) != 0) {
			run_free(&r);
			return 1;
		}
		have_cpu = have_cpu && sb_proc_stat_read(o->pid, &cpu1) == 0;
		double secs = (double)(r.t1 - r.t0) / 1e9;
		double mbps = (double)r.total.bytes / secs / 1e6;
		uint64_t expect = (uint64_t)o->conns * o->bytes;
		bool verified = errors_total(&r.total) == 0 && r.total.bytes == expect;
		struct out w;
		out_begin(&w, o, "bulk");
		out_add(&w, "dir", "%s", down ? "download" : "upload");
		out_add(&w, "conns", "%d", o->conns);
		out_add(&w, "bytes_per_conn", "%llu", (unsigned long long)o->bytes);
		out_add(&w, "bytes", "%llu", (unsigned long long)r.total.bytes);
		out_add(&w, "seconds", "%.3f", secs);
		out_add(&w, "MBps", "%.1f", mbps);
		out_add(&w, "Gbps", "%.2f", mbps * 8 / 1000);
		if (have_cpu && r.total.bytes) {
			double cpu = cpu1.cpu_s - cpu0.cpu_s;
			out_add(&w, "proxy_cpu_s", "%.2f", cpu);
			out_add(&w, "proxy_cpu_s_per_GB", "%.3f",
			        cpu / ((double)r.total.bytes / 1e9));
		}
		out_add(&w, "ok", "%llu", (unsigned long long)r.total.ok);
		out_errors(&w, &r.total);
		out_add(&w, "verified", "%s", verified ? "true" : "false");
		out_add(&w, "checked", "%s", o->sample ? "sample" : "all");
		out_end(&w);
		if (!verified)
			rc = 1;
		run_free(&r);
	}
	return rc;
}

static int mode_rate(const struct opts *o, const struct sb_client_cfg *cfg)
{
	uint64_t now = sb_now_ns();
	uint64_t tmo = (uint64_t)(o->timeout * 1e9);
	struct sb_job job = {
	    .op = SB_OP_ECHO,
	    .count = o->bytes,
	    .nconns = o->conns,
	    .repeat = true,
	    .stop_starts_ns = now + (uint64_t)(o->duration * 1e9),
	    .quota = o->count,
	    .conn_timeout_ns = tmo,
	    .hdr_flags = o->server_close ? SB_HDR_F_CLOSE : 0,
	};
	job.hard_deadline_ns = job.stop_starts_ns + tmo + 1000000000ull;
	struct run r;
	if (run_job(o, cfg, &job, &r) != 0) {
		run_free(&r);
		return 1;
	}
	uint64_t end = r.t_last > r.t0 ? r.t_last : r.t1;
	double secs = (double)(end - r.t0) / 1e9;
	const struct sb_hist *h = &r.total.hs, *t = &r.total.txn;
	struct out w;
	out_begin(&w, o, "rate");
	out_add(&w, "conns", "%d", o->conns);
	out_add(&w, "started", "%llu", (unsigned long long)r.total.started);
	out_add(&w, "ok", "%llu", (unsigned long long)r.total.ok);
	out_add(&w, "seconds", "%.3f", secs);
	out_add(&w, "cps", "%.0f", secs > 0 ? (double)r.total.ok / secs : 0);
	out_add(&w, "hs_p50_us", "%.0f", us(sb_hist_quantile(h, 0.50)));
	out_add(&w, "hs_p90_us", "%.0f", us(sb_hist_quantile(h, 0.90)));
	out_add(&w, "hs_p99_us", "%.0f", us(sb_hist_quantile(h, 0.99)));
	out_add(&w, "hs_max_us", "%.0f", us(h->max));
	out_add(&w, "txn_p50_us", "%.0f", us(sb_hist_quantile(t, 0.50)));
	out_add(&w, "txn_p99_us", "%.0f", us(sb_hist_quantile(t, 0.99)));
	out_errors(&w, &r.total);
	out_end(&w);
	int rc = r.total.ok > 0 ? 0 : 1;
	run_free(&r);
	return rc;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
	                      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int mode_idle(const struct opts *o, const struct sb_client_cfg *cfg)
{
	struct sb_proc_stat before = {0}, after = {0}, closed = {0};
	bool have_pid = o->pid > 0;
	if (have_pid && sb_proc_stat_read(o->pid, &before) != 0) {
		fprintf(stderr, "socksbench: cannot read /proc/%d\n", (int)o->pid);
		return 1;
	}
	struct sb_job job = {
	    .op = SB_OP_HOLD,
	    .nconns = o->conns,
	    .stop_starts_ns = UINT64_MAX,
	    .hard_deadline_ns = sb_now_ns() + (uint64_t)(o->duration * 1e9),
	    .conn_timeout_ns = (uint64_t)(o->timeout * 1e9),
	    .window = o->window,
	};
	struct run r;
	if (run_job(o, cfg, &job, &r) != 0) {
		run_free(&r);
		return 1;
	}
	double secs = (double)(r.t1 - r.t0) / 1e9;
	sleep_s(o->settle);
	if (have_pid)
		sb_proc_stat_read(o->pid, &after);
	int alive = 0;
	for (int i = 0; i < r.n; i++)
		alive += sb_worker_alive(r.w[i]);
	run_free(&r);
	if (have_pid) {
		sleep_s(o->settle);
		sb_proc_stat_read(o->pid, &closed);
	}

	uint64_t ok = r.total.ok;
	double per = ok ? 1.0 / (double)ok : 0;
	struct out w;
	out_begin(&w, o, "idle");
	out_add(&w, "tunnels", "%d", o->conns);
	out_add(&w, "ok", "%llu", (unsigned long long)ok);
	out_add(&w, "alive", "%d", alive);
	out_add(&w, "open_seconds", "%.3f", secs);
	out_add(&w, "hs_p50_us", "%.0f", us(sb_hist_quantile(&r.total.hs, 0.50)));
	out_add(&w, "hs_p99_us", "%.0f", us(sb_hist_quantile(&r.total.hs, 0.99)));
	if (have_pid) {
		out_add(&w, "procs", "%d", after.nprocs);
		out_add(&w, "rss_before_kib", "%ld", before.rss_kib);
		out_add(&w, "rss_after_kib", "%ld", after.rss_kib);
		out_add(&w, "rss_kib_per_tunnel", "%.2f",
		        (double)(after.rss_kib - before.rss_kib) * per);
		out_add(&w, "pss_kib_per_tunnel", "%.2f",
		        (double)(after.pss_kib - before.pss_kib) * per);
		out_add(&w, "fds_before", "%ld", before.fds);
		out_add(&w, "fds_after", "%ld", after.fds);
		out_add(&w, "fds_per_tunnel", "%.2f", (double)(after.fds - before.fds) * per);
		out_add(&w, "fds_after_close", "%ld", closed.fds);
		out_add(&w, "rss_after_close_kib", "%ld", closed.rss_kib);
	}
	out_errors(&w, &r.total);
	out_end(&w);
	return ok > 0 && alive == (int)ok ? 0 : 1;
}

static int mode_serve(const struct opts *o)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	char err[256];
	struct sb_target *t =
	    sb_target_start(o->bind, (uint16_t)o->port, o->threads, err, sizeof(err));
	if (!t) {
		fprintf(stderr, "socksbench: %s\n", err);
		return 1;
	}
	printf("socksbench target listening on %s:%u\n", o->bind, sb_target_port(t));
	fflush(stdout);
	/* Bounded like every loop here: -d seconds (default 3600), or a signal. */
	struct timespec ts = {.tv_sec = (time_t)o->duration,
	                      .tv_nsec = (long)((o->duration - (double)(time_t)o->duration) * 1e9)};
	while (sigtimedwait(&set, NULL, &ts) < 0 && errno == EINTR)
		;
	uint64_t errs = sb_target_errors(t);
	sb_target_stop(t);
	if (errs)
		fprintf(stderr, "socksbench: target saw %llu bad connections\n",
		        (unsigned long long)errs);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
	    .proxy = "127.0.0.1:1080",
	    .dir = "both",
	    .bind = "127.0.0.1",
	    .threads = 1,
	    .target_threads = 1,
	    .timeout = 10,
	    .settle = 1,
	    .window = 64,
	};
	if (parse_args(argc, argv, &o) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	sb_pattern_init();
	long nofile = sb_raise_nofile();
	if (o.mode == MODE_SERVE)
		return mode_serve(&o);

	/* fds: one per client connection, plus the built-in target's share. */
	long need = o.conns + (o.target ? 0 : o.conns) + 64;
	if (o.mode == MODE_IDLE && need > nofile) {
		fprintf(stderr,
		        "socksbench: %d tunnels need ~%ld fds, limit is %ld "
		        "(run the target apart: socksbench serve + --target)\n",
		        o.conns, need, nofile);
		return 2;
	}

	struct sb_target *builtin = NULL;
	char thost[256];
	uint16_t tport;
	if (o.target) {
		if (sb_parse_hostport(o.target, thost, sizeof(thost), &tport) != 0) {
			fprintf(stderr, "socksbench: --target wants HOST:PORT\n");
			return 2;
		}
	} else {
		char err[256];
		builtin = sb_target_start("127.0.0.1", 0, o.target_threads, err, sizeof(err));
		if (!builtin) {
			fprintf(stderr, "socksbench: target: %s\n", err);
			return 1;
		}
		snprintf(thost, sizeof(thost), "127.0.0.1");
		tport = sb_target_port(builtin);
	}

	struct sb_client_cfg cfg = {.direct = o.direct, .user = o.user, .pass = o.pass};
	int rc = 2;
	if (build_request(&cfg, thost, tport) != 0) {
		fprintf(stderr, "socksbench: bad target host %s\n", thost);
		goto out;
	}
	if (o.direct) {
		if (resolve(thost, tport, &cfg.addr, &cfg.addrlen) != 0)
			goto out;
	} else {
		char phost[256];
		uint16_t pport;
		if (sb_parse_hostport(o.proxy, phost, sizeof(phost), &pport) != 0) {
			fprintf(stderr, "socksbench: --proxy wants HOST:PORT\n");
			goto out;
		}
		if (resolve(phost, pport, &cfg.addr, &cfg.addrlen) != 0)
			goto out;
	}

	if (o.source) {
		struct addrinfo hints = {.ai_family = cfg.addr.ss_family,
		                         .ai_flags = AI_NUMERICHOST | AI_PASSIVE},
		                *res;
		if (getaddrinfo(o.source, "0", &hints, &res) != 0) {
			fprintf(stderr,
			        "socksbench: --source %s: not an address of the proxy's family\n",
			        o.source);
			goto out;
		}
		memcpy(&cfg.source, res->ai_addr, res->ai_addrlen);
		cfg.sourcelen = res->ai_addrlen;
		cfg.have_source = true;
		freeaddrinfo(res);
	}

	switch (o.mode) {
	case MODE_BULK:
		rc = mode_bulk(&o, &cfg);
		break;
	case MODE_RATE:
		rc = mode_rate(&o, &cfg);
		break;
	case MODE_IDLE:
		rc = mode_idle(&o, &cfg);
		break;
	default:
		break;
	}
	if (builtin && sb_target_errors(builtin)) {
		fprintf(stderr, "socksbench: target saw %llu bad connections\n",
		        (unsigned long long)sb_target_errors(builtin));
		rc = rc ? rc : 1;
	}
out:
	sb_target_stop(builtin);
	return rc;
}
