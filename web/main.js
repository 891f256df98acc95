// main.js - the page's entry: wires the controls to the modules under page/ and starts the page. No compute
// here: the worker (worker.js) owns the WebAssembly engine; the page sends it requests, shows progress, and
// draws results with the figure module (relp_figure.wasm: relp's figures, drawn in C as the CLI and the Python
// package draw them), adding hover readouts, clicks and keyboard from the SVG's data attributes. One state
// object (page.state, page/shared.js) drives the controls and the URL through one binder (bind.js, from
// state.js's PROPS); results live in one store, keyed by the model and the prompts they were computed for, so
// that every picture, export and embed shows what was computed (and says so when the inputs have changed since).
//   page/shared.js  the page's one mutable state (page), the worker, messages, phases and progress, the URL
//   page/load.js    loading a model, the manifest, threads
//   page/inputs.js  the prompts, the live check of the inputs, examples
//   page/run.js     the results store, Run and Cancel, AP and attention on demand, costs asked first, data sets
//   page/view.js    the views: figures fitted to the column, captions, notes, hover, keyboard and clicks
//   page/export.js  SVG, PNG, CSV and JSON exports, the embed snippets
import { parseState, encodeState, MANIFEST, BUNDLED, METHODS, METRICS, METRIC_TITLE } from './state.js';
import { METHOD_TITLE } from './constants.mjs';
import * as circuits from './circuits.js';
import * as bind from './bind.js';
import { page, say, saveState, $, figuresReady, embed, messages, worker, begin, end, progress, messageText } from './page/shared.js';
import { cancel, run, isStale, shown, rOf } from './page/run.js';
import { loadModel, sourceOf, renderThreads, readManifest, threadsWanted } from './page/load.js';
import { render, METHOD_ABOUT, setView, onViewMove, onResize, onViewPointer, onViewClick, onViewKey, renderStale } from './page/view.js';
import { refreshCheck, onInput, readInputs, useExample, suggestAnswers } from './page/inputs.js';
import { reportSize, download, fileStem, svgString, nothingToExport, pngBlob, csvString, showEmbed, refreshEmbedCode, copy, resultsJSON, embedSnippets, shownState } from './page/export.js';

