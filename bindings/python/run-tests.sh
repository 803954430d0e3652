#!/usr/bin/env bash
# Proves `pip install .` works in a fresh virtual environment, then runs the
# Python tests against the installed package (never the source tree), and
# checks with mypy that the package's types reach user code.
# Usage: bindings/python/run-tests.sh [BUILD_DIR]   (default: build)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${1:-build}
[[ $build_dir = /* ]] || build_dir="$repo/$build_dir"
venv="$build_dir/python-venv"

rm -rf "$venv"
python3 -m venv "$venv"
# The CMake build of the wheel is kept under the build dir so reinstalls are incremental.
# grpcio and grpcio-tools: the cluster tests read each node's copy of the log with a raw
# gRPC client generated from the proto (tests/e2e/harness.py).
"$venv/bin/python" -m pip install -q "$repo[test]" grpcio grpcio-tools \
  --config-settings=build-dir="$build_dir/python-wheel"

export PROGLOG_README="$repo/README.md"
if [[ -x "$build_dir/server/proglog" ]]; then
  export PROGLOG_BIN="$build_dir/server/proglog"
fi
cd "$build_dir"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/bindings/python/tests"
