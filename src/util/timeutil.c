#include "util/timeutil.h"

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>
#include <time.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t time_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}
int64_t time_mono_us(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000;
}
int64_t time_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}
int64_t time_wall_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}
int64_t time_wall_us(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000;
}

void time_format_rfc3339(int64_t wall_us, char *buf, size_t size)
{
	time_t s = (time_t)(wall_us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (long)(wall_us % 1000000));
}

void thread_set_background(int n)
{
	/* On Linux, PRIO_PROCESS with a thread id sets that thread's nice. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), n);
}
