"""The bundled model's SAEs (models-small/ioi-4l/saes) against the figures their evaluation reported
(saes.json, tools/eval_saes.py in PyTorch): relp's C engine (tests/check_saes.c, relp.h only) recomputes, on the
same held-out documents and IOI prompts (made here by the evaluation's own functions and seeds), each SAE's
fraction of variance unexplained, L0, dead fraction and error at BOS, and the IOI logit difference and accuracy
unspliced and with all 13 SAEs spliced in. relp info --saes lists all 13.

    test_saes_bundled.py CHECK_SAES RELP_BIN REPO OUT_DIR
"""
import json
import os
import sys

from testlib import Checks, run

CHECK, RELP, REPO, OUT = sys.argv[1:5]
sys.path.insert(0, os.path.join(REPO, 'tools'))
import eval_saes as E  # noqa: E402
import train_saes as S  # noqa: E402

MODEL = os.path.join(REPO, 'models-small', 'ioi-4l')
SAES = os.path.join(MODEL, 'saes')
checks = Checks()
ok = checks.ok

os.makedirs(OUT, exist_ok=True)
ref = json.load(open(os.path.join(SAES, 'saes.json')))
tok = S.tokenizer()
draws = E.heldout(tok, ref['heldout']['draws'])
rows = E.ioi_rows(tok)
E.dump(OUT, tok, draws, [])
with open(os.path.join(OUT, 'wang_ids.jsonl'), 'w') as f:
    for r in rows:
        f.write(json.dumps({'tokens': r['tokens'], 'answer_id': r['answer_id'], 'wrong_id': r['wrong_id']}) + '\n')
r = run(CHECK, MODEL, SAES, os.path.join(OUT, 'heldout.jsonl'), os.path.join(OUT, 'wang_ids.jsonl'), timeout=900)
if r.returncode:
    ok(False, 'check_saes ran', r.stderr[-1500:])
    sys.exit(1)
c = json.loads(r.stdout)
ok(c['tokens'] == ref['heldout']['tokens'], 'the same held-out tokens', f"({c['tokens']} vs {ref['heldout']['tokens']})")
ok(set(c['saes']) == set(ref['saes']) and len(c['saes']) == 13, 'all 13 SAEs loaded', f"({len(c['saes'])})")
for h, v in ref['saes'].items():
    got = c['saes'].get(h, {})
    fvu, l0, dead, bos = (got.get(k, float('nan')) for k in ('fvu', 'l0', 'dead_fraction', 'bos_rel_error'))
    ok(abs(fvu - v['fvu']) <= 2e-3 * v['fvu'] + 1e-7, f'{h}: FVU {fvu:.6g} (PyTorch {v["fvu"]:.6g})')
    ok(abs(l0 - v['l0']) <= 0.01, f'{h}: L0 {l0:.4f} (PyTorch {v["l0"]:.4f})')
    ok(abs(dead - v['dead_fraction']) <= 2.5 / v['d_sae'], f'{h}: dead fraction {dead:.4f} (PyTorch {v["dead_fraction"]:.4f})')
    ok(abs(bos - v['bos_rel_error']) <= 2e-3 * v['bos_rel_error'] + 1e-6, f'{h}: error at BOS {bos:.4g} (PyTorch {v["bos_rel_error"]:.4g})')
for key in ('clean', 'all_spliced'):
    a, b = c['ioi'][key], ref['ioi'][key]
    ok(abs(a['logit_diff'] - b['logit_diff']) <= 0.01 and abs(a['accuracy'] - b['accuracy']) <= 2.5 / len(rows),
       f'IOI {key}: logit difference {a["logit_diff"]:.4f}, accuracy {a["accuracy"]:.4f} (PyTorch {b["logit_diff"]:.4f}, '
       f'{b["accuracy"]:.4f})')
r = run(RELP, 'info', '--model', MODEL, '--saes', SAES, '--json', timeout=120)
js = json.loads(r.stdout) if r.returncode == 0 else {'saes': []}
ok([s['hook'] for s in js['saes']] == S.HOOKS and all(s['architecture'] == 'topk' and s['k'] == 32 and
                                                      s['d_sae'] == 512 and s['dtype'] == 'f16' for s in js['saes']),
   'relp info --saes: the 13 hooks in forward order, topk k 32, 512 latents, F16')
sys.exit(checks.summary_list())
