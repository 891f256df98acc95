"""_model.py - a loaded model and its context: load(), Model (tokens, forward with logits at every position,
run_with_cache with TransformerLens's hook names, the attribution methods with their metric and the run's
warnings, token relevance, attention patterns), in numpy, with torch tensors accepted as token ids."""
import contextlib
import ctypes
import json
import math
import os
import signal
import threading
import time
import warnings
import weakref

import numpy as np

from . import _capi
from ._capi import METHOD_GRAD, METHOD_IG_INPUT, METRIC_LOGIT, METRIC_LOGIT_DIFF, NODE_ATTN_Z
from ._common import (_HOOK_RE, _HOOKS, _METHODS, _NODES, MAP_NODES, METHODS, NODES, RULES, Error, RelpWarning,
                      _json_str, _lib, _ptr, _text, _to_i32, as_numpy, metric_kind, read_warnings)
from ._results import Cache, Explanation, Result, Results

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
        # the model's warnings (relp.h WARNINGS: NaN or Inf weights), each also raised as a RelpWarning
        self.warnings = read_warnings(L.relp_model_warning, handle)
        self.warning = self.warnings[0] if self.warnings else ''
        for w in self.warnings:
            warnings.warn(RelpWarning(f'{path}: {w}', w.kind), stacklevel=3)
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
        x = as_numpy(x)
        if isinstance(x, np.ndarray) and x.ndim == 0:
            x = int(x)
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
        x = as_numpy(x)  # a torch tensor of ids: its values
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

    def _ctx_warnings(self):
        """The context's warnings of its latest run (relp.h WARNINGS): [RunWarning]."""
        return read_warnings(self._L.relp_ctx_warning, self._ctx)

    def _ctx_warnings_text(self):
        return '; '.join(self._ctx_warnings())

    def _run_warnings(self, c, a, w, kind, mc, mr, noising, predict=True):
        """The whole run's warnings by the core's rules (relp_predict on the first clean prompt, then
        relp_run_warnings on the run's metric, direction, prompts and answers), as the CLI gets them:
        ([RunWarning], prediction or None)."""
        B, T = c.shape
        last = _to_i32(c[:, -1])
        a32 = _to_i32(a)
        w32 = _to_i32(w) if kind == METRIC_LOGIT_DIFF else None
        pred = _capi.relp_prediction()
        with self._call():
            ctx = self._ctx_for(B, T)
            if predict:
                self._check(self._L.relp_predict(ctx, _ptr(c[0], ctypes.c_int32), T, int(a[0]), ctypes.byref(pred)))
            f = _capi.relp_run_facts(kind, mc, mr, 1 if noising else 0, B, _ptr(last, ctypes.c_int32),
                                     _ptr(a32, ctypes.c_int32), _ptr(w32, ctypes.c_int32) if w32 is not None else None,
                                     ctypes.pointer(pred) if predict else None)
            self._L.relp_run_warnings(ctx, ctypes.byref(f))
            ws = self._ctx_warnings()
        return ws, (pred if predict else None)

    @staticmethod
    def _raise_warnings(ws, stacklevel=3):
        for w in ws:
            warnings.warn(RelpWarning(str(w), w.kind), stacklevel=stacklevel)

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
    def forward(self, prompt, bos=True, all_positions=False):
        """Logits at the last position: (V,) for one prompt (a str, ids, or a torch tensor of ids), (B, V) for a list
        of prompts of equal token length. all_positions=True: the logits at every position, (T, V) or (B, T, V), as a
        TransformerLens model returns them (relp_ctx_set_logit_positions: at most 64 positions per forward pass, so
        a longer prompt takes ceil(T / 64) passes)."""
        ids, single = self._batch(prompt, bos, 'prompt')
        B, T = ids.shape
        V = self.vocab_size
        with self._call():
            ctx = self._ctx_for(B, T)
            self._check(self._L.relp_ctx_set_logit_tokens(ctx, None, 0))
            if not all_positions:
                self._check(self._L.relp_forward(ctx, _ptr(ids, ctypes.c_int32), B, T))
                out = np.ctypeslib.as_array(self._L.relp_ctx_logits(ctx, None), shape=(B, V))
                return out[0].copy() if single else out.copy()
            out = np.empty((B, T, V), dtype=np.float32)
            try:
                for t0 in range(0, T, 64):
                    pos = np.arange(t0, min(T, t0 + 64), dtype=np.int32)
                    self._check(self._L.relp_ctx_set_logit_positions(ctx, _ptr(pos, ctypes.c_int32), len(pos)))
                    self._check(self._L.relp_forward(ctx, _ptr(ids, ctypes.c_int32), B, T))
                    n = ctypes.c_int32()
                    p = self._L.relp_ctx_logits(ctx, ctypes.byref(n))
                    out[:, t0:t0 + len(pos)] = np.ctypeslib.as_array(p, shape=(B, n.value, V))
            finally:
                self._L.relp_ctx_set_logit_positions(ctx, None, 0)
            return out[0] if single else out

    # ------------------------------------------------------------ cache (TransformerLens)
    def run_with_cache(self, prompt, bos=True, names_filter=None):
        """One forward pass, as TransformerLens's model.run_with_cache: (logits, cache). logits: (B, T, V) at every
        position; cache: a relp.Cache, a dict of numpy arrays by TransformerLens hook name, with a batch axis:
            blocks.L.hook_resid_pre, hook_resid_mid, hook_resid_post  (B, T, d_model)  (resid_mid: not in
                                                              GPT-NeoX's parallel block)
            blocks.L.hook_attn_out, hook_mlp_out                     (B, T, d_model)
            blocks.L.attn.hook_z                                     (B, T, n_heads, d_head)
            blocks.L.attn.hook_pattern                               (B, n_heads, T, T), row: the query
            blocks.L.mlp.hook_post                                   (B, T, d_mlp) (gated MLPs: act(gate) * up)
        cache['resid_pre', 3] is cache['blocks.3.hook_resid_pre'] (short names: resid_pre, resid_mid, resid_post,
        attn_out, mlp_out, z, pattern, post). Not cached by relp, so not here: hook_embed and hook_pos_embed,
        attn.hook_q / hook_k / hook_v / hook_attn_scores / hook_result, mlp.hook_pre, the norms' hook_scale and
        hook_normalized. names_filter: a hook name, a list of them, or a function name -> bool."""
        ids, _ = self._batch(prompt, bos, 'prompt')
        logits = self.forward(ids, bos=False, all_positions=True)  # (B, T, V), the prompts already tokenized
        B, T = ids.shape
        L, NH = self.n_layer, self.n_head
        if callable(names_filter):
            keep = names_filter
        elif names_filter is None:
            keep = None
        else:
            wanted = {names_filter} if isinstance(names_filter, str) else set(names_filter)
            keep = wanted.__contains__
        cache = {}
        with self._call():
            ctx = self._ctx_for(B, T)
            self._check(self._L.relp_ctx_set_logit_tokens(ctx, None, 0))
            self._check(self._L.relp_forward(ctx, _ptr(ids, ctypes.c_int32), B, T))

            def node(nid, layer, width):
                p = self._L.relp_ctx_node(ctx, nid, layer)
                return np.ctypeslib.as_array(p, shape=(B, T, width)).copy() if p else None

            C, I = self.n_embd, self.n_inner
            HS = self._L.relp_node_width(self._handle, NODE_ATTN_Z) // NH
            for l in range(L):
                items = [
                    (f'blocks.{l}.hook_resid_pre', lambda: node(_capi.NODE_RESID_PRE, l, C)),
                    (f'blocks.{l}.attn.hook_z', lambda: node(NODE_ATTN_Z, l, NH * HS).reshape(B, T, NH, HS)),
                    (f'blocks.{l}.attn.hook_pattern', lambda: np.ctypeslib.as_array(
                        self._L.relp_ctx_attn_pattern(ctx, l), shape=(B, NH, T, T)).copy()),
                    (f'blocks.{l}.hook_attn_out', lambda: node(_capi.NODE_ATTN_OUT, l, C)),
                    (f'blocks.{l}.hook_resid_mid', lambda: node(_capi.NODE_RESID_MID, l, C)),
                    (f'blocks.{l}.mlp.hook_post', lambda: node(_capi.NODE_MLP_POST, l, I)),
                    (f'blocks.{l}.hook_mlp_out', lambda: node(_capi.NODE_MLP_OUT, l, C)),
                    (f'blocks.{l}.hook_resid_post', lambda: node(_capi.NODE_RESID_PRE, l + 1, C)),
                ]
                for name, get in items:
                    if keep is None or keep(name):
                        v = get()
                        if v is not None:
                            cache[name] = v
        return logits, Cache(cache, self)  # (B, T, V): ids is 2-D, so forward kept the batch axis

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
        a = self._answers(answer, B, 'answer')
        w = self._answers(wrong, B, 'wrong') if wrong is not None else a.copy()  # a metric of the answer alone
        return c, x, a, w, single_c and single_x

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

    def _attribute_nodes(self, c, x, a, w, method, node_ids, steps, noising, per_position, progress,
                         kind=METRIC_LOGIT_DIFF):
        """One library call for node_ids (relp_attribute for one, relp_attribute_nodes for several)."""
        B, T = c.shape
        p, cb = self._attr_params(method, node_ids[0], steps, noising, per_position, progress)
        metric = _capi.relp_metric(kind, _ptr(a, ctypes.c_int32), _ptr(w, ctypes.c_int32), 1.0)
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
            warn = self._ctx_warnings_text()  # this batch's (the whole run's come from _run_warnings)
        del cb
        return outs, mc.value, mr.value, secs, warn

    def _result(self, method, node, layer, c, x, scores, mc, mr, secs, ws, steps, noising, per_position, metric):
        return Result(self, method, node, layer, c, scores, mc, mr, secs, ws, steps, noising,
                      bool(per_position and node == 'head'), metric=metric, corrupt_ids=x)

    def _caption_facts(self, obj, a, w, kind, pred):
        """What a figure's caption says of the run beside the scores: the model, the answer and wrong token of the
        first prompt, the prediction (relp_predict's)."""
        cap = {'model': os.path.basename(os.path.normpath(self.path)), 'answer': self._view_piece(a[0]),
               'wrong': self._view_piece(w[0]) if kind == METRIC_LOGIT_DIFF else None}
        if not type(obj) is dict:  # a plain dict: only its Results
            obj._caption, obj._prediction = cap, pred
        for r in (obj.values() if isinstance(obj, dict) else ()):
            r._caption, r._prediction = cap, pred
        return obj

    def attribute(self, clean, corrupt, answer, wrong=None, method='relp', node='resid', steps=10, noising=False,
                  per_position=False, bos=True, max_batch=64, progress=None, metric='logit_diff'):
        """One attribution method for one node type, as `relp attribute --json` (see relp.h METHODS).

        clean, corrupt: prompts of equal token length: a str each, or lists of str (a batch: the scores
            are the batch's aggregate, as `relp attribute --prompts`), or token ids (numpy or torch).
        answer, wrong: single tokens (" Mary", with the space) or ids; one per prompt or one for all.
        method: one of relp.METHODS (ap, atp, the RelP presets relp, relp-ln, relp-cp, attnlrp, then ig, ig-input).
        node: resid, attn, mlp, head, or a TransformerLens hook name: blocks.3.hook_resid_pre,
            blocks.3.hook_attn_out, blocks.3.hook_mlp_out, blocks.3.attn.hook_z (.scores is then that
            layer's row; .map keeps every layer).
        metric: one of relp.METRICS: "logit_diff" (logit(answer) - logit(wrong), the default), "logprob" (the
            answer's log-probability) or "logit" (its logit), at the last position; the last two read no wrong.
        Returns a Result: .scores (L, T), heads (L, H) or with per_position (L, H, T); .warnings the run's
        (each also raised as a relp.RelpWarning)."""
        nname, layer = self._parse_node(node)
        self._method(method)
        kind = metric_kind(metric, wrong is not None)
        if kind != METRIC_LOGIT_DIFF and wrong is not None:
            raise Error(f'metric {metric!r} reads only the answer: leave wrong out')
        c, x, a, w, _ = self._pairs(clean, corrupt, answer, wrong, bos)

        def run(c, x, a, w):
            return self._attribute_nodes(c, x, a, w, method, [_NODES[nname]], steps, noising, per_position, progress,
                                         kind)
        scores, mc, mr, secs, _ = self._batches(c, x, a, w, max_batch, run)
        ws, pred = self._run_warnings(c, a, w, kind, mc, mr, noising)
        self._raise_warnings(ws)
        r = self._result(method, nname, layer, c, x, scores[0], mc, mr, secs, ws, steps, noising, per_position, metric)
        return self._caption_facts(r, a, w, kind, pred)

    def attribute_all(self, clean, corrupt, answer, wrong=None, method='relp', steps=10, noising=False,
                      per_position=False, ap=False, relevance=True, bos=True, max_batch=64, progress=None,
                      metric='logit_diff'):
        """Every node type (resid, attn, mlp, head) at once, as the page runs a method: AtP, the RelP presets
        and ig-input from one backward pass (one sweep for ig-input, relp_attribute_nodes); AP and IG one
        node type after another. ap=True adds activation patching of every node type (.ap, and Pearson r in
        .r); relevance=True adds the clean prompt's token relevance under the method's rules (.relevance).
        metric: as attribute's. Returns Results, a mapping node -> Result (and TransformerLens hook name ->
        that layer's scores), with the run's .warnings."""
        mid, rules = self._method(method)
        kind = metric_kind(metric, wrong is not None)
        if kind != METRIC_LOGIT_DIFF and wrong is not None:
            raise Error(f'metric {metric!r} reads only the answer: leave wrong out')
        c, x, a, w, _ = self._pairs(clean, corrupt, answer, wrong, bos)
        names = list(MAP_NODES)
        found = {}

        def run_nodes(meth):
            def run(c, x, a, w):
                if _METHODS[meth][0] in (METHOD_GRAD, METHOD_IG_INPUT):
                    return self._attribute_nodes(c, x, a, w, meth, [_NODES[n] for n in names], steps, noising,
                                                 per_position, progress, kind)
                outs, secs = [], 0.0
                for n in names:
                    o, mc, mr, s, warn = self._attribute_nodes(c, x, a, w, meth, [_NODES[n]], steps, noising,
                                                               per_position, progress, kind)
                    outs.append(o[0])
                    secs += s
                return outs, mc, mr, secs, warn
            scores, mc, mr, secs, _ = self._batches(c, x, a, w, max_batch, run)
            if 'ws' not in found:  # the run's warnings: the estimate's metric, as AP's (the same two runs)
                found['ws'], found['pred'] = self._run_warnings(c, a, w, kind, mc, mr, noising)
            return {n: self._result(meth, n, None, c, x, scores[i], mc, mr, secs, found['ws'], steps, noising,
                                    per_position, metric)
                    for i, n in enumerate(names)}

        est = run_nodes(method)
        apr = run_nodes('ap') if ap else None
        self._raise_warnings(found['ws'])
        rel = None
        if relevance:
            with warnings.catch_warnings():  # its warnings are the run's, raised above
                warnings.simplefilter('ignore', RelpWarning)
                rel = self.explain(c, a, w if kind == METRIC_LOGIT_DIFF else None, rules=rules,
                                   metric=metric)
        out = Results(self, method, est, apr, rel)
        if apr:
            self._caption_facts(apr, a, w, kind, found['pred'])
        return self._caption_facts(out, a, w, kind, found['pred'])

    # ------------------------------------------------------------ token relevance
    def explain(self, prompt, answer, wrong=None, rules='relp', bos=True, metric=None):
        """LRP relevance of each input token for logit(answer) - logit(wrong) (or logit(answer) without
        wrong), as `relp explain --json`. rules: one of relp.RULES (grad and the RelP presets). metric: None (as
        just said), or one of relp.METRICS ("logprob": the answer's log-probability). A list of prompts of equal
        length gives relevance (B, T) and the mean sum. .warnings: the prediction's and the leading space's."""
        if rules not in RULES:
            raise Error(f'rules {rules!r}: expected one of {", ".join(RULES)}')
        if metric is None:
            metric = 'logit_diff' if wrong is not None else 'logit'
        kind = metric_kind(metric, wrong is not None)
        if kind != METRIC_LOGIT_DIFF and wrong is not None:
            raise Error(f'metric {metric!r} reads only the answer: leave wrong out')
        ids, single = self._batch(prompt, bos, 'prompt')
        B, T = ids.shape
        a = self._answers(answer, B, 'answer')
        w = self._answers(wrong, B, 'wrong') if wrong is not None else np.zeros(B, dtype=np.int32) - 1
        mt = _capi.relp_metric(kind, _ptr(a, ctypes.c_int32), _ptr(w, ctypes.c_int32), 1.0)
        rel = np.zeros((B, T), dtype=np.float32)
        total, value = ctypes.c_double(), ctypes.c_double()
        with self._call():
            ctx = self._ctx_for(B, T)
            self._check(self._L.relp_token_relevance(ctx, _ptr(ids, ctypes.c_int32), B, T, ctypes.byref(mt),
                                                     self._L.relp_rules_preset(rules.encode()), _ptr(rel),
                                                     ctypes.byref(total), ctypes.byref(value)))
        ws, pred = self._run_warnings(ids[:1], a[:1], w[:1], kind, math.nan, math.nan, False)
        self._raise_warnings(ws)
        e = Explanation(self, rules, metric, ids, rel[0] if single else rel, total.value, value.value, ws)
        return self._caption_facts(e, a, w, kind, pred)

    # ------------------------------------------------------------ attention
    def attention(self, prompt, layer, head=None, bos=True):
        """Attention pattern of a prompt (its first, for a batch): (NH, T, T) for a layer, (T, T) for one head;
        row = query, column = key, each row summing to 1 over the keys up to the query (relp_ctx_attn_pattern).
        With grouped-query attention there is one pattern per query head. Every layer at once:
        run_with_cache(prompt)[1] holds blocks.L.attn.hook_pattern; relp.show(result, view="attention") draws
        them for a result's clean and corrupted prompts."""
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

    def _patterns(self, ids):
        """Every layer's attention patterns of one prompt (ids), (L, NH, T, T), from one forward pass."""
        ids = _to_i32(np.asarray(ids).reshape(1, -1))
        T = ids.shape[1]
        out = np.empty((self.n_layer, self.n_head, T, T), dtype=np.float32)
        with self._call():
            ctx = self._ctx_for(1, T)
            self._check(self._L.relp_ctx_set_logit_tokens(ctx, None, 0))
            self._check(self._L.relp_forward(ctx, _ptr(ids, ctypes.c_int32), 1, T))
            for l in range(self.n_layer):
                out[l] = np.ctypeslib.as_array(self._L.relp_ctx_attn_pattern(ctx, l), shape=(self.n_head, T, T))
        return out
