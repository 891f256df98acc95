// test_figures.mjs - relp's one renderer (core/figure*.c) against the figures
// of the two it replaced, and the circuit views on synthetic inputs.
//
//   node tests/test_figures.mjs DRAW_BIN FIXTURES_DIR OUT_DIR RELP_BIN MODELS_DIR [WEB_DIR]
//
// 1. Every view of tests/fixtures/figures/NAME.json (the request) is drawn by
//    the native library (tests/draw_figures.c) and compared with NAME.svg, the
//    old page renderer's (web/render.js) SVG for the same inputs, element by
//    element: the same elements in the same order with the same attributes and
//    text; numbers (geometry, data-v, numbers inside texts) equal within 1e-9
//    relative (the old CLI wrote %.9g where the page writes every digit).
// 2. The CLI's figures: `relp attribute/explain --svg --png` for each
//    cli-NAME.json against cli-NAME.svg, the old CLI's (cli/heatmap.c); their
//    axis titles, caption and legend, and the warnings where the run's own
//    numbers (--json, `relp forward`) say they belong.
// 3. The PNGs (the CLI's at 1x, the library's at 2x): the SVG's size times the
//    scale, and every cell's centre pixel has the cell's fill.
// 4. The circuit views (faithfulness curves, circuit graph) on synthetic
//    inputs: every series drawn, log axis ticks at powers of ten, the legend
//    with each method's time, reference lines at 0 and 1; every node and edge,
//    edge widths ordered like |score| and coloured by sign, q/k/v ports; no
//    text overlapping another, everything inside the canvas; a PNG of each.
// 4b. Figures fitted to a narrow column (relp_figure_style.width), styled (font, caption off, a fixed colour
//    scale) and the paper's r table: readable at the column's width, no text over another.
// 5. A request with a wrong shape is refused with a message that says so.
// 6. With WEB_DIR (the WebAssembly build): the figure module draws every
//    fixture to the same bytes as the native library.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const [drawBin, fixDir, outDir, relpBin, modelsDir, webDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
let failures = 0, checks = 0;
const ok = (cond, label, detail = '') => {
  checks++;
  if (!cond) failures++;
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${label} ${detail}`);
};

// ---------------------------------------------------------------- SVG / HTML as elements
// [{ tag, attrs, text }] in document order (our markup: single-quoted attributes, no CDATA)
export function parse(svg) {
  const out = [], re = /<(\/?)([\w:]+)((?:\s+[\w:-]+='[^']*')*)\s*(\/?)>|([^<]+)/g, stack = [];
  let m;
  while ((m = re.exec(svg))) {
    if (m[5] !== undefined) { if (stack.length) stack[stack.length - 1].text += m[5]; continue; }
    if (m[1]) { stack.pop(); continue; }
    const attrs = {};
    for (const a of m[3].matchAll(/([\w:-]+)='([^']*)'/g)) attrs[a[1]] = a[2];
    const el = { tag: m[2], attrs, text: '' };
    out.push(el);
    if (!m[4]) stack.push(el);
  }
  return out;
}
const decode = (s) => s.replace(/&#160;/g, '\u00a0').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
// two strings the same but for their numbers, which agree within rel
const NUM = /-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|NaN|-?Infinity/g;
function sameText(a, b, rel = 1e-9) {
  if (a === b) return true;
  if (a.replace(NUM, '#') !== b.replace(NUM, '#')) return false;
  const x = a.match(NUM) || [], y = b.match(NUM) || [];
  return x.length === y.length && x.every((v, i) => {
    const p = Number(v), q = Number(y[i]);
    return p === q || (Number.isNaN(p) && Number.isNaN(q)) || Math.abs(p - q) <= rel * Math.max(Math.abs(p), Math.abs(q));
  });
}
// the first difference between two documents, or '' (same elements, order, attributes and text)
export function firstDifference(got, want, rel = 1e-9) {
  const a = parse(got), b = parse(want);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i], y = b[i];
    const show = (e) => (e ? `<${e.tag} ${Object.entries(e.attrs).map(([k, v]) => `${k}='${v}'`).join(' ')}>${decode(e.text).slice(0, 80)}` : '(none)');
    const diff = () => `element ${i} of ${b.length}:\n     new: ${show(x)}\n     old: ${show(y)}`;
    if (!x || !y || x.tag !== y.tag) return diff();
    const ka = Object.keys(x.attrs).sort(), kb = Object.keys(y.attrs).sort();
    if (ka.join() !== kb.join()) return diff();
    if (!ka.every((k) => sameText(decode(x.attrs[k]), decode(y.attrs[k]), rel))) return diff();
    if (!sameText(decode(x.text), decode(y.text), rel)) return diff();
  }
  return a.length ? '' : 'no elements';
}

// ---------------------------------------------------------------- PNG
function readPng(buf) { // 8-bit RGB, no interlace (what stb_image_write writes)
  let o = 8, w = 0, h = 0;
  const idat = [];
  while (o < buf.length) {
    const len = buf.readUInt32BE(o), type = buf.toString('latin1', o + 4, o + 8), data = buf.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') { w = data.readUInt32BE(0); h = data.readUInt32BE(4); }
    if (type === 'IDAT') idat.push(data);
    o += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat)), px = Buffer.alloc(w * h * 3), stride = w * 3;
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= 3 ? px[y * stride + x - 3] : 0, b = y > 0 ? px[(y - 1) * stride + x] : 0, c = x >= 3 && y > 0 ? px[(y - 1) * stride + x - 3] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      px[y * stride + x] = (line[x] + pred) & 255;
    }
  }
  return { w, h, px };
}
const pixel = (png, x, y) => '#' + [0, 1, 2].map((k) => png.px[(y * png.w + x) * 3 + k].toString(16).padStart(2, '0')).join('');
// the PNG has the SVG's size times scale, and every cell's centre pixel (inside its border, clear of a chip's text) its fill
function checkPng(label, svg, pngPath, scale) {
  const els = parse(svg), root = els[0];
  const png = readPng(fs.readFileSync(pngPath));
  ok(png.w === scale * Number(root.attrs.width) && png.h === scale * Number(root.attrs.height), `${label}: the PNG at ${scale}x is ${scale}x the SVG's size`,
     `(${png.w}x${png.h}, SVG ${root.attrs.width}x${root.attrs.height})`);
  let bad = 0, n = 0, first = '';
  for (const e of els.filter((x) => x.tag === 'rect' && x.attrs.class === 'cell')) {
    const x = Math.floor(scale * (Number(e.attrs.x) + 2)), y = Math.floor(scale * (Number(e.attrs.y) + 2));
    n++;
    if (pixel(png, x, y) !== e.attrs.fill) { bad++; first ||= `${pixel(png, x, y)} for ${e.attrs.fill} at ${x},${y}`; }
  }
  if (n) ok(bad === 0, `${label}: every cell of the PNG has its SVG fill`, `(${n} cells, ${bad} differ ${first})`);
  let drawn = 0;
  for (let i = 0; i < png.px.length; i += 3) if (png.px[i] < 250 || png.px[i + 1] < 250 || png.px[i + 2] < 250) drawn++;
  ok(drawn > 0.01 * png.w * png.h, `${label}: the PNG is not blank`, `(${(100 * drawn / (png.w * png.h)).toFixed(1)}% drawn)`);
}

