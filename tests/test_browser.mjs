// test_browser.mjs - the page in real headless Chromium (Debian chromium,
// npm playwright-core), checked against the native CLI.
//
//   node tests/test_browser.mjs WEB_DIR RELP_BIN MODELS_DIR OUT_DIR PYTHON
//
// The default model is the manifest's (MODELS_DIR/models.json).
//  0. The page for a paper, a check per fix: no figure hides a
//     panel or shrinks its text below 10 px (360 to 1920 px, 15, 26 and 64
//     tokens; embeds at 360 px), a clicked head stays, units where the gap
//     cannot normalise, jobs said before they run, the scatter, links pasted
//     into the tab, IG steps, the node table, the token view, the keyboard,
//     metrics, figure options (and the CLI's), data sets against relp ioi.
//  1. Numbers: the page opens the default model and runs RelP + AP. Every
//     rendered cell (data-v) for resid, attn, mlp, heads and heads per
//     position, and r, match `relp attribute --json`; p(answer), its rank,
//     both metrics and the gap match `relp forward` / `relp attribute`; the
//     token relevance's conservation gap matches `relp explain`; IG along the
//     input path opened from a link matches the CLI. Chromium validates relaxed
//     SIMD, so the page runs relp_engine_relaxed (its kernels are shown).
//  2. Figures: the exported SVG is the one on screen, with its caption
//     (model, prompts with the differing tokens marked, answer, wrong token,
//     metric, method, r), axis titles and legend wording; PNG at 1x, 2x, 4x.
//  3. Embeds: the live iframe and <relp-view> render the page's SVG; in a
//     760 px column they fit it; the static embed renders with no request
//     for the engine or the weights and has a hover readout.
//  4. The page's earlier bugs, one by one, each following its reproduction
//     steps (B1-B9): stale grids and results, predictions, cancel, embeds'
//     errors, degenerate inputs, leading spaces, messages, layout.
//  5. Science: a prompt the model gets wrong and a too-small gap are said so
//     in the page, in the exported figure and in the embed; degenerate inputs
//     are refused.
//  6. Views for circuits: every head's attention pattern (clean and
//     corrupted, causal, rows summing to 1, hover focus), the node table with
//     two methods side by side (sortable), switching the method keeps results.
//  7. Layout: at 390 px no view makes the page scroll sideways; keyboard
//     access; screenshots of every view at 1400 and 390 px go to
//     OUT_DIR/views/ for review.
//  8. Bad input: a truncated checkpoint, a 404, a URL that is not a
//     checkpoint, a model too large, files without a tokenizer, a damaged
//     link, a link to a model that fails: readable messages, the page keeps working.
//  9. A GPT-2-small-shaped checkpoint loads from a local URL and runs RelP;
//     the tab's peak memory is reported.
// 11. Circuits: see the section's own comment.
// 10. Threads: served with COOP/COEP (tools/serve.mjs) the page is
//     cross-origin isolated and loads the threaded module with min(cores, 8)
//     threads; served without them (--no-isolation, as most hosts) it says it
//     runs on one thread. Every cell is the same with 1 thread, 2 threads and
//     without isolation.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { serveChild as serve } from '../tools/serve_child.mjs';

const [webDir, relpBin, modelsDir, outDir, python] = process.argv.slice(2);
const here = path.dirname(new URL(import.meta.url).pathname);
fs.mkdirSync(path.join(outDir, 'views'), { recursive: true });
let failures = 0, checks = 0;
const ok = (cond, label, detail = '') => {
  checks++;
  if (!cond) failures++;
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${label} ${detail}`);
};
const native = (args) => JSON.parse(execFileSync(relpBin, args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] }));
const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'models.json'), 'utf8'));
const NAME = manifest.default, dir = path.join(modelsDir, NAME);
const other = manifest.models.map((m) => m.name).find((n) => n !== NAME);
// the figures' wording (core/figure_views.c draws them; tests/test_figures.mjs holds them to the old renderer's)
// and the gap below which a run is warned about (relp.h RELP_FIGURE_MIN_GAP, through the generated constants.mjs)
const SPEC = { axes: { layer: 'layer', position: 'position (token)' },
  legends: { share: 'colour: share of the logit difference restored (0 = corrupted run, 1 = clean run)' },
  minGap: (await import(pathToFileURL(path.resolve(webDir, 'constants.mjs')).href)).MIN_GAP };

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

// circuit-tracer's attribution graph (circuit_tracer/frontend/graph_models.py: Model = metadata, qParams, nodes,
// links), which Neuronpedia's graph viewer reads: the problems of a graph (empty: it passes)
function attributionGraphProblems(g) {
  const p = [], type = (v, t) => (t === 'int' ? Number.isInteger(v) : t === 'num' ? typeof v === 'number' && Number.isFinite(v) : t === 'arr' ? Array.isArray(v) : typeof v === t);
  const need = (o, where, spec) => { for (const [k, t] of Object.entries(spec)) if (!o || !(k in o) || !(type(o[k], t) || (t.endsWith('?') && (o[k] === null || type(o[k], t.slice(0, -1)))))) p.push(`${where}.${k} is not ${t}`); };
  if (!g || typeof g !== 'object') return ['not an object'];
  need(g, 'graph', { metadata: 'object', qParams: 'object', nodes: 'arr', links: 'arr' });
  if (p.length) return p;
  need(g.metadata, 'metadata', { slug: 'string', scan: 'string', transcoder_list: 'arr', prompt_tokens: 'arr', prompt: 'string', schema_version: 'int?' });
  need(g.qParams, 'qParams', { pinnedIds: 'arr', supernodes: 'arr', linkType: 'string', clickedId: 'string', sg_pos: 'string' });
  const ids = new Set();
  g.nodes.forEach((n, i) => {
    need(n, `nodes[${i}]`, { node_id: 'string', feature: 'int', layer: 'string', ctx_idx: 'int', feature_type: 'string', token_prob: 'num', is_target_logit: 'boolean',
      run_idx: 'int', reverse_ctx_idx: 'int', jsNodeId: 'string', clerp: 'string', influence: 'num?', activation: 'num?' });
    if (ids.has(n.node_id)) p.push(`node_id ${n.node_id} twice`);
    ids.add(n.node_id);
    if (!['cross layer transcoder', 'mlp reconstruction error', 'embedding', 'logit'].includes(n.feature_type)) p.push(`nodes[${i}].feature_type ${n.feature_type}`);
  });
  g.links.forEach((l, i) => { need(l, `links[${i}]`, { source: 'string', target: 'string', weight: 'num' }); if (!ids.has(l.source) || !ids.has(l.target)) p.push(`links[${i}] joins unknown nodes`); });
  if (!g.nodes.some((n) => n.is_target_logit)) p.push('no target logit node');
  return p;
}

// ------------------------------------------------------------ servers, browser
const [server, baseP] = serve(webDir);
const base = await baseP;
// a second server for the test's own files (host pages, broken checkpoints, the big one), as another origin would be
const filesDir = path.join(outDir, 'served');
fs.mkdirSync(filesDir, { recursive: true });
const [server2, base2P] = serve(filesDir);
const base2 = await base2P;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
const pageErrors = [];

async function open(url, ctx = context) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
  await idle(page);
  return page;
}
const idle = (page) => page.waitForFunction(() => window.relp && window.relp.phase === 'idle', null, { timeout: 120000 });
const checkedFor = (page) => page.waitForFunction(() => { const c = window.relp.checked; return c && c.query.clean === document.querySelector('#clean').value &&
  c.query.corrupt === document.querySelector('#corrupt').value && c.query.answer === document.querySelector('#answer').value && c.query.wrong === document.querySelector('#wrong').value; }, null, { timeout: 30000 });
const cells = (page, kind) => page.$$eval(`#view .cell[data-kind="${kind}"]`, (els) => els.map((e) => Number(e.dataset.v)));
const messageOf = (page) => page.evaluate(() => window.relp.messageText());
const view = async (page, v) => { await page.click(`[data-view="${v}"]`); await idle(page); await page.waitForFunction(() => !document.querySelector('#view .hint') || !/computing/.test(document.querySelector('#view').textContent)); await idle(page); };
async function runNow(page) { await page.click('#run'); await idle(page); }
async function setInputs(page, p) {
  for (const k of ['clean', 'corrupt', 'answer', 'wrong']) if (p[k] !== undefined) await page.fill(`#${k}`, p[k]);
  await checkedFor(page);
}
async function svgDoc(page, svg) { // parses in the page: [width, height, texts, classes]
  return page.evaluate((s) => {
    const d = new DOMParser().parseFromString(s, 'image/svg+xml');
    if (d.querySelector('parsererror') || d.documentElement.nodeName !== 'svg') return null;
    const e = d.documentElement;
    return { w: Number(e.getAttribute('width')), h: Number(e.getAttribute('height')), text: [...d.querySelectorAll('text')].map((t) => t.textContent).join('\n').replace(/\u00a0/g, ' '),
      axis: [...d.querySelectorAll('.axis-title')].map((t) => t.textContent.replace(/\u00a0/g, ' ')), differs: d.querySelectorAll('.caption rect.differs').length,
      warnings: [...d.querySelectorAll('.warning')].map((t) => t.textContent).join(' ').replace(/\u00a0/g, ' ') };
  }, svg);
}
async function download(page, button) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  const p = path.join(outDir, dl.suggestedFilename());
  await dl.saveAs(p);
  return p;
}

