#!/usr/bin/env bash
# Fails if libproglog exports any symbol but proglog_* (and its version node),
# or if it lacks a versioned SONAME.
set -euo pipefail
lib=$1
others=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v -e '^proglog_' -e '^PROGLOG_[0-9]*$' || true)
if [[ -n $others ]]; then
  echo "exported symbols outside proglog_*:"; echo "$others" | head -20; exit 1
fi
count=$(nm -D --defined-only "$lib" | grep -c ' proglog_')
[[ $count -gt 20 ]] || { echo "only $count proglog_ symbols exported"; exit 1; }
readelf -d "$lib" | grep -q 'SONAME.*libproglog\.so\.[0-9]' || { echo "no versioned SONAME"; exit 1; }
echo "ok: $count proglog_* symbols, versioned SONAME"
