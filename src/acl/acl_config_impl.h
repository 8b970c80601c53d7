/* Model helpers shared by acl_config.c (loading, copying, comparing) and
 * acl_config_edit.c (the API's edits). Internal to src/acl/. */
#ifndef CSOCKS_ACL_CONFIG_IMPL_H
#define CSOCKS_ACL_CONFIG_IMPL_H

#include "acl/acl_config.h"

#include <stddef.h>

/* A copy of v[0..n), "" for NULL entries; never NULL (n = 0: one slot). */
char **acl_strv_dup(char *const *v, size_t n);
/* Free what r owns and zero it. */
void acl_rule_fini(struct acl_rule *r);
/* acl_rule_fini on r[0..n), then free(r). */
void acl_rules_free(struct acl_rule *r, size_t n);
void acl_user_fini(struct acl_user *u);
void acl_group_fini(struct acl_group *g);
/* A deep copy of src into dst (no validation). */
void acl_rule_copy(struct acl_rule *dst, const struct acl_rule *src);

#endif
