#!/usr/bin/env bash
# Latency and frames for nats-server (TCP) and kcpq-server (UDP) across the same impaired link:
# 20 ms RTT (10 ms each way) at 0 %, 1 % and 5 % loss, applied by kcpq-impair between two
# network namespaces (bench/netns.sh). Needs root.
#
#   bench/impaired.sh [quick|full] NATSBENCH KCPQ_BENCH KCPQ_SERVER
#
# Called by `IMPAIR=1 bench/compare.sh`; can be run alone with the three release binaries.
# The forwarder is restarted for every single test, so its CPU line (printed on SIGINT) covers
# exactly that test; the lines go to bench/results/impaired-forwarder-MODE.txt. If the
# forwarder used more than half a core during a 240 fps frames test, the frames tests of that
# loss rate are repeated at 60 fps (DESIGN section 6) and both are kept.
#
# Writes bench/results/{nats,kcpq}-impaired-lossL-MODE.jsonl and summary-impaired-MODE.md.
set -u
MODE=${1:-quick}
NB=${2:?natsbench binary}
KB=${3:?kcpq-bench binary}
KS=${4:?kcpq-server binary}
case "$MODE" in quick | full) ;; *) echo "usage: $0 [quick|full] NB KB KS" >&2; exit 2 ;; esac
# The servers start in other directories: name the binaries by absolute path.
for bin in NB KB KS; do
  path=$(realpath -e "${!bin}" 2> /dev/null) || { echo "$bin: no such file: ${!bin}" >&2; exit 2; }
  printf -v "$bin" '%s' "$path"
