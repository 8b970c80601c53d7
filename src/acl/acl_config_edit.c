/* Validating and editing an ACL model in memory: the checks for models the
 * admin API builds, and the default policy and the users', groups' and
 * rules' add / replace / delete that the API's ACL routes use
 * (api_acl_edit.c). Every entry is validated before it goes in, so a model
 * edited here always passes acl_config_validate. */
#include "acl/acl_config_edit.h"

#include "acl/acl_internal.h"
#include "acl/acl_match.h"
#include "util/strutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
			if (cfg->users[k].username &&
			    strcmp(cfg->users[k].username, u->username) == 0) {
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
			if (cfg->groups[k].name && strcasecmp(cfg->groups[k].name, g->name) == 0) {
				acl_msgs_add(msgs, true, "duplicate group '%s'", g->name);
				errors++;
			}
		snprintf(owner, sizeof(owner), "group '%s'", g->name);
		rules_validate(owner, g->rules, g->n_rules, msgs, &errors);
	}
	return errors;
}

/* ---- CRUD -------------------------------------------------------------- */

int acl_config_set_default_policy(struct acl_config *cfg, enum acl_action policy)
{
	if (policy != ACL_ALLOW && policy != ACL_BLOCK)
		return -EINVAL;
	cfg->default_policy = policy;
	return 0;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		cs_strlcpy(err, msg, errlen);
}

/* Copy a rule, rewriting CIDRs with host bits to their network. */
static int rule_copy_checked(struct acl_rule *dst, const struct acl_rule *src, char *err,
                             size_t errlen)
{
	int rc = acl_rule_validate(src, err, errlen);
	if (rc < 0)
		return rc;
	acl_rule_copy(dst, src);
	dst->line = 0;
	for (size_t i = 0; i < dst->n_destinations; i++) {
		struct acl_dest d;
		char norm[80];
		const char *s = dst->destinations[i];
		if (acl_dest_parse(s, strlen(s), &d, NULL, 0) == ACL_PARSE_NORMALISED) {
			acl_dest_format(&d, norm, sizeof(norm));
			free(dst->destinations[i]);
			dst->destinations[i] = xstrdup(norm);
		}
	}
	return 0;
}

static int rules_copy_checked(struct acl_rule **out, const struct acl_rule *r, size_t n, char *err,
                              size_t errlen)
{
	struct acl_rule *d = xcalloc(n ? n : 1, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		int rc = rule_copy_checked(&d[i], &r[i], err, errlen);
		if (rc < 0) {
			acl_rules_free(d, i);
			return rc;
		}
	}
	*out = d;
	return 0;
}

static int user_build(struct acl_user *dst, const struct acl_user *u, char *err, size_t errlen)
{
	if (!u->username || !u->username[0]) {
		set_err(err, errlen, "empty username");
		return -EINVAL;
	}
	memset(dst, 0, sizeof(*dst));
	int rc = rules_copy_checked(&dst->rules, u->rules, u->n_rules, err, errlen);
	if (rc < 0)
		return rc;
	dst->n_rules = u->n_rules;
	dst->username = xstrdup(u->username);
	dst->groups = acl_strv_dup(u->groups, u->n_groups);
	dst->n_groups = u->n_groups;
	return 0;
}

static int group_build(struct acl_group *dst, const struct acl_group *g, char *err, size_t errlen)
{
	if (!g->name || !g->name[0]) {
		set_err(err, errlen, "empty group name");
		return -EINVAL;
	}
	memset(dst, 0, sizeof(*dst));
	int rc = rules_copy_checked(&dst->rules, g->rules, g->n_rules, err, errlen);
	if (rc < 0)
		return rc;
	dst->n_rules = g->n_rules;
	dst->name = xstrdup(g->name);
	return 0;
}

int acl_config_user_add(struct acl_config *cfg, const struct acl_user *u, char *err, size_t errlen)
{
	struct acl_user nu;
	if (u->username && acl_config_find_user(cfg, u->username)) {
		set_err(err, errlen, "user already exists");
		return -EEXIST;
	}
	int rc = user_build(&nu, u, err, errlen);
	if (rc < 0)
		return rc;
	cfg->users = xrealloc(cfg->users, (cfg->n_users + 1) * sizeof(*cfg->users));
	cfg->users[cfg->n_users++] = nu;
	return 0;
}

int acl_config_user_replace(struct acl_config *cfg, const char *username, const struct acl_user *u,
                            char *err, size_t errlen)
{
	struct acl_user nu, *old = acl_config_find_user(cfg, username);
	if (!old) {
		set_err(err, errlen, "no such user");
		return -ENOENT;
	}
	struct acl_user *other = u->username ? acl_config_find_user(cfg, u->username) : NULL;
	if (other && other != old) {
		set_err(err, errlen, "user already exists");
		return -EEXIST;
	}
	int rc = user_build(&nu, u, err, errlen);
	if (rc < 0)
		return rc;
	nu.line = old->line;
	acl_user_fini(old);
	*old = nu;
	return 0;
}

