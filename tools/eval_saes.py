#!/usr/bin/env python3
"""Evaluate the SAEs of models-small/ioi-4l (tools/train_saes.py runs this after training).

    /usr/bin/python3 tools/eval_saes.py [--saes models-small/ioi-4l/saes] [--dump DIR]     (2 to 3 minutes)
    /usr/bin/python3 tools/eval_saes.py --table                                      (the table of saes.json)

writes SAES/saes.json and prints a Markdown table. --dump DIR also writes the exact inputs as JSON Lines, for
another implementation (relp's C engine) to recompute every figure: heldout.jsonl (one document a line:
"tokens", with BOS first, and "loss_positions"/"targets") and wang.jsonl ("prompt", "answer", "wrong", "tokens").
Everything runs in float32 on the shipped weights: the model's F16 tensors and the SAEs' stored tensors (F16),
each widened to float32.

What each figure is:
- Held-out text: tools/ioi_text.py's training mix drawn by train_saes.text_draws with seed EVAL_SEED = 2002
  (training used 1001; the model's own training 1, 3 and 5): draws alternate 32 IOI sentences and 40 induction
  documents; the first DRAWS draws. Every document starts with BOS (token 50256); an IOI document is the prompt
  followed by its answer. Positions: every token but BOS (position 0).
- FVU = sum over those tokens of ||x - x_hat||^2 / sum of ||x - mean(x)||^2, mean(x) over the same tokens;
  x_hat = decode(encode(x)) on the unspliced model's activation.
- L0: the mean number of latents with f > 0 per token (TopK: at most k).
- dead fraction: the share of the 512 latents with f > 0 on none of those tokens (N tokens, in saes.json).
- bos_rel_error: ||x - x_hat||^2 / ||x||^2 at BOS (one fixed vector per hook: BOS sees only itself).
- Splicing: at a hook, the activation x is replaced by x_hat = decode(encode(x)) at every position of every
  document, BOS included, with no error term; with several SAEs, hook by hook in forward order
  (blocks.L.hook_resid_pre, then hook_attn_out, then hook_mlp_out, for L = 0..3, then blocks.3.hook_resid_post,
  before the final LayerNorm), each SAE reading the activation as the earlier splices left it.
  "all 13, BOS kept" does the same except at position 0, which keeps its activation.
- IOI: ioi_text.wang_all(seed=2024) (Wang et al.'s 15 templates x 99 names, 1,485 prompts, the set of
  tests/test_models_small.py), each prompt tokenized as [BOS] + GPT-2 BPE; logit difference =
  logit(answer) - logit(wrong) at the last position, averaged; accuracy = the share with a difference > 0.
- CE: the cross-entropy (natural log, softmax over all 50,257 tokens) at the positions where the model was
  trained (tools/train_small.py's loss: in IOI documents before the subject's second mention, before the answer,
  and before the pair's second name; in induction documents up to 6 positions of the repeats), over the first
  CE_DRAWS held-out draws, averaged over those positions (ce_ioi, ce_induction: over the IOI or the induction
  documents' positions alone). ce_increase = CE spliced - CE clean; with the hook's
  activation set to 0 instead (zero ablation), loss_recovered = (CE_zero - CE_spliced) / (CE_zero - CE_clean).
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ioi_text as D  # noqa: E402
import train_saes as S  # noqa: E402

DRAWS = 100  # held-out draws for FVU, L0 and dead latents
CE_DRAWS = 20  # the first draws of those, for CE
IOI_SEED = 2024


def load_saes(folder):
    saes = {}
    for h in S.HOOKS:
        d = os.path.join(folder, h)
        if os.path.isdir(d):
            sae = S.TopKSAE.load(d)
            assert sae.cfg["hook_name"] == h, (d, sae.cfg["hook_name"])
            saes[h] = sae
    return saes


def splicer(sae, keep_bos=False):
    def fn(x):
        y = sae(x)
        if keep_bos:
            y[:, 0] = x[:, 0]
        return y
    return fn


def heldout(tok, n_draws):
    """[(ids (n, T), loss positions, targets)] of the first n_draws held-out draws"""
    draws = S.text_draws(tok, S.EVAL_SEED)
    return [next(draws) for _ in range(n_draws)]


@torch.no_grad()
def ce(model, draws, splice=None):
    """mean cross-entropy at the loss positions: (all, IOI documents, induction documents); draws alternate
    IOI (even index) and induction (odd index), as text_draws yields them"""
    tot, n = [0.0, 0.0], [0, 0]
    W = model.P["wte"]
    for i, (ids, pos, tgt) in enumerate(draws):
        h = S.forward(model, ids, splice)
        r, c = zip(*pos)
        logits = h[list(r), list(c)] @ W.T
        tot[i % 2] += torch.nn.functional.cross_entropy(logits, torch.tensor(tgt), reduction="sum").item()
        n[i % 2] += len(tgt)
    return sum(tot) / sum(n), tot[0] / n[0], tot[1] / n[1]


def ioi_rows(tok):
    rows = D.wang_all(seed=IOI_SEED)
    for r in rows:
        r["tokens"] = [S.EOT] + tok.encode(r["prompt"])
        r["answer_id"], r["wrong_id"] = tok.encode(r["answer"])[0], tok.encode(r["wrong"])[0]
    return rows


@torch.no_grad()
def ioi(model, rows, splice=None, bs=256):
    diffs = []
    W = model.P["wte"]
    for i in range(0, len(rows), bs):
        chunk = rows[i:i + bs]
        ids = S.TS.Batches.pack([r["tokens"] for r in chunk])
        h = S.forward(model, ids, splice)
        last = h[torch.arange(len(chunk)), torch.tensor([len(r["tokens"]) - 1 for r in chunk])]
        a, w = W[[r["answer_id"] for r in chunk]], W[[r["wrong_id"] for r in chunk]]
        diffs.append((last * (a - w)).sum(-1))
    d = torch.cat(diffs)
    return {"logit_diff": d.mean().item(), "accuracy": (d > 0).float().mean().item()}


def dump(folder, tok, draws, rows):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "heldout.jsonl"), "w") as f:
        for ids, pos, tgt in draws:
            for r in range(ids.shape[0]):
                toks = ids[r].tolist()
                n = len(toks) - next((i for i, t in enumerate(reversed(toks)) if t != S.EOT), 0)
                lp = [(c, t) for (rr, c), t in zip(pos, tgt) if rr == r]
                f.write(json.dumps({"tokens": toks[:n], "loss_positions": [c for c, _ in lp],
                                    "targets": [t for _, t in lp]}) + "\n")
    with open(os.path.join(folder, "wang.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps({k: r[k] for k in ("prompt", "answer", "wrong", "tokens")}) + "\n")


def short(h):
    return h.replace("blocks.", "").replace(".hook_", " ")


def num(v):
    return f"{v:.4f}" if abs(v) >= 1e-3 else f"{v:.1e}"


def table(res):
    out = ["| hook | FVU | L0 | dead | BOS rel. err. | logit diff (alone) | accuracy (alone) | CE increase (alone) "
           "| loss recovered |", "|---|---|---|---|---|---|---|---|---|"]
    for h, r in res["saes"].items():
        a = r["alone"]
        out.append(f"| `{h}` | {num(r['fvu'])} | {r['l0']:.1f} | {r['dead_fraction']:.3f} | {num(r['bos_rel_error'])} "
                   f"| {a['logit_diff']:.2f} | {a['accuracy']:.3f} | {a['ce_increase']:+.4f} "
                   f"| {a['loss_recovered']:.3f} |")
    i, c = res["ioi"], res["ce"]
    out += ["", "| model | IOI logit diff | IOI accuracy | CE | CE, IOI documents | CE, induction documents |",
            "|---|---|---|---|---|---|"]
    for k, name in (("clean", "unspliced"), ("all_spliced", "all 13 SAEs spliced"),
                    ("all_spliced_bos_kept", "all 13 SAEs spliced, BOS kept")):
        out.append(f"| {name} | {i[k]['logit_diff']:.2f} | {i[k]['accuracy']:.3f} | {c[k]:.4f} "
                   f"| {res['ce_ioi'][k]:.4f} | {res['ce_induction'][k]:.4f} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--saes", default=os.path.join(S.MODEL_DIR, "saes"))
    ap.add_argument("--out", help="default SAES/saes.json")
    ap.add_argument("--draws", type=int, default=DRAWS)
    ap.add_argument("--ce-draws", type=int, default=CE_DRAWS)
    ap.add_argument("--dump", help="also write the inputs (heldout.jsonl, wang.jsonl) to this folder")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="only print the table of an existing saes.json")
    a = ap.parse_args(argv)
    if a.table:
        print(table(json.load(open(a.out or os.path.join(a.saes, "saes.json")))))
        return None
    torch.set_num_threads(a.threads)
    t0 = time.time()
    tok, model = S.tokenizer(), S.load_model()
    saes = load_saes(a.saes)
    assert saes, f"no SAE folders in {a.saes}"
    draws = heldout(tok, a.draws)
    rows = ioi_rows(tok)
    if a.dump:
        dump(a.dump, tok, draws, rows)
    # FVU, L0, dead: the unspliced activations
    sums = {h: {"err": 0.0, "x": [], "l0": 0.0, "fired": torch.zeros(S.D_SAE, dtype=torch.bool)} for h in saes}
    n_tok = 0
    bos = {}
    with torch.no_grad():
        for ids, _, _ in draws:
            rec = {}
            S.forward(model, ids, record=rec)
            m = S.token_mask(ids)
            n_tok += int(m.sum())
            for h, sae in saes.items():
                x = rec[h][m]
                f = sae.encode(x)
                s = sums[h]
                s["err"] += (sae.decode(f) - x).pow(2).sum().item()
                s["x"].append(x)
                s["l0"] += (f > 0).sum().item()
                s["fired"] |= (f > 0).any(0)
                if h not in bos:
                    xb = rec[h][0, 0]
                    bos[h] = ((sae(xb[None])[0] - xb).pow(2).sum() / xb.pow(2).sum()).item()
    res = {"model": "ioi-4l", "saes_folder": os.path.relpath(a.saes, S.ROOT),
           "heldout": {"seed": S.EVAL_SEED, "draws": a.draws, "documents_per_draw": {"ioi": S.N_IOI,
                       "induction": S.N_INDUCTION}, "tokens": n_tok, "ce_draws": a.ce_draws},
           "ioi": {"set": f"tools/ioi_text.py wang_all(seed={IOI_SEED})", "prompts": len(rows)}, "ce": {}, "ce_ioi": {},
           "ce_induction": {}, "saes": {}}
    for h, s in sums.items():
        x = torch.cat(s["x"])
        res["saes"][h] = {"k": saes[h].k, "d_sae": S.D_SAE, "fvu": s["err"] / (x - x.mean(0)).pow(2).sum().item(),
                          "l0": s["l0"] / n_tok, "dead_fraction": 1 - s["fired"].float().mean().item(),
                          "bos_rel_error": bos[h]}
    ce_draws = draws[:a.ce_draws]
    res["heldout"]["ce_positions"] = sum(len(t) for _, _, t in ce_draws)
    res["ioi"]["clean"] = ioi(model, rows)
    res["ce"]["clean"], res["ce_ioi"]["clean"], res["ce_induction"]["clean"] = ce(model, ce_draws)
    for h, sae in saes.items():
        alone = ioi(model, rows, {h: splicer(sae)})
        alone["ce"], alone["ce_ioi"], alone["ce_induction"] = ce(model, ce_draws, {h: splicer(sae)})
        alone["ce_increase"] = alone["ce"] - res["ce"]["clean"]
        alone["ce_zero_ablation"] = ce(model, ce_draws, {h: torch.zeros_like})[0]
        alone["loss_recovered"] = (alone["ce_zero_ablation"] - alone["ce"]) / (alone["ce_zero_ablation"]
                                                                              - res["ce"]["clean"])
        res["saes"][h]["alone"] = alone
        print(f"{h}: {json.dumps(res['saes'][h])}", file=sys.stderr, flush=True)
    for key, keep in (("all_spliced", False), ("all_spliced_bos_kept", True)):
        sp = {h: splicer(sae, keep) for h, sae in saes.items()}
        res["ioi"][key] = ioi(model, rows, sp)
        res["ce"][key], res["ce_ioi"][key], res["ce_induction"][key] = ce(model, ce_draws, sp)
    res["seconds"] = time.time() - t0
    out = a.out or os.path.join(a.saes, "saes.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(table(res))
    return res


if __name__ == "__main__":
    main()
