// render.js - every view as a standalone SVG string, from plain data. The
// page shows these strings, exports them as .svg, rasterises them for .png,
// and an embed renders the same strings - one drawing path for all four.
// Cells carry data-v (the exact value) and a <title> tooltip.
// Colour: a diverging scale centred at 0 (blue < 0 < red), symmetric in
// max|v| over what is compared, with a legend; attention uses white -> purple.

const FONT = "font-family='DejaVu Sans Mono, Menlo, Consolas, monospace' font-size='11'";
const CW = 6.7; // width of one character at that size
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
export const fmt = (v) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2));
// tokens as shown: spaces visible, control characters escaped
export const showToken = (s) => s.replace(/ /g, '\u2423').replace(/\n/g, '\u21b5').replace(/[\u0000-\u001f]/g, '\ufffd');

function mix(a, b, t) {
  return '#' + [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t).toString(16).padStart(2, '0')).join('');
}
const NEG = [33, 102, 172], POS = [178, 24, 43], WHITE = [255, 255, 255];
export function diverging(v, max) {
  if (!(max > 0) || !Number.isFinite(v)) return '#ffffff';
  const t = Math.max(-1, Math.min(1, v / max));
  return t < 0 ? mix(WHITE, NEG, -t) : mix(WHITE, POS, t);
}
const sequential = (v) => mix(WHITE, [84, 39, 143], Math.max(0, Math.min(1, v)));

export function absMax(...arrays) {
  let m = 0;
  for (const a of arrays) for (const v of a || []) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m;
}

function svgDoc(w, h, body, title) {
  return `<svg xmlns='http://www.w3.org/2000/svg' width='${Math.ceil(w)}' height='${Math.ceil(h)}' viewBox='0 0 ${Math.ceil(w)} ${Math.ceil(h)}' ${FONT}>` +
    `<title>${esc(title)}</title><rect width='100%' height='100%' fill='#ffffff'/>${body}</svg>`;
}

function legend(x, y, w, max, label, seq = false) {
  let s = `<g class='legend'><defs><linearGradient id='lg${seq ? 's' : 'd'}' x1='0' x2='1' y1='0' y2='0'>`;
  for (let i = 0; i <= 10; i++) {
    const t = i / 10;
    s += `<stop offset='${t}' stop-color='${seq ? sequential(t) : diverging(-max + 2 * max * t, max)}'/>`;
  }
  s += `</linearGradient></defs><rect x='${x}' y='${y}' width='${w}' height='10' fill='url(#lg${seq ? 's' : 'd'})' stroke='#999' stroke-width='0.5'/>`;
  const ticks = seq ? [[0, '0'], [1, '1']] : [[0, fmt(-max)], [0.5, '0'], [1, fmt(max)]];
  for (const [t, txt] of ticks) {
    const tx = x + t * w;
    s += `<line x1='${tx}' x2='${tx}' y1='${y + 10}' y2='${y + 13}' stroke='#555'/>` +
      `<text x='${tx}' y='${y + 24}' text-anchor='${t === 0 ? 'start' : t === 1 ? 'end' : 'middle'}' fill='#333'>${esc(txt)}</text>`;
  }
  return s + `<text x='${x + w + 8}' y='${y + 9}' fill='#333'>${esc(label)}</text></g>`;
}

// One grid: values (rows x cols, row-major). Returns { body, w, h } placed at (x0, y0).
function grid({ x0, y0, title, values, rows, cols, rowLabels, colLabels, max, cell, kind, seq = false, rowName, colName }) {
  const labW = Math.max(...rowLabels.map((s) => s.length)) * CW + 8;
  const colLabH = Math.max(...colLabels.map((s) => s.length)) * CW + 8;
  let s = `<text x='${x0}' y='${y0 + 12}' font-weight='bold' fill='#111'>${esc(title)}</text>`;
  const gx = x0 + labW, gy = y0 + 20;
  for (let r = 0; r < rows; r++) {
    s += `<text x='${gx - 4}' y='${gy + r * cell + cell / 2 + 4}' text-anchor='end' fill='#333'>${esc(rowLabels[r])}</text>`;
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      s += `<rect class='cell' data-kind='${kind}' data-r='${r}' data-c='${c}' data-v='${v}' x='${gx + c * cell}' y='${gy + r * cell}' width='${cell}' height='${cell}' fill='${seq ? sequential(v) : diverging(v, max)}' stroke='#e4e4e4' stroke-width='0.5'>` +
        `<title>${esc(`${rowName} ${rowLabels[r]}, ${colName} ${colLabels[c]}: ${v}`)}</title></rect>`;
    }
  }
  const ly = gy + rows * cell + 4;
  for (let c = 0; c < cols; c++) {
    const tx = gx + c * cell + cell / 2 + 4;
    s += `<text transform='translate(${tx},${ly}) rotate(-90)' text-anchor='end' fill='#333'>${esc(colLabels[c])}</text>`;
  }
  return { body: s, w: labW + cols * cell, h: 20 + rows * cell + colLabH };
}

