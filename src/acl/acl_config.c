#include "acl/acl_config.h"
#include "acl/acl_config_impl.h"

#include "acl/acl_match.h"
#include "toml/toml.h"
#include "util/strutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- messages ---------------------------------------------------------- */

void acl_msgs_init(struct acl_msgs *m)
{
	memset(m, 0, sizeof(*m));
}

void acl_msgs_fini(struct acl_msgs *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
	free(m->is_error);
	memset(m, 0, sizeof(*m));
}

static void msgs_vadd(struct acl_msgs *m, bool error, const char *fmt, va_list ap)
{
	char buf[1024];
	if (!m)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->is_error = xrealloc(m->is_error, (m->n + 1) * sizeof(*m->is_error));
	m->v[m->n] = xstrdup(buf);
	m->is_error[m->n] = error;
	m->n++;
	if (error)
		m->n_errors++;
	else
		m->n_warnings++;
}

void acl_msgs_add(struct acl_msgs *m, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	msgs_vadd(m, error, fmt, ap);
	va_end(ap);
}

char *acl_msgs_join(const struct acl_msgs *m)
{
	size_t len = 0, o = 0;
	if (!m || m->n == 0)
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		len += strlen(m->v[i]) + 1;
	char *s = xmalloc(len);
	for (size_t i = 0; i < m->n; i++) {
		size_t l = strlen(m->v[i]);
		memcpy(s + o, m->v[i], l);
		o += l;
		s[o++] = i + 1 < m->n ? '\n' : '\0';
	}
	return s;
}

/* ---- model helpers ----------------------------------------------------- */

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

char **acl_strv_dup(char *const *v, size_t n)
{
	char **r = xcalloc(n ? n : 1, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i] ? v[i] : "");
	return r;
}

void acl_rule_fini(struct acl_rule *r)
{
	free(r->description);
	strv_free(r->destinations, r->n_destinations);
	strv_free(r->ports, r->n_ports);
	memset(r, 0, sizeof(*r));
}

void acl_rules_free(struct acl_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		acl_rule_fini(&r[i]);
	free(r);
}

void acl_user_fini(struct acl_user *u)
{
	free(u->username);
	strv_free(u->groups, u->n_groups);
	acl_rules_free(u->rules, u->n_rules);
	memset(u, 0, sizeof(*u));
}

void acl_group_fini(struct acl_group *g)
{
	free(g->name);
	acl_rules_free(g->rules, g->n_rules);
	memset(g, 0, sizeof(*g));
}

void acl_config_free(struct acl_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_users; i++)
		acl_user_fini(&cfg->users[i]);
	for (size_t i = 0; i < cfg->n_groups; i++)
		acl_group_fini(&cfg->groups[i]);
	free(cfg->users);
	free(cfg->groups);
	free(cfg);
}

struct acl_config *acl_config_new(void)
{
	struct acl_config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->default_policy = ACL_BLOCK;
	return cfg;
}

void acl_rule_copy(struct acl_rule *dst, const struct acl_rule *src)
{
	*dst = *src;
	dst->description = xstrdup(src->description ? src->description : "");
	dst->destinations = acl_strv_dup(src->destinations, src->n_destinations);
	dst->ports = acl_strv_dup(src->ports, src->n_ports);
}

static struct acl_rule *rules_dup(const struct acl_rule *r, size_t n)
{
	struct acl_rule *d = xcalloc(n ? n : 1, sizeof(*d));
	for (size_t i = 0; i < n; i++)
		acl_rule_copy(&d[i], &r[i]);
	return d;
}

static void user_copy(struct acl_user *d, const struct acl_user *s)
{
	*d = *s;
	d->username = xstrdup(s->username ? s->username : "");
	d->groups = acl_strv_dup(s->groups, s->n_groups);
	d->rules = rules_dup(s->rules, s->n_rules);
}

static void group_copy(struct acl_group *d, const struct acl_group *s)
{
	*d = *s;
	d->name = xstrdup(s->name ? s->name : "");
	d->rules = rules_dup(s->rules, s->n_rules);
}

