#include "event/connect.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "protocol/socks5.h"

int connect_start(const struct sockaddr *sa, socklen_t len, int *fd)
{
	*fd = -1;
	int s = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int one = 1;
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, sa, len) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(s);
		return -e;
	}
	*fd = s;
	return 0;
}

int connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	/* Writable without an error means connected; make sure. */
	struct sockaddr_storage ss;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return errno == ENOTCONN ? -EINPROGRESS : -errno;
	return 0;
}

uint8_t connect_reply_for_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return SOCKS5_REP_CONN_REFUSED;
	case ENETUNREACH:
	case ENETDOWN:
		return SOCKS5_REP_NET_UNREACHABLE;
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ETIMEDOUT:
		return SOCKS5_REP_HOST_UNREACHABLE;
	}
	return SOCKS5_REP_GENERAL_FAILURE;
}
