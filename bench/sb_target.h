/* sb_target.h - the built-in target server: a sink, source, echo and idle
 * holder on one port. Each connection starts with the 16-byte header of
 * sb_common.h that says what to do. Runs in its own threads (one epoll loop and
 * one SO_REUSEPORT listener each), in-process or as `socksbench serve`.
 */
#ifndef SB_TARGET_H
#define SB_TARGET_H

#include <stddef.h>
#include <stdint.h>

struct sb_target;

/* Listen on bind_host:port (port 0 = ephemeral) with nthreads loops.
 * Returns NULL with a message in err on failure. Caller frees with
 * sb_target_stop(). */
struct sb_target *sb_target_start(const char *bind_host, uint16_t port, int nthreads, char *err,
                                  size_t errlen);
/* The port actually bound. */
uint16_t sb_target_port(const struct sb_target *t);
/* Connections the target saw fail verification (bad header, pattern). */
uint64_t sb_target_errors(const struct sb_target *t);
/* Stop the threads, close every connection and free t. */
void sb_target_stop(struct sb_target *t);

#endif
