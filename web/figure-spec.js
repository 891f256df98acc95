// figure-spec.js - the one layout spec of relp's figures: sizes, colours,
// titles and wording. web/render.js (the page, its exports and embeds) and
// cli/heatmap.c (relp's --svg and --png) both draw from it; the build turns
// the JSON between the markers into a C header (CMakeLists.txt: figure_spec.h),
// and tests/test_figure_layout.mjs checks that the CLI's figure and the page's
// put the same cells, labels, legend and caption in the same places.
// minGap: below this clean - corrupted gap of the logit difference (logit units) a
// figure warns that the scores, divided by it, are unstable (web/guard.js).
// Keep the part between the markers strict JSON (no comments, no trailing commas).
export const SPEC = /* SPEC-BEGIN */ {
  "font": "DejaVu Sans Mono, Menlo, Consolas, monospace",
  "fontSize": 11.6,
  "titleSize": 12,
  "charW": 7,
  "pad": 12,
  "titleH": 20,
  "axisTitleH": 18,
  "labelGap": 4,
  "panelGap": 28,
  "cellMin": 14,
  "cellMax": 22,
  "gridTarget": 560,
  "headCell": 22,
  "minWidth": 600,
  "legendW": 220,
  "legendBarH": 10,
  "legendGap": 14,
  "captionGap": 12,
  "captionLineH": 15,
  "chipH": 20,
  "chipGap": 3,
  "chipLineH": 26,
  "tokensWidth": 640,
  "minGap": 0.5,
  "colors": {
    "diverging": [[33, 102, 172], [146, 197, 222], [255, 255, 255], [244, 165, 130], [178, 24, 43]],
    "sequential": [[255, 255, 255], [84, 39, 143]],
    "cellStroke": "#e4e4e4",
    "text": "#222222",
    "muted": "#555555",
    "highlight": "#ffe08a",
    "warn": "#a0361c",
    "background": "#ffffff"
  },
  "methods": {
    "relp": "RelP", "relp-cp": "RelP (CP)", "attnlrp": "RelP (AttnLRP)", "atp": "AtP", "ig": "IG (per layer)",
    "ig-input": "IG (input path)", "ap": "AP",
    "grad": "gradient x input"
  },
  "nodes": {
    "resid": "residual stream (resid_pre)", "attn": "attention output", "mlp": "MLP output", "head": "attention heads"
  },
  "axes": {
    "layer": "layer", "position": "position (token)", "head": "head", "layerHead": "layer.head"
  },
  "legends": {
    "share": "colour: share of the logit difference restored (0 = corrupted run, 1 = clean run)",
    "metric": "colour: change of the logit difference (logit units; the clean and corrupted runs are equal)",
    "relevance": "colour: relevance for the logit difference (logit units; red raises it, blue lowers it)",
    "attention": "colour: attention weight (row: query, column: key)"
  }
} /* SPEC-END */;
