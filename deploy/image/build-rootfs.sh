#!/usr/bin/env bash
# Builds the proglog runtime root filesystem without a container registry: Debian bookworm's
# Essential packages plus the proglog .deb (`make package`) and the libraries it depends on,
# from the Debian mirror this machine's apt uses, with mmdebstrap. The result is the same
# runtime the Dockerfile's second stage makes: /usr/bin/proglog, user proglog (65532),
# /var/lib/proglog for data.
#
# Usage: deploy/image/build-rootfs.sh [BUILD_DIR]   (default: build)
# Writes BUILD_DIR/image/proglog-rootfs.tar and, where podman runs, imports it as the image
# localhost/proglog:<version> with the Dockerfile's entrypoint, user, volume and ports.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${1:-build}
[[ $build_dir = /* ]] || build_dir="$repo/$build_dir"

deb=$(ls "$build_dir"/package/proglog_*_amd64.deb 2>/dev/null | head -1 || true)
[[ -n $deb ]] || { echo "build-rootfs: no proglog .deb in $build_dir/package: run make package" >&2; exit 1; }
version=$(dpkg-deb --field "$deb" Version)
command -v mmdebstrap >/dev/null || { echo "build-rootfs: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }

# The machine's own apt sources, so the build works wherever apt does (a local mirror too).
sources=$(mktemp --suffix=.sources)
trap 'rm -f "$sources"' EXIT
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
  cat /etc/apt/sources.list.d/debian.sources > "$sources"
else
  grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null > "${sources%.sources}.list"
  mv "${sources%.sources}.list" "$sources.list"; sources="$sources.list"
fi

out_dir="$build_dir/image"
mkdir -p "$out_dir"
tar="$out_dir/proglog-rootfs.tar"
# The package's dependencies (names only; the first of alternatives) come from the mirror;
# the package itself is installed with dpkg inside the new root, running its scripts there.
depends=$(dpkg-deb --field "$deb" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/ //g' |
  grep . | paste -sd, -)

mmdebstrap --variant=essential --quiet \
  --include="$depends" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" dpkg --install /tmp/$(basename "$deb")" \
  --customize-hook="rm \"\$1/tmp/$(basename "$deb")\"" \
  --customize-hook='echo "proglog:x:65532:65532:proglog:/var/lib/proglog:/usr/sbin/nologin" >> "$1/etc/passwd"' \
  --customize-hook='echo "proglog:x:65532:" >> "$1/etc/group"' \
  --customize-hook='install -d -o 65532 -g 65532 -m 0700 "$1/var/lib/proglog"' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
  bookworm "$tar" "$sources"
echo "build-rootfs: $tar ($(du -h "$tar" | cut -f1))"

if command -v podman >/dev/null && podman info >/dev/null 2>&1; then
  # The previous build of this version would stay behind untagged.
  podman rmi --ignore "localhost/proglog:$version" >/dev/null 2>&1 || true
  podman import \
    --change 'ENTRYPOINT ["/usr/bin/proglog"]' \
    --change 'CMD ["serve"]' \
    --change 'USER 65532:65532' \
    --change 'WORKDIR /var/lib/proglog' \
    --change 'ENV PROGLOG_DATA_DIR=/var/lib/proglog' \
    --change 'VOLUME /var/lib/proglog' \
    --change 'EXPOSE 8400/tcp' --change 'EXPOSE 8401/tcp' --change 'EXPOSE 8401/udp' \
    --change 'EXPOSE 9400/tcp' \
    "$tar" "localhost/proglog:$version" >/dev/null
  echo "build-rootfs: imported localhost/proglog:$version into podman"
else
  echo "build-rootfs: podman does not run here; the root filesystem is the tar above"
fi
