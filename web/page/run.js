// page/run.js - the results store, Run and Cancel, AP per position and the attention patterns on demand, what a
// job costs (asked first where it is long), and a data set's runs (dataset.js; the worker's 'dataset').
import { METHOD_TITLE, MIN_GAP } from '../constants.mjs';
import { unitsOf } from '../guard.js';
import * as data from '../dataset.js';
import { pearson } from '../dataset.js';
import * as circuits from '../circuits.js';
import { page, embed, $, say, secondsText, begin, worker, progress, saveState, cancelled, end, setPhase } from './shared.js';
import { inputs, IG, stepsProblem, readInputs, runBlocker, refreshCheck } from './inputs.js';
import { render, renderStale } from './view.js';
import { threadsWanted, loadModel } from './load.js';

// ---------------------------------------------------------------- results
// The store holds what was computed for one model and one set of prompts:
// every method run on them (switching the method shows an earlier result at
// once) and AP, the per-position AP and the attention patterns, computed once.
const keyOf = (query, model, metric = page.state.metric) => JSON.stringify([model.label, model.f16, query.clean, query.corrupt, query.answer, query.wrong, metric]);
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
const currentKey = () => (page.loaded ? keyOf(inputs(), page.loaded) : '');
// out of date: other inputs, or (an IG method shown) other steps than the run's
export const isStale = () => !!page.store && (page.store.key !== currentKey() || (IG(page.state.method) && !!shown() && shown().steps !== page.state.steps && !stepsProblem()));
// The scores as shown: shares of the clean - corrupted gap, or, where the gap is too small (or not positive) to
// normalise by, logit units (the core's shares times the gap: both signs flip with a negative gap, so shares would
// draw the same map as the swapped pair's). factor: what the core's scores are multiplied by.
export function unitsNow(st = page.store) {
  if (!st) return { units: 'share', factor: 1 };
  const gap = st.mClean - st.mCorrupt;
  if (unitsOf(st) === 'metric') return { units: 'metric', factor: 1 }; // the core's own: the gap is zero
  return gap >= MIN_GAP ? { units: 'share', factor: 1 } : { units: 'metric', factor: gap };
}
export const inUnits = (a, u = unitsNow()) => (!a || u.factor === 1 ? a : Float32Array.from(a, (v) => v * u.factor));

// r of a method's result with AP per node type
export function rOf(res) {
  const r = {};
  if (!page.store || !page.store.ap || !res) return r;
  for (const n of ['resid', 'attn', 'mlp', 'head']) r[n] = pearson(res.est[n], page.store.ap[n]);
  if (page.store.apPos) r.headPos = pearson(res.est.headPos, page.store.apPos);
  return r;
}
export const shown = () => (page.store ? page.store.est[page.state.method] || null : null);

// ---------------------------------------------------------------- what a job costs, asked before it starts
// A job's time from the model's measured forward pass (the live check times it): AP re-runs a patched forward per
// node from the patched layer on, several patches side by side in one pass over the weights (about 0.1 of a pass
// each on GPT-2 small's shape; 0.15 taken), IG a forward and a backward per step and layer; after a run,
// the rate it measured for this model. Jobs over ASK_ABOVE seconds are said first, and the user goes on or not.
const rates = new Map(); // model label -> { ap, ig: seconds per unit } measured by runs
const rate = (kind, seconds, units) => { if (page.loaded && units > 0 && seconds > 0) rates.set(page.loaded.label, { ...rates.get(page.loaded.label), [kind]: seconds / units }); };
function costOf(kind, units) {
  const r = page.loaded && rates.get(page.loaded.label);
  if (r && r[kind]) return units * r[kind];
  return units * page.forwardSeconds * (kind === 'ap' ? 0.15 : 1);
}
// AP's patched runs: resid, attn and mlp at each layer and position, heads at each layer; positions before the
// first token where the prompts differ patch in the clean run's own values, which the core does not run again
const apUnits = (L, NH, T, t0 = 0) => 3 * L * Math.max(0, T - t0) + L * NH;
const firstDiff = (c) => { if (!c || !c.clean || !c.corrupt) return 0; const i = c.clean.findIndex((t, k) => !c.corrupt[k] || t.id !== c.corrupt[k].id); return i < 0 ? c.clean.length : i; };
// says what a job will cost and waits for Go on (true) or Not now (false); embeds never ask
function ask(text) {
  if (embed()) return Promise.resolve(true);
  if (page.confirmDone) page.confirmDone(false);
  $('confirm-text').textContent = text;
  $('confirm').hidden = false;
  $('confirm-go').focus();
  return new Promise((resolve) => {
    page.confirmDone = (v) => { page.confirmDone = null; $('confirm').hidden = true; resolve(v); };
  });
}

