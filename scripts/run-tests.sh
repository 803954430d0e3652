#!/usr/bin/env bash
# Runs every test: the C++ suites and the end-to-end tests registered with ctest,
# then the Python, Go and Java binding tests when those bindings are present, and last
# the API reference of every language (docs/build.sh: it fails on any warning).
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."

ctest --test-dir "$build_dir" --output-on-failure -j 2 --timeout 900

if [[ -x bindings/python/run-tests.sh ]]; then
  bindings/python/run-tests.sh "$build_dir"
fi
# The self-contained wheel (make wheel): after the Python tests its CMake build is done, so
# this costs a relink, auditwheel's repair and a few seconds of checks.
if [[ -x tests/wheel/run.sh ]]; then
  tests/wheel/run.sh "$build_dir"
fi
if [[ -x bindings/go/run-tests.sh ]]; then
  bindings/go/run-tests.sh "$build_dir"
fi
if [[ -x bindings/java/run-tests.sh ]]; then
  bindings/java/run-tests.sh "$build_dir"
fi

# The Python package is installed in build/python-venv by the Python tests above.
PROGLOG_DOCS_PACKAGE_INSTALLED=1 docs/build.sh "$build_dir"
