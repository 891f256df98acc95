// circuits.js - the page's circuit views (issue 28): the circuit of a node set (SAE features with their error
// nodes, neurons, components) or of EAP-IG's edges, with a slider for its size and its faithfulness computed by
// the core at that size; and the faithfulness curves of RelP, AtP and IG (the paper's second experiment). Also
// the SAEs' loading controls, feature cards, the graph exports (EAP-IG's graph JSON; circuit-tracer's attribution
// graph JSON for node sets) and the circuit part of the URL state and embeds.
//
// Compute is the worker's (circuits_worker.js); figures are the C renderer's (relp_figure_circuit,
// relp_figure_curves); this file sends requests, keeps results keyed by everything they depend on, and adds
// interaction from the SVG's data attributes (hover: a node's score, AP and card; click: pin it). main.js hands
// it the page's machinery (init) and asks it for the circuit views' figures.
import { fmt, showToken } from './render.js';
import { NODESETS, NODE_ID, METHOD_TITLE } from './constants.mjs';

export const CIRCUIT_VIEWS = ['circuit', 'curves'];
export const SETS = [...NODESETS, 'edges'];
export const DATA = ['ioi', 'prompt'];
// the curves' circuit sizes (the CLI's --nodes of models-small/*/CIRCUITS.md) and methods (the paper's three)
export const CURVE_NODES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
export const CURVE_METHODS = { node: ['relp', 'atp', 'ig'], edges: ['relp', 'atp', 'ig-input'] };
const DEFAULT_SIZE = { features: 5000, neurons: 200, components: 20, edges: 20 };
const SHOWN = 40;      // nodes drawn at most (the circuit may be larger: its faithfulness is of all of it)
const SHOWN_EDGES = 60;
const SET_LABEL = { features: 'SAE features and error nodes', neurons: 'MLP neurons', components: 'attention heads and MLPs (per position)', edges: 'edges (EAP-IG\'s graph)' };
const q = JSON.stringify;

let P = null; // the page's machinery (init)
const $ = (id) => document.getElementById(id);
const results = new Map(); // key -> result (circuit, edges or curves)
let shown = { circuit: null, curves: null }; // the results drawn last, per view
let saes = null;      // { label, list, bytes, source } of the SAEs in the worker
let pass = null;      // calibration: seconds of one forward pass per token, measured
let sizeTimer = 0, sizeSeq = 0;
const extras = new Map(); // key -> { ap: Map(id -> effect), cards: Map(id -> card) }

export function init(page) {
  P = page;
  $('c-nodes').onchange = () => change({ nodes: $('c-nodes').value, size: 0, pin: '' });
  $('c-data').onchange = () => change({ data: $('c-data').value, pin: '' });
  $('c-size').oninput = () => onSlider();
  $('sae-load').onclick = () => { const url = $('sae-url').value.trim(); if (!url) P.say('load', 'type the URL of a set of SAEs (the SAELens layout) first', 'warn'); else loadSaes({ kind: 'url', url, label: url }); };
  $('sae-folder').onchange = () => { const files = [...$('sae-folder').files]; $('sae-folder').value = ''; if (files.length) loadSaes({ kind: 'files', files, label: (files[0].webkitRelativePath || files[0].name).split('/')[0] }); };
  $('export-graph').onclick = exportGraph;
}

export const isCircuitView = (v) => CIRCUIT_VIEWS.includes(v);
const st = () => P.state();
const setOf = () => st().nodes;
const curveMethods = () => (setOf() === 'edges' ? CURVE_METHODS.edges : CURVE_METHODS.node);

// ---------------------------------------------------------------- keys: what a result depends on
function dataQuery() {
  const s = st();
  return s.data === 'prompt' ? { data: 'prompt', clean: s.clean, corrupt: s.corrupt, answer: s.answer, wrong: s.wrong } : { data: 'ioi' };
}
function keyOf(view) {
  const m = P.loaded(), s = st();
  if (!m) return '';
  const set = s.nodes, methods = view === 'curves' ? curveMethods() : [s.method];
  const steps = methods.some((x) => x === 'ig' || x === 'ig-input') ? s.steps : 0;
  return q([view, m.label, m.f16, set === 'features' && saes ? saes.label : '', dataQuery(), set, methods, steps]);
}
export const stale = (view) => !!shown[view] && shown[view].key !== keyOf(view);
const currentResult = (view) => shown[view];

// ---------------------------------------------------------------- the SAEs
// after a model loads (in its loading phase): the bundled model's SAEs (models.json "saes"), or the set the user
// loaded before (a cancel restarts the worker, which loses them)
export async function afterModel(me, source) {
  const prev = saes;
  saes = null;
  results.clear();
  renderSaes();
  const entry = source.kind === 'bundled' ? P.manifest().models.find((x) => x.name === source.name) : null;
  const again = prev && prev.source && prev.source.kind !== 'bundled' && prev.model === source.label ? prev.source : null;
  const src = again || (entry && entry.saes ? { kind: 'bundled', model: source.name, folder: entry.saes, label: `${source.name}/${entry.saes}` } : null);
  if (!src) return;
  try {
    const r = await P.worker.request('saes', { source: src }, (d, t, what) => P.progress(me, d, t, what || 'SAEs'));
    saes = { ...r, source: src, model: source.label };
  } catch (e) {
    if (e.message !== 'cancelled') P.say('saes', `the SAEs of ${src.label} could not be loaded: ${e.message}`, 'error');
  }
  renderSaes();
}

