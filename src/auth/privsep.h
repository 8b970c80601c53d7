/* Privilege separation (after OpenSSH's monitor) and the privilege drop.
 *
 * pam_unix can check another user's password only as root, and some PAM
 * modules are not thread-safe. So csocks runs every PAM conversation in small
 * single-threaded "monitor" processes forked at start-up, before any thread
 * exists and while still root; then the main process drops to server.user /
 * server.group. Each monitor serves one link (a socketpair); the main process
 * keeps one link per auth thread in a pool, so auth threads never share a
 * link and never wait for one another. An auth thread blocks on its link
 * until the answer arrives: it is an auth-pool thread, never an event loop.
 *
 * Wire format, both directions:
 *     u32 length (big-endian; counts type + payload), u8 type, payload
 * length is checked against PRIVSEP_MSG_MAX on both ends before anything is
 * read or allocated. Payload fields: u32 big-endian integers, u8 status,
 * strings as u16 big-endian length + bytes (no NUL inside, bounded per
 * field). Every payload starts with a u32 sequence number the answer echoes.
 *
 *   MON_REQ_PAM_USERNAME (10): seq, str user (1..255), str password (0..255),
 *                              str rhost (0..63)
 *   MON_ANS_PAM_USERNAME (11): seq, u8 status, str user, str reason
 *   MON_REQ_PAM_ADDRESS  (12): seq, str rhost (1..63)
 *   MON_ANS_PAM_ADDRESS  (13): seq, u8 status, str user, str reason
 *   MON_REQ_PING         (14): seq                  (liveness, tests)
 *   MON_ANS_PING         (15): seq
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
#ifndef CSOCKS_PRIVSEP_H
#define CSOCKS_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/pam_auth.h"

#define PRIVSEP_MSG_MAX 4096 /* type + payload, each direction */

enum privsep_msg_type {
	MON_REQ_PAM_USERNAME = 10,
	MON_ANS_PAM_USERNAME = 11,
	MON_REQ_PAM_ADDRESS = 12,
	MON_ANS_PAM_ADDRESS = 13,
	MON_REQ_PING = 14,
	MON_ANS_PING = 15,
};

struct privsep_params {
	struct pam_auth_params pam; /* strings borrowed; the monitors keep copies
	                             * (fork) */
	bool allow_username;        /* permit MON_REQ_PAM_USERNAME */
	bool allow_address;         /* permit MON_REQ_PAM_ADDRESS */
	unsigned nlinks;            /* monitors / links (>= 1): auth.threads */
	uint32_t timeout_ms;        /* answer deadline per request (0 = 30 s);
	                             * past it the link is closed */
};

struct privsep;

/* Fork the monitors. Must be called while the process has a single thread
 * (fork copies only the caller; a lock held by another thread would stay
 * locked in the child). NULL with a message on failure. */
struct privsep *privsep_start(const struct privsep_params *p, char *err, size_t errlen);

/* Close the links (the monitors see EOF and exit) and reap the monitors. */
void privsep_free(struct privsep *ps);

/* Same shape as pam_auth_username / pam_auth_address (so callers do not see
 * the split): the conversation runs in a monitor. Blocking; thread-safe.
 * A broken link answers PAM_AUTH_ERROR. */
int privsep_pam_username(struct privsep *ps, const char *user, const char *pass, const char *rhost,
                         struct pam_auth_result *out);
int privsep_pam_address(struct privsep *ps, const char *rhost, struct pam_auth_result *out);
/* 0 when some monitor answered a ping, -1 otherwise. */
int privsep_ping(struct privsep *ps);

/* Tests: a privsep over links whose other ends the caller serves (a fake
 * monitor). Takes ownership of the fds; no process to reap. */
struct privsep *privsep_new_from_fds(const int *fds, unsigned n, uint32_t timeout_ms);

/* Number of links still usable; a monitor's pid (tests). */
unsigned privsep_links_alive(struct privsep *ps);
pid_t privsep_monitor_pid(struct privsep *ps, unsigned i);

/* Drop privileges for good: supplementary groups (initgroups for user, or
 * just group), then setresgid, setresuid; then verify with getresuid /
 * getresgid that every id changed and that regaining root fails. group NULL
 * means user's primary group; user NULL changes only the group. Both NULL:
 * nothing to do. Refuses a user that resolves to uid 0. Call before any
 * thread is started. 0, or -1 with a message (then the caller must exit:
 * never run as root by mistake). Accepts names or numeric ids. */
int privsep_drop_privileges(const char *user, const char *group, char *err, size_t errlen);

/* ---- framing, exposed for the monitor and the tests ---- */

/* Send one message. 0, or -errno (-EMSGSIZE when 1 + len > PRIVSEP_MSG_MAX,
 * -EPIPE when the peer is gone). */
int privsep_msg_send(int fd, uint8_t type, const void *payload, size_t len);
/* Receive one message into buf (cap bytes). 0 with *type and *len set;
 * -EPIPE at a clean EOF before a message; -EMSGSIZE when the announced length
 * is 0 or over PRIVSEP_MSG_MAX or cap + 1; -EPROTO for EOF inside a message;
 * -EAGAIN on timeout (SO_RCVTIMEO); other -errno. */
int privsep_msg_recv(int fd, uint8_t *type, void *buf, size_t cap, size_t *len);

/* The monitor loop on fd: serve requests until EOF or a bad message, then
 * return (the caller _exit()s). Exposed so tests can run it in a child of
 * their own. */
void privsep_monitor_serve(int fd, const struct privsep_params *p);

#endif
