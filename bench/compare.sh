#!/usr/bin/env bash
# Side-by-side benchmark: nats-server + natsbench against kcpq-server + kcpq-bench, on 127.0.0.1.
#
#   bench/compare.sh [quick|full]        # quick: a few minutes; full: natsbench's whole matrix
#   RUNS=3 bench/compare.sh full         # repeat the set (interleaved) RUNS times
#   IMPAIR=1 bench/compare.sh quick      # also latency + frames through kcpq-impair (root)
#   bench/compare.sh placement           # only latency with servers and client pinned (taskset)
#                                        # to one core, then to two different cores (there
#                                        # also frames of 100 KB and 1 MB)
#   PLACEMENT=1 bench/compare.sh quick   # the quick matrix, then the placement runs
#   bench/compare.sh workers             # throughput (1, 2, 4 subs), fan-in (8 pubs) and frames
#                                        # against nats-server, kcpq-server --workers 1 and
#                                        # --workers N (N = WORKERS_N, default: the cores), one
#                                        # interleaved run; QUICK=1 for smaller counts
#   KCPQ_WORKERS=1 bench/compare.sh full # kcpq-server's --workers in the other modes (default:
#                                        # none given, so the server's own default: the cores)
#
# RES=DIR writes the results there instead of bench/results.
# Builds both tools in release (natsbench with CARGO_TARGET_DIR=/tmp/natsbench-target so shared/
# stays clean), needs `nats-server` on PATH (Debian package nats-server; not installed here),
# starts both servers and stops each by its PID. Every benchmark call is wrapped in `timeout`.
# Writes bench/results/{nats,kcpq}-MODE.jsonl (raw lines) and bench/results/summary-MODE.md
# (summarize.py: NATS as base, KCPQ as other, ratio = KCPQ / NATS). The workers mode writes
# {nats,kcpq-w1,kcpq-wN}-workers.jsonl and summary-workers.md (bench/workers_table.py).
set -u
MODE=${1:-quick}
case "$MODE" in
  quick | full) ;;
  placement) PLACEMENT=1 ;;
  workers) ;;
  *) echo "usage: $0 [quick|full|placement|workers]" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NATSBENCH_DIR=${NATSBENCH_DIR:-$ROOT/../shared/bench/natsbench}
[ -d "$NATSBENCH_DIR" ] || NATSBENCH_DIR=/work/shared/bench/natsbench
RUNS=${RUNS:-1}
NATS_PORT=${NATS_PORT:-14222}
NATS_MON=${NATS_MON:-18222}
KCPQ_PORT=${KCPQ_PORT:-14000}
KCPQ_WORKERS=${KCPQ_WORKERS:-}
WORKERS_N=${WORKERS_N:-$(nproc)}
RES=${RES:-$ROOT/bench/results}
mkdir -p "$RES"
NATS_OUT=$RES/nats-$MODE.jsonl
KCPQ_OUT=$RES/kcpq-$MODE.jsonl
SUMMARY=$RES/summary-$MODE.md
KCPQN_OUT=""
if [ "$MODE" = workers ]; then
  KCPQ_OUT=$RES/kcpq-w1-workers.jsonl
  KCPQN_OUT=$RES/kcpq-w$WORKERS_N-workers.jsonl
  : > "$KCPQN_OUT"
fi
[ "$MODE" = placement ] || { : > "$NATS_OUT"; : > "$KCPQ_OUT"; }

command -v nats-server > /dev/null || {
  echo "nats-server not found: apt-get install nats-server" >&2; exit 1; }
command -v python3 > /dev/null || { echo "python3 not found" >&2; exit 1; }

echo "building kcpq-bench and kcpq-server (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p kcpq-smol --bin kcpq-bench --bin kcpq-server) || exit 1
echo "building natsbench (release, CARGO_TARGET_DIR=/tmp/natsbench-target)..." >&2
(cd "$NATSBENCH_DIR" && CARGO_TARGET_DIR=/tmp/natsbench-target cargo build --release -q) || exit 1
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
KB=$TARGET/release/kcpq-bench
KS=$TARGET/release/kcpq-server
NB=/tmp/natsbench-target/release/natsbench

ulimit -n "$(ulimit -Hn)"
# natsbench runs on 2 tokio workers (its default --threads 2); kcpq-bench on its default
# --threads 1, one executor thread for the test and its connections (bench/README.md says why).
WORK=$(mktemp -d /tmp/kcpq-compare.XXXXXX)
NATS_PID=""
KCPQ_PID=""
KCPQN_PID=""
RELAY_PID=""
RELAY_PORT=${RELAY_PORT:-14500}

# Command prefixes (empty, or `taskset -c N`) for the servers and for each benchmark call.
SERVER_PREFIX=""
BENCH_PREFIX=""

