#!/usr/bin/env bash
# bench/compare.sh - run one battery against direct loopback, csocks, Dante and
# microsocks in a single run and print a table with ratios. See bench/README.md.
#
#   bench/compare.sh [--quick] [--reps N] [--only "direct csocks dante microsocks"]
#                    [--csocks PATH] [--idle N] [--out FILE] [--no-install] [--keep]
#
# Every process it starts is tracked by PID and stopped on exit (also on ^C).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
REPS=
ONLY="direct csocks dante microsocks"
CSOCKS=
IDLE_N=5000
OUT=
INSTALL=1
KEEP=0

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'EOF'
options:
  --quick         ~1-1.5 minutes: smaller transfers, 3 s rate runs, 1 repetition
  --reps N        repetitions of bulk and rate (median reported; default 3, quick 1)
  --only LIST     peers to run, from: direct csocks dante microsocks
  --csocks PATH   csocks binary (default: build it in build-bench/, else build/csocks)
  --idle N        idle tunnels (default 5000)
  --out FILE      also write the raw JSON result lines to FILE
  --no-install    do not apt-get install missing peers
  --keep          keep the work directory (configs, logs, raw results)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--reps) REPS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--csocks) CSOCKS=$2; shift ;;
	--idle) IDLE_N=$2; shift ;;
	--out) OUT=$2; shift ;;
	--no-install) INSTALL=0 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

NPROC=$(nproc)
if [ "$QUICK" = 1 ]; then
	BULK_C=4; BULK_N=128M; RATE_C=32; RATE_D=3; REPS=${REPS:-1}
	TW_MAX=15000 # a 3 s Dante round binds ~7,000 ports
else
	BULK_C=4; BULK_N=256M; RATE_C=32; RATE_D=10; REPS=${REPS:-3}
	TW_MAX=4000 # a 10 s Dante round binds ~20,000 of the 28,000 ports
fi

WD=$(mktemp -d /tmp/csocks-compare.XXXXXX)
PIDS=()
NOTES=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ----

build_socksbench compare.sh

apt_install() {
	[ "$INSTALL" = 1 ] || return 1
	log "installing $1"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >"$WD/apt.log" 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >"$WD/apt.log" 2>&1; }
}

want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

DANTED=$(command -v danted || echo /usr/sbin/danted)
if want dante && [ ! -x "$DANTED" ]; then
	apt_install dante-server || note "dante-server could not be installed"
fi
if want microsocks && ! command -v microsocks >/dev/null; then
	apt_install microsocks || note "microsocks could not be installed"
fi

if want csocks && [ -z "$CSOCKS" ]; then
	log "building csocks (build-bench/)"
	if { [ -d "$ROOT/build-bench" ] || meson setup "$ROOT/build-bench" "$ROOT" >"$WD/csocks-build.log" 2>&1; } &&
		ninja -C "$ROOT/build-bench" csocks >>"$WD/csocks-build.log" 2>&1; then
		CSOCKS="$ROOT/build-bench/csocks"
	elif CSOCKS=$(ls -t "$ROOT/build/csocks" "$ROOT/build-bench/csocks" 2>/dev/null | head -1) &&
		[ -n "$CSOCKS" ]; then
		note "csocks did not build in build-bench/ now; using ${CSOCKS#"$ROOT"/} of $(date -r "$CSOCKS" '+%H:%M')"
	else
		note "csocks: no binary (build failed, see meson/ninja output) - skipped"
	fi
fi

# ---- target ----

"$SB" serve --port 0 >"$WD/target.out" 2>"$WD/target.err" &
TARGET_PID=$!
PIDS+=("$TARGET_PID")
for _ in $(seq 50); do
	grep -q listening "$WD/target.out" 2>/dev/null && break
	sleep 0.1
done
TPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WD/target.out")
if [ -z "$TPORT" ]; then
	echo "compare.sh: target did not start" >&2
	cat "$WD/target.err" >&2
	exit 1
fi
TARGET="127.0.0.1:$TPORT"

# ---- peers ----

PEER_PID=
PEER_PORT=