// A link pasted into the open tab changes only the fragment: no reload, a hashchange. Its state is taken as a fresh
// page's would be: the model loaded again where it is another, the controls set, and Run.
async function onHashChange() {
  if (location.hash.replace(/^#/, '') === encodeState(page.state)) return;
  const { state: s, problems } = parseState(location.hash);
  if (page.phase !== 'idle') { if (page.phase === 'running' || page.phase === 'loading') await cancel(); }
  const reload = !page.loaded || s.url !== page.state.url || s.model !== page.state.model || s.f16 !== page.state.f16;
  page.state = { ...s, embed: page.state.embed };
  syncControls();
  say('link', problems.length ? `This link's state is damaged, so defaults are used where it was: ${problems.join('; ')}.` : '', 'warn');
  if (reload) { if (!(await loadModel(sourceOf(page.state), page.state.f16))) return; }
  render();
  const c = await refreshCheck();
  if (c && (!c.problems.length || page.state.set !== 'pair')) await run({ user: false });
  saveState();
}

// ---------------------------------------------------------------- start
// the controls from the state (bind.js); the threads menu and the model's controls by hand
function syncControls() {
  const s = page.state;
  bind.syncControls(s);
  renderThreads();
  $('bundled').value = s.url ? '' : s.model;
  $('url').value = s.url;
}

async function start() {
  await readManifest();
  page.figures = await figuresReady;
  const { state: s, problems } = parseState(location.hash);
  page.state = s;
  syncControls();
  document.body.classList.toggle('embed', s.embed);
  document.body.classList.toggle('fit-width', new URLSearchParams(location.search).has('fit')); // <relp-view> sizes the iframe to the content
  if (embed()) {
    $('embed-link').href = new URL(`index.html#${encodeState({ ...s, embed: false })}`, location.href).href;
    new ResizeObserver(reportSize).observe(document.body);
  }
  render();
  if (problems.length) say('link', `This link's state is damaged, so defaults are used where it was: ${problems.join('; ')}.`, 'warn');
  let ok = page.state.url || page.state.model ? await loadModel(sourceOf(page.state), page.state.f16) : false;
  if (!ok && page.state.url && !embed() && MANIFEST.default) { // a link to a model that cannot be loaded: the bundled one, with the reason shown
    const why = messages.get('load');
    page.state.url = '';
    page.state.model = MANIFEST.default;
    syncControls();
    ok = await loadModel(sourceOf(page.state), false);
    if (why) say('load', `${why.text} - showing the bundled ${MANIFEST.default} instead`, 'error');
  }
  if (ok) {
    const c = await refreshCheck();
    if (c && (!c.problems.length || (circuits.isCircuitView(page.state.view) && page.state.data === 'ioi') || (page.state.set !== 'pair' && page.state.set !== 'jsonl'))) await run({ user: false });
    else if (c && embed()) say('run', `This embed cannot be drawn with ${page.loaded.label}: ${c.problems.join('; ')}.`, 'error');
  } else if (embed() && !messages.has('load')) {
    say('load', 'This embed names no model that could be loaded.', 'error');
  }
  saveState();
  reportSize();
  document.body.dataset.ready = '1'; // tests wait for this
}
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
  circuits.init({ worker, state: () => page.state, patchState: (p) => Object.assign(page.state, p), loaded: () => page.loaded, phase: () => page.phase, checked: () => page.checked,
    manifest: () => MANIFEST, figures: () => page.figures, threads: threadsWanted, embed, begin, end, progress, say, render, saveState, download });
  for (const id of ['clean', 'corrupt', 'answer', 'wrong']) $(id).addEventListener('input', onInput);
  $('run').onclick = () => run();
  $('cancel').onclick = cancel;
  $('method').onchange = () => { readInputs(); say('run', ''); render(); saveState(); circuits.lazy(page.state.view); };
  $('steps').addEventListener('input', () => { readInputs(); saveState(); render(); });
  $('with-ap').onchange = () => { readInputs(); saveState(); };
  $('metric').onchange = () => { readInputs(); page.checked = null; refreshCheck(); saveState(); render(); }; // other scores: out of date
  // the data: a data set, its size and seed, its JSONL, its methods
  $('set').onchange = () => { readInputs(); page.state.view = page.state.set !== 'pair' ? 'rtable' : page.state.view === 'rtable' ? 'maps' : page.state.view; saveState(); render(); };
  for (const id of ['ds-n', 'ds-seed']) $(id).addEventListener('input', () => { readInputs(); saveState(); render(); });
  $('jsonl').addEventListener('input', () => { page.jsonlName = ''; readInputs(); render(); });
  $('jsonl-file').onchange = async () => { const f = $('jsonl-file').files[0]; if (!f) return; $('jsonl').value = await f.text(); page.jsonlName = f.name; $('jsonl-file').value = ''; readInputs(); render(); };
  $('ds-methods').addEventListener('change', () => { readInputs(); saveState(); render(); });
  // the batch shown, the node type, and the figures' options (font, caption in or beside the figure, a fixed colour
  // scale): each a view of the results; a colour scale out of its limits is replaced by the state's
  bind.bindControls(['batch', 'node', 'font', 'caption', 'cmax'], { state: () => page.state }, setView);
  $('caption-download').onclick = () => download(new Blob([$('caption-text').textContent + '\n'], { type: 'text/plain' }), `${fileStem()}.caption.txt`);
  $('confirm-go').onclick = () => page.confirmDone && page.confirmDone(true);
  $('confirm-no').onclick = () => page.confirmDone && page.confirmDone(false);
  $('view').addEventListener('pointermove', onViewMove);
  $('view').addEventListener('scroll', () => { $('scroller').value = String($('view').scrollLeft); });
  $('scroller').addEventListener('input', () => { $('view').scrollLeft = Number($('scroller').value); });
  window.addEventListener('resize', onResize);
  window.addEventListener('hashchange', onHashChange);
  $('example-ioi').onclick = () => useExample('ioi');
  $('example-induction').onclick = () => useExample('induction');
  $('suggest').onclick = suggestAnswers;
  for (const b of document.querySelectorAll('[data-view]')) b.onclick = () => setView({ view: b.dataset.view });
  $('view').addEventListener('pointerover', onViewPointer);
  $('view').addEventListener('click', onViewClick);
  $('view').addEventListener('keydown', onViewKey);
  $('view').addEventListener('change', (ev) => { if (ev.target.id === 'table-k') { page.tableK = Number(ev.target.value); render(); } });
  $('export-svg').onclick = () => { const s = svgString(); if (s) download(new Blob([s], { type: 'image/svg+xml' }), `${fileStem()}.svg`); else say('run', nothingToExport(), 'warn'); };
  $('export-png').onclick = async () => { try { const sc = Number($('png-scale').value); download(await pngBlob(sc), `${fileStem()}${sc === 1 ? '' : `@${sc}x`}.png`); } catch (e) { say('run', e.message, 'error'); } };
  $('export-csv').onclick = () => { if ((page.state.view === 'rtable' && page.dstore) || page.store) download(new Blob([csvString()], { type: 'text/csv' }), `${fileStem()}.csv`); };
  $('embed').onclick = showEmbed;
  $('embed-base').addEventListener('input', refreshEmbedCode);
  for (const r of document.querySelectorAll('input[name="embed-kind"]')) r.onchange = refreshEmbedCode;
  $('copy-embed').onclick = copy;
  $('download-json').onclick = () => download(new Blob([JSON.stringify(resultsJSON(), null, 1)], { type: 'application/json' }), `${fileStem()}.json`);
  $('download-svg').onclick = () => download(new Blob([svgString()], { type: 'image/svg+xml' }), `${fileStem()}.svg`);
  $('close-embed').onclick = () => $('embed-dialog').close();
  const reload = async (source, f16) => {
    if (page.phase !== 'idle') { say('load', 'wait for the current run or cancel it first', 'warn'); return false; }
    const ok = await loadModel(source, f16);
    if (ok) { page.checked = null; refreshCheck(); renderStale(); }
    return ok;
  };
  $('bundled').onchange = async () => {
    const name = $('bundled').value;
    if (!name) return;
    if (await reload({ kind: 'bundled', name, label: name }, $('f16').checked)) { Object.assign(page.state, { model: name, url: '', f16: $('f16').checked }); saveState(); }
  };
  bind.bindControls(['threads'], { state: () => page.state }, (p) => { Object.assign(page.state, p); saveState(); }); // used from the next run
  $('f16').onchange = async () => { // takes effect at once: the model is loaded again with the new setting
    if (!page.loaded) return;
    const f16 = $('f16').checked;
    say('load', `reloading ${page.loaded.label} with ${f16 ? 'f16' : 'f32'} weights ...`);
    if (await reload(page.loaded.source, f16)) { page.state.f16 = f16; saveState(); } else $('f16').checked = !f16;
  };
  $('load-url').onclick = async () => {
    const url = $('url').value.trim();
    if (!url) { say('load', 'type a checkpoint URL first, e.g. https://huggingface.co/gpt2/resolve/main/', 'warn'); return; }
    if (await reload({ kind: 'url', url, label: url }, $('f16').checked)) { Object.assign(page.state, { url, f16: $('f16').checked }); $('bundled').value = ''; saveState(); }
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
    if (page.confirmDone) page.confirmDone(false); else if (page.phase !== 'idle' && page.phase !== 'starting') cancel();
  });
}

// for tests and for people poking at the page from the console
window.relp = {
  get state() { return page.state; }, get store() { return page.store; }, get model() { return page.loaded; }, get phase() { return page.phase; },
  get checked() { return page.checked; }, get stale() { return isStale(); },
  get result() { const r = shown(); return r && page.store ? { ...page.store, ...r, r: rOf(r) } : null; },
  svgString, pngBlob, embedSnippets, shownState, resultsJSON, run, messageText, BUNDLED, circuits: circuits.debug,
  get dataset() { return page.dstore; }, get figure() { return page.current; },
  get askAbove() { return page.ASK_ABOVE; }, set askAbove(v) { page.ASK_ABOVE = v; }, // seconds above which a job is said first (tests)
};
wire();
start();
