import { useState } from 'preact/hooks';
import { api, enc, explain } from '../api.js';
import { usePoll } from '../hooks.js';
import { Drawer, ErrorBox, SortTh } from '../components.jsx';
import { filterSessions, formatAgo, formatBytes, formatDuration, hostPort, sessionAge, sortBy } from '../format.js';

export function Sessions() {
  const [q, setQ] = useState('');
  const [sort, setSort] = useState({ key: 'start_time', dir: 'desc' });
  const [open, setOpen] = useState(null);
  const { data, error, reload } = usePoll(() => api.get('/api/sessions/active'), 1000);
  const now = Date.now();
  const rows = sortBy(filterSessions((data || []).map((s) => ({ ...s, age: sessionAge(s, now) })), q), sort.key, sort.dir);
  const sel = open && (data || []).find((s) => s.id === open);
  return (
    <section aria-labelledby="h-sessions">
      <h1 id="h-sessions">Live sessions <span class="badge" aria-label={`${rows.length} shown`}>{rows.length}</span></h1>
      <div class="toolbar">
        <label for="sess-filter">Filter</label>
        <input id="sess-filter" type="search" value={q} placeholder="user, address, port… or user:alice"
          onInput={(e) => setQ(e.target.value)} />
      </div>
      <ErrorBox error={error} />
      <div class="table-wrap">
        <table class="sessions">
          <thead><tr>
            <SortTh k="user" label="User" sort={sort} setSort={setSort} />
            <SortTh k="source_ip" label="Client" sort={sort} setSort={setSort} />
            <SortTh k="dest_ip" label="Destination" sort={sort} setSort={setSort} />
            <SortTh k="protocol" label="Proto" sort={sort} setSort={setSort} />
            <SortTh k="bytes_sent" label="Sent" sort={sort} setSort={setSort} />
            <SortTh k="bytes_received" label="Received" sort={sort} setSort={setSort} />
            <SortTh k="start_time" label="Started" sort={sort} setSort={setSort} />
            <th scope="col"><span class="sr-only">Details</span></th>
          </tr></thead>
          <tbody>
            {rows.length === 0 && <tr><td colSpan={8} class="muted">{data ? 'No active sessions.' : 'Loading…'}</td></tr>}
            {rows.map((s) => (
              <tr data-session={s.id}>
                <td>{s.user || '(anonymous)'}</td>
                <td>{hostPort(s.source_ip, s.source_port)}</td>
                <td>{hostPort(s.dest_ip, s.dest_port)}</td>
                <td>{s.protocol}</td>
                <td class="num" data-col="bytes_sent">{formatBytes(s.bytes_sent)}</td>
                <td class="num" data-col="bytes_received">{formatBytes(s.bytes_received)}</td>
                <td title={s.start_time}>{formatAgo(s.start_time, now)}</td>
                <td><button type="button" class="small" onClick={() => setOpen(s.id)}>Details</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {open && <SessionDrawer id={open} live={sel} onClose={() => setOpen(null)} onDone={reload} />}
    </section>
  );
}

function SessionDrawer({ id, live, onClose, onDone }) {
  const [confirm, setConfirm] = useState(false);
  const [msg, setMsg] = useState(null);
  const [err, setErr] = useState(null);
  const one = usePoll(() => api.get(`/api/sessions/${enc(id)}`), 1000, [id]);
  const s = live || one.data;
  const groups = usePoll(() => (s && s.user ? api.get(`/api/acl/users/${enc(s.user)}`).then((u) => u.groups).catch(() => []) : Promise.resolve([])), 0, [s && s.user]);
  const terminate = async () => {
    setErr(null);
    try {
      const r = await api.post(`/api/sessions/${enc(id)}/terminate`, {});
      setMsg(r.message || 'Terminated.');
      setConfirm(false);
      onDone();
    } catch (e) { setErr(explain(e)); }
  };
  return (
    <Drawer title="Session details" onClose={onClose}>
      <ErrorBox error={one.error && !s ? one.error : null} />
      {s && (
        <dl class="details">
          <dt>Session id</dt><dd><code>{s.id}</code></dd>
          <dt>User</dt><dd>{s.user || '(anonymous)'}</dd>
          <dt>Groups (ACL file)</dt><dd>{(groups.data || []).join(', ') || '–'}</dd>
          <dt>Client</dt><dd>{hostPort(s.source_ip, s.source_port)}</dd>
          <dt>Destination</dt><dd>{hostPort(s.dest_ip, s.dest_port)} ({s.protocol})</dd>
          <dt>Status</dt><dd>{s.status}{s.close_reason ? ` – ${s.close_reason}` : ''}</dd>
          <dt>ACL decision</dt><dd>{s.acl_decision || '–'}{s.acl_rule ? `: ${s.acl_rule}` : ''}</dd>
          <dt>Sent / received</dt><dd data-detail="bytes">{formatBytes(s.bytes_sent)} / {formatBytes(s.bytes_received)}</dd>
          <dt>Packets</dt><dd>{s.packets_sent} / {s.packets_received}</dd>
          <dt>Started</dt><dd>{new Date(s.start_time).toLocaleString()} ({formatAgo(s.start_time)})</dd>
          <dt>Duration</dt><dd>{formatDuration(sessionAge(s))}</dd>
        </dl>
      )}
      {msg && <p class="notice" role="status">{msg}</p>}
      <ErrorBox error={err} />
      {s && s.status === 'active' && !msg && (confirm ? (
        <div class="confirm" role="group" aria-label="Confirm termination">
          <p>Close this tunnel now? The client's connection is cut.</p>
          <button type="button" class="danger" onClick={terminate}>Yes, terminate</button>
          <button type="button" class="ghost" onClick={() => setConfirm(false)}>Cancel</button>
        </div>
      ) : (
        <button type="button" class="danger" onClick={() => setConfirm(true)}>Terminate…</button>
      ))}
    </Drawer>
  );
}
