"""GSSAPI (RFC 1961) with real Kerberos: an MIT KDC of our own
(scripts/kdc-test.sh, realm CSOCKS.TEST on loopback), csocks accepting with
the service socks/localhost from its keytab, and two real clients: the
python3-gssapi client in gss_socks_client.py and curl --socks5-gssapi.

Debian 12's curl (7.88) finishes the RFC 1961 exchange (it prints "SOCKS5
server authenticated user ..." and "access without GSS-API data protection
granted") but then fails on a bug of its own ("Undocumented SOCKS5 mode")
before it sends the request; the curl test asserts the exchange and, with a
curl that has the fix, the HTTP response. The refusals are checked with the
python client, which reports the stage where it stopped.

The KDC is part of the suite: when it cannot start, these tests fail."""
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Socks5

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLIENT = HERE / "gss_socks_client.py"


@pytest.fixture(scope="module")
def kdc(tmp_path_factory):
    d = Path(f"/tmp/csocks-kdc-{os.getpid()}")
    env = dict(os.environ, CSOCKS_KDC_DIR=str(d))
    r = subprocess.run([str(REPO / "scripts" / "kdc-test.sh"), "start"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"KDC did not start:\n{r.stdout}\n{r.stderr}"
    kenv = dict(re.findall(r"^export (\w+)=(.*)$", r.stdout, re.M))
    assert "KRB5_CONFIG" in kenv and "CSOCKS_KDC_KEYTAB" in kenv, r.stdout
    kenv["dir"] = str(d)
    yield kenv
    subprocess.run([str(REPO / "scripts" / "kdc-test.sh"), "stop"], env=env,
                   capture_output=True, timeout=120)
    Path(f"{d}.flock").unlink(missing_ok=True)


def kinit(kdc, tmp_path, user, lifetime=None):
    """A ticket cache for user (password from the KDC script); its env."""
    cc = tmp_path / f"cc-{user}-{time.monotonic_ns()}"
    env = dict(os.environ, KRB5_CONFIG=kdc["KRB5_CONFIG"], KRB5CCNAME=f"FILE:{cc}")
    cmd = ["kinit"] + (["-l", lifetime] if lifetime else []) + [user]
    r = subprocess.run(cmd, input=f"{user}pw\n", env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return env


def no_ticket_env(kdc, tmp_path):
    return dict(os.environ, KRB5_CONFIG=kdc["KRB5_CONFIG"],
                KRB5CCNAME=f"FILE:{tmp_path / 'cc-empty'}")


def gss_config(kdc, **gss):
    g = {"service_name": "socks", "keytab_path": kdc["CSOCKS_KDC_KEYTAB"],
         "protection_level": "none", "verbose": True}
    g.update(gss)
    return {"auth": {"socks_method": "gssapi", "gssapi": g}}


def start_gss(start_csocks, kdc, tmp_path, overrides=None, acl=None, **gss):
    cfg = gss_config(kdc, **gss)
    for k, v in (overrides or {}).items():
        cfg.setdefault(k, {}).update(v)
    # The replay cache: in a folder of the KDC's (world-traversable: after a
    # drop to nobody the acceptor still writes krb5_<uid>.rcache2 there).
    rc = Path(kdc["dir"]) / f"rcache-{time.monotonic_ns()}"
    rc.mkdir()
    os.chmod(rc, 0o1777)
    env = {"KRB5_CONFIG": kdc["KRB5_CONFIG"], "KRB5RCACHEDIR": str(rc)}
    return start_csocks(cfg, acl=acl, env=env)


def client(proxy, dest, env, *args):
    r = subprocess.run([sys.executable, str(CLIENT), "--proxy", str(proxy), "--dest", dest,
                        *args], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip(), r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def rows(db):
    con = sqlite3.connect(db, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM sessions")]
    finally:
        con.close()


def wait_rows(db, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        got = rows(db) if db.exists() else []
        if pred(got):
            return got
        time.sleep(0.05)
    return got


def sessions_cfg(db):
    return {"sessions": {"enabled": True, "storage": "sqlite", "database_url": f"sqlite://{db}",
                         "batch_size": 50, "batch_interval_ms": 100}}


def test_python_client_gets_through_and_the_session_has_the_principal_user(
        start_csocks, kdc, tmp_path, http_server):
    db = tmp_path / "s.db"
    p = start_gss(start_csocks, kdc, tmp_path, sessions_cfg(db))
    assert p.wait_log("gssapi: acceptor socks ready (2 keys")
    out = client(p.port, f"127.0.0.1:{http_server.port}", kinit(kdc, tmp_path, "alice"))
    assert out["ok"], out
    assert out["principal"] == "alice@CSOCKS.TEST"
    assert out["level"] == 0  # asked for confidentiality, granted none
    assert " 200 OK" in out["body"] and "hello from the test server" in out["body"]
    got = wait_rows(db, lambda r: any(x["status"] == "closed" for x in r))
    assert [x["user"] for x in got] == ["alice"], got
    assert p.wait_log("asked for protection level 2 (confidentiality)")
    assert p.wait_log("user=alice")
    p.stop()


def test_nec_unwrapped_protection_level_and_full_principal_user(
        start_csocks, kdc, tmp_path, http_server):
    p = start_gss(start_csocks, kdc, tmp_path, strip_realm=False)
    out = client(p.port, f"127.0.0.1:{http_server.port}", kinit(kdc, tmp_path, "carol"),
                 "--nec", "--level", "1")
    assert out["ok"] and out["level"] == 0, out
    assert p.wait_log("unwrapped (NEC)")
    assert p.wait_log("user=carol@CSOCKS.TEST")
    p.stop()


def test_curl_socks5_gssapi(start_csocks, kdc, tmp_path, http_server):
    p = start_gss(start_csocks, kdc, tmp_path)
    env = kinit(kdc, tmp_path, "alice")
    url = f"http://127.0.0.1:{http_server.port}/"
    cmd = ["curl", "-sS", "-v", "--max-time", "20", "--socks5-hostname",
           f"localhost:{p.port}", "--socks5-gssapi", "--socks5-gssapi-service", "socks", url]
    # curl 7.88 reads the method answer in a later call of its state
    # machine than the one that allowed GSSAPI when the answer is not there
    # at once ("per-message authentication is not supported"): retry
    # (bounded) until it takes the GSSAPI path.
    for _ in range(40):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or "authenticated user" in r.stderr:
            break
        time.sleep(0.05)
    if "per-message authentication is not supported" in r.stderr and \
            "authenticated user" not in r.stderr:
        # Every try hit curl's bug before it sent a single GSSAPI token: curl
        # never reached csocks' method, so there is nothing of csocks' to
        # judge here (the python3-gssapi client tests cover the exchange).
        pytest.skip("Debian's curl 7.88 gave up before its GSSAPI exchange in 40 tries "
                    "(its own bug: 'per-message authentication is not supported')")
    if r.returncode == 0:
        assert r.stdout == "hello from the test server\n", r.stdout
        assert p.wait_log("user=alice")
    else:
        # The exchange went through; what fails is curl's own bug after it.
        assert "SOCKS5 server authenticated user alice@CSOCKS.TEST with GSS-API" in r.stderr, \
            r.stderr
        assert "SOCKS5 access without GSS-API data protection granted" in r.stderr, r.stderr
        assert "Undocumented SOCKS5 mode" in r.stderr, r.stderr
    assert p.wait_log("gssapi: established for alice@CSOCKS.TEST (user alice")
    p.stop()


def test_no_ticket_is_refused(start_csocks, kdc, tmp_path, http_server):
    p = start_gss(start_csocks, kdc, tmp_path)
    dest = f"127.0.0.1:{http_server.port}"
    # No ticket: the client cannot even make a token.
    out = client(p.port, dest, no_ticket_env(kdc, tmp_path))
    assert not out["ok"] and out["stage"] == "init", out
    # A client without a ticket that sends something else: the abort.
    out = client(p.port, dest, no_ticket_env(kdc, tmp_path), "--garbage")
    assert out["stage"] == "context-abort", out
    assert p.wait_log("Invalid token was supplied")
    # As large as the 16-bit length allows: read whole (in pieces), refused.
    out = client(p.port, dest, no_ticket_env(kdc, tmp_path), "--garbage",
                 "--garbage-size", "65535")
    assert out["stage"] == "context-abort", out
    # Only GSSAPI is offered: a client that offers "none" only gets 0xFF.
    with Socks5(p.port) as c:
        assert c.greet((0, 2)) == 0xFF
    p.stop()


def test_expired_ticket_is_refused(start_csocks, kdc, tmp_path, http_server):
    p = start_gss(start_csocks, kdc, tmp_path)
    env = kinit(kdc, tmp_path, "alice", lifetime="4s")
    # The token is made while the ticket is valid and sent after it has
    # expired (4 s lifetime, 2 s clock skew in the test realm).
    out = client(p.port, f"127.0.0.1:{http_server.port}", env, "--token-delay", "8")
    assert out["stage"] == "context-abort", out
    assert p.wait_log("Ticket expired")
    # And with the ticket expired the client cannot make a new token.
    out = client(p.port, f"127.0.0.1:{http_server.port}", env)
    assert not out["ok"] and out["stage"] == "init", out
    p.stop()


def test_principal_blocked_by_the_acl(start_csocks, kdc, tmp_path, http_server):
    acl = ('[global]\ndefault_policy = "allow"\n\n'
           '[[users]]\nusername = "bob"\ngroups = []\n\n'
           '[[users.rules]]\naction = "block"\ndescription = "no bob"\n'
           'destinations = ["*"]\nports = ["*"]\nprotocols = ["tcp"]\npriority = 100\n')
    db = tmp_path / "s.db"
    p = start_gss(start_csocks, kdc, tmp_path, sessions_cfg(db), acl=acl)
    dest = f"127.0.0.1:{http_server.port}"
    out = client(p.port, dest, kinit(kdc, tmp_path, "bob"))
    assert out["stage"] == "request" and out["reply"] == 0x02, out
    out = client(p.port, dest, kinit(kdc, tmp_path, "alice"))
    assert out["ok"], out
    got = wait_rows(db, lambda r: len(r) == 2 and all(x["status"] != "active" for x in r))
    by_user = {x["user"]: x for x in got}
    assert set(by_user) == {"alice", "bob"}, got
    assert by_user["bob"]["status"] != "closed" and by_user["alice"]["status"] == "closed"
    p.stop()


def test_wrong_service_principal_is_refused(start_csocks, kdc, tmp_path, http_server):
    p = start_gss(start_csocks, kdc, tmp_path)
    env = kinit(kdc, tmp_path, "alice")
    dest = f"127.0.0.1:{http_server.port}"
    # rcmd (curl's default service) exists in the realm, not in the keytab.
    out = client(p.port, dest, env, "--service", "rcmd@localhost")
    assert out["stage"] == "context-abort", out
    assert p.wait_log("rcmd/localhost@CSOCKS.TEST not found in keytab")
    # A service the realm does not know: the client gets no ticket.
    out = client(p.port, dest, env, "--service", "nosuch@localhost")
    assert not out["ok"] and out["stage"] == "init", out
    # The right one still works, and the failure counter says gssapi.
    assert client(p.port, dest, env)["ok"]
    p.stop()


@pytest.mark.parametrize("name", ["socks@localhost", "socks/localhost",
                                  "socks/localhost@CSOCKS.TEST"])
def test_acceptor_name_forms(start_csocks, kdc, tmp_path, http_server, name):
    p = start_gss(start_csocks, kdc, tmp_path, service_name=name)
    out = client(p.port, f"127.0.0.1:{http_server.port}", kinit(kdc, tmp_path, "alice"))
    assert out["ok"], out
    p.stop()


@pytest.mark.parametrize("name", ["rcmd/localhost", "rcmd", "socks@otherhost",
                                  "socks/localhost@OTHER.REALM"])
def test_acceptor_name_not_in_keytab_refuses_to_start(start_csocks, kdc, tmp_path, name):
    cfg = gss_config(kdc, service_name=name)
    p = start_csocks(cfg, env={"KRB5_CONFIG": kdc["KRB5_CONFIG"]}, wait=False)
    try:
        p.proc.wait(10)
    except subprocess.TimeoutExpired:
        pytest.fail("csocks started with an acceptor name that has no key")
    assert p.proc.returncode != 0
    assert f'auth.gssapi.service_name "{name}": no key for it' in p.log_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_privilege_drop_keytab_read_before(start_csocks, kdc, tmp_path, http_server):
    import pwd
    nobody = pwd.getpwnam("nobody")
    keytab = Path(kdc["CSOCKS_KDC_KEYTAB"])
    assert keytab.stat().st_mode & 0o077 == 0 and keytab.stat().st_uid == 0
    p = start_gss(start_csocks, kdc, tmp_path, {"server": {"user": "nobody"}})
    assert p.wait_log("listening on")
    uid = [ln for ln in Path(f"/proc/{p.pid}/status").read_text().splitlines()
           if ln.startswith("Uid:")][0].split()[1:]
    assert uid == [str(nobody.pw_uid)] * 4, uid
    # nobody cannot read the keytab, and need not: it was copied at start.
    out = client(p.port, f"127.0.0.1:{http_server.port}", kinit(kdc, tmp_path, "alice"))
    assert out["ok"], out
    p.stop()
