#!/usr/bin/env bash
# Runs every test: the C++ suites and the end-to-end tests registered with ctest,
# then the Python, Go and Java binding tests when those bindings are present.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."

ctest --test-dir "$build_dir" --output-on-failure -j 2 --timeout 900

if [[ -x bindings/python/run-tests.sh ]]; then
  bindings/python/run-tests.sh "$build_dir"
fi
if [[ -x bindings/go/run-tests.sh ]]; then
  bindings/go/run-tests.sh "$build_dir"
fi
if [[ -x bindings/java/run-tests.sh ]]; then
  bindings/java/run-tests.sh "$build_dir"
fi
