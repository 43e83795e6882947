# The commands a person types. Everything else is CMake/CTest underneath.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: all deps build test test-full demo bench bench-short clean format

all: build

deps:
	@bash deploy/setup-deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# The whole suite; soak/fault tests run in their short form (OMNIGATE_SOAK=1 for long).
test: build
	@ctest --preset $(PRESET) -j $(JOBS) --timeout 600

demo: build
	@bash deploy/demo.sh $(BUILD_DIR)

bench: build
	@bash bench/run.sh $(BUILD_DIR)

bench-short: build
	@BENCH_SHORT=1 bash bench/run.sh $(BUILD_DIR)

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build
