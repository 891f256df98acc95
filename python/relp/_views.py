"""_views.py - the page's views in Jupyter and as files, drawn by relp's one renderer, in C.

librelp.so draws every view (relp.h, FIGURES: core/figure*.c), as it does for the page (through WebAssembly),
its exports and embeds, and the CLI's --svg and --png: this module turns a result into the page's request for
a view (the JSON form relp.h describes, the scores passed as float32 beside it, exactly) and gets back the SVG,
or a PNG rasterised by the same C code. The inline HTML is the SVG itself with its tooltips (<title>: hover
shows the exact value): no script, no server, nothing fetched, so a saved notebook shows it again when
reopened (trusted or not) and on any static viewer. Nothing else is needed: no Node, no browser.
"""
import ctypes
import html as _html
import itertools
import json
import math
import re
import struct
import zlib

import numpy as np

from . import Error, Explanation, IOITable, Result, Results, _capi
from ._common import METRIC_TITLE

NODE_ORDER = ('resid', 'attn', 'mlp', 'head')
_uid = itertools.count(1)


def renderer_path():
    """Where the figures are drawn: the library itself (librelp.so, relp.h FIGURES)."""
    return _capi.lib().relp_path


def _request_json(request):
    """relp.h's JSON form of a request: numpy arrays go beside the text as one float32 buffer ({"offset",
    "length"}), NaN and infinities become null (not known)."""
    chunks, n = [], 0

    def plain(v):
        nonlocal n
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v, dtype=np.float32).ravel()
            chunks.append(a)
            n += a.size
            return {'offset': n - a.size, 'length': int(a.size)}
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, (float, np.floating)):
            return float(v) if math.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        return v

    text = json.dumps(plain(request), allow_nan=False).encode()
    data = np.concatenate(chunks) if chunks else np.zeros(1, dtype=np.float32)
    return text, data, n


def draw(request, png_scale=None):
    """The SVG (str) of a request, or with png_scale (1 to 8) the PNG (bytes) at that scale."""
    L = _capi.lib()
    text, data, n = _request_json(request)
    fig = L.relp_figure_init()
    if not fig:
        raise Error('relp views: out of memory', -5)
    try:
        st = L.relp_figure_draw_json(fig, text, len(text), data.ctypes.data_as(_capi.f32_p), n)
        if st != _capi.RELP_STATUS_OK:
            raise Error(f'relp views: {L.relp_figure_last_error(fig).decode(errors="replace")}', st)
        size = ctypes.c_size_t(0)
        if png_scale is None:
            p = L.relp_figure_svg(fig, ctypes.byref(size))
            if not p:
                raise Error(f'relp views: {L.relp_figure_last_error(fig).decode(errors="replace")}', -4)
            return ctypes.string_at(p, size.value).decode()
        out = ctypes.POINTER(ctypes.c_char)()
        st = L.relp_figure_png(fig, int(png_scale), ctypes.byref(out), ctypes.byref(size))
        if st != _capi.RELP_STATUS_OK:
            raise Error(f'save_png: {L.relp_figure_last_error(fig).decode(errors="replace")}', st)
        return ctypes.string_at(out, size.value)
    finally:
        L.relp_figure_free(fig)


