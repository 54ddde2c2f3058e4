#!/usr/bin/env python3
"""Summarise JMH JSON results (bench/jmh.sh ... -rf json -rff FILE.json) as a Markdown table of medians.

usage: python3 bench/jmh-table.py FILE.json...

One row per benchmark and parameter set: the median over all measured iterations (of every file given, so
repeated runs pool together) of the primary score and of each secondary counter (gflop: GFLOP/s, gb: GB/s,
peakPct: % of the machine's peak), with the spread (min-max) of the primary score. On a shared, noisy machine
the median of iterations is steadier than JMH's mean +- error. Standard library only.
"""
import json
import statistics
import sys


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[2])
    rows = {}
    for f in sys.argv[1:]:
        with open(f) as fh:
            for b in json.load(fh):
                params = ", ".join(f"{k}={v}" for k, v in sorted(b.get("params", {}).items()))
                key = (b["benchmark"].removeprefix("dev.gatun.bench."), params)
                r = rows.setdefault(key, {"unit": b["primaryMetric"]["scoreUnit"], "score": [], "secondary": {}})
                for fork in b["primaryMetric"]["rawData"]:
                    r["score"] += fork
                for name, m in b.get("secondaryMetrics", {}).items():
                    vals = r["secondary"].setdefault(name, [])
                    for fork in m["rawData"]:
                        vals += fork
    secondary = sorted({n for r in rows.values() for n in r["secondary"]})
    header = ["benchmark", "params", "median", "unit", "min-max"] + secondary
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for (bench, params), r in rows.items():
        s = r["score"]
        cells = [bench, params, fmt(statistics.median(s)), r["unit"], f"{fmt(min(s))}-{fmt(max(s))}"]
        for n in secondary:
            v = r["secondary"].get(n)
            cells.append(f"{statistics.median(v):.1f}" if v else "")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
