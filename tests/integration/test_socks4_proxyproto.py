"""SOCKS4/4a CONNECT (server.socks4), the PROXY protocol v1/v2 on the
listener (server.proxy_protocol) and server.pid_file, through the real
binary."""
import ipaddress
import os
import socket
import sqlite3
import struct
import subprocess
import time

import pytest

from conftest import (Socks5, gen_content, greeting_bytes, is_closed,
                      recv_all, recv_exact, request_bytes)

SOCKS4 = {"server": {"socks4": True}}
PROXY = {"server": {"proxy_protocol": True}, "logging": {"access_log": True}}


def curl(args, timeout=30):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + args,
                          capture_output=True, timeout=timeout + 5)


# ---- SOCKS4 client helpers ------------------------------------------------

def socks4_request(host, port, userid=b"", cmd=1):
    """VN CD DSTPORT DSTIP USERID NUL [DOMAIN NUL] (4a when host is a name)."""
    try:
        ip = ipaddress.IPv4Address(host).packed
        domain = b""
    except ValueError:
        ip = bytes([0, 0, 0, 1])
        domain = host.encode() + b"\0"
    return bytes([4, cmd]) + struct.pack("!H", port) + ip + userid + b"\0" + domain


def socks4_reply(sock):
    """(CD, bound ip, bound port) of the 8-byte reply."""
    vn, cd, port = struct.unpack("!BBH", recv_exact(sock, 4))
    ip = str(ipaddress.IPv4Address(recv_exact(sock, 4)))
    assert vn == 0, f"reply VN {vn}"
    return cd, ip, port


def socks4_connect(proxy_port, host, port, userid=b"user"):
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    s.sendall(socks4_request(host, port, userid))
    return s, socks4_reply(s)


def echo_roundtrip(sock, n=100000):
    data = os.urandom(n)
    sock.sendall(data)
    assert recv_exact(sock, n) == data


def sqlite_cfg(db):
    return {"sessions": {"enabled": True, "storage": "sqlite", "database_url": f"sqlite://{db}",
                         "batch_size": 50, "batch_interval_ms": 100}}


