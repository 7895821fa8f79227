#!/usr/bin/env python3
"""The playground page in a real headless Chromium against the CLI.

Serves the page with `starform-wasm playground --port 0`, drives the system
Chromium through the DevTools protocol (websocket-client), and checks that
the page prints what the CLI prints, byte for byte:

- Routes pane: every route-name literal of the filter's route tests
  (envoy-filter/src/route.rs, with its invalid-value table expanded) and of
  the CLI's route tests (tests/all/cli_route.rs), all in one VM as
  `starform-wasm route NAME...`, under several filter configurations;
- `#route=NAME`: each name alone, against `starform-wasm route NAME`;
- Logs pane: every record of every host-tests/golden/ case under its
  config.json, against `starform-wasm logs --config` (stdout and summary);
- `#record=RECORD&transform=CONFIG`: each record alone, against the CLI's
  line for it;
- VRL pane: `starform-wasm vrl --config` for each golden configuration;
- bad configurations: the page's error is the message the CLI prints after
  `--config FILE: `.

Without Chromium it exits 0 with a notice, except under CI=true, where that
is a failure. STARFORM_PLAYGROUND_SCREENSHOT=1 also writes docs/playground.png.

Usage: browser.py [--cli target/release/starform-wasm]
"""

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import websocket  # websocket-client

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 240
START_TIMEOUT_S = 30


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def route_names():
    """Route-name literals of the filter's and the CLI's route tests."""
    names = []
    route_rs = (ROOT / "envoy-filter/src/route.rs").read_text()
    tests = route_rs[route_rs.index("mod tests") :]
    for literal in re.findall(r'(?<![A-Za-z_])b?"((?:[^"\\]|\\.)*)"', tests):
        if "/" in literal and "\\" not in literal and "{" not in literal and "(?P" not in literal:
            names.append(literal)
    # The invalid-value table: ("p", "e", "s") into the name its test formats.
    long = "a" * 64
    for p, e, s in re.findall(r'\("([^"]*)", (?:"([^"]*)"|long\.as_str\(\)), "([^"]*)"\)', tests):
        names.append(f"httproute/ns/{p}.{e or long}.{s}/rule/0/match/0/h")
    names.append("httproute/ns/{0}.{0}.{0}/rule/0/match/0/h".format("a" * 63))
    cli_rs = (ROOT / "tests/all/cli_route.rs").read_text()
    for literal in re.findall(r'"((?:httproute|legacy)[^"{\\]*)"', cli_rs):
        names.append(literal)
    for p, e, s in re.findall(r'route\("([^"]*)", "([^"]*)", "([^"]*)"\)', cli_rs):
        names.append(f"httproute/default/{p}.{e}.{s}/rule/0/match/0/www_example_com")
    # The empty name (no_route) first: a final newline ends the list.
    unique = list(dict.fromkeys(["", *names]))
    check(len(unique) >= 20, f"found only {len(unique)} route names: {unique}")
    return unique


def golden_cases():
    cases = []
    for case in sorted((ROOT / "host-tests/golden").iterdir()):
        if not (case / "input.ndjson").is_file():
            continue
        config = case / "config.json"
        cases.append(
            (
                case.name,
                (case / "input.ndjson").read_bytes(),
                config.read_text() if config.is_file() else "{}",
            )
        )
    check(cases, "no golden cases")
    return cases


class Cli:
    def __init__(self, path, scratch):
        self.path = path
        self.scratch = scratch

    def config_file(self, text):
        fd, path = tempfile.mkstemp(suffix=".json", dir=self.scratch)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def run(self, args, stdin=b""):
        return subprocess.run(
            [self.path, *args], input=stdin, capture_output=True, timeout=120
        )

    def route(self, config, names):
        out = self.run(["route", "--config", self.config_file(config), "--", *names])
        check(out.returncode == 0, f"route failed: {out.stderr!r}")
        return out.stdout.decode()

    def logs(self, config, records):
        out = self.run(["logs", "--config", self.config_file(config)], records)
        check(out.returncode == 0, f"logs failed: {out.stderr!r}")
        return out.stdout.decode(), out.stderr.decode()

    def rejected(self, subcommand, config, stdin=b""):
        path = self.config_file(config)
        args = [subcommand, "--config", path]
        if subcommand == "route":
            args.append("x")
        out = self.run(args, stdin)
        check(out.returncode == 2, f"{subcommand} accepted {config}: {out!r}")
        return path, out.stderr.decode()


