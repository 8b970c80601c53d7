import { useState } from 'preact/hooks';
import { api, enc, explain } from '../api.js';
import { usePoll } from '../hooks.js';
import { ErrorBox, Field } from '../components.jsx';
import { fieldOfError, splitList } from '../format.js';

export function Acl() {
  const rules = usePoll(() => api.get('/api/acl/rules'), 0);
  return (
    <section aria-labelledby="h-acl">
      <h1 id="h-acl">ACL</h1>
      <ErrorBox error={rules.error} />
      <Tester />
      <Editor data={rules.data} reload={rules.reload} />
      {rules.data && <RuleTables data={rules.data} reload={rules.reload} />}
    </section>
  );
}

function Tester() {
  const [f, setF] = useState({ user: '', destination: '', port: '443', protocol: 'tcp', groups: '' });
  const [res, setRes] = useState(null);
  const [err, setErr] = useState(null);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const run = async (e) => {
    e.preventDefault();
    setErr(null);
    setRes(null);
    try {
      const body = { user: f.user, destination: f.destination.trim(), port: Number(f.port), protocol: f.protocol };
      const g = splitList(f.groups);
      if (g.length) body.groups = g;
      setRes(await api.post('/api/acl/test', body));
    } catch (x) { setErr(explain(x)); }
  };
  const field = err ? fieldOfError(err, ['destination', 'port', 'protocol', 'user', 'groups']) : null;
  return (
    <form class="card" onSubmit={run} aria-labelledby="h-tester">
      <h2 id="h-tester">ACL tester</h2>
      <div class="grid">
        <Field label="User" id="t-user"><input id="t-user" value={f.user} onInput={set('user')} /></Field>
        <Field label="Destination" id="t-dest" error={field === 'destination' ? err : null}>
          <input id="t-dest" required value={f.destination} onInput={set('destination')} placeholder="example.com or 10.0.0.1" /></Field>
        <Field label="Port" id="t-port" error={field === 'port' ? err : null}>
          <input id="t-port" type="number" min="0" max="65535" required value={f.port} onInput={set('port')} /></Field>
        <Field label="Protocol" id="t-proto"><select id="t-proto" value={f.protocol} onChange={set('protocol')}>
          <option value="tcp">tcp</option><option value="udp">udp</option></select></Field>
        <Field label="Extra groups (comma-separated)" id="t-groups"><input id="t-groups" value={f.groups} onInput={set('groups')} /></Field>
      </div>
      <button type="submit">Test</button>
      {err && !field && <p class="error" role="alert">{err}</p>}
      {res && (
        <div class={`verdict ${res.decision}`} role="status" data-decision={res.decision}>
          <strong>{res.decision === 'allow' ? 'Allowed' : 'Blocked'}</strong>{' '}
          {res.rule ? <>by {res.rule.owner_type} <em>{res.rule.owner}</em>'s rule #{res.rule.index} (priority {res.rule.priority}){res.matched_rule ? `: ${res.matched_rule}` : ''}</>
            : res.default_policy ? 'by the default policy (no rule matched)' : ''}
          {res.provisional && <div class="muted">Provisional: the group lookup or DNS was not final.</div>}
        </div>
      )}
    </form>
  );
}

// Words of the API's validation messages that name a rule field.
const ALIASES = { destinations: ['cidr', 'address', 'host', 'domain', 'wildcard', 'ip range'], priority: ['priority'], protocols: ['protocol'] };

const RULE0 = { owner_type: 'users', owner: '', action: 'block', destinations: '', ports: '*', protocols: 'both', priority: '100', description: '' };