def wait_rows(db, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        try:
            con = sqlite3.connect(db, timeout=5)
            con.row_factory = sqlite3.Row
            got = [dict(r) for r in con.execute("SELECT * FROM sessions")]
            con.close()
        except sqlite3.OperationalError:
            got = []
        if pred(got):
            return got
        time.sleep(0.05)
    return got


# ---- SOCKS4 -----------------------------------------------------------------

def test_socks4_connect_ipv4_both_ways(start_csocks, echo_server):
    p = start_csocks(SOCKS4)
    s, (cd, ip, port) = socks4_connect(p.port, "127.0.0.1", echo_server.port)
    with s:
        assert cd == 0x5A
        assert ip == "127.0.0.1" and port != 0  # the upstream socket's bound address
        echo_roundtrip(s)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b""


def test_socks4a_by_name_through_the_resolver(start_csocks, echo_server, dns_server):
    dns_server.records["echo.test"] = ["127.0.0.1"]
    p = start_csocks(SOCKS4, env={"CSOCKS_DNS_SERVERS": dns_server.address})
    s, (cd, _, _) = socks4_connect(p.port, "echo.test", echo_server.port)
    with s:
        assert cd == 0x5A
        echo_roundtrip(s)
    assert ("echo.test", 1) in dns_server.queries
    s, (cd, _, _) = socks4_connect(p.port, "nothere.test", echo_server.port)
    with s:
        assert cd == 0x5B
        assert is_closed(s)


def test_socks4_request_byte_by_byte_with_pipelined_data(start_csocks, echo_server):
    p = start_csocks(SOCKS4)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = socks4_request("127.0.0.1", echo_server.port, b"someone")
        for b in req:
            s.send(bytes([b]))
            time.sleep(0.005)
        s.sendall(b"early bytes")
        assert socks4_reply(s)[0] == 0x5A
        assert recv_exact(s, 11) == b"early bytes"


def test_socks4_disabled_closes(start_csocks, echo_server):
    p = start_csocks()
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(socks4_request("127.0.0.1", echo_server.port))
        assert is_closed(s)
    assert p.wait_log("socks4 request (not enabled)")


def test_socks4_refused_when_socks_auth_configured(start_csocks, echo_server):
    p = start_csocks({"server": {"socks4": True},
                      "auth": {"socks_method": "userpass",
                               "users": [{"username": "alice", "password": "secret123"}]}})
    # The USERID is not an identity: naming a configured user changes nothing.
    s, (cd, _, _) = socks4_connect(p.port, "127.0.0.1", echo_server.port, b"alice")
    with s:
        assert cd == 0x5B
        assert is_closed(s)
    assert echo_server.peers == []
    assert p.wait_log("socks4 refused")
    # SOCKS5 with credentials still works on the same listener.
    with Socks5(p.port) as c:
        c.connect("127.0.0.1", echo_server.port, "alice", "secret123")


def test_socks4_bind_not_supported(start_csocks):
    p = start_csocks(SOCKS4)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(socks4_request("127.0.0.1", 9, cmd=2))
        assert socks4_reply(s)[0] == 0x5B
        assert is_closed(s)


def test_socks4_malformed_gets_0x5b(start_csocks):
    p = start_csocks(SOCKS4)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(bytes([4, 1, 0, 80, 127, 0, 0, 1]) + b"u" * 300)  # USERID without NUL
        assert socks4_reply(s)[0] == 0x5B
        assert is_closed(s)


def test_socks4_closed_port_0x5b(start_csocks, echo_server):
    p = start_csocks(SOCKS4)
    closed = echo_server.port + 1 if echo_server.port < 65000 else 1
    s, (cd, ip, port) = socks4_connect(p.port, "127.0.0.1", closed)
    with s:
        assert (cd, ip, port) == (0x5B, "0.0.0.0", 0)
        assert is_closed(s)
    assert p.wait_log("connection refused")


def test_socks4_acl_block_is_a_rejected_session(start_csocks, echo_server, tmp_path):
    db = tmp_path / "s4.db"
    acl = ('[global]\ndefault_policy = "allow"\n[[users]]\nusername = "anonymous"\n'
           'groups = []\n[[users.rules]]\naction = "block"\ndescription = "no echo"\n'
           f'destinations = ["127.0.0.1"]\nports = ["{echo_server.port}"]\n'
           'protocols = ["tcp"]\npriority = 100\n')
    cfg = sqlite_cfg(db)
    cfg["server"] = {"socks4": True}
    p = start_csocks(cfg, acl=acl)
    s, (cd, _, _) = socks4_connect(p.port, "127.0.0.1", echo_server.port, b"root")
    with s:
        assert cd == 0x5B
        assert is_closed(s)
    assert echo_server.peers == []
    got = wait_rows(db, lambda r: len(r) >= 1)
    assert len(got) == 1, got
    assert got[0]["status"] == "rejected_by_acl"
    assert got[0]["acl_rule_matched"] == "no echo"
    assert got[0]["user"] == "anonymous"  # not the USERID "root"
    p.stop()


def test_socks4_session_is_anonymous(start_csocks, echo_server, tmp_path):
    db = tmp_path / "s4.db"
    cfg = sqlite_cfg(db)
    cfg["server"] = {"socks4": True}
    p = start_csocks(cfg)
    s, (cd, _, _) = socks4_connect(p.port, "127.0.0.1", echo_server.port, b"admin")
    with s:
        assert cd == 0x5A
        echo_roundtrip(s, 1234)
    got = wait_rows(db, lambda r: any(x["status"] == "closed" for x in r))
    row = [x for x in got if x["status"] == "closed"][0]
    assert row["user"] == "anonymous"
    assert row["bytes_sent"] == 1234 and row["bytes_received"] == 1234
    assert row["dest_port"] == echo_server.port
    p.stop()


def test_socks5_unchanged_with_socks4_enabled(start_csocks, echo_server):
    p = start_csocks(SOCKS4)
    with Socks5(p.port) as c:
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c.sock, 1000)
    with Socks5(p.port) as c:
        assert c.greet((0,)) == 0
        closed = echo_server.port + 1 if echo_server.port < 65000 else 1
        assert c.request("127.0.0.1", closed)[0] == 0x05


def test_socks4_handshake_timeout(start_csocks):
    p = start_csocks({"server": {"socks4": True, "handshake_timeout_ms": 300}})
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(bytes([4, 1, 0, 80]))
        t0 = time.monotonic()
        assert is_closed(s, timeout=5)
        assert time.monotonic() - t0 < 1.5
    assert p.wait_log("handshake timeout")