start_csocks() {
	[ -n "$CSOCKS" ] && [ -x "$CSOCKS" ] || return 1
	cat >"$WD/csocks.toml" <<EOF
[server]
bind_address = "127.0.0.1"
bind_port = $PEER_PORT
max_connections = 100000
worker_threads = $NPROC
[auth]
socks_method = "none"
[logging]
level = "warn"
access_log = false
[acl]
enabled = false
[sessions]
enabled = false
EOF
	"$CSOCKS" -c "$WD/csocks.toml" >"$WD/csocks.log" 2>&1 &
	PEER_PID=$!
}

start_dante() {
	[ -x "$DANTED" ] || return 1
	cat >"$WD/danted.conf" <<EOF
logoutput: stderr
errorlog: stderr
internal: 127.0.0.1 port = $PEER_PORT
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
EOF
	"$DANTED" -f "$WD/danted.conf" >"$WD/dante.log" 2>&1 &
	PEER_PID=$!
}

start_microsocks() {
	command -v microsocks >/dev/null || return 1
	microsocks -i 127.0.0.1 -p "$PEER_PORT" >"$WD/microsocks.log" 2>&1 &
	PEER_PID=$!
}

# start_peer NAME: sets PEER_PID/PEER_PORT, or returns 1 with a note.
start_peer() {
	PEER_PID=
	PEER_PORT=$(free_port) || { note "$1: no free port"; return 1; }
	if ! "start_$1"; then
		[ "$1" = csocks ] && [ -z "$CSOCKS" ] || note "$1: not available - skipped"
		return 1
	fi
	PIDS+=("$PEER_PID")
	if ! wait_port "$PEER_PORT" "$PEER_PID"; then
		note "$1: did not start (log: $(tail -c 300 "$WD/$1.log" 2>/dev/null | tr '\n' ' ')) - skipped"
		stop_pid "$PEER_PID"; forget_pid "$PEER_PID"
		return 1
	fi
	# One tiny round trip proves the SOCKS path works before the battery.
	if ! timeout 20 "$SB" rate --proxy "127.0.0.1:$PEER_PORT" --target "$TARGET" \
		-c 1 --count 5 -d 5 >"$WD/$1.sanity" 2>&1 ||
		! grep -q ' ok=5 ' "$WD/$1.sanity"; then
		note "$1: sanity CONNECT failed ($(cat "$WD/$1.sanity")) - skipped"
		stop_pid "$PEER_PID"; forget_pid "$PEER_PID"
		return 1
	fi
	return 0
}

RESULTS="$WD/results.jsonl"
: >"$RESULTS"

# Clients connect from 127.0.0.2, so the TIME_WAIT sockets they leave do not
# take ports on 127.0.0.1, where Dante binds its upstream sockets.
SOURCE=127.0.0.2

# sb NAME MODE ARGS...: run socksbench, keep its JSON lines tagged with NAME.
sb() {
	local name=$1 mode=$2
	shift 2
	local via=(--proxy "127.0.0.1:${PORT_OF[$name]:-}")
	[ "$name" = direct ] && via=(--direct)
	timeout 600 "$SB" "$mode" "${via[@]}" --target "$TARGET" --source "$SOURCE" \
		--label "$name" --json "$@" \
		>>"$RESULTS" 2>>"$WD/$name.sb.err"
}

# Errors of one peer, summarised for the notes under the table.
error_notes() {
	local line
	grep "\"label\":\"$1\"" "$RESULTS" | grep -v '"errors":0' | while read -r line; do
		echo "$line" | sed -e 's/.*"mode":"\([a-z]*\)".*/\1/' | tr '\n' ' '
		echo "$line" | grep -o '"\(errors\|err_[a-z]*\|reply_0x[0-9a-f]*\|first_error\)":[^,}]*' |
			tr -d '"' | tr '\n' ' '
		echo
	done
}

START=$(date +%s)
for peer in $ONLY; do
	case " direct csocks dante microsocks " in
	*" $peer "*) ;;
	*) note "unknown peer $peer" ;;
	esac
done

