// guard.js - what the page refuses to run and how it shows what the core
// warns about: the worker refuses the same inputs the page flags as you type,
// and the warnings of a run (the core's, relp.h WARNINGS) go to the page, into
// the caption of every exported figure and into embeds.

import { MIN_GAP } from './constants.mjs';

// Below MIN_GAP, the clean - corrupted gap of the logit difference (logit units;
// relp.h RELP_MIN_GAP), the scores, which are divided by it, say more about
// noise than about the circuit: the core warns (GAP_SMALL).
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
  // the wrong token matters to the logit difference only (the log-probability and the logit read the answer alone)
  const diff = !t.metric || t.metric === 'logit_diff';
  if (diff && t.wrong.length !== 1) p.push(`the wrong token ${q(t.wrongText)} is ${t.wrong.length} tokens; it must be exactly one`);
  if (diff && t.answer.length === 1 && t.wrong.length === 1 && t.answer[0] === t.wrong[0])
    p.push(`the answer and the wrong token are the same token (${q(t.answerText)}): their logit difference is 0 on every prompt`);
  if (!emptyC && !emptyX && t.clean.length === t.corrupt.length && t.clean.every((v, i) => v === t.corrupt[i]))
    p.push('the clean and the corrupted prompts are the same tokens: there is nothing to patch (the clean - corrupted gap is 0)');
  return p;
}

// Warnings about a finished run, [{ kind: 'predict' | 'gap' | 'space' | 'noising', name, text }]: the core's
// (relp.h WARNINGS, decided and worded in C; the worker's run gets them through relp.mjs runWarnings), sorted
// into the kinds the page shows where: a token relevance figure shows 'predict' and 'space' only.
// r = { warnings: [{ kind: the core's name, text }] }
const KIND = { not_predicted: 'predict', gap_negative: 'gap', gap_zero: 'gap', gap_small: 'gap', answer_space: 'space', noising: 'noising' };
export function runWarnings(r) {
  return (r.warnings || []).map((w) => ({ kind: KIND[w.kind] || w.kind, name: w.kind, text: w.text }));
}

// The units of a run's scores: shares of the gap, or logit units when the core could not normalise (its warning
// that the gap is zero).
export const unitsOf = (r) => ((r.warnings || []).some((w) => w.kind === 'gap_zero') || r.unitsWarning ? 'metric' : 'share');