start_nats() {
  $SERVER_PREFIX nats-server -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" >> "$WORK/nats.log" 2>&1 &
  NATS_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$NATS_MON/healthz" > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nats-server did not become healthy" >&2; exit 1
}
start_kcpq() { # [$1 = --workers (empty: none given), $2 = port, $3 = log name]; sets KCPQ_PID
  local workers=${1-$KCPQ_WORKERS} port=${2:-$KCPQ_PORT} log=$WORK/${3:-kcpq}.log
  local flags=() started
  [ -n "$workers" ] && flags=(--workers "$workers")
  # The log is appended to across restarts: wait for one more "listening" line than before.
  started=$(grep -c "listening" "$log" 2> /dev/null)
  (cd "$WORK" && exec $SERVER_PREFIX "$KS" --listen "127.0.0.1:$port" "${flags[@]}" >> "$log" 2>&1) &
  KCPQ_PID=$!
  for _ in $(seq 1 100); do
    [ "$(grep -c "listening" "$log" 2> /dev/null)" -gt "${started:-0}" ] && return 0
    sleep 0.1
  done
  echo "kcpq-server did not start" >&2; exit 1
}
stop_pid() { # $1 = pid
  [ -n "$1" ] || return 0
  kill "$1" 2> /dev/null
  for _ in $(seq 1 100); do kill -0 "$1" 2> /dev/null || break; sleep 0.1; done
  kill -0 "$1" 2> /dev/null && kill -9 "$1" 2> /dev/null
  wait "$1" 2> /dev/null
}
stop_all() {
  stop_pid "$NATS_PID"; NATS_PID=""; stop_pid "$KCPQ_PID"; KCPQ_PID=""
  stop_pid "$KCPQN_PID"; KCPQN_PID=""
  stop_pid "$RELAY_PID"; RELAY_PID=""
}
trap 'stop_all; rm -rf "$WORK"' EXIT INT TERM

# One JSON line per call; a missing line becomes an error line.
one() { # $1 = out file, $2 = label, rest = command
  local out=$1 label=$2; shift 2
  local line
  line=$(timeout 300 $BENCH_PREFIX "$@")
  [ -n "$line" ] || line="{\"test\":\"$2\",\"error\":\"no output (timeout?)\"}"
  echo "$line" >> "$out"
  echo "[$label] ${*:3} -> ${line:0:150}" >&2
}
both() { # $1 = run, rest = test args (same for both tools)
  local r=$1; shift
  one "$NATS_OUT" nats "$NB" "$@" --url "nats://127.0.0.1:$NATS_PORT" --server-pid "$NATS_PID" \
    --varz "http://127.0.0.1:$NATS_MON/varz" --tag "run=$r"
  one "$KCPQ_OUT" kcpq "$KB" "$@" --url "kcp://127.0.0.1:$KCPQ_PORT" --server-pid "$KCPQ_PID" \
    --key-file "$WORK/kcpq.key" --tag "run=$r"
}

