#!/usr/bin/env bash
# bench/overhead.sh - what csocks' features cost: the same csocks with a
# 1,000-rule ACL, with SQLite sessions (csocks' indexes, and RustSocks' full
# index set), and with the stats API being scraped, against csocks with
# everything off, in one run. See bench/README.md.
#
#   bench/overhead.sh [--quick] [--reps N] [--only "COLS"] [--server-close] [--csocks PATH]
#                     [--out FILE] [--keep]
#
# Every process it starts is tracked by PID and stopped on exit (also on ^C).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
REPS=
CSOCKS=
OUT=
ONLY=
SERVER_CLOSE=0
KEEP=0
PY=/usr/bin/python3

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'EOF'
options:
  --quick         5 s rate rounds, 64M bulk transfers, 1 repetition (~3-4 minutes)
  --reps N        rounds of every test (median reported; default 3, quick 1)
  --only "COLS"   measure only these columns (plain and any of acl1k sqlite sqlite16 api)
  --server-close  rate rounds: the target closes first (socksbench --server-close), so
                  no TIME_WAIT builds up on ephemeral ports and rounds need no waits
                  between them: many rounds fit in a few minutes
  --csocks PATH   csocks binary (default build/csocks; built with meson/ninja if missing)
  --out FILE      also write the raw JSON result lines to FILE
  --keep          keep the work directory (configs, ACL, logs, database, raw results)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--reps) REPS=${2:-}; shift ;;
	--only) ONLY=${2:-}; shift ;;
	--server-close) SERVER_CLOSE=1 ;;
	--csocks) CSOCKS=${2:-}; shift ;;
	--out) OUT=${2:-}; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "overhead.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	BULK_N=64M; RATE_D=5; REPS=${REPS:-1}; STORE_S=2
	TW_MAX=15000
else
	BULK_N=256M; RATE_D=10; REPS=${REPS:-3}; STORE_S=5
	TW_MAX=4000
fi
case "$REPS" in
'' | *[!0-9]* | 0) echo "overhead.sh: --reps needs a number 1..20" >&2; exit 2 ;;
esac
[ "$REPS" -le 20 ] || { echo "overhead.sh: --reps needs a number 1..20" >&2; exit 2; }
BULK_C=4
RATE_C=32
SCRAPE_RPS=100  # GET /metrics + GET /api/sessions/active, per second in total
ACL_RULES=1000
COLS="plain acl1k sqlite sqlite16 api"
if [ -n "$ONLY" ]; then
	for c in $ONLY; do
		case " $COLS " in *" $c "*) ;; *) echo "overhead.sh: --only: no column '$c' (plain acl1k sqlite sqlite16 api)" >&2; exit 2 ;; esac
	done
	case " $ONLY " in *" plain "*) ;; *) echo "overhead.sh: --only needs plain (the ratios' base)" >&2; exit 2 ;; esac
	COLS=$(for c in $COLS; do case " $ONLY " in *" $c "*) echo -n "$c " ;; esac; done)
fi
has() { case " $COLS " in *" $1 "*) return 0 ;; esac; return 1; }
SQ_COLS=$(for c in sqlite sqlite16; do has "$c" && echo -n "$c "; done) # the columns that write sessions to SQLite

WD=$(mktemp -d /tmp/csocks-overhead.XXXXXX)
PIDS=()
NOTES=()
FAIL=0
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
# Count the clients' TIME_WAIT sockets (127.0.0.2) too.
TW_SRC='( src 127.0.0.1 or src 127.0.0.2 )'

fail() { NOTES+=("FAIL: $*"); echo "FAIL: $*" >&2; FAIL=1; }

# ---- tools ----

build_socksbench overhead.sh

if [ -z "$CSOCKS" ]; then
	CSOCKS="$ROOT/build/csocks"
	if [ ! -x "$CSOCKS" ]; then
		log "building csocks (build/)"
		if ! { [ -d "$ROOT/build" ] || meson setup "$ROOT/build" "$ROOT"; } >"$WD/csocks-build.log" 2>&1 ||
			! ninja -C "$ROOT/build" >>"$WD/csocks-build.log" 2>&1; then
			tail -30 "$WD/csocks-build.log" >&2
			echo "overhead.sh: cannot build csocks" >&2
			exit 1
		fi
	fi
fi
[ -x "$CSOCKS" ] || { echo "overhead.sh: $CSOCKS is not executable" >&2; exit 1; }
CSOCKS=$(cd "$(dirname "$CSOCKS")" && pwd)/$(basename "$CSOCKS")
# Taken now: a rebuild during the run replaces the file, not the running processes.
CSOCKS_ID="$("$CSOCKS" -V 2>/dev/null | head -1), built $(date -r "$CSOCKS" '+%Y-%m-%d %H:%M'), tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"

