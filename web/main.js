// main.js - the page's UI. No compute here: the worker (worker.js) owns the
// WebAssembly engine; this file sends it requests, shows progress, and draws
// results with the figure module (relp_figure.wasm: relp's figures, drawn in C
// as the CLI and the Python package draw them), adding hover readouts, clicks
// and keyboard from the SVG's data attributes. One state object (state.js) drives the controls and
// the URL; results live in one store, keyed by the model and the prompts they
// were computed for, so that every picture, export and embed shows what was
// computed (and says so when the inputs have changed since).
import { fmt, showToken } from './render.js';
import { loadFigures } from './relp.mjs';
import { parseState, encodeState, setManifest, examplesOf, MANIFEST, BUNDLED, DEFAULT_STATE, METHODS } from './state.js';
import { NAMES, METHOD_TITLE } from './constants.mjs';
import { runWarnings, unitsOf } from './guard.js';
import * as circuits from './circuits.js'; // the circuit views (issue 28): node sets, edges, faithfulness curves, cards

const $ = (id) => document.getElementById(id);
const q = (s) => JSON.stringify(s);

// ---------------------------------------------------------------- the worker
class WorkerClient {
  constructor() { this.pending = new Map(); this.nextId = 1; this.start(); }
  start() {
    this.w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.w.onmessage = (ev) => {
      const m = ev.data, p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') { if (p.onProgress) p.onProgress(m.done, m.total, m.what); return; }
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.result); else p.reject(new Error(m.message));
    };
    this.w.onerror = (ev) => {
      ev.preventDefault();
      for (const p of this.pending.values()) p.reject(new Error(`the worker failed: ${ev.message || 'out of memory?'}`));
      this.pending.clear();
    };
  }
  request(type, payload = {}, onProgress = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.w.postMessage({ id, type, ...payload });
    });
  }
  // stop whatever runs: a WebAssembly call cannot be interrupted, so the worker goes (and its model with it)
  restart() {
    this.w.terminate();
    for (const p of this.pending.values()) p.reject(new Error('cancelled'));
    this.pending.clear();
    this.start();
  }
}
const cancelled = (e) => e && e.message === 'cancelled';

const worker = new WorkerClient();
// the figure module: small, loaded with the page; every view is drawn with it on this thread
const figuresReady = (async () => loadFigures({ glueUrl: new URL('./relp_figure.js', import.meta.url),
  wasmBinary: await (await fetch(new URL('./relp_figure.wasm', import.meta.url))).arrayBuffer() }))();
let figures = null;
let state = { ...DEFAULT_STATE };
let loaded = null;  // { label, info, kernels, source, f16, warning } of the model in the worker
let store = null;   // results for one model and one set of prompts (see newStore)
let checked = null; // the latest live check of the inputs
let phase = 'starting'; // 'starting' | 'idle' | 'loading' | 'running'
let op = 0;             // the operation that owns the phase; a cancel starts a new one
const embed = () => state.embed;

// ---------------------------------------------------------------- messages: one per cause, cleared with it
// owners: manifest, link (a damaged link), load (loading a model), model (the loaded model's own warning),
// run (the last run or cancel), copy
const messages = new Map();
function say(owner, text, kind = 'info') {
  if (text) messages.set(owner, { text, kind }); else messages.delete(owner);
  $('messages').replaceChildren(...[...messages].map(([o, m]) => {
    const d = document.createElement('div');
    d.className = `message ${m.kind}`;
    d.dataset.owner = o;
    d.textContent = m.text;
    return d;
  }));
}
export const messageText = () => [...messages.values()].map((m) => m.text).join(' | ');

// ---------------------------------------------------------------- phases and progress
function setPhase(p) {
  phase = p;
  $('run').disabled = p !== 'idle' || !loaded;
  $('cancel').disabled = !(p === 'loading' || p === 'running');
  document.body.classList.toggle('busy', p === 'loading' || p === 'running');
  if (p === 'idle') { $('progress').hidden = true; $('progress-label').textContent = ''; }
}
function begin(p) {
  const me = ++op;
  setPhase(p);
  const bar = $('progress');
  bar.hidden = false;
  bar.removeAttribute('value');
  $('progress-label').textContent = '';
  return me;
}
function end(me) { if (me === op) setPhase('idle'); }
function progress(me, done, total, what) {
  if (me !== op) return;
  const bar = $('progress');
  bar.hidden = false;
  bar.max = total || 1;
  bar.value = done;
  $('progress-label').textContent = `${what ? what + ': ' : ''}${total > 1 ? Math.round((100 * done) / total) + '%' : ''}`;
}

// ---------------------------------------------------------------- model
function sourceOf(s) {
  return s.url ? { kind: 'url', url: s.url, label: s.url } : { kind: 'bundled', name: s.model, label: s.model };
}
const modelName = () => (loaded ? loaded.label : '');

async function loadModel(source, f16) {
  const me = begin('loading');
  say('load', `loading ${source.label} ...`);
  try {
    const r = await worker.request('load', { source, f16 }, (d, t, what) => progress(me, d, t, what || 'downloading'));
    loaded = { ...r, source, f16: r.f16, askedF16: f16 };
    const i = r.info;
    $('model-info').textContent = `${r.label}: ${i.nLayer} layers, ${i.nHead} heads, d=${i.nEmbd}, ` +
      `${(i.nParams / 1e6).toFixed(1)} M parameters, ${(i.weightBytes / 2 ** 20).toFixed(0)} MiB of weights ` +
      `(${r.f16 ? (f16 ? 'f16' : 'f16: f32 would not fit well in the tab') : 'f32'}), ${r.kernels}, ${threadsText(r)}`;
    $('f16').checked = r.f16;
    renderThreads();
    say('load', '');
    say('model', r.warning ? `${source.label}: ${r.warning}` : '', 'warn');
    await circuits.afterModel(me, source); // its SAEs (the bundled model's, or the set loaded before a cancel)
    return true;
  } catch (e) {
    if (cancelled(e)) return false;
    say('load', `could not load ${source.label}: ${e.message}` + (loaded ? ` - still using ${loaded.label}` : ''), 'error');
    return false;
  } finally {
    end(me);
    renderStale();
  }
}

