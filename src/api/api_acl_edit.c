/* ACL endpoints that change things: reload, and CRUD on users, groups,
 * rules and the global policy (RustSocks' paths and JSON). Every edit is:
 * lock, read the file, change the model, validate it, write it atomically,
 * reload the engine from it. The file is the single source of truth, as in
 * RustSocks, so hand edits and API edits compose. */
#include "api/api_acl_edit.h"

#include "acl/acl_config.h"
#include "acl/acl_config_edit.h"
#include "acl/acl_config_write.h"
#include "acl/acl_match.h"
#include "api/api_acl_json.h"
#include "api/api_acl_read.h"
#include "util/strutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

/* Map an acl_config_* result to an HTTP error. "Already exists" is 400,
 * as RustSocks answers it. */
static void crud_error(struct api_resp *rs, int rc, const char *err, const char *what)
{
	if (rc == -ENOENT)
		api_error(rs, 404, "%s not found", what);
	else if (rc == -EEXIST && err && *err)
		api_error(rs, 400, "%s", err);
	else if (rc == -EEXIST)
		api_error(rs, 400, "%s already exists", what);
	else
		api_error(rs, 400, "%s", err && *err ? err : "invalid input");
}

void api_acl_reload(struct api_state *st, struct api_resp *rs)
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

void api_acl_group_create(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
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
	struct acl_config *cfg = api_acl_load(st, rs);
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

void api_acl_user_create(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
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
	    api_acl_strv_from_json(b, "groups", NULL, false, &u.groups, &u.n_groups, err,
	                           sizeof(err)) != 0) {
		api_error(rs, 400, "%s", err);
		goto out;
	}
	struct acl_config *cfg = api_acl_load(st, rs);
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

void api_acl_owner_delete(struct api_state *st, enum acl_owner_kind kind, const char *name,
                          struct api_resp *rs)
{
	struct acl_config *cfg = api_acl_load(st, rs);
	char msg[320];
	if (!cfg)
		return;
	json_t *deleted = NULL;
	int rc;
	if (kind == ACL_OWNER_GROUP) {
		struct acl_group *g = acl_config_find_group(cfg, name);
		deleted = g ? api_acl_group_json(g) : NULL;
		rc = acl_config_group_del(cfg, name);
	} else {
		struct acl_user *u = acl_config_find_user(cfg, name);
		deleted = u ? api_acl_user_json(u) : NULL;
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

void api_acl_rule_edit(struct api_state *st, enum acl_owner_kind kind, enum api_acl_rule_op op,
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
	json_t *src = op == API_ACL_RULE_UPDATE ? json_object_get(b, "update") : b;
	if (op != API_ACL_RULE_DELETE) {
		if (api_acl_rule_from_json(src, &nr, err, sizeof(err)) != 0) {
			api_error(rs, 400, "invalid rule: %s", err);
			goto out;
		}
		have_rule = true;
	}
	if (!(cfg = api_acl_load(st, rs)))
		goto out;
	size_t n = 0;
	const struct acl_rule *rules = NULL;
	const char *where = kind == ACL_OWNER_GROUP ? "group" : "user";
	int rc;
	/* Adding creates a missing user or group (acl_config_rule_add). */
	if (op != API_ACL_RULE_ADD && !owner_rules(cfg, kind, name, &rules, &n, rs))
		goto out;
	if (op == API_ACL_RULE_ADD) {
		rc = acl_config_rule_add(cfg, kind, name, &nr, err, sizeof(err));
		if (rc != 0) {
			crud_error(rs, rc, err, "rule");
			goto out;
		}
		snprintf(msg, sizeof(msg), "Rule added to %s '%s'", where, name);
		json_t *body = op_ok(msg);
		json_object_set_new(body, "rule", api_acl_rule_json(&nr));
		acl_commit(st, cfg, body, rs);
		goto out;
	}
	long idx = api_acl_rule_find(op == API_ACL_RULE_UPDATE ? json_object_get(b, "match") : b,
	                             rules, n, rs);
	if (idx == -2)
		goto out;
	if (idx < 0) {
		api_error(rs, 404, "no rule of %s '%s' matches the given destinations/ports", where,
		          name);
		goto out;
	}
	json_t *old = api_acl_rule_json(&rules[idx]);
	if (op == API_ACL_RULE_UPDATE)
		rc = acl_config_rule_replace(cfg, kind, name, (size_t)idx, &nr, err, sizeof(err));
	else
		rc = acl_config_rule_del(cfg, kind, name, (size_t)idx);
	if (rc != 0) {
		json_decref(old);
		crud_error(rs, rc, err, "rule");
		goto out;
	}
	snprintf(msg, sizeof(msg), "Rule %s %s '%s'",
	         op == API_ACL_RULE_UPDATE ? "updated in" : "deleted from", where, name);
	json_t *body = op_ok(msg);
	if (op == API_ACL_RULE_UPDATE) {
		json_object_set_new(body, "rule", api_acl_rule_json(&nr));
		json_object_set_new(body, "old_rule", old);
	} else {
		json_object_set_new(body, "rule", old);
	}
	acl_commit(st, cfg, body, rs);
out:
	if (have_rule)
		api_acl_rule_fini(&nr);
	acl_config_free(cfg);
	json_decref(b);
}

/* Add or remove one static group of a user: the user is replaced by a copy
 * with the new group list (borrowing from a snapshot of the model). */
void api_acl_user_group(struct api_state *st, const char *user, const char *group_param,
                        const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = NULL;
	const char *group = group_param;
	char err[256] = "", msg[320];
	if (!group) {
		if (!(b = api_body_object(rq, rs)))
			return;
		json_t *g = json_object_get(b, "group_name"); /* RustSocks' field */
		if (!g)
			g = json_object_get(b, "group");
		if (!g)
			g = json_object_get(b, "groupname");
		if (!g)
			g = json_object_get(b, "name");
		if (!json_is_string(g) || json_string_length(g) == 0) {
			api_error(rs, 400, "'group_name' must be a non-empty string");
			json_decref(b);
			return;
		}
		group = json_string_value(g);
	}
	struct acl_config *cfg = api_acl_load(st, rs);
	struct acl_config *snap = NULL;
	char **groups = NULL;
	if (!cfg)
		goto out;
	if (!group_param) {
		/* As RustSocks: the group must exist; the user is created if it
		 * has no entry yet. */
		if (!acl_config_find_group(cfg, group)) {
			api_error(rs, 400, "Group '%s' not found", group);
			goto out;
		}
		struct acl_user nu = {.username = (char *)user};
		if (!acl_config_find_user(cfg, user) &&
		    acl_config_user_add(cfg, &nu, err, sizeof(err)) != 0) {
			api_error(rs, 400, "%s", err);
			goto out;
		}
	}
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
		api_error(rs, 400, "User '%s' is already in group '%s'", user, group);
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

void api_acl_global_put(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
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
	struct acl_config *cfg = api_acl_load(st, rs);
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
