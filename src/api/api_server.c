/* libmicrohttpd glue: listening socket, request body accumulation with the
 * size limit, and the hand-off to api_handle() (see api_server.h). */
#include "api/api_server.h"

#include "api/api_internal.h"
#include "api/api_process.h"
#include "api/api_static.h"
#include "api/api_extra.h"
#include "obs/metrics.h"
#include "api/metrics_history.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define API_THREADS           4
#define API_CONN_LIMIT        128
#define API_CONN_TIMEOUT_SECS 15

struct api_server {
	struct api_state st;
	struct MHD_Daemon *mhd;
	uint16_t port;
};

/* Per-request state across libmicrohttpd's calls of the handler. */
struct req_ctx {
	char *body;
	size_t len;
	bool too_large;
};

static const char *query_get(void *qctx, const char *key)
{
	return MHD_lookup_connection_value(qctx, MHD_GET_ARGUMENT_KIND, key);
}

/* The dashboard files' caching, encoding and security headers. */
static void add_dashboard_headers(struct MHD_Response *r, const struct api_resp *rs)
{
	if (rs->location[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, rs->location);
	if (!rs->dashboard)
		return;
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, rs->etag);
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	if (rs->content_encoding)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, rs->content_encoding);
	MHD_add_response_header(r, "Content-Security-Policy", API_DASHBOARD_CSP);
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct api_resp *rs)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    rs->len, rs->body, rs->body_borrowed ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
	if (!r) {
		if (!rs->body_borrowed)
			free(rs->body);
		return MHD_NO;
	}
	rs->body = NULL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
	MHD_add_response_header(r, "Cache-Control",
	                        rs->cache_control ? rs->cache_control : "no-store");
	add_dashboard_headers(r, rs);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "SAMEORIGIN");
	if (rs->allow[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rs->allow);
	if (rs->set_cookie[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, rs->set_cookie);
	if (rs->status == 401)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The peer's address as text ("unknown" when libmicrohttpd has none). */
static const char *client_ip(struct MHD_Connection *c, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size))
		return buf;
	if (sa && sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
	              (socklen_t)size))
		return buf;
	return "unknown";
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct api_server *s = cls;
	struct req_ctx *rc = *con_cls;
	size_t max = s->st.cfg->api.max_body_bytes;
	(void)version;

	if (!rc) {
		rc = xcalloc(1, sizeof(*rc));
		*con_cls = rc;
		const char *cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n;
		if (cl && cs_parse_u64(cl, 0, UINT64_MAX, &n) == 0 && n > max)
			rc->too_large = true;
		return MHD_YES; /* come back with the body (or its end) */
	}
	if (*upload_data_size) {
		/* Keep accepting (and dropping) bytes past the limit so the
		 * client reads our 413 instead of a reset. */
		if (!rc->too_large && rc->len + *upload_data_size <= max) {
			rc->body = xrealloc(rc->body, rc->len + *upload_data_size + 1);
			memcpy(rc->body + rc->len, upload_data, *upload_data_size);
			rc->len += *upload_data_size;
			rc->body[rc->len] = '\0';
		} else {
			rc->too_large = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	char ipbuf[INET6_ADDRSTRLEN];
	struct api_req rq = {
	    .method = method,
	    .url = url,
	    .query = query_get,
	    .qctx = c,
	    .authorization =
	        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
	    .x_api_token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Token"),
	    .body = rc->body,
	    .body_len = rc->len,
	    .body_too_large = rc->too_large,
	    .accept_encoding =
	        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING),
	    .if_none_match =
	        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
	    .cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE),
	    .origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
	    .host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
	    .sec_fetch_site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site"),
	    .x_requested_with = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Requested-With"),
	    .x_forwarded_proto =
	        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto"),
	    .client_ip = client_ip(c, ipbuf, sizeof(ipbuf)),
	};
	struct api_resp rs;
	api_handle(&s->st, &rq, &rs);
	return send_resp(c, &rs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *rc = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (rc) {
		free(rc->body);
		free(rc);
	}
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warn("admin API: %s", buf);
}

