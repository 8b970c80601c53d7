#!/usr/bin/env bash
# Command 2 of the README: install what the tests need, build (normal and
# ASan/UBSan), run every test, and end with one line "N passed, N failed, N skipped",
# preceded by one line per skipped group with its reason.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
logdir=$root/test-logs

scripts/deps.sh test || { echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + ${3:-0})); }
# Reasons for skips, one line per group ("skipped unit (asan): 13x ..."),
# printed before the closing line (and kept in test-logs/skips.txt).
mkdir -p "$logdir"
skipfile=$logdir/skips.txt
: >"$skipfile"

# Unit tests: every binary prints "<suite>: N passed, N failed[, N skipped]".
# A binary that dies before its summary still counts as one failure.
unit() {
	local dir=$1 name=$2 out
	echo "== unit tests ($name) =="
	if ! scripts/build.sh "$dir" "${@:3}"; then
		echo "build of $dir failed"
		add 0 1
		return
	fi
	mkdir -p "$logdir"
	out=$logdir/unit-$name.log
	meson test -C "$dir" --print-errorlogs --verbose "${MESON_TEST_ARGS[@]}" >"$out" 2>&1
	local p f s sf meson_fail
	read -r p f s sf < <(awk '
		/^[A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed/ {
			gsub(",", ""); p += $2; f += $4; if ($6 != "") s += $6; if ($4 > 0) sf++ }
		END { print p+0, f+0, s+0, sf+0 }' "$out")
	meson_fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ { n += $2 } END { print n+0 }' "$out")
	[ "$meson_fail" -gt "$sf" ] && f=$((f + meson_fail - sf))
	grep -E '^(FAIL |SKIP: |[A-Za-z0-9_-]+: [0-9]+ passed)|^ *toml-test |check failed|ERROR' "$out" | head -50
	# "SKIP: <test>: <reason>": grouped by reason.
	sed -n 's/^SKIP: [^:]*: //p' "$out" | sort | uniq -c |
		awk -v n="$name" '{ c = $1; $1 = ""; sub(/^ /, ""); printf "skipped unit (%s): %dx %s\n", n, c, $0 }' \
		>>"$skipfile"
	echo "unit ($name): $p passed, $f failed, $s skipped"
	add "$p" "$f" "$s"
}

# Integration tests: pytest against the real binary (Debian's python3, which
# sees python3-socks), spread over two workers with pytest-xdist (its summary
# line has the same format). -rs lists every skip with its reason.
integration() {
	local bin=$1 name=$2 out
	echo "== integration tests ($name) =="
	[ -d tests/integration ] || return
	mkdir -p "$logdir"
	out=$logdir/integration-$name.log
	CSOCKS_BIN=$bin timeout 900 /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider \
		-n "${PYTEST_WORKERS:-2}" tests/integration >"$out" 2>&1
	local rc=$?
	tail -30 "$out"
	local line p f s e
	line=$(grep -E '^=+ .*(passed|failed|skipped|error).* =+$|^[0-9]+ (passed|failed|skipped)' "$out" | tail -1)
	p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
	f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
	e=$(grep -oE '[0-9]+ error' <<<"$line" | grep -oE '[0-9]+' || echo 0)
	s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)
	f=$((f + e))
	# pytest exit 5 = nothing collected; any other non-zero with no failure
	# counted is a crash of the run itself.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
	# "SKIPPED [n] file:line: reason": one line per file and reason.
	sed -nE 's/^SKIPPED \[([0-9]+)\] ([^ :]+)(:[0-9]+)?: (.*)$/\1\t\2\t\4/p' "$out" |
		awk -F'\t' -v n="$name" '
			!(($2, $3) in c) { order[++k] = $2 SUBSEP $3 }
			{ c[$2, $3] += $1 }
			END { for (i = 1; i <= k; i++) { split(order[i], a, SUBSEP)
				printf "skipped integration (%s): %dx %s: %s\n", n, c[order[i]], a[1], a[2] } }' \
		>>"$skipfile"
	echo "integration ($name): $p passed, $f failed, $s skipped"
	add "$p" "$f" "$s"
}

start=$(date +%s)
mkdir -p "$logdir"
scripts/test-setup.sh start "$logdir/test-env.sh"
trap 'scripts/test-setup.sh stop' EXIT
# shellcheck disable=SC1091
. "$logdir/test-env.sh"
MESON_TEST_ARGS=()
unit build normal
unit build-asan asan -Dasan=true
# The pure-logic suites once more under valgrind (memcheck: invalid accesses
# and definite leaks fail the run). PAM and the stores are covered by ASan.
MESON_TEST_ARGS=(--wrapper "valgrind --error-exitcode=1 --leak-check=full
	--errors-for-leak-kinds=definite -q" --timeout-multiplier 4
	log util config session protocol acl timer relay udp api toml server qos tls)
unit build valgrind
MESON_TEST_ARGS=()
# The layers (docs/architecture.md): includes and library symbols.
echo "== layer check =="
scripts/check-layers.sh build | tee "$logdir/layers.log" | tail -20
read -r lp lf < <(awk '/^layers: [0-9]+ passed/ { print $2, $4 }' "$logdir/layers.log")
add "${lp:-0}" "${lf:-1}"
# Static checks (scripts/lint.sh): each "lint (<tool>): N passed, N failed"
# line adds up like a suite; a run that prints none counts as one failure.
echo "== lint =="
scripts/lint.sh >"$logdir/lint.log" 2>&1
head -60 "$logdir/lint.log"
lint_counts=$(sed -nE 's/^lint \([^)]+\): ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' \
	"$logdir/lint.log")
while read -r p f; do add "$p" "$f"; done <<<"${lint_counts:-0 1}"
# The web dashboard: build (npm ci + vite, scripts/build-dashboard.sh) and
# its own unit tests (vitest); its browser tests are in the integration
# suite (tests/integration/test_dashboard.py), for both binaries.
echo "== dashboard =="
if scripts/build-dashboard.sh >"$logdir/dashboard-build.log" 2>&1; then
	tail -1 "$logdir/dashboard-build.log"
	# NO_COLOR: vitest colours its summary when it thinks it runs in CI,
	# and the counts below are read from that text.
	(cd dashboard && NO_COLOR=1 FORCE_COLOR=0 npx --no-install vitest run) \
		>"$logdir/dashboard-unit.log" 2>&1
	drc=$?
	sed -i 's/\x1b\[[0-9;]*m//g' "$logdir/dashboard-unit.log"
	dp=$(sed -nE 's/^ *Tests +([0-9]+) passed.*/\1/p; s/^ *Tests +[0-9]+ failed \| ([0-9]+) passed.*/\1/p' "$logdir/dashboard-unit.log" | tail -1)
	df=$(sed -nE 's/^ *Tests +([0-9]+) failed.*/\1/p' "$logdir/dashboard-unit.log" | tail -1)
	dp=${dp:-0} df=${df:-0}
	[ "$drc" -ne 0 ] && [ "$df" -eq 0 ] && df=1
	[ "$dp" -eq 0 ] && [ "$df" -eq 0 ] && df=1 # no count read: the run broke
	echo "dashboard unit: $dp passed, $df failed"
	add "$dp" "$df"
else
	tail -20 "$logdir/dashboard-build.log"
	echo "dashboard build failed"
	add 0 1
fi

# The Debian package (scripts/package-test.sh): build from an export, lintian,
# and as root install, run as the unit says, proxy, purge.
echo "== package =="
scripts/package-test.sh >"$logdir/package.log" 2>&1
grep -E '^(FAIL|W: |E: |note: )' "$logdir/package.log" | head -40
read -r pp pf < <(awk '/^package: [0-9]+ passed/ { print $2, $4 }' "$logdir/package.log")
echo "package: ${pp:-0} passed, ${pf:-1} failed"
add "${pp:-0}" "${pf:-1}"
integration "$root/build/csocks" normal
integration "$root/build-asan/csocks" asan
echo "total time: $(( $(date +%s) - start )) s"
cat "$skipfile"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