const NODE_TITLE = { resid: 'residual stream (resid_pre)', attn: 'attention output', mlp: 'MLP output', head: 'attention heads' };
export const METHOD_TITLE = { relp: 'RelP', 'relp-cp': 'RelP (CP)', attnlrp: 'RelP (AttnLRP)', atp: 'AtP', ig: 'IG', 'ig-input': 'IG (input path)', ap: 'AP' };

// Estimate and AP side by side for one node type, on one colour scale.
export function mapsSVG(res, node, method) {
  const isHead = node === 'head';
  const rows = res.L, cols = isHead ? res.NH : res.T;
  const rowLabels = Array.from({ length: rows }, (_, i) => String(i));
  const colLabels = isHead ? Array.from({ length: cols }, (_, i) => `H${i}`) : res.tokens.map((t, i) => `${showToken(t)} ${i}`);
  const est = res.est[node], ap = res.ap[node];
  const max = absMax(est, ap);
  const cell = isHead ? 22 : Math.max(14, Math.min(26, Math.floor(560 / cols)));
  const name = isHead ? 'head' : 'position';
  const a = grid({ x0: 12, y0: 10, title: `${METHOD_TITLE[method]}: ${NODE_TITLE[node]}`, values: est, rows, cols, rowLabels, colLabels, max, cell, kind: 'est', rowName: 'layer', colName: name });
  let body = a.body, w = 12 + a.w, h = a.h;
  if (ap) {
    const b = grid({ x0: w + 30, y0: 10, title: `AP (ground truth)${res.r[node] !== undefined ? `, r = ${res.r[node].toFixed(3)}` : ''}`, values: ap, rows, cols, rowLabels, colLabels, max, cell, kind: 'ap', rowName: 'layer', colName: name });
    body += b.body;
    w += 30 + b.w;
    h = Math.max(h, b.h);
  }
  w = Math.max(w + 12, 360);
  body += legend(12, h + 16, 200, max, 'normalised metric (0 = corrupted, 1 = clean)');
  return svgDoc(w, h + 56, body, `${METHOD_TITLE[method]} ${NODE_TITLE[node]}`);
}

// Token relevance: each token of the clean prompt coloured by its relevance.
export function tokensSVG(res) {
  const rel = res.tokenRelevance, max = absMax(rel);
  const width = 640, pad = 12, lineH = 26;
  let x = pad, y = 34, body = `<text x='${pad}' y='18' font-weight='bold' fill='#111'>${esc(`token relevance (${res.tokenRelevanceRules} rules), logit difference ${fmt(res.metricValue)}`)}</text>`;
  res.tokens.forEach((t, i) => {
    const label = showToken(t);
    const w = Math.max(14, label.length * CW + 8);
    if (x + w > width - pad) { x = pad; y += lineH; }
    body += `<g><rect class='cell' data-kind='token' data-c='${i}' data-v='${rel[i]}' x='${x}' y='${y}' width='${w}' height='20' rx='3' fill='${diverging(rel[i], max)}' stroke='#bbb' stroke-width='0.5'>` +
      `<title>${esc(`${i} ${JSON.stringify(t)}: ${rel[i]}`)}</title></rect><text x='${x + 4}' y='${y + 14}' fill='#111' pointer-events='none'>${esc(label)}</text></g>`;
    x += w + 3;
  });
  y += lineH + 8;
  body += legend(pad, y, 200, max, 'relevance (logit units)');
  return svgDoc(width, y + 36, body, 'token relevance');
}

