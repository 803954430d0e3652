#!/usr/bin/env bash
# Installs what proglog needs on a fresh Debian 12 machine: Debian packages with
# apt-get (only those missing) and the Python packages the tests use.
#   --build-only   only what building the `proglog` binary and its Debian package needs
#                  (deploy/image/Dockerfile's build stage uses this)
set -euo pipefail

# The binary and its package: compilers, the libraries it links, and the
# packaging tools (help2man for the man page, dpkg-dev and file for cpack).
build_packages=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libssl-dev libisal-dev liburing-dev libspdlog-dev libyaml-cpp-dev libcli11-dev
  nlohmann-json3-dev libmsgpack-cxx-dev libcpp-httplib-dev libcurl4-openssl-dev
  help2man file dpkg-dev
)
if [[ ${1:-} == --build-only ]]; then
  build_only=1
elif [[ -n ${1:-} ]]; then
  echo "install-deps: unknown argument $1 (the only one is --build-only)" >&2
  exit 2
else
  build_only=0
fi

debian_packages=("${build_packages[@]}")
if ((!build_only)); then
  debian_packages+=(
    ccache libgtest-dev libgmock-dev libbenchmark-dev
    clang clang-format clang-tidy libclang-rt-14-dev abigail-tools serf openssl
    prometheus lintian man-db
  )
fi
python_packages=(grpcio grpcio-tools pytest scikit-build-core pybind11 mypy)
if ((!build_only)); then
  debian_packages+=(swig default-jdk-headless maven)  # bindings/java
  debian_packages+=(doxygen)  # make docs: the C API reference
  debian_packages+=(iptables) python_packages+=(fnfqueue)  # tests/chaos: partitions, netem over NFQUEUE
fi

missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
((build_only)) && exit 0

python3 - "${python_packages[@]}" <<'PY' || python3 -m pip install -q "${python_packages[@]}"
import importlib.metadata, sys
for name in sys.argv[1:]:
    importlib.metadata.version(name)
PY

# helm for the chart checks in tests/deploy (built from the Go module proxy, once).
[[ -x $HOME/go/bin/helm ]] || command -v helm >/dev/null || GOBIN=$HOME/go/bin go install helm.sh/helm/v3/cmd/helm@v3.16.4
