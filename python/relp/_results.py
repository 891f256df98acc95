"""_results.py - what the methods return: Result (one method, one node type), Results (every node type, with AP
and token relevance), Explanation (token relevance), IOITable (the paper's table), Cache (activations by
TransformerLens hook name); numpy arrays, .torch() where torch is installed, to_json() equal to the CLI's text,
and the run's warnings (the core's)."""
import json
import math
import os
import weakref

import numpy as np

from ._common import (_HOOK_OF, _HOOK_RE, _HOOKS, _METHODS, Error, METRIC_TITLE, _g, _ids_json, _json_str, _lib,
                      _ptr, to_torch, warnings_json)


class _Views:
    """The page's views of a result (relp/_views.py): inline in Jupyter, and saved as SVG or PNG. view=None:
    the result's own default view."""

    def _repr_html_(self):
        from . import _views
        return _views.html(self)

    def show(self, view=None, **kw):
        from . import _views
        return _views.show(self, view, **kw)

    def save_svg(self, path, view=None, **kw):
        return self.show(view, **kw).save_svg(path)

    def save_png(self, path, scale=2, view=None, **kw):
        return self.show(view, **kw).save_png(path, scale)


class Result(_Views):
    """One method on one node type. .scores: numpy float32, (L, T) for resid/attn/mlp, (L, H) for heads,
    (L, H, T) per position; one layer's row when the node was a TransformerLens hook name with a layer
    (.map is then the whole map). .tokens: the first clean prompt's pieces. Scores are in units of the
    normalised metric (m - m_corrupt) / (m_clean - m_corrupt), m = logit(answer) - logit(wrong)."""

    def __init__(self, model, method, node, layer, clean_ids, scores, mc, mr, secs, warnings, steps, noising,
                 per_position, metric='logit_diff', corrupt_ids=None):
        L, H, T = model.n_layer, model.n_head, clean_ids.shape[1]
        shape = (L, H, T) if per_position else (L, H) if node == 'head' else (L, T, model.n_inner) if node == 'neuron' \
            else (L, T)
        self.map = scores.reshape(shape)
        self.method, self.node, self.layer = method, node, layer
        self.rules = 'none' if method == 'ap' else _METHODS[method][1]
        self.noising = bool(noising)
        self.direction = 'noising' if noising else 'denoising'
        self.per_position = per_position
        self.steps = int(steps)
        self.prompts = int(clean_ids.shape[0])
        self.token_ids = clean_ids[0].copy()
        self._pieces_json = [model._piece_json(i) for i in self.token_ids]
        self.tokens = [json.loads(p) for p in self._pieces_json]
        self._view_tokens = [model._view_piece(i) for i in self.token_ids]
        self.n_layer, self.n_head, self.positions = L, H, T
        self.metric_clean, self.metric_corrupt = float(mc), float(mr)
        self.seconds = secs
        self.metric = metric  # relp.METRICS: "logit_diff", "logprob" or "logit"
        # the run's warnings (relp.h WARNINGS), each a str with .kind; .warning: the first, or ''
        self.warnings = list(warnings) if not isinstance(warnings, str) else []
        self.warning = self.warnings[0] if self.warnings else ''
        self.corrupt_token_ids = corrupt_ids[0].copy() if corrupt_ids is not None else None
        self._model = weakref.ref(model)  # for views that run the model again (the attention patterns)
        self._prediction, self._caption = None, {}
        self.ap = None  # an AP Result of the same node type to draw beside this one (compare())

    @property
    def scores(self):
        return self.map if self.layer is None else self.map[self.layer]

    def __repr__(self):
        where = self.node if self.layer is None else f'{self.node}, layer {self.layer}'
        return (f'<relp.Result {self.method} on {where}: scores {self.scores.shape}, {METRIC_TITLE[self.metric]} clean '
                f'{self.metric_clean:.4f}, corrupted {self.metric_corrupt:.4f}'
                f'{"; " + str(len(self.warnings)) + " warning(s)" if self.warnings else ""}>')

    def torch(self):
        """.scores as a torch tensor (sharing memory; torch must be installed)."""
        return to_torch(self.scores)

    # TransformerLens-style access
    def hook_name(self, layer):
        return f'blocks.{layer}.{_HOOK_OF[self.node]}'

    def hooks(self):
        """{hook name: that layer's scores}, e.g. {'blocks.0.hook_resid_pre': array(T), ...}."""
        return {self.hook_name(l): self.map[l] for l in range(self.n_layer)}

    def __getitem__(self, key):
        if isinstance(key, str):
            m = _HOOK_RE.match(key)
            if not m or _HOOKS[m.group(2)] != self.node or m.group(1) is None:
                raise KeyError(f'{key!r}: this result holds {self.node} scores; keys are '
                               f'{self.hook_name(0)} to {self.hook_name(self.n_layer - 1)}')
            layer = int(m.group(1))
            if layer >= self.n_layer:
                raise KeyError(f'{key!r}: this model has layers 0 to {self.n_layer - 1}')
            return self.map[layer]
        return self.scores[key]

    def to_json(self, seconds=None):
        """The JSON text `relp attribute --json` writes for the same inputs (without its final newline); every
        field but "seconds" (this run's time) is the CLI's, number for number."""
        heads = self.node == 'head'
        rows = []
        for l in range(self.n_layer):
            if heads and self.per_position:
                rows.append('[' + ','.join('[' + ','.join(_g(v, 7) for v in self.map[l, h]) + ']'
                                           for h in range(self.n_head)) + ']')
            elif self.node == 'neuron':
                rows.append('[' + ','.join('[' + ','.join(_g(v, 7) for v in self.map[l, t]) + ']'
                                           for t in range(self.positions)) + ']')
            else:
                rows.append('[' + ','.join(_g(v, 7) for v in self.map[l]) + ']')
        s = (f'{{"method":"{self.method}","node":"{self.node}","rules":"{self.rules}","direction":"{self.direction}",'
             f'"metric":"{self.metric}","prompts":{self.prompts},"token_ids":{_ids_json(self.token_ids)},'
             f'"tokens":[{",".join(self._pieces_json)}],"layers":{self.n_layer},"positions":{self.positions},')
        if heads:
            s += f'"heads":{self.n_head},'
        if self.node == 'neuron':
            s += f'"neurons":{self.map.shape[2]},'
        if self.method in ('ig', 'ig-input'):
            s += f'"steps":{self.steps},'
        secs = self.seconds if seconds is None else seconds
        s += (f'"scores":[{",".join(rows)}],"metric_clean":{_g(self.metric_clean, 9)},'
              f'"metric_corrupt":{_g(self.metric_corrupt, 9)},"warnings":{warnings_json(self.warnings)},'
              f'"seconds":{"%.4f" % secs}}}')
        return s

    def to_dict(self):
        return json.loads(self.to_json())

    def pearson(self, other):
        """Pearson r of this map with another's of the same shape (relp_pearson; NaN when one is constant)."""
        a = np.ascontiguousarray(self.map, dtype=np.float32).ravel()
        b = np.ascontiguousarray(other.map if isinstance(other, Result) else other, dtype=np.float32).ravel()
        if a.shape != b.shape:
            raise Error(f'pearson: {a.size} values against {b.size}')
        return float(_lib().relp_pearson(_ptr(a), _ptr(b), a.size))

    def compare(self, ap):
        """Attaches an AP Result of the same node type: the views draw it beside this one with Pearson r."""
        if not isinstance(ap, Result) or ap.node != self.node or ap.map.shape != self.map.shape:
            raise Error('compare(): expected a Result of the same node type and shape')
        self.ap = ap
        return self



