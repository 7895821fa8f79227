#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, cargo-fuzz + libFuzzer) and runs each for
# SECONDS (default 20), one per core at a time (FUZZ_JOBS), at the lowest CPU
# priority.
#   scripts/fuzz.sh            # the short form CI runs
#   scripts/fuzz.sh 600        # the 10-minute runs docs/reliability.md reports
#   FUZZ_TARGETS="wasm_filter" scripts/fuzz.sh 60
#   FUZZ_KEEP_GOING=1 scripts/fuzz.sh 600   # collect every finding, don't stop
#   scripts/fuzz.sh --build-only             # seed and build, no fuzzing
# A finding stops its target with a non-zero exit (so this script fails) and
# leaves the input in fuzz/artifacts/<target>/; replay it with
#   scripts/fuzz.sh --replay <target> <file>
# Corpora are seeded from the repository's own files into fuzz/corpus/
# (not committed) and grow across runs on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS="route_policy filter_config transform_rules transform_config wasm_filter wasm_transform"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
MAX_LEN=65536

# The machine's one toolchain (stable): libFuzzer's instrumentation needs no
# sanitizer runtime here (-s none: the fuzzed code has no unsafe of its own;
# panics and the oracles' assertions are the findings), and RUSTC_BOOTSTRAP
# lets cargo-fuzz pass its few unstable flags. Only for cargo-fuzz: cargo
# fingerprints RUSTC_BOOTSTRAP, so exported it would make the `cargo test`
# below rebuild the whole workspace.
FUZZ=(env RUSTC_BOOTSTRAP=1 cargo fuzz)

step() { printf '\n==> %s\n' "$*"; }

if ! "${FUZZ[@]}" --version >/dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# The modules the tests ran, byte for byte: the fuzz build embeds these
# instead of compiling its own (build.rs, STARFORM_PREBUILT_WASM_DIR).
# `cargo test --release --workspace` builds the CLI (for tests/all/cli_*.rs) with
# the features scripts/test.sh's test run resolves: after that run this is a
# no-op, where a plain `cargo build` would rebuild wasmtime. A caller that
# exported them already (scripts/test.sh) sets STARFORM_PREBUILT_WASM_DIR:
# exporting again would touch the files and rebuild the fuzz targets.
if [ -z "${STARFORM_PREBUILT_WASM_DIR:-}" ]; then
  step "exporting the embedded modules"
  cargo test --release --workspace --no-run --quiet
  target/release/starform-wasm export-modules fuzz/modules
  export STARFORM_PREBUILT_WASM_DIR="$PWD/fuzz/modules"
fi

if [ "${1:-}" = "--replay" ]; then
  target=$2 file=$3
  "${FUZZ[@]}" run -s none "$target" "$file"
  exit
fi
BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
  BUILD_ONLY=1
fi
SECONDS_PER_TARGET=${1:-20}

step "seeding fuzz/corpus from the repository"
python3 - <<'PY'
import hashlib, json, os, pathlib, re

root = pathlib.Path(".")
corpus = root / "fuzz" / "corpus"
MAX = 65536

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX:
        return
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)

# Log records: every line of every golden input, and each small input whole.
golden = root / "host-tests" / "golden"
for case in sorted(p for p in golden.iterdir() if p.is_dir()):
    data = (case / "input.ndjson").read_bytes()
    for t in ("transform_rules", "wasm_transform"):
        put(t, data)
        for line in data.split(b"\n"):
            put(t, line)
    config = case / "config.json"
    if config.exists():
        put("transform_config", config.read_bytes())
put("transform_config", (root / "deploy/fluent-bit/log-transform.json").read_bytes())
put("transform_config", "{}")

# Route names: the shipped bootstrap's routes.
bootstrap = (root / "deploy/envoy/envoy.yaml").read_text()
routes = re.findall(r"- name: (\S+)\n\s+match:", bootstrap)
assert len(routes) >= 5, routes
put("route_policy", "\n".join(routes))
for r in routes:
    put("route_policy", r)
# wasm_filter: a settings byte, then one request per line (control byte +
# route name); every policy, with and without spoofing headers.
for settings in range(12):
    lines = [bytes([control]) + r.encode() for r in routes for control in (0, 16, 2)]
    lines.append(b"\x01")
    put("wasm_filter", bytes([settings]) + b"\n".join(lines))

# Plugin configurations: the shipped ones and one with every field.
for config in re.findall(r"value: \|\n\s+(\{.*\})", bootstrap):
    put("filter_config", config)
put("filter_config", "{}")
put("filter_config", json.dumps({
    "route_pattern": "^(?P<project>[a-z]+)/(?P<environment>[a-z]+)/(?P<service>[a-z]+)$",
    "preview_pattern": "^pr-[0-9]+$", "preview_policy": "suppress",
    "preview_environment": "review", "max_label_sets": 7, "max_cached_routes": 9}))
PY

step "building the fuzz targets"
nice -n 19 "${FUZZ[@]}" build -s none
if [ "$BUILD_ONLY" = 1 ]; then
  exit 0
fi

mkdir -p fuzz/logs
# Targets run side by side, one per core (FUZZ_JOBS to choose): each still
# gets its SECONDS_PER_TARGET of a core to itself.
JOBS=${FUZZ_JOBS:-$(nproc)}

# One target's run; its exit status and new findings go to fuzz/logs/.
fuzz_one() {
  local target=$1 dict=() mode=() before status
  if [ -f "fuzz/dicts/$target.dict" ]; then
    dict=(-dict="fuzz/dicts/$target.dict")
  fi
  if [ -n "${FUZZ_KEEP_GOING:-}" ]; then
    mode=(-fork=1 -ignore_crashes=1)
  fi
  mkdir -p "fuzz/artifacts/$target"
  before=$(ls "fuzz/artifacts/$target" | wc -l)
  set +e
  nice -n 19 "${FUZZ[@]}" run -s none "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=$MAX_LEN -timeout=30 \
    -print_final_stats=1 "${mode[@]}" "${dict[@]}" >"fuzz/logs/$target.log" 2>&1
  status=$?
  set -e
  echo "$status $(( $(ls "fuzz/artifacts/$target" | wc -l) - before ))" >"fuzz/logs/$target.result"
}

step "fuzzing $TARGETS for ${SECONDS_PER_TARGET}s each, $JOBS at a time"
running=0
for target in $TARGETS; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
wait

failed=()
for target in $TARGETS; do
  step "$target"
  grep -E '^(#[0-9]+ +DONE|#[0-9]+: cov:|stat::number_of_executed_units|stat::peak_rss_mb)|panicked at|ERROR: libFuzzer' "fuzz/logs/$target.log" | tail -n 4 || true
  read -r status found <"fuzz/logs/$target.result" || { status=1 found=0; }
  if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
    tail -n 40 "fuzz/logs/$target.log" >&2
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/logs/)" >&2
  exit 1
fi
echo "fuzzing: no findings"
