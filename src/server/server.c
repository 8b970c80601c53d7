#include "server/server.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "acl/acl_watch.h"
#include "api/metrics.h"
#include "api/prom.h"
#include "auth/auth.h"
#include "config/config.h"
#include "protocol/sockaddr.h"
#include "server/conn.h"
#include "server/connlimit.h"
#include "server/pidfile.h"
#include "server/worker.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/strutil.h"

struct server {
	struct csocks_config *cfg;
	struct worker_shared sh;
	struct worker **workers;
	unsigned n_workers;
	uint64_t active_total;
	struct auth_manager *own_auth; /* when main did not pass one */
	bool pid_written;              /* server.pid_file is ours to remove */
};

/* The running server, for server_terminate_conn/server_stats from other
 * threads (API). Set before the workers start, cleared after they end. */
static struct server *g_server;

int server_terminate_conn(uint64_t id, const char *reason)
{
	struct server *s = __atomic_load_n(&g_server, __ATOMIC_ACQUIRE);
	if (!s)
		return -1;
	unsigned idx = worker_idx_of_conn(id);
	if (idx >= s->n_workers)
		return -1;
	worker_terminate_conn(s->workers[idx], id, reason);
	return 0;
}

static void sum_worker_stats(const struct server *s, struct stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < s->n_workers; i++)
		stats_sum(out, &s->workers[i]->stats);
}

void server_stats(struct stats *out)
{
	struct server *s = __atomic_load_n(&g_server, __ATOMIC_ACQUIRE);
	if (s)
		sum_worker_stats(s, out);
	else
		memset(out, 0, sizeof(*out));
}

/* /metrics: the relay's pipes and accept() errors, summed over the workers.
 * Registered while the workers run; prom_collector_del() waits for a scrape
 * in progress, so the workers outlive every call. */