class Results(_Views, dict):
    """attribute_all's results: a dict node -> Result for resid, attn, mlp and head, with .ap (the same for
    activation patching, or None), .r (Pearson r with AP per node type) and .relevance (an Explanation,
    or None)."""

    def __init__(self, model, method, est, ap, relevance):
        super().__init__(est)
        self.method = method
        self.ap = ap
        self.relevance = relevance
        any_ = est['resid']
        self.tokens, self.token_ids, self._view_tokens = any_.tokens, any_.token_ids, any_._view_tokens
        self.metric_clean, self.metric_corrupt = any_.metric_clean, any_.metric_corrupt
        self.n_layer, self.n_head, self.positions = any_.n_layer, any_.n_head, any_.positions
        self.r = {n: est[n].pearson(ap[n]) for n in est} if ap else {}
        self.warnings, self.warning, self.metric = any_.warnings, any_.warning, any_.metric
        self.corrupt_token_ids, self._model, self._prediction, self._caption = any_.corrupt_token_ids, any_._model, None, {}

    def __getitem__(self, key):
        """A node type ("resid", "attn", "mlp", "head") gives its Result; a TransformerLens hook name with a layer
        (blocks.0.hook_resid_pre, blocks.3.attn.hook_z, ...) that layer's scores of the matching node type."""
        if isinstance(key, str) and key not in self:
            m = _HOOK_RE.match(key)
            node = _HOOKS.get(m.group(2)) if m else None
            if node is None or m.group(1) is None or not dict.__contains__(self, node):
                raise KeyError(f'{key!r}: keys are the node types {", ".join(self)} and hook names such as '
                               f'blocks.0.hook_resid_pre, blocks.0.hook_attn_out, blocks.0.hook_mlp_out, '
                               f'blocks.0.attn.hook_z')
            return dict.__getitem__(self, node)[key]
        return dict.__getitem__(self, key)

    def torch(self):
        """{node type: scores} as torch tensors (torch must be installed)."""
        return {n: r.torch() for n, r in self.items()}

    @property
    def scores(self):
        return {n: r.scores for n, r in self.items()}

    def __repr__(self):
        rs = ', '.join(f'{n} r={v:.3f}' for n, v in self.r.items())
        return (f'<relp.Results {self.method} on {", ".join(self)}{"; AP: " + rs if rs else ""}; metric clean '
                f'{self.metric_clean:.4f}, corrupted {self.metric_corrupt:.4f}>')

    def hooks(self):
        out = {}
        for n in ('resid', 'attn', 'mlp', 'head'):
            out.update(self[n].hooks())
        return out

    def to_json(self):
        """{"resid": <relp attribute --json>, "attn": ..., "mlp": ..., "head": ...}"""
        return '{' + ','.join(f'"{n}":{r.to_json()}' for n, r in self.items()) + '}'