@pytest.mark.parametrize("scheme", ["socks4", "socks4a"])
def test_curl_socks4(start_csocks, http_server, scheme):
    p = start_csocks(SOCKS4)
    host = "localhost" if scheme == "socks4a" else "127.0.0.1"
    r = curl([f"--{scheme}", f"127.0.0.1:{p.port}",
              f"http://{host}:{http_server.port}/size/200000"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == gen_content(200000)


# ---- PROXY protocol -----------------------------------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1_header(src, dst, sport, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2_header(src=None, dst=None, sport=0, dport=0, local=False, tlvs=b""):
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if a.version == 4 else 0x21
    body = a.packed + b.packed + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def socks5_session(port, prefix, echo_port, bytewise=False):
    """Header + greeting + request, in one segment or byte by byte; then
    check the tunnel both ways."""
    msg = prefix + greeting_bytes((0,)) + request_bytes("127.0.0.1", echo_port)
    with Socks5(port) as c:
        if bytewise:
            for b in msg:
                c.send(bytes([b]))
                time.sleep(0.003)
        else:
            c.send(msg)
        assert c.read_method() == 0
        rep, _, _ = c.read_reply()
        assert rep == 0
        echo_roundtrip(c.sock, 5000)


HEADERS = {
    "v1-tcp4": (lambda: v1_header("203.0.113.7", "198.51.100.1", 40001, 1080),
                "203.0.113.7:40001"),
    "v1-tcp6": (lambda: v1_header("2001:db8::7", "2001:db8::1", 40002, 1080),
                "[2001:db8::7]:40002"),
    "v2-tcp4": (lambda: v2_header("203.0.113.8", "198.51.100.1", 40003, 1080),
                "203.0.113.8:40003"),
    "v2-tcp6": (lambda: v2_header("2001:db8::8", "2001:db8::1", 40004, 1080),
                "[2001:db8::8]:40004"),
    "v2-tcp4-tlvs": (lambda: v2_header("203.0.113.9", "198.51.100.1", 40005, 1080,
                                       tlvs=b"\x05\x03\x00abc" + b"\x04" + struct.pack("!H", 900)
                                       + b"x" * 900),
                     "203.0.113.9:40005"),
    "v1-unknown": (lambda: b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "127.0.0.1:"),
    "v2-local": (lambda: v2_header(local=True), "127.0.0.1:"),
}


@pytest.mark.parametrize("bytewise", [False, True], ids=["one-segment", "byte-by-byte"])
@pytest.mark.parametrize("kind", list(HEADERS))
def test_proxy_header_sets_client_address(start_csocks, echo_server, kind, bytewise, tmp_path):
    db = tmp_path / "pp.db"
    cfg = sqlite_cfg(db)
    cfg.update(PROXY)
    p = start_csocks(cfg)
    make, client = HEADERS[kind]
    socks5_session(p.port, make(), echo_server.port, bytewise)
    assert p.wait_log(f"client={client}"), p.log_text()
    got = wait_rows(db, lambda r: any(x["status"] == "closed" for x in r))
    row = [x for x in got if x["status"] == "closed"][0]
    assert row["source_ip"] == client.rsplit(":", 1)[0].strip("[]")
    if client != "127.0.0.1:":
        assert row["source_port"] == int(client.rsplit(":", 1)[1])
    p.stop()


def test_proxy_header_in_front_of_socks4(start_csocks, echo_server):
    p = start_csocks({"server": {"proxy_protocol": True, "socks4": True},
                      "logging": {"access_log": True}})
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(v2_header("192.0.2.44", "192.0.2.1", 5555, 1080)
                  + socks4_request("127.0.0.1", echo_server.port))
        assert socks4_reply(s)[0] == 0x5A
        echo_roundtrip(s, 100)
    assert p.wait_log("client=192.0.2.44:5555")


@pytest.mark.parametrize("junk", [
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",          # one field too many
    b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",           # leading zero
    b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",                # wrong family
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",              # no CR
    b"PROXY " + b"A" * 120,                           # no CRLF in 107 bytes
    V2_SIG + bytes([0x31, 0x11, 0, 12]) + bytes(12),  # version 3
    V2_SIG + bytes([0x21, 0x12, 0, 12]) + bytes(12),  # INET over DGRAM
    V2_SIG + bytes([0x21, 0x11, 0, 4]) + bytes(4),    # too short for INET
    greeting_bytes((0,)),                             # no header at all
], ids=["v1-fields", "v1-zero", "v1-family", "v1-lf", "v1-long", "v2-version", "v2-dgram",
        "v2-short", "none"])
def test_bad_proxy_header_closes(start_csocks, junk):
    p = start_csocks(PROXY)
    with Socks5(p.port) as c:
        c.send(junk)
        assert is_closed(c.sock)
    assert p.wait_log("PROXY protocol header from 127.0.0.1:"), p.log_text()
    assert p.wait_log("client=127.0.0.1:")


def test_missing_proxy_header_times_out(start_csocks):
    p = start_csocks({"server": {"proxy_protocol": True, "handshake_timeout_ms": 300}})
    with Socks5(p.port) as c:
        c.send(b"PROXY TCP4 1.2.3.4 ")  # incomplete, then silence
        t0 = time.monotonic()
        assert is_closed(c.sock, timeout=5)
        assert 0.25 < time.monotonic() - t0 < 1.5
    assert p.wait_log("no PROXY protocol header (handshake timeout) from 127.0.0.1:")


def test_proxy_header_failures_counted(start_csocks):
    p = start_csocks({"server": {"proxy_protocol": True},
                      "metrics": {"enabled": True},
                      "sessions": {"stats_api_enabled": True}})
    for _ in range(3):
        with Socks5(p.port) as c:
            c.send(b"GET / HTTP/1.0\r\n\r\n")
            assert is_closed(c.sock)
    import urllib.request
    deadline = time.monotonic() + 5
    while True:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{p.api_port}/metrics",
                                          timeout=5).read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert "csocks_proxy_header_failures_total 3" in body, body


def test_proxy_protocol_off_proxy_line_is_a_bad_greeting(start_csocks, echo_server):
    p = start_csocks({"logging": {"access_log": True}})
    with Socks5(p.port) as c:
        c.send(v1_header("203.0.113.7", "198.51.100.1", 1, 2) + greeting_bytes((0,)))
        assert is_closed(c.sock)
    assert p.wait_log('reason="not socks5"'), p.log_text()
    assert "203.0.113.7" not in p.log_text()


def test_proxy_header_with_client_tier_throttle_uses_header_address(start_csocks, echo_server):
    """The address from the header is the one auth and throttling see: two
    clients behind the same balancer are throttled apart."""
    p = start_csocks({"server": {"proxy_protocol": True},
                      "logging": {"access_log": True},
                      "auth": {"socks_method": "userpass",
                               "users": [{"username": "alice", "password": "secret123"}],
                               "throttle": {"enabled": True, "max_attempts": 2,
                                            "window_secs": 60, "lockout_secs": 60}}})

    def login(src, password):
        with Socks5(p.port) as c:
            c.send(v1_header(src, "10.0.0.1", 1000, 1080))
            assert c.greet((2,)) == 2
            return c.auth("alice", password)

    for _ in range(3):
        assert login("203.0.113.50", "wrong") != 0
    assert login("203.0.113.50", "secret123") != 0  # locked out
    assert login("203.0.113.51", "secret123") == 0  # another client behind the balancer
    assert p.wait_log("client=203.0.113.50:1000")


# ---- pid file -----------------------------------------------------------------

def test_pid_file_written_and_removed(start_csocks, tmp_path):
    pid_path = tmp_path / "run" / "csocks.pid"
    pid_path.parent.mkdir()
    p = start_csocks({"server": {"pid_file": str(pid_path)}})
    # The port accepts (kernel backlog) as soon as it listens, a moment
    # before the file is written.
    deadline = time.monotonic() + 5
    while not pid_path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pid_path.read_text() == f"{p.pid}\n"
    assert [x.name for x in pid_path.parent.iterdir()] == ["csocks.pid"]  # no temp file
    p.stop()
    assert not pid_path.exists()


def test_pid_file_unwritable_is_a_startup_error(start_csocks, tmp_path):
    bad = tmp_path / "missing-dir" / "csocks.pid"
    # The listener is bound before the pid file is written (the file says
    # the port is held), so a readiness probe may connect in between: wait
    # for the exit instead.
    p = start_csocks({"server": {"pid_file": str(bad)}}, wait=False)
    assert p.proc.wait(10) == 1
    log = p.log_text()
    assert str(bad) in log and "No such file or directory" in log, log
