/* The /metrics collectors of the modules below the proxy that keep their
 * own counters (the auth manager, the session writer): the composition
 * root registers them, so obs/ knows nothing of auth or sessions. */
#ifndef CSOCKS_APP_METRICS_H
#define CSOCKS_APP_METRICS_H

/* The auth manager's counters on /metrics (csocks_auth_attempts_total,
 * csocks_auth_results_total{result}, csocks_auth_lockouts_total,
 * csocks_auth_throttle_entries, csocks_auth_group_cache_lookups_total
 * {result}), read at each scrape. Unregister before freeing m. NULL: no-op. */
struct auth_manager;
int app_metrics_auth_register(struct auth_manager *m);
void app_metrics_auth_unregister(struct auth_manager *m);

/* The session writer's counters on /metrics (csocks_store_rows_written_total,
 * _rows_failed_total, _retries_total, _batches_total, _flush_seconds_total,
 * _flush_seconds_max, _queue_depth, _queue_capacity, _outage,
 * _retention_deleted_total), read at each scrape. Unregister before the
 * writer stops. NULL: no-op. */
struct session_writer;
int app_metrics_store_register(struct session_writer *w);
void app_metrics_store_unregister(struct session_writer *w);

#endif
