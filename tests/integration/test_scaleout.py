"""Scale-out (docs/deployment.md): csocks nodes on 127.0.0.11/.12/.13 behind
Debian's HAProxy in TCP mode (roundrobin, send-proxy-v2, health checks on
each node's /health), all writing sessions to one PostgreSQL.

Shown here:
  * the client's real address (the client binds 127.0.0.3; HAProxy connects
    from 127.0.0.5) reaches every node: session rows (source_ip), the ACL's
    rejected_by_acl rows and the access log; PAM_RHOST in
    test_pam_address_sees_the_client_behind_haproxy (root + pam-test.sh
    fixtures);
  * every node serves (rows carry the node's sessions.node_name);
  * SIGKILL of one node: its live tunnel ends, HAProxy marks it DOWN, new
    connections go to the others and all succeed;
  * nodes stopped cleanly (SIGTERM right after their last session) lose no
    row;
  * /api/sessions/history and /api/sessions/stats on any node show every
    node's sessions;
  * qos.connection_limits.max_connections_per_user holds per node, not
    cluster-wide (test_per_user_limit_is_per_node).

Needs CSOCKS_TEST_PG_URL (scripts/test-setup.sh starts PostgreSQL through
scripts/pg-test.sh) and haproxy (scripts/deps.sh test)."""
import csv
import io
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import (Csocks, greeting_bytes, listens_on, recv_exact, request_bytes,
                      to_toml, userpass_bytes)

PG_URL = os.environ.get("CSOCKS_TEST_PG_URL")
if os.environ.get("CSOCKS_TEST_REQUIRE_PG") == "1" and not PG_URL:
    raise RuntimeError("CSOCKS_TEST_REQUIRE_PG=1 but PostgreSQL did not start")
pytestmark = pytest.mark.skipif(not PG_URL, reason="no PostgreSQL (CSOCKS_TEST_PG_URL unset; "
                                "scripts/test-setup.sh starts one)")

NODE_ADDRS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
CLIENT = "127.0.0.3"   # where the client connects from
BALANCER = "127.0.0.5"  # where HAProxy connects to the nodes from
PASSWORD = "scale-Pw-1"
ACL = """
[global]
default_policy = "allow"

[[users]]
username = "@USER@"

[[users.rules]]
action = "block"
description = "no blocked.example"
destinations = ["blocked.example"]
ports = ["*"]
protocols = ["both"]
priority = 100
"""


