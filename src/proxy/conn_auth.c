/* Authentication: phase CLIENT_AUTH (the client tier, by address), the
 * SOCKS tier's phases AUTH (RFC 1929 credentials) and AUTH_WAIT (the
 * answer), and GSSAPI's auth-pool steps (conn_gssapi.c). A check that may
 * block (PAM, NSS groups, gss_accept_sec_context) runs on the auth thread
 * pool; its answer comes back through the worker's mailbox. */
#include "proxy/conn_internal.h"

#include <stdlib.h>
#include <string.h>

#include "auth/gssapi.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "util/log.h"
#include "util/strutil.h"

/* Phase CLIENT_AUTH: the client tier (auth.client_method = pam.address)
 * decides by address before any SOCKS byte is read; a refusal closes
 * without a word. */
enum step conn_ph_client_auth(struct conn *c)
{
	c->action = "checking the client address";
	if (!auth_manager_tier_enabled(c->w->sh->auth, AUTH_TIER_CLIENT)) {
		c->phase = CONN_PH_GREETING;
		return STEP_NEXT;
	}
	if (c->auth)
		return STEP_WAIT; /* the answer will drive us */
	if (c->auth_result == 0)
		return conn_auth_begin(c, AUTH_TIER_CLIENT, NULL);
	if (c->auth_result != 1) {
		c->info.status = CONN_ST_REJECTED;
		c->info.reject = CONN_REJ_AUTH;
		return conn_close_io(c, c->auth_reason);
	}
	c->auth_result = 0; /* the SOCKS tier starts afresh */
	c->phase = CONN_PH_GREETING;
	return STEP_NEXT;
}

/* On an auth thread: hand the answer to the owning worker. */
static void auth_job_complete(struct auth_task *t)
{
	struct conn_auth_job *j = t->owner;
	worker_post(j->w, &j->msg);
}

/* Take the outcome: the user name PAM settled on (or the one tried, for
 * the session record of a refusal) and the groups for the ACL. */
static void conn_auth_settle(struct conn *c, struct conn_auth_job *j)
{
	struct auth_task *t = &j->task;
	c->auth_result = t->outcome == AUTH_OK ? 1 : 2;
	c->auth_reason = t->outcome == AUTH_FAIL_THROTTLED ? "authentication throttled"
	                                                   : "authentication failed";
	if (t->outcome == AUTH_OK && t->user[0])
		cs_strlcpy(c->user, t->user, sizeof(c->user));
	if (t->outcome == AUTH_OK && t->groups) {
		group_list_unref(c->groups);
		c->groups = group_list_ref(t->groups);
	}
	if (t->gss)
		conn_gssapi_settle(c, t); /* the context goes back to the phase */
	auth_task_release(t);
	explicit_bzero(j, sizeof(*j));
	free(j);
}

/* Back on the worker. */
static void auth_job_done(struct worker *w, struct worker_msg *m)
{
	struct conn_auth_job *j =
	    (struct conn_auth_job *)((char *)m - offsetof(struct conn_auth_job, msg));
	(void)w;
	struct conn *c = j->conn;
	if (!c) { /* the connection went away meanwhile */
		auth_task_release(&j->task);
		explicit_bzero(j, sizeof(*j));
		free(j);
		return;
	}
	c->auth = NULL;
	conn_auth_settle(c, j);
	conn_drive(c);
}

static struct conn_auth_job *auth_job_new(struct conn *c, enum auth_tier tier)
{
	struct conn_auth_job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->task.tier = tier;
	memcpy(&j->task.client, &c->info.client,
	       sizeof(c->info.client) < sizeof(j->task.client) ? sizeof(c->info.client)
	                                                       : sizeof(j->task.client));
	j->task.done = auth_job_complete;
	j->task.owner = j;
	j->msg.fn = auth_job_done;
	j->w = c->w;
	j->conn = c;
	return j;
}

