/* server.pid_file: the process id for init scripts and monitors.
 *
 * Written once the listeners are bound (so a pid file means "this process
 * holds the port"), removed at a clean shutdown. Main thread only. */
#ifndef CSOCKS_PIDFILE_H
#define CSOCKS_PIDFILE_H

#include <stddef.h>

/* Write "PID\n" to path atomically: a temporary file in the same directory,
 * then rename(2), so a reader never sees a partial file. 0, or -1 with
 * "path: syscall: strerror" in err. */
int pidfile_write(const char *path, char *err, size_t errlen);

/* Remove path if it still holds our pid (a later instance may have taken
 * it over). A failure is logged, not returned: shutdown goes on. */
void pidfile_remove(const char *path);

#endif
