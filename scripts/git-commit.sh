#!/bin/sh
# Print the commit csocks is built from (meson's vcs_tag runs this on every
# build). In a git checkout: the abbreviated HEAD, "-dirty" when the tree
# has local changes. In a `git archive` export (a tarball, the Debian
# package build): the hash git wrote into src/git-commit.txt (export-subst
# in .gitattributes). Otherwise "unknown".
src=${1:-.}
top=$(git -C "$src" rev-parse --show-toplevel 2>/dev/null || true)
if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$src" && pwd -P)" ] &&
	c=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null); then
	git -C "$src" diff --quiet HEAD -- 2>/dev/null || c=$c-dirty
	echo "$c"
	exit 0
fi
c=$(cat "$src/src/git-commit.txt" 2>/dev/null || true)
case $c in
'' | *Format*) echo unknown ;;
*) echo "$c" | cut -c1-12 ;;
esac
