"""Authentication through the real binary with real PAM (SPEC.md section 2):
pam.username against pam_unix (local users) and pam_pwdfile, wrong password,
unknown user, locked and expired accounts; pam.address deciding by the client
address (PAM_RHOST: 127.0.0.1 admitted, 127.0.0.2 refused) in both tiers;
NSS groups reaching the ACL; privilege drop to nobody with PAM still working
through the monitors; failed-login throttling per address.

Needs root and the fixtures of scripts/pam-test.sh (the test runner calls
`scripts/pam-test.sh setup` first); skips with the reason otherwise. Names
and passwords below are the ones that script creates."""
import os
import pwd
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Socks5, is_closed, recv_exact

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("csocks-test-unix", "csocks-test-pwdfile", "csocks-test-access")


def _fixtures_missing():
    if os.geteuid() != 0:
        return "real PAM tests need root (pam_unix reads /etc/shadow; users are created)"
    try:
        pwd.getpwnam("csocks_alice")
        pwd.getpwnam("csocks_rhost")
    except KeyError:
        return "test users missing: run `scripts/pam-test.sh setup` as root first"
    for s in SERVICES:
        if not os.path.exists(f"/etc/pam.d/{s}"):
            return f"/etc/pam.d/{s} missing: run `scripts/pam-test.sh setup` first"
    return None


# The test runner (scripts/test.sh) sets CSOCKS_TEST_PAM=1 after setting the
# fixtures up: then a missing fixture is a failure, not a skip.
if os.environ.get("CSOCKS_TEST_PAM") == "1" and _fixtures_missing():
    raise RuntimeError(f"PAM fixtures were set up but are missing: {_fixtures_missing()}")

pytestmark = pytest.mark.skipif(_fixtures_missing() is not None,
                                reason=_fixtures_missing() or "")

ALICE = ("csocks_alice", "alice-Pw-1")
BOB = ("csocks_bob", "bob-Pw-2")


def socks_from(port, src="127.0.0.1", timeout=10.0):
    """A Socks5 client whose socket is bound to the source address src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Socks5.__new__(Socks5)
    c.sock = s
    c.timeout = timeout
    return c


def pam_username(service="csocks-test-unix", **extra):
    cfg = {"auth": {"socks_method": "pam.username",
                    "pam": {"username_service": service, "verify_service": True}}}
    for k, v in extra.items():
        cfg.setdefault(k, {}).update(v)
    return cfg


def login(port, user, password, src="127.0.0.1"):
    """RFC 1929 status (0 = success); the connection is closed after a refusal."""
    with socks_from(port, src) as c:
        assert c.greet((2,)) == 2
        st = c.auth(user, password)
        if st != 0:
            assert is_closed(c.sock), "connection left open after a refused login"
        return st


def echo_through(port, echo, user=None, password=None, src="127.0.0.1"):
    with socks_from(port, src) as c:
        c.connect("127.0.0.1", echo.port, user, password)
        c.send(b"ping through csocks")
        return recv_exact(c.sock, 19)


# ---------------------------------------------------------------- pam.username

def test_pam_unix_login_relays(start_csocks, echo_server):
    cs = start_csocks(pam_username())
    assert echo_through(cs.port, echo_server, *ALICE) == b"ping through csocks"
    assert echo_through(cs.port, echo_server, *BOB) == b"ping through csocks"


def test_pam_unix_refusals(start_csocks):
    cs = start_csocks(pam_username())
    assert login(cs.port, "csocks_alice", "wrong-password") != 0
    assert login(cs.port, "csocks_no_such_user", "whatever") != 0
    assert login(cs.port, "csocks_locked", "locked-Pw-3") != 0   # usermod -L
    assert login(cs.port, "csocks_expired", "expired-Pw-4") != 0  # pam_acct_mgmt
    assert login(cs.port, "csocks_alice", "") != 0
    log = cs.log_text()
    assert "outcome=account_refused" in log  # the expired account got past auth
    assert "user=csocks_locked" in log
    for secret in ("wrong-password", "locked-Pw-3", "expired-Pw-4"):
        assert secret not in log, "a password reached the log"


def test_pam_pwdfile(start_csocks, echo_server):
    cs = start_csocks(pam_username("csocks-test-pwdfile"))
    # sha512-crypt and md5-crypt entries; neither user exists in /etc/passwd.
    assert echo_through(cs.port, echo_server, "csocks_pwd_carol", "carol-Pw-5") \
        == b"ping through csocks"
    assert login(cs.port, "csocks_pwd_dave", "dave-Pw-6") == 0
    assert login(cs.port, "csocks_pwd_carol", "dave-Pw-6") != 0
    assert login(cs.port, "csocks_alice", "alice-Pw-1") != 0  # not in the file


def test_pam_username_method_negotiation(start_csocks):
    cs = start_csocks(pam_username())
    with socks_from(cs.port) as c:
        assert c.greet((0,)) == 0xFF  # credentials are required
        assert is_closed(c.sock)


# ---------------------------------------------------------------- pam.address

def pam_address(tier):
    key = "client_method" if tier == "client" else "socks_method"
    return {"auth": {key: "pam.address",
                     "pam": {"address_service": "csocks-test-access",
                             "default_user": "csocks_rhost",
                             "default_ruser": "csocks_rhost",
                             "verify_service": True}}}


def test_pam_address_client_tier(start_csocks, echo_server):
    cs = start_csocks(pam_address("client"))
    assert echo_through(cs.port, echo_server) == b"ping through csocks"
    # 127.0.0.2 is refused before any SOCKS byte: the server closes without
    # answering the greeting.
    with socks_from(cs.port, "127.0.0.2") as c:
        try:
            c.send(bytes([5, 1, 0]))
        except OSError:
            pass
        assert is_closed(c.sock, timeout=5)
    assert cs.wait_log("client=127.0.0.2")


def test_pam_address_socks_tier(start_csocks, echo_server):
    cs = start_csocks(pam_address("socks"))
    assert echo_through(cs.port, echo_server) == b"ping through csocks"
    with socks_from(cs.port, "127.0.0.2") as c:
        c.send(bytes([5, 1, 0]))
        try:
            ver, method = recv_exact(c.sock, 2, timeout=5)
            assert method == 0xFF
        except (AssertionError, ConnectionResetError):
            pass  # closed without a method: refused as well
        assert is_closed(c.sock)


# ---------------------------------------------------------------- groups -> ACL

def test_supplementary_group_gets_group_rules(start_csocks, echo_server):
    acl = f"""
