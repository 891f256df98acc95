// loader.js - getting a checkpoint's files into the worker: the bundled
// models, a Hugging Face URL (with an IndexedDB cache, so the second load
// does not download again) or files picked from disk. Runs in the worker.
// Checks the memory a model will need before its weights are downloaded.

export const WASM_LIMIT = 3.75 * 2 ** 30; // 4 GB of wasm32 memory, less room for the heap's own use
export const AUTO_F16 = 2 * 2 ** 30;      // above this with f32 matrices, keep them as f16 (GPT-2 medium)
// the tokenizer's files: tokenizer.json (+ tokenizer_config.json when there), or GPT-2's pairs; a GPT-2
// checkpoint is read with its vocab.json + merges.txt when it has them (as the core prefers), the others with
// tokenizer.json
const TOKENIZER_SETS = [['vocab.json', 'merges.txt'], ['encoder.json', 'vocab.bpe']];
const JSON_TOKENIZER = ['tokenizer.json', 'tokenizer_config.json'];
const isGpt2 = (config) => !config.model_type || config.model_type === 'gpt2';

export class LoadError extends Error {}

// Bytes the tab will hold for this model: the checkpoint's bytes (kept in the
// heap, the loader reads tensors in place) + its weights as the core stores
// them. seen: engine.inspectConfig(config.json) - the core's own count of the
// architecture's parameters and their bytes with f32 and with f16 matrices.
export function estimateBytes(seen, fileBytes, f16) {
  const weights = f16 ? seen.weightBytes : seen.weightBytesF32;
  const file = fileBytes || seen.weightBytesF32;
  const ctx = 64 * 2 ** 20;
  const gb = (b) => (b / 2 ** 30).toFixed(2);
  return { total: file + weights + ctx, params: seen.nParams,
           detail: `${gb(file)} GB checkpoint + ${gb(weights)} GB ${f16 ? 'f16' : 'f32'} weights of ${seen.arch}` };
}

// "https://huggingface.co/gpt2", ".../resolve/main/", ".../resolve/main/model.safetensors" -> base URL ending in /
export function baseUrl(url) {
  let u;
  try { u = new URL(url, self.location.href); } catch { throw new LoadError(`${url}: not a URL`); }
  if (!/^https?:$/.test(u.protocol)) throw new LoadError(`${url}: only http(s) URLs can be loaded`);
  let p = u.pathname;
  if (/\.(json|safetensors|txt|bpe)$/.test(p)) p = p.slice(0, p.lastIndexOf('/') + 1);
  if (u.hostname === 'huggingface.co' && !p.includes('/resolve/')) p = p.replace(/\/?$/, '/resolve/main/');
  if (!p.endsWith('/')) p += '/';
  return u.origin + p;
}

async function fetchBytes(url, label, onProgress, { optional = false, onHeaders = null } = {}) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new LoadError(`${label}: the request failed (${e.message}); check the URL, your connection and that the server allows cross-origin requests`);
  }
  if (!res.ok) {
    if (optional && res.status === 404) return null;
    throw new LoadError(`${label}: HTTP ${res.status} ${res.statusText || ''}`.trim());
  }
  const total = Number(res.headers.get('content-length')) || 0;
  if (onHeaders) onHeaders(total);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.length;
    onProgress(got, total || got);
  }
  const out = new Uint8Array(got);
  let o = 0;
  for (const c of chunks) { out.set(c, o); o += c.length; }
  return out;
}

// config.json as an object (its keys are checked by the core: check() gets the bytes)
function parseConfig(bytes, label) {
  let cfg;
  try { cfg = JSON.parse(new TextDecoder().decode(bytes)); } catch (e) {
    throw new LoadError(`${label}: not JSON (${e.message}); expected a Hugging Face config.json`);
  }
  if (!cfg || typeof cfg !== 'object') throw new LoadError(`${label}: not a JSON object; expected a Hugging Face config.json`);
  return cfg;
}

// ---------------------------------------------------------------- the cache
function openCache() {
  return new Promise((resolve) => {
    if (typeof indexedDB === 'undefined') { resolve(null); return; }
    const req = indexedDB.open('relp-cache', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('checkpoints');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(null); // no cache (private mode): load anyway
  });
}

// Files are stored as Blobs: the browser keeps large ones on disk, where a
// 1.4 GB Uint8Array cannot even be cloned into the store.
async function cacheGet(key) {
  const db = await openCache();
  if (!db) return null;
  const rec = await new Promise((resolve) => {
    try {
      const req = db.transaction('checkpoints').objectStore('checkpoints').get(key);
      req.onsuccess = () => resolve(req.result || null);
      req.onerror = () => resolve(null);
    } catch { resolve(null); }
  });
  if (!rec) return null;
  try {
    return await Promise.all(rec.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.blob.arrayBuffer()) })));
  } catch { return null; } // an evicted or unreadable entry: download again
}

