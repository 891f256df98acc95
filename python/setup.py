# Refuses to package relp without what `make python` copies in: the library (engine and renderer).
import os

from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
for f in ('relp/_lib/librelp.so',):
    if not os.path.isfile(os.path.join(here, f)):
        raise SystemExit(f'python/{f} is missing: run `make python` in the repository first (it builds librelp.so '
                         f'and copies it into python/relp/)')
setup()
