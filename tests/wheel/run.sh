#!/usr/bin/env bash
# Builds the repaired wheel (scripts/build-wheel.sh), installs it alone into a fresh
# virtualenv (no index: nothing is built or downloaded) and checks it (check_wheel.py): its
# ELF files resolve only to themselves and the manylinux base, and in a mount namespace where
# the system's gRPC, protobuf, abseil, OpenSSL, curl... are gone, the README's Python example
# runs and a client works against a real `proglog` server over mutual TLS.
# Usage: tests/wheel/run.sh [BUILD_DIR]   (default: build; needs BUILD_DIR/server/proglog or
# PROGLOG_BIN, and root or unprivileged user namespaces for `unshare`)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=$(realpath -m "${1:-build}")
python=${PYTHON:-python3}
proglog_bin=${PROGLOG_BIN:-$build_dir/server/proglog}
[[ -x $proglog_bin ]] || { echo "tests/wheel: no proglog binary at $proglog_bin" >&2; exit 1; }

wheelhouse="$build_dir/wheelhouse"
rm -rf "$wheelhouse"
"$repo/scripts/build-wheel.sh" "$build_dir" "$wheelhouse"
wheel=$(ls "$wheelhouse"/proglog-*.whl)

venv="$build_dir/wheel-venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --no-index --no-deps "$wheel"

work=$(mktemp -d "$build_dir/wheel-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The manylinux policies (allowed system libraries per tag) of the auditwheel that repaired it.
tools_site=$(echo "$build_dir"/wheel-tools/lib/python3*/site-packages)
policy="$tools_site/auditwheel/policy/manylinux-policy.json"
raw=$(ls "$build_dir"/wheel-raw/proglog-*.whl)  # as pip built it, before the repair
"$python" "$repo/tests/wheel/check_wheel.py" --wheel "$wheel" --raw-wheel "$raw" --venv "$venv" \
  --proglog-bin "$proglog_bin" --readme "$repo/README.md" --policy "$policy" --work "$work"
echo "tests/wheel: passed"
