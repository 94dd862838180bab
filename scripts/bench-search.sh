#!/usr/bin/env bash
# Search benchmark (issue 19): a database of years of chat (2,000,000 messages in 2,000
# rooms by default, written by scripts/bench_search_fill.py), the release server on it,
# and `knock-loadgen search` measuring search over the real WebSocket: a rare word, a
# common word and a phrase, for a user in 20 rooms and one in 1,000, across their rooms
# and in one room. Prints the latency table and the database's size. Not part of `all`
# or of the CI smoke: filling takes minutes.
#
#   scripts/bench-search.sh sqlite
#   scripts/bench-search.sh postgres             # KNOCK_BENCH_POSTGRES, default
#                                                # postgres://root@127.0.0.1:5432
#   scripts/bench-search.sh sqlite 200000        # fewer messages
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-sqlite}
messages=${2:-2000000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p knock-server -p knock-loadgen
server="$target/release/knock-server"
loadgen="$target/release/knock-loadgen"
work=$(mktemp -d /tmp/knock-search-bench.XXXXXX)
port=${KNOCK_BENCH_PORT:-3919}
case $engine in
    sqlite) url="sqlite:$work/knock.db" ; fill_db="$work/knock.db" ;;
    postgres)
        base=${KNOCK_BENCH_POSTGRES:-postgres://root@127.0.0.1:5432}
        db=knock_bench_search
        psql -q "$base/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
        url="$base/$db" ; fill_db="$url" ;;
    *) echo "usage: $0 sqlite|postgres [messages]" >&2 ; exit 2 ;;
esac
echo "engine $engine, $messages messages, in $work; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

pid=
start() {
    "$server" --addr "127.0.0.1:$port" --database-url "$url" --search-rate 1000000 --frame-rate 1000000 \
        --read-rate 1000000 > "$work/server.log" 2>&1 &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/healthz" > /dev/null; do
        kill -0 "$pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
        sleep 0.2
    done
}
stop() { [ -z "$pid" ] || { kill "$pid"; wait "$pid" || true; pid=; }; }
trap stop EXIT

# The searchers sign up through the server (their password hashes are real), then the
# filler makes them members of 20 and 1,000 rooms.
start
for user in bench_few bench_many; do
    curl -sf -X POST -H 'content-type: application/json' \
        -d "{\"username\":\"$user\",\"password\":\"loadgen-password\"}" \
        "http://127.0.0.1:$port/api/register" > /dev/null
done
stop
began=$(date +%s)
words=$(python3 scripts/bench_search_fill.py --engine "$engine" --db "$fill_db" --messages "$messages")
echo "filled in $(( $(date +%s) - began )) s: $words" >&2
eval "$words"

start
"$loadgen" search --url "127.0.0.1:$port" --rare "$RARE" --common "$COMMON" --phrase "$PHRASE"
stop

case $engine in
    sqlite)
        echo "database file: $(du -b "$work/knock.db" | cut -f1) bytes"
        sqlite3 "$work/knock.db" "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8" ;;
    postgres)
        psql "$url" -c "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) AS total, \
            pg_relation_size(oid) AS bytes FROM pg_class WHERE relname LIKE 'messages%' \
            ORDER BY pg_relation_size(oid) DESC" ;;
esac
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