# All peers run side by side for the whole battery (an idle proxy costs
# nothing) so that each test's rounds can alternate between peers: a burst of
# noise on this shared machine then hits every column, not one. Dante starts
# first, on a clean port table (see wait_time_wait).
declare -A PID_OF PORT_OF
RUN=
for peer in dante microsocks csocks; do
	want "$peer" || continue
	[ "$peer" = dante ] && wait_time_wait dante
	if start_peer "$peer"; then
		PID_OF[$peer]=$PEER_PID
		PORT_OF[$peer]=$PEER_PORT
		RUN="$RUN $peer"
	fi
done
want direct && RUN="$RUN direct"

# Idle first: the TIME_WAIT sockets its 5,000 closes leave expire during the
# bulk rounds, before the rate rounds need the ports.
for peer in $RUN; do
	log "$peer: idle ($IDLE_N tunnels)"
	if [ "$peer" = direct ]; then
		sb "$peer" idle -c "$IDLE_N" -d 120
	else
		sb "$peer" idle -c "$IDLE_N" -d 120 --pid "${PID_OF[$peer]}" --settle 2
	fi
done
# --pid: the proxy's own CPU seconds per GB relayed, next to its MB/s.
# Each round twice: the receiver checking every byte, then --sample (it
# checks every 8th read and drops the rest unread), which leaves more of
# the shared cores to the proxy.
for r in $(seq "$REPS"); do
	for check in all sample; do
		for peer in $RUN; do
			pid=()
			[ "$peer" != direct ] && pid=(--pid "${PID_OF[$peer]}")
			[ "$check" = sample ] && pid+=(--sample)
			log "$peer: bulk ($BULK_C x $BULK_N each way, $check checked), round $r/$REPS"
			sb "$peer" bulk -c "$BULK_C" -n "$BULK_N" -d 120 "${pid[@]}"
		done
	done
done
# Connection churn last. Dante binds its upstream socket to a port before
# connecting: one rate round leaves ~20,000 of the 28,000 ephemeral ports in
# TIME_WAIT for 60 s, a second round then fails (reply 0x03), and ports bound
# that way are off limits to every other connect() on the machine too. So Dante
# gets one round, on a clean port table, and the others start after its ports
# are released.
if [ -n "${PORT_OF[dante]:-}" ]; then
	wait_time_wait "dante's rate round"
	log "dante: rate ($RATE_C clients, ${RATE_D}s), 1 round"
	sb dante rate -c "$RATE_C" -d "$RATE_D"
	[ "$REPS" -gt 1 ] && note "dante: one rate round, not $REPS (it binds before connect: a second round within 60 s runs out of ports)"
	wait_time_wait "the other rate rounds"
fi
for r in $(seq "$REPS"); do
	for peer in $RUN; do
		[ "$peer" = dante ] && continue
		log "$peer: rate ($RATE_C clients, ${RATE_D}s), round $r/$REPS"
		sb "$peer" rate -c "$RATE_C" -d "$RATE_D"
	done
done

for peer in $RUN; do
	if [ "$peer" != direct ]; then
		kill -0 "${PID_OF[$peer]}" 2>/dev/null || note "$peer: process died during the run"
		stop_pid "${PID_OF[$peer]}"
		forget_pid "${PID_OF[$peer]}"
	fi
	while read -r e; do
		[ -n "$e" ] && note "$peer errors: $e"
	done < <(error_notes "$peer")
done
ELAPSED=$(( $(date +%s) - START ))
[ -n "$OUT" ] && cp "$RESULTS" "$OUT"

# ---- table ----

# values, median, sum: bench/lib.sh

