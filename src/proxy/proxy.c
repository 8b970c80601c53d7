/* The worker set: build, start, drain, free; the proxy's /metrics
 * collector; messages to the worker that owns a connection. */
#include "proxy/proxy.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth/auth.h"
#include "config/config.h"
#include "obs/prom.h"
#include "protocol/sockaddr.h"
#include "proxy/connlimit.h"
#include "proxy/tls.h"
#include "proxy/worker.h"
#include "util/log.h"
#include "util/strutil.h"

struct proxy {
	struct worker_shared sh;
	struct worker **workers;
	unsigned n_workers;
	bool collecting; /* the /metrics collector is registered */
	uint64_t active_total;
	char address[SOCKADDR_STR_MAX];
};

unsigned proxy_worker_count(const struct csocks_config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	return cfg->server.worker_threads ? cfg->server.worker_threads
	                                  : (unsigned)(ncpu > 0 ? ncpu : 1);
}

/* /metrics: the relay's pipes and the listeners' accept() errors, summed
 * over the workers, and the connection limits. Registered while the
 * workers run; prom_collector_del() waits for a scrape in progress. */
static void collect_proxy(struct prom_writer *w, void *arg)
{
	struct proxy *p = arg;
	uint64_t alive = 0, failures = 0, undersized = 0, accept_errors = 0;
	for (unsigned i = 0; i < p->n_workers; i++) {
		uint64_t a, f, u;
		pipepool_counters(&p->workers[i]->pipes, &a, &f, &u);
		alive += a;
		failures += f;
		undersized += u;
		accept_errors += listener_accept_errors(&p->workers[i]->listener);
	}
	prom_gauge(w, "csocks_relay_pipes", "Kernel pipes the relay holds, in use and pooled",
	           (double)alive);
	prom_counter(w, "csocks_relay_pipe_failures_total",
	             "pipe2() failures: the relay copied through a buffer instead", failures);
	prom_counter(w, "csocks_relay_pipes_undersized_total",
	             "Pipes the kernel would not enlarge to 256 KiB (fs.pipe-user-pages-soft)",
	             undersized);
	prom_counter(w, "csocks_accept_errors_total", "accept() failures (EMFILE, ENFILE, ...)",
	             accept_errors);
	if (p->sh.tls)
		tls_server_collect(p->sh.tls, w);
	if (p->sh.limits) {
		prom_gauge(w, "csocks_qos_limited_connections",
		           "Connections holding a [qos.connection_limits] slot",
		           (double)connlimit_global_count(p->sh.limits));
		prom_gauge(w, "csocks_qos_limited_users", "Users holding at least one such slot",
		           (double)connlimit_users(p->sh.limits));
		prom_counter(w, "csocks_qos_bandwidth_waits_total",
		             "Relay turns that found a bandwidth bucket empty ([qos.htb])",
		             connlimit_bw_waits(p->sh.limits));
	}
}

/* The hard limit, raised to: tunnels cost two fds each. */
static uint64_t raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)want,
			         strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1048576 : (uint64_t)rl.rlim_cur;
}

/* bind_address: a literal address, else a name resolved here (start-up, on
 * the main thread, where blocking is fine). */
