#include "app/app.h"

#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "acl/acl_manager.h"
#include "api/api_server.h"
#include "app/app_api.h"
#include "app/app_metrics.h"
#include "app/pidfile.h"
#include "auth/auth.h"
#include "auth/privsep_drop.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "obs/telemetry.h"
#include "proxy/proxy.h"
#include "session/metrics_store.h"
#include "session/session_writer.h"
#include "session/session_manager.h"
#include "util/log.h"
#include "util/sdnotify.h"

/* Everything the program shares between its threads, built in app_start's
 * order and torn down by app_stop in reverse. */
struct app {
	struct csocks_config *cfg;
	struct proxy_ctx ctx;
	struct session_writer *writer;
	struct proxy *proxy;
	struct app_api api_src;
	struct api_server *api;
	bool pid_written; /* server.pid_file is ours to remove */
	int sigfd;
};

/* The signals the main thread waits for on its signalfd. */
static void app_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

static int app_start_acl(struct app *a)
{
	const struct csocks_config *cfg = a->cfg;
	struct acl_msgs msgs;
	acl_msgs_init(&msgs);
	enum acl_eval_mode mode = ACL_EVAL_PRIORITY;
	(void)acl_eval_mode_parse(cfg->acl.evaluation, &mode); /* validated */
	a->ctx.acl = acl_manager_new(cfg->acl.config_file, mode, &msgs);
	for (size_t i = 0; i < msgs.n; i++)
		log_msg(msgs.is_error[i] ? LOGL_ERROR : LOGL_WARN, "acl: %s", msgs.v[i]);
	acl_msgs_fini(&msgs);
	if (!a->ctx.acl) {
		log_error("acl: %s: cannot start with an invalid ACL file", cfg->acl.config_file);
		return -1;
	}
	if (cfg->acl.watch && acl_manager_watch_start(a->ctx.acl, 100) != 0)
		log_warn("acl: cannot watch %s; SIGHUP still reloads it", cfg->acl.config_file);
	return 0;
}

/* The SQLite file's missing parent folders, created before the privilege
 * drop; when root and server.user/group are set, they own them. */
