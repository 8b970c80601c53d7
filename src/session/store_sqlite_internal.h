/* Internals of the SQLite store, shared by store_sqlite.c (connection,
 * migrations, writes) and store_sqlite_read.c (history queries, stats). */
#ifndef CSOCKS_STORE_SQLITE_INTERNAL_H
#define CSOCKS_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>

#include "session/store_impl.h"

#define FILTER_SETS 16 /* user | dest_ip | status | hours */

enum {
	ST_UPSERT,
	ST_GET,
	ST_COUNT,
	ST_CLOSE_STALE,
	ST_DELETE_OLD,
	ST_STATS_TOTALS,
	ST_STATS_USERS,
	ST_STATS_DESTS,
	ST_FIXED_COUNT,
};

struct sqlite_store {
	sqlite3 *db;
	char *path; /* ":memory:" for an in-memory database */
	int busy_ms;
	sqlite3_stmt *fixed[ST_FIXED_COUNT];
	sqlite3_stmt *page[FILTER_SETS][SESSION_SORT_COUNT][2];
	sqlite3_stmt *total[FILTER_SETS];
};

#define COLUMNS                                                                                    \
	"session_id, \"user\", start_time, end_time, duration_secs, source_ip, source_port, "      \
	"dest_ip, dest_port, protocol, bytes_sent, bytes_received, packets_sent, "                 \
	"packets_received, status, close_reason, acl_rule_matched, acl_decision"

/* A failure of rc while doing what: classified (busy, connection, other)
 * into a STORE_* code, with "sqlite: what: message" in err. */
int sqlite_store_fail(struct sqlite_store *s, int rc, const char *what, char *err, size_t errlen);
/* The fixed statement which (ST_*), prepared at open. */
int sqlite_store_stmt(struct sqlite_store *s, int which, sqlite3_stmt **out, char *err,
                      size_t errlen);

int sqlite_store_query(struct session_store *st, const struct session_query *qq,
                       struct session_page *out, char *err, size_t errlen);
int sqlite_store_get(struct session_store *st, const char *id, struct session_record **out,
                     char *err, size_t errlen);
int sqlite_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                       size_t errlen);
int sqlite_store_stats(struct session_store *st, int64_t since_us, struct session_stats *out,
                       char *err, size_t errlen);

#endif
