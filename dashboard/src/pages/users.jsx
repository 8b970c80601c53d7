import { useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { usePoll } from '../hooks.js';
import { ErrorBox, Stat } from '../components.jsx';
import { formatAgo, formatBytes, formatCount, hostPort } from '../format.js';

export function Users() {
  const list = usePoll(async () => {
    const [acl, stats] = await Promise.all([api.get('/api/acl/users'), api.get('/api/sessions/stats')]);
    const top = Object.fromEntries((stats.top_users || []).map((u) => [u.user, u]));
    const names = new Set([...acl.users.map((u) => u.username), ...Object.keys(top)]);
    return [...names].sort().map((n) => ({
      name: n, acl: acl.users.find((u) => u.username === n), top: top[n],
    }));
  }, 10000);
  const [sel, setSel] = useState(null);
  return (
    <section aria-labelledby="h-users">
      <h1 id="h-users">Users</h1>
      <ErrorBox error={list.error} />
      <div class="two wide-right">
        <div class="card">
          <h2>Users</h2>
          <ul class="pick" aria-label="Users">
            {(list.data || []).map((u) => (
              <li><button type="button" class={sel === u.name ? 'picked' : 'ghost'} aria-pressed={sel === u.name} onClick={() => setSel(u.name)}>
                <strong>{u.name || '(anonymous)'}</strong>
                <small class="muted"> {u.top ? `${formatCount(u.top.session_count)} sessions` : 'no recent sessions'}{u.acl ? `, ${u.acl.rule_count} rules` : ''}</small>
              </button></li>
            ))}
          </ul>
        </div>
        {sel !== null ? <UserDetail name={sel} entry={(list.data || []).find((u) => u.name === sel)} /> : <p class="muted">Pick a user to see their sessions.</p>}
      </div>
    </section>
  );
}

function UserDetail({ name, entry }) {
  const { data, error } = usePoll(() => api.get(`/api/users/${enc(name)}/sessions`), 5000, [name]);
  const limits = usePoll(() => api.get('/api/config').then((c) => Object.fromEntries(c.keys.map((k) => [k.key, k.value]))), 0);
  const rows = data || [];
  const active = rows.filter((s) => s.status === 'active');
  const rejected = rows.filter((s) => s.status === 'rejected_by_acl' || s.status === 'failed').slice(0, 10);
  const sent = rows.reduce((a, s) => a + (s.bytes_sent || 0), 0);
  const recv = rows.reduce((a, s) => a + (s.bytes_received || 0), 0);
  return (
    <div class="card">
      <h2>{name || '(anonymous)'}</h2>
      <ErrorBox error={error} />
      <div class="stats">
        <Stat label="Active now" value={formatCount(active.length)} />
        <Stat label="Recorded sessions" value={formatCount(rows.length)} />
        <Stat label="Traffic" value={`${formatBytes(sent)} ↑ ${formatBytes(recv)} ↓`} />
      </div>
      <h3>ACL</h3>
      <p>{entry && entry.acl ? `Groups: ${entry.acl.groups.join(', ') || 'none'}; ${entry.acl.rule_count} own rules (see the ACL page).` : 'No entry in the ACL file: only group rules and the default policy apply.'}</p>
      <h3>Limits in force</h3>
      <Limits cfg={limits.data} />
      <h3>Recent rejections</h3>
      {rejected.length === 0 ? <p class="muted">None recorded.</p> : (
        <ul>{rejected.map((s) => <li>{formatAgo(s.start_time)}: {hostPort(s.dest_ip, s.dest_port)} – {s.status}{s.acl_rule ? ` (${s.acl_rule})` : ''}</li>)}</ul>
      )}
      <h3>Sessions</h3>
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">Started</th><th scope="col">Destination</th><th scope="col">Status</th><th scope="col">Sent</th><th scope="col">Received</th></tr></thead>
        <tbody>{rows.slice(0, 50).map((s) => (
          <tr><td>{formatAgo(s.start_time)}</td><td>{hostPort(s.dest_ip, s.dest_port)}</td><td>{s.status}</td><td class="num">{formatBytes(s.bytes_sent)}</td><td class="num">{formatBytes(s.bytes_received)}</td></tr>
        ))}</tbody>
      </table></div>
    </div>
  );
}

/** The per-user caps of [qos] (the same for every user). */
function Limits({ cfg }) {
  if (!cfg) return <p class="muted">…</p>;
  if (cfg['qos.enabled'] !== 'true') return <p data-limits>None: [qos] is off (no bandwidth caps or connection limits).</p>;
  const n = (k) => Number(cfg[k] || 0);
  const conn = n('qos.connection_limits.max_connections_per_user');
  const bw = n('qos.htb.max_bandwidth_bytes_per_sec');
  return (
    <dl class="details" data-limits>
      <dt>Connections per user</dt><dd>{conn ? formatCount(conn) : 'unlimited'}</dd>
      <dt>Bandwidth per user</dt><dd>{bw ? `${formatBytes(bw)}/s` : 'unlimited'}</dd>
      <dt>All users together</dt><dd>{n('qos.htb.global_bandwidth_bytes_per_sec') ? `${formatBytes(n('qos.htb.global_bandwidth_bytes_per_sec'))}/s` : 'unlimited'}</dd>
    </dl>
  );
}
