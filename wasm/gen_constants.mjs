// gen_constants.mjs - writes constants.mjs, the names of relp.h's tables
// (methods, node types, rule presets, architectures, random shapes, dtypes)
// as the C core holds them (core/names.c), read through the WebAssembly
// module itself: the page, its worker, its URL state and relp.mjs import
// them instead of keeping copies.
//
//   node wasm/gen_constants.mjs GLUE.js MODULE.wasm OUT/constants.mjs
import fs from 'node:fs';
import { createRequire } from 'node:module';

const [glue, wasm, out] = process.argv.slice(2);
const factory = createRequire(import.meta.url)(glue);
const M = await factory({ wasmBinary: fs.readFileSync(wasm), print: () => {}, printErr: () => {} });
const names = JSON.parse(M.UTF8ToString(M._relpw_names()));
const text = `// constants.mjs - generated at build time from relp's C name tables (core/names.c)
// by wasm/gen_constants.mjs: do not edit.
export const NAMES = ${JSON.stringify(names, null, 2)};
// --method / the page's method names, in the core's order (ap, atp, the RelP presets, ig, ig-input)
export const METHODS = NAMES.methods.map((m) => m.name);
// name -> [enum relp_method, rules preset]
export const METHOD = Object.fromEntries(NAMES.methods.map((m) => [m.name, [m.method, m.rules]]));
export const METHOD_TITLE = Object.fromEntries(NAMES.methods.map((m) => [m.name, m.title]));
// the page's node types (drawn as maps); NAMES.nodes also has the neurons (map: false); name -> enum relp_node
export const NODES = NAMES.nodes.filter((n) => n.map).map((n) => n.name);
export const NODE_ID = Object.fromEntries(NAMES.nodes.map((n) => [n.name, n.node]));
export const NODE_LABEL = Object.fromEntries(NAMES.nodes.map((n) => [n.name, n.label]));
export const PRESETS = NAMES.presets.map((p) => p.name); // rules presets: NAMES.presets has their titles and sources
export const ARCHS = NAMES.archs;     // config.json model_type, indexed by enum relp_arch
export const SHAPES = NAMES.shapes;   // named random shapes
export const DTYPES = NAMES.dtypes;   // indexed by enum relp_dtype
export const NODESETS = NAMES.nodesets; // circuits' node sets, indexed by enum relp_nodeset
// below this clean - corrupted gap of the metric the core warns that the shares are unstable (RELP_MIN_GAP)
export const MIN_GAP = NAMES.minGap;
// the warnings (relp.h WARNINGS), in flag order: flag -> name ("not_predicted", ...), and the metrics by name
export const WARNING_NAME = Object.fromEntries(NAMES.warnings.map((w) => [w.flag, w.name]));
export const METRIC = Object.fromEntries(NAMES.metrics.map((m) => [m.name, m.kind]));
`;
fs.writeFileSync(out, text);
