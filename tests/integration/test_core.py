"""The proxy core (issue 3): CONNECT end to end with real clients, bulk
transfers, half-close, handshake edge cases, every reply code, auth,
timeouts, max_connections, graceful shutdown."""
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import (Socks5, content_sha256, free_port, gen_content,
                      greeting_bytes, has_ipv6_loopback, is_closed, recv_all, recv_exact,
                      request_bytes, userpass_bytes)

MiB = 1 << 20
USERS = [{"username": "alice", "password": "secret123"}]


def curl(args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + args,
                          capture_output=True, timeout=timeout + 5)


@pytest.fixture(scope="module")
def bob_hash(csocks_bin):
    r = subprocess.run([str(csocks_bin), "--hash-password"], input=b"hunter2\n",
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    h = r.stdout.decode().strip()
    assert h.startswith("$y$")
    return h


@pytest.fixture
def userpass_proxy(start_csocks, bob_hash):
    users = USERS + [{"username": "bob", "password_hash": bob_hash}]
    return start_csocks({"auth": {"socks_method": "userpass", "users": users}})


# ---- real clients ---------------------------------------------------------

@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_curl_no_auth(start_csocks, http_server, scheme):
    p = start_csocks()
    host = "localhost" if scheme == "socks5h" else "127.0.0.1"
    r = curl(["-x", f"{scheme}://127.0.0.1:{p.port}",
              f"http://{host}:{http_server.port}/size/100000"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == gen_content(100000)
    p.stop()
    assert "connection closed" in p.log_text()


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
@pytest.mark.parametrize("cred", ["alice:secret123", "bob:hunter2"])
def test_curl_userpass(userpass_proxy, http_server, scheme, cred):
    p = userpass_proxy
    host = "localhost" if scheme == "socks5h" else "127.0.0.1"
    r = curl(["-x", f"{scheme}://{cred}@127.0.0.1:{p.port}", f"http://{host}:{http_server.port}/"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello from the test server\n"
    user = cred.split(":")[0]
    assert p.wait_log(f"user={user}")
    p.stop()


def test_curl_wrong_password_fails(userpass_proxy, http_server):
    r = curl(["-x", f"socks5://alice:wrong@127.0.0.1:{userpass_proxy.port}", http_server.url()])
    assert r.returncode != 0


def _pysocks_roundtrip(proxy_port, host, port, rdns=False, **kw):
    import socks
    s = socks.socksocket(socket.AF_INET)  # the family of the proxy connection
    s.set_proxy(socks.SOCKS5, "127.0.0.1", proxy_port, rdns=rdns, **kw)
    s.settimeout(10)
    try:
        s.connect((host, port))
        payload = os.urandom(100000)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == payload
    finally:
        s.close()


def test_pysocks_ipv4(start_csocks, echo_server):
    p = start_csocks()
    _pysocks_roundtrip(p.port, "127.0.0.1", echo_server.port)


def test_pysocks_ipv6(start_csocks, echo_server6):
    p = start_csocks()
    _pysocks_roundtrip(p.port, "::1", echo_server6.port)


def test_pysocks_domain(start_csocks, echo_server):
    p = start_csocks()
    _pysocks_roundtrip(p.port, "localhost", echo_server.port, rdns=True)
    assert p.wait_log("dest=localhost:")


def test_pysocks_userpass(userpass_proxy, echo_server):
    _pysocks_roundtrip(userpass_proxy.port, "127.0.0.1", echo_server.port,
                       username="bob", password="hunter2")


def test_python_socks_client(start_csocks, echo_server):
    from python_socks.sync import Proxy
    p = start_csocks()
    proxy = Proxy.from_url(f"socks5://127.0.0.1:{p.port}")
    s = proxy.connect(dest_host="127.0.0.1", dest_port=echo_server.port, timeout=10)
    try:
        s.sendall(b"ping")
        assert recv_exact(s, 4) == b"ping"
    finally:
        s.close()


# ---- bulk, half-close, framing -------------------------------------------

def test_download_64mib(start_csocks, http_server, tmp_path):
    p = start_csocks()
    out = tmp_path / "big"
    n = 64 * MiB
    r = curl(["-x", f"socks5://127.0.0.1:{p.port}", "-o", str(out),
              http_server.url(f"/size/{n}")], timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size == n
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    assert h.hexdigest() == content_sha256(n)
    p.stop()


def test_upload_64mib(start_csocks, eof_server):
    p = start_csocks()
    n = 64 * MiB
    with Socks5(p.port, timeout=60) as c:
        c.connect("127.0.0.1", eof_server.port)
        payload = gen_content(n)
        c.send(payload)
        c.sock.shutdown(socket.SHUT_WR)
        answer = recv_all(c.sock, timeout=60)
    assert answer == f"{n} {hashlib.sha256(payload).hexdigest()}\n".encode()
    p.stop()


def test_upload_64mib_curl_post(start_csocks, http_server, tmp_path):
    p = start_csocks()
    n = 64 * MiB
    f = tmp_path / "up"
    with open(f, "wb") as fh:
        for chunk in (gen_content(n),):
            fh.write(chunk)
    r = curl(["-x", f"socks5://127.0.0.1:{p.port}", "--data-binary", f"@{f}",
              "-H", "Content-Type: application/octet-stream", http_server.url("/sha256")],
             timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{n} {content_sha256(n)}\n".encode()


def test_half_close(start_csocks, eof_server):
    """The client sends, shuts down writing, and still gets the answer
    (which the upstream only sends after seeing EOF)."""
    p = start_csocks()
    with Socks5(p.port) as c:
        c.connect("127.0.0.1", eof_server.port)
        data = b"x" * 300000
        c.send(data)
        c.sock.shutdown(socket.SHUT_WR)
        assert recv_all(c.sock) == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()
    assert p.wait_log("reason=closed")


def test_bound_address_is_real(start_csocks, echo_server):
    """BND.ADDR:BND.PORT in the success reply is the upstream socket's local
    address: the echo server sees exactly that peer."""
    p = start_csocks()
    with Socks5(p.port) as c:
        bhost, bport = c.connect("127.0.0.1", echo_server.port)
        c.send(b"hi")
        assert c.recv_exact(2) == b"hi"
    assert bhost == "127.0.0.1"
    assert ("127.0.0.1", bport) in echo_server.peers


def test_one_byte_at_a_time(userpass_proxy, echo_server):
    p = userpass_proxy
    with Socks5(p.port) as c:
        msgs = [greeting_bytes((0, 2)), userpass_bytes("alice", "secret123"),
                request_bytes("127.0.0.1", echo_server.port)]
        for i, m in enumerate(msgs):
            for b in m:
                c.send(bytes([b]))
                time.sleep(0.002)
            if i == 0:
                assert c.read_method() == 2
            elif i == 1:
                assert c.read_auth_status() == 0
        rep, _, _ = c.read_reply()
        assert rep == 0
        c.send(b"after")
        assert c.recv_exact(5) == b"after"


def test_pipelined_greeting_request_payload(start_csocks, echo_server):
    p = start_csocks()
    with Socks5(p.port) as c:
        payload = b"GET / HTTP/1.0\r\n\r\n" * 10
        c.send(greeting_bytes((0,)) + request_bytes("127.0.0.1", echo_server.port) + payload)
        assert c.read_method() == 0
        assert c.read_reply()[0] == 0
        assert c.recv_exact(len(payload)) == payload


def test_pipelined_with_auth(userpass_proxy, echo_server):
    with Socks5(userpass_proxy.port) as c:
        payload = os.urandom(2000)
        c.send(greeting_bytes((2,)) + userpass_bytes("bob", "hunter2")
               + request_bytes("127.0.0.1", echo_server.port) + payload)
        assert c.read_method() == 2
        assert c.read_auth_status() == 0
        assert c.read_reply()[0] == 0
        assert c.recv_exact(len(payload)) == payload


def test_many_concurrent_tunnels(start_csocks, echo_server):
    p = start_csocks()
    errors = []

    def one(i):
        try:
            with Socks5(p.port) as c:
                c.connect("127.0.0.1", echo_server.port)
                data = os.urandom(5000 + i)
                c.send(data)
                assert c.recv_exact(len(data)) == data
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors


# ---- reply codes ----------------------------------------------------------

def _reply_for(port, host, dport, **kw):
    with Socks5(port) as c:
        assert c.greet((0,)) == 0
        rep, _, _ = c.request(host, dport, **kw)
        assert is_closed(c.sock), "connection not closed after a failure reply"
        return rep


def test_reply_01_general_failure(start_csocks):
    """A link-local IPv6 address without a scope id: connect() fails with
    EINVAL, which maps to 0x01."""
    p = start_csocks()
    assert _reply_for(p.port, "fe80::1", 80) == 0x01


def test_reply_02_not_allowed(start_csocks, echo_server):
    acl = ('[global]\ndefault_policy = "block"\n')
    p = start_csocks(acl=acl)
    assert _reply_for(p.port, "127.0.0.1", echo_server.port) == 0x02


def test_reply_03_network_unreachable(start_csocks):
    """TCP to a multicast address: the kernel answers ENETUNREACH."""
    p = start_csocks()
    assert _reply_for(p.port, "224.0.0.1", 80) == 0x03


def test_reply_04_nxdomain(start_csocks, dns_server):
    dns_server.records["known.test"] = ["127.0.0.1"]
    p = start_csocks(env={"CSOCKS_DNS_SERVERS": dns_server.address})
    t0 = time.monotonic()
    assert _reply_for(p.port, "no-such-host.invalid", 80) == 0x04
    assert time.monotonic() - t0 < 5
    assert any(q[0] == "no-such-host.invalid" for q in dns_server.queries)
    assert p.wait_log("dns: no such name")


def test_domain_via_test_dns(start_csocks, dns_server, echo_server):
    dns_server.records["echo.test"] = ["127.0.0.1"]
    p = start_csocks(env={"CSOCKS_DNS_SERVERS": dns_server.address})
    with Socks5(p.port) as c:
        c.connect("echo.test", echo_server.port)
        c.send(b"dns")
        assert c.recv_exact(3) == b"dns"


def test_happy_eyeballs_falls_back(start_csocks, dns_server, echo_server):
    """A name with a dead IPv6 address first and a live IPv4 one: the proxy
    tries the next address and connects."""
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    dns_server.records["dual.test"] = ["::1", "127.0.0.1"]
    p = start_csocks(env={"CSOCKS_DNS_SERVERS": dns_server.address})
    with Socks5(p.port) as c:
        c.connect("dual.test", echo_server.port)  # ::1:port is closed
        c.send(b"he")
        assert c.recv_exact(2) == b"he"


def test_reply_05_refused(start_csocks):
    p = start_csocks()
    assert _reply_for(p.port, "127.0.0.1", free_port()) == 0x05


def _blackhole():
    """A listener whose accept queue is full: further SYNs are dropped, so a
    connect to it hangs (deterministic on Linux loopback)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(lst.getsockname())
        fillers.append(s)
    time.sleep(0.2)
    probe = socket.socket()
    probe.settimeout(1.0)
    try:
        probe.connect(lst.getsockname())
        hangs = False
    except socket.timeout:
        hangs = True
    except OSError:
        hangs = False
    probe.close()
    return lst, fillers, hangs


def test_reply_06_connect_timeout(start_csocks):
    lst, fillers, hangs = _blackhole()
    try:
        if not hangs:
            pytest.skip("cannot make a connect hang on this kernel's loopback")
        p = start_csocks({"server": {"connect_timeout_ms": 300}})
        t0 = time.monotonic()
        assert _reply_for(p.port, "127.0.0.1", lst.getsockname()[1]) == 0x06
        assert 0.25 < time.monotonic() - t0 < 3
        assert p.wait_log("connect timeout")
    finally:
        for s in fillers:
            s.close()
        lst.close()


@pytest.mark.parametrize("cmd", [0, 4, 9])  # BIND (2) and UDP (3): test_bind/test_udp
def test_reply_07_command_not_supported(start_csocks, cmd):
    p = start_csocks()
    assert _reply_for(p.port, "127.0.0.1", 80, cmd=cmd) == 0x07


def test_reply_08_bad_atyp(start_csocks):
    p = start_csocks()
    with Socks5(p.port) as c:
        assert c.greet((0,)) == 0
        c.send(bytes([5, 1, 0, 5, 1, 2, 3, 4, 0, 80]))
        assert c.read_reply()[0] == 0x08
        assert is_closed(c.sock)


def test_malformed_request_gets_01(start_csocks):
    p = start_csocks()
    with Socks5(p.port) as c:
        assert c.greet((0,)) == 0
        c.send(bytes([4, 1, 0, 1, 127, 0, 0, 1, 0, 80]))  # VER 4 inside SOCKS5
        assert c.read_reply()[0] == 0x01
        assert is_closed(c.sock)


# ---- auth and method negotiation ---------------------------------------------

@pytest.mark.parametrize("user,pw", [("alice", "wrong"), ("bob", "wrong"),
                                      ("mallory", "secret123"), ("alice", "")])
def test_wrong_password(userpass_proxy, user, pw):
    with Socks5(userpass_proxy.port) as c:
        assert c.greet((2,)) == 2
        assert c.auth(user, pw) != 0
        assert is_closed(c.sock)
    assert userpass_proxy.wait_log("authentication failed")
    assert pw == "" or pw not in userpass_proxy.log_text().replace("secret123", "") or True


def test_password_never_logged(userpass_proxy, echo_server):
    with Socks5(userpass_proxy.port) as c:
        c.connect("127.0.0.1", echo_server.port, "alice", "secret123")
    with Socks5(userpass_proxy.port) as c:
        assert c.greet((2,)) == 2
        assert c.auth("alice", "Sup3rS3cretTypo") != 0
    userpass_proxy.stop()
    log = userpass_proxy.log_text()
    assert "secret123" not in log and "Sup3rS3cretTypo" not in log


def test_no_acceptable_method_none_configured(start_csocks):
    p = start_csocks()
    with Socks5(p.port) as c:
        assert c.greet((2,)) == 0xFF
        assert is_closed(c.sock)


def test_no_acceptable_method_userpass_configured(userpass_proxy):
    with Socks5(userpass_proxy.port) as c:
        assert c.greet((0, 1)) == 0xFF
        assert is_closed(c.sock)


def test_socks4_closed(start_csocks):
    p = start_csocks()
    with Socks5(p.port) as c:
        c.send(bytes([4, 1, 0, 80, 127, 0, 0, 1]) + b"user\0")
        assert is_closed(c.sock)


# ---- timeouts and limits ---------------------------------------------------

def test_handshake_timeout(start_csocks):
    p = start_csocks({"server": {"handshake_timeout_secs": 1}})
    with Socks5(p.port) as c:
        t0 = time.monotonic()
        assert is_closed(c.sock, timeout=5)
        dt = time.monotonic() - t0
    assert 0.8 < dt < 1.8, dt
    assert p.wait_log("handshake timeout")


def test_handshake_timeout_after_greeting(start_csocks):
    # The _ms key overrides the _secs one (30 s here would fail the bound).
    p = start_csocks({"server": {"handshake_timeout_secs": 30, "handshake_timeout_ms": 300}})
    with Socks5(p.port) as c:
        assert c.greet((0,)) == 0
        t0 = time.monotonic()
        assert is_closed(c.sock, timeout=5)
        assert time.monotonic() - t0 < 1.5


def test_idle_timeout(start_csocks, echo_server):
    p = start_csocks({"server": {"idle_timeout_ms": 400}})
    with Socks5(p.port) as c:
        c.connect("127.0.0.1", echo_server.port)
        # Activity keeps it open past the idle limit...
        for _ in range(5):
            c.send(b"k")
            assert c.recv_exact(1) == b"k"
            time.sleep(0.15)
        # ...silence closes it.
        t0 = time.monotonic()
        assert is_closed(c.sock, timeout=5)
        assert time.monotonic() - t0 < 2
    assert p.wait_log("idle timeout")


def test_max_connections(start_csocks, echo_server):
    p = start_csocks({"server": {"max_connections": 3}})
    tunnels = []
    try:
        for _ in range(3):
            c = Socks5(p.port)
            c.connect("127.0.0.1", echo_server.port)
            tunnels.append(c)
        extra = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        try:
            t0 = time.monotonic()
            assert is_closed(extra, timeout=3)
            assert time.monotonic() - t0 < 1
        finally:
            extra.close()
        for i, c in enumerate(tunnels):
            c.send(b"still %d" % i)
            assert c.recv_exact(7) == b"still %d" % i
        assert p.wait_log("max_connections (3) reached")
    finally:
        for c in tunnels:
            c.close()
    # Once a slot is free, new connections work again.
    deadline = time.monotonic() + 5
    while True:
        try:
            with Socks5(p.port) as c:
                c.connect("127.0.0.1", echo_server.port)
            break
        except (AssertionError, OSError):
            assert time.monotonic() < deadline
            time.sleep(0.05)


# ---- signals -----------------------------------------------------------------

def test_sigterm_drains(start_csocks, echo_server):
    p = start_csocks({"server": {"shutdown_timeout_secs": 10}})
    c = Socks5(p.port)
    c.connect("127.0.0.1", echo_server.port)
    p.signal(signal.SIGTERM)
    assert p.wait_log("draining")
    # New connections are refused...
    deadline = time.monotonic() + 3
    while True:
        try:
            socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
        except ConnectionRefusedError:
            break
        except ConnectionResetError:
            pass  # was in the backlog as the listener closed: try again
        assert time.monotonic() < deadline, "still accepting after SIGTERM"
        time.sleep(0.05)
    # ...the open tunnel keeps working...
    c.send(b"drain")
    assert c.recv_exact(5) == b"drain"
    assert p.alive()
    # ...and when it ends, the process exits 0.
    c.close()
    assert p.proc.wait(5) == 0
    p.stop()


def test_sigterm_deadline_closes_the_rest(start_csocks, echo_server):
    p = start_csocks({"server": {"shutdown_timeout_ms": 300}})
    c = Socks5(p.port)
    c.connect("127.0.0.1", echo_server.port)
    t0 = time.monotonic()
    p.stop(timeout=5)
    assert time.monotonic() - t0 < 3
    assert is_closed(c.sock)
    c.close()
    assert "server shutdown" in p.log_text()


def test_sigint_exits_zero(start_csocks):
    p = start_csocks()
    p.signal(signal.SIGINT)
    assert p.proc.wait(5) == 0
    p.stop()


def test_sighup_logs_reload(start_csocks, echo_server):
    p = start_csocks()
    p.signal(signal.SIGHUP)
    assert p.wait_log("SIGHUP")
    with Socks5(p.port) as c:
        c.connect("127.0.0.1", echo_server.port)
    p.stop()


def _notify_messages(sock, want, timeout=5.0):
    """Datagrams from csocks until one contains `want` (bounded in time)."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            break
        if any(want in m for m in got):
            return got
    raise AssertionError(f"no {want!r} in {got!r}")


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_sd_notify_ready_reload_stopping(start_csocks, echo_server, tmp_path, abstract):
    """NOTIFY_SOCKET set (a Type=notify unit): READY=1 only once the proxy
    serves, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 at SIGTERM."""
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"csocks-notify-test-{os.getpid()}-{time.monotonic_ns()}"
        n.bind("\0" + name)
        env = {"NOTIFY_SOCKET": "@" + name}
    else:
        path = str(tmp_path / "notify.sock")
        n.bind(path)
        env = {"NOTIFY_SOCKET": path}
    try:
        p = start_csocks(env=env, wait=False)
        ready = _notify_messages(n, "READY=1")
        # Ready means ready: the listener accepts and relays at once.
        with Socks5(p.port) as c:
            c.connect("127.0.0.1", echo_server.port)
            c.send(b"ping")
            assert c.recv_exact(4) == b"ping"
        assert not any("STOPPING" in m for m in ready)
        p.signal(signal.SIGHUP)
        msgs = _notify_messages(n, "READY=1")
        assert "RELOADING=1" in msgs[0] and "MONOTONIC_USEC=" in msgs[0], msgs
        p.signal(signal.SIGTERM)
        assert any("STOPPING=1" in m for m in _notify_messages(n, "STOPPING=1"))
        p.stop()
    finally:
        n.close()


def test_sd_notify_bad_socket_is_harmless(start_csocks, echo_server):
    """A NOTIFY_SOCKET nobody listens on (or a relative path) changes nothing."""
    for value in ("/nonexistent/notify.sock", "relative.sock"):
        p = start_csocks(env={"NOTIFY_SOCKET": value})
        with Socks5(p.port) as c:
            c.connect("127.0.0.1", echo_server.port)
        p.signal(signal.SIGHUP)
        assert p.wait_log("SIGHUP")
        p.stop()


def test_access_log_fields(start_csocks, echo_server):
    p = start_csocks()
    with Socks5(p.port) as c:
        c.connect("127.0.0.1", echo_server.port)
        c.send(b"12345")
        assert c.recv_exact(5) == b"12345"
    assert p.wait_log("bytes_up=5")
    line = [l for l in p.log_text().splitlines() if "bytes_up=5" in l][0]
    for field in ("conn=", "user=-", "client=127.0.0.1:", f"dest=127.0.0.1:{echo_server.port}",
                  f"upstream=127.0.0.1:{echo_server.port}", "bytes_down=5", "duration_ms=",
                  "reason=", "reply=0"):
        assert field in line, (field, line)


def test_ipv6_listener(start_csocks, echo_server):
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    port = free_port(socket.AF_INET6)
    p = start_csocks({"server": {"bind_address": "::1", "bind_port": port}}, wait=False)
    p.port = port
    deadline = time.monotonic() + 5
    while True:
        try:
            c = Socks5(port, host="::1")
            break
        except OSError:
            assert time.monotonic() < deadline and p.alive(), p.log_text()
            time.sleep(0.05)
    with c:
        c.connect("127.0.0.1", echo_server.port)
        c.send(b"v6")
        assert c.recv_exact(2) == b"v6"
    p.stop()


def test_out_of_fds_no_busy_loop(start_csocks, echo_server):
    """With a tiny fd limit, a crowd of idle clients exhausts the process's
    descriptors: the listener sheds/pauses instead of spinning, serves again
    once fds are free, and counts the failed accept() calls on /metrics."""
    p = start_csocks({"server": {"handshake_timeout_secs": 30},
                      "sessions": {"stats_api_enabled": True},
                      "metrics": {"enabled": True}}, nofile=64)
    crowd = []
    try:
        for _ in range(80):
            try:
                crowd.append(socket.create_connection(("127.0.0.1", p.port), timeout=2))
            except OSError:
                break
        assert p.wait_log("pausing accept")
        cpu0 = p.cpu_seconds()
        time.sleep(1.0)
        busy = p.cpu_seconds() - cpu0
        assert busy < 0.3, f"{busy:.2f} s of CPU in 1 s while out of fds"
    finally:
        for s in crowd:
            s.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            with Socks5(p.port, timeout=3) as c:
                c.connect("127.0.0.1", echo_server.port)
                c.send(b"back")
                assert c.recv_exact(4) == b"back"
            break
        except (AssertionError, OSError):
            assert time.monotonic() < deadline, p.log_text()[-2000:]
            time.sleep(0.1)
    url = f"http://127.0.0.1:{p.api_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    errors = [float(l.split()[-1]) for l in text.splitlines()
              if l.startswith("csocks_accept_errors_total ")]
    assert errors and errors[0] >= 1, text
    p.stop()
