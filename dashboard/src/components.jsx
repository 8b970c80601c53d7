import { useEffect, useRef } from 'preact/hooks';

/** A card with a big number. */
export function Stat({ label, value, hint, id }) {
  return (
    <div class="stat" data-stat={id}>
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
      {hint && <div class="stat-hint">{hint}</div>}
    </div>
  );
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return <p class="error" role="alert">{error}</p>;
}

/** Column header that sorts: a real button, aria-sort on the th. */
export function SortTh({ k, label, sort, setSort }) {
  const active = sort.key === k;
  const dir = active ? sort.dir : 'none';
  const next = () => setSort({ key: k, dir: active && sort.dir === 'asc' ? 'desc' : 'asc' });
  return (
    <th aria-sort={dir === 'none' ? 'none' : dir === 'asc' ? 'ascending' : 'descending'} scope="col">
      <button type="button" class="th-btn" onClick={next}>
        {label}
        <span aria-hidden="true">{active ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}</span>
      </button>
    </th>
  );
}

/** A side drawer (modal dialog) that keeps focus inside and closes on Esc. */
export function Drawer({ title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const prev = document.activeElement;
    ref.current && ref.current.focus();
    const key = (e) => { if (e.key === 'Escape') onClose(); };
    document.addEventListener('keydown', key);
    return () => { document.removeEventListener('keydown', key); prev && prev.focus && prev.focus(); };
  }, []);
  return (
    <div class="drawer-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <aside class="drawer" role="dialog" aria-modal="true" aria-label={title} tabIndex={-1} ref={ref}>
        <header class="drawer-head">
          <h2>{title}</h2>
          <button type="button" class="ghost" onClick={onClose} aria-label="Close details">✕</button>
        </header>
        {children}
      </aside>
    </div>
  );
}

/**
 * A line chart in SVG (no library): series [{name, points [{t, v}], cls}],
 * y formatted by fmt. Accessible name and a text summary of the last value.
 */
export function LineChart({ title, series, fmt = String, height = 160 }) {
  const w = 600;
  const h = height;
  const pad = { l: 8, r: 8, t: 10, b: 18 };
  const all = series.flatMap((s) => s.points);
  const t0 = all.length ? Math.min(...all.map((p) => p.t)) : 0;
  const t1 = all.length ? Math.max(...all.map((p) => p.t)) : 1;
  const vmax = Math.max(1, ...all.map((p) => p.v));
  const x = (t) => pad.l + ((t - t0) / Math.max(1, t1 - t0)) * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - (v / vmax) * (h - pad.t - pad.b);
  const last = series.map((s) => `${s.name} ${s.points.length ? fmt(s.points[s.points.length - 1].v) : '–'}`).join(', ');
  return (
    <figure class="chart">
      <figcaption>{title} <span class="muted">({last}; peak {fmt(vmax)})</span></figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title}: ${last}`} preserveAspectRatio="none">
        <line x1={pad.l} x2={w - pad.r} y1={h - pad.b} y2={h - pad.b} class="axis" />
        <line x1={pad.l} x2={w - pad.r} y1={pad.t} y2={pad.t} class="grid" />
        {series.map((s) => (s.points.length > 1
          ? <polyline class={`line ${s.cls || ''}`} points={s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')} />
          : null))}
        <text x={pad.l} y={h - 4} class="tick">{all.length ? new Date(t0).toLocaleTimeString() : 'no samples yet'}</text>
        <text x={w - pad.r} y={h - 4} class="tick" text-anchor="end">{all.length ? new Date(t1).toLocaleTimeString() : ''}</text>
      </svg>
      <div class="legend">{series.map((s) => <span class={`key ${s.cls || ''}`}>{s.name}</span>)}</div>
    </figure>
  );
}

/** A labelled form field with its error shown beside it. */
export function Field({ label, id, error, children, hint }) {
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && <small class="muted" id={`${id}-hint`}>{hint}</small>}
      {error && <small class="field-error" id={`${id}-err`} role="alert">{error}</small>}
    </div>
  );
}