static int app_make_sqlite_dirs(const struct csocks_config *cfg)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char err[700];
	/* An unknown user or group is reported by the privilege drop later. */
	if (geteuid() == 0)
		(void)privsep_resolve_ids(cfg->server.user, cfg->server.group, &uid, &gid, err,
		                          sizeof(err));
	if (config_sqlite_create_dirs(cfg, uid, gid, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

static int app_start_sessions(struct app *a)
{
	const struct csocks_config *cfg = a->cfg;
	char err[512];
	/* As in RustSocks, sessions are always tracked (live list, in-memory
	 * history, the API's sessions routes); sessions.enabled turns on
	 * persistence to the configured store. */
	if (cfg->sessions.enabled && app_make_sqlite_dirs(cfg) != 0)
		return -1;
	if (cfg->sessions.enabled && cfg->sessions.storage != STORAGE_MEMORY) {
		a->writer = session_writer_start(cfg, err, sizeof(err));
		if (!a->writer) {
			log_error("sessions: %s", err);
			return -1;
		}
		if (app_metrics_store_register(a->writer) != 0)
			log_warn("metrics: cannot register the session store counters");
	}
	a->ctx.sessions = session_manager_new(cfg, proxy_worker_count(cfg), a->writer);
	return 0;
}

/* metrics.storage = "sqlite": the metrics history goes into the sessions'
 * SQLite file (RustSocks' metrics_snapshots table). Without a SQLite
 * session store the history stays in memory (config validation warned). */
static void app_open_metrics_store(struct app *a)
{
	const struct csocks_config *cfg = a->cfg;
	char err[512];
	if (!cfg->metrics.enabled || !cfg->metrics.storage ||
	    strcmp(cfg->metrics.storage, "sqlite") != 0 || !cfg->sessions.enabled ||
	    cfg->sessions.storage != STORAGE_SQLITE)
		return;
	char *path = config_sqlite_path(cfg->sessions.database_url);
	if (!path)
		return;
	a->api_src.metrics =
	    metrics_store_open(path, cfg->metrics.retention_hours, err, sizeof(err));
	if (!a->api_src.metrics)
		log_warn("%s; the metrics history stays in memory", err);
	else
		log_info("metrics history: stored in %s (metrics_snapshots)", path);
	free(path);
}

static int app_start_api(struct app *a)
{
	char err[512];
	struct api_sources src;
	app_open_metrics_store(a);
	a->api_src.acl = a->ctx.acl;
	a->api_src.sessions = a->ctx.sessions;
	a->api_src.store = a->writer ? session_writer_store(a->writer) : NULL;
	a->api_src.proxy = a->proxy;
	app_api_sources(&a->api_src, &src);
	a->api = api_server_start(a->cfg, &src, err, sizeof(err));
	if (!a->api) {
		log_error("admin API: %s", err);
		return -1;
	}
	return 0;
}

static void on_acl_reload(struct acl_snapshot *snap, void *arg)
{
	(void)snap; /* each worker acquires the current snapshot itself */
	proxy_acl_recheck(arg);
}

/* Bind everything while root, then drop privileges, then serve. */
static int app_start(struct app *a)
{
	const struct csocks_config *cfg = a->cfg;
	char err[512];
	/* First, while the process is single-threaded and root: the PAM
	 * monitors are forked here. */
	a->ctx.auth = auth_manager_new(cfg, err, sizeof(err));
	if (!a->ctx.auth || auth_manager_fork_monitors(a->ctx.auth, err, sizeof(err)) != 0) {
		log_error("auth: %s", err);
		return -1;
	}
	metrics_init(cfg);
	if (telemetry_configure(cfg->telemetry.enabled, cfg->telemetry.max_events,
	                        cfg->telemetry.retention_hours) != 0)
		log_warn("telemetry: cannot allocate the event ring");
	telemetry_record(TELEMETRY_INFO, "lifecycle", "csocks started");
	if (app_metrics_auth_register(a->ctx.auth) != 0)
		log_warn("metrics: cannot register the auth counters");
	if (cfg->acl.enabled && app_start_acl(a) != 0)
		return -1;
	if (app_start_sessions(a) != 0)
		return -1;
	a->proxy = proxy_new(cfg, &a->ctx, err, sizeof(err));
	if (!a->proxy) {
		log_error("%s", err);
		return -1;
	}
	if (cfg->sessions.stats_api_enabled && app_start_api(a) != 0)
		return -1;
	/* Listeners are bound: the pid file says this process holds the port.
	 * Written before privileges drop, so it may live in a root-owned
	 * directory (docs/operations.md). */
	if (cfg->server.pid_file) {
		if (pidfile_write(cfg->server.pid_file, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return -1;
		}
		a->pid_written = true;
	}
	/* Drop privileges (server.user/group; PAM stays in the root
	 * monitors), then start the auth threads. */
	if (auth_manager_start(a->ctx.auth, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (a->ctx.acl && acl_manager_on_reload(a->ctx.acl, on_acl_reload, a->proxy) != 0)
		log_warn("acl: cannot subscribe to reloads; live sessions are not re-checked");
	if (proxy_start(a->proxy, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/* Reverse order: nothing may call into a module after it is freed. The
 * API goes first (it calls into the proxy and the sessions); the proxy
 * before the managers its workers use; the writer flushes every queued
 * session before it returns. */
static void app_stop(struct app *a)
{
	const struct csocks_config *cfg = a->cfg;
	api_server_stop(a->api);
	metrics_store_close(a->api_src.metrics); /* its sampler has stopped */
	a->api_src.metrics = NULL;
	if (a->ctx.acl)
		acl_manager_watch_stop(a->ctx.acl);
	proxy_free(a->proxy);
	if (a->pid_written)
		pidfile_remove(cfg->server.pid_file);
	session_manager_free(a->ctx.sessions);
	app_metrics_store_unregister(a->writer);
	if (a->writer)
		session_writer_stop(a->writer, (int)config_ms(cfg->server.shutdown_timeout_secs,
		                                              cfg->server.shutdown_timeout_ms) +
		                                   5000);
	acl_manager_free(a->ctx.acl);
	app_metrics_auth_unregister(a->ctx.auth);
	metrics_fini();
	auth_manager_free(a->ctx.auth); /* closes the monitors */
}

static void app_reload(struct app *a)
{
	/* MONOTONIC_USEC: what Type=notify-reload units expect. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	                (unsigned long long)ts.tv_sec * 1000000ull +
	                    (unsigned long long)ts.tv_nsec / 1000u);
	if (!a->ctx.acl) {
		log_info("SIGHUP: ACL is not enabled; nothing to reload");
	} else {
		int rc = acl_manager_reload(a->ctx.acl, NULL); /* logs the outcome, file:line */
		metrics_acl_reload(rc == 0);
		telemetry_record(rc == 0 ? TELEMETRY_INFO : TELEMETRY_ERROR, "acl",
		                 rc == 0 ? "ACL reloaded (SIGHUP)"
		                         : "ACL reload (SIGHUP) failed; previous rules kept");
	}
	if (a->cfg->server.tls.enabled) {
		char err[512];
		(void)proxy_tls_reload(a->proxy, err, sizeof(err)); /* logs the outcome */
	}
	sd_notify_send("READY=1\nSTATUS=accepting connections");
}

/* Wait for signals until SIGTERM or SIGINT; 0, or -1 if the signalfd fails. */
static int app_wait(struct app *a)
{
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(a->sigfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			log_error("signalfd read: %s", n < 0 ? strerror(errno) : "short read");
			return -1;
		}
		if (si.ssi_signo == SIGHUP) {
			app_reload(a);
			continue;
		}
		double secs = (double)config_ms(a->cfg->server.shutdown_timeout_secs,
		                                a->cfg->server.shutdown_timeout_ms) /
		              1000.0;
		log_info("%s: stopping; draining connections for up to %g s",
		         si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", secs);
		sd_notify_sendf("STOPPING=1\nSTATUS=draining connections (up to %g s)", secs);
		return 0;
	}
}

int app_run(struct csocks_config *cfg)
{
	struct app a;
	memset(&a, 0, sizeof(a));
	a.cfg = cfg;
	/* Before the first thread: every thread inherits the mask, so the
	 * signals reach only this signalfd. */
	sigset_t set;
	app_signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	(void)signal(SIGPIPE, SIG_IGN); /* splice/write to a closed peer: EPIPE, not death */
	a.sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (a.sigfd < 0) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	int rc = 1;
	if (app_start(&a) == 0) {
		unsigned n = proxy_worker_count(cfg);
		sd_notify_sendf("READY=1\nSTATUS=accepting connections, %u worker%s", n,
		                n == 1 ? "" : "s");
		app_wait(&a);
		proxy_drain(a.proxy, (unsigned)config_ms(cfg->server.shutdown_timeout_secs,
		                                         cfg->server.shutdown_timeout_ms));
		rc = 0;
	}
	app_stop(&a);
	close(a.sigfd);
	log_info("stopped");
	return rc;
}
