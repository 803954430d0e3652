#!/usr/bin/env bash
# Builds and runs the Go SDK benchmark (binding vs grpc-go) against the proglog
# binary of a build dir. Usage: bench/sdk/run-go-bench.sh [BUILD_DIR]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${1:-build}
[[ $build_dir = /* ]] || build_dir="$repo/$build_dir"
prefix="$build_dir/bench-sdk-prefix"
cmake --install "$build_dir" --component sdk --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$(dirname "$(find "$prefix" -name proglog.pc | head -1)")"
export LD_LIBRARY_PATH="$(pkg-config --variable=libdir proglog)"
cd "$repo/bench/sdk/go"
go build -o "$build_dir/sdkbench" .
"$build_dir/sdkbench" -proglog-bin "$build_dir/server/proglog" "${@:2}"
