#!/usr/bin/env bash
# Runs every test of Knock on a fresh machine: installs what is missing, then
# formatting, lints, the Rust tests (unit, property, storage contract on SQLite and
# PostgreSQL, the server over real sockets, three-node clusters with Redis), the release
# build of server and web client, the Playwright suite in Chromium (one-box and static
# export), a bounded fuzzing run, and a smoke run of the load generator.
#
# Needs PostgreSQL at 127.0.0.1:5432 (trust auth, database `test`; or set
# KNOCK_TEST_POSTGRES_URL) and the redis-server binary, as on the CI machines.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh --tests)"

step() { printf '\n==> %s\n' "$*"; }

# Debug builds for lints and tests go to a cache outside the clone, so that a fresh
# clone on the same machine (CI) compiles only what changed.
debug_target="${KNOCK_TEST_TARGET_DIR:-$HOME/.cache/knock-target}"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
# All features: the client's split point (knock-app's `split`) is what ships.
CARGO_TARGET_DIR="$debug_target" cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo test: protocol, rules, properties, storage contract, server over real sockets, clusters, client logic, load generator"
CARGO_TARGET_DIR="$debug_target" cargo test --workspace --locked

step "release build: server binary and WebAssembly client, split and prepared (scripts/build.sh)"
# Content-addressed names, index.html and the precompressed copies come with it
# (export-static.sh, which the end-to-end fixtures run, prepares again: quick when
# nothing changed).
scripts/build.sh

step "Playwright end-to-end tests in Chromium (one-box and static export)"
(cd end2end && npx playwright test)

step "fuzzing every parser of client input (bounded)"
scripts/fuzz.sh "${KNOCK_FUZZ_SECONDS:-20}"

step "load generator smoke run (no timings asserted)"
cargo run --release --locked -p knock-loadgen -- smoke
