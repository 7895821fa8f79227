#!/usr/bin/env bash
# The cost breakdown's variants (docs/performance.md, "Per-request VM entries
# and host calls"): builds bench/probe-filter once per cargo feature, each
# into its own target dir, and runs bench/run.sh with them as variants
# (probe_min: context create + log + done; probe_body: + the body callbacks,
# the Starform filter's exports doing nothing; probe_route / probe_clock /
# probe_status / probe_histogram: probe_min + that one kind of host call;
# probe_all: every export and host call of the Starform filter, no logic).
#   bench/variants.sh [bench/run.sh arguments, e.g. --repeat 3 or --variant before=OLD.wasm]
set -euo pipefail
cd "$(dirname "$0")/.."
ARGS=()
for feature in min body route clock status histogram all; do
  cargo build --quiet --target wasm32-wasip1 --profile wasm-release -p starform-bench-probe-filter \
    $([ "$feature" = min ] || echo --features "$feature") --target-dir "target/probe-$feature"
  ARGS+=(--variant "probe_$feature=target/probe-$feature/wasm32-wasip1/wasm-release/starform_bench_probe_filter.wasm")
done
exec bench/run.sh "$@" "${ARGS[@]}"
