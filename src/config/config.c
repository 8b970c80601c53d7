/* Configuration loading: defaults from the schema table, the TOML file on
 * top, then validation. Every message carries file:line. */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_schema.h"
#include "config/toml.h"
#include "util/log.h"
#include "util/strutil.h"

struct load_ctx {
	struct csocks_config *cfg;
	struct config_diag *diag;
	const char *file;
};

static const char *const auth_names[] = {"none", "userpass", "pam.username", "pam.address",
                                         "gssapi"};

const char *auth_method_name(enum auth_method m)
{
	return (unsigned)m < sizeof(auth_names) / sizeof(auth_names[0]) ? auth_names[m] : "?";
}

const char *session_storage_name(enum session_storage s)
{
	switch (s) {
	case STORAGE_MEMORY:
		return "memory";
	case STORAGE_SQLITE:
		return "sqlite";
	case STORAGE_POSTGRES:
		return "postgres";
	}
	return "?";
}

/* ---- diagnostics ---- */

static void diag_add(char ***list, size_t *n, const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	*list = xrealloc(*list, (*n + 1) * sizeof(char *));
	(*list)[(*n)++] = xstrdup(buf);
}

static void diag_error(struct config_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void diag_error(struct config_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(&d->errors, &d->n_errors, fmt, ap);
	va_end(ap);
}

static void diag_warn(struct config_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void diag_warn(struct config_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(&d->warnings, &d->n_warnings, fmt, ap);
	va_end(ap);
}

void config_diag_free(struct config_diag *d)
{
	for (size_t i = 0; i < d->n_errors; i++)
		free(d->errors[i]);
	for (size_t i = 0; i < d->n_warnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}

/* ---- field access ---- */

static void *field_ptr(struct csocks_config *cfg, const struct cfg_field *f)
{
	return (char *)cfg + f->off;
}

void config_set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

static void strlist_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int parse_auth(const char *s, bool client, enum auth_method *out)
{
	if (!strcmp(s, "none"))
		*out = AUTH_NONE;
	else if (!strcmp(s, "pam.address"))
		*out = AUTH_PAM_ADDRESS;
	else if (!client && !strcmp(s, "userpass"))
		*out = AUTH_USERPASS;
	else if (!client && !strcmp(s, "pam.username"))
		*out = AUTH_PAM_USERNAME;
	else if (!client && !strcmp(s, "gssapi"))
		*out = AUTH_GSSAPI;
	else
		return -1;
	return 0;
}

static int parse_storage(const char *s, enum session_storage *out)
{
	if (!strcmp(s, "memory"))
		*out = STORAGE_MEMORY;
	else if (!strcmp(s, "sqlite"))
		*out = STORAGE_SQLITE;
	else if (!strcmp(s, "postgres") || !strcmp(s, "postgresql"))
		*out = STORAGE_POSTGRES;
	else
		return -1;
	return 0;
}

/* Defaults are written in the schema as TOML literals; they are simple
 * enough (true/false, decimal, "string", []) to read directly. */
static void apply_default(struct csocks_config *cfg, const struct cfg_field *f)
{
	void *p = field_ptr(cfg, f);
	const char *d = f->def;
	char s[256] = "";

	if (!d)
		return;
	if (d[0] == '"') {
		size_t n = strlen(d) - 2;
		CSOCKS_BUG_ON(n >= sizeof(s));
		memcpy(s, d + 1, n);
		s[n] = '\0';
	}
	switch (f->type) {
	case CT_BOOL:
		*(bool *)p = strcmp(d, "true") == 0;
		break;
	case CT_U32:
		*(uint32_t *)p = (uint32_t)strtoul(d, NULL, 10);
		break;
	case CT_U64:
		*(uint64_t *)p = strtoull(d, NULL, 10);
		break;
	case CT_STR:
		config_set_str(p, s);
		break;
	case CT_AUTH_CLIENT:
	case CT_AUTH_SOCKS:
		CSOCKS_BUG_ON(parse_auth(s, f->type == CT_AUTH_CLIENT, p) != 0);
		break;
	case CT_STORAGE:
		CSOCKS_BUG_ON(parse_storage(s, p) != 0);
		break;
	case CT_STRLIST:
	case CT_SECTION:
	case CT_USERS:
	case CT_DASH_USERS:
		break;
	}
}

struct csocks_config *config_new_default(void)
{
	struct csocks_config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->key_lines = xcalloc(cfg_schema_len, sizeof(int));
	for (size_t i = 0; i < cfg_schema_len; i++)
		apply_default(cfg, &cfg_schema[i]);
	return cfg;
}

void config_free(struct csocks_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg_schema_len; i++) {
		const struct cfg_field *f = &cfg_schema[i];
		void *p = field_ptr(cfg, f);
		if (f->type == CT_STR)
			free(*(char **)p);
		else if (f->type == CT_STRLIST)
			strlist_free(*(char ***)p, *(size_t *)((char *)p + sizeof(char **)));
	}
	for (size_t i = 0; i < cfg->auth.n_users; i++) {
		free(cfg->auth.users[i].username);
		free(cfg->auth.users[i].password);
		free(cfg->auth.users[i].password_hash);
	}
	free(cfg->auth.users);
	for (size_t i = 0; i < cfg->sessions.dashboard_auth.n_users; i++) {
		free(cfg->sessions.dashboard_auth.users[i].username);
		free(cfg->sessions.dashboard_auth.users[i].password);
	}
	free(cfg->sessions.dashboard_auth.users);
	free(cfg->path);
	free(cfg->key_lines);
	free(cfg);
}

/* ---- reading values ---- */

static bool expect_type(struct load_ctx *c, const struct toml_value *v, enum toml_type t,
                        const char *path)
{
	if (v->type == t)
		return true;
	diag_error(c->diag, "%s:%d: %s: expected %s, got %s", c->file, v->line, path,
	           toml_type_name(t), toml_type_name(v->type));
	return false;
}

static void read_int(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	if (!expect_type(c, v, TOML_INTEGER, f->path))
		return;
	int64_t n = v->u.integer;
	if (n < 0 || (uint64_t)n < f->min || (uint64_t)n > f->max) {
		diag_error(c->diag, "%s:%d: %s: %lld is out of range (%llu..%llu)", c->file,
		           v->line, f->path, (long long)n, (unsigned long long)f->min,
		           (unsigned long long)f->max);
		return;
	}
	void *p = field_ptr(c->cfg, f);
	if (f->type == CT_U32)
		*(uint32_t *)p = (uint32_t)n;
	else
		*(uint64_t *)p = (uint64_t)n;
}

static void read_strlist(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	if (!expect_type(c, v, TOML_ARRAY, f->path))
		return;
	size_t n = toml_array_len(v);
	char **list = xcalloc(n ? n : 1, sizeof(char *));
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *e = toml_array_at(v, i);
		if (expect_type(c, e, TOML_STRING, f->path))
			list[got++] = xstrdup(e->u.str.ptr);
	}
	char ***lp = field_ptr(c->cfg, f);
	size_t *np = (size_t *)((char *)lp + sizeof(char **));
	strlist_free(*lp, *np);
	*lp = list;
	*np = got;
}

static void read_enum(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	if (!expect_type(c, v, TOML_STRING, f->path))
		return;
	const char *s = v->u.str.ptr;
	void *p = field_ptr(c->cfg, f);
	if (f->type == CT_STORAGE) {
		if (parse_storage(s, p) == 0)
			return;
		if (!strcmp(s, "mariadb") || !strcmp(s, "mysql"))
			diag_error(c->diag,
			           "%s:%d: %s: \"%s\" is not supported by csocks; use \"sqlite\" "
			           "or \"postgres\"",
			           c->file, v->line, f->path, s);
		else
			diag_error(c->diag,
			           "%s:%d: %s: unknown storage \"%s\" (expected \"memory\", "
			           "\"sqlite\" or \"postgres\")",
			           c->file, v->line, f->path, s);
		return;
	}
	bool client = f->type == CT_AUTH_CLIENT;
	if (parse_auth(s, client, p) != 0)
		diag_error(c->diag, "%s:%d: %s: unknown method \"%s\" (expected %s)", c->file,
		           v->line, f->path, s,
		           client ? "\"none\" or \"pam.address\""
		                  : "\"none\", \"userpass\", \"pam.username\" or \"pam.address\"");
	else if (*(enum auth_method *)p == AUTH_GSSAPI)
		diag_warn(c->diag,
		          "%s:%d: %s: \"gssapi\" is not supported by csocks; clients will be "
		          "refused (method 0xFF)",
		          c->file, v->line, f->path);
}

/* One [[auth.users]] or [[sessions.dashboard_auth.users]] entry. */
static void read_user_entry(struct load_ctx *c, const char *path, const struct toml_value *t,
                            bool dash)
{
	char *name = NULL, *pw = NULL, *hash = NULL;
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const struct toml_kv *kv = toml_table_at(t, i);
		char **dst = NULL;
		if (!strcmp(kv->key, "username"))
			dst = &name;
		else if (!strcmp(kv->key, "password"))
			dst = &pw;
		else if (!dash && !strcmp(kv->key, "password_hash"))
			dst = &hash;
		if (!dst) {
			diag_warn(c->diag, "%s:%d: unknown key '%s.%s' (ignored)", c->file,
			          kv->line, path, kv->key);
			continue;
		}
		char full[128];
		snprintf(full, sizeof(full), "%s.%s", path, kv->key);
		if (expect_type(c, kv->val, TOML_STRING, full))
			config_set_str(dst, kv->val->u.str.ptr);
	}
	if (!name || !*name)
		diag_error(c->diag, "%s:%d: %s: entry has no username", c->file, t->line, path);
	if (!dash && pw && hash)
		diag_error(c->diag, "%s:%d: %s: user '%s' has both password and password_hash",
		           c->file, t->line, path, name ? name : "");
	if (!pw && !hash)
		diag_error(c->diag, "%s:%d: %s: user '%s' has no password", c->file, t->line, path,
		           name ? name : "");
	if (hash && hash[0] != '$')
		diag_error(c->diag,
		           "%s:%d: %s: password_hash of '%s' is not a crypt(3) string (csocks "
		           "--hash-password makes one)",
		           c->file, t->line, path, name ? name : "");
	if (dash) {
		struct cfg_dash_user **u = &c->cfg->sessions.dashboard_auth.users;
		size_t *n = &c->cfg->sessions.dashboard_auth.n_users;
		*u = xrealloc(*u, (*n + 1) * sizeof(**u));
		(*u)[(*n)++] = (struct cfg_dash_user){name, pw};
		free(hash);
		return;
	}
	struct cfg_user **u = &c->cfg->auth.users;
	size_t *n = &c->cfg->auth.n_users;
	*u = xrealloc(*u, (*n + 1) * sizeof(**u));
	(*u)[(*n)++] = (struct cfg_user){name, pw, hash, t->line};
}

