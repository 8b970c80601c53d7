#!/usr/bin/env bash
# Install the Debian packages csocks needs, only those that are missing.
# Usage: scripts/deps.sh run    build + run dependencies
#        scripts/deps.sh test   the above + everything the test suite uses
# Idempotent and quiet when everything is present. Needs root (or sudo) to
# install; fails with the list of missing packages otherwise.
set -euo pipefail

RUN_PKGS=(meson ninja-build pkg-config gcc libc6-dev libc-ares-dev libsqlite3-dev libpq-dev
	libmariadb-dev libmicrohttpd-dev libjansson-dev libssl-dev libpam0g-dev libcrypt-dev
	libkrb5-dev)
TEST_PKGS=(clang libclang-rt-14-dev curl python3 python3-pytest python3-socks
	python3-python-socks ncat sqlite3 postgresql mariadb-server prometheus libpam-pwdfile libpam-modules
	valgrind openssl dante-server microsocks iproute2 procps passwd
	golang-github-burntsushi-toml-dev python3-pytest-xdist cppcheck clang-tidy clang-format
	krb5-kdc krb5-admin-server krb5-user python3-gssapi
	groff man-db debhelper dpkg-dev fakeroot lintian haproxy adduser
	chromium chromium-driver stunnel4)

want=("${RUN_PKGS[@]}")
[ "${1:-run}" = test ] && want+=("${TEST_PKGS[@]}")
# The dashboard's build (scripts/build-dashboard.sh) needs node and npm:
# Debian's own unless a newer node (with its npm) is already installed.
command -v node >/dev/null || want+=(nodejs)
command -v npm >/dev/null || want+=(npm)

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Services from these packages must not start on their own (no systemd in
# containers; and tests start their own instances on loopback).
policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	policy=1
fi
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ -n "$policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0