// ---------------------------------------------------------------- threads
// the module's threads: 1 where the page is not cross-origin isolated (the worker says why)
const threadsText = (r) => (r.maxThreads > 1 ? `up to ${r.maxThreads} threads` : `1 thread (${r.threadNote || 'one-thread module'})`);
const threadsWanted = () => (loaded ? Math.min(state.threads || loaded.maxThreads, loaded.maxThreads) : 1);
function renderThreads() {
  const el = $('threads'), most = loaded ? loaded.maxThreads : 1;
  el.replaceChildren(...[0, ...Array.from({ length: most }, (_, i) => i + 1)].map((n) => {
    const o = document.createElement('option');
    o.value = String(n);
    o.textContent = n ? String(n) : `auto (${most})`;
    return o;
  }));
  el.value = String(state.threads && state.threads <= most ? state.threads : 0);
  el.disabled = most <= 1;
  el.title = most > 1 ? 'threads the computation runs on (results are the same for every count)' : (loaded ? threadsText(loaded) : '');
}

// ---------------------------------------------------------------- inputs and the live check
const inputs = () => ({ clean: $('clean').value, corrupt: $('corrupt').value, answer: $('answer').value, wrong: $('wrong').value });
function readInputs() {
  Object.assign(state, inputs());
  state.method = $('method').value;
  state.steps = Math.max(1, Math.min(1000, Math.round(Number($('steps').value)) || 10));
  state.ap = $('with-ap').checked;
}

function chips(el, toks) {
  el.replaceChildren(...toks.map((t) => {
    const s = document.createElement('span');
    s.className = 'tok';
    s.textContent = showToken(t.s);
    s.title = `token ${t.id}: ${q(t.s)}`;
    return s;
  }));
}

let checkSeq = 0, checkTimer = 0;
async function refreshCheck() {
  if (!loaded) return null;
  const seq = ++checkSeq, q0 = inputs();
  let c;
  try {
    c = await worker.request('check', { query: q0 });
  } catch (e) {
    if (!cancelled(e) && seq === checkSeq) { $('token-warning').textContent = e.message; $('token-warning').hidden = false; }
    return null;
  }
  if (seq !== checkSeq) return null; // the inputs changed meanwhile: a newer check follows
  checked = { ...c, query: q0 };
  chips($('clean-tokens'), c.clean);
  chips($('corrupt-tokens'), c.corrupt);
  chips($('answer-tokens'), c.answer);
  chips($('wrong-tokens'), c.wrong);
  $('token-count').textContent = `${c.clean.length} / ${c.corrupt.length} tokens`;
  $('token-warning').textContent = c.problems.length ? `Cannot run: ${c.problems.join('; ')}.` : '';
  $('token-warning').hidden = !c.problems.length;
  const hint = $('space-hint');
  hint.replaceChildren(...c.hints.map((h) => {
    const d = document.createElement('div');
    d.append(`${h.text}. `);
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'fix';
    b.dataset.field = h.field;
    b.textContent = `use ${q(h.fix)}`;
    b.onclick = () => { $(h.field).value = h.fix; onInput(); };
    d.append(b);
    return d;
  }));
  hint.hidden = !c.hints.length;
  const p = c.pred;
  if (p) {
    let s = `after the clean prompt the model predicts ${p.top.map((t) => `${q(t.piece)} ${t.prob.toFixed(2)}`).join(', ')}`;
    if (p.rank) s += `; the answer ${q(q0.answer)}: p = ${p.pAnswer.toFixed(3)}, rank ${p.rank}${p.rank === 1 ? '' : ' - the model does not predict it'}`;
    $('top-predictions').textContent = s;
    $('top-predictions').classList.toggle('bad', p.rank > 1);
  } else {
    $('top-predictions').textContent = '';
  }
  const list = $('answer-options');
  list.replaceChildren(...[...(p ? p.top : []), ...(c.predCorrupt ? c.predCorrupt.top : [])].map((t) => {
    const o = document.createElement('option');
    o.value = t.piece;
    o.label = `${q(t.piece)} p=${t.prob.toFixed(3)}`;
    return o;
  }));
  return checked;
}

function onInput() {
  say('run', ''); // a message about the last run's inputs is about inputs that are gone
  say('link', '');
  readInputs();
  $('top-predictions').textContent = 'after the clean prompt the model predicts: ...';
  $('top-predictions').classList.remove('bad');
  renderStale();
  saveState();
  clearTimeout(checkTimer);
  checkTimer = setTimeout(refreshCheck, 200);
}

async function suggestAnswers() {
  const c = (checked && JSON.stringify(checked.query) === JSON.stringify(inputs())) ? checked : await refreshCheck();
  if (!c || !c.pred) { say('run', 'the model needs a clean prompt that it can read before it can suggest an answer', 'warn'); return; }
  const a = c.pred.top[0].piece;
  const w = ((c.predCorrupt && c.predCorrupt.top.find((t) => t.piece !== a)) || c.pred.top[1]).piece;
  $('answer').value = a;
  $('wrong').value = w;
  onInput();
}

let exampleTurn = { ioi: 0, induction: 0 };
function useExample(kind) {
  const all = examplesOf(loaded && loaded.source.kind === 'bundled' ? loaded.source.name : MANIFEST.default).filter((e) => e.kind === kind);
  if (!all.length) { say('run', `the models' manifest lists no ${kind} example for this model`, 'warn'); return; }
  const e = all[exampleTurn[kind]++ % all.length];
  $('clean').value = e.clean;
  $('corrupt').value = e.corrupt;
  $('answer').value = e.answer;
  $('wrong').value = e.wrong;
  onInput();
}

