/* The ACL model as RustSocks' JSON (users, groups, rules and the
 * RuleIdentifier of the rule routes), and an engine decision as the verdict
 * the decision-test route reports. */
#include "api/api_acl_json.h"

#include "acl/acl_config_edit.h"
#include "acl/acl_match.h"
#include "util/strutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void api_acl_verdict_fill(const struct acl_decision *d, struct api_acl_verdict *out)
{
	memset(out, 0, sizeof(*out));
	out->allow = d->allow;
	out->default_policy = d->default_policy || !d->rule;
	out->provisional = d->provisional;
	if (d->rule) {
		cs_strlcpy(out->rule_description, d->rule->description ? d->rule->description : "",
		           sizeof(out->rule_description));
		cs_strlcpy(out->rule_owner, d->rule->owner ? d->rule->owner : "",
		           sizeof(out->rule_owner));
		out->owner_kind = d->rule->owner_kind;
		out->rule_priority = d->rule->priority;
		out->rule_index = d->rule->index;
	}
}

json_t *api_acl_strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *protocols_json(unsigned bits)
{
	json_t *a = json_array();
	if (bits == ACL_PROTO_BOTH)
		json_array_append_new(a, json_string("both"));
	else if (bits == ACL_PROTO_TCP)
		json_array_append_new(a, json_string("tcp"));
	else if (bits == ACL_PROTO_UDP)
		json_array_append_new(a, json_string("udp"));
	return a;
}

json_t *api_acl_rule_json(const struct acl_rule *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "action", json_string(acl_action_name(r->action)));
	json_object_set_new(o, "description", json_string(r->description ? r->description : ""));
	json_object_set_new(o, "destinations",
	                    api_acl_strv_json(r->destinations, r->n_destinations));
	json_object_set_new(o, "ports", api_acl_strv_json(r->ports, r->n_ports));
	json_object_set_new(o, "protocols", protocols_json(r->protocols));
	json_object_set_new(o, "priority", json_integer(r->priority));
	return o;
}

static json_t *rules_json(const struct acl_rule *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, api_acl_rule_json(&v[i]));
	return a;
}

json_t *api_acl_user_json(const struct acl_user *u)
{
	return json_pack("{s:s, s:o, s:o}", "username", u->username, "groups",
	                 api_acl_strv_json(u->groups, u->n_groups), "rules",
	                 rules_json(u->rules, u->n_rules));
}

json_t *api_acl_group_json(const struct acl_group *g)
{
	return json_pack("{s:s, s:o}", "name", g->name, "rules", rules_json(g->rules, g->n_rules));
}

/* An array of strings from JSON, borrowing the string values (valid while
 * the JSON lives). Missing -> def (may be NULL = required). 0, or -1 with
 * err. */
