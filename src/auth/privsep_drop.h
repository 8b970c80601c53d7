/* Dropping root for good after the monitors are forked (privsep_client.h). */
#ifndef CSOCKS_PRIVSEP_DROP_H
#define CSOCKS_PRIVSEP_DROP_H

#include <stddef.h>

/* Drop privileges for good: supplementary groups (initgroups for user, or
 * just group), then setresgid, setresuid; then verify with getresuid /
 * getresgid that every id changed and that regaining root fails. group NULL
 * means user's primary group; user NULL changes only the group. Both NULL:
 * nothing to do. Refuses a user that resolves to uid 0. Call before any
 * thread is started. 0, or -1 with a message (then the caller must exit:
 * never run as root by mistake). Accepts names or numeric ids. */
int privsep_drop_privileges(const char *user, const char *group, char *err, size_t errlen);

#endif
