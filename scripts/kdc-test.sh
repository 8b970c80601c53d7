#!/bin/bash
# A throwaway MIT Kerberos KDC for the GSSAPI tests (RFC 1961).
#
#   scripts/kdc-test.sh start    create (if needed) and start; prints the env
#   scripts/kdc-test.sh env      print the env of the running KDC
#   scripts/kdc-test.sh stop     stop it and remove everything
#   scripts/kdc-test.sh status   exit 0 when running
#
# Everything lives in $CSOCKS_KDC_DIR (default /tmp/csocks-kdc-test; give each
# concurrent test run its own): krb5.conf, kdc.conf, the database, the KDC's
# log and pid file, and csocks' keytab. Nothing system-wide is touched: the
# clients and csocks find the KDC through KRB5_CONFIG, the KDC its database
# through KRB5_KDC_PROFILE. The realm is CSOCKS.TEST, the KDC listens on
# 127.0.0.1 on a free port (UDP and TCP). Principals:
#   socks/localhost   csocks' service (in $DIR/csocks.keytab)
#   rcmd/localhost    curl's default service; NOT in the keytab (the tests'
#                     "wrong service principal")
#   alice, bob, carol users with passwords alicepw, bobpw, carolpw
# clockskew is 2 s (so a ticket that expired is refused within seconds) and
# tickets may be as short as the KDC allows (kinit -l 3s).
#
# `start` and `env` end with export lines (KRB5_CONFIG, KRB5_KDC_PROFILE,
# CSOCKS_KDC_KEYTAB, CSOCKS_KDC_REALM, CSOCKS_KDC_PORT); the same is in
# $DIR/env. Installs krb5-kdc/krb5-admin-server/krb5-user (scripts/deps.sh
# test) when missing. Every wait is bounded.
set -euo pipefail

DIR=${CSOCKS_KDC_DIR:-/tmp/csocks-kdc-test}
REALM=CSOCKS.TEST
SBIN=/usr/sbin
WAIT=30

die() { echo "kdc-test: $*" >&2; exit 1; }

ensure_installed() {
	[ -x "$SBIN/krb5kdc" ] && [ -x "$SBIN/kdb5_util" ] && [ -x "$SBIN/kadmin.local" ] &&
		command -v kinit >/dev/null && return 0
	"$(dirname "$0")/deps.sh" test >&2 || die "installing the KDC packages failed"
	[ -x "$SBIN/krb5kdc" ] || die "$SBIN/krb5kdc still missing after install"
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pid_alive() {
	[ -f "$DIR/kdc.pid" ] && kill -0 "$(cat "$DIR/kdc.pid")" 2>/dev/null
}

write_env() {
	cat >"$DIR/env" <<EOF
export KRB5_CONFIG=$DIR/krb5.conf
export KRB5_KDC_PROFILE=$DIR/kdc.conf
export CSOCKS_KDC_KEYTAB=$DIR/csocks.keytab
export CSOCKS_KDC_REALM=$REALM
export CSOCKS_KDC_PORT=$(cat "$DIR/port")
EOF
}

write_conf() {
	local port=$1
	cat >"$DIR/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	dns_canonicalize_hostname = false
	rdns = false
	clockskew = 2
	udp_preference_limit = 1
	forwardable = false
	ticket_lifetime = 1h
[realms]
	$REALM = {
		kdc = 127.0.0.1:$port
		admin_server = 127.0.0.1:1
	}
[domain_realm]
	localhost = $REALM
	.localhost = $REALM
EOF
	cat >"$DIR/kdc.conf" <<EOF
[kdcdefaults]
	kdc_listen = 127.0.0.1:$port
	kdc_tcp_listen = 127.0.0.1:$port
[realms]
	$REALM = {
		database_name = $DIR/principal
		key_stash_file = $DIR/stash
		acl_file = $DIR/kadm5.acl
		max_life = 1h
		max_renewable_life = 0
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
	}
[logging]
	kdc = FILE:$DIR/kdc.log
	admin_server = FILE:$DIR/kadmin.log
EOF
	: >"$DIR/kadm5.acl"
}

kadmin() {
	KRB5_CONFIG=$DIR/krb5.conf KRB5_KDC_PROFILE=$DIR/kdc.conf \
		timeout "$WAIT" "$SBIN/kadmin.local" -r "$REALM" -q "$1" >>"$DIR/kadmin.out" 2>&1 ||
		die "kadmin.local -q '$1' failed (see $DIR/kadmin.out)"
}

create() {
	rm -rf "$DIR"
	mkdir -p "$DIR"
	chmod 755 "$DIR"
	free_port >"$DIR/port"
	write_conf "$(cat "$DIR/port")"
	KRB5_CONFIG=$DIR/krb5.conf KRB5_KDC_PROFILE=$DIR/kdc.conf \
		timeout "$WAIT" "$SBIN/kdb5_util" -r "$REALM" -P masterpw create -s \
		>"$DIR/kdb5_util.out" 2>&1 || { cat "$DIR/kdb5_util.out" >&2; die "kdb5_util create failed"; }
	kadmin "addprinc -randkey socks/localhost"
	kadmin "addprinc -randkey rcmd/localhost"
	for u in alice bob carol; do
		kadmin "addprinc -pw ${u}pw $u"
	done
	kadmin "ktadd -k $DIR/csocks.keytab socks/localhost"
	chmod 600 "$DIR/csocks.keytab"
}

server_start() {
	KRB5_CONFIG=$DIR/krb5.conf KRB5_KDC_PROFILE=$DIR/kdc.conf \
		"$SBIN/krb5kdc" -r "$REALM" -P "$DIR/kdc.pid" 9>&- </dev/null >>"$DIR/kdc.out" 2>&1 ||
		die "krb5kdc did not start (see $DIR/kdc.out)"
	local port i
	port=$(cat "$DIR/port")
	for ((i = 0; i < WAIT * 10; i++)); do
		if pid_alive && /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	tail -20 "$DIR/kdc.log" >&2 || true
	die "the KDC did not listen on 127.0.0.1:$port within ${WAIT}s"
}

cmd_start() {
	ensure_installed
	if pid_alive; then
		:
	elif [ -f "$DIR/principal" ] && [ -f "$DIR/port" ]; then
		server_start
	else
		create
		server_start
	fi
	write_env
	cat "$DIR/env"
}

cmd_stop() {
	if pid_alive; then
		local pid i
		pid=$(cat "$DIR/kdc.pid")
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < WAIT * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -rf "$DIR"
}

mkdir -p "$(dirname "$DIR")"
exec 9>>"$DIR.flock"
flock -w 300 9 || die "timed out waiting for $DIR.flock"

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) pid_alive || die "not running"; cat "$DIR/env" ;;
status) pid_alive ;;
*) echo "usage: $0 start|stop|env|status" >&2; exit 2 ;;
esac