function Editor({ data, reload }) {
  const [r, setR] = useState(RULE0);
  const [errs, setErrs] = useState({});
  const [msg, setMsg] = useState(null);
  const [nu, setNu] = useState({ username: '', groups: '' });
  const [ng, setNg] = useState('');
  const [gen, setGen] = useState(null);
  const set = (k) => (e) => setR({ ...r, [k]: e.target.value });
  const fail = (e, fields, fallback) => {
    const m = explain(e);
    const f = e.status === 403 || e.status === 401 ? null : fieldOfError(m, fields, ALIASES);
    setErrs({ [f || fallback]: m });
  };
  const addRule = async (e) => {
    e.preventDefault();
    setErrs({}); setMsg(null);
    if (!r.owner.trim()) { setErrs({ owner: 'Pick the user or group the rule belongs to.' }); return; }
    const rule = {
      action: r.action, description: r.description, destinations: splitList(r.destinations),
      ports: splitList(r.ports), protocols: splitList(r.protocols), priority: Number(r.priority),
    };
    try {
      await api.post(`/api/acl/${r.owner_type}/${enc(r.owner.trim())}/rules`, rule);
      setMsg(`Rule added to ${r.owner_type === 'users' ? 'user' : 'group'} ${r.owner.trim()}; the ACL is reloaded.`);
      setR({ ...RULE0, owner_type: r.owner_type, owner: r.owner });
      reload();
    } catch (x) { fail(x, ['destinations', 'ports', 'protocols', 'priority', 'action', 'description'], x.status === 404 ? 'owner' : 'form'); }
  };
  const addUser = async (e) => {
    e.preventDefault(); setErrs({}); setMsg(null);
    try {
      const body = { username: nu.username.trim() };
      const g = splitList(nu.groups);
      if (g.length) body.groups = g;
      await api.post('/api/acl/users', body);
      setMsg(`User ${body.username} created.`); setNu({ username: '', groups: '' }); reload();
    } catch (x) { fail(x, ['groups', 'username'], 'username'); }
  };
  const addGroup = async (e) => {
    e.preventDefault(); setErrs({}); setMsg(null);
    try {
      await api.post('/api/acl/groups', { name: ng.trim() });
      setMsg(`Group ${ng.trim()} created.`); setNg(''); reload();
    } catch (x) { fail(x, ['name'], 'name'); }
  };
  const setPolicy = async (p) => {
    setGen(null);
    try { await api.put('/api/acl/global', { default_policy: p }); setGen(`Default policy is now ${p}.`); reload(); } catch (x) { setGen(explain(x)); }
  };
  const owners = data ? (r.owner_type === 'users' ? data.users.map((u) => u.username) : data.groups.map((g) => g.name)) : [];
  return (
    <div class="card" aria-labelledby="h-editor">
      <h2 id="h-editor">Edit the ACL</h2>
      <p class="muted">Every change is validated by the server, written to the ACL file atomically and reloaded.</p>
      {msg && <p class="notice" role="status">{msg}</p>}
      {errs.form && <p class="error" role="alert">{errs.form}</p>}
      <form onSubmit={addRule} aria-label="Add a rule">
        <h3>Add a rule</h3>
        <div class="grid">
          <Field label="Owner type" id="r-otype"><select id="r-otype" value={r.owner_type} onChange={set('owner_type')}>
            <option value="users">user</option><option value="groups">group</option></select></Field>
          <Field label="Owner" id="r-owner" error={errs.owner}>
            <input id="r-owner" list="r-owners" value={r.owner} onInput={set('owner')} aria-invalid={!!errs.owner} />
            <datalist id="r-owners">{owners.map((o) => <option value={o} />)}</datalist></Field>
          <Field label="Action" id="r-action" error={errs.action}><select id="r-action" value={r.action} onChange={set('action')}>
            <option value="allow">allow</option><option value="block">block</option></select></Field>
          <Field label="Destinations (comma-separated)" id="r-dest" error={errs.destinations} hint="host, *.domain, 10.0.0.0/8, 1.2.3.4-1.2.3.9">
            <input id="r-dest" value={r.destinations} onInput={set('destinations')} aria-invalid={!!errs.destinations} /></Field>
          <Field label="Ports" id="r-ports" error={errs.ports} hint="*, 443, 8000-8080">
            <input id="r-ports" value={r.ports} onInput={set('ports')} aria-invalid={!!errs.ports} /></Field>
          <Field label="Protocols" id="r-protos" error={errs.protocols}><select id="r-protos" value={r.protocols} onChange={set('protocols')}>
            <option value="both">both</option><option value="tcp">tcp</option><option value="udp">udp</option></select></Field>
          <Field label="Priority" id="r-prio" error={errs.priority} hint="higher wins">
            <input id="r-prio" type="number" value={r.priority} onInput={set('priority')} aria-invalid={!!errs.priority} /></Field>
          <Field label="Description" id="r-desc" error={errs.description}><input id="r-desc" value={r.description} onInput={set('description')} /></Field>
        </div>
        <button type="submit">Add rule</button>
      </form>
      <div class="two">
        <form onSubmit={addUser} aria-label="Add a user">
          <h3>Add a user</h3>
          <Field label="Username" id="u-name" error={errs.username}><input id="u-name" required value={nu.username} onInput={(e) => setNu({ ...nu, username: e.target.value })} /></Field>
          <Field label="Groups (comma-separated)" id="u-groups" error={errs.groups}><input id="u-groups" value={nu.groups} onInput={(e) => setNu({ ...nu, groups: e.target.value })} /></Field>
          <button type="submit">Add user</button>
        </form>
        <form onSubmit={addGroup} aria-label="Add a group">
          <h3>Add a group</h3>
          <Field label="Group name" id="g-name" error={errs.name}><input id="g-name" required value={ng} onInput={(e) => setNg(e.target.value)} /></Field>
          <button type="submit">Add group</button>
        </form>
      </div>
      <h3>Default policy</h3>
      <p>Now: <strong data-policy>{data ? data.default_policy : '…'}</strong>{' '}
        <button type="button" class="ghost" onClick={() => setPolicy(data && data.default_policy === 'allow' ? 'block' : 'allow')}>
          Set to {data && data.default_policy === 'allow' ? 'block' : 'allow'}</button></p>
      {gen && <p role="status">{gen}</p>}
    </div>
  );
}

