# The README's two commands, `make demo` and `make test`, start here.
# Each installs what is missing, configures once and builds incrementally.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build test demo bench fuzz install package clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# A real run of the shipped she-backup procedure against the embedded lab
# (engine over HTTPS, hosts behind real sshd on loopback); see scripts/demo.
demo: build
	scripts/demo $(BUILD)

# Figures, not pass/fail: journal throughput and resume time; engine
# listing parse time and memory, and polling cost against the lab; SSH
# transfer throughput against scp, and its peak memory; the failover
# restore's wall time against its critical path and at concurrency 1.
bench: build
	$(BUILD)/she-bench-journal
	$(BUILD)/she-bench-plan
	$(BUILD)/she-bench-engine
	$(BUILD)/she-bench-transfer
	$(BUILD)/she-bench-restore
	$(BUILD)/she-bench-scale

# Each fuzz target for FUZZ_TIME seconds under libFuzzer, in a clang build
# of its own with AddressSanitizer and UBSan (scripts/fuzz). `make test`
# runs a short seeded run of each instead.
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 600
fuzz: deps
	@scripts/install-deps fuzz
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DSHE_LIBFUZZER=ON \
	  "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz-plan-loader fuzz-backup-archive fuzz-engine-xml fuzz-seed-archives
	scripts/fuzz $(FUZZ_BUILD) $(FUZZ_TIME)

install: build
	cmake --install $(BUILD)

# The .deb (CPack, cmake/packaging.cmake): $(BUILD)/she-restore_VERSION_ARCH.deb.
package: build
	cmake --build $(BUILD) --target package

clean:
	rm -rf $(BUILD)
