#!/usr/bin/env bash
# One node against three (issue 6): the fan-out and throughput workloads of
# knock-loadgen against (a) one knock-server on PostgreSQL, (b) three on the same
# PostgreSQL with fan-out through a Redis of this script's own. Sockets are spread
# round-robin over the nodes (as a load balancer without stickiness would). Needs the
# local PostgreSQL (KNOCK_BENCH_POSTGRES, default postgres://root@127.0.0.1:5432) and
# redis-server; loopback only. Prints the tables; the figures go into docs/benchmarks.md
# by hand. KNOCK_SERVER_BIN runs another server binary (an older build, to compare).
#   scripts/bench-cluster.sh [extra knock-loadgen flags, e.g. --repeats 1]
set -euo pipefail
cd "$(dirname "$0")/.."
pg="${KNOCK_BENCH_POSTGRES:-postgres://root@127.0.0.1:5432}"
cargo build --release -p knock-server -p knock-loadgen >&2
server_bin="${KNOCK_SERVER_BIN:-target/release/knock-server}"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in knock_bench_one knock_bench_three; do
    psql "$pg/test" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
limits=(--message-rate 1000000 --message-burst 1000000 --frame-rate 1000000 --max-sockets-per-user 100000)

node() { # node DB [REDIS_URL] -> prints "port pid" (runs in a subshell: the caller
         # records the pid for the clean-up)
  local port; port=$(free_port)
  local extra=()
  [[ -n "${2:-}" ]] && extra=(--redis-url "$2")
  RUST_LOG=warn "$server_bin" --addr "127.0.0.1:$port" --database-url "$pg/$1" \
    "${limits[@]}" "${extra[@]}" 2>>"$work/nodes.log" &
  local pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { echo "$port $pid"; return; }
    sleep 0.1
  done
  echo "node on $port did not start" >&2; exit 1
}

for db in knock_bench_one knock_bench_three; do
  psql "$pg/test" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
done
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=("$!")
sleep 0.5

echo "server: $server_bin; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r one_port one_pid < <(node knock_bench_one)
pids+=("$one_pid")
echo "== one node (PostgreSQL, no Redis): 127.0.0.1:$one_port"
for workload in fanout throughput; do
  target/release/knock-loadgen "$workload" --url "127.0.0.1:$one_port" --server-pid "$one_pid" "$@"
done
kill "$one_pid"

read -r a_port a_pid < <(node knock_bench_three "redis://127.0.0.1:$redis_port")
read -r b_port b_pid < <(node knock_bench_three "redis://127.0.0.1:$redis_port")
read -r c_port c_pid < <(node knock_bench_three "redis://127.0.0.1:$redis_port")
pids+=("$a_pid" "$b_pid" "$c_pid")
echo "== three nodes (PostgreSQL + Redis): $a_port $b_port $c_port (RSS and CPU: the first only)"
for workload in fanout throughput; do
  target/release/knock-loadgen "$workload" --url "127.0.0.1:$a_port" --server-pid "$a_pid" \
    --also-url "127.0.0.1:$b_port,127.0.0.1:$c_port" "$@"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
