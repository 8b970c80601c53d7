/* Loading acl.toml (RustSocks' layout) into the model, with file:line:col
 * errors and warnings. See acl_config_load.h for what is checked. */
#include "acl/acl_config_load.h"

#include "acl/acl_match.h"
#include "toml/toml.h"
#include "util/strutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- loading ----------------------------------------------------------- */

struct loader {
	const char *file;
	struct acl_msgs *msgs;
	size_t errors;
};

static void ld_msg(struct loader *ld, bool error, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void ld_msg(struct loader *ld, bool error, int line, int col, const char *fmt, ...)
{
	char buf[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (error)
		ld->errors++;
	acl_msgs_add(ld->msgs, error, "%s:%d:%d: %s%s", ld->file, line, col,
	             error ? "" : "warning: ", buf);
}

/* Check a value's type; report "key: expected T, got U" when wrong. */
static bool ld_type(struct loader *ld, const struct toml_kv *kv, enum toml_type want,
                    const char *what)
{
	if (kv->val->type == want)
		return true;
	ld_msg(ld, true, kv->val->line, kv->val->col, "'%s': expected %s, got %s", kv->key, what,
	       toml_type_name(kv->val->type));
	return false;
}

/* An array whose every element is a string; reports the first offender. */
static bool ld_string_array(struct loader *ld, const struct toml_kv *kv)
{
	if (!ld_type(ld, kv, TOML_ARRAY, "array of strings"))
		return false;
	for (size_t i = 0; i < toml_array_len(kv->val); i++) {
		const struct toml_value *e = toml_array_at(kv->val, i);
		if (e->type != TOML_STRING) {
			ld_msg(ld, true, e->line, e->col, "'%s'[%zu]: expected string, got %s",
			       kv->key, i, toml_type_name(e->type));
			return false;
		}
	}
	return true;
}

static void ld_rule_destinations(struct loader *ld, const struct toml_kv *kv, struct acl_rule *r)
{
	size_t n = toml_array_len(kv->val);
	r->destinations = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *e = toml_array_at(kv->val, i);
		struct acl_dest d;
		char err[300];
		int rc = acl_dest_parse(e->u.str.ptr, e->u.str.len, &d, err, sizeof(err));
		if (rc == ACL_PARSE_ERROR) {
			ld_msg(ld, true, e->line, e->col, "%s", err);
			continue;
		}
		if (rc == ACL_PARSE_NORMALISED) {
			char norm[80];
			ld_msg(ld, false, e->line, e->col, "%s", err);
			acl_dest_format(&d, norm, sizeof(norm));
			r->destinations[r->n_destinations++] = xstrdup(norm);
		} else {
			r->destinations[r->n_destinations++] = xstrndup(e->u.str.ptr, e->u.str.len);
		}
	}
}

static void ld_rule_ports(struct loader *ld, const struct toml_kv *kv, struct acl_rule *r)
{
	size_t n = toml_array_len(kv->val);
	r->ports = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *e = toml_array_at(kv->val, i);
		char err[300];
		bool any;
		if (acl_ports_parse(e->u.str.ptr, e->u.str.len, NULL, 0, &any, err, sizeof(err)) <
		    0) {
			ld_msg(ld, true, e->line, e->col, "%s", err);
			continue;
		}
		r->ports[r->n_ports++] = xstrndup(e->u.str.ptr, e->u.str.len);
	}
}

static void ld_rule_protocols(struct loader *ld, const struct toml_kv *kv, struct acl_rule *r)
{
	r->protocols = 0;
	for (size_t i = 0; i < toml_array_len(kv->val); i++) {
		const struct toml_value *e = toml_array_at(kv->val, i);
		unsigned bits;
		if (acl_proto_parse(e->u.str.ptr, e->u.str.len, &bits) < 0) {
			ld_msg(ld, true, e->line, e->col,
			       "unknown protocol '%s' (expected tcp, udp, both or *)",
			       e->u.str.ptr);
			continue;
		}
		r->protocols |= bits;
	}
}

