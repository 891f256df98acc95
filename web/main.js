// main.js - the page's UI. No compute here: the worker (worker.js) owns the
// WebAssembly module; this file sends it requests, shows progress, renders
// results with render.js and keeps the whole state in the URL (state.js).
import { viewSVG, fmt, showToken, METHOD_TITLE } from './render.js';
import { parseState, encodeState, DEFAULT_STATE, BUNDLED } from './state.js';

const $ = (id) => document.getElementById(id);
const INDUCTION = {
  clean: ' garden silver table river candle forest mirror garden silver table river candle forest',
  corrupt: ' garden silver table river candle forest shadow garden silver table river candle forest',
  answer: ' mirror', wrong: ' shadow',
};

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
  // stop whatever runs: a WebAssembly call cannot be interrupted, so the worker goes
  restart() {
    this.w.terminate();
    for (const p of this.pending.values()) p.reject(new Error('cancelled'));
    this.pending.clear();
    this.start();
  }
}

const worker = new WorkerClient();
let state = { ...DEFAULT_STATE };
let loaded = null;      // { label, info, kernels, source, f16 } of the model in the worker
let result = null;      // the last run's result
let busy = false;
const embed = () => state.embed;

// ---------------------------------------------------------------- messages and progress
function message(text, kind = 'info') {
  const el = $('message');
  el.textContent = text;
  el.className = `message ${kind}`;
  el.hidden = !text;
}

function progress(done, total, what) {
  const bar = $('progress');
  bar.hidden = false;
  bar.max = total || 1;
  bar.value = done;
  $('progress-label').textContent = `${what ? what + ': ' : ''}${total > 1 ? Math.round((100 * done) / total) + '%' : ''}`;
}

function idle() {
  $('progress').hidden = true;
  $('progress-label').textContent = '';
  busy = false;
  $('cancel').disabled = true;
  $('run').disabled = false;
  document.body.classList.remove('busy');
}

function working() {
  busy = true;
  $('cancel').disabled = false;
  $('run').disabled = true;
  document.body.classList.add('busy');
}

// ---------------------------------------------------------------- model
function sourceOf(s) {
  return s.url ? { kind: 'url', url: s.url, label: s.url } : { kind: 'bundled', name: s.model, label: `${s.model} (bundled)` };
}

async function loadModel(source, f16) {
  working();
  message(`loading ${source.label} ...`);
  try {
    const r = await worker.request('load', { source, f16 }, (d, t, what) => progress(d, t, what || 'downloading'));
    loaded = { ...r, source, f16: r.f16 };
    const i = r.info;
    $('model-info').textContent = `${r.label}: ${i.nLayer} layers, ${i.nHead} heads, d=${i.nEmbd}, ` +
      `${(i.nParams / 1e6).toFixed(1)} M parameters, ${(i.weightBytes / 2 ** 20).toFixed(0)} MiB of weights ` +
      `(${r.f16 ? (f16 ? 'f16' : 'f16: f32 would not fit well in the tab') : 'f32'}), ${r.kernels}`;
    message(r.warning ? `${source.label}: ${r.warning}` : '', 'warn');
    return true;
  } catch (e) {
    message(e.message === 'cancelled' ? 'loading cancelled' : `could not load ${source.label}: ${e.message}` +
            (loaded ? ` - still using ${loaded.label}` : ''), 'error');
    return false;
  } finally {
    idle();
  }
}

// ---------------------------------------------------------------- prompts
let tokTimer = 0;
function readPrompts() {
  state.clean = $('clean').value;
  state.corrupt = $('corrupt').value;
  state.answer = $('answer').value;
  state.wrong = $('wrong').value;
}

function chips(el, toks) {
  el.replaceChildren(...toks.map((t) => {
    const s = document.createElement('span');
    s.className = 'tok';
    s.textContent = showToken(t.s);
    s.title = `${t.id}`;
    return s;
  }));
}

