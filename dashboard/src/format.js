// Pure helpers of the dashboard (formatting, filtering, sorting, CSV,
// Prometheus text): no DOM, unit-tested in tests/format.test.js.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB"; binary units, one decimal under 100. */
export function formatBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return '–';
  let v = Math.abs(Number(n));
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  const sign = Number(n) < 0 ? '-' : '';
  if (i === 0) return `${sign}${Math.round(v)} B`;
  return `${sign}${v < 100 ? v.toFixed(1) : Math.round(v)} ${UNITS[i]}`;
}

/** Bytes per second -> "1.5 MiB/s". */
export function formatRate(n) {
  return `${formatBytes(n)}/s`;
}

/** Seconds -> "42 s", "3 min 5 s", "2 h 10 min", "3 d 4 h". */
export function formatDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(Number(s))) return '–';
  s = Math.max(0, Math.floor(Number(s)));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** A time in the past relative to now (ms since epoch) -> "3 min ago". */
export function formatAgo(when, now = Date.now()) {
  const t = typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t)) return '–';
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** 12345 -> "12,345". */
export function formatCount(n) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return '–';
  return Math.round(Number(n)).toLocaleString('en-US');
}

/** Elapsed seconds of a session from its start_time (or its duration). */
export function sessionAge(s, now = Date.now()) {
  if (s.duration_seconds !== null && s.duration_seconds !== undefined) return s.duration_seconds;
  const t = Date.parse(s.start_time);
  return Number.isFinite(t) ? Math.max(0, (now - t) / 1000) : null;
}

/** "host:port" with IPv6 addresses in brackets. */
export function hostPort(host, port) {
  if (!host) return '–';
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Sessions whose user, client or destination contains every word of q
 * (case-insensitive); "status:closed" or "user:alice" restrict one field.
 */
export function filterSessions(list, q) {
  const words = String(q || '').toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return list;
  return list.filter((s) => words.every((w) => {
    const colon = w.indexOf(':');
    if (colon > 0) {
      const k = w.slice(0, colon);
      const v = w.slice(colon + 1);
      if (k in s) return String(s[k] ?? '').toLowerCase().includes(v);
    }
    const hay = [s.user, s.source_ip, s.dest_ip, String(s.dest_port), s.protocol, s.status,
      s.acl_rule || ''].join(' ').toLowerCase();
    return hay.includes(w);
  }));
}

/** A sorted copy: numbers numerically, the rest as text; nulls last. */
export function sortBy(list, key, dir = 'asc') {
  const sign = dir === 'desc' ? -1 : 1;
  return [...list].sort((a, b) => {
    const x = a[key];
    const y = b[key];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    if (typeof x === 'number' && typeof y === 'number') return (x - y) * sign;
    return String(x).localeCompare(String(y)) * sign;
  });
}

/** RFC 4180 CSV of rows (objects) for the given columns. */
export function toCsv(rows, columns) {
  const cell = (v) => {
    if (v === null || v === undefined) return '';
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => cell(r[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** The query string of the history filters: empty values left out. */
export function historyQuery(f) {
  const p = new URLSearchParams();
  for (const k of ['user', 'dest_ip', 'status', 'hours', 'page', 'page_size', 'sort_by', 'sort_dir']) {
    const v = f[k];
    if (v !== undefined && v !== null && String(v).trim() !== '') p.set(k, String(v).trim());
  }
  return p.toString();
}

/**
 * Prometheus text exposition -> { name: [{labels, value}] }. Comments and
 * malformed lines are skipped.
 */
export function parseProm(text) {
  const out = {};
  for (const line of String(text).split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const value = Number(m[4]);
    (out[m[1]] ||= []).push({ labels, value });
  }
  return out;
}

/** Sum of a family's samples whose labels include want. */
export function promSum(prom, name, want = {}) {
  return (prom[name] || [])
    .filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/**
 * Rates from a series of {t (ms), v (cumulative)} points: [{t, rate/s}].
 * A counter that goes down (restart) gives no negative rate.
 */
export function rates(points) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i].t - points[i - 1].t) / 1000;
    if (dt <= 0) continue;
    out.push({ t: points[i].t, v: Math.max(0, points[i].v - points[i - 1].v) / dt });
  }
  return out;
}

/** The API's {"error": "..."} attributed to a form field by its words. */
export function fieldOfError(message, fields, aliases = {}) {
  const m = String(message || '').toLowerCase();
  for (const f of fields) {
    if ((aliases[f] || []).some((w) => m.includes(w))) return f;
    const stem = f.replace(/s$/, '');
    if (m.includes(f) || m.includes(stem)) return f;
  }
  return null;
}

/** "a, b ,c" -> ["a","b","c"]. */
export function splitList(s) {
  return String(s || '').split(',').map((x) => x.trim()).filter(Boolean);
}
