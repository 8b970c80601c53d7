#include "auth/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/gssapi.h"
#include "auth/pam_auth.h"
#include "auth/privsep_client.h"
#include "auth/privsep_drop.h"
#include "auth/throttle.h"
#include "auth/userpass.h"
#include "obs/telemetry.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define GROUP_CACHE_ENTRIES 4096

struct auth_manager {
	const struct csocks_config *cfg;
	struct userpass_db *users; /* socks_method = userpass */
	struct pam_auth_params pam;
	bool pam_username, pam_address; /* which PAM requests the monitors permit */
	struct throttle *throttle;      /* NULL when auth.throttle.enabled = false */
	struct gssapi_acceptor *gss;    /* socks_method = gssapi: keytab read at start */
	struct group_cache *groups;
	struct privsep *ps;    /* after start, when PAM is used */
	struct authpool *pool; /* after start */

	_Atomic uint64_t attempts, ok, fail[5];
	_Atomic int64_t throttle_log_ms; /* rate limit for "throttled" lines */
};

const char *auth_outcome_name(int outcome)
{
	switch (outcome) {
	case AUTH_OK:
		return "ok";
	case AUTH_FAIL_CREDENTIALS:
		return "bad_credentials";
	case AUTH_FAIL_ACCOUNT:
		return "account_refused";
	case AUTH_FAIL_THROTTLED:
		return "throttled";
	case AUTH_FAIL_ERROR:
		return "error";
	}
	return "unknown";
}

static bool method_has_credentials(enum auth_method m)
{
	return m == AUTH_USERPASS || m == AUTH_PAM_USERNAME;
}

static int check_pam_service(const char *key, const char *service, bool strict, char *err,
                             size_t errlen)
{
	char msg[512];
	if (pam_auth_check_service(service, NULL, msg, sizeof(msg)) == 0)
		return 0;
	if (strict) {
		snprintf(err, errlen, "%s: %s", key, msg);
		return -1;
	}
	log_warn("%s: %s; PAM will use its \"other\" service", key, msg);
	return 0;
}

struct auth_manager *auth_manager_new(const struct csocks_config *cfg, char *err, size_t errlen)
{
	enum auth_method cm = cfg->auth.client_method, sm = cfg->auth.socks_method;
	if (cm != AUTH_NONE && cm != AUTH_PAM_ADDRESS) {
		snprintf(err, errlen, "auth.client_method = \"%s\": only none and pam.address",
		         auth_method_name(cm));
		return NULL;
	}
	if (sm > AUTH_GSSAPI) {
		snprintf(err, errlen, "auth.socks_method = \"%s\" is not supported",
		         auth_method_name(sm));
		return NULL;
	}
	struct auth_manager *m = xcalloc(1, sizeof(*m));
	m->cfg = cfg;
	m->pam = (struct pam_auth_params){
	    .username_service = cfg->auth.pam.username_service,
	    .address_service = cfg->auth.pam.address_service,
	    .default_user = cfg->auth.pam.default_user,
	    .default_ruser = cfg->auth.pam.default_ruser,
	    .verbose = cfg->auth.pam.verbose,
	};
	m->pam_username = sm == AUTH_PAM_USERNAME;
	m->pam_address = cm == AUTH_PAM_ADDRESS || sm == AUTH_PAM_ADDRESS;
	bool strict = cfg->auth.pam.verify_service;
	if (m->pam_username && check_pam_service("auth.pam.username_service",
	                                         m->pam.username_service, strict, err, errlen))
		goto fail;
	if (m->pam_address && check_pam_service("auth.pam.address_service", m->pam.address_service,
	                                        strict, err, errlen))
		goto fail;
	if (sm == AUTH_USERPASS) {
		m->users = userpass_db_new(cfg, err, errlen);
		if (!m->users)
			goto fail;
	}
	if (sm == AUTH_GSSAPI) {
		/* Now, as root: the keytab is copied into memory before any
		 * privilege drop (auth_manager_start). */
		struct gssapi_params gp = {
		    .service_name = cfg->auth.gssapi.service_name,
		    .keytab_path = cfg->auth.gssapi.keytab_path,
		    .strip_realm = cfg->auth.gssapi.strip_realm,
		    .verbose = cfg->auth.gssapi.verbose,
		};
		m->gss = gssapi_acceptor_new(&gp, err, errlen);
		if (!m->gss)
			goto fail;
		log_info("gssapi: acceptor %s ready (%u keys from %s copied to memory)",
		         gp.service_name ? gp.service_name : "socks", gssapi_acceptor_keys(m->gss),
		         gp.keytab_path ? gp.keytab_path : "the default keytab");
	}
	if (cfg->auth.throttle.enabled) {
		struct throttle_params tp = {
		    .max_attempts = cfg->auth.throttle.max_attempts,
		    .window_secs = cfg->auth.throttle.window_secs,
		    .lockout_secs = cfg->auth.throttle.lockout_secs,
		};
		m->throttle = throttle_new(&tp);
	}
	m->groups = group_cache_new(cfg->auth.group_cache_ttl_secs, GROUP_CACHE_ENTRIES);
	return m;
fail:
	auth_manager_free(m);
	return NULL;
}

