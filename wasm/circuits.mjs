// circuits.mjs - relp.h's CIRCUITS section from JavaScript: SAEs, node sets,
// node scores, faithfulness curves, EAP-IG's edges and feature cards, on a
// Model of relp.mjs. Used by the page's worker and by Node (tests).
//
//   import { loadSAEs, batchOf, attributeCircuit, faithfulness, graphOf, attributeEdges } from './circuits.mjs';
//   const saes = loadSAEs(model, [{ name: 'blocks.0.hook_attn_out/cfg.json', bytes }, ...]);
//   const batch = batchOf(model, prompts);          // one token length: { clean, corrupt, answer, wrong, B, T }
//   const s = attributeCircuit(model, { batch, saes, set: 'features', method: 'relp' });
//   const fa = faithfulness(model, { batch, saes, set: 'features' });
//   const c = fa.curve(s, { nodes: [1, 10, 100] });  // { size, faithfulness, completeness }
//   fa.free(); saes.free();
//
// The same rules as relp.mjs: heap views are taken afresh after every call
// that may allocate, results are copied out, errors throw RelpError with the
// core's message. Objects that borrow token arrays in the core (Faithfulness,
// EdgeEval) own their copies in the heap until free().
import { RelpError, Scratch } from './relp.mjs';
import { METHOD, NODESETS } from './constants.mjs';

const SET_ID = Object.fromEntries(NODESETS.map((n, i) => [n, i])); // enum relp_nodeset
export { NODESETS };
// the methods that score nodes of a node set, and the edges
export const NODE_METHODS = Object.keys(METHOD).filter((m) => METHOD[m][0] === 1 || m === 'ig');
export const EDGE_METHODS = Object.keys(METHOD).filter((m) => METHOD[m][0] === 1 || m === 'ig-input');

function setId(set) {
  if (!Object.hasOwn(SET_ID, set)) throw new RelpError(`node set ${JSON.stringify(set)}: expected one of ${NODESETS.join(', ')}`, -4);
  return SET_ID[set];
}
const ptrArray = (s, M, ptrs) => { const p = s.alloc(4 * Math.max(1, ptrs.length)); M.HEAP32.set(ptrs.map((x) => x | 0), p >> 2); return p; };

// ---------------------------------------------------------------- SAEs
// files: [{ name: '<folder>/cfg.json' | '<folder>/sae_weights.safetensors', bytes }], one folder per SAE. The bytes
// are copied into the heap, which the SAEs own (the core uses them in place) until free().
export function loadSAEs(model, files) {
  const M = model.M, owned = [], s = new Scratch(M);
  try {
    const arr = s.alloc(12 * Math.max(1, files.length));
    files.forEach((f, i) => {
      const name = model.engine._ownStr(f.name, owned);
      const data = M._malloc(Math.max(8, f.bytes.length)) >>> 0;
      if (!data) throw new RelpError(`${f.name}: ${f.bytes.length} bytes do not fit in the WebAssembly heap`, -5);
      owned.push(data);
      M.HEAPU8.set(f.bytes, data);
      M._relpw_files_set(arr, i, name, data, f.bytes.length);
    });
    const out = s.alloc(4);
    const st = M._relpw_saes_load(out, model.handle, arr, files.length);
    const h = M.HEAP32[out >> 2] >>> 0;
    if (st !== 0) {
      const msg = M.UTF8ToString(M._relp_saes_last_error(h));
      if (h) M._relp_saes_free(h);
      throw new RelpError(msg, st);
    }
    return new SAEs(model, h, owned.splice(0));
  } finally {
    for (const p of owned) M._free(p);
    s.free();
  }
}

