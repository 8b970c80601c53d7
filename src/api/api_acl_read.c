/* ACL endpoints that read: the rules summary, users, groups and the global
 * policy as the file says them, rule search and the decision test; and the
 * route table of every ACL endpoint (the edits are in api_acl_edit.c).
 * The file is the single source of truth, as in RustSocks, so every read
 * loads it again and hand edits show at once. */
#include "api/api_acl_read.h"

#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_match.h"
#include "api/api_acl_edit.h"
#include "api/api_acl_json.h"
#include "util/strutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static bool acl_enabled(struct api_state *st, struct api_resp *rs)
{
	if (!st->src.acl_file) {
		api_error(rs, 400, "ACL is not enabled");
		return false;
	}
	return true;
}

struct acl_config *api_acl_load(struct api_state *st, struct api_resp *rs)
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

static void h_rules(struct api_state *st, struct api_resp *rs)
{
	struct acl_config *cfg = api_acl_load(st, rs);
	if (!cfg)
		return;
	char msg[128];
	snprintf(msg, sizeof(msg), "ACL has %zu users and %zu groups configured", cfg->n_users,
	         cfg->n_groups);
	json_t *users = json_array(), *groups = json_array();
	for (size_t i = 0; i < cfg->n_users; i++)
		json_array_append_new(users, api_acl_user_json(&cfg->users[i]));
	for (size_t i = 0; i < cfg->n_groups; i++)
		json_array_append_new(groups, api_acl_group_json(&cfg->groups[i]));
	api_json(rs, 200,
	         json_pack("{s:I, s:I, s:s, s:s, s:o, s:o}", "user_count", (json_int_t)cfg->n_users,
	                   "group_count", (json_int_t)cfg->n_groups, "message", msg,
	                   "default_policy", acl_action_name(cfg->default_policy), "users", users,
	                   "groups", groups));
	acl_config_free(cfg);
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
		json_object_set_new(o, "matched_rule", json_string("Default policy"));
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
	struct acl_config *cfg = api_acl_load(st, rs);
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
	struct acl_config *cfg = api_acl_load(st, rs);
	if (!cfg)
		return;
	json_t *a = json_array();
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct acl_user *u = &cfg->users[i];
		json_array_append_new(a,
		                      json_pack("{s:s, s:o, s:I}", "username", u->username,
		                                "groups", api_acl_strv_json(u->groups, u->n_groups),
		                                "rule_count", (json_int_t)u->n_rules));
	}
	api_json(rs, 200, json_pack("{s:o}", "users", a));
	acl_config_free(cfg);
}

static void h_owner_get(struct api_state *st, enum acl_owner_kind kind, const char *name,
                        struct api_resp *rs)
{
	struct acl_config *cfg = api_acl_load(st, rs);
	if (!cfg)
		return;
	if (kind == ACL_OWNER_GROUP) {
		struct acl_group *g = acl_config_find_group(cfg, name);
		if (g)
			api_json(rs, 200, api_acl_group_json(g));
		else
			api_error(rs, 404, "group '%s' not found", name);
	} else {
		struct acl_user *u = acl_config_find_user(cfg, name);
		if (u)
			api_json(rs, 200, api_acl_user_json(u));
		else
			api_error(rs, 404, "user '%s' not found", name);
	}
	acl_config_free(cfg);
}

static void h_global_get(struct api_state *st, struct api_resp *rs)
{
	struct acl_config *cfg = api_acl_load(st, rs);
	if (!cfg)
		return;
	api_json(rs, 200,
	         json_pack("{s:s}", "default_policy", acl_action_name(cfg->default_policy)));
	acl_config_free(cfg);
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
				hit = strcasestr(r->destinations[k], dest) != NULL; /* substring */
			if (!hit)
				continue;
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "rule_type", type, "owner",
		                                     owner, "rule", api_acl_rule_json(r)));
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
	struct acl_config *cfg = api_acl_load(st, rs);
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
		api_acl_group_create(st, rq, rs);
		break;
	case ROUTE_ACL_GROUP_GET:
		h_owner_get(st, ACL_OWNER_GROUP, p0, rs);
		break;
	case ROUTE_ACL_GROUP_DELETE:
		api_acl_owner_delete(st, ACL_OWNER_GROUP, p0, rs);
		break;
	case ROUTE_ACL_GROUP_RULE_ADD:
		api_acl_rule_edit(st, ACL_OWNER_GROUP, API_ACL_RULE_ADD, p0, rq, rs);
		break;
	case ROUTE_ACL_GROUP_RULE_UPDATE:
		api_acl_rule_edit(st, ACL_OWNER_GROUP, API_ACL_RULE_UPDATE, p0, rq, rs);
		break;
	case ROUTE_ACL_GROUP_RULE_DELETE:
		api_acl_rule_edit(st, ACL_OWNER_GROUP, API_ACL_RULE_DELETE, p0, rq, rs);
		break;
	case ROUTE_ACL_USERS_LIST:
		h_users_list(st, rs);
		break;
	case ROUTE_ACL_USER_CREATE:
		api_acl_user_create(st, rq, rs);
		break;
	case ROUTE_ACL_USER_GET:
		h_owner_get(st, ACL_OWNER_USER, p0, rs);
		break;
	case ROUTE_ACL_USER_DELETE:
		api_acl_owner_delete(st, ACL_OWNER_USER, p0, rs);
		break;
	case ROUTE_ACL_USER_RULE_ADD:
		api_acl_rule_edit(st, ACL_OWNER_USER, API_ACL_RULE_ADD, p0, rq, rs);
		break;
	case ROUTE_ACL_USER_RULE_UPDATE:
		api_acl_rule_edit(st, ACL_OWNER_USER, API_ACL_RULE_UPDATE, p0, rq, rs);
		break;
	case ROUTE_ACL_USER_RULE_DELETE:
		api_acl_rule_edit(st, ACL_OWNER_USER, API_ACL_RULE_DELETE, p0, rq, rs);
		break;
	case ROUTE_ACL_USER_GROUP_ADD:
		api_acl_user_group(st, p0, NULL, rq, rs);
		break;
	case ROUTE_ACL_USER_GROUP_REMOVE:
		api_acl_user_group(st, p0, p1, rq, rs);
		break;
	case ROUTE_ACL_GLOBAL_GET:
		h_global_get(st, rs);
		break;
	case ROUTE_ACL_GLOBAL_PUT:
		api_acl_global_put(st, rq, rs);
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
		api_acl_reload(st, rs);
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
