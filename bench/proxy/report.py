#!/usr/bin/env python3
"""Helpers of bench/proxy/run.sh.

  report.py percentiles LOG   h2load --log-file → "p50_us V" and "p99_us V" lines (the first
                              second of requests is dropped as warm-up)
  report.py table RESULTS     results.tsv (scenario, target, round, metric, value) → the table:
                              medians over rounds, added latency over the direct upstream
                              (per round, then the median), Strait/Envoy ratios with the
                              issue's targets
"""
import statistics
import sys
from collections import defaultdict

TARGETS = ["envoy", "strait", "straitb", "haproxy", "nginx", "direct"]


def percentiles(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].startswith("2"):
                rows.append((int(parts[0]), int(parts[2])))
    if not rows:
        print("p50_us nan\np99_us nan")
        return
    start = min(r[0] for r in rows)
    durations = sorted(d for t, d in rows if t >= start + 1_000_000) or sorted(d for _, d in rows)

    def pct(p):
        return durations[min(len(durations) - 1, int(p / 100 * len(durations)))]

    print(f"p50_us {pct(50)}\np99_us {pct(99)}")


def load(path):
    data = defaultdict(dict)  # (scenario, metric, target) -> {round: value}
    with open(path) as f:
        for line in f:
            scenario, target, rnd, metric, value = line.rstrip("\n").split("\t")
            try:
                data[(scenario, metric, target)][rnd] = float(value)
            except ValueError:
                pass
    return data


def median(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else None


def added(data, scenario, metric, target):
    """Median over rounds of (target - direct) in the same round."""
    own, direct = data.get((scenario, metric, target), {}), data.get((scenario, metric, "direct"), {})
    return median([v - direct[r] for r, v in own.items() if r in direct])


# (label, scenario, metric, how, ratio target: ("≥"|"≤", x) or None, format)
ROWS = [
    ("HTTP/1.1 max req/s (32 conns)", "h1", "rps", "median", ("≥", 2.0), "{:,.0f}"),
    ("HTTP/2 h2c max req/s (8 conns x 16 streams)", "h2", "rps", "median", ("≥", 2.0), "{:,.0f}"),
    ("CPU s per 10k req, HTTP/1.1 max", "h1", "cpu_per_10k", "median", ("≤", 0.5), "{:.3f}"),
    ("CPU s per 10k req, HTTP/2 max", "h2", "cpu_per_10k", "median", ("≤", 0.5), "{:.3f}"),
    ("CPU s per 10k req at 1,000 req/s", "rate", "cpu_per_10k", "median", ("≤", 0.5), "{:.3f}"),
    ("p50 latency at 1,000 req/s, added (us)", "rate", "p50_us", "added", None, "{:.0f}"),
    ("p99 latency at 1,000 req/s, added (us)", "rate", "p99_us", "added", ("≤", 0.5), "{:.0f}"),
    ("RSS idle (MB)", "idle", "rss_idle", "median", ("≤", 0.35), "{:.1f}"),
    ("RSS peak, HTTP/1.1 max (MB)", "h1", "rss_peak", "median", ("≤", 0.35), "{:.1f}"),
    ("RSS peak, HTTP/2 max (MB)", "h2", "rss_peak", "median", ("≤", 0.35), "{:.1f}"),
    ("1,000 conns: HTTP/1.1 req/s", "c1000", "rps", "median", ("≥", 2.0), "{:,.0f}"),
    ("1,000 conns: RSS peak (MB)", "c1000", "rss_peak", "median", ("≤", 0.35), "{:.1f}"),
    ("1,000 services: RSS after sync (MB)", "mesh1000", "rss_idle", "median", ("≤", 0.35), "{:.1f}"),
    ("1,000 services: CPU s from start to SYNCED", "mesh1000", "cpu_sync", "median", None, "{:.2f}"),
    ("1,000 services: HTTP/1.1 max req/s", "mesh1000", "rps", "median", ("≥", 2.0), "{:,.0f}"),
    ("1,000 services: RSS peak under load (MB)", "mesh1000", "rss_peak", "median", ("≤", 0.35), "{:.1f}"),
]


def table(path):
    data = load(path)
    header = ["metric", "Envoy", "Strait", "Strait/Envoy", "target", "met", "HAProxy", "nginx", "direct"]
    ab = any(k[2] == "straitb" for k in data)
    if ab:
        header += ["Strait B", "B/A"]
    lines = []
    for label, scenario, metric, how, goal, fmt in ROWS:
        values = {}
        for t in TARGETS:
            if how == "added":
                values[t] = added(data, scenario, metric, t) if t != "direct" else None
                if t == "direct":
                    values[t] = median(data.get((scenario, metric, t), {}).values())
            else:
                values[t] = median(data.get((scenario, metric, t), {}).values())
        if all(values[t] is None for t in ("envoy", "strait", "straitb")):
            continue
        show = lambda v: "-" if v is None else fmt.format(v)
        ratio, met = "-", ""
        if values["envoy"] and values["strait"] is not None and values["envoy"] > 0:
            r = values["strait"] / values["envoy"]
            ratio = f"{r:.2f}"
            if goal:
                met = "yes" if (r >= goal[1] if goal[0] == "≥" else r <= goal[1]) else "NO"
        direct = show(values["direct"])
        if how == "added" and values["direct"] is not None:
            direct = f"({show(values['direct'])} abs)"
        goal_text = f"{goal[0]} {goal[1]}" if goal else ""
        row = [label, show(values["envoy"]), show(values["strait"]), ratio, goal_text, met,
               show(values["haproxy"]), show(values["nginx"]), direct]
        if ab:
            b, a = values["straitb"], values["strait"]
            row += [show(b), f"{b / a:.3f}" if a and b is not None else "-"]
        lines.append(row)
    widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
    fmt_row = lambda row: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                             for i, (c, w) in enumerate(zip(row, widths))) + " |"
    print(fmt_row(header))
    print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")
    for row in lines:
        print(fmt_row(row))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "percentiles":
        percentiles(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


main()
