"""Admin HTTP API and /metrics against the real binary, over real HTTP.

Needs a csocks whose main() starts the admin API (api_server_start). Tests
that need modules the binary does not wire yet (session manager, ACL in the
proxy path, terminate) skip with the reason instead of passing vacuously.
"""
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

TOKEN = "t0ken-for-tests"

ACL = """
[global]
default_policy = "allow"

[[groups]]
name = "devs"

[[users]]
username = "alice"
groups = ["devs"]
"""

# POST routes that only read (open without a configured token).
READ_ONLY_POSTS = ("/api/acl/test", "/api/acl/search")

# Every RustSocks route (method, path); {id} is a syntactically valid UUID.
SID = "11111111-2222-4333-8444-555555555555"
ROUTES = [
    ("GET", "/api/sessions/active"), ("GET", "/api/sessions/history"),
    ("GET", "/api/sessions/stats"), ("GET", f"/api/sessions/{SID}"),
    ("POST", f"/api/sessions/{SID}/terminate"), ("GET", "/api/users/alice/sessions"),
    ("GET", "/api/metrics/history"), ("GET", "/api/pool/stats"),
    ("POST", "/api/admin/reload-acl"), ("POST", "/api/admin/reload-tls"),
    ("GET", "/api/acl/rules"), ("POST", "/api/acl/test"),
    ("GET", "/api/acl/groups"), ("POST", "/api/acl/groups"), ("GET", "/api/acl/groups/devs"),
    ("DELETE", "/api/acl/groups/devs"), ("POST", "/api/acl/groups/devs/rules"),
    ("PUT", "/api/acl/groups/devs/rules"), ("DELETE", "/api/acl/groups/devs/rules"),
    ("GET", "/api/acl/users"), ("POST", "/api/acl/users"), ("GET", "/api/acl/users/alice"),
    ("DELETE", "/api/acl/users/alice"), ("POST", "/api/acl/users/alice/rules"),
    ("PUT", "/api/acl/users/alice/rules"), ("DELETE", "/api/acl/users/alice/rules"),
    ("POST", "/api/acl/users/alice/groups"), ("DELETE", "/api/acl/users/alice/groups/devs"),
    ("GET", "/api/acl/global"), ("PUT", "/api/acl/global"), ("POST", "/api/acl/search"),
    ("GET", "/metrics"),
]


def request(c, method, path, body=None, token=TOKEN, raw=None, base="", headers=None):
    """(status, parsed JSON or text, headers)."""
    url = f"http://127.0.0.1:{c.api_port}{base}{path}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, text, hdrs = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    ctype = hdrs.get("Content-Type", "")
    return status, (json.loads(text) if "json" in ctype else text), hdrs


def api_config(extra=None, token=True):
    cfg = {"sessions": {"enabled": True, "storage": "memory", "stats_api_enabled": True},
           "metrics": {"enabled": True}}
    if token:
        cfg["api"] = {"token": TOKEN}
    for k, v in (extra or {}).items():
        cfg.setdefault(k, {}).update(v)
    return cfg


@pytest.fixture
def api(start_csocks):
    c = start_csocks(api_config(), acl=ACL)
    wait_api(c)
    yield c
    c.stop()


def wait_api(c):
    import time
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            status, _, _ = request(c, "GET", "/health", token=None)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.skip("the binary does not start the admin API yet (needs main.c wiring)")


def needs(c, path, what):
    status, body, _ = request(c, "GET", path)
    assert status != 503, f"{what} not available: {body.get('error')}"
    return status, body


# ---------------------------------------------------------------- basics

def test_health_open_and_shape(api):
    status, body, _ = request(api, "GET", "/health", token=None)
    assert status == 200
    assert body["status"] == "healthy"
    assert isinstance(body["version"], str) and isinstance(body["uptime_seconds"], int)


def test_every_api_route_needs_the_token(api):
    for method, path in ROUTES:
        for token in (None, "wrong"):
            status, body, hdrs = request(api, method, path, body={}, token=token)
            assert status == 401, (method, path, token, status)
            assert isinstance(body, dict) and isinstance(body["error"], str), (method, path)
            assert hdrs.get("WWW-Authenticate") == "Bearer"


