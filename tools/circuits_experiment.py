#!/usr/bin/env python3
"""The circuit experiments on a bundled model, with relp's CLI: writes <model>/circuits.json and <model>/CIRCUITS.md
(tools/model_card.py puts the latter into MODEL.md).

1. Sparse feature circuits (the RelP paper's second experiment, Marks et al.'s protocol): `relp faithfulness` on
   IOI (Wang et al.'s distribution; the 64 first prompts of the most common token length among 200, seed 1) for
   relp, atp and ig, with the model's SAEs (<model>/saes), with --neurons and with --components; each method's
   faithfulness and completeness at Marks et al.'s thresholds, and its time. `relp features --validate 40` gives
   each method's Pearson r with exact patching of its 40 largest nodes.
2. Edges: `relp edges` for AtP, every RelP preset and IG-input, and `relp edges --method ap` (every edge patched
   exactly): Pearson r of each method with exact edge patching over every edge, and the faithfulness of each
   method's top-N edge circuits.

    /usr/bin/python3 tools/circuits_experiment.py models-small/ioi-4l build/native-release/relp [WORK_DIR]
"""
import json
import math
import os
import subprocess
import sys
import time

MODEL, RELP = sys.argv[1], sys.argv[2]
WORK = sys.argv[3] if len(sys.argv) > 3 else "/tmp/relp_circuits_experiment"
os.makedirs(WORK, exist_ok=True)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
commands = []


def rel(p):
    return os.path.relpath(p, ROOT) if os.path.isabs(p) and p.startswith(ROOT) else p


def run(*args, json_out=None):
    shown = "relp " + " ".join(rel(a) if os.sep in a else (f"'{a}'" if " " in a else a) for a in args)
    commands.append(shown.replace(WORK + os.sep, ""))
    print("+", shown, file=sys.stderr, flush=True)
    t0 = time.time()
    r = subprocess.run([RELP, *args], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"failed: {shown}\n{r.stderr[-2000:]}")
    return (json.load(open(json_out)) if json_out else r.stdout), time.time() - t0


def pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / math.sqrt(saa * sbb) if saa > 0 and sbb > 0 else float("nan")


prompts = os.path.join(WORK, "wang200.jsonl")
run("ioi", "--model", MODEL, "--dataset", "wang", "--n", "200", "--seed", "1", "--prompts-out", prompts, "--prompts-only")
P = ["--model", MODEL, "--prompts", prompts, "--limit", "64", "--threads", "2"]
out = {"prompts": "Wang et al.'s distribution, 200 prompts (seed 1), the first 64 of the most common token length",
       "commands": commands}

# ---------------------------------------------------------------- 1. feature, neuron and component circuits
saes = os.path.join(MODEL, "saes")
sets = ([("features", ["--saes", saes])] if os.path.isdir(saes) else []) + [("neurons", ["--neurons"]),
                                                                             ("components", ["--components"])]
out["faithfulness"] = {}
for name, flag in sets:
    grid = "1,2,5,10,20,50,100,200,500,1000,2000,5000,10000,20000,50000"
    js, secs = run("faithfulness", *P, *flag, "--methods", "relp,atp,ig", "--nodes", grid, "--json",
                   os.path.join(WORK, f"faith_{name}.json"), json_out=os.path.join(WORK, f"faith_{name}.json"))
    val = {}
    for method in ("relp", "atp", "ig"):
        v, _ = run("features", *P, *flag, "--method", method, "--top", "0", "--validate", "40", "--json",
                   os.path.join(WORK, f"val_{name}_{method}.json"), json_out=os.path.join(WORK, f"val_{name}_{method}.json"))
        val[method] = v["pearson"]
    js["validated_pearson"] = val
    js["wall_seconds"] = secs
    out["faithfulness"][name] = js

# ---------------------------------------------------------------- 2. edges
curve = [1, 2, 5, 10, 20, 50, 100, 175]
methods = ["ap", "atp", "relp", "relp-ln", "relp-cp", "attnlrp", "ig-input"]
edges = {}
for method in methods:
    path = os.path.join(WORK, f"edges_{method}.json")
    js, secs = run("edges", *P, "--method", method, "--curve", ",".join(map(str, curve)), "--json", path, json_out=path)
    edges[method] = js
