#!/usr/bin/env bash
# Runs every test of Knock on a fresh machine: installs what is missing, then
# formatting, lints, Rust unit/integration/contract tests, the release build of server
# and web client, and the Playwright end-to-end suite in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/setup.sh --tests)"

# PostgreSQL and Redis, for the tests that use them, are expected at their usual local
# addresses (see README); nothing else is started here.

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (protocol, rules, storage contract, server over real sockets, client logic)"
cargo test --workspace --locked

step "cargo leptos build --release (server binary and WebAssembly client)"
cargo leptos build --release

if [[ -f end2end/playwright.config.ts ]]; then
  step "Playwright end-to-end tests in Chromium"
  (cd end2end && npx playwright test)
fi
