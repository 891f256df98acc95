// The npm package's entry (`make npm`; docs: the package's README.md). Everything relp.mjs exports, plus
// loaders that find the package's own files beside this one, in Node and in a browser alike:
//
//   import { openEngine, openFigures, bundledModel } from 'relp';
//   const engine = await openEngine();                    // the relaxed-SIMD module where the host validates it
//   const model = engine.loadModel(await bundledModel()); // models/<default> of models/models.json
//   const r = model.attribute({ clean, corrupt, answer, wrong, method: 'relp', node: 'mlp' });
//   const { svg } = (await openFigures()).draw({ ... });  // relp.h FIGURES
//
// In a page, `<script type="module" src=".../relp/relp-embed.js">` defines <relp-view>, which embeds the
// package's own index.html (the page) in an iframe: serve the package folder as static files.
export * from './relp.mjs';
import { loadEngine, loadFigures, engineName, relaxedSimdSupported, threadsSupported, RelpError } from './relp.mjs';

const here = (file) => new URL(file, import.meta.url);
const inNode = typeof process === 'object' && !!(process.versions && process.versions.node) && typeof window === 'undefined';

async function bytesOf(file) {
  if (inNode) {
    const fs = await import('node:fs');
    try { return new Uint8Array(fs.readFileSync(here(file))); } catch (e) { throw new RelpError(`${here(file).pathname}: ${e.message}`, -2); }
  }
  const res = await fetch(here(file));
  if (!res.ok) throw new RelpError(`${here(file).href}: HTTP ${res.status}`, -2);
  return new Uint8Array(await res.arrayBuffer());
}

// relaxed: undefined picks the relaxed-SIMD module where this host validates it (Chromium 114+, Node 22+);
// threads > 1 needs shared memory (Node, or a cross-origin-isolated page)
export async function openEngine({ relaxed, threads = 1 } = {}) {
  if (relaxed === undefined) relaxed = await relaxedSimdSupported();
  if (threads > 1 && !threadsSupported()) throw new RelpError('threads > 1 need SharedArrayBuffer: a cross-origin-isolated page (COOP/COEP) or Node', -2);
  const name = engineName({ relaxed, threads });
  const wasmBinary = await bytesOf(`${name}.wasm`);
  if (inNode) {
    const { fileURLToPath } = await import('node:url');
    return loadEngine({ gluePath: fileURLToPath(here(`${name}.js`)), wasmBinary, threads });
  }
  return loadEngine({ glueUrl: here(`${name}.js`).href, wasmBinary, threads });
}

export async function openFigures() {
  const wasmBinary = await bytesOf('relp_figure.wasm');
  if (inNode) {
    const { fileURLToPath } = await import('node:url');
    return loadFigures({ gluePath: fileURLToPath(here('relp_figure.js')), wasmBinary });
  }
  return loadFigures({ glueUrl: here('relp_figure.js').href, wasmBinary });
}

// The bundled models (models/models.json): { default, models: [{ name, label, examples, ... }] }
export async function bundledModels() {
  return JSON.parse(new TextDecoder().decode(await bytesOf('models/models.json')));
}

// A bundled model's files as engine.loadModel takes them (name: one of bundledModels().models, or the default)
export async function bundledModel(name) {
  const list = await bundledModels();
  name = name || list.default;
  if (!list.models.some((m) => m.name === name))
    throw new RelpError(`bundled model ${JSON.stringify(name)}: expected one of ${list.models.map((m) => m.name).join(', ')}`, -2);
  const files = [];
  for (const f of ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json']) {
    try { files.push({ name: f, bytes: await bytesOf(`models/${name}/${f}`) }); } catch (e) {
      if (f === 'config.json' || f === 'model.safetensors') throw e; // the tokenizer's files: whichever it has
    }
  }
  return files;
}