static enum step auth_job_start(struct conn *c, struct conn_auth_job *j)
{
	if (auth_start(c->w->sh->auth, &j->task) == AUTH_PENDING) {
		c->auth = j;
		return STEP_WAIT;
	}
	conn_auth_settle(c, j);
	return STEP_NEXT;
}

/* Start a check for tier (credentials in up for the SOCKS tier's
 * userpass/pam.username). NEXT when it was answered at once (throttled,
 * plaintext password, cached groups), WAIT while the auth pool works. */
enum step conn_auth_begin(struct conn *c, enum auth_tier tier, const struct socks5_userpass *up)
{
	struct conn_auth_job *j = auth_job_new(c, tier);
	if (!j)
		return conn_fail(c, CONN_REPLY_NONE, "out of memory");
	if (up) {
		cs_strlcpy(j->task.username, up->user, sizeof(j->task.username));
		memcpy(j->task.password, up->pass, sizeof(j->task.password));
	}
	if (tier == AUTH_TIER_SOCKS)
		c->phase = CONN_PH_AUTH_WAIT;
	return auth_job_start(c, j);
}

/* One GSSAPI context step (conn_gssapi.c); the phase stays GSSAPI. */
enum step conn_auth_begin_gssapi(struct conn *c, struct gssapi_sess *s)
{
	struct conn_auth_job *j = auth_job_new(c, AUTH_TIER_SOCKS);
	if (!j) {
		gssapi_sess_free(s);
		return conn_fail(c, CONN_REPLY_NONE, "out of memory");
	}
	j->task.gss = s;
	return auth_job_start(c, j);
}

enum step conn_ph_auth(struct conn *c)
{
	struct socks5_userpass up;
	size_t used = 0;
	c->action = "reading credentials";
	int r = socks5_parse_userpass(c->hs, c->hs_len, &up, &used);
	if (r == PROTO_INCOMPLETE)
		return conn_read_more(c);
	if (r != PROTO_OK) {
		uint8_t out[2];
		conn_queue(c, out,
		           socks5_write_userpass_status(out, sizeof(out), SOCKS5_USERPASS_FAILURE));
		explicit_bzero(c->hs, sizeof(c->hs));
		c->hs_len = 0;
		return conn_fail(c, CONN_REPLY_NONE, "bad auth message");
	}
	conn_consume(c, used);
	explicit_bzero(c->hs + c->hs_len, used); /* the password's old place */
	cs_strlcpy(c->user, up.user, sizeof(c->user));
	enum step st = conn_auth_begin(c, AUTH_TIER_SOCKS, &up);
	explicit_bzero(&up, sizeof(up));
	return st;
}

/* The SOCKS tier's answer: RFC 1929 status for credentials, the method
 * byte (0x00, or 0xFF when refused) for pam.address. */
enum step conn_ph_auth_wait(struct conn *c)
{
	c->action = "checking credentials";
	if (c->auth_result == 0)
		return STEP_WAIT;
	bool ok = c->auth_result == 1;
	bool by_address = cfg_of(c)->auth.socks_method == AUTH_PAM_ADDRESS;
	uint8_t out[2];
	if (by_address)
		conn_queue(
		    c, out,
		    socks5_write_method(out, sizeof(out),
		                        ok ? SOCKS5_METHOD_NONE : SOCKS5_METHOD_NO_ACCEPTABLE));
	else
		conn_queue(c, out,
		           socks5_write_userpass_status(out, sizeof(out),
		                                        ok ? SOCKS5_USERPASS_SUCCESS
		                                           : SOCKS5_USERPASS_FAILURE));
	if (!ok) {
		metrics_auth_failure(cfg_of(c)->auth.socks_method);
		/* A refused login is a session too (status failed), under the
		 * name that was tried. */
		c->info.user = c->user[0] ? c->user : NULL;
		c->info.status = CONN_ST_REJECTED;
		c->info.reject = CONN_REJ_AUTH;
		return conn_fail(c, CONN_REPLY_NONE, c->auth_reason);
	}
	c->info.user = c->user[0] ? c->user : NULL;
	c->phase = CONN_PH_REQUEST;
	return STEP_NEXT;
}
