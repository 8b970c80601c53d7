#!/usr/bin/env bash
# Regenerate the key reference in docs/configuration.md and man/csocks.toml.5 from the binary's
# schema table (build/csocks --config-reference). A test fails when the two
# differ, so run this after changing src/config/config_schema.c.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CSOCKS_BIN:-build/csocks}
doc=docs/configuration.md
ref=$("$bin" --config-reference)
awk -v ref="$ref" '
	/<!-- BEGIN GENERATED REFERENCE -->/ { print; print ref; skip = 1; next }
	/<!-- END GENERATED REFERENCE -->/ { skip = 0 }
	!skip { print }' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"

# The same keys as roff in the KEYS section of man/csocks.toml.5.
man=man/csocks.toml.5
"$bin" --config-reference=man >"$man.keys"
awk -v keys="$man.keys" '
	/^\.\\" BEGIN GENERATED KEYS/ { print; while ((getline l < keys) > 0) print l; skip = 1; next }
	/^\.\\" END GENERATED KEYS/ { skip = 0 }
	!skip { print }' "$man" >"$man.tmp"
rm -f "$man.keys"
mv "$man.tmp" "$man"
