#!/usr/bin/env bash
# Services and fixtures the tests need, started and stopped by scripts/test.sh:
# throwaway PostgreSQL and MariaDB servers on loopback, and PAM test
# users/services.
# Usage: scripts/test-setup.sh start ENVFILE   (writes export lines to ENVFILE)
#        scripts/test-setup.sh stop
set -uo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
envfile=${2:-/dev/null}

case "$cmd" in
start)
	: >"$envfile"
	mkdir -p test-logs
	# As root (CI) both services are part of the suite: the tests that need
	# them fail, rather than skip, when they are missing.
	if [ "$(id -u)" -eq 0 ]; then
		echo "export CSOCKS_TEST_REQUIRE_PG=1" >>"$envfile"
		echo "export CSOCKS_TEST_REQUIRE_MYSQL=1" >>"$envfile"
		echo "export CSOCKS_TEST_PAM=1" >>"$envfile"
	fi
	if url=$(scripts/pg-test.sh start 2>test-logs/pg-start.log | tail -1) && [ -n "$url" ]; then
		echo "export CSOCKS_TEST_PG_URL='$url'" >>"$envfile"
	else
		echo "test-setup: PostgreSQL did not start (see test-logs/pg-start.log)" >&2
	fi
	if url=$(scripts/mariadb-test.sh start 2>test-logs/mariadb-start.log | tail -1) &&
		[ -n "$url" ]; then
		echo "export CSOCKS_TEST_MYSQL_URL='$url'" >>"$envfile"
	else
		echo "test-setup: MariaDB did not start (see test-logs/mariadb-start.log)" >&2
	fi
	if [ "$(id -u)" -eq 0 ] && ! scripts/pam-test.sh setup >test-logs/pam-setup.log 2>&1; then
		echo "test-setup: PAM fixtures failed (see test-logs/pam-setup.log)" >&2
	fi
	;;
stop)
	[ -x scripts/pg-test.sh ] && scripts/pg-test.sh stop >/dev/null 2>&1
	[ -x scripts/mariadb-test.sh ] && scripts/mariadb-test.sh stop >/dev/null 2>&1
	[ -x scripts/pam-test.sh ] && [ "$(id -u)" -eq 0 ] && scripts/pam-test.sh teardown >/dev/null 2>&1
	true
	;;
*)
	echo "usage: $0 start ENVFILE | stop" >&2
	exit 2
	;;
esac
