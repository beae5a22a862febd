# Thin wrapper around CMake. `make` sets up deps, configures and builds;
# `make test` runs every test, then the unit tests again under ASan + UBSan,
# then the 2-rank evolve test in a WITH_MPI build when Open MPI is installed.
BUILD ?= build
SAN_BUILD ?= build-sanitize
MPI_BUILD ?= build-mpi
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DMG_WERROR=ON
endif

.PHONY: all deps build test test-sanitize test-mpi demo bench clean format

all: build

deps:
	@scripts/setup-deps

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(SAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Sanitize $(CMAKE_FLAGS)

# ctest runs tests in parallel, each with OpenMP threads: spinning OpenMP waits
# would oversubscribe the cores, so threads sleep while idle during tests.
test: export OMP_WAIT_POLICY ?= passive
test: build $(SAN_BUILD)/CMakeCache.txt
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -L unit
	@$(MAKE) --no-print-directory test-mpi

# evolve across MPI ranks (2 ranks must write the log of 1), in a WITH_MPI
# build of the binary and that one test, when Open MPI is installed
# (scripts/setup-deps --with-mpi); the default build has no MPI.
test-mpi:
	@if command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1; then \
	  cmake -S . -B $(MPI_BUILD) -DCMAKE_BUILD_TYPE=Release -DWITH_MPI=ON $(CMAKE_FLAGS) >/dev/null && \
	  cmake --build $(MPI_BUILD) -j $(JOBS) --target mergeguard search_test_evolve && \
	  cd $(MPI_BUILD) && ctest --output-on-failure -R '^search_test_evolve$$'; \
	else \
	  echo "make test: Open MPI not installed (scripts/setup-deps --with-mpi): MPI test skipped"; \
	fi

# The paper's study on the lab world (builds the small world into the cache on
# first use); DEMO_FLAGS=--quick for the few-minute version.
DEMO_OUT ?= demo-report
DEMO_FLAGS ?=
demo: build
	$(BUILD)/mergeguard demo -o $(DEMO_OUT) $(DEMO_FLAGS)

# The benchmarks that need no big files (under a minute). The 1B-shaped ones
# write ~7.5 GB: build/bench_merge DIR, build/bench_evolve --shape 1b --dir DIR.
bench: build
	$(BUILD)/bench_convert
	$(BUILD)/bench_forward --no-1b
	$(BUILD)/bench_evolve
	$(BUILD)/bench_train small 20

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(MPI_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
