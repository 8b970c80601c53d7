-- The sessions schema a RustSocks SQLite database has: the statements of
-- RustSocks' migrations 001, 002, 005 and 006 (its migrations/ folder), in
-- order. tests/integration/test_sessions.py builds a database from it and
-- checks that opening it with csocks keeps every index.
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT,
    duration_secs INTEGER,
    source_ip TEXT NOT NULL,
    source_port INTEGER NOT NULL,
    dest_ip TEXT NOT NULL,
    dest_port INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    bytes_sent INTEGER DEFAULT 0,
    bytes_received INTEGER DEFAULT 0,
    packets_sent INTEGER DEFAULT 0,
    packets_received INTEGER DEFAULT 0,
    status TEXT NOT NULL,
    close_reason TEXT,
    acl_rule_matched TEXT,
    acl_decision TEXT NOT NULL,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions(user);
CREATE INDEX IF NOT EXISTS idx_sessions_start_time ON sessions(start_time DESC);
CREATE INDEX IF NOT EXISTS idx_sessions_dest_ip ON sessions(dest_ip);
CREATE INDEX IF NOT EXISTS idx_sessions_status ON sessions(status);
CREATE INDEX IF NOT EXISTS idx_sessions_user_start ON sessions(user, start_time DESC);
CREATE INDEX IF NOT EXISTS idx_sessions_start_time_asc ON sessions(start_time ASC);
-- 002
CREATE INDEX IF NOT EXISTS idx_sessions_status_start ON sessions(status, start_time DESC);
CREATE INDEX IF NOT EXISTS idx_sessions_dest_user ON sessions(dest_ip, user);
CREATE INDEX IF NOT EXISTS idx_sessions_duration ON sessions(duration_secs)
    WHERE duration_secs IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_sessions_acl_decision_start ON sessions(acl_decision, start_time DESC);
CREATE INDEX IF NOT EXISTS idx_sessions_user_status_start ON sessions(user, status, start_time DESC);
-- 005
CREATE INDEX IF NOT EXISTS idx_sessions_bytes_sent ON sessions(bytes_sent);
CREATE INDEX IF NOT EXISTS idx_sessions_bytes_received ON sessions(bytes_received);
CREATE INDEX IF NOT EXISTS idx_sessions_duration ON sessions(duration_secs);
CREATE INDEX IF NOT EXISTS idx_sessions_dest_ip ON sessions(dest_ip);
CREATE INDEX IF NOT EXISTS idx_sessions_protocol ON sessions(protocol);
CREATE INDEX IF NOT EXISTS idx_sessions_acl_decision ON sessions(acl_decision);
ANALYZE sessions;
-- 006
UPDATE sessions SET duration_secs = NULL WHERE duration_secs < 0;
DROP INDEX IF EXISTS idx_sessions_duration;
CREATE INDEX IF NOT EXISTS idx_sessions_duration_order ON sessions(duration_secs, session_id);
CREATE INDEX IF NOT EXISTS idx_sessions_source_ip ON sessions(source_ip, session_id);
ANALYZE sessions;
