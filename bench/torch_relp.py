"""RelP as the official code computes it, in PyTorch float32: the peer of the
page's RelP (bench/bench_page.mjs) and of `relp attribute --method relp`.

    OPENBLAS_NUM_THREADS=N /usr/bin/python3 bench/torch_relp.py CKPT_DIR [--threads N] [--runs 10] [--relp RELP_BIN]

CKPT_DIR: a GPT-2 checkpoint (tests/write_checkpoint.py writes the page's
GPT-2-small-shaped random one, build/bench/page-gpt2-small). The prompts are
the page's IOI demo (15 tokens with BOS) and its corruption, the metric the
logit difference " Mary" - " John" at the last position; the token ids come
from `relp tokenize` when --relp is given, else from a fixed list (the same
ids: relp's GPT-2 tokenizer on those prompts).

What is timed, per run, is what RelP costs in the official code
(TransformerLens-style hook points, the rules as detach tricks):
  1. the clean forward under no_grad, caching resid_pre, z (per head),
     attn_out and mlp_out at every layer;
  2. the corrupted forward with the LN-rule (LayerNorm's standard deviation
     detached) and the Identity-rule (GELU as x * (gelu(x) / x).detach(), as
     the official ModifiedAct), keeping every hooked node's gradient;
  3. one backward pass of the metric;
  4. the scores (clean - corrupted) * gradient, summed to (layer, position)
     for resid / attn / mlp and to (layer, head, position) for the heads.
The logits are computed at the last position only (the metric's): less work
than a full unembedding at every position, so PyTorch is not handicapped.

Threads: matrix products run in OpenBLAS with OPENBLAS_NUM_THREADS threads
(set before torch is imported: --threads sets it); torch's own intra-op pool
gets --torch-threads (default 1: two pools of 2 on 2 cores oversubscribe them,
bench/report.py's torch()). With --relp, the scores are first checked against
`relp attribute --method relp` on the same checkpoint, in logit units (times
m_clean - m_corrupt): max|diff| <= 1e-5 x max|logit| per node type, as
tests/test_wasm.mjs compares scores (float32 rounding enters at the size of
the logits, and on random weights the metric barely moves), so the peer
computes what the page computes.
Prints one JSON line.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CLEAN = "When John and Mary went to the shops, John gave the bag to"
CORRUPT = "When John and Mary went to the shops, Sid gave the bag to"
# relp's GPT-2 tokenizer (with BOS) on CLEAN and CORRUPT, and " Mary" / " John"
CLEAN_IDS = [50256, 2215, 1757, 290, 5335, 1816, 284, 262, 12437, 11, 1757, 2921, 262, 6131, 284]
CORRUPT_IDS = [50256, 2215, 1757, 290, 5335, 1816, 284, 262, 12437, 11, 15686, 2921, 262, 6131, 284]
ANSWER, WRONG = 5335, 1757


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("--threads", type=int, default=1, help="OpenBLAS threads")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch's intra-op threads")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--relp", help="relp binary: tokenize with it and check the scores against it")
    a = ap.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    import torch  # after OPENBLAS_NUM_THREADS: OpenBLAS reads it when loaded
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_forward import load
    torch.set_num_threads(a.torch_threads)
    torch.set_grad_enabled(False)

    clean_ids, corrupt_ids = CLEAN_IDS, CORRUPT_IDS
    if a.relp:
        tok = lambda s: json.loads(subprocess.run([a.relp, "tokenize", "--model", a.ckpt, "--prompt", s, "--json"],  # noqa: E731
                                                  capture_output=True, text=True, check=True).stdout)["tokens"]
        clean_ids, corrupt_ids = tok(CLEAN), tok(CORRUPT)
    p = load(a.ckpt)
    if os.environ.get("TORCH_RELP_F64"):
        p = {k: v.double() for k, v in p.items()}
    cfg = json.load(open(os.path.join(a.ckpt, "config.json")))
    L, C, NH = cfg["n_layer"], cfg["n_embd"], cfg["n_head"]
    HS, eps = C // NH, cfg.get("layer_norm_epsilon", 1e-5)
    T = len(clean_ids)
    clean = torch.tensor([clean_ids])
    corrupt = torch.tensor([corrupt_ids])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh((2.0 / torch.pi) ** 0.5 * (x + 0.044715 * x ** 3)))

    def forward(ids, hook, rules):
        """GPT-2 in float32 with hook points; rules: the LN- and Identity-rules as detach tricks"""
        def ln(x, g, b):
            mu = x.mean(-1, keepdim=True)
            sd = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
            if rules:
                sd = sd.detach()
            return (x - mu) / sd * g + b

        def act(x):
            z = gelu_new(x)
            if not rules:
                return z
            zp = x + ((x == 0).float() + torch.sign(x)) * 1e-6
            return zp * (z / zp).detach()

        B = ids.shape[0]
        x = p["wte.weight"][ids] + p["wpe.weight"][:T]
        if rules:  # the graph starts at the embeddings: no weight gradients (the official code's would add them)
            x.requires_grad_(True)
        for l in range(L):
            h = f"h.{l}."
            x = hook("resid", l, x)
            qkv = torch.addmm(p[h + "attn.c_attn.bias"], ln(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"]).view(-1, C),
                              p[h + "attn.c_attn.weight"])
            q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in qkv.view(B, T, 3 * C).split(C, -1))
            att = torch.softmax((q @ k.transpose(-1, -2) / HS ** 0.5).masked_fill(~mask, float("-inf")), -1)
            z = hook("head", l, (att @ v).transpose(1, 2).reshape(B, T, C))
            x = x + hook("attn", l, torch.addmm(p[h + "attn.c_proj.bias"], z.view(-1, C),
                                                p[h + "attn.c_proj.weight"]).view(B, T, C))
            m = ln(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"]).view(-1, C)
            f = act(torch.addmm(p[h + "mlp.c_fc.bias"], m, p[h + "mlp.c_fc.weight"]))
            x = x + hook("mlp", l, torch.addmm(p[h + "mlp.c_proj.bias"], f, p[h + "mlp.c_proj.weight"]).view(B, T, C))
        xf = ln(x[:, -1], p["ln_f.weight"], p["ln_f.bias"])
        logits = xf @ p["wte.weight"].T
        return logits[0, ANSWER] - logits[0, WRONG]

    NODES = ("resid", "attn", "mlp", "head")

    def max_logit():
        x = {}
        forward(clean, lambda n, l, v: x.update({(n, l): v}) or v, False)
        h = x[("resid", L - 1)] + x[("attn", L - 1)] + x[("mlp", L - 1)]
        mu, sd = h[0, -1].mean(), h[0, -1].var(unbiased=False).add(eps).sqrt()
        return (((h[0, -1] - mu) / sd * p["ln_f.weight"] + p["ln_f.bias"]) @ p["wte.weight"].T).abs().max().item()

    def relp():
        cache = {n: [None] * L for n in NODES}

        def keep(name, l, x):
            cache[name][l] = x
            return x
        m_clean = forward(clean, keep, False)  # 1. the clean run, cached through the hooks
        kept = {n: [None] * L for n in NODES}

        def track(name, l, x):
            x.retain_grad()
            kept[name][l] = x
            return x
        with torch.enable_grad():  # 2. the corrupted run with the rules, 3. one backward pass
            m_corrupt = forward(corrupt, track, True)
            m_corrupt.backward()
        scores = {}
        for n in NODES:  # 4. delta a . rho at every node type
            d = torch.stack([(cache[n][l] - kept[n][l].detach()) * kept[n][l].grad for l in range(L)])  # (L, 1, T, C)
            scores[n] = d.view(L, T, NH, HS).sum(-1).permute(0, 2, 1) if n == "head" else d.sum(-1).view(L, T)
        norm = 1.0 / (m_clean - m_corrupt).item()
        return {n: s * norm for n, s in scores.items()}, m_clean.item(), m_corrupt.item()

    scores, mc, mr = relp()
    check = {}
    if a.relp:
        scale = max_logit()
        for n in NODES:
            cmd = [a.relp, "attribute", "--model", a.ckpt, "--clean", CLEAN, "--corrupt", CORRUPT, "--answer", " Mary",
                   "--wrong", " John", "--method", "relp", "--node", n, "--json", "-", "--threads", "1"]
            if n == "head":
                cmd.append("--per-position")
            r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            # in logit units: the normalising m_clean - m_corrupt is a small difference on random weights
            want = torch.tensor(r["scores"], dtype=torch.float64) * (r["metric_clean"] - r["metric_corrupt"])
            got = scores[n].double() * (mc - mr)
            check[n] = ((got - want).abs().max() / scale).item()
        if max(check.values()) > 1e-5:
            sys.exit(f"torch_relp: scores differ from relp's: {check}")
    for _ in range(2):
        relp()
    times = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        relp()
        times.append((time.perf_counter() - t0) * 1e3)
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")  # Debian's torch calls the system BLAS
    print(json.dumps({"torch_relp_ms": statistics.median(times), "runs_ms": [round(t, 2) for t in times],
                      "threads": a.threads, "torch_threads": a.torch_threads, "T": T, "torch": torch.__version__,
                      "blas": blas, "metric_clean": mc, "metric_corrupt": mr,
                      "max_rel_diff_vs_relp": check or None}))


if __name__ == "__main__":
    main()
