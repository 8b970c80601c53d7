"""ACL through the real binary: 0x02 replies, the two-phase check (a name
that resolves into a blocked range), per-user rules, hot reload by atomic
rename and SIGHUP, an invalid file keeping the old rules, and live tunnels
closed when new rules block them."""
import os
import signal
import time

import pytest

from conftest import Socks5, SocksError

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(TESTS, "data", "rustsocks")
# RustSocks' own files, when a copy sits beside the source tree (optional).
REF = os.path.join(os.path.dirname(os.path.dirname(TESTS)), "shared", "reference",
                   "rustsocks-config")


def acl_text(default="allow", rules_for_anon=(), users=(), groups=()):
    """Build a RustSocks acl.toml. rules: (action, [dests], [ports], priority)."""
    out = [f'[global]\ndefault_policy = "{default}"\n']

    def rules(table, rs):
        for action, dests, ports, prio in rs:
            out.append(f"[[{table}.rules]]\naction = \"{action}\"\n"
                       f"description = \"{action} {','.join(dests)}\"\n"
                       f"destinations = {list(dests)!r}\nports = {list(ports)!r}\n"
                       f"protocols = [\"tcp\"]\npriority = {prio}\n".replace("'", '"'))

    if rules_for_anon:
        out.append('[[users]]\nusername = "anonymous"\ngroups = []\n')
        rules("users", rules_for_anon)
    for name, grps, rs in users:
        out.append(f'[[users]]\nusername = "{name}"\ngroups = {list(grps)!r}\n'.replace("'", '"'))
        rules("users", rs)
    for name, rs in groups:
        out.append(f'[[groups]]\nname = "{name}"\n')
        rules("groups", rs)
    return "\n".join(out)


def reply_for(port, host, dport, user=None, password=None):
    with Socks5(port) as c:
        try:
            c.connect(host, dport, user, password)
            return 0
        except SocksError as e:
            return e.rep


def test_blocked_ip_gets_0x02(start_csocks, echo_server):
    acl = acl_text(rules_for_anon=[("block", ["127.0.0.1"], [str(echo_server.port)], 100)])
    p = start_csocks(acl=acl)
    assert reply_for(p.port, "127.0.0.1", echo_server.port) == 0x02
    assert p.wait_log("blocked by ACL")
    # Another port is still allowed by the default policy.
    other = echo_server.port + 1 if echo_server.port < 65535 else echo_server.port - 1
    assert reply_for(p.port, "127.0.0.1", other) in (0x00, 0x05)


def test_cidr_and_default_block(start_csocks, echo_server):
    acl = acl_text(default="block",
                   rules_for_anon=[("allow", ["127.0.0.0/8"], ["*"], 100)])
    p = start_csocks(acl=acl)
    with Socks5(p.port) as c:
        c.connect("127.0.0.1", echo_server.port)
        c.send(b"ok")
        assert c.recv_exact(2) == b"ok"
    # ::1 is outside 127.0.0.0/8: default policy blocks.
    assert reply_for(p.port, "::1", echo_server.port) == 0x02


def test_domain_resolving_into_blocked_cidr(start_csocks, echo_server, dns_server):
    dns_server.records["good.test"] = ["127.0.0.1"]
    dns_server.records["bad.test"] = ["127.0.0.2"]
    acl = acl_text(rules_for_anon=[("block", ["127.0.0.2/32"], ["*"], 100)])
    p = start_csocks(acl=acl, env={"CSOCKS_DNS_SERVERS": dns_server.address})
    assert reply_for(p.port, "bad.test", echo_server.port) == 0x02
    assert reply_for(p.port, "good.test", echo_server.port) == 0x00


