#!/usr/bin/env bash
# Installs libproglog (the "sdk" component) into a prefix inside the build dir,
# then vets and race-tests the Go module against it, found through pkg-config
# as a user's build would find it.
# Usage: bindings/go/run-tests.sh [BUILD_DIR]   (default: build)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${1:-build}
[[ $build_dir = /* ]] || build_dir="$repo/$build_dir"
prefix="$build_dir/go-sdk-prefix"

rm -rf "$prefix"
cmake --install "$build_dir" --component sdk --prefix "$prefix" >/dev/null
pc_file=$(find "$prefix" -name proglog.pc | head -1)
[[ -n $pc_file ]] || { echo "no proglog.pc under $prefix: was libproglog built?" >&2; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc_file")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$(pkg-config --variable=libdir proglog)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [[ -x "$build_dir/server/proglog" ]]; then
  export PROGLOG_BIN="$build_dir/server/proglog"
fi
export CGO_ENABLED=1

cd "$repo/bindings/go"
unformatted=$(gofmt -l .)
[[ -z $unformatted ]] || { echo "gofmt needed: $unformatted" >&2; exit 1; }
go vet ./...
go test -race -count=1 -timeout 10m ./...
