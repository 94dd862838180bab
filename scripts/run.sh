#!/usr/bin/env bash
# Builds and runs Knock at http://127.0.0.1:3000 (data in ./knock.db), installing what
# is missing first: the release build, the delivery step (content-hashed file names,
# index.html, precompressed .br/.gz copies: scripts/prepare-site.mjs), then the server.
# Flags after the script name go to knock-server (`--help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh)"
scripts/build.sh
exec target/release/knock-server "$@"
