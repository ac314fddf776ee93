#!/usr/bin/env bash
# Scaling by worker count (issue 27): the server pinned to one half of the cores, the load
# generators pinned to the other half, aggregate delivered msg/s and server CPU per delivered
# message for kcpq-server --workers W and nats-server with GOMAXPROCS=W, W = 1, 2, 4, 8 (those
# up to half the cores).
#
#   bench/scaling.sh              # about 5 minutes with 4 worker counts (16+ cores), under 2 on 2
#   QUICK=1 bench/scaling.sh      # 1 worker, 1 round of 3 s per broker: well under a minute
#
# Knobs (environment): WORKERS_LIST ("1 2 4 8", cut at half the cores), ROUNDS (2, interleaved),
# SECONDS_PER (12: how long each configuration publishes), GENS (load generator processes: half
# the cores, at least 2), SUBS (2 subscribers per generator), SIZE (128 bytes), RES (results
# folder, bench/results); SKIP_BUILD=1 with KB, KS and NB (kcpq-bench, kcpq-server and natsbench
# binaries) on a machine without cargo; nats-server is taken from PATH.
#
# Each load generator is one `kcpq-bench throughput` (or natsbench's) process: one publisher
# connection and SUBS subscriber connections on a subject of its own, publishing as fast as it can
# for SECONDS_PER seconds (`--timeout`; the count is only a cap), so every generator of a
# configuration runs over the same window. kcpq-bench runs on its default one thread, natsbench
# on its default two tokio workers. Delivered msg/s is the sum over generators of what their
# subscribers received divided by the time until each one's last message. The server's CPU is
# read from /proc/PID/stat (utime + stime) before the generators start and after the last one
# exits, so it also holds their connection setup and whatever the server still had queued at the
# end of the window; per delivered message it is that CPU over every message delivered.
# "gen CPU" is the generators' own CPU over the time and cores they had: near 100 % means the
# generators, not the server, bound the row.
#
# Writes $RES/scaling[-quick].jsonl (one line per configuration and round) and
# $RES/summary-scaling[-quick].md (medians over the rounds), and prints the table.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NATSBENCH_DIR=${NATSBENCH_DIR:-$ROOT/../shared/bench/natsbench}
[ -d "$NATSBENCH_DIR" ] || NATSBENCH_DIR=/work/shared/bench/natsbench
# The knobs given, for the summary's command line.
GIVEN=""
for v in QUICK WORKERS_LIST ROUNDS SECONDS_PER GENS SUBS SIZE; do
  value=${!v:-}
  [ -n "$value" ] || continue
  [[ $value == *" "* ]] && value="\"$value\""
  GIVEN+="$v=$value "
done
QUICK=${QUICK:-}
SUFFIX=""
[ -n "$QUICK" ] && SUFFIX="-quick"
ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 1 || echo 2)}
SECONDS_PER=${SECONDS_PER:-$([ -n "$QUICK" ] && echo 3 || echo 12)}
SUBS=${SUBS:-2}
SIZE=${SIZE:-128}
COUNT=${COUNT:-100000000}
NATS_PORT=${NATS_PORT:-15222}
KCPQ_PORT=${KCPQ_PORT:-15000}
RES=${RES:-$ROOT/bench/results}
mkdir -p "$RES"
OUT=$RES/scaling$SUFFIX.jsonl
SUMMARY=$RES/summary-scaling$SUFFIX.md

command -v nats-server > /dev/null || {
  echo "nats-server not found: apt-get install nats-server" >&2; exit 1; }
command -v taskset > /dev/null || { echo "taskset not found (util-linux)" >&2; exit 1; }
command -v python3 > /dev/null || { echo "python3 not found" >&2; exit 1; }