ap = edges["ap"]["edges"]
names = list(ap)
out["edges"] = {"n_edges": len(names), "prompts": edges["ap"]["prompts"], "positions": edges["ap"]["positions"],
                "methods": {}}
for method in methods:
    js = edges[method]
    out["edges"]["methods"][method] = {
        "pearson_ap": 1.0 if method == "ap" else pearson([js["edges"][n]["score"] for n in names],
                                                          [ap[n]["score"] for n in names]),
        "curve": js["curve"], "seconds": js["seconds"]}
json.dump(out, open(os.path.join(MODEL, "circuits.json"), "w"), indent=1)

# ---------------------------------------------------------------- the Markdown section
titles = {"ap": "AP (exact)", "atp": "AtP", "relp": "RelP", "relp-ln": "RelP-LN", "relp-cp": "RelP-CP",
          "attnlrp": "AttnLRP", "ig-input": "IG-input", "ig": "IG"}
md = ["## Circuits on this model\n",
      f"Made by `/usr/bin/python3 tools/circuits_experiment.py {rel(MODEL)} {rel(RELP)}` on "
      f"{time.strftime('%Y-%m-%d', time.gmtime())} (2-core VM): {out['prompts']}. The commands it ran are at the end.\n"]
for name, js in out["faithfulness"].items():
    md.append(f"\n### {name.capitalize()}: faithfulness by mean ablation (Marks et al.)\n")
    md.append(f"{js['prompts']} prompts of {js['positions']} tokens, {js['candidates']:,} candidate nodes; m(M) = "
              f"{js['m_full']:.3f} (every node), m(empty) = {js['m_empty']:.3f} (every node mean-ablated). F is the "
              "circuit's faithfulness (1: it carries the whole behaviour), completeness the faithfulness of everything "
              "outside it (lower is more complete), for each method's N nodes of largest |score|.\n")
    meths = list(js["curves"])
    md.append("| nodes | " + " | ".join(f"{titles[m]} F | {titles[m]} completeness" for m in meths) + " |")
    md.append("|---|" + "---|---|" * len(meths))
    seen = set()
    for i in range(len(js["curves"][meths[0]])):
        n = js["curves"][meths[0]][i]["n_nodes"]
        if n in seen:
            continue
        seen.add(n)
        row = [f"{n:,}"]
        for m in meths:
            p = js["curves"][m][i]
            row += [f"{p['faithfulness']:.3f}", f"{p['completeness']:.3f}"]
        md.append("| " + " | ".join(row) + " |")
    md.append("\n| method | scores' time (s) | Pearson r with exact patching (its 40 largest nodes) | smallest circuit "
              "with F >= 0.8 (nodes) |")
    md.append("|---|---|---|---|")
    for m in meths:
        ok = [p["n_nodes"] for p in js["curves"][m] if p["faithfulness"] >= 0.8]
        md.append(f"| {titles[m]} | {js['seconds'][m]:.2f} | {js['validated_pearson'][m]:.3f} | "
                  f"{min(ok) if ok else 'none'} |")
e = out["edges"]
md.append(f"\n### Edges: every score against exact edge patching\n")
md.append(f"EAP-IG's graph of this model has {e['n_edges']} edges. {e['prompts']} prompts of {e['positions']} tokens. "
          "Pearson r of each method's edge scores with the exact effect of patching that edge alone (`relp edges "
          "--method ap`: only the downstream node's input reads the clean upstream output), over every edge, and the "
          "faithfulness of each method's top-N circuit (pruned as EAP-IG prunes; F = (m(C) - m_corr) / (m_clean - "
          "m_corr)).\n")
md.append("| method | r with exact edge patching | time (s) | " + " | ".join(f"F top {n}" for n in curve) + " |")
md.append("|---|---|---|" + "---|" * len(curve))
for m, v in e["methods"].items():
    md.append(f"| {titles[m]} | {v['pearson_ap']:.3f} | {v['seconds']:.2f} | " +
              " | ".join(f"{p['faithfulness']:.3f}" for p in v["curve"]) + " |")
md.append("\nCommands:\n")
md += [f"    {c}" for c in commands]
open(os.path.join(MODEL, "CIRCUITS.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
