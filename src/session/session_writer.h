/* The session writer: a thread that owns a store connection and writes the
 * records workers submit, in batches, without ever making a worker wait.
 *
 *   workers --session_writer_submit()--> bounded queue --> writer thread
 *                                                         (one transaction
 *                                                          per batch)
 *
 * - Flush when batch_size records are queued or batch_interval_ms passed
 *   since the last flush. A writer that fell behind commits what is queued
 *   in bigger transactions (up to 8 batches, at most 20,000 records).
 * - A transient failure (database locked, I/O error, read-only, cannot
 *   open, lost PostgreSQL connection) keeps the batch and retries it with
 *   backoff (50 ms doubling to 5 s); workers keep submitting meanwhile. The
 *   outage is logged once, and so is the recovery.
 * - A full queue drops the NEW record (counted; logged at most every 10 s
 *   by the writer thread, never by the worker).
 * - A batch that fails permanently (a bad row) is retried row by row so
 *   only the bad rows are lost (counted as failed).
 * - Retention cleanup at start and every cleanup_interval_hours.
 * - session_writer_stop() drains the queue, bounded by a deadline. */
#ifndef CSOCKS_SESSION_WRITER_H
#define CSOCKS_SESSION_WRITER_H

#include "config/config.h"
#include "session/session_types.h"
#include "session/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session_writer;

/* Everything the writer takes from [sessions]; session_writer_start() fills
 * it from a config, tests fill it directly. Zero means the default. */
struct session_writer_options {
	enum session_storage storage;
	const char *database_url;
	uint32_t batch_size;             /* default 100 (RustSocks) */
	uint32_t batch_interval_ms;      /* default 1000 (RustSocks) */
	uint32_t retention_days;         /* 0 = keep forever */
	uint32_t cleanup_interval_hours; /* default 24 */
	uint32_t queue_capacity;         /* default 100000 */
	const char *node;                /* default: hostname */
	int busy_timeout_ms;             /* SQLite, writer connection; default 200 */
	uint32_t retry_min_ms;           /* backoff start, default 50 */
	uint32_t retry_max_ms;           /* backoff cap, default 5000 */
	bool rustsocks_indexes;          /* see session_store_options */
};

#define SESSION_WRITER_BATCH_SIZE_DEFAULT     100
#define SESSION_WRITER_BATCH_INTERVAL_DEFAULT 1000
#define SESSION_WRITER_QUEUE_DEFAULT          100000

/* Open the store from cfg->sessions, apply migrations, close stale active
 * rows, start the thread. NULL + err on failure (bad URL, unreachable or
 * unwritable database). */
struct session_writer *session_writer_start(const struct csocks_config *cfg, char *err,
                                            size_t errlen);
struct session_writer *session_writer_start_opts(const struct session_writer_options *o, char *err,
                                                 size_t errlen);

/* Queue a copy of r (its strings are copied too). Never blocks beyond a
 * short mutex; false = dropped (queue full or writer stopping). Any
 * thread. */
bool session_writer_submit(struct session_writer *w, const struct session_record *r);

/* Write everything queued, then stop and free. Gives up after deadline_ms
 * (records still queued then are counted as dropped and logged). NULL-safe. */
void session_writer_stop(struct session_writer *w, int deadline_ms);

/* A second connection for readers (the API thread): readers never wait on
 * the writer. Owned by the writer; valid until session_writer_stop(). */
struct session_store *session_writer_store(struct session_writer *w);

struct session_writer_stats {
	uint64_t submitted;   /* accepted into the queue */
	uint64_t written;     /* rows committed */
	uint64_t dropped;     /* queue full, or left at the stop deadline */
	uint64_t failed;      /* rows the database refused permanently */
	uint64_t retries;     /* failed transient attempts */
	uint64_t batches;     /* committed transactions */
	uint64_t queue_depth; /* records waiting now */
	uint64_t queue_capacity;
	uint64_t flush_last_us; /* duration of the last committed batch */
	uint64_t flush_max_us;
	uint64_t flush_total_us;  /* sum over batches, for an average */
	uint64_t cleanup_deleted; /* rows removed by retention */
	bool outage;              /* the store is failing right now */
};
void session_writer_get_stats(struct session_writer *w, struct session_writer_stats *out);

#endif
