// state.js - the page's whole state as a URL fragment, and back.
//   #model=NAME&clean=...&corrupt=...&answer=%20Mary&wrong=%20John&method=relp&view=maps&node=mlp&ap=1
// model is a bundled model's name (models/models.json, read by setManifest
// before any state is parsed); url=... a checkpoint URL instead. The fragment
// never reaches a server. parseState never throws: it returns the state it
// could read plus a list of what was wrong, so a damaged link still opens the
// page with a readable message. One table (PROPS) says, for every property,
// its kind, its limits and when a link carries it.

import { NAMES, NODESETS } from './constants.mjs'; // the C core's name tables (generated at build time)

export const BUNDLED = [];  // bundled model names, from the manifest
// the page's methods: the core's RelP presets first (relp, the default), then AtP and the IG methods;
// AP is not a method to pick: it runs beside every estimate
export const METHODS = [...NAMES.methods.filter((m) => m.rules !== 'grad'), ...NAMES.methods.filter((m) => m.rules === 'grad' && m.name !== 'ap')]
  .map((m) => m.name);
export const VIEWS = ['maps', 'heads', 'positions', 'tokens', 'scatter', 'attention', 'table', 'rtable', 'circuit', 'curves'];
// the circuit views' node sets (the core's, and EAP-IG's edges) and data: the prompt pair, or 64 IOI prompts
export const CIRCUIT_SETS = [...NODESETS, 'edges'];
export const CIRCUIT_DATA = ['ioi', 'prompt'];
const circuitView = (s) => s.view === 'circuit' || s.view === 'curves';
export const NODE_VIEWS = ['resid', 'attn', 'mlp'];
export const SORTS = [...METHODS, 'ap'];
// the metrics (relp.h relp_metric_name: logit_diff, logprob, logit), the figures' fonts, and the data a Run covers:
// the prompt pair, or a data set of pairs (the official IOI demo set, Wang et al.'s distribution, pasted JSONL)
export const METRICS = NAMES.metrics.map((m) => m.name);
export const METRIC_TITLE = Object.fromEntries(NAMES.metrics.map((m) => [m.name, m.title]));
export const FONTS = NAMES.fonts; // the figures' fonts (enum relp_figure_font)
export const SETS = ['pair', 'demo', 'wang', 'jsonl'];
const MAX_TEXT = 4000; // characters of a prompt carried in a link

// name -> [kind, limits, carried(state), control]: kinds text, pick (one of a list), int [lo, hi], num [lo, hi] (a
// decimal), list (names of a list, comma-separated, none twice), flag (0/1), id (a node or edge); control: the id of
// the page's element that shows and sets it (bind.js reads and writes it by its kind: a text or pick is the element's
// value, a flag its checkbox, an int or num its number, a list the boxes ticked inside it)
const changed = (k) => (s) => JSON.stringify(s[k]) !== JSON.stringify(BASE[k]);
const PROPS = {
  f16: ['flag', null, (s) => s.f16, 'f16'],
  threads: ['int', [0, 64], (s) => s.threads !== 0, 'threads'], // 0: as many as the page can run (min(cores, 8) where isolated)
  clean: ['text', null, null, 'clean'], corrupt: ['text', null, null, 'corrupt'], answer: ['text', null, null, 'answer'], wrong: ['text', null, null, 'wrong'],
  method: ['pick', METHODS, null, 'method'],
  steps: ['int', [1, 1000], (s) => s.method === 'ig' || s.method === 'ig-input', 'steps'],
  ap: ['flag', null, null, 'with-ap'],
  view: ['pick', VIEWS],
  node: ['pick', NODE_VIEWS, null, 'node'],
  layer: ['int', [0, 1000], (s) => s.view === 'attention'],
  head: ['int', [0, 1000], (s) => s.view === 'attention'],
  sort: ['pick', SORTS, (s) => s.view === 'table'],
  nodes: ['pick', CIRCUIT_SETS, circuitView],
  data: ['pick', CIRCUIT_DATA, circuitView],
  size: ['int', [0, 999999], (s) => s.view === 'circuit' && s.size > 0], // 0: the node set's default
  pin: ['id', null, (s) => s.view === 'circuit' && !!s.pin],                // the pinned node or edge
  metric: ['pick', METRICS, changed('metric'), 'metric'],
  font: ['pick', FONTS, changed('font'), 'font'],               // the figures' font
  caption: ['flag', null, changed('caption'), 'caption-on'],    // 0: the caption beside the figure, not in it
  cmax: ['num', [0, 1000], changed('cmax'), 'cmax'],            // > 0: the maps' fixed colour scale, -cmax to cmax
  set: ['pick', SETS, changed('set'), 'set'],                   // the data a Run covers (pair: the prompts above)
  n: ['int', [1, 4096], changed('n'), 'ds-n'],                  // set=wang: how many prompts, and the generator's seed
  seed: ['int', [0, 999999], changed('seed'), 'ds-seed'],
  methods: ['list', SORTS.filter((m) => m !== 'ap'), changed('methods'), 'ds-methods'], // a data set's methods (AP always runs)
  batch: ['int', [0, 4096], changed('batch'), 'batch'],         // a data set's batch whose mean maps are shown
  embed: ['flag', null, (s) => s.embed],
};
// the properties the page shows in a control: name -> { id, kind, lim } (bind.js)
export const CONTROLS = Object.fromEntries(Object.entries(PROPS).filter(([, p]) => p[3]).map(([k, [kind, lim, , id]]) => [k, { id, kind, lim }]));

