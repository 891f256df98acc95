// page/load.js - loading a model into the worker (bundled, from a URL or from disk), the bundled models'
// manifest, and the threads menu.
import { setManifest, MANIFEST } from '../state.js';
import * as circuits from '../circuits.js';
import { page, begin, say, worker, progress, $, cancelled, end } from './shared.js';
import { renderExamples } from './inputs.js';
import { renderStale } from './view.js';

// ---------------------------------------------------------------- model
export function sourceOf(s) {
  return s.url ? { kind: 'url', url: s.url, label: s.url } : { kind: 'bundled', name: s.model, label: s.model };
}
const modelName = () => (page.loaded ? page.loaded.label : '');

export async function loadModel(source, f16) {
  const me = begin('loading');
  say('load', `loading ${source.label} ...`);
  try {
    const r = await worker.request('load', { source, f16 }, (d, t, what) => progress(me, d, t, what || 'downloading'));
    page.loaded = { ...r, source, f16: r.f16, askedF16: f16 };
    const i = r.info;
    $('model-info').textContent = `${r.label}: ${i.nLayer} layers, ${i.nHead} heads, d=${i.nEmbd}, ` +
      `${(i.nParams / 1e6).toFixed(1)} M parameters, ${(i.weightBytes / 2 ** 20).toFixed(0)} MiB of weights ` +
      `(${r.f16 ? (f16 ? 'f16' : 'f16: f32 would not fit well in the tab') : 'f32'}), ${r.kernels}, ${threadsText(r)}` +
      (r.f16 ? '. f16 weights take half the memory but run RelP and AP about 2x slower than f32 (each weight is converted as it is read)' : '');
    renderExamples();
    $('f16').checked = r.f16;
    renderThreads();
    say('load', '');
    say('model', r.warning ? `${source.label}: ${r.warning}` : '', 'warn');
    await circuits.afterModel(me, source); // its SAEs (the bundled model's, or the set loaded before a cancel)
    return true;
  } catch (e) {
    if (cancelled(e)) return false;
    say('load', `could not load ${source.label}: ${e.message}` + (page.loaded ? ` - still using ${page.loaded.label}` : ''), 'error');
    return false;
  } finally {
    end(me);
    renderStale();
  }
}

// ---------------------------------------------------------------- threads
// the module's threads: 1 where the page is not cross-origin isolated (the worker says why)
const threadsText = (r) => (r.maxThreads > 1 ? `up to ${r.maxThreads} threads` : `1 thread (${r.threadNote || 'one-thread module'})`);
export const threadsWanted = () => (page.loaded ? Math.min(page.state.threads || page.loaded.maxThreads, page.loaded.maxThreads) : 1);
export function renderThreads() {
  const el = $('threads'), most = page.loaded ? page.loaded.maxThreads : 1;
  el.replaceChildren(...[0, ...Array.from({ length: most }, (_, i) => i + 1)].map((n) => {
    const o = document.createElement('option');
    o.value = String(n);
    o.textContent = n ? String(n) : `auto (${most})`;
    return o;
  }));
  el.value = String(page.state.threads && page.state.threads <= most ? page.state.threads : 0);
  el.disabled = most <= 1;
  el.title = most > 1 ? 'threads the computation runs on (results are the same for every count)' : (page.loaded ? threadsText(page.loaded) : '');
}

export async function readManifest() {
  try {
    const r = await fetch(new URL('models/models.json', location.href));
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    setManifest(await r.json());
  } catch (e) {
    setManifest(null);
    say('manifest', `the list of bundled models (models/models.json) could not be read (${e.message}); load a model from a URL or from disk`, 'error');
  }
  $('bundled').replaceChildren(...MANIFEST.models.map((m) => {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = m.label || m.name;
    return o;
  }), Object.assign(document.createElement('option'), { value: '', textContent: '- from a URL or disk -' }));
}