# store_bench lives in the build directory of csocks (src/session/meson.build
# builds it from bench/store_bench.c); build it there if that is a meson dir.
STORE_BENCH=
for d in "$(dirname "$CSOCKS")" "$ROOT/build"; do
	if [ -x "$d/src/session/store_bench" ]; then
		STORE_BENCH="$d/src/session/store_bench"
		break
	fi
done
if [ -z "$STORE_BENCH" ] && [ -f "$(dirname "$CSOCKS")/build.ninja" ] &&
	ninja -C "$(dirname "$CSOCKS")" src/session/store_bench >"$WD/store-build.log" 2>&1 &&
	[ -x "$(dirname "$CSOCKS")/src/session/store_bench" ]; then
	STORE_BENCH="$(dirname "$CSOCKS")/src/session/store_bench"
fi

for t in sqlite3 ss; do
	command -v "$t" >/dev/null || { echo "overhead.sh: $t is needed" >&2; exit 1; }
done
[ -x "$PY" ] || { echo "overhead.sh: $PY is needed" >&2; exit 1; }

# ---- target ----

TPORT=$(free_port) || { echo "overhead.sh: no free port" >&2; exit 1; }
"$SB" serve --port "$TPORT" --bind 127.0.0.1 -d 7200 >"$WD/target.out" 2>"$WD/target.err" &
TARGET_PID=$!
PIDS+=("$TARGET_PID")
if ! wait_port "$TPORT" "$TARGET_PID"; then
	echo "overhead.sh: target did not start" >&2
	cat "$WD/target.err" >&2
	exit 1
fi
TARGET="127.0.0.1:$TPORT"
BLOCKED="127.0.0.1:9" # denied by the anonymous user's first rule

# ---- the 1,000-rule ACL ----

# A realistic mix (exact names, *.wildcards, api.*.x, IPv4/IPv6 CIDRs and
# addresses, single ports, ranges, lists, "*") over 100 users and 10 groups,
# plus the anonymous user (auth none) in two of the groups: its rules and its
# groups' rules above priority 100 are evaluated and do not match before
# "allow 127.0.0.1:TPORT" does. Fixed seed: the same file every run.
cat >"$WD/gen_acl.py" <<'EOF'
import random, sys
tport, total = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(20261125)
tlds = ["com", "org", "net", "io", "dev"]
out = ['[global]\ndefault_policy = "block"\n']
count = 0

def q(xs):
    return "[" + ", ".join('"%s"' % x for x in xs) + "]"

def dest():
    k = rnd.randrange(100)
    if k < 35: return "host%d.site%d.%s" % (rnd.randrange(50), rnd.randrange(500), rnd.choice(tlds))
    if k < 62: return "*.site%d.%s" % (rnd.randrange(500), rnd.choice(tlds))
    if k < 65: return "api.*.site%d.%s" % (rnd.randrange(500), rnd.choice(tlds))
    if k < 80: return "10.%d.%d.0/24" % (rnd.randrange(256), rnd.randrange(256))
    if k < 85: return "172.%d.0.0/16" % (16 + rnd.randrange(16))
    if k < 90: return "192.0.2.%d" % rnd.randrange(256)
    if k < 93: return "198.51.100.0/%d" % (24 + rnd.randrange(8))
    if k < 97: return "2001:db8:%x::/48" % rnd.randrange(65536)
    return "*"

def ports(star):
    if star:  # "*" destinations only on well-known ports (never the target's)
        return rnd.choice([["443"], ["80", "443"], ["22"], ["25,465,587"]])
    return rnd.choice([["*"], ["*"], ["*"], ["80"], ["443"], ["22"], ["8080"], ["5432"],
                       ["8000-9000", "443"], ["80,443,8443"], ["1024-19999"]])

def rule(table, action=None, dests=None, prt=None, prio=None, desc=None, proto=None):
    global count
    count += 1
    if dests is None:
        dests = [dest() for _ in range(1 + rnd.randrange(3))]
    if prt is None:
        prt = ports("*" in dests)
    if action is None:
        action = "block" if rnd.randrange(3) == 0 else "allow"
    if prio is None:
        prio = 10 * rnd.randrange(100)
    if proto is None:
        proto = rnd.choice(["tcp", "tcp", "both", "udp"])
    out.append('[[%s.rules]]\naction = "%s"\ndescription = "%s"\ndestinations = %s\n'
               'ports = %s\nprotocols = ["%s"]\npriority = %d\n'
               % (table, action, desc or "r%d" % count, q(dests), q(prt), proto, prio))