// Estimate (y) against AP (x), every node of every type, with Pearson r.
export function scatterSVG(res, method) {
  const size = 360, m = 48, colors = { resid: '#1b9e77', attn: '#d95f02', mlp: '#7570b3', head: '#e7298a' };
  const nodes = Object.keys(res.ap);
  const all = nodes.flatMap((n) => [...res.est[n], ...res.ap[n]]);
  let lo = Math.min(0, ...all), hi = Math.max(0, ...all);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
  const sx = (v) => m + ((v - lo) / (hi - lo)) * size, sy = (v) => m + size - ((v - lo) / (hi - lo)) * size;
  let body = `<text x='${m}' y='18' font-weight='bold' fill='#111'>${esc(`${METHOD_TITLE[method]} estimate vs activation patching`)}</text>` +
    `<rect x='${m}' y='${m}' width='${size}' height='${size}' fill='none' stroke='#999'/>` +
    `<line x1='${sx(lo)}' y1='${sy(lo)}' x2='${sx(hi)}' y2='${sy(hi)}' stroke='#bbb' stroke-dasharray='4 3'/>` +
    `<line x1='${sx(0)}' y1='${m}' x2='${sx(0)}' y2='${m + size}' stroke='#eee'/><line x1='${m}' y1='${sy(0)}' x2='${m + size}' y2='${sy(0)}' stroke='#eee'/>` +
    `<text x='${m + size / 2}' y='${m + size + 32}' text-anchor='middle' fill='#333'>AP (normalised)</text>` +
    `<text transform='translate(14,${m + size / 2}) rotate(-90)' text-anchor='middle' fill='#333'>${esc(METHOD_TITLE[method])} (normalised)</text>` +
    `<text x='${m}' y='${m + size + 14}' fill='#555'>${esc(fmt(lo))}</text><text x='${m + size}' y='${m + size + 14}' text-anchor='end' fill='#555'>${esc(fmt(hi))}</text>`;
  nodes.forEach((n, k) => {
    res.ap[n].forEach((a, i) => {
      const e = res.est[n][i];
      body += `<circle class='pt' data-kind='${n}' data-i='${i}' cx='${sx(a).toFixed(2)}' cy='${sy(e).toFixed(2)}' r='3' fill='${colors[n]}' fill-opacity='0.7'><title>${esc(`${n} ${i}: AP ${a}, estimate ${e}`)}</title></circle>`;
    });
    const r = res.r[n];
    body += `<circle cx='${m + size + 20}' cy='${m + 10 + k * 20}' r='4' fill='${colors[n]}'/><text class='r' data-node='${n}' data-r='${r}' x='${m + size + 30}' y='${m + 14 + k * 20}' fill='#333'>${esc(`${n}: r = ${Number.isFinite(r) ? r.toFixed(3) : 'n/a'}`)}</text>`;
  });
  return svgDoc(m + size + 140, m + size + 44, body, 'estimate vs AP');
}

// Attention pattern of one head (T x T, row = query).
export function attentionSVG(tokens, pattern, layer, head) {
  const T = tokens.length, cell = Math.max(12, Math.min(24, Math.floor(480 / T)));
  const labels = tokens.map((t, i) => `${showToken(t)} ${i}`);
  const g = grid({ x0: 12, y0: 10, title: `attention pattern, layer ${layer} head ${head} (row: query, column: key)`, values: pattern, rows: T, cols: T, rowLabels: labels, colLabels: labels, max: 1, cell, kind: 'attn', seq: true, rowName: 'query', colName: 'key' });
  return svgDoc(Math.max(g.w + 24, 420), g.h + 56, g.body + legend(12, g.h + 16, 200, 1, 'attention weight', true), `attention L${layer}H${head}`);
}

// The SVG of a view from a result and the view state.
export function viewSVG(res, view) {
  switch (view.view) {
    case 'tokens': return tokensSVG(res);
    case 'heads': return mapsSVG(res, 'head', view.method);
    case 'scatter': return scatterSVG(res, view.method);
    case 'attention': return res.attention ? attentionSVG(res.tokens, res.attention.pattern, res.attention.layer, res.attention.head) : '';
    default: return mapsSVG(res, view.node || 'resid', view.method);
  }
}
