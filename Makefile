# relp - the two commands a new user needs (README):
#   make demo   build and run the main job
#   make test   build and run every test (release, then ASan+UBSan)
# Both install what is missing (tools/install_deps.sh).
.PHONY: all deps build build-debug demo test test-release test-debug bench clean

JOBS ?= 2
# CI (CI=true) turns warnings into errors
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DRELP_WERROR=ON
endif

all: build

deps:
	@tools/install_deps.sh

build: deps
	cmake --preset native-release $(CMAKE_FLAGS) >/dev/null
	cmake --build --preset native-release -j $(JOBS)

build-debug: deps
	cmake --preset native-debug $(CMAKE_FLAGS) >/dev/null
	cmake --build --preset native-debug -j $(JOBS)

demo: build
	@tools/demo.sh

test-release: build
	ctest --preset native-release

test-debug: build-debug
	ctest --preset native-debug

test: test-release test-debug

bench: build
	bench/bench_forward.sh
	bench/bench_methods.sh

clean:
	rm -rf build
