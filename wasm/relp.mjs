// relp.mjs - the JavaScript API around the WebAssembly build of relp.
//
// One module for the page's worker and for Node (tests, benchmarks):
//
//   import { loadEngine } from './relp.mjs';
//   const engine = await loadEngine({ glueUrl: 'relp_engine.js', wasmBinary });   // browser
//   const engine = await loadEngine({ gluePath, wasmBinary });                     // Node
//   const engine = await loadEngine({ glueUrl: 'relp_engine_mt.js', wasmBinary, threads: 4 }); // threaded
//   const model = engine.loadModel([{ name: 'config.json', bytes }, ...], { f16: false });
//   const ids = model.tokenize('When John and Mary went to the shops, John gave the bag to');
//   const r = model.attribute({ clean, corrupt, answer, wrong, method: 'relp', node: 'mlp' });
//   // r.scores: Float32Array (L, T), r.mClean, r.mCorrupt
//   model.free();
//   const figures = await loadFigures({ glueUrl: 'relp_figure.js', wasmBinary });  // the figures alone
//   const { svg, width, height } = figures.draw({ kind: 'maps', layout: 'positions', ... }); // relp.h FIGURES
//
// Rules kept here (Emscripten's memory can grow, which replaces the heap's
// ArrayBuffer): every heap view is taken afresh from the module after a call
// that may allocate, and results are copied out before they are returned.
// Pointers are read as unsigned (>>> 0): memory goes up to 4 GB.
// Errors throw RelpError with the core's own message.

export class RelpError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'RelpError';
    this.status = status;
  }
}

// The names of methods, node types, presets, dtypes and architectures come
// from the C core's one table (constants.mjs, generated at build time from
// core/names.c through this module).
import { NAMES, METHOD, NODES, NODE_ID, DTYPES, ARCHS, SHAPES, WARNING_NAME, METRIC } from './constants.mjs';

// The methods in the page's order: the RelP presets, then atp, ig, ig-input, and AP (the ground truth) last.
const pageOrder = (m) => (m.method === 0 ? 2 : m.method === 1 && m.rules !== 'grad' ? 0 : 1);
export const METHODS = NAMES.methods.slice().sort((a, b) => pageOrder(a) - pageOrder(b)).map((m) => m.name);
export { NODES };
const METRIC_LOGIT_DIFF = METRIC.logit_diff;
// a metric's enum from its name (relp.h relp_metric_name: logit_diff, logprob, logit)
function metricKind(metric) {
  if (!Object.hasOwn(METRIC, metric)) throw new RelpError(`metric ${JSON.stringify(metric)}: expected one of ${Object.keys(METRIC).join(', ')}`, -4);
  return METRIC[metric];
}
// one prompt or B: clean/corrupt flat B*T ids, answer/wrong one id or B of them
function batchOf(clean, corrupt, answer, wrong, B) {
  if (clean.length !== corrupt.length)
    throw new RelpError(`the clean prompt is ${clean.length} tokens and the corrupted one ${corrupt.length}; they must have the same number of tokens`, -4);
  const ans = typeof answer === 'number' ? [answer] : Array.from(answer), wr = typeof wrong === 'number' ? [wrong] : Array.from(wrong);
  if (B < 1 || clean.length % B || ans.length !== B || wr.length !== B)
    throw new RelpError(`a batch of ${B} prompts needs ${B} answers and wrong tokens and B x T ids (got ${ans.length}, ${wr.length}, ${clean.length})`, -4);
  return { T: clean.length / B, ans, wr };
}
const WEIGHT_DTYPE = Object.fromEntries(DTYPES.map((d, i) => [d, i])); // enum relp_dtype

function weightDtype(weights) {
  if (!Object.hasOwn(WEIGHT_DTYPE, weights))
    throw new RelpError(`weights ${JSON.stringify(weights)}: expected one of ${Object.keys(WEIGHT_DTYPE).join(', ')}`, -4);
  return WEIGHT_DTYPE[weights];
}
const IOI_RECORD = [256, 256, 32, 32]; // struct relp_ioi_prompt

// warnings from the core (relp_ctx_warning or relp_model_warning on obj): [{ kind, text }], kind the core's name
function readWarnings(M, get, obj) {
  const out = [];
  if (!obj) return out;
  const flag = M._malloc(4);
  try {
    for (let i = 0; ; i++) {
      const p = get(obj, i, flag) >>> 0;
      if (!p) break;
      out.push({ kind: WARNING_NAME[M.HEAPU32 ? M.HEAPU32[flag >> 2] : M.HEAP32[flag >> 2] >>> 0], text: M.UTF8ToString(p) });
    }
  } finally { M._free(flag); }
  return out;
}
// the sentence of the warning that the scores are in metric units (the gap is zero), or ''
const unitsText = (ws) => (ws.find((w) => w.kind === 'gap_zero') || { text: '' }).text;

