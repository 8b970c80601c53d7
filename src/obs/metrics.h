/* Proxy metrics: the recording API the hot path calls, and the collector
 * that exports them at /metrics with RustSocks' names (rustsocks_*) plus
 * csocks' own (csocks_*).
 *
 * Cost: every recording function is a few relaxed atomic adds on a
 * per-thread shard (threads are spread over METRICS_SHARDS cache-line
 * aligned blocks), callable from any thread with no lock, EXCEPT the
 * per-user table touched by metrics_session_opened/closed/rejected: one
 * short mutex section per session open/close (never per packet). Scrapes sum
 * the shards.
 *
 * Per-user labels (rustsocks_user_sessions_total{user},
 * rustsocks_user_bandwidth_bytes_total{user,direction}) are capped at
 * metrics.max_user_labels distinct users; later users are counted under
 * user="other". 0 disables per-user series (everything goes to "other").
 *
 * metrics_init() may be called once at start-up (before workers run); the
 * recording functions are safe (and count) before it too, with the default
 * cap of 1000 users. */
#ifndef CSOCKS_METRICS_H
#define CSOCKS_METRICS_H

#include "config/config.h"

#include <stdbool.h>
#include <stdint.h>

/* Why a request was rejected (csocks_sessions_rejected_by_reason_total). */
enum metrics_reject {
	METRICS_REJECT_ACL = 0,   /* ACL said block */
	METRICS_REJECT_AUTH = 1,  /* authentication failed */
	METRICS_REJECT_LIMIT = 2, /* connection limit (global or per user) */
	METRICS_REJECT_OTHER = 3,
};
#define METRICS_REJECT_COUNT 4

/* Apply metrics.max_user_labels and register the collector. 0, or -1 when
 * the collector list is full. */
int metrics_init(const struct csocks_config *cfg);
/* Unregister the collector (counters keep their values). */
void metrics_fini(void);

/* A session was admitted (before its connect). user may be NULL/"".
 * Counts in csocks_sessions_opened_total and the active gauge. */
void metrics_session_opened(const char *user);
/* Its success reply was sent (tunnel, UDP association or BIND set up):
 * rustsocks_sessions_total, as RustSocks counts, and the handshake
 * latency. */
void metrics_session_established(double handshake_seconds);
/* A session opened with metrics_session_opened() ended. duration in
 * seconds; bytes_sent = client -> upstream, bytes_received = upstream ->
 * client (RustSocks' directions). */
void metrics_session_closed(const char *user, double duration_secs, uint64_t bytes_sent,
                            uint64_t bytes_received);
/* A request was refused (no session opened). Counts in
 * csocks_sessions_rejected_total (and by reason), in
 * rustsocks_sessions_rejected_total when the ACL refused it (RustSocks'
 * meaning), and in the user's session count, as RustSocks does. */
void metrics_rejected(const char *user, enum metrics_reject reason);
/* Greeting to reply sent (success or not), seconds. */
void metrics_handshake_latency(double seconds);
/* A SOCKS5 failure reply sent for a connect (code 0x01..0x08). */
void metrics_connect_error(int reply_code);
/* An authentication attempt failed. */
void metrics_auth_failure(enum auth_method method);
/* One ACL evaluation's outcome. */
void metrics_acl_decision(bool allow);
/* An ACL reload attempt (file watch, SIGHUP or API). */
void metrics_acl_reload(bool ok);
/* Session records the store writer had to drop. */
void metrics_store_dropped(uint64_t n);
/* A connection closed because its PROXY protocol header was missing or
 * malformed (server.proxy_protocol). */
void metrics_proxy_header_failure(void);

/* Totals for the metrics history sampler and tests. */
struct metrics_totals {
	int64_t active_sessions;
	uint64_t sessions_total; /* established (rustsocks_sessions_total) */
	uint64_t rejected_total; /* by the ACL (rustsocks_sessions_rejected_total) */
	uint64_t bytes_sent, bytes_received;
};
void metrics_read_totals(struct metrics_totals *out);

/* The collector itself (also registered by metrics_init); exposed so tests
 * can render it into their own writer. */
struct prom_writer;
void metrics_collect(struct prom_writer *w, void *arg);

/* Tests only: zero every counter and forget the per-user table. Not safe
 * while other threads record. */
void metrics_reset_for_tests(uint32_t max_user_labels);

#endif