function draw(files, scale = 2) {
  const r = spawnSync(drawBin, [outDir, '--png', String(scale), ...files], { encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n').filter(Boolean);
  return { status: r.status, lines, stderr: r.stderr };
}

// ---------------------------------------------------------------- 1. the page's views against the old renderer
const names = fs.readdirSync(fixDir).filter((f) => f.endsWith('.json') && !f.startsWith('cli-')).map((f) => f.slice(0, -5)).sort();
const drawn = draw(names.map((n) => path.join(fixDir, `${n}.json`)));
ok(drawn.status === 0 && drawn.lines.length === names.length, `the library draws every view of the fixtures (${names.length})`,
   drawn.lines.filter((l) => !l.startsWith('ok')).join('; ') + drawn.stderr);
for (const n of names) {
  const want = fs.readFileSync(path.join(fixDir, `${n}.svg`), 'utf8');
  const gotPath = [path.join(outDir, `${n}.svg`), path.join(outDir, `${n}.html`)].find((p) => fs.existsSync(p));
  const got = gotPath ? fs.readFileSync(gotPath, 'utf8') : '';
  const about = JSON.parse(fs.readFileSync(path.join(fixDir, `${n}.json`), 'utf8')).about;
  const d = got ? firstDifference(got, want) : 'not drawn';
  ok(!d, `${n}: the same ${parse(want).length} elements as the old renderer (${about})`, d);
  if (got.startsWith('<svg')) checkPng(n, got, path.join(outDir, `${n}.png`), 2);
}

// ---------------------------------------------------------------- 2. the CLI's figures against the old CLI
const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'models.json'), 'utf8'));
const model = path.join(modelsDir, manifest.default);
for (const f of fs.readdirSync(fixDir).filter((x) => /^cli-.*\.json$/.test(x)).sort()) {
  const n = f.slice(0, -5), { about, args } = JSON.parse(fs.readFileSync(path.join(fixDir, f), 'utf8'));
  const svgPath = path.join(outDir, `${n}.svg`), pngPath = path.join(outDir, `${n}.png`);
  const r = spawnSync(relpBin, [args[0], '--model', model, ...args.slice(1), '--json', '-', '--svg', svgPath, '--png', pngPath], { encoding: 'utf8' });
  if (r.status !== 0) { ok(false, `${n}: relp ${args.join(' ')}`, r.stderr); continue; }
  const got = fs.readFileSync(svgPath, 'utf8'), want = fs.readFileSync(path.join(fixDir, `${n}.svg`), 'utf8');
  const d = firstDifference(got, want, 1e-8); // the old CLI wrote values with 9 significant digits
  ok(!d, `${n}: relp ${args[0]} --svg draws the same ${parse(want).length} elements as the old CLI (${about})`, d);
  checkPng(n, got, pngPath, 1);
  // the caption, axis titles and warnings where they belong, from the run's own numbers
  const j = JSON.parse(r.stdout), opt = (k) => args[args.indexOf(k) + 1], explain = args[0] === 'explain';
  const fwd = JSON.parse(spawnSync(relpBin, ['forward', '--model', model, '--prompt', explain ? opt('--prompt') : opt('--clean'), '--top', '1', '--json'],
    { encoding: 'utf8' }).stdout);
  const predicted = fwd.top[0].piece === opt('--answer');
  const els = parse(got), texts = els.filter((e) => e.tag === 'text' || e.tag === 'tspan').map((e) => decode(e.text).replace(/\u00a0/g, ' ')).join(' ');
  const axis = els.filter((e) => e.attrs.class === 'axis-title').map((e) => decode(e.text));
  if (!explain) ok(axis.length === 2 && /layer/.test(axis[0]) && /position|head/.test(axis[1]), `${n}: axis titles`, `(${axis.join(' | ')})`);
  ok(texts.includes(`model: ${manifest.default}`) && texts.includes('colour:') && (explain || /corrupted:/.test(texts)), `${n}: caption (model, prompts, metric) and legend wording`);
  const warns = els.filter((e) => e.attrs.class === 'warning').map((e) => decode(e.text).replace(/\u00a0/g, ' ')).join(' ');
  const wantUnits = !explain && j.metric_clean === j.metric_corrupt, wantGap = !explain && !(j.metric_clean - j.metric_corrupt >= 0.5);
  const noising = args.includes('--noising'), kinds = (j.warnings || []).map((w) => w.kind);
  // the warnings the JSON names (the core's), each expected from the run's own numbers, and each drawn in the caption
  const squash = (s) => s.replace(/\s+/g, '');
  ok(kinds.includes('not_predicted') === !predicted && kinds.includes('gap_zero') === wantUnits &&
     (kinds.includes('gap_negative') || kinds.includes('gap_small')) === (wantGap && !wantUnits) && kinds.includes('noising') === noising &&
     /does not predict/.test(warns) === !predicted && /metric units/.test(warns) === wantUnits &&
     j.warnings.every((w) => squash(warns).includes(squash(`WARNING: ${w.text}`))),
     `${n}: warnings where they belong, the JSON's in the caption`, `(top token ${JSON.stringify(fwd.top[0].piece)}, metric clean ${j.metric_clean}, corrupted ${j.metric_corrupt}: ${kinds.join(', ')}: "${warns.slice(0, 120)}")`);
  if (noising) ok(/method: [^;]*, noising/.test(texts) && /noising: .*-1 = the corrupted run/.test(texts), `${n}: a noising figure says so, and what its 0 and -1 mean`, texts.slice(0, 300));
}