function RuleTables({ data, reload }) {
  const [err, setErr] = useState(null);
  const del = async (type, owner, rule) => {
    setErr(null);
    if (!window.confirm(`Delete the ${rule.action} rule for ${rule.destinations.join(', ')} from ${owner}?`)) return;
    try { await api.del(`/api/acl/${type}/${enc(owner)}/rules`, { destinations: rule.destinations, ports: rule.ports }); reload(); } catch (x) { setErr(explain(x)); }
  };
  const owners = [
    ...data.groups.map((g) => ({ type: 'groups', label: 'Group', name: g.name, rules: g.rules })),
    ...data.users.map((u) => ({ type: 'users', label: 'User', name: u.username, rules: u.rules, groups: u.groups })),
  ];
  return (
    <div class="card">
      <h2>Rules <small class="muted">({data.user_count} users, {data.group_count} groups; default {data.default_policy})</small></h2>
      <ErrorBox error={err} />
      {owners.map((o) => (
        <div class="owner" data-owner={`${o.type}/${o.name}`}>
          <h3>{o.label} {o.name}{o.groups && o.groups.length ? <small class="muted"> (groups: {o.groups.join(', ')})</small> : null}</h3>
          <div class="table-wrap"><table>
            <thead><tr><th scope="col">Priority</th><th scope="col">Action</th><th scope="col">Destinations</th><th scope="col">Ports</th><th scope="col">Protocols</th><th scope="col">Description</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {o.rules.length === 0 && <tr><td colSpan={7} class="muted">No rules.</td></tr>}
              {[...o.rules].sort((a, b) => b.priority - a.priority).map((r) => (
                <tr><td>{r.priority}</td><td><span class={`pill ${r.action}`}>{r.action}</span></td><td>{r.destinations.join(', ')}</td>
                  <td>{r.ports.join(', ')}</td><td>{r.protocols.join(', ')}</td><td>{r.description}</td>
                  <td><button type="button" class="small ghost" onClick={() => del(o.type, o.name, r)} aria-label={`Delete rule ${r.destinations.join(', ')} of ${o.name}`}>Delete</button></td></tr>
              ))}
            </tbody>
          </table></div>
        </div>
      ))}
    </div>
  );
}