def free_port_on(addr):
    s = socket.socket()
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def psql(sql):
    r = subprocess.run(["psql", PG_URL, "-At", "-F", "|", "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [line.split("|") for line in r.stdout.splitlines() if line]


def wait_for(fn, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def api(node, path):
    with urllib.request.urlopen(f"http://{node.addr}:{node.api_port}{path}", timeout=10) as r:
        return json.loads(r.read())


class Node(Csocks):
    """A csocks listening on its own loopback address."""

    def __init__(self, binary, workdir, config_text, addr, port, api_port):
        super().__init__(binary, workdir, config_text, port, api_port)
        self.addr = addr

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"csocks exited with {self.proc.returncode}:\n"
                                     + self.log_text())
            try:
                with socket.create_connection((self.addr, self.api_port), timeout=0.5):
                    pass
                if listens_on(self.proc.pid, self.port):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"node {self.addr} not ready in {timeout}s:\n{self.log_text()}")


class Cluster:
    def __init__(self, binary, tmp_path, n, auth, tag, qos=None):
        self.tag = tag
        self.nodes = []
        self.dir = tmp_path
        for i, addr in enumerate(NODE_ADDRS[:n]):
            port, api_port = free_port_on(addr), free_port_on(addr)
            d = tmp_path / f"node{i + 1}"
            d.mkdir()
            cfg = {
                "server": {"bind_address": addr, "bind_port": port, "worker_threads": 2,
                           "proxy_protocol": True, "shutdown_timeout_secs": 5},
                "auth": auth,
                "logging": {"level": "info"},
                "acl": {"enabled": False},
                "sessions": {"enabled": True, "storage": "postgres", "database_url": PG_URL,
                             "node_name": f"n{i + 1}-{tag}", "batch_size": 50,
                             "batch_interval_ms": 100, "stats_api_enabled": True,
                             "stats_api_bind_address": addr, "stats_api_port": api_port},
                "metrics": {"enabled": False},
            }
            if auth.get("socks_method") == "userpass":
                (d / "acl.toml").write_text(ACL.replace("@USER@", auth["users"][0]["username"]))
                cfg["acl"] = {"enabled": True, "config_file": str(d / "acl.toml")}
            if qos:
                cfg["qos"] = qos
            self.nodes.append(Node(binary, d, to_toml(cfg), addr, port, api_port))
        self.port = free_port_on("127.0.0.1")
        self.stats_sock = tmp_path / "haproxy.sock"
        servers = "\n".join(
            f"    server n{i + 1} {c.addr}:{c.port} send-proxy-v2 check addr {c.addr} "
            f"port {c.api_port} inter 200ms fall 2 rise 2"
            for i, c in enumerate(self.nodes))
        (tmp_path / "haproxy.cfg").write_text(f"""
global
    stats socket {self.stats_sock} mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
frontend socks
    bind 127.0.0.1:{self.port}
    default_backend nodes
backend nodes
    balance roundrobin
    source {BALANCER}
    option httpchk GET /health
    http-check expect status 200
{servers}
""")
        self.haproxy = None

    def start(self):
        for c in self.nodes:
            c.start(wait=False)
        for c in self.nodes:
            c.wait_ready()
        self._hlog = open(self.dir / "haproxy.log", "wb")
        self.haproxy = subprocess.Popen(
            ["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")],
            stdin=subprocess.DEVNULL, stdout=self._hlog, stderr=subprocess.STDOUT)
        wait_for(lambda: all(s == "UP" for s in self.server_status().values())
                 and len(self.server_status()) == len(self.nodes), "HAProxy: all nodes UP")
        return self

    def server_status(self):
        """{"n1": "UP", ...} from HAProxy's stats socket ("show stat")."""
        if self.haproxy.poll() is not None:
            raise AssertionError("haproxy exited:\n" + (self.dir / "haproxy.log").read_text())
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(str(self.stats_sock))
        except OSError:
            s.close()
            return {}
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {r["svname"]: r["status"].split()[0] for r in rows
                if r["pxname"] == "nodes" and r["svname"] not in ("FRONTEND", "BACKEND")}

    def stop(self):
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.send_signal(signal.SIGUSR1)  # soft stop
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait(5)
        if self.haproxy:
            self._hlog.close()
        for c in self.nodes:
            if c.alive():
                c.proc.send_signal(signal.SIGTERM)
                try:
                    c.proc.wait(10)
                except subprocess.TimeoutExpired:
                    c.kill()
            c.kill()


@pytest.fixture
def cluster(csocks_bin, tmp_path):
    if not shutil.which("haproxy"):
        pytest.fail("haproxy is not installed (scripts/deps.sh test installs it)")
    made = []

    def factory(n, auth, qos=None):
        c = Cluster(csocks_bin, tmp_path, n, auth, os.urandom(4).hex(), qos)
        made.append(c)
        return c.start()

    yield factory
    for c in made:
        c.stop()


