"""socksbench, the load generator of bench/: its bulk transfers must measure
real, correct relaying. These tests run it against the real csocks and
against a relay that corrupts the payload, in both checking modes (every
byte, and --sample, which checks every 8th read and drops the rest with
MSG_TRUNC): a corrupted payload must fail the run in either mode.
"""
import json
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port

SB_HDR_LEN = 16


@pytest.fixture(scope="module")
def sb_bin(csocks_bin):
    # meson builds socksbench next to csocks (build/bench, build-asan/bench)
    path = csocks_bin.parent / "bench" / "socksbench"
    if not path.is_file():
        pytest.fail(f"socksbench not found at {path}")
    return path


@pytest.fixture
def sb_target(sb_bin):
    """A `socksbench serve` on 127.0.0.1; yields its host:port."""
    proc = subprocess.Popen([str(sb_bin), "serve", "--port", "0", "--bind", "127.0.0.1",
                             "-d", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, f"socksbench serve said {line!r}"
        yield f"127.0.0.1:{m.group(1)}"
    finally:
        proc.kill()
        proc.wait(5)


def run_sb(sb_bin, mode, *args):
    """socksbench MODE ... --json -> (exit code, list of result dicts, stderr)."""
    p = subprocess.run([str(sb_bin), mode, "--json", *args],
                       capture_output=True, text=True, timeout=60)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    return p.returncode, lines, p.stderr


def run_bulk(sb_bin, *args):
    """socksbench bulk ... --json -> (exit code, list of result dicts)."""
    rc, lines, _ = run_sb(sb_bin, "bulk", "--timeout", "20", "-d", "30", *args)
    return rc, lines


class CorruptingRelay:
    """Forwards one TCP connection at a time to target; after the 16-byte
    socksbench header, flips one bit of one byte every 64 KiB of the
    direction given ("down": target -> client, "up": client -> target)."""

    def __init__(self, target, direction):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.direction = direction
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _pump(self, src, dst, corrupt):
        seen = 0
        try:
            while not self.stop.is_set():
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if corrupt:
                    buf = bytearray(data)
                    for i in range(len(buf)):
                        off = seen + i
                        if off >= SB_HDR_LEN and (off - SB_HDR_LEN) % 65536 == 1000:
                            buf[i] ^= 0x01
                    data = bytes(buf)
                seen += len(data)
                dst.sendall(data)
        except OSError:
            pass

    def _accept(self):
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            c.settimeout(30)
            t = socket.create_connection(self.target, timeout=5)
            t.settimeout(30)
            for src, dst, corrupt in ((c, t, self.direction == "up"),
                                      (t, c, self.direction == "down")):
                th = threading.Thread(target=self._pump, args=(src, dst, corrupt), daemon=True)
                th.start()
                self.threads.append(th)

    def close(self):
        self.stop.set()
        self.acceptor.join(5)
        self.lsock.close()
        for th in self.threads:
            th.join(5)


@pytest.mark.parametrize("sample", [False, True])
def test_bulk_through_csocks_is_verified(start_csocks, sb_bin, sb_target, sample):
    cs = start_csocks()
    args = ["--proxy", f"127.0.0.1:{cs.port}", "--target", sb_target, "-c", "2", "-n", "8M",
            "--dir", "both", "--pid", str(cs.proc.pid)]
    rc, res = run_bulk(sb_bin, *args, *(["--sample"] if sample else []))
    assert rc == 0, res
    assert [r["dir"] for r in res] == ["download", "upload"]
    for r in res:
        assert r["verified"] in (True, "true")
        assert r["checked"] == ("sample" if sample else "all")
        assert r["bytes"] == 2 * 8 * 1024 * 1024
        assert r["ok"] == 2
        assert r["MBps"] > 0
        assert "proxy_cpu_s_per_GB" in r


@pytest.mark.parametrize("direction", ["down", "up"])
@pytest.mark.parametrize("sample", [False, True])
def test_bulk_fails_on_corrupted_payload(sb_bin, sb_target, direction, sample):
    relay = CorruptingRelay(sb_target, direction)
    try:
        args = ["--direct", "--target", f"127.0.0.1:{relay.port}", "-c", "1", "-n", "4M",
                "--dir", direction]
        rc, res = run_bulk(sb_bin, *args, *(["--sample"] if sample else []))
    finally:
        relay.close()
    assert rc != 0
    assert len(res) == 1
    r = res[0]
    assert r["verified"] in (False, "false")
    assert r["ok"] == 0


def test_bulk_passes_through_a_clean_relay(sb_bin, sb_target):
    """The control for the test above: the same relay, corrupting nothing."""
    relay = CorruptingRelay(sb_target, "none")
    try:
        rc, res = run_bulk(sb_bin, "--direct", "--target", f"127.0.0.1:{relay.port}",
                           "-c", "1", "-n", "4M", "--dir", "both", "--sample")
    finally:
        relay.close()
    assert rc == 0, res
    assert all(r["verified"] in (True, "true") for r in res)


def time_wait(filt):
    """TCP sockets in TIME_WAIT that match an ss filter ("" for all of them)."""
    out = subprocess.run(["ss", "-Htan", "state", "time-wait", *filt.split()],
                         capture_output=True, text=True, timeout=10).stdout
    return len(out.splitlines())


def run_rate(sb_bin, *args):
    """socksbench rate ... --json -> its one result dict (the run must succeed)."""
    rc, lines, err = run_sb(sb_bin, "rate", "--timeout", "10", "-d", "20", *args)
    assert rc == 0 and len(lines) == 1, (rc, lines, err)
    return lines[0]


def test_rate_server_close_leaves_time_wait_on_server_ports(start_csocks, sb_bin, sb_target):
    """--server-close: the target closes first, the client waits for that EOF,
    so TIME_WAIT lands on the target's and the proxy's listening ports and none
    on the client's or the proxy's ephemeral ports (what lets overhead.sh run
    rate rounds back to back). The default (client closes first) is the
    control: it leaves TIME_WAIT on the client's ephemeral ports."""
    with open("/proc/sys/net/ipv4/tcp_max_tw_buckets") as f:
        tw_max = int(f.read())
    if time_wait("") > tw_max - 5000:
        # A full table keeps no TIME_WAIT at all: nothing here would mean anything.
        pytest.skip(f"the TIME_WAIT table is nearly full (limit {tw_max}): a benchmark ran "
                    "within the last minute")
    cs = start_csocks()
    tport = sb_target.rsplit(":", 1)[1]
    args = ["--proxy", f"127.0.0.1:{cs.port}", "--target", sb_target, "-c", "4",
            "--count", "200"]
    # start_csocks' readiness probe: its TIME_WAIT exists once csocks has
    # closed its side, which it logs; count only after that.
    if cs.wait_log("client closed during handshake", timeout=2):
        time.sleep(0.05)
    client0 = time_wait(f"dport = :{cs.port}")
    r = run_rate(sb_bin, *args, "--server-close")
    assert r["started"] == 200 and r["ok"] == 200, r
    assert time_wait(f"dport = :{cs.port}") == client0  # the client's ephemeral side
    # The proxy's upstream sockets: none, but for a rare straggler on a loaded
    # (sanitizer) run; the control below shows what a wrong order leaves.
    assert time_wait(f"dport = :{tport}") <= 4
    assert time_wait(f"sport = :{tport}") >= 150  # the target closed first

    r = run_rate(sb_bin, *args)
    assert r["ok"] == 200, r
    assert time_wait(f"dport = :{cs.port}") >= client0 + 150
