// test_browser_families.mjs - the page in headless Chromium with random
// checkpoints shaped like SmolLM2-135M (llama), Qwen2.5-0.5B (qwen2) and
// Pythia-160m (gpt_neox), BF16, each loaded from a local URL (the Hugging
// Face file layout, tokenizer included) and running RelP on an IOI pair.
//
//   node tests/test_browser_families.mjs WEB_DIR RELP_BIN OUT_DIR PYTHON NODE_MODULES
//
// Checked per model: the page's model line reports the parameters the
// checkpoint holds (counted by the CLI), the memory check let it in (with f16
// matrices where f32 would not fit), and the RelP run's residual map equals
// `relp attribute --method relp --node resid --json` (the page's values are
// read from its rendered cells, with the weights it chose, compared in logit
// units to 1e-5 of the largest logit).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serveChild as serve } from '../tools/serve_child.mjs';

const [webDir, relpBin, outDir, python, nodeModules] = process.argv.slice(2);
const here = path.dirname(new URL(import.meta.url).pathname);
const filesDir = path.join(outDir, 'served');
fs.mkdirSync(filesDir, { recursive: true });
let failures = 0, checks = 0;
const ok = (cond, what, detail = '') => {
  checks++;
  if (cond) console.log(`ok   ${what}`);
  else { failures++; console.log(`FAIL ${what} ${detail}`); }
};

const PAIR = { clean: 'When John and Mary went to the shops, John gave the bag to',
               corrupt: 'When John and Mary went to the shops, Mary gave the bag to', answer: ' Mary', wrong: ' John' };
const SHAPES = ['smollm2-135m', 'pythia-160m', 'qwen2.5-0.5b'];

const [server, baseP] = serve(webDir);
const [server2, base2P] = serve(filesDir);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
try {
  const base = await baseP, base2 = await base2P;
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  for (const shape of SHAPES) {
    const dir = path.join(filesDir, shape);
    const t0 = Date.now();
    execFileSync(python, [path.join(here, 'write_family_checkpoint.py'), dir, shape, nodeModules], { stdio: 'inherit' });
    const info = JSON.parse(execFileSync(relpBin, ['info', '--model', dir, '--json', '--low-memory'], { encoding: 'utf8' }));
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`${shape}: ${e.message}`));
    const q = Object.entries(PAIR).map(([k, v]) => `&${k}=${encodeURIComponent(v)}`).join('');
    await page.goto(`${base}#url=${encodeURIComponent(`${base2}${shape}/`)}&method=relp&view=maps&node=resid&ap=0${q}`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 600000 });
    await page.waitForFunction(() => window.relp && window.relp.phase === 'idle' && window.relp.result, null, { timeout: 600000 });
    const text = await page.textContent('#model-info');
    const message = await page.evaluate(() => window.relp.messageText());
    ok(text.includes(`${(info.n_params / 1e6).toFixed(1)} M parameters`) && !/failed|error/i.test(message),
       `${shape} (${info.arch}): loads from a URL with the checkpoint's ${info.n_params} parameters`, `(${text} | ${message})`);
    // the page's RelP values of the residual map against the CLI's with the page's weight dtype
    const f16 = await page.evaluate(() => !!(window.relp.model && window.relp.model.f16));
    const got = await page.$$eval('#view .cell[data-kind="est"]', (els) => els.map((e) => Number(e.dataset.v)));
    const w = ['--model', dir, '--weights', f16 ? 'f16' : 'f32'];
    const cli = JSON.parse(execFileSync(relpBin, ['attribute', ...w, '--threads', '2', '--clean', PAIR.clean, '--corrupt', PAIR.corrupt,
      '--answer', PAIR.answer, '--wrong', PAIR.wrong, '--method', 'relp', '--node', 'resid', '--json', '-'],
    { encoding: 'utf8', maxBuffer: 1 << 26 }));
    // scores are normalised by m_clean - m_corrupt, a difference of logits: compared in logit units against
    // the largest logit, where float32 rounding enters (as wasm_vs_native does)
    const dm = cli.metric_clean - cli.metric_corrupt, want = cli.scores.flat();
    const logits = JSON.parse(execFileSync(relpBin, ['forward', ...w, '--prompt', PAIR.clean, '--logits', '--json'],
      { encoding: 'utf8', maxBuffer: 1 << 26 })).logits;
    const scale = logits.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // where the gap is too small (or not positive) to normalise by, the page draws logit units: the shares times the gap
    const units = await page.evaluate(() => window.relp.resultsJSON().units);
    const diff = got.length === want.length ? got.reduce((m, v, i) => Math.max(m, units === 'metric' ? Math.abs(v - want[i] * (dm !== 0 ? dm : 1)) : Math.abs((v - want[i]) * dm)), 0) : Infinity;
    ok(diff <= 1e-5 * scale, `${shape}: the page's RelP resid map (${got.length} cells, ${f16 ? 'f16' : 'f32'} weights) is the CLI's ` +
       `(max|diff| ${diff.toExponential(1)} in logit units, max|logit| ${scale.toExponential(1)}; the page's units: ${units})`);
    // heads are labelled as the model has them: with grouped-query attention, query heads and the key/value head each reads
    await page.click('[data-view="heads"]');
    await page.waitForFunction(() => window.relp.phase === 'idle' && document.querySelector('#view svg .cell[data-kind="est"]'), null, { timeout: 600000 });
    const hv = await page.evaluate(() => {
      const svg = document.querySelector('#view svg'), w = Number(svg.getAttribute('width'));
      const right = Math.max(...[...svg.querySelectorAll('text')].map((e) => { const b = e.getBBox(); return b.x + b.width; }));
      return { titles: [...svg.querySelectorAll('.axis-title')].map((e) => e.textContent), cols: new Set([...svg.querySelectorAll('.cell[data-kind="est"]')].map((c) => c.dataset.c)).size, right, w };
    });
    const group = info.n_head / info.n_kv_head;
    const gqa = hv.titles.some((t) => t.includes(`kv = head \u00f7 ${group}`));
    ok(hv.cols === info.n_head && (group > 1 ? gqa : !hv.titles.some((t) => t.includes('kv'))) && hv.right <= hv.w + 0.5,
       `${shape}: the heads view has ${info.n_head} ${group > 1 ? `query heads, labelled as ${group} per key/value head` : 'heads, no grouping note'}, no text cut off`,
       `(${hv.cols} columns; axis titles ${JSON.stringify(hv.titles)}; rightmost text ${hv.right.toFixed(0)} of ${hv.w})`);
    console.log(`${shape}: written, loaded and run in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await page.screenshot({ path: path.join(outDir, `${shape}.png`), fullPage: true });
    await page.close();
  }
  ok(errors.length === 0, 'no uncaught errors in any page', errors.join(' | '));
} catch (e) {
  failures++;
  console.log(`FAIL ${e.stack || e}`);
} finally {
  await browser.close();
  server.kill();
  server2.kill();
}
console.log(`${checks - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
