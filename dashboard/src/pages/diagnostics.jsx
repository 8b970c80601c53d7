import { useState } from 'preact/hooks';
import { api, explain } from '../api.js';
import { Field } from '../components.jsx';
import { fieldOfError } from '../format.js';

export function Diagnostics() {
  const [f, setF] = useState({ address: '', port: '', timeout_ms: '3000' });
  const [res, setRes] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const run = async (e) => {
    e.preventDefault();
    setErr(null); setRes(null); setBusy(true);
    try {
      const body = { address: f.address.trim(), port: Number(f.port) };
      if (String(f.timeout_ms).trim()) body.timeout_ms = Number(f.timeout_ms);
      setRes(await api.post('/api/diagnostics/connectivity', body));
    } catch (x) { setErr(explain(x)); } finally { setBusy(false); }
  };
  const field = err ? fieldOfError(err, ['address', 'port', 'timeout_ms']) : null;
  return (
    <section aria-labelledby="h-diag">
      <h1 id="h-diag">Diagnostics</h1>
      <form class="card" onSubmit={run} aria-label="TCP connectivity test">
        <h2>TCP connectivity from the server</h2>
        <p class="muted">Opens a TCP connection from csocks to the address (an IP address; checked by the ACL as the anonymous user would be, at most 10 tests per 10 s; needs the API token).</p>
        <div class="grid">
          <Field label="Address" id="d-addr" error={field === 'address' ? err : null}>
            <input id="d-addr" required value={f.address} onInput={set('address')} placeholder="192.0.2.1 or 2001:db8::1" /></Field>
          <Field label="Port" id="d-port" error={field === 'port' ? err : null}>
            <input id="d-port" type="number" min="1" max="65535" required value={f.port} onInput={set('port')} /></Field>
          <Field label="Timeout (ms)" id="d-tmo" error={field === 'timeout_ms' ? err : null}>
            <input id="d-tmo" type="number" min="1" max="10000" value={f.timeout_ms} onInput={set('timeout_ms')} /></Field>
        </div>
        <button type="submit" disabled={busy}>{busy ? 'Testing…' : 'Test connection'}</button>
        {err && !field && <p class="error" role="alert">{err}</p>}
        {res && (
          <div class={`verdict ${res.success ? 'allow' : 'block'}`} role="status" data-diag={res.success ? 'ok' : 'failed'}>
            <strong>{res.success ? 'Reachable' : 'Not reachable'}</strong>: {res.message}
            {res.success ? ` in ${res.latency_ms.toFixed(1)} ms` : res.error ? ` (${res.error})` : ''}
          </div>
        )}
      </form>
    </section>
  );
}