def test_mutating_routes_refused_without_configured_token(start_csocks):
    c = start_csocks(api_config(token=False), acl=ACL)
    wait_api(c)
    for method, path in ROUTES:
        if method == "GET" or path in READ_ONLY_POSTS:
            continue
        status, body, _ = request(c, method, path, body={}, token=None)
        assert status == 403, (method, path, status)
        assert "error" in body and body["success"] is False and body["message"]
    # The ACL tester and the rule search only read: open without a token,
    # as in RustSocks (the dashboard calls them).
    status, body, _ = request(c, "POST", "/api/acl/test", token=None,
                              body={"user": "alice", "destination": "x.example.com",
                                    "port": 443})
    assert status == 200 and body["decision"] in ("allow", "block"), body
    status, body, _ = request(c, "POST", "/api/acl/search", token=None,
                              body={"destination": "example"})
    assert status == 200 and "matches" in body, body
    status, _, _ = request(c, "GET", "/api/acl/groups", token=None)
    assert status == 200
    c.stop()


def test_not_found_and_method_not_allowed(api):
    status, body, _ = request(api, "GET", "/api/does-not-exist")
    assert status == 404 and "error" in body
    status, body, hdrs = request(api, "DELETE", "/api/sessions/active")
    assert status == 405 and "error" in body
    assert "GET" in hdrs.get("Allow", "")
    status, body, _ = request(api, "GET", "/api/acl/groups/nope")
    assert status == 404 and "error" in body


def test_oversized_body_413(start_csocks):
    c = start_csocks(api_config({"api": {"max_body_bytes": 1024}}), acl=ACL)
    wait_api(c)
    status, body, _ = request(c, "POST", "/api/acl/groups", raw=b'{"name":"' + b"x" * 4096 + b'"}')
    assert status == 413 and "error" in body
    c.stop()


def test_malformed_and_mistyped_json_400(api):
    for raw in (b"{nope", b"[1]", b'"str"', b""):
        status, body, _ = request(api, "POST", "/api/acl/groups/devs/rules", raw=raw)
        assert status == 400, raw
        assert "error" in body
    status, body, _ = request(api, "POST", "/api/acl/test",
                              body={"user": "a", "destination": "1.2.3.4", "port": "80"})
    assert status == 400


def test_base_path(start_csocks):
    c = start_csocks(api_config({"sessions": {"base_path": "/rustsocks"}}), acl=ACL)
    import time
    time.sleep(0.2)
    status, body, _ = request(c, "GET", "/health", token=None, base="/rustsocks")
    if status != 200:
        pytest.skip("the binary does not start the admin API yet (needs main.c wiring)")
    status, _, _ = request(c, "GET", "/health", token=None)
    assert status == 404
    status, _, _ = request(c, "GET", "/api/acl/global", base="/rustsocks")
    assert status == 200
    c.stop()


def test_openapi_document(api):
    status, doc, _ = request(api, "GET", "/openapi.json", token=None)
    assert status == 200
    assert doc["openapi"].startswith("3.0")
    paths = doc["paths"]
    for method, path in ROUTES:
        templ = (path.replace(SID, "{id}").replace("/users/alice/sessions", "/users/{user}/sessions")
                 .replace("/groups/devs", "/groups/{groupname}")
                 .replace("/users/alice", "/users/{username}"))
        assert templ in paths, templ
        assert method.lower() in paths[templ], (method, templ)
    # every $ref resolves
    text = json.dumps(doc)
    import re
    for ref in set(re.findall(r'"#/components/schemas/([A-Za-z]+)"', text)):
        assert ref in doc["components"]["schemas"], ref


# ---------------------------------------------------------------- metrics

