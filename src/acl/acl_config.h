/* The ACL file model: load RustSocks' acl.toml into struct acl_config with
 * file:line validation messages, validate models built by the admin API,
 * edit them (CRUD), and write them back in RustSocks' layout.
 *
 * Validation (errors make the load fail; warnings do not):
 *   errors   - wrong TOML types ("expected string, got integer"), missing
 *              action/username/name, unknown action or protocol, bad IP,
 *              bad CIDR, bad domain pattern, bad port or range (0, >65535,
 *              start > end), priority outside 0..4294967295, duplicate user
 *              (exact name) or group (names compare case-insensitively).
 *   warnings - unknown keys, a CIDR with host bits set (normalised to its
 *              network), a rule with no destinations, ports or protocols
 *              (it can never match), a user naming a group that the file
 *              does not define (legal: such groups exist only in the
 *              directory, e.g. AD groups via NSS, and add no rules).
 * Messages read "file:line:col: what is wrong" and
 * "file:line:col: warning: what is odd".
 */
#ifndef CSOCKS_ACL_CONFIG_H
#define CSOCKS_ACL_CONFIG_H

#include "acl/acl_types.h"

#include <stdbool.h>
#include <stddef.h>

/* Collected validation messages. */
struct acl_msgs {
	char **v; /* each NUL-terminated, owned */
	bool *is_error;
	size_t n;
	size_t n_errors, n_warnings;
};

void acl_msgs_init(struct acl_msgs *m);
void acl_msgs_fini(struct acl_msgs *m);
void acl_msgs_add(struct acl_msgs *m, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* All messages joined by '\n' (caller frees), or NULL when there are none. */
char *acl_msgs_join(const struct acl_msgs *m);

/* Parse and validate. Return a new model (caller frees with
 * acl_config_free()) or NULL when there is any error; msgs (may be NULL)
 * receives every error and warning. filename is used in messages only. */
struct acl_config *acl_config_parse(const char *text, size_t len, const char *filename,
                                    struct acl_msgs *msgs);
struct acl_config *acl_config_load(const char *path, struct acl_msgs *msgs);

void acl_config_free(struct acl_config *cfg);
/* An empty model: default policy block, no users, no groups. */
struct acl_config *acl_config_new(void);
struct acl_config *acl_config_dup(const struct acl_config *cfg);
/* Same policy, users, groups and rules in the same order (lines ignored). */
bool acl_config_equal(const struct acl_config *a, const struct acl_config *b);

/* Validate a model built in memory (admin API). Returns the number of
 * errors (0 = valid); messages name the user/group and rule index. */
size_t acl_config_validate(const struct acl_config *cfg, struct acl_msgs *msgs);

/* Serialise as TOML in RustSocks' layout ([global], [[users]],
 * [[users.rules]], [[groups]], [[groups.rules]]). Returns a heap string
 * (caller frees) and its length in *len (may be NULL). */
char *acl_config_to_toml(const struct acl_config *cfg, size_t *len);
/* Serialise and write atomically (temp file + fsync + rename). 0 or -errno. */
int acl_config_write(const struct acl_config *cfg, const char *path);

/* CRUD. Inputs are deep-copied (the caller keeps its own); rules are
 * validated and CIDRs with host bits normalised. Returns 0, -EINVAL (invalid
 * input; err says why), -EEXIST (name taken) or -ENOENT (no such owner or
 * rule index). err may be NULL. Users match by exact name, groups
 * case-insensitively. */
int acl_config_set_default_policy(struct acl_config *cfg, enum acl_action policy);
int acl_config_user_add(struct acl_config *cfg, const struct acl_user *u, char *err, size_t errlen);
int acl_config_user_replace(struct acl_config *cfg, const char *username, const struct acl_user *u,
                            char *err, size_t errlen);
int acl_config_user_del(struct acl_config *cfg, const char *username);
int acl_config_group_add(struct acl_config *cfg, const struct acl_group *g, char *err,
                         size_t errlen);
int acl_config_group_replace(struct acl_config *cfg, const char *name, const struct acl_group *g,
                             char *err, size_t errlen);
int acl_config_group_del(struct acl_config *cfg, const char *name);
int acl_config_rule_add(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                        const struct acl_rule *r, char *err, size_t errlen);
int acl_config_rule_replace(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                            size_t index, const struct acl_rule *r, char *err, size_t errlen);
int acl_config_rule_del(struct acl_config *cfg, enum acl_owner_kind kind, const char *owner,
                        size_t index);

/* Lookups (NULL when absent). Pointers borrow from cfg until it changes. */
struct acl_user *acl_config_find_user(const struct acl_config *cfg, const char *username);
struct acl_group *acl_config_find_group(const struct acl_config *cfg, const char *name);

/* Validate one rule. 0, or -EINVAL with the first problem in err. */
int acl_rule_validate(const struct acl_rule *r, char *err, size_t errlen);

#endif