export async function run({ user = true } = {}) {
  if (page.phase !== 'idle' || !page.loaded) return;
  readInputs();
  if (circuits.isCircuitView(page.state.view)) { if (user) say('link', ''); return circuits.run(page.state.view); }
  if (page.state.set !== 'pair') return runDataset({ user });
  const blocked = runBlocker();
  if (blocked) { say('run', `not run: ${blocked}`, 'warn'); return; }
  const query = inputs(), key = keyOf(query, page.loaded), same = page.store && page.store.key === key;
  let ap = page.state.ap && !(same && page.store.ap);
  let apPos = page.state.ap && page.state.view === 'positions' && !(same && page.store.apPos);
  if (user) say('link', '');
  say('run', '');
  // the cost first, where it is long: the estimate draws at once, AP takes the time
  const T = page.checked && page.checked.clean ? page.checked.clean.length : 0, L = page.loaded.info.nLayer, NH = page.loaded.info.nHead;
  const igUnits = page.state.method === 'ig' ? 4 * L * page.state.steps : page.state.method === 'ig-input' ? page.state.steps : 0;
  const t0 = firstDiff(page.checked), runApUnits = (ap ? apUnits(L, NH, T, t0) : 0) + (apPos ? L * NH * Math.max(0, T - t0) : 0);
  const apCost = costOf('ap', runApUnits), igCost = costOf('ig', igUnits);
  if (T && apCost + igCost > page.ASK_ABOVE) {
    const go = await ask(`${METHOD_TITLE[page.state.method]}${igCost > 1 ? ` (about ${secondsText(igCost)})` : ''} draws first` +
      (ap || apPos ? `; activation patching${apPos ? ' (also per head and position)' : ''} then fills in layer by layer for about ${secondsText(apCost)}` : '') +
      `, on ${page.loaded.label} with ${T} tokens. Go on, or Not now${ap || apPos ? ' (the estimate alone)' : ''}?`);
    if (!go && !(ap || apPos)) return;
    if (!go) ap = apPos = false;
  }
  const me = begin('running');
  const label = `${METHOD_TITLE[page.state.method]}${ap ? ' + activation patching' : ''}`;
  const take = (r) => { // a partial or the final result: the estimate at once, AP as it fills in
    if (me !== page.op) return;
    if (!page.store || page.store.key !== key) page.store = newStore(key, query, page.loaded, r);
    page.store.est[page.state.method] = { est: r.est, steps: r.steps, seconds: r.seconds, threads: r.threads, tokenRelevance: r.tokenRelevance, method: r.method };
    if (r.ap) page.store.ap = r.ap;
    if (r.apPos) page.store.apPos = r.apPos;
    render();
  };
  try {
    const r = await worker.request('run', { query: { ...query, method: page.state.method, metric: page.state.metric, steps: page.state.steps, ap, apPos, threads: threadsWanted() } },
      (d, t, what) => progress(me, d, t, what === 'ap' ? 'activation patching' : label), take);
    take(r);
    if (r.ap) Object.assign(page.store, { apSeconds: r.apSeconds, apThreads: r.threads });
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
  circuits.lazy(page.state.view);
  if (page.phase !== 'idle' || !page.store || !shown() || page.state.set !== 'pair') return;
  if (page.state.view === 'attention' && !page.store.attention) ensureAttention();
  if (page.state.view === 'positions' && page.state.ap && !page.store.apPos) ensureApPos();
}

export async function cancel() {
  if (page.phase !== 'loading' && page.phase !== 'running') return;
  const wasLoading = page.phase === 'loading';
  ++page.op; // the cancelled operation no longer owns the phase
  worker.restart();
  const prev = page.loaded;
  page.loaded = null; // the worker and its model are gone
  page.checked = null;
  say('load', '');
  say('run', wasLoading ? 'loading cancelled' : 'cancelled', 'info');
  if (page.store && page.store.ap && [...Object.values(page.store.ap)].some((a) => a.some((v) => Number.isNaN(v)))) page.store.ap = null; // a partial AP goes
  if (page.store && page.store.apPos && page.store.apPos.some((v) => Number.isNaN(v))) page.store.apPos = null;
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
export async function ensureApPos({ user = false } = {}) {
  if (!page.store || page.store.apPos || !page.state.ap || page.phase !== 'idle' || isStale()) return;
  if (!user && page.apPosDeclined === page.store.key) return;
  const s0 = page.store, t0 = s0.cleanIds.findIndex((id, k) => id !== s0.corruptIds[k]), units = s0.L * s0.NH * (t0 < 0 ? 0 : s0.T - t0);
  const cost = costOf('ap', units);
  if (cost > page.ASK_ABOVE && !(await ask(`Activation patching per head and position: ${units} patched runs, about ${secondsText(cost)} ` +
    `on ${s0.model}. Go on, or Not now (the estimate alone)?`))) {
    page.apPosDeclined = s0.key;
    render();
    return;
  }
  if (page.store !== s0 || page.phase !== 'idle') return;
  const me = begin('running');
  try {
    const r = await worker.request('apPositions', { query: { ...s0.query, metric: s0.metric, threads: threadsWanted() } },
      (d, t) => progress(me, d, t, 'activation patching per head and position'),
      (p) => { if (me === page.op && page.store === s0) { s0.apPos = p.apPos; render(); } });
    s0.apPos = r.apPos;
    rate('ap', r.seconds, units);
    render();
  } catch (e) {
    if (!cancelled(e)) say('run', e.message, 'error');
  } finally { end(me); }
}
export async function ensureAttention() {
  if (!page.store || page.store.attention || page.phase !== 'idle') return;
  const me = begin('running');
  try {
    const s = page.store;
    const r = await worker.request('attention', { clean: s.cleanIds, corrupt: s.corruptIds }, (d, t) => progress(me, d, t, 'attention patterns'));
    s.attention = { ...r, L: s.L, NH: s.NH, NKV: s.NKV, T: s.T, tokens: s.tokens, corruptTokens: s.corruptTokens };
    render();
  } catch (e) {
    if (!cancelled(e)) say('run', e.message, 'error');
  } finally { end(me); }
}

// ---------------------------------------------------------------- data sets (dataset.js; the worker's 'dataset')
export const dataInput = () => ({ jsonl: $('jsonl').value, name: page.jsonlName });
export const datasetKey = () => JSON.stringify([page.loaded ? page.loaded.label : '', page.loaded ? page.loaded.f16 : false, page.state.set, page.state.set === 'wang' ? [page.state.n, page.state.seed] : 0,
  page.state.set === 'jsonl' ? $('jsonl').value : '', page.state.metric, page.state.methods, page.state.methods.some(IG) ? page.state.steps : 0]);

async function runDataset({ user = true } = {}) {
  const blocked = runBlocker();
  if (blocked) { say('run', `not run: ${blocked}`, 'warn'); return; }
  if (user) say('link', '');
  say('run', '');
  const key = datasetKey(), q0 = { set: page.state.set, n: page.state.n, seed: page.state.seed, jsonlName: page.jsonlName || 'pasted JSONL' };
  let prompts;
  try {
    prompts = page.state.set === 'jsonl' ? data.parseJsonl($('jsonl').value).pairs : await worker.request('ioi', { set: page.state.set, n: page.state.n, seed: page.state.seed });
  } catch (e) { if (!cancelled(e)) say('run', e.message, 'error'); return; }
  // its cost, from a prompt's forward pass: AP's patched runs and each method's passes, for every prompt
  const L = page.loaded.info.nLayer, NH = page.loaded.info.nHead, T = page.checked && page.checked.clean && page.checked.clean.length ? page.checked.clean.length : 16;
  const perPrompt = costOf('ap', apUnits(L, NH, T)) + page.state.methods.reduce((s2, m) => s2 + (m === 'ig' ? costOf('ig', 4 * L * page.state.steps) : m === 'ig-input' ? costOf('ig', page.state.steps) : costOf('grad', 3)), 0);
  const cost = perPrompt * prompts.length;
  if (cost > page.ASK_ABOVE && !(await ask(`${data.dataName(q0, prompts.length)}: ${page.state.methods.map((m) => METHOD_TITLE[m]).join(', ')} and activation patching ` +
    `on ${prompts.length} prompts, in batches of equal length: about ${secondsText(cost)} on ${page.loaded.label}. Go on, or Not now?`))) return;
  const me = begin('running');
  const set = (res) => {
    if (me !== page.op) return;
    page.dstore = { key, q: q0, name: data.dataName(q0, res.nPrompts), prompts, res, r: data.rTable(res), model: page.loaded.label, done: false };
    render();
  };
  try {
    const res = await worker.request('dataset', { query: { prompts, methods: page.state.methods, metric: page.state.metric, steps: page.state.steps, threads: threadsWanted() } },
      (d, t, what) => progress(me, d, t, what), set);
    set(res);
    page.dstore.done = true;
    if (res.skipped.length) say('run', `${res.skipped.length} pair${res.skipped.length === 1 ? '' : 's'} left out: ${res.skipped.slice(0, 3).join('; ')}${res.skipped.length > 3 ? '; ...' : ''}`, 'warn');
    if (!['maps', 'heads', 'rtable'].includes(page.state.view)) page.state.view = 'rtable';
    render();
    saveState();
  } catch (e) {
    if (!cancelled(e)) say('run', e.message, 'error');
  } finally {
    end(me);
    renderStale();
  }
}