static int bind_sockaddr(const struct csocks_config *cfg, struct sockaddr_storage *ss,
                         socklen_t *len, char *err, size_t errlen)
{
	const char *host = cfg->server.bind_address ? cfg->server.bind_address : "0.0.0.0";
	uint16_t port = (uint16_t)cfg->server.bind_port;
	if (sockaddr_parse_host(host, port, ss, len) == 0)
		return 0;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	int rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "server.bind_address \"%s\": %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* c-ares wants "a,b:53,[c]:53". */
static char *dns_servers_csv(const struct csocks_config *cfg)
{
	if (cfg->server.n_dns_servers == 0) {
		const char *env = getenv("CSOCKS_DNS_SERVERS"); /* tests without a config key */
		return env && *env ? xstrdup(env) : NULL;
	}
	size_t len = 1;
	for (size_t i = 0; i < cfg->server.n_dns_servers; i++)
		len += strlen(cfg->server.dns_servers[i]) + 1;
	char *csv = xmalloc(len), *p = csv;
	for (size_t i = 0; i < cfg->server.n_dns_servers; i++)
		p += sprintf(p, "%s%s", i ? "," : "", cfg->server.dns_servers[i]);
	return csv;
}

static void proxy_share(struct proxy *p, const struct csocks_config *cfg,
                        const struct proxy_ctx *ctx, uint64_t nofile)
{
	p->sh.cfg = cfg;
	p->sh.ctx = ctx;
	p->sh.auth = ctx->auth;
	p->sh.active_total = &p->active_total;
	p->sh.max_connections = cfg->server.max_connections;
	if (cfg->qos.enabled) {
		p->sh.limits = connlimit_new(cfg->qos.connection_limits.max_connections_per_user,
		                             cfg->qos.connection_limits.max_connections_global);
		connlimit_set_shaping(p->sh.limits, cfg->qos.htb.max_bandwidth_bytes_per_sec,
		                      cfg->qos.htb.global_bandwidth_bytes_per_sec,
		                      cfg->qos.htb.burst_size_bytes);
	}
	p->sh.dns_servers = dns_servers_csv(cfg);
	/* Pipes may use a quarter of the fd budget (each pipe is two fds);
	 * past that, tunnels copy through buffers instead. */
	uint64_t pipes = nofile / 8 / p->n_workers;
	p->sh.max_pipes_per_worker = (uint32_t)(pipes > 65536 ? 65536 : pipes);
}

struct proxy *proxy_new(const struct csocks_config *cfg, const struct proxy_ctx *ctx, char *err,
                        size_t errlen)
{
	struct proxy *p = xcalloc(1, sizeof(*p));
	uint64_t nofile = raise_nofile();
	p->n_workers = proxy_worker_count(cfg);
	proxy_share(p, cfg, ctx, nofile);

	if (cfg->server.tls.enabled) {
		p->sh.tls = tls_server_new(cfg, err, errlen);
		if (!p->sh.tls)
			goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t len;
	if (bind_sockaddr(cfg, &ss, &len, err, errlen) < 0)
		goto fail;
	unsigned n = p->n_workers;
	p->workers = xcalloc(n, sizeof(*p->workers));
	for (p->n_workers = 0; p->n_workers < n; p->n_workers++) {
		unsigned i = p->n_workers;
		p->workers[i] = worker_new(i, &p->sh, (struct sockaddr *)&ss, len, err, errlen);
		if (!p->workers[i])
			goto fail;
		if (i == 0 && cfg->server.bind_port == 0) {
			/* Port 0: every worker shares the port the first one got. */
			struct sockaddr_storage got;
			socklen_t gl = sizeof(got);
			getsockname(p->workers[0]->listener.fd, (struct sockaddr *)&got, &gl);
			sockaddr_set_port((struct sockaddr *)&ss,
			                  sockaddr_port((struct sockaddr *)&got));
		}
	}
	sockaddr_str((struct sockaddr *)&ss, p->address, sizeof(p->address));
	log_info("listening on %s%s (%u worker%s, auth %s, max_connections %u, fd limit %llu)",
	         p->address, p->sh.tls ? " (SOCKS over TLS)" : "", p->n_workers,
	         p->n_workers == 1 ? "" : "s", auth_method_name(cfg->auth.socks_method),
	         cfg->server.max_connections, (unsigned long long)nofile);
	return p;
fail:
	if (!p->workers)
		p->n_workers = 0; /* failed before any worker was built */
	proxy_free(p);
	return NULL;
}

int proxy_start(struct proxy *p, char *err, size_t errlen)
{
	for (unsigned i = 0; i < p->n_workers; i++) {
		if (worker_start(p->workers[i], err, errlen) < 0) {
			for (unsigned j = 0; j < i; j++)
				worker_drain(p->workers[j], 0);
			return -1;
		}
	}
	p->collecting = prom_collector_add(collect_proxy, p) == 0;
	return 0;
}

void proxy_drain(struct proxy *p, unsigned timeout_ms)
{
	for (unsigned i = 0; i < p->n_workers; i++)
		worker_drain(p->workers[i], timeout_ms);
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	if (p->collecting)
		prom_collector_del(collect_proxy, p);
	for (unsigned i = 0; i < p->n_workers; i++)
		worker_join(p->workers[i]);
	/* Auth threads finish their jobs and post the answers to the workers'
	 * mailboxes; worker_free runs those (freeing abandoned jobs). */
	auth_manager_stop(p->sh.auth);
	for (unsigned i = 0; i < p->n_workers; i++)
		worker_free(p->workers[i]);
	free(p->workers);
	free(p->sh.dns_servers);
	connlimit_free(p->sh.limits);
	tls_server_free(p->sh.tls);
	free(p);
}

int proxy_terminate_conn(struct proxy *p, uint64_t id, const char *reason)
{
	unsigned idx = worker_idx_of_conn(id);
	if (idx >= p->n_workers)
		return -1;
	worker_terminate_conn(p->workers[idx], id, reason);
	return 0;
}

void proxy_acl_recheck(struct proxy *p)
{
	for (unsigned i = 0; i < p->n_workers; i++)
		worker_post_acl_recheck(p->workers[i]);
}

int proxy_tls_reload(struct proxy *p, char *err, size_t errlen)
{
	if (!p->sh.tls) {
		snprintf(err, errlen, "server.tls.enabled is false");
		return -ENOENT;
	}
	if (tls_server_reload(p->sh.tls, err, errlen) < 0) {
		log_warn("tls: reload failed, keeping the old certificate: %s", err);
		return -1;
	}
	log_info("tls: certificate, key and CA reloaded (live tunnels keep theirs)");
	return 0;
}