def request(res, view):
    """The figure request (relp.h FIGURES) of one view of a result as page_data builds it. view: { view: maps |
    heads | positions | tokens | scatter, node, method }."""
    method = view.get('method') or res.get('method') or 'relp'
    est, ap, r = res.get('est') or {}, res.get('ap') or {}, res.get('r') or {}
    ws = list(res.get('warnings') or [])  # the core's (relp.h WARNINGS): str with .kind
    units = 'metric' if any(getattr(w, 'kind', '') == 'gap_zero' for w in ws) else 'share'
    pred = res.get('pred') or {}
    cap = {'model': res.get('model') or '', 'method': method, 'steps': res.get('steps') or 0, 'clean': res['tokens'],
           'corrupt': res.get('corruptTokens'), 'answer': res.get('answer'), 'wrong': res.get('wrong'),
           'metric_clean': res.get('mClean'), 'metric_corrupt': res.get('mCorrupt'), 'n_prompts': res.get('prompts', 1),
           'p_answer': pred.get('pAnswer', 0), 'rank': pred.get('rank', 0), 'r': dict(r), 'relevance': None,
           'warnings': [str(w) for w in ws], 'metric': res.get('metric') or 'logit_diff',
           'noising': bool(res.get('noising'))}
    has = lambda o, k: k in o and len(o[k])  # noqa: E731

    def maps(layout, node, key):
        return {'kind': 'maps', 'layout': layout, 'n_layer': res['L'], 'n_head': res['NH'],
                'n_kv_head': res.get('NKV') or res['NH'], 'tokens': res['tokens'], 'method': method, 'node': node,
                'est': est[key], 'ap': ap[key] if has(ap, key) else None, 'r': r.get(key), 'units': units,
                'caption': cap}
    v = view.get('view')
    if v == 'tokens':
        rel = res.get('tokenRelevance')
        rel = np.zeros(0, dtype=np.float32) if rel is None else rel
        rules = res.get('tokenRelevanceRules') or 'relp'
        total = 0.0
        for x in rel:  # summed in order in double, as the page sums them
            total += float(x)
        rws = [str(w) for w in (res.get('relevanceWarnings') or ws) if getattr(w, 'kind', '') in ('not_predicted', 'answer_space')]
        return {'kind': 'tokens', 'tokens': res['tokens'], 'relevance': rel, 'rules': rules,
                'caption': {**cap, 'method': rules, 'corrupt': None, 'r': {}, 'steps': 0, 'noising': False,
                            'metric': res.get('relevanceMetric') or cap['metric'], 'warnings': rws,
                            'relevance': {'total': total, 'value': res.get('metricValue')}}}
    if v == 'attention':
        model = res.get('modelRef')
        model = model() if model is not None else None
        if model is None or res.get('corruptIds') is None:
            raise Error('view "attention" runs the model again on the result\'s prompts: its model is closed or gone'
                        if res.get('corruptIds') is not None else 'view "attention" needs a result of attribute or '
                        'attribute_all (a clean and a corrupted prompt)')
        layer, head = view.get('focus') or (0, 0)
        if not (0 <= layer < res['L'] and 0 <= head < res['NH']):
            raise Error(f'focus ({layer}, {head}): this model has layers 0 to {res["L"] - 1} and heads 0 to '
                        f'{res["NH"] - 1}')
        return {'kind': 'attention', 'n_layer': res['L'], 'n_head': res['NH'], 'n_kv_head': res.get('NKV') or res['NH'],
                'tokens': res['tokens'], 'corrupt_tokens': res['corruptTokens'],
                'clean': model._patterns(res['cleanIds']), 'corrupt': model._patterns(res['corruptIds']),
                'focus': {'layer': int(layer), 'head': int(head), 'row': -1}, 'caption': {**cap, 'r': {}}}
    if v == 'heads':
        return maps('heads', 'head', 'head')
    if v == 'positions':
        return maps('head_positions', 'head', 'headPos')
    if v == 'scatter':
        return {'kind': 'scatter', 'method': method, 'est': est, 'ap': ap, 'r': dict(r), 'units': units, 'caption': cap}
    if v in ('maps', None):
        node = view.get('node') or 'resid'
        return maps('positions', node, node)
    raise Error(f'view {v!r}: relp draws maps, heads, positions, tokens, scatter and attention')


def render(items):
    """[(res, view)] -> [svg]"""
    return [draw(request(r, v)) for r, v in items]


# ------------------------------------------------------------------ the page's data

def _floats(a):
    return np.ascontiguousarray(a, dtype=np.float32).ravel()


def _prediction(obj):
    p = getattr(obj, '_prediction', None)
    return {'pred': {'pAnswer': p.p_answer, 'rank': p.rank}} if p is not None else {}


def _run_facts(obj):
    """What a caption says of a run beyond its scores: the metric, the direction, the warnings, the prediction,
    the corrupted prompt (its tokens, and its ids for the attention view), the model (a weak reference)."""
    out = {**getattr(obj, '_caption', {}), 'warnings': obj.warnings, 'metric': obj.metric, 'noising': obj.noising if isinstance(obj, Result)
           else obj['resid'].noising, 'modelRef': obj._model, 'prompts': obj.prompts if isinstance(obj, Result)
           else obj['resid'].prompts, **_prediction(obj)}
    model = obj._model()
    if obj.corrupt_token_ids is not None:
        out['corruptIds'] = obj.corrupt_token_ids.tolist()
        if model is not None and model._handle:
            out['corruptTokens'] = [model._view_piece(i) for i in obj.corrupt_token_ids]
    return out


