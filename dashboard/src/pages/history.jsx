import { useState } from 'preact/hooks';
import { api, explain } from '../api.js';
import { usePoll } from '../hooks.js';
import { ErrorBox, SortTh } from '../components.jsx';
import { formatBytes, formatDuration, hostPort, historyQuery, toCsv } from '../format.js';

const EMPTY = { user: '', dest_ip: '', status: '', hours: '24' };
const CSV_COLS = ['id', 'user', 'source_ip', 'source_port', 'dest_ip', 'dest_port', 'protocol', 'status',
  'acl_decision', 'acl_rule', 'bytes_sent', 'bytes_received', 'start_time', 'end_time', 'duration_seconds', 'close_reason'];

export function History() {
  const [form, setForm] = useState(EMPTY);
  const [applied, setApplied] = useState(EMPTY);
  const [page, setPage] = useState(1);
  const [pageSize, setPageSize] = useState(50);
  const [sort, setSort] = useState({ key: 'start_time', dir: 'desc' });
  const [csvErr, setCsvErr] = useState(null);
  const q = historyQuery({ ...applied, page, page_size: pageSize, sort_by: sort.key, sort_dir: sort.dir });
  const { data, error } = usePoll(() => api.get(`/api/sessions/history?${q}`), 10000, [q]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const apply = (e) => { e.preventDefault(); setApplied(form); setPage(1); };
  const reset = () => { setForm(EMPTY); setApplied(EMPTY); setPage(1); };
  const exportCsv = async () => {
    setCsvErr(null);
    try {
      const rows = [];
      for (let p = 1; p <= 20; p++) { // at most 20,000 rows
        const r = await api.get(`/api/sessions/history?${historyQuery({ ...applied, page: p, page_size: 1000, sort_by: sort.key, sort_dir: sort.dir })}`);
        rows.push(...r.data);
        if (p >= r.total_pages) break;
      }
      const blob = new Blob([toCsv(rows, CSV_COLS)], { type: 'text/csv' });
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `csocks-sessions-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    } catch (e) { setCsvErr(explain(e)); }
  };
  return (
    <section aria-labelledby="h-history">
      <h1 id="h-history">History</h1>
      <form class="filters" onSubmit={apply} aria-label="History filters">
        <div class="field"><label for="h-user">User</label><input id="h-user" value={form.user} onInput={set('user')} /></div>
        <div class="field"><label for="h-dest">Destination IP</label><input id="h-dest" value={form.dest_ip} onInput={set('dest_ip')} /></div>
        <div class="field"><label for="h-status">Status</label>
          <select id="h-status" value={form.status} onChange={set('status')}>
            <option value="">any</option><option value="active">active</option><option value="closed">closed</option>
            <option value="failed">failed</option><option value="rejected_by_acl">rejected by ACL</option>
          </select></div>
        <div class="field"><label for="h-hours">Last hours</label>
          <input id="h-hours" type="number" min="1" max="87600" value={form.hours} onInput={set('hours')} /></div>
        <div class="buttons">
          <button type="submit">Apply</button>
          <button type="button" class="ghost" onClick={reset}>Reset</button>
          <button type="button" class="ghost" onClick={exportCsv}>Export CSV</button>
        </div>
      </form>
      <ErrorBox error={error || csvErr} />
      <p class="muted" role="status">{data ? `${data.total} sessions, page ${data.page} of ${Math.max(1, data.total_pages)}` : 'Loading…'}</p>
      <div class="table-wrap">
        <table class="history">
          <thead><tr>
            <SortTh k="start_time" label="Started" sort={sort} setSort={setSort} />
            <SortTh k="user" label="User" sort={sort} setSort={setSort} />
            <SortTh k="source_ip" label="Client" sort={sort} setSort={setSort} />
            <SortTh k="dest_ip" label="Destination" sort={sort} setSort={setSort} />
            <SortTh k="status" label="Status" sort={sort} setSort={setSort} />
            <SortTh k="bytes_sent" label="Sent" sort={sort} setSort={setSort} />
            <SortTh k="bytes_received" label="Received" sort={sort} setSort={setSort} />
            <SortTh k="duration" label="Duration" sort={sort} setSort={setSort} />
          </tr></thead>
          <tbody>
            {data && data.data.length === 0 && <tr><td colSpan={8} class="muted">No sessions match.</td></tr>}
            {data && data.data.map((s) => (
              <tr data-session={s.id}>
                <td>{new Date(s.start_time).toLocaleString()}</td>
                <td>{s.user || '(anonymous)'}</td>
                <td>{hostPort(s.source_ip, s.source_port)}</td>
                <td>{hostPort(s.dest_ip, s.dest_port)}</td>
                <td><span class={`pill ${s.status}`}>{s.status}</span>{s.acl_rule ? <small class="muted"> {s.acl_rule}</small> : null}</td>
                <td class="num">{formatBytes(s.bytes_sent)}</td>
                <td class="num">{formatBytes(s.bytes_received)}</td>
                <td>{formatDuration(s.duration_seconds)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages of history">
        <button type="button" class="ghost" disabled={page <= 1} onClick={() => setPage(page - 1)}>Previous</button>
        <span>Page {page}</span>
        <button type="button" class="ghost" disabled={!data || page >= data.total_pages} onClick={() => setPage(page + 1)}>Next</button>
        <label for="h-size">Rows</label>
        <select id="h-size" value={pageSize} onChange={(e) => { setPageSize(Number(e.target.value)); setPage(1); }}>
          {[25, 50, 100, 500].map((n) => <option value={n}>{n}</option>)}
        </select>
      </nav>
    </section>
  );
}