async function cachePut(key, files) {
  const db = await openCache();
  if (!db) return;
  await new Promise((resolve) => {
    try {
      const tx = db.transaction('checkpoints', 'readwrite');
      tx.objectStore('checkpoints').put(files.map((f) => ({ name: f.name, blob: new Blob([f.bytes]) })), key);
      tx.oncomplete = tx.onerror = tx.onabort = () => resolve();
    } catch { resolve(); } // a full disk or quota only loses the cache, never the load
  });
}

// ---------------------------------------------------------------- sources
// onProgress(done, total, what); check(configBytes, weightBytes) throws to
// refuse a model before its weights are downloaded.
export async function fetchModelFiles(source, onProgress, check) {
  if (source.kind === 'files') return readPickedFiles(source.files, onProgress, check);
  const base = source.kind === 'bundled' ? new URL(`models/${source.name}/`, self.location.href).href : baseUrl(source.url);
  if (source.kind === 'url') {
    const cached = await cacheGet(base);
    if (cached) {
      onProgress(1, 1, 'from the browser cache');
      check(cached.find((f) => f.name === 'config.json').bytes,
            cached.filter((f) => f.name.endsWith('.safetensors')).reduce((s, f) => s + f.bytes.length, 0));
      return cached;
    }
  }
  const files = [];
  const step = (what) => (d, t) => onProgress(d, t, what);
  const cfgBytes = await fetchBytes(base + 'config.json', base + 'config.json', step('config.json'));
  const config = parseConfig(cfgBytes, base + 'config.json');
  files.push({ name: 'config.json', bytes: cfgBytes });
  const single = await fetchBytes(base + 'model.safetensors', base + 'model.safetensors', step('model.safetensors'),
                                  { optional: true, onHeaders: (n) => check(cfgBytes, n) });
  if (single) {
    files.push({ name: 'model.safetensors', bytes: single });
  } else {
    const idxBytes = await fetchBytes(base + 'model.safetensors.index.json', base + 'model.safetensors(.index.json)', step('index'), { optional: true });
    if (!idxBytes)
      throw new LoadError(`${base}: neither model.safetensors nor model.safetensors.index.json was found; relp reads safetensors checkpoints (not pytorch_model.bin)`);
    let index;
    try { index = JSON.parse(new TextDecoder().decode(idxBytes)); } catch (e) { throw new LoadError(`${base}model.safetensors.index.json: not JSON (${e.message})`); }
    const shards = [...new Set(Object.values((index && index.weight_map) || {}))];
    if (!shards.length || shards.some((s) => typeof s !== 'string' || s.includes('/')))
      throw new LoadError(`${base}model.safetensors.index.json: no usable "weight_map" of tensor -> shard file`);
    check(cfgBytes, index.metadata && Number(index.metadata.total_size));
    files.push({ name: 'model.safetensors.index.json', bytes: idxBytes });
    for (const s of shards) files.push({ name: s, bytes: await fetchBytes(base + s, base + s, step(s)) });
  }
  let tok = false;
  const fetchJsonTokenizer = async () => {
    const t = await fetchBytes(base + JSON_TOKENIZER[0], base + JSON_TOKENIZER[0], step(JSON_TOKENIZER[0]), { optional: true });
    if (!t) return false;
    files.push({ name: JSON_TOKENIZER[0], bytes: t });
    const c = await fetchBytes(base + JSON_TOKENIZER[1], base + JSON_TOKENIZER[1], step(JSON_TOKENIZER[1]), { optional: true });
    if (c) files.push({ name: JSON_TOKENIZER[1], bytes: c });
    return true;
  };
  if (!isGpt2(config)) tok = await fetchJsonTokenizer();
  for (const set of TOKENIZER_SETS) {
    if (tok) break;
    const a = await fetchBytes(base + set[0], base + set[0], step(set[0]), { optional: true });
    if (!a) continue;
    const b = await fetchBytes(base + set[1], base + set[1], step(set[1]));
    files.push({ name: set[0], bytes: a }, { name: set[1], bytes: b });
    tok = true;
  }
  if (!tok && isGpt2(config)) tok = await fetchJsonTokenizer();
  if (!tok) throw new LoadError(`${base}: no tokenizer files (expected tokenizer.json, or vocab.json + merges.txt, or encoder.json + vocab.bpe)`);
  if (source.kind === 'url') await cachePut(base, files);
  return files;
}