static void read_users(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	if (!expect_type(c, v, TOML_ARRAY, f->path))
		return;
	for (size_t i = 0; i < toml_array_len(v); i++) {
		const struct toml_value *e = toml_array_at(v, i);
		if (expect_type(c, e, TOML_TABLE, f->path))
			read_user_entry(c, f->path, e, f->type == CT_DASH_USERS);
	}
}

static void walk_table(struct load_ctx *c, const struct toml_value *t, const char *prefix);

static void read_field(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	c->cfg->key_lines[f - cfg_schema] = v->line;
	switch (f->type) {
	case CT_SECTION:
		if (expect_type(c, v, TOML_TABLE, f->path))
			walk_table(c, v, f->path);
		break;
	case CT_BOOL:
		if (expect_type(c, v, TOML_BOOL, f->path))
			*(bool *)field_ptr(c->cfg, f) = v->u.boolean;
		break;
	case CT_U32:
	case CT_U64:
		read_int(c, f, v);
		break;
	case CT_STR:
		if (expect_type(c, v, TOML_STRING, f->path))
			config_set_str(field_ptr(c->cfg, f), v->u.str.ptr);
		break;
	case CT_STRLIST:
		read_strlist(c, f, v);
		break;
	case CT_AUTH_CLIENT:
	case CT_AUTH_SOCKS:
	case CT_STORAGE:
		read_enum(c, f, v);
		break;
	case CT_USERS:
	case CT_DASH_USERS:
		read_users(c, f, v);
		break;
	}
}

