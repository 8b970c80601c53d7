/* Internals of the PostgreSQL store, shared by store_pg.c (connection,
 * migrations, writes) and store_pg_read.c (history queries, stats). */
#ifndef CSOCKS_STORE_PG_INTERNAL_H
#define CSOCKS_STORE_PG_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "session/store_impl.h"

struct pg_store {
	PGconn *conn;
	char *url;
	bool prepared;
};

#define COLUMNS                                                                                    \
	"session_id, \"user\", (EXTRACT(EPOCH FROM start_time) * 1000000)::bigint, "               \
	"(EXTRACT(EPOCH FROM end_time) * 1000000)::bigint, duration_secs, source_ip, "             \
	"source_port, dest_ip, dest_port, protocol, bytes_sent, bytes_received, packets_sent, "    \
	"packets_received, status, close_reason, acl_rule_matched, acl_decision"

/* A failed result: classified into a STORE_* code, "pg: what: message" in
 * err (res may be NULL: the connection's own error). */
int pg_store_fail(struct pg_store *s, const PGresult *res, const char *what, char *err,
                  size_t errlen);
/* Reconnect when the connection was lost. STORE_OK or an error. */
int pg_store_ensure_conn(struct pg_store *s, char *err, size_t errlen);
/* One parameterised statement; *out is its result (caller clears) when OK. */
int pg_store_params_exec(struct pg_store *s, const char *sql, int n, const char *const *vals,
                         PGresult **out, const char *what, char *err, size_t errlen);

int pg_store_query(struct session_store *st, const struct session_query *q,
                   struct session_page *out, char *err, size_t errlen);
int pg_store_get(struct session_store *st, const char *id, struct session_record **out, char *err,
                 size_t errlen);
int pg_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                   size_t errlen);
int pg_store_stats(struct session_store *st, int64_t since_us, struct session_stats *out, char *err,
                   size_t errlen);

#endif
