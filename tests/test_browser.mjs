// test_browser.mjs - the page in real headless Chromium (Debian chromium,
// npm playwright-core), checked against the native CLI.
//
//   node tests/test_browser.mjs WEB_DIR RELP_BIN MODELS_DIR OUT_DIR PYTHON
//
// 1. Open the page (bundled ioi-3l loads and RelP + AP run on open). Read the
//    values the page rendered (data-v of every cell) for resid, attn, mlp and
//    heads, and the Pearson r it printed; compare with `relp attribute --json`
//    (RelP and AP) and with r computed here from the native scores.
// 2. Export PNG and SVG through the page's buttons: valid files, the PNG
//    twice the SVG's size, the SVG the one on screen.
// 3. Open the "Embed" iframe URL and the <relp-view> element in a host page:
//    the same SVG as the page.
// 4. Bad input in the page: a truncated checkpoint, a URL that fails, a URL
//    that is not a checkpoint, a model too large for the tab, a damaged
//    link state, mismatched prompt lengths. Each shows a readable message
//    and the page still runs the bundled model afterwards.
// 5. A GPT-2-small-shaped checkpoint (random weights, written now) loads
//    from a local URL and runs RelP; reports the time and the tab's peak
//    memory (VmHWM of the renderer processes).
// Screenshots: OUT_DIR/*.png.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [webDir, relpBin, modelsDir, outDir, python] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
let failures = 0, checks = 0;
const ok = (cond, label, detail = '') => {
  checks++;
  if (!cond) { failures++; console.log(`FAIL ${label} ${detail}`); } else console.log(`ok   ${label} ${detail}`);
};
const native = (args) => JSON.parse(execFileSync(relpBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));

function pearson(a, b) {
  const n = a.length, ma = a.reduce((s, v) => s + v, 0) / n, mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2; }
  return sab / Math.sqrt(saa * sbb);
}
function maxRel(got, want) {
  let d = 0, m = 0;
  want.forEach((w, i) => { d = Math.max(d, Math.abs(got[i] - w)); m = Math.max(m, Math.abs(w)); });
  return got.length === want.length ? d / (m || 1) : Infinity;
}

// ------------------------------------------------------------ server, browser
const server = spawn(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'tools', 'serve.mjs'), webDir, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve, reject) => {
  server.stdout.once('data', (d) => resolve(String(d).trim()));
  server.once('exit', (c) => reject(new Error(`server exited ${c}`)));
});
// a second server for the test's own files (the big checkpoint, broken ones), as another origin would be
const filesDir = path.join(outDir, 'served');
fs.mkdirSync(filesDir, { recursive: true });
const server2 = spawn(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'tools', 'serve.mjs'), filesDir, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const base2 = await new Promise((resolve) => server2.stdout.once('data', (d) => resolve(String(d).trim())));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
const pageErrors = [];

async function open(url) {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  return page;
}
const cells = (page, kind) => page.$$eval(`#view .cell[data-kind="${kind}"]`, (els) => els.map((e) => Number(e.dataset.v)));
const messageOf = (page) => page.$eval('#message', (e) => (e.hidden ? '' : e.textContent));

