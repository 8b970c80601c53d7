/* POST /api/diagnostics/connectivity (RustSocks' Diagnostics page): can the
 * server open a TCP connection to address:port, and how long did it take?
 * A state-changing route (POST): it needs the API token, like every POST. */
#include "api/api_internal.h"

#include "util/strutil.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DIAG_TIMEOUT_DEFAULT_MS 3000
#define DIAG_TIMEOUT_MAX_MS     120000

/* One non-blocking connect to ai within ms. 0, or an errno value. */
static int try_connect(const struct addrinfo *ai, int ms)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int err = 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int n = poll(&p, 1, ms);
			socklen_t len = sizeof(err);
			if (n == 0)
				err = ETIMEDOUT;
			else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
		}
	}
	close(fd);
	return err;
}

static void diag_result(struct api_resp *rs, const char *addr, uint32_t port, bool ok, double ms,
                        const char *message, const char *error)
{
	json_t *o = json_pack("{s:b, s:s, s:i, s:s}", "success", ok, "address", addr, "port",
	                      (int)port, "message", message);
	json_object_set_new(o, "latency_ms", ok ? json_real(ms) : json_null());
	json_object_set_new(o, "error", error ? json_string(error) : json_null());
	api_json(rs, 200, o);
}

void api_diag_connectivity(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	(void)st;
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	const char *addr = json_string_value(json_object_get(b, "address"));
	json_t *jp = json_object_get(b, "port"), *jt = json_object_get(b, "timeout_ms");
	json_int_t port = json_is_integer(jp) ? json_integer_value(jp) : -1;
	json_int_t tmo = jt && !json_is_null(jt)
	                     ? (json_is_integer(jt) ? json_integer_value(jt) : -1)
	                     : DIAG_TIMEOUT_DEFAULT_MS;
	if (!addr || !*addr || strlen(addr) > 255) {
		api_error(rs, 400, "address: a host name or IP address is required");
	} else if (port < 1 || port > 65535) {
		api_error(rs, 400, "port: must be an integer in 1..65535");
	} else if (tmo < 1 || tmo > DIAG_TIMEOUT_MAX_MS) {
		api_error(rs, 400, "timeout_ms: must be an integer in 1..%d", DIAG_TIMEOUT_MAX_MS);
	} else {
		char serv[8], msg[320], host[256];
		cs_strlcpy(host, addr, sizeof(host));
		snprintf(serv, sizeof(serv), "%d", (int)port);
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV},
		                *res = NULL;
		int64_t t0 = time_mono_us();
		int gai = getaddrinfo(host, serv, &hints, &res);
		if (gai != 0) {
			snprintf(msg, sizeof(msg), "cannot resolve %s", host);
			diag_result(rs, host, (uint32_t)port, false, 0, msg, gai_strerror(gai));
		} else {
			int err = ETIMEDOUT;
			for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
				int64_t left = (int64_t)tmo - (time_mono_us() - t0) / 1000;
				if (left <= 0)
					break;
				err = try_connect(ai, (int)left);
				if (err == 0)
					break;
			}
			freeaddrinfo(res);
			double ms = (double)(time_mono_us() - t0) / 1000.0;
			snprintf(msg, sizeof(msg), "%s %s:%d",
			         err ? "cannot connect to" : "connected to", host, (int)port);
			diag_result(rs, host, (uint32_t)port, err == 0, ms, msg,
			            err ? strerror(err) : NULL);
		}
	}
	json_decref(b);
}
