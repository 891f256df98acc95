// worker.js - owns the WebAssembly module and runs all compute, so the page
// never freezes. A module worker; the page talks to it with
//   { id, type: 'load' | 'check' | 'run' | 'apPositions' | 'attention', ... }
// and the circuit requests of circuits_worker.js ('saes', 'circuit', 'curves', 'edges', ...),
// and gets back { id, type: 'progress' | 'result' | 'error', ... }.
// Cancelling is done by the page terminating this worker and starting a new
// one (see main.js): a synchronous WebAssembly call cannot read a message.
import { loadEngine, RelpError, threadsSupported, defaultThreads, engineName, relaxedSimdSupported } from './relp.mjs';
import { fetchModelFiles, estimateBytes, WASM_LIMIT, AUTO_F16 } from './loader.js';
import { inputProblems } from './guard.js';
import { METHOD, NODES } from './constants.mjs'; // the C core's name tables (generated at build time)
import * as circuits from './circuits_worker.js';

let engine = null;
let engineNote = '';   // why the page runs on one thread, where it does
let model = null;      // the current model; replaced only once a new one has loaded
let modelLabel = '';

async function openEngine(relaxed, threads) {
  const name = engineName({ relaxed, threads });
  const wasm = await (await fetch(new URL(`${name}.wasm`, import.meta.url))).arrayBuffer();
  return loadEngine({ glueUrl: new URL(`${name}.js`, import.meta.url), wasmBinary: wasm, threads });
}

// The threaded module where the page is cross-origin isolated and the machine has cores to spare (its
// workers start with it, for up to min(cores, 8) threads); else, or if it fails to start, the one-thread module;
// each with relaxed SIMD where the browser validates it.
async function getEngine() {
  if (!engine) {
    // the relaxed-SIMD module where this browser validates it, SIMD128 elsewhere (the page shows engine.kernels)
    const relaxed = await relaxedSimdSupported();
    const most = defaultThreads();
    if (most > 1) {
      try { engine = await openEngine(relaxed, most); } catch (e) { engineNote = `the threaded module did not start: ${e.message || e}`; }
    } else {
      engineNote = threadsSupported() ? 'one core' : 'the page is not cross-origin isolated: no COOP/COEP headers';
    }
    if (!engine) engine = await openEngine(relaxed, 1);
  }
  return engine;
}
const engineInfo = (e) => ({ kernels: e.kernels, maxThreads: e.maxThreads, threadNote: engineNote });

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

function need() {
  if (!model) throw new RelpError('no model is loaded', -4);
  return model;
}

// the query's tokens, and what makes it unrunnable (guard.js)
function tokens(m, q, metric = q.metric || 'logit_diff') {
  const t = { cleanText: q.clean, corruptText: q.corrupt, answerText: q.answer, wrongText: q.wrong, nPositions: m.info.nPositions, metric,
    clean: m.tokenize(q.clean), corrupt: m.tokenize(q.corrupt), answer: m.tokenize(q.answer, { bos: false }), wrong: m.tokenize(q.wrong, { bos: false }) };
  t.problems = inputProblems(t);
  return t;
}

function prepare(m, q) {
  const t = tokens(m, q);
  if (t.problems.length) throw new RelpError(`not run: ${t.problems.join('; ')}`, -4);
  // the log-probability and the logit read the answer alone: the wrong token may be anything (the answer stands in)
  return { clean: t.clean, corrupt: t.corrupt, answer: t.answer[0], wrong: t.wrong.length === 1 ? t.wrong[0] : t.answer[0] };
}

