// page/view.js - the views: each figure's request drawn and fitted to the column, captions, notes and run info,
// the Data section, the out-of-date note, and the hover readout, keyboard and clicks on the figure.
import { fmt, showToken } from '../render.js';
import { METHODS, METRIC_TITLE } from '../state.js';
import { NAMES, METHOD_TITLE, MIN_GAP } from '../constants.mjs';
import { runWarnings } from '../guard.js';
import * as data from '../dataset.js';
import { pearson } from '../dataset.js';
import * as circuits from '../circuits.js';
import { page, $, embed, q, setPhase, saveState } from './shared.js';
import { syncControls } from '../bind.js';
import { rOf, shown, unitsNow, inUnits, ensureApPos, ensureAttention, datasetKey, isStale } from './run.js';
import { reportSize } from './export.js';
import { IG, stepsProblem } from './inputs.js';

// ---------------------------------------------------------------- views
export function warningsOf(res) { return page.store ? runWarnings(page.store) : []; } // the core's warnings of the run (guard.js)

// the caption of a figure request (relp.h FIGURES: struct relp_figure_caption)
function captionOf(res, { relevance = null, withR = true } = {}) {
  const r = rOf(res), ws = warningsOf(res).filter((w) => !relevance || w.kind === 'predict' || w.kind === 'space');
  return {
    // token relevance is one backward pass with the method's rules (gradient x input for AtP and IG)
    model: page.store.model, method: relevance ? res.tokenRelevance.rules : res.method,
    steps: !relevance && (res.method === 'ig' || res.method === 'ig-input') ? res.steps : 0,
    clean: page.store.tokens, corrupt: relevance ? null : page.store.corruptTokens, answer: page.store.query.answer,
    wrong: page.store.metric === 'logit_diff' ? page.store.query.wrong : null, metric: page.store.metric,
    metric_clean: page.store.mClean, metric_corrupt: page.store.mCorrupt, n_prompts: 1, p_answer: page.store.pred.pAnswer, rank: page.store.pred.rank,
    r: !relevance && withR && page.store.ap ? { resid: r.resid, attn: r.attn, mlp: r.mlp, heads: r.head } : {},
    relevance, warnings: ws.map((w) => w.text),
  };
}