// ---------------------------------------------------------------- 4. the circuit views
// text boxes (CSS px) from the SVG's texts: 7 px a character, 12 px high above the baseline (rotated: turned)
function boxes(els) {
  const out = [];
  for (const e of els.filter((x) => x.tag === 'text')) {
    const s = decode(e.text), w = [...s].length * 7;
    if (!w) continue;
    const size = Number(e.attrs['font-size'] || 11.6), h = size;
    const anchor = e.attrs['text-anchor'] || 'start', shift = anchor === 'end' ? w : anchor === 'middle' ? w / 2 : 0;
    const tr = /translate\(([-\d.]+),([-\d.]+)\)/.exec(e.attrs.transform || '');
    if (tr) { const x = Number(tr[1]), y = Number(tr[2]); out.push({ s, x0: x - h + 2, x1: x + 2, y0: y - w + shift, y1: y + shift }); continue; }
    const x = Number(e.attrs.x), y = Number(e.attrs.y);
    out.push({ s, x0: x - shift, x1: x - shift + w, y0: y - h + 2, y1: y + 2 });
  }
  return out;
}
function layoutChecks(label, svg) {
  const els = parse(svg), W = Number(els[0].attrs.width), H = Number(els[0].attrs.height);
  const bx = boxes(els), over = [];
  for (let i = 0; i < bx.length; i++)
    for (let j = i + 1; j < bx.length; j++) {
      const a = bx[i], b = bx[j];
      if (a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5) over.push(`"${a.s}" / "${b.s}"`);
    }
  ok(over.length === 0, `${label}: no text overlaps another text's box`, `(${bx.length} texts${over.length ? `: ${over.slice(0, 4).join(', ')}` : ''})`);
  const outside = [];
  for (const b of bx) if (b.x0 < 0 || b.y0 < 0 || b.x1 > W || b.y1 > H) outside.push(`text "${b.s}"`);
  for (const e of els.slice(1)) {
    const a = e.attrs, n = (k) => Number(a[k]);
    if (e.tag === 'rect' && a.x !== undefined && (n('x') < 0 || n('y') < 0 || n('x') + n('width') > W || n('y') + n('height') > H)) outside.push(`rect ${a.class || ''}`);
    if (e.tag === 'circle' && (n('cx') - n('r') < 0 || n('cy') - n('r') < 0 || n('cx') + n('r') > W || n('cy') + n('r') > H)) outside.push(`circle ${a.class || ''}`);
    if (e.tag === 'line' && [n('x1'), n('x2')].some((v) => v < 0 || v > W) + [n('y1'), n('y2')].some((v) => v < 0 || v > H)) outside.push('line');
    const pts = e.tag === 'polyline' ? a.points : e.tag === 'path' ? a.d : null;
    if (pts) { const v = pts.match(/-?[\d.]+/g).map(Number); for (let i = 0; i < v.length; i += 2) if (v[i] < 0 || v[i] > W || v[i + 1] < 0 || v[i + 1] > H) { outside.push(e.tag); break; } }
  }
  ok(outside.length === 0, `${label}: everything inside the ${W}x${H} canvas`, outside.slice(0, 5).join(', '));
  return els;
}

