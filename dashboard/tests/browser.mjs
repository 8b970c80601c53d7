// Browser test of the dashboard against a running csocks, driven by
// tests/integration/test_dashboard.py (which starts csocks, the echo
// server and gives the addresses in the environment). Debian's chromium
// through playwright-core; real SOCKS5 traffic made here with node:net.
// Prints one line per check and "browser: N passed, N failed"; exit 1 on
// any failure (or when Chromium cannot start).
import { chromium } from 'playwright-core';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) { console.error(`browser: ${k} is not set`); process.exit(2); }
  return v;
};
const URL0 = env('DASH_URL'); // http://127.0.0.1:PORT/
const TOKEN = env('DASH_TOKEN');
const SOCKS_PORT = Number(env('SOCKS_PORT'));
const ECHO_PORT = Number(env('ECHO_PORT'));
const SOCKS_USER = env('SOCKS_USER', 'alice');
const SOCKS_PASS = env('SOCKS_PASS', 'alice-pw');
const SHOTS = env('SHOTS_DIR');
const CLOSED_PORT = Number(env('CLOSED_PORT', '1'));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const origin = new URL(URL0).origin;

let passed = 0;
let failed = 0;
const check = (name, ok, detail = '') => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- SOCKS5 client (RFC 1928 + RFC 1929) ----
function readN(sock, n, state) {
  return new Promise((resolve, reject) => {
    const tryRead = () => {
      if (state.buf.length >= n) {
        const out = state.buf.subarray(0, n);
        state.buf = state.buf.subarray(n);
        sock.off('data', onData); sock.off('close', onClose);
        resolve(out);
      }
    };
    const onData = (d) => { state.buf = Buffer.concat([state.buf, d]); tryRead(); };
    const onClose = () => reject(new Error('closed during the handshake'));
    sock.on('data', onData); sock.on('close', onClose);
    tryRead();
  });
}

