/* Validation of a loaded config (the checks that span keys or look at the
 * system: addresses, files, URLs, the SQLite file's folders), and the
 * warnings for keys of features csocks does not have yet. */
#include "config/config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/strutil.h"

/* "file:line" of a key as written, or just "file" for a default. */
static const char *where(const struct csocks_config *cfg, const char *key, char *buf, size_t size)
{
	const struct cfg_field *fl = cfg_schema_find(key);
	const char *f = cfg->path ? cfg->path : "(defaults)";
	int line = fl && cfg->key_lines ? cfg->key_lines[fl - cfg_schema] : 0;
	if (line > 0)
		snprintf(buf, size, "%s:%d", f, line);
	else
		snprintf(buf, size, "%s", f);
	return buf;
}

const char *config_key_where(const struct csocks_config *cfg, const char *key, char *buf,
                             size_t size)
{
	return where(cfg, key, buf, size);
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static bool valid_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* "1.2.3.4", "1.2.3.4:53", "::1", "[::1]:53" */
static bool valid_dns_server(const char *s)
{
	char host[64];
	const char *port = NULL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (size_t)(end - s - 1) >= sizeof(host))
			return false;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (end[1] == ':')
			port = end + 2;
		else if (end[1])
			return false;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && !strchr(colon + 1, ':')) { /* one colon: IPv4 with a port */
			if ((size_t)(colon - s) >= sizeof(host))
				return false;
			memcpy(host, s, (size_t)(colon - s));
			host[colon - s] = '\0';
			port = colon + 1;
		} else if (cs_strlcpy(host, s, sizeof(host)) >= sizeof(host)) {
			return false;
		}
	}
	uint64_t p;
	if (port && cs_parse_u64(port, 1, 65535, &p) != 0)
		return false;
	return valid_ip(host);
}

char *config_sqlite_path(const char *url)
{
	if (!url)
		return NULL;
	if (!strncmp(url, "sqlite://", 9))
		url += 9;
	else if (!strncmp(url, "sqlite:", 7))
		url += 7;
	else
		return NULL;
	size_t n = strcspn(url, "?");
	return xstrndup(url, n);
}

static bool is_pg_url(const char *url)
{
	return url && (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11));
}

/* What is wrong with a mysql:// / mariadb:// URL, or NULL:
 * [user[:pass]@]host[:port]/db[?socket=/path] (the store parses it again). */
static const char *mysql_url_problem(const char *url)
{
	const char *p;
	if (!url)
		return "is missing";
	if (!strncasecmp(url, "mysql://", 8))
		p = url + 8;
	else if (!strncasecmp(url, "mariadb://", 10))
		p = url + 10;
	else
		return "must be \"mysql://user:pass@host:port/db\" (or mariadb://) for mariadb "
		       "storage";
	size_t auth = strcspn(p, "/?");
	const char *at = memchr(p, '@', auth);
	while (at && memchr(at + 1, '@', auth - (size_t)(at + 1 - p)))
		at = memchr(at + 1, '@', auth - (size_t)(at + 1 - p));
	const char *host = at ? at + 1 : p, *end = p + auth;
	const char *colon = *host == '[' ? NULL : memchr(host, ':', (size_t)(end - host));
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));
		if (!rb)
			return "has an unclosed [ in the host";
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (!colon && rb + 1 != end)
			return "has junk after the host";
	}
	if (colon) {
		uint64_t port;
		char num[8] = "";
		size_t n = (size_t)(end - colon - 1);
		if (n == 0 || n >= sizeof(num))
			return "has a bad port";
		memcpy(num, colon + 1, n);
		if (cs_parse_u64(num, 1, 65535, &port) != 0)
			return "has a bad port";
	}
	bool has_host = (colon ? colon : end) > host;
	const char *q = strchr(end, '?');
	bool has_socket = q && strstr(q, "socket=/");
	if (!has_host && !has_socket)
		return "has no host (or ?socket=/path)";
	if (*end != '/' || end[1] == '\0' || end[1] == '?')
		return "has no database name (mysql://user:pass@host:port/db)";
	return NULL;
}

