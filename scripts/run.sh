#!/usr/bin/env bash
# Builds and runs Knock at http://127.0.0.1:3000 (data in ./knock.db), installing what
# is missing first. Flags after the script name go to `cargo leptos serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh)"
exec cargo leptos serve --release "$@"
