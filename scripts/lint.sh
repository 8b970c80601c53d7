#!/usr/bin/env bash
# Static checks: clang-format, cppcheck and clang-tidy (config: .clang-tidy).
# For each tool prints "lint (<tool>): N passed, N failed", where a test is a
# file checked and a failure is a file with at least one finding, followed
# by the findings as "file:line: message". Exits non-zero if any failed.
# Needs build/compile_commands.json; builds build/ first when it is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${LINT_JOBS:-2}

if [ ! -f build/compile_commands.json ]; then
	# A configured build/ whose database went missing only gets it back from meson.
	{ scripts/build.sh build && { [ -f build/compile_commands.json ] ||
		meson setup --reconfigure build >/dev/null; }; } || {
		echo "lint: build of build/ failed (needed for compile_commands.json)"
		exit 1
	}
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

# Findings on stdin as "path:line[:col]: message"; paths are made relative to
# the repository (clang-tidy reports build/../src/x.c). Sorted, deduplicated.
normalize() {
	awk -v root="$root/" '
		match($0, /^[^ :]+:[0-9]+(:[0-9]+)?: /) {
			loc = substr($0, 1, RLENGTH - 2); msg = substr($0, RLENGTH + 1)
			split(loc, p, ":"); f = p[1]
			if (index(f, root) == 1) f = substr(f, length(root) + 1)
			sub(/^(build\/)?\.\.\//, "", f)
			print f ":" p[2] ": " msg
		}' | sort -t: -k1,1 -k2,2n -u
}

# report TOOL FILELIST FINDINGS: the summary line, then the findings.
report() {
	local tool=$1 list=$2 findings=$3 total nfail
	total=$(sort -u "$list" | wc -l)
	nfail=$(cut -d: -f1 "$findings" | sort -u | grep -cxFf "$list")
	# A finding outside the checked files (e.g. a header elsewhere) still fails.
	nfail=$((nfail + $(cut -d: -f1 "$findings" | sort -u | grep -cvxFf "$list")))
	echo "lint ($tool): $((total - nfail > 0 ? total - nfail : 0)) passed, $nfail failed"
	cat "$findings"
	[ "$nfail" -eq 0 ] || status=1
}

missing_tool() {
	echo "lint ($1): 0 passed, 1 failed"
	echo "$1: not installed (scripts/deps.sh test installs it)"
	status=1
}

# ---- clang-format: every tracked C file -------------------------------------
git ls-files -- '*.c' '*.h' >"$tmp/fmt.list"
if command -v clang-format >/dev/null; then
	tr '\n' '\0' <"$tmp/fmt.list" |
		xargs -0 -P"$jobs" -n20 clang-format --dry-run -Werror 2>&1 |
		grep -E '^[^ :]+:[0-9]+:[0-9]+: (error|warning): ' |
		sed -E 's/: (error|warning): code should be clang-formatted.*/: not clang-formatted (run clang-format -i)/' |
		normalize >"$tmp/fmt.out"
	report clang-format "$tmp/fmt.list" "$tmp/fmt.out"
else
	missing_tool clang-format
fi

# ---- cppcheck: every compiled file, plus fuzz targets and optional sources --
# Files in the compile database are checked with their own flags; the rest
# (fuzz/ is only configured with -Dfuzz=true, src/api/api_acl_stub.c is the
# build's alternative to api_acl.c) with the project's include paths.
# Suppressed globally, and only this: missingIncludeSystem, since cppcheck
# does not need (and is not given) the system headers, it models libc and
# POSIX through its posix/gnu library configs instead.
if command -v cppcheck >/dev/null; then
	python3 - "$root" >"$tmp/cdb.list" <<-'EOF'
		import json, os, sys
		root = sys.argv[1]
		for e in json.load(open(os.path.join(root, "build/compile_commands.json"))):
		    print(os.path.relpath(os.path.normpath(os.path.join(e["directory"], e["file"])), root))
	EOF
	git ls-files -- 'src/*.c' 'tests/*.c' 'bench/*.c' 'fuzz/*.c' | grep -vxFf "$tmp/cdb.list" >"$tmp/extra.list"
	{
		cat "$tmp/cdb.list" "$tmp/extra.list"
		git ls-files -- 'src/*.h' 'tests/*.h' 'bench/*.h' 'fuzz/*.h'
	} | sort -u >"$tmp/cpp.list"
	cpp_opts=(-q -j"$jobs" --enable=warning,performance,portability --inline-suppr
		--error-exitcode=1 --library=posix --library=gnu --suppress=missingIncludeSystem
		--template='{file}:{line}: {severity} [{id}]: {message}')
	cppcheck "${cpp_opts[@]}" --project=build/compile_commands.json >/dev/null 2>"$tmp/cpp.raw"
	rc1=$?
	rc2=0
	if [ -s "$tmp/extra.list" ]; then
		# shellcheck disable=SC2046
		cppcheck "${cpp_opts[@]}" --std=c11 -D_GNU_SOURCE -I. -Isrc -Ibuild \
			$(cat "$tmp/extra.list") >/dev/null 2>>"$tmp/cpp.raw"
		rc2=$?
	fi
	normalize <"$tmp/cpp.raw" >"$tmp/cpp.out"
	if [ ! -s "$tmp/cpp.out" ] && { [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ]; }; then
		echo "cppcheck:0: cppcheck failed without findings: $(head -3 "$tmp/cpp.raw")" >"$tmp/cpp.out"
	fi
	report cppcheck "$tmp/cpp.list" "$tmp/cpp.out"
else
	missing_tool cppcheck
fi

# ---- clang-tidy: src/*.c, with the headers they include from src/ ----------
if command -v clang-tidy >/dev/null; then
	git ls-files -- 'src/*.c' >"$tmp/tidy-src.list"
	{
		cat "$tmp/tidy-src.list"
		git ls-files -- 'src/*.h'
	} | sort -u >"$tmp/tidy.list"
	mkdir -p "$tmp/tidy"
	# One clang-tidy per file so that a crash or a compile error is pinned to
	# its file; each writes its diagnostics and its exit code.
	# shellcheck disable=SC2016
	tr '\n' '\0' <"$tmp/tidy-src.list" | xargs -0 -P"$jobs" -n1 bash -c '
		out=$0/$(echo "$1" | tr / _)
		clang-tidy -p build --quiet "$1" >"$out.out" 2>"$out.err"
		echo $? >"$out.rc"' "$tmp/tidy"
	: >"$tmp/tidy.raw"
	while read -r f; do
		b=$tmp/tidy/$(echo "$f" | tr / _)
		grep -E '^[^ :]+:[0-9]+:[0-9]+: (warning|error): ' "$b.out" |
			sed -E 's/: (warning|error): /: /; s/,-warnings-as-errors\]$/]/' >>"$tmp/tidy.raw"
		if [ "$(cat "$b.rc")" -ne 0 ] && ! grep -qE '^[^ :]+:[0-9]+:[0-9]+: (warning|error): ' "$b.out"; then
			echo "$f:0: clang-tidy failed (exit $(cat "$b.rc")): $(grep -m1 -i error "$b.err")" >>"$tmp/tidy.raw"
		fi
	done <"$tmp/tidy-src.list"
	normalize <"$tmp/tidy.raw" >"$tmp/tidy.out"
	report clang-tidy "$tmp/tidy.list" "$tmp/tidy.out"
else
	missing_tool clang-tidy
fi

exit "$status"