try {
  // ---------------------------------------------------------- 0. the page for a paper, one check per fix
  // Each was written to fail on the page before the fix. RELP_ONLY_PAPER=1 runs this section alone.
  {
    const t24 = Date.now();
    const VIEWS24 = ['maps', 'heads', 'positions', 'attention', 'tokens', 'scatter', 'table'];
    const METHODS24 = (await import(pathToFileURL(path.resolve(webDir, 'state.js')).href)).METHODS;
    const man = manifest.models.find((m) => m.name === NAME), ioi = man.examples.find((e) => e.kind === 'ioi');
    const PRE = 'It was a warm day and everyone was very happy. ';
    const long = { clean: PRE + ioi.clean, corrupt: PRE + ioi.corrupt, answer: ioi.answer, wrong: ioi.wrong }; // 26 tokens
    const P4 = PRE.repeat(4) + 'It was so warm. ', longest = { clean: P4 + ioi.clean, corrupt: P4 + ioi.corrupt, answer: ioi.answer, wrong: ioi.wrong }; // 64
    const link = (q, extra = {}) => `${base}#${new URLSearchParams({ model: NAME, ...q, method: 'relp', ap: '1', view: 'maps', node: 'mlp', ...extra })}`;
    // what a figure shows at its size on screen: [right edge past the box or the window, smallest text in px, scrolls]
    const fitOf = (p) => p.evaluate(() => {
      const v = document.querySelector('#view'), vb = v.getBoundingClientRect(), svg = v.querySelector(':scope > svg');
      const table = v.querySelector('table.nodes'), wrap = v.querySelector('.table-wrap');
      const out = { view: window.relp.state.view, page: document.documentElement.scrollWidth - window.innerWidth, scrolls: v.scrollWidth - v.clientWidth };
      if (svg) {
        const b = svg.getBoundingClientRect(), k = b.width / Number(svg.getAttribute('width'));
        const sizes = [...svg.querySelectorAll('text')].map((t) => Number(t.getAttribute('font-size') || 11.6));
        Object.assign(out, { over: Math.max(b.right - vb.right, b.right - window.innerWidth), text: Math.min(...sizes) * k, top: b.top + window.scrollY, w: Number(svg.getAttribute('width')), k });
      } else if (table) {
        const b = table.getBoundingClientRect();
        Object.assign(out, { over: Math.max(b.right - vb.right, b.right - window.innerWidth), text: parseFloat(getComputedStyle(table).fontSize), scrolls: wrap.scrollWidth - wrap.clientWidth });
      }
      return out;
    });
    const settle = async (p) => { await p.waitForTimeout(150); await idle(p); };
    // each check's block: an exception fails it (and closes its pages), the next runs
    const paperCheck = async (label, fn) => {
      const before = new Set(context.pages()), tb = Date.now();
      try { await fn(); } catch (e) { ok(false, `${label}: ${String(e.message || e).split('\n')[0].slice(0, 200)}`); }
      if (process.env.RELP_TIMES) console.log(`  (${label.slice(0, 40)}: ${((Date.now() - tb) / 1000).toFixed(1)} s)`);
      for (const pg of context.pages()) if (!before.has(pg)) await pg.close().catch(() => {});
    };
    await paperCheck('figures fit 360 to 1920 px', async () => { // no panel is ever hidden; at 390 px the map is on the first screen
      const p = await open(link(long));
      const bad = [], seen = [];
      for (const [w, views] of [[1920, VIEWS24], [1400, VIEWS24], [600, VIEWS24], [390, VIEWS24], [360, VIEWS24]]) {
        await p.setViewportSize({ width: w, height: w > 800 ? 1000 : 844 });
        for (const v of views) {
          await view(p, v);
          await settle(p);
          const f = await fitOf(p);
          seen.push(`${w}/${v}: ${f.w || 'table'} px x ${(f.k || 1).toFixed(2)}, text ${f.text.toFixed(1)} px`);
          if (!(f.over <= 1 && f.text >= 10 - 1e-6 && f.scrolls <= 0 && f.page <= 0)) bad.push(`${w} px ${v}: ${JSON.stringify(f)}`);
          if (w === 1400 || w === 390) await p.screenshot({ path: path.join(outDir, 'views', `26tok-${v}-${w}.png`), fullPage: true });
        }
        if (w === 390) {
          await view(p, 'maps');
          const f = await fitOf(p);
          ok(f.top + 60 < 844, 'at 390 px the map starts on the first screen (the figure above the controls)', `(its top at ${f.top.toFixed(0)} px)`);
        }
      }
      ok(bad.length === 0, '26 tokens at 1920, 1400, 600, 390, 360 px: no figure (maps, heads, heads x position, attention, tokens, scatter, table) reaches past its box or the window or scrolls, and its text is >= 10 px',
         bad.slice(0, 4).join(' | ') || `(${seen.filter((x, i) => i % 7 === 0).join('; ')})`);
      await p.goto(link(ioi));
      await p.waitForSelector('body[data-ready="1"]');
      await idle(p);
      const bad15 = [];
      for (const w of [360, 1920]) {
        await p.setViewportSize({ width: w, height: 900 });
        for (const v of ['maps', 'positions', 'attention', 'scatter']) {
          await view(p, v);
          await settle(p);
          const f = await fitOf(p);
          if (!(f.over <= 1 && f.text >= 10 - 1e-6 && f.scrolls <= 0 && f.page <= 0)) bad15.push(`${w} px ${v}: ${JSON.stringify(f)}`);
        }
      }
      ok(bad15.length === 0, '15 tokens at 360 and 1920 px: the same', bad15.join(' | '));
      await p.goto(link(longest));
      await p.waitForSelector('body[data-ready="1"]');
      await idle(p);
      await p.setViewportSize({ width: 390, height: 844 });
      await settle(p);
      const f64 = await fitOf(p);
      const sb = await p.evaluate(() => ({ cls: document.querySelector('#view').classList.contains('scrolls'), ov: getComputedStyle(document.querySelector('#view')).overflowX,
        note: !document.querySelector('#scroll-note').hidden && document.querySelector('#scroll-note').textContent, bar: document.querySelector('#scroller').getBoundingClientRect().height }));
      ok(f64.text >= 10 - 1e-6 && f64.page <= 0 && (f64.scrolls <= 0 || (sb.cls && sb.ov === 'scroll' && sb.bar > 0 && /scrolls sideways/.test(sb.note))),
         '64 tokens at 390 px: the text stays >= 10 px; the figure that is still too wide scrolls in its box with a scrollbar that shows and a note that says so', `(${JSON.stringify(f64)}; ${JSON.stringify(sb)})`);
      await p.screenshot({ path: path.join(outDir, 'views', '64tok-maps-390.png'), fullPage: true });
      await p.close();
    });
    await paperCheck('embeds in a 360 px column', async () => { // embeds in a 360 px column are readable (text >= 10 px), the live ones and the static one
      const p = await open(link(ioi));
      const sn = await p.evaluate(() => window.relp.embedSnippets());
      await p.close();
      const col = (body) => `<!doctype html><meta name="viewport" content="width=device-width"><title>host</title><style>body{margin:0}main{width:360px;margin:0 auto}</style><main>${body}</main>`;
      const res = [];
      for (const [label, snip, sel] of [['<relp-view>', sn.element, 'relp-view iframe'], ['iframe', sn.iframe, 'iframe']]) {
        fs.writeFileSync(path.join(filesDir, 'host360.html'), col(snip));
        const host = await context.newPage();
        await host.goto(`${base2}host360.html`);
        const fr = await (await host.waitForSelector(sel)).contentFrame();
        await fr.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
        await host.waitForTimeout(500);
        const f = await fitOf(fr);
        const inner = await fr.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth, sh: document.documentElement.scrollHeight, ch: document.documentElement.clientHeight }));
        res.push(`${label}: text ${f.text.toFixed(1)} px, ${inner.sw}x${inner.sh} in ${inner.cw}x${inner.ch}`);
        ok(f.text >= 10 - 1e-6 && f.over <= 1 && inner.sw <= inner.cw && inner.sh <= inner.ch + 1, `the ${label} embed in a 360 px column: text >= 10 px, nothing cut off or scrolled`, `(${res.at(-1)})`);
        await host.screenshot({ path: path.join(outDir, 'views', `embed-${label.replace(/\W/g, '')}-360.png`), fullPage: true });
        await host.close();
      }
      fs.writeFileSync(path.join(filesDir, 'static360.html'), col(sn.static));
      const hs = await context.newPage();
      await hs.goto(`${base2}static360.html`);
      await hs.waitForSelector('figure.relp-static .relp-readout');
      const st = await hs.evaluate(() => { const s = [...document.querySelectorAll('figure.relp-static svg')].find((x) => x.getBoundingClientRect().width > 0);
        const b = s.getBoundingClientRect(); return { text: 11.6 * b.width / Number(s.getAttribute('width')), right: b.right, iw: window.innerWidth }; });
      ok(st.text >= 10 - 1e-6 && st.right <= st.iw, 'the static embed in a 360 px column shows a figure laid out for it (text >= 10 px)', `(text ${st.text.toFixed(1)} px)`);
      await hs.screenshot({ path: path.join(outDir, 'views', 'embed-static-360.png'), fullPage: true });
      await hs.close();
    });
    await paperCheck('a clicked head stays', async () => { // clicking a head opens that head, and moving the pointer does not change it
      const p = await open(link(ioi, { view: 'heads' }));
      await p.click('#view .cell[data-kind="est"][data-r="1"][data-c="1"]');
      await p.waitForSelector('#view g.focus .panel-title');
      const title = async () => (await p.textContent('#view g.focus .panel-title')).replace(/\u00a0/g, ' ');
      const t1 = await title();
      const box = await (await p.$('#view .cell[data-kind="est"], #view g.mini')).boundingBox();
      await p.mouse.move(box.x + 3, box.y + 3, { steps: 2 }); // a jiggle over the grid
      const focus = await (await p.$('#view g.focus .cell[data-kind="focus-clean"]')).boundingBox();
      await p.mouse.move(focus.x + 5, focus.y + 5, { steps: 12 }); // over other heads, to the large pattern
      const t2 = await title(), s2 = await p.evaluate(() => [window.relp.state.layer, window.relp.state.head]);
      ok(t1 === 'layer 1 head 1, clean' && t2 === t1 && s2.join() === '1,1', 'clicking head L1.H1 opens L1.H1; moving the pointer over other heads to the large pattern keeps it', `("${t1}" -> "${t2}", state ${s2})`);
      await p.close();
    });
    await paperCheck('a swapped pair in logit units', async () => { // a swapped pair (negative gap) is drawn in logit units, not as a share, and differs from the valid pair's
      const p = await open(link(ioi));
      const valid = await cells(p, 'est');
      await setInputs(p, { answer: ioi.wrong, wrong: ioi.answer });
      await runNow(p);
      const sw = await cells(p, 'est'), legend = await p.evaluate(() => [...document.querySelectorAll('#view g.legend text')].map((t) => t.textContent).join(' '));
      const gap = await p.evaluate(() => window.relp.store.mClean - window.relp.store.mCorrupt);
      ok(gap < 0 && /logit units/.test(legend) && !/share of the logit difference restored/.test(legend) && maxRel(sw, valid.map((v) => v * gap)) < 1e-3,
         'with the answer and wrong token swapped (gap < 0) the legend says logit units and the map is the change in logits (not the valid pair\'s map)', `(gap ${gap.toFixed(3)}; "${legend.slice(0, 90)}")`);
      await p.close();
    });
    await paperCheck('long jobs asked first, IG steps, Export', async () => { // a job over the threshold is said first (Not now, then compute it); IG steps
      const p = await open(link(ioi));
      await p.selectOption('#method', 'atp');
      await p.click('#export-svg');
      const ex = await messageOf(p);
      ok(/AtP has not been run on these prompts yet/.test(ex) && /choose RelP/.test(ex) && !/nothing to export/.test(ex), 'Export with a method not run says so and names the one computed', `("${ex.slice(0, 120)}")`);
      await p.selectOption('#method', 'relp');
      await p.evaluate(() => { window.relp.askAbove = 0; });
      await p.click('[data-view="positions"]');
      await p.waitForSelector('#confirm:not([hidden])');
      const said = await p.textContent('#confirm-text');
      await p.click('#confirm-no');
      await idle(p);
      const declined = await p.evaluate(() => ({ apPos: !!window.relp.store.apPos, note: document.querySelector('#view-note').textContent }));
      await p.click('#view-note button');
      await p.waitForSelector('#confirm:not([hidden])');
      await p.click('#confirm-go');
      await idle(p);
      await p.waitForFunction(() => window.relp.store.apPos && window.relp.phase === 'idle');
      ok(/Activation patching per head and position: \d+ patched runs, about [\d.]+ (s|min)/.test(said) && !declined.apPos && /compute it/.test(declined.note) &&
         (await cells(p, 'ap')).length > 0, 'before a long job (heads x position AP) the page says how long it will take; Not now runs nothing, and it can be run later', `("${said.slice(0, 100)}")`);
      await p.evaluate(() => { window.relp.askAbove = 5; });
      // IG steps are checked as typed, and a change after a run marks the figure out of date
      await view(p, 'maps');
      await p.selectOption('#method', 'ig');
      const bad = [];
      for (const v of ['0', '5000', '2.5']) {
        await p.fill('#steps', v);
        const s = await p.evaluate(() => ({ shown: !document.querySelector('#steps-problem').hidden, run: document.querySelector('#run').disabled, field: document.querySelector('#steps').value }));
        if (!(s.shown && s.run && s.field === v)) bad.push(`${v}: ${JSON.stringify(s)}`);
      }
      await p.fill('#steps', '10');
      await runNow(p);
      const cap10 = await p.evaluate(() => window.relp.svgString());
      await p.fill('#steps', '50');
      const st = await p.evaluate(() => ({ stale: window.relp.stale, banner: !document.querySelector('#stale').hidden }));
      ok(bad.length === 0 && /method: IG, 10 steps/.test(cap10) && st.stale && st.banner, 'IG steps 0, 5000 and 2.5 are refused as typed (Run disabled, the field keeps them); 10 -> 50 after a run marks the figure out of date', bad.join('; ') || JSON.stringify(st));
      // Run is disabled while the inputs cannot run
      await p.fill('#steps', '10');
      await setInputs(p, { answer: ioi.answer, wrong: ioi.answer });
      ok(await p.isDisabled('#run'), 'Run is disabled while the inputs cannot run (answer = wrong token)');
      await p.close();
    });
    await paperCheck('the scatter, pasted links', async () => { // the scatter's readout names layer, position and token; its ticks are round and do not overlap
      const p = await open(link(ioi, { view: 'scatter' }));
      await p.hover('#view .pt[data-kind="attn"][data-i="10"]', { force: true });
      const ro = await p.textContent('#readout');
      const ticks = await p.evaluate(() => [...document.querySelectorAll('#view svg text.tick')].map((t) => { const b = t.getBBox(); return { s: t.textContent, x0: b.x, x1: b.x + b.width, y0: b.y, y1: b.y + b.height }; }));
      const over = ticks.some((a, i) => ticks.some((b, j) => j > i && a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1));
      const vals = [...new Set(ticks.map((t) => Number(t.s)))].sort((a, b) => a - b), step = vals[1] - vals[0];
      const round = vals.length >= 3 && vals.every((v) => Math.abs(v / step - Math.round(v / step)) < 1e-6) && [1, 2, 5].some((m) => Math.abs(step / 10 ** Math.floor(Math.log10(step)) - m) < 1e-6);
      ok(/^attn: layer \d+, position \d+ ".*": RelP -?[\d.e-]+, AP -?[\d.e-]+$/.test(ro) && !over && round, 'the scatter\'s readout says layer, position and token; its ticks are round multiples of 1, 2 or 5 and none overlap', `("${ro}"; ticks ${vals.join(', ')})`);
      // a link pasted into the open tab (only the # part changes) is opened
      const ind = man.examples.find((e) => e.kind === 'induction');
      await p.evaluate((h) => { location.hash = h; }, new URLSearchParams({ model: NAME, clean: ind.clean, corrupt: ind.corrupt, answer: ind.answer, wrong: ind.wrong, method: 'atp', ap: '1', view: 'heads' }).toString());
      await p.waitForFunction((c) => window.relp.store && window.relp.store.query.clean === c && window.relp.phase === 'idle', ind.clean, { timeout: 60000 });
      const h = await p.evaluate(() => ({ method: window.relp.state.method, view: window.relp.state.view, field: document.querySelector('#clean').value, est: !!window.relp.store.est.atp }));
      ok(h.method === 'atp' && h.view === 'heads' && h.field === ind.clean && h.est, 'a new link pasted into the open tab (a new # only) opens its state and runs it', JSON.stringify(h));
      await p.close();
    });
    await paperCheck('node table, token view, keyboard, header', async () => { // the node table: AP first, every value with the same decimals, all 7 methods fit at 1400 px;
      // the token view says what it shows; the keyboard, Export, the header, the examples
      const p = await open(link(ioi));
      await p.evaluate(() => { window.relp.askAbove = 1e9; }); // every method runs without asking (IG's estimate is rough before a first run)
      for (const m of METHODS24) { await p.selectOption('#method', m); if (!(await p.evaluate((mm) => window.relp.store.est[mm], m))) await runNow(p); }
      await view(p, 'table');
      await p.selectOption('#table-k', '100');
      const t = await p.evaluate(() => ({ cols: [...document.querySelectorAll('table.nodes thead button')].map((b) => b.dataset.sort),
        texts: [...document.querySelectorAll('table.nodes td.v')].map((td) => td.textContent), wrap: document.querySelector('.table-wrap').scrollWidth - document.querySelector('.table-wrap').clientWidth,
        right: document.querySelector('table.nodes').getBoundingClientRect().right, iw: window.innerWidth }));
      const dec = new Set(t.texts.map((x) => (x.split('.')[1] || '').length));
      ok(t.cols[0] === 'ap' && t.cols.length === 8 && dec.size === 1 && t.texts.every((x) => /^-?\d+(\.\d+)?$/.test(x)) && t.wrap <= 0 && t.right <= t.iw,
         'the node table with all 7 methods: AP (the ground truth) the first column, every value with the same decimals, all of it on screen at 1400 px', `(${t.cols.join(', ')}; decimals ${[...dec]}; e.g. ${t.texts.slice(0, 4).join(', ')})`);
      await view(p, 'tokens');
      await p.selectOption('#method', 'atp');
      const atpNote = await p.textContent('#view-note'), atpTitle = await p.textContent('#view svg .figure-title');
      await p.selectOption('#method', 'relp');
      const relpNote = await p.textContent('#view-note');
      ok(/AtP, IG and IG-input share this view: gradient x input/.test(atpNote) && /gradient x input/.test(atpTitle) && /conservation gap -?[\d.]+ is the part of the metric the rules pass to no token: to the biases/.test(relpNote),
         'the token view says which rules it shows (AtP, IG and IG-input: gradient x input) and what the conservation gap is', `("${atpTitle}"; "${relpNote.slice(0, 120)}")`);
      await view(p, 'maps');
      await p.selectOption('#method', 'ig');
      const igText = await p.evaluate(() => window.relp.svgString());
      ok(!/\) \(/.test(igText.replace(/<[^>]+>/g, ' ')), 'no title has doubled parentheses (IG\'s panels)');
      await p.selectOption('#method', 'relp');
      await p.hover('#view .cell[data-kind="est"][data-r="2"][data-c="3"]');
      await p.focus('#view');
      const keys = [];
      for (const k of ['ArrowRight', 'ArrowRight', 'Home', 'End']) { await p.keyboard.press(k); keys.push((/position (\d+)/.exec(await p.textContent('#readout')) || [])[1]); }
      ok(keys.join() === '3,4,0,14' && /^layer 2,/.test(await p.textContent('#readout')), 'the keyboard cursor starts at the hovered cell; Home and End go to the row\'s ends', `(positions ${keys.join(', ')})`);
      const head = await p.textContent('header p'), exTitle = await p.getAttribute('#example-ioi', 'title');
      ok(!/ on GPT-2, /.test(head) && /GPT-2, Llama/.test(head) && /the manifest has one/.test(exTitle), 'the header does not say GPT-2 over every model; the example buttons say they have one example each', `("${exTitle}")`);
      await p.close();
    });
    await paperCheck('write_checkpoint.py without torch', async () => { // tests/write_checkpoint.py --help under a python without torch says which python to use
      const fake = path.join(outDir, 'no-torch');
      fs.mkdirSync(path.join(fake, 'torch'), { recursive: true });
      fs.writeFileSync(path.join(fake, 'torch', '__init__.py'), 'raise ImportError("No module named torch (a test stand-in)")\n');
      const r = spawnSync(python, [path.join(here, 'write_checkpoint.py'), '--help'], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: fake } });
      const r2 = spawnSync(python, [path.join(here, 'write_checkpoint.py'), path.join(outDir, 'x'), '--shape', '1,16,1'], { encoding: 'utf8', env: { ...process.env, PYTHONPATH: fake } });
      ok(r.status === 0 && /usage:/.test(r.stdout) && r2.status !== 0 && /torch/.test(r2.stderr) && /python/.test(r2.stderr) && !/Traceback/.test(r2.stderr),
         'write_checkpoint.py --help works without torch, and a run without it says which python to use', `("${r2.stderr.trim().slice(0, 120)}")`);
    });
    await paperCheck('metrics and figure options', async () => { // metrics: the log-probability of the answer == relp attribute --metric logprob, named in the caption
      const p = await open(link(ioi, { metric: 'logprob', ap: '0' }));
      const est = await cells(p, 'est');
      const want = native(['attribute', '--model', dir, '--clean', ioi.clean, '--corrupt', ioi.corrupt, '--answer', ioi.answer, '--metric', 'logprob', '--method', 'relp', '--node', 'mlp', '--json', '-']);
      const svg = await p.evaluate(() => window.relp.svgString());
      ok(maxRel(est, want.scores.flat()) <= 1e-4 && /metric: log-probability of &quot;/.test(svg) && await p.inputValue('#metric') === 'logprob',
         'metric=logprob: the map == relp attribute --metric logprob, and the caption names the metric', `(max rel diff ${maxRel(est, want.scores.flat()).toExponential(2)})`);
      for (const m of ['logit', 'logit_diff']) {
        await p.selectOption('#metric', m);
        await runNow(p);
        const s = await p.evaluate(() => window.relp.svgString());
        ok(new RegExp(`metric: ${m === 'logit' ? 'logit &quot;' : 'logit difference &quot;'}`).test(s), `metric ${m} is named in the caption`);
      }
      // figure options: font, caption beside the figure, a fixed colour scale; in the URL
      await p.selectOption('#font', 'sans');
      await p.uncheck('#caption-on');
      await p.fill('#cmax', '1');
      await p.press('#cmax', 'Enter');
      await p.waitForFunction(() => window.relp.state.cmax === 1);
      const o = await p.evaluate(() => ({ svg: window.relp.svgString(), caption: document.querySelector('#caption-text').textContent, shown: !document.querySelector('#caption-box').hidden, hash: location.hash }));
      const ticks = /<text[^>]*>-1\.00<\/text>[\s\S]*<text[^>]*>1\.00<\/text>/.test(o.svg);
      ok(/font-family='[^']*sans-serif'/.test(o.svg) && !/class='caption'/.test(o.svg) && o.shown && /^model: ioi-4l; method: RelP/.test(o.caption) && ticks && /fixed scale/.test(o.svg) &&
         /font=sans/.test(o.hash) && /caption=0/.test(o.hash) && /cmax=1/.test(o.hash), 'font sans-serif, caption off (shown as text beside the figure), colour scale fixed at 1: in the figure and in the URL', `(${o.hash.slice(0, 0)}caption "${o.caption.slice(0, 60)}")`);
      const png = fs.readFileSync(await download(p, '#export-png'));
      ok(png.readUInt32BE(16) === 2 * Number(/width='(\d+)'/.exec(o.svg)[1]), 'a sans-serif figure exports as a PNG of its size');
      const cli = path.join(outDir, 'cli-options.svg');
      execFileSync(relpBin, ['attribute', '--model', dir, '--clean', ioi.clean, '--corrupt', ioi.corrupt, '--answer', ioi.answer, '--wrong', ioi.wrong, '--method', 'relp', '--node', 'mlp',
        '--svg', cli, '--font', 'sans', '--no-caption', '--color-max', '1'], { stdio: 'ignore' });
      const cs = fs.readFileSync(cli, 'utf8'), ctext = fs.readFileSync(cli.replace(/\.svg$/, '.caption.txt'), 'utf8');
      ok(/font-family='[^']*sans-serif'/.test(cs) && !/class='caption'/.test(cs) && /fixed scale/.test(cs) && /^model: /.test(ctext), 'the CLI has them too: --font sans --no-caption (the caption in FILE.caption.txt) --color-max 1');
      await p.close();
    });
    await paperCheck('data sets', async () => { // data sets: the official demo set's r table == relp ioi --json on the same prompts; exports name it
      const p = await open(link(ioi));
      await p.evaluate(() => { window.relp.askAbove = 1e9; }); // run without asking (the estimate of a data set is rough; asking is checked above)
      await p.selectOption('#set', 'demo');
      for (const m of ['relp', 'atp']) await p.check(`#ds-methods input[value="${m}"]`);
      await runNow(p);
      await p.waitForFunction(() => window.relp.dataset && window.relp.dataset.done, null, { timeout: 120000 });
      const jf = path.join(outDir, 'ioi-demo.json');
      execFileSync(relpBin, ['ioi', '--model', dir, '--dataset', 'demo', '--methods', 'relp,atp', '--json', jf], { stdio: 'ignore' });
      const want = JSON.parse(fs.readFileSync(jf, 'utf8'));
      const got = await p.evaluate(() => ({ r: window.relp.dataset.r, n: window.relp.dataset.res.nPrompts, b: window.relp.dataset.res.nBatches, view: window.relp.state.view }));
      let d = 0;
      for (const m of ['relp', 'atp']) for (const n of ['resid', 'attn', 'mlp', 'head']) d = Math.max(d, Math.abs(got.r[m][n] - want.pearson[m][n]));
      const cells24 = await p.$$eval('#view .cell[data-kind="r"]', (es) => es.length);
      ok(got.view === 'rtable' && got.n === want.prompts && got.b === want.batches && d <= 2e-3 && cells24 === 8, 'the demo set\'s r table (RelP, AtP x resid, attn, mlp, heads) == relp ioi --dataset demo --json',
         `(${got.n} prompts in ${got.b} batch(es); max |r diff| ${d.toExponential(1)})`);
      const csvText = fs.readFileSync(await download(p, '#export-csv'), 'utf8');
      const svgT = fs.readFileSync(await download(p, '#export-svg'), 'utf8');
      const pngT = fs.readFileSync(await download(p, '#export-png'));
      ok(/^method,resid,attn,mlp,head,seconds\nrelp,/.test(csvText) && Math.abs(Number(csvText.split('\n')[1].split(',')[1]) - want.pearson.relp.resid) < 2e-3 &&
         /data: IOI, the official demo set \(8 prompts/.test(svgT) && pngT.readUInt32BE(16) > 0, 'the r table exports as CSV, SVG and PNG, the data set named in the caption');
      await view(p, 'maps');
      const mean = (await svgDoc(p, await p.evaluate(() => window.relp.svgString()))).text.replace(/\n/g, ' ');
      ok(/data: IOI, the official demo set \(8 prompts\), batch 1 of \d+ \(\d+ prompts of \d+ tokens\); mean of \d+ prompts/.test(mean), 'the mean maps name the data set and the batch in their caption', `(${(/data: [^;]*/.exec(mean) || [''])[0]})`);
      // JSONL in Marks et al.'s keys, pasted
      await p.selectOption('#set', 'jsonl');
      await p.fill('#jsonl', [ioi, man.examples.find((e) => e.kind === 'induction')].map((e) => JSON.stringify({ clean_prefix: e.clean, patch_prefix: e.corrupt, clean_answer: e.answer, patch_answer: e.wrong })).join('\n'));
      await runNow(p);
      await p.waitForFunction(() => window.relp.dataset && window.relp.dataset.done && window.relp.dataset.q.set === 'jsonl', null, { timeout: 120000 });
      const jl = await p.evaluate(() => ({ n: window.relp.dataset.res.nPrompts, name: window.relp.dataset.name, info: document.querySelector('#ds-info').textContent }));
      ok(jl.n === 2 && /pasted JSONL \(2 pairs\)/.test(jl.name) && /2 pairs read/.test(jl.info), 'pairs pasted as JSONL in Marks et al.\'s keys run as a data set', JSON.stringify(jl));
      // Wang et al.'s distribution, with progress and Cancel
      await p.selectOption('#set', 'wang');
      await p.fill('#ds-n', '200');
      await p.click('#run');
      await p.waitForFunction(() => /batch \d+ of \d+/.test(document.querySelector('#progress-label').textContent), null, { timeout: 30000 });
      const lab = await p.textContent('#progress-label');
      await p.keyboard.press('Escape');
      await idle(p);
      ok(/batch \d+ of \d+ \(\d+ prompts of \d+ tokens\)/.test(lab) && /cancelled/.test(await messageOf(p)), 'Wang et al.\'s distribution (200 prompts) runs with progress by batch, and Cancel stops it', `("${lab}")`);
      await p.screenshot({ path: path.join(outDir, 'views', 'dataset-1400.png'), fullPage: true });
      await p.close();
    });
    console.log(`the page for a paper: ${((Date.now() - t24) / 1000).toFixed(0)} s`);
  }
  if (process.env.RELP_ONLY_PAPER) throw new Error('SKIP');

  // ---------------------------------------------------------- 1. numbers
  const page = await open(base);
  const st = await page.evaluate(() => window.relp.state);
  ok(st.model === NAME, 'the page opens the manifest\'s default model', `(${st.model})`);
  const ex = manifest.models.find((m) => m.name === NAME).examples.find((e) => e.kind === 'ioi');
  ok(st.clean === ex.clean && st.answer === ex.answer, 'the default prompts are the default model\'s IOI example');
  const opts = await page.$$eval('#bundled option', (os) => os.map((o) => o.value).filter(Boolean));
  ok(opts.join() === manifest.models.map((m) => m.name).join(), 'the model list is the manifest\'s', `(${opts.join(', ')})`);
  { // the worker loads the relaxed-SIMD module where the browser validates it (Chromium 114+), SIMD128 elsewhere
    const relaxed = await page.evaluate(async () => (await import('./relp.mjs')).relaxedSimdSupported());
    const info = await page.textContent('#model-info');
    ok(relaxed ? /wasm simd128 \+ relaxed madd, (up to \d+ threads|1 thread)/.test(info) : /wasm simd128, (up to \d+ threads|1 thread)/.test(info),
       `the page runs the ${relaxed ? 'relaxed-SIMD' : 'SIMD128'} module this browser ${relaxed ? 'validates' : 'supports'}`, `("${info}")`);
  }
  const common = ['--model', dir, '--clean', st.clean, '--corrupt', st.corrupt, '--answer', st.answer, '--wrong', st.wrong, '--json', '-'];
  const r = await page.evaluate(() => window.relp.result.r);
  for (const node of ['resid', 'attn', 'mlp', 'head']) {
    if (node === 'head') await view(page, 'heads');
    else { await view(page, 'maps'); await page.selectOption('#node', node); }
    const est = await cells(page, 'est'), ap = await cells(page, 'ap');
    const nr = native(['attribute', ...common, '--method', 'relp', '--node', node]).scores.flat();
    const na = native(['attribute', ...common, '--method', 'ap', '--node', node]).scores.flat();
    ok(maxRel(est, nr) <= 1e-4, `page RelP ${node} == relp attribute --method relp`, `(${est.length} cells, max rel diff ${maxRel(est, nr).toExponential(2)})`);
    ok(maxRel(ap, na) <= 1e-4, `page AP ${node} == relp attribute --method ap`, `(${ap.length} cells, max rel diff ${maxRel(ap, na).toExponential(2)})`);
    const rn = pearson(nr, na);
    ok(Math.abs(r[node] - rn) <= 1e-3, `page Pearson r ${node}`, `(page ${r[node].toFixed(4)}, from the native scores ${rn.toFixed(4)})`);
  }
  { // heads per position: the estimate and AP per (head, position)
    await view(page, 'positions');
    const est = await cells(page, 'est'), ap = await cells(page, 'ap');
    const nr = native(['attribute', ...common, '--method', 'relp', '--node', 'head', '--per-position']).scores.flat(Infinity);
    const na = native(['attribute', ...common, '--method', 'ap', '--node', 'head', '--per-position']).scores.flat(Infinity);
    ok(maxRel(est, nr) <= 1e-4 && maxRel(ap, na) <= 1e-4, 'page per-head per-position RelP and AP == relp attribute --per-position',
       `(${est.length} + ${ap.length} cells, max rel diff ${Math.max(maxRel(est, nr), maxRel(ap, na)).toExponential(2)})`);
  }
  const res = await page.evaluate(() => { const s = window.relp.store; return { pred: s.pred, mClean: s.mClean, mCorrupt: s.mCorrupt, tr: window.relp.result.tokenRelevance }; });
  const fwd = native(['forward', '--model', dir, '--prompt', st.clean, '--top', '5', '--json']);
  const nAns = fwd.top.findIndex((t) => t.piece === st.answer);
  const am = native(['attribute', ...common, '--method', 'atp', '--node', 'resid']);
  ok(nAns >= 0 && res.pred.rank === nAns + 1 && Math.abs(res.pred.pAnswer - fwd.top[nAns].prob) < 1e-4,
     'p(answer) and its rank == relp forward --top', `(page p ${res.pred.pAnswer.toFixed(4)} rank ${res.pred.rank}; native ${nAns >= 0 ? fwd.top[nAns].prob.toFixed(4) : '?'} rank ${nAns + 1})`);
  ok(Math.abs(res.mClean - am.metric_clean) < 1e-4 && Math.abs(res.mCorrupt - am.metric_corrupt) < 1e-4, 'both metrics == relp attribute',
     `(page ${res.mClean.toFixed(4)}, ${res.mCorrupt.toFixed(4)}; native ${am.metric_clean.toFixed(4)}, ${am.metric_corrupt.toFixed(4)})`);
  const info = await page.textContent('#run-info');
  const gapShown = Number((/gap (-?[\d.]+);/.exec(info) || [])[1]), consShown = Number((/conservation gap (-?[\d.]+)/.exec(info) || [])[1]);
  const nx = native(['explain', '--model', dir, '--prompt', st.clean, '--answer', st.answer, '--wrong', st.wrong, '--rules', 'relp', '--json', '-']);
  ok(Math.abs(gapShown - (am.metric_clean - am.metric_corrupt)) < 2e-3 && /p\(" ?\w+"\) = [\d.]+, rank \d+/.test(info),
     'the page shows p(answer), rank, both metrics and their gap', `(${info.slice(0, 160)})`);
  ok(Math.abs(consShown - nx.conservation_gap) < 2e-3, 'token relevance shows its conservation gap == relp explain', `(page ${consShown}, native ${nx.conservation_gap.toFixed(4)})`);
  { // IG along the input path, opened from a link: the page runs what the fragment says
    const q = new URLSearchParams({ model: NAME, clean: st.clean, corrupt: st.corrupt, answer: st.answer, wrong: st.wrong, method: 'ig-input', steps: '10', ap: '0', view: 'maps', node: 'mlp' });
    const p2 = await open(`${base}#${q}`);
    const est = await cells(p2, 'est');
    const ni = native(['attribute', ...common, '--method', 'ig-input', '--steps', '10', '--node', 'mlp']).scores.flat();
    ok(est.length === ni.length && maxRel(est, ni) <= 1e-4, 'page IG (input path) mlp == relp attribute --method ig-input', `(${est.length} cells, max rel diff ${maxRel(est, ni).toExponential(2)})`);
    await p2.close();
  }

  // ---------------------------------------------------------- 2. figures
  await view(page, 'maps');
  await page.selectOption('#node', 'mlp');
  const svgOnPage = await page.evaluate(() => window.relp.svgString());
  const svgText = fs.readFileSync(await download(page, '#export-svg'), 'utf8');
  const doc = await svgDoc(page, svgText);
  ok(doc && svgText === svgOnPage, 'SVG export parses and is the SVG on screen', `(${doc && doc.w}x${doc && doc.h})`);
  ok(doc && doc.axis.join('|') === `${SPEC.axes.layer}|${SPEC.axes.position}|${SPEC.axes.layer}|${SPEC.axes.position}`, 'the exported SVG has axis titles', `(${doc && doc.axis.join(' | ')})`);
  ok(doc && doc.text.includes(`model: ${NAME}`) && doc.text.includes('clean:') && doc.text.includes('corrupted:') && doc.text.includes(`${JSON.stringify(st.answer)} - ${JSON.stringify(st.wrong)}`) &&
     /method: RelP/.test(doc.text) && /Pearson r of RelP with AP: resid [\d.]+/.test(doc.text) && doc.differs === 2,
     'the exported SVG has its caption: model, prompts (differing tokens marked), answer, wrong token, metric, method, r', `(${doc && doc.differs} marked tokens)`);
  ok(doc && doc.text.includes(SPEC.legends.share.slice(0, 40)), 'the legend says what the colour means', `("${SPEC.legends.share.slice(0, 60)}...")`);
  for (const scale of ['1', '2', '4']) {
    await page.selectOption('#png-scale', scale);
    const png = fs.readFileSync(await download(page, '#export-png'));
    const sig = png.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
    ok(sig && png.readUInt32BE(16) === scale * doc.w && png.readUInt32BE(20) === scale * doc.h, `PNG export at ${scale}x is a PNG of ${scale}x the SVG's size`, `(${png.readUInt32BE(16)}x${png.readUInt32BE(20)})`);
    if (scale === '2') {
      const drawn = await page.evaluate(async (b64) => {
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const c = document.createElement('canvas');
        c.width = img.width; c.height = img.height;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const px = g.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250) n++;
        return n / (px.length / 4);
      }, png.toString('base64'));
      ok(drawn > 0.01, 'PNG decodes in the browser and is not blank', `(${(100 * drawn).toFixed(1)}% of pixels drawn)`);
    }
  }
  await page.selectOption('#png-scale', '2');

  // ---------------------------------------------------------- 3. embeds
  const snippets = await page.evaluate(() => window.relp.embedSnippets());
  const src = /src="([^"]+)"/.exec(snippets.iframe)[1];
  const emb = await open(src);
  ok(await emb.evaluate(() => window.relp.svgString()) === svgOnPage, 'the iframe embed renders the same SVG as the page');
  ok(await emb.isHidden('#model-bar') && await emb.isHidden('#run') && await emb.isVisible('#view svg'), 'the embed hides the controls and shows the figure');
  await emb.close();
  const column = (w, body) => `<!doctype html><meta name="viewport" content="width=device-width"><title>host</title><style>body{margin:0}main{width:${w}px;margin:0 auto;font:16px serif}</style><main><p>A blog post.</p>${body}<p>After.</p></main>`;
  const fits = async (host, sel) => {
    const frameEl = await host.waitForSelector(sel);
    const frame = await frameEl.contentFrame();
    await frame.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
    await host.waitForTimeout(300); // the size report
    const box = await frameEl.boundingBox();
    const inner = await frame.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth, sh: document.documentElement.scrollHeight,
      ch: document.documentElement.clientHeight, svg: document.querySelector('#view svg') ? document.querySelector('#view svg').getBoundingClientRect().width : 0, svgText: window.relp.svgString() }));
    return { box, inner, frame };
  };
  for (const [label, snippet, sel] of [['<relp-view>', snippets.element, 'relp-view iframe'], ['iframe', snippets.iframe, 'iframe']]) {
    fs.writeFileSync(path.join(filesDir, 'host.html'), column(760, snippet));
    const host = await context.newPage();
    host.on('pageerror', (e) => pageErrors.push(e.message));
    await host.goto(`${base2}host.html`);
    const { box, inner } = await fits(host, sel);
    ok(inner.svgText === svgOnPage, `the ${label} embed on another origin renders the page's SVG`);
    ok(box.width <= 760 && inner.sw <= inner.cw && inner.sh <= inner.ch + 1 && inner.svg > 0 && inner.svg <= 760,
       `the ${label} embed fits a 760 px column (no scroll inside)`, `(frame ${box.width.toFixed(0)}x${box.height.toFixed(0)}, content ${inner.sw}x${inner.sh}, svg ${inner.svg.toFixed(0)} px wide)`);
    for (const w of [360, 1000]) { // any column from 360 to 1000 px
      await host.evaluate((w) => { document.querySelector('main').style.width = `${w}px`; }, w);
      await host.waitForTimeout(400);
      const f = await (await host.$(sel)).contentFrame();
      const b = await (await host.$(sel)).boundingBox();
      const i2 = await f.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth, sh: document.documentElement.scrollHeight, ch: document.documentElement.clientHeight }));
      ok(b.width <= w && i2.sw <= i2.cw && i2.sh <= i2.ch + 1, `the ${label} embed fits a ${w} px column`, `(frame ${b.width.toFixed(0)}x${b.height.toFixed(0)})`);
    }
    await host.evaluate(() => { document.querySelector('main').style.width = '760px'; });
    await host.waitForTimeout(400);
    await host.screenshot({ path: path.join(outDir, 'views', `embed-${label.replace(/\W/g, '')}-760.png`), fullPage: true });
    await host.close();
  }
  { // the static embed: inline SVG + results JSON; no engine, no weights
    fs.writeFileSync(path.join(filesDir, 'static.html'), column(760, snippets.static));
    const host = await context.newPage();
    const requests = [];
    host.on('request', (q) => requests.push(q.url()));
    host.on('pageerror', (e) => pageErrors.push(e.message));
    await host.goto(`${base2}static.html`);
    await host.waitForSelector('figure.relp-static .relp-readout');
    const engineReqs = requests.filter((u) => /relp_engine|\.wasm|\.safetensors|worker\.js|relp\.mjs|models\//.test(u));
    const shown = await host.$eval('figure.relp-static svg', (s) => s.outerHTML);
    const json = await host.$eval('script.relp-results', (s) => JSON.parse(s.textContent));
    ok(engineReqs.length === 0 && shown.includes('<title>') && json.scores && json.scores.relp && json.scores.relp.mlp.length === json.L * json.tokens.length,
       'the static embed renders with no request for the engine or the weights, with the results as JSON', `(${requests.length} requests: ${requests.map((u) => u.replace(/^https?:\/\/[^/]+/, '')).join(', ')})`);
    const box = await host.$eval('figure.relp-static svg', (s) => s.getBoundingClientRect().width);
    await host.hover('figure.relp-static .cell[data-r="0"][data-c="0"]');
    const readout = await host.textContent('.relp-readout');
    ok(box <= 760 && /: -?[\d.e-]+$/.test(readout) && !/\d{7,}/.test(readout), 'the static embed fits the column and has a hover readout', `(${box.toFixed(0)} px; "${readout}")`);
    await host.screenshot({ path: path.join(outDir, 'views', 'embed-static-760.png'), fullPage: true });
    await host.close();
  }
  ok(/build\/wasm-release\/web/.test(await page.textContent('#embed-dialog')) && /never reaches the server/.test(await page.textContent('#embed-dialog')),
     'the Embed dialog says which folder to publish and how the URLs work');
  await page.click('#embed');
  ok(await page.isVisible('#embed-host-note'), 'the Embed dialog warns that 127.0.0.1 URLs reach only this machine', `("${(await page.textContent('#embed-host-note')).slice(0, 80)}")`);
  await page.fill('#embed-base', 'https://example.org/relp/');
  const code = await page.inputValue('#embed-code');
  ok(code.includes('https://example.org/relp/relp-embed.js') && await page.isHidden('#embed-host-note'), 'the snippets follow the published URL typed in the dialog');
  await page.click('#close-embed');

  // ---------------------------------------------------------- 4. the page's earlier bugs, one by one
  { // B1: the attention pattern is drawn on the tokens it was computed for
    const p = await open(base);
    await setInputs(p, { clean: `${st.clean} now`, corrupt: `${st.corrupt} now` }); // 16 tokens, not run
    await view(p, 'heads');
    await p.click('#view .cell[data-kind="est"][data-r="0"][data-c="1"]');
    await idle(p);
    await p.waitForSelector('#view g.focus .cell');
    const a = await p.evaluate(() => { const s = window.relp.store; const cs = [...document.querySelectorAll('#view .cell[data-kind="focus-clean"]')];
      return { T: s.T, n: cs.length, upper: cs.filter((c) => +c.dataset.c > +c.dataset.r && +c.dataset.v !== 0).length, stale: window.relp.stale, view: window.relp.state.view }; });
    ok(a.view === 'attention' && a.n === a.T * a.T && a.upper === 0 && a.stale, 'B1: after an edit, a head\'s pattern is drawn on the tokens of the run shown (causal), marked out of date',
       `(${a.n} cells for T=${a.T}, ${a.upper} above the diagonal)`);
    await runNow(p);
    const b = await p.evaluate(() => ({ T: window.relp.store.T, n: document.querySelectorAll('#view .cell[data-kind="focus-clean"]').length }));
    ok(b.T === 16 && b.n === 256, 'B1: after Run, the pattern has the new 16 tokens', `(${b.n} cells)`);
    await p.close();
  }
  { // B2: stale results are marked; Export and Embed use the state of the picture shown
    const p = await open(base);
    const before = await p.evaluate(() => window.relp.svgString());
    await setInputs(p, { clean: st.clean.replace('shops', 'park'), corrupt: st.corrupt.replace('shops', 'park') });
    const s = await p.evaluate(() => ({ stale: window.relp.stale, banner: !document.querySelector('#stale').hidden, dim: document.querySelector('#view').classList.contains('stale'),
      emb: window.relp.embedSnippets().iframe, shownClean: window.relp.shownState().clean }));
    const embClean = new URLSearchParams(decodeURIComponent(/#([^"]+)"/.exec(s.emb)[1]).replace(/&amp;/g, '&')).get('clean');
    ok(s.stale && s.banner && s.dim, 'B2: after an edit, the old map is marked out of date');
    const svg = fs.readFileSync(await download(p, '#export-svg'), 'utf8');
    ok(svg === before && s.shownClean === st.clean && embClean === st.clean, 'B2: Export and Embed use the prompts of the picture shown, not the edited ones', `(embed clean: ${JSON.stringify(embClean)})`);
    await runNow(p);
    ok(!(await p.evaluate(() => window.relp.stale)) && (await p.isHidden('#stale')), 'B2: Run clears the mark');
    await p.close();
  }
  { // B3: "model predicts" follows the prompt as you type
    const p = await open(base);
    const ind = manifest.models.find((m) => m.name === NAME).examples.find((e) => e.kind === 'induction');
    await p.click('#example-induction');
    await checkedFor(p);
    ok(await p.inputValue('#clean') === ind.clean && await p.inputValue('#answer') === ind.answer, 'the induction button uses the model\'s example from the manifest');
    const shown = await p.textContent('#top-predictions');
    const nf = native(['forward', '--model', dir, '--prompt', ind.clean, '--top', '1', '--json']);
    ok(shown.startsWith(`after the clean prompt the model predicts ${JSON.stringify(nf.top[0].piece)}`), 'B3: "model predicts" is refreshed for the induction prompt (== relp forward --top)',
       `(page "${shown.slice(0, 70)}"; native ${JSON.stringify(nf.top[0].piece)})`);
    for (const ex of manifest.models.find((m) => m.name === NAME).examples) { // every example is a prompt the model solves
      await p.click(`#example-${ex.kind}`);
      await checkedFor(p);
      const line = await p.textContent('#top-predictions');
      const m = /model predicts ("(?:[^"\\]|\\.)*") ([0-9.]+)/.exec(line);
      ok(m && JSON.parse(m[1]) === ex.answer && Number(m[2]) >= 0.5 && /rank 1\b/.test(line),
         `the ${ex.kind} example: the page shows the answer ${JSON.stringify(ex.answer)} as the model's top-1 token with p >= 0.5`, `(page "${line}")`);
    }
    await p.click('#example-induction');
    await checkedFor(p);
    await p.fill('#clean', `${ind.clean} and`);
    ok(!(await p.textContent('#top-predictions')).includes(nf.top[0].piece) || (await p.textContent('#top-predictions')).includes('...'), 'B3: it never shows a prediction of an earlier prompt while the new one is computed');
    await p.close();
  }
  { // B4: cancel: Run stays disabled until the model is back; no stale progress or messages
    const p = await open(base);
    let delay = 0;
    await p.route('**/models/**/model.safetensors', async (route) => { await new Promise((r) => setTimeout(r, delay)); await route.continue(); });
    await p.selectOption('#method', 'ig');
    await p.fill('#steps', '1000');
    await p.evaluate(() => { window.relp.askAbove = 1e9; }); // a long run, not asked about first (asking first is tested in section 0)
    delay = 2500;
    await p.click('#run');
    await p.waitForTimeout(300);
    const mid = await p.evaluate(() => window.relp.phase);
    await p.click('#cancel');
    await p.waitForTimeout(200);
    const during = await p.evaluate(() => ({ phase: window.relp.phase, run: document.querySelector('#run').disabled, model: !!window.relp.model }));
    await p.click('#run', { force: true }).catch(() => {});
    const msgDuring = await messageOf(p);
    await idle(p);
    const after = await p.evaluate(() => ({ run: document.querySelector('#run').disabled, bar: document.querySelector('#progress').hidden, label: document.querySelector('#progress-label').textContent, model: !!window.relp.model }));
    const msgAfter = await messageOf(p);
    ok(mid === 'running' && during.phase === 'loading' && during.run && !during.model && !/no model is loaded/.test(msgDuring),
       'B4: after Cancel, Run is disabled while the model reloads, and clicking it says nothing false', `(phase ${during.phase}, run disabled ${during.run}; "${msgDuring}")`);
    ok(!after.run && after.bar && after.label === '' && after.model && /^cancelled$/.test(msgAfter), 'B4: once reloaded, Run is enabled, the progress bar is gone, the only message is "cancelled"', `("${msgAfter}", label "${after.label}")`);
    delay = 0;
    await p.selectOption('#method', 'relp');
    await runNow(p);
    ok((await messageOf(p)) === '' && (await cells(p, 'est')).length > 0, 'B4: a later successful run clears the message', `("${await messageOf(p)}")`);
    await p.close();
  }
  { // B5: embeds say what went wrong, inside the embed
    const q = new URLSearchParams({ model: NAME, clean: st.clean, corrupt: `${st.corrupt} and more`, answer: st.answer, wrong: st.wrong, method: 'relp', view: 'maps', node: 'mlp', ap: '0', embed: '1' });
    const e1 = await open(`${base}#${q}`);
    const m1 = await e1.evaluate(() => document.querySelector('#messages').innerText);
    ok(/cannot be drawn/.test(m1) && /same number of tokens/.test(m1) && await e1.isVisible('#messages .message'), 'B5: an embed whose state does not fit its model says why, inside the embed', `("${m1.slice(0, 120)}")`);
    await e1.close();
    const e2 = await open(`${base}#url=${encodeURIComponent(`${base2}nothing-here/`)}&clean=${encodeURIComponent(st.clean)}&corrupt=${encodeURIComponent(st.corrupt)}&answer=%20Mary&wrong=%20John&method=relp&view=maps&node=mlp&ap=0&embed=1`);
    const m2 = await e2.evaluate(() => document.querySelector('#messages').innerText);
    ok(/HTTP 404/.test(m2) && (await e2.$$('#view svg')).length === 0, 'B5: an embed whose model URL fails shows the error and no map of another model', `("${m2.slice(0, 120)}")`);
    await e2.close();
  }
  { // B6: degenerate inputs are refused with a message; nothing runs
    const p = await open(base);
    const key = await p.evaluate(() => window.relp.store.key);
    for (const [label, inp, want] of [
      ['both prompts empty', { clean: '', corrupt: '' }, /both prompts are empty/],
      ['answer equal to the wrong token', { answer: st.answer, wrong: st.answer }, /the answer and the wrong token are the same token/],
      ['identical prompts', { clean: st.clean, corrupt: st.clean, answer: st.answer, wrong: st.wrong }, /the same tokens: there is nothing to patch/],
    ]) {
      await setInputs(p, { clean: st.clean, corrupt: st.corrupt, answer: st.answer, wrong: st.wrong, ...inp });
      const live = await p.textContent('#token-warning'), disabled = await p.isDisabled('#run');
      await p.evaluate(() => window.relp.run()); // Run is disabled; the page's run() refuses them too
      await idle(p);
      const msg = await messageOf(p);
      const k2 = await p.evaluate(() => window.relp.store.key);
      ok(disabled && want.test(live) && want.test(msg) && /not run/.test(msg) && k2 === key && !/NaN/.test(await p.textContent('#view')), `B6: ${label} is refused with a message (Run disabled), nothing runs`, `("${msg.slice(0, 110)}")`);
    }
    await p.close();
  }
  { // B7: a missing leading space is pointed out, and visible
    const p = await open(base);
    await setInputs(p, { answer: st.answer.trim() });
    const hint = await p.textContent('#space-hint');
    const chip = await p.textContent('#answer-tokens');
    ok(await p.isVisible('#space-hint') && hint.includes(JSON.stringify(st.answer)) && !chip.includes('\u2423'), 'B7: an answer without its leading space is pointed out', `("${hint.slice(0, 100)}"; token chips "${chip}")`);
    await p.click('#space-hint button.fix');
    await checkedFor(p);
    ok(await p.inputValue('#answer') === st.answer && (await p.textContent('#answer-tokens')).startsWith('\u2423') && await p.isHidden('#space-hint'), 'B7: one click puts the space back, and the token shows it', `("${await p.textContent('#answer-tokens')}")`);
    await p.close();
  }
  { // B8: messages go with their cause; the hover readout is readable and belongs to its view
    const p = await open(base);
    await setInputs(p, { corrupt: `${st.corrupt} too` });
    await p.evaluate(() => window.relp.run()); // Run is disabled for these inputs
    await idle(p);
    const err = await messageOf(p);
    await setInputs(p, { corrupt: st.corrupt });
    const gone = await messageOf(p);
    ok(/same number of tokens/.test(err) && gone === '', 'B8: an error goes once its cause is fixed', `("${err.slice(0, 60)}" -> "${gone}")`);
    await p.hover('#view .cell[data-kind="est"][data-r="1"][data-c="3"]');
    const ro = await p.textContent('#readout');
    await view(p, 'heads');
    const ro2 = await p.textContent('#readout');
    ok(/^layer 1, position 3 ".*": RelP -?[\d.e-]+, AP -?[\d.e-]+$/.test(ro) && !/\d\.\d{5,}/.test(ro) && ro2 === '', 'B8: the hover readout is rounded, names the cell, and is cleared with the view', `("${ro}" -> "${ro2}")`);
    await p.close();
  }
  { // B9: layout
    const p = await open(base);
    await view(p, 'heads');
    const g = await p.evaluate(() => {
      const svg = document.querySelector('#view svg'), w = Number(svg.getAttribute('width'));
      const t = [...svg.querySelectorAll('.panel-title')].map((e) => e.getBBox());
      const right = Math.max(...[...svg.querySelectorAll('text')].map((e) => { const b = e.getBBox(); return b.x + b.width; }));
      return { overlap: t.length === 2 && t[0].x + t[0].width > t[1].x, right, w, n: t.length };
    });
    ok(g.n === 2 && !g.overlap && g.right <= g.w, 'B9: heads view: the two titles do not overlap and no text is cut off', `(rightmost text at ${g.right.toFixed(0)} of ${g.w})`);
    await view(p, 'tokens');
    const contrast = await p.evaluate(() => [...document.querySelectorAll('#view .cell[data-kind="token"]')].map((c) => {
      const lum = (hex) => { const n = parseInt(hex.slice(1), 16); const ch = [n >> 16, (n >> 8) & 255, n & 255].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]; };
      const a = lum(c.getAttribute('fill')), b = lum(c.nextElementSibling.getAttribute('fill'));
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }));
    ok(contrast.length > 0 && Math.min(...contrast) >= 4.5, 'B9: token heatmap text has WCAG AA contrast (4.5:1) on every cell', `(lowest contrast ${Math.min(...contrast).toFixed(2)})`);
    const steps = [];
    for (const m of ['relp', 'atp', 'ig', 'ig-input']) { await p.selectOption('#method', m); steps.push(await p.isDisabled('#steps')); }
    ok(steps.join() === 'true,true,false,false', 'B9: IG steps is enabled only for the IG methods', `(${steps})`);
    const menu = []; // the closed menu shows each method whole (its label once ran past the panel at 1400 px), with what it computes below
    for (const m of await p.$$eval('#method option', (os) => os.map((o) => o.value))) {
      await p.selectOption('#method', m);
      menu.push(await p.evaluate(() => {
        const sel = document.getElementById('method'), cs = getComputedStyle(sel), ctx = document.createElement('canvas').getContext('2d');
        ctx.font = `${cs.fontSize} ${cs.fontFamily}`;
        const label = sel.selectedOptions[0].textContent;
        return { m: sel.value, label, fits: ctx.measureText(label).width <= sel.clientWidth - 24, about: document.getElementById('method-about').textContent };
      }));
    }
    const badMenu = menu.filter((x) => !x.fits || !x.about.startsWith(`${x.label}: `) || x.about.length <= x.label.length + 2 ||
      (/^relp|^attnlrp/.test(x.m) && !/rule/.test(x.about)));
    ok(menu.length >= 6 && !badMenu.length, 'B9: the method menu shows every method whole, and the line under it says what the chosen one computes',
      `(${(badMenu.length ? badMenu : menu.slice(0, 2)).map((x) => `${x.m}: "${x.label}" fits ${x.fits}; "${x.about}"`).join(' | ')})`);
    await p.selectOption('#method', 'relp');
    await p.check('#f16');
    await idle(p);
    const f16 = await p.textContent('#model-info');
    ok(/\(f16\)/.test(f16) && (await p.evaluate(() => window.relp.model.f16)), 'B9: ticking f16 reloads the model with f16 weights at once', `(${f16.slice(0, 90)})`);
    ok(/f16 weights take half the memory but run RelP and AP about 2x slower than f32/.test(f16), 'B9: with f16 weights the page says they run slower than f32');
    await p.close();
  }

  // ---------------------------------------------------------- 5. science
  { // the model gets the prompt wrong: said in the page, the exported figure and the embed
    const p = await open(base);
    await setInputs(p, { answer: st.wrong, wrong: st.answer });
    await runNow(p);
    const sci = await p.textContent('#science');
    const svg = await svgDoc(p, fs.readFileSync(await download(p, '#export-svg'), 'utf8'));
    const emb2 = await open(/src="([^"]+)"/.exec((await p.evaluate(() => window.relp.embedSnippets())).iframe)[1]);
    const embSvg = await svgDoc(p, await emb2.evaluate(() => window.relp.svgString()));
    await emb2.close();
    ok(/does not predict the answer/.test(sci) && /does not predict the answer/.test(svg.warnings) && /does not predict the answer/.test(embSvg.warnings),
       'a prompt the model gets wrong is said so in the page, the exported figure and the embed', `("${sci.slice(0, 100)}")`);
    // a gap too small to normalise by: a pair whose corruption barely matters, found with the CLI
    let pair = null;
    for (const w of [' park', ' store', ' house', ' beach', ' school']) {
      const x = st.clean.replace(' shops', w);
      const j = native(['attribute', '--model', dir, '--clean', st.clean, '--corrupt', x, '--answer', st.answer, '--wrong', st.wrong, '--method', 'atp', '--node', 'resid', '--json', '-']);
      const gap = j.metric_clean - j.metric_corrupt;
      if (j.tokens.length === 15 && Math.abs(gap) > 1e-3 && Math.abs(gap) < SPEC.minGap) { pair = gap > 0 ? [st.clean, x] : [x, st.clean]; break; }
    }
    ok(!!pair, 'a pair with a small gap exists for the test', pair ? `(${pair[1].slice(30)})` : '');
    if (pair) {
      await setInputs(p, { clean: pair[0], corrupt: pair[1], answer: st.answer, wrong: st.wrong });
      await runNow(p);
      const sci2 = await p.textContent('#science');
      const svg2 = await svgDoc(p, await p.evaluate(() => window.relp.svgString()));
      ok(/too small to normalise by/.test(sci2) && /too small to normalise by/.test(svg2.warnings), 'a clean - corrupted gap too small to normalise by is said so in the page and the figure', `("${sci2.slice(0, 120)}")`);
    }
    await p.close();
  }

  // ---------------------------------------------------------- 6. views for circuits
  {
    const p = await open(base);
    await view(p, 'attention');
    const a = await p.evaluate(() => {
      const at = window.relp.store.attention, { L, NH, T } = at;
      let causal = 0, rows = 0, worst = 0;
      for (const which of ['clean', 'corrupt'])
        for (let k = 0; k < L * NH; k++)
          for (let i = 0; i < T; i++) {
            let s = 0;
            for (let j = 0; j < T; j++) { const v = at[which][(k * T + i) * T + j]; if (j > i && v !== 0) causal++; s += v; }
            rows++; worst = Math.max(worst, Math.abs(s - 1));
          }
      return { L, NH, minis: document.querySelectorAll('#view g.mini').length, causal, rows, worst };
    });
    ok(a.minis === 2 * a.L * a.NH && a.causal === 0 && a.worst < 1e-4, 'every head\'s attention pattern in one grid, clean and corrupted: causal, rows sum to 1',
       `(${a.minis} patterns, ${a.rows} rows, max |row sum - 1| ${a.worst.toExponential(1)})`);
    const lastL = a.L - 1, lastH = a.NH - 1;
    await p.hover(`#view g.mini[data-layer="${lastL}"][data-head="${lastH}"][data-which="clean"] rect`, { force: true });
    const title = (await p.textContent('#view g.focus .panel-title')).replace(/\u00a0/g, ' ');
    await p.hover('#view g.focus .cell[data-kind="focus-clean"][data-r="5"][data-c="2"]');
    const mark = await p.$$('#view g.focus .row-mark');
    ok(title === `layer ${lastL} head ${lastH}, clean` && mark.length === 2 && /query 5 ".*" attends to key 2/.test(await p.textContent('#readout')),
       'hovering a head focuses it, hovering a row marks it', `("${title}"; "${await p.textContent('#readout')}")`);
    // two methods side by side, and switching back shows the earlier result without a run
    await p.selectOption('#method', 'atp');
    await runNow(p);
    const atpSvg = await p.evaluate(() => window.relp.svgString());
    await p.selectOption('#method', 'relp');
    const back = await p.evaluate(() => ({ phase: window.relp.phase, methods: Object.keys(window.relp.store.est), svg: window.relp.svgString() }));
    ok(back.phase === 'idle' && back.methods.includes('atp') && back.methods.includes('relp') && back.svg !== atpSvg && /RelP/.test(back.svg),
       'switching the method shows the earlier result at once, without a run', `(methods kept: ${back.methods.join(', ')})`);
    await view(p, 'table');
    const t1 = await p.evaluate(() => ({ heads: [...document.querySelectorAll('table.nodes thead button')].map((b) => b.dataset.sort), rows: document.querySelectorAll('table.nodes tbody tr').length }));
    await p.click('table.nodes button[data-sort="atp"]');
    const t2 = await p.evaluate(() => {
      const rows = [...document.querySelectorAll('table.nodes tbody tr')];
      const atpCol = [...document.querySelectorAll('table.nodes thead tr:first-child th')].findIndex((th) => th.querySelector('[data-sort="atp"]'));
      const vals = rows.map((r) => Math.abs(Number(r.querySelector('td.v[data-m="atp"]').dataset.v)));
      return { vals, atpCol, sort: window.relp.state.sort };
    });
    const sorted = t2.vals.every((v, i) => i === 0 || v <= t2.vals[i - 1] + 1e-12);
    const allAtp = (await p.evaluate(() => { const s = window.relp.store; return ['resid', 'attn', 'mlp', 'head'].flatMap((n) => Array.from(s.est.atp.est[n])).map(Math.abs).sort((x, y) => y - x); }));
    ok(t1.heads.join() === 'ap,relp,atp' && t1.rows === 30 && t2.sort === 'atp' && sorted && Math.abs(t2.vals[0] - allAtp[0]) < 1e-9,
       'the node table shows RelP, AtP and AP side by side and sorts by a column', `(columns ${t1.heads.join(', ')}; top |AtP| ${t2.vals[0].toFixed(4)})`);
    await p.close();
  }

  // ---------------------------------------------------------- 7. layout, keyboard, screenshots of every view
  const VIEWS = ['maps', 'heads', 'positions', 'attention', 'tokens', 'scatter', 'table'];
  for (const width of [1400, 390]) {
    const ctx = await browser.newContext({ viewport: { width, height: width > 800 ? 1000 : 844 }, deviceScaleFactor: 1 });
    const p = await open(base, ctx);
    const sideways = [];
    for (const v of VIEWS) {
      await view(p, v);
      const s = await p.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
      if (s.sw > s.iw) sideways.push(`${v} ${s.sw}`);
      await p.screenshot({ path: path.join(outDir, 'views', `${v}-${width}.png`), fullPage: true });
    }
    ok(sideways.length === 0, `at ${width} px no view makes the page scroll sideways (only the figure's box may)`, sideways.join(', '));
    if (width === 390) {
      await view(p, 'maps');
      await p.click('#embed');
      await p.screenshot({ path: path.join(outDir, 'views', 'embed-dialog-390.png') });
      await p.click('#close-embed');
    }
    await ctx.close();
  }
  { // keyboard: the controls are reachable and usable without a mouse
    const p = await open(base);
    await p.focus('#clean');
    const order = [];
    for (let i = 0; i < 20; i++) { await p.keyboard.press('Tab'); order.push(await p.evaluate(() => document.activeElement.id || document.activeElement.dataset.view || document.activeElement.tagName)); }
    ok(['corrupt', 'answer', 'wrong', 'method', 'run'].every((id) => order.includes(id)), 'Tab reaches the prompts, the method and Run', `(${order.join(' ')})`);
    await p.focus('#run');
    await p.keyboard.press('Enter');
    await idle(p);
    await p.focus('#view');
    for (const k of ['ArrowRight', 'ArrowRight', 'ArrowDown']) await p.keyboard.press(k); // the first press puts the cursor on (0, 0)
    ok(/^layer 1, position 1 /.test(await p.textContent('#readout')), 'arrow keys move over the cells of the figure with a readout', `("${await p.textContent('#readout')}")`);
    await p.close();
  }

  // ---------------------------------------------------------- 8. bad input in the page
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
  const huge = mk('huge', { 'config.json': Buffer.from(JSON.stringify({ n_layer: 96, n_embd: 2048, n_head: 16, vocab_size: 50257, n_positions: 1024 })), 'model.safetensors': Buffer.alloc(16) });
  for (const [label, url, pattern] of [
    ['a truncated model.safetensors', truncated, /model\.safetensors/],
    ['a URL that fails (404)', `${base2}nothing-here/`, /config\.json: HTTP 404/],
    ['a URL that is not a checkpoint', notCkpt, /config\.json: not JSON/],
    ['a model too large for the tab', huge, /GB in the tab/],
  ]) {
    await page.fill('#url', url);
    await page.click('#load-url');
    await idle(page);
    const msg = await messageOf(page);
    ok(pattern.test(msg) && new RegExp(`still using ${NAME}`).test(msg), `page: ${label} gives a readable message and keeps the model`, `("${msg.slice(0, 140)}")`);
  }
  if (other) { // from disk: the files of a checkpoint, then the same without its tokenizer
    const two = path.join(modelsDir, other);
    await page.setInputFiles('#files', ['config.json', 'model.safetensors'].map((n) => path.join(two, n)));
    await idle(page);
    const noTok = await messageOf(page);
    ok(/no tokenizer/.test(noTok) && new RegExp(`still using ${NAME}`).test(noTok), 'page: files without a tokenizer are refused, the model stays', `("${noTok.slice(0, 140)}")`);
    const layers = JSON.parse(fs.readFileSync(path.join(two, 'config.json'), 'utf8')).n_layer;
    await page.setInputFiles('#files', ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt'].map((n) => path.join(two, n)));
    await idle(page);
    ok(new RegExp(`${layers} layers`).test(await page.textContent('#model-info')), 'page: a checkpoint opened from disk (files) loads', `(${await page.textContent('#model-info')})`);
  }
  await page.setInputFiles('#folder', dir);
  await idle(page);
  ok(new RegExp(`^${NAME}:`).test(await page.textContent('#model-info')), 'page: a checkpoint folder opened from disk loads', `(${await page.textContent('#model-info')})`);
  await page.fill('#corrupt', `${st.corrupt} and`);
  await checkedFor(page);
  ok(/same number of tokens/.test(await page.textContent('#token-warning')), 'page: prompts of different lengths are flagged as you type');
  await page.fill('#corrupt', st.corrupt);
  await checkedFor(page);
  await runNow(page);
  ok((await cells(page, 'est')).length > 0 && (await messageOf(page)) === '', 'page: still runs after the errors');
  await page.close();
  const damaged = await open(`${base}#model=gpt-7&clean=${'x'.repeat(5000)}&method=shap&view=maps&node=mlp&ap=2&layer=-1`);
  const dmsg = await messageOf(damaged);
  ok(/damaged/.test(dmsg) && /method=/.test(dmsg) && (await cells(damaged, 'est')).length > 0, 'page: a damaged link state shows what was wrong and opens with defaults', `("${dmsg.slice(0, 160)}")`);
  await damaged.close();
  const badUrl = await open(`${base}#url=${encodeURIComponent(`${base2}nothing-here/`)}&method=relp&view=maps&node=mlp&ap=0`);
  const bmsg = await messageOf(badUrl);
  ok(/HTTP 404/.test(bmsg) && new RegExp(`bundled ${NAME} instead`).test(bmsg), 'page: a link to a model that fails falls back to the bundled default', `("${bmsg.slice(0, 160)}")`);
  await badUrl.close();

  // ---------------------------------------------------------- 11. circuits
  // The circuit views on the bundled model with its SAEs, against the CLI on the same prompts (relp ioi --dataset
  // wang --n 200 --seed 1, --limit 64: the page's "IOI" data): the feature circuit and its faithfulness at two sizes
  // (the slider), the 3-method faithfulness curves (15 sizes), the edge circuit and its EAP-IG graph JSON (schema
  // checked by tests/reference_circuits.py), the feature graph's attribution-graph JSON (circuit-tracer's schema);
  // no picture goes stale when the method, node set, data, size or prompts change; exports and embeds; a pinned
  // node's card and AP; screenshots at 1400 and 390 px. Then a random checkpoint draws both views.
  {
    const t0 = Date.now();
    const wang = path.join(outDir, 'wang200.jsonl');
    execFileSync(relpBin, ['ioi', '--dataset', 'wang', '--n', '200', '--seed', '1', '--prompts-out', wang, '--prompts-only']);
    const cli = (args) => native([...args, '--model', dir, '--prompts', wang, '--limit', '64', '--threads', '2', '--json', '-']);
    const C = (p) => p.evaluate(() => window.relp.circuits.shown.circuit && (({ set, method, at, top, candidates, mFull, mEmpty, wall, T }) =>
      ({ set, method, at: { size: at.size, faithfulness: at.faithfulness, completeness: at.completeness, kept: at.kept }, top: top ? top.slice(0, 40) : [], candidates, mFull, mEmpty, wall, T }))(window.relp.circuits.shown.circuit));
    const link = (extra) => `${base}#${new URLSearchParams({ model: NAME, clean: st.clean, corrupt: st.corrupt, answer: st.answer, wrong: st.wrong, method: 'relp', ap: '0', view: 'circuit', nodes: 'features', data: 'ioi', ...extra })}`;
    const cp = await open(link({ size: '5000' }));
    const saeInfo = await cp.textContent('#sae-info');
    ok(/^13 SAEs from ioi-4l\/saes/.test(saeInfo), 'the bundled model\'s SAEs load with it (models.json "saes")', `("${saeInfo.slice(0, 70)}")`);
    const c1 = await C(cp);
    const nf = cli(['faithfulness', '--methods', 'relp', '--nodes', '50,5000']);
    const nfeat = cli(['features', '--method', 'relp', '--top', '40']);
    const same = (a, b, tol) => Math.abs(a - b) <= tol;
    ok(c1 && c1.candidates === nf.candidates && c1.at.size === 5000 && same(c1.at.faithfulness, nf.curves.relp[1].faithfulness, 2e-3) &&
       same(c1.at.completeness, nf.curves.relp[1].completeness, 2e-3) && same(c1.mFull, nf.m_full, 1e-4) && same(c1.mEmpty, nf.m_empty, 1e-4),
       'the feature circuit of 5000 nodes: F and completeness == relp faithfulness --nodes 5000', `(page F ${c1 && c1.at.faithfulness.toFixed(4)}, CLI ${nf.curves.relp[1].faithfulness.toFixed(4)}; ${c1 && c1.candidates} candidates)`);
    const hooks = await cp.evaluate(() => window.relp.circuits.shown.circuit.hooks.map((h) => h.name));
    const topSame = nfeat.top.every((n, i) => c1.top[i] && hooks[c1.top[i].hook] === n.hook && c1.top[i].position === n.position && c1.top[i].unit === n.feature && same(c1.top[i].score, n.score, 1e-5 * Math.abs(nfeat.top[0].score) + 1e-7));
    ok(topSame && (await cp.$$('#view g.node')).length === 40, 'its 40 largest nodes (drawn) == relp features --top 40 (hook, position, feature, score)', `(${(await cp.$$('#view g.node')).length} nodes drawn)`);
    await cp.evaluate(() => window.relp.circuits.resize(50));
    await cp.waitForFunction(() => window.relp.circuits.shown.circuit.at.size === 50 && window.relp.phase === 'idle');
    const c2 = await C(cp);
    ok(same(c2.at.faithfulness, nf.curves.relp[0].faithfulness, 2e-3) && same(c2.at.completeness, nf.curves.relp[0].completeness, 2e-3) &&
       /F = -?[\d.]+/.test(await cp.textContent('#c-faith')) && new URLSearchParams((await cp.evaluate(() => location.hash)).slice(1)).get('size') === '50',
       'the size slider: the faithfulness at 50 nodes == the CLI, shown live and in the URL', `(page ${c2.at.faithfulness.toFixed(4)} / ${c2.at.completeness.toFixed(4)}, CLI ${nf.curves.relp[0].faithfulness.toFixed(4)} / ${nf.curves.relp[0].completeness.toFixed(4)}; "${await cp.textContent('#c-faith')}")`);
    { // hover and pin: score, AP and card
      await cp.click('#view g.node >> nth=1');
      await idle(cp);
      const ro = await cp.textContent('#readout'), card = await cp.textContent('#card');
      ok(/: RelP -?[\d.e-]+.*; AP -?[\d.e-]+/.test(ro) && /AP \(exact patching\)/.test(card) && (/promotes/.test(card) || /error node/.test(card)) &&
         /pin=\d+%3A\d+%3A-?\d+/.test(await cp.evaluate(() => location.hash)),
         'a clicked node is pinned (URL), with its score, its AP and its card', `("${ro.slice(0, 110)}")`);
      const feat = await cp.evaluate(() => { const r = window.relp.circuits.shown.circuit; return r.top.slice(0, 40).findIndex((n) => n.unit >= 0); });
      await cp.click(`#view g.node[data-i="${feat}"]`);
      await idle(cp);
      const card2 = await cp.textContent('#card');
      ok(/Fires on \d+ of 1024 tokens/.test(card2) && /promotes/.test(card2) && /suppresses/.test(card2), 'a feature\'s card: where it fires over the 64 prompts, what its decoder direction promotes and suppresses',
         `("${card2.replace(/\s+/g, ' ').slice(0, 140)}")`);
    }
    // no picture goes stale: method, node set, data and prompts
    const svgOf = (p) => p.evaluate(() => window.relp.svgString());
    const staleOf = (p) => p.evaluate(() => ({ banner: !document.querySelector('#stale').hidden, dim: document.querySelector('#view').classList.contains('stale') }));
    const before = await svgOf(cp);
    await cp.selectOption('#method', 'atp');
    await cp.waitForFunction(() => window.relp.circuits.shown.circuit.method === 'atp' && window.relp.phase === 'idle', null, { timeout: 60000 });
    const afterM = await svgOf(cp), sm = await staleOf(cp);
    ok(afterM !== before && /AtP/.test(afterM) && !sm.banner, 'changing the method redraws the circuit (AtP), nothing stale');
    await cp.selectOption('#c-nodes', 'components');
    await cp.waitForFunction(() => window.relp.circuits.shown.circuit.set === 'components' && window.relp.phase === 'idle', null, { timeout: 60000 });
    const comp = await C(cp);
    ok(comp.candidates === 192 && /component circuit/.test(await svgOf(cp)) && !(await staleOf(cp)).banner, 'changing the node set redraws it (components), nothing stale', `(${comp.candidates} candidates)`);
    await cp.selectOption('#c-data', 'prompt');
    await cp.waitForFunction(() => window.relp.circuits.shown.circuit.query.data === 'prompt' && window.relp.phase === 'idle', null, { timeout: 60000 });
    const one = await svgOf(cp);
    const nOne = native(['faithfulness', '--model', dir, '--components', '--methods', 'atp', '--nodes', String((await C(cp)).at.size), '--json', '-', '--prompts', (() => { const f = path.join(outDir, 'pair.jsonl'); fs.writeFileSync(f, JSON.stringify({ clean: st.clean, corrupt: st.corrupt, answer: st.answer, wrong: st.wrong }) + '\n'); return f; })()]);
    ok(/one prompt pair/.test(one) && same((await C(cp)).at.faithfulness, nOne.curves.atp[0].faithfulness, 2e-3), 'changing the data to the prompt pair redraws it; F == relp faithfulness on that pair',
       `(page ${(await C(cp)).at.faithfulness.toFixed(4)}, CLI ${nOne.curves.atp[0].faithfulness.toFixed(4)})`);
    await cp.fill('#clean', st.clean.replace('shops', 'park'));
    await cp.fill('#corrupt', st.corrupt.replace('shops', 'park'));
    const sp = await staleOf(cp);
    ok(sp.banner && sp.dim, 'editing the prompt marks the prompt pair\'s circuit out of date');
    await cp.fill('#clean', st.clean);
    await cp.fill('#corrupt', st.corrupt);
    await cp.selectOption('#c-data', 'ioi');
    await idle(cp);
    ok(!(await staleOf(cp)).banner, 'and back: not out of date');
    // edges: the graph JSON == relp edges --json (cfg, nodes, edges), EAP-IG's schema
    await cp.selectOption('#method', 'relp');
    await cp.selectOption('#c-nodes', 'edges');
    await cp.waitForFunction(() => window.relp.circuits.shown.circuit.set === 'edges' && window.relp.circuits.shown.circuit.method === 'relp' && window.relp.phase === 'idle', null, { timeout: 60000 });
    const N = (await C(cp)).at.size;
    const ne = cli(['edges', '--method', 'relp', '--top', String(N), '--evaluate']);
    const gfile = await download(cp, '#export-graph');
    const gj = JSON.parse(fs.readFileSync(gfile, 'utf8'));
    const ek = Object.keys(ne.edges), pk = Object.keys(gj.edges);
    const maxE = Math.max(...ek.map((k) => Math.abs(gj.edges[k].score - ne.edges[k].score)));
    ok(JSON.stringify(gj.cfg) === JSON.stringify(ne.cfg) && JSON.stringify(gj.nodes) === JSON.stringify(ne.nodes) && ek.join() === pk.join() &&
       ek.every((k) => gj.edges[k].in_graph === ne.edges[k].in_graph) && maxE <= 1e-5 && same(gj.faithfulness, ne.faithfulness, 1e-4),
       `the edge circuit (top ${N}): the exported graph JSON == relp edges --top ${N} --evaluate --json (cfg, nodes, edges, in_graph, F)`, `(${pk.length} edges, max |score diff| ${maxE.toExponential(1)}, F ${gj.faithfulness})`);
    const three = path.join(outDir, 'graph-eapig.json');
    fs.writeFileSync(three, JSON.stringify({ cfg: gj.cfg, nodes: gj.nodes, edges: gj.edges }));
    const problems = execFileSync(python, ['-c', `import sys, json; sys.path.insert(0, ${JSON.stringify(here)}); import reference_circuits as RC; print(json.dumps(RC.check_graph_json(sys.argv[1], top=int(sys.argv[2]))))`, three, String(N)], { encoding: 'utf8' });
    ok(JSON.parse(problems).length === 0, 'the exported edge graph passes EAP-IG\'s graph JSON schema check (tests/reference_circuits.py)', problems.trim());
    // the curves: RelP, AtP and IG on 64 IOI prompts, 15 sizes == relp faithfulness (the paper's second experiment)
    await cp.selectOption('#c-nodes', 'features');
    await view(cp, 'curves');
    const cost = await cp.textContent('#c-cost');
    ok(/^Run: RelP, AtP, IG: .*IG: 10 steps at each of 13 hooks.*about \d+ passes of 64 x 16 tokens/.test(cost), 'before it starts, the page says what the curves cost', `("${cost}")`);
    const tc = Date.now();
    await runNow(cp);
    const curves = await cp.evaluate(() => window.relp.circuits.shown.curves);
    const ncur = cli(['faithfulness', '--methods', 'relp,atp,ig', '--nodes', '1,2,5,10,20,50,100,200,500,1000,2000,5000,10000,20000,50000']);
    let dmax = 0;
    for (const m of ['relp', 'atp', 'ig']) ncur.curves[m].forEach((p, i) => { dmax = Math.max(dmax, Math.abs(p.faithfulness - curves.curves[m].faithfulness[i]), Math.abs(p.completeness - curves.curves[m].completeness[i])); if (p.n_nodes !== curves.curves[m].size[i]) dmax = Infinity; });
    const csvg = await svgDoc(cp, await svgOf(cp));
    ok(dmax <= 2e-3 && csvg && (await cp.$$('#view .pt')).length === 2 * 3 * 15 && /RelP \([\d.]+ s\)/.test(csvg.text) && /IG \([\d.]+ s\)/.test(csvg.text),
       'faithfulness curves of RelP, AtP and IG (15 sizes, 64 IOI prompts) == relp faithfulness --json, with each method\'s time in the legend',
       `(max |diff| ${dmax.toExponential(1)}; ${((Date.now() - tc) / 1000).toFixed(1)} s in the page)`);
    ok(csvg && csvg.axis.includes('number of nodes (log scale)') && /model: ioi-4l; nodes: SAE features/.test(csvg.text) && /data: 64 IOI prompts/.test(csvg.text),
       'the curves\' SVG has axis titles, legend and caption (model, nodes, data, metric)');
    for (const w of [1400, 390]) {
      await cp.setViewportSize({ width: w, height: w > 800 ? 1000 : 844 });
      await cp.waitForTimeout(200);
      const sw = await cp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await cp.screenshot({ path: path.join(outDir, 'views', `curves-${w}.png`), fullPage: true });
      await view(cp, 'circuit');
      await cp.waitForTimeout(200);
      const sw2 = await cp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await cp.screenshot({ path: path.join(outDir, 'views', `circuit-${w}.png`), fullPage: true });
      ok(sw <= 0 && sw2 <= 0, `at ${w} px the circuit and curves views do not make the page scroll sideways`);
      await view(cp, 'curves');
    }
    await cp.setViewportSize({ width: 1400, height: 1000 });
    await cp.waitForTimeout(300); // the page fits its figure to the new width
    // exports: SVG and PNG of the curves; the attribution-graph JSON of a feature circuit
    const cs = fs.readFileSync(await download(cp, '#export-svg'), 'utf8');
    const png = fs.readFileSync(await download(cp, '#export-png'));
    ok(cs === await svgOf(cp) && png.readUInt32BE(16) === 2 * csvg.w, 'the curves export as the SVG shown and a PNG at 2x');
    await view(cp, 'circuit');
    await idle(cp);
    await cp.selectOption('#c-nodes', 'features');
    await cp.waitForFunction(() => window.relp.circuits.shown.circuit.set === 'features' && window.relp.phase === 'idle', null, { timeout: 60000 });
    const af = JSON.parse(fs.readFileSync(await download(cp, '#export-graph'), 'utf8'));
    const agErr = attributionGraphProblems(af);
    ok(agErr.length === 0 && af.nodes.filter((n) => n.feature_type === 'cross layer transcoder' || n.feature_type === 'mlp reconstruction error').length === (await C(cp)).at.size &&
       af.links.length === (await C(cp)).at.size, 'a feature circuit exports as circuit-tracer\'s attribution graph JSON (schema: metadata, qParams, nodes, links)', agErr.slice(0, 3).join('; ') || `(${af.nodes.length} nodes, ${af.links.length} links)`);
    // embeds: the live iframe of the circuit view renders the page's SVG; 360 and 1000 px columns; the static one
    const sn = await cp.evaluate(() => window.relp.embedSnippets());
    const circSvg = await svgOf(cp);
    const esrc = /src="([^"]+)"/.exec(sn.iframe)[1];
    ok(/view=circuit/.test(esrc) && /nodes=features/.test(esrc) && /size=\d+/.test(esrc), 'the embed link holds the view, node set, size (and the pin)', `(${esrc.slice(esrc.indexOf('view='), esrc.indexOf('view=') + 80)})`);
    for (const w of [360, 1000]) {
      fs.writeFileSync(path.join(filesDir, 'host-circuit.html'), column(w, sn.element));
      const host = await context.newPage();
      host.on('pageerror', (e) => pageErrors.push(e.message));
      await host.goto(`${base2}host-circuit.html`);
      const frameEl = await host.waitForSelector('relp-view iframe');
      const frame = await frameEl.contentFrame();
      await frame.waitForSelector('body[data-ready="1"]', { timeout: 120000 });
      await frame.waitForFunction(() => window.relp.phase === 'idle' && window.relp.svgString());
      await host.waitForTimeout(400);
      const b = await frameEl.boundingBox();
      const i2 = await frame.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth, svg: window.relp.svgString() }));
      // in a 1000 px column the page's SVG; in a 360 px one the same circuit laid out for the column
      const names = (x) => [...x.matchAll(/data-name='([^']*)'/g)].map((m) => m[1]).join('|');
      ok((w === 1000 ? i2.svg === circSvg : names(i2.svg) === names(circSvg) && names(circSvg).length > 0) && b.width <= w && i2.sw <= i2.cw,
         `the live <relp-view> of the circuit renders the page's ${w === 1000 ? 'SVG' : 'circuit, laid out for the column,'} in a ${w} px column`, `(frame ${b.width.toFixed(0)}x${b.height.toFixed(0)})`);
      await host.screenshot({ path: path.join(outDir, 'views', `embed-circuit-${w}.png`), fullPage: true });
      await host.close();
      fs.writeFileSync(path.join(filesDir, 'static-circuit.html'), column(w, sn.static));
      const hs = await context.newPage();
      hs.on('pageerror', (e) => pageErrors.push(e.message));
      await hs.goto(`${base2}static-circuit.html`);
      await hs.waitForSelector('figure.relp-static .relp-readout');
      await hs.hover('figure.relp-static g.node >> visible=true >> nth=0'); // a narrow column shows the narrow figure
      const sro = await hs.textContent('.relp-readout');
      const sbox = await hs.evaluate(() => Math.max(...[...document.querySelectorAll('figure.relp-static svg')].map((s) => s.getBoundingClientRect().width)));
      const sj = await hs.$eval('script.relp-results', (s) => JSON.parse(s.textContent));
      ok(sbox <= w && /: -?[\d.e-]+$/.test(sro) && sj.view === 'circuit' && sj.graph && sj.graph.nodes, `the static embed of the circuit fits a ${w} px column, with a hover readout and its graph as JSON`, `("${sro}")`);
      await hs.close();
    }
    { // SAEs from a URL (one SAELens folder; the bundled set through its saes.json), and one that fails
      const one = `${base}models/${NAME}/saes/blocks.0.hook_attn_out/`;
      await cp.fill('#sae-url', one);
      await cp.click('#sae-load');
      await idle(cp);
      const i1 = await cp.textContent('#sae-info');
      await cp.fill('#sae-url', `${base2}nothing-here/`);
      await cp.click('#sae-load');
      await idle(cp);
      const m404 = await messageOf(cp), i2 = await cp.textContent('#sae-info');
      await cp.fill('#sae-url', `${base}models/${NAME}/saes/`);
      await cp.click('#sae-load');
      await idle(cp);
      const i3 = await cp.textContent('#sae-info');
      ok(/^1 SAE from .*blocks\.0\.hook_attn_out/.test(i1) && /could not load SAEs from .*nothing-here.*no SAEs found.*still using/.test(m404) && i2 === i1 &&
         /^13 SAEs from /.test(i3), 'SAEs load from a URL (one folder; a folder listing them in saes.json); a failing URL says why and keeps the SAEs',
         `("${i1.slice(0, 50)}"; "${m404.slice(0, 100)}")`);
    }
    await cp.close();
    // a random checkpoint: both views draw (components; the prompt pair), no SAEs needed
    const tiny = path.join(filesDir, 'random-tiny');
    execFileSync(python, [path.join(here, 'write_checkpoint.py'), tiny, '--shape', '2,64,2', '--tokenizer', dir], { stdio: 'inherit' });
    const rp = await open(`${base}#${new URLSearchParams({ url: `${base2}random-tiny/`, clean: st.clean, corrupt: st.corrupt, answer: st.answer, wrong: st.wrong, method: 'relp', ap: '0', view: 'circuit', nodes: 'components', data: 'prompt' })}`);
    await rp.waitForFunction(() => window.relp.circuits.shown.circuit && window.relp.phase === 'idle', null, { timeout: 60000 });
    const rc = await C(rp);
    await view(rp, 'curves');
    await runNow(rp);
    const rcv = await rp.evaluate(() => window.relp.circuits.shown.curves && Object.keys(window.relp.circuits.shown.curves.curves));
    ok(rc && rc.candidates === 2 * (2 + 1) * rc.T && (await rp.$$('#view .pt')).length > 0 && rcv && rcv.join() === 'relp,atp,ig' && /no SAEs loaded/.test(await rp.textContent('#sae-info')),
       'a random checkpoint (2 layers, from a URL): the circuit and the curves draw, neurons and components without SAEs', `(${rc && rc.candidates} candidates)`);
    await rp.close();
    console.log(`circuits section: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }

  // ---------------------------------------------------------- 10. threads
  {
    const pi = await open(base);
    const cores = await pi.evaluate(() => navigator.hardwareConcurrency);
    const most = Math.min(cores, 8);
    const iso = await pi.evaluate(() => ({ isolated: crossOriginIsolated, m: window.relp.model, info: document.querySelector('#model-info').textContent }));
    await pi.close();
    ok(iso.isolated && iso.m.maxThreads === most && /simd128/.test(iso.m.kernels) && iso.info.includes(most > 1 ? `up to ${most} threads` : '1 thread'),
       'served with COOP/COEP the page is cross-origin isolated and runs min(cores, 8) threads', `(${cores} cores; "${iso.info.split(', ').slice(-2).join(', ')}")`);
    const link = (extra) => `#${new URLSearchParams({ model: NAME, clean: st.clean, corrupt: st.corrupt, answer: st.answer, wrong: st.wrong, method: 'relp', ap: '1', view: 'maps', node: 'mlp', ...extra })}`;
    const grab = async (p) => { const v = { est: await cells(p, 'est'), ap: await cells(p, 'ap') }; await view(p, 'heads'); v.head = [...await cells(p, 'est'), ...await cells(p, 'ap')];
      v.info = await p.textContent('#run-info'); v.threads = await p.evaluate(() => window.relp.result.threads); return v; };
    const one = await open(`${base}${link({ threads: '1' })}`);
    const g1 = await grab(one);
    await one.close();
    ok(g1.threads === 1 && /1 thread; activation patching [\d.]+ s, 1 thread/.test(g1.info), 'threads=1 runs on one thread and the page says so', `(${/RelP[^;]*;[^;]*/.exec(g1.info)})`);
    const same = (a, b) => a.est.length > 0 && ['est', 'ap', 'head'].every((k) => a[k].length === b[k].length && a[k].every((v, i) => v === b[k][i]));
    if (most > 1) {
      const two = await open(`${base}${link({ threads: '2' })}`);
      const g2 = await grab(two);
      ok(await two.$eval('#threads', (e) => e.value) === '2' && !(await two.$eval('#threads', (e) => e.disabled)), 'the thread control shows the link\'s count');
      await two.close();
      ok(g2.threads === 2 && /2 threads/.test(g2.info), 'threads=2 runs on two threads and the page says so', `(${/RelP[^;]*/.exec(g2.info)})`);
      ok(same(g1, g2), 'every RelP and AP cell (mlp map, heads) is identical with 1 and 2 threads', `(${g1.est.length + g1.ap.length + g1.head.length} cells)`);
    }
    const [server3, base3P] = serve(webDir, '--no-isolation');
    try {
      const plain = await open(`${await base3P}${link({})}`);
      const pm = await plain.evaluate(() => ({ isolated: crossOriginIsolated, m: window.relp.model, info: document.querySelector('#model-info').textContent, disabled: document.querySelector('#threads').disabled }));
      const gp = await grab(plain);
      await plain.close();
      ok(!pm.isolated && pm.m.maxThreads === 1 && /1 thread \(the page is not cross-origin isolated/.test(pm.info) && pm.disabled,
         'served without COOP/COEP the page runs the one-thread module and says why', `("${pm.info.split(', ').slice(-1)[0]}")`);
      ok(gp.threads === 1 && same(g1, gp), 'and every cell is the same as in the isolated page');
    } finally { server3.kill(); }
  }

  // ---------------------------------------------------------- 9. GPT-2 small shape from a URL
  const big = path.join(filesDir, 'gpt2-small-random');
  execFileSync(python, [path.join(here, 'write_checkpoint.py'), big, '--shape', '12,768,12', '--tokenizer', dir], { stdio: 'inherit' });
  const p2 = await open(`${base}#url=${encodeURIComponent(`${base2}gpt2-small-random/`)}&method=relp&view=maps&node=resid&ap=0` +
                       `&clean=${encodeURIComponent(st.clean)}&corrupt=${encodeURIComponent(st.corrupt)}&answer=${encodeURIComponent(st.answer)}&wrong=${encodeURIComponent(st.wrong)}`);
  const info2 = await p2.textContent('#model-info');
  const res2 = await p2.evaluate(() => ({ T: window.relp.store && window.relp.store.T }));
  ok(/124\.\d M parameters/.test(info2) && res2.T === am.tokens.length, 'GPT-2-small shape loads from a URL and runs RelP', `(${info2})`);
  await runNow(p2); // a second RelP run, timed in the page (the first includes warm-up of the wasm tiers)
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
  console.log(`GPT-2-small shape in Chromium: RelP (4 node types) ${s2.toFixed(2)} s on ${res2.T} tokens; tab peak memory ${(peak / 2 ** 20).toFixed(0)} MiB`);
  fs.writeFileSync(path.join(outDir, 'gpt2-small-browser.json'), JSON.stringify({ relp_seconds: s2, peak_bytes: peak, info: info2 }));
  await p2.screenshot({ path: path.join(outDir, 'gpt2-small.png'), fullPage: true });
  { // the edge graph of a GPT-2-small-shaped checkpoint (RelP, one prompt pair) draws within 2 s
    await view(p2, 'circuit');
    await p2.selectOption('#c-data', 'prompt'); // features without SAEs: nothing runs yet
    const te = Date.now();
    await p2.selectOption('#c-nodes', 'edges');
    await p2.waitForFunction(() => { const r = window.relp.circuits.shown.circuit; return r && r.set === 'edges' && window.relp.phase === 'idle' && document.querySelector('#view g.node'); }, null, { timeout: 60000 });
    const drawn = (Date.now() - te) / 1000;
    const ge = await p2.evaluate(() => { const r = window.relp.circuits.shown.circuit; return { wall: r.wall, seconds: r.seconds, nEdges: r.candidates, kept: r.at.kept }; });
    ok(ge.nEdges === 32491, 'GPT-2 small shape: the edge graph has EAP-IG\'s 32,491 edges', `(${ge.nEdges})`);
    ok(drawn < 2, 'GPT-2 small shape: the edge graph (RelP, one prompt pair) is computed and drawn within 2 s of the click',
       `(${drawn.toFixed(2)} s from the click to the drawn graph: RelP edge scores ${ge.seconds.toFixed(2)} s, the whole request ${ge.wall.toFixed(2)} s; ${ge.kept} edges in the circuit)`);
    fs.writeFileSync(path.join(outDir, 'gpt2-small-edges.json'), JSON.stringify({ relp_edges_seconds: ge.seconds, request_seconds: ge.wall, click_to_drawn: drawn, edges: ge.nEdges }));
    await p2.screenshot({ path: path.join(outDir, 'gpt2-small-edges.png'), fullPage: true });
  }
  { // results as they arrive on a GPT-2-small shape: the run's cost is said first (the threshold lowered: the
    // core's AP skips the positions before the prompts differ, so this run is short), the estimate draws at once,
    // AP fills in by layer, with the time left where it runs long enough to measure a rate
    await view(p2, 'maps');
    await p2.selectOption('#method', 'atp');
    await p2.check('#with-ap');
    await p2.evaluate(() => {
      window.relp.askAbove = 1;
      window.apSeen = []; // every render of the figure while the run goes on: AP's cells done of all, the progress label
      new MutationObserver(() => { const a = [...document.querySelectorAll('#view .cell[data-kind="ap"]')].map((c) => Number(c.dataset.v));
        window.apSeen.push({ t: performance.now(), done: a.filter(Number.isFinite).length, all: a.length, label: document.querySelector('#progress-label').textContent, phase: window.relp.phase });
      }).observe(document.querySelector('#view'), { childList: true, subtree: true });
    });
    await p2.click('#run');
    await p2.waitForSelector('#confirm:not([hidden])', { timeout: 10000 });
    const said = await p2.textContent('#confirm-text');
    const t0 = Date.now();
    await p2.click('#confirm-go');
    await p2.waitForFunction(() => window.relp.store && window.relp.store.est.atp && document.querySelector('#view .cell[data-kind="est"]'), null, { timeout: 20000 });
    const drawnAt = (Date.now() - t0) / 1000;
    await idle(p2);
    const seen = await p2.evaluate(() => { const s = window.apSeen.filter((x) => x.phase === 'running'); return { n: s.length, partial: s.filter((x) => x.done > 0 && x.done < x.all).length,
      left: s.some((x) => /about [\d.]+ (s|min)[^,]* left/.test(x.label)), span: s.length ? (s[s.length - 1].t - s[0].t) / 1000 : 0, labels: [...new Set(s.map((x) => x.label))].slice(-2) }; });
    await p2.screenshot({ path: path.join(outDir, 'gpt2-small-ap.png'), fullPage: true });
    ok(/AtP draws first; activation patching then fills in layer by layer for about [\d.]+ (s|min)/.test(said) && drawnAt < 10 && seen.partial > 0 && (seen.left || seen.span < 2),
       'GPT-2 small shape: the cost is said before the run; AtP draws at once, AP fills in by layer (with the time left once it can be measured)',
       `("${said.slice(0, 90)}"; AtP drawn ${drawnAt.toFixed(1)} s after Go on; ${seen.partial} of ${seen.n} renders with AP part done over ${seen.span.toFixed(1)} s; ${JSON.stringify(seen.labels)})`);
  }
  await p2.close();
  ok(pageErrors.length === 0, 'no uncaught errors in any page', pageErrors.join(' | '));
} catch (e) {
  if (e.message !== 'SKIP') { // RELP_ONLY_PAPER: the rest left out
    failures++;
    console.log(`FAIL ${e.stack || e}`);
  }
} finally {
  await browser.close();
  server.kill();
  server2.kill();
}
console.log(`${checks} checks, ${failures} failed; screenshots in ${outDir} (every view at 1400 and 390 px: ${path.join(outDir, 'views')})`);
process.exit(failures ? 1 : 0);
