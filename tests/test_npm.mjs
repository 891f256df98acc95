// test_npm.mjs - the npm package (`make npm`, tools/make_npm.sh) installed the usual way and used from there.
//   node tests/test_npm.mjs WEB_DIR RELP_CLI MODELS_DIR OUT_DIR
// 1. make_npm.sh packs the built site; the tarball holds the page, the API, the engine and figure
//    modules and the bundled model, with a package.json whose entry points exist.
// 2. `npm install --offline TARBALL` into an empty folder; a script there imports 'relp' by name (Node's
//    package resolution, nothing of this checkout), runs RelP on the bundled model's first example and
//    must give `relp attribute --json`'s numbers; openFigures() draws a figure.
// 3. Headless Chromium: a host page served from that folder holds a <relp-view> whose script comes from
//    node_modules/relp/; the iframe it makes computes the figure, whose estimate cells are the CLI's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serveChild as serve } from '../tools/serve_child.mjs';

const [webDir, cli, modelsDir, outDir] = process.argv.slice(2);
const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..');
let failures = 0, checks = 0;
function ok(cond, what, detail = '') {
  checks++;
  if (!cond) failures++;
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what} ${detail}`);
}

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });
const tarball = execFileSync(path.join(root, 'tools/make_npm.sh'), [webDir, path.join(outDir, 'work'), path.join(outDir, 'dist')], { encoding: 'utf8' }).trim();
const listed = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
const pkg = JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
const need = ['package.json', 'README.md', 'index.mjs', 'index.html', 'relp.mjs', 'constants.mjs', 'relp-embed.js', 'worker.js', 'relp_figure.js', 'relp_figure.wasm',
  'main.js', 'bind.js', ...['shared', 'load', 'inputs', 'run', 'view', 'export'].map((m) => `page/${m}.js`),
  'models/models.json', 'models/ioi-4l/model.safetensors'];
for (const v of ['', '_relaxed', '_mt', '_relaxed_mt']) need.push(`relp_engine${v}.js`, `relp_engine${v}.wasm`);
const missing = need.filter((f) => !listed.includes(f));
const entries = Object.values(pkg.exports).filter((e) => !e.includes('*')).map((e) => e.replace(/^\.\//, ''));
ok(missing.length === 0 && entries.every((e) => listed.includes(e)) && pkg.name === 'relp',
  'the tarball holds the page, the API, every engine module, the figures and the bundled model; package.json\'s entries exist',
  `(${listed.length} files, ${(fs.statSync(tarball).size / 1e6).toFixed(1)} MB${missing.length ? `; missing ${missing.join(', ')}` : ''})`);

// 2. installed into an empty folder, used by name
const site = path.join(outDir, 'site');
fs.mkdirSync(site);
fs.writeFileSync(path.join(site, 'package.json'), JSON.stringify({ name: 'host', private: true }));
execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', tarball], { cwd: site, stdio: ['ignore', 'ignore', 'inherit'] });
const installed = path.join(site, 'node_modules', 'relp');
ok(fs.existsSync(path.join(installed, 'index.mjs')) && !fs.lstatSync(installed).isSymbolicLink(), 'npm install --offline puts the package in node_modules/relp as files');

const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'models.json'), 'utf8'));
const ex = manifest.models.find((m) => m.name === manifest.default).examples[0];
const cliJson = JSON.parse(execFileSync(cli, ['attribute', '--model', path.join(modelsDir, manifest.default), '--clean', ex.clean, '--corrupt', ex.corrupt,
  '--answer', ex.answer, '--wrong', ex.wrong, '--method', 'relp', '--node', 'resid', '--json', '-'], { encoding: 'utf8' }));
const ref = cliJson.scores.flat();
const refMax = Math.max(...ref.map(Math.abs));
const worst = (got) => got.length !== ref.length ? Infinity : Math.max(...got.map((v, i) => Math.abs(v - ref[i]))) / refMax;

fs.writeFileSync(path.join(site, 'use.mjs'), `
import { openEngine, openFigures, bundledModel, bundledModels, METHODS } from 'relp';
const engine = await openEngine({ relaxed: false });
const model = engine.loadModel(await bundledModel());
const list = await bundledModels();
const ex = list.models.find((m) => m.name === list.default).examples[0];
const r = model.attribute({ clean: model.tokenize(ex.clean), corrupt: model.tokenize(ex.corrupt), answer: model.singleToken(ex.answer),
  wrong: model.singleToken(ex.wrong), method: 'relp', node: 'resid' });