export class SAEs {
  constructor(model, handle, owned) {
    this.model = model;
    this.M = model.M;
    this.handle = handle;
    this.owned = owned;
    const s = new Scratch(this.M);
    try {
      const p = s.alloc(64);
      this.list = [];
      for (let i = 0; i < this.M._relp_saes_count(handle); i++) {
        const name = this.M._relpw_sae_info(handle, i, p) >>> 0;
        const v = Array.from(this.M.HEAPF64.subarray(p >> 3, (p >> 3) + 8));
        this.list.push({ hook: this.M.UTF8ToString(name), node: v[0], layer: v[1], hookLayer: v[2], dIn: v[3], dSae: v[4],
                         arch: ['standard', 'topk', 'jumprelu'][v[5]], k: v[6], dtype: v[7] });
      }
    } finally { s.free(); }
  }
  free() {
    if (this.handle) this.M._relp_saes_free(this.handle);
    for (const p of this.owned) this.M._free(p);
    this.handle = 0;
    this.owned = [];
  }
}

// ---------------------------------------------------------------- batches
// A batch for the circuit functions: prompts [{ clean, corrupt, answer, wrong }] tokenized (with BOS, as the CLI)
// and kept when of one token length. Returns { clean, corrupt: Int32Array (B*T), answer, wrong: Int32Array (B), B,
// T, tokens: the first clean prompt's token strings }.
export function batchOf(model, prompts) {
  const T0 = [];
  const rows = prompts.map((p, i) => {
    const c = model.tokenize(p.clean), r = model.tokenize(p.corrupt);
    if (c.length !== r.length)
      throw new RelpError(`prompt ${i + 1}: the clean prompt is ${c.length} tokens and the corrupted one ${r.length}; they must match position by position`, -4);
    T0.push(c.length);
    return { c, r, a: model.singleToken(p.answer, `prompt ${i + 1}: the answer`), w: model.singleToken(p.wrong, `prompt ${i + 1}: the wrong token`) };
  });
  if (!rows.length) throw new RelpError('no prompts', -4);
  const T = rows[0].c.length;
  if (rows.some((x) => x.c.length !== T)) throw new RelpError(`the prompts are of ${[...new Set(T0)].join(', ')} tokens; a circuit needs one length`, -4);
  const B = rows.length, clean = new Int32Array(B * T), corrupt = new Int32Array(B * T);
  rows.forEach((x, b) => { clean.set(x.c, b * T); corrupt.set(x.r, b * T); });
  return { clean, corrupt, answer: Int32Array.from(rows, (x) => x.a), wrong: Int32Array.from(rows, (x) => x.w), B, T,
           tokens: Array.from(rows[0].c, (t) => model.tokenString(t)), corruptTokens: Array.from(rows[0].r, (t) => model.tokenString(t)) };
}

// The pairs the CLI's --prompts FILE --limit N uses: the most common token length (ties: the shortest), the first
// `limit` of them in order, and how many were left out.
export function oneLength(model, prompts, limit = 0) {
  const by = new Map();
  for (const p of prompts) {
    const T = model.tokenize(p.clean).length;
    if (!by.has(T)) by.set(T, []);
    by.get(T).push(p);
  }
  let best = null;
  for (const [T, list] of by) if (!best || list.length > best[1].length || (list.length === best[1].length && T < best[0])) best = [T, list];
  const kept = best ? best[1] : [];
  return { prompts: limit > 0 ? kept.slice(0, limit) : kept, leftOut: prompts.length - kept.length, T: best ? best[0] : 0 };
}

const heapBatch = (s, b) => ({ clean: s.i32(b.clean), corrupt: s.i32(b.corrupt), answer: s.i32(b.answer), wrong: s.i32(b.wrong) });

// ---------------------------------------------------------------- node sets and scores
export function circuitHooks(model, set, saes = null) {
  const M = model.M;
  const p = M._relpw_circuit_hooks(model.handle, saes ? saes.handle : 0, setId(set)) >>> 0;
  if (!p) throw new RelpError(set === 'features' ? 'the feature node set needs SAEs loaded for this model' : `node set ${set}: no hooks`, -4);
  try { return JSON.parse(M.UTF8ToString(p)); } finally { M._free(p); }
}

