// page/inputs.js - the prompt pair and its live check (tokens, predictions, what would stop a run), IG's steps
// as typed, the answer suggestions and the manifest's examples.
import { showToken } from '../render.js';
import { examplesOf, MANIFEST } from '../state.js';
import * as data from '../dataset.js';
import * as circuits from '../circuits.js';
import { $, page, q, worker, cancelled, setPhase, say, saveState } from './shared.js';
import { readControls, syncControls } from '../bind.js';
import { dataInput } from './run.js';
import { renderSteps, renderStale } from './view.js';

// ---------------------------------------------------------------- inputs and the live check
export const inputs = () => ({ clean: $('clean').value, corrupt: $('corrupt').value, answer: $('answer').value, wrong: $('wrong').value });
// IG's steps as typed: a whole number from 1 to 1000, else what is wrong with it (the field keeps what was typed)
export const IG = (m) => m === 'ig' || m === 'ig-input';
export function stepsProblem() {
  const v = $('steps').value.trim();
  if (!IG($('method').value)) return '';
  return /^\d+$/.test(v) && +v >= 1 && +v <= 1000 ? '' : `IG steps must be a whole number from 1 to 1000, not ${JSON.stringify(v)}`;
}
// why Run cannot run now (the inputs as typed), or ''
export function runBlocker() {
  if (!page.loaded) return 'no model is loaded';
  const sp = stepsProblem();
  if (sp) return sp;
  if (page.state.set !== 'pair') return data.blocker(page.state, dataInput());
  if (circuits.isCircuitView(page.state.view) && page.state.data === 'ioi') return '';
  if (page.checked && JSON.stringify(page.checked.query) === JSON.stringify(inputs()) && page.checked.metric === page.state.metric && page.checked.problems.length) return page.checked.problems.join('; ');
  return '';
}
export function readInputs() {
  // (a size, seed or method list out of its limits is not taken: the state keeps its own)
  readControls(page.state, ['clean', 'corrupt', 'answer', 'wrong', 'method', 'ap', 'metric', 'set', 'n', 'seed', 'methods']);
  if (!stepsProblem()) page.state.steps = Number($('steps').value.trim()); // an invalid count is not taken (it is said, and Run waits)
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
export async function refreshCheck() {
  if (!page.loaded) return null;
  const seq = ++checkSeq, q0 = inputs();
  let c;
  const metric = page.state.metric;
  try {
    c = await worker.request('check', { query: { ...q0, metric } });
  } catch (e) {
    if (!cancelled(e) && seq === checkSeq) { $('token-warning').textContent = e.message; $('token-warning').hidden = false; }
    return null;
  }
  if (seq !== checkSeq) return null; // the inputs changed meanwhile: a newer check follows
  page.checked = { ...c, query: q0, metric };
  if (c.forwardSeconds) page.forwardSeconds = c.forwardSeconds;
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
  setPhase(page.phase); // Run: enabled only for inputs that can run
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
  return page.checked;
}

export function onInput() {
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

export async function suggestAnswers() {
  const c = (page.checked && JSON.stringify(page.checked.query) === JSON.stringify(inputs())) ? page.checked : await refreshCheck();
  if (!c || !c.pred) { say('run', 'the model needs a clean prompt that it can read before it can suggest an answer', 'warn'); return; }
  const a = c.pred.top[0].piece;
  const w = ((c.predCorrupt && c.predCorrupt.top.find((t) => t.piece !== a)) || c.pred.top[1]).piece;
  syncControls({ answer: a, wrong: w }, ['answer', 'wrong']);
  onInput();
}

let exampleTurn = { ioi: 0, induction: 0 };
const examplesFor = (kind) => examplesOf(page.loaded && page.loaded.source.kind === 'bundled' ? page.loaded.source.name : MANIFEST.default).filter((e) => e.kind === kind);
// each button's title says how many examples it has: one is used again, several are taken in turn
export function renderExamples() {
  for (const kind of ['ioi', 'induction']) {
    const all = examplesFor(kind), b = $(`example-${kind}`), name = kind === 'ioi' ? 'IOI' : kind;
    b.disabled = !all.length;
    b.title = all.length > 1 ? `the model's ${name} examples, ${all.length} in the manifest: each click takes the next (${exampleTurn[kind] % all.length + 1} of ${all.length} next)`
      : all.length ? `the model's ${name} example (the manifest has one)` : `the manifest has no ${name} example for this model`;
  }
}
export function useExample(kind) {
  const all = examplesFor(kind);
  if (!all.length) { say('run', `the models' manifest lists no ${kind} example for this model`, 'warn'); return; }
  const e = all[exampleTurn[kind]++ % all.length];
  renderExamples();
  syncControls(e, ['clean', 'corrupt', 'answer', 'wrong']);
  onInput();
}
