/* Reading a TOML tree into the config, key by key through the schema table:
 * types and ranges checked here, with the key's file:line in every error;
 * unknown keys are errors too. */
#include "config/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

static bool expect_type(struct load_ctx *c, const struct toml_value *v, enum toml_type t,
                        const char *path)
{
	if (v->type == t)
		return true;
	config_diag_error(c->diag, "%s:%d: %s: expected %s, got %s", c->file, v->line, path,
	                  toml_type_name(t), toml_type_name(v->type));
	return false;
}

static void read_int(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	if (!expect_type(c, v, TOML_INTEGER, f->path))
		return;
	int64_t n = v->u.integer;
	if (n < 0 || (uint64_t)n < f->min || (uint64_t)n > f->max) {
		config_diag_error(c->diag, "%s:%d: %s: %lld is out of range (%llu..%llu)", c->file,
		                  v->line, f->path, (long long)n, (unsigned long long)f->min,
		                  (unsigned long long)f->max);
		return;
	}
	void *p = config_field_ptr(c->cfg, f);
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
	char ***lp = config_field_ptr(c->cfg, f);
	size_t *np = (size_t *)((char *)lp + sizeof(char **));
	config_strlist_free(*lp, *np);
	*lp = list;
	*np = got;
}

static void read_enum(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	if (!expect_type(c, v, TOML_STRING, f->path))
		return;
	const char *s = v->u.str.ptr;
	void *p = config_field_ptr(c->cfg, f);
	if (f->type == CT_STORAGE) {
		if (config_parse_storage(s, p) == 0)
			return;
		config_diag_error(c->diag,
		                  "%s:%d: %s: unknown storage \"%s\" (expected \"memory\", "
		                  "\"sqlite\", \"postgres\" or \"mariadb\")",
		                  c->file, v->line, f->path, s);
		return;
	}
	bool client = f->type == CT_AUTH_CLIENT;
	if (config_parse_auth(s, client, p) != 0)
		config_diag_error(
		    c->diag, "%s:%d: %s: unknown method \"%s\" (expected %s)", c->file, v->line,
		    f->path, s,
		    client ? "\"none\" or \"pam.address\""
		           : "\"none\", \"userpass\", \"pam.username\", \"pam.address\" or "
		             "\"gssapi\"");
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
			config_diag_warn(c->diag, "%s:%d: unknown key '%s.%s' (ignored)", c->file,
			                 kv->line, path, kv->key);
			continue;
		}
		char full[128];
		snprintf(full, sizeof(full), "%s.%s", path, kv->key);
		if (expect_type(c, kv->val, TOML_STRING, full))
			config_set_str(dst, kv->val->u.str.ptr);
	}
	if (!name || !*name)
		config_diag_error(c->diag, "%s:%d: %s: entry has no username", c->file, t->line,
		                  path);
	if (!dash && pw && hash)
		config_diag_error(c->diag,
		                  "%s:%d: %s: user '%s' has both password and password_hash",
		                  c->file, t->line, path, name ? name : "");
	if (!pw && !hash)
		config_diag_error(c->diag, "%s:%d: %s: user '%s' has no password", c->file, t->line,
		                  path, name ? name : "");
	if (hash && hash[0] != '$')
		config_diag_error(
		    c->diag,
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

static void read_field(struct load_ctx *c, const struct cfg_field *f, const struct toml_value *v)
{
	c->cfg->key_lines[f - cfg_schema] = v->line;
	switch (f->type) {
	case CT_SECTION:
		if (expect_type(c, v, TOML_TABLE, f->path))
			config_read_table(c, v, f->path);
		break;
	case CT_BOOL:
		if (expect_type(c, v, TOML_BOOL, f->path))
			*(bool *)config_field_ptr(c->cfg, f) = v->u.boolean;
		break;
	case CT_U32:
	case CT_U64:
		read_int(c, f, v);
		break;
	case CT_STR:
		if (expect_type(c, v, TOML_STRING, f->path))
			config_set_str(config_field_ptr(c->cfg, f), v->u.str.ptr);
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

void config_read_table(struct load_ctx *c, const struct toml_value *t, const char *prefix)
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
			config_diag_warn(c->diag, "%s:%d: unknown key '%s' (ignored)", c->file,
			                 kv->line, path);
			continue;
		}
		read_field(c, f, kv->val);
	}
}