struct acl_config *acl_config_dup(const struct acl_config *cfg)
{
	struct acl_config *d = acl_config_new();
	d->default_policy = cfg->default_policy;
	d->users = xcalloc(cfg->n_users ? cfg->n_users : 1, sizeof(*d->users));
	d->groups = xcalloc(cfg->n_groups ? cfg->n_groups : 1, sizeof(*d->groups));
	for (size_t i = 0; i < cfg->n_users; i++)
		user_copy(&d->users[i], &cfg->users[i]);
	d->n_users = cfg->n_users;
	for (size_t i = 0; i < cfg->n_groups; i++)
		group_copy(&d->groups[i], &cfg->groups[i]);
	d->n_groups = cfg->n_groups;
	return d;
}

static bool strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool rules_equal(const struct acl_rule *a, size_t na, const struct acl_rule *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		const struct acl_rule *x = &a[i], *y = &b[i];
		if (x->action != y->action || x->priority != y->priority ||
		    x->protocols != y->protocols || strcmp(x->description, y->description) != 0 ||
		    !strv_equal(x->destinations, x->n_destinations, y->destinations,
		                y->n_destinations) ||
		    !strv_equal(x->ports, x->n_ports, y->ports, y->n_ports))
			return false;
	}
	return true;
}

bool acl_config_equal(const struct acl_config *a, const struct acl_config *b)
{
	if (a->default_policy != b->default_policy || a->n_users != b->n_users ||
	    a->n_groups != b->n_groups)
		return false;
	for (size_t i = 0; i < a->n_users; i++) {
		const struct acl_user *x = &a->users[i], *y = &b->users[i];
		if (strcmp(x->username, y->username) != 0 ||
		    !strv_equal(x->groups, x->n_groups, y->groups, y->n_groups) ||
		    !rules_equal(x->rules, x->n_rules, y->rules, y->n_rules))
			return false;
	}
	for (size_t i = 0; i < a->n_groups; i++) {
		const struct acl_group *x = &a->groups[i], *y = &b->groups[i];
		if (strcmp(x->name, y->name) != 0 ||
		    !rules_equal(x->rules, x->n_rules, y->rules, y->n_rules))
			return false;
	}
	return true;
}

struct acl_user *acl_config_find_user(const struct acl_config *cfg, const char *username)
{
	for (size_t i = 0; i < cfg->n_users; i++)
		if (strcmp(cfg->users[i].username, username) == 0)
			return &cfg->users[i];
	return NULL;
}

struct acl_group *acl_config_find_group(const struct acl_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_groups; i++)
		if (strcasecmp(cfg->groups[i].name, name) == 0)
			return &cfg->groups[i];
	return NULL;
}

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

