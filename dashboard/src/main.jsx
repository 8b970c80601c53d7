import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { clearToken, explain, getToken, setToken, setUnauthorizedHandler, tryToken } from './api.js';
import { Overview } from './pages/overview.jsx';
import { Sessions } from './pages/sessions.jsx';
import { History } from './pages/history.jsx';
import { Users } from './pages/users.jsx';
import { Acl } from './pages/acl.jsx';
import { Config } from './pages/config.jsx';
import { Health } from './pages/health.jsx';
import { Diagnostics } from './pages/diagnostics.jsx';

const PAGES = [
  ['overview', 'Overview', Overview],
  ['sessions', 'Live sessions', Sessions],
  ['history', 'History', History],
  ['users', 'Users', Users],
  ['acl', 'ACL', Acl],
  ['config', 'Configuration', Config],
  ['health', 'Metrics & health', Health],
  ['diagnostics', 'Diagnostics', Diagnostics],
];

function currentPage() {
  const h = window.location.hash.replace(/^#\/?/, '');
  return PAGES.some((p) => p[0] === h) ? h : 'overview';
}

function Login({ onLogin, notice }) {
  const [token, setTok] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await tryToken(token.trim());
      setToken(token.trim());
      onLogin();
    } catch (err) {
      setError(err.status === 401 ? 'Wrong token: the API refused it. Check api.token or api.token_file.' : explain(err));
    } finally { setBusy(false); }
  };
  return (
    <main class="login" id="main">
      <form onSubmit={submit} class="card login-card" aria-labelledby="login-title">
        <h1 id="login-title">csocks</h1>
        <p class="muted">Sign in with the admin API token (<code>api.token</code>). It stays in this tab only.</p>
        {notice && <p class="notice" role="status">{notice}</p>}
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" value={token}
          onInput={(e) => setTok(e.target.value)} aria-describedby={error ? 'login-error' : undefined} autofocus />
        {error && <p class="error" id="login-error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>
  );
}

function App() {
  const [authed, setAuthed] = useState(!!getToken());
  const [page, setPage] = useState(currentPage());
  const [notice, setNotice] = useState(null);
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    const on = () => { setPage(currentPage()); setMenu(false); };
    window.addEventListener('hashchange', on);
    setUnauthorizedHandler(() => { clearToken(); setNotice('Your token is no longer accepted; sign in again.'); setAuthed(false); });
    return () => window.removeEventListener('hashchange', on);
  }, []);
  useEffect(() => {
    const p = PAGES.find((x) => x[0] === page);
    document.title = `${p ? p[1] : 'csocks'} · csocks`;
  }, [page]);
  if (!authed) return <Login notice={notice} onLogin={() => { setNotice(null); setAuthed(true); }} />;
  const Page = PAGES.find((p) => p[0] === page)[2];
  const logout = () => { clearToken(); setNotice('Signed out.'); setAuthed(false); };
  return (
    <div class="layout">
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
      <header class="topbar">
        <span class="brand">csocks</span>
        <button type="button" class="ghost menu-btn" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu(!menu)}>Menu</button>
        <nav id="nav" class={menu ? 'open' : ''} aria-label="Pages">
          {PAGES.map(([id, label]) => (
            <a href={`#/${id}`} aria-current={page === id ? 'page' : undefined}>{label}</a>
          ))}
        </nav>
        <button type="button" class="ghost" onClick={logout}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page />
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app'));
