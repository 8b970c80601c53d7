/* The privileged side of privilege separation: a monitor process serving
 * PAM conversations over one link (see privsep_client.h for the design).
 *
 * The monitor serves a dispatch table {type, permission flags, handler}: a
 * request for a PAM method the configuration does not use is not permitted.
 * Any unknown, unpermitted, oversized or malformed message ends the link
 * (fail closed); so does a wrong answer on the main side, where every later
 * request on that link fails. The monitor takes the PAM service names and
 * default users from its own copy of the configuration, never from the
 * requests. Passwords are wiped with explicit_bzero on both sides.
 *
 * A monitor exits when the main process goes away: PR_SET_PDEATHSIG, and EOF
 * on its socket. It ignores SIGINT/SIGTERM/SIGHUP, so a Ctrl-C or a systemd
 * stop lets the main process drain first; closing the links ends it. */
#ifndef CSOCKS_PRIVSEP_MONITOR_H
#define CSOCKS_PRIVSEP_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/pam_auth.h"

struct privsep_params {
	struct pam_auth_params pam; /* strings borrowed; the monitors keep copies
	                             * (fork) */
	bool allow_username;        /* permit MON_REQ_PAM_USERNAME */
	bool allow_address;         /* permit MON_REQ_PAM_ADDRESS */
	unsigned nlinks;            /* monitors / links (>= 1): auth.threads */
	uint32_t timeout_ms;        /* answer deadline per request (0 = 30 s);
	                             * past it the link is closed */
};

/* The monitor loop on fd: serve requests until EOF or a bad message, then
 * return (the caller _exit()s). Exposed so tests can run it in a child of
 * their own. */
void privsep_monitor_serve(int fd, const struct privsep_params *p);

/* The body of a forked monitor: parent-death signal, signals ignored, every
 * other fd closed, then privsep_monitor_serve on fd. Never returns. */
void privsep_monitor_main(int fd, pid_t parent, const struct privsep_params *p);

#endif
