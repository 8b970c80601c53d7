/* systemd readiness notification (sd_notify(3) protocol, without libsystemd).
 *
 * When the service manager sets NOTIFY_SOCKET (Type=notify units), the
 * process tells it "READY=1" once it serves, "RELOADING=1" then "READY=1"
 * around a reload, and "STOPPING=1" when it begins to stop. Without
 * NOTIFY_SOCKET every call is a no-op. A message is one datagram to an
 * AF_UNIX socket: a path, or an abstract name written with a leading '@'.
 * Failures are logged at debug level and otherwise ignored: readiness
 * reporting never stops the proxy. */
#ifndef CSOCKS_SDNOTIFY_H
#define CSOCKS_SDNOTIFY_H

/* Send msg (newline-separated KEY=VALUE assignments). Returns 1 when sent,
 * 0 when NOTIFY_SOCKET is not set, -1 on an error. Thread-safe. */
int sd_notify_send(const char *msg);

/* sd_notify_send() with a printf-style message. */
int sd_notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
