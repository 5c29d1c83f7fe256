# The two commands a new user runs (see README.md), and the steps they are made of.
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps build run test bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The main job: trains a bundle of candidate models on Fashion-MNIST (CPU without a GPU).
run: build
	scripts/run-main-job.sh $(BUILD)

# Every test, through ctest.
test: build
	ctest --test-dir $(BUILD) --output-on-failure

# The CPU throughput benchmark beside PyTorch (installs python3-torch first).
bench: build
	scripts/install-deps.sh --bench
	benchmarks/run-cpu-benchmark.sh $(BUILD)

clean:
	rm -rf $(BUILD)