anon = [  # (action, destinations, ports, priority, description)
    ("block", ["127.0.0.0/8"], ["1-1023"], 1000, "no privileged loopback ports"),
    ("block", ["127.0.0.1"], ["3306,5432,6379"], 990, "no local databases"),
    ("block", ["*.tracker.example.com", "*.ads.example.net"], ["*"], 950, "trackers"),
    ("block", ["10.0.0.0/8"], ["*"], 900, "no RFC 1918 (10/8)"),
    ("allow", ["*.internal.example.com"], ["443"], 900, "intranet"),
    ("block", ["169.254.0.0/16", "fe80::/10"], ["*"], 850, "link-local"),
    ("allow", ["192.168.0.0/16"], ["80", "443"], 800, "LAN web"),
    ("block", ["127.0.0.1"], ["1024-19999"], 700, "loopback service ports"),
    ("allow", ["api.*.example.org"], ["443"], 600, "partner APIs"),
    ("block", ["203.0.113.0/24"], ["*"], 500, "TEST-NET-3"),
    ("allow", ["*.cdn.example.com"], ["80", "443"], 400, "CDN"),
    ("block", ["127.0.0.2", "127.0.0.3"], ["*"], 300, "other loopback addresses"),
    ("allow", ["2001:db8::/32"], ["443"], 200, "documentation v6"),
    ("allow", ["127.0.0.1"], [str(tport)], 100, "bench target"),
    ("block", ["127.0.0.0/8"], ["*"], 90, "rest of loopback"),
    ("allow", ["*.example.com"], ["80", "443"], 80, "example web"),
    ("block", ["*"], ["25"], 70, "no SMTP"),
    ("allow", ["www.example.org"], ["443"], 60, "example.org"),
    ("block", ["0.0.0.0/0"], ["23"], 50, "no telnet"),
    ("allow", ["*.debian.org"], ["80", "443"], 40, "mirrors"),
]
users, groups = 100, 10
per_group = 28
per_user = (total - len(anon) - groups * per_group) // users
extra = total - len(anon) - groups * per_group - users * per_user
out.append('[[users]]\nusername = "anonymous"\ngroups = ["group0", "group1"]\n')
for a, d, p, pr, ds in anon:
    rule("users", a, d, p, pr, ds, "tcp")
for u in range(users):
    out.append('[[users]]\nusername = "user%d"\ngroups = %s\n'
               % (u, q(sorted({"group%d" % rnd.randrange(groups) for _ in range(1 + rnd.randrange(2))}))))
    for _ in range(per_user + (1 if u < extra else 0)):
        rule("users")
for g in range(groups):
    out.append('[[groups]]\nname = "group%d"\n' % g)
    for _ in range(per_group):
        rule("groups")
sys.stdout.write("\n".join(out))
sys.stderr.write("%d rules\n" % count)
EOF
"$PY" "$WD/gen_acl.py" "$TPORT" "$ACL_RULES" >"$WD/acl.toml" 2>"$WD/acl.gen" ||
	{ cat "$WD/acl.gen" >&2; echo "overhead.sh: cannot generate the ACL" >&2; exit 1; }
if ! "$CSOCKS" acl check "$WD/acl.toml" >"$WD/acl.check" 2>&1; then
	cat "$WD/acl.check" >&2
	echo "overhead.sh: the generated ACL does not load" >&2
	exit 1
fi
ACL_WHY=$("$CSOCKS" acl test --acl "$WD/acl.toml" --user anonymous --dest 127.0.0.1 --port "$TPORT" 2>&1 |
	sed -n 's/^\(decision\|rule\): *//p' | tr '\n' ' ')
log "ACL: $(cat "$WD/acl.gen"), target: $ACL_WHY"

# ---- the proxies ----

declare -A PID_OF PORT_OF
API_PORT=

write_config() { # write_config NAME PORT
	local name=$1 port=$2
	cat <<EOF
[server]
bind_address = "127.0.0.1"
bind_port = $port
max_connections = 100000
worker_threads = 2
shutdown_timeout_secs = 10
[auth]
socks_method = "none"
[logging]
level = "warn"
access_log = false
EOF
	case "$name" in
	acl1k) printf '[acl]\nenabled = true\nconfig_file = "%s"\n' "$WD/acl.toml" ;;
	*) printf '[acl]\nenabled = false\n' ;;
	esac
	case "$name" in
	sqlite | sqlite16)
		cat <<EOF
[sessions]
enabled = true
storage = "sqlite"
database_url = "sqlite://$WD/$name.db"
batch_size = 400
batch_interval_ms = 250
rustsocks_indexes = $([ "$name" = sqlite16 ] && echo true || echo false)
[metrics]
enabled = false
EOF
		;;
	api)
		cat <<EOF
[sessions]
enabled = true
storage = "memory"
stats_api_enabled = true
stats_api_bind_address = "127.0.0.1"
stats_api_port = $API_PORT
[metrics]
enabled = true
EOF
		;;
	*) printf '[sessions]\nenabled = false\n[metrics]\nenabled = false\n' ;;
	esac
}

