#!/usr/bin/env bash
# Compares libproglog's public ABI with the committed baseline. Both sides are
# written by abidw with the same filters (public header types, exported
# interfaces), so only changes a C caller can see are reported. Any difference
# fails; after an intended change, rebuild the proglog-abi-baseline target and
# commit capi/abi/libproglog.abi.
# Usage: abi_test.sh LIBRARY SOURCE_DIR WORK_DIR
set -euo pipefail
lib=$1 source_dir=$2 work=$3
mkdir -p "$work"
abidw --no-corpus-path --no-show-locs --drop-private-types --exported-interfaces-only \
  --headers-dir "$source_dir/capi/include/proglog" --out-file "$work/current.abi" "$lib"
if ! abidiff "$source_dir/capi/abi/libproglog.abi" "$work/current.abi"; then
  echo "libproglog's ABI differs from capi/abi/libproglog.abi (see above)" >&2
  exit 1
fi
echo "ok: ABI matches the baseline"