# One meta line (machine, versions, load) at the head of a pair of result files (and of the
# kcpq-server --workers N file in the workers mode).
meta() { # nats out, kcpq out[, kcpq --workers N out]
python3 - "$1" "$2" "$RUNS" "${3:-}" "$KCPQ_WORKERS" "$WORKERS_N" << 'PY'
import json, os, platform, subprocess, sys, time
v = subprocess.run(["nats-server", "--version"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
meta = {"test": "meta", "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "load": open("/proc/loadavg").read().split()[:3], "runs": int(sys.argv[3]), "ts": int(time.time())}
open(sys.argv[1], "a").write(json.dumps(dict(meta, server=v, async_nats="0.51")) + "\n")
kcpq = dict(meta, server="kcpq-server", async_nats="–")
if sys.argv[4]:
    open(sys.argv[2], "a").write(json.dumps(dict(kcpq, workers=1)) + "\n")
    open(sys.argv[4], "a").write(json.dumps(dict(kcpq, workers=int(sys.argv[6]))) + "\n")
else:
    open(sys.argv[2], "a").write(json.dumps(dict(kcpq, workers=sys.argv[5] or "default")) + "\n")
PY
}

if [ "$MODE" = quick ] || [ "$MODE" = full ]; then
meta "$NATS_OUT" "$KCPQ_OUT"

if [ "$MODE" = quick ]; then
  TP="16 200000 1|128 200000 1|128 100000 2"
  FANIN="4 16 50000"
  LAT="128"
  FRAMES="100000 240 5 2"
  CONNS="1000"
else
  TP="16 2000000 1|16 2000000 2|128 1000000 1|128 1000000 2|128 500000 4|1024 500000 1|1024 500000 2"
  FANIN="2 16 500000|4 16 250000|8 16 125000|16 16 62500|4 128 250000"
  LAT="16 128 1024"
  FRAMES="100000 240 10 2|1000000 60 5 2"
  CONNS="1000 5000 10000"
fi

for r in $(seq 1 "$RUNS"); do
  start_nats; start_kcpq
  IFS='|' read -ra cfgs <<< "$TP"
  for cfg in "${cfgs[@]}"; do
    set -- $cfg
    both "$r" throughput --size "$1" --count "$2" --subs "$3"
  done
  IFS='|' read -ra cfgs <<< "$FANIN"
  for cfg in "${cfgs[@]}"; do
    set -- $cfg
    both "$r" fanin --pubs "$1" --size "$2" --count "$3"
  done
  for s in $LAT; do both "$r" latency --size "$s" --count 5000 --rate 1000; done
  [ "$MODE" = full ] && both "$r" latency --size 128 --count 10000 --rate 0
  one "$NATS_OUT" nats "$NB" udplat --size 128 --count 5000 --rate 1000 --tag "run=$r"
  one "$KCPQ_OUT" kcpq "$KB" udplat --size 128 --count 5000 --rate 1000 --tag "run=$r"
  IFS='|' read -ra cfgs <<< "$FRAMES"
  for cfg in "${cfgs[@]}"; do
    set -- $cfg
    both "$r" frames --size "$1" --fps "$2" --seconds "$3" --subs "$4"
  done
  for n in $CONNS; do
    stop_all; start_nats; start_kcpq; sleep 1
    both "$r" conns --n "$n" --concurrency 64 --settle 2
  done
  stop_all
done

{
  echo "# kcpq vs NATS ($MODE, $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "base = nats-server ($NATS_OUT), other = kcpq-server ($KCPQ_OUT); ratio = KCPQ / NATS."
  echo
  python3 "$NATSBENCH_DIR/summarize.py" "$NATS_OUT" "$KCPQ_OUT"
} > "$SUMMARY"
echo "wrote $SUMMARY" >&2
fi

# Workers (issue 27): the same tests against nats-server, kcpq-server --workers 1 and
# kcpq-server --workers N, all three servers up at once and each test run against the three back
# to back (interleaved), RUNS times. On a machine where the benchmark clients share the cores with
# the servers, the clients bound what extra workers can show.
if [ "$MODE" = workers ]; then
  meta "$NATS_OUT" "$KCPQ_OUT" "$KCPQN_OUT"
  if [ -n "${QUICK:-}" ]; then
    TP="128 200000 1|128 100000 2|128 100000 4"
    FANIN="8 16 25000"
    FRAMES="100000 240 5 2"
  else
    TP="128 1000000 1|128 1000000 2|128 500000 4"
    FANIN="8 16 125000"
    FRAMES="100000 240 10 2"
  fi
  KCPQN_PORT=$((KCPQ_PORT + 1))
  kcpq_at() { # $1 = out, $2 = label, $3 = port, $4 = pid, $5 = run, rest = test args
    local out=$1 label=$2 port=$3 pid=$4 r=$5; shift 5
    one "$out" "$label" "$KB" "$@" --url "kcp://127.0.0.1:$port" --server-pid "$pid" \
      --key-file "$WORK/kcpq.key" --tag "run=$r"
  }
  three() { # $1 = run, rest = test args (same for every server)
    local r=$1; shift
    one "$NATS_OUT" nats "$NB" "$@" --url "nats://127.0.0.1:$NATS_PORT" --server-pid "$NATS_PID" \
      --varz "http://127.0.0.1:$NATS_MON/varz" --tag "run=$r"
    kcpq_at "$KCPQ_OUT" kcpq-w1 "$KCPQ_PORT" "$KCPQ_PID" "$r" "$@"
    kcpq_at "$KCPQN_OUT" "kcpq-w$WORKERS_N" "$KCPQN_PORT" "$KCPQN_PID" "$r" "$@"
  }
  for r in $(seq 1 "$RUNS"); do
    start_nats
    start_kcpq "$WORKERS_N" "$KCPQN_PORT" "kcpq-w$WORKERS_N"; KCPQN_PID=$KCPQ_PID
    start_kcpq 1 "$KCPQ_PORT" kcpq-w1
    IFS='|' read -ra cfgs <<< "$TP"
    for cfg in "${cfgs[@]}"; do
      set -- $cfg
      three "$r" throughput --size "$1" --count "$2" --subs "$3"
    done
    IFS='|' read -ra cfgs <<< "$FANIN"
    for cfg in "${cfgs[@]}"; do
      set -- $cfg
      three "$r" fanin --pubs "$1" --size "$2" --count "$3"
    done
    IFS='|' read -ra cfgs <<< "$FRAMES"
    for cfg in "${cfgs[@]}"; do
      set -- $cfg
      three "$r" frames --size "$1" --fps "$2" --seconds "$3" --subs "$4"
    done
    stop_all
  done
  {
    echo "# kcpq-server --workers 1 and --workers $WORKERS_N beside NATS ($(date -u +%Y-%m-%dT%H:%MZ), $RUNS run(s))"
    echo
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
    echo
    python3 "$ROOT/bench/workers_table.py" "$NATS_OUT" "$KCPQ_OUT" "$KCPQN_OUT"
    echo
    echo "## kcpq-server --workers $WORKERS_N against --workers 1 (base), every metric"
    echo
    python3 "$NATSBENCH_DIR/summarize.py" "$KCPQ_OUT" "$KCPQN_OUT"
    echo
    echo "## kcpq-server --workers $WORKERS_N against NATS (base), every metric"
    echo
    python3 "$NATSBENCH_DIR/summarize.py" "$NATS_OUT" "$KCPQN_OUT"
  } > "$SUMMARY"
  echo "wrote $SUMMARY" >&2
fi

# Latency by CPU placement: both servers pinned to core 0, the benchmark client pinned to core 0
# (every hop a context switch on one core) and then to core 1 (every hop a wake-up across cores;
# frames of 100 KB and 1 MB are measured in this placement too).
# Beside them, the floor of that topology: `kcpq-bench udprelay` (pinned like the servers) only
# forwards datagrams, and `udplat --via` pings through it, four process hops per round trip.
if [ -n "${PLACEMENT:-}" ]; then
  PSUMMARY=$RES/summary-placement.md
  echo "# Latency by CPU placement ($(date -u +%Y-%m-%dT%H:%MZ), $RUNS run(s))" > "$PSUMMARY"
  SERVER_PREFIX="taskset -c 0"
  for placement in same-core:0 cross-core:1; do
    name=${placement%%:*}
    NATS_OUT=$RES/nats-placement-$name.jsonl
    KCPQ_OUT=$RES/kcpq-placement-$name.jsonl
    : > "$NATS_OUT"; : > "$KCPQ_OUT"
    meta "$NATS_OUT" "$KCPQ_OUT"
    RELAY_OUT=$RES/relay-placement-$name.jsonl
    : > "$RELAY_OUT"
    start_nats; start_kcpq
    $SERVER_PREFIX "$KB" udprelay --listen "127.0.0.1:$RELAY_PORT" 2>> "$WORK/relay.log" &
    RELAY_PID=$!
    BENCH_PREFIX="taskset -c ${placement##*:}"
    for r in $(seq 1 "$RUNS"); do
      both "$r" latency --size 128 --count 5000 --rate 1000
      one "$RELAY_OUT" relay "$KB" udplat --via "127.0.0.1:$RELAY_PORT" --size 128 --count 5000 \
        --rate 1000 --tag "run=$r"
      # Frames too where each side has a core: unpinned, the scheduler often runs the server
      # and the benchmark on one core by turns, and a frame's latency is then the sum of both
      # processes' work on it instead of the longer of the two.
      if [ "$name" = cross-core ]; then
        both "$r" frames --size 100000 --fps 240 --seconds 5 --subs 2
        both "$r" frames --size 1000000 --fps 60 --seconds 5 --subs 2
      fi
    done
    BENCH_PREFIX=""
    stop_all
    {
      echo
      echo "## $name: servers on core 0, benchmark client on core ${placement##*:}"
      echo
      python3 "$NATSBENCH_DIR/summarize.py" "$NATS_OUT" "$KCPQ_OUT"
      echo
      echo "Floor of this placement, a relay that only forwards (\`udplat --via\`), RTT µs:"
      echo
      python3 - "$RELAY_OUT" << 'PY'
import json, statistics, sys
rtts = [json.loads(l).get("rtt_us") for l in open(sys.argv[1])]
rtts = [r for r in rtts if r]
for q in ("p50", "p90", "p99"):
    values = [r[q] for r in rtts]
    if not values:
        print("- no run produced a result")
        break
    print(f"- {q}: median {statistics.median(values):.1f} of {len(values)} runs ({', '.join(f'{v:.1f}' for v in values)})")
PY
    } >> "$PSUMMARY"
  done
  SERVER_PREFIX=""
  echo "wrote $PSUMMARY" >&2
fi

if [ -n "${IMPAIR:-}" ] && { [ "$MODE" = quick ] || [ "$MODE" = full ]; }; then
  "$ROOT/bench/impaired.sh" "$MODE" "$NB" "$KB" "$KS" || echo "impaired runs failed" >&2
fi

