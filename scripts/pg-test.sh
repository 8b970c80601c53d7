#!/bin/bash
# A throwaway PostgreSQL 15 cluster for the session store tests and bench.
#
#   scripts/pg-test.sh start        create (if needed) and start; prints the URL
#   scripts/pg-test.sh url          print the URL of the running cluster
#   scripts/pg-test.sh restart [S]  stop, wait S seconds (default 2), start again
#                                   on the same port (the outage test uses this)
#   scripts/pg-test.sh stop         stop and remove everything
#   scripts/pg-test.sh status       exit 0 when running
#
# The cluster lives in $CSOCKS_PG_DIR (default /tmp/csocks-pg-test; give
# each concurrent test run its own), listens
# on 127.0.0.1 on a free port and on a unix socket in that directory, and has
# a role csocks (password csocks) owning database csocks_test:
#   postgresql://csocks:csocks@127.0.0.1:PORT/csocks_test
# The URL is also written to $CSOCKS_PG_DIR/url.
#
# Uses Debian's binaries (/usr/lib/postgresql/15/bin: another pg_ctl may come
# first on PATH) and installs the `postgresql` package when they are missing.
# As root, the server runs as the `postgres` user (runuser). Every wait is
# bounded.
set -euo pipefail

DIR=${CSOCKS_PG_DIR:-/tmp/csocks-pg-test}
PGBIN=${CSOCKS_PG_BIN:-/usr/lib/postgresql/15/bin}
DATA=$DIR/data
SOCK=$DIR/sock
WAIT=30

die() { echo "pg-test: $*" >&2; exit 1; }

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

ensure_installed() {
	[ -x "$PGBIN/pg_ctl" ] && return 0
	[ "$(id -u)" = 0 ] || die "$PGBIN/pg_ctl missing; install the postgresql package"
	echo "pg-test: installing postgresql" >&2
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y postgresql >&2 ||
		{ timeout 300 apt-get update >&2 &&
		  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y postgresql >&2; } ||
		die "apt-get install postgresql failed"
	[ -x "$PGBIN/pg_ctl" ] || die "$PGBIN/pg_ctl still missing after install"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
	[ -f "$DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

url() {
	echo "postgresql://csocks:csocks@127.0.0.1:$(cat "$DIR/port")/csocks_test"
}

server_start() {
	local port
	port=$(cat "$DIR/port")
	# 9>&-: the server must not inherit (and so hold forever) our lock
	as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t "$WAIT" \
		-o "-p $port -k $SOCK -c listen_addresses=127.0.0.1" start >/dev/null 9>&- ||
		{ tail -20 "$DIR/server.log" >&2 || true; die "server did not start"; }
}

psql_admin() {
	as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$(cat "$DIR/port")" \
		-U postgres -d postgres "$@"
}

create() {
	rm -rf "$DIR"
	mkdir -p "$DATA" "$SOCK"
	free_port >"$DIR/port"
	if [ "$(id -u)" = 0 ]; then
		chown -R postgres:postgres "$DIR"
	fi
	chmod 700 "$DATA"
	as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
		--auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
		{ tail -20 "$DIR/initdb.log" >&2; die "initdb failed"; }
	server_start
	psql_admin -c "CREATE ROLE csocks LOGIN PASSWORD 'csocks'" \
		-c "CREATE DATABASE csocks_test OWNER csocks"
}

cmd_start() {
	ensure_installed
	if running; then
		:
	elif [ -f "$DATA/PG_VERSION" ] && [ -f "$DIR/port" ]; then
		server_start
	else
		create
	fi
	url >"$DIR/url"
	url
}

cmd_stop() {
	if running; then
		as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t "$WAIT" stop >/dev/null ||
			as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w -t "$WAIT" stop >/dev/null ||
			true
	fi
	rm -rf "$DIR"
}

cmd_restart() {
	local pause=${1:-2}
	[ -f "$DATA/PG_VERSION" ] || die "no cluster in $DIR (run start first)"
	if running; then
		as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t "$WAIT" stop >/dev/null
	fi
	sleep "$pause"
	server_start
	url
}

# One invocation at a time per cluster: test runs in parallel (several
# engineers, CI) otherwise race between start, restart and stop.
exec 9>>"$DIR.flock"
flock -w 300 9 || die "timed out waiting for $DIR.flock"

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
restart) cmd_restart "${2:-2}" ;;
url) running || die "not running"; url ;;
status) running ;;
*) echo "usage: $0 start|stop|restart [secs]|url|status" >&2; exit 2 ;;
esac
