# emscripten.cmake - CMake toolchain file for the WebAssembly build (presets
# wasm-release / wasm-debug). Wraps the platform file that Debian's
# emscripten package (3.1.6) ships, so `cmake --preset wasm-release` works
# without emcmake. emcc needs NODE_PATH=/usr/share/nodejs (for acorn); the
# Makefile exports it.
if(NOT DEFINED ENV{EMSCRIPTEN_ROOT})
  set(RELP_EMSCRIPTEN_ROOT /usr/share/emscripten)
else()
  set(RELP_EMSCRIPTEN_ROOT $ENV{EMSCRIPTEN_ROOT})
endif()
if(NOT EXISTS ${RELP_EMSCRIPTEN_ROOT}/cmake/Modules/Platform/Emscripten.cmake)
  message(FATAL_ERROR "emscripten.cmake: ${RELP_EMSCRIPTEN_ROOT}/cmake/Modules/Platform/Emscripten.cmake not found: "
                      "install Debian's emscripten package (tools/install_deps.sh does) or set EMSCRIPTEN_ROOT")
endif()
include(${RELP_EMSCRIPTEN_ROOT}/cmake/Modules/Platform/Emscripten.cmake)