void auth_manager_set_pam_confdir(struct auth_manager *m, const char *dir)
{
	m->pam.confdir = dir;
}

int auth_manager_fork_monitors(struct auth_manager *m, char *err, size_t errlen)
{
	if (m->ps || !(m->pam_username || m->pam_address))
		return 0;
	struct privsep_params pp = {
	    .pam = m->pam,
	    .allow_username = m->pam_username,
	    .allow_address = m->pam_address,
	    .nlinks = m->cfg->auth.threads ? m->cfg->auth.threads : 1,
	};
	m->ps = privsep_start(&pp, err, errlen);
	return m->ps ? 0 : -1;
}

int auth_manager_start(struct auth_manager *m, char *err, size_t errlen)
{
	const struct csocks_config *cfg = m->cfg;
	unsigned threads = cfg->auth.threads ? cfg->auth.threads : 1;
	CSOCKS_BUG_ON(m->pool != NULL);
	if (auth_manager_fork_monitors(m, err, errlen) != 0)
		return -1;
	if (privsep_drop_privileges(cfg->server.user, cfg->server.group, err, errlen) != 0)
		return -1;
	if (cfg->server.user || cfg->server.group)
		log_info("dropped privileges to user %s group %s (uid %u gid %u)%s",
		         cfg->server.user ? cfg->server.user : "-",
		         cfg->server.group ? cfg->server.group : "-", (unsigned)getuid(),
		         (unsigned)getgid(), m->ps ? "; PAM runs in privileged monitors" : "");
	if (cfg->auth.client_method == AUTH_NONE && cfg->auth.socks_method == AUTH_NONE)
		return 0; /* auth_start never needs a thread */
	m->pool = authpool_new(threads, err, errlen);
	return m->pool ? 0 : -1;
}

void auth_manager_stop(struct auth_manager *m)
{
	if (!m)
		return;
	authpool_free(m->pool); /* runs what is queued first (monitors still up) */
	m->pool = NULL;
}

void auth_manager_free(struct auth_manager *m)
{
	if (!m)
		return;
	auth_manager_stop(m);
	privsep_free(m->ps);
	gssapi_acceptor_free(m->gss);
	group_cache_free(m->groups);
	throttle_free(m->throttle);
	userpass_db_free(m->users);
	free(m);
}

static enum auth_method tier_method(const struct auth_manager *m, enum auth_tier tier)
{
	return tier == AUTH_TIER_CLIENT ? m->cfg->auth.client_method : m->cfg->auth.socks_method;
}

bool auth_manager_tier_enabled(const struct auth_manager *m, enum auth_tier tier)
{
	return tier_method(m, tier) != AUTH_NONE;
}

uint8_t auth_manager_socks_method_byte(const struct auth_manager *m)
{
	if (m->cfg->auth.socks_method == AUTH_GSSAPI)
		return 0x01;
	return method_has_credentials(m->cfg->auth.socks_method) ? 0x02 : 0x00;
}

/* The client IP as PAM_RHOST wants it: IPv4-mapped IPv6 as plain IPv4. */
static void format_ip(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	buf[0] = '\0';
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, len);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], buf, len);
		else
			inet_ntop(AF_INET6, a, buf, len);
	}
}

static void task_reset(struct auth_manager *m, struct auth_task *t)
{
	t->mgr = m;
	t->outcome = AUTH_FAIL_ERROR;
	t->user[0] = '\0';
	t->groups = NULL;
	t->reason = "authentication error";
	t->method = tier_method(m, t->tier);
	t->verified = false;
	t->gss_continue = false;
}

