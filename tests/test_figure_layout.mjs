// test_figure_layout.mjs - one figure layout, not two: the CLI's --svg and
// --png (cli/heatmap.c) against the page's exported figure (web/render.js),
// both drawn from the layout spec at the top of web/render.js (SPEC).
//
//   node tests/test_figure_layout.mjs SOURCE_WEB_DIR WEB_DIR RELP_BIN MODELS_DIR OUT_DIR
//
// For each case (layer x position, layer x head, layer.head x position,
// token relevance; a prompt the model gets right, one it gets wrong, and a
// degenerate pair whose scores are in metric units), run `relp attribute` /
// `relp explain` with --json, --svg and --png, then draw the page's figure
// in Node from the CLI's scores with render.js, and with the tokens, the
// prediction and the warnings computed here on the WebAssembly engine (an
// independent forward pass). Checks:
// - the two SVGs have the same elements in the same order with the same
//   geometry, colours, classes and text (everything but the exact values in
//   data-v and the tooltips, which the two write with different digits);
// - the caption and the axis titles are there, and the warnings where they belong;
// - the PNG has the SVG's size, and every cell's centre pixel has its fill.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const [srcWeb, webDir, relpBin, modelsDir, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const { mapsFigure, tokensFigure, captionLines } = await import(path.resolve(srcWeb, 'render.js'));
const { runWarnings, unitsOf, MIN_GAP } = await import(path.resolve(srcWeb, 'guard.js'));
const { loadEngine } = await import(path.resolve(webDir, 'relp.mjs'));

