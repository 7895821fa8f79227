#!/usr/bin/env python3
"""Module entries and host calls per request, counted in a real Envoy.

Loads a build of the filter with the cargo feature `call-counts` (it counts,
per kind, every time Envoy enters the module for a stream and every host
call it makes while serving one, and hands the counts to Envoy as counters
`starform_calls_<kind>` on its tick) on the two paths of
bench/envoy_bench.py, sends N requests per case one after another on one
keep-alive connection, and prints the counts divided by N. Deterministic:
no timing is involved.

  bench/call_counts.sh                 builds the counting module, runs this
  python3 bench/call_counts.py --envoy ENVOY --module COUNTING.wasm [--requests N]
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import envoy_bench as eb  # noqa: E402

CASES = [
    # (name, path, method, body)
    ("GET, direct response", "direct", "GET", b""),
    ("GET, through the upstream", "upstream", "GET", b""),
    ("POST 1 KiB, direct response", "direct", "POST", b"x" * 1024),
    ("POST 1 KiB, through the upstream", "upstream", "POST", b"x" * 1024),
]


def counters(envoy: eb.Envoy) -> dict[str, int]:
    text = envoy.get("/stats?filter=starform_calls_")
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"starform_calls_(\w+): (\d+)", text)}


def main() -> None:
    ap = eb.arguments(__doc__, module_help="a filter built with --features call-counts")
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="starform-counts-"))
    ports = eb.Ports()
    direct, upstream_port = eb.free_port(), eb.free_port()
    filters = eb.wasm_filter("starform_l7_identity", args.module, "{}")
    yaml = "\n".join([
        f"admin: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {ports.admin} }} }} }}",
        "stats_flush_interval: 1s",
        eb.STATS_TAGS_AND_BUCKETS,
        "static_resources:",
        "  listeners:",
        eb.listener("direct", direct, eb.route("direct", "starform"), filters),
        eb.listener("upstream", upstream_port, eb.route("upstream", "starform"), filters),
        eb.upstream_cluster(ports.upstream),
    ])
    up = eb.Envoy(args.envoy, work, "upstream", eb.upstream_bootstrap(ports), ports.upstream_admin, 1)
    envoy = eb.Envoy(args.envoy, work, "counts", yaml, ports.admin, 0)
    rows = []
    try:
        time.sleep(1.5)
        before = counters(envoy)
        for name, path, method, body in CASES:
            port = direct if path == "direct" else upstream_port
            eb.send_all(port, ["/"] * args.requests, name, method=method, body=body or None)
            time.sleep(2.5)  # two ticks: every count handed over
            after = counters(envoy)
            rows.append((name, {k: (after.get(k, 0) - before.get(k, 0)) / args.requests
                                for k in sorted(set(after) | set(before))}))
            before = after
    finally:
        envoy.stop()
        up.stop()

    kinds = sorted({k for _, r in rows for k in r}, key=lambda k: (not k.startswith("entry"), k))
    print(f"per request, {args.requests} requests per case (Envoy 1.40, module {args.module.name})\n")
    print(f"| kind | {' | '.join(n for n, _ in rows)} |")
    print(f"|---|{'---:|' * len(rows)}")
    for k in kinds:
        print(f"| {k} | {' | '.join(f'{r.get(k, 0):g}' for _, r in rows)} |")
    for prefix, label in (("entry", "module entries"), ("host", "host calls")):
        total = [sum(v for k, v in r.items() if k.startswith(prefix)) for _, r in rows]
        print(f"| **{label}** | {' | '.join(f'**{t:g}**' for t in total)} |")


if __name__ == "__main__":
    main()
