"""The Python package installed the usual way: `make wheel`'s wheel (tools/make_wheel.sh, run here) goes into a fresh
venv with Debian's
pip, offline (--no-index; numpy, nbclient and ipykernel from Debian's packages through --system-site-packages),
and there, with no PYTHONPATH and no RELP_LIBRARY:
- relp is imported from the venv, with its own librelp.so;
- an attribution gives `relp attribute --json`'s text;
- the example notebook (examples/relp_ioi.ipynb) runs without an error, with the views inline as SVG, and leaves
  nothing behind in the checkout.

    test_wheel.py RELP_BIN LIBRELP_SO REPO OUT_DIR
"""
import functools
import glob
import json
import os
import shutil
import sys

import testlib
from testlib import Checks, without_seconds

RELP, LIBSO, REPO, OUT = (os.path.abspath(a) for a in sys.argv[1:5])
DIST = os.path.join(OUT, 'dist')
checks = Checks()
ok = checks.ok
run = functools.partial(testlib.run, timeout=900)


shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
r = run([os.path.join(REPO, 'tools', 'make_wheel.sh'), LIBSO, os.path.join(OUT, 'wheel'), DIST])
ok(r.returncode == 0, 'tools/make_wheel.sh (make wheel) builds the wheel offline', (r.stdout + r.stderr)[-800:])
wheels = sorted(glob.glob(os.path.join(DIST, 'relp-*.whl')))
ok(len(wheels) == 1, 'make wheel made one wheel', wheels)
if not wheels:
    sys.exit(1)
venv = os.path.join(OUT, 'venv')
r = run(['/usr/bin/python3', '-m', 'venv', '--system-site-packages', venv])
ok(r.returncode == 0, 'a fresh venv (python3 -m venv --system-site-packages)', r.stderr[-500:])
py = os.path.join(venv, 'bin', 'python')
env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'RELP_LIBRARY')}
r = run([py, '-m', 'pip', 'install', '--no-index', '--no-deps', wheels[0]], env=env)
ok(r.returncode == 0, 'pip install --no-index the wheel into it', (r.stdout + r.stderr)[-800:])
status_before = run(['git', '-C', REPO, 'status', '--porcelain', '--untracked-files=all']).stdout

clean = 'When John and Mary went to the shops, John gave the bag to'
corrupt = 'When John and Mary went to the shops, Mary gave the bag to'
script = f'''
import json, relp
m = relp.load({os.path.join(REPO, "models-small", "ioi-4l")!r}, threads=1)
r = m.attribute({clean!r}, {corrupt!r}, " Mary", " John", method="relp", node="resid")
print(json.dumps({{"file": relp.__file__, "lib": relp.library_path(), "json": r.to_json()}}))
'''
r = run([py, '-c', script], env=env, cwd=OUT)
got = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {}
ok(got.get('file', '').startswith(venv) and got.get('lib', '').startswith(venv),
   'relp and its librelp.so come from the venv', (got.get('file'), got.get('lib'), r.stderr[-500:]))
cli = run([RELP, 'attribute', '--model', os.path.join(REPO, 'models-small', 'ioi-4l'), '--clean', clean, '--corrupt',
           corrupt, '--answer', ' Mary', '--wrong', ' John', '--method', 'relp', '--node', 'resid', '--json', '-',
           '--threads', '1'])


ok(got and cli.returncode == 0 and without_seconds(json.loads(got['json'])) == without_seconds(json.loads(cli.stdout)),
   'the installed package gives relp attribute --json\'s numbers')

# the notebook's kernel: the venv's python (a kernelspec installed into the venv, which its jupyter finds)
r = run([py, '-m', 'ipykernel', 'install', '--prefix', venv, '--name', 'relp-venv'], env=env)
ok(r.returncode == 0, 'a kernel in the venv (ipykernel install --prefix)', r.stderr[-300:])
nb_script = f'''
import json, nbformat
from nbclient import NotebookClient
nb = nbformat.read({os.path.join(REPO, "examples", "relp_ioi.ipynb")!r}, as_version=4)
nb.cells.insert(0, nbformat.v4.new_code_cell("import relp; print('RELP_FILE', relp.__file__)"))
NotebookClient(nb, timeout=600, kernel_name="relp-venv", resources={{"metadata": {{"path": {OUT!r}}}}}).execute()
outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
text = "".join(o.get("text", "") for o in outs)
svgs = sum("<svg" in json.dumps(o.get("data", {{}})) for o in outs)
errors = [o for o in outs if o.get("output_type") == "error"]
print(json.dumps({{"file": text.split("RELP_FILE ")[1].split()[0] if "RELP_FILE " in text else "", "svgs": svgs,
                  "errors": [e.get("ename", "") + ": " + e.get("evalue", "") for e in errors]}}))
'''
r = run([py, '-c', nb_script], env=dict(env, PYDEVD_DISABLE_FILE_VALIDATION='1'), cwd=OUT)
res = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else {}
ok(res and not res['errors'] and res['file'].startswith(venv) and res['svgs'] >= 3,
   'the example notebook runs in the venv\'s kernel with the installed package, views inline',
   (res, r.stderr[-1500:]))
status_after = run(['git', '-C', REPO, 'status', '--porcelain', '--untracked-files=all']).stdout
ok(status_after == status_before, 'nothing left behind in the checkout',
   sorted(set(status_after.splitlines()) - set(status_before.splitlines()))[:10])
sys.exit(checks.summary_list())
