/* Serialising the model as TOML in RustSocks' layout, and writing it to
 * disk atomically. */
#include "acl/acl_config_write.h"

#include "util/strbuf.h"
#include "util/strutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- serialising ------------------------------------------------------- */

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	(void)strbuf_add(b, s, n); /* a failure is seen once, at the end */
}

static void sb_puts(struct strbuf *b, const char *s)
{
	(void)strbuf_puts(b, s);
}

/* A TOML basic string: quotes, backslashes and control characters escaped. */
static void sb_str(struct strbuf *b, const char *s)
{
	sb_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			sb_add(b, esc, 2);
		} else if (c == '\n') {
			sb_add(b, "\\n", 2);
		} else if (c == '\t') {
			sb_add(b, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			sb_add(b, esc, 6);
		} else {
			sb_add(b, s, 1);
		}
	}
	sb_add(b, "\"", 1);
}

static void sb_strv(struct strbuf *b, const char *key, char *const *v, size_t n)
{
	sb_puts(b, key);
	sb_puts(b, " = [");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_puts(b, ", ");
		sb_str(b, v[i]);
	}
	sb_puts(b, "]\n");
}

static void sb_rules(struct strbuf *b, const char *header, const struct acl_rule *r, size_t n)
{
	char num[32];
	for (size_t i = 0; i < n; i++) {
		sb_puts(b, "\n");
		sb_puts(b, header);
		sb_puts(b, "\naction = ");
		sb_str(b, acl_action_name(r[i].action));
		sb_puts(b, "\ndescription = ");
		sb_str(b, r[i].description);
		sb_puts(b, "\n");
		sb_strv(b, "destinations", r[i].destinations, r[i].n_destinations);
		sb_strv(b, "ports", r[i].ports, r[i].n_ports);
		sb_puts(b, "protocols = [");
		if (r[i].protocols == ACL_PROTO_BOTH)
			sb_puts(b, "\"both\"");
		else if (r[i].protocols == ACL_PROTO_TCP)
			sb_puts(b, "\"tcp\"");
		else if (r[i].protocols == ACL_PROTO_UDP)
			sb_puts(b, "\"udp\"");
		sb_puts(b, "]\n");
		snprintf(num, sizeof(num), "priority = %u\n", (unsigned)r[i].priority);
		sb_puts(b, num);
	}
}

char *acl_config_to_toml(const struct acl_config *cfg, size_t *len)
{
	struct strbuf b;
	strbuf_init(&b);
	sb_puts(&b, "[global]\ndefault_policy = ");
	sb_str(&b, acl_action_name(cfg->default_policy));
	sb_puts(&b, "\n");
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct acl_user *u = &cfg->users[i];
		sb_puts(&b, "\n[[users]]\nusername = ");
		sb_str(&b, u->username);
		sb_puts(&b, "\n");
		sb_strv(&b, "groups", u->groups, u->n_groups);
		sb_rules(&b, "[[users.rules]]", u->rules, u->n_rules);
	}
	for (size_t i = 0; i < cfg->n_groups; i++) {
		const struct acl_group *g = &cfg->groups[i];
		sb_puts(&b, "\n[[groups]]\nname = ");
		sb_str(&b, g->name);
		sb_puts(&b, "\n");
		sb_rules(&b, "[[groups.rules]]", g->rules, g->n_rules);
	}
	size_t n = b.len;
	char *text = strbuf_take(&b);
	if (len)
		*len = text ? n : 0;
	return text;
}

int acl_config_write(const struct acl_config *cfg, const char *path)
{
	size_t len;
	char *text = acl_config_to_toml(cfg, &len);
	if (!text)
		return -ENOMEM;
	int rc = cs_write_file_atomic(path, text, len) < 0 ? -errno : 0;
	free(text);
	return rc;
}