def test_domain_rule_by_name_before_dns(start_csocks, echo_server, dns_server):
    dns_server.records["x.blocked.test"] = ["127.0.0.1"]
    acl = acl_text(rules_for_anon=[("block", ["*.blocked.test"], ["*"], 100)])
    p = start_csocks(acl=acl, env={"CSOCKS_DNS_SERVERS": dns_server.address})
    assert reply_for(p.port, "x.blocked.test", echo_server.port) == 0x02
    # Blocked by name: no DNS query was needed.
    assert not any(q[0] == "x.blocked.test" for q in dns_server.queries)


def test_user_and_group_rules_with_priority(start_csocks, echo_server):
    port = str(echo_server.port)
    acl = acl_text(
        default="block",
        users=[("alice", ["devs"], [("allow", ["127.0.0.1"], [port], 200)]),
               ("bob", ["devs"], [])],
        groups=[("devs", [("block", ["127.0.0.1"], ["*"], 50),
                          ("allow", ["::1"], ["*"], 50)])])
    p = start_csocks({"auth": {"socks_method": "userpass",
                               "users": [{"username": "alice", "password": "a"},
                                         {"username": "bob", "password": "b"}]}},
                     acl=acl)
    # alice's own high-priority ALLOW beats her group's low-priority BLOCK.
    assert reply_for(p.port, "127.0.0.1", echo_server.port, "alice", "a") == 0x00
    # bob has only the group's rules.
    assert reply_for(p.port, "127.0.0.1", echo_server.port, "bob", "b") == 0x02


def _write_atomic(path, text):
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def test_hot_reload_by_rename_kills_blocked_tunnel(start_csocks, echo_server):
    allow_all = acl_text()
    p = start_csocks(acl=allow_all)
    # Turn the watcher on (the fixture starts with watch = false).
    p.stop()
    p = start_csocks({"acl": {"watch": True}}, acl=allow_all)
    acl_path = p.dir / "acl.toml"
    with Socks5(p.port) as tunnel:
        tunnel.connect("127.0.0.1", echo_server.port)
        tunnel.send(b"before")
        assert tunnel.recv_exact(6) == b"before"
        t0 = time.monotonic()
        _write_atomic(acl_path, acl_text(
            rules_for_anon=[("block", ["127.0.0.1"], [str(echo_server.port)], 100)]))
        # New requests are refused within a second ...
        deadline = t0 + 1.0
        while time.monotonic() < deadline:
            if reply_for(p.port, "127.0.0.1", echo_server.port) == 0x02:
                break
            time.sleep(0.05)
        else:
            pytest.fail("reload did not change decisions within 1 s")
        # ... and the live tunnel was closed, naming the rule.
        tunnel.sock.settimeout(3)
        try:
            data = tunnel.sock.recv(10)
        except ConnectionResetError:
            data = b""
        assert data == b""
    assert p.wait_log("ACL reload: block")


def test_invalid_file_keeps_old_rules(start_csocks, echo_server):
    block = acl_text(rules_for_anon=[("block", ["127.0.0.1"], [str(echo_server.port)], 100)])
    p = start_csocks(acl=block)
    assert reply_for(p.port, "127.0.0.1", echo_server.port) == 0x02
    (p.dir / "acl.toml").write_text('[global]\ndefault_policy = "maybe"\n')
    p.signal(signal.SIGHUP)
    assert p.wait_log("acl.toml:2")
    assert reply_for(p.port, "127.0.0.1", echo_server.port) == 0x02
    # A valid file is taken on the next SIGHUP.
    (p.dir / "acl.toml").write_text(acl_text())
    p.signal(signal.SIGHUP)
    deadline = time.monotonic() + 2
    while reply_for(p.port, "127.0.0.1", echo_server.port) != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reply_for(p.port, "127.0.0.1", echo_server.port) == 0


def test_rustsocks_format_acl_fixture_loads_unchanged(start_csocks, echo_server):
    p = start_csocks(acl=open(os.path.join(FIXTURES, "acl.toml")).read())
    # The fixture lets "anonymous" reach loopback, and nothing else.
    assert reply_for(p.port, "127.0.0.1", echo_server.port) == 0x00
    assert reply_for(p.port, "192.0.2.1", 80) == 0x02


