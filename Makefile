# Sluice developer entry points. Every target runs the setup script first, which installs
# only what is missing, so `make run` and `make test` work on a fresh Debian 12 machine.

BUILD_DIR   ?= build
DEBUG_DIR   ?= build-debug
FUZZ_DIR    ?= build-fuzz
JOBS        ?= $(shell nproc)
CMAKE_FLAGS ?=
RUN_ARGS    ?=
FUZZ_SECONDS ?= 60

.PHONY: all setup build debug run test unit integration bench fuzz fuzz-build format clean

all: build

setup:
	@./scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_TESTS=ON \
	  -DSLUICE_WERROR=$${SLUICE_WERROR:-$${CI:+ON}} $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Debug build with AddressSanitizer and UndefinedBehaviorSanitizer.
debug: setup
	@cmake -S . -B $(DEBUG_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_TESTS=ON \
	  -DSLUICE_WERROR=$${SLUICE_WERROR:-$${CI:+ON}} $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(DEBUG_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/bin/sluice $(RUN_ARGS)

# Unit and integration tests together; ends with one "N passed, M failed" line.
test: build
	@./tests/run_all.sh $(BUILD_DIR)

unit: build
	@./tests/run_all.sh $(BUILD_DIR) unit

integration: build
	@./tests/run_all.sh $(BUILD_DIR) integration

bench: build
	@SLUICE_SETUP_BENCH=1 ./scripts/setup.sh
	@./bench/run.sh $(BUILD_DIR)

fuzz-build: setup
	@CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSLUICE_FUZZ=ON -DSLUICE_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_frame fuzz_segment

# Runs each fuzzer over its committed corpus for FUZZ_SECONDS: the frame and method decoders,
# then the message log's segment format (recovery and reading back).
fuzz: fuzz-build
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/corpus-segment
	./$(FUZZ_DIR)/bin/fuzz_frame -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  $(FUZZ_DIR)/corpus tests/fuzz/corpus/frame
	./$(FUZZ_DIR)/bin/fuzz_segment -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  $(FUZZ_DIR)/corpus-segment tests/fuzz/corpus/segment

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(DEBUG_DIR) $(FUZZ_DIR)