// Scores of every node of a node set (relp_attribute_circuit): { hooks, scores: [Float32Array (T * width)], errors:
// [Float32Array (T) | null], mClean, mCorrupt, seconds }. method: AtP, a RelP preset or ig (steps).
export function attributeCircuit(model, { batch, saes = null, set, method = 'relp', steps = 10, onProgress = null }) {
  if (!NODE_METHODS.includes(method)) throw new RelpError(`method ${JSON.stringify(method)} does not score a node set; expected one of ${NODE_METHODS.join(', ')}`, -4);
  const hooks = circuitHooks(model, set, saes), M = model.M, { B, T } = batch;
  const ctx = model._ctxFor(B, T), s = new Scratch(M), prev = M.onProgress;
  M.onProgress = onProgress;
  try {
    const sp = hooks.map((h) => s.alloc(4 * T * h.width)), ep = hooks.map((h) => (h.error ? s.alloc(4 * T) : 0));
    const hb = heapBatch(s, batch), metrics = s.alloc(16), [m, rules] = METHOD[method];
    const t0 = performance.now();
    model._check(M._relpw_attribute_circuit(ctx, hb.clean, hb.corrupt, B, T, hb.answer, hb.wrong, saes ? saes.handle : 0, setId(set), m,
                                            steps, s.str(rules), ptrArray(s, M, sp), ptrArray(s, M, ep), metrics));
    const seconds = (performance.now() - t0) / 1000;
    const F = M.HEAPF32;
    return { hooks, set, method, steps, T, seconds, mClean: M.HEAPF64[metrics >> 3], mCorrupt: M.HEAPF64[(metrics >> 3) + 1],
             scores: hooks.map((h, i) => F.slice(sp[i] >> 2, (sp[i] >> 2) + T * h.width)),
             errors: hooks.map((h, i) => (h.error ? F.slice(ep[i] >> 2, (ep[i] >> 2) + T) : null)) };
  } finally { M.onProgress = prev; s.free(); }
}

// Nodes by |score| (ties by index: hooks in forward order, position, unit, the error node last), as the CLI ranks
// them: [{ hook, position, unit (-1: error), score }], the first k.
export function rankNodes(r, k = Infinity) {
  const all = [];
  r.hooks.forEach((h, hi) => {
    for (let t = 0; t < r.T; t++) {
      for (let u = 0; u < h.width; u++) all.push({ hook: hi, position: t, unit: u, score: r.scores[hi][t * h.width + u] });
      if (h.error) all.push({ hook: hi, position: t, unit: -1, score: r.errors[hi][t] });
    }
  });
  all.forEach((n, i) => { n.i = i; n.a = Number.isNaN(n.score) ? -1 : Math.fround(Math.abs(n.score)); });
  all.sort((x, y) => (x.a !== y.a ? y.a - x.a : x.i - y.i));
  return k < all.length ? all.slice(0, k) : all;
}

// Exact patching of single nodes (relp_patch_circuit_nodes, denoising): Float32Array of effects.
export function patchCircuitNodes(model, { batch, saes = null, set, nodes, onProgress = null }) {
  const M = model.M, { B, T } = batch, ctx = model._ctxFor(B, T), s = new Scratch(M), prev = M.onProgress;
  M.onProgress = onProgress;
  try {
    const hb = heapBatch(s, batch), out = s.alloc(4 * nodes.length);
    model._check(M._relpw_patch_circuit_nodes(ctx, hb.clean, hb.corrupt, B, T, hb.answer, hb.wrong, saes ? saes.handle : 0, setId(set),
                                              s.i32(nodes.flatMap((n) => [n.hook, n.position, n.unit])), nodes.length, out));
    return M.HEAPF32.slice(out >> 2, (out >> 2) + nodes.length);
  } finally { M.onProgress = prev; s.free(); }
}

// ---------------------------------------------------------------- faithfulness
// Faithfulness of circuits of one node set on one batch (relp_faithfulness_*): { mFull, mEmpty, candidates,
// curve(scored, { nodes } | { thresholds }, onProgress) -> { size, faithfulness, completeness }, free() }.
export function faithfulness(model, { batch, saes = null, set, startLayer = 0 }) {
  return new Faithfulness(model, batch, saes, set, startLayer);
}

