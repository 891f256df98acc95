"""The Python package's circuits (python/relp/_circuits.py) against the CLI: Model.features, .faithfulness and
.edges on the bundled model give `relp features / faithfulness / edges --json`'s numbers (the same library calls:
equal to the 7 digits the CLI prints), the graph JSON equals the CLI's first three keys, evaluate() and validate()
equal --evaluate and --validate, and bad arguments raise relp.Error with a message.

    test_python_circuits.py RELP_BIN REPO OUT_DIR
"""
import json
import os
import sys

from testlib import Checks, is_png, run

RELP, REPO, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(REPO, 'python'))
import relp  # noqa: E402

MODEL = os.path.join(REPO, 'models-small', 'ioi-4l')
checks = Checks()
ok = checks.ok


def same(a, b, label, rtol=2e-6):
    a, b = [float(x) for x in a], [float(x) for x in b]
    err = max([abs(x - y) / max(1e-6, abs(y)) for x, y in zip(a, b)] + [0.0])
    ok(len(a) == len(b) and err <= rtol, label, f'({len(a)} values, max rel err {err:.1e})')


def cli(*args):
    r = run(RELP, *args)
    if r.returncode:
        ok(False, ' '.join(args[:2]), r.stderr[-800:])
    return json.loads(r.stdout) if r.returncode == 0 and '-' in args else None


os.makedirs(OUT, exist_ok=True)
pairs = [{'clean': f'When{b} and{a} went to the shops,{b} gave the bag to',
          'corrupt': f'When{b} and{a} went to the shops,{a} gave the bag to', 'answer': a, 'wrong': b}
         for a, b in ((' Mary', ' John'), (' Sarah', ' Tom'), (' Alice', ' Bob'))]
pfile = os.path.join(OUT, 'prompts.jsonl')
with open(pfile, 'w') as f:
    f.writelines(json.dumps(p) + '\n' for p in pairs)
C, X, A, W = ([p[k] for p in pairs] for k in ('clean', 'corrupt', 'answer', 'wrong'))
m = relp.load(MODEL, threads=1)

for flag, kw in ((['--neurons'], {'neurons': True}), (['--components'], {'components': True})):
    for method in ('relp', 'ig'):
        steps = ['--steps', '3'] if method == 'ig' else []
        js = cli('features', '--model', MODEL, *flag, '--prompts', pfile, '--method', method, *steps, '--top', '8',
                 '--validate', '4', '--json', '-', '--threads', '1')
        f = m.features(C, X, A, W, method=method, steps=3, **kw)
        same([v for h in js['hooks'] for row in h['scores'] for v in row],
             [v for h in f.hooks for v in f.scores[h].ravel()], f'features {flag[0]} {method}: the CLI\'s scores')
        same([js['metric_clean'], js['metric_corrupt']], [f.metric_clean, f.metric_corrupt], 'features: metrics')
        ok([(t['hook'], t['position'], t['feature']) for t in js['top']] ==
           [(t['hook'], t['position'], t['feature']) for t in f.top(8)], f'features {flag[0]} {method}: top(8) = --top 8')
        val, r = f.validate(4)
        same([v['ap'] for v in val], [v['ap'] for v in js['validated']], 'validate(4) = --validate 4')
        same([r], [js['pearson']], 'validate: Pearson r')

js = cli('faithfulness', '--model', MODEL, '--components', '--prompts', pfile, '--methods', 'relp,atp', '--nodes',
         '1,4,16', '--json', '-', '--threads', '1')
fa = m.faithfulness(pfile, components=True, methods=['relp', 'atp'], nodes=[1, 4, 16])
for meth in ('relp', 'atp'):
    same([p[k] for p in js['curves'][meth] for k in ('n_nodes', 'faithfulness', 'completeness')],
         [p[k] for p in fa.curves[meth] for k in ('n_nodes', 'faithfulness', 'completeness')],
         f'faithfulness {meth}: the CLI\'s curve')
same([js['m_full'], js['m_empty'], js['candidates']], [fa.m_full, fa.m_empty, fa.candidates], 'faithfulness: ends')

gpath = os.path.join(OUT, 'g.json')
cli('edges', '--model', MODEL, '--prompts', pfile, '--method', 'relp', '--top', '12', '--evaluate', '--validate', '3',
    '--json', gpath, '--threads', '1')
