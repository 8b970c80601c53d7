/* RustSocks' metrics_snapshots table in the sessions' SQLite file (see
 * metrics_store.h). Timestamps are RFC 3339 text, as RustSocks writes
 * them. */
#include "session/metrics_store.h"

#include "util/strutil.h"
#include "util/timeutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

/* Expired rows are deleted once per this many saves (and at open). */
#define CLEANUP_EVERY 100

struct metrics_store {
	sqlite3 *db;
	sqlite3_stmt *ins, *sel, *del;
	int64_t retention_us;
	unsigned saves;
};

/* RustSocks' migration 003, unchanged. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS metrics_snapshots ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " timestamp TEXT NOT NULL,"
    " active_sessions INTEGER NOT NULL,"
    " total_sessions INTEGER NOT NULL,"
    " bandwidth INTEGER NOT NULL,"
    " created_at TEXT NOT NULL DEFAULT (datetime('now')));"
    "CREATE INDEX IF NOT EXISTS idx_metrics_timestamp ON metrics_snapshots(timestamp);"
    "CREATE INDEX IF NOT EXISTS idx_metrics_created_at ON metrics_snapshots(created_at);";

/* Microseconds since the epoch of a stored timestamp: whole seconds from
 * strftime() (which reads "Z" and offsets), microseconds from the first six
 * digits after the dot ("...:SS.ffffff", 0 when there is no fraction).
 * julianday() would round to a few microseconds. */
#define WALL_US                                                                                    \
	"(CAST(strftime('%s', timestamp) AS INTEGER) * 1000000 + CASE WHEN substr(timestamp, 20, " \
	"1) = '.' THEN CAST(substr(timestamp, 21, 6) AS INTEGER) ELSE 0 END)"

static void db_err(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "metrics store: %s: %s", what, db ? sqlite3_errmsg(db) : "no memory");
}

static int cleanup(struct metrics_store *ms, char *err, size_t errlen)
{
	char cut[40];
	time_format_rfc3339(time_wall_us() - ms->retention_us, cut, sizeof(cut));
	sqlite3_reset(ms->del);
	sqlite3_bind_text(ms->del, 1, cut, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(ms->del) != SQLITE_DONE) {
		db_err(ms->db, "delete expired", err, errlen);
		return -1;
	}
	return 0;
}

struct metrics_store *metrics_store_open(const char *path, uint32_t retention_hours, char *err,
                                         size_t errlen)
{
	struct metrics_store *ms = xcalloc(1, sizeof(*ms));
	ms->retention_us = (int64_t)retention_hours * 3600 * 1000000;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &ms->db, flags, NULL) != SQLITE_OK) {
		db_err(ms->db, path, err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(ms->db, 5000);
	if (sqlite3_exec(ms->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(ms->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		db_err(ms->db, "create metrics_snapshots", err, errlen);
		goto fail;
	}
	if (sqlite3_prepare_v2(ms->db,
	                       "INSERT INTO metrics_snapshots (timestamp, active_sessions, "
	                       "total_sessions, bandwidth) VALUES (?1, ?2, ?3, ?4)",
	                       -1, &ms->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ms->db,
	                       "SELECT * FROM (SELECT " WALL_US
	                       ", active_sessions, total_sessions, "
	                       "bandwidth, id FROM metrics_snapshots WHERE timestamp >= ?1 "
	                       "ORDER BY timestamp DESC, id DESC LIMIT ?2) ORDER BY 1, 5",
	                       -1, &ms->sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ms->db, "DELETE FROM metrics_snapshots WHERE timestamp < ?1", -1,
	                       &ms->del, NULL) != SQLITE_OK) {
		db_err(ms->db, "prepare", err, errlen);
		goto fail;
	}
	if (cleanup(ms, err, errlen) < 0)
		goto fail;
	return ms;
fail:
	metrics_store_close(ms);
	return NULL;
}

void metrics_store_close(struct metrics_store *ms)
{
	if (!ms)
		return;
	sqlite3_finalize(ms->ins);
	sqlite3_finalize(ms->sel);
	sqlite3_finalize(ms->del);
	sqlite3_close(ms->db);
	free(ms);
}

int metrics_store_save(struct metrics_store *ms, const struct metrics_row *r, char *err,
                       size_t errlen)
{
	char ts[40];
	time_format_rfc3339(r->wall_us, ts, sizeof(ts));
	sqlite3_reset(ms->ins);
	sqlite3_bind_text(ms->ins, 1, ts, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(ms->ins, 2, r->active_sessions);
	sqlite3_bind_int64(ms->ins, 3, (sqlite3_int64)r->total_sessions);
	sqlite3_bind_int64(ms->ins, 4, (sqlite3_int64)r->bandwidth);
	if (sqlite3_step(ms->ins) != SQLITE_DONE) {
		db_err(ms->db, "insert", err, errlen);
		return -1;
	}
	if (++ms->saves % CLEANUP_EVERY == 0)
		return cleanup(ms, err, errlen);
	return 0;
}

long metrics_store_load(struct metrics_store *ms, int64_t since_us, struct metrics_row *out,
                        size_t max, char *err, size_t errlen)
{
	char ts[40];
	long n = 0;
	time_format_rfc3339(since_us, ts, sizeof(ts));
	sqlite3_reset(ms->sel);
	sqlite3_bind_text(ms->sel, 1, ts, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(ms->sel, 2, (sqlite3_int64)max);
	int rc;
	while ((rc = sqlite3_step(ms->sel)) == SQLITE_ROW && (size_t)n < max) {
		out[n++] = (struct metrics_row){
		    .wall_us = sqlite3_column_int64(ms->sel, 0),
		    .active_sessions = sqlite3_column_int64(ms->sel, 1),
		    .total_sessions = (uint64_t)sqlite3_column_int64(ms->sel, 2),
		    .bandwidth = (uint64_t)sqlite3_column_int64(ms->sel, 3),
		};
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_err(ms->db, "select", err, errlen);
		return -1;
	}
	return n;
}
