#!/usr/bin/env bash
# Test fixtures for real PAM: users, groups and PAM service files.
#
#   scripts/pam-test.sh setup      create everything (idempotent; needs root)
#   scripts/pam-test.sh teardown   remove everything (idempotent; needs root)
#   scripts/pam-test.sh status     show what exists
#
# Everything is named csocks_* (users, groups) or csocks-test-* (PAM
# services), and the data files live in /etc/csocks-test/, so nothing can
# collide with the system's own. tests/unit/test_auth.c and
# tests/integration/test_auth.py use these names and passwords; change them
# together.
#
# Users (no home, shell /usr/sbin/nologin):
#   csocks_alice    password alice-Pw-1, supplementary group csocks_devs
#   csocks_bob      password bob-Pw-2
#   csocks_locked   password locked-Pw-3, password locked (usermod -L)
#   csocks_expired  password expired-Pw-4, account expired (chage -E 0)
#   csocks_rhost    no password: PAM_USER for the pam.address tests
# pam_pwdfile users (only in /etc/csocks-test/pwdfile, not in /etc/passwd):
#   csocks_pwd_carol  carol-Pw-5 (sha512-crypt)   csocks_pwd_dave  dave-Pw-6 (md5-crypt)
# PAM services (/etc/pam.d):
#   csocks-test-unix     pam_unix auth + account
#   csocks-test-pwdfile  pam_pwdfile (pwdfile=/etc/csocks-test/pwdfile) + pam_permit
#   csocks-test-access   pam_access (accessfile=/etc/csocks-test/access.conf) for
#                        auth and account: admits 127.0.0.1, refuses every other
#                        address (127.0.0.2 in the tests)
set -euo pipefail

DATA=/etc/csocks-test
PAMD=/etc/pam.d
SERVICES=(csocks-test-unix csocks-test-pwdfile csocks-test-access)
USERS=(csocks_alice csocks_bob csocks_locked csocks_expired csocks_rhost)
GROUPS_=(csocks_devs)
NOLOGIN=/usr/sbin/nologin

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "pam-test.sh: $1 needs root" >&2
		exit 1
	fi
}

have_user() { getent passwd "$1" >/dev/null; }
have_group() { getent group "$1" >/dev/null; }

add_user() { # name [extra useradd args...]
	local name=$1
	shift
	if ! have_user "$name"; then
		useradd -M -s "$NOLOGIN" "$@" "$name"
	elif [ $# -gt 0 ]; then
		usermod "$@" "$name"
	fi
}

write_file() { # path mode content
	local tmp
	tmp=$(mktemp "$1.XXXXXX")
	printf '%s' "$3" >"$tmp"
	chmod "$2" "$tmp"
	mv -f "$tmp" "$1"
}

setup() {
	need_root setup
	for g in "${GROUPS_[@]}"; do
		have_group "$g" || groupadd "$g"
	done
	add_user csocks_alice -G csocks_devs
	add_user csocks_bob
	add_user csocks_locked
	add_user csocks_expired
	add_user csocks_rhost
	chpasswd <<-PW
	csocks_alice:alice-Pw-1
	csocks_bob:bob-Pw-2
	csocks_locked:locked-Pw-3
	csocks_expired:expired-Pw-4
	PW
	usermod -L csocks_locked
	usermod -U csocks_alice >/dev/null 2>&1 || true
	chage -E 0 csocks_expired
	chage -E -1 csocks_alice
	passwd -l csocks_rhost >/dev/null

	mkdir -p "$DATA"
	chmod 0755 "$DATA"
	local carol dave
	carol=$(openssl passwd -6 'carol-Pw-5')
	dave=$(openssl passwd -1 'dave-Pw-6')
	write_file "$DATA/pwdfile" 0600 "csocks_pwd_carol:$carol
csocks_pwd_dave:$dave
"
	write_file "$DATA/access.conf" 0644 "# csocks tests: only 127.0.0.1 may use the proxy
+ : ALL : 127.0.0.1
- : ALL : ALL
"
	write_file "$PAMD/csocks-test-unix" 0644 "#%PAM-1.0
# csocks test service (scripts/pam-test.sh): local users via pam_unix.
auth       required     pam_unix.so
account    required     pam_unix.so
"
	write_file "$PAMD/csocks-test-pwdfile" 0644 "#%PAM-1.0
# csocks test service (scripts/pam-test.sh): users from a password file.
auth       required     pam_pwdfile.so pwdfile=$DATA/pwdfile
account    required     pam_permit.so
"
	write_file "$PAMD/csocks-test-access" 0644 "#%PAM-1.0
# csocks test service (scripts/pam-test.sh): decide by client address.
auth       required     pam_access.so accessfile=$DATA/access.conf
account    required     pam_access.so accessfile=$DATA/access.conf
"
	echo "pam-test: set up ${#USERS[@]} users, ${#GROUPS_[@]} group, ${#SERVICES[@]} PAM services"
}

teardown() {
	need_root teardown
	for s in "${SERVICES[@]}"; do
		rm -f "$PAMD/$s"
	done
	rm -rf "$DATA"
	for u in "${USERS[@]}"; do
		if have_user "$u"; then
			userdel "$u" 2>/dev/null || userdel -f "$u"
		fi
		# the user-private group, if userdel left it
		if have_group "$u"; then groupdel "$u" 2>/dev/null || true; fi
	done
	for g in "${GROUPS_[@]}"; do
		if have_group "$g"; then groupdel "$g"; fi
	done
	echo "pam-test: torn down"
}

status() {
	local u g s
	for u in "${USERS[@]}"; do
		have_user "$u" && echo "user $u: $(id "$u")" || echo "user $u: absent"
	done
	for g in "${GROUPS_[@]}"; do
		have_group "$g" && echo "group $g: $(getent group "$g")" || echo "group $g: absent"
	done
	for s in "${SERVICES[@]}"; do
		[ -f "$PAMD/$s" ] && echo "service $s: present" || echo "service $s: absent"
	done
}

case "${1:-}" in
setup) setup ;;
teardown) teardown ;;
status) status ;;
*)
	echo "usage: $0 setup|teardown|status" >&2
	exit 2
	;;
esac