class Faithfulness {
  constructor(model, batch, saes, set, startLayer) {
    const M = model.M, { B, T } = batch;
    this.model = model; this.M = M; this.set = set; this.B = B; this.T = T;
    this.keep = new Scratch(M); // the token arrays the core borrows
    const hb = heapBatch(this.keep, batch), s = new Scratch(M);
    try {
      const ctx = model._ctxFor(B, T), out = s.alloc(4);
      const st = M._relpw_faithfulness_init(out, ctx, hb.clean, hb.corrupt, B, T, hb.answer, hb.wrong, saes ? saes.handle : 0, setId(set), startLayer);
      this.handle = M.HEAP32[out >> 2] >>> 0;
      if (st !== 0) { const msg = model._ctxError(); this.free(); throw new RelpError(msg, st); }
      this.ctx = ctx;
      const info = s.alloc(24);
      M._relpw_faithfulness_info(this.handle, info);
      [this.mFull, this.mEmpty, this.candidates] = Array.from(M.HEAPF64.subarray(info >> 3, (info >> 3) + 3));
    } finally { s.free(); }
  }

  curve(scored, { nodes = null, thresholds = null, onProgress = null } = {}) {
    const M = this.M, s = new Scratch(M), prev = M.onProgress;
    if (this.model.ctx !== this.ctx) throw new RelpError('faithfulness: the model\'s context was replaced; make the object again', -4);
    const n = nodes ? nodes.length : thresholds.length;
    M.onProgress = onProgress;
    try {
      const sp = scored.scores.map((a) => { const p = s.alloc(4 * a.length); M.HEAPF32.set(a, p >> 2); return p; });
      const ep = scored.errors.map((a) => { if (!a) return 0; const p = s.alloc(4 * a.length); M.HEAPF32.set(a, p >> 2); return p; });
      const pn = nodes ? s.alloc(8 * n) : 0, pt = thresholds ? s.alloc(4 * n) : 0;
      if (nodes) M.HEAPF64.set(nodes, pn >> 3);
      if (thresholds) M.HEAPF32.set(thresholds, pt >> 2);
      const size = s.alloc(8 * n), F = s.alloc(8 * n), C = s.alloc(8 * n);
      this.model._check(M._relpw_faithfulness_curve(this.handle, ptrArray(s, M, sp), ptrArray(s, M, ep), pn, pt, n, size, F, C));
      const D = M.HEAPF64, cut = (p) => Array.from(D.subarray(p >> 3, (p >> 3) + n));
      return { size: cut(size), faithfulness: cut(F), completeness: cut(C) };
    } finally { M.onProgress = prev; s.free(); }
  }

  free() {
    if (this.handle) this.M._relp_faithfulness_free(this.handle);
    this.handle = 0;
    this.keep.free();
  }
}

// Marks et al.'s thresholds, logspace(-4, 0, 15): the CLI's faithfulness curve without --nodes
export const THRESHOLDS = Array.from({ length: 15 }, (_, i) => Math.fround(10 ** (-4 + (4 * i) / 14)));

