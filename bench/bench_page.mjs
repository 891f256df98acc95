// bench_page.mjs - the page in headless Chromium, timed from a click on Run
// to the drawn maps: RelP and the activation-patching sweep (AP) beside it,
// on 1 and 2 threads (the page served cross-origin isolated, as
// tools/serve.mjs does, so that it runs the threaded module).
//
//   node bench/bench_page.mjs WEB_DIR CKPT_DIR [RUNS]
//
// CKPT_DIR: a checkpoint (tests/write_checkpoint.py writes GPT-2-shaped
// random ones: the values do not change the time). The prompt is the IOI
// demo's (15 tokens with BOS). Each timed run changes the corrupted prompt,
// so the page computes afresh; the first run after opening warms the wasm
// tiers up and is not counted. Then, where /usr/bin/python3 has torch, the
// same RelP in PyTorch float32 on the same checkpoint (bench/torch_relp.py:
// the official code's computation, 1 and 2 OpenBLAS threads, checked against
// relp's scores when build/native-release/relp exists), and the ratio of the
// page's RelP to it. Prints a table, then one JSON line.
//
// Then the circuit views on the bundled model with its SAEs, on 2 threads: the page opened on the
// feature circuit of 64 IOI prompts (open to drawn circuit: model, SAEs, RelP scores, the faithfulness at the
// circuit's size), then the Faithfulness view's Run: RelP, AtP and IG on features, 15 sizes (Run to drawn
// curves). A fresh page per run (the worker keeps what it computed); the first is the warm-up.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serveChild as serve } from '../tools/serve_child.mjs';

