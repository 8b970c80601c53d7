"""Sessions through the real binary: exact byte counts in SQLite (and
PostgreSQL when the test runner started one), rejected requests recorded,
flush on graceful shutdown, stale rows closed after a crash, the API view."""
import datetime
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import time
import urllib.request

import pytest

from conftest import Socks5, SocksError, recv_exact

PG_URL = os.environ.get("CSOCKS_TEST_PG_URL")
# Under scripts/test.sh (CI) PostgreSQL is part of the suite: no silent skip.
if os.environ.get("CSOCKS_TEST_REQUIRE_PG") == "1" and not PG_URL:
    raise RuntimeError("CSOCKS_TEST_REQUIRE_PG=1 but PostgreSQL did not start")
MYSQL_URL = os.environ.get("CSOCKS_TEST_MYSQL_URL")
if os.environ.get("CSOCKS_TEST_REQUIRE_MYSQL") == "1" and not MYSQL_URL:
    raise RuntimeError("CSOCKS_TEST_REQUIRE_MYSQL=1 but MariaDB did not start")


def sqlite_cfg(db, **extra):
    s = {"enabled": True, "storage": "sqlite", "database_url": f"sqlite://{db}",
         "batch_size": 50, "batch_interval_ms": 100}
    s.update(extra)
    return {"sessions": s}


def rows(db, where="1=1", args=()):
    con = sqlite3.connect(db, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(f"SELECT * FROM sessions WHERE {where}", args)]
    finally:
        con.close()


