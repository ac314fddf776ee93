#!/usr/bin/env python3
"""Medians of bench/ab.sh's results, B against A: latency p50/p99, delivered msg/s, server CPU
per delivered message, with each side's range; then the async_bench example's smol and tokio
clients, when the run included them.

    bench/ab_summary.py results.jsonl
"""
import json
import re
import statistics
import sys

METRICS = [
    ("latency p50 (µs)", "latency", lambda r: r["rtt_us"]["p50"]),
    ("latency p99 (µs)", "latency", lambda r: r["rtt_us"]["p99"]),
    ("throughput, delivered msg/s", "throughput", lambda r: r["sub_msgs_per_s_min"]),
    ("server CPU per delivered message (ns)", "throughput",
     lambda r: r["server_cpu_ns_per_delivered_msg"]),
]


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    print("| | A median (range) | B median (range) | B / A | median of the rounds' B / A |")
    print("|---|---|---|---|---|")
    for name, test, get in METRICS:
        side, by_round = {}, {}
        for variant in ("a", "b"):
            values = []
            for r in rows:
                tag = str(r.get("tag", "")).split()
                if r.get("test") == test and tag[:1] == [variant]:
                    values.append(get(r))
                    by_round.setdefault(tag[1], {})[variant] = get(r)
            side[variant] = values
        ratios = [v["b"] / v["a"] for v in by_round.values() if "a" in v and "b" in v]
        if not side["a"] or not side["b"]:
            continue
        a, b = statistics.median(side["a"]), statistics.median(side["b"])
        fmt = lambda v: f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"
        rng = lambda vs: f"{fmt(min(vs))}-{fmt(max(vs))}"
        print(f"| {name} | {fmt(a)} ({rng(side['a'])}) | {fmt(b)} ({rng(side['b'])}) "
              f"| {b / a:.2f} | {statistics.median(ratios):.2f} |")


def async_bench(path):
    """The async_bench example's lines (smol and tokio clients, one measurement), if any."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    patterns = [
        ("latency p50 (µs)", "async_latency", r"p50 ([0-9.]+) us"),
        ("latency p99 (µs)", "async_latency", r"p99 ([0-9.]+) us"),
        ("throughput, delivered msg/s", "async_throughput", r"throughput ([0-9.]+) delivered"),
    ]
    lines = []
    for name, test, pattern in patterns:
        side = {}
        for runtime in ("smol", "tokio"):
            side[runtime] = [float(m.group(1)) for r in rows
                             if r.get("test") == test and r["tag"].startswith(runtime + " ")
                             for m in [re.search(pattern, r["line"])] if m]
        if side["smol"] and side["tokio"]:
            s, t = statistics.median(side["smol"]), statistics.median(side["tokio"])
            lines.append(f"| {name} | {s:,.1f} | {t:,.1f} | {t / s:.2f} |")
    if lines:
        print()
        print("| async_bench | smol client | tokio client | tokio / smol |")
        print("|---|---|---|---|")
        print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
    async_bench(sys.argv[1])