// ---------------------------------------------------------------- results
// The store holds what was computed for one model and one set of prompts:
// every method run on them (switching the method shows an earlier result at
// once) and AP, the per-position AP and the attention patterns, computed once.
const keyOf = (query, model) => JSON.stringify([model.label, model.f16, query.clean, query.corrupt, query.answer, query.wrong]);
function newStore(key, query, model, r) {
  return {
    key, query: { ...query }, model: model.label, modelInfo: model.info,
    // the model as a link names it (null: opened from disk, not embeddable)
    source: model.source.kind === 'files' ? null : { model: model.source.kind === 'bundled' ? model.source.name : '', url: model.source.url || '', f16: !!model.askedF16 },
    tokens: r.tokens, corruptTokens: r.corruptTokens, cleanIds: r.cleanIds, corruptIds: r.corruptIds, L: r.L, NH: r.NH, NKV: r.NKV || r.NH, T: r.T,
    mClean: r.mClean, mCorrupt: r.mCorrupt, unitsWarning: r.unitsWarning, warnings: r.warnings, pred: r.pred, predCorrupt: r.predCorrupt,
    est: {}, ap: null, apPos: null, attention: null,
  };
}
const currentKey = () => (loaded ? keyOf(inputs(), loaded) : '');
const isStale = () => !!store && store.key !== currentKey();

function pearson(a, b) {
  const n = a.length;
  if (!n || n !== b.length) return NaN;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { const x = a[i] - ma, y = b[i] - mb; sab += x * y; saa += x * x; sbb += y * y; }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}
// r of a method's result with AP per node type
function rOf(res) {
  const r = {};
  if (!store || !store.ap || !res) return r;
  for (const n of ['resid', 'attn', 'mlp', 'head']) r[n] = pearson(res.est[n], store.ap[n]);
  if (store.apPos) r.headPos = pearson(res.est.headPos, store.apPos);
  return r;
}
const shown = () => (store ? store.est[state.method] || null : null);

async function run({ user = true } = {}) {
  if (phase !== 'idle' || !loaded) return;
  readInputs();
  if (circuits.isCircuitView(state.view)) { if (user) say('link', ''); return circuits.run(state.view); }
  const query = inputs(), key = keyOf(query, loaded), same = store && store.key === key;
  const ap = state.ap && !(same && store.ap);
  const apPos = state.ap && state.view === 'positions' && !(same && store.apPos);
  if (user) say('link', '');
  say('run', '');
  const me = begin('running');
  const label = `${METHOD_TITLE[state.method]}${ap ? ' + activation patching' : ''}`;
  try {
    const r = await worker.request('run', { query: { ...query, method: state.method, steps: state.steps, ap, apPos, threads: threadsWanted() } }, (d, t) => progress(me, d, t, label));
    if (!same) store = newStore(key, query, loaded, r);
    store.est[state.method] = { est: r.est, steps: r.steps, seconds: r.seconds, threads: r.threads, tokenRelevance: r.tokenRelevance, method: state.method };
    if (r.ap) Object.assign(store, { ap: r.ap, apSeconds: r.apSeconds, apThreads: r.threads });
    if (r.apPos) store.apPos = r.apPos;
    say('run', '');
    render();
    saveState();
  } catch (e) {
    if (!cancelled(e)) say('run', e.message, 'error');
  } finally {
    end(me);
    renderStale();
    lazyParts();
  }
}

// the parts of the store the current view computes on demand, once nothing else runs
function lazyParts() {
  circuits.lazy(state.view);
  if (phase !== 'idle' || !store || !shown()) return;
  if (state.view === 'attention' && !store.attention) ensureAttention();
  if (state.view === 'positions' && state.ap && !store.apPos) ensureApPos();
}

async function cancel() {
  if (phase !== 'loading' && phase !== 'running') return;
  const wasLoading = phase === 'loading';
  ++op; // the cancelled operation no longer owns the phase
  worker.restart();
  const prev = loaded;
  loaded = null; // the worker and its model are gone
  checked = null;
  say('load', '');
  say('run', wasLoading ? 'loading cancelled' : 'cancelled', 'info');
  if (prev) {
    say('load', `reloading ${prev.label} after the cancel ...`);
    await loadModel(prev.source, prev.askedF16);
    refreshCheck();
  } else {
    setPhase('idle');
  }
}

// lazily computed parts of the store: AP per (head, position), the attention patterns
async function ensureApPos() {
  if (!store || store.apPos || !state.ap || phase !== 'idle' || isStale()) return;
  const me = begin('running');
  try {
    store.apPos = await worker.request('apPositions', { query: { ...store.query, threads: threadsWanted() } }, (d, t) => progress(me, d, t, 'activation patching per head and position'));
    render();
  } catch (e) {
    if (!cancelled(e)) say('run', e.message, 'error');
  } finally { end(me); }
}
async function ensureAttention() {
  if (!store || store.attention || phase !== 'idle') return;
  const me = begin('running');
  try {
    const s = store;
    const r = await worker.request('attention', { clean: s.cleanIds, corrupt: s.corruptIds }, (d, t) => progress(me, d, t, 'attention patterns'));
    s.attention = { ...r, L: s.L, NH: s.NH, NKV: s.NKV, T: s.T, tokens: s.tokens, corruptTokens: s.corruptTokens };
    render();
  } catch (e) {
    if (!cancelled(e)) say('run', e.message, 'error');
  } finally { end(me); }
}

// ---------------------------------------------------------------- views
function warningsOf(res) { return store ? runWarnings(store) : []; } // the core's warnings of the run (guard.js)

// the caption of a figure request (relp.h FIGURES: struct relp_figure_caption)
function captionOf(res, { relevance = null, withR = true } = {}) {
  const r = rOf(res), ws = warningsOf(res).filter((w) => !relevance || w.kind === 'predict' || w.kind === 'space');
  return {
    // token relevance is one backward pass with the method's rules (gradient x input for AtP and IG)
    model: store.model, method: relevance ? res.tokenRelevance.rules : res.method,
    steps: !relevance && (res.method === 'ig' || res.method === 'ig-input') ? res.steps : 0,
    clean: store.tokens, corrupt: relevance ? null : store.corruptTokens, answer: store.query.answer, wrong: store.query.wrong,
    metric_clean: store.mClean, metric_corrupt: store.mCorrupt, n_prompts: 1, p_answer: store.pred.pAnswer, rank: store.pred.rank,
    r: !relevance && withR && store.ap ? { resid: r.resid, attn: r.attn, mlp: r.mlp, heads: r.head } : {},
    relevance, warnings: ws.map((w) => w.text),
  };
}

