#!/usr/bin/env bash
# The layer check (docs/architecture.md, "Layers"). Two rules:
#   1. a file under src/<layer>/ includes headers of its own layer or of
#      lower layers only (layers of one rank, like acl/auth/session, are
#      peers and do not include each other);
#   2. no static library of a layer needs a symbol that only a higher or
#      peer layer defines (read with nm from a built tree), so linking a
#      layer with the ones below it always succeeds.
# Usage: scripts/check-layers.sh [builddir]   (default build/; rule 2 is
# skipped with a note when the build has no libraries yet)
# Prints each violation as file:line: message, then
# "layers: N passed, N failed" (one test per rule); exits 1 on a violation.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

# Lowest first. Folders on one line share a rank.
RANKS=(
	"util"
	"toml"
	"config"
	"obs"
	"protocol"
	"acl auth session"
	"event"
	"proxy"
	"api"
	"app"
	"main"
)
declare -A rank
for i in "${!RANKS[@]}"; do
	for l in ${RANKS[$i]}; do rank[$l]=$i; done
done

layer_of() { # src/<layer>/x.c -> layer; src/main.c -> main
	local p=${1#src/}
	case $p in */*) echo "${p%%/*}" ;; *) echo main ;; esac
}

failed=0 passed=0

# Rule 1: includes.
bad=0
while IFS= read -r f; do
	from=$(layer_of "$f")
	if [ -z "${rank[$from]:-}" ]; then
		echo "$f:1: folder '$from' is not a layer (add it to scripts/check-layers.sh)"
		bad=$((bad + 1))
		continue
	fi
	while IFS=: read -r line to; do
		[ "$to" = "$from" ] && continue
		if [ -z "${rank[$to]:-}" ]; then
			continue # not a csocks layer (csocks_build.h etc.)
		fi
		if [ "${rank[$to]}" -ge "${rank[$from]}" ]; then
			echo "$f:$line: layer '$from' includes '$to/', which is not below it"
			bad=$((bad + 1))
		fi
	done < <(grep -nE '^#include "[a-z_]+/' "$f" | sed -E 's/^([0-9]+):#include "([a-z_]+)\/.*/\1:\2/')
done < <(git ls-files 'src/*.c' 'src/*.h' 'src/**/*.c' 'src/**/*.h' | sort -u)
if [ "$bad" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

# Rule 2: symbols. The libraries are build/src/<layer>/lib*.a.
libs=$(find "$build/src" -name 'lib*.a' 2>/dev/null | sort)
if [ -z "$libs" ]; then
	echo "layers: no libraries under $build/src; symbol rule skipped (build first)"
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for a in $libs; do
		l=$(basename "$(dirname "$a")")
		nm -g --defined-only "$a" 2>/dev/null | awk 'NF == 3 { print $3 }' |
			sed "s/\$/ $l/" >>"$tmp/defs"
	done
	sort -u "$tmp/defs" >"$tmp/defs.sorted"
	bad=0
	for a in $libs; do
		l=$(basename "$(dirname "$a")")
		while read -r sym; do
			# Every layer that defines sym; a violation when none is lower.
			owners=$(awk -v s="$sym" '$1 == s { print $2 }' "$tmp/defs.sorted")
			[ -z "$owners" ] && continue # libc, libpam, ...
			ok=0 who=
			for o in $owners; do
				if [ "$o" = "$l" ] || [ "${rank[$o]}" -lt "${rank[$l]}" ]; then
					ok=1
				else
					who=$o
				fi
			done
			if [ "$ok" -eq 0 ]; then
				echo "$a: layer '$l' needs $sym, defined only in '$who' (not below it)"
				bad=$((bad + 1))
			fi
		done < <(nm -g --undefined-only "$a" 2>/dev/null | awk '{ print $NF }' | sort -u)
	done
	if [ "$bad" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
