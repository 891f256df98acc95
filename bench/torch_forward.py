"""PyTorch CPU peer for relp's forward benchmark.

    /usr/bin/python3 bench/torch_forward.py CKPT_DIR --tokens 16 --batch 1 --threads 1 --runs 10 [--write]

--write first writes a GPT-2-small-shaped checkpoint with random weights to
CKPT_DIR (so relp and PyTorch time the same weights). --in-memory --shape
L,C,NH times random weights of that shape made in memory instead (the
benchmark report, for shapes up to XL without writing them to disk).
--family INFO_JSON (with --in-memory) times another architecture instead: INFO_JSON is
`relp info --model <shape>-random --json` (llama, qwen2, qwen3, gpt_neox), the forward
written as the Hugging Face modelling code computes it (float32). Prints one JSON line:
median forward ms with logits at every position (what a standard GPT-2
forward computes) and with logits at the last position only (what relp
computes), and the BLAS PyTorch uses.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import reference as R  # noqa: E402


def load(d):
    import struct
    data = open(os.path.join(d, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    h = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k.replace("transformer.", "")] = torch.frombuffer(bytearray(body[a:b]), dtype=torch.float32).view(v["shape"])
    return out


def forward(p, L, NH, ids, all_positions, patch=None):
    """patch: (layer, position, values (B, C)) replacing resid_pre[layer] there"""
    B, T = ids.shape
    x = p["wte.weight"][ids] + p["wpe.weight"][:T]
    C = x.shape[-1]
    for l in range(L):
        if patch is not None and patch[0] == l:
            x = x.clone()
            x[:, patch[1]] = patch[2]
        h = f"h.{l}."
        a = F.layer_norm(x, (C,), p[h + "ln_1.weight"], p[h + "ln_1.bias"], 1e-5)
        q, k, v = torch.addmm(p[h + "attn.c_attn.bias"], a.view(-1, C), p[h + "attn.c_attn.weight"]).view(B, T, 3 * C).split(C, -1)
        q, k, v = (t.view(B, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, "scaled_dot_product_attention") \
            else torch.softmax((q @ k.transpose(-1, -2) / (C // NH) ** 0.5).masked_fill(
                ~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf")), -1) @ v
        z = z.transpose(1, 2).reshape(B * T, C)
        x = x + torch.addmm(p[h + "attn.c_proj.bias"], z, p[h + "attn.c_proj.weight"]).view(B, T, C)
        m = F.layer_norm(x, (C,), p[h + "ln_2.weight"], p[h + "ln_2.bias"], 1e-5).view(-1, C)
        f = F.gelu(torch.addmm(p[h + "mlp.c_fc.bias"], m, p[h + "mlp.c_fc.weight"]), approximate="tanh")
        x = x + torch.addmm(p[h + "mlp.c_proj.bias"], f, p[h + "mlp.c_proj.weight"]).view(B, T, C)
    if not all_positions:
        x = x[:, -1:]
    x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], 1e-5)
    return x @ p["wte.weight"].T


def random_family(c, seed=0):
    """random float32 weights of a `relp info --json` shape (only the time matters)"""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.02  # noqa: E731
    L, C, I, V = c["n_layer"], c["n_embd"], c["n_inner"], c["vocab_size"]
    NH, NKV, HS = c["n_head"], c["n_kv_head"], c["head_dim"]
    p = {"embed": r(V, C), "norm_w": torch.ones(C), "norm_b": torch.zeros(C)}
    p["unembed"] = p["embed"] if c["tied_embeddings"] else r(V, C)
    for l in range(L):
        h = f"{l}."
        p[h + "ln1_w"], p[h + "ln1_b"], p[h + "ln2_w"], p[h + "ln2_b"] = torch.ones(C), torch.zeros(C), torch.ones(C), torch.zeros(C)
        if c["arch"] == "gpt_neox":  # fused query_key_value (per head q, k, v), dense, h_to_4h, 4h_to_h with biases
            p[h + "qkv"], p[h + "qkv_b"] = r(3 * C, C), torch.zeros(3 * C)
            p[h + "o"], p[h + "o_b"] = r(C, C), torch.zeros(C)
            p[h + "up"], p[h + "up_b"], p[h + "down"], p[h + "down_b"] = r(I, C), torch.zeros(I), r(C, I), torch.zeros(C)
        else:
            p[h + "q"], p[h + "k"], p[h + "v"], p[h + "o"] = r(NH * HS, C), r(NKV * HS, C), r(NKV * HS, C), r(C, NH * HS)
            if c["arch"] == "qwen2":
                p[h + "q_b"], p[h + "k_b"], p[h + "v_b"] = torch.zeros(NH * HS), torch.zeros(NKV * HS), torch.zeros(NKV * HS)
            if c["arch"] == "qwen3":
                p[h + "qn"], p[h + "kn"] = torch.ones(HS), torch.ones(HS)
            p[h + "gate"], p[h + "up"], p[h + "down"] = r(I, C), r(I, C), r(C, I)
    return p


def forward_family(p, c, ids, all_positions):
    """modeling_llama / qwen2 / qwen3 / gpt_neox's forward in float32 (no cache, causal mask)"""
    B, T = ids.shape
    L, C, NH, NKV, HS, R = c["n_layer"], c["n_embd"], c["n_head"], c["n_kv_head"], c["head_dim"], c["rotary_dim"]
    eps, neox = c["layer_norm_epsilon"], c["arch"] == "gpt_neox"
    inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, R, 2, dtype=torch.float32) / R))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rope(x):  # rotate_half on the first R dims
        xr, xp = x[..., :R], x[..., R:]
        x1, x2 = xr[..., :R // 2], xr[..., R // 2:]
        return torch.cat([xr * cos + torch.cat([-x2, x1], -1) * sin, xp], -1)

    def attend(q, k, v):
        k, v = k.repeat_interleave(NH // NKV, 1), v.repeat_interleave(NH // NKV, 1)
        a = torch.softmax(q @ k.transpose(-1, -2) / HS ** 0.5 + mask, -1)
        return (a @ v).transpose(1, 2).reshape(B, T, NH * HS)

    x = p["embed"][ids]
    for l in range(L):
        h = f"{l}."
        if neox:
            a = F.layer_norm(x, (C,), p[h + "ln1_w"], p[h + "ln1_b"], eps)
            qkv = F.linear(a, p[h + "qkv"], p[h + "qkv_b"]).view(B, T, NH, 3 * HS).transpose(1, 2)
            q, k, v = qkv.split(HS, -1)
            att = F.linear(attend(rope(q), rope(k), v), p[h + "o"], p[h + "o_b"])
            m = F.layer_norm(x, (C,), p[h + "ln2_w"], p[h + "ln2_b"], eps)
            mlp = F.linear(F.gelu(F.linear(m, p[h + "up"], p[h + "up_b"])), p[h + "down"], p[h + "down_b"])
            x = x + att + mlp
            continue
        a = rms(x, p[h + "ln1_w"])
        q = F.linear(a, p[h + "q"], p.get(h + "q_b")).view(B, T, NH, HS)
        k = F.linear(a, p[h + "k"], p.get(h + "k_b")).view(B, T, NKV, HS)
        v = F.linear(a, p[h + "v"], p.get(h + "v_b")).view(B, T, NKV, HS).transpose(1, 2)
        if h + "qn" in p:
            q, k = rms(q, p[h + "qn"]), rms(k, p[h + "kn"])
        x = x + F.linear(attend(rope(q.transpose(1, 2)), rope(k.transpose(1, 2)), v), p[h + "o"])
        m = rms(x, p[h + "ln2_w"])
        x = x + F.linear(F.silu(F.linear(m, p[h + "gate"])) * F.linear(m, p[h + "up"]), p[h + "down"])
    if not all_positions:
        x = x[:, -1:]
    x = F.layer_norm(x, (C,), p["norm_w"], p["norm_b"], eps) if neox else rms(x, p["norm_w"])
    return x @ p["unembed"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt", nargs="?", help="checkpoint directory (not with --in-memory)")
    ap.add_argument("--in-memory", action="store_true", help="random weights of --shape made in memory, no file")
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--shape", default="12,768,12")
    ap.add_argument("--family", help="relp info --json of a llama / qwen2 / qwen3 / gpt_neox shape (with --in-memory)")
    ap.add_argument("--ap-sweep", action="store_true", help="also time the naive resid_pre AP sweep (L*T forwards)")
    a = ap.parse_args()
    L, C, NH = (int(x) for x in a.shape.split(","))
    if a.write:
        params = R.random_gpt2(L, C, NH, 1024, 50257, 0)
        for k in params:  # GPT-2-like scales
            if k.endswith("weight") and "ln" not in k:
                params[k] = params[k] * 0.1
        R.save_checkpoint(a.ckpt, params, dict(L=L, C=C, NH=NH, n_pos=1024, V=50257))
    torch.set_num_threads(a.threads)
    fam = json.loads(a.family) if a.family else None
    if fam:
        p = random_family(fam)
        run = lambda ids, allpos, patch=None: forward_family(p, fam, ids, allpos)  # noqa: E731
    else:
        p = R.random_gpt2(L, C, NH, 1024, 50257, 0) if a.in_memory else load(a.ckpt)
        run = lambda ids, allpos, patch=None: forward(p, L, NH, ids, allpos, patch)  # noqa: E731
    ids = torch.randint(0, fam["vocab_size"] if fam else 50257, (a.batch, a.tokens), generator=torch.Generator().manual_seed(0))
    res = {}
    with torch.no_grad():
        for name, allpos in (("torch_forward_ms", True), ("torch_forward_last_ms", False)):
            for _ in range(2):
                run(ids, allpos)
            ts = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                run(ids, allpos)
                ts.append((time.perf_counter() - t0) * 1e3)
            res[name] = round(statistics.median(ts), 3)
        if a.ap_sweep and not fam:  # the naive sweep: one full forward per (layer, position), patch from another run
            vals = torch.randn(a.batch, C)
            t0 = time.perf_counter()
            for l in range(L):
                for t in range(a.tokens):
                    forward(p, L, NH, ids, True, (l, t, vals))
            res["torch_ap_resid_sweep_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
            res["torch_ap_sweep_forwards"] = L * a.tokens
    res["torch"] = torch.__version__
    # Debian's torch calls the system libblas.so.3 (BLAS_INFO=generic): name what it resolves to
    res["blas"] = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    res["threads"] = a.threads
    print(json.dumps(res))


if __name__ == "__main__":
    main()
