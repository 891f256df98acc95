"""_views.py - the page's views in Jupyter and as files, drawn by the page's own renderer.

web/render.js (plain data -> SVG string) draws every view for the page, its export and its embeds; here
it runs under Node (Debian `nodejs`) on the same data the page's worker builds, so a notebook shows the
same SVG the page shows. The inline HTML is the SVG itself with its tooltips (<title>: hover shows the
exact value): no script, no server, nothing fetched, so a saved notebook shows it again when reopened
(trusted or not) and on any static viewer. save_svg writes render.js's string as the page's SVG export
does; save_png rasterises that SVG at `scale` times its size with headless Chromium (Debian `chromium`),
as the page's PNG export draws it on a canvas at 2x.

The renderer is found, first match wins: $RELP_RENDER_JS; web/render.js of the checkout this package sits
in; the copy `make python` / `pip install ./python` puts in relp/_web/render.js.
"""
import html as _html
import itertools
import json
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

import numpy as np

from . import Error, Explanation, IOITable, Result, Results, _capi

NODE_ORDER = ('resid', 'attn', 'mlp', 'head')
_uid = itertools.count(1)


def renderer_path():
    cands = []
    if os.environ.get('RELP_RENDER_JS'):
        cands.append(os.environ['RELP_RENDER_JS'])
    if _capi.in_checkout():
        cands.append(os.path.join(_capi.REPO, 'web', 'render.js'))
    cands.append(os.path.join(_capi.HERE, '_web', 'render.js'))
    for c in cands:
        if os.path.isfile(c):
            return c
    raise Error('relp views: the page renderer render.js was not found (looked in ' + ', '.join(cands) +
                '); run `make python`, or set $RELP_RENDER_JS to web/render.js', -1)


def _node_binary():
    for c in (os.environ.get('RELP_NODE'), shutil.which('node'), shutil.which('nodejs')):
        if c:
            return c
    raise Error('relp views need Node.js to run the page renderer web/render.js: install Debian\'s nodejs '
                '(apt-get install nodejs), or set $RELP_NODE to a node binary', -1)


def _chromium_binary():
    for c in (os.environ.get('RELP_CHROMIUM'), shutil.which('chromium'), shutil.which('chromium-browser'),
              shutil.which('google-chrome')):
        if c:
            return c
    raise Error('save_png rasterises the SVG with headless Chromium: install Debian\'s chromium (apt-get install '
                'chromium), or set $RELP_CHROMIUM to a Chromium or Chrome binary', -1)


def render(items):
    """[(res, view)] -> [svg], one Node process for all."""
    req = {'renderer': renderer_path(), 'items': [{'res': r, 'view': v} for r, v in items]}
    text = json.dumps(req, allow_nan=True)  # NaN / Infinity: JavaScript literals, read as such by _render.mjs
    script = os.path.join(_capi.HERE, '_render.mjs')
    try:
        p = subprocess.run([_node_binary(), script], input=text.encode(), capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Error(f'relp views: running node failed: {e}', -1) from None
    if p.returncode != 0:
        raise Error(f'relp views: node {script} failed (exit {p.returncode}): {p.stderr.decode(errors="replace")}',
                    -1)
    out = json.loads(p.stdout)
    for o in out:
        if 'error' in o:
            raise Error(o['error'])
    return [o['svg'] for o in out]


# ------------------------------------------------------------------ the page's data

def _floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def page_data(obj, ap=None):
    """The result object the page's worker builds (web/worker.js run()), from a Result, Results or
    Explanation."""
    if isinstance(obj, Explanation):
        rel = obj.relevance if obj.relevance.ndim == 1 else obj.relevance[0]
        return {'tokens': obj._view_tokens, 'cleanIds': obj.token_ids.tolist(), 'T': len(obj.token_ids),
                'est': {}, 'ap': {}, 'r': {}, 'tokenRelevance': _floats(rel), 'tokenRelevanceRules': obj.rules,
                'metricValue': obj.metric_value}
    if isinstance(obj, Result):
        if obj.per_position:
            raise Error('per-position head scores (L, H, T) have no page view; draw a result with '
                        'per_position=False')
        ap = ap if ap is not None else obj.ap
        res = {'tokens': obj._view_tokens, 'cleanIds': obj.token_ids.tolist(), 'L': obj.n_layer, 'NH': obj.n_head,
               'T': obj.positions, 'est': {obj.node: _floats(obj.map)}, 'ap': {}, 'r': {}, 'method': obj.method,
               'mClean': obj.metric_clean, 'mCorrupt': obj.metric_corrupt, 'warning': obj.warning}
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
               'method': obj.method, 'mClean': obj.metric_clean, 'mCorrupt': obj.metric_corrupt,
               'warning': obj.warning}
        if obj.ap:
            res['ap'] = {n: _floats(obj.ap[n].map) for n in NODE_ORDER}
            res['r'] = dict(obj.r)
        if obj.relevance is not None:
            rel = obj.relevance.relevance
            res['tokenRelevance'] = _floats(rel if rel.ndim == 1 else rel[0])
            res['tokenRelevanceRules'] = obj.relevance.rules
            res['metricValue'] = obj.relevance.metric_value
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
    if 'tokenRelevance' in res:
        out.append({'view': 'tokens', 'method': method})
    if res['ap']:
        out.append({'view': 'scatter', 'method': method})
    return out


