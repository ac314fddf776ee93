#!/usr/bin/env python3
"""The workers table of `bench/compare.sh workers`: NATS, kcpq-server --workers 1 and --workers N.

  python3 bench/workers_table.py NATS.jsonl KCPQ_W1.jsonl KCPQ_WN.jsonl

Medians over the runs of each configuration ([min-max] when there are several), and two ratio
columns: N workers / 1 worker and N workers / NATS. Only the standard library is used.
"""
import json
import statistics
import sys

# test -> (group-by keys, [(metric title, dotted path)])
SPECS = {
    "throughput": (["size", "subs", "count"], [
        ("deliv msg/s per sub (min)", "sub_msgs_per_s_min"),
        ("pub msg/s", "pub_msgs_per_s"),
        ("server CPU %", "usage.server_cpu_pct"),
        ("server CPU ns / delivered msg", "server_cpu_ns_per_delivered_msg"),
        ("all delivered", "all_delivered"),
    ]),
    "fanin": (["pubs", "size", "count_per_pub"], [
        ("deliv msg/s (total)", "delivered_msgs_per_s"),
        ("server CPU %", "usage.server_cpu_pct"),
        ("server CPU ns / delivered msg", "server_cpu_ns_per_delivered_msg"),
        ("all delivered", "all_delivered"),
    ]),
    "frames": (["size", "fps_target", "seconds", "subs"], [
        ("lat p50 µs (worst sub)", "lat_p50_us_max"),
        ("lat p99 µs (worst sub)", "lat_p99_us_max"),
        ("dropped (all subs)", "dropped_total"),
        ("server CPU %", "usage.server_cpu_pct"),
    ]),
}


def get(d, path):
    for p in path.split("."):
        if isinstance(d, dict):
            d = d.get(p)
        elif isinstance(d, list) and p.isdigit() and int(p) < len(d):
            d = d[int(p)]
        else:
            return None
    return d


def load(path):
    groups = {}
    meta = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        row = json.loads(line)
        test = row.get("test")
        if test == "meta":
            meta = row
            continue
        if test not in SPECS:
            continue
        keys = SPECS[test][0]
        key = (test,) + tuple(row.get(k) for k in keys)
        groups.setdefault(key, []).append(row)
    return meta, groups


def fmt(x):
    if x is None:
        return "–"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.0f}k"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}"


def cell(rows, path):
    values = [get(r, path) for r in rows if "error" not in r]
    if path.endswith("all_delivered"):
        return sum(1 for v in values if v is True), f"{sum(1 for v in values if v is True)}/{len(rows)}"
    values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not values:
        return None, "–"
    med = statistics.median(values)
    text = fmt(med)
    if len(values) > 1:
        text += f" [{fmt(min(values))}–{fmt(max(values))}]"
    return med, text


def ratio(a, b, path):
    if path.endswith("all_delivered") or a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    (_, nats), (_, w1), (meta_n, wn) = (load(p) for p in sys.argv[1:4])
    n = meta_n.get("workers", "N")
    print(f"| test / params | metric | NATS | KCPQ 1 worker | KCPQ {n} workers "
          f"| {n}w / 1w | {n}w / NATS |")
    print("|---|---|---|---|---|---|---|")
    keys = sorted(set(nats) | set(w1) | set(wn), key=lambda k: (list(SPECS).index(k[0]), str(k[1:])))
    for key in keys:
        test = key[0]
        params = " ".join(f"{k}={v}" for k, v in zip(SPECS[test][0], key[1:]))
        for title, path in SPECS[test][1]:
            (a, at), (b, bt), (c, ct) = (cell(g.get(key, []), path) for g in (nats, w1, wn))
            print(f"| {test} {params} | {title} | {at} | {bt} | {ct} | {ratio(c, b, path)} "
                  f"| {ratio(c, a, path)} |")


if __name__ == "__main__":
    main()
