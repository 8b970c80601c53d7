/* Dashboard session login (the /api/auth/ routes of RustSocks): a login with a
 * [[sessions.dashboard_auth.users]] entry or with the API token as the
 * password creates a server-side session named by a random 256-bit id in
 * an HttpOnly, SameSite=Strict cookie; that cookie then authorises API
 * requests as the bearer token does (state-changing ones only with the
 * CSRF check of api_csrf_ok). Failed logins are throttled per client IP
 * with auth.throttle's numbers. Altcha is answered as disabled. */
#include "api/api_extra.h"

#include "obs/telemetry.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define ID_HEX 64 /* 32 random bytes */

struct login_session {
	char id[ID_HEX + 1]; /* "" = free slot */
	char user[128];
	int64_t expires_ms; /* monotonic */
	int64_t created_ms;
};

struct login_ip {
	char ip[64]; /* "" = free slot */
	uint32_t fails;
	int64_t window_start_ms, locked_until_ms, last_ms;
};

struct api_auth {
	pthread_mutex_t mu;
	struct login_session s[API_LOGIN_SESSIONS];
	struct login_ip ips[API_LOGIN_IPS];
};

struct api_auth *api_auth_new(void)
{
	struct api_auth *a = calloc(1, sizeof(*a));
	if (a)
		pthread_mutex_init(&a->mu, NULL);
	return a;
}

void api_auth_free(struct api_auth *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->mu);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

void api_fail(struct api_resp *rs, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_json(rs, status,
	         json_pack("{s:b, s:s, s:s}", "success", 0, "message", msg, "error", code));
}