# Connections made through each proxy outside the measured rounds.
declare -A EXTRA_CONNS
for name in $COLS; do
	port=$(free_port) || { echo "overhead.sh: no free port" >&2; exit 1; }
	[ "$name" = api ] && { API_PORT=$(free_port) || { echo "overhead.sh: no free port" >&2; exit 1; }; }
	write_config "$name" "$port" >"$WD/$name.toml"
	"$CSOCKS" -c "$WD/$name.toml" >"$WD/$name.log" 2>&1 &
	PID_OF[$name]=$!
	PORT_OF[$name]=$port
	PIDS+=("$!")
done
for name in $COLS; do
	if ! wait_port "${PORT_OF[$name]}" "${PID_OF[$name]}"; then
		echo "overhead.sh: csocks ($name) did not start: $(tail -c 600 "$WD/$name.log")" >&2
		exit 1
	fi
	# Five CONNECTs prove the SOCKS path works before the battery.
	if ! timeout 20 "$SB" rate --proxy "127.0.0.1:${PORT_OF[$name]}" --target "$TARGET" \
		--source 127.0.0.2 -c 1 --count 5 -d 5 >"$WD/$name.sanity" 2>&1 ||
		! grep -q ' ok=5 ' "$WD/$name.sanity"; then
		echo "overhead.sh: $name: sanity CONNECT failed: $(cat "$WD/$name.sanity")" >&2
		exit 1
	fi
	EXTRA_CONNS[$name]=5
done
if has api && ! wait_port "$API_PORT" "${PID_OF[api]}"; then
	echo "overhead.sh: the stats API (port $API_PORT) did not start: $(tail -c 600 "$WD/api.log")" >&2
	exit 1
fi

# The ACL is enforced: a CONNECT to a blocked destination gets reply 0x02
# through acl1k (and not through plain, which tries to connect).
blocked_check() { # blocked_check NAME -> the reply line
	timeout 20 "$SB" rate --proxy "127.0.0.1:${PORT_OF[$1]}" --target "$BLOCKED" \
		--source 127.0.0.2 -c 1 --count 1 -d 5 --json 2>&1 | tail -1
	EXTRA_CONNS[$1]=$(( ${EXTRA_CONNS[$1]} + 1 ))
}
if has acl1k; then
	ACL_BLOCK=$(blocked_check acl1k)
	PLAIN_BLOCK=$(blocked_check plain)
	if echo "$ACL_BLOCK" | grep -q '"reply_0x02":1' && ! echo "$ACL_BLOCK" | grep -q '"ok":[1-9]'; then
		log "ACL enforced: CONNECT $BLOCKED via acl1k -> reply 0x02 (plain: $(echo "$PLAIN_BLOCK" | grep -o '"\(reply_0x[0-9a-f]*\|err_[a-z]*\)":[0-9]*' | tr -d '"' | tr '\n' ' '))"
	else
		echo "overhead.sh: the ACL is not enforced: CONNECT $BLOCKED through acl1k gave: $ACL_BLOCK" >&2
		exit 1
	fi
fi

# ---- the scraper ----