[global]
default_policy = "block"

[[groups]]
name = "csocks_devs"
  [[groups.rules]]
  action = "allow"
  description = "devs reach the echo server"
  destinations = ["127.0.0.1"]
  ports = ["{echo_server.port}"]
  protocols = ["tcp"]
"""
    cs = start_csocks(pam_username(), acl=acl)
    # alice is in csocks_devs (NSS, /etc/group); bob is not.
    assert echo_through(cs.port, echo_server, *ALICE) == b"ping through csocks"
    with socks_from(cs.port) as c:
        assert c.greet((2,)) == 2
        assert c.auth(*BOB) == 0
        rep, _, _ = c.request("127.0.0.1", echo_server.port)
        assert rep == 0x02


# ---------------------------------------------------------------- privilege drop

def proc_ids(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    uids = [int(x) for x in re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()]
    gids = [int(x) for x in re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()]
    return uids, gids


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(pid)],
                         capture_output=True, text=True).stdout
    return [(int(p), c) for p, c in (line.split(None, 1) for line in out.split("\n") if line)]


def test_privilege_drop_to_nobody_pam_still_works(start_csocks, echo_server):
    nobody = pwd.getpwnam("nobody")
    cs = start_csocks(pam_username(server={"user": "nobody"}))
    # The port accepts as soon as it is bound, which is before the drop:
    # wait for the start-up to finish ("listening on" is logged after it).
    assert cs.wait_log("listening on")
    uids, gids = proc_ids(cs.pid)
    assert uids == [nobody.pw_uid] * 4, f"worker process uids {uids}"
    assert gids == [nobody.pw_gid] * 4, f"worker process gids {gids}"
    # PAM runs in root monitors; pam_unix can still read /etc/shadow.
    kids = children(cs.pid)
    monitors = [p for p, c in kids if c.strip() == "csocks-monitor"]
    assert monitors, f"no monitor among {kids}"
    for p in monitors:
        assert proc_ids(p)[0][0] == 0
    assert echo_through(cs.port, echo_server, *ALICE) == b"ping through csocks"
    assert login(cs.port, "csocks_alice", "nope") != 0
    assert login(cs.port, *BOB) == 0
    cs.stop()
    # The monitors go away with the main process.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in monitors):
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in monitors)


def test_privilege_drop_failure_refuses_to_start(start_csocks):
    cs = start_csocks(pam_username(server={"user": "csocks_no_such_user"}), wait=False)
    try:
        cs.proc.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail("csocks kept running with an impossible server.user")
    assert cs.proc.returncode != 0
    assert "csocks_no_such_user" in cs.log_text()


# ---------------------------------------------------------------- throttling

def test_throttling_locks_out_the_address_only(start_csocks, echo_server):
    cs = start_csocks(pam_username(auth={"throttle": {"enabled": True, "max_attempts": 3,
                                                      "window_secs": 60,
                                                      "lockout_secs": 120}}))
    for _ in range(3):
        assert login(cs.port, "csocks_alice", "bad-guess") != 0
    assert cs.wait_log("locked out")
    # Now even the right password fails from 127.0.0.1, at once ...
    t0 = time.monotonic()
    assert login(cs.port, *ALICE) != 0
    assert time.monotonic() - t0 < 2
    # ... while another address logs in fine.
    assert echo_through(cs.port, echo_server, *ALICE, src="127.0.0.2") \
        == b"ping through csocks"
