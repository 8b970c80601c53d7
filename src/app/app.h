/* The composition root: builds every module in order, runs the proxy until
 * SIGTERM/SIGINT, reloads on SIGHUP, and tears everything down in reverse.
 * docs/architecture.md ("Start and stop", "Reload") describes the order. */
#ifndef CSOCKS_APP_H
#define CSOCKS_APP_H

struct csocks_config;

/* Run with a loaded, validated config. Call once, from the main thread,
 * before any other thread exists (the signal mask is set here and every
 * thread inherits it). Returns the process exit code: 0 after a clean
 * shutdown, 1 when start-up failed (the reason is logged). */
int app_run(struct csocks_config *cfg);

#endif