def views_for(obj, res, view, node):
    if view is None:
        vs = default_views(obj, res)
        if node is not None:
            vs = [v for v in vs if v.get('node') == node] or vs
        return vs
    if view == 'tokens' and 'tokenRelevance' not in res:
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
        s = (f'token relevance ({obj.rules} rules) for the {"logit difference" if obj.metric == "logit_diff" else "logit"}'
             f' {_fmt(obj.metric_value)}; sum of relevance {_fmt(obj.sum)}')
    else:
        s = (f'{res["method"]}; {res["T"]} tokens; logit difference: clean {_fmt(res["mClean"])}, corrupted '
             f'{_fmt(res["mCorrupt"])}')
        if res['r']:
            s += '; Pearson r with AP: ' + ', '.join(f'{n} {res["r"][n]:.3f}' for n in res['r'])
    w = getattr(obj, 'warning', '')
    if w:
        s += f'. Warning: {w}'
    return s


class View:
    """Rendered views: shows inline in Jupyter (_repr_html_), .svg / .svgs hold render.js's strings."""

    def __init__(self, states, svgs, cap):
        self.states, self.svgs, self.caption = states, svgs, cap

    @property
    def svg(self):
        """The first view's SVG (the one save_svg writes)."""
        return self.svgs[0]

    def _repr_html_(self):
        parts = []
        for st, s in zip(self.states, self.svgs):
            attrs = ' '.join(f'data-{k}="{_html.escape(str(v))}"' for k, v in st.items() if v is not None)
            parts.append(f'<div class="relp-view" {attrs} style="margin:4px 0;overflow-x:auto">'
                         f'{_uniquify_ids(s)}</div>')
        return (f'<div class="relp-views">{"".join(parts)}<div class="relp-caption" style="font:12px sans-serif;'
                f'color:#444;margin:2px 0 6px">{_html.escape(self.caption)}</div></div>')

    def __repr__(self):
        return f'<relp.View {", ".join(st["view"] + ("/" + st["node"] if "node" in st else "") for st in self.states)}>'

    def save_svg(self, path):
        """Writes the SVG of the first view, byte for byte render.js's string (the page's SVG export)."""
        with open(path, 'w', encoding='utf-8') as f:
            f.write(self.svg)
        return path

    def save_png(self, path, scale=2):
        """Writes the first view as PNG at scale x the SVG's size (the page's PNG export is scale 2), drawn
        by headless Chromium from the same SVG."""
        png = rasterise(self.svg, scale)
        with open(path, 'wb') as f:
            f.write(png)
        return path


def show(obj, view=None, node=None, ap=None):
    if view is not None and not isinstance(view, str):
        raise Error(f'view must be a str such as "maps", "heads", "tokens" or "scatter", got {type(view).__name__}')
    if node is not None and node not in NODE_ORDER:
        raise Error(f'node {node!r}: expected one of {", ".join(NODE_ORDER)}')
    res = page_data(obj, ap)
    states = views_for(obj, res, view, node)
    svgs = render([(res, st) for st in states])
    for st, s in zip(states, svgs):
        if not s:
            raise Error(f'render.js drew nothing for view {st}')
    return View(states, svgs, caption(obj, res))


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


def rasterise(svg, scale=2):
    """PNG bytes of an SVG at scale x its size, by headless Chromium (offline: a local file, no network)."""
    if not isinstance(scale, (int, float)) or not 0 < scale <= 16:
        raise Error(f'scale must be a number in (0, 16], got {scale!r}')
    w, h = svg_size(svg)
    with tempfile.TemporaryDirectory(prefix='relp-png-') as d:
        page = os.path.join(d, 'view.html')
        out = os.path.join(d, 'view.png')
        with open(page, 'w', encoding='utf-8') as f:
            f.write('<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;padding:0;'
                    'background:#fff;overflow:hidden}svg{display:block}</style></head><body>' + svg + '</body></html>')
        cmd = [_chromium_binary(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
               '--disable-extensions', '--no-first-run', '--hide-scrollbars', '--mute-audio',
               f'--user-data-dir={os.path.join(d, "profile")}', f'--force-device-scale-factor={scale}',
               f'--window-size={w},{h}', f'--screenshot={out}', 'file://' + page]
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=120, env=dict(os.environ, HOME=d))
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Error(f'save_png: running Chromium failed: {e}', -1) from None
        if not os.path.isfile(out):
            raise Error(f'save_png: Chromium wrote no screenshot (exit {p.returncode}): '
                        f'{p.stderr.decode(errors="replace")[-800:]}', -1)
        with open(out, 'rb') as f:
            png = f.read()
    pw, ph = png_size(png)
    want = (round(w * scale), round(h * scale))
    if (pw, ph) != want:
        raise Error(f'save_png: Chromium drew {pw}x{ph} pixels, expected {want[0]}x{want[1]}', -1)
    return png


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