def page_data(obj, ap=None):
    """The result object the page's worker builds (web/worker.js run()), from a Result, Results or
    Explanation."""
    if isinstance(obj, Explanation):
        rel = obj.relevance if obj.relevance.ndim == 1 else obj.relevance[0]
        return {'tokens': obj._view_tokens, 'cleanIds': obj.token_ids.tolist(), 'T': len(obj.token_ids),
                'est': {}, 'ap': {}, 'r': {}, 'tokenRelevance': _floats(rel), 'tokenRelevanceRules': obj.rules,
                'metricValue': obj.metric_value, 'warnings': obj.warnings, 'metric': obj.metric,
                'relevanceMetric': obj.metric, **getattr(obj, '_caption', {}), **_prediction(obj)}
    if isinstance(obj, Result):
        if obj.per_position:
            raise Error('per-position head scores (L, H, T) have no page view; draw a result with '
                        'per_position=False')
        ap = ap if ap is not None else obj.ap
        res = {'tokens': obj._view_tokens, 'cleanIds': obj.token_ids.tolist(), 'L': obj.n_layer, 'NH': obj.n_head,
               'T': obj.positions, 'est': {obj.node: _floats(obj.map)}, 'ap': {}, 'r': {}, 'method': obj.method,
               'mClean': obj.metric_clean, 'mCorrupt': obj.metric_corrupt, **_run_facts(obj)}
        if ap is not None:
            if not isinstance(ap, Result) or ap.node != obj.node or ap.map.shape != obj.map.shape:
                raise Error('ap: expected an AP Result of the same node type and shape')
            res['ap'][obj.node] = _floats(ap.map)
            res['r'][obj.node] = obj.pearson(ap)
        return res
    if isinstance(obj, Results):
        if obj['head'].per_position:
            raise Error('per-position head scores (L, H, T) have no page view; run attribute_all with '
                        'per_position=False')
        res = {'tokens': obj._view_tokens, 'cleanIds': obj.token_ids.tolist(), 'L': obj.n_layer, 'NH': obj.n_head,
               'T': obj.positions, 'est': {n: _floats(obj[n].map) for n in NODE_ORDER}, 'ap': {}, 'r': {},
               'method': obj.method, 'mClean': obj.metric_clean, 'mCorrupt': obj.metric_corrupt, **_run_facts(obj)}
        if obj.ap:
            res['ap'] = {n: _floats(obj.ap[n].map) for n in NODE_ORDER}
            res['r'] = dict(obj.r)
        if obj.relevance is not None:
            rel = obj.relevance.relevance
            res['tokenRelevance'] = _floats(rel if rel.ndim == 1 else rel[0])
            res['tokenRelevanceRules'] = obj.relevance.rules
            res['metricValue'] = obj.relevance.metric_value
            res['relevanceWarnings'] = obj.relevance.warnings
            res['relevanceMetric'] = obj.relevance.metric
        return res
    raise Error(f'relp.show: expected a Result, Results or Explanation, got {type(obj).__name__}')


def default_views(obj, res):
    """The views a result has, in the page's order: [(view state, label)]."""
    if isinstance(obj, Explanation):
        return [{'view': 'tokens'}]
    method = res['method']
    if isinstance(obj, Result):
        if obj.node == 'head':
            return [{'view': 'heads', 'method': method}]
        return [{'view': 'maps', 'node': obj.node, 'method': method}]
    out = [{'view': 'maps', 'node': n, 'method': method} for n in ('resid', 'attn', 'mlp')]
    out.append({'view': 'heads', 'method': method})
    if res.get('tokenRelevance') is not None:
        out.append({'view': 'tokens', 'method': method})
    if res['ap']:
        out.append({'view': 'scatter', 'method': method})
    return out


