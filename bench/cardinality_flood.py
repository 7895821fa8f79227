#!/usr/bin/env python3
"""Cardinality floods against the Starform filter in a real Envoy (docs/reliability.md §5).

1. Routes: a generated Envoy configuration with `--routes` routes (default
   20,000), each named per the contract for its own tenant
   (`httproute/flood/t<i>.prod.api/rule/0/match/0/h`), every route hit
   `--hits` times. With `max_label_sets` (default 5,000) per VM and one
   worker: exactly `max_label_sets` label sets get series, every request of
   the others is in `starform_l7_overflow_requests_total`, and counted +
   overflow = the requests Envoy started (nothing lost).
2. Previews: `--previews` (default 2,000) preview environments of one
   service (`acme.pr-<i>.api`) under each `preview_policy`: `aggregate` → one
   label set `environment="preview"`; `full` → one per preview; `suppress` →
   only `starform_l7_suppressed_preview_requests_total`, and no series names
   any preview; `short_retention` → one per preview, every one marked
   `retention="short"`.

Exit status 1 on any failed check. Usage:
  bench/cardinality_flood.py --envoy ENVOY --module starform_envoy_filter.wasm
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from envoy_bench import (
    Envoy, arguments, free_port, requests_counted, sample_sum, send_all, series, single_listener_bootstrap, wasm_filter,
)


def bootstrap(admin: int, port: int, module: Path, names: list[str], config: str) -> str:
    routes = "".join(
        f"""
              - name: {name}
                match: {{ path: /r/{i} }}
                direct_response: {{ status: 200 }}"""
        for i, name in enumerate(names)
    )
    return single_listener_bootstrap(admin, "flood", port, routes, wasm_filter("starform_l7_identity", module, config))


def flood(binary: Path, module: Path, work: Path, names: list[str], hits: int, config: str):
    """Hits every route `hits` times; returns (Envoy's started requests, final scrape)."""
    admin, port = free_port(), free_port()
    envoy = Envoy(binary, work, "flood", bootstrap(admin, port, module, names, config), admin, 0)
    try:
        send_all(port, (f"/r/{i}" for _ in range(hits) for i in range(len(names))), "flood", timeout=30)
        sent = hits * len(names)
        deadline = time.monotonic() + 30
        while True:
            started = envoy.stat("http.flood.downstream_rq_total") or 0
            text = envoy.get("/stats/prometheus")
            counted = requests_counted(text)
            if (started == sent and counted == sent) or time.monotonic() > deadline:
                return started, text, envoy.rss_kib()
            time.sleep(0.5)
    finally:
        envoy.stop()


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--routes", type=int, default=20_000)
    ap.add_argument("--max-label-sets", type=int, default=5_000)
    ap.add_argument("--hits", type=int, default=2, help="requests per route")
    ap.add_argument("--previews", type=int, default=2_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="starform-flood-"))
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    try:
        names = [f"httproute/flood/t{i}.prod.api/rule/0/match/0/h" for i in range(args.routes)]
        config = f'{{"max_label_sets": {args.max_label_sets}}}'
        t0 = time.monotonic()
        started, text, rss = flood(args.envoy, args.module, work, names, args.hits, config)
        sets = series(text, "starform_http_requests_total")
        overflow = sample_sum(text, "starform_l7_overflow_requests_total")
        attributed = sum(sets.values())
        print(f"routes: {args.routes} routes x {args.hits} hits in {time.monotonic() - t0:.0f} s, "
              f"max_label_sets {args.max_label_sets}; Envoy RSS {rss / 1024:.0f} MiB")
        check(started == args.routes * args.hits, f"Envoy started {started} requests (sent {args.routes * args.hits})")
        check(len(sets) == min(args.routes, args.max_label_sets),
              f"{len(sets)} live requests_total series (limit {args.max_label_sets}, overflow series has no labels)")
        folded = max(0, args.routes - args.max_label_sets) * args.hits
        check(overflow == folded, f"overflow counter {overflow} = folded requests {folded}")
        check(attributed + overflow == started, f"counted {attributed} + overflow {overflow} = started {started} (lost {started - attributed - overflow})")
        check(all(v == args.hits for v in sets.values()), f"every live label set counted exactly {args.hits}")
        durations = series(text, "starform_http_request_duration_milliseconds_count")
        check(len(durations) == len(sets) and sum(durations.values()) == attributed,
              "one histogram per live label set, _count = its requests")

        previews = [f"httproute/flood/acme.pr-{i}.api/rule/0/match/0/h" for i in range(args.previews)]
        for policy in ("aggregate", "full", "suppress", "short_retention"):
            started, text, _ = flood(args.envoy, args.module, work, previews, 1, f'{{"preview_policy": "{policy}"}}')
            sets = series(text, "starform_http_requests_total")
            suppressed = sample_sum(text, "starform_l7_suppressed_preview_requests_total")
            overflow = sample_sum(text, "starform_l7_overflow_requests_total")
            n = args.previews
            print(f"previews: {n} preview environments, preview_policy {policy}")
            check(started == n, f"Envoy started {started} requests (sent {n})")
            check(sum(sets.values()) + suppressed + overflow == n, "every request counted once")
            if policy == "aggregate":
                check(list(sets) == ['project="acme",environment="preview",service="api",code_class="2xx"']
                      and sets[list(sets)[0]] == n, f"one label set, environment=\"preview\", {n} requests")
            elif policy in ("full", "short_retention"):
                want = min(n, 5000)
                check(len(sets) == want and overflow == n - want, f"{want} label sets, one per preview; overflow {overflow}")
                marked = sum(1 for labels in sets if labels.endswith(',retention="short"'))
                want_marked = want if policy == "short_retention" else 0
                check(marked == want_marked, f"{marked} label sets marked retention=\"short\"")
            else:
                check(not sets and suppressed == n and "pr-" not in text,
                      f"suppressed counter {suppressed}, no series names a preview")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        sys.exit(1)
    print("cardinality flood: PASS")


if __name__ == "__main__":
    main()
