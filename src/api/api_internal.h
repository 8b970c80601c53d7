/* Shared internals of the admin API: the server state, the request and
 * response shapes the handlers see, and JSON helpers. Not for use outside
 * src/api/. */
#ifndef CSOCKS_API_INTERNAL_H
#define CSOCKS_API_INTERNAL_H

#include "api/api_router.h"
#include "api/api_sources.h"
#include "config/config.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_history;
struct api_static;
struct api_auth;

struct api_state {
	const struct csocks_config *cfg; /* borrowed; outlives the server */
	struct api_sources src;
	char base[256];                  /* normalised base_path: "" or "/prefix" */
	char *token;                     /* NULL = no token configured */
	pthread_mutex_t acl_mu;          /* serialises ACL file edits */
	struct metrics_history *history; /* may be NULL */
	int64_t start_mono_ms;
	struct api_static *dash; /* dashboard files; NULL when off or missing */
	struct api_auth *auth;   /* dashboard login sessions; NULL = login unavailable */
};

/* A request as the handlers see it, independent of libmicrohttpd. */
struct api_req {
	const char *method;
	const char *url; /* full path as received (before base stripping) */
	/* Query string lookup: the value of key, NULL when absent. */
	const char *(*query)(void *qctx, const char *key);
	void *qctx;
	const char *authorization; /* header value or NULL */
	const char *x_api_token;   /* header value or NULL */
	const char *body;
	size_t body_len;
	bool body_too_large;         /* the transport stopped reading at max_body_bytes */
	const char *accept_encoding; /* dashboard files: header values or NULL */
	const char *if_none_match;
	/* Headers and peer for the dashboard login (api_auth.c); NULL = absent. */
	const char *cookie;
	const char *origin;
	const char *host;
	const char *sec_fetch_site;
	const char *x_requested_with;
	const char *x_forwarded_proto;
	const char *client_ip;
};

struct api_resp {
	int status;
	const char *content_type; /* static string */
	char *body;               /* malloc'd */
	size_t len;
	char allow[64];       /* 405 Allow header, "" when none */
	char set_cookie[512]; /* Set-Cookie header, "" when none */
	/* Dashboard files (api_static.c); zero for API answers. */
	bool body_borrowed;           /* body is static data: not freed */
	bool dashboard;               /* add the dashboard's security headers */
	const char *cache_control;    /* NULL = "no-store" */
	const char *content_encoding; /* "gzip" or NULL */
	char etag[40];                /* quoted, "" when none */
	char location[300];           /* redirect target, "" when none */
};

/* Route and run one request. Never fails: errors become JSON responses. */
void api_handle(struct api_state *st, const struct api_req *rq, struct api_resp *rs);

/* Token: cfg->api.token, else the first line of cfg->api.token_file.
 * *out = NULL when neither is set. 0, or -1 with err. */
int api_token_load(const struct csocks_config *cfg, char **out, char *err, size_t errlen);
/* Does the request carry the token ("Authorization: Bearer <t>" or
 * RustSocks' "X-API-Token: <t>")? Constant-time in the token. */
bool api_token_ok(const char *token, const char *authorization, const char *x_api_token);

/* ---- response helpers ---- */
void api_json(struct api_resp *rs, int status, json_t *body); /* steals body */
void api_error(struct api_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Session record -> RustSocks' SessionResponse object. */
json_t *api_session_json(const struct session_record *r);

/* Parse a JSON request body that must be an object; on failure fills rs
 * with 400 and returns NULL. */
json_t *api_body_object(const struct api_req *rq, struct api_resp *rs);

/* Query integer in [min,max]: 1 when present and valid, 0 when absent, -1
 * when present but invalid (rs filled with 400). */
int api_query_u32(const struct api_req *rq, struct api_resp *rs, const char *key, uint32_t min,
                  uint32_t max, uint32_t *out);

/* Handler groups. */
void api_sessions_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                         struct api_resp *rs);
void api_acl_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                    struct api_resp *rs);
json_t *api_openapi_doc(const struct api_state *st);
/* GET /api/config (api_config.c). */
void api_config_handle(struct api_state *st, struct api_resp *rs);

/* Is id a UUID in text form (8-4-4-4-12 hex)? */
bool api_uuid_valid(const char *id);

#endif
