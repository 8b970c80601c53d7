"""Shared fixtures for csocks integration tests.

Everything runs on loopback, every server is started and stopped by PID, every
wait is bounded. Run with Debian's interpreter (it sees python3-socks):

    CSOCKS_BIN=build/csocks /usr/bin/python3 -m pytest -q tests/integration

Fixtures and helpers:
  csocks_bin            path of the binary (env CSOCKS_BIN, default <repo>/build/csocks)
  free_port(family)     an unused TCP port on loopback
  start_csocks(...)     factory -> Csocks (config in a tmp dir, waits until it accepts)
  http_server           threaded HTTP server: GET /size/N, GET /, POST /echo, POST /sha256
  echo_server           TCP echo on 127.0.0.1 (records peers); echo_server6 on ::1
  eof_server            reads to EOF, then answers "<len> <sha256>\n" and closes
  dns_server            a tiny UDP DNS responder (A/AAAA from a dict, NXDOMAIN otherwise)
  Socks5                raw socket-level SOCKS5 client (greeting, auth, request, reply)
  gen_content(n)        deterministic bytes served by /size/N
  fd_count(pid), wait_fds(pid, want)   a process's open fds (leak checks)
"""
import hashlib
import http.server
import ipaddress
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOOPBACK6 = "::1"


# --------------------------------------------------------------------------
# small helpers

def free_port(family=socket.AF_INET):
    """A TCP port nobody listens on right now (bind to 0, read it, close)."""
    host = "127.0.0.1" if family == socket.AF_INET else LOOPBACK6
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listens_on(pid, port):
    """Whether process pid itself holds a TCP socket listening on port (so a
    connect that succeeds is not reaching another test's process that took
    the port first)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            # local_address "0100007F:0438", state 0A = LISTEN, inode field 9
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port \
                    and f[9] in inodes:
                return True
    return False


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK6, 0))
        return True
    except OSError:
        return False


def fd_count(pid):
    """Open file descriptors of a process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fds(pid, want, timeout=10.0):
    """Wait (bounded) until pid has at most want fds; returns the last count."""
    deadline = time.monotonic() + timeout
    n = fd_count(pid)
    while n > want and time.monotonic() < deadline:
        time.sleep(0.05)
        n = fd_count(pid)
    return n


def recv_exact(sock, n, timeout=10.0):
    """Exactly n bytes, or AssertionError on EOF/timeout."""
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        assert chunk, f"EOF after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


def recv_all(sock, timeout=10.0, limit=1 << 31):
    """Everything until EOF (bounded by timeout per recv and by limit)."""
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < limit:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def is_closed(sock, timeout=3.0):
    """True when the peer closes (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


_BLOCK = hashlib.sha256(b"csocks").digest() * 2048  # 64 KiB, deterministic


def gen_content(n):
    """The bytes /size/N serves: a 64 KiB block repeated, with a counter
    mixed into each block so misplaced blocks are caught."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += i.to_bytes(8, "big") + _BLOCK[8:]
        i += 1
    return bytes(out[:n])


def content_chunks(n, size=1 << 20):
    """gen_content(n) as a stream of chunks (for big transfers)."""
    blocks_per_chunk = size // len(_BLOCK)
    i = 0
    sent = 0
    while sent < n:
        chunk = bytearray()
        for _ in range(blocks_per_chunk):
            chunk += i.to_bytes(8, "big") + _BLOCK[8:]
            i += 1
        chunk = bytes(chunk[: n - sent])
        sent += len(chunk)
        yield chunk


def content_sha256(n):
    h = hashlib.sha256()
    for c in content_chunks(n):
        h.update(c)
    return h.hexdigest()


# --------------------------------------------------------------------------
# the csocks process

def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(d, prefix=""):
    """Nested dicts -> TOML tables; lists of dicts -> arrays of tables."""
    lines, tables, arrays = [], [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    out = []
    if lines:
        if prefix:
            out.append(f"[{prefix}]")
        out += lines
        out.append("")
    for k, v in tables:
        out.append(to_toml(v, f"{prefix}.{k}" if prefix else k))
    for k, items in arrays:
        name = f"{prefix}.{k}" if prefix else k
        for item in items:
            out.append(f"[[{name}]]")
            out += [f"{ik} = {_toml_value(iv)}" for ik, iv in item.items()]
            out.append("")
    return "\n".join(out)


def deep_merge(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


# Lines that ASan/UBSan/LSan print: any of them fails the test that ran the
# process (run the suite with CSOCKS_BIN pointing at an -Dasan=true build).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Csocks:
    """A running csocks. stop() sends SIGTERM and asserts exit status 0."""

    def __init__(self, binary, workdir, config_text, port, api_port, env=None, nofile=None):
        self.binary = binary
        self.dir = Path(workdir)
        self.port = port
        self.api_port = api_port
        self.config_path = self.dir / "csocks.toml"
        self.config_path.write_text(config_text)
        self.log_path = self.dir / "csocks.log"
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.nofile = nofile
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, wait=True, timeout=5.0):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self.dir, env=self.env, preexec_fn=self._limits)
        if wait:
            self.wait_ready(timeout)
        return self

    def _limits(self):
        if self.nofile:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def cpu_seconds(self):
        """User+system CPU time the process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_ready(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"csocks exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                # Under pytest-xdist another worker's process may hold the
                # port we picked: only our own listener counts (ours then
                # exits with EADDRINUSE and start_csocks retries).
                if listens_on(self.proc.pid, self.port):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"csocks did not accept within {timeout}s:\n{self.log_text()}")

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return True
            time.sleep(0.02)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=10.0, expect=0):
        """SIGTERM, wait (bounded), assert the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"csocks did not exit within {timeout}s:\n{self.log_text()}")
        finally:
            self._log.close()
        assert rc == expect, f"exit status {rc}:\n{self.log_text()}"
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture(scope="session")
def csocks_bin():
    path = Path(os.environ.get("CSOCKS_BIN", REPO / "build" / "csocks"))
    if not path.is_file():
        pytest.fail(f"csocks binary not found at {path} (set CSOCKS_BIN)")
    return path


