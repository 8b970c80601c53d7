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
 * This is the main (unprivileged) side: it forks the monitors
 * (privsep_monitor.h) and sends requests over the links in the wire format
 * of privsep_wire.h. The privilege drop itself is privsep_drop.h.
 */
#ifndef CSOCKS_PRIVSEP_CLIENT_H
#define CSOCKS_PRIVSEP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/pam_auth.h"
#include "auth/privsep_monitor.h"

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

#endif