static void ld_user(struct loader *ld, const struct toml_value *t, struct acl_user *u)
{
	char owner[300];
	const struct toml_value *name = toml_table_get(t, "username");

	memset(u, 0, sizeof(*u));
	u->line = t->line;
	if (name && name->type == TOML_STRING && name->u.str.len > 0) {
		u->username = xstrndup(name->u.str.ptr, name->u.str.len);
	} else {
		if (!name)
			ld_msg(ld, true, t->line, t->col, "user entry: missing 'username'");
		else if (name->type == TOML_STRING)
			ld_msg(ld, true, name->line, name->col, "'username' is empty");
		u->username = xstrdup("");
	}
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
	const struct toml_value *name = toml_table_get(t, "name");

	memset(g, 0, sizeof(*g));
	g->line = t->line;
	if (name && name->type == TOML_STRING && name->u.str.len > 0) {
		g->name = xstrndup(name->u.str.ptr, name->u.str.len);
	} else {
		if (!name)
			ld_msg(ld, true, t->line, t->col, "group entry: missing 'name'");
		else if (name->type == TOML_STRING)
			ld_msg(ld, true, name->line, name->col, "'name' is empty");
		g->name = xstrdup("");
	}
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

/* ---- validation of in-memory models ----------------------------------- */

int acl_rule_validate(const struct acl_rule *r, char *err, size_t errlen)
{
	char e[300];
	if (r->action != ACL_ALLOW && r->action != ACL_BLOCK) {
		snprintf(err ? err : e, err ? errlen : sizeof(e), "unknown action");
		return -EINVAL;
	}
	if (r->protocols & ~(unsigned)ACL_PROTO_BOTH) {
		snprintf(err ? err : e, err ? errlen : sizeof(e), "unknown protocol bits");
		return -EINVAL;
	}
	for (size_t i = 0; i < r->n_destinations; i++) {
		struct acl_dest d;
		const char *s = r->destinations[i];
		if (!s || acl_dest_parse(s, strlen(s), &d, err ? err : e,
		                         err ? errlen : sizeof(e)) == ACL_PARSE_ERROR)
			return -EINVAL;
	}
	for (size_t i = 0; i < r->n_ports; i++) {
		bool any;
		const char *s = r->ports[i];
		if (!s || acl_ports_parse(s, strlen(s), NULL, 0, &any, err ? err : e,
		                          err ? errlen : sizeof(e)) < 0)
			return -EINVAL;
	}
	if (err && errlen)
		err[0] = '\0';
	return 0;
}

static void rules_validate(const char *owner, const struct acl_rule *r, size_t n,
                           struct acl_msgs *msgs, size_t *errors)
{
	char err[300];
	for (size_t i = 0; i < n; i++)
		if (acl_rule_validate(&r[i], err, sizeof(err)) < 0) {
			acl_msgs_add(msgs, true, "%s rule %zu: %s", owner, i, err);
			(*errors)++;
		}
}

size_t acl_config_validate(const struct acl_config *cfg, struct acl_msgs *msgs)
{
	size_t errors = 0;
	char owner[300];
	if (cfg->default_policy != ACL_ALLOW && cfg->default_policy != ACL_BLOCK) {
		acl_msgs_add(msgs, true, "unknown default_policy");
		errors++;
	}
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct acl_user *u = &cfg->users[i];
		if (!u->username || !u->username[0]) {
			acl_msgs_add(msgs, true, "user %zu: empty username", i);
			errors++;
			continue;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->users[k].username, u->username) == 0) {
				acl_msgs_add(msgs, true, "duplicate user '%s'", u->username);
				errors++;
			}
		snprintf(owner, sizeof(owner), "user '%s'", u->username);
		rules_validate(owner, u->rules, u->n_rules, msgs, &errors);
	}
	for (size_t i = 0; i < cfg->n_groups; i++) {
		const struct acl_group *g = &cfg->groups[i];
		if (!g->name || !g->name[0]) {
			acl_msgs_add(msgs, true, "group %zu: empty name", i);
			errors++;
			continue;
		}
		for (size_t k = 0; k < i; k++)
			if (strcasecmp(cfg->groups[k].name, g->name) == 0) {
				acl_msgs_add(msgs, true, "duplicate group '%s'", g->name);
				errors++;
			}
		snprintf(owner, sizeof(owner), "group '%s'", g->name);
		rules_validate(owner, g->rules, g->n_rules, msgs, &errors);
	}
	return errors;
}

/* ---- serialising ------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* A TOML basic string: quotes, backslashes and control characters escaped. */
static void sb_str(struct sbuf *b, const char *s)
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

static void sb_strv(struct sbuf *b, const char *key, char *const *v, size_t n)
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

static void sb_rules(struct sbuf *b, const char *header, const struct acl_rule *r, size_t n)
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
	struct sbuf b = {0};
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
	if (len)
		*len = b.len;
	return b.p;
}

int acl_config_write(const struct acl_config *cfg, const char *path)
{
	size_t len;
	char *text = acl_config_to_toml(cfg, &len);
	int rc = cs_write_file_atomic(path, text, len) < 0 ? -errno : 0;
	free(text);
	return rc;
}