async function refreshTokens() {
  if (!loaded) return;
  readPrompts();
  try {
    const [c, x, a, w] = await worker.request('tokenize', { texts: [state.clean, state.corrupt, state.answer, state.wrong], bos: [true, true, false, false] });
    chips($('clean-tokens'), c);
    chips($('corrupt-tokens'), x);
    const warn = [];
    if (c.length !== x.length) warn.push(`the clean prompt has ${c.length} tokens and the corrupted one ${x.length}: they must be equal`);
    if (c.length > loaded.info.nPositions) warn.push(`the prompt is ${c.length} tokens; this model takes at most ${loaded.info.nPositions}`);
    if (a.length !== 1) warn.push(`the answer ${JSON.stringify(state.answer)} is ${a.length} tokens; it must be one (e.g. " Mary", with its space)`);
    if (w.length !== 1) warn.push(`the wrong token ${JSON.stringify(state.wrong)} is ${w.length} tokens; it must be one`);
    $('token-warning').textContent = warn.join('; ');
    $('token-warning').hidden = !warn.length;
    $('token-count').textContent = `${c.length} / ${x.length} tokens`;
  } catch (e) {
    $('token-warning').textContent = e.message;
    $('token-warning').hidden = false;
  }
}

function onPromptInput() {
  clearTimeout(tokTimer);
  tokTimer = setTimeout(refreshTokens, 200);
}

async function suggestAnswers() {
  if (!loaded) return;
  readPrompts();
  try {
    const [top, topX] = await Promise.all([worker.request('top', { text: state.clean, k: 8 }), worker.request('top', { text: state.corrupt, k: 8 })]);
    const list = $('answer-options');
    list.replaceChildren(...[...top, ...topX].map((t) => {
      const o = document.createElement('option');
      o.value = t.piece;
      o.label = `${JSON.stringify(t.piece)} p=${t.prob.toFixed(3)}`;
      return o;
    }));
    $('top-predictions').textContent = 'model predicts: ' + top.slice(0, 5).map((t) => `${JSON.stringify(t.piece)} ${t.prob.toFixed(2)}`).join(', ');
    return { top, topX };
  } catch (e) {
    $('top-predictions').textContent = e.message;
    return null;
  }
}

async function defaultAnswers() {
  const s = await suggestAnswers();
  if (!s) return;
  $('answer').value = s.top[0].piece;
  const w = s.topX.find((t) => t.piece !== s.top[0].piece) || s.top[1];
  $('wrong').value = w.piece;
  refreshTokens();
}

function setPrompts(p) {
  $('clean').value = p.clean;
  $('corrupt').value = p.corrupt;
  $('answer').value = p.answer;
  $('wrong').value = p.wrong;
  refreshTokens();
  suggestAnswers();
}

// ---------------------------------------------------------------- run
async function run() {
  if (!loaded || busy) return;
  readPrompts();
  state.method = $('method').value;
  state.steps = Math.max(1, Math.min(1000, Number($('steps').value) || 10));
  state.ap = $('with-ap').checked;
  working();
  message('');
  const t0 = performance.now();
  try {
    const q = { clean: state.clean, corrupt: state.corrupt, answer: state.answer, wrong: state.wrong, method: state.method, steps: state.steps, ap: state.ap };
    result = await worker.request('run', { query: q }, (d, t) => progress(d, t, state.ap ? `${METHOD_TITLE[state.method]} + activation patching` : METHOD_TITLE[state.method]));
    result.method = state.method;
    result.seconds = (performance.now() - t0) / 1000;
    if (state.view === 'attention') await loadAttention(state.layer, state.head, false);
    if (result.warning) message(result.warning, 'warn');
    $('run-info').textContent = `logit difference: clean ${fmt(result.mClean)}, corrupted ${fmt(result.mCorrupt)}; ` +
      `${result.T} tokens; ${result.seconds.toFixed(2)} s` + (state.ap ? `; Pearson r with AP: ${['resid', 'attn', 'mlp', 'head'].map((n) => `${n} ${result.r[n].toFixed(3)}`).join(', ')}` : '');
    render();
    saveState();
  } catch (e) {
    message(e.message === 'cancelled' ? 'cancelled' : e.message, e.message === 'cancelled' ? 'info' : 'error');
  } finally {
    idle();
  }
}

async function cancel() {
  worker.restart();
  idle();
  message('cancelled; reloading the model ...');
  if (loaded) await loadModel(loaded.source, loaded.f16);
  message('cancelled');
}

