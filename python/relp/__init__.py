"""relp from Python: GPT-2 in portable C, explained with Relevance Patching, as numpy arrays.

    import relp
    m = relp.load()                                  # the bundled default model (models-small/models.json)
    r = m.attribute("When John and Mary went to the shops, John gave the bag to",
                    "When John and Mary went to the shops, Mary gave the bag to",
                    " Mary", " John", method="relp", node="resid")
    r.scores            # numpy (L, T): layer x position, in units of the normalised metric
    r.to_json()         # the text `relp attribute --json -` prints for the same inputs
    allr = m.attribute_all(clean, corrupt, " Mary", " John", method="relp", ap=True)
    relp.show(allr, view="scatter")                  # the page's views, inline in Jupyter
    allr.save_svg("maps.svg"); allr.save_png("maps.png", scale=2)

A thin layer over librelp.so (include/relp.h) with ctypes: no compiled extension. Errors raise
relp.Error with the library's own message. A Model frees its weights and context when it is closed,
leaves a `with` block or is garbage-collected; the arrays it returns own their data.
"""
import contextlib
import ctypes
import json
import math
import os
import re
import signal
import threading
import time
import warnings

import numpy as np

from . import _capi
from ._capi import (METHOD_AP, METHOD_GRAD, METHOD_IG, METHOD_IG_INPUT, METRIC_LOGIT, METRIC_LOGIT_DIFF,
                    NODE_ATTN_OUT, NODE_ATTN_Z, NODE_MLP_OUT, NODE_RESID_PRE)

__all__ = ['load', 'Model', 'Result', 'Results', 'Explanation', 'IOITable', 'Error', 'RelpWarning', 'show', 'METHODS', 'NODES',
           'default_model', 'library_path', 'load_saes', 'Saes', 'FeatureScores', 'Faithfulness', 'EdgeScores']



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
    """A warning from the library (NaN/Inf weights; m_clean == m_corrupt, so scores are in metric units)."""


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


# ------------------------------------------------------------------ models

def _models_dirs():
    """Where the bundled models may be: $RELP_MODELS, the package's copy, the checkout's models-small/."""
    out = []
    if os.environ.get('RELP_MODELS'):
        out.append(os.environ['RELP_MODELS'])
    out.append(os.path.join(_capi.HERE, 'models-small'))
    if _capi.in_checkout():
        out.append(os.path.join(_capi.REPO, 'models-small'))
    info = os.path.join(_capi.HERE, '_build_info.json')
    if os.path.isfile(info):  # written by `make python`: the checkout it was built from
        with open(info) as f:
            repo = json.load(f).get('repo')
        if repo:
            out.append(os.path.join(repo, 'models-small'))
    return out


def default_model():
    """The directory of the bundled default model: models-small/models.json's "default"."""
    tried = []
    for d in _models_dirs():
        manifest = os.path.join(d, 'models.json')
        if os.path.isfile(manifest):
            with open(manifest, encoding='utf-8') as f:
                name = json.load(f)['default']
            return os.path.join(d, name)
        tried.append(manifest)
    raise Error('relp.load(): no model named and no bundled models found (looked for ' + ', '.join(tried) +
                '); give a checkpoint directory, or set $RELP_MODELS to a models-small/ folder', -1)


def load(model=None, weights='f32', tokenizer=None, threads=None, mmap=True, low_memory=False, seed=1234):
    """Loads a model, as the CLI's --model does.

    model: a Hugging Face checkpoint directory of a supported architecture (GPT-2, Llama, Qwen2,
        Qwen3, GPT-NeoX: config.json, model.safetensors or shards, tokenizer.json or vocab.json +
        merges.txt), or a shape with random weights ("gpt2-small-random", "smollm2-135m-random", ...,
        "random:L,C,NH"; seed as the CLI's), or None for the bundled default model.
    weights: "f32", "f16" or "bf16": the large matrices' dtype in memory (compute stays f32).
    tokenizer: a directory with tokenizer.json (+ tokenizer_config.json), or vocab.json + merges.txt
        (or encoder.json + vocab.bpe), for a model that has none, e.g. a random one.
    threads: worker threads (default: every core; results are bit-identical to one thread).
    low_memory: drop the transposed weight copies (the CLI's --low-memory): half the block weights'
        memory, slower backward.
    """
    L = _lib()
    if model is None:
        model = default_model()
    model = os.fspath(model)
    if weights not in _capi.DTYPES:
        raise Error(f'weights {weights!r}: expected one of {", ".join(_capi.DTYPES)}')
    lp = L.relp_load_default_params()
    lp.weight_dtype = _capi.DTYPES[weights]
    lp.use_mmap = 1 if mmap else 0
    if low_memory:
        lp.transposed_copy = 0
    handle = ctypes.c_void_p()
    cfg = _capi.relp_config()
    if L.relp_config_from_shape_name(model.encode(), ctypes.byref(cfg)):
        st = L.relp_model_init_random(ctypes.byref(handle), ctypes.byref(cfg), seed, ctypes.byref(lp))
    else:
        st = L.relp_model_init_from_dir(ctypes.byref(handle), os.fsencode(model), ctypes.byref(lp))
    if st != 0:
        msg = _text(L.relp_last_error(handle))
        L.relp_model_free(handle)
        raise Error(msg, st)
    m = Model(handle, model, threads)
    if tokenizer is not None and not L.relp_has_tokenizer(handle):
        try:
            m._attach_tokenizer(os.fspath(tokenizer))
        except BaseException:
            m.close()
            raise
    return m