def test_rustsocks_format_ad_acl_fixture_loads(start_csocks, echo_server):
    p = start_csocks(acl=open(os.path.join(FIXTURES, "examples", "acl-ad.toml")).read())
    # Only AD groups are granted: anonymous falls to the default (block).
    assert reply_for(p.port, "127.0.0.1", echo_server.port) == 0x02


@pytest.mark.skipif(not os.path.isdir(REF),
                    reason="RustSocks' own config files not found beside the source tree "
                    "(optional: shared/reference/rustsocks-config)")
def test_rustsocks_acl_file_loads_unchanged(start_csocks, echo_server):
    p = start_csocks(acl=open(os.path.join(REF, "acl.toml")).read())
    # The reference lets "anonymous" go anywhere.
    assert reply_for(p.port, "127.0.0.1", echo_server.port) == 0x00


def test_invalid_acl_file_refuses_to_start(start_csocks):
    p = start_csocks(acl='[global]\ndefault_policy = "sometimes"\n', wait=False)
    assert p.proc.wait(5) == 1
    assert "acl.toml:2" in p.log_text()


def test_reloads_keep_live_tunnels_rule_text(start_csocks, echo_server, tmp_path):
    """Tunnels opened under one ACL snapshot outlive several reloads that
    still allow them. Their access-log lines and session rows must name the
    rule that admitted them: the rule text must not be read from a snapshot
    that a reload has freed (under ASan that read aborts the proxy)."""
    import sqlite3
    port = str(echo_server.port)

    def acl(gen):
        # A distinct rule text per generation, so every reload builds a new
        # snapshot and frees the one before it.
        return acl_text(default="block", rules_for_anon=[
            ("allow", ["127.0.0.1"], [port], 100 + gen)]).replace(
                'description = "allow 127.0.0.1"', f'description = "gen{gen} allows echo"')

    db = tmp_path / "s.db"
    p = start_csocks({"logging": {"access_log": True},
                      "sessions": {"enabled": True, "storage": "sqlite",
                                   "database_url": f"sqlite://{db}",
                                   "batch_size": 50, "batch_interval_ms": 100}},
                     acl=acl(0))
    tunnels = []
    try:
        for gen in range(3):
            if gen:
                (p.dir / "acl.toml").write_text(acl(gen))
                p.signal(signal.SIGHUP)
                deadline = time.monotonic() + 5
                while p.log_text().count("ACL reloaded from") < gen:
                    assert time.monotonic() < deadline, p.log_text()
                    time.sleep(0.05)
            for _ in range(2):
                t = Socks5(p.port)
                t.connect("127.0.0.1", echo_server.port)
                tunnels.append((gen, t))
        # Two more reloads: every generation's snapshot is gone but the last.
        for gen in (3, 4):
            (p.dir / "acl.toml").write_text(acl(gen))
            p.signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while p.log_text().count("ACL reloaded from") < gen:
                assert time.monotonic() < deadline, p.log_text()
                time.sleep(0.05)
        for gen, t in tunnels:
            msg = f"still alive {gen}".encode()
            t.send(msg)
            assert t.recv_exact(len(msg)) == msg
    finally:
        for _, t in tunnels:
            t.close()
    deadline = time.monotonic() + 5
    while p.log_text().count("phase=relay") < len(tunnels):
        assert time.monotonic() < deadline and p.alive(), p.log_text()
        time.sleep(0.05)
    lines = [l for l in p.log_text().splitlines() if "phase=relay" in l]
    want = sorted(f"gen{g} allows echo" for g, _ in tunnels)
    got = sorted(l.split('rule="', 1)[1].split('"', 1)[0] for l in lines)
    assert got == want, lines
    p.stop()
    con = sqlite3.connect(db, timeout=5)
    try:
        names = sorted(r[0] for r in con.execute(
            "SELECT acl_rule_matched FROM sessions WHERE status = 'closed'"))
    finally:
        con.close()
    assert names == want