def views_for(obj, res, view, node, focus=None):
    if view == 'attention':
        if isinstance(obj, Explanation):
            raise Error('view "attention" needs a result of attribute or attribute_all (a clean and a corrupted prompt)')
        return [{'view': 'attention', 'focus': tuple(focus) if focus is not None else (0, 0)}]
    if view is None:
        vs = default_views(obj, res)
        if node is not None:
            vs = [v for v in vs if v.get('node') == node] or vs
        return vs
    if view == 'tokens' and res.get('tokenRelevance') is None:
        raise Error('view "tokens" needs token relevance: use m.explain(...) or attribute_all(..., relevance=True)')
    if view == 'scatter' and not res['ap']:
        raise Error('view "scatter" needs activation patching: attribute_all(..., ap=True), or show(result, '
                    'ap=ap_result)')
    if view == 'maps':
        n = node or (obj.node if isinstance(obj, Result) else 'resid')
        if n not in res['est']:
            raise Error(f'view "maps" of node {n!r}: this result has {", ".join(res["est"]) or "no maps"}')
        if n == 'head':
            view = 'heads'
    if view == 'heads' and 'head' not in res['est']:
        raise Error(f'view "heads": this result has {", ".join(res["est"]) or "no maps"}, no head scores')
    state = {'view': view, 'method': res.get('method')}
    if view == 'maps':
        state['node'] = n
    elif node is not None:
        state['node'] = node
    return [state]


# ------------------------------------------------------------------ the View object

def _uniquify_ids(svg):
    """Inline SVGs share the page's ids (e.g. the legend's gradient); several in one document must not collide."""
    ids = set(re.findall(r"\bid=['\"]([^'\"]+)['\"]", svg))
    if not ids:
        return svg
    suffix = f'-relp{next(_uid)}'
    for i in sorted(ids, key=len, reverse=True):
        q = re.escape(i)
        svg = re.sub(r"(\bid=['\"])" + q + r"(['\"])", r'\g<1>' + i + suffix + r'\g<2>', svg)
        svg = re.sub(r'(url\(#)' + q + r'(\))', r'\g<1>' + i + suffix + r'\g<2>', svg)
        svg = re.sub(r"((?:xlink:)?href=['\"]#)" + q + r"(['\"])", r'\g<1>' + i + suffix + r'\g<2>', svg)
    return svg


def _fmt(v):
    return 'n/a' if v is None or (isinstance(v, float) and not math.isfinite(v)) else f'{v:.4f}'


def caption(obj, res):
    """One line under the views, as the page's run line: what was run and the metric (and warnings)."""
    if isinstance(obj, Explanation):
        s = (f'token relevance ({obj.rules} rules) for the {METRIC_TITLE[obj.metric]}'
             f' {_fmt(obj.metric_value)}; sum of relevance {_fmt(obj.sum)}')
    else:
        s = (f'{res["method"]}{", noising" if res.get("noising") else ""}; {res["T"]} tokens; '
             f'{METRIC_TITLE[res.get("metric") or "logit_diff"]}: clean {_fmt(res["mClean"])}, corrupted '
             f'{_fmt(res["mCorrupt"])}')
        if res['r']:
            s += '; Pearson r with AP: ' + ', '.join(f'{n} {res["r"][n]:.3f}' for n in res['r'])
    for w in getattr(obj, 'warnings', []) or []:
        s += f'. Warning: {w}'
    return s


class View:
    """Rendered views: shows inline in Jupyter (_repr_html_), .svg / .svgs hold the SVGs (librelp.so's)."""

    def __init__(self, states, svgs, cap, requests=None):
        self.states, self.svgs, self.caption = states, svgs, cap
        self.requests = requests or []

    @property
    def svg(self):
        """The first view's SVG (the one save_svg writes)."""
        return self.svgs[0]

    def _repr_html_(self):
        parts = []
        for st, s in zip(self.states, self.svgs):
            attrs = ' '.join(f'data-{k}="{_html.escape(str(v))}"' for k, v in st.items() if v is not None and k != 'focus')
            parts.append(f'<div class="relp-view" {attrs} style="margin:4px 0;overflow-x:auto">'
                         f'{_uniquify_ids(s)}</div>')
        return (f'<div class="relp-views">{"".join(parts)}<div class="relp-caption" style="font:12px sans-serif;'
                f'color:#444;margin:2px 0 6px">{_html.escape(self.caption)}</div></div>')

    def __repr__(self):
        return f'<relp.View {", ".join(st["view"] + ("/" + st["node"] if "node" in st else "") for st in self.states)}>'

    def save_svg(self, path):
        """Writes the SVG of the first view, byte for byte the page's SVG export of it."""
        with open(path, 'w', encoding='utf-8') as f:
            f.write(self.svg)
        return path

    def save_png(self, path, scale=2):
        """Writes the first view as PNG at scale (1 to 8) x the SVG's size (the page's PNG export is scale 2
        by default), rasterised by librelp.so, as the page and the CLI do."""
        if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or not 1 <= scale <= 8:
            raise Error(f'scale must be an integer from 1 to 8, got {scale!r}')
        png = draw(self.requests[0], png_scale=int(scale))
        with open(path, 'wb') as f:
            f.write(png)
        return path