const figures = await openFigures();
const fig = figures.draw({ kind: 'curves', model: 'm', series: [{ method: 'relp', n_nodes: [1, 10, 100], faithfulness: [0.1, 0.5, 0.9], completeness: [0.8, 0.4, 0.1], seconds: 1 }] });
console.log(JSON.stringify({ kernels: engine.kernels, methods: METHODS, scores: Array.from(r.scores), svg: fig.svg.slice(0, 5) }));
model.free();
`);
let used = null;
try {
  used = JSON.parse(execFileSync(process.execPath, ['use.mjs'], { cwd: site, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_PATH: '' } }));
} catch (e) { console.log(`  use.mjs failed: ${e.message.split('\n')[0]}`); }
ok(used && worst(used.scores) <= 1e-5, "import 'relp' in Node from the installed package: RelP on the bundled model is `relp attribute --json`'s",
  used ? `(worst ${worst(used.scores).toExponential(2)} of max|score|, ${used.kernels})` : '');
ok(used && used.svg === '<svg ' && used.methods.includes('relp'), 'openFigures() from the installed package draws a figure; METHODS come from the core');

// 3. <relp-view> in Chromium, its script and page from node_modules/relp/
const state = new URLSearchParams({ model: manifest.default, clean: ex.clean, corrupt: ex.corrupt, answer: ex.answer, wrong: ex.wrong, method: 'relp', view: 'maps', node: 'resid', ap: '0' });
fs.writeFileSync(path.join(site, 'post.html'), `<!doctype html><meta charset="utf-8"><title>a post</title><main style="width:760px">
<p>Before.</p><script type="module" src="node_modules/relp/relp-embed.js"></script><relp-view state="${state.toString().replace(/&/g, '&amp;')}"></relp-view><p>After.</p></main>`);
const [server, baseP] = serve(site);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
try {
  const base = await baseP;
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}post.html`);
  const frameEl = await page.waitForSelector('relp-view iframe', { timeout: 30000 });
  const frame = await frameEl.contentFrame();
  await frame.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  await frame.waitForFunction(() => window.relp && window.relp.phase === 'idle' && document.querySelector('#view .cell[data-kind="est"]'), null, { timeout: 120000 });
  const src = await frameEl.getAttribute('src');
  const est = await frame.$$eval('#view .cell[data-kind="est"]', (els) => els.map((e) => [Number(e.dataset.r), Number(e.dataset.c), Number(e.dataset.v)]));
  const T = cliJson.positions ?? cliJson.tokens.length;
  const grid = new Array(ref.length).fill(NaN);
  for (const [r, c, v] of est) grid[r * T + c] = v;
  ok(src.includes('/node_modules/relp/index.html') && est.length === ref.length && worst(grid) <= 1e-5 && errors.length === 0,
    '<relp-view> from node_modules/relp/ renders the package\'s page in its iframe; its RelP cells are the CLI\'s',
    `(${est.length} cells, worst ${worst(grid).toExponential(2)} of max|score|${errors.length ? `; page errors: ${errors.join('; ')}` : ''})`);
  await page.screenshot({ path: path.join(outDir, 'relp-view.png') });
} finally {
  await browser.close();
  server.kill();
}
console.log(`${checks - failures}/${checks} checks passed`);
process.exit(failures ? 1 : 0);
