#!/bin/bash
# A throwaway MariaDB server for the session store tests (the mysql://
# backend), modelled on scripts/pg-test.sh.
#
#   scripts/mariadb-test.sh start        create (if needed) and start; prints the URL
#   scripts/mariadb-test.sh url          print the URL of the running server
#   scripts/mariadb-test.sh restart [S]  stop, wait S seconds (default 2), start again
#                                        on the same port (the outage test uses this)
#   scripts/mariadb-test.sh stop         stop and remove everything
#   scripts/mariadb-test.sh status       exit 0 when running
#
# The server lives in $CSOCKS_MARIADB_DIR (default /tmp/csocks-mariadb-test;
# give each concurrent test run its own), listens on 127.0.0.1 on a free
# port and on a unix socket in that directory, and has a user csocks
# (password csocks) owning database csocks_test:
#   mysql://csocks:csocks@127.0.0.1:PORT/csocks_test
# The URL is also written to $CSOCKS_MARIADB_DIR/url.
#
# Uses Debian's mariadb-server (installed when missing; scripts/deps.sh's
# policy-rc.d keeps the packaged service from starting). As root, the
# server runs as the `mysql` user (runuser). Every wait is bounded.
set -euo pipefail

DIR=${CSOCKS_MARIADB_DIR:-/tmp/csocks-mariadb-test}
DATA=$DIR/data
SOCK=$DIR/mysqld.sock
PIDF=$DIR/mysqld.pid
WAIT=30
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "mariadb-test: $*" >&2; exit 1; }

as_db() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u mysql -- "$@"
	else
		"$@"
	fi
}

ensure_installed() {
	[ -x /usr/sbin/mariadbd ] && [ -x /usr/bin/mariadb-install-db ] && return 0
	[ "$(id -u)" = 0 ] || die "/usr/sbin/mariadbd missing; install the mariadb-server package"
	echo "mariadb-test: installing mariadb-server" >&2
	timeout 900 "$ROOT/scripts/deps.sh" test >&2 || die "scripts/deps.sh test failed"
	[ -x /usr/sbin/mariadbd ] || die "/usr/sbin/mariadbd still missing after install"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pid() {
	[ -s "$PIDF" ] && cat "$PIDF"
}

running() {
	local p
	p=$(pid) || return 1
	kill -0 "$p" 2>/dev/null && [ -S "$SOCK" ]
}

url() {
	echo "mysql://csocks:csocks@127.0.0.1:$(cat "$DIR/port")/csocks_test"
}

# The admin account: root@localhost by unix_socket authentication, mapped
# to the invoking OS user (--auth-root-socket-user), so the client runs as
# that user, not as mysql.
client() {
	/usr/bin/mariadb --no-defaults -S "$SOCK" -u root "$@"
}

server_start() {
	local port i
	port=$(cat "$DIR/port")
	rm -f "$PIDF"
	# 9>&-: the server must not inherit (and so hold forever) our lock
	as_db /usr/sbin/mariadbd --no-defaults --datadir="$DATA" --socket="$SOCK" \
		--pid-file="$PIDF" --port="$port" --bind-address=127.0.0.1 \
		--skip-name-resolve --log-error="$DIR/server.log" \
		--innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
		--max-connections=200 >/dev/null 2>&1 9>&- </dev/null &
	for ((i = 0; i < WAIT * 10; i++)); do
		if running && client -e 'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	tail -20 "$DIR/server.log" >&2 || true
	server_stop
	die "server did not start within ${WAIT}s"
}

server_stop() {
	local p i
	p=$(pid) || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for ((i = 0; i < WAIT * 10; i++)); do
		kill -0 "$p" 2>/dev/null || { rm -f "$PIDF"; return 0; }
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	sleep 0.5
	rm -f "$PIDF"
}

create() {
	rm -rf "$DIR"
	mkdir -p "$DATA"
	free_port >"$DIR/port"
	if [ "$(id -u)" = 0 ]; then
		chown -R mysql:mysql "$DIR"
	fi
	chmod 700 "$DATA"
	as_db /usr/bin/mariadb-install-db --no-defaults --datadir="$DATA" \
		--auth-root-authentication-method=socket --auth-root-socket-user="$(id -un)" \
		--skip-test-db \
		>"$DIR/install.log" 2>&1 9>&- ||
		{ tail -20 "$DIR/install.log" >&2; die "mariadb-install-db failed"; }
	server_start
	client -e "CREATE USER 'csocks'@'127.0.0.1' IDENTIFIED BY 'csocks';
		CREATE USER 'csocks'@'localhost' IDENTIFIED BY 'csocks';
		CREATE DATABASE csocks_test CHARACTER SET utf8mb4;
		GRANT ALL ON csocks_test.* TO 'csocks'@'127.0.0.1';
		GRANT ALL ON csocks_test.* TO 'csocks'@'localhost';"
}

cmd_start() {
	ensure_installed
	if running; then
		:
	elif [ -d "$DATA/mysql" ] && [ -f "$DIR/port" ]; then
		server_start
	else
		create
	fi
	url >"$DIR/url"
	url
}

cmd_stop() {
	server_stop
	rm -rf "$DIR"
}

cmd_restart() {
	local pause=${1:-2}
	[ -d "$DATA/mysql" ] || die "no server in $DIR (run start first)"
	server_stop
	sleep "$pause"
	server_start
	url
}

mkdir -p "$(dirname "$DIR")"
# One invocation at a time per server (parallel runs race otherwise).
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
