#!/usr/bin/env bash
# Soak: kcpq-server under connection churn, a steady stream, a subscriber that never reads and
# garbage datagrams, for DURATION seconds (default 480). Every 20 s it prints the server's RSS,
# its sessions and the /varz counters; at the end it fails (exit 1) when RSS or sessions kept
# growing after the warm-up, or when the healthy subscriber missed a message.
#
#   bench/soak.sh [DURATION_SECONDS]
#
# What runs against one release kcpq-server (127.0.0.1:$SOAK_PORT, monitor on $SOAK_MONITOR):
# - dropped clients: `kcpq-bench conns --n 300 --settle 2` in a loop; its clients are dropped,
#   not closed, so each sends CLOSE as it goes;
# - killed clients: `kcpq-bench conns --n 40` killed with SIGKILL 4 s after it starts, in a
#   loop: no CLOSE, so the server must find them dead by silence (37.5 s with the defaults);
# - a steady stream: `kcpq-bench frames` at 200 fps x 1 KB for the whole run, to one healthy
#   subscriber that checks sequence numbers (all_delivered);
# - a subscriber that never reads: `kcpq sub` whose standard output nobody reads;
# - garbage: 100 random datagrams a second to the server's port.
# Only 127.0.0.1 is used. Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-480}
PORT=${SOAK_PORT:-4471}
MONITOR=${SOAK_MONITOR:-127.0.0.1:8471}
INTERVAL=20
WARMUP=$(( DURATION / 5 > 60 ? DURATION / 5 : 60 ))
if (( DURATION < WARMUP + 3 * INTERVAL )); then
    echo "soak.sh: DURATION must be at least $(( WARMUP + 3 * INTERVAL )) s (warm-up plus three samples)" >&2
    exit 2
fi

BIN=target/release
if [[ ! -x $BIN/kcpq-server || ! -x $BIN/kcpq-bench || ! -x $BIN/kcpq ]]; then
    cargo build --release -p kcpq-smol --bins
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    pkill -P $$ 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$WORK" && exec "$OLDPWD/$BIN/kcpq-server" --listen "127.0.0.1:$PORT" --monitor "$MONITOR" \
    >"$WORK/server.log" 2>&1) &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 100); do
    curl -sf "http://$MONITOR/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://$MONITOR/healthz" >/dev/null || { echo "kcpq-server did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
KEY="$WORK/kcpq.key"
BENCH=("$BIN/kcpq-bench" --url "kcp://127.0.0.1:$PORT" --key-file "$KEY")
END=$(( SECONDS + DURATION ))

# The steady stream and its healthy subscriber, for the whole run.
"${BENCH[@]}" --timeout $(( DURATION + 60 )) frames --size 1000 --fps 200 \
    --seconds $(( DURATION - 10 )) --subs 1 >"$WORK/stream.json" 2>"$WORK/stream.err" &
STREAM=$!
PIDS+=("$STREAM")

# A subscriber that never reads: nobody reads its standard output, so it blocks writing.
mkfifo "$WORK/never-read"
exec 3<>"$WORK/never-read"
"$BIN/kcpq" --server "127.0.0.1:$PORT" --key-file "$KEY" sub 'kcpqbench.>' >"$WORK/never-read" 2>/dev/null &
PIDS+=("$!")

# Dropped clients.
( while (( SECONDS < END - 10 )); do
      "${BENCH[@]}" conns --n 300 --settle 2 --verify 0 >>"$WORK/dropped.jsonl" 2>&1 || true
  done ) &
PIDS+=("$!")

# Killed clients.
( while (( SECONDS < END - 10 )); do
      "${BENCH[@]}" conns --n 40 --settle 60 --verify 0 >/dev/null 2>&1 &
      victim=$!
      sleep 4
      kill -KILL "$victim" 2>/dev/null || true
      wait "$victim" 2>/dev/null || true
  done ) &
PIDS+=("$!")

# Garbage datagrams.
( while (( SECONDS < END - 10 )); do
      for _ in $(seq 10); do
          head -c $(( RANDOM % 1400 + 1 )) /dev/urandom >/dev/udp/127.0.0.1/"$PORT" 2>/dev/null || true
      done
      sleep 0.1
  done ) &
PIDS+=("$!")

CSV="$WORK/samples.csv"
echo "t_s,rss_kb,sessions,total_sessions,closed,silent,replaced,evicted,in_msgs,out_msgs,malformed,bad_tag,unknown_session" >"$CSV"
printf '%6s %9s %8s %9s %9s %8s %10s %10s %10s\n' t_s rss_kb sessions opened closed silent in_msgs out_msgs garbage
START=$SECONDS
while (( SECONDS < END )); do
    sleep "$INTERVAL"
    t=$(( SECONDS - START ))
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
    varz=$(curl -sf "http://$MONITOR/varz") || { echo "the monitor did not answer at ${t}s" >&2; exit 1; }
    row=$(python3 -c '
import json, sys
v = json.loads(sys.argv[1])
keys = ["connections", "total_connections", "closed_connections", "silent_connections",
        "replaced_connections", "evicted_connections", "in_msgs", "out_msgs",
        "drops_malformed_datagram", "drops_bad_tag", "drops_unknown_session"]
print(",".join(str(v.get(k, 0)) for k in keys))' "$varz")
    echo "$t,$rss,$row" >>"$CSV"
    IFS=, read -r sessions opened closed silent _ _ in_msgs out_msgs malformed bad_tag unknown <<<"$row"
    printf '%6s %9s %8s %9s %9s %8s %10s %10s %10s\n' "$t" "$rss" "$sessions" "$opened" "$closed" \
        "$silent" "$in_msgs" "$out_msgs" $(( malformed + bad_tag + unknown ))
done

wait "$STREAM" || true
echo "steady stream: $(cat "$WORK/stream.json")"
cp "$CSV" "${SOAK_CSV:-/dev/null}" 2>/dev/null || true
python3 - "$CSV" "$WARMUP" "$WORK/stream.json" <<'PY'
import csv, json, sys

rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
warmup = float(sys.argv[2])
after = [r for r in rows if r["t_s"] >= warmup]
quarter = max(1, len(after) // 4)
first, last = after[:quarter], after[-quarter:]
mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)
failures = []
rss0, rss1 = mean(first, "rss_kb"), mean(last, "rss_kb")
if rss1 > rss0 * 1.2 + 5000:
    failures.append(f"RSS grew after the warm-up: {rss0:.0f} KB -> {rss1:.0f} KB")
s0, s1 = mean(first, "sessions"), mean(last, "sessions")
if s1 > s0 * 1.5 + 100:
    failures.append(f"sessions grew after the warm-up: {s0:.0f} -> {s1:.0f}")
peak = max(r["sessions"] for r in rows)
try:
    stream = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
except (OSError, ValueError, IndexError):
    stream = {}
if not stream.get("all_delivered"):
    failures.append(f"the healthy subscriber missed messages: {stream or 'no result'}")
print(f"after the warm-up ({warmup:.0f} s): RSS {rss0:.0f} -> {rss1:.0f} KB, "
      f"sessions {s0:.0f} -> {s1:.0f} (peak {peak:.0f}), "
      f"stream sent {stream.get('sent')} all_delivered {stream.get('all_delivered')}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
PY
