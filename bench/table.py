#!/usr/bin/env python3
"""Medians per server and ratios salon/peer from bench/run.sh --results files.

    bench/table.py RESULTS_FILE [--servers salon,ngircd,hybrid,inspircd]

Each line of RESULTS_FILE is "rep=N server=S scenario=T key=value ...", the
RESULT line of one loadgen run (see docs/benchmarks.md for every key).
Prints a Markdown table: for each scenario and metric the median over the
repetitions per server, salon/peer ratios of those medians, and salon/best
peer. Lost deliveries are summed over repetitions, not medianed. Runs that
did not finish cleanly are listed after the table.
"""
import statistics
import sys
from collections import Counter, defaultdict

# (scenario, metric key, label, better: "high" | "low" | "sum" | "text")
METRICS = [
    ("A", "deliveries_per_s", "deliveries/s", "high"),
    ("A", "server_cpu_us_per_delivery", "server CPU µs/delivery", "low"),
    ("A", "p50_ms", "p50 ms", "low"),
    ("A", "p99_ms", "p99 ms", "low"),
    ("A", "lost", "lost deliveries (sum)", "sum"),
    ("A", "loadgen_cpu_util", "loadgen CPU share", "text"),
    ("B", "max_rate", "max msg/s sustained", "high"),
    ("B", "deliveries_per_s", "max deliveries/s", "high"),
    ("B", "server_cpu_us_per_delivery", "server CPU µs/delivery at max", "low"),
    ("B", "p99_ms", "p99 ms at max", "low"),
    ("B", "server_cpu_util", "server CPU share at max", "text"),
    ("B", "limited_by", "next step limited by", "text"),
    ("C", "rss_per_conn_b", "RSS bytes/idle conn", "low"),
    ("C", "reg_s", "registration s", "low"),
    ("C", "registered", "registered", "text"),
    ("D", "join_s", "join time s (2,000 clients)", "low"),
    ("D", "p50_ms", "p50 ms", "low"),
    ("D", "p99_ms", "p99 ms", "low"),
    ("D", "server_cpu_us_per_delivery", "server CPU µs/delivery", "low"),
    ("D", "lost", "lost deliveries (sum)", "sum"),
    ("FA", "deliveries_per_s", "WS deliveries/s", "high"),
    ("FA", "server_cpu_us_per_delivery", "WS server CPU µs/delivery", "low"),
    ("FA", "p50_ms", "WS p50 ms", "low"),
    ("FA", "p99_ms", "WS p99 ms", "low"),
    ("FA", "lost", "WS lost deliveries (sum)", "sum"),
    ("FB", "max_rate", "WS max msg/s sustained", "high"),
    ("FB", "deliveries_per_s", "WS max deliveries/s", "high"),
    ("FB", "server_cpu_us_per_delivery", "WS server CPU µs/delivery at max", "low"),
    ("FB", "p99_ms", "WS p99 ms at max", "low"),
    ("FB", "limited_by", "WS next step limited by", "text"),
    ("FC", "rss_per_conn_b", "WS RSS bytes/idle conn", "low"),
    ("FC", "reg_s", "WS registration s", "low"),
    ("E-default", "us_per_msg", "µs/message, default policy, 4 msg/s", "low"),
    ("E-bench", "us_per_msg", "µs/message, bench config, 4 msg/s", "low"),
    ("E-fast", "us_per_msg", "µs/message, bench config, 3,000 msg/s", "low"),
    ("E-fast", "p99_ms", "p99 ms at 3,000 msg/s", "low"),
]
SCENARIO_NAMES = {
    "A": "(a) 1,000 clients, 10 rooms, 1,000 msg/s",
    "B": "(b) max sustained (p99 ≤ 100 ms)",
    "C": "(c) idle connections",
    "D": "(d) one room of 2,000",
    "FA": "(f) WebSocket (a)",
    "FB": "(f) WebSocket (b)",
    "FC": "(f) WebSocket (c)",
    "E-default": "(e) policy gate",
    "E-bench": "(e) policy gate",
    "E-fast": "(e) policy gate",
}


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            kv = {}
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    kv[k] = v
            if "server" in kv and "scenario" in kv:
                runs.append(kv)
    return runs


def num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if x != x else x  # NaN


def fmt(x):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def main():
    args = sys.argv[1:]
    servers = ["salon", "ngircd", "hybrid", "inspircd"]
    if "--servers" in args:
        i = args.index("--servers")
        servers = args[i + 1].split(",")
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    runs = parse(args[0])
    by = defaultdict(list)  # (scenario, server) -> runs
    for r in runs:
        if "server_cpu_s" in r and "sent" in r:
            cpu, sent = num(r["server_cpu_s"]), num(r["sent"])
            r["us_per_msg"] = str(cpu * 1e6 / sent) if cpu is not None and sent else "nan"
        by[(r["scenario"], r["server"])].append(r)
    peers = [s for s in servers if s != "salon"]
    head = ["scenario", "metric", "n"] + servers + [f"salon/{p}" for p in peers] + ["salon/best peer"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for scen, key, label, better in METRICS:
        cells, meds, ns = [], {}, []
        for s in servers:
            rs = by.get((scen, s), [])
            vals = [num(r.get(key)) for r in rs]
            vals = [v for v in vals if v is not None]
            if better == "text":
                c = Counter(r.get(key, "?") for r in rs if key in r)
                raw = [r[key] for r in rs if key in r]
                if raw and all(num(v) is not None or v == "nan" for v in raw):
                    nums = [num(v) for v in raw if num(v) is not None]
                    cells.append(fmt(statistics.median(nums)) if nums else "–")
                else:
                    cells.append(", ".join(f"{k}×{n}" if n > 1 else k for k, n in c.most_common()) or "–")
                ns.append(len(rs))
                continue
            ns.append(len(rs))
            if not vals:
                cells.append("–")
                continue
            meds[s] = sum(vals) if better == "sum" else statistics.median(vals)
            cells.append(f"{meds[s]:,.0f}" if better == "sum" else fmt(meds[s]))
        if not any(ns):
            continue
        ratios = []
        for p in peers:
            if better in ("high", "low") and meds.get("salon") is not None and meds.get(p):
                ratios.append(f"{meds['salon'] / meds[p]:.2f}")
            else:
                ratios.append("–")
        best = None
        # bench/floor is a reference, not a peer: never the "best peer".
        pv = [meds[p] for p in peers if meds.get(p) and not p.startswith("floor")]
        if better in ("high", "low") and pv and meds.get("salon") is not None:
            b = max(pv) if better == "high" else min(pv)
            best = f"{meds['salon'] / b:.2f}"
        n = max(ns)
        row = [SCENARIO_NAMES.get(scen, scen), label + (" ↑" if better == "high" else " ↓" if better == "low" else ""),
               str(n)] + cells + ratios + [best or "–"]
        print("| " + " | ".join(row) + " |")
    bad = [r for r in runs if r.get("loadgen_rc", "0") not in ("0",) or r.get("server_alive") == "0"
           or r.get("missing")]
    if bad:
        print()
        print("Runs that did not finish cleanly (loadgen exit 1 = interrupted/deadline/setup timeout, "
              "3 = deliveries lost):")
        for r in bad:
            print(f"- rep {r.get('rep')} {r['server']} {r['scenario']}: loadgen_rc={r.get('loadgen_rc')} "
                  f"server_alive={r.get('server_alive')} registered={r.get('registered', '?')} "
                  f"lost={r.get('lost', '?')} failed={r.get('failed', '?')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
