// circuits_worker.js - the circuit computations of the worker (worker.js hands it these requests):
//   saes         load a set of SAEs for the model (bundled, a URL or files), with progress and a memory check
//   circuit      a node set's scores by one method, and the faithfulness of its top-N circuit
//   circuitSize  the faithfulness of the top-N circuit at another N (the slider)
//   curves       faithfulness and completeness against N for several methods (the paper's second experiment)
//   edges        EAP-IG's edge scores by one method, the top-N edge circuit (pruned) and its faithfulness
//   edgesSize    the same at another N
//   card         a feature's or neuron's card: where it fires over the texts, what its direction promotes
//   patch        exact patching of single nodes or edges (the AP beside a score)
// Data: "prompt" (the prompt pair typed in the page) or "ioi" (Wang et al.'s distribution from the core, seed 1,
// 200 drawn, the 64 first of the most common token length: what relp ioi --dataset wang --n 200 --seed 1 and
// --prompts FILE --limit 64 give the CLI). Results are cached per model, data, node set and method; the SAEs and
// caches go with the model.
import { RelpError } from './relp.mjs';
import { loadSAEs, batchOf, oneLength, attributeCircuit, rankNodes, faithfulness, graphOf, attributeEdges, graphTop, edgeEval,
  patchCircuitNodes, patchEdges, unitCard, NODE_METHODS, EDGE_METHODS } from './circuits.mjs';
import { fetchSaeFiles, saeBytes, WASM_LIMIT } from './loader.js';
import { inputProblems } from './guard.js';

export const IOI = { n: 200, seed: 1, limit: 64 };
const TOP = 400;   // nodes sent to the page for drawing and cards
let model = null, saes = null, saesLabel = '';
let cache = new Map(); // key -> scores, faithfulness objects, batches

// the worker's model changed: everything computed for the old one goes
export function setModel(m) {
  for (const v of cache.values()) if (v && v.free) v.free();
  cache = new Map();
  if (saes) saes.free();
  saes = null;
  saesLabel = '';
  model = m;
}

function need() {
  if (!model) throw new RelpError('no model is loaded', -4);
  return model;
}
const memo = (key, make) => { if (!cache.has(key)) cache.set(key, make()); return cache.get(key); };
const dataKey = (q) => (q.data === 'ioi' ? 'ioi' : JSON.stringify(['prompt', q.clean, q.corrupt, q.answer, q.wrong]));

// ---------------------------------------------------------------- data
function batch(q) {
  return memo(`batch|${dataKey(q)}`, () => {
    const m = need();
    if (q.data === 'ioi') {
      const all = m.engine.ioiPrompts({ demo: false, n: IOI.n, seed: IOI.seed });
      const kept = oneLength(m, all, IOI.limit);
      const b = batchOf(m, kept.prompts);
      return { ...b, what: `${b.B} IOI prompts of ${b.T} tokens (Wang et al.'s distribution, seed ${IOI.seed}: the first ${IOI.limit} of ${IOI.n} of the most common length)`,
               texts: kept.prompts.map((p) => p.clean), pairs: kept.prompts };
    }
    const t = { cleanText: q.clean, corruptText: q.corrupt, answerText: q.answer, wrongText: q.wrong, nPositions: m.info.nPositions,
      clean: m.tokenize(q.clean), corrupt: m.tokenize(q.corrupt), answer: m.tokenize(q.answer, { bos: false }), wrong: m.tokenize(q.wrong, { bos: false }) };
    const problems = inputProblems(t);
    if (problems.length) throw new RelpError(`not run: ${problems.join('; ')}`, -4);
    const b = batchOf(m, [q]);
    return { ...b, what: `one prompt pair of ${b.T} tokens`, texts: [q.clean], pairs: [{ clean: q.clean, corrupt: q.corrupt, answer: q.answer, wrong: q.wrong }] };
  });
}

// ---------------------------------------------------------------- SAEs
export async function loadSaes(id, msg, post) {
  const m = need();
  const progress = (done, total, what) => post({ id, type: 'progress', done, total, what });
  const limit = WASM_LIMIT - m.info.weightBytes * 2; // the checkpoint's bytes and the weights stay
  const files = await fetchSaeFiles(msg.source, progress, (cfgs, fileBytes) => {
    const need = saeBytes(cfgs, fileBytes || cfgs.reduce((s, c) => s + 2 * c.d_in * c.d_sae * 4, 0));
    if (need > limit)
      throw new RelpError(`${msg.source.label}: ${cfgs.length} SAEs need about ${(need / 2 ** 30).toFixed(2)} GB in the tab beside the model; ` +
                          `WebAssembly leaves about ${(Math.max(0, limit) / 2 ** 30).toFixed(2)} GB`, -5);
  });
  progress(1, 1, 'building the SAEs');
  const next = loadSAEs(m, files); // throws with the core's message naming the file: the old SAEs stay
  for (const [k, v] of cache) if (k.includes('features')) { if (v && v.free) v.free(); cache.delete(k); }
  if (saes) saes.free();
  saes = next;
  saesLabel = msg.source.label;
  return saesInfo();
}
export const saesInfo = () => ({ label: saesLabel, list: saes ? saes.list : [], bytes: saes ? saes.list.reduce((s, e) => s + 8 * e.dIn * e.dSae, 0) : 0 });

