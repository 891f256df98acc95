// relp-embed.js - relp figures in other people's pages. Two kinds:
//
// Live: <relp-view state="model=...&clean=...&method=relp&view=maps&node=mlp&ap=1" max-width="900">
//   wraps the page's own embed mode in an iframe next to this script, so the
//   figure is computed by the same code as the page, in a worker, and the host
//   page needs no special headers. The iframe takes the column's width (up to
//   max-width) and the height its content reports.
//
// Static: <figure class="relp-static"><svg ...>...</svg><script type="application/json"
//   class="relp-results">{...}</script></figure> (the page's Embed dialog writes it)
//   shows the figure with no script at all; with this script it gains a hover
//   readout. It downloads no engine and no weights.
import { fmt } from './render.js';

class RelpView extends HTMLElement {
  static get observedAttributes() { return ['state', 'max-width', 'width', 'height']; }
  connectedCallback() { this.render(); }
  disconnectedCallback() { if (this.onMsg) window.removeEventListener('message', this.onMsg); }
  attributeChangedCallback() { if (this.isConnected) this.render(); }
  render() {
    const state = new URLSearchParams(this.getAttribute('state') || '');
    state.set('embed', '1');
    const frame = this.querySelector('iframe') || document.createElement('iframe');
    frame.src = new URL(`index.html?fit=width#${state.toString()}`, import.meta.url).href;
    const max = Number(this.getAttribute('max-width') || this.getAttribute('width')) || 0;
    Object.assign(frame.style, { display: 'block', width: '100%', maxWidth: max ? `${max}px` : '', border: '0' });
    if (!frame.style.height) frame.style.height = `${Number(this.getAttribute('height')) || 420}px`;
    frame.loading = 'lazy';
    frame.title = 'relp figure';
    this.style.display = 'block';
    if (!this.onMsg) {
      this.onMsg = (ev) => { // the embed reports its content's height
        if (ev.source !== frame.contentWindow || !ev.data || ev.data.relp !== 'size') return;
        const h = Math.ceil(Number(ev.data.height));
        if (h > 0 && h < 20000) frame.style.height = `${h}px`;
      };
      window.addEventListener('message', this.onMsg);
    }
    if (!frame.isConnected) this.append(frame);
  }
}
if (!customElements.get('relp-view')) customElements.define('relp-view', RelpView);

// a static figure's hover readout: the cell's (point's, node's, edge's) own tooltip with its value rounded for reading
function upgrade(fig) {
  if (fig.dataset.relpReady) return;
  fig.dataset.relpReady = '1';
  const out = document.createElement('div');
  out.className = 'relp-readout';
  out.setAttribute('aria-live', 'polite');
  Object.assign(out.style, { font: '12px ui-monospace, monospace', color: '#333', minHeight: '1.4em', margin: '2px 0' });
  out.textContent = 'hover a cell for its value';
  // below the figure (after the narrow version too, where the embed has two: wide and narrow columns)
  const json = fig.querySelector('script.relp-results');
  if (json) json.before(out); else fig.append(out);
  fig.addEventListener('pointerover', (ev) => {
    const c = ev.target.closest && ev.target.closest('.cell, .pt, .node, .edge'); // maps, curves, circuits
    if (!c) return;
    const t = c.querySelector('title');
    const label = t ? t.textContent.replace(/:\s*[-+\d.eE]+$/, '') : '';
    out.textContent = `${label}: ${fmt(Number(c.dataset.v !== undefined ? c.dataset.v : c.dataset.score))}`;
  });
}
const upgradeAll = () => document.querySelectorAll('figure.relp-static').forEach(upgrade);
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', upgradeAll); else upgradeAll();
new MutationObserver(upgradeAll).observe(document.documentElement, { childList: true, subtree: true });
