// fuzz_state.mjs - a mutation fuzzer for the page's URL state (web/state.js),
// which libFuzzer cannot reach (it is JavaScript). For SECONDS, feeds
// parseState random and mutated fragments and checks that it never throws,
// always returns a state every field of which is valid, and that
// encodeState -> parseState gives back the same state without complaints.
// It runs the page as built (build/wasm-release/web: web/state.js beside the
// constants.mjs that the build generates from the C core's name tables).
//   node tests/fuzz/fuzz_state.mjs [SECONDS] [WEB_DIR]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const webDir = path.resolve(process.argv[3] || new URL('../../build/wasm-release/web', import.meta.url).pathname);
if (!fs.existsSync(path.join(webDir, 'constants.mjs'))) {
  console.error(`fuzz_state: ${webDir}/constants.mjs is missing: build the page first (make build-wasm)`);
  process.exit(2);
}
const { parseState, encodeState, setManifest, DEFAULT_STATE, BUNDLED, METHODS, VIEWS, NODE_VIEWS, SORTS, METRICS, FONTS, SETS } =
  await import(pathToFileURL(path.join(webDir, 'state.js')).href);

// the bundled models' manifest, as the page reads it before parsing a link
setManifest(JSON.parse(fs.readFileSync(new URL('../../models-small/models.json', import.meta.url), 'utf8')));

const secs = Number(process.argv[2] || 60);
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
const seeds = [encodeState(DEFAULT_STATE), encodeState({ ...DEFAULT_STATE, url: 'https://huggingface.co/gpt2/resolve/main/', view: 'attention', method: 'ig', steps: 25 }),
  `model=${BUNDLED[BUNDLED.length - 1]}&view=heads`, 'view=table&sort=ap', 'url=javascript:alert(1)', 'clean=%E0%A4%A&ap=2', '#embed=1&layer=99999999',
  encodeState({ ...DEFAULT_STATE, metric: 'logprob', font: 'sans', caption: false, cmax: 0.75, set: 'wang', n: 200, seed: 7, methods: ['atp', 'ig'], batch: 2, view: 'rtable' })];
const alphabet = ['&', '=', '%', '#', '?', '+', '%00', '%ZZ', '%F0%9F%98%80', 'model', 'url', 'clean', 'method', 'view', 'node', 'layer', 'head', 'steps', 'ap', 'f16', 'embed', 'relp', 'ig', 'table', 'sort', 'positions', '0', '1', '-1', '1e3', 'x'.repeat(5000), '\u0000', '\ud800', 'https://a.b/', ' ',
  'metric', 'logprob', 'font', 'sans', 'caption', 'cmax', '0.5', '1.', 'set', 'wang', 'demo', 'jsonl', 'n', 'seed', 'methods', 'relp,atp', 'relp,relp', 'batch', ','];

function check(frag) {
  let out;
  try { out = parseState(frag); } catch (e) { throw new Error(`parseState threw on ${JSON.stringify(frag.slice(0, 200))}: ${e.message}`); }
  const s = out.state;
  const bad = [];
  if (s.url ? !/^https?:\/\//.test(s.url) : !BUNDLED.includes(s.model)) bad.push('model/url');
  if (!METHODS.includes(s.method)) bad.push('method');
  if (!VIEWS.includes(s.view)) bad.push('view');
  if (!NODE_VIEWS.includes(s.node)) bad.push('node');
  if (!SORTS.includes(s.sort)) bad.push('sort');
  for (const k of ['clean', 'corrupt', 'answer', 'wrong']) if (typeof s[k] !== 'string' || s[k].length > 4000) bad.push(k);
  for (const k of ['steps', 'layer', 'head']) if (!Number.isInteger(s[k]) || s[k] < 0 || s[k] > 1000) bad.push(k);
  for (const k of ['ap', 'f16', 'embed', 'caption']) if (typeof s[k] !== 'boolean') bad.push(k);
  if (!METRICS.includes(s.metric)) bad.push('metric');
  if (!FONTS.includes(s.font)) bad.push('font');
  if (!SETS.includes(s.set)) bad.push('set');
  if (!(typeof s.cmax === 'number' && s.cmax >= 0 && s.cmax <= 1000)) bad.push('cmax');
  for (const [k, lo, hi] of [['n', 1, 4096], ['seed', 0, 999999], ['batch', 0, 4096]]) if (!Number.isInteger(s[k]) || s[k] < lo || s[k] > hi) bad.push(k);
  if (!Array.isArray(s.methods) || !s.methods.length || s.methods.some((m, i) => !METHODS.includes(m) || s.methods.indexOf(m) !== i)) bad.push('methods');
  if (!Array.isArray(out.problems) || out.problems.some((p) => typeof p !== 'string')) bad.push('problems');
  if (bad.length) throw new Error(`invalid state (${bad.join(', ')}) from ${JSON.stringify(frag.slice(0, 200))}`);
  const again = parseState(encodeState(s));
  if (again.problems.length || JSON.stringify(again.state) !== JSON.stringify({ ...s, layer: s.view === 'attention' ? s.layer : again.state.layer, head: s.view === 'attention' ? s.head : again.state.head, steps: s.method === 'ig' || s.method === 'ig-input' ? s.steps : again.state.steps, sort: s.view === 'table' ? s.sort : again.state.sort }))
    throw new Error(`round trip changed the state of ${JSON.stringify(frag.slice(0, 200))}: ${again.problems.join('; ')}`);
}

const t0 = Date.now();
let n = 0;
while (Date.now() - t0 < secs * 1000) {
  let f = seeds[rnd(seeds.length)];
  for (let m = rnd(6); m >= 0; m--) {
    const at = rnd(f.length + 1);
    switch (rnd(4)) {
      case 0: f = f.slice(0, at) + alphabet[rnd(alphabet.length)] + f.slice(at); break;
      case 1: f = f.slice(0, at) + f.slice(at + rnd(8)); break;
      case 2: f = f.slice(0, at) + String.fromCharCode(rnd(0x110000) % 0xffff) + f.slice(at); break;
      default: f = f + '&' + alphabet[rnd(alphabet.length)] + '=' + alphabet[rnd(alphabet.length)];
    }
  }
  check(f);
  n++;
}
console.log(`fuzz_state: executions: ${n} in ${secs} s, no failures`);