bool api_cookie_get(const char *header, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	const char *p = header;
	while (p && *p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t vl = len - nl - 1;
			while (vl && (p[nl + 1 + vl - 1] == ' ' || p[nl + 1 + vl - 1] == '\t'))
				vl--;
			if (vl + 1 > size)
				return false;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

/* The slot of a live session id, or -1 (caller holds mu). Drops expired
 * sessions on the way. Compares every slot in constant time. */
static int session_find_locked(struct api_auth *a, const char *id, int64_t now)
{
	int found = -1;
	size_t il = strlen(id);
	for (int i = 0; i < API_LOGIN_SESSIONS; i++) {
		struct login_session *s = &a->s[i];
		if (!s->id[0])
			continue;
		if (s->expires_ms <= now) {
			explicit_bzero(s, sizeof(*s));
			continue;
		}
		if (cs_ct_memeq(s->id, ID_HEX, id, il))
			found = i;
	}
	return found;
}

bool api_cookie_session(struct api_state *st, const struct api_req *rq, char *user, size_t usersize)
{
	char id[ID_HEX + 8];
	if (!st->auth || !rq->cookie ||
	    !api_cookie_get(rq->cookie, API_SESSION_COOKIE, id, sizeof(id)))
		return false;
	if (strlen(id) != ID_HEX)
		return false;
	pthread_mutex_lock(&st->auth->mu);
	int i = session_find_locked(st->auth, id, time_mono_ms());
	if (i >= 0 && user)
		cs_strlcpy(user, st->auth->s[i].user, usersize);
	pthread_mutex_unlock(&st->auth->mu);
	return i >= 0;
}

/* host[:port] of an Origin ("https://h:1/" -> "h:1"), into out. */
static bool origin_hostport(const char *origin, char *out, size_t size)
{
	const char *p = strstr(origin, "://");
	if (!p)
		return false;
	p += 3;
	size_t len = strcspn(p, "/");
	if (len == 0 || len + 1 > size)
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

bool api_csrf_ok(const struct api_req *rq)
{
	if (rq->x_requested_with && *rq->x_requested_with)
		return true;
	if (rq->sec_fetch_site)
		return strcasecmp(rq->sec_fetch_site, "same-origin") == 0;
	char hp[256];
	if (rq->origin && rq->host && origin_hostport(rq->origin, hp, sizeof(hp)))
		return strcasecmp(hp, rq->host) == 0;
	return false;
}

/* ---- throttle ---- */

static struct login_ip *ip_slot_locked(struct api_auth *a, const char *ip, bool create)
{
	struct login_ip *oldest = &a->ips[0];
	for (int i = 0; i < API_LOGIN_IPS; i++) {
		if (a->ips[i].ip[0] && strcmp(a->ips[i].ip, ip) == 0)
			return &a->ips[i];
		if (!a->ips[i].ip[0] || (oldest->ip[0] && a->ips[i].last_ms < oldest->last_ms))
			oldest = &a->ips[i];
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	cs_strlcpy(oldest->ip, ip, sizeof(oldest->ip));
	return oldest;
}

/* Seconds still locked for ip, 0 when it may try. */
static uint32_t throttle_locked(struct api_auth *a, const char *ip, int64_t now)
{
	pthread_mutex_lock(&a->mu);
	struct login_ip *e = ip_slot_locked(a, ip, false);
	int64_t left = e && e->locked_until_ms > now ? e->locked_until_ms - now : 0;
	pthread_mutex_unlock(&a->mu);
	return (uint32_t)((left + 999) / 1000);
}

/* Count a failure; true when it starts a lockout. */
static bool throttle_fail_ip(struct api_auth *a, const struct csocks_config *cfg, const char *ip,
                             int64_t now)
{
	uint32_t max = cfg->auth.throttle.max_attempts ? cfg->auth.throttle.max_attempts : 5;
	int64_t window =
	    (int64_t)(cfg->auth.throttle.window_secs ? cfg->auth.throttle.window_secs : 60) * 1000;
	int64_t lock =
	    (int64_t)(cfg->auth.throttle.lockout_secs ? cfg->auth.throttle.lockout_secs : 300) *
	    1000;
	bool locked = false;
	pthread_mutex_lock(&a->mu);
	struct login_ip *e = ip_slot_locked(a, ip, true);
	if (now - e->window_start_ms > window) {
		e->window_start_ms = now;
		e->fails = 0;
	}
	e->last_ms = now;
	if (++e->fails >= max) {
		e->locked_until_ms = now + lock;
		e->fails = 0;
		e->window_start_ms = now;
		locked = true;
	}
	pthread_mutex_unlock(&a->mu);
	return locked;
}

static void throttle_clear(struct api_auth *a, const char *ip)
{
	pthread_mutex_lock(&a->mu);
	struct login_ip *e = ip_slot_locked(a, ip, false);
	if (e)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&a->mu);
}

/* ---- handlers ---- */

static bool credentials_ok(const struct api_state *st, const char *user, const char *pass)
{
	bool ok = false;
	size_t ul = strlen(user), pl = strlen(pass);
	const struct csocks_config *cfg = st->cfg;
	for (size_t i = 0; i < cfg->sessions.dashboard_auth.n_users; i++) {
		const struct cfg_dash_user *u = &cfg->sessions.dashboard_auth.users[i];
		if (!u->username || !u->password || !*u->password)
			continue;
		bool un = cs_ct_memeq(user, ul, u->username, strlen(u->username));
		bool pw = cs_ct_memeq(pass, pl, u->password, strlen(u->password));
		ok |= un && pw;
	}
	if (st->token && pl)
		ok |= cs_ct_memeq(pass, pl, st->token, strlen(st->token));
	return ok;
}

static void session_create(struct api_auth *a, const char *user, int64_t now, int64_t ttl_ms,
                           char *id_out)
{
	unsigned char raw[ID_HEX / 2];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* no kernel randomness: never issue a guessable id */
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id_out + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	pthread_mutex_lock(&a->mu);
	session_find_locked(a, "", now); /* sweeps expired slots */
	struct login_session *slot = &a->s[0];
	for (int i = 0; i < API_LOGIN_SESSIONS; i++) {
		if (!a->s[i].id[0]) {
			slot = &a->s[i];
			break;
		}
		if (a->s[i].created_ms < slot->created_ms)
			slot = &a->s[i]; /* full: the oldest session goes */
	}
	cs_strlcpy(slot->id, id_out, sizeof(slot->id));
	cs_strlcpy(slot->user, user, sizeof(slot->user));
	slot->created_ms = now;
	slot->expires_ms = now + ttl_ms;
	pthread_mutex_unlock(&a->mu);
}

static void set_cookie(const struct api_state *st, const struct api_req *rq, struct api_resp *rs,
                       const char *value, uint64_t max_age)
{
	bool secure = rq->x_forwarded_proto && strcasecmp(rq->x_forwarded_proto, "https") == 0;
	snprintf(rs->set_cookie, sizeof(rs->set_cookie),
	         "%s=%s; Path=%s; HttpOnly; SameSite=Strict; Max-Age=%llu%s", API_SESSION_COOKIE,
	         value, st->base[0] ? st->base : "/", (unsigned long long)max_age,
	         secure ? "; Secure" : "");
}

static void h_login(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	const char *ip = rq->client_ip ? rq->client_ip : "unknown";
	int64_t now = time_mono_ms();
	uint32_t wait = throttle_locked(st->auth, ip, now);
	if (wait) {
		api_fail(rs, 429, "too_many_attempts",
		         "Too many failed login attempts; try again in %u s", wait);
		return;
	}
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	const char *user = json_string_value(json_object_get(b, "username"));
	const char *pass = json_string_value(json_object_get(b, "password"));
	if (!user || !pass) {
		json_decref(b);
		api_fail(rs, 400, "invalid_request",
		         "username and password (strings) are required");
		return;
	}
	if (!credentials_ok(st, user, pass)) {
		log_warn("admin API: failed dashboard login for '%s' from %s", user, ip);
		if (throttle_fail_ip(st->auth, st->cfg, ip, now)) {
			log_warn("admin API: %s locked out of dashboard login", ip);
			telemetry_record(TELEMETRY_WARNING, "auth",
			                 "dashboard login locked out for %s after failed attempts",
			                 ip);
		}
		json_decref(b);
		api_fail(rs, 401, "invalid_credentials", "Invalid username or password");
		return;
	}
	throttle_clear(st->auth, ip);
	uint64_t ttl = (uint64_t)st->cfg->sessions.dashboard_auth.session_duration_hours * 3600;
	char id[ID_HEX + 1];
	session_create(st->auth, user, now, (int64_t)ttl * 1000, id);
	set_cookie(st, rq, rs, id, ttl);
	explicit_bzero(id, sizeof(id));
	log_info("admin API: dashboard login for '%s' from %s", user, ip);
	api_json(rs, 200,
	         json_pack("{s:b, s:s, s:s}", "success", 1, "message", "Login successful",
	                   "username", user));
	json_decref(b);
}

static void h_logout(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	char id[ID_HEX + 8];
	if (rq->cookie && api_cookie_get(rq->cookie, API_SESSION_COOKIE, id, sizeof(id)) &&
	    strlen(id) == ID_HEX) {
		pthread_mutex_lock(&st->auth->mu);
		int i = session_find_locked(st->auth, id, time_mono_ms());
		if (i >= 0)
			explicit_bzero(&st->auth->s[i], sizeof(st->auth->s[i]));
		pthread_mutex_unlock(&st->auth->mu);
	}
	set_cookie(st, rq, rs, "", 0);
	api_json(rs, 200,
	         json_pack("{s:b, s:s}", "success", 1, "message", "Logged out successfully"));
}

static void h_check(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	char user[128];
	if (api_cookie_session(st, rq, user, sizeof(user)))
		api_json(rs, 200, json_pack("{s:b, s:s}", "authenticated", 1, "username", user));
	else
		api_json(rs, 200, json_pack("{s:b}", "authenticated", 0));
}

void api_auth_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                     struct api_resp *rs)
{
	if (m->route == ROUTE_AUTH_ALTCHA_CONFIG) {
		/* Altcha is not implemented: the login form shows no widget. */
		api_json(rs, 200, json_pack("{s:b}", "enabled", 0));
		return;
	}
	if (m->route == ROUTE_AUTH_ALTCHA_CHALLENGE) {
		api_fail(rs, 404, "altcha_disabled", "Altcha is not enabled");
		return;
	}
	if (!st->auth) {
		api_fail(rs, 503, "unavailable", "dashboard login is not available");
		return;
	}
	switch (m->route) {
	case ROUTE_AUTH_LOGIN:
		h_login(st, rq, rs);
		break;
	case ROUTE_AUTH_LOGOUT:
		h_logout(st, rq, rs);
		break;
	default:
		h_check(st, rq, rs);
		break;
	}
}
