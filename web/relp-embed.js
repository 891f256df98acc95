// relp-embed.js - <relp-view state="..."> for pages that prefer a custom
// element to a raw iframe:
//   <script type="module" src="https://HOST/relp/relp-embed.js"></script>
//   <relp-view state="model=ioi-3l&clean=...&method=relp&view=maps&node=mlp&ap=1" width="720" height="420"></relp-view>
// It wraps the page's own embed mode in an iframe next to this script, so the
// picture is computed by the same code as the page, in a worker, and the host
// page needs no special headers.
class RelpView extends HTMLElement {
  static get observedAttributes() { return ['state', 'width', 'height']; }
  connectedCallback() { this.render(); }
  attributeChangedCallback() { if (this.isConnected) this.render(); }
  render() {
    const state = new URLSearchParams(this.getAttribute('state') || '');
    state.set('embed', '1');
    const frame = this.querySelector('iframe') || document.createElement('iframe');
    frame.src = new URL(`index.html#${state.toString()}`, import.meta.url).href;
    frame.width = this.getAttribute('width') || '720';
    frame.height = this.getAttribute('height') || '440';
    frame.style.border = '0';
    frame.loading = 'lazy';
    frame.title = 'relp relevance map';
    if (!frame.isConnected) this.append(frame);
  }
}
if (!customElements.get('relp-view')) customElements.define('relp-view', RelpView);
