/* api_sources functions over the ACL manager (see api_wire.h). */
#include "api/api_wire.h"

#include "acl/acl_watch.h"
#include "api/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wire_acl_reload(void *ctx, char *err, size_t errlen)
{
	struct api_wiring *w = ctx;
	struct acl_msgs msgs;
	acl_msgs_init(&msgs);
	int rc = acl_manager_reload(w->acl, &msgs);
	if (rc != 0) {
		char *all = acl_msgs_join(&msgs);
		snprintf(err, errlen, "%s", all ? all : "reload failed");
		free(all);
	}
	acl_msgs_fini(&msgs);
	metrics_acl_reload(rc == 0);
	return rc == 0 ? 0 : -1;
}

static int wire_acl_evaluate(void *ctx, const struct acl_request *rq, struct api_acl_verdict *out,
			     char *err, size_t errlen)
{
	struct api_wiring *w = ctx;
	struct acl_snapshot *snap = acl_manager_acquire(w->acl);
	if (!snap) {
		snprintf(err, errlen, "no ACL loaded");
		return -1;
	}
	struct acl_decision d;
	acl_evaluate(snap, rq, &d);
	api_acl_verdict_fill(&d, out);
	acl_snapshot_unref(snap);
	return 0;
}

void api_wiring_sources(struct api_wiring *w, struct api_sources *src)
{
	memset(src, 0, sizeof(*src));
	src->ctx = w;
	if (w->acl) {
		src->acl_file = acl_manager_path(w->acl);
		src->acl_reload = wire_acl_reload;
		src->acl_evaluate = wire_acl_evaluate;
	}
}
