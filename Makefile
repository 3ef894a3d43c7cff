# The README's two commands, `make demo` and `make test`, start here.
# Each installs what is missing, configures once and builds incrementally.

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build test demo bench install clean

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
	$(BUILD)/she-bench-engine
	$(BUILD)/she-bench-transfer
	$(BUILD)/she-bench-restore

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD)