static void ld_rule(struct loader *ld, const char *owner, const struct toml_value *t,
                    struct acl_rule *r)
{
	bool have_action = false;
	size_t errors_before = ld->errors;

	memset(r, 0, sizeof(*r));
	r->priority = ACL_DEFAULT_PRIORITY;
	r->protocols = ACL_PROTO_BOTH; /* RustSocks' default */
	r->line = t->line;
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const struct toml_kv *kv = toml_table_at(t, i);
		const struct toml_value *v = kv->val;
		if (strcmp(kv->key, "action") == 0) {
			if (!ld_type(ld, kv, TOML_STRING, "string"))
				continue;
			have_action = true;
			if (acl_action_parse(v->u.str.ptr, v->u.str.len, &r->action) < 0)
				ld_msg(ld, true, v->line, v->col,
				       "unknown action '%s' (expected allow or block)",
				       v->u.str.ptr);
		} else if (strcmp(kv->key, "description") == 0) {
			if (ld_type(ld, kv, TOML_STRING, "string")) {
				free(r->description);
				r->description = xstrndup(v->u.str.ptr, v->u.str.len);
			}
		} else if (strcmp(kv->key, "destinations") == 0) {
			if (ld_string_array(ld, kv))
				ld_rule_destinations(ld, kv, r);
		} else if (strcmp(kv->key, "ports") == 0) {
			if (ld_string_array(ld, kv))
				ld_rule_ports(ld, kv, r);
		} else if (strcmp(kv->key, "protocols") == 0) {
			if (ld_string_array(ld, kv))
				ld_rule_protocols(ld, kv, r);
		} else if (strcmp(kv->key, "priority") == 0) {
			if (!ld_type(ld, kv, TOML_INTEGER, "integer"))
				continue;
			if (v->u.integer < 0 || v->u.integer > (int64_t)UINT32_MAX)
				ld_msg(ld, true, v->line, v->col,
				       "priority %lld out of range (0..4294967295)",
				       (long long)v->u.integer);
			else
				r->priority = (uint32_t)v->u.integer;
		} else {
			ld_msg(ld, false, kv->line, kv->col, "unknown key '%s' in a rule of %s",
			       kv->key, owner);
		}
	}
	if (!r->description)
		r->description = xstrdup("");
	if (!r->destinations)
		r->destinations = xcalloc(1, sizeof(char *));
	if (!r->ports)
		r->ports = xcalloc(1, sizeof(char *));
	if (!have_action)
		ld_msg(ld, true, t->line, t->col, "rule of %s: missing 'action' (allow or block)",
		       owner);
	/* Missing or empty lists match nothing (as in RustSocks). Only said
	 * when the rule had no errors: rejected elements also leave them empty. */
	if (ld->errors == errors_before &&
	    (r->n_destinations == 0 || r->n_ports == 0 || r->protocols == 0))
		ld_msg(ld, false, t->line, t->col,
		       "rule of %s has no %s; it never matches (use [\"*\"] for any)", owner,
		       r->n_destinations == 0 ? "destinations"
		       : r->n_ports == 0      ? "ports"
		                              : "protocols");
}

/* Load "rules = [ {..}, .. ]" (an array of tables) of an owner. */
static void ld_rules(struct loader *ld, const char *owner, const struct toml_kv *kv,
                     struct acl_rule **out, size_t *n_out)
{
	if (!ld_type(ld, kv, TOML_ARRAY, "array of tables"))
		return;
	size_t n = toml_array_len(kv->val);
	*out = xcalloc(n ? n : 1, sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *e = toml_array_at(kv->val, i);
		if (e->type != TOML_TABLE) {
			ld_msg(ld, true, e->line, e->col, "'rules'[%zu]: expected table, got %s", i,
			       toml_type_name(e->type));
			continue;
		}
		ld_rule(ld, owner, e, &(*out)[(*n_out)++]);
	}
}