async function loadSaes(source) {
  if (P.phase() !== 'idle' || !P.loaded()) { P.say('load', 'wait for the current run or cancel it first', 'warn'); return; }
  const me = P.begin('loading');
  P.say('saes', `loading SAEs from ${source.label} ...`);
  try {
    const r = await P.worker.request('saes', { source }, (d, t, what) => P.progress(me, d, t, what || 'SAEs'));
    saes = { ...r, source, model: P.loaded().label };
    for (const k of [...results.keys()]) if (k.includes('"features"')) results.delete(k);
    P.say('saes', '');
  } catch (e) {
    if (e.message !== 'cancelled') P.say('saes', `could not load SAEs from ${source.label}: ${e.message}${saes ? ` - still using ${saes.label}` : ''}`, 'error');
  } finally {
    P.end(me);
    renderSaes();
    P.render();
  }
}

function renderSaes() {
  const el = $('sae-info');
  if (!saes) { el.textContent = P.loaded() ? 'no SAEs loaded: neurons and components are always there' : ''; return; }
  const hooks = saes.list.map((x) => x.hook);
  const d = saes.list[0];
  el.textContent = `${saes.list.length} SAE${saes.list.length === 1 ? '' : 's'} from ${saes.label} (${d.arch}${d.k ? ` k=${d.k}` : ''}, d_sae ${d.dSae}), ` +
    `${(saes.bytes / 2 ** 20).toFixed(1)} MiB: ${hooks.length > 4 ? `${hooks.slice(0, 2).join(', ')}, ... ${hooks.at(-1)}` : hooks.join(', ')}`;
  el.title = hooks.join('\n');
}

// ---------------------------------------------------------------- costs, said before a long computation starts
// Work is counted in passes of the batch (a forward pass; a backward pass counts 2; a pass with SAEs spliced in
// counts 1 + their share of the arithmetic), timed per token from the runs before on this model (before any:
// from the FLOPs at 10 GFLOP/s a thread)
function flopsPerToken(set) {
  const i = P.loaded().info, tied = i.tiedEmbeddings ? 1 : 2;
  const body = Math.max(1e5, 2 * (i.nParams - tied * i.vocabSize * i.nEmbd));
  const sae = set === 'features' && saes ? saes.list.reduce((n, e) => n + 4 * e.dIn * e.dSae, 0) : 0;
  return { body, sae };
}
function perPassToken() {
  const m = P.loaded();
  if (pass && pass.model === m.label) return pass.seconds / Math.max(1, P.threads());
  return flopsPerToken('components').body / 10e9 / Math.max(1, P.threads());
}
function shape() { return st().data === 'ioi' ? [64, 16] : [1, Math.max(2, (P.checked() && P.checked().clean.length) || 12)]; }
function work(view, s = st()) {
  const L = P.loaded().info.nLayer, f = flopsPerToken(s.nodes), sae = 1 + f.sae / f.body;
  const hooks = s.nodes === 'features' ? (saes ? saes.list.length : 0) : s.nodes === 'neurons' ? L : 2 * L;
  const scores = (meth) => (meth === 'ig' ? s.steps * hooks : meth === 'ig-input' ? 3 * s.steps : 3) * (s.nodes === 'features' ? 1 + 0.2 * (sae - 1) : 1); // an IG step: about a forward pass (measured)
  if (view === 'curves') {
    const methods = curveMethods(), pts = s.nodes === 'edges' ? 8 : CURVE_NODES.length;
    const ablated = s.nodes === 'edges' ? pts * methods.length : 2 * pts * methods.length + 3;
    return { units: methods.reduce((n, x) => n + scores(x), 0) + ablated * (s.nodes === 'edges' ? 1 : sae),
             what: `${methods.map((x) => METHOD_TITLE[x]).join(', ')}: their scores${methods.includes('ig') ? ` (IG: ${s.steps} steps at each of ${hooks} hooks)` : ''}, then ${ablated} ablated forward passes` };
  }
  return { units: scores(s.method) + (s.nodes === 'edges' ? 2 : 5 * sae),
           what: `${METHOD_TITLE[s.method]} scores${s.method === 'ig' ? ` (${s.steps} steps at each of ${hooks} hooks)` : s.method === 'ig-input' ? ` (${s.steps} steps)` : ' (one backward pass)'} and the faithfulness` };
}
function cost(view) {
  if (!P.loaded()) return null;
  const [B, T] = shape(), w = work(view), seconds = w.units * B * T * perPassToken();
  const s = st(), long = seconds > 10 || view === 'curves' || s.method === 'ig' || s.method === 'ig-input'; // long: only on Run
  return { seconds, long, units: w.units, text: `${w.what}: about ${Math.round(w.units)} passes of ${B} x ${T} tokens, ${seconds < 1 ? 'under a second' : `about ${Math.round(seconds)} s`} here` };
}

