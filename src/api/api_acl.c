/* ACL endpoints: reload, rules summary, decision test, and CRUD on users,
 * groups, rules and the global policy (RustSocks' paths and JSON, see
 * src/api/handlers/acl_management.rs there). Every edit is: lock, read the
 * file, change the model, validate it, write it atomically, reload the
 * engine from it. The file is the single source of truth, as in RustSocks,
 * so hand edits and API edits compose. */
#include "api/api_internal.h"

#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_config_edit.h"
#include "acl/acl_config_write.h"
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

static bool acl_enabled(struct api_state *st, struct api_resp *rs)
{
	if (!st->src.acl_file) {
		api_error(rs, 400, "ACL is not enabled");
		return false;
	}
	return true;
}

/* ---- model <-> JSON ---- */

static json_t *strv_json(char *const *v, size_t n)
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

static json_t *rule_json(const struct acl_rule *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "action", json_string(acl_action_name(r->action)));
	json_object_set_new(o, "description", json_string(r->description ? r->description : ""));
	json_object_set_new(o, "destinations", strv_json(r->destinations, r->n_destinations));
	json_object_set_new(o, "ports", strv_json(r->ports, r->n_ports));
	json_object_set_new(o, "protocols", protocols_json(r->protocols));
	json_object_set_new(o, "priority", json_integer(r->priority));
	return o;
}

static json_t *rules_json(const struct acl_rule *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, rule_json(&v[i]));
	return a;
}

static json_t *user_json(const struct acl_user *u)
{
	return json_pack("{s:s, s:o, s:o}", "username", u->username, "groups",
	                 strv_json(u->groups, u->n_groups), "rules",
	                 rules_json(u->rules, u->n_rules));
}

static json_t *group_json(const struct acl_group *g)
{
	return json_pack("{s:s, s:o}", "name", g->name, "rules", rules_json(g->rules, g->n_rules));
}

/* An array of strings from JSON, borrowing the string values (valid while
 * the JSON lives). Missing -> def (may be NULL = required). 0, or -1 with
 * err. */
static int strv_from_json(json_t *o, const char *key, const char *def, bool nonempty, char ***out,
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
 * with rule_fini). Defaults: description "", ports ["*"], protocols
 * ["both"], priority 100. 0, or -1 with err. */