// the model's prediction after ids: its top k, and the answer's probability and rank
function predict(m, ids, answer, k = 5) {
  const logits = m.forward(ids);
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let z = 0;
  for (const v of logits) z += Math.exp(v - max);
  const top = [];
  for (let i = 0; i < logits.length; i++) { // k best by insertion
    if (top.length === k && logits[i] <= logits[top[k - 1]]) continue;
    let j = Math.min(top.length, k - 1);
    top[j] = i;
    while (j > 0 && logits[top[j - 1]] < logits[i]) { top[j] = top[j - 1]; top[j - 1] = i; j--; }
  }
  const out = { top: top.map((id) => ({ id, piece: m.tokenString(id), prob: Math.exp(logits[id] - max) / z })) };
  if (answer >= 0) {
    let rank = 1;
    for (const v of logits) if (v > logits[answer]) rank++;
    Object.assign(out, { pAnswer: Math.exp(logits[answer] - max) / z, rank });
  }
  return out;
}

// What the page shows as you type: tokens, problems, hints and the model's predictions.
function check(m, q) {
  const t = tokens(m, q);
  const piece = (ids) => Array.from(ids, (i) => ({ id: i, s: m.tokenString(i) }));
  const out = { clean: piece(t.clean), corrupt: piece(t.corrupt), answer: piece(t.answer), wrong: piece(t.wrong), problems: t.problems, hints: [] };
  // an answer typed without its leading space: GPT-2 writes a word after a word with the space in the token. One
  // token: the core's rule (relp.h WARNINGS, ANSWER_SPACE), as the run's warning will say; several tokens cannot
  // run at all (inputProblems), and the hint offers the spaced word when it is one token
  for (const [k, what] of [['answer', 'answer'], ['wrong', 'wrong token']]) {
    const s = q[k], ids = t[k];
    if (!s || /^\s/.test(s)) continue;
    const lacks = ids.length === 1 && t.clean.length
      ? m.runWarnings({ clean: t.clean, answer: ids[0], metric: 'logit', predict: false }).warnings.some((w) => w.kind === 'answer_space')
      : ids.length > 1 && !/\s$/.test(q.clean) && m.tokenize(' ' + s, { bos: false }).length === 1;
    if (lacks)
      out.hints.push({ field: k, fix: ' ' + s, text: `the ${what} ${JSON.stringify(s)} has no leading space; after a word GPT-2 writes ${JSON.stringify(' ' + s)}, with the space, as one token` });
  }
  const a = t.answer.length === 1 ? t.answer[0] : -1;
  if (t.clean.length >= 1 && t.clean.length <= m.info.nPositions && q.clean.trim()) {
    // a forward pass of the prompt, timed: the page's estimates of a run's time. The fastest of up to three (the
    // first after a load compiles the module's code as it goes; a busy machine stalls one now and then), the
    // repeats only where a pass is short (under 0.2 s)
    let t0 = performance.now();
    out.pred = predict(m, t.clean, a);
    let best = performance.now() - t0;
    for (let i = 0; i < 2 && best < 200; i++) {
      t0 = performance.now();
      predict(m, t.clean, a);
      best = Math.min(best, performance.now() - t0);
    }
    out.forwardSeconds = best / 1000;
  }
  if (t.corrupt.length >= 1 && t.corrupt.length <= m.info.nPositions && q.corrupt.trim()) out.predCorrupt = predict(m, t.corrupt, -1);
  return out;
}

const RULES_OF = Object.fromEntries(Object.entries(METHOD).map(([name, [, rules]]) => [name, rules])); // method -> its rules preset
const f32 = (a) => Float32Array.from(a);

// per-position head scores (L, NH, T) -> per head (L, NH), summed in double
function headTotals(pos, L, NH, T) {
  const out = new Float32Array(L * NH);
  for (let i = 0; i < L * NH; i++) { let s = 0; for (let t = 0; t < T; t++) s += pos[i * T + t]; out[i] = s; }
  return out;
}

// a partial result every so often (and always when asked): the page draws what is there
function throttled(id, every = 120) {
  let last = 0;
  return (result, force = false) => {
    const now = performance.now();
    if (!force && now - last < every) return;
    last = now;
    post({ id, type: 'partial', result });
  };
}

