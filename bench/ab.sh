#!/usr/bin/env bash
# A/B of two builds of kcpq-server + kcpq-bench on 127.0.0.1, interleaved: each round runs
# `latency` then `throughput` with A's binaries, then with B's, each against a fresh server.
#
#   bench/ab.sh DIR_A DIR_B [ROUNDS] > results.jsonl
#
# DIR_A and DIR_B each hold a release `kcpq-server` and `kcpq-bench`. Every result is one JSON
# line tagged "a N" or "b N" (variant, round); bench/ab_summary.py prints the medians.
#
# With ASYNC_BENCH=path/to/async_bench (the example, built in release), each round also runs
# its latency and throughput with the smol and the tokio client against a fresh B server
# (JSON lines tagged "smol N" and "tokio N").
#
# With KCPQ_WORKERS=N every server runs with `--workers N` (kcpq-server's default is one worker
# per core; servers from before issue 27 have no such flag: leave it unset for them).
set -u
A=$1 B=$2 ROUNDS=${3:-6}
PORT=${PORT:-14600}
WORKERS_ARGS=()
[ -n "${KCPQ_WORKERS:-}" ] && WORKERS_ARGS=(--workers "$KCPQ_WORKERS")
LATENCY=${LATENCY:-"latency --size 128 --count 3000 --rate 1000"}
THROUGHPUT=${THROUGHPUT:-"throughput --size 128 --count 500000 --subs 1"}
WORK=$(mktemp -d)
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2> /dev/null; rm -rf "$WORK"' EXIT INT TERM

start_server() { # $1 = dir
  : > "$WORK/server.log"
  (cd "$WORK" && exec "$1/kcpq-server" --listen "127.0.0.1:$PORT" "${WORKERS_ARGS[@]}" \
    >> "$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    grep -q "listening" "$WORK/server.log" 2> /dev/null && return 0
    sleep 0.1
  done
  echo "kcpq-server did not start" >&2; exit 1
}
stop_server() {
  kill "$SERVER_PID" 2> /dev/null
  wait "$SERVER_PID" 2> /dev/null
  SERVER_PID=""
}
one() { # $1 = dir, $2 = variant, $3 = run, rest = bench args
  local dir=$1 variant=$2 run=$3; shift 3
  start_server "$dir"
  # shellcheck disable=SC2068
  line=$(timeout 300 "$dir/kcpq-bench" $@ --url "kcp://127.0.0.1:$PORT" --server-pid "$SERVER_PID" \
    --key-file "$WORK/kcpq.key" --tag "$variant $run")
  stop_server
  [ -n "$line" ] || line="{\"variant\":\"$variant\",\"error\":\"no output\"}"
  echo "$line"
  echo "[$variant run $run] ${line:0:120}" >&2
}
async_one() { # $1 = runtime, $2 = run, $3 = test, rest = async_bench args
  local runtime=$1 run=$2 test=$3; shift 3
  start_server "$B"
  local key
  key=$(grep -v '^#' "$WORK/kcpq.key" | tr -d ' \n' | head -c 64)
  # shellcheck disable=SC2068
  line=$(KCPQ_AES256_KEY_HEX=$key timeout 300 "$ASYNC_BENCH" --runtime "$runtime" --test "$test" \
    $@ --server "127.0.0.1:$PORT")
  stop_server
  echo "{\"test\":\"async_$test\",\"tag\":\"$runtime $run\",\"line\":\"$line\"}"
  echo "[$runtime run $run] $line" >&2
}
for run in $(seq 1 "$ROUNDS"); do
  for pair in "a $A" "b $B"; do
    set -- $pair
    one "$2" "$1" "$run" $LATENCY
    one "$2" "$1" "$run" $THROUGHPUT
  done
  if [ -n "${ASYNC_BENCH:-}" ]; then
    for runtime in smol tokio; do
      async_one "$runtime" "$run" latency --size 128 --count 3000 --rate 1000
      async_one "$runtime" "$run" throughput --size 128 --count 500000
    done
  fi
done
