/* The auth manager: every authentication method behind one asynchronous
 * entry point, for the connection state machine.
 *
 * Two tiers:
 *   AUTH_TIER_CLIENT  auth.client_method (none | pam.address), right after
 *                     accept, before any SOCKS byte; a refusal closes.
 *   AUTH_TIER_SOCKS   auth.socks_method (none | userpass | pam.username |
 *                     pam.address | gssapi) inside the SOCKS negotiation; a
 *                     refusal answers RFC 1929 status 1 (when credentials
 *                     were read), or the RFC 1961 abort, and closes.
 *
 * GSSAPI takes one auth_start per context token: the caller sets t->gss
 * (the connection's context, auth/gssapi.h), which belongs to the task
 * while it is pending; the task hands it back in the outputs (the caller
 * takes it out before auth_task_release, which frees one left there).
 *
 * A check that could block (crypt(3), PAM, NSS groups) runs on the auth
 * thread pool; PAM itself runs in the privsep monitors (privsep_client.h). The
 * caller embeds a struct auth_task in its own object, fills the inputs and
 * calls auth_start():
 *   AUTH_DONE     answered at once (method none, throttled address, a cheap
 *                 check whose groups are cached): outputs are set, done()
 *                 is not called;
 *   AUTH_PENDING  queued: done(task) runs later on an auth thread, exactly
 *                 once; it should post the task back to the owning worker
 *                 (worker_post). The task belongs to the auth pool until
 *                 then: the owner must not free or reuse it (to abandon it,
 *                 mark the owner's own fields and free it when it returns).
 * In both cases the owner calls auth_task_release() when done with the
 * outputs (it drops the groups reference and wipes the password).
 *
 * Failed credential checks from an address are throttled (throttle.h): once
 * locked out, every attempt from it fails at once with AUTH_FAIL_THROTTLED,
 * logged and counted. */
#ifndef CSOCKS_AUTH_H
#define CSOCKS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/authpool.h"
#include "auth/groups.h"
#include "config/config.h"

struct auth_manager;
struct gssapi_sess;

enum auth_tier {
	AUTH_TIER_CLIENT = 0, /* auth.client_method, before SOCKS */
	AUTH_TIER_SOCKS = 1,  /* auth.socks_method, in the negotiation */
};

/* Outcome of a check. Explicit numbers (metrics labels, logs). */
enum auth_outcome {
	AUTH_OK = 0,
	AUTH_FAIL_CREDENTIALS = 1, /* wrong password, unknown user, address refused */
	AUTH_FAIL_ACCOUNT = 2,     /* password right, account refused (locked, expired) */
	AUTH_FAIL_THROTTLED = 3,   /* the client address is locked out */
	AUTH_FAIL_ERROR = 4,       /* PAM/NSS/monitor failure: refused too */
};
const char *auth_outcome_name(int outcome);

enum auth_start_result {
	AUTH_DONE = 0,    /* outputs set now; done() will not be called */
	AUTH_PENDING = 1, /* done() will be called on an auth thread */
};

#define AUTH_NAME_MAX 256 /* RFC 1929: 255 bytes + NUL */

struct auth_task {
	/* Private to auth.c. */
	struct auth_job job;
	struct auth_manager *mgr;
	enum auth_method method;
	bool verified; /* userpass checked inline; the pool fetches groups */

	/* In: set before auth_start(). */
	enum auth_tier tier;
	struct sockaddr_storage client;    /* the client's address (PROXY-protocol
	                                    * source when that is in use) */
	char username[AUTH_NAME_MAX];      /* RFC 1929 UNAME (userpass, pam.username) */
	char password[AUTH_NAME_MAX];      /* RFC 1929 PASSWD; wiped by auth_start /
	                                    * the auth thread as soon as it is used */
	struct gssapi_sess *gss;           /* gssapi: the context, input token set
	                                    * (in and out; see the header) */
	void (*done)(struct auth_task *t); /* see above; runs on an auth thread */
	void *owner;                       /* for done() */

	/* Out. */
	int outcome;               /* enum auth_outcome */
	char user[AUTH_NAME_MAX];  /* on AUTH_OK: the authenticated name (PAM
	                            * may canonicalise it); "" when anonymous
	                            * (none, pam.address) */
	struct group_list *groups; /* on AUTH_OK with a user: NSS groups (one
	                            * reference, dropped by auth_task_release) */
	const char *reason;        /* static text for logs and close reasons */
	bool gss_continue;         /* gssapi, AUTH_OK: not done, send the output
	                            * token and run another step */
};

/* Build from cfg (borrowed: must outlive the manager): local users, PAM
 * settings (checks the service files; a missing one is an error when
 * auth.pam.verify_service, else a warning), throttle, group cache. Starts no
 * thread and no process. NULL with a message in err. */
struct auth_manager *auth_manager_new(const struct csocks_config *cfg, char *err, size_t errlen);

/* Fork the PAM monitors (only when a PAM method is configured). Call while
 * the process is still single-threaded and root: before the ACL watcher,
 * session writer, API server or any other thread starts (fork copies only
 * the calling thread; a lock another thread held would stay locked in the
 * monitor). Idempotent. 0, or -1 with a message in err. */
int auth_manager_fork_monitors(struct auth_manager *m, char *err, size_t errlen);

/* Bring auth up, once, after the listeners are bound and before the workers
 * start:
 *   1. fork the monitors if auth_manager_fork_monitors() did not;
 *   2. drop privileges to server.user / server.group when set (verified;
 *      a failure is returned: the caller must exit rather than run as root);
 *   3. start the auth thread pool (auth.threads).
 * 0, or -1 with a message in err. */
int auth_manager_start(struct auth_manager *m, char *err, size_t errlen);

/* Finish the queued checks (their done() still runs) and join the auth
 * threads; after this auth_start must not be called. For the server's
 * shutdown, before the workers whose mailboxes receive the answers are
 * freed. Safe to call twice; auth_manager_free does it too. */
void auth_manager_stop(struct auth_manager *m);

/* Whether a tier has anything to check (false for method none). Cheap. */
bool auth_manager_tier_enabled(const struct auth_manager *m, enum auth_tier tier);
/* The SOCKS5 method byte for auth.socks_method: 0x00 for none and
 * pam.address, 0x01 for gssapi, 0x02 for userpass and pam.username. */
uint8_t auth_manager_socks_method_byte(const struct auth_manager *m);

/* Start a check (owner's thread: a worker). See the header comment. */
enum auth_start_result auth_start(struct auth_manager *m, struct auth_task *t);

/* Drop the outputs' references and wipe the secrets. Safe to call twice
 * and on a zeroed task; never while the task is pending. */
void auth_task_release(struct auth_task *t);

/* auth_manager_stop, then close the monitors (they exit) and free. */
void auth_manager_free(struct auth_manager *m);

/* Counters since start, for /metrics. */
struct auth_stats {
	uint64_t attempts; /* auth_start calls for an enabled tier */
	uint64_t ok;
	uint64_t fail_credentials, fail_account, fail_throttled, fail_error;
	uint64_t lockouts; /* addresses locked out */
	uint64_t throttle_entries;
	uint64_t group_cache_hits, group_cache_misses;
};
void auth_manager_stats_get(struct auth_manager *m, struct auth_stats *out);

/* Tests: read PAM service files from dir instead of /etc/pam.d (before
 * auth_manager_start; dir borrowed). */
void auth_manager_set_pam_confdir(struct auth_manager *m, const char *dir);

#endif