# GET /metrics and GET /api/sessions/active alternately, RPS requests per
# second in total, over one keep-alive connection (reopened after an error),
# until SIGTERM or CAP seconds. Every answer must be 200 (and parse as JSON
# for the sessions list). Appends one JSON summary line to OUT.
cat >"$WD/scrape.py" <<'EOF'
import http.client, json, os, signal, sys, time
port, rps, cap, out = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
paths = ["/metrics", "/api/sessions/active"]
stop = False
def on_signal(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
t0 = time.monotonic()
deadline = t0 + cap
n = bad = errors = 0
codes, first_error, conn, nxt = {}, "", None, t0
while not stop and time.monotonic() < deadline:
    path = paths[n % 2]
    n += 1
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
        ok = r.status == 200 and (path == "/metrics" or isinstance(json.loads(body), (dict, list)))
        if not ok:
            bad += 1
            first_error = first_error or "%s: %d %s" % (path, r.status, body[:80])
        if r.will_close:
            conn.close()
            conn = None
    except Exception as e:
        bad += 1
        errors += 1
        first_error = first_error or "%s: %r" % (path, e)
        if conn is not None:
            conn.close()
        conn = None
    nxt += 1.0 / rps
    d = nxt - time.monotonic()
    if d > 0:
        time.sleep(d)
    elif d < -1.0:
        nxt = time.monotonic()  # far behind (machine busy): do not burst
secs = time.monotonic() - t0
t = os.times()
with open(out, "a") as f:
    f.write(json.dumps({"mode": "scrape", "label": "api", "requests": n, "non200": bad,
                        "errors": errors, "codes": {str(k): v for k, v in codes.items()},
                        "seconds": round(secs, 3), "rps": round(n / secs, 1) if secs else 0,
                        "cpu_s": round(t.user + t.system, 3), "first_error": first_error}) + "\n")
EOF

SCRAPE_PID=
scrape_start() { # scrape_start CAP_SECONDS
	"$PY" "$WD/scrape.py" "$API_PORT" "$SCRAPE_RPS" "$1" "$WD/scrape.jsonl" 2>>"$WD/scrape.err" &
	SCRAPE_PID=$!
	PIDS+=("$SCRAPE_PID")
	sleep 0.3 # python is up and scraping when the round starts
}
scrape_stop() {
	[ -n "$SCRAPE_PID" ] || return 0
	stop_pid "$SCRAPE_PID"
	forget_pid "$SCRAPE_PID"
	SCRAPE_PID=
}

# ---- the battery ----

RESULTS="$WD/results.jsonl"
: >"$RESULTS"

# values, median, sum: bench/lib.sh

sq_rows() { # sq_rows NAME
	sqlite3 -cmd '.timeout 5000' "$WD/$1.db" "SELECT count(*) FROM sessions" 2>>"$WD/sqlite3.err"
}
# sq_drain NAME WHEN: wait (at most 60 s) until every connection made through
# NAME (sqlite or sqlite16) so far is a row, so that the writer's backlog is
# not written during the next column's round; remember how big it was and how
# long it took.
SQ_DRAINS=()
# CPU clock ticks (user + system) of a process, and of its session writer
# thread (comm csocks-sessdb; 0 when it has none).
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
writer_ticks() {
	local t n=0
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = csocks-sessdb ] &&
			n=$((n + $(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null || echo 0)))
	done
	echo "$n"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
: >"$WD/cpu.jsonl"

sq_want() { # sq_want NAME: connections made through NAME so far
	echo $(( $(values "$1" rate started | sum) + $(values "$1" bulk conns | sum) + ${EXTRA_CONNS[$1]} ))
}
sq_drain() {
	local name=$1 want rows first t0 t1 prev= same=0 how
	shift
	want=$(sq_want "$name")
	t0=$(date +%s.%N)
	first=$(sq_rows "$name")
	rows=$first
	for _ in $(seq 120); do
		[ "$rows" = "$want" ] && break
		if [ "$rows" = "$prev" ]; then same=$((same + 1)); else same=0; fi
		[ "$same" -ge 20 ] && break # no progress for 10 s
		prev=$rows
		sleep 0.5
		rows=$(sq_rows "$name")
	done
	t1=$(date +%s.%N)
	[ "$1" = "the run" ] && [ "$rows" = "$want" ] && [ "$first" = "$want" ] && return 0
	how="written in"
	[ "$rows" = "$want" ] || how="still $(( want - ${rows:-0} )) missing after"
	SQ_DRAINS+=("$name, $1: $(( want - ${first:-0} )) rows, $how $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s")
}
: >"$WD/scrape.jsonl"
SOURCE=127.0.0.2 # clients' TIME_WAIT sockets take no port on 127.0.0.1

# sb NAME ROUND MODE ARGS...: one socksbench run through NAME, JSON tagged with
# NAME and the round; the api column is scraped while it runs.
sb() {
	local name=$1 round=$2 mode=$3 cap=$((RATE_D + 150)) c0 w0
	shift 3
	[ "$name" = api ] && scrape_start "$cap"
	c0=$(proc_ticks "${PID_OF[$name]}"); w0=$(writer_ticks "${PID_OF[$name]}")
	timeout "$cap" "$SB" "$mode" --proxy "127.0.0.1:${PORT_OF[$name]}" --target "$TARGET" \
		--source "$SOURCE" --label "$name" --json "$@" 2>>"$WD/$name.sb.err" |
		sed "s/^{/{\"round\":$round,/" >>"$RESULTS"
	[ "$name" = api ] && scrape_stop
	case " $SQ_COLS " in *" $name "*) [ "$mode" = rate ] && sq_drain "$name" "rate round $round" ;; esac
	# csocks' CPU for the round (after the writer's backlog is written),
	# per connection made.
	if [ "$mode" = rate ]; then
		printf '{"mode":"cpu","label":"%s","round":%s,"conns":%s,"ticks":%s,"writer_ticks":%s}\n' \
			"$name" "$round" "$(tail -1 "$RESULTS" | sed -n 's/.*"started":\([0-9]*\).*/\1/p')" \
			"$(( $(proc_ticks "${PID_OF[$name]}") - c0 ))" \
			"$(( $(writer_ticks "${PID_OF[$name]}") - w0 ))" >>"$WD/cpu.jsonl"
	fi
	kill -0 "${PID_OF[$name]}" 2>/dev/null || { echo "overhead.sh: csocks ($name) died: $(tail -c 600 "$WD/$name.log")" >&2; exit 1; }
}