class Explanation(_Views):
    """Token relevance (explain): .relevance (T,) or (B, T), .tokens, .sum, .metric_value,
    .conservation_gap, .rules, .metric ("logit_diff" or "logit")."""

    def __init__(self, model, rules, metric, ids, rel, total, value, warnings=()):
        self.rules = rules
        self.metric = metric
        self.warnings = list(warnings)
        self.warning = self.warnings[0] if self.warnings else ''
        self._prediction, self._caption = None, {}
        self.token_ids = ids[0].copy()
        self._pieces_json = [model._piece_json(i) for i in self.token_ids]
        self.tokens = [json.loads(p) for p in self._pieces_json]
        self._view_tokens = [model._view_piece(i) for i in self.token_ids]
        self.relevance = rel
        self.sum = float(total)
        self.metric_value = float(value)
        self.conservation_gap = self.metric_value - self.sum

    def __repr__(self):
        return (f'<relp.Explanation {self.rules} rules, {self.metric} {self.metric_value:.4f}, sum of relevance '
                f'{self.sum:.4f}>')

    def to_json(self):
        """The JSON text `relp explain --json` writes (one prompt: the first)."""
        rel = self.relevance if self.relevance.ndim == 1 else self.relevance[0]
        return (f'{{"rules":"{self.rules}","metric":"{self.metric}","token_ids":{_ids_json(self.token_ids)},'
                f'"tokens":[{",".join(self._pieces_json)}],"relevance":[{",".join(_g(v, 7) for v in rel)}],'
                f'"sum":{_g(self.sum, 9)},"metric_value":{_g(self.metric_value, 9)},'
                f'"conservation_gap":{_g(self.metric_value - self.sum, 9)},"warnings":{warnings_json(self.warnings)}}}')

    def torch(self):
        """.relevance as a torch tensor (torch must be installed)."""
        return to_torch(self.relevance)



