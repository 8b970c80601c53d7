"""BIND through the real binary: two replies, data both ways with
half-close, a peer from the wrong address refused (and the right one still
accepted), DST.ADDR 0.0.0.0 accepting anyone, the timeout answered with an
error reply, the ACL on the request, the listener closed when the client
goes, and no fd left behind."""
import socket
import time

import pytest

from conftest import (LOOPBACK6, Socks5, fd_count, has_ipv6_loopback, is_closed, recv_all,
                      wait_fds)

LOCAL2 = "127.0.0.2"


def bind_request(port, dst=("127.0.0.1", 0), host="127.0.0.1"):
    """A control connection with a BIND request sent; returns (client, first reply)."""
    c = Socks5(port, host=host)
    assert c.greet((0,)) == 0
    first = c.request(dst[0], dst[1], cmd=2)
    return c, first


def peer_connect(addr, src=None, timeout=5):
    s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(addr)
    return s


def can_bind(host):
    try:
        with socket.socket() as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def test_two_replies_and_data_both_ways(start_csocks):
    p = start_csocks()
    c, (rep, host, port) = bind_request(p.port)
    with c:
        assert rep == 0
        assert host == "127.0.0.1" and port not in (0, p.port)
        peer = peer_connect((host, port))
        with peer:
            rep2, phost, pport = c.read_reply()
            assert rep2 == 0
            assert (phost, pport) == peer.getsockname()  # the peer's address and port
            c.send(b"from client")
            assert peer.recv(100) == b"from client"
            peer.sendall(b"from peer" * 1000)
            assert c.recv_exact(9000) == b"from peer" * 1000
            # Half-close both ways.
            peer.shutdown(socket.SHUT_WR)
            c.send(b"after peer EOF")
            assert peer.recv(100) == b"after peer EOF"
            c.sock.shutdown(socket.SHUT_WR)
            assert recv_all(peer, timeout=5) == b""
            assert recv_all(c.sock, timeout=5) == b""
    assert p.wait_log("phase=relay")


def test_pipelined_client_data_reaches_peer(start_csocks):
    p = start_csocks()
    c, (rep, host, port) = bind_request(p.port)
    with c:
        c.send(b"early bytes")  # before the peer exists
        time.sleep(0.2)
        with peer_connect((host, port)) as peer:
            assert c.read_reply()[0] == 0
            assert peer.recv(100) == b"early bytes"


def test_wrong_peer_refused_then_right_peer(start_csocks):
    if not can_bind(LOCAL2):
        pytest.skip("cannot bind 127.0.0.2")
    p = start_csocks({"server": {"bind_address": "0.0.0.0"}})
    c, (rep, host, port) = bind_request(p.port, dst=("127.0.0.1", 0))
    with c:
        assert rep == 0 and host == "127.0.0.1"
        wrong = peer_connect((host, port), src=LOCAL2)
        with wrong:
            assert is_closed(wrong, timeout=3)
        # No second reply for the refused peer.
        c.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.sock.recv(1)
        with peer_connect((host, port), src="127.0.0.1") as right:
            rep2, phost, pport = c.read_reply()
            assert rep2 == 0 and phost == "127.0.0.1"
            right.sendall(b"ok")
            assert c.recv_exact(2) == b"ok"


def test_any_address_accepts_any_peer(start_csocks):
    if not can_bind(LOCAL2):
        pytest.skip("cannot bind 127.0.0.2")
    p = start_csocks()
    c, (rep, host, port) = bind_request(p.port, dst=("0.0.0.0", 0))
    with c:
        assert rep == 0
        with peer_connect((host, port), src=LOCAL2) as peer:
            rep2, phost, _ = c.read_reply()
            assert rep2 == 0 and phost == LOCAL2
            c.send(b"x")
            assert peer.recv(1) == b"x"


def test_only_one_connection(start_csocks):
    p = start_csocks()
    c, (rep, host, port) = bind_request(p.port)
    with c:
        with peer_connect((host, port)) as first:
            assert c.read_reply()[0] == 0
            with pytest.raises(OSError):
                peer_connect((host, port), timeout=2).close()
            first.sendall(b"1")
            assert c.recv_exact(1) == b"1"


def test_timeout_error_reply(start_csocks):
    p = start_csocks({"server": {"bind_timeout_ms": 300}})
    c, (rep, host, port) = bind_request(p.port)
    with c:
        assert rep == 0
        t0 = time.monotonic()
        rep2, _, _ = c.read_reply()
        assert rep2 == 0x06
        assert 0.25 < time.monotonic() - t0 < 3
        assert is_closed(c.sock)
    assert p.wait_log("bind timeout")
    # The listener is gone.
    with pytest.raises(OSError):
        peer_connect((host, port), timeout=2).close()


def test_acl_blocks_bind(start_csocks):
    acl = """
[global]
default_policy = "allow"

[[users]]
username = "anonymous"
groups = []

[[users.rules]]
action = "block"
description = "no bind for 127.0.0.9"
destinations = ["127.0.0.9"]
ports = ["*"]
protocols = ["tcp"]
priority = 100
"""
    p = start_csocks(acl=acl)
    c, (rep, _, _) = bind_request(p.port, dst=("127.0.0.9", 21))
    with c:
        assert rep == 0x02
        assert is_closed(c.sock)
    c, (rep, _, _) = bind_request(p.port, dst=("127.0.0.1", 21))
    with c:
        assert rep == 0x00


def test_client_gone_closes_listener(start_csocks):
    p = start_csocks()
    before = fd_count(p.pid)
    c, (rep, host, port) = bind_request(p.port)
    assert rep == 0
    c.close()
    assert p.wait_log("while waiting for the bind peer")
    assert wait_fds(p.pid, before, timeout=5) <= before
    with pytest.raises(OSError):
        peer_connect((host, port), timeout=2).close()


def test_ipv6_bind(start_csocks):
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    p = start_csocks({"server": {"bind_address": LOOPBACK6}}, wait=False)
    deadline = time.monotonic() + 5
    while True:
        try:
            socket.create_connection((LOOPBACK6, p.port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline, p.log_text()
            time.sleep(0.05)
    c, (rep, host, port) = bind_request(p.port, dst=(LOOPBACK6, 0), host=LOOPBACK6)
    with c:
        assert rep == 0 and host == LOOPBACK6
        with peer_connect((host, port)) as peer:
            rep2, phost, _ = c.read_reply()
            assert rep2 == 0 and phost == LOOPBACK6
            peer.sendall(b"six")
            assert c.recv_exact(3) == b"six"


def test_many_binds_no_fd_leak(start_csocks):
    p = start_csocks()
    for _ in range(20):  # warm up: every worker's pipe pool gets its pipe
        c, (_, host, port) = bind_request(p.port)
        with c, peer_connect((host, port)) as peer:
            c.read_reply()
            peer.sendall(b"w")
            assert c.recv_exact(1) == b"w"
    time.sleep(0.2)
    base = fd_count(p.pid)
    for i in range(200):
        c, (rep, host, port) = bind_request(p.port)
        assert rep == 0
        if i % 2:
            with peer_connect((host, port)) as peer:
                assert c.read_reply()[0] == 0
                peer.sendall(b"z")
                assert c.recv_exact(1) == b"z"
        c.close()
    assert wait_fds(p.pid, base) == base
