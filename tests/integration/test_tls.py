"""SOCKS over TLS ([server.tls]) through the real binary, with real clients:
Python's ssl wrapping a SOCKS5 exchange, and stunnel4 (client mode) in front
of curl --socks5-hostname. Certificates are made by scripts/tls-test-certs.sh
(openssl) once per test session."""
import hashlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import (REPO, Socks5, SocksError, content_sha256, fd_count, free_port, recv_all,
                      recv_exact, wait_fds)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls-certs")
    subprocess.run([str(REPO / "scripts" / "tls-test-certs.sh"), str(d)], check=True,
                   timeout=120)
    return d


def tls_cfg(certs, **tls):
    t = {"enabled": True, "certificate_path": str(certs / "server.pem"),
         "private_key_path": str(certs / "server.key")}
    t.update(tls)
    return {"server": {"tls": t}}


def merge(*ds):
    out = {}
    for d in ds:
        for k, v in d.items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = merge(out[k], v)
            else:
                out[k] = v
    return out


def client_ctx(certs, cert=None, minv=None, maxv=None, ca="ca.pem"):
    ctx = ssl.create_default_context(cafile=str(certs / ca))
    if cert:
        ctx.load_cert_chain(str(certs / f"{cert}.pem"), str(certs / f"{cert}.key"))
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    return ctx


class TlsSocks5(Socks5):
    """conftest's Socks5 over a TLS connection (Python's ssl module)."""

    def __init__(self, port, ctx, timeout=10.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.timeout = timeout


def echo_roundtrip(c, n=100000):
    data = os.urandom(n)
    c.send(data)
    assert recv_exact(c.sock, n) == data


def metric(p, series, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{p.api_port}/metrics",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


API = {"sessions": {"stats_api_enabled": True}, "metrics": {"enabled": True}}


def wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


# ------------------------------------------------------------------ basics

def test_connect_through_tls_and_relay_path_logged(start_csocks, certs, echo_server):
    p = start_csocks(merge(tls_cfg(certs, alpn_protocols=["socks5"]), API))
    with TlsSocks5(p.port, client_ctx(certs)) as c:
        assert c.sock.version() == "TLSv1.3"
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c)
    # ALPN: the server picks the configured name when offered
    ctx = client_ctx(certs)
    ctx.set_alpn_protocols(["h2", "socks5"])
    with TlsSocks5(p.port, ctx) as c:
        assert c.sock.selected_alpn_protocol() == "socks5"
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c, 10)
    ulp = Path("/proc/sys/net/ipv4/tcp_available_ulp").read_text().split()
    want = "ktls" if "tls" in ulp else "buffered"
    assert p.log_text().count("tls: relay path ") == 1, p.log_text()
    assert f"tls: relay path {want}" in p.log_text()
    assert metric(p, f'csocks_tls_relay_path{{path="{want}"}}') == 1
    assert metric(p, "csocks_tls_handshakes_total") >= 2
    exp = metric(p, "csocks_tls_certificate_expiry_seconds")
    assert 800 * 86400 < exp <= 826 * 86400


def test_ktls_off_forces_buffered_path(start_csocks, certs, echo_server):
    p = start_csocks(tls_cfg(certs), env={"CSOCKS_TLS_NO_KTLS": "1"})
    assert "tls: relay path buffered (CSOCKS_TLS_NO_KTLS=1)" in p.log_text()
    with TlsSocks5(p.port, client_ctx(certs)) as c:
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c)


def test_python_socks_library_over_tls(start_csocks, certs, echo_server):
    python_socks = pytest.importorskip("python_socks.sync")
    p = start_csocks(tls_cfg(certs))
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    tls = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
    proxy = python_socks.Proxy.from_url(f"socks5://127.0.0.1:{p.port}")
    s = proxy.connect("127.0.0.1", echo_server.port, _socket=tls, timeout=10)
    s.sendall(b"ping")
    assert recv_exact(s, 4) == b"ping"
    s.close()


