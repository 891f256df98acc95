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
import { parseState, encodeState, setManifest, examplesOf, MANIFEST, BUNDLED, DEFAULT_STATE, METHODS, METRICS, METRIC_TITLE } from './state.js';
import { NAMES, METHOD_TITLE, MIN_GAP } from './constants.mjs';
import { runWarnings, unitsOf } from './guard.js';
import * as data from './dataset.js'; // data set mode: the demo set, Wang et al.'s distribution, JSONL pairs
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
      if (m.type === 'partial') { if (p.onPartial) p.onPartial(m.result); return; }
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.result); else p.reject(new Error(m.message));
    };
    this.w.onerror = (ev) => {
      ev.preventDefault();
      for (const p of this.pending.values()) p.reject(new Error(`the worker failed: ${ev.message || 'out of memory?'}`));
      this.pending.clear();
    };
  }
  // onPartial(result): what a long request has so far (the estimate before AP, AP as it fills in, a data set's batches)
  request(type, payload = {}, onProgress = null, onPartial = null) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress, onPartial });
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
  $('run').disabled = p !== 'idle' || !loaded || !!runBlocker();
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
  eta = { me, t0: performance.now(), f0: -1 };
  return me;
}
function end(me) { if (me === op) setPhase('idle'); }
// the time left, from the rate so far (after a second, and 2% of the work)
let eta = { me: 0, t0: 0, f0: -1 };
const secondsText = (s) => (s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
function progress(me, done, total, what) {
  if (me !== op) return;
  const bar = $('progress');
  bar.hidden = false;
  bar.max = total || 1;
  bar.value = done;
  const f = total > 0 ? done / total : 0, now = performance.now();
  if (eta.me !== me) eta = { me, t0: now, f0: -1 };
  if (eta.f0 < 0 && f > 0) eta = { me, t0: now, f0: f }; // measured from the first report, after any warm-up
  const el = (now - eta.t0) / 1000, df = f - eta.f0;
  const left = eta.f0 >= 0 && el > 1 && df > 0.02 ? (el * (1 - f)) / df : NaN;
  $('progress-label').textContent = `${what ? what + ': ' : ''}${total > 1 ? Math.round(100 * f) + '%' : ''}` +
    (Number.isFinite(left) && f < 1 ? `, about ${secondsText(left)} left` : '');
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
      `(${r.f16 ? (f16 ? 'f16' : 'f16: f32 would not fit well in the tab') : 'f32'}), ${r.kernels}, ${threadsText(r)}` +
      (r.f16 ? '. f16 weights take half the memory but run RelP and AP about 2x slower than f32 (each weight is converted as it is read)' : '');
    renderExamples();
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
// IG's steps as typed: a whole number from 1 to 1000, else what is wrong with it (the field keeps what was typed)
const IG = (m) => m === 'ig' || m === 'ig-input';
function stepsProblem() {
  const v = $('steps').value.trim();
  if (!IG($('method').value)) return '';
  return /^\d+$/.test(v) && +v >= 1 && +v <= 1000 ? '' : `IG steps must be a whole number from 1 to 1000, not ${JSON.stringify(v)}`;
}
// why Run cannot run now (the inputs as typed), or ''
function runBlocker() {
  if (!loaded) return 'no model is loaded';
  const sp = stepsProblem();
  if (sp) return sp;
  if (state.set !== 'pair') return data.blocker(state, dataInput());
  if (circuits.isCircuitView(state.view) && state.data === 'ioi') return '';
  if (checked && JSON.stringify(checked.query) === JSON.stringify(inputs()) && checked.metric === state.metric && checked.problems.length) return checked.problems.join('; ');
  return '';
}
function readInputs() {
  Object.assign(state, inputs());
  state.method = $('method').value;
  if (!stepsProblem()) state.steps = Number($('steps').value.trim()); // an invalid count is not taken (it is said, and Run waits)
  state.ap = $('with-ap').checked;
  state.metric = $('metric').value;
  state.set = $('set').value;
  const n = Math.round(Number($('ds-n').value)), seed = Math.round(Number($('ds-seed').value));
  if (n >= 1 && n <= 4096) state.n = n;
  if (seed >= 0 && seed <= 999999) state.seed = seed;
  const ms = [...document.querySelectorAll('#ds-methods input:checked')].map((e) => e.value);
  if (ms.length) state.methods = ms;
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
  const metric = state.metric;
  try {
    c = await worker.request('check', { query: { ...q0, metric } });
  } catch (e) {
    if (!cancelled(e) && seq === checkSeq) { $('token-warning').textContent = e.message; $('token-warning').hidden = false; }
    return null;
  }
  if (seq !== checkSeq) return null; // the inputs changed meanwhile: a newer check follows
  checked = { ...c, query: q0, metric };
  if (c.forwardSeconds) forwardSeconds = c.forwardSeconds;
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
  setPhase(phase); // Run: enabled only for inputs that can run
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
  renderSteps();
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
const examplesFor = (kind) => examplesOf(loaded && loaded.source.kind === 'bundled' ? loaded.source.name : MANIFEST.default).filter((e) => e.kind === kind);
// each button's title says how many examples it has: one is used again, several are taken in turn
function renderExamples() {
  for (const kind of ['ioi', 'induction']) {
    const all = examplesFor(kind), b = $(`example-${kind}`), name = kind === 'ioi' ? 'IOI' : kind;
    b.disabled = !all.length;
    b.title = all.length > 1 ? `the model's ${name} examples, ${all.length} in the manifest: each click takes the next (${exampleTurn[kind] % all.length + 1} of ${all.length} next)`
      : all.length ? `the model's ${name} example (the manifest has one)` : `the manifest has no ${name} example for this model`;
  }
}
function useExample(kind) {
  const all = examplesFor(kind);
  if (!all.length) { say('run', `the models' manifest lists no ${kind} example for this model`, 'warn'); return; }
  const e = all[exampleTurn[kind]++ % all.length];
  renderExamples();
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
const keyOf = (query, model, metric = state.metric) => JSON.stringify([model.label, model.f16, query.clean, query.corrupt, query.answer, query.wrong, metric]);
function newStore(key, query, model, r) {
  return {
    key, query: { ...query }, model: model.label, modelInfo: model.info,
    // the model as a link names it (null: opened from disk, not embeddable)
    source: model.source.kind === 'files' ? null : { model: model.source.kind === 'bundled' ? model.source.name : '', url: model.source.url || '', f16: !!model.askedF16 },
    tokens: r.tokens, corruptTokens: r.corruptTokens, cleanIds: r.cleanIds, corruptIds: r.corruptIds, L: r.L, NH: r.NH, NKV: r.NKV || r.NH, T: r.T,
    mClean: r.mClean, mCorrupt: r.mCorrupt, unitsWarning: r.unitsWarning, warnings: r.warnings, pred: r.pred, predCorrupt: r.predCorrupt,
    metric: r.metric || 'logit_diff', est: {}, ap: null, apPos: null, attention: null,
  };
}
const currentKey = () => (loaded ? keyOf(inputs(), loaded) : '');
// out of date: other inputs, or (an IG method shown) other steps than the run's
const isStale = () => !!store && (store.key !== currentKey() || (IG(state.method) && !!shown() && shown().steps !== state.steps && !stepsProblem()));
// The scores as shown: shares of the clean - corrupted gap, or, where the gap is too small (or not positive) to
// normalise by, logit units (the core's shares times the gap: both signs flip with a negative gap, so shares would
// draw the same map as the swapped pair's). factor: what the core's scores are multiplied by.
function unitsNow(st = store) {
  if (!st) return { units: 'share', factor: 1 };
  const gap = st.mClean - st.mCorrupt;
  if (unitsOf(st) === 'metric') return { units: 'metric', factor: 1 }; // the core's own: the gap is zero
  return gap >= MIN_GAP ? { units: 'share', factor: 1 } : { units: 'metric', factor: gap };
}
const inUnits = (a, u = unitsNow()) => (!a || u.factor === 1 ? a : Float32Array.from(a, (v) => v * u.factor));

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

// ---------------------------------------------------------------- what a job costs, asked before it starts
// A job's time from the model's measured forward pass (the live check times it): AP re-runs a patched forward per
// node from the patched layer on, several patches side by side in one pass over the weights (about 0.1 of a pass
// each on GPT-2 small's shape; 0.15 taken), IG a forward and a backward per step and layer; after a run,
// the rate it measured for this model. Jobs over ASK_ABOVE seconds are said first, and the user goes on or not.
let forwardSeconds = 0;
const rates = new Map(); // model label -> { ap, ig: seconds per unit } measured by runs
const rate = (kind, seconds, units) => { if (loaded && units > 0 && seconds > 0) rates.set(loaded.label, { ...rates.get(loaded.label), [kind]: seconds / units }); };
let ASK_ABOVE = 5;
function costOf(kind, units) {
  const r = loaded && rates.get(loaded.label);
  if (r && r[kind]) return units * r[kind];
  return units * forwardSeconds * (kind === 'ap' ? 0.15 : 1);
}
// AP's patched runs: resid, attn and mlp at each layer and position, heads at each layer; positions before the
// first token where the prompts differ patch in the clean run's own values, which the core does not run again
const apUnits = (L, NH, T, t0 = 0) => 3 * L * Math.max(0, T - t0) + L * NH;
const firstDiff = (c) => { if (!c || !c.clean || !c.corrupt) return 0; const i = c.clean.findIndex((t, k) => !c.corrupt[k] || t.id !== c.corrupt[k].id); return i < 0 ? c.clean.length : i; };
let confirmDone = null;
// says what a job will cost and waits for Go on (true) or Not now (false); embeds never ask
function ask(text) {
  if (embed()) return Promise.resolve(true);
  if (confirmDone) confirmDone(false);
  $('confirm-text').textContent = text;
  $('confirm').hidden = false;
  $('confirm-go').focus();
  return new Promise((resolve) => {
    confirmDone = (v) => { confirmDone = null; $('confirm').hidden = true; resolve(v); };
  });
}

async function run({ user = true } = {}) {
  if (phase !== 'idle' || !loaded) return;
  readInputs();
  if (circuits.isCircuitView(state.view)) { if (user) say('link', ''); return circuits.run(state.view); }
  if (state.set !== 'pair') return runDataset({ user });
  const blocked = runBlocker();
  if (blocked) { say('run', `not run: ${blocked}`, 'warn'); return; }
  const query = inputs(), key = keyOf(query, loaded), same = store && store.key === key;
  let ap = state.ap && !(same && store.ap);
  let apPos = state.ap && state.view === 'positions' && !(same && store.apPos);
  if (user) say('link', '');
  say('run', '');
  // the cost first, where it is long: the estimate draws at once, AP takes the time
  const T = checked && checked.clean ? checked.clean.length : 0, L = loaded.info.nLayer, NH = loaded.info.nHead;
  const igUnits = state.method === 'ig' ? 4 * L * state.steps : state.method === 'ig-input' ? state.steps : 0;
  const t0 = firstDiff(checked), runApUnits = (ap ? apUnits(L, NH, T, t0) : 0) + (apPos ? L * NH * Math.max(0, T - t0) : 0);
  const apCost = costOf('ap', runApUnits), igCost = costOf('ig', igUnits);
  if (T && apCost + igCost > ASK_ABOVE) {
    const go = await ask(`${METHOD_TITLE[state.method]}${igCost > 1 ? ` (about ${secondsText(igCost)})` : ''} draws first` +
      (ap || apPos ? `; activation patching${apPos ? ' (also per head and position)' : ''} then fills in layer by layer for about ${secondsText(apCost)}` : '') +
      `, on ${loaded.label} with ${T} tokens. Go on, or Not now${ap || apPos ? ' (the estimate alone)' : ''}?`);
    if (!go && !(ap || apPos)) return;
    if (!go) ap = apPos = false;
  }
  const me = begin('running');
  const label = `${METHOD_TITLE[state.method]}${ap ? ' + activation patching' : ''}`;
  const take = (r) => { // a partial or the final result: the estimate at once, AP as it fills in
    if (me !== op) return;
    if (!store || store.key !== key) store = newStore(key, query, loaded, r);
    store.est[state.method] = { est: r.est, steps: r.steps, seconds: r.seconds, threads: r.threads, tokenRelevance: r.tokenRelevance, method: r.method };
    if (r.ap) store.ap = r.ap;
    if (r.apPos) store.apPos = r.apPos;
    render();
  };
  try {
    const r = await worker.request('run', { query: { ...query, method: state.method, metric: state.metric, steps: state.steps, ap, apPos, threads: threadsWanted() } },
      (d, t, what) => progress(me, d, t, what === 'ap' ? 'activation patching' : label), take);
    take(r);
    if (r.ap) Object.assign(store, { apSeconds: r.apSeconds, apThreads: r.threads });
    rate('ap', r.apSeconds, runApUnits);
    if (igUnits) rate('ig', r.seconds, igUnits);
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
  if (phase !== 'idle' || !store || !shown() || state.set !== 'pair') return;
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
  if (store && store.ap && [...Object.values(store.ap)].some((a) => a.some((v) => Number.isNaN(v)))) store.ap = null; // a partial AP goes
  if (store && store.apPos && store.apPos.some((v) => Number.isNaN(v))) store.apPos = null;
  render();
  if (prev) {
    say('load', `reloading ${prev.label} after the cancel ...`);
    await loadModel(prev.source, prev.askedF16);
    refreshCheck();
  } else {
    setPhase('idle');
  }
}

// lazily computed parts of the store: AP per (head, position) (asked first where it is long), the attention patterns
let apPosDeclined = '';
async function ensureApPos({ user = false } = {}) {
  if (!store || store.apPos || !state.ap || phase !== 'idle' || isStale()) return;
  if (!user && apPosDeclined === store.key) return;
  const s0 = store, t0 = s0.cleanIds.findIndex((id, k) => id !== s0.corruptIds[k]), units = s0.L * s0.NH * (t0 < 0 ? 0 : s0.T - t0);
  const cost = costOf('ap', units);
  if (cost > ASK_ABOVE && !(await ask(`Activation patching per head and position: ${units} patched runs, about ${secondsText(cost)} ` +
    `on ${s0.model}. Go on, or Not now (the estimate alone)?`))) {
    apPosDeclined = s0.key;
    render();
    return;
  }
  if (store !== s0 || phase !== 'idle') return;
  const me = begin('running');
  try {
    const r = await worker.request('apPositions', { query: { ...s0.query, metric: s0.metric, threads: threadsWanted() } },
      (d, t) => progress(me, d, t, 'activation patching per head and position'),
      (p) => { if (me === op && store === s0) { s0.apPos = p.apPos; render(); } });
    s0.apPos = r.apPos;
    rate('ap', r.seconds, units);
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
    clean: store.tokens, corrupt: relevance ? null : store.corruptTokens, answer: store.query.answer,
    wrong: store.metric === 'logit_diff' ? store.query.wrong : null, metric: store.metric,
    metric_clean: store.mClean, metric_corrupt: store.mCorrupt, n_prompts: 1, p_answer: store.pred.pAnswer, rank: store.pred.rank,
    r: !relevance && withR && store.ap ? { resid: r.resid, attn: r.attn, mlp: r.mlp, heads: r.head } : {},
    relevance, warnings: ws.map((w) => w.text),
  };
}

// ---- fitting a figure to the column: the default layout, scaled down while its text stays >= MIN_TEXT px; else
// drawn again for the column's width (relp_figure_style.width: panels stacked, smaller cells) and scaled the same
// way; only what is still too wide then scrolls, with a scrollbar that always shows and a note that says so
const FONT_PX = 11.6, MIN_TEXT = 10, MIN_SCALE = MIN_TEXT / FONT_PX;
function styleOf() { return { font: state.font, caption: state.caption, color_max: state.cmax }; }
function boxWidth() { const v = $('view'); return Math.max(0, Math.floor((v.clientWidth || v.getBoundingClientRect().width || 0) - 2)); }
function boxHeight() { return embed() && !document.body.classList.contains('fit-width') ? Math.max(0, window.innerHeight - 44) : Infinity; }
function drawFitted(request) {
  const box = boxWidth(), st = styleOf();
  let req = { ...request, style: st }, f = figures.draw(req);
  const fits = (g) => box <= 0 || (g.width * MIN_SCALE <= box && g.height * MIN_SCALE <= boxHeight());
  if (!fits(f) && box > 0) {
    const req2 = { ...request, style: { ...st, width: box } }, g = figures.draw(req2);
    if (g.width < f.width || g.height < f.height) { req = req2; f = g; }
  }
  return { request: req, svg: f.svg, width: f.width, height: f.height, caption: f.caption };
}
// the SVG on screen at its scale (called after every draw and when the window changes)
function fitShown() {
  const svg = $('view').querySelector(':scope > svg'), box = boxWidth();
  $('view').classList.remove('scrolls');
  $('scroll-note').hidden = true;
  $('scroller').hidden = true;
  if (!svg || !current || !current.width) return;
  const s = Math.min(1, box > 0 ? box / current.width : 1, boxHeight() / current.height);
  const k = Math.max(MIN_SCALE, s);
  svg.style.width = `${Math.ceil(current.width * k)}px`;
  svg.style.height = 'auto';
  svg.dataset.scale = String(k);
  const wide = Math.ceil(current.width * k) > box + 0.5;
  $('view').classList.toggle('scrolls', wide);
  $('scroll-note').hidden = !wide || embed();
  syncScroller();
}
// a figure that scrolls gets a scrollbar of its own under it, which every browser shows (overlay scrollbars hide)
function syncScroller() {
  const v = $('view'), sc = $('scroller'), most = v.scrollWidth - v.clientWidth;
  sc.hidden = !v.classList.contains('scrolls') || most <= 0;
  sc.max = String(Math.max(0, most));
  sc.value = String(v.scrollLeft);
}
let refitTimer = 0, lastBox = -1;
function onResize() {
  clearTimeout(refitTimer);
  refitTimer = setTimeout(() => { const b = boxWidth(); if (b !== lastBox) { lastBox = b; render(); } else fitShown(); reportSize(); }, 60);
}

// The request (relp.h FIGURES) of the current view and its SVG, or a hint or HTML (the table) to show instead.
function figureFor(view) {
  if (circuits.isCircuitView(view)) {
    const c = circuits.figureFor(view);
    return c.request ? drawFitted(c.request) : c;
  }
  const f = state.set !== 'pair' ? datasetRequest(view) : requestFor(view);
  return f.request ? { ...f, ...drawFitted(f.request) } : f;
}
const notRun = () => `${METHOD_TITLE[state.method]} has not been run on these prompts yet: press Run` +
  (store && Object.keys(store.est).length ? `, or choose ${Object.keys(store.est).map((m) => METHOD_TITLE[m]).join(' or ')} (computed) as the method` : '');
function requestFor(view) {
  const res = shown();
  if (view === 'rtable') return { hint: "<p class='hint'>The r table is of a data set: choose one under Data (the IOI demo set, Wang et al.'s distribution or JSONL pairs) and press Run.</p>" };
  if (!res) return { hint: store ? `<p class='hint'>${notRun()}. Results of ${Object.keys(store.est).map((m) => METHOD_TITLE[m]).join(', ')} are kept.</p>` : '' };
  const u = unitsNow(), units = u.units, r = rOf(res);
  const maps = (layout, node, est, ap, rr) => ({ request: { kind: 'maps', layout, n_layer: store.L, n_head: store.NH, n_kv_head: store.NKV,
    tokens: store.tokens, method: res.method, node, est: inUnits(est, u), ap: inUnits(ap, u) || null, r: rr, units, caption: captionOf(res) } });
  switch (view) {
    case 'heads': return maps('heads', 'head', res.est.head, store.ap && store.ap.head, r.head);
    case 'positions':
      if (state.ap && !store.apPos && apPosDeclined !== store.key) ensureApPos();
      return maps('head_positions', 'head', res.est.headPos, store.apPos, r.headPos);
    case 'tokens': {
      const tr = res.tokenRelevance;
      return { request: { kind: 'tokens', tokens: store.tokens, relevance: tr.values, rules: tr.rules,
        caption: captionOf(res, { relevance: { total: tr.total, value: tr.value } }) } };
    }
    case 'scatter': {
      if (!store.ap) return { hint: "<p class='hint'>The scatter plot needs activation patching: tick \"with AP\" and run.</p>" };
      const nodes = ['resid', 'attn', 'mlp', 'head'], of = (o) => Object.fromEntries(nodes.map((n) => [n, inUnits(o[n], u)]));
      return { request: { kind: 'scatter', method: res.method, est: of(res.est), ap: of(store.ap), r: Object.fromEntries(nodes.map((n) => [n, r[n]])), units, caption: captionOf(res) } };
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

// every node of every type, with every method computed so far and AP (in the maps' units)
function tableRows() {
  const rows = [], { L, NH, T, tokens } = store, u = unitsNow();
  const methods = METHODS.filter((m) => store.est[m]);
  const add = (node, n, label) => {
    for (let i = 0; i < n; i++) {
      const layer = Math.floor(i / (n / L)), index = i % (n / L);
      const values = {};
      for (const m of methods) values[m] = store.est[m].est[node][i] * u.factor;
      rows.push({ node, layer, index, label: label(index), values, ap: store.ap ? store.ap[node][i] * u.factor : NaN });
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
    `<span class='info'>Every method run on these prompts is a column, AP (the ground truth) first; switch the method and Run to add one.</span></div>` +
    `<div class='table-wrap'>${table}</div>`;
}

let current = null; // what #view shows: { svg, request, width, height, caption } | { html } | { hint }
function render() {
  for (const b of document.querySelectorAll('[data-view]')) {
    b.classList.toggle('active', b.dataset.view === state.view);
    b.setAttribute('aria-pressed', String(b.dataset.view === state.view));
  }
  $('node').value = state.node;
  $('node').disabled = state.view !== 'maps';
  $('steps').disabled = !IG(state.method);
  $('method-about').textContent = `${METHOD_TITLE[state.method]}: ${METHOD_ABOUT[state.method]}`;
  const tableView = state.view === 'table', rtable = state.view === 'rtable' && state.set !== 'pair';
  $('export-csv').hidden = !(tableView || rtable);
  for (const id of ['export-png', 'export-svg', 'png-scale', 'embed']) $(id).hidden = tableView; // the node table exports as CSV
  $('readout').textContent = '';
  cursor = null;
  renderSteps();
  renderData();
  const out = $('view');
  circuits.renderBar(state.view);
  lastBox = boxWidth();
  if (!store && !dstore && !circuits.isCircuitView(state.view)) { out.innerHTML = ''; current = null; renderInfo(); renderCaption(); return; }
  current = figureFor(state.view);
  out.innerHTML = current.svg || current.html || current.hint || '';
  fitShown();
  renderInfo();
  renderStale();
  renderCaption();
  circuits.afterDraw(state.view);
}

// the caption as text beside the figure when it is not in it (the figure options' caption off)
function renderCaption() {
  const text = current && current.caption && !state.caption ? current.caption.trim() : '';
  $('caption-box').hidden = !text;
  $('caption-text').textContent = text;
}

// what the view shows needs a word: token relevance's rules and its conservation gap, AP per position not run
function renderNote() {
  const res = shown();
  let text = '';
  if (state.set === 'pair' && res && state.view === 'tokens') {
    const tr = res.tokenRelevance;
    text = tr.rules === 'grad'
      ? `AtP, IG and IG-input share this view: gradient x input of the clean prompt from one backward pass (the gradient's rules; IG's path integral is not taken here). `
      : `${METHOD_TITLE[res.method]}'s rules, one backward pass of the clean prompt. `;
    text += `The relevances sum to ${tr.total.toFixed(3)}, the metric is ${tr.value.toFixed(3)}: the conservation gap ${(tr.value - tr.total).toFixed(3)} is ` +
      'the part of the metric the rules pass to no token: to the biases of the attention and MLP layers and the layer norms, ' +
      (tr.rules === 'grad' ? 'and what the gradient of a non-linear model does not conserve.' : 'which the rules leave with them (conservation is exact only with the biases zeroed).');
  } else if (state.set === 'pair' && state.view === 'positions' && store && state.ap && !store.apPos && apPosDeclined === store.key) {
    text = 'Activation patching per head and position was not run (Not now). ';
  }
  $('view-note').textContent = text;
  $('view-note').hidden = !text;
  if (text && state.view === 'positions') {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'compute it';
    b.onclick = () => ensureApPos({ user: true });
    $('view-note').append(b);
  }
}

function renderInfo() {
  renderNote();
  if (state.set !== 'pair' && !circuits.isCircuitView(state.view)) { renderDatasetInfo(); return; }
  const res = shown();
  const ws = res && !circuits.isCircuitView(state.view) ? warningsOf(res) : [];
  $('science').replaceChildren(...ws.map((w) => { const d = document.createElement('div'); d.textContent = `Warning: ${w.text}.`; return d; }));
  $('science').hidden = !ws.length;
  if (!store || !res || circuits.isCircuitView(state.view)) { $('run-info').textContent = ''; return; }
  const p = store.pred, gap = store.mClean - store.mCorrupt, r = rOf(res), u = unitsNow();
  const tr = res.tokenRelevance, mt = METRIC_TITLE[store.metric] || 'logit difference';
  const apDone = store.ap && !Object.values(store.ap).some((a) => a.some((v) => Number.isNaN(v)));
  $('run-info').textContent = `${store.model}: p(${q(store.query.answer)}) = ${p.pAnswer.toFixed(3)}, rank ${p.rank} on the clean prompt; ` +
    `${mt} clean ${store.mClean.toFixed(3)}, corrupted ${store.mCorrupt.toFixed(3)}, gap ${gap.toFixed(3)}; ` +
    (u.units === 'metric' ? `scores in ${store.metric === 'logprob' ? 'nats' : 'logit units'} (the gap is too small or not positive to normalise by); ` : '') +
    `${METHOD_TITLE[res.method]} ${res.seconds.toFixed(2)} s on ${store.T} tokens, ${res.threads} thread${res.threads === 1 ? '' : 's'}` +
    (store.apSeconds !== undefined ? `; activation patching ${store.apSeconds.toFixed(2)} s, ${store.apThreads} thread${store.apThreads === 1 ? '' : 's'}` : '') +
    (apDone ? `; Pearson r with AP: ${['resid', 'attn', 'mlp', 'head'].map((n) => `${n} ${Number.isFinite(r[n]) ? r[n].toFixed(3) : 'n/a'}`).join(', ')}` : store.ap ? '; activation patching: filling in' : '') +
    `; token relevance (${tr.rules}): sum ${tr.total.toFixed(3)} of ${tr.value.toFixed(3)}, conservation gap ${(tr.value - tr.total).toFixed(3)}`;
}

// ---------------------------------------------------------------- data sets (dataset.js; the worker's 'dataset')
let dstore = null;     // { key, name, prompts, res (the worker's result, partial while it runs), r }
let jsonlName = '';    // the JSONL file's name, for captions
const dataInput = () => ({ jsonl: $('jsonl').value, name: jsonlName });
const datasetKey = () => JSON.stringify([loaded ? loaded.label : '', loaded ? loaded.f16 : false, state.set, state.set === 'wang' ? [state.n, state.seed] : 0,
  state.set === 'jsonl' ? $('jsonl').value : '', state.metric, state.methods, state.methods.some(IG) ? state.steps : 0]);

async function runDataset({ user = true } = {}) {
  const blocked = runBlocker();
  if (blocked) { say('run', `not run: ${blocked}`, 'warn'); return; }
  if (user) say('link', '');
  say('run', '');
  const key = datasetKey(), q0 = { set: state.set, n: state.n, seed: state.seed, jsonlName: jsonlName || 'pasted JSONL' };
  let prompts;
  try {
    prompts = state.set === 'jsonl' ? data.parseJsonl($('jsonl').value).pairs : await worker.request('ioi', { set: state.set, n: state.n, seed: state.seed });
  } catch (e) { if (!cancelled(e)) say('run', e.message, 'error'); return; }
  // its cost, from a prompt's forward pass: AP's patched runs and each method's passes, for every prompt
  const L = loaded.info.nLayer, NH = loaded.info.nHead, T = checked && checked.clean && checked.clean.length ? checked.clean.length : 16;
  const perPrompt = costOf('ap', apUnits(L, NH, T)) + state.methods.reduce((s2, m) => s2 + (m === 'ig' ? costOf('ig', 4 * L * state.steps) : m === 'ig-input' ? costOf('ig', state.steps) : costOf('grad', 3)), 0);
  const cost = perPrompt * prompts.length;
  if (cost > ASK_ABOVE && !(await ask(`${data.dataName(q0, prompts.length)}: ${state.methods.map((m) => METHOD_TITLE[m]).join(', ')} and activation patching ` +
    `on ${prompts.length} prompts, in batches of equal length: about ${secondsText(cost)} on ${loaded.label}. Go on, or Not now?`))) return;
  const me = begin('running');
  const set = (res) => {
    if (me !== op) return;
    dstore = { key, q: q0, name: data.dataName(q0, res.nPrompts), prompts, res, r: data.rTable(res), model: loaded.label, done: false };
    render();
  };
  try {
    const res = await worker.request('dataset', { query: { prompts, methods: state.methods, metric: state.metric, steps: state.steps, threads: threadsWanted() } },
      (d, t, what) => progress(me, d, t, what), set);
    set(res);
    dstore.done = true;
    if (res.skipped.length) say('run', `${res.skipped.length} pair${res.skipped.length === 1 ? '' : 's'} left out: ${res.skipped.slice(0, 3).join('; ')}${res.skipped.length > 3 ? '; ...' : ''}`, 'warn');
    if (!['maps', 'heads', 'rtable'].includes(state.view)) state.view = 'rtable';
    render();
    saveState();
  } catch (e) {
    if (!cancelled(e)) say('run', e.message, 'error');
  } finally {
    end(me);
    renderStale();
  }
}

// units of a batch's maps, as the pair's (unitsNow)
const batchUnits = (bt) => { const gap = bt.mClean - bt.mCorrupt; return gap >= MIN_GAP ? { units: 'share', factor: 1 } : gap === 0 ? { units: 'metric', factor: 1 } : { units: 'metric', factor: gap }; };
function datasetCaption(bt, method, b) {
  const res = dstore.res, p = dstore.prompts[bt.prompts[0]], r = dstore.r[method] || {};
  return { model: dstore.model, method, steps: IG(method) ? res.steps : 0, clean: bt.tokens, corrupt: bt.corruptTokens,
    answer: p.answer, wrong: res.metric === 'logit_diff' ? p.wrong : null, metric: res.metric, metric_clean: bt.mClean, metric_corrupt: bt.mCorrupt,
    n_prompts: bt.n, data: `${dstore.name}, batch ${b + 1} of ${res.nBatches} (${bt.n} prompts of ${bt.T} tokens)${dstore.done ? '' : ', still running'}`,
    r: dstore.done && method !== 'ap' ? { resid: r.resid, attn: r.attn, mlp: r.mlp, heads: r.head } : {}, warnings: (bt.warnings || []).map((w) => w.text) };
}
function datasetRequest(view) {
  // (a run of other data or methods is shown as it is, marked out of date: renderStale)
  if (!dstore) return { hint: "<p class='hint'>Press Run to run the data set: its mean maps (Layer x position, Heads) and its r table show here.</p>" };
  const res = dstore.res;
  if (view === 'rtable') {
    const ms = res.methods, nodes = data.NODE_TYPES;
    return { request: { kind: 'rtable', methods: ms, nodes, r: ms.flatMap((m) => nodes.map((n) => (Number.isFinite(dstore.r[m][n]) ? dstore.r[m][n] : null))),
      seconds: ms.map((m) => res.seconds[m]), steps: ms.some(IG) ? res.steps : 0, model: dstore.model,
      data: `${data.dataName(dstore.q)}${dstore.done ? '' : `, ${res.batches.length} of ${res.nBatches} batches so far`}`, metric: res.metric,
      n_prompts: res.nPrompts, n_batches: res.nBatches, warnings: [...new Set(res.batches.flatMap((b) => (b.warnings || []).map((w) => w.text)))] } };
  }
  if (view !== 'maps' && view !== 'heads')
    return { hint: "<p class='hint'>With a data set the page shows its mean maps (Layer x position, Heads) and its r table; this view is of one prompt pair: choose \"the prompt pair above\" under Data.</p>" };
  const b = Math.min(state.batch, res.batches.length - 1), bt = res.batches[b];
  if (!bt) return { hint: "<p class='hint'>computing the first batch ...</p>" };
  const m = res.methods.includes(state.method) ? state.method : null;
  if (!m) return { hint: `<p class='hint'>${METHOD_TITLE[state.method]} was not among the data set's methods: choose ${res.methods.map((x) => METHOD_TITLE[x]).join(' or ')} as the method, or tick it under Data and Run.</p>` };
  const u = batchUnits(bt), est = bt.scores[m], ap = bt.scores.ap, node = view === 'heads' ? 'head' : state.node;
  return { request: { kind: 'maps', layout: view === 'heads' ? 'heads' : 'positions', n_layer: res.L, n_head: res.NH, n_kv_head: res.NKV, tokens: bt.tokens,
    method: m, node, est: inUnits(est[node], u), ap: ap ? inUnits(ap[node], u) : null, r: ap ? pearson(est[node], ap[node]) : NaN, units: u.units,
    caption: datasetCaption(bt, m, b) } };
}
function renderDatasetInfo() {
  const ws = dstore ? [...new Set(dstore.res.batches.flatMap((b) => (b.warnings || []).map((w) => w.text)))] : [];
  $('science').replaceChildren(...ws.map((w) => { const d = document.createElement('div'); d.textContent = `Warning: ${w}.`; return d; }));
  $('science').hidden = !ws.length;
  if (!dstore) { $('run-info').textContent = ''; return; }
  const res = dstore.res;
  $('run-info').textContent = `${dstore.model}: ${dstore.name}: ${res.nPrompts} prompts in ${res.nBatches} batch${res.nBatches === 1 ? '' : 'es'} of equal length` +
    `${dstore.done ? '' : ` (${res.batches.length} done)`}; ` + [...res.methods, 'ap'].map((m) => `${m === 'ap' ? 'AP' : METHOD_TITLE[m]} ${res.seconds[m].toFixed(2)} s`).join(', ') +
    (res.skipped.length ? `; ${res.skipped.length} pairs left out` : '');
}
// the Data section and the batch bar, from the state
function renderData() {
  const ds = state.set !== 'pair';
  $('set').value = state.set;
  $('ds-wang').hidden = state.set !== 'wang';
  $('ds-jsonl').hidden = state.set !== 'jsonl';
  $('ds-methods-row').hidden = !ds;
  for (const e of document.querySelectorAll('#ds-methods input')) e.checked = state.methods.includes(e.value);
  if (state.set === 'jsonl') {
    const { pairs, problems } = data.parseJsonl($('jsonl').value);
    $('ds-info').textContent = $('jsonl').value.trim() ? `${pairs.length} pair${pairs.length === 1 ? '' : 's'} read${jsonlName ? ` from ${jsonlName}` : ''}` +
      (problems.length ? `; ${problems.length} line${problems.length === 1 ? '' : 's'} not: ${problems.slice(0, 2).join('; ')}` : '') : '';
  } else $('ds-info').textContent = ds ? `Run covers the data set: the ticked methods and AP on every prompt, in batches of equal token length (at most 64), as relp ioi runs them.` : '';
  const bars = ds && dstore && ['maps', 'heads'].includes(state.view) && dstore.res.batches.length > 0;
  $('batch-bar').hidden = !bars;
  if (bars) {
    const bs = dstore.res.batches;
    $('batch').replaceChildren(...bs.map((b, i) => Object.assign(document.createElement('option'), { value: String(i), textContent: `${i + 1} of ${dstore.res.nBatches}: ${b.n} prompts of ${b.T} tokens` })));
    $('batch').value = String(Math.min(state.batch, bs.length - 1));
    $('batch-info').textContent = 'the mean of the batch\'s prompts (the core\'s scores of their mean metric); the first prompt\'s tokens label the columns';
  }
}
// IG's steps field: what is wrong with it, said under it
function renderSteps() {
  const sp = stepsProblem();
  $('steps-problem').textContent = sp ? `${sp}.` : '';
  $('steps-problem').hidden = !sp;
  $('steps').setAttribute('aria-invalid', sp ? 'true' : 'false');
  setPhase(phase);
}

function renderStale() {
  const el = $('stale');
  if (state.set !== 'pair' && !circuits.isCircuitView(state.view)) {
    const stale = !!dstore && dstore.key !== datasetKey();
    el.hidden = !stale;
    $('view').classList.toggle('stale', stale);
    if (stale) el.textContent = `Out of date: this figure shows the last run of ${dstore.name} (methods ${dstore.res.methods.join(', ')}, metric ${dstore.res.metric}). ` +
      'The data or the methods have changed since: press Run to update it. Export and Embed use the figure as shown.';
    return;
  }
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
let cursor = null;    // { kind, r, c }: the keyboard's cell
let hovered = null;   // { kind, r, c }: the cell under the pointer, where the keyboard starts
const shownTokens = () => (current && current.request && current.request.tokens) || (store ? store.tokens : []);
function describe(el) {
  const d = el.dataset;
  const res = shown();
  const toks = shownTokens(), tok = (i) => `${i} ${q(toks[i])}`, method = current && current.request && current.request.method ? current.request.method : state.method;
  if (el.matches('.pt')) { // a scatter point: its node by layer and position (or head), as the maps name it
    const i = +d.i, T = toks.length, NH = store ? store.NH : 1;
    const where = d.kind === 'head' ? `head: layer ${Math.floor(i / NH)} head ${i % NH}` : `${d.kind}: layer ${Math.floor(i / T)}, position ${tok(i % T)}`;
    return `${where}: ${METHOD_TITLE[method] || method} ${fmt(+d.v)}, AP ${fmt(+d.ap)}`;
  }
  if (el.matches('g.mini')) return `layer ${d.layer} head ${d.head}: shown large below (click to keep it)`;
  if (el.matches('td.v')) return `${fmt(+d.v)}`;
  if (!el.matches('.cell')) return '';
  const r = +d.r, c = +d.c, v = +d.v;
  switch (d.kind) {
    case 'token': return `position ${tok(c)}: relevance ${fmt(v)}`;
    case 'r': return `${METHOD_TITLE[d.method] || d.method}, ${d.node}: r = ${Number.isFinite(v) ? v.toFixed(3) : 'n/a'}`;
    case 'focus-clean': case 'focus-corrupt':
      return `${d.kind === 'focus-clean' ? 'clean' : 'corrupted'}: query ${tok(r)} attends to key ${tok(c)} with weight ${fmt(v)}`;
    default: {
      if (!res && state.set === 'pair') return fmt(v);
      const view = state.view, NH = store ? store.NH : dstore ? dstore.res.NH : 1;
      const other = (kind) => { const o = $('view').querySelector(`.cell[data-kind='${kind}'][data-r='${r}'][data-c='${c}']`); return o ? +o.dataset.v : NaN; };
      const where = view === 'heads' ? `layer ${r} head ${c}` : view === 'positions' ? `layer ${Math.floor(r / NH)} head ${r % NH}, position ${tok(c)}` : `layer ${r}, position ${tok(c)}`;
      const est = d.kind === 'est' ? v : other('est'), ap = d.kind === 'ap' ? v : other('ap');
      const apText = Number.isFinite(ap) ? `, AP ${fmt(ap)}` : $('view').querySelector(".cell[data-kind='ap']") ? ', AP not computed yet' : '';
      return `${where}: ${METHOD_TITLE[method] || method} ${fmt(est)}${apText}`;
    }
  }
}
// The attention grid: hovering a head previews it large, once the pointer has moved in the drawn view (a click that
// opened the view leaves the pointer over some head); leaving the grid shows the chosen head again; a click (or
// Enter in the Heads view, or the arrow keys here) chooses one.
let previewFrom = null, previewing = false;
function onViewPointer(ev) {
  const c = circuits.isCircuitView(state.view) && ev.target.closest && ev.target.closest('g.node, path.edge');
  if (c && circuits.onPointer(c)) return;
  const el = ev.target.closest && ev.target.closest('.cell, .pt, g.mini, td.v');
  if (state.view === 'attention' && previewing && (!el || !el.matches('g.mini'))) { previewing = false; focusHead(state.layer, state.head, -1); }
  if (!el) return;
  if (el.matches('.cell') && el.dataset.kind !== 'token') hovered = { kind: el.dataset.kind, r: +el.dataset.r, c: +el.dataset.c };
  if (el.matches('g.mini') && state.view === 'attention') {
    if (previewFrom) return; // the pointer has not moved since the view was drawn under it
    previewing = true;
    $('readout').textContent = describe(el);
    focusHead(+el.dataset.layer, +el.dataset.head, -1, { choose: false });
    return;
  }
  $('readout').textContent = describe(el);
  if (el.matches('.cell') && /^focus/.test(el.dataset.kind)) focusHead(state.layer, state.head, +el.dataset.r);
}
function onViewMove(ev) {
  if (previewFrom && Math.hypot(ev.clientX - previewFrom.x, ev.clientY - previewFrom.y) > 6) { previewFrom = null; onViewPointer(ev); }
}
// draws a head large; choose: it becomes the state's head (the URL's), else a preview
function focusHead(layer, head, row, { choose = true } = {}) {
  if (!store || !store.attention) return;
  const changed = choose && (layer !== state.layer || head !== state.head);
  if (choose) { state.layer = layer; state.head = head; }
  const g = $('view').querySelector('g.focus');
  if (!g) return;
  g.innerHTML = figures.draw({ ...attentionRequest({ layer, head, row }, null, true), style: current && current.request ? current.request.style : styleOf() }).svg;
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
  const m = ev.target.closest && ev.target.closest('g.mini');
  if (m && state.view === 'attention') { previewing = false; focusHead(+m.dataset.layer, +m.dataset.head, -1); return; }
  const c = ev.target.closest && ev.target.closest('.cell');
  if (c && state.view === 'heads' && state.set === 'pair') {
    previewFrom = { x: ev.clientX, y: ev.clientY };
    setView({ view: 'attention', layer: +c.dataset.r, head: +c.dataset.c });
  }
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
  const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  if (ev.key === 'Enter' && cursor && state.view === 'heads' && state.set === 'pair') {
    setView({ view: 'attention', layer: cursor.r, head: cursor.c });
    return;
  }
  if (!moves[ev.key] && ev.key !== 'Home' && ev.key !== 'End') return;
  ev.preventDefault();
  // the first key puts the cursor on the hovered cell (else the first); then keys move it; Home and End go to the
  // row's ends (with Ctrl: the figure's)
  const first = !cursor;
  if (first) cursor = hovered && cells.some((c) => c.dataset.kind === hovered.kind) ? { ...hovered } : { kind: cells[0].dataset.kind, r: 0, c: 0 };
  const mine = cells.filter((c) => c.dataset.kind === cursor.kind);
  const rows = Math.max(...mine.map((c) => +c.dataset.r)) + 1, cols = Math.max(...mine.map((c) => +c.dataset.c)) + 1;
  if (ev.key === 'Home') cursor = { ...cursor, c: 0, r: ev.ctrlKey ? 0 : cursor.r };
  else if (ev.key === 'End') cursor = { ...cursor, c: cols - 1, r: ev.ctrlKey ? rows - 1 : cursor.r };
  else if (!first) { const d = moves[ev.key]; cursor = { ...cursor, r: Math.max(0, Math.min(rows - 1, cursor.r + d[0])), c: Math.max(0, Math.min(cols - 1, cursor.c + d[1])) }; }
  for (const c of $('view').querySelectorAll('.cursor')) c.classList.remove('cursor');
  const el = $('view').querySelector(`.cell[data-kind='${cursor.kind}'][data-r='${cursor.r}'][data-c='${cursor.c}']`);
  if (el) { el.classList.add('cursor'); $('readout').textContent = describe(el); }
}

function setView(patch) {
  if (patch.view && patch.view !== state.view) hovered = null;
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
function fileStem() { return `relp-${state.view === 'maps' ? state.node : state.view}-${state.view === 'rtable' ? state.set : state.method}${state.set !== 'pair' && state.view !== 'rtable' ? `-${state.set}` : ''}`; }
// why there is nothing to export: the method shown was not run (and which were), or nothing has run yet
function nothingToExport() {
  if (state.set === 'pair' && store && !shown() && !circuits.isCircuitView(state.view)) return `${notRun()}; Export takes the figure shown`;
  return 'nothing to export yet: run a method and show a figure first';
}
export function svgString() { return current && current.svg ? current.svg : ''; }

// PNG at `scale` times the SVG's size: the figure shown, rasterised by the same C code as the CLI's --png
export async function pngBlob(scale = Number($('png-scale').value) || 2) {
  if (!current || !current.request) throw new Error(nothingToExport());
  if (current.request.style && current.request.style.font === 'sans') return sansPng(scale); // the core's PNG font is monospace
  return new Blob([figures.png(current.request, scale)], { type: 'image/png' });
}
// a sans-serif figure's PNG: the SVG rasterised by the browser (the core's rasteriser has one bitmap font, monospace)
async function sansPng(scale) {
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(current.svg)}`;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = current.width * scale;
  c.height = current.height * scale;
  const g = c.getContext('2d');
  g.scale(scale, scale);
  g.drawImage(img, 0, 0, current.width, current.height);
  return new Promise((res, rej) => c.toBlob((b) => (b ? res(b) : rej(new Error('the browser could not write the PNG'))), 'image/png'));
}
function csvString() {
  if (state.view === 'rtable' && dstore) return data.csv(dstore.res, dstore.r);
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
// A link pasted into the open tab changes only the fragment: no reload, a hashchange. Its state is taken as a fresh
// page's would be: the model loaded again where it is another, the controls set, and Run.
async function onHashChange() {
  if (location.hash.replace(/^#/, '') === encodeState(state)) return;
  const { state: s, problems } = parseState(location.hash);
  if (phase !== 'idle') { if (phase === 'running' || phase === 'loading') await cancel(); }
  const reload = !loaded || s.url !== state.url || s.model !== state.model || s.f16 !== state.f16;
  state = { ...s, embed: state.embed };
  syncControls();
  say('link', problems.length ? `This link's state is damaged, so defaults are used where it was: ${problems.join('; ')}.` : '', 'warn');
  if (reload) { if (!(await loadModel(sourceOf(state), state.f16))) return; }
  render();
  const c = await refreshCheck();
  if (c && (!c.problems.length || state.set !== 'pair')) await run({ user: false });
  saveState();
}

// the state of the figure shown: the prompts and model it was computed with, not the inputs typed since
const sourceLink = (m) => (!m || m.source.kind === 'files' ? null : { model: m.source.kind === 'bundled' ? m.source.name : '', url: m.source.url || '', f16: !!m.askedF16 });
export function shownState() {
  if (circuits.isCircuitView(state.view)) {
    const c = circuits.shownStateOf(state.view), src = sourceLink(loaded);
    return c && src ? { ...state, ...src, ...c, embed: true } : null;
  }
  if (state.set !== 'pair') { // a data set: the live embed runs it again (JSONL pasted in the page cannot travel in a link)
    const src = sourceLink(loaded);
    return dstore && src && state.set !== 'jsonl' ? { ...state, ...src, metric: dstore.res.metric, methods: dstore.res.methods, embed: true } : null;
  }
  if (!store || !store.source) return null;
  const res = shown();
  return { ...state, ...store.source, ...store.query, steps: res ? res.steps : state.steps, ap: !!store.ap, metric: store.metric, embed: true };
}

export function resultsJSON() {
  if (circuits.isCircuitView(state.view)) {
    const c = circuits.resultsOf(state.view), s = shownState();
    return c ? { relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: loaded ? loaded.label : '', ...c } : null;
  }
  if (state.set !== 'pair') {
    if (!dstore) return null;
    const s = shownState(), res = dstore.res;
    return { relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: dstore.model, view: state.view, data: dstore.name, metric: res.metric,
      methods: res.methods, prompts: res.nPrompts, batches: res.batches.map((b) => ({ T: b.T, n: b.n, metric: { clean: b.mClean, corrupt: b.mCorrupt } })),
      pearsonR: dstore.r, seconds: res.seconds, steps: res.steps, skipped: res.skipped };
  }
  const res = shown();
  if (!res) return null;
  const s = shownState(), u = unitsNow();
  const pick = (o, keys) => Object.fromEntries(keys.filter((k) => o && o[k]).map((k) => [k, Array.from(inUnits(o[k], u))]));
  return {
    relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: store.model, view: state.view, node: state.node,
    method: res.method, steps: res.steps, units: u.units, metricName: store.metric, clean: store.query.clean, corrupt: store.query.corrupt,
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
  const responsive = (v, w) => v.replace(/^<svg /, `<svg style='width:100%;max-width:${w}px;height:auto;display:block' `);
  // for a narrow column (a phone): the figure laid out for NARROW px, where the wide one would scale below readable
  const NARROW = 360, narrow = current && current.request && current.request.kind !== 'table' ? figures.draw({ ...current.request, style: { ...styleOf(), width: NARROW } }) : null;
  const two = narrow && narrow.width < W, cut = Math.floor(W * MIN_SCALE) - 1;
  const staticFig = two
    ? `<figure class="relp-static" style="margin:1em 0;max-width:${W}px;container-type:inline-size">\n` +
      `<style>.relp-static>.relp-narrow{display:none}@container (max-width:${cut}px){.relp-static>.relp-wide{display:none}.relp-static>.relp-narrow{display:block}}</style>\n` +
      `<div class="relp-wide">${responsive(svg, W)}</div>\n<div class="relp-narrow">${responsive(narrow.svg, narrow.width)}</div>\n`
    : `<figure class="relp-static" style="margin:1em 0;max-width:${W}px">\n${responsive(svg, W)}\n`;
  // the live iframe: as wide as the column, as tall as the figure there (a narrow column's figure is taller)
  const nh = two ? narrow.height + 56 : 0;
  return {
    iframe: s ? `<div class="relp-live" style="container-type:inline-size">` +
      (nh ? `<style>@container (max-width:${cut}px){.relp-live>iframe{min-height:${nh}px}}</style>` : '') +
      `<iframe src="${base}index.html#${frag}" title="${title}" loading="lazy" ` +
      `style="display:block;width:100%;max-width:${W}px;aspect-ratio:${W} / ${H + 56};border:0"></iframe></div>` : '',
    element: s ? `<script type="module" src="${base}relp-embed.js"></script>\n<relp-view state="${frag.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}" max-width="${W}"></relp-view>` : '',
    static: staticFig + `<script type="application/json" class="relp-results">${json}</script>\n</figure>\n` +
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
  if (!svgString()) { say('run', nothingToExport().replace(/Export/, 'Embed'), 'warn'); return; }
  $('embed-what').textContent = cv ? `The figure shown: the ${circuits.title(state.view)} on ${loaded ? loaded.label : ''}.` + (circuits.stale(state.view) ? ' The inputs have changed since it was computed; the embed shows the figure, not the new inputs.' : '')
    : state.set !== 'pair' ? `The figure shown: ${dstore ? dstore.name : ''} on ${dstore ? dstore.model : ''}.`
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
  $('metric').value = s.metric;
  $('font').value = s.font;
  $('caption-on').checked = s.caption;
  $('cmax').value = String(s.cmax);
  $('ds-n').value = s.n;
  $('ds-seed').value = s.seed;
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
    if (c && (!c.problems.length || (circuits.isCircuitView(state.view) && state.data === 'ioi') || (state.set !== 'pair' && state.set !== 'jsonl'))) await run({ user: false });
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
  // the metrics (the core's: relp_metric_name), and each method as a box for a data set's runs
  $('metric').replaceChildren(...METRICS.map((name) => Object.assign(document.createElement('option'), { value: name,
    textContent: name === 'logit_diff' ? 'logit difference (answer - wrong token)' : `${METRIC_TITLE[name]} of the answer` })));
  $('ds-methods').replaceChildren(...METHODS.map((name) => {
    const l = document.createElement('label');
    const c = Object.assign(document.createElement('input'), { type: 'checkbox', value: name });
    l.append(c, ` ${METHOD_TITLE[name]}`);
    l.title = METHOD_ABOUT[name];
    return l;
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
  $('steps').addEventListener('input', () => { readInputs(); saveState(); render(); });
  $('with-ap').onchange = () => { readInputs(); saveState(); };
  $('metric').onchange = () => { readInputs(); checked = null; refreshCheck(); saveState(); render(); }; // other scores: out of date
  // the data: a data set, its size and seed, its JSONL, its methods
  $('set').onchange = () => { readInputs(); state.view = state.set !== 'pair' ? 'rtable' : state.view === 'rtable' ? 'maps' : state.view; saveState(); render(); };
  for (const id of ['ds-n', 'ds-seed']) $(id).addEventListener('input', () => { readInputs(); saveState(); render(); });
  $('jsonl').addEventListener('input', () => { jsonlName = ''; readInputs(); render(); });
  $('jsonl-file').onchange = async () => { const f = $('jsonl-file').files[0]; if (!f) return; $('jsonl').value = await f.text(); jsonlName = f.name; $('jsonl-file').value = ''; readInputs(); render(); };
  $('ds-methods').addEventListener('change', () => { readInputs(); saveState(); render(); });
  $('batch').onchange = () => setView({ batch: Number($('batch').value) });
  // the figures' options: font, caption in or beside the figure, a fixed colour scale
  $('font').onchange = () => setView({ font: $('font').value });
  $('caption-on').onchange = () => setView({ caption: $('caption-on').checked });
  $('cmax').addEventListener('change', () => { const v = Number($('cmax').value); if (v >= 0 && v <= 1000) setView({ cmax: v }); else $('cmax').value = String(state.cmax); });
  $('caption-download').onclick = () => download(new Blob([$('caption-text').textContent + '\n'], { type: 'text/plain' }), `${fileStem()}.caption.txt`);
  $('confirm-go').onclick = () => confirmDone && confirmDone(true);
  $('confirm-no').onclick = () => confirmDone && confirmDone(false);
  $('view').addEventListener('pointermove', onViewMove);
  $('view').addEventListener('scroll', () => { $('scroller').value = String($('view').scrollLeft); });
  $('scroller').addEventListener('input', () => { $('view').scrollLeft = Number($('scroller').value); });
  window.addEventListener('resize', onResize);
  window.addEventListener('hashchange', onHashChange);
  $('example-ioi').onclick = () => useExample('ioi');
  $('example-induction').onclick = () => useExample('induction');
  $('suggest').onclick = suggestAnswers;
  for (const b of document.querySelectorAll('[data-view]')) b.onclick = () => setView({ view: b.dataset.view });
  $('node').onchange = () => setView({ node: $('node').value });
  $('view').addEventListener('pointerover', onViewPointer);
  $('view').addEventListener('click', onViewClick);
  $('view').addEventListener('keydown', onViewKey);
  $('view').addEventListener('change', (ev) => { if (ev.target.id === 'table-k') { tableK = Number(ev.target.value); render(); } });
  $('export-svg').onclick = () => { const s = svgString(); if (s) download(new Blob([s], { type: 'image/svg+xml' }), `${fileStem()}.svg`); else say('run', nothingToExport(), 'warn'); };
  $('export-png').onclick = async () => { try { const sc = Number($('png-scale').value); download(await pngBlob(sc), `${fileStem()}${sc === 1 ? '' : `@${sc}x`}.png`); } catch (e) { say('run', e.message, 'error'); } };
  $('export-csv').onclick = () => { if ((state.view === 'rtable' && dstore) || store) download(new Blob([csvString()], { type: 'text/csv' }), `${fileStem()}.csv`); };
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
  window.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    if (confirmDone) confirmDone(false); else if (phase !== 'idle' && phase !== 'starting') cancel();
  });
}

// for tests and for people poking at the page from the console
window.relp = {
  get state() { return state; }, get store() { return store; }, get model() { return loaded; }, get phase() { return phase; },
  get checked() { return checked; }, get stale() { return isStale(); },
  get result() { const r = shown(); return r && store ? { ...store, ...r, r: rOf(r) } : null; },
  svgString, pngBlob, embedSnippets, shownState, resultsJSON, run, messageText, BUNDLED, circuits: circuits.debug,
  get dataset() { return dstore; }, get figure() { return current; },
  get askAbove() { return ASK_ABOVE; }, set askAbove(v) { ASK_ABOVE = v; }, // seconds above which a job is said first (tests)
};
wire();
start();