function saesFor(set) {
  if (set !== 'features') return null;
  if (!saes) throw new RelpError('the feature node set needs SAEs: load a set of SAEs (the SAELens layout) from a URL or a folder', -4);
  return saes;
}

// ---------------------------------------------------------------- node sets
function scored(q, method, progress) {
  const key = `scores|${dataKey(q)}|${q.set}|${method}|${method === 'ig' ? q.steps : 0}`;
  if (cache.has(key)) return cache.get(key);
  const r = attributeCircuit(need(), { batch: batch(q), saes: saesFor(q.set), set: q.set, method, steps: q.steps, onProgress: progress });
  r.top = rankNodes(r, TOP).map(({ hook, position, unit, score }) => ({ hook, position, unit, score }));
  cache.set(key, r);
  return r;
}

// the faithfulness object of (data, set); made again when the model's context was replaced (another shape ran)
function faith(q) {
  const key = `faith|${dataKey(q)}|${q.set}`, m = need();
  let fa = cache.get(key);
  if (fa && fa.ctx !== m.ctx) { fa.free(); fa = null; }
  if (!fa) {
    const b = batch(q);
    m._ctxFor(b.B, b.T);
    fa = faithfulness(m, { batch: b, saes: saesFor(q.set), set: q.set });
    cache.set(key, fa);
  }
  return fa;
}

const point = (fa, r, n) => {
  const c = fa.curve(r, { nodes: [Math.max(1, Math.min(n, fa.candidates))] });
  return { size: c.size[0], faithfulness: c.faithfulness[0], completeness: c.completeness[0] };
};

export function circuit(id, q, post) {
  const m = need();
  if (m.engine && q.threads) m.engine.setThreads(q.threads);
  if (!NODE_METHODS.includes(q.method))
    throw new RelpError(`${q.method} does not score the nodes of a node set; pick one of ${NODE_METHODS.join(', ')} (IG along the input path scores edges)`, -4);
  const b = batch(q);
  const progress = (d, t) => post({ id, type: 'progress', done: d, total: t, what: `${q.method} ${q.set}` });
  const r = scored(q, q.method, progress);
  post({ id, type: 'progress', done: 0, total: 1, what: 'faithfulness: the mean ablation' });
  const fa = faith(q);
  const at = point(fa, r, q.size);
  return { key: q.key, set: q.set, method: q.method, steps: q.steps, hooks: r.hooks, T: b.T, B: b.B, tokens: b.tokens, corruptTokens: b.corruptTokens,
           what: b.what, top: r.top, seconds: r.seconds, mClean: r.mClean, mCorrupt: r.mCorrupt, mFull: fa.mFull, mEmpty: fa.mEmpty,
           candidates: fa.candidates, at, threads: m.threadsUsed, ...otherScores(q, r.top.slice(0, 60)) };
}

export function circuitSize(id, q) {
  const r = cache.get(`scores|${dataKey(q)}|${q.set}|${q.method}|${q.method === 'ig' ? q.steps : 0}`);
  if (!r) throw new RelpError('the circuit is gone (the worker restarted): press Run', -4);
  return { key: q.key, at: point(faith(q), r, q.size) };
}

// each node's score under the other methods already computed on the same data and node set
function otherScores(q, nodes) {
  const by = {};
  for (const m of NODE_METHODS) {
    const r = cache.get(`scores|${dataKey(q)}|${q.set}|${m}|${m === 'ig' ? q.steps : 0}`);
    if (!r) continue;
    by[m] = nodes.map((n) => (n.unit < 0 ? r.errors[n.hook][n.position] : r.scores[n.hook][n.position * r.hooks[n.hook].width + n.unit]));
  }
  return { byMethod: by };
}

export function curves(id, q, post) {
  const m = need();
  if (m.engine && q.threads) m.engine.setThreads(q.threads);
  const b = batch(q), methods = q.methods, out = {};
  const per = (k, what) => (d, t) => post({ id, type: 'progress', done: k + d / Math.max(t, 1), total: 2 * methods.length + 1, what });
  post({ id, type: 'progress', done: 0, total: 2 * methods.length + 1, what: 'faithfulness: the mean ablation' });
  const fa = faith(q);
  methods.forEach((method, k) => {
    const r = scored({ ...q, method }, method, per(1 + 2 * k, `${method} scores`));
    const t0 = performance.now();
    const c = fa.curve(r, { nodes: q.nodes, onProgress: per(2 + 2 * k, `${method}: faithfulness`) });
    out[method] = { ...c, seconds: r.seconds, curveSeconds: (performance.now() - t0) / 1000, steps: method === 'ig' ? q.steps : 0 };
  });
  return { key: q.key, set: q.set, nodes: q.nodes, curves: out, candidates: fa.candidates, mFull: fa.mFull, mEmpty: fa.mEmpty, B: b.B, T: b.T,
           what: b.what, tokens: b.tokens, threads: m.threadsUsed };
}

