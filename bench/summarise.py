#!/usr/bin/env python3
"""Medians and spread over several bench/envoy_bench.py runs (their --json
files), and the TARGET lines judged on the medians. Used by bench/run.sh."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

FLOOR_US, FLOOR_STRETCH_US = 3.0, 0.0
UPSTREAM_RPS, UPSTREAM_RPS_STRETCH = 0.85, 0.92
MODULE_BYTES = 300_000
RSS_MIB = 160.0


def spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def main() -> None:
    runs = [json.loads(Path(f).read_text()) for f in sys.argv[1:]]
    if not runs:
        sys.exit("usage: summarise.py RUN.json...")
    variants = runs[0]["variants"]
    n = len(runs)
    print(f"\n{n} run(s): median (min–max) per figure; within each run, the median of its rounds\n")
    print(f"{'path':<9} {'variant':<10} {'req/s':>24} {'CPU µs/req':>22} {'µs - noop':>22} {'rps/none':>22}")
    per = {}
    for path in ("direct", "upstream"):
        for v in variants:
            rps = [r["median"][f"{path} {v}"]["rps"] for r in runs]
            cpu = [r["median"][f"{path} {v}"]["cpu_us"] for r in runs]
            over = [r["median"][f"{path} {v}"]["cpu_us"] - r["median"][f"{path} noop"]["cpu_us"] for r in runs]
            ratio = [r["median"][f"{path} {v}"]["rps"] / r["median"][f"{path} none"]["rps"] for r in runs]
            per[(path, v)] = (over, ratio)
            print(f"{path:<9} {v:<10} {spread(rps, '.0f'):>24} {spread(cpu, '.2f'):>22} "
                  f"{spread(over, '+.2f'):>22} {spread(ratio, '.3f'):>22}")
    module = runs[0]["module_bytes"]
    label_sets = runs[0]["label_sets"]
    rss = [r["rss_mib"][str(label_sets)] for r in runs]
    print(f"\nstarform module: {module} bytes; Envoy RSS with {label_sets} label sets: {spread(rss, '.1f')} MiB\n")

    floor = statistics.median(per[("direct", "starform")][0])
    up = statistics.median(per[("upstream", "starform")][1])
    rss_med = statistics.median(rss)

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"TARGET filter cost over the no-op floor (direct, median of {n}): {floor:+.2f} µs/req "
          f"(<= {FLOOR_US:g}: {verdict(floor <= FLOOR_US)}; stretch <= {FLOOR_STRETCH_US:g}: {verdict(floor <= FLOOR_STRETCH_US)})")
    print(f"TARGET upstream rps starform/none (median of {n}): {up:.3f} "
          f"(>= {UPSTREAM_RPS}: {verdict(up >= UPSTREAM_RPS)}; stretch >= {UPSTREAM_RPS_STRETCH}: {verdict(up >= UPSTREAM_RPS_STRETCH)})")
    print(f"TARGET module size: {module} bytes (<= {MODULE_BYTES}: {verdict(module <= MODULE_BYTES)})")
    if label_sets >= 5000:
        print(f"TARGET Envoy RSS with {label_sets} label sets (median of {n}): {rss_med:.1f} MiB "
              f"(<= {RSS_MIB:g}: {verdict(rss_med <= RSS_MIB)})")
    else:
        print(f"TARGET Envoy RSS: not judged ({label_sets} label sets in this run, the target is for 5,000)")


if __name__ == "__main__":
    main()
