#include "app/app_metrics.h"

#include "auth/auth.h"
#include "obs/prom.h"
#include "session/session_writer.h"

static void collect_auth(struct prom_writer *w, void *arg)
{
	struct auth_stats a;
	auth_manager_stats_get(arg, &a);
	prom_counter(w, "csocks_auth_attempts_total",
	             "Authentication attempts that checked credentials or an address", a.attempts);
	if (prom_family(w, "csocks_auth_results_total", "Authentication attempts by outcome",
	                PROM_COUNTER) == 0) {
		static const char *const names[] = {"ok", "credentials", "account", "throttled",
		                                    "error"};
		const uint64_t v[] = {a.ok, a.fail_credentials, a.fail_account, a.fail_throttled,
		                      a.fail_error};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			struct prom_label l = {"result", names[i]};
			prom_sample_u64(w, &l, 1, v[i]);
		}
	}
	prom_counter(w, "csocks_auth_lockouts_total",
	             "Client addresses locked out after failed logins", a.lockouts);
	prom_gauge(w, "csocks_auth_throttle_entries",
	           "Client addresses the login throttle currently tracks",
	           (double)a.throttle_entries);
	if (prom_family(w, "csocks_auth_group_cache_lookups_total",
	                "Group-membership cache lookups by result", PROM_COUNTER) == 0) {
		struct prom_label hit = {"result", "hit"}, miss = {"result", "miss"};
		prom_sample_u64(w, &hit, 1, a.group_cache_hits);
		prom_sample_u64(w, &miss, 1, a.group_cache_misses);
	}
}

int app_metrics_auth_register(struct auth_manager *m)
{
	return m ? prom_collector_add(collect_auth, m) : 0;
}

void app_metrics_auth_unregister(struct auth_manager *m)
{
	if (m)
		prom_collector_del(collect_auth, m);
}

/* ---- The session writer's counters (its own collector) ---- */

static void collect_store(struct prom_writer *w, void *arg)
{
	struct session_writer_stats st;
	session_writer_get_stats(arg, &st);
	prom_counter(w, "csocks_store_rows_written_total", "Session rows committed to the store",
	             st.written);
	prom_counter(w, "csocks_store_rows_failed_total",
	             "Session rows the database refused permanently", st.failed);
	prom_counter(w, "csocks_store_retries_total",
	             "Batch writes retried after a transient store error", st.retries);
	prom_counter(w, "csocks_store_batches_total", "Batches committed (one transaction each)",
	             st.batches);
	if (prom_family(w, "csocks_store_flush_seconds_total", "Time spent committing batches",
	                PROM_COUNTER) == 0)
		prom_sample(w, NULL, 0, (double)st.flush_total_us / 1e6);
	prom_gauge(w, "csocks_store_flush_seconds_max", "Longest batch commit so far",
	           (double)st.flush_max_us / 1e6);
	prom_gauge(w, "csocks_store_queue_depth", "Session records waiting for the writer",
	           (double)st.queue_depth);
	prom_gauge(w, "csocks_store_queue_capacity",
	           "Records the writer's queue holds before it drops", (double)st.queue_capacity);
	prom_gauge(w, "csocks_store_outage", "1 while the store is failing and the writer retries",
	           st.outage ? 1 : 0);
	prom_counter(w, "csocks_store_retention_deleted_total",
	             "Rows deleted by the retention cleanup", st.cleanup_deleted);
}

int app_metrics_store_register(struct session_writer *wr)
{
	return wr ? prom_collector_add(collect_store, wr) : 0;
}

void app_metrics_store_unregister(struct session_writer *wr)
{
	if (wr)
		prom_collector_del(collect_store, wr);
}