def show(obj, view=None, node=None, ap=None, focus=None):
    if view is not None and not isinstance(view, str):
        raise Error(f'view must be a str such as "maps", "heads", "tokens", "scatter" or "attention", got '
                    f'{type(view).__name__}')
    if node is not None and node not in NODE_ORDER:
        raise Error(f'node {node!r}: expected one of {", ".join(NODE_ORDER)}')
    res = page_data(obj, ap)
    states = views_for(obj, res, view, node, focus)
    requests = [request(res, st) for st in states]
    return View(states, [draw(q) for q in requests], caption(obj, res), requests)


def html(obj):
    if isinstance(obj, Result) and obj.per_position:
        return (f'<p>{_html.escape(repr(obj))}: per-position head scores have no page view '
                f'(use .scores, or per_position=False).</p>')
    return show(obj)._repr_html_()


def ioi_html(t):
    head = ''.join(f'<th>{n}</th>' for n in NODE_ORDER)
    rows = ''.join(f'<tr><td>{e}</td>' + ''.join(f'<td>{_fmt(t[e][n]) if not math.isnan(t[e][n]) else "n/a"}</td>'
                                                 for n in NODE_ORDER) + f'<td>{t.seconds[e]:.3f}</td></tr>'
                   for e in t)
    return (f'<table class="relp-ioi"><caption>Pearson r with activation patching, IOI {t.dataset} ({t.prompts} '
            f'prompts, {t.batches} batches); logit difference clean {_fmt(t.metric_clean)}, corrupted '
            f'{_fmt(t.metric_corrupt)}</caption><tr><th>method</th>{head}<th>seconds</th></tr>{rows}</table>')


# ------------------------------------------------------------------ PNG

def svg_size(svg):
    m = re.search(r"<svg\b[^>]*?\bwidth=['\"]([\d.]+)['\"][^>]*?\bheight=['\"]([\d.]+)['\"]", svg)
    if not m:
        raise Error('save_png: the SVG has no width and height')
    return math.ceil(float(m.group(1))), math.ceil(float(m.group(2)))


def png_size(png):
    if png[:8] != b'\x89PNG\r\n\x1a\n' or png[12:16] != b'IHDR':
        raise Error('not a PNG file')
    return struct.unpack('>II', png[16:24])


def png_pixels(png):
    """Decodes an 8-bit RGB or RGBA PNG into a (H, W, channels) uint8 array (for tests and checks)."""
    w, h = png_size(png)
    depth, ctype = png[24], png[25]
    if depth != 8 or ctype not in (2, 6):
        raise Error(f'png_pixels: only 8-bit RGB/RGBA, got depth {depth} colour type {ctype}')
    ch = 3 if ctype == 2 else 4
    data, i = b'', 8
    while i < len(png):
        n, = struct.unpack('>I', png[i:i + 4])
        kind = png[i + 4:i + 8]
        if kind == b'IDAT':
            data += png[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(data)
    stride = w * ch
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    pos = 0
    for y in range(h):
        f = raw[pos]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=pos + 1).astype(np.int32)
        pos += 1 + stride
        cur = np.zeros(stride, dtype=np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 255
        else:  # Sub, Average, Paeth depend on the left pixel: sequential
            for x in range(stride):
                a = cur[x - ch] if x >= ch else 0
                b = prev[x]
                c = prev[x - ch] if x >= ch else 0
                if f == 1:
                    pr = a
                elif f == 3:
                    pr = (a + b) >> 1
                else:
                    p_ = a + b - c
                    pa, pb, pc = abs(p_ - a), abs(p_ - b), abs(p_ - c)
                    pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                cur[x] = (line[x] + pr) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, ch)
