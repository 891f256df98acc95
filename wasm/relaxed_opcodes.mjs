// relaxed_opcodes.mjs - gives a linked module the standard opcode of f32x4.relaxed_madd.
//
//   node wasm/relaxed_opcodes.mjs relp_engine_relaxed.wasm
//
// Debian's emscripten 3.1.6 (clang 14, binaryen 108) knows relaxed SIMD only as
// the pre-standard proposal: clang 14's __builtin_wasm_fma_f32x4 emits
// f32x4.fma as 0xfd 0xaf, which binaryen 108 optimises and writes back as it
// is, and which no shipping engine accepts. The standard f32x4.relaxed_madd is
// 0xfd 0x105 with the same operands (a * b + c, fused or not: the engine's
// choice). Both LEB128 sub-opcodes take two bytes (af 01, 85 02), so the
// instructions are rewritten in place and no size or offset changes.
//
// The code section is decoded instruction by instruction, so that only
// opcodes are rewritten, never an immediate or a constant that happens to hold
// those bytes; an instruction it does not know stops it with an error rather
// than a guess. It fails, too, when the module ends up with no relaxed
// instruction at all: the build must not ship a "relaxed" module that is the
// plain one. (A toolchain that already emits 0xfd 0x105, clang 16 and later
// with a binaryen that knows it, leaves nothing to rewrite and passes.)
import fs from 'node:fs';

const PRE_FMA = 0xaf;                      // f32x4.fma of the relaxed-simd prototype (LLVM 14, binaryen 108)
const MADD = 0x105;                        // f32x4.relaxed_madd, standard
const RELAXED_FIRST = 0x100, RELAXED_LAST = 0x113; // the standard relaxed instructions (none has an immediate)

export function renumberRelaxed(bytes) {
  const b = bytes;
  let p = 0;
  const u32 = () => {
    let r = 0, shift = 0, c;
    do {
      c = b[p++];
      r += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return r;
  };
  const skipLeb = () => { while (b[p++] & 0x80); };
  const memarg = () => { skipLeb(); skipLeb(); };
  const fail = (msg) => { throw new Error(`relaxed_opcodes: ${msg} at byte ${p}`); };

  if (b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) fail('not a WebAssembly module');
  p = 8;
  let rewritten = 0, standard = 0;
  while (p < b.length) {
    const id = b[p++];
    const size = u32();
    const end = p + size;
    if (id !== 10) { p = end; continue; } // only the code section holds instructions
    const nfunc = u32();
    for (let f = 0; f < nfunc; f++) {
      const bodySize = u32();
      const bodyEnd = p + bodySize;
      const nlocals = u32();
      for (let i = 0; i < nlocals; i++) { skipLeb(); p++; }
      while (p < bodyEnd) {
        const op = b[p++];
        if (op === 0x02 || op === 0x03 || op === 0x04) skipLeb();                 // block, loop, if: block type
        else if (op === 0x0c || op === 0x0d) skipLeb();                             // br, br_if
        else if (op === 0x0e) { const n = u32(); for (let i = 0; i <= n; i++) skipLeb(); } // br_table
        else if (op === 0x10) skipLeb();                                            // call
        else if (op === 0x11) { skipLeb(); skipLeb(); }                             // call_indirect
        else if (op === 0x1c) { const n = u32(); p += n; }                          // select t*
        else if (op >= 0x20 && op <= 0x26) skipLeb();                               // local.*, global.*, table.get/set
        else if (op >= 0x28 && op <= 0x3e) memarg();                                // loads, stores
        else if (op === 0x3f || op === 0x40) skipLeb();                             // memory.size, memory.grow
        else if (op === 0x41 || op === 0x42) skipLeb();                             // i32.const, i64.const
        else if (op === 0x43) p += 4;                                               // f32.const
        else if (op === 0x44) p += 8;                                               // f64.const
        else if (op === 0xd0) p++;                                                  // ref.null t
        else if (op === 0xd2) skipLeb();                                            // ref.func
        else if (op === 0xfc) {                                                     // saturating truncations, bulk memory, tables
          const s = u32();
          if (s <= 7) { /* no immediate */ }
          else if (s === 8 || s === 10 || s === 12 || s === 14) { skipLeb(); skipLeb(); }
          else if (s === 9 || s === 11 || s === 13 || (s >= 15 && s <= 17)) skipLeb();
          else fail(`unknown instruction 0xfc ${s}`);
        } else if (op === 0xfd) {                                                   // SIMD
          const at = p;
          const s = u32();
          if (s <= 0x0b || s === 0x5c || s === 0x5d) memarg();                      // v128 loads and stores
          else if (s === 0x0c || s === 0x0d) p += 16;                               // v128.const, i8x16.shuffle
          else if (s >= 0x15 && s <= 0x22) p++;                                     // extract_lane, replace_lane
          else if (s >= 0x54 && s <= 0x5b) { memarg(); p++; }                       // load_lane, store_lane
          else if (s === PRE_FMA) {
            if (p - at !== 2) fail('f32x4.fma with a sub-opcode not in two bytes');
            b[at] = 0x80 | (MADD & 0x7f);
            b[at + 1] = MADD >> 7;
            rewritten++;
          } else if (s >= RELAXED_FIRST && s <= RELAXED_LAST) standard++;
          else if (s > 0xff) fail(`unknown SIMD instruction 0xfd ${s}`);
          // else an arithmetic, comparison or conversion instruction without an immediate
        } else if (op === 0xfe) {                                                   // atomics (a threaded build)
          const s = u32();
          if (s === 0x03) p++;                                                      // atomic.fence
          else if (s <= 0x02 || (s >= 0x10 && s <= 0x4e)) memarg();
          else fail(`unknown atomic instruction 0xfe ${s}`);
        } else if ((op >= 0x06 && op <= 0x0a) || (op >= 0x12 && op <= 0x19) || (op >= 0xc5 && op <= 0xcf) || op >= 0xd3)
          fail(`instruction 0x${op.toString(16)} not supported`);                   // exceptions, tail calls, GC
        // else 0x00 unreachable ... 0xd1 ref.is_null: no immediate
      }
      if (p !== bodyEnd) fail(`function ${f} decoded past its end`);
    }
    if (p !== end) fail('code section decoded past its end');
  }
  return { rewritten, standard };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) { console.error('usage: node relaxed_opcodes.mjs MODULE.wasm'); process.exit(2); }
  const bytes = fs.readFileSync(file);
  const { rewritten, standard } = renumberRelaxed(bytes);
  if (rewritten + standard === 0) {
    console.error(`relaxed_opcodes: ${file} has no relaxed SIMD instruction (built without -mrelaxed-simd?)`);
    process.exit(1);
  }
  fs.writeFileSync(file, bytes);
  console.log(`relaxed_opcodes: ${file}: ${rewritten} f32x4.fma renumbered to f32x4.relaxed_madd` +
              (standard ? `, ${standard} already standard` : ''));
}
