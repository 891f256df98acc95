// bench_wasm_chromium.mjs - the two SIMD modules' forward pass in headless
// Chromium (Debian chromium, npm playwright-core), one thread, same weights:
// relp_engine (SIMD128) and relp_engine_relaxed (f32x4.relaxed_madd).
//
//   node bench/bench_wasm_chromium.mjs WEB_DIR [RUNS]
//
// The page's folder is served by tools/serve.mjs; in a blank page of it both
// modules load through relp.mjs and build the same random GPT-2-small-shaped
// model (f32, seed 1). B = 1, T = 16, logits at the last position; three
// warm-up calls, then the modules alternate over 3 rounds of RUNS calls and
// the best median counts (as bench/bench_wasm.mjs does in Node). Prints a
// Markdown table and one JSON line.
import { chromium } from 'playwright-core';
import { serveChild } from '../tools/serve_child.mjs';

const [webDir, runsArg] = process.argv.slice(2);
const RUNS = Number(runsArg || 10);
const [server, url] = serveChild(webDir);
const base = await url;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  await page.goto(new URL('relp.mjs', base).href); // any same-origin document: the modules are imported from it
  const out = await page.evaluate(async (RUNS) => {
    const { loadEngine, engineName, relaxedSimdSupported } = await import('./relp.mjs');
    const relaxed = await relaxedSimdSupported();
    const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
    const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 7919 + 13) % 50257);
    const runs = [];
    for (const r of relaxed ? [false, true] : [false]) {
      const name = engineName({ relaxed: r });
      const wasm = await (await fetch(`${name}.wasm`)).arrayBuffer();
      const engine = await loadEngine({ glueUrl: new URL(`${name}.js`, location.href), wasmBinary: wasm });
      const model = engine.randomModel({ L: 12, C: 768, NH: 12, seed: 1 });
      for (let i = 0; i < 3; i++) model.forward(ids);
      runs.push({ name, kernels: engine.kernels, model, logits: model.forward(ids), best: Infinity });
    }
    let d = 0, m = 0;
    if (runs.length === 2) runs[0].logits.forEach((v, i) => { d = Math.max(d, Math.abs(v - runs[1].logits[i])); m = Math.max(m, Math.abs(v)); });
    for (let round = 0; round < 3; round++)
      for (const r of runs) {
        const ts = [];
        for (let i = 0; i < RUNS; i++) { const t0 = performance.now(); r.model.forward(ids); ts.push(performance.now() - t0); }
        r.best = Math.min(r.best, median(ts));
      }
    return { ua: navigator.userAgent, relaxed, d, m, runs: runs.map(({ name, kernels, best }) => ({ name, kernels, best })) };
  }, RUNS);
  console.log(`GPT-2-small shape (random weights, f32), B=1, T=16, one thread, ${/Chrom\S+/.exec(out.ua)?.[0] ?? out.ua}; medians of ${RUNS} runs, best of 3 rounds`);
  if (!out.relaxed) console.log('this Chromium does not validate relaxed SIMD: relp_engine_relaxed left out');
  else console.log(`relaxed vs plain module logits: max|diff| ${out.d.toExponential(2)} of max|logit| ${out.m.toFixed(2)}`);
  console.log('| forward in Chromium | ms |\n|---|---|');
  for (const r of out.runs) console.log(`| relp wasm (${r.kernels}) | ${r.best.toFixed(1)} |`);
  const [p, x] = out.runs;
  if (x) console.log(`| ratio relaxed / plain SIMD128 | **${(x.best / p.best).toFixed(2)}** (target <= 0.75) |`);
  console.log(JSON.stringify({ chromium_plain_ms: +p.best.toFixed(2), ...(x ? { chromium_relaxed_ms: +x.best.toFixed(2), relaxed_ratio: +(x.best / p.best).toFixed(3) } : {}) }));
  if (x && !(out.d <= 1e-5 * out.m)) { console.error('relaxed and plain modules disagree'); process.exitCode = 1; }
} finally {
  await browser.close();
  server.kill();
}
