/* Stand-in for api_acl.c while the ACL module is not part of the build:
 * the ACL routes answer 503 instead of failing to link. */
#include "api/api_internal.h"

#include <string.h>

void api_acl_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                    struct api_resp *rs)
{
	(void)st;
	(void)m;
	(void)rq;
	api_error(rs, 503, "ACL module not available in this build");
}

void api_acl_verdict_fill(const struct acl_decision *d, struct api_acl_verdict *out)
{
	memset(out, 0, sizeof(*out));
	out->allow = d->allow;
	out->default_policy = true;
}