// The request (relp.h FIGURES) of the current view and its SVG, or a hint or HTML (the table) to show instead.
function figureFor(view) {
  if (circuits.isCircuitView(view)) return circuits.figureFor(view);
  const f = requestFor(view);
  return f.request ? { ...f, svg: figures.draw(f.request).svg } : f;
}
function requestFor(view) {
  const res = shown();
  if (!res) return { hint: `<p class='hint'>${store ? `${METHOD_TITLE[state.method]} has not been run on these prompts yet: press Run. ` +
    `Results of ${Object.keys(store.est).map((m) => METHOD_TITLE[m]).join(', ')} are kept; choose one as the method to see it.` : ''}</p>` };
  const units = unitsOf(store), r = rOf(res);
  const maps = (layout, node, est, ap, rr) => ({ request: { kind: 'maps', layout, n_layer: store.L, n_head: store.NH, n_kv_head: store.NKV,
    tokens: store.tokens, method: res.method, node, est, ap: ap || null, r: rr, units, caption: captionOf(res) } });
  switch (view) {
    case 'heads': return maps('heads', 'head', res.est.head, store.ap && store.ap.head, r.head);
    case 'positions':
      if (state.ap && !store.apPos) ensureApPos();
      return maps('head_positions', 'head', res.est.headPos, store.apPos, r.headPos);
    case 'tokens': {
      const tr = res.tokenRelevance;
      return { request: { kind: 'tokens', tokens: store.tokens, relevance: tr.values, rules: tr.rules,
        caption: captionOf(res, { relevance: { total: tr.total, value: tr.value } }) } };
    }
    case 'scatter': {
      if (!store.ap) return { hint: "<p class='hint'>The scatter plot needs activation patching: tick \"with AP\" and run.</p>" };
      const nodes = ['resid', 'attn', 'mlp', 'head'], of = (o) => Object.fromEntries(nodes.map((n) => [n, o[n]]));
      return { request: { kind: 'scatter', method: res.method, est: of(res.est), ap: of(store.ap), r: of(r), units, caption: captionOf(res) } };
    }
    case 'attention':
      if (!store.attention) { ensureAttention(); return { hint: "<p class='hint'>computing the attention patterns ...</p>" }; }
      return { request: attentionRequest({ layer: Math.min(state.layer, store.L - 1), head: Math.min(state.head, store.NH - 1), row: -1 }, res) };
    case 'table': return { html: tableHTML() };
    default: return maps('positions', state.node, res.est[state.node], store.ap && store.ap[state.node], r[state.node]);
  }
}
const attentionRequest = (focus, res, focusOnly = false) => {
  const a = store.attention;
  return { kind: 'attention', n_layer: a.L, n_head: a.NH, n_kv_head: a.NKV, tokens: a.tokens, corrupt_tokens: a.corruptTokens, clean: a.clean,
    corrupt: a.corrupt, focus, focus_only: focusOnly, caption: focusOnly ? null : captionOf(res, { withR: false }) };
};

// every node of every type, with every method computed so far and AP
function tableRows() {
  const rows = [], { L, NH, T, tokens } = store;
  const methods = METHODS.filter((m) => store.est[m]);
  const add = (node, n, label) => {
    for (let i = 0; i < n; i++) {
      const layer = Math.floor(i / (n / L)), index = i % (n / L);
      const values = {};
      for (const m of methods) values[m] = store.est[m].est[node][i];
      rows.push({ node, layer, index, label: label(index), values, ap: store.ap ? store.ap[node][i] : NaN });
    }
  };
  for (const node of ['resid', 'attn', 'mlp']) add(node, L * T, (t) => `${t} ${showToken(tokens[t])}`);
  add('head', L * NH, (h) => `head ${h}`);
  return { rows, methods };
}
let tableK = 30;
function tableHTML() {
  const { rows, methods } = tableRows();
  const ks = [10, 30, 100, rows.length].filter((k, i, a) => k <= rows.length && a.indexOf(k) === i);
  const cols = [...methods, ...(store.ap ? ['ap'] : [])], n = rows.length, values = new Float32Array(cols.length * n);
  cols.forEach((m, k) => rows.forEach((r, i) => { values[k * n + i] = m === 'ap' ? r.ap : r.values[m]; }));
  const table = figures.draw({ kind: 'table', rows: { node: rows.map((r) => r.node), layer: rows.map((r) => r.layer), index: rows.map((r) => r.index),
    label: rows.map((r) => r.label) }, methods: cols, values, sort: state.sort, k: tableK }).svg;
  return `<div class='table-bar'><label>rows <select id='table-k'>${ks.map((k) => `<option value='${k}'${k === tableK ? ' selected' : ''}>${k === rows.length ? `all ${k}` : k}</option>`).join('')}</select></label> ` +
    `<span class='info'>Every method run on these prompts is a column; switch the method and Run to add one.</span></div>` +
    `<div class='table-wrap'>${table}</div>`;
}

let current = null; // what #view shows: { svg } | { html } | { hint }
function render() {
  for (const b of document.querySelectorAll('[data-view]')) {
    b.classList.toggle('active', b.dataset.view === state.view);
    b.setAttribute('aria-pressed', String(b.dataset.view === state.view));
  }
  $('node').value = state.node;
  $('node').disabled = state.view !== 'maps';
  $('steps').disabled = !(state.method === 'ig' || state.method === 'ig-input');
  $('method-about').textContent = `${METHOD_TITLE[state.method]}: ${METHOD_ABOUT[state.method]}`;
  $('export-csv').hidden = state.view !== 'table';
  for (const id of ['export-png', 'export-svg', 'png-scale', 'embed']) $(id).hidden = state.view === 'table'; // the table exports as CSV
  $('readout').textContent = '';
  cursor = null;
  const out = $('view');
  circuits.renderBar(state.view);
  if (!store && !circuits.isCircuitView(state.view)) { out.innerHTML = ''; current = null; renderInfo(); return; }
  current = figureFor(state.view);
  out.innerHTML = current.svg || current.html || current.hint || '';
  renderInfo();
  renderStale();
  circuits.afterDraw(state.view);
}