# Round r runs the columns in an order rotated by r, so that no column is
# always first (or always after the rate round that left the most TIME_WAIT).
order() {
	local cols=($COLS) n i
	n=${#cols[@]}
	for i in $(seq 0 $((n - 1))); do
		echo -n "${cols[$(( (i + $1 - 1) % n ))]} "
	done
}

START=$(date +%s)
for r in $(seq "$REPS"); do
	for name in $(order "$r"); do
		log "$name: bulk download ($BULK_C x $BULK_N), round $r/$REPS"
		sb "$name" "$r" bulk -c "$BULK_C" -n "$BULK_N" --dir down -d 120
	done
	for name in $(order "$r"); do
		log "$name: bulk upload ($BULK_C x $BULK_N), round $r/$REPS"
		sb "$name" "$r" bulk -c "$BULK_C" -n "$BULK_N" --dir up -d 120
	done
done
# --server-close: no TIME_WAIT on ephemeral ports, so no waits between rounds.
RATE_ARGS=
[ "$SERVER_CLOSE" = 1 ] && RATE_ARGS=--server-close
for r in $(seq "$REPS"); do
	for name in $(order "$r"); do
		[ "$SERVER_CLOSE" = 1 ] || wait_time_wait "$name's rate round $r"
		log "$name: rate ($RATE_C clients, ${RATE_D}s${RATE_ARGS:+, target closes first}), round $r/$REPS"
		# shellcheck disable=SC2086 # empty, or one word
		sb "$name" "$r" rate -c "$RATE_C" -d "$RATE_D" $RATE_ARGS
	done
done
ELAPSED=$(( $(date +%s) - START ))

# ---- checks after the battery ----

# Every connection through sqlite must end up as a row: the rate rounds'
# (started = ok + failed), the bulk transfers' and the checks'.
for name in $SQ_COLS; do
	sq_drain "$name" "the run"
done

for name in $COLS; do
	kill -0 "${PID_OF[$name]}" 2>/dev/null || fail "csocks ($name) died during the run"
	stop_pid "${PID_OF[$name]}"
	forget_pid "${PID_OF[$name]}"
done
stop_pid "$TARGET_PID"
forget_pid "$TARGET_PID"

# Every connection through a SQLite column must be a row: the rate rounds'
# (started = ok + failed), the bulk transfers' and the checks'.
declare -A SQ_LINE
for name in $SQ_COLS; do
	rows=$(sq_rows "$name")
	want=$(sq_want "$name")
	status=$(sqlite3 -cmd '.timeout 5000' "$WD/$name.db" \
		"SELECT status || '=' || count(*) FROM sessions GROUP BY status ORDER BY 1" 2>>"$WD/sqlite3.err" | tr '\n' ' ')
	nidx=$(sqlite3 -cmd '.timeout 5000' "$WD/$name.db" \
		"SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'" 2>>"$WD/sqlite3.err")
	verdict=ok
	if [ "$rows" != "$want" ]; then
		verdict=MISMATCH
		fail "$name: $rows session rows for $want connections"
	fi
	SQ_LINE[$name]="$rows session rows for $want connections ($(values "$name" rate started | sum) rate + $(values "$name" bulk conns | sum) bulk + ${EXTRA_CONNS[$name]} checks): $verdict; $status; $nidx indexes on sessions"
	printf '{"mode":"sqlite_rows","label":"%s","rows":%s,"connections":%s,"indexes":%s}\n' \
		"$name" "${rows:-0}" "$want" "${nidx:-0}" >>"$WD/sqrows.jsonl"
	grep -i 'drop\|queue full\|error' "$WD/$name.log" | head -3 | while read -r l; do note "$name log: $l"; done
done

SCRAPE_N=$(grep -o '"requests": [0-9]*' "$WD/scrape.jsonl" | sed 's/.*: //' | sum)
SCRAPE_BAD=$(grep -o '"non200": [0-9]*' "$WD/scrape.jsonl" | sed 's/.*: //' | sum)
SCRAPE_SECS=$(grep -o '"seconds": [0-9.]*' "$WD/scrape.jsonl" | sed 's/.*: //' | sum)
SCRAPE_CPU=$(grep -o '"cpu_s": [0-9.]*' "$WD/scrape.jsonl" | sed 's/.*: //' | sum)
SCRAPES=$(grep -c . "$WD/scrape.jsonl")
has api && { [ "$SCRAPES" -gt 0 ] && [ "$SCRAPE_N" -gt 0 ] || fail "api: the scraper did not run (see $WD/scrape.err)"; }
! has api || [ "$SCRAPES" = $((3 * REPS)) ] || note "api: $SCRAPES scraper summaries for $((3 * REPS)) rounds (one was killed or failed: $(head -c 300 "$WD/scrape.err"))"
if [ "$SCRAPE_BAD" != 0 ]; then
	fail "api: $SCRAPE_BAD of $SCRAPE_N scrapes failed ($(grep -o '"first_error": "[^"]*' "$WD/scrape.jsonl" | grep -v '": "$' | head -1 | sed 's/.*: "//'))"
fi

# store_bench: the SQLite writer alone (no proxy), after the proxies stopped.
STORE_LINES=
if [ -n "$STORE_BENCH" ]; then
	log "store_bench -s $STORE_S -t 1 -b 400 (SQLite writer alone): one row repeated, then varied rows"
	STORE_LINES=$(for args in "" "-r" "-v -P 20000" "-v -P 20000 -r"; do
		# shellcheck disable=SC2086 # args are separate options
		env -u CSOCKS_TEST_PG_URL timeout 300 "$STORE_BENCH" -s "$STORE_S" -t 1 -b 400 $args -d "$WD" 2>>"$WD/store_bench.err" |
			grep '^sqlite' | sed "s/^sqlite   /$(printf '%-14s' "${args:-(same row)}")/"
	done)
	[ -n "$STORE_LINES" ] || note "store_bench printed no sqlite line: $(head -c 300 "$WD/store_bench.err")"
else
	note "store_bench not found (build/src/session/store_bench; ninja -C build src/session/store_bench)"
fi

{
	cat "$WD/scrape.jsonl" "$WD/cpu.jsonl" "$WD/sqrows.jsonl"
	echo "$STORE_LINES" | while read -r l; do
		[ -n "$l" ] && printf '{"mode":"store_bench","line":"%s"}\n' "$(echo "$l" | tr -s ' ')"
	done
} >>"$RESULTS"
[ -n "$OUT" ] && cp "$RESULTS" "$OUT"

# ---- table ----

get() { # get NAME ROW -> number or empty
	has "$2" || return 0
	case "$1" in
	cps) values "$2" rate cps | median ;;
	p50) values "$2" rate hs_p50_us | median ;;
	p99) values "$2" rate hs_p99_us | median ;;
	down) values "$2" bulk MBps '"dir":"download"' | median ;;
	up) values "$2" bulk MBps '"dir":"upload"' | median ;;
	errs) { values "$2" bulk errors; values "$2" rate errors; } | sum ;;
	cpu) cpu_per_conn "$2" ticks ;;
	wcpu) case " $SQ_COLS " in *" $2 "*) cpu_per_conn "$2" writer_ticks ;; esac ;;
	esac
}
# cpu_per_conn NAME KEY: median over the rate rounds of KEY ticks per
# connection started, in microseconds.
cpu_per_conn() {
	grep "\"label\":\"$1\"" "$WD/cpu.jsonl" | while read -r l; do
		c=$(echo "$l" | sed -n 's/.*"conns":\([0-9]*\).*/\1/p')
		t=$(echo "$l" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p")
		[ -n "$c" ] && [ "$c" -gt 0 ] && awk -v t="$t" -v c="$c" -v u="$TICK_US" 'BEGIN { printf "%.1f\n", t * u / c }'
	done | median
}
label() {
	case "$1" in
	cps) echo "CONNECT rate conn/s" ;;
	cpu) echo "csocks CPU us/conn" ;;
	wcpu) echo "  of it, writer thread" ;;
	p50) echo "handshake p50 us" ;;
	p99) echo "handshake p99 us" ;;
	down) echo "bulk download MB/s" ;;
	up) echo "bulk upload MB/s" ;;
	errs) echo "failed connections" ;;
	esac
}
# target ROW COLUMN -> minimum ratio from the issues, or empty
target() {
	case "$1:$2" in
	cps:acl1k | cps:sqlite) echo 0.90 ;;
	down:api | up:api) echo 0.95 ;;
	esac
}
ratio() { # ratio A B [TARGET]
	if [ -n "$1" ] && [ -n "$2" ]; then
		awk -v a="$1" -v b="$2" -v t="${3:-}" 'BEGIN {
			if (b + 0 == 0) { print "-"; exit }
			r = a / b
			if (t == "") printf "%.2f", r
			else printf "%.2f (>=%.2f %s)", r, t, (r >= t ? "ok" : "MISS")
		}'
	else
		echo "-"
	fi
}

