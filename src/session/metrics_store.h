/* metrics.storage = "sqlite": the metrics history (RustSocks'
 * metrics_snapshots table) kept in the sessions' SQLite file, so
 * /api/metrics/history survives a restart. Own connection (WAL: the session
 * writer's connection is never blocked for long); used by one thread, the
 * API's metrics sampler. */
#ifndef CSOCKS_METRICS_STORE_H
#define CSOCKS_METRICS_STORE_H

#include <stddef.h>
#include <stdint.h>

struct metrics_row {
	int64_t wall_us;
	int64_t active_sessions;
	uint64_t total_sessions;
	uint64_t bandwidth;
};

struct metrics_store;

/* Open path (a file name, as config_sqlite_path() gives it), create the
 * table and its indexes if missing. retention_hours: rows older are deleted
 * as new ones are saved. NULL with err on failure. */
struct metrics_store *metrics_store_open(const char *path, uint32_t retention_hours, char *err,
                                         size_t errlen);
void metrics_store_close(struct metrics_store *ms);

/* Insert one snapshot (and, every so often, delete the expired). 0 or -1
 * with err. */
int metrics_store_save(struct metrics_store *ms, const struct metrics_row *r, char *err,
                       size_t errlen);
/* The newest max rows taken at or after since_us, oldest first, into out.
 * Returns the count, or -1 with err. */
long metrics_store_load(struct metrics_store *ms, int64_t since_us, struct metrics_row *out,
                        size_t max, char *err, size_t errlen);

#endif
