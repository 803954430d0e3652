# The two commands a newcomer needs: `make run` and `make test` (see README.md).
BUILD_DIR ?= build
DATA_DIR ?= $(CURDIR)/data
RPC_PORT ?= 8400
JOBS ?= 2
WHEEL_DIR ?= dist
CMAKE_FLAGS ?=

# Let ccache share objects between checkouts in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build run test docs clean format package image image-test wheel wheel-test

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Builds only the binary it runs (not the tests, benchmarks or SDKs).
run: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target proglog
	$(BUILD_DIR)/server/proglog serve --data-dir $(DATA_DIR) --rpc-port $(RPC_PORT) --node-name local --bootstrap

test: build
	@scripts/run-tests.sh $(BUILD_DIR)

# The API reference (C, Python, Go, Java) in $(BUILD_DIR)/docs; any warning fails it.
docs: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target proglog_capi
	@docs/build.sh $(BUILD_DIR)

# proglog_<version>_amd64.deb in $(BUILD_DIR)/package (docs/deploy.md).
package: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target proglog proglog_package_files
	@cd $(BUILD_DIR) && cpack --config CPackConfig.cmake >/dev/null
	@ls $(BUILD_DIR)/package/proglog_*_amd64.deb

# The runtime root filesystem (mmdebstrap) with the package, imported into podman where
# it runs; image-test runs a 3-node cluster from it (slow: builds a root filesystem).
image: package
	@deploy/image/build-rootfs.sh $(BUILD_DIR)

image-test: image
	@deploy/image/test-rootfs-cluster.sh $(BUILD_DIR)

# A manylinux wheel of the Python package with libproglog and its shared libraries inside
# (pip wheel + auditwheel repair), in $(WHEEL_DIR); see README.md, Python.
wheel: deps
	@JOBS=$(JOBS) scripts/build-wheel.sh $(BUILD_DIR) $(WHEEL_DIR)

# Builds the wheel into $(BUILD_DIR)/wheelhouse and checks it in a fresh virtualenv, with the
# system's gRPC, protobuf, abseil, OpenSSL... hidden (make test runs it too).
wheel-test: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target proglog
	@JOBS=$(JOBS) tests/wheel/run.sh $(BUILD_DIR)

format:
	@git ls-files '*.cc' '*.h' '*.c' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