int api_acl_strv_from_json(json_t *o, const char *key, const char *def, bool nonempty, char ***out,
                           size_t *n, char *err, size_t errlen)
{
	json_t *a = json_object_get(o, key);
	*out = NULL;
	*n = 0;
	if (!a || json_is_null(a)) {
		if (!def) {
			snprintf(err, errlen, "'%s' is required (array of strings)", key);
			return -1;
		}
		*out = xmalloc(sizeof(char *));
		(*out)[0] = (char *)def;
		*n = 1;
		return 0;
	}
	if (!json_is_array(a)) {
		snprintf(err, errlen, "'%s' must be an array of strings", key);
		return -1;
	}
	size_t len = json_array_size(a);
	if (nonempty && len == 0) {
		snprintf(err, errlen, "'%s' must not be empty", key);
		return -1;
	}
	*out = xcalloc(len ? len : 1, sizeof(char *));
	for (size_t i = 0; i < len; i++) {
		json_t *s = json_array_get(a, i);
		if (!json_is_string(s)) {
			snprintf(err, errlen, "'%s'[%zu] must be a string", key, i);
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[i] = (char *)json_string_value(s);
	}
	*n = len;
	return 0;
}

/* AddRuleRequest -> rule (arrays allocated, strings borrowed from o; free
 * with api_acl_rule_fini). Defaults: description "", ports ["*"], protocols
 * ["both"], priority 100. 0, or -1 with err. */
int api_acl_rule_from_json(json_t *o, struct acl_rule *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "rule must be a JSON object");
		return -1;
	}
	json_t *a = json_object_get(o, "action");
	if (!json_is_string(a) ||
	    acl_action_parse(json_string_value(a), json_string_length(a), &r->action) != 0) {
		snprintf(err, errlen, "'action' must be \"allow\" or \"block\"");
		return -1;
	}
	json_t *d = json_object_get(o, "description");
	if (d && !json_is_null(d) && !json_is_string(d)) {
		snprintf(err, errlen, "'description' must be a string");
		return -1;
	}
	r->description = (char *)(json_is_string(d) ? json_string_value(d) : "");
	json_t *p = json_object_get(o, "priority");
	r->priority = ACL_DEFAULT_PRIORITY;
	if (p && !json_is_null(p)) {
		if (!json_is_integer(p) || json_integer_value(p) < 0 ||
		    json_integer_value(p) > 4294967295LL) {
			snprintf(err, errlen, "'priority' must be an integer in 0..4294967295");
			return -1;
		}
		r->priority = (uint32_t)json_integer_value(p);
	}
	char **protos = NULL;
	size_t n_protos = 0;
	if (api_acl_strv_from_json(o, "protocols", "both", true, &protos, &n_protos, err, errlen) !=
	    0)
		return -1;
	for (size_t i = 0; i < n_protos; i++) {
		unsigned bits;
		if (acl_proto_parse(protos[i], strlen(protos[i]), &bits) != 0) {
			snprintf(err, errlen, "protocol '%s' must be tcp, udp or both", protos[i]);
			free(protos);
			return -1;
		}
		r->protocols |= bits;
	}
	free(protos);
	if (api_acl_strv_from_json(o, "destinations", NULL, true, &r->destinations,
	                           &r->n_destinations, err, errlen) != 0)
		return -1;
	if (api_acl_strv_from_json(o, "ports", "*", true, &r->ports, &r->n_ports, err, errlen) !=
	    0) {
		free(r->destinations);
		r->destinations = NULL;
		return -1;
	}
	if (acl_rule_validate(r, err, errlen) != 0) {
		free(r->destinations);
		free(r->ports);
		r->destinations = r->ports = NULL;
		return -1;
	}
	return 0;
}

void api_acl_rule_fini(struct acl_rule *r)
{
	free(r->destinations);
	free(r->ports);
}

static bool strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(a[i], b[i]) != 0)
			return false;
	}
	return true;
}

/* RustSocks' RuleIdentifier: the rule whose destinations equal the given
 * list and, when ports are given, whose ports equal them too. Index or -1;
 * -2 with rs filled on a malformed identifier. */
long api_acl_rule_find(json_t *ident, const struct acl_rule *rules, size_t n, struct api_resp *rs)
{
	char err[256];
	char **dest = NULL, **ports = NULL;
	size_t nd = 0, np = 0;
	if (!json_is_object(ident)) {
		api_error(rs, 400, "rule identifier must be an object with 'destinations'");
		return -2;
	}
	if (api_acl_strv_from_json(ident, "destinations", NULL, true, &dest, &nd, err,
	                           sizeof(err)) != 0) {
		api_error(rs, 400, "%s", err);
		return -2;
	}
	json_t *pj = json_object_get(ident, "ports");
	bool want_ports = pj && !json_is_null(pj);
	if (want_ports && api_acl_strv_from_json(ident, "ports", NULL, false, &ports, &np, err,
	                                         sizeof(err)) != 0) {
		free(dest);
		api_error(rs, 400, "%s", err);
		return -2;
	}
	long found = -1;
	for (size_t i = 0; i < n && found < 0; i++) {
		if (strv_equal(rules[i].destinations, rules[i].n_destinations, dest, nd) &&
		    (!want_ports || strv_equal(rules[i].ports, rules[i].n_ports, ports, np)))
			found = (long)i;
	}
	free(dest);
	free(ports);
	return found;
}
