// guard.js - what the page refuses to run and what it warns about, in one
// place: the worker refuses the same inputs the page flags as you type, and
// the warnings of a run go to the page, into the caption of every exported
// figure and into embeds.

import { MIN_GAP } from './constants.mjs';

// Below MIN_GAP, the clean - corrupted gap of the logit difference (logit units;
// relp.h RELP_FIGURE_MIN_GAP), the scores, which are divided by it, say more
// about noise than about the circuit (cli/figures.c warns with the same words).
export { MIN_GAP };
const q = (s) => JSON.stringify(s);

// Inputs that cannot give a meaningful map, as readable sentences (empty: runnable).
// t = { cleanText, corruptText, clean, corrupt, answer, wrong: token id arrays, nPositions, bos }
export function inputProblems(t) {
  const p = [];
  const emptyC = !t.cleanText.trim(), emptyX = !t.corruptText.trim();
  if (emptyC && emptyX) p.push('both prompts are empty: type a clean and a corrupted prompt');
  else if (emptyC) p.push('the clean prompt is empty');
  else if (emptyX) p.push('the corrupted prompt is empty');
  if (!emptyC && !emptyX && t.clean.length !== t.corrupt.length)
    p.push(`the clean prompt has ${t.clean.length} tokens and the corrupted one ${t.corrupt.length}: they must have the same number of tokens`);
  if (t.clean.length > t.nPositions) p.push(`the prompt is ${t.clean.length} tokens; this model takes at most ${t.nPositions}`);
  if (t.answer.length !== 1) p.push(`the answer ${q(t.answerText)} is ${t.answer.length} tokens; it must be exactly one (e.g. " Mary", with its leading space)`);
  if (t.wrong.length !== 1) p.push(`the wrong token ${q(t.wrongText)} is ${t.wrong.length} tokens; it must be exactly one`);
  if (t.answer.length === 1 && t.wrong.length === 1 && t.answer[0] === t.wrong[0])
    p.push(`the answer and the wrong token are the same token (${q(t.answerText)}): their logit difference is 0 on every prompt`);
  if (!emptyC && !emptyX && t.clean.length === t.corrupt.length && t.clean.every((v, i) => v === t.corrupt[i]))
    p.push('the clean and the corrupted prompts are the same tokens: there is nothing to patch (the clean - corrupted gap is 0)');
  return p;
}

// Warnings about a finished run, [{ kind: 'predict' | 'gap', text }].
// r = { answer, mClean, mCorrupt, pred: { top: [{ piece, prob }], pAnswer, rank }, unitsWarning }
export function runWarnings(r) {
  const w = [];
  if (r.pred && r.pred.rank !== 1) {
    const t = r.pred.top[0];
    w.push({ kind: 'predict', text: `the model does not predict the answer on the clean prompt: its top token is ${q(t.piece)} (p = ${t.prob.toFixed(3)}), ` +
           `while ${q(r.answer)} has p = ${r.pred.pAnswer.toFixed(3)}, rank ${r.pred.rank}. The map explains a prediction the model does not make` });
  }
  const gap = r.mClean - r.mCorrupt;
  const g = (text) => w.push({ kind: 'gap', text });
  if (r.unitsWarning) g(r.unitsWarning.replace(/^warning: /, ''));
  else if (!(gap > 0)) g(`the logit difference is not larger on the clean prompt than on the corrupted one (gap ${gap.toFixed(3)}): "share restored" has no meaning here`);
  else if (gap < MIN_GAP) g(`the clean - corrupted gap of the logit difference is ${gap.toFixed(3)}, below ${MIN_GAP}: too small to normalise by, so the shares are unstable`);
  return w;
}

// The units of a run's scores: shares of the gap, or logit units when the core could not normalise.
export const unitsOf = (r) => (r.unitsWarning ? 'metric' : 'share');