// ---------------------------------------------------------------- which module
// The modules built (wasm/CMakeLists.txt), one per set of features, since an
// engine rejects a whole module that holds one instruction it does not know:
//   relp_engine             SIMD128, one thread (every engine relp supports)
//   relp_engine_relaxed     SIMD128 + f32x4.relaxed_madd (Chromium 114+; Safari
//                           rejects any relaxed instruction, even one never run)
//   relp_engine_mt          SIMD128 with threads, on SharedArrayBuffer, which a
//                           browser gives only to a cross-origin isolated page
//                           (COOP/COEP headers: tools/serve.mjs sends them)
//   relp_engine_relaxed_mt  both
//   relp_engine_scalar      the portable scalar kernels (tests)
// Elsewhere the page falls back to a one-thread module by itself. Results are
// bit-identical for every thread count (the core splits work by index only).
export const MAX_THREADS = 8;
// whether this host can run a threaded module: shared memory, and (in a browser) cross-origin isolation
export function threadsSupported() {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  return typeof globalThis.crossOriginIsolated === 'boolean' ? globalThis.crossOriginIsolated : true; // Node: yes
}
// min(cores, MAX_THREADS) where threads can run, else 1
export function defaultThreads() {
  if (!threadsSupported()) return 1;
  const cores = typeof navigator !== 'undefined' && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 1;
  return Math.max(1, Math.min(cores, MAX_THREADS));
}
// the base name of the files to load (.js glue and .wasm, and .worker.js for the threaded ones)
export function engineName({ relaxed = false, threads = 1 } = {}) {
  return `relp_engine${relaxed ? '_relaxed' : ''}${threads > 1 ? '_mt' : ''}`;
}

// Whether this engine validates f32x4.relaxed_madd. The module by hand:
// one function (v128) -> v128 that returns f32x4.relaxed_madd(x, x, x).
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7b, 0x01, 0x7b, // type section: 1 type, func (v128) -> (v128)
  0x03, 0x02, 0x01, 0x00,                         // function section: 1 function of type 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00,                   // code section: 1 body of 11 bytes, no locals
  0x20, 0x00, 0x20, 0x00, 0x20, 0x00,             //   local.get 0, three times
  0xfd, 0x85, 0x02,                               //   f32x4.relaxed_madd (0xfd, LEB128 0x105)
  0x0b,                                           //   end
]);
export async function relaxedSimdSupported() {
  try { return WebAssembly.validate(RELAXED_PROBE); } catch { return false; }
}

// Loads the Emscripten glue (a classic script defining createRelpEngine) and
// instantiates it with the given wasm bytes. In the browser the glue is
// fetched and evaluated in the global scope, which works in module workers
// where importScripts does not; in Node it is required.
// threads (> 1: the threaded module's glue only): the most threads any
// context will use; the module starts that many workers as it loads (a
// pool for a context and one for AP's batched copy of it), and
// engine.setThreads() picks any count up to it later.
async function glueFactory({ glueUrl, gluePath, factory }, name) {
  if (factory) return factory;
  if (gluePath) {
    const { createRequire } = await import('node:module');
    return createRequire(import.meta.url)(gluePath);
  }
  const src = await (await fetch(glueUrl)).text();
  (0, eval)(src); // eslint-disable-line no-eval
  return globalThis[name];
}
export async function loadEngine({ glueUrl, gluePath, wasmBinary, factory, threads = 1 }) {
  factory = await glueFactory({ glueUrl, gluePath, factory }, 'createRelpEngine');
  const opts = { wasmBinary, print: () => {}, printErr: () => {} };
  threads = Math.max(1, Math.min(MAX_THREADS, Math.floor(threads) || 1));
  if (threads > 1) {
    opts.relpPoolSize = 2 * (threads - 1); // read by the glue as it starts (wasm/CMakeLists.txt)
    // each worker loads the glue again: from its URL (the glue is eval'd here, so it cannot find itself)
    if (glueUrl) opts.mainScriptUrlOrBlob = String(glueUrl);
  }
  const M = await factory(opts);
  return new Engine(M, threads);
}

export class Scratch {
  // malloc'd buffers that live for one call (also used by circuits.mjs)
  constructor(M) { this.M = M; this.ptrs = []; }
  alloc(bytes) {
    const p = this.M._malloc(Math.max(8, bytes)) >>> 0;
    if (!p) throw new RelpError(`out of memory allocating ${bytes} bytes in the WebAssembly heap`, -5);
    this.ptrs.push(p);
    return p;
  }
  i32(values) {
    const p = this.alloc(4 * values.length);
    this.M.HEAP32.set(values, p >> 2);
    return p;
  }
  str(s) {
    const n = this.M.lengthBytesUTF8(s) + 1;
    const p = this.alloc(n);
    this.M.stringToUTF8(s, p, n);
    return p;
  }
  free() { for (const p of this.ptrs) this.M._free(p); this.ptrs = []; }
}

