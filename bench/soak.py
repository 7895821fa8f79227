#!/usr/bin/env python3
"""Soak under load (docs/reliability.md §4): wrk through the Starform filter in a real Envoy.

Envoy 1.40 (1 worker, CPU 0) serves several routes of three tenants (200,
404, 503), one route whose name is not an HTTPRoute's and paths no route
matches; wrk (CPU 1, a Lua script cycling the paths) loads it for
`--seconds`. Afterwards, once the filter's tick and Envoy's stats flush have
run, it checks and prints:

  - every request Envoy's connection manager started
    (`http.soak.downstream_rq_total`) is counted exactly once by the filter:
    sum(starform_http_requests_total) + sum(starform_l7_*_requests_total);
  - the duration histogram's `_count` equals the attributed requests;
  - per tenant, the counted requests match the tenant's share of the cycle
    (every cycle sends each path once), within one cycle per connection;
  - Envoy's RSS grew by less than 2 % from the end of the warm-up to the end.

Exit status 1 on any failed check. Usage:
  bench/soak.py --envoy ENVOY --module starform_envoy_filter.wasm [--seconds 300]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from envoy_bench import Envoy, arguments, free_port, requests_counted, sample_sum, single_listener_bootstrap, wasm_filter

# (path, route name or None for no route, status)
ROUTES = [
    ("/acme/api", "httproute/acme-prod/acme.prod.api/rule/0/match/0/api_acme_example", 200),
    ("/acme/missing", "httproute/acme-prod/acme.prod.api/rule/1/match/0/api_acme_example", 404),
    ("/globex/web", "httproute/globex-staging/globex.staging.web/rule/0/match/-1/web_globex_example", 200),
    ("/globex/down", "httproute/globex-staging/globex.staging.web/rule/1/match/0/web_globex_example", 503),
    ("/initech/api", "httproute/initech-pr-7/initech.pr-7.api/rule/0/match/0/api_initech_example", 200),
    ("/legacy", "legacy-route", 200),
]
UNROUTED = "/nowhere"

RSS_GROWTH_LIMIT = 0.02

LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def bootstrap(admin: int, port: int, module: Path) -> str:
    routes = "".join(
        f"""
              - name: {name}
                match: {{ path: {path} }}
                direct_response: {{ status: {status}, body: {{ inline_string: "{path}\\n" }} }}"""
        for path, name, status in ROUTES
    )
    config = '{"preview_policy": "aggregate"}'
    return single_listener_bootstrap(admin, "soak", port, routes, wasm_filter("starform_l7_identity", module, config))


def counted(text: str) -> tuple[int, int, int]:
    """(all requests the filter counted, attributed, histogram _count)."""
    return (
        requests_counted(text),
        sample_sum(text, "starform_http_requests_total"),
        sample_sum(text, "starform_http_request_duration_milliseconds_count"),
    )


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found (Debian package wrk)")

    work = Path(tempfile.mkdtemp(prefix="starform-soak-"))
    admin, port = free_port(), free_port()
    envoy = Envoy(args.envoy, work, "soak", bootstrap(admin, port, args.module), admin, 0)
    failures = []
    try:
        paths = [p for p, _, _ in ROUTES] + [UNROUTED]
        script = work / "cycle.lua"
        script.write_text(LUA % ", ".join(f'"{p}"' for p in paths))
        # RSS once the warm-up (a tenth of the run, at most 30 s) is over, then at the end.
        warmup = min(30.0, args.seconds / 10)
        rss: dict[str, int] = {}
        timer = threading.Timer(warmup, lambda: rss.setdefault("after_warmup", envoy.rss_kib()))
        timer.start()
        started = time.monotonic()
        out = subprocess.run(
            ["taskset", "-c", "1", "wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s",
             "-s", str(script), f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, timeout=args.seconds + 120, check=True,
        ).stdout
        elapsed = time.monotonic() - started
        timer.join()
        rss["end"] = envoy.rss_kib()
        wrk_requests = int(re.search(r"(\d+) requests in", out).group(1))

        # The filter flushes every second and Envoy publishes histograms at its
        # 1 s stats flush: poll until the numbers stop moving and agree.
        deadline = time.monotonic() + 30
        while True:
            served = envoy.stat("http.soak.downstream_rq_total") or 0
            text = envoy.get("/stats/prometheus")
            total, attributed, observed = counted(text)
            if (total == served and observed == attributed) or time.monotonic() > deadline:
                break
            time.sleep(0.5)

        print(f"soak: {elapsed:.0f} s of wrk -c{args.connections} over {len(paths)} paths: "
              f"{wrk_requests} responses ({wrk_requests / elapsed:.0f}/s); Envoy started {served} requests")
        print(f"filter counted {total} (attributed {attributed}, histogram _count {observed}); "
              f"lost {served - total}")
        if total != served:
            failures.append(f"filter counted {total} requests, Envoy started {served}")
        if observed != attributed:
            failures.append(f"histogram _count {observed} != attributed requests {attributed}")
        # Every cycle of the Lua script sends each path once, so each tenant's
        # share is fixed: acme and globex two paths each, initech one.
        shares = {"acme": 2, "globex": 2, "initech": 1}
        per_path = attributed / sum(shares.values())
        for tenant, k in shares.items():
            n = sum(int(float(m.group(1))) for m in re.finditer(
                rf'^starform_http_requests_total\{{project="{tenant}"[^}}]*\}} (\S+)$', text, re.M))
            print(f"  {tenant}: {n} requests ({k} of the {len(paths)} paths)")
            if abs(n - k * per_path) > args.connections * k + 1:
                failures.append(f"{tenant}: {n} requests, expected about {k * per_path:.0f}")
        if "initech" in text and 'environment="pr-7"' in text:
            failures.append("the preview environment pr-7 appears in a label (aggregate policy)")
        growth = (rss["end"] - rss["after_warmup"]) / rss["after_warmup"]
        print(f"Envoy RSS after warm-up ({warmup:.0f} s) {rss['after_warmup'] / 1024:.1f} MiB, "
              f"at the end {rss['end'] / 1024:.1f} MiB: {growth * 100:+.2f} %")
        if growth >= RSS_GROWTH_LIMIT:
            failures.append(f"RSS grew {growth * 100:.2f} % (limit {RSS_GROWTH_LIMIT * 100:.0f} %)")
    finally:
        envoy.stop()
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print(f"FAIL {f}")
    if failures:
        sys.exit(1)
    print("soak: PASS")


if __name__ == "__main__":
    main()