def test_userpass_inside_tls(start_csocks, certs, echo_server):
    p = start_csocks(merge(tls_cfg(certs), {"auth": {
        "socks_method": "userpass", "users": [{"username": "alice", "password": "pw"}]}}))
    with TlsSocks5(p.port, client_ctx(certs)) as c:
        c.connect("127.0.0.1", echo_server.port, "alice", "pw")
        echo_roundtrip(c)
    with TlsSocks5(p.port, client_ctx(certs)) as c:
        with pytest.raises(SocksError):
            c.connect("127.0.0.1", echo_server.port, "alice", "wrong")
    assert p.wait_log("user=alice")


def test_min_protocol_version(start_csocks, certs, echo_server):
    p12 = start_csocks(tls_cfg(certs))
    with TlsSocks5(p12.port, client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2)) as c:
        assert c.sock.version() == "TLSv1.2"
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c)
    p13 = start_csocks(tls_cfg(certs, min_protocol_version="TLS13"))
    with pytest.raises(ssl.SSLError):
        TlsSocks5(p13.port, client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2))
    with TlsSocks5(p13.port, client_ctx(certs, minv=ssl.TLSVersion.TLSv1_3)) as c:
        assert c.sock.version() == "TLSv1.3"
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c)
    assert p13.wait_log("TLS handshake failed from 127.0.0.1")


def test_session_resumption(start_csocks, certs, echo_server):
    p = start_csocks(tls_cfg(certs))
    ctx = client_ctx(certs, maxv=ssl.TLSVersion.TLSv1_2)
    with TlsSocks5(p.port, ctx) as c:
        c.connect("127.0.0.1", echo_server.port)
        sess = c.sock.session
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=sess)
    assert s.session_reused
    s.close()


def test_udp_associate_control_channel_over_tls(start_csocks, certs):
    p = start_csocks(tls_cfg(certs))
    with TlsSocks5(p.port, client_ctx(certs)) as c:
        assert c.greet() == 0
        rep, host, port = c.request("0.0.0.0", 0, cmd=3)
        assert rep == 0 and port > 0
        # a datagram through the association reaches a local UDP peer
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(5)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hdr = b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(
            "!H", peer.getsockname()[1])
        u.sendto(hdr + b"dgram", ("127.0.0.1", port))
        assert peer.recvfrom(100)[0] == b"dgram"
        u.close()
        peer.close()
    # closing the TLS control connection ends the association (5 bytes went up)
    assert wait_until(lambda: re.search(r"dest=0\.0\.0\.0:0 upstream=- bytes_up=5 .*reason=closed"
                                        r" .*phase=udp", p.log_text())), p.log_text()


# ------------------------------------------------------------ mutual TLS

def test_mtls_accepts_the_ca_refuses_others(start_csocks, certs, echo_server, tmp_path):
    db = tmp_path / "s.db"
    p = start_csocks(merge(
        tls_cfg(certs, require_client_auth=True, client_ca_path=str(certs / "ca.pem")), API,
        {"sessions": {"enabled": True, "storage": "sqlite", "database_url": f"sqlite://{db}",
                      "batch_size": 10, "batch_interval_ms": 100}}))
    with TlsSocks5(p.port, client_ctx(certs, cert="alice")) as c:
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c)
    refused = 0
    for cert in (None, "mallory", "expired"):
        try:
            with TlsSocks5(p.port, client_ctx(certs, cert=cert)) as c:
                # TLS 1.3: the client learns of the refusal on its first read
                c.send(b"\x05\x01\x00")
                c.sock.settimeout(5)
                data = c.sock.recv(10)
                assert data == b"", (cert, data)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            pass
        refused += 1
    assert wait_until(lambda: metric(
        p, 'csocks_tls_handshake_failures_total{reason="client_certificate"}') == refused)
    assert p.wait_log("TLS client certificate refused")

    def failed_rows():
        con = sqlite3.connect(db, timeout=5)
        try:
            return con.execute("SELECT status, close_reason FROM sessions WHERE "
                               "close_reason = 'tls client certificate refused'").fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            con.close()
    rows = wait_until(lambda: len(failed_rows()) == refused and failed_rows())
    assert rows and all(r[0] == "failed" for r in rows), rows


