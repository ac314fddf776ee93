#!/usr/bin/env bash
# End-to-end check of kcpq-impair (needs root; not part of `cargo test`).
#
# Brings the two-namespace topology up, starts the forwarder with 10 ms each way, checks that
# ping, a TCP transfer and a UDP exchange cross it, then restarts it with loss and reordering and
# checks that TCP still delivers intact data while the counters show the impairment; tears
# everything down at the end, also on failure.
#
# Usage: bench/impair_smoke.sh        (KCPQ_IMPAIR=path/to/kcpq-impair to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${KCPQ_IMPAIR:-target/debug/kcpq-impair}
LOG=$(mktemp -d /tmp/kcpq-impair-smoke.XXXXXX)
FWD_PID=
SERVER_PIDS=()

cleanup() {
    [ -n "$FWD_PID" ] && kill "$FWD_PID" 2>/dev/null || true
    for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    bench/netns.sh down
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
in_a() { ip netns exec kcpq-a "$@"; }
in_b() { ip netns exec kcpq-b "$@"; }

start_forwarder() { # flags...
    "$BIN" "$@" >"$LOG/fwd.out" 2>"$LOG/fwd.err" &
    FWD_PID=$!
    for _ in $(seq 50); do
        if ! ip -n kcpq-a link show tun-a | grep -q NO-CARRIER &&
            ! ip -n kcpq-b link show tun-b | grep -q NO-CARRIER; then
            return 0
        fi
        sleep 0.1
    done
    cat "$LOG/fwd.err" >&2
    fail "forwarder did not attach"
}

stop_forwarder() {
    kill -INT "$FWD_PID"
    wait "$FWD_PID" || fail "forwarder exited with an error"
    FWD_PID=
    echo "-- forwarder counters:"
    cat "$LOG/fwd.out"
    echo "-- kernel drops at the TUN queues (forwarder too slow to read):"
    tun_drops kcpq-a tun-a
    tun_drops kcpq-b tun-b
}

tun_drops() { # ns dev
    ip -n "$1" -s link show dev "$2" | awk -v dev="$2" '/TX:/ { getline; print dev, "tx_dropped=" $4 }'
}

counter() { # direction name
    grep "^$1 " "$LOG/fwd.out" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# TCP sink in ns b: reads until EOF and answers with the SHA-256 of what it got.
TCP_SERVER='
import hashlib, socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.2.1", 5001)); s.listen(4)
while True:
    c, _ = s.accept(); h = hashlib.sha256()
    while (b := c.recv(65536)): h.update(b)
    c.sendall(h.hexdigest().encode()); c.close()
'
# TCP source in ns a: sends N random bytes, half-closes, checks the digest.
TCP_CLIENT='
import hashlib, os, socket, sys, time
data = os.urandom(int(sys.argv[1])); t = time.monotonic()
c = socket.create_connection(("10.77.2.1", 5001), timeout=60)
c.sendall(data); c.shutdown(socket.SHUT_WR)
digest = c.recv(64).decode(); dt = time.monotonic() - t
ok = digest == hashlib.sha256(data).hexdigest(); verdict = "ok" if ok else "MISMATCH"
print(f"tcp {len(data)} bytes in {dt:.2f}s ({len(data) * 8 / dt / 1e6:.1f} Mbit/s) digest {verdict}")
sys.exit(0 if ok else 1)
'
# UDP echo in ns b.
UDP_SERVER='
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.2.1", 5002))
while True:
    b, a = s.recvfrom(65536); s.sendto(b, a)
'
# UDP client in ns a: N numbered datagrams, one at a time, each waiting up to a second for its
# own echo (late echoes of earlier ones are skipped); prints how many came back.
UDP_CLIENT='
import socket, sys, time
n = int(sys.argv[1]); got = 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    payload = i.to_bytes(4, "big") * 100; s.sendto(payload, ("10.77.2.1", 5002))
    deadline = time.monotonic() + 1.0
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            if s.recv(65536) == payload:
                got += 1; break
        except socket.timeout:
            break
print(f"udp {got}/{n} echoed")
'

[ -n "${KCPQ_IMPAIR:-}" ] || cargo build -q -p kcpq-impair
bench/netns.sh up
# Not through in_b: `ip netns exec` execs python, so $! is the server itself and cleanup kills it.
ip netns exec kcpq-b python3 -c "$TCP_SERVER" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
ip netns exec kcpq-b python3 -c "$UDP_SERVER" >/dev/null 2>&1 &
SERVER_PIDS+=($!)

echo "== 10 ms each way, no loss"
start_forwarder --delay 10
in_a ping -c 10 -i 0.2 -q 10.77.2.1 | tee "$LOG/ping"
grep -q " 0% packet loss" "$LOG/ping" || fail "ping lost packets"
min_rtt=$(sed -n 's|^rtt min/avg/max/mdev = \([0-9.]*\)/.*|\1|p' "$LOG/ping")
awk -v m="$min_rtt" 'BEGIN { exit !(m >= 20.0) }' || fail "min RTT $min_rtt ms < 20 ms"
in_a python3 -c "$TCP_CLIENT" 4000000 || fail "TCP transfer"
in_a python3 -c "$UDP_CLIENT" 200 | tee "$LOG/udp"
grep -q "udp [1-9]" "$LOG/udp" || fail "no UDP echo came back"
stop_forwarder
for dir in a-\>b b-\>a; do
    [ "$(counter "$dir" received)" = "$(counter "$dir" forwarded)" ] ||
        fail "$dir dropped packets without loss configured"
done

echo "== 10 ms each way, 5 % loss, 5 % reordering"
start_forwarder --delay 10 --loss 5 --reorder 5 --reorder-gap 5 --seed 7
in_a python3 -c "$TCP_CLIENT" 2000000 || fail "TCP transfer under loss"
in_a python3 -c "$UDP_CLIENT" 200
stop_forwarder
[ "$(counter a-\>b lost)" -gt 0 ] || fail "no loss counted at 5 %"
[ "$(counter a-\>b reordered)" -gt 0 ] || fail "no reordering counted at 5 %"

echo "PASS"