function run(id, q) {
  const m = need();
  if (q.threads) engine.setThreads(q.threads); // else: as many as the module has
  const { clean, corrupt, answer, wrong } = prepare(m, q);
  const metric = q.metric || 'logit_diff';
  const T = clean.length, L = m.info.nLayer, NH = m.info.nHead, steps = q.steps || 10;
  // progress over everything this run does, in units of forward-sized work
  const apUnits = q.ap ? 3 * L * T + L * NH : 0, apPosUnits = q.apPos ? L * NH * T : 0;
  const estUnits = q.method === 'ig' ? 4 * L * steps : q.method === 'ig-input' ? steps : 1;
  const total = apUnits + apPosUnits + estUnits + 1;
  let base = 0;
  const progress = (done) => post({ id, type: 'progress', done: base + done, total, what: base >= estUnits ? 'ap' : 'est' });
  const out = { tokens: Array.from(clean, (t) => m.tokenString(t)), corruptTokens: Array.from(corrupt, (t) => m.tokenString(t)),
    cleanIds: Array.from(clean), corruptIds: Array.from(corrupt), L, NH, NKV: m.info.nKvHead || NH, T, method: q.method, steps, metric, est: {}, ap: null, apPos: null };
  out.pred = predict(m, clean, answer);
  out.predCorrupt = predict(m, corrupt, wrong);
  const t0 = performance.now(); // the method's own time
  let r;
  const one = { clean, corrupt, answer, wrong, metric };
  if (q.method === 'ig') {
    for (const node of NODES) {
      r = m.attribute({ ...one, method: 'ig', node, perPosition: node === 'head', steps, onProgress: (d) => progress(d) });
      out.est[node === 'head' ? 'headPos' : node] = r.scores;
      base += L * steps;
    }
  } else { // AtP and RelP: all four node types from one backward pass; IG along the input path: from one sweep
    r = m.attributeAll({ ...one, method: q.method, perPosition: true, steps, onProgress: (d) => progress(d) });
    for (const node of ['resid', 'attn', 'mlp']) out.est[node] = r.scores[node];
    out.est.headPos = r.scores.head;
    base += estUnits;
  }
  out.est.head = headTotals(out.est.headPos, L, NH, T);
  Object.assign(out, { mClean: r.mClean, mCorrupt: r.mCorrupt, unitsWarning: r.warning });
  out.seconds = (performance.now() - t0) / 1000;
  out.threads = m.threadsUsed;
  const tr = m.tokenRelevance({ ids: clean, answer, wrong, rules: RULES_OF[q.method], metric });
  out.tokenRelevance = { values: tr.relevance, total: tr.total, value: tr.value, rules: RULES_OF[q.method] };
  // the run's warnings, decided and worded by the core (relp.h WARNINGS): the prediction, the gap, the leading space
  out.warnings = m.runWarnings({ clean, answer, wrong, mClean: out.mClean, mCorrupt: out.mCorrupt, metric }).warnings;
  // the estimate is drawn at once; AP follows, layer by layer (the core writes each score as it computes it)
  const partial = throttled(id);
  out.apUnits = apUnits + apPosUnits;
  partial(out, true);
  progress(0);
  const tAp = performance.now();
  if (q.ap) {
    out.ap = Object.fromEntries(NODES.map((n) => [n, new Float32Array(n === 'head' ? L * NH : L * T).fill(NaN)]));
    for (const node of NODES) {
      out.ap[node] = m.attribute({ ...one, method: 'ap', node, onProgress: (d) => progress(d),
        onPartial: (sc) => { out.ap[node] = sc; partial(out); } }).scores;
      base += node === 'head' ? L * NH : L * T;
      progress(0);
      partial(out, true);
    }
  }
  if (q.apPos) {
    out.apPos = m.attribute({ ...one, method: 'ap', node: 'head', perPosition: true, onProgress: (d) => progress(d),
      onPartial: (sc) => { out.apPos = sc; partial(out); } }).scores;
    base += apPosUnits;
  }
  if (q.ap || q.apPos) out.apSeconds = (performance.now() - tAp) / 1000;
  progress(1);
  return out;
}

