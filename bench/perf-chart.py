#!/usr/bin/env python3
"""Draw Gatun vs ONNX Runtime p50 latency from `gatun bench --compare ort --json` files as an SVG bar chart.

usage: python3 bench/perf-chart.py [-o docs/perf-chart.svg] [FILE.json | DIR]...

One group of two bars per file (Gatun, ONNX Runtime), labelled with the file's name without `.json`, in the
order given (a directory contributes its *.json files sorted by name; default docs/perf). Bars are p50 latency
on a log scale (cases range from milliseconds to seconds); each bar carries its value in ms, and each group
the speedup ORT p50 / Gatun p50 (green at >= 1, orange from 0.9, red below). Standard library only.
"""
import argparse
import json
import math
import os
import sys
from xml.sax.saxutils import escape

GATUN = "#2b6cb0"
ORT = "#a0aec0"


def load(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".json"))
        else:
            files.append(p)
    cases = []
    for f in files:
        with open(f) as fh:
            j = json.load(fh)
        if not j.get("ort"):
            print(f"perf-chart: {f}: no ONNX Runtime result (run gatun bench with --compare ort); skipped",
                  file=sys.stderr)
            continue
        name = os.path.basename(f)
        cases.append({
            "name": name[:-5] if name.endswith(".json") else name,
            "gatun": j["gatun"]["p50_ms"],
            "ort": j["ort"]["p50_ms"],
            "speedup": j["ort"]["p50_ms"] / j["gatun"]["p50_ms"],
            "device": j.get("device", ""),
            "load": [v for v in (j.get("load_avg") or {}).values() if v is not None],
        })
    return cases


def fmt_ms(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio_color(r):
    if r >= 1:
        return "#2f855a"
    if r >= 0.9:
        return "#c05621"
    return "#c53030"


def svg(cases, title):
    group_w, bar_w, gap = 96, 34, 6
    left, right, top, bottom = 64, 20, 70, 104
    plot_h = 300
    width = max(720, left + right + group_w * len(cases))
    height = top + plot_h + bottom
    values = [c[k] for c in cases for k in ("gatun", "ort")]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = max(values) * 2.5  # headroom for the value and ratio labels above the tallest bar

    def y(v):
        return top + plot_h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
           f'<text x="{left}" y="38" fill="#4a5568">p50 latency of one run, ms (log scale)</text>']
    lx = left
    for color, label in ((GATUN, "Gatun"), (ORT, "ONNX Runtime")):
        out.append(f'<rect x="{lx}" y="48" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="58">{label}</text>')
        lx += 110
    out.append(f'<text x="{lx}" y="58" font-weight="bold">1.00x</text>')
    out.append(f'<text x="{lx + 40}" y="58">= ONNX Runtime p50 / Gatun p50 (above 1: Gatun faster)</text>')
    decade = lo
    while decade <= hi * 1.0001:
        yy = y(decade)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#4a5568">{fmt_ms(decade)}</text>')
        decade *= 10
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#718096"/>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#718096"/>')
    for i, c in enumerate(cases):
        gx = left + i * group_w + (group_w - 2 * bar_w - gap) / 2
        tops = []
        for k, (key, color) in enumerate((("gatun", GATUN), ("ort", ORT))):
            v = c[key]
            x = gx + k * (bar_w + gap)
            yy = y(v)
            tops.append(yy)
            out.append(f'<rect x="{x:.1f}" y="{yy:.1f}" width="{bar_w}" height="{top + plot_h - yy:.1f}" fill="{color}">'
                       f'<title>{escape(c["name"])}: {"Gatun" if key == "gatun" else "ONNX Runtime"} p50 {v:.3f} ms</title></rect>')
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{yy - 3:.1f}" text-anchor="middle" font-size="10">{fmt_ms(v)}</text>')
        cx = gx + bar_w + gap / 2
        out.append(f'<text x="{cx:.1f}" y="{min(tops) - 16:.1f}" text-anchor="middle" font-weight="bold" '
                   f'fill="{ratio_color(c["speedup"])}">{c["speedup"]:.2f}x</text>')
        ly = top + plot_h + 14
        out.append(f'<text x="{cx:.1f}" y="{ly}" text-anchor="end" transform="rotate(-35 {cx:.1f} {ly})">'
                   f'{escape(c["name"])}</text>')
    foot = sorted({c["device"] for c in cases if c["device"]})
    loads = [v for c in cases for v in c["load"]]
    if loads:
        foot.append(f"1-minute load average while measuring: {min(loads):.1f} to {max(loads):.1f}")
    if foot:
        out.append(f'<text x="{left}" y="{height - 8}" fill="#4a5568" font-size="10">{escape("; ".join(foot))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", help="bench JSON files or folders of them (default docs/perf)")
    ap.add_argument("-o", "--output", default="docs/perf-chart.svg", help="SVG to write (default docs/perf-chart.svg)")
    ap.add_argument("--title", default="Gatun vs ONNX Runtime 1.29 (CPU, same process, interleaved)")
    a = ap.parse_args()
    cases = load(a.inputs or ["docs/perf"])
    if not cases:
        sys.exit("perf-chart: no bench results with an ONNX Runtime comparison")
    with open(a.output, "w") as fh:
        fh.write(svg(cases, a.title))
    print(f"perf-chart: wrote {a.output} ({len(cases)} cases)", file=sys.stderr)


if __name__ == "__main__":
    main()
