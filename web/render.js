// render.js - every view as a standalone SVG string, from plain data. The
// page shows these strings, exports them as .svg, rasterises them for .png,
// and embeds render the same strings: one drawing path for all of them (the
// Python package draws its views with it too, through viewSVG).
// A heatmap figure is: a title, one or more panels (grid with axis titles and
// labels), a legend that says what the colour means, and a caption (model,
// both prompts with the differing tokens highlighted, answer and wrong token,
// metric, method, r, and any warning about the run). Cells carry data-v (the
// exact value) and a <title> tooltip.
//
// SPEC below is the one layout spec of relp's figures: sizes, colours, titles
// and wording. cli/heatmap.c (relp's --svg and --png) draws from it too: the
// build turns the JSON between the markers into a C header (CMakeLists.txt:
// figure_spec.h), and tests/test_figure_layout.mjs checks that the CLI's
// figure and this file's put the same cells, labels, legend and caption in the
// same places. Keep the part between the markers strict JSON (no comments, no
// trailing commas). charW is the width of one character at fontSize (DejaVu
// Sans Mono); it must equal the CLI's PNG font width (cli/font.h). minGap:
// below this clean - corrupted gap of the logit difference (logit units) a
// figure warns that the scores, divided by it, are unstable (web/guard.js).
export const SPEC = /* SPEC-BEGIN */ {
  "font": "DejaVu Sans Mono, Menlo, Consolas, monospace",
  "fontSize": 11.6,
  "titleSize": 12,
  "charW": 7,
  "pad": 12,
  "titleH": 20,
  "axisTitleH": 18,
  "labelGap": 4,
  "panelGap": 28,
  "cellMin": 14,
  "cellMax": 22,
  "gridTarget": 560,
  "headCell": 22,
  "minWidth": 600,
  "legendW": 220,
  "legendBarH": 10,
  "legendGap": 14,
  "captionGap": 12,
  "captionLineH": 15,
  "chipH": 20,
  "chipGap": 3,
  "chipLineH": 26,
  "tokensWidth": 640,
  "minGap": 0.5,
  "colors": {
    "diverging": [[33, 102, 172], [146, 197, 222], [255, 255, 255], [244, 165, 130], [178, 24, 43]],
    "sequential": [[255, 255, 255], [84, 39, 143]],
    "cellStroke": "#e4e4e4",
    "text": "#222222",
    "muted": "#555555",
    "highlight": "#ffe08a",
    "warn": "#a0361c",
    "background": "#ffffff"
  },
  "methods": {
    "relp": "RelP", "relp-ln": "RelP-LN", "relp-cp": "RelP-CP", "attnlrp": "AttnLRP", "atp": "AtP", "ig": "IG (per layer)",
    "ig-input": "IG (input path)", "ap": "AP",
    "grad": "gradient x input"
  },
  "nodes": {
    "resid": "residual stream (resid_pre)", "attn": "attention output", "mlp": "MLP output", "head": "attention heads"
  },
  "axes": {
    "layer": "layer", "position": "position (token)", "head": "head", "layerHead": "layer.head"
  },
  "legends": {
    "share": "colour: share of the logit difference restored (0 = corrupted run, 1 = clean run)",
    "metric": "colour: change of the logit difference (logit units; the clean and corrupted runs are equal)",
    "relevance": "colour: relevance for the logit difference (logit units; red raises it, blue lowers it)",
    "attention": "colour: attention weight (row: query, column: key)"
  }
} /* SPEC-END */;

const CW = SPEC.charW, P = SPEC.pad, C = SPEC.colors;
export const METHOD_TITLE = SPEC.methods;
export const NODE_TITLE = SPEC.nodes;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
// text content: a space that SVG would drop (leading, trailing, or one of several in a row: GPT-2
// tokens lead with them) is written as a no-break space; single spaces between words stay spaces
const txt = (s) => esc(s).replace(/ {2,}|^ | $/g, (m) => '&#160;'.repeat(m.length));
const num = (v) => String(Math.round(v * 10) / 10);
const len = (s) => [...s].length;
const textW = (s) => len(s) * CW;

// a value for people: four significant digits
export function fmt(v) {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}
// legend ticks (cli/heatmap.c writes the same)
export function fmtTick(v) {
  const a = Math.abs(v);
  if (!(a > 0)) return '0';
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  if (a >= 0.01) return v.toFixed(3);
  return v.toExponential(1);
}
const f3 = (v) => v.toFixed(3);
// tokens as shown in labels: spaces visible, newlines and control characters marked
export const showToken = (s) => s.replace(/ /g, '\u2423').replace(/\n/g, '\u21b5').replace(/[\u0000-\u001f]/g, '\ufffd');
// tokens as shown in the caption's prompts: spaces as spaces
const plainToken = (s) => s.replace(/\n/g, '\u21b5').replace(/[\u0000-\u001f]/g, '\ufffd');
const hex = (rgb) => '#' + rgb.map((x) => x.toString(16).padStart(2, '0')).join('');

