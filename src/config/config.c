/* Configuration: the model's defaults (from the schema table), freeing,
 * diagnostics, and the load entry points: defaults, then the TOML file on
 * top (config_read.c), then validation (config_validate.c). Every message
 * carries file:line. */
#include "config/config_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml/toml.h"
#include "util/log.h"
#include "util/strutil.h"

static const char *const auth_names[] = {"none", "userpass", "pam.username", "pam.address",
                                         "gssapi"};

const char *auth_method_name(enum auth_method m)
{
	return (unsigned)m < sizeof(auth_names) / sizeof(auth_names[0]) ? auth_names[m] : "?";
}

/* ---- diagnostics ---- */

static void diag_add(char ***list, size_t *n, const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	*list = xrealloc(*list, (*n + 1) * sizeof(char *));
	(*list)[(*n)++] = xstrdup(buf);
}

void config_diag_error(struct config_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(&d->errors, &d->n_errors, fmt, ap);
	va_end(ap);
}

void config_diag_warn(struct config_diag *d, const char *fmt, ...)
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

void *config_field_ptr(struct csocks_config *cfg, const struct cfg_field *f)
{
	return (char *)cfg + f->off;
}

void config_set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

void config_strlist_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int config_parse_auth(const char *s, bool client, enum auth_method *out)
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

int config_parse_storage(const char *s, enum session_storage *out)
{
	if (!strcmp(s, "memory"))
		*out = STORAGE_MEMORY;
	else if (!strcmp(s, "sqlite"))
		*out = STORAGE_SQLITE;
	else if (!strcmp(s, "postgres") || !strcmp(s, "postgresql"))
		*out = STORAGE_POSTGRES;
	else if (!strcmp(s, "mariadb") || !strcmp(s, "mysql"))
		*out = STORAGE_MYSQL;
	else
		return -1;
	return 0;
}

/* Defaults are written in the schema as TOML literals; they are simple
 * enough (true/false, decimal, "string", []) to read directly. */
static void apply_default(struct csocks_config *cfg, const struct cfg_field *f)
{
	void *p = config_field_ptr(cfg, f);
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
		CSOCKS_BUG_ON(config_parse_auth(s, f->type == CT_AUTH_CLIENT, p) != 0);
		break;
	case CT_STORAGE:
		CSOCKS_BUG_ON(config_parse_storage(s, p) != 0);
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
		void *p = config_field_ptr(cfg, f);
		if (f->type == CT_STR)
			free(*(char **)p);
		else if (f->type == CT_STRLIST)
			config_strlist_free(*(char ***)p, *(size_t *)((char *)p + sizeof(char **)));
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

/* ---- entry points ---- */

static struct csocks_config *load_tree(const struct toml_value *root, const char *name,
                                       struct config_diag *diag)
{
	struct csocks_config *cfg = config_new_default();
	struct load_ctx c = {cfg, diag, name};
	cfg->path = xstrdup(name);
	config_read_table(&c, root, "");
	if (diag->n_errors == 0) {
		config_warn_unsupported(cfg, diag);
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
		config_diag_error(diag, "%s", err);
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
		config_diag_error(diag, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct csocks_config *cfg = config_load_string(text, len, path, diag);
	free(text);
	return cfg;
}