MISSES=0
echo
echo "csocks feature overhead - $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $( [ "$QUICK" = 1 ] && echo quick || echo full) run, ${ELAPSED}s"
echo "csocks: ${CSOCKS#"$ROOT"/} ($CSOCKS_ID)"
echo "bulk: $BULK_C conns x $BULK_N, down and up separately; rate: $RATE_C clients x ${RATE_D}s, 64-byte echo$([ "$SERVER_CLOSE" = 1 ] && echo ', the target closing first'); median of $REPS alternating rounds"
printf '%-22s %9s %9s %9s %9s %9s  %-20s %-20s %-16s %-20s\n' test plain acl1k sqlite sqlite16 api acl1k/plain sqlite/plain sqlite16/plain api/plain
for row in cps cpu wcpu p50 p99 down up errs; do
	p=$(get "$row" plain); a=$(get "$row" acl1k); s=$(get "$row" sqlite); s16=$(get "$row" sqlite16); i=$(get "$row" api)
	ra=$(ratio "$a" "$p" "$(target "$row" acl1k)")
	rs=$(ratio "$s" "$p" "$(target "$row" sqlite)")
	r16=$(ratio "$s16" "$p")
	ri=$(ratio "$i" "$p" "$(target "$row" api)")
	[ "$row" = errs ] && { ra=; rs=; r16=; ri=; }
	case "$ra $rs $ri" in *MISS*) MISSES=$((MISSES + $(echo "$ra $rs $ri" | grep -o MISS | wc -l))) ;; esac
	printf '%-22s %9s %9s %9s %9s %9s  %-20s %-20s %-16s %-20s\n' "$(label "$row")" "${p:--}" "${a:--}" "${s:--}" "${s16:--}" "${i:--}" "$ra" "$rs" "$r16" "$ri"