export class Engine {
  constructor(M, maxThreads = 1) {
    this.M = M;
    this.kernels = M.UTF8ToString(M._relpw_kernels()); // "wasm simd128", "wasm simd128 + relaxed madd" or the scalar path
    this.maxThreads = maxThreads; // what the loaded module was started for
    this.threads = maxThreads;    // what new contexts ask for (setThreads)
    // the rule presets, from the core: [{ name, title, source }] ('grad' first: the exact gradient)
    this.presets = NAMES.presets.map((p) => ({ ...p }));
  }

  // The threads the next computation runs on: 1 to maxThreads (clamped); returns the count set.
  setThreads(n) {
    this.threads = Math.max(1, Math.min(this.maxThreads, Math.floor(n) || 1));
    return this.threads;
  }

  // files: [{ name, bytes: Uint8Array }] with Hugging Face names (config.json,
  // model.safetensors or shards + index, tokenizer.json + tokenizer_config.json
  // or vocab.json + merges.txt). The bytes
  // are copied once into the WebAssembly heap, which the model then owns.
  // weights: the large matrices' dtype in memory, 'f32', 'f16' or 'bf16'
  // (f16: true is short for weights: 'f16').
  loadModel(files, { f16 = false, weights = f16 ? 'f16' : 'f32' } = {}) {
    const dtype = weightDtype(weights);
    const M = this.M;
    const owned = [];
    const s = new Scratch(M);
    try {
      const arr = M._relpw_files_alloc(files.length) >>> 0;
      s.ptrs.push(arr);
      files.forEach((f, i) => {
        const name = this._ownStr(f.name, owned);
        const data = M._malloc(Math.max(8, f.bytes.length)) >>> 0;
        if (!data) throw new RelpError(`${f.name}: ${f.bytes.length} bytes do not fit in the WebAssembly heap (4 GB at most)`, -5);
        owned.push(data);
        M.HEAPU8.set(f.bytes, data);
        M._relpw_files_set(arr, i, name, data, f.bytes.length);
      });
      const out = s.alloc(4);
      const st = M._relpw_model_load(out, arr, files.length, dtype);
      const handle = M.HEAP32[out >> 2] >>> 0;
      if (st !== 0) {
        const msg = M.UTF8ToString(M._relp_last_error(handle));
        if (handle) M._relp_model_free(handle);
        throw new RelpError(msg, st);
      }
      return new Model(this, handle, owned.splice(0));
    } finally {
      for (const p of owned) M._free(p);
      s.free();
    }
  }

  // Random weights (tests, benchmarks): a named shape (shape: 'smollm2-135m-random', ...: NAMES.shapes in
  // constants.mjs), or a GPT-2 of shape L, C, NH as in relp_model_init_random.
  randomModel({ shape = null, L, C, NH, nPositions = 1024, V = 50257, seed = 1, f16 = false, weights = f16 ? 'f16' : 'f32' }) {
    const dtype = weightDtype(weights);
    const s = new Scratch(this.M);
    try {
      const out = s.alloc(4);
      const st = shape !== null ? this.M._relpw_model_random_named(out, s.str(shape), seed, dtype)
        : this.M._relpw_model_random(out, L, C, NH, nPositions, V, seed, dtype);
      if (st !== 0 && shape !== null && !this.M.HEAP32[out >> 2])
        throw new RelpError(`random shape ${JSON.stringify(shape)}: expected one of ${SHAPES.join(', ')}`, st);
      const handle = this.M.HEAP32[out >> 2] >>> 0;
      if (st !== 0) {
        const msg = this.M.UTF8ToString(this.M._relp_last_error(handle));
        if (handle) this.M._relp_model_free(handle);
        throw new RelpError(msg, st);
      }
      return new Model(this, handle, []);
    } finally { s.free(); }
  }

  // A checkpoint's config.json (bytes or text) read by the core without any weights, for a memory check
  // before downloading them: { arch, nLayer, nHead, nKvHead, nEmbd, headDim, nInner, vocabSize, nPositions,
  // nParams, weightBytesF32, weightBytes } (weightBytes: with `weights` matrices, no transposed copies, as
  // loadModel keeps them). Throws RelpError naming config.json for a config relp does not run.
  inspectConfig(config, { weights = 'f32' } = {}) {
    const M = this.M, s = new Scratch(M);
    const bytes = typeof config === 'string' ? new TextEncoder().encode(config) : config;
    try {
      const p = s.alloc(bytes.length + 1), out = s.alloc(8 * 12);
      M.HEAPU8.set(bytes, p);
      const st = M._relpw_config_inspect(p, bytes.length, weightDtype(weights), out);
      if (st !== 0) throw new RelpError(M.UTF8ToString(M._relpw_config_error()), st);
      const v = Array.from(M.HEAPF64.subarray(out >> 3, (out >> 3) + 12));
      return { arch: ARCHS[v[0]], nLayer: v[1], nHead: v[2], nKvHead: v[3], nEmbd: v[4], headDim: v[5], nInner: v[6],
               vocabSize: v[7], nPositions: v[8], nParams: v[9], weightBytesF32: v[10], weightBytes: v[11] };
    } finally { s.free(); }
  }

