#!/usr/bin/env bash
# The Debian package, end to end (a step of scripts/test.sh):
#   1. debian/changelog carries meson.build's project version;
#   2. dpkg-buildpackage -us -uc -b in a `git archive` export of the tree
#      (working-tree changes included through `git stash create`), so
#      nothing of the dev build tree is reused;
#   3. lintian: no errors (warnings are printed);
#   4. the file list of the .deb;
#   5. as root: dpkg -i on this machine, then csocks started the way the
#      unit's ExecStart= says (no systemd in a container: as the unit's
#      User=, in its WorkingDirectory=, with a NOTIFY_SOCKET that must
#      receive READY=1), a request proxied with curl --socks5-hostname to a
#      local HTTP server, its session row in the packaged SQLite store,
#      SIGTERM, exit 0, and dpkg --purge leaving nothing behind.
#      Not root: dpkg -x into a temporary root, --version and --check-config
#      of the extracted binary and config.
# Prints "package: N passed, N failed". Needs scripts/deps.sh test.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # check "what" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
	echo "package: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

work=$(mktemp -d /tmp/csocks-pkg.XXXXXX)
pids=()
installed=
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	if [ -n "$installed" ]; then dpkg --purge csocks >/dev/null 2>&1; fi
	rm -rf "$work"
}
trap cleanup EXIT

# 1. One version: meson.build's; the changelog must follow it.
mver=$(sed -nE "s/^ *version *: *'([^']+)'.*/\1/p" meson.build | head -1)
dver=$(dpkg-parsechangelog -l debian/changelog -S Version)
check "debian/changelog version $dver is meson.build's $mver" test "${dver%%-*}" = "$mver"

# 2. Build from an export.
mkdir -p "$work/src"
if git rev-parse --git-dir >/dev/null 2>&1; then
	commit=$(git stash create 2>/dev/null)
	commit=${commit:-$(git rev-parse HEAD)}
	git archive "$commit" | tar -x -C "$work/src"
	want_commit=$(git rev-parse --short=12 "$commit")
else
	# A tarball: copy it without build trees; the commit is the one
	# src/git-commit.txt names.
	tar -c --exclude='./build*' --exclude=./test-logs --exclude=./debian/csocks \
		--exclude=./debian/.debhelper --exclude=./obj-* . | tar -x -C "$work/src"
	want_commit=$(scripts/git-commit.sh .)
