"""RustSocks' dashboard routes (issue 24, first part) against the real binary:
/api/auth/* (cookie sessions, CSRF, login throttle, altcha disabled),
/api/system/resources, /api/telemetry/events, /api/diagnostics/connectivity,
/api/admin/runtime-config, /api/admin/config-file and /swagger-ui.

Field names and status codes follow RustSocks' src/api (auth.rs, types.rs,
handlers/*.rs)."""
import json
import os
import signal
import socket
import stat
import time
import tomllib
import urllib.error
import urllib.request

import pytest

TOKEN = "t0ken-for-rustsocks-api"
COOKIE = "rustsocks_session"


def api_cfg(extra=None, token=True, users=True):
    cfg = {"sessions": {"enabled": True, "storage": "memory", "stats_api_enabled": True},
           "metrics": {"enabled": True}}
    if token:
        cfg["api"] = {"token": TOKEN}
    if users:
        cfg["sessions"]["dashboard_auth"] = {
            "session_secret": "dash-secret-value",
            "users": [{"username": "admin", "password": "dash-pw"}]}
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    return cfg


def call(c, method, path, body=None, token=None, cookie=None, headers=None, raw=None):
    """(status, JSON or text, headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://127.0.0.1:{c.api_port}{path}", data=data,
                                 method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if cookie:
        req.add_header("Cookie", f"{COOKIE}={cookie}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, text, hdrs = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    ctype = hdrs.get("Content-Type", "")
    return status, (json.loads(text) if "json" in ctype else text), hdrs


def wait_api(c, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if call(c, "GET", "/health")[0] == 200:
                return c
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"admin API not up:\n{c.log_text()}")


@pytest.fixture
def api(start_csocks):
    return wait_api(start_csocks(api_cfg()))


def is_fail(body):
    return (body.get("success") is False and isinstance(body.get("message"), str)
            and isinstance(body.get("error"), str))


def login(c, username="admin", password="dash-pw"):
    st, body, hdrs = call(c, "POST", "/api/auth/login",
                          {"username": username, "password": password})
    return st, body, hdrs.get("Set-Cookie", "")


def cookie_value(set_cookie):
    first = set_cookie.split(";")[0]
    name, _, value = first.partition("=")
    assert name == COOKIE
    return value


# ---------------------------------------------------------------- auth

def test_login_cookie_attributes_and_session(api):
    st, body, sc = login(api)
    assert st == 200
    assert body == {"success": True, "message": "Login successful", "username": "admin"}
    attrs = [a.strip() for a in sc.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs
    assert "Max-Age=86400" in attrs  # session_duration_hours = 24
    assert "Secure" not in attrs     # plain HTTP
    sid = cookie_value(sc)
    assert len(sid) == 64 and int(sid, 16) >= 0
    # two logins never share an id
    assert cookie_value(login(api)[2]) != sid

    st, body, _ = call(api, "GET", "/api/auth/check", cookie=sid)
    assert (st, body) == (200, {"authenticated": True, "username": "admin"})
    # the cookie authorises reads like the bearer token
    st, body, _ = call(api, "GET", "/api/sessions/active", cookie=sid)
    assert st == 200 and isinstance(body, list)
    # without either: 401
    assert call(api, "GET", "/api/sessions/active")[0] == 401
    assert call(api, "GET", "/api/sessions/active", cookie="0" * 64)[0] == 401
    # behind a TLS proxy the cookie is Secure
    st, _, hdrs = call(api, "POST", "/api/auth/login",
                       {"username": "admin", "password": "dash-pw"},
                       headers={"X-Forwarded-Proto": "https"})
    assert st == 200 and "Secure" in [a.strip() for a in hdrs["Set-Cookie"].split(";")]

    # logout: the server forgets the id, the cookie is cleared
    st, body, hdrs = call(api, "POST", "/api/auth/logout", cookie=sid)
    assert st == 200 and body == {"success": True, "message": "Logged out successfully"}
    assert "Max-Age=0" in hdrs["Set-Cookie"]
    assert call(api, "GET", "/api/auth/check", cookie=sid)[1] == {"authenticated": False}
    assert call(api, "GET", "/api/sessions/active", cookie=sid)[0] == 401


def test_cookie_csrf_on_state_changing_routes(api):
    sid = cookie_value(login(api)[2])
    path = "/api/sessions/11111111-2222-4333-8444-555555555555/terminate"
    st, body, _ = call(api, "POST", path, cookie=sid)
    assert st == 403 and is_fail(body) and body["error"] == "csrf"
    st, body, _ = call(api, "POST", path, cookie=sid,
                       headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert st == 403 and body["error"] == "csrf"
    # what a browser sends from the dashboard's own origin passes the check
    for h in ({"X-Requested-With": "XMLHttpRequest"}, {"Sec-Fetch-Site": "same-origin"},
              {"Origin": f"http://127.0.0.1:{api.api_port}"}):
        st, body, _ = call(api, "POST", path, cookie=sid, headers=h)
        assert st == 404, (h, st, body)  # no such session: past auth and CSRF
    # the bearer token needs no CSRF signal
    assert call(api, "POST", path, token=TOKEN)[0] == 404


def test_login_with_token_and_failures(api):
    st, body, sc = login(api, "ops", TOKEN)
    assert st == 200 and body["username"] == "ops" and COOKIE in sc
    st, body, _ = login(api, "admin", "wrong")
    assert st == 401 and body["success"] is False
    assert body["message"] == "Invalid username or password"
    st, body, _ = call(api, "POST", "/api/auth/login", {"username": "admin"})
    assert st == 400 and is_fail(body)
    st, body, _ = call(api, "POST", "/api/auth/login", raw=b"{not json")
    assert st == 400


def test_login_throttled_per_ip(start_csocks):
    c = wait_api(start_csocks(api_cfg({"auth": {"throttle": {
        "max_attempts": 3, "window_secs": 60, "lockout_secs": 60}}})))
    for _ in range(3):
        assert login(c, "admin", "bad")[0] == 401
    st, body, _ = login(c)  # even the right password, while locked
    assert st == 429 and is_fail(body) and body["error"] == "too_many_attempts"
    st, events, _ = call(c, "GET", "/api/telemetry/events?category=auth", token=TOKEN)
    assert st == 200 and any("locked out" in e["message"] for e in events)


def test_auth_routes_need_no_token_but_others_do(api):
    assert call(api, "GET", "/api/auth/check")[1] == {"authenticated": False}
    st, body, _ = call(api, "GET", "/api/auth/altcha-config")
    assert (st, body) == (200, {"enabled": False})
    st, body, _ = call(api, "GET", "/api/auth/altcha-challenge")
    assert st == 404 and is_fail(body)
    for m, p in (("GET", "/api/system/resources"), ("GET", "/api/telemetry/events"),
                 ("POST", "/api/diagnostics/connectivity"), ("GET", "/api/admin/runtime-config"),
                 ("PUT", "/api/admin/runtime-config"), ("GET", "/api/admin/config-file"),
                 ("PUT", "/api/admin/config-file")):
        assert call(api, m, p, body={})[0] == 401, (m, p)
    assert call(api, "DELETE", "/api/auth/login")[0] == 405


def test_without_token_mutating_routes_refused(start_csocks):
    c = wait_api(start_csocks(api_cfg(token=False, users=False)))
    for m, p in (("POST", "/api/diagnostics/connectivity"), ("PUT", "/api/admin/runtime-config"),
                 ("PUT", "/api/admin/config-file"), ("GET", "/api/admin/config-file")):
        st, body, _ = call(c, m, p, body={})
        assert st == 403, (m, p, st)
    # reads stay open as today
    assert call(c, "GET", "/api/system/resources")[0] == 200
    assert call(c, "GET", "/api/admin/runtime-config")[0] == 200
    # no users and no token: nobody can log in
    assert login(c, "admin", "")[0] == 401


# ---------------------------------------------------------------- system

def test_system_resources(api):
    st, body, _ = call(api, "GET", "/api/system/resources", token=TOKEN)
    assert st == 200
    for k in ("system_cpu_percent", "system_ram_percent", "process_cpu_percent"):
        assert isinstance(body[k], (int, float)) and 0 <= body[k], k
    assert 0 <= body["system_ram_percent"] <= 100
    assert body["system_ram_total_bytes"] >= body["system_ram_used_bytes"] > 0
    rss = int(open(f"/proc/{api.pid}/status").read().split("VmRSS:")[1].split()[0]) * 1024
    assert body["process_ram_bytes"] > 0 and abs(body["process_ram_bytes"] - rss) < 64 << 20
    assert body["process_threads"] >= 2 + 1  # 2 workers + main at least
    assert body["process_open_fds"] == pytest.approx(len(os.listdir(f"/proc/{api.pid}/fd")),
                                                     abs=8)
    assert body["process_uptime_seconds"] >= 0 and body["system_uptime_seconds"] > 0


def test_telemetry_events(start_csocks):
    acl = '[global]\ndefault_policy = "allow"\n'
    c = wait_api(start_csocks(api_cfg(), acl=acl))
    st, events, _ = call(c, "GET", "/api/telemetry/events", token=TOKEN)
    assert st == 200 and events[-1]["category"] == "lifecycle"
    assert set(events[0]) == {"timestamp", "severity", "category", "message"}
    assert events[0]["timestamp"].endswith("Z")
    c.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = call(c, "GET", "/api/telemetry/events?category=acl", token=TOKEN)[1]
        if events:
            break
        time.sleep(0.05)
    assert events and events[0]["severity"] == "info" and "SIGHUP" in events[0]["message"]
    # a broken ACL file: the failed reload is an error event
    (c.dir / "acl.toml").write_text("[global\n")
    assert call(c, "POST", "/api/admin/reload-acl", token=TOKEN)[0] >= 400
    errs = call(c, "GET", "/api/telemetry/events?severity=error", token=TOKEN)[1]
    assert errs and errs[0]["category"] == "acl"
    assert len(call(c, "GET", "/api/telemetry/events?limit=1", token=TOKEN)[1]) == 1
    assert call(c, "GET", "/api/telemetry/events?severity=loud", token=TOKEN)[0] == 400


def test_telemetry_disabled(start_csocks):
    c = wait_api(start_csocks(api_cfg({"telemetry": {"enabled": False}})))
    assert call(c, "GET", "/api/telemetry/events", token=TOKEN)[1] == []


# ---------------------------------------------------------------- diagnostics

def test_connectivity_probe(start_csocks, echo_server):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    acl = f"""
[global]
default_policy = "allow"

