#!/usr/bin/env bash
# The Python package as a wheel with librelp.so inside (`make wheel`; tests/test_wheel.py): the package is copied
# to WORK/src and staged there (not in python/: nothing is left in the checkout), then built offline by Debian's
# pip (python3-pip, python3-wheel) into OUT.
#   tools/make_wheel.sh LIBRELP_SO WORK OUT
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$1 work=$2 out=$3
rm -rf "$work" "$out"
mkdir -p "$work"
cp -r python "$work/src"
rm -rf "$work/src/relp/_lib" "$work/src/relp/_web" "$work/src/relp/_build_info.json" "$work/src/build" "$work/src"/*.egg-info
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
/usr/bin/python3 python/stage.py "$lib" "$work/src" >/dev/null
/usr/bin/python3 -m pip wheel --no-deps --no-build-isolation --no-index "$work/src" -w "$out" -q
ls "$out"/relp-*.whl