// ---------------------------------------------------------------- running
function query(view) {
  const s = st();
  return { ...dataQuery(), key: keyOf(view), set: s.nodes, method: s.method, steps: s.steps, threads: P.threads(),
           size: sizeFor(s.nodes), ...(view === 'curves' ? { methods: curveMethods(), nodes: CURVE_NODES } : {}) };
}
function sizeFor(set, candidates = Infinity) {
  const s = st();
  return Math.max(1, Math.min(candidates, s.size || DEFAULT_SIZE[set]));
}

// Run (the page's Run button on a circuit view, or the view opening): computes what the view shows
export async function run(view = st().view) {
  if (P.phase() !== 'idle' || !P.loaded()) return;
  const key = keyOf(view);
  if (results.has(key)) { show(view, results.get(key)); return; }
  if (st().nodes === 'features' && !saes) { P.say('run', 'the feature node set needs SAEs: load a set (the SAELens layout) from a URL or a folder in the Model panel, or pick neurons, components or edges', 'warn'); P.render(); return; }
  const me = P.begin('running');
  P.say('run', '');
  const qy = query(view), c = cost(view);
  const type = view === 'curves' ? (qy.set === 'edges' ? 'edges' : 'curves') : qy.set === 'edges' ? 'edges' : 'circuit';
  const t0 = performance.now();
  try {
    let r;
    if (view === 'curves' && qy.set === 'edges') r = await edgeCurves(me, qy);
    else r = await P.worker.request(type, { query: qy }, (d, t, what) => P.progress(me, d, t, what));
    r.wall = (performance.now() - t0) / 1000;
    r.model = P.loaded().label;
    r.data = qy.data;
    r.query = qy;
    calibrate(r, c);
    results.set(qy.key, r);
    show(view, r);
  } catch (e) {
    if (e.message !== 'cancelled') P.say('run', e.message, 'error');
  } finally {
    P.end(me);
    P.render();
    again();
  }
}
// edge curves: each method's scores, then its circuits at the sizes that fit
async function edgeCurves(me, qy) {
  const curves = {};
  let base = null;
  for (const [i, method] of qy.methods.entries()) {
    const r = await P.worker.request('edges', { query: { ...qy, method, size: 1 } }, (d, t) => P.progress(me, i + d / t, qy.methods.length, `${method} edges`));
    base = base || r;
    const sizes = [...CURVE_NODES.filter((n) => n < r.candidates), r.candidates];
    const pts = [];
    for (const n of sizes) pts.push((await P.worker.request('edgesSize', { query: { ...qy, method, size: n } })).at);
    curves[method] = { size: sizes, kept: pts.map((p) => p.kept), faithfulness: pts.map((p) => p.faithfulness), completeness: pts.map(() => NaN), seconds: r.seconds, edges: sizes };
  }
  return { key: qy.key, set: 'edges', curves, candidates: base.candidates, B: base.B, T: base.T, what: base.what, tokens: base.tokens, threads: base.threads };
}
function calibrate(r, c) {
  if (!r.B || !r.T || !c || !(r.wall > 0.2)) return;
  pass = { model: P.loaded().label, seconds: (r.wall / (c.units * r.B * r.T)) * Math.max(1, P.threads()) };
}

function show(view, r) {
  shown[view] = r;
  if (view === 'circuit' && r.at) P.patchState({ size: r.at.size });
  P.render();
  P.saveState();
}

// the slider: log scale from 1 to the candidates; the faithfulness of the circuit at that size, live
function sliderToSize(v, n) { return Math.max(1, Math.min(n, Math.round(Math.exp((v / 1000) * Math.log(n))))); }
function sizeToSlider(s, n) { return n > 1 ? Math.round((1000 * Math.log(Math.max(1, s))) / Math.log(n)) : 0; }
function onSlider() {
  const r = shown.circuit;
  if (!r || stale('circuit')) return;
  const n = sliderToSize(Number($('c-size').value), r.candidates);
  $('c-size-n').textContent = `${n.toLocaleString('en')} of ${r.candidates.toLocaleString('en')}`;
  clearTimeout(sizeTimer);
  sizeTimer = setTimeout(() => resize(n), 60);
}
export async function resize(n) {
  const r = shown.circuit;
  if (!r || P.phase() !== 'idle') return;
  const seq = ++sizeSeq, qy = { ...r.query, size: n };
  try {
    const out = await P.worker.request(r.set === 'edges' ? 'edgesSize' : 'circuitSize', { query: qy });
    if (seq !== sizeSeq || shown.circuit !== r) return; // a newer size, or another circuit, since
    r.at = out.at;
    P.patchState({ size: n });
    P.render();
    P.saveState();
  } catch (e) {
    if (e.message !== 'cancelled') P.say('run', e.message, 'error');
  }
}

// the view opened or its inputs changed: show a kept result, or compute it when that is cheap
let pendingLazy = false; // an input changed while something ran: look again once it is done
function again() { if (pendingLazy && P.phase() === 'idle') { pendingLazy = false; lazy(st().view); } }
export function lazy(view) {
  if (!isCircuitView(view) || !P.loaded()) return;
  if (P.phase() !== 'idle') { pendingLazy = true; return; }
  const key = keyOf(view);
  if (results.has(key)) { if (shown[view] !== results.get(key)) show(view, results.get(key)); return; }
  const c = cost(view);
  if ((P.embed() || (c && !c.long)) && !(st().nodes === 'features' && !saes)) run(view);
}
function change(patch) {
  P.patchState(patch);
  P.say('run', '');
  P.render();
  P.saveState();
  lazy(st().view);
}