def test_metrics_exposition_passes_promtool(api):
    status, text, hdrs = request(api, "GET", "/metrics")
    assert status == 200
    assert hdrs.get("Content-Type", "").startswith("text/plain; version=0.0.4")
    for name in ("rustsocks_active_sessions", "rustsocks_sessions_total",
                 "rustsocks_sessions_rejected_total", "rustsocks_session_duration_seconds",
                 "rustsocks_bytes_sent_total", "rustsocks_bytes_received_total",
                 "rustsocks_user_sessions_total", "rustsocks_user_bandwidth_bytes_total",
                 "csocks_auth_failures_total", "csocks_acl_decisions_total",
                 "csocks_connect_errors_total", "csocks_handshake_duration_seconds",
                 "csocks_acl_reloads_total", "csocks_build_info"):
        assert f"# TYPE {name} " in text, name
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def test_metrics_count_proxy_traffic(api, echo_server):
    from conftest import Socks5
    _, before, _ = request(api, "GET", "/metrics")
    with Socks5(api.port) as s:
        s.connect("127.0.0.1", echo_server.port)
        s.send(b"x" * 1000)
        s.recv_exact(1000)
    import time
    time.sleep(0.3)
    _, after, _ = request(api, "GET", "/metrics")
    assert metric(after, "rustsocks_sessions_total") == metric(before, "rustsocks_sessions_total") + 1
    assert metric(after, "rustsocks_bytes_sent_total") >= 1000
    assert metric(after, "rustsocks_bytes_received_total") >= 1000


def test_metrics_relay_pipes(api, echo_server):
    """A spliced transfer leaves its pipe pooled: csocks_relay_pipes counts it;
    as root the kernel enlarges every pipe, so none is undersized."""
    from conftest import Socks5
    with Socks5(api.port) as s:
        s.connect("127.0.0.1", echo_server.port)
        s.send(b"y" * 200000)
        s.recv_exact(200000)
    _, text, _ = request(api, "GET", "/metrics")
    assert metric(text, "csocks_relay_pipes") >= 1, text
    assert metric(text, "csocks_relay_pipe_failures_total") == 0
    if os.geteuid() == 0:
        assert metric(text, "csocks_relay_pipes_undersized_total") == 0
    assert metric(text, "csocks_accept_errors_total") == 0


def test_metrics_auth_counters(start_csocks, echo_server):
    """The auth manager's counters reach /metrics: one bad password and one
    good login give attempts 2, results ok 1 and credentials 1."""
    from conftest import Socks5
    users = [{"username": "alice", "password": "secret123"}]
    c = start_csocks(api_config({"auth": {"socks_method": "userpass", "users": users}}))
    wait_api(c)
    with Socks5(c.port) as s:
        assert s.greet((2,)) == 2
        assert s.auth("alice", "wrong") != 0
    with Socks5(c.port) as s:
        s.connect("127.0.0.1", echo_server.port, user="alice", password="secret123")
    _, text, _ = request(c, "GET", "/metrics")
    assert metric(text, "csocks_auth_attempts_total") == 2, text
    assert metric(text, 'csocks_auth_results_total{result="ok"}') == 1
    assert metric(text, 'csocks_auth_results_total{result="credentials"}') == 1
    assert metric(text, 'csocks_auth_results_total{result="throttled"}') == 0
    assert metric(text, "csocks_auth_lockouts_total") == 0
    assert metric(text, "csocks_auth_throttle_entries") is not None
    assert metric(text, 'csocks_auth_group_cache_lookups_total{result="miss"}') is not None
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    c.stop()


def test_metrics_history_shape(api):
    status, body, _ = request(api, "GET", "/api/metrics/history")
    assert status == 200 and isinstance(body, list)
    for s in body:
        assert set(s) >= {"timestamp", "active_sessions", "total_sessions", "bandwidth"}


def test_pool_stats_shape(api):
    status, body, _ = request(api, "GET", "/api/pool/stats")
    assert status == 200
    assert isinstance(body["enabled"], bool) and isinstance(body["total_idle"], int)
    # RustSocks' PoolStatsResponse fields; no pool runs, so never "enabled".
    for k in ("total_created", "total_reused", "active_in_use", "pending_creates",
              "pool_hits", "pool_misses", "hit_rate", "dropped_full", "expired", "evicted"):
        assert k in body, k
    assert body["enabled"] is False
    assert set(body["config"]) == {"enabled", "max_idle_per_dest", "max_total_idle",
                                   "idle_timeout_secs", "connect_timeout_ms"}
    assert body["destinations_breakdown"] == []