function renderInfo() {
  const res = shown();
  const ws = res && !circuits.isCircuitView(state.view) ? warningsOf(res) : [];
  $('science').replaceChildren(...ws.map((w) => { const d = document.createElement('div'); d.textContent = `Warning: ${w.text}.`; return d; }));
  $('science').hidden = !ws.length;
  if (!store || !res || circuits.isCircuitView(state.view)) { $('run-info').textContent = ''; return; }
  const p = store.pred, gap = store.mClean - store.mCorrupt, r = rOf(res);
  const tr = res.tokenRelevance;
  $('run-info').textContent = `${store.model}: p(${q(store.query.answer)}) = ${p.pAnswer.toFixed(3)}, rank ${p.rank} on the clean prompt; ` +
    `logit difference clean ${store.mClean.toFixed(3)}, corrupted ${store.mCorrupt.toFixed(3)}, gap ${gap.toFixed(3)}; ` +
    `${METHOD_TITLE[res.method]} ${res.seconds.toFixed(2)} s on ${store.T} tokens, ${res.threads} thread${res.threads === 1 ? '' : 's'}` +
    (store.apSeconds !== undefined ? `; activation patching ${store.apSeconds.toFixed(2)} s, ${store.apThreads} thread${store.apThreads === 1 ? '' : 's'}` : '') +
    (store.ap ? `; Pearson r with AP: ${['resid', 'attn', 'mlp', 'head'].map((n) => `${n} ${Number.isFinite(r[n]) ? r[n].toFixed(3) : 'n/a'}`).join(', ')}` : '') +
    `; token relevance (${tr.rules}): sum ${tr.total.toFixed(3)} of ${tr.value.toFixed(3)}, conservation gap ${(tr.value - tr.total).toFixed(3)}`;
}

function renderStale() {
  const el = $('stale');
  if (circuits.isCircuitView(state.view)) {
    const stale = circuits.stale(state.view);
    el.hidden = !stale;
    $('view').classList.toggle('stale', stale);
    if (stale) el.textContent = 'Out of date: this figure shows the last run, for other inputs (model, SAEs, data, node set, method or steps). Press Run to update it; Export and Embed use the figure as shown.';
    return;
  }
  const stale = isStale();
  el.hidden = !stale;
  $('view').classList.toggle('stale', stale);
  if (stale) {
    const m = store.model !== (loaded ? loaded.label : '') ? ` (computed with ${store.model})` : '';
    el.textContent = `Out of date: this figure shows the last run${m}, of ${q(store.query.clean)} vs ${q(store.query.corrupt)}, answer ${q(store.query.answer)}, wrong ${q(store.query.wrong)}. ` +
      'The inputs have changed since: press Run to update it. Export and Embed use the figure as shown.';
  }
}

// ---------------------------------------------------------------- hover readout and keyboard
let cursor = null; // { r, c } over the first panel's cells
function describe(el) {
  const d = el.dataset;
  const res = shown();
  if (el.matches('.pt')) return `${d.kind} node ${d.i}: AP ${fmt(+d.ap)}, ${METHOD_TITLE[state.method]} ${fmt(+d.v)}`;
  if (el.matches('g.mini')) return `layer ${d.layer} head ${d.head}: shown large below`;
  if (el.matches('td.v')) return `${fmt(+d.v)}`;
  if (!el.matches('.cell')) return '';
  const r = +d.r, c = +d.c, v = +d.v;
  const tok = (i) => `${i} ${q(store.tokens[i])}`;
  switch (d.kind) {
    case 'token': return `position ${tok(c)}: relevance ${fmt(v)}`;
    case 'focus-clean': case 'focus-corrupt':
      return `${d.kind === 'focus-clean' ? 'clean' : 'corrupted'}: query ${tok(r)} attends to key ${tok(c)} with weight ${fmt(v)}`;
    default: {
      if (!res) return fmt(v);
      const view = state.view, other = (kind) => { const o = $('view').querySelector(`.cell[data-kind='${kind}'][data-r='${r}'][data-c='${c}']`); return o ? +o.dataset.v : NaN; };
      const where = view === 'heads' ? `layer ${r} head ${c}` : view === 'positions' ? `layer ${Math.floor(r / store.NH)} head ${r % store.NH}, position ${tok(c)}` : `layer ${r}, position ${tok(c)}`;
      const est = d.kind === 'est' ? v : other('est'), ap = d.kind === 'ap' ? v : other('ap');
      return `${where}: ${METHOD_TITLE[state.method]} ${fmt(est)}${Number.isFinite(ap) ? `, AP ${fmt(ap)}` : ''}`;
    }
  }
}
function onViewPointer(ev) {
  const c = circuits.isCircuitView(state.view) && ev.target.closest && ev.target.closest('g.node, path.edge');
  if (c && circuits.onPointer(c)) return;
  const el = ev.target.closest && ev.target.closest('.cell, .pt, g.mini, td.v');
  if (!el) return;
  $('readout').textContent = describe(el);
  if (el.matches('g.mini') && state.view === 'attention') focusHead(+el.dataset.layer, +el.dataset.head, -1);
  if (el.matches('.cell') && /^focus/.test(el.dataset.kind)) focusHead(state.layer, state.head, +el.dataset.r);
}
function focusHead(layer, head, row) {
  if (!store || !store.attention) return;
  const changed = layer !== state.layer || head !== state.head;
  state.layer = layer; state.head = head;
  const g = $('view').querySelector('g.focus');
  if (!g) return;
  g.innerHTML = figures.draw(attentionRequest({ layer, head, row }, null, true)).svg;
  for (const m of $('view').querySelectorAll('g.mini > rect:first-of-type')) {
    const on = +m.parentNode.dataset.layer === layer && +m.parentNode.dataset.head === head;
    m.setAttribute('stroke', on ? '#111111' : '#cccccc');
    m.setAttribute('stroke-width', on ? '2' : '0.5');
  }
  if (changed) saveState();
}
function onViewClick(ev) {
  const n = circuits.isCircuitView(state.view) && ev.target.closest && ev.target.closest('g.node, path.edge');
  if (n) { circuits.onClick(n); return; }
  const b = ev.target.closest && ev.target.closest('button[data-sort]');
  if (b) { setView({ sort: b.dataset.sort }); return; }
  const c = ev.target.closest && ev.target.closest('.cell');
  if (c && state.view === 'heads') setView({ view: 'attention', layer: +c.dataset.r, head: +c.dataset.c });
}
function onViewKey(ev) {
  if (state.view === 'attention' && store && store.attention) {
    const d = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[ev.key];
    if (!d) return;
    ev.preventDefault();
    const l = Math.max(0, Math.min(store.L - 1, state.layer + d[0])), h = Math.max(0, Math.min(store.NH - 1, state.head + d[1]));
    focusHead(l, h, -1);
    $('readout').textContent = `layer ${l} head ${h}: shown large below`;
    return;
  }
  const cells = [...$('view').querySelectorAll('.cell')];
  if (!cells.length) return;
  const kind = cells[0].dataset.kind;
  const rows = Math.max(...cells.filter((c) => c.dataset.kind === kind).map((c) => +c.dataset.r)) + 1;
  const cols = Math.max(...cells.filter((c) => c.dataset.kind === kind).map((c) => +c.dataset.c)) + 1;
  const d = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[ev.key];
  if (d) {
    ev.preventDefault();
    cursor = cursor ? { r: Math.max(0, Math.min(rows - 1, cursor.r + d[0])), c: Math.max(0, Math.min(cols - 1, cursor.c + d[1])) } : { r: 0, c: 0 };
  } else if (ev.key === 'Enter' && cursor && state.view === 'heads') {
    setView({ view: 'attention', layer: cursor.r, head: cursor.c });
    return;
  } else {
    return;
  }
  for (const c of $('view').querySelectorAll('.cursor')) c.classList.remove('cursor');
  const el = $('view').querySelector(`.cell[data-kind='${kind}'][data-r='${cursor.r}'][data-c='${cursor.c}']`);
  if (el) { el.classList.add('cursor'); $('readout').textContent = describe(el); }
}