class Page:
    """One Chromium tab over the DevTools protocol."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                check("error" not in message, f"{method}: {message.get('error')}")
                return message["result"]

    def eval(self, expression):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        check("exceptionDetails" not in result, f"{expression[:200]}: {result}")
        return result["result"].get("value")

    def wait_for(self, expression, what, timeout=START_TIMEOUT_S):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.eval(expression):
                return
            time.sleep(0.05)
        raise Failed(f"timed out waiting for {what}")

    def text(self, element_id):
        return self.eval(f"document.getElementById({json.dumps(element_id)}).textContent")

    def fill(self, values):
        """Sets textareas as typing would (an input event each); returns
        their values as the page holds them (line breaks normalised)."""
        script = (
            "(() => { const out = {}; for (const [id, v] of Object.entries(%s)) {"
            " const t = document.getElementById(id); t.value = v;"
            " t.dispatchEvent(new Event('input')); out[id] = t.value; } return out; })()"
            % json.dumps(values)
        )
        return self.eval(script)

    def open_fragment(self, fragment):
        self.eval(f"location.hash = {json.dumps(fragment)}")
        self.wait_for(
            f"document.body.dataset.rendered === location.hash && location.hash === {json.dumps(fragment)}",
            f"the page to render {fragment[:80]}",
        )


def start_chromium(chromium, profile):
    process = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "--window-size=1280,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port_file = Path(profile) / "DevToolsActivePort"
    end = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < end:
        check(process.poll() is None, "chromium exited at start")
        if port_file.is_file():
            lines = port_file.read_text().splitlines()
            if lines:
                port = int(lines[0])
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return process, pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    process.kill()
    raise Failed("chromium did not open its DevTools port")


def start_playground(cli):
    process = subprocess.Popen(
        [cli, "playground", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = process.stdout.readline().decode().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise Failed(f"playground did not print its URL: {url!r} {process.stderr.read()!r}")
    return process, url


def fragment(**items):
    return "#" + "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in items.items())


ROUTE_CONFIGS = [
    "{}",
    '{"preview_policy":"suppress","max_label_sets":3}',
    '{"preview_policy":"full","preview_environment":"pr"}',
    '{"preview_policy":"short_retention"}',
    '{"route_pattern":"^(?P<project>[a-z]+)/(?P<environment>[a-z]+)(/(?P<service>[a-z]+))?$"}',
]


def test_routes(page, cli):
    names = route_names()
    for config in ROUTE_CONFIGS:
        held = page.fill({"filter-config": config, "route-names": "\n".join(names)})
        check(page.text("routes-error") == "", f"page rejected {config}: {page.text('routes-error')}")
        held_names = held["route-names"].split("\n")
        check(held_names == names, "the textarea changed a route name")
        want = cli.route(config, held_names)
        got = page.text("routes-output")
        check(got == want, f"routes under {config}:\npage: {got!r}\ncli:  {want!r}")
    for name in names:
        want = cli.route("{}", [name])
        page.open_fragment(fragment(route=name))
        got = page.text("route-result")
        check(got + "\n" == want, f"#route={name!r}: page {got!r}, cli {want!r}")
        check(page.eval("document.body.dataset.pane") == "routes", "#route opens the Routes pane")
    return len(names)


def test_bad_configurations(page, cli):
    cases = [
        ("route", "filter-config", "routes-error", '{"max_label_sets":0}', "max_label_sets"),
        ("route", "filter-config", "routes-error", '{"route_pattern":"("}', "route_pattern"),
        ("route", "filter-config", "routes-error", '{"preview_polcy":"full"}', "preview_polcy"),
        ("logs", "transform-config", "logs-error", '{"max_record_bytes":"x"}', "max_record_bytes"),
        ("logs", "transform-config", "logs-error", '{"nope":1}', "nope"),
        ("vrl", "transform-config", "vrl-error", '{"nope":1}', "nope"),
    ]
    for subcommand, box, error_id, config, field in cases:
        page.fill({box: config})
        shown = page.text(error_id)
        path, stderr = cli.rejected(subcommand, config)
        check(field in shown, f"{config}: the page's error does not name {field}: {shown!r}")
        check(
            stderr.endswith(f": {shown}\n") and f"--config {path}: " in stderr,
            f"{config}: page {shown!r}, cli {stderr!r}",
        )
    page.fill({"filter-config": "{}", "transform-config": "{}"})


def test_logs(page, cli):
    records = 0
    for name, data, config in golden_cases():
        text = data.decode("utf-8", errors="replace")
        held = page.fill({"transform-config": config, "log-records": text})
        check(page.text("logs-error") == "", f"{name}: page rejected its config")
        want_out, want_err = cli.logs(config, held["log-records"].encode())
        check(page.text("logs-output") == want_out, f"{name}: output differs")
        check(page.text("logs-summary") + "\n" == want_err, f"{name}: summary {page.text('logs-summary')!r} vs {want_err!r}")
        want_vrl = cli.run(["vrl", "--config", cli.config_file(config)]).stdout.decode()
        check(page.text("vrl-output") == want_vrl, f"{name}: VRL program differs")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        records += len(lines)
        # One CLI run over the case's exact bytes gives each record's line.
        want_lines = cli.logs(config, text.encode())[0].split("\n")
        for record, want in zip(lines, want_lines):
            page.open_fragment(fragment(record=record, transform=config))
            got = page.text("record-result")
            check(got == want, f"{name}: #record={record[:80]!r}: page {got[:200]!r}, cli {want[:200]!r}")
            check(page.eval("document.body.dataset.pane") == "logs", "#record opens the Logs pane")
    return records


def test_fresh_load(page, url, cli):
    """A deep link opened as a new page (not a fragment change)."""
    name = "httproute/default/acme.pr-42.web/rule/0/match/0/www_example_com"
    page.call("Page.navigate", url="about:blank")
    page.call("Page.navigate", url=url + fragment(route=name))
    page.wait_for("document.body && document.body.dataset.ready === 'true'", "the page to load")
    want = cli.route("{}", [name])
    check(page.text("route-result") + "\n" == want, "deep link on load")


def screenshot(page, url):
    names = "\n".join(
        [
            "httproute/default/acme.prod.web/rule/0/match/0/www_example_com",
            "httproute/default/acme.pr-42.web/rule/0/match/0/www_example_com",
            "httproute/default/acme.Prod.web/rule/0/match/0/www_example_com",
            "httproute/default/acme/rule/0/match/0/www_example_com",
            "legacy-route",
        ]
    )
    page.call("Page.navigate", url=url + fragment(routes=names, filter='{"preview_policy":"aggregate"}'))
    page.wait_for("document.body && document.body.dataset.ready === 'true'", "the page to load")
    page.call(
        "Emulation.setDeviceMetricsOverride", width=1100, height=760, deviceScaleFactor=1, mobile=False
    )
    shot = page.call("Page.captureScreenshot", format="png")
    out = ROOT / "docs/playground.png"
    out.write_bytes(base64.b64decode(shot["data"]))
    print(f"wrote {out.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", default=str(ROOT / "target/release/starform-wasm"))
    args = parser.parse_args()
    chromium = os.environ.get("STARFORM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        if os.environ.get("CI") == "true":
            print("FAIL: no chromium (Debian package chromium; scripts/test.sh installs it)", file=sys.stderr)
            return 1
        print("skipped: no chromium on PATH (set STARFORM_CHROMIUM); under CI=true this fails")
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        cli = Cli(args.cli, scratch)
        server, url = start_playground(args.cli)
        browser = None
        try:
            browser, ws_url = start_chromium(chromium, Path(scratch) / "profile")
            page = Page(ws_url)
            page.call("Page.enable")
            page.call("Page.navigate", url=url)
            page.wait_for("document.body && document.body.dataset.ready === 'true'", "the page to load")
            routes = test_routes(page, cli)
            test_bad_configurations(page, cli)
            records = test_logs(page, cli)
            test_fresh_load(page, url, cli)
            if os.environ.get("STARFORM_PLAYGROUND_SCREENSHOT"):
                screenshot(page, url)
            check(time.monotonic() - started < DEADLINE_S, "took longer than the deadline")
        except Failed as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 1
        finally:
            if browser:
                browser.kill()
                browser.wait()
            server.kill()
            server.wait()
    print(
        f"playground in Chromium: {routes} route names ({len(ROUTE_CONFIGS)} configurations, and each by #route=), "
        f"{records} golden records (and each by #record=), bad configurations, "
        f"VRL: all equal to the CLI ({time.monotonic() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
