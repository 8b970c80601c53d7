/* Writing the ACL model back as acl.toml. */
#ifndef CSOCKS_ACL_CONFIG_WRITE_H
#define CSOCKS_ACL_CONFIG_WRITE_H

#include "acl/acl_config.h"

#include <stddef.h>

/* Serialise as TOML in RustSocks' layout ([global], [[users]],
 * [[users.rules]], [[groups]], [[groups.rules]]). Returns a heap string
 * (caller frees) and its length in *len (may be NULL), or NULL when out of
 * memory. */
char *acl_config_to_toml(const struct acl_config *cfg, size_t *len);
/* Serialise and write atomically (temp file + fsync + rename). 0 or -errno. */
int acl_config_write(const struct acl_config *cfg, const char *path);

#endif