  // IOI prompts from core/ioi.c: the official demo's 8, or n of Wang et al.'s.
  ioiPrompts({ demo = true, n = 8, seed = 1 } = {}) {
    const M = this.M, s = new Scratch(M);
    try {
      const size = M._relpw_ioi_record_size();
      const p = s.alloc(size * n);
      const got = M._relpw_ioi_prompts(p, n, demo ? 1 : 0, seed);
      const out = [];
      for (let i = 0; i < got; i++) {
        let off = p + i * size;
        const f = IOI_RECORD.map((len) => { const v = M.UTF8ToString(off, len); off += len; return v; });
        out.push({ clean: f[0], corrupt: f[1], answer: f[2], wrong: f[3] });
      }
      return out;
    } finally { s.free(); }
  }

  pearson(a, b) {
    const s = new Scratch(this.M);
    try {
      const pa = s.alloc(4 * a.length), pb = s.alloc(4 * b.length);
      this.M.HEAPF32.set(a, pa >> 2);
      this.M.HEAPF32.set(b, pb >> 2);
      return this.M._relpw_pearson(pa, pb, a.length);
    } finally { s.free(); }
  }

  _ownStr(str, owned) {
    const n = this.M.lengthBytesUTF8(str) + 1;
    const p = this.M._malloc(n) >>> 0;
    owned.push(p);
    this.M.stringToUTF8(str, p, n);
    return p;
  }
}

export class Model {
  constructor(engine, handle, owned) {
    this.engine = engine;
    this.M = engine.M;
    this.handle = handle;
    this.owned = owned; // heap buffers the model borrows (relp_model_init_from_memory)
    this.ctx = 0;
    this.ctxShape = [0, 0];
    const s = new Scratch(this.M);
    try {
      const p = s.alloc(8 * 14);
      this.M._relpw_model_info(handle, p);
      const v = Array.from(this.M.HEAPF64.subarray(p >> 3, (p >> 3) + 14));
      // nHead: query heads; nKvHead < nHead is grouped-query attention (query head h reads k/v head
      // floor(h / (nHead / nKvHead))); head scores are per query head.
      this.info = { nLayer: v[0], nHead: v[1], nEmbd: v[2], nPositions: v[3], vocabSize: v[4], nParams: v[5],
                    weightBytes: v[6], hasTokenizer: v[7] !== 0, arch: ARCHS[v[8]], nKvHead: v[9], headDim: v[10],
                    nInner: v[11], rotaryDim: v[12], tiedEmbeddings: v[13] !== 0 };
    } finally { s.free(); }
    // the token tokenize(text, { bos: true }) prepends (as the model's tokenizer files say), or -1 for none
    this.bosId = this.M._relp_token_bos(handle);
    this.decoder = new TextDecoder('utf-8', { fatal: false });
    // the model's warnings (relp.h WARNINGS: NaN or Inf weights), [{ kind, text }]; .warning the first one's text
    this.warnings = readWarnings(this.M, this.M._relp_model_warning, handle);
    this.warning = this.warnings.length ? this.warnings[0].text : '';
  }

  free() {
    const M = this.M;
    if (this.ctx) M._relp_ctx_free(this.ctx);
    if (this.handle) M._relp_model_free(this.handle);
    for (const p of this.owned) M._free(p);
    this.ctx = this.handle = 0;
    this.owned = [];
  }

  // ---------------------------------------------------------------- tokens
  tokenize(text, { bos = true } = {}) {
    const s = new Scratch(this.M);
    try {
      const t = s.str(text);
      const cap = Math.min(this.M.lengthBytesUTF8(text) + 2, 1 << 24);
      const ids = s.alloc(4 * cap);
      const n = this.M._relpw_tokenize(this.handle, t, bos ? 1 : 0, ids, cap);
      if (n < 0) throw new RelpError(this._modelError(), n);
      return Int32Array.from(this.M.HEAP32.subarray(ids >> 2, (ids >> 2) + n));
    } finally { s.free(); }
  }

  tokenBytes(id) {
    const s = new Scratch(this.M);
    try {
      const pn = s.alloc(4);
      const p = this.M._relp_token_bytes(this.handle, id, pn) >>> 0;
      if (!p) return new Uint8Array(0);
      const n = this.M.HEAP32[pn >> 2];
      return this.M.HEAPU8.slice(p, p + n);
    } finally { s.free(); }
  }

