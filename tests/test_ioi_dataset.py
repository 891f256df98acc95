"""`relp ioi --dataset wang --prompts-out` against the construction it claims:
the ACDC / Redwood IOIDataset(prompt_type="mixed") and its ABC corruption
(gen_flipped_prompts IO, then S, then S1), re-implemented here from the rules
as docs/method.md and docs/reproducing.md state them, not from relp's C code.

Every line must be its template (one of the first 7 BABA templates or their
ABBA forms) with its names, place and object substituted; its corrupted
prompt the ABC version by the word-replacement rules; the answer cut from
both. Over many prompts all 14 templates occur, the order is drawn, not
alternated, and only Wang et al.'s 99 names, 8 places and 8 objects appear.
The demo set's file pairs each prompt with its neighbour. Files are read back
by `relp attribute --prompts`.

    /usr/bin/python3 tests/test_ioi_dataset.py RELP_BIN WORK_DIR
"""
import functools
import json
import os
import sys
from collections import Counter

from testlib import Checks, run

RELP, WORK = sys.argv[1], sys.argv[2]
checks = Checks(limit=800)
check = checks.check
relp = functools.partial(run, RELP, timeout=300)

# Wang et al.'s lists as in ArthurConmy/Automatic-Circuit-Discovery acdc/ioi/ioi_dataset.py (f27ab0c): the one
# Python transcription, tools/ioi_text.py (the bundled models' text is built from it too), not relp's C code
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from ioi_text import WANG as BABA, WANG_NAMES as NAMES, WANG_OBJECTS as OBJECTS, WANG_PLACES as PLACES  # noqa: E402
MIXED = 15 // 2  # "mixed" with nb_templates=None: BABA[:7] + ABBA[:7]


def abba(t):
    """The first clause's two names swapped: the text before the first [A] has its [B] made [A], that [A] made [B]."""
    i = t.index("[A]")
    return t[:i].replace("[B]", "[A]") + "[B]" + t[i + 3:]


def generate(path, *args):
    r = relp("ioi", *args, "--prompts-out", path, "--prompts-only")
    if r.returncode != 0:
        check(f"ioi {' '.join(args)} --prompts-only", False, r.stderr)
        return []
    return [json.loads(line) for line in open(path)]


def expected(p):
    """(template text, clean, corrupted) from the line's draws, by the rules."""
    tpl = BABA[p["template"]] if p["order"] == "BABA" else abba(BABA[p["template"]])
    text = tpl.replace("[PLACE]", p["place"]).replace("[OBJECT]", p["object"])
    text = text.replace("[A]", p["io"]).replace("[B]", p["s"])
    w = text.split(" ")
    # gen_flipped_prompts(("IO", "RAND")): IO's first two occurrences
    for _ in range(2):
        w[w.index(p["io"])] = p["io_new"]
    # ("S", "RAND"): S's first and last occurrences; the new name becomes S
    w[w.index(p["s"])] = p["s_new"]
    w[len(w) - 1 - w[::-1].index(p["s"])] = p["s_new"]
    # ("S1", "RAND"): the first occurrence of the current S
    w[w.index(p["s_new"])] = p["s1_new"]
    clean, last = text.rsplit(" ", 1)
    corrupt, last_corrupt = " ".join(w).rsplit(" ", 1)
    return tpl, clean, corrupt, last, last_corrupt


