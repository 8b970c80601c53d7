/* The session seam: the connection calls these at its lifecycle points, on
 * its worker thread. The default implementation (conn_events.c) does
 * nothing; it is the one place the session manager is wired in.
 *
 * Implementations must not block and must copy what they keep: `ci` and the
 * strings it points to are only valid during the call. */
#ifndef CSOCKS_CONN_EVENTS_H
#define CSOCKS_CONN_EVENTS_H

#include "server/conn_types.h"

/* A request was accepted for service (after the ACL hooks, before
 * connecting): a session starts. status is CONN_ST_ACTIVE. */
void conn_event_open(const struct conn_info *ci);
/* Traffic update while relaying: every
 * sessions.traffic_update_packet_interval reads (counters are current). */
void conn_event_traffic(const struct conn_info *ci);
/* A session that was opened ended (status CLOSED or FAILED, close_reason,
 * final counters and reply set). */
void conn_event_close(const struct conn_info *ci);
/* A connection refused by a limit or policy (no conn_event_open was sent;
 * status CONN_ST_REJECTED, close_reason says why). */
void conn_event_rejected(const struct conn_info *ci);

#endif