// AP of every head at every position (L x NH x T patches), for the per-position view, filled in as it goes
function apPositions(id, q) {
  const m = need();
  if (q.threads) engine.setThreads(q.threads);
  const { clean, corrupt, answer, wrong } = prepare(m, q);
  const partial = throttled(id);
  const t0 = performance.now();
  const r = m.attribute({ clean, corrupt, answer, wrong, metric: q.metric || 'logit_diff', method: 'ap', node: 'head', perPosition: true,
    onProgress: (d, t) => post({ id, type: 'progress', done: d, total: t, what: 'ap' }), onPartial: (sc) => partial({ apPos: sc }) });
  return { apPos: r.scores, seconds: (performance.now() - t0) / 1000 };
}

// ---------------------------------------------------------------- data sets
// A data set of prompt pairs, as `relp ioi` runs it: grouped into batches of equal token length (at most 64 prompts
// each: the core's batching, `relp ioi --max-batch`), each batch one call of each method per node type on all its
// prompts (scores of their mean metric); AP always. Partial results after each batch. Pairs that cannot run
// (lengths differ, an answer of several tokens, ...) are left out and said.
function dataset(id, q) {
  const m = need();
  if (q.threads) engine.setThreads(q.threads);
  const metric = q.metric || 'logit_diff', steps = q.steps || 10, maxBatch = q.maxBatch || 64;
  const L = m.info.nLayer, NH = m.info.nHead;
  const skipped = [], groups = [];
  q.prompts.forEach((p, i) => {
    const t = tokens(m, p, metric);
    if (t.problems.length) { skipped.push(`pair ${i + 1}: ${t.problems[0]}`); return; }
    const T = t.clean.length;
    let g = groups.find((x) => x.T === T && x.items.length < maxBatch);
    if (!g) groups.push(g = { T, items: [] });
    g.items.push({ i, clean: t.clean, corrupt: t.corrupt, answer: t.answer[0], wrong: t.wrong[0] });
  });
  if (!groups.length) throw new RelpError(`no pair of the data set can run: ${skipped.slice(0, 3).join('; ')}`, -4);
  // work in forward-sized units, as the page estimates it: AP 3LT + L*NH per batch, IG 4 L steps, IG-input steps, grad 1
  const unitsOf = (method, T) => (method === 'ap' ? 3 * L * T + L * NH : method === 'ig' ? 4 * L * steps : method === 'ig-input' ? steps : 1);
  const methods = [...q.methods, 'ap'];
  const total = groups.reduce((s, g) => s + methods.reduce((u, mm) => u + unitsOf(mm, g.T), 0), 0);
  let base = 0;
  const progress = (d, what) => post({ id, type: 'progress', done: base + d, total, what });
  const out = { L, NH, NKV: m.info.nKvHead || NH, metric, steps, methods: q.methods, skipped, nPrompts: q.prompts.length - skipped.length,
    nBatches: groups.length, batches: [], seconds: Object.fromEntries(methods.map((mm) => [mm, 0])) };
  groups.forEach((g, gi) => {
    const B = g.items.length, T = g.T;
    const cat = (k) => Int32Array.from(g.items.flatMap((x) => Array.from(x[k])));
    const batch = { T, n: B, prompts: g.items.map((x) => x.i), tokens: Array.from(g.items[0].clean, (t) => m.tokenString(t)),
      corruptTokens: Array.from(g.items[0].corrupt, (t) => m.tokenString(t)), scores: {} };
    const one = { clean: cat('clean'), corrupt: cat('corrupt'), answer: g.items.map((x) => x.answer), wrong: g.items.map((x) => x.wrong), B, metric };
    for (const mm of methods) {
      const t0 = performance.now(), sc = {};
      const what = `batch ${gi + 1} of ${groups.length} (${B} prompts of ${T} tokens): ${mm === 'ap' ? 'activation patching' : mm}`;
      let r;
      if (METHOD[mm][0] === 1 || METHOD[mm][0] === 3) { // AtP, RelP presets, IG-input: every node type at once
        r = m.attributeAll({ ...one, method: mm, perPosition: false, steps, onProgress: (d) => progress(d, what) });
        Object.assign(sc, r.scores);
      } else {
        let b0 = 0;
        for (const node of NODES) {
          r = m.attribute({ ...one, method: mm, node, steps, onProgress: (d) => progress(b0 + d, what) });
          sc[node] = r.scores;
          b0 += mm === 'ap' ? (node === 'head' ? L * NH : L * T) : L * steps;
        }
      }
      batch.scores[mm] = sc;
      batch.mClean = r.mClean;
      batch.mCorrupt = r.mCorrupt;
      out.seconds[mm] += (performance.now() - t0) / 1000;
      base += unitsOf(mm, T);
    }
    batch.warnings = m.runWarnings({ clean: Int32Array.from(g.items[0].clean), answer: g.items[0].answer, wrong: g.items[0].wrong,
      mClean: batch.mClean, mCorrupt: batch.mCorrupt, metric, predict: false }).warnings.filter((w) => w.kind !== 'answer_space');
    out.batches.push(batch);
    post({ id, type: 'partial', result: out });
  });
  return out;
}