/** Connect through csocks; resolves {sock, reply} (reply 0 = granted). */
async function socksConnect(host, port) {
  const sock = net.connect(SOCKS_PORT, '127.0.0.1');
  await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
  const st = { buf: Buffer.alloc(0) };
  sock.write(Buffer.from([5, 1, 2]));
  const m = await readN(sock, 2, st);
  if (m[1] !== 2) throw new Error(`method ${m[1]}`);
  const u = Buffer.from(SOCKS_USER);
  const p = Buffer.from(SOCKS_PASS);
  sock.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
  const a = await readN(sock, 2, st);
  if (a[1] !== 0) throw new Error('authentication refused');
  const ip = host.split('.').map(Number);
  sock.write(Buffer.from([5, 1, 0, 1, ...ip, port >> 8, port & 255]));
  const rep = await readN(sock, 10, st);
  return { sock, reply: rep[1] };
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'csocks-chromium-'));
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      // launch() always gives Chromium a fresh temporary --user-data-dir of
      // its own (it refuses one in args); TMPDIR points it at ours.
      env: { ...process.env, TMPDIR: profile },
      timeout: 60000,
    });
  } catch (e) {
    check('chromium starts', false, String(e.message || e).split('\n')[0]);
    rmSync(profile, { recursive: true, force: true });
    return;
  }
  check('chromium starts', true, browser.version());
  try {
    if (process.env.DASH_MODE === 'notoken') {
      await noToken(browser);
    } else {
      await desktop(browser);
      await phone(browser);
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** A page that records every request and every console error. */
async function newPage(browser, viewport, colorScheme = 'light') {
  const ctx = await browser.newContext({ viewport, colorScheme });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  const foreign = [];
  const errors = [];
  const expected = { status: new Set() }; // HTTP statuses the test provokes
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== origin) foreign.push(u);
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const s = /status of (\d+)/.exec(m.text());
    if (s && expected.status.has(Number(s[1]))) return;
    errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return { ctx, page, foreign, errors, expected };
}

async function login(page, token) {
  await page.fill('#token', token);
  await page.click('button[type=submit]');
}

async function goto(page, name, heading) {
  await page.click(`nav a[href="#/${name}"]`);
  await page.waitForSelector(`h1:has-text("${heading}")`);
}

async function desktop(browser) {
  const { ctx, page, foreign, errors, expected } = await newPage(browser, { width: 1280, height: 800 });
  // HTTP level: the page's security headers.
  const resp = await page.goto(URL0);
  const h = resp.headers();
  check('index: CSP without inline script', /script-src 'self'/.test(h['content-security-policy'] || '') &&
    !/unsafe-inline/.test(h['content-security-policy']), h['content-security-policy']);
  check('index: nosniff and no-cache', h['x-content-type-options'] === 'nosniff' && h['cache-control'] === 'no-cache');

  // Login: wrong, then right.
  expected.status.add(401);
  await page.waitForSelector('#token');
  await page.screenshot({ path: join(SHOTS, 'desktop-login.png') });
  await login(page, 'not-the-token');
  const wrong = await page.waitForSelector('#login-error');
  check('wrong token refused with a message', /wrong token/i.test(await wrong.textContent()));
  check('token kept out of the URL', !page.url().includes('not-the-token'));
  await login(page, TOKEN);
  await page.waitForSelector('h1:has-text("Overview")');
  expected.status.delete(401);
  check('right token signs in', true);
  const stored = await page.evaluate(() => sessionStorage.getItem('csocks.token'));
  check('token in sessionStorage', stored === TOKEN);
  check('token not in the URL', !page.url().includes(TOKEN));

  // Live session: start a transfer that keeps sending.
  const t = await socksConnect('127.0.0.1', ECHO_PORT);
  check('SOCKS CONNECT to the echo server granted', t.reply === 0, `reply ${t.reply}`);
  let closed = false;
  t.sock.on('close', () => { closed = true; });
  t.sock.on('error', () => {});
  t.sock.on('data', () => {});
  const chunk = Buffer.alloc(32 * 1024, 120);
  const pump = setInterval(() => { if (!closed) t.sock.write(chunk); }, 100);

  await sleep(2500); // a few polls of the overview with traffic
  await page.screenshot({ path: join(SHOTS, 'desktop-overview.png') });
  const active = await page.textContent('[data-stat="active"] .stat-value');
  check('overview shows the active session', Number(active.replace(/,/g, '')) >= 1, active);
  await page.waitForSelector('[data-outcomes] th:has-text("Active")');
  const up = await page.textContent('[data-stat="up"] .stat-value');
  check('overview shows the upload rate of the transfer', /[KM]iB\/s/.test(up), up);

  await goto(page, 'sessions', 'Live sessions');
  const row = await page.waitForSelector('tr[data-session]');
  const sid = await row.getAttribute('data-session');
  const bytes0 = await page.textContent(`tr[data-session="${sid}"] [data-col="bytes_sent"]`);
  let bytes1 = bytes0;
  for (let i = 0; i < 40 && bytes1 === bytes0; i++) {
    await sleep(250);
    bytes1 = await page.textContent(`tr[data-session="${sid}"] [data-col="bytes_sent"]`);
  }
  check('live session bytes grow without a reload', bytes1 !== bytes0, `${bytes0} -> ${bytes1}`);
  await page.fill('#sess-filter', 'user:nobody-at-all');
  await page.waitForSelector('td:has-text("No active sessions.")');
  check('live filter hides non-matching sessions', true);
  await page.fill('#sess-filter', SOCKS_USER);
  await page.waitForSelector(`tr[data-session="${sid}"]`);
  await page.click(`tr[data-session="${sid}"] button:has-text("Details")`);
  await page.waitForSelector('[role=dialog] dd:has-text("127.0.0.1")');
  await page.waitForSelector(`[role=dialog] dd:has-text("${SOCKS_USER}")`);
  check('detail drawer shows the session', true);
  await page.screenshot({ path: join(SHOTS, 'desktop-sessions.png') });
  await page.click('[role=dialog] button:has-text("Terminate")');
  await page.click('[role=dialog] button:has-text("Yes, terminate")');
  await page.waitForSelector('[role=dialog] .notice');
  for (let i = 0; i < 40 && !closed; i++) await sleep(250);
  check('terminate closes the client connection', closed);
  clearInterval(pump);
  t.sock.destroy();
  await page.keyboard.press('Escape');
  await page.waitForSelector(`tr[data-session="${sid}"]`, { state: 'detached' });
  check('terminated session leaves the live table', true);

  // History with filters.
  await goto(page, 'history', 'History');
  await page.fill('#h-user', SOCKS_USER);
  await page.click('form[aria-label="History filters"] button[type=submit]');
  await page.waitForSelector(`table.history tr[data-session="${sid}"]`);
  const users = await page.$$eval('table.history tbody tr[data-session] td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
  check('history filtered by user', users.length >= 1 && users.every((u) => u === SOCKS_USER), users.join(','));
  await page.screenshot({ path: join(SHOTS, 'desktop-history.png') });
  await page.fill('#h-user', 'nobody-at-all');
  await page.click('form[aria-label="History filters"] button[type=submit]');
  await page.waitForSelector('td:has-text("No sessions match.")');
  check('history filter with no match', true);
  const dl = page.waitForEvent('download');
  await page.fill('#h-user', SOCKS_USER);
  await page.click('form[aria-label="History filters"] button[type=submit]');
  await page.click('button:has-text("Export CSV")');
  const download = await dl;
  check('CSV export downloads', /\.csv$/.test(download.suggestedFilename()), download.suggestedFilename());

  // ACL: tester, then the editor.
  await goto(page, 'acl', 'ACL');
  await page.fill('#t-user', SOCKS_USER);
  await page.fill('#t-dest', '127.0.0.1');
  await page.fill('#t-port', String(ECHO_PORT));
  await page.click('form[aria-labelledby="h-tester"] button[type=submit]');
  let v = await page.waitForSelector('.verdict');
  check('ACL tester: allowed', (await v.getAttribute('data-decision')) === 'allow', await v.textContent());
  await page.fill('#t-dest', '192.0.2.9');
  await page.fill('#t-port', '443');
  await page.click('form[aria-labelledby="h-tester"] button[type=submit]');
  v = await page.waitForSelector('.verdict[data-decision="block"]');
  const vt = await v.textContent();
  check('ACL tester: blocked, with the matched rule', /Blocked/.test(vt) && /no-test-net/.test(vt), vt);
  // A bad rule: the error is shown at its field.
  expected.status.add(400);
  await page.fill('#r-owner', SOCKS_USER);
  await page.fill('#r-dest', '10.0.0.0/99');
  await page.click('form[aria-label="Add a rule"] button[type=submit]');
  const ferr = await page.waitForSelector('#r-dest-err, form[aria-label="Add a rule"] .field-error, .card .error');
  const ferrId = await ferr.getAttribute('id');
  check('invalid rule: error at the field', ferrId === 'r-dest-err', `${ferrId}: ${await ferr.textContent()}`);
  expected.status.delete(400);
  await page.fill('#r-dest', '127.0.0.1');
  await page.fill('#r-ports', String(ECHO_PORT));
  await page.selectOption('#r-action', 'block');
  await page.fill('#r-prio', '1000');
  await page.fill('#r-desc', 'added by the browser test');
  await page.click('form[aria-label="Add a rule"] button[type=submit]');
  await page.waitForSelector('.notice:has-text("Rule added")');
  await page.waitForSelector('td:has-text("added by the browser test")');
  check('rule added in the editor', true);
  const t2 = await socksConnect('127.0.0.1', ECHO_PORT);
  check('new CONNECT refused by the added rule', t2.reply === 2, `reply ${t2.reply}`);
  t2.sock.destroy();
  await page.screenshot({ path: join(SHOTS, 'desktop-acl.png'), fullPage: true });

  await goto(page, 'users', 'Users');
  await page.click(`.pick button:has-text("${SOCKS_USER}")`);
  await page.waitForSelector(`.card h2:has-text("${SOCKS_USER}")`);
  await page.waitForSelector('text=Recorded sessions');
  const lim = await page.textContent('[data-limits]');
  check('users page shows the user and the limits in force', /Connections per user\s*3/.test(lim), lim);
  await page.screenshot({ path: join(SHOTS, 'desktop-users.png') });

  await goto(page, 'config', 'Configuration');
  await page.waitForSelector('tr[data-key="server.bind_port"]');
  const tok = await page.textContent('tr[data-key="api.token"] td:nth-child(2)');
  check('configuration: token redacted', tok === '(redacted)', tok);
  await page.click('button:has-text("Reload ACL file")');
  await page.waitForSelector('p.notice');
  check('configuration: reload button', true);
  await page.screenshot({ path: join(SHOTS, 'desktop-configuration.png') });

  await goto(page, 'health', 'Metrics & health');
  await page.waitForSelector('[data-stat="status"] .stat-value:has-text("healthy")');
  const blocks = await page.textContent('[data-metric="acl-block"]');
  check('health: ACL block counter', Number(blocks) >= 1, blocks);
  const sys = await page.textContent('[data-system]');
  check('health: system resources', /Memory \(resident\)\s*[\d.]+ MiB/.test(sys) && /Open files/.test(sys), sys);
  await page.screenshot({ path: join(SHOTS, 'desktop-health.png') });

  await goto(page, 'diagnostics', 'Diagnostics');
  await page.fill('#d-addr', '127.0.0.1');
  await page.fill('#d-port', String(ECHO_PORT));
  await page.click('form[aria-label="TCP connectivity test"] button[type=submit]');
  await page.waitForSelector('[data-diag="ok"]');
  check('diagnostics: reachable port', true);
  await page.screenshot({ path: join(SHOTS, 'desktop-diagnostics.png') });
  await page.fill('#d-port', String(CLOSED_PORT));
  await page.click('form[aria-label="TCP connectivity test"] button[type=submit]');
  const dfail = await page.waitForSelector('[data-diag="failed"]');
  check('diagnostics: closed port reported', /refused/i.test(await dfail.textContent()), await dfail.textContent());

  // Keyboard: Tab reaches the navigation, focus is visible.
  await page.focus('#main');
  await page.keyboard.press('Shift+Tab');
  const focused = await page.evaluate(() => {
    const el = document.activeElement;
    return el && { tag: el.tagName, text: el.textContent, outline: getComputedStyle(el).outlineStyle };
  });
  check('keyboard focus visible', focused && focused.tag !== 'BODY' && focused.outline !== 'none', JSON.stringify(focused));

  await page.click('button:has-text("Sign out")');
  await page.waitForSelector('#token');
  const after = await page.evaluate(() => sessionStorage.getItem('csocks.token'));
  check('sign out forgets the token', after === null);

  check('no request to another origin', foreign.length === 0, foreign.join(' '));
  check('no console errors', errors.length === 0, errors.join(' | '));
  await ctx.close();
}

/** A csocks with no api.token: reads work, every change is refused (403). */
async function noToken(browser) {
  const { ctx, page, foreign, errors, expected } = await newPage(browser, { width: 1280, height: 800 });
  expected.status.add(403);
  await page.goto(URL0);
  await login(page, 'anything');
  await page.waitForSelector('h1:has-text("Overview")');
  check('no token configured: reads work', true);
  await goto(page, 'acl', 'ACL');
  await page.fill('#r-owner', SOCKS_USER);
  await page.fill('#r-dest', '127.0.0.1');
  await page.click('form[aria-label="Add a rule"] button[type=submit]');
  const e = await page.waitForSelector('.card .error');
  const text = await e.textContent();
  check('no token configured: the refusal says why', /no api\.token/.test(text), text);
  await goto(page, 'config', 'Configuration');
  await page.click('button:has-text("Reload ACL file")');
  const e2 = await page.waitForSelector('section .error');
  check('no token configured: reload refused with the reason', /no api\.token/.test(await e2.textContent()));
  check('no token: no request to another origin', foreign.length === 0, foreign.join(' '));
  check('no token: no console errors', errors.length === 0, errors.join(' | '));
  await ctx.close();
}

async function phone(browser) {
  // The phone run uses the dark theme (prefers-color-scheme: dark).
  const { ctx, page, foreign, errors } = await newPage(browser, { width: 390, height: 844 }, 'dark');
  await page.goto(URL0);
  await page.waitForSelector('#token');
  await page.screenshot({ path: join(SHOTS, 'phone-login.png') });
  await login(page, TOKEN);
  await page.waitForSelector('h1:has-text("Overview")');
  const pages = [['overview', 'Overview'], ['sessions', 'Live sessions'], ['history', 'History'],
    ['users', 'Users'], ['acl', 'ACL'], ['config', 'Configuration'], ['health', 'Metrics & health'],
    ['diagnostics', 'Diagnostics']];
  let wide = [];
  for (const [id, heading] of pages) {
    await page.click('button:has-text("Menu")');
    await goto(page, id, heading);
    await sleep(400);
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    if (w > 390) {
      const culprits = await page.evaluate(() => [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap'))
        .slice(0, 4).map((e) => `${e.tagName}.${e.className}`).join(','));
      wide.push(`${id}=${w} (${culprits})`);
    }
    await page.screenshot({ path: join(SHOTS, `phone-${id}.png`) });
  }
  check('phone: no page wider than 390 px', wide.length === 0, wide.join(' '));
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check('dark theme follows the system setting', bg === 'rgb(17, 21, 27)', bg);
  check('phone: no request to another origin', foreign.length === 0, foreign.join(' '));
  check('phone: no console errors', errors.length === 0, errors.join(' | '));
  await ctx.close();
}

const watchdog = setTimeout(() => { console.log('FAIL browser test timed out'); console.log(`browser: ${passed} passed, ${failed + 1} failed`); process.exit(1); }, 240000);
main().catch((e) => check('browser test ran to the end', false, String(e && e.stack ? e.stack.split('\n').slice(0, 3).join(' ') : e)))
  .finally(() => {
    clearTimeout(watchdog);
    console.log(`browser: ${passed} passed, ${failed} failed`);
    process.exit(failed || !passed ? 1 : 0);
  });