# ---------------------------------------------------------------- sessions

def test_sessions_active_and_history_shapes(api):
    status, body = needs(api, "/api/sessions/active", "the session manager")
    assert status == 200 and isinstance(body, list)
    status, body, _ = request(api, "GET", "/api/sessions/history?page=1&page_size=10")
    assert status == 200
    assert set(body) >= {"data", "total", "page", "page_size", "total_pages"}


def test_history_paging_validation(api):
    # validated before any data source is asked, so this runs unwired too
    for q in ("page=x", "page_size=-3", "sort_by=password", "sort_dir=sideways", "hours=-1"):
        status, body, _ = request(api, "GET", "/api/sessions/history?" + q)
        assert status == 400, q
        assert "error" in body and body["success"] is False


def test_history_clamps_like_rustsocks(api):
    """RustSocks clamps page_size to 1..1000, reads page 0 as 1 and answers an
    unknown status with an empty page (200), not an error."""
    for q, page, size in (("page=0", 1, 50), ("page_size=1001", 1, 1000),
                          ("page_size=0", 1, 1), ("hours=0&page=2", 2, 50)):
        status, body = needs(api, "/api/sessions/history?" + q, "the session manager")
        assert status == 200, (q, body)
        assert (body["page"], body["page_size"]) == (page, size), q
    status, body, _ = request(api, "GET", "/api/sessions/history?status=zombie")
    assert status == 200 and body["data"] == [] and body["total"] == 0


def test_stats_window_validation(api):
    for q in ("window_hours=0", "window_hours=x", "window_hours=-2"):
        status, body, _ = request(api, "GET", "/api/sessions/stats?" + q)
        assert status == 400 and "error" in body, q


def test_stats_window(api):
    status, body = needs(api, "/api/sessions/stats?window_hours=3", "session statistics")
    assert status == 200 and body["window_hours"] == 3


def test_session_lookup_errors(api):
    status, body, _ = request(api, "GET", "/api/sessions/not-a-uuid")
    assert status == 400 and "error" in body
    status, body = needs(api, f"/api/sessions/{SID}", "session lookup")
    assert status == 404 and "error" in body


def test_terminate_closes_a_live_tunnel(api, echo_server):
    from conftest import Socks5, is_closed
    status, _ = needs(api, "/api/sessions/active", "the session manager")
    with Socks5(api.port) as s:
        s.connect("127.0.0.1", echo_server.port)
        s.send(b"ping")
        assert s.recv_exact(4) == b"ping"
        _, active, _ = request(api, "GET", "/api/sessions/active")
        mine = [x for x in active if x["dest_port"] == echo_server.port]
        assert mine, active
        status, body, _ = request(api, "POST", f"/api/sessions/{mine[0]['id']}/terminate")
        assert status == 200 and body["success"] is True
        assert is_closed(s.sock, timeout=5)


# ---------------------------------------------------------------- ACL

def decision(c, user, dest, port):
    status, body, _ = request(c, "POST", "/api/acl/test",
                              body={"user": user, "destination": dest, "port": port,
                                    "protocol": "tcp"})
    assert status == 200, body
    return body["decision"]