const BASE = { model: '', url: '', f16: false, threads: 0, clean: '', corrupt: '', answer: '', wrong: '', method: 'relp', steps: 10, ap: true,
  view: 'maps', node: 'mlp', layer: 0, head: 0, sort: 'ap', nodes: 'features', data: 'ioi', size: 0, pin: '',
  metric: 'logit_diff', font: 'mono', caption: true, cmax: 0, set: 'pair', n: 64, seed: 1, methods: ['relp', 'atp'], batch: 0, embed: false };
export let DEFAULT_STATE = Object.freeze({ ...BASE });
export let MANIFEST = { default: '', models: [] };

// The bundled models' manifest (models-small/models.json): the names a link
// may name, the default model, and each model's example prompts. The default
// state's prompts are the default model's first IOI example.
export function setManifest(m) {
  const models = (m && Array.isArray(m.models) ? m.models : []).filter((x) => x && typeof x.name === 'string' && /^[\w.-]{1,64}$/.test(x.name));
  MANIFEST = { default: m && models.some((x) => x.name === m.default) ? m.default : (models[0] ? models[0].name : ''), models };
  BUNDLED.splice(0, BUNDLED.length, ...models.map((x) => x.name));
  const ex = examplesOf(MANIFEST.default).find((e) => e.kind === 'ioi') || examplesOf(MANIFEST.default)[0] || {};
  DEFAULT_STATE = Object.freeze({ ...BASE, model: MANIFEST.default, clean: ex.clean || '', corrupt: ex.corrupt || '',
    answer: ex.answer || '', wrong: ex.wrong || '' });
}

// a model's example prompts [{ kind, clean, corrupt, answer, wrong }] (the default model's for models not in the manifest)
export function examplesOf(name) {
  const m = MANIFEST.models.find((x) => x.name === name) || MANIFEST.models.find((x) => x.name === MANIFEST.default);
  return m && Array.isArray(m.examples) ? m.examples.filter((e) => e && ['clean', 'corrupt', 'answer', 'wrong'].every((k) => typeof e[k] === 'string')) : [];
}

export function encodeState(s) {
  const p = new URLSearchParams();
  if (s.url) p.set('url', s.url); else p.set('model', s.model);
  for (const [k, [kind, , carried]] of Object.entries(PROPS)) {
    if (carried && !carried(s)) continue;
    p.set(k, kind === 'flag' ? (s[k] ? '1' : '0') : kind === 'list' ? s[k].join(',') : String(s[k]));
  }
  return p.toString();
}

export function parseState(fragment) {
  const s = { ...DEFAULT_STATE };
  const problems = [];
  const f = String(fragment || '').replace(/^#/, '');
  if (!f) return { state: s, problems };
  let p;
  try {
    p = new URLSearchParams(f);
  } catch (e) {
    return { state: s, problems: [`the link's state could not be read (${e.message})`] };
  }
  const shown = (v, n = 40) => JSON.stringify(v.slice(0, n));
  if (p.has('url')) {
    const u = p.get('url');
    if (/^https?:\/\/[^\s]{1,2000}$/.test(u)) { s.url = u; s.model = ''; } else problems.push(`url=${shown(u, 60)} is not an http(s) URL`);
  } else if (p.has('model')) {
    const v = p.get('model');
    if (BUNDLED.includes(v)) s.model = v;
    else problems.push(`model=${shown(v)} is not one of the bundled models (${BUNDLED.join(', ') || 'none listed'})`);
  }
  for (const [k, [kind, lim]] of Object.entries(PROPS)) {
    if (!p.has(k)) continue;
    const v = p.get(k);
    if (kind === 'text') {
      if (v.length > MAX_TEXT) problems.push(`${k} is ${v.length} characters; a link carries at most ${MAX_TEXT}`);
      else s[k] = v;
    } else if (kind === 'pick') {
      if (lim.includes(v)) s[k] = v; else problems.push(`${k}=${shown(v)} is not one of ${lim.join(', ')}`);
    } else if (kind === 'id') { // a node "hook:position:unit" or an edge "u->v<q>"
      if (/^(-?\d{1,6}:){2}-?\d{1,6}$|^[\w.]{1,40}->[\w.<>]{1,40}$/.test(v)) s[k] = v; else problems.push(`${k}=${shown(v)} names no node ("hook:position:unit") or edge ("u->v")`);
    } else if (kind === 'int') {
      if (/^\d{1,6}$/.test(v) && +v >= lim[0] && +v <= lim[1]) s[k] = +v;
      else problems.push(`${k}=${shown(v)} is not a whole number from ${lim[0]} to ${lim[1]}`);
    } else if (kind === 'num') {
      if (/^\d{1,6}(\.\d{1,6})?$/.test(v) && +v >= lim[0] && +v <= lim[1]) s[k] = +v;
      else problems.push(`${k}=${shown(v)} is not a number from ${lim[0]} to ${lim[1]}`);
    } else if (kind === 'list') {
      const items = v.split(',');
      if (items.length >= 1 && items.every((x, i) => lim.includes(x) && items.indexOf(x) === i)) s[k] = items;
      else problems.push(`${k}=${shown(v)} is not a comma-separated list of ${lim.join(', ')}, none twice`);
    } else if (v === '0' || v === '1') {
      s[k] = v === '1';
    } else {
      problems.push(`${k}=${shown(v)} must be 0 or 1`);
    }
  }
  return { state: s, problems };
}
