/* Loading RustSocks' acl.toml into struct acl_config with file:line
 * validation messages.
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
#ifndef CSOCKS_ACL_CONFIG_LOAD_H
#define CSOCKS_ACL_CONFIG_LOAD_H

#include "acl/acl_config.h"

#include <stddef.h>

/* Parse and validate. Return a new model (caller frees with
 * acl_config_free()) or NULL when there is any error; msgs (may be NULL)
 * receives every error and warning. filename is used in messages only. */
struct acl_config *acl_config_parse(const char *text, size_t len, const char *filename,
                                    struct acl_msgs *msgs);
struct acl_config *acl_config_load(const char *path, struct acl_msgs *msgs);

#endif
