"""_datasets.py - runs over datasets of prompt pairs: the IOI table of the paper (Model.ioi, as `relp ioi`),
on the official demo's 8 prompts or Wang et al.'s distribution (the core's generator), batched by token length."""
import ctypes
import math
import warnings

import numpy as np

from . import _capi
from ._capi import METRIC_LOGIT_DIFF
from ._common import _NODES, IOI_ESTIMATORS, IOI_MAX, MAP_NODES, METHODS, Error, RelpWarning, _ptr
from ._results import IOITable


def ioi(self, dataset='demo', n=64, seed=1, steps=10, bos=True, max_batch=64, progress=None, methods=None):
    """The paper's table, as `relp ioi --json`: Pearson r with AP (denoising) of every estimator per node
    type, over the IOI prompts (dataset "demo": the official notebook's 8; "wang": n of Wang et al.'s,
    from seed), batched by token length. methods: the estimators to run beside AP (relp ioi --methods; default
    every one but AP, relp.IOI_ESTIMATORS). Returns an IOITable: a dict estimator -> {node: r}, with each
    batch's maps (.batch_maps) and the run's .warnings."""
    if dataset not in ('demo', 'wang'):
        raise Error(f'dataset {dataset!r}: expected demo or wang')
    for name, v, lo, hi in (('n', n, 1, IOI_MAX), ('seed', seed, 0, 1 << 30), ('steps', steps, 1, 100000),
                            ('max_batch', max_batch, 1, IOI_MAX)):
        if not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise Error(f'{name} must be an integer in [{lo}, {hi}], got {v!r}')
    L = self._L
    buf = (_capi.relp_ioi_prompt * IOI_MAX)()
    np_ = L.relp_ioi_demo(buf, IOI_MAX) if dataset == 'demo' else L.relp_ioi_wang(buf, int(n), int(seed), 0)
    prompts = [(p.clean.decode(), p.corrupt.decode(), p.answer.decode(), p.wrong.decode()) for p in buf[:np_]]
    # group prompts of equal token length into batches of max_batch (at most 64 batches, as the CLI)
    groups, skipped = [], 0
    for i, (cl, co, an, wr) in enumerate(prompts):
        T = len(self._encode(cl, bos))
        g = next((k for k, gr in enumerate(groups) if gr['T'] == T and len(gr['p']) < max_batch), None)
        if g is None:
            if len(groups) == 64:
                skipped += 1
                continue
            groups.append({'T': T, 'p': []})
            g = len(groups) - 1
        groups[g]['p'].append((i, cl, co, an, wr))
    if skipped:
        warnings.warn(f'relp ioi: {skipped} prompts left out (more than 64 batches of equal length)', RelpWarning)
    if methods is None:
        chosen = list(IOI_ESTIMATORS)
    else:
        names = [methods] if isinstance(methods, str) else list(methods)
        for m in names:
            if m not in METHODS:
                raise Error(f'methods: {m!r} is not a method; expected names from {", ".join(METHODS)}')
        chosen = [m for m in IOI_ESTIMATORS if m in names]  # in the CLI's order
    est = chosen + ['ap']
    cells = {e: {k: [] for k in MAP_NODES} for e in est}
    seconds = {e: 0.0 for e in est}
    mc_sum = mr_sum = 0.0
    counted = 0
    for gr in groups:
        c, x = [], []
        for i, cl, co, an, wr in gr['p']:
            pc, px, _, _, _ = self._pairs(cl, co, an, wr, bos)
            c.append(pc[0])
            x.append(px[0])
        c, x = np.stack(c), np.stack(x)
        a = self._answers([p[3] for p in gr['p']], len(gr['p']), 'answer')
        w = self._answers([p[4] for p in gr['p']], len(gr['p']), 'wrong')
        mc_b = mr_b = None
        for k in MAP_NODES:
            for e in est:
                outs, mc, mr, secs, _ = self._attribute_nodes(c, x, a, w, e, [_NODES[k]], steps, False, False,
                                                              progress)
                cells[e][k].append(outs[0])
                seconds[e] += secs
                if e == 'ap' and k == 'resid':
                    mc_b, mr_b = mc, mr
        mc_sum += mc_b * len(gr['p'])
        mr_sum += mr_b * len(gr['p'])
        counted += len(gr['p'])
    cat = {e: {k: np.concatenate(cells[e][k]) for k in MAP_NODES} for e in est}
    table = {}
    for e in chosen:
        table[e] = {}
        for k in MAP_NODES:
            a_, b_ = cat[e][k], cat['ap'][k]
            table[e][k] = float(L.relp_pearson(_ptr(a_), _ptr(b_), len(a_)))
    mcm = mc_sum / counted if counted else math.nan
    mrm = mr_sum / counted if counted else math.nan
    ws = []
    if counted:  # the gap of the whole run's metric (the core's rules, as the CLI's)
        with self._call():
            ctx = self._ctx_for(1, 1)
            f = _capi.relp_run_facts(METRIC_LOGIT_DIFF, mcm, mrm, 0, 0, None, None, None, None)
            self._L.relp_run_warnings(ctx, ctypes.byref(f))
            ws = self._ctx_warnings()
        self._raise_warnings(ws)
    # each batch's maps: (L, T) for resid, attn, mlp and (L, NH) for heads, AP's first
    batch_maps = []
    for g, gr in enumerate(groups):
        T = gr['T']
        maps = {e: {k: cells[e][k][g].reshape(self.n_layer, self.n_head if k == 'head' else T) for k in MAP_NODES}
                for e in ['ap'] + chosen}
        batch_maps.append({'tokens': T, 'prompts': len(gr['p']), 'maps': maps})
    return IOITable(table, model=self.path, dataset=dataset, prompts=counted, batches=len(groups), ig_steps=steps,
                    metric_clean=mcm, metric_corrupt=mrm, seconds=seconds,
                    ap_scores={k: cat['ap'][k] for k in MAP_NODES}, layers=self.n_layer, heads=self.n_head,
                    batch_maps=batch_maps, warnings=ws)
