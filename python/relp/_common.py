"""_common.py - what every module of the package shares: the error and warning types, the names of methods,
node types, metrics and TransformerLens hooks (read from the core's tables where it has them), and strings and
numbers written exactly as the CLI writes them (so that to_json() equals the CLI's text)."""
import ctypes
import re

import numpy as np

from . import _capi
from ._capi import METHOD_AP, METHOD_GRAD, METHOD_IG, METHOD_IG_INPUT, NODE_ATTN_OUT, NODE_ATTN_Z, NODE_MLP_OUT, NODE_RESID_PRE

def _presets():
    """The core's RelP presets (relp_rules_presets), "grad" first: [(name, title, source)]."""
    n = ctypes.c_int32()
    table = _capi.lib().relp_rules_presets(ctypes.byref(n))
    return [(table[i].name.decode(), table[i].title.decode(), table[i].source.decode()) for i in range(n.value)]


# The method names, in the CLI's order (cli_common.c's method list): ap, atp, the core's RelP presets, ig,
# ig-input. name: (enum relp_method, rules preset)
RULES = tuple(name for name, _, _ in _presets())
_METHODS = {'ap': (METHOD_AP, 'grad'), 'atp': (METHOD_GRAD, 'grad')}
_METHODS.update((r, (METHOD_GRAD, r)) for r in RULES if r != 'grad')
_METHODS.update({'ig': (METHOD_IG, 'grad'), 'ig-input': (METHOD_IG_INPUT, 'grad')})
METHODS = tuple(_METHODS)
_NODES = {'resid': NODE_RESID_PRE, 'attn': NODE_ATTN_OUT, 'mlp': NODE_MLP_OUT, 'head': NODE_ATTN_Z,
          'neuron': _capi.NODE_MLP_POST}
NODES = tuple(_NODES)
MAP_NODES = ('resid', 'attn', 'mlp', 'head')  # the node types drawn as maps (attribute_all, ioi, the views)
# the estimators of `relp ioi`'s table, in its order (cli/cmd_attribute.c cmd_ioi): every method but AP
IOI_ESTIMATORS = tuple(m for m in METHODS if m != 'ap')
# TransformerLens hook names (blocks.{layer}.<hook>) for each node type
_HOOKS = {'hook_resid_pre': 'resid', 'hook_attn_out': 'attn', 'hook_mlp_out': 'mlp', 'attn.hook_z': 'head',
          'hook_z': 'head', 'mlp.hook_post': 'neuron'}
_HOOK_OF = {'resid': 'hook_resid_pre', 'attn': 'hook_attn_out', 'mlp': 'hook_mlp_out', 'head': 'attn.hook_z',
            'neuron': 'mlp.hook_post'}
_HOOK_RE = re.compile(r'^(?:blocks\.(\d+)\.)?(hook_resid_pre|hook_attn_out|hook_mlp_out|attn\.hook_z|hook_z|'
                      r'mlp\.hook_post)$')
IOI_MAX = 4096  # the CLI's limit on --n


class Error(Exception):
    """A failure, with the library's own message (or the binding's, for arguments it checks first).
    .status is the enum relp_status value (negative), .status_name its name."""

    def __init__(self, message, status=_capi.RELP_STATUS_BAD_ARGUMENT):
        super().__init__(message)
        self.status = status

    @property
    def status_name(self):
        s = _capi.lib().relp_status_str(self.status)
        return s.decode() if s else str(self.status)


class RelpWarning(UserWarning):
    """A warning from the library (relp.h WARNINGS): the model does not predict the answer, the clean - corrupted gap
    is negative, zero (scores in metric units) or small, an answer lacks its leading space, noising, NaN/Inf weights.
    .kind is the core's name for it ("not_predicted", "gap_small", ...)."""

    def __init__(self, message, kind=''):
        super().__init__(message)
        self.kind = kind


class RunWarning(str):
    """One warning of a run: its sentence (the core's words, as the CLI prints it), with .kind its name
    ("not_predicted", "gap_negative", "gap_zero", "gap_small", "answer_space", "noising", "non_finite_weights")."""

    def __new__(cls, text, kind):
        s = super().__new__(cls, text)
        s.kind = kind
        return s

    def __repr__(self):
        return f'RunWarning({self.kind}: {str.__repr__(self)})'


def _warning_names():
    L = _capi.lib()
    out, i = {}, 0
    while True:
        p = L.relp_warning_name(i)
        if not p:
            return out
        out[p.contents.flag] = p.contents.name.decode()
        i += 1