def wait_rows(fetch, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    got = []
    while time.monotonic() < deadline:
        try:
            got = fetch()
        except OSError:  # the API binds just after the SOCKS port
            time.sleep(0.05)
            continue
        if pred(got):
            return got
        time.sleep(0.05)
    return got


def transfer(port, echo_port, nbytes):
    """Send nbytes through an echo tunnel and read them back; returns sha256."""
    data = os.urandom(nbytes)
    with Socks5(port) as c:
        c.connect("127.0.0.1", echo_port)
        sent = 0
        back = bytearray()
        while sent < nbytes:
            chunk = data[sent:sent + 65536]
            c.send(chunk)
            sent += len(chunk)
            back += recv_exact(c.sock, len(chunk))
        assert bytes(back) == data
    return hashlib.sha256(data).hexdigest()


def test_sqlite_exact_byte_counts(start_csocks, echo_server, tmp_path):
    db = tmp_path / "s.db"
    p = start_csocks(sqlite_cfg(db))
    sizes = [1, 1000, 3 * 1024 * 1024 + 7]
    for n in sizes:
        transfer(p.port, echo_server.port, n)
    got = wait_rows(lambda: rows(db, "status = 'closed'"), lambda r: len(r) == len(sizes))
    assert sorted(r["bytes_sent"] for r in got) == sizes
    assert sorted(r["bytes_received"] for r in got) == sizes
    for r in got:
        assert r["protocol"] == "tcp"
        assert r["dest_ip"] == "127.0.0.1" and r["dest_port"] == echo_server.port
        assert r["source_ip"] == "127.0.0.1"
        assert r["user"] == "anonymous"
        assert r["end_time"] and r["duration_secs"] is not None
        assert len(r["session_id"]) == 36
    p.stop()


def test_rejected_and_failed_sessions_recorded(start_csocks, echo_server, tmp_path):
    db = tmp_path / "s.db"
    acl = ('[global]\ndefault_policy = "allow"\n[[users]]\nusername = "anonymous"\n'
           'groups = []\n[[users.rules]]\naction = "block"\ndescription = "no echo"\n'
           f'destinations = ["127.0.0.1"]\nports = ["{echo_server.port}"]\n'
           'protocols = ["tcp"]\npriority = 100\n')
    p = start_csocks(sqlite_cfg(db), acl=acl)
    with pytest.raises(SocksError):
        with Socks5(p.port) as c:
            c.connect("127.0.0.1", echo_server.port)
    closed_port = echo_server.port + 1 if echo_server.port < 65000 else 1
    with pytest.raises(SocksError):
        with Socks5(p.port) as c:
            c.connect("127.0.0.1", closed_port)
    got = wait_rows(lambda: rows(db), lambda r: len(r) >= 2)
    by_status = {r["status"]: r for r in got}
    assert by_status["rejected_by_acl"]["acl_decision"] == "block"
    assert by_status["rejected_by_acl"]["acl_rule_matched"] == "no echo"
    assert by_status["failed"]["close_reason"]
    p.stop()


def test_graceful_shutdown_flushes_everything(start_csocks, echo_server, tmp_path):
    db = tmp_path / "s.db"
    # A long interval and a big batch: only the shutdown flush writes them.
    p = start_csocks(sqlite_cfg(db, batch_size=10000, batch_interval_ms=600000))
    for _ in range(25):
        with Socks5(p.port) as c:
            c.connect("127.0.0.1", echo_server.port)
            c.send(b"hi")
            c.recv_exact(2)
    time.sleep(0.2)
    p.stop()
    assert len(rows(db, "status = 'closed'")) == 25


def test_crash_leaves_active_rows_closed_at_restart(start_csocks, echo_server, tmp_path):
    db = tmp_path / "s.db"
    cfg = sqlite_cfg(db)
    p = start_csocks(cfg)
    c = Socks5(p.port)
    c.connect("127.0.0.1", echo_server.port)
    assert wait_rows(lambda: rows(db, "status = 'active'"), lambda r: len(r) == 1)
    p.kill()  # SIGKILL: no chance to close the row
    c.close()
    assert len(rows(db, "status = 'active'")) == 1
    p2 = start_csocks(cfg)
    got = wait_rows(lambda: rows(db), lambda r: r and all(x["status"] != "active" for x in r))
    assert got and got[0]["status"] == "closed"
    assert got[0]["close_reason"] == "Server restart"
    p2.stop()


def api_get(p, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{p.api_port}{path}", timeout=5) as r:
        return json.loads(r.read())


def test_api_history_and_stats_from_sqlite(start_csocks, echo_server, tmp_path):
    db = tmp_path / "s.db"
    cfg = sqlite_cfg(db, stats_api_enabled=True)
    p = start_csocks(cfg)
    for n in (10, 20, 30):
        transfer(p.port, echo_server.port, n)
    wait_rows(lambda: rows(db, "status = 'closed'"), lambda r: len(r) == 3)
    hist = api_get(p, "/api/sessions/history?page=1&page_size=2&sort_by=bytes_sent&sort_dir=asc")
    assert hist["total"] == 3 and hist["total_pages"] == 2 and len(hist["data"]) == 2
    assert [s["bytes_sent"] for s in hist["data"]] == [10, 20]
    stats = api_get(p, "/api/sessions/stats?window_hours=1")
    assert stats["total_sessions"] == 3
    assert stats["total_bytes_sent"] == 60
    p.stop()


def metric_value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def test_store_counters_on_metrics(start_csocks, echo_server, tmp_path):
    """The session writer's counters reach /metrics and agree with the table."""
    import shutil
    db = tmp_path / "s.db"
    cfg = sqlite_cfg(db, stats_api_enabled=True)
    cfg["metrics"] = {"enabled": True}
    p = start_csocks(cfg)
    for n in (10, 20, 30, 40):
        transfer(p.port, echo_server.port, n)
    assert len(wait_rows(lambda: rows(db, "status = 'closed'"), lambda r: len(r) == 4)) == 4

    def scrape():
        with urllib.request.urlopen(f"http://127.0.0.1:{p.api_port}/metrics", timeout=5) as r:
            return r.read().decode()
    text = wait_rows(scrape, lambda t: metric_value(t, "csocks_store_rows_written_total") == 4)
    assert metric_value(text, "csocks_store_rows_written_total") == 4, text
    assert metric_value(text, "csocks_store_rows_failed_total") == 0
    assert metric_value(text, "csocks_store_queue_depth") == 0
    assert metric_value(text, "csocks_store_queue_capacity") > 0
    assert metric_value(text, "csocks_store_outage") == 0
    batches = metric_value(text, "csocks_store_batches_total")
    assert 1 <= batches <= 4
    assert metric_value(text, "csocks_store_flush_seconds_total") > 0
    assert metric_value(text, "csocks_store_flush_seconds_max") > 0
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    p.stop()


@pytest.mark.skipif(not PG_URL, reason="no PostgreSQL (CSOCKS_TEST_PG_URL unset; "
                    "scripts/test-setup.sh starts one)")
def test_postgres_exact_byte_counts(start_csocks, echo_server):
    p = start_csocks({"sessions": {"enabled": True, "storage": "postgres",
                                   "database_url": PG_URL, "batch_size": 50,
                                   "batch_interval_ms": 100}})
    tag = os.urandom(3).hex()
    n = 123457
    transfer(p.port, echo_server.port, n)
    p.stop()
    out = subprocess.run(
        ["psql", PG_URL, "-At", "-c",
         f"SELECT bytes_sent, bytes_received, status FROM sessions "
         f"WHERE dest_port = {echo_server.port} AND bytes_sent = {n}"],
        capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert f"{n}|{n}|closed" in out.stdout.split("\n"), (tag, out.stdout)


def index_names(db):
    con = sqlite3.connect(db, timeout=5)
    try:
        return sorted(r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' "
            "AND name LIKE 'idx%'"))
    finally:
        con.close()


LEAN = ["idx_sessions_dest_user", "idx_sessions_start_time", "idx_sessions_status_start",
        "idx_sessions_user_start"]


def test_index_set_follows_config(start_csocks, echo_server, tmp_path):
    """A new database gets csocks' 4 indexes; sessions.rustsocks_indexes adds
    RustSocks' other 12; without it again the database keeps them (never a
    silent drop), and the rows stay."""
    db = tmp_path / "s.db"
    p = start_csocks(sqlite_cfg(db))
    transfer(p.port, echo_server.port, 50)
    assert len(wait_rows(lambda: rows(db), lambda r: len(r) == 1)) == 1
    p.stop()
    assert index_names(db) == LEAN
    p = start_csocks(sqlite_cfg(db, rustsocks_indexes=True))
    transfer(p.port, echo_server.port, 100)
    assert len(wait_rows(lambda: rows(db), lambda r: len(r) == 2)) == 2
    p.stop()
    assert len(index_names(db)) == 16
    p = start_csocks(sqlite_cfg(db))
    transfer(p.port, echo_server.port, 200)
    got = wait_rows(lambda: rows(db), lambda r: len(r) == 3)
    assert sorted(r["bytes_sent"] for r in got) == [50, 100, 200]
    assert len(index_names(db)) == 16
    assert "keeping the 12 other RustSocks indexes" in p.log_text()
    p.stop()


def test_sessions_disabled_still_tracks_in_memory(start_csocks, echo_server, tmp_path):
    """RustSocks' meaning of sessions.enabled = false: no persistence, but
    the live list and the in-memory history still answer (not 503), and no
    database file is created."""
    db = tmp_path / "never.db"
    p = start_csocks({"sessions": {"enabled": False, "storage": "sqlite",
                                   "database_url": f"sqlite://{db}",
                                   "stats_api_enabled": True}})
    transfer(p.port, echo_server.port, 1234)
    # History lists live sessions too: wait for the closed row.
    got = wait_rows(lambda: api_get(p, "/api/sessions/history")["data"],
                    lambda d: len(d) == 1 and d[0]["status"] == "closed")
    assert len(got) == 1, got
    assert got[0]["bytes_sent"] + got[0]["bytes_received"] == 2 * 1234
    assert api_get(p, "/api/sessions/active") == []
    assert not db.exists()


def test_metrics_history_survives_a_restart_with_sqlite_storage(start_csocks, tmp_path):
    """metrics.storage = "sqlite": samples go to RustSocks' metrics_snapshots
    table in the sessions' file, and a restarted csocks serves them at once."""
    db = tmp_path / "m.db"
    cfg = sqlite_cfg(db, stats_api_enabled=True)
    cfg["metrics"] = {"enabled": True, "storage": "sqlite", "collection_interval_secs": 1}
    p = start_csocks(cfg)
    before = wait_rows(lambda: api_get(p, "/api/metrics/history"), lambda h: len(h) >= 2,
                       timeout=10)
    assert len(before) >= 2
    p.stop()
    con = sqlite3.connect(db, timeout=5)
    try:
        stored = con.execute("SELECT timestamp, active_sessions, total_sessions, bandwidth "
                             "FROM metrics_snapshots ORDER BY id").fetchall()
    finally:
        con.close()
    assert len(stored) >= len(before)
    assert [r[0] for r in stored[:len(before)]] == [s["timestamp"] for s in before]
    q = start_csocks(cfg)
    # The SOCKS port answers first; the API binds just after it.
    deadline = time.monotonic() + 10
    while True:
        try:
            after = api_get(q, "/api/metrics/history")
            break
        except OSError:
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.05)
    # The restored samples come first, whatever was sampled since.
    assert [s["timestamp"] for s in after[:len(stored)]] == [r[0] for r in stored]
    assert "samples restored from the store" in q.log_text()


def index_list(db):
    """What SQLite's PRAGMA index_list reports for sessions (RustSocks'
    idx_* ones), sorted."""
    con = sqlite3.connect(db, timeout=5)
    try:
        return sorted(r[1] for r in con.execute("PRAGMA index_list('sessions')")
                      if r[1].startswith("idx_"))
    finally:
        con.close()


def test_rustsocks_database_keeps_its_indexes(start_csocks, echo_server, tmp_path):
    """A database RustSocks created (its migrations' schema, a row of its
    own) opened by csocks: every index is still there afterwards, so a
    rollback to RustSocks runs with them; old and new rows read back."""
    schema = os.path.join(os.path.dirname(__file__), "..", "data", "rustsocks",
                          "sessions-sqlite-schema.sql")
    db = tmp_path / "rustsocks.db"
    con = sqlite3.connect(db)
    with open(schema) as f:
        con.executescript(f.read())
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    end = start + datetime.timedelta(seconds=10)
    con.execute("INSERT INTO sessions VALUES ('6f1c2d3e-0000-4000-8000-0000000000aa', 'alice', "
                "?, ?, 10, '10.0.0.1', 5000, 'example.com', 443, 'tcp', 2048, 1024, 15, 12, "
                "'closed', 'Finished', 'Allow HTTPS', 'allow', CURRENT_TIMESTAMP)",
                (start.isoformat(), end.isoformat()))
    con.commit()
    con.close()
    before = index_list(db)
    assert len(before) == 16 and "idx_sessions_bytes_sent" in before
    p = start_csocks(sqlite_cfg(db, stats_api_enabled=True))
    transfer(p.port, echo_server.port, 777)
    got = wait_rows(lambda: rows(db), lambda r: len(r) == 2)
    assert sorted(r["bytes_sent"] for r in got) == [777, 2048]
    hist = api_get(p, "/api/sessions/history?sort_by=bytes_sent&sort_dir=desc")
    assert [s["bytes_sent"] for s in hist["data"]] == [2048, 777]
    p.stop()
    assert index_list(db) == before


def mysql_query(url, sql):
    """Rows of sql (tab-separated text) through Debian's mariadb client."""
    m = re.match(r"mysql://([^:]+):([^@]+)@([^:/]+):(\d+)/(\w+)$", url)
    assert m, url
    user, password, host, port, db = m.groups()
    out = subprocess.run(
        ["mariadb", "--no-defaults", "-h", host, "-P", port, "-u", user,
         f"-p{password}", "-N", "-B", db, "-e", sql],
        capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines()]


@pytest.mark.skipif(not MYSQL_URL, reason="no MariaDB (CSOCKS_TEST_MYSQL_URL unset; "
                    "scripts/test-setup.sh starts one)")
def test_mariadb_exact_bytes_and_api_history(start_csocks, echo_server):
    """sessions.storage = "mariadb": real traffic lands in the MariaDB table
    with exact byte counts, and /api/sessions/history answers from it."""
    # a fresh schema (the unit tests share this database): csocks creates it
    mysql_query(MYSQL_URL, "DROP TABLE IF EXISTS sessions, csocks_schema_migrations")
    p = start_csocks({"sessions": {"enabled": True, "storage": "mariadb",
                                   "database_url": MYSQL_URL.replace("mysql://", "mariadb://"),
                                   "batch_size": 50, "batch_interval_ms": 100,
                                   "stats_api_enabled": True}})
    sizes = [123457, 4099, 1]
    for n in sizes:
        transfer(p.port, echo_server.port, n)
    where = f"dest_port = {echo_server.port} AND status = 'closed'"
    got = wait_rows(lambda: mysql_query(
        MYSQL_URL, f"SELECT bytes_sent, bytes_received, protocol FROM sessions WHERE {where}"),
        lambda r: len(r) == 3)
    assert sorted(got) == sorted([[str(n), str(n), "tcp"] for n in sizes]), got
    hist = api_get(p, "/api/sessions/history?page=1&page_size=2&sort_by=bytes_sent"
                      "&sort_dir=desc&status=closed")
    assert [s["bytes_sent"] for s in hist["data"]] == [123457, 4099]
    assert hist["total"] == 3 and hist["total_pages"] == 2
    stats = api_get(p, "/api/sessions/stats?window_hours=1")
    assert stats["total_sessions"] == 3
    assert stats["total_bytes_sent"] == sum(sizes)
    p.stop()
    assert "sessions store mysql: applied migration 3" in p.log_text()
    idx = mysql_query(MYSQL_URL, "SELECT DISTINCT index_name FROM information_schema.statistics "
                      "WHERE table_schema = DATABASE() AND table_name = 'sessions' "
                      "AND index_name LIKE 'idx%' ORDER BY index_name")
    assert [r[0] for r in idx] == LEAN