// ---------------------------------------------------------------- figures
const partOf = (h) => (h.node === NODE_ID.resid ? 'resid' : h.node === NODE_ID.attn || h.node === NODE_ID.head ? 'attn' : 'mlp');
function nodeName(r, n) {
  const h = r.hooks[n.hook];
  if (r.set === 'features') return n.unit < 0 ? `err@${n.position}` : `f${n.unit}@${n.position}`;
  if (r.set === 'neurons') return `n${n.unit}@${n.position}`;
  return h.node === NODE_ID.head ? `a${h.layer}.h${n.unit}@${n.position}` : `m${h.layer}@${n.position}`;
}
export const nodeId = (n) => `${n.hook}:${n.position}:${n.unit}`;

function circuitRequest(r) {
  const s = st(), m = r.model;
  if (r.set === 'edges') return edgeRequest(r);
  const n = r.at.size, drawn = r.top.slice(0, Math.min(n, SHOWN));
  const nodes = drawn.map((x) => {
    const h = r.hooks[x.hook];
    const kind = r.set === 'features' ? 'feature' : r.set === 'neurons' ? 'mlp' : h.node === NODE_ID.head ? 'head' : 'mlp';
    return { name: nodeName(r, x), layer: h.layer, column: x.position * 100000 + Math.max(0, x.unit), kind, hook: partOf(h), position: x.position, score: x.score };
  });
  const lines = [
    `model: ${m}; ${SET_LABEL[r.set]}: the circuit of the ${n.toLocaleString('en')} nodes of largest |${METHOD_TITLE[r.method]} score| of ${r.candidates.toLocaleString('en')}` +
      (drawn.length < n ? `, the ${drawn.length} largest drawn` : ''),
    `data: ${r.what}; metric: logit difference (answer - wrong), clean ${r.mClean.toFixed(3)}, corrupted ${r.mCorrupt.toFixed(3)}`,
    `faithfulness of this circuit F = ${r.at.faithfulness.toFixed(3)}, completeness ${r.at.completeness.toFixed(3)} (every other node mean-ablated; m(model) ${r.mFull.toFixed(3)}, m(none) ${r.mEmpty.toFixed(3)})`,
    `tokens: ${r.tokens.map((t, i) => `${i} ${showToken(t)}`).join(' | ')}`,
  ];
  return { kind: 'circuit', title: `${r.set === 'features' ? 'feature' : r.set === 'neurons' ? 'neuron' : 'component'} circuit (${METHOD_TITLE[r.method]})`, nodes, edges: [], lines, warnings: warningsOf(r) };
}

// the edge circuit as relp edges --svg draws it (cli/cmd_circuits.c draw_graph): the nodes with an in-graph edge,
// each filled by the sum of its in-graph edges' scores leaving it; the logits on top
function edgeGraph(r) {
  const g = r.graph, NH = g.cfg.n_heads, per = 3 * NH + 1, nd = g.nDown, inG = r.at.inGraph;
  const owner = (v) => { const l = Math.floor(v / per), k = v % per; return 1 + l * (NH + 1) + (k === 3 * NH ? NH : k % NH); };
  let list = [];
  for (let q2 = 0; q2 < g.edges.length; q2 += 2) { const u = g.edges[q2], v = g.edges[q2 + 1]; if (inG[u * nd + v]) list.push([u, v, r.scores[u * nd + v]]); }
  const kept = list.length;
  if (list.length > SHOWN_EDGES) list = list.slice().sort((a, b) => Math.abs(b[2]) - Math.abs(a[2]) || a[0] * nd + a[1] - (b[0] * nd + b[1])).slice(0, SHOWN_EDGES);
  const used = new Set();
  for (const [u, v] of list) { used.add(u); if (v < nd - 1) used.add(owner(v)); }
  const index = new Map(), nodes = [];
  for (let u = 0; u < g.nUp; u++) {
    if (!used.has(u)) continue;
    const l = u ? Math.floor((u - 1) / (NH + 1)) : -1, unit = u ? (u - 1) % (NH + 1) : 0;
    let sum = 0;
    for (const [a, , sc] of list) if (a === u) sum += sc;
    index.set(u, nodes.length);
    nodes.push({ name: g.up[u], layer: l, column: u === 0 || unit === NH ? 0 : unit, kind: u === 0 ? 'embed' : unit === NH ? 'mlp' : 'head', hook: 'resid', position: -1, score: sum, u });
  }
  let lsum = 0;
  for (const [, v, sc] of list) if (v === nd - 1) lsum += sc;
  const logits = nodes.length;
  nodes.push({ name: 'logits', layer: g.cfg.n_layers, column: 0, kind: 'logits', hook: 'resid', position: -1, score: lsum, u: -1 });
  const edges = list.map(([u, v, sc]) => ({ u: index.get(u), v: v === nd - 1 ? logits : index.get(owner(v)), score: sc, letter: v === nd - 1 || v % per === 3 * NH ? '' : 'qkv'[Math.floor((v % per) / NH)], e: [u, v] }));
  return { nodes, edges, kept };
}
function edgeRequest(r) {
  const { nodes, edges, kept } = edgeGraph(r);
  const lines = [
    `model: ${r.model}; ${METHOD_TITLE[r.method]} edges, the ${r.at.size} of largest |score| (${kept} after EAP-IG's pruning)${edges.length < kept ? `, the ${edges.length} largest drawn` : ''}`,
    `data: ${r.what}; metric: logit difference, clean ${r.at.mClean.toFixed(3)}, corrupted ${r.at.mCorrupt.toFixed(3)}`,
    `faithfulness of this circuit: ${r.at.faithfulness.toFixed(3)}`,
  ];
  return { kind: 'circuit', title: 'edge circuit', nodes: nodes.map(({ u, ...n }) => n), edges: edges.map(({ e, ...x }) => ({ ...x, letter: x.letter || null })), lines, warnings: warningsOf(r) };
}

