/* The RustSocks routes csocks added for the dashboard (issue 24): session
 * login (api_auth.c), system/telemetry/diagnostics/swagger (api_system.c)
 * and the config editors (api_admin.c). Not for use outside src/api/. */
#ifndef CSOCKS_API_EXTRA_H
#define CSOCKS_API_EXTRA_H

#include "api/api_internal.h"

#include <stdbool.h>

#define API_SESSION_COOKIE "rustsocks_session" /* RustSocks' cookie name */
#define API_LOGIN_SESSIONS 64                  /* dashboard sessions kept */
#define API_LOGIN_IPS      256                 /* client IPs the throttle tracks */

struct api_auth;

/* Sessions and the login throttle. NULL only on allocation failure. */
struct api_auth *api_auth_new(void);
void api_auth_free(struct api_auth *a);

/* {"success": false, "message": msg, "error": code} with status. */
void api_fail(struct api_resp *rs, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Does the request carry a live session cookie? (user may be NULL) */
bool api_cookie_session(struct api_state *st, const struct api_req *rq, char *user,
                        size_t usersize);

/* CSRF check for a state-changing request authorised only by the cookie:
 * an X-Requested-With header, or Sec-Fetch-Site "same-origin", or an
 * Origin whose host[:port] is the Host header. */
bool api_csrf_ok(const struct api_req *rq);

/* /api/auth/{login,logout,check,altcha-config,altcha-challenge}. */
void api_auth_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                     struct api_resp *rs);

/* /api/system/resources, /api/telemetry/events, /api/diagnostics/connectivity,
 * /swagger-ui. */
void api_system_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                       struct api_resp *rs);

/* /api/admin/runtime-config and /api/admin/config-file (GET, PUT). */
void api_admin_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                      struct api_resp *rs);

/* ---- pure helpers (unit-tested) ---- */

/* The value of cookie name in a Cookie header into out; false if absent. */
bool api_cookie_get(const char *header, const char *name, char *out, size_t size);

/* Config text with secrets (token, password, session_secret, the password
 * in a database_url) replaced by API_REDACTED. malloc'd. */
#define API_REDACTED "<redacted>"
char *api_config_redact(const char *text);
/* Put back the secrets of old into new text where new still says
 * API_REDACTED for the same key (n-th occurrence of the key). malloc'd, or
 * NULL with err when a placeholder has no original to restore. */
char *api_config_unredact(const char *newtext, const char *oldtext, char *err, size_t errlen);

/* Atomic replace of path with data: a temporary file in the same folder,
 * the old file's mode and owner, fsync, rename, fsync of the folder. 0, or
 * -1 with errno. */
int api_write_atomic(const char *path, const char *data, size_t len);

#endif
