/* The ACL model <-> RustSocks' JSON, for the ACL routes (api_acl_read.c,
 * api_acl_edit.c). api_acl_verdict_fill, defined with these, is declared in
 * api_sources.h for the source wiring. */
#ifndef CSOCKS_API_ACL_JSON_H
#define CSOCKS_API_ACL_JSON_H

#include "acl/acl_types.h"
#include "api/api_internal.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

json_t *api_acl_strv_json(char *const *v, size_t n);
json_t *api_acl_rule_json(const struct acl_rule *r);
json_t *api_acl_user_json(const struct acl_user *u);
json_t *api_acl_group_json(const struct acl_group *g);
/* An array of strings from JSON, borrowing the string values (valid while
 * the JSON lives). Missing -> def (may be NULL = required). 0, or -1 with
 * err. */
int api_acl_strv_from_json(json_t *o, const char *key, const char *def, bool nonempty, char ***out,
                           size_t *n, char *err, size_t errlen);
/* AddRuleRequest -> rule (arrays allocated, strings borrowed from o; free
 * with api_acl_rule_fini). Defaults: description "", ports ["*"], protocols
 * ["both"], priority 100. 0, or -1 with err. */
int api_acl_rule_from_json(json_t *o, struct acl_rule *r, char *err, size_t errlen);
void api_acl_rule_fini(struct acl_rule *r);
/* RustSocks' RuleIdentifier: the rule whose destinations equal the given
 * list and, when ports are given, whose ports equal them too. Index or -1;
 * -2 with rs filled on a malformed identifier. */
long api_acl_rule_find(json_t *ident, const struct acl_rule *rules, size_t n, struct api_resp *rs);

#endif