  tokenString(id) { return this.decoder.decode(this.tokenBytes(id)); }

  // The id of a text that must be exactly one token (answers), else a RelpError
  // naming the text and its tokens.
  singleToken(text, what = 'token') {
    const ids = this.tokenize(text, { bos: false });
    if (ids.length !== 1) {
      const parts = Array.from(ids, (i) => JSON.stringify(this.tokenString(i))).join(' ');
      throw new RelpError(`${what} ${JSON.stringify(text)} is ${ids.length} tokens (${parts || 'none'}); it must be exactly one token, e.g. " Mary" with its leading space`, -4);
    }
    return ids[0];
  }

  // ---------------------------------------------------------------- context
  _ctxFor(B, T) {
    if (T > this.info.nPositions)
      throw new RelpError(`the prompt is ${T} tokens; this model takes at most ${this.info.nPositions}`, -4);
    const nt = this.engine.threads;
    if (this.ctx && this.ctxShape[0] >= B && this.ctxShape[1] >= T && this.ctxThreads === nt) return this.ctx;
    if (this.ctx) { this.M._relp_ctx_free(this.ctx); this.ctx = 0; }
    const Tcap = Math.min(this.info.nPositions, Math.max(T, 32));
    const s = new Scratch(this.M);
    try {
      const out = s.alloc(4);
      const st = this.M._relpw_ctx_init(out, this.handle, B, Tcap, nt);
      const ctx = this.M.HEAP32[out >> 2] >>> 0;
      if (st !== 0) {
        const msg = ctx ? this.M.UTF8ToString(this.M._relp_ctx_last_error(ctx)) : this._modelError();
        if (ctx) this.M._relp_ctx_free(ctx);
        throw new RelpError(msg, st);
      }
      this.ctx = ctx;
      this.ctxShape = [B, Tcap];
      this.ctxThreads = nt;
      return ctx;
    } finally { s.free(); }
  }

  // bytes a context for B prompts of T tokens needs (to refuse before freezing)
  contextBytes(B, T) { return this.M._relpw_ctx_mem_required(this.handle, B, T, this.engine.threads); }

  // the threads the latest computation ran on (the caller included; fewer than asked where the module had no more)
  get threadsUsed() { return this.ctx ? this.M._relp_ctx_threads(this.ctx) : 0; }

  _modelError() { return this.M.UTF8ToString(this.M._relp_last_error(this.handle)); }
  // the context's warnings of its latest run (relp.h WARNINGS), [{ kind, text }], as the core words them
  _warnings() { return readWarnings(this.M, this.M._relp_ctx_warning, this.ctx); }
  _ctxError() { return this.M.UTF8ToString(this.M._relp_ctx_last_error(this.ctx)); }
  _check(st) { if (st !== 0) throw new RelpError(this._ctxError(), st); }

  // Forward pass of one or more prompts (ids: flat B*T). Returns the logits at
  // the last position, (B, V), and keeps the run for nodes and patterns.
  forward(ids, B = 1) {
    const s = new Scratch(this.M);
    try {
      const ctx = this._run(s, ids, B);
      const p = this.M._relp_ctx_logits(ctx, 0) >>> 0;
      return this.M.HEAPF32.slice(p >> 2, (p >> 2) + B * this.info.vocabSize);
    } finally { s.free(); }
  }

  // a plain forward pass of ids (B prompts) with every logit column; returns the context
  _run(s, ids, B) {
    const T = ids.length / B;
    const ctx = this._ctxFor(B, T);
    this._check(this.M._relp_ctx_set_logit_tokens(ctx, 0, 0));
    this._check(this.M._relp_forward(ctx, s.i32(ids), B, T));
    this._lastShape = [B, T];
    return ctx;
  }

