"""_circuits.py - circuits from Python (relp.h, CIRCUITS): SAE features with their error nodes, neurons and
components, their scores, exact patching and faithfulness curves; EAP-IG edges, their graph JSON and faithfulness.

    saes = relp.load_saes("models-small/ioi-4l/saes")
    f = m.features(clean, corrupt, " Mary", " John", saes=saes, method="relp")
    f.scores["blocks.2.hook_resid_pre"]     # numpy (T, d_sae); f.errors[hook]: (T,)
    f.top(10); f.validate(10)               # the largest |score|; exact patching of them, Pearson r
    fa = m.faithfulness("ioi.jsonl", saes=saes, methods=["relp", "atp", "ig"])
    fa.curves["relp"]                       # [{n_nodes, threshold, faithfulness, completeness}]
    e = m.edges(clean, corrupt, " Mary", " John", method="relp")
    e.scores["a0.h0->a1.h1<v>"]; e.to_json(top=20); e.evaluate(top=20)

These call the same library functions as `relp features`, `relp faithfulness` and `relp edges`, so their numbers
are the CLI's (tests/test_python_circuits.py).
"""
import ctypes
import json
import math
import os
import time

import numpy as np

from . import _capi

__all__ = ['Saes', 'load_saes', 'FeatureScores', 'Faithfulness', 'EdgeScores']

_CIRCUIT_METHODS = ('atp', 'relp', 'relp-ln', 'relp-cp', 'attnlrp', 'ig')
_EDGE_METHODS = ('atp', 'relp', 'relp-ln', 'relp-cp', 'attnlrp', 'ig-input')


def _err():
    from . import Error  # the package's error type
    return Error