// ---- fitting a figure to the column: the default layout, scaled down while its text stays >= MIN_TEXT px; else
// drawn again for the column's width (relp_figure_style.width: panels stacked, smaller cells) and scaled the same
// way; only what is still too wide then scrolls, with a scrollbar that always shows and a note that says so
export const FONT_PX = 11.6, MIN_TEXT = 10, MIN_SCALE = MIN_TEXT / FONT_PX;
export function styleOf() { return { font: page.state.font, caption: page.state.caption, color_max: page.state.cmax }; }
function boxWidth() { const v = $('view'); return Math.max(0, Math.floor((v.clientWidth || v.getBoundingClientRect().width || 0) - 2)); }
function boxHeight() { return embed() && !document.body.classList.contains('fit-width') ? Math.max(0, window.innerHeight - 44) : Infinity; }
function drawFitted(request) {
  const box = boxWidth(), st = styleOf();
  let req = { ...request, style: st }, f = page.figures.draw(req);
  const fits = (g) => box <= 0 || (g.width * MIN_SCALE <= box && g.height * MIN_SCALE <= boxHeight());
  if (!fits(f) && box > 0) {
    const req2 = { ...request, style: { ...st, width: box } }, g = page.figures.draw(req2);
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
  if (!svg || !page.current || !page.current.width) return;
  const s = Math.min(1, box > 0 ? box / page.current.width : 1, boxHeight() / page.current.height);
  const k = Math.max(MIN_SCALE, s);
  svg.style.width = `${Math.ceil(page.current.width * k)}px`;
  svg.style.height = 'auto';
  svg.dataset.scale = String(k);
  const wide = Math.ceil(page.current.width * k) > box + 0.5;
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
export function onResize() {
  clearTimeout(refitTimer);
  refitTimer = setTimeout(() => { const b = boxWidth(); if (b !== lastBox) { lastBox = b; render(); } else fitShown(); reportSize(); }, 60);
}

// The request (relp.h FIGURES) of the current view and its SVG, or a hint or HTML (the table) to show instead.
function figureFor(view) {
  if (circuits.isCircuitView(view)) {
    const c = circuits.figureFor(view);
    return c.request ? drawFitted(c.request) : c;
  }
  const f = page.state.set !== 'pair' ? datasetRequest(view) : requestFor(view);
  return f.request ? { ...f, ...drawFitted(f.request) } : f;
}
export const notRun = () => `${METHOD_TITLE[page.state.method]} has not been run on these prompts yet: press Run` +
  (page.store && Object.keys(page.store.est).length ? `, or choose ${Object.keys(page.store.est).map((m) => METHOD_TITLE[m]).join(' or ')} (computed) as the method` : '');
function requestFor(view) {
  const res = shown();
  if (view === 'rtable') return { hint: "<p class='hint'>The r table is of a data set: choose one under Data (the IOI demo set, Wang et al.'s distribution or JSONL pairs) and press Run.</p>" };
  if (!res) return { hint: page.store ? `<p class='hint'>${notRun()}. Results of ${Object.keys(page.store.est).map((m) => METHOD_TITLE[m]).join(', ')} are kept.</p>` : '' };
  const u = unitsNow(), units = u.units, r = rOf(res);
  const maps = (layout, node, est, ap, rr) => ({ request: { kind: 'maps', layout, n_layer: page.store.L, n_head: page.store.NH, n_kv_head: page.store.NKV,
    tokens: page.store.tokens, method: res.method, node, est: inUnits(est, u), ap: inUnits(ap, u) || null, r: rr, units, caption: captionOf(res) } });
  switch (view) {
    case 'heads': return maps('heads', 'head', res.est.head, page.store.ap && page.store.ap.head, r.head);
    case 'positions':
      if (page.state.ap && !page.store.apPos && page.apPosDeclined !== page.store.key) ensureApPos();
      return maps('head_positions', 'head', res.est.headPos, page.store.apPos, r.headPos);
    case 'tokens': {
      const tr = res.tokenRelevance;
      return { request: { kind: 'tokens', tokens: page.store.tokens, relevance: tr.values, rules: tr.rules,
        caption: captionOf(res, { relevance: { total: tr.total, value: tr.value } }) } };
    }
    case 'scatter': {
      if (!page.store.ap) return { hint: "<p class='hint'>The scatter plot needs activation patching: tick \"with AP\" and run.</p>" };
      const nodes = ['resid', 'attn', 'mlp', 'head'], of = (o) => Object.fromEntries(nodes.map((n) => [n, inUnits(o[n], u)]));
      return { request: { kind: 'scatter', method: res.method, est: of(res.est), ap: of(page.store.ap), r: Object.fromEntries(nodes.map((n) => [n, r[n]])), units, caption: captionOf(res) } };
    }
    case 'attention':
      if (!page.store.attention) { ensureAttention(); return { hint: "<p class='hint'>computing the attention patterns ...</p>" }; }
      return { request: attentionRequest({ layer: Math.min(page.state.layer, page.store.L - 1), head: Math.min(page.state.head, page.store.NH - 1), row: -1 }, res) };
    case 'table': return { html: tableHTML() };
    default: return maps('positions', page.state.node, res.est[page.state.node], page.store.ap && page.store.ap[page.state.node], r[page.state.node]);
  }
}
const attentionRequest = (focus, res, focusOnly = false) => {
  const a = page.store.attention;
  return { kind: 'attention', n_layer: a.L, n_head: a.NH, n_kv_head: a.NKV, tokens: a.tokens, corrupt_tokens: a.corruptTokens, clean: a.clean,
    corrupt: a.corrupt, focus, focus_only: focusOnly, caption: focusOnly ? null : captionOf(res, { withR: false }) };
};

// every node of every type, with every method computed so far and AP (in the maps' units)
export function tableRows() {
  const rows = [], { L, NH, T, tokens } = page.store, u = unitsNow();
  const methods = METHODS.filter((m) => page.store.est[m]);
  const add = (node, n, label) => {
    for (let i = 0; i < n; i++) {
      const layer = Math.floor(i / (n / L)), index = i % (n / L);
      const values = {};
      for (const m of methods) values[m] = page.store.est[m].est[node][i] * u.factor;
      rows.push({ node, layer, index, label: label(index), values, ap: page.store.ap ? page.store.ap[node][i] * u.factor : NaN });
    }
  };
  for (const node of ['resid', 'attn', 'mlp']) add(node, L * T, (t) => `${t} ${showToken(tokens[t])}`);
  add('head', L * NH, (h) => `head ${h}`);
  return { rows, methods };
}
function tableHTML() {
  const { rows, methods } = tableRows();
  const ks = [10, 30, 100, rows.length].filter((k, i, a) => k <= rows.length && a.indexOf(k) === i);
  const cols = [...methods, ...(page.store.ap ? ['ap'] : [])], n = rows.length, values = new Float32Array(cols.length * n);
  cols.forEach((m, k) => rows.forEach((r, i) => { values[k * n + i] = m === 'ap' ? r.ap : r.values[m]; }));
  const table = page.figures.draw({ kind: 'table', rows: { node: rows.map((r) => r.node), layer: rows.map((r) => r.layer), index: rows.map((r) => r.index),
    label: rows.map((r) => r.label) }, methods: cols, values, sort: page.state.sort, k: page.tableK }).svg;
  return `<div class='table-bar'><label>rows <select id='table-k'>${ks.map((k) => `<option value='${k}'${k === page.tableK ? ' selected' : ''}>${k === rows.length ? `all ${k}` : k}</option>`).join('')}</select></label> ` +
    `<span class='info'>Every method run on these prompts is a column, AP (the ground truth) first; switch the method and Run to add one.</span></div>` +
    `<div class='table-wrap'>${table}</div>`;
}

// what #view shows: page.current
export function render() {
  for (const b of document.querySelectorAll('[data-view]')) {
    b.classList.toggle('active', b.dataset.view === page.state.view);
    b.setAttribute('aria-pressed', String(b.dataset.view === page.state.view));
  }
  syncControls(page.state, ['node']);
  $('node').disabled = page.state.view !== 'maps';
  $('steps').disabled = !IG(page.state.method);
  $('method-about').textContent = `${METHOD_TITLE[page.state.method]}: ${METHOD_ABOUT[page.state.method]}`;
  const tableView = page.state.view === 'table', rtable = page.state.view === 'rtable' && page.state.set !== 'pair';
  $('export-csv').hidden = !(tableView || rtable);
  for (const id of ['export-png', 'export-svg', 'png-scale', 'embed']) $(id).hidden = tableView; // the node table exports as CSV
  $('readout').textContent = '';
  cursor = null;
  renderSteps();
  renderData();
  const out = $('view');
  circuits.renderBar(page.state.view);
  lastBox = boxWidth();
  if (!page.store && !page.dstore && !circuits.isCircuitView(page.state.view)) { out.innerHTML = ''; page.current = null; renderInfo(); renderCaption(); return; }
  page.current = figureFor(page.state.view);
  out.innerHTML = page.current.svg || page.current.html || page.current.hint || '';
  fitShown();
  renderInfo();
  renderStale();
  renderCaption();
  circuits.afterDraw(page.state.view);
}

// the caption as text beside the figure when it is not in it (the figure options' caption off)
function renderCaption() {
  const text = page.current && page.current.caption && !page.state.caption ? page.current.caption.trim() : '';
  $('caption-box').hidden = !text;
  $('caption-text').textContent = text;
}

// what the view shows needs a word: token relevance's rules and its conservation gap, AP per position not run
function renderNote() {
  const res = shown();
  let text = '';
  if (page.state.set === 'pair' && res && page.state.view === 'tokens') {
    const tr = res.tokenRelevance;
    text = tr.rules === 'grad'
      ? `AtP, IG and IG-input share this view: gradient x input of the clean prompt from one backward pass (the gradient's rules; IG's path integral is not taken here). `
      : `${METHOD_TITLE[res.method]}'s rules, one backward pass of the clean prompt. `;
    text += `The relevances sum to ${tr.total.toFixed(3)}, the metric is ${tr.value.toFixed(3)}: the conservation gap ${(tr.value - tr.total).toFixed(3)} is ` +
      'the part of the metric the rules pass to no token: to the biases of the attention and MLP layers and the layer norms, ' +
      (tr.rules === 'grad' ? 'and what the gradient of a non-linear model does not conserve.' : 'which the rules leave with them (conservation is exact only with the biases zeroed).');
  } else if (page.state.set === 'pair' && page.state.view === 'positions' && page.store && page.state.ap && !page.store.apPos && page.apPosDeclined === page.store.key) {
    text = 'Activation patching per head and position was not run (Not now). ';
  }
  $('view-note').textContent = text;
  $('view-note').hidden = !text;
  if (text && page.state.view === 'positions') {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'compute it';
    b.onclick = () => ensureApPos({ user: true });
    $('view-note').append(b);
  }
}

function renderInfo() {
  renderNote();
  if (page.state.set !== 'pair' && !circuits.isCircuitView(page.state.view)) { renderDatasetInfo(); return; }
  const res = shown();
  const ws = res && !circuits.isCircuitView(page.state.view) ? warningsOf(res) : [];
  $('science').replaceChildren(...ws.map((w) => { const d = document.createElement('div'); d.textContent = `Warning: ${w.text}.`; return d; }));
  $('science').hidden = !ws.length;
  if (!page.store || !res || circuits.isCircuitView(page.state.view)) { $('run-info').textContent = ''; return; }
  const p = page.store.pred, gap = page.store.mClean - page.store.mCorrupt, r = rOf(res), u = unitsNow();
  const tr = res.tokenRelevance, mt = METRIC_TITLE[page.store.metric] || 'logit difference';
  const apDone = page.store.ap && !Object.values(page.store.ap).some((a) => a.some((v) => Number.isNaN(v)));
  $('run-info').textContent = `${page.store.model}: p(${q(page.store.query.answer)}) = ${p.pAnswer.toFixed(3)}, rank ${p.rank} on the clean prompt; ` +
    `${mt} clean ${page.store.mClean.toFixed(3)}, corrupted ${page.store.mCorrupt.toFixed(3)}, gap ${gap.toFixed(3)}; ` +
    (u.units === 'metric' ? `scores in ${page.store.metric === 'logprob' ? 'nats' : 'logit units'} (the gap is too small or not positive to normalise by); ` : '') +
    `${METHOD_TITLE[res.method]} ${res.seconds.toFixed(2)} s on ${page.store.T} tokens, ${res.threads} thread${res.threads === 1 ? '' : 's'}` +
    (page.store.apSeconds !== undefined ? `; activation patching ${page.store.apSeconds.toFixed(2)} s, ${page.store.apThreads} thread${page.store.apThreads === 1 ? '' : 's'}` : '') +
    (apDone ? `; Pearson r with AP: ${['resid', 'attn', 'mlp', 'head'].map((n) => `${n} ${Number.isFinite(r[n]) ? r[n].toFixed(3) : 'n/a'}`).join(', ')}` : page.store.ap ? '; activation patching: filling in' : '') +
    `; token relevance (${tr.rules}): sum ${tr.total.toFixed(3)} of ${tr.value.toFixed(3)}, conservation gap ${(tr.value - tr.total).toFixed(3)}`;
}

// units of a batch's maps, as the pair's (unitsNow)
const batchUnits = (bt) => { const gap = bt.mClean - bt.mCorrupt; return gap >= MIN_GAP ? { units: 'share', factor: 1 } : gap === 0 ? { units: 'metric', factor: 1 } : { units: 'metric', factor: gap }; };
function datasetCaption(bt, method, b) {
  const res = page.dstore.res, p = page.dstore.prompts[bt.prompts[0]], r = page.dstore.r[method] || {};
  return { model: page.dstore.model, method, steps: IG(method) ? res.steps : 0, clean: bt.tokens, corrupt: bt.corruptTokens,
    answer: p.answer, wrong: res.metric === 'logit_diff' ? p.wrong : null, metric: res.metric, metric_clean: bt.mClean, metric_corrupt: bt.mCorrupt,
    n_prompts: bt.n, data: `${page.dstore.name}, batch ${b + 1} of ${res.nBatches} (${bt.n} prompts of ${bt.T} tokens)${page.dstore.done ? '' : ', still running'}`,
    r: page.dstore.done && method !== 'ap' ? { resid: r.resid, attn: r.attn, mlp: r.mlp, heads: r.head } : {}, warnings: (bt.warnings || []).map((w) => w.text) };
}
function datasetRequest(view) {
  // (a run of other data or methods is shown as it is, marked out of date: renderStale)
  if (!page.dstore) return { hint: "<p class='hint'>Press Run to run the data set: its mean maps (Layer x position, Heads) and its r table show here.</p>" };
  const res = page.dstore.res;
  if (view === 'rtable') {
    const ms = res.methods, nodes = data.NODE_TYPES;
    return { request: { kind: 'rtable', methods: ms, nodes, r: ms.flatMap((m) => nodes.map((n) => (Number.isFinite(page.dstore.r[m][n]) ? page.dstore.r[m][n] : null))),
      seconds: ms.map((m) => res.seconds[m]), steps: ms.some(IG) ? res.steps : 0, model: page.dstore.model,
      data: `${data.dataName(page.dstore.q)}${page.dstore.done ? '' : `, ${res.batches.length} of ${res.nBatches} batches so far`}`, metric: res.metric,
      n_prompts: res.nPrompts, n_batches: res.nBatches, warnings: [...new Set(res.batches.flatMap((b) => (b.warnings || []).map((w) => w.text)))] } };
  }
  if (view !== 'maps' && view !== 'heads')
    return { hint: "<p class='hint'>With a data set the page shows its mean maps (Layer x position, Heads) and its r table; this view is of one prompt pair: choose \"the prompt pair above\" under Data.</p>" };
  const b = Math.min(page.state.batch, res.batches.length - 1), bt = res.batches[b];
  if (!bt) return { hint: "<p class='hint'>computing the first batch ...</p>" };
  const m = res.methods.includes(page.state.method) ? page.state.method : null;
  if (!m) return { hint: `<p class='hint'>${METHOD_TITLE[page.state.method]} was not among the data set's methods: choose ${res.methods.map((x) => METHOD_TITLE[x]).join(' or ')} as the method, or tick it under Data and Run.</p>` };
  const u = batchUnits(bt), est = bt.scores[m], ap = bt.scores.ap, node = view === 'heads' ? 'head' : page.state.node;
  return { request: { kind: 'maps', layout: view === 'heads' ? 'heads' : 'positions', n_layer: res.L, n_head: res.NH, n_kv_head: res.NKV, tokens: bt.tokens,
    method: m, node, est: inUnits(est[node], u), ap: ap ? inUnits(ap[node], u) : null, r: ap ? pearson(est[node], ap[node]) : NaN, units: u.units,
    caption: datasetCaption(bt, m, b) } };
}
function renderDatasetInfo() {
  const ws = page.dstore ? [...new Set(page.dstore.res.batches.flatMap((b) => (b.warnings || []).map((w) => w.text)))] : [];
  $('science').replaceChildren(...ws.map((w) => { const d = document.createElement('div'); d.textContent = `Warning: ${w}.`; return d; }));
  $('science').hidden = !ws.length;
  if (!page.dstore) { $('run-info').textContent = ''; return; }
  const res = page.dstore.res;
  $('run-info').textContent = `${page.dstore.model}: ${page.dstore.name}: ${res.nPrompts} prompts in ${res.nBatches} batch${res.nBatches === 1 ? '' : 'es'} of equal length` +
    `${page.dstore.done ? '' : ` (${res.batches.length} done)`}; ` + [...res.methods, 'ap'].map((m) => `${m === 'ap' ? 'AP' : METHOD_TITLE[m]} ${res.seconds[m].toFixed(2)} s`).join(', ') +
    (res.skipped.length ? `; ${res.skipped.length} pairs left out` : '');
}
// the Data section and the batch bar, from the state
function renderData() {
  const ds = page.state.set !== 'pair';
  syncControls(page.state, ['set', 'methods']);
  $('ds-wang').hidden = page.state.set !== 'wang';
  $('ds-jsonl').hidden = page.state.set !== 'jsonl';
  $('ds-methods-row').hidden = !ds;
  if (page.state.set === 'jsonl') {
    const { pairs, problems } = data.parseJsonl($('jsonl').value);
    $('ds-info').textContent = $('jsonl').value.trim() ? `${pairs.length} pair${pairs.length === 1 ? '' : 's'} read${page.jsonlName ? ` from ${page.jsonlName}` : ''}` +
      (problems.length ? `; ${problems.length} line${problems.length === 1 ? '' : 's'} not: ${problems.slice(0, 2).join('; ')}` : '') : '';
  } else $('ds-info').textContent = ds ? `Run covers the data set: the ticked methods and AP on every prompt, in batches of equal token length (at most 64), as relp ioi runs them.` : '';
  const bars = ds && page.dstore && ['maps', 'heads'].includes(page.state.view) && page.dstore.res.batches.length > 0;
  $('batch-bar').hidden = !bars;
  if (bars) {
    const bs = page.dstore.res.batches;
    $('batch').replaceChildren(...bs.map((b, i) => Object.assign(document.createElement('option'), { value: String(i), textContent: `${i + 1} of ${page.dstore.res.nBatches}: ${b.n} prompts of ${b.T} tokens` })));
    $('batch').value = String(Math.min(page.state.batch, bs.length - 1));
    $('batch-info').textContent = 'the mean of the batch\'s prompts (the core\'s scores of their mean metric); the first prompt\'s tokens label the columns';
  }
}
// IG's steps field: what is wrong with it, said under it
export function renderSteps() {
  const sp = stepsProblem();
  $('steps-problem').textContent = sp ? `${sp}.` : '';
  $('steps-problem').hidden = !sp;
  $('steps').setAttribute('aria-invalid', sp ? 'true' : 'false');
  setPhase(page.phase);
}

export function renderStale() {
  const el = $('stale');
  if (page.state.set !== 'pair' && !circuits.isCircuitView(page.state.view)) {
    const stale = !!page.dstore && page.dstore.key !== datasetKey();
    el.hidden = !stale;
    $('view').classList.toggle('stale', stale);
    if (stale) el.textContent = `Out of date: this figure shows the last run of ${page.dstore.name} (methods ${page.dstore.res.methods.join(', ')}, metric ${page.dstore.res.metric}). ` +
      'The data or the methods have changed since: press Run to update it. Export and Embed use the figure as shown.';
    return;
  }
  if (circuits.isCircuitView(page.state.view)) {
    const stale = circuits.stale(page.state.view);
    el.hidden = !stale;
    $('view').classList.toggle('stale', stale);
    if (stale) el.textContent = 'Out of date: this figure shows the last run, for other inputs (model, SAEs, data, node set, method or steps). Press Run to update it; Export and Embed use the figure as shown.';
    return;
  }
  const stale = isStale();
  el.hidden = !stale;
  $('view').classList.toggle('stale', stale);
  if (stale) {
    const m = page.store.model !== (page.loaded ? page.loaded.label : '') ? ` (computed with ${page.store.model})` : '';
    el.textContent = `Out of date: this figure shows the last run${m}, of ${q(page.store.query.clean)} vs ${q(page.store.query.corrupt)}, answer ${q(page.store.query.answer)}, wrong ${q(page.store.query.wrong)}. ` +
      'The inputs have changed since: press Run to update it. Export and Embed use the figure as shown.';
  }
}

// ---------------------------------------------------------------- hover readout and keyboard
let cursor = null;    // { kind, r, c }: the keyboard's cell
let hovered = null;   // { kind, r, c }: the cell under the pointer, where the keyboard starts
const shownTokens = () => (page.current && page.current.request && page.current.request.tokens) || (page.store ? page.store.tokens : []);
function describe(el) {
  const d = el.dataset;
  const res = shown();
  const toks = shownTokens(), tok = (i) => `${i} ${q(toks[i])}`, method = page.current && page.current.request && page.current.request.method ? page.current.request.method : page.state.method;
  if (el.matches('.pt')) { // a scatter point: its node by layer and position (or head), as the maps name it
    const i = +d.i, T = toks.length, NH = page.store ? page.store.NH : 1;
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
      if (!res && page.state.set === 'pair') return fmt(v);
      const view = page.state.view, NH = page.store ? page.store.NH : page.dstore ? page.dstore.res.NH : 1;
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
export function onViewPointer(ev) {
  const c = circuits.isCircuitView(page.state.view) && ev.target.closest && ev.target.closest('g.node, path.edge');
  if (c && circuits.onPointer(c)) return;
  const el = ev.target.closest && ev.target.closest('.cell, .pt, g.mini, td.v');
  if (page.state.view === 'attention' && previewing && (!el || !el.matches('g.mini'))) { previewing = false; focusHead(page.state.layer, page.state.head, -1); }
  if (!el) return;
  if (el.matches('.cell') && el.dataset.kind !== 'token') hovered = { kind: el.dataset.kind, r: +el.dataset.r, c: +el.dataset.c };
  if (el.matches('g.mini') && page.state.view === 'attention') {
    if (previewFrom) return; // the pointer has not moved since the view was drawn under it
    previewing = true;
    $('readout').textContent = describe(el);
    focusHead(+el.dataset.layer, +el.dataset.head, -1, { choose: false });
    return;
  }
  $('readout').textContent = describe(el);
  if (el.matches('.cell') && /^focus/.test(el.dataset.kind)) focusHead(page.state.layer, page.state.head, +el.dataset.r);
}
export function onViewMove(ev) {
  if (previewFrom && Math.hypot(ev.clientX - previewFrom.x, ev.clientY - previewFrom.y) > 6) { previewFrom = null; onViewPointer(ev); }
}
// draws a head large; choose: it becomes the state's head (the URL's), else a preview
function focusHead(layer, head, row, { choose = true } = {}) {
  if (!page.store || !page.store.attention) return;
  const changed = choose && (layer !== page.state.layer || head !== page.state.head);
  if (choose) { page.state.layer = layer; page.state.head = head; }
  const g = $('view').querySelector('g.focus');
  if (!g) return;
  g.innerHTML = page.figures.draw({ ...attentionRequest({ layer, head, row }, null, true), style: page.current && page.current.request ? page.current.request.style : styleOf() }).svg;
  for (const m of $('view').querySelectorAll('g.mini > rect:first-of-type')) {
    const on = +m.parentNode.dataset.layer === layer && +m.parentNode.dataset.head === head;
    m.setAttribute('stroke', on ? '#111111' : '#cccccc');
    m.setAttribute('stroke-width', on ? '2' : '0.5');
  }
  if (changed) saveState();
}
export function onViewClick(ev) {
  const n = circuits.isCircuitView(page.state.view) && ev.target.closest && ev.target.closest('g.node, path.edge');
  if (n) { circuits.onClick(n); return; }
  const b = ev.target.closest && ev.target.closest('button[data-sort]');
  if (b) { setView({ sort: b.dataset.sort }); return; }
  const m = ev.target.closest && ev.target.closest('g.mini');
  if (m && page.state.view === 'attention') { previewing = false; focusHead(+m.dataset.layer, +m.dataset.head, -1); return; }
  const c = ev.target.closest && ev.target.closest('.cell');
  if (c && page.state.view === 'heads' && page.state.set === 'pair') {
    previewFrom = { x: ev.clientX, y: ev.clientY };
    setView({ view: 'attention', layer: +c.dataset.r, head: +c.dataset.c });
  }
}
export function onViewKey(ev) {
  if (page.state.view === 'attention' && page.store && page.store.attention) {
    const d = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[ev.key];
    if (!d) return;
    ev.preventDefault();
    const l = Math.max(0, Math.min(page.store.L - 1, page.state.layer + d[0])), h = Math.max(0, Math.min(page.store.NH - 1, page.state.head + d[1]));
    focusHead(l, h, -1);
    $('readout').textContent = `layer ${l} head ${h}: shown large below`;
    return;
  }
  const cells = [...$('view').querySelectorAll('.cell')];
  if (!cells.length) return;
  const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  if (ev.key === 'Enter' && cursor && page.state.view === 'heads' && page.state.set === 'pair') {
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

export function setView(patch) {
  if (patch.view && patch.view !== page.state.view) hovered = null;
  Object.assign(page.state, patch);
  render();
  saveState();
  circuits.lazy(page.state.view);
}

// The method menu, from the core's tables: each method by its title, and under the menu what the
// chosen one computes: a RelP preset's rules (the core's words: relp_rules_describe), else the kind
// of method. The menu stays narrow enough for the panel; the line wraps.
export const METHOD_ABOUT = (() => {
  const preset = Object.fromEntries(NAMES.presets.map((p) => [p.name, p]));
  const kind = ['', 'gradient', 'integrated gradients per layer', 'integrated gradients along the input path']; // enum relp_method
  return Object.fromEntries(METHODS.map((name) => {
    const m = NAMES.methods.find((x) => x.name === name);
    return [name, preset[m.rules] && m.rules !== 'grad' ? preset[m.rules].describe : kind[m.method]];
  }));
})();
