#include "app/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int pidfile_write(const char *path, char *err, size_t errlen)
{
	char tmp[4096], line[32];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "server.pid_file \"%s\": path too long", path);
		return -1;
	}
	int len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "server.pid_file \"%s\": open(%s): %s", path, tmp,
		         strerror(errno));
		return -1;
	}
	if (write_all(fd, line, (size_t)len) < 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "server.pid_file \"%s\": write: %s", path, strerror(e));
		return -1;
	}
	if (close(fd) < 0) {
		int e = errno;
		unlink(tmp);
		snprintf(err, errlen, "server.pid_file \"%s\": close: %s", path, strerror(e));
		return -1;
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		snprintf(err, errlen, "server.pid_file \"%s\": rename: %s", path, strerror(e));
		return -1;
	}
	return 0;
}

void pidfile_remove(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("server.pid_file \"%s\": open: %s", path, strerror(errno));
		return;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (strtol(buf, NULL, 10) != (long)getpid())
		return; /* not ours any more */
	if (unlink(path) < 0)
		log_warn("server.pid_file \"%s\": unlink: %s (the directory must be writable by "
		         "server.user)",
		         path, strerror(errno));
}