def read_warnings(get, obj):
    """[RunWarning] from relp_ctx_warning / relp_model_warning on obj."""
    names = _warning_names()
    out, flag, i = [], ctypes.c_uint32(), 0
    while obj:
        p = get(obj, i, ctypes.byref(flag))
        if not p:
            break
        out.append(RunWarning(p.decode('utf-8', 'replace'), names.get(flag.value, 'warning')))
        i += 1
    return out


def warnings_json(ws):
    """The "warnings" array as the CLI writes it (cli_common.c warn_json)."""
    return '[' + ','.join(f'{{"kind":"{w.kind}","text":{_json_str(w.encode())}}}' for w in ws) + ']'


def _metrics():
    """The core's metrics (relp_metric_name): [(name, kind, title)]."""
    L, out, i = _capi.lib(), [], 0
    while True:
        p = L.relp_metric_name(i)
        if not p:
            return out
        out.append((p.contents.name.decode(), p.contents.kind, p.contents.title.decode()))
        i += 1


METRICS = tuple(n for n, _, _ in _metrics())  # "logit_diff", "logprob", "logit"
_METRIC_KIND = {n: k for n, k, _ in _metrics()}
METRIC_TITLE = {n: t for n, _, t in _metrics()}


def metric_kind(metric, has_wrong):
    """The enum relp_metric_kind of a metric name, checked against whether a wrong token was given."""
    if metric not in _METRIC_KIND:
        raise Error(f'metric {metric!r}: expected one of {", ".join(METRICS)}')
    if metric == 'logit_diff' and not has_wrong:
        raise Error('metric "logit_diff" needs a wrong token (wrong=...); "logprob" and "logit" read only the answer')
    return _METRIC_KIND[metric]


def library_path():
    """The librelp.so this package uses."""
    return _lib().relp_path


def _lib():
    try:
        return _capi.lib()
    except _capi.LibraryNotFound as e:
        raise Error(str(e), -1) from None


def _text(p):
    return p.decode('utf-8', 'replace') if p else ''


# ------------------------------------------------------------------ strings as the CLI writes them

def _json_str(s):
    """JSON text of bytes exactly as the CLI's json_str writes it (cli/cli_common.c): valid UTF-8 passes
    through, each byte of an invalid sequence becomes the escape \\ufffd, control characters \\u00XX."""
    out = ['"']
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == 0x22 or c == 0x5C:
            out.append('\\' + chr(c))
            i += 1
            continue
        if c < 0x20:
            out.append('\\u%04x' % c)
            i += 1
            continue
        if c < 0x80:
            out.append(chr(c))
            i += 1
            continue
        ln = 4 if 0xF0 <= c <= 0xF4 else 3 if 0xE0 <= c <= 0xEF else 2 if 0xC2 <= c <= 0xDF else 0
        ok = ln > 0 and i + ln <= n
        k = 1
        while ok and k < ln:
            ok = (s[i + k] & 0xC0) == 0x80
            k += 1
        if ok and ln == 3:
            cp = ((c & 15) << 12) | ((s[i + 1] & 63) << 6) | (s[i + 2] & 63)
            ok = cp >= 0x800 and (cp < 0xD800 or cp > 0xDFFF)
        if ok and ln == 4:
            cp = ((c & 7) << 18) | ((s[i + 1] & 63) << 12)
            ok = 0x10000 <= cp <= 0x10FFFF
        if ok:
            out.append(s[i:i + ln].decode('utf-8'))
            i += ln
        else:
            out.append('\\ufffd')
            i += 1
    out.append('"')
    return ''.join(out)


def _g(x, digits):
    """printf's %.{digits}g of a number (Python's % formatting is C's)."""
    return ('%.' + str(digits) + 'g') % x


def _ids_json(ids):
    return '[' + ','.join(str(int(i)) for i in ids) + ']'


def _to_i32(a):
    return np.ascontiguousarray(a, dtype=np.int32)


def _ptr(a, ctype=ctypes.c_float):
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def as_numpy(x):
    """A torch tensor (any device, no gradient kept) as a numpy array; anything else as it is."""
    if hasattr(x, 'detach') and hasattr(x, 'cpu') and hasattr(x, 'numpy'):
        return x.detach().cpu().numpy()
    return x


def to_torch(a):
    """A numpy array as a torch tensor sharing its memory (torch must be installed)."""
    try:
        import torch
    except ImportError:
        raise Error('torch is not installed: .torch() needs it (the arrays themselves are numpy)', -4) from None
    return torch.from_numpy(np.asarray(a))