def test_cn_names_the_user_for_acl_and_sessions(start_csocks, certs, echo_server, tmp_path):
    db = tmp_path / "s.db"
    acl = ('[global]\ndefault_policy = "block"\n'
           '[[users]]\nusername = "alice"\ngroups = []\n'
           '[[users.rules]]\naction = "allow"\ndescription = "alice to echo"\n'
           f'destinations = ["127.0.0.1"]\nports = ["{echo_server.port}"]\n'
           'protocols = ["tcp"]\npriority = 100\n')
    p = start_csocks(merge(
        tls_cfg(certs, require_client_auth=True, client_ca_path=str(certs / "ca.pem"),
                user_from_client_cert=True),
        {"auth": {"socks_method": "userpass",
                  "users": [{"username": "carol", "password": "pw"}]},
         "sessions": {"enabled": True, "storage": "sqlite", "database_url": f"sqlite://{db}",
                      "batch_size": 10, "batch_interval_ms": 100}}), acl=acl)
    # alice: no SOCKS credentials needed, the ACL allows her
    with TlsSocks5(p.port, client_ctx(certs, cert="alice")) as c:
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c)
    # bob: authenticated by certificate, blocked by the ACL (default block)
    with TlsSocks5(p.port, client_ctx(certs, cert="bob")) as c:
        with pytest.raises(SocksError) as e:
            c.connect("127.0.0.1", echo_server.port)
        assert e.value.rep == 0x02
    # a certificate without a CN names no one: refused
    with pytest.raises((ssl.SSLError, ConnectionResetError, AssertionError, OSError)):
        with TlsSocks5(p.port, client_ctx(certs, cert="nocn")) as c:
            c.connect("127.0.0.1", echo_server.port)

    def users():
        con = sqlite3.connect(db, timeout=5)
        try:
            return sorted(con.execute("SELECT user, status FROM sessions").fetchall())
        except sqlite3.OperationalError:
            return []
        finally:
            con.close()
    got = wait_until(lambda: len(users()) >= 3 and users())
    assert ("alice", "closed") in got, got
    assert ("bob", "rejected_by_acl") in got, got
    assert p.wait_log("tls client certificate names no user")


# ------------------------------------------------------------ data path

def test_half_close_both_ways(start_csocks, certs, echo_server):
    """Upstream's EOF reaches the client as close_notify while the client
    can still send; the client's EOF (close_notify) reaches upstream as FIN."""
    got = {}
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def upstream():
        conn, _ = lsock.accept()
        conn.settimeout(10)
        conn.sendall(b"from upstream")
        conn.shutdown(socket.SHUT_WR)
        got["up"] = recv_all(conn)
        conn.close()
    t = threading.Thread(target=upstream, daemon=True)
    t.start()
    p = start_csocks(tls_cfg(certs))
    with TlsSocks5(p.port, client_ctx(certs)) as c:
        c.connect("127.0.0.1", lsock.getsockname()[1])
        assert recv_all(c.sock) == b"from upstream"  # close_notify seen as EOF
        c.send(b"after your EOF")
        # our close_notify (SSL_shutdown via unwrap) ends the up direction
        try:
            c.sock.unwrap()
        except (ssl.SSLError, OSError):
            pass
        t.join(10)
    lsock.close()
    assert got.get("up") == b"after your EOF"
    assert p.wait_log("reason=closed")


