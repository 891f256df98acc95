// dataset.js - the page's data set mode: a method run over many prompt pairs, as the paper measures it (`relp ioi`).
// The data: the official IOI demo set (8 prompts, core/ioi.c), Wang et al.'s IOI distribution (N prompts from the
// core's generator, `relp ioi --dataset wang --n N --seed S`), or pairs pasted or loaded as JSONL, one pair a line
// in relp's keys (clean, corrupt, answer, wrong) or Marks et al.'s (clean_prefix, patch_prefix, clean_answer,
// patch_answer). The worker (worker.js dataset) groups the pairs into batches of equal token length and runs every
// chosen method and AP on each batch; here: reading JSONL, the r table (Pearson r of each method with AP over the
// cells of every batch, per node type, as `relp ioi --json` computes it), its CSV, and the words for captions.

export const NODE_TYPES = ['resid', 'attn', 'mlp', 'head'];
const KEYS = { relp: ['clean', 'corrupt', 'answer', 'wrong'], marks: ['clean_prefix', 'patch_prefix', 'clean_answer', 'patch_answer'] };

// JSONL text -> { pairs: [{ clean, corrupt, answer, wrong }], problems: [sentences] }; blank lines are skipped
export function parseJsonl(text) {
  const pairs = [], problems = [];
  String(text || '').split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    let o;
    try { o = JSON.parse(line); } catch (e) { problems.push(`line ${i + 1} is not JSON (${e.message})`); return; }
    const keys = o && typeof o === 'object' && (KEYS.relp.every((k) => typeof o[k] === 'string') ? KEYS.relp :
      KEYS.marks.every((k) => typeof o[k] === 'string') ? KEYS.marks : null);
    if (!keys) { problems.push(`line ${i + 1} has neither ${KEYS.relp.join(', ')} (relp) nor ${KEYS.marks.join(', ')} (Marks et al.) as strings`); return; }
    pairs.push({ clean: o[keys[0]], corrupt: o[keys[1]], answer: o[keys[2]], wrong: o[keys[3]] });
  });
  return { pairs, problems };
}

export function pearson(a, b) {
  const n = a.length;
  if (!n || n !== b.length) return NaN;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { const x = a[i] - ma, y = b[i] - mb; sab += x * y; saa += x * x; sbb += y * y; }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

// r[method][node]: each method's cells of every batch, concatenated in batch order, against AP's (relp ioi's r)
export function rTable(res) {
  const r = {};
  for (const m of res.methods) {
    r[m] = {};
    for (const n of NODE_TYPES) {
      const est = [], ap = [];
      for (const b of res.batches) { est.push(...b.scores[m][n]); ap.push(...b.scores.ap[n]); }
      r[m][n] = pearson(est, ap);
    }
  }
  return r;
}

// what a caption calls the data (with its count of prompts, where given)
export function dataName(q, count = -1) {
  const n = (what) => (count >= 0 ? ` (${count} ${what}${q.set === 'wang' ? `, seed ${q.seed}` : ''})` : q.set === 'wang' ? ` (seed ${q.seed})` : '');
  if (q.set === 'demo') return `IOI, the official demo set${n('prompts')}`;
  if (q.set === 'wang') return `IOI, Wang et al.'s distribution${n('prompts')}`;
  return `${q.jsonlName || 'pasted JSONL'}${n('pairs')}`;
}

// the r table as CSV: a row per method, a column per node type, then seconds
export function csv(res, r) {
  return [['method', ...NODE_TYPES, 'seconds'].join(','),
    ...res.methods.map((m) => [m, ...NODE_TYPES.map((n) => (Number.isFinite(r[m][n]) ? r[m][n].toFixed(6) : '')), res.seconds[m].toFixed(4)].join(',')),
    ['ap', ...NODE_TYPES.map(() => ''), res.seconds.ap.toFixed(4)].join(',')].join('\n') + '\n';
}

// the mean (over a batch's prompts: the core's scores of their mean metric) of one node type, as a map
export const batchScores = (res, b, method, node) => res.batches[b] && res.batches[b].scores[method] ? res.batches[b].scores[method][node] : null;

// why a data set cannot run as set up, or ''
export function blocker(state, input) {
  if (state.set === 'jsonl') {
    const { pairs, problems } = parseJsonl(input.jsonl);
    if (!pairs.length) return problems.length ? `the JSONL has no pair that reads: ${problems.slice(0, 2).join('; ')}` : 'paste pairs as JSONL under Data, or load a file of them';
  }
  if (!state.methods || !state.methods.length) return 'tick at least one method for the data set';
  return '';
}
