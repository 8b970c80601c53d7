/* What the admin API reads and asks of the rest of the program. main.c
 * fills one struct api_sources with plain functions from the session
 * manager, session store, ACL manager and proxy core, and hands it to
 * api_server_start(). Any pointer may be NULL: the endpoints that need it
 * answer 503 {"error": "... not available"} (ACL ones: 400 "ACL is not
 * enabled", as RustSocks).
 *
 * Every function is called on an admin HTTP thread, never on a proxy
 * worker, and may block briefly (a store query); none may call back into
 * the API. Return convention: 0 on success, -ENOENT for "no such session",
 * any other negative value for a failure described in err (answered 500).
 * Records and pages handed out are owned by the caller afterwards (freed
 * with free() / session_page_free() / session_stats_free()). */
#ifndef CSOCKS_API_SOURCES_H
#define CSOCKS_API_SOURCES_H

#include "acl/acl_types.h"
#include "api/metrics_history.h"
#include "session/session_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* POST /api/acl/test: the answer the ACL engine gives (name phase for a
 * domain, address phase for an IP literal). */
struct api_acl_verdict {
	bool allow;
	bool default_policy; /* no rule matched */
	bool provisional;    /* domain only: an IP rule could still decide */
	char rule_description[256];
	char rule_owner[128];           /* user or group name of the matched rule */
	enum acl_owner_kind owner_kind; /* 0 when default_policy */
	uint32_t rule_priority;
	size_t rule_index; /* position in the owner's rules */
};

/* Fill a verdict from an engine decision (copies the rule's text, so the
 * snapshot may be released afterwards). For acl_evaluate wiring. */
void api_acl_verdict_fill(const struct acl_decision *d, struct api_acl_verdict *out);

/* GET /api/pool/stats. */
struct api_pool_stats {
	bool enabled;                 /* a pool is running */
	uint64_t active_in_use;       /* pooled sockets handed out, still open */
	uint64_t pending_creates;     /* connects under way for the pool */
	uint64_t total_idle;          /* idle sockets now */
	uint64_t destinations;        /* distinct keys with idle sockets */
	uint64_t connections_created; /* pool misses that connected */
	uint64_t connections_reused;  /* pool hits */
	uint64_t dropped_full;        /* returned while at a cap */
	uint64_t expired;             /* closed by the idle timeout */
	uint64_t evicted;             /* failed the liveness check */
};

struct api_sources {
	void *ctx; /* passed to every function */

	/* Active sessions (a copy), newest first. *out is an array of *n
	 * records, each from one allocation: free each, then the array. */
	int (*sessions_active)(void *ctx, struct session_record ***out, size_t *n);

	/* GET /api/sessions/history: closed/failed/rejected (and, if the
	 * source wants, active) sessions by filter, page and sort. */
	int (*sessions_history)(void *ctx, const struct session_query *q, struct session_page *out,
	                        char *err, size_t errlen);

	/* One session (active or recorded) by id; -ENOENT when unknown. */
	int (*session_get)(void *ctx, const char *id, struct session_record **out, char *err,
	                   size_t errlen);

	/* GET /api/sessions/stats?window_hours=N. */
	int (*sessions_stats)(void *ctx, uint32_t window_hours, struct session_stats *out,
	                      char *err, size_t errlen);

	/* Close an ACTIVE session's tunnel (both sockets), recording reason as
	 * its close_reason. -ENOENT when no active session has this id. May
	 * return before the worker has closed it (a posted message). */
	int (*session_terminate)(void *ctx, const char *id, const char *reason);

	/* Reload the ACL file named below: parse, validate, compile, swap
	 * (and end sessions the new rules block). -1 with err when the file is
	 * invalid (the old rules stay). */
	int (*acl_reload)(void *ctx, char *err, size_t errlen);

	/* csocks: read server.tls's certificate, key and client CA again (live
	 * tunnels keep theirs). -ENOENT when TLS is off; -1 with err when a
	 * file is bad (the old context stays). NULL = no proxy. */
	int (*tls_reload)(void *ctx, char *err, size_t errlen);

	/* Evaluate one request against the current rules. */
	int (*acl_evaluate)(void *ctx, const struct acl_request *rq, struct api_acl_verdict *out,
	                    char *err, size_t errlen);

	/* Pool counters; NULL = pool not built (the response then shows the
	 * configured limits and zeros). */
	int (*pool_stats)(void *ctx, struct api_pool_stats *out);

	/* The ACL file the CRUD routes edit (read, change, validate, write
	 * atomically, then acl_reload). NULL = ACL disabled. The string must
	 * outlive the server. */
	const char *acl_file;

	/* metrics.storage = "sqlite": the history's store (save NULL = memory
	 * only). Called from the API's sampler thread. */
	struct metrics_persist metrics_persist;
};

#endif