def test_large_transfer_byte_exact(start_csocks, certs, http_server, eof_server):
    p = start_csocks(tls_cfg(certs))
    n = 256 << 20
    with TlsSocks5(p.port, client_ctx(certs), timeout=60) as c:
        c.connect("127.0.0.1", http_server.port)
        c.send(f"GET /size/{n} HTTP/1.0\r\n\r\n".encode())
        h = hashlib.sha256()
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += c.sock.recv(65536)
        head, body = buf.split(b"\r\n\r\n", 1)
        h.update(body)
        got = len(body)
        while got < n:
            chunk = c.sock.recv(1 << 20)
            assert chunk, got
            h.update(chunk)
            got += len(chunk)
        assert got == n and h.hexdigest() == content_sha256(n)
    up = 64 << 20
    data = os.urandom(1 << 20)
    with TlsSocks5(p.port, client_ctx(certs), timeout=60) as c:
        c.connect("127.0.0.1", http_server.port)
        c.send(f"POST /sha HTTP/1.0\r\nContent-Length: {up}\r\n\r\n".encode())
        h = hashlib.sha256()
        for _ in range(up >> 20):
            c.send(data)
            h.update(data)
        reply = recv_all(c.sock, timeout=60)
    assert reply.endswith(f"{up} {h.hexdigest()}\n".encode()), reply[-200:]


def test_idle_tls_tunnels_hold_little_memory(start_csocks, certs, echo_server, csocks_bin):
    if b"__asan_init" in Path(csocks_bin).read_bytes():
        pytest.skip("RSS of a sanitizer build measures the sanitizer, not csocks")
    p = start_csocks(tls_cfg(certs), nofile=4096)

    def rss_kib():
        for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    ctx = client_ctx(certs)
    warm = [TlsSocks5(p.port, ctx) for _ in range(20)]
    for c in warm:
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c, 20000)
    before = rss_kib()
    n = 500
    conns = []
    for _ in range(n):
        c = TlsSocks5(p.port, ctx)
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c, 20000)  # every tunnel has moved data (buffers were used)
        conns.append(c)
    time.sleep(0.5)
    per = (rss_kib() - before) / n
    print(f"idle TLS tunnel: {per:.1f} KiB RSS each ({n} tunnels)")
    for c in conns + warm:
        c.close()
    # Far below 2 x 16 KiB relay buffers + OpenSSL's 2 x ~17 KiB record buffers.
    assert per < 24, per


# ------------------------------------------------------------ bad input

def client_hello_bytes(certs):
    """The first flight of a real client (a ClientHello), via memory BIOs."""
    ctx = client_ctx(certs)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def test_plaintext_client_is_closed_and_logged(start_csocks, certs):
    p = start_csocks(merge(tls_cfg(certs), API))
    with Socks5(p.port) as c:
        c.send(b"\x05\x01\x00")
        c.sock.settimeout(5)
        try:
            assert c.sock.recv(10) == b""
        except ConnectionResetError:
            pass
    assert p.wait_log("plaintext SOCKS5 greeting on the TLS listener from 127.0.0.1")
    assert metric(p, 'csocks_tls_handshake_failures_total{reason="plaintext"}') == 1


def test_truncated_hello_stall_and_garbage(start_csocks, certs, echo_server):
    p = start_csocks(merge(tls_cfg(certs), {"server": {"handshake_timeout_ms": 700}}, API))
    hello = client_hello_bytes(certs)
    # truncated ClientHello, then EOF
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(hello[:40])
    s.shutdown(socket.SHUT_WR)
    assert recv_all(s, timeout=5) == b""
    s.close()
    assert p.wait_log("TLS handshake failed from 127.0.0.1"), p.log_text()
    # stalls mid-handshake: the deadline closes it
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(hello[:40])
    t0 = time.monotonic()
    assert recv_all(s, timeout=5) == b""
    assert time.monotonic() - t0 < 4
    s.close()
    assert p.wait_log("TLS handshake timeout from 127.0.0.1")
    assert metric(p, 'csocks_tls_handshake_failures_total{reason="timeout"}') == 1
    # garbage after a completed handshake (raw bytes under the TLS layer)
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    tls = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"\x05\x01\x00")
    assert recv_exact(tls, 2) == b"\x05\x00"
    raw2 = socket.socket(fileno=os.dup(tls.fileno()))
    raw2.sendall(b"\x17\x03\x03\x00\x10" + b"G" * 16)
    raw2.settimeout(5)
    try:
        while raw2.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    raw2.close()
    tls.close()
    assert p.wait_log('reason="client error during handshake"'), p.log_text()
    # still serving
    with TlsSocks5(p.port, client_ctx(certs)) as c:
        c.connect("127.0.0.1", echo_server.port)
        echo_roundtrip(c, 100)


