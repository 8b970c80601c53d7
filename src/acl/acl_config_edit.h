/* Checking and editing models built in memory (the admin API): the
 * validation a loaded file gets (acl_config_load.h) for models that did not
 * come from a file, and CRUD on users, groups and rules.
 */
#ifndef CSOCKS_ACL_CONFIG_EDIT_H
#define CSOCKS_ACL_CONFIG_EDIT_H

#include "acl/acl_config.h"

#include <stddef.h>

/* Validate a model built in memory (admin API). Returns the number of
 * errors (0 = valid); messages name the user/group and rule index. */
size_t acl_config_validate(const struct acl_config *cfg, struct acl_msgs *msgs);

/* Validate one rule. 0, or -EINVAL with the first problem in err. */
int acl_rule_validate(const struct acl_rule *r, char *err, size_t errlen);

/* CRUD. Inputs are deep-copied (the caller keeps its own); rules are
 * validated and CIDRs with host bits normalised. Returns 0, -EINVAL (invalid
 * input; err says why), -EEXIST (name taken) or -ENOENT (no such owner or
 * rule index). err may be NULL. Users match by exact name, groups
 * case-insensitively. acl_config_rule_add creates a missing owner and
 * refuses (-EEXIST) a rule whose destinations and ports equal those of a
 * rule the owner has, as RustSocks does. */
int acl_config_set_default_policy(struct acl_config *cfg, enum acl_action policy);
int acl_config_user_add(struct acl_config *cfg, const struct acl_user *u, char *err, size_t errlen);
int acl_config_user_replace(struct acl_config *cfg, const char *username, const struct acl_user *u,
                            char *err, size_t errlen);
int acl_config_user_del(struct acl_config *cfg, const char *username);
int acl_config_group_add(struct acl_config *cfg, const struct acl_group *g, char *err,
                         size_t errlen);
int acl_config_group_del(struct acl_config *cfg, const char *name);
int acl_config_rule_add(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                        const struct acl_rule *r, char *err, size_t errlen);
int acl_config_rule_replace(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                            size_t index, const struct acl_rule *r, char *err, size_t errlen);
int acl_config_rule_del(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                        size_t index);

#endif
