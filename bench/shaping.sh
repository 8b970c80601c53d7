#!/usr/bin/env bash
# bench/shaping.sh - how exactly csocks holds tunnels to its bandwidth caps
# ([qos.htb]) and what shaping costs in CPU. See bench/README.md.
#
#   bench/shaping.sh [--csocks PATH] [--rate BYTES_PER_S] [--keep]
#
# Runs socksbench bulk (both directions, 1, 4 and 16 parallel tunnels of one
# user, 256 MB in all per direction) through csocks twice: with a per-user
# cap of RATE (default 100 MB/s) and with a global cap of 1.5 x RATE, and
# prints the achieved MB/s against the cap and csocks' CPU per GB. Every
# process it starts is stopped by PID on exit.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CSOCKS=
RATE=100000000
KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--csocks) CSOCKS=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "shaping.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
case "$RATE" in '' | *[!0-9]*) echo "shaping.sh: --rate wants bytes per second" >&2; exit 2 ;; esac
# 12 transfers of 256 MB: at 20 MB/s the run takes about 3 minutes
[ "$RATE" -ge 20000000 ] || { echo "shaping.sh: --rate of at least 20000000 (20 MB/s)" >&2; exit 2; }

WD=$(mktemp -d /tmp/csocks-shaping.XXXXXX)
PIDS=()
NOTES=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

build_socksbench shaping.sh
if [ -z "$CSOCKS" ]; then
	CSOCKS="$ROOT/build/csocks"
	[ -x "$CSOCKS" ] || { meson setup "$ROOT/build" "$ROOT" >/dev/null && ninja -C "$ROOT/build" >/dev/null; } || exit 1
fi

TPORT=$(free_port) || exit 1
"$SB" serve --port "$TPORT" --bind 127.0.0.1 -d 3600 >"$WD/target.log" 2>&1 &
PIDS+=($!)
wait_port "$TPORT" "$!" || { echo "shaping.sh: target did not start" >&2; exit 1; }

# run LABEL USER_RATE GLOBAL_RATE
run() {
	local label=$1 port pid n cap
	port=$(free_port) || exit 1
	cat >"$WD/$label.toml" <<EOF
[server]
bind_address = "127.0.0.1"
bind_port = $port
[auth]
socks_method = "none"
[logging]
level = "error"
access_log = false
[acl]
enabled = false
[sessions]
enabled = false
[metrics]
enabled = false
[qos]
enabled = true
[qos.htb]
max_bandwidth_bytes_per_sec = $2
global_bandwidth_bytes_per_sec = $3
burst_size_bytes = 1048576
[qos.connection_limits]
max_connections_per_user = 0
max_connections_global = 0
EOF
	"$CSOCKS" -c "$WD/$label.toml" >"$WD/$label.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" "$pid" || { echo "shaping.sh: csocks did not start: $(tail -3 "$WD/$label.log")" >&2; exit 1; }
	cap=$(( $2 > 0 ? $2 : $3 ))
	for n in 1 4 16; do
		"$SB" bulk --proxy "127.0.0.1:$port" --target "127.0.0.1:$TPORT" --pid "$pid" \
			-c "$n" -n "$((256 / n))M" --dir both -d 120 --json 2>>"$WD/sb.err" |
			while read -r line; do
				dir=$(sed -n 's/.*"dir":"\([a-z]*\)".*/\1/p' <<<"$line")
				mbps=$(sed -n 's/.*"MBps":\([0-9.]*\).*/\1/p' <<<"$line")
				cpu=$(sed -n 's/.*"proxy_cpu_s_per_GB":\([0-9.]*\).*/\1/p' <<<"$line")
				ok=$(sed -n 's/.*"verified":\([a-z]*\).*/\1/p' <<<"$line")
				printf '%-12s %3d %-9s %9.1f %9.1f %8.3f %10s %s\n' "$label" "$n" "$dir" "$mbps" \
					"$(awk -v c="$cap" 'BEGIN { print c / 1e6 }')" \
					"$(awk -v m="$mbps" -v c="$cap" 'BEGIN { print m * 1e6 / c }')" "$cpu" "$ok"
			done
	done
	stop_pid "$pid"
	forget_pid "$pid"
}

echo "csocks bandwidth caps - $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) cores"
echo "socksbench bulk through csocks, one user, 256 MB per direction in all"
printf '%-12s %3s %-9s %9s %9s %8s %10s %s\n' cap tunnels dir MB/s cap_MB/s ratio "CPU s/GB" verified
run user "$RATE" 0
run global 0 "$((RATE * 3 / 2))"
echo
echo "ratio = achieved / cap (1.000 = exact). CPU s/GB: csocks' user+system CPU per 10^9"
echo "bytes relayed while shaping (unshaped relaying costs about 0.2 on the same machine)."
