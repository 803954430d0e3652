#!/usr/bin/env bash
# Installs the "sdk" component into a private prefix, then builds a C program
# against the installed header and library only (found with pkg-config) and runs
# it. Usage: example_test.sh BUILD_DIR SOURCE_DIR C_FILE|readme WORK_NAME
set -euo pipefail
build_dir=$1 source_dir=$2 program=$3 name=$4
work="$build_dir/tests/capi/$name"
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --component sdk --prefix "$work/prefix" >/dev/null
if [[ $program == readme ]]; then
  python3 "$source_dir/tests/capi/extract_readme.py" "$source_dir/README.md" c "$work/example.c"
  program="$work/example.c"
fi
pc_dir=$(dirname "$(find "$work/prefix" -name proglog.pc | head -1)")
export PKG_CONFIG_PATH="$pc_dir"
# -std=c99 -pedantic proves the header is plain C99.
cc -std=c99 -Wall -Wextra -Werror -pedantic "$program" -o "$work/example" \
  $(pkg-config --cflags --libs proglog)
export LD_LIBRARY_PATH="$(pkg-config --variable=libdir proglog)"
cd "$work"
./example "$work/data" | tee "$work/output.txt"
grep -q '^consumed world at ' "$work/output.txt"
grep -q '^past the end: PROGLOG_EOUTOFRANGE' "$work/output.txt"
grep -q '^streamed world at ' "$work/output.txt"
