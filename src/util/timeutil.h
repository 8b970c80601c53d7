/* Clocks. Monotonic milliseconds for timers and durations (compare with
 * signed differences: a - b < 0 means a is earlier), wall clock for records. */
#ifndef CSOCKS_TIMEUTIL_H
#define CSOCKS_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_mono_ms(void);
int64_t time_mono_us(void);
int64_t time_mono_ns(void);
/* Milliseconds since the Unix epoch. */
int64_t time_wall_ms(void);
/* RFC 3339 UTC with microseconds: "2026-11-25T12:00:00.123456Z". buf >= 32. */
void time_format_rfc3339(int64_t wall_us, char *buf, size_t size);
int64_t time_wall_us(void);

/* Lower the calling thread's scheduling priority (nice +n, Linux per-thread)
 * for background work (store writer, publishers) so the event loops win
 * when the CPUs are busy. Best effort: failure is ignored. */
void thread_set_background(int n);

#endif
