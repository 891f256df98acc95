// render.js - what the page's interaction needs to read its figures. The
// figures themselves (every view, its SVG export, its PNG, the embeds' SVG)
// are drawn in C (core/figure*.c, relp.h FIGURES) through the figure module
// (relp_figure.wasm, wasm/relp.mjs loadFigures); the page's JS only adds
// interaction, driven by the data attributes on the SVG's elements (main.js:
// hover readouts, clicks, keyboard; relp-embed.js: the static embed's
// readout). Here: a value and a token as the readouts and inputs show them.

// a value for people: four significant digits (core/figure.c relp__fig_fmt writes the node table's the same way)
export function fmt(v) {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}
// tokens as shown in the prompt boxes and readouts: spaces visible, newlines and control characters marked
export const showToken = (s) => s.replace(/ /g, '\u2423').replace(/\n/g, '\u21b5').replace(/[\u0000-\u001f]/g, '\ufffd');
