/* Session hooks: connection lifecycle -> session manager + metrics. */

#include "config/config.h"
#include "obs/metrics.h"
#include "protocol/sockaddr.h"
#include "proxy/conn_events.h"
#include "proxy/proxy.h"
#include "proxy/worker.h"
#include "session/session_manager.h"

/* Sessions of unauthenticated clients carry the ACL's anonymous name, as in
 * RustSocks, so history and per-user metrics group them. */
const char *conn_user_name(const struct csocks_config *cfg, const struct conn_info *ci)
{
	if (ci->user && *ci->user)
		return ci->user;
	return cfg->acl.anonymous_user ? cfg->acl.anonymous_user : "anonymous";
}

static const char *decision_name(uint8_t d)
{
	return d == CONN_ACL_ALLOW ? "allow" : d == CONN_ACL_BLOCK ? "block" : NULL;
}

static void open_info(const struct csocks_config *cfg, const struct conn_info *ci,
                      struct session_open *o, char *dest, size_t dest_size)
{
	socks_addr_host_str(&ci->dest, dest, dest_size);
	*o = (struct session_open){
	    .conn_id = ci->id,
	    .user = conn_user_name(cfg, ci),
	    .client = &ci->client.sa,
	    .dest = dest,
	    .dest_port = ci->dest.port,
	    .proto = ci->proto == CONN_PROTO_UDP ? SESSION_PROTO_UDP : SESSION_PROTO_TCP,
	    .acl_rule = ci->acl_rule,
	    .acl_decision = decision_name(ci->acl_decision),
	};
}

struct session_live *conn_event_open(const struct proxy_ctx *ctx, const struct csocks_config *cfg,
                                     const struct conn_info *ci)
{
	metrics_session_opened(conn_user_name(cfg, ci));
	if (!ctx->sessions)
		return NULL;
	char dest[SOCKS_ADDR_STR_MAX];
	struct session_open o;
	open_info(cfg, ci, &o, dest, sizeof(dest));
	return session_manager_open(ctx->sessions, worker_idx_of_conn(ci->id), &o);
}

void conn_event_traffic(struct session_live *s, const struct conn_info *ci)
{
	if (s)
		session_live_traffic(s, ci->bytes_up, ci->bytes_down, ci->packets_up,
		                     ci->packets_down);
}

void conn_event_close(const struct proxy_ctx *ctx, const struct csocks_config *cfg,
                      struct session_live *s, const struct conn_info *ci)
{
	double secs = (double)(ci->end_ms - ci->start_ms) / 1000.0;
	metrics_session_closed(conn_user_name(cfg, ci), secs, ci->bytes_up, ci->bytes_down);
	if (!s)
		return;
	enum session_status st = ci->status == CONN_ST_CLOSED ? SESSION_CLOSED : SESSION_FAILED;
	session_manager_close(ctx->sessions, s, st, ci->close_reason, ci->bytes_up, ci->bytes_down,
	                      ci->packets_up, ci->packets_down);
}

static enum metrics_reject reject_kind(uint8_t r)
{
	switch (r) {
	case CONN_REJ_ACL:
		return METRICS_REJECT_ACL;
	case CONN_REJ_AUTH:
		return METRICS_REJECT_AUTH;
	case CONN_REJ_LIMIT:
		return METRICS_REJECT_LIMIT;
	}
	return METRICS_REJECT_OTHER;
}

void conn_event_rejected(const struct proxy_ctx *ctx, const struct csocks_config *cfg,
                         const struct conn_info *ci)
{
	metrics_rejected(conn_user_name(cfg, ci), reject_kind(ci->reject));
	if (!ctx->sessions)
		return;
	char dest[SOCKS_ADDR_STR_MAX];
	struct session_open o;
	open_info(cfg, ci, &o, dest, sizeof(dest));
	enum session_status st =
	    ci->reject == CONN_REJ_ACL ? SESSION_REJECTED_BY_ACL : SESSION_FAILED;
	session_manager_reject(ctx->sessions, worker_idx_of_conn(ci->id), &o, st, ci->close_reason);
}