get() { # get NAME ROW -> number or empty
	case "$2" in
	down) values "$1" bulk MBps '"dir":"download".*"checked":"all"' | median ;;
	up) values "$1" bulk MBps '"dir":"upload".*"checked":"all"' | median ;;
	downs) values "$1" bulk MBps '"dir":"download".*"checked":"sample"' | median ;;
	ups) values "$1" bulk MBps '"dir":"upload".*"checked":"sample"' | median ;;
	cpud) values "$1" bulk proxy_cpu_s_per_GB '"dir":"download"' | median ;;
	cpuu) values "$1" bulk proxy_cpu_s_per_GB '"dir":"upload"' | median ;;
	cps) values "$1" rate cps | median ;;
	p50) values "$1" rate hs_p50_us | median ;;
	p99) values "$1" rate hs_p99_us | median ;;
	rss) values "$1" idle rss_kib_per_tunnel ;;
	pss) values "$1" idle pss_kib_per_tunnel ;;
	fds) values "$1" idle fds_per_tunnel ;;
	alive) values "$1" idle alive ;;
	errs) { values "$1" bulk errors; values "$1" rate errors; values "$1" idle errors; } | sum_seen ;;
	esac
}

ratio() {
	if [ -n "$1" ] && [ -n "$2" ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 != 0) printf "%.2f", a / b; else print "-" }'
	else
		echo "-"
	fi
}

ROWS="down up downs ups cpud cpuu cps p50 p99 rss pss fds alive errs"
label() {
	case "$1" in
	down) echo "bulk download MB/s" ;;
	up) echo "bulk upload MB/s" ;;
	downs) echo "  sampled check, down" ;;
	ups) echo "  sampled check, up" ;;
	cpud) echo "CPU s/GB download" ;;
	cpuu) echo "CPU s/GB upload" ;;
	cps) echo "CONNECT rate conn/s" ;;
	p50) echo "handshake p50 us" ;;
	p99) echo "handshake p99 us" ;;
	rss) echo "idle RSS KiB/tunnel" ;;
	pss) echo "idle PSS KiB/tunnel" ;;
	fds) echo "idle fds/tunnel" ;;
	alive) echo "idle tunnels alive" ;;
	errs) echo "failed connections" ;;
	esac
}

echo
echo "csocks comparison - $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $NPROC cores, $( [ "$QUICK" = 1 ] && echo quick || echo full) run, ${ELAPSED}s"
echo "bulk: $BULK_C conns x $BULK_N per direction; rate: $RATE_C clients x ${RATE_D}s, 64-byte echo; median of $REPS; idle: $IDLE_N tunnels"
printf '%-22s %12s %12s %12s %12s %13s %14s\n' test direct csocks dante microsocks csocks/dante csocks/direct
for row in $ROWS; do
	d=$(get direct "$row"); c=$(get csocks "$row"); t=$(get dante "$row"); m=$(get microsocks "$row")
	printf '%-22s %12s %12s %12s %12s %13s %14s\n' "$(label "$row")" "${d:--}" "${c:--}" "${t:--}" \
		"${m:--}" "$(ratio "$c" "$t")" "$(ratio "$c" "$d")"
done
echo
echo "MB/s = 10^6 bytes/s of payload whose length is exact and whose every byte the receiver"
echo "checked. \"sampled check\": the receiver copied and checked every 8th read and dropped the"
echo "rest in the kernel (MSG_TRUNC), so that the load generator takes less of the shared cores."
echo "Handshake = TCP connect start to SOCKS5 success reply (direct: to TCP connected)."
echo "RSS/PSS/fds: growth of the proxy process and its children per tunnel at $IDLE_N idle"
echo "tunnels. Ratios are csocks / other: higher is better for MB/s and"
echo "conn/s, lower for latency, memory and fds."
echo "CPU s/GB: the proxy's own user+system CPU seconds (its process tree) per 10^9 bytes"
echo "relayed, median over all bulk rounds: what relaying costs, however the cores are shared;"
echo "1/x is what one core of that proxy relays. The MB/s rows are capped by the load generator,"
echo "which needs most of the same cores (perf: ~70% of the samples in a csocks bulk round)."
echo "microsocks is Debian's 1.0.3: it relays through a 1 KiB buffer, which caps its bulk numbers."
echo "Dante forks helper processes: its RSS sums every process (PSS splits shared pages fairly)."
echo "Client, target and proxy share the same $NPROC cores over loopback: numbers compare peers in this"
echo "run, not absolute capacity."
for n in "${NOTES[@]}"; do
	echo "note: $n"
done
