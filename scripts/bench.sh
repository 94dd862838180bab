#!/usr/bin/env bash
# Benchmarks (issue 5): builds the release server and the load generator, runs the five
# workloads against a fresh server on a temporary SQLite file, and rewrites the generated
# part of docs/benchmarks.md and the plots in docs/bench/. Takes about 10 minutes on
# 2 cores; only loopback addresses are used.
#
#   scripts/bench.sh                 # everything, 3 repeats, medians
#   scripts/bench.sh --repeats 1     # quicker
#   scripts/bench.sh --idle-connections 5000
#
# The CI smoke (a tiny run of every workload, no timing asserted) is:
#   cargo build --release -p knock-server && cargo run --release -p knock-loadgen -- smoke
set -euo pipefail
cd "$(dirname "$0")/.."
echo "hard open-file limit: $(ulimit -Hn); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# The load generator starts target/release/knock-server, so build into ./target.
export CARGO_TARGET_DIR=target
cargo build --release -p knock-server -p knock-loadgen
# Run the binary just built: `cargo run -p knock-loadgen` alone unifies features
# differently and would compile the load generator a second time.
exec target/release/knock-loadgen all "$@"