done
[ "$(id -u)" = 0 ] || { echo "impaired runs need root (network namespaces, TUN)" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NATSBENCH_DIR=${NATSBENCH_DIR:-$ROOT/../shared/bench/natsbench}
[ -d "$NATSBENCH_DIR" ] || NATSBENCH_DIR=/work/shared/bench/natsbench
RES=$ROOT/bench/results
mkdir -p "$RES"
FWD_LOG=$RES/impaired-forwarder-$MODE.txt
SUMMARY=$RES/summary-impaired-$MODE.md
: > "$FWD_LOG"

echo "building kcpq-impair (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p kcpq-impair) || exit 1
FWD=${CARGO_TARGET_DIR:-$ROOT/target}/release/kcpq-impair

if [ "$MODE" = quick ]; then
  PINGS=300; SECONDS_FRAMES=5
else
  PINGS=2000; SECONDS_FRAMES=10
fi
SERVER_IP=10.77.2.1
WORK=$(mktemp -d /tmp/kcpq-impaired.XXXXXX)
NATS_PID=""; KCPQ_PID=""; FWD_PID=""

in_a() { ip netns exec kcpq-a "$@"; }
in_b() { ip netns exec kcpq-b "$@"; }

start_forwarder() { # loss
  "$FWD" --delay 10 --loss "$1" --seed 7 --limit 4000 > "$WORK/fwd.out" 2> "$WORK/fwd.err" &
  FWD_PID=$!
  for _ in $(seq 1 50); do
    ip -n kcpq-a link show tun-a | grep -q NO-CARRIER || return 0
    sleep 0.1
  done
  cat "$WORK/fwd.err" >&2; echo "forwarder did not attach" >&2; exit 1
}
# Stops the forwarder and prints its CPU use in percent of one core.
stop_forwarder() { # label
  kill -INT "$FWD_PID"; wait "$FWD_PID"; FWD_PID=""
  { echo "== $1"; cat "$WORK/fwd.out"; } >> "$FWD_LOG"
  awk '/^cpu / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 }
                 if (v["wall"] > 0) printf "%.0f\n", 100 * (v["user"] + v["system"]) / v["wall"]; else print 0 }' \
    "$WORK/fwd.out"
}
stop_pid() {
  [ -n "$1" ] || return 0
  kill "$1" 2> /dev/null
  for _ in $(seq 1 100); do kill -0 "$1" 2> /dev/null || break; sleep 0.1; done
  kill -9 "$1" 2> /dev/null; wait "$1" 2> /dev/null
}
cleanup() {
  [ -n "$FWD_PID" ] && kill -INT "$FWD_PID" 2> /dev/null
  stop_pid "$NATS_PID"; stop_pid "$KCPQ_PID"
  wait 2> /dev/null
  "$ROOT/bench/netns.sh" down
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$ROOT/bench/netns.sh" up
in_b nats-server -a "$SERVER_IP" -p 4222 >> "$WORK/nats.log" 2>&1 &
NATS_PID=$!
(cd "$WORK" && exec ip netns exec kcpq-b "$KS" --listen "$SERVER_IP:4000" >> "$WORK/kcpq.log" 2>&1) &
KCPQ_PID=$!
for _ in $(seq 1 100); do
  grep -q listening "$WORK/kcpq.log" 2> /dev/null && grep -q "Server is ready" "$WORK/nats.log" && break
  sleep 0.1
done
grep -q listening "$WORK/kcpq.log" || { cat "$WORK/kcpq.log" >&2; echo "kcpq-server did not start" >&2; exit 1; }

# One test through a fresh forwarder; prints the forwarder's CPU % of a core.
one() { # loss, out file, label, command...
  local loss=$1 out=$2 label=$3; shift 3
  start_forwarder "$loss"
  local line
  line=$(in_a timeout 300 "$@")
  [ -n "$line" ] || line="{\"test\":\"$2\",\"error\":\"no output (timeout?)\"}"
  echo "$line" >> "$out"
  local cpu
  cpu=$(stop_forwarder "$label loss=$loss% ${*:2}")
  echo "[$label loss=$loss% forwarder ${cpu}% of a core] ${*:2} -> ${line:0:140}" >&2
  echo "$cpu"
}
both() { # loss, test args...
  local loss=$1; shift
  local n k
  n=$(one "$loss" "$NATS_OUT" nats "$NB" "$@" --url "nats://$SERVER_IP:4222" --server-pid "$NATS_PID" \
    --tag "loss=$loss")
  k=$(one "$loss" "$KCPQ_OUT" kcpq "$KB" "$@" --url "kcp://$SERVER_IP:4000" --server-pid "$KCPQ_PID" \
    --key-file "$WORK/kcpq.key" --tag "loss=$loss")
  echo $((n > k ? n : k))
}

{
  echo "# kcpq vs NATS across kcpq-impair ($MODE, $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "20 ms RTT (10 ms each way), loss applied independently to each packet in each direction;"
  echo "NATS over TCP, KCPQ over UDP, through the same forwarder. base = NATS, other = KCPQ."
} > "$SUMMARY"

for loss in 0 1 5; do
  NATS_OUT=$RES/nats-impaired-loss$loss-$MODE.jsonl
  KCPQ_OUT=$RES/kcpq-impaired-loss$loss-$MODE.jsonl
  : > "$NATS_OUT"; : > "$KCPQ_OUT"
  # 200 warm-up pings come first and each waits a whole RTT: allow far more than the
  # default 60 s cap, or the lossy runs end before measuring anything.
  both "$loss" latency --size 128 --count "$PINGS" --rate 1000 --timeout 280 > /dev/null
  cpu=$(both "$loss" frames --size 100000 --fps 240 --seconds "$SECONDS_FRAMES" --subs 2)
  if [ "$cpu" -gt 50 ]; then
    echo "forwarder used ${cpu}% of a core at 240 fps: frames again at 60 fps" >&2
    both "$loss" frames --size 100000 --fps 60 --seconds "$SECONDS_FRAMES" --subs 2 > /dev/null
  fi
  {
    echo
    echo "## loss $loss %"
    echo
    python3 "$NATSBENCH_DIR/summarize.py" "$NATS_OUT" "$KCPQ_OUT"
  } >> "$SUMMARY"
done
{
  echo
  echo "Forwarder counters and CPU per test: $(basename "$FWD_LOG")."
} >> "$SUMMARY"
echo "wrote $SUMMARY" >&2