def _to_i32(a):
    return np.ascontiguousarray(a, dtype=np.int32)


def _ptr(a, ctype=ctypes.c_float):
    return a.ctypes.data_as(ctypes.POINTER(ctype))


class Tokens(tuple):
    """(ids, pieces): ids a numpy int32 array, pieces the token strings as the CLI's JSON writes them."""
    __slots__ = ()

    def __new__(cls, ids, pieces):
        return super().__new__(cls, (ids, pieces))

    ids = property(lambda self: self[0])
    pieces = property(lambda self: self[1])

    def __repr__(self):
        return f'Tokens(ids={self[0].tolist()}, pieces={self[1]})'


class Model:
    """A loaded model (weights + tokenizer) and one reusable context. Use relp.load()."""

    def __init__(self, handle, path, threads):
        L = _lib()
        self._L = L
        self._handle = handle
        self.path = path
        cfg = L.relp_model_config(handle).contents
        self.n_layer, self.n_head, self.n_embd, self.n_inner = cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.n_inner
        self.n_positions, self.vocab_size = cfg.n_positions, cfg.vocab_size
        self.n_params = int(L.relp_model_n_params(handle))
        self.weights = {0: 'f32', 1: 'f16', 2: 'bf16'}[L.relp_model_weight_dtype(handle)]
        self.threads = int(threads) if threads else max(1, min(256, os.cpu_count() or 1))
        note = _text(L.relp_last_error(handle))
        self.warning = note if note.startswith('warning') else ''
        if self.warning:
            warnings.warn(f'{path}: {self.warning}', RelpWarning, stacklevel=3)
        self._ctx = None
        self._ctx_shape = (0, 0)
        flag = self._cancel_flag = [False]  # the callback must not hold self: no cycle, freed when the last reference goes
        self._cancel_cb = _capi.CANCEL_FN(lambda user: 1 if flag[0] else 0)
        self._lock = threading.RLock()
        self._progress_error = None
        self._saes_loaded = []  # relp.Saes read for this model (freed with it)

    # ------------------------------------------------------------ lifetime
    def close(self):
        """Frees the context and the model (also done by `with` and by garbage collection)."""
        L = getattr(self, '_L', None)
        if L is None:
            return
        if getattr(self, '_ctx', None):
            L.relp_ctx_free(self._ctx)
            self._ctx = None
        for saes in getattr(self, '_saes_loaded', []):
            saes._release(self)
        self._saes_loaded = []
        if getattr(self, '_handle', None):
            L.relp_model_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        state = 'closed' if not self._handle else f'{self.n_params:,} parameters, {self.weights} weights'
        return (f'<relp.Model {self.path!r}: {self.n_layer} layers, {self.n_head} heads, width {self.n_embd}; '
                f'{state}>')

    @property
    def has_tokenizer(self):
        return bool(self._L.relp_has_tokenizer(self._live()))

    def _live(self):
        if not self._handle:
            raise Error(f'the model {self.path!r} is closed')
        return self._handle

    def _attach_tokenizer(self, d):
        def file_of(path):
            with open(path, 'rb') as f:
                b = f.read()
            return _capi.relp_file(path.encode(), ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p), len(b)), b

        # as the CLI's --tokenizer: tokenizer.json (+ tokenizer_config.json), else GPT-2's two files
        pj, pc = os.path.join(d, 'tokenizer.json'), os.path.join(d, 'tokenizer_config.json')
        if os.path.isfile(pj):
            fj, bj = file_of(pj)
            fc, bc = file_of(pc) if os.path.isfile(pc) else (None, None)
            st = self._L.relp_model_attach_tokenizer_json(self._handle, ctypes.byref(fj),
                                                           ctypes.byref(fc) if fc is not None else None)
            del bj, bc
            if st != 0:
                raise Error(_text(self._L.relp_last_error(self._handle)), st)
            return
        for v, m in (('vocab.json', 'merges.txt'), ('encoder.json', 'vocab.bpe')):
            pv, pm = os.path.join(d, v), os.path.join(d, m)
            if not (os.path.isfile(pv) and os.path.isfile(pm)):
                continue
            (fv, bv), (fm, bm) = file_of(pv), file_of(pm)
            st = self._L.relp_model_attach_tokenizer(self._handle, ctypes.byref(fv), ctypes.byref(fm))
            del bv, bm
            if st != 0:
                raise Error(_text(self._L.relp_last_error(self._handle)), st)
            return
        raise Error(f'tokenizer={d!r}: no tokenizer.json, vocab.json + merges.txt or encoder.json + vocab.bpe there', -1)

    # ------------------------------------------------------------ tokens
    def _token_bytes(self, i):
        n = ctypes.c_int32()
        p = self._L.relp_token_bytes(self._live(), int(i), ctypes.byref(n))
        return ctypes.string_at(p, n.value) if p else b''

    def piece(self, i):
        """The string of one token as the CLI's JSON writes it (invalid UTF-8 bytes: U+FFFD each)."""
        return json.loads(_json_str(self._token_bytes(i)))

    def _piece_json(self, i):
        n = ctypes.c_int32()
        p = self._L.relp_token_bytes(self._live(), int(i), ctypes.byref(n))
        return _json_str(ctypes.string_at(p, n.value)) if p else 'null'

    def _view_piece(self, i):
        # as the page decodes a token (TextDecoder: maximal subparts become one U+FFFD)
        return self._token_bytes(i).decode('utf-8', 'replace')

    def _encode(self, text, bos):
        if not isinstance(text, str):
            raise Error(f'expected a str prompt, got {type(text).__name__}')
        b = text.encode('utf-8', 'surrogatepass')
        cap = len(b) + 2
        ids = np.empty(cap, dtype=np.int32)
        n = ctypes.c_int64()
        st = self._L.relp_tokenize(self._live(), b, len(b), 1 if bos else 0, _ptr(ids, ctypes.c_int32), cap,
                                   ctypes.byref(n))
        if st != 0 and n.value > cap:  # a tokenizer.json template may prepend more than one token
            cap = n.value
            ids = np.empty(cap, dtype=np.int32)
            st = self._L.relp_tokenize(self._live(), b, len(b), 1 if bos else 0, _ptr(ids, ctypes.c_int32), cap,
                                       ctypes.byref(n))
        if st != 0:
            raise Error(_text(self._L.relp_last_error(self._handle)), st)
        return ids[:n.value].copy()

    def tokenize(self, text, bos=True):
        """Token ids and pieces of a text (the model's BOS first unless bos=False: <|endoftext|> for GPT-2,
        as its tokenizer.json / tokenizer_config.json say for the others): Tokens(ids, pieces),
        as `relp tokenize` gives them. A list of texts gives a list."""
        if isinstance(text, (list, tuple)):
            return [self.tokenize(t, bos) for t in text]
        ids = self._encode(text, bos)
        return Tokens(ids, [self.piece(i) for i in ids])

    def decode(self, ids):
        """The text of token ids (bytes joined, then decoded with U+FFFD for invalid UTF-8)."""
        return b''.join(self._token_bytes(i) for i in np.asarray(ids).ravel()).decode('utf-8', 'replace')

    def _single_token(self, x, what):
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            if not 0 <= int(x) < self.vocab_size:
                raise Error(f'{what} id {int(x)} is outside the vocabulary [0, {self.vocab_size})')
            return int(x)
        if not isinstance(x, str):
            raise Error(f'{what} must be a str (one token, e.g. " Mary") or a token id, got {type(x).__name__}')
        ids = self._encode(x, False)
        if len(ids) == 1:
            return int(ids[0])
        shown = ', '.join(f'{int(i)} {self._piece_json(i)}' for i in ids[:64])
        raise Error(f"{what} {x!r} is {len(ids)} tokens [{shown}]; expected exactly one token (a word after a "
                    f"space is one token with its space: ' Mary')")

    def _answers(self, x, B, what):
        if isinstance(x, (list, tuple, np.ndarray)):
            if len(x) != B:
                raise Error(f'{what}: {len(x)} given for {B} prompts; give one per prompt, or one for all')
            return np.array([self._single_token(v, f'{what} {k}') for k, v in enumerate(x)], dtype=np.int32)
        return np.full(B, self._single_token(x, what), dtype=np.int32)

    def _check_ids(self, ids, what):
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise Error(f'{what}: token ids must be in [0, {self.vocab_size})')
        return ids

    def _batch(self, x, bos, what):
        """Prompts as a (B, T) int32 array: a str, a list of str, ids (1-D) or a batch of ids (2-D or a list of
        id lists). Returns (ids, single)."""
        single = True
        if isinstance(x, str):
            rows = [self._encode(x, bos)]
        elif isinstance(x, np.ndarray) and x.ndim in (1, 2) and (x.size == 0 or np.issubdtype(x.dtype, np.integer)):
            rows = [x] if x.ndim == 1 else list(x)
            single = x.ndim == 1
        elif isinstance(x, (list, tuple)) and len(x) and all(isinstance(v, (int, np.integer)) for v in x):
            rows = [np.array(x)]
        elif isinstance(x, (list, tuple)) and len(x):
            single = False
            rows = []
            for k, v in enumerate(x):
                if isinstance(v, str):
                    rows.append(self._encode(v, bos))
                elif isinstance(v, (list, tuple, np.ndarray)):
                    rows.append(np.asarray(v))
                else:
                    raise Error(f'{what} {k}: expected a str or a list of token ids, got {type(v).__name__}')
        else:
            raise Error(f'{what}: expected a str, a list of str, or token ids, got {type(x).__name__}'
                        + (' (empty)' if isinstance(x, (list, tuple)) else ''))
        T = len(rows[0])
        for k, r in enumerate(rows):
            label = what if single else f'{what} {k}'
            if len(r) == 0:
                raise Error(f'{label} is empty (0 tokens)')
            if len(r) > self.n_positions:
                raise Error(f"{label} is {len(r)} tokens, more than the model's n_positions = {self.n_positions}")
            if len(r) != T:
                raise Error(f'{label} is {len(r)} tokens but the prompts before it are {T}; one batch needs equal '
                            f'lengths')
        ids = np.stack([np.asarray(r) for r in rows])
        if not np.issubdtype(ids.dtype, np.integer):
            raise Error(f'{what}: token ids must be integers, got {ids.dtype}')
        return _to_i32(self._check_ids(ids, what)), single

    # ------------------------------------------------------------ context
    def _ctx_for(self, B, T):
        self._live()
        if self._ctx and self._ctx_shape[0] >= B and self._ctx_shape[1] >= T:
            return self._ctx
        if self._ctx:
            self._L.relp_ctx_free(self._ctx)
            self._ctx = None
        cp = self._L.relp_ctx_default_params()
        cp.max_batch = max(B, self._ctx_shape[0])
        cp.max_tokens = min(self.n_positions, max(T, self._ctx_shape[1]))
        cp.n_threads = self.threads
        ctx = ctypes.c_void_p()
        st = self._L.relp_ctx_init(ctypes.byref(ctx), self._handle, ctypes.byref(cp))
        if st != 0:
            msg = _text(self._L.relp_ctx_last_error(ctx)) if ctx else _text(self._L.relp_last_error(self._handle))
            self._L.relp_ctx_free(ctx)
            raise Error(msg, st)
        self._ctx = ctx
        self._ctx_shape = (cp.max_batch, cp.max_tokens)
        self._L.relp_ctx_set_cancel(ctx, self._cancel_cb, None)
        return ctx

    def _ctx_error(self):
        return _text(self._L.relp_ctx_last_error(self._ctx))

    def _check(self, st):
        if st == _capi.RELP_STATUS_CANCELLED and self._progress_error is not None:
            e, self._progress_error = self._progress_error, None
            raise e
        if st == _capi.RELP_STATUS_CANCELLED and self._cancel_flag[0]:
            raise KeyboardInterrupt('relp: ' + self._ctx_error())
        if st != 0:
            raise Error(self._ctx_error(), st)

    @contextlib.contextmanager
    def _call(self):
        """One library call: Ctrl-C (SIGINT, also Jupyter's interrupt) cancels a long AP or IG loop through the
        context's cancel callback, then raises KeyboardInterrupt; the model stays usable."""
        with self._lock:
            self._cancel_flag[0] = False
            self._progress_error = None
            old = None
            if threading.current_thread() is threading.main_thread():
                def on_sigint(signum, frame):
                    self._cancel_flag[0] = True
                try:
                    old = signal.signal(signal.SIGINT, on_sigint)
                except (ValueError, OSError):
                    old = None
            try:
                yield
            finally:
                if old is not None:
                    signal.signal(signal.SIGINT, old)
                self._cancel_flag[0] = False

    # ------------------------------------------------------------ forward
    def forward(self, prompt, bos=True):
        """Logits at the last position: (V,) for one prompt (a str or ids), (B, V) for a list of prompts of
        equal token length."""
        ids, single = self._batch(prompt, bos, 'prompt')
        B, T = ids.shape
        with self._call():
            ctx = self._ctx_for(B, T)
            self._check(self._L.relp_ctx_set_logit_tokens(ctx, None, 0))
            self._check(self._L.relp_forward(ctx, _ptr(ids, ctypes.c_int32), B, T))
            p = self._L.relp_ctx_logits(ctx, None)
            out = np.ctypeslib.as_array(p, shape=(B, self.vocab_size))
            return out[0].copy() if single else out.copy()

    # ------------------------------------------------------------ attribution
    def _parse_node(self, node):
        if node in _NODES:
            return node, None
        m = _HOOK_RE.match(node) if isinstance(node, str) else None
        if not m:
            raise Error(f'node {node!r}: expected one of {", ".join(NODES)}, or a TransformerLens hook name such as '
                        f'blocks.0.hook_resid_pre, blocks.0.hook_attn_out, blocks.0.hook_mlp_out, blocks.0.attn.hook_z')
        layer = None if m.group(1) is None else int(m.group(1))
        if layer is not None and layer >= self.n_layer:
            raise Error(f'node {node!r}: this model has layers 0 to {self.n_layer - 1}')
        return _HOOKS[m.group(2)], layer

    def _method(self, method):
        if method not in _METHODS:
            raise Error(f'method {method!r}: expected one of {", ".join(METHODS)}')
        return _METHODS[method]

    def _pairs(self, clean, corrupt, answer, wrong, bos):
        c, single_c = self._batch(clean, bos, 'clean prompt')
        x, single_x = self._batch(corrupt, bos, 'corrupted prompt')
        if c.shape[0] != x.shape[0]:
            raise Error(f'{c.shape[0]} clean prompts and {x.shape[0]} corrupted ones; give one corrupted prompt '
                        f'per clean prompt')
        if c.shape[1] != x.shape[1]:
            raise Error(f'the clean prompt is {c.shape[1]} tokens and the corrupted one {x.shape[1]}; they must '
                        f'match position by position\n  clean:     {self._shown(c[0])}\n'
                        f'  corrupted: {self._shown(x[0])}')
        B = c.shape[0]
        return c, x, self._answers(answer, B, 'answer'), self._answers(wrong, B, 'wrong'), single_c and single_x

    def _shown(self, ids):
        return '[' + ', '.join(f'{int(i)} {self._piece_json(i)}' for i in ids) + ']'

    def _attr_params(self, method, node_id, steps, noising, per_position, progress):
        m, rules = self._method(method)
        if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 100000:
            raise Error(f'steps must be an integer in [1, 100000], got {steps!r}')
        p = self._L.relp_attr_default_params()
        p.method = m
        p.node = node_id
        p.rules = self._L.relp_rules_preset(rules.encode()).contents
        p.ig_steps = int(steps)
        p.noising = 1 if noising else 0
        p.per_position = 1 if per_position and node_id == NODE_ATTN_Z else 0
        cb = None
        if progress is not None:
            flag = self._cancel_flag

            def on_progress(user, done, total):
                try:
                    progress(int(done), int(total))
                except BaseException as e:  # noqa: BLE001 - stop the run, raise it after the call returns
                    self._progress_error = e
                    flag[0] = True
            cb = _capi.PROGRESS_FN(on_progress)
            p.progress = cb
        return p, cb

    def _count(self, p, T):
        return int(self._L.relp_attr_count(self._handle, ctypes.byref(p), T))

    def _batches(self, c, x, a, w, max_batch, run):
        """Runs run(c, x, a, w) -> (scores list, mc, mr, seconds) over batches of max_batch prompts and
        aggregates as the CLI does: sum_b n_b dm_b s_b / sum_b n_b dm_b (cli/cmd_attribute.c)."""
        if not isinstance(max_batch, (int, np.integer)) or max_batch < 1:
            raise Error(f'max_batch must be a positive integer, got {max_batch!r}')
        n = c.shape[0]
        mb = min(n, int(max_batch))
        recs = []
        for g in range(0, n, mb):
            s = slice(g, g + mb)
            recs.append((min(mb, n - g),) + run(c[s], x[s], a[s], w[s]))
        if len(recs) == 1:
            _, scores, mc, mr, secs, warn = recs[0]
            return scores, mc, mr, secs, warn
        k = len(recs[0][1])
        num = [np.zeros(len(v), dtype=np.float64) for v in recs[0][1]]
        den = mc = mr = secs = 0.0
        for nb, scores, mcb, mrb, sb, _ in recs:
            wgt = nb * (mcb - mrb)
            for i in range(k):
                num[i] += wgt * scores[i].astype(np.float64)
            den += wgt
            mc += mcb * nb
            mr += mrb * nb
            secs += sb
        out = [(v / den if den != 0 else v).astype(np.float32) for v in num]
        return out, mc / n, mr / n, secs, ''

    def _attribute_nodes(self, c, x, a, w, method, node_ids, steps, noising, per_position, progress):
        """One library call for node_ids (relp_attribute for one, relp_attribute_nodes for several)."""
        B, T = c.shape
        p, cb = self._attr_params(method, node_ids[0], steps, noising, per_position, progress)
        metric = _capi.relp_metric(METRIC_LOGIT_DIFF, _ptr(a, ctypes.c_int32), _ptr(w, ctypes.c_int32), 1.0)
        outs = []
        for nid in node_ids:
            q = self._L.relp_attr_default_params()
            q.node = nid
            q.per_position = p.per_position
            outs.append(np.zeros(self._count(q, T), dtype=np.float32))
        mc, mr = ctypes.c_double(), ctypes.c_double()
        with self._call():
            ctx = self._ctx_for(B, T)
            t0 = time.perf_counter()
            if len(node_ids) == 1:
                st = self._L.relp_attribute(ctx, _ptr(c, ctypes.c_int32), _ptr(x, ctypes.c_int32), B, T,
                                            ctypes.byref(metric), ctypes.byref(p), _ptr(outs[0]), ctypes.byref(mc),
                                            ctypes.byref(mr))
            else:
                nodes = (ctypes.c_int * len(node_ids))(*node_ids)
                ptrs = (ctypes.POINTER(ctypes.c_float) * len(outs))(*[_ptr(o) for o in outs])
                st = self._L.relp_attribute_nodes(ctx, _ptr(c, ctypes.c_int32), _ptr(x, ctypes.c_int32), B, T,
                                                  ctypes.byref(metric), ctypes.byref(p), nodes, len(node_ids), ptrs,
                                                  ctypes.byref(mc), ctypes.byref(mr))
            secs = time.perf_counter() - t0
            self._check(st)
            warn = self._ctx_error()  # a warning with status OK (m_clean == m_corrupt)
        del cb
        return outs, mc.value, mr.value, secs, warn

    def _result(self, method, node, layer, c, scores, mc, mr, secs, warn, steps, noising, per_position):
        if warn:
            warnings.warn(warn, RelpWarning, stacklevel=3)
        return Result(self, method, node, layer, c, scores, mc, mr, secs, warn, steps, noising,
                      bool(per_position and node == 'head'))

    def attribute(self, clean, corrupt, answer, wrong, method='relp', node='resid', steps=10, noising=False,
                  per_position=False, bos=True, max_batch=64, progress=None):
        """One attribution method for one node type, as `relp attribute --json` (see relp.h METHODS).

        clean, corrupt: prompts of equal token length: a str each, or lists of str (a batch: the scores
            are the batch's aggregate, as `relp attribute --prompts`), or token ids.
        answer, wrong: single tokens (" Mary", with the space) or ids; one per prompt or one for all.
        method: one of relp.METHODS (ap, atp, the RelP presets relp, relp-ln, relp-cp, attnlrp, then ig, ig-input).
        node: resid, attn, mlp, head, or a TransformerLens hook name: blocks.3.hook_resid_pre,
            blocks.3.hook_attn_out, blocks.3.hook_mlp_out, blocks.3.attn.hook_z (.scores is then that
            layer's row; .map keeps every layer).
        Returns a Result: .scores (L, T), heads (L, H) or with per_position (L, H, T)."""
        nname, layer = self._parse_node(node)
        self._method(method)
        c, x, a, w, _ = self._pairs(clean, corrupt, answer, wrong, bos)

        def run(c, x, a, w):
            return self._attribute_nodes(c, x, a, w, method, [_NODES[nname]], steps, noising, per_position, progress)
        scores, mc, mr, secs, warn = self._batches(c, x, a, w, max_batch, run)
        return self._result(method, nname, layer, c, scores[0], mc, mr, secs, warn, steps, noising, per_position)

    def attribute_all(self, clean, corrupt, answer, wrong, method='relp', steps=10, noising=False,
                      per_position=False, ap=False, relevance=True, bos=True, max_batch=64, progress=None):
        """Every node type (resid, attn, mlp, head) at once, as the page runs a method: AtP, the RelP presets
        and ig-input from one backward pass (one sweep for ig-input, relp_attribute_nodes); AP and IG one
        node type after another. ap=True adds activation patching of every node type (.ap, and Pearson r in
        .r); relevance=True adds the clean prompt's token relevance under the method's rules (.relevance).
        Returns Results, a mapping node -> Result."""
        mid, rules = self._method(method)
        c, x, a, w, _ = self._pairs(clean, corrupt, answer, wrong, bos)
        names = list(MAP_NODES)

        def run_nodes(meth):
            def run(c, x, a, w):
                if _METHODS[meth][0] in (METHOD_GRAD, METHOD_IG_INPUT):
                    return self._attribute_nodes(c, x, a, w, meth, [_NODES[n] for n in names], steps, noising,
                                                 per_position, progress)
                outs, secs = [], 0.0
                for n in names:
                    o, mc, mr, s, warn = self._attribute_nodes(c, x, a, w, meth, [_NODES[n]], steps, noising,
                                                               per_position, progress)
                    outs.append(o[0])
                    secs += s
                return outs, mc, mr, secs, warn
            scores, mc, mr, secs, warn = self._batches(c, x, a, w, max_batch, run)
            return {n: self._result(meth, n, None, c, scores[i], mc, mr, secs, warn, steps, noising, per_position)
                    for i, n in enumerate(names)}

        est = run_nodes(method)
        apr = run_nodes('ap') if ap else None
        rel = None
        if relevance:
            rel = self.explain(c, a, w, rules=rules)
        return Results(self, method, est, apr, rel)

    # ------------------------------------------------------------ token relevance
    def explain(self, prompt, answer, wrong=None, rules='relp', bos=True):
        """LRP relevance of each input token for logit(answer) - logit(wrong) (or logit(answer) without
        wrong), as `relp explain --json`. rules: one of relp.RULES (grad and the RelP presets). A list of prompts of equal
        length gives relevance (B, T) and the mean sum."""
        if rules not in RULES:
            raise Error(f'rules {rules!r}: expected one of {", ".join(RULES)}')
        ids, single = self._batch(prompt, bos, 'prompt')
        B, T = ids.shape
        a = self._answers(answer, B, 'answer')
        w = self._answers(wrong, B, 'wrong') if wrong is not None else np.zeros(B, dtype=np.int32) - 1
        kind = METRIC_LOGIT_DIFF if wrong is not None else METRIC_LOGIT
        metric = _capi.relp_metric(kind, _ptr(a, ctypes.c_int32), _ptr(w, ctypes.c_int32), 1.0)
        rel = np.zeros((B, T), dtype=np.float32)
        total, value = ctypes.c_double(), ctypes.c_double()
        with self._call():
            ctx = self._ctx_for(B, T)
            self._check(self._L.relp_token_relevance(ctx, _ptr(ids, ctypes.c_int32), B, T, ctypes.byref(metric),
                                                     self._L.relp_rules_preset(rules.encode()), _ptr(rel),
                                                     ctypes.byref(total), ctypes.byref(value)))
        return Explanation(self, rules, kind == METRIC_LOGIT_DIFF, ids, rel[0] if single else rel, total.value,
                           value.value)

    # ------------------------------------------------------------ attention
    def attention(self, prompt, layer, head=None, bos=True):
        """Attention pattern of a prompt: (NH, T, T) for a layer, (T, T) for one head (row = query)."""
        ids, _ = self._batch(prompt, bos, 'prompt')
        ids = ids[:1]
        T = ids.shape[1]
        if not 0 <= layer < self.n_layer:
            raise Error(f'layer {layer}: this model has layers 0 to {self.n_layer - 1}')
        if head is not None and not 0 <= head < self.n_head:
            raise Error(f'head {head}: this model has heads 0 to {self.n_head - 1}')
        with self._call():
            ctx = self._ctx_for(1, T)
            self._check(self._L.relp_ctx_set_logit_tokens(ctx, None, 0))
            self._check(self._L.relp_forward(ctx, _ptr(ids, ctypes.c_int32), 1, T))
            p = self._L.relp_ctx_attn_pattern(ctx, layer)
            pat = np.ctypeslib.as_array(p, shape=(self.n_head, T, T)).copy()
        return pat if head is None else pat[head]

    # ------------------------------------------------------------ IOI
    def ioi(self, dataset='demo', n=64, seed=1, steps=10, bos=True, max_batch=64, progress=None):
        """The paper's table, as `relp ioi --json`: Pearson r with AP (denoising) of every estimator per node
        type, over the IOI prompts (dataset "demo": the official notebook's 8; "wang": n of Wang et al.'s,
        from seed), batched by token length. Returns an IOITable: a dict estimator -> {node: r}."""
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
        est = list(IOI_ESTIMATORS) + ['ap']
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
        for e in IOI_ESTIMATORS:
            table[e] = {}
            for k in MAP_NODES:
                a_, b_ = cat[e][k], cat['ap'][k]
                table[e][k] = float(L.relp_pearson(_ptr(a_), _ptr(b_), len(a_)))
        return IOITable(table, model=self.path, dataset=dataset, prompts=counted, batches=len(groups), ig_steps=steps,
                        metric_clean=mc_sum / counted if counted else math.nan,
                        metric_corrupt=mr_sum / counted if counted else math.nan, seconds=seconds,
                        ap_scores={k: cat['ap'][k] for k in MAP_NODES})