def base_config(port, api_port):
    return {
        "server": {"bind_address": "127.0.0.1", "bind_port": port, "worker_threads": 2},
        "auth": {"client_method": "none", "socks_method": "none"},
        "logging": {"level": "info"},
        "acl": {"enabled": False},
        "sessions": {"enabled": False, "stats_api_enabled": False,
                     "stats_api_bind_address": "127.0.0.1", "stats_api_port": api_port},
        "metrics": {"enabled": False},
    }


@pytest.fixture
def start_csocks(csocks_bin, tmp_path):
    """start_csocks(overrides=None, acl=None, extra_files=None, env=None, wait=True,
                    nofile=None)

    overrides: a dict deep-merged into the base config (bind 127.0.0.1 on a
    free port, API port free, ACL/sessions/metrics off, 2 workers), or a
    complete TOML text in which @PORT@, @API_PORT@ and @DIR@ are replaced.
    acl: text of an ACL file; enables [acl] with it. extra_files: {name:
    text} written next to the config. Every process is killed by PID at
    teardown if a test left it running. nofile sets RLIMIT_NOFILE (soft and
    hard) for the process."""
    started = []

    def factory(overrides=None, acl=None, extra_files=None, env=None, wait=True, nofile=None):
        # A free port can be taken by someone else before csocks binds it
        # (other suites run in parallel): retry with new ports.
        for attempt in range(3):
            try:
                return start_once(overrides, acl, extra_files, env, wait, nofile)
            except AssertionError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise

    def start_once(overrides, acl, extra_files, env, wait, nofile):
        port = free_port()
        api_port = free_port()
        while api_port == port:
            api_port = free_port()
        workdir = tmp_path / f"csocks{len(started)}"
        workdir.mkdir()
        for name, text in (extra_files or {}).items():
            (workdir / name).write_text(text)
        if isinstance(overrides, str):
            text = (overrides.replace("@PORT@", str(port))
                    .replace("@API_PORT@", str(api_port)).replace("@DIR@", str(workdir)))
        else:
            cfg = base_config(port, api_port)
            if acl is not None:
                (workdir / "acl.toml").write_text(acl)
                cfg["acl"] = {"enabled": True, "config_file": str(workdir / "acl.toml"),
                              "watch": False}
            deep_merge(cfg, overrides or {})
            text = to_toml(cfg)
        c = Csocks(csocks_bin, workdir, text, port, api_port, env, nofile)
        started.append(c)
        return c.start(wait=wait)

    yield factory
    problems = []
    for c in started:
        if c.alive():
            # Stop gracefully so sanitizer builds get to report (leaks too).
            try:
                c.proc.send_signal(signal.SIGTERM)
                c.proc.wait(10)
            except subprocess.TimeoutExpired:
                problems.append(f"{c.dir}: did not exit on SIGTERM")
        c.kill()
        log = c.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                problems.append(f"{c.log_path}: {marker}\n{log[-4000:]}")
                break
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# upstream servers

class _ThreadingServer:
    """A TCP server running handler(conn, addr) per connection in threads."""

    def __init__(self, handler, family=socket.AF_INET, host="127.0.0.1", backlog=128):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.peers = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            self.peers.append(addr)
            threading.Thread(target=self._run, args=(conn, addr), daemon=True).start()

    def _run(self, conn, addr):
        try:
            conn.settimeout(60)
            self.handler(conn, addr)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _echo(conn, addr):
    while True:
        data = conn.recv(1 << 16)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


def _eof_reply(conn, addr):
    h, n = hashlib.sha256(), 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        h.update(data)
        n += len(data)
    conn.sendall(f"{n} {h.hexdigest()}\n".encode())


@pytest.fixture
def echo_server():
    s = _ThreadingServer(_echo)
    yield s
    s.close()


@pytest.fixture
def echo_server6():
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    s = _ThreadingServer(_echo, socket.AF_INET6, LOOPBACK6)
    yield s
    s.close()


