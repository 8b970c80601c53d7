/* Internal to the store: the backend ops table and the SQL pieces both
 * backends share. Not for other modules. */
#ifndef CSOCKS_SESSION_STORE_IMPL_H
#define CSOCKS_SESSION_STORE_IMPL_H

#include "session/store.h"

#include <pthread.h>

/* The newest schema version (both backends keep the same numbering). */
#define STORE_SCHEMA_LATEST 3

/* Calls arrive with the store's mutex held. */
struct store_ops {
	const char *name;
	/* Connect to url (already validated for this backend); set st->impl. */
	int (*open)(struct session_store *st, const char *url, int busy_timeout_ms, char *err,
	            size_t errlen);
	void (*close)(struct session_store *st);
	int (*reconnect)(struct session_store *st, char *err, size_t errlen);
	int (*migrate)(struct session_store *st, char *err, size_t errlen);
	int (*schema_version)(struct session_store *st, int *version, char *err, size_t errlen);
	int (*write_batch)(struct session_store *st, const struct session_record *const *recs,
	                   size_t n, char *err, size_t errlen);
	int (*close_stale)(struct session_store *st, int64_t now_us, uint64_t *closed, char *err,
	                   size_t errlen);
	int (*delete_older_than)(struct session_store *st, int64_t cutoff_us, uint32_t limit,
	                         uint64_t *deleted, char *err, size_t errlen);
	int (*query)(struct session_store *st, const struct session_query *q,
	             struct session_page *out, char *err, size_t errlen);
	int (*get)(struct session_store *st, const char *id, struct session_record **out, char *err,
	           size_t errlen);
	int (*count)(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
	             size_t errlen);
	int (*stats)(struct session_store *st, int64_t since_us, struct session_stats *out,
	             char *err, size_t errlen);
};

struct session_store {
	const struct store_ops *ops;
	void *impl;
	char *node;
	bool rustsocks_indexes; /* create store_rustsocks_indexes that are missing */
	uint32_t had_indexes;   /* bit i: store_rustsocks_indexes[i] existed before the
	                         * migrations of this open (store_note_indexes) */
	pthread_mutex_t lock;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;
extern const struct store_ops store_mysql_ops;

void store_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The fixed ORDER BY column of a sort key (never user text). */
const char *store_sort_column(enum session_sort s);

/* Query parameters collected while building SQL: text or integer. */
#define STORE_MAX_PARAMS 8
struct store_params {
	int n;
	struct {
		bool is_int;
		int64_t i;
		const char *s;
		char buf[SESSION_TIME_MAX];
	} v[STORE_MAX_PARAMS];
};

/* Normalised copy of a query: page >= 1, page_size in [1, 1000], now set. */
void store_query_normalise(const struct session_query *in, struct session_query *out);

/* Append " WHERE ..." for q's filters to sql, adding parameters to p.
 * Placeholders are "?N" (SQLite) or "$N" (PostgreSQL) as ph says; time
 * values are bound as RFC 3339 text (time_cast is appended to them, e.g.
 * "::timestamptz"). Returns 0, or -1 when sql is too small. */
int store_sql_filters(const struct session_query *q, char ph, const char *time_cast, char *sql,
                      size_t size, struct store_params *p);
/* Append " ORDER BY col dir NULLS LAST, session_id dir LIMIT ph OFFSET ph". */
int store_sql_order_page(const struct session_query *q, char ph, char *sql, size_t size,
                         struct store_params *p);

/* Fill total_pages etc. from total. */
void store_page_finish(const struct session_query *q, struct session_page *out);

/* Append a record to a page (grows the array). */
void store_page_push(struct session_page *out, struct session_record *r);

/* RustSocks' session indexes that csocks drops: five are left prefixes or
 * the reverse of the four csocks keeps; the others serve sorting the whole
 * history by bytes, duration, source or protocol, which csocks does with a
 * scan instead (a filter narrows it through the kept ones). They stay only
 * with sessions.rustsocks_indexes; docs/sessions.md "Indexes" has the
 * measurements. `on` is "sessions(columns)", valid SQL on both backends. */
struct store_index {
	const char *name;
	const char *on;
};
extern const struct store_index store_rustsocks_indexes[];
extern const size_t store_rustsocks_indexes_n;

/* The backend's side of store_apply_index_set(). */
struct store_index_ops {
	/* *yes = the index exists. */
	int (*exists)(struct session_store *st, const char *name, bool *yes, char *err,
	              size_t errlen);
	int (*exec)(struct session_store *st, const char *sql, char *err, size_t errlen);
};

/* Before the migrations: note which store_rustsocks_indexes exist. */
int store_note_indexes(struct session_store *st, const struct store_index_ops *ops, char *err,
                       size_t errlen);
/* After them, in the same transaction: with st->rustsocks_indexes create
 * the store_rustsocks_indexes that are missing; else drop those that did
 * not exist before the migrations (a new database gets csocks' four). An
 * existing database (RustSocks' own, or one opened with rustsocks_indexes
 * before) keeps every index it has, so a rollback to RustSocks finds them.
 * Logs what changed. */
int store_apply_index_set(struct session_store *st, const struct store_index_ops *ops, char *err,
                          size_t errlen);

/* The SQL of schema migration 2 (indexes), shared by both stores. */
extern const char store_migration_v2[];

#endif
