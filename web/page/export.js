// page/export.js - the figure shown as SVG, PNG, CSV and JSON, the state it was computed with, and the embed
// snippets (iframe, <relp-view>, static); an embed's size report to its parent.
import { encodeState } from '../state.js';
import { METHOD_TITLE } from '../constants.mjs';
import * as data from '../dataset.js';
import * as circuits from '../circuits.js';
import { $, page, say, q, embed } from './shared.js';
import { shown, unitsNow, inUnits, rOf, isStale } from './run.js';
import { notRun, tableRows, warningsOf, styleOf, MIN_SCALE } from './view.js';

// ---------------------------------------------------------------- export
function currentSVG() { return $('view').querySelector('svg'); }
export function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
export function fileStem() { return `relp-${page.state.view === 'maps' ? page.state.node : page.state.view}-${page.state.view === 'rtable' ? page.state.set : page.state.method}${page.state.set !== 'pair' && page.state.view !== 'rtable' ? `-${page.state.set}` : ''}`; }
// why there is nothing to export: the method shown was not run (and which were), or nothing has run yet
export function nothingToExport() {
  if (page.state.set === 'pair' && page.store && !shown() && !circuits.isCircuitView(page.state.view)) return `${notRun()}; Export takes the figure shown`;
  return 'nothing to export yet: run a method and show a figure first';
}
export function svgString() { return page.current && page.current.svg ? page.current.svg : ''; }

