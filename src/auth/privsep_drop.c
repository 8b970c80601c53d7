/* The privilege drop. See privsep_drop.h. */
#include "auth/privsep_drop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/strutil.h"

static bool parse_id(const char *s, unsigned long *out)
{
	uint64_t v;
	if (cs_parse_u64(s, 0, 0xfffffffeUL, &v) != 0)
		return false;
	*out = (unsigned long)v;
	return true;
}

/* getpwnam_r (or a numeric uid). 0, or -1 with a message. */
static int lookup_user(const char *user, uid_t *uid, gid_t *gid, char *name, size_t namelen,
                       char *err, size_t errlen)
{
	char buf[16384];
	struct passwd pw, *res = NULL;
	unsigned long id;
	int rc = parse_id(user, &id) ? getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res)
	                             : getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "server.user \"%s\": %s", user,
		         rc ? strerror(rc) : "no such user");
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	cs_strlcpy(name, pw.pw_name, namelen);
	return 0;
}

static int lookup_group(const char *group, gid_t *gid, char *err, size_t errlen)
{
	char buf[65536];
	struct group gr, *res = NULL;
	unsigned long id;
	int rc = parse_id(group, &id) ? getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &res)
	                              : getgrnam_r(group, &gr, buf, sizeof(buf), &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "server.group \"%s\": %s", group,
		         rc ? strerror(rc) : "no such group");
		return -1;
	}
	*gid = gr.gr_gid;
	return 0;
}

int privsep_resolve_ids(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
                        size_t errlen)
{
	char name[256];
	if (user && lookup_user(user, uid, gid, name, sizeof(name), err, errlen) < 0)
		return -1;
	if (group && lookup_group(group, gid, err, errlen) < 0)
		return -1;
	return 0;
}

int privsep_drop_privileges(const char *user, const char *group, char *err, size_t errlen)
{
	if ((!user || !*user) && (!group || !*group))
		return 0;
	uid_t uid = 0;
	gid_t gid = 0;
	char name[256] = "";
	bool have_user = user && *user;
	if (have_user && lookup_user(user, &uid, &gid, name, sizeof(name), err, errlen) != 0)
		return -1;
	if (group && *group && lookup_group(group, &gid, err, errlen) != 0)
		return -1;
	if (have_user && uid == 0) {
		snprintf(err, errlen, "server.user \"%s\" is root: refusing to run as root", user);
		return -1;
	}
	if (geteuid() != 0) {
		/* Already unprivileged: fine only if we already are that user. */
		if ((!have_user || (getuid() == uid && geteuid() == uid)) && getegid() == gid &&
		    getgid() == gid)
			return 0;
		snprintf(err, errlen,
		         "cannot switch to server.user/group (%s/%s): not started as root",
		         have_user ? user : "-", group ? group : "-");
		return -1;
	}
	int rc = have_user ? initgroups(name, gid) : setgroups(1, &gid);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", have_user ? "initgroups" : "setgroups",
		         strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) != 0) {
		snprintf(err, errlen, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
		return -1;
	}
	if (have_user && setresuid(uid, uid, uid) != 0) {
		snprintf(err, errlen, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
		return -1;
	}
	/* Verify: every id changed, and root cannot be regained. */
	uid_t ru = (uid_t)-1, eu = (uid_t)-1, su = (uid_t)-1;
	gid_t rg = (gid_t)-1, eg = (gid_t)-1, sg = (gid_t)-1;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || rg != gid ||
	    eg != gid || sg != gid || (have_user && (ru != uid || eu != uid || su != uid))) {
		snprintf(err, errlen, "privilege drop did not stick (uid %u/%u/%u gid %u/%u/%u)",
		         (unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)rg, (unsigned)eg,
		         (unsigned)sg);
		return -1;
	}
	if (have_user && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "privilege drop did not stick: setuid(0) succeeded");
		return -1;
	}
	if (have_user && gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
		snprintf(err, errlen, "privilege drop did not stick: setgid(0) succeeded");
		return -1;
	}
	return 0;
}