let failures = 0, checks = 0;
const ok = (cond, label, detail = '') => {
  checks++;
  if (!cond) failures++;
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${label} ${detail}`);
};

const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'models.json'), 'utf8'));
const name = manifest.default, dir = path.join(modelsDir, name);
const engine = await loadEngine({ gluePath: path.resolve(webDir, 'relp_engine.js'), wasmBinary: fs.readFileSync(path.resolve(webDir, 'relp_engine.wasm')) });
const files = fs.readdirSync(dir).filter((f) => /\.(json|safetensors|txt)$/.test(f)).map((f) => ({ name: f, bytes: new Uint8Array(fs.readFileSync(path.join(dir, f))) }));
const model = engine.loadModel(files);
const piece = (id) => model.tokenString(id);
// the figures' method titles are the core's preset titles (relp_rules_presets), for every preset
const { SPEC } = await import(path.resolve(srcWeb, 'render.js'));
const presets = engine.presets.filter((p) => p.name !== 'grad');
ok(presets.length > 0 && presets.every((p) => SPEC.methods[p.name] === p.title), 'the figures name every RelP preset as the core does',
   `(${presets.map((p) => `${p.name}: core "${p.title}", figure "${SPEC.methods[p.name]}"`).join('; ')})`);

// the prediction after a prompt, from the wasm engine's logits
function predict(ids, answer) {
  const lg = model.forward(ids);
  let mx = -Infinity, best = 0;
  lg.forEach((v, i) => { if (v > mx) { mx = v; best = i; } });
  let z = 0, rank = 1;
  for (const v of lg) { z += Math.exp(v - mx); if (v > lg[answer]) rank++; }
  return { top: [{ piece: piece(best), prob: 1 / z }], pAnswer: Math.exp(lg[answer] - mx) / z, rank };
}

// SVG -> [{ tag, attrs, text }] in document order (our SVGs: single-quoted attributes, no CDATA)
function parse(svg) {
  const out = [], re = /<(\/?)([\w:]+)((?:\s+[\w:-]+='[^']*')*)\s*(\/?)>|([^<]+)/g;
  let m;
  const stack = [];
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
const decode = (s) => s.replace(/&#160;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
// what must match: everything except exact values (data-v) and tooltips (title text)
function shape(els) {
  const skipText = new Set(['title']);
  return els.map((e) => {
    const a = { ...e.attrs };
    delete a['data-v'];
    return `${e.tag} ${JSON.stringify(a)} ${skipText.has(e.tag) ? '' : decode(e.text)}`;
  });
}

// a PNG's pixels (8-bit RGB, no interlace: what stb_image_write writes)
function readPng(buf) {
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

const IOI = ['When John and Mary went to the shops, John gave the bag to', 'When John and Mary went to the shops, Mary gave the bag to'];
const cases = [
  { label: 'layer x position, MLP, RelP', cmd: 'attribute', method: 'relp', node: 'mlp', layout: 'positions', p: [...IOI, ' Mary', ' John'] },
  { label: 'layer x head, AtP, a prompt the model gets wrong', cmd: 'attribute', method: 'atp', node: 'head', layout: 'heads', p: [...IOI, ' John', ' Mary'] },
  { label: 'layer.head x position, IG (input path)', cmd: 'attribute', method: 'ig-input', node: 'head', pp: true, layout: 'headPositions', p: [...IOI, ' Mary', ' John'] },
  // identical prompts are refused (bad_input_cli); a corruption that hardly moves the metric gets the gap warning
  { label: 'layer x position, a corruption with no gap', cmd: 'attribute', method: 'ap', node: 'resid', layout: 'positions',
    p: [IOI[0], IOI[0].replace('shops', 'park'), ' Mary', ' John'] },
  { label: 'token relevance, RelP (CP)', cmd: 'explain', rules: 'relp-cp', layout: 'tokens', p: [IOI[0], null, ' Mary', ' John'] },
];

for (const c of cases) {
  const stem = path.join(outDir, c.label.replace(/[^\w]+/g, '-'));
  const [clean, corrupt, answer, wrong] = c.p;
  const args = c.cmd === 'explain'
    ? ['explain', '--model', dir, '--prompt', clean, '--answer', answer, '--wrong', wrong, '--rules', c.rules]
    : ['attribute', '--model', dir, '--clean', clean, '--corrupt', corrupt, '--answer', answer, '--wrong', wrong, '--method', c.method,
       '--node', c.node, ...(c.pp ? ['--per-position'] : []), ...(c.method === 'ig-input' ? ['--steps', '5'] : [])];
  const run = spawnSync(relpBin, [...args, '--json', '-', '--svg', `${stem}.svg`, '--png', `${stem}.png`], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`relp ${args.join(' ')}: exit ${run.status}: ${run.stderr}`);
  const j = JSON.parse(run.stdout);
  // the core's warning when it cannot normalise (its own words, which the CLI prints), for the page's caption
  const coreWarning = (/relp: (warning: the metric is the same[^\n]*)/.exec(run.stderr) || [])[1] || '';
  const cleanIds = model.tokenize(clean), aId = model.singleToken(answer), wId = model.singleToken(wrong);
  const pred = predict(cleanIds, aId);
  const info = { model: name, method: c.cmd === 'explain' ? c.rules : c.method, steps: c.method === 'ig-input' ? 5 : 0,
    clean: Array.from(cleanIds, piece), corrupt: corrupt ? Array.from(model.tokenize(corrupt), piece) : null, answer: piece(aId), wrong: piece(wId),
    mClean: j.metric_clean, mCorrupt: j.metric_corrupt, nPrompts: 1, pAnswer: pred.pAnswer, rank: pred.rank };
  let svg;
  if (c.cmd === 'explain') {
    const ws = runWarnings({ answer: info.answer, mClean: 1, mCorrupt: 0, pred }).filter((w) => w.kind === 'predict');
    svg = tokensFigure({ tokens: info.clean, relevance: j.relevance, rules: c.rules,
      caption: captionLines({ ...info, relevance: { total: j.sum, value: j.metric_value }, warnings: ws.map((w) => w.text) }) });
  } else {
    const units = unitsOf({ unitsWarning: coreWarning });
    const ws = runWarnings({ answer: info.answer, mClean: j.metric_clean, mCorrupt: j.metric_corrupt, pred, unitsWarning: coreWarning });
    svg = mapsFigure({ layout: c.layout, L: j.layers, NH: model.info.nHead, tokens: info.clean, est: j.scores.flat(Infinity), ap: null,
      method: c.method, node: c.node, units, caption: captionLines({ ...info, warnings: ws.map((w) => w.text) }) });
  }
  fs.writeFileSync(`${stem}.page.svg`, svg);
  const cli = fs.readFileSync(`${stem}.svg`, 'utf8');
  const a = shape(parse(cli)), b = shape(parse(svg));
  let diff = -1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) { diff = i; break; }
  ok(diff < 0, `${c.label}: the CLI's SVG and the page's have the same ${a.length} elements`,
     diff < 0 ? '' : `(first difference at element ${diff}:\n   cli:  ${a[diff]}\n   page: ${b[diff]})`);
  const els = parse(cli);
  const texts = els.filter((e) => e.tag === 'text' || e.tag === 'tspan').map((e) => decode(e.text));
  const axis = els.filter((e) => e.attrs.class === 'axis-title').map((e) => decode(e.text));
  if (c.layout !== 'tokens') ok(axis.length === 2 && /layer/.test(axis[0]) && /position|head/.test(axis[1]), `${c.label}: axis titles`, `(${axis.join(' | ')})`);
  const capText = texts.join(' ');
  ok(capText.includes(`model: ${name}`) && capText.includes('colour:') && (c.layout === 'tokens' || /corrupted:/.test(capText)),
     `${c.label}: caption (model, prompts, metric) and legend wording`);
  const warns = els.filter((e) => e.attrs.class === 'warning').map((e) => decode(e.text)).join(' ');
  const wantPredict = pred.rank !== 1, wantUnits = c.cmd === 'attribute' && j.metric_clean === j.metric_corrupt;
  const wantGap = c.cmd === 'attribute' && !(j.metric_clean - j.metric_corrupt >= MIN_GAP);
  ok(/does not predict/.test(warns) === wantPredict && /metric units/.test(warns) === wantUnits && /gap/.test(warns) === wantGap,
     `${c.label}: warnings where they belong`, `(rank ${pred.rank}, metric clean ${j.metric_clean}, corrupted ${j.metric_corrupt}: "${warns.slice(0, 120)}")`);
  const root = els[0];
  const png = readPng(fs.readFileSync(`${stem}.png`));
  ok(png.w === Number(root.attrs.width) && png.h === Number(root.attrs.height), `${c.label}: PNG has the SVG's size`, `(${png.w}x${png.h})`);
  let bad = 0, n = 0;
  for (const e of els.filter((x) => x.tag === 'rect' && x.attrs.class === 'cell')) {
    const x = Math.floor(Number(e.attrs.x)) + 2, y = Math.floor(Number(e.attrs.y)) + 2; // inside the border, clear of the token chips' text
    const hex = '#' + [0, 1, 2].map((k) => png.px[(y * png.w + x) * 3 + k].toString(16).padStart(2, '0')).join('');
    n++;
    if (hex !== e.attrs.fill) bad++;
  }
  ok(n > 0 && bad === 0, `${c.label}: every cell of the PNG has its SVG fill`, `(${n} cells, ${bad} differ)`);
}
model.free();
console.log(`${checks} checks, ${failures} failed; figures in ${outDir}`);
process.exit(failures ? 1 : 0);
