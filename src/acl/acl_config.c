/* The ACL file model's lifetime: validation message lists, freeing,
 * copying, comparing and looking up users and groups. */
#include "acl/acl_config.h"

#include "acl/acl_internal.h"
#include "util/strutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
	d->mode = cfg->mode;
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