done
echo
echo "rounds (in run order):"
for row in cps down up; do
	for name in $COLS; do
		case "$row" in
		cps) v=$(values "$name" rate cps) ;;
		down) v=$(values "$name" bulk MBps '"dir":"download"') ;;
		up) v=$(values "$name" bulk MBps '"dir":"upload"') ;;
		esac
		printf '  %-20s %-8s %s\n' "$(label "$row")" "$name" "$(echo $v)"
	done
done
# Each column's rate round r ran next to plain's round r (same rotation), so
# their ratio cancels drift that moves a whole round.
for name in $COLS; do
	[ "$name" = plain ] && continue
	printf '  %-29s %s\n' "rate $name/plain by round" "$(paste -d' ' <(values plain rate cps) <(values "$name" rate cps) |
		awk '{ printf "%.2f ", ($1 > 0 ? $2 / $1 : 0) }')"
done
echo
has acl1k && echo "acl1k:  $(cat "$WD/acl.gen" | tr -d '\n') over 100 users and 10 groups, default block; the anonymous user's"
has acl1k && echo "        request is $ACL_WHY"
has acl1k && echo "        CONNECT $BLOCKED -> reply 0x02 (checked before the run)"
for name in $SQ_COLS; do
	printf '%-9s %s\n' "$name:" "${SQ_LINE[$name]}"
done
echo "          (sqlite: csocks' default index set; sqlite16: sessions.rustsocks_indexes = true)"
for d in "${SQ_DRAINS[@]}"; do
	echo "          writer backlog at the end of $d"
done
has api && echo "api:    $SCRAPE_N scrapes in ${SCRAPE_SECS}s during its rounds (GET /metrics and /api/sessions/active, $SCRAPE_RPS/s), $SCRAPE_BAD not 200;"
has api && echo "        the scraper used ${SCRAPE_CPU} s of CPU (on the same cores as the proxy and the client)"
if [ -n "$STORE_LINES" ]; then
	echo "store_bench -s $STORE_S -t 1 -b 400 (the SQLite writer alone, no proxy; -v: varied rows, 200 users and"
	echo "12,500 destinations, after a prefill of 20,000 such rows; -r: RustSocks' 16 indexes):"
	echo "$STORE_LINES" | sed 's/^/  /'
fi
echo
echo "MB/s = 10^6 bytes/s of verified payload; handshake = TCP connect start to SOCKS5 success reply."
echo "csocks CPU us/conn: user+system CPU of the csocks process per connection of the rate rounds,"
echo "counted until the session writer has written the round's rows (lower is better); the writer"
echo "thread's share is shown under it."
echo "Ratios are feature / plain: higher is better for conn/s and MB/s, lower for latency. Targets"
echo "from the issues: 1,000-rule ACL and SQLite sessions >= 0.90x the connection rate of plain,"
echo "API scraping >= 0.95x its throughput. Client, target and the five proxies share the same"
echo "$(nproc) cores over loopback; compare the rows of one run, and see the rounds for the noise."
for n in "${NOTES[@]}"; do
	echo "note: $n"
done
[ "$MISSES" -gt 0 ] && echo "note: $MISSES ratio(s) below target"
exit "$FAIL"
