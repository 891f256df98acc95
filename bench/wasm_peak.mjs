// wasm_peak.mjs - the WebAssembly multiply-add peak of this machine and engine,
// one thread, as bench/machine_limits.c measures the native one: a module
// written here byte by byte whose loop keeps 12 independent vector
// accumulators busy (acc = acc * m + a on 4 lanes: 8 FLOPs per accumulator and
// iteration), with SIMD128's separate f32x4.mul and f32x4.add, and with
// f32x4.relaxed_madd where the engine validates it.
//
//   import { maddPeak } from './wasm_peak.mjs';
//   maddPeak({ relaxed: false }) -> GFLOP/s (null where relaxed SIMD is not supported)
//   node bench/wasm_peak.mjs      prints both
const ACC = 12;
const leb = (n) => { const o = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; o.push(b); } while (n); return o; };
const f32x4 = (v) => { const b = new Uint8Array(16); const d = new DataView(b.buffer); for (let i = 0; i < 4; i++) d.setFloat32(4 * i, v, true); return [0xfd, 0x0c, ...b]; };
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];

function moduleBytes(relaxed) {
  const M = ACC + 1, A = ACC + 2; // locals: 0 the count (param), 1..ACC accumulators, then m and a
  const body = [1, ...leb(ACC + 2), 0x7b]; // (ACC + 2) v128 locals
  for (let i = 0; i < ACC; i++) body.push(...f32x4(1 + i / 64), 0x21, ...leb(1 + i));
  body.push(...f32x4(0.999), 0x21, ...leb(M), ...f32x4(0.001), 0x21, ...leb(A));
  body.push(0x03, 0x40); // loop
  for (let i = 0; i < ACC; i++) {
    if (relaxed) body.push(0x20, ...leb(1 + i), 0x20, ...leb(M), 0x20, ...leb(A), 0xfd, ...leb(0x105)); // relaxed_madd(acc, m, a)
    else body.push(0x20, ...leb(1 + i), 0x20, ...leb(M), 0xfd, ...leb(0xe6), 0x20, ...leb(A), 0xfd, ...leb(0xe4)); // mul, add
    body.push(0x21, ...leb(1 + i));
  }
  body.push(0x20, 0, 0x41, 1, 0x6b, 0x22, 0, 0x0d, 0, 0x0b); // n = n - 1; br_if n != 0; end loop
  body.push(0x20, 1);
  for (let i = 1; i < ACC; i++) body.push(0x20, ...leb(1 + i), 0xfd, ...leb(0xe4));
  body.push(0xfd, 0x1f, 0, 0x0b); // f32x4.extract_lane 0; end
  const code = [1, ...leb(body.length), ...body];
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7d]),          // type: (i32) -> f32
    ...section(3, [1, 0]),                              // one function of type 0
    ...section(7, [1, 4, ...Buffer.from('peak'), 0, 0]), // export "peak"
    ...section(10, code)]);
}

// GFLOP/s: the best of 5 timed calls, after a warm-up that lets V8 optimise the loop
export function maddPeak({ relaxed = false, iterations = 4e7 } = {}) {
  const bytes = moduleBytes(relaxed);
  if (!WebAssembly.validate(bytes)) return null;
  const { peak } = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
  for (let i = 0; i < 3; i++) peak(iterations / 10);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    peak(iterations);
    best = Math.min(best, performance.now() - t);
  }
  return (iterations * ACC * 8) / (best * 1e6);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = maddPeak({ relaxed: true });
  console.log(JSON.stringify({ simd128_gflops: maddPeak(), relaxed_gflops: r }));
}