def test_no_fd_leak_after_many_failed_handshakes(start_csocks, certs):
    p = start_csocks(merge(
        tls_cfg(certs, require_client_auth=True, client_ca_path=str(certs / "ca.pem")), API))
    time.sleep(0.3)
    base = fd_count(p.pid)
    hello = client_hello_bytes(certs)
    kinds = 0
    for i in range(300):
        k = i % 3
        try:
            if k == 0:  # plaintext
                s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
                s.sendall(b"\x05\x01\x00")
            elif k == 1:  # truncated hello
                s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
                s.sendall(hello[:60])
            else:  # no client certificate
                raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
                s = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
                s.sendall(b"\x05\x01\x00")
                s.recv(10)
            s.close()
            kinds += 1
        except (ssl.SSLError, OSError):
            kinds += 1
    assert kinds == 300
    assert wait_fds(p.pid, base, timeout=15) <= base, (fd_count(p.pid), base)
    assert wait_until(lambda: metric(
        p, 'csocks_tls_handshake_failures_total{reason="client_certificate"}') == 100)
    assert p.alive()


# ------------------------------------------------------------ reload

def serial_of(sock):
    der = sock.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


def test_reload_under_load_keeps_tunnels(start_csocks, certs, echo_server, tmp_path):
    cert = tmp_path / "live.pem"
    key = tmp_path / "live.key"
    shutil.copy(certs / "server.pem", cert)
    shutil.copy(certs / "server.key", key)
    p = start_csocks(merge(
        {"server": {"tls": {"enabled": True, "certificate_path": str(cert),
                            "private_key_path": str(key)}}},
        API, {"api": {"token": "tok"}}))
    ctx = client_ctx(certs)
    stop = threading.Event()
    errors, moved = [], [0] * 4

    def pump(i):
        try:
            with TlsSocks5(p.port, ctx) as c:
                c.connect("127.0.0.1", echo_server.port)
                data = os.urandom(32768)
                while not stop.is_set():
                    c.send(data)
                    assert recv_exact(c.sock, len(data)) == data
                    moved[i] += len(data)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=pump, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        reload_steps(p, certs, cert, key, ctx, moved)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not errors, errors
    assert metric(p, "csocks_tls_reloads_total", "tok") == 2
    assert metric(p, "csocks_tls_reload_failures_total", "tok") == 1


def reload_steps(p, certs, cert, key, ctx, moved):
    assert wait_until(lambda: all(moved))
    with TlsSocks5(p.port, ctx) as c:
        old = serial_of(c.sock)
    # SIGHUP with a new certificate
    shutil.copy(certs / "server2.pem", cert)
    shutil.copy(certs / "server2.key", key)
    p.signal(signal.SIGHUP)
    assert p.wait_log("tls: certificate, key and CA reloaded")
    with TlsSocks5(p.port, ctx) as c:
        new = serial_of(c.sock)
    assert new != old
    # a bad file keeps the old context and says which key and file
    cert.write_text("not a certificate\n")
    req = urllib.request.Request(f"http://127.0.0.1:{p.api_port}/api/admin/reload-tls",
                                 method="POST", headers={"Authorization": "Bearer tok"})
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("reload of a bad file succeeded")
    except urllib.error.HTTPError as e:
        assert e.code == 500
        assert "server.tls.certificate_path" in e.read().decode()
    assert re.search(r"tls: reload failed, keeping the old certificate: \S+csocks\.toml:\d+: "
                     r"server\.tls\.certificate_path: '", p.log_text()), p.log_text()
    with TlsSocks5(p.port, ctx) as c:
        assert serial_of(c.sock) == new
    # back to the first certificate through the API
    shutil.copy(certs / "server.pem", cert)
    shutil.copy(certs / "server.key", key)
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    with TlsSocks5(p.port, ctx) as c:
        assert serial_of(c.sock) == old
    before = list(moved)
    assert wait_until(lambda: all(m > b for m, b in zip(moved, before)))
    # without a token the route is refused
    bad = urllib.request.Request(req.full_url, method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad, timeout=5)
    assert e.value.code == 401


