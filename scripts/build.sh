#!/usr/bin/env bash
# The release build of Knock, ready to serve: the server binary (target/release/
# knock-server) and the web client in target/site, prepared for delivery.
#
#   scripts/build.sh
#
# The client is built with code splitting (`--split` and knock-frontend's `split`
# feature): the signed-in pages are a second WebAssembly module that the sign-in page
# does not download (docs/client-figures.md, "Code splitting"). scripts/prepare-site.mjs
# then gives the files content-addressed names, writes index.html and the precompressed
# copies. `cargo leptos watch` builds one module, without either.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo leptos build --release --split --lib-features split "$@"
node scripts/prepare-site.mjs
