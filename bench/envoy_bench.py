#!/usr/bin/env python3
"""Envoy benchmark for the Starform L7 identity filter (docs/performance.md).

One Envoy 1.40 process (`--concurrency 1`, pinned to CPU 0) carries every
variant as its own listener, so they share every condition:

  none      no wasm filter
  noop      a proxy-wasm filter that does nothing (bench/noop-filter): the wasm floor
  starform  the Starform filter with the default configuration
  native    no wasm filter; Envoy's own per-route stats (`stat_prefix` on the route),
            the zero-code peer a platform team would otherwise relabel in vmagent
  NAME      (with --variant NAME=FILE, repeatable) another build of the Starform
            filter, e.g. one built from another commit, to compare the two in one run

on two paths: `direct` (direct_response, isolates the filter) and `upstream`
(a second Envoy with direct_response, pinned to CPU 1 with wrk, keep-alive).

wrk (pinned to CPU 1) loads one listener at a time, variants alternating
(A B C D A B C D ...) after a warm-up round. Per variant: median requests/s,
p50/p99 latency (wrk), and Envoy CPU µs per request (utime+stime of the
Envoy process from /proc/<pid>/stat over the run / requests served).

Then a separate Envoy with the Starform filter reports RSS and the number of
wasm VMs with 1 and with 5,000 label sets live.

Usage: bench/run.sh [--smoke]   (builds what it needs, then runs this file)
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUTE_NAME = "httproute/bench/acme.prod.api/rule/0/match/0/bench_example"
VARIANTS = ["none", "noop", "starform", "native"]  # --variant adds more
PATHS = ["direct", "upstream"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The targets (docs/performance.md), printed beside the measurements.
TARGET_FLOOR_US = 3.0
TARGET_UPSTREAM_RPS = 0.85
TARGET_MODULE_BYTES = 300_000


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port, never one this process handed out before (the
    kernel may offer a just-closed port again, and listeners are bound only
    when Envoy starts)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wasm_filter(name: str, module: Path, configuration: str) -> str:
    return f"""
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: {name}
                root_id: {name}
                failure_policy: FAIL_CLOSED
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{configuration}'
                vm_config:
                  vm_id: {name}
                  runtime: envoy.wasm.runtime.v8
                  code: {{ local: {{ filename: {module} }} }}"""


ROUTER = """
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"""

STATS_TAGS_AND_BUCKETS = """
stats_config:
  stats_tags:
  - { tag_name: project, regex: '(_project=\\.=(.+?);\\.;)' }
  - { tag_name: environment, regex: '(environment=\\.=(.+?);\\.;)' }
  - { tag_name: service, regex: '(service=\\.=(.+?);\\.;)' }
  - { tag_name: code_class, regex: '(code_class=\\.=(.+?);\\.;)' }
  - { tag_name: reason, regex: '(_reason=\\.=(.+?);\\.;)' }
  - { tag_name: retention, regex: '(retention=\\.=(.+?);\\.;)' }
  histogram_bucket_settings:
  - match: { prefix: wasmcustom.starform_http_request_duration_milliseconds }
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
"""


def listener(name: str, port: int, routes: str, filters: str) -> str:
    return f"""
  - name: {name}
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {name}
          route_config:
            name: {name}
            virtual_hosts:
            - name: {name}
              domains: ["*"]
              routes:{routes}
          http_filters:{filters}{ROUTER}"""


def route(path: str, variant: str) -> str:
    stat_prefix = f"\n                stat_prefix: acme_prod_api" if variant == "native" else ""
    action = (
        'direct_response: { status: 200, body: { inline_string: "ok\\n" } }'
        if path == "direct"
        else "route: { cluster: upstream }"
    )
    return f"""
              - name: {ROUTE_NAME}
                match: {{ prefix: / }}{stat_prefix}
                {action}"""


def single_listener_bootstrap(admin: int, name: str, port: int, routes: str, filters: str) -> str:
    """A bootstrap with the stats tags and buckets and one listener `name`."""
    return "\n".join(
        [
            f"admin: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }} }}",
            "stats_flush_interval: 1s",
            STATS_TAGS_AND_BUCKETS,
            "static_resources:",
            "  listeners:",
            listener(name, port, routes, filters),
        ]
    )


def arguments(doc: str, module: str = "--module", module_help: str = "starform_envoy_filter.wasm") -> argparse.ArgumentParser:
    """The command line every script here starts from: the Envoy binary and the filter module."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--envoy", type=Path, required=True)
    ap.add_argument(module, type=Path, required=True, help=module_help)
    return ap