// ---------------------------------------------------------------- edges (EAP-IG's graph)
// The graph's names and edges: { nUp, nDown, up, down (names), edges: Int32Array (u, v) pairs in EAP-IG's order,
// cfg: EAP-IG's { n_layers, n_heads, parallel_attn_mlp, d_model } }
export function graphOf(model) {
  if (model._graph) return model._graph;
  const M = model.M, s = new Scratch(M);
  try {
    const p = s.alloc(8), buf = s.alloc(64);
    M._relp_graph_size(model.handle, p, p + 4);
    const nUp = M.HEAP32[p >> 2], nDown = M.HEAP32[(p >> 2) + 1];
    const up = [], down = [];
    for (let u = 0; u < nUp; u++) up.push(M.UTF8ToString(M._relp_graph_up_name(model.handle, u, buf, 64)));
    for (let v = 0; v < nDown; v++) down.push(M.UTF8ToString(M._relp_graph_down_name(model.handle, v, buf, 64)));
    const n = M._relp_graph_edges(model.handle, 0, 0), pe = s.alloc(8 * n);
    M._relp_graph_edges(model.handle, pe, n);
    const edges = M.HEAP32.slice(pe >> 2, (pe >> 2) + 2 * n);
    const i = model.info;
    const parallel = !isSequential(edges, i.nHead); // GPT-NeoX's parallel block: m{L} does not read a{L}.*
    model._graph = { nUp, nDown, up, down, edges, nEdges: n, cfg: { n_layers: i.nLayer, n_heads: i.nHead, parallel_attn_mlp: parallel, d_model: i.nEmbd } };
    return model._graph;
  } finally { s.free(); }
}
// a sequential block has the edge a0.h0 -> m0 (its MLP reads the attention's output)
function isSequential(edges, NH) {
  for (let q = 0; q < edges.length; q += 2) if (edges[q] === 1 && edges[q + 1] === 3 * NH) return true;
  return false;
}

// Every edge's score (relp_attribute_edges): { scores: Float32Array (nUp * nDown), mClean, mCorrupt, seconds }
export function attributeEdges(model, { batch, method = 'relp', steps = 10, onProgress = null }) {
  if (!EDGE_METHODS.includes(method)) throw new RelpError(`method ${JSON.stringify(method)} does not score edges; expected one of ${EDGE_METHODS.join(', ')}`, -4);
  const g = graphOf(model), M = model.M, { B, T } = batch, ctx = model._ctxFor(B, T), s = new Scratch(M), prev = M.onProgress;
  M.onProgress = onProgress;
  try {
    const hb = heapBatch(s, batch), out = s.alloc(4 * g.nUp * g.nDown), metrics = s.alloc(16), [m, rules] = METHOD[method];
    M.HEAPF32.fill(0, out >> 2, (out >> 2) + g.nUp * g.nDown);
    const t0 = performance.now();
    model._check(M._relpw_attribute_edges(ctx, hb.clean, hb.corrupt, B, T, hb.answer, hb.wrong, m, steps, s.str(rules), out, metrics));
    const seconds = (performance.now() - t0) / 1000;
    return { method, steps, seconds, scores: M.HEAPF32.slice(out >> 2, (out >> 2) + g.nUp * g.nDown),
             mClean: M.HEAPF64[metrics >> 3], mCorrupt: M.HEAPF64[(metrics >> 3) + 1] };
  } finally { M.onProgress = prev; s.free(); }
}

// The n edges of largest |score|, pruned as EAP-IG prunes (relp_graph_top): { inGraph, nodeIn (Uint8Array), kept }
export function graphTop(model, scores, n) {
  const g = graphOf(model), M = model.M, s = new Scratch(M);
  try {
    const ps = s.alloc(4 * scores.length), pin = s.alloc(g.nUp * g.nDown), pn = s.alloc(g.nUp);
    M.HEAPF32.set(scores, ps >> 2);
    const kept = M._relpw_graph_top(model.handle, ps, Math.min(n, 2 ** 31 - 1), pin, pn);
    if (kept < 0) throw new RelpError('out of memory pruning the graph', -5);
    return { kept, inGraph: M.HEAPU8.slice(pin, pin + g.nUp * g.nDown), nodeIn: M.HEAPU8.slice(pn, pn + g.nUp) };
  } finally { s.free(); }
}