function setView(patch) {
  Object.assign(state, patch);
  render();
  saveState();
  circuits.lazy(state.view);
}

// ---------------------------------------------------------------- export
function currentSVG() { return $('view').querySelector('svg'); }
function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
function fileStem() { return `relp-${state.view === 'maps' ? state.node : state.view}-${state.method}`; }
export function svgString() { return current && current.svg ? current.svg : ''; }

// PNG at `scale` times the SVG's size: the figure shown, rasterised by the same C code as the CLI's --png
export async function pngBlob(scale = Number($('png-scale').value) || 2) {
  if (!current || !current.request) throw new Error('nothing to export yet: run a method first');
  return new Blob([figures.png(current.request, scale)], { type: 'image/png' });
}
function csvString() {
  const { rows, methods } = tableRows();
  const cols = [...methods, ...(store.ap ? ['ap'] : [])];
  const cell = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [['node', 'layer', 'position_or_head', 'label', ...cols].join(','),
    ...rows.map((r) => [r.node, r.layer, r.index, cell(r.label), ...cols.map((m) => (m === 'ap' ? r.ap : r.values[m]))].join(','))].join('\n') + '\n';
}

// ---------------------------------------------------------------- state and embeds
function saveState() {
  if (embed()) return;
  history.replaceState(null, '', `#${encodeState(state)}`);
}

// the state of the figure shown: the prompts and model it was computed with, not the inputs typed since
const sourceLink = (m) => (!m || m.source.kind === 'files' ? null : { model: m.source.kind === 'bundled' ? m.source.name : '', url: m.source.url || '', f16: !!m.askedF16 });
export function shownState() {
  if (circuits.isCircuitView(state.view)) {
    const c = circuits.shownStateOf(state.view), src = sourceLink(loaded);
    return c && src ? { ...state, ...src, ...c, embed: true } : null;
  }
  if (!store || !store.source) return null;
  const res = shown();
  return { ...state, ...store.source, ...store.query, steps: res ? res.steps : state.steps, ap: !!store.ap, embed: true };
}

export function resultsJSON() {
  if (circuits.isCircuitView(state.view)) {
    const c = circuits.resultsOf(state.view), s = shownState();
    return c ? { relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: loaded ? loaded.label : '', ...c } : null;
  }
  const res = shown();
  if (!res) return null;
  const s = shownState();
  const pick = (o, keys) => Object.fromEntries(keys.filter((k) => o && o[k]).map((k) => [k, Array.from(o[k])]));
  return {
    relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: store.model, view: state.view, node: state.node,
    method: res.method, steps: res.steps, units: unitsOf(store), clean: store.query.clean, corrupt: store.query.corrupt,
    answer: store.query.answer, wrong: store.query.wrong, tokens: store.tokens, corruptTokens: store.corruptTokens, L: store.L, NH: store.NH, NKV: store.NKV,
    metric: { clean: store.mClean, corrupt: store.mCorrupt, gap: store.mClean - store.mCorrupt },
    prediction: { pAnswer: store.pred.pAnswer, rank: store.pred.rank, top: store.pred.top.map((t) => ({ piece: t.piece, prob: t.prob })) },
    pearsonR: rOf(res), warnings: warningsOf(res).map((w) => w.text),
    scores: { [res.method]: pick(res.est, ['resid', 'attn', 'mlp', 'head', 'headPos']), ...(store.ap ? { ap: pick({ ...store.ap, headPos: store.apPos }, ['resid', 'attn', 'mlp', 'head', 'headPos']) } : {}) },
    tokenRelevance: { rules: res.tokenRelevance.rules, values: Array.from(res.tokenRelevance.values), sum: res.tokenRelevance.total, metric: res.tokenRelevance.value },
  };
}

const isLoopback = (u) => { try { return /^(127\.|localhost$|\[::1\]$|0\.0\.0\.0$)/.test(new URL(u).hostname); } catch { return true; } };
function pageBase() { return new URL('.', location.href).href; }