[[users]]
username = "anonymous"

  [[users.rules]]
  action = "block"
  description = "no port {closed_port + 1}"
  destinations = ["127.0.0.1"]
  ports = ["{closed_port + 1}"]
  protocols = ["tcp"]
  priority = 100
"""
    c = wait_api(start_csocks(api_cfg(), acl=acl))
    echo_port = echo_server.port
    p = "/api/diagnostics/connectivity"
    st, body, _ = call(c, "POST", p, {"address": "127.0.0.1", "port": echo_port}, token=TOKEN)
    assert st == 200 and body["success"] is True and body["error"] is None
    assert set(body) == {"address", "port", "success", "latency_ms", "message", "error"}
    assert isinstance(body["latency_ms"], int)
    st, body, _ = call(c, "POST", p, {"address": "127.0.0.1", "port": closed_port}, token=TOKEN)
    assert st == 200 and body["success"] is False
    assert body["message"].startswith("Connection failed")
    st, body, _ = call(c, "POST", p, {"address": "127.0.0.1", "port": closed_port + 1},
                       token=TOKEN)
    assert st == 403 and body["error"] == "acl_blocked" and "no port" in body["message"]
    for bad, err in (({"address": "", "port": 1}, "empty_address"),
                     ({"address": "127.0.0.1", "port": 0}, "invalid_port"),
                     ({"address": "localhost", "port": 1}, "invalid_ip")):
        st, body, _ = call(c, "POST", p, bad, token=TOKEN)
        assert st == 400 and body["error"] == err
    # rate limit: at most 10 probes per 10 s (2 ran above)
    codes = [call(c, "POST", p, {"address": "127.0.0.1", "port": echo_port}, token=TOKEN)[0]
             for _ in range(10)]
    assert 429 in codes and codes.count(200) <= 8


# ---------------------------------------------------------------- admin

def test_runtime_config_get_and_put(start_csocks):
    c = wait_api(start_csocks(api_cfg()))
    os.chmod(c.config_path, 0o600)
    st, body, _ = call(c, "GET", "/api/admin/runtime-config", token=TOKEN)
    assert st == 200
    assert body["editable"] is True and body["path"] == str(c.config_path)
    assert set(body["server"]) == {"bind_address", "bind_port", "stats_api_enabled",
                                   "stats_api_bind_address", "stats_api_port",
                                   "dashboard_enabled", "swagger_enabled"}
    assert set(body["pool"]) == {"enabled", "max_idle_per_dest", "max_total_idle",
                                 "idle_timeout_secs", "connect_timeout_ms"}
    assert set(body["sessions"]) == {"enabled", "storage", "database_url", "retention_days",
                                     "cleanup_interval_hours", "traffic_update_packet_interval",
                                     "stats_window_hours", "base_path"}
    assert set(body["metrics"]) == {"enabled", "storage", "retention_hours",
                                    "cleanup_interval_hours", "collection_interval_secs"}
    assert body["telemetry"] == {"enabled": True, "max_events": 256, "retention_hours": 6}
    before = c.config_path.read_text()
    for bad in ({"telemetry": {"max_events": 5, "colour": "red"}}, {"extra": {}},
                {"telemetry": {"max_events": "many"}}):
        st, b, _ = call(c, "PUT", "/api/admin/runtime-config", bad, token=TOKEN)
        assert st == 400 and is_fail(b), bad
    # a value the loader refuses: file:line errors, the file untouched
    st, b, _ = call(c, "PUT", "/api/admin/runtime-config",
                    {"telemetry": {"max_events": 0}}, token=TOKEN)
    assert st == 400 and b["error"] == "invalid_config" and b["errors"][0]["line"] >= 1
    assert c.config_path.read_text() == before
    new = dict(body)
    new["telemetry"] = dict(body["telemetry"], max_events=100)
    new["metrics"] = dict(body["metrics"], retention_hours=12)
    del new["path"], new["editable"]
    st, b, _ = call(c, "PUT", "/api/admin/runtime-config", new, token=TOKEN)
    assert st == 200 and b["success"] is True and b["restarting"] is False
    parsed = tomllib.loads(c.config_path.read_text())
    assert parsed["telemetry"]["max_events"] == 100
    assert parsed["metrics"]["retention_hours"] == 12
    assert parsed["api"]["token"] == TOKEN
    assert stat.S_IMODE(os.stat(c.config_path).st_mode) == 0o600
    # it applies at the next start
    c.stop()
    c.start()
    wait_api(c)
    st, body, _ = call(c, "GET", "/api/admin/runtime-config", token=TOKEN)
    assert body["telemetry"]["max_events"] == 100 and body["metrics"]["retention_hours"] == 12


def test_config_file_get_redacts_and_put_validates(start_csocks):
    c = wait_api(start_csocks(api_cfg({"sessions": {
        "database_url": "postgresql://u:db-pass@127.0.0.1:1/x"}})))
    st, body, _ = call(c, "GET", "/api/admin/config-file", token=TOKEN)
    assert st == 200 and body["editable"] is True and body["path"] == str(c.config_path)
    text = body["content"]
    for secret in (TOKEN, "dash-pw", "dash-secret-value", "db-pass"):
        assert secret not in text
    assert "<redacted>" in text
    # PUT the redacted text back with one change: secrets kept, change applied
    changed = text.replace("retention_hours = 24", "retention_hours = 48") \
        if "retention_hours = 24" in text else text + "\n[telemetry]\nretention_hours = 48\n"
    st, b, _ = call(c, "PUT", "/api/admin/config-file", {"content": changed}, token=TOKEN)
    assert st == 200 and b == {"success": True, "restarting": False, "message": b["message"]}
    saved = c.config_path.read_text()
    assert TOKEN in saved and "dash-pw" in saved and "db-pass" in saved
    assert "<redacted>" not in saved
    # invalid TOML / invalid values: 400 with file:line, file untouched
    for bad in ("[server\n", "[server]\nbind_port = \"x\"\n"):
        st, b, _ = call(c, "PUT", "/api/admin/config-file", {"content": bad}, token=TOKEN)
        assert st == 400 and b["success"] is False and b["error"] == "invalid_config"
        assert b["errors"] and b["errors"][0]["file"] == str(c.config_path)
        assert isinstance(b["errors"][0]["line"], int)
        assert c.config_path.read_text() == saved
    st, b, _ = call(c, "PUT", "/api/admin/config-file", {"content": saved, "x": 1}, token=TOKEN)
    assert st == 400 and b["error"] == "unknown_field"
    # no temporary files left behind
    assert [p.name for p in c.dir.iterdir() if ".csocks-" in p.name] == []


# ---------------------------------------------------------------- swagger / openapi

def test_swagger_ui_offline(api):
    st, html, hdrs = call(api, "GET", "/swagger-ui")
    assert st == 200 and hdrs["Content-Type"].startswith("text/html")
    assert "/openapi.json" in html and "http://" not in html and "https://" not in html
    assert call(api, "GET", "/swagger-ui/")[0] == 200


def test_swagger_ui_disabled(start_csocks):
    c = wait_api(start_csocks(api_cfg({"sessions": {"swagger_enabled": False}})))
    assert call(c, "GET", "/swagger-ui")[0] == 404


def test_openapi_lists_the_new_routes(api):
    st, doc, _ = call(api, "GET", "/openapi.json")
    assert st == 200
    for m, p in (("post", "/api/auth/login"), ("post", "/api/auth/logout"),
                 ("get", "/api/auth/check"), ("get", "/api/auth/altcha-config"),
                 ("get", "/api/auth/altcha-challenge"), ("get", "/api/system/resources"),
                 ("get", "/api/telemetry/events"), ("post", "/api/diagnostics/connectivity"),
                 ("get", "/api/admin/runtime-config"), ("put", "/api/admin/runtime-config"),
                 ("get", "/api/admin/config-file"), ("put", "/api/admin/config-file"),
                 ("get", "/swagger-ui")):
        assert m in doc["paths"][p], (m, p)
    assert doc["paths"]["/api/auth/login"]["post"]["security"] == []