/* A listening TCP socket on addr:port. fd, or -1 with err. */
static int listen_on(const char *addr, uint32_t port, char *err, size_t errlen)
{
	char host[256], serv[16];
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
	                *res = NULL;
	size_t len = strlen(addr);
	if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(len - 2), addr + 1);
	else
		snprintf(host, sizeof(host), "%s", addr);
	snprintf(serv, sizeof(serv), "%u", port);
	int gai = getaddrinfo(host, serv, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "stats_api_bind_address '%s': %s", addr, gai_strerror(gai));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "bind %s:%u: %s", addr, port, strerror(saved));
	return fd;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The dashboard's files when sessions.dashboard_enabled; missing ones are
 * a warning (and 503 on /), never a failed start. */
static void dashboard_open(struct api_server *s)
{
	char dir[PATH_MAX], err[PATH_MAX * 3 + 128];
	if (!s->st.cfg->sessions.dashboard_enabled)
		return;
	if (api_static_find_dir(s->st.cfg->sessions.dashboard_dir, dir, sizeof(dir), err,
	                        sizeof(err)) == 0)
		s->st.dash = api_static_load(dir, err, sizeof(err));
	if (s->st.dash)
		log_info("dashboard: %zu files from %s at %s/", api_static_count(s->st.dash), dir,
		         s->st.base);
	else
		log_warn("dashboard: %s; %s/ answers 503 until it is built "
		         "(scripts/build-dashboard.sh)",
		         err, s->st.base);
}

/* What start set up besides the daemon (history, token, lock), and s. */
static void server_free(struct api_server *s)
{
	metrics_history_free(s->st.history);
	api_static_free(s->st.dash);
	api_process_metrics_del();
	api_auth_free(s->st.auth);
	if (s->st.token) {
		explicit_bzero(s->st.token, strlen(s->st.token));
		free(s->st.token);
	}
	pthread_mutex_destroy(&s->st.acl_mu);
	free(s);
}

struct api_server *api_server_start(const struct csocks_config *cfg, const struct api_sources *src,
                                    char *err, size_t errlen)
{
	struct api_server *s = xcalloc(1, sizeof(*s));
	int fd = -1;
	bool masked = false;
	sigset_t old;
	s->st.cfg = cfg;
	if (src)
		s->st.src = *src;
	s->st.start_mono_ms = time_mono_ms();
	pthread_mutex_init(&s->st.acl_mu, NULL);
	api_base_normalise(cfg->sessions.base_path, s->st.base, sizeof(s->st.base));
	if (api_token_load(cfg, &s->st.token, err, errlen) != 0)
		goto fail;
	s->st.auth = api_auth_new();
	if (metrics_init(cfg) != 0 || api_process_metrics_add() != 0) {
		snprintf(err, errlen, "cannot register the metrics collector");
		goto fail;
	}
	/* Our threads (sampler, HTTP pool) inherit the creator's signal mask:
	 * create them with every signal blocked so SIGTERM/SIGHUP always reach
	 * the thread that waits for them, whatever order start-up runs in. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	masked = true;
	/* metrics.enabled = false stops the history only (RustSocks): the
	 * route then answers an empty list. */
	if (cfg->metrics.enabled) {
		s->st.history = metrics_history_new(
		    cfg->metrics.collection_interval_secs, cfg->metrics.retention_hours, true,
		    s->st.src.metrics_persist.save ? &s->st.src.metrics_persist : NULL, err,
		    errlen);
		if (!s->st.history)
			goto fail;
	}
	fd = listen_on(cfg->sessions.stats_api_bind_address ? cfg->sessions.stats_api_bind_address
	                                                    : "127.0.0.1",
	               cfg->sessions.stats_api_port, err, errlen);
	if (fd < 0)
		goto fail;
	s->port = bound_port(fd);
	dashboard_open(s);
	s->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)API_THREADS, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)API_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)API_CONN_TIMEOUT_SECS, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_END);
	if (!s->mhd) {
		snprintf(err, errlen, "cannot start the HTTP server on %s:%u",
		         cfg->sessions.stats_api_bind_address, s->port);
		goto fail;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("admin API listening on %s:%u%s (token %s)", cfg->sessions.stats_api_bind_address,
	         s->port, s->st.base[0] ? s->st.base : "/",
	         s->st.token ? "required" : "not configured: state-changing routes disabled");
	return s;
fail:
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (fd >= 0)
		close(fd);
	server_free(s);
	return NULL;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->mhd); /* joins its threads and closes the socket */
	server_free(s);
}

uint16_t api_server_port(const struct api_server *s)
{
	return s ? s->port : 0;
}
