/* The session seam: the connection calls these at its lifecycle points, on
 * its worker thread. They feed the session manager (when sessions are
 * enabled) and the metrics (always).
 *
 * Implementations must not block and must copy what they keep: `ci` and the
 * strings it points to are only valid during the call. */
#ifndef CSOCKS_CONN_EVENTS_H
#define CSOCKS_CONN_EVENTS_H

#include "proxy/conn_types.h"

struct proxy_ctx;
struct csocks_config;
struct session_live;

/* The name a connection counts under in sessions, metrics, the ACL and
 * the connection limits: its authenticated user, else the ACL's anonymous
 * name (as RustSocks), else "anonymous". Valid while ci and cfg are. */
const char *conn_user_name(const struct csocks_config *cfg, const struct conn_info *ci);

/* A request was accepted for service (after the ACL checks, before
 * connecting): a session starts. status is CONN_ST_ACTIVE. Returns the
 * session handle to pass to the calls below (NULL when sessions are off). */
struct session_live *conn_event_open(const struct proxy_ctx *ctx, const struct csocks_config *cfg,
                                     const struct conn_info *ci);
/* Traffic update while relaying: every
 * sessions.traffic_update_packet_interval reads (counters are current). */
void conn_event_traffic(struct session_live *s, const struct conn_info *ci);
/* A session that was opened ended (status CLOSED or FAILED, close_reason,
 * final counters and reply set). s is freed. */
void conn_event_close(const struct proxy_ctx *ctx, const struct csocks_config *cfg,
                      struct session_live *s, const struct conn_info *ci);
/* A request refused by a limit, authentication or the ACL (no
 * conn_event_open was sent; status CONN_ST_REJECTED, ci->reject says why,
 * close_reason the details). */
void conn_event_rejected(const struct proxy_ctx *ctx, const struct csocks_config *cfg,
                         const struct conn_info *ci);

#endif
