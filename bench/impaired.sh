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
# KCPQ runs once per FEC setting in FEC_MODES (default "off auto 10/3"), each against its own
# kcpq-server started with that --fec (and the bench with the same --fec); every KCPQ line gains
# the server's wire and payload byte counts for the test (from /varz), so wire bytes per
# payload byte can be compared. FEC_MODES=off is the run before FEC.
#
# Writes bench/results/{nats,kcpq}-impaired-lossL-MODE.jsonl (kcpq: FEC off),
# kcpq-fec-NAME-impaired-lossL-MODE.jsonl for the other FEC settings (NAME: auto, 10-3) and
# summary-impaired-MODE.md.
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
# LOSSES="0 1 5 10" sets the loss rates in percent (default 0 1 5).
# KCPQ_WORKERS=N: kcpq-server's --workers (default: none given, so the server's own default,
# the cores).
# BURST=N (default 1): losses come in runs of N packets on average (kcpq-impair --burst), the
# same share of packets lost; the result files are named MODE-burstN.
BURST=${BURST:-1}
TAG=$MODE
[ "$BURST" = 1 ] || TAG=$MODE-burst$BURST
FWD_LOG=$RES/impaired-forwarder-$TAG.txt
SUMMARY=$RES/summary-impaired-$TAG.md
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
NATS_PID=""; FWD_PID=""
read -r -a FECS <<< "${FEC_MODES:-off auto 10/3}"
declare -A KCPQ_PIDS=()

in_a() { ip netns exec kcpq-a "$@"; }
in_b() { ip netns exec kcpq-b "$@"; }

start_forwarder() { # loss
  "$FWD" --delay 10 --loss "$1" --burst "$BURST" --seed 7 --limit 4000 > "$WORK/fwd.out" 2> "$WORK/fwd.err" &
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
  stop_pid "$NATS_PID"
  for pid in "${KCPQ_PIDS[@]}"; do stop_pid "$pid"; done
  wait 2> /dev/null
  "$ROOT/bench/netns.sh" down
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$ROOT/bench/netns.sh" up
in_b nats-server -a "$SERVER_IP" -p 4222 >> "$WORK/nats.log" 2>&1 &
NATS_PID=$!
# One kcpq-server per FEC setting: UDP port 4000 + i, monitor 8222 + i; the first creates the key.
fec_port() { # index
  echo $((4000 + $1))
}
for i in "${!FECS[@]}"; do
  log=$WORK/kcpq-$i.log
  (cd "$WORK" && exec ip netns exec kcpq-b "$KS" --listen "$SERVER_IP:$(fec_port "$i")" \
    --monitor "$SERVER_IP:$((8222 + i))" --fec "${FECS[$i]}" ${KCPQ_WORKERS:+--workers "$KCPQ_WORKERS"} \
    >> "$log" 2>&1) &
  KCPQ_PIDS[$i]=$!
  for _ in $(seq 1 100); do grep -q listening "$log" 2> /dev/null && break; sleep 0.1; done
  grep -q listening "$log" || { cat "$log" >&2; echo "kcpq-server --fec ${FECS[$i]} did not start" >&2; exit 1; }
done
for _ in $(seq 1 100); do grep -q "Server is ready" "$WORK/nats.log" && break; sleep 0.1; done
# The server's wire and payload bytes so far: "wire payload".
varz_bytes() { # index
  in_b curl -s "http://$SERVER_IP:$((8222 + $1))/varz" |
    jq -r '"\(.in_wire_bytes + .out_wire_bytes) \(.in_bytes + .out_bytes)"'
}

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
# The file of KCPQ's lines for FEC setting index $1 at loss $2.
kcpq_out() { # index, loss
  local name=${FECS[$1]//\//-}
  if [ "${FECS[$1]}" = off ]; then
    echo "$RES/kcpq-impaired-loss$2-$TAG.jsonl"
  else
    echo "$RES/kcpq-fec-$name-impaired-loss$2-$TAG.jsonl"
  fi
}
both() { # loss, test args...
  local loss=$1; shift
  local most i k before after out
  most=$(one "$loss" "$NATS_OUT" nats "$NB" "$@" --url "nats://$SERVER_IP:4222" --server-pid "$NATS_PID" \
    --tag "loss=$loss")
  for i in "${!FECS[@]}"; do
    out=$(kcpq_out "$i" "$loss")
    before=$(varz_bytes "$i")
    k=$(one "$loss" "$out" "kcpq-fec-${FECS[$i]}" "$KB" "$@" --url "kcp://$SERVER_IP:$(fec_port "$i")" \
      --server-pid "${KCPQ_PIDS[$i]}" --key-file "$WORK/kcpq.key" --fec "${FECS[$i]}" \
      --tag "loss=$loss fec=${FECS[$i]}")
    after=$(varz_bytes "$i")
    # Add the server's wire and payload bytes of this test to its line.
    read -r w0 p0 <<< "$before"; read -r w1 p1 <<< "$after"
    tail -n 1 "$out" | jq -c --argjson w $((w1 - w0)) --argjson p $((p1 - p0)) \
      '. + {server_wire_bytes: $w, server_payload_bytes: $p}' > "$WORK/last" &&
      { head -n -1 "$out"; cat "$WORK/last"; } > "$WORK/all" && cp "$WORK/all" "$out"
    most=$((most > k ? most : k))
  done
  echo "$most"
}

{
  echo "# kcpq vs NATS across kcpq-impair ($TAG, $(date -u +%Y-%m-%dT%H:%MZ), mean loss burst $BURST)"
  echo
  echo "20 ms RTT (10 ms each way), loss applied independently to each packet in each direction;"
  echo "NATS over TCP, KCPQ over UDP, through the same forwarder. base = NATS, other = KCPQ."
} > "$SUMMARY"

for loss in ${LOSSES:-0 1 5}; do
  NATS_OUT=$RES/nats-impaired-loss$loss-$TAG.jsonl
  : > "$NATS_OUT"
  for i in "${!FECS[@]}"; do : > "$(kcpq_out "$i" "$loss")"; done
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
    for i in "${!FECS[@]}"; do
      echo
      echo "### KCPQ with FEC ${FECS[$i]}"
      echo
      python3 "$NATSBENCH_DIR/summarize.py" "$NATS_OUT" "$(kcpq_out "$i" "$loss")"
    done
  } >> "$SUMMARY"
done
{
  echo
  echo "Forwarder counters and CPU per test: $(basename "$FWD_LOG")."
} >> "$SUMMARY"
echo "wrote $SUMMARY" >&2
