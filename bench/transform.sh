#!/usr/bin/env bash
# The log transform benchmark (docs/performance.md):
#   1. criterion: records/s of the native rules, the wasm module (per-record
#      and batch entries) and the VRL twin on one corpus, with the ratios;
#   2. wasm instructions per record, the way Fluent Bit calls the module
#      (deterministic: the cost under WAMR's interpreter), with its TARGET and
#      the CEILING that fails the run (host-tests/benches/instructions.rs);
#   3. `starform-wasm logs` end to end on a 1,000,000-line file of the same
#      corpus: records/s (wall and CPU) and peak RSS.
# Usage: bench/transform.sh [--smoke]   (--smoke: a few seconds, 10,000 lines)
# Needs cargo and python3. The corpus file is written to a temporary
# directory and removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
LINES=1000000
case "${1:-}" in
  "") ;;
  --smoke) SMOKE=1; LINES=10000 ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

echo "==> criterion: bench/transform (host-tests/benches/transform.rs)"
if [ "$SMOKE" = 1 ]; then
  STARFORM_BENCH_SMOKE=1 cargo bench --quiet -p starform-host-tests --bench transform
else
  cargo bench --quiet -p starform-host-tests --bench transform
fi

echo
echo "==> wasm instructions per record (host-tests/benches/instructions.rs)"
cargo bench --quiet -p starform-host-tests --bench instructions

echo
echo "==> starform-wasm logs on $LINES lines"
# The CLI and the corpus example exactly as the test command builds them, so
# no dependency is compiled a second time (see bench/run.sh).
cargo test --release --workspace --no-run --quiet
WORK=$(mktemp -d "${TMPDIR:-/tmp}/starform-transform-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
target/release/examples/transform_corpus --config >"$WORK/config.json"
target/release/examples/transform_corpus "$LINES" >"$WORK/corpus.ndjson"

# Wall time and the child's own rusage (peak RSS = ru_maxrss) from wait4;
# stdout goes to /dev/null so the disk is not measured.
python3 - "$LINES" "$WORK/corpus.ndjson" target/release/starform-wasm logs --config "$WORK/config.json" <<'PY'
import os, subprocess, sys, time

lines, corpus, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
size = os.path.getsize(corpus)
with open(corpus, "rb") as stdin, open(os.devnull, "wb") as stdout:
    start = time.monotonic()
    child = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
    stderr = child.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"starform-wasm logs failed ({status}):\n{stderr}")
summary = stderr.strip().splitlines()[-1] if stderr.strip() else ""
words = summary.replace(",", " ").replace("(", " ").split()
counted = sum(int(words[i + 1]) for i, w in enumerate(words[:-1]) if w in ("accepted", "quarantined"))
if counted != lines:
    sys.exit(f"expected {lines} records in the summary, got: {summary!r}")
cpu = usage.ru_utime + usage.ru_stime
print(f"input: {lines} lines, {size / 1e6:.1f} MB (mean {size / lines - 1:.0f} bytes per line)")
print(f"outcomes: {summary}")
print(f"starform-wasm logs: {lines / wall:.0f} records/s wall ({wall:.2f} s), "
      f"{lines / cpu:.0f} records/s CPU ({cpu:.2f} s user+sys), {size / 1e6 / wall:.1f} MB/s")
print(f"starform-wasm logs: peak RSS {usage.ru_maxrss / 1024:.1f} MiB")
PY