async function readPickedFiles(list, onProgress, check) {
  const byName = new Map();
  for (const f of list) byName.set(f.name, f); // a folder's files come with their own names
  const wanted = ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'vocab.json', 'merges.txt', 'encoder.json',
                  'vocab.bpe', ...JSON_TOKENIZER];
  if (!byName.has('config.json')) throw new LoadError(`the chosen files have no config.json (got: ${[...byName.keys()].join(', ') || 'none'}); pick a checkpoint folder or its files`);
  const cfgBytes = new Uint8Array(await byName.get('config.json').arrayBuffer());
  parseConfig(cfgBytes, 'config.json');
  let names = wanted.filter((n) => byName.has(n));
  if (byName.has('model.safetensors.index.json')) {
    let index;
    try { index = JSON.parse(await byName.get('model.safetensors.index.json').text()); } catch (e) { throw new LoadError(`model.safetensors.index.json: not JSON (${e.message})`); }
    const shards = [...new Set(Object.values((index && index.weight_map) || {}))];
    const missing = shards.filter((s) => !byName.has(s));
    if (missing.length) throw new LoadError(`model.safetensors.index.json lists ${missing.join(', ')}, which were not chosen`);
    names = names.concat(shards);
  } else if (!byName.has('model.safetensors')) {
    throw new LoadError('the chosen files have no model.safetensors (nor an index of shards); relp reads safetensors checkpoints');
  }
  if (!TOKENIZER_SETS.some(([a, b]) => byName.has(a) && byName.has(b)) && !byName.has(JSON_TOKENIZER[0]))
    throw new LoadError('the chosen files have no tokenizer: pick tokenizer.json (or vocab.json + merges.txt, or encoder.json + vocab.bpe) with the checkpoint');
  const weightBytes = names.filter((n) => n.endsWith('.safetensors')).reduce((s, n) => s + byName.get(n).size, 0);
  check(cfgBytes, weightBytes);
  const total = names.reduce((s, n) => s + byName.get(n).size, 0);
  let done = 0;
  const files = [];
  for (const n of names) {
    const bytes = new Uint8Array(await byName.get(n).arrayBuffer());
    done += bytes.length;
    onProgress(done, total, n);
    files.push({ name: n, bytes });
  }
  return files;
}

// ---------------------------------------------------------------- SAEs (SAELens layout)
// A set of SAEs is a folder of SAE folders, each with cfg.json and sae_weights.safetensors (or one such folder).
// Over HTTP a folder cannot be listed, so a set is found as: the URL is one SAE folder (it has cfg.json); or the
// folder lists its SAEs in saes.json ({"saes": [folder names]}, or {"saes": {folder: ...}} as relp's tools/eval_saes.py
// writes it); or, on
// huggingface.co, the Hub's file listing; or several folder URLs separated by spaces or commas. Returns files named
// "<folder>/cfg.json" and "<folder>/sae_weights.safetensors" for relp_saes_init_from_memory.
// check(cfgs [{ d_in, d_sae }], fileBytes) throws to refuse before the weights are downloaded.
const SAE_FILES = ['cfg.json', 'sae_weights.safetensors'];

async function saeFolders(url, onProgress) {
  const parts = String(url).split(/[\s,]+/).filter(Boolean);
  if (parts.length > 1) return parts.map((p) => baseUrl(p));
  const base = baseUrl(url);
  const one = await fetchBytes(base + 'cfg.json', base + 'cfg.json', () => {}, { optional: true });
  if (one) return [base];
  const idx = await fetchBytes(base + 'saes.json', base + 'saes.json', () => {}, { optional: true });
  if (idx) {
    let list;
    try { list = JSON.parse(new TextDecoder().decode(idx)).saes; } catch (e) { throw new LoadError(`${base}saes.json: not JSON (${e.message})`); }
    if (list && typeof list === 'object' && !Array.isArray(list)) list = Object.keys(list); // tools/eval_saes.py: {folder: its evaluation}
    if (!Array.isArray(list) || !list.length || list.some((s) => typeof s !== 'string' || !/^[\w.\-]+$/.test(s)))
      throw new LoadError(`${base}saes.json: expected {"saes": [folder names]} or {"saes": {folder: ...}}`);
    return list.map((s) => `${base}${s}/`);
  }
  const hf = /^https:\/\/huggingface\.co\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.*)$/.exec(base);
  if (hf) { // the Hub lists a folder's files (CORS allowed)
    onProgress(0, 1, 'listing the folder on the Hub');
    const api = `https://huggingface.co/api/models/${hf[1]}/tree/${hf[2]}/${hf[3].replace(/\/$/, '')}`;
    const listing = await fetchBytes(api, api, () => {}, { optional: true });
    let entries = [];
    try { entries = listing ? JSON.parse(new TextDecoder().decode(listing)) : []; } catch { entries = []; }
    const dirs = entries.filter((e) => e && e.type === 'directory').map((e) => `${base}${e.path.split('/').pop()}/`);
    if (dirs.length) return dirs;
  }
  throw new LoadError(`${base}: no SAEs found: expected cfg.json (one SAE folder), saes.json listing its SAE folders, ` +
                      'or several SAE folder URLs separated by spaces (the SAELens layout: cfg.json + sae_weights.safetensors per folder)');
}