# ------------------------------------------------------------------ results

class _Views:
    """The page's views of a result (relp/_views.py): inline in Jupyter, and saved as SVG or PNG. view=None:
    the result's own default view."""

    def _repr_html_(self):
        from . import _views
        return _views.html(self)

    def show(self, view=None, **kw):
        return show(self, view, **kw)

    def save_svg(self, path, view=None, **kw):
        return show(self, view, **kw).save_svg(path)

    def save_png(self, path, scale=2, view=None, **kw):
        return show(self, view, **kw).save_png(path, scale)


class Result(_Views):
    """One method on one node type. .scores: numpy float32, (L, T) for resid/attn/mlp, (L, H) for heads,
    (L, H, T) per position; one layer's row when the node was a TransformerLens hook name with a layer
    (.map is then the whole map). .tokens: the first clean prompt's pieces. Scores are in units of the
    normalised metric (m - m_corrupt) / (m_clean - m_corrupt), m = logit(answer) - logit(wrong)."""

    def __init__(self, model, method, node, layer, clean_ids, scores, mc, mr, secs, warning, steps, noising,
                 per_position):
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
        self.warning = warning
        self.ap = None  # an AP Result of the same node type to draw beside this one (compare())

    @property
    def scores(self):
        return self.map if self.layer is None else self.map[self.layer]

    def __repr__(self):
        where = self.node if self.layer is None else f'{self.node}, layer {self.layer}'
        return (f'<relp.Result {self.method} on {where}: scores {self.scores.shape}, metric clean '
                f'{self.metric_clean:.4f}, corrupted {self.metric_corrupt:.4f}>')

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
             f'"prompts":{self.prompts},"token_ids":{_ids_json(self.token_ids)},'
             f'"tokens":[{",".join(self._pieces_json)}],"layers":{self.n_layer},"positions":{self.positions},')
        if heads:
            s += f'"heads":{self.n_head},'
        if self.node == 'neuron':
            s += f'"neurons":{self.map.shape[2]},'
        if self.method in ('ig', 'ig-input'):
            s += f'"steps":{self.steps},'
        secs = self.seconds if seconds is None else seconds
        s += (f'"scores":[{",".join(rows)}],"metric_clean":{_g(self.metric_clean, 9)},'
              f'"metric_corrupt":{_g(self.metric_corrupt, 9)},"seconds":{"%.4f" % secs}}}')
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
        self.warning = any_.warning

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

    def __init__(self, model, rules, diff, ids, rel, total, value):
        self.rules = rules
        self.metric = 'logit_diff' if diff else 'logit'
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
                f'"conservation_gap":{_g(self.metric_value - self.sum, 9)}}}')



