# relp - the two commands a new user needs (README):
#   make demo   build native + WebAssembly and serve the page on 127.0.0.1 (prints the URL)
#   make test   build and run every test (release with the wasm and browser tests, then ASan+UBSan)
# Each installs only what it needs, where missing (tools/install_deps.sh): make build the C
# toolchain, make demo also emscripten and Node, make test (and fuzz, bench) also the test
# toolchain (PyTorch, Chromium, clang's fuzzer runtime, Open MPI, the npm test peers).
.PHONY: all deps deps-build deps-demo build build-debug build-wasm demo demo-cli test test-release test-debug fuzz bench clean python wheel npm

# emcc (Debian's emscripten 3.1.6) needs acorn from Debian's nodejs modules
export NODE_PATH := /usr/share/nodejs

JOBS ?= 2
# CI (CI=true) turns warnings into errors
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DRELP_WERROR=ON
endif

all: build

deps:
	@tools/install_deps.sh test

deps-build:
	@tools/install_deps.sh build

deps-demo:
	@tools/install_deps.sh demo

build: deps-build
	cmake --preset native-release $(CMAKE_FLAGS) >/dev/null
	cmake --build --preset native-release -j $(JOBS)

build-debug: deps-build
	cmake --preset native-debug $(CMAKE_FLAGS) >/dev/null
	cmake --build --preset native-debug -j $(JOBS)

build-wasm: deps-demo
	cmake --preset wasm-release $(CMAKE_FLAGS) >/dev/null
	cmake --build --preset wasm-release -j $(JOBS)

demo: build build-wasm
	@tools/demo.sh

demo-cli: build
	@tools/demo_cli.sh

# the Python package: librelp.so and the page's renderer copied into python/relp/, ready for
# PYTHONPATH=python or `pip install --no-index --no-build-isolation ./python` (docs/python.md)
python: build
	/usr/bin/python3 python/stage.py build/native-release/librelp.so

# a wheel of the Python package with librelp.so inside, in build/dist (staged in build/wheel, not in python/):
#   python3 -m venv --system-site-packages V && V/bin/pip install --no-index build/dist/relp-*.whl
wheel: build
	tools/make_wheel.sh build/native-release/librelp.so build/wheel build/dist

# the page, the engine modules, the JS API and <relp-view> as an npm package, build/dist/relp-<version>.tgz:
#   npm install path/to/relp-<version>.tgz   (docs/page.md)
npm: build-wasm
	tools/make_npm.sh build/wasm-release/web build/npm build/dist

test-release: deps build build-wasm
	ctest --preset native-release

test-debug: deps build-debug
	ctest --preset native-debug

test: test-release test-debug

# libFuzzer harnesses + the page's URL-state fuzzer (on the built page), FUZZ_SECONDS each (CI: 60)
FUZZ_SECONDS ?= 60
fuzz: deps build-wasm
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# regenerates BENCHMARKS.md (about 40 minutes; bench/report.py --quick: about 10)
bench: deps build build-wasm
	/usr/bin/python3 bench/report.py

clean:
	rm -rf build
