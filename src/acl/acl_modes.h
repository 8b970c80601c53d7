/* Comparing the two evaluation modes (acl_types.h, enum acl_eval_mode) on
 * one ACL model, for `csocks acl check` and `--check-config`. */
#ifndef CSOCKS_ACL_MODES_H
#define CSOCKS_ACL_MODES_H

#include "acl/acl_config.h"

#include <stddef.h>

/* Probe every rule's own destinations (with its first port and protocol),
 * as its user or as a member of its group, in both modes. Returns 1 with
 * one example request and both decisions in out when the modes decide it
 * differently, 0 when no probe differs, -1 when the model does not compile.
 * A 0 is not a proof: only the rules' own destinations are probed. */
int acl_modes_differ(const struct acl_config *cfg, char *out, size_t size);

#endif