const curves = {
  kind: 'curves', model: 'ioi-4l', nodes: 'attention heads and MLPs (layer x position)', data: 'IOI, 100 prompts (Wang et al.)', metric: 'logit difference',
  warnings: ['synthetic numbers for a test'],
  series: [
    { method: 'relp', n_nodes: [1, 3, 10, 30, 100, 300, 1000], faithfulness: [0.1, 0.35, 0.62, 0.81, 0.93, 0.99, 1], completeness: [0.95, 0.8, 0.55, 0.3, 0.12, 0.03, 0], seconds: 0.42 },
    { method: 'atp', n_nodes: [1, 3, 10, 30, 100, 300, 1000], faithfulness: [0.05, 0.2, null, 0.7, 0.9, 0.97, 1], completeness: [0.97, 0.9, 0.7, 0.45, 0.2, 0.05, 0], seconds: 0.31 },
    { method: 'ig', n_nodes: [1, 3, 10, 30, 100, 300, 1000], faithfulness: [-0.2, 0.1, 0.5, 0.75, 0.92, 1.1, 1], completeness: [null, null, null, null, null, null, null], seconds: 3.5 },
    { method: 'ap', n_nodes: [1, 10, 100, 1000], faithfulness: [0.15, 0.7, 0.95, 1], completeness: [0.9, 0.5, 0.1, 0], seconds: null },
  ],
};
const H = (l, h) => ({ name: `a${l}.${h}`, layer: l, column: h, kind: 'head', score: 0 });
const circuitNodes = [
  { name: 'input', layer: -1, column: 0, kind: 'embed', score: 0.2 },
  H(0, 1), H(0, 3), H(1, 0), H(1, 2), H(2, 5), H(2, 7), H(3, 4), H(3, 9),
  { name: 'm0', layer: 0, column: 0, kind: 'mlp', score: 0.6 }, { name: 'm2', layer: 2, column: 0, kind: 'mlp', score: -0.3 },
  { name: 'L1 resid f123@5', layer: 1, column: 123, kind: 'feature', hook: 'resid', position: 5, score: 0.4 },
  { name: 'L2 mlp f77@9', layer: 2, column: 77, kind: 'feature', hook: 'mlp', position: 9, score: -0.5 },
  { name: 'logit diff', layer: 4, column: 0, kind: 'logits', score: 1 },
].map((n, i) => ({ ...n, score: n.score || Math.sin(i) * 0.8 }));
const idx = Object.fromEntries(circuitNodes.map((n, i) => [n.name, i]));
const E = (u, v, score, letter = null) => ({ u: idx[u], v: idx[v], score, letter });
const circuit = {
  kind: 'circuit', title: 'IOI circuit of ioi-4l (synthetic)', lines: ['model: ioi-4l; nodes: heads, MLPs and SAE features; 13 edges; metric: logit difference'],
  warnings: [], nodes: circuitNodes,
  edges: [E('input', 'a0.1', 0.3, 'q'), E('input', 'a0.1', 0.1, 'k'), E('input', 'a0.3', -0.2, 'v'), E('a0.1', 'a1.0', 0.8, 'k'), E('a0.3', 'a1.2', -0.05, 'q'),
    E('m0', 'a1.2', 0.4, 'v'), E('a1.0', 'L1 resid f123@5', 0.25), E('L1 resid f123@5', 'a2.5', 0.6, 'q'), E('a1.2', 'm2', -0.7), E('m2', 'L2 mlp f77@9', 0.15),
    E('a2.5', 'a3.4', 1.0, 'v'), E('a2.7', 'a3.9', -0.9, 'k'), E('a3.4', 'logit diff', 1.2), E('a3.9', 'logit diff', -0.45), E('L2 mlp f77@9', 'logit diff', 0.02)],
};
fs.writeFileSync(path.join(outDir, 'curves.json'), JSON.stringify(curves));
fs.writeFileSync(path.join(outDir, 'circuit.json'), JSON.stringify(circuit));
for (const scale of [1, 4]) {
  const r = draw([path.join(outDir, 'curves.json'), path.join(outDir, 'circuit.json')], scale);
  ok(r.status === 0, `the curves and the circuit graph are drawn (PNG ${scale}x)`, r.lines.join('; ') + r.stderr);
  const sv = fs.readFileSync(path.join(outDir, 'curves.svg'), 'utf8'), sc = fs.readFileSync(path.join(outDir, 'circuit.svg'), 'utf8');
  checkPng(`curves ${scale}x`, sv, path.join(outDir, 'curves.png'), scale);
  checkPng(`circuit ${scale}x`, sc, path.join(outDir, 'circuit.png'), scale);
  fs.copyFileSync(path.join(outDir, 'curves.png'), path.join(outDir, `curves@${scale}x.png`));
  fs.copyFileSync(path.join(outDir, 'circuit.png'), path.join(outDir, `circuit@${scale}x.png`));
}
{ // the curves
  const els = layoutChecks('curves', fs.readFileSync(path.join(outDir, 'curves.svg'), 'utf8'));
  const lines = els.filter((e) => e.tag === 'polyline'), pts = els.filter((e) => e.tag === 'circle' && e.attrs.class === 'pt');
  const finite = (a) => a.filter((v, i) => v !== null && Number.isFinite(v)).length;
  const wantPts = curves.series.reduce((s, se) => s + finite(se.faithfulness) + finite(se.completeness), 0);
  const runsOf = (a) => { let n = 0, len = 0; for (const v of [...a, null]) { if (v !== null) len++; else { if (len >= 2) n++; len = 0; } } return n; };
  const wantLines = curves.series.reduce((s, se) => s + runsOf(se.faithfulness) + runsOf(se.completeness), 0);
  ok(pts.length === wantPts && lines.length === wantLines && curves.series.every((se) => lines.some((l) => l.attrs['data-method'] === se.method)),
     'curves: every series drawn, a marker per finite point and a line per run of them (NaN breaks the line)', `(${pts.length} markers, ${lines.length} lines; want ${wantPts}, ${wantLines})`);
  const colours = Object.fromEntries(curves.series.map((se) => [se.method, new Set(pts.filter((p) => p.attrs['data-method'] === se.method).map((p) => p.attrs.fill))]));
  ok(Object.values(colours).every((s) => s.size === 1) && new Set(Object.values(colours).map((s) => [...s][0])).size === curves.series.length,
     'curves: one colour per method, different methods different colours', JSON.stringify(Object.fromEntries(Object.entries(colours).map(([k, v]) => [k, [...v]]))));
  const ticks = els.filter((e) => e.attrs.class === 'tick-x');
  const perPanel = ticks.slice(0, ticks.length / 2), xs = perPanel.map((t) => Number(t.attrs.x)), steps = xs.slice(1).map((x, i) => x - xs[i]);
  ok(perPanel.map((t) => decode(t.text)).join() === '1,10,100,1000' && steps.every((d) => Math.abs(d - steps[0]) < 0.11),
     'curves: the x axis is logarithmic, ticks at powers of ten, evenly spaced', `(${perPanel.map((t) => decode(t.text)).join(', ')} at ${xs.join(', ')})`);
  { // a marker at n nodes sits where log10(n) falls between the decade ticks
    const p = pts.find((e) => e.attrs['data-method'] === 'relp' && e.attrs['data-x'] === '30');
    const want = xs[1] + Math.log10(3) * steps[0];
    ok(p && Math.abs(Number(p.attrs.cx) - want) < 0.11, 'curves: a point at 30 nodes sits at log10(30) on the axis', `(${p && p.attrs.cx}, want ${want.toFixed(1)})`);
  }
  const refs = els.filter((e) => e.tag === 'line' && e.attrs.class === 'ref');
  const yTicks = els.filter((e) => e.attrs.class === 'tick-y'), yOf = (v) => Number((yTicks.find((t) => decode(t.text) === v) || { attrs: { y: NaN } }).attrs.y) - 4;
  ok(refs.length === 4 && refs.filter((r) => r.attrs['data-v'] === '0').every((r) => Math.abs(Number(r.attrs.y1) - yOf('0')) < 0.11) &&
     refs.filter((r) => r.attrs['data-v'] === '1').every((r) => Math.abs(Number(r.attrs.y1) - yOf('1')) < 0.11) && refs.every((r) => r.attrs['stroke-dasharray']),
     'curves: dashed reference lines at 0 and 1 in both panels, level with the ticks 0 and 1', `(${refs.length} lines)`);
  const entries = els.filter((e) => e.attrs.class === 'legend-entry').map((e) => decode(e.text));
  ok(entries.join(' | ') === 'RelP (0.42 s) | AtP (0.31 s) | IG (3.50 s) | AP', 'curves: a legend entry per method with the core\'s title and its time', `(${entries.join(' | ')})`);
  const axes = els.filter((e) => e.attrs.class === 'axis-title').map((e) => decode(e.text));
  const cap = els.filter((e) => e.tag === 'text').map((e) => decode(e.text)).join(' ');
  ok(axes.filter((a) => /number of nodes/.test(a)).length === 2 && axes.some((a) => /faithfulness/.test(a)) && axes.some((a) => /completeness/.test(a)) &&
     cap.includes('model: ioi-4l; nodes: attention heads and MLPs') && cap.includes('metric: logit difference') && /WARNING: synthetic/.test(cap),
     'curves: axis titles, and the caption with the model, nodes, data, metric and warnings', `(${axes.join(' | ')})`);
}
{ // the circuit graph
  const els = layoutChecks('circuit', fs.readFileSync(path.join(outDir, 'circuit.svg'), 'utf8'));
  const nodes = els.filter((e) => e.tag === 'g' && e.attrs.class === 'node'), edges = els.filter((e) => e.tag === 'path' && e.attrs.class === 'edge');
  ok(nodes.length === circuit.nodes.length && edges.length === circuit.edges.length && nodes.every((n) => n.attrs['data-name'] && Number.isFinite(Number(n.attrs['data-score']))),
     'circuit: every node (with data-name and data-score) and every edge drawn', `(${nodes.length} nodes, ${edges.length} edges)`);
  const byAbs = edges.map((e) => [Math.abs(Number(e.attrs['data-score'])), Number(e.attrs['stroke-width'])]).sort((a, b) => a[0] - b[0]);
  ok(byAbs.every(([, w], i) => i === 0 || w >= byAbs[i - 1][1]) && byAbs[0][1] < byAbs[byAbs.length - 1][1], 'circuit: edge widths ordered like |score|',
     `(${byAbs.map(([s, w]) => `${s}:${w}`).join(' ')})`);
  const rgb = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  ok(edges.every((e) => { const [r, , b] = rgb(e.attrs.stroke), s = Number(e.attrs['data-score']); return s > 0 ? r > b : b > r; }), 'circuit: edges coloured by sign (red positive, blue negative)');
  const rows = new Map(); // a node's y by kind: input at the bottom, the logits at the top, layers in order
  const boxOf = (g) => els.slice(els.indexOf(g)).find((e) => e.tag === 'rect'); // a node's box: the first rect in its group
  for (const n of nodes) rows.set(n.attrs['data-name'], Number(boxOf(n).attrs.y));
  ok(rows.get('input') > rows.get('a0.1') && rows.get('a0.1') > rows.get('m0') && rows.get('m0') > rows.get('a1.0') && rows.get('a1.0') > rows.get('a3.4') &&
     rows.get('a3.4') > rows.get('logit diff') && rows.get('a1.0') > rows.get('L1 resid f123@5') === false && rows.get('L1 resid f123@5') > rows.get('a1.0'),
     'circuit: rows from the input at the bottom to the logits at the top; within a layer resid_pre, attention, MLP', JSON.stringify(Object.fromEntries(rows)));
  const ports = els.filter((e) => e.attrs.class === 'port').map((e) => decode(e.text));
  const wantPorts = new Set(circuit.edges.filter((e) => e.letter).map((e) => `${e.v}${e.letter}`)).size;
  ok(ports.length === wantPorts && ports.every((p) => /^[qkv]$/.test(p)), 'circuit: the q, k and v ports that edges enter are marked', `(${ports.length} of ${wantPorts})`);
  const lettered = edges.filter((e) => e.attrs['data-letter']);
  const endsOnPort = lettered.every((e) => {
    const end = e.attrs.d.match(/-?[\d.]+/g).map(Number).slice(-2), r = boxOf(nodes.find((n) => n.attrs['data-i'] === e.attrs['data-v']));
    const f = { q: 1 / 6, k: 0.5, v: 5 / 6 }[e.attrs['data-letter']];
    return Math.abs(end[0] - (Number(r.attrs.x) + f * Number(r.attrs.width))) < 0.2 && Math.abs(end[1] - (Number(r.attrs.y) + Number(r.attrs.height))) < 0.2;
  });
  ok(lettered.length === circuit.edges.filter((e) => e.letter).length && endsOnPort, 'circuit: an edge into a head\'s q, k or v ends on that port (left, middle, right)');
  const cap = els.filter((e) => e.tag === 'text').map((e) => decode(e.text)).join(' ');
  ok(els.some((e) => e.attrs.class === 'legend') && /red raises/.test(cap) && cap.includes('model: ioi-4l; nodes: heads'), 'circuit: a legend and the caption');
}