/* An error about one key: "file:line: key: message". */
static void key_error(struct config_diag *d, const struct csocks_config *cfg, const char *key,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void key_error(struct config_diag *d, const struct csocks_config *cfg, const char *key,
                      const char *fmt, ...)
{
	char loc[300], msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_diag_error(d, "%s: %s: %s", where(cfg, key, loc, sizeof(loc)), key, msg);
}

/* metrics.storage: "memory", or "sqlite" (the history in the sessions'
 * SQLite file). As in RustSocks, anything else keeps it in memory; csocks
 * says so, and says when "sqlite" has no SQLite session store to use. */
static void validate_metrics_storage(struct config_diag *d, const struct csocks_config *cfg)
{
	char loc[300];
	const char *s = cfg->metrics.storage ? cfg->metrics.storage : "memory";
	if (strcmp(s, "memory") == 0)
		return;
	if (strcmp(s, "sqlite") != 0)
		config_diag_warn(d,
		                 "%s: metrics.storage: unknown storage '%s' (\"memory\" or "
		                 "\"sqlite\"); the history stays in memory",
		                 where(cfg, "metrics.storage", loc, sizeof(loc)), s);
	else if (!cfg->sessions.enabled || cfg->sessions.storage != STORAGE_SQLITE)
		config_diag_warn(
		    d,
		    "%s: metrics.storage: \"sqlite\" keeps the history in the "
		    "sessions' SQLite file, and sessions are not stored in SQLite "
		    "(sessions.enabled, sessions.storage); the history stays in memory",
		    where(cfg, "metrics.storage", loc, sizeof(loc)));
}

static void validate_required_file(struct config_diag *d, const struct csocks_config *cfg,
                                   const char *key, const char *path)
{
	if (!path || !*path)
		key_error(d, cfg, key, "must be set");
	else if (!file_exists(path))
		key_error(d, cfg, key, "'%s': %s", path, strerror(errno));
}

static void validate_auth(const struct csocks_config *cfg, struct config_diag *d)
{
	const char *pam_u = cfg->auth.pam.username_service, *pam_a = cfg->auth.pam.address_service;
	const char *f = cfg->path ? cfg->path : "(defaults)";
	if (cfg->auth.socks_method == AUTH_USERPASS && cfg->auth.n_users == 0)
		key_error(d, cfg, "auth.socks_method",
		          "\"userpass\" needs at least one [[auth.users]]");
	if (cfg->auth.socks_method == AUTH_PAM_USERNAME && (!pam_u || !*pam_u))
		key_error(d, cfg, "auth.pam.username_service", "must be set for pam.username");
	if ((cfg->auth.socks_method == AUTH_PAM_ADDRESS ||
	     cfg->auth.client_method == AUTH_PAM_ADDRESS) &&
	    (!pam_a || !*pam_a))
		key_error(d, cfg, "auth.pam.address_service", "must be set for pam.address");
	for (size_t i = 0; i < cfg->auth.n_users; i++)
		for (size_t j = 0; j < i; j++)
			if (cfg->auth.users[i].username && cfg->auth.users[j].username &&
			    !strcmp(cfg->auth.users[i].username, cfg->auth.users[j].username))
				config_diag_error(
				    d, "%s:%d: auth.users: duplicate user '%s' (first at line %d)",
				    f, cfg->auth.users[i].line, cfg->auth.users[i].username,
				    cfg->auth.users[j].line);
	const char *pl = cfg->auth.gssapi.protection_level;
	static const char *const levels[] = {"none", "integrity", "confidentiality", "selective"};
	bool known = false;
	for (size_t i = 0; pl && i < sizeof(levels) / sizeof(levels[0]); i++)
		known = known || strcmp(pl, levels[i]) == 0;
	if (pl && !known)
		key_error(d, cfg, "auth.gssapi.protection_level",
		          "'%s': expected none, integrity, confidentiality or selective", pl);
	else if (cfg->auth.socks_method == AUTH_GSSAPI && pl && strcmp(pl, "none") != 0) {
		char loc[300];
		config_diag_warn(d,
		                 "%s: auth.gssapi.protection_level: \"%s\": csocks implements no "
		                 "per-message protection; it answers level 0 (none) to every "
		                 "client, and a client that requires protection closes",
		                 where(cfg, "auth.gssapi.protection_level", loc, sizeof(loc)), pl);
	}
	if (cfg->api.token && cfg->api.token_file)
		key_error(d, cfg, "api.token_file", "set api.token or api.token_file, not both");
	if (cfg->api.token_file)
		validate_required_file(d, cfg, "api.token_file", cfg->api.token_file);
}

/* The folder holding the SQLite file ("data" for sqlite://data/s.db), or
 * NULL when sessions do not use SQLite or the file has no folder part. */
static char *sqlite_parent(const struct csocks_config *cfg)
{
	if (!cfg->sessions.enabled || cfg->sessions.storage != STORAGE_SQLITE)
		return NULL;
	char *path = config_sqlite_path(cfg->sessions.database_url);
	char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || slash == path) {
		free(path);
		return NULL;
	}
	*slash = '\0';
	return path;
}

