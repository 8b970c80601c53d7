/* Dropping root for good after the monitors are forked (privsep_client.h). */
#ifndef CSOCKS_PRIVSEP_DROP_H
#define CSOCKS_PRIVSEP_DROP_H

#include <stddef.h>
#include <sys/types.h>

/* Drop privileges for good: supplementary groups (initgroups for user, or
 * just group), then setresgid, setresuid; then verify with getresuid /
 * getresgid that every id changed and that regaining root fails. group NULL
 * means user's primary group; user NULL changes only the group. Both NULL:
 * nothing to do. Refuses a user that resolves to uid 0. Call before any
 * thread is started. 0, or -1 with a message (then the caller must exit:
 * never run as root by mistake). Accepts names or numeric ids. */
int privsep_drop_privileges(const char *user, const char *group, char *err, size_t errlen);

/* The ids server.user/server.group name (names or numbers), as the drop will
 * use them: user's uid and primary gid, group's gid over it. Either may be
 * NULL (its ids are left as they are). 0, or -1 with a message. */
int privsep_resolve_ids(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
                        size_t errlen);

#endif