static void walk_table(struct load_ctx *c, const struct toml_value *t, const char *prefix)
{
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const struct toml_kv *kv = toml_table_at(t, i);
		char path[256];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", kv->key);
		/* RustSocks accepts "method" as an alias of socks_method. */
		if (!strcmp(path, "auth.method"))
			cs_strlcpy(path, "auth.socks_method", sizeof(path));
		const struct cfg_field *f = cfg_schema_find(path);
		if (!f) {
			diag_warn(c->diag, "%s:%d: unknown key '%s' (ignored)", c->file, kv->line,
			          path);
			continue;
		}
		read_field(c, f, kv->val);
	}
}

/* ---- validation ---- */

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
	diag_error(d, "%s: %s: %s", where(cfg, key, loc, sizeof(loc)), key, msg);
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
				diag_error(
				    d, "%s:%d: auth.users: duplicate user '%s' (first at line %d)",
				    f, cfg->auth.users[i].line, cfg->auth.users[i].username,
				    cfg->auth.users[j].line);
	if (cfg->api.token && cfg->api.token_file)
		key_error(d, cfg, "api.token_file", "set api.token or api.token_file, not both");
	if (cfg->api.token_file)
		validate_required_file(d, cfg, "api.token_file", cfg->api.token_file);
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
		char *dir = xstrdup(path), *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (!file_exists(dir))
				key_error(d, cfg, "sessions.database_url", "directory '%s': %s",
				          dir, strerror(errno));
		}
		free(dir);
		free(path);
	} else if (cfg->sessions.storage == STORAGE_POSTGRES && !is_pg_url(url)) {
		key_error(d, cfg, "sessions.database_url",
		          "must be \"postgresql://...\" for postgres storage");
	}
}