@pytest.fixture(scope="module")
def pw_hash(csocks_bin):
    r = subprocess.run([str(csocks_bin), "--hash-password"], input=PASSWORD.encode() + b"\n",
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def userpass(user, pw_hash):
    return {"client_method": "none", "socks_method": "userpass",
            "users": [{"username": user, "password_hash": pw_hash}]}


def socks_connect(port, user, host, dport, src=CLIENT, timeout=10.0):
    """SOCKS5 CONNECT through HAProxy from source address src; returns
    (socket, reply code)."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(greeting_bytes((2,)))
    assert recv_exact(s, 2) == b"\x05\x02"
    s.sendall(userpass_bytes(user, PASSWORD))
    assert recv_exact(s, 2) == b"\x01\x00"
    s.sendall(request_bytes(host, dport))
    head = recv_exact(s, 4)
    rep = head[1]
    if rep == 0:
        alen = {1: 4, 4: 16}.get(head[3])
        alen = alen if alen is not None else recv_exact(s, 1)[0]
        recv_exact(s, alen + 2)
    return s, rep


def echo_once(port, user, echo_port, payload):
    s, rep = socks_connect(port, user, "127.0.0.1", echo_port)
    try:
        assert rep == 0, f"reply {rep}"
        s.sendall(payload)
        assert recv_exact(s, len(payload)) == payload
    finally:
        s.close()


def user_rows(user):
    return psql("SELECT node, source_ip, status, dest_ip, bytes_sent FROM sessions "
                f"WHERE \"user\" = '{user}' ORDER BY start_time")


def test_scaleout_behind_haproxy(cluster, pw_hash, echo_server):
    user = "scale_" + os.urandom(4).hex()
    cl = cluster(3, userpass(user, pw_hash))
    names = [f"n{i + 1}-{cl.tag}" for i in range(3)]

    # Round robin: 9 sessions, 3 per node; 3 more the ACL blocks.
    for i in range(9):
        echo_once(cl.port, user, echo_server.port, b"hello %d" % i)
    for _ in range(3):
        s, rep = socks_connect(cl.port, user, "blocked.example", 443)
        s.close()
        assert rep == 2, "the ACL block rule answers 0x02"
    rows = wait_for(lambda: (lambda r: r if len(r) == 12 else None)(user_rows(user)), "12 rows")
    assert {r[1] for r in rows} == {CLIENT}, "source_ip is the client's, not HAProxy's"
    assert {r[0] for r in rows} == set(names), "every node served and wrote its name"
    closed = [r for r in rows if r[2] == "closed"]
    blocked = [r for r in rows if r[2] == "rejected_by_acl"]
    assert len(closed) == 9 and len(blocked) == 3
    assert {r[3] for r in blocked} == {"blocked.example"}
    for c in cl.nodes:
        assert f"client={CLIENT}:" in c.log_text()
        assert f"client={BALANCER}" not in c.log_text()
    # The echo server saw the nodes' connections, never the client's address.
    assert CLIENT not in {p[0] for p in echo_server.peers}

    # Every node's API shows every node's sessions.
    for c in cl.nodes:
        h = api(c, f"/api/sessions/history?user={user}&page_size=1000&hours=1")
        assert h["total"] == 12
        assert {s["node"] for s in h["data"]} == set(names)
        assert {s["source_ip"] for s in h["data"]} == {CLIENT}
        st = api(c, "/api/sessions/stats?window_hours=1")
        mine = [u for u in st["top_users"] if u["user"] == user]
        assert mine and mine[0]["session_count"] == 12, st["top_users"]

    # A live tunnel; find its node, then SIGKILL that node.
    t, rep = socks_connect(cl.port, user, "127.0.0.1", echo_server.port)
    assert rep == 0
    t.sendall(b"live")
    assert recv_exact(t, 4) == b"live"
    victim = wait_for(lambda: next((c for c in cl.nodes if any(
        s["user"] == user for s in api(c, "/api/sessions/active"))), None), "the live tunnel")
    vname = f"n{cl.nodes.index(victim) + 1}"
    victim.kill()
    t.settimeout(10)
    try:
        ended = t.recv(1) == b""
    except OSError:
        ended = True
    t.close()
    assert ended, "the tunnel through the killed node ended"
    wait_for(lambda: cl.server_status().get(vname) == "DOWN", f"HAProxy marks {vname} DOWN")
    others = [c for c in cl.nodes if c is not victim]
    other_names = {f"n{cl.nodes.index(c) + 1}-{cl.tag}" for c in others}

    # New connections all succeed, on the other nodes only.
    before = len(user_rows(user))
    for i in range(6):
        echo_once(cl.port, user, echo_server.port, b"after %d" % i)
    # Stop the survivors cleanly right away: the shutdown flush must write
    # every row (nothing waited for the batch interval).
    for c in others:
        c.stop()
    rows = user_rows(user)
    new = rows[before:]
    assert len(new) == 6, rows
    assert {r[0] for r in new} == other_names
    assert all(r[2] == "closed" and r[1] == CLIENT and r[4] == str(len(b"after 0"))
               for r in new), new


def test_per_user_limit_is_per_node(cluster, pw_hash, echo_server):
    """max_connections_per_user = 1 is enforced by each node on its own
    connections: behind two nodes one user holds two tunnels (the limit is
    not shared through PostgreSQL; docs/deployment.md)."""
    user = "limit_" + os.urandom(4).hex()
    cl = cluster(2, userpass(user, pw_hash),
                 qos={"enabled": True, "htb": {"global_bandwidth_bytes_per_sec": 0,
                                               "max_bandwidth_bytes_per_sec": 0},
                      "connection_limits": {"max_connections_per_user": 1,
                                            "max_connections_global": 0}})
    held, reps = [], []
    try:
        for _ in range(3):
            s, rep = socks_connect(cl.port, user, "127.0.0.1", echo_server.port)
            reps.append(rep)
            if rep == 0:
                held.append(s)
            else:
                s.close()
        # roundrobin: node 1, node 2, node 1 again -> the third is over node
        # 1's limit.
        assert reps[:2] == [0, 0], reps
        assert reps[2] != 0, reps
    finally:
        for s in held:
            s.close()


def _pam_fixtures_missing():
    if os.geteuid() != 0:
        return "PAM needs root (the pam-test.sh fixtures are system-wide)"
    try:
        pwd.getpwnam("csocks_rhost")
    except KeyError:
        return "csocks_rhost missing: run `scripts/pam-test.sh setup` as root first"
    if not os.path.exists("/etc/pam.d/csocks-test-access"):
        return "/etc/pam.d/csocks-test-access missing: run `scripts/pam-test.sh setup`"
    return None


def test_pam_address_sees_the_client_behind_haproxy(cluster, echo_server):
    """csocks-test-access admits 127.0.0.1 and refuses every other address:
    a client on 127.0.0.1 gets through HAProxy (which connects from
    127.0.0.5, refused), one on 127.0.0.2 does not, on every node."""
    why = _pam_fixtures_missing()
    if why:
        if os.environ.get("CSOCKS_TEST_PAM") == "1":
            pytest.fail(why)
        pytest.skip(why)
    cl = cluster(2, {"client_method": "pam.address", "socks_method": "none",
                     "pam": {"address_service": "csocks-test-access",
                             "default_user": "csocks_rhost", "default_ruser": "csocks_rhost",
                             "verify_service": True}})
    for i in range(4):  # round robin: both nodes, twice
        s = socket.socket()
        s.settimeout(10)
        s.bind(("127.0.0.1", 0))
        s.connect(("127.0.0.1", cl.port))
        s.sendall(greeting_bytes((0,)))
        assert recv_exact(s, 2) == b"\x05\x00", "127.0.0.1 admitted by PAM_RHOST"
        s.sendall(request_bytes("127.0.0.1", echo_server.port))
        assert recv_exact(s, 10)[1] == 0
        s.sendall(b"pam %d" % i)
        assert recv_exact(s, 5) == b"pam %d" % i
        s.close()
    for _ in range(4):
        s = socket.socket()
        s.settimeout(10)
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", cl.port))
        try:
            s.sendall(greeting_bytes((0,)))
            got = s.recv(2)
        except OSError:
            got = b""
        s.close()
        assert got == b"", "127.0.0.2 refused before any SOCKS byte"
    for c in cl.nodes:
        assert c.wait_log("client=127.0.0.2"), c.log_text()
