#!/usr/bin/env bash
# Runs three proglog nodes from the root filesystem build-rootfs.sh made (as a podman image
# where podman works, else chrooted) in network namespaces and checks they form a cluster.
# Usage: deploy/image/test-rootfs-cluster.sh [BUILD_DIR]   (`make image-test` builds first)
# PROGLOG_ROOTFS_TAR and PROGLOG_IMAGE name another root filesystem and image, e.g. the
# Dockerfile's image exported with `podman export`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${1:-build}
[[ $build_dir = /* ]] || build_dir="$repo/$build_dir"
tar=${PROGLOG_ROOTFS_TAR:-$build_dir/image/proglog-rootfs.tar}
[[ -s $tar ]] || { echo "no $tar: run deploy/image/build-rootfs.sh first" >&2; exit 1; }
version=$(dpkg-deb --field "$(ls "$build_dir"/package/proglog_*_amd64.deb | head -1)" Version)
export PROGLOG_ROOTFS_TAR="$tar" PROGLOG_IMAGE="${PROGLOG_IMAGE:-localhost/proglog:$version}"
cd "$repo/tests/deploy"
exec python3 -m pytest -q -s -p no:cacheprovider image_cluster.py
