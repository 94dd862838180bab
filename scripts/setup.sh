#!/usr/bin/env bash
# Installs what Knock needs and skips what is already there:
#   the pinned Rust toolchain, cargo-leptos, wasm-bindgen-cli (the version in Cargo.lock),
#   wasm-opt (npm binaryen) and, with --tests, Chromium and the Playwright packages.
# Prints the PATH additions as `export` lines on stdout, for `eval "$(scripts/setup.sh)"`.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.11
BINARYEN_VERSION=132.0.0
TOOLS_DIR="${KNOCK_TOOLS_DIR:-$HOME/.cache/knock-tools}"
for_tests=false
[[ "${1:-}" == "--tests" ]] && for_tests=true

log() { echo "setup: $*" >&2; }
export PATH="$HOME/.cargo/bin:$TOOLS_DIR/node_modules/.bin:$PATH"

# 1. The compiler and wasm target pinned in rust-toolchain.toml (RUSTUP_AUTO_INSTALL=0
#    means nothing installs it implicitly).
toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
if rustup run "$toolchain" rustc --version >/dev/null 2>&1 \
  && rustup +"$toolchain" target list --installed | grep -qx wasm32-unknown-unknown \
  && rustup +"$toolchain" component list --installed | grep -q '^clippy' \
  && rustup +"$toolchain" component list --installed | grep -q '^rustfmt'; then
  log "Rust $toolchain present"
else
  log "installing Rust $toolchain"
  rustup toolchain install >&2
fi

# 2. cargo-leptos (about 20 minutes to compile on two cores: only when missing).
if cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "cargo-leptos $CARGO_LEPTOS_VERSION present"
else
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked >&2
fi

# 3. wasm-bindgen-cli at exactly the version the client links (cargo-leptos finds it on
#    PATH instead of downloading it). Not --locked: its lock file names a webpki-roots
#    release the registry no longer serves.
wasm_bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if wasm-bindgen --version 2>/dev/null | grep -q "$wasm_bindgen_version"; then
  log "wasm-bindgen $wasm_bindgen_version present"
else
  log "installing wasm-bindgen-cli $wasm_bindgen_version"
  cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" >&2
fi

# 4. wasm-opt from npm's binaryen (Debian's binaryen 108 makes wasm that crashes Chromium).
if wasm-opt --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  log "wasm-opt ${BINARYEN_VERSION%%.*} present"
else
  log "installing binaryen $BINARYEN_VERSION from npm into $TOOLS_DIR"
  mkdir -p "$TOOLS_DIR"
  npm install --prefix "$TOOLS_DIR" --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >&2
fi

if $for_tests; then
  # 5. Chromium from Debian (Playwright cannot download its own browser here).
  if [[ -x /usr/bin/chromium ]]; then
    log "chromium present"
  else
    log "installing Debian's chromium"
    sudo_cmd=""
    [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >&2
  fi
  # 6. Playwright's npm packages, as locked.
  if [[ -f end2end/package-lock.json ]]; then
    if [[ -d end2end/node_modules/@playwright/test ]] \
      && cmp -s end2end/package-lock.json end2end/node_modules/.knock-installed-lock 2>/dev/null; then
      log "end2end npm packages present"
    else
      log "installing end2end npm packages"
      (cd end2end && npm ci --no-audit --no-fund >&2)
      cp end2end/package-lock.json end2end/node_modules/.knock-installed-lock
    fi
  fi
fi

echo "export PATH=\"$HOME/.cargo/bin:$TOOLS_DIR/node_modules/.bin:\$PATH\""
