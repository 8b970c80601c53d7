/* PAM conversations for the two PAM methods.
 *
 *   pam.username  RFC 1929 credentials checked by auth.pam.username_service:
 *                 PAM_USER = the given name, the password answers every
 *                 PAM_PROMPT_ECHO_OFF, PAM_RHOST = the client IP (so the
 *                 account stack can use pam_access too).
 *   pam.address   no credentials; auth.pam.address_service decides by address:
 *                 PAM_RHOST = client IP, PAM_RUSER = default_ruser,
 *                 PAM_USER = default_user (pam_access, pam_rhosts work).
 *
 * Both run pam_authenticate then pam_acct_mgmt; only both succeeding is
 * success. The password is never logged; the copy handed to PAM is freed by
 * PAM after Linux-PAM overwrote it, and callers wipe their own.
 *
 * These calls block (pam_unix's shadow lookup, SSSD, LDAP) and some modules
 * are not thread-safe (crypt(3)'s static buffer): csocks runs them only in
 * the single-threaded monitor processes of privsep.h, never on a worker.
 * PAM's failure delay (pam_unix asks for ~2 s) is disabled: it would stall a
 * monitor; csocks throttles failed logins per address instead (throttle.h). */
#ifndef CSOCKS_PAM_AUTH_H
#define CSOCKS_PAM_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Outcome of one conversation. Explicit numbers: they cross the monitor
 * socket (privsep.h). */
enum pam_auth_status {
	PAM_AUTH_OK = 0,      /* authenticated and account valid */
	PAM_AUTH_DENIED = 1,  /* pam_authenticate refused (bad password, unknown
	                       * user, locked password, address not admitted) */
	PAM_AUTH_ACCOUNT = 2, /* pam_acct_mgmt refused (expired, not allowed) */
	PAM_AUTH_ERROR = 3,   /* service or module failure, bad input, lost
	                       * monitor: not the client's fault, still a refusal */
};

#define PAM_AUTH_NAME_MAX   256 /* RFC 1929 names are at most 255 bytes */
#define PAM_AUTH_REASON_MAX 128

struct pam_auth_result {
	int status;                       /* enum pam_auth_status */
	char user[PAM_AUTH_NAME_MAX];     /* on OK: the name PAM settled on (a module
	                                   * may canonicalise it), else "" */
	char reason[PAM_AUTH_REASON_MAX]; /* "pam_authenticate: Authentication
	                                   * failure", never a secret */
};

/* The services and identities, from auth.pam.* (strings borrowed). */
struct pam_auth_params {
	const char *username_service;
	const char *address_service;
	const char *default_user;  /* PAM_USER for pam.address */
	const char *default_ruser; /* PAM_RUSER for pam.address */
	const char *confdir;       /* NULL = /etc/pam.d (tests use a temp dir) */
	bool verbose;              /* log module messages at info, not debug */
};

/* pam.username. rhost: the client IP as text (may be NULL). Returns
 * out->status. Blocking. */
int pam_auth_username(const struct pam_auth_params *p, const char *user, const char *pass,
                      const char *rhost, struct pam_auth_result *out);

/* pam.address. rhost: the client IP as text. Returns out->status. Blocking. */
int pam_auth_address(const struct pam_auth_params *p, const char *rhost,
                     struct pam_auth_result *out);

/* Whether a service file exists (in confdir, else /etc/pam.d or
 * /usr/lib/pam.d). 0, or -1 with a message. Without the file Linux-PAM falls
 * back to the "other" service, which denies on Debian: worth a warning. */
int pam_auth_check_service(const char *service, const char *confdir, char *err, size_t errlen);

#endif
