#!/usr/bin/env bash
# SOCKS over TLS, side by side in one run:
#   csocks-tls     csocks with [server.tls] (native TLS)
#   stunnel-dante  stunnel4 (server) -> Dante
#   stunnel-csocks stunnel4 (server) -> csocks without TLS
# Bulk MB/s and MB per server-side CPU second, and SOCKS CONNECT rate with
# handshake / request-response latency p50/p99, go through one stunnel4
# client in front of socksbench (the same client cost for every column; its
# CPU is not counted). TLS handshakes/s, new sessions and resumed ones, are
# `openssl s_time` straight against each TLS listener.
# Usage: bench/tls.sh [--quick] [--csocks PATH] [--keep]
# Everything on 127.0.0.1; every process is stopped by PID at exit.
set -uo pipefail # no -e: a failed step is a note, and the clean-up must run to the end
ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0 KEEP=0 CSOCKS=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--csocks) CSOCKS=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) echo "tls.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then BULK_N=64M RATE_D=3 STIME=3; else BULK_N=256M RATE_D=8 STIME=8; fi
CSOCKS=${CSOCKS:-$ROOT/build/csocks}
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)
DANTED=$(command -v danted || echo /usr/sbin/danted)
for need in "$CSOCKS" "$STUNNEL" "$DANTED"; do
	[ -x "$need" ] || { echo "tls.sh: missing $need (scripts/deps.sh test)" >&2; exit 1; }
done

WD=$(mktemp -d /tmp/csocks-tls-bench.XXXXXX)
PIDS=()
NOTES=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
trap 'bench_cleanup || true' EXIT
trap 'exit 130' INT TERM
build_socksbench tls.sh
"$ROOT/scripts/tls-test-certs.sh" "$WD/certs" >/dev/null
C=$WD/certs

# ---- the target and the peers ----
"$SB" serve --port 0 --bind 127.0.0.1 -d 3600 >"$WD/target.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$WD/target.out" && break; sleep 0.1; done
TARGET=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$WD/target.out")
[ -n "$TARGET" ] || { echo "tls.sh: socksbench serve did not start" >&2; exit 1; }

P_TLS=$(free_port) P_PLAIN=$(free_port) P_DANTE=$(free_port)
S_DANTE=$(free_port) S_PLAIN=$(free_port)
csocks_conf() { # port tls
	cat <<EOF
[server]
bind_address = "127.0.0.1"
bind_port = $1
max_connections = 100000
[auth]
socks_method = "none"
[logging]
level = "warn"
[acl]
enabled = false
[sessions]
enabled = false
EOF
	[ "$2" = 1 ] && printf '[server.tls]\nenabled = true\ncertificate_path = "%s"\nprivate_key_path = "%s"\n' \
		"$C/server.pem" "$C/server.key"
	return 0
}
csocks_conf "$P_TLS" 1 >"$WD/csocks-tls.toml"
csocks_conf "$P_PLAIN" 0 >"$WD/csocks-plain.toml"
"$CSOCKS" -c "$WD/csocks-tls.toml" >"$WD/csocks-tls.log" 2>&1 &
PID_TLS=$!; PIDS+=($PID_TLS)
"$CSOCKS" -c "$WD/csocks-plain.toml" >"$WD/csocks-plain.log" 2>&1 &
PID_PLAIN=$!; PIDS+=($PID_PLAIN)
cat >"$WD/danted.conf" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = $P_DANTE
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
EOF
"$DANTED" -f "$WD/danted.conf" >"$WD/dante.log" 2>&1 &
PID_DANTE=$!; PIDS+=($PID_DANTE)
cat >"$WD/stunnel-server.conf" <<EOF
foreground = yes
pid =
debug = 3
cert = $C/server.pem
key = $C/server.key
[dante]
accept = 127.0.0.1:$S_DANTE
connect = 127.0.0.1:$P_DANTE
[plain]
accept = 127.0.0.1:$S_PLAIN
connect = 127.0.0.1:$P_PLAIN
EOF
"$STUNNEL" "$WD/stunnel-server.conf" >"$WD/stunnel-server.log" 2>&1 &
PID_SSRV=$!; PIDS+=($PID_SSRV)
# One stunnel client: plaintext SOCKS in, TLS to each server.
declare -A CLIENT_PORT SERVER_TLS
CLIENT_PORT[csocks-tls]=$(free_port); SERVER_TLS[csocks-tls]=$P_TLS
CLIENT_PORT[stunnel-dante]=$(free_port); SERVER_TLS[stunnel-dante]=$S_DANTE
CLIENT_PORT[stunnel-csocks]=$(free_port); SERVER_TLS[stunnel-csocks]=$S_PLAIN
{
	printf 'foreground = yes\npid =\ndebug = 3\n'
	for n in csocks-tls stunnel-dante stunnel-csocks; do
		printf '[%s]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\n' \
			"$n" "${CLIENT_PORT[$n]}" "${SERVER_TLS[$n]}"
		printf 'verifyChain = yes\nCAfile = %s\ncheckHost = localhost\n' "$C/ca.pem"
	done
} >"$WD/stunnel-client.conf"
"$STUNNEL" "$WD/stunnel-client.conf" >"$WD/stunnel-client.log" 2>&1 &
PID_SCLI=$!; PIDS+=($PID_SCLI)
for pp in "$P_TLS:$PID_TLS" "$P_PLAIN:$PID_PLAIN" "$P_DANTE:$PID_DANTE" "$S_DANTE:$PID_SSRV" \
	"$S_PLAIN:$PID_SSRV" "${CLIENT_PORT[csocks-tls]}:$PID_SCLI"; do
	wait_port "${pp%%:*}" "${pp##*:}" || { echo "tls.sh: port ${pp%%:*} did not open" >&2; exit 1; }
