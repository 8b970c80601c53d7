/* Admin API routing table and matcher (see api_router.h). */
#include "api/api_router.h"

#include "util/strutil.h"

#include <string.h>

struct route_def {
	const char *method;
	const char *pattern; /* "{}" is one path segment parameter */
	enum api_route route;
};

/* RustSocks' paths (src/api/server.rs) and methods. */
static const struct route_def routes[] = {
    {"GET", "/health", ROUTE_HEALTH},
    {"GET", "/metrics", ROUTE_METRICS},
    {"GET", "/openapi.json", ROUTE_OPENAPI},
    {"GET", "/api/sessions/active", ROUTE_SESSIONS_ACTIVE},
    {"GET", "/api/sessions/history", ROUTE_SESSIONS_HISTORY},
    {"GET", "/api/sessions/stats", ROUTE_SESSIONS_STATS},
    {"GET", "/api/sessions/{}", ROUTE_SESSION_GET},
    {"POST", "/api/sessions/{}/terminate", ROUTE_SESSION_TERMINATE},
    {"GET", "/api/users/{}/sessions", ROUTE_USER_SESSIONS},
    {"GET", "/api/metrics/history", ROUTE_METRICS_HISTORY},
    {"GET", "/api/pool/stats", ROUTE_POOL_STATS},
    {"POST", "/api/admin/reload-acl", ROUTE_ADMIN_RELOAD_ACL},
    {"POST", "/api/admin/reload-tls", ROUTE_ADMIN_RELOAD_TLS},
    {"GET", "/api/acl/rules", ROUTE_ACL_RULES},
    {"POST", "/api/acl/test", ROUTE_ACL_TEST},
    {"GET", "/api/acl/groups", ROUTE_ACL_GROUPS_LIST},
    {"POST", "/api/acl/groups", ROUTE_ACL_GROUP_CREATE},
    {"GET", "/api/acl/groups/{}", ROUTE_ACL_GROUP_GET},
    {"DELETE", "/api/acl/groups/{}", ROUTE_ACL_GROUP_DELETE},
    {"POST", "/api/acl/groups/{}/rules", ROUTE_ACL_GROUP_RULE_ADD},
    {"PUT", "/api/acl/groups/{}/rules", ROUTE_ACL_GROUP_RULE_UPDATE},
    {"DELETE", "/api/acl/groups/{}/rules", ROUTE_ACL_GROUP_RULE_DELETE},
    {"GET", "/api/acl/users", ROUTE_ACL_USERS_LIST},
    {"POST", "/api/acl/users", ROUTE_ACL_USER_CREATE},
    {"GET", "/api/acl/users/{}", ROUTE_ACL_USER_GET},
    {"DELETE", "/api/acl/users/{}", ROUTE_ACL_USER_DELETE},
    {"POST", "/api/acl/users/{}/rules", ROUTE_ACL_USER_RULE_ADD},
    {"PUT", "/api/acl/users/{}/rules", ROUTE_ACL_USER_RULE_UPDATE},
    {"DELETE", "/api/acl/users/{}/rules", ROUTE_ACL_USER_RULE_DELETE},
    {"POST", "/api/acl/users/{}/groups", ROUTE_ACL_USER_GROUP_ADD},
    {"DELETE", "/api/acl/users/{}/groups/{}", ROUTE_ACL_USER_GROUP_REMOVE},
    {"GET", "/api/acl/global", ROUTE_ACL_GLOBAL_GET},
    {"PUT", "/api/acl/global", ROUTE_ACL_GLOBAL_PUT},
    {"POST", "/api/acl/search", ROUTE_ACL_SEARCH},
    {"GET", "/api/config", ROUTE_CONFIG},
    {"POST", "/api/auth/login", ROUTE_AUTH_LOGIN},
    {"POST", "/api/auth/logout", ROUTE_AUTH_LOGOUT},
    {"GET", "/api/auth/check", ROUTE_AUTH_CHECK},
    {"GET", "/api/auth/altcha-config", ROUTE_AUTH_ALTCHA_CONFIG},
    {"GET", "/api/auth/altcha-challenge", ROUTE_AUTH_ALTCHA_CHALLENGE},
    {"GET", "/api/system/resources", ROUTE_SYSTEM_RESOURCES},
    {"GET", "/api/telemetry/events", ROUTE_TELEMETRY_EVENTS},
    {"POST", "/api/diagnostics/connectivity", ROUTE_DIAG_CONNECTIVITY},
    {"GET", "/api/admin/runtime-config", ROUTE_ADMIN_RUNTIME_GET},
    {"PUT", "/api/admin/runtime-config", ROUTE_ADMIN_RUNTIME_PUT},
    {"GET", "/api/admin/config-file", ROUTE_ADMIN_CONFIG_GET},
    {"PUT", "/api/admin/config-file", ROUTE_ADMIN_CONFIG_PUT},
    {"GET", "/swagger-ui", ROUTE_SWAGGER_UI},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

void api_base_normalise(const char *base, char *out, size_t size)
{
	size_t n = 0;
	if (size == 0)
		return;
	out[0] = '\0';
	if (!base)
		return;
	while (*base == '/')
		base++;
	size_t len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		len--;
	if (len == 0 || len + 2 > size)
		return;
	out[n++] = '/';
	memcpy(out + n, base, len);
	out[n + len] = '\0';
}

const char *api_strip_base(const char *base, const char *path)
{
	size_t bl = base ? strlen(base) : 0;
	if (!path || path[0] != '/')
		return NULL;
	if (bl == 0)
		return path;
	if (strncmp(path, base, bl) != 0)
		return NULL;
	const char *rest = path + bl;
	if (rest[0] == '\0' || (rest[0] == '/' && rest[1] == '\0'))
		return "/";
	if (rest[0] != '/')
		return NULL; /* "/rustsocksX" is not under "/rustsocks" */
	return rest;
}

/* Match one pattern; fills params on success. */
static bool pattern_match(const char *pat, const char *path, struct api_match *m)
{
	size_t np = 0;
	while (*pat && *path) {
		if (pat[0] == '{' && pat[1] == '}') {
			const char *end = strchr(path, '/');
			size_t len = end ? (size_t)(end - path) : strlen(path);
			if (len == 0 || len >= API_PARAM_MAX || np == API_MAX_PARAMS)
				return false;
			memcpy(m->params[np], path, len);
			m->params[np][len] = '\0';
			np++;
			path += len;
			pat += 2;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++;
		path++;
	}
	/* Tolerate one trailing slash on the request ("/api/acl/users/"). */
	if (*pat == '\0' && path[0] == '/' && path[1] == '\0')
		path++;
	if (*pat || *path)
		return false;
	m->n_params = np;
	return true;
}

void api_route_match(const char *method, const char *path, struct api_match *m)
{
	memset(m, 0, sizeof(*m));
	m->status = 404;
	for (size_t i = 0; i < N_ROUTES; i++) {
		struct api_match tmp;
		memset(&tmp, 0, sizeof(tmp));
		if (!pattern_match(routes[i].pattern, path, &tmp))
			continue;
		/* A literal route beats a parameter one ("/api/sessions/active"
		 * vs "/api/sessions/{}"): the table lists literals first, and
		 * the first match of the right method wins. */
		if (strcmp(routes[i].method, method) == 0 ||
		    (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
			*m = tmp;
			m->route = routes[i].route;
			m->status = 0;
			return;
		}
		m->status = 405;
		size_t al = strlen(m->allow);
		if (!strstr(m->allow, routes[i].method) &&
		    al + strlen(routes[i].method) + 3 < sizeof(m->allow)) {
			snprintf(m->allow + al, sizeof(m->allow) - al, "%s%s", al ? ", " : "",
			         routes[i].method);
		}
	}
}

bool api_route_mutating(enum api_route r)
{
	/* POSTs that only read (RustSocks lets the dashboard call them). */
	if (r == ROUTE_ACL_TEST || r == ROUTE_ACL_SEARCH)
		return false;
	for (size_t i = 0; i < N_ROUTES; i++) {
		if (routes[i].route == r)
			return strcmp(routes[i].method, "GET") != 0;
	}
	return false;
}
