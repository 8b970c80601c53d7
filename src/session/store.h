/* The session store: RustSocks' `sessions` table in SQLite, PostgreSQL or
 * MariaDB/MySQL, behind one interface (an ops table; store_sqlite.c,
 * store_pg.c and store_mysql.c are the implementations). docs/sessions.md
 * describes the schema, migrations and failure behaviour.
 *
 * A store is ONE database connection. Every call takes the store's mutex, so
 * a store may be shared by threads, but callers that must not wait on each
 * other (the batch writer and the API) use separate stores — see
 * session_writer_store().
 *
 * Return convention: STORE_OK (0) or a negative enum store_result; err (may
 * be NULL) receives "what: why" text. */
#ifndef CSOCKS_SESSION_STORE_H
#define CSOCKS_SESSION_STORE_H

#include "config/config.h"
#include "session/session_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_result {
	STORE_OK = 0,
	STORE_ERR_BUSY = -1,     /* transient: database locked / busy; retry as is */
	STORE_ERR_CONN = -2,     /* transient: connection or file lost, I/O error, disk
	                          * full: reconnect (session_store_reconnect) and retry */
	STORE_ERR_DATA = -3,     /* permanent for this input (constraint, bad value) */
	STORE_ERR_INTERNAL = -4, /* permanent: SQL error, bad URL, schema newer than us */
};

static inline bool store_result_transient(int rc)
{
	return rc == STORE_ERR_BUSY || rc == STORE_ERR_CONN;
}

struct session_store_options {
	enum session_storage storage; /* STORAGE_SQLITE, _POSTGRES or _MYSQL */
	const char *database_url;     /* "sqlite://path", "sqlite:path", "sqlite::memory:",
	                               * "postgresql://...", "postgres://...",
	                               * "mysql://..." or "mariadb://..." */
	const char *node;             /* this node's name, written to the `node` column and
	                               * used to close only our own stale rows; NULL = hostname */
	int busy_timeout_ms;          /* SQLite busy handler wait; 0 = 200 ms */
	bool migrate;                 /* apply pending migrations at open */
	bool rustsocks_indexes;       /* with migrate: create all of RustSocks' indexes
	                               * (else a new database gets the 4 csocks uses;
	                               * an existing one keeps what it has) */
	int open_wait_ms;             /* keep retrying "database locked" (another process
	                               * holds the SQLite write lock) this long; 0 = fail */
};

/* Connect (and migrate when asked). NULL + err on failure. */
struct session_store *session_store_open(const struct session_store_options *o, char *err,
                                         size_t errlen);
void session_store_close(struct session_store *st);

/* "sqlite" | "postgres" | "mysql". */
const char *session_store_backend(const struct session_store *st);

/* Drop the connection and connect again (after STORE_ERR_CONN). */
int session_store_reconnect(struct session_store *st, char *err, size_t errlen);

/* Schema version recorded in csocks_schema_migrations, and the newest this
 * build knows. */
int session_store_schema_version(struct session_store *st, int *version, char *err, size_t errlen);
int session_store_schema_latest(void);

/* UPSERT n records by session_id in ONE transaction: all or none. An
 * `active` row written at open is completed by the closed record later. */
int session_store_write_batch(struct session_store *st, const struct session_record *const *recs,
                              size_t n, char *err, size_t errlen);

/* At start: rows still `active` (a crash or kill left them) written by this
 * node become status 'closed', close_reason 'Server restart', end_time now,
 * duration now - start (RustSocks' behaviour; counters stay as last
 * written). *closed = rows changed. */
#define SESSION_STALE_CLOSE_REASON "Server restart"
int session_store_close_stale(struct session_store *st, int64_t now_us, uint64_t *closed, char *err,
                              size_t errlen);

/* Retention: delete up to limit rows (0 = no limit) with start_time <
 * cutoff that are not active, in one transaction. The writer deletes in
 * chunks so that one day's purge neither holds the write lock for long nor
 * grows the WAL without bound: call again while *deleted == limit. */
int session_store_delete_older_than(struct session_store *st, int64_t cutoff_us, uint32_t limit,
                                    uint64_t *deleted, char *err, size_t errlen);

/* History page (filters, paging, whitelisted sort). out is zeroed first;
 * free with session_page_free() on success. */
int session_store_query(struct session_store *st, const struct session_query *q,
                        struct session_page *out, char *err, size_t errlen);

/* One session by id: STORE_OK with *out = NULL when absent; otherwise the
 * caller frees *out. */
int session_store_get(struct session_store *st, const char *session_id, struct session_record **out,
                      char *err, size_t errlen);

/* Rows with status 'active', and all rows. */
int session_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                        size_t errlen);

/* Statistics over sessions started within window_hours of now_us (0 = the
 * wall clock). out is zeroed first; free with session_stats_free(). */
int session_store_stats(struct session_store *st, uint32_t window_hours, int64_t now_us,
                        struct session_stats *out, char *err, size_t errlen);

#endif