# The cores this script may use, split in two halves: the server's and the generators'.
read -ra CPUS <<< "$(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))')"
NCPU=${#CPUS[@]}
HALF=$((NCPU / 2))
[ "$HALF" -ge 1 ] || HALF=1
join() { local IFS=,; echo "$*"; }
SERVER_CPUS=$(join "${CPUS[@]:0:$HALF}")
GEN_CPUS=$(join "${CPUS[@]:$HALF}")
NGEN_CPUS=$((NCPU - HALF))
if [ "$NGEN_CPUS" -lt 1 ]; then
  echo "one core only: the generators share it with the server" >&2
  GEN_CPUS=$SERVER_CPUS; NGEN_CPUS=1
fi
GENS=${GENS:-$((HALF > 2 ? HALF : 2))}
if [ -n "${WORKERS_LIST:-}" ]; then
  LIST=$WORKERS_LIST
elif [ -n "$QUICK" ]; then
  LIST=1
else
  LIST=""
  for w in 1 2 4 8; do [ "$w" -le "$HALF" ] && LIST="$LIST $w"; done
fi
echo "cores: server $SERVER_CPUS, generators $GEN_CPUS; workers:$LIST; $GENS generators of" \
  "1 publisher + $SUBS subscribers, $SIZE B, ${SECONDS_PER}s x $ROUNDS round(s)" >&2

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
KB=${KB:-$TARGET/release/kcpq-bench}
KS=${KS:-$TARGET/release/kcpq-server}
NB=${NB:-/tmp/natsbench-target/release/natsbench}
if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building kcpq-bench and kcpq-server (release)..." >&2
  (cd "$ROOT" && cargo build --release -q -p kcpq-smol --bin kcpq-bench --bin kcpq-server) || exit 1
  echo "building natsbench (release, CARGO_TARGET_DIR=/tmp/natsbench-target)..." >&2
  (cd "$NATSBENCH_DIR" && CARGO_TARGET_DIR=/tmp/natsbench-target cargo build --release -q) || exit 1
fi
for bin in "$KB" "$KS" "$NB"; do [ -x "$bin" ] || { echo "$bin: not found" >&2; exit 1; }; done

ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d /tmp/kcpq-scaling.XXXXXX)
SERVER_PID=""
GEN_PIDS=()
stop_pid() { # $1 = pid
  [ -n "$1" ] || return 0
  kill "$1" 2> /dev/null
  for _ in $(seq 1 100); do kill -0 "$1" 2> /dev/null || break; sleep 0.1; done
  kill -0 "$1" 2> /dev/null && kill -9 "$1" 2> /dev/null
  wait "$1" 2> /dev/null
}
cleanup() {
  for pid in "${GEN_PIDS[@]}"; do stop_pid "$pid"; done
  stop_pid "$SERVER_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # $1 = pid: utime + stime in ticks (fields 14 and 15 of /proc/PID/stat)
  local stat rest
  stat=$(cat "/proc/$1/stat" 2> /dev/null) || { echo 0; return; }
  rest=${stat##*) }
  set -- $rest
  echo $(( ${12} + ${13} ))
}

start_server() { # $1 = nats|kcpq, $2 = workers; sets SERVER_PID and URL
  local log=$WORK/$1-$2.log
  if [ "$1" = nats ]; then
    GOMAXPROCS=$2 taskset -c "$SERVER_CPUS" nats-server -a 127.0.0.1 -p "$NATS_PORT" > "$log" 2>&1 &
    SERVER_PID=$!
    URL=nats://127.0.0.1:$NATS_PORT
    for _ in $(seq 1 100); do
      grep -q "Server is ready" "$log" 2> /dev/null && return 0
      sleep 0.1
    done
  else
    (cd "$WORK" && exec taskset -c "$SERVER_CPUS" "$KS" --listen "127.0.0.1:$KCPQ_PORT" \
      --workers "$2" --drain-timeout-ms 0 > "$log" 2>&1) &
    SERVER_PID=$!
    URL=kcp://127.0.0.1:$KCPQ_PORT
    for _ in $(seq 1 100); do
      grep -q "listening" "$log" 2> /dev/null && return 0
      sleep 0.1
    done
  fi
  echo "$1 server did not start (log: $(tail -3 "$log"))" >&2; exit 1
}

# One configuration: the server, GENS generators over SECONDS_PER seconds, one line in $OUT.
measure() { # $1 = nats|kcpq, $2 = workers, $3 = round
  local broker=$1 w=$2 r=$3 bench c0 c1 t0 t1 i
  start_server "$broker" "$w"
  sleep 0.5
  if [ "$broker" = nats ]; then bench=("$NB"); else bench=("$KB" --key-file "$WORK/kcpq.key"); fi
  c0=$(cpu_ticks "$SERVER_PID")
  t0=$(date +%s.%N)
  GEN_PIDS=()
  for i in $(seq 1 "$GENS"); do
    timeout $((SECONDS_PER + 60)) taskset -c "$GEN_CPUS" "${bench[@]}" throughput --url "$URL" \
      --size "$SIZE" --count "$COUNT" --subs "$SUBS" --timeout "$SECONDS_PER" \
      --tag "scaling:$broker:w$w:r$r:g$i" > "$WORK/gen-$i.json" 2> "$WORK/gen-$i.err" &
    GEN_PIDS+=($!)
  done
  for pid in "${GEN_PIDS[@]}"; do wait "$pid"; done
  GEN_PIDS=()
  c1=$(cpu_ticks "$SERVER_PID")
  t1=$(date +%s.%N)
  stop_pid "$SERVER_PID"; SERVER_PID=""
  python3 - "$OUT" "$broker" "$w" "$r" "$GENS" "$SUBS" "$SIZE" "$SECONDS_PER" "$c0" "$c1" \
    "$CLK_TCK" "$t0" "$t1" "$SERVER_CPUS" "$GEN_CPUS" "$NGEN_CPUS" "$WORK" << 'PY'
import glob, json, os, sys
(out, broker, w, r, gens, subs, size, seconds, c0, c1, tck, t0, t1, scpus, gcpus, ngcpu,
 work) = sys.argv[1:]
delivered = published = 0
rate = pub_rate = client_cpu = 0.0
errors = []
for path in sorted(glob.glob(os.path.join(work, "gen-*.json"))):
    text = open(path).read().strip()
    try:
        line = json.loads(text.splitlines()[-1])
    except (IndexError, ValueError):
        err = open(path[:-5] + ".err").read().strip()
        errors.append(f"{os.path.basename(path)}: no result {err[-200:]!r}")
        continue
    if "error" in line:
        errors.append(f"{os.path.basename(path)}: {line['error']}")
        continue
    per_sub = line.get("per_sub") or []
    got = sum(s.get("received", 0) for s in per_sub)
    elapsed = max((s.get("elapsed_s") or 0 for s in per_sub), default=0)
    delivered += got
    rate += got / elapsed if elapsed > 0 else 0
    published += line.get("sent", 0)
    pub_rate += line.get("pub_msgs_per_s", 0)
    client_cpu += (line.get("usage") or {}).get("client_cpu_s") or 0
    os.remove(path)
server_cpu = (int(c1) - int(c0)) / int(tck)
wall = float(t1) - float(t0)
row = {"test": "scaling", "broker": broker, "workers": int(w), "round": int(r),
       "gens": int(gens), "subs": int(subs), "size": int(size), "seconds": float(seconds),
       "server_cpus": scpus, "gen_cpus": gcpus, "delivered": delivered,
       "delivered_msgs_per_s": round(rate), "published": published,
       "pub_msgs_per_s": round(pub_rate), "server_cpu_s": round(server_cpu, 2),
       "server_cpu_pct": round(100 * server_cpu / wall, 1), "wall_s": round(wall, 2),
       "server_cpu_ns_per_delivered_msg": round(server_cpu * 1e9 / delivered) if delivered else None,
       "gen_cpu_pct_of_cores": round(100 * client_cpu / (float(seconds) * int(ngcpu)), 1),
       "load": open("/proc/loadavg").read().split()[:3], "errors": errors}
open(out, "a").write(json.dumps(row) + "\n")
print(f"[{broker} w{w} r{r}] {row['delivered_msgs_per_s']} msg/s delivered, server "
      f"{row['server_cpu_pct']} % CPU, {row['server_cpu_ns_per_delivered_msg']} ns/msg, "
      f"gen CPU {row['gen_cpu_pct_of_cores']} % of their cores"
      + (f", errors: {errors}" if errors else ""), file=sys.stderr)
PY
}

: > "$OUT"
for r in $(seq 1 "$ROUNDS"); do
  for w in $LIST; do
    measure kcpq "$w" "$r"
    measure nats "$w" "$r"
  done
done

{
  echo "# Scaling by workers ($(date -u +%Y-%m-%dT%H:%MZ), $NCPU cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "Server on cores $SERVER_CPUS (kcpq-server --workers W; nats-server GOMAXPROCS=W), $GENS" \
    "generators on cores $GEN_CPUS, each 1 publisher + $SUBS subscribers of $SIZE B messages for" \
    "${SECONDS_PER} s; medians of $ROUNDS round(s) [min-max]. Command: \`${GIVEN}bench/scaling.sh\`."
  echo
  python3 - "$OUT" << 'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cfg = {}
for row in rows:
    cfg.setdefault((row["broker"], row["workers"]), []).append(row)
def med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else None
def fmt(x, rs=None, k=None):
    if x is None:
        return "–"
    s = f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k" if x >= 1e4 else f"{x:.0f}"
    if rs is not None and len(rs) > 1:
        v = [r[k] for r in rs if r.get(k) is not None]
        s += f" [{fmt(min(v))}–{fmt(max(v))}]"
    return s
print("| workers | KCPQ delivered msg/s | NATS delivered msg/s | KCPQ / NATS "
      "| KCPQ vs 1 worker | NATS vs 1 worker | server CPU ns / delivered msg, KCPQ | NATS "
      "| server CPU %, KCPQ | NATS | gen CPU %, KCPQ | NATS |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
base = {b: med(cfg.get((b, 1), []), "delivered_msgs_per_s") for b in ("kcpq", "nats")}
for w in sorted({w for (_, w) in cfg}):
    k, n = cfg.get(("kcpq", w), []), cfg.get(("nats", w), [])
    kd, nd = med(k, "delivered_msgs_per_s"), med(n, "delivered_msgs_per_s")
    ratio = lambda a, b: f"{a / b:.2f}" if a and b else "–"
    print(f"| {w} | {fmt(kd, k, 'delivered_msgs_per_s')} | {fmt(nd, n, 'delivered_msgs_per_s')} "
          f"| {ratio(kd, nd)} | {ratio(kd, base['kcpq'])} | {ratio(nd, base['nats'])} "
          f"| {fmt(med(k, 'server_cpu_ns_per_delivered_msg'))} | {fmt(med(n, 'server_cpu_ns_per_delivered_msg'))} "
          f"| {fmt(med(k, 'server_cpu_pct'))} | {fmt(med(n, 'server_cpu_pct'))} "
          f"| {fmt(med(k, 'gen_cpu_pct_of_cores'))} | {fmt(med(n, 'gen_cpu_pct_of_cores'))} |")
errors = [f"{r['broker']} w{r['workers']} r{r['round']}: {e}" for r in rows for e in r["errors"]]
if errors:
    print()
    print("Errors:", *errors, sep="\n- ")
PY
} > "$SUMMARY"
cat "$SUMMARY"
echo "wrote $OUT and $SUMMARY" >&2