async function loadAttention(layer, head, show = true) {
  if (!result) return;
  state.layer = layer;
  state.head = head;
  const r = await worker.request('attention', { text: state.clean, layer, head });
  result.attention = { ...r, layer, head };
  if (show) { state.view = 'attention'; render(); saveState(); }
}

// ---------------------------------------------------------------- views
function render() {
  for (const b of document.querySelectorAll('[data-view]')) b.classList.toggle('active', b.dataset.view === state.view);
  $('node').value = state.node;
  $('node').disabled = state.view !== 'maps';
  const out = $('view');
  if (!result) { out.innerHTML = ''; return; }
  if (state.view === 'scatter' && !Object.keys(result.ap).length) { out.innerHTML = '<p class="hint">The scatter plot needs activation patching: tick "with AP" and run.</p>'; return; }
  if (state.view === 'attention' && !result.attention) { out.innerHTML = '<p class="hint">Click a head in the heads view to see its attention pattern.</p>'; return; }
  out.innerHTML = viewSVG(result, { view: state.view, method: result.method, node: state.node });
}

function onViewPointer(ev) {
  const c = ev.target.closest && ev.target.closest('.cell, .pt');
  if (!c) return;
  const t = c.querySelector('title');
  $('readout').textContent = t ? t.textContent : c.dataset.v;
}

function onViewClick(ev) {
  const c = ev.target.closest && ev.target.closest('.cell');
  if (!c || state.view !== 'heads') return;
  loadAttention(Number(c.dataset.r), Number(c.dataset.c)).catch((e) => message(e.message, 'error'));
}

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

function fileStem() { return `relp-${state.view === 'maps' ? state.node : state.view}-${result ? result.method : state.method}`; }

export function svgString() { const s = currentSVG(); return s ? s.outerHTML : ''; }