function curvesRequest(r) {
  const series = Object.entries(r.curves).map(([method, c]) => ({ method, n_nodes: c.size, faithfulness: c.faithfulness,
    completeness: c.completeness.map((x) => (Number.isFinite(x) ? x : null)), seconds: c.seconds }));
  return { kind: 'curves', series, model: r.model, nodes: `${SET_LABEL[r.set]} (${r.candidates.toLocaleString('en')} candidates)`, data: r.what,
    metric: r.set === 'edges' ? 'logit difference (answer - wrong); edges out of the circuit read their corrupted values (EAP-IG)' : 'logit difference (answer - wrong), mean ablation',
    warnings: warningsOf(r) };
}

function warningsOf(r) {
  const w = [];
  if (r.mClean !== undefined && !(r.mClean - r.mCorrupt > 0)) w.push(`the logit difference is not larger on the clean prompts than on the corrupted ones (${r.mClean.toFixed(3)} vs ${r.mCorrupt.toFixed(3)}): the scores' units have no meaning`);
  return w;
}

// main.js's figure of a circuit view: { request, svg } or { hint }
export function figureFor(view) {
  const r = currentResult(view), c = cost(view);
  if (!r) {
    const need = st().nodes === 'features' && !saes ? ' The feature node set needs SAEs: load a set in the Model panel, or pick neurons, components or edges.' : '';
    return { hint: `<p class='hint'>${view === 'curves' ? 'Faithfulness curves' : 'The circuit'} of ${SET_LABEL[st().nodes]} on ${st().data === 'ioi' ? '64 IOI prompts' : 'the prompt pair'}: press Run.${need}${c ? ` It costs ${c.text}.` : ''}</p>` };
  }
  const request = view === 'curves' ? curvesRequest(r) : circuitRequest(r);
  return { request, svg: P.figures().draw(request).svg };
}

// ---------------------------------------------------------------- the bar above the figure, and the card below
export function renderBar(view) {
  const on = isCircuitView(view), bar = $('circuit-bar');
  bar.hidden = !on;
  $('export-graph').hidden = !(view === 'circuit' && shown.circuit);
  $('card').hidden = !on || !$('card').innerHTML;
  if (!on) return;
  const s = st();
  $('c-nodes').value = s.nodes;
  for (const o of $('c-nodes').options) if (o.value === 'features') o.textContent = `SAE features${saes ? '' : ' (no SAEs loaded)'}`;
  $('c-data').value = s.data;
  const r = shown.circuit, c = cost(view), fresh = view === 'circuit' && r && !stale('circuit');
  $('c-size-row').hidden = view !== 'circuit';
  if (fresh) {
    $('c-size').disabled = false;
    $('c-size').value = String(sizeToSlider(r.at.size, r.candidates));
    $('c-size-n').textContent = `${r.at.size.toLocaleString('en')} of ${r.candidates.toLocaleString('en')}`;
    $('c-faith').textContent = r.set === 'edges'
      ? `F = ${r.at.faithfulness.toFixed(3)} (${r.at.kept} edges after pruning)`
      : `F = ${r.at.faithfulness.toFixed(3)}, completeness ${r.at.completeness.toFixed(3)}`;
  } else {
    $('c-size').disabled = true;
    $('c-faith').textContent = '';
  }
  const rv = shown[view];
  $('c-cost').textContent = rv && !stale(view) ? timesOf(view, rv) : c ? `Run: ${c.text}` : '';
}
function timesOf(view, r) {
  if (view === 'curves') return `computed in ${r.wall.toFixed(1)} s on ${r.threads} thread${r.threads === 1 ? '' : 's'}: ` +
    Object.entries(r.curves).map(([m, c]) => `${METHOD_TITLE[m]} scores ${c.seconds.toFixed(2)} s${c.curveSeconds !== undefined ? ` + curve ${c.curveSeconds.toFixed(2)} s` : ''}`).join('; ');
  return `${METHOD_TITLE[r.method]} ${r.seconds.toFixed(2)} s on ${r.B} x ${r.T} tokens, ${r.threads} thread${r.threads === 1 ? '' : 's'}; the whole run ${r.wall.toFixed(1)} s`;
}