static void validate_tls(const struct csocks_config *cfg, struct config_diag *d)
{
	const char *mv = cfg->server.tls.min_protocol_version;
	if (cfg->server.tls.enabled) {
		key_error(d, cfg, "server.tls.enabled",
		          "SOCKS over TLS is not supported by this version of csocks (refusing "
		          "to serve plaintext where TLS was asked for)");
		return;
	}
	if (mv && strcmp(mv, "TLS12") != 0 && strcmp(mv, "TLS13") != 0)
		key_error(d, cfg, "server.tls.min_protocol_version",
		          "'%s' (expected \"TLS12\" or \"TLS13\")", mv);
	if (!cfg->server.tls.enabled)
		return;
	validate_required_file(d, cfg, "server.tls.certificate_path",
	                       cfg->server.tls.certificate_path);
	validate_required_file(d, cfg, "server.tls.private_key_path",
	                       cfg->server.tls.private_key_path);
	if (cfg->server.tls.require_client_auth)
		validate_required_file(d, cfg, "server.tls.client_ca_path",
		                       cfg->server.tls.client_ca_path);
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
	if (cfg->qos.algorithm && strcmp(cfg->qos.algorithm, "htb") != 0)
		key_error(d, cfg, "qos.algorithm", "'%s' (only \"htb\")", cfg->qos.algorithm);
	validate_auth(cfg, d);
	validate_tls(cfg, d);
	validate_sessions(cfg, d);
	return d->n_errors > before ? -1 : 0;
}

/* ---- entry points ---- */

/* Keys RustSocks files turn on for features csocks does not have yet. They
 * load (the files must work unchanged), but silently ignoring them would
 * mislead: each one gets a warning at its line. TLS is refused instead
 * (config_validate): serving plaintext where TLS was asked for fails open. */
static void warn_unsupported(const struct csocks_config *cfg, struct config_diag *d)
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
	    {"telemetry.enabled", offsetof(struct csocks_config, telemetry.enabled),
	     "the telemetry event log is not implemented yet"},
	    {"sessions.dashboard_auth.enabled",
	     offsetof(struct csocks_config, sessions.dashboard_auth.enabled),
	     "there is no web dashboard yet; protect the API with [api] token"},
	};
	char loc[300];
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
		if (*(const bool *)((const char *)cfg + feats[i].off))
			diag_warn(d, "%s: %s: %s", where(cfg, feats[i].key, loc, sizeof(loc)),
			          feats[i].key, feats[i].what);
	if (cfg->sessions.stats_api_enabled && cfg->sessions.dashboard_enabled)
		diag_warn(d,
		          "%s: sessions.dashboard_enabled: there is no web dashboard yet; "
		          "the API and /metrics are served",
		          where(cfg, "sessions.dashboard_enabled", loc, sizeof(loc)));
}

static struct csocks_config *load_tree(const struct toml_value *root, const char *name,
                                       struct config_diag *diag)
{
	struct csocks_config *cfg = config_new_default();
	struct load_ctx c = {cfg, diag, name};
	cfg->path = xstrdup(name);
	walk_table(&c, root, "");
	if (diag->n_errors == 0) {
		warn_unsupported(cfg, diag);
		config_validate(cfg, diag);
	}
	if (diag->n_errors) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct csocks_config *config_load_string(const char *text, size_t len, const char *name,
                                         struct config_diag *diag)
{
	char err[512];
	memset(diag, 0, sizeof(*diag));
	struct toml_value *root = toml_parse(text, len, name, err, sizeof(err));
	if (!root) {
		diag_error(diag, "%s", err);
		return NULL;
	}
	struct csocks_config *cfg = load_tree(root, name, diag);
	toml_free(root);
	return cfg;
}

struct csocks_config *config_load(const char *path, struct config_diag *diag)
{
	size_t len;
	memset(diag, 0, sizeof(*diag));
	char *text = cs_read_file(path, &len);
	if (!text) {
		diag_error(diag, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct csocks_config *cfg = config_load_string(text, len, path, diag);
	free(text);
	return cfg;
}
