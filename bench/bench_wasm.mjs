// bench_wasm.mjs - the WebAssembly forward pass against onnxruntime-web, in
// Node, one thread each, on the same weights, in the same run.
//
//   node bench/bench_wasm.mjs WEB_DIR CKPT_DIR MODEL.onnx [RUNS]
//
// relp: build/wasm-release/web's SIMD128 module via wasm/relp.mjs (f32
// weights, logits at the last position). onnxruntime-web (npm, its WASM SIMD
// backend, numThreads = 1): the same checkpoint exported to ONNX by Debian's
// PyTorch (bench/export_onnx.py), also logits at the last position only.
// Both get warm-up calls first (V8 keeps a hot loop called once in its
// baseline tier); then the peers take turns call by call, and the medians
// count. Prints a Markdown table and one JSON line.
//
// Also the relaxed-SIMD module (relp_engine_relaxed: f32x4.relaxed_madd) on
// the same weights, in the same turns, and its time over the plain SIMD128
// module's (no target: on this CPU relaxed_madd's peak bounds it near 0.9). Node 20 validates relaxed SIMD only with
// --experimental-wasm-relaxed-simd, which this script sets itself
// (v8.setFlagsFromString, before any module is compiled); where it still does
// not validate, the relaxed row is left out, saying so.
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';

const [webDir, ckpt, onnxPath, runsArg] = process.argv.slice(2);
const RUNS = Number(runsArg || 10), T = 16;
const { loadEngine, engineName, relaxedSimdSupported } = await import(path.resolve(webDir, 'relp.mjs'));
const flagged = !await relaxedSimdSupported();
if (flagged) (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
const relaxed = await relaxedSimdSupported();
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const ids = Array.from({ length: T }, (_, i) => (i * 7919 + 13) % 50257);

const load = (name) => loadEngine({ gluePath: path.resolve(webDir, `${name}.js`), wasmBinary: fs.readFileSync(path.resolve(webDir, `${name}.wasm`)) });
const engine = await load(engineName({ relaxed: false }));
const files = ['config.json', 'model.safetensors'].map((name) => ({ name, bytes: new Uint8Array(fs.readFileSync(path.join(ckpt, name))) }));
const model = engine.loadModel(files);
const engineX = relaxed ? await load(engineName({ relaxed: true })) : null;
const modelX = engineX ? engineX.loadModel(files) : null;
if (!relaxed) console.log(`relp_engine_relaxed left out: Node ${process.version} does not validate relaxed SIMD`);
const relpIds = Int32Array.from(ids);

ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(fs.readFileSync(onnxPath), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
const feeds = { ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, T]) };

// the two agree (a wrong peer would make the ratio meaningless)
const a = model.forward(relpIds), b = (await session.run(feeds)).logits.data;
let d = 0, m = 0;
for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
if (!(d <= 1e-3 * m)) { console.error(`relp and onnxruntime-web disagree: max|diff| ${d} (max|logit| ${m})`); process.exit(1); }
let dx = 0;
if (modelX) {
  const x = modelX.forward(relpIds);
  for (let i = 0; i < a.length; i++) dx = Math.max(dx, Math.abs(x[i] - a[i]));
  if (!(dx <= 1e-5 * m)) { console.error(`relaxed and plain modules disagree: max|diff| ${dx} (max|logit| ${m})`); process.exit(1); }
}

// The peers take turns call by call, so that both meet the same load: on the shared VM the load of other
// jobs can double both engines' times for tens of seconds (bench/README.md, 2026-12-07), which rounds of one
// peer at a time turned into ratios from 0.69 to 0.84 in one afternoon. Medians of 3 x RUNS calls each.
const peers = [() => model.forward(relpIds), ...(modelX ? [() => modelX.forward(relpIds)] : []), () => session.run(feeds)];
for (let i = 0; i < 3; i++) for (const fn of peers) await fn();
const ts = peers.map(() => []);
for (let i = 0; i < 3 * RUNS; i++)
  for (const [k, fn] of peers.entries()) { const t0 = performance.now(); await fn(); ts[k].push(performance.now() - t0); }
const r = median(ts[0]), o = median(ts.at(-1)), x = modelX ? median(ts[1]) : NaN;
// the multiply-add peak of this engine, one thread (bench/wasm_peak.mjs), and the forward pass's share of it:
// its FLOPs as bench/report.py counts them (block matrices, causal attention, logits at the last position)
const { maddPeak } = await import('./wasm_peak.mjs');
const peak = maddPeak(), peakX = modelX ? maddPeak({ relaxed: true }) : null;
const { nLayer: L, nEmbd: C, vocabSize: V } = model.info;
const gflop = (2 * T * 12 * L * C * C + 4 * L * C * T * (T + 1) / 2 + 2 * C * V) / 1e9;
console.log(`GPT-2-small shape (random weights, f32), B=1, T=${T}, one thread, Node ${process.version}; medians of ${3 * RUNS} runs, the peers taking turns call by call`);
console.log(`logits agree: max|diff| ${d.toExponential(2)} of max|logit| ${m.toFixed(2)}` +
            (modelX ? `; relaxed vs plain module max|diff| ${dx.toExponential(2)}` : ''));
if (modelX && flagged) console.log('(relaxed SIMD enabled in this Node by --experimental-wasm-relaxed-simd)');
console.log('| forward | ms |\n|---|---|');
console.log(`| relp wasm (${engine.kernels}) | ${r.toFixed(1)} |`);
if (modelX) console.log(`| relp wasm (${engineX.kernels}) | ${x.toFixed(1)} |`);
console.log(`| onnxruntime-web ${ort.env.versions.web} (wasm) | ${o.toFixed(1)} |`);
console.log(`| ratio relp / onnxruntime-web | **${(r / o).toFixed(2)}** (target <= 0.8) |`);
console.log(`relp's forward: ${gflop.toFixed(2)} GFLOP at ${(gflop / r * 1e3).toFixed(1)} GFLOP/s, ${(100 * gflop / r * 1e3 / peak).toFixed(0)}% of ` +
            `this engine's SIMD128 multiply-add peak, ${peak.toFixed(1)} GFLOP/s (bench/wasm_peak.mjs)` +
            (modelX && peakX ? `; relaxed: ${(gflop / x * 1e3).toFixed(1)} GFLOP/s, ${(100 * gflop / x * 1e3 / peakX).toFixed(0)}% of its relaxed_madd peak, ${peakX.toFixed(1)}` : ''));
if (modelX) console.log(`| ratio relaxed / plain SIMD128 | **${(x / r).toFixed(2)}** (no target: its bound on this CPU is the two peaks' ratio) |`);
console.log(JSON.stringify({ relp_wasm_forward_ms: +r.toFixed(2), ort_web_forward_ms: +o.toFixed(2), ratio: +(r / o).toFixed(3),
  gflop: +gflop.toFixed(3), simd128_peak_gflops: +peak.toFixed(1), share_of_peak: +(gflop / r * 1e3 / peak).toFixed(3),
  ...(modelX && peakX ? { relaxed_peak_gflops: +peakX.toFixed(1), relaxed_share_of_peak: +(gflop / x * 1e3 / peakX).toFixed(3) } : {}),
  ...(modelX ? { relp_wasm_relaxed_forward_ms: +x.toFixed(2), relaxed_ratio: +(x / r).toFixed(3) } : {}) }));
model.free();
if (modelX) modelX.free();