@pytest.fixture
def eof_server():
    s = _ThreadingServer(_eof_reply)
    yield s
    s.close()


class _HTTPHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/size/"):
            n = int(self.path[len("/size/"):])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for chunk in content_chunks(n):
                self.wfile.write(chunk)
            return
        body = b"hello from the test server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        left, body = n, bytearray()
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            h.update(chunk)
            if self.path == "/echo":
                body += chunk
        out = bytes(body) if self.path == "/echo" else f"{n} {h.hexdigest()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def http_server():
    srv = _HTTPServer(("127.0.0.1", 0), _HTTPHandler)
    srv.port = srv.server_address[1]
    srv.url = lambda path="/": f"http://127.0.0.1:{srv.port}{path}"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


# --------------------------------------------------------------------------
# DNS

class DnsResponder:
    """UDP DNS on 127.0.0.1: names in `records` ({name: [ip, ...]}) get A/AAAA
    answers (empty NOERROR for a missing family), other names NXDOMAIN."""

    def __init__(self, records=None):
        self.records = {k.lower().rstrip("."): v for k, v in (records or {}).items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(2048)
            except OSError:
                return
            try:
                reply = self._answer(data)
            except Exception:  # a malformed query gets no answer
                continue
            self.sock.sendto(reply, peer)

    def _answer(self, q):
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        qtype, qclass = struct.unpack("!HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        answers = []
        rcode = 3
        if name in self.records:
            rcode = 0
            for ip in self.records[name]:
                a = ipaddress.ip_address(ip)
                if (a.version == 4 and qtype == 1) or (a.version == 6 and qtype == 28):
                    answers.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(a.packed))
                                   + a.packed)
        hdr = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                          len(answers), 0, 0)
        return hdr + question + b"".join(answers)

    def close(self):
        self.sock.close()


@pytest.fixture
def dns_server():
    d = DnsResponder()
    yield d
    d.close()


# --------------------------------------------------------------------------
# a raw SOCKS5 client

class SocksError(Exception):
    def __init__(self, rep, msg=""):
        super().__init__(msg or f"SOCKS reply 0x{rep:02x}")
        self.rep = rep


def socks_addr_bytes(host, atyp=None):
    """(ATYP, encoded address) for an IP literal or a name."""
    try:
        a = ipaddress.ip_address(host)
        return (1, a.packed) if a.version == 4 else (4, a.packed)
    except ValueError:
        raw = host.encode()
        return 3, bytes([len(raw)]) + raw


def greeting_bytes(methods=(0,)):
    return bytes([5, len(methods)]) + bytes(methods)


def userpass_bytes(user, password):
    u, p = user.encode(), password.encode()
    return bytes([1, len(u)]) + u + bytes([len(p)]) + p


def request_bytes(host, port, cmd=1, atyp=None):
    t, addr = socks_addr_bytes(host)
    return bytes([5, cmd, 0, atyp if atyp is not None else t]) + addr + struct.pack("!H", port)


class Socks5:
    """Socket-level SOCKS5 client: every step is explicit so tests can send
    arbitrary bytes. Use as a context manager."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        return recv_exact(self.sock, n, self.timeout)

    def greet(self, methods=(0,)):
        """Send a greeting; return the method the server chose."""
        self.send(greeting_bytes(methods))
        return self.read_method()

    def read_method(self):
        ver, m = self.recv_exact(2)
        assert ver == 5, f"method reply version {ver}"
        return m

    def auth(self, user, password):
        """RFC 1929; returns STATUS (0 = success)."""
        self.send(userpass_bytes(user, password))
        return self.read_auth_status()

    def read_auth_status(self):
        ver, status = self.recv_exact(2)
        assert ver == 1, f"auth reply version {ver}"
        return status

    def request(self, host, port, cmd=1, atyp=None):
        self.send(request_bytes(host, port, cmd, atyp))
        return self.read_reply()

    def read_reply(self):
        """(rep, bound host, bound port), parsed exactly (RSV must be 0)."""
        ver, rep, rsv, atyp = self.recv_exact(4)
        assert ver == 5, f"reply version {ver}"
        assert rsv == 0, f"reply RSV {rsv}"
        if atyp == 1:
            host = str(ipaddress.IPv4Address(self.recv_exact(4)))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(self.recv_exact(16)))
        elif atyp == 3:
            host = self.recv_exact(self.recv_exact(1)[0]).decode()
        else:
            raise AssertionError(f"reply ATYP {atyp}")
        (port,) = struct.unpack("!H", self.recv_exact(2))
        return rep, host, port

    def connect(self, host, port, user=None, password=None):
        """Full handshake; raises SocksError unless the reply is 0x00."""
        if user is None:
            assert self.greet((0,)) == 0
        else:
            assert self.greet((2,)) == 2
            st = self.auth(user, password)
            if st != 0:
                raise SocksError(-1, f"auth status {st}")
        rep, bhost, bport = self.request(host, port)
        if rep != 0:
            raise SocksError(rep)
        return bhost, bport