fi
[ -d dashboard/dist ] && cp -r dashboard/dist "$work/src/dashboard/"
t0=$(date +%s)
if (cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($(($(date +%s) - t0)) s)"
else
	tail -30 "$work/build.log"
	bad "dpkg-buildpackage -us -uc -b"
	finish
fi
deb=$(ls "$work"/csocks_"$dver"_*.deb)

# 3. lintian: errors fail, warnings are listed.
lintian --allow-root "$work"/csocks_"$dver"_*.changes >"$work/lintian.log" 2>&1
grep -E '^[EW]: ' "$work/lintian.log"
check "lintian: no errors" bash -c "! grep -q '^E: ' '$work/lintian.log'"

# 4. The file list.
dpkg -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/files"
for f in /usr/sbin/csocks /etc/csocks/csocks.toml /etc/csocks/acl.toml /etc/pam.d/csocks \
	/etc/pam.d/csocks-client /lib/systemd/system/csocks.service \
	/usr/share/man/man8/csocks.8.gz /usr/share/man/man5/csocks.toml.5.gz \
	/usr/share/man/man5/csocks-acl.toml.5.gz /usr/share/doc/csocks/copyright \
	/usr/share/doc/csocks/deployment.md; do
	# dh_compress gzips documents over 4 KiB.
	check "the package has $f" grep -qxE "$f(\.gz)?" "$work/files"
done
if [ -d dashboard/dist ]; then
	check "the package has the dashboard" grep -q '^/usr/share/csocks/dashboard/.' "$work/files"
fi
dpkg-deb -e "$deb" "$work/control"
for f in /etc/csocks/csocks.toml /etc/csocks/acl.toml /etc/pam.d/csocks /etc/pam.d/csocks-client; do
	check "$f is a conffile" grep -qx "$f" "$work/control/conffiles"
done
check "postinst makes the csocks user" grep -q 'adduser --system' "$work/control/postinst"

if [ "$(id -u)" -ne 0 ]; then
	# Not root: a throwaway root from dpkg -x.
	dpkg -x "$deb" "$work/root"
	v=$("$work/root/usr/sbin/csocks" --version)
	check "--version '$v' shows $mver and commit $want_commit" \
		test "$v" = "csocks $mver (commit $want_commit)"
	sed "s|/etc/csocks/acl.toml|$work/root/etc/csocks/acl.toml|; s|/var/lib/csocks|$work/state|" \
		"$work/root/etc/csocks/csocks.toml" >"$work/csocks.toml"
	check "the packaged config is valid" "$work/root/usr/sbin/csocks" -c "$work/csocks.toml" --check-config
	echo "note: not root: installed nothing (dpkg -x and file list only)"
	finish
fi

# 5. Install on this machine.
dpkg --purge csocks >/dev/null 2>&1 || true
if dpkg -i "$deb" >"$work/install.log" 2>&1; then
	installed=1
	ok "dpkg -i"
else
	cat "$work/install.log"
	bad "dpkg -i"
	finish
fi
check "the csocks system user exists" getent passwd csocks
check "/var/lib/csocks belongs to csocks" test "$(stat -c %U /var/lib/csocks)" = csocks
v=$(/usr/sbin/csocks --version)
check "--version '$v' shows $mver and commit $want_commit" \
	test "$v" = "csocks $mver (commit $want_commit)"
for p in csocks.8 csocks.toml.5 csocks-acl.toml.5; do
	page=/usr/share/man/man${p##*.}/$p.gz
	check "man --warnings $p: no warnings" bash -c "[ -z \"\$(man --warnings -l $page 2>&1 >/dev/null)\" ]"
done

unit=/lib/systemd/system/csocks.service
key() { sed -n "s/^$1=//p" "$unit" | tail -1; }
exec_start=$(key ExecStart) exec_pre=$(key ExecStartPre) user=$(key User) group=$(key Group)
wdir=$(key WorkingDirectory)
echo "unit: User=$user Group=$group WorkingDirectory=$wdir ExecStart=$exec_start"
check "the unit is Type=notify" grep -qx 'Type=notify' "$unit"
for k in ProtectSystem=strict NoNewPrivileges=true StateDirectory=csocks \
	CapabilityBoundingSet=CAP_NET_BIND_SERVICE; do
	check "the unit has $k" grep -qx "$k" "$unit"
done

# Free ports for the proxy and the API (the packaged 1080/9090 may be taken
# on a shared machine): set in the installed config, as an operator would.
read -r sport aport hport < <(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
sed -i "s/^bind_port = .*/bind_port = $sport/; s/^stats_api_port = .*/stats_api_port = $aport/" \
	/etc/csocks/csocks.toml

mkdir -p "$work/www"
echo "hello through the package $RANDOM" >"$work/www/hello.txt"
(cd "$work/www" && exec /usr/bin/python3 -m http.server -b 127.0.0.1 "$hport") \
	>"$work/http.log" 2>&1 &
pids+=($!)

# sd_notify: a datagram socket the csocks user may write to.
chmod 0755 "$work"
mkdir -m 0777 "$work/notify"
/usr/bin/python3 - "$work/notify/sock" >"$work/notify.log" 2>&1 <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.settimeout(60)
try:
    while True:
        msg = s.recv(4096).decode()
        print(msg.replace("\n", " "), flush=True)
        if "READY=1" in msg.split("\n"):
            break
except socket.timeout:
    print("timeout")
EOF
npid=$!
for _ in $(seq 50); do [ -S "$work/notify/sock" ] && break; sleep 0.1; done

# Run in a subshell (or with &): it execs, so the pid is csocks' own.
as_unit() { cd "$wdir" && exec setpriv --reuid="$user" --regid="$group" --init-groups \
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET="$work/notify/sock" "$@"; }
# shellcheck disable=SC2086 # the unit's command line, split as systemd would
check "ExecStartPre ($exec_pre)" eval '(as_unit $exec_pre)'
# shellcheck disable=SC2086
as_unit $exec_start >"$work/csocks.log" 2>&1 &
cpid=$!
pids+=($cpid)
for _ in $(seq 150); do kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
check "READY=1 on NOTIFY_SOCKET" grep -q 'READY=1' "$work/notify.log"
check "csocks runs as $user" test "$(ps -o user=,comm= -p "$cpid" | tr -s ' ')" = "$user csocks"

got=$(curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$sport" "http://127.0.0.1:$hport/hello.txt")
check "curl --socks5-hostname through the packaged csocks" test "$got" = "$(cat "$work/www/hello.txt")"
check "/health on the API" bash -c "curl -sS --max-time 5 http://127.0.0.1:$aport/health | grep -q ."

kill -TERM "$cpid"
rc=1
for _ in $(seq 100); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$cpid" 2>/dev/null; then wait "$cpid"; rc=$?; fi
check "SIGTERM: exit 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -20 "$work/csocks.log"
rows=$(sqlite3 /var/lib/csocks/sessions.db \
	"SELECT count(*) FROM sessions WHERE dest_port = $hport AND status = 'closed'" 2>&1)
check "the session row is in /var/lib/csocks/sessions.db ($rows)" test "$rows" = 1

dpkg --purge csocks >"$work/purge.log" 2>&1
check "dpkg --purge" test $? -eq 0
installed=
for f in /usr/sbin/csocks /etc/csocks /var/lib/csocks /etc/pam.d/csocks; do
	check "purge removed $f" test ! -e "$f"
done
finish
