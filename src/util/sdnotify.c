#include "util/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

/* Fill sun from NOTIFY_SOCKET; returns the address length, 0 when unset,
 * -1 when unusable. */
static socklen_t notify_addr(struct sockaddr_un *sun)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	size_t len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun->sun_path))
		return (socklen_t)-1;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	if (path[0] == '@')
		sun->sun_path[0] = '\0'; /* abstract namespace: no trailing NUL */
	else
		len++;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

int sd_notify_send(const char *msg)
{
	struct sockaddr_un sun;
	socklen_t alen = notify_addr(&sun);
	if (alen == 0)
		return 0;
	if (alen == (socklen_t)-1) {
		log_debug("sd_notify: NOTIFY_SOCKET is not an absolute path or @name");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_debug("sd_notify: socket: %s", strerror(errno));
		return -1;
	}
	ssize_t n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	                   (struct sockaddr *)&sun, alen);
	int e = errno;
	close(fd);
	if (n < 0) {
		log_debug("sd_notify: %s: %s", getenv("NOTIFY_SOCKET"), strerror(e));
		return -1;
	}
	return 1;
}

int sd_notify_sendf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return sd_notify_send(buf);
}
