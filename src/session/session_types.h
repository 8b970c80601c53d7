/* Session records: one row of RustSocks' `sessions` table (the same columns
 * and meanings, so its clients read ours), the query and statistics shapes the HTTP API reads, and
 * their helpers.
 *
 * A record is plain data. Its strings are BORROWED: the producer (proxy core,
 * tests) points them at its own storage and the writer deep-copies the record
 * at submit time (session_record_dup), so the producer may reuse its buffers
 * as soon as the call returns. Records handed out by the store (query
 * results) own their strings through the same single allocation. */
#ifndef CSOCKS_SESSION_TYPES_H
#define CSOCKS_SESSION_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_ID_LEN   36 /* "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx" */
#define SESSION_IP_MAX   46 /* INET6_ADDRSTRLEN */
#define SESSION_TIME_MAX 40 /* "2025-10-09T11:22:49.421595+00:00" + slack */

/* The `status` column. Values are RustSocks' strings; the numbers are ours. */
enum session_status {
	SESSION_ACTIVE = 0,          /* "active": tunnel open */
	SESSION_CLOSED = 1,          /* "closed": ended normally (either side closed) */
	SESSION_FAILED = 2,          /* "failed": connect/auth/limit/I/O failure */
	SESSION_REJECTED_BY_ACL = 3, /* "rejected_by_acl": ACL said block */
};
#define SESSION_STATUS_COUNT 4

/* The `protocol` column: "tcp" | "udp". */
enum session_protocol {
	SESSION_PROTO_TCP = 0,
	SESSION_PROTO_UDP = 1,
};

struct session_record {
	char session_id[SESSION_ID_LEN + 1]; /* UUID (v7 when csocks made it), lower-case text */
	const char *user;                    /* NOT NULL column; NULL is stored as "" */
	int64_t start_us;                    /* wall clock, microseconds since the epoch */
	int64_t end_us;                      /* 0 = NULL (still active) */
	int64_t duration_secs;               /* -1 = NULL */
	char source_ip[SESSION_IP_MAX];      /* client address, text */
	uint16_t source_port;
	uint16_t dest_port;
	const char *dest_ip; /* destination as requested: domain or IP text */
	enum session_protocol protocol;
	enum session_status status;
	uint64_t bytes_sent; /* stored as SQL INTEGER/BIGINT (signed 64-bit) */
	uint64_t bytes_received;
	uint64_t packets_sent;
	uint64_t packets_received;
	const char *close_reason;     /* NULL = NULL */
	const char *acl_rule_matched; /* NULL = NULL */
	const char *acl_decision;     /* "allow" | "block"; NOT NULL, NULL stored as "" */
	const char *node; /* read back from a store: the node that wrote the row (NULL = unknown);
	                     the store writes its own name, not this */
};

const char *session_status_name(enum session_status s);
/* RustSocks accepts lower and upper case. 0, or -1 when unknown. */
int session_status_parse(const char *s, enum session_status *out);
const char *session_protocol_name(enum session_protocol p);
int session_protocol_parse(const char *s, enum session_protocol *out);

/* A new UUIDv7 (time-ordered: later IDs sort later, to the millisecond),
 * lower-case text, NUL-terminated. Thread-safe; never fails (getrandom(2),
 * then /dev/urandom, then aborts). */
void session_id_generate(char out[SESSION_ID_LEN + 1]);

/* Deep copy into ONE allocation (the strings follow the struct); release
 * with free(). Never NULL (aborts on OOM). */
struct session_record *session_record_dup(const struct session_record *r);

/* Replace every byte that is not part of valid UTF-8 with '?', in place
 * (PostgreSQL refuses such text and JSON cannot carry it; a SOCKS username
 * or domain is arbitrary bytes). Returns the number replaced. */
size_t session_text_sanitize(char *s);

/* session_record_dup, then session_text_sanitize on every string. */
struct session_record *session_record_dup_clean(const struct session_record *r);

