/* The ACL routes that change the file or the live engine. Each handler is
 * called by api_acl_handle's route table with st->acl_mu held, and answers
 * in rs; an edit succeeds only when the new model validates, is written and
 * reloads. */
#ifndef CSOCKS_API_ACL_EDIT_H
#define CSOCKS_API_ACL_EDIT_H

#include "acl/acl_types.h"
#include "api/api_internal.h"

enum api_acl_rule_op { API_ACL_RULE_ADD, API_ACL_RULE_UPDATE, API_ACL_RULE_DELETE };

void api_acl_reload(struct api_state *st, struct api_resp *rs);
void api_acl_group_create(struct api_state *st, const struct api_req *rq, struct api_resp *rs);
void api_acl_user_create(struct api_state *st, const struct api_req *rq, struct api_resp *rs);
void api_acl_owner_delete(struct api_state *st, enum acl_owner_kind kind, const char *name,
                          struct api_resp *rs);
void api_acl_rule_edit(struct api_state *st, enum acl_owner_kind kind, enum api_acl_rule_op op,
                       const char *name, const struct api_req *rq, struct api_resp *rs);
/* Add or remove one static group of a user: the user is replaced by a copy
 * with the new group list (borrowing from a snapshot of the model). */
void api_acl_user_group(struct api_state *st, const char *user, const char *group_param,
                        const struct api_req *rq, struct api_resp *rs);
void api_acl_global_put(struct api_state *st, const struct api_req *rq, struct api_resp *rs);

#endif
