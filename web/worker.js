// worker.js - owns the WebAssembly module and runs all compute, so the page
// never freezes. A module worker; the page talks to it with
//   { id, type: 'load' | 'tokenize' | 'top' | 'run' | 'attention', ... }
// and gets back { id, type: 'progress' | 'result' | 'error', ... }.
// Cancelling is done by the page terminating this worker and starting a new
// one (see main.js): a synchronous WebAssembly call cannot read a message.
import { loadEngine, RelpError } from './relp.mjs';
import { fetchModelFiles, estimateBytes, WASM_LIMIT, AUTO_F16 } from './loader.js';

let engine = null;
let model = null;      // the current model; replaced only once a new one has loaded
let modelLabel = '';

async function getEngine() {
  if (!engine) {
    const wasm = await (await fetch(new URL('relp_engine.wasm', import.meta.url))).arrayBuffer();
    engine = await loadEngine({ glueUrl: new URL('relp_engine.js', import.meta.url), wasmBinary: wasm });
  }
  return engine;
}

const post = (msg, transfer) => self.postMessage(msg, transfer || []);

function need() {
  if (!model) throw new RelpError('no model is loaded', -4);
  return model;
}

// clean/corrupt prompts to ids; answer/wrong to single tokens (readable errors)
function prepare(m, q) {
  const clean = m.tokenize(q.clean), corrupt = m.tokenize(q.corrupt);
  if (clean.length > m.info.nPositions)
    throw new RelpError(`the clean prompt is ${clean.length} tokens; this model takes at most ${m.info.nPositions}`, -4);
  if (clean.length !== corrupt.length)
    throw new RelpError(`the clean prompt is ${clean.length} tokens and the corrupted one ${corrupt.length}; they must have the same number of tokens`, -4);
  return { clean, corrupt, answer: m.singleToken(q.answer, 'answer'), wrong: m.singleToken(q.wrong, 'wrong token') };
}

const RULES_OF = { relp: 'relp', 'relp-cp': 'relp-cp', attnlrp: 'attnlrp', atp: 'grad', ig: 'grad', 'ig-input': 'grad' };
const NODES = ['resid', 'attn', 'mlp', 'head'];

function run(id, q) {
  const m = need();
  const { clean, corrupt, answer, wrong } = prepare(m, q);
  const T = clean.length;
  const L = m.info.nLayer, NH = m.info.nHead;
  // progress over everything this run does, in units of forward-sized work
  const apUnits = q.ap ? 3 * L * T + L * NH : 0;
  const estUnits = q.method === 'ig' ? 4 * L * (q.steps || 10) : q.method === 'ig-input' ? q.steps || 10 : 1;
  const total = apUnits + estUnits + 1;
  let base = 0;
  const progress = (done) => post({ id, type: 'progress', done: base + done, total });
  const out = { tokens: Array.from(clean, (t) => m.tokenString(t)), cleanIds: Array.from(clean), corruptIds: Array.from(corrupt),
                corruptTokens: Array.from(corrupt, (t) => m.tokenString(t)), L, NH, T, est: {}, ap: {}, r: {} };
  if (q.method === 'ig') {
    for (const node of NODES) {
      const r = m.attribute({ clean, corrupt, answer, wrong, method: 'ig', node, steps: q.steps || 10, onProgress: (d) => progress(d) });
      Object.assign(out, { mClean: r.mClean, mCorrupt: r.mCorrupt, warning: r.warning });
      out.est[node] = Array.from(r.scores);
      base += L * (q.steps || 10);
    }
  } else { // AtP and RelP: all four node types from one backward pass; IG along the input path: from one sweep
    const r = m.attributeAll({ clean, corrupt, answer, wrong, method: q.method, steps: q.steps || 10, onProgress: (d) => progress(d) });
    Object.assign(out, { mClean: r.mClean, mCorrupt: r.mCorrupt, warning: r.warning });
    for (const node of NODES) out.est[node] = Array.from(r.scores[node]);
    base += estUnits;
  }
  progress(0);
  if (q.ap) {
    for (const node of NODES) {
      const r = m.attribute({ clean, corrupt, answer, wrong, method: 'ap', node, onProgress: (d) => progress(d) });
      out.ap[node] = Array.from(r.scores);
      out.r[node] = engine.pearson(Float32Array.from(out.est[node]), r.scores);
      base += node === 'head' ? L * NH : L * T;
      progress(0);
    }
  }
  const tr = m.tokenRelevance({ ids: clean, answer, wrong, rules: RULES_OF[q.method] });
  out.tokenRelevance = Array.from(tr.relevance);
  out.tokenRelevanceRules = RULES_OF[q.method];
  out.metricValue = tr.value;
  progress(1);
  return out;
}

async function handle(msg) {
  const { id, type } = msg;
  switch (type) {
    case 'load': {
      const e = await getEngine();
      let f16 = !!msg.f16;
      const files = await fetchModelFiles(msg.source, (done, total, what) => post({ id, type: 'progress', done, total, what }),
                                          (config, weightBytes) => {
        // f16 where needed: when f32 matrices would take the tab past AUTO_F16 bytes
        if (!f16 && estimateBytes(config, weightBytes, false).total > AUTO_F16) f16 = true;
        const need = estimateBytes(config, weightBytes, f16);
        if (need.total > WASM_LIMIT)
          throw new RelpError(`${msg.source.label}: needs about ${(need.total / 2 ** 30).toFixed(1)} GB in the tab (${need.detail}); ` +
                              `WebAssembly gives a page at most ${(WASM_LIMIT / 2 ** 30).toFixed(1)} GB`, -5);
      });
      post({ id, type: 'progress', done: 1, total: 1, what: 'building the model' });
      const next = e.loadModel(files, { f16 }); // throws: the old model stays
      if (model) model.free();
      model = next;
      modelLabel = msg.source.label;
      return { info: model.info, label: modelLabel, kernels: e.kernels, warning: model.warning, f16 };
    }
    case 'ioi': return (await getEngine()).ioiPrompts({ demo: true, n: 8 });
    case 'tokenize': {
      const m = need();
      return msg.texts.map((t, k) => Array.from(m.tokenize(t, { bos: msg.bos ? msg.bos[k] : true }), (i) => ({ id: i, s: m.tokenString(i) })));
    }
    case 'top': {
      const m = need();
      const ids = m.tokenize(msg.text);
      if (ids.length > m.info.nPositions) throw new RelpError(`the prompt is ${ids.length} tokens; this model takes at most ${m.info.nPositions}`, -4);
      return m.top(ids, msg.k || 8);
    }
    case 'run': return run(id, msg.query);
    case 'attention': {
      const m = need();
      const ids = m.tokenize(msg.text);
      return { pattern: Array.from(m.attentionPattern(ids, msg.layer, msg.head)), T: ids.length };
    }
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