// Edge circuits' faithfulness (relp_edge_eval_*): { mClean, mCorrupt, run(inGraph) -> m(C), free() }
export function edgeEval(model, { batch }) { return new EdgeEval(model, batch); }
class EdgeEval {
  constructor(model, batch) {
    const M = model.M, { B, T } = batch;
    this.model = model; this.M = M;
    this.keep = new Scratch(M);
    const hb = heapBatch(this.keep, batch), s = new Scratch(M);
    try {
      const ctx = model._ctxFor(B, T), out = s.alloc(4);
      const st = M._relpw_edge_eval_init(out, ctx, hb.clean, hb.corrupt, B, T, hb.answer, hb.wrong);
      this.handle = M.HEAP32[out >> 2] >>> 0;
      if (st !== 0) { const msg = model._ctxError(); this.free(); throw new RelpError(msg, st); }
      this.ctx = ctx;
      const e = s.alloc(16);
      M._relpw_edge_eval_ends(this.handle, e);
      this.mClean = M.HEAPF64[e >> 3];
      this.mCorrupt = M.HEAPF64[(e >> 3) + 1];
    } finally { s.free(); }
  }
  run(inGraph) {
    const M = this.M, s = new Scratch(M);
    if (this.model.ctx !== this.ctx) throw new RelpError('edge evaluation: the model\'s context was replaced; make the object again', -4);
    try {
      const p = s.alloc(inGraph.length), m = s.alloc(8);
      M.HEAPU8.set(inGraph, p);
      this.model._check(M._relp_edge_eval_run(this.handle, p, m));
      return M.HEAPF64[m >> 3];
    } finally { s.free(); }
  }
  free() {
    if (this.handle) this.M._relp_edge_eval_free(this.handle);
    this.handle = 0;
    this.keep.free();
  }
}

// Exact patching of single edges (relp_patch_edges, denoising): Float32Array of effects for pairs [[u, v], ...]
export function patchEdges(model, { batch, edges, onProgress = null }) {
  const M = model.M, { B, T } = batch, ctx = model._ctxFor(B, T), s = new Scratch(M), prev = M.onProgress;
  M.onProgress = onProgress;
  try {
    const hb = heapBatch(s, batch), out = s.alloc(4 * edges.length);
    model._check(M._relpw_patch_edges(ctx, hb.clean, hb.corrupt, B, T, hb.answer, hb.wrong, s.i32(edges.flat()), edges.length, out));
    return M.HEAPF32.slice(out >> 2, (out >> 2) + edges.length);
  } finally { M.onProgress = prev; s.free(); }
}

// ---------------------------------------------------------------- feature cards
// One unit (a feature or a neuron; hook and unit as circuitHooks number them): its activations over texts
// ({ ids: Int32Array (B*T), B, T }) and the tokens its output direction promotes and suppresses through the
// unembedding: { acts: Float32Array (B*T), promoted, suppressed: [{ id, piece, value }] }.
export function unitCard(model, { saes = null, set, hook, unit, texts = null, k = 8 }) {
  const M = model.M, s = new Scratch(M), C = model.info.nEmbd, V = model.info.vocabSize;
  try {
    const dir = s.alloc(4 * C), logits = s.alloc(4 * V);
    let st = M._relp_unit_direction(model.handle, saes ? saes.handle : 0, setId(set), hook, unit, dir);
    if (st) throw new RelpError(`${set} hook ${hook} unit ${unit}: no output direction (cards are for SAE features and neurons)`, st);
    st = M._relp_direction_logits(model.handle, dir, logits);
    if (st) throw new RelpError('out of memory', st);
    const lg = M.HEAPF32.slice(logits >> 2, (logits >> 2) + V);
    const order = (sign) => { const top = []; for (let i = 0; i < V; i++) { const v = sign * lg[i]; if (top.length < k || v > top[top.length - 1].v) { top.push({ i, v }); top.sort((a, b) => b.v - a.v); if (top.length > k) top.pop(); } } return top.map((t) => ({ id: t.i, piece: model.tokenString(t.i), value: lg[t.i] })); };
    const out = { promoted: order(1), suppressed: order(-1), acts: null };
    if (texts) {
      const ctx = model._ctxFor(texts.B, texts.T), pa = s.alloc(4 * texts.B * texts.T);
      model._check(M._relp_unit_activations(ctx, s.i32(texts.ids), texts.B, texts.T, saes ? saes.handle : 0, setId(set), hook, unit, pa));
      model._lastShape = [texts.B, texts.T];
      out.acts = M.HEAPF32.slice(pa >> 2, (pa >> 2) + texts.B * texts.T);
    }
    return out;
  } finally { s.free(); }
}