static void collect_server(struct prom_writer *w, void *arg)
{
	struct server *s = arg;
	uint64_t alive = 0, failures = 0, undersized = 0;
	for (unsigned i = 0; i < s->n_workers; i++) {
		uint64_t a, f, u;
		pipepool_counters(&s->workers[i]->pipes, &a, &f, &u);
		alive += a;
		failures += f;
		undersized += u;
	}
	struct stats st;
	sum_worker_stats(s, &st);
	prom_gauge(w, "csocks_relay_pipes", "Kernel pipes the relay holds, in use and pooled",
	           (double)alive);
	prom_counter(w, "csocks_relay_pipe_failures_total",
	             "pipe2() failures: the relay copied through a buffer instead", failures);
	prom_counter(w, "csocks_relay_pipes_undersized_total",
	             "Pipes the kernel would not enlarge to 256 KiB (fs.pipe-user-pages-soft)",
	             undersized);
	prom_counter(w, "csocks_accept_errors_total", "accept() failures (EMFILE, ENFILE, ...)",
	             st.accept_errors);
	if (s->sh.limits) {
		prom_gauge(w, "csocks_qos_limited_connections",
		           "Connections holding a [qos.connection_limits] slot",
		           (double)connlimit_global_count(s->sh.limits));
		prom_gauge(w, "csocks_qos_limited_users", "Users holding at least one such slot",
		           (double)connlimit_users(s->sh.limits));
		prom_counter(w, "csocks_qos_bandwidth_waits_total",
		             "Relay turns that found a bandwidth bucket empty ([qos.htb])",
		             connlimit_bw_waits(s->sh.limits));
	}
}

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
                         socklen_t *len)
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
		log_error("server.bind_address \"%s\": %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static void server_teardown(struct server *s)
{
	if (!s->workers) /* setup failed before creating them */
		s->n_workers = 0;
	for (unsigned i = 0; i < s->n_workers; i++)
		worker_join(s->workers[i]);
	__atomic_store_n(&g_server, NULL, __ATOMIC_RELEASE);
	/* Auth threads finish their jobs and post the answers to the workers'
	 * mailboxes; worker_free runs those (freeing abandoned jobs). */
	auth_manager_stop(s->sh.auth);
	for (unsigned i = 0; i < s->n_workers; i++)
		worker_free(s->workers[i]);
	free(s->workers);
	auth_manager_free(s->own_auth);
	free(s->sh.dns_servers);
	connlimit_free(s->sh.limits);
	if (s->pid_written)
		pidfile_remove(s->cfg->server.pid_file);
}

unsigned server_worker_count(const struct csocks_config *cfg)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	return cfg->server.worker_threads ? cfg->server.worker_threads
	                                  : (unsigned)(ncpu > 0 ? ncpu : 1);
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

/* ---- ACL reload: re-check live tunnels on every worker ---- */

static void on_acl_reload(struct acl_snapshot *snap, void *arg)
{
	struct server *s = arg;
	(void)snap; /* each worker acquires the current snapshot itself */
	for (unsigned i = 0; i < s->n_workers; i++)
		worker_post_acl_recheck(s->workers[i]);
}

static void reload_acl(struct server *s)
{
	struct acl_manager *acl = s->sh.ctx->acl;
	if (!acl) {
		log_info("SIGHUP: ACL is not enabled; nothing to reload");
		return;
	}
	int rc = acl_manager_reload(acl, NULL); /* logs the outcome and file:line */
	metrics_acl_reload(rc == 0);
}

static int server_setup(struct server *s, int *sigfd)
{
	struct csocks_config *cfg = s->cfg;
	char err[256];

	s->sh.auth = s->sh.ctx->auth;
	if (!s->sh.auth) {
		s->sh.auth = s->own_auth = auth_manager_new(cfg, err, sizeof(err));
		if (!s->sh.auth) {
			log_error("%s", err);
			return -1;
		}
	}

	uint64_t nofile = raise_nofile();
	s->n_workers = server_worker_count(cfg);
	s->sh.cfg = cfg;
	s->sh.active_total = &s->active_total;
	s->sh.max_connections = cfg->server.max_connections;
	if (cfg->qos.enabled) {
		s->sh.limits = connlimit_new(cfg->qos.connection_limits.max_connections_per_user,
		                             cfg->qos.connection_limits.max_connections_global);
		connlimit_set_shaping(s->sh.limits, cfg->qos.htb.max_bandwidth_bytes_per_sec,
		                      cfg->qos.htb.global_bandwidth_bytes_per_sec,
		                      cfg->qos.htb.burst_size_bytes);
	}
	s->sh.dns_servers = dns_servers_csv(cfg);
	/* Pipes may use a quarter of the fd budget (each pipe is two fds);
	 * past that, tunnels copy through buffers instead. */
	uint64_t pipes = nofile / 8 / s->n_workers;
	s->sh.max_pipes_per_worker = (uint32_t)(pipes > 65536 ? 65536 : pipes);

	struct sockaddr_storage ss;
	socklen_t len;
	if (bind_sockaddr(cfg, &ss, &len) < 0)
		return -1;
	s->workers = xcalloc(s->n_workers, sizeof(*s->workers));
	for (unsigned i = 0; i < s->n_workers; i++) {
		s->workers[i] =
		    worker_new(i, &s->sh, (struct sockaddr *)&ss, len, err, sizeof(err));
		if (!s->workers[i]) {
			log_error("%s", err);
			s->n_workers = i;
			return -1;
		}
		if (i == 0 && cfg->server.bind_port == 0) {
			/* Port 0: every worker shares the port the first one got. */
			struct sockaddr_storage got;
			socklen_t gl = sizeof(got);
			getsockname(s->workers[0]->listener.fd, (struct sockaddr *)&got, &gl);
			set_port(&ss, sockaddr_port((struct sockaddr *)&got));
		}
	}

	/* Listeners are bound: the pid file says this process holds the port.
	 * Written before privileges drop, so it may live in a root-owned
	 * directory (removing it then needs a directory server.user can write;
	 * see docs/operations.md). */
	if (cfg->server.pid_file) {
		if (pidfile_write(cfg->server.pid_file, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return -1;
		}
		s->pid_written = true;
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	*sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (*sigfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return -1;
	}
	/* Listeners are bound: drop privileges (server.user/group; PAM stays
	 * in the root monitors), then start the auth threads. */
	if (auth_manager_start(s->sh.auth, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}

	__atomic_store_n(&g_server, s, __ATOMIC_RELEASE);
	if (s->sh.ctx->acl && acl_manager_on_reload(s->sh.ctx->acl, on_acl_reload, s) != 0)
		log_warn("acl: cannot subscribe to reloads; live sessions are not re-checked");
	for (unsigned i = 0; i < s->n_workers; i++) {
		if (worker_start(s->workers[i], err, sizeof(err)) < 0) {
			log_error("%s", err);
			for (unsigned j = 0; j < i; j++)
				worker_drain(s->workers[j], 0);
			return -1;
		}
	}
	char addr[SOCKADDR_STR_MAX];
	sockaddr_str((struct sockaddr *)&ss, addr, sizeof(addr));
	log_info("listening on %s (%u worker%s, auth %s, max_connections %u, fd limit %llu)", addr,
	         s->n_workers, s->n_workers == 1 ? "" : "s",
	         auth_method_name(cfg->auth.socks_method), cfg->server.max_connections,
	         (unsigned long long)nofile);
	return 0;
}

void server_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	(void)signal(SIGPIPE, SIG_IGN); /* splice/write to a closed peer: EPIPE, not death */
}

int server_main(struct csocks_config *cfg, const struct server_ctx *ctx)
{
	static const struct server_ctx none;
	struct server s;
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.sh.ctx = ctx ? ctx : &none;
	int sigfd = -1;

	/* Before any thread of ours exists, so every thread inherits the mask
	 * (main() has normally done this already, before its own threads). */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	(void)signal(SIGPIPE, SIG_IGN);

	if (server_setup(&s, &sigfd) < 0) {
		server_teardown(&s);
		if (sigfd >= 0)
			close(sigfd);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return 1;
	}

	bool collecting = prom_collector_add(collect_server, &s) == 0;
	/* Everything serves now (the API and the store started before). */
	sd_notify_sendf("READY=1\nSTATUS=accepting connections, %u worker%s", s.n_workers,
	                s.n_workers == 1 ? "" : "s");
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sigfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			log_error("signalfd read: %s", n < 0 ? strerror(errno) : "short read");
			break;
		}
		if (si.ssi_signo == SIGHUP) {
			/* MONOTONIC_USEC: what Type=notify-reload units expect. */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			sd_notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
			                (unsigned long long)ts.tv_sec * 1000000ull +
			                    (unsigned long long)ts.tv_nsec / 1000u);
			reload_acl(&s);
			sd_notify_send("READY=1\nSTATUS=accepting connections");
			continue;
		}
		log_info("%s: stopping; draining connections for up to %u s",
		         si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM",
		         cfg->server.shutdown_timeout_secs);
		sd_notify_sendf("STOPPING=1\nSTATUS=draining connections (up to %u s)",
		                cfg->server.shutdown_timeout_secs);
		break;
	}
	for (unsigned i = 0; i < s.n_workers; i++)
		worker_drain(s.workers[i], cfg->server.shutdown_timeout_secs * 1000u);
	if (collecting)
		prom_collector_del(collect_server, &s);
	server_teardown(&s);
	close(sigfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("stopped");
	return 0;
}
