# Shared by bench/compare.sh and bench/overhead.sh (sourced, not run).
# The caller sets WD (its work directory), PIDS=() (processes it started),
# NOTES=() and KEEP before sourcing; everything here stops processes by PID
# only and is bounded in time.

note() { NOTES+=("$*"); echo "note: $*" >&2; }
log() { echo "== $*" >&2; }

# build_socksbench NAME: compile socksbench into $WD/socksbench (a plain cc
# call, independent of the meson build) and set SB; on failure print the
# compiler's output and exit, NAME being the calling script.
build_socksbench() {
	SB="$WD/socksbench"
	log "building socksbench"
	if ! (cd "$ROOT/bench" && cc -std=gnu11 -O2 -D_GNU_SOURCE -Wall -Wextra -pthread \
		-o "$SB" socksbench.c sb_client.c sb_target.c sb_common.c) >"$WD/sb-build.log" 2>&1; then
		cat "$WD/sb-build.log" >&2
		echo "$1: cannot build socksbench" >&2
		exit 1
	fi
}

# Children of a pid, recursively (Dante forks helpers), by walking ps output.
descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# Stop one started process and everything it forked, by PID only (TERM, up
# to 10 s, then KILL), and wait for orphaned helpers to be reaped.
stop_pid() {
	local pid=$1 kids i p left
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kids=$(descendants "$pid")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	for p in $kids; do
		kill -KILL "$p" 2>/dev/null
	done
	for i in $(seq 20); do
		left=0
		for p in $kids; do
			[ -d "/proc/$p" ] && left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	return 0
}

forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# Stop everything started, then remove (or keep) the work directory.
bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		stop_pid "$p"
	done
	PIDS=()
	if [ "${KEEP:-0}" = 1 ]; then
		echo "work directory kept: $WD" >&2
	else
		rm -rf "$WD"
	fi
}

# A TCP port in 20000-29999 (below the ephemeral range) nobody listens on and
# this script has not handed out yet.
USED_PORTS=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 10000))
		case "$USED_PORTS" in *" $p "*) continue ;; esac
		if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
			USED_PORTS="$USED_PORTS$p "
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wait_port PORT PID: until something accepts on 127.0.0.1:PORT (10 s), or
# the process is gone.
wait_port() {
	local i
	for i in $(seq 100); do
		kill -0 "$2" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Loopback sockets in TIME_WAIT matching TW_SRC (an ss filter; default: those
# on 127.0.0.1, where the proxies' upstream sockets and the target live).
time_wait_count() {
	# shellcheck disable=SC2086 # TW_SRC is an ss filter expression
	ss -Htan state time-wait ${TW_SRC:-src 127.0.0.1} 2>/dev/null | wc -l
}

# Wait (at most 70 s) until fewer than TW_MAX TIME_WAIT sockets remain, so
# every rate round starts on a similar port table (each leaves tens of
# thousands behind for 60 s; Dante binds before connect and fails without).
wait_time_wait() {
	local n i
	for i in $(seq 70); do
		n=$(time_wait_count)
		[ "$n" -lt "$TW_MAX" ] && return 0
		[ "$i" = 1 ] && log "waiting for $n TIME_WAIT sockets to expire before $1"
		sleep 1
	done
	note "$1: started with $n sockets in TIME_WAIT"
}

# ---- result lines (the caller sets RESULTS, its JSON-lines file) ----

# values NAME MODE KEY [FILTER]: every value of KEY on NAME's MODE lines.
values() {
	grep "\"mode\":\"$2\",\"label\":\"$1\"" "$RESULTS" | grep -- "${4:-}" |
		sed -n "s/.*\"$3\":\([-0-9.]*\).*/\1/p"
}
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# sum: the total of the numbers on stdin, 0 for none; sum_seen: nothing for
# none (a table cell for a peer that did not run stays "-").
sum() { awk '{ s += $1 } END { print s + 0 }'; }
sum_seen() { awk '{ s += $1 } END { if (NR) print s }'; }
