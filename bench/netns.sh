#!/usr/bin/env bash
# Topology for benchmarks across the kcpq-impair forwarder (needs root).
#
#   ns kcpq-a (clients)                                   ns kcpq-b (servers)
#   tun-a 10.77.1.1/24  ==> kcpq-impair (root ns) ==>     tun-b 10.77.2.1/24
#   route 10.77.2.0/24 dev tun-a                          route 10.77.1.0/24 dev tun-b
#
# Each namespace gets a persistent TUN device (ip tuntap), its address and a route to the other
# side through it. The forwarder attaches to both devices from the root namespace (it enters each
# namespace just to open its device), so it can be restarted with other impairments while the
# topology, servers and clients stay. Until a forwarder is attached the devices have no carrier
# and traffic between the namespaces goes nowhere.
#
# Usage: bench/netns.sh up|down|status      (idempotent)
set -euo pipefail

NS_A=${NS_A:-kcpq-a}
NS_B=${NS_B:-kcpq-b}
DEV_A=${DEV_A:-tun-a}
DEV_B=${DEV_B:-tun-b}
ADDR_A=10.77.1.1/24
ADDR_B=10.77.2.1/24
NET_A=10.77.1.0/24
NET_B=10.77.2.0/24

has_ns() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

side_up() { # ns dev addr peer_net
    local ns=$1 dev=$2 addr=$3 peer=$4
    has_ns "$ns" || ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link show "$dev" >/dev/null 2>&1 || ip -n "$ns" tuntap add dev "$dev" mode tun
    # No IPv6 on the tunnel: keeps router solicitations and the like out of the counters.
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    ip -n "$ns" addr replace "$addr" dev "$dev"
    # The device's own queue (500 packets by default) must not be a second, bursty loss point
    # in front of the forwarder's (--limit 4000 in bench/impaired.sh): a server's GSO bursts to
    # two subscribers overflowed it while the forwarder waited for a core (793 drops in 5 s of
    # 240 fps frames at 1 % loss, 2026-12-04), and FEC groups cannot rebuild runs of losses.
    ip -n "$ns" link set "$dev" txqueuelen 4000
    ip -n "$ns" link set "$dev" up
    ip -n "$ns" route replace "$peer" dev "$dev"
}

side_down() { # ns dev
    local ns=$1 dev=$2
    has_ns "$ns" || return 0
    ip -n "$ns" link show "$dev" >/dev/null 2>&1 && ip -n "$ns" tuntap del dev "$dev" mode tun
    ip netns del "$ns"
}

case "${1:-}" in
up)
    side_up "$NS_A" "$DEV_A" "$ADDR_A" "$NET_B"
    side_up "$NS_B" "$DEV_B" "$ADDR_B" "$NET_A"
    ;;
down)
    side_down "$NS_A" "$DEV_A"
    side_down "$NS_B" "$DEV_B"
    ;;
status)
    for ns in "$NS_A" "$NS_B"; do
        if has_ns "$ns"; then
            echo "== $ns"
            ip -n "$ns" -brief addr
            ip -n "$ns" route
            # TX "dropped" on a TUN device: packets the kernel dropped because the forwarder did
            # not read them fast enough (the device queue, txqueuelen, was full).
            ip -n "$ns" -s link show dev "$([ "$ns" = "$NS_A" ] && echo "$DEV_A" || echo "$DEV_B")"
        else
            echo "== $ns: absent"
        fi
    done
    ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