try {
  // ---------------------------------------------------------- 1. values
  const page = await open(base);
  const st = await page.evaluate(() => window.relp.state);
  const dir = path.join(modelsDir, 'ioi-3l');
  const common = ['--model', dir, '--clean', st.clean, '--corrupt', st.corrupt, '--answer', st.answer, '--wrong', st.wrong, '--json', '-'];
  const r = await page.evaluate(() => window.relp.result.r);
  for (const node of ['resid', 'attn', 'mlp', 'head']) {
    if (node === 'head') await page.click('[data-view="heads"]');
    else { await page.click('[data-view="maps"]'); await page.selectOption('#node', node); }
    const est = await cells(page, 'est'), ap = await cells(page, 'ap');
    const nr = native(['attribute', ...common, '--method', 'relp', '--node', node]).scores.flat();
    const na = native(['attribute', ...common, '--method', 'ap', '--node', node]).scores.flat();
    const dr = maxRel(est, nr), da = maxRel(ap, na);
    ok(dr <= 1e-4, `page RelP ${node} == relp attribute --method relp`, `(${est.length} cells, max rel diff ${dr.toExponential(2)})`);
    ok(da <= 1e-4, `page AP ${node} == relp attribute --method ap`, `(${ap.length} cells, max rel diff ${da.toExponential(2)})`);
    const rn = pearson(nr, na);
    ok(Math.abs(r[node] - rn) <= 1e-3, `page Pearson r ${node}`, `(page ${r[node].toFixed(4)}, from the native scores ${rn.toFixed(4)})`);
    await page.screenshot({ path: path.join(outDir, `page-${node}.png`), fullPage: true });
  }
  const shownR = await page.textContent('#run-info');
  ok(/mlp \d\.\d{3}/.test(shownR), 'the page prints r per node type', `(${shownR})`);
  { // IG along the input path, opened from a link: the page runs what the fragment says
    const q = new URLSearchParams({ model: 'ioi-3l', clean: st.clean, corrupt: st.corrupt, answer: st.answer, wrong: st.wrong,
                                    method: 'ig-input', steps: '10', ap: '0', view: 'maps', node: 'mlp' });
    const p2 = await open(`${base}#${q}`);
    const est = await cells(p2, 'est');
    const ni = native(['attribute', ...common, '--method', 'ig-input', '--steps', '10', '--node', 'mlp']).scores.flat();
    const d = maxRel(est, ni);
    ok(est.length === ni.length && d <= 1e-4, 'page IG (input path) mlp == relp attribute --method ig-input',
       `(${est.length} cells, max rel diff ${d.toExponential(2)})`);
    await p2.close();
  }

  // ---------------------------------------------------------- 2. export
  await page.click('[data-view="maps"]');
  await page.selectOption('#node', 'mlp');
  const svgOnPage = await page.evaluate(() => window.relp.svgString());
  const [dlSvg] = await Promise.all([page.waitForEvent('download'), page.click('#export-svg')]);
  const svgPath = path.join(outDir, 'export.svg');
  await dlSvg.saveAs(svgPath);
  const svgText = fs.readFileSync(svgPath, 'utf8');
  const svgOk = await page.evaluate((s) => {
    const d = new DOMParser().parseFromString(s, 'image/svg+xml');
    return !d.querySelector('parsererror') && d.documentElement.nodeName === 'svg' ? [Number(d.documentElement.getAttribute('width')), Number(d.documentElement.getAttribute('height'))] : null;
  }, svgText);
  ok(svgOk && svgOk[0] > 100 && svgOk[1] > 100 && svgText === svgOnPage, 'SVG export parses and is the SVG on screen', `(${svgOk})`);
  const [dlPng] = await Promise.all([page.waitForEvent('download'), page.click('#export-png')]);
  const pngPath = path.join(outDir, 'export.png');
  await dlPng.saveAs(pngPath);
  const png = fs.readFileSync(pngPath);
  const sig = png.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  const pw = png.readUInt32BE(16), ph = png.readUInt32BE(20);
  ok(sig && svgOk && pw === 2 * svgOk[0] && ph === 2 * svgOk[1], 'PNG export is a PNG at twice the SVG size', `(${pw}x${ph})`);
  const decoded = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    let nonWhite = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250) nonWhite++;
    return nonWhite / (px.length / 4);
  }, png.toString('base64'));
  ok(decoded > 0.01, 'PNG decodes in the browser and is not blank', `(${(100 * decoded).toFixed(1)}% of pixels drawn)`);

  // ---------------------------------------------------------- 3. embeds
  const snippets = await page.evaluate(() => window.relp.embedSnippets());
  const src = /src="([^"]+)"/.exec(snippets.iframe)[1];
  const emb = await open(src);
  const embSvg = await emb.evaluate(() => window.relp.svgString());
  ok(embSvg === svgOnPage, 'the iframe embed renders the same SVG as the page', `(${embSvg.length} chars)`);
  ok(await emb.$eval('#model-bar', (e) => getComputedStyle(e).display === 'none'), 'the embed hides the controls');
  await emb.screenshot({ path: path.join(outDir, 'embed.png') });
  fs.writeFileSync(path.join(filesDir, 'host.html'), `<!doctype html><title>host</title><p>A blog post.</p>${snippets.element}`);
  const host = await context.newPage();
  await host.goto(`${base2}host.html`);
  const frame = await (await host.waitForSelector('relp-view iframe')).contentFrame();
  await frame.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  const elSvg = await frame.evaluate(() => window.relp.svgString());
  ok(elSvg === svgOnPage, 'the <relp-view> element renders the same SVG on another origin');
  await host.screenshot({ path: path.join(outDir, 'host-page.png') });
  await emb.close(); await host.close();

  // ---------------------------------------------------------- 4. bad input in the page
  const ck = (name) => fs.readFileSync(path.join(dir, name));
  const mk = (sub, files) => {
    const d = path.join(filesDir, sub);
    fs.mkdirSync(d, { recursive: true });
    for (const [n, b] of Object.entries(files)) fs.writeFileSync(path.join(d, n), b);
    return `${base2}${sub}/`;
  };
  const tok = { 'vocab.json': ck('vocab.json'), 'merges.txt': ck('merges.txt') };
  const truncated = mk('truncated', { 'config.json': ck('config.json'), 'model.safetensors': ck('model.safetensors').subarray(0, 100000), ...tok });
  const notCkpt = mk('not-a-checkpoint', { 'config.json': Buffer.from('<html>hello</html>') });
  const huge = mk('huge', { 'config.json': Buffer.from(JSON.stringify({ n_layer: 96, n_embd: 2048, n_head: 16, vocab_size: 50257, n_positions: 1024 })),
                            'model.safetensors': Buffer.alloc(16) });
  const cases = [
    ['a truncated model.safetensors', truncated, /model\.safetensors/],
    ['a URL that fails (404)', `${base2}nothing-here/`, /config\.json: HTTP 404/],
    ['a URL that is not a checkpoint', notCkpt, /config\.json: not JSON/],
    ['a model too large for the tab', huge, /GB in the tab/],
  ];
  for (const [label, url, pattern] of cases) {
    await page.fill('#url', url);
    await page.click('#load-url');
    await page.waitForFunction(() => document.querySelector('#message').className.includes('error'), null, { timeout: 60000 });
    const msg = await messageOf(page);
    ok(pattern.test(msg) && /still using ioi-3l/.test(msg), `page: ${label} gives a readable message and keeps the model`, `("${msg.slice(0, 140)}")`);
    await page.evaluate(() => { document.querySelector('#message').className = 'message'; });
  }
  // from disk: the files of a checkpoint, then the same without its tokenizer
  const two = path.join(modelsDir, 'ioi-2l');
  await page.setInputFiles('#files', ['config.json', 'model.safetensors'].map((n) => path.join(two, n)));
  await page.waitForFunction(() => document.querySelector('#message').className.includes('error'), null, { timeout: 60000 });
  const noTok = await messageOf(page);
  ok(/no tokenizer/.test(noTok) && /still using ioi-3l/.test(noTok), 'page: files without a tokenizer are refused, the model stays', `("${noTok.slice(0, 140)}")`);
  await page.evaluate(() => { document.querySelector('#message').className = 'message'; });
  await page.setInputFiles('#files', ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt'].map((n) => path.join(two, n)));
  await page.waitForFunction(() => /2 layers/.test(document.querySelector('#model-info').textContent), null, { timeout: 60000 });
  ok(true, 'page: a checkpoint opened from disk (files) loads', `(${await page.textContent('#model-info')})`);
  await page.setInputFiles('#folder', dir);
  await page.waitForFunction(() => /3 layers/.test(document.querySelector('#model-info').textContent), null, { timeout: 60000 });
  ok(true, 'page: a checkpoint folder opened from disk loads', `(${await page.textContent('#model-info')})`);
  await page.screenshot({ path: path.join(outDir, 'page-error.png') });
  await page.fill('#corrupt', 'When John and Mary went to the shops, Mary Ann gave the bag to');
  await page.waitForSelector('#token-warning:not([hidden])');
  ok(/must be equal/.test(await page.textContent('#token-warning')), 'page: prompts of different lengths are flagged');
  await page.click('#run');
  await page.waitForFunction(() => !document.body.classList.contains('busy'));
  ok(/same number of tokens/.test(await messageOf(page)), 'page: running them gives a readable message', `("${await messageOf(page)}")`);
  await page.fill('#corrupt', st.corrupt);
  await page.click('#run');
  await page.waitForFunction(() => !document.body.classList.contains('busy'));
  const again = await cells(page, 'est');
  ok(again.length > 0 && (await messageOf(page)) === '', 'page: still runs after the errors', `(${again.length} cells)`);
  await page.close();

  const damaged = await open(`${base}#model=gpt-7&clean=${'x'.repeat(5000)}&method=shap&view=maps&node=mlp&ap=2&layer=-1`);
  const dmsg = await messageOf(damaged);
  ok(/damaged/.test(dmsg) && /method=/.test(dmsg) && (await cells(damaged, 'est')).length > 0,
     'page: a damaged link state shows what was wrong and opens with defaults', `("${dmsg.slice(0, 160)}")`);
  await damaged.close();
  const badUrl = await open(`${base}#url=${encodeURIComponent(`${base2}nothing-here/`)}&method=relp&view=maps&node=mlp&ap=0`);
  const bmsg = await messageOf(badUrl);
  ok(/HTTP 404/.test(bmsg) && /bundled ioi-3l instead/.test(bmsg), 'page: a link to a model that fails falls back to the bundled one', `("${bmsg.slice(0, 160)}")`);
  await badUrl.close();

  // ---------------------------------------------------------- 5. GPT-2 small shape from a URL
  const big = path.join(filesDir, 'gpt2-small-random');
  execFileSync(python, [path.join(path.dirname(new URL(import.meta.url).pathname), 'write_checkpoint.py'), big, '--shape', '12,768,12', '--tokenizer', dir], { stdio: 'inherit' });
  const p2 = await open(`${base}#url=${encodeURIComponent(`${base2}gpt2-small-random/`)}&method=relp&view=maps&node=resid&ap=0` +
                       `&clean=${encodeURIComponent('When John and Mary went to the shops, John gave the bag to')}` +
                       `&corrupt=${encodeURIComponent('When John and Mary went to the shops, Mary gave the bag to')}&answer=%20Mary&wrong=%20John`);
  const info = await p2.textContent('#model-info');
  const res2 = await p2.evaluate(() => ({ T: window.relp.result && window.relp.result.T, s: window.relp.result && window.relp.result.seconds }));
  ok(/124\.\d M parameters/.test(info) && res2.T === 15, 'GPT-2-small shape loads from a URL and runs RelP', `(${info}; RelP+token relevance ${res2.s && res2.s.toFixed(2)} s for ${res2.T} tokens)`);
  // a second RelP run, timed in the page (the first includes warm-up of the wasm tiers)
  await p2.click('#run');
  await p2.waitForFunction(() => !document.body.classList.contains('busy'));
  const s2 = await p2.evaluate(() => window.relp.result.seconds);
  let peak = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch { /* process gone */ }
  }
  console.log(`GPT-2-small shape in Chromium: RelP (4 node types + token relevance) ${s2.toFixed(2)} s on 15 tokens; tab peak memory ${(peak / 2 ** 20).toFixed(0)} MiB`);
  fs.writeFileSync(path.join(outDir, 'gpt2-small-browser.json'), JSON.stringify({ relp_seconds: s2, peak_bytes: peak, info }));
  await p2.screenshot({ path: path.join(outDir, 'gpt2-small.png'), fullPage: true });
  await p2.close();
  ok(pageErrors.length === 0, 'no uncaught errors in any page', pageErrors.join(' | '));
} catch (e) {
  failures++;
  console.log(`FAIL ${e.stack || e}`);
} finally {
  await browser.close();
  server.kill();
  server2.kill();
}
console.log(`${checks} checks, ${failures} failed; screenshots in ${outDir}`);
process.exit(failures ? 1 : 0);
