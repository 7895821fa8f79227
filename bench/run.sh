#!/usr/bin/env bash
# The benchmark command (docs/performance.md):
#   bench/run.sh           full run: the Envoy filter variants (bench/envoy_bench.py, about
#                          5 minutes), then the log transform (bench/transform.sh)
#   bench/run.sh --smoke   a few seconds each: proves the benchmarks still run (CI does this)
# Needs 2 CPUs. Installs wrk (Debian) and Envoy 1.40.0 (./.venv) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then SMOKE=1; shift; fi
# Any other arguments go to bench/envoy_bench.py (e.g. --variant before=FILE, --seconds N).

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
ENVOY=$(scripts/envoy-venv.sh)

# The CLI built with the feature set `cargo test --workspace` resolves (the
# root package alone resolves another and would rebuild wasmtime).
cargo build --release --quiet -p starform-wasm -p starform-host-tests --bin starform-wasm
cargo build --quiet --target wasm32-wasip1 --profile wasm-release \
  -p starform-bench-noop-filter --target-dir target/bench-wasm
MODULES=target/bench-modules
target/release/starform-wasm export-modules "$MODULES" >/dev/null
NOOP=target/bench-wasm/wasm32-wasip1/wasm-release/starform_bench_noop_filter.wasm

if [ "$SMOKE" = 1 ]; then
  ENVOY_ARGS=(--seconds 1 --rounds 1 --label-sets 50)
else
  ENVOY_ARGS=()
fi
ENVOY_ARGS+=("$@")
python3 bench/envoy_bench.py --envoy "$ENVOY" --starform "$MODULES/starform_envoy_filter.wasm" \
  --noop "$NOOP" "${ENVOY_ARGS[@]}"

echo
if [ "$SMOKE" = 1 ]; then
  bench/transform.sh --smoke
else
  bench/transform.sh
fi