def send_all(port: int, paths, what: str, timeout: float = 10, method: str = "GET", body: bytes | None = None) -> None:
    """Sends each of `paths` over one keep-alive connection; exits unless every answer is 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    for path in paths:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"{what}: {path} answered {resp.status}")
    conn.close()


def series(text: str, name: str) -> dict[str, int]:
    """Labels → value for every sample of `name` in a /stats/prometheus scrape."""
    return {
        m.group(1) or "": int(float(m.group(2)))
        for m in re.finditer(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", text, re.M)
    }


def sample_sum(text: str, name: str) -> int:
    """Sum of every sample of `name` (any labels)."""
    return sum(series(text, name).values())


# Every request the filter sees lands in exactly one of these.
REQUEST_COUNTERS = (
    "starform_http_requests_total",
    "starform_l7_unattributed_requests_total",
    "starform_l7_overflow_requests_total",
    "starform_l7_suppressed_preview_requests_total",
)


def requests_counted(text: str) -> int:
    """All requests the filter counted, attributed or not."""
    return sum(sample_sum(text, name) for name in REQUEST_COUNTERS)


@dataclass
class Ports:
    admin: int = field(default_factory=free_port)
    upstream: int = field(default_factory=free_port)
    upstream_admin: int = field(default_factory=free_port)
    listeners: dict = field(default_factory=dict)


def bench_bootstrap(ports: Ports, noop: Path, starform: Path, extra: dict) -> str:
    out = [
        f"admin: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {ports.admin} }} }} }}",
        "stats_flush_interval: 1s",
        STATS_TAGS_AND_BUCKETS,
        "static_resources:",
        "  listeners:",
    ]
    for path in PATHS:
        for variant in VARIANTS:
            port = free_port()
            ports.listeners[(path, variant)] = port
            filters = ""
            if variant == "noop":
                filters = wasm_filter("bench_noop", noop, "{}")
            elif variant == "starform":
                filters = wasm_filter("starform_l7_identity", starform, "{}")
            elif variant in extra:
                filters = wasm_filter(f"starform_{variant}", extra[variant], "{}")
            out.append(listener(f"{path}_{variant}", port, route(path, variant), filters))
    out.append(upstream_cluster(ports.upstream))
    return "\n".join(out)


def upstream_cluster(port: int) -> str:
    """The `clusters:` part of a bootstrap: one cluster `upstream` on loopback `port`."""
    return f"""
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }}
"""


def upstream_bootstrap(ports: Ports) -> str:
    routes = """
              - match: { prefix: / }
                direct_response: { status: 200, body: { inline_string: "ok\\n" } }"""
    return "\n".join(
        [
            f"admin: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {ports.upstream_admin} }} }} }}",
            "static_resources:",
            "  listeners:",
            listener("upstream", ports.upstream, routes, ""),
        ]
    )


class Envoy:
    def __init__(self, binary: Path, work: Path, name: str, yaml: str, admin: int, cpu: int):
        self.admin = admin
        config = work / f"{name}.yaml"
        config.write_text(yaml)
        self.log = work / f"{name}.log"
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), str(binary), "-c", str(config), "--concurrency", "1",
             "--use-dynamic-base-id", "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"envoy {name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.get("/ready").strip() == "LIVE":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        sys.exit(f"envoy {name} not ready within 60 s:\n{self.log.read_text()[-3000:]}")

    def get(self, path: str) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin, timeout=10)
        try:
            conn.request("GET", path)
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def cpu_seconds(self) -> float:
        # Fields after the parenthesised command name; utime and stime are 14 and 15.
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_kib(self) -> int:
        m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{self.proc.pid}/status").read_text(), re.M)
        return int(m.group(1)) if m else -1

    def stat(self, name: str) -> int | None:
        m = re.search(rf"^{re.escape(name)}: (\d+)$", self.get(f"/stats?filter=^{re.escape(name)}$"), re.M)
        return int(m.group(1)) if m else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    requests: int
    errors: int


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"unparsed wrk latency {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(port: int, seconds: float, connections: int, envoy: Envoy) -> Run:
    cpu_before = envoy.cpu_seconds()
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout
    cpu = envoy.cpu_seconds() - cpu_before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        m = re.search(pattern, out)
        if m:
            errors += sum(int(g) for g in m.groups())
    return Run(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        p99_ms=to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        cpu_us=cpu * 1e6 / max(requests, 1),
        requests=requests,
        errors=errors,
    )


def label_set_footprint(binary: Path, starform: Path, work: Path, live: int) -> tuple[int, int | None, int]:
    """Envoy RSS (KiB), live wasm VMs and starform series after `live` label sets were hit."""
    admin, port = free_port(), free_port()
    routes = "".join(
        f"""
              - name: httproute/bench/t{i}.prod.api/rule/0/match/0/h
                match: {{ path: /t/{i} }}
                direct_response: {{ status: 200 }}"""
        for i in range(live)
    )
    yaml = single_listener_bootstrap(
        admin, "labels", port, routes, wasm_filter("starform_l7_identity", starform, "{}")
    )
    envoy = Envoy(binary, work, f"labels-{live}", yaml, admin, 0)
    try:
        send_all(port, (f"/t/{i}" for i in range(live)), "label-set run")
        time.sleep(2.5)  # let the filter flush and Envoy merge the histograms
        prom = envoy.get("/stats/prometheus")
        series = len({m.group(1) for m in re.finditer(r'^starform_http_requests_total\{([^}]*)\}', prom, re.M)})
        vms = envoy.stat("wasm.envoy.wasm.runtime.v8.active")
        return envoy.rss_kib(), vms, series
    finally:
        envoy.stop()


def main() -> None:
    ap = arguments(__doc__, "--starform")
    ap.add_argument("--noop", type=Path, required=True, help="the no-op floor module")
    ap.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds after the warm-up round")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--label-sets", type=int, default=5000, help="label sets live for the RSS row")
    ap.add_argument("--json", type=Path, help="also write the medians and footprint here (bench/summarise.py)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=FILE",
                    help="another build of the filter, run as variant NAME (repeatable)")
    args = ap.parse_args()
    extra = {}
    for spec in args.variant:
        name, _, file = spec.partition("=")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in VARIANTS or not Path(file).is_file():
            sys.exit(f"--variant {spec!r}: want NAME=FILE, NAME a new lowercase word, FILE a module")
        extra[name] = Path(file)
        VARIANTS.append(name)

    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 CPUs: Envoy on CPU 0, wrk and the upstream on CPU 1")
    if not shutil.which("wrk"):
        sys.exit("wrk not found (Debian package wrk; bench/run.sh installs it)")

    work = Path(tempfile.mkdtemp(prefix="starform-bench-"))
    ports = Ports()
    upstream = Envoy(args.envoy, work, "upstream", upstream_bootstrap(ports), ports.upstream_admin, 1)
    envoy = Envoy(args.envoy, work, "bench", bench_bootstrap(ports, args.noop, args.starform, extra), ports.admin, 0)
    runs: dict = {key: [] for key in ports.listeners}
    try:
        for round_no in range(args.rounds + 1):
            for path in PATHS:
                for variant in VARIANTS:
                    r = wrk(ports.listeners[(path, variant)], args.seconds, args.connections, envoy)
                    if r.errors:
                        sys.exit(f"{path}/{variant}: {r.errors} errors or non-2xx responses")
                    if round_no > 0:  # round 0 warms up
                        runs[(path, variant)].append(r)
            print(f"round {round_no}/{args.rounds} done", file=sys.stderr, flush=True)
        time.sleep(2.5)
        prom = envoy.get("/stats/prometheus")
    finally:
        envoy.stop()
        upstream.stop()

    counted = sum(
        int(float(m.group(1)))
        for m in re.finditer(r'^starform_http_requests_total\{[^}]*project="acme"[^}]*\} (\S+)', prom, re.M)
    )
    module_bytes = args.starform.stat().st_size
    footprint = [
        label_set_footprint(args.envoy, args.starform, work, n) for n in (1, args.label_sets)
    ]
    shutil.rmtree(work, ignore_errors=True)

    med = {k: Run(*(statistics.median(getattr(r, f) for r in v) for f in ("rps", "p50_ms", "p99_ms", "cpu_us", "requests", "errors")))
           for k, v in runs.items()}
    print(f"\nEnvoy 1.40, 1 worker on CPU 0; wrk -t1 -c{args.connections} on CPU 1; "
          f"{args.rounds} rounds x {args.seconds:g} s per variant after a warm-up round; medians\n")
    print(f"{'path':<9} {'variant':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} "
          f"{'rps/none':>9} {'rps/noop':>9} {'µs - none':>10} {'µs - noop':>10}")
    for path in PATHS:
        none, noop = med[(path, "none")], med[(path, "noop")]
        for variant in VARIANTS:
            m = med[(path, variant)]
            print(f"{path:<9} {variant:<9} {m.rps:>9.0f} {m.p50_ms:>8.3f} {m.p99_ms:>8.3f} {m.cpu_us:>11.2f} "
                  f"{m.rps / none.rps:>9.3f} {m.rps / noop.rps:>9.3f} {m.cpu_us - none.cpu_us:>+10.2f} "
                  f"{m.cpu_us - noop.cpu_us:>+10.2f}")

    print(f"\nstarform module: {module_bytes} bytes")
    for n, (rss, vms, series) in zip((1, args.label_sets), footprint):
        print(f"label sets live {n:>5}: Envoy RSS {rss / 1024:.1f} MiB, wasm VMs active {vms}, "
              f"starform_http_requests_total series {series}")
    served = sum(r.requests for (p, v), rs in runs.items() if v == "starform" or v in extra for r in rs)
    print(f"starform{''.join(' + ' + n for n in extra)} listeners: wrk counted {served} responses "
          f"in timed rounds; the filters counted {counted} (all rounds, warm-up included)")

    if args.json:
        import json
        args.json.write_text(json.dumps({
            "variants": VARIANTS,
            "median": {f"{p} {v}": {"rps": m.rps, "cpu_us": m.cpu_us, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms}
                       for (p, v), m in med.items()},
            "module_bytes": module_bytes,
            "label_sets": args.label_sets,
            "rss_mib": {str(n): rss / 1024 for n, (rss, _, _) in zip((1, args.label_sets), footprint)},
        }, indent=1))

    d, u = PATHS
    print()
    for path in PATHS:
        for variant in VARIANTS[1:]:
            m, none = med[(path, variant)], med[(path, "none")]
            print(f"RATIO {path} {variant}/none: rps {m.rps / none.rps:.3f}, "
                  f"CPU {m.cpu_us / none.cpu_us:.3f} ({m.cpu_us - none.cpu_us:+.2f} µs/req)")
        s, noop = med[(path, "starform")], med[(path, "noop")]
        print(f"RATIO {path} starform/noop: rps {s.rps / noop.rps:.3f}, "
              f"CPU {s.cpu_us / noop.cpu_us:.3f} ({s.cpu_us - noop.cpu_us:+.2f} µs/req; target <= +{TARGET_FLOOR_US:g})")
    up = med[(u, "starform")].rps / med[(u, "none")].rps
    print(f"TARGET filter cost over the no-op floor (direct): {med[(d, 'starform')].cpu_us - med[(d, 'noop')].cpu_us:+.2f} µs/req "
          f"(<= {TARGET_FLOOR_US:g}: {'met' if med[(d, 'starform')].cpu_us - med[(d, 'noop')].cpu_us <= TARGET_FLOOR_US else 'MISSED'})")
    print(f"TARGET upstream rps starform/none: {up:.3f} (>= {TARGET_UPSTREAM_RPS}: {'met' if up >= TARGET_UPSTREAM_RPS else 'MISSED'})")
    print(f"TARGET module size: {module_bytes} bytes (<= {TARGET_MODULE_BYTES}: "
          f"{'met' if module_bytes <= TARGET_MODULE_BYTES else 'MISSED'})")


if __name__ == "__main__":
    main()
