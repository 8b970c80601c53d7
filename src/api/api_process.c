/* Prometheus' standard process metrics (process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_cpu_seconds_total, process_open_fds,
 * process_max_fds) from /proc/self and getrusage: the dashboard's System
 * resources (RustSocks' Telemetry "System Resources"). Registered by the
 * admin API server for as long as it runs. */
#include "api/api_process.h"

#include "obs/prom.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* Entries of /proc/self/fd, without "." and ".." and the listing's own. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (!d)
		return -1;
	// cppcheck-suppress readdirCalled ; a stream of its own: glibc's readdir is safe then
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3;
}

static void collect_process(struct prom_writer *w, void *arg)
{
	(void)arg;
	long page = sysconf(_SC_PAGESIZE);
	unsigned long vm = 0, rss = 0;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[128];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			char *end;
			buf[n] = '\0';
			vm = strtoul(buf, &end, 10);
			rss = strtoul(end, NULL, 10);
		}
	}
	if (page > 0 && rss) {
		prom_gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.",
		           (double)rss * (double)page);
		prom_gauge(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
		           (double)vm * (double)page);
	}
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0 &&
	    prom_family(w, "process_cpu_seconds_total",
	                "Total user and system CPU time spent in seconds.", PROM_COUNTER) == 0)
		prom_sample(w, NULL, 0,
		            (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	long fds = open_fds();
	if (fds >= 0)
		prom_gauge(w, "process_open_fds", "Number of open file descriptors.", (double)fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		prom_gauge(w, "process_max_fds", "Maximum number of open file descriptors.",
		           (double)rl.rlim_cur);
}

int api_process_metrics_add(void)
{
	return prom_collector_add(collect_process, NULL);
}

void api_process_metrics_del(void)
{
	prom_collector_del(collect_process, NULL);
}
