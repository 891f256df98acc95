# Refuses to package relp without what `make python` copies in: the library and the page's renderer.
import os

from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
for f in ('relp/_lib/librelp.so', 'relp/_web/render.js'):
    if not os.path.isfile(os.path.join(here, f)):
        raise SystemExit(f'python/{f} is missing: run `make python` in the repository first (it builds librelp.so '
                         f'and copies it and web/render.js into python/relp/)')
setup()