js = json.load(open(gpath))
e = m.edges(C, X, A, W, method='relp')
ok(list(e.scores) == list(js['edges']), 'edges: the CLI\'s edges in its (EAP-IG\'s) order')
same([v['score'] for v in js['edges'].values()], list(e.scores.values()), 'edges: the CLI\'s scores')
g = json.loads(e.to_json(top=12))
ok(g == {k: js[k] for k in ('cfg', 'nodes', 'edges')} or
   ({n: v['in_graph'] for n, v in g['edges'].items()} == {n: v['in_graph'] for n, v in js['edges'].items()} and
    g['nodes'] == js['nodes'] and g['cfg'] == js['cfg']), 'to_json(top=12): the CLI\'s graph (cfg, nodes, in_graph)')
F = e.evaluate(top=12)[0]
same([F], [js['faithfulness']], 'evaluate(top=12) = --evaluate')
val, r = e.validate(3)
same([v['ap'] for v in val], [v['ap'] for v in js['validated']], 'edges validate(3) = --validate 3')

# figures: the curves and the graph, drawn by the renderer, inline and as files
svg = fa._repr_html_()
ok(svg.startswith('<svg') and 'RelP' in svg and 'AtP' in svg and 'completeness' in svg,
   'Faithfulness: the curves inline (SVG with each method and both panels)')
g = e.graph(top=12)
ok(g.svg.startswith('<svg') and sum(1 for n in g._request['edges']) == sum(v['in_graph'] for v in js['edges'].values()),
   'EdgeScores.graph(top=12): the pruned circuit\'s edges, as the CLI\'s in_graph flags',
   f"({len(g._request['edges'])} edges)")
png = g.save_png(os.path.join(OUT, 'g.png'))
ok(is_png(png), 'graph.save_png writes a PNG')
for call, want, label in (
        (lambda: m.features(C, X, A, W, neurons=True, components=True), 'give one node set', 'two node sets'),
        (lambda: m.features(C, X, A, W, neurons=True, method='ap'), "method 'ap'", 'features method ap'),
        (lambda: m.features(C, X, A, W, saes='/nonexistent'), 'not a folder of SAEs', 'saes missing'),
        (lambda: m.edges(C, X, A, W, method='ig'), "method 'ig'", 'edges method ig'),
        (lambda: m.faithfulness(pfile, neurons=True, methods=['relp', 'xx']), "'xx'", 'faithfulness bad method')):
    try:
        call()
        ok(False, f'{label}: raises relp.Error')
    except relp.Error as ex:
        ok(want in str(ex), f'{label}: raises relp.Error', f'({ex})')
# the core's warnings: a swapped pair (answer and wrong token exchanged) has a negative gap; .warnings lists it with
# its kind, as the CLI's JSON does, and each is raised as a relp.RelpWarning; a good pair has none
import warnings  # noqa: E402
for label, call, args in (
        ('features', lambda a, w: m.features(C[:1], X[:1], a, w, neurons=True, method='relp'),
         ['features', '--neurons', '--method', 'relp']),
        ('edges', lambda a, w: m.edges(C[:1], X[:1], a, w, method='atp'), ['edges', '--method', 'atp'])):
    js = cli(args[0], '--model', MODEL, *args[1:], '--clean', C[0], '--corrupt', X[0], '--answer', W[0], '--wrong', A[0],
             '--json', '-', '--threads', '1')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        res = call(W[:1], A[:1])
    raised = [x.message.kind for x in caught if issubclass(x.category, relp.RelpWarning)]
    kinds = [x.kind for x in res.warnings]
    ok('gap_negative' in kinds and kinds == [x['kind'] for x in js['warnings']] and raised == kinds and
       res.warning == '; '.join(x['text'] for x in js['warnings']),
       f'{label}: a swapped pair\'s warnings in .warnings (kinds as the CLI\'s JSON), each raised as RelpWarning',
       f'({kinds}; CLI {[x["kind"] for x in js["warnings"]]}; raised {raised})')
    ok(call(A[:1], W[:1]).warnings == [], f'{label}: a good pair has no warnings')
f = m.features(C, X, A, W, method='relp')
ok(len(f.hooks) == 13 and f.nodes == 'features', 'features without a node set on the bundled model: its own 13 SAEs')
m.close()
sys.exit(checks.summary_list())