  // The k most likely next tokens after ids: [{ id, piece, logit, prob }]
  top(ids, k = 5) {
    const logits = this.forward(ids);
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let z = 0;
    for (const v of logits) z += Math.exp(v - max);
    const idx = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, k);
    return idx.map((id) => ({ id, piece: this.tokenString(id), logit: logits[id], prob: Math.exp(logits[id] - max) / z }));
  }

  // The width of a node type: nEmbd, or nHead * headDim for 'head' (z).
  nodeWidth(node) { return this.M._relp_node_width(this.handle, NODE_ID[node] ?? node); }

  // What a rules preset does on this model, in words (relp_rules_describe).
  rulesDescription(preset = 'relp') {
    const s = new Scratch(this.M);
    try {
      const p = this.M._relpw_rules_describe(this.handle, s.str(preset)) >>> 0;
      if (!p) throw new RelpError(`rules preset ${JSON.stringify(preset)} is unknown`, -4);
      return this.M.UTF8ToString(p);
    } finally { s.free(); }
  }

  // Cached node of the last run, (B, T, width) copied out.
  node(node, layer) {
    const p = this.M._relp_ctx_node(this.ctx, NODE_ID[node] ?? node, layer) >>> 0;
    if (!p) throw new RelpError(`node ${JSON.stringify(node)} layer ${layer}: not cached by this ${this.info.arch} model`, -4);
    const [B, T] = this._lastShape;
    return this.M.HEAPF32.slice(p >> 2, (p >> 2) + B * T * this.nodeWidth(node));
  }

  // Backward pass of the logit difference with a rule preset ('grad' = the
  // gradient) on a fresh forward of ids; returns { value } and keeps the
  // coefficients for grad().
  backward(ids, answer, wrong, rules = 'grad', B = 1) {
    const s = new Scratch(this.M);
    try {
      const ctx = this._run(s, ids, B);
      const pv = s.alloc(8);
      const a = s.i32(answer.length ? answer : [answer]), w = s.i32(wrong.length ? wrong : [wrong]);
      this._check(this.M._relpw_backward(ctx, METRIC_LOGIT_DIFF, a, w, s.str(rules), pv));
      return { value: this.M.HEAPF64[pv >> 3] };
    } finally { s.free(); }
  }

  grad(node, layer) {
    const p = this.M._relp_ctx_node_grad(this.ctx, NODE_ID[node] ?? node, layer) >>> 0;
    if (!p) throw new RelpError(`node ${JSON.stringify(node)} layer ${layer}: no coefficient (no backward pass, or not a node of this model)`, -4);
    const [B, T] = this._lastShape;
    return this.M.HEAPF32.slice(p >> 2, (p >> 2) + B * T * this.nodeWidth(node));
  }

  // One attribution method (see relp.h METHODS). clean/corrupt: Int32Array ids
  // of equal length (one prompt, or B prompts of T tokens flat: B x T);
  // answer/wrong: token ids (B of them); metric: 'logit_diff', 'logprob' or
  // 'logit' (relp.h metrics). onProgress(done, total) is called during AP and
  // IG; onPartial(scores) with the scores so far (NaN where not computed yet:
  // AP fills them in as it goes). Returns { scores, shape, mClean, mCorrupt,
  // warning }; scores of B prompts are of their mean metric.
  attribute({ clean, corrupt, answer, wrong, method = 'relp', node = 'resid', perPosition = false, noising = false,
              steps = 10, onProgress = null, onPartial = null, B = 1, metric = 'logit_diff' }) {
    if (!(method in METHOD)) throw new RelpError(`method ${JSON.stringify(method)}: expected one of ${METHODS.join(', ')}`, -4);
    if (!(node in NODE_ID) || node === 'resid_mid') throw new RelpError(`node ${JSON.stringify(node)}: expected one of ${NODES.join(', ')}`, -4);
    const { T, ans, wr } = batchOf(clean, corrupt, answer, wrong, B);
    const mk = metricKind(metric);
    const ctx = this._ctxFor(B, T);
    const [m, rules] = METHOD[method];
    const nid = NODE_ID[node];
    const pp = node === 'head' && perPosition ? 1 : 0;
    const n = this.M._relpw_attr_count(this.handle, m, nid, pp, T);
    const s = new Scratch(this.M);
    const prev = this.M.onProgress;
    try {
      const scores = s.alloc(4 * n), metrics = s.alloc(16);
      this.M.HEAPF32.fill(NaN, scores >> 2, (scores >> 2) + n);
      this.M.onProgress = !onPartial ? onProgress : (d, t) => { // the core writes each score as it is computed
        if (onProgress) onProgress(d, t);
        onPartial(this.M.HEAPF32.slice(scores >> 2, (scores >> 2) + n), d, t);
      };
      const st = this.M._relpw_attribute(ctx, s.i32(clean), s.i32(corrupt), B, T, mk, s.i32(ans),
                                         s.i32(wr), m, nid, pp, noising ? 1 : 0, steps, s.str(rules), scores, metrics);
      this._check(st);
      this._lastShape = [B, T];
      const mClean = this.M.HEAPF64[metrics >> 3], mCorrupt = this.M.HEAPF64[(metrics >> 3) + 1];
      const L = this.info.nLayer, NH = this.info.nHead;
      const shape = node === 'head' ? (pp ? [L, NH, T] : [L, NH]) : [L, T];
      const warnings = this._warnings();
      return {
        scores: this.M.HEAPF32.slice(scores >> 2, (scores >> 2) + n), shape, mClean, mCorrupt, warnings,
        warning: unitsText(warnings), // the scores are in metric units: its sentence, else ''
      };
    } finally {
      this.M.onProgress = prev;
      s.free();
    }
  }

  // AtP or a RelP preset on all four node types from one backward pass.
  // Returns { scores: { resid, attn, mlp, head }, shapes, mClean, mCorrupt, warning }.
  attributeAll({ clean, corrupt, answer, wrong, method = 'relp', perPosition = false, noising = false, steps = 10,
                 onProgress = null, B = 1, metric = 'logit_diff' }) {
    if (!(method in METHOD) || (METHOD[method][0] !== 1 && METHOD[method][0] !== 3))
      throw new RelpError(`attributeAll: method ${JSON.stringify(method)} is not AtP, a RelP preset or ig-input`, -4);
    const { T, ans, wr } = batchOf(clean, corrupt, answer, wrong, B);
    const mk = metricKind(metric);
    const L = this.info.nLayer, NH = this.info.nHead;
    const ctx = this._ctxFor(B, T);
    const s = new Scratch(this.M);
    const prev = this.M.onProgress;
    this.M.onProgress = onProgress;
    try {
      const nh = perPosition ? L * NH * T : L * NH;
      const pr = s.alloc(4 * L * T), pa = s.alloc(4 * L * T), pm = s.alloc(4 * L * T), ph = s.alloc(4 * nh), metrics = s.alloc(16);
      this._check(this.M._relpw_attribute_all(ctx, s.i32(clean), s.i32(corrupt), B, T, mk, s.i32(ans), s.i32(wr),
                                              METHOD[method][0], perPosition ? 1 : 0, noising ? 1 : 0, steps,
                                              s.str(METHOD[method][1]), pr, pa, pm, ph, metrics));
      this._lastShape = [B, T];
      const F = this.M.HEAPF32, mClean = this.M.HEAPF64[metrics >> 3], mCorrupt = this.M.HEAPF64[(metrics >> 3) + 1];
      const cut = (p, n) => F.slice(p >> 2, (p >> 2) + n);
      return { scores: { resid: cut(pr, L * T), attn: cut(pa, L * T), mlp: cut(pm, L * T), head: cut(ph, nh) },
               shapes: { resid: [L, T], attn: [L, T], mlp: [L, T], head: perPosition ? [L, NH, T] : [L, NH] },
               mClean, mCorrupt, warnings: this._warnings(), warning: unitsText(this._warnings()) };
    } finally {
      this.M.onProgress = prev;
      s.free();
    }
  }

  // The whole run's warnings by the core's rules (relp.h WARNINGS: relp_predict and relp_run_warnings): the
  // prediction on the clean prompt (predict: true), the gap of mClean - mCorrupt (leave them out for none),
  // noising, and the answer (and wrong token) without its leading space. Returns { warnings: [{ kind, text }],
  // pred: { pAnswer, rank, top, pTop } or null }.
  runWarnings({ clean, answer, wrong = -1, mClean = NaN, mCorrupt = NaN, noising = false, metric = 'logit_diff', predict = true }) {
    if (!(metric in METRIC)) throw new RelpError(`metric ${JSON.stringify(metric)}: expected one of ${Object.keys(METRIC).join(', ')}`, -4);
    const T = clean.length;
    const ctx = this._ctxFor(1, Math.max(T, 1));
    const s = new Scratch(this.M);
    try {
      const pred = s.alloc(32);
      const st = this.M._relpw_run_warnings(ctx, s.i32(clean), T, METRIC[metric], answer, wrong, mClean, mCorrupt,
                                             noising ? 1 : 0, predict ? 1 : 0, pred);
      if (st < 0) this._check(st);
      if (predict) this._lastShape = [1, T];
      const F = this.M.HEAPF64, p = pred >> 3;
      return { warnings: this._warnings(), pred: predict ? { pAnswer: F[p], rank: F[p + 1], top: F[p + 2], pTop: F[p + 3] } : null };
    } finally { s.free(); }
  }

  // Relevance of each input token for the metric (the logit difference; without a wrong token the answer's logit;
  // or metric: 'logprob' / 'logit'), in metric units.
  tokenRelevance({ ids, answer, wrong = -1, rules = 'relp', metric = null }) {
    const T = ids.length;
    const ctx = this._ctxFor(1, T);
    const s = new Scratch(this.M);
    try {
      const rel = s.alloc(4 * T), out = s.alloc(16);
      const kind = metric ? metricKind(metric) : wrong >= 0 ? METRIC_LOGIT_DIFF : METRIC.logit;
      this._check(this.M._relpw_token_relevance(ctx, s.i32(ids), 1, T, kind, s.i32([answer]), s.i32([Math.max(wrong, 0)]),
                                                s.str(rules), rel, out));
      this._lastShape = [1, T];
      return { relevance: this.M.HEAPF32.slice(rel >> 2, (rel >> 2) + T), total: this.M.HEAPF64[out >> 3],
               value: this.M.HEAPF64[(out >> 3) + 1], warnings: this._warnings() };
    } finally { s.free(); }
  }

  // Every head's attention pattern (L, NH, T, T) from one forward of ids; row = query.
  attentionPatterns(ids) {
    const s = new Scratch(this.M);
    try { this._run(s, ids, 1); } finally { s.free(); }
    const T = ids.length, L = this.info.nLayer, NH = this.info.nHead, out = new Float32Array(L * NH * T * T);
    for (let l = 0; l < L; l++) {
      const p = this.M._relp_ctx_attn_pattern(this.ctx, l) >>> 0;
      out.set(this.M.HEAPF32.subarray(p >> 2, (p >> 2) + NH * T * T), l * NH * T * T);
    }
    return out;
  }

  // Attention pattern (T, T) of one head on a forward of ids; row = query.
  attentionPattern(ids, layer, head) {
    const s = new Scratch(this.M);
    try { this._run(s, ids, 1); } finally { s.free(); }
    const T = ids.length;
    const p = this.M._relp_ctx_attn_pattern(this.ctx, layer) >>> 0;
    const off = (p >> 2) + head * T * T;
    return this.M.HEAPF32.slice(off, off + T * T);
  }
}