def main():
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "wang.jsonl")
    ps = generate(path, "--dataset", "wang", "--n", "600", "--seed", "7")
    check("600 prompts written", len(ps) == 600, len(ps))
    bad = []
    for p in ps:
        tpl, clean, corrupt, last, last_corrupt = expected(p)
        ok = (p["dataset"] == "wang" and 0 <= p["template"] < MIXED and p["order"] in ("ABBA", "BABA")
              and p["template_text"] == tpl and p["clean"] == clean and p["corrupt"] == corrupt
              and last == p["io"] and last_corrupt == p["io_new"]
              and p["answer"] == " " + p["io"] and p["wrong"] == " " + p["s"]
              and p["io"] != p["s"] and p["io_new"] not in (p["io"], p["s"])
              and {p["io"], p["s"], p["io_new"], p["s_new"], p["s1_new"]} <= set(NAMES)
              and p["place"] in PLACES and p["object"] in OBJECTS)
        if not ok:
            bad.append((p, tpl, clean, corrupt))
    check("every clean prompt is its mixed-set template filled in, every corrupted one its ABC version",
          not bad, bad[:2])
    # the generic ABC case: IO, S1 and S2 all renamed, S1 and S2 differently (Z and Y)
    generic = [p for p in ps if len({p["io"], p["s"], p["io_new"], p["s_new"], p["s1_new"]}) == 5]
    ok = all(p["corrupt"].split(" ").count(p["io_new"]) == 1 and p["corrupt"].split(" ").count(p["s_new"]) == 1
             and p["corrupt"].split(" ").count(p["s1_new"]) == 1 and p["io"] not in p["corrupt"].split(" ")
             and p["s"] not in p["corrupt"].split(" ") for p in generic)
    check(f"generic case ({len(generic)} prompts): the corrupted prompt names IO -> X, S1 -> Z, S2 -> Y once each",
          ok and len(generic) > 500)
    # the first-clause order of the names in the clean text matches the declared order
    order_ok = all((p["clean"].split(" ").index(p["io"]) < p["clean"].split(" ").index(p["s"])) == (p["order"] == "ABBA")
                   for p in ps)
    check("ABBA prompts name IO first, BABA prompts S first", order_ok)
    combos = Counter((p["template"], p["order"]) for p in ps)
    check("all 14 templates of the mixed set occur (7 BABA + 7 ABBA), no other", len(combos) == 14
          and set(combos) == {(t, o) for t in range(MIXED) for o in ("ABBA", "BABA")}, sorted(combos))
    check("each of the 14 is drawn about uniformly (600 prompts: 20..70 each)",
          min(combos.values()) >= 20 and max(combos.values()) <= 70, sorted(combos.items()))
    orders = [p["order"] for p in ps]
    alternating = all(orders[i] != orders[i + 1] for i in range(len(orders) - 1))
    repeats = sum(orders[i] == orders[i + 1] for i in range(len(orders) - 1))
    check("the order is drawn, not alternated (about half of neighbours repeat)",
          not alternating and 200 <= repeats <= 400, repeats)
    check("ABBA about half (600 prompts: 240..360)", 240 <= orders.count("ABBA") <= 360, orders.count("ABBA"))
    names = Counter(n for p in ps for n in (p["io"], p["s"]))
    check("names come from all of Wang's 99 (at least 95 seen in 1,200 draws)", len(names) >= 95, len(names))
    again = generate(os.path.join(WORK, "again.jsonl"), "--dataset", "wang", "--n", "600", "--seed", "7")
    other = generate(os.path.join(WORK, "other.jsonl"), "--dataset", "wang", "--n", "600", "--seed", "8")
    check("same seed, same prompts; another seed, other prompts", again == ps and other != ps and len(other) == 600)

    demo = generate(os.path.join(WORK, "demo.jsonl"), "--dataset", "demo")
    check("demo: 8 prompts, each corrupted by its neighbour",
          len(demo) == 8 and all(d["corrupt"] == demo[i ^ 1]["clean"] for i, d in enumerate(demo))
          and all(d["template"] == -1 and d["io_new"] is None for d in demo))

    # read back by `relp attribute --prompts` (the bundled default model): the demo file, and the wang
    # prompts of one template and order (a --prompts file holds prompts of one token length)
    r = relp("attribute", "--prompts", os.path.join(WORK, "demo.jsonl"), "--method", "relp", "--node", "mlp", "--json", "-")
    check("attribute --prompts reads the demo file", r.returncode == 0 and json.loads(r.stdout)["prompts"] == 8,
          r.stderr[-400:])
    one = [p for p in ps if p["template"] == 4 and p["order"] == "BABA"]  # no place or object: one length
    sub = os.path.join(WORK, "wang_t4.jsonl")
    with open(sub, "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in one)
    r = relp("attribute", "--prompts", sub, "--method", "relp", "--node", "mlp", "--json", "-")
    check(f"attribute --prompts reads {len(one)} wang prompts of one template",
          r.returncode == 0 and json.loads(r.stdout)["prompts"] == len(one), r.stderr[-400:])
    sys.exit(checks.summary())


if __name__ == "__main__":
    main()