/* Whether dir and its parents exist: 0 = all there, 1 = some missing and
 * creatable (every existing prefix is a folder), -1 with errno and *bad
 * (caller frees) = a prefix is not a folder or cannot be looked at. */
static int missing_dirs(const char *dir, char **bad)
{
	char *p = xstrdup(dir);
	int missing = 0;
	struct stat st;

	for (char *c = p + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char save = *c;
		*c = '\0';
		if (missing) {
			/* below a missing folder: nothing to look at */
		} else if (stat(p, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				goto fail;
			}
		} else if (errno == ENOENT) {
			missing = 1;
		} else {
			goto fail;
		}
		*c = save;
		if (!save)
			break;
	}
	free(p);
	return missing;
fail:;
	int e = errno;
	*bad = p;
	errno = e;
	return -1;
}

char *config_sqlite_missing_dir(const struct csocks_config *cfg, char *loc, size_t locsize)
{
	char *dir = sqlite_parent(cfg), *bad = NULL;
	if (dir && missing_dirs(dir, &bad) == 1) {
		where(cfg, "sessions.database_url", loc, locsize);
		return dir;
	}
	free(bad);
	free(dir);
	return NULL;
}

int config_sqlite_create_dirs(const struct csocks_config *cfg, uid_t uid, gid_t gid, char *err,
                              size_t errlen)
{
	char *dir = sqlite_parent(cfg);
	char loc[300];
	struct stat st;
	int rc = 0;

	if (!dir)
		return 0;
	for (char *c = dir + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char save = *c;
		*c = '\0';
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			/* chmod: the umask must not narrow 0750; chown: the
			 * unprivileged server.user/group writes here. */
			if (mkdir(dir, 0750) != 0 || chmod(dir, 0750) != 0 ||
			    ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(dir, uid, gid) != 0)) {
				snprintf(
				    err, errlen,
				    "%s: sessions.database_url: cannot create directory '%s': %s",
				    where(cfg, "sessions.database_url", loc, sizeof(loc)), dir,
				    strerror(errno));
				rc = -1;
				break;
			}
			log_info("sessions: created directory %s (mode 0750)", dir);
		}
		*c = save;
		if (!save)
			break;
	}
	free(dir);
	return rc;
}

static void validate_sessions(const struct csocks_config *cfg, struct config_diag *d)
{
	const char *url = cfg->sessions.database_url;
	if (!cfg->sessions.enabled)
		return;
	if (cfg->sessions.storage == STORAGE_SQLITE) {
		char *path = config_sqlite_path(url);
		if (!path) {
			key_error(d, cfg, "sessions.database_url",
			          "must be \"sqlite://path\" for sqlite storage");
			return;
		}
		free(path);
		/* Missing parent folders are created at start (as RustSocks
		 * does); only a path that cannot be created is an error. */
		char *dir = sqlite_parent(cfg), *bad = NULL;
		if (dir && missing_dirs(dir, &bad) < 0)
			key_error(d, cfg, "sessions.database_url", "directory '%s': %s", bad,
			          strerror(errno));
		free(bad);
		free(dir);
	} else if (cfg->sessions.storage == STORAGE_POSTGRES && !is_pg_url(url)) {
		key_error(d, cfg, "sessions.database_url",
		          "must be \"postgresql://...\" for postgres storage");
	} else if (cfg->sessions.storage == STORAGE_MYSQL) {
		const char *why = mysql_url_problem(url);
		if (why)
			key_error(d, cfg, "sessions.database_url", "%s", why);
	}
}

/* SOCKS over TLS: the files must exist (their contents are checked when the
 * proxy builds its SSL_CTX, proxy/tls.c, with the file named in the error);
 * mutual TLS needs the CA, the certificate user needs mutual TLS. */