// ---------------------------------------------------------------- 4b. figures fitted to a column, styled, the r table
// fit-NAME: a request with style.width W: drawn no wider than W allows at its smallest readable scale
// (text 10 px of 11.6: the page scales it down that far), no text over another, all inside the canvas;
// style-NAME: sans-serif and without its caption; rtable-NAME: the paper's table
for (const n of names.filter((x) => /^(fit|style|rtable)-/.test(x))) {
  const req = JSON.parse(fs.readFileSync(path.join(fixDir, `${n}.json`), 'utf8')).request;
  const svg = fs.readFileSync(path.join(outDir, `${n}.svg`), 'utf8');
  const els = layoutChecks(n, svg), W = Number(els[0].attrs.width);
  if (req.style && req.style.width) ok(W * 10 / 11.6 <= req.style.width, `${n}: ${W} px wide, readable in a ${req.style.width} px column (scaled to ${(100 * Math.min(1, req.style.width / W)).toFixed(0)}%)`);
  if (req.style && req.style.caption === false) ok(!els.some((e) => e.attrs.class === 'caption') && /sans-serif/.test(els[0].attrs['font-family']), `${n}: sans-serif, no caption in the picture`);
}

// ---------------------------------------------------------------- 5. bad requests
{
  const bad = path.join(outDir, 'bad-shape.json');
  const q = JSON.parse(fs.readFileSync(path.join(fixDir, 'heads-relp-ap.json'), 'utf8')).request;
  fs.writeFileSync(bad, JSON.stringify({ ...q, est: q.est.slice(1) }));
  const r = draw([bad]);
  ok(r.status !== 0 && /"est" has \d+ numbers; its shape needs \d+/.test(r.lines.join(' ')), 'a request whose scores do not fit its shape is refused, saying so', `(${r.lines.join(' ')})`);
}