class Saes:
    """A folder of SAEs in SAELens's layout (one SAE folder, or a folder of them). It is read for a model when
    first used with it, and checked against that model's hooks (relp_saes_init_from_dir)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isdir(self.path):
            raise _err()(f'{self.path}: not a folder of SAEs (SAELens layout: cfg.json + sae_weights.safetensors)')
        self._handles = {}  # id(model) -> (model, handle)

    def __repr__(self):
        return f'relp.Saes({self.path!r})'

    def _for(self, model):
        got = self._handles.get(id(model))
        if got and got[0] is model and model._handle:
            return got[1]
        L = model._L
        h = ctypes.c_void_p()
        st = L.relp_saes_init_from_dir(ctypes.byref(h), model._handle, self.path.encode())
        if st != 0:
            msg = (L.relp_saes_last_error(h) or b'').decode('utf-8', 'replace')
            L.relp_saes_free(h)
            raise _err()(f'--saes {self.path}: {msg}', st)
        self._handles[id(model)] = (model, h)
        model._saes_loaded.append(self)
        return h

    def _release(self, model):
        got = self._handles.pop(id(model), None)
        if got:
            model._L.relp_saes_free(got[1])

    def info(self, model):
        """[{hook, path, d_in, d_sae, architecture, k, apply_b_dec_to_input}] in forward order, for model"""
        h = self._for(model)
        out = []
        for i in range(model._L.relp_saes_count(h)):
            inf = _capi.relp_sae_info()
            model._L.relp_saes_info(h, i, ctypes.byref(inf))
            out.append({'hook': inf.hook_name.decode(), 'path': inf.path.decode(), 'd_in': inf.d_in,
                        'd_sae': inf.d_sae, 'architecture': _capi.SAE_ARCHS[inf.arch], 'k': inf.k,
                        'apply_b_dec_to_input': bool(inf.apply_b_dec_to_input)})
        return out


def load_saes(path):
    """The SAEs of a folder (SAELens layout): relp.Saes. Use with Model.features / faithfulness (saes=...)."""
    return Saes(path)


def _node_set(model, saes, neurons, components):
    n = (saes is not None) + bool(neurons) + bool(components)
    own = os.path.join(model.path, 'saes') if isinstance(model.path, str) else ''
    if n == 0 and own and os.path.isdir(own):  # the model's own SAEs (models-small/<model>/saes), as the CLI
        saes, n = own, 1
    if n != 1:
        raise _err()('give one node set: saes=relp.load_saes(DIR) (SAE features and their error nodes), '
                     'neurons=True or components=True (a model with a saes/ folder uses its SAEs when none is given)')
    if saes is not None:
        if isinstance(saes, (str, os.PathLike)):
            saes = Saes(saes)
        if not isinstance(saes, Saes):
            raise _err()(f'saes: expected relp.load_saes(DIR) or a folder, got {type(saes).__name__}')
        return _capi.NODESET_FEATURES, saes._for(model), 'features'
    if neurons:
        return _capi.NODESET_NEURONS, None, 'neurons'
    return _capi.NODESET_COMPONENTS, None, 'components'


def _hooks(model, handle, set_id):
    n = model._L.relp_circuit_hooks(model._handle, handle, set_id, None, 0)
    arr = (_capi.relp_circuit_hook * max(n, 1))()
    model._L.relp_circuit_hooks(model._handle, handle, set_id, arr, n)
    return [{'name': arr[i].name.decode(), 'width': arr[i].width, 'error': bool(arr[i].error), 'layer': arr[i].hook_layer}
            for i in range(n)]


def _metric(a, w):
    from ._capi import METRIC_LOGIT_DIFF
    return _capi.relp_metric(METRIC_LOGIT_DIFF, a.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
                             w.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), 1.0)


def _i32(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))


def _f32(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _scores(model, c, x, a, w, set_id, handle, hooks, method, steps, noising, progress):
    """relp_attribute_circuit: ([scores (T, width)], [errors (T,) or None], mc, mr, seconds, [RunWarning])"""
    if method not in _CIRCUIT_METHODS:
        raise _err()(f'method {method!r}: expected one of {", ".join(_CIRCUIT_METHODS)}')
    B, T = c.shape
    p, cb = model._attr_params(method, 0, steps, noising, False, progress)
    s = [np.zeros((T, h['width']), dtype=np.float32) for h in hooks]
    e = [np.zeros(T, dtype=np.float32) for _ in hooks]
    sp = (ctypes.POINTER(ctypes.c_float) * max(len(s), 1))(*[_f32(v) for v in s])
    ep = (ctypes.POINTER(ctypes.c_float) * max(len(e), 1))(*[_f32(v) for v in e])
    mt = _metric(a, w)
    mc, mr = ctypes.c_double(), ctypes.c_double()
    with model._call():
        ctx = model._ctx_for(B, T)
        t0 = time.perf_counter()
        st = model._L.relp_attribute_circuit(ctx, _i32(c), _i32(x), B, T, ctypes.byref(mt), handle, set_id,
                                             ctypes.byref(p), sp, ep, ctypes.byref(mc), ctypes.byref(mr))
        secs = time.perf_counter() - t0
        model._check(st)
        warn = model._ctx_warnings()
    del cb
    return s, [ev if h['error'] else None for ev, h in zip(e, hooks)], mc.value, mr.value, secs, warn


def _prompt_rows(model, prompts, bos):
    """prompts: a JSONL path (relp's or Marks et al.'s lines), a list of dicts, or (clean, corrupt, answer, wrong).
    Returns (c, x, a, w) of the most common token length, and how many were left out."""
    if isinstance(prompts, tuple) and len(prompts) == 4:
        c, x, a, w, _ = model._pairs(*prompts, bos)
        return c, x, a, w, 0
    if isinstance(prompts, (str, os.PathLike)):
        rows = [json.loads(ln) for ln in open(prompts, encoding='utf-8') if ln.strip()]
    else:
        rows = list(prompts)
    pairs = []
    for k, r in enumerate(rows):
        if 'clean_prefix' in r and 'clean' not in r:
            r = {'clean': r['clean_prefix'], 'corrupt': r['patch_prefix'], 'answer': r['clean_answer'],
                 'wrong': r['patch_answer']}
        if not all(isinstance(r.get(key), str) for key in ('clean', 'corrupt', 'answer', 'wrong')):
            raise _err()(f'prompt {k}: needs the strings clean, corrupt, answer and wrong (or Marks et al.\'s '
                         f'clean_prefix, patch_prefix, clean_answer, patch_answer)')
        pairs.append((model._encode(r['clean'], bos), r['corrupt'], r['answer'], r['wrong']))
    if not pairs:
        raise _err()('no prompts')
    lens = {}
    for p in pairs:
        lens[len(p[0])] = lens.get(len(p[0]), 0) + 1
    T = max(lens, key=lambda t: (lens[t], -t))
    keep = [p for p in pairs if len(p[0]) == T]
    c, x, a, w, _ = model._pairs([p[0] for p in keep], [p[1] for p in keep], [p[2] for p in keep],
                                 [p[3] for p in keep], bos)
    return c, x, a, w, len(pairs) - len(keep)


class FeatureScores:
    """Scores of every node of a node set (Model.features). .scores[hook]: numpy (T, width); .errors[hook]: (T,)
    for SAE hooks, None otherwise; .hooks: the hooks in forward order; .metric_clean, .metric_corrupt, .seconds;
    .warnings: the run's warnings (relp.RunWarning, each with .kind; each also raised as a relp.RelpWarning)."""

    def __init__(self, model, set_name, set_id, handle, method, hooks, scores, errors, mc, mr, secs, warning, c, x, a,
                 w, noising, steps):
        self._model, self.nodes, self._set, self._handle = model, set_name, set_id, handle
        self.method, self.hooks = method, [h['name'] for h in hooks]
        self._hooks = hooks
        self.scores = dict(zip(self.hooks, scores))
        self.errors = dict(zip(self.hooks, errors))
        self.metric_clean, self.metric_corrupt, self.seconds = mc, mr, secs
        self.warnings = list(warning)  # [RunWarning]: the core's warnings of the run, each with .kind
        self.warning = '; '.join(self.warnings)
        self._inputs = (c, x, a, w)
        self.noising, self.steps = noising, steps

    def __repr__(self):
        return (f'<relp.FeatureScores {self.method} on {self.nodes}: {len(self.hooks)} hooks, metric clean '
                f'{self.metric_clean:.4f}, corrupted {self.metric_corrupt:.4f}>')

    def _ranked(self):
        rows = []
        for hi, h in enumerate(self.hooks):
            s, e = self.scores[h], self.errors[h]
            T, W = s.shape
            for t in range(T):
                for u in range(W + (e is not None)):
                    v = float(s[t, u]) if u < W else float(e[t])
                    rows.append((-1.0 if math.isnan(v) else abs(v), len(rows), hi, t, u if u < W else -1, v))
        rows.sort(key=lambda r: (-r[0], r[1]))
        return rows

    def top(self, k=20):
        """The k nodes of largest |score| (ties by index, error nodes after features), as
        [{hook, position, feature, score}] (feature -1: the error node) - the CLI's "top"."""
        return [{'hook': self.hooks[r[2]], 'position': r[3], 'feature': r[4], 'score': r[5]} for r in self._ranked()[:k]]

    def validate(self, k=20, progress=None):
        """Exact patching of the k nodes of largest |score| (relp_patch_circuit_nodes): the CLI's "validated"
        [{hook, position, feature, score, ap}], and Pearson r (None below 2 nodes)."""
        m = self._model
        c, x, a, w = self._inputs
        B, T = c.shape
        top = self._ranked()[:k]
        nodes = (_capi.relp_circuit_node * max(len(top), 1))(*[(r[2], r[3], r[4]) for r in top])
        eff = np.zeros(len(top), dtype=np.float32)
        mt = _metric(a, w)
        cb = _capi.PROGRESS_FN(lambda u, d, n: progress(int(d), int(n)) if progress else None)
        with m._call():
            ctx = m._ctx_for(B, T)
            st = m._L.relp_patch_circuit_nodes(ctx, _i32(c), _i32(x), B, T, ctypes.byref(mt), self._handle, self._set,
                                               1 if self.noising else 0, nodes, len(top), _f32(eff), cb, None)
            m._check(st)
        est = np.array([r[5] for r in top], dtype=np.float32)
        r = float(m._L.relp_pearson(_f32(est), _f32(eff), len(top))) if len(top) > 1 else None
        return ([{'hook': self.hooks[t[2]], 'position': t[3], 'feature': t[4], 'score': t[5], 'ap': float(v)}
                 for t, v in zip(top, eff)], r)


