# Refuses to package relp without what `make python` copies in: the library (engine and renderer).
import os

from setuptools import setup
from setuptools.dist import Distribution


class BinaryDistribution(Distribution):
    """relp/_lib/librelp.so is this platform's: the wheel says so in its tag (not py3-none-any)"""

    def has_ext_modules(self):
        return True

here = os.path.dirname(os.path.abspath(__file__))
for f in ('relp/_lib/librelp.so',):
    if not os.path.isfile(os.path.join(here, f)):
        raise SystemExit(f'python/{f} is missing: run `make python` in the repository first (it builds librelp.so '
                         f'and copies it into python/relp/)')
setup(distclass=BinaryDistribution)
