#!/usr/bin/env bash
# Module entries and host calls per request in a real Envoy (deterministic;
# docs/performance.md): builds the filter with the bench-only cargo feature
# `call-counts` into its own target dir and runs bench/call_counts.py.
#   bench/call_counts.sh [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY=${STARFORM_ENVOY:-$(scripts/envoy-venv.sh)}
cargo build --quiet --target wasm32-wasip1 --profile wasm-release \
  -p starform-envoy-filter --features call-counts --target-dir target/counts-wasm
python3 bench/call_counts.py --envoy "$ENVOY" \
  --module target/counts-wasm/wasm32-wasip1/wasm-release/starform_envoy_filter.wasm "$@"