done

# CPU ticks of the server side of a column (with children: Dante forks).
server_pids() {
	case $1 in
	csocks-tls) echo "$PID_TLS" ;;
	stunnel-dante) echo "$PID_SSRV $PID_DANTE $(descendants "$PID_DANTE")" ;;
	stunnel-csocks) echo "$PID_SSRV $PID_PLAIN" ;;
	esac
}
ticks() {
	local t=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{ s = $0; sub(/.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$p/stat")))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)
RESULTS=$WD/results.jsonl
: >"$RESULTS"
declare -A R
PEERS="csocks-tls stunnel-dante stunnel-csocks"

for n in $PEERS; do
	log "$n: bulk (4 x $BULK_N both ways)"
	pids=$(server_pids "$n")
	# shellcheck disable=SC2086
	t0=$(ticks $pids)
	"$SB" bulk --proxy "127.0.0.1:${CLIENT_PORT[$n]}" --target "$TARGET" -c 4 -n "$BULK_N" \
		--dir both --sample --label "$n" --json >>"$RESULTS" 2>"$WD/$n-bulk.err" ||
		note "$n: bulk failed: $(tail -1 "$WD/$n-bulk.err")"
	# shellcheck disable=SC2086
	t1=$(ticks $pids)
	mb=$(values "$n" bulk bytes | sum | awk '{ printf "%.0f", $1 / 1e6 }')
	R[$n,cpu]=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v mb="$mb" 'BEGIN { c = d / hz; printf "%.0f", (c > 0 ? mb / c : 0) }')
	R[$n,down]=$(values "$n" bulk MBps '"download"' | median)
	R[$n,up]=$(values "$n" bulk MBps '"upload"' | median)
done
for n in $PEERS; do
	log "$n: CONNECT rate (16 clients, ${RATE_D}s, a new TLS connection each)"
	"$SB" rate --proxy "127.0.0.1:${CLIENT_PORT[$n]}" --target "$TARGET" -c 16 -d "$RATE_D" \
		--server-close --label "$n" --json >>"$RESULTS" 2>"$WD/$n-rate.err" ||
		note "$n: rate failed: $(tail -1 "$WD/$n-rate.err")"
	for k in cps hs_p50_us hs_p99_us txn_p50_us txn_p99_us; do
		R[$n,$k]=$(values "$n" rate "$k" | median)
	done
done
for n in $PEERS; do
	for kind in new reuse; do
		log "$n: openssl s_time -$kind (${STIME}s)"
		out=$(openssl s_time -connect "127.0.0.1:${SERVER_TLS[$n]}" -CAfile "$C/ca.pem" \
			-"$kind" -time "$STIME" 2>&1 || true)
		R[$n,hs_$kind]=$(echo "$out" | sed -n 's/^\([0-9]*\) connections in \([0-9.]*\)s.*/\1 \2/p' |
			awk '{ if ($2 > 0) printf "%.0f", $1 / $2 }' | head -1)
	done
done

# ---- the table ----
printf '\n%-30s %14s %14s %15s %12s %12s\n' test csocks-tls stunnel-dante stunnel-csocks tls/dante tls/stunnel-cs
row() { # label key
	local a b c
	a=${R[csocks-tls,$2]:-} b=${R[stunnel-dante,$2]:-} c=${R[stunnel-csocks,$2]:-}
	printf '%-30s %14s %14s %15s %12s %12s\n' "$1" "${a:--}" "${b:--}" "${c:--}" \
		"$(awk -v x="$a" -v y="$b" 'BEGIN { if (x > 0 && y > 0) printf "%.2fx", x / y; else print "-" }')" \
		"$(awk -v x="$a" -v y="$c" 'BEGIN { if (x > 0 && y > 0) printf "%.2fx", x / y; else print "-" }')"
}
row "bulk download MB/s" down
row "bulk upload MB/s" up
row "MB per server CPU-second" cpu
row "CONNECTs/s (new TLS conn each)" cps
row "SOCKS handshake p50 us" hs_p50_us
row "SOCKS handshake p99 us" hs_p99_us
row "request/response p50 us" txn_p50_us
row "request/response p99 us" txn_p99_us
row "TLS handshakes/s (new)" hs_new
row "TLS handshakes/s (resumed)" hs_reuse
for n in "${NOTES[@]}"; do echo "note: $n"; done
echo "(latency rows: lower is better; client: one stunnel4 in front of socksbench, $(nproc) CPUs)"
