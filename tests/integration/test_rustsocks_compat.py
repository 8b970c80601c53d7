"""RustSocks drop-in: the requests RustSocks' own dashboard sends (its
dashboard/src pages, in their order and with their bodies), replayed
against the real csocks binary, checking the status codes and the JSON
fields those pages read. Where csocks differs on purpose (the API token,
block-first order behind acl.evaluation) the test says so; see
docs/migrating-from-rustsocks.md."""
import json
import time
import urllib.error
import urllib.request

import pytest

from conftest import Socks5

TOKEN = "compat-token"

ACL = """
[global]
default_policy = "block"

[[groups]]
name = "developers"

[[groups.rules]]
action = "allow"
description = "Dev servers"
destinations = ["127.0.0.1", "*.dev.company.com"]
ports = ["*"]
protocols = ["tcp"]
priority = 100

[[users]]
username = "anonymous"
groups = ["developers"]
"""


def call(c, method, path, body=None, token=TOKEN):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{c.api_port}{path}", data=data,
                                 method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@pytest.fixture
def px(start_csocks):
    c = start_csocks({"sessions": {"enabled": False, "stats_api_enabled": True},
                      "metrics": {"enabled": True, "collection_interval_secs": 1},
                      "api": {"token": TOKEN}}, acl=ACL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if call(c, "GET", "/health", token=None)[0] == 200:
                break
        except OSError:
            time.sleep(0.05)
    yield c
    c.stop()


def test_dashboard_overview_calls(px, echo_server):
    """Dashboard.jsx: /api/sessions/stats, /api/metrics/history, /health,
    /api/pool/stats and the fields it renders."""
    with Socks5(px.port) as s:
        s.connect("127.0.0.1", echo_server.port)
        s.send(b"ping")
        assert s.recv_exact(4) == b"ping"
    status, stats = call(px, "GET", "/api/sessions/stats")
    assert status == 200
    for k in ("active_sessions", "total_sessions", "closed_sessions", "total_bytes_sent",
              "total_bytes_received", "top_users", "top_destinations"):
        assert k in stats, k
    status, hist = call(px, "GET", "/api/metrics/history")
    assert status == 200 and isinstance(hist, list)
    for snap in hist:
        assert set(snap) >= {"timestamp", "active_sessions", "total_sessions", "bandwidth"}
    status, health = call(px, "GET", "/health", token=None)
    assert status == 200 and set(health) >= {"status", "version", "uptime_seconds"}
    status, pool = call(px, "GET", "/api/pool/stats")
    assert status == 200 and pool["enabled"] is False
    assert set(pool) >= {"total_idle", "active_in_use", "total_created", "total_reused",
                         "pool_hits", "pool_misses", "hit_rate", "pending_creates",
                         "config", "destinations_breakdown"}


def test_sessions_page_calls(px, echo_server):
    """Sessions.jsx with sessions.enabled = false (RustSocks: in-memory
    tracking, no persistence): active list, history with the page's query
    string, the detail drawer and terminate."""
    s = Socks5(px.port)
    s.__enter__()
    try:
        s.connect("127.0.0.1", echo_server.port)
        status, active = call(px, "GET", "/api/sessions/active")
        assert status == 200 and isinstance(active, list) and len(active) == 1
        sess = active[0]
        for k in ("id", "user", "source_ip", "dest_ip", "dest_port", "status", "bytes_sent",
                  "bytes_received", "start_time"):
            assert k in sess, k
        assert sess["status"].lower() == "active"
        status, detail = call(px, "GET", f"/api/sessions/{sess['id']}")
        assert status == 200 and detail["id"] == sess["id"]
        status, body = call(px, "POST", f"/api/sessions/{sess['id']}/terminate")
        assert status == 200 and body["success"] is True
    finally:
        s.close()
    q = "view=history&page=1&page_size=25&sort_by=start_time&sort_dir=desc&hours=24"
    status, page = call(px, "GET", "/api/sessions/history?" + q)
    assert status == 200 and set(page) >= {"data", "total", "page", "page_size",
                                           "total_pages"}
    # RustSocks' lenient reading of the same query string.
    status, page = call(px, "GET", "/api/sessions/history?page=0&page_size=100000")
    assert status == 200 and (page["page"], page["page_size"]) == (1, 1000)
    status, page = call(px, "GET", "/api/sessions/history?status=bogus")
    assert status == 200 and page["data"] == []
    status, us = call(px, "GET", "/api/users/anonymous/sessions")
    assert status == 200
    rows = us if isinstance(us, list) else us.get("sessions", [])
    assert rows and {"dest_ip", "dest_port", "status", "bytes_sent"} <= set(rows[0])


def test_acl_rules_page_calls(px):
    """AclRules.jsx: list, create a group, add/update/delete a rule with the
    page's exact bodies, the tester, delete the group, reload."""
    status, groups = call(px, "GET", "/api/acl/groups")
    assert status == 200 and {"name", "rule_count"} <= set(groups["groups"][0])
    status, users = call(px, "GET", "/api/acl/users")
    assert status == 200 and {"username", "groups", "rule_count"} <= set(users["users"][0])
    status, body = call(px, "POST", "/api/acl/groups", {"name": "ops"})
    assert status == 200 and body["success"] is True
    status, body = call(px, "POST", "/api/acl/groups", {"name": "ops"})
    assert status == 400 and body["success"] is False and "already exists" in body["message"]
    rule = {"action": "block", "description": "Custom rule", "destinations": ["10.9.9.9"],
            "ports": ["22"], "protocols": ["tcp"], "priority": 500}
    status, body = call(px, "POST", "/api/acl/groups/ops/rules", rule)
    assert status == 200 and body["success"] is True
    status, body = call(px, "POST", "/api/acl/groups/ops/rules", rule)
    assert status == 400 and body["success"] is False  # duplicate, as RustSocks
    status, body = call(px, "PUT", "/api/acl/groups/ops/rules", {
        "match": {"destinations": ["10.9.9.9"], "ports": ["22"]},
        "update": dict(rule, ports=["22", "2222"])})
    assert status == 200 and body["success"] is True
    status, grp = call(px, "GET", "/api/acl/groups/ops")
    assert status == 200 and grp["rules"][0]["ports"] == ["22", "2222"]
    r = grp["rules"][0]
    assert {"action", "description", "destinations", "ports", "protocols", "priority"} <= set(r)
    status, body = call(px, "DELETE", "/api/acl/groups/ops/rules",
                        {"destinations": ["10.9.9.9"], "ports": ["22", "2222"]})
    assert status == 200 and body["success"] is True
    # A rule for a group that does not exist creates it (RustSocks' crud).
    status, body = call(px, "POST", "/api/acl/groups/newgroup/rules", dict(rule, ports=["23"]))
    assert status == 200
    assert call(px, "GET", "/api/acl/groups/newgroup")[0] == 200
    for g in ("ops", "newgroup"):
        status, body = call(px, "DELETE", f"/api/acl/groups/{g}")
        assert status == 200 and body["success"] is True
    # The tester, with the page's body; open without a token only when no
    # token is configured (here one is: it is needed).
    test = {"user": "anonymous", "destination": "api.dev.company.com", "port": 443,
            "protocol": "tcp"}
    status, body = call(px, "POST", "/api/acl/test", test)
    assert status == 200 and body["decision"] == "allow"
    assert body["matched_rule"] == "Dev servers"
    status, body = call(px, "POST", "/api/acl/test", dict(test, destination="example.org"))
    assert status == 200 and body["decision"] == "block"
    assert body["matched_rule"] == "Default policy"
    status, body = call(px, "POST", "/api/acl/test", test, token=None)
    assert status == 401
    status, body = call(px, "POST", "/api/admin/reload-acl")
    assert status == 200 and body["success"] is True


def test_user_management_page_calls(px):
    """UserManagement.jsx: create, detail, add to a group with
    {group_name}, remove, add and delete a user rule, delete."""
    status, body = call(px, "POST", "/api/acl/users", {"username": "alice"})
    assert status == 200 and body["success"] is True
    status, body = call(px, "POST", "/api/acl/users", {"username": "alice"})
    assert status == 400 and "already exists" in body["message"]
    status, body = call(px, "POST", "/api/acl/users/alice/groups",
                        {"group_name": "developers"})
    assert status == 200 and body["success"] is True
    status, u = call(px, "GET", "/api/acl/users/alice")
    assert status == 200 and u["groups"] == ["developers"]
    status, body = call(px, "POST", "/api/acl/users/alice/groups",
                        {"group_name": "developers"})
    assert status == 400
    status, body = call(px, "POST", "/api/acl/users/alice/groups", {"group_name": "nope"})
    assert status == 400 and "not found" in body["message"]
    # RustSocks adds a user it does not know yet.
    status, body = call(px, "POST", "/api/acl/users/bob/groups",
                        {"group_name": "developers"})
    assert status == 200
    rule = {"action": "allow", "description": "Custom rule", "destinations": ["1.1.1.1"],
            "ports": ["53"], "protocols": ["udp"], "priority": 100}
    status, body = call(px, "POST", "/api/acl/users/alice/rules", rule)
    assert status == 200
    status, body = call(px, "DELETE", "/api/acl/users/alice/rules",
                        {"destinations": ["1.1.1.1"], "ports": ["53"]})
    assert status == 200
    status, body = call(px, "DELETE", "/api/acl/users/alice/groups/developers")
    assert status == 200
    for u in ("alice", "bob"):
        status, body = call(px, "DELETE", f"/api/acl/users/{u}")
        assert status == 200 and body["success"] is True
    status, body = call(px, "DELETE", "/api/acl/users/alice")
    assert status == 404 and body["success"] is False and body["message"]


def test_configuration_page_policy_and_search(px):
    """Configuration.jsx's default policy round trip, and the rule search
    (substring match on destinations, as RustSocks)."""
    status, g = call(px, "GET", "/api/acl/global")
    assert status == 200 and g["default_policy"] == "block"
    status, body = call(px, "PUT", "/api/acl/global", {"default_policy": "allow"})
    assert status == 200 and body["success"] is True
    assert call(px, "GET", "/api/acl/global")[1]["default_policy"] == "allow"
    status, body = call(px, "PUT", "/api/acl/global", {"default_policy": "block"})
    assert status == 200
    status, res = call(px, "POST", "/api/acl/search", {"destination": "dev.company"})
    assert status == 200 and res["count"] == 1
    assert res["matches"][0]["owner"] == "developers"


def test_read_only_posts_open_without_a_token(start_csocks):
    """With no token configured, RustSocks' dashboard can still run the
    tester and the search (they only read); edits stay refused."""
    c = start_csocks({"sessions": {"stats_api_enabled": True}}, acl=ACL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if call(c, "GET", "/health", token=None)[0] == 200:
                break
        except OSError:
            time.sleep(0.05)
    status, body = call(c, "POST", "/api/acl/test", {"user": "anonymous",
                        "destination": "127.0.0.1", "port": 80, "protocol": "tcp"},
                        token=None)
    assert status == 200 and body["decision"] == "allow"
    status, body = call(c, "POST", "/api/acl/search", {"destination": "127"}, token=None)
    assert status == 200 and body["count"] == 1
    status, body = call(c, "POST", "/api/acl/groups", {"name": "x"}, token=None)
    assert status == 403 and body["success"] is False
    c.stop()


BLOCK_FIRST_ACL = """
[global]
default_policy = "allow"

[[users]]
username = "anonymous"

[[users.rules]]
action = "allow"
description = "high allow"
destinations = ["127.0.0.1"]
ports = ["*"]
priority = 1000

[[users.rules]]
action = "block"
description = "low block"
destinations = ["127.0.0.0/8"]
ports = ["*"]
priority = 1
"""


@pytest.mark.parametrize("mode,allowed", [("priority", True), ("rustsocks", False)])
def test_acl_evaluation_switch_on_live_traffic(start_csocks, echo_server, mode, allowed):
    """acl.evaluation = "rustsocks" evaluates every block rule first, as
    RustSocks does; the default lets a higher-priority allow win."""
    c = start_csocks({"acl": {"evaluation": mode}}, acl=BLOCK_FIRST_ACL)
    with Socks5(c.port) as s:
        assert s.greet((0,)) == 0
        rep = s.request("127.0.0.1", echo_server.port)[0]
    assert (rep == 0) == allowed, (mode, rep)
    assert f"evaluation {mode}" in c.log_text()
    c.stop()


def test_wildcard_one_label_in_rustsocks_mode(start_csocks):
    """RustSocks' "*.example.com" is one label; csocks' default any depth;
    "**." any depth in both. Checked with the API's tester."""
    acl = ('[[users]]\nusername = "u"\n[[users.rules]]\naction = "allow"\n'
           'destinations = ["*.one.test", "**.deep.test", "prod-*.glob.test"]\nports = ["*"]\n')
    for mode, deep in (("priority", "allow"), ("rustsocks", "block")):
        c = start_csocks({"acl": {"evaluation": mode}, "api": {"token": TOKEN},
                          "sessions": {"stats_api_enabled": True}}, acl=acl)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if call(c, "GET", "/health", token=None)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)

        def decide(dest):
            st, b = call(c, "POST", "/api/acl/test",
                         {"user": "u", "destination": dest, "port": 443})
            assert st == 200, b
            return b["decision"]
        assert decide("a.one.test") == "allow"
        assert decide("a.b.one.test") == deep, mode
        assert decide("a.b.deep.test") == "allow"
        assert decide("prod-web.glob.test") == "allow"
        assert decide("prod.glob.test") == "block"
        c.stop()