// ---------------------------------------------------------------- figures
// relp's figures (relp.h, FIGURES: core/figure*.c) from the figure module, relp_figure.js/.wasm: small, with
// no engine, so that the page's main thread draws every view (and its PNG export) at once. A request is
// relp.h's JSON form of a view, as a plain object; every typed array in it travels beside the text as floats
// (exact, no printing), every other array as JSON. One figure object is reused: draw() returns copies.
export async function loadFigures({ glueUrl, gluePath, wasmBinary, factory }) {
  factory = await glueFactory({ glueUrl, gluePath, factory }, 'createRelpFigure');
  return new Figures(await factory({ wasmBinary, print: () => {}, printErr: () => {} }));
}

class Figures {
  constructor(M) {
    this.M = M;
    this.fig = M._relp_figure_init() >>> 0;
    if (!this.fig) throw new RelpError('out of memory starting the figure module', -5);
  }

  _draw(request) {
    const arrays = [];
    let n = 0;
    const text = JSON.stringify(request, (k, v) => {
      if (!ArrayBuffer.isView(v)) return v;
      arrays.push([n, v]);
      n += v.length;
      return { offset: n - v.length, length: v.length };
    });
    const s = new Scratch(this.M);
    try {
      const data = s.alloc(4 * n);
      for (const [off, a] of arrays) this.M.HEAPF32.set(a, (data >> 2) + off);
      const len = this.M.lengthBytesUTF8(text), p = s.alloc(len + 1);
      this.M.stringToUTF8(text, p, len + 1);
      const st = this.M._relp_figure_draw_json(this.fig, p, len, data, n);
      if (st) throw new RelpError(this.M.UTF8ToString(this.M._relp_figure_last_error(this.fig)), st);
    } finally { s.free(); }
  }

