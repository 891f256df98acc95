"""Stages the package for use and installation (`make python` runs it): copies librelp.so (the engine, and the
renderer of the views) into relp/, and records the checkout (for the bundled models).

    python3 python/stage.py LIBRELP_SO [PACKAGE_DIR]     (PACKAGE_DIR: default, this python/ folder)
"""
import json
import os
import shutil
import sys

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
lib = sys.argv[1]
pkg = os.path.join(sys.argv[2] if len(sys.argv) > 2 else here, 'relp')
os.makedirs(os.path.join(pkg, '_lib'), exist_ok=True)
shutil.copyfile(lib, os.path.join(pkg, '_lib', 'librelp.so'))
with open(os.path.join(pkg, '_build_info.json'), 'w') as f:
    json.dump({'repo': repo}, f)
print(f'staged {lib} in {pkg}')