// the three snippets, for the picture shown, pointing at `base` (the published folder)
export function embedSnippets(base = ($('embed-base') && $('embed-base').value) || pageBase()) {
  const s = shownState();
  if (!base.endsWith('/')) base += '/';
  const svgEl = currentSVG(), svg = svgString();
  const W = svgEl ? Number(svgEl.getAttribute('width')) : 720, H = svgEl ? Number(svgEl.getAttribute('height')) : 480;
  const frag = s ? encodeState(s) : '';
  const title = `relp: ${circuits.isCircuitView(state.view) ? circuits.title(state.view) : METHOD_TITLE[state.method]} on ${store ? store.model : loaded ? loaded.label : ''}`;
  const json = JSON.stringify(resultsJSON()).replace(/</g, '\\u003c');
  const responsive = svg.replace(/^<svg /, `<svg style='width:100%;height:auto;display:block' `);
  return {
    iframe: s ? `<iframe src="${base}index.html#${frag}" title="${title}" loading="lazy" ` +
      `style="display:block;width:100%;max-width:${W}px;aspect-ratio:${W} / ${H + 56};border:0"></iframe>` : '',
    element: s ? `<script type="module" src="${base}relp-embed.js"></script>\n<relp-view state="${frag.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}" max-width="${W}"></relp-view>` : '',
    static: `<figure class="relp-static" style="margin:1em 0;max-width:${W}px">\n${responsive}\n` +
      `<script type="application/json" class="relp-results">${json}</script>\n</figure>\n` +
      `<!-- optional, for the hover readout (no engine, no weights): -->\n<script type="module" src="${base}relp-embed.js"></script>`,
    base,
  };
}

function refreshEmbedCode() {
  const base = $('embed-base').value.trim() || pageBase();
  const note = $('embed-host-note');
  note.hidden = !isLoopback(base);
  note.textContent = `${new URL(base, location.href).host} is this machine: only you can open these URLs. Publish the folder and type its URL above; the snippets follow.`;
  const kind = document.querySelector('input[name="embed-kind"]:checked').value;
  const sn = embedSnippets(base);
  $('embed-code').value = sn[kind] || 'A live embed needs a model that readers can download: this one was opened from disk. Use the static embed, or load the model from a URL.';
}

function showEmbed() {
  const cv = circuits.isCircuitView(state.view);
  if ((!cv && (!store || !shown())) || !svgString()) { say('run', 'nothing to embed yet: run a method and show a figure first', 'warn'); return; }
  $('embed-what').textContent = cv ? `The figure shown: the ${circuits.title(state.view)} on ${loaded ? loaded.label : ''}.` + (circuits.stale(state.view) ? ' The inputs have changed since it was computed; the embed shows the figure, not the new inputs.' : '')
    : `The figure shown: ${METHOD_TITLE[state.method]} on ${store.model}, ${q(store.query.clean)}.` +
    (isStale() ? ' The inputs have changed since it was computed; the embed shows the figure, not the new inputs.' : '');
  if (!$('embed-base').value) $('embed-base').value = pageBase();
  refreshEmbedCode();
  $('embed-dialog').showModal();
}

async function copy() {
  const t = $('embed-code').value;
  try { await navigator.clipboard.writeText(t); say('copy', 'copied to the clipboard'); setTimeout(() => say('copy', ''), 3000); } catch { $('embed-code').select(); document.execCommand('copy'); }
}

// ---------------------------------------------------------------- start
function syncControls() {
  const s = state;
  $('clean').value = s.clean;
  $('corrupt').value = s.corrupt;
  $('answer').value = s.answer;
  $('wrong').value = s.wrong;
  $('method').value = s.method;
  $('steps').value = s.steps;
  $('with-ap').checked = s.ap;
  $('f16').checked = s.f16;
  renderThreads();
  $('bundled').value = s.url ? '' : s.model;
  $('url').value = s.url;
}

async function readManifest() {
  try {
    const r = await fetch(new URL('models/models.json', location.href));
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    setManifest(await r.json());
  } catch (e) {
    setManifest(null);
    say('manifest', `the list of bundled models (models/models.json) could not be read (${e.message}); load a model from a URL or from disk`, 'error');
  }
  $('bundled').replaceChildren(...MANIFEST.models.map((m) => {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = m.label || m.name;
    return o;
  }), Object.assign(document.createElement('option'), { value: '', textContent: '- from a URL or disk -' }));
}

// an embed reports its height, so that <relp-view> can fit its iframe to it
function reportSize() {
  if (!embed() || window.parent === window) return;
  const h = Math.ceil(document.documentElement.getBoundingClientRect().height);
  window.parent.postMessage({ relp: 'size', height: h, width: currentSVG() ? Number(currentSVG().getAttribute('width')) : 0 }, '*');
}

async function start() {
  await readManifest();
  figures = await figuresReady;
  const { state: s, problems } = parseState(location.hash);
  state = s;
  syncControls();
  document.body.classList.toggle('embed', s.embed);
  document.body.classList.toggle('fit-width', new URLSearchParams(location.search).has('fit')); // <relp-view> sizes the iframe to the content
  if (embed()) {
    $('embed-link').href = new URL(`index.html#${encodeState({ ...s, embed: false })}`, location.href).href;
    new ResizeObserver(reportSize).observe(document.body);
  }
  render();
  if (problems.length) say('link', `This link's state is damaged, so defaults are used where it was: ${problems.join('; ')}.`, 'warn');
  let ok = state.url || state.model ? await loadModel(sourceOf(state), state.f16) : false;
  if (!ok && state.url && !embed() && MANIFEST.default) { // a link to a model that cannot be loaded: the bundled one, with the reason shown
    const why = messages.get('load');
    state.url = '';
    state.model = MANIFEST.default;
    syncControls();
    ok = await loadModel(sourceOf(state), false);
    if (why) say('load', `${why.text} - showing the bundled ${MANIFEST.default} instead`, 'error');
  }
  if (ok) {
    const c = await refreshCheck();
    if (c && (!c.problems.length || (circuits.isCircuitView(state.view) && state.data === 'ioi'))) await run({ user: false });
    else if (c && embed()) say('run', `This embed cannot be drawn with ${loaded.label}: ${c.problems.join('; ')}.`, 'error');
  } else if (embed() && !messages.has('load')) {
    say('load', 'This embed names no model that could be loaded.', 'error');
  }
  saveState();
  reportSize();
  document.body.dataset.ready = '1'; // tests wait for this
}

