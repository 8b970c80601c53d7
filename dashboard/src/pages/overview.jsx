import { useRef } from 'preact/hooks';
import { api } from '../api.js';
import { usePoll } from '../hooks.js';
import { ErrorBox, LineChart, Stat } from '../components.jsx';
import { formatBytes, formatCount, formatRate, parseProm, promSum, rates } from '../format.js';

const HOUR = 3600 * 1000;

export function Overview() {
  const prev = useRef(null);
  const live = usePoll(async () => {
    const [stats, prom, active] = await Promise.all([
      api.get('/api/sessions/stats?window_hours=1'),
      api.text('/metrics').then(parseProm).catch(() => ({})),
      api.get('/api/sessions/active').catch(() => []),
    ]);
    const now = Date.now();
    // The byte counters grow when a session closes; the live sessions'
    // own counters cover the rest, so their sum moves while data flows.
    const live = (k) => active.reduce((a, x) => a + (x[k] || 0), 0);
    const cur = {
      t: now,
      sessions: promSum(prom, 'rustsocks_sessions_total'),
      sent: promSum(prom, 'rustsocks_bytes_sent_total') + live('bytes_sent'),
      recv: promSum(prom, 'rustsocks_bytes_received_total') + live('bytes_received'),
    };
    const p = prev.current;
    const dt = p ? (now - p.t) / 1000 : 0;
    const rate = (k) => (p && dt > 0 ? Math.max(0, cur[k] - p[k]) / dt : null);
    const r = { sessions: rate('sessions'), sent: rate('sent'), recv: rate('recv') };
    prev.current = cur;
    return { stats, prom, r };
  }, 2000);
  const hist = usePoll(() => api.get('/api/metrics/history'), 5000);

  const d = live.data;
  const s = d && d.stats;
  const prom = (d && d.prom) || {};
  const points = (hist.data || []).map((x) => ({ t: Date.parse(x.timestamp), ...x }))
    .filter((x) => x.t >= Date.now() - HOUR);
  const active = points.map((x) => ({ t: x.t, v: x.active_sessions }));
  const bw = rates(points.map((x) => ({ t: x.t, v: x.bandwidth })));
  const sps = rates(points.map((x) => ({ t: x.t, v: x.total_sessions })));
  const authFail = promSum(prom, 'csocks_auth_failures_total');
  return (
    <section aria-labelledby="h-overview">
      <h1 id="h-overview">Overview</h1>
      <ErrorBox error={live.error} />
      <div class="stats">
        <Stat id="active" label="Active sessions" value={s ? formatCount(s.active_sessions) : '…'} />
        <Stat id="sps" label="Sessions/s" value={d && d.r.sessions !== null ? d.r.sessions.toFixed(2) : '…'} />
        <Stat id="up" label="Upload (client → dest)" value={d && d.r.sent !== null ? formatRate(d.r.sent) : '…'} />
        <Stat id="down" label="Download (dest → client)" value={d && d.r.recv !== null ? formatRate(d.r.recv) : '…'} />
        <Stat id="acl-allow" label="ACL allowed (1 h)" value={s ? formatCount(s.acl_allowed) : '…'} />
        <Stat id="acl-block" label="ACL blocked (1 h)" value={s ? formatCount(s.acl_blocked) : '…'} />
        <Stat id="auth-fail" label="Auth failures (since start)" value={formatCount(authFail)} />
        <Stat id="total" label="Sessions (1 h)" value={s ? formatCount(s.total_sessions) : '…'}
          hint={s ? `${formatBytes(s.total_bytes)} moved` : ''} />
      </div>
      <div class="charts">
        <LineChart title="Active sessions, last hour" series={[{ name: 'active', points: active }]} fmt={formatCount} />
        <LineChart title="Bandwidth, last hour" series={[{ name: 'bytes/s', points: bw, cls: 'b' }]} fmt={formatRate} />
        <LineChart title="New sessions per second" series={[{ name: 'sessions/s', points: sps, cls: 'c' }]} fmt={(v) => v.toFixed(2)} />
      </div>
      <ErrorBox error={hist.error} />
      {s && <StatusBars s={s} />}
      <div class="two">
        <TopTable title="Top users (1 h)" rows={s ? s.top_users : []} k="user" />
        <TopTable title="Top destinations (1 h)" rows={s ? s.top_destinations : []} k="destination" />
      </div>
    </section>
  );
}

function TopTable({ title, rows, k }) {
  return (
    <div class="card">
      <h2>{title}</h2>
      <div class="table-wrap">
        <table>
          <thead><tr><th scope="col">{k === 'user' ? 'User' : 'Destination'}</th><th scope="col">Sessions</th><th scope="col">Sent</th><th scope="col">Received</th></tr></thead>
          <tbody>
            {(rows || []).length === 0 && <tr><td colSpan={4} class="muted">No sessions in the window.</td></tr>}
            {(rows || []).map((r) => (
              <tr><td>{r[k] || '(anonymous)'}</td><td>{formatCount(r.session_count)}</td><td>{formatBytes(r.bytes_sent)}</td><td>{formatBytes(r.bytes_received)}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** Sessions of the window by outcome, as SVG bars (no inline styles: CSP). */
function StatusBars({ s }) {
  const rows = [
    ['active', 'Active', s.active_sessions], ['closed', 'Closed', s.closed_sessions],
    ['failed', 'Failed', s.failed_sessions], ['rejected', 'Rejected (ACL or limits)', s.rejected_sessions],
  ];
  const max = Math.max(1, ...rows.map((r) => r[2] || 0));
  return (
    <div class="card">
      <h2>Sessions by outcome (1 h)</h2>
      <table class="bars" data-outcomes>
        <tbody>{rows.map(([k, label, n]) => (
          <tr><th scope="row">{label}</th><td class="num">{formatCount(n)}</td>
            <td class="bar-cell"><svg viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">
              <rect class={`bar ${k}`} x="0" y="0" height="8" width={(100 * (n || 0)) / max} /></svg></td></tr>
        ))}</tbody>
      </table>
    </div>
  );
}