class IOITable(dict):
    """`relp ioi`'s table: a dict estimator -> {node: Pearson r with AP} (NaN where a map is constant), with
    .metric_clean, .metric_corrupt, .prompts, .batches, .seconds (per method), .ap_scores (AP's cells per
    node type, every batch concatenated) and .to_json() (the text `relp ioi --json` writes)."""

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
        return (f'{{"model":{_json_str(os.fsencode(self.model))},"dataset":"{self.dataset}","prompts":{self.prompts},'
                f'"batches":{self.batches},"ig_steps":{self.ig_steps},"metric_clean":{_g(self.metric_clean, 9)},'
                f'"metric_corrupt":{_g(self.metric_corrupt, 9)},"pearson":{{{pear}}},"seconds":{{{secs}}},'
                f'"ap_scores":{{{aps}}}}}')

    def _repr_html_(self):
        from . import _views
        return _views.ioi_html(self)


def show(result, view=None, node=None, ap=None):
    """A page view of a result, drawn by relp's renderer in librelp.so (relp.h FIGURES, as the page and the CLI
    draw it): a View, which Jupyter shows inline (self-contained HTML + SVG) and which saves as .svg or .png
    (save_svg, save_png).

    view: "maps" (layer x position, AP beside when there is AP; node picks resid/attn/mlp), "heads",
        "positions", "tokens" or "scatter"; None: every view the result has.
    ap: an AP Result to draw beside a Result (as Result.compare)."""
    from . import _views
    return _views.show(result, view, node, ap)


# circuits (python/relp/_circuits.py): SAE features, neurons, components, faithfulness, edges
from . import _circuits  # noqa: E402
from ._circuits import EdgeScores, Faithfulness, FeatureScores, Saes, load_saes  # noqa: E402,F401

Model.features = _circuits.features
Model.faithfulness = _circuits.faithfulness
Model.edges = _circuits.edges