/* An entry's name key (what = "user", key = "username"): a copy of a
 * non-empty string, else "" with an error (a non-string is reported by the
 * key loop's type check). */
static char *ld_name(struct loader *ld, const struct toml_value *t, const char *what,
                     const char *key)
{
	const struct toml_value *name = toml_table_get(t, key);
	if (name && name->type == TOML_STRING && name->u.str.len > 0)
		return xstrndup(name->u.str.ptr, name->u.str.len);
	if (!name)
		ld_msg(ld, true, t->line, t->col, "%s entry: missing '%s'", what, key);
	else if (name->type == TOML_STRING)
		ld_msg(ld, true, name->line, name->col, "'%s' is empty", key);
	return xstrdup("");
}

static void ld_user(struct loader *ld, const struct toml_value *t, struct acl_user *u)
{
	char owner[300];

	memset(u, 0, sizeof(*u));
	u->line = t->line;
	u->username = ld_name(ld, t, "user", "username");
	snprintf(owner, sizeof(owner), "user '%s'", u->username);
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const struct toml_kv *kv = toml_table_at(t, i);
		if (strcmp(kv->key, "username") == 0) {
			ld_type(ld, kv, TOML_STRING, "string");
		} else if (strcmp(kv->key, "groups") == 0) {
			if (!ld_string_array(ld, kv))
				continue;
			size_t n = toml_array_len(kv->val);
			u->groups = xcalloc(n ? n : 1, sizeof(char *));
			for (size_t k = 0; k < n; k++) {
				const struct toml_value *e = toml_array_at(kv->val, k);
				u->groups[u->n_groups++] = xstrndup(e->u.str.ptr, e->u.str.len);
			}
		} else if (strcmp(kv->key, "rules") == 0) {
			ld_rules(ld, owner, kv, &u->rules, &u->n_rules);
		} else {
			ld_msg(ld, false, kv->line, kv->col, "unknown key '%s' in %s", kv->key,
			       owner);
		}
	}
	if (!u->groups)
		u->groups = xcalloc(1, sizeof(char *));
	if (!u->rules)
		u->rules = xcalloc(1, sizeof(struct acl_rule));
}

static void ld_group(struct loader *ld, const struct toml_value *t, struct acl_group *g)
{
	char owner[300];

	memset(g, 0, sizeof(*g));
	g->line = t->line;
	g->name = ld_name(ld, t, "group", "name");
	snprintf(owner, sizeof(owner), "group '%s'", g->name);
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const struct toml_kv *kv = toml_table_at(t, i);
		if (strcmp(kv->key, "name") == 0)
			ld_type(ld, kv, TOML_STRING, "string");
		else if (strcmp(kv->key, "rules") == 0)
			ld_rules(ld, owner, kv, &g->rules, &g->n_rules);
		else
			ld_msg(ld, false, kv->line, kv->col, "unknown key '%s' in %s", kv->key,
			       owner);
	}
	if (!g->rules)
		g->rules = xcalloc(1, sizeof(struct acl_rule));
}

static void ld_global(struct loader *ld, const struct toml_kv *gkv, struct acl_config *cfg)
{
	if (!ld_type(ld, gkv, TOML_TABLE, "table"))
		return;
	for (size_t i = 0; i < toml_table_len(gkv->val); i++) {
		const struct toml_kv *kv = toml_table_at(gkv->val, i);
		const struct toml_value *v = kv->val;
		if (strcmp(kv->key, "default_policy") == 0) {
			if (ld_type(ld, kv, TOML_STRING, "string") &&
			    acl_action_parse(v->u.str.ptr, v->u.str.len, &cfg->default_policy) < 0)
				ld_msg(ld, true, v->line, v->col,
				       "unknown default_policy '%s' (expected allow or block)",
				       v->u.str.ptr);
		} else {
			ld_msg(ld, false, kv->line, kv->col, "unknown key 'global.%s'", kv->key);
		}
	}
}