def test_acl_crud_round_trip_changes_decisions(api):
    assert decision(api, "alice", "10.1.2.3", 22) == "allow"
    rule = {"action": "block", "description": "no ssh", "destinations": ["10.0.0.0/8"],
            "ports": ["22"], "protocols": ["tcp"], "priority": 200}
    status, body, _ = request(api, "POST", "/api/acl/groups/devs/rules", body=rule)
    assert status == 200 and body["success"], body
    assert decision(api, "alice", "10.1.2.3", 22) == "block"
    assert decision(api, "bob", "10.1.2.3", 22) == "allow"
    status, body, _ = request(api, "GET", "/api/acl/groups/devs")
    assert body["rules"][0]["description"] == "no ssh"
    # the file on disk is what the API wrote
    text = (api.dir / "acl.toml").read_text()
    assert "10.0.0.0/8" in text
    status, body, _ = request(api, "PUT", "/api/acl/global", body={"default_policy": "block"})
    assert status == 200 and body["old_policy"] == "allow"
    assert decision(api, "carol", "192.0.2.1", 80) == "block"
    status, _, _ = request(api, "DELETE", "/api/acl/groups/devs/rules",
                           body={"destinations": ["10.0.0.0/8"], "ports": ["22"]})
    assert status == 200
    status, _, _ = request(api, "POST", "/api/acl/users", body={"username": "bob"})
    assert status == 200
    status, body, _ = request(api, "GET", "/api/acl/users")
    assert {u["username"] for u in body["users"]} == {"alice", "bob"}
    status, body, _ = request(api, "POST", "/api/admin/reload-acl")
    assert status == 200 and body["success"]


def test_acl_crud_blocks_through_the_proxy(api, echo_server):
    from conftest import Socks5, SocksError
    rule = {"action": "block", "destinations": ["127.0.0.1"],
            "ports": [str(echo_server.port)], "priority": 500}
    status, _, _ = request(api, "POST", "/api/acl/users/anonymous/rules", body=rule)
    if status == 404:
        request(api, "POST", "/api/acl/users", body={"username": "anonymous"})
        status, _, _ = request(api, "POST", "/api/acl/users/anonymous/rules", body=rule)
    assert status == 200
    with pytest.raises(SocksError) as e:
        with Socks5(api.port) as s:
            s.connect("127.0.0.1", echo_server.port)
    assert e.value.rep == 2


def test_metrics_disabled_stops_history_only(start_csocks):
    """RustSocks' meaning of metrics.enabled = false: /metrics is still
    served; the history sampler is off, so /api/metrics/history is []."""
    c = start_csocks(api_config({"metrics": {"enabled": False,
                                             "collection_interval_secs": 1}}), acl=ACL)
    wait_api(c)
    status, text, _ = request(c, "GET", "/metrics")
    assert status == 200 and "rustsocks_sessions_total" in text
    import time
    time.sleep(1.5)
    status, body, _ = request(c, "GET", "/api/metrics/history")
    assert status == 200 and body == []
    c.stop()


def test_rustsocks_session_counters_mean_what_rustsocks_counts(start_csocks, echo_server):
    """rustsocks_sessions_total counts established sessions (not a connect
    that failed); rustsocks_sessions_rejected_total counts ACL blocks only;
    the csocks_* families keep the finer counts."""
    from conftest import Socks5, free_port
    acl = ('[global]\ndefault_policy = "allow"\n[[users]]\nusername = "anonymous"\n'
           '[[users.rules]]\naction = "block"\ndestinations = ["10.255.255.1"]\n'
           'ports = ["*"]\n')
    c = start_csocks(api_config(), acl=acl)
    wait_api(c)
    with Socks5(c.port) as s:            # established
        s.connect("127.0.0.1", echo_server.port)
    with Socks5(c.port) as s:            # refused: nobody listens there
        assert s.greet((0,)) == 0
        assert s.request("127.0.0.1", free_port())[0] == 5
    with Socks5(c.port) as s:            # blocked by the ACL
        assert s.greet((0,)) == 0
        assert s.request("10.255.255.1", 80)[0] == 2

    def value(text, name):
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None
    import time
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _, text, _ = request(c, "GET", "/metrics")
        if value(text, "csocks_sessions_opened_total") == 2 and \
                value(text, "rustsocks_sessions_rejected_total") == 1:
            break
        time.sleep(0.05)
    assert value(text, "rustsocks_sessions_total") == 1, text
    assert value(text, "rustsocks_sessions_rejected_total") == 1
    assert value(text, "csocks_sessions_opened_total") == 2
    assert value(text, "csocks_sessions_rejected_total") == 1
    c.stop()