function saeConfig(bytes, label) {
  let c;
  try { c = JSON.parse(new TextDecoder().decode(bytes)); } catch (e) { throw new LoadError(`${label}: not JSON (${e.message}); expected an SAE's cfg.json (SAELens)`); }
  if (!c || !(c.d_in > 0) || !(c.d_sae > 0)) throw new LoadError(`${label}: no d_in and d_sae; expected an SAE's cfg.json (SAELens)`);
  return c;
}

export async function fetchSaeFiles(source, onProgress, check) {
  if (source.kind === 'files') return readPickedSaes(source.files, onProgress, check);
  const url = source.kind === 'bundled' ? new URL(`models/${source.model}/${source.folder}/`, self.location.href).href : source.url;
  const key = `saes:${url}`;
  if (source.kind === 'url') {
    const cached = await cacheGet(key);
    if (cached) {
      onProgress(1, 1, 'SAEs from the browser cache');
      check(cached.filter((f) => f.name.endsWith('/cfg.json')).map((f) => saeConfig(f.bytes, f.name)),
            cached.reduce((s, f) => s + f.bytes.length, 0));
      return cached;
    }
  }
  const folders = await saeFolders(url, onProgress);
  const names = folders.map((f, i) => f.replace(/\/$/, '').split('/').pop() || `sae${i}`);
  if (new Set(names).size !== names.length) names.forEach((n, i) => { names[i] = `${i}_${n}`; });
  const cfgs = [];
  for (let i = 0; i < folders.length; i++) {
    const b = await fetchBytes(folders[i] + 'cfg.json', folders[i] + 'cfg.json', (d, t) => onProgress(d, t, `${names[i]}/cfg.json`));
    cfgs.push({ name: `${names[i]}/cfg.json`, bytes: b, cfg: saeConfig(b, folders[i] + 'cfg.json') });
  }
  check(cfgs.map((c) => c.cfg), 0);
  const files = [];
  let done = 0;
  for (let i = 0; i < folders.length; i++) {
    const w = await fetchBytes(folders[i] + SAE_FILES[1], folders[i] + SAE_FILES[1],
                               (d) => onProgress(i + d / (d + 1), folders.length, `SAE ${i + 1} of ${folders.length}: ${names[i]}`));
    done += w.length;
    files.push({ name: cfgs[i].name, bytes: cfgs[i].bytes }, { name: `${names[i]}/${SAE_FILES[1]}`, bytes: w });
  }
  check(cfgs.map((c) => c.cfg), done + cfgs.reduce((s, c) => s + c.bytes.length, 0));
  if (source.kind === 'url') await cachePut(key, files);
  return files;
}

// files picked from disk (a folder of SAE folders, or one): grouped by the folder holding each cfg.json
async function readPickedSaes(list, onProgress, check) {
  const dirOf = (f) => { const p = (f.webkitRelativePath || f.name).split('/'); p.pop(); return p.join('/'); };
  const byDir = new Map();
  for (const f of list) {
    const base = (f.webkitRelativePath || f.name).split('/').pop();
    if (!SAE_FILES.includes(base)) continue;
    const d = dirOf(f);
    if (!byDir.has(d)) byDir.set(d, {});
    byDir.get(d)[base] = f;
  }
  const dirs = [...byDir].filter(([, v]) => v[SAE_FILES[0]] && v[SAE_FILES[1]]);
  if (!dirs.length) throw new LoadError('the chosen files hold no SAE: expected folders with cfg.json and sae_weights.safetensors (the SAELens layout)');
  const cfgs = [];
  for (const [, v] of dirs) cfgs.push(saeConfig(new Uint8Array(await v[SAE_FILES[0]].arrayBuffer()), v[SAE_FILES[0]].name));
  const total = dirs.reduce((s, [, v]) => s + v[SAE_FILES[0]].size + v[SAE_FILES[1]].size, 0);
  check(cfgs, total);
  const files = [];
  let done = 0;
  for (const [d, v] of dirs) {
    const name = d.split('/').pop() || 'sae';
    for (const n of SAE_FILES) {
      const bytes = new Uint8Array(await v[n].arrayBuffer());
      done += bytes.length;
      onProgress(done, total, `${name}/${n}`);
      files.push({ name: `${name}/${n}`, bytes });
    }
  }
  return files;
}

// Bytes the tab holds for a set of SAEs: their files (kept in the heap) + the decoder in f32 + the encoder packed
// in f32 panels (core/sae.c)
export const saeBytes = (cfgs, fileBytes) => fileBytes + cfgs.reduce((s, c) => s + 8 * c.d_in * c.d_sae, 0);