// The method menu, from the core's tables: each method by its title, and under the menu what the
// chosen one computes: a RelP preset's rules (the core's words: relp_rules_describe), else the kind
// of method. The menu stays narrow enough for the panel; the line wraps.
const METHOD_ABOUT = (() => {
  const preset = Object.fromEntries(NAMES.presets.map((p) => [p.name, p]));
  const kind = ['', 'gradient', 'integrated gradients per layer', 'integrated gradients along the input path']; // enum relp_method
  return Object.fromEntries(METHODS.map((name) => {
    const m = NAMES.methods.find((x) => x.name === name);
    return [name, preset[m.rules] && m.rules !== 'grad' ? preset[m.rules].describe : kind[m.method]];
  }));
})();
function methodOptions() {
  $('method').replaceChildren(...METHODS.map((name) => {
    const o = document.createElement('option');
    o.value = name;
    o.textContent = METHOD_TITLE[name];
    o.title = METHOD_ABOUT[name];
    return o;
  }));
}

function wire() {
  methodOptions();
  circuits.init({ worker, state: () => state, patchState: (p) => Object.assign(state, p), loaded: () => loaded, phase: () => phase, checked: () => checked,
    manifest: () => MANIFEST, figures: () => figures, threads: threadsWanted, embed, begin, end, progress, say, render, saveState, download });
  for (const id of ['clean', 'corrupt', 'answer', 'wrong']) $(id).addEventListener('input', onInput);
  $('run').onclick = () => run();
  $('cancel').onclick = cancel;
  $('method').onchange = () => { readInputs(); say('run', ''); render(); saveState(); circuits.lazy(state.view); };
  $('steps').onchange = () => { readInputs(); saveState(); render(); };
  $('with-ap').onchange = () => { readInputs(); saveState(); };
  $('example-ioi').onclick = () => useExample('ioi');
  $('example-induction').onclick = () => useExample('induction');
  $('suggest').onclick = suggestAnswers;
  for (const b of document.querySelectorAll('[data-view]')) b.onclick = () => setView({ view: b.dataset.view });
  $('node').onchange = () => setView({ node: $('node').value });
  $('view').addEventListener('pointerover', onViewPointer);
  $('view').addEventListener('click', onViewClick);
  $('view').addEventListener('keydown', onViewKey);
  $('view').addEventListener('change', (ev) => { if (ev.target.id === 'table-k') { tableK = Number(ev.target.value); render(); } });
  $('export-svg').onclick = () => { const s = svgString(); if (s) download(new Blob([s], { type: 'image/svg+xml' }), `${fileStem()}.svg`); else say('run', 'nothing to export yet: run a method first', 'warn'); };
  $('export-png').onclick = async () => { try { const sc = Number($('png-scale').value); download(await pngBlob(sc), `${fileStem()}${sc === 1 ? '' : `@${sc}x`}.png`); } catch (e) { say('run', e.message, 'error'); } };
  $('export-csv').onclick = () => { if (store) download(new Blob([csvString()], { type: 'text/csv' }), `${fileStem()}.csv`); };
  $('embed').onclick = showEmbed;
  $('embed-base').addEventListener('input', refreshEmbedCode);
  for (const r of document.querySelectorAll('input[name="embed-kind"]')) r.onchange = refreshEmbedCode;
  $('copy-embed').onclick = copy;
  $('download-json').onclick = () => download(new Blob([JSON.stringify(resultsJSON(), null, 1)], { type: 'application/json' }), `${fileStem()}.json`);
  $('download-svg').onclick = () => download(new Blob([svgString()], { type: 'image/svg+xml' }), `${fileStem()}.svg`);
  $('close-embed').onclick = () => $('embed-dialog').close();
  const reload = async (source, f16) => {
    if (phase !== 'idle') { say('load', 'wait for the current run or cancel it first', 'warn'); return false; }
    const ok = await loadModel(source, f16);
    if (ok) { checked = null; refreshCheck(); renderStale(); }
    return ok;
  };
  $('bundled').onchange = async () => {
    const name = $('bundled').value;
    if (!name) return;
    if (await reload({ kind: 'bundled', name, label: name }, $('f16').checked)) { Object.assign(state, { model: name, url: '', f16: $('f16').checked }); saveState(); }
  };
  $('threads').onchange = () => { state.threads = Number($('threads').value); saveState(); }; // used from the next run
  $('f16').onchange = async () => { // takes effect at once: the model is loaded again with the new setting
    if (!loaded) return;
    const f16 = $('f16').checked;
    say('load', `reloading ${loaded.label} with ${f16 ? 'f16' : 'f32'} weights ...`);
    if (await reload(loaded.source, f16)) { state.f16 = f16; saveState(); } else $('f16').checked = !f16;
  };
  $('load-url').onclick = async () => {
    const url = $('url').value.trim();
    if (!url) { say('load', 'type a checkpoint URL first, e.g. https://huggingface.co/gpt2/resolve/main/', 'warn'); return; }
    if (await reload({ kind: 'url', url, label: url }, $('f16').checked)) { Object.assign(state, { url, f16: $('f16').checked }); $('bundled').value = ''; saveState(); }
  };
  const fromDisk = async (input) => {
    const files = [...input.files];
    input.value = '';
    if (!files.length) return;
    const label = files[0].webkitRelativePath ? files[0].webkitRelativePath.split('/')[0] : files.map((f) => f.name).join(', ');
    if (await reload({ kind: 'files', files, label }, $('f16').checked)) $('bundled').value = '';
  };
  $('files').onchange = () => fromDisk($('files'));
  $('folder').onchange = () => fromDisk($('folder'));
  window.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && phase !== 'idle' && phase !== 'starting') cancel(); });
}

// for tests and for people poking at the page from the console
window.relp = {
  get state() { return state; }, get store() { return store; }, get model() { return loaded; }, get phase() { return phase; },
  get checked() { return checked; }, get stale() { return isStale(); },
  get result() { const r = shown(); return r && store ? { ...store, ...r, r: rOf(r) } : null; },
  svgString, pngBlob, embedSnippets, shownState, resultsJSON, run, messageText, BUNDLED, circuits: circuits.debug,
};
wire();
start();
