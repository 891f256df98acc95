// page/shared.js - what every part of the page shares: the page's one mutable state (page), the worker,
// the messages, the phases and their progress, and the URL (saveState).
import { loadFigures } from '../relp.mjs';
import { encodeState, DEFAULT_STATE } from '../state.js';
import { runBlocker } from './inputs.js';

export const $ = (id) => document.getElementById(id);
export const q = (s) => JSON.stringify(s);

// ---------------------------------------------------------------- the worker
class WorkerClient {
  constructor() { this.pending = new Map(); this.nextId = 1; this.start(); }
  start() {
    this.w = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
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
export const cancelled = (e) => e && e.message === 'cancelled';

export const worker = new WorkerClient();
// the figure module: small, loaded with the page; every view is drawn with it on this thread
export const figuresReady = (async () => loadFigures({ glueUrl: new URL('../relp_figure.js', import.meta.url),
  wasmBinary: await (await fetch(new URL('../relp_figure.wasm', import.meta.url))).arrayBuffer() }))();
export const embed = () => page.state.embed;

// ---------------------------------------------------------------- messages: one per cause, cleared with it
// owners: manifest, link (a damaged link), load (loading a model), model (the loaded model's own warning),
// run (the last run or cancel), copy
export const messages = new Map();
export function say(owner, text, kind = 'info') {
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
export function setPhase(p) {
  page.phase = p;
  $('run').disabled = p !== 'idle' || !page.loaded || !!runBlocker();
  $('cancel').disabled = !(p === 'loading' || p === 'running');
  document.body.classList.toggle('busy', p === 'loading' || p === 'running');
  if (p === 'idle') { $('progress').hidden = true; $('progress-label').textContent = ''; }
}
export function begin(p) {
  const me = ++page.op;
  setPhase(p);
  const bar = $('progress');
  bar.hidden = false;
  bar.removeAttribute('value');
  $('progress-label').textContent = '';
  eta = { me, t0: performance.now(), f0: -1 };
  return me;
}
export function end(me) { if (me === page.op) setPhase('idle'); }
// the time left, from the rate so far (after a second, and 2% of the work)
let eta = { me: 0, t0: 0, f0: -1 };
export const secondsText = (s) => (s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
export function progress(me, done, total, what) {
  if (me !== page.op) return;
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

// ---------------------------------------------------------------- state and embeds
export function saveState() {
  if (embed()) return;
  history.replaceState(null, '', `#${encodeState(page.state)}`);
}

// the page's one mutable state: what every module reads and sets (window.relp shows it to tests)
export const page = {
  figures: null,         // the figure module (relp_figure.wasm), once loaded
  state: { ...DEFAULT_STATE },
  loaded: null,          // { label, info, kernels, source, f16, warning } of the model in the worker
  store: null,           // results for one model and one set of prompts (run.js: newStore)
  checked: null,         // the latest live check of the inputs
  phase: 'starting',     // 'starting' | 'idle' | 'loading' | 'running'
  op: 0,                 // the operation that owns the phase; a cancel starts a new one
  forwardSeconds: 0,     // the model's forward pass as the live check timed it (run.js: costOf)
  ASK_ABOVE: 5,          // seconds above which a job is said first (run.js: ask)
  confirmDone: null,     // the open question's answer (run.js: ask)
  apPosDeclined: '',     // the store whose AP per head and position was declined (Not now)
  tableK: 30,            // the node table's rows
  current: null,         // what #view shows: { svg, request, width, height, caption } | { html } | { hint }
  dstore: null,          // a data set's results: { key, name, prompts, res (the worker's result, partial while it runs), r }
  jsonlName: '',         // the JSONL file's name, for captions
};