const [webDir, ckpt, runsArg] = process.argv.slice(2);
if (!webDir || !ckpt) {
  console.error('usage: node bench/bench_page.mjs WEB_DIR CKPT_DIR [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg || 3);
const [s1, b1] = serve(webDir), [s2, b2] = serve(path.dirname(path.resolve(ckpt)));
const base = await b1, files = await b2;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const clean = 'When John and Mary went to the shops, John gave the bag to';
const corrupts = ['When John and Mary went to the shops, Sid gave the bag to', 'When John and Mary went to the shops, Tom gave the bag to'];
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const out = { checkpoint: path.basename(path.resolve(ckpt)), runs, threads: {} };
try {
  for (const threads of [1, 2]) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const q = new URLSearchParams({ url: `${files}${path.basename(path.resolve(ckpt))}/`, clean, corrupt: corrupts[0], answer: ' Mary', wrong: ' John',
      method: 'relp', ap: '1', view: 'maps', node: 'resid', threads: String(threads) });
    await page.goto(`${base}#${q}`);
    const idle = () => page.waitForFunction(() => window.relp && window.relp.phase === 'idle' && window.relp.result, null, { timeout: 1800000 });
    await page.waitForSelector('body[data-ready="1"]', { timeout: 1800000 });
    await idle(); // the link's own run: the warm-up
    const info = await page.textContent('#model-info');
    const rows = [];
    for (let i = 0; i < runs; i++) {
      await page.fill('#corrupt', corrupts[(i + 1) % 2]);
      const t0 = Date.now();
      await page.click('#run');
      await page.waitForFunction(() => window.relp.phase === 'running', null, { timeout: 60000 }).catch(() => {});
      await idle();
      await page.waitForSelector('#view .cell[data-kind="ap"]');
      const wall = (Date.now() - t0) / 1000;
      const r = await page.evaluate(() => ({ seconds: window.relp.result.seconds, threads: window.relp.result.threads,
        apSeconds: window.relp.store.apSeconds, T: window.relp.store.T }));
      rows.push({ wall, ...r });
    }
    if (errors.length) throw new Error(errors.join(' | '));
    out.T = rows[0].T;
    out.threads[threads] = { used: rows[0].threads, run_to_maps_s: median(rows.map((r) => r.wall)), relp_s: median(rows.map((r) => r.seconds)),
      ap_s: median(rows.map((r) => r.apSeconds)), info: info.split(', ').slice(-2).join(', ') };
    await page.close();
  }
  // the circuit views on the bundled model with its SAEs (2 threads)
  const rowsC = [];
  for (let i = 0; i <= runs; i++) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const q = new URLSearchParams({ model: 'ioi-4l', clean, corrupt: corrupts[0], answer: ' Mary', wrong: ' John', method: 'relp', ap: '0', view: 'circuit',
      nodes: 'features', data: 'ioi', threads: '2' });
    const t0 = Date.now();
    await page.goto(`${base}#${q}`);
    await page.waitForFunction(() => window.relp && window.relp.circuits && window.relp.circuits.shown.circuit && window.relp.phase === 'idle' &&
      document.querySelector('#view g.node'), null, { timeout: 600000 });
    const circuit = (Date.now() - t0) / 1000;
    await page.click('[data-view="curves"]');
    const t1 = Date.now();
    await page.click('#run');
    await page.waitForFunction(() => window.relp.circuits.shown.curves && window.relp.phase === 'idle' && document.querySelectorAll('#view .pt').length === 90,
      null, { timeout: 600000 });
    const curves = (Date.now() - t1) / 1000;
    const r = await page.evaluate(() => { const c = window.relp.circuits.shown.curves; return { threads: c.threads, methods: Object.fromEntries(Object.entries(c.curves).map(([m, x]) => [m, { scores_s: x.seconds, curve_s: x.curveSeconds }])) }; });
    if (errors.length) throw new Error(errors.join(' | '));
    if (i > 0) rowsC.push({ circuit, curves, ...r });
    await page.close();
  }
  out.circuits = { model: 'ioi-4l', prompts: 64, threads: rowsC[0].threads, open_to_circuit_s: median(rowsC.map((r) => r.circuit)),
    run_to_curves_s: median(rowsC.map((r) => r.curves)), both_s: median(rowsC.map((r) => r.circuit + r.curves)),
    methods: Object.fromEntries(['relp', 'atp', 'ig'].map((m) => [m, { scores_s: median(rowsC.map((r) => r.methods[m].scores_s)), curve_s: median(rowsC.map((r) => r.methods[m].curve_s)) }])) };
} finally {
  await browser.close();
  s1.kill();
  s2.kill();
}
// the peer: RelP in PyTorch on the same checkpoint, natively, medians of 10 runs
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const relpBin = path.join(root, 'build/native-release/relp');
for (const threads of [1, 2]) {
  const args = [path.join(root, 'bench/torch_relp.py'), path.resolve(ckpt), '--threads', String(threads), '--runs', '10'];
  if (fs.existsSync(relpBin)) args.push('--relp', relpBin);
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8' });
  if (r.status !== 0) { console.error(`torch_relp.py (${threads} threads) gave no time: ${(r.stderr || r.error || '').toString().trim().split('\n').at(-1)}`); break; }
  (out.torch ||= {})[threads] = JSON.parse(r.stdout.trim().split('\n').at(-1));
}
const t = out.threads;
console.log(`| threads | Run to maps s | RelP s | AP sweep s |`);
console.log(`|---|---|---|---|`);
for (const n of [1, 2]) console.log(`| ${t[n].used} | ${t[n].run_to_maps_s.toFixed(2)} | ${t[n].relp_s.toFixed(3)} | ${t[n].ap_s.toFixed(2)} |`);
console.log(`2 threads / 1 thread: Run to maps ${(t[2].run_to_maps_s / t[1].run_to_maps_s).toFixed(2)}, RelP ${(t[2].relp_s / t[1].relp_s).toFixed(2)}, AP ${(t[2].ap_s / t[1].ap_s).toFixed(2)} ` +
            `(${out.checkpoint}, ${out.T} tokens, medians of ${runs})`);
if (out.torch?.[2]) {
  out.relp_over_torch = { 1: t[1].relp_s * 1e3 / out.torch[1].torch_relp_ms, 2: t[2].relp_s * 1e3 / out.torch[2].torch_relp_ms };
  console.log(`RelP, the page in Chromium / PyTorch float32 natively: 1 thread ${(t[1].relp_s * 1e3).toFixed(0)} / ${out.torch[1].torch_relp_ms.toFixed(0)} ms = ` +
              `${out.relp_over_torch[1].toFixed(2)}; 2 threads ${(t[2].relp_s * 1e3).toFixed(0)} / ${out.torch[2].torch_relp_ms.toFixed(0)} ms = ${out.relp_over_torch[2].toFixed(2)}`);
}
const c = out.circuits;
console.log(`circuits (ioi-4l, 13 SAEs, 64 IOI prompts, ${c.threads} threads): open to the drawn feature circuit ${c.open_to_circuit_s.toFixed(2)} s, ` +
            `Run to drawn curves (RelP, AtP, IG, 15 sizes) ${c.run_to_curves_s.toFixed(2)} s, both ${c.both_s.toFixed(2)} s (target: within 10 s)`);
console.log(JSON.stringify(out));