/* Cross-entry checks: duplicates and groups the file does not define. */
static void ld_check_names(struct loader *ld, const struct acl_config *cfg)
{
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct acl_user *u = &cfg->users[i];
		for (size_t k = 0; k < i; k++)
			if (u->username[0] && strcmp(cfg->users[k].username, u->username) == 0) {
				ld_msg(ld, true, u->line, 1,
				       "duplicate user '%s' (first defined at line %d)",
				       u->username, cfg->users[k].line);
				break;
			}
		for (size_t k = 0; k < u->n_groups; k++)
			if (!acl_config_find_group(cfg, u->groups[k]))
				ld_msg(ld, false, u->line, 1,
				       "user '%s': group '%s' is not defined in this file (it adds "
				       "no rules; fine for directory-only groups)",
				       u->username, u->groups[k]);
	}
	for (size_t i = 0; i < cfg->n_groups; i++) {
		const struct acl_group *g = &cfg->groups[i];
		for (size_t k = 0; k < i; k++)
			if (g->name[0] && strcasecmp(cfg->groups[k].name, g->name) == 0) {
				ld_msg(
				    ld, true, g->line, 1,
				    "duplicate group '%s' (first defined at line %d; group names "
				    "compare case-insensitively)",
				    g->name, cfg->groups[k].line);
				break;
			}
	}
}

static void ld_entries(struct loader *ld, const struct toml_kv *kv, struct acl_config *cfg,
                       bool users)
{
	if (!ld_type(ld, kv, TOML_ARRAY, "array of tables"))
		return;
	size_t n = toml_array_len(kv->val);
	if (users)
		cfg->users = xcalloc(n ? n : 1, sizeof(*cfg->users));
	else
		cfg->groups = xcalloc(n ? n : 1, sizeof(*cfg->groups));
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *e = toml_array_at(kv->val, i);
		if (e->type != TOML_TABLE) {
			ld_msg(ld, true, e->line, e->col, "'%s'[%zu]: expected table, got %s",
			       kv->key, i, toml_type_name(e->type));
			continue;
		}
		if (users)
			ld_user(ld, e, &cfg->users[cfg->n_users++]);
		else
			ld_group(ld, e, &cfg->groups[cfg->n_groups++]);
	}
}

static struct acl_config *ld_tree(struct loader *ld, const struct toml_value *root)
{
	struct acl_config *cfg = acl_config_new();
	for (size_t i = 0; i < toml_table_len(root); i++) {
		const struct toml_kv *kv = toml_table_at(root, i);
		if (strcmp(kv->key, "global") == 0)
			ld_global(ld, kv, cfg);
		else if (strcmp(kv->key, "users") == 0)
			ld_entries(ld, kv, cfg, true);
		else if (strcmp(kv->key, "groups") == 0)
			ld_entries(ld, kv, cfg, false);
		else
			ld_msg(ld, false, kv->line, kv->col, "unknown key '%s'", kv->key);
	}
	ld_check_names(ld, cfg);
	if (ld->errors) {
		acl_config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct acl_config *acl_config_parse(const char *text, size_t len, const char *filename,
                                    struct acl_msgs *msgs)
{
	char err[512];
	struct loader ld = {.file = filename ? filename : "acl", .msgs = msgs};
	struct toml_value *root = toml_parse(text, len, ld.file, err, sizeof(err));
	if (!root) {
		acl_msgs_add(msgs, true, "%s", err);
		return NULL;
	}
	struct acl_config *cfg = ld_tree(&ld, root);
	toml_free(root);
	return cfg;
}

struct acl_config *acl_config_load(const char *path, struct acl_msgs *msgs)
{
	char err[512];
	struct loader ld = {.file = path, .msgs = msgs};
	struct toml_value *root = toml_parse_file(path, err, sizeof(err));
	if (!root) {
		acl_msgs_add(msgs, true, "%s", err);
		return NULL;
	}
	struct acl_config *cfg = ld_tree(&ld, root);
	toml_free(root);
	return cfg;
}