// PNG at 2x the SVG's size, drawn from the same SVG string
export async function pngBlob(scale = 2) {
  const s = currentSVG();
  if (!s) throw new Error('nothing to export yet: run a method first');
  const w = Number(s.getAttribute('width')), h = Number(s.getAttribute('height'));
  const img = new Image();
  img.src = URL.createObjectURL(new Blob([s.outerHTML], { type: 'image/svg+xml' }));
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = w * scale;
  canvas.height = h * scale;
  const g = canvas.getContext('2d');
  g.scale(scale, scale);
  g.drawImage(img, 0, 0, w, h);
  URL.revokeObjectURL(img.src);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

// ---------------------------------------------------------------- state and embeds
function saveState() {
  const frag = encodeState(state);
  history.replaceState(null, '', `#${frag}`);
}

function embedSnippets() {
  const page = new URL('index.html', location.href).href;
  const frag = encodeState({ ...state, embed: true });
  const svg = currentSVG();
  const w = svg ? Number(svg.getAttribute('width')) + 16 : 720, h = svg ? Number(svg.getAttribute('height')) + 48 : 480;
  return {
    iframe: `<iframe src="${page}#${frag}" width="${w}" height="${h}" style="border:0" loading="lazy" title="relp: ${METHOD_TITLE[state.method]} on ${state.url || state.model}"></iframe>`,
    element: `<script type="module" src="${new URL('relp-embed.js', location.href).href}"></script>\n<relp-view state="${frag.replace(/"/g, '&quot;')}" width="${w}" height="${h}"></relp-view>`,
  };
}

function showEmbed() {
  if (loaded && loaded.source.kind === 'files') {
    message('a model opened from disk cannot be embedded (others cannot reach your files): load it from a URL', 'warn');
    return;
  }
  const s = embedSnippets();
  $('embed-iframe').value = s.iframe;
  $('embed-element').value = s.element;
  $('embed-dialog').showModal();
}

async function copy(id) {
  const t = $(id).value;
  try { await navigator.clipboard.writeText(t); message('copied to the clipboard'); } catch { $(id).select(); document.execCommand('copy'); }
}

// ---------------------------------------------------------------- start
function applyState(s) {
  state = s;
  $('clean').value = s.clean;
  $('corrupt').value = s.corrupt;
  $('answer').value = s.answer;
  $('wrong').value = s.wrong;
  $('method').value = s.method;
  $('steps').value = s.steps;
  $('with-ap').checked = s.ap;
  $('f16').checked = s.f16;
  $('bundled').value = s.url ? '' : s.model;
  $('url').value = s.url;
}

async function start() {
  const { state: s, problems } = parseState(location.hash);
  applyState(s);
  document.body.classList.toggle('embed', s.embed);
  if (embed()) $('embed-link').href = new URL(`index.html#${encodeState({ ...s, embed: false })}`, location.href).href;
  render();
  // what went wrong while opening stays on screen after the first run
  let notice = problems.length ? [`This link's state is damaged, so defaults are used where it was: ${problems.join('; ')}.`, 'warn'] : null;
  if (notice) message(...notice);
  let ok = await loadModel(sourceOf(s), s.f16);
  if (!ok && s.url) { // a link to a model that cannot be loaded: fall back to the bundled one, with the reason shown
    notice = [`${$('message').textContent} - showing the bundled ${BUNDLED[0]} instead`, 'error'];
    state.url = '';
    state.model = BUNDLED[0];
    ok = await loadModel(sourceOf(state), false);
  }
  if (ok) {
    await refreshTokens();
    suggestAnswers();
    if ($('token-warning').hidden) await run();
  }
  if (notice && !(ok && $('message').className.includes('error'))) message(...notice);
  document.body.dataset.ready = '1'; // tests wait for this
}

function wire() {
  for (const id of ['clean', 'corrupt', 'answer', 'wrong']) $(id).addEventListener('input', onPromptInput);
  $('run').onclick = run;
  $('cancel').onclick = cancel;
  $('example-ioi').onclick = async () => {
    const all = await worker.request('ioi');
    setPrompts(all[Math.floor(Math.random() * all.length)]);
  };
  $('example-induction').onclick = () => setPrompts(INDUCTION);
  $('suggest').onclick = defaultAnswers;
  for (const b of document.querySelectorAll('[data-view]')) b.onclick = () => { state.view = b.dataset.view; render(); saveState(); };
  $('node').onchange = () => { state.node = $('node').value; render(); saveState(); };
  $('view').addEventListener('pointerover', onViewPointer);
  $('view').addEventListener('click', onViewClick);
  $('export-svg').onclick = () => { const s = svgString(); if (s) download(new Blob([s], { type: 'image/svg+xml' }), `${fileStem()}.svg`); };
  $('export-png').onclick = async () => { try { download(await pngBlob(), `${fileStem()}.png`); } catch (e) { message(e.message, 'error'); } };
  $('embed').onclick = showEmbed;
  $('copy-iframe').onclick = () => copy('embed-iframe');
  $('copy-element').onclick = () => copy('embed-element');
  $('close-embed').onclick = () => $('embed-dialog').close();
  $('bundled').onchange = async () => {
    if (!$('bundled').value) return;
    if (await loadModel({ kind: 'bundled', name: $('bundled').value, label: `${$('bundled').value} (bundled)` }, $('f16').checked)) {
      state.model = $('bundled').value; state.url = ''; state.f16 = $('f16').checked; refreshTokens(); saveState();
    }
  };
  $('load-url').onclick = async () => {
    const url = $('url').value.trim();
    if (!url) { message('type a checkpoint URL first, e.g. https://huggingface.co/gpt2/resolve/main/', 'warn'); return; }
    if (await loadModel({ kind: 'url', url, label: url }, $('f16').checked)) {
      state.url = url; state.f16 = $('f16').checked; $('bundled').value = ''; refreshTokens(); suggestAnswers(); saveState();
    }
  };
  const fromDisk = async (input) => {
    const files = [...input.files];
    input.value = '';
    if (!files.length) return;
    const label = files[0].webkitRelativePath ? files[0].webkitRelativePath.split('/')[0] : files.map((f) => f.name).join(', ');
    if (await loadModel({ kind: 'files', files, label }, $('f16').checked)) { $('bundled').value = ''; refreshTokens(); suggestAnswers(); }
  };
  $('files').onchange = () => fromDisk($('files'));
  $('folder').onchange = () => fromDisk($('folder'));
}

// for tests and for people poking at the page from the console
window.relp = { get state() { return state; }, get result() { return result; }, get model() { return loaded; }, svgString, pngBlob, embedSnippets, run };
wire();
start();