/* Timestamps as RustSocks stores them in SQLite: chrono's to_rfc3339() of a
 * UTC time, "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (we always write 6 fractional
 * digits, so our rows sort correctly as text). buf >= SESSION_TIME_MAX. */
void session_time_format(int64_t wall_us, char *buf, size_t size);
/* Parse what RustSocks and we write: RFC 3339 with 'T' or ' ', 0-9
 * fractional digits, 'Z' / "+HH:MM" / "-HH:MM" / no zone (legacy rows, UTC).
 * 0, or -1 on malformed input. */
int session_time_parse(const char *s, int64_t *wall_us);

/* ---- Queries (GET /api/sessions/history) ---- */

/* Sort columns the API may ask for. The store maps each to a fixed column
 * name; user input never reaches SQL text. */
enum session_sort {
	SESSION_SORT_START_TIME = 0, /* default */
	SESSION_SORT_END_TIME,
	SESSION_SORT_DURATION,
	SESSION_SORT_BYTES_SENT,
	SESSION_SORT_BYTES_RECEIVED,
	SESSION_SORT_USER,
	SESSION_SORT_SOURCE_IP,
	SESSION_SORT_DEST_IP,
	SESSION_SORT_DEST_PORT,
	SESSION_SORT_PROTOCOL,
	SESSION_SORT_STATUS,
	SESSION_SORT_ACL_DECISION,
	SESSION_SORT_COUNT,
};
/* The API's sort_by names: RustSocks' (user, source_ip, dest_ip, protocol,
 * status, acl_decision, bytes_sent, bytes_received, duration_seconds |
 * duration_secs, start_time) plus duration, end_time, dest_port. 0, or -1 for
 * anything else (RustSocks silently falls back to start_time; the API layer
 * decides whether to do the same or answer 400). */
int session_sort_parse(const char *name, enum session_sort *out);

#define SESSION_PAGE_SIZE_DEFAULT 50
#define SESSION_PAGE_SIZE_MAX     1000

struct session_query {
	const char *user;    /* exact match, NULL = any */
	const char *dest_ip; /* exact match, NULL = any */
	bool has_status;
	enum session_status status;
	uint32_t hours;     /* > 0: only sessions with start_time >= now - hours */
	int64_t now_us;     /* "now" for the window; 0 = the wall clock */
	uint32_t page;      /* 1-based; 0 is read as 1 */
	uint32_t page_size; /* 0 = 50; clamped to 1000 */
	enum session_sort sort;
	bool sort_asc; /* default (false) = descending, as RustSocks */
};

struct session_page {
	struct session_record **items; /* each from one allocation */
	size_t n;
	uint64_t total; /* rows matching the filters, all pages */
	uint32_t page, page_size, total_pages;
};
void session_page_free(struct session_page *p);

/* ---- Statistics (GET /api/sessions/stats?window_hours=N) ---- */

#define SESSION_STATS_TOP 10

struct session_user_stat {
	char *user;
	uint64_t session_count, bytes_sent, bytes_received;
};

struct session_dest_stat {
	char *dest_ip; /* the API shows "dest_ip:dest_port" as RustSocks does */
	uint16_t dest_port;
	uint64_t session_count, bytes_sent, bytes_received;
};

/* Every figure covers sessions whose start_time is inside the window. */
struct session_stats {
	uint32_t window_hours;
	uint64_t total_sessions;
	uint64_t by_status[SESSION_STATUS_COUNT]; /* indexed by enum session_status */
	uint64_t total_bytes_sent, total_bytes_received;
	uint64_t acl_allowed, acl_blocked;                     /* acl_decision 'allow' / 'block' */
	struct session_user_stat top_users[SESSION_STATS_TOP]; /* by session_count desc */
	size_t n_top_users;
	struct session_dest_stat top_destinations[SESSION_STATS_TOP];
	size_t n_top_destinations;
};
void session_stats_free(struct session_stats *s);

#endif
