import { useRef } from 'preact/hooks';
import { api } from '../api.js';
import { usePoll } from '../hooks.js';
import { ErrorBox, Stat } from '../components.jsx';
import { formatBytes, formatCount, formatDuration, parseProm, promSum } from '../format.js';

export function Health() {
  const prevCpu = useRef(null);
  const { data, error } = usePoll(async () => {
    const [health, pool, prom] = await Promise.all([
      api.get('/health'), api.get('/api/pool/stats'), api.text('/metrics').then(parseProm).catch(() => ({})),
    ]);
    // CPU use: the rate of process_cpu_seconds_total between two polls.
    const now = Date.now();
    const cpu = promSum(prom, 'process_cpu_seconds_total');
    const p = prevCpu.current;
    const cpuPct = p && now > p.t ? Math.max(0, (100 * (cpu - p.v)) / ((now - p.t) / 1000)) : null;
    prevCpu.current = { t: now, v: cpu };
    return { health, pool, prom, cpuPct };
  }, 3000);
  const h = data && data.health;
  const p = data && data.pool;
  const m = (data && data.prom) || {};
  const has = (n) => n in m;
  const c = (n, l) => formatCount(promSum(m, n, l));
  return (
    <section aria-labelledby="h-health">
      <h1 id="h-health">Metrics &amp; health</h1>
      <ErrorBox error={error} />
      <div class="stats">
        <Stat id="status" label="Status" value={h ? `${h.status}${h.ready ? '' : ' (not ready)'}` : '…'} hint={h ? `csocks ${h.version}` : ''} />
        <Stat label="Uptime" value={h ? formatDuration(h.uptime_seconds) : '…'} />
        <Stat label="Active sessions" value={c('rustsocks_active_sessions')} />
        <Stat label="Sessions since start" value={c('rustsocks_sessions_total')} />
      </div>
      <div class="two">
        <div class="card"><h2>Authentication</h2><dl class="details">
          <dt>Failures</dt><dd>{c('csocks_auth_failures_total')}</dd>
          <dt>Attempts</dt><dd>{has('csocks_auth_attempts_total') ? c('csocks_auth_attempts_total') : 'n/a (method none)'}</dd>
          <dt>Lockouts</dt><dd>{has('csocks_auth_lockouts_total') ? c('csocks_auth_lockouts_total') : '–'}</dd>
          <dt>Throttled addresses</dt><dd>{has('csocks_auth_throttle_entries') ? c('csocks_auth_throttle_entries') : '–'}</dd>
        </dl></div>
        <div class="card"><h2>ACL</h2><dl class="details">
          <dt>Allowed</dt><dd data-metric="acl-allow">{c('csocks_acl_decisions_total', { decision: 'allow' })}</dd>
          <dt>Blocked</dt><dd data-metric="acl-block">{c('csocks_acl_decisions_total', { decision: 'block' })}</dd>
          <dt>Reloads ok / failed</dt><dd>{c('csocks_acl_reloads_total', { result: 'success' })} / {c('csocks_acl_reloads_total', { result: 'failure' })}</dd>
          <dt>Rejected by reason</dt><dd>{(m.csocks_sessions_rejected_by_reason_total || []).map((s) => `${s.labels.reason} ${formatCount(s.value)}`).join(', ') || '–'}</dd>
        </dl></div>
        <div class="card"><h2>Session store</h2>{has('csocks_store_queue_depth') ? (<dl class="details">
          <dt>Queue depth / capacity</dt><dd data-metric="queue">{c('csocks_store_queue_depth')} / {c('csocks_store_queue_capacity')}</dd>
          <dt>Dropped records</dt><dd>{c('csocks_store_dropped_total')}</dd>
          <dt>Rows written / failed</dt><dd>{c('csocks_store_rows_written_total')} / {c('csocks_store_rows_failed_total')}</dd>
          <dt>Retries</dt><dd>{c('csocks_store_retries_total')}</dd>
          <dt>Outage</dt><dd>{promSum(m, 'csocks_store_outage') ? 'yes: retrying' : 'no'}</dd>
        </dl>) : <p class="muted">Sessions are kept in memory only (no store configured). Dropped: {c('csocks_store_dropped_total')}</p>}</div>
        <div class="card"><h2>Upstream pool</h2>{p ? (<dl class="details">
          <dt>Enabled</dt><dd>{p.enabled ? 'yes' : 'no'}</dd>
          <dt>Idle / max</dt><dd>{p.total_idle} / {p.max_total_idle}</dd>
          <dt>Hits / misses</dt><dd>{p.pool_hits} / {p.pool_misses} ({(p.hit_rate * 100).toFixed(1)} %)</dd>
          <dt>Expired / evicted / dropped</dt><dd>{p.expired} / {p.evicted} / {p.dropped_full}</dd>
        </dl>) : '…'}</div>
        <div class="card"><h2>System resources</h2>{has('process_resident_memory_bytes') ? (<dl class="details" data-system>
          <dt>Memory (resident)</dt><dd>{formatBytes(promSum(m, 'process_resident_memory_bytes'))}</dd>
          <dt>CPU</dt><dd>{data && data.cpuPct !== null ? `${data.cpuPct.toFixed(1)} % of one core` : 'measuring…'}</dd>
          <dt>CPU time</dt><dd>{formatDuration(promSum(m, 'process_cpu_seconds_total'))}</dd>
          <dt>Open files / limit</dt><dd>{c('process_open_fds')} / {has('process_max_fds') ? c('process_max_fds') : 'unlimited'}</dd>
        </dl>) : <p class="muted">Not available (metrics.enabled = false).</p>}</div>
        <div class="card"><h2>Relay and errors</h2><dl class="details">
          <dt>Kernel pipes</dt><dd>{c('csocks_relay_pipes')}</dd>
          <dt>Pipe failures</dt><dd>{c('csocks_relay_pipe_failures_total')}</dd>
          <dt>Accept errors</dt><dd>{c('csocks_accept_errors_total')}</dd>
          <dt>Connect errors</dt><dd>{(m.csocks_connect_errors_total || []).filter((s) => s.value).map((s) => `${s.labels.code} ${formatCount(s.value)}`).join(', ') || 'none'}</dd>
        </dl></div>
      </div>
    </section>
  );
}