static void validate_tls(const struct csocks_config *cfg, struct config_diag *d)
{
	const char *mv = cfg->server.tls.min_protocol_version;
	if (mv && strcmp(mv, "TLS12") != 0 && strcmp(mv, "TLS13") != 0)
		key_error(d, cfg, "server.tls.min_protocol_version",
		          "'%s' (expected \"TLS12\" or \"TLS13\")", mv);
	for (size_t i = 0; i < cfg->server.tls.n_alpn_protocols; i++) {
		size_t n = strlen(cfg->server.tls.alpn_protocols[i]);
		if (n == 0 || n > 255)
			key_error(d, cfg, "server.tls.alpn_protocols",
			          "'%s': a protocol name is 1 to 255 bytes",
			          cfg->server.tls.alpn_protocols[i]);
	}
	if (!cfg->server.tls.enabled)
		return;
	validate_required_file(d, cfg, "server.tls.certificate_path",
	                       cfg->server.tls.certificate_path);
	validate_required_file(d, cfg, "server.tls.private_key_path",
	                       cfg->server.tls.private_key_path);
	if (cfg->server.tls.require_client_auth)
		validate_required_file(d, cfg, "server.tls.client_ca_path",
		                       cfg->server.tls.client_ca_path);
	if (cfg->server.tls.user_from_client_cert && !cfg->server.tls.require_client_auth)
		key_error(d, cfg, "server.tls.user_from_client_cert",
		          "needs require_client_auth = true (an unverified certificate names no "
		          "one)");
}

int config_validate(const struct csocks_config *cfg, struct config_diag *d)
{
	size_t before = d->n_errors;
	enum log_level lvl;
	enum log_format fmt;

	if (!cfg->server.bind_address || !valid_ip(cfg->server.bind_address))
		key_error(d, cfg, "server.bind_address", "'%s' is not an IPv4 or IPv6 address",
		          cfg->server.bind_address ? cfg->server.bind_address : "");
	if (cfg->sessions.stats_api_enabled && !valid_ip(cfg->sessions.stats_api_bind_address))
		key_error(d, cfg, "sessions.stats_api_bind_address", "'%s' is not an IP address",
		          cfg->sessions.stats_api_bind_address);
	if (log_level_parse(cfg->logging.level, &lvl) != 0)
		key_error(d, cfg, "logging.level", "unknown level '%s'", cfg->logging.level);
	if (log_format_parse(cfg->logging.format, &fmt) != 0)
		key_error(d, cfg, "logging.format", "unknown format '%s' (\"pretty\" or \"json\")",
		          cfg->logging.format);
	for (size_t i = 0; i < cfg->server.n_dns_servers; i++)
		if (!valid_dns_server(cfg->server.dns_servers[i]))
			key_error(d, cfg, "server.dns_servers", "'%s' is not \"ip\" or \"ip:port\"",
			          cfg->server.dns_servers[i]);
	if (cfg->acl.enabled)
		validate_required_file(d, cfg, "acl.config_file", cfg->acl.config_file);
	validate_metrics_storage(d, cfg);
	if (!cfg->acl.evaluation || (strcmp(cfg->acl.evaluation, "priority") != 0 &&
	                             strcmp(cfg->acl.evaluation, "rustsocks") != 0))
		key_error(d, cfg, "acl.evaluation",
		          "unknown evaluation '%s' (\"priority\" or \"rustsocks\")",
		          cfg->acl.evaluation ? cfg->acl.evaluation : "");
	if (cfg->qos.algorithm && strcmp(cfg->qos.algorithm, "htb") != 0)
		key_error(d, cfg, "qos.algorithm", "'%s' (only \"htb\")", cfg->qos.algorithm);
	validate_auth(cfg, d);
	validate_tls(cfg, d);
	validate_sessions(cfg, d);
	return d->n_errors > before ? -1 : 0;
}

/* Keys RustSocks files turn on for features csocks does not have yet. They
 * load (the files must work unchanged), but silently ignoring them would
 * mislead: each one gets a warning at its line. */
void config_warn_unsupported(const struct csocks_config *cfg, struct config_diag *d)
{
	static const struct {
		const char *key;
		size_t off;
		const char *what;
	} feats[] = {
	    {"qos.enabled", offsetof(struct csocks_config, qos.enabled),
	     "[qos.htb] guaranteed rates and fair sharing (borrowing) are not implemented "
	     "yet; each user is capped at max_bandwidth_bytes_per_sec and all together at "
	     "global_bandwidth_bytes_per_sec, and [qos.connection_limits] is enforced"},
	    {"server.pool.enabled", offsetof(struct csocks_config, server.pool.enabled),
	     "the upstream connection pool is not implemented yet; every CONNECT dials"},
	    {"sessions.dashboard_auth.enabled",
	     offsetof(struct csocks_config, sessions.dashboard_auth.enabled),
	     "these users can sign in through /api/auth/login (RustSocks' dashboard), but "
	     "csocks' own dashboard page signs in with the API token ([api] token)"},
	};
	char loc[300];
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
		if (*(const bool *)((const char *)cfg + feats[i].off))
			config_diag_warn(d, "%s: %s: %s",
			                 where(cfg, feats[i].key, loc, sizeof(loc)), feats[i].key,
			                 feats[i].what);
}