/* Record the outcome: counters, throttle, one log line on failure. */
static void task_settle(struct auth_manager *m, struct auth_task *t, int outcome,
                        const char *reason, const char *detail)
{
	t->outcome = outcome;
	t->reason = reason;
	explicit_bzero(t->password, sizeof(t->password));
	if (outcome == AUTH_OK)
		atomic_fetch_add_explicit(&m->ok, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&m->fail[outcome], 1, memory_order_relaxed);
	char ip[INET6_ADDRSTRLEN];
	format_ip(&t->client, ip, sizeof(ip));
	bool creds = method_has_credentials(t->method);
	const char *who = creds ? t->username : "-";
	if (t->method == AUTH_GSSAPI && t->gss && gssapi_sess_principal(t->gss)[0])
		who = gssapi_sess_principal(t->gss);
	if (m->throttle && creds) {
		if (outcome == AUTH_OK) {
			throttle_success(m->throttle, (const struct sockaddr *)&t->client);
		} else if (outcome == AUTH_FAIL_CREDENTIALS || outcome == AUTH_FAIL_ACCOUNT) {
			if (throttle_fail(m->throttle, (const struct sockaddr *)&t->client)) {
				log_warn("auth: %s locked out for %u s after %u failed logins", ip,
				         m->cfg->auth.throttle.lockout_secs,
				         m->cfg->auth.throttle.max_attempts);
				telemetry_record(TELEMETRY_WARNING, "auth",
				                 "%s locked out for %u s after %u failed logins",
				                 ip, m->cfg->auth.throttle.lockout_secs,
				                 m->cfg->auth.throttle.max_attempts);
			}
		}
	}
	if (outcome == AUTH_OK || outcome == AUTH_FAIL_THROTTLED)
		return;
	struct log_field f[] = {
	    LOG_STR("method", auth_method_name(t->method)),
	    LOG_STR("tier", t->tier == AUTH_TIER_CLIENT ? "client" : "socks"),
	    LOG_STR("client", ip),
	    LOG_STR("user", who),
	    LOG_STR("outcome", auth_outcome_name(outcome)),
	    LOG_STR("detail", detail ? detail : reason),
	};
	log_fields(outcome == AUTH_FAIL_ERROR ? LOGL_WARN : LOGL_INFO, "authentication failed", f,
	           sizeof(f) / sizeof(f[0]));
}

/* After a successful check: attach the groups (NSS, cached). A lookup error
 * refuses the login: group rules may block, so guessing none is unsafe. */
static void task_succeed(struct auth_manager *m, struct auth_task *t, const char *user)
{
	cs_strlcpy(t->user, user ? user : "", sizeof(t->user));
	if (t->user[0] && group_cache_lookup(m->groups, t->user, &t->groups) != 0) {
		t->user[0] = '\0';
		task_settle(m, t, AUTH_FAIL_ERROR, "group lookup failed", "getgrouplist failed");
		return;
	}
	task_settle(m, t, AUTH_OK, "authenticated", NULL);
}

static void pam_settle(struct auth_manager *m, struct auth_task *t,
                       const struct pam_auth_result *res)
{
	switch (res->status) {
	case PAM_AUTH_OK:
		/* pam.address is anonymous: ACL anonymous_user, no groups. */
		task_succeed(m, t, t->method == AUTH_PAM_ADDRESS ? "" : res->user);
		return;
	case PAM_AUTH_DENIED:
		task_settle(m, t, AUTH_FAIL_CREDENTIALS,
		            t->method == AUTH_PAM_ADDRESS ? "address refused by PAM"
		                                          : "bad credentials",
		            res->reason);
		return;
	case PAM_AUTH_ACCOUNT:
		task_settle(m, t, AUTH_FAIL_ACCOUNT, "account refused by PAM", res->reason);
		return;
	default:
		task_settle(m, t, AUTH_FAIL_ERROR, "PAM error", res->reason);
	}
}

/* One gss_accept_sec_context step (auth thread: the replay cache may
 * block). CONTINUE is an AUTH_OK without a user that is not counted: the
 * caller sends the token and starts another step. */
static void gssapi_run(struct auth_manager *m, struct auth_task *t)
{
	if (!m->gss || !t->gss) {
		task_settle(m, t, AUTH_FAIL_ERROR, "GSSAPI not configured", NULL);
		return;
	}
	switch (gssapi_sess_accept(m->gss, t->gss)) {
	case GSSAPI_STEP_CONTINUE:
		t->outcome = AUTH_OK;
		t->reason = "GSSAPI context continues";
		t->gss_continue = true;
		return;
	case GSSAPI_STEP_COMPLETE:
		task_succeed(m, t, gssapi_sess_user(t->gss));
		return;
	default:
		task_settle(m, t, AUTH_FAIL_CREDENTIALS, "GSSAPI authentication failed",
		            gssapi_sess_detail(t->gss));
	}
}

