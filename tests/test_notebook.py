"""examples/relp_ioi.ipynb executed headless (Debian python3-nbclient + python3-ipykernel), offline.

    /usr/bin/python3 tests/test_notebook.py RELP_BIN LIBRELP_SO REPO WORK_DIR

Runs every cell in a fresh kernel with the checkout's package (PYTHONPATH=python, $RELP_LIBRARY), then
checks that no cell failed, that the outputs hold the page's views as SVG (maps with AP beside them,
heads, token relevance, scatter; no script), that the numbers in them are the CLI's (every cell of the
RelP and AP residual maps against `relp attribute --json`, the IOI table against `relp ioi --json`), and
that the executed notebook, written and read back, still holds the same SVGs. The executed notebook is
left in WORK_DIR/relp_ioi.executed.ipynb.
"""
import json
import os
import re
import sys
import time

from testlib import Checks, is_png, run

RELP, LIBSO, REPO, WORK = sys.argv[1:5]
os.makedirs(WORK, exist_ok=True)
checks = Checks(limit=2000)
check = checks.check


def cli(*args):
    p = run(RELP, *args)
    if p.returncode != 0:
        raise RuntimeError(f'relp {" ".join(args)}: {p.stderr}')
    return p.stdout


def main():
    import nbformat
    from nbclient import NotebookClient
    path = os.path.join(REPO, 'examples', 'relp_ioi.ipynb')
    nb = nbformat.read(path, as_version=4)
    check('the committed notebook has no outputs (they are made by running it)',
          all(not c.get('outputs') for c in nb.cells if c.cell_type == 'code'))
    src = '\n'.join(c.source for c in nb.cells)
    clean = re.search(r'clean\s*=\s*"([^"]+)"', src).group(1)
    corrupt = re.search(r'corrupt\s*=\s*"([^"]+)"', src).group(1)
    answer, wrong = re.search(r'answer, wrong\s*=\s*"([^"]+)", "([^"]+)"', src).groups()
    env = dict(os.environ, RELP_LIBRARY=LIBSO, PYDEVD_DISABLE_FILE_VALIDATION='1',
               PYTHONPATH=os.pathsep.join([os.path.join(REPO, 'python')] + [os.environ.get('PYTHONPATH', '')]).rstrip(
                   os.pathsep))
    os.environ.update(env)  # the kernel inherits it
    t0 = time.perf_counter()
    cwd = os.path.join(WORK, 'cwd')  # the kernel's folder, as examples/ is a user's: the run must leave it empty
    os.makedirs(cwd, exist_ok=True)
    for n in os.listdir(cwd):
        os.remove(os.path.join(cwd, n))
    client = NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': cwd}})
    try:
        client.execute()
        err = None
    except Exception as e:  # noqa: BLE001 - CellExecutionError and kernel failures
        err = e
    check(f'the notebook runs top to bottom ({time.perf_counter() - t0:.1f} s)', err is None, err)
    check('running it leaves no files in its folder (the figures go to a temporary folder)', not os.listdir(cwd),
          os.listdir(cwd))
    out = os.path.join(WORK, 'relp_ioi.executed.ipynb')
    nbformat.write(nb, out)
    errors = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    check('no cell output is an error', not errors, errors[:1])
    htmls = [o['data']['text/html'] for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])
             if o.output_type in ('execute_result', 'display_data') and 'text/html' in o.get('data', {})]
    allhtml = '\n'.join(htmls)
    views = re.findall(r'<div class="relp-view" data-view="(\w+)"(?: data-method="[^"]*")?(?: data-node="(\w+)")?',
                       allhtml)
    kinds = {v for v, _ in views}
    check(f'the outputs hold the page\'s views as SVG: {sorted(kinds)}',
          {'maps', 'heads', 'tokens', 'scatter'} <= kinds and allhtml.count('<svg') >= 8, views)
    check('no script in any output (a saved notebook shows them again, trusted or not)', '<script' not in allhtml)
    # the first view is relp.show(relp_resid, ap=ap_resid): its cells against the CLI
    sys.path.insert(0, os.path.join(REPO, 'python'))
    import relp
    model = relp.default_model()  # what relp.load() in the notebook loads: models-small/models.json "default"
    base = ['--model', model, '--clean', clean, '--corrupt', corrupt, '--answer', answer, '--wrong', wrong, '--node', 'resid', '--json', '-']
    want = {k: json.loads(cli('attribute', *base, '--method', k))['scores'] for k in ('relp', 'ap')}
    first = next(h for h in htmls if 'relp-view' in h)
    cells = re.findall(r"<rect class='cell' data-kind='(\w+)' data-r='(\d+)' data-c='(\d+)' data-v='([^']*)'", first)
    got = {(k, int(r), int(c)): float(v) for k, r, c, v in cells}
    n = sum(len(row) for row in want['relp'])
    exact = len(got) == 2 * n and all(f32g(got[('est' if k == 'relp' else 'ap', l, t)]) == '%.7g' % want[k][l][t]
                                      for k in want for l in range(len(want[k])) for t in range(len(want[k][l])))
    check(f'the RelP and AP residual maps in the notebook are the CLI\'s numbers ({len(got)} cells, %.7g exact)', exact,
          f'{len(got)} cells vs {2 * n}; model {model}')
    # the IOI table against relp ioi --json
    jpath = os.path.join(WORK, 'ioi-demo.json')
    cli('ioi', '--model', model, '--dataset', 'demo', '--json', jpath)
    jw = json.load(open(jpath))
    table = next((h for h in htmls if 'relp-ioi' in h), '')
    rows = re.findall(r'<tr><td>([\w-]+)</td>((?:<td>[^<]*</td>)+)</tr>', table)
    shown = {m_: re.findall(r'<td>([^<]*)</td>', tds)[:4] for m_, tds in rows}
    # the notebook shows 4 decimals of the full value, the JSON has 6: equal within the two roundings (5e-5 + 5e-7),
    # not string-equal (0.99945 in the JSON may be 0.999450x shown as 0.9995)
    def same(cell, v):
        return cell == 'n/a' if v is None else re.fullmatch(r'-?\d\.\d{4}', cell) and abs(float(cell) - v) <= 5.1e-5
    ok = bool(shown) and list(shown) == list(jw['pearson']) and all(
        same(shown[e][i], jw['pearson'][e][node]) for e in shown for i, node in enumerate(('resid', 'attn', 'mlp', 'head')))
    check(f'the IOI table in the notebook is relp ioi --json\'s Pearson r ({len(shown)} methods x 4 node types)', ok,
          (shown, jw['pearson']))
    texts = '\n'.join(''.join(o.get('text', '')) for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])
                      if o.output_type == 'stream')
    ld = re.search(r'logit difference on the clean prompt: ([-0-9.]+)', texts)
    check('the printed logit difference is the CLI\'s metric_clean',
          ld and ld.group(1) == '%.4f' % json.loads(cli('attribute', *base, '--method', 'relp'))['metric_clean'],
          ld and ld.group(1))
    where = re.search(r'bytes of PNG, in (\S+)', texts)  # the temporary folder the notebook printed
    where = where.group(1) if where else WORK
    svg = os.path.join(where, 'relp_ioi_heads.svg')
    png = os.path.join(where, 'relp_ioi_heads.png')
    check('the notebook wrote the heads view as SVG and PNG', os.path.isfile(svg) and os.path.isfile(png) and
          is_png(png))
    back = nbformat.read(out, as_version=4)
    nbformat.validate(back)
    again = '\n'.join(o['data']['text/html'] for c in back.cells if c.cell_type == 'code' for o in c.get('outputs', [])
                      if o.output_type in ('execute_result', 'display_data') and 'text/html' in o.get('data', {}))
    check('the executed notebook, saved and read back, is valid and holds the same SVG views', again == allhtml)
    sys.exit(checks.summary())


def f32g(v):
    import numpy as np
    return '%.7g' % np.float32(v)


if __name__ == '__main__':
    main()
