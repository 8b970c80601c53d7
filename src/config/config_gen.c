/* --generate-config: a commented example written from the schema table, so
 * it always lists every key with its real default, and always loads. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_schema.h"
#include "util/strbuf.h"
#include "util/strutil.h"

static const char *last_component(const char *path)
{
	const char *dot = strrchr(path, '.');
	return dot ? dot + 1 : path;
}

static void gen_field(struct strbuf *b, const struct cfg_field *f)
{
	strbuf_printf(b, "# %s\n", f->doc);
	if (f->type == CT_USERS) {
		strbuf_printf(b, "# [[auth.users]]\n# username = \"alice\"\n"
		                 "# password_hash = \"$y$...\"   # from: csocks --hash-password\n");
		return;
	}
	if (f->type == CT_DASH_USERS) {
		strbuf_printf(b, "# [[sessions.dashboard_auth.users]]\n# username = \"admin\"\n"
		                 "# password = \"change-me\"\n");
		return;
	}
	if (f->def)
		strbuf_printf(b, "%s = %s\n", last_component(f->path), f->def);
	else
		strbuf_printf(b, "# %s = \"\"\n", last_component(f->path));
}

char *config_example_text(void)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_printf(&b, "# csocks configuration (RustSocks-compatible).\n"
	                  "# Every key is shown with its default; keys marked \"csocks:\" are\n"
	                  "# csocks extensions that RustSocks does not read.\n");
	/* Array-of-tables entries must come after the plain keys of their
	 * parent table, or the keys that follow would land inside the last
	 * entry: print them at the end, commented. */
	for (size_t i = 0; i < cfg_schema_len; i++) {
		const struct cfg_field *f = &cfg_schema[i];
		if (f->type == CT_SECTION)
			strbuf_printf(&b, "\n# %s\n[%s]\n", f->doc, f->path);
		else if (f->type != CT_USERS && f->type != CT_DASH_USERS)
			gen_field(&b, f);
	}
	strbuf_printf(&b, "\n");
	for (size_t i = 0; i < cfg_schema_len; i++)
		if (cfg_schema[i].type == CT_USERS || cfg_schema[i].type == CT_DASH_USERS)
			gen_field(&b, &cfg_schema[i]);
	return strbuf_take(&b);
}

int config_generate(const char *path)
{
	char *text = config_example_text();
	if (!text) {
		errno = ENOMEM;
		return -1;
	}
	int rc = cs_write_file_atomic(path, text, strlen(text));
	free(text);
	return rc;
}

static const char *type_name(const struct cfg_field *f)
{
	switch (f->type) {
	case CT_BOOL:
		return "boolean";
	case CT_U32:
	case CT_U64:
		return "integer";
	case CT_STR:
	case CT_AUTH_CLIENT:
	case CT_AUTH_SOCKS:
	case CT_STORAGE:
		return "string";
	case CT_STRLIST:
		return "array of strings";
	case CT_USERS:
	case CT_DASH_USERS:
		return "array of tables";
	case CT_SECTION:
		break;
	}
	return "table";
}

char *config_reference_markdown(void)
{
	struct strbuf b;
	strbuf_init(&b);
	for (size_t i = 0; i < cfg_schema_len; i++) {
		const struct cfg_field *f = &cfg_schema[i];
		if (f->type == CT_SECTION) {
			strbuf_printf(&b, "\n### [%s]\n\n%s\n\n", f->path, f->doc);
			strbuf_printf(&b, "| key | type | default | range | description |\n"
			                  "|---|---|---|---|---|\n");
			continue;
		}
		char range[64] = "";
		if (f->type == CT_U32 || f->type == CT_U64)
			snprintf(range, sizeof(range), "%llu..%llu", (unsigned long long)f->min,
			         (unsigned long long)f->max);
		strbuf_printf(&b, "| `%s` | %s | %s%s%s | %s | %s |\n", last_component(f->path),
		              type_name(f), f->def ? "`" : "", f->def ? f->def : "unset",
		              f->def ? "`" : "", range, f->doc);
	}
	return strbuf_take(&b);
}

/* roff text: backslashes, hyphens and a leading '.' or '\'' escaped. */
static void roff_puts(struct strbuf *b, const char *s)
{
	if (*s == '.' || *s == '\'')
		strbuf_puts(b, "\\&");
	for (; *s; s++) {
		if (*s == '\\')
			strbuf_puts(b, "\\e");
		else if (*s == '-')
			strbuf_puts(b, "\\-");
		else
			strbuf_addc(b, *s);
	}
}

static void man_field(struct strbuf *b, const struct cfg_field *f)
{
	strbuf_puts(b, ".TP\n.B ");
	roff_puts(b, last_component(f->path));
	strbuf_printf(b, "\n%s", type_name(f));
	if (f->def) {
		strbuf_puts(b, ", default \\fB");
		roff_puts(b, f->def);
		strbuf_puts(b, "\\fR");
	}
	if (f->type == CT_U32 || f->type == CT_U64)
		strbuf_printf(b, ", range %llu..%llu", (unsigned long long)f->min,
		              (unsigned long long)f->max);
	strbuf_puts(b, ".\n");
	roff_puts(b, f->doc);
	strbuf_puts(b, ".\n");
}

/* The KEYS section of csocks.toml(5): the same table as
 * config_reference_markdown(), so the man page and docs/configuration.md
 * cannot drift apart (scripts/gen-docs.sh writes both). */
char *config_reference_man(void)
{
	struct strbuf b;
	strbuf_init(&b);
	for (size_t i = 0; i < cfg_schema_len; i++) {
		const struct cfg_field *f = &cfg_schema[i];
		if (f->type != CT_SECTION) {
			man_field(&b, f);
			continue;
		}
		strbuf_puts(&b, ".SS [");
		roff_puts(&b, f->path);
		strbuf_puts(&b, "]\n");
		roff_puts(&b, f->doc);
		strbuf_puts(&b, ".\n");
	}
	return strbuf_take(&b);
}