int acl_config_user_del(struct acl_config *cfg, const char *username)
{
	struct acl_user *u = acl_config_find_user(cfg, username);
	if (!u)
		return -ENOENT;
	size_t i = (size_t)(u - cfg->users);
	acl_user_fini(u);
	memmove(&cfg->users[i], &cfg->users[i + 1], (cfg->n_users - i - 1) * sizeof(*u));
	cfg->n_users--;
	return 0;
}

int acl_config_group_add(struct acl_config *cfg, const struct acl_group *g, char *err,
                         size_t errlen)
{
	struct acl_group ng;
	if (g->name && acl_config_find_group(cfg, g->name)) {
		set_err(err, errlen, "group already exists");
		return -EEXIST;
	}
	int rc = group_build(&ng, g, err, errlen);
	if (rc < 0)
		return rc;
	cfg->groups = xrealloc(cfg->groups, (cfg->n_groups + 1) * sizeof(*cfg->groups));
	cfg->groups[cfg->n_groups++] = ng;
	return 0;
}

int acl_config_group_del(struct acl_config *cfg, const char *name)
{
	struct acl_group *g = acl_config_find_group(cfg, name);
	if (!g)
		return -ENOENT;
	size_t i = (size_t)(g - cfg->groups);
	acl_group_fini(g);
	memmove(&cfg->groups[i], &cfg->groups[i + 1], (cfg->n_groups - i - 1) * sizeof(*g));
	cfg->n_groups--;
	return 0;
}

static int owner_rules(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                       struct acl_rule ***rules, size_t **n)
{
	if (kind == ACL_OWNER_USER) {
		struct acl_user *u = acl_config_find_user(cfg, owner);
		if (!u)
			return -ENOENT;
		*rules = &u->rules;
		*n = &u->n_rules;
	} else {
		struct acl_group *g = acl_config_find_group(cfg, owner);
		if (!g)
			return -ENOENT;
		*rules = &g->rules;
		*n = &g->n_rules;
	}
	return 0;
}

static bool strv_same(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* "[\"a\", \"b\"]" of a string list, cut to fit. */
static void strv_text(char *const *v, size_t n, char *buf, size_t size)
{
	size_t o = 0;
	o += (size_t)snprintf(buf, size, "[");
	for (size_t i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s\"%s\"", i ? ", " : "", v[i]);
	if (o < size)
		snprintf(buf + o, size - o, "]");
}

/* As RustSocks: adding a rule to a user or group that does not exist
 * creates it, and a rule with the same destinations and ports as one the
 * owner has is refused (-EEXIST). */
int acl_config_rule_add(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                        const struct acl_rule *r, char *err, size_t errlen)
{
	struct acl_rule **rules, nr;
	size_t *n;
	int rc = rule_copy_checked(&nr, r, err, errlen);
	if (rc < 0)
		return rc;
	if (owner_rules(cfg, kind, owner, &rules, &n) < 0) {
		struct acl_user u = {.username = (char *)owner};
		struct acl_group g = {.name = (char *)owner};
		rc = kind == ACL_OWNER_USER ? acl_config_user_add(cfg, &u, err, errlen)
		                            : acl_config_group_add(cfg, &g, err, errlen);
		if (rc < 0 || owner_rules(cfg, kind, owner, &rules, &n) < 0) {
			acl_rule_fini(&nr);
			return rc < 0 ? rc : -ENOENT;
		}
	}
	for (size_t i = 0; i < *n; i++) {
		const struct acl_rule *o = &(*rules)[i];
		if (strv_same(o->destinations, o->n_destinations, nr.destinations,
		              nr.n_destinations) &&
		    strv_same(o->ports, o->n_ports, nr.ports, nr.n_ports)) {
			char d[160], p[96], msg[320];
			strv_text(nr.destinations, nr.n_destinations, d, sizeof(d));
			strv_text(nr.ports, nr.n_ports, p, sizeof(p));
			snprintf(msg, sizeof(msg),
			         "Rule with destinations %s and ports %s already exists %s '%s'", d,
			         p, kind == ACL_OWNER_USER ? "for user" : "in group", owner);
			set_err(err, errlen, msg);
			acl_rule_fini(&nr);
			return -EEXIST;
		}
	}
	*rules = xrealloc(*rules, (*n + 1) * sizeof(**rules));
	(*rules)[(*n)++] = nr;
	return 0;
}

int acl_config_rule_replace(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                            size_t index, const struct acl_rule *r, char *err, size_t errlen)
{
	struct acl_rule **rules, nr;
	size_t *n;
	if (owner_rules(cfg, kind, owner, &rules, &n) < 0 || index >= *n) {
		set_err(err, errlen, "no such rule");
		return -ENOENT;
	}
	int rc = rule_copy_checked(&nr, r, err, errlen);
	if (rc < 0)
		return rc;
	nr.line = (*rules)[index].line;
	acl_rule_fini(&(*rules)[index]);
	(*rules)[index] = nr;
	return 0;
}

int acl_config_rule_del(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                        size_t index)
{
	struct acl_rule **rules;
	size_t *n;
	if (owner_rules(cfg, kind, owner, &rules, &n) < 0 || index >= *n)
		return -ENOENT;
	acl_rule_fini(&(*rules)[index]);
	memmove(&(*rules)[index], &(*rules)[index + 1], (*n - index - 1) * sizeof(**rules));
	(*n)--;
	return 0;
}