static int rule_from_json(json_t *o, struct acl_rule *r, char *err, size_t errlen)
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
	if (strv_from_json(o, "protocols", "both", true, &protos, &n_protos, err, errlen) != 0)
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
	if (strv_from_json(o, "destinations", NULL, true, &r->destinations, &r->n_destinations, err,
	                   errlen) != 0)
		return -1;
	if (strv_from_json(o, "ports", "*", true, &r->ports, &r->n_ports, err, errlen) != 0) {
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

static void rule_fini(struct acl_rule *r)
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
static long rule_find(json_t *ident, const struct acl_rule *rules, size_t n, struct api_resp *rs)
{
	char err[256];
	char **dest = NULL, **ports = NULL;
	size_t nd = 0, np = 0;
	if (!json_is_object(ident)) {
		api_error(rs, 400, "rule identifier must be an object with 'destinations'");
		return -2;
	}
	if (strv_from_json(ident, "destinations", NULL, true, &dest, &nd, err, sizeof(err)) != 0) {
		api_error(rs, 400, "%s", err);
		return -2;
	}
	json_t *pj = json_object_get(ident, "ports");
	bool want_ports = pj && !json_is_null(pj);
	if (want_ports &&
	    strv_from_json(ident, "ports", NULL, false, &ports, &np, err, sizeof(err)) != 0) {
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

/* ---- load / commit ---- */

static struct acl_config *acl_load(struct api_state *st, struct api_resp *rs)
{
	struct acl_msgs msgs;
	acl_msgs_init(&msgs);
	struct acl_config *cfg = acl_config_load(st->src.acl_file, &msgs);
	if (!cfg) {
		char *all = acl_msgs_join(&msgs);
		api_error(rs, 500, "cannot load ACL file %s: %s", st->src.acl_file,
		          all ? all : "unknown error");
		free(all);
	}
	acl_msgs_fini(&msgs);
	return cfg;
}

/* Validate, write, reload. On success answers 200 with body (stolen);
 * otherwise frees body and answers the error. */
static void acl_commit(struct api_state *st, struct acl_config *cfg, json_t *body,
                       struct api_resp *rs)
{
	struct acl_msgs msgs;
	acl_msgs_init(&msgs);
	if (acl_config_validate(cfg, &msgs) != 0) {
		char *all = acl_msgs_join(&msgs);
		api_error(rs, 400, "invalid ACL: %s", all ? all : "validation failed");
		free(all);
		acl_msgs_fini(&msgs);
		json_decref(body);
		return;
	}
	acl_msgs_fini(&msgs);
	int rc = acl_config_write(cfg, st->src.acl_file);
	if (rc != 0) {
		api_error(rs, 500, "cannot write %s: %s", st->src.acl_file, strerror(-rc));
		json_decref(body);
		return;
	}
	if (st->src.acl_reload) {
		char err[512] = "";
		if (st->src.acl_reload(st->src.ctx, err, sizeof(err)) != 0) {
			api_error(rs, 500, "ACL file written but reload failed: %s", err);
			json_decref(body);
			return;
		}
	}
	api_json(rs, 200, body);
}

static json_t *op_ok(const char *msg)
{
	return json_pack("{s:b, s:s}", "success", 1, "message", msg);
}

/* Map an acl_config_* result to an HTTP error. */
static void crud_error(struct api_resp *rs, int rc, const char *err, const char *what)
{
	if (rc == -ENOENT)
		api_error(rs, 404, "%s not found", what);
	else if (rc == -EEXIST)
		api_error(rs, 409, "%s already exists", what);
	else
		api_error(rs, 400, "%s", err && *err ? err : "invalid input");
}

/* ---- handlers; st->acl_mu held for all of them ---- */

static void h_rules(struct api_state *st, struct api_resp *rs)
{
	struct acl_config *cfg = acl_load(st, rs);
	if (!cfg)
		return;
	char msg[128];
	snprintf(msg, sizeof(msg), "ACL has %zu users and %zu groups configured", cfg->n_users,
	         cfg->n_groups);
	json_t *users = json_array(), *groups = json_array();
	for (size_t i = 0; i < cfg->n_users; i++)
		json_array_append_new(users, user_json(&cfg->users[i]));
	for (size_t i = 0; i < cfg->n_groups; i++)
		json_array_append_new(groups, group_json(&cfg->groups[i]));
	api_json(rs, 200,
	         json_pack("{s:I, s:I, s:s, s:s, s:o, s:o}", "user_count", (json_int_t)cfg->n_users,
	                   "group_count", (json_int_t)cfg->n_groups, "message", msg,
	                   "default_policy", acl_action_name(cfg->default_policy), "users", users,
	                   "groups", groups));
	acl_config_free(cfg);
}

static void h_reload(struct api_state *st, struct api_resp *rs)
{
	char err[512] = "";
	if (!st->src.acl_reload) {
		api_error(rs, 503, "ACL reload not available");
		return;
	}
	if (st->src.acl_reload(st->src.ctx, err, sizeof(err)) != 0) {
		api_json(rs, 500,
		         json_pack("{s:b, s:s, s:s}", "success", 0, "message",
		                   "Failed to reload ACL", "error", err));
		return;
	}
	api_json(rs, 200, op_ok("ACL reloaded successfully"));
}

static void h_test(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	json_t *ju = json_object_get(b, "user"), *jd = json_object_get(b, "destination");
	json_t *jp = json_object_get(b, "port"), *jproto = json_object_get(b, "protocol");
	const char *proto = "tcp";
	enum acl_proto ap = ACL_PROTO_TCP;
	if (!json_is_string(ju) || !json_is_string(jd) || json_string_length(jd) == 0) {
		api_error(rs, 400, "'user' and 'destination' must be strings");
		goto out;
	}
	if (!json_is_integer(jp) || json_integer_value(jp) < 1 || json_integer_value(jp) > 65535) {
		api_error(rs, 400, "'port' must be an integer in 1..65535");
		goto out;
	}
	if (jproto && !json_is_null(jproto)) {
		if (!json_is_string(jproto)) {
			api_error(rs, 400, "'protocol' must be tcp or udp");
			goto out;
		}
		proto = json_string_value(jproto);
		if (strcasecmp(proto, "udp") == 0)
			ap = ACL_PROTO_UDP;
		else if (strcasecmp(proto, "tcp") != 0 && strcasecmp(proto, "both") != 0) {
			api_error(rs, 400, "'protocol' must be tcp or udp");
			goto out;
		}
	}
	const char *groups[32];
	size_t n_groups = 0;
	json_t *jg = json_object_get(b, "groups");
	if (jg && !json_is_null(jg)) {
		if (!json_is_array(jg) || json_array_size(jg) > 32) {
			api_error(rs, 400, "'groups' must be an array of at most 32 strings");
			goto out;
		}
		for (size_t i = 0; i < json_array_size(jg); i++) {
			json_t *g = json_array_get(jg, i);
			if (!json_is_string(g)) {
				api_error(rs, 400, "'groups'[%zu] must be a string", i);
				goto out;
			}
			groups[n_groups++] = json_string_value(g);
		}
	}
	if (!st->src.acl_evaluate) {
		api_error(rs, 503, "ACL engine not available");
		goto out;
	}
	const char *dest = json_string_value(jd);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct acl_request req = {
	    .user = json_string_value(ju),
	    .groups = n_groups ? groups : NULL,
	    .n_groups = n_groups,
	    .port = (uint16_t)json_integer_value(jp),
	    .proto = ap,
	};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, dest, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		req.addr = (struct sockaddr *)&ss;
	} else if (inet_pton(AF_INET6, dest, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		req.addr = (struct sockaddr *)&ss;
	} else {
		req.domain = dest;
	}
	struct api_acl_verdict v;
	char err[256] = "";
	memset(&v, 0, sizeof(v));
	if (st->src.acl_evaluate(st->src.ctx, &req, &v, err, sizeof(err)) != 0) {
		api_error(rs, 500, "ACL evaluation failed: %s", err);
		goto out;
	}
	json_t *o = json_object();
	json_object_set_new(o, "user", json_string(req.user));
	json_object_set_new(o, "destination", json_string(dest));
	json_object_set_new(o, "port", json_integer(req.port));
	json_object_set_new(o, "protocol", json_string(proto));
	json_object_set_new(o, "decision", json_string(v.allow ? "allow" : "block"));
	json_object_set_new(o, "default_policy", json_boolean(v.default_policy));
	json_object_set_new(o, "provisional", json_boolean(v.provisional));
	if (v.default_policy) {
		json_object_set_new(o, "matched_rule", json_null());
		json_object_set_new(o, "rule", json_null());
	} else {
		json_object_set_new(o, "matched_rule", json_string(v.rule_description));
		json_object_set_new(o, "rule",
		                    json_pack("{s:s, s:s, s:I, s:I, s:s}", "owner_type",
		                              acl_owner_kind_name(v.owner_kind), "owner",
		                              v.rule_owner, "priority", (json_int_t)v.rule_priority,
		                              "index", (json_int_t)v.rule_index, "description",
		                              v.rule_description));
	}
	api_json(rs, 200, o);
out:
	json_decref(b);
}

static void h_groups_list(struct api_state *st, struct api_resp *rs)
{
	struct acl_config *cfg = acl_load(st, rs);
	if (!cfg)
		return;
	json_t *a = json_array();
	for (size_t i = 0; i < cfg->n_groups; i++)
		json_array_append_new(a,
		                      json_pack("{s:s, s:I}", "name", cfg->groups[i].name,
		                                "rule_count", (json_int_t)cfg->groups[i].n_rules));
	api_json(rs, 200, json_pack("{s:o}", "groups", a));
	acl_config_free(cfg);
}

static void h_users_list(struct api_state *st, struct api_resp *rs)
{
	struct acl_config *cfg = acl_load(st, rs);
	if (!cfg)
		return;
	json_t *a = json_array();
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct acl_user *u = &cfg->users[i];
		json_array_append_new(a, json_pack("{s:s, s:o, s:I}", "username", u->username,
		                                   "groups", strv_json(u->groups, u->n_groups),
		                                   "rule_count", (json_int_t)u->n_rules));
	}
	api_json(rs, 200, json_pack("{s:o}", "users", a));
	acl_config_free(cfg);
}

static void h_owner_get(struct api_state *st, enum acl_owner_kind kind, const char *name,
                        struct api_resp *rs)
{
	struct acl_config *cfg = acl_load(st, rs);
	if (!cfg)
		return;
	if (kind == ACL_OWNER_GROUP) {
		struct acl_group *g = acl_config_find_group(cfg, name);
		if (g)
			api_json(rs, 200, group_json(g));
		else
			api_error(rs, 404, "group '%s' not found", name);
	} else {
		struct acl_user *u = acl_config_find_user(cfg, name);
		if (u)
			api_json(rs, 200, user_json(u));
		else
			api_error(rs, 404, "user '%s' not found", name);
	}
	acl_config_free(cfg);
}

static void h_group_create(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	json_t *n = json_object_get(b, "name");
	if (!json_is_string(n) || json_string_length(n) == 0) {
		api_error(rs, 400, "'name' must be a non-empty string");
		json_decref(b);
		return;
	}
	struct acl_config *cfg = acl_load(st, rs);
	if (cfg) {
		struct acl_group g = {.name = (char *)json_string_value(n)};
		char err[256] = "", msg[300];
		int rc = acl_config_group_add(cfg, &g, err, sizeof(err));
		if (rc != 0) {
			snprintf(msg, sizeof(msg), "group '%s'", g.name);
			crud_error(rs, rc, err, msg);
		} else {
			snprintf(msg, sizeof(msg), "Group '%s' created", g.name);
			acl_commit(st, cfg, op_ok(msg), rs);
		}
		acl_config_free(cfg);
	}
	json_decref(b);
}

static void h_user_create(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = api_body_object(rq, rs);
	char err[256] = "", msg[300];
	if (!b)
		return;
	json_t *n = json_object_get(b, "username");
	struct acl_user u = {0};
	if (!json_is_string(n) || json_string_length(n) == 0) {
		api_error(rs, 400, "'username' must be a non-empty string");
		goto out;
	}
	u.username = (char *)json_string_value(n);
	json_t *g = json_object_get(b, "groups");
	if (g && !json_is_null(g) &&
	    strv_from_json(b, "groups", NULL, false, &u.groups, &u.n_groups, err, sizeof(err)) !=
	        0) {
		api_error(rs, 400, "%s", err);
		goto out;
	}
	struct acl_config *cfg = acl_load(st, rs);
	if (cfg) {
		int rc = acl_config_user_add(cfg, &u, err, sizeof(err));
		if (rc != 0) {
			snprintf(msg, sizeof(msg), "user '%s'", u.username);
			crud_error(rs, rc, err, msg);
		} else {
			snprintf(msg, sizeof(msg), "User '%s' created", u.username);
			acl_commit(st, cfg, op_ok(msg), rs);
		}
		acl_config_free(cfg);
	}
out:
	free(u.groups);
	json_decref(b);
}

static void h_owner_delete(struct api_state *st, enum acl_owner_kind kind, const char *name,
                           struct api_resp *rs)
{
	struct acl_config *cfg = acl_load(st, rs);
	char msg[320];
	if (!cfg)
		return;
	json_t *deleted = NULL;
	int rc;
	if (kind == ACL_OWNER_GROUP) {
		struct acl_group *g = acl_config_find_group(cfg, name);
		deleted = g ? group_json(g) : NULL;
		rc = acl_config_group_del(cfg, name);
	} else {
		struct acl_user *u = acl_config_find_user(cfg, name);
		deleted = u ? user_json(u) : NULL;
		rc = acl_config_user_del(cfg, name);
	}
	if (rc != 0) {
		json_decref(deleted);
		snprintf(msg, sizeof(msg), "%s '%s'", acl_owner_kind_name(kind), name);
		crud_error(rs, rc, NULL, msg);
	} else {
		snprintf(msg, sizeof(msg), "%s '%s' deleted",
		         kind == ACL_OWNER_GROUP ? "Group" : "User", name);
		json_t *body = op_ok(msg);
		json_object_set_new(body,
		                    kind == ACL_OWNER_GROUP ? "deleted_group" : "deleted_user",
		                    deleted ? deleted : json_null());
		acl_commit(st, cfg, body, rs);
	}
	acl_config_free(cfg);
}

/* The rules of an owner in cfg; false (rs filled with 404) when the owner
 * does not exist. */
static bool owner_rules(struct acl_config *cfg, enum acl_owner_kind kind, const char *name,
                        const struct acl_rule **rules, size_t *n, struct api_resp *rs)
{
	if (kind == ACL_OWNER_GROUP) {
		struct acl_group *g = acl_config_find_group(cfg, name);
		if (g) {
			*rules = g->rules;
			*n = g->n_rules;
			return true;
		}
		api_error(rs, 404, "group '%s' not found", name);
	} else {
		struct acl_user *u = acl_config_find_user(cfg, name);
		if (u) {
			*rules = u->rules;
			*n = u->n_rules;
			return true;
		}
		api_error(rs, 404, "user '%s' not found", name);
	}
	return false;
}

enum rule_op { RULE_ADD, RULE_UPDATE, RULE_DELETE };

static void h_rule(struct api_state *st, enum acl_owner_kind kind, enum rule_op op,
                   const char *name, const struct api_req *rq, struct api_resp *rs)
{
	char err[256] = "", msg[320];
	json_t *b = api_body_object(rq, rs);
	struct acl_rule nr;
	bool have_rule = false;
	struct acl_config *cfg = NULL;
	if (!b)
		return;
	memset(&nr, 0, sizeof(nr));
	json_t *src = op == RULE_UPDATE ? json_object_get(b, "update") : b;
	if (op != RULE_DELETE) {
		if (rule_from_json(src, &nr, err, sizeof(err)) != 0) {
			api_error(rs, 400, "invalid rule: %s", err);
			goto out;
		}
		have_rule = true;
	}
	if (!(cfg = acl_load(st, rs)))
		goto out;
	size_t n = 0;
	const struct acl_rule *rules = NULL;
	if (!owner_rules(cfg, kind, name, &rules, &n, rs))
		goto out;
	const char *where = kind == ACL_OWNER_GROUP ? "group" : "user";
	int rc;
	if (op == RULE_ADD) {
		rc = acl_config_rule_add(cfg, kind, name, &nr, err, sizeof(err));
		if (rc != 0) {
			crud_error(rs, rc, err, "rule");
			goto out;
		}
		snprintf(msg, sizeof(msg), "Rule added to %s '%s'", where, name);
		json_t *body = op_ok(msg);
		json_object_set_new(body, "rule", rule_json(&nr));
		acl_commit(st, cfg, body, rs);
		goto out;
	}
	long idx = rule_find(op == RULE_UPDATE ? json_object_get(b, "match") : b, rules, n, rs);
	if (idx == -2)
		goto out;
	if (idx < 0) {
		api_error(rs, 404, "no rule of %s '%s' matches the given destinations/ports", where,
		          name);
		goto out;
	}
	json_t *old = rule_json(&rules[idx]);
	if (op == RULE_UPDATE)
		rc = acl_config_rule_replace(cfg, kind, name, (size_t)idx, &nr, err, sizeof(err));
	else
		rc = acl_config_rule_del(cfg, kind, name, (size_t)idx);
	if (rc != 0) {
		json_decref(old);
		crud_error(rs, rc, err, "rule");
		goto out;
	}
	snprintf(msg, sizeof(msg), "Rule %s %s '%s'",
	         op == RULE_UPDATE ? "updated in" : "deleted from", where, name);
	json_t *body = op_ok(msg);
	if (op == RULE_UPDATE) {
		json_object_set_new(body, "rule", rule_json(&nr));
		json_object_set_new(body, "old_rule", old);
	} else {
		json_object_set_new(body, "rule", old);
	}
	acl_commit(st, cfg, body, rs);
out:
	if (have_rule)
		rule_fini(&nr);
	acl_config_free(cfg);
	json_decref(b);
}

/* Add or remove one static group of a user: the user is replaced by a copy
 * with the new group list (borrowing from a snapshot of the model). */
static void h_user_group(struct api_state *st, const char *user, const char *group_param,
                         const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = NULL;
	const char *group = group_param;
	char err[256] = "", msg[320];
	if (!group) {
		if (!(b = api_body_object(rq, rs)))
			return;
		json_t *g = json_object_get(b, "group");
		if (!g)
			g = json_object_get(b, "groupname");
		if (!g)
			g = json_object_get(b, "name");
		if (!json_is_string(g) || json_string_length(g) == 0) {
			api_error(rs, 400, "'group' must be a non-empty string");
			json_decref(b);
			return;
		}
		group = json_string_value(g);
	}
	struct acl_config *cfg = acl_load(st, rs);
	struct acl_config *snap = NULL;
	char **groups = NULL;
	if (!cfg)
		goto out;
	snap = acl_config_dup(cfg);
	struct acl_user *u = acl_config_find_user(snap, user);
	if (!u) {
		api_error(rs, 404, "user '%s' not found", user);
		goto out;
	}
	struct acl_user nu = *u;
	groups = xcalloc(u->n_groups + 1, sizeof(char *));
	size_t n = 0;
	bool present = false;
	for (size_t i = 0; i < u->n_groups; i++) {
		if (strcasecmp(u->groups[i], group) == 0) {
			present = true;
			if (!group_param)
				groups[n++] = u->groups[i];
		} else {
			groups[n++] = u->groups[i];
		}
	}
	if (group_param && !present) {
		api_error(rs, 404, "user '%s' is not in group '%s'", user, group);
		goto out;
	}
	if (!group_param && present) {
		api_error(rs, 409, "user '%s' is already in group '%s'", user, group);
		goto out;
	}
	if (!group_param)
		groups[n++] = (char *)group;
	nu.groups = groups;
	nu.n_groups = n;
	int rc = acl_config_user_replace(cfg, user, &nu, err, sizeof(err));
	if (rc != 0) {
		crud_error(rs, rc, err, "user");
		goto out;
	}
	snprintf(msg, sizeof(msg),
	         group_param ? "User '%s' removed from group '%s'"
	                     : "User '%s' added to group '%s'",
	         user, group);
	acl_commit(st, cfg, op_ok(msg), rs);
out:
	free(groups);
	acl_config_free(snap);
	acl_config_free(cfg);
	json_decref(b);
}

static void h_global_get(struct api_state *st, struct api_resp *rs)
{
	struct acl_config *cfg = acl_load(st, rs);
	if (!cfg)
		return;
	api_json(rs, 200,
	         json_pack("{s:s}", "default_policy", acl_action_name(cfg->default_policy)));
	acl_config_free(cfg);
}

static void h_global_put(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	json_t *p = json_object_get(b, "default_policy");
	enum acl_action pol;
	if (!json_is_string(p) ||
	    acl_action_parse(json_string_value(p), json_string_length(p), &pol) != 0) {
		api_error(rs, 400, "'default_policy' must be \"allow\" or \"block\"");
		json_decref(b);
		return;
	}
	struct acl_config *cfg = acl_load(st, rs);
	if (cfg) {
		enum acl_action old = cfg->default_policy;
		acl_config_set_default_policy(cfg, pol);
		json_t *body = op_ok("Global policy updated");
		json_object_set_new(body, "old_policy", json_string(acl_action_name(old)));
		json_object_set_new(body, "new_policy", json_string(acl_action_name(pol)));
		acl_commit(st, cfg, body, rs);
		acl_config_free(cfg);
	}
	json_decref(b);
}

static bool rule_has_port(const struct acl_rule *r, uint16_t port)
{
	for (size_t i = 0; i < r->n_ports; i++) {
		struct acl_port_range pr[64];
		bool any = false;
		char err[64];
		int n = acl_ports_parse(r->ports[i], strlen(r->ports[i]), pr, 64, &any, err,
		                        sizeof(err));
		if (any)
			return true;
		for (int k = 0; k < n && k < 64; k++) {
			if (port >= pr[k].lo && port <= pr[k].hi)
				return true;
		}
	}
	return false;
}

static void search_rules(json_t *out, const char *type, const char *owner,
                         const struct acl_rule *rules, size_t n, const char *dest, long port,
                         const char *action)
{
	for (size_t i = 0; i < n; i++) {
		const struct acl_rule *r = &rules[i];
		if (action && strcasecmp(action, acl_action_name(r->action)) != 0)
			continue;
		if (port >= 0 && !rule_has_port(r, (uint16_t)port))
			continue;
		if (dest) {
			bool hit = false;
			for (size_t k = 0; k < r->n_destinations && !hit; k++)
				hit = strcasecmp(r->destinations[k], dest) == 0;
			if (!hit)
				continue;
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "rule_type", type, "owner",
		                                     owner, "rule", rule_json(r)));
	}
}

static void h_search(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	json_t *d = json_object_get(b, "destination"), *p = json_object_get(b, "port");
	json_t *a = json_object_get(b, "action");
	if ((d && !json_is_null(d) && !json_is_string(d)) ||
	    (a && !json_is_null(a) && !json_is_string(a)) ||
	    (p && !json_is_null(p) &&
	     (!json_is_integer(p) || json_integer_value(p) < 0 || json_integer_value(p) > 65535))) {
		api_error(rs, 400,
		          "'destination' and 'action' must be strings, 'port' an integer 0..65535");
		json_decref(b);
		return;
	}
	struct acl_config *cfg = acl_load(st, rs);
	if (cfg) {
		json_t *m = json_array();
		const char *dest = json_is_string(d) ? json_string_value(d) : NULL;
		const char *act = json_is_string(a) ? json_string_value(a) : NULL;
		long port = json_is_integer(p) ? (long)json_integer_value(p) : -1;
		for (size_t i = 0; i < cfg->n_groups; i++)
			search_rules(m, "group", cfg->groups[i].name, cfg->groups[i].rules,
			             cfg->groups[i].n_rules, dest, port, act);
		for (size_t i = 0; i < cfg->n_users; i++)
			search_rules(m, "user", cfg->users[i].username, cfg->users[i].rules,
			             cfg->users[i].n_rules, dest, port, act);
		size_t count = json_array_size(m);
		api_json(rs, 200,
		         json_pack("{s:o, s:I}", "matches", m, "count", (json_int_t)count));
		acl_config_free(cfg);
	}
	json_decref(b);
}

static void dispatch(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                     struct api_resp *rs)
{
	const char *p0 = m->params[0], *p1 = m->params[1];
	switch (m->route) {
	case ROUTE_ACL_RULES:
		h_rules(st, rs);
		break;
	case ROUTE_ACL_GROUPS_LIST:
		h_groups_list(st, rs);
		break;
	case ROUTE_ACL_GROUP_CREATE:
		h_group_create(st, rq, rs);
		break;
	case ROUTE_ACL_GROUP_GET:
		h_owner_get(st, ACL_OWNER_GROUP, p0, rs);
		break;
	case ROUTE_ACL_GROUP_DELETE:
		h_owner_delete(st, ACL_OWNER_GROUP, p0, rs);
		break;
	case ROUTE_ACL_GROUP_RULE_ADD:
		h_rule(st, ACL_OWNER_GROUP, RULE_ADD, p0, rq, rs);
		break;
	case ROUTE_ACL_GROUP_RULE_UPDATE:
		h_rule(st, ACL_OWNER_GROUP, RULE_UPDATE, p0, rq, rs);
		break;
	case ROUTE_ACL_GROUP_RULE_DELETE:
		h_rule(st, ACL_OWNER_GROUP, RULE_DELETE, p0, rq, rs);
		break;
	case ROUTE_ACL_USERS_LIST:
		h_users_list(st, rs);
		break;
	case ROUTE_ACL_USER_CREATE:
		h_user_create(st, rq, rs);
		break;
	case ROUTE_ACL_USER_GET:
		h_owner_get(st, ACL_OWNER_USER, p0, rs);
		break;
	case ROUTE_ACL_USER_DELETE:
		h_owner_delete(st, ACL_OWNER_USER, p0, rs);
		break;
	case ROUTE_ACL_USER_RULE_ADD:
		h_rule(st, ACL_OWNER_USER, RULE_ADD, p0, rq, rs);
		break;
	case ROUTE_ACL_USER_RULE_UPDATE:
		h_rule(st, ACL_OWNER_USER, RULE_UPDATE, p0, rq, rs);
		break;
	case ROUTE_ACL_USER_RULE_DELETE:
		h_rule(st, ACL_OWNER_USER, RULE_DELETE, p0, rq, rs);
		break;
	case ROUTE_ACL_USER_GROUP_ADD:
		h_user_group(st, p0, NULL, rq, rs);
		break;
	case ROUTE_ACL_USER_GROUP_REMOVE:
		h_user_group(st, p0, p1, rq, rs);
		break;
	case ROUTE_ACL_GLOBAL_GET:
		h_global_get(st, rs);
		break;
	case ROUTE_ACL_GLOBAL_PUT:
		h_global_put(st, rq, rs);
		break;
	case ROUTE_ACL_SEARCH:
		h_search(st, rq, rs);
		break;
	default:
		api_error(rs, 500, "internal error: bad ACL route");
		break;
	}
}

void api_acl_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                    struct api_resp *rs)
{
	if (!acl_enabled(st, rs))
		return;
	if (m->route == ROUTE_ADMIN_RELOAD_ACL) {
		pthread_mutex_lock(&st->acl_mu);
		h_reload(st, rs);
		pthread_mutex_unlock(&st->acl_mu);
		return;
	}
	if (m->route == ROUTE_ACL_TEST) {
		h_test(st, rq, rs);
		return;
	}
	pthread_mutex_lock(&st->acl_mu);
	dispatch(st, m, rq, rs);
	pthread_mutex_unlock(&st->acl_mu);
}
