# The two commands a newcomer needs: `make run` and `make test` (see README.md).
BUILD_DIR ?= build
DATA_DIR ?= $(CURDIR)/data
RPC_PORT ?= 8400
JOBS ?= 2
CMAKE_FLAGS ?=

# Let ccache share objects between checkouts in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build run test clean format

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/server/proglog serve --data-dir $(DATA_DIR) --rpc-port $(RPC_PORT) --node-name local --bootstrap

test: build
	@scripts/run-tests.sh $(BUILD_DIR)

format:
	@git ls-files '*.cc' '*.h' '*.c' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
