import { useState } from 'preact/hooks';
import { api, explain } from '../api.js';
import { usePoll } from '../hooks.js';
import { ErrorBox } from '../components.jsx';

export function Config() {
  const { data, error } = usePoll(() => api.get('/api/config'), 0);
  const [q, setQ] = useState('');
  const [msg, setMsg] = useState(null);
  const reload = async () => {
    setMsg(null);
    try { const r = await api.post('/api/admin/reload-acl', {}); setMsg({ ok: r.success, text: r.message }); } catch (e) { setMsg({ ok: false, text: explain(e) }); }
  };
  const keys = data ? data.keys.filter((k) => k.key.includes(q.trim())) : [];
  return (
    <section aria-labelledby="h-config">
      <h1 id="h-config">Configuration</h1>
      <div class="toolbar">
        <button type="button" onClick={reload}>Reload ACL file</button>
        <span class="muted">The whole configuration reloads on SIGHUP (<code>kill -HUP</code>).</span>
      </div>
      {msg && <p class={msg.ok ? 'notice' : 'error'} role={msg.ok ? 'status' : 'alert'}>{msg.text}</p>}
      <ErrorBox error={error} />
      {data && <p class="muted">{data.file ? `From ${data.file}. ` : ''}Secrets are shown as "(redacted)".</p>}
      <div class="toolbar"><label for="cfg-filter">Filter keys</label><input id="cfg-filter" type="search" value={q} onInput={(e) => setQ(e.target.value)} /></div>
      <div class="table-wrap"><table class="config">
        <thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col">Set in file</th></tr></thead>
        <tbody>{keys.map((k) => (
          <tr data-key={k.key}><td><code>{k.key}</code></td><td><code>{k.value}</code></td><td>{k.line ? `line ${k.line}` : 'default'}</td></tr>
        ))}</tbody>
      </table></div>
    </section>
  );
}
