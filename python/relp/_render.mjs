// _render.mjs - runs the page's renderer (web/render.js) for relp's Python package:
//   node _render.mjs < request        request: { renderer: PATH, items: [{ res, view }, ...] }
// prints a JSON array with viewSVG(res, view) for each item. The request is a JavaScript
// expression (JSON plus NaN and Infinity, which Python writes for undefined correlations), so the
// views get exactly the numbers the page would.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const text = readFileSync(0, 'utf8');
const req = new Function(`"use strict"; return (${text});`)();
const mod = await import(pathToFileURL(req.renderer).href);
if (typeof mod.viewSVG !== 'function') {
  process.stderr.write(`${req.renderer} exports no viewSVG(res, view) (it exports: ${Object.keys(mod).join(', ')})\n`);
  process.exit(3);
}
const out = req.items.map(({ res, view }) => {
  try {
    return { svg: mod.viewSVG(res, view) };
  } catch (e) {
    return { error: `render.js could not draw view ${JSON.stringify(view)}: ${e.message}` };
  }
});
process.stdout.write(JSON.stringify(out));