// every head's attention pattern, (L, NH, T, T), of one forward pass of ids
const attention = (ids) => need().attentionPatterns(Int32Array.from(ids));

async function handle(msg) {
  const { id, type } = msg;
  switch (type) {
    case 'load': {
      const e = await getEngine();
      let f16 = !!msg.f16;
      const files = await fetchModelFiles(msg.source, (done, total, what) => post({ id, type: 'progress', done, total, what }),
                                          (configBytes, weightBytes) => {
        // the core reads config.json (any architecture it runs) and counts what the model will hold
        const seen = e.inspectConfig(configBytes, { weights: 'f16' });
        // f16 where needed: when f32 matrices would take the tab past AUTO_F16 bytes
        if (!f16 && estimateBytes(seen, weightBytes, false).total > AUTO_F16) f16 = true;
        const need = estimateBytes(seen, weightBytes, f16);
        if (need.total > WASM_LIMIT)
          throw new RelpError(`${msg.source.label}: needs about ${(need.total / 2 ** 30).toFixed(1)} GB in the tab (${need.detail}); ` +
                              `WebAssembly gives a page at most ${(WASM_LIMIT / 2 ** 30).toFixed(1)} GB`, -5);
      });
      post({ id, type: 'progress', done: 1, total: 1, what: 'building the model' });
      const next = e.loadModel(files, { f16 }); // throws: the old model stays
      circuits.setModel(null); // the SAEs and circuits of the old model go with it
      if (model) model.free();
      model = next;
      circuits.setModel(model);
      modelLabel = msg.source.label;
      return { info: model.info, label: modelLabel, warning: model.warning, f16, ...engineInfo(e) };
    }
    case 'check': return check(need(), msg.query);
    case 'run': return run(id, msg.query);
    case 'apPositions': return apPositions(id, msg.query);
    case 'dataset': return dataset(id, msg.query);
    case 'ioi': return (await getEngine()).ioiPrompts({ demo: msg.set === 'demo', n: msg.n, seed: msg.seed });
    case 'attention': return { clean: attention(msg.clean), corrupt: attention(msg.corrupt) };
    case 'saes': return circuits.loadSaes(id, msg, post);
    case 'circuit': case 'circuitSize': case 'curves': case 'edges': case 'edgesSize': case 'card': case 'patch':
      return circuits[type](id, msg.query, post);
    default: throw new RelpError(`unknown request ${type}`, -4);
  }
}

self.onmessage = async (ev) => {
  const msg = ev.data;
  try {
    const result = await handle(msg);
    post({ id: msg.id, type: 'result', result });
  } catch (e) {
    post({ id: msg.id, type: 'error', message: e && e.message ? e.message : String(e) });
  }
};