  // -> { svg, width, height, caption }: the SVG (the node table: HTML; focus_only: the focus group's elements) and
  // its caption as text (relp_figure_caption_text: drawn in it or, with style.caption false, not)
  draw(request) {
    this._draw(request);
    const s = new Scratch(this.M);
    try {
      const lp = s.alloc(8), wh = s.alloc(8);
      const p = this.M._relp_figure_svg(this.fig, lp) >>> 0;
      if (!p) throw new RelpError(this.M.UTF8ToString(this.M._relp_figure_last_error(this.fig)), -4);
      const bytes = this.M.HEAPU8.slice(p, p + (this.M.HEAP32[lp >> 2] >>> 0));
      this.M._relp_figure_size(this.fig, wh, wh + 4);
      const cp = this.M._relp_figure_caption_text(this.fig, lp) >>> 0;
      const caption = new TextDecoder().decode(this.M.HEAPU8.slice(cp, cp + (this.M.HEAP32[lp >> 2] >>> 0)));
      return { svg: new TextDecoder().decode(bytes), width: this.M.HEAP32[wh >> 2], height: this.M.HEAP32[(wh >> 2) + 1], caption };
    } finally { s.free(); }
  }

  // -> Uint8Array: the figure as a PNG at scale (1 to 8) times its size, rasterised by the same C code
  png(request, scale = 2) {
    this._draw(request);
    const s = new Scratch(this.M);
    try {
      const pp = s.alloc(4), lp = s.alloc(4);
      const st = this.M._relp_figure_png(this.fig, scale, pp, lp);
      if (st) throw new RelpError(this.M.UTF8ToString(this.M._relp_figure_last_error(this.fig)), st);
      const p = this.M.HEAP32[pp >> 2] >>> 0;
      return this.M.HEAPU8.slice(p, p + (this.M.HEAP32[lp >> 2] >>> 0));
    } finally { s.free(); }
  }

  free() {
    if (this.fig) this.M._relp_figure_free(this.fig);
    this.fig = 0;
  }
}
