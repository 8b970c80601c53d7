/* The effective configuration, key by key, for the admin API's
 * /api/config (see config_effective_foreach in config.h). */
#include "config/config_internal.h"

#include "util/strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Keys whose values are credentials: never shown. */
static bool key_secret(const char *key)
{
	return strstr(key, "token") || strstr(key, "password") || strstr(key, "secret") ||
	       strstr(key, "keytab") || strcmp(key, "sessions.database_url") == 0;
}

static const char *storage_name(enum session_storage s)
{
	switch (s) {
	case STORAGE_MEMORY:
		return "memory";
	case STORAGE_SQLITE:
		return "sqlite";
	case STORAGE_POSTGRES:
		return "postgres";
	case STORAGE_MYSQL:
		return "mariadb";
	}
	return "?";
}

static void quoted(struct strbuf *b, const char *s)
{
	(void)strbuf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			(void)strbuf_addc(b, '\\');
		(void)strbuf_addc(b, *s);
	}
	(void)strbuf_addc(b, '"');
}

/* The value of f as TOML text into b; false for keys with no value to show. */
static bool value_text(const struct csocks_config *cfg, const struct cfg_field *f, struct strbuf *b)
{
	const void *p = config_field_ptr((struct csocks_config *)cfg, f);
	switch (f->type) {
	case CT_BOOL:
		(void)strbuf_puts(b, *(const bool *)p ? "true" : "false");
		return true;
	case CT_U32:
		(void)strbuf_printf(b, "%" PRIu32, *(const uint32_t *)p);
		return true;
	case CT_U64:
		(void)strbuf_printf(b, "%" PRIu64, *(const uint64_t *)p);
		return true;
	case CT_STR: {
		const char *s = *(char *const *)p;
		if (!s)
			return false;
		quoted(b, s);
		return true;
	}
	case CT_STRLIST: {
		char *const *l = *(char **const *)p;
		size_t n = *(const size_t *)((const char *)p + sizeof(char **));
		(void)strbuf_addc(b, '[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				(void)strbuf_puts(b, ", ");
			quoted(b, l[i]);
		}
		(void)strbuf_addc(b, ']');
		return true;
	}
	case CT_AUTH_CLIENT:
	case CT_AUTH_SOCKS:
		quoted(b, auth_method_name(*(const enum auth_method *)p));
		return true;
	case CT_STORAGE:
		quoted(b, storage_name(*(const enum session_storage *)p));
		return true;
	case CT_USERS:
		(void)strbuf_printf(b, "%zu entries (passwords redacted)", cfg->auth.n_users);
		return true;
	case CT_DASH_USERS:
		(void)strbuf_printf(b, "%zu entries (passwords redacted)",
		                    cfg->sessions.dashboard_auth.n_users);
		return true;
	case CT_SECTION:
		break;
	}
	return false;
}

void config_effective_foreach(const struct csocks_config *cfg,
                              void (*cb)(void *ctx, const char *key, const char *value, int line),
                              void *ctx)
{
	for (size_t i = 0; i < cfg_schema_len; i++) {
		const struct cfg_field *f = &cfg_schema[i];
		int line = cfg->key_lines ? cfg->key_lines[i] : 0;
		if (f->type == CT_SECTION)
			continue;
		struct strbuf b;
		strbuf_init(&b);
		bool shown = value_text(cfg, f, &b);
		if (shown && key_secret(f->path) && f->type != CT_BOOL && f->type != CT_U32)
			cb(ctx, f->path, "(redacted)", line);
		else if (shown)
			cb(ctx, f->path, b.p ? b.p : "", line);
		strbuf_free(&b);
	}
}
