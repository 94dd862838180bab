#!/usr/bin/env bash
# Fuzzes everything that parses client input, for a bounded time per target:
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
# Installs what is missing (the pinned nightly, cargo-fuzz), builds the targets in fuzz/
# once, runs each with libFuzzer for SECONDS, and prints how many inputs each one tried.
# Exits non-zero when a target finds a crash (reproducer in fuzz/artifacts/<target>/) or
# a committed regression input (fuzz/regressions/<target>/) fails again.
# See docs/fuzzing.md.
#
# Environment: KNOCK_FUZZ_SANITIZER=address|none (default address);
#   KNOCK_FUZZ_TARGET_DIR, where the instrumented build goes (default
#   ~/.cache/knock-fuzz/target: outside the work tree, so that CI's fresh clone on the same
#   machine reuses the dependencies, about 10 CPU-minutes to build cold).
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-fuzz needs nightly (-Z flags for sanitizers and coverage instrumentation). Dated,
# so that every run builds with the same compiler: rustc 1.99.0-nightly (969b803cb), the
# release line of the pinned stable 1.99.1. An older nightly cannot build the workspace's
# crates: they declare rust-version = "1.99", which cargo checks.
NIGHTLY=nightly-2026-08-10
CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET="${1:-60}"
shift || true
SANITIZER="${KNOCK_FUZZ_SANITIZER:-address}"
TARGET_DIR="${KNOCK_FUZZ_TARGET_DIR:-$HOME/.cache/knock-fuzz/target}"
ALL_TARGETS=(client_frame server_frame credentials)
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${ALL_TARGETS[@]}"); fi

log() { echo "fuzz: $*" >&2; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi

# 1. The nightly (RUSTUP_AUTO_INSTALL=0: nothing installs it implicitly). Minimal profile:
#    rustc, cargo and rust-std, which carries the sanitizer runtimes.
if rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
  log "$NIGHTLY present"
else
  log "installing $NIGHTLY"
  rustup toolchain install "$NIGHTLY" --profile minimal >&2
fi

# 2. cargo-fuzz, as its own lock file pins it (about 2 minutes to compile on two cores).
if cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  log "cargo-fuzz $CARGO_FUZZ_VERSION present"
else
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo +"$NIGHTLY" install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked >&2
fi

# 3. Build every target once. fuzz/ is its own workspace (excluded from the root one), so
#    it starts from the workspace's lock file: the targets link the serde, serde_json and
#    server dependencies the server ships with. `+$NIGHTLY` overrides rust-toolchain.toml.
#    -a: debug assertions and overflow checks on, in an optimized build.
cp Cargo.lock fuzz/Cargo.lock
fuzz=(cargo +"$NIGHTLY" fuzz)
build_flags=(--fuzz-dir fuzz -a --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR")
log "building ${targets[*]} ($NIGHTLY, sanitizer $SANITIZER)"
build_start=$(date +%s)
if [[ "${targets[*]}" == "${ALL_TARGETS[*]}" ]]; then
  "${fuzz[@]}" build "${build_flags[@]}" >&2  # one cargo run builds and links all in parallel
else
  for target in "${targets[@]}"; do
    "${fuzz[@]}" build "${build_flags[@]}" "$target" >&2
  done
fi
log "built in $(($(date +%s) - build_start)) s"

# 4. Run each target for the bounded time. The first corpus directory collects what
#    libFuzzer finds (ignored by git but for the committed seed-* files); the regressions
#    directory, when present, is replayed first, so a fixed crash stays fixed.
mkdir -p fuzz/logs
failed=()
summary=()
for target in "${targets[@]}"; do
  corpora=("fuzz/corpus/$target")
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
    corpora+=("fuzz/regressions/$target")
  fi
  log_file="fuzz/logs/$target.log"
  log "running $target for ${SECONDS_PER_TARGET} s (log: $log_file)"
  start=$(date +%s)
  status=0
  "${fuzz[@]}" run "${build_flags[@]}" "$target" "${corpora[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" \
    -max_len=8192 \
    -timeout=10 \
    -dict=fuzz/knock.dict \
    -print_final_stats=1 \
    >"$log_file" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_file" | tail -n1 || true)
  coverage=$(grep -oE '^#[0-9]+[[:space:]]+[A-Z]+[[:space:]]+cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log_file" \
    | tail -n1 | sed -E 's/^#[0-9]+[[:space:]]+[A-Z]+[[:space:]]+//' || true)
  if [[ $status -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $status)"
    failed+=("$target")
    # What libFuzzer said about the crash, and where it saved the input.
    grep -E -A25 '^(==[0-9]+==ERROR|thread .* panicked|INFO: Running with entropic)' "$log_file" \
      | grep -v '^INFO: Running with entropic' | head -n 60 >&2 || true
    grep -E 'Test unit written to' "$log_file" >&2 || true
    echo "fuzz: reproduce with: cargo +$NIGHTLY fuzz run ${build_flags[*]} $target <that file>" >&2
  fi
  summary+=("$(printf '%-14s %12s executions in %4d s  %s  [%s]' \
    "$target" "${executions:-?}" "$elapsed" "$result" "${coverage:-no coverage line}")")
done

echo
echo "fuzz summary ($NIGHTLY, cargo-fuzz $CARGO_FUZZ_VERSION, ${SECONDS_PER_TARGET} s per target, sanitizer $SANITIZER):"
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: crash in ${failed[*]}: see fuzz/logs/ and fuzz/artifacts/" >&2
  exit 1
fi
