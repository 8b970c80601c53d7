"""The web dashboard (docs/dashboard.md) served by the real binary.

HTTP-level checks (headers, caching, gzip, traversal, missing files) with
urllib, and the browser test: dashboard/tests/browser.mjs drives Debian's
chromium (playwright-core) against this csocks with real SOCKS traffic.
The built dashboard (scripts/build-dashboard.sh, run by scripts/test.sh)
and chromium (scripts/deps.sh test) are required: without them these
tests fail, they do not skip.
"""
import gzip
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dashboard" / "dist"
TOKEN = "dash-t0ken"

ACL = """
[global]
default_policy = "allow"

[[groups]]
name = "staff"

[[users]]
username = "alice"
groups = ["staff"]

  [[users.rules]]
  action = "block"
  description = "no-test-net"
  destinations = ["192.0.2.0/24"]
  ports = ["*"]
  protocols = ["both"]
  priority = 500
"""


def need_dist():
    if not (DIST / "index.html").is_file():
        pytest.fail(f"{DIST} is not built: run scripts/build-dashboard.sh")


def dash_config(extra=None):
    cfg = {"sessions": {"enabled": True, "storage": "memory", "stats_api_enabled": True,
                        "dashboard_enabled": True, "dashboard_dir": str(DIST)},
           "metrics": {"enabled": True, "collection_interval_secs": 1},
           "api": {"token": TOKEN},
           "auth": {"socks_method": "userpass",
                    "users": [{"username": "alice", "password": "alice-pw"}]}}
    for k, v in (extra or {}).items():
        cfg.setdefault(k, {}).update(v)
    return cfg


def get(c, path, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{c.api_port}{path}", headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_http(c, base=""):
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if get(c, base + "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail("admin API did not come up")


def test_dashboard_http(start_csocks):
    need_dist()
    c = start_csocks(dash_config(), acl=ACL)
    wait_http(c)
    st, h, body = get(c, "/")
    assert st == 200 and b'<div id="app">' in body
    assert h["Content-Type"] == "text/html; charset=utf-8"
    assert h["Cache-Control"] == "no-cache"
    assert h["X-Content-Type-Options"] == "nosniff"
    csp = h["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "http" not in csp
    assert b"<script>" not in body  # no inline script
    st, _, _ = get(c, "/", {"If-None-Match": h["ETag"]})
    assert st == 304
    js = sorted((DIST / "assets").glob("*.js"))
    assert js, "no JavaScript in the build"
    rel = "/assets/" + js[0].name
    st, h, body = get(c, rel)
    assert st == 200 and h["Content-Type"].startswith("text/javascript")
    assert "immutable" in h["Cache-Control"] and "max-age=31536000" in h["Cache-Control"]
    assert body == js[0].read_bytes() and "Content-Encoding" not in h
    st, hz, bodyz = get(c, rel, {"Accept-Encoding": "gzip, br"})
    assert st == 200 and hz["Content-Encoding"] == "gzip" and hz["Vary"] == "Accept-Encoding"
    assert gzip.decompress(bodyz) == body and hz["ETag"] != h["ETag"]
    for bad in ["/../../etc/passwd", "/assets/../../etc/passwd", "/assets/..%2f..%2fetc%2fpasswd",
                "/%2e%2e/%2e%2e/etc/passwd", "/assets/" + js[0].name + ".gz", "/package.json"]:
        st, h, body = get(c, bad)
        assert st == 404, bad
        assert b"root:" not in body
    # The API is still under /api and still wants the token.
    assert get(c, "/api/sessions/active")[0] == 401
    st, _, body = get(c, "/api/config", {"Authorization": f"Bearer {TOKEN}"})
    assert st == 200 and TOKEN.encode() not in body and b"(redacted)" in body
    # System resources (the Health page): Prometheus' standard process_* families.
    st, _, body = get(c, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    text = body.decode()
    for fam in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                "process_open_fds", "process_max_fds"):
        line = next((x for x in text.splitlines() if x.startswith(fam + " ")), None)
        assert line and float(line.split()[1]) > 0, fam
    c.stop()
    assert "dashboard:" in c.log_text() and "files from" in c.log_text()


def test_dashboard_base_path(start_csocks):
    need_dist()
    c = start_csocks(dash_config({"sessions": {"base_path": "/rustsocks"}}), acl=ACL)
    wait_http(c, "/rustsocks")
    st, h, _ = get(c, "/rustsocks")
    assert st == 308 and h["Location"] == "/rustsocks/"
    st, _, body = get(c, "/rustsocks/")
    assert st == 200 and b'<div id="app">' in body
    assert get(c, "/")[0] == 404


def test_dashboard_files_missing(start_csocks, tmp_path):
    empty = tmp_path / "nodash"
    empty.mkdir()
    c = start_csocks(dash_config({"sessions": {"dashboard_dir": str(empty)}}))
    wait_http(c)
    st, h, body = get(c, "/")
    assert st == 503 and b"build-dashboard.sh" in body
    assert get(c, "/health")[0] == 200
    c.stop()
    assert "has no index.html" in c.log_text()


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_browser(c, echo_port, tmp_path, mode=""):
    need_dist()
    node = shutil.which("node")
    assert node, "node is missing (scripts/deps.sh installs nodejs)"
    chromium = "/usr/bin/chromium"
    assert os.access(chromium, os.X_OK), "chromium is missing (scripts/deps.sh test installs it)"
    assert (REPO / "dashboard" / "node_modules" / "playwright-core").is_dir(), \
        "dashboard/node_modules missing: run scripts/build-dashboard.sh"
    shots = Path(os.environ.get("CSOCKS_SCREENSHOTS", REPO / "test-logs" / "dashboard"))
    if "asan" in str(os.environ.get("CSOCKS_BIN", "")):
        shots = shots.parent / (shots.name + "-asan")
    env = dict(os.environ, DASH_URL=f"http://127.0.0.1:{c.api_port}/", DASH_TOKEN=TOKEN,
               SOCKS_PORT=str(c.port), ECHO_PORT=str(echo_port), SOCKS_USER="alice",
               SOCKS_PASS="alice-pw", SHOTS_DIR=str(shots), CHROMIUM=chromium,
               HOME=str(tmp_path), DASH_MODE=mode, CLOSED_PORT=str(closed_port()))
    p = subprocess.run([node, str(REPO / "dashboard" / "tests" / "browser.mjs")], env=env,
                       capture_output=True, text=True, timeout=300)
    print(p.stdout)
    print(p.stderr[-3000:])
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "browser: " in p.stdout and " 0 failed" in p.stdout


def test_dashboard_in_browser(start_csocks, echo_server, tmp_path):
    need_dist()
    cfg = dash_config()
    cfg["qos"] = {"enabled": True, "connection_limits": {"max_connections_per_user": 3}}
    c = start_csocks(cfg, acl=ACL)
    wait_http(c)
    run_browser(c, echo_server.port, tmp_path)


def test_dashboard_without_token(start_csocks, echo_server, tmp_path):
    """No api.token: the page reads, and says why every change is refused."""
    need_dist()
    cfg = dash_config()
    del cfg["api"]
    c = start_csocks(cfg, acl=ACL)
    wait_http(c)
    run_browser(c, echo_server.port, tmp_path, mode="notoken")
