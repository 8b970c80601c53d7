#include "auth/pam_auth.h"

#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/strutil.h"

/* What the conversation may answer. pass is NULL for pam.address: a module
 * that asks for a password there gets an error (fail closed). */
struct conv_data {
	const char *user;
	const char *pass;
	const char *service;
	bool verbose;
};

static void free_responses(struct pam_response *r, int n)
{
	if (!r)
		return;
	for (int i = 0; i < n; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
}

/* PAM frees the responses (and Linux-PAM overwrites them first). Module
 * messages may be logged; prompts' answers never are. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
                        void *appdata)
{
	const struct conv_data *cd = appdata;
	*resp = NULL;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		const char *answer = NULL;
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			if (!cd->pass)
				goto fail;
			answer = cd->pass;
			break;
		case PAM_PROMPT_ECHO_ON: /* "login:" style prompt: the user name */
			if (!cd->user)
				goto fail;
			answer = cd->user;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			log_msg(cd->verbose ? LOGL_INFO : LOGL_DEBUG, "pam %s: %s: %s", cd->service,
			        msg[i]->msg_style == PAM_ERROR_MSG ? "error" : "info",
			        msg[i]->msg ? msg[i]->msg : "");
			continue;
		default:
			goto fail;
		}
		r[i].resp = strdup(answer);
		if (!r[i].resp)
			goto fail;
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	free_responses(r, n);
	return PAM_CONV_ERR;
}

/* Failure delays would stall the single-threaded monitor; throttle.h limits
 * guessing instead. */
static void no_delay(int retval, unsigned usec_delay, void *appdata)
{
	(void)retval;
	(void)usec_delay;
	(void)appdata;
}

static void set_reason(struct pam_auth_result *out, pam_handle_t *h, const char *step, int rc)
{
	snprintf(out->reason, sizeof(out->reason), "%s: %s", step,
	         h ? pam_strerror(h, rc) : "cannot start PAM");
}

/* One conversation: start, set items, authenticate, account, end. */
static int run(const struct pam_auth_params *p, const char *service, const char *user,
               const char *pass, const char *rhost, const char *ruser, struct pam_auth_result *out)
{
	memset(out, 0, sizeof(*out));
	out->status = PAM_AUTH_ERROR;
	if (!service || !*service || !user || !*user) {
		snprintf(out->reason, sizeof(out->reason), "no PAM service or user");
		return out->status;
	}
	struct conv_data cd = {
	    .user = user, .pass = pass, .service = service, .verbose = p->verbose};
	struct pam_conv conv = {.conv = conversation, .appdata_ptr = &cd};
	pam_handle_t *h = NULL;
	int rc = p->confdir ? pam_start_confdir(service, user, &conv, p->confdir, &h)
	                    : pam_start(service, user, &conv, &h);
	if (rc != PAM_SUCCESS) {
		set_reason(out, h, "pam_start", rc);
		if (h)
			pam_end(h, rc);
		return out->status;
	}
	const char *step = "pam_set_item";
	rc = pam_set_item(h, PAM_FAIL_DELAY, (const void *)no_delay);
	if (rc == PAM_SUCCESS && rhost && *rhost)
		rc = pam_set_item(h, PAM_RHOST, rhost);
	if (rc == PAM_SUCCESS && ruser && *ruser)
		rc = pam_set_item(h, PAM_RUSER, ruser);
	if (rc == PAM_SUCCESS) {
		step = "pam_authenticate";
		rc = pam_authenticate(h, PAM_SILENT | (pass ? PAM_DISALLOW_NULL_AUTHTOK : 0));
		if (rc == PAM_SUCCESS) {
			step = "pam_acct_mgmt";
			rc = pam_acct_mgmt(h, PAM_SILENT | (pass ? PAM_DISALLOW_NULL_AUTHTOK : 0));
			if (rc != PAM_SUCCESS)
				out->status = rc == PAM_BUF_ERR || rc == PAM_SYSTEM_ERR
				                  ? PAM_AUTH_ERROR
				                  : PAM_AUTH_ACCOUNT;
		} else {
			switch (rc) {
			case PAM_AUTH_ERR:
			case PAM_USER_UNKNOWN:
			case PAM_CRED_INSUFFICIENT:
			case PAM_MAXTRIES:
			case PAM_PERM_DENIED:
				out->status = PAM_AUTH_DENIED;
				break;
			default: /* PAM_ABORT, PAM_SYSTEM_ERR, PAM_AUTHINFO_UNAVAIL, ... */
				out->status = PAM_AUTH_ERROR;
			}
		}
	}
	if (rc == PAM_SUCCESS) {
		const void *item = NULL;
		if (pam_get_item(h, PAM_USER, &item) == PAM_SUCCESS && item &&
		    strlen(item) < sizeof(out->user))
			cs_strlcpy(out->user, item, sizeof(out->user));
		else
			cs_strlcpy(out->user, user, sizeof(out->user));
		out->status = PAM_AUTH_OK;
		snprintf(out->reason, sizeof(out->reason), "ok");
	} else {
		set_reason(out, h, step, rc);
	}
	pam_end(h, rc);
	return out->status;
}

int pam_auth_username(const struct pam_auth_params *p, const char *user, const char *pass,
                      const char *rhost, struct pam_auth_result *out)
{
	if (!pass) {
		memset(out, 0, sizeof(*out));
		out->status = PAM_AUTH_ERROR;
		snprintf(out->reason, sizeof(out->reason), "no password");
		return out->status;
	}
	return run(p, p->username_service, user, pass, rhost, NULL, out);
}

int pam_auth_address(const struct pam_auth_params *p, const char *rhost,
                     struct pam_auth_result *out)
{
	if (!rhost || !*rhost) {
		memset(out, 0, sizeof(*out));
		out->status = PAM_AUTH_ERROR;
		snprintf(out->reason, sizeof(out->reason), "no client address");
		return out->status;
	}
	return run(p, p->address_service, p->default_user, NULL, rhost, p->default_ruser, out);
}

int pam_auth_check_service(const char *service, const char *confdir, char *err, size_t errlen)
{
	char path[4096];
	if (!service || !*service || strchr(service, '/')) {
		snprintf(err, errlen, "PAM service name \"%s\" is not valid",
		         service ? service : "");
		return -1;
	}
	const char *dirs[] = {confdir ? confdir : "/etc/pam.d", confdir ? NULL : "/usr/lib/pam.d"};
	for (size_t i = 0; i < 2; i++) {
		if (!dirs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirs[i], service);
		if (access(path, R_OK) == 0)
			return 0;
	}
	snprintf(err, errlen,
	         "PAM service \"%s\" not found in %s (install contrib/pam.d/ files or "
	         "set auth.pam.*_service)",
	         service, confdir ? confdir : "/etc/pam.d");
	return -1;
}
