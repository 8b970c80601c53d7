/* The ACL file model (struct acl_config, acl_types.h): its lifetime, copies,
 * comparison and lookups, and the list of validation messages that the
 * loader (acl_config_load.h) and the in-memory checks (acl_config_edit.h)
 * fill. Writing it back as TOML: acl_config_write.h.
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

void acl_config_free(struct acl_config *cfg);
/* An empty model: default policy block, no users, no groups. */
struct acl_config *acl_config_new(void);
struct acl_config *acl_config_dup(const struct acl_config *cfg);
/* Same policy, users, groups and rules in the same order (lines ignored). */
bool acl_config_equal(const struct acl_config *a, const struct acl_config *b);

/* Lookups (NULL when absent). Pointers borrow from cfg until it changes. */
struct acl_user *acl_config_find_user(const struct acl_config *cfg, const char *username);
struct acl_group *acl_config_find_group(const struct acl_config *cfg, const char *name);

#endif
