#!/usr/bin/env bash
# The benchmark command (docs/performance.md):
#   bench/run.sh           full run: the Envoy filter variants (bench/envoy_bench.py, about
#                          5 minutes per run), 3 runs, medians and spread and the TARGET
#                          lines judged on the medians (bench/summarise.py); then the log
#                          transform (bench/transform.sh)
#   bench/run.sh --repeat N  N runs of the Envoy part instead of 3
#   bench/run.sh --smoke   a few seconds each, one run: proves the benchmarks still run (CI
#                          does this; a missed target never fails it)
# Needs 2 CPUs. Installs wrk (Debian) and Envoy 1.40.0 (./.venv) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
REPEAT=3
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1; REPEAT=1; shift ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) break ;;
  esac
done
case "$REPEAT" in ''|*[!0-9]*|0) echo "--repeat wants a positive number" >&2; exit 2 ;; esac
# Any other arguments go to bench/envoy_bench.py (e.g. --variant before=FILE, --seconds N).

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
ENVOY=${STARFORM_ENVOY:-$(scripts/envoy-venv.sh)}

# The CLI exactly as the test command builds it: any other cargo invocation
# (a package alone, or without the dev-dependencies) resolves other features
# and compiles wasmtime a second time.
cargo test --release --workspace --no-run --quiet
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
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
for i in $(seq 1 "$REPEAT"); do
  echo "== Envoy benchmark, run $i of $REPEAT"
  python3 bench/envoy_bench.py --envoy "$ENVOY" --starform "$MODULES/starform_envoy_filter.wasm" \
    --noop "$NOOP" --json "$RUNS/$i.json" "${ENVOY_ARGS[@]}"
done
python3 bench/summarise.py "$RUNS"/*.json

echo
if [ "$SMOKE" = 1 ]; then
  bench/transform.sh --smoke
else
  bench/transform.sh
fi
