#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, and run csocks in
# the foreground with config/csocks.toml (SOCKS5 on 127.0.0.1:1080, API on
# 127.0.0.1:9090 with the dashboard at http://127.0.0.1:9090/, sessions in
# var/sessions.db). Extra arguments go to csocks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
scripts/build.sh build
scripts/build-dashboard.sh --if-missing
mkdir -p var
exec build/csocks -c config/csocks.toml "$@"
