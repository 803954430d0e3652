#!/usr/bin/env bash
# Installs the "sdk" component into a private prefix, builds the C example in a
# separate CMake project through find_package(proglog), and runs it.
# Usage: cmake_package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1 source_dir=$2
work="$build_dir/tests/capi/cmake-package"
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --component sdk --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/tests/capi/cmake_consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DPROGLOG_EXAMPLE="$source_dir/capi/examples/quickstart.c" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/quickstart" "$work/data" | tee "$work/output.txt"
grep -q '^consumed world at ' "$work/output.txt"
