#!/usr/bin/env bash
# Build the web dashboard (dashboard/ -> dashboard/dist) with the npm
# packages pinned in dashboard/package-lock.json. Works with Debian 12's
# nodejs 18 / npm 9 and newer. Usage: scripts/build-dashboard.sh [--if-missing]
set -euo pipefail
cd "$(dirname "$0")/../dashboard"
if [ "${1:-}" = --if-missing ] && [ -f dist/index.html ] && [ -d node_modules ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "build-dashboard: npm is missing (scripts/deps.sh run installs it)" >&2; exit 1; }
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