function extraOf(r) {
  if (!extras.has(r.key)) extras.set(r.key, { ap: new Map(), cards: new Map() });
  return extras.get(r.key);
}

// ---------------------------------------------------------------- hover, click, cards
// the node (or edge) under an SVG element of the circuit view
function target(el) {
  const r = shown.circuit;
  if (!r || st().view !== 'circuit') return null;
  if (el.matches('g.node')) {
    const i = Number(el.dataset.i);
    if (r.set === 'edges') return { kind: 'gnode', i, name: el.dataset.name, score: Number(el.dataset.score) };
    const drawn = r.top.slice(0, Math.min(r.at.size, SHOWN));
    return drawn[i] ? { kind: 'node', node: drawn[i], i } : null;
  }
  if (el.matches('path.edge') && r.set === 'edges') {
    const { edges } = edgeGraph(r);
    const e = edges.find((x) => x.u === Number(el.dataset.u) && x.v === Number(el.dataset.v) && (x.letter || '') === (el.dataset.letter || ''));
    return e ? { kind: 'edge', e: e.e, score: e.score, name: `${r.graph.up[e.e[0]]}->${r.graph.down[e.e[1]]}` } : null;
  }
  return null;
}
const idOf = (t) => (t.kind === 'node' ? nodeId(t.node) : t.kind === 'edge' ? t.name : t.name);

function describeNode(r, t) {
  const x = extraOf(r), id = idOf(t);
  if (t.kind === 'gnode') return `${t.name}: the sum of its in-graph edges' ${METHOD_TITLE[r.method]} scores ${fmt(t.score)}`;
  if (t.kind === 'edge') {
    const ap = x.ap.get(id);
    return `${t.name}: ${METHOD_TITLE[r.method]} ${fmt(t.score)}; AP ${ap === undefined ? 'not computed (click the edge)' : fmt(ap)}`;
  }
  const n = t.node, h = r.hooks[n.hook], ap = x.ap.get(id), card = x.cards.get(id);
  const where = `${h.name} ${n.unit < 0 ? 'error node' : r.set === 'features' ? `feature ${n.unit}` : r.set === 'neurons' ? `neuron ${n.unit}` : h.node === NODE_ID.head ? `head ${n.unit}` : 'MLP'}` +
    ` at position ${n.position} ${q(r.tokens[n.position])}`;
  const others = Object.entries(r.byMethod || {}).filter(([m]) => m !== r.method).map(([m, v]) => `${METHOD_TITLE[m]} ${fmt(v[t.i] ?? NaN)}`);
  return `${where}: ${METHOD_TITLE[r.method]} ${fmt(n.score)}${others.length ? `, ${others.join(', ')}` : ''}; AP ${ap === undefined ? 'not computed (click to pin)' : fmt(ap)}` +
    (card ? `; fires on ${card.fired} of ${card.tokens} tokens${card.top[0] ? `, most on ${q(card.top[0].token)}` : ''}; promotes ${card.promoted.slice(0, 3).map((p) => q(p.piece)).join(' ')}` : '');
}

export function onPointer(el) {
  const t = target(el);
  if (!t) return false;
  $('readout').textContent = describeNode(shown.circuit, t);
  return true;
}

export async function onClick(el) {
  const t = target(el);
  if (!t) return false;
  const r = shown.circuit, id = idOf(t);
  P.patchState({ pin: id });
  markPin();
  P.saveState();
  $('readout').textContent = describeNode(r, t);
  await pinned(r, t);
  return true;
}

function markPin() {
  const pin = st().pin;
  for (const g of document.querySelectorAll('#view g.node, #view path.edge')) {
    const t = target(g);
    g.classList.toggle('pinned', !!t && idOf(t) === pin);
  }
}

// the pinned node's AP (one exact patch) and card, computed once
async function pinned(r, t) {
  const x = extraOf(r), id = idOf(t);
  if (P.phase() !== 'idle') return;
  const me = P.begin('running');
  try {
    if (t.kind === 'edge' && !x.ap.has(id)) x.ap.set(id, (await P.worker.request('patch', { query: { ...r.query, set: 'edges', edges: [t.e] } })).effects[0]);
    if (t.kind === 'node' && !x.ap.has(id)) x.ap.set(id, (await P.worker.request('patch', { query: { ...r.query, nodes: [t.node] } },
      (d, tt) => P.progress(me, d, tt, 'exact patching'))).effects[0]);
    if (t.kind === 'node' && t.node.unit >= 0 && (r.set === 'features' || r.set === 'neurons') && !x.cards.has(id))
      x.cards.set(id, await P.worker.request('card', { query: { ...r.query, hook: t.node.hook, unit: t.node.unit, position: t.node.position } }));
  } catch (e) {
    if (e.message !== 'cancelled') P.say('run', e.message, 'error');
  } finally { P.end(me); }
  again();
  if (shown.circuit !== r) return;
  $('readout').textContent = describeNode(r, t);
  renderCard(r, t);
}

