/* Reading the ACL file for the ACL routes. The routes themselves are
 * reached through api_acl_handle (api_internal.h). */
#ifndef CSOCKS_API_ACL_READ_H
#define CSOCKS_API_ACL_READ_H

#include "acl/acl_config.h"
#include "api/api_internal.h"

/* Load and validate st->src.acl_file. NULL with rs filled (500) on failure;
 * the caller frees the model. */
struct acl_config *api_acl_load(struct api_state *st, struct api_resp *rs);

#endif