// ---------------------------------------------------------------- 6. the WebAssembly figure module draws the same bytes
if (webDir) {
  const { loadFigures } = await import(path.resolve(webDir, 'relp.mjs'));
  const figures = await loadFigures({ gluePath: path.resolve(webDir, 'relp_figure.js'), wasmBinary: fs.readFileSync(path.resolve(webDir, 'relp_figure.wasm')) });
  const differ = [];
  for (const n of [...names, 'curves', 'circuit']) {
    const file = names.includes(n) ? path.join(fixDir, `${n}.json`) : path.join(outDir, `${n}.json`);
    const j = JSON.parse(fs.readFileSync(file, 'utf8')), req = j.request || j;
    const native = [`${n}.svg`, `${n}.html`].map((f) => path.join(outDir, f)).find((p) => fs.existsSync(p));
    if (figures.draw(req).svg !== fs.readFileSync(native, 'utf8')) differ.push(n);
  }
  ok(differ.length === 0, `the WebAssembly figure module draws every view to the native library's bytes (${names.length + 2})`, differ.join(', '));
  const png = figures.png(JSON.parse(fs.readFileSync(path.join(fixDir, 'heads-relp-ap.json'), 'utf8')).request, 2);
  const want = readPng(fs.readFileSync(path.join(outDir, 'heads-relp-ap.png')));
  const got = readPng(Buffer.from(png));
  ok(got.w === want.w && got.h === want.h && got.px.equals(want.px), 'and its PNG has the native library\'s pixels', `(${got.w}x${got.h})`);
}
console.log(`${checks} checks, ${failures} failed; figures in ${outDir}`);
process.exit(failures ? 1 : 0);