class IOITable(dict):
    """`relp ioi`'s table: a dict estimator -> {node: Pearson r with AP} (NaN where a map is constant), with
    .metric_clean, .metric_corrupt, .prompts, .batches, .seconds (per method), .ap_scores (AP's cells per
    node type, every batch concatenated), .batch_maps (per batch: its tokens, prompts and every method's maps,
    (L, T) or (L, H) numpy arrays by node type), .warnings and .to_json() (the text `relp ioi --json` writes)."""

    def __init__(self, table, **info):
        super().__init__(table)
        for k, v in info.items():
            setattr(self, k, v)

    def to_json(self):
        def r(v):
            return 'null' if math.isnan(v) else '%.6f' % v
        pear = ','.join(f'"{e}":{{' + ','.join(f'"{k}":{r(v)}' for k, v in row.items()) + '}'
                        for e, row in self.items())
        secs = ','.join(f'"{e}":{"%.4f" % s}' for e, s in self.seconds.items())
        aps = ','.join(f'"{k}":[' + ','.join(_g(v, 6) for v in a) + ']' for k, a in self.ap_scores.items())

        def nested(m):
            return '[' + ','.join('[' + ','.join(_g(v, 6) for v in row) + ']' for row in m) + ']'
        bms = ','.join(f'{{"tokens":{b["tokens"]},"prompts":{b["prompts"]},"maps":{{' + ','.join(
            f'"{e}":{{' + ','.join(f'"{k}":{nested(v)}' for k, v in nodes.items()) + '}'
            for e, nodes in b['maps'].items()) + '}}' for b in self.batch_maps)
        return (f'{{"model":{_json_str(os.fsencode(self.model))},"dataset":"{self.dataset}","prompts":{self.prompts},'
                f'"batches":{self.batches},"ig_steps":{self.ig_steps},"metric_clean":{_g(self.metric_clean, 9)},'
                f'"metric_corrupt":{_g(self.metric_corrupt, 9)},"pearson":{{{pear}}},"seconds":{{{secs}}},'
                f'"ap_scores":{{{aps}}},"layers":{self.layers},"heads":{self.heads},"batch_maps":[{bms}],'
                f'"warnings":{warnings_json(self.warnings)}}}')

    def _repr_html_(self):
        from . import _views
        return _views.ioi_html(self)



class Cache(dict):
    """Activations of one forward pass by TransformerLens hook name (Model.run_with_cache): numpy arrays with a
    batch axis. cache["resid_pre", 3] is cache["blocks.3.hook_resid_pre"]; short names: resid_pre, resid_mid,
    resid_post, attn_out, mlp_out, z (attn.hook_z), pattern (attn.hook_pattern), post (mlp.hook_post)."""

    _SHORT = {'resid_pre': 'hook_resid_pre', 'resid_mid': 'hook_resid_mid', 'resid_post': 'hook_resid_post',
              'attn_out': 'hook_attn_out', 'mlp_out': 'hook_mlp_out', 'z': 'attn.hook_z', 'pattern': 'attn.hook_pattern',
              'post': 'mlp.hook_post'}

    def __init__(self, values, model):
        super().__init__(values)
        self.n_layer = model.n_layer

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and key[0] in self._SHORT:
            key = f'blocks.{int(key[1])}.{self._SHORT[key[0]]}'
        if not dict.__contains__(self, key):
            raise KeyError(f'{key!r}: not in the cache; relp caches blocks.L.' + ', '.join(
                sorted(set(self._SHORT.values()))) + ' (hook_resid_mid not in a parallel block); q, k, v, the '
                'attention scores, the MLP pre-activation and the norms are not cached')
        return dict.__getitem__(self, key)

    def torch(self):
        """{hook name: torch tensor} (torch must be installed)."""
        return {k: to_torch(v) for k, v in self.items()}

    def __repr__(self):
        return f'<relp.Cache {len(self)} hooks of {self.n_layer} layers>'
