/* Routing for the admin API: base-path stripping and a table of
 * (method, path pattern) -> route. Pure functions, no I/O. */
#ifndef CSOCKS_API_ROUTER_H
#define CSOCKS_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

enum api_route {
	ROUTE_NONE = 0,
	ROUTE_HEALTH,
	ROUTE_METRICS,
	ROUTE_OPENAPI,
	ROUTE_SESSIONS_ACTIVE,
	ROUTE_SESSIONS_HISTORY,
	ROUTE_SESSIONS_STATS,
	ROUTE_SESSION_GET,
	ROUTE_SESSION_TERMINATE,
	ROUTE_USER_SESSIONS,
	ROUTE_METRICS_HISTORY,
	ROUTE_POOL_STATS,
	ROUTE_ADMIN_RELOAD_ACL,
	ROUTE_ADMIN_RELOAD_TLS, /* csocks: server.tls certificate reload */
	ROUTE_ACL_RULES,
	ROUTE_ACL_TEST,
	ROUTE_ACL_GROUPS_LIST,
	ROUTE_ACL_GROUP_CREATE,
	ROUTE_ACL_GROUP_GET,
	ROUTE_ACL_GROUP_DELETE,
	ROUTE_ACL_GROUP_RULE_ADD,
	ROUTE_ACL_GROUP_RULE_UPDATE,
	ROUTE_ACL_GROUP_RULE_DELETE,
	ROUTE_ACL_USERS_LIST,
	ROUTE_ACL_USER_CREATE,
	ROUTE_ACL_USER_GET,
	ROUTE_ACL_USER_DELETE,
	ROUTE_ACL_USER_RULE_ADD,
	ROUTE_ACL_USER_RULE_UPDATE,
	ROUTE_ACL_USER_RULE_DELETE,
	ROUTE_ACL_USER_GROUP_ADD,
	ROUTE_ACL_USER_GROUP_REMOVE,
	ROUTE_ACL_GLOBAL_GET,
	ROUTE_ACL_GLOBAL_PUT,
	ROUTE_ACL_SEARCH,
	ROUTE_CONFIG, /* csocks: the effective configuration, for the dashboard */
	ROUTE_AUTH_LOGIN,
	ROUTE_AUTH_LOGOUT,
	ROUTE_AUTH_CHECK,
	ROUTE_AUTH_ALTCHA_CONFIG,
	ROUTE_AUTH_ALTCHA_CHALLENGE,
	ROUTE_SYSTEM_RESOURCES,
	ROUTE_TELEMETRY_EVENTS,
	ROUTE_DIAG_CONNECTIVITY,
	ROUTE_ADMIN_RUNTIME_GET,
	ROUTE_ADMIN_RUNTIME_PUT,
	ROUTE_ADMIN_CONFIG_GET,
	ROUTE_ADMIN_CONFIG_PUT,
	ROUTE_SWAGGER_UI,
	ROUTE_COUNT,
};

#define API_MAX_PARAMS 2
#define API_PARAM_MAX  256

struct api_match {
	enum api_route route;
	int status;     /* 0 matched; 404 unknown path; 405 wrong method */
	char allow[64]; /* 405: the methods the path accepts ("GET, POST") */
	char params[API_MAX_PARAMS][API_PARAM_MAX]; /* {id}, {user}, ... in order */
	size_t n_params;
};

/* Normalise a configured base_path: "" and "/" -> "" (root); otherwise one
 * leading '/', no trailing '/'. out has room for size bytes. */
void api_base_normalise(const char *base, char *out, size_t size);

/* The request path relative to the (normalised) base, or NULL when path is
 * not under it. "/rustsocks" and "/rustsocks/" both map to "/". */
const char *api_strip_base(const char *base, const char *path);

/* Match method + relative path. Path params longer than API_PARAM_MAX-1
 * bytes do not match (404). */
void api_route_match(const char *method, const char *path, struct api_match *m);

/* Does this route change state (POST/PUT/DELETE)? */
bool api_route_mutating(enum api_route r);

#endif