// PNG at `scale` times the SVG's size: the figure shown, rasterised by the same C code as the CLI's --png
export async function pngBlob(scale = Number($('png-scale').value) || 2) {
  if (!page.current || !page.current.request) throw new Error(nothingToExport());
  if (page.current.request.style && page.current.request.style.font === 'sans') return sansPng(scale); // the core's PNG font is monospace
  return new Blob([page.figures.png(page.current.request, scale)], { type: 'image/png' });
}
// a sans-serif figure's PNG: the SVG rasterised by the browser (the core's rasteriser has one bitmap font, monospace)
async function sansPng(scale) {
  const img = new Image();
  img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(page.current.svg)}`;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = page.current.width * scale;
  c.height = page.current.height * scale;
  const g = c.getContext('2d');
  g.scale(scale, scale);
  g.drawImage(img, 0, 0, page.current.width, page.current.height);
  return new Promise((res, rej) => c.toBlob((b) => (b ? res(b) : rej(new Error('the browser could not write the PNG'))), 'image/png'));
}
export function csvString() {
  if (page.state.view === 'rtable' && page.dstore) return data.csv(page.dstore.res, page.dstore.r);
  const { rows, methods } = tableRows();
  const cols = [...methods, ...(page.store.ap ? ['ap'] : [])];
  const cell = (v) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [['node', 'layer', 'position_or_head', 'label', ...cols].join(','),
    ...rows.map((r) => [r.node, r.layer, r.index, cell(r.label), ...cols.map((m) => (m === 'ap' ? r.ap : r.values[m]))].join(','))].join('\n') + '\n';
}

// the state of the figure shown: the prompts and model it was computed with, not the inputs typed since
const sourceLink = (m) => (!m || m.source.kind === 'files' ? null : { model: m.source.kind === 'bundled' ? m.source.name : '', url: m.source.url || '', f16: !!m.askedF16 });
export function shownState() {
  if (circuits.isCircuitView(page.state.view)) {
    const c = circuits.shownStateOf(page.state.view), src = sourceLink(page.loaded);
    return c && src ? { ...page.state, ...src, ...c, embed: true } : null;
  }
  if (page.state.set !== 'pair') { // a data set: the live embed runs it again (JSONL pasted in the page cannot travel in a link)
    const src = sourceLink(page.loaded);
    return page.dstore && src && page.state.set !== 'jsonl' ? { ...page.state, ...src, metric: page.dstore.res.metric, methods: page.dstore.res.methods, embed: true } : null;
  }
  if (!page.store || !page.store.source) return null;
  const res = shown();
  return { ...page.state, ...page.store.source, ...page.store.query, steps: res ? res.steps : page.state.steps, ap: !!page.store.ap, metric: page.store.metric, embed: true };
}

export function resultsJSON() {
  if (circuits.isCircuitView(page.state.view)) {
    const c = circuits.resultsOf(page.state.view), s = shownState();
    return c ? { relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: page.loaded ? page.loaded.label : '', ...c } : null;
  }
  if (page.state.set !== 'pair') {
    if (!page.dstore) return null;
    const s = shownState(), res = page.dstore.res;
    return { relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: page.dstore.model, view: page.state.view, data: page.dstore.name, metric: res.metric,
      methods: res.methods, prompts: res.nPrompts, batches: res.batches.map((b) => ({ T: b.T, n: b.n, metric: { clean: b.mClean, corrupt: b.mCorrupt } })),
      pearsonR: page.dstore.r, seconds: res.seconds, steps: res.steps, skipped: res.skipped };
  }
  const res = shown();
  if (!res) return null;
  const s = shownState(), u = unitsNow();
  const pick = (o, keys) => Object.fromEntries(keys.filter((k) => o && o[k]).map((k) => [k, Array.from(inUnits(o[k], u))]));
  return {
    relp: 1, state: s ? encodeState({ ...s, embed: false }) : null, model: page.store.model, view: page.state.view, node: page.state.node,
    method: res.method, steps: res.steps, units: u.units, metricName: page.store.metric, clean: page.store.query.clean, corrupt: page.store.query.corrupt,
    answer: page.store.query.answer, wrong: page.store.query.wrong, tokens: page.store.tokens, corruptTokens: page.store.corruptTokens, L: page.store.L, NH: page.store.NH, NKV: page.store.NKV,
    metric: { clean: page.store.mClean, corrupt: page.store.mCorrupt, gap: page.store.mClean - page.store.mCorrupt },
    prediction: { pAnswer: page.store.pred.pAnswer, rank: page.store.pred.rank, top: page.store.pred.top.map((t) => ({ piece: t.piece, prob: t.prob })) },
    pearsonR: rOf(res), warnings: warningsOf(res).map((w) => w.text),
    scores: { [res.method]: pick(res.est, ['resid', 'attn', 'mlp', 'head', 'headPos']), ...(page.store.ap ? { ap: pick({ ...page.store.ap, headPos: page.store.apPos }, ['resid', 'attn', 'mlp', 'head', 'headPos']) } : {}) },
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
  const title = `relp: ${circuits.isCircuitView(page.state.view) ? circuits.title(page.state.view) : METHOD_TITLE[page.state.method]} on ${page.store ? page.store.model : page.loaded ? page.loaded.label : ''}`;
  const json = JSON.stringify(resultsJSON()).replace(/</g, '\\u003c');
  const responsive = (v, w) => v.replace(/^<svg /, `<svg style='width:100%;max-width:${w}px;height:auto;display:block' `);
  // for a narrow column (a phone): the figure laid out for NARROW px, where the wide one would scale below readable
  const NARROW = 360, narrow = page.current && page.current.request && page.current.request.kind !== 'table' ? page.figures.draw({ ...page.current.request, style: { ...styleOf(), width: NARROW } }) : null;
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

export function refreshEmbedCode() {
  const base = $('embed-base').value.trim() || pageBase();
  const note = $('embed-host-note');
  note.hidden = !isLoopback(base);
  note.textContent = `${new URL(base, location.href).host} is this machine: only you can open these URLs. Publish the folder and type its URL above; the snippets follow.`;
  const kind = document.querySelector('input[name="embed-kind"]:checked').value;
  const sn = embedSnippets(base);
  $('embed-code').value = sn[kind] || 'A live embed needs a model that readers can download: this one was opened from disk. Use the static embed, or load the model from a URL.';
}

export function showEmbed() {
  const cv = circuits.isCircuitView(page.state.view);
  if (!svgString()) { say('run', nothingToExport().replace(/Export/, 'Embed'), 'warn'); return; }
  $('embed-what').textContent = cv ? `The figure shown: the ${circuits.title(page.state.view)} on ${page.loaded ? page.loaded.label : ''}.` + (circuits.stale(page.state.view) ? ' The inputs have changed since it was computed; the embed shows the figure, not the new inputs.' : '')
    : page.state.set !== 'pair' ? `The figure shown: ${page.dstore ? page.dstore.name : ''} on ${page.dstore ? page.dstore.model : ''}.`
    : `The figure shown: ${METHOD_TITLE[page.state.method]} on ${page.store.model}, ${q(page.store.query.clean)}.` +
    (isStale() ? ' The inputs have changed since it was computed; the embed shows the figure, not the new inputs.' : '');
  if (!$('embed-base').value) $('embed-base').value = pageBase();
  refreshEmbedCode();
  $('embed-dialog').showModal();
}

export async function copy() {
  const t = $('embed-code').value;
  try { await navigator.clipboard.writeText(t); say('copy', 'copied to the clipboard'); setTimeout(() => say('copy', ''), 3000); } catch { $('embed-code').select(); document.execCommand('copy'); }
}

// an embed reports its height, so that <relp-view> can fit its iframe to it
export function reportSize() {
  if (!embed() || window.parent === window) return;
  const h = Math.ceil(document.documentElement.getBoundingClientRect().height);
  window.parent.postMessage({ relp: 'size', height: h, width: currentSVG() ? Number(currentSVG().getAttribute('width')) : 0 }, '*');
}