// ---------------------------------------------------------------- edges
function edgeScores(q, progress) {
  const key = `edges|${dataKey(q)}|${q.method}|${q.method === 'ig-input' ? q.steps : 0}`;
  return memo(key, () => attributeEdges(need(), { batch: batch(q), method: q.method, steps: q.steps, onProgress: progress }));
}
function edgeEvaluator(q) {
  const key = `edgeEval|${dataKey(q)}`, m = need();
  let ev = cache.get(key);
  if (ev && ev.ctx !== m.ctx) { ev.free(); ev = null; }
  if (!ev) { ev = edgeEval(m, { batch: batch(q) }); cache.set(key, ev); }
  return ev;
}
function edgeCircuit(q, r) {
  const m = need(), g = graphOf(m);
  const n = Math.max(0, Math.min(q.size, g.nEdges));
  const top = graphTop(m, r.scores, n), ev = edgeEvaluator(q);
  const mc = ev.run(top.inGraph);
  return { size: n, kept: top.kept, inGraph: top.inGraph, nodeIn: top.nodeIn, faithfulness: (mc - ev.mCorrupt) / (ev.mClean - ev.mCorrupt),
           metricCircuit: mc, mClean: ev.mClean, mCorrupt: ev.mCorrupt };
}

export function edges(id, q, post) {
  const m = need();
  if (m.engine && q.threads) m.engine.setThreads(q.threads);
  if (!EDGE_METHODS.includes(q.method))
    throw new RelpError(`${q.method} does not score edges; pick one of ${EDGE_METHODS.join(', ')} (IG per layer scores node sets)`, -4);
  const b = batch(q), g = graphOf(m);
  const r = edgeScores(q, (d, t) => post({ id, type: 'progress', done: d, total: t, what: `${q.method} edges` }));
  return { key: q.key, set: 'edges', method: q.method, steps: q.steps, graph: { nUp: g.nUp, nDown: g.nDown, up: g.up, down: g.down, edges: g.edges, cfg: g.cfg },
           scores: r.scores, seconds: r.seconds, mClean: r.mClean, mCorrupt: r.mCorrupt, B: b.B, T: b.T, tokens: b.tokens, corruptTokens: b.corruptTokens,
           what: b.what, candidates: g.nEdges, at: edgeCircuit(q, r), threads: m.threadsUsed };
}

export function edgesSize(id, q) {
  const r = cache.get(`edges|${dataKey(q)}|${q.method}|${q.method === 'ig-input' ? q.steps : 0}`);
  if (!r) throw new RelpError('the edge scores are gone (the worker restarted): press Run', -4);
  return { key: q.key, at: edgeCircuit(q, r) };
}

// ---------------------------------------------------------------- cards and exact patching
// The texts a card reads: the prompts of the data (the clean prompts), one forward pass of them all
function texts(q) {
  return memo(`texts|${dataKey(q)}`, () => {
    const m = need(), b = batch(q), list = b.texts.map((t) => m.tokenize(t));
    const T = Math.max(...list.map((x) => x.length)), B = list.length;
    const ids = new Int32Array(B * T).fill(m.bosId >= 0 ? m.bosId : 0), len = list.map((x) => x.length);
    list.forEach((x, i) => ids.set(x, i * T)); // shorter texts padded at the end (causal: the padding changes nothing before it)
    return { ids, B, T, len, pieces: list.map((x) => Array.from(x, (t) => m.tokenString(t))) };
  });
}

export function card(id, q) {
  const m = need(), tx = texts(q);
  const c = unitCard(m, { saes: saesFor(q.set), set: q.set, hook: q.hook, unit: q.unit, texts: { ids: tx.ids, B: tx.B, T: tx.T }, k: 8 });
  const hits = [];
  for (let b = 0; b < tx.B; b++) for (let t = 0; t < tx.len[b]; t++) hits.push([c.acts[b * tx.T + t], b, t]);
  hits.sort((x, y) => y[0] - x[0] || x[1] - y[1] || x[2] - y[2]);
  const top = hits.slice(0, 6).filter((h) => h[0] > 0).map(([v, b, t]) => ({ value: v, text: b, position: t,
    before: tx.pieces[b].slice(Math.max(0, t - 6), t), token: tx.pieces[b][t], after: tx.pieces[b].slice(t + 1, t + 3) }));
  const fired = hits.filter((h) => h[0] > 0).length;
  return { key: q.key, hook: q.hook, unit: q.unit, set: q.set, top, fired, tokens: hits.length, promoted: c.promoted, suppressed: c.suppressed,
           ...otherScores(q, [{ hook: q.hook, position: q.position, unit: q.unit }]) };
}

export function patch(id, q, post) {
  const m = need(), b = batch(q);
  const progress = (d, t) => post({ id, type: 'progress', done: d, total: t, what: 'exact patching' });
  if (q.set === 'edges') return { key: q.key, effects: Array.from(patchEdges(m, { batch: b, edges: q.edges, onProgress: progress })) };
  return { key: q.key, effects: Array.from(patchCircuitNodes(m, { batch: b, saes: saesFor(q.set), set: q.set, nodes: q.nodes, onProgress: progress })) };
}
