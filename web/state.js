// state.js - the page's whole state as a URL fragment, and back.
//   #model=ioi-3l&clean=...&corrupt=...&answer=%20Mary&wrong=%20John&method=relp&view=maps&node=mlp&ap=1
// model is a bundled model's name; url=... a checkpoint URL instead. The
// fragment never reaches a server. parseState never throws: it returns the
// state it could read plus a list of what was wrong, so a damaged link still
// opens the page with a readable message.

export const BUNDLED = ['ioi-3l', 'ioi-2l'];
export const METHODS = ['relp', 'relp-cp', 'attnlrp', 'atp', 'ig', 'ig-input'];
export const VIEWS = ['maps', 'heads', 'tokens', 'scatter', 'attention'];
export const NODE_VIEWS = ['resid', 'attn', 'mlp'];
const MAX_TEXT = 4000; // characters of a prompt carried in a link

export const DEFAULT_STATE = Object.freeze({
  model: 'ioi-3l', url: '', f16: false,
  clean: 'When John and Mary went to the shops, John gave the bag to',
  corrupt: 'When John and Mary went to the shops, Mary gave the bag to',
  answer: ' Mary', wrong: ' John',
  method: 'relp', steps: 10, ap: true, view: 'maps', node: 'mlp', layer: 0, head: 0, embed: false,
});

export function encodeState(s) {
  const p = new URLSearchParams();
  if (s.url) p.set('url', s.url); else p.set('model', s.model);
  if (s.f16) p.set('f16', '1');
  for (const k of ['clean', 'corrupt', 'answer', 'wrong', 'method', 'view', 'node']) p.set(k, s[k]);
  if (s.method === 'ig' || s.method === 'ig-input') p.set('steps', String(s.steps));
  p.set('ap', s.ap ? '1' : '0');
  if (s.view === 'attention') { p.set('layer', String(s.layer)); p.set('head', String(s.head)); }
  if (s.embed) p.set('embed', '1');
  return p.toString();
}

export function parseState(fragment) {
  const s = { ...DEFAULT_STATE };
  const problems = [];
  const f = String(fragment || '').replace(/^#/, '');
  if (!f) return { state: s, problems };
  let p;
  try {
    p = new URLSearchParams(f);
  } catch (e) {
    return { state: s, problems: [`the link's state could not be read (${e.message})`] };
  }
  const text = (k) => {
    if (!p.has(k)) return;
    const v = p.get(k);
    if (v.length > MAX_TEXT) problems.push(`${k} is ${v.length} characters; a link carries at most ${MAX_TEXT}`);
    else s[k] = v;
  };
  const pick = (k, allowed) => {
    if (!p.has(k)) return;
    const v = p.get(k);
    if (allowed.includes(v)) s[k] = v;
    else problems.push(`${k}=${JSON.stringify(v.slice(0, 40))} is not one of ${allowed.join(', ')}`);
  };
  const int = (k, lo, hi) => {
    if (!p.has(k)) return;
    const v = p.get(k);
    if (/^\d{1,6}$/.test(v) && +v >= lo && +v <= hi) s[k] = +v;
    else problems.push(`${k}=${JSON.stringify(v.slice(0, 40))} is not a whole number from ${lo} to ${hi}`);
  };
  const flag = (k) => {
    if (!p.has(k)) return;
    const v = p.get(k);
    if (v === '0' || v === '1') s[k] = v === '1';
    else problems.push(`${k}=${JSON.stringify(v.slice(0, 40))} must be 0 or 1`);
  };
  if (p.has('url')) {
    const u = p.get('url');
    if (/^https?:\/\/[^\s]{1,2000}$/.test(u)) { s.url = u; s.model = ''; } else problems.push(`url=${JSON.stringify(u.slice(0, 60))} is not an http(s) URL`);
  } else {
    pick('model', BUNDLED);
  }
  for (const k of ['clean', 'corrupt', 'answer', 'wrong']) text(k);
  pick('method', METHODS);
  pick('view', VIEWS);
  pick('node', NODE_VIEWS);
  int('steps', 1, 1000);
  int('layer', 0, 1000);
  int('head', 0, 1000);
  flag('ap');
  flag('f16');
  flag('embed');
  return { state: s, problems };
}