export function diverging(v, max) {
  const a = C.diverging;
  let t = max > 0 && Number.isFinite(v) ? v / max : 0;
  t = Math.max(-1, Math.min(1, t));
  const x = (t + 1) * 2, i = Math.min(3, Math.floor(x)), f = x - i;
  return hex([0, 1, 2].map((k) => Math.round(a[i][k] + f * (a[i + 1][k] - a[i][k]))));
}
export function sequential(v) {
  const [a, b] = C.sequential, t = Math.max(0, Math.min(1, Number.isFinite(v) ? v : 0));
  return hex([0, 1, 2].map((k) => Math.round(a[k] + t * (b[k] - a[k]))));
}
// text on a coloured cell: black or white, whichever contrasts more (WCAG; at least 4.58:1 on any colour)
export function inkOn(fill) {
  const n = parseInt(fill.slice(1), 16);
  const lin = (c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const L = 0.2126 * lin(n >> 16) + 0.7152 * lin((n >> 8) & 255) + 0.0722 * lin(n & 255);
  return L > 0.179 ? '#000000' : '#ffffff';
}

export function absMax(...arrays) {
  let m = 0;
  for (const a of arrays) for (const v of a || []) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m;
}

function svgDoc(w, h, body, title) {
  return `<svg xmlns='http://www.w3.org/2000/svg' class='relp-figure' width='${w}' height='${h}' viewBox='0 0 ${w} ${h}' ` +
    `font-family='${SPEC.font}' font-size='${SPEC.fontSize}'>` +
    `<title>${esc(title)}</title><rect width='${w}' height='${h}' fill='${C.background}'/>${body}</svg>`;
}
const text = (x, y, s, { anchor = 'start', fill = C.text, bold = false, size = 0, rotate = false, cls = '' } = {}) =>
  `<text${cls ? ` class='${cls}'` : ''} ${rotate ? `transform='translate(${num(x)},${num(y)}) rotate(-90)'` : `x='${num(x)}' y='${num(y)}'`}` +
  `${anchor !== 'start' ? ` text-anchor='${anchor}'` : ''}${bold ? ` font-weight='bold'` : ''}${size ? ` font-size='${size}'` : ''} fill='${fill}'>${txt(s)}</text>`;

// ------------------------------------------------------------ text wrapping (cli/heatmap.c: the same rules)
export function wrapText(s, max) {
  const lines = [];
  let cur = '';
  for (const w of s.split(' ')) {
    if (!cur) cur = w;
    else if (len(cur) + 1 + len(w) <= max) cur += ' ' + w;
    else { lines.push(cur); cur = w; }
    while (len(cur) > max) { const c = [...cur]; lines.push(c.slice(0, max).join('')); cur = c.slice(max).join(''); }
  }
  lines.push(cur);
  return lines;
}

// ------------------------------------------------------------ legend and caption
export function legendText(units) { return SPEC.legends[units] || units; }

// a legend: what the colour means (wrapped), the colour bar, ticks at -max, 0, +max (0, 1 for attention)
function legend(x, y, width, max, units, seq = false) {
  const lines = wrapText(legendText(units), Math.floor(width / CW));
  let s = `<g class='legend'>`;
  lines.forEach((l, i) => { s += text(x, y + 11 + i * SPEC.captionLineH, l, { fill: C.muted }); });
  const by = y + lines.length * SPEC.captionLineH + 4, w = SPEC.legendW, bh = SPEC.legendBarH;
  const stops = seq ? C.sequential : C.diverging;
  s += `<defs><linearGradient id='relp-lg-${seq ? 's' : 'd'}' x1='0' x2='1' y1='0' y2='0'>` +
    stops.map((c, i) => `<stop offset='${num((100 * i) / (stops.length - 1))}%' stop-color='${hex(c)}'/>`).join('') + `</linearGradient></defs>`;
  s += `<rect x='${num(x)}' y='${num(by)}' width='${w}' height='${bh}' fill='url(#relp-lg-${seq ? 's' : 'd'})' stroke='#999999' stroke-width='0.5'/>`;
  const ticks = seq ? [[0, '0'], [1, '1']] : [[0, fmtTick(-max)], [0.5, '0'], [1, fmtTick(max)]];
  for (const [t, label] of ticks) {
    const tx = x + t * w;
    s += `<line x1='${num(tx)}' x2='${num(tx)}' y1='${num(by + bh)}' y2='${num(by + bh + 3)}' stroke='${C.muted}'/>` +
      text(tx, by + bh + 14, label, { anchor: t === 0 ? 'start' : t === 1 ? 'end' : 'middle', fill: C.muted });
  }
  return { body: s + '</g>', h: lines.length * SPEC.captionLineH + 4 + bh + 18 };
}

const q = (s) => JSON.stringify(s);

// The caption's lines from what the figure shows (cli/heatmap.c: heatmap_caption builds the same lines):
// info = { model, method, steps, clean: [token], corrupt: [token] | null, answer, wrong, mClean, mCorrupt,
//          nPrompts, pAnswer, rank, rLine, relevance: { total, value } | null, warnings: [string] }
// (model, answer and wrong may be missing for callers that do not know them: viewSVG.)
export function captionLines(info) {
  const lines = [];
  const mt = METHOD_TITLE[info.method] || info.method;
  const metric = info.answer == null ? 'logit difference' : info.wrong != null ? `logit difference ${q(info.answer)} - ${q(info.wrong)}` : `logit ${q(info.answer)}`;
  lines.push({ kind: 'text', text: `${info.model ? `model: ${info.model}; ` : ''}method: ${mt}${info.steps ? `, ${info.steps} steps` : ''}; metric: ${metric}` });
  const hi = info.clean.map((t, i) => !!info.corrupt && info.corrupt[i] !== t);
  lines.push({ kind: 'tokens', label: info.corrupt ? 'clean:     ' : 'prompt:    ', tokens: info.clean, hi });
  if (info.corrupt) lines.push({ kind: 'tokens', label: 'corrupted: ', tokens: info.corrupt, hi });
  let m;
  if (info.relevance) {
    const { total, value } = info.relevance;
    m = `sum of relevances ${f3(total)}, ${info.wrong !== null ? 'logit difference' : 'logit'} ${f3(value)}, conservation gap ${f3(value - total)}`;
  } else if (Number.isFinite(info.mClean) && Number.isFinite(info.mCorrupt)) {
    m = `logit difference: clean ${f3(info.mClean)}, corrupted ${f3(info.mCorrupt)}, gap ${f3(info.mClean - info.mCorrupt)}`;
  } else {
    m = '';
  }
  if (info.nPrompts > 1) m += `; mean of ${info.nPrompts} prompts (the first is shown)`;
  if (info.rank > 0 && info.answer != null) m += `; p(${q(info.answer)}) = ${f3(info.pAnswer)}, rank ${info.rank} on the clean prompt`;
  if (m) lines.push({ kind: 'text', text: m.replace(/^; /, '') });
  if (info.rLine) lines.push({ kind: 'text', text: info.rLine });
  for (const w of info.warnings || []) lines.push({ kind: 'warn', text: `WARNING: ${w}` });
  return lines;
}

// caption lines laid out from (x, y) in a column of `width` px; tokens wrap at token boundaries
function caption(x, y, width, lines) {
  const max = Math.floor(width / CW), LH = SPEC.captionLineH;
  let s = `<g class='caption'>`, n = 0;
  for (const line of lines) {
    if (line.kind !== 'tokens') {
      for (const l of wrapText(line.text, max)) {
        s += text(x, y + 11 + n * LH, l, { fill: line.kind === 'warn' ? C.warn : C.text, bold: line.kind === 'warn', cls: line.kind === 'warn' ? 'warning' : '' });
        n++;
      }
      continue;
    }
    const indent = len(line.label);
    let col = indent, spans = [], marks = '';
    const flush = () => {
      const by = y + 11 + n * LH;
      s += marks + `<text x='${num(x)}' y='${num(by)}' fill='${C.text}'>${spans.join('')}</text>`;
      spans = []; marks = ''; n++;
    };
    spans.push(`<tspan class='label' fill='${C.muted}'>${txt(line.label)}</tspan>`);
    line.tokens.forEach((t, i) => {
      const d = plainToken(t);
      if (col + len(d) > max && col > indent) { flush(); col = indent; }
      const tx = x + col * CW;
      if (line.hi[i]) marks += `<rect class='differs' x='${num(tx)}' y='${num(y + n * LH + 1)}' width='${num(textW(d))}' height='${LH - 2}' fill='${C.highlight}'/>`;
      spans.push(`<tspan x='${num(tx)}'${line.hi[i] ? ` font-weight='bold'` : ''}>${txt(d)}</tspan>`);
      col += len(d);
    });
    flush();
  }
  return { body: s + '</g>', h: n * LH };
}

// ------------------------------------------------------------ heatmap figures
// One panel: a grid with its title, axis titles and labels, from (x, y).
function panel(x, y, p, cell, max, seq) {
  const labW = Math.max(...p.rowLabels.map(len)) * CW + SPEC.labelGap;
  const colLabH = Math.max(...p.colLabels.map(len)) * CW + SPEC.labelGap;
  const gridW = p.cols * cell, gridH = p.rows * cell;
  const w = Math.max(SPEC.axisTitleH + labW + gridW, textW(p.title));
  const gx = x + SPEC.axisTitleH + labW, gy = y + SPEC.titleH;
  let s = text(x, y + 13, p.title, { bold: true, size: SPEC.titleSize, cls: 'panel-title' });
  s += text(x + 13, gy + gridH / 2, p.rowAxis, { anchor: 'middle', rotate: true, fill: C.muted, cls: 'axis-title' });
  for (let r = 0; r < p.rows; r++) {
    s += text(gx - SPEC.labelGap, gy + r * cell + cell / 2 + 4, p.rowLabels[r], { anchor: 'end', fill: C.muted });
    for (let c = 0; c < p.cols; c++) {
      const v = p.values[r * p.cols + c];
      s += `<rect class='cell' data-kind='${p.kind}' data-r='${r}' data-c='${c}' data-v='${v}' x='${num(gx + c * cell)}' y='${num(gy + r * cell)}' ` +
        `width='${cell}' height='${cell}' fill='${seq ? sequential(v) : diverging(v, max)}' stroke='${C.cellStroke}' stroke-width='0.5'>` +
        `<title>${esc(`${p.rowAxis} ${p.rowLabels[r]}, ${p.colAxis} ${p.colLabels[c]}: ${v}`)}</title></rect>`;
    }
  }
  for (let c = 0; c < p.cols; c++)
    s += text(gx + c * cell + cell / 2 + 4, gy + gridH + SPEC.labelGap, p.colLabels[c], { anchor: 'end', rotate: true, fill: C.muted });
  s += text(gx + gridW / 2, gy + gridH + colLabH + SPEC.axisTitleH - 5, p.colAxis, { anchor: 'middle', fill: C.muted, cls: 'axis-title' });
  return { body: s, w, h: SPEC.titleH + gridH + colLabH + SPEC.axisTitleH };
}

// title, panels side by side on one colour scale, legend, caption
export function heatmapFigure({ title, panels, cell, max, units, seq = false, caption: lines }) {
  let y = P, body = text(P, y + 13, title, { bold: true, size: SPEC.titleSize, cls: 'figure-title' });
  y += SPEC.titleH;
  let x = P, ph = 0;
  for (const p of panels) {
    const r = panel(x, y, p, cell, max, seq);
    body += r.body;
    x += r.w + SPEC.panelGap;
    ph = Math.max(ph, r.h);
  }
  const W = Math.ceil(Math.max(SPEC.minWidth, x - SPEC.panelGap + P, SPEC.legendW + 2 * P));
  y += ph + SPEC.legendGap;
  const lg = legend(P, y, W - 2 * P, max, units, seq);
  body += lg.body;
  y += lg.h;
  if (lines && lines.length) {
    y += SPEC.captionGap;
    const cp = caption(P, y, W - 2 * P, lines);
    body += cp.body;
    y += cp.h;
  }
  return svgDoc(W, Math.ceil(y + P), body, title);
}

export const gridCell = (cols) => Math.max(SPEC.cellMin, Math.min(SPEC.cellMax, Math.floor(SPEC.gridTarget / cols)));
const range = (n) => Array.from({ length: n }, (_, i) => String(i));
const posLabels = (tokens) => tokens.map((t, i) => `${showToken(t)} ${i}`);
export const FIGURE_TITLE = {
  positions: (node) => `${NODE_TITLE[node]}, by layer and position`,
  heads: () => `${NODE_TITLE.head}, by layer and head`,
  headPositions: () => `${NODE_TITLE.head}, by layer.head and position`,
};
export const panelTitle = (method) => `${METHOD_TITLE[method] || method} (${method === 'ap' ? 'ground truth' : 'estimate'})`;

// Grouped-query attention: heads are query heads, and `group` of them read one key/value head
// (query head h reads key/value head floor(h / group), as the core computes them).
export function gqaNote(NH, NKV) {
  if (!NKV || NKV >= NH) return '';
  return ` (query; kv = head \u00f7 ${NH / NKV})`;
}

// Layer x position (resid/attn/mlp), layer x head, or layer.head x position maps:
// the estimate, and AP beside it on the same colour scale when it was computed.
// layout: 'positions' | 'heads' | 'headPositions'; v = { L, NH, tokens, est, ap, r, method, node, units, caption }
export function mapsFigure(v) {
  const { L, NH, tokens, layout } = v;
  const rows = layout === 'headPositions' ? L * NH : L, cols = layout === 'heads' ? NH : tokens.length;
  const rowLabels = layout === 'headPositions' ? Array.from({ length: rows }, (_, i) => `${Math.floor(i / NH)}.${i % NH}`) : range(rows);
  const colLabels = layout === 'heads' ? range(cols) : posLabels(tokens);
  const rowAxis = layout === 'headPositions' ? SPEC.axes.layerHead + gqaNote(NH, v.NKV) : SPEC.axes.layer;
  const colAxis = layout === 'heads' ? SPEC.axes.head + gqaNote(NH, v.NKV) : SPEC.axes.position;
  const base = { rows, cols, rowLabels, colLabels, rowAxis, colAxis };
  const panels = [{ ...base, title: panelTitle(v.method), values: v.est, kind: 'est' }];
  if (v.ap) panels.push({ ...base, title: `${panelTitle('ap')}${Number.isFinite(v.r) ? `, r = ${v.r.toFixed(3)}` : ''}`, values: v.ap, kind: 'ap' });
  return heatmapFigure({ title: FIGURE_TITLE[layout](v.node), panels, cell: layout === 'heads' ? SPEC.headCell : gridCell(cols),
    max: absMax(v.est, v.ap), units: v.units, caption: v.caption });
}

// Token relevance: the prompt's tokens as chips coloured by relevance, wrapped to the figure's width.
export function tokensFigure({ tokens, relevance, rules, caption: lines }) {
  const W = SPEC.tokensWidth, max = absMax(relevance);
  let y = P, body = text(P, y + 13, `token relevance (${rules} rules)`, { bold: true, size: SPEC.titleSize, cls: 'figure-title' });
  y += SPEC.titleH;
  let x = P;
  tokens.forEach((t, i) => {
    const label = showToken(t), w = Math.max(14, textW(label) + 8);
    if (x + w > W - P && x > P) { x = P; y += SPEC.chipLineH; }
    const fill = diverging(relevance[i], max);
    body += `<rect class='cell' data-kind='token' data-c='${i}' data-v='${relevance[i]}' data-r='0' x='${num(x)}' y='${num(y)}' width='${num(w)}' height='${SPEC.chipH}' rx='3' ` +
      `fill='${fill}' stroke='#bbbbbb' stroke-width='0.5'><title>${esc(`position ${i} ${q(t)}: ${relevance[i]}`)}</title></rect>` +
      text(x + 4, y + 14, label, { fill: inkOn(fill) }).replace('<text ', "<text pointer-events='none' ");
    x += w + SPEC.chipGap;
  });
  y += SPEC.chipLineH + SPEC.legendGap;
  const lg = legend(P, y, W - 2 * P, max, 'relevance');
  body += lg.body;
  y += lg.h + SPEC.captionGap;
  const cp = caption(P, y, W - 2 * P, lines);
  body += cp.body;
  return svgDoc(W, Math.ceil(y + cp.h + P), body, 'token relevance');
}

// ------------------------------------------------------------ scatter
const NODE_COLOR = { resid: '#1b9e77', attn: '#d95f02', mlp: '#7570b3', head: '#e7298a' };
// Estimate (y) against AP (x), every node of every type, with Pearson r per type.
export function scatterFigure({ est, ap, r, method, units, caption: lines }) {
  const size = 360, m = 56, nodes = Object.keys(ap);
  const all = nodes.flatMap((n) => [...est[n], ...ap[n]]).filter(Number.isFinite);
  let lo = Math.min(0, ...all), hi = Math.max(0, ...all);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
  const W = Math.max(SPEC.minWidth, m + size + 170);
  const top = P + SPEC.titleH + 8;
  const sx = (v) => m + ((v - lo) / (hi - lo)) * size, sy = (v) => top + size - ((v - lo) / (hi - lo)) * size;
  const unit = units === 'share' ? 'share restored' : 'logit units';
  let body = text(P, P + 13, `${METHOD_TITLE[method]} estimate vs activation patching, every node`, { bold: true, size: SPEC.titleSize, cls: 'figure-title' }) +
    `<rect x='${m}' y='${top}' width='${size}' height='${size}' fill='none' stroke='#999999'/>` +
    `<line x1='${num(sx(lo))}' y1='${num(sy(lo))}' x2='${num(sx(hi))}' y2='${num(sy(hi))}' stroke='#bbbbbb' stroke-dasharray='4 3'/>` +
    `<line x1='${num(sx(0))}' y1='${top}' x2='${num(sx(0))}' y2='${top + size}' stroke='#eeeeee'/><line x1='${m}' y1='${num(sy(0))}' x2='${m + size}' y2='${num(sy(0))}' stroke='#eeeeee'/>` +
    text(m + size / 2, top + size + 34, `AP, ground truth (${unit})`, { anchor: 'middle', fill: C.muted, cls: 'axis-title' }) +
    text(16, top + size / 2, `${METHOD_TITLE[method]} estimate (${unit})`, { anchor: 'middle', rotate: true, fill: C.muted, cls: 'axis-title' });
  for (const v of [lo, 0, hi]) {
    body += text(sx(v), top + size + 16, fmtTick(v), { anchor: 'middle', fill: C.muted }) +
      text(m - 4, sy(v) + 4, fmtTick(v), { anchor: 'end', fill: C.muted });
  }
  nodes.forEach((n, k) => {
    ap[n].forEach((a, i) => {
      const e = est[n][i];
      if (!Number.isFinite(a) || !Number.isFinite(e)) return;
      body += `<circle class='pt' data-kind='${n}' data-i='${i}' data-v='${e}' data-ap='${a}' cx='${num(sx(a))}' cy='${num(sy(e))}' r='3' fill='${NODE_COLOR[n]}' fill-opacity='0.7'>` +
        `<title>${esc(`${n} ${i}: AP ${a}, estimate ${e}`)}</title></circle>`;
    });
    const rv = r[n];
    body += `<circle cx='${m + size + 20}' cy='${top + 10 + k * 20}' r='4' fill='${NODE_COLOR[n]}'/>` +
      text(m + size + 30, top + 14 + k * 20, `${n}: r = ${Number.isFinite(rv) ? rv.toFixed(3) : 'n/a'}`, { cls: 'r' }).replace('<text ', `<text data-node='${n}' data-r='${rv}' `);
  });
  let y = top + size + 44;
  const lg = caption(P, y, W - 2 * P, [{ kind: 'text', text: 'dashed: estimate = AP; colour: node type' }]);
  body += lg.body;
  y += lg.h + SPEC.captionGap;
  const cp = caption(P, y, W - 2 * P, lines);
  body += cp.body;
  return svgDoc(W, Math.ceil(y + cp.h + P), body, 'estimate vs AP');
}

// ------------------------------------------------------------ attention
// Every head's pattern in one grid (rows: layers, columns: heads), clean and
// corrupted side by side, and one head (the focus) drawn large with its labels.
// patterns: { clean, corrupt }: Float32Array (L, NH, T, T), row = query.
export const attentionCells = (T) => Math.max(1, Math.min(4, Math.floor(56 / T)));
export function attentionFocus(a, focus, x0, y0) {
  const { L, NH, T, tokens, corruptTokens } = a;
  const layer = Math.min(focus.layer, L - 1), head = Math.min(focus.head, NH - 1);
  const cell = Math.max(10, Math.min(22, Math.floor(300 / T)));
  const off = (layer * NH + head) * T * T;
  const kvOf = (h) => (a.NKV && a.NKV < NH ? ` (kv ${Math.floor(h / (NH / a.NKV))})` : '');
  let s = '', x = x0, h = 0;
  for (const [which, toks] of [['clean', tokens], ['corrupt', corruptTokens]]) {
    const labels = posLabels(toks);
    const p = { title: `layer ${layer} head ${head}${kvOf(head)}, ${which === 'clean' ? 'clean' : 'corrupted'}`, rows: T, cols: T, rowLabels: labels, colLabels: labels,
      rowAxis: 'query', colAxis: 'key', kind: `focus-${which}`, values: a[which].subarray ? a[which].subarray(off, off + T * T) : a[which].slice(off, off + T * T) };
    const r = panel(x, y0, p, cell, 1, true);
    s += r.body;
    if (focus.row >= 0 && focus.row < T) {
      const labW = Math.max(...labels.map(len)) * CW + SPEC.labelGap;
      s += `<rect class='row-mark' x='${num(x + SPEC.axisTitleH + labW - 1)}' y='${num(y0 + SPEC.titleH + focus.row * cell - 1)}' width='${T * cell + 2}' height='${cell + 2}' fill='none' stroke='#111111' stroke-width='1.5'/>`;
    }
    x += r.w + SPEC.panelGap;
    h = Math.max(h, r.h);
  }
  return { body: s, w: x - SPEC.panelGap - x0, h };
}
export function attentionFigure(a, focus, lines) {
  const { L, NH, T } = a;
  const px = attentionCells(T), mini = T * px, gap = 6;
  let y = P, body = text(P, y + 13, `attention patterns of every head (rows: layers, columns: heads)`, { bold: true, size: SPEC.titleSize, cls: 'figure-title' });
  y += SPEC.titleH;
  let x = P, gh = 0;
  for (const which of ['clean', 'corrupt']) {
    const labW = String(L - 1).length * CW + SPEC.labelGap;
    body += text(x, y + 13, which === 'clean' ? 'clean prompt' : 'corrupted prompt', { bold: true, cls: 'panel-title' });
    const gx = x + SPEC.axisTitleH + labW, gy = y + SPEC.titleH, pat = a[which];
    body += text(x + 13, gy + (L * (mini + gap)) / 2, SPEC.axes.layer, { anchor: 'middle', rotate: true, fill: C.muted, cls: 'axis-title' });
    for (let l = 0; l < L; l++) {
      body += text(gx - SPEC.labelGap, gy + l * (mini + gap) + mini / 2 + 4, String(l), { anchor: 'end', fill: C.muted });
      for (let h = 0; h < NH; h++) {
        const mx = gx + h * (mini + gap), my = gy + l * (mini + gap), off = (l * NH + h) * T * T;
        const on = l === focus.layer && h === focus.head;
        body += `<g class='mini' data-layer='${l}' data-head='${h}' data-which='${which}'><title>layer ${l} head ${h}</title>` +
          `<rect x='${num(mx)}' y='${num(my)}' width='${mini}' height='${mini}' fill='#ffffff' stroke='${on ? '#111111' : '#cccccc'}' stroke-width='${on ? 2 : 0.5}'/>`;
        for (let i = 0; i < T; i++)
          for (let j = 0; j <= i; j++) {
            const v = pat[off + i * T + j];
            if (v > 0.02) body += `<rect x='${num(mx + j * px)}' y='${num(my + i * px)}' width='${px}' height='${px}' fill='${sequential(v)}'/>`;
          }
        body += '</g>';
      }
    }
    for (let h = 0; h < NH; h++) body += text(gx + h * (mini + gap) + mini / 2, gy + L * (mini + gap) + 10, String(h), { anchor: 'middle', fill: C.muted });
    body += text(gx + (NH * (mini + gap)) / 2, gy + L * (mini + gap) + 10 + SPEC.axisTitleH, SPEC.axes.head, { anchor: 'middle', fill: C.muted, cls: 'axis-title' });
    x = gx + NH * (mini + gap) + SPEC.panelGap;
    gh = Math.max(gh, SPEC.titleH + L * (mini + gap) + 10 + SPEC.axisTitleH);
  }
  const gridsW = x - SPEC.panelGap - P;
  y += gh + SPEC.legendGap;
  const f = attentionFocus(a, focus, P, y);
  body += `<g class='focus'>${f.body}</g>`;
  const W = Math.ceil(Math.max(SPEC.minWidth, gridsW + 2 * P, f.w + 2 * P));
  y += f.h + SPEC.legendGap;
  const lg = legend(P, y, W - 2 * P, 1, 'attention', true);
  body += lg.body;
  y += lg.h + SPEC.captionGap;
  const cp = caption(P, y, W - 2 * P, lines);
  body += cp.body;
  return svgDoc(W, Math.ceil(y + cp.h + P), body, `attention patterns`);
}
// the focus group's inner SVG for another head (the page swaps it in on hover)
export function attentionFocusBody(a, focus) {
  const px = attentionCells(a.T);
  const gh = SPEC.titleH + a.L * (a.T * px + 6) + 10 + SPEC.axisTitleH;
  return attentionFocus(a, focus, P, P + SPEC.titleH + gh + SPEC.legendGap).body;
}

// ------------------------------------------------------------ the node table
// rows: [{ node, layer, index, label, values: { method: v }, ap }]; methods: computed methods in order
export function nodeTable(rows, methods, hasAp, sort, k) {
  const key = sort === 'ap' ? (hasAp ? 'ap' : methods[0]) : methods.includes(sort) ? sort : (hasAp ? 'ap' : methods[0]);
  const val = (r, m) => (m === 'ap' ? r.ap : r.values[m]);
  const ranks = {};
  for (const m of [...methods, ...(hasAp ? ['ap'] : [])]) {
    const order = rows.map((r, i) => [Math.abs(val(r, m)), i]).sort((a, b) => b[0] - a[0]);
    const rk = new Int32Array(rows.length);
    order.forEach(([, i], n) => { rk[i] = n + 1; });
    ranks[m] = rk;
  }
  const idx = rows.map((_, i) => i).sort((a, b) => ranks[key][a] - ranks[key][b]).slice(0, k);
  const cols = [...methods, ...(hasAp ? ['ap'] : [])];
  const th = (m) => `<th scope='col' colspan='2'><button type='button' class='sort${m === key ? ' active' : ''}' data-sort='${m}' aria-pressed='${m === key}'>` +
    `${esc(METHOD_TITLE[m])}${m === key ? ' \u25bc' : ''}</button></th>`;
  let s = `<p class='table-caption info'>The ${idx.length} nodes with the largest |${esc(METHOD_TITLE[key])}| of ${rows.length}; values in the map's units, ranks by |value| among all nodes. Click a column to sort by it.</p><table class='nodes'>` +
    `<thead><tr><th scope='col'>node</th><th scope='col'>layer</th><th scope='col'>position / head</th>${cols.map(th).join('')}</tr>` +
    `<tr><th></th><th></th><th></th>${cols.map(() => '<th>value</th><th>rank</th>').join('')}</tr></thead><tbody>`;
  for (const i of idx) {
    const r = rows[i];
    s += `<tr data-node='${r.node}' data-layer='${r.layer}' data-index='${r.index}'><td>${esc(r.node)}</td><td>${r.layer}</td><td class='tok'>${esc(r.label)}</td>` +
      cols.map((m) => `<td class='v' data-v='${val(r, m)}' style='background:${diverging(val(r, m), 1)}'>${fmt(val(r, m))}</td><td class='rk'>${ranks[m][i]}</td>`).join('') + '</tr>';
  }
  return s + '</tbody></table>';
}

// ------------------------------------------------------------ viewSVG: one call for other callers
// The Python package (python/relp/_render.mjs) draws its views with this; render.js has no imports,
// so the file alone is the renderer. res: a result as plain data { tokens, L, NH, T, method,
// est: { resid, attn, mlp, head[, headPos] }, ap: { ... }, r: { ... }, mClean, mCorrupt, warning,
// tokenRelevance: [..], tokenRelevanceRules, metricValue } and, where known, model, corruptTokens,
// answer, wrong, pred: { pAnswer, rank }. view: { view: maps | heads | positions | tokens | scatter, node, method }.
export function viewSVG(res, view) {
  const method = view.method || res.method || 'relp', est = res.est || {}, ap = res.ap || {}, r = res.r || {};
  const unitsWarning = res.unitsWarning || (/metric units/.test(res.warning || '') ? res.warning : '');
  const warnings = res.warning ? [String(res.warning).replace(/^warning: /, '')] : [];
  const info = { model: res.model || '', method, steps: 0, clean: res.tokens, corrupt: res.corruptTokens || null, answer: res.answer,
    wrong: res.wrong, mClean: res.mClean, mCorrupt: res.mCorrupt, pAnswer: res.pred ? res.pred.pAnswer : 0, rank: res.pred ? res.pred.rank : 0,
    rLine: Object.keys(r).length ? `Pearson r of ${METHOD_TITLE[method] || method} with AP: ${Object.entries(r).map(([n, v]) => `${n} ${Number.isFinite(v) ? v.toFixed(3) : 'n/a'}`).join(', ')}` : '',
    warnings };
  const common = { L: res.L, NH: res.NH, NKV: res.NKV, tokens: res.tokens, method, units: unitsWarning ? 'metric' : 'share', caption: captionLines(info) };
  const has = (o, k) => o && o[k] && o[k].length;
  switch (view.view) {
    case 'tokens': {
      const rel = res.tokenRelevance || [];
      const total = Array.from(rel).reduce((a, b) => a + b, 0);
      return tokensFigure({ tokens: res.tokens, relevance: rel, rules: res.tokenRelevanceRules || 'relp',
        caption: captionLines({ ...info, method: res.tokenRelevanceRules || method, corrupt: null, rLine: '', relevance: { total, value: res.metricValue } }) });
    }
    case 'heads': return mapsFigure({ ...common, layout: 'heads', node: 'head', est: est.head, ap: has(ap, 'head') ? ap.head : null, r: r.head });
    case 'positions': return mapsFigure({ ...common, layout: 'headPositions', node: 'head', est: est.headPos, ap: has(ap, 'headPos') ? ap.headPos : null, r: r.headPos });
    case 'scatter': return scatterFigure({ est, ap, r, method, units: common.units, caption: common.caption });
    case 'maps': case undefined: {
      const node = view.node || 'resid';
      return mapsFigure({ ...common, layout: 'positions', node, est: est[node], ap: has(ap, node) ? ap[node] : null, r: r[node] });
    }
    default: throw new Error(`view ${JSON.stringify(view.view)}: viewSVG draws maps, heads, positions, tokens and scatter`);
  }
}