function renderCard(r, t) {
  const el = $('card'), x = extraOf(r), id = idOf(t);
  if (t.kind !== 'node') { el.innerHTML = ''; el.hidden = true; return; }
  const n = t.node, h = r.hooks[n.hook], card = x.cards.get(id), ap = x.ap.get(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const tok = (s) => `<span class='tok'>${esc(showToken(s))}</span>`;
  const scores = [[METHOD_TITLE[r.method], n.score], ...Object.entries(card ? card.byMethod : r.byMethod || {}).filter(([m]) => m !== r.method)
    .map(([m, v]) => [METHOD_TITLE[m], card ? v[0] : v[t.i]]), ['AP (exact patching)', ap]];
  let html = `<h3>${esc(h.name)} ${n.unit < 0 ? 'error node' : r.set === 'features' ? `feature ${n.unit}` : r.set === 'neurons' ? `neuron ${n.unit}` : h.node === NODE_ID.head ? `head ${n.unit}` : 'MLP'}` +
    ` at position ${n.position} ${tok(r.tokens[n.position])}</h3>` +
    `<p class='card-scores'>${scores.map(([k, v]) => `${esc(k)} <b>${v === undefined ? 'n/a' : fmt(v)}</b>`).join(' &middot; ')}</p>`;
  if (card) {
    html += `<p>Fires on ${card.fired} of ${card.tokens} tokens of the ${r.data === 'ioi' ? 'IOI prompts' : 'prompt'}; most strongly:</p><ol class='card-top'>` +
      card.top.map((c) => `<li>${c.before.map((s) => esc(showToken(s))).join('')}<mark>${esc(showToken(c.token))}</mark>${c.after.map((s) => esc(showToken(s))).join('')} <span class='info'>${fmt(c.value)}</span></li>`).join('') + '</ol>' +
      `<p>Its output direction through the unembedding promotes ${card.promoted.map((p) => `${tok(p.piece)} <span class='info'>${fmt(p.value)}</span>`).join(' ')}</p>` +
      `<p>and suppresses ${card.suppressed.map((p) => `${tok(p.piece)} <span class='info'>${fmt(p.value)}</span>`).join(' ')}</p>`;
  } else if (r.set === 'components') {
    html += '<p class="info">A head or an MLP writes no single direction: cards are for SAE features and neurons.</p>';
  } else if (n.unit < 0) {
    html += '<p class="info">The error node is what the SAE does not reconstruct at this hook and position: it has no direction of its own.</p>';
  }
  el.innerHTML = `<div class='card'>${html}</div>`;
  el.hidden = false;
}

// after a draw: the pin's mark, and its card (a pin from a link is computed once the circuit is there)
export function afterDraw(view) {
  if (view !== 'circuit' || !shown.circuit || stale('circuit')) { $('card').innerHTML = ''; $('card').hidden = true; return; }
  markPin();
  const pin = st().pin;
  if (!pin) { $('card').innerHTML = ''; $('card').hidden = true; return; }
  const el = [...document.querySelectorAll('#view g.node, #view path.edge')].find((g) => { const t = target(g); return t && idOf(t) === pin; });
  const t = el && target(el);
  if (!t) { $('card').innerHTML = ''; $('card').hidden = true; return; }
  const x = extraOf(shown.circuit);
  if (x.ap.has(pin) && (t.kind !== 'node' || x.cards.has(pin) || t.node.unit < 0 || shown.circuit.set === 'components')) renderCard(shown.circuit, t);
  else if (P.phase() === 'idle') setTimeout(() => pinned(shown.circuit, t), 0);
}

// ---------------------------------------------------------------- exports
// EAP-IG's graph JSON (relp edges --json: cfg, nodes, edges, in EAP-IG's order, and relp's extra keys), or, for a
// node set, the attribution-graph JSON circuit-tracer and Neuronpedia read
export function graphJSON() {
  const r = shown.circuit;
  if (!r) return null;
  return r.set === 'edges' ? eapGraph(r) : attributionGraph(r);
}
const num7 = (v) => (Number.isFinite(v) ? Number(Number(v).toPrecision(7)) : null); // the CLI writes %.7g
function eapGraph(r) {
  const g = r.graph, nd = g.nDown, nodes = {}, edges = {};
  g.up.forEach((name, u) => { nodes[name] = { in_graph: !!r.at.nodeIn[u] }; });
  nodes.logits = { in_graph: true };
  for (let i = 0; i < g.edges.length; i += 2) {
    const u = g.edges[i], v = g.edges[i + 1];
    edges[`${g.up[u]}->${g.down[v]}`] = { score: num7(r.scores[u * nd + v]), in_graph: !!r.at.inGraph[u * nd + v] };
  }
  return { cfg: g.cfg, nodes, edges, method: r.method, direction: 'denoising', prompts: r.B, positions: r.T, metric_clean: num7(r.at.mClean),
           metric_corrupt: num7(r.at.mCorrupt), seconds: Number(r.seconds.toFixed(4)), ...(r.method === 'ig-input' ? { steps: r.steps } : {}), top: r.at.size,
           faithfulness: num7(r.at.faithfulness), metric_circuit: num7(r.at.metricCircuit) };
}
// circuit-tracer's frontend Model (graph_models.py: metadata, qParams, nodes, links). What maps: each SAE feature
// is a "cross layer transcoder" node, each error node an "mlp reconstruction error" node, with the hook's index in
// forward order as the layer (a layer of circuit-tracer holds one transcoder; relp's hooks are several per layer,
// named in metadata.transcoder_list); the prompt's tokens are "embedding" nodes; the answer is the target "logit"
// node. Links: node -> logit with the node's score as weight. What does not map: circuit-tracer's links are direct
// effects between all nodes; relp scores each node's total effect on the metric (the logit difference, not one
// logit), so the only links are to the logit node and there are no feature -> feature links.
function attributionGraph(r) {
  const L = r.hooks.length, n = r.at.size, nodes = [], links = [], tok = r.tokens, s = st();
  const logitLayer = String(L + 1), answer = r.query.data === 'prompt' ? r.query.answer : 'answer';
  tok.forEach((t, i) => nodes.push({ node_id: `E_${i}_${i}`, feature: i, layer: 'E', ctx_idx: i, feature_type: 'embedding', token_prob: 0,
    is_target_logit: false, run_idx: 0, reverse_ctx_idx: 0, jsNodeId: `E_${i}-${i}`, clerp: showToken(t), influence: null, activation: null }));
  const logitId = `${logitLayer}_0_${tok.length - 1}`;
  nodes.push({ node_id: logitId, feature: 0, layer: logitLayer, ctx_idx: tok.length - 1, feature_type: 'logit', token_prob: 0, is_target_logit: true,
    run_idx: 0, reverse_ctx_idx: 0, jsNodeId: `L_0-${tok.length - 1}`, clerp: `logit difference ${answer} - ${r.query.data === 'prompt' ? r.query.wrong : 'wrong'}`, influence: null, activation: null });
  const cantor = (x, y) => ((x + y) * (x + y + 1)) / 2 + y;
  for (const x of r.top.slice(0, Math.min(n, r.top.length))) {
    const h = r.hooks[x.hook], err = x.unit < 0;
    const id = err ? `${x.hook}_-1_${x.position}` : `${x.hook}_${x.unit}_${x.position}`;
    nodes.push({ node_id: id, feature: err ? -1 : cantor(x.hook, x.unit), layer: String(x.hook), ctx_idx: x.position,
      feature_type: err ? 'mlp reconstruction error' : 'cross layer transcoder', token_prob: 0, is_target_logit: false, run_idx: 0, reverse_ctx_idx: 0,
      jsNodeId: err ? `${x.hook}_-1-${x.position}` : `${x.hook}_${x.unit}-0`, clerp: `${h.name} ${nodeName(r, x)}`, influence: x.score, activation: null });
    links.push({ source: id, target: logitId, weight: x.score });
  }
  return {
    metadata: { slug: `relp-${r.model}-${r.set}-${r.method}`.replace(/[^\w-]/g, '-'), scan: r.model, transcoder_list: r.hooks.map((h) => h.name),
      prompt_tokens: tok, prompt: tok.join(''), node_threshold: null, schema_version: 1,
      relp: { node_set: r.set, method: r.method, data: r.what, circuit_nodes: n, circuit_nodes_exported: Math.min(n, r.top.length), candidates: r.candidates,
              faithfulness: r.at.faithfulness, completeness: r.at.completeness, m_full: r.mFull, m_empty: r.mEmpty,
              note: 'layer = the hook\'s index in transcoder_list; links are each node\'s total effect on the logit difference (its attribution score), not direct effects' } },
    qParams: { pinnedIds: s.pin ? [s.pin] : [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes, links,
  };
}
function exportGraph() {
  const j = graphJSON();
  if (!j) { P.say('run', 'nothing to export yet: run a circuit first', 'warn'); return; }
  const r = shown.circuit;
  P.download(new Blob([JSON.stringify(j, null, 1)], { type: 'application/json' }), `relp-${r.set === 'edges' ? 'edges' : `${r.set}-attribution-graph`}-${r.method}.json`);
}

// ---------------------------------------------------------------- embeds and the results JSON
export function shownStateOf(view) {
  const r = shown[view];
  if (!r) return null;
  const q2 = r.query;
  return { nodes: q2.set, data: q2.data, ...(q2.data === 'prompt' ? { clean: q2.clean, corrupt: q2.corrupt, answer: q2.answer, wrong: q2.wrong } : {}),
           method: view === 'circuit' ? q2.method : st().method, steps: q2.steps, size: view === 'circuit' ? r.at.size : 0 };
}
export function resultsOf(view) {
  const r = shown[view];
  if (!r) return null;
  if (view === 'curves') return { view, nodes: r.set, data: r.what, candidates: r.candidates, curves: Object.fromEntries(Object.entries(r.curves).map(([m, c]) => [m, { n_nodes: c.size, faithfulness: c.faithfulness, completeness: c.completeness, seconds: c.seconds }])) };
  return { view, nodes: r.set, method: r.method, data: r.what, size: r.at.size, candidates: r.candidates, faithfulness: r.at.faithfulness, completeness: r.at.completeness,
           graph: graphJSON() };
}
export const title = (view) => { const r = shown[view]; return r ? (view === 'curves' ? `faithfulness curves of ${r.set}` : `${METHOD_TITLE[r.method]} ${r.set} circuit`) : ''; };
// for tests and the console
export const debug = { get shown() { return shown; }, get saes() { return saes; }, results, graphJSON, cost, keyOf, resize };