/* On an auth thread. */
static void task_run(struct auth_job *job)
{
	struct auth_task *t = (struct auth_task *)job;
	struct auth_manager *m = t->mgr;
	struct pam_auth_result res;
	char ip[INET6_ADDRSTRLEN];
	format_ip(&t->client, ip, sizeof(ip));
	switch (t->method) {
	case AUTH_USERPASS:
		if (t->verified || userpass_verify(m->users, t->username, t->password))
			task_succeed(m, t, t->username);
		else
			task_settle(m, t, AUTH_FAIL_CREDENTIALS, "bad credentials", NULL);
		break;
	case AUTH_PAM_USERNAME:
		if (m->ps)
			privsep_pam_username(m->ps, t->username, t->password, ip, &res);
		else
			pam_auth_username(&m->pam, t->username, t->password, ip, &res);
		pam_settle(m, t, &res);
		break;
	case AUTH_PAM_ADDRESS:
		if (m->ps)
			privsep_pam_address(m->ps, ip, &res);
		else
			pam_auth_address(&m->pam, ip, &res);
		pam_settle(m, t, &res);
		break;
	case AUTH_GSSAPI:
		gssapi_run(m, t);
		break;
	default:
		task_settle(m, t, AUTH_FAIL_ERROR, "unsupported method", NULL);
	}
	explicit_bzero(t->password, sizeof(t->password));
}

static void task_complete(struct auth_job *job)
{
	struct auth_task *t = (struct auth_task *)job;
	t->done(t);
}

enum auth_start_result auth_start(struct auth_manager *m, struct auth_task *t)
{
	task_reset(m, t);
	if (t->method == AUTH_NONE) {
		t->outcome = AUTH_OK;
		t->reason = "no authentication";
		return AUTH_DONE;
	}
	atomic_fetch_add_explicit(&m->attempts, 1, memory_order_relaxed);
	if (m->throttle && throttle_check(m->throttle, (const struct sockaddr *)&t->client)) {
		task_settle(m, t, AUTH_FAIL_THROTTLED, "too many failed logins from this address",
		            NULL);
		/* One line per second at most: a locked-out client may hammer. */
		int64_t now = time_mono_ms(), last = atomic_load(&m->throttle_log_ms);
		if (now - last >= 1000 &&
		    atomic_compare_exchange_strong(&m->throttle_log_ms, &last, now)) {
			char ip[INET6_ADDRSTRLEN];
			format_ip(&t->client, ip, sizeof(ip));
			log_info("auth: refused %s: locked out after failed logins", ip);
		}
		return AUTH_DONE;
	}
	if (t->method == AUTH_USERPASS && !userpass_is_slow(m->users, t->username)) {
		/* Plaintext passwords: a constant-time compare, fine on a worker. */
		if (!userpass_verify(m->users, t->username, t->password)) {
			task_settle(m, t, AUTH_FAIL_CREDENTIALS, "bad credentials", NULL);
			return AUTH_DONE;
		}
		explicit_bzero(t->password, sizeof(t->password));
		t->groups = group_cache_peek(m->groups, t->username, time_mono_ms());
		if (t->groups) {
			cs_strlcpy(t->user, t->username, sizeof(t->user));
			task_settle(m, t, AUTH_OK, "authenticated", NULL);
			return AUTH_DONE;
		}
		t->verified = true; /* the auth thread only fetches the groups */
	}
	CSOCKS_BUG_ON(!m->pool);
	CSOCKS_BUG_ON(!t->done);
	t->job.run = task_run;
	t->job.complete = task_complete;
	authpool_submit(m->pool, &t->job);
	return AUTH_PENDING;
}

void auth_task_release(struct auth_task *t)
{
	group_list_unref(t->groups);
	t->groups = NULL;
	gssapi_sess_free(t->gss);
	t->gss = NULL;
	explicit_bzero(t->password, sizeof(t->password));
}

void auth_manager_stats_get(struct auth_manager *m, struct auth_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->attempts = atomic_load(&m->attempts);
	out->ok = atomic_load(&m->ok);
	out->fail_credentials = atomic_load(&m->fail[AUTH_FAIL_CREDENTIALS]);
	out->fail_account = atomic_load(&m->fail[AUTH_FAIL_ACCOUNT]);
	out->fail_throttled = atomic_load(&m->fail[AUTH_FAIL_THROTTLED]);
	out->fail_error = atomic_load(&m->fail[AUTH_FAIL_ERROR]);
	if (m->throttle) {
		struct throttle_stats ts;
		throttle_stats_get(m->throttle, &ts);
		out->lockouts = ts.lockouts;
		out->throttle_entries = ts.entries;
	}
	struct group_cache_stats gs;
	group_cache_stats_get(m->groups, &gs);
	out->group_cache_hits = gs.hits;
	out->group_cache_misses = gs.misses;
}