def test_bad_certificate_refuses_to_start(start_csocks, certs, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage\n")
    with pytest.raises(AssertionError) as e:
        start_csocks(tls_cfg(certs, certificate_path=str(bad)))
    assert re.search(r"csocks\.toml:\d+: server\.tls\.certificate_path: '" + re.escape(str(bad)),
                     str(e.value)), str(e.value)
    with pytest.raises(AssertionError) as e:
        start_csocks(tls_cfg(certs, private_key_path=str(certs / "alice.key")))
    assert "server.tls.private_key_path" in str(e.value)


# ------------------------------------------------------------ stunnel + curl

def test_stunnel_client_in_front_of_curl(start_csocks, certs, http_server, tmp_path):
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if not stunnel:
        pytest.fail("stunnel4 is not installed (scripts/deps.sh test installs it)")
    p = start_csocks(merge(
        tls_cfg(certs, require_client_auth=True, client_ca_path=str(certs / "ca.pem"),
                user_from_client_cert=True), {"logging": {"access_log": True}}))
    lport = free_port()
    conf = tmp_path / "stunnel.conf"
    conf.write_text(f"""foreground = yes
pid =
debug = 4
[socks]
client = yes
accept = 127.0.0.1:{lport}
connect = 127.0.0.1:{p.port}
verifyChain = yes
CAfile = {certs / 'ca.pem'}
checkHost = localhost
cert = {certs / 'alice.pem'}
key = {certs / 'alice.key'}
""")
    st = subprocess.Popen([stunnel, str(conf)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    try:
        ok = False
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", lport), timeout=0.2).close()
                ok = True
                break
            except OSError:
                time.sleep(0.05)
        assert ok, "stunnel did not listen"
        n = 5 << 20
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "60", "--socks5-hostname", f"127.0.0.1:{lport}",
             "-o", "-", http_server.url(f"/size/{n}")], capture_output=True, timeout=90)
        assert out.returncode == 0, out.stderr
        assert hashlib.sha256(out.stdout).hexdigest() == content_sha256(n)
        # curl resolves nothing itself: csocks saw the name-less IP it was given
        assert p.wait_log("user=alice")
    finally:
        st.terminate()
        st.wait(10)


def test_reload_tls_route_without_tls(start_csocks):
    p = start_csocks(merge(API, {"api": {"token": "tok"}}))
    req = urllib.request.Request(f"http://127.0.0.1:{p.api_port}/api/admin/reload-tls",
                                 method="POST", headers={"Authorization": "Bearer tok"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 409
    assert "server.tls.enabled" in e.value.read().decode()


def test_proxy_header_before_tls_and_socks4_inside(start_csocks, certs, echo_server):
    """Behind a balancer the PROXY header comes in clear, then TLS; its
    source is the client. SOCKS4 (when enabled) works inside TLS too."""
    p = start_csocks(merge(tls_cfg(certs), {"server": {"proxy_protocol": True, "socks4": True},
                                            "logging": {"access_log": True}}))
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    raw.sendall(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 1080\r\n")
    tls = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"\x04\x01" + struct.pack("!H", echo_server.port) + socket.inet_aton("127.0.0.1")
                + b"u\x00")
    rep = recv_exact(tls, 8)
    assert rep[1] == 0x5A, rep
    tls.sendall(b"socks4 in tls")
    assert recv_exact(tls, 13) == b"socks4 in tls"
    tls.close()
    assert wait_until(lambda: re.search(r"client=198\.51\.100\.7:40000 dest=127\.0\.0\.1:"
                                        + str(echo_server.port), p.log_text())), p.log_text()
