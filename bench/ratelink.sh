#!/usr/bin/env bash
# Frames across a link of limited bandwidth (needs root): the case cut-through delivery is for.
#
#   ns kcpq-rla (publisher and subscribers)          ns kcpq-rlb (the broker)
#   vra 10.78.0.1/24  <==== veth, tbf RATE each way ====>  vrb 10.78.0.2/24
#
# On loopback a 100 KB frame crosses in microseconds and the CPU decides its latency; on a real
# link it takes size / bandwidth per hop (4 ms at 200 Mbit/s), and a broker that stores a frame
# whole before forwarding it adds a second such delay. `tbf` (token bucket) limits each direction.
#
# Usage:
#   bench/ratelink.sh up [RATE]          # default 200mbit; idempotent (re-creates the pair)
#   bench/ratelink.sh down
#   bench/ratelink.sh frames [RUNS] [SIZE] [FPS] [SECONDS] [SUBS]
#       KCPQ and NATS interleaved, RUNS times each; one line per run:
#       broker  p50_us  p99_us  dropped  fps_min   (latency of the slowest subscriber)
# Builds nothing: set KB/KS to kcpq-bench/kcpq-server (default target/release) and NB to natsbench
# (default /tmp/natsbench-target/release/natsbench, as bench/compare.sh builds it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS_A=kcpq-rla
NS_B=kcpq-rlb
KB=${KB:-$ROOT/target/release/kcpq-bench}
KS=${KS:-$ROOT/target/release/kcpq-server}
NB=${NB:-/tmp/natsbench-target/release/natsbench}

down() {
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
}

up() {
    local rate=${1:-200mbit}
    down
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip link add vra type veth peer name vrb
    ip link set vra netns "$NS_A"
    ip link set vrb netns "$NS_B"
    ip -n "$NS_A" addr add 10.78.0.1/24 dev vra
    ip -n "$NS_B" addr add 10.78.0.2/24 dev vrb
    for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_A" link set vra up
    ip -n "$NS_B" link set vrb up
    # A burst of 64 KB and a queue of 100 ms: a whole frame is queued, none is dropped.
    ip netns exec "$NS_A" tc qdisc add dev vra root tbf rate "$rate" burst 64k latency 100ms
    ip netns exec "$NS_B" tc qdisc add dev vrb root tbf rate "$rate" burst 64k latency 100ms
    echo "link up: $rate each way between $NS_A (10.78.0.1) and $NS_B (10.78.0.2)"
}

summary() { # one JSON line on stdin
    python3 -c 'import json,sys
d = json.loads(sys.stdin.readlines()[-1])
print(d["lat_p50_us_max"], d["lat_p99_us_max"], d["dropped_total"], d["fps_min"])'
}

frames() {
    local runs=${1:-3} size=${2:-100000} fps=${3:-30} secs=${4:-4} subs=${5:-1}
    WORK=$(mktemp -d /tmp/kcpq-ratelink.XXXXXX)
    PID=""
    trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
    local work=$WORK
    for _ in $(seq "$runs"); do
        (cd "$work" && exec ip netns exec "$NS_B" "$KS" --listen 10.78.0.2:4611 > kcpq.log 2>&1) &
        PID=$!
        for _ in $(seq 50); do grep -q listening "$work/kcpq.log" 2>/dev/null && break; sleep 0.1; done
        echo "kcpq $( (cd "$work" && ip netns exec "$NS_A" "$KB" --url kcp://10.78.0.2:4611 frames \
            --size "$size" --fps "$fps" --seconds "$secs" --subs "$subs" 2>/dev/null) | summary)"
        kill "$PID"; wait "$PID" 2>/dev/null || true
        ip netns exec "$NS_B" nats-server -a 10.78.0.2 -p 4622 > "$work/nats.log" 2>&1 &
        PID=$!
        sleep 0.5
        echo "nats $(ip netns exec "$NS_A" "$NB" frames --url nats://10.78.0.2:4622 --size "$size" \
            --fps "$fps" --seconds "$secs" --subs "$subs" 2>/dev/null | summary)"
        kill "$PID"; wait "$PID" 2>/dev/null || true
    done
}

case "${1:-}" in
up) up "${2:-}" ;;
down) down ;;
frames) shift; frames "$@" ;;
*) echo "usage: $0 up [RATE] | down | frames [RUNS] [SIZE] [FPS] [SECONDS] [SUBS]" >&2; exit 2 ;;
esac