class Figure:
    """A figure drawn by relp's renderer (relp.h FIGURES): shown inline in Jupyter, saved as SVG or PNG."""

    def __init__(self, request):
        from . import _views
        self._request = request
        self.svg = _views.draw(request)

    def _repr_html_(self):
        return self.svg

    def __repr__(self):
        return f'<relp.Figure {self._request.get("kind")}>'

    def save_svg(self, path):
        with open(path, 'w', encoding='utf-8') as f:
            f.write(self.svg)
        return path

    def save_png(self, path, scale=2):
        from . import _views
        with open(path, 'wb') as f:
            f.write(_views.draw(self._request, png_scale=scale))
        return path


class Faithfulness:
    """Faithfulness and completeness curves of each method's circuits (Model.faithfulness), as `relp
    faithfulness --json`: .curves[method] = [{n_nodes, threshold, faithfulness, completeness}], .m_full,
    .m_empty, .seconds[method] (the scores' time), .nodes, .prompts, .positions."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        best = {m: max((p['faithfulness'] for p in c), default=float('nan')) for m, c in self.curves.items()}
        return (f'<relp.Faithfulness of {self.nodes} circuits, {self.prompts} prompts of {self.positions} tokens: '
                + ', '.join(f'{m} max F {v:.3f}' for m, v in best.items()) + '>')

    def to_dict(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith('_')}

    def figure(self):
        """The curves as `relp faithfulness --svg` draws them: F and completeness against the number of nodes."""
        series = [{'method': m, 'n_nodes': [max(1, p['n_nodes']) for p in c], 'faithfulness': [p['faithfulness'] for p in c],
                   'completeness': [p['completeness'] for p in c], 'seconds': self.seconds.get(m)} for m, c in self.curves.items()]
        return Figure({'kind': 'curves', 'series': series, 'model': os.path.basename(str(self.model).rstrip('/')),
                       'nodes': f'{self.nodes} ({self.candidates} candidates)',
                       'data': f'{self.prompts} prompts of {self.positions} tokens',
                       'metric': 'logit difference (answer - wrong), mean ablation'})

    def _repr_html_(self):
        return self.figure()._repr_html_()

    def save_svg(self, path):
        return self.figure().save_svg(path)

    def save_png(self, path, scale=2):
        return self.figure().save_png(path, scale)


class EdgeScores:
    """Every edge's score (Model.edges). .scores: {"u->v<q>": score} in EAP-IG's order; .matrix (n_up, n_down);
    .up, .down: the node names; .metric_clean, .metric_corrupt, .seconds; .warnings as FeatureScores'."""

    def __init__(self, model, method, matrix, mc, mr, secs, warning, inputs, noising):
        self._model, self.method, self.matrix = model, method, matrix
        self.metric_clean, self.metric_corrupt, self.seconds = mc, mr, secs
        self.warnings = list(warning)  # [RunWarning]: the core's warnings of the run, each with .kind
        self.warning = '; '.join(self.warnings)
        self._inputs, self.noising = inputs, noising
        L = model._L
        nu, nd = ctypes.c_int32(), ctypes.c_int32()
        L.relp_graph_size(model._handle, ctypes.byref(nu), ctypes.byref(nd))
        buf = ctypes.create_string_buffer(64)
        self.up = [L.relp_graph_up_name(model._handle, i, buf, 64).decode() for i in range(nu.value)]
        self.down = [L.relp_graph_down_name(model._handle, i, buf, 64).decode() for i in range(nd.value)]
        cfg = L.relp_model_config(model._handle).contents
        self.cfg = {'n_layers': cfg.n_layer, 'n_heads': cfg.n_head,
                    'parallel_attn_mlp': bool(cfg.arch == 4 and not cfg.sequential_residual), 'd_model': cfg.n_embd}
        self._order = self._eap_order()
        self.scores = {f'{self.up[u]}->{self.down[v]}': float(matrix[u, v]) for u, v in self._order}

    def __repr__(self):
        return f'<relp.EdgeScores {self.method}: {len(self.scores)} edges>'

    def _eap_order(self):
        """(u, v) in EAP-IG's Graph.from_model insertion order (as relp edges --json writes them)"""
        L, NH, par = self.cfg['n_layers'], self.cfg['n_heads'], self.cfg['parallel_attn_mlp']
        per, nu = 3 * NH + 1, len(self.up)
        edge = self._model._L.relp_graph_edge
        h = self._model._handle
        out = []
        for l in range(L):
            ml = l * per + 3 * NH
            for u in range(nu):
                for hh in range(NH):
                    for kind in range(3):
                        if edge(h, u, l * per + kind * NH + hh):
                            out.append((u, l * per + kind * NH + hh))
                if par and edge(h, u, ml):
                    out.append((u, ml))
            if not par:
                out += [(u, ml) for u in range(nu) if edge(h, u, ml)]
        out += [(u, len(self.down) - 1) for u in range(nu)]
        return out

    def top(self, n):
        """in_graph flags (n_up, n_down) of the n edges of largest |score| (ties by index), after EAP-IG's prune(),
        and the nodes kept (n_up flags)"""
        flat = sorted(((abs(self.matrix[u, v]) if not math.isnan(self.matrix[u, v]) else -1.0, u * len(self.down) + v, u, v)
                       for u, v in self._order), key=lambda r: (-r[0], r[1]))
        inn = np.zeros(self.matrix.shape, dtype=np.uint8)
        for r in flat[:n]:
            inn[r[2], r[3]] = 1
        return self._prune(inn)

    def _prune(self, inn):
        NH, nd = self.cfg['n_heads'], len(self.down)
        per = 3 * NH + 1

        def feeds(v):  # the upstream node that downstream v belongs to
            l, r = divmod(v, per)
            return 1 + l * (NH + 1) + (NH if r == 3 * NH else r % NH)
        keep = np.zeros(len(self.up), dtype=np.uint8)
        while True:
            us, vs = np.nonzero(inn)
            out_ = set(us.tolist())
            in_ = {feeds(v) for v in vs.tolist() if v < nd - 1}
            new = np.array([1 if (u in out_ and (u == 0 or u in in_)) else 0 for u in range(len(self.up))], dtype=np.uint8)
            changed = (new != keep).any()
            keep = new
            for u, v in zip(us.tolist(), vs.tolist()):
                if not keep[u] or (v < nd - 1 and not keep[feeds(v)]):
                    inn[u, v] = 0
                    changed = True
            if not changed:
                return inn, keep

    def to_json(self, top=None):
        """EAP-IG's graph JSON (Graph.to_json: cfg, nodes, edges) with in_graph from top (None: every edge), as
        `relp edges --json` writes its first three keys."""
        if top is None:
            inn = np.zeros(self.matrix.shape, dtype=np.uint8)
            for u, v in self._order:
                inn[u, v] = 1
            keep = np.ones(len(self.up), dtype=np.uint8)
        else:
            inn, keep = self.top(top)
        nodes = {n: {'in_graph': bool(keep[i])} for i, n in enumerate(self.up)}
        nodes['logits'] = {'in_graph': True}
        edges = {f'{self.up[u]}->{self.down[v]}': {'score': float(self.matrix[u, v]), 'in_graph': bool(inn[u, v])}
                 for u, v in self._order}
        return json.dumps({'cfg': self.cfg, 'nodes': nodes, 'edges': edges})

    def graph(self, top=30):
        """The circuit graph of the top edges (pruned), as `relp edges --top N --svg` draws it: a Figure."""
        inn, keep = self.top(top)
        NH, nd = self.cfg['n_heads'], len(self.down)
        per = 3 * NH + 1
        idx, nodes = {}, []
        feeds = lambda v: 1 + (v // per) * (NH + 1) + (NH if v % per == 3 * NH else (v % per) % NH)  # noqa: E731
        used = set(np.nonzero(inn)[0].tolist()) | {feeds(v) for v in np.nonzero(inn)[1].tolist() if v < nd - 1}
        for u in sorted(used):
            l, unit = ((u - 1) // (NH + 1), (u - 1) % (NH + 1)) if u else (-1, 0)
            idx[u] = len(nodes)
            nodes.append({'name': self.up[u], 'layer': l, 'column': 0 if u == 0 or unit == NH else unit,
                          'kind': 'embed' if u == 0 else 'mlp' if unit == NH else 'head',
                          'score': float(sum(self.matrix[u, v] for v in range(nd) if inn[u, v]))})
        nodes.append({'name': 'logits', 'layer': self.cfg['n_layers'], 'column': 0, 'kind': 'logits',
                      'score': float(sum(self.matrix[u, nd - 1] for u in range(len(self.up)) if inn[u, nd - 1]))})
        edges = []
        for u, v in zip(*np.nonzero(inn)):
            dst = len(nodes) - 1 if v == nd - 1 else idx.get(feeds(v))
            if dst is None or u not in idx:
                continue
            r = v % per
            edges.append({'u': idx[u], 'v': dst, 'score': float(self.matrix[u, v]),
                          'letter': None if v == nd - 1 or r == 3 * NH else 'qkv'[r // NH]})
        lines = [f'{self.method} edges, the {top} of largest |score| ({len(edges)} after EAP-IG\'s pruning)',
                 f'metric: logit difference, clean {self.metric_clean:.3f}, corrupted {self.metric_corrupt:.3f}']
        return Figure({'kind': 'circuit', 'nodes': nodes, 'edges': edges, 'title': 'edge circuit', 'lines': lines})

    def evaluate(self, top=None, in_graph=None):
        """Faithfulness of an edge circuit (EAP-IG's evaluate_graph): the top N edges (pruned), or in_graph flags
        (n_up, n_down). Returns (faithfulness, m(C), m_clean, m_corrupt)."""
        m = self._model
        if in_graph is None:
            in_graph = self.top(top)[0] if top is not None else None
        if in_graph is None:
            raise _err()('evaluate: give top=N or in_graph')
        flags = np.ascontiguousarray(in_graph, dtype=np.uint8)
        c, x, a, w = self._inputs
        B, T = c.shape
        mt = _metric(a, w)
        ev = ctypes.c_void_p()
        mC, mc, mr = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        with m._call():
            ctx = m._ctx_for(B, T)
            st = m._L.relp_edge_eval_init(ctypes.byref(ev), ctx, _i32(c), _i32(x), B, T, ctypes.byref(mt))
            try:
                m._check(st)
                m._L.relp_edge_eval_ends(ev, ctypes.byref(mc), ctypes.byref(mr))
                m._check(m._L.relp_edge_eval_run(ev, flags.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                                                 ctypes.byref(mC)))
            finally:
                m._L.relp_edge_eval_free(ev)
        return (mC.value - mr.value) / (mc.value - mr.value), mC.value, mc.value, mr.value

    def validate(self, k=20, progress=None):
        """Exact patching of the k edges of largest |score|: [{edge, score, ap}] and Pearson r."""
        m = self._model
        flat = sorted(((abs(self.matrix[u, v]), u * len(self.down) + v, u, v) for u, v in self._order),
                      key=lambda r: (-r[0], r[1]))[:k]
        pairs = np.array([x for r in flat for x in (r[2], r[3])], dtype=np.int32)
        eff = np.zeros(len(flat), dtype=np.float32)
        c, x, a, w = self._inputs
        B, T = c.shape
        mt = _metric(a, w)
        cb = _capi.PROGRESS_FN(lambda u, d, n: progress(int(d), int(n)) if progress else None)
        with m._call():
            ctx = m._ctx_for(B, T)
            m._check(m._L.relp_patch_edges(ctx, _i32(c), _i32(x), B, T, ctypes.byref(mt), 1 if self.noising else 0,
                                           _i32(pairs), len(flat), _f32(eff), cb, None))
        est = np.array([self.matrix[r[2], r[3]] for r in flat], dtype=np.float32)
        r = float(m._L.relp_pearson(_f32(est), _f32(eff), len(flat))) if len(flat) > 1 else None
        return ([{'edge': f'{self.up[t[2]]}->{self.down[t[3]]}', 'score': float(e), 'ap': float(v)}
                 for t, e, v in zip(flat, est, eff)], r)


# ------------------------------------------------------------ the Model methods


def features(self, clean, corrupt, answer, wrong, saes=None, neurons=False, components=False, method='relp', steps=10,
             noising=False, bos=True, progress=None):
    """Scores of every SAE feature and error node (saes=relp.load_saes(DIR)), neuron (neurons=True) or head and MLP
    per position (components=True) for a clean / corrupted batch, as `relp features --json` (relp.h CIRCUITS).
    method: atp, relp, relp-ln, relp-cp, attnlrp or ig. Returns FeatureScores."""
    import warnings
    from . import RelpWarning
    set_id, handle, set_name = _node_set(self, saes, neurons, components)
    c, x, a, w, _ = self._pairs(clean, corrupt, answer, wrong, bos)
    hooks = _hooks(self, handle, set_id)
    s, e, mc, mr, secs, warn = _scores(self, c, x, a, w, set_id, handle, hooks, method, steps, noising, progress)
    for wn in warn:
        warnings.warn(RelpWarning(str(wn), wn.kind), stacklevel=2)
    return FeatureScores(self, set_name, set_id, handle, method, hooks, s, e, mc, mr, secs, warn, c, x, a, w, noising,
                         steps)


def faithfulness(self, prompts, saes=None, neurons=False, components=False, methods=('relp', 'atp', 'ig'), nodes=None,
                 start_layer=0, steps=10, bos=True, progress=None):
    """Marks et al.'s faithfulness and completeness of each method's circuits by mean ablation, as `relp
    faithfulness --json`: prompts (a JSONL path, a list of dicts, or (clean, corrupt, answer, wrong) lists; the
    most common token length is used), a node set, nodes=[N1, N2, ...] (default: thresholds logspace(-4, 0, 15)).
    Returns Faithfulness."""
    set_id, handle, set_name = _node_set(self, saes, neurons, components)
    methods = list(methods)
    for mname in methods:
        if mname not in _CIRCUIT_METHODS:
            raise _err()(f'methods: {mname!r} is not one of {", ".join(_CIRCUIT_METHODS)}')
    c, x, a, w, left = _prompt_rows(self, prompts, bos)
    B, T = c.shape
    hooks = _hooks(self, handle, set_id)
    taus = None if nodes is not None else np.array([10 ** (-4 + 4 * i / 14) for i in range(15)], dtype=np.float32)
    ns = None if nodes is None else np.array([int(n) for n in nodes], dtype=np.int64)
    npts = len(ns) if ns is not None else 15
    mt = _metric(a, w)
    fa = ctypes.c_void_p()
    curves, secs = {}, {}
    mfull, mempty = ctypes.c_double(), ctypes.c_double()
    with self._call():
        ctx = self._ctx_for(B, T)
        self._check(self._L.relp_faithfulness_init(ctypes.byref(fa), ctx, _i32(c), _i32(x), B, T, ctypes.byref(mt),
                                                    handle, set_id, int(start_layer)))
        n_nodes = self._L.relp_faithfulness_n_nodes(fa)
        self._L.relp_faithfulness_ends(fa, ctypes.byref(mfull), ctypes.byref(mempty))
    try:
        for mname in methods:
            s, e, mc, mr, sec, _ = _scores(self, c, x, a, w, set_id, handle, hooks, mname, steps, False, progress)
            secs[mname] = sec
            size = np.zeros(npts, dtype=np.int64)
            F = np.zeros(npts, dtype=np.float64)
            Cm = np.zeros(npts, dtype=np.float64)
            sp = (ctypes.POINTER(ctypes.c_float) * max(len(s), 1))(*[_f32(v) for v in s])
            zeros = [np.zeros(T, dtype=np.float32) if ev is None else ev for ev in e]
            ep = (ctypes.POINTER(ctypes.c_float) * max(len(e), 1))(*[_f32(v) for v in zeros])
            with self._call():
                self._check(self._L.relp_faithfulness_curve(
                    fa, sp, ep, ns.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)) if ns is not None else None,
                    _f32(taus) if taus is not None else None, npts, size.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                    F.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), Cm.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                    _capi.PROGRESS_FN(0), None))
            curves[mname] = [{'n_nodes': int(size[i]), 'threshold': float(taus[i]) if taus is not None else None,
                              'faithfulness': float(F[i]), 'completeness': float(Cm[i])} for i in range(npts)]
    finally:
        self._L.relp_faithfulness_free(fa)
    return Faithfulness(model=self.path, nodes=set_name, prompts=B, positions=T, start_layer=int(start_layer), candidates=int(n_nodes),
                        metric_clean=mc, metric_corrupt=mr, m_full=mfull.value, m_empty=mempty.value, steps=steps,
                        curves=curves, seconds=secs, left_out=left)


def edges(self, clean, corrupt, answer, wrong, method='relp', steps=10, noising=False, bos=True, progress=None):
    """Every edge's score of EAP-IG's graph for one method (atp, a RelP preset, ig-input), or exact patching of
    every edge (method='ap'), as `relp edges --json`. Returns EdgeScores."""
    import warnings
    from . import RelpWarning
    if method not in _EDGE_METHODS + ('ap',):
        raise _err()(f'method {method!r}: expected one of {", ".join(_EDGE_METHODS + ("ap",))}')
    c, x, a, w, _ = self._pairs(clean, corrupt, answer, wrong, bos)
    B, T = c.shape
    nu, nd = ctypes.c_int32(), ctypes.c_int32()
    self._L.relp_graph_size(self._handle, ctypes.byref(nu), ctypes.byref(nd))
    matrix = np.zeros((nu.value, nd.value), dtype=np.float32)
    mt = _metric(a, w)
    mc, mr = ctypes.c_double(float('nan')), ctypes.c_double(float('nan'))
    warn = []
    if method == 'ap':
        pairs = np.array([x for u in range(nu.value) for v in range(nd.value)
                          if self._L.relp_graph_edge(self._handle, u, v) for x in (u, v)], dtype=np.int32)
        eff = np.zeros(len(pairs) // 2, dtype=np.float32)
        cb = _capi.PROGRESS_FN(lambda u, d, n: progress(int(d), int(n)) if progress else None)
        with self._call():
            ctx = self._ctx_for(B, T)
            t0 = time.perf_counter()
            self._check(self._L.relp_patch_edges(ctx, _i32(c), _i32(x), B, T, ctypes.byref(mt), 1 if noising else 0,
                                                 _i32(pairs), len(eff), _f32(eff), cb, None))
            secs = time.perf_counter() - t0
        matrix[pairs[0::2], pairs[1::2]] = eff
    else:
        p, cb = self._attr_params(method, 0, steps, noising, False, progress)
        with self._call():
            ctx = self._ctx_for(B, T)
            t0 = time.perf_counter()
            self._check(self._L.relp_attribute_edges(ctx, _i32(c), _i32(x), B, T, ctypes.byref(mt), ctypes.byref(p),
                                                     _f32(matrix), ctypes.byref(mc), ctypes.byref(mr)))
            secs = time.perf_counter() - t0
            warn = self._ctx_warnings()
        del cb
        for wn in warn:
            warnings.warn(RelpWarning(str(wn), wn.kind), stacklevel=2)
    return EdgeScores(self, method, matrix, mc.value, mr.value, secs, warn, (c, x, a, w), noising)
